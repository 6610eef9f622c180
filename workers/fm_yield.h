/*  =========================================================================
    fm_yield - the recorder gives the CPU to the request path while its
    log keeps up

    The recorder works in bursts: every batch_ms it writes what came in
    meanwhile, ~12 ms of one CPU per flush at 1,800 requests/s.  On a
    machine it shares with the broker and the workers, a bank or the
    broker woken during such a burst waited for a CPU: in fm-bench with 1
    request in flight the slowest requests came every 100 ms, one bank
    answering 6 ms late (p99 3.0 ms, p999 9 ms).  With the recorder's
    thread at SCHED_IDLE, every other thread runs first (p99 1.3 ms, p999
    4.5 ms).  But a SCHED_IDLE thread gets next to no CPU while the
    machine is busy, and the log must keep up: its SUB socket drops what
    it cannot queue.  So the thread goes back to normal priority when
    - the newest event it read is more than LAG_HIGH_MS old (it runs,
      but not enough), or
    - it has not beaten (fm_yield_beat) for beat_ms + LAG_HIGH_MS: it
      does not run at all, or
    - the machine's CPUs were less than spare_min / 2 % idle over the
      last SPARE_MS (/proc/stat): it will not get the CPU soon.
    A watchdog thread of this class, at normal priority, checks the last
    two every WATCH_MS and switches it.  The thread goes to idle priority
    again once the lag has stayed under LAG_LOW_MS for HOLD_MS and the
    machine is spare_min % idle (the constants are in fm_yield.c): it
    yields only CPU that would otherwise go unused, so under full load it
    stays at normal priority.

    Leaving SCHED_IDLE needs CAP_SYS_NICE or an RLIMIT_NICE of 20 or more
    (systemd: LimitNICE=+0).  A thread that went idle without it could
    never come back, so fm_yield_new first tries the round trip in a
    helper thread, and if that fails this instance never yields (logged
    once).  The lag uses the broker's clock (each event's ts_us): a
    broker clock far behind ours only keeps the thread at normal
    priority, as if this class were off.

    Acts on the thread that calls fm_yield_new (on Linux a scheduling
    policy belongs to a thread): threads started before (the ZeroMQ I/O
    thread, the store's checkpoint thread) keep normal priority.
    =========================================================================
*/

#ifndef FM_YIELD_H_INCLUDED
#define FM_YIELD_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _fm_yield_t fm_yield_t;

//  Counters since fm_yield_new
typedef struct {
    uint64_t to_idle;                   //  switches to idle priority
    uint64_t to_normal;                 //  switches back: the log lagged
    uint64_t starved;                   //  of which: the thread got no CPU
    uint64_t busy;                      //  of which: the machine's spare
                                        //  CPU fell under spare_min / 2
    int64_t max_lag_us;                 //  highest lag observed
} fm_yield_stats_t;

//  For the calling thread, which stays at normal priority until the
//  first fm_yield_observe, and which calls fm_yield_beat at least every
//  beat_ms (> 0) while it gets the CPU.  It yields only while the
//  machine's CPUs were at least spare_min % idle (0..100; 0: whatever
//  the load) over the watchdog's last look.  If enabled is false, or the
//  thread could not come back from idle priority (logged), the instance
//  never yields and starts no watchdog.  Returns the instance, or NULL
//  if out of memory or no thread could be started.
fm_yield_t *
    fm_yield_new (bool enabled, int beat_ms, int spare_min);

//  Stop the watchdog, put the thread back to normal priority if it is
//  idle (so that what follows, such as a final flush, is not starved),
//  then destroy.  Call from the thread that made it.  Idempotent; nulls
//  *self_p.
void
    fm_yield_destroy (fm_yield_t **self_p);

//  The newest event just read is lag_us old (its ts_us against our
//  clock; negative counts as 0), at now_ms (zclock_mono).  Beats, and
//  switches the calling thread's priority as the rules above say.  Call
//  from the thread that made the instance.
void
    fm_yield_observe (fm_yield_t *self, int64_t now_ms, int64_t lag_us);

//  The thread runs: call at least every beat_ms (a timer of its loop).
//  Cannot fail.
void
    fm_yield_beat (fm_yield_t *self);

//  True if this instance may yield: enabled and the probe passed.
bool
    fm_yield_able (fm_yield_t *self);

//  True while the thread runs at idle priority.
bool
    fm_yield_idle (fm_yield_t *self);

//  Copy the counters.  Cannot fail.
void
    fm_yield_stats (fm_yield_t *self, fm_yield_stats_t *stats);

//  Self test
void
    fm_yield_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
