/*  =========================================================================
    fm_bank - a bank's products and the matching rules
    (contract stub: the owner of this module completes the header)
    =========================================================================
*/
#ifndef FM_BANK_H_INCLUDED
#define FM_BANK_H_INCLUDED
#include <stdbool.h>

//  Self test
void
    fm_bank_test (bool verbose);

#endif
