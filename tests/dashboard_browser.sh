#!/usr/bin/env bash
#   dashboard_browser.sh - finmatch-dashboard in a real headless Chromium
#
#   Usage: dashboard_browser.sh BIN_DIR SOURCE_DIR OUT_DIR
#   Starts a broker (free loopback ports), the dashboard (HTTP port 0),
#   gov and one bank (--insecure: this test is about the page; CURVE is
#   covered by the broker's tests and deploy/netns.sh), then runs
#   tests/dashboard/browser_test.js with playwright-core driving Debian's
#   /usr/bin/chromium: page loads, a request submitted during the test is
#   on the page within 1 s, OUT_DIR/dashboard.png and report.png written.
#   Before that, without the browser, a second dashboard with --lang en
#   serves the English page and report (labels checked with curl).  The
#   Chinese one names banks and towns (--banks deploy/banks, --towns
#   deploy/data/towns.csv: the page shows 重庆农村商业银行(CQRCB)); the
#   English one is given none and must show the codes.
#   playwright-core comes from npm into a cache directory
#   ($FM_NODE_CACHE, default ~/.cache/finmatch-node) once.
#   Exit 0 pass, 1 fail, 77 skipped (no chromium or node: install them
#   with FM_BOOTSTRAP_TESTS=1 deploy/bootstrap.sh, as tests/run.sh does).
set -u
BIN=$1
SRC=$2
OUT=$3
CHROMIUM=${FM_CHROMIUM:-/usr/bin/chromium}
CACHE=${FM_NODE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/finmatch-node}

if [ ! -x "$CHROMIUM" ] || ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    echo "SKIP: needs $CHROMIUM, node and npm (FM_BOOTSTRAP_TESTS=1 deploy/bootstrap.sh installs them)"
    exit 77
fi
if [ ! -d "$CACHE/node_modules/playwright-core" ]; then
    mkdir -p "$CACHE"
    #   A lock: the ASan and werror runs may share the cache
    ( flock 9
      [ -d "$CACHE/node_modules/playwright-core" ] ||
          npm install --prefix "$CACHE" --no-audit --no-fund --silent playwright-core@1
    ) 9>"$CACHE/.lock" || { echo "FAIL: npm install playwright-core"; exit 1; }
fi

mkdir -p "$OUT"
TMP=$(mktemp -d "${TMPDIR:-/tmp}/fm-dash-XXXXXX")
PIDS=()
cleanup () {
    local pid
    for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
    for pid in "${PIDS[@]}"; do
        for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null
        wait "$pid" 2>/dev/null
    done
    rm -rf "$TMP"
}
trap cleanup EXIT

listening () { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

#   A free pair of ports: try random ones until the broker binds both
BROKER=
for _ in $(seq 20); do
    port=$(( 20000 + RANDOM % 40000 ))
    listening $port || listening $((port + 1)) && continue
    "$BIN/finmatch-broker" --insecure --journal "$TMP/broker.journal" \
        --endpoint "tcp://127.0.0.1:$port" \
        --events "tcp://127.0.0.1:$((port + 1))" >"$TMP/broker.log" 2>&1 &
    pid=$!
    for _ in $(seq 50); do
        kill -0 $pid 2>/dev/null || break
        listening $port && listening $((port + 1)) && { BROKER=$port; break; }
        sleep 0.1
    done
    if [ -n "$BROKER" ]; then PIDS+=($pid); break; fi
    kill $pid 2>/dev/null; wait $pid 2>/dev/null
done
[ -n "$BROKER" ] || { echo "FAIL: no broker could bind"; cat "$TMP/broker.log"; exit 1; }
EP=tcp://127.0.0.1:$BROKER
EVENTS=tcp://127.0.0.1:$((BROKER + 1))

#   start_dashboard NAME ARGS...: a dashboard on a free port; its URL in
#   $URL (the browser test reads the Chinese page: --lang zh whatever the
#   caller's LANG)
start_dashboard () {
    local name=$1
    shift
    "$BIN/finmatch-dashboard" --insecure --events "$EVENTS" --http 127.0.0.1:0 "$@" \
        >"$TMP/$name.out" 2>"$TMP/$name.log" &
    PIDS+=($!)
    URL=
    for _ in $(seq 100); do
        URL=$(head -n 1 "$TMP/$name.out" 2>/dev/null)
        [ -n "$URL" ] && break
        sleep 0.05
    done
    [ -n "$URL" ] || { echo "FAIL: the dashboard printed no URL"; cat "$TMP/$name.log"; exit 1; }
}

#   http_get URL: the body of a GET (HTTP/1.0 over bash's /dev/tcp: no
#   extra package needed); exit status 1 unless 200
http_get () {
    local rest=${1#http://} hostport path
    hostport=${rest%%/*}
    path=/${rest#*/}
    exec 3<>"/dev/tcp/${hostport%:*}/${hostport#*:}" || return 1
    printf 'GET %s HTTP/1.0\r\nHost: %s\r\n\r\n' "$path" "$hostport" >&3
    local response
    response=$(timeout 10 cat <&3)
    exec 3<&-
    case "$response" in "HTTP/1."?" 200"*) ;; *) return 1 ;; esac
    printf '%s\n' "${response#*$'\r\n\r\n'}"
}

