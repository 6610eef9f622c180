/*  =========================================================================
    fm_money - money and rates: exact parsing and formatting

    Amounts are int64 fen (1 yuan = 100 fen), rates int32 basis points.
    Parsing reads the decimal text digit by digit into an integer number
    of fen, so "4.45亿" is exactly 44,500,000,000 fen; formatting divides
    with integer arithmetic and truncates toward zero, so a display never
    shows an amount larger than the real one ("9,999.99万元" for
    99,999,999.99 yuan, not "1亿元").  There is no floating point in this
    file, on purpose.
    =========================================================================
*/

#include <czmq.h>
#include "fm_money.h"

#define FEN_PER_YUAN    INT64_C(100)
#define FEN_PER_WAN     INT64_C(1000000)        //  1万 yuan
#define FEN_PER_YI      INT64_C(10000000000)    //  1亿 yuan

//  Suffixes that scale the number: fen per unit, and how many decimals stay
//  whole fen (万 = 10^4 yuan allows 6, 亿 = 10^8 yuan allows 10)
typedef struct {
    const char *text;
    int64_t fen;
    int decimals;
} s_suffix_t;

static const s_suffix_t s_suffixes [] = {
    { "万", FEN_PER_WAN, 6 },
    { "亿", FEN_PER_YI, 10 },
    { "wan", FEN_PER_WAN, 6 },
    { "w", FEN_PER_WAN, 6 },
    { "yi", FEN_PER_YI, 10 },
    { "", FEN_PER_YUAN, 2 }
};

//  Append decimal digit to *value (fen in the making); false on overflow
static bool
s_push_digit (int64_t *value, int digit)
{
    if (*value > (INT64_MAX - digit) / 10)
        return false;
    *value = *value * 10 + digit;
    return true;
}


//  --------------------------------------------------------------------------
//  Parse a yuan amount into fen.  Returns 0, or -1 if the text is not an
//  amount, is negative, or overflows.

int
fm_money_parse (const char *text, int64_t *fen)
{
    assert (fen);
    if (!text)
        return -1;
    //  Split number and suffix: the number is [0-9,.]*, the rest must be
    //  one of the suffixes, optionally followed by 元
    size_t number_len = strspn (text, "0123456789,.");
    if (number_len == 0)
        return -1;              //  "", "-5", "abc", "+5"
    const char *rest = text + number_len;
    const s_suffix_t *suffix = NULL;
    for (size_t i = 0; i < sizeof s_suffixes / sizeof s_suffixes [0]; i++) {
        size_t len = strlen (s_suffixes [i].text);
        if (strncasecmp (rest, s_suffixes [i].text, len) == 0
        && (streq (rest + len, "") || streq (rest + len, "元"))) {
            suffix = &s_suffixes [i];
            break;
        }
    }
    if (!suffix)
        return -1;              //  "1e5", "5元x", "5 万"

    //  Integer part: digits, with optional thousands separators that must
    //  group exactly: "3,000,000" yes, "30,00" and ",300" no
    int64_t units = 0;          //  the number without its decimal point
    size_t pos = 0;
    size_t group = 0;           //  digits since the last comma
    bool commas = false;
    while (pos < number_len && text [pos] != '.') {
        char c = text [pos++];
        if (c == ',') {
            if (group == 0 || (commas && group != 3) || (!commas && group > 3))
                return -1;
            commas = true;
            group = 0;
        }
        else {
            if (!s_push_digit (&units, c - '0'))
                return -1;
            group++;
        }
    }
    if (group == 0 || (commas && group != 3))
        return -1;              //  "", "1,", "1,00"

    //  Decimals: at least one digit after a point, at most as many as stay
    //  whole fen for the unit; pad the rest with zeros
    int decimals = 0;
    if (pos < number_len) {
        pos++;                  //  the point
        if (pos == number_len)
            return -1;          //  "5."
        while (pos < number_len) {
            char c = text [pos++];
            if (c < '0' || c > '9')
                return -1;      //  "1.2.3", "1.2,3"
            if (++decimals > suffix->decimals)
                return -1;      //  "1.234" yuan is not whole fen
            if (!s_push_digit (&units, c - '0'))
                return -1;
        }
    }
    //  units is the amount in (unit / 10^decimals); scale to fen exactly:
    //  fen = units * unit_fen / 10^decimals, where unit_fen is divisible by
    //  10^decimals because decimals <= suffix->decimals
    int64_t scale = suffix->fen;
    for (int i = 0; i < decimals; i++)
        scale /= 10;
    if (units > 0 && units > INT64_MAX / scale)
        return -1;
    *fen = units * scale;
    return 0;
}


