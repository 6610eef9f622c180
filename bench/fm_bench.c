/*  =========================================================================
    fm-bench - the finmatch benchmark: the real system against raw ZeroMQ

    Starts the real system as separate processes on loopback (the shipped
    finmatch-broker, -recorder, -gov, and every bank in deploy/banks/, W
    worker processes each), recording every event to a temp SQLite log,
    and in the same run measures a raw libzmq DEALER<->ROUTER echo (200-byte
    messages, 100 in flight, echo server in a thread; the best of three
    rounds).  Then:
      1. latency: requests one at a time (1 in flight): p50/p99/p999;
      2. throughput: N requests from C client connections (fm_client) with
         K requests in flight in total: requests/s, p50/p99/p999;
      3. the log: after the last reply, a probe makes the broker publish
         one more event; its seq is the broker's last seq.  We wait until
         the recorder has that seq in the DB and report how long after the
         load stopped that was, and how many events of the epoch are
         missing from the DB (lost = last seq - rows; must be 0).
      4. peak RSS (VmHWM) of every process; with --million, RSS at 100k and
         at 1M requests.
    Prints one result table (and checks the issue 7 targets).

    Every request is distinct (own idempotency key), so every one is fully
    matched: gov profile, 5 bank answers, ranking, ~9 events logged.

    This is a measuring tool, not a test: it asserts nothing about speed.
    --smoke runs a few hundred requests and exits non-zero if any reply is
    wrong or any event is lost (the ctest `bench_smoke`).

    Process spawning and cleanup use tests/fm_proc (compiled in).
    =========================================================================
*/

#include <czmq.h>
#include <getopt.h>
#include <sqlite3.h>
#include "fm_proto.h"
#include "fm_client.h"
#include "fm_cpu.h"
#include "fm_text.h"
#include "fm_ids.h"
#include "fm_mdp.h"
#include "fm_proc.h"

#define ECHO_SIZE           200     //  bytes per echo message (issue 7)
#define ECHO_INFLIGHT       100     //  echo messages in flight (issue 7)
//  Echo rounds, the best one counts: the ratio divides by the echo, so an
//  echo slowed by the hypervisor (steal) or a neighbour made our ratio
//  look better (one run with 9 % steal: 198,720 round trips/s, ratio
//  0.0265 "ok", where a quiet echo does 520,000-850,000)
#define ECHO_ROUNDS         3
#define STRINGIFY_(x)       #x
#define STRINGIFY(x)        STRINGIFY_(x)
#define START_MS            20000   //  bound for the system to come up
#define REPLY_MS            10000   //  bound for any single reply
#define LOG_WAIT_MS         60000   //  bound for the log to be complete
#define MAX_ENTERPRISES     1024
#define MAX_BANKS           64      //  deploy/banks holds 33 institutions
//  Issue 7 measures "5 banks + gov": the two pilot banks and three others
#define DEFAULT_BANKS       "cqrcb,bcq,ccbjb,icbcjb,abcjb"
#define MAX_SYSTEM_PROCS    (MAX_BANKS + 8)    //  banks' workers, gov, broker, recorder
#define MAX_CLIENTS         64

typedef struct {
    int64_t requests;               //  throughput phase
    int inflight;                   //  throughput phase, total
    int clients;                    //  client connections
    int workers;                    //  processes per bank
    const char *banks;              //  comma list of deploy/banks/<name>.cfg,
                                    //  or "all"
    int64_t latency_requests;       //  1-in-flight phase
    int64_t echo_messages;          //  raw echo round trips
    int capacity;                   //  bank/gov capacity (READY), 0: config
    bool million;
    bool smoke;
    bool keep;                      //  keep the temp dir
    const char *source;             //  repo root (deploy/ is read)
} options_t;

//  The system under test
typedef struct {
    fm_proc_t *procs [MAX_SYSTEM_PROCS];  //  banks, gov, broker, recorder
    int proc_count;
    char router [64];
    char events [64];
    char *db_path;                  //  owned
    char banks [MAX_BANKS][FM_CODE_SIZE];
    int bank_count;
    char ents [MAX_ENTERPRISES][FM_ENTERPRISE_ID_SIZE];
    int ent_count;
    zsock_t *probe;                 //  raw DEALER for probes, owned
    zsock_t *sub;                   //  SUB "input.rejected.", owned
    sqlite3 *db;                    //  read connection, owned
    uint64_t epoch;                 //  broker epoch, from the first probe
} system_t;

//  One load phase's figures
typedef struct {
    int64_t done;
    int64_t errors;                 //  not RESULT 200, or timed-out banks
    int64_t offers;
    double seconds;
    double rate;                    //  requests/s
    int64_t p50_us, p99_us, p999_us, max_us;
} load_t;


//  --------------------------------------------------------------------------
//  Small helpers

static int
s_cmp_i64 (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y? -1: x > y;
}

static int64_t
s_percentile (int64_t *sorted, int64_t count, double p)
{
    if (count == 0)
        return 0;
    int64_t index = (int64_t) (p * (double) count);
    if (index >= count)
        index = count - 1;
    return sorted [index];
}

//  Monotonic µs
static int64_t
s_now_us (void)
{
    return zclock_usecs ();
}

//  A /proc/PID/status field in kB ("VmHWM", "VmRSS"), or -1.
static long
s_proc_kb (pid_t pid, const char *field)
{
    char path [64];
    snprintf (path, sizeof path, "/proc/%d/status", (int) pid);
    FILE *file = fopen (path, "r");
    if (!file)
        return -1;
    char line [256];
    long value = -1;
    size_t length = strlen (field);
    while (fgets (line, sizeof line, file))
        if (strncmp (line, field, length) == 0 && line [length] == ':') {
            value = atol (line + length + 1);
            break;
        }
    fclose (file);
    return value;
}


