//  STUB: to be replaced by the module owner
#include <czmq.h>
void fm_money_test (bool verbose) { (void) verbose; zsys_error ("STUB fm_money_test"); assert (false); }
