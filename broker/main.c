//  STUB: to be replaced by the module owner
int main (void) { return 1; }
