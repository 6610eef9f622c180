/*  =========================================================================
    fm_ids - identifiers: unified social credit codes, request ids, keys

    The unified social credit code (统一社会信用代码, GB 32100-2015) is 18
    characters from a 31-character alphabet (digits and capitals without
    I, O, S, V, Z).  The 18th is a check character: with value(c) = index
    of c in the alphabet and the weights 3^(i-1) mod 31 for positions
    1..17, check = 31 - (sum mod 31), where 31 becomes 0.  We check only
    the check character, not the registration authority or region codes:
    those change over time and are the registry's business.

    The request id is the first 16 lowercase hex digits of
    SHA-1(enterprise_id "\n" idem_key).  The "\n" cannot occur in either
    part of a valid request, so distinct pairs never hash the same text.
    =========================================================================
*/

#include <czmq.h>
#include "fm_ids.h"

#define CODE_LENGTH 18

static const char s_alphabet [] = "0123456789ABCDEFGHJKLMNPQRTUWXY";
static const int s_weights [CODE_LENGTH - 1] = {
    1, 3, 9, 27, 19, 26, 16, 17, 20, 29, 25, 13, 8, 24, 10, 30, 28
};

//  Each alphabet character's value + 1; 0 for every other byte (NUL and
//  lowercase included).  A table, not strchr over the alphabet: every
//  decoded message checks one or two codes, and strchr made each check
//  ~700 instructions (callgrind, fm-microbench bank).
static const unsigned char s_values [256] = {
    ['0'] = 1, ['1'] = 2, ['2'] = 3, ['3'] = 4, ['4'] = 5, ['5'] = 6, ['6'] = 7, ['7'] = 8,
    ['8'] = 9, ['9'] = 10, ['A'] = 11, ['B'] = 12, ['C'] = 13, ['D'] = 14, ['E'] = 15, ['F'] = 16,
    ['G'] = 17, ['H'] = 18, ['J'] = 19, ['K'] = 20, ['L'] = 21, ['M'] = 22, ['N'] = 23, ['P'] = 24,
    ['Q'] = 25, ['R'] = 26, ['T'] = 27, ['U'] = 28, ['W'] = 29, ['X'] = 30, ['Y'] = 31,
};

//  Value of c in the GB 32100 alphabet, or -1 if it is not in it
static int
s_code_value (char c)
{
    return (int) s_values [(unsigned char) c] - 1;
}


//  --------------------------------------------------------------------------
//  The check character for the first 17 characters of a credit code, or 0
//  if any of them is outside the alphabet (or the text is shorter).

char
fm_credit_code_check_char (const char *first17)
{
    assert (first17);
    int sum = 0;
    for (int i = 0; i < CODE_LENGTH - 1; i++) {
        int value = s_code_value (first17 [i]);
        if (value < 0)
            return 0;           //  also stops at a NUL: never reads past it
        sum += value * s_weights [i];
    }
    int check = 31 - sum % 31;
    if (check == 31)
        check = 0;
    return s_alphabet [check];
}


//  --------------------------------------------------------------------------
//  True if code is exactly 18 alphabet characters with a correct check
//  character.

bool
fm_credit_code_valid (const char *code)
{
    if (!code)
        return false;
    //  One pass that stops at a NUL, so a short string is never read past
    //  its end; the 18th character must then be the check and the 19th NUL
    int sum = 0;
    for (int i = 0; i < CODE_LENGTH - 1; i++) {
        int value = s_code_value (code [i]);
        if (value < 0)
            return false;
        sum += value * s_weights [i];
    }
    int check = (31 - sum % 31) % 31;
    return code [CODE_LENGTH - 1] == s_alphabet [check]
        && code [CODE_LENGTH] == 0;
}


//  --------------------------------------------------------------------------
//  Request id: first 16 lowercase hex digits of SHA-1(enterprise "\n" key)
//  into id (>= 17 bytes).

void
fm_request_id_make (const char *enterprise_id, const char *idem_key, char *id)
{
    assert (enterprise_id);
    assert (idem_key);
    assert (id);
    zdigest_t *digest = zdigest_new ();
    assert (digest);            //  only fails when out of memory
    zdigest_update (digest, (const byte *) enterprise_id, strlen (enterprise_id));
    zdigest_update (digest, (const byte *) "\n", 1);
    zdigest_update (digest, (const byte *) idem_key, strlen (idem_key));
    //  zdigest_string is uppercase hex of the 20 bytes; the id is lowercase
    const byte *data = zdigest_data (digest);
    static const char hex [] = "0123456789abcdef";
    for (int i = 0; i < 8; i++) {
        id [2 * i] = hex [data [i] >> 4];
        id [2 * i + 1] = hex [data [i] & 15];
    }
    id [16] = 0;
    zdigest_destroy (&digest);
}


//  --------------------------------------------------------------------------
//  True if id is exactly 16 lowercase hex digits.

bool
fm_request_id_valid (const char *id)
{
    return id && strlen (id) == 16 && strspn (id, "0123456789abcdef") == 16;
}


//  --------------------------------------------------------------------------
//  A fresh random idempotency key: 32 lowercase hex digits into key (>= 33).

