/*  =========================================================================
    fm_proc - start and stop real finmatch processes for integration tests

    Children are forked (not posix_spawn) because each one needs three
    things between fork and exec that posix_spawn cannot all express:
    its own process group (so a kill reaches anything it forks), a parent
    death signal (so a test killed by ctest's TIMEOUT with SIGKILL, which
    runs no handler, still takes its children along), and stdout/stderr in
    its log file.  Only async-signal-safe calls run in the child: every
    string it needs is prepared before fork, since the czmq I/O threads of
    the parent may hold malloc's lock at the moment of the fork.

    The tracked pid table is a plain static array that the signal handler
    can walk without locks or allocation.
    =========================================================================
*/

#include "fm_proc.h"
#include "fm_mdp.h"
#include <sqlite3.h>
#include <ftw.h>
#include <libgen.h>
#include <netinet/in.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <arpa/inet.h>

#define MAX_PROCS       64              //  tracked at once per test (the
                                        //  bench runs all 33 institutions)
#define LOG_TAIL        3000            //  bytes of log shown on failure

struct _fm_proc_t {
    char *name;                         //  label, owned
    char *log;                          //  log file path, owned
    pid_t pid;                          //  0 once reaped
    int status;                         //  exit code once reaped, else -1
    int slot;                           //  index in s_procs
};

static fm_proc_t *s_procs [MAX_PROCS];  //  tracked, borrowed from callers
static volatile pid_t s_pids [MAX_PROCS];   //  the same pids, for handlers
static char s_tmp_dir [PATH_MAX];
static char s_bin_dir [PATH_MAX];
static char s_source_dir [PATH_MAX];
static bool s_setup_done;


//  Kill every tracked process group with SIGKILL.  Async-signal-safe: used
//  by the signal handler and by the exit paths.
static void
s_kill_all_now (void)
{
    for (int i = 0; i < MAX_PROCS; i++) {
        pid_t pid = s_pids [i];
        if (pid > 0) {
            kill (-pid, SIGKILL);
            kill (pid, SIGKILL);
        }
    }
}

static void
s_signal_handler (int sig)
{
    s_kill_all_now ();
    //  Die of the same signal, so ctest reports what happened
    signal (sig, SIG_DFL);
    raise (sig);
}

static void
s_atexit (void)
{
    s_kill_all_now ();
}


//  Decode a waitpid status into our exit code convention.
static int
s_exit_code (int wstatus)
{
    if (WIFEXITED (wstatus))
        return WEXITSTATUS (wstatus);
    if (WIFSIGNALED (wstatus))
        return 128 + WTERMSIG (wstatus);
    return 255;
}

//  Reap if exited.  Returns true if the process has exited.
static bool
s_reap (fm_proc_t *self, bool block)
{
    if (self->pid == 0)
        return true;
    int wstatus;
    pid_t rc = waitpid (self->pid, &wstatus, block ? 0 : WNOHANG);
    if (rc == self->pid) {
        self->status = s_exit_code (wstatus);
        //  Its group may hold grandchildren; they go with it
        kill (-self->pid, SIGKILL);
        self->pid = 0;
        s_pids [self->slot] = 0;
        return true;
    }
    return false;
}


//  --------------------------------------------------------------------------
//  Set up a test run.

