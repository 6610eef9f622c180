/*  =========================================================================
    fm_rank - offer ranking
    (contract stub: the owner of this module completes the header)
    =========================================================================
*/
#ifndef FM_RANK_H_INCLUDED
#define FM_RANK_H_INCLUDED
#include <stdbool.h>

//  Self test
void
    fm_rank_test (bool verbose);

#endif
