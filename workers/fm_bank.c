//  STUB: to be replaced by the module owner
#include <czmq.h>
void fm_bank_test (bool verbose) { (void) verbose; zsys_error ("STUB fm_bank_test"); assert (false); }
