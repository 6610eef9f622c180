//  STUB: to be replaced by the module owner
#include <czmq.h>
void fm_client_test (bool verbose) { (void) verbose; zsys_error ("STUB fm_client_test"); assert (false); }
