/*  =========================================================================
    test_restart - nothing lost: a dead bank worker, a killed broker

    Real finmatch-broker, -recorder, -gov and -bank processes on loopback
    (insecure), the broker with its journal in the test's temp dir.
      1. Re-dispatch: a bank worker (a raw DEALER of this test) takes a
         query and dies silently (no DISCONNECT, no heartbeat): the broker
         expires it and sends the query to the other worker of that bank,
         whose offer is in the RESULT; no bank.timeout.
      2. Timeout exactly once: the same with no other worker of the bank:
         one bank.timeout, before the deadline, the bank in timed_out.
      3. An offer accepted and granted before the broker dies.
      4. kill -9 of the broker with REQUESTS requests in flight (and a
         `finmatch request --retries` CLI waiting); the broker restarts on
         its journal; every request is sent again with the same key: each
         key gets exactly one result; the log shows each request received
         and completed exactly once, one epoch, no gap left; the accepted
         offer is answered from the journal (one loan.granted).  One
         request was half answered at the kill (CQRCB offered, a fake
         bank.HOLD held its query): the restarted broker does not ask
         CQRCB again: no request.enriched, offer.made or decline.made
         twice for any request (and bank).  `fm.status` of requests
         retained before the kill still lists the banks they asked.
      5. gov.credit comes back late after a restart (after the resume
         window): a new request waits for it (gov_deadline_ms) and gets
         its RESULT, not 503.
    Prints the figures.  FM_RESTART_REQUESTS overrides REQUESTS (ASan).
    =========================================================================
*/

#include <czmq.h>
#include <sqlite3.h>
#include <signal.h>
#include "fm_proto.h"
#include "fm_mdp.h"
#include "fm_ids.h"
#include "fm_client.h"
#include "fm_proc.h"
#include "fm_store.h"

#define START_MS        15000           //  bound for a process to be ready
#define REPLY_MS        10000           //  bound for any single reply
#define FILL_MS         30000           //  bound for the log to settle
#define REQUESTS        1000            //  in flight when the broker dies
#define DEADLINE_MS     "3000"          //  banks' deadline
#define GOV_DEADLINE_MS "8000"          //  gov.credit's (step 5: it starts late)
#define HEARTBEAT_MS    "200"           //  x liveness 3: 600 ms to expire
#define ENTERPRISE      "91500105MA5U0A0B11"    //  first row of the registry

//  A request of the fixture enterprise with key
static fm_msg_t *
s_request (const char *key)
{
    fm_msg_t *msg = fm_msg_new (FM_MSG_REQUEST);
    FM_CHECK (msg, "out of memory");
    snprintf (msg->request.enterprise_id, FM_ENTERPRISE_ID_SIZE, "%s", ENTERPRISE);
    snprintf (msg->request.idem_key, sizeof (msg->request.idem_key), "%s", key);
    msg->request.amount_fen = 100000000;            //  100万元
    msg->request.term_months = 12;
    snprintf (msg->request.purpose, sizeof (msg->request.purpose), "流动资金");
    msg->request.consent = FM_CONSENT_ALL;
    return msg;
}

//  A raw 7/MDP worker of service: READY, no options (broker's heartbeat)
static zsock_t *
s_fake_worker (const char *router, const char *service)
{
    zsock_t *dealer = zsock_new_dealer (router);
    FM_CHECK (dealer, "dealer");
    zsock_set_rcvtimeo (dealer, 100);
    byte ready = FM_MDPW_READY;
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "");
    zmsg_addstr (msg, FM_MDPW);
    zmsg_addmem (msg, &ready, 1);
    zmsg_addstr (msg, service);
    FM_CHECK (zmsg_send (&msg, dealer) == 0, "READY");
    return dealer;
}

//  Heartbeat a fake worker; returns true once it received a REQUEST
static bool
s_fake_pump (void *arg)
{
    zsock_t *dealer = (zsock_t *) arg;
    byte heartbeat = FM_MDPW_HEARTBEAT;
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "");
    zmsg_addstr (msg, FM_MDPW);
    zmsg_addmem (msg, &heartbeat, 1);
    zmsg_send (&msg, dealer);
    bool got = false;
    while ((msg = zmsg_recv (dealer))) {
        zframe_t *command = NULL;
        if (zmsg_size (msg) >= 3) {
            zmsg_first (msg);
            zmsg_next (msg);
            command = zmsg_next (msg);
        }
        if (command && zframe_size (command) == 1 && zframe_data (command) [0] == FM_MDPW_REQUEST)
            got = true;
        zmsg_destroy (&msg);
        if (got)
            break;
    }
    return got;
}

