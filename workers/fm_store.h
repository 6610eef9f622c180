/*  =========================================================================
    fm_store - the recorder's SQLite event log

    finmatch-recorder subscribes to every broker event and keeps them in
    one SQLite file, which is the audit record of the platform and the only
    input of `finmatch report`.  This class owns that file: its schema
    (below, the interface for reports and for anyone querying the log), the
    batched writes, and the detection of lost events.

    Writes are batched: fm_store_append only copies the event (and its raw
    body) into a bounded in-memory queue; fm_store_flush writes the whole
    queue in ONE transaction (BEGIN IMMEDIATE ... COMMIT) with prepared
    statements.  The queue is flushed automatically when batch_max events
    are pending, and the recorder calls fm_store_flush on a batch_ms timer.
    If a flush fails (disk full, database locked...) the transaction is
    rolled back, nothing of it stays in the file, and the queue is kept for
    the caller's retry: an event is always written whole (its `events` row,
    its `levers` rows and any `gaps` row it revealed commit together) or
    not at all.  While the queue is full, fm_store_append refuses events;
    a refused event is not silent: it becomes a `gaps` row as soon as a
    later event of the same epoch is stored.

    Gap detection: the broker numbers events 1, 2, 3... within an epoch
    (its start time), gap-free.  The store knows the last seq of each epoch
    (read from the file the first time an epoch is seen, so a restarted
    recorder continues where it stopped) and records every jump as a
    `gaps` row, including a first event of an epoch whose seq is above 1
    (the recorder joined late, or lost the start: SUB "slow joiner").  A
    seq already in the file (a replay) is ignored and counted as a
    duplicate.  A seq below the last one that is not in the file (an
    event arriving late) is stored and the `gaps` row that covered it is
    shrunk or split, so `gaps` always lists exactly the missing seqs.

    Schema (version FM_STORE_SCHEMA_VERSION; one row per event):

      meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)
          'application'     = 'finmatch-events'   identifies a finmatch log
          'schema_version'  = '4'   (older logs are upgraded on open:
                                    1 -> 2 ALTER TABLE adds latency_us;
                                    2 -> 3 rewrites events with its id,
                                    once: 7-12 s per million events;
                                    3 -> 4 numbers the requests,
                                    once: ~8 s per million events)

      epochs                -- numbers the (epoch, seq >> 40) pairs
          n                 INTEGER PRIMARY KEY  1, 2, 3... in order seen
          epoch             INTEGER NOT NULL
          hi                INTEGER NOT NULL  seq >> 40 (0 for any real
                                              broker: 2^40 events)
          UNIQUE (epoch, hi)

      events                -- one broker event
          epoch             INTEGER NOT NULL  broker epoch (start, UTC µs)
          seq               INTEGER NOT NULL  1, 2, 3... within the epoch
          ts_us             INTEGER NOT NULL  when it happened, UTC µs
          type              TEXT NOT NULL     "offer.made"... (proto names)
          request_id        TEXT              16 hex
          enterprise_id     TEXT              unified social credit code
          grid_id           TEXT
          industry          TEXT
          bank              TEXT              bank code ("CQRCB")
          product           TEXT              product code
          offer_id          TEXT              "<BANK>/<PRODUCT>"
          loan_id           TEXT
          service           TEXT              worker events
          peer              TEXT              worker/input events
          amount_fen        INTEGER           money, fen
          term_months       INTEGER
          base_rate_bp      INTEGER           rates, basis points
          effective_rate_bp INTEGER
          status            INTEGER           3-digit status
          count             INTEGER           banks dispatched / offers...
          reason_code       INTEGER           decline.made: first reason
          text              TEXT
          raw               BLOB              the body frame as received
          latency_us        INTEGER           offer/decline.made, sla.breach,
                                              reply.late: bank response time
          id                INTEGER PRIMARY KEY  n << 40 | (seq & (2^40 - 1))
                                              with n = epochs.n of (epoch,
                                              seq >> 40): (epoch, seq) is
                                              unique, ids ascend with seq
                                              within an epoch
        Since version 3 the key is the rowid `id` (one b-tree per event
        instead of two): there is no index on (epoch, seq), so filter
        and join on them only where the rows are few, or find the id
        through epochs (the last seq of an epoch: its highest n, then
        the highest id of that n's range).  Versions 2 and 3 have the
        same columns: a query reads both alike (`id` aside).
        Which fields each type sets: brief/SPEC.md "Event stream".  A column
        is NULL when the field was absent from the wire body: the codec
        does not encode empty strings and zero numbers, so NULL and 0 (or
        '') mean the same; use COALESCE (x, 0) in arithmetic.
          request_n         INTEGER           request_ids.n of request_id
                                              (version 4; NULL without one)
        Indexes: events_request_n (request_n), and events_type (type) for
        loan.granted rows only (the loans every report reads; a partial
        index, and an older log's wider one is rebuilt on open).  A query
        uses events_type when its WHERE says `type = 'loan.granted'`
        literally (not `type = ?` nor `IN`); a query on any other type
        scans.

        A request's events: WHERE request_n = (SELECT n FROM request_ids
        WHERE request_id = ?).  request_id itself has no index since
        version 4 (each event took a random page of it): a query that
        filters on request_id alone scans.  A version 2 or 3 log has no
        request_n, and its index events_request (request_id) instead;
        readers tell the two apart with fm_store_has_request_numbers.

      request_ids           -- the requests, numbered (version 4)
          n                 INTEGER PRIMARY KEY  1, 2, 3... in the order
                                              of their first event
          request_id        TEXT NOT NULL UNIQUE

      levers                -- policy levers of an event, in wire order
          epoch, seq        INTEGER NOT NULL  the event (events' key)
          idx               INTEGER NOT NULL  0, 1, 2... position
          code              TEXT NOT NULL     "party_building"
          name              TEXT              "党建增信(A级)"
          bp                INTEGER NOT NULL  reduction, basis points
          payer             TEXT NOT NULL     "bank" | "government"
          PRIMARY KEY (epoch, seq, idx)
        WITHOUT ROWID in logs created since 2026-11 (one b-tree per row
        instead of two; the same columns, key and queries).

      gaps                  -- seqs that never reached the log
          epoch             INTEGER NOT NULL
          from_seq, to_seq  INTEGER NOT NULL  missing range, inclusive
          detected_us       INTEGER NOT NULL  when the recorder noticed
          PRIMARY KEY (epoch, from_seq)

    Opening refuses a file that has tables but is not a finmatch log, or
    has another schema version: the store never writes into someone
    else's database.  PRAGMAs: journal_mode=WAL (readers such as reports
    never block the recorder), synchronous=NORMAL (a power loss may lose
    the last commits, never corrupt the file), busy_timeout.  Checkpoints
    run in a thread of the store on a second connection (PASSIVE, when
    the WAL passes 10,000 pages, ~40 MB), so a COMMIT never waits for
    one; the WAL file grows to ~40 MB and more while one runs.
    =========================================================================
*/

