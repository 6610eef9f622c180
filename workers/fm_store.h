/*  =========================================================================
    fm_store - the recorder's SQLite event log
    (contract stub: the owner of this module completes the header)
    =========================================================================
*/
#ifndef FM_STORE_H_INCLUDED
#define FM_STORE_H_INCLUDED
#include <stdbool.h>

//  Self test
void
    fm_store_test (bool verbose);

#endif