//  Write value in decimal into buf (>= 20 bytes), digit by digit: no
//  snprintf, which cost fm_money_cn ~4,000 instructions a call (the bank
//  writes two amounts into each amount reason).  Returns the length; buf
//  is not terminated.
static size_t
s_write_digits (uint64_t value, char *buf)
{
    char digits [20];           //  UINT64_MAX has 20 digits
    size_t count = 0;
    do {
        digits [sizeof digits - 1 - count++] = (char) ('0' + value % 10);
        value /= 10;
    } while (value);
    memcpy (buf, digits + sizeof digits - count, count);
    return count;
}

//  Write magnitude with thousands separators into buf (>= 26 bytes).
//  Returns the length; buf is not terminated.
static size_t
s_write_grouped (uint64_t magnitude, char *buf)
{
    char digits [20];
    size_t count = s_write_digits (magnitude, digits);
    size_t len = 0;
    for (size_t index = 0; index < count; index++) {
        if (index > 0 && (count - index) % 3 == 0)
            buf [len++] = ',';
        buf [len++] = digits [index];
    }
    return len;
}

//  Append the len bytes of text at buf + *len_p
static void
s_write (char *buf, size_t *len_p, const char *text, size_t len)
{
    memcpy (buf + *len_p, text, len);
    *len_p += len;
}

//  Copy the len bytes of text into buf (size bytes) and terminate it,
//  truncated if need be at a character boundary (the unit names are
//  UTF-8); returns buf
static char *
s_copy_out (const char *text, size_t len, char *buf, size_t size)
{
    if (size == 0)
        return buf;
    if (len >= size) {
        len = size - 1;
        while (len > 0 && ((byte) text [len] & 0xC0) == 0x80)
            len--;              //  never split a sequence
    }
    memcpy (buf, text, len);
    buf [len] = 0;
    return buf;
}

//  Magnitude of a possibly negative int64 (INT64_MIN included)
static uint64_t
s_magnitude (int64_t value)
{
    return value < 0 ? (uint64_t) 0 - (uint64_t) value : (uint64_t) value;
}


//  --------------------------------------------------------------------------
//  Plain yuan with separators and 2 decimals.  Returns buf.

char *
fm_money_yuan (int64_t fen, char *buf, size_t size)
{
    assert (buf);
    uint64_t magnitude = s_magnitude (fen);
    char text [48];
    size_t len = 0;
    if (fen < 0)
        text [len++] = '-';
    len += s_write_grouped (magnitude / 100, text + len);
    text [len++] = '.';
    text [len++] = (char) ('0' + magnitude % 100 / 10);
    text [len++] = (char) ('0' + magnitude % 10);
    return s_copy_out (text, len, buf, size);
}


//  Scaled form shared by the Chinese and English formats: magnitude in
//  units of the largest of the (ascending) scales it reaches, 2 decimals
//  for 万/亿 (trailing zeros dropped), fen decimals for plain yuan.
typedef struct {
    uint64_t fen;               //  fen per unit
    const char *name;           //  written after the number
} s_scale_t;

