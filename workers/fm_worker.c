//  STUB: to be replaced by the module owner
#include <czmq.h>
void fm_worker_test (bool verbose) { (void) verbose; zsys_error ("STUB fm_worker_test"); assert (false); }
