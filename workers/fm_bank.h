/*  =========================================================================
    fm_bank - a bank's products and the matching rules

    A bank is its ZPL configuration (one file per bank, format in the
    brief and in deploy/finmatch-bank.cfg): a `bank` section (code, name,
    LPRs, offer validity) and a `products` section with one child per
    product.  Loading validates every key and reports the first problem as
    "FILE: PATH: problem"; amounts are given in yuan and kept in fen.

    Matching is a pure function of the bank, the query and the clock: for
    every product, every rule is checked (kind, amount, term, industry,
    grid, credit consent, tax grade, collateral, renewal).  Each eligible
    product becomes one offer, priced with integers only:
        base      = LPR(term <= 60 months: 1-year, else 5-year) + spread
        effective = max (floor, base - sum of honoured levers)
    and the applied levers are cut, in profile order, so that their bp sum
    is exactly base - effective.  With no eligible product the answer is
    exactly one decline carrying every failing reason of every product.
    =========================================================================
*/

#ifndef FM_BANK_H_INCLUDED
#define FM_BANK_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include "fm_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _fm_bank_t fm_bank_t;

//  Load a bank from the ZPL tree root (its `bank` and `products`
//  sections; other sections are ignored).  source names the file in error
//  messages.  Returns a new bank the caller owns, or NULL with a message
//  "SOURCE: PATH: problem" in err (size bytes).  root is borrowed.
fm_bank_t *
    fm_bank_load (zconfig_t *root, const char *source, char *err, size_t size);

//  Destroy; idempotent, nulls *self_p.
void
    fm_bank_destroy (fm_bank_t **self_p);

//  The bank code ("CQRCB": its service is "bank.CQRCB") and display name.
//  Borrowed until destroy.  Cannot fail.
const char *
    fm_bank_code (fm_bank_t *self);
const char *
    fm_bank_name (fm_bank_t *self);

//  The towns this institution is paired with (三网融合): comma list of
//  town codes from bank/towns, "" if none.  Borrowed until destroy.
const char *
    fm_bank_towns (fm_bank_t *self);

//  Number of products (may be 0: every request is then declined, 111).
size_t
    fm_bank_product_count (fm_bank_t *self);

//  Answer a BANK_QUERY (query is borrowed and must be of that type) at
//  time now_us.  Returns a new BANK_ANSWER the caller owns: the offers, or
//  exactly one decline.  Returns NULL only if out of memory.
fm_msg_t *
    fm_bank_answer (fm_bank_t *self, const fm_msg_t *query, int64_t now_us);

//  The same into answer, a BANK_ANSWER message (fm_msg_new) the caller
//  owns and reuses for every query, used for nothing else: a bank
//  worker's hot path, no allocation once its lists have grown.  Every
//  field a BANK_ANSWER carries is overwritten.  Returns 0, or -1 if out
//  of memory (answer then holds part of an answer: do not send it).
int
    fm_bank_answer_into (fm_bank_t *self, const fm_msg_t *query, int64_t now_us,
                         fm_msg_t *answer);

//  Answer a GRANT_QUERY (borrowed, offer in offers[0]) at time now_us.
//  Returns a new CONFIRMATION the caller owns: granted with loan id
//  "<BANK>-<request_id>" and the offered terms, or withdrawn with a text
//  saying why (offer expired, not ours, product gone).  NULL only if out
//  of memory.
fm_msg_t *
    fm_bank_grant (fm_bank_t *self, const fm_msg_t *grant_query,
                   int64_t now_us);

//  Self test
void
    fm_bank_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
