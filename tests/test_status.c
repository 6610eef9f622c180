/*  =========================================================================
    test_status - `finmatch status`, end to end, against real processes

    Starts finmatch-broker, finmatch-recorder and finmatch-gov (fixtures in
    tests/data/system/) with --insecure on loopback, plus one bank played
    by this test: a raw 7/MDP worker "bank.TEST" that offers one product
    and holds the GRANT_QUERY until told, so that the request can be seen
    in each state.  Then runs the real `finmatch status` binary:
      - live (the broker): offered, accepted (grant pending), granted, with
        the JSON keys and values, and the English text form;
      - from the log (--db, the recorder's SQLite file, with no broker key
        and no broker at all): final state granted, the events in order;
      - refusals: unknown request (exit 1), bad id (exit 2).

    Usage: test_status [-v]      (env FM_BIN_DIR, FM_SOURCE_DIR; see README)
    =========================================================================
*/

#include <czmq.h>
#include <jansson.h>
#include <sqlite3.h>
#include "fm_proto.h"
#include "fm_client.h"
#include "fm_ids.h"
#include "fm_mdp.h"
#include "fm_proc.h"
#include "fm_store.h"

#define START_MS        15000           //  bound for a process to be ready
#define REPLY_MS        10000           //  bound for any single reply
#define RUN_MS          20000           //  bound for one `finmatch` run
#define BANK            "TEST"

static bool s_verbose;


//  --------------------------------------------------------------------------
//  The bank: a raw 7/MDP worker

//  Send [""][MDPW01][command], then the service (READY) or [reply_to][""]
//  (REPLY), then body (taken, may be NULL).
static void
s_bank_send (zsock_t *bank, byte command, const char *reply_to, zframe_t **body)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "");
    zmsg_addstr (msg, FM_MDPW);
    zmsg_addmem (msg, &command, 1);
    if (command == FM_MDPW_READY)
        zmsg_addstr (msg, "bank." BANK);
    if (reply_to) {
        zmsg_addstr (msg, reply_to);
        zmsg_addstr (msg, "");
    }
    if (body)
        zmsg_append (msg, body);
    FM_CHECK (zmsg_send (&msg, bank) == 0, "bank send");
}

