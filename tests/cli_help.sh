#!/bin/sh
#   cli_help.sh - command-line contract of one finmatch binary
#
#   Usage: cli_help.sh BIN_DIR VERSION BINARY [SUBCOMMAND]
#   Checks, for BINARY (or `finmatch SUBCOMMAND`):
#     --help            exits 0 and prints "Usage" (or "用法")
#     --version         exits 0 and prints VERSION (binaries, not subcommands)
#     --no-such-flag    exits 2 and says something on stderr
#     -c MISSING.cfg    exits 2 and names the file on stderr
#   Every run is bounded by `timeout` so a binary that starts serving
#   instead of exiting fails the test rather than hanging it.

set -u
BIN_DIR=$1
VERSION=$2
BINARY=$3
SUB=${4:-}
EXE="$BIN_DIR/$BINARY"
NAME="$BINARY${SUB:+ $SUB}"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/fm-help-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
FAILED=0

fail () {
    echo "FAIL: $NAME: $*"
    echo "---- stdout:"; cat "$TMP/out"
    echo "---- stderr:"; cat "$TMP/err"
    FAILED=1
}

#   run ARGS...: runs the binary (with SUB in place), sets $RC
run () {
    timeout 10 "$EXE" "$@" >"$TMP/out" 2>"$TMP/err" </dev/null
    RC=$?
}

[ -x "$EXE" ] || { echo "FAIL: $EXE is not an executable"; exit 1; }

if [ -n "$SUB" ]; then
    run "$SUB" --help
else
    run --help
fi
[ $RC -eq 0 ] || fail "--help exited $RC, want 0"
#   In the user's language: English "Usage", or Chinese "用法" (the default
#   when LANG is unset or C; see common/fm_i18n.h)
cat "$TMP/out" "$TMP/err" | grep -qE "Usage|用法" || fail "--help does not print Usage"

if [ -z "$SUB" ]; then
    run --version
    [ $RC -eq 0 ] || fail "--version exited $RC, want 0"
    cat "$TMP/out" "$TMP/err" | grep -qF "$VERSION" || fail "--version does not print $VERSION"
fi

if [ -n "$SUB" ]; then
    run "$SUB" --no-such-flag
else
    run --no-such-flag
fi
[ $RC -eq 2 ] || fail "--no-such-flag exited $RC, want 2"
[ -s "$TMP/err" ] || fail "--no-such-flag printed nothing on stderr"

MISSING="$TMP/no-such-dir/missing-config.cfg"
if [ -n "$SUB" ]; then
    run -c "$MISSING" "$SUB"
else
    run -c "$MISSING"
fi
[ $RC -eq 2 ] || fail "-c $MISSING exited $RC, want 2"
grep -qF "missing-config.cfg" "$TMP/err" || fail "-c MISSING: stderr does not name the file"

if [ $FAILED -eq 0 ]; then
    CHECKED="--help, --version"
    [ -n "$SUB" ] && CHECKED="--help"
    echo "OK: $NAME: $CHECKED, unknown flag, missing -c file"
fi
exit $FAILED
