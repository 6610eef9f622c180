//  STUB: to be replaced by the module owner
#include <czmq.h>
void fm_registry_test (bool verbose) { (void) verbose; zsys_error ("STUB fm_registry_test"); assert (false); }
