/*  =========================================================================
    fm_yield - the recorder gives the CPU to the request path while its
    log keeps up

    See fm_yield.h.  The thresholds:
    - LAG_HIGH_MS: far enough above the lag of a recorder that keeps up
      (a few ms: READ_PAUSE_MS plus the broker's event_batch_ms) not to
      flap, and far enough below what the SUB queue holds (~1 s of events
      at full load) that the thread is back at normal priority well
      before anything is dropped;
    - LAG_LOW_MS and HOLD_MS: back to idle only once the backlog is gone
      and has stayed gone, so that a loaded machine does not switch the
      thread at every read;
    - WATCH_MS: the watchdog's period.  Under full load a thread at idle
      priority may not run for a second or more (fm-bench: its lag
      reached 1.2 s before it could see it), which is the SUB queue's
      whole depth; the watchdog sees it within beat_ms + LAG_HIGH_MS +
      WATCH_MS, at the cost of 20 wake-ups a second;
    - SPARE_MS: how often the watchdog reads the machine's idle share
      (/proc/stat).  Even with the watchdog, a recorder that yielded on a
      saturated machine was starved again every second (fm-bench
      --million: 73 times, lag up to 662 ms, the ZeroMQ queue holding it:
      peak RSS +11 % from 100k to 1M requests).  Yielding only into spare
      CPU avoids that: under full load the thread stays normal.
    =========================================================================
*/

#include <czmq.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>
#include "fm_cpu.h"
#include "fm_yield.h"

#define LAG_HIGH_MS             200
#define LAG_LOW_MS              50
#define HOLD_MS                 1000
#define WATCH_MS                50
#define SPARE_MS                250

struct _fm_yield_t {
    pid_t tid;                          //  the thread that yields
    bool apply;                         //  false: the selftest's dry run,
                                        //  decisions without system calls
    int64_t starved_ms;                 //  no beat for this long: starved
    int spare_min;                      //  idle % needed to yield, 0 = any
    bool stat_ok;                       //  /proc/stat was readable: sample
    fm_cpu_ticks_t stat;                //  the machine's ticks at the last
                                        //  sample (watchdog's)
    bool watching;                      //  watchdog started
    pthread_t watchdog;
    pthread_cond_t wake;                //  signals the watchdog to stop
    pthread_mutex_t lock;               //  guards the fields below, which
                                        //  the watchdog reads and switches
    bool stopping;                      //  the watchdog must end
    bool able;                          //  may yield (enabled, probe passed)
    bool idle;                          //  the thread is at SCHED_IDLE
    bool failing;                       //  the last switch back failed
    int spare;                          //  the machine's idle % over the
                                        //  last SPARE_MS, -1 not known yet
    int64_t beat;                       //  zclock_mono of the last beat
    int64_t calm_since;                 //  zclock_mono of the first
                                        //  observation under LAG_LOW_MS
                                        //  in a row, -1 if the last was not
    fm_yield_stats_t stats;
};


//  --------------------------------------------------------------------------
//  Switch thread tid (on Linux, sched_setscheduler takes a thread id, and
//  0 is the calling thread, not the process).  Returns 0 or -1 (errno).

static int
s_policy_set (pid_t tid, bool idle)
{
#ifdef SCHED_IDLE
    struct sched_param param = { .sched_priority = 0 };
    return sched_setscheduler (tid, idle? SCHED_IDLE: SCHED_OTHER, &param);
#else
    (void) tid;
    (void) idle;
    errno = ENOSYS;
    return -1;
#endif
}

//  The round trip, in a thread of its own: if it goes one way only, that
//  thread is left at idle priority and ends
static void *
s_probe_thread (void *arg)
{
    int *err = (int *) arg;
    *err = 0;
    if (s_policy_set (0, true) || s_policy_set (0, false))
        *err = errno;
    return NULL;
}

//  0 if the calling thread could go to idle priority and back, else the
//  errno of the step that failed
static int
s_probe (void)
{
    int err = 0;
    pthread_t thread;
    int rc = pthread_create (&thread, NULL, s_probe_thread, &err);
    if (rc)
        return rc;
    pthread_join (thread, NULL);
    return err;
}

