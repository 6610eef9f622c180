/*  =========================================================================
    test_replay - the event log ends complete, or says exactly what is lost

    Real finmatch-broker and finmatch-recorder processes on loopback; the
    events come from malformed client messages (each one is answered 400
    and published as input.rejected), so no worker is needed.
      1. Events published before the recorder exists are replayed into the
         log when it starts (the SUB "slow joiner" leaves no gap).
      2. The recorder killed with SIGKILL, events published meanwhile, the
         recorder restarted: no later event is published, yet the head
         probe finds the missing tail and the log is complete, gap free.
      3. The same with more events than the broker's replay store keeps
         (replay_max): what fell out stays ONE gap row of exactly the lost
         size, everything else is in the log.
      4. A subscriber that never reads (events_hwm small) does not stall
         the broker: 5000 messages are still answered one by one in time.
    =========================================================================
*/

#include <czmq.h>
#include <sqlite3.h>
#include <signal.h>
#include "fm_proto.h"
#include "fm_mdp.h"
#include "fm_proc.h"

#define START_MS        15000           //  bound for a process to be ready
#define REPLY_MS        5000            //  bound for any single reply
#define FILL_MS         20000           //  bound for the log to be complete
#define REPLAY_MAX      300             //  broker's replay store, events

//  Send one malformed request and wait for its ERROR: one event published
static void
s_probe (zsock_t *dealer)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "");
    zmsg_addstr (msg, FM_MDPC);
    zmsg_addstr (msg, FM_SERVICE_REQUEST);
    byte garbage [] = { 0xc1 };         //  never valid msgpack
    zmsg_addmem (msg, garbage, sizeof (garbage));
    FM_CHECK (zmsg_send (&msg, dealer) == 0, "send");
    zmsg_t *reply = zmsg_recv (dealer);
    FM_CHECK (reply, "no ERROR to a malformed request within %d ms", REPLY_MS);
    zmsg_destroy (&reply);
}

static int64_t
s_db_int (const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    int64_t value = -1;
    if (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout (db, 1000);
        sqlite3_stmt *stmt = NULL;
        if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) == SQLITE_OK
        &&  sqlite3_step (stmt) == SQLITE_ROW)
            value = sqlite3_column_int64 (stmt, 0);
        sqlite3_finalize (stmt);
    }
    sqlite3_close (db);
    return value;
}

typedef struct {
    const char *db;
    int64_t events;                     //  rows wanted in events
    int64_t missing;                    //  seqs wanted in gaps rows
} want_t;

static bool
s_log_is (void *arg)
{
    want_t *want = (want_t *) arg;
    return s_db_int (want->db, "SELECT COUNT(*) FROM events") == want->events
        && s_db_int (want->db, "SELECT COALESCE (SUM (to_seq - from_seq + 1), 0)"
                               " FROM gaps") == want->missing;
}

static fm_proc_t *
s_recorder (const char *config)
{
    const char *args [] = { "-c", config, "--insecure", NULL };
    fm_proc_t *recorder = fm_proc_start ("recorder", "finmatch-recorder", args);
    FM_CHECK (recorder, "cannot start finmatch-recorder");
    return recorder;
}

//  Wait until the log holds events rows and missing gap seqs, or fail
static void
s_expect_log (const char *db, int64_t events, int64_t missing, const char *when)
{
    want_t want = { db, events, missing };
    FM_CHECK (fm_proc_wait_until (s_log_is, &want, FILL_MS, 100),
              "%s: log has %" PRId64 " events and %" PRId64 " missing seqs, want %"
              PRId64 " and %" PRId64, when,
              s_db_int (db, "SELECT COUNT(*) FROM events"),
              s_db_int (db, "SELECT COALESCE (SUM (to_seq - from_seq + 1), 0) FROM gaps"),
              events, missing);
    printf ("replay: %s: %" PRId64 " events logged, %" PRId64 " missing in %" PRId64
            " gap rows\n", when, events, missing,
            s_db_int (db, "SELECT COUNT(*) FROM gaps"));
}

