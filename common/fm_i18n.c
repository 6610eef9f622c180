/*  =========================================================================
    fm_i18n - the users' language: Chinese or English, money, local time

    State is process-wide (one language, one catalogue), set by main before
    any thread starts and only read afterwards; the selftest switches it
    back and forth from one thread.

    The catalogue is a GNU .mo file read whole into memory and checked
    once: header, table bounds, every string NUL-terminated, translations
    valid UTF-8 (a corrupt or hostile .mo must not put bad bytes on a
    terminal).  msgfmt writes the msgids sorted by strcmp, so a lookup is
    a binary search; if the check finds them unsorted we search linearly.
    Entries with a context or a plural form never match a plain msgid
    (finmatch marks none).

    Where the catalogue is looked for, first found wins:
      $FM_LOCALEDIR              (tests, unusual installs)
      <dir of the executable>/../share/locale
                                 (the build tree: build/bin + build/share,
                                 and an installed prefix: bin + share)
      FM_LOCALEDIR_BUILTIN       (CMAKE_INSTALL_FULL_LOCALEDIR)
    =========================================================================
*/

#include <czmq.h>
#include <time.h>
#include "fm_i18n.h"
#include "fm_money.h"
#include "fm_text.h"

#ifndef FM_LOCALEDIR_BUILTIN
#   define FM_LOCALEDIR_BUILTIN "/usr/local/share/locale"
#endif
#define MO_MAGIC            0x950412DEu
#define MO_MAGIC_SWAPPED    0xDE120495u
#define MO_MAX_SIZE         (16 * 1024 * 1024)  //  ours is ~30 KiB
//  China Standard Time as a POSIX TZ string: UTC+8 all year
#define TZ_FALLBACK         "CST-8"
#define TZ_DEFAULT          "Asia/Shanghai"
#define ZONEINFO            "/usr/share/zoneinfo/"

typedef struct {
    byte *data;                         //  the whole file, owned
    size_t size;
    uint32_t count;                     //  entries
    uint32_t originals;                 //  offset of the msgid table
    uint32_t translations;              //  offset of the msgstr table
    bool swapped;                       //  file written on the other endian
    bool sorted;                        //  msgids in strcmp order
} s_catalogue_t;

static fm_lang_t s_lang = FM_LANG_EN;   //  identity until init/set_lang
static s_catalogue_t s_zh;              //  the Chinese catalogue, or empty
static bool s_zh_tried;                 //  looked for it already
static char s_zh_path [1280];            //  where it was found

static uint32_t
s_u32 (const s_catalogue_t *self, size_t offset)
{
    uint32_t value;
    memcpy (&value, self->data + offset, 4);
    if (self->swapped)
        value = __builtin_bswap32 (value);
    return value;
}

//  Entry index of table (originals or translations): its text, or NULL.
//  Bounds were checked at load.
static const char *
s_entry (const s_catalogue_t *self, uint32_t table, uint32_t index)
{
    return (const char *) self->data + s_u32 (self, table + index * 8 + 4);
}

//  True if text (length bytes, NUL at text [length]) is valid UTF-8 when
//  newlines are allowed (usage texts have several lines)
static bool
s_text_valid (const char *text, size_t length)
{
    size_t start = 0;
    for (size_t pos = 0; pos <= length; pos++) {
        if (pos == length || text [pos] == '\n') {
            if (!fm_utf8_valid (text + start, pos - start))
                return false;
            start = pos + 1;
        }
    }
    return true;
}

static void
s_catalogue_free (s_catalogue_t *self)
{
    free (self->data);
    memset (self, 0, sizeof *self);
}