//  "idle % / steal %" between two readings of the machine's CPU ticks
//  (fm_cpu_ticks; all zero without /proc/stat: "?").  A virtual machine
//  whose host is busy loses CPU to steal and the figures of that run with
//  it (steal 4-28 % moved p50 at 1 in flight from 0.7 to 1.4 ms here), so
//  the table shows it.
static void
s_machine_share (fm_cpu_ticks_t from, fm_cpu_ticks_t to, char *text, size_t size)
{
    long long total = (long long) (to.total - from.total);
    if (total <= 0)
        snprintf (text, size, "?");
    else
        snprintf (text, size, "%.0f / %.0f",
                  100.0 * (double) (long long) (to.idle - from.idle) / (double) total,
                  100.0 * (double) (long long) (to.steal - from.steal) / (double) total);
}


//  --------------------------------------------------------------------------
//  Raw libzmq echo: ROUTER in a thread echoes whatever a DEALER sends.

static void
s_echo_actor (zsock_t *pipe, void *args)
{
    (void) args;
    void *ctx = zmq_ctx_new ();
    void *router = zmq_socket (ctx, ZMQ_ROUTER);
    int hwm = 0;
    zmq_setsockopt (router, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt (router, ZMQ_RCVHWM, &hwm, sizeof hwm);
    int rc = zmq_bind (router, "tcp://127.0.0.1:*");
    assert (rc == 0);
    char endpoint [256];
    size_t size = sizeof endpoint;
    zmq_getsockopt (router, ZMQ_LAST_ENDPOINT, endpoint, &size);
    zsock_signal (pipe, 0);
    zstr_send (pipe, endpoint);

    zmq_pollitem_t items [] = {
        { zsock_resolve (pipe), 0, ZMQ_POLLIN, 0 },
        { router, 0, ZMQ_POLLIN, 0 }
    };
    zmq_msg_t identity, body;
    zmq_msg_init (&identity);
    zmq_msg_init (&body);
    while (true) {
        if (zmq_poll (items, 2, -1) < 0)
            break;
        if (items [0].revents & ZMQ_POLLIN)
            break;                  //  $TERM
        //  Echo everything readable now, then poll again
        while (zmq_msg_recv (&identity, router, ZMQ_DONTWAIT) >= 0) {
            if (zmq_msg_recv (&body, router, 0) < 0)
                break;
            zmq_msg_send (&identity, router, ZMQ_SNDMORE);
            zmq_msg_send (&body, router, 0);
        }
    }
    zmq_msg_close (&identity);
    zmq_msg_close (&body);
    zmq_close (router);
    zmq_ctx_term (ctx);
}

//  Run count round trips with ECHO_INFLIGHT in flight.  Returns round
//  trips per second.
static double
s_echo_run (int64_t count)
{
    zactor_t *echo = zactor_new (s_echo_actor, NULL);
    assert (echo);
    char *endpoint = zstr_recv (echo);
    assert (endpoint);
    void *ctx = zmq_ctx_new ();
    void *dealer = zmq_socket (ctx, ZMQ_DEALER);
    int rc = zmq_connect (dealer, endpoint);
    assert (rc == 0);
    char payload [ECHO_SIZE];
    memset (payload, 'x', sizeof payload);
    char buffer [ECHO_SIZE * 2];

    //  Warm up the connection with one round trip
    zmq_send (dealer, payload, ECHO_SIZE, 0);
    zmq_recv (dealer, buffer, sizeof buffer, 0);

    int64_t start = s_now_us ();
    int64_t sent = 0, received = 0;
    while (received < count) {
        while (sent < count && sent - received < ECHO_INFLIGHT) {
            zmq_send (dealer, payload, ECHO_SIZE, 0);
            sent++;
        }
        int size = zmq_recv (dealer, buffer, sizeof buffer, 0);
        assert (size == ECHO_SIZE);
        received++;
    }
    double seconds = (double) (s_now_us () - start) / 1e6;
    zmq_close (dealer);
    zmq_ctx_term (ctx);
    zactor_destroy (&echo);
    zstr_free (&endpoint);
    return (double) count / seconds;
}


//  --------------------------------------------------------------------------
//  System start and probes

static fm_proc_t *
s_start (system_t *sys, const char *name, const char *binary, const char **args)
{
    assert (sys->proc_count < MAX_SYSTEM_PROCS);
    fm_proc_t *proc = fm_proc_start (name, binary, args);
    FM_CHECK (proc, "cannot start %s", binary);
    sys->procs [sys->proc_count++] = proc;
    return proc;
}

//  Send one malformed body to fm.request: the broker answers ERROR 400 and
//  publishes input.rejected.  Returns that event's seq (the broker's last
//  seq at that moment), or 0 if it did not arrive within timeout_ms.
static uint64_t
s_probe (system_t *sys, int timeout_ms)
{
    //  Drop events of earlier probes
    zsock_set_rcvtimeo (sys->sub, 0);
    fm_event_t event;
    fm_error_t err;
    while (zsock_events (sys->sub) & ZMQ_POLLIN)
        fm_events_recv (sys->sub, &event, &err);
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "");
    zmsg_addstr (msg, FM_MDPC);
    zmsg_addstr (msg, FM_SERVICE_REQUEST);
    byte garbage [] = { 0xc1, 0x00 };     //  0xc1 is never valid msgpack
    zmsg_addmem (msg, garbage, sizeof garbage);
    FM_CHECK (zmsg_send (&msg, sys->probe) == 0, "probe send");
    zsock_set_rcvtimeo (sys->probe, timeout_ms);
    zmsg_t *reply = zmsg_recv (sys->probe);
    FM_CHECK (reply, "no reply to a probe within %d ms", timeout_ms);
    zmsg_destroy (&reply);
    //  The reply proves the event was published; it may still miss a SUB
    //  that is not connected yet, so don't wait long for it
    zsock_set_rcvtimeo (sys->sub, timeout_ms < 500? timeout_ms: 500);
    if (fm_events_recv (sys->sub, &event, &err) != 0)
        return 0;
    FM_CHECK (event.type == FM_EV_INPUT_REJECTED, "probe: event %s",
              fm_event_type_name (event.type));
    if (sys->epoch == 0)
        sys->epoch = event.epoch;
    FM_CHECK (event.epoch == sys->epoch, "broker restarted (epoch changed)");
    return event.seq;
}