static char *
s_money_scaled (int64_t fen, const char *prefix, const s_scale_t *scales,
                size_t count, char *buf, size_t size)
{
    uint64_t magnitude = s_magnitude (fen);
    const s_scale_t *scale = &scales [0];
    for (size_t i = 1; i < count; i++)
        if (magnitude >= scales [i].fen)
            scale = &scales [i];
    uint64_t unit = scale->fen;
    //  Two decimals of the unit, truncated toward zero
    uint64_t whole = magnitude / unit;
    unsigned hundredths = (unsigned) (magnitude % unit / (unit / 100));
    //  At most "-" + "¥" + 26 bytes of digits + ".99" + " billion": 40 bytes
    char text [64];
    size_t len = 0;
    if (fen < 0)
        text [len++] = '-';
    s_write (text, &len, prefix, strlen (prefix));
    len += s_write_grouped (whole, text + len);
    if (hundredths) {
        text [len++] = '.';
        text [len++] = (char) ('0' + hundredths / 10);
        //  Trailing zeros dropped for scaled units, kept for yuan (fen)
        if (unit == FEN_PER_YUAN || hundredths % 10)
            text [len++] = (char) ('0' + hundredths % 10);
    }
    s_write (text, &len, scale->name, strlen (scale->name));
    return s_copy_out (text, len, buf, size);
}


//  --------------------------------------------------------------------------
//  Chinese scaled form ("9,999元", "9,999.99万元", "4.45亿元").  Returns buf.

char *
fm_money_cn (int64_t fen, char *buf, size_t size)
{
    assert (buf);
    static const s_scale_t scales [] = {
        { FEN_PER_YUAN, "元" }, { FEN_PER_WAN, "万元" }, { FEN_PER_YI, "亿元" }
    };
    return s_money_scaled (fen, "", scales, 3, buf, size);
}


//  --------------------------------------------------------------------------
//  English scaled form ("¥999,999.50", "¥4.45 million", "¥17.2 billion").
//  Returns buf.

char *
fm_money_en (int64_t fen, char *buf, size_t size)
{
    assert (buf);
    static const s_scale_t scales [] = {
        { FEN_PER_YUAN, "" },
        { FEN_PER_YUAN * 1000000, " million" },
        { FEN_PER_YUAN * 1000000000, " billion" }
    };
    return s_money_scaled (fen, "¥", scales, 3, buf, size);
}


//  --------------------------------------------------------------------------
//  Rate in bp as a percentage: 345 -> "3.45%".  Returns buf.

char *
fm_rate_pct (int32_t bp, char *buf, size_t size)
{
    assert (buf);
    uint64_t magnitude = s_magnitude (bp);
    char text [32];
    size_t len = 0;
    if (bp < 0)
        text [len++] = '-';
    len += s_write_digits (magnitude / 100, text + len);    //  no separators
    text [len++] = '.';
    text [len++] = (char) ('0' + magnitude % 100 / 10);
    text [len++] = (char) ('0' + magnitude % 10);
    text [len++] = '%';
    return s_copy_out (text, len, buf, size);
}


//  --------------------------------------------------------------------------
//  Selftest

//  The formatters as they were written with snprintf, kept as the
//  reference the digit writers above must match byte for byte

static size_t
s_ref_grouped (uint64_t magnitude, char *buf)
{
    char digits [21];
    int count = snprintf (digits, sizeof digits, "%" PRIu64, magnitude);
    size_t len = 0;
    for (int i = 0; i < count; i++) {
        if (i > 0 && (count - i) % 3 == 0)
            buf [len++] = ',';
        buf [len++] = digits [i];
    }
    buf [len] = 0;
    return len;
}

static char *
s_ref_copy_out (const char *text, char *buf, size_t size)
{
    return s_copy_out (text, strlen (text), buf, size);
}

static char *
s_ref_yuan (int64_t fen, char *buf, size_t size)
{
    uint64_t magnitude = s_magnitude (fen);
    char grouped [32];
    s_ref_grouped (magnitude / 100, grouped);
    char text [48];
    snprintf (text, sizeof text, "%s%s.%02u", fen < 0 ? "-" : "", grouped,
              (unsigned) (magnitude % 100));
    return s_ref_copy_out (text, buf, size);
}

