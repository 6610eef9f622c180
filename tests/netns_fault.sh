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
#     delay:   in user space.  No qdisc of such a kernel holds a packet
#              for a fixed time (netem, fq with EDT timestamps, etf and
#              plug are all unset; tbf's latency is only a queue bound),
#              but it has nfnetlink_queue and the xtables NFQUEUE target
#              (not nft's `queue`: CONFIG_NFT_QUEUE is unset).  Each host
#              gets iptables rules `-o eth0 -j NFQUEUE --queue-bypass` on
#              OUTPUT and `-i eth0` on INPUT, and one fm_nfq_delay (built
#              where libnetfilter_queue is found) holding every queued
#              packet 5 ms +- 2 ms without reordering, then accepting it:
#              the same 5 ms per hop end as netem on eth0 + bridge port.
#              Probed first (iptables-nft, then iptables-legacy: a
#              datagram must reach the delayer in the probe namespace);
#              if that fails, or fm_nfq_delay was not built, delay is not
#              applied and the script says why.  The link never wedges on
#              the delayer: --queue-bypass and fail-open pass packets if
#              it is gone or full.
#   The script prints which was applied, and at the end the drop counters
#   (nft rules, or netem qdiscs), the tbf statistics and each delayer's
#   count; with loss applied, zero drops fails the test (the loss was not
#   really there), and so do zero packets delayed or a delayer that died.
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
QNUM=0                                  #   NFQUEUE queue of the delayers
                                        #   (one per namespace, so no clash)
#   The loss in hundredths of a percent, for nft's integer numgen
loss_bp=$(awk -v l="${LOSS%\%}" 'BEGIN { printf "%d", l * 100 + 0.5 }')

if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: netns_fault.sh needs root (network namespaces, tc)"; exit 77
fi
if ! command -v ip >/dev/null || ! command -v tc >/dev/null \
   || ! ip netns add "$N-probe" 2>/dev/null; then
    echo "SKIP: 'ip netns' or 'tc' is not available here (iproute2, CAP_SYS_ADMIN)"; exit 77
fi
#   Namespaces of earlier runs killed before their EXIT trap
# shellcheck source=deploy/netns_sweep.sh
. "$root/deploy/netns_sweep.sh"
netns_sweep fmf

run=$(mktemp -d "${TMPDIR:-/tmp}/fm-netns-fault-XXXXXX")
hosts=(broker bank1 bank2 ops client)
delayers=()                             #   "HOST:PID" of each fm_nfq_delay

teardown () {
    local rc=$? h d
    trap - EXIT INT TERM
    #   The delayers first, by pid (SIGTERM: they accept what they hold);
    #   test_fault stops its daemons itself (and its parent-death signal
    #   takes them if it dies); the namespaces go with their last process
    for d in "${delayers[@]}"; do
        kill -TERM "${d#*:}" 2>/dev/null || true
    done
    for h in "${hosts[@]}" lan probe; do
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

#   alive PID: 0 while PID runs (a zombie, exited but not yet reaped by
#   wait, does not count)
alive () {
    local state
    state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

#   delayer_start NS LOG: start fm_nfq_delay in namespace NS on queue QNUM
#   with DELAY and JITTER, its output in LOG, as a child of this shell (not
#   in a $(...) subshell: its parent-death signal would fire at once); wait
#   (5 s at most) for its "ready" line.  Sets delayer_pid; returns 1 if it
#   exited or never got ready (then it is killed and reaped)
delayer_start () {
    local ns=$1 log=$2 i
    ip netns exec "$ns" "$bin/fm_nfq_delay" --queue "$QNUM" \
        --delay "$DELAY" --jitter "$JITTER" >"$log" 2>&1 &
    delayer_pid=$!
    for (( i = 0; i < 100; i++ )); do
        grep -qs ' ready: ' "$log" && return 0
        alive "$delayer_pid" || break
        sleep 0.05
    done
    kill -KILL "$delayer_pid" 2>/dev/null || true
    wait "$delayer_pid" 2>/dev/null || true
    return 1
}

#   delayer_stop PID LOG: SIGTERM, wait (5 s, then SIGKILL) and reap; sets
#   delayer_line to the delayer's count line; returns 1 if it had already
#   exited (the delay stopped early), was stuck, or printed no counts
delayer_stop () {
    local pid=$1 log=$2 i rc=0
    alive "$pid" || rc=1
    kill -TERM "$pid" 2>/dev/null || true
    for (( i = 0; i < 100; i++ )); do
        alive "$pid" || break
        sleep 0.05
    done
    if alive "$pid"; then
        kill -KILL "$pid" 2>/dev/null || true
        rc=1
    fi
    wait "$pid" 2>/dev/null || rc=1
    delayer_line=$(grep ': delayed ' "$log") || rc=1
    return "$rc"
}

#   count_of WORD LINE: the number after WORD in a delayer's count line
count_of () {
    sed -n "s/.* $1 \([0-9]*\).*/\1/p" <<<"$2"
}

#   rtt_us IP: "SHORTEST MEDIAN" of 9 TCP round trips from the client host
#   to IP (a connect to closed port 9: SYN out, RST back), in microseconds.
#   A SYN or RST lost to the loss rules (retried after 1 s) moves neither
#   much; bash's /dev/tcp and EPOCHREALTIME, so no ping is needed
rtt_us () {
    # shellcheck disable=SC2016
    ip netns exec "$N-client" bash -c '
        for i in 1 2 3 4 5 6 7 8 9; do
            t0=${EPOCHREALTIME/[.,]/}
            : 2>/dev/null 3<>"/dev/tcp/$1/9"
            t1=${EPOCHREALTIME/[.,]/}
            echo $(( t1 - t0 ))
        done' rtt_us "$1" | sort -n | awk 'NR == 1 { low = $1 } NR == 5 { print low, $1 }'
}

#   ms US: microseconds as milliseconds, two decimals
ms () {
    awk -v us="$1" 'BEGIN { printf "%.2f", us / 1000 }'
}

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
#   The delay fallback, where it would be used: an NFQUEUE rule on p0's
#   output from iptables-nft (nft compat) or iptables-legacy, and a
#   datagram sent through p0 must reach a delayer (its count >= 1)
ipt="" no_delay_why=""
if [ "$FAULTS" = nft ] || { [ "$FAULTS" = auto ] && [ "$has_netem" = 0 ]; }; then
    no_delay_why="fm_nfq_delay not built (libnetfilter_queue missing)"
    if [ -x "$bin/fm_nfq_delay" ]; then
        no_delay_why="the NFQUEUE probe failed with iptables-nft and iptables-legacy"
        ip -n "$N-probe" addr add 10.78.255.1/30 dev p0
        ip -n "$N-probe" link set p1 up
        for try in iptables-nft iptables-legacy; do
            command -v "$try" >/dev/null || continue
            rule=(OUTPUT -o p0 -j NFQUEUE --queue-num "$QNUM" --queue-bypass)
            ip netns exec "$N-probe" "$try" -A "${rule[@]}" 2>/dev/null || continue
            if DELAY=1ms JITTER=0 delayer_start "$N-probe" "$run/probe.log"; then
                ip netns exec "$N-probe" bash -c 'echo probe >/dev/udp/10.78.255.2/9' || true
                #   Held, then released in time or at the SIGTERM
                if delayer_stop "$delayer_pid" "$run/probe.log" \
                   && [ $(( $(count_of delayed "$delayer_line") \
                            + $(count_of flushed "$delayer_line") )) -ge 1 ]; then
                    ipt=$try
                    break
                fi
            fi
            ip netns exec "$N-probe" "$try" -D "${rule[@]}" 2>/dev/null || true
        done
    fi
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
    nft) if [ -n "$ipt" ]; then
             faults="delay: nfqueue $DELAY ± $JITTER per host, both ways (fm_nfq_delay,"
             faults="$faults $ipt NFQUEUE on eth0 output and input);"
         else
             faults="delay: not applied (no netem in this kernel; $no_delay_why);"
         fi
         faults="$faults loss: nftables $LOSS per direction;"
         faults="$faults shaping: tbf $SHAPE, both ends of each link" ;;
    none) faults="none (FM_NETNS_FAULTS=none): no delay, no loss, no shaping" ;;
