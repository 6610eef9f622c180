//  STUB: to be replaced by the module owner
#include <czmq.h>
void fm_ids_test (bool verbose) { (void) verbose; zsys_error ("STUB fm_ids_test"); assert (false); }