static char *
s_ref_scaled (int64_t fen, const char *prefix, const s_scale_t *scales,
              size_t count, char *buf, size_t size)
{
    uint64_t magnitude = s_magnitude (fen);
    const char *sign = fen < 0 ? "-" : "";
    const s_scale_t *scale = &scales [0];
    for (size_t i = 1; i < count; i++)
        if (magnitude >= scales [i].fen)
            scale = &scales [i];
    uint64_t unit = scale->fen;
    uint64_t whole = magnitude / unit;
    uint64_t hundredths = magnitude % unit / (unit / 100);
    char grouped [32];
    s_ref_grouped (whole, grouped);
    char decimals [16] = "";
    if (hundredths) {
        if (unit == FEN_PER_YUAN)
            snprintf (decimals, sizeof decimals, ".%02u", (unsigned) hundredths);
        else
        if (hundredths % 10)
            snprintf (decimals, sizeof decimals, ".%02u", (unsigned) hundredths);
        else
            snprintf (decimals, sizeof decimals, ".%u", (unsigned) (hundredths / 10));
    }
    char text [64];
    snprintf (text, sizeof text, "%s%s%s%s%s", sign, prefix, grouped, decimals,
              scale->name);
    return s_ref_copy_out (text, buf, size);
}

static char *
s_ref_cn (int64_t fen, char *buf, size_t size)
{
    static const s_scale_t scales [] = {
        { FEN_PER_YUAN, "元" }, { FEN_PER_WAN, "万元" }, { FEN_PER_YI, "亿元" }
    };
    return s_ref_scaled (fen, "", scales, 3, buf, size);
}

static char *
s_ref_en (int64_t fen, char *buf, size_t size)
{
    static const s_scale_t scales [] = {
        { FEN_PER_YUAN, "" },
        { FEN_PER_YUAN * 1000000, " million" },
        { FEN_PER_YUAN * 1000000000, " billion" }
    };
    return s_ref_scaled (fen, "¥", scales, 3, buf, size);
}

static char *
s_ref_pct (int32_t bp, char *buf, size_t size)
{
    uint64_t magnitude = s_magnitude (bp);
    char text [32];
    snprintf (text, sizeof text, "%s%" PRIu64 ".%02u%%", bp < 0 ? "-" : "",
              magnitude / 100, (unsigned) (magnitude % 100));
    return s_ref_copy_out (text, buf, size);
}

//  Every formatter against its reference for fen (and bp, when it fits
//  int32), into a buffer of size bytes; returns the number of formats
//  compared.  Prints and asserts on the first difference.
static size_t
s_compare_ref (int64_t fen, size_t size)
{
    typedef char *(format_fn) (int64_t, char *, size_t);
    static format_fn *const ours [] = { fm_money_cn, fm_money_en, fm_money_yuan };
    static format_fn *const refs [] = { s_ref_cn, s_ref_en, s_ref_yuan };
    static const char *names [] = { "cn", "en", "yuan" };
    char buf [64], ref [64];
    assert (size <= sizeof buf);
    size_t compared = 0;
    for (size_t which = 0; which < 4; which++) {
        if (which == 3 && (fen < INT32_MIN || fen > INT32_MAX))
            break;
        //  Fill both with the same garbage: bytes past the text matter not,
        //  but the terminator and everything before it must be the same
        memset (buf, 0x5A, sizeof buf);
        memset (ref, 0x5A, sizeof ref);
        if (which == 3) {
            fm_rate_pct ((int32_t) fen, buf, size);
            s_ref_pct ((int32_t) fen, ref, size);
        }
        else {
            ours [which] (fen, buf, size);
            refs [which] (fen, ref, size);
        }
        if (size > 0 ? strcmp (buf, ref) != 0 : buf [0] != 0x5A) {
            printf ("   %s %" PRId64 " size %zu: '%s', reference '%s'\n",
                    which == 3? "pct": names [which], fen, size, buf, ref);
            assert (false);
        }
        compared++;
    }
    return compared;
}

