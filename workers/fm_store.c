/*  =========================================================================
    fm_store - the recorder's SQLite event log

    See fm_store.h for the schema and the contract.  Implementation notes:
    - Every statement is prepared once in fm_store_new.  An event's NULL
      columns are bound only when the event before it set them (bindings
      survive sqlite3_reset; s_bind_text_opt).
    - The gap detector caches the last seq of ONE epoch (the current one):
      events of one broker arrive in order, so the cache hits on all but
      the first event after an epoch change, where two rowid lookups
      (the epoch's highest chunk in epochs, the highest id in its range)
      refill it.  The lookup runs inside the flush transaction, so it
      sees the rows of the same batch too.
    - events.id is made of (epoch, seq) (fm_store.h): INSERT OR IGNORE
      on it is the duplicate check the (epoch, seq) primary key was, one
      b-tree less per event (callgrind, fm-microbench store: -3,100
      instructions of ~28,500 per event).  The chunk number of the
      current (epoch, seq >> 40) is cached like the last seq.
    - Counters and gap warnings are applied only after COMMIT: a rolled
      back flush is retried whole, and must not count or warn twice.
    - The queue holds the events by value and their raw bodies in one
      arena (no malloc per event), and both outlive the statements they
      are bound to, so everything is bound SQLITE_STATIC (no copies).
    - Checkpoints run in a thread of their own on a second connection
      (PASSIVE: never blocks the writer), woken by the writer's WAL hook
      when the WAL passes CHECKPOINT_PAGES.  SQLite's automatic checkpoint
      ran inside a COMMIT and stalled the recorder's receiving thread for
      as long as it took to write and sync ~40 MB into a growing file; the
      events published meanwhile piled up in the ZeroMQ queue (recorder
      RSS 74 -> 264 MiB over a million requests).
    =========================================================================
*/

#include <sqlite3.h>
#include <pthread.h>
#include <sys/stat.h>
#include <time.h>
#include "fm_store.h"

//  The checkpoint thread is woken when the WAL holds this many pages
//  (4 KiB each: ~40 MB): an index page is written back once per
//  checkpoint however often it changed, so a longer WAL writes less
#define CHECKPOINT_PAGES        10000
//  If the thread falls this many times behind (a very slow disk), the
//  writer checkpoints itself (PASSIVE, inline) so the WAL stays bounded
#define CHECKPOINT_HARD_FACTOR  20
//  An arena larger than this after a flush is given back (it grew while
//  flushes failed)
#define RAW_ARENA_KEEP          (16 * 1024 * 1024)

//  Slots of the request number cache: a request's ~10 events come
//  within its deadline, so even a small direct-mapped cache hits on all
//  but its first (fm-bench: 200 requests in flight)
#define REQUEST_CACHE           4096

typedef struct {
    char request_id [FM_REQUEST_ID_SIZE];       //  "" = empty slot
    int64_t n;
} s_request_slot_t;

//  One queued event
typedef struct {
    fm_event_t event;                   //  copy
    size_t raw_offset;                  //  body in the raw arena, or
    size_t raw_size;                    //  raw_offset SIZE_MAX: no body
} s_pending_t;

//  A gap found during the current flush, logged after COMMIT
typedef struct {
    uint64_t epoch;
    uint64_t from_seq;
    uint64_t to_seq;
} s_gap_t;

struct _fm_store_t {
    sqlite3 *db;                        //  owned connection
    char *path;                         //  owned copy, for messages
    sqlite3_stmt *begin;                //  owned prepared statements...
    sqlite3_stmt *commit;
    sqlite3_stmt *rollback;
    sqlite3_stmt *insert_event;
    sqlite3_stmt *insert_lever;
    sqlite3_stmt *insert_gap;
    sqlite3_stmt *epoch_chunks;
    sqlite3_stmt *chunk_last;
    sqlite3_stmt *find_chunk;
    sqlite3_stmt *insert_chunk;
    sqlite3_stmt *find_gap;
    sqlite3_stmt *delete_gap;
    sqlite3_stmt *find_request;
    sqlite3_stmt *insert_request;
    //  request_id -> request_ids.n of recent requests (s_request_n);
    //  emptied when a flush rolls back (its new numbers went with it)
    s_request_slot_t request_cache [REQUEST_CACHE];
    uint32_t event_set;                 //  insert_event parameters now bound
                                        //  to a value (bit n = ?n), not NULL
    size_t batch_max;                   //  auto flush threshold
    size_t pending_max;                 //  queue bound
    s_pending_t *pending;               //  owned queue, grows to pending_max
    size_t pending_count;
    size_t pending_alloc;
    byte *raw;                          //  owned arena of the queued bodies
    size_t raw_used;
    size_t raw_alloc;
    sqlite3 *ckpt_db;                   //  owned, used by ckpt_thread only
    pthread_t ckpt_thread;
    bool ckpt_running;                  //  ckpt_thread was started
    pthread_mutex_t ckpt_lock;          //  guards the three fields below
    pthread_cond_t ckpt_cond;
    bool ckpt_wanted;                   //  the WAL passed ckpt_pages
    bool ckpt_stop;                     //  destroy: the thread ends
    uint64_t ckpt_count;                //  checkpoints the thread ran
    int ckpt_pages;                     //  checkpoint threshold (writer's)
    s_gap_t *new_gaps;                  //  owned, gaps of the running flush
    size_t new_gap_count;
    size_t new_gap_alloc;
    bool cache_valid;                   //  cache_last is the epoch's last seq
    uint64_t cache_epoch;
    uint64_t cache_last;
    bool chunk_valid;                   //  chunk_n numbers (chunk_epoch,
    uint64_t chunk_epoch;               //  chunk_hi) in table epochs
    uint64_t chunk_hi;
    int64_t chunk_n;
    bool failing;                       //  last flush failed
    uint64_t failed_attempts;           //  consecutive failed flushes
    fm_store_stats_t stats;
};

//  events.id = n << SEQ_BITS | (seq & SEQ_MASK), where n numbers the
//  (epoch, seq >> SEQ_BITS) pair in table epochs: a rowid that is the
//  event's (epoch, seq), so the table needs no second b-tree for its key
#define SEQ_BITS                40
#define SEQ_MASK                ((UINT64_C (1) << SEQ_BITS) - 1)
//  Highest chunk number n (ids stay below 2^63)
#define CHUNK_MAX               ((INT64_C (1) << (63 - SEQ_BITS)) - 1)

//  The events table of version 3; version 4 adds request_n at the end
//  (ALTER TABLE, for new and upgraded logs alike: one column order)
#define EVENTS_TABLE(name) \
    "CREATE TABLE " name " (" \
    "  epoch INTEGER NOT NULL," \
    "  seq INTEGER NOT NULL," \
    "  ts_us INTEGER NOT NULL," \
    "  type TEXT NOT NULL," \
    "  request_id TEXT," \
    "  enterprise_id TEXT," \
    "  grid_id TEXT," \
    "  industry TEXT," \
    "  bank TEXT," \
    "  product TEXT," \
    "  offer_id TEXT," \
    "  loan_id TEXT," \
    "  service TEXT," \
    "  peer TEXT," \
    "  amount_fen INTEGER," \
    "  term_months INTEGER," \
    "  base_rate_bp INTEGER," \
    "  effective_rate_bp INTEGER," \
    "  status INTEGER," \
    "  count INTEGER," \
    "  reason_code INTEGER," \
    "  text TEXT," \
    "  raw BLOB," \
    "  latency_us INTEGER," \
    "  id INTEGER PRIMARY KEY);"

//  Only the indexes a query uses (EXPLAIN QUERY PLAN of fm_report's and
//  cmd_status's SQL): each one costs ~3,000 instructions per event at
//  write time, and more in memory stalls if its keys are random.
//  events_bank (bank, type) and events_grid (grid_id, type) were used by
//  none and are no longer created (an upgrade to version 3 drops them).
//  events_type is partial: it indexes only loan.granted, the one type a
//  report selects by its name alone (the loans of every report, a few
//  per thousand events).  Every other query on type either
//  aggregates over a scan or names a type every request makes, where a
//  scan costs about what an index did (`finmatch report` of a
//  211,447-event fm-bench log: 2.0-2.8 s with a full index, 2.4-2.6 s
//  with a partial one).  The partial index's WHERE runs on every insert:
//  with the 13 rare types it had until 2026-11-29 (loans, accepts,
//  timeouts, workers...) spelled out as ORs, that was ~3,100 instructions
//  per event (fm-microbench store under callgrind: 39,900 per event,
//  37,600 with loan.granted alone, 36,800 with no events_type at all).
//  SQLite uses a partial index only when the query's WHERE says
//  `type = 'loan.granted'` literally (not `type = ?`, not IN).  An older
//  log's events_type is rebuilt on open (s_index_current).
#define EVENTS_TYPE_INDEX \
    "CREATE INDEX events_type ON events (type) WHERE type = 'loan.granted'"
//  Version 3's request index, kept for the upgrade from 2 (then dropped
//  by the one to 4)
#define EVENTS_INDEXES_3 \
    EVENTS_TYPE_INDEX ";" \
    "CREATE INDEX events_request ON events (request_id);"

//  Version 4 finds a request's events by its number, not its id.  Request
//  ids are SHA-1 prefixes: an index on them takes each new key on a random
//  page of a b-tree as large as the log, and every commit writes back as
//  many of its pages as the batch has requests.  That index was half of
//  the log's cost per event, more the larger the log (fm-microbench log,
//  20,000 requests: 6.9-7.8 CPU us per event, 3.5-3.7 without it).
//  request_ids numbers each request once, in the order seen: its unique
//  index still takes random keys, but one per request instead of one per
//  event, and events_request_n only ever grows at its end (three rounds
//  alternating with version 3: 4.8-6.7 against 6.7-8.7 us per event).
#define REQUEST_IDS_TABLE \
    "CREATE TABLE request_ids (" \
    "  n INTEGER PRIMARY KEY," \
    "  request_id TEXT NOT NULL UNIQUE);"
#define EVENTS_REQUEST_N_INDEX \
    "CREATE INDEX events_request_n ON events (request_n)"
#define EVENTS_INDEXES \
    EVENTS_TYPE_INDEX ";" \
    EVENTS_REQUEST_N_INDEX ";"

#define EPOCHS_TABLE \
    "CREATE TABLE epochs (" \
    "  n INTEGER PRIMARY KEY," \
    "  epoch INTEGER NOT NULL," \
    "  hi INTEGER NOT NULL," \
    "  UNIQUE (epoch, hi));"

static const char *s_schema =
    "CREATE TABLE meta ("
    "  key TEXT PRIMARY KEY,"
    "  value TEXT NOT NULL);"
    EPOCHS_TABLE
    EVENTS_TABLE ("events")
    "ALTER TABLE events ADD COLUMN request_n INTEGER;"
    REQUEST_IDS_TABLE
    EVENTS_INDEXES
    "CREATE TABLE levers ("
    "  epoch INTEGER NOT NULL,"
    "  seq INTEGER NOT NULL,"
    "  idx INTEGER NOT NULL,"
    "  code TEXT NOT NULL,"
    "  name TEXT,"
    "  bp INTEGER NOT NULL,"
    "  payer TEXT NOT NULL,"
    "  PRIMARY KEY (epoch, seq, idx)) WITHOUT ROWID;"
    "CREATE TABLE gaps ("
    "  epoch INTEGER NOT NULL,"
    "  from_seq INTEGER NOT NULL,"
    "  to_seq INTEGER NOT NULL,"
    "  detected_us INTEGER NOT NULL,"
    "  PRIMARY KEY (epoch, from_seq));";

//  Version 1 -> 2: events.latency_us (bank response time); the old rows
//  stay NULL
static const char *s_upgrade_1_to_2 =
    "BEGIN IMMEDIATE;"
    "ALTER TABLE events ADD COLUMN latency_us INTEGER;"
    "UPDATE meta SET value = '2' WHERE key = 'schema_version';"
    "COMMIT;";

