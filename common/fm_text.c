/*  =========================================================================
    fm_text - UTF-8 text: validation, display width, aligned tables

    Widths come from our own decoder and two small range tables (zero-width
    marks; East Asian Wide and Fullwidth, with emoji as wide), not from
    wcwidth(3): wcwidth depends on setlocale and the C library's Unicode
    version, and a table of Chinese names must line up the same way in a
    daemon started by systemd under LANG=C as in a user's shell.  The
    tables cover what finmatch prints (CJK ideographs and punctuation,
    fullwidth forms, Hangul, kana, common emoji); a character they miss
    is one cell, the common case.

    U+2026 "…" and the box-drawing characters are East Asian "Ambiguous":
    one cell in most terminals, two in some CJK terminal setups.  We count
    "…" as one cell and draw table rules with ASCII '-' so that a rule can
    never be wider than its column.

    Bytes that are not valid UTF-8, and control characters, are shown as
    "?" (one cell) by fm_text_fit and the table, so that bad input can
    never move the cursor or break a sequence on the terminal.
    =========================================================================
*/

#include <czmq.h>
#include "fm_text.h"

#define ELLIPSIS        "\xE2\x80\xA6"  //  U+2026, 3 bytes, 1 cell
#define COLUMN_GAP      "  "            //  two spaces between columns

//  A closed range of code points
typedef struct {
    uint32_t first, last;
} s_range_t;

//  Zero-width: combining marks (Mn/Me) of the scripts we may meet, Hangul
//  medial vowels, zero-width spaces and joiners, bidi controls, variation
//  selectors, tags.  Sorted, non-overlapping (checked by the selftest).
static const s_range_t s_zero_width [] = {
    { 0x0300, 0x036F }, { 0x0483, 0x0489 }, { 0x0591, 0x05BD },
    { 0x05BF, 0x05BF }, { 0x05C1, 0x05C2 }, { 0x05C4, 0x05C5 },
    { 0x05C7, 0x05C7 }, { 0x0610, 0x061A }, { 0x064B, 0x065F },
    { 0x0670, 0x0670 }, { 0x06D6, 0x06DC }, { 0x06DF, 0x06E4 },
    { 0x06E7, 0x06E8 }, { 0x06EA, 0x06ED }, { 0x0711, 0x0711 },
    { 0x0730, 0x074A }, { 0x07A6, 0x07B0 }, { 0x07EB, 0x07F3 },
    { 0x0816, 0x0819 }, { 0x081B, 0x0823 }, { 0x0825, 0x0827 },
    { 0x0829, 0x082D }, { 0x0859, 0x085B }, { 0x08D3, 0x08E1 },
    { 0x08E3, 0x0902 }, { 0x093A, 0x093A }, { 0x093C, 0x093C },
    { 0x0941, 0x0948 }, { 0x094D, 0x094D }, { 0x0951, 0x0957 },
    { 0x0962, 0x0963 }, { 0x0981, 0x0981 }, { 0x09BC, 0x09BC },
    { 0x09C1, 0x09C4 }, { 0x09CD, 0x09CD }, { 0x09E2, 0x09E3 },
    { 0x0A01, 0x0A02 }, { 0x0A3C, 0x0A3C }, { 0x0A41, 0x0A42 },
    { 0x0A47, 0x0A48 }, { 0x0A4B, 0x0A4D }, { 0x0A70, 0x0A71 },
    { 0x0A81, 0x0A82 }, { 0x0ABC, 0x0ABC }, { 0x0AC1, 0x0AC5 },
    { 0x0AC7, 0x0AC8 }, { 0x0ACD, 0x0ACD }, { 0x0B01, 0x0B01 },
    { 0x0B3C, 0x0B3C }, { 0x0B3F, 0x0B3F }, { 0x0B41, 0x0B44 },
    { 0x0B4D, 0x0B4D }, { 0x0BC0, 0x0BC0 }, { 0x0BCD, 0x0BCD },
    { 0x0C3E, 0x0C40 }, { 0x0C46, 0x0C48 }, { 0x0C4A, 0x0C4D },
    { 0x0CBC, 0x0CBC }, { 0x0CCC, 0x0CCD }, { 0x0D41, 0x0D44 },
    { 0x0D4D, 0x0D4D }, { 0x0DCA, 0x0DCA }, { 0x0DD2, 0x0DD4 },
    { 0x0E31, 0x0E31 }, { 0x0E34, 0x0E3A }, { 0x0E47, 0x0E4E },
    { 0x0EB1, 0x0EB1 }, { 0x0EB4, 0x0EBC }, { 0x0EC8, 0x0ECD },
    { 0x0F18, 0x0F19 }, { 0x0F35, 0x0F35 }, { 0x0F37, 0x0F37 },
    { 0x0F39, 0x0F39 }, { 0x0F71, 0x0F7E }, { 0x0F80, 0x0F84 },
    { 0x0F86, 0x0F87 }, { 0x0F8D, 0x0FBC }, { 0x0FC6, 0x0FC6 },
    { 0x102D, 0x1030 }, { 0x1032, 0x1037 }, { 0x1039, 0x103A },
    { 0x1160, 0x11FF }, { 0x135D, 0x135F }, { 0x1712, 0x1714 },
    { 0x17B4, 0x17B5 }, { 0x17B7, 0x17BD }, { 0x17C6, 0x17C6 },
    { 0x17C9, 0x17D3 }, { 0x17DD, 0x17DD }, { 0x180B, 0x180F },
    { 0x1AB0, 0x1AFF }, { 0x1DC0, 0x1DFF }, { 0x200B, 0x200F },
    { 0x202A, 0x202E }, { 0x2060, 0x2064 }, { 0x20D0, 0x20F0 },
    { 0x2CEF, 0x2CF1 }, { 0x2DE0, 0x2DFF }, { 0x302A, 0x302D },
    { 0x3099, 0x309A }, { 0xA66F, 0xA672 }, { 0xA674, 0xA67D },
    { 0xA69E, 0xA69F }, { 0xA6F0, 0xA6F1 }, { 0xA802, 0xA802 },
    { 0xA806, 0xA806 }, { 0xA80B, 0xA80B }, { 0xA825, 0xA826 },
    { 0xFB1E, 0xFB1E }, { 0xFE00, 0xFE0F }, { 0xFE20, 0xFE2F },
    { 0xFEFF, 0xFEFF }, { 0x1D167, 0x1D169 }, { 0x1D17B, 0x1D182 },
    { 0xE0001, 0xE0001 }, { 0xE0020, 0xE007F }, { 0xE0100, 0xE01EF }
};

