/*  =========================================================================
    test_fault - nothing lost: steady load while processes are killed -9

    Real processes on loopback: finmatch-broker, finmatch-recorder,
    finmatch-gov, and four finmatch-bank workers for three banks (two
    workers serve bank.CQRCB).  A steady load of FM_FAULT_REQUESTS requests
    (default 10000) runs over CONNECTIONS client connections, WINDOW in
    flight, paced at FM_FAULT_RATE requests/s, each request with its own
    idempotency key.  While it runs, in turn (each fault once the one
    before has been undone):
      1. kill -9 one bank.CQRCB worker (the second one stays alive),
         restart it RESTART_MS later;
      2. kill -9 the gov worker, restart it;
      3. kill -9 the recorder (mid-batch: it commits every 100 ms under
         this load), restart it;
      4. lock the SQLite log for LOCK_MS (another connection holds BEGIN
         IMMEDIATE) once the new recorder writes: its flushes fail
         (SQLITE_BUSY) and are retried with backoff;
      5. kill -9 the broker, restart it from its journal
         (`broker/journal`: acknowledged requests, results and events
         survive the kill; the epoch continues).
    A client that has no answer after TRY_MS retries lazily (Lazy Pirate):
    the SAME request, SAME idempotency key, from a fresh connection, up to
    MAX_TRIES times.  A test-side subscriber watches the event stream as an
    independent witness of what the broker published.

    What must hold at the end:
    - every idempotency key has exactly one final answer: a RESULT (offers,
      declines, banks listed as timed out) or an explicit ERROR status
      (503 no gov worker, 504 gov silent...).  Answers that arrive twice
      (the original and a retry's) must be the same answer.  A key
      without a final answer after MAX_TRIES is LOST: must be 0.
    - no bank answer published twice: across all epochs, at most one
      offer.made per (request, offer) and one decline.made per (request,
      bank) (with the journal: a resumed request does not ask again the
      banks that answered before the kill).
    - "processed twice".  A request is processed when the broker asks
      the banks and concludes it with their answers: a request.completed
      event with status 200, carrying the number of offers.  Across all
      epochs of the log (a broker restarted from its journal continues its
      epoch; without one it starts a new epoch), each request id has AT
      MOST ONE request.completed with status 200, and nothing after it: a
      retry of a concluded request is answered from the stored result
      (retained requests, the journal after a restart), never concluded
      again.  A conclusion by failure (503 no gov worker, 504...) is not
      retained by the broker, so a retry whose first try ended that way
      unseen (its client was talking to a broker that died) runs again:
      the banks were not asked the first time; allowed, counted, printed.  The LAST request.completed of each id is the
      client's answer (same status; for 200 the same offer count).  A
      request id is received (request.received) again only after a
      conclusion, or in a later epoch (a broker without a journal forgot
      it): a retry of a request in flight joins it.
    - the SQLite log holds every event of every epoch: for each epoch,
      seqs 1..max are all in `events`, no `gaps` row is left (gap rows the
      recorder wrote while it was down were filled from the broker's
      replay store), and max is at least the highest seq the witness saw.
      PRAGMA integrity_check is "ok" (kill -9 mid-transaction leaves no
      half event).
    Prints: requests sent (tries), completed by status, lost, retries,
    and per epoch the events expected (witness) vs logged vs missing.

    Environment: FM_FAULT_HOST (broker address, default 127.0.0.1) and
    FM_FAULT_HOOK (a command run with "cut" at 40 % of the load and
    "restore" LINK_MS later) for tests/netns_fault.sh; FM_FAULT_RATE
    (requests/s, default 1000: a steady load, so that each fault falls
    in the middle of it); FM_FAULT_REQUESTS (default 10000;
    integration.cmake sets 3000 at 300/s for the sanitizer build);
    FM_FAULT_BROKER=0 leaves out the broker kill (=nojournal: the kill
    without a journal, which shows what the journal prevents);
    FM_FAULT_MIN_OK (percent of answers that must be 200, default 50:
    a sanity floor; valgrind.sh lowers it); FM_BIN_DIR, FM_SOURCE_DIR.
    =========================================================================
*/

#include <czmq.h>
#include <sqlite3.h>
#include <signal.h>
#include "fm_proto.h"
#include "fm_client.h"
#include "fm_ids.h"
#include "fm_mdp.h"
#include "fm_proc.h"
#include "fm_store.h"

#define REQUESTS        10000           //  default load
#define RATE            1000            //  default load, requests/s
#define CONNECTIONS     8               //  client connections
#define WINDOW          48              //  requests in flight at once
#define DEADLINE_MS     1500            //  broker: bank answers
#define GOV_DEADLINE_MS 1000            //  broker: gov answer
#define HEARTBEAT_MS    500             //  everyone: 7/MDP heartbeat
#define LIVENESS        3
#define TRY_MS          6000            //  client: wait per try
#define MAX_TRIES       8               //  client: tries per key
#define RESTART_MS      700             //  a killed process stays dead
#define LOCK_MS         1500            //  the log stays locked (the
                                        //  recorder waits 1000 per try)
#define LINK_MS         2000            //  FM_FAULT_HOOK: a link stays cut
#define START_MS        20000           //  bound for processes to be ready
#define FILL_MS         60000           //  bound for the log to complete
#define MAX_EPOCHS      8
#define MAX_ENTS        32