//  Load and check a .mo file.  Returns 0, or -1 with nothing owned (file
//  missing, unreadable or not a sound catalogue; why in err).
static int
s_catalogue_load (s_catalogue_t *self, const char *path, char *err, size_t size)
{
    memset (self, 0, sizeof *self);
    FILE *file = fopen (path, "rb");
    if (!file) {
        snprintf (err, size, "%s: %s", path, strerror (errno));
        return -1;
    }
    byte *data = NULL;
    size_t length = 0;
    if (fseek (file, 0, SEEK_END) == 0) {
        long end = ftell (file);
        if (end > 0 && end <= MO_MAX_SIZE && fseek (file, 0, SEEK_SET) == 0) {
            data = (byte *) malloc ((size_t) end + 1);
            if (data && fread (data, 1, (size_t) end, file) == (size_t) end)
                length = (size_t) end;
        }
    }
    fclose (file);
    if (!data || length < 28) {
        free (data);
        snprintf (err, size, "%s: cannot read, or not a .mo file", path);
        return -1;
    }
    data [length] = 0;                  //  a final guard for string scans
    self->data = data;
    self->size = length;
    uint32_t magic;
    memcpy (&magic, data, 4);
    self->swapped = magic == MO_MAGIC_SWAPPED;
    if (magic != MO_MAGIC && magic != MO_MAGIC_SWAPPED) {
        snprintf (err, size, "%s: not a .mo file (bad magic)", path);
        s_catalogue_free (self);
        return -1;
    }
    self->count = s_u32 (self, 8);
    self->originals = s_u32 (self, 12);
    self->translations = s_u32 (self, 16);
    uint64_t table_bytes = (uint64_t) self->count * 8;
    if (self->count > length / 16
    ||  self->originals + table_bytes > length
    ||  self->translations + table_bytes > length
    ||  self->originals % 4 || self->translations % 4) {
        snprintf (err, size, "%s: bad .mo tables", path);
        s_catalogue_free (self);
        return -1;
    }
    self->sorted = true;
    for (uint32_t index = 0; index < self->count; index++) {
        uint32_t tables [2] = { self->originals, self->translations };
        for (int which = 0; which < 2; which++) {
            uint32_t str_len = s_u32 (self, tables [which] + index * 8);
            uint32_t offset = s_u32 (self, tables [which] + index * 8 + 4);
            if ((uint64_t) offset + str_len >= length || data [offset + str_len]) {
                snprintf (err, size, "%s: entry %u out of bounds", path, index);
                s_catalogue_free (self);
                return -1;
            }
            //  Only the visible part (before a plural's NUL) must be text
            const char *text = (const char *) data + offset;
            if (which == 1 && !s_text_valid (text, strlen (text))) {
                snprintf (err, size, "%s: entry %u is not valid UTF-8", path, index);
                s_catalogue_free (self);
                return -1;
            }
        }
        if (index > 0
        &&  strcmp (s_entry (self, self->originals, index - 1),
                    s_entry (self, self->originals, index)) >= 0)
            self->sorted = false;
    }
    return 0;
}

//  The translation of msgid in self, or NULL
static const char *
s_catalogue_find (const s_catalogue_t *self, const char *msgid)
{
    if (!self->data)
        return NULL;
    if (self->sorted) {
        uint32_t low = 0, high = self->count;
        while (low < high) {
            uint32_t mid = low + (high - low) / 2;
            int order = strcmp (msgid, s_entry (self, self->originals, mid));
            if (order == 0)
                return s_entry (self, self->translations, mid);
            if (order < 0)
                high = mid;
            else
                low = mid + 1;
        }
        return NULL;
    }
    for (uint32_t index = 0; index < self->count; index++)
        if (streq (msgid, s_entry (self, self->originals, index)))
            return s_entry (self, self->translations, index);
    return NULL;
}

