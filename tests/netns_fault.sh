#!/usr/bin/env bash
#   netns_fault.sh - the fault suite (test_fault) on several "hosts"
#
#   Usage: sudo bash tests/netns_fault.sh BIN_DIR [REQUESTS]
#   Environment: FM_NETNS_FAULTS=auto (default) | netem | nft | none picks
#   how the links are degraded (below); FM_NETNS_DELAY, _JITTER, _LOSS,
#   _SHAPE tune them.
#   Exit 0 pass, 1 fail, 77 skipped (not root, no `ip netns`, neither netem
#   nor nftables+tbf).
#
#   Five network namespaces on one bridge (its own namespace), 10.78.0.0/24:
#
#     fmN-broker  10.78.0.1   finmatch-broker + finmatch-gov
#     fmN-bank1   10.78.0.2   finmatch-bank x2 (bank.CQRCB)
#     fmN-bank2   10.78.0.3   finmatch-bank (bank.CCB), finmatch-bank (bank.ICBC)
#     fmN-ops     10.78.0.4   finmatch-recorder (SQLite log)
#     fmN-client  10.78.0.5   test_fault: the load, the witness, the checks
#
#   Link faults on every host but the client, on both ends of its link
#   (the host's eth0 and its bridge port), so every hop is degraded both
#   ways.  First choice, where the kernel has sch_netem: tc netem delay
#   5 ms +- 2 ms and 0.5 % loss per interface.  Without netem (CI's
#   Firecracker kernel 6.18 has CONFIG_NET_SCH_NETEM unset and no
#   modules) the fallback uses what such a kernel has:
#     loss:    nftables, 0.5 % per direction: a table `inet fm` in each
#              host with output (oifname eth0) and input (iifname eth0)
#              rules `numgen random mod 10000 < 50 counter drop`;
#     shaping: tc tbf (rate 40mbit burst 32kb latency 100ms) on eth0 and
#              on the bridge port: queueing delay under load, and tail
#              drops when the queue exceeds its latency bound;
#     delay:   NOT applied.  No fixed-delay mechanism exists in such a
#              kernel: netem, fq (EDT timestamps from BPF), etf and plug
#              are all unset, and tbf's latency is only a queue bound.
#              (A user-space NFQUEUE delayer would be the next step.)
#   The script prints which was applied, and at the end the drop counters
#   (nft rules, or netem qdiscs) and the tbf statistics; with loss
#   applied, zero drops fails the test (the loss was not really there).
#   FM_NETNS_FAULTS=nft forces the fallback where netem exists;
#   FM_NETNS_FAULTS=none runs with no link faults (the namespaces, the
#   link cut and the kills still run).
#
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
LOSS=${FM_NETNS_LOSS:-0.5%}             #   per interface (netem) or direction (nft)
SHAPE=${FM_NETNS_SHAPE:-rate 40mbit burst 32kb latency 100ms}   #   tbf, fallback
FAULTS=${FM_NETNS_FAULTS:-auto}
#   The loss in hundredths of a percent, for nft's integer numgen
loss_bp=$(awk -v l="${LOSS%\%}" 'BEGIN { printf "%d", l * 100 + 0.5 }')

if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: netns_fault.sh needs root (network namespaces, tc)"; exit 77
fi
if ! command -v ip >/dev/null || ! command -v tc >/dev/null \
   || ! ip netns add "$N-probe" 2>/dev/null; then
    echo "SKIP: 'ip netns' or 'tc' is not available here (iproute2, CAP_SYS_ADMIN)"; exit 77
fi
#   Probe, on a veth pair in the probe namespace: a netem qdisc (the module
#   may be missing: no modprobe in a container, or a kernel without
#   CONFIG_NET_SCH_NETEM), then the fallback's tbf qdisc and nft table
probe () {
    # shellcheck disable=SC2086
    case $1 in
        netem) ip netns exec "$N-probe" tc qdisc replace dev p0 root netem delay 1ms ;;
        tbf) ip netns exec "$N-probe" tc qdisc replace dev p0 root tbf $SHAPE ;;
        nft) command -v nft >/dev/null \
             && ip netns exec "$N-probe" nft add table inet fm \
             && ip netns exec "$N-probe" nft add chain inet fm out \
                    '{ type filter hook output priority 0; }' \
             && ip netns exec "$N-probe" nft add rule inet fm out \
                    oifname p0 numgen random mod 10000 '<' "$loss_bp" counter drop ;;
    esac
}
has_netem=0 has_nft=0
ip -n "$N-probe" link add p0 type veth peer name p1
ip -n "$N-probe" link set p0 up
if probe netem 2>/dev/null; then
    has_netem=1
elif command -v modprobe >/dev/null && modprobe sch_netem 2>/dev/null \
     && probe netem 2>/dev/null; then
    has_netem=1
