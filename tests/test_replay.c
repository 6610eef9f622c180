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

//  First column of sql on the log, or -1
static int64_t
s_db_int (const char *path, const char *sql)
{
    return fm_proc_db_int (path, sql, NULL);
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

    char replay_max [16];
    snprintf (replay_max, sizeof (replay_max), "%d", REPLAY_MAX);
    fm_proc_system_t *sys = fm_proc_system_new (START_MS);
    fm_proc_t *broker = fm_proc_system_broker (sys, NULL, "broker/replay_max", replay_max,
                                               "broker/events_hwm", "100", NULL);
    zsock_t *dealer = zsock_new_dealer (sys->router);
    FM_CHECK (dealer, "dealer");
    zsock_set_rcvtimeo (dealer, START_MS);
    fm_proc_probe (dealer);             //  The broker is up
    zsock_set_rcvtimeo (dealer, REPLY_MS);

    //  1. Published before the recorder exists
    for (int index = 1; index < 50; index++)
        fm_proc_probe (dealer);
    fm_proc_system_recorder (sys, NULL, NULL);
    const char *db = sys->db;
    s_expect_log (db, 50, 0, "slow joiner");

    //  2. Recorder killed, 100 events, recorder back: nothing lost
    FM_CHECK (kill (fm_proc_pid (sys->recorder), SIGKILL) == 0, "kill");
    fm_proc_wait (sys->recorder, 5000);
    fm_proc_destroy (&sys->recorder);
    for (int index = 0; index < 100; index++)
        fm_proc_probe (dealer);
    sys->recorder = s_recorder (sys->recorder_cfg);
    s_expect_log (db, 150, 0, "recorder killed and restarted");

    //  3. Killed again, more events than the broker keeps: the oldest
    //  100 of these fall out of the store and stay one gap row
    FM_CHECK (kill (fm_proc_pid (sys->recorder), SIGKILL) == 0, "kill");
    fm_proc_wait (sys->recorder, 5000);
    fm_proc_destroy (&sys->recorder);
    for (int index = 0; index < REPLAY_MAX + 100; index++)
        fm_proc_probe (dealer);
    sys->recorder = s_recorder (sys->recorder_cfg);
    s_expect_log (db, 150 + REPLAY_MAX, 100, "beyond the replay store");
    FM_CHECK (s_db_int (db, "SELECT COUNT(*) FROM gaps WHERE from_seq = 151"
                            " AND to_seq = 250") == 1, "the gap is not 151..250");

    //  4. A subscriber that never reads: the broker keeps answering
    zsock_t *sleeper = zsock_new_sub (sys->events, "");
    FM_CHECK (sleeper, "sub");
    fm_proc_probe (dealer);                   //  (it may miss this one: slow joiner)
    int64_t started = zclock_mono ();
    for (int index = 0; index < 5000; index++)
        fm_proc_probe (dealer);
    int64_t elapsed = zclock_mono () - started;
    printf ("replay: 5000 requests answered in %" PRId64 " ms with a subscriber"
            " that never reads\n", elapsed);
    FM_CHECK (fm_proc_running (broker), "broker died");
    s_expect_log (db, 150 + REPLAY_MAX + 5001, 100, "slow subscriber");
    zsock_destroy (&sleeper);

    int rc = fm_proc_stop (sys->recorder, 10000);
    FM_CHECK (rc == 0, "finmatch-recorder exited %d on SIGTERM", rc);
    rc = fm_proc_stop (broker, 5000);
    FM_CHECK (rc == 0, "finmatch-broker exited %d on SIGTERM", rc);
    zsock_destroy (&dealer);
    fm_proc_system_destroy (&sys);
    printf ("replay: OK\n");
    return fm_proc_teardown (true);
}
