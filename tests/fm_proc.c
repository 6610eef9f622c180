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

char *
fm_proc_config (const char *name, const char *fixture, ...)
{
    zconfig_t *root = fixture? zconfig_load (fixture): zconfig_new ("root", NULL);
    if (!root) {
        zsys_error ("fm_proc: cannot load fixture %s", fixture);
        return NULL;
    }
    va_list args;
    va_start (args, fixture);
    const char *path = va_arg (args, const char *);
    while (path) {
        const char *value = va_arg (args, const char *);
        assert (value);
        zconfig_put (root, path, value);
        path = va_arg (args, const char *);
    }
    va_end (args);
    char *file = fm_proc_tmp_path ("%s.cfg", name);
    if (zconfig_save (root, file)) {
        zsys_error ("fm_proc: cannot write %s", file);
        zstr_free (&file);
    }
    zconfig_destroy (&root);
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
