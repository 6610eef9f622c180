#!/usr/bin/env bash
#   bootstrap.sh - install finmatch's build dependencies and build it
#
#   Usage: deploy/bootstrap.sh [BUILD_DIR] [CMAKE_OPTION...]
#     deploy/bootstrap.sh                       #   build/ , defaults
#     deploy/bootstrap.sh build-ci -DFM_WERROR=ON
#     deploy/bootstrap.sh -DFM_SANITIZE=ON      #   build/ with options
#
#   Targets a fresh Debian 12.  Idempotent: packages are installed only if
#   one is missing (apt needs root then), and the build is incremental.
#   Works from any directory; a relative BUILD_DIR is taken relative to the
#   repository root, so the same command always builds the same tree.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

#   What the top-level CMakeLists.txt finds through pkg-config (libczmq,
#   libzmq, msgpack, sqlite3, jansson, libmicrohttpd, tcmalloc_minimal from
#   libgoogle-perftools-dev), the toolchain, and the sqlite3 CLI the tests
#   and operators use.  gcc's ASan/UBSan runtimes come with
#   build-essential (gcc-12 depends on libasan8 and libubsan1).
PACKAGES=(build-essential cmake pkg-config libczmq-dev libzmq3-dev
          libmsgpack-dev libsqlite3-dev sqlite3 libjansson-dev
          libmicrohttpd-dev libgoogle-perftools-dev scdoc)
#   Only for the test suite (tests/run.sh sets FM_BOOTSTRAP_TESTS=1), not
#   for the demo: Debian's Chromium and a CJK font for the dashboard's
#   browser test (playwright-core itself comes from npm in the test),
#   systemd-analyze for the unit test, iproute2 for deploy/netns.sh, dpkg-dev
#   for CPack's .deb.  Node.js and npm only if there is no node already.
if [[ "${FM_BOOTSTRAP_TESTS:-0}" == 1 ]]; then
    PACKAGES+=(chromium fonts-noto-cjk systemd iproute2 dpkg-dev)
    #   clang: libFuzzer targets (tests/fuzz/run.sh; ctest fuzz_*)
    PACKAGES+=(clang)
    #   valgrind: memcheck of the broker and a bank worker (ctest valgrind);
    #   kmod: modprobe, so that netns_fault can load sch_netem on a VM (tc
    #   is in iproute2); nftables: its loss where the kernel has no netem
    #   (tc tbf shapes the links then); libnetfilter-queue-dev and
    #   iptables: its delay there (tests/fm_nfq_delay behind an iptables
    #   NFQUEUE rule, built only where libnetfilter_queue is found)
    PACKAGES+=(valgrind kmod nftables libnetfilter-queue-dev iptables)
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
        PACKAGES+=(nodejs npm)
    fi
fi
#   gettext: msgfmt compiles po/zh_CN.po at build time; xgettext/msgcmp
#   check that every marked text is translated (ctest i18n_po).  No
#   locales package is needed: finmatch reads its catalogue itself.
PACKAGES+=(gettext)

missing=()
for package in "${PACKAGES[@]}"; do
    status=$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null || true)
    if [[ "$status" != "install ok installed" ]]; then
        missing+=("$package")
    fi
done
if (( ${#missing[@]} > 0 )); then
    if [[ $(id -u) -ne 0 ]]; then
        echo "bootstrap.sh: missing packages: ${missing[*]}" >&2
        echo "bootstrap.sh: run as root, or first: sudo apt-get install ${missing[*]}" >&2
        exit 1
    fi
    echo "bootstrap.sh: installing ${missing[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update
    apt-get install -y --no-install-recommends "${missing[@]}"
fi

#   First argument is the build directory unless it is a cmake option
BUILD="build"
if (( $# > 0 )) && [[ "$1" != -* ]]; then
    BUILD="$1"
    shift
fi
if [[ "$BUILD" != /* ]]; then
    BUILD="$ROOT/$BUILD"
fi

cmake -S "$ROOT" -B "$BUILD" "$@"
cmake --build "$BUILD" -j "$(nproc)"
echo "bootstrap.sh: built in $BUILD"