//  Two cells: East Asian Wide (W) and Fullwidth (F), emoji presentation.
//  Sorted, non-overlapping (checked by the selftest).
static const s_range_t s_wide [] = {
    { 0x1100, 0x115F },                 //  Hangul initial consonants
    { 0x231A, 0x231B }, { 0x2329, 0x232A }, { 0x23E9, 0x23EC },
    { 0x23F0, 0x23F0 }, { 0x23F3, 0x23F3 }, { 0x25FD, 0x25FE },
    { 0x2614, 0x2615 }, { 0x2648, 0x2653 }, { 0x267F, 0x267F },
    { 0x2693, 0x2693 }, { 0x26A1, 0x26A1 }, { 0x26AA, 0x26AB },
    { 0x26BD, 0x26BE }, { 0x26C4, 0x26C5 }, { 0x26CE, 0x26CE },
    { 0x26D4, 0x26D4 }, { 0x26EA, 0x26EA }, { 0x26F2, 0x26F3 },
    { 0x26F5, 0x26F5 }, { 0x26FA, 0x26FA }, { 0x26FD, 0x26FD },
    { 0x2705, 0x2705 }, { 0x270A, 0x270B }, { 0x2728, 0x2728 },
    { 0x274C, 0x274C }, { 0x274E, 0x274E }, { 0x2753, 0x2755 },
    { 0x2757, 0x2757 }, { 0x2795, 0x2797 }, { 0x27B0, 0x27B0 },
    { 0x27BF, 0x27BF }, { 0x2B1B, 0x2B1C }, { 0x2B50, 0x2B50 },
    { 0x2B55, 0x2B55 },
    { 0x2E80, 0x303E },                 //  CJK radicals, CJK punctuation 。、「」
    { 0x3041, 0x33FF },                 //  kana, bopomofo, CJK compatibility
    { 0x3400, 0x4DBF },                 //  CJK extension A
    { 0x4E00, 0x9FFF },                 //  CJK unified ideographs
    { 0xA000, 0xA4CF },                 //  Yi
    { 0xA960, 0xA97F },                 //  Hangul extended A
    { 0xAC00, 0xD7A3 },                 //  Hangul syllables
    { 0xF900, 0xFAFF },                 //  CJK compatibility ideographs
    { 0xFE10, 0xFE19 },                 //  vertical forms
    { 0xFE30, 0xFE6F },                 //  CJK compatibility forms, small forms
    { 0xFF00, 0xFF60 },                 //  fullwidth ASCII ，（）：
    { 0xFFE0, 0xFFE6 },                 //  fullwidth signs ￥
    { 0x16FE0, 0x16FE4 }, { 0x17000, 0x18AFF }, { 0x1B000, 0x1B2FF },
    { 0x1F004, 0x1F004 }, { 0x1F0CF, 0x1F0CF }, { 0x1F18E, 0x1F18E },
    { 0x1F191, 0x1F19A }, { 0x1F200, 0x1F202 }, { 0x1F210, 0x1F23B },
    { 0x1F240, 0x1F248 }, { 0x1F250, 0x1F251 }, { 0x1F260, 0x1F265 },
    { 0x1F300, 0x1F64F },               //  emoji: pictographs, emoticons
    { 0x1F680, 0x1F6FF },               //  emoji: transport and map
    { 0x1F7E0, 0x1F7EB }, { 0x1F90C, 0x1F9FF }, { 0x1FA70, 0x1FAFF },
    { 0x20000, 0x2FFFD },               //  CJK extensions B..F
    { 0x30000, 0x3FFFD }                //  CJK extension G
};

#define RANGES(table) (sizeof (table) / sizeof (table [0]))

static bool
s_in_ranges (const s_range_t *table, size_t count, uint32_t cp)
{
    if (cp < table [0].first || cp > table [count - 1].last)
        return false;
    size_t low = 0, high = count;
    while (low < high) {
        size_t mid = low + (high - low) / 2;
        if (cp > table [mid].last)
            low = mid + 1;
        else
        if (cp < table [mid].first)
            high = mid;
        else
            return true;
    }
    return false;
}