//  Look for the Chinese catalogue once.  Returns true if loaded.
static bool
s_load_zh (void)
{
    if (s_zh_tried)
        return s_zh.data != NULL;
    s_zh_tried = true;
    char dirs [3][400];
    size_t dir_count = 0;
    const char *env = getenv ("FM_LOCALEDIR");
    if (env && *env)
        snprintf (dirs [dir_count++], sizeof dirs [0], "%s", env);
    char exe [300];
    ssize_t length = readlink ("/proc/self/exe", exe, sizeof exe - 1);
    if (length > 0) {
        exe [length] = 0;
        char *slash = strrchr (exe, '/');
        if (slash) {
            *slash = 0;
            snprintf (dirs [dir_count++], sizeof dirs [0], "%s/../share/locale", exe);
        }
    }
    snprintf (dirs [dir_count++], sizeof dirs [0], "%s", FM_LOCALEDIR_BUILTIN);
    char err [600] = "";
    for (size_t index = 0; index < dir_count; index++) {
        snprintf (s_zh_path, sizeof s_zh_path, "%s/zh_CN/LC_MESSAGES/%s.mo",
                  dirs [index], FM_I18N_DOMAIN);
        if (access (s_zh_path, R_OK))
            continue;
        if (s_catalogue_load (&s_zh, s_zh_path, err, sizeof err) == 0)
            return true;
        break;                          //  found but broken: say so below
    }
    if (*err)
        fprintf (stderr, "finmatch: %s; texts stay in English\n", err);
    else
        fprintf (stderr, "finmatch: Chinese catalogue %s.mo not found (looked "
                 "in $FM_LOCALEDIR, ../share/locale, %s); texts stay in "
                 "English\n", FM_I18N_DOMAIN, FM_LOCALEDIR_BUILTIN);
    s_zh_path [0] = 0;
    return false;
}

//  Language of one locale-ish name: "zh_CN.UTF-8" -> zh.  Returns 1 for
//  English, 0 for Chinese, -1 for anything else.
static int
s_lang_of (const char *name, size_t length)
{
    if (length >= 2 && strncasecmp (name, "zh", 2) == 0
    && (length == 2 || strchr ("_-.@", name [2])))
        return FM_LANG_ZH;
    if (length >= 2 && strncasecmp (name, "en", 2) == 0
    && (length == 2 || strchr ("_-.@", name [2])))
        return FM_LANG_EN;
    return -1;
}


//  --------------------------------------------------------------------------
//  Translate

const char *
fm_i18n_gettext (const char *msgid)
{
    if (!msgid || !*msgid || s_lang != FM_LANG_ZH)
        return msgid;
    const char *text = s_catalogue_find (&s_zh, msgid);
    return text && *text? text: msgid;
}


const char *
fm_i18n_ngettext (const char *singular, const char *plural, int64_t n)
{
    if (s_lang != FM_LANG_ZH)
        return n == 1? singular: plural;
    //  A plural entry's key in the .mo is "singular\0plural": strcmp on
    //  the singular finds it, and its first form ends at its own NUL
    return fm_i18n_gettext (singular);
}


//  --------------------------------------------------------------------------
//  The language the environment asks for

fm_lang_t
fm_i18n_choose (const char *language, const char *lc_all,
                const char *lc_messages, const char *lang)
{
    if (language) {
        const char *item = language;
        while (*item) {
            size_t length = strcspn (item, ":");
            int found = s_lang_of (item, length);
            if (found >= 0)
                return (fm_lang_t) found;
            item += length;
            if (*item == ':')
                item++;
        }
    }
    const char *values [] = { lc_all, lc_messages, lang };
    for (size_t index = 0; index < 3; index++) {
        const char *value = values [index];
        if (value && *value) {
            //  The first set variable decides, as in POSIX; C, POSIX and
            //  languages without a catalogue get the default
            int found = s_lang_of (value, strlen (value));
            return found == FM_LANG_EN? FM_LANG_EN: FM_LANG_ZH;
        }
    }
    return FM_LANG_ZH;
}


//  --------------------------------------------------------------------------
//  Decide the language, load its catalogue, default the time zone

