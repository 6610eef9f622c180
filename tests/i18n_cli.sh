#!/bin/sh
#   i18n_cli.sh - the users' language, end to end through the binaries
#
#   Usage: i18n_cli.sh BIN_DIR SOURCE_DIR
#   Checks, without any locale generated on the machine (fresh Debian has
#   only C and C.UTF-8):
#     - the language follows LANGUAGE / LC_ALL / LC_MESSAGES / LANG, is
#       Chinese when they are unset or C, and --lang zh|en overrides them
#       in every binary; --lang xx is refused
#     - errors are translated; bad UTF-8 in a flag, a request CSV, a client
#       config file and a bank config file is refused (exit 2) with an
#       error naming where, and nothing on stderr is invalid UTF-8
#   Every run is bounded by `timeout`; nothing needs a broker.

set -u
BIN_DIR=$1
SOURCE_DIR=$2
FM="$BIN_DIR/finmatch"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/fm-i18n-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
FAILED=0

fail () {
    echo "FAIL: $*"
    echo "---- stdout:"; cat "$TMP/out"
    echo "---- stderr:"; cat "$TMP/err"
    FAILED=1
}

#   run ENV... -- BINARY ARGS...: clean language environment plus ENV
run () {
    ENVS=""
    while [ "$1" != "--" ]; do ENVS="$ENVS $1"; shift; done
    shift
    # shellcheck disable=SC2086
    timeout 10 env -u LANGUAGE -u LC_ALL -u LC_MESSAGES -u LANG $ENVS \
        "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
    RC=$?
}

#   expect TEXT: stdout+stderr contain TEXT
expect () {
    cat "$TMP/out" "$TMP/err" | grep -qF -- "$1" || fail "$2: '$1' not printed"
}
#   clean_utf8: stdout and stderr are valid UTF-8 (iconv refuses otherwise)
clean_utf8 () {
    for stream in out err; do
        iconv -f UTF-8 -t UTF-8 "$TMP/$stream" >/dev/null 2>&1 \
            || fail "$1: $stream is not valid UTF-8"
    done
}

#   Language decision
run -- "$FM" --help
[ $RC -eq 0 ] || fail "no LANG: --help exit $RC"
expect "用法: finmatch" "no LANG (Chinese by default)"
expect "命令:" "no LANG"
run LANG=C -- "$FM" --help
expect "用法: finmatch" "LANG=C"
run LANG=en_US.UTF-8 -- "$FM" --help
expect "Usage: finmatch" "LANG=en_US.UTF-8"
expect "Commands:" "LANG=en_US.UTF-8"
run LANG=en_US.UTF-8 LC_ALL=zh_CN.UTF-8 -- "$FM" --help
expect "用法: finmatch" "LC_ALL wins over LANG"
run LANG=zh_CN.UTF-8 LC_MESSAGES=en_GB.UTF-8 -- "$FM" --help
expect "Usage: finmatch" "LC_MESSAGES wins over LANG"
run LANGUAGE=en LANG=zh_CN.UTF-8 -- "$FM" --help
expect "Usage: finmatch" "LANGUAGE first"
run LANG=zh_CN.UTF-8 -- "$FM" --lang en --help
expect "Usage: finmatch" "--lang en overrides LANG"
run LANG=en_US.UTF-8 -- "$FM" --lang zh report --help
expect "用法: finmatch report" "--lang zh, subcommand help"
run -- "$FM" --lang fr --help
[ $RC -eq 2 ] || fail "--lang fr: exit $RC, expected 2"
expect "--lang 'fr'" "--lang fr"
for BINARY in finmatch-broker finmatch-gov finmatch-bank finmatch-recorder; do
    run LANG=en_US.UTF-8 -- "$BIN_DIR/$BINARY" --lang zh --help
    [ $RC -eq 0 ] || fail "$BINARY --lang zh --help: exit $RC"
    expect "用法: $BINARY" "$BINARY --lang zh"
    expect "选项:" "$BINARY --lang zh"
    run -- "$BIN_DIR/$BINARY" --lang en --help
    expect "Usage: $BINARY" "$BINARY --lang en"