//  The processes this test kills and restarts
typedef enum {
    P_BROKER, P_RECORDER, P_GOV, P_CQRCB_A, P_CQRCB_B, P_CCB, P_ICBC, P_COUNT
} proc_id_t;

static const char *s_proc_names [P_COUNT] = {
    "broker", "recorder", "gov", "bank-cqrcb-a", "bank-cqrcb-b", "bank-ccb", "bank-icbc"
};
static const char *s_proc_binaries [P_COUNT] = {
    "finmatch-broker", "finmatch-recorder", "finmatch-gov",
    "finmatch-bank", "finmatch-bank", "finmatch-bank", "finmatch-bank"
};

typedef struct {
    fm_proc_t *proc;                    //  NULL while killed
    char *config;                       //  owned
    int starts;                         //  times started
} proc_t;

static proc_t s_procs [P_COUNT];

//  One fault: kill process `which` when `at` requests have been sent
typedef struct {
    proc_id_t which;
    int at;                             //  requests sent
    int64_t killed_at;                  //  zclock_mono, 0 = not yet
    bool restarted;
} fault_t;

typedef enum { JOB_IDLE, JOB_SENT, JOB_DONE } job_state_t;

typedef struct {
    fm_request_t request;
    char request_id [FM_REQUEST_ID_SIZE];
    job_state_t state;
    int tries;
    int connection;                     //  index in s_clients, or -1
    fm_client_t *retry;                 //  owned: fresh connection of a retry
    int64_t sent_at;
    fm_msg_type_t type;                 //  final answer: RESULT or ERROR
    uint16_t status;
    size_t offers, declines, timed_out;
    int answers;                        //  answers received (>1: retries)
} job_t;

typedef struct {
    uint64_t epoch;
    uint64_t max_seq;                   //  highest seq the witness saw
    uint64_t seen;                      //  events the witness received
} epoch_t;

static fm_client_t *s_clients [CONNECTIONS];
static zpoller_t *s_poller;
static job_t *s_jobs;
static int s_job_count;
static zhashx_t *s_by_id;               //  request_id -> job (borrowed)
static char s_ents [MAX_ENTS][FM_ENTERPRISE_ID_SIZE];
static int s_ent_count;
static epoch_t s_epochs [MAX_EPOCHS];
static int s_epoch_count;
static char s_router [64];
static int s_tries_total;
static int s_retries;
static int s_duplicate_answers;
static int s_inflight;                  //  sent, no final answer yet
static int s_done;                      //  keys with their final answer


//  --------------------------------------------------------------------------
//  Processes

static void
s_start (proc_id_t which)
{
    proc_t *proc = &s_procs [which];
    assert (!proc->proc);
    char name [64];
    proc->starts++;
    if (proc->starts == 1)
        snprintf (name, sizeof (name), "%s", s_proc_names [which]);
    else
        snprintf (name, sizeof (name), "%s.%d", s_proc_names [which], proc->starts);
    const char *args [] = { "-c", proc->config, "--insecure", NULL };
    proc->proc = fm_proc_start (name, s_proc_binaries [which], args);
    FM_CHECK (proc->proc, "cannot start %s", s_proc_binaries [which]);
}

static void
s_kill (proc_id_t which)
{
    proc_t *proc = &s_procs [which];
    FM_CHECK (proc->proc && fm_proc_running (proc->proc), "%s is not running",
              s_proc_names [which]);
    FM_CHECK (kill (fm_proc_pid (proc->proc), SIGKILL) == 0, "kill %s",
              s_proc_names [which]);
    int rc = fm_proc_wait (proc->proc, 5000);
    FM_CHECK (rc == 128 + SIGKILL, "%s: exit %d after SIGKILL", s_proc_names [which], rc);
    fm_proc_destroy (&proc->proc);
}


//  --------------------------------------------------------------------------
//  SQLite log

//  A whole text file, or NULL.  Caller frees.
static char *
s_file_text (const char *path)
{
    zfile_t *file = zfile_new (NULL, path);
    char *text = NULL;
    if (file && zfile_input (file) == 0) {
        zchunk_t *chunk = zfile_read (file, zfile_cursize (file), 0);
        if (chunk)
            text = zchunk_strdup (chunk);
        zchunk_destroy (&chunk);
    }
    zfile_destroy (&file);
    return text;
}

//  Ask the broker for its head (fm.replay "0 0 0": SPEC 12.1) and count
//  it as witnessed: the witness, a SUB across the faulty links, may lag
//  behind what the broker published for the last answers, and the log
//  must hold those events too.  Tries a few times (a lost answer is a
//  new socket's problem); FM_CHECK if the broker never answers.
static void
s_witness_head (void)
{
    for (int attempt = 0; attempt < 3; attempt++) {
        zsock_t *dealer = zsock_new (ZMQ_DEALER);
        FM_CHECK (dealer && zsock_connect (dealer, "%s", s_router) == 0,
                  "connect %s", s_router);
        zsock_set_rcvtimeo (dealer, 3000);
        zstr_sendx (dealer, "", FM_MDPC, FM_SERVICE_REPLAY, "0 0 0", NULL);
        char *empty = NULL, *protocol = NULL, *service = NULL, *line = NULL;
        zstr_recvx (dealer, &empty, &protocol, &service, &line, NULL);
        unsigned status = 0;
        uint64_t epoch = 0, from = 0, to = 0, head = 0;
        bool parsed = line && sscanf (line, "%u %" SCNu64 " %" SCNu64 " %" SCNu64
                                      " %" SCNu64, &status, &epoch, &from, &to,
                                      &head) == 5;
        zstr_free (&empty);
        zstr_free (&protocol);
        zstr_free (&service);
        zstr_free (&line);
        zsock_destroy (&dealer);
        if (!parsed)
            continue;
        int index;
        for (index = 0; index < s_epoch_count; index++)
            if (s_epochs [index].epoch == epoch)
                break;
        if (index == s_epoch_count) {
            FM_CHECK (s_epoch_count < MAX_EPOCHS, "too many epochs");
            s_epochs [s_epoch_count++].epoch = epoch;
        }
        if (head > s_epochs [index].max_seq)
            s_epochs [index].max_seq = head;
        return;
    }
    FM_CHECK (false, "the broker did not tell its head (fm.replay 0 0 0)");
}

