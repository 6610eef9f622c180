//  STUB: to be replaced by the module owner
#include <czmq.h>
void fm_report_test (bool verbose) { (void) verbose; assert (false); }
