/*  =========================================================================
    fm_journal - the broker's local journal: requests, results, grants and
    events survive a broker restart (including kill -9)

    An append-only log of records in a directory of numbered segment files
    ("seg-00000001.fmj", ...).  The broker appends a record BEFORE it acts
    on what the record says: a request before it asks gov.credit or
    publishes request.received, a result before the client sees it, an
    accept before the GRANT_QUERY leaves, every event before it is
    published.  On start it loads the records in order and rebuilds its
    state from them (fm_broker.c "Recovery"; proto/SPEC.md "Journal").

    Record (host byte order; the journal never leaves its host):
        u32 size        whole record, header included
        u32 crc         CRC-32 of everything after this field
        u8  type        fm_journal_type_t
        u8  reserved[3] zero
        u64 seq         EVENT: its seq; SESSION: the epoch; else 0
        char id[16]     request id (16 hex), or zeros
        payload         size - 36 bytes
    A record that is short or fails its CRC ends the segment: at the tail
    of the newest segment this is the torn last write of a killed broker
    (the file is cut back there), anywhere else it is damage (logged).

    Appends are buffered in memory; fm_journal_flush writes them with one
    write().  The broker flushes before anything that depends on the
    records leaves it (a reply, a query, an event) and at the end of each
    loop turn, so "journaled before acted on" holds per flush, at one
    write() per batch instead of one per record.

    Durability: sync "normal" is one write() per flush: the records are in
    the kernel before the broker acts, so killing the broker (even -9)
    loses nothing; a power cut or kernel crash may lose the last records.
    Sync "full" adds fdatasync() per flush: survives power loss, at the
    cost of a disk flush per batch.

    Bounds: a new segment starts when the current one exceeds segment_max
    bytes (default 16 MiB), and with every broker start.  A segment is
    pinned by the requests whose REQUEST record it holds until the broker
    releases them (evicted from the retained set, or failed), and by
    events the replay store still keeps.  Unpinned segments are deleted
    oldest first, so the journal holds about max_retained requests plus
    replay_max events, and one segment more.  Costs: append is a copy
    into the buffer; flush is one write(); load reads every segment once.

    State that lives longer than any request (the risk warnings, WARNING
    records) must neither be lost to pruning nor pin old segments for
    its whole life.  So every segment starts with a full copy of it: the
    roll callback (fm_journal_set_roll) runs right after a new segment's
    SESSION record, at every start and at every rotation, and appends the
    live state there.  Loading any suffix of the segments then rebuilds
    the state, so deleting the oldest ones loses nothing, and prune never
    deletes the newest segment, the one holding the latest copy.  The copy
    costs one record per live warning per segment (at most FM_WARN_MAX,
    a few hundred KiB at worst, usually a handful).
    =========================================================================
*/

#ifndef FM_JOURNAL_H_INCLUDED
#define FM_JOURNAL_H_INCLUDED

#include <czmq.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    FM_JOURNAL_SESSION = 1,     //  seq = epoch; payload = boot id, sync
    FM_JOURNAL_EVENT,           //  seq; payload = event body as published
    FM_JOURNAL_REQUEST,         //  id; payload = REQUEST body (as asked)
    FM_JOURNAL_RESULT,          //  id; payload = RESULT body as sent
    FM_JOURNAL_END,             //  id; request forgotten (failed, evicted)
    FM_JOURNAL_ACCEPT,          //  id; payload = offer id accepted
    FM_JOURNAL_CONFIRM,         //  id; payload = CONFIRMATION body
    FM_JOURNAL_GRANT_FAIL,      //  id; the pending grant ended without
                                //  confirmation (timeout, bank error)
    FM_JOURNAL_PROFILE,         //  id; payload = PROFILE body from gov
    FM_JOURNAL_ANSWER,          //  id; payload = u8 bank code length, the
                                //  code, then the BANK_ANSWER body (none:
                                //  the bank answered ERROR)
    FM_JOURNAL_MISS,            //  id; payload = bank code: it missed
    FM_JOURNAL_WARNING          //  payload = WARN body (fm_proto): lift
                                //  false = this warning is held (raised,
                                //  replaced, or copied into a new
                                //  segment); lift true = the warning on
                                //  its target is gone (lifted, expired)
} fm_journal_type_t;

typedef enum {
    FM_JOURNAL_SYNC_NORMAL = 0, //  write() per record: survives kill -9
    FM_JOURNAL_SYNC_FULL        //  + fdatasync(): survives power loss
} fm_journal_sync_t;

//  Header size of a record, bytes
#define FM_JOURNAL_HEADER       36
//  Default segment size, bytes
#define FM_JOURNAL_SEGMENT_MAX  (16 * 1024 * 1024)

//  One record as loaded.  data is borrowed: valid during the callback.
typedef struct {
    fm_journal_type_t type;
    char id [17];               //  request id, "" if none
    uint64_t seq;               //  EVENT seq, SESSION epoch, else 0
    uint32_t segment;           //  segment holding the record
    const byte *data;           //  payload
    size_t size;
} fm_journal_record_t;

