/*  =========================================================================
    test_recorder_crash - the recorder killed -9 in the middle of a commit

    Real finmatch-broker and finmatch-recorder processes on loopback.  The
    recorder batches hugely (batch_max BATCH), so that BATCH events become
    ONE transaction, several MB, whose pages spill into the -wal file
    before its commit frame.  The events come from malformed client
    messages (each one answered 400 and published as input.rejected).
    The test watches the -wal file and kills the recorder with SIGKILL as
    soon as it grows, i.e. while that transaction is being written, then
    reads the -wal file itself: frames after the last commit frame (same
    salt) prove the kill fell inside the transaction; if there are none
    the round is inconclusive and repeated, up to ROUNDS.  Then:
      1. integrity_check is ok, the log holds seq 1..n each once (n below
         what was published: the open transaction is gone, whole), every
         event with its body: no half event, no half batch;
      2. a new recorder (default batching) resumes from the last committed
         seq: it asks the broker's replay store for what it lost and the
         log ends complete, every seq once, no gap row.
    =========================================================================
*/

#include <czmq.h>
#include <sqlite3.h>
#include <signal.h>
#include <sys/stat.h>
#include "fm_proto.h"
#include "fm_mdp.h"
#include "fm_proc.h"

#define START_MS        15000           //  bound for a process to be ready
#define REPLY_MS        5000            //  bound for any single reply
#define FILL_MS         30000           //  bound for the log to be complete
#define WAL_MS          20000           //  bound for the big commit to start
#define BATCH           50000           //  events per transaction (~12 MB:
                                        //  spills to the -wal for ~0.2 s)
#define BATCH_TEXT      "50000"
#define BURST           52000           //  events published per round
#define ROUNDS          3

//  Send count malformed requests, at most 1000 unanswered at a time (the
//  broker's client queue), and read all their ERRORs
static void
s_probes (zsock_t *dealer, int count)
{
    byte garbage [] = { 0xc1 };         //  never valid msgpack
    int inflight = 0;
    for (int index = 0; index < count || inflight; index++) {
        if (index < count) {
            zmsg_t *msg = zmsg_new ();
            zmsg_addstr (msg, "");
            zmsg_addstr (msg, FM_MDPC);
            zmsg_addstr (msg, FM_SERVICE_REQUEST);
            zmsg_addmem (msg, garbage, sizeof (garbage));
            FM_CHECK (zmsg_send (&msg, dealer) == 0, "send");
            inflight++;
        }
        if (inflight == 1000 || index >= count) {
            zmsg_t *reply = zmsg_recv (dealer);
            FM_CHECK (reply, "no ERROR to a malformed request within %d ms", REPLY_MS);
            zmsg_destroy (&reply);
            inflight--;
        }
    }
}

//  Frames of the -wal file after its last commit frame: a transaction
//  being written when the writer died.  Reads the file as SQLite's WAL
//  format defines it (32-byte header with page size and salts; frames of
//  a 24-byte header, whose bytes 4..7 are non-zero on a commit frame,
//  then one page); frames whose salts differ are older, ignored.
//  Returns the count, or -1 if the file cannot be read.
static uint32_t
s_be32 (const byte *data)
{
    return (uint32_t) data [0] << 24 | (uint32_t) data [1] << 16
         | (uint32_t) data [2] << 8 | data [3];
}

static int64_t
s_wal_uncommitted (const char *path)
{
    FILE *file = fopen (path, "rb");
    if (!file)
        return -1;
    byte header [32];
    int64_t after_commit = -1;
    if (fread (header, 1, sizeof (header), file) == sizeof (header)) {
        uint32_t page_size = s_be32 (header + 8);
        byte *frame = (byte *) malloc (24 + (size_t) page_size);
        after_commit = 0;
        while (frame && fread (frame, 1, 24 + (size_t) page_size, file)
                        == 24 + (size_t) page_size) {
            if (memcmp (frame + 8, header + 16, 8) != 0)
                break;                  //  another salt: an older generation
            if (s_be32 (frame + 4))
                after_commit = 0;       //  a commit frame
            else
                after_commit++;
        }
        free (frame);
    }
    fclose (file);
    return after_commit;
}

//  First column of sql on the log, or -1
static int64_t
s_db_int (const char *path, const char *sql)
{
    return fm_proc_db_int (path, sql, NULL);
}

