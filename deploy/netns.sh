#!/usr/bin/env bash
#   netns.sh - finmatch on several "hosts": Linux network namespaces
#
#   Usage: sudo bash deploy/netns.sh [BIN_DIR]      (default <repo>/build/bin)
#   Environment: FM_NETNS_KEEP=1 keeps the run directory (logs, keys, log DB)
#
#   Builds a small LAN: one namespace per host, each with an eth0 (veth)
#   plugged into a bridge that lives in its own namespace, 10.77.0.0/24:
#
#     fmN-broker  10.77.0.1   finmatch-broker   binds :7555 (7/MDP), :7556 (events)
#     fmN-gov     10.77.0.2   finmatch-gov      gov.credit (registry CSV)
#     fmN-bank1   10.77.0.3   finmatch-bank     bank.CQRCB, bank.BCQ
#     fmN-bank2   10.77.0.4   finmatch-bank     bank.CCBJB
#     fmN-ops     10.77.0.5   finmatch-recorder (SQLite) + finmatch-dashboard :8080
#     fmN-client  10.77.0.6   finmatch          the enterprise's CLI
#
#   Every link is CURVE-secured: `finmatch keygen` makes one certificate per
#   host and role, the broker admits exactly those (--certs).  The configs
#   are the samples in deploy/ with only the endpoints changed on the
#   command line, as a real multi-machine deployment would.  Then: three
#   financing requests and one acceptance from the client host, the report
#   from the recorder's log, the dashboard's state over HTTP from the client
#   host, and everything is torn down (processes, namespaces) by an EXIT
#   trap, whatever happens.  Needs root and iproute2 (ip netns, veth,
#   bridge).  Exit 0 pass, 1 fail, 77 skipped (not root / no netns).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
bin=$(realpath -m "${1:-$root/build/bin}")
N=fm$$                                  #   namespace prefix, unique per run
NET=10.77.0
ENTERPRISE=91500105MA0177ARXD           #   in deploy/data, tax grade A
READY_S=20

if [ "$(id -u)" -ne 0 ]; then
    echo "SKIP: deploy/netns.sh needs root (network namespaces)"; exit 77
fi
if ! command -v ip >/dev/null || ! ip netns add "$N-probe" 2>/dev/null; then
    echo "SKIP: 'ip netns' is not available here (iproute2, CAP_SYS_ADMIN)"; exit 77
fi
#   Namespaces of earlier runs killed before their EXIT trap
# shellcheck source=deploy/netns_sweep.sh
. "$here/netns_sweep.sh"
netns_sweep fm
ip netns del "$N-probe"
for b in finmatch finmatch-broker finmatch-gov finmatch-bank finmatch-recorder finmatch-dashboard; do
    [ -x "$bin/$b" ] || { echo "netns: $bin/$b missing (build first)"; exit 1; }
done

run=$(mktemp -d "${TMPDIR:-/tmp}/fm-netns-XXXXXX")
hosts=(broker gov bank1 bank2 ops client)
pids=()
names=()

