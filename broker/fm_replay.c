/*  =========================================================================
    fm_replay - the broker's bounded store of recent events, for replay

    See fm_replay.h.  Two rings, no allocation per event: an index ring of
    max_events entries (entry (seq - 1) % max_events holds seq while it is
    stored) and a byte ring holding the bodies one after another.  A body
    is never split: one that does not fit before the end of the byte ring
    starts again at its beginning, and the oldest events are dropped until
    the space it needs is free.  first..last are the stored seqs,
    contiguous (events are stored in seq order and dropped oldest first),
    so a lookup is an index computation.

    The byte ring starts at 64 KB and doubles (up to max_bytes) only when
    a body finds no room that the bounds would give it, so a store bounded
    by count (the broker's 100,000 events of ~300 bytes) holds ~32 MB, not
    its 64 MB byte bound.
    Bounds as before: at most max_events events and max_bytes bytes of
    bodies (wrap-around waste may keep a few fewer).
    =========================================================================
*/

#include "fm_replay.h"
#include <inttypes.h>

typedef struct {
    size_t offset;                  //  Of the body in the byte ring
    size_t size;
} s_entry_t;

struct _fm_replay_t {
    uint64_t epoch;                 //  The broker's epoch
    s_entry_t *ring;                //  Owned, max_events entries
    size_t max_events;
    size_t max_bytes;
    byte *data;                     //  Owned byte ring, data_size bytes
    size_t data_size;
    size_t tail;                    //  Where the next body goes
    size_t bytes;                   //  Sum of stored sizes
    uint64_t first;                 //  Oldest stored seq, 0 if empty
    uint64_t last;                  //  Newest stored seq, 0 if empty
    uint64_t head;                  //  Last seq offered to us (stored or not)
};

//  Byte ring size to start with (it doubles up to max_bytes)
#define S_DATA_MIN      (64 * 1024)

static s_entry_t *
s_entry (fm_replay_t *self, uint64_t seq)
{
    return &self->ring [(seq - 1) % self->max_events];
}

//  Drop the oldest event.  Cannot fail.
static void
s_drop_oldest (fm_replay_t *self)
{
    assert (self->first && self->first <= self->last);
    s_entry_t *entry = s_entry (self, self->first);
    self->bytes -= entry->size;
    entry->size = 0;
    if (self->first == self->last) {
        self->first = self->last = 0;
        self->tail = 0;
    }
    else
        self->first++;
}

static void
s_drop_all (fm_replay_t *self)
{
    self->first = self->last = 0;
    self->bytes = 0;
    self->tail = 0;
}

//  Copy the stored events, oldest first, into new rings of max_events
//  entries and data_size bytes (both large enough: the caller dropped
//  what does not fit).  Returns 0, or -1 if out of memory (nothing
//  changed).
static int
s_rebuild (fm_replay_t *self, size_t max_events, size_t data_size)
{
    s_entry_t *ring = max_events?
        (s_entry_t *) calloc (max_events, sizeof (s_entry_t)): NULL;
    byte *data = data_size? (byte *) malloc (data_size): NULL;
    if ((max_events && !ring) || (data_size && !data)) {
        free (ring);
        free (data);
        return -1;
    }
    size_t tail = 0;
    for (uint64_t seq = self->first; seq && seq <= self->last; seq++) {
        s_entry_t *old = s_entry (self, seq);
        assert (tail + old->size <= data_size);
        if (old->size)
            memcpy (data + tail, self->data + old->offset, old->size);
        s_entry_t *entry = &ring [(seq - 1) % max_events];
        entry->offset = tail;
        entry->size = old->size;
        tail += old->size;
    }
    free (self->ring);
    free (self->data);
    self->ring = ring;
    self->max_events = max_events;
    self->data = data;
    self->data_size = data_size;
    self->tail = tail;
    return 0;
}

fm_replay_t *
fm_replay_new (uint64_t epoch, size_t max_events, size_t max_bytes)
{
    fm_replay_t *self = (fm_replay_t *) zmalloc (sizeof (fm_replay_t));
    if (self) {
        self->epoch = epoch;
        if (fm_replay_set_bounds (self, max_events, max_bytes))
            fm_replay_destroy (&self);
    }
    return self;
}

void
fm_replay_destroy (fm_replay_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        fm_replay_t *self = *self_p;
        free (self->ring);
        free (self->data);
        free (self);
        *self_p = NULL;
    }
}