//  Version 2 -> 3: number the (epoch, seq >> SEQ_BITS) pairs in epoch
//  order, copy every row under its id, drop the old table with its
//  (epoch, seq) key and its indexes.  One transaction: all or nothing.
//  The SQL spells SEQ_BITS (40) and SEQ_MASK (1099511627775) as numbers.
_Static_assert (SEQ_BITS == 40 && SEQ_MASK == UINT64_C (1099511627775),
                "s_upgrade_2_to_3 and the selftest's SQL assume 40 bits");
#define EVENTS_COLUMNS \
    "epoch, seq, ts_us, type, request_id, enterprise_id, grid_id, industry," \
    " bank, product, offer_id, loan_id, service, peer, amount_fen," \
    " term_months, base_rate_bp, effective_rate_bp, status, count," \
    " reason_code, text, raw, latency_us"

static const char *s_upgrade_2_to_3 =
    "BEGIN IMMEDIATE;"
    EPOCHS_TABLE
    "INSERT INTO epochs (epoch, hi) SELECT DISTINCT epoch, seq >> 40"
    " FROM events ORDER BY 1, 2;"
    EVENTS_TABLE ("events_3")
    "INSERT INTO events_3 (" EVENTS_COLUMNS ", id)"
    " SELECT " EVENTS_COLUMNS ", (SELECT p.n FROM epochs p"
    "  WHERE p.epoch = e.epoch AND p.hi = e.seq >> 40) << 40"
    "  | (e.seq & 1099511627775)"
    " FROM events e ORDER BY e.epoch, e.seq;"
    "DROP TABLE events;"
    "ALTER TABLE events_3 RENAME TO events;"
    EVENTS_INDEXES_3
    "UPDATE meta SET value = '3' WHERE key = 'schema_version';"
    "COMMIT;";

//  Version 3 -> 4: number the requests in the order of their first event,
//  give every event its request's number, swap the indexes.  One
//  transaction.
static const char *s_upgrade_3_to_4 =
    "BEGIN IMMEDIATE;"
    REQUEST_IDS_TABLE
    "INSERT INTO request_ids (request_id) SELECT request_id FROM events"
    " WHERE request_id IS NOT NULL GROUP BY request_id ORDER BY MIN (id);"
    "ALTER TABLE events ADD COLUMN request_n INTEGER;"
    "UPDATE events SET request_n = (SELECT n FROM request_ids r"
    "  WHERE r.request_id = events.request_id)"
    " WHERE request_id IS NOT NULL;"
    "DROP INDEX events_request;"
    EVENTS_REQUEST_N_INDEX ";"
    "UPDATE meta SET value = '4' WHERE key = 'schema_version';"
    "COMMIT;";

#define INSERT_EVENT_SQL \
    "INSERT OR IGNORE INTO events (epoch, seq, ts_us, type, request_id," \
    " enterprise_id, grid_id, industry, bank, product, offer_id, loan_id," \
    " service, peer, amount_fen, term_months, base_rate_bp," \
    " effective_rate_bp, status, count, reason_code, text, raw, latency_us," \
    " id, request_n) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11," \
    " ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19, ?20, ?21, ?22, ?23, ?24, ?25," \
    " ?26)"


//  --------------------------------------------------------------------------
//  Wall clock in UTC microseconds (zclock_usecs is monotonic, not UTC)

static int64_t
s_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


//  --------------------------------------------------------------------------
//  Run one statement that returns no rows we need; returns the sqlite rc
//  (SQLITE_DONE on success) and resets the statement.  Bindings are not
//  cleared: every caller binds every parameter before each step.

static int
s_step (sqlite3_stmt *stmt)
{
    int rc = sqlite3_step (stmt);
    if (rc == SQLITE_ROW)
        rc = SQLITE_DONE;
    sqlite3_reset (stmt);
    return rc;
}

//  Text and blobs are bound SQLITE_STATIC: they live in the queue (or are
//  constants) until the statement is reset, right after its step
static void
s_bind_text (sqlite3_stmt *stmt, int index, const char *text)
{
    if (*text)
        sqlite3_bind_text (stmt, index, text, -1, SQLITE_STATIC);
    else
        sqlite3_bind_null (stmt, index);
}

//  insert_event's optional columns.  Bindings survive sqlite3_reset, and
//  an event sets 6-10 of its 20 optional fields, so a parameter is bound
//  NULL only when the previous event had bound it to a value (*set says
//  which; sqlite3_bind_null was ~840 instructions per event).  A text
//  left bound after its step points into a queue slot that may be reused,
//  but it is never read: the next step rebinds or nulls every parameter
//  whose bit is set.
static void
s_bind_text_opt (sqlite3_stmt *stmt, uint32_t *set, int index,
                 const char *text)
{
    if (*text) {
        sqlite3_bind_text (stmt, index, text, -1, SQLITE_STATIC);
        *set |= 1u << index;
    }
    else
    if (*set & (1u << index)) {
        sqlite3_bind_null (stmt, index);
        *set &= ~(1u << index);
    }
}

static void
s_bind_int_opt (sqlite3_stmt *stmt, uint32_t *set, int index, int64_t value)
{
    if (value) {
        sqlite3_bind_int64 (stmt, index, value);
        *set |= 1u << index;
    }
    else
    if (*set & (1u << index)) {
        sqlite3_bind_null (stmt, index);
        *set &= ~(1u << index);
    }
}


//  --------------------------------------------------------------------------
//  Check that the file is empty or a finmatch log of our schema version.
//  Returns 0 for an empty file, 1 for a finmatch log, or -1 with the
//  reason logged.

static int
s_check_identity (fm_store_t *self)
{
    sqlite3_stmt *stmt = NULL;
    int tables = 0;
    int rc = sqlite3_prepare_v2 (self->db,
        "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
        -1, &stmt, NULL);
    if (rc == SQLITE_OK && sqlite3_step (stmt) == SQLITE_ROW)
        tables = sqlite3_column_int (stmt, 0);
    else {
        zsys_error ("fm_store: %s: %s", self->path, sqlite3_errmsg (self->db));
        sqlite3_finalize (stmt);
        return -1;
    }
    sqlite3_finalize (stmt);
    if (tables == 0)
        return 0;               //  a new file: we create the schema

    char application [64] = "";
    int version = 0;
    rc = sqlite3_prepare_v2 (self->db,
        "SELECT key, value FROM meta"
        " WHERE key IN ('application', 'schema_version')", -1, &stmt, NULL);
    if (rc != SQLITE_OK) {
        zsys_error ("fm_store: %s is a database but not a finmatch event log"
                    " (%s)", self->path, sqlite3_errmsg (self->db));
        return -1;
    }
    while (sqlite3_step (stmt) == SQLITE_ROW) {
        const char *key = (const char *) sqlite3_column_text (stmt, 0);
        const char *value = (const char *) sqlite3_column_text (stmt, 1);
        if (key && value && streq (key, "application"))
            snprintf (application, sizeof application, "%s", value);
        else
        if (key && value && streq (key, "schema_version"))
            version = atoi (value);
    }
    sqlite3_finalize (stmt);
    if (!streq (application, FM_STORE_APPLICATION)) {
        zsys_error ("fm_store: %s is a database but not a finmatch event log",
                    self->path);
        return -1;
    }
    //  Each step one transaction, its version committed with it: a
    //  failure leaves the log at the last step that completed
    const char *upgrades [] = {
        NULL, s_upgrade_1_to_2, s_upgrade_2_to_3, s_upgrade_3_to_4
    };
    _Static_assert (sizeof upgrades / sizeof upgrades [0]
                    == FM_STORE_SCHEMA_VERSION, "one upgrade per version");
    while (version >= 1 && version < FM_STORE_SCHEMA_VERSION) {
        int64_t started = zclock_mono ();
        char *errmsg = NULL;
        if (sqlite3_exec (self->db, upgrades [version], NULL, NULL, &errmsg)
            != SQLITE_OK) {
            zsys_error ("fm_store: %s: cannot upgrade schema %d to %d: %s",
                        self->path, version, version + 1, errmsg? errmsg: "?");
            sqlite3_free (errmsg);
            sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
            return -1;
        }
        zsys_info ("fm_store: %s upgraded from schema version %d to %d"
                   " (%" PRId64 " ms)", self->path, version, version + 1,
                   zclock_mono () - started);
        version++;
    }
    if (version != FM_STORE_SCHEMA_VERSION) {
        zsys_error ("fm_store: %s has schema version %d, this recorder"
                    " writes version %d", self->path, version,
                    FM_STORE_SCHEMA_VERSION);
        return -1;
    }
    return 1;
}


//  --------------------------------------------------------------------------
//  Make a log's events_type the one this recorder creates.  Logs written
//  before 2026-11-29 indexed 13 rare types under the same name and schema
//  version (an index is not part of what readers see): such an index is
//  dropped and built again, once, in one transaction (a scan of events).
//  Opening a log must not wait for another connection's write lock (see
//  fm_store_new), so this does not wait either: if it cannot be done now
//  (the lock is held, the disk is full), the old index stays, serving the
//  same queries at a higher cost per insert, and the next start tries
//  again.

static void
s_index_current (fm_store_t *self)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2 (self->db, "SELECT sql FROM sqlite_master"
        " WHERE type = 'index' AND name = 'events_type'", -1, &stmt, NULL);
    bool current = false;
    if (rc == SQLITE_OK && sqlite3_step (stmt) == SQLITE_ROW) {
        const char *sql = (const char *) sqlite3_column_text (stmt, 0);
        current = sql && streq (sql, EVENTS_TYPE_INDEX);
    }
    sqlite3_finalize (stmt);
    if (current || rc != SQLITE_OK)
        return;             //  a failed prepare fails the next statement too
    int64_t started = zclock_mono ();
    char *errmsg = NULL;
    sqlite3_busy_timeout (self->db, 0);
    rc = sqlite3_exec (self->db, "BEGIN IMMEDIATE;"
                       " DROP INDEX IF EXISTS events_type;"
                       " " EVENTS_TYPE_INDEX "; COMMIT;", NULL, NULL, &errmsg);
    sqlite3_busy_timeout (self->db, FM_STORE_BUSY_MS);
    if (rc != SQLITE_OK) {
        zsys_warning ("fm_store: %s: index events_type not rebuilt (%s): the"
                      " old one stays until the next start", self->path,
                      errmsg? errmsg: "?");
        sqlite3_free (errmsg);
        sqlite3_exec (self->db, "ROLLBACK", NULL, NULL, NULL);
        return;
    }
    zsys_info ("fm_store: %s: index events_type rebuilt for loan.granted"
               " alone (%" PRId64 " ms)", self->path, zclock_mono () - started);
}


//  --------------------------------------------------------------------------
//  Checkpoints off the writer's thread.  The writer's WAL hook (called
//  after each COMMIT with the WAL's size in pages) wakes the thread, which
//  runs a PASSIVE checkpoint on its own connection: it copies what it can
//  into the file without taking the write lock, so COMMITs go on meanwhile.
//  The WAL restarts from its beginning at the first write after a
//  checkpoint that caught up; while one falls behind, each COMMIT wakes
//  the thread again and it copies what was added.