teardown () {
    local rc=$? i
    trap - EXIT INT TERM
    for (( i = ${#pids[@]} - 1; i >= 0; i-- )); do
        kill -TERM "${pids[i]}" 2>/dev/null || true
    done
    for i in "${!pids[@]}"; do
        for _ in $(seq 50); do kill -0 "${pids[i]}" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "${pids[i]}" 2>/dev/null; then
            echo "netns: ${names[i]} did not stop: SIGKILL"
            kill -KILL "${pids[i]}" 2>/dev/null || true
        fi
        wait "${pids[i]}" 2>/dev/null || true
    done
    for h in "${hosts[@]}" lan; do
        ip netns del "$N-$h" 2>/dev/null || true
    done
    if ip netns list | grep -q "^$N-"; then
        echo "netns: namespaces left behind: $(ip netns list | grep "^$N-")"; rc=1
    fi
    if [ "$rc" -ne 0 ]; then
        for f in "$run"/*.log; do echo "---- $f"; tail -n 15 "$f"; done
        echo "---- events in the log (seq type service peer status)"
        sqlite3 "$run/finmatch-events.db" \
            "SELECT seq, type, service, peer, status FROM events ORDER BY epoch, seq" 2>&1 | tail -n 20
    fi
    if [ "${FM_NETNS_KEEP:-0}" = 1 ]; then echo "netns: kept $run"; else rm -rf "$run"; fi
    echo "netns: torn down ($N-*)"
    exit "$rc"
}
trap teardown EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

on () { local h=$1; shift; ip netns exec "$N-$h" "$@"; }
start () {      #   start HOST NAME COMMAND...: in HOST's namespace, logged
    local h=$1 name=$2
    shift 2
    ip netns exec "$N-$h" "$@" >"$run/$name.log" 2>&1 &
    pids+=($!)
    names+=("$name@$h")
}

echo "==== 网络 / Network: bridge $N-lan, $NET.0/24"
ip netns add "$N-lan"
on lan ip link add br0 type bridge
on lan ip link set br0 up
i=1
for h in "${hosts[@]}"; do
    ip netns add "$N-$h"
    ip link add "v$i" netns "$N-lan" type veth peer name eth0 netns "$N-$h"
    on lan ip link set "v$i" master br0 up
    on "$h" ip addr add "$NET.$i/24" dev eth0
    on "$h" ip link set eth0 up
    on "$h" ip link set lo up
    printf '  %-8s %-12s %s\n' "$h" "$NET.$i" "$N-$h"
    i=$(( i + 1 ))
done

echo "==== 证书 / CURVE certificates (finmatch keygen)"
keys=$run/keys
mkdir -p "$keys/allowed"
fm_keygen () { "$bin/finmatch" keygen "$@" >/dev/null; }
fm_keygen --role broker --out "$keys/broker"
fm_keygen --role gov --out "$keys/gov"
fm_keygen --role bank --bank CQRCB --out "$keys/cqrcb"
fm_keygen --role bank --bank BCQ --out "$keys/bcq"
fm_keygen --role bank --bank CCBJB --out "$keys/ccbjb"
fm_keygen --role monitor --out "$keys/recorder"
fm_keygen --role monitor --out "$keys/dashboard"
fm_keygen --role enterprise --enterprise "$ENTERPRISE" --out "$keys/enterprise"
for k in gov cqrcb bcq ccbjb recorder dashboard enterprise; do
    cp "$keys/$k" "$keys/allowed/$k"
done
ls "$keys/allowed" | tr '\n' ' '; echo

BROKER=tcp://$NET.1:7555
EVENTS=tcp://$NET.1:7556
client_keys () { echo --cert "$keys/$1" --broker-key "$keys/broker"; }

echo "==== 启动 / Starting, one host each"
start broker broker "$bin/finmatch-broker" -c "$here/finmatch-broker.cfg" \
    --endpoint "tcp://$NET.1:7555" --events "tcp://$NET.1:7556" \
    --journal "$run/broker.journal" \
    --cert "$keys/broker" --certs "$keys/allowed"
for _ in $(seq 50); do
    on broker ss -Htln | grep -q ":7556" && break; sleep 0.1
done
start ops recorder "$bin/finmatch-recorder" -c "$here/finmatch-recorder.cfg" \
    --events "$EVENTS" --db "$run/finmatch-events.db" $(client_keys recorder)
start ops dashboard "$bin/finmatch-dashboard" -c "$here/finmatch-dashboard.cfg" \
    --events "$EVENTS" --http "$NET.5:8080" $(client_keys dashboard)
#   Subscribers first, so that the log sees every worker register
for _ in $(seq 100); do
    n=$(on broker ss -Htn state established '( sport = :7556 )' | wc -l)
    [ "$n" -ge 2 ] && break; sleep 0.1
done
[ "$n" -ge 2 ] || { echo "netns: recorder and dashboard did not connect"; exit 1; }
start gov gov "$bin/finmatch-gov" -c "$here/gov.cfg" --endpoint "$BROKER" $(client_keys gov)
start bank1 bank-cqrcb "$bin/finmatch-bank" -c "$here/banks/cqrcb.cfg" --endpoint "$BROKER" $(client_keys cqrcb)
start bank1 bank-bcq "$bin/finmatch-bank" -c "$here/banks/bcq.cfg" --endpoint "$BROKER" $(client_keys bcq)
start bank2 bank-ccbjb "$bin/finmatch-bank" -c "$here/banks/ccbjb.cfg" --endpoint "$BROKER" $(client_keys ccbjb)

#   Ready when the log holds worker.ready for every service (the broker's
#   own events, recorded on another host)
db=$run/finmatch-events.db
ready=0
for _ in $(seq $(( READY_S * 10 ))); do
    ready=$(sqlite3 "$db" "SELECT count(DISTINCT service) FROM events WHERE type = 'worker.ready'" 2>/dev/null || echo 0)
    [ "${ready:-0}" -ge 4 ] && break
    sleep 0.1
done
[ "${ready:-0}" -ge 4 ] || { echo "netns: only $ready of 4 services registered in ${READY_S}s"; exit 1; }
#   and the broker, asked from the client host (8/MMI), has them live: the
#   log shows what registered, the broker what is still there
on client "$bin/fm-wait-ready" --broker "$BROKER" $(client_keys enterprise) --quiet \
    --timeout $(( READY_S * 1000 )) gov.credit bank.CQRCB bank.BCQ bank.CCBJB \
    || { echo "netns: the broker does not report all 4 services live"; exit 1; }
echo "  4 services registered (gov.credit, bank.CQRCB, bank.BCQ, bank.CCBJB)"

fm () { on client "$bin/finmatch" --broker "$BROKER" --events "$EVENTS" $(client_keys enterprise) "$@"; }

echo "==== 融资需求 / Requests from the client host ($NET.6)"
fm request --enterprise "$ENTERPRISE" --amount 100万 --term 12 --consent all \
   --purpose 采购原材料 --key "netns-$$-1"
fm request --enterprise "$ENTERPRISE" --amount 500万 --term 36 --consent all \
   --collateral property --purpose 厂房扩建 --key "netns-$$-2" || true
fm request --enterprise "$ENTERPRISE" --amount 80万 --term 6 --consent none \
   --purpose 临时周转 --key "netns-$$-3" || true
json=$(fm --json request --enterprise "$ENTERPRISE" --amount 100万 --term 12 --consent all \
          --purpose 采购原材料 --key "netns-$$-1")
request_id=$(printf '%s' "$json" | grep -o '"request_id": *"[^"]*"' | head -n 1 | sed 's/.*"\([^"]*\)"$/\1/')
offer_id=$(printf '%s' "$json" | grep -o '"offer_id": *"[^"]*"' | head -n 1 | sed 's/.*"\([^"]*\)"$/\1/')
[ -n "$request_id" ] && [ -n "$offer_id" ] || { echo "netns: no offer to accept: $json"; exit 1; }

echo "==== 接受报价 / Accepting $offer_id of $request_id"
fm accept "$request_id" "$offer_id" --enterprise "$ENTERPRISE"

echo "==== 报告 / Report from the recorder's log on $NET.5"
loans=0
for _ in $(seq 50); do
    loans=$(sqlite3 "$db" "SELECT count(*) FROM events WHERE type = 'loan.granted'" 2>/dev/null || echo 0)
    [ "$loans" -ge 1 ] && break; sleep 0.1
done
[ "$loans" -ge 1 ] || { echo "netns: the log on the ops host has no loan.granted"; exit 1; }
on ops "$bin/finmatch" --insecure report --db "$db" 2>/dev/null

echo "==== 监测页面 / Dashboard http://$NET.5:8080/ fetched from the client host"
state=$(on client timeout 5 bash -c "exec 3<>/dev/tcp/$NET.5/8080
    printf 'GET /api/state HTTP/1.0\r\nHost: $NET.5\r\n\r\n' >&3; cat <&3")
case "$state" in
    *"$request_id"*) echo "  /api/state lists request $request_id; $(printf '%s' "$state" | grep -o '"loans":[0-9]*' | head -n 1)";;
    *) echo "netns: the dashboard does not show $request_id"; exit 1;;
esac
echo "==== 完成 / Done: 6 hosts, 4 services, CURVE on every link"