int
fm_replay_set_bounds (fm_replay_t *self, size_t max_events, size_t max_bytes)
{
    assert (self);
    //  Keep the newest that fit, re-indexed and packed into new rings
    size_t old_max_events = self->max_events;
    size_t old_max_bytes = self->max_bytes;
    while (self->first && (self->last - self->first + 1 > max_events
                       ||  self->bytes > max_bytes))
        s_drop_oldest (self);
    size_t data_size = max_bytes < S_DATA_MIN? max_bytes: S_DATA_MIN;
    while (data_size < self->bytes && data_size < max_bytes)
        data_size = data_size * 2 < max_bytes? data_size * 2: max_bytes;
    if (max_events == 0)
        data_size = 0;
    if (s_rebuild (self, max_events, data_size)) {
        self->max_events = old_max_events;
        self->max_bytes = old_max_bytes;
        return -1;
    }
    self->max_bytes = max_bytes;
    return 0;
}

//  True if [at, at + size) of the byte ring holds no stored body
static bool
s_free_at (fm_replay_t *self, size_t at, size_t size)
{
    if (!self->first)
        return true;
    size_t oldest = s_entry (self, self->first)->offset;
    //  Live bodies run from oldest to tail, maybe wrapped past the end
    if (oldest < self->tail)            //  not wrapped: free before and after
        return at >= self->tail || at + size <= oldest;
    return at >= self->tail && at + size <= oldest;
}

int
fm_replay_store (fm_replay_t *self, uint64_t seq, const byte *data, size_t size)
{
    assert (self);
    assert (seq == self->head + 1);     //  The broker's seq is gap-free
    self->head = seq;
    if (self->max_events == 0 || size > self->max_bytes) {
        s_drop_all (self);              //  Keep the stored range contiguous
        return 0;
    }
    while (self->first && (self->last - self->first + 1 >= self->max_events
                       ||  self->bytes + size > self->max_bytes))
        s_drop_oldest (self);
    //  The body goes at tail, or at 0 if it does not fit before the end.
    //  While that space is taken: grow the byte ring if it may still grow
    //  (a rebuild packs the live bodies at its start), else drop the
    //  oldest (all of them at worst: size <= max_bytes == data_size then)
    for (;;) {
        size_t at = self->tail + size <= self->data_size? self->tail: 0;
        if (size <= self->data_size && (!self->first || s_free_at (self, at, size))) {
            if (!self->first)
                at = 0;
            if (size)
                memcpy (self->data + at, data, size);
            if (!self->first)
                self->first = seq;
            self->last = seq;
            s_entry_t *entry = s_entry (self, seq);
            entry->offset = at;
            entry->size = size;
            self->bytes += size;
            self->tail = at + size;
            return 0;
        }
        size_t grown = self->data_size * 2 < self->max_bytes?
                       self->data_size * 2: self->max_bytes;
        if (self->data_size < self->max_bytes
        &&  s_rebuild (self, self->max_events, grown) == 0)
            continue;
        if (size > self->data_size) {
            s_drop_all (self);          //  Out of memory: keep the stored
            return -1;                  //  range contiguous, as documented
        }
        s_drop_oldest (self);
    }
}

void
fm_replay_skip (fm_replay_t *self, uint64_t head)
{
    assert (self);
    s_drop_all (self);
    self->head = head;
}

uint64_t
fm_replay_first (fm_replay_t *self)
{
    assert (self);
    return self->first;
}

uint64_t
fm_replay_last (fm_replay_t *self)
{
    assert (self);
    return self->last;
}

//  Parse one unsigned decimal field; returns 0 or -1.
static int
s_number (const char **cursor, const char *end, uint64_t *value)
{
    const char *text = *cursor;
    while (text < end && *text == ' ')
        text++;
    if (text == end || *text < '0' || *text > '9')
        return -1;
    uint64_t number = 0;
    while (text < end && *text >= '0' && *text <= '9') {
        if (number > (UINT64_MAX - 9) / 10)
            return -1;
        number = number * 10 + (uint64_t) (*text++ - '0');
    }
    *cursor = text;
    *value = number;
    return 0;
}

static zmsg_t *
s_status (int status, uint64_t epoch, uint64_t from_seq, uint64_t to_seq, uint64_t head)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstrf (msg, "%d %" PRIu64 " %" PRIu64 " %" PRIu64 " %" PRIu64,
                  status, epoch, from_seq, to_seq, head);
    return msg;
}