static void *
s_ckpt_thread (void *arg)
{
    fm_store_t *self = (fm_store_t *) arg;
    //  Named for top -H and perf: otherwise every thread is the process
    pthread_setname_np (pthread_self (), "fm-checkpoint");
    pthread_mutex_lock (&self->ckpt_lock);
    while (!self->ckpt_stop) {
        if (!self->ckpt_wanted) {
            pthread_cond_wait (&self->ckpt_cond, &self->ckpt_lock);
            continue;
        }
        self->ckpt_wanted = false;
        pthread_mutex_unlock (&self->ckpt_lock);
        int log_pages = 0, done_pages = 0;
        int rc = sqlite3_wal_checkpoint_v2 (self->ckpt_db, NULL,
                                            SQLITE_CHECKPOINT_PASSIVE,
                                            &log_pages, &done_pages);
        if (rc != SQLITE_OK && rc != SQLITE_BUSY)
            zsys_warning ("fm_store: %s: checkpoint: %s", self->path,
                          sqlite3_errmsg (self->ckpt_db));
        pthread_mutex_lock (&self->ckpt_lock);
        if (rc == SQLITE_OK)
            self->ckpt_count++;
    }
    pthread_mutex_unlock (&self->ckpt_lock);
    return NULL;
}

static int
s_wal_hook (void *arg, sqlite3 *db, const char *name, int pages)
{
    fm_store_t *self = (fm_store_t *) arg;
    if (pages >= self->ckpt_pages * CHECKPOINT_HARD_FACTOR)
        //  The thread cannot keep up: copy inline, as SQLite would
        sqlite3_wal_checkpoint_v2 (db, name, SQLITE_CHECKPOINT_PASSIVE,
                                   NULL, NULL);
    else
    if (pages >= self->ckpt_pages) {
        pthread_mutex_lock (&self->ckpt_lock);
        self->ckpt_wanted = true;
        pthread_cond_signal (&self->ckpt_cond);
        pthread_mutex_unlock (&self->ckpt_lock);
    }
    return SQLITE_OK;
}

//  Start the checkpoint thread, or fall back to SQLite's own automatic
//  checkpoint (inside COMMIT) if the second connection or the thread
//  cannot be had.  Cannot fail.
static void
s_ckpt_start (fm_store_t *self)
{
    int rc = sqlite3_open_v2 (self->path, &self->ckpt_db,
                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_exec (self->ckpt_db, "PRAGMA synchronous = NORMAL",
                           NULL, NULL, NULL);
    if (rc == SQLITE_OK) {
        pthread_mutex_init (&self->ckpt_lock, NULL);
        pthread_cond_init (&self->ckpt_cond, NULL);
        if (pthread_create (&self->ckpt_thread, NULL, s_ckpt_thread, self) == 0) {
            self->ckpt_running = true;
            sqlite3_wal_hook (self->db, s_wal_hook, self);
            return;
        }
        pthread_cond_destroy (&self->ckpt_cond);
        pthread_mutex_destroy (&self->ckpt_lock);
    }
    zsys_warning ("fm_store: %s: no checkpoint thread, checkpoints stall"
                  " writes", self->path);
    sqlite3_close (self->ckpt_db);
    self->ckpt_db = NULL;
    sqlite3_wal_autocheckpoint (self->db, self->ckpt_pages);
}

//  Stop and join the checkpoint thread, close its connection.  Idempotent.
static void
s_ckpt_stop (fm_store_t *self)
{
    if (self->ckpt_running) {
        sqlite3_wal_hook (self->db, NULL, NULL);
        pthread_mutex_lock (&self->ckpt_lock);
        self->ckpt_stop = true;
        pthread_cond_signal (&self->ckpt_cond);
        pthread_mutex_unlock (&self->ckpt_lock);
        pthread_join (self->ckpt_thread, NULL);
        pthread_cond_destroy (&self->ckpt_cond);
        pthread_mutex_destroy (&self->ckpt_lock);
        self->ckpt_running = false;
    }
    if (self->ckpt_db) {
        sqlite3_close (self->ckpt_db);
        self->ckpt_db = NULL;
    }
}


//  --------------------------------------------------------------------------
//  Open (creating if needed) the event log at path.

fm_store_t *
fm_store_new (const char *path, size_t batch_max, size_t pending_max)
{
    assert (path);
    //  Bounds are the caller's config, validated before we get here
    assert (batch_max >= 1);
    assert (pending_max >= batch_max);

    fm_store_t *self = (fm_store_t *) zmalloc (sizeof (fm_store_t));
    assert (self);
    self->path = strdup (path);
    assert (self->path);
    self->batch_max = batch_max;
    self->pending_max = pending_max;
    self->ckpt_pages = CHECKPOINT_PAGES;

    //  NOMUTEX: one thread uses a store (its owner), so SQLite's per-call
    //  connection mutex is pure cost
    int rc = sqlite3_open_v2 (path, &self->db,
                              SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE
                            | SQLITE_OPEN_NOMUTEX, NULL);
    if (rc != SQLITE_OK) {
        zsys_error ("fm_store: cannot open %s: %s", path,
                    self->db? sqlite3_errmsg (self->db): sqlite3_errstr (rc));
        goto failed;
    }
    sqlite3_extended_result_codes (self->db, 1);
    sqlite3_busy_timeout (self->db, FM_STORE_BUSY_MS);
    int identity = s_check_identity (self);
    if (identity == -1)
        goto failed;
    if (identity == 1)
        s_index_current (self);

    //  journal_mode answers with the mode now in force; an in-memory or
    //  read-only file cannot switch to WAL and we say so
    sqlite3_stmt *stmt = NULL;
    rc = sqlite3_prepare_v2 (self->db, "PRAGMA journal_mode = WAL", -1,
                             &stmt, NULL);
    if (rc == SQLITE_OK && sqlite3_step (stmt) == SQLITE_ROW) {
        const char *mode = (const char *) sqlite3_column_text (stmt, 0);
        if (!mode || !streq (mode, "wal"))
            zsys_warning ("fm_store: %s: journal mode is %s, not wal",
                          path, mode? mode: "?");
    }
    else {
        zsys_error ("fm_store: %s: %s", path, sqlite3_errmsg (self->db));
        sqlite3_finalize (stmt);
        goto failed;
    }
    sqlite3_finalize (stmt);

    //  Page cache of 32 MiB (negative = KiB) instead of SQLite's 2 MiB:
    //  every event updates the table and two indexes, and with a small
    //  cache the random request_id index is read back from disk on each
    //  insert (fm-bench: pread was 7 % of the recorder).  The cache fills
    //  within the first ~100k requests, then RSS stays flat.
    char *errmsg = NULL;
    if (sqlite3_exec (self->db, "PRAGMA cache_size = -32768", NULL, NULL, NULL)
        != SQLITE_OK)
        zsys_warning ("fm_store: %s: cannot set cache_size", path);
    if (sqlite3_exec (self->db, "PRAGMA synchronous = NORMAL", NULL, NULL,
                      &errmsg)) {
        zsys_error ("fm_store: %s: %s", path, errmsg? errmsg: "?");
        sqlite3_free (errmsg);
        goto failed;
    }
    char meta [200];
    snprintf (meta, sizeof meta,
              "INSERT OR IGNORE INTO meta (key, value) VALUES"
              " ('application', '%s'), ('schema_version', '%d');",
              FM_STORE_APPLICATION, FM_STORE_SCHEMA_VERSION);
    //  An existing log needs no write to open: a restart must not wait for
    //  another connection holding the write lock
    if (identity == 0
    && (sqlite3_exec (self->db, "BEGIN IMMEDIATE", NULL, NULL, &errmsg)
    ||  sqlite3_exec (self->db, s_schema, NULL, NULL, &errmsg)
    ||  sqlite3_exec (self->db, meta, NULL, NULL, &errmsg)
    ||  sqlite3_exec (self->db, "COMMIT", NULL, NULL, &errmsg))) {
        zsys_error ("fm_store: cannot create the schema in %s: %s",
                    path, errmsg? errmsg: "?");
        sqlite3_free (errmsg);
        goto failed;
    }
    //  Checkpoint every CHECKPOINT_PAGES (~40 MB) instead of SQLite's
    //  1,000 pages, in a thread (see the top of this file)
    s_ckpt_start (self);

    struct {
        sqlite3_stmt **stmt_p;
        const char *sql;
    } statements [] = {
        { &self->begin,        "BEGIN IMMEDIATE" },
        { &self->commit,       "COMMIT" },
        { &self->rollback,     "ROLLBACK" },
        { &self->insert_event, INSERT_EVENT_SQL },
        { &self->insert_lever, "INSERT OR IGNORE INTO levers (epoch, seq, idx,"
                               " code, name, bp, payer)"
                               " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)" },
        { &self->insert_gap,   "INSERT OR IGNORE INTO gaps (epoch, from_seq,"
                               " to_seq, detected_us) VALUES (?1, ?2, ?3, ?4)" },
        { &self->epoch_chunks, "SELECT n, hi FROM epochs WHERE epoch = ?1"
                               " ORDER BY hi DESC" },
        { &self->chunk_last,   "SELECT id FROM events WHERE id BETWEEN ?1"
                               " AND ?2 ORDER BY id DESC LIMIT 1" },
        { &self->find_chunk,   "SELECT n FROM epochs WHERE epoch = ?1"
                               " AND hi = ?2" },
        { &self->insert_chunk, "INSERT INTO epochs (epoch, hi) VALUES (?1, ?2)" },
        { &self->find_gap,     "SELECT from_seq, to_seq, detected_us FROM gaps"
                               " WHERE epoch = ?1 AND from_seq <= ?2"
                               " AND to_seq >= ?2" },
        { &self->delete_gap,   "DELETE FROM gaps WHERE epoch = ?1"
                               " AND from_seq = ?2" },
        { &self->find_request, "SELECT n FROM request_ids WHERE request_id = ?1" },
        { &self->insert_request, "INSERT OR IGNORE INTO request_ids"
                                 " (request_id) VALUES (?1)" },
    };
    for (size_t i = 0; i < sizeof statements / sizeof statements [0]; i++) {
        rc = sqlite3_prepare_v3 (self->db, statements [i].sql, -1,
                                 SQLITE_PREPARE_PERSISTENT,
                                 statements [i].stmt_p, NULL);
        if (rc != SQLITE_OK) {
            zsys_error ("fm_store: %s: cannot prepare '%s': %s", path,
                        statements [i].sql, sqlite3_errmsg (self->db));
            goto failed;
        }
    }
    return self;

failed:
    fm_store_destroy (&self);
    return NULL;
}


//  --------------------------------------------------------------------------
//  Free the queued events and empty the queue

static void
s_pending_clear (fm_store_t *self)
{
    self->pending_count = 0;
    self->raw_used = 0;
    if (self->raw_alloc > RAW_ARENA_KEEP) {
        free (self->raw);
        self->raw = NULL;
        self->raw_alloc = 0;
    }
}


//  --------------------------------------------------------------------------
//  Flush, close and destroy

void
fm_store_destroy (fm_store_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        fm_store_t *self = *self_p;
        if (self->pending_count && self->insert_event) {
            if (fm_store_flush (self))
                zsys_error ("fm_store: %s: %zu events could not be written"
                            " and are lost", self->path, self->pending_count);
        }
        s_ckpt_stop (self);
        s_pending_clear (self);
        free (self->pending);
        free (self->raw);
        free (self->new_gaps);
        sqlite3_finalize (self->begin);
        sqlite3_finalize (self->commit);
        sqlite3_finalize (self->rollback);
        sqlite3_finalize (self->insert_event);
        sqlite3_finalize (self->insert_lever);
        sqlite3_finalize (self->insert_gap);
        sqlite3_finalize (self->epoch_chunks);
        sqlite3_finalize (self->chunk_last);
        sqlite3_finalize (self->find_chunk);
        sqlite3_finalize (self->insert_chunk);
        sqlite3_finalize (self->find_gap);
        sqlite3_finalize (self->delete_gap);
        sqlite3_finalize (self->find_request);
        sqlite3_finalize (self->insert_request);
        if (self->db && sqlite3_close (self->db) != SQLITE_OK)
            zsys_error ("fm_store: %s: close: %s", self->path,
                        sqlite3_errmsg (self->db));
        free (self->path);
        free (self);
        *self_p = NULL;
    }
}


//  --------------------------------------------------------------------------
//  Queue one event