int
main (int argc, char *argv [])
{
    (void) argc;
    zsys_init ();
    zsys_set_logident ("test_replay");
    fm_proc_setup ("replay", argv [0]);

    int router_port = fm_proc_free_port ();
    int events_port = fm_proc_free_port ();
    FM_CHECK (router_port > 0 && events_port > 0 && router_port != events_port, "ports");
    char router [64], events [64], replay_max [16];
    snprintf (router, sizeof (router), "tcp://127.0.0.1:%d", router_port);
    snprintf (events, sizeof (events), "tcp://127.0.0.1:%d", events_port);
    snprintf (replay_max, sizeof (replay_max), "%d", REPLAY_MAX);
    char *broker_cfg = fm_proc_config ("broker", NULL, "broker/endpoint", router,
                                       "broker/events", events,
                                       "broker/replay_max", replay_max,
                                       "broker/events_hwm", "100", NULL);
    const char *broker_args [] = { "-c", broker_cfg, "--insecure", NULL };
    fm_proc_t *broker = fm_proc_start ("broker", "finmatch-broker", broker_args);
    FM_CHECK (broker, "cannot start finmatch-broker");
    zsock_t *dealer = zsock_new_dealer (router);
    FM_CHECK (dealer, "dealer");
    zsock_set_rcvtimeo (dealer, START_MS);
    s_probe (dealer);                   //  The broker is up
    zsock_set_rcvtimeo (dealer, REPLY_MS);

    //  1. Published before the recorder exists
    for (int index = 1; index < 50; index++)
        s_probe (dealer);
    char *db = fm_proc_tmp_path ("events.db");
    char *recorder_cfg = fm_proc_config ("recorder", NULL, "recorder/events", events,
                                         "recorder/broker", router,
                                         "recorder/db", db, NULL);
    fm_proc_t *recorder = s_recorder (recorder_cfg);
    s_expect_log (db, 50, 0, "slow joiner");

    //  2. Recorder killed, 100 events, recorder back: nothing lost
    FM_CHECK (kill (fm_proc_pid (recorder), SIGKILL) == 0, "kill");
    fm_proc_wait (recorder, 5000);
    fm_proc_destroy (&recorder);
    for (int index = 0; index < 100; index++)
        s_probe (dealer);
    recorder = s_recorder (recorder_cfg);
    s_expect_log (db, 150, 0, "recorder killed and restarted");

    //  3. Killed again, more events than the broker keeps: the oldest
    //  100 of these fall out of the store and stay one gap row
    FM_CHECK (kill (fm_proc_pid (recorder), SIGKILL) == 0, "kill");
    fm_proc_wait (recorder, 5000);
    fm_proc_destroy (&recorder);
    for (int index = 0; index < REPLAY_MAX + 100; index++)
        s_probe (dealer);
    recorder = s_recorder (recorder_cfg);
    s_expect_log (db, 150 + REPLAY_MAX, 100, "beyond the replay store");
    FM_CHECK (s_db_int (db, "SELECT COUNT(*) FROM gaps WHERE from_seq = 151"
                            " AND to_seq = 250") == 1, "the gap is not 151..250");

    //  4. A subscriber that never reads: the broker keeps answering
    zsock_t *sleeper = zsock_new_sub (events, "");
    FM_CHECK (sleeper, "sub");
    s_probe (dealer);                   //  (it may miss this one: slow joiner)
    int64_t started = zclock_mono ();
    for (int index = 0; index < 5000; index++)
        s_probe (dealer);
    int64_t elapsed = zclock_mono () - started;
    printf ("replay: 5000 requests answered in %" PRId64 " ms with a subscriber"
            " that never reads\n", elapsed);
    FM_CHECK (fm_proc_running (broker), "broker died");
    s_expect_log (db, 150 + REPLAY_MAX + 5001, 100, "slow subscriber");
    zsock_destroy (&sleeper);

    int rc = fm_proc_stop (recorder, 10000);
    FM_CHECK (rc == 0, "finmatch-recorder exited %d on SIGTERM", rc);
    rc = fm_proc_stop (broker, 5000);
    FM_CHECK (rc == 0, "finmatch-broker exited %d on SIGTERM", rc);
    zsock_destroy (&dealer);
    fm_proc_destroy (&recorder);
    fm_proc_destroy (&broker);
    zstr_free (&db);
    zstr_free (&recorder_cfg);
    zstr_free (&broker_cfg);
    printf ("replay: OK\n");
    return fm_proc_teardown (true);
}