void
fm_idem_key_make (char *key)
{
    assert (key);
    zuuid_t *uuid = zuuid_new ();
    assert (uuid);              //  only fails when out of memory
    const char *text = zuuid_str (uuid);
    for (int i = 0; i < 32; i++)
        key [i] = (char) tolower ((unsigned char) text [i]);
    key [32] = 0;
    zuuid_destroy (&uuid);
}


//  --------------------------------------------------------------------------
//  Selftest

void
fm_ids_test (bool verbose)
{

    //  Codes of well-known companies as printed on their business
    //  licences (a wrong one would pass the check with chance 1/31).  Each
    //  must be valid, and changing any one character to any other
    //  alphabet character must break it: a mod-31 check with weights
    //  coprime to 31 detects every single substitution.
    const char *published [] = {
        "91350100M000100Y43",   //  the example most commonly cited
        "914403001922038216",   //  Huawei Technologies Co., Ltd., Shenzhen
        "9144030071526726XG",   //  Tencent Technology (Shenzhen) Co., Ltd.
        "91330100799655058B",   //  Alibaba (China) Co., Ltd., Hangzhou
        "91110108551385082Q",   //  Beijing Xiaomi Technology Co., Ltd.
        NULL
    };
    for (int n = 0; published [n]; n++) {
        const char *code = published [n];
        if (verbose)
            printf ("   %s check=%c\n", code, fm_credit_code_check_char (code));
        assert (fm_credit_code_valid (code));
        assert (fm_credit_code_check_char (code) == code [17]);
        char copy [CODE_LENGTH + 1];
        for (int pos = 0; pos < CODE_LENGTH; pos++) {
            for (const char *c = s_alphabet; *c; c++) {
                if (*c == code [pos])
                    continue;
                strcpy (copy, code);
                copy [pos] = *c;
                assert (!fm_credit_code_valid (copy));
            }
        }
        //  Lowercase is not accepted, even where the check would match
        strcpy (copy, code);
        for (int pos = 0; pos < CODE_LENGTH; pos++)
            copy [pos] = (char) tolower ((unsigned char) copy [pos]);
        if (!streq (copy, code))
            assert (!fm_credit_code_valid (copy));
        //  Wrong lengths
        strcpy (copy, code);
        copy [17] = 0;
        assert (!fm_credit_code_valid (copy));
        char longer [CODE_LENGTH + 2];
        snprintf (longer, sizeof longer, "%s0", code);
        assert (!fm_credit_code_valid (longer));
    }
    //  The check value 31 maps to '0', and letters outside the alphabet
    //  (I O S V Z) give no check character
    assert (fm_credit_code_check_char ("00000000000000000") == '0');
    assert (fm_credit_code_valid ("000000000000000000"));
    assert (fm_credit_code_check_char ("9135010IM00010  ") == 0);
    assert (fm_credit_code_check_char ("91350100O00100Y4") == 0);
    assert (fm_credit_code_check_char ("913501") == 0);
    assert (!fm_credit_code_valid ("91350100S000100Y43"));
    assert (!fm_credit_code_valid (""));
    assert (!fm_credit_code_valid (NULL));
    //  A code we build from the check function round-trips
    char built [CODE_LENGTH + 1] = "91500105MA5U0ABCD";
    built [17] = fm_credit_code_check_char (built);
    built [18] = 0;
    assert (built [17]);
    assert (fm_credit_code_valid (built));

    //  Request ids: SHA-1("91350100M000100Y43\nkey-1"), computed
    //  independently with sha1sum
    char id [17];
    fm_request_id_make ("91350100M000100Y43", "key-1", id);
    if (verbose)
        printf ("   request id %s\n", id);
    assert (strlen (id) == 16);
    assert (fm_request_id_valid (id));
    assert (streq (id, "c42d78aeab069901"));
    char again [17];
    fm_request_id_make ("91350100M000100Y43", "key-1", again);
    assert (streq (id, again));
    fm_request_id_make ("91350100M000100Y43", "key-2", again);
    assert (!streq (id, again));
    //  The separator matters: ("ab","c") and ("a","bc") differ
    char left [17], right [17];
    fm_request_id_make ("ab", "c", left);
    assert (streq (left, "a7b41edca119be5c"));
    fm_request_id_make ("a", "bc", right);
    assert (!streq (left, right));

    assert (!fm_request_id_valid ("0123456789ABCDEF"));
    assert (!fm_request_id_valid ("0123456789abcde"));
    assert (!fm_request_id_valid ("0123456789abcdef0"));
    assert (!fm_request_id_valid ("0123456789abcdeg"));
    assert (!fm_request_id_valid (NULL));
    assert (fm_request_id_valid ("0123456789abcdef"));

    //  Idempotency keys: 32 lowercase hex, fresh every time
    char key1 [33], key2 [33];
    fm_idem_key_make (key1);
    fm_idem_key_make (key2);
    assert (strlen (key1) == 32);
    assert (strspn (key1, "0123456789abcdef") == 32);
    assert (!streq (key1, key2));

}