int
fm_store_append (fm_store_t *self, const fm_event_t *event,
                 const byte *raw, size_t raw_size)
{
    assert (self);
    assert (event);
    assert (raw || raw_size == 0);

    //  fm_event_decode validated these; checked again because a row with a
    //  wrong key would corrupt the gap accounting for good
    if (event->seq == 0 || event->seq > INT64_MAX || event->epoch > INT64_MAX
    ||  streq (fm_event_type_name (event->type), "?")) {
        zsys_warning ("fm_store: refused event epoch=%" PRIu64 " seq=%" PRIu64
                      " type=%d", event->epoch, event->seq, (int) event->type);
        self->stats.dropped++;
        return -1;
    }
    if (self->pending_count >= self->pending_max) {
        //  Logged by the caller's retry loop; the loss shows as a gap
        self->stats.dropped++;
        return -1;
    }
    if (self->pending_count == self->pending_alloc) {
        size_t alloc = self->pending_alloc? self->pending_alloc * 2: 64;
        if (alloc > self->pending_max)
            alloc = self->pending_max;
        s_pending_t *pending = (s_pending_t *)
            realloc (self->pending, alloc * sizeof (s_pending_t));
        if (!pending) {
            self->stats.dropped++;
            return -1;
        }
        self->pending = pending;
        self->pending_alloc = alloc;
    }
    size_t raw_offset = SIZE_MAX;
    if (raw) {
        if (self->raw_used + raw_size > self->raw_alloc) {
            size_t alloc = self->raw_alloc? self->raw_alloc: 256 * 1024;
            while (alloc < self->raw_used + raw_size)
                alloc *= 2;
            byte *arena = (byte *) realloc (self->raw, alloc);
            if (!arena) {
                self->stats.dropped++;
                return -1;
            }
            self->raw = arena;
            self->raw_alloc = alloc;
        }
        raw_offset = self->raw_used;
        if (raw_size)
            memcpy (self->raw + raw_offset, raw, raw_size);
        self->raw_used += raw_size;
    }
    s_pending_t *slot = &self->pending [self->pending_count];
    slot->event = *event;
    slot->raw_offset = raw_offset;
    slot->raw_size = raw_size;
    self->pending_count++;
    if (self->pending_count >= self->batch_max && !self->failing)
        fm_store_flush (self);      //  a failure keeps the event queued
    return 0;
}


//  --------------------------------------------------------------------------
//  Last seq of an epoch in the file (0 if none), without the cache: the
//  highest id in the range of the epoch's highest chunk that has rows (a
//  reverse rowid search each).  Returns an sqlite rc (SQLITE_OK).

static int
s_query_last_seq (fm_store_t *self, uint64_t epoch, uint64_t *last)
{
    *last = 0;
    sqlite3_bind_int64 (self->epoch_chunks, 1, (int64_t) epoch);
    int rc;
    while ((rc = sqlite3_step (self->epoch_chunks)) == SQLITE_ROW) {
        int64_t n = sqlite3_column_int64 (self->epoch_chunks, 0);
        uint64_t hi = (uint64_t) sqlite3_column_int64 (self->epoch_chunks, 1);
        sqlite3_bind_int64 (self->chunk_last, 1, n << SEQ_BITS);
        sqlite3_bind_int64 (self->chunk_last, 2,
                            (n << SEQ_BITS) | (int64_t) SEQ_MASK);
        rc = sqlite3_step (self->chunk_last);
        if (rc == SQLITE_ROW) {
            uint64_t id = (uint64_t) sqlite3_column_int64 (self->chunk_last, 0);
            *last = (hi << SEQ_BITS) | (id & SEQ_MASK);
        }
        sqlite3_reset (self->chunk_last);
        if (rc != SQLITE_DONE)
            break;              //  found (ROW) or failed
    }
    sqlite3_reset (self->epoch_chunks);
    return rc == SQLITE_ROW || rc == SQLITE_DONE? SQLITE_OK: rc;
}

//  Last stored seq of an epoch (0 if none), cached for the current epoch.
//  Returns an sqlite rc.

static int
s_last_seq (fm_store_t *self, uint64_t epoch, uint64_t *last)
{
    if (self->cache_valid && self->cache_epoch == epoch) {
        *last = self->cache_last;
        return SQLITE_OK;
    }
    int rc = s_query_last_seq (self, epoch, last);
    if (rc == SQLITE_OK) {
        self->cache_valid = true;
        self->cache_epoch = epoch;
        self->cache_last = *last;
    }
    return rc;
}


//  --------------------------------------------------------------------------
//  The events.id of (epoch, seq) into *id, numbering a new chunk in table
//  epochs if needed (inside the flush transaction).  Returns an sqlite rc
//  (SQLITE_OK), SQLITE_RANGE (permanent) once CHUNK_MAX chunks exist.

static int
s_event_id (fm_store_t *self, uint64_t epoch, uint64_t seq, int64_t *id)
{
    uint64_t hi = seq >> SEQ_BITS;
    if (!self->chunk_valid || self->chunk_epoch != epoch || self->chunk_hi != hi) {
        sqlite3_bind_int64 (self->find_chunk, 1, (int64_t) epoch);
        sqlite3_bind_int64 (self->find_chunk, 2, (int64_t) hi);
        int rc = sqlite3_step (self->find_chunk);
        int64_t n = rc == SQLITE_ROW? sqlite3_column_int64 (self->find_chunk, 0): 0;
        sqlite3_reset (self->find_chunk);
        if (rc == SQLITE_DONE) {
            sqlite3_bind_int64 (self->insert_chunk, 1, (int64_t) epoch);
            sqlite3_bind_int64 (self->insert_chunk, 2, (int64_t) hi);
            rc = s_step (self->insert_chunk);
            if (rc != SQLITE_DONE)
                return rc;
            n = sqlite3_last_insert_rowid (self->db);
        }
        else
        if (rc != SQLITE_ROW)
            return rc;
        if (n < 1 || n > CHUNK_MAX) {
            zsys_error ("fm_store: %s: table epochs is full (%" PRId64
                        " rows): epoch %" PRIu64 " seq %" PRIu64 " has no id",
                        self->path, (int64_t) CHUNK_MAX, epoch, seq);
            return SQLITE_RANGE;
        }
        self->chunk_valid = true;
        self->chunk_epoch = epoch;
        self->chunk_hi = hi;
        self->chunk_n = n;
    }
    *id = (self->chunk_n << SEQ_BITS) | (int64_t) (seq & SEQ_MASK);
    return SQLITE_OK;
}


//  --------------------------------------------------------------------------
//  Write a gaps row and remember it for the log.  Returns an sqlite rc.

static int
s_insert_gap (fm_store_t *self, uint64_t epoch, uint64_t from_seq,
              uint64_t to_seq, int64_t detected_us)
{
    sqlite3_bind_int64 (self->insert_gap, 1, (int64_t) epoch);
    sqlite3_bind_int64 (self->insert_gap, 2, (int64_t) from_seq);
    sqlite3_bind_int64 (self->insert_gap, 3, (int64_t) to_seq);
    sqlite3_bind_int64 (self->insert_gap, 4, detected_us);
    return s_step (self->insert_gap);
}


//  --------------------------------------------------------------------------
//  A late event filled seq: shrink or split the gap row covering it.
//  Returns an sqlite rc.

static int
s_fill_gap (fm_store_t *self, uint64_t epoch, uint64_t seq)
{
    sqlite3_bind_int64 (self->find_gap, 1, (int64_t) epoch);
    sqlite3_bind_int64 (self->find_gap, 2, (int64_t) seq);
    int rc = sqlite3_step (self->find_gap);
    if (rc != SQLITE_ROW) {
        sqlite3_reset (self->find_gap);
        return rc == SQLITE_DONE? SQLITE_DONE: rc;     //  no gap covered it
    }
    uint64_t from_seq = (uint64_t) sqlite3_column_int64 (self->find_gap, 0);
    uint64_t to_seq = (uint64_t) sqlite3_column_int64 (self->find_gap, 1);
    int64_t detected_us = sqlite3_column_int64 (self->find_gap, 2);
    sqlite3_reset (self->find_gap);

    sqlite3_bind_int64 (self->delete_gap, 1, (int64_t) epoch);
    sqlite3_bind_int64 (self->delete_gap, 2, (int64_t) from_seq);
    rc = s_step (self->delete_gap);
    if (rc == SQLITE_DONE && from_seq < seq)
        rc = s_insert_gap (self, epoch, from_seq, seq - 1, detected_us);
    if (rc == SQLITE_DONE && seq < to_seq)
        rc = s_insert_gap (self, epoch, seq + 1, to_seq, detected_us);
    return rc;
}


//  --------------------------------------------------------------------------
//  The number of a request (request_ids.n) into *n, numbering it if it is
//  new (inside the flush transaction).  Returns an sqlite rc (SQLITE_OK).

static int
s_request_n (fm_store_t *self, const char *request_id, int64_t *n)
{
    //  FNV-1a: request ids are hex from the codec, but the store does not
    //  rely on their shape
    uint32_t hash = 2166136261u;
    for (const char *c = request_id; *c; c++)
        hash = (hash ^ (uint8_t) *c) * 16777619u;
    s_request_slot_t *slot = &self->request_cache [hash % REQUEST_CACHE];
    if (streq (slot->request_id, request_id)) {
        *n = slot->n;
        return SQLITE_OK;
    }
    //  A miss is nearly always a new request (its first event): insert
    //  first, and look the number up only if the id was there already
    sqlite3_bind_text (self->insert_request, 1, request_id, -1, SQLITE_STATIC);
    int rc = s_step (self->insert_request);
    if (rc != SQLITE_DONE)
        return rc;
    if (sqlite3_changes (self->db) == 1)
        *n = sqlite3_last_insert_rowid (self->db);
    else {
        sqlite3_bind_text (self->find_request, 1, request_id, -1, SQLITE_STATIC);
        rc = sqlite3_step (self->find_request);
        *n = rc == SQLITE_ROW? sqlite3_column_int64 (self->find_request, 0): 0;
        sqlite3_reset (self->find_request);
        if (rc != SQLITE_ROW)
            return rc == SQLITE_DONE? SQLITE_CORRUPT: rc;
    }
    snprintf (slot->request_id, sizeof slot->request_id, "%s", request_id);
    slot->n = *n;
    return SQLITE_OK;
}


//  --------------------------------------------------------------------------
//  Write one event (row, levers, gap) inside the open transaction; counts
//  into *delta.  Returns SQLITE_DONE or the failing sqlite rc.