//  An integer query on the read connection, or -1
static int64_t
s_db_int (system_t *sys, const char *sql)
{
    if (!sys->db
    &&  sqlite3_open_v2 (sys->db_path, &sys->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        sqlite3_close (sys->db);
        sys->db = NULL;
        return -1;
    }
    sqlite3_busy_timeout (sys->db, 1000);
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (sys->db, sql, -1, &stmt, NULL) != SQLITE_OK)
        return -1;              //  table not created yet
    sqlite3_bind_int64 (stmt, 1, (sqlite3_int64) sys->epoch);
    int64_t value = -1;
    if (sqlite3_step (stmt) == SQLITE_ROW)
        value = sqlite3_column_type (stmt, 0) == SQLITE_NULL? 0:
                sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);
    return value;
}

//  Highest seq of the epoch in the log.  Cheap: the rowid is made of
//  (epoch, seq) (fm_store.h, schema 3), so the epoch's highest id holds
//  its highest seq, and the run's epoch is the newest, found first by a
//  reverse rowid scan (MAX(seq) WHERE epoch = ? would scan the table)
static int64_t
s_db_max_seq (system_t *sys)
{
    return s_db_int (sys, "SELECT seq FROM events WHERE epoch = ?"
                          " ORDER BY id DESC LIMIT 1");
}

//  True once the log holds the event of an earlier probe; else probes
//  again (the first probes may go before the recorder's SUB is connected)
static bool
s_recorder_up (void *arg)
{
    system_t *sys = (system_t *) arg;
    static uint64_t probed = 0;
    if (probed && s_db_max_seq (sys) >= (int64_t) probed)
        return true;
    uint64_t seq = s_probe (sys, REPLY_MS);     //  a loaded machine may take a while
    if (seq)
        probed = seq;
    return false;
}

typedef struct {
    system_t *sys;
    int64_t want;
} ready_t;

//  A worker may register more than once, from a new socket (a bank
//  re-announces its towns), so neither worker.ready events nor distinct
//  peers prove that every service is up: require every service (gov.credit
//  and each bank) and then enough distinct workers
#define WORKERS_READY_SQL "SELECT COUNT(DISTINCT service || ' ' || peer) FROM events" \
                          " WHERE epoch = ? AND type = 'worker.ready'"
#define SERVICES_READY_SQL "SELECT COUNT(DISTINCT service) FROM events" \
                           " WHERE epoch = ? AND type = 'worker.ready'"

static bool
s_workers_up (void *arg)
{
    ready_t *ready = (ready_t *) arg;
    return s_db_int (ready->sys, SERVICES_READY_SQL) >= 1 + (int64_t) ready->sys->bank_count
        && s_db_int (ready->sys, WORKERS_READY_SQL) >= ready->want;
}

//  True if path is a bank config (*.cfg) named in the comma list banks,
//  or banks is "all".  "cqrcb,bcq" selects .../cqrcb.cfg and .../bcq.cfg.
static bool
s_bank_selected (const char *banks, const char *path)
{
    size_t length = strlen (path);
    if (length <= 4 || !streq (path + length - 4, ".cfg"))
        return false;
    if (streq (banks, "all"))
        return true;
    const char *slash = strrchr (path, '/');
    const char *name = slash? slash + 1: path;
    char stem [256];                //  "cqrcb" of ".../cqrcb.cfg"
    snprintf (stem, sizeof stem, "%.*s", (int) (path + length - 4 - name), name);
    return fm_list_has (banks, stem);
}

static void
s_load_enterprises (system_t *sys, const char *path)
{
    FILE *file = fopen (path, "r");
    FM_CHECK (file, "cannot open %s", path);
    char line [1024];
    FM_CHECK (fgets (line, sizeof line, file), "empty %s", path);
    while (fgets (line, sizeof line, file) && sys->ent_count < MAX_ENTERPRISES) {
        char *comma = strchr (line, ',');
        if (!comma || comma - line != 18)
            continue;
        *comma = 0;
        //  Exactly 18 characters and a NUL: checked above
        if (fm_credit_code_valid (line))
            memcpy (sys->ents [sys->ent_count++], line, 19);
    }
    fclose (file);
    FM_CHECK (sys->ent_count > 0, "no enterprise in %s", path);
}

