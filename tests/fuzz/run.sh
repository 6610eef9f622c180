#!/usr/bin/env bash
#   run.sh - build one libFuzzer target with clang and run it for a fixed time
#
#   Usage: tests/fuzz/run.sh TARGET BUILD_DIR [SECONDS]
#     TARGET   codec | broker  (tests/fuzz/fuzz_TARGET.c)
#   The target is built with -fsanitize=fuzzer,address,undefined from the
#   sources (the project itself may be built with gcc), into
#   BUILD_DIR/fuzz/, and run from a copy of the seed corpus
#   tests/fuzz/corpus/TARGET for SECONDS (default 20, env FM_FUZZ_SECONDS).
#   Exit 0 if it ran without a finding, 77 (ctest: skipped) without clang,
#   1 on a crash, sanitizer report or leak (the reproducer is kept in
#   BUILD_DIR/fuzz/ and named in the output).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
TARGET=${1:?target: codec or broker}
BUILD=${2:?build directory}
SECONDS_TO_RUN=${3:-${FM_FUZZ_SECONDS:-20}}
CC=${FM_FUZZ_CC:-clang}
if ! command -v "$CC" >/dev/null; then
    echo "fuzz: $CC not found, skipped (deploy/bootstrap.sh installs clang)"
    exit 77
fi

OUT="$BUILD/fuzz"
mkdir -p "$OUT"
case "$TARGET" in
    codec)  SOURCES=("$ROOT"/proto/*.c "$ROOT"/common/*.c) ;;
    broker) SOURCES=("$ROOT"/broker/fm_broker.c "$ROOT"/broker/fm_rank.c
                     "$ROOT"/broker/fm_auth.c "$ROOT"/broker/fm_replay.c
                     "$ROOT"/broker/fm_journal.c "$ROOT"/broker/fm_warn.c
                     "$ROOT"/proto/*.c "$ROOT"/common/*.c) ;;
    *)      echo "fuzz: unknown target '$TARGET'" >&2; exit 2 ;;
esac
# shellcheck disable=SC2046
"$CC" -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
    -D_GNU_SOURCE -std=gnu11 -I"$ROOT/proto" -I"$ROOT/common" -I"$ROOT/broker" \
    -DFM_LOCALEDIR_BUILTIN="\"/usr/share/locale\"" \
    "$ROOT/tests/fuzz/fuzz_$TARGET.c" "${SOURCES[@]}" \
    $(pkg-config --cflags --libs libczmq libzmq msgpack) \
    -o "$OUT/fuzz_$TARGET"

#   A working copy: the checked-in corpus is the seed, never written to
CORPUS=$(mktemp -d "${TMPDIR:-/tmp}/fm-fuzz-$TARGET-XXXXXX")
trap 'rm -rf "$CORPUS"' EXIT
cp "$ROOT/tests/fuzz/corpus/$TARGET"/* "$CORPUS/"
cd "$OUT"
export ASAN_OPTIONS="detect_leaks=1:${ASAN_OPTIONS:-}"
export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0"
rc=0
"./fuzz_$TARGET" -max_total_time="$SECONDS_TO_RUN" -print_final_stats=1 \
    -rss_limit_mb=2048 -timeout=10 "$CORPUS" > "fuzz_$TARGET.log" 2>&1 || rc=$?
grep -E "^(stat::|Done|==[0-9]+==|SUMMARY|Test unit written|INFO: Seed)" \
    "fuzz_$TARGET.log" || true
if (( rc != 0 )); then
    tail -40 "fuzz_$TARGET.log"
    echo "fuzz: fuzz_$TARGET found a problem (exit $rc), log $OUT/fuzz_$TARGET.log"
fi
exit "$rc"