//  True when the log is complete: no gap rows, every epoch 1..max, and
//  each witnessed epoch logged at least up to what the witness saw
static bool
s_log_complete (void *arg)
{
    const char *db = (const char *) arg;
    bool complete = fm_proc_db_int (db, "SELECT COUNT(*) FROM gaps", NULL) == 0
                 && fm_proc_db_int (db, "SELECT COUNT(*) FROM (SELECT epoch FROM events"
                                    " GROUP BY epoch HAVING COUNT(*) != MAX(seq))",
                                    NULL) == 0;
    for (int index = 0; complete && index < s_epoch_count; index++) {
        char sql [128];
        snprintf (sql, sizeof (sql), "SELECT COALESCE (MAX (seq), 0) FROM events"
                  " WHERE epoch = %" PRIu64, s_epochs [index].epoch);
        complete = fm_proc_db_int (db, sql, NULL) >= (int64_t) s_epochs [index].max_seq;
    }
    return complete;
}


//  --------------------------------------------------------------------------
//  Requests

static void
s_load_enterprises (const char *path)
{
    FILE *file = fopen (path, "r");
    FM_CHECK (file, "cannot open %s", path);
    char line [512];
    FM_CHECK (fgets (line, sizeof (line), file), "empty %s", path);    //  header
    while (fgets (line, sizeof (line), file) && s_ent_count < MAX_ENTS) {
        char *comma = strchr (line, ',');
        if (!comma || comma - line != FM_ENTERPRISE_ID_SIZE - 1)
            continue;
        memcpy (s_ents [s_ent_count], line, FM_ENTERPRISE_ID_SIZE - 1);
        s_ents [s_ent_count][FM_ENTERPRISE_ID_SIZE - 1] = 0;
        s_ent_count++;
    }
    fclose (file);
    FM_CHECK (s_ent_count >= 8, "only %d enterprises in %s", s_ent_count, path);
}

//  A varied request: amounts and terms that some banks offer and some
//  decline, every consent combination
static void
s_make_job (int index, job_t *job, const char *run)
{
    static const int64_t amounts_yuan [] = {
        200000, 600000, 1000000, 3000000, 8000000, 30000000
    };
    static const int terms [] = { 6, 12, 24, 36, 60, 84 };
    memset (job, 0, sizeof (*job));
    fm_request_t *req = &job->request;
    snprintf (req->enterprise_id, sizeof (req->enterprise_id), "%s",
              s_ents [index % s_ent_count]);
    snprintf (req->idem_key, sizeof (req->idem_key), "fault-%s-%05d", run, index);
    req->amount_fen = amounts_yuan [(index / 3) % 6] * 100;
    req->term_months = (uint16_t) terms [(index / 7) % 6];
    snprintf (req->purpose, sizeof (req->purpose), "流动资金 #%d", index);
    req->collateral = (fm_collateral_t) (index % 3);
    req->consent = (uint32_t) (index % 8);
    fm_request_id_make (req->enterprise_id, req->idem_key, job->request_id);
    job->connection = index % CONNECTIONS;
}

static void
s_send (job_t *job, fm_client_t *client)
{
    fm_msg_t *msg = fm_msg_new (FM_MSG_REQUEST);
    FM_CHECK (msg, "out of memory");
    msg->request = job->request;
    fm_error_t err = { 0, "" };
    FM_CHECK (fm_client_send (client, FM_SERVICE_REQUEST, msg, &err) == 0,
              "send %s: %d %s", job->request.idem_key, err.status, err.text);
    fm_msg_destroy (&msg);
    job->state = JOB_SENT;
    job->tries++;
    job->sent_at = zclock_mono ();
    s_tries_total++;
}

//  Lazy Pirate: no answer within TRY_MS, so the same request again with
//  the same key, from a fresh connection (the old one may be attached to
//  a broker that died).  A key out of tries is lost: the test fails.
static void
s_retry (job_t *job)
{
    FM_CHECK (job->tries < MAX_TRIES, "LOST: key %s (request %s) has no answer after"
              " %d tries of %d ms", job->request.idem_key, job->request_id,
              job->tries, TRY_MS);
    if (job->retry) {
        zpoller_remove (s_poller, fm_client_sock (job->retry));
        fm_client_destroy (&job->retry);
    }
    job->retry = fm_client_new (s_router);
    FM_CHECK (job->retry, "fm_client_new %s", s_router);
    FM_CHECK (zpoller_add (s_poller, fm_client_sock (job->retry)) == 0, "zpoller_add");
    s_retries++;
    s_send (job, job->retry);
}

