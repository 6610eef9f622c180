//  STUB: to be replaced by the module owner
#include <czmq.h>
void fm_text_test (bool verbose) { (void) verbose; zsys_error ("STUB fm_text_test"); assert (false); }