const char *
fm_proc_setup (const char *test, const char *argv0)
{
    assert (!s_setup_done);
    const char *tmp = getenv ("TMPDIR");
    snprintf (s_tmp_dir, sizeof (s_tmp_dir), "%s/fm-%s-XXXXXX",
              tmp && *tmp ? tmp : "/tmp", test);
    if (!mkdtemp (s_tmp_dir)) {
        fprintf (stderr, "fm_proc: mkdtemp %s: %s\n", s_tmp_dir, strerror (errno));
        abort ();
    }
    const char *bin = getenv ("FM_BIN_DIR");
    if (bin && *bin)
        snprintf (s_bin_dir, sizeof (s_bin_dir), "%s", bin);
    else {
        //  Tests land in the same bin directory as the binaries
        char copy [PATH_MAX];
        snprintf (copy, sizeof (copy), "%s", argv0);
        snprintf (s_bin_dir, sizeof (s_bin_dir), "%s", dirname (copy));
    }
    const char *source = getenv ("FM_SOURCE_DIR");
    snprintf (s_source_dir, sizeof (s_source_dir), "%s",
              source && *source ? source : ".");
    //  Absolute: children run in the temp dir (fm_proc_start)
    char absolute [PATH_MAX];
    if (realpath (s_bin_dir, absolute))
        snprintf (s_bin_dir, sizeof (s_bin_dir), "%s", absolute);
    if (realpath (s_source_dir, absolute))
        snprintf (s_source_dir, sizeof (s_source_dir), "%s", absolute);
    if (realpath (s_tmp_dir, absolute))
        snprintf (s_tmp_dir, sizeof (s_tmp_dir), "%s", absolute);

    //  czmq's zsys_init installed its own SIGINT/SIGTERM handlers; ours
    //  replace them: a test interrupted must kill its children first
    struct sigaction action;
    memset (&action, 0, sizeof (action));
    action.sa_handler = s_signal_handler;
    sigemptyset (&action.sa_mask);
    int signals [] = { SIGINT, SIGTERM, SIGABRT, SIGSEGV, SIGBUS, SIGHUP };
    for (size_t i = 0; i < sizeof (signals) / sizeof (signals [0]); i++)
        sigaction (signals [i], &action, NULL);
    atexit (s_atexit);
    s_setup_done = true;
    return s_tmp_dir;
}


static int
s_remove_entry (const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void) st; (void) flag; (void) ftw;
    return remove (path);
}


//  --------------------------------------------------------------------------
//  End a test run.

int
fm_proc_teardown (bool passed)
{
    for (int i = 0; i < MAX_PROCS; i++)
        if (s_procs [i])
            fm_proc_stop (s_procs [i], 3000);
    if (passed)
        nftw (s_tmp_dir, s_remove_entry, 16, FTW_DEPTH | FTW_PHYS);
    else
        fprintf (stderr, "fm_proc: logs kept in %s\n", s_tmp_dir);
    return passed ? 0 : 1;
}


const char *
fm_proc_bin_dir (void)
{
    return s_bin_dir;
}

const char *
fm_proc_source_dir (void)
{
    return s_source_dir;
}

const char *
fm_proc_tmp_dir (void)
{
    return s_tmp_dir;
}

char *
fm_proc_tmp_path (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *name = zsys_vprintf (format, args);
    va_end (args);
    assert (name);
    char *path = zsys_sprintf ("%s/%s", s_tmp_dir, name);
    assert (path);
    zstr_free (&name);
    return path;
}

char *
fm_proc_source_path (const char *format, ...)
{
    va_list args;
    va_start (args, format);
    char *name = zsys_vprintf (format, args);
    va_end (args);
    assert (name);
    char *path = zsys_sprintf ("%s/%s", s_source_dir, name);
    assert (path);
    zstr_free (&name);
    return path;
}


//  --------------------------------------------------------------------------
//  Start a binary from the bin dir.

