/*  =========================================================================
    fm_rank - offer ranking

    The comparator is written out key by key, never as a subtraction: the
    amounts are int64 and a difference could overflow the int a qsort
    comparator returns.  See fm_rank.h for the order and why it is total.
    =========================================================================
*/

#include "fm_rank.h"

//  Three-way comparison of two integers without overflow
#define S_CMP(a, b)     ((a) < (b) ? -1 : (a) > (b) ? 1 : 0)

int
fm_offer_compare (const fm_offer_t *a, const fm_offer_t *b)
{
    assert (a);
    assert (b);
    int rc = S_CMP (a->effective_rate_bp, b->effective_rate_bp);
    if (rc == 0)                //  Larger amount first
        rc = S_CMP (b->amount_fen, a->amount_fen);
    if (rc == 0)
        rc = strcmp (a->bank, b->bank);
    if (rc == 0)
        rc = strcmp (a->product, b->product);
    if (rc == 0)                //  Only reached by a malformed answer list
        rc = strcmp (a->offer_id, b->offer_id);
    return rc;
}

static int
s_compare (const void *a, const void *b)
{
    return fm_offer_compare ((const fm_offer_t *) a, (const fm_offer_t *) b);
}

void
fm_offer_rank (fm_offer_t *offers, size_t count)
{
    if (count < 2)
        return;                 //  Also covers offers == NULL
    qsort (offers, count, sizeof (fm_offer_t), s_compare);
}


//  --------------------------------------------------------------------------
//  Selftest

static void
s_offer_set (fm_offer_t *offer, const char *bank, const char *product,
             int32_t rate_bp, int64_t amount_fen)
{
    memset (offer, 0, sizeof (*offer));
    snprintf (offer->bank, sizeof (offer->bank), "%s", bank);
    snprintf (offer->product, sizeof (offer->product), "%s", product);
    snprintf (offer->offer_id, sizeof (offer->offer_id), "%s/%s", bank, product);
    offer->effective_rate_bp = rate_bp;
    offer->base_rate_bp = rate_bp;
    offer->amount_fen = amount_fen;
    offer->term_months = 12;
}

//  Asserts that offers [0..count) carry exactly the ids in expected order
static void
s_assert_order (const fm_offer_t *offers, size_t count, const char **expected)
{
    for (size_t index = 0; index < count; index++) {
        if (strneq (offers [index].offer_id, expected [index])) {
            fprintf (stderr, "rank: position %zu is %s, expected %s\n",
                     index, offers [index].offer_id, expected [index]);
            assert (false);
        }
    }
}

void
fm_rank_test (bool verbose)
{
    printf (" * fm_rank: ");
    if (verbose)
        printf ("\n");

    //  @selftest
    //  Empty and single lists are valid and untouched
    fm_offer_rank (NULL, 0);
    fm_offer_t one;
    s_offer_set (&one, "CQRCB", "GRIDE", 300, 100);
    fm_offer_rank (&one, 1);
    assert (streq (one.offer_id, "CQRCB/GRIDE"));

    //  Every key in play: the expected order, best first
    #define OFFERS 7
    fm_offer_t offers [OFFERS];
    const char *expected [OFFERS] = {
        "ZZB/P1",           //  lowest rate wins whatever else
        "CQRCB/BIG",        //  325 bp: larger amount first
        "ABC/SMALL",        //  325 bp, same amount as next: bank code
        "CQRCB/A1",         //  325 bp, same amount, same bank: product
        "CQRCB/A2",
        "ABC/X",            //  390 bp
        "BOC/X",            //  390 bp, same amount: bank code
    };
    //  Build in reversed order
    s_offer_set (&offers [0], "BOC", "X", 390, 50000000);
    s_offer_set (&offers [1], "ABC", "X", 390, 50000000);
    s_offer_set (&offers [2], "CQRCB", "A2", 325, 10000000);
    s_offer_set (&offers [3], "CQRCB", "A1", 325, 10000000);
    s_offer_set (&offers [4], "ABC", "SMALL", 325, 10000000);
    s_offer_set (&offers [5], "CQRCB", "BIG", 325, 300000000);
    s_offer_set (&offers [6], "ZZB", "P1", 250, 1);
    fm_offer_t pristine [OFFERS];
    memcpy (pristine, offers, sizeof (offers));

    //  Reversed input
    fm_offer_rank (offers, OFFERS);
    s_assert_order (offers, OFFERS, expected);

    //  Already sorted input stays sorted
    fm_offer_rank (offers, OFFERS);
    s_assert_order (offers, OFFERS, expected);

    //  Stability of order: every rotation and a fixed shuffle of the input
    //  give the same ranking (qsort is unstable; the order is total)
    for (size_t shift = 0; shift < OFFERS; shift++) {
        for (size_t index = 0; index < OFFERS; index++)
            offers [index] = pristine [(index + shift) % OFFERS];
        fm_offer_rank (offers, OFFERS);
        s_assert_order (offers, OFFERS, expected);
    }
    const size_t shuffle [OFFERS] = { 3, 6, 0, 5, 1, 4, 2 };
    for (size_t index = 0; index < OFFERS; index++)
        offers [index] = pristine [shuffle [index]];
    fm_offer_rank (offers, OFFERS);
    s_assert_order (offers, OFFERS, expected);

    //  The comparator is antisymmetric and exact on ties
    assert (fm_offer_compare (&pristine [1], &pristine [0]) < 0);
    assert (fm_offer_compare (&pristine [0], &pristine [1]) > 0);
    assert (fm_offer_compare (&pristine [0], &pristine [0]) == 0);

    //  Extreme amounts do not overflow the comparison
    fm_offer_t extremes [2];
    s_offer_set (&extremes [0], "A", "P", 300, 1);
    s_offer_set (&extremes [1], "A", "Q", 300, INT64_MAX);
    fm_offer_rank (extremes, 2);
    assert (extremes [0].amount_fen == INT64_MAX);
    s_offer_set (&extremes [0], "A", "P", INT32_MAX, 1);
    s_offer_set (&extremes [1], "A", "Q", INT32_MIN, 1);
    fm_offer_rank (extremes, 2);
    assert (extremes [0].effective_rate_bp == INT32_MIN);
    //  @end

    printf ("OK\n");
}