zmsg_t *
fm_replay_answer (fm_replay_t *self, const byte *request, size_t size)
{
    assert (self);
    const char *cursor = (const char *) request;
    const char *end = cursor + size;
    uint64_t epoch, from_seq, to_seq;
    if (s_number (&cursor, end, &epoch) || s_number (&cursor, end, &from_seq)
    ||  s_number (&cursor, end, &to_seq) || cursor != end)
        return s_status (400, self->epoch, 0, 0, self->head);
    if (epoch == 0)
        epoch = self->epoch;
    if (to_seq == 0 || (epoch == self->epoch && to_seq > self->head))
        to_seq = epoch == self->epoch? self->head: UINT64_MAX;
    if (from_seq == 0 || from_seq > to_seq)
        return s_status (204, epoch, from_seq, to_seq, self->head);
    if (epoch != self->epoch)
        return s_status (410, epoch, from_seq, to_seq, self->head);
    if (!self->first || from_seq < self->first) {
        uint64_t gone_to = self->first && self->first - 1 < to_seq?
                           self->first - 1: to_seq;
        return s_status (410, epoch, from_seq, gone_to, self->head);
    }
    //  from_seq..: all stored (stored range ends at head)
    uint64_t last = from_seq;
    size_t bytes = s_entry (self, from_seq)->size;
    while (last < to_seq && last - from_seq + 1 < FM_REPLAY_BATCH
       &&  bytes + s_entry (self, last + 1)->size <= FM_REPLAY_BATCH_BYTES) {
        last++;
        bytes += s_entry (self, last)->size;
    }
    zmsg_t *msg = s_status (200, epoch, from_seq, last, self->head);
    for (uint64_t seq = from_seq; seq <= last; seq++) {
        s_entry_t *entry = s_entry (self, seq);
        zmsg_addmem (msg, self->data + entry->offset, entry->size);
    }
    return msg;
}


//  --------------------------------------------------------------------------
//  Self test

static void
s_expect (zmsg_t **msg_p, const char *status_line, size_t frames)
{
    zmsg_t *msg = *msg_p;
    char *line = zmsg_popstr (msg);
    if (!streq (line, status_line))
        zsys_error ("fm_replay: got '%s', want '%s'", line, status_line);
    assert (streq (line, status_line));
    assert (zmsg_size (msg) == frames);
    zstr_free (&line);
    zmsg_destroy (msg_p);
}