#ifndef FM_STORE_H_INCLUDED
#define FM_STORE_H_INCLUDED

#include <czmq.h>
#include <sqlite3.h>
#include <stdbool.h>
#include <stdint.h>
#include "fm_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

#define FM_STORE_SCHEMA_VERSION     4
//  Oldest version whose events and levers a reader can query like the
//  current one (version 3 changed only the key, version 4 added
//  request_n: a reader finds a request's events by fm_store_has_request_numbers)
#define FM_STORE_SCHEMA_READABLE    2
#define FM_STORE_APPLICATION        "finmatch-events"
//  Default wait for a lock held by another connection (msecs)
#define FM_STORE_BUSY_MS            1000

typedef struct _fm_store_t fm_store_t;

//  Counters since fm_store_new (events of the current session only)
typedef struct {
    uint64_t stored;                    //  events committed to the file
    uint64_t duplicates;                //  ignored: seq already in the file
    uint64_t late;                      //  stored below the last seq (filled a gap)
    uint64_t gaps;                      //  gap rows written
    uint64_t missing;                   //  seqs missing across those gaps
    uint64_t dropped;                   //  refused: queue full, or unstorable
    uint64_t commits;                   //  successful flushes that wrote
    uint64_t failures;                  //  failed flushes
    uint64_t checkpoints;               //  run by the checkpoint thread
} fm_store_stats_t;

//  Open (creating if needed) the event log at path.  batch_max (>= 1):
//  pending events that trigger an automatic flush; pending_max (>=
//  batch_max): the queue bound while flushes fail.  Returns the store, or
//  NULL if the file cannot be opened, is not a finmatch log, has another
//  schema version, or the schema cannot be created (error logged).
fm_store_t *
    fm_store_new (const char *path, size_t batch_max, size_t pending_max);