static void
s_system_start (system_t *sys, const options_t *opts)
{
    int router_port = fm_proc_free_port ();
    int events_port = fm_proc_free_port ();
    FM_CHECK (router_port > 0 && events_port > 0 && router_port != events_port, "ports");
    snprintf (sys->router, sizeof sys->router, "tcp://127.0.0.1:%d", router_port);
    snprintf (sys->events, sizeof sys->events, "tcp://127.0.0.1:%d", events_port);
    char *registry = zsys_sprintf ("%s/deploy/data/enterprises.csv", opts->source);
    s_load_enterprises (sys, registry);
    zstr_free (&registry);

    //  Broker: max_inflight above any window we drive
    const char *broker_args [] = {
        "--endpoint", sys->router, "--events", sys->events,
        "--max-inflight", "100000", "--insecure", NULL
    };
    s_start (sys, "broker", "finmatch-broker", broker_args);
    sys->probe = zsock_new_dealer (sys->router);
    FM_CHECK (sys->probe, "probe socket");
    sys->sub = fm_events_subscribe (sys->events, "input.rejected.");
    FM_CHECK (sys->sub, "event socket");

    //  Recorder, subscribed before any worker exists (probe until its log
    //  holds the probe's event)
    sys->db_path = fm_proc_tmp_path ("events.db");
    //  --broker: the recorder asks the broker for events it missed (those
    //  published before its subscription took), so the log starts at seq 1
    const char *recorder_args [] = { "--events", sys->events, "--db", sys->db_path,
                                     "--broker", sys->router, "--insecure", NULL };
    s_start (sys, "recorder", "finmatch-recorder", recorder_args);
    FM_CHECK (fm_proc_wait_until (s_recorder_up, sys, START_MS, 50),
              "the recorder did not log a probe event within %d ms", START_MS);

    //  Gov and banks
    char capacity [16];
    snprintf (capacity, sizeof capacity, "%d", opts->capacity);
    char *gov_cfg = zsys_sprintf ("%s/deploy/gov.cfg", opts->source);
    const char *gov_args [] = { "-c", gov_cfg, "--endpoint", sys->router, "--insecure",
                                opts->capacity? "--capacity": NULL, capacity, NULL };
    s_start (sys, "gov", "finmatch-gov", gov_args);
    zstr_free (&gov_cfg);
    char *bank_dir = zsys_sprintf ("%s/deploy/banks", opts->source);
    zdir_t *dir = zdir_new (bank_dir, NULL);
    FM_CHECK (dir, "cannot read %s", bank_dir);
    zlist_t *files = zdir_list (dir);
    zlist_sort (files, NULL);
    zfile_t *file = (zfile_t *) zlist_first (files);
    //  zdir_list order is the directory's; sort by name for stable output
    zlistx_t *paths = zlistx_new ();
    zlistx_set_destructor (paths, (czmq_destructor *) zstr_free);
    zlistx_set_duplicator (paths, (czmq_duplicator *) strdup);
    zlistx_set_comparator (paths, (czmq_comparator *) strcmp);
    for (; file; file = (zfile_t *) zlist_next (files))
        if (s_bank_selected (opts->banks, zfile_filename (file, NULL)))
            zlistx_add_end (paths, (void *) zfile_filename (file, NULL));
    zlistx_sort (paths);
    zlist_destroy (&files);
    zdir_destroy (&dir);
    zstr_free (&bank_dir);
    for (const char *path = (const char *) zlistx_first (paths); path;
         path = (const char *) zlistx_next (paths)) {
        FM_CHECK (sys->bank_count < MAX_BANKS, "too many banks");
        zconfig_t *cfg = zconfig_load (path);
        FM_CHECK (cfg, "cannot load %s", path);
        const char *code = zconfig_get (cfg, "bank/code", "");
        FM_CHECK (*code, "%s: no bank/code", path);
        snprintf (sys->banks [sys->bank_count++], FM_CODE_SIZE, "%s", code);
        for (int w = 0; w < opts->workers; w++) {
            char name [64];
            snprintf (name, sizeof name, "bank-%s-%d", code, w + 1);
            const char *bank_args [] = { "-c", path, "--endpoint", sys->router,
                                         "--insecure", opts->capacity? "--capacity": NULL, capacity, NULL };
            s_start (sys, name, "finmatch-bank", bank_args);
        }
        zconfig_destroy (&cfg);
    }
    zlistx_destroy (&paths);

    //  Every worker has registered when the log holds its worker.ready
    ready_t ready = { sys, 1 + (int64_t) sys->bank_count * opts->workers };
    FM_CHECK (fm_proc_wait_until (s_workers_up, &ready, START_MS, 50),
              "%" PRId64 " of %" PRId64 " workers registered after %d ms",
              s_db_int (sys, WORKERS_READY_SQL), ready.want, START_MS);
}

static void
s_system_stop (system_t *sys)
{
    //  Workers first, the recorder last so it logs everything
    for (int i = sys->proc_count - 1; i >= 0; i--)
        if (i != 1)
            fm_proc_destroy (&sys->procs [i]);
    fm_proc_destroy (&sys->procs [1]);
    zsock_destroy (&sys->probe);
    zsock_destroy (&sys->sub);
    sqlite3_close (sys->db);
    sys->db = NULL;
    zstr_free (&sys->db_path);
}


//  --------------------------------------------------------------------------
//  Load