typedef struct _fm_journal_t fm_journal_t;

//  Called by fm_journal_load for each valid record, in order.
typedef void (fm_journal_fn) (void *arg, const fm_journal_record_t *record);

//  Called when a new segment starts (fm_journal_begin, and each rotation
//  at segment_max), right after its SESSION record: the owner appends its
//  long-lived state (fm_journal_append; those appends never rotate).
typedef void (fm_journal_roll_fn) (void *arg, fm_journal_t *journal,
                                   uint32_t segment);

//  Open (create if missing) the journal directory at path.  Nothing is
//  read or written yet.  Returns the journal, or NULL with reason filled
//  (directory cannot be created or is not writable).
fm_journal_t *
    fm_journal_new (const char *path, fm_journal_sync_t sync,
                    char *reason, size_t size);

//  Destroy; idempotent, nulls *self_p.  Closes the segment file.
void
    fm_journal_destroy (fm_journal_t **self_p);

//  Parse "normal" / "full" into *sync.  Returns 0, or -1 if neither.
int
    fm_journal_sync_parse (const char *text, fm_journal_sync_t *sync);

//  Set the segment size (tests make it small).  Cannot fail.
void
    fm_journal_set_segment_max (fm_journal_t *self, size_t bytes);

//  Set the roll callback (NULL = none): see the header comment.  Set it
//  before fm_journal_begin.  Cannot fail.
void
    fm_journal_set_roll (fm_journal_t *self, fm_journal_roll_fn *fn, void *arg);

//  Read every segment in order, calling fn for each valid record; cut a
//  torn tail off the newest segment.  Every REQUEST record pins its
//  segment (release it with fm_journal_release).  Call once, before
//  fm_journal_begin.  Returns the number of records, or -1 with reason
//  filled if a segment cannot be read.
int64_t
    fm_journal_load (fm_journal_t *self, fm_journal_fn *fn, void *arg,
                     char *reason, size_t size);

//  The epoch a restarted broker may continue after fm_journal_load: the
//  last session's, if the journal holds one and nothing may have been lost
//  since (same boot, or that session synced fully).  Returns the epoch, or
//  0 if the broker must start a new one.
uint64_t
    fm_journal_epoch (fm_journal_t *self);

//  The last event seq loaded for the epoch fm_journal_epoch returned (0 if
//  none).
uint64_t
    fm_journal_last_seq (fm_journal_t *self);

//  Start writing: a new segment, opened with a SESSION record for epoch.
//  Returns 0, or -1 with reason filled.
int
    fm_journal_begin (fm_journal_t *self, uint64_t epoch, char *reason, size_t size);

//  Append one record (id may be NULL; data may be NULL when size is 0)
//  to the write buffer: it reaches the file with the next
//  fm_journal_flush (or at once when the buffer passes 1 MiB).  A REQUEST
//  record pins the segment it lands in.  Returns the segment number
//  (>= 1), or 0 if the journal is broken (a write failed: logged once;
//  appends fail until restart).
uint32_t
    fm_journal_append (fm_journal_t *self, fm_journal_type_t type,
                       const char *id, uint64_t seq, const void *data,
                       size_t size);

//  Append one record whose payload is head (head_size bytes) followed by
//  data (size bytes): the same record fm_journal_append writes for the
//  two joined, without the caller joining them first.  head or data may
//  be NULL when its size is 0.  Returns as fm_journal_append.
uint32_t
    fm_journal_append2 (fm_journal_t *self, fm_journal_type_t type,
                        const char *id, uint64_t seq, const void *head,
                        size_t head_size, const void *data, size_t size);

//  Write the buffered records: one write() (and fdatasync() under sync
//  "full").  Returns 0, or -1 if the write failed (logged; the journal is
//  broken from then on).
int
    fm_journal_flush (fm_journal_t *self);

//  True while appended records wait for fm_journal_flush.
bool
    fm_journal_pending (fm_journal_t *self);

//  Release one pin of a segment (the request anchored there is gone).
//  Unknown segment numbers are ignored.  Cannot fail.
void
    fm_journal_release (fm_journal_t *self, uint32_t segment);

//  Delete the oldest segments that nothing pins any more: no pinned
//  request, and every event in them below keep_seq (the oldest seq the
//  replay store keeps; 0 = keeps none).  Never the segment being written.
//  Returns the number of segments deleted.
size_t
    fm_journal_prune (fm_journal_t *self, uint64_t keep_seq);

//  True after a failed write.
bool
    fm_journal_broken (fm_journal_t *self);

//  Segments on disk and their total bytes.
size_t
    fm_journal_segments (fm_journal_t *self);
uint64_t
    fm_journal_bytes (fm_journal_t *self);

//  Self test
void
    fm_journal_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