fm_proc_t *
fm_proc_start (const char *name, const char *binary, const char **args)
{
    assert (s_setup_done);
    assert (name && binary && args);
    int slot = 0;
    while (slot < MAX_PROCS && s_procs [slot])
        slot++;
    assert (slot < MAX_PROCS);      //  a test starting > 32 processes is a bug

    char *path = zsys_sprintf ("%s/%s", s_bin_dir, binary);
    if (access (path, X_OK)) {
        zsys_error ("fm_proc: %s is not an executable: %s", path, strerror (errno));
        zstr_free (&path);
        return NULL;
    }
    fm_proc_t *self = (fm_proc_t *) zmalloc (sizeof (fm_proc_t));
    assert (self);
    self->name = strdup (name);
    self->log = fm_proc_tmp_path ("%s.log", name);
    self->status = -1;
    self->slot = slot;

    //  Everything the child touches is built before fork
    size_t argc = 0;
    while (args [argc])
        argc++;
    char **argv = (char **) zmalloc ((argc + 2) * sizeof (char *));
    assert (argv);
    argv [0] = path;
    for (size_t i = 0; i < argc; i++)
        argv [i + 1] = (char *) args [i];
    pid_t parent = getpid ();

    pid_t pid = fork ();
    if (pid == 0) {
        //  Child: async-signal-safe calls only
        setpgid (0, 0);
        prctl (PR_SET_PDEATHSIG, SIGKILL);
        if (getppid () != parent)
            _exit (127);            //  the parent died before prctl
        sigset_t none;
        sigemptyset (&none);
        sigprocmask (SIG_SETMASK, &none, NULL);
        signal (SIGINT, SIG_DFL);
        signal (SIGTERM, SIG_DFL);
        int null = open ("/dev/null", O_RDONLY);
        int log = open (self->log, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND, 0644);
        if (null < 0 || log < 0)
            _exit (127);
        dup2 (null, 0);
        dup2 (log, 1);
        dup2 (log, 2);
        close (null);
        close (log);
        //  In the test's temp dir: files a binary keeps relative to its
        //  working directory (the broker's default journal) are the
        //  test's own, never shared with another test or a later run
        if (chdir (s_tmp_dir))
            _exit (127);
        execv (path, argv);
        _exit (127);
    }
    free (argv);
    if (pid < 0) {
        zsys_error ("fm_proc: fork: %s", strerror (errno));
        zstr_free (&path);
        zstr_free (&self->log);
        free (self->name);
        free (self);
        return NULL;
    }
    //  Also from the parent, so a kill (-pid) right after fork reaches it
    setpgid (pid, pid);
    self->pid = pid;
    s_pids [slot] = pid;
    s_procs [slot] = self;
    zsys_debug ("fm_proc: started %s (pid %d): %s", name, (int) pid, path);
    zstr_free (&path);
    return self;
}


//  --------------------------------------------------------------------------
//  Wait up to timeout_ms for exit.

int
fm_proc_wait (fm_proc_t *self, int timeout_ms)
{
    assert (self);
    int64_t deadline = zclock_mono () + timeout_ms;
    while (!s_reap (self, false)) {
        if (zclock_mono () >= deadline)
            return -1;
        zclock_sleep (10);          //  polling a child: no fd to wait on
    }
    return self->status;
}


//  --------------------------------------------------------------------------
//  Stop: SIGTERM, bounded wait, SIGKILL.

int
fm_proc_stop (fm_proc_t *self, int timeout_ms)
{
    assert (self);
    //  Under valgrind (tests/valgrind.sh) a daemon's clean shutdown takes
    //  tens of times longer; the test asserts the clean exit, not its speed
    const char *scale = getenv ("FM_PROC_STOP_SCALE");
    if (scale && atoi (scale) > 1 && atoi (scale) <= 100)
        timeout_ms *= atoi (scale);
    if (self->pid) {
        kill (self->pid, SIGTERM);
        if (fm_proc_wait (self, timeout_ms) < 0) {
            zsys_warning ("fm_proc: %s did not stop in %d ms, killing it",
                          self->name, timeout_ms);
            kill (-self->pid, SIGKILL);
            kill (self->pid, SIGKILL);
            s_reap (self, true);
        }
    }
    return self->status;
}

bool
fm_proc_running (fm_proc_t *self)
{
    assert (self);
    return !s_reap (self, false);
}

pid_t
fm_proc_pid (fm_proc_t *self)
{
    assert (self);
    return self->pid;
}

const char *
fm_proc_name (fm_proc_t *self)
{
    assert (self);
    return self->name;
}

const char *
fm_proc_log (fm_proc_t *self)
{
    assert (self);
    return self->log;
}


//  --------------------------------------------------------------------------
//  Print the tail of the log.

//  --------------------------------------------------------------------------
//  Run binary to completion and capture what it wrote