done

#   Translated errors (no broker needed: refused before sending)
run -- "$FM" --lang en --insecure request --enterprise 12345 --amount 300万 --term 12
[ $RC -eq 2 ] || fail "bad enterprise: exit $RC"
expect "a unified social credit code has 18 characters, not 5" "English error"
run -- "$FM" --lang zh --insecure request --enterprise 12345 --amount 300万 --term 12
expect "统一社会信用代码应为 18 位,而不是 5 位" "Chinese error"
run -- "$FM" --lang zh --insecure request --enterprise 91500105MA5U0A0B11 --amount 0.001 --term 12
expect "不是以元计的金额" "Chinese amount error"

#   Bad UTF-8: a flag value, named by its flag
BAD=$(printf '\344\270')                #   a truncated 中
run -- "$FM" --lang en --insecure request --enterprise 91500105MA5U0A0B11 --amount 300万 \
    --term 12 --purpose "流动资金$BAD"
[ $RC -eq 2 ] || fail "bad UTF-8 flag: exit $RC"
expect "the value of --purpose is not valid UTF-8 text" "bad UTF-8 flag"
clean_utf8 "bad UTF-8 flag"
run -- "$FM" --lang en "--broker=tcp://$BAD" request --help
[ $RC -eq 2 ] || fail "bad UTF-8 attached flag: exit $RC"
expect "argument 3 is not valid UTF-8 text" "bad UTF-8 attached flag"
clean_utf8 "bad UTF-8 attached flag"

#   Bad UTF-8 in a request CSV: file:line, and no other row is sent
CSV="$TMP/requests.csv"
printf 'enterprise,amount,term,purpose\n' >"$CSV"
printf '91500105MA5U0A0B11,300万,12,流动资金\n' >>"$CSV"
printf '91500105MA5U0A0B24,200万,12,设备\377采购\n' >>"$CSV"
run -- "$FM" --lang en --insecure --timeout 100 request --file "$CSV"
[ $RC -eq 2 ] || fail "bad UTF-8 CSV: exit $RC"
expect "requests.csv:3: not valid UTF-8 text" "bad UTF-8 CSV"
clean_utf8 "bad UTF-8 CSV"
run -- "$FM" --lang zh --insecure --timeout 100 request --file "$CSV"
expect "requests.csv:3: 不是有效的 UTF-8 文本" "bad UTF-8 CSV (Chinese)"

#   Bad UTF-8 in the client's config file (a comment line counts too)
CFG="$TMP/client.cfg"
printf 'client\n    timeout_ms = 100\n#   \300\200 overlong\n' >"$CFG"
run -- "$FM" --lang en -c "$CFG" report --help
[ $RC -eq 2 ] || fail "bad UTF-8 config: exit $RC"
expect "client.cfg:3: not valid UTF-8" "bad UTF-8 config"
clean_utf8 "bad UTF-8 config"

#   Bad UTF-8 in a bank config: the product name, named by its line
BANK="$TMP/bank.cfg"
sed 's/name = 网格e贷/name = 网格\xffe贷/' "$SOURCE_DIR/tests/data/system/bank_cqrcb.cfg" >"$BANK"
LINE=$(grep -an "$(printf '\377')" "$BANK" | cut -d: -f1)
run -- "$BIN_DIR/finmatch-bank" --lang en -c "$BANK"
[ $RC -eq 2 ] || fail "bad UTF-8 bank config: exit $RC"
expect "bank.cfg:$LINE: not valid UTF-8" "bad UTF-8 bank config"
clean_utf8 "bad UTF-8 bank config"

[ $FAILED -eq 0 ] && echo "i18n_cli: all checks passed"
exit $FAILED
