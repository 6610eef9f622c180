#!/usr/bin/env bash
#   netns_fault.sh - the fault suite (test_fault) on several "hosts"
#
#   Usage: sudo bash tests/netns_fault.sh BIN_DIR [REQUESTS]
#   Environment: FM_NETNS_NETEM=optional runs without tc netem (delay and
#   loss) where the kernel lacks sch_netem, instead of skipping: the
#   namespaces, the link cut and the kills still run.
#   Exit 0 pass, 1 fail, 77 skipped (not root, no `ip netns`, no netem).
#
#   Five network namespaces on one bridge (its own namespace), 10.78.0.0/24:
#
#     fmN-broker  10.78.0.1   finmatch-broker + finmatch-gov
#     fmN-bank1   10.78.0.2   finmatch-bank x2 (bank.CQRCB)
#     fmN-bank2   10.78.0.3   finmatch-bank (bank.CCB), finmatch-bank (bank.ICBC)
#     fmN-ops     10.78.0.4   finmatch-recorder (SQLite log)
#     fmN-client  10.78.0.5   test_fault: the load, the witness, the checks
#
#   Every link gets tc netem delay and loss, on both ends (the host's eth0
#   and the bridge port), so every hop is slowed and lossy both ways.
#   test_fault runs in the client namespace and starts each daemon through
#   a wrapper (a bin dir of scripts: `exec ip netns exec fmN-HOST REAL`,
#   which keeps the pid, so kill -9 hits the daemon itself).  Besides its
#   kills (a bank worker, gov, recorder, broker), FM_FAULT_HOOK cuts the
#   recorder host's link (ip link set down) at 40 % of the load and
#   restores it 2 s later: the recorder misses what was published
#   meanwhile and must fill it from the broker's replay store.  Same
#   checks as ctest fault: every key one final answer, nothing processed
#   twice, the log complete.  Everything is torn down by an EXIT trap.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
bin=$(realpath -m "${1:-$root/build/bin}")
requests=${2:-5000}
rate=${FM_NETNS_RATE:-500}          #   requests/s
N=fmf$$                                 #   namespace prefix, unique per run
NET=10.78.0
DELAY=${FM_NETNS_DELAY:-5ms}            #   per interface: 2 x per hop, each way
JITTER=${FM_NETNS_JITTER:-2ms}
LOSS=${FM_NETNS_LOSS:-0.5%}

if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: netns_fault.sh needs root (network namespaces, tc)"; exit 77
fi
if ! command -v ip >/dev/null || ! command -v tc >/dev/null \
   || ! ip netns add "$N-probe" 2>/dev/null; then
    echo "SKIP: 'ip netns' or 'tc' is not available here (iproute2, CAP_SYS_ADMIN)"; exit 77
fi
#   netem: a veth pair in the probe namespace, then a netem qdisc on it.
#   The module may be missing (no modprobe in a container, or a kernel
#   without CONFIG_NET_SCH_NETEM): then skip, unless told to run without
netem=1
ip -n "$N-probe" link add p0 type veth peer name p1
ip -n "$N-probe" link set p0 up
if ! ip netns exec "$N-probe" tc qdisc add dev p0 root netem delay 1ms 2>/dev/null; then
    command -v modprobe >/dev/null && modprobe sch_netem 2>/dev/null || true
    if ! ip netns exec "$N-probe" tc qdisc add dev p0 root netem delay 1ms 2>/dev/null; then
        netem=0
    fi
fi
ip netns del "$N-probe"
if [ "$netem" = 0 ]; then
    if [ "${FM_NETNS_NETEM:-}" != optional ]; then
        echo "SKIP: tc netem is not available (sch_netem missing; 'modprobe sch_netem' failed or absent)"
        exit 77
    fi
    echo "netns_fault: tc netem is not available: running WITHOUT delay and loss (FM_NETNS_NETEM=optional)"
fi
for b in finmatch-broker finmatch-gov finmatch-bank finmatch-recorder test_fault; do
    [ -x "$bin/$b" ] || { echo "netns_fault: $bin/$b missing (build first)"; exit 1; }
done