//  Decode one strict UTF-8 sequence at text (size bytes available).
//  Returns its length (1..4) with *cp set, or 0 if the bytes there are
//  not a well-formed sequence: overlong, surrogate, above U+10FFFF,
//  truncated, or a lone continuation byte (Unicode table 3-7).
static size_t
s_decode (const byte *text, size_t size, uint32_t *cp)
{
    assert (size > 0);
    byte lead = text [0];
    if (lead < 0x80) {
        *cp = lead;
        return 1;
    }
    size_t length;
    byte low = 0x80, high = 0xBF;       //  bounds of the second byte
    if (lead >= 0xC2 && lead <= 0xDF)
        length = 2;
    else
    if (lead >= 0xE0 && lead <= 0xEF) {
        length = 3;
        if (lead == 0xE0)
            low = 0xA0;                 //  else overlong
        else
        if (lead == 0xED)
            high = 0x9F;                //  else a surrogate D800..DFFF
    }
    else
    if (lead >= 0xF0 && lead <= 0xF4) {
        length = 4;
        if (lead == 0xF0)
            low = 0x90;                 //  else overlong
        else
        if (lead == 0xF4)
            high = 0x8F;                //  else above U+10FFFF
    }
    else
        return 0;                       //  80..C1 (continuation, overlong), F5..FF
    if (size < length || text [1] < low || text [1] > high)
        return 0;
    uint32_t value = lead & (0xFF >> (length + 1));
    for (size_t i = 1; i < length; i++) {
        if ((text [i] & 0xC0) != 0x80)
            return 0;
        value = (value << 6) | (text [i] & 0x3F);
    }
    *cp = value;
    return length;
}

//  Cells of one code point as we print it.  Control characters print as
//  "?" or (tab) " ", so they take one cell.
static size_t
s_cp_width (uint32_t cp)
{
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0))
        return 1;
    if (cp < 0x300)
        return 1;               //  fast path: Latin
    if (s_in_ranges (s_zero_width, RANGES (s_zero_width), cp))
        return 0;
    if (s_in_ranges (s_wide, RANGES (s_wide), cp))
        return 2;
    return 1;
}

//  One printable unit of text: the bytes to write for it and its cells.
//  Invalid bytes and control characters are replaced, so what we write is
//  always valid UTF-8 without controls.
typedef struct {
    size_t consumed;            //  bytes of the input
    const char *out;            //  bytes to write
    size_t out_len;
    size_t cells;
} s_unit_t;

static void
s_next_unit (const char *text, size_t size, s_unit_t *unit)
{
    uint32_t cp = 0;
    size_t length = s_decode ((const byte *) text, size, &cp);
    if (length == 0) {
        unit->consumed = 1;     //  resynchronise on the next byte
        unit->out = "?";
        unit->out_len = 1;
        unit->cells = 1;
    }
    else
    if (cp == '\t') {
        unit->consumed = 1;
        unit->out = " ";
        unit->out_len = 1;
        unit->cells = 1;
    }
    else
    if (cp < 0x20 || (cp >= 0x7F && cp < 0xA0)) {
        unit->consumed = length;
        unit->out = "?";
        unit->out_len = 1;
        unit->cells = 1;
    }
    else {
        unit->consumed = length;
        unit->out = text;
        unit->out_len = length;
        unit->cells = s_cp_width (cp);
    }
}


//  --------------------------------------------------------------------------
//  True if the bytes are well-formed UTF-8 without NUL or C0 controls other
//  than tab.  Every string a decoder reads from the wire goes through here
//  (~6 % of a bank), and most of them are ASCII (codes, ids, keys) or CJK
//  (names, reasons): eight bytes are checked at once while they are ASCII
//  and printable, two 3-byte sequences at once while they are plain CJK
//  (little-endian hosts), one sequence at a time otherwise.  The selftest
//  compares it with the plain byte-by-byte form (s_utf8_valid_simple) on
//  edge cases, CJK runs with every byte broken, and random bytes.

#define S_ONES      UINT64_C (0x0101010101010101)
#define S_HIGHS     UINT64_C (0x8080808080808080)
//  Little-endian bytes 0..5 of two 3-byte sequences: 1110xxxx 10xxxxxx
//  10xxxxxx twice; bytes 6 and 7 are not looked at
#define S_CJK2_MASK UINT64_C (0x0000C0C0F0C0C0F0)
#define S_CJK2_BITS UINT64_C (0x00008080E08080E0)
//  Bit n set: a lead E0+n is not a plain one (E0: overlongs; ED: surrogates)
#define S_CJK_BAD_LOW   0x2001u

