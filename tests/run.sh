#!/usr/bin/env bash
#   run.sh - the CI test command: a warnings-as-errors build and a
#   sanitizer build (ASan + UBSan, leak detection on), each running every
#   ctest.  Exits non-zero if any step fails; ends with a one-line summary.
#
#   Usage: tests/run.sh           (from any directory; needs root the first
#                                  time on a fresh machine, for apt)
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT" || exit 1
JOBS=$(nproc)
#   ctest in parallel: every test binds tcp://127.0.0.1:* and uses its own
#   temporary files, so tests do not share ports or paths
CTEST_JOBS=${FM_CTEST_JOBS:-$JOBS}

#   LeakSanitizer is on; czmq's own background threads are suppressed in
#   tests/lsan.supp rather than turning detection off.  UBSan stops at the
#   first error (-fno-sanitize-recover in CMake) and prints a stack.
export ASAN_OPTIONS="detect_leaks=1"
export LSAN_OPTIONS="suppressions=$ROOT/tests/lsan.supp:print_suppressions=0"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"

#   bootstrap.sh also installs what only the tests need (chromium...)
export FM_BOOTSTRAP_TESTS=1

start=$(date +%s)
failed=()
summary=()

#   step NAME COMMAND...: run, record the outcome
step () {
    local name=$1
    shift
    echo "=== $name: $*"
    if "$@"; then
        summary+=("$name ok")
    else
        summary+=("$name FAILED")
        failed+=("$name")
        return 1
    fi
}

#   One configuration: build, then every ctest
#   configuration LABEL DIR "CTEST ARGS" CMAKE ARGS...
configuration () {
    local label=$1 dir=$2 ctest_args=$3
    shift 3
    step "$label-build" bash deploy/bootstrap.sh "$dir" "$@" || return 1
    # shellcheck disable=SC2086
    step "$label-ctest" ctest --test-dir "$dir" --output-on-failure -j "$CTEST_JOBS" \
        $ctest_args || return 1
}

configuration werror build-ci "" -DFM_WERROR=ON
#   The fuzz targets build their own clang ASan+UBSan binaries and the
#   packaging tests check files, not code paths: running them a second time
#   under the sanitizer build would only double CI time.  valgrind cannot
#   run ASan binaries (it is a werror-build test).  netns_fault is the fault
#   suite (ctest fault, which runs in both) again across namespaces with
#   lossy, shaped links: once, in the werror build
configuration asan build-asan "-E ^(fuzz_|package_|valgrind$|netns_fault$)" -DFM_WERROR=ON -DFM_SANITIZE=ON

elapsed=$(( $(date +%s) - start ))
if (( ${#failed[@]} > 0 )); then
    echo "tests/run.sh: FAILED (${failed[*]}) -- ${summary[*]} -- ${elapsed}s"
    exit 1
fi
echo "tests/run.sh: PASSED -- ${summary[*]} -- ${elapsed}s"