esac
for b in finmatch-broker finmatch-gov finmatch-bank finmatch-recorder test_fault; do
    [ -x "$bin/$b" ] || { echo "netns_fault: $bin/$b missing (build first)"; exit 1; }
done

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
            done
            if [ -n "$ipt" ]; then
                ip netns exec "$N-$h" "$ipt" -A OUTPUT -o eth0 \
                    -j NFQUEUE --queue-num "$QNUM" --queue-bypass
                ip netns exec "$N-$h" "$ipt" -A INPUT -i eth0 \
                    -j NFQUEUE --queue-num "$QNUM" --queue-bypass
                delayer_start "$N-$h" "$run/delay-$h.log" \
                    || { echo "netns_fault: fm_nfq_delay did not start on $h:"
                         cat "$run/delay-$h.log"; return 1; }
                delayers+=("$h:$delayer_pid")
            fi ;;
    esac
}

#   link_faults_report: print what the link faults did (before teardown);
#   with loss applied, fail if nothing was dropped
link_faults_report () {
    local h n total=0 qdisc line rc=0
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
        rc=1
    fi
    [ "${#delayers[@]}" -eq 0 ] && return "$rc"
    local d pid delayed=0
    for d in "${delayers[@]}"; do
        h=${d%%:*} pid=${d#*:}
        if ! delayer_stop "$pid" "$run/delay-$h.log"; then
            echo "netns_fault: FAIL: the delayer on $h exited early or was stuck:"
            sed 's/^/    /' "$run/delay-$h.log"
            rc=1
        fi
        echo "  $h: ${delayer_line:-no count}"
        n=$(count_of delayed "$delayer_line")
        delayed=$(( delayed + ${n:-0} ))
    done
    delayers=()
    echo "==== Link faults: $delayed packets delayed $DELAY ± $JITTER by the delayers in all;" \
         "round trip client → broker host (median) $(ms "$rtt_delayed") ms with them," \
         "$(ms "$(rtt_us "$NET.1" | cut -d' ' -f2)") ms without"
    if [ "$delayed" -eq 0 ]; then
        echo "netns_fault: FAIL: the delay was not applied (0 packets delayed)"
        rc=1
    fi
    return "$rc"
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

#   The delay is real: a round trip from the client to the broker host
#   crosses the broker's delayer twice (INPUT, OUTPUT), so it takes at
#   least 2 x (delay - jitter); measured again once the delayers stopped
if [ "${#delayers[@]}" -gt 0 ]; then
    read -r rtt_low rtt_delayed <<<"$(rtt_us "$NET.1")"
    ready=$(grep ' ready: ' "$run/delay-broker.log")
    rtt_floor=$(( 2 * ($(count_of delay "$ready") - $(count_of jitter "$ready")) ))
    echo "==== Round trip client → broker host: median $(ms "$rtt_delayed") ms," \
         "shortest $(ms "$rtt_low") ms (TCP SYN → RST, 9 tries; at least" \
         "$(ms "$rtt_floor") ms expected)"
    if [ "$rtt_low" -lt "$rtt_floor" ]; then
        echo "netns_fault: FAIL: the round trip is shorter than the delay"; exit 1
    fi
fi

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
