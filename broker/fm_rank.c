//  STUB: to be replaced by the module owner
#include <czmq.h>
void fm_rank_test (bool verbose) { (void) verbose; zsys_error ("STUB fm_rank_test"); assert (false); }
