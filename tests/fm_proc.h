/*  =========================================================================
    fm_proc - start and stop real finmatch processes for integration tests

    The integration tests run the shipped binaries (finmatch-broker, -gov,
    -bank, -recorder) as separate processes on loopback.  This helper owns
    everything that makes that safe to do from a test:
    - one temp directory per test run for logs, configs and databases
      (kept when the test fails, so the logs can be read; removed on pass);
    - spawning a binary from FM_BIN_DIR with stdout/stderr in that
      directory ("<name>.log"), in its own process group, with a parent
      death signal so nothing outlives a test killed by ctest's TIMEOUT;
    - stopping: SIGTERM, wait up to a bound, then SIGKILL;
    - cleanup of every tracked process on exit, on assert (SIGABRT), and on
      SIGINT/SIGTERM/SIGSEGV, so a failing test never leaks a broker;
    - polling helpers: wait until a condition holds or a deadline passes,
      failing early (with the log tail) when a tracked process died.
    It is test code: failures of the environment (fork, mkdtemp) abort.
    =========================================================================
*/

#ifndef FM_PROC_H_INCLUDED
#define FM_PROC_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <sys/types.h>
#include <sqlite3.h>
#include "fm_client.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _fm_proc_t fm_proc_t;

//  Set up a test run: create the temp dir "fm-<test>-XXXXXX" under
//  $TMPDIR (or /tmp), resolve FM_BIN_DIR (default: the directory of
//  argv0) and FM_SOURCE_DIR, install the cleanup handlers.  Call once,
//  after zsys_init.  Returns the temp dir (borrowed); aborts on failure.
const char *
    fm_proc_setup (const char *test, const char *argv0);

//  End a test run: stop every process still running, then remove the temp
//  dir if passed, else print where it is kept.  Returns the exit code to
//  return from main (0 if passed, 1 if not).
int
    fm_proc_teardown (bool passed);

//  The directory of the binaries, the source tree and the temp dir.
//  Borrowed.
const char *
    fm_proc_bin_dir (void);
const char *
    fm_proc_source_dir (void);
const char *
    fm_proc_tmp_dir (void);

//  A path in the temp dir from a printf format.  Caller owns the string.
char *
    fm_proc_tmp_path (const char *format, ...) CHECK_PRINTF (1);

//  A path in the source tree from a printf format.  Caller owns it.
char *
    fm_proc_source_path (const char *format, ...) CHECK_PRINTF (1);

//  Start binary (a name in the bin dir) with the NULL-terminated argument
//  list args (argv[1]...).  name labels the process in logs and names its
//  log file "<name>.log" (stdout and stderr) in the temp dir.  Returns the
//  process, or NULL if the binary is missing or fork failed (logged).
fm_proc_t *
    fm_proc_start (const char *name, const char *binary, const char **args);

//  Stop: SIGTERM, wait up to timeout_ms, then SIGKILL and reap.  Returns
//  the exit code (0..255), or 128 + signal if it died by a signal, or the
//  stored code if it had already exited.  Cannot fail.
int
    fm_proc_stop (fm_proc_t *self, int timeout_ms);

//  True while the process has not exited (reaps it if it has).
bool
    fm_proc_running (fm_proc_t *self);

//  Wait up to timeout_ms for the process to exit by itself.  Returns the
//  exit code as fm_proc_stop does, or -1 if it is still running.
int
    fm_proc_wait (fm_proc_t *self, int timeout_ms);

//  Process id, name, log path.  Borrowed.
pid_t
    fm_proc_pid (fm_proc_t *self);
const char *
    fm_proc_name (fm_proc_t *self);
const char *
    fm_proc_log (fm_proc_t *self);

//  Run binary with args to completion, as fm_proc_start, waiting up to
//  timeout_ms.  Returns its exit code and, in *output, everything it wrote
//  (stdout + stderr; caller frees).  Fails the test (FM_CHECK) if it cannot
//  start or is still running after timeout_ms.  Log files are numbered
//  "<name>-1.log", "<name>-2.log"... so every run's output is kept.
int
    fm_proc_run (const char *name, const char *binary, const char **args,
                 int timeout_ms, char **output);