fi
if probe tbf 2>/dev/null && probe nft 2>/dev/null; then
    has_nft=1
fi
ip netns del "$N-probe"
case $FAULTS in
    auto) if [ "$has_netem" = 1 ]; then mode=netem
          elif [ "$has_nft" = 1 ]; then mode=nft
          else
              echo "SKIP: neither tc netem (sch_netem) nor nftables + tc tbf is available" \
                   "(FM_NETNS_FAULTS=none runs without link faults)"
              exit 77
          fi ;;
    netem) [ "$has_netem" = 1 ] || { echo "SKIP: tc netem is not available (sch_netem)"; exit 77; }
           mode=netem ;;
    nft) [ "$has_nft" = 1 ] || { echo "SKIP: nftables (nft) or tc tbf is not available"; exit 77; }
         mode=nft ;;
    none) mode=none ;;
    *) echo "netns_fault: FM_NETNS_FAULTS=$FAULTS: expected auto, netem, nft or none"; exit 1 ;;
esac
case $mode in
    netem) faults="delay: netem $DELAY ± $JITTER; loss: netem $LOSS; per interface, both ends of each link" ;;
    nft) faults="delay: not applied (no netem in this kernel); loss: nftables $LOSS per direction;"
         faults="$faults shaping: tbf $SHAPE, both ends of each link" ;;
    none) faults="none (FM_NETNS_FAULTS=none): no delay, no loss, no shaping" ;;
esac
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

#   link_faults HOST PORT: degrade HOST's eth0 and its bridge port PORT
link_faults () {
    local h=$1 port=$2 dir chain hook key
    case $mode in
        netem)
            ip netns exec "$N-$h" tc qdisc add dev eth0 root netem \
                delay "$DELAY" "$JITTER" loss "$LOSS"
            ip netns exec "$N-lan" tc qdisc add dev "$port" root netem \
                delay "$DELAY" "$JITTER" loss "$LOSS" ;;
        nft)
            # shellcheck disable=SC2086
            ip netns exec "$N-$h" tc qdisc add dev eth0 root tbf $SHAPE
            # shellcheck disable=SC2086
            ip netns exec "$N-lan" tc qdisc add dev "$port" root tbf $SHAPE
            ip netns exec "$N-$h" nft add table inet fm
            for dir in out:output:oifname in:input:iifname; do
                IFS=: read -r chain hook key <<<"$dir"
                ip netns exec "$N-$h" nft add chain inet fm "$chain" \
                    "{ type filter hook $hook priority 0; }"
                ip netns exec "$N-$h" nft add rule inet fm "$chain" \
                    "$key" eth0 numgen random mod 10000 '<' "$loss_bp" counter drop
            done ;;
    esac
}

#   link_faults_report: print what the link faults did (before teardown);
#   with loss applied, fail if nothing was dropped
link_faults_report () {
    local h n total=0 qdisc line
    [ "$mode" = none ] && return 0
    for h in broker bank1 bank2 ops; do
        if [ "$mode" = nft ]; then
            n=$(ip netns exec "$N-$h" nft list table inet fm \
                | awk '/counter packets/ { for (i = 1; i < NF; i++)
                                              if ($i == "packets") s += $(i + 1) }
                       END { print s + 0 }')
            echo "  $h: nft dropped $n packets (output + input on eth0)"
        else
            n=$(ip netns exec "$N-$h" tc -s qdisc show dev eth0 \
                | sed -n 's/.*(dropped \([0-9]*\),.*/\1/p' | head -1)
            echo "  $h: netem on eth0 dropped ${n:-0} packets"
        fi
        total=$(( total + ${n:-0} ))
        qdisc=$([ "$mode" = nft ] && echo tbf || echo netem)
        line=$(ip netns exec "$N-$h" tc -s qdisc show dev eth0 | tr '\n' ' ' \
               | sed -n 's/.*Sent \([0-9]*\) bytes \([0-9]*\) pkt (dropped \([0-9]*\), overlimits \([0-9]*\).*/sent \1 bytes \2 pkt, dropped \3, overlimits \4/p')
        echo "  $h: $qdisc on eth0: $line"
    done
    echo "==== Link faults: $total packets dropped by the loss rules in all"
    if [ "$total" -eq 0 ]; then
        echo "netns_fault: FAIL: the loss was not applied (0 packets dropped)"
        return 1
    fi
}

echo "==== Network: bridge $N-lan, $NET.0/24"
echo "==== Link faults: $faults"
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
    if [ "$h" != client ]; then
        link_faults "$h" "v$i"
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
echo "==== netns_fault: test_fault exit $rc in $(( $(date +%s) - started )) s"
echo "==== Link faults: $faults"
link_faults_report || { [ "$rc" -ne 0 ] || rc=1; }
exit "$rc"
