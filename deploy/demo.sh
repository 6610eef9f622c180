#!/usr/bin/env bash
#   demo.sh - run the whole finmatch system on the default dataset
#
#   Usage: bash deploy/demo.sh            (from anywhere; root on a fresh
#                                         Debian 12 installs what is missing)
#   Environment:
#     FM_BUILD_DIR   build directory (default: <repo>/build)
#     FM_RUN_DIR     logs and the SQLite event log (default: <build>/demo-run,
#                    emptied at start)
#     FM_NO_BUILD=1  skip deploy/bootstrap.sh (binaries already built)
#
#   What it does: builds (deploy/bootstrap.sh), makes a throwaway CURVE
#   key set in $FM_RUN_DIR/keys (finmatch keygen: broker, gov, one key per
#   bank, the recorder and an operator as monitors, one key per enterprise
#   of the request file), picks two free loopback ports, starts the broker, the event recorder, the government credit
#   service, every bank in deploy/banks/ (two processes for CQRCB), waits
#   until all have registered, submits deploy/scenarios/demo-requests.csv,
#   accepts the best loan offer of several requests, raises a risk warning
#   on one grid (finmatch warn, the gov key) and shows a bank declining
#   (112) and a bank flagging its offer for a request from that grid, lifts
#   it, prints the report from the SQLite log (banks and towns named from
#   deploy/banks and deploy/data/towns.csv), then stops every process it started.  It never leaves a
#   process behind: an EXIT trap stops them (SIGTERM, a bounded wait, then
#   SIGKILL) whether the demo succeeds, fails or is interrupted.
#   Everything runs SECURED: no process is started with --insecure.

