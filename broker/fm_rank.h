/*  =========================================================================
    fm_rank - offer ranking

    Puts the offers a request gathered from every bank into the one order
    the enterprise sees: lowest effective rate first, then the larger
    amount, then bank code, then product code.  The order is total (two
    distinct offers of one request never compare equal, because the offer
    id "<BANK>/<PRODUCT>" is unique within a request), so the ranking is
    deterministic whatever order the banks answered in, even though qsort
    is not a stable sort.  Pure functions on caller memory: no allocation,
    nothing can fail.
    =========================================================================
*/

#ifndef FM_RANK_H_INCLUDED
#define FM_RANK_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include "fm_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Compare two offers in ranking order.  Returns < 0 if a ranks before b,
//  > 0 if after, 0 only if they agree on every ranking key (rate, amount,
//  bank, product, then offer id as a last resort).  Cannot fail.
int
    fm_offer_compare (const fm_offer_t *a, const fm_offer_t *b);

//  Sort count offers in place in ranking order: effective_rate_bp
//  ascending, amount_fen descending, bank ascending, product ascending
//  (byte order of the UTF-8 codes).  offers may be NULL when count is 0.
//  Cannot fail.
void
    fm_offer_rank (fm_offer_t *offers, size_t count);

//  Self test
void
    fm_rank_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