//  The digit writers against the snprintf reference: every amount up to
//  20,000 fen and its negative, every power of ten and its neighbours
//  (each unit boundary, with 万, 亿, million and billion), the int64 ends,
//  100,000 random amounts of every magnitude, and every buffer size up to
//  48 for a few.  Returns the number of formats compared.
static size_t
s_test_against_ref (void)
{
    size_t compared = 0;
    for (int64_t fen = 0; fen <= 20000; fen++)
        compared += s_compare_ref (fen, 48) + s_compare_ref (-fen, 48);
    for (int64_t power = 1; ; power *= 10) {
        for (int64_t delta = -300; delta <= 300; delta++)
            for (int64_t scale = 1; scale <= 9; scale += 4) {
                //  1, 5 and 9 times the power, each +- 300 fen
                if (power > (INT64_MAX - 300) / scale)
                    continue;
                int64_t fen = power * scale + delta;
                compared += s_compare_ref (fen, 48) + s_compare_ref (-fen, 48);
            }
        if (power > INT64_MAX / 10)
            break;              //  10^18 done
    }
    for (int64_t delta = 0; delta <= 1000; delta++)
        compared += s_compare_ref (INT64_MAX - delta, 48)
                  + s_compare_ref (INT64_MIN + delta, 48);
    //  xorshift64: the same sequence on every run
    uint64_t state = UINT64_C (0x9E3779B97F4A7C15);
    for (int round = 0; round < 100000; round++) {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        int64_t fen = (int64_t) (state >> (state % 64));
        compared += s_compare_ref (round % 2? -fen: fen, 48);
    }
    int64_t truncated [] = { 0, 1, -1, 999999, 1000000, 9999999999, 44500000000,
                             -44500000000, INT64_MAX, INT64_MIN, 99999999 };
    for (size_t index = 0; index < sizeof truncated / sizeof truncated [0]; index++)
        for (size_t size = 0; size <= 48; size++)
            compared += s_compare_ref (truncated [index], size);
    return compared;
}

static void
s_check_cn (int64_t fen, const char *expected, bool verbose)
{
    char buf [48];
    fm_money_cn (fen, buf, sizeof buf);
    if (verbose || !streq (buf, expected))
        printf ("   cn %" PRId64 " -> '%s' (expected '%s')\n", fen, buf, expected);
    assert (streq (buf, expected));
}

static void
s_check_en (int64_t fen, const char *expected, bool verbose)
{
    char buf [48];
    fm_money_en (fen, buf, sizeof buf);
    if (verbose || !streq (buf, expected))
        printf ("   en %" PRId64 " -> '%s' (expected '%s')\n", fen, buf, expected);
    assert (streq (buf, expected));
}

static void
s_check_parse (const char *text, int64_t expected, bool verbose)
{
    int64_t fen = -1;
    int rc = fm_money_parse (text, &fen);
    if (verbose || rc != 0 || fen != expected)
        printf ("   parse '%s' -> rc=%d %" PRId64 " (expected %" PRId64 ")\n",
                text, rc, fen, expected);
    assert (rc == 0);
    assert (fen == expected);
}

static void
s_check_reject (const char *text, bool verbose)
{
    int64_t fen = 12345;
    int rc = fm_money_parse (text, &fen);
    if (verbose || rc != -1)
        printf ("   reject '%s' -> rc=%d\n", text, rc);
    assert (rc == -1);
    assert (fen == 12345);      //  untouched on failure
}