int
fm_proc_run (const char *name, const char *binary, const char **args,
             int timeout_ms, char **output)
{
    static int runs = 0;
    char label [64];
    snprintf (label, sizeof label, "%s-%d", name, ++runs);
    fm_proc_t *proc = fm_proc_start (label, binary, args);
    FM_CHECK (proc, "cannot start %s", binary);
    int rc = fm_proc_wait (proc, timeout_ms);
    FM_CHECK (rc >= 0, "%s still running after %d ms", label, timeout_ms);
    zfile_t *file = zfile_new (NULL, fm_proc_log (proc));
    FM_CHECK (file && zfile_input (file) == 0, "cannot read %s", fm_proc_log (proc));
    zchunk_t *chunk = zfile_read (file, zfile_cursize (file), 0);
    *output = chunk? zchunk_strdup (chunk): strdup ("");
    zchunk_destroy (&chunk);
    zfile_destroy (&file);
    fm_proc_destroy (&proc);
    return rc;
}

void
fm_proc_dump_log (fm_proc_t *self, size_t tail)
{
    assert (self);
    FILE *file = fopen (self->log, "r");
    if (!file) {
        fprintf (stderr, "---- %s: no log (%s)\n", self->name, self->log);
        return;
    }
    fseek (file, 0, SEEK_END);
    long size = ftell (file);
    long from = size > (long) tail ? size - (long) tail : 0;
    fseek (file, from, SEEK_SET);
    fprintf (stderr, "---- %s (pid %d, %s), last %ld bytes of %s:\n",
             self->name, (int) self->pid,
             self->pid ? "running" : "exited", size - from, self->log);
    char buffer [4096];
    size_t bytes;
    while ((bytes = fread (buffer, 1, sizeof (buffer), file)) > 0)
        fwrite (buffer, 1, bytes, stderr);
    fprintf (stderr, "---- end of %s\n", self->name);
    fclose (file);
}


//  --------------------------------------------------------------------------
//  Destroy, stopping the process if needed.

void
fm_proc_destroy (fm_proc_t **self_p)
{
    assert (self_p);
    fm_proc_t *self = *self_p;
    if (self) {
        fm_proc_stop (self, 2000);
        s_procs [self->slot] = NULL;
        free (self->name);
        zstr_free (&self->log);
        free (self);
        *self_p = NULL;
    }
}


//  --------------------------------------------------------------------------
//  A free TCP port on 127.0.0.1.  A plain socket, not a zsock: its close is
//  synchronous, so the port is free when we return (a zsock's listener is
//  closed later by the I/O thread).

int
fm_proc_free_port (void)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in addr;
    memset (&addr, 0, sizeof (addr));
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof (addr);
    int port = -1;
    if (bind (fd, (struct sockaddr *) &addr, sizeof (addr)) == 0
    &&  getsockname (fd, (struct sockaddr *) &addr, &len) == 0)
        port = ntohs (addr.sin_port);
    close (fd);
    return port;
}


//  --------------------------------------------------------------------------
//  Write a config from a fixture plus overrides.

//  The config of fixture with the NULL-terminated pairs of set (may be
//  NULL), then those of args, written as "<name>.cfg".  Returns the path
//  (caller owns), or NULL (logged).
static char *
s_config_write (const char *name, const char *fixture, const char **set,
                va_list args)
{
    zconfig_t *root = fixture? zconfig_load (fixture): zconfig_new ("root", NULL);
    if (!root) {
        zsys_error ("fm_proc: cannot load fixture %s", fixture);
        return NULL;
    }
    for (; set && *set; set += 2) {
        assert (set [1]);
        zconfig_put (root, set [0], set [1]);
    }
    const char *path = va_arg (args, const char *);
    while (path) {
        const char *value = va_arg (args, const char *);
        assert (value);
        zconfig_put (root, path, value);
        path = va_arg (args, const char *);
    }
    char *file = fm_proc_tmp_path ("%s.cfg", name);
    if (zconfig_save (root, file)) {
        zsys_error ("fm_proc: cannot write %s", file);
        zstr_free (&file);
    }
    zconfig_destroy (&root);
    return file;
}