//  An answer: the first one is final; any later one (a retry's) must say
//  the same
static void
s_answer (fm_msg_t *msg)
{
    job_t *job = (job_t *) zhashx_lookup (s_by_id, msg->request_id);
    FM_CHECK (job, "answer for unknown request '%s' (%s %d %s)", msg->request_id,
              fm_msg_type_name (msg->type), msg->status, msg->text);
    FM_CHECK (msg->type == FM_MSG_RESULT || msg->type == FM_MSG_ERROR,
              "request %s answered with %s", msg->request_id, fm_msg_type_name (msg->type));
    job->answers++;
    if (job->state == JOB_DONE) {
        s_duplicate_answers++;
        FM_CHECK (job->type == msg->type && job->status == msg->status
               && job->offers == msg->offer_count && job->declines == msg->decline_count,
                  "key %s answered twice differently: %s %d (%zu offers) then %s %d"
                  " (%zu offers)", job->request.idem_key, fm_msg_type_name (job->type),
                  job->status, job->offers, fm_msg_type_name (msg->type),
                  msg->status, msg->offer_count);
        return;
    }
    FM_CHECK (msg->type != FM_MSG_ERROR || msg->status != FM_STATUS_CONFLICT,
              "key %s: 409 %s", job->request.idem_key, msg->text);
    job->state = JOB_DONE;
    s_inflight--;
    s_done++;
    job->type = msg->type;
    job->status = msg->status;
    job->offers = msg->offer_count;
    job->declines = msg->decline_count;
    job->timed_out = msg->timed_out_count;
}

static void
s_witness (zsock_t *sub)
{
    fm_event_t event;
    fm_error_t err = { 0, "" };
    if (fm_events_recv (sub, &event, &err))
        return;
    int index;
    for (index = 0; index < s_epoch_count; index++)
        if (s_epochs [index].epoch == event.epoch)
            break;
    if (index == s_epoch_count) {
        FM_CHECK (s_epoch_count < MAX_EPOCHS, "too many epochs");
        s_epochs [s_epoch_count++].epoch = event.epoch;
    }
    s_epochs [index].seen++;
    if (event.seq > s_epochs [index].max_seq)
        s_epochs [index].max_seq = event.seq;
}

//  Drain one ready socket
static void
s_on_socket (void *which, zsock_t *witness)
{
    if (which == witness) {
        s_witness (witness);
        return;
    }
    fm_client_t *client = NULL;
    for (int index = 0; index < CONNECTIONS && !client; index++)
        if (fm_client_sock (s_clients [index]) == which)
            client = s_clients [index];
    for (int index = 0; index < s_job_count && !client; index++)
        if (s_jobs [index].retry && fm_client_sock (s_jobs [index].retry) == which)
            client = s_jobs [index].retry;
    FM_CHECK (client, "poller returned an unknown socket");
    fm_error_t err = { 0, "" };
    fm_msg_t *msg = fm_client_recv (client, 0, &err);
    FM_CHECK (msg, "undecodable answer: %d %s", err.status, err.text);
    s_answer (msg);
    fm_msg_destroy (&msg);
}


//  --------------------------------------------------------------------------
//  Checks on the log

//  Every request id, its request.received and request.completed events
//  in log order (epoch, seq): see "processed twice" above.  Returns the
//  number of requests concluded again after a failure the client never
//  saw.
static int
s_check_processed_once (sqlite3 *db)
{
    sqlite3_stmt *stmt = NULL;
    FM_CHECK (sqlite3_prepare_v2 (db,
        "SELECT epoch, type = 'request.completed', COALESCE (status, 0),"
        " COALESCE (count, 0) FROM events WHERE " FM_STORE_OF_REQUEST ("?1")
        " AND type IN ('request.received', 'request.completed') ORDER BY epoch, seq",
        -1, &stmt, NULL) == SQLITE_OK, "prepare: %s", sqlite3_errmsg (db));
    int rerun = 0;
    for (int index = 0; index < s_job_count; index++) {
        job_t *job = &s_jobs [index];
        sqlite3_reset (stmt);
        sqlite3_bind_text (stmt, 1, job->request_id, -1, SQLITE_STATIC);
        int completed = 0, ok_completed = 0;
        int64_t open_epoch = -1;        //  epoch of a receive not yet concluded
        int64_t status = 0, count = 0;
        int rc;
        while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
            int64_t epoch = sqlite3_column_int64 (stmt, 0);
            if (sqlite3_column_int (stmt, 1)) {
                FM_CHECK (ok_completed == 0, "request %s (key %s) completed again after"
                          " a 200 result: processed twice", job->request_id,
                          job->request.idem_key);
                status = sqlite3_column_int64 (stmt, 2);
                count = sqlite3_column_int64 (stmt, 3);
                completed++;
                if (status == FM_STATUS_OK)
                    ok_completed++;
                open_epoch = -1;
            }
            else {
                FM_CHECK (open_epoch != epoch, "request %s (key %s) received twice in"
                          " epoch %" PRId64 " while in flight: a retry must join it",
                          job->request_id, job->request.idem_key, epoch);
                open_epoch = epoch;
            }
        }
        FM_CHECK (rc == SQLITE_DONE, "query: %s", sqlite3_errmsg (db));
        FM_CHECK (completed >= 1, "request %s (key %s, answered %s %d): no"
                  " request.completed in the log", job->request_id,
                  job->request.idem_key, fm_msg_type_name (job->type), job->status);
        FM_CHECK (open_epoch == -1, "request %s received after its last"
                  " request.completed", job->request_id);
        FM_CHECK (status == job->status, "request %s: last completed with %" PRId64
                  " but the client got %d", job->request_id, status, job->status);
        FM_CHECK (job->status != FM_STATUS_OK || count == (int64_t) job->offers,
                  "request %s: completed with %" PRId64 " offers, the client got %zu",
                  job->request_id, count, job->offers);
        if (completed > 1)
            rerun++;
    }
    sqlite3_finalize (stmt);
    return rerun;
}

