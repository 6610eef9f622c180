#!/bin/sh
#   security.sh BIN_DIR SOURCE_DIR - start-up security of the binaries:
#   finmatch keygen writes a certificate pair (secret mode 0600, never
#   overwritten); every binary refuses to start without a certificate
#   (unless --insecure) and refuses a secret key readable by others.
#   The handshake and per-message checks run in fm_selftest --test fm_auth.
BIN=$1
SRC=$2
TMP=$(mktemp -d "${TMPDIR:-/tmp}/fm-security-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
FAILED=0
fail () { echo "FAIL: $*"; echo "---- stderr:"; cat "$TMP/err"; FAILED=1; }
run () { timeout 10 "$@" >"$TMP/out" 2>"$TMP/err" </dev/null; RC=$?; }

#   keygen: a pair, secret 0600, metadata with role and identity
run "$BIN/finmatch" keygen --role bank --bank CQRCB --out "$TMP/cqrcb"
[ $RC -eq 0 ] || fail "keygen exited $RC"
[ -f "$TMP/cqrcb" ] && [ -f "$TMP/cqrcb_secret" ] || fail "keygen wrote no pair"
[ "$(stat -c %a "$TMP/cqrcb_secret")" = 600 ] || fail "secret mode is not 600"
grep -q 'role = "bank"' "$TMP/cqrcb" || fail "public file has no role"
grep -q 'bank = "CQRCB"' "$TMP/cqrcb" || fail "public file has no bank code"
grep -q secret-key "$TMP/cqrcb" && fail "public file holds the secret key"
grep -qF "$(sed -n 's/.*secret-key = "\(.*\)"/\1/p' "$TMP/cqrcb_secret")" "$TMP/out" \
    && fail "keygen printed the secret key"
run "$BIN/finmatch" keygen --role bank --bank CQRCB --out "$TMP/cqrcb"
[ $RC -eq 2 ] || fail "keygen overwrote an existing key (exit $RC)"
run "$BIN/finmatch" keygen --role bank --out "$TMP/nobank"
[ $RC -eq 2 ] || fail "keygen accepted a bank key without --bank (exit $RC)"
run "$BIN/finmatch" keygen --role wizard --out "$TMP/wizard"
[ $RC -eq 2 ] || fail "keygen accepted role wizard (exit $RC)"
run "$BIN/finmatch" keygen --role broker --out "$TMP/broker"
[ $RC -eq 0 ] || fail "keygen broker exited $RC"

#   No certificate and no --insecure: refused, with the way out named
run "$BIN/finmatch-broker" --endpoint tcp://127.0.0.1:0 --events tcp://127.0.0.1:0
[ $RC -eq 2 ] && grep -q -- "--cert" "$TMP/err" || fail "broker without a key: exit $RC"
run "$BIN/finmatch-broker" --cert "$TMP/broker"
[ $RC -eq 2 ] && grep -q -- "--certs" "$TMP/err" || fail "broker without --certs: exit $RC"
run "$BIN/finmatch-bank" -c "$SRC/tests/data/system/bank_cqrcb.cfg"
[ $RC -eq 2 ] && grep -q -- "--cert" "$TMP/err" || fail "bank without a key: exit $RC"
ENT=915000000000000005            #   a valid credit code
run "$BIN/finmatch" request --enterprise $ENT --amount 100万 --term 12
[ $RC -eq 2 ] && grep -q -- "--cert" "$TMP/err" || fail "client without a key: exit $RC"
run "$BIN/fm-wait-ready" --timeout 100 gov.credit
[ $RC -eq 2 ] && grep -q -- "--cert" "$TMP/err" || fail "fm-wait-ready without a key: exit $RC"

#   Keys are loaded at connect time: usage errors stay usage errors, and
#   commands that read local files need no key
run "$BIN/finmatch" --lang en request --no-such-flag
[ $RC -eq 2 ] && grep -q -- "--no-such-flag" "$TMP/err" && ! grep -q "certificate" "$TMP/err" \
    || fail "request --no-such-flag: exit $RC, not reported as the unknown flag"
run "$BIN/finmatch" --lang en report --db "$TMP/none.db"
[ $RC -eq 2 ] && grep -q "none.db" "$TMP/err" && ! grep -q "certificate" "$TMP/err" \
    || fail "report --db asked for a key (exit $RC)"
run "$BIN/finmatch" --lang en status 0123456789abcdef --db "$TMP/none.db"
[ $RC -eq 2 ] && grep -q "none.db" "$TMP/err" && ! grep -q "certificate" "$TMP/err" \
    || fail "status --db asked for a key (exit $RC)"
#   --cert-dir: the enterprise's own key, DIR/<code>.cert, must exist
mkdir "$TMP/ents"
run "$BIN/finmatch" --lang en --cert-dir "$TMP/ents" --broker-key "$TMP/broker" \
    request --enterprise $ENT --amount 100万 --term 12
[ $RC -eq 2 ] && grep -q "no key for enterprise $ENT" "$TMP/err" \
    || fail "request --cert-dir without the enterprise's key: exit $RC"
run "$BIN/finmatch" keygen --role enterprise --enterprise $ENT --out "$TMP/ents/$ENT.cert"
[ $RC -eq 0 ] || fail "keygen enterprise exited $RC"
#   With the key, it gets as far as the broker (none here: exit 3)
run "$BIN/finmatch" --lang en --timeout 200 --broker-key "$TMP/broker" \
    accept 0123456789abcdef A/B --enterprise $ENT --cert-dir "$TMP/ents"
[ $RC -eq 3 ] || fail "accept --cert-dir with the key: exit $RC, want 3 (no broker)"
run "$BIN/finmatch-recorder" --db "$TMP/events.db"
[ $RC -eq 2 ] && grep -q -- "--cert" "$TMP/err" || fail "recorder without a key: exit $RC"

#   A secret readable by others: refused before it is read
chmod 644 "$TMP/cqrcb_secret"
run "$BIN/finmatch-bank" -c "$SRC/tests/data/system/bank_cqrcb.cfg" \
    --cert "$TMP/cqrcb" --broker-key "$TMP/broker"
[ $RC -eq 2 ] && grep -q "chmod 600" "$TMP/err" || fail "bank with a 0644 secret: exit $RC"
chmod 644 "$TMP/broker_secret"
mkdir "$TMP/certs"
run "$BIN/finmatch-broker" --cert "$TMP/broker" --certs "$TMP/certs"
[ $RC -eq 2 ] && grep -q "chmod 600" "$TMP/err" || fail "broker with a 0644 secret: exit $RC"

#   --insecure says so, loudly
chmod 600 "$TMP/cqrcb_secret"
run "$BIN/finmatch" --insecure --timeout 1 accept 0123456789abcdef A/B --enterprise $ENT
grep -q "NO ENCRYPTION" "$TMP/err" || fail "--insecure gave no warning"

[ $FAILED -eq 0 ] && echo "OK: keygen, refusals without a key and with a readable key, keys at connect time, --cert-dir, --insecure warning"
exit $FAILED