char *
fm_proc_config (const char *name, const char *fixture, ...)
{
    va_list args;
    va_start (args, fixture);
    char *file = s_config_write (name, fixture, NULL, args);
    va_end (args);
    return file;
}


//  --------------------------------------------------------------------------
//  True if every tracked process still runs.

bool
fm_proc_all_running (void)
{
    for (int i = 0; i < MAX_PROCS; i++) {
        fm_proc_t *proc = s_procs [i];
        if (proc && proc->pid && !fm_proc_running (proc)) {
            //  Its log is shown by fm_proc_fail, which the caller runs
            zsys_error ("fm_proc: %s exited unexpectedly with code %d",
                        proc->name, proc->status);
            return false;
        }
    }
    return true;
}


//  --------------------------------------------------------------------------
//  Poll a condition with a deadline.

bool
fm_proc_wait_until (fm_proc_cond_fn *cond, void *arg,
                    int timeout_ms, int interval_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (true) {
        if (!fm_proc_all_running ())
            return false;
        if (cond (arg))
            return true;
        if (zclock_mono () >= deadline)
            return false;
        zclock_sleep (interval_ms);
    }
}


//  --------------------------------------------------------------------------
//  Fail the test now.

void
fm_proc_fail (const char *file, int line, const char *cond,
              const char *format, ...)
{
    va_list args;
    va_start (args, format);
    fprintf (stderr, "\nFAIL %s:%d: (%s) ", file, line, cond);
    vfprintf (stderr, format, args);
    fprintf (stderr, "\n");
    va_end (args);
    //  Let the processes say what they saw, then stop them hard: a failed
    //  test has nothing to wait for
    for (int i = 0; i < MAX_PROCS; i++)
        if (s_procs [i]) {
            fm_proc_running (s_procs [i]);
            fm_proc_dump_log (s_procs [i], LOG_TAIL);
        }
    s_kill_all_now ();
    fprintf (stderr, "fm_proc: logs kept in %s\n", s_tmp_dir);
    fflush (stderr);
    fflush (stdout);
    //  _exit: czmq's atexit shutdown would wait on sockets still open
    _exit (1);
}


//  --------------------------------------------------------------------------
//  One integer from a log being written.

sqlite3 *
fm_proc_db_open (const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close (db);
        return NULL;
    }
    sqlite3_busy_timeout (db, 2000);
    return db;
}

int64_t
fm_proc_db_int (const char *path, const char *sql, ...)
{
    sqlite3 *db = fm_proc_db_open (path);
    int64_t value = -1;
    if (db) {
        sqlite3_stmt *stmt = NULL;
        if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) == SQLITE_OK) {
            va_list args;
            va_start (args, sql);
            const char *text;
            int index = 1;
            while ((text = va_arg (args, const char *)))
                sqlite3_bind_text (stmt, index++, text, -1, SQLITE_TRANSIENT);
            va_end (args);
            if (sqlite3_step (stmt) == SQLITE_ROW)
                value = sqlite3_column_int64 (stmt, 0);
        }
        sqlite3_finalize (stmt);
    }
    sqlite3_close (db);
    return value;
}

typedef struct {
    const char *path;
    const char *sql;
    const char *text;
    int64_t at_least;
} s_db_wait_t;

static bool
s_db_reached (void *arg)
{
    s_db_wait_t *wait = (s_db_wait_t *) arg;
    return fm_proc_db_int (wait->path, wait->sql, wait->text, NULL) >= wait->at_least;
}

void
fm_proc_db_wait (const char *path, const char *sql, const char *text, int64_t at_least,
                 int timeout_ms)
{
    s_db_wait_t wait = { path, sql, text, at_least };
    FM_CHECK (fm_proc_wait_until (s_db_reached, &wait, timeout_ms, 50),
              "log %s: %s (?1 = %s) is %" PRId64 " after %d ms, want at least %" PRId64,
              path, sql, text? text: "-", fm_proc_db_int (path, sql, text, NULL),
              timeout_ms, at_least);
}


//  --------------------------------------------------------------------------
//  One malformed request, one ERROR, one input.rejected event.