//  Next REQUEST to the bank within REPLY_MS, answering heartbeats on the
//  way.  Returns the decoded body (caller owns); fails the test otherwise.
static fm_msg_t *
s_bank_next (zsock_t *bank, fm_msg_type_t type)
{
    int64_t deadline = zclock_mono () + REPLY_MS;
    zpoller_t *poller = zpoller_new (bank, NULL);
    fm_msg_t *body = NULL;
    while (!body) {
        int64_t left = deadline - zclock_mono ();
        FM_CHECK (left > 0 && zpoller_wait (poller, (int) left) == bank,
                  "bank.%s: no %s within %d ms", BANK, fm_msg_type_name (type), REPLY_MS);
        zmsg_t *msg = zmsg_recv (bank);
        FM_CHECK (msg && zmsg_size (msg) >= 3, "bank: short message");
        zframe_t *empty = zmsg_pop (msg);
        char *protocol = zmsg_popstr (msg);
        zframe_t *command = zmsg_pop (msg);
        FM_CHECK (protocol && streq (protocol, FM_MDPW) && zframe_size (command) == 1,
                  "bank: not a 7/MDP worker message");
        byte code = zframe_data (command) [0];
        FM_CHECK (code == FM_MDPW_HEARTBEAT || code == FM_MDPW_REQUEST,
                  "bank: command %u from the broker", code);
        if (code == FM_MDPW_HEARTBEAT)
            s_bank_send (bank, FM_MDPW_HEARTBEAT, NULL, NULL);
        else {
            char *reply_to = zmsg_popstr (msg);
            zframe_t *blank = zmsg_pop (msg);
            zframe_t *frame = zmsg_pop (msg);
            FM_CHECK (reply_to && frame, "bank: REQUEST without body");
            fm_error_t err;
            body = fm_msg_decode (zframe_data (frame), zframe_size (frame), &err);
            FM_CHECK (body, "bank: undecodable body: %s", err.text);
            FM_CHECK (body->type == type && streq (body->request_id, reply_to),
                      "bank: got %s for %s, want %s", fm_msg_type_name (body->type),
                      reply_to, fm_msg_type_name (type));
            zstr_free (&reply_to);
            zframe_destroy (&blank);
            zframe_destroy (&frame);
        }
        zframe_destroy (&empty);
        zstr_free (&protocol);
        zframe_destroy (&command);
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    return body;
}

//  REPLY msg (borrowed) to its request id.
static void
s_bank_reply (zsock_t *bank, const fm_msg_t *msg)
{
    fm_error_t err;
    zframe_t *body = fm_msg_encode (msg, &err);
    FM_CHECK (body, "bank: cannot encode %s: %s", fm_msg_type_name (msg->type), err.text);
    s_bank_send (bank, FM_MDPW_REPLY, msg->request_id, &body);
}

//  The one offer of bank.TEST: 100万, 12 months, 3.45% → 3.15%
static fm_offer_t
s_offer (const fm_msg_t *query)
{
    fm_offer_t offer;
    memset (&offer, 0, sizeof offer);
    snprintf (offer.offer_id, sizeof offer.offer_id, "%s/GRIDE", BANK);
    snprintf (offer.bank, sizeof offer.bank, BANK);
    snprintf (offer.bank_name, sizeof offer.bank_name, "测试银行");
    snprintf (offer.product, sizeof offer.product, "GRIDE");
    snprintf (offer.product_name, sizeof offer.product_name, "网格e贷");
    offer.amount_fen = query->request.amount_fen;
    offer.term_months = query->request.term_months;
    offer.base_rate_bp = 345;
    offer.effective_rate_bp = 315;
    offer.valid_until_us = zclock_time () * 1000 + INT64_C (7) * 86400 * 1000000;
    return offer;
}


//  --------------------------------------------------------------------------
//  Running `finmatch`

//  Run finmatch with the NULL-terminated args; returns its exit code and,
//  in *output, its log (stdout + stderr; caller frees).
static int
s_finmatch (char **output, const char **args)
{
    int rc = fm_proc_run ("finmatch", "finmatch", args, RUN_MS, output);
    if (s_verbose)
        zsys_info ("status: %s exit %d:\n%s", "finmatch", rc, *output);
    return rc;
}

//  The JSON object on a line of output that starts with '{' (the client's
//  log lines, e.g. the --insecure warning, go to stderr, same file).
//  Returns it (caller owns); fails the test if there is none.
static json_t *
s_json_line (const char *output)
{
    const char *line = output;
    while (line && *line) {
        if (*line == '{') {
            const char *end = strchr (line, '\n');
            json_error_t err;
            json_t *json = json_loadb (line, end? (size_t) (end - line): strlen (line),
                                       0, &err);
            FM_CHECK (json, "bad JSON (%s): %s", err.text, line);
            return json;
        }
        line = strchr (line, '\n');
        if (line)
            line++;
    }
    FM_CHECK (false, "no JSON line in:\n%s", output);
    return NULL;
}

static const char *
s_str (json_t *object, const char *key)
{
    json_t *value = json_object_get (object, key);
    FM_CHECK (json_is_string (value), "JSON key \"%s\" missing or not a string", key);
    return json_string_value (value);
}

static json_t *
s_array (json_t *object, const char *key)
{
    json_t *value = json_object_get (object, key);
    FM_CHECK (json_is_array (value), "JSON key \"%s\" missing or not an array", key);
    return value;
}

//  `finmatch status ID --json` live: checks every key and the state.
//  Returns the JSON (caller owns).
static json_t *
s_status_live (const char *router, const char *id, const char *code, const char *state)
{
    const char *args [] = { "--insecure", "--broker", router, "--json", "status", id,
                            "--enterprise", code, NULL };
    char *output;
    int rc = s_finmatch (&output, args);
    FM_CHECK (rc == 0, "finmatch status %s exited %d:\n%s", id, rc, output);
    json_t *json = s_json_line (output);
    FM_CHECK (streq (s_str (json, "request_id"), id), "request_id");
    FM_CHECK (streq (s_str (json, "enterprise_id"), code), "enterprise_id");
    FM_CHECK (streq (s_str (json, "state"), state), "state %s, want %s:\n%s",
              s_str (json, "state"), state, output);
    s_str (json, "accepted");
    s_str (json, "text");
    json_t *asked = s_array (json, "asked");
    FM_CHECK (json_array_size (asked) == 1
           && streq (json_string_value (json_array_get (asked, 0)), BANK),
              "asked is not [\"%s\"]:\n%s", BANK, output);
    json_t *offers = s_array (json, "offers");
    FM_CHECK (json_array_size (offers) == 1, "%zu offers", json_array_size (offers));
    json_t *offer = json_array_get (offers, 0);
    FM_CHECK (streq (s_str (offer, "offer_id"), BANK "/GRIDE"), "offer_id");
    FM_CHECK (json_integer_value (json_object_get (offer, "amount_fen")) == 100000000
           && json_integer_value (json_object_get (offer, "term_months")) == 12
           && json_integer_value (json_object_get (offer, "base_rate_bp")) == 345
           && json_integer_value (json_object_get (offer, "effective_rate_bp")) == 315,
              "offer figures:\n%s", output);
    FM_CHECK (json_array_size (s_array (json, "declines")) == 0, "declines");
    FM_CHECK (json_array_size (s_array (json, "missed")) == 0, "missed");
    zstr_free (&output);
    return json;
}


//  --------------------------------------------------------------------------

int
main (int argc, char *argv [])
{
    s_verbose = argc > 1 && streq (argv [1], "-v");
    zsys_init ();
    zsys_set_logident ("test_status");
    fm_proc_setup ("status", argv [0]);
    int64_t started = zclock_mono ();

    //  Broker: a long deadline, so the bank's held GRANT_QUERY is still
    //  pending while `finmatch status` runs (a bound, never waited out)
    fm_proc_system_t *sys = fm_proc_system_new (START_MS);
    const char *router = sys->router;
    fm_proc_t *broker = fm_proc_system_broker (sys, NULL, "broker/deadline_ms", "30000",
                                               NULL);
    fm_proc_system_wait_service (sys, FM_SERVICE_REQUEST);
    fm_client_t *client = sys->client;

    //  Recorder: subscribed before the request (the worker.ready of our
    //  bank, sent until it is recorded, proves the subscription)
    fm_proc_t *recorder = fm_proc_system_recorder (sys, NULL, NULL);
    const char *db = sys->db;
    char *registry = fm_proc_source_path ("tests/data/system/enterprises.csv");
    fm_proc_t *gov = fm_proc_system_gov (sys, "tests/data/system/gov.cfg", NULL,
                                         "gov/registry", registry, NULL);
    fm_proc_system_wait_service (sys, FM_SERVICE_GOV);

    //  Probe until the recorder listens: each malformed fm.request is
    //  answered ERROR 400 and published as input.rejected
    fm_proc_system_wait_recorder (sys, NULL);

    //  Our bank: READY for bank.TEST, a plain 7/MDP worker
    zsock_t *bank = zsock_new_dealer (router);
    FM_CHECK (bank, "bank socket");
    s_bank_send (bank, FM_MDPW_READY, NULL, NULL);
    fm_proc_system_wait_service (sys, "bank." BANK);

    //  1. A request: bank.TEST offers; RESULT
    const char *code = "91500105MA5U0A0B11";     //  first row of the registry
    fm_msg_t *msg = fm_msg_new (FM_MSG_REQUEST);
    snprintf (msg->request.enterprise_id, FM_ENTERPRISE_ID_SIZE, "%s", code);
    snprintf (msg->request.idem_key, FM_IDEM_KEY_SIZE, "status-1");
    msg->request.amount_fen = INT64_C (100000000);
    msg->request.term_months = 12;
    msg->request.consent = FM_CONSENT_ALL;
    char id [FM_REQUEST_ID_SIZE];
    fm_request_id_make (code, "status-1", id);
    fm_error_t err;
    FM_CHECK (fm_client_send (client, FM_SERVICE_REQUEST, msg, &err) == 0,
              "send: %s", err.text);
    fm_msg_destroy (&msg);
    fm_msg_t *query = s_bank_next (bank, FM_MSG_BANK_QUERY);
    fm_msg_t *answer = fm_msg_new (FM_MSG_BANK_ANSWER);
    snprintf (answer->request_id, FM_REQUEST_ID_SIZE, "%s", query->request_id);
    snprintf (answer->bank, FM_CODE_SIZE, BANK);
    fm_offer_t offer = s_offer (query);
    FM_CHECK (fm_msg_add_offer (answer, &offer) == 0, "add offer");
    s_bank_reply (bank, answer);
    fm_msg_destroy (&answer);
    fm_msg_destroy (&query);
    msg = fm_client_recv (client, REPLY_MS, &err);
    FM_CHECK (msg && msg->type == FM_MSG_RESULT && msg->offer_count == 1,
              "no RESULT with one offer (%d %s)", err.status, err.text);
    fm_msg_destroy (&msg);

    //  2. Live: offered
    json_t *json = s_status_live (router, id, code, "offered");
    FM_CHECK (streq (s_str (json, "accepted"), ""), "accepted before accept");
    json_decref (json);
    //  ... and the text form, in English
    const char *text_args [] = { "--insecure", "--broker", router, "--lang", "en",
                                 "status", id, NULL };
    char *output;
    int rc = s_finmatch (&output, text_args);
    FM_CHECK (rc == 0, "finmatch status (text) exited %d:\n%s", rc, output);
    char expected [128];
    snprintf (expected, sizeof expected, "Request %s  state offered", id);
    FM_CHECK (strstr (output, expected) && strstr (output, BANK "/GRIDE"),
              "text status lacks \"%s\" or the offer:\n%s", expected, output);
    zstr_free (&output);

    //  3. Accept; the bank holds the GRANT_QUERY: accepted
    msg = fm_msg_new (FM_MSG_ACCEPT);
    snprintf (msg->request_id, FM_REQUEST_ID_SIZE, "%s", id);
    snprintf (msg->request.enterprise_id, FM_ENTERPRISE_ID_SIZE, "%s", code);
    snprintf (msg->offer_id, FM_OFFER_ID_SIZE, BANK "/GRIDE");
    FM_CHECK (fm_client_send (client, FM_SERVICE_ACCEPT, msg, &err) == 0,
              "accept: %s", err.text);
    fm_msg_destroy (&msg);
    query = s_bank_next (bank, FM_MSG_GRANT_QUERY);
    json = s_status_live (router, id, code, "accepted");
    FM_CHECK (streq (s_str (json, "accepted"), BANK "/GRIDE"), "accepted offer");
    json_decref (json);

    //  4. The bank grants: granted
    fm_msg_t *confirmation = fm_msg_new (FM_MSG_CONFIRMATION);
    snprintf (confirmation->request_id, FM_REQUEST_ID_SIZE, "%s", id);
    snprintf (confirmation->request.enterprise_id, FM_ENTERPRISE_ID_SIZE, "%s",
              query->request.enterprise_id);
    fm_confirmation_t *c = &confirmation->confirmation;
    snprintf (c->offer_id, sizeof c->offer_id, BANK "/GRIDE");
    snprintf (c->bank, sizeof c->bank, BANK);
    c->granted = true;
    snprintf (c->loan_id, sizeof c->loan_id, BANK "-%s", id);
    c->amount_fen = INT64_C (100000000);
    c->term_months = 12;
    c->base_rate_bp = 345;
    c->effective_rate_bp = 315;
    s_bank_reply (bank, confirmation);
    fm_msg_destroy (&confirmation);
    fm_msg_destroy (&query);
    msg = fm_client_recv (client, REPLY_MS, &err);
    FM_CHECK (msg && msg->type == FM_MSG_CONFIRMATION && msg->confirmation.granted,
              "no granted CONFIRMATION (%d %s)", err.status, err.text);
    fm_msg_destroy (&msg);
    json = s_status_live (router, id, code, "granted");
    json_decref (json);

    //  5. An unknown request: exit 1; a malformed id: exit 2
    const char *unknown_args [] = { "--insecure", "--broker", router, "status",
                                    "0123456789abcdef", NULL };
    rc = s_finmatch (&output, unknown_args);
    FM_CHECK (rc == 1, "status of an unknown request exited %d:\n%s", rc, output);
    zstr_free (&output);
    const char *bad_args [] = { "--insecure", "--broker", router, "status", "XYZ", NULL };
    rc = s_finmatch (&output, bad_args);
    FM_CHECK (rc == 2, "status of a bad id exited %d:\n%s", rc, output);
    zstr_free (&output);

    //  6. From the log: stop the recorder once loan.granted is in (it
    //  flushes on SIGTERM) and the broker too, then read the file without
    //  any key: --db needs neither keys nor a broker
    fm_proc_db_wait (db, "SELECT COUNT(*) FROM events WHERE type = ?1", "loan.granted", 1,
                     REPLY_MS);
    rc = fm_proc_stop (recorder, 10000);
    FM_CHECK (rc == 0, "finmatch-recorder exited %d on SIGTERM", rc);
    zsock_destroy (&bank);
    fm_client_destroy (&sys->client);
    rc = fm_proc_stop (gov, 5000);
    FM_CHECK (rc == 0, "finmatch-gov exited %d on SIGTERM", rc);
    rc = fm_proc_stop (broker, 5000);
    FM_CHECK (rc == 0, "finmatch-broker exited %d on SIGTERM", rc);

    const char *db_args [] = { "--json", "status", id, "--db", db, NULL };
    rc = s_finmatch (&output, db_args);
    FM_CHECK (rc == 0, "finmatch status --db exited %d:\n%s", rc, output);
    json = s_json_line (output);
    FM_CHECK (streq (s_str (json, "request_id"), id), "request_id");
    FM_CHECK (streq (s_str (json, "state"), "granted"), "state %s from the log, want granted",
              s_str (json, "state"));
    json_t *list = s_array (json, "events");
    const char *types [] = { "request.received", "request.enriched", "request.dispatched",
                             "offer.made", "request.completed", "offer.accepted",
                             "loan.granted" };
    FM_CHECK (json_array_size (list) == sizeof types / sizeof types [0],
              "%zu events of %s in the log:\n%s", json_array_size (list), id, output);
    for (size_t index = 0; index < json_array_size (list); index++) {
        json_t *event = json_array_get (list, index);
        FM_CHECK (streq (s_str (event, "type"), types [index]), "event %zu is %s, want %s",
                  index, s_str (event, "type"), types [index]);
        s_str (event, "time");
        s_str (event, "bank");
        s_str (event, "offer_id");
        s_str (event, "text");
        s_str (event, "state");
    }
    json_t *last = json_array_get (list, json_array_size (list) - 1);
    FM_CHECK (streq (s_str (last, "state"), "granted") && streq (s_str (last, "bank"), BANK),
              "last event: state %s bank %s", s_str (last, "state"), s_str (last, "bank"));
    json_decref (json);
    zstr_free (&output);
    //  Text form from the log, English
    const char *db_text_args [] = { "--lang", "en", "status", id, "--db", db, NULL };
    rc = s_finmatch (&output, db_text_args);
    FM_CHECK (rc == 0, "finmatch status --db (text) exited %d:\n%s", rc, output);
    snprintf (expected, sizeof expected, "Request %s  state granted  (7 events)", id);
    FM_CHECK (strstr (output, expected), "no \"%s\" in:\n%s", expected, output);
    zstr_free (&output);
    //  A request the log does not know: exit 1
    const char *db_unknown_args [] = { "status", "0123456789abcdef", "--db", db, NULL };
    rc = s_finmatch (&output, db_unknown_args);
    FM_CHECK (rc == 1, "status --db of an unknown request exited %d:\n%s", rc, output);
    zstr_free (&output);
    //  The same log as schema version 3 wrote it (no request numbers,
    //  request_id indexed): the same 7 events
    char old_db [512];
    snprintf (old_db, sizeof old_db, "%s-3", db);
    sqlite3 *handle = NULL;
    FM_CHECK (sqlite3_open (db, &handle) == SQLITE_OK, "open %s", db);
    char *sql = zsys_sprintf ("VACUUM INTO '%s'", old_db);
    FM_CHECK (sqlite3_exec (handle, sql, NULL, NULL, NULL) == SQLITE_OK,
              "%s: %s", sql, sqlite3_errmsg (handle));
    zstr_free (&sql);
    sqlite3_close (handle);
    FM_CHECK (sqlite3_open (old_db, &handle) == SQLITE_OK, "open %s", old_db);
    FM_CHECK (sqlite3_exec (handle, FM_STORE_DOWNGRADE_4_TO_3, NULL, NULL, NULL) == SQLITE_OK,
              "downgrade: %s", sqlite3_errmsg (handle));
    sqlite3_close (handle);
    const char *old_args [] = { "--lang", "en", "status", id, "--db", old_db, NULL };
    rc = s_finmatch (&output, old_args);
    FM_CHECK (rc == 0, "finmatch status --db of a version 3 log exited %d:\n%s", rc, output);
    FM_CHECK (strstr (output, expected), "no \"%s\" in:\n%s", expected, output);
    zstr_free (&output);

    zstr_free (&registry);
    fm_proc_system_destroy (&sys);
    printf ("status: OK in %" PRId64 " ms\n", zclock_mono () - started);
    return fm_proc_teardown (true);
}
