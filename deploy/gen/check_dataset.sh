#!/usr/bin/env bash
#   check_dataset.sh - the checked-in demo dataset is what the generator
#   makes, and every credit code in it is valid
#
#   Usage: check_dataset.sh BIN_DIR SOURCE_DIR      (ctest: deploy_dataset)
#   Checks, failing with a message on the first problem:
#   1. fm-gen-dataset with its defaults reproduces deploy/data/*.csv byte
#      for byte (the generator is deterministic and nobody edited the data
#      by hand);
#   2. every credit code in enterprises.csv passes an independent check
#      written here in awk, not with fm_ids: 18 characters of the GB 32100
#      alphabet, the GB 32100 mod-31 check character, and the GB 11714
#      mod-11 check of the embedded organisation code; all unique;
#   3. deploy/scenarios/demo-requests.csv names registered enterprises only,
#      except exactly one valid code that is not registered (the demo's 404).
set -euo pipefail

bin=$1
src=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

"$bin/fm-gen-dataset" --out "$tmp" 2>/dev/null
for f in grids.csv enterprises.csv; do
    cmp -s "$tmp/$f" "$src/deploy/data/$f" \
        || { echo "deploy/data/$f differs from fm-gen-dataset output (regenerate or fix)"; exit 1; }
done
echo "ok: deploy/data reproduces"

#   Prints "BAD reason code" for each bad code in column 1 (header skipped)
check_codes () {
    awk -F, '
    BEGIN {
        A = "0123456789ABCDEFGHJKLMNPQRTUWXY"
        split("1 3 9 27 19 26 16 17 20 29 25 13 8 24 10 30 28", W, " ")
        split("3 7 9 10 5 8 4 2", OW, " ")
        L = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    }
    FNR == 1 || /^#/ || NF == 0 || $1 == "enterprise" { next }
    {
        c = $1
        if (length(c) != 18) { print "BAD length " c; next }
        s = 0; bad = 0
        for (i = 1; i <= 17; i++) {
            v = index(A, substr(c, i, 1)) - 1
            if (v < 0) { bad = 1; break }
            s += v * W[i]
        }
        if (bad) { print "BAD alphabet " c; next }
        k = 31 - s % 31; if (k == 31) k = 0
        if (substr(A, k + 1, 1) != substr(c, 18, 1)) { print "BAD check " c; next }
        o = 0
        for (i = 1; i <= 8; i++) {
            ch = substr(c, 8 + i, 1)
            o += (ch ~ /[0-9]/ ? ch + 0 : index(L, ch) + 9) * OW[i]
        }
        k = 11 - o % 11
        oc = k == 10 ? "X" : k == 11 ? "0" : k ""
        if (oc != substr(c, 17, 1)) print "BAD org-check " c
    }' "$1"
}
bad=$(check_codes "$src/deploy/data/enterprises.csv")
[ -z "$bad" ] || { echo "enterprises.csv: $bad"; exit 1; }
dups=$(awk -F, 'NR > 1 { print $1 }' "$src/deploy/data/enterprises.csv" | sort | uniq -d)
[ -z "$dups" ] || { echo "enterprises.csv: duplicate codes: $dups"; exit 1; }
count=$(awk 'END { print NR - 1 }' "$src/deploy/data/enterprises.csv")
echo "ok: $count credit codes valid and unique"

scenario=$src/deploy/scenarios/demo-requests.csv
bad=$(check_codes "$scenario")
[ -z "$bad" ] || { echo "demo-requests.csv: $bad"; exit 1; }
unknown=$(awk -F, 'NR == FNR { known[$1] = 1; next }
                   /^#/ || /^enterprise,/ || NF == 0 { next }
                   !($1 in known) { print $1 }' \
          "$src/deploy/data/enterprises.csv" "$scenario")
[ "$(printf '%s\n' "$unknown" | grep -c .)" = 1 ] \
    || { echo "demo-requests.csv: expected exactly one unregistered enterprise, got: $unknown"; exit 1; }
echo "ok: scenario enterprises registered (one unregistered on purpose: $unknown)"