//  Print and check the log per epoch: expected (witness) vs logged
static void
s_check_epochs (sqlite3 *db)
{
    sqlite3_stmt *stmt = NULL;
    FM_CHECK (sqlite3_prepare_v2 (db,
        "SELECT epoch, COUNT(*), MAX(seq), (SELECT COALESCE (SUM (to_seq - from_seq + 1), 0)"
        " FROM gaps g WHERE g.epoch = e.epoch) FROM events e GROUP BY epoch ORDER BY epoch",
        -1, &stmt, NULL) == SQLITE_OK, "prepare: %s", sqlite3_errmsg (db));
    int logged_epochs = 0;
    while (sqlite3_step (stmt) == SQLITE_ROW) {
        uint64_t epoch = (uint64_t) sqlite3_column_int64 (stmt, 0);
        int64_t logged = sqlite3_column_int64 (stmt, 1);
        int64_t max_seq = sqlite3_column_int64 (stmt, 2);
        int64_t missing = sqlite3_column_int64 (stmt, 3);
        uint64_t witnessed = 0, seen = 0;
        for (int index = 0; index < s_epoch_count; index++)
            if (s_epochs [index].epoch == epoch) {
                witnessed = s_epochs [index].max_seq;
                seen = s_epochs [index].seen;
            }
        printf ("fault: epoch %" PRIu64 ": events expected %" PRIu64 " (witness saw %"
                PRIu64 " of them), logged %" PRId64 " (seq 1..%" PRId64 "), missing %"
                PRId64 "\n", epoch, witnessed > (uint64_t) max_seq? witnessed
                : (uint64_t) max_seq, seen, logged, max_seq, missing);
        FM_CHECK (logged == max_seq && missing == 0 && (uint64_t) max_seq >= witnessed,
                  "epoch %" PRIu64 " incomplete", epoch);
        logged_epochs++;
    }
    sqlite3_finalize (stmt);
    FM_CHECK (logged_epochs >= 1, "no epoch in the log");
    for (int index = 0; index < s_epoch_count; index++)
        FM_CHECK (s_epochs [index].max_seq == 0 || logged_epochs > 0,
                  "epoch %" PRIu64 " not in the log", s_epochs [index].epoch);
}


//  --------------------------------------------------------------------------