bool
fm_utf8_valid (const char *text, size_t size)
{
    if (size > 0 && !text)
        return false;
    const byte *bytes = (const byte *) text;
    size_t pos = 0;
    while (pos < size) {
        //  Eight ASCII bytes none below 0x20: (w - 0x20 each) & ~w has a
        //  high bit set exactly when some byte is below 0x20 (w's bytes
        //  are all below 0x80 here, so no borrow crosses a byte wrongly
        //  before the first such byte); a tab falls to the byte loop
        while (size - pos >= 8) {
            uint64_t word;
            memcpy (&word, bytes + pos, 8);
            if ((word & S_HIGHS)
            ||  ((word - 0x20 * S_ONES) & ~word & S_HIGHS))
                break;
            pos += 8;
        }
        if (pos >= size)
            break;
        byte lead = bytes [pos];
        if (lead < 0x80) {
            //  DEL (7F) is allowed, as documented
            if (lead < 0x20 && lead != '\t')
                return false;
            pos++;
            continue;
        }
#if defined (__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
        //  CJK runs: two 3-byte sequences per step while both leads are
        //  E1..EF other than ED (no special second-byte range) and their
        //  continuation bytes are 80..BF; anything else falls through to
        //  the checks below
        size_t run_start = pos;
        while (size - pos >= 8) {
            uint64_t word;
            memcpy (&word, bytes + pos, 8);
            if ((word & S_CJK2_MASK) != S_CJK2_BITS
            ||  (((S_CJK_BAD_LOW >> (word & 0x0F))
               |  (S_CJK_BAD_LOW >> ((word >> 24) & 0x0F))) & 1))
                break;
            pos += 6;
        }
        if (pos != run_start)
            continue;                   //  whatever follows, from the top
#endif
        //  Common case first: a 3-byte sequence whose lead has no special
        //  second-byte range (E1..EC, EE, EF: most CJK)
        if (lead >= 0xE1 && lead <= 0xEF && lead != 0xED && size - pos >= 3
        &&  (bytes [pos + 1] & 0xC0) == 0x80 && (bytes [pos + 2] & 0xC0) == 0x80) {
            pos += 3;
            continue;
        }
        //  Multi-byte: the second byte's range excludes overlongs,
        //  surrogates and code points above U+10FFFF (RFC 3629, table 3-7)
        size_t length;
        byte low = 0x80, high = 0xBF;
        if (lead >= 0xC2 && lead <= 0xDF)
            length = 2;
        else
        if (lead >= 0xE0 && lead <= 0xEF) {
            length = 3;
            if (lead == 0xE0)
                low = 0xA0;
            else
            if (lead == 0xED)
                high = 0x9F;
        }
        else
        if (lead >= 0xF0 && lead <= 0xF4) {
            length = 4;
            if (lead == 0xF0)
                low = 0x90;
            else
            if (lead == 0xF4)
                high = 0x8F;
        }
        else
            return false;               //  80..C1, F5..FF
        if (size - pos < length
        ||  bytes [pos + 1] < low || bytes [pos + 1] > high)
            return false;
        if (length > 2 && (bytes [pos + 2] & 0xC0) != 0x80)
            return false;
        if (length > 3 && (bytes [pos + 3] & 0xC0) != 0x80)
            return false;
        pos += length;
    }
    return true;
}

//  The validator as it was before the fast path: one code point at a
//  time through s_decode.  Kept as the selftest's reference.
static bool
s_utf8_valid_simple (const char *text, size_t size)
{
    if (size > 0 && !text)
        return false;
    const byte *bytes = (const byte *) text;
    size_t pos = 0;
    while (pos < size) {
        if (bytes [pos] < 0x80) {
            if (bytes [pos] < 0x20 && bytes [pos] != '\t')
                return false;
            pos++;
            continue;
        }
        uint32_t cp;
        size_t length = s_decode (bytes + pos, size - pos, &cp);
        if (length == 0)
            return false;
        pos += length;
    }
    return true;
}


//  --------------------------------------------------------------------------
//  Display width in cells.  Invalid bytes and controls count one cell each
//  (they print as "?").

size_t
fm_text_width (const char *text)
{
    assert (text);
    size_t size = strlen (text);
    size_t cells = 0;
    size_t pos = 0;
    while (pos < size) {
        s_unit_t unit;
        s_next_unit (text + pos, size - pos, &unit);
        cells += unit.cells;
        pos += unit.consumed;
    }
    return cells;
}


//  --------------------------------------------------------------------------
//  Comma-list membership (configs and READY options carry such lists)

bool
fm_list_has (const char *list, const char *item)
{
    assert (list && item);
    size_t length = strlen (item);
    for (const char *at = list; *at; ) {
        while (*at == ' ')
            at++;
        size_t span = strcspn (at, ",");
        size_t trimmed = span;
        while (trimmed && at [trimmed - 1] == ' ')
            trimmed--;
        if (trimmed == length && memcmp (at, item, length) == 0)
            return true;
        at += span + (at [span] == ',');
    }
    return false;
}

//  --------------------------------------------------------------------------
//  Copy text into buf cut to at most cells display cells, "…" last if cut.
//  Returns the width written.

size_t
fm_text_fit (const char *text, size_t cells, char *buf, size_t size)
{
    assert (text);
    assert (buf);
    assert (size > 0);
    size_t text_size = strlen (text);
    size_t ellipsis_len = strlen (ELLIPSIS);

    //  First pass: does it all fit, in cells and in bytes?
    size_t width = fm_text_width (text);
    bool cut = width > cells;
    //  Bytes needed if not cut: replacements are never longer than the input
    if (!cut && text_size >= size)
        cut = true;             //  the buffer is the limit; still cut cleanly

    //  Room for content: one cell and 3 bytes are kept for "…" when cutting
    //  (if the buffer cannot even hold "…", we cut without it)
    bool with_ellipsis = cut && cells >= 1 && size > ellipsis_len;
    size_t cell_budget = cut ? (with_ellipsis ? cells - 1 : cells) : cells;
    size_t byte_budget = size - 1 - (with_ellipsis ? ellipsis_len : 0);

    size_t pos = 0, out = 0, used = 0;
    while (pos < text_size) {
        s_unit_t unit;
        s_next_unit (text + pos, text_size - pos, &unit);
        if (used + unit.cells > cell_budget || out + unit.out_len > byte_budget)
            break;
        memcpy (buf + out, unit.out, unit.out_len);
        out += unit.out_len;
        used += unit.cells;
        pos += unit.consumed;
    }
    if (with_ellipsis) {
        memcpy (buf + out, ELLIPSIS, ellipsis_len);
        out += ellipsis_len;
        used += 1;
    }
    buf [out] = 0;
    return used;
}


