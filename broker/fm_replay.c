/*  =========================================================================
    fm_replay - the broker's bounded store of recent events, for replay

    See fm_replay.h.  The ring is an array of max_events entries; entry
    (seq - 1) % max_events holds seq while it is stored.  first..last are
    the stored seqs, contiguous (events are stored in seq order and
    dropped oldest first), so a lookup is an index computation.
    =========================================================================
*/

#include "fm_replay.h"
#include <inttypes.h>

typedef struct {
    byte *data;                     //  Owned copy of the body, or NULL
    size_t size;
} s_entry_t;

struct _fm_replay_t {
    uint64_t epoch;                 //  The broker's epoch
    s_entry_t *ring;                //  Owned, max_events entries
    size_t max_events;
    size_t max_bytes;
    size_t bytes;                   //  Sum of stored sizes
    uint64_t first;                 //  Oldest stored seq, 0 if empty
    uint64_t last;                  //  Newest stored seq, 0 if empty
    uint64_t head;                  //  Last seq offered to us (stored or not)
};

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
    free (entry->data);
    entry->data = NULL;
    entry->size = 0;
    if (self->first == self->last)
        self->first = self->last = 0;
    else
        self->first++;
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
        while (self->first)
            s_drop_oldest (self);
        free (self->ring);
        free (self);
        *self_p = NULL;
    }
}

int
fm_replay_set_bounds (fm_replay_t *self, size_t max_events, size_t max_bytes)
{
    assert (self);
    //  Re-index into a new ring: keep the newest that fit
    s_entry_t *ring = max_events?
        (s_entry_t *) calloc (max_events, sizeof (s_entry_t)): NULL;
    if (max_events && !ring)
        return -1;
    while (self->first && (self->last - self->first + 1 > max_events
                       ||  self->bytes > max_bytes))
        s_drop_oldest (self);
    for (uint64_t seq = self->first; seq && seq <= self->last; seq++)
        ring [(seq - 1) % max_events] = *s_entry (self, seq);
    free (self->ring);
    self->ring = ring;
    self->max_events = max_events;
    self->max_bytes = max_bytes;
    return 0;
}

int
fm_replay_store (fm_replay_t *self, uint64_t seq, const byte *data, size_t size)
{
    assert (self);
    assert (seq == self->head + 1);     //  The broker's seq is gap-free
    self->head = seq;
    if (self->max_events == 0 || size > self->max_bytes) {
        while (self->first)
            s_drop_oldest (self);       //  Keep the stored range contiguous
        return 0;
    }
    byte *copy = (byte *) malloc (size? size: 1);
    if (!copy) {
        while (self->first)
            s_drop_oldest (self);
        return -1;
    }
    memcpy (copy, data, size);
    while (self->first && (self->last - self->first + 1 >= self->max_events
                       ||  self->bytes + size > self->max_bytes))
        s_drop_oldest (self);
    if (!self->first)
        self->first = seq;
    self->last = seq;
    s_entry_t *entry = s_entry (self, seq);
    entry->data = copy;
    entry->size = size;
    self->bytes += size;
    return 0;
}

void
fm_replay_skip (fm_replay_t *self, uint64_t head)
{
    assert (self);
    while (self->first)
        s_drop_oldest (self);
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
        zmsg_addmem (msg, entry->data, entry->size);
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
    printf ("OK\n");
}
