#!/usr/bin/env bash
#   package_deb.sh - the .deb and the systemd units, checked from a
#   scratch root
#
#   Usage: package_deb.sh BUILD_DIR VERSION deb|units
#   Builds the package with CPack (into a temporary directory), unpacks it
#   with `dpkg -x` into a scratch root (nothing is installed on this
#   machine), then:
#     deb    every binary, man page, unit and sample config is in place;
#            `finmatch --version` (and every daemon's) runs from the scratch
#            root and prints VERSION; every NEEDED shared library of every
#            binary belongs to a package the .deb declares in Depends
#            (sanitizer runtimes of an ASan build excepted)
#     units  `systemd-analyze verify` passes on every unit, with ExecStart
#            pointed at the scratch root's binaries (and the template unit
#            as an instance, finmatch-bank@cqrcb.service)
#   Exit 0 pass, 1 fail, 77 skipped (units: no systemd-analyze).
set -u
BUILD=$1
VERSION=$2
MODE=$3
TMP=$(mktemp -d "${TMPDIR:-/tmp}/fm-deb-XXXXXX")
trap 'rm -rf "$TMP"' EXIT
FAILED=0
fail () { echo "FAIL: $*"; FAILED=1; }

if [ "$MODE" = units ] && ! command -v systemd-analyze >/dev/null; then
    echo "SKIP: systemd-analyze not found (package systemd; FM_BOOTSTRAP_TESTS=1 deploy/bootstrap.sh installs it)"
    exit 77
fi

cpack -G DEB -B "$TMP/out" --config "$BUILD/CPackConfig.cmake" >"$TMP/cpack.log" 2>&1 ||
    { cat "$TMP/cpack.log"; echo "FAIL: cpack"; exit 1; }
DEB=$(ls "$TMP"/out/*.deb)
echo "package: $(basename "$DEB") ($(stat -c %s "$DEB") bytes)"
ROOT=$TMP/root
dpkg -x "$DEB" "$ROOT" || { echo "FAIL: dpkg -x"; exit 1; }
BINARIES="finmatch finmatch-broker finmatch-gov finmatch-bank finmatch-recorder finmatch-dashboard"
UNITS="finmatch-broker.service finmatch-gov.service finmatch-bank@.service finmatch-recorder.service finmatch-dashboard.service"

if [ "$MODE" = deb ]; then
    depends=$(dpkg-deb -f "$DEB" Depends)
    echo "Depends: $depends"
    for b in $BINARIES fm-wait-ready; do
        [ -x "$ROOT/usr/bin/$b" ] || fail "usr/bin/$b missing"
    done
    for b in $BINARIES; do
        [ -s "$ROOT/usr/share/man/man1/$b.1" ] || fail "usr/share/man/man1/$b.1 missing"
        out=$("$ROOT/usr/bin/$b" --version 2>&1) || fail "$b --version exited $?"
        case "$out" in *"$VERSION"*) ;; *) fail "$b --version printed '$out'";; esac
    done
    echo "from the scratch root: $("$ROOT/usr/bin/finmatch" --version 2>&1)"
    for u in $UNITS; do
        [ -s "$ROOT/usr/lib/systemd/system/$u" ] || fail "usr/lib/systemd/system/$u missing"
        grep -q '^ExecStart=/usr/bin/finmatch-' "$ROOT/usr/lib/systemd/system/$u" ||
            fail "$u: ExecStart is not /usr/bin/finmatch-*"
    done
    [ -s "$ROOT/usr/lib/sysusers.d/finmatch.conf" ] || fail "sysusers.d/finmatch.conf missing"
    for f in finmatch-broker.cfg finmatch-gov.cfg finmatch-recorder.cfg finmatch-dashboard.cfg \
             finmatch.cfg banks/cqrcb.cfg data/enterprises.csv; do
        [ -s "$ROOT/usr/share/finmatch/$f" ] || fail "usr/share/finmatch/$f missing"
    done
    #   Every NEEDED library is declared.  ldconfig finds the file, dpkg
    #   the package that owns it.
    for b in $BINARIES; do
        for lib in $(objdump -p "$ROOT/usr/bin/$b" | awk '$1 == "NEEDED" { print $2 }'); do
            case "$lib" in libasan.so*|libubsan.so*|ld-linux*) continue;; esac
            path=$(ldconfig -p | awk -v l="$lib" '$1 == l && /x86-64|x32|64/ { print $NF; exit }')
            [ -n "$path" ] || path=$(ldconfig -p | awk -v l="$lib" '$1 == l { print $NF; exit }')
            package=$(dpkg -S "$(readlink -f "$path")" 2>/dev/null | head -n 1 | cut -d: -f1)
            [ -n "$package" ] || package=$(dpkg -S "$path" 2>/dev/null | head -n 1 | cut -d: -f1)
            if [ -z "$package" ]; then
                fail "$b needs $lib: no Debian package owns it"
            elif ! printf '%s\n' "$depends" | tr ',' '\n' | awk '{ print $1 }' | grep -qx "$package"; then
                fail "$b needs $lib from $package, which Depends does not list"
            fi
        done
    done
fi

if [ "$MODE" = units ]; then
    mkdir -p "$TMP/units"
    for u in $UNITS; do
        sed "s|^ExecStart=/usr/bin/|ExecStart=$ROOT/usr/bin/|" \
            "$ROOT/usr/lib/systemd/system/$u" >"$TMP/units/$u"
    done
    cp "$TMP/units/finmatch-bank@.service" "$TMP/units/finmatch-bank@cqrcb.service"
    for u in $UNITS finmatch-bank@cqrcb.service; do
        [ "$u" = "finmatch-bank@.service" ] && continue
        #   Hardening the units must keep (issue 8)
        for key in Type=simple Restart=on-failure User=finmatch ProtectSystem=strict \
                   NoNewPrivileges=yes PrivateTmp=yes; do
            grep -qx "$key" "$TMP/units/$u" || fail "$u lacks $key"
        done
        #   verify prints warnings and errors on stderr; any output fails
        if ! (cd "$TMP/units" && systemd-analyze verify --man=no "./$u") >"$TMP/verify.log" 2>&1 \
           || grep -v '^$' "$TMP/verify.log" | grep -q .; then
            fail "systemd-analyze verify $u:"
            cat "$TMP/verify.log"
        else
            echo "systemd-analyze verify $u: ok"
        fi
    done
fi

[ $FAILED -eq 0 ] && echo "PASS ($MODE)"
exit $FAILED