//  Request i of a run: distinct idempotency key, so every request is
//  matched in full; amounts, terms, collateral and kinds vary so that
//  banks both offer and decline, and the insurer and guarantor offer too.
static void
s_make_request (system_t *sys, int64_t i, fm_request_t *request, char *id)
{
    static const int64_t amounts_yuan [] = {
        200000, 500000, 1000000, 3000000, 5000000, 8000000, 20000000
    };
    static const uint16_t terms [] = { 6, 12, 24, 36, 60, 120 };
    memset (request, 0, sizeof *request);
    snprintf (request->enterprise_id, FM_ENTERPRISE_ID_SIZE, "%s",
              sys->ents [i % sys->ent_count]);
    snprintf (request->idem_key, FM_IDEM_KEY_SIZE, "bench-%" PRId64, i);
    request->amount_fen = amounts_yuan [i % 7] * 100;
    request->term_months = terms [(i / 7) % 6];
    snprintf (request->purpose, FM_TEXT_SIZE, "%s", "流动资金周转");
    request->type = (i % 11 == 0)? FM_REQ_RENEWAL: FM_REQ_NEW;
    if (request->type == FM_REQ_RENEWAL)
        snprintf (request->prior_loan_id, FM_LOAN_ID_SIZE, "CQRCB-%016" PRIx64, (uint64_t) i);
    request->collateral = (fm_collateral_t) ((i / 3) % FM_COLLATERAL_COUNT);
    request->consent = (i % 5 == 0)? FM_CONSENT_PARTY: FM_CONSENT_ALL;
    request->kinds = FM_KIND_BIT (FM_KIND_LOAN);
    if (i % 4 == 0)
        request->kinds |= FM_KIND_BIT (FM_KIND_INSURANCE) | FM_KIND_BIT (FM_KIND_GUARANTEE);
    fm_request_id_make (request->enterprise_id, request->idem_key, id);
}

//  Called when a given number of requests is done (RSS snapshots)
typedef void (progress_fn) (int64_t done, void *arg);

//  Run requests [first, first + count) with inflight in flight spread over
//  the clients.  Latencies go to latencies [0..count).  Returns the figures.
static load_t
s_load_run (system_t *sys, fm_client_t **clients, int client_count,
            int64_t first, int64_t count, int inflight, int64_t *latencies,
            progress_fn *progress, int64_t progress_every, void *progress_arg)
{
    load_t load = { 0 };
    zhashx_t *pending = zhashx_new ();      //  request id -> send µs (boxed)
    zhashx_set_destructor (pending, (czmq_destructor *) zstr_free);
    int window [MAX_CLIENTS];
    int outstanding [MAX_CLIENTS] = { 0 };
    for (int c = 0; c < client_count; c++)
        window [c] = inflight / client_count + (c < inflight % client_count);
    zpoller_t *poller = zpoller_new (NULL);
    for (int c = 0; c < client_count; c++)
        zpoller_add (poller, fm_client_sock (clients [c]));

    fm_msg_t *msg = fm_msg_new (FM_MSG_REQUEST);
    fm_error_t err;
    int64_t sent = 0;
    int64_t start = s_now_us ();
    while (load.done < count) {
        for (int c = 0; c < client_count; c++)
            while (sent < count && outstanding [c] < window [c]) {
                char id [FM_REQUEST_ID_SIZE];
                s_make_request (sys, first + sent, &msg->request, id);
                int64_t *at = (int64_t *) malloc (sizeof (int64_t));
                *at = s_now_us ();
                FM_CHECK (zhashx_insert (pending, id, at) == 0, "duplicate request id %s", id);
                FM_CHECK (fm_client_send (clients [c], FM_SERVICE_REQUEST, msg, &err) == 0,
                          "send: %d %s", err.status, err.text);
                outstanding [c]++;
                sent++;
            }
        zsock_t *which = (zsock_t *) zpoller_wait (poller, REPLY_MS);
        FM_CHECK (which, "no reply within %d ms; %" PRId64 " of %" PRId64 " done",
                  REPLY_MS, load.done, sent);
        int c = 0;
        while (fm_client_sock (clients [c]) != which)
            c++;
        //  Drain what is readable on this client
        while (zsock_events (which) & ZMQ_POLLIN) {
            const fm_msg_t *reply = fm_client_recv_reused (clients [c], 0, &err);
            FM_CHECK (reply, "bad reply: %d %s", err.status, err.text);
            int64_t *at = (int64_t *) zhashx_lookup (pending, reply->request_id);
            FM_CHECK (at, "reply %s for no request of ours (%s %d %s)", reply->request_id,
                      fm_msg_type_name (reply->type), reply->status, reply->text);
            latencies [load.done] = s_now_us () - *at;
            zhashx_delete (pending, reply->request_id);
            if (reply->type != FM_MSG_RESULT || reply->status != FM_STATUS_OK
            ||  reply->timed_out_count > 0) {
                if (load.errors < 5)
                    zsys_warning ("bench: %s: %s status %d (%s), %zu banks timed out",
                                  reply->request_id, fm_msg_type_name (reply->type),
                                  reply->status, reply->text, reply->timed_out_count);
                load.errors++;
            }
            load.offers += (int64_t) reply->offer_count;
            outstanding [c]--;
            load.done++;
            if (progress && load.done % progress_every == 0)
                progress (load.done, progress_arg);
        }
    }
    load.seconds = (double) (s_now_us () - start) / 1e6;
    load.rate = (double) load.done / load.seconds;
    fm_msg_destroy (&msg);
    zpoller_destroy (&poller);
    zhashx_destroy (&pending);
    qsort (latencies, (size_t) count, sizeof (int64_t), s_cmp_i64);
    load.p50_us = s_percentile (latencies, count, 0.50);
    load.p99_us = s_percentile (latencies, count, 0.99);
    load.p999_us = s_percentile (latencies, count, 0.999);
    load.max_us = latencies [count - 1];
    return load;
}