//  Send msg and wait for its answer (Lazy Pirate, a few tries)
static fm_msg_t *
s_ask (fm_client_t *client, const char *service, fm_msg_t *msg)
{
    fm_error_t err;
    fm_msg_t *reply = fm_client_request (client, service, msg, REPLY_MS, 3, &err);
    FM_CHECK (reply, "no answer on %s: %u %s", service, err.status, err.text);
    return reply;
}

static bool
s_has_timed_out (const fm_msg_t *result, const char *bank)
{
    for (size_t index = 0; index < result->timed_out_count; index++)
        if (streq (result->timed_out [index], bank))
            return true;
    return false;
}

static bool
s_has_offer_of (const fm_msg_t *result, const char *bank)
{
    for (size_t index = 0; index < result->offer_count; index++)
        if (streq (result->offers [index].bank, bank))
            return true;
    return false;
}

typedef struct {
    const char *db;
    const char *sql;
    int64_t want;
} db_wait_t;

static bool
s_db_is (void *arg)
{
    db_wait_t *wait = (db_wait_t *) arg;
    return fm_proc_db_int (wait->db, wait->sql, NULL) == wait->want;
}

//  Poll cond every interval_ms up to timeout_ms; unlike fm_proc_wait_until
//  it does not fail when a tracked process exited (the CLI may finish
//  while we wait).  Returns true if cond held.
static bool
s_wait (fm_proc_cond_fn *cond, void *arg, int timeout_ms, int interval_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (!cond (arg)) {
        if (zclock_mono () >= deadline)
            return false;
        zclock_sleep (interval_ms);
    }
    return true;
}

static void
s_expect (const char *db, const char *sql, int64_t want, const char *what)
{
    db_wait_t wait = { db, sql, want };
    FM_CHECK (s_wait (s_db_is, &wait, FILL_MS, 100),
              "%s: %s is %" PRId64 ", want %" PRId64, what, sql,
              fm_proc_db_int (db, sql, NULL), want);
}

//  Pump a fake worker and wait for a row count in the log
typedef struct {
    zsock_t *fake;
    bool got;                           //  the fake got its query
    db_wait_t db;
} held_t;

static bool
s_held (void *arg)
{
    held_t *held = (held_t *) arg;
    if (s_fake_pump (held->fake))
        held->got = true;
    return held->got && s_db_is (&held->db);
}

//  True when a file holds text
typedef struct {
    const char *path;
    const char *text;
} grep_t;

static bool
s_file_has (void *arg)
{
    grep_t *grep = (grep_t *) arg;
    FILE *file = fopen (grep->path, "r");
    bool found = false;
    char line [1024];
    while (file && !found && fgets (line, sizeof line, file))
        found = strstr (line, grep->text) != NULL;
    if (file)
        fclose (file);
    return found;
}

//  fm.status of a request lists bank among the banks it asked
static bool
s_status_asked (fm_client_t *client, const char *request_id, const char *bank)
{
    fm_msg_t *query = fm_msg_new (FM_MSG_STATUS_QUERY);
    FM_CHECK (query, "out of memory");
    snprintf (query->request_id, sizeof query->request_id, "%s", request_id);
    snprintf (query->request.enterprise_id, FM_ENTERPRISE_ID_SIZE, "%s", ENTERPRISE);
    fm_msg_t *status = s_ask (client, FM_SERVICE_STATUS, query);
    FM_CHECK (status->type == FM_MSG_STATUS, "status of %s: %s %u %s", request_id,
              fm_msg_type_name (status->type), status->status, status->text);
    bool found = false;
    for (size_t index = 0; index < status->asked_count; index++)
        if (streq (status->asked [index], bank))
            found = true;
    printf ("restart: status of %s after the restart: %zu banks asked\n", request_id,
            status->asked_count);
    fm_msg_destroy (&status);
    fm_msg_destroy (&query);
    return found;
}

