#!/usr/bin/env bash
#   valgrind.sh - the integration tests with the broker and one bank
#   worker under valgrind memcheck
#
#   Usage: bash tests/valgrind.sh BIN_DIR
#   Exit 0 pass, 1 fail (any memcheck error or definite/indirect leak in
#   the broker or the bank worker: their exit code on SIGTERM is then
#   VALGRIND_ERROR, which the tests check, and this script reads every
#   memcheck log), 77 skipped (no valgrind).
#
#   The C integration tests start the daemons from FM_BIN_DIR; this script
#   points them at a directory of wrappers: finmatch-broker and one
#   bank.CQRCB worker run as `valgrind ... REAL "$@"` (exec: the pid stays
#   the daemon's, so the tests' SIGTERM and exit-code checks reach it),
#   everything else runs natively.  Two runs:
#   1. test_system with the broker under valgrind: 200 requests, 20
#      accepts and grants, CURVE on every link (the broker's
#      authentication, the whole request lifecycle);
#   2. test_fault reduced (VALGRIND_REQUESTS at 100/s, no broker kill:
#      its exit is where memcheck reports): a bank worker, gov and the
#      recorder killed -9 and restarted under load, so the broker's
#      worker expiry, gov failure and replay paths run too.  The bank
#      under valgrind there is the CQRCB worker that is never killed.
#   Suppressions (tests/valgrind.supp) are for third-party noise only;
#   none is needed at present (libzmq, czmq and libsodium run clean).
set -uo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
bin=$(realpath -m "${1:-$root/build/bin}")
VALGRIND_ERROR=99
VALGRIND_REQUESTS=${FM_VALGRIND_REQUESTS:-400}

if ! command -v valgrind >/dev/null; then
    echo "SKIP: valgrind is not installed (deploy/bootstrap.sh installs it for tests)"
    exit 77
fi
for b in finmatch-broker finmatch-bank finmatch-gov finmatch-recorder finmatch test_system test_fault; do
    [ -x "$bin/$b" ] || { echo "valgrind: $bin/$b missing (build first)"; exit 1; }
done

run=$(mktemp -d "${TMPDIR:-/tmp}/fm-valgrind-XXXXXX")
trap 'rm -rf "$run"' EXIT
wrap=$run/bin
mkdir -p "$wrap" "$run/logs"
memcheck="valgrind --tool=memcheck --error-exitcode=$VALGRIND_ERROR --leak-check=full
    --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect
    --track-origins=yes --num-callers=30 --suppressions=$here/valgrind.supp
    --soname-synonyms=somalloc=*tcmalloc* --show-mismatched-frees=no
    --log-file=$run/logs/%p.log"
memcheck=$(echo $memcheck)
for b in finmatch-gov finmatch-recorder finmatch; do
    printf '#!/bin/sh\nexec %s "$@"\n' "$bin/$b" >"$wrap/$b"
done
#   The broker under memcheck runs ~30x slower: the classic 2500 ms
#   heartbeat (expiry 7.5 s, not the default 1.5 s) so that healthy workers
#   are not expired while it catches up
#   ($FM_VALGRIND_BROKER_ARGS: more flags, see test_system below)
printf '#!/bin/sh\nexec %s %s --heartbeat-ms 2500 "$@" $FM_VALGRIND_BROKER_ARGS\n' \
    "$memcheck" "$bin/finmatch-broker" >"$wrap/finmatch-broker"
#   One bank worker, in test_fault only (the CQRCB worker never killed,
#   bank-cqrcb-b.cfg): test_system allows no bank timeout, and a bank
#   under valgrind on a loaded 2-core machine can miss the 2 s deadline
printf '#!/bin/sh\ncase "$*" in *bank-cqrcb-b.cfg*) exec %s %s "$@";; esac\nexec %s "$@"\n' \
    "$memcheck" "$bin/finmatch-bank" "$bin/finmatch-bank" >"$wrap/finmatch-bank"
chmod +x "$wrap"/*
#   A clean shutdown under memcheck on a loaded machine took over the
#   tests' 5 s; fm_proc_stop scales its wait (the exit code is still checked)
export FM_PROC_STOP_SCALE=6

#   test_system allows no bank timeout: its first requests run while
#   valgrind is still translating the broker's code paths, which on a
#   loaded machine took longer than its 2 s bank deadline (flags win over
#   the test's config file)
started=$(date +%s)
FM_BIN_DIR=$wrap FM_SOURCE_DIR=$root \
    FM_VALGRIND_BROKER_ARGS="--deadline-ms 10000 --gov-deadline-ms 5000" "$bin/test_system"
rc=$?
echo "==== valgrind: test_system exit $rc in $(( $(date +%s) - started )) s"
started=$(date +%s)
FM_BIN_DIR=$wrap FM_SOURCE_DIR=$root FM_FAULT_REQUESTS=$VALGRIND_REQUESTS \
    FM_FAULT_RATE=100 FM_FAULT_BROKER=0 FM_FAULT_MIN_OK=10 "$bin/test_fault"
fault_rc=$?
echo "==== valgrind: test_fault exit $fault_rc in $(( $(date +%s) - started )) s"
(( fault_rc == 0 )) || rc=1
logs=("$run"/logs/*.log)
checked=0
for log in "${logs[@]}"; do
    [ -f "$log" ] || continue
    checked=$(( checked + 1 ))
    summary=$(grep -E "ERROR SUMMARY|definitely lost|indirectly lost" "$log" | sed 's/^==[0-9]*== *//')
    command=$(grep -m1 "^==[0-9]*== Command:" "$log" | sed 's/^==[0-9]*== Command: //' | cut -c1-80)
    echo "---- $command"
    echo "$summary"
    if ! grep -q "ERROR SUMMARY: 0 errors" "$log"; then
        #   No summary at all: killed (the test failed, or test_fault's kill)
        echo "valgrind: errors, or no ERROR SUMMARY, in $command:"; cat "$log"; rc=1
    fi
done
if (( checked < 3 )); then
    echo "valgrind: expected logs of 2 brokers and a bank worker, found $checked"; rc=1
fi
exit "$rc"