run=$(mktemp -d "${TMPDIR:-/tmp}/fm-netns-fault-XXXXXX")
hosts=(broker bank1 bank2 ops client)

teardown () {
    local rc=$? h
    trap - EXIT INT TERM
    #   test_fault stops its daemons itself (and its parent-death signal
    #   takes them if it dies); the namespaces go with their last process
    for h in "${hosts[@]}" lan; do
        ip netns pids "$N-$h" 2>/dev/null | xargs -r kill -KILL 2>/dev/null || true
        ip netns del "$N-$h" 2>/dev/null || true
    done
    if ip netns list | grep -q "^$N-"; then
        echo "netns_fault: namespaces left behind: $(ip netns list | grep "^$N-")"; rc=1
    fi
    rm -rf "$run"
    echo "netns_fault: torn down ($N-*)"
    exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "==== Network: bridge $N-lan, $NET.0/24, netem delay $DELAY ± $JITTER loss $LOSS per interface"
ip netns add "$N-lan"
ip -n "$N-lan" link add br0 type bridge
ip -n "$N-lan" link set br0 up
i=1
for h in "${hosts[@]}"; do
    ip netns add "$N-$h"
    ip link add "v$i" netns "$N-lan" type veth peer name eth0 netns "$N-$h"
    ip -n "$N-lan" link set "v$i" master br0 up
    ip -n "$N-$h" addr add "$NET.$i/24" dev eth0
    ip -n "$N-$h" link set eth0 up
    ip -n "$N-$h" link set lo up
    if [ "$netem" = 1 ] && [ "$h" != client ]; then
        ip netns exec "$N-$h" tc qdisc add dev eth0 root netem \
            delay "$DELAY" "$JITTER" loss "$LOSS"
        ip netns exec "$N-lan" tc qdisc add dev "v$i" root netem \
            delay "$DELAY" "$JITTER" loss "$LOSS"
    fi
    printf '  %-7s %-10s %s\n' "$h" "$NET.$i" "$N-$h"
    i=$(( i + 1 ))
done

#   Wrappers: test_fault starts "finmatch-broker" etc. from FM_BIN_DIR
wrap=$run/bin
mkdir -p "$wrap"
wrapper () {    #   wrapper NAME SCRIPT-BODY
    printf '#!/bin/sh\n%s\n' "$2" >"$wrap/$1"
    chmod +x "$wrap/$1"
}
wrapper finmatch-broker "exec ip netns exec $N-broker $bin/finmatch-broker \"\$@\""
wrapper finmatch-gov "exec ip netns exec $N-broker $bin/finmatch-gov \"\$@\""
wrapper finmatch-recorder "exec ip netns exec $N-ops $bin/finmatch-recorder \"\$@\""
#   The CQRCB workers on bank1, CCB and ICBC on bank2 (by their config)
wrapper finmatch-bank "case \"\$*\" in *bank-cqrcb*) host=bank1;; *) host=bank2;; esac
exec ip netns exec $N-\$host $bin/finmatch-bank \"\$@\""
wrapper finmatch "exec $bin/finmatch \"\$@\""
#   The link cut: the recorder host's bridge port (v4) down, then up
wrapper link-hook "case \"\$1\" in
    cut) echo 'netns_fault: link ops (v4) DOWN'; exec ip -n $N-lan link set v4 down;;
    restore) echo 'netns_fault: link ops (v4) UP'; exec ip -n $N-lan link set v4 up;;
esac
exit 1"

echo "==== test_fault on the client host ($NET.5): $requests requests"
started=$(date +%s)
set +e
ip netns exec "$N-client" env FM_BIN_DIR="$wrap" FM_SOURCE_DIR="$root" \
    FM_FAULT_HOST="$NET.1" FM_FAULT_HOOK="$wrap/link-hook" \
    FM_FAULT_REQUESTS="$requests" FM_FAULT_RATE="$rate" FM_FAULT_BROKER=1 \
    "$bin/test_fault"
rc=$?
set -e
echo "==== netns_fault: test_fault exit $rc in $(( $(date +%s) - started )) s (netem: $netem)"
exit "$rc"