//  --------------------------------------------------------------------------
//  RSS snapshots

typedef struct {
    system_t *sys;
    long cpu_start [MAX_SYSTEM_PROCS + 1];            //  CPU ticks at load start
    long cpu_end [MAX_SYSTEM_PROCS + 1];
    long hwm_100k [MAX_SYSTEM_PROCS + 1];             //  per process, then the bench itself
    long hwm_end [MAX_SYSTEM_PROCS + 1];
    bool have_100k;
} rss_t;

static void
s_rss_snapshot (system_t *sys, long *into)
{
    for (int i = 0; i < sys->proc_count; i++)
        into [i] = s_proc_kb (fm_proc_pid (sys->procs [i]), "VmHWM");
    into [sys->proc_count] = s_proc_kb (getpid (), "VmHWM");
}

static void
s_cpu_snapshot (system_t *sys, long *into)
{
    for (int i = 0; i < sys->proc_count; i++)
        into [i] = fm_cpu_process_ticks (fm_proc_pid (sys->procs [i]));
    into [sys->proc_count] = fm_cpu_process_ticks (getpid ());
}

static void
s_progress (int64_t done, void *arg)
{
    rss_t *rss = (rss_t *) arg;
    if (done == 100000) {
        s_rss_snapshot (rss->sys, rss->hwm_100k);
        rss->have_100k = true;
    }
    if (done % 100000 == 0)
        zsys_info ("bench: %" PRId64 " requests done", done);
}


//  --------------------------------------------------------------------------

static void
s_usage (void)
{
    puts ("Usage: fm-bench [OPTIONS]\n"
          "\n"
          "Starts broker, recorder, gov and the chosen banks of deploy/banks (W\n"
          "processes each) on loopback, drives load, prints one result table.\n"
          "\n"
          "  -n, --requests N          requests in the throughput phase [100000]\n"
          "  -k, --inflight K          requests in flight in total [200]\n"
          "  -C, --clients C           client connections (fm_client) [4]\n"
          "  -b, --banks LIST          deploy/banks configs to run, comma list or\n"
          "                            'all' [" DEFAULT_BANKS "]\n"
          "  -w, --workers-per-bank W  finmatch-bank processes per bank [1]\n"
          "      --capacity N          gov/bank capacity announced in READY [config]\n"
          "  -l, --latency N           requests of the 1-in-flight phase [5000]\n"
          "  -e, --echo N              round trips of the raw echo [1000000]\n"
          "      --million             1,000,000 requests; RSS at 100k and 1M\n"
          "      --smoke               a few hundred requests; exit 1 on any error\n"
          "                            or lost event (ctest bench_smoke)\n"
          "      --keep                keep the temp dir (logs, events.db)\n"
          "  -h, --help                this help\n"
          "\n"
          "Environment: FM_BIN_DIR (default: this program's dir), FM_SOURCE_DIR\n"
          "(the repo root, for deploy/; default: found from FM_BIN_DIR/../..).");
}

