/*  =========================================================================
    fm_money - money and rates: exact parsing and formatting

    Money is int64 fen and rates are int32 basis points everywhere in
    finmatch; this module is the only place that turns them into text or
    back, with integer arithmetic only (no float ever touches an amount).
    Formats follow Chinese reporting: 元 for small sums, 万元 and 亿元 for
    large ones ("4.45亿元"); rates as percentages with two decimals.
    =========================================================================
*/

#ifndef FM_MONEY_H_INCLUDED
#define FM_MONEY_H_INCLUDED

#include <stddef.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

//  Parse a yuan amount: digits with optional "," (in groups of three),
//  optional decimals, optional suffix "万" or "亿" (or "w"/"wan", "yi",
//  any case) which scale exactly, optional trailing "元".  Decimals: at
//  most 2 for plain yuan, and with a suffix as many as stay whole fen
//  (6 for 万, 10 for 亿: "1.2345万" is 12,345 yuan).  "3000000",
//  "3,000,000.50", "300万", "4.45亿", "9,999.99万元".  No sign, no blanks,
//  no exponent.  Returns 0 and *fen, or -1 (*fen untouched) if the text is
//  not such an amount, or overflows int64 fen.
int
    fm_money_parse (const char *text, int64_t *fen);

//  Plain yuan with thousands separators and 2 decimals: "3,000,000.00"
//  (negative: "-1,234.56").  Writes into buf (>= 32 bytes; a smaller buf
//  gets a truncated text, never split inside a UTF-8 sequence); returns
//  buf.  Cannot fail.
char *
    fm_money_yuan (int64_t fen, char *buf, size_t size);

//  Chinese scaled form: below 1万元 "9,999元" (decimals only if non-zero
//  fen: "9,999.50元"); below 1亿 "1万元", "9,999.99万元"; else "4.45亿元",
//  "172亿元" (2 decimals, trailing zeros dropped).  Truncates toward zero,
//  never rounds up past a boundary.  Returns buf (>= 48 bytes).
char *
    fm_money_cn (int64_t fen, char *buf, size_t size);

//  English scaled form: below ¥1 million "¥999,999" (decimals only if
//  non-zero fen: "¥999,999.50"); below ¥1 billion "¥1 million",
//  "¥4.45 million", "¥999.99 million"; else "¥1 billion", "¥17.2 billion",
//  "¥1,000 billion" (2 decimals, trailing zeros dropped).  Truncates
//  toward zero like fm_money_cn.  Returns buf (>= 48 bytes).
char *
    fm_money_en (int64_t fen, char *buf, size_t size);

//  Rate in bp as a percentage with 2 decimals: 345 -> "3.45%", -30 ->
//  "-0.30%".  Returns buf (>= 16 bytes).  Cannot fail.
char *
    fm_rate_pct (int32_t bp, char *buf, size_t size);

//  Self test
void
    fm_money_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
