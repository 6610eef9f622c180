//  STUB: to be replaced by the module owner
#include <czmq.h>
void fm_broker_test (bool verbose) { (void) verbose; zsys_error ("STUB fm_broker_test"); assert (false); }