//  Flush what is pending (one attempt), close the file and destroy.
//  Events still pending after a failed flush are lost and logged.
//  Idempotent; nulls *self_p.
void
    fm_store_destroy (fm_store_t **self_p);

//  Queue one event for the next flush: the event and raw_size bytes at raw
//  are copied (both borrowed; raw may be NULL: the column stays NULL).  If
//  batch_max events are then pending, flushes, unless the previous flush
//  failed (the caller's retry timer owns retries then).  Returns 0 if the
//  event was queued (even if the automatic flush failed: see
//  fm_store_failing), or -1 if it was refused and counted as dropped:
//  the queue is full, or the event has seq 0, epoch/seq above INT64_MAX, or
//  an unknown type (it should not have passed fm_event_decode).
int
    fm_store_append (fm_store_t *self, const fm_event_t *event,
                     const byte *raw, size_t raw_size);

//  Write every pending event in one transaction.  Returns 0 when done (or
//  nothing was pending), or -1 if the transaction failed: it is rolled
//  back, the events stay pending for a retry, and sqlite's message is
//  logged once per run of failures.  An event that can never be stored
//  (sqlite rejects the row itself, not the file) is dropped so that it
//  cannot block the queue forever.
int
    fm_store_flush (fm_store_t *self);

//  Number of events waiting for a flush.
size_t
    fm_store_pending (fm_store_t *self);

//  True if the last flush failed (a retry is due).
bool
    fm_store_failing (fm_store_t *self);

//  Copy the counters into *stats.  Cannot fail.
void
    fm_store_stats (fm_store_t *self, fm_store_stats_t *stats);

//  Set how long a write waits for another connection's lock (msecs) before
//  the flush fails.  Default FM_STORE_BUSY_MS.
void
    fm_store_set_busy_timeout (fm_store_t *self, int msecs);

//  Checkpoint when the WAL holds this many pages (>= 1; default 10,000,
//  ~40 MB).  The checkpoint thread copies them; if it falls 20 times that
//  far behind, the writer checkpoints inline.  For tests and tuning.
void
    fm_store_set_checkpoint_pages (fm_store_t *self, int pages);

//  One gaps row
typedef struct {
    uint64_t epoch;
    uint64_t from_seq;
    uint64_t to_seq;
} fm_store_gap_t;

//  Copy up to max gaps rows into gaps, newest epoch first, then by
//  from_seq (what is most likely still replayable comes first).  Reads
//  the file: pending events are not seen until flushed.  Returns the
//  number copied, or -1 if the query failed (logged).
int
    fm_store_gaps (fm_store_t *self, fm_store_gap_t *gaps, size_t max);

//  Last seq of epoch in the file or in the queue (0 if none) into *last.
//  Returns 0, or -1 if the query failed (logged).
int
    fm_store_last_seq (fm_store_t *self, uint64_t epoch, uint64_t *last);

//  For a reader with its own connection to a log (finmatch status, the
//  report): true if the log numbers its requests (version 4: a request's
//  events are those of request_n = (SELECT n FROM request_ids WHERE
//  request_id = ?)); false for a version 2 or 3 log, whose events are
//  found by request_id (indexed there), or if the query failed.
bool
    fm_store_has_request_numbers (sqlite3 *db);

//  For readers' SQL on a version 4 log: "the event is one of the request
//  whose id is param", param an SQL expression ("?1", or a quoted
//  literal).  Searches request_ids' index, then events_request_n; a
//  condition on events.request_id would scan the table.
#define FM_STORE_OF_REQUEST(param) \
    "request_n = (SELECT n FROM request_ids WHERE request_id = " param ")"

//  The inverse of the upgrade from version 3 to 4, for tests that check
//  that readers still read a version 3 log: run on a copy of a version 4
//  log, it leaves the same events without request numbers, request_id
//  indexed as version 3 had it
#define FM_STORE_DOWNGRADE_4_TO_3 \
    "DROP INDEX events_request_n;" \
    "ALTER TABLE events DROP COLUMN request_n;" \
    "DROP TABLE request_ids;" \
    "CREATE INDEX events_request ON events (request_id);" \
    "UPDATE meta SET value = '3' WHERE key = 'schema_version';"

//  Delete the log at path with the -wal and -shm files SQLite keeps
//  beside it (for tests and tools; the log must not be open).  A file
//  that is not there is no error.  Returns 0, or -1 if one of them could
//  not be removed (errno set).
int
    fm_store_remove (const char *path);

//  Self test
void
    fm_store_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