void
fm_proc_probe (zsock_t *dealer)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "");
    zmsg_addstr (msg, FM_MDPC);
    zmsg_addstr (msg, FM_SERVICE_REQUEST);
    byte garbage [] = { 0xc1, 0x00 };   //  0xc1 is never valid msgpack
    zmsg_addmem (msg, garbage, sizeof (garbage));
    FM_CHECK (zmsg_send (&msg, dealer) == 0, "probe send");
    zmsg_t *reply = zmsg_recv (dealer);
    FM_CHECK (reply, "no ERROR to a malformed request");
    zmsg_destroy (&reply);
}


//  --------------------------------------------------------------------------
//  The system under test.

fm_proc_system_t *
fm_proc_system_new (int start_ms)
{
    fm_proc_system_t *self = (fm_proc_system_t *) zmalloc (sizeof (fm_proc_system_t));
    assert (self);
    int router_port = fm_proc_free_port ();
    int events_port = fm_proc_free_port ();
    FM_CHECK (router_port > 0 && events_port > 0 && router_port != events_port,
              "no two free ports (%d, %d)", router_port, events_port);
    snprintf (self->router, sizeof (self->router), "tcp://127.0.0.1:%d", router_port);
    snprintf (self->events, sizeof (self->events), "tcp://127.0.0.1:%d", events_port);
    self->start_ms = start_ms;
    self->banks = zlist_new ();
    self->configs = zlist_new ();
    zlist_autofree (self->configs);
    assert (self->banks && self->configs);
    return self;
}

void
fm_proc_system_host (fm_proc_system_t *self, const char *host)
{
    assert (self);
    assert (host);
    assert (!self->client && !self->broker);
    int router_port = atoi (strrchr (self->router, ':') + 1);
    int events_port = atoi (strrchr (self->events, ':') + 1);
    snprintf (self->router, sizeof (self->router), "tcp://%s:%d", host, router_port);
    snprintf (self->events, sizeof (self->events), "tcp://%s:%d", host, events_port);
}

void
fm_proc_system_destroy (fm_proc_system_t **self_p)
{
    assert (self_p);
    fm_proc_system_t *self = *self_p;
    if (!self)
        return;
    //  Workers first, the broker last: nobody logs a lost broker
    fm_proc_t *bank = (fm_proc_t *) zlist_pop (self->banks);
    while (bank) {
        fm_proc_stop (bank, 5000);
        fm_proc_destroy (&bank);
        bank = (fm_proc_t *) zlist_pop (self->banks);
    }
    zlist_destroy (&self->banks);
    fm_proc_t **procs [] = { &self->gov, &self->recorder, &self->broker };
    for (size_t index = 0; index < sizeof (procs) / sizeof (procs [0]); index++)
        if (*procs [index]) {
            fm_proc_stop (*procs [index], 5000);
            fm_proc_destroy (procs [index]);
        }
    fm_client_destroy (&self->client);
    zlist_destroy (&self->configs);
    zstr_free (&self->db);
    zstr_free (&self->broker_cfg);
    zstr_free (&self->recorder_cfg);
    free (self);
    *self_p = NULL;
}

//  Start binary with "-c config" then args (NULL: --insecure)
static fm_proc_t *
s_system_start (const char *name, const char *binary, const char *config,
                const char **args)
{
    FM_CHECK (config, "cannot write the config of %s", name);
    const char *argv [16] = { "-c", config, "--insecure", NULL };
    for (size_t index = 0; args && args [index]; index++) {
        FM_CHECK (index + 3 < 16, "too many arguments for %s", name);
        argv [index + 2] = args [index];
        argv [index + 3] = NULL;
    }
    fm_proc_t *proc = fm_proc_start (name, binary, argv);
    FM_CHECK (proc, "cannot start %s -c %s", binary, config);
    return proc;
}

fm_proc_t *
fm_proc_system_broker (fm_proc_system_t *self, const char **args, ...)
{
    assert (self);
    assert (!self->broker);
    const char *set [] = { "broker/endpoint", self->router,
                           "broker/events", self->events, NULL };
    va_list pairs;
    va_start (pairs, args);
    self->broker_cfg = s_config_write ("broker", NULL, set, pairs);
    va_end (pairs);
    self->broker = s_system_start ("broker", "finmatch-broker", self->broker_cfg, args);
    return self->broker;
}