static int
s_write_event (fm_store_t *self, const s_pending_t *item,
               fm_store_stats_t *delta)
{
    const fm_event_t *ev = &item->event;
    uint64_t last = 0;
    int rc = s_last_seq (self, ev->epoch, &last);
    if (rc != SQLITE_OK)
        return rc;
    if (ev->seq > last + 1) {
        rc = s_insert_gap (self, ev->epoch, last + 1, ev->seq - 1, s_now_us ());
        if (rc != SQLITE_DONE)
            return rc;
        if (self->new_gap_count == self->new_gap_alloc) {
            size_t alloc = self->new_gap_alloc? self->new_gap_alloc * 2: 16;
            s_gap_t *gaps = (s_gap_t *) realloc (self->new_gaps,
                                                 alloc * sizeof (s_gap_t));
            if (!gaps)
                return SQLITE_NOMEM;
            self->new_gaps = gaps;
            self->new_gap_alloc = alloc;
        }
        self->new_gaps [self->new_gap_count++] =
            (s_gap_t) { ev->epoch, last + 1, ev->seq - 1 };
        delta->gaps++;
        delta->missing += ev->seq - 1 - last;
    }
    int64_t id = 0;
    rc = s_event_id (self, ev->epoch, ev->seq, &id);
    if (rc != SQLITE_OK)
        return rc;
    sqlite3_stmt *stmt = self->insert_event;
    uint32_t *set = &self->event_set;
    sqlite3_bind_int64 (stmt, 1, (int64_t) ev->epoch);
    sqlite3_bind_int64 (stmt, 2, (int64_t) ev->seq);
    sqlite3_bind_int64 (stmt, 3, ev->ts_us);
    sqlite3_bind_text (stmt, 4, fm_event_type_name (ev->type), -1,
                       SQLITE_STATIC);
    s_bind_text_opt (stmt, set, 5, ev->request_id);
    s_bind_text_opt (stmt, set, 6, ev->enterprise_id);
    s_bind_text_opt (stmt, set, 7, ev->grid_id);
    s_bind_text_opt (stmt, set, 8, ev->industry);
    s_bind_text_opt (stmt, set, 9, ev->bank);
    s_bind_text_opt (stmt, set, 10, ev->product);
    s_bind_text_opt (stmt, set, 11, ev->offer_id);
    s_bind_text_opt (stmt, set, 12, ev->loan_id);
    s_bind_text_opt (stmt, set, 13, ev->service);
    s_bind_text_opt (stmt, set, 14, ev->peer);
    s_bind_int_opt (stmt, set, 15, ev->amount_fen);
    s_bind_int_opt (stmt, set, 16, ev->term_months);
    s_bind_int_opt (stmt, set, 17, ev->base_rate_bp);
    s_bind_int_opt (stmt, set, 18, ev->effective_rate_bp);
    s_bind_int_opt (stmt, set, 19, ev->status);
    s_bind_int_opt (stmt, set, 20, ev->count);
    s_bind_int_opt (stmt, set, 21, ev->reason_code);
    s_bind_text_opt (stmt, set, 22, ev->text);
    if (item->raw_offset != SIZE_MAX) {
        sqlite3_bind_blob (stmt, 23, self->raw + item->raw_offset,
                           (int) item->raw_size, SQLITE_STATIC);
        *set |= 1u << 23;
    }
    else
    if (*set & (1u << 23)) {
        sqlite3_bind_null (stmt, 23);
        *set &= ~(1u << 23);
    }
    s_bind_int_opt (stmt, set, 24, ev->latency_us);
    sqlite3_bind_int64 (stmt, 25, id);
    int64_t request_n = 0;
    if (*ev->request_id) {
        rc = s_request_n (self, ev->request_id, &request_n);
        if (rc != SQLITE_OK)
            return rc;
    }
    s_bind_int_opt (stmt, set, 26, request_n);
    rc = s_step (stmt);
    if (rc != SQLITE_DONE)
        return rc;
    if (sqlite3_changes (self->db) == 0) {
        delta->duplicates++;        //  replay: the row is already there
        return SQLITE_DONE;
    }
    size_t lever_count = ev->lever_count;
    if (lever_count > FM_MAX_LEVERS)
        lever_count = FM_MAX_LEVERS;
    for (size_t i = 0; i < lever_count; i++) {
        const fm_lever_t *lever = &ev->levers [i];
        sqlite3_stmt *ls = self->insert_lever;
        sqlite3_bind_int64 (ls, 1, (int64_t) ev->epoch);
        sqlite3_bind_int64 (ls, 2, (int64_t) ev->seq);
        sqlite3_bind_int64 (ls, 3, (int64_t) i);
        sqlite3_bind_text (ls, 4, lever->code, -1, SQLITE_STATIC);
        s_bind_text (ls, 5, lever->name);
        sqlite3_bind_int64 (ls, 6, lever->bp);
        sqlite3_bind_text (ls, 7, fm_payer_name (lever->payer), -1,
                           SQLITE_STATIC);
        rc = s_step (ls);
        if (rc != SQLITE_DONE)
            return rc;
    }
    if (ev->seq > last)
        self->cache_last = ev->seq;     //  cache holds this epoch (s_last_seq)
    else {
        delta->late++;
        rc = s_fill_gap (self, ev->epoch, ev->seq);
        if (rc != SQLITE_DONE)
            return rc;
    }
    delta->stored++;
    return SQLITE_DONE;
}


//  --------------------------------------------------------------------------
//  True for errors of the row itself rather than of the file or the lock:
//  retrying cannot help, so the event is dropped instead of blocking the
//  queue forever.

static bool
s_error_is_permanent (int rc)
{
    switch (rc & 0xff) {
        case SQLITE_TOOBIG:
        case SQLITE_CONSTRAINT:
        case SQLITE_MISMATCH:
        case SQLITE_RANGE:
            return true;
        default:
            return false;
    }
}


//  --------------------------------------------------------------------------
//  Write every pending event in one transaction

int
fm_store_flush (fm_store_t *self)
{
    assert (self);
    if (self->pending_count == 0)
        return 0;

    fm_store_stats_t delta = { 0 };
    self->new_gap_count = 0;
    size_t failed_at = SIZE_MAX;        //  event whose write failed, if any
    int rc = s_step (self->begin);
    if (rc == SQLITE_DONE) {
        for (size_t i = 0; i < self->pending_count; i++) {
            rc = s_write_event (self, &self->pending [i], &delta);
            if (rc != SQLITE_DONE) {
                failed_at = i;
                break;
            }
        }
        if (rc == SQLITE_DONE)
            rc = s_step (self->commit);
    }
    if (rc != SQLITE_DONE) {
        //  Nothing of this batch stays in the file; the cache may hold a
        //  seq that was rolled back, so forget it
        char message [256];
        snprintf (message, sizeof message, "%s", sqlite3_errmsg (self->db));
        if (!sqlite3_get_autocommit (self->db))
            s_step (self->rollback);
        self->cache_valid = false;
        self->chunk_valid = false;      //  a new epochs row went too
        memset (self->request_cache, 0, sizeof self->request_cache);
        self->stats.failures++;
        self->failed_attempts++;
        if (!self->failing)
            zsys_error ("fm_store: %s: cannot write %zu events (will retry):"
                        " %s", self->path, self->pending_count, message);
        self->failing = true;
        if (failed_at != SIZE_MAX && s_error_is_permanent (rc)) {
            s_pending_t *item = &self->pending [failed_at];
            zsys_error ("fm_store: %s: dropping event epoch=%" PRIu64
                        " seq=%" PRIu64 " that sqlite refuses: %s", self->path,
                        item->event.epoch, item->event.seq, message);
            //  Its body stays in the arena until the next clear
            memmove (item, item + 1, (self->pending_count - failed_at - 1)
                                     * sizeof (s_pending_t));
            self->pending_count--;
            self->stats.dropped++;
        }
        return -1;
    }
    for (size_t i = 0; i < self->new_gap_count; i++) {
        s_gap_t *gap = &self->new_gaps [i];
        zsys_warning ("fm_store: gap in epoch %" PRIu64 ": seq %" PRIu64
                      "..%" PRIu64 " missing (%" PRIu64 " events)",
                      gap->epoch, gap->from_seq, gap->to_seq,
                      gap->to_seq - gap->from_seq + 1);
    }
    if (self->failing)
        zsys_info ("fm_store: %s: writing again after %" PRIu64
                   " failed attempts", self->path, self->failed_attempts);
    self->failing = false;
    self->failed_attempts = 0;
    self->stats.stored += delta.stored;
    self->stats.duplicates += delta.duplicates;
    self->stats.late += delta.late;
    self->stats.gaps += delta.gaps;
    self->stats.missing += delta.missing;
    self->stats.commits++;
    s_pending_clear (self);
    return 0;
}


//  --------------------------------------------------------------------------
//  Getters

size_t
fm_store_pending (fm_store_t *self)
{
    assert (self);
    return self->pending_count;
}

bool
fm_store_failing (fm_store_t *self)
{
    assert (self);
    return self->failing;
}

void
fm_store_stats (fm_store_t *self, fm_store_stats_t *stats)
{
    assert (self);
    assert (stats);
    *stats = self->stats;
    if (self->ckpt_running) {
        pthread_mutex_lock (&self->ckpt_lock);
        stats->checkpoints = self->ckpt_count;
        pthread_mutex_unlock (&self->ckpt_lock);
    }
}

void
fm_store_set_busy_timeout (fm_store_t *self, int msecs)
{
    assert (self);
    sqlite3_busy_timeout (self->db, msecs);
}

void
fm_store_set_checkpoint_pages (fm_store_t *self, int pages)
{
    assert (self);
    assert (pages >= 1);
    self->ckpt_pages = pages;
    if (!self->ckpt_running)
        sqlite3_wal_autocheckpoint (self->db, pages);
}


//  --------------------------------------------------------------------------
//  Gaps and last seq, for the recorder's replay requests (rare: prepared
//  per call)

int
fm_store_gaps (fm_store_t *self, fm_store_gap_t *gaps, size_t max)
{
    assert (self);
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2 (self->db, "SELECT epoch, from_seq, to_seq FROM gaps"
                                 " ORDER BY epoch DESC, from_seq LIMIT ?1", -1, &stmt, NULL);
    if (rc == SQLITE_OK)
        rc = sqlite3_bind_int64 (stmt, 1, (int64_t) max);
    int count = 0;
    while (rc == SQLITE_OK && (rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        gaps [count].epoch = (uint64_t) sqlite3_column_int64 (stmt, 0);
        gaps [count].from_seq = (uint64_t) sqlite3_column_int64 (stmt, 1);
        gaps [count].to_seq = (uint64_t) sqlite3_column_int64 (stmt, 2);
        count++;
        rc = SQLITE_OK;
    }
    sqlite3_finalize (stmt);
    if (rc != SQLITE_DONE) {
        zsys_warning ("fm_store: %s: cannot read gaps: %s", self->path,
                      sqlite3_errmsg (self->db));
        return -1;
    }
    return count;
}

int
fm_store_last_seq (fm_store_t *self, uint64_t epoch, uint64_t *last)
{
    assert (self);
    assert (last);
    if (s_query_last_seq (self, epoch, last) != SQLITE_OK) {
        zsys_warning ("fm_store: %s: cannot read the last seq: %s", self->path,
                      sqlite3_errmsg (self->db));
        return -1;
    }
    for (size_t i = 0; i < self->pending_count; i++)
        if (self->pending [i].event.epoch == epoch && self->pending [i].event.seq > *last)
            *last = self->pending [i].event.seq;
    return 0;
}


//  --------------------------------------------------------------------------
//  For readers

bool
fm_store_has_request_numbers (sqlite3 *db)
{
    assert (db);
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2 (db, "SELECT 1 FROM sqlite_master"
                                 " WHERE type = 'table' AND name = 'request_ids'",
                                 -1, &stmt, NULL);
    bool numbered = rc == SQLITE_OK && sqlite3_step (stmt) == SQLITE_ROW;
    sqlite3_finalize (stmt);
    return numbered;
}


int
fm_store_remove (const char *path)
{
    assert (path);
    int rc = 0;
    const char *suffixes [] = { "", "-wal", "-shm" };
    for (size_t i = 0; i < sizeof suffixes / sizeof suffixes [0]; i++) {
        char name [PATH_MAX];
        if (snprintf (name, sizeof name, "%s%s", path, suffixes [i]) >= (int) sizeof name) {
            errno = ENAMETOOLONG;
            rc = -1;
        }
        else
        if (unlink (name) && errno != ENOENT)
            rc = -1;
    }
    return rc;
}


//  --------------------------------------------------------------------------
//  Selftest helpers

static fm_event_t
s_test_event (uint64_t epoch, uint64_t seq, fm_event_type_t type)
{
    fm_event_t event;
    memset (&event, 0, sizeof event);
    event.epoch = epoch;
    event.seq = seq;
    event.ts_us = (int64_t) (epoch + seq * 1000);
    event.type = type;
    snprintf (event.request_id, sizeof event.request_id, "%016" PRIx64, seq);
    return event;
}

static int
s_test_append (fm_store_t *store, uint64_t epoch, uint64_t seq)
{
    fm_event_t event = s_test_event (epoch, seq, FM_EV_REQUEST_RECEIVED);
    char raw [64];
    int size = snprintf (raw, sizeof raw, "raw-%" PRIu64 "-%" PRIu64,
                         epoch, seq);
    return fm_store_append (store, &event, (byte *) raw, (size_t) size);
}

//  Counts the events whose request number names their own request id
#define TEST_NUMBERED \
    "SELECT count(*) FROM events e JOIN request_ids r" \
    " ON r.n = e.request_n AND r.request_id = e.request_id"

//  One integer from a query on a second connection
static int64_t
s_test_int (sqlite3 *db, const char *sql)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL);
    if (rc != SQLITE_OK)
        zsys_error ("%s: %s", sql, sqlite3_errmsg (db));
    assert (rc == SQLITE_OK);
    rc = sqlite3_step (stmt);
    assert (rc == SQLITE_ROW);
    int64_t value = sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);
    return value;
}