#   The page in English (--lang en): labels from the catalogue's msgids;
#   no names (an empty configs dir, a territory table without rows)
mkdir -p "$TMP/no-banks"
echo "town_code,name" >"$TMP/no-towns.csv"
start_dashboard dash-en --lang en --banks "$TMP/no-banks" --towns "$TMP/no-towns.csv"
URL_EN=$URL
http_get "$URL" >"$TMP/page-en.html" || { echo "FAIL: GET $URL (--lang en)"; exit 1; }
for label in '<html lang="en">' '<span>Credit granted</span>' '<th>Bank</th>'; do
    grep -qF "$label" "$TMP/page-en.html" || { echo "FAIL: English page lacks $label"; exit 1; }
done
if grep -q '{{' "$TMP/page-en.html"; then echo "FAIL: untranslated marker"; exit 1; fi
http_get "${URL}report.html" | grep -qF '<th>Avg reduction</th>' \
    || { echo "FAIL: English report.html"; exit 1; }
echo "English page: OK"

start_dashboard dash --lang zh --banks "$SRC/deploy/banks" --towns "$SRC/deploy/data/towns.csv"
grep -qF '<span>授信金额</span>' <(http_get "$URL") \
    || { echo "FAIL: Chinese page lacks 授信金额"; exit 1; }
echo "dashboard: $URL (events $EVENTS)"

"$BIN/finmatch-gov" --insecure -c "$SRC/deploy/gov.cfg" --endpoint "$EP" >"$TMP/gov.log" 2>&1 &
PIDS+=($!)
"$BIN/finmatch-bank" --insecure -c "$SRC/deploy/banks/cqrcb.cfg" --endpoint "$EP" >"$TMP/bank.log" 2>&1 &
PIDS+=($!)
"$BIN/fm-wait-ready" --insecure --quiet --broker "$EP" --timeout 20000 gov.credit bank.CQRCB \
    || { echo "FAIL: services did not register"; tail "$TMP"/*.log; exit 1; }

#   A registered enterprise with tax grade A (CQRCB offers it a loan)
ENTERPRISE=$(awk -F, 'NR > 1 && $5 == "A" { print $1; exit }' "$SRC/deploy/data/enterprises.csv")
#   finmatch wants a certificate unless told --insecure (a global option)
FM="$TMP/finmatch"
printf '#!/bin/sh\nexec "%s" --insecure "$@"\n' "$BIN/finmatch" >"$FM"
chmod +x "$FM"

NODE_PATH="$CACHE/node_modules" timeout 90 node "$SRC/tests/dashboard/browser_test.js" \
    "$URL" "$FM" "$EP" "$ENTERPRISE" "$OUT"
rc=$?
if [ $rc -ne 0 ]; then
    echo "---- dashboard log"; tail -n 20 "$TMP/dash.log"
    exit 1
fi
rm -rf "$OUT"/chromium-profile-*

#   The same events, in JSON: named by the Chinese dashboard, by code only
#   by the English one
http_get "${URL}api/state" >"$TMP/state-zh.json" || { echo "FAIL: GET ${URL}api/state"; exit 1; }
grep -qF '"bank_name":"重庆农村商业银行"' "$TMP/state-zh.json" \
    || { echo "FAIL: /api/state lacks bank_name 重庆农村商业银行"; exit 1; }
grep -qF '"town_name":"观音桥街道"' "$TMP/state-zh.json" \
    || { echo "FAIL: /api/state lacks town_name 观音桥街道"; exit 1; }
http_get "${URL_EN}api/state" >"$TMP/state-en.json" || { echo "FAIL: GET ${URL_EN}api/state"; exit 1; }
grep -qF '"bank":"CQRCB"' "$TMP/state-en.json" && grep -qF '"bank_name":""' "$TMP/state-en.json" \
    && ! grep -qF '重庆农村商业银行' "$TMP/state-en.json" \
    || { echo "FAIL: the dashboard without names does not show bank codes"; exit 1; }
echo "names: 重庆农村商业银行, 观音桥街道 with --banks/--towns; CQRCB without"
echo "PASS"
