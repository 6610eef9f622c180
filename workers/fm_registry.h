/*  =========================================================================
    fm_registry - the government's enterprise registry and policy levers
    (contract stub: the owner of this module completes the header)
    =========================================================================
*/
#ifndef FM_REGISTRY_H_INCLUDED
#define FM_REGISTRY_H_INCLUDED
#include <stdbool.h>

//  Self test
void
    fm_registry_test (bool verbose);

#endif
