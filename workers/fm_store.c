//  STUB: to be replaced by the module owner
#include <czmq.h>
void fm_store_test (bool verbose) { (void) verbose; zsys_error ("STUB fm_store_test"); assert (false); }