static void *s_watchdog (void *arg);

static fm_yield_t *
s_new (bool able, bool apply, int beat_ms, int spare_min)
{
    fm_yield_t *self = (fm_yield_t *) zmalloc (sizeof (fm_yield_t));
    if (!self)
        return NULL;
    self->tid = gettid ();
    self->apply = apply;
    self->starved_ms = beat_ms + LAG_HIGH_MS;
    self->spare_min = spare_min;
    self->spare = -1;
    self->able = able;
    self->beat = zclock_mono ();
    self->calm_since = -1;
    pthread_mutex_init (&self->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_cond_init (&self->wake, &attr);
    pthread_condattr_destroy (&attr);
    if (able && apply) {
        //  The first sample: the watchdog's first look measures from here
        if (spare_min > 0) {
            self->stat_ok = fm_cpu_ticks (&self->stat) == 0;
            if (!self->stat_ok)
                zsys_notice ("the event log is written at normal CPU priority:"
                             " cannot read /proc/stat to see spare CPU");
        }
        if (pthread_create (&self->watchdog, NULL, s_watchdog, self)) {
            fm_yield_destroy (&self);
            return NULL;
        }
        self->watching = true;
    }
    return self;
}


//  --------------------------------------------------------------------------
//  Constructor

fm_yield_t *
fm_yield_new (bool enabled, int beat_ms, int spare_min)
{
    assert (beat_ms > 0);
    assert (spare_min >= 0 && spare_min <= 100);
    bool able = false;
    if (enabled) {
        int err = s_probe ();
        if (err == 0)
            able = true;
        else
            zsys_notice ("the event log is written at normal CPU priority:"
                         " this process cannot return from SCHED_IDLE (%s);"
                         " it needs CAP_SYS_NICE or RLIMIT_NICE >= 20"
                         " (systemd: LimitNICE=+0)", strerror (err));
    }
    return s_new (able, true, beat_ms, spare_min);
}


//  --------------------------------------------------------------------------
//  Destructor

void
fm_yield_destroy (fm_yield_t **self_p)
{
    assert (self_p);
    fm_yield_t *self = *self_p;
    if (!self)
        return;
    if (self->watching) {
        pthread_mutex_lock (&self->lock);
        self->stopping = true;
        pthread_cond_signal (&self->wake);
        pthread_mutex_unlock (&self->lock);
        pthread_join (self->watchdog, NULL);
    }
    if (self->idle && self->apply && s_policy_set (self->tid, false))
        zsys_error ("cannot return to normal CPU priority: %s",
                    strerror (errno));
    pthread_cond_destroy (&self->wake);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}


//  --------------------------------------------------------------------------
//  Switch to idle (true) or normal priority, count it; on failure stay
//  where we are.  A thread that cannot go idle stops trying; one that
//  cannot come back says so once per run of failures and tries again at
//  the next observation, since staying idle may starve the log.  Caller
//  holds the lock.

static void
s_switch (fm_yield_t *self, bool idle)
{
    if (self->apply && s_policy_set (self->tid, idle)) {
        if (idle) {
            zsys_warning ("cannot lower the recorder's CPU priority: %s;"
                          " it stays normal", strerror (errno));
            self->able = false;
        }
        else
        if (!self->failing) {
            zsys_error ("cannot return the recorder to normal CPU priority"
                        " while its log lags: %s", strerror (errno));
            self->failing = true;
        }
        return;
    }
    self->idle = idle;
    self->failing = false;
    if (idle)
        self->stats.to_idle++;
    else {
        self->stats.to_normal++;
        self->calm_since = -1;
    }
}


//  --------------------------------------------------------------------------
//  The machine's idle share since the last sample (fm_cpu: idle and
//  iowait of all ticks).  Returns the percentage, or -1 if /proc/stat
//  is unreadable, no earlier sample exists or no tick passed.

static int
s_spare_sample (fm_yield_t *self)
{
    fm_cpu_ticks_t now;
    if (fm_cpu_ticks (&now))
        return -1;
    int spare = -1;
    if (self->stat.total && now.total > self->stat.total && now.idle >= self->stat.idle)
        spare = (int) ((now.idle - self->stat.idle) * 100 / (now.total - self->stat.total));
    self->stat = now;
    return spare;
}

//  One watchdog period, lock held: a thread at idle priority that has
//  not beaten for starved_ms does not get the CPU at all, and cannot see
//  its own lag; one on a machine with less than half the spare CPU it
//  needed to yield will not get it soon

static void
s_watch (fm_yield_t *self, int64_t now)
{
    if (!self->idle)
        return;
    if (now - self->beat > self->starved_ms) {
        s_switch (self, false);
        if (!self->idle)
            self->stats.starved++;
    }
    else
    if (self->spare_min && self->spare >= 0 && self->spare < self->spare_min / 2) {
        s_switch (self, false);
        if (!self->idle)
            self->stats.busy++;
    }
}

static void *
s_watchdog (void *arg)
{
    fm_yield_t *self = (fm_yield_t *) arg;
    pthread_setname_np (pthread_self (), "fm-yield-watch");
    pthread_mutex_lock (&self->lock);
    int64_t sampled = zclock_mono ();
    while (!self->stopping) {
        struct timespec until;
        clock_gettime (CLOCK_MONOTONIC, &until);
        until.tv_nsec += WATCH_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait (&self->wake, &self->lock, &until);
        if (self->stopping)
            break;
        int64_t now = zclock_mono ();
        if (self->stat_ok && now - sampled >= SPARE_MS) {
            int spare = s_spare_sample (self);
            if (spare >= 0)         //  unknown keeps the last verdict
                self->spare = spare;
            sampled = now;
        }
        s_watch (self, now);
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}


//  --------------------------------------------------------------------------
//  The lag of the newest event read

void
fm_yield_observe (fm_yield_t *self, int64_t now_ms, int64_t lag_us)
{
    assert (self);
    if (lag_us < 0)
        lag_us = 0;
    pthread_mutex_lock (&self->lock);
    self->beat = zclock_mono ();
    if (lag_us > self->stats.max_lag_us)
        self->stats.max_lag_us = lag_us;
    if (!self->able)
        ;
    else
    if (self->idle) {
        if (lag_us > LAG_HIGH_MS * 1000)
            s_switch (self, false);
    }
    else
    if (lag_us < LAG_LOW_MS * 1000) {
        if (self->calm_since < 0)
            self->calm_since = now_ms;
        //  The first time at once: nothing lagged yet.  Only into spare
        //  CPU: not known yet counts as none
        bool spare = self->spare_min == 0 || self->spare >= self->spare_min;
        if (spare && (self->stats.to_normal == 0
                  ||  now_ms - self->calm_since >= HOLD_MS))
            s_switch (self, true);
    }
    else
        self->calm_since = -1;
    pthread_mutex_unlock (&self->lock);
}


//  --------------------------------------------------------------------------
//  The thread runs

void
fm_yield_beat (fm_yield_t *self)
{
    assert (self);
    pthread_mutex_lock (&self->lock);
    self->beat = zclock_mono ();
    pthread_mutex_unlock (&self->lock);
}


//  --------------------------------------------------------------------------
//  Getters

bool
fm_yield_able (fm_yield_t *self)
{
    assert (self);
    pthread_mutex_lock (&self->lock);
    bool able = self->able;
    pthread_mutex_unlock (&self->lock);
    return able;
}

bool
fm_yield_idle (fm_yield_t *self)
{
    assert (self);
    pthread_mutex_lock (&self->lock);
    bool idle = self->idle;
    pthread_mutex_unlock (&self->lock);
    return idle;
}

void
fm_yield_stats (fm_yield_t *self, fm_yield_stats_t *stats)
{
    assert (self);
    assert (stats);
    pthread_mutex_lock (&self->lock);
    *stats = self->stats;
    pthread_mutex_unlock (&self->lock);
}


//  --------------------------------------------------------------------------
//  Selftest

#ifdef SCHED_IDLE
//  The switches for real, in a thread of the test's own: the calling
//  thread's policy as sched_getscheduler reads it
static void *
s_test_thread (void *arg)
{
    bool verbose = *(bool *) arg;
    assert (sched_getscheduler (0) == SCHED_OTHER);
    fm_yield_t *yield = fm_yield_new (true, 100, 0);
    assert (yield);
    if (!fm_yield_able (yield)) {
        //  Not privileged here: it never touches the policy
        if (verbose)
            printf ("(not able to yield here: policy switches not tested) ");
        fm_yield_observe (yield, 0, 0);
        assert (!fm_yield_idle (yield));
        assert (sched_getscheduler (0) == SCHED_OTHER);
        fm_yield_destroy (&yield);
        return NULL;
    }
    fm_yield_observe (yield, 0, 1000);
    assert (fm_yield_idle (yield));
    assert (sched_getscheduler (0) == SCHED_IDLE);
    fm_yield_observe (yield, 10, (LAG_HIGH_MS + 1) * 1000);
    assert (!fm_yield_idle (yield));
    assert (sched_getscheduler (0) == SCHED_OTHER);
    fm_yield_observe (yield, 20, 0);
    fm_yield_observe (yield, 20 + HOLD_MS, 0);
    assert (sched_getscheduler (0) == SCHED_IDLE);
    //  No beat for 100 + LAG_HIGH_MS: the watchdog switches it back
    zclock_sleep (100 + LAG_HIGH_MS + 3 * WATCH_MS);
    assert (!fm_yield_idle (yield));
    assert (sched_getscheduler (0) == SCHED_OTHER);
    fm_yield_stats_t stats;
    fm_yield_stats (yield, &stats);
    assert (stats.to_normal == 2 && stats.starved == 1);
    //  Beats keep it idle
    fm_yield_observe (yield, 30 + 2 * HOLD_MS, 0);
    fm_yield_observe (yield, 30 + 3 * HOLD_MS, 0);
    assert (sched_getscheduler (0) == SCHED_IDLE);
    for (int beat = 0; beat < 6; beat++) {
        zclock_sleep (WATCH_MS);
        fm_yield_beat (yield);
    }
    assert (sched_getscheduler (0) == SCHED_IDLE);
    //  Destroy returns the thread to normal
    fm_yield_destroy (&yield);
    assert (!yield);
    assert (sched_getscheduler (0) == SCHED_OTHER);
    return NULL;
}
#endif

void
fm_yield_test (bool verbose)
{
    printf (" * fm_yield: ");

    //  The rules, dry (no system calls)
    fm_yield_t *yield = s_new (true, false, 100, 0);
    assert (yield);
    assert (!fm_yield_idle (yield));
    //  First observation under LAG_LOW_MS: idle at once
    fm_yield_observe (yield, 0, 1000);
    assert (fm_yield_idle (yield));
    //  Between the thresholds: stays idle
    fm_yield_observe (yield, 5, LAG_HIGH_MS * 1000);
    assert (fm_yield_idle (yield));
    //  Above LAG_HIGH_MS: normal
    fm_yield_observe (yield, 10, (LAG_HIGH_MS + 100) * 1000);
    assert (!fm_yield_idle (yield));
    //  Calm, but not for HOLD_MS yet
    fm_yield_observe (yield, 20, 1000);
    fm_yield_observe (yield, 20 + HOLD_MS - 1, 1000);
    assert (!fm_yield_idle (yield));
    //  A lag between the thresholds restarts the wait
    fm_yield_observe (yield, 20 + HOLD_MS - 1, LAG_LOW_MS * 1000);
    fm_yield_observe (yield, 20 + HOLD_MS, 1000);
    assert (!fm_yield_idle (yield));
    fm_yield_observe (yield, 20 + 2 * HOLD_MS - 1, 1000);
    assert (!fm_yield_idle (yield));
    fm_yield_observe (yield, 20 + 2 * HOLD_MS, 1000);
    assert (fm_yield_idle (yield));
    //  A broker clock ahead of ours: negative lag counts as 0
    fm_yield_observe (yield, 30 + 2 * HOLD_MS, -5000000);
    assert (fm_yield_idle (yield));
    fm_yield_stats_t stats;
    fm_yield_stats (yield, &stats);
    assert (stats.to_idle == 2);
    assert (stats.to_normal == 1);
    assert (stats.max_lag_us == (LAG_HIGH_MS + 100) * 1000);
    fm_yield_destroy (&yield);
    assert (!yield);
    fm_yield_destroy (&yield);

    //  Spare CPU, dry: idle only with spare_min % of the machine idle;
    //  the watchdog's period puts it back under half of that
    yield = s_new (true, false, 100, 20);
    assert (yield);
    fm_yield_observe (yield, 0, 0);
    assert (!fm_yield_idle (yield));            //  idle share not known yet
    yield->spare = 19;
    fm_yield_observe (yield, 1, 0);
    assert (!fm_yield_idle (yield));
    yield->spare = 20;
    fm_yield_observe (yield, 2, 0);
    assert (fm_yield_idle (yield));
    pthread_mutex_lock (&yield->lock);
    yield->spare = 10;                          //  half: stays
    s_watch (yield, zclock_mono ());
    assert (yield->idle);
    yield->spare = 9;
    s_watch (yield, zclock_mono ());
    assert (!yield->idle);
    pthread_mutex_unlock (&yield->lock);
    //  Back only after HOLD_MS calm and with spare CPU again
    yield->spare = 15;
    fm_yield_observe (yield, 3, 0);
    fm_yield_observe (yield, 3 + HOLD_MS, 0);
    assert (!fm_yield_idle (yield));
    yield->spare = 60;
    fm_yield_observe (yield, 3 + HOLD_MS, 0);
    assert (fm_yield_idle (yield));
    fm_yield_stats (yield, &stats);
    assert (stats.to_idle == 2 && stats.to_normal == 1 && stats.busy == 1
        &&  stats.starved == 0);
    //  Starved: no beat for beat_ms + LAG_HIGH_MS, whatever the spare CPU
    pthread_mutex_lock (&yield->lock);
    s_watch (yield, zclock_mono () + 100 + LAG_HIGH_MS + 1);
    assert (!yield->idle);
    pthread_mutex_unlock (&yield->lock);
    fm_yield_stats (yield, &stats);
    assert (stats.starved == 1 && stats.busy == 1);
    fm_yield_destroy (&yield);

    //  The idle share from /proc/stat: unknown at the first sample, then
    //  a percentage once ticks passed
    yield = s_new (true, false, 100, 20);
    assert (yield);
    fm_cpu_ticks_t readable;
    if (fm_cpu_ticks (&readable) == 0) {
        assert (s_spare_sample (yield) == -1);
        int spare = -1;
        for (int tries = 0; tries < 100 && spare < 0; tries++) {
            zclock_sleep (20);          //  a tick is 10 ms at USER_HZ 100
            spare = s_spare_sample (yield);
        }
        assert (spare >= 0 && spare <= 100);
        if (verbose)
            printf ("(machine %d %% idle) ", spare);
    }
    fm_yield_destroy (&yield);

    //  Disabled: never yields, still counts the lag
    yield = fm_yield_new (false, 100, 20);
    assert (yield);
    assert (!fm_yield_able (yield));
    fm_yield_observe (yield, 0, 0);
    fm_yield_observe (yield, 1, 7000);
    assert (!fm_yield_idle (yield));
    fm_yield_stats (yield, &stats);
    assert (stats.to_idle == 0 && stats.max_lag_us == 7000);
    fm_yield_destroy (&yield);

#ifdef SCHED_IDLE
    pthread_t thread;
    int rc = pthread_create (&thread, NULL, s_test_thread, &verbose);
    assert (rc == 0);
    pthread_join (thread, NULL);
#endif
    printf ("OK\n");
}
