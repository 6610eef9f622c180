/*  =========================================================================
    fuzz_broker - libFuzzer target for the broker's message handling

    The input is a sequence of frames (each a length byte, 0xFF meaning a
    two-byte big-endian length follows, then that many bytes; a short last
    frame takes what is left), split further into messages at every
    frame "\x00END": so one input can register a worker and then send
    requests, replies and garbage.  Each message goes to fm_broker_feed as
    if the ROUTER had received it.  The broker state lives on across
    inputs, as a real broker's does.  Any crash, assertion, sanitizer
    report or leak is a finding: the broker must survive every input.
    =========================================================================
*/

#include "fm_broker.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);
int LLVMFuzzerInitialize (int *argc, char ***argv);

int
LLVMFuzzerInitialize (int *argc, char ***argv)
{
    (void) argc;
    (void) argv;
    zsys_init ();
    zsys_set_logstream (NULL);      //  The broker logs its refusals
    zsys_set_logsystem (false);
    return 0;
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    zmsg_t *msg = zmsg_new ();
    size_t offset = 0;
    while (offset < size) {
        size_t length = data [offset++];
        if (length == 0xFF && offset + 2 <= size) {
            length = ((size_t) data [offset] << 8) | data [offset + 1];
            offset += 2;
        }
        if (length > size - offset)
            length = size - offset;
        if (length == 4 && memcmp (data + offset, "\0END", 4) == 0) {
            fm_broker_feed (&msg);
            msg = zmsg_new ();
        }
        else
            zmsg_addmem (msg, data + offset, length);
        offset += length;
    }
    if (zmsg_size (msg))
        fm_broker_feed (&msg);
    zmsg_destroy (&msg);
    return 0;
}
