//  STUB: to be replaced by the module owner
#include <czmq.h>
