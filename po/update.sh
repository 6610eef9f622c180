#!/usr/bin/env bash
#   update.sh - extract the marked texts and merge them into the catalogues
#
#   Usage: po/update.sh            #   rewrite po/finmatch.pot, merge zh_CN.po
#          po/update.sh --check    #   exit 1 if a marked text has no
#                                  #   Chinese translation (ctest i18n_po)
#
#   Texts are marked in C with _("...") where printed and N_("...") in
#   static tables, P_("one", "many", n) with a count (common/fm_i18n.h).
#   After an update, translate the new
#   entries (empty msgstr, or marked "fuzzy") in po/zh_CN.po; the build
#   compiles it with msgfmt.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"

SOURCES=$(find common proto broker workers client dashboard -name '*.c' | LC_ALL=C sort)
extract () {
    xgettext --language=C --from-code=UTF-8 --keyword=_ --keyword=N_ --keyword=P_:1,2 \
        --add-comments=TRANSLATORS: --package-name=finmatch \
        --msgid-bugs-address=finmatch --sort-by-file --output="$1" $SOURCES
}

if [[ "${1:-}" == "--check" ]]; then
    TMP=$(mktemp -d "${TMPDIR:-/tmp}/fm-po-XXXXXX")
    trap 'rm -rf "$TMP"' EXIT
    extract "$TMP/finmatch.pot"
    #   msgcmp: every msgid of the sources must be in zh_CN.po, translated
    #   (fuzzy and untranslated entries count as missing)
    if ! msgcmp po/zh_CN.po "$TMP/finmatch.pot" 2>"$TMP/err"; then
        sed 's/^/  /' "$TMP/err" | head -40
        echo "i18n: texts without a Chinese translation; run po/update.sh and translate"
        exit 1
    fi
    echo "i18n: every marked text has a Chinese translation"
    exit 0
fi

extract po/finmatch.pot
if [[ -f po/zh_CN.po ]]; then
    msgmerge --quiet --update --backup=none --no-fuzzy-matching po/zh_CN.po po/finmatch.pot
else
    msginit --no-translator --locale=zh_CN.UTF-8 --input=po/finmatch.pot --output-file=po/zh_CN.po
fi
echo "po/update.sh: $(grep -c '^msgid ' po/finmatch.pot) texts; untranslated in zh_CN.po:"
msgattrib --untranslated --no-obsolete po/zh_CN.po | grep -c '^msgid ' || true