static char *
s_db_text (const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    char *value = NULL;
    if (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_stmt *stmt = NULL;
        if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) == SQLITE_OK
        &&  sqlite3_step (stmt) == SQLITE_ROW)
            value = strdup ((const char *) sqlite3_column_text (stmt, 0));
        sqlite3_finalize (stmt);
    }
    sqlite3_close (db);
    return value;
}

typedef struct {
    const char *db;
    int64_t events;
} want_t;

//  Complete: `events` rows, seq 1..events each once, no gap row
static bool
s_log_complete (void *arg)
{
    want_t *want = (want_t *) arg;
    return s_db_int (want->db, "SELECT COUNT(*) FROM events") == want->events
        && s_db_int (want->db, "SELECT MAX(seq) FROM events") == want->events
        && s_db_int (want->db, "SELECT COUNT(DISTINCT epoch) FROM events") == 1
        && s_db_int (want->db, "SELECT COUNT(*) FROM gaps") == 0;
}

static off_t
s_size (const char *path)
{
    struct stat st;
    return stat (path, &st) == 0? st.st_size: 0;
}

//  Start a recorder with args on a quiet broker (nothing published
//  meanwhile: the recorder finds what it lost by its head probe and
//  fetches the tail batch after batch) until the log holds seq
//  1..*published each once with no gap row, then stop it (exit 0).
//  Prints the catch-up rate (a figure, not asserted: timing is load)
static void
s_resume (const char **args, zsock_t *dealer, const char *db, int64_t *published,
          const char *label)
{
    char name [64];
    snprintf (name, sizeof (name), "recorder-resume.%s", label);
    fm_proc_t *recorder = fm_proc_start (name, "finmatch-recorder", args);
    FM_CHECK (recorder, "cannot start finmatch-recorder");
    want_t want = { db, *published };
    int64_t started = zclock_mono ();
    int64_t until = started + FILL_MS;
    int64_t rows_before = s_db_int (db, "SELECT COUNT(*) FROM events");
    (void) dealer;
    while (!s_log_complete (&want)) {
        FM_CHECK (zclock_mono () < until && fm_proc_running (recorder),
                  "%s: %" PRId64 " events, max seq %" PRId64 ", %" PRId64
                  " gap rows, want %" PRId64 " and none", name,
                  s_db_int (db, "SELECT COUNT(*) FROM events"),
                  s_db_int (db, "SELECT MAX(seq) FROM events"),
                  s_db_int (db, "SELECT COUNT(*) FROM gaps"), *published);
        zclock_sleep (50);              //  polling interval
    }
    int64_t took = zclock_mono () - started;
    printf ("recorder_crash: %s caught up %" PRId64 " events in %" PRId64 " ms"
            " (%" PRId64 " events/s, first head probes included)\n", name,
            *published - rows_before, took,
            took? (*published - rows_before) * 1000 / took: 0);
    int rc = fm_proc_stop (recorder, 10000);
    FM_CHECK (rc == 0, "%s exited %d on SIGTERM", name, rc);
    fm_proc_destroy (&recorder);
}