fm_proc_t *
fm_proc_system_recorder (fm_proc_system_t *self, const char **args, ...)
{
    assert (self);
    assert (!self->recorder);
    if (!self->db)
        self->db = fm_proc_tmp_path ("events.db");
    const char *set [] = { "recorder/events", self->events,
                           "recorder/broker", self->router,
                           "recorder/db", self->db, NULL };
    va_list pairs;
    va_start (pairs, args);
    self->recorder_cfg = s_config_write ("recorder", NULL, set, pairs);
    va_end (pairs);
    self->recorder = s_system_start ("recorder", "finmatch-recorder",
                                     self->recorder_cfg, args);
    return self->recorder;
}

fm_proc_t *
fm_proc_system_gov (fm_proc_system_t *self, const char *fixture,
                    const char **args, ...)
{
    assert (self);
    assert (!self->gov);
    char *path = fm_proc_source_path ("%s", fixture);
    const char *set [] = { "gov/endpoint", self->router, NULL };
    va_list pairs;
    va_start (pairs, args);
    char *config = s_config_write ("gov", path, set, pairs);
    va_end (pairs);
    zstr_free (&path);
    self->gov = s_system_start ("gov", "finmatch-gov", config, args);
    zlist_append (self->configs, config);
    zstr_free (&config);
    return self->gov;
}

fm_proc_t *
fm_proc_system_bank (fm_proc_system_t *self, const char *name,
                     const char *fixture, const char **args, ...)
{
    assert (self);
    const char *set [] = { "bank/endpoint", self->router, NULL };
    va_list pairs;
    va_start (pairs, args);
    char *config = s_config_write (name, fixture, set, pairs);
    va_end (pairs);
    fm_proc_t *bank = s_system_start (name, "finmatch-bank", config, args);
    zlist_append (self->banks, bank);
    zlist_append (self->configs, config);
    zstr_free (&config);
    return bank;
}

typedef struct {
    fm_client_t *client;
    const char *service;
} s_mmi_t;

static bool
s_mmi_up (void *arg)
{
    s_mmi_t *mmi = (s_mmi_t *) arg;
    return fm_client_mmi (mmi->client, mmi->service, 1000) == 200;
}

void
fm_proc_system_wait_service (fm_proc_system_t *self, const char *service)
{
    assert (self);
    if (!self->client) {
        self->client = fm_client_new (self->router);
        FM_CHECK (self->client, "fm_client_new %s", self->router);
    }
    s_mmi_t mmi = { self->client, service };
    FM_CHECK (fm_proc_wait_until (s_mmi_up, &mmi, self->start_ms, 50),
              "mmi.service %s is not 200 within %d ms", service, self->start_ms);
}

typedef struct {
    zsock_t *dealer;
    const char *db;
    int sent;
} s_probe_t;

static bool
s_probe_logged (void *arg)
{
    s_probe_t *probe = (s_probe_t *) arg;
    fm_proc_probe (probe->dealer);
    probe->sent++;
    return fm_proc_db_int (probe->db, "SELECT COUNT(*) FROM events"
                                      " WHERE type = 'input.rejected'", NULL) > 0;
}

int
fm_proc_system_wait_recorder (fm_proc_system_t *self, zsock_t *dealer)
{
    assert (self);
    assert (self->db);
    zsock_t *own = NULL;
    if (!dealer) {
        own = zsock_new_dealer (self->router);
        FM_CHECK (own, "probe socket");
        zsock_set_rcvtimeo (own, self->start_ms);
        dealer = own;
    }
    s_probe_t probe = { dealer, self->db, 0 };
    FM_CHECK (fm_proc_wait_until (s_probe_logged, &probe, self->start_ms, 100),
              "no input.rejected event in %s after %d probes", self->db, probe.sent);
    zsock_destroy (&own);
    return probe.sent;
}
