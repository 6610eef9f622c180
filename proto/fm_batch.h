/*  =========================================================================
    fm_batch - event batches: many event bodies in one pub/sub message

    Owns the wire framing of SPEC.md 12.3: a message [topic "$batch"]
    [body] whose body is a msgpack array of bin, each bin one event body
    exactly as an individual event carries it (section 12).  A batch costs
    the broker one XPUB send, and its subscriber one receive and one
    wake-up, where single events cost one each (~10 per request).

    The writer fills a caller's buffer: it reserves the array header,
    appends each body as bin 32 and writes the header last, so the count
    need not be known up front.  The reader checks the whole framing
    before handing out a single body; the bodies themselves are untrusted
    and go through fm_event_decode.  No allocation; cannot fail unless
    stated.
    =========================================================================
*/

#ifndef FM_BATCH_H_INCLUDED
#define FM_BATCH_H_INCLUDED

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include "fm_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

//  The topic of every batch message.  Event topics start with a type
//  name, never '$', so a subscriber to a type or a request never sees
//  batches; a subscriber to everything ("") does, and skips them.
#define FM_BATCH_TOPIC          "$batch"
//  Most events one batch may hold (a reader refuses more)
#define FM_BATCH_EVENTS_MAX     4096
//  Bytes the writer adds: the array header, and per event its bin header
#define FM_BATCH_HEAD_SIZE      5
#define FM_BATCH_ITEM_HEAD_SIZE 5

//  A batch being written into a caller's buffer
typedef struct {
    byte *data;                         //  borrowed, size bytes
    size_t size;
    size_t used;                        //  bytes written, header included
    uint32_t count;                     //  events added
} fm_batch_writer_t;

//  A received batch being read
typedef struct {
    const byte *next;                   //  next element's bin header
    uint32_t left;                      //  elements not yet handed out
} fm_batch_reader_t;

//  Start an empty batch in buf (size >= FM_BATCH_HEAD_SIZE).
void
    fm_batch_start (fm_batch_writer_t *self, byte *buf, size_t size);

//  Append one event body (borrowed, copied).  Returns false, adding
//  nothing, if it does not fit or the batch holds FM_BATCH_EVENTS_MAX.
bool
    fm_batch_add (fm_batch_writer_t *self, const byte *body, size_t size);

//  Write the array header.  Returns the batch's size in bytes: the body
//  to send is buf [0 .. size).  The writer may then be started again.
size_t
    fm_batch_finish (fm_batch_writer_t *self);

//  Check a received body's framing: one msgpack array of 1 to
//  FM_BATCH_EVENTS_MAX bin objects that spans exactly size bytes.
//  Accepts any bytes.  Returns 0 and sets up *self, or -1 with err
//  filled (status 400).  data must outlive the reader.
int
    fm_batch_open (fm_batch_reader_t *self, const byte *data, size_t size,
                   fm_error_t *err);

//  Hand out the next event body (a pointer into the batch).  Returns false
//  when none is left.
bool
    fm_batch_next (fm_batch_reader_t *self, const byte **body, size_t *size);

//  Self test
void
    fm_batch_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