//  --------------------------------------------------------------------------
//  Tables

typedef struct {
    char *heading;              //  owned
    fm_align_t align;
    size_t max_cells;           //  0 = no max
} s_column_t;

struct _fm_table_t {
    size_t ncols;
    s_column_t *columns;        //  owned, ncols entries
    zlistx_t *rows;             //  of char ** (ncols owned strings each)
};

static void
s_row_destroy (void **item_p)
{
    char ***row_p = (char ***) item_p;
    if (*row_p) {
        //  rows are NULL-terminated so the destructor needs no count
        for (char **cell = *row_p; *cell; cell++)
            free (*cell);
        free (*row_p);
        *row_p = NULL;
    }
}


//  --------------------------------------------------------------------------
//  Create a table with ncols columns.  Returns NULL if out of memory.

fm_table_t *
fm_table_new (size_t ncols)
{
    assert (ncols > 0);
    fm_table_t *self = (fm_table_t *) calloc (1, sizeof (fm_table_t));
    if (!self)
        return NULL;
    self->ncols = ncols;
    self->columns = (s_column_t *) calloc (ncols, sizeof (s_column_t));
    self->rows = zlistx_new ();
    if (!self->columns || !self->rows) {
        fm_table_destroy (&self);
        return NULL;
    }
    zlistx_set_destructor (self->rows, s_row_destroy);
    return self;
}


//  --------------------------------------------------------------------------
//  Destroy; idempotent, nulls *self_p.

void
fm_table_destroy (fm_table_t **self_p)
{
    assert (self_p);
    fm_table_t *self = *self_p;
    if (self) {
        if (self->columns)
            for (size_t col = 0; col < self->ncols; col++)
                free (self->columns [col].heading);
        free (self->columns);
        zlistx_destroy (&self->rows);
        free (self);
        *self_p = NULL;
    }
}


//  --------------------------------------------------------------------------
//  Set heading, alignment and max width of a column.

void
fm_table_column (fm_table_t *self, size_t col, const char *heading,
                 fm_align_t align, size_t max_cells)
{
    assert (self);
    assert (col < self->ncols);
    s_column_t *column = &self->columns [col];
    free (column->heading);
    column->heading = heading ? strdup (heading) : NULL;
    column->align = align;
    column->max_cells = max_cells;
}


//  --------------------------------------------------------------------------
//  Add a row of ncols strings (copied; NULL = "").  Returns 0 or -1.

