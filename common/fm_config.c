//  STUB: to be replaced by the module owner
#include <czmq.h>
void fm_config_test (bool verbose) { (void) verbose; zsys_error ("STUB fm_config_test"); assert (false); }