void
fm_replay_test (bool verbose)
{
    printf (" * fm_replay: ");
    if (verbose)
        printf ("\n");
    fm_replay_t *replay = fm_replay_new (77, 4, 1000);
    assert (replay);
    assert (fm_replay_first (replay) == 0);
    zmsg_t *msg = fm_replay_answer (replay, (const byte *) "0 0 0", 5);
    s_expect (&msg, "204 77 0 0 0", 0);
    char body [16];
    for (uint64_t seq = 1; seq <= 6; seq++) {
        snprintf (body, sizeof (body), "event-%" PRIu64, seq);
        assert (fm_replay_store (replay, seq, (const byte *) body, strlen (body)) == 0);
    }
    //  Ring of 4: 3..6 stored, 1..2 gone
    assert (fm_replay_first (replay) == 3 && fm_replay_last (replay) == 6);
    msg = fm_replay_answer (replay, (const byte *) "77 1 6", 6);
    s_expect (&msg, "410 77 1 2 6", 0);
    msg = fm_replay_answer (replay, (const byte *) "77 3 0", 6);
    assert (msg);
    zframe_t *line = zmsg_pop (msg);
    assert (zframe_streq (line, "200 77 3 6 6"));
    zframe_destroy (&line);
    char *first = zmsg_popstr (msg);
    assert (streq (first, "event-3"));
    zstr_free (&first);
    assert (zmsg_size (msg) == 3);
    zmsg_destroy (&msg);
    msg = fm_replay_answer (replay, (const byte *) "0 5 5", 5);
    s_expect (&msg, "200 77 5 5 6", 1);
    msg = fm_replay_answer (replay, (const byte *) "0 7 9", 5);
    s_expect (&msg, "204 77 7 6 6", 0);
    msg = fm_replay_answer (replay, (const byte *) "76 1 9", 6);
    s_expect (&msg, "410 76 1 9 6", 0);
    msg = fm_replay_answer (replay, (const byte *) "1 x", 3);
    s_expect (&msg, "400 77 0 0 6", 0);
    msg = fm_replay_answer (replay, (const byte *) "99999999999999999999999 1 1", 27);
    s_expect (&msg, "400 77 0 0 6", 0);
    //  Byte bound: a big event pushes out the old ones
    byte big [900] = { 0 };
    assert (fm_replay_store (replay, 7, big, sizeof (big)) == 0);
    assert (fm_replay_first (replay) == 4 && fm_replay_last (replay) == 7);
    //  Shrinking keeps the newest
    assert (fm_replay_set_bounds (replay, 2, 1000) == 0);
    assert (fm_replay_first (replay) == 6 && fm_replay_last (replay) == 7);
    msg = fm_replay_answer (replay, (const byte *) "0 6 0", 5);
    s_expect (&msg, "200 77 6 7 7", 2);
    //  Disabled: nothing kept, everything gone
    assert (fm_replay_set_bounds (replay, 0, 0) == 0);
    assert (fm_replay_store (replay, 8, big, 10) == 0);
    msg = fm_replay_answer (replay, (const byte *) "0 8 8", 5);
    s_expect (&msg, "410 77 8 8 8", 0);
    fm_replay_destroy (&replay);
    fm_replay_destroy (&replay);

    //  The byte ring: random sizes (0 to a third of the byte bound) wrap
    //  it many times and make it grow; every stored event reads back
    //  intact, the stored range ends at the last seq, and both bounds
    //  hold.  Body of seq n = bytes (n * 7 + i) & 0xFF.
    uint64_t state = 7;
    for (int shape = 0; shape < 3; shape++) {
        size_t max_events = shape == 0? 50: shape == 1? 1000: 7;
        size_t max_bytes = shape == 0? 300 * 1024: shape == 1? 2000: 100;
        replay = fm_replay_new (5, max_events, max_bytes);
        assert (replay);
        byte data [100 * 1024];
        size_t kept_most = 0;
        for (uint64_t seq = 1; seq <= 3000; seq++) {
            state = state * 6364136223846793005ULL + 1442695040888963407ULL;
            size_t size = (size_t) (state >> 33) % (max_bytes / 3 + 1);
            for (size_t i = 0; i < size; i++)
                data [i] = (byte) (seq * 7 + i);
            assert (fm_replay_store (replay, seq, data, size) == 0);
            uint64_t first = fm_replay_first (replay);
            assert (first && fm_replay_last (replay) == seq);
            assert (seq - first + 1 <= max_events);
            if (seq - first + 1 > kept_most)
                kept_most = seq - first + 1;
            if (seq % 97 == 0 || shape == 2) {
                char request [64];
                snprintf (request, sizeof (request), "0 %" PRIu64 " 0", first);
                msg = fm_replay_answer (replay, (const byte *) request, strlen (request));
                zframe_t *status = zmsg_pop (msg);
                assert (zframe_data (status) [0] == '2');
                zframe_destroy (&status);
                assert (zmsg_size (msg) == seq - first + 1);
                size_t bytes = 0;
                uint64_t at = first;
                zframe_t *frame;
                while ((frame = zmsg_pop (msg))) {
                    for (size_t i = 0; i < zframe_size (frame); i++)
                        assert (zframe_data (frame) [i] == (byte) (at * 7 + i));
                    bytes += zframe_size (frame);
                    zframe_destroy (&frame);
                    at++;
                }
                assert (bytes <= max_bytes);
                zmsg_destroy (&msg);
            }
        }
        //  The rings keep more than one event when they can
        assert (kept_most > (shape == 2? 1: 3));
        //  Shrink and grow again: the newest survive and read back
        assert (fm_replay_set_bounds (replay, 3, max_bytes) == 0);
        assert (fm_replay_last (replay) == 3000 && fm_replay_first (replay) >= 2998);
        assert (fm_replay_set_bounds (replay, max_events * 2, max_bytes * 2) == 0);
        assert (fm_replay_last (replay) == 3000);
        for (size_t i = 0; i < 10; i++)
            data [i] = (byte) (3001 * 7 + i);
        assert (fm_replay_store (replay, 3001, data, 10) == 0);
        msg = fm_replay_answer (replay, (const byte *) "0 3001 3001", 11);
        s_expect (&msg, "200 5 3001 3001 3001", 1);
        fm_replay_skip (replay, 4000);
        assert (fm_replay_first (replay) == 0);
        assert (fm_replay_store (replay, 4001, data, 10) == 0);
        assert (fm_replay_first (replay) == 4001);
        fm_replay_destroy (&replay);
    }
    printf ("OK\n");
}
