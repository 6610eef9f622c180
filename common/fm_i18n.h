/*  =========================================================================
    fm_i18n - the users' language: Chinese or English, money, local time

    Every user-facing text of every finmatch binary (help, errors, tables,
    report, watch lines) is written in English in the source, marked _()
    where it is printed or N_() where it sits in a static table, extracted
    by po/update.sh into po/finmatch.pot, translated in po/zh_CN.po, and
    compiled by msgfmt at build time into
    <prefix>/share/locale/zh_CN/LC_MESSAGES/finmatch.mo.  Log lines for
    operators (zsys_*) stay English and are not marked.

    The language, decided once by fm_i18n_init:
      1. --lang zh|en (fm_config's built-in flag: fm_i18n_set_lang)
      2. else LANGUAGE (a colon list: the first zh* or en* entry), then the
         first of LC_ALL, LC_MESSAGES, LANG that is set: en* is English,
         zh* Chinese
      3. else (unset, C, POSIX, C.UTF-8, a language we have no catalogue
         for) Chinese: finmatch's users read Chinese first.
    English needs no catalogue: the msgids are the English text.

    We read the .mo file ourselves (GNU format, binary search over the
    sorted msgids) instead of calling glibc's gettext, on purpose: glibc
    translates only when setlocale succeeds for a locale that is generated
    on the machine, and a fresh Debian 12 has no zh_CN.UTF-8 locale at all;
    it also caches translations per process, which makes switching the
    language in a test fragile.  Nothing here calls setlocale: fm_text
    measures widths with its own tables and we format every number
    ourselves, so no output depends on the C library's locale data.

    Times are shown in the local zone: fm_i18n_init sets TZ to
    Asia/Shanghai when it is unset, or to the fixed POSIX zone "CST-8"
    (UTC+8, no daylight saving, exact for China since 1991) when tzdata is
    not installed.  Times are stored in UTC (µs) everywhere.
    =========================================================================
*/

#ifndef FM_I18N_H_INCLUDED
#define FM_I18N_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    FM_LANG_ZH = 0,                     //  Simplified Chinese (default)
    FM_LANG_EN = 1                      //  English (the msgids)
} fm_lang_t;

//  The gettext domain: the catalogue is <dir>/zh_CN/LC_MESSAGES/finmatch.mo
#define FM_I18N_DOMAIN  "finmatch"

//  Translate a marked text: the Chinese translation when the language is
//  Chinese and the catalogue has one, else msgid itself.  The result is
//  borrowed (from the catalogue or msgid) and stays valid until the
//  language changes.  Until fm_i18n_init or fm_i18n_set_lang is called,
//  returns msgid (selftests of other classes see English).  Cannot fail.
const char *
    fm_i18n_gettext (const char *msgid);

//  The same for a text with a count: in English singular when n is 1,
//  else plural; in Chinese the one translated form (Chinese has no
//  plural: the catalogue's Plural-Forms is nplurals=1).  Both borrowed as
//  above.  Mark with P_(singular, plural, n).  Cannot fail.
const char *
    fm_i18n_ngettext (const char *singular, const char *plural, int64_t n);

#define _(text)     fm_i18n_gettext (text)
#define N_(text)    text
#define P_(singular, plural, n) fm_i18n_ngettext (singular, plural, n)

//  Decide the language from the environment, load its catalogue, and set
//  TZ to the default zone if unset (see above).  Call first thing in
//  main, before any thread starts (it calls setenv).  A missing Chinese
//  catalogue is not fatal: the texts stay English and a warning is
//  printed once to stderr.  Cannot fail.
void
    fm_i18n_init (void);

//  Switch to a language by name: "zh", "zh_CN", "zh-CN.UTF-8", "en",
//  "en_US"...  (case-insensitive).  Loads the catalogue if needed.
//  Returns 0, or -1 if the name is not zh or en (nothing changed).
int
    fm_i18n_set_lang (const char *name);

//  The current language.
fm_lang_t
    fm_i18n_lang (void);

//  True if a Chinese catalogue is loaded (whatever the current language).
bool
    fm_i18n_catalogue_loaded (void);

//  The language the environment asks for (rules 2 and 3 above), from the
//  given values, any of which may be NULL.  Pure; cannot fail.
fm_lang_t
    fm_i18n_choose (const char *language, const char *lc_all,
                    const char *lc_messages, const char *lang);

//  Money for the user: fm_money_cn in Chinese ("4.45亿元"), fm_money_en
//  in English ("¥445 million").  Returns buf (>= 48 bytes).
char *
    fm_i18n_money (int64_t fen, char *buf, size_t size);

//  A UTC µs time as local time with strftime format ("%Y-%m-%d %H:%M:%S")
//  into buf; "-" when us <= 0 or the time cannot be converted.  Returns
//  buf.
char *
    fm_i18n_time (int64_t us, const char *format, char *buf, size_t size);

//  Self test
void
    fm_i18n_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
