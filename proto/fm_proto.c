//  STUB: to be replaced by the module owner
#include <czmq.h>
void fm_proto_test (bool verbose) { (void) verbose; zsys_error ("STUB fm_proto_test"); assert (false); }