//  The broker again, on its config (its journal: broker/journal), as name
static fm_proc_t *
s_restart_broker (fm_proc_system_t *sys, const char *name)
{
    const char *args [] = { "-c", sys->broker_cfg, "--insecure", NULL };
    fm_proc_t *broker = fm_proc_start (name, "finmatch-broker", args);
    FM_CHECK (broker, "cannot start finmatch-broker");
    return broker;
}

int
main (int argc, char *argv [])
{
    (void) argc;
    zsys_init ();
    zsys_set_logident ("test_restart");
    fm_proc_setup ("restart", argv [0]);
    int requests = REQUESTS;
    if (getenv ("FM_RESTART_REQUESTS"))
        requests = atoi (getenv ("FM_RESTART_REQUESTS"));
    FM_CHECK (requests > 0 && requests <= 100000, "FM_RESTART_REQUESTS");

    fm_proc_system_t *sys = fm_proc_system_new (START_MS);
    const char *router = sys->router;
    char *journal = fm_proc_tmp_path ("broker.journal");
    fm_proc_system_broker (sys, NULL, "broker/deadline_ms", DEADLINE_MS,
                           "broker/gov_deadline_ms", GOV_DEADLINE_MS,
                           "broker/heartbeat_ms", HEARTBEAT_MS,
                           "broker/journal", journal, NULL);
    fm_proc_system_wait_service (sys, FM_SERVICE_REQUEST);
    fm_client_t *client = sys->client;

    fm_proc_system_recorder (sys, NULL, NULL);
    const char *db = sys->db;
    char *registry = fm_proc_source_path ("tests/data/system/enterprises.csv");
    fm_proc_system_gov (sys, "tests/data/system/gov.cfg", NULL, "gov/registry", registry,
                        "gov/heartbeat_ms", HEARTBEAT_MS, NULL);
    fm_proc_system_wait_service (sys, FM_SERVICE_GOV);
    //  Step 5 starts gov again on the same config
    char *gov_cfg = fm_proc_tmp_path ("gov.cfg");
    const char *gov_args [] = { "-c", gov_cfg, "--insecure", NULL };

    //  1. Re-dispatch.  A fake CQRCB worker alone takes the query...
    zsock_t *fake = s_fake_worker (router, "bank.CQRCB");
    fm_proc_system_wait_service (sys, "bank.CQRCB");
    fm_msg_t *msg = s_request ("redispatch-1");
    fm_error_t err;
    FM_CHECK (fm_client_send (client, FM_SERVICE_REQUEST, msg, &err) == 0, "send");
    FM_CHECK (fm_proc_wait_until (s_fake_pump, fake, START_MS, 10),
              "the fake CQRCB worker got no query");
    //  ... the real worker registers, and the fake one dies silently
    char *cqrcb_fixture = fm_proc_source_path ("tests/data/system/bank_cqrcb.cfg");
    fm_proc_t *cqrcb = fm_proc_system_bank (sys, "bank_cqrcb", cqrcb_fixture, NULL,
                                            "bank/heartbeat_ms", HEARTBEAT_MS, NULL);
    s_expect (db, "SELECT COUNT(*) FROM events WHERE type = 'worker.ready'"
                  " AND service = 'bank.CQRCB'", 2, "real CQRCB worker ready");
    int64_t died = zclock_mono ();
    zsock_destroy (&fake);
    fm_msg_t *result = fm_client_recv (client, REPLY_MS, &err);
    FM_CHECK (result && result->type == FM_MSG_RESULT, "no RESULT after re-dispatch: %s",
              err.text);
    int64_t took = zclock_mono () - died;
    FM_CHECK (s_has_offer_of (result, "CQRCB"), "no CQRCB offer after re-dispatch");
    FM_CHECK (!s_has_timed_out (result, "CQRCB"), "CQRCB timed out despite a live worker");
    printf ("restart: re-dispatch: answered by the other worker %" PRId64
            " ms after the first died (deadline %s ms)\n", took, DEADLINE_MS);
    char id [FM_REQUEST_ID_SIZE];
    fm_request_id_make (ENTERPRISE, "redispatch-1", id);
    char sql [512];
    snprintf (sql, sizeof sql, "SELECT COUNT(*) FROM events WHERE type = 'bank.timeout'"
              " AND " FM_STORE_OF_REQUEST ("'%s'"), id);
    s_expect (db, "SELECT COUNT(*) FROM events WHERE type = 'worker.expired'", 1,
              "the fake worker expired");
    FM_CHECK (fm_proc_db_int (db, sql, NULL) == 0, "bank.timeout after a re-dispatch");
    fm_msg_destroy (&result);
    fm_msg_destroy (&msg);

    //  2. A bank with one worker that dies: its timeout, exactly once
    fake = s_fake_worker (router, "bank.LONE");
    fm_proc_system_wait_service (sys, "bank.LONE");
    msg = s_request ("lone-1");
    int64_t sent = zclock_mono ();
    FM_CHECK (fm_client_send (client, FM_SERVICE_REQUEST, msg, &err) == 0, "send");
    FM_CHECK (fm_proc_wait_until (s_fake_pump, fake, START_MS, 10),
              "the fake LONE worker got no query");
    zsock_destroy (&fake);
    result = fm_client_recv (client, REPLY_MS, &err);
    took = zclock_mono () - sent;
    FM_CHECK (result && result->type == FM_MSG_RESULT, "no RESULT: %s", err.text);
    FM_CHECK (s_has_timed_out (result, "LONE"), "LONE not listed as timed out");
    FM_CHECK (took < atoi (DEADLINE_MS), "the miss waited for the deadline (%" PRId64
              " ms): the dead worker was not noticed", took);
    fm_request_id_make (ENTERPRISE, "lone-1", id);
    snprintf (sql, sizeof sql, "SELECT COUNT(*) FROM events WHERE type = 'bank.timeout'"
              " AND " FM_STORE_OF_REQUEST ("'%s'") " AND bank = 'LONE'", id);
    s_expect (db, sql, 1, "one bank.timeout for LONE");
    printf ("restart: dead only worker: one bank.timeout, result after %" PRId64 " ms\n",
            took);
    fm_msg_destroy (&result);
    fm_msg_destroy (&msg);

    //  3. An offer accepted and granted
    msg = s_request ("accepted-1");
    result = s_ask (client, FM_SERVICE_REQUEST, msg);
    FM_CHECK (result->type == FM_MSG_RESULT && result->offer_count > 0, "no offer to accept");
    fm_msg_t *accept = fm_msg_new (FM_MSG_ACCEPT);
    snprintf (accept->request_id, sizeof accept->request_id, "%s", result->request_id);
    snprintf (accept->request.enterprise_id, FM_ENTERPRISE_ID_SIZE, "%s", ENTERPRISE);
    snprintf (accept->offer_id, sizeof accept->offer_id, "%s", result->offers [0].offer_id);
    fm_msg_t *confirmation = s_ask (client, FM_SERVICE_ACCEPT, accept);
    FM_CHECK (confirmation->type == FM_MSG_CONFIRMATION && confirmation->confirmation.granted,
              "accept not granted");
    char loan_id [FM_LOAN_ID_SIZE];
    snprintf (loan_id, sizeof loan_id, "%s", confirmation->confirmation.loan_id);
    fm_msg_destroy (&confirmation);
    fm_msg_destroy (&result);
    fm_msg_destroy (&msg);

    //  A request half answered when the broker dies: CQRCB offers, a
    //  fake bank.HOLD (kept alive) holds its query
    zsock_t *hold = s_fake_worker (router, "bank.HOLD");
    fm_proc_system_wait_service (sys, "bank.HOLD");
    fm_msg_t *held_msg = s_request ("held-1");
    FM_CHECK (fm_client_send (client, FM_SERVICE_REQUEST, held_msg, &err) == 0, "send");
    char held_id [FM_REQUEST_ID_SIZE];
    fm_request_id_make (ENTERPRISE, "held-1", held_id);
    char held_sql [256];
    snprintf (held_sql, sizeof held_sql, "SELECT COUNT(*) > 0 FROM events"
              " WHERE type = 'offer.made' AND " FM_STORE_OF_REQUEST ("'%s'"), held_id);
    held_t held = { hold, false, { db, held_sql, 1 } };
    FM_CHECK (fm_proc_wait_until (s_held, &held, REPLY_MS, 1),
              "held-1: no CQRCB offer, or HOLD got no query");

    //  4. Requests in flight, a CLI waiting, kill -9
    char *cli_out = fm_proc_tmp_path ("cli.json");
    char timeout_arg [16];
    snprintf (timeout_arg, sizeof timeout_arg, "%d", 2000);
    const char *cli_args [] = { "--insecure", "--broker", router, "--timeout", timeout_arg,
        "--retries", "10", "--json", "request", "--enterprise", ENTERPRISE,
        "--amount", "100万", "--term", "12", "--consent", "all", "--key", "cli-1", NULL };
    zsock_t *burst = zsock_new_dealer (router);
    FM_CHECK (burst, "dealer");
    for (int index = 0; index < requests; index++) {
        char key [32];
        snprintf (key, sizeof key, "burst-%d", index);
        fm_msg_t *request = s_request (key);
        zframe_t *body = fm_msg_encode (request, &err);
        FM_CHECK (body, "encode: %s", err.text);
        zmsg_t *out = zmsg_new ();
        zmsg_addstr (out, "");
        zmsg_addstr (out, FM_MDPC);
        zmsg_addstr (out, FM_SERVICE_REQUEST);
        zmsg_append (out, &body);
        FM_CHECK (zmsg_send (&out, burst) == 0, "send");
        fm_msg_destroy (&request);
    }
    //  Kill once the broker is busy with the burst: some received
    char received_sql [] = "SELECT COUNT(*) FROM events WHERE type = 'request.received'";
    int64_t before = fm_proc_db_int (db, received_sql, NULL);
    char busy_sql [256];
    snprintf (busy_sql, sizeof busy_sql, "SELECT COUNT(*) >= %" PRId64 " FROM events"
              " WHERE type = 'request.received'", before + 5);
    held_t busy = { hold, true, { db, busy_sql, 1 } };     //  HOLD stays alive
    FM_CHECK (fm_proc_wait_until (s_held, &busy, REPLY_MS, 1), "the burst is not received");
    FM_CHECK (kill (fm_proc_pid (sys->broker), SIGKILL) == 0, "kill -9 broker");
    fm_proc_wait (sys->broker, 5000);
    fm_proc_destroy (&sys->broker);
    zsock_destroy (&hold);
    int64_t received_at_kill = fm_proc_db_int (db, received_sql, NULL) - before;
    //  The CLI asks while no broker is there: its tries time out until the
    //  broker is back, and the same request then gets its one result
    fm_proc_t *cli = fm_proc_start ("cli", "finmatch", cli_args);
    FM_CHECK (cli, "cannot start finmatch");
    FM_CHECK (fm_proc_wait (cli, 2500) == -1, "the CLI did not wait for the broker");
    int64_t started = zclock_mono ();
    sys->broker = s_restart_broker (sys, "broker");
    //  Not fm_proc_system_wait_service, which fails when a process exits:
    //  the CLI may finish meanwhile
    int64_t until = zclock_mono () + START_MS;
    while (fm_client_mmi (client, "bank.CQRCB", 1000) != 200) {
        FM_CHECK (zclock_mono () < until, "CQRCB not back");
        zclock_sleep (50);              //  polling interval
    }
    printf ("restart: broker killed after about %" PRId64 " of %d requests were received,"
            " workers back %" PRId64 " ms after the restart\n", received_at_kill,
            requests, zclock_mono () - started);

    //  Every key again, same key: exactly one result each
    zsock_destroy (&burst);
    fm_client_t *again = fm_client_new (router);
    FM_CHECK (again, "client");
    zhashx_t *answered = zhashx_new ();
    for (int index = 0; index < requests; index++) {
        char key [32];
        snprintf (key, sizeof key, "burst-%d", index);
        fm_msg_t *request = s_request (key);
        FM_CHECK (fm_client_send (again, FM_SERVICE_REQUEST, request, &err) == 0, "send");
        fm_msg_destroy (&request);
    }
    int64_t deadline = zclock_mono () + FILL_MS;
    size_t results = 0;
    while ((int) zhashx_size (answered) < requests && zclock_mono () < deadline) {
        fm_msg_t *reply = fm_client_recv (again, 1000, &err);
        if (!reply)
            continue;
        FM_CHECK (reply->type == FM_MSG_RESULT && reply->status == FM_STATUS_OK,
                  "key %s: %s %u %s", reply->request.idem_key,
                  fm_msg_type_name (reply->type), reply->status, reply->text);
        FM_CHECK (zhashx_lookup (answered, reply->request_id) == NULL,
                  "two answers for %s", reply->request_id);
        zhashx_insert (answered, reply->request_id, (void *) 1);
        results++;
        fm_msg_destroy (&reply);
    }
    FM_CHECK ((int) results == requests, "%zu results for %d keys", results, requests);
    //  The half-answered request: resumed with CQRCB's journaled offer
    fm_msg_t *held_result = s_ask (again, FM_SERVICE_REQUEST, held_msg);
    FM_CHECK (held_result->type == FM_MSG_RESULT && held_result->status == FM_STATUS_OK
              && s_has_offer_of (held_result, "CQRCB"), "held-1 after restart: %s %u %s",
              fm_msg_type_name (held_result->type), held_result->status, held_result->text);
    fm_msg_destroy (&held_result);
    fm_msg_destroy (&held_msg);
    //  Retained before the kill, reloaded from the journal: status still
    //  lists the banks asked
    fm_request_id_make (ENTERPRISE, "accepted-1", id);
    FM_CHECK (s_status_asked (again, id, "CQRCB"),
              "status of accepted-1 after the restart lists no CQRCB");
    FM_CHECK (s_status_asked (again, held_id, "CQRCB"),
              "status of held-1 after the restart lists no CQRCB");
    //  What the restarted broker found in its journal (its log)
    FILE *file = fopen (fm_proc_log (sys->broker), "r");
    if (file) {
        char line [1024];
        while (fgets (line, sizeof line, file))
            if (strstr (line, "broker: journal") || strstr (line, "broker: resumed"))
                printf ("restart: %s", strstr (line, "broker: "));
        fclose (file);
    }
    //  The CLI retried through the restart and got its result
    int rc = fm_proc_wait (cli, 60000);
    FM_CHECK (rc == 0, "finmatch request --retries exited %d", rc);
    FILE *cli_log = fopen (fm_proc_log (cli), "r");
    int tries = 0;
    if (cli_log) {
        char line [1024];
        while (fgets (line, sizeof line, cli_log))
            if (strstr (line, "trying again"))
                tries++;
        fclose (cli_log);
    }
    FM_CHECK (tries >= 1, "the CLI never retried");
    printf ("restart: finmatch request --retries 10: answered after %d retries\n", tries);
    fm_proc_destroy (&cli);
    //  The granted offer: answered from the journal, same loan
    confirmation = s_ask (again, FM_SERVICE_ACCEPT, accept);
    FM_CHECK (confirmation->type == FM_MSG_CONFIRMATION && confirmation->confirmation.granted
              && streq (confirmation->confirmation.loan_id, loan_id),
              "accept after restart: %s %s", fm_msg_type_name (confirmation->type),
              confirmation->confirmation.loan_id);
    fm_msg_destroy (&confirmation);
    fm_msg_destroy (&accept);

    //  The log: every request received and completed exactly once, one
    //  epoch, gap free, one loan
    int total = requests + 5;           //  + redispatch, lone, accepted, held, cli
    s_expect (db, "SELECT COUNT(DISTINCT request_id) FROM events"
                  " WHERE type = 'request.completed'", total, "requests completed");
    s_expect (db, "SELECT COUNT(*) FROM events WHERE type = 'request.completed'", total,
              "request.completed once each");
    s_expect (db, received_sql, total, "request.received once each");
    s_expect (db, "SELECT COUNT(*) FROM events WHERE type = 'loan.granted'", 1,
              "one loan.granted");
    s_expect (db, "SELECT COUNT(DISTINCT epoch) FROM events", 1, "one epoch");
    s_expect (db, "SELECT MAX(seq) - COUNT(*) FROM events", 0, "no seq missing");
    s_expect (db, "SELECT COUNT(*) FROM gaps", 0, "no gap row left");
    //  No request processed twice: a resumed request goes on where it
    //  stopped, its round's events are not published again
    s_expect (db, "SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE type = 'offer.made'"
                  " GROUP BY request_id, offer_id HAVING COUNT(*) > 1)", 0,
                  "offer.made twice for a (request, offer)");
    s_expect (db, "SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE type = 'decline.made'"
                  " GROUP BY request_id, bank HAVING COUNT(*) > 1)", 0,
                  "decline.made twice for a (request, bank)");
    s_expect (db, "SELECT COUNT(*) FROM (SELECT 1 FROM events WHERE type = 'request.enriched'"
                  " GROUP BY request_id HAVING COUNT(*) > 1)", 0,
                  "request.enriched twice for a request");
    snprintf (sql, sizeof sql, "SELECT COUNT(*) FROM events WHERE type = 'offer.made'"
              " AND " FM_STORE_OF_REQUEST ("'%s'") " AND bank = 'CQRCB'", held_id);
    int64_t held_offers = fm_proc_db_int (db, sql, NULL);
    printf ("restart: held-1 (CQRCB answered before the kill): %" PRId64 " CQRCB"
            " offer.made in the log, none repeated\n", held_offers);
    printf ("restart: %d keys, %zu results, 0 lost; %" PRId64 " events logged in one "
            "epoch, %" PRId64 " gap rows\n", requests, results,
            fm_proc_db_int (db, "SELECT COUNT(*) FROM events", NULL),
            fm_proc_db_int (db, "SELECT COUNT(*) FROM gaps", NULL));

    //  5. gov.credit back late: stopped while the broker dies, started
    //  only after the restarted broker's resume window.  A new request
    //  waits for it (up to gov_deadline_ms) instead of failing 503
    FM_CHECK (fm_proc_stop (sys->gov, 5000) == 0, "gov exit");
    fm_proc_destroy (&sys->gov);
    FM_CHECK (kill (fm_proc_pid (sys->broker), SIGKILL) == 0, "kill -9 broker");
    fm_proc_wait (sys->broker, 5000);
    fm_proc_destroy (&sys->broker);
    sys->broker = s_restart_broker (sys, "broker-late-gov");
    grep_t resumed = { fm_proc_log (sys->broker), "broker: resumed" };
    FM_CHECK (fm_proc_wait_until (s_file_has, &resumed, START_MS, 20),
              "the restarted broker never ended its resume window");
    fm_client_t *late = fm_client_new (router);
    FM_CHECK (late, "client");
    msg = s_request ("late-gov-1");
    FM_CHECK (fm_client_send (late, FM_SERVICE_REQUEST, msg, &err) == 0, "send");
    int64_t asked_at = zclock_mono ();
    //  Not failed fast: no answer while gov.credit is away (a bounded
    //  wait for an answer that must not come)
    result = fm_client_recv (late, 500, &err);
    FM_CHECK (!result, "late-gov-1 answered while gov.credit is away: %s %u %s",
              fm_msg_type_name (result->type), result->status, result->text);
    sys->gov = fm_proc_start ("gov-late", "finmatch-gov", gov_args);
    FM_CHECK (sys->gov, "cannot start finmatch-gov");
    result = fm_client_recv (late, REPLY_MS, &err);
    FM_CHECK (result, "late-gov-1: no answer: %s", err.text);
    FM_CHECK (result->type == FM_MSG_RESULT && result->status == FM_STATUS_OK,
              "late-gov-1: %s %u %s (gov.credit came back after the resume window)",
              fm_msg_type_name (result->type), result->status, result->text);
    printf ("restart: gov.credit back after the resume window: a new request waited"
            " %" PRId64 " ms for it and got RESULT 200\n", zclock_mono () - asked_at);
    fm_msg_destroy (&result);
    fm_msg_destroy (&msg);
    fm_client_destroy (&late);

    zhashx_destroy (&answered);
    fm_client_destroy (&again);
    //  Exit codes checked here; fm_proc_system_destroy frees the rest
    FM_CHECK (fm_proc_stop (cqrcb, 5000) == 0, "bank exit");
    FM_CHECK (fm_proc_stop (sys->gov, 5000) == 0, "gov exit");
    FM_CHECK (fm_proc_stop (sys->recorder, 10000) == 0, "recorder exit");
    FM_CHECK (fm_proc_stop (sys->broker, 5000) == 0, "broker exit");
    fm_proc_destroy (&cli);
    fm_proc_system_destroy (&sys);
    zstr_free (&cli_out);
    zstr_free (&cqrcb_fixture);
    zstr_free (&gov_cfg);
    zstr_free (&registry);
    zstr_free (&journal);
    printf ("restart: OK\n");
    return fm_proc_teardown (true);
}
