#!/usr/bin/env bash
#   man_options.sh - each man page matches its binary's --help
#
#   Usage: man_options.sh BIN_DIR MAN_DIR BINARY...
#   For every BINARY: MAN_DIR/BINARY.1 (troff, built by scdoc) exists and
#   renders, and names every long option that `BINARY --help` prints; for
#   finmatch also the options of every command in its command list.  A new
#   flag without a man page entry fails here.
set -u
BIN=$1
MAN=$2
shift 2
FAILED=0
checked=0

#   Long options of one --help output (option lines only)
options () {
    grep -E '^[[:space:]]+-' | grep -oE -- '--[a-z][a-z0-9-]*' | sort -u
}

#   The page as text: troff with font escapes and hyphen escapes removed
page_text () {
    sed -e 's/\\f[BIRP]//g' -e 's/\\-/-/g' -e 's/\\(en/-/g' "$1"
}

check () {     #  check PAGE HELP_TEXT WHAT
    local page=$1 help=$2 what=$3 option
    for option in $(printf '%s\n' "$help" | options); do
        checked=$(( checked + 1 ))
        if ! page_text "$MAN/$page.1" | grep -qF -- "$option"; then
            echo "FAIL: $page.1 does not mention $option ($what --help prints it)"
            FAILED=1
        fi
    done
}

for binary in "$@"; do
    if [ ! -s "$MAN/$binary.1" ]; then
        echo "FAIL: $MAN/$binary.1 missing or empty"
        FAILED=1
        continue
    fi
    grep -q '^\.TH' "$MAN/$binary.1" || { echo "FAIL: $binary.1 is not troff (.TH)"; FAILED=1; }
    help=$("$BIN/$binary" --help 2>&1) || { echo "FAIL: $binary --help failed"; FAILED=1; continue; }
    check "$binary" "$help" "$binary"
    if [ "$binary" = finmatch ]; then
        #   Commands: the lines after "Commands:" up to the blank line
        for command in $(printf '%s\n' "$help" |
                         awk '/^Commands:/ { on = 1; next } on && NF == 0 { on = 0 }
                              on { print $1 }'); do
            checked=$(( checked + 1 ))
            page_text "$MAN/finmatch.1" | grep -qE "^$command( |$)|\\b$command\\b" ||
                { echo "FAIL: finmatch.1 does not describe command $command"; FAILED=1; }
            sub=$("$BIN/finmatch" "$command" --help 2>&1) ||
                { echo "FAIL: finmatch $command --help failed"; FAILED=1; continue; }
            check finmatch "$sub" "finmatch $command"
        done
    fi
done
if [ $FAILED -eq 0 ]; then
    echo "PASS: $# man pages, $checked options and commands checked"
fi
exit $FAILED