//  True if SQLite's plan for sql (one statement) searches with index
static bool
s_test_plan_uses (sqlite3 *db, const char *sql, const char *index)
{
    char explain [512];
    snprintf (explain, sizeof explain, "EXPLAIN QUERY PLAN %s", sql);
    sqlite3_stmt *plan = NULL;
    int rc = sqlite3_prepare_v2 (db, explain, -1, &plan, NULL);
    assert (rc == SQLITE_OK);
    bool uses = false;
    while (sqlite3_step (plan) == SQLITE_ROW) {
        const char *detail = (const char *) sqlite3_column_text (plan, 3);
        if (detail && strstr (detail, index))
            uses = true;
    }
    sqlite3_finalize (plan);
    return uses;
}

//  The gaps table as "epoch:from-to;..." ordered, into buf
static char *
s_test_gaps (sqlite3 *db, char *buf, size_t size)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2 (db, "SELECT epoch, from_seq, to_seq FROM gaps"
                                 " ORDER BY epoch, from_seq", -1, &stmt, NULL);
    assert (rc == SQLITE_OK);
    *buf = 0;
    size_t used = 0;
    while (sqlite3_step (stmt) == SQLITE_ROW)
        used += snprintf (buf + used, size - used, "%lld:%lld-%lld;",
                          (long long) sqlite3_column_int64 (stmt, 0),
                          (long long) sqlite3_column_int64 (stmt, 1),
                          (long long) sqlite3_column_int64 (stmt, 2));
    sqlite3_finalize (stmt);
    return buf;
}

//  A log as the recorder of schema version 1 or 2 wrote it (its CREATE
//  statements verbatim, less the unused events_bank/events_grid), holding
//  seqs 1-3 and 5 of e1 (gap 4) and 2^40 - 1 .. 2^40 + 1 of e2 (gap
//  below), a lever on e1/2
static void
s_test_old_log (const char *path, int version, uint64_t e1, uint64_t e2)
{
    sqlite3 *db = NULL;
    int rc = sqlite3_open (path, &db);
    assert (rc == SQLITE_OK);
    char sql [4096];
    snprintf (sql, sizeof sql,
        "PRAGMA journal_mode = WAL;"
        "CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);"
        "INSERT INTO meta VALUES ('application', 'finmatch-events'),"
        " ('schema_version', '%d');"
        "CREATE TABLE events (epoch INTEGER NOT NULL, seq INTEGER NOT NULL,"
        " ts_us INTEGER NOT NULL, type TEXT NOT NULL, request_id TEXT,"
        " enterprise_id TEXT, grid_id TEXT, industry TEXT, bank TEXT,"
        " product TEXT, offer_id TEXT, loan_id TEXT, service TEXT, peer TEXT,"
        " amount_fen INTEGER, term_months INTEGER, base_rate_bp INTEGER,"
        " effective_rate_bp INTEGER, status INTEGER, count INTEGER,"
        " reason_code INTEGER, text TEXT, raw BLOB%s,"
        " PRIMARY KEY (epoch, seq));"
        "CREATE INDEX events_type ON events (type);"
        "CREATE INDEX events_request ON events (request_id);"
        "CREATE INDEX events_bank ON events (bank, type);"
        "CREATE TABLE levers (epoch INTEGER NOT NULL, seq INTEGER NOT NULL,"
        " idx INTEGER NOT NULL, code TEXT NOT NULL, name TEXT,"
        " bp INTEGER NOT NULL, payer TEXT NOT NULL,"
        " PRIMARY KEY (epoch, seq, idx)) WITHOUT ROWID;"
        "CREATE TABLE gaps (epoch INTEGER NOT NULL, from_seq INTEGER NOT NULL,"
        " to_seq INTEGER NOT NULL, detected_us INTEGER NOT NULL,"
        " PRIMARY KEY (epoch, from_seq));"
        "INSERT INTO events (epoch, seq, ts_us, type, request_id, bank,"
        " amount_fen, raw) VALUES"
        " (%" PRIu64 ", 1, 1, 'request.received', 'r1', NULL, 100, x'81'),"
        " (%" PRIu64 ", 2, 2, 'offer.made', 'r1', 'CQRCB', 200, x'82'),"
        " (%" PRIu64 ", 3, 3, 'loan.granted', 'r1', 'CQRCB', 300, x'83'),"
        " (%" PRIu64 ", 5, 5, 'request.received', 'r2', NULL, 500, x'85'),"
        " (%" PRIu64 ", 1099511627775, 6, 'worker.ready', NULL, NULL, 0, NULL),"
        " (%" PRIu64 ", 1099511627776, 7, 'offer.made', 'r3', 'ABC', 700, x'87'),"
        " (%" PRIu64 ", 1099511627777, 8, 'loan.granted', 'r3', 'ABC', 800, x'88');"
        "INSERT INTO levers VALUES (%" PRIu64 ", 2, 0, 'tax_credit', NULL, 10,"
        " 'bank');"
        "INSERT INTO gaps VALUES (%" PRIu64 ", 4, 4, 1),"
        " (%" PRIu64 ", 1, 1099511627774, 1);",
        version, version >= 2? ", latency_us INTEGER": "",
        e1, e1, e1, e1, e2, e2, e2, e1, e1, e2);
    char *errmsg = NULL;
    rc = sqlite3_exec (db, sql, NULL, NULL, &errmsg);
    if (rc != SQLITE_OK)
        zsys_error ("%s", errmsg);
    assert (rc == SQLITE_OK);
    sqlite3_close (db);
}

//  Open an old log and check that it was upgraded whole, then go on
//  writing it: duplicates, a late event, the next seq across 2^40
static void
s_test_upgrade (const char *path, int version)
{
    const uint64_t e1 = 1714521600000000;
    const uint64_t e2 = 1714608000000000;
    const uint64_t two40 = UINT64_C (1) << 40;
    fm_store_remove (path);
    s_test_old_log (path, version, e1, e2);
    sqlite3 *old = NULL;
    int rc = sqlite3_open_v2 (path, &old, SQLITE_OPEN_READONLY, NULL);
    assert (rc == SQLITE_OK);
    assert (!fm_store_has_request_numbers (old));
    sqlite3_close (old);
    fm_store_t *store = fm_store_new (path, 100, 100);
    assert (store);
    uint64_t last = 0;
    assert (fm_store_last_seq (store, e1, &last) == 0 && last == 5);
    assert (fm_store_last_seq (store, e2, &last) == 0 && last == two40 + 1);
    assert (s_test_append (store, e1, 3) == 0);         //  duplicate
    assert (s_test_append (store, e2, two40) == 0);     //  duplicate
    assert (s_test_append (store, e1, 4) == 0);         //  late: fills 4
    assert (s_test_append (store, e2, two40 + 2) == 0);
    assert (fm_store_flush (store) == 0);
    fm_store_stats_t stats;
    fm_store_stats (store, &stats);
    assert (stats.stored == 2 && stats.duplicates == 2 && stats.late == 1);
    assert (stats.gaps == 0);
    fm_store_destroy (&store);

    sqlite3 *db = NULL;
    rc = sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL);
    assert (rc == SQLITE_OK);
    assert (s_test_int (db, "SELECT value FROM meta"
                            " WHERE key = 'schema_version'") == 4);
    assert (s_test_int (db, "SELECT count(*) FROM events") == 9);
    //  Requests numbered in the order of their first event: r1, r2, r3
    //  of the old rows, then those of the four appended.  The number is
    //  taken before the row turns out a duplicate; a replayed event
    //  carries the stored row's request id, so only here, where the
    //  duplicates have other ids, do numbers without rows appear.  Every
    //  event with a request id carries its request's number, the worker
    //  event none
    sqlite3_stmt *names = NULL;
    rc = sqlite3_prepare_v2 (db, "SELECT group_concat (request_id, ',') FROM"
                             " (SELECT request_id FROM request_ids ORDER BY n)",
                             -1, &names, NULL);
    assert (rc == SQLITE_OK && sqlite3_step (names) == SQLITE_ROW);
    assert (streq ((const char *) sqlite3_column_text (names, 0),
                   "r1,r2,r3,0000000000000003,0000010000000000,"
                   "0000000000000004,0000010000000002"));
    sqlite3_finalize (names);
    assert (s_test_int (db, TEST_NUMBERED) == 8);
    assert (s_test_int (db, "SELECT count(*) FROM events"
                            " WHERE request_id IS NULL AND request_n IS NULL") == 1);
    //  Every row kept its columns and has the id of its (epoch, seq)
    assert (s_test_int (db, "SELECT count(*) FROM events e JOIN epochs p"
                            " ON p.epoch = e.epoch AND p.hi = e.seq >> 40"
                            " WHERE e.id = (p.n << 40 | (e.seq & 1099511627775))"
                            " AND e.ts_us > 0") == 9);
    assert (s_test_int (db, "SELECT count(*) FROM epochs") == 3);
    assert (s_test_int (db, "SELECT SUM (amount_fen) FROM events"
                            " WHERE raw IS NOT NULL AND seq < 10") == 1100);
    assert (s_test_int (db, "SELECT count(*) FROM events"
                            " WHERE type = 'loan.granted' AND bank IS NOT NULL") == 2);
    assert (s_test_int (db, "SELECT count(*) FROM levers") == 1);
    assert (s_test_int (db, "SELECT count(*) FROM pragma_table_info ('events')"
                            " WHERE name = 'latency_us'") == 1);
    //  The old key's index, events_bank and events_request are gone,
    //  events_type and events_request_n are there
    assert (s_test_int (db, "SELECT count(*) FROM sqlite_master"
                            " WHERE type = 'index' AND tbl_name = 'events'"
                            " AND name IN ('events_type', 'events_request_n')") == 2);
    assert (s_test_int (db, "SELECT count(*) FROM sqlite_master"
                            " WHERE type = 'index' AND tbl_name = 'events'") == 2);
    assert (fm_store_has_request_numbers (db));
    assert (s_test_int (db, "SELECT count(*) FROM sqlite_master"
                            " WHERE name = 'events_3'") == 0);
    char gaps [256];
    assert (streq (s_test_gaps (db, gaps, sizeof gaps),
                   "1714608000000000:1-1099511627774;"));
    sqlite3_close (db);
}


