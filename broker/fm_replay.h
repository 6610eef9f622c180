/*  =========================================================================
    fm_replay - the broker's bounded store of recent events, for replay

    The event stream is PUB/SUB: a subscriber that joins late, falls behind
    its high-water mark, or restarts loses events, and sees it only as a
    jump in seq.  This class keeps the last events the broker published,
    encoded exactly as sent, in a ring indexed by seq, so that a recorder
    can ask for what it missed (service fm.replay, proto/SPEC.md "Event
    replay") and the log ends complete, or says exactly what is missing.

    Bounds: at most max_events events and max_bytes bytes of bodies; the
    oldest are dropped first.  Only the current epoch is kept: the store
    is memory, refilled from the broker's journal on restart (fm_journal.h;
    events of an earlier epoch are answered "gone").  Costs: store is O(1) (one malloc and copy per
    event); a lookup is O(1).

    Replay requests are plain text (like 8/MMI bodies, no msgpack), one
    frame: "<epoch> <from_seq> <to_seq>", decimal.  Epoch 0 means the
    current one, to_seq 0 means up to the last published, from_seq 0 asks
    only for the head.  The answer is one status line
    "<status> <epoch> <from> <to> <head>" followed, for 200, by the event
    bodies from..to in order:
      200  events from..to follow (at most FM_REPLAY_BATCH, ask again for
           the rest)
      204  nothing to send: from_seq 0 (head query) or from_seq > head
      410  from..to are gone: fell out of the ring, or another epoch
      400  the request does not parse
    head is the last seq published in the broker's current epoch.
    =========================================================================
*/

#ifndef FM_REPLAY_H_INCLUDED
#define FM_REPLAY_H_INCLUDED

#include <czmq.h>

#ifdef __cplusplus
extern "C" {
#endif

//  Events in one 200 answer, and their bytes (one more event may exceed it)
#define FM_REPLAY_BATCH         1000
#define FM_REPLAY_BATCH_BYTES   (1024 * 1024)

typedef struct _fm_replay_t fm_replay_t;

//  Create an empty store for epoch with the given bounds (max_events 0 =
//  keep nothing).  Returns the store, or NULL if out of memory.
fm_replay_t *
    fm_replay_new (uint64_t epoch, size_t max_events, size_t max_bytes);

//  Destroy; idempotent, nulls *self_p.
void
    fm_replay_destroy (fm_replay_t **self_p);

//  Change the bounds; drops the oldest events beyond them.  Returns 0, or
//  -1 if out of memory (the old bounds stay).
int
    fm_replay_set_bounds (fm_replay_t *self, size_t max_events, size_t max_bytes);

//  Keep a copy of one published event body.  seq must be the previous
//  seq + 1 (asserted: the broker's seq is gap-free).  Returns 0, or -1 if
//  out of memory (the event is then not replayable: a later request for
//  it is answered 410).
int
    fm_replay_store (fm_replay_t *self, uint64_t seq, const byte *data, size_t size);

//  Continue after head: drop every stored event; the next event stored
//  must be head + 1.  Used by a restarted broker that reloads its journal
//  (fm_journal.h) from the middle of an epoch.  Cannot fail.
void
    fm_replay_skip (fm_replay_t *self, uint64_t head);

//  Oldest seq still stored (0 if none) and last seq stored (0 if none).
uint64_t
    fm_replay_first (fm_replay_t *self);
uint64_t
    fm_replay_last (fm_replay_t *self);

//  Answer a replay request body (borrowed).  Returns a new message the
//  caller owns: the status line frame, then any event bodies.  Cannot fail
//  except out of memory (asserted by czmq).
zmsg_t *
    fm_replay_answer (fm_replay_t *self, const byte *request, size_t size);

//  Self test
void
    fm_replay_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
