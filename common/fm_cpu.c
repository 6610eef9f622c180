/*  =========================================================================
    fm_cpu - the machine's CPU time, from /proc/stat

    See fm_cpu.h.
    =========================================================================
*/

#include <czmq.h>
#include <inttypes.h>
#include <unistd.h>
#include "fm_cpu.h"

int
fm_cpu_ticks (fm_cpu_ticks_t *ticks)
{
    assert (ticks);
    memset (ticks, 0, sizeof *ticks);
    FILE *file = fopen ("/proc/stat", "r");
    if (!file)
        return -1;
    uint64_t field [8] = { 0 };
    int fields = fscanf (file, "cpu %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64
                         " %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64,
                         &field [0], &field [1], &field [2], &field [3],
                         &field [4], &field [5], &field [6], &field [7]);
    fclose (file);
    if (fields != 8)
        return -1;
    for (size_t index = 0; index < 8; index++)
        ticks->total += field [index];
    ticks->idle = field [3] + field [4];
    ticks->steal = field [7];
    return 0;
}


long
fm_cpu_process_ticks (int pid)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/stat", pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    char line [1024];
    long ticks = -1;
    if (fgets (line, sizeof line, file)) {
        //  The command name (field 2) may hold spaces: skip past its ')'
        char *cursor = strrchr (line, ')');
        unsigned long utime, stime;
        if (cursor && sscanf (cursor + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu",
                              &utime, &stime) == 2)
            ticks = (long) (utime + stime);
    }
    fclose (file);
    return ticks;
}


//  --------------------------------------------------------------------------
//  Selftest

void
fm_cpu_test (bool verbose)
{
    printf (" * fm_cpu: ");
    fm_cpu_ticks_t first, second;
    if (fm_cpu_ticks (&first) == -1) {
        //  Not Linux, or no /proc: a failed reading is all zero.  Where the
        //  file is there, the reading must not fail
        assert (access ("/proc/stat", R_OK) != 0);
        assert (first.total == 0 && first.idle == 0 && first.steal == 0);
        if (verbose)
            printf ("(no /proc/stat here) ");
        printf ("OK\n");
        return;
    }
    assert (first.total > 0);
    assert (first.idle + first.steal <= first.total);
    //  Time passes: the counts only grow, and by more than nothing
    int64_t until = zclock_mono () + 2000;
    do {
        zclock_sleep (20);
        assert (fm_cpu_ticks (&second) == 0);
    } while (second.total == first.total && zclock_mono () < until);
    assert (second.total > first.total);
    assert (second.idle >= first.idle && second.steal >= first.steal);
    assert (second.idle - first.idle <= second.total - first.total);
    if (verbose)
        printf ("(%" PRIu64 " ticks, %" PRIu64 " idle) ", second.total - first.total,
                second.idle - first.idle);

    //  This process: its ticks grow while it computes, and no process
    //  has more than the machine; a pid that does not exist reads -1
    long mine = fm_cpu_process_ticks (getpid ());
    assert (mine >= 0);
    volatile uint64_t spin = 0;
    until = zclock_mono () + 2000;
    while (fm_cpu_process_ticks (getpid ()) == mine && zclock_mono () < until)
        for (int i = 0; i < 100000; i++)
            spin += (uint64_t) i;
    long later = fm_cpu_process_ticks (getpid ());
    assert (later > mine);
    assert ((uint64_t) later <= second.total + 1000);
    assert (fm_cpu_process_ticks (-1) == -1);
    printf ("OK\n");
}