int
fm_table_row (fm_table_t *self, const char **cells)
{
    assert (self);
    assert (cells);
    char **row = (char **) calloc (self->ncols + 1, sizeof (char *));
    if (!row)
        return -1;
    for (size_t col = 0; col < self->ncols; col++) {
        row [col] = strdup (cells [col] ? cells [col] : "");
        if (!row [col]) {
            s_row_destroy ((void **) &row);
            return -1;
        }
    }
    if (!zlistx_add_end (self->rows, row)) {
        s_row_destroy ((void **) &row);
        return -1;
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  Add a row from a format of ncols tab-separated fields.  Returns 0, or -1
//  if out of memory or the text does not have exactly ncols fields (a tab
//  inside a value would shift the columns: put such values through
//  fm_table_row instead).

int
fm_table_rowf (fm_table_t *self, const char *format, ...)
{
    assert (self);
    assert (format);
    va_list args;
    va_start (args, format);
    char *line = zsys_vprintf (format, args);
    va_end (args);
    if (!line)
        return -1;
    const char **cells = (const char **) calloc (self->ncols, sizeof (char *));
    if (!cells) {
        zstr_free (&line);
        return -1;
    }
    size_t count = 0;
    char *field = line;
    while (true) {
        char *tab = strchr (field, '\t');
        if (tab)
            *tab = 0;
        if (count < self->ncols)
            cells [count] = field;
        count++;
        if (!tab)
            break;
        field = tab + 1;
    }
    int rc = count == self->ncols ? fm_table_row (self, cells) : -1;
    free (cells);
    zstr_free (&line);
    return rc;
}

//  Print one line: the cells of row (or the headings if row is NULL),
//  each fitted to its column's width and aligned, without trailing blanks
//  (a left-aligned or empty last column would leave some)
static void
s_print_line (fm_table_t *self, char **row, const size_t *widths, FILE *file)
{
    char *line = NULL;
    size_t line_size = 0;
    FILE *out = open_memstream (&line, &line_size);
    if (!out)
        return;
    for (size_t col = 0; col < self->ncols; col++) {
        const char *text = row ? row [col] : self->columns [col].heading;
        if (!text)
            text = "";
        //  The fitted text is at most width cells of at most 4 bytes each
        size_t size = widths [col] * 4 + 8;
        char *fitted = (char *) malloc (size);
        if (!fitted)
            break;
        size_t cells = fm_text_fit (text, widths [col], fitted, size);
        int pad = (int) (widths [col] > cells ? widths [col] - cells : 0);
        fputs (col ? COLUMN_GAP : "", out);
        if (self->columns [col].align == FM_ALIGN_RIGHT)
            fprintf (out, "%*s%s", pad, "", fitted);
        else
            fprintf (out, "%s%*s", fitted, pad, "");
        free (fitted);
    }
    fclose (out);
    while (line_size > 0 && line [line_size - 1] == ' ')
        line [--line_size] = 0;
    fputs (line, file);
    fputc ('\n', file);
    free (line);
}


//  --------------------------------------------------------------------------
//  Print heading, rule and rows to file.

void
fm_table_print (fm_table_t *self, FILE *file)
{
    assert (self);
    assert (file);
    //  Column widths: the widest of heading and cells, capped at max
    size_t *widths = (size_t *) calloc (self->ncols, sizeof (size_t));
    if (!widths)
        return;
    for (size_t col = 0; col < self->ncols; col++) {
        s_column_t *column = &self->columns [col];
        if (column->heading)
            widths [col] = fm_text_width (column->heading);
        for (char **row = (char **) zlistx_first (self->rows); row;
             row = (char **) zlistx_next (self->rows)) {
            size_t width = fm_text_width (row [col]);
            if (width > widths [col])
                widths [col] = width;
        }
        if (column->max_cells && widths [col] > column->max_cells)
            widths [col] = column->max_cells;
    }
    //  Heading and rule, then the rows
    s_print_line (self, NULL, widths, file);
    for (size_t col = 0; col < self->ncols; col++) {
        fputs (col ? COLUMN_GAP : "", file);
        for (size_t cell = 0; cell < widths [col]; cell++)
            fputc ('-', file);
    }
    fputc ('\n', file);
    for (char **row = (char **) zlistx_first (self->rows); row;
         row = (char **) zlistx_next (self->rows))
        s_print_line (self, row, widths, file);
    free (widths);
}


//  --------------------------------------------------------------------------
//  Selftest

//  Check a range table is sorted, non-overlapping, and well-formed
static void
s_check_ranges (const s_range_t *table, size_t count)
{
    for (size_t i = 0; i < count; i++) {
        assert (table [i].first <= table [i].last);
        assert (table [i].last <= 0x10FFFF);
        if (i > 0)
            assert (table [i - 1].last < table [i].first);
    }
}

//  Print a table into memory; returns the text, caller frees
static char *
s_table_text (fm_table_t *table)
{
    char *text = NULL;
    size_t size = 0;
    FILE *file = open_memstream (&text, &size);
    assert (file);
    fm_table_print (table, file);
    fclose (file);
    return text;
}

void
fm_text_test (bool verbose)
{
    s_check_ranges (s_zero_width, RANGES (s_zero_width));
    s_check_ranges (s_wide, RANGES (s_wide));

    //  Widths
    assert (fm_text_width ("") == 0);
    assert (fm_text_width ("abc") == 3);
    assert (fm_text_width ("中文") == 4);
    assert (fm_text_width ("重庆江北区abc") == 13);
    assert (fm_text_width ("网格e贷") == 7);
    assert (fm_text_width ("党建增信(A级)") == 13);
    assert (fm_text_width ("（全角）") == 8);         //  fullwidth parentheses
    assert (fm_text_width ("。、「」") == 8);          //  CJK punctuation
    assert (fm_text_width ("ＡＢ") == 4);              //  fullwidth Latin
    assert (fm_text_width ("￥100") == 5);
    assert (fm_text_width ("한국") == 4);              //  Hangul
    assert (fm_text_width ("カナ") == 4);
    assert (fm_text_width ("e\xCC\x81") == 1);         //  e + combining acute
    assert (fm_text_width ("a\xE2\x80\x8B" "b") == 2); //  zero-width space
    assert (fm_text_width ("\xF0\x9F\x98\x80") == 2);  //  U+1F600 emoji
    assert (fm_text_width ("\xF0\xA0\x80\x80") == 2);  //  U+20000 CJK ext B
    assert (fm_text_width (ELLIPSIS) == 1);
    assert (fm_text_width ("é") == 1);                 //  precomposed
    assert (fm_text_width ("a\tb") == 3);              //  printed as a space
    assert (fm_text_width ("\xFF" "ab") == 3);         //  invalid byte = "?"

    //  Validation: good text
    const char *good [] = {
        "", "plain ASCII", "重庆市江北区观音桥街道", "tab\tok", "DEL\x7F ok",
        "\xC2\x80", "\xDF\xBF", "\xE0\xA0\x80", "\xED\x9F\xBF", "\xEE\x80\x80",
        "\xEF\xBF\xBF", "\xF0\x90\x80\x80", "\xF4\x8F\xBF\xBF", "€£¥…",
        NULL
    };
    for (int i = 0; good [i]; i++) {
        if (verbose)
            printf ("   valid: %d\n", i);
        assert (fm_utf8_valid (good [i], strlen (good [i])));
    }
    //  Bad text: each case alone and embedded in valid text
    const char *bad [] = {
        "\xC0\x80",                     //  overlong NUL
        "\xC1\xBF",                     //  overlong
        "\xE0\x80\xAF",                 //  overlong '/'
        "\xE0\x9F\xBF",                 //  overlong
        "\xF0\x8F\xBF\xBF",             //  overlong
        "\xED\xA0\x80",                 //  surrogate D800
        "\xED\xBF\xBF",                 //  surrogate DFFF
        "\xF4\x90\x80\x80",             //  U+110000
        "\xF5\x80\x80\x80",
        "\xFF", "\xFE",
        "\x80",                         //  lone continuation
        "\xBF\xBF",
        "\xC3",                         //  truncated 2-byte
        "\xE4\xB8",                     //  truncated 中
        "\xF0\x9F\x98",                 //  truncated emoji
        "\xE4\x41\xAD",                 //  bad continuation
        "\x01", "\x1B[31m", "\n", "\r", //  C0 controls
        NULL
    };
    for (int i = 0; bad [i]; i++) {
        if (verbose)
            printf ("   invalid: %d\n", i);
        assert (!fm_utf8_valid (bad [i], strlen (bad [i])));
        char *embedded = zsys_sprintf ("中%s文", bad [i]);
        assert (!fm_utf8_valid (embedded, strlen (embedded)));
        //  Whatever comes in, what fm_text_fit writes is valid
        char fitted [64];
        fm_text_fit (embedded, 20, fitted, sizeof fitted);
        assert (fm_utf8_valid (fitted, strlen (fitted)));
        zstr_free (&embedded);
    }
    //  NUL inside the given size is refused
    assert (!fm_utf8_valid ("ab\0cd", 5));
    assert (fm_utf8_valid ("ab\0cd", 2));
    //  A sequence cut by the size limit is truncated, hence invalid
    assert (!fm_utf8_valid ("中", 2));
    assert (fm_utf8_valid ("中", 3));
    //  The 8-bytes-at-a-time validator equals the byte-by-byte one: every
    //  2-byte input; interesting 3- and 4-byte ones at every offset of an
    //  ASCII run (so the word loop stops before, on and after them); and
    //  random mixes of ASCII, tabs, controls, CJK and broken sequences
    byte buf [64];
    for (unsigned pair = 0; pair < 65536; pair++) {
        buf [0] = (byte) (pair >> 8);
        buf [1] = (byte) pair;
        assert (fm_utf8_valid ((char *) buf, 2) == s_utf8_valid_simple ((char *) buf, 2));
    }
    const byte edge [] = { 0x00, 0x09, 0x0A, 0x1F, 0x20, 0x41, 0x7E, 0x7F, 0x80, 0x8F,
                           0x90, 0x9F, 0xA0, 0xBF, 0xC0, 0xC1, 0xC2, 0xDF, 0xE0, 0xE4,
                           0xED, 0xEF, 0xF0, 0xF4, 0xF5, 0xFF };
    size_t edges = sizeof (edge);
    for (size_t a = 0; a < edges; a++)
    for (size_t b = 0; b < edges; b++)
    for (size_t c = 0; c < edges; c++)
    for (size_t d = 0; d < edges; d += 5)
    for (size_t at = 0; at < 18; at += 3) {
        memset (buf, 'a', sizeof (buf));
        buf [at] = edge [a];
        buf [at + 1] = edge [b];
        buf [at + 2] = edge [c];
        buf [at + 3] = edge [d];
        for (size_t size = at + 1; size <= at + 4; size++)
            assert (fm_utf8_valid ((char *) buf, size)
                 == s_utf8_valid_simple ((char *) buf, size));
        assert (fm_utf8_valid ((char *) buf, 40) == s_utf8_valid_simple ((char *) buf, 40));
    }
    //  A run of CJK (two sequences checked per step) with each byte in
    //  turn replaced by each edge byte, at every alignment and cut
    const char *run = "网格中文重庆江北";          //  8 x 3 bytes
    size_t run_len = strlen (run);
    for (size_t at = 0; at < 8; at++)
    for (size_t hit = 0; hit < run_len; hit++)
    for (size_t e = 0; e < edges; e++) {
        memset (buf, 'a', sizeof (buf));
        memcpy (buf + at, run, run_len);
        buf [at + hit] = edge [e];
        for (size_t size = at + hit; size <= at + run_len + 2; size++)
            assert (fm_utf8_valid ((char *) buf, size)
                 == s_utf8_valid_simple ((char *) buf, size));
    }
    const char *pieces [] = { "a", "Zz09", "\t", "\x01", "\x7F", "中", "网格e贷", "\xE4\xB8",
                              "\x80", "\xC3", "\xF0\x9F\x98\x80", "\xED\xA0\x80", " ",
                              "abcdefgh", "\xF4\x90\x80\x80", "\xC0\x80",
                              "\xE0\xA0\x80", "\xE0\x9F\xBF", "\xED\x9F\xBF", "\xEF\xBF\xBF",
                              "\xE4\x41\xAD", "\xE4\xB8\xC0", "\xE1\x80\x80", NULL };
    size_t piece_count = 0;
    while (pieces [piece_count])
        piece_count++;
    uint64_t state = 20261128;
    size_t valid = 0;
    for (int round = 0; round < 20000; round++) {
        size_t size = 0;
        while (size < 48) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            //  Mostly valid pieces, so that long valid runs occur
            size_t pick = (state >> 33) % (piece_count * 4);
            const char *piece = pick < piece_count? pieces [pick]
                              : pick % 3? "abcdefgh": "中";
            size_t length = strlen (piece);
            if (size + length > 48)
                break;
            memcpy (buf + size, piece, length);
            size += length;
        }
        size_t offset = (state >> 20) % 4;
        bool fast = fm_utf8_valid ((char *) buf + offset, size - offset);
        assert (fast == s_utf8_valid_simple ((char *) buf + offset, size - offset));
        valid += fast;
    }
    assert (valid > 100 && valid < 20000);    //  both outcomes were exercised

    //  Fitting: every cut width on a mixed string never splits a sequence,
    //  never exceeds the cells, keeps a prefix, ends with … when cut
    const char *mixed = "江北区abc网格e贷e\xCC\x81" "😀测试。x";
    size_t full = fm_text_width (mixed);
    assert (full == 26);
    for (size_t cells = 0; cells <= full + 2; cells++) {
        char buf [128];
        size_t width = fm_text_fit (mixed, cells, buf, sizeof buf);
        if (verbose)
            printf ("   fit %2zu -> %2zu '%s'\n", cells, width, buf);
        assert (fm_utf8_valid (buf, strlen (buf)));
        assert (width == fm_text_width (buf));
        assert (width <= cells);
        if (cells >= full) {
            assert (streq (buf, mixed));
            assert (width == full);
        }
        else
        if (cells == 0)
            assert (streq (buf, ""));
        else {
            size_t len = strlen (buf);
            size_t ell = strlen (ELLIPSIS);
            assert (len >= ell);
            assert (streq (buf + len - ell, ELLIPSIS));
            assert (memcmp (buf, mixed, len - ell) == 0);
            //  Only a wide character that does not fit leaves a cell free
            assert (width + 1 >= cells);
        }
    }
    //  Every buffer size: never overflows, always valid, NUL-terminated
    for (size_t size = 1; size < strlen (mixed) + 4; size++) {
        char *buf = (char *) malloc (size);
        assert (buf);
        size_t width = fm_text_fit (mixed, 100, buf, size);
        assert (strlen (buf) < size);
        assert (fm_utf8_valid (buf, strlen (buf)));
        assert (width == fm_text_width (buf));
        free (buf);
    }
    //  Controls never reach the terminal
    char safe [32];
    fm_text_fit ("a\x1B[2Jb\tc", 20, safe, sizeof safe);
    assert (streq (safe, "a?[2Jb c"));

    //  Table: Chinese names left, numbers right: every line (heading and
    //  rule included) has its numbers ending at the same display column
    fm_table_t *table = fm_table_new (2);
    assert (table);
    fm_table_column (table, 0, "企业名称", FM_ALIGN_LEFT, 0);
    fm_table_column (table, 1, "金额", FM_ALIGN_RIGHT, 0);
    assert (fm_table_rowf (table, "%s\t%s", "重庆江北嘴金融科技有限公司", "300万元") == 0);
    assert (fm_table_rowf (table, "%s\t%s", "ABC Ltd", "4.45亿元") == 0);
    assert (fm_table_rowf (table, "%s\t%d", "观音桥商贸", 5) == 0);
    assert (fm_table_rowf (table, "%s\t%s", "😀e\xCC\x81", "1") == 0);
    const char *row [] = { "重庆农村商业银行（江北支行）", "9,999.99万元" };
    assert (fm_table_row (table, row) == 0);
    //  Wrong field counts are refused
    assert (fm_table_rowf (table, "%s", "a") == -1);
    assert (fm_table_rowf (table, "a\tb\tc") == -1);
    char *text = s_table_text (table);
    if (verbose)
        printf ("%s", text);
    size_t lines = 0;
    for (char *line = strtok (text, "\n"); line; line = strtok (NULL, "\n")) {
        //  28 (longest name) + 2 + 12 (9,999.99万元)
        assert (fm_text_width (line) == 42);
        assert (fm_utf8_valid (line, strlen (line)));
        lines++;
    }
    assert (lines == 7);
    zstr_free (&text);
    fm_table_destroy (&table);

    //  Max width cuts with an ellipsis; a left-aligned last column leaves
    //  no trailing blanks; a NULL cell prints empty
    table = fm_table_new (3);
    assert (table);
    fm_table_column (table, 0, "企业名称", FM_ALIGN_LEFT, 10);
    fm_table_column (table, 1, "金额", FM_ALIGN_RIGHT, 0);
    fm_table_column (table, 2, "备注", FM_ALIGN_LEFT, 0);
    const char *row1 [] = { "重庆江北嘴金融科技有限公司", "300万元", "首贷" };
    const char *row2 [] = { "ABC", "5元", NULL };
    assert (fm_table_row (table, row1) == 0);
    assert (fm_table_row (table, row2) == 0);
    text = s_table_text (table);
    if (verbose)
        printf ("%s", text);
    assert (streq (text,
        "企业名称       金额  备注\n"
        "----------  -------  ----\n"
        "重庆江北…   300万元  首贷\n"
        "ABC             5元\n"));
    zstr_free (&text);
    fm_table_destroy (&table);
    fm_table_destroy (&table);
    assert (table == NULL);

    //  Comma lists
    assert (fm_list_has ("a,b,c", "a"));
    assert (fm_list_has ("a, b ,c", "b"));
    assert (fm_list_has ("a,b,c", "c"));
    assert (!fm_list_has ("ab,c", "a"));
    assert (!fm_list_has ("a,b", "ab"));
    assert (!fm_list_has ("", "a"));
    assert (fm_list_has ("GYQ,DSB", "DSB"));
    assert (!fm_list_has ("GYQ,DSB", "dsb"));
}