int
main (int argc, char *argv [])
{
    (void) argc;
    zsys_init ();
    zsys_set_logident ("test_recorder_crash");
    fm_proc_setup ("recorder_crash", argv [0]);

    fm_proc_system_t *sys = fm_proc_system_new (START_MS);
    const char *router = sys->router;
    const char *events = sys->events;
    fm_proc_t *broker = fm_proc_system_broker (sys, NULL, "broker/journal", "", NULL);
    zsock_t *dealer = zsock_new_dealer (router);
    FM_CHECK (dealer, "dealer");
    zsock_set_rcvtimeo (dealer, START_MS);
    s_probes (dealer, 1);               //  The broker is up
    zsock_set_rcvtimeo (dealer, REPLY_MS);

    char *db = fm_proc_tmp_path ("events.db");
    char *wal = fm_proc_tmp_path ("events.db-wal");
    char *recorder_cfg = fm_proc_config ("recorder", NULL, "recorder/events", events,
                                         "recorder/broker", router, "recorder/db", db,
                                         "recorder/batch_max", BATCH_TEXT,
                                         "recorder/pending_max", "200000",
                                         "recorder/batch_ms", "10000", NULL);
    const char *recorder_args [] = { "-c", recorder_cfg, "--insecure", NULL };
    //  Between rounds and at the end, a recorder with default batching
    //  (the recorder asks for a replay chunk per batch_ms tick, so the huge
    //  batch_ms above would make its catch-up slow)
    char *resume_cfg = fm_proc_config ("recorder-resume", NULL, "recorder/events", events,
                                       "recorder/broker", router, "recorder/db", db, NULL);
    const char *resume_args [] = { "-c", resume_cfg, "--insecure", NULL };
    int64_t published = 1;
    bool proved = false;
    for (int round = 1; round <= ROUNDS && !proved; round++) {
        char name [32];
        snprintf (name, sizeof (name), "recorder.%d", round);
        if (round > 1)
            s_resume (resume_args, dealer, db, &published, name);
        fm_proc_t *recorder = fm_proc_start (name, "finmatch-recorder", recorder_args);
        FM_CHECK (recorder, "cannot start finmatch-recorder");
        //  Everything so far in the log, and one event published now: in
        //  it when the first batch_ms tick commits (the SUB is connected)
        s_probes (dealer, 1);
        published++;
        want_t want = { db, published };
        FM_CHECK (fm_proc_wait_until (s_log_complete, &want, FILL_MS, 100),
                  "round %d: the log does not hold the %" PRId64 " events before the burst",
                  round, published);
        off_t wal_before = s_size (wal);

        //  The burst: the recorder flushes when BATCH events are pending;
        //  kill as soon as the -wal file grows
        s_probes (dealer, BURST);
        published += BURST;
        int64_t until = zclock_mono () + WAL_MS;
        while (s_size (wal) == wal_before) {
            FM_CHECK (zclock_mono () < until && fm_proc_running (recorder),
                      "round %d: the recorder wrote nothing in %d ms", round, WAL_MS);
            zclock_sleep (1);           //  polling interval
        }
        FM_CHECK (kill (fm_proc_pid (recorder), SIGKILL) == 0, "kill");
        fm_proc_wait (recorder, 5000);
        fm_proc_destroy (&recorder);
        int64_t uncommitted = s_wal_uncommitted (wal);
        proved = uncommitted > 0;

        //  1. No half event, no half batch
        char *integrity = s_db_text (db, "PRAGMA integrity_check");
        FM_CHECK (integrity && streq (integrity, "ok"), "round %d: integrity_check: %s",
                  round, integrity? integrity: "(none)");
        zstr_free (&integrity);
        int64_t rows = s_db_int (db, "SELECT COUNT(*) FROM events");
        FM_CHECK (rows == s_db_int (db, "SELECT MAX(seq) FROM events")
               && s_db_int (db, "SELECT COUNT(*) FROM events WHERE raw IS NULL") == 0
               && s_db_int (db, "SELECT COUNT(*) FROM gaps") == 0,
                  "round %d: the log is not seq 1..n with every body", round);
        FM_CHECK (!proved || rows < published, "round %d: %" PRId64 " rows yet a"
                  " transaction was open", round, rows);
        printf ("recorder_crash: round %d: killed with %" PRId64 " uncommitted -wal"
                " frames; the log holds seq 1..%" PRId64 " of %" PRId64 " published%s\n",
                round, uncommitted, rows, published,
                proved? " (the open transaction gone whole)"
                      : " (the kill came between transactions: again)");
    }
    FM_CHECK (proved, "the kill never fell inside a transaction in %d rounds", ROUNDS);

    //  2. A new recorder resumes from the last committed seq
    s_resume (resume_args, dealer, db, &published, "last");
    printf ("recorder_crash: restarted: %" PRId64 " events, seq 1..%" PRId64
            " each once, no gap\n", published, published);

    int rc = fm_proc_stop (broker, 5000);
    FM_CHECK (rc == 0, "finmatch-broker exited %d on SIGTERM", rc);
    zsock_destroy (&dealer);
    zstr_free (&db);
    zstr_free (&wal);
    zstr_free (&recorder_cfg);
    zstr_free (&resume_cfg);
    fm_proc_system_destroy (&sys);
    printf ("recorder_crash: OK\n");
    return fm_proc_teardown (true);
}