int
main (int argc, char *argv [])
{
    options_t opts = {
        .requests = 100000, .inflight = 200, .clients = 4, .workers = 1,
        .banks = DEFAULT_BANKS,
        .latency_requests = 5000, .echo_messages = 1000000
    };
    static struct option long_options [] = {
        { "requests", required_argument, 0, 'n' },
        { "inflight", required_argument, 0, 'k' },
        { "clients", required_argument, 0, 'C' },
        { "banks", required_argument, 0, 'b' },
        { "workers-per-bank", required_argument, 0, 'w' },
        { "capacity", required_argument, 0, 'K' },
        { "latency", required_argument, 0, 'l' },
        { "echo", required_argument, 0, 'e' },
        { "million", no_argument, 0, 'M' },
        { "smoke", no_argument, 0, 'S' },
        { "keep", no_argument, 0, 'P' },
        { "help", no_argument, 0, 'h' },
        { 0, 0, 0, 0 }
    };
    int option;
    while ((option = getopt_long (argc, argv, "n:k:C:b:w:l:e:h", long_options, NULL)) != -1) {
        switch (option) {
            case 'n': opts.requests = atoll (optarg); break;
            case 'k': opts.inflight = atoi (optarg); break;
            case 'C': opts.clients = atoi (optarg); break;
            case 'b': opts.banks = optarg; break;
            case 'w': opts.workers = atoi (optarg); break;
            case 'K': opts.capacity = atoi (optarg); break;
            case 'l': opts.latency_requests = atoll (optarg); break;
            case 'e': opts.echo_messages = atoll (optarg); break;
            case 'M': opts.million = true; break;
            case 'S': opts.smoke = true; break;
            case 'P': opts.keep = true; break;
            case 'h': s_usage (); return 0;
            default:  s_usage (); return 2;
        }
    }
    if (opts.million)
        opts.requests = 1000000;
    if (opts.smoke) {
        opts.requests = 300;
        opts.inflight = opts.inflight > 50? 50: opts.inflight;
        opts.latency_requests = 50;
        opts.echo_messages = 20000;
    }
    if (opts.requests < 1 || opts.inflight < 1 || opts.clients < 1
    ||  opts.clients > MAX_CLIENTS || opts.clients > opts.inflight
    ||  opts.workers < 1 || opts.workers > 5 || opts.latency_requests < 1
    ||  opts.echo_messages < 1 || opts.capacity < 0 || opts.capacity > 1024) {
        fprintf (stderr, "fm-bench: bad option value (clients 1..%d and <= inflight,"
                 " workers-per-bank 1..5)\n", MAX_CLIENTS);
        return 2;
    }

    zsys_init ();
    zsys_set_logident ("fm-bench");
    fm_proc_setup ("bench", argv [0]);
    //  deploy/ of the source tree: FM_SOURCE_DIR, else <bin>/../.. (the
    //  build dir sits in the repo)
    char source [PATH_MAX];
    if (getenv ("FM_SOURCE_DIR") && *getenv ("FM_SOURCE_DIR"))
        snprintf (source, sizeof source, "%s", getenv ("FM_SOURCE_DIR"));
    else
        snprintf (source, sizeof source, "%s/../..", fm_proc_bin_dir ());
    opts.source = source;

    //  1. Raw libzmq echo, same machine, same run: the best of ECHO_ROUNDS
    double echo_rate = 0;
    for (int round = 1; round <= ECHO_ROUNDS; round++) {
        double rate = s_echo_run (opts.echo_messages);
        zsys_info ("bench: raw echo round %d: %" PRId64 " round trips, %.0f/s",
                   round, opts.echo_messages, rate);
        if (rate > echo_rate)
            echo_rate = rate;
    }

    //  2. The system
    system_t sys;
    memset (&sys, 0, sizeof sys);
    int64_t started = zclock_mono ();
    s_system_start (&sys, &opts);
    zsys_info ("bench: %d processes up in %" PRId64 " ms (%d banks x %d workers)",
               sys.proc_count, zclock_mono () - started, sys.bank_count, opts.workers);
    fm_client_t *clients [MAX_CLIENTS];
    for (int c = 0; c < opts.clients; c++) {
        clients [c] = fm_client_new (sys.router);
        FM_CHECK (clients [c], "fm_client_new");
    }

    //  3. Latency at 1 in flight (after a short warm-up)
    int64_t *latencies = (int64_t *) malloc (
        (size_t) (opts.requests > opts.latency_requests? opts.requests: opts.latency_requests)
        * sizeof (int64_t));
    assert (latencies);
    int64_t next = 0;
    load_t warm = s_load_run (&sys, clients, 1, next, 100, 1, latencies, NULL, 0, NULL);
    next += 100;
    fm_cpu_ticks_t single_start;
    fm_cpu_ticks (&single_start);
    load_t single = s_load_run (&sys, clients, 1, next, opts.latency_requests, 1,
                                latencies, NULL, 0, NULL);
    fm_cpu_ticks_t single_end;
    fm_cpu_ticks (&single_end);
    next += opts.latency_requests;
    zsys_info ("bench: 1 in flight: p50 %" PRId64 " us p99 %" PRId64 " us",
               single.p50_us, single.p99_us);

    //  4. Throughput
    rss_t rss = { .sys = &sys };
    uint64_t seq_before = s_probe (&sys, REPLY_MS);
    FM_CHECK (seq_before, "no probe event");
    zsys_info ("bench: %" PRId64 " requests, %d in flight over %d clients",
               opts.requests, opts.inflight, opts.clients);
    s_cpu_snapshot (&sys, rss.cpu_start);
    fm_cpu_ticks_t load_start;
    fm_cpu_ticks (&load_start);
    load_t load = s_load_run (&sys, clients, opts.clients, next, opts.requests,
                              opts.inflight, latencies, s_progress, 10000, &rss);
    int64_t load_stop = s_now_us ();
    s_cpu_snapshot (&sys, rss.cpu_end);
    fm_cpu_ticks_t load_end;
    fm_cpu_ticks (&load_end);
    next += opts.requests;

    //  5. The log: wait until it holds the broker's last seq
    uint64_t seq_last = s_probe (&sys, REPLY_MS);
    FM_CHECK (seq_last, "no probe event after the load");
    int64_t max_seq = 0;
    int64_t log_deadline = zclock_mono () + LOG_WAIT_MS;
    while ((max_seq = s_db_max_seq (&sys)) < (int64_t) seq_last
    &&     zclock_mono () < log_deadline)
        zclock_sleep (2);
    int64_t log_done = s_now_us ();
    bool complete = max_seq >= (int64_t) seq_last;
    double log_ms = (double) (log_done - load_stop) / 1000.0;
    int64_t rows = s_db_int (&sys, "SELECT COUNT(*) FROM events WHERE epoch = ?");
    int64_t gaps = s_db_int (&sys, "SELECT COUNT(*) FROM gaps WHERE epoch = ?");
    int64_t lost = (int64_t) seq_last - rows;
    int64_t phase_events = (int64_t) (seq_last - seq_before) - 1;
    double events_rate = (double) phase_events / load.seconds;

    //  6. RSS, then stop (peaks first: processes are still up)
    s_rss_snapshot (&sys, rss.hwm_end);
    int proc_count = sys.proc_count;
    char names [MAX_SYSTEM_PROCS + 1][64];
    for (int i = 0; i < proc_count; i++)
        snprintf (names [i], sizeof names [i], "%s", fm_proc_name (sys.procs [i]));
    snprintf (names [proc_count], sizeof names [proc_count], "fm-bench (clients)");
    for (int c = 0; c < opts.clients; c++)
        fm_client_destroy (&clients [c]);
    s_system_stop (&sys);
    free (latencies);
    (void) warm;

    //  7. The table
    double ratio = load.rate / echo_rate;
    bool ok_rate = load.rate >= 15000 && ratio >= 0.025;
    bool ok_latency = single.p50_us <= 500 && single.p99_us <= 1000;
    bool ok_log = lost == 0 && gaps == 0 && complete && log_ms <= 1000;
    printf ("\nfinmatch benchmark: %d banks x %d worker processes + gov, recorder, "
            "every event logged (%s)\n", sys.bank_count, opts.workers,
            "transport: plain TCP, loopback");
    printf ("%d clients, %d in flight, %" PRId64 " requests (+%" PRId64
            " at 1 in flight), %ld CPUs\n", opts.clients, opts.inflight, opts.requests,
            opts.latency_requests, sysconf (_SC_NPROCESSORS_ONLN));
    printf ("%-34s %16s   %s\n", "metric", "value", "target");
    printf ("%-34s %16s   %s\n", "----------------------------------", "----------------", "------");
    printf ("%-34s %16.0f   %s\n", "raw zmq echo (200 B, 100 in flight)", echo_rate,
            "round trips/s, best of " STRINGIFY (ECHO_ROUNDS));
    printf ("%-34s %16.0f   >= 15000 %s\n", "requests/s", load.rate, ok_rate? "ok": "MISSED");
    printf ("%-34s %16.4f   >= 0.025 %s\n", "ratio to raw echo", ratio, ratio >= 0.025? "ok": "MISSED");
    printf ("%-34s %16.3f\n", "latency p50 ms (load)", load.p50_us / 1000.0);
    printf ("%-34s %16.3f\n", "latency p99 ms (load)", load.p99_us / 1000.0);
    printf ("%-34s %16.3f\n", "latency p999 ms (load)", load.p999_us / 1000.0);
    printf ("%-34s %16.3f   <= 0.5 %s\n", "latency p50 ms (1 in flight)", single.p50_us / 1000.0,
            single.p50_us <= 500? "ok": "MISSED");
    printf ("%-34s %16.3f   <= 1 %s\n", "latency p99 ms (1 in flight)", single.p99_us / 1000.0,
            single.p99_us <= 1000? "ok": "MISSED");
    printf ("%-34s %16.3f\n", "latency p999 ms (1 in flight)", single.p999_us / 1000.0);
    printf ("%-34s %16" PRId64 "   0 %s\n", "wrong replies (not RESULT 200)", load.errors + single.errors,
            load.errors + single.errors == 0? "ok": "MISSED");
    printf ("%-34s %16.1f\n", "offers per request", (double) load.offers / (double) load.done);
    printf ("%-34s %16.0f\n", "events/s logged (load phase)", events_rate);
    printf ("%-34s %16" PRId64 "\n", "events in the log (epoch)", rows);
    printf ("%-34s %16" PRId64 "   0 %s\n", "events lost (last seq - rows)", lost, lost == 0? "ok": "MISSED");
    printf ("%-34s %16" PRId64 "   0 %s\n", "gap rows", gaps, gaps == 0? "ok": "MISSED");
    if (complete)
        printf ("%-34s %16.1f   <= 1000 %s\n", "log complete after load stop ms", log_ms,
                log_ms <= 1000? "ok": "MISSED");
    else
        printf ("%-34s %16s   <= 1000 MISSED\n", "log complete after load stop ms", "never");
    char share [64];
    s_machine_share (single_start, single_end, share, sizeof share);
    printf ("%-34s %16s\n", "machine idle/steal % (1 in flight)", share);
    s_machine_share (load_start, load_end, share, sizeof share);
    printf ("%-34s %16s\n", "machine idle/steal % (load phase)", share);
    double ticks = (double) sysconf (_SC_CLK_TCK);
    for (int i = 0; i <= proc_count; i++) {
        char label [96];
        snprintf (label, sizeof label, "CPU %% (load phase) %s", names [i]);
        double cpu = (double) (rss.cpu_end [i] - rss.cpu_start [i]) / ticks;
        printf ("%-34s %16.1f   %.1f us/request\n", label, 100.0 * cpu / load.seconds,
                1e6 * cpu / (double) load.done);
    }
    bool ok_rss = true;
    for (int i = 0; i <= proc_count; i++) {
        char label [96];
        snprintf (label, sizeof label, "peak RSS MiB %s", names [i]);
        if (rss.have_100k) {
            double growth = rss.hwm_100k [i] > 0?
                (double) rss.hwm_end [i] / (double) rss.hwm_100k [i] - 1.0: 0;
            bool ok = growth <= 0.10;
            if (i < proc_count)
                ok_rss = ok_rss && ok;
            printf ("%-34s %7.1f->%7.1f   100k->%" PRId64 "k +%.1f%% %s\n", label,
                    rss.hwm_100k [i] / 1024.0, rss.hwm_end [i] / 1024.0,
                    opts.requests / 1000, growth * 100.0,
                    i == proc_count? "(bench)": ok? "ok": "MISSED");
        }
        else
            printf ("%-34s %16.1f\n", label, rss.hwm_end [i] / 1024.0);
    }
    printf ("targets: throughput %s, latency %s, log %s%s\n",
            ok_rate? "met": "MISSED", ok_latency? "met": "MISSED", ok_log? "met": "MISSED",
            rss.have_100k? (ok_rss? ", rss met": ", rss MISSED"): "");
    fflush (stdout);

    bool passed = load.errors + single.errors == 0 && lost == 0 && gaps == 0 && complete;
    int rc = fm_proc_teardown (passed && !opts.keep);
    if (opts.keep)
        fprintf (stderr, "fm-bench: logs and events.db kept in %s\n", fm_proc_tmp_dir ());
    //  Only correctness decides the exit code; speed is reported, not asserted
    return opts.keep? (passed? 0: 1): rc;
}