//  Request numbers: 6,000 requests of two events each, the second ones
//  after all the first ones, so that the cache (4,096 slots) has lost
//  most of them and the numbers come from request_ids: each request gets
//  one number, the same for both its events, and a query by number finds
//  them (through events_request_n, not a scan)
static void
s_test_request_numbers (const char *path)
{
    fm_store_remove (path);
    fm_store_t *store = fm_store_new (path, 1000, 1000);
    assert (store);
    const uint64_t epoch = 1714521600000000;
    for (uint64_t seq = 1; seq <= 12000; seq++) {
        fm_event_t event = s_test_event (epoch, seq, FM_EV_REQUEST_RECEIVED);
        snprintf (event.request_id, sizeof event.request_id, "%016" PRIx64,
                  (seq - 1) % 6000 * UINT64_C (0x9e3779b97f4a7c15));
        assert (fm_store_append (store, &event, NULL, 0) == 0);
    }
    assert (fm_store_flush (store) == 0);
    fm_store_destroy (&store);
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL);
    assert (rc == SQLITE_OK);
    assert (fm_store_has_request_numbers (db));
    assert (s_test_int (db, "SELECT count(*) FROM request_ids") == 6000);
    assert (s_test_int (db, TEST_NUMBERED) == 12000);
    assert (s_test_int (db, "SELECT count(*) FROM (SELECT request_n FROM events"
                            " GROUP BY request_n HAVING count(*) != 2)") == 0);
    assert (s_test_int (db, "SELECT count(*) FROM events WHERE "
                            FM_STORE_OF_REQUEST ("'e8261a4408ede260'")) == 2);
    //  finmatch status's query, and the request id looked up by its index
    const char *status = "SELECT * FROM events WHERE "
                         FM_STORE_OF_REQUEST ("'x'");
    assert (s_test_plan_uses (db, status, "USING INDEX events_request_n"));
    assert (s_test_plan_uses (db, status, "sqlite_autoindex_request_ids_1"));
    sqlite3_close (db);
    fm_store_remove (path);
}


//  Events queued together keep their own levers and bodies (bodies of
//  different sizes, one empty, one absent), long texts whole
static void
s_test_queue (const char *path)
{
    fm_store_remove (path);
    fm_store_t *store = fm_store_new (path, 100, 100);
    assert (store);
    const uint64_t epoch = 1714521600000000;
    const char *bodies [] = { "a", "", "ccc", NULL };
    for (uint64_t seq = 1; seq <= 4; seq++) {
        fm_event_t event = s_test_event (epoch, seq, FM_EV_OFFER_MADE);
        event.lever_count = (uint8_t) (seq % 3);        //  1, 2, 0, 1
        for (size_t i = 0; i < event.lever_count; i++) {
            snprintf (event.levers [i].code, sizeof event.levers [i].code,
                      "lever_%" PRIu64 "_%zu", seq, i);
            event.levers [i].bp = (int32_t) (seq * 10 + i);
            event.levers [i].payer = FM_PAYER_GOVERNMENT;
        }
        memset (event.text, 'x', sizeof event.text - 1);
        event.text [sizeof event.text - 1] = 0;
        const char *body = bodies [seq - 1];
        assert (fm_store_append (store, &event, (const byte *) body,
                                 body? strlen (body): 0) == 0);
    }
    assert (fm_store_pending (store) == 4);
    assert (fm_store_flush (store) == 0);
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL);
    assert (rc == SQLITE_OK);
    assert (s_test_int (db, "SELECT count(*) FROM events WHERE length (text)"
                            " = 255") == 4);
    assert (s_test_int (db, "SELECT count(*) FROM events WHERE (seq = 1 AND"
                            " raw = CAST ('a' AS BLOB)) OR (seq = 2 AND raw = x'')"
                            " OR (seq = 3 AND raw = CAST ('ccc' AS BLOB))"
                            " OR (seq = 4 AND raw IS NULL)") == 4);
    assert (s_test_int (db, "SELECT count(*) FROM levers") == 4);
    assert (s_test_int (db, "SELECT count(*) FROM levers WHERE code ="
                            " 'lever_' || seq || '_' || idx AND bp = seq * 10 + idx"
                            " AND payer = 'government'") == 4);
    sqlite3_close (db);
    fm_store_destroy (&store);
    fm_store_remove (path);
}


//  --------------------------------------------------------------------------
//  Selftest

