#!/usr/bin/env bash
#   check_dataset.sh - the checked-in demo dataset is what the generator
#   makes, and every credit code in it is valid
#
#   Usage: check_dataset.sh BIN_DIR SOURCE_DIR      (ctest: deploy_dataset)
#   Checks, failing with a message on the first problem:
#   1. fm-gen-dataset with its defaults reproduces deploy/data/*.csv and
#      the generated deploy/banks/*.cfg byte for byte (the generator is
#      deterministic and nobody edited the data by hand); the territory is
#      a tree at the seed's scale (every grid in a community in a town),
#      officers 3-5 per community, every town paired with an institution;
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

mkdir -p "$tmp/banks"
"$bin/fm-gen-dataset" --out "$tmp" --banks "$tmp/banks" 2>/dev/null
for f in towns.csv communities.csv grids.csv officers.csv enterprises.csv ratings.csv institutions.csv; do
    cmp -s "$tmp/$f" "$src/deploy/data/$f" \
        || { echo "deploy/data/$f differs from fm-gen-dataset output (regenerate or fix)"; exit 1; }
done
for f in "$tmp"/banks/*.cfg; do
    cmp -s "$f" "$src/deploy/banks/$(basename "$f")" \
        || { echo "deploy/banks/$(basename "$f") differs from fm-gen-dataset output"; exit 1; }
done
echo "ok: deploy/data and the generated deploy/banks configs reproduce"

#   Scale (seed text) and the territory's tree: every grid in a community
#   in a town, with matching codes; 3-5 officers per community, serving
#   only grids of their community; every town paired with an institution,
#   and each config's towns line is its institutions.csv pairing
d=$src/deploy/data
rows () { awk 'END { print NR - 1 }' "$1"; }
[ "$(rows "$d/towns.csv")" = 14 ] || { echo "towns.csv: expected 14 towns"; exit 1; }
[ "$(rows "$d/communities.csv")" = 132 ] || { echo "communities.csv: expected 132"; exit 1; }
[ "$(rows "$d/grids.csv")" = 1372 ] || { echo "grids.csv: expected 1372"; exit 1; }
[ "$(rows "$d/officers.csv")" = 496 ] || { echo "officers.csv: expected 496"; exit 1; }
[ "$(rows "$d/institutions.csv")" = 33 ] || { echo "institutions.csv: expected 33"; exit 1; }
[ "$(rows "$d/enterprises.csv")" -ge 4000 ] || { echo "enterprises.csv: expected >= 4000"; exit 1; }
bad=$(awk -F, 'FILENAME ~ /towns.csv$/ && FNR > 1 { town[$1] = 1; next }
               FILENAME ~ /communities.csv$/ && FNR > 1 {
                   if (!($2 in town)) print "community " $1 " in unknown town " $2
                   if (index($1, $2 "-") != 1) print "community " $1 " code not under " $2
                   comm[$1] = $2; next }
               FILENAME ~ /grids.csv$/ && FNR > 1 {
                   if (!($3 in comm)) print "grid " $1 " in unknown community " $3
                   else if (comm[$3] != $2) print "grid " $1 " town " $2 " != its community town " comm[$3]
                   if (index($1, $3 "-") != 1) print "grid " $1 " code not under " $3
                   grid[$1] = $3; n[$3]++; next }
               FILENAME ~ /officers.csv$/ && FNR > 1 {
                   per[$5]++
                   k = split($6, g, ";")
                   for (i = 1; i <= k; i++) if (grid[g[i]] != $5) print "officer " $1 " grid " g[i] " outside " $5
                   next }
               FILENAME ~ /enterprises.csv$/ && FNR > 1 {
                   if (!($4 in grid)) print "enterprise " $1 " on unknown grid " $4; next }
               END { for (c in comm) if (per[c] < 3 || per[c] > 5) print "community " c " has " per[c] " officers"
                     for (c in comm) if (!n[c]) print "community " c " has no grid" }' \
          "$d/towns.csv" "$d/communities.csv" "$d/grids.csv" "$d/officers.csv" "$d/enterprises.csv" | head -5)
[ -z "$bad" ] || { echo "territory: $bad"; exit 1; }
bad=$(awk -F, 'FILENAME ~ /towns.csv$/ && FNR > 1 { town[$1] = 1; next }
               FNR > 1 { k = split($4, t, ";")
                         for (i = 1; i <= k; i++) { if (!(t[i] in town)) print $1 " paired with unknown " t[i]; paired[t[i]]++ } }
               END { for (x in town) if (!paired[x]) print "town " x " has no paired institution" }' \
          "$d/towns.csv" "$d/institutions.csv")
[ -z "$bad" ] || { echo "pairing: $bad"; exit 1; }
while IFS=, read -r code name kind towns products config; do
    [ "$code" = code ] && continue
    want=${towns//;/,}
    got=$(awk '$1 == "towns" && $2 == "=" { print $3; exit }' "$src/deploy/banks/$config")
    [ "$got" = "$want" ] || { echo "deploy/banks/$config: towns = '$got', institutions.csv says '$want'"; exit 1; }
done <"$d/institutions.csv"
echo "ok: 14 towns, 132 communities, 1372 grids, 496 officers (3-5 per community), 33 institutions pairing every town"

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