void
fm_i18n_init (void)
{
    const char *tz = getenv ("TZ");
    if (!tz || !*tz) {
        //  tzdata may be missing on a minimal system: then a fixed UTC+8
        //  (what Asia/Shanghai has been since 1991)
        bool have_zone = access (ZONEINFO TZ_DEFAULT, R_OK) == 0;
        setenv ("TZ", have_zone? TZ_DEFAULT: TZ_FALLBACK, 1);
    }
    else {
        //  The zone named but its file missing: glibc would silently use
        //  UTC; for China's zones the fixed offset is exact
        const char *name = *tz == ':'? tz + 1: tz;
        if ((streq (name, "Asia/Shanghai") || streq (name, "Asia/Chongqing")
        ||   streq (name, "PRC") || streq (name, "Asia/Harbin"))) {
            char path [128];
            snprintf (path, sizeof path, "%s%s", ZONEINFO, name);
            if (access (path, R_OK))
                setenv ("TZ", TZ_FALLBACK, 1);
        }
    }
    tzset ();
    fm_lang_t lang = fm_i18n_choose (getenv ("LANGUAGE"), getenv ("LC_ALL"),
                                     getenv ("LC_MESSAGES"), getenv ("LANG"));
    s_lang = lang;
    if (lang == FM_LANG_ZH)
        s_load_zh ();
}


//  --------------------------------------------------------------------------
//  Switch language by name

int
fm_i18n_set_lang (const char *name)
{
    if (!name)
        return -1;
    int found = s_lang_of (name, strlen (name));
    if (found < 0)
        return -1;
    s_lang = (fm_lang_t) found;
    if (s_lang == FM_LANG_ZH)
        s_load_zh ();
    return 0;
}

fm_lang_t
fm_i18n_lang (void)
{
    return s_lang;
}

bool
fm_i18n_catalogue_loaded (void)
{
    return s_zh.data != NULL;
}


//  --------------------------------------------------------------------------
//  Money and time for the user

char *
fm_i18n_money (int64_t fen, char *buf, size_t size)
{
    return s_lang == FM_LANG_EN? fm_money_en (fen, buf, size)
                               : fm_money_cn (fen, buf, size);
}

char *
fm_i18n_time (int64_t us, const char *format, char *buf, size_t size)
{
    assert (format);
    assert (buf && size);
    //  Floor division: a negative µs remainder belongs to the second before
    time_t seconds = (time_t) (us / 1000000);
    struct tm tm;
    if (us <= 0 || !localtime_r (&seconds, &tm)
    ||  strftime (buf, size, format, &tm) == 0)
        snprintf (buf, size, "-");
    return buf;
}


//  --------------------------------------------------------------------------
//  Selftest

static void
s_write_file (const char *path, const void *data, size_t size)
{
    FILE *file = fopen (path, "wb");
    assert (file);
    assert (fwrite (data, 1, size, file) == size);
    fclose (file);
}

