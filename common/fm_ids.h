/*  =========================================================================
    fm_ids - identifiers: unified social credit codes, request ids, keys

    Owns the rules for every identifier finmatch accepts or makes:
    - the 18-character unified social credit code (统一社会信用代码) of
      GB 32100-2015, whose last character is a mod-31 check character;
    - the request id, derived from the enterprise and its idempotency key
      so that a client knows it before the broker answers (SPEC.md
      "Request ids");
    - fresh idempotency keys for clients that do not supply one.
    All functions are pure and cannot fail unless stated.
    =========================================================================
*/

#ifndef FM_IDS_H_INCLUDED
#define FM_IDS_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

//  The check character for the first 17 characters of a credit code, or 0
//  if any of them is outside the GB 32100 alphabet
//  ("0123456789ABCDEFGHJKLMNPQRTUWXY").
char
    fm_credit_code_check_char (const char *first17);

//  True if code is exactly 18 characters of the alphabet with a correct
//  check character.  Lowercase is not accepted.
bool
    fm_credit_code_valid (const char *code);

//  Request id: the first 16 lowercase hex digits of
//  SHA-1(enterprise_id "\n" idem_key), written with a NUL into id (>= 17
//  bytes).
void
    fm_request_id_make (const char *enterprise_id, const char *idem_key,
                        char *id);

//  True if id is exactly 16 lowercase hex digits.
bool
    fm_request_id_valid (const char *id);

//  A fresh random idempotency key (32 lowercase hex digits, zuuid) into
//  key (>= 33).
void
    fm_idem_key_make (char *key);

//  Self test
void
    fm_ids_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
