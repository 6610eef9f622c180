/*  =========================================================================
    fm_cpu - the machine's CPU time, from /proc/stat, and a process's,
    from /proc/PID/stat

    Owns the one reading of /proc/stat's first line ("cpu  user nice
    system idle iowait irq softirq steal ..."; guest time is counted in
    user), for the benchmark's idle/steal rows and for the recorder's
    decision to yield only spare CPU (fm_yield).  Ticks are USER_HZ (100
    a second per CPU), summed over all CPUs since boot; a share is the
    difference of two readings.  A process's ticks (its user + system
    time, all threads) serve the benchmarks' CPU per request.  Linux
    only: elsewhere a reading fails.
    =========================================================================
*/

#ifndef FM_CPU_H_INCLUDED
#define FM_CPU_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

//  CPU ticks since boot, all CPUs
typedef struct {
    uint64_t total;                     //  every state
    uint64_t idle;                      //  idle and iowait
    uint64_t steal;                     //  taken by the hypervisor for
                                        //  other guests
} fm_cpu_ticks_t;

//  Read the machine's ticks into *ticks.  Returns 0, or -1 if /proc/stat
//  cannot be read or parsed (*ticks is then all zero).
int
    fm_cpu_ticks (fm_cpu_ticks_t *ticks);

//  CPU ticks (user + system, every thread) that process pid has used
//  since it started, or -1 if /proc/PID/stat cannot be read or parsed.
long
    fm_cpu_process_ticks (int pid);

//  Self test
void
    fm_cpu_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