void
fm_i18n_test (bool verbose)
{
    //  @selftest
    //  The language decision
    assert (fm_i18n_choose (NULL, NULL, NULL, NULL) == FM_LANG_ZH);
    assert (fm_i18n_choose (NULL, NULL, NULL, "C") == FM_LANG_ZH);
    assert (fm_i18n_choose (NULL, NULL, NULL, "C.UTF-8") == FM_LANG_ZH);
    assert (fm_i18n_choose (NULL, NULL, NULL, "POSIX") == FM_LANG_ZH);
    assert (fm_i18n_choose (NULL, NULL, NULL, "en_US.UTF-8") == FM_LANG_EN);
    assert (fm_i18n_choose (NULL, NULL, NULL, "zh_CN.UTF-8") == FM_LANG_ZH);
    assert (fm_i18n_choose (NULL, NULL, NULL, "fr_FR.UTF-8") == FM_LANG_ZH);
    assert (fm_i18n_choose (NULL, NULL, NULL, "english") == FM_LANG_ZH);
    assert (fm_i18n_choose (NULL, NULL, "en_GB", "zh_CN") == FM_LANG_EN);
    assert (fm_i18n_choose (NULL, "C", "en_GB", "en_US") == FM_LANG_ZH);
    assert (fm_i18n_choose ("", "", "", "en_US") == FM_LANG_EN);
    assert (fm_i18n_choose ("fr:en", NULL, NULL, "zh_CN") == FM_LANG_EN);
    assert (fm_i18n_choose ("fr:de", NULL, NULL, "en_US") == FM_LANG_EN);
    assert (fm_i18n_choose ("zh_CN:en", "en_US", NULL, NULL) == FM_LANG_ZH);

    //  Names for --lang
    const char *zh_names [] = { "zh", "ZH", "zh_CN", "zh-CN", "zh_CN.UTF-8" };
    const char *en_names [] = { "en", "EN", "en_US", "en-GB", "en_US.UTF-8" };
    const char *bad_names [] = { "", "z", "fr", "english", "zhx", "chinese" };
    for (size_t i = 0; i < sizeof zh_names / sizeof zh_names [0]; i++) {
        assert (fm_i18n_set_lang (zh_names [i]) == 0);
        assert (fm_i18n_lang () == FM_LANG_ZH);
    }
    for (size_t i = 0; i < sizeof en_names / sizeof en_names [0]; i++) {
        assert (fm_i18n_set_lang (en_names [i]) == 0);
        assert (fm_i18n_lang () == FM_LANG_EN);
    }
    for (size_t i = 0; i < sizeof bad_names / sizeof bad_names [0]; i++) {
        assert (fm_i18n_set_lang (bad_names [i]) == -1);
        assert (fm_i18n_lang () == FM_LANG_EN);         //  unchanged
    }
    assert (fm_i18n_set_lang (NULL) == -1);

    //  English: the msgid itself; Chinese: the catalogue built from
    //  po/zh_CN.po (ctest finds it next to the binary, or FM_LOCALEDIR)
    assert (streq (_("Usage:"), "Usage:"));
    assert (fm_i18n_set_lang ("zh") == 0);
    if (verbose)
        printf ("   catalogue: %s\n", *s_zh_path? s_zh_path: "(none)");
    assert (fm_i18n_catalogue_loaded ());
    assert (streq (_("Usage:"), "用法:"));
    //  (variables: xgettext must not extract these two)
    const char *unknown = "no such text in the catalogue", *empty = "";
    assert (streq (_(unknown), unknown));
    assert (streq (_(empty), ""));
    const char *marked = N_("By bank");
    assert (streq (marked, "By bank"));
    assert (streq (_(marked), "按银行"));
    //  Plural entries: Chinese has one form; English picks by the count
    assert (streq (P_("%lld event", "%lld events", 1), "%lld 条事件"));
    assert (streq (P_("%lld event", "%lld events", 7), "%lld 条事件"));
    fm_i18n_set_lang ("en");
    assert (streq (P_("%lld event", "%lld events", 1), "%lld event"));
    assert (streq (P_("%lld event", "%lld events", 0), "%lld events"));
    fm_i18n_set_lang ("zh");

    //  Every translation keeps the printf conversions of its msgid, in
    //  order: a translator's slip must not become a crash
    for (uint32_t index = 0; index < s_zh.count; index++) {
        const char *msgid = s_entry (&s_zh, s_zh.originals, index);
        const char *msgstr = s_entry (&s_zh, s_zh.translations, index);
        if (!*msgid || !*msgstr)
            continue;                   //  the header, untranslated
        const char *a = msgid, *b = msgstr;
        while (true) {
            a = strchr (a, '%');
            b = strchr (b, '%');
            while (a && a [1] == '%')
                a = strchr (a + 2, '%');
            while (b && b [1] == '%')
                b = strchr (b + 2, '%');
            if (!a || !b) {
                if (a || b)
                    printf ("   conversions differ: '%s' / '%s'\n", msgid, msgstr);
                assert (!a && !b);
                break;
            }
            size_t la = strcspn (a + 1, "diouxXcsp") + 2;
            size_t lb = strcspn (b + 1, "diouxXcsp") + 2;
            if (la != lb || memcmp (a, b, la))
                printf ("   conversion differs: '%s' / '%s'\n", msgid, msgstr);
            assert (la == lb && memcmp (a, b, la) == 0);
            a += la;
            b += la;
        }
    }

    //  Money follows the language
    char buf [64];
    assert (streq (fm_i18n_money (44500000000, buf, sizeof buf), "4.45亿元"));
    fm_i18n_set_lang ("en");
    assert (streq (fm_i18n_money (44500000000, buf, sizeof buf), "¥445 million"));

    //  Broken catalogues are refused, never half-used
    char dir [] = "/tmp/fm_i18n_test.XXXXXX";
    assert (mkdtemp (dir));
    char path [300];
    snprintf (path, sizeof path, "%s/bad.mo", dir);
    char err [700];
    s_catalogue_t bad;
    s_write_file (path, "not a catalogue at all, just text", 33);
    assert (s_catalogue_load (&bad, path, err, sizeof err) == -1);
    assert (strstr (err, "bad magic"));
    //  Header says 1000 entries in a 28-byte file
    uint32_t header [7] = { MO_MAGIC, 0, 1000, 28, 28 + 8000, 0, 0 };
    s_write_file (path, header, sizeof header);
    assert (s_catalogue_load (&bad, path, err, sizeof err) == -1);
    //  One entry whose translation is not UTF-8
    struct {
        uint32_t header [7];
        uint32_t originals [2];
        uint32_t translations [2];
        char strings [8];
    } mo = { { MO_MAGIC, 0, 1, 28, 36, 0, 0 }, { 1, 44 }, { 2, 46 },
             "a\0\xC0\x80\0\0\0" };
    s_write_file (path, &mo, sizeof mo);
    assert (s_catalogue_load (&bad, path, err, sizeof err) == -1);
    assert (strstr (err, "UTF-8"));
    //  The same entry with a good translation loads and is found
    memcpy (mo.strings, "a\0\xE4\xB8\x80\0\0", 8);
    mo.translations [0] = 3;
    s_write_file (path, &mo, sizeof mo);
    assert (s_catalogue_load (&bad, path, err, sizeof err) == 0);
    assert (streq (s_catalogue_find (&bad, "a"), "一"));
    assert (s_catalogue_find (&bad, "b") == NULL);
    s_catalogue_free (&bad);
    snprintf (path, sizeof path, "%s/missing.mo", dir);
    assert (s_catalogue_load (&bad, path, err, sizeof err) == -1);
    snprintf (path, sizeof path, "%s/bad.mo", dir);
    unlink (path);
    rmdir (dir);

    //  Local time: Asia/Shanghai, or the fixed UTC+8 without tzdata; both
    //  give the same wall clock (China has no DST since 1991)
    char *saved_tz = getenv ("TZ")? strdup (getenv ("TZ")): NULL;
    const char *zones [] = { TZ_DEFAULT, TZ_FALLBACK };
    for (size_t i = 0; i < 2; i++) {
        if (i == 0 && access (ZONEINFO TZ_DEFAULT, R_OK))
            continue;                   //  no tzdata here
        setenv ("TZ", zones [i], 1);
        tzset ();
        //  2024-05-01 00:00:01 UTC, and mid-winter
        fm_i18n_time (INT64_C (1714521601000000), "%Y-%m-%d %H:%M:%S", buf, sizeof buf);
        assert (streq (buf, "2024-05-01 08:00:01"));
        fm_i18n_time (INT64_C (1704067199000000), "%Y-%m-%d %H:%M:%S", buf, sizeof buf);
        assert (streq (buf, "2024-01-01 07:59:59"));
    }
    assert (streq (fm_i18n_time (0, "%H:%M", buf, sizeof buf), "-"));
    assert (streq (fm_i18n_time (-5, "%H:%M", buf, sizeof buf), "-"));
    //  Unset TZ becomes the default zone
    unsetenv ("TZ");
    fm_i18n_init ();
    const char *tz = getenv ("TZ");
    assert (tz && (streq (tz, TZ_DEFAULT) || streq (tz, TZ_FALLBACK)));
    fm_i18n_time (INT64_C (1714521601000000), "%H:%M:%S", buf, sizeof buf);
    assert (streq (buf, "08:00:01"));
    if (saved_tz)
        setenv ("TZ", saved_tz, 1);
    else
        unsetenv ("TZ");
    tzset ();
    free (saved_tz);
    //  Leave the process as other selftests expect it: English
    fm_i18n_set_lang ("en");
    //  @end
}