set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
#   A relative FM_BUILD_DIR is taken from the repository root, as
#   bootstrap.sh does; a relative FM_RUN_DIR from the current directory
build=${FM_BUILD_DIR:-build}
[[ $build == /* ]] || build=$root/$build
bin=$build/bin
run=$(realpath -m "${FM_RUN_DIR:-$build/demo-run}")
db=$run/finmatch-events.db
requests=deploy/scenarios/demo-requests.csv     #   relative to $root
gov_cfg=$here/gov.cfg
bank_cfgs=("$here"/banks/*.cfg)
#   FM_SCENARIO=pilot|campaign: one of the seed's scenarios instead
#   (deploy/scenarios/NAME.csv, README "The seed's scenarios"): the pilot
#   with the two pilot banks only and its own policy (no district
#   subsidy), the campaign with every institution; both go in as one batch
#   (finmatch campaign --accept best) and end with the report
scenario=${FM_SCENARIO:-}
case $scenario in
    "") ;;
    pilot)
        requests=deploy/scenarios/pilot.csv
        gov_cfg=$here/scenarios/pilot-gov.cfg
        bank_cfgs=("$here/banks/cqrcb.cfg" "$here/banks/bcq.cfg") ;;
    campaign)
        requests=deploy/scenarios/campaign.csv ;;
    *)
        echo "demo: FM_SCENARIO=$scenario: pilot or campaign" >&2
        exit 2 ;;
esac

STOP_WAIT_S=10          #   SIGTERM grace before SIGKILL (recorder commits)
READY_TIMEOUT_MS=20000  #   all services registered
FLUSH_TIMEOUT_S=15      #   recorder has written every event we expect
ACCEPTS=8               #   requests whose best loan offer is accepted

heading () {
    printf '\n==== %s ====\n' "$*"
}
die () {
    printf 'demo: %s\n' "$*" >&2
    exit 1
}

#   --------------------------------------------------------------------------
#   Processes we started: name and pid, in start order.  stop_all is the
#   EXIT trap, so it also runs after `set -e` failures and on INT/TERM
#   (whose traps exit, which fires EXIT).

names=()
pids=()

#   True if pid has exited.  A child that exited but was not reaped is a
#   zombie: kill -0 still succeeds on it, so look at its state too.
s_gone () {
    local pid=$1 state
    kill -0 "$pid" 2>/dev/null || return 0
    state=$(awk '{ print $3 }' "/proc/$pid/stat" 2>/dev/null) || return 0
    [ "$state" = Z ]
}

stop_all () {
    local rc=$? i deadline left
    trap - EXIT INT TERM
    [ ${#pids[@]} -gt 0 ] || exit "$rc"
    heading "停止进程 / Stopping processes"
    #   Workers first, then the broker, the recorder last so it records
    #   everything the others publish while going down
    for (( i = ${#pids[@]} - 1; i >= 0; i-- )); do
        kill -TERM "${pids[i]}" 2>/dev/null || true
    done
    deadline=$(( SECONDS + STOP_WAIT_S ))
    while :; do
        left=0
        for i in "${!pids[@]}"; do
            s_gone "${pids[i]}" || left=$(( left + 1 ))
        done
        [ $left -eq 0 ] && break
        [ $SECONDS -ge $deadline ] && break
        sleep 0.1
    done
    for i in "${!pids[@]}"; do
        if ! s_gone "${pids[i]}"; then
            printf '  %s (pid %s) did not stop in %ss: SIGKILL\n' \
                   "${names[i]}" "${pids[i]}" "$STOP_WAIT_S"
            kill -KILL "${pids[i]}" 2>/dev/null || true
            rc=1
        fi
    done
    for i in "${!pids[@]}"; do
        wait "${pids[i]}" 2>/dev/null || true
    done
    left=0
    for i in "${!pids[@]}"; do
        if kill -0 "${pids[i]}" 2>/dev/null; then
            printf '  still running: %s (pid %s)\n' "${names[i]}" "${pids[i]}"
            left=$(( left + 1 ))
        fi
    done
    if [ $left -eq 0 ]; then
        printf '  all %d processes stopped; none remain\n' ${#pids[@]}
    else
        rc=1
    fi
    printf '\n事件日志 / Event log (SQLite): %s\n' "$db"
    printf '进程日志 / Process logs:       %s/*.log\n' "$run"
    exit "$rc"
}
trap stop_all EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

#   Start a binary in the background with its output in $run/<name>.log.
#   Background jobs of a non-interactive shell ignore SIGINT, so Ctrl-C
#   reaches only this script, whose trap stops them in order.
start () {
    local name=$1
    shift
    "$@" >"$run/$name.log" 2>&1 &
    names+=("$name")
    pids+=($!)
}

#   Fail with the log tail if a started process has died
check_alive () {
    local i
    for i in "${!pids[@]}"; do
        if s_gone "${pids[i]}"; then
            printf 'demo: %s exited early; last lines of %s.log:\n' \
                   "${names[i]}" "${names[i]}" >&2
            tail -n 20 "$run/${names[i]}.log" >&2 || true
            exit 1
        fi
    done
}

#   True if something accepts TCP connections on 127.0.0.1:port
s_listening () {
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

#   True if a TCP connection to 127.0.0.1:port is established (kernel
#   table: remote address in hex, state 01 = ESTABLISHED)
s_connected () {
    local hex
    hex=$(printf '%04X' "$1")
    awk -v rem="0100007F:$hex" '$3 == rem && $4 == "01" { found = 1 }
                                END { exit !found }' /proc/net/tcp
}

#   --------------------------------------------------------------------------
heading "构建 / Build"
if [ "${FM_NO_BUILD:-0}" != 1 ]; then
    #   bootstrap.sh [BUILD_DIR]: installs missing Debian packages (as root)
    #   and builds incrementally
    bash "$here/bootstrap.sh" "$build"
fi
if ! command -v jq >/dev/null; then
    #   The demo reads the CLI's --json output with jq, which a fresh
    #   Debian does not have
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
        echo "installing jq (reads the CLI's JSON output)"
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends jq >/dev/null \
            || { apt-get update -q >/dev/null && \
                 DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends jq >/dev/null; } \
            || die "cannot install jq"
    else
        die "jq is needed: apt-get install jq (as root)"
    fi
fi
for b in finmatch finmatch-broker finmatch-gov finmatch-bank finmatch-recorder fm-wait-ready; do
    [ -x "$bin/$b" ] || die "$bin/$b is missing: build first (bash deploy/bootstrap.sh build)"
done
echo "binaries: $bin"

rm -rf "$run"
mkdir -p "$run"

#   --------------------------------------------------------------------------
heading "密钥 / Throwaway CURVE keys"
#   keys/certs: the PUBLIC certificate of every peer, the broker's --certs
#   directory (it reads roles and identities from their metadata).  The
#   secrets stay outside it: keys/private (mode 0600 files) for the
#   daemons, keys/enterprises/<code>.cert(_secret) for the client's
#   --cert-dir.  proto/SPEC.md section 15 says who may do what.
keys=$run/keys
mkdir -p "$keys/certs" "$keys/private" "$keys/enterprises"
chmod 700 "$keys"
#   keygen NAME DIR ARGS...: DIR/NAME (+ _secret), public copy in certs/
keygen () {
    local name=$1 dir=$2
    shift 2
    "$bin/finmatch" keygen "$@" --out "$dir/$name" >/dev/null \
        || die "finmatch keygen $* failed"
    cp "$dir/$name" "$keys/certs/$name"
}
"$bin/finmatch" keygen --role broker --name finmatch-broker --out "$keys/broker" >/dev/null \
    || die "finmatch keygen --role broker failed"
keygen gov "$keys/private" --role gov --name 江北区政府
keygen recorder "$keys/private" --role monitor --name finmatch-recorder
keygen operator "$keys/private" --role monitor --name demo-operator
n_bank=0
for cfg in "${bank_cfgs[@]}"; do
    code=$(awk '/^bank/ { b = 1; next } /^[^ \t#]/ { b = 0 }
                b && $1 == "code" { print $3; exit }' "$cfg")
    [ -n "$code" ] || die "$cfg: no bank/code"
    keygen "bank-$code" "$keys/private" --role bank --bank "$code"
    n_bank=$(( n_bank + 1 ))
done
#   One key per enterprise of the request file: an enterprise key may
#   submit and accept only for its own enterprise
enterprises=$(awk -F, '/^(#|$)/ { next }
                       !col { for (i = 1; i <= NF; i++) if ($i == "enterprise") col = i; next }
                       { print $col }' "$root/$requests" | sort -u)
n_ent=0
for code in $enterprises; do
    keygen "$code.cert" "$keys/enterprises" --role enterprise --enterprise "$code"
    n_ent=$(( n_ent + 1 ))
done
echo "  broker, gov, recorder + operator (monitor), $n_bank banks, $n_ent enterprises"
echo "  public certificates (broker --certs): $keys/certs ($(ls "$keys/certs" | wc -l) files)"
#   What every secured client or worker gives: its own secret, the broker's
#   public certificate.  key_args NAME sets the array KA.
key_args () {
    KA=(--cert "$keys/private/$1_secret" --broker-key "$keys/broker")
}

#   --------------------------------------------------------------------------
heading "启动服务 / Starting services"
#   Two ports side by side, router and events.  Try pairs from 7555 up:
#   skip a pair when something listens there, and if the broker still
#   fails to bind (a race, or a port held without listening) try the next.
port=
for (( try = 7555; try < 7655; try += 2 )); do
    if s_listening $try || s_listening $(( try + 1 )); then
        continue
    fi
    start broker "$bin/finmatch-broker" --cert "$keys/broker" --certs "$keys/certs" \
        --journal "$run/broker.journal" \
        --endpoint "tcp://127.0.0.1:$try" --events "tcp://127.0.0.1:$(( try + 1 ))"
    for (( n = 0; n < 50; n++ )); do
        s_gone "${pids[-1]}" && break
        s_listening $try && s_listening $(( try + 1 )) && { port=$try; break; }
        sleep 0.1
    done
    [ -n "$port" ] && break
    #   This broker did not come up: stop and forget it, then try the next pair
    kill -TERM "${pids[-1]}" 2>/dev/null || true
    wait "${pids[-1]}" 2>/dev/null || true
    mv "$run/broker.log" "$run/broker-$try.log"
    unset 'names[-1]' 'pids[-1]'
done
[ -n "$port" ] || die "no free pair of loopback ports in 7555..7654 (see $run/broker-*.log)"
broker_ep=tcp://127.0.0.1:$port
events_ep=tcp://127.0.0.1:$(( port + 1 ))
printf '  %-22s %s (router)  %s (events)\n' "finmatch-broker" "$broker_ep" "$events_ep"

key_args recorder
start recorder "$bin/finmatch-recorder" "${KA[@]}" --events "$events_ep" --broker "$broker_ep" --db "$db"
printf '  %-22s %s\n' "finmatch-recorder" "$db"
#   A subscriber misses what is published before it has connected (the
#   recorder would log a gap): let it connect before any worker registers.
#   Its subscription follows the TCP handshake within a millisecond, long
#   before the next process has even started.
for (( n = 0; n < 100; n++ )); do
    s_connected $(( port + 1 )) && break
    check_alive
    sleep 0.05
done
s_connected $(( port + 1 )) || die "the recorder did not connect to $events_ep (see $run/recorder.log)"
key_args gov
start gov "$bin/finmatch-gov" "${KA[@]}" -c "$gov_cfg" --endpoint "$broker_ep"
printf '  %-22s %s\n' "finmatch-gov" "gov.credit <- deploy/gov.cfg"

services=(gov.credit)
for cfg in "${bank_cfgs[@]}"; do
    name=$(basename "$cfg" .cfg)
    code=$(awk '/^bank/ { b = 1; next } /^[^ \t#]/ { b = 0 }
                b && $1 == "code" { print $3; exit }' "$cfg")
    [ -n "$code" ] || die "$cfg: no bank/code"
    services+=("bank.$code")
    key_args "bank-$code"
    start "bank-$name" "$bin/finmatch-bank" "${KA[@]}" -c "$cfg" --endpoint "$broker_ep"
    printf '  %-22s %s\n' "finmatch-bank" "bank.$code <- deploy/banks/$name.cfg"
    if [ "$code" = CQRCB ]; then
        #   A second process for the same bank: the broker spreads its
        #   requests over both workers
        start "bank-$name-2" "$bin/finmatch-bank" "${KA[@]}" -c "$cfg" --endpoint "$broker_ep"
        printf '  %-22s %s\n' "finmatch-bank" "bank.$code <- deploy/banks/$name.cfg (second worker)"
    fi
done

key_args operator
if ! "$bin/fm-wait-ready" "${KA[@]}" --quiet --broker "$broker_ep" --timeout $READY_TIMEOUT_MS "${services[@]}"; then
    check_alive
    die "services did not register within ${READY_TIMEOUT_MS} ms (logs in $run)"
fi
check_alive
echo "  all ${#services[@]} services registered: ${services[*]}"

#   The client acts for each enterprise with that enterprise's own key:
#   request --file opens one connection per enterprise of the file, accept
#   uses the accepting enterprise's key (--cert-dir).  report reads the
#   SQLite file only and needs no key.
fm () {
    "$bin/finmatch" --broker "$broker_ep" --events "$events_ep" \
        --cert-dir "$keys/enterprises" --broker-key "$keys/broker" "$@"
}

#   --------------------------------------------------------------------------
cd "$root"
if [ -n "$scenario" ]; then
    heading "对接活动 / Scenario $scenario: $requests, best offers accepted"
    set +e
    fm --json campaign "$requests" --accept best >"$run/campaign.json"
    rc=$?
    set -e
    [ $rc -eq 0 ] || die "finmatch campaign failed (exit $rc; see $run/campaign.json)"
    jq . "$run/campaign.json"
    loans=$(jq -r .loans "$run/campaign.json")
    heading "等待记录 / Waiting for the recorder"
    deadline=$(( SECONDS + FLUSH_TIMEOUT_S ))
    while :; do
        granted=$(fm --json report --db "$db" 2>/dev/null | jq -r '.loans // 0' 2>/dev/null || echo 0)
        [ "${granted:-0}" -ge "$loans" ] && break
        [ $SECONDS -ge $deadline ] && die "the event log holds $granted granted loans after ${FLUSH_TIMEOUT_S}s, expected $loans"
        sleep 0.2
    done
    heading "报告 / Report (from the SQLite event log)"
    fm report --db "$db" --banks "$here/banks" --towns "$here/data/towns.csv"
    exit 0
fi
heading "融资需求 / Financing requests ($(grep -cv '^\(#\|$\)' "$requests" | awk '{ print $1 - 1 }') from $requests)"
#   Exit 1 only means some request was refused, which the scenario wants
set +e
fm request --file "$requests"
rc=$?
set -e
[ $rc -le 1 ] || die "finmatch request failed (exit $rc)"

#   The same file again with --json: same idempotency keys, so the broker
#   replays the stored results (no bank is asked twice) and we read the
#   request and offer ids from them
set +e
fm --json request --file "$requests" >"$run/results.jsonl"
rc=$?
set -e
[ $rc -le 1 ] || die "finmatch request --json failed (exit $rc)"

#   --------------------------------------------------------------------------
heading "接受报价 / Accepting the best loan offer of $ACCEPTS requests"
#   One line per request with a loan offer: request_id enterprise offer_id
jq -r 'select(.type == "result") |
       (first(.offers[] | select(.kind == "loan")) // empty) as $o |
       "\(.request_id) \(.enterprise_id) \($o.offer_id)"' \
    "$run/results.jsonl" | head -n $ACCEPTS >"$run/accepts.txt"
accepted=0
first_req= ; first_ent= ; first_offer=
while read -r req ent offer; do
    printf '\n-- %s  %s  %s\n' "$req" "$ent" "$offer"
    if fm accept "$req" "$offer" --enterprise "$ent"; then
        accepted=$(( accepted + 1 ))
        [ -n "$first_req" ] || { first_req=$req; first_ent=$ent; first_offer=$offer; }
    fi
done <"$run/accepts.txt"
[ $accepted -gt 0 ] || die "no offer could be accepted"

heading "规则演示 / Rules: accepting twice"
#   The same offer again is idempotent (the stored confirmation); another
#   offer of the same request is refused (409)
printf '\n-- same offer again (idempotent): %s %s\n' "$first_req" "$first_offer"
fm accept "$first_req" "$first_offer" --enterprise "$first_ent" || true
other=$(jq -r --arg r "$first_req" --arg o "$first_offer" \
        'select(.request_id == $r) | first(.offers[] | select(.offer_id != $o)) | .offer_id' \
        "$run/results.jsonl")
if [ -n "$other" ]; then
    printf '\n-- another offer of the same request (expect 409): %s\n' "$other"
    fm accept "$first_req" "$other" --enterprise "$first_ent" || true
fi

#   --------------------------------------------------------------------------
heading "风险预警 / Risk warning on a grid"
#   The district government (its own key: raised_by comes from the key)
#   raises a warning on the grid of request 07's enterprise.  A new request
#   from that enterprise carries it to every bank it reaches: 重庆银行's
#   银税互动贷 declines it (on_warning = decline, reason 112), 重庆农商行's
#   网格e贷 still offers, flagged with a risk_warning lever (on_warning =
#   flag).  Then the warning is lifted.
warn_ent=91500105MAL1UTTQ60
warn_grid=$(awk -F, -v e="$warn_ent" '$1 == e { print $4; exit }' deploy/data/enterprises.csv)
[ -n "$warn_grid" ] || die "enterprise $warn_ent not in deploy/data/enterprises.csv"
fm_gov () {
    "$bin/finmatch" --broker "$broker_ep" --cert "$keys/private/gov_secret" \
        --broker-key "$keys/broker" "$@"
}
fm_gov warn --grid "$warn_grid" --level 2 --reason 非法集资风险排查 --hours 1 \
    || die "finmatch warn failed"
printf '\n-- %s 网格内企业 %s 申请 80万元 12个月:\n' "$warn_grid" "$warn_ent"
set +e
fm --json request --enterprise "$warn_ent" --amount 80万 --term 12 \
    --purpose 节假日备货 --consent all --kinds loan --key demo-warn >"$run/warned.json"
rc=$?
set -e
[ $rc -le 1 ] || die "finmatch request (under the warning) failed (exit $rc)"
jq -r '(.declines[] | .bank as $b | .reasons[] | select(.code == 112)
           | "  婉拒 \($b) \(.product) 112: \(.text)"),
       (.offers[] | select(any(.levers[]; .code == "risk_warning"))
           | "  报价 \(.bank_name) \(.product_name) \(.effective_rate_bp / 100)%  标记: "
             + (first(.levers[] | select(.code == "risk_warning")) | .name))' \
    "$run/warned.json"
flagged=$(jq '[.offers[] | select(any(.levers[]; .code == "risk_warning"))] | length' "$run/warned.json")
declined=$(jq '[.declines[].reasons[] | select(.code == 112)] | length' "$run/warned.json")
[ "$flagged" -gt 0 ] || [ "$declined" -gt 0 ] || die "the warning reached no bank (see $run/warned.json)"
printf '  %s 个报价带风险标记, %s 个产品因预警婉拒 (112)\n' "$flagged" "$declined"
fm_gov warn --lift --grid "$warn_grid" || die "finmatch warn --lift failed"

#   --------------------------------------------------------------------------
heading "等待记录 / Waiting for the recorder"
#   Every accepted offer ends in a loan.granted event; wait until the log
#   holds as many granted loans as we accepted
granted=0
deadline=$(( SECONDS + FLUSH_TIMEOUT_S ))
while :; do
    granted=$(fm --json report --db "$db" 2>/dev/null | jq -r '.loans // 0' 2>/dev/null || echo 0)
    [ "${granted:-0}" -ge $accepted ] && break
    [ $SECONDS -ge $deadline ] && die "the event log holds $granted granted loans after ${FLUSH_TIMEOUT_S}s, expected $accepted"
    sleep 0.2
done
echo "  $granted loans recorded in $db"

heading "报告 / Report (from the SQLite event log)"
fm report --db "$db" --banks "$here/banks" --towns "$here/data/towns.csv"

heading "完成 / Done"
echo "  requests submitted, $accepted offers accepted, report printed"