//  Print the last tail bytes of the process's log to stderr.
void
    fm_proc_dump_log (fm_proc_t *self, size_t tail);

//  Destroy: stops the process (SIGKILL after 2 s) if still running.
//  Idempotent; nulls *self_p.
void
    fm_proc_destroy (fm_proc_t **self_p);

//  A TCP port on 127.0.0.1 free at the time of the call (bind port 0,
//  read it back, close).  Returns the port, or -1.
int
    fm_proc_free_port (void);

//  Write a ZPL config into the temp dir as "<name>.cfg": start from the
//  fixture file (a path, or NULL for an empty tree), then apply the
//  NULL-terminated pairs path, value ("gov/endpoint", "tcp://...").
//  Returns the path written (caller owns), or NULL (logged).
char *
    fm_proc_config (const char *name, const char *fixture, ...);

//  Poll: call cond (arg) every interval_ms until it returns true or
//  timeout_ms passed.  Before each try, checks that every tracked process
//  is still running; if one exited, logs which and
//  returns false at once.  Returns true if cond held.
typedef bool (fm_proc_cond_fn) (void *arg);
bool
    fm_proc_wait_until (fm_proc_cond_fn *cond, void *arg,
                        int timeout_ms, int interval_ms);

//  True if every tracked process still runs; else logs the first that
//  exited.
bool
    fm_proc_all_running (void);

//  Fail the test now: print file:line, the failed condition and the
//  message, the log tails of
//  every tracked process, kill them all and _exit (1).  Never returns.
void
    fm_proc_fail (const char *file, int line, const char *cond,
                  const char *format, ...) CHECK_PRINTF (4);