int
main (int argc, char *argv [])
{
    (void) argc;
    zsys_init ();
    zsys_set_logident ("test_fault");
    fm_proc_setup ("fault", argv [0]);
    int64_t started = zclock_mono ();
    const char *env = getenv ("FM_FAULT_REQUESTS");
    s_job_count = env? atoi (env): REQUESTS;
    FM_CHECK (s_job_count >= 100 && s_job_count <= 1000000,
              "FM_FAULT_REQUESTS=%s: want 100..1000000", env);
    env = getenv ("FM_FAULT_RATE");
    int64_t rate = env? atoi (env): RATE;
    FM_CHECK (rate >= 10, "FM_FAULT_RATE=%s: want >= 10 requests/s", env);
    env = getenv ("FM_FAULT_BROKER");
    bool broker_fault = !env || !streq (env, "0");
    bool journal_on = !env || streq (env, "1");

    char *registry = fm_proc_source_path ("tests/data/system/enterprises.csv");
    s_load_enterprises (registry);
    //  The endpoints, and the waits for services; the processes are this
    //  test's own (s_procs: it kills and restarts them)
    fm_proc_system_t *sys = fm_proc_system_new (START_MS);
    //  FM_FAULT_HOST: the broker's address when it runs on another "host"
    //  (tests/netns_fault.sh); the ports are free here, and there
    const char *host = getenv ("FM_FAULT_HOST");
    if (host && *host)
        fm_proc_system_host (sys, host);
    snprintf (s_router, sizeof (s_router), "%s", sys->router);
    const char *events = sys->events;
    char deadline [16], gov_deadline [16], heartbeat [16], liveness [16];
    const char *hook = getenv ("FM_FAULT_HOOK");
    snprintf (deadline, sizeof (deadline), "%d", DEADLINE_MS);
    snprintf (gov_deadline, sizeof (gov_deadline), "%d", GOV_DEADLINE_MS);
    snprintf (heartbeat, sizeof (heartbeat), "%d", HEARTBEAT_MS);
    snprintf (liveness, sizeof (liveness), "%d", LIVENESS);

    //  Configs
    char *db = fm_proc_tmp_path ("events.db");
    char *journal = fm_proc_tmp_path ("broker.journal");
    s_procs [P_BROKER].config = journal_on
        ? fm_proc_config ("broker", NULL, "broker/endpoint", s_router,
                          "broker/events", events, "broker/deadline_ms", deadline,
                          "broker/gov_deadline_ms", gov_deadline,
                          "broker/heartbeat_ms", heartbeat, "broker/liveness", liveness,
                          "broker/journal", journal, NULL)
        : fm_proc_config ("broker", NULL, "broker/endpoint", s_router,
                          "broker/events", events, "broker/deadline_ms", deadline,
                          "broker/gov_deadline_ms", gov_deadline,
                          "broker/heartbeat_ms", heartbeat, "broker/liveness", liveness,
                          "broker/journal", "", NULL);
    s_procs [P_RECORDER].config = fm_proc_config ("recorder", NULL,
        "recorder/events", events, "recorder/broker", s_router, "recorder/db", db, NULL);
    char *gov_fixture = fm_proc_source_path ("tests/data/system/gov.cfg");
    s_procs [P_GOV].config = fm_proc_config ("gov", gov_fixture, "gov/endpoint", s_router,
        "gov/registry", registry, "gov/heartbeat_ms", heartbeat,
        "gov/liveness", liveness, NULL);
    const char *bank_fixtures [P_COUNT] = { NULL, NULL, NULL,
        "bank_cqrcb", "bank_cqrcb", "bank_ccb", "bank_icbc" };
    for (int which = P_CQRCB_A; which < P_COUNT; which++) {
        char *fixture = fm_proc_source_path ("tests/data/system/%s.cfg",
                                             bank_fixtures [which]);
        s_procs [which].config = fm_proc_config (s_proc_names [which], fixture,
            "bank/endpoint", s_router, "bank/heartbeat_ms", heartbeat,
            "bank/liveness", liveness, NULL);
        zstr_free (&fixture);
    }
    for (int which = 0; which < P_COUNT; which++)
        FM_CHECK (s_procs [which].config, "config of %s", s_proc_names [which]);

    //  Start: broker, witness and recorder first (they see every event),
    //  then the workers
    zsock_t *witness = fm_events_subscribe (events, "");
    FM_CHECK (witness, "subscribe %s", events);
    zsock_set_rcvhwm (witness, 0);
    s_start (P_BROKER);
    s_start (P_RECORDER);
    for (int index = 0; index < CONNECTIONS; index++) {
        s_clients [index] = fm_client_new (s_router);
        FM_CHECK (s_clients [index], "fm_client_new %s", s_router);
    }
    //  The recorder is subscribed once an event reaches the log; workers
    //  registering then are all recorded live
    fm_proc_system_wait_service (sys, FM_SERVICE_REQUEST);
    for (int which = P_GOV; which < P_COUNT; which++)
        s_start (which);
    const char *services [] = { "gov.credit", "bank.CQRCB", "bank.CCB", "bank.ICBC" };
    for (size_t index = 0; index < sizeof (services) / sizeof (services [0]); index++)
        fm_proc_system_wait_service (sys, services [index]);
    zsys_info ("fault: %d processes up in %" PRId64 " ms", P_COUNT,
               zclock_mono () - started);

    //  The load and the faults
    s_jobs = (job_t *) zmalloc (sizeof (job_t) * (size_t) s_job_count);
    s_by_id = zhashx_new ();
    FM_CHECK (s_jobs && s_by_id, "out of memory");
    char run [16];
    snprintf (run, sizeof (run), "%d", (int) getpid ());
    for (int index = 0; index < s_job_count; index++) {
        s_make_job (index, &s_jobs [index], run);
        FM_CHECK (zhashx_insert (s_by_id, s_jobs [index].request_id, &s_jobs [index]) == 0,
                  "two keys make request id %s", s_jobs [index].request_id);
    }
    s_poller = zpoller_new (witness, NULL);
    FM_CHECK (s_poller, "poller");
    for (int index = 0; index < CONNECTIONS; index++)
        FM_CHECK (zpoller_add (s_poller, fm_client_sock (s_clients [index])) == 0,
                  "zpoller_add");
    fault_t faults [] = {
        { P_CQRCB_A, s_job_count / 10, 0, false },
        { P_GOV, s_job_count * 3 / 10, 0, false },
        { P_RECORDER, s_job_count / 2, 0, false },
        { P_BROKER, s_job_count * 8 / 10, 0, false },
    };
    size_t fault_count = sizeof (faults) / sizeof (faults [0]) - (broker_fault? 0: 1);
    //  FM_FAULT_HOOK: a command run as "HOOK cut" at 40 % of the load and
    //  "HOOK restore" LINK_MS later (netns_fault.sh: a link down and up)
    int64_t cut_at = 0;
    bool restored = !hook || !*hook;
    //  The log locked by another writer for LOCK_MS at 60 % of the load
    //  (after the recorder's restart): its flushes fail (SQLITE_BUSY),
    //  the events wait in memory, retried with backoff
    sqlite3 *locker = NULL;
    int64_t locked_at = 0;
    bool unlocked = false;
    int64_t rows_at_restart = -1;       //  rows in the log, recorder restarted
    int64_t lock_probe_at = 0;
    bool lock_now = false;
    int sent = 0, first_open = 0;
    int64_t scan_at = 0;
    int64_t load_started = zclock_mono ();
    while (s_done < s_job_count || !restored || !unlocked
       ||  !faults [fault_count - 1].restarted) {
        //  Faults due: kill when their share of the load is sent, restart
        //  RESTART_MS later (the load keeps running meanwhile)
        for (size_t index = 0; index < fault_count; index++) {
            fault_t *fault = &faults [index];
            if (!fault->killed_at && sent >= fault->at
            &&  (index == 0 || faults [index - 1].restarted)
            &&  (fault->which != P_BROKER || unlocked)) {
                zsys_info ("fault: kill -9 %s at request %d", s_proc_names [fault->which],
                           sent);
                s_kill (fault->which);
                fault->killed_at = zclock_mono ();
            }
            if (fault->killed_at && !fault->restarted
            &&  zclock_mono () - fault->killed_at >= RESTART_MS) {
                zsys_info ("fault: restart %s", s_proc_names [fault->which]);
                s_start (fault->which);
                fault->restarted = true;
            }
        }
        if (!restored && !cut_at && sent >= s_job_count * 4 / 10) {
            char command [PATH_MAX + 16];
            snprintf (command, sizeof (command), "%s cut", hook);
            FM_CHECK (system (command) == 0, "%s failed", command);
            cut_at = zclock_mono ();
        }
        if (!restored && cut_at && zclock_mono () - cut_at >= LINK_MS) {
            char command [PATH_MAX + 16];
            snprintf (command, sizeof (command), "%s restore", hook);
            FM_CHECK (system (command) == 0, "%s failed", command);
            restored = true;
        }
        //  (once the restarted recorder has written: it must be up)
        if (!locked_at && sent >= s_job_count * 6 / 10 && faults [2].restarted
        &&  zclock_mono () >= lock_probe_at) {
            lock_probe_at = zclock_mono () + 100;
            if (rows_at_restart < 0)
                rows_at_restart = fm_proc_db_int (db, "SELECT COUNT(*) FROM events", NULL);
            else
            if (fm_proc_db_int (db, "SELECT COUNT(*) FROM events", NULL) > rows_at_restart)
                lock_now = true;
        }
        if (!locked_at && lock_now) {
            zsys_info ("fault: lock the log (BEGIN IMMEDIATE) at request %d", sent);
            FM_CHECK (sqlite3_open_v2 (db, &locker, SQLITE_OPEN_READWRITE, NULL) == SQLITE_OK,
                      "open %s", db);
            sqlite3_busy_timeout (locker, 5000);
            FM_CHECK (sqlite3_exec (locker, "BEGIN IMMEDIATE", NULL, NULL, NULL) == SQLITE_OK,
                      "lock %s: %s", db, sqlite3_errmsg (locker));
            locked_at = zclock_mono ();
        }
        if (locked_at && !unlocked && zclock_mono () - locked_at >= LOCK_MS) {
            zsys_info ("fault: unlock the log");
            FM_CHECK (sqlite3_exec (locker, "COMMIT", NULL, NULL, NULL) == SQLITE_OK,
                      "unlock: %s", sqlite3_errmsg (locker));
            sqlite3_close (locker);
            unlocked = true;
        }
        //  Keep WINDOW requests in flight
        int64_t due = (zclock_mono () - load_started) * rate / 1000;
        while (s_inflight < WINDOW && sent < s_job_count && sent < due) {
            job_t *job = &s_jobs [sent++];
            s_send (job, s_clients [job->connection]);
            s_inflight++;
        }
        void *which = zpoller_wait (s_poller, 20);
        FM_CHECK (!zpoller_terminated (s_poller), "interrupted");
        if (which)
            s_on_socket (which, witness);
        //  Every 100 ms: retry the silent, drop retries' connections
        int64_t now = zclock_mono ();
        if (now < scan_at)
            continue;
        scan_at = now + 100;
        for (int index = first_open; index < sent; index++) {
            job_t *job = &s_jobs [index];
            if (job->state == JOB_DONE) {
                if (index == first_open)
                    first_open++;
                if (job->retry) {
                    zpoller_remove (s_poller, fm_client_sock (job->retry));
                    fm_client_destroy (&job->retry);
                }
            }
            else {
                if (now - job->sent_at >= TRY_MS)
                    s_retry (job);
            }
        }
        for (size_t index = 0; index < fault_count; index++)
            FM_CHECK (!faults [index].restarted || fm_proc_running
                      (s_procs [faults [index].which].proc), "%s died after its restart",
                      s_proc_names [faults [index].which]);
    }
    int64_t load_ms = zclock_mono () - load_started;
    FM_CHECK (restored, "the link was never restored");
    FM_CHECK (unlocked, "the log was never locked");
    for (size_t index = 0; index < fault_count; index++)
        FM_CHECK (faults [index].restarted, "fault %zu (%s) never happened", index,
                  s_proc_names [faults [index].which]);

    //  Figures from the clients' side
    int by_status [1000] = { 0 };
    int with_timeout = 0;
    for (int index = 0; index < s_job_count; index++) {
        job_t *job = &s_jobs [index];
        FM_CHECK (job->status < 1000, "status %d", job->status);
        by_status [job->status]++;
        if (job->timed_out)
            with_timeout++;
    }
    printf ("fault: %d requests sent (%d tries, %d lazy-pirate retries) in %" PRId64
            " ms, %d completed, lost 0; answers repeated by retries: %d\n",
            s_job_count, s_tries_total, s_retries, load_ms, s_done, s_duplicate_answers);
    printf ("fault: final status:");
    for (int status = 0; status < 1000; status++)
        if (by_status [status])
            printf (" %d x%d", status, by_status [status]);
    printf ("; results listing a bank as timed out: %d\n", with_timeout);
    //  A sanity floor: the faults cost a few hundred answers, not most
    //  (FM_FAULT_MIN_OK, percent, lower under valgrind)
    env = getenv ("FM_FAULT_MIN_OK");
    int min_ok = env? atoi (env): 50;
    FM_CHECK (by_status [FM_STATUS_OK] * 100 >= s_job_count * min_ok,
              "only %d of %d requests answered 200, want %d %%", by_status [FM_STATUS_OK],
              s_job_count, min_ok);

    //  The log: wait for it to complete (the recorder replays what it
    //  missed), then read it
    for (int which = 0; which < P_COUNT; which++)
        FM_CHECK (s_procs [which].proc && fm_proc_running (s_procs [which].proc),
                  "%s died", s_proc_names [which]);
    //  Drain the witness: events published up to now; and the broker's
    //  own head, which the witness may not have reached
    while (zsock_events (witness) & ZMQ_POLLIN)
        s_witness (witness);
    s_witness_head ();
    if (!fm_proc_wait_until (s_log_complete, db, FILL_MS, 200)) {
        sqlite3 *peek = fm_proc_db_open (db);
        if (peek) {
            s_check_epochs (peek);
            sqlite3_close (peek);
        }
        FM_CHECK (false, "the log is not complete after %d ms", FILL_MS);
    }
    int rc = fm_proc_stop (s_procs [P_RECORDER].proc, 10000);
    FM_CHECK (rc == 0, "finmatch-recorder exited %d on SIGTERM", rc);
    //  The lock was felt and outlived: the recorder said so.  (With a
    //  link cut, FM_FAULT_HOOK, the recorder may have had nothing to
    //  write while the lock lasted: then only printed)
    char *log = s_file_text (fm_proc_log (s_procs [P_RECORDER].proc));
    bool retried = log && strstr (log, "(will retry)") && strstr (log, "writing again after");
    zstr_free (&log);
    printf ("fault: the recorder %s its writes to the locked log\n",
            retried? "retried": "did not need to retry");
    FM_CHECK (retried || hook, "the recorder's log does not show the locked log retried");
    sqlite3 *check = fm_proc_db_open (db);
    FM_CHECK (check, "open %s", db);
    sqlite3_stmt *stmt = NULL;
    FM_CHECK (sqlite3_prepare_v2 (check, "PRAGMA integrity_check", -1, &stmt, NULL)
              == SQLITE_OK && sqlite3_step (stmt) == SQLITE_ROW
              && streq ((const char *) sqlite3_column_text (stmt, 0), "ok"),
              "integrity_check fails");
    sqlite3_finalize (stmt);
    s_check_epochs (check);
    int rerun = s_check_processed_once (check);
    //  A request resumed after the broker's restart goes on where it
    //  stopped (its profile and bank answers are journaled): no bank's
    //  offer or decline is published twice for one request, in any epoch
    int64_t twice = fm_proc_db_int (db, "SELECT COUNT(*) FROM (SELECT 1 FROM events"
        " WHERE type = 'offer.made' GROUP BY request_id, offer_id HAVING COUNT(*) > 1)", NULL)
                  + fm_proc_db_int (db, "SELECT COUNT(*) FROM (SELECT 1 FROM events"
        " WHERE type = 'decline.made' GROUP BY request_id, bank HAVING COUNT(*) > 1)", NULL);
    printf ("fault: (request, bank) answers published twice: %" PRId64 "\n", twice);
    FM_CHECK (twice == 0 || !journal_on, "%" PRId64 " offers/declines published twice"
              " for one request: a resumed request asked a bank again", twice);
    //  Every restarted worker registered again (and after a broker
    //  restart, every worker did)
    FM_CHECK (fm_proc_db_int (db, "SELECT COUNT(*) FROM events WHERE type = 'worker.ready'"
                                  " AND service = 'gov.credit'", NULL) >= 2,
              "the restarted gov worker never registered");
    FM_CHECK (fm_proc_db_int (db, "SELECT COUNT(*) FROM events WHERE type = 'worker.ready'"
                                  " AND service = 'bank.CQRCB'", NULL) >= 3,
              "the restarted bank.CQRCB worker never registered");
    printf ("fault: every key one final answer, no request concluded twice (%d"
            " concluded again after a failure the client never saw); %" PRId64
            " events in %" PRId64 " epochs, 0 gaps\n", rerun,
            fm_proc_db_int (db, "SELECT COUNT(*) FROM events", NULL),
            fm_proc_db_int (db, "SELECT COUNT(DISTINCT epoch) FROM events", NULL));
    sqlite3_close (check);

    //  Clean stop of what is left
    for (int which = P_COUNT - 1; which >= 0; which--)
        if (which != P_RECORDER) {
            rc = fm_proc_stop (s_procs [which].proc, 10000);
            FM_CHECK (rc == 0, "%s exited %d on SIGTERM", s_proc_names [which], rc);
        }
    for (int index = 0; index < s_job_count; index++)
        fm_client_destroy (&s_jobs [index].retry);
    for (int index = 0; index < CONNECTIONS; index++)
        fm_client_destroy (&s_clients [index]);
    zpoller_destroy (&s_poller);
    zsock_destroy (&witness);
    for (int which = 0; which < P_COUNT; which++) {
        fm_proc_destroy (&s_procs [which].proc);
        zstr_free (&s_procs [which].config);
    }
    zhashx_destroy (&s_by_id);
    free (s_jobs);
    zstr_free (&db);
    zstr_free (&journal);
    zstr_free (&registry);
    zstr_free (&gov_fixture);
    fm_proc_system_destroy (&sys);
    printf ("fault: OK in %" PRId64 " ms\n", zclock_mono () - started);
    return fm_proc_teardown (true);
}
