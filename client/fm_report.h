/*  =========================================================================
    fm_report - report queries over the SQLite event log
    (contract stub: the owner of this module completes the header)
    =========================================================================
*/
#ifndef FM_REPORT_H_INCLUDED
#define FM_REPORT_H_INCLUDED
#include <stdbool.h>

//  Self test
void
    fm_report_test (bool verbose);

#endif
