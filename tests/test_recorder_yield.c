/*  =========================================================================
    test_recorder_yield - the recorder writes at idle CPU priority

    Real finmatch-broker and finmatch-recorder on loopback.  Once events
    flow (fm_proc_probe: one input.rejected each) and the log holds them:
      1. the recorder's main thread (its thread id is its pid) runs at
         SCHED_IDLE if this machine lets a thread come back from it (the
         test tries the same round trip in a thread of its own), else at
         SCHED_OTHER; its other threads (ZeroMQ I/O, the checkpoint
         thread) stay at SCHED_OTHER either way.  With yield_spare 0: the
         default yields only while a fifth of the machine is idle, which
         the machine's other load decides, not the recorder;
      2. on SIGTERM it exits 0, and its summary line counts the switches
         to idle priority (at least one where it could yield);
      3. with recorder/yield_cpu = 0 the main thread stays at SCHED_OTHER
         while the same events flow.
    The switching rules (lag, watchdog) are fm_yield's selftest.
    =========================================================================
*/

#include <czmq.h>
#include <pthread.h>
#include <sched.h>
#include <dirent.h>
#include "fm_mdp.h"
#include "fm_proc.h"

#define START_MS        15000           //  bound for a process to be ready
#define REPLY_MS        5000            //  bound for any single reply
#define SWITCH_MS       5000            //  bound for the switch to be seen
#define PROBES          20              //  events sent once the log is live

//  Can a thread here go to SCHED_IDLE and back?  (What fm_yield_new
//  asks before it yields.)
static void *
s_round_trip (void *arg)
{
    struct sched_param param = { .sched_priority = 0 };
    *(bool *) arg = sched_setscheduler (0, SCHED_IDLE, &param) == 0
                 && sched_setscheduler (0, SCHED_OTHER, &param) == 0;
    return NULL;
}

static bool
s_can_yield (void)
{
    bool able = false;
    pthread_t thread;
    FM_CHECK (pthread_create (&thread, NULL, s_round_trip, &able) == 0, "thread");
    pthread_join (thread, NULL);
    return able;
}

typedef struct {
    pid_t pid;
    int policy;
} want_policy_t;

static bool
s_main_thread_is (void *arg)
{
    want_policy_t *want = (want_policy_t *) arg;
    return sched_getscheduler (want->pid) == want->policy;
}

//  Every thread of pid but the main one is at SCHED_OTHER; returns how
//  many there are
static int
s_other_threads_normal (pid_t pid)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/task", (int) pid);
    DIR *dir = opendir (path);
    FM_CHECK (dir, "cannot read %s", path);
    int threads = 0;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        pid_t tid = (pid_t) atoi (entry->d_name);
        if (tid <= 0 || tid == pid)
            continue;
        int policy = sched_getscheduler (tid);
        FM_CHECK (policy == SCHED_OTHER || policy == -1,   //  -1: it ended
                  "recorder thread %d runs at policy %d, not SCHED_OTHER",
                  (int) tid, policy);
        threads++;
    }
    closedir (dir);
    return threads;
}

//  Send PROBES events and wait until the log holds at least `total`
static void
s_events (fm_proc_system_t *sys, zsock_t *dealer, int64_t total)
{
    for (int probe = 0; probe < PROBES; probe++)
        fm_proc_probe (dealer);
    fm_proc_db_wait (sys->db, "SELECT COUNT(*) FROM events WHERE type = 'input.rejected'",
                     NULL, total, START_MS);
}

//  The recorder's summary line says how often it went to idle priority
static long
s_times_idle (fm_proc_t *recorder)
{
    const char *log = fm_proc_log (recorder);
    FILE *file = fopen (log, "r");
    FM_CHECK (file, "cannot read %s", log);
    char line [2048];
    long times = -1;
    while (fgets (line, sizeof line, file)) {
        const char *found = strstr (line, "idle CPU priority ");
        if (found)
            times = strtol (found + strlen ("idle CPU priority "), NULL, 10);
    }
    fclose (file);
    return times;
}

int
main (int argc, char *argv [])
{
    (void) argc;
    zsys_init ();
    zsys_set_logident ("test_recorder_yield");
    fm_proc_setup ("recorder_yield", argv [0]);
    bool able = s_can_yield ();
    printf ("recorder_yield: a thread here %s return from SCHED_IDLE\n",
            able? "can": "cannot");

    fm_proc_system_t *sys = fm_proc_system_new (START_MS);
    fm_proc_system_broker (sys, NULL, NULL);
    fm_proc_system_wait_service (sys, FM_SERVICE_REQUEST);
    zsock_t *dealer = zsock_new_dealer (sys->router);
    FM_CHECK (dealer, "dealer");
    zsock_set_rcvtimeo (dealer, REPLY_MS);

    //  1. Default: idle priority once events flow, if it can come back
    //  yield_spare 0: whatever else ctest runs meanwhile (the default 20
    //  needs a fifth of the machine idle, which a parallel run may not leave)
    fm_proc_t *recorder = fm_proc_system_recorder (sys, NULL, "recorder/yield_spare",
                                                   "0", NULL);
    int64_t logged = fm_proc_system_wait_recorder (sys, dealer) + PROBES;
    s_events (sys, dealer, logged);
    want_policy_t want = { fm_proc_pid (recorder), able? SCHED_IDLE: SCHED_OTHER };
    FM_CHECK (fm_proc_wait_until (s_main_thread_is, &want, SWITCH_MS, 20),
              "the recorder's main thread runs at policy %d, want %d",
              sched_getscheduler (want.pid), want.policy);
    int threads = s_other_threads_normal (want.pid);
    printf ("recorder_yield: main thread at %s, %d other threads at SCHED_OTHER\n",
            able? "SCHED_IDLE": "SCHED_OTHER", threads);

    //  2. It stops cleanly and says what it did
    int rc = fm_proc_stop (recorder, 10000);
    FM_CHECK (rc == 0, "finmatch-recorder exited %d on SIGTERM", rc);
    long times = s_times_idle (recorder);
    FM_CHECK (able? times >= 1: times == 0,
              "the recorder's summary says idle CPU priority %ld times", times);
    fm_proc_destroy (&sys->recorder);
    zstr_free (&sys->recorder_cfg);

    //  3. recorder/yield_cpu = 0: normal priority throughout
    recorder = fm_proc_system_recorder (sys, NULL, "recorder/yield_cpu", "0", NULL);
    s_events (sys, dealer, logged + PROBES);
    want.pid = fm_proc_pid (recorder);
    FM_CHECK (sched_getscheduler (want.pid) == SCHED_OTHER,
              "with yield_cpu 0 the recorder runs at policy %d",
              sched_getscheduler (want.pid));
    rc = fm_proc_stop (recorder, 10000);
    FM_CHECK (rc == 0, "finmatch-recorder exited %d on SIGTERM", rc);
    FM_CHECK (s_times_idle (recorder) == 0, "yield_cpu 0, yet it went idle");

    zsock_destroy (&dealer);
    fm_proc_system_destroy (&sys);
    printf ("recorder_yield: OK\n");
    return fm_proc_teardown (true);
}