void
fm_money_test (bool verbose)
{
    //  Byte for byte the output of the snprintf formatters they replace
    size_t compared = s_test_against_ref ();
    if (verbose)
        printf ("   %zu formats identical to the snprintf reference\n", compared);
    assert (compared > 500000);

    //  Chinese scaled form at every boundary
    s_check_cn (0, "0元", verbose);
    s_check_cn (1, "0.01元", verbose);
    s_check_cn (999950, "9,999.50元", verbose);
    s_check_cn (999900, "9,999元", verbose);
    s_check_cn (999999, "9,999.99元", verbose);
    s_check_cn (1000000, "1万元", verbose);
    s_check_cn (1000099, "1万元", verbose);          //  truncated, not rounded
    s_check_cn (1050000, "1.05万元", verbose);
    s_check_cn (1500000, "1.5万元", verbose);
    s_check_cn (300000000, "300万元", verbose);
    s_check_cn (9999990000, "9,999.99万元", verbose);
    s_check_cn (9999999999, "9,999.99万元", verbose);  //  never "1亿元"
    s_check_cn (10000000000, "1亿元", verbose);
    s_check_cn (44500000000, "4.45亿元", verbose);
    s_check_cn (44999999999, "4.49亿元", verbose);
    s_check_cn (45000000000, "4.5亿元", verbose);
    s_check_cn (1720000000000, "172亿元", verbose);
    s_check_cn (10000000000000, "1,000亿元", verbose);
    s_check_cn (-44500000000, "-4.45亿元", verbose);
    s_check_cn (INT64_MAX, "922,337,203.68亿元", verbose);
    char buf [48];
    fm_money_cn (INT64_MIN, buf, sizeof buf);
    assert (streq (buf, "-922,337,203.68亿元"));

    //  English scaled form at every boundary: the same amounts as above,
    //  and the million / billion ones
    s_check_en (0, "¥0", verbose);
    s_check_en (1, "¥0.01", verbose);
    s_check_en (999900, "¥9,999", verbose);
    s_check_en (1000000, "¥10,000", verbose);
    s_check_en (9999990000, "¥99.99 million", verbose);   //  9,999.99万
    s_check_en (10000000000, "¥100 million", verbose);    //  1亿
    s_check_en (99999950, "¥999,999.50", verbose);
    s_check_en (99999999, "¥999,999.99", verbose);
    s_check_en (100000000, "¥1 million", verbose);
    s_check_en (100000099, "¥1 million", verbose);      //  truncated
    s_check_en (300000000, "¥3 million", verbose);
    s_check_en (445000000, "¥4.45 million", verbose);
    s_check_en (44500000000, "¥445 million", verbose);
    s_check_en (99999999999, "¥999.99 million", verbose);  //  never "¥1 billion"
    s_check_en (100000000000, "¥1 billion", verbose);
    s_check_en (1720000000000, "¥17.2 billion", verbose);
    s_check_en (100000000000000, "¥1,000 billion", verbose);
    s_check_en (-44500000000, "-¥445 million", verbose);
    s_check_en (INT64_MAX, "¥92,233,720.36 billion", verbose);
    fm_money_en (INT64_MIN, buf, sizeof buf);
    assert (streq (buf, "-¥92,233,720.36 billion"));

    //  Plain yuan
    assert (streq (fm_money_yuan (300000050, buf, sizeof buf), "3,000,000.50"));
    assert (streq (fm_money_yuan (0, buf, sizeof buf), "0.00"));
    assert (streq (fm_money_yuan (7, buf, sizeof buf), "0.07"));
    assert (streq (fm_money_yuan (100000, buf, sizeof buf), "1,000.00"));
    assert (streq (fm_money_yuan (99999, buf, sizeof buf), "999.99"));
    assert (streq (fm_money_yuan (-123456, buf, sizeof buf), "-1,234.56"));
    assert (streq (fm_money_yuan (INT64_MAX, buf, sizeof buf),
                   "92,233,720,368,547,758.07"));
    //  A small buffer truncates, never overflows
    char small [6];
    fm_money_yuan (300000050, small, sizeof small);
    assert (streq (small, "3,000"));

    //  Rates
    assert (streq (fm_rate_pct (345, buf, sizeof buf), "3.45%"));
    assert (streq (fm_rate_pct (0, buf, sizeof buf), "0.00%"));
    assert (streq (fm_rate_pct (5, buf, sizeof buf), "0.05%"));
    assert (streq (fm_rate_pct (10000, buf, sizeof buf), "100.00%"));
    assert (streq (fm_rate_pct (-30, buf, sizeof buf), "-0.30%"));
    assert (streq (fm_rate_pct (INT32_MIN, buf, sizeof buf), "-21474836.48%"));

    //  Parsing
    s_check_parse ("3000000", 300000000, verbose);
    s_check_parse ("3,000,000", 300000000, verbose);
    s_check_parse ("3,000,000.50", 300000050, verbose);
    s_check_parse ("3000000.5", 300000050, verbose);
    s_check_parse ("0", 0, verbose);
    s_check_parse ("0.01", 1, verbose);
    s_check_parse ("300万", 300000000, verbose);
    s_check_parse ("300万元", 300000000, verbose);
    s_check_parse ("300w", 300000000, verbose);
    s_check_parse ("300W", 300000000, verbose);
    s_check_parse ("300wan", 300000000, verbose);
    s_check_parse ("4.45亿", 44500000000, verbose);
    s_check_parse ("4.45yi", 44500000000, verbose);
    s_check_parse ("4.45亿元", 44500000000, verbose);
    s_check_parse ("172亿元", 1720000000000, verbose);
    s_check_parse ("9,999.99万元", 9999990000, verbose);
    s_check_parse ("1.2345万", 1234500, verbose);       //  12,345 yuan
    s_check_parse ("0.000001万", 1, verbose);           //  1 fen
    s_check_parse ("1.0000000001亿", 10000000001, verbose);
    s_check_parse ("500元", 50000, verbose);
    //  The largest amount that fits: INT64_MAX fen
    s_check_parse ("92233720368547758.07", INT64_MAX, verbose);
    //  Every fm_money_cn output parses back (万/亿 forms are truncated to 2
    //  decimals, so they parse back to at most the original)
    int64_t samples [] = { 0, 1, 999999, 1000000, 123456789, 9999999999,
                           10000000000, 44500000000, 1720000000000 };
    for (size_t i = 0; i < sizeof samples / sizeof samples [0]; i++) {
        int64_t back = -1;
        fm_money_cn (samples [i], buf, sizeof buf);
        assert (fm_money_parse (buf, &back) == 0);
        assert (back <= samples [i]);
        assert (samples [i] - back < samples [i] / 100 + 1);
    }

    s_check_reject ("1.234", verbose);
    s_check_reject ("1.0000001万", verbose);
    s_check_reject ("-5", verbose);
    s_check_reject ("+5", verbose);
    s_check_reject ("abc", verbose);
    s_check_reject ("", verbose);
    s_check_reject ("999999999999999999", verbose);    //  * 100 overflows
    s_check_reject ("92233720368547758.08", verbose);
    s_check_reject ("99999999999999999999", verbose);
    s_check_reject ("1000000000亿", verbose);
    s_check_reject ("1e5", verbose);
    s_check_reject ("5.", verbose);
    s_check_reject (".5", verbose);
    s_check_reject ("1.2.3", verbose);
    s_check_reject ("1,00", verbose);
    s_check_reject ("1,", verbose);
    s_check_reject (",100", verbose);
    s_check_reject ("1000,000", verbose);
    s_check_reject ("1,000,00", verbose);
    s_check_reject ("1.000,5", verbose);
    s_check_reject (" 5", verbose);
    s_check_reject ("5 ", verbose);
    s_check_reject ("5 万", verbose);
    s_check_reject ("5万万", verbose);
    s_check_reject ("5元万", verbose);
    s_check_reject ("5千", verbose);
    s_check_reject ("0x10", verbose);
    s_check_reject (NULL, verbose);
}