//  Check a condition; on failure report it (with a printf message) and end
//  the test through fm_proc_fail.  Tests use this rather than assert () so
//  the message says what was expected and what came.
#define FM_CHECK(cond, ...) \
    do { if (!(cond)) fm_proc_fail (__FILE__, __LINE__, #cond, __VA_ARGS__); \
    } while (0)

//  Open the SQLite file at path read-only, waiting up to 2 s on a lock.
//  Returns the handle (caller closes it with sqlite3_close), or NULL if
//  the file is not there (yet).
sqlite3 *
    fm_proc_db_open (const char *path);

//  First column of the first row of sql on the SQLite file at path, opened
//  read-only (fm_proc_db_open), with the NULL-terminated text arguments bound to ?1, ?2...
//  Returns the value, or -1 if the file, the table or the row is not
//  there (yet): a recorder's log is polled while it is being written.
int64_t
    fm_proc_db_int (const char *path, const char *sql, ...);

//  Wait up to timeout_ms, polling every 50 ms with fm_proc_wait_until
//  (so it fails at once if a tracked process exited), until the first
//  column of sql on the log at path, with ?1 bound to text unless it is
//  NULL, is at least at_least.  Fails the test, naming sql, text and the
//  last value, if it never is.
void
    fm_proc_db_wait (const char *path, const char *sql, const char *text,
                     int64_t at_least, int timeout_ms);

//  Send one malformed request (a body that is never valid msgpack) to
//  fm.request through dealer (borrowed, connected to the broker, with a
//  receive timeout) and read the ERROR it gets: the broker publishes one
//  input.rejected event per call.  Fails the test if no answer came.
void
    fm_proc_probe (zsock_t *dealer);


//  --------------------------------------------------------------------------
//  A system under test: one broker on two free loopback ports and the
//  recorder, gov and banks started against it.  The start-up every
//  integration test repeats, in one place:
//      fm_proc_system_t *sys = fm_proc_system_new (START_MS);
//      fm_proc_system_broker (sys, NULL, "broker/deadline_ms", "1000", NULL);
//      fm_proc_system_wait_service (sys, FM_SERVICE_REQUEST);
//      fm_proc_system_recorder (sys, NULL, NULL);
//      fm_proc_system_wait_recorder (sys, NULL);
//      fm_proc_system_gov (sys, "tests/data/system/gov.cfg", NULL,
//                          "gov/registry", registry, NULL);
//      fm_proc_system_bank (sys, "bank_cqrcb", fixture, NULL, NULL);
//      fm_proc_system_wait_service (sys, "bank.CQRCB");
//      ...
//      fm_proc_system_destroy (&sys);
//  Each start writes "<name>.cfg" in the temp dir from a fixture plus the
//  endpoints plus the caller's NULL-terminated path/value pairs, and runs
//  the binary with "-c <cfg>" then args (a NULL-terminated list, borrowed;
//  NULL means "--insecure").  Every failure fails the test (FM_CHECK).

typedef struct {
    char router [64];                   //  broker's ROUTER endpoint
    char events [64];                   //  broker's XPUB endpoint
    int start_ms;                       //  bound for any process to be ready
    fm_client_t *client;                //  MMI client, owned; made insecure
                                        //  on first use unless set before
    char *db;                           //  the recorder's log, owned; NULL
                                        //  until fm_proc_system_recorder
    char *broker_cfg;                   //  config written, owned
    char *recorder_cfg;                 //  config written, owned
    fm_proc_t *broker;                  //  owned, or NULL
    fm_proc_t *recorder;                //  owned, or NULL
    fm_proc_t *gov;                     //  owned, or NULL
    zlist_t *banks;                     //  fm_proc_t, owned, start order
    zlist_t *configs;                   //  other config paths, owned
} fm_proc_system_t;

//  Choose the two ports (free now; a bind race with another test shows as
//  the broker exiting, which the waits report with its log).  start_ms
//  bounds every wait below.  Starts nothing.  Returns the system (caller
//  owns); fails the test if no free port was found.
fm_proc_system_t *
    fm_proc_system_new (int start_ms);

//  Move both endpoints to host, same ports: the broker runs on another
//  address than 127.0.0.1 (tests/netns_fault.sh puts it in a network
//  namespace; the ports were free here, and are there).  Call before
//  anything is started or waited for.  Cannot fail.
void
    fm_proc_system_host (fm_proc_system_t *self, const char *host);

//  Stop every process still running (SIGTERM, then SIGKILL after 5 s) and
//  free the system.  Tests that check an exit code stop that process
//  themselves first.  Idempotent; nulls *self_p.
void
    fm_proc_system_destroy (fm_proc_system_t **self_p);

//  Start finmatch-broker: config "broker" with broker/endpoint and
//  broker/events set, then the pairs.  Does not wait (see
//  fm_proc_system_wait_service).  Returns self->broker.
fm_proc_t *
    fm_proc_system_broker (fm_proc_system_t *self, const char **args, ...);

//  Start finmatch-recorder: config "recorder" with recorder/events,
//  recorder/broker and recorder/db (self->db, "events.db" in the temp
//  dir) set, then the pairs.  Returns self->recorder.
fm_proc_t *
    fm_proc_system_recorder (fm_proc_system_t *self, const char **args, ...);

//  Start finmatch-gov: config "gov" from fixture (a path in the source
//  tree) with gov/endpoint set, then the pairs.  Returns self->gov.
fm_proc_t *
    fm_proc_system_gov (fm_proc_system_t *self, const char *fixture,
                        const char **args, ...);

//  Start finmatch-bank labelled name: config "<name>" from fixture (an
//  absolute path) with bank/endpoint set, then the pairs.  Returns the
//  process (owned by self, also appended to self->banks).
fm_proc_t *
    fm_proc_system_bank (fm_proc_system_t *self, const char *name,
                         const char *fixture, const char **args, ...);

//  Wait until the broker answers 8/MMI "200" for service through
//  self->client, or fail the test after start_ms (or at once if a process
//  died).
void
    fm_proc_system_wait_service (fm_proc_system_t *self, const char *service);

//  Wait until the recorder's subscription is live: probe (fm_proc_probe)
//  through dealer (borrowed; NULL: an insecure one made here) until an
//  input.rejected event is in self->db.  Returns the number of probes
//  sent; fails the test after start_ms.
int
    fm_proc_system_wait_recorder (fm_proc_system_t *self, zsock_t *dealer);

#ifdef __cplusplus
}
#endif

#endif