void
fm_store_test (bool verbose)
{
    if (verbose)
        zsys_info ("fm_store_test: starting");
    //  @selftest
    char dir [] = "/tmp/fm_store_test.XXXXXX";
    assert (mkdtemp (dir));
    char path [256];
    snprintf (path, sizeof path, "%s/events.db", dir);
    const uint64_t e1 = 1714521600000000;       //  2024-05-01 UTC, µs
    const uint64_t e2 = 1714608000000000;
    char gaps [512];

    //  A second connection sees only what was committed
    fm_store_t *store = fm_store_new (path, 3, 10);
    assert (store);
    sqlite3 *peek = NULL;
    int rc = sqlite3_open_v2 (path, &peek, SQLITE_OPEN_READONLY, NULL);
    assert (rc == SQLITE_OK);
    assert (s_test_int (peek, "SELECT value FROM meta"
                              " WHERE key = 'schema_version'") == 4);
    assert (s_test_int (peek, "SELECT count(*) FROM meta WHERE key ="
                              " 'application' AND value = 'finmatch-events'") == 1);

    //  Batching: two events stay in memory, the third commits the batch
    assert (s_test_append (store, e1, 1) == 0);
    assert (s_test_append (store, e1, 2) == 0);
    assert (fm_store_pending (store) == 2);
    assert (s_test_int (peek, "SELECT count(*) FROM events") == 0);
    assert (s_test_append (store, e1, 3) == 0);
    assert (fm_store_pending (store) == 0);
    assert (s_test_int (peek, "SELECT count(*) FROM events") == 3);

    //  A jump within an epoch: 4, then 7 -> gap 5..6, on flush
    assert (s_test_append (store, e1, 4) == 0);
    assert (s_test_append (store, e1, 7) == 0);
    assert (s_test_int (peek, "SELECT count(*) FROM events") == 3);
    assert (fm_store_flush (store) == 0);
    assert (s_test_int (peek, "SELECT count(*) FROM events") == 5);
    assert (streq (s_test_gaps (peek, gaps, sizeof gaps),
                   "1714521600000000:5-6;"));

    //  A new epoch starting at 4 -> gap 1..3; an offer with two levers and
    //  every column decoded
    fm_event_t offer = s_test_event (e2, 4, FM_EV_OFFER_MADE);
    strcpy (offer.enterprise_id, "91500105MA5U0XXXX1");
    strcpy (offer.grid_id, "JB-GN-01");
    strcpy (offer.bank, "CQRCB");
    strcpy (offer.product, "GRIDE");
    strcpy (offer.offer_id, "CQRCB/GRIDE");
    offer.amount_fen = 300000000;
    offer.term_months = 12;
    offer.base_rate_bp = 375;
    offer.effective_rate_bp = 345;
    offer.lever_count = 2;
    strcpy (offer.levers [0].code, "party_building");
    strcpy (offer.levers [0].name, "党建增信(A级)");
    offer.levers [0].bp = 20;
    offer.levers [0].payer = FM_PAYER_BANK;
    strcpy (offer.levers [1].code, "tax_credit");
    strcpy (offer.levers [1].name, "银税互动(A级)");
    offer.levers [1].bp = 10;
    offer.levers [1].payer = FM_PAYER_GOVERNMENT;
    const byte raw [] = { 0x85, 0x00, 0xff, 0x01 };    //  any bytes
    assert (fm_store_append (store, &offer, raw, sizeof raw) == 0);
    assert (fm_store_flush (store) == 0);
    assert (streq (s_test_gaps (peek, gaps, sizeof gaps),
                   "1714521600000000:5-6;1714608000000000:1-3;"));
    assert (s_test_int (peek, "SELECT count(*) FROM events WHERE epoch ="
                        " 1714608000000000 AND seq = 4 AND type = 'offer.made'"
                        " AND enterprise_id = '91500105MA5U0XXXX1'"
                        " AND grid_id = 'JB-GN-01' AND bank = 'CQRCB'"
                        " AND product = 'GRIDE' AND offer_id = 'CQRCB/GRIDE'"
                        " AND amount_fen = 300000000 AND term_months = 12"
                        " AND base_rate_bp = 375 AND effective_rate_bp = 345"
                        " AND loan_id IS NULL AND status IS NULL"
                        " AND raw = x'8500ff01'"
                        " AND ts_us = 1714608000004000") == 1);
    assert (s_test_int (peek, "SELECT count(*) FROM levers") == 2);
    assert (s_test_int (peek, "SELECT count(*) FROM levers WHERE idx = 0"
                        " AND code = 'party_building' AND name = '党建增信(A级)'"
                        " AND bp = 20 AND payer = 'bank' AND seq = 4") == 1);
    assert (s_test_int (peek, "SELECT count(*) FROM levers WHERE idx = 1"
                        " AND code = 'tax_credit' AND bp = 10"
                        " AND payer = 'government'") == 1);

    //  A replay of stored seqs is ignored and counted, levers not doubled
    assert (s_test_append (store, e1, 2) == 0);
    assert (fm_store_append (store, &offer, raw, sizeof raw) == 0);
    assert (fm_store_flush (store) == 0);
    fm_store_stats_t stats;
    fm_store_stats (store, &stats);
    assert (stats.stored == 6);
    assert (stats.duplicates == 2);
    assert (stats.gaps == 2);
    assert (stats.missing == 5);
    assert (stats.dropped == 0);
    assert (s_test_int (peek, "SELECT count(*) FROM events") == 6);
    assert (s_test_int (peek, "SELECT count(*) FROM levers") == 2);

    //  Refused events: seq 0, unknown type
    fm_event_t bad = s_test_event (e1, 0, FM_EV_REQUEST_RECEIVED);
    assert (fm_store_append (store, &bad, NULL, 0) == -1);
    bad = s_test_event (e1, 9, (fm_event_type_t) 99);
    assert (fm_store_append (store, &bad, NULL, 0) == -1);
    fm_store_destroy (&store);
    assert (store == NULL);

    //  Reopen: the store continues each epoch where the file stops
    store = fm_store_new (path, 100, 100);
    assert (store);
    assert (s_test_append (store, e1, 8) == 0);     //  follows 7: no gap
    assert (s_test_append (store, e2, 5) == 0);     //  follows 4: no gap
    assert (s_test_append (store, e1, 10) == 0);    //  9 missing
    assert (fm_store_flush (store) == 0);
    assert (streq (s_test_gaps (peek, gaps, sizeof gaps),
                   "1714521600000000:5-6;1714521600000000:9-9;"
                   "1714608000000000:1-3;"));

    //  A late event fills its gap: 5..6 shrinks to 6..6, 2 of 1..3 splits
    assert (s_test_append (store, e1, 5) == 0);
    assert (s_test_append (store, e2, 2) == 0);
    assert (fm_store_flush (store) == 0);
    assert (streq (s_test_gaps (peek, gaps, sizeof gaps),
                   "1714521600000000:6-6;1714521600000000:9-9;"
                   "1714608000000000:1-1;1714608000000000:3-3;"));
    fm_store_stats (store, &stats);
    assert (stats.stored == 5);
    assert (stats.late == 2);
    assert (stats.gaps == 1);

    //  A field the event leaves unset is NULL even when the event before
    //  it set it: bindings outlive a step, and only those set are redone
    uint64_t e3 = UINT64_C (1714694400000000);
    fm_event_t full = offer;
    full.epoch = e3;
    full.seq = 1;
    strcpy (full.loan_id, "CQRCB-0000000000000001");
    strcpy (full.text, "全部字段");
    full.status = 200;
    full.count = 3;
    full.reason_code = 102;
    full.latency_us = 1500;
    assert (fm_store_append (store, &full, raw, sizeof raw) == 0);
    fm_event_t bare = s_test_event (e3, 2, FM_EV_BANK_TIMEOUT);
    assert (fm_store_append (store, &bare, NULL, 0) == 0);
    assert (fm_store_flush (store) == 0);
    assert (s_test_int (peek, "SELECT count(*) FROM events WHERE epoch ="
                        " 1714694400000000 AND seq = 1 AND bank = 'CQRCB'"
                        " AND loan_id = 'CQRCB-0000000000000001'"
                        " AND latency_us = 1500 AND raw IS NOT NULL") == 1);
    assert (s_test_int (peek, "SELECT count(*) FROM events WHERE epoch ="
                        " 1714694400000000 AND seq = 2"
                        " AND type = 'bank.timeout'"
                        " AND request_id = '0000000000000002'"
                        " AND enterprise_id IS NULL AND grid_id IS NULL"
                        " AND bank IS NULL AND product IS NULL"
                        " AND offer_id IS NULL AND loan_id IS NULL"
                        " AND amount_fen IS NULL AND term_months IS NULL"
                        " AND base_rate_bp IS NULL"
                        " AND effective_rate_bp IS NULL AND status IS NULL"
                        " AND count IS NULL AND reason_code IS NULL"
                        " AND text IS NULL AND raw IS NULL"
                        " AND latency_us IS NULL") == 1);

    //  A locked file: the flush fails whole, the events stay queued, the
    //  queue is bounded, and a refused event later shows as a gap
    fm_store_destroy (&store);
    store = fm_store_new (path, 2, 3);
    assert (store);
    fm_store_set_busy_timeout (store, 10);
    sqlite3 *locker = NULL;
    rc = sqlite3_open_v2 (path, &locker, SQLITE_OPEN_READWRITE, NULL);
    assert (rc == SQLITE_OK);
    rc = sqlite3_exec (locker, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    assert (rc == SQLITE_OK);
    assert (s_test_append (store, e1, 11) == 0);
    assert (s_test_append (store, e1, 12) == 0);    //  auto flush fails
    assert (fm_store_failing (store));
    assert (fm_store_pending (store) == 2);
    assert (s_test_append (store, e1, 13) == 0);    //  no retry while failing
    assert (fm_store_pending (store) == 3);
    assert (s_test_append (store, e1, 14) == -1);   //  queue full: dropped
    assert (fm_store_flush (store) == -1);
    assert (s_test_int (peek, "SELECT count(*) FROM events WHERE seq > 10") == 0);
    rc = sqlite3_exec (locker, "COMMIT", NULL, NULL, NULL);
    assert (rc == SQLITE_OK);
    sqlite3_close (locker);
    assert (fm_store_flush (store) == 0);
    assert (!fm_store_failing (store));
    assert (s_test_int (peek, "SELECT count(*) FROM events WHERE seq > 10") == 3);
    assert (s_test_append (store, e1, 15) == 0);
    assert (fm_store_flush (store) == 0);
    assert (s_test_int (peek, "SELECT count(*) FROM gaps WHERE epoch ="
                        " 1714521600000000 AND from_seq = 14 AND to_seq = 14")
            == 1);
    fm_store_stats (store, &stats);
    assert (stats.stored == 4);
    assert (stats.dropped == 1);
    assert (stats.failures == 2);
    assert (stats.commits == 2);

    //  A full disk (SQLITE_FULL; here the file may not grow by a page,
    //  which is how a full file system ends too): the flush fails whole,
    //  nothing of the batch is in the file, the events stay queued; with
    //  room again the same events are written, each once, no gap
    fm_store_destroy (&store);
    store = fm_store_new (path, 1000, 1000);
    assert (store);
    char limit [64];
    snprintf (limit, sizeof limit, "PRAGMA max_page_count = %" PRId64,
              s_test_int (store->db, "PRAGMA page_count"));
    rc = sqlite3_exec (store->db, limit, NULL, NULL, NULL);
    assert (rc == SQLITE_OK);
    byte big [4000];                    //  pages' worth per event
    memset (big, 0xa5, sizeof big);
    for (uint64_t seq = 16; seq < 216; seq++) {
        fm_event_t event = s_test_event (e1, seq, FM_EV_REQUEST_RECEIVED);
        assert (fm_store_append (store, &event, big, sizeof big) == 0);
    }
    assert (fm_store_flush (store) == -1);
    assert (fm_store_failing (store));
    assert (fm_store_pending (store) == 200);
    assert (sqlite3_extended_errcode (store->db) == SQLITE_FULL);
    assert (s_test_int (peek, "SELECT count(*) FROM events WHERE seq > 15") == 0);
    assert (fm_store_flush (store) == -1);          //  still full: retried
    rc = sqlite3_exec (store->db, "PRAGMA max_page_count = 1073741823",
                       NULL, NULL, NULL);
    assert (rc == SQLITE_OK);
    assert (fm_store_flush (store) == 0);
    assert (!fm_store_failing (store));
    assert (s_test_int (peek, "SELECT count(*) FROM events WHERE seq > 15"
                              " AND length (raw) = 4000") == 200);
    //  The numbers of the failed attempts' new requests went with their
    //  transaction: the retry numbered them again (not from the cache)
    assert (s_test_int (peek, TEST_NUMBERED " WHERE e.seq > 15") == 200);
    assert (s_test_int (peek, "SELECT count(*) FROM gaps WHERE epoch ="
                        " 1714521600000000 AND from_seq > 14") == 0);
    fm_store_stats (store, &stats);
    assert (stats.stored == 200 && stats.failures == 2 && stats.dropped == 0);

    //  The file is in WAL mode (the -wal file exists while open)
    char wal [300];
    snprintf (wal, sizeof wal, "%s-wal", path);
    assert (zsys_file_exists (wal));

    //  Checkpoints run in the store's thread: with a threshold of 4 pages
    //  the database file itself grows by ~1 MB of events while the
    //  writer only appends to the WAL (it never checkpoints below 80)
    fm_store_set_checkpoint_pages (store, 4);
    struct stat before;
    assert (stat (path, &before) == 0);
    char blob [1000];
    memset (blob, 'x', sizeof blob);
    for (uint64_t seq = 16; seq < 1016; seq++) {
        fm_event_t event = s_test_event (e1, seq, FM_EV_REQUEST_RECEIVED);
        assert (fm_store_append (store, &event, (byte *) blob, sizeof blob) == 0);
        if (seq % 50 == 0)
            assert (fm_store_flush (store) == 0);
    }
    assert (fm_store_flush (store) == 0);
    struct stat after = before;
    int64_t until = zclock_mono () + 10000;
    while (zclock_mono () < until) {
        fm_store_stats (store, &stats);
        assert (stat (path, &after) == 0);
        if (stats.checkpoints > 0 && after.st_size >= before.st_size + 1000 * 1000)
            break;
        zclock_sleep (10);      //  polling the other thread's progress
    }
    assert (stats.checkpoints > 0);
    assert (after.st_size >= before.st_size + 1000 * 1000);
    assert (s_test_int (peek, "SELECT count(*) FROM events WHERE seq >= 16") == 1000);
    fm_store_destroy (&store);
    sqlite3_close (peek);

    //  Someone else's database, and another schema version, are refused
    char other [256];
    snprintf (other, sizeof other, "%s/other.db", dir);
    sqlite3 *db = NULL;
    rc = sqlite3_open (other, &db);
    assert (rc == SQLITE_OK);
    rc = sqlite3_exec (db, "CREATE TABLE foo (x)", NULL, NULL, NULL);
    assert (rc == SQLITE_OK);
    sqlite3_close (db);
    store = fm_store_new (other, 1, 1);
    assert (store == NULL);
    //  Logs of version 2 and 1 (which also lacks latency_us) are upgraded
    s_test_upgrade (path, 2);
    s_test_upgrade (path, 1);
    s_test_queue (path);
    s_test_request_numbers (path);

    //  Ids at the ends of the range: seq INT64_MAX; and an epochs table
    //  full up to CHUNK_MAX refuses a new chunk (the event is dropped,
    //  permanently: retrying cannot help)
    fm_store_remove (path);
    store = fm_store_new (path, 1, 10);
    assert (store);
    const uint64_t e5 = e2 + 1, e6 = e2 + 2;
    assert (s_test_append (store, e5, INT64_MAX) == 0);
    uint64_t last = 0;
    assert (fm_store_last_seq (store, e5, &last) == 0 && last == INT64_MAX);
    rc = sqlite3_open (path, &db);
    assert (rc == SQLITE_OK);
    char sql [200];
    snprintf (sql, sizeof sql, "INSERT INTO epochs VALUES (%" PRId64 ", 1, 0)",
              (int64_t) CHUNK_MAX);
    rc = sqlite3_exec (db, sql, NULL, NULL, NULL);
    assert (rc == SQLITE_OK);
    assert (s_test_append (store, e6, 1) == 0);         //  flush fails
    fm_store_stats (store, &stats);
    assert (stats.dropped == 1 && stats.stored == 1);
    assert (fm_store_pending (store) == 0);
    assert (s_test_int (db, "SELECT count(*) FROM events") == 1);
    assert (s_test_int (db, "SELECT count(*) FROM epochs") == 2);
    //  The reports' loans use the partial events_type index; no other
    //  type is in it
    const char *loans = "SELECT count(*) FROM events WHERE type = 'loan.granted'";
    const char *timeouts = "SELECT count(*) FROM events WHERE type = 'bank.timeout'";
    assert (s_test_plan_uses (db, loans, "events_type"));
    assert (!s_test_plan_uses (db, timeouts, "events_type"));
    sqlite3_close (db);
    fm_store_destroy (&store);

    //  A log with the events_type of old (13 rare types, the same name and
    //  schema version) gets the current one when the store opens it
    rc = sqlite3_open (path, &db);
    assert (rc == SQLITE_OK);
    rc = sqlite3_exec (db, "DROP INDEX events_type; CREATE INDEX events_type"
                       " ON events (type) WHERE type = 'bank.timeout'"
                       " OR type = 'loan.granted'", NULL, NULL, NULL);
    assert (rc == SQLITE_OK);
    assert (s_test_plan_uses (db, timeouts, "events_type"));
    //  ...not while another connection holds the write lock: the store
    //  opens at once all the same, with the old index
    rc = sqlite3_exec (db, "BEGIN IMMEDIATE", NULL, NULL, NULL);
    assert (rc == SQLITE_OK);
    int64_t opened = zclock_mono ();
    store = fm_store_new (path, 1, 1);
    assert (store);
    assert (zclock_mono () - opened < FM_STORE_BUSY_MS);
    fm_store_destroy (&store);
    rc = sqlite3_exec (db, "COMMIT", NULL, NULL, NULL);
    assert (rc == SQLITE_OK);
    assert (s_test_plan_uses (db, timeouts, "events_type"));
    sqlite3_close (db);
    store = fm_store_new (path, 1, 1);
    assert (store);
    rc = sqlite3_open (path, &db);
    assert (rc == SQLITE_OK);
    assert (s_test_int (db, "SELECT count(*) FROM sqlite_master WHERE name = 'events_type'"
                            " AND sql = 'CREATE INDEX events_type ON events (type)"
                            " WHERE type = ''loan.granted'''") == 1);
    assert (s_test_plan_uses (db, loans, "events_type"));
    assert (!s_test_plan_uses (db, timeouts, "events_type"));
    assert (s_test_int (db, "SELECT count(*) FROM events") == 1);
    sqlite3_close (db);
    fm_store_destroy (&store);

    rc = sqlite3_open (path, &db);
    assert (rc == SQLITE_OK);
    rc = sqlite3_exec (db, "UPDATE meta SET value = '99'"
                           " WHERE key = 'schema_version'", NULL, NULL, NULL);
    assert (rc == SQLITE_OK);
    sqlite3_close (db);
    store = fm_store_new (path, 1, 1);
    assert (store == NULL);

    //  The selftest leaves nothing behind: the log, its WAL files and
    //  the other file go, so the directory can
    assert (zsys_file_exists (path));
    rc = fm_store_remove (path);
    assert (rc == 0 && !zsys_file_exists (path));
    rc = fm_store_remove (path);                //  gone already: no error
    assert (rc == 0);
    rc = fm_store_remove (other);
    assert (rc == 0);
    rc = rmdir (dir);
    assert (rc == 0);
    //  @end
}
