/*  =========================================================================
    fm_broker_test - selftest of the broker actor

    Drives the real actor in-process on tcp://127.0.0.1:* with raw DEALER
    sockets that speak the 7/MDP frames and encode bodies with fm_proto,
    plus a SUB socket on the events.  Each sub-test starts its own broker
    (fresh epoch and tables) and reads as usage documentation: what a
    client, a gov worker and a bank worker send, and what exactly comes
    back, frame by frame and event by event.

    Every wait is a poll with a timeout; nothing sleeps.
    =========================================================================
*/

#include "fm_broker.h"
#include "fm_proto.h"
#include "fm_batch.h"
#include "fm_mdp.h"
#include "fm_ids.h"

#define WAIT_MS         3000    //  longest a correct broker makes us wait
#define QUIET_MS        150     //  "nothing arrives" window

//  The test's view of one broker
typedef struct {
    zactor_t *broker;
    char endpoint [64];         //  ROUTER, tcp://127.0.0.1:port
    char events [64];           //  XPUB
    zsock_t *sub;               //  SUB to every event
    zsock_t *marker;            //  DEALER "mark": its garbage is our fence
    uint64_t epoch;             //  of the events seen
    uint64_t seq;               //  last seq seen
    size_t batches;             //  event batches sub received (skipped)
    bool verbose;
} fixture_t;

//  Unified social credit code number n (valid check character)
static void
s_code (char *code, int n)
{
    snprintf (code, FM_ENTERPRISE_ID_SIZE, "9150010%010d", n);
    code [17] = fm_credit_code_check_char (code);
    code [18] = 0;
    assert (fm_credit_code_valid (code));
}


//  --------------------------------------------------------------------------
//  Events

//  Decode an event body the broker published; a body that does not decode
//  fails the test (what names the message in the report)
static void
s_body_event (zframe_t *body, const char *what, fm_event_t *event)
{
    fm_error_t err;
    if (fm_event_decode (zframe_data (body), zframe_size (body), event, &err)) {
        fprintf (stderr, "fm_broker_test: bad event %s: %s\n", what, err.text);
        assert (false);
    }
}

//  Next event within timeout_ms into *event.  Returns 0, or -1 on timeout.
//  Checks the topic matches the body; when check_seq, that the epoch is
//  the fixture's and seq is exactly the next one.
static int
s_event_next (fixture_t *fx, fm_event_t *event, int timeout_ms, bool check_seq)
{
    zpoller_t *poller = zpoller_new (fx->sub, NULL);
    zmsg_t *msg = NULL;
    while (!msg) {
        void *which = zpoller_wait (poller, timeout_ms);
        if (which != fx->sub)
            break;
        msg = zmsg_recv (fx->sub);
        assert (msg && zmsg_size (msg) == 2);
        //  A subscriber to everything gets the batches too (s_test_batches)
        if (zframe_data (zmsg_first (msg)) [0] == '$') {
            fx->batches++;
            zmsg_destroy (&msg);
        }
    }
    zpoller_destroy (&poller);
    if (!msg)
        return -1;
    char *topic = zmsg_popstr (msg);
    zframe_t *body = zmsg_pop (msg);
    s_body_event (body, topic, event);
    char expected [128];
    fm_event_topic (event, expected, sizeof (expected));
    assert (streq (topic, expected));
    if (fx->verbose)
        zsys_debug ("test: event %" PRIu64 " %s", event->seq, topic);
    if (check_seq) {
        assert (event->epoch == fx->epoch);
        if (event->seq != fx->seq + 1) {
            fprintf (stderr, "fm_broker_test: seq %" PRIu64 " after %" PRIu64 "\n",
                     event->seq, fx->seq);
            assert (false);
        }
    }
    fx->epoch = event->epoch;
    fx->seq = event->seq;
    zstr_free (&topic);
    zframe_destroy (&body);
    zmsg_destroy (&msg);
    return 0;
}

//  The next event must be of this type (and gap-free).  Returns it.
static fm_event_t
s_expect (fixture_t *fx, fm_event_type_t type)
{
    fm_event_t event;
    if (s_event_next (fx, &event, WAIT_MS, true)) {
        fprintf (stderr, "fm_broker_test: no event, expected %s\n",
                 fm_event_type_name (type));
        assert (false);
    }
    if (event.type != type) {
        fprintf (stderr, "fm_broker_test: got %s (%s), expected %s\n",
                 fm_event_type_name (event.type), event.text,
                 fm_event_type_name (type));
        assert (false);
    }
    return event;
}

//  Send garbage from the marker socket: the broker answers nothing but
//  publishes input.rejected for peer "mark".
static void
s_mark_send (fixture_t *fx)
{
    zstr_sendx (fx->marker, "", "MARK", NULL);
}

//  Fence: no event happened since the last one we read.  The marker's
//  input.rejected must be the very next event.
static void
s_expect_no_events (fixture_t *fx)
{
    s_mark_send (fx);
    fm_event_t event = s_expect (fx, FM_EV_INPUT_REJECTED);
    assert (streq (event.peer, "6d61726b"));        //  "mark"
}

//  Wait until our subscription is live (XPUB drops events sent before),
//  then read up to a fence so the next event is the next thing we do.
static void
s_events_sync (fixture_t *fx)
{
    zsock_t *probe = zsock_new (ZMQ_DEALER);
    zsock_set_identity (probe, "prob");
    assert (zsock_connect (probe, "%s", fx->endpoint) == 0);
    fm_event_t event;
    bool live = false;
    for (int attempt = 0; attempt < 100 && !live; attempt++) {
        zstr_sendx (probe, "", "PROBE", NULL);
        live = s_event_next (fx, &event, 50, false) == 0;
    }
    assert (live);
    s_mark_send (fx);
    do
        assert (s_event_next (fx, &event, WAIT_MS, false) == 0);
    while (strneq (event.peer, "6d61726b"));
    zsock_destroy (&probe);
}

static void
s_set (fixture_t *fx, const char *name, const char *value)
{
    zstr_sendx (fx->broker, "SET", name, value, NULL);
    char *reply = zstr_recv (fx->broker);
    assert (reply && streq (reply, "0"));
    zstr_free (&reply);
}

//  Start a broker on ephemeral ports with a synced SUB; with journal (a
//  directory), on that journal, a short resume window (liveness 2 x
//  100 ms + the reconnect delay: workers must announce their own
//  heartbeat) and no replay store, so that restarts prune every segment
//  nothing pins.
static void
s_fixture_open (fixture_t *fx, bool verbose, const char *journal)
{
    memset (fx, 0, sizeof (*fx));
    fx->verbose = verbose;
    fx->broker = zactor_new (fm_broker, NULL);
    assert (fx->broker);
    if (verbose)
        zstr_send (fx->broker, "VERBOSE");
    char *reply;
    if (journal) {
        s_set (fx, "heartbeat_ms", "100");
        s_set (fx, "liveness", "2");
        s_set (fx, "replay_max", "0");
        zstr_sendx (fx->broker, "JOURNAL", journal, "normal", NULL);
        reply = zstr_recv (fx->broker);
        assert (reply && streq (reply, "0"));
        zstr_free (&reply);
    }
    else
        //  The raw workers of these tests do not heartbeat: the classic
        //  7/MDP interval keeps them alive through a test even under ASan
        //  (the default is 500 ms); expiry tests set their own
        s_set (fx, "heartbeat_ms", "2500");
    zstr_sendx (fx->broker, "BIND", "tcp://127.0.0.1:*", NULL);
    reply = zstr_recv (fx->broker);
    assert (reply && streq (reply, "0"));
    zstr_free (&reply);
    zstr_sendx (fx->broker, "EVENTS", "tcp://127.0.0.1:*", NULL);
    reply = zstr_recv (fx->broker);
    assert (reply && streq (reply, "0"));
    zstr_free (&reply);
    zstr_sendx (fx->broker, "PORTS", NULL);
    char *router_port, *events_port;
    assert (zstr_recvx (fx->broker, &router_port, &events_port, NULL) == 2);
    assert (atoi (router_port) > 0 && atoi (events_port) > 0);
    snprintf (fx->endpoint, sizeof (fx->endpoint), "tcp://127.0.0.1:%s", router_port);
    snprintf (fx->events, sizeof (fx->events), "tcp://127.0.0.1:%s", events_port);
    zstr_free (&router_port);
    zstr_free (&events_port);
    fx->sub = zsock_new_sub (fx->events, "");
    assert (fx->sub);
    fx->marker = zsock_new (ZMQ_DEALER);
    zsock_set_identity (fx->marker, "mark");
    assert (zsock_connect (fx->marker, "%s", fx->endpoint) == 0);
    s_events_sync (fx);
}

static void
s_fixture_start (fixture_t *fx, bool verbose)
{
    s_fixture_open (fx, verbose, NULL);
}

static void
s_fixture_stop (fixture_t *fx)
{
    zsock_destroy (&fx->marker);
    zsock_destroy (&fx->sub);
    zactor_destroy (&fx->broker);
}


//  --------------------------------------------------------------------------
//  A fake worker: a DEALER speaking 7/MDP worker frames

//  Connect and send READY for service; capacity 0 = a plain 7/MDP worker
//  (no options frame), else options announcing capacity, heartbeat_ms
//  and batch (query batches, SPEC 4.2).  Returns the socket.
static zsock_t *
s_worker_new_batch (fixture_t *fx, const char *service, uint32_t capacity,
                    uint32_t heartbeat_ms, uint32_t batch)
{
    zsock_t *worker = zsock_new (ZMQ_DEALER);
    assert (worker);
    assert (zsock_connect (worker, "%s", fx->endpoint) == 0);
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "");
    zmsg_addstr (msg, FM_MDPW);
    zmsg_addmem (msg, "\001", 1);
    zmsg_addstr (msg, service);
    if (capacity) {
        fm_ready_opts_t opts = { .capacity = capacity, .heartbeat_ms = heartbeat_ms,
                                 .batch = batch };
        zframe_t *frame = fm_ready_opts_encode (&opts);
        assert (frame);
        zmsg_append (msg, &frame);
    }
    assert (zmsg_send (&msg, worker) == 0);
    return worker;
}

//  The same without a batch
static zsock_t *
s_worker_new (fixture_t *fx, const char *service, uint32_t capacity,
              uint32_t heartbeat_ms)
{
    return s_worker_new_batch (fx, service, capacity, heartbeat_ms, 1);
}

//  Next command to a fake worker within timeout_ms, skipping HEARTBEATs
//  unless keep_heartbeats.  Returns the command byte, or -1 on timeout.
//  For REQUEST, *body_p is the decoded body and reply_to (17 bytes) the
//  token to echo.
static int
s_worker_next (zsock_t *worker, int timeout_ms, bool keep_heartbeats,
               char *reply_to, fm_msg_t **body_p)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    zpoller_t *poller = zpoller_new (worker, NULL);
    int command = -1;
    while (command == -1) {
        int64_t left = deadline - zclock_mono ();
        if (left < 0 || zpoller_wait (poller, (int) left) != worker)
            break;
        zmsg_t *msg = zmsg_recv (worker);
        assert (msg);
        zframe_t *empty = zmsg_pop (msg);
        assert (empty && zframe_size (empty) == 0);
        char *protocol = zmsg_popstr (msg);
        assert (protocol && streq (protocol, FM_MDPW));
        zframe_t *frame = zmsg_pop (msg);
        assert (frame && zframe_size (frame) == 1);
        int received = zframe_data (frame) [0];
        if (received == FM_MDPW_REQUEST) {
            char *token = zmsg_popstr (msg);
            zframe_t *blank = zmsg_pop (msg);
            zframe_t *body = zmsg_pop (msg);
            assert (token && strlen (token) == 16 && blank && zframe_size (blank) == 0);
            assert (body && zmsg_size (msg) == 0);
            if (reply_to)
                strcpy (reply_to, token);
            fm_error_t err;
            fm_msg_t *decoded = fm_msg_decode (zframe_data (body), zframe_size (body), &err);
            assert (decoded);
            assert (streq (decoded->request_id, token));
            if (body_p)
                *body_p = decoded;
            else
                fm_msg_destroy (&decoded);
            zstr_free (&token);
            zframe_destroy (&blank);
            zframe_destroy (&body);
        }
        else
            assert (zmsg_size (msg) == 0);
        if (received != FM_MDPW_HEARTBEAT || keep_heartbeats)
            command = received;
        zframe_destroy (&empty);
        zstr_free (&protocol);
        zframe_destroy (&frame);
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    return command;
}

//  The worker must receive a REQUEST of this type.  Returns the body.
static fm_msg_t *
s_worker_expect (zsock_t *worker, fm_msg_type_t type)
{
    fm_msg_t *body = NULL;
    char reply_to [FM_REQUEST_ID_SIZE];
    int command = s_worker_next (worker, WAIT_MS, false, reply_to, &body);
    assert (command == FM_MDPW_REQUEST);
    assert (body->type == type);
    return body;
}

//  The worker must receive DISCONNECT.
static void
s_worker_expect_disconnect (zsock_t *worker)
{
    assert (s_worker_next (worker, WAIT_MS, false, NULL, NULL) == FM_MDPW_DISCONNECT);
}

//  The worker receives nothing but heartbeats for QUIET_MS.
static void
s_worker_expect_quiet (zsock_t *worker)
{
    assert (s_worker_next (worker, QUIET_MS, false, NULL, NULL) == -1);
}

//  REPLY with msg (borrowed) to the token in msg->request_id.
static void
s_worker_reply (zsock_t *worker, const fm_msg_t *msg)
{
    fm_error_t err;
    zframe_t *body = fm_msg_encode (msg, &err);
    assert (body);
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, "");
    zmsg_addstr (reply, FM_MDPW);
    zmsg_addmem (reply, "\003", 1);
    zmsg_addstr (reply, msg->request_id);
    zmsg_addstr (reply, "");
    zmsg_append (reply, &body);
    assert (zmsg_send (&reply, worker) == 0);
}

//  gov.credit's answer to a CREDIT_QUERY: a profile in grid JB-01 with
//  the party-building lever when consented.
static fm_msg_t *
s_profile (const fm_msg_t *query)
{
    fm_msg_t *msg = fm_msg_new (FM_MSG_PROFILE);
    strcpy (msg->request_id, query->request_id);
    fm_profile_t *profile = &msg->profile;
    strcpy (profile->enterprise_id, query->request.enterprise_id);
    strcpy (profile->name, "重庆江北某某科技有限公司");
    strcpy (profile->industry, "C39");
    strcpy (profile->grid_id, "JB-01");
    profile->shared = query->request.consent;
    if (profile->shared & FM_CONSENT_TAX)
        profile->tax_grade = 'A';
    if (profile->shared & FM_CONSENT_PARTY) {
        profile->party_grade = 'A';
        fm_lever_t *lever = &profile->levers [profile->lever_count++];
        strcpy (lever->code, "party_building");
        strcpy (lever->name, "党建增信(A级)");
        lever->bp = 30;
        lever->payer = FM_PAYER_BANK;
    }
    return msg;
}

//  An offer as a bank would make it
static fm_offer_t
s_offer (const char *bank, const char *product, int32_t rate_bp, int64_t amount_fen)
{
    fm_offer_t offer;
    memset (&offer, 0, sizeof (offer));
    snprintf (offer.offer_id, sizeof (offer.offer_id), "%s/%s", bank, product);
    snprintf (offer.bank, sizeof (offer.bank), "%s", bank);
    snprintf (offer.bank_name, sizeof (offer.bank_name), "%s银行", bank);
    snprintf (offer.product, sizeof (offer.product), "%s", product);
    snprintf (offer.product_name, sizeof (offer.product_name), "网格e贷");
    offer.amount_fen = amount_fen;
    offer.term_months = 12;
    offer.base_rate_bp = rate_bp + 30;
    offer.effective_rate_bp = rate_bp;
    strcpy (offer.levers [0].code, "party_building");
    strcpy (offer.levers [0].name, "党建增信(A级)");
    offer.levers [0].bp = 30;
    offer.lever_count = 1;
    offer.valid_until_us = zclock_time () * 1000 + INT64_C (7) * 86400 * 1000000;
    return offer;
}

//  A BANK_ANSWER to query from bank with the given offers
static fm_msg_t *
s_answer (const fm_msg_t *query, const char *bank, const fm_offer_t *offers, size_t count)
{
    fm_msg_t *msg = fm_msg_new (FM_MSG_BANK_ANSWER);
    strcpy (msg->request_id, query->request_id);
    strcpy (msg->bank, bank);
    for (size_t index = 0; index < count; index++)
        assert (fm_msg_add_offer (msg, &offers [index]) == 0);
    return msg;
}

//  A BANK_ANSWER declining with two reasons
static fm_msg_t *
s_decline (const fm_msg_t *query, const char *bank)
{
    fm_msg_t *msg = fm_msg_new (FM_MSG_BANK_ANSWER);
    strcpy (msg->request_id, query->request_id);
    strcpy (msg->bank, bank);
    fm_decline_t decline;
    memset (&decline, 0, sizeof (decline));
    strcpy (decline.bank, bank);
    decline.reasons [0].code = FM_REASON_AMOUNT_ABOVE_MAX;
    strcpy (decline.reasons [0].product, "P1");
    strcpy (decline.reasons [0].text, "金额 500万元 超过产品上限 300万元");
    decline.reasons [1].code = FM_REASON_TERM_OUT_OF_RANGE;
    strcpy (decline.reasons [1].product, "P2");
    strcpy (decline.reasons [1].text, "期限 60个月 超出 3-36个月");
    decline.reason_count = 2;
    assert (fm_msg_add_decline (msg, &decline) == 0);
    return msg;
}


//  --------------------------------------------------------------------------
//  A fake client: a DEALER speaking 7/MDP client frames

static zsock_t *
s_client_new (fixture_t *fx)
{
    zsock_t *client = zsock_new (ZMQ_DEALER);
    assert (client);
    assert (zsock_connect (client, "%s", fx->endpoint) == 0);
    return client;
}

//  Send raw body bytes to service
static void
s_client_send_raw (zsock_t *client, const char *service, const void *data, size_t size)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "");
    zmsg_addstr (msg, FM_MDPC);
    zmsg_addstr (msg, service);
    zmsg_addmem (msg, data, size);
    assert (zmsg_send (&msg, client) == 0);
}

//  Encode msg (borrowed) and send it to service
static void
s_client_send (zsock_t *client, const char *service, const fm_msg_t *msg)
{
    fm_error_t err;
    zframe_t *body = fm_msg_encode (msg, &err);
    assert (body);
    s_client_send_raw (client, service, zframe_data (body), zframe_size (body));
    zframe_destroy (&body);
}

//  The next reply must come on service within WAIT_MS.  Returns the body
//  frame (caller destroys).
static zframe_t *
s_client_frame (zsock_t *client, const char *service)
{
    zpoller_t *poller = zpoller_new (client, NULL);
    void *which = zpoller_wait (poller, WAIT_MS);
    zpoller_destroy (&poller);
    assert (which == client);
    zmsg_t *msg = zmsg_recv (client);
    assert (msg && zmsg_size (msg) == 4);
    char *empty = zmsg_popstr (msg);
    char *protocol = zmsg_popstr (msg);
    char *reply_service = zmsg_popstr (msg);
    assert (streq (empty, "") && streq (protocol, FM_MDPC));
    assert (streq (reply_service, service));
    zframe_t *body = zmsg_pop (msg);
    zstr_free (&empty);
    zstr_free (&protocol);
    zstr_free (&reply_service);
    zmsg_destroy (&msg);
    return body;
}

//  The next reply, decoded, must be of type (and status for ERROR/RESULT)
static fm_msg_t *
s_client_expect (zsock_t *client, const char *service, fm_msg_type_t type,
                 uint16_t status)
{
    zframe_t *body = s_client_frame (client, service);
    fm_error_t err;
    fm_msg_t *msg = fm_msg_decode (zframe_data (body), zframe_size (body), &err);
    assert (msg);
    zframe_destroy (&body);
    if (msg->type != type || (status && msg->status != status)) {
        fprintf (stderr, "fm_broker_test: got %s %u '%s', expected %s %u\n",
                 fm_msg_type_name (msg->type), msg->status, msg->text,
                 fm_msg_type_name (type), status);
        assert (false);
    }
    return msg;
}

//  Nothing arrives for QUIET_MS
static void
s_client_expect_quiet (zsock_t *client)
{
    zpoller_t *poller = zpoller_new (client, NULL);
    assert (zpoller_wait (poller, QUIET_MS) == NULL);
    zpoller_destroy (&poller);
}

//  A REQUEST for enterprise with idempotency key and amount, all consents,
//  no grid (the broker fills it from the profile)
static fm_msg_t *
s_request (const char *enterprise, const char *key, int64_t amount_fen)
{
    fm_msg_t *msg = fm_msg_new (FM_MSG_REQUEST);
    fm_request_t *request = &msg->request;
    strcpy (request->enterprise_id, enterprise);
    strcpy (request->idem_key, key);
    request->amount_fen = amount_fen;
    request->term_months = 12;
    strcpy (request->purpose, "流动资金周转");
    request->consent = FM_CONSENT_ALL;
    return msg;
}

//  An ACCEPT of offer_id in request_id on behalf of enterprise
static fm_msg_t *
s_accept (const char *request_id, const char *enterprise, const char *offer_id)
{
    fm_msg_t *msg = fm_msg_new (FM_MSG_ACCEPT);
    strcpy (msg->request_id, request_id);
    strcpy (msg->request.enterprise_id, enterprise);
    strcpy (msg->offer_id, offer_id);
    return msg;
}

//  Gov worker: take one CREDIT_QUERY and answer it with a profile
static void
s_gov_answers (zsock_t *gov)
{
    fm_msg_t *query = s_worker_expect (gov, FM_MSG_CREDIT_QUERY);
    fm_msg_t *profile = s_profile (query);
    s_worker_reply (gov, profile);
    fm_msg_destroy (&profile);
    fm_msg_destroy (&query);
}

//  Bank worker: take one BANK_QUERY and answer it with one offer
static void
s_bank_answers (zsock_t *bank, const char *code, const char *product, int32_t rate_bp)
{
    fm_msg_t *query = s_worker_expect (bank, FM_MSG_BANK_QUERY);
    fm_offer_t offer = s_offer (code, product, rate_bp, query->request.amount_fen);
    fm_msg_t *answer = s_answer (query, code, &offer, 1);
    s_worker_reply (bank, answer);
    fm_msg_destroy (&answer);
    fm_msg_destroy (&query);
}


//  --------------------------------------------------------------------------
//  (a) A request matched end to end: gov enriches, three banks answer,
//      the client gets the ranked RESULT, every step is an event with
//      seq n, n+1, n+2...

static void
s_test_matching (bool verbose)
{
    fixture_t fx;
    s_fixture_start (&fx, verbose);
    uint64_t first_seq = fx.seq;

    //  Workers register: the READY options frame announces capacity; a
    //  plain 7/MDP worker (CQRCB) sends none and counts as capacity 1
    zsock_t *gov = s_worker_new (&fx, "gov.credit", 4, 1000);
    fm_event_t event = s_expect (&fx, FM_EV_WORKER_READY);
    assert (streq (event.service, "gov.credit") && event.count == 4);
    assert (strlen (event.peer) == 10);             //  5-byte routing id
    zsock_t *cqrcb = s_worker_new (&fx, "bank.CQRCB", 0, 0);
    event = s_expect (&fx, FM_EV_WORKER_READY);
    assert (streq (event.service, "bank.CQRCB") && event.count == 1);
    zsock_t *abc = s_worker_new (&fx, "bank.ABC", 8, 2500);
    event = s_expect (&fx, FM_EV_WORKER_READY);
    assert (streq (event.service, "bank.ABC") && event.count == 8);
    zsock_t *boc = s_worker_new (&fx, "bank.BOC", 2, 0);
    s_expect (&fx, FM_EV_WORKER_READY);

    //  The client knows the request id before sending: SHA-1 of
    //  enterprise and key
    char code [FM_ENTERPRISE_ID_SIZE];
    s_code (code, 1);
    char id [FM_REQUEST_ID_SIZE];
    fm_request_id_make (code, "a-1", id);
    zsock_t *client = s_client_new (&fx);
    fm_msg_t *request = s_request (code, "a-1", INT64_C (300000000));    //  300万元
    s_client_send (client, FM_SERVICE_REQUEST, request);

    event = s_expect (&fx, FM_EV_REQUEST_RECEIVED);
    assert (streq (event.request_id, id) && streq (event.enterprise_id, code));
    assert (event.amount_fen == INT64_C (300000000) && event.term_months == 12);
    assert (streq (event.text, "流动资金周转") && streq (event.grid_id, ""));

    //  gov.credit gets a CREDIT_QUERY carrying the consent
    fm_msg_t *query = s_worker_expect (gov, FM_MSG_CREDIT_QUERY);
    assert (streq (query->request_id, id));
    assert (streq (query->request.enterprise_id, code));
    assert (query->request.consent == FM_CONSENT_ALL);
    fm_msg_t *profile = s_profile (query);
    s_worker_reply (gov, profile);
    fm_msg_destroy (&profile);
    fm_msg_destroy (&query);

    event = s_expect (&fx, FM_EV_REQUEST_ENRICHED);
    assert (streq (event.grid_id, "JB-01"));        //  filled from the profile
    assert (streq (event.industry, "C39") && event.lever_count == 1);
    assert (streq (event.levers [0].code, "party_building") && event.levers [0].bp == 30);
    event = s_expect (&fx, FM_EV_REQUEST_DISPATCHED);
    assert (event.count == 3);

    //  Every bank gets the same BANK_QUERY: request (grid filled) + profile
    fm_msg_t *q_cqrcb = s_worker_expect (cqrcb, FM_MSG_BANK_QUERY);
    fm_msg_t *q_abc = s_worker_expect (abc, FM_MSG_BANK_QUERY);
    fm_msg_t *q_boc = s_worker_expect (boc, FM_MSG_BANK_QUERY);
    assert (streq (q_cqrcb->request_id, id));
    assert (streq (q_cqrcb->request.grid_id, "JB-01"));
    assert (q_cqrcb->request.amount_fen == INT64_C (300000000));
    assert (streq (q_cqrcb->profile.industry, "C39"));
    assert (q_cqrcb->profile.tax_grade == 'A');

    //  CQRCB offers two products, ABC one, BOC declines
    fm_offer_t offers [2] = {
        s_offer ("CQRCB", "GRIDE", 300, INT64_C (300000000)),
        s_offer ("CQRCB", "CYD", 280, INT64_C (100000000))
    };
    fm_msg_t *answer = s_answer (q_cqrcb, "CQRCB", offers, 2);
    s_worker_reply (cqrcb, answer);
    fm_msg_destroy (&answer);
    event = s_expect (&fx, FM_EV_OFFER_MADE);
    assert (streq (event.offer_id, "CQRCB/GRIDE") && streq (event.product, "GRIDE"));
    assert (event.effective_rate_bp == 300 && event.base_rate_bp == 330);
    assert (event.amount_fen == INT64_C (300000000) && event.lever_count == 1);
    assert (streq (event.grid_id, "JB-01"));
    event = s_expect (&fx, FM_EV_OFFER_MADE);
    assert (streq (event.offer_id, "CQRCB/CYD"));

    fm_offer_t abc_offer = s_offer ("ABC", "P1", 300, INT64_C (300000000));
    answer = s_answer (q_abc, "ABC", &abc_offer, 1);
    s_worker_reply (abc, answer);
    fm_msg_destroy (&answer);
    event = s_expect (&fx, FM_EV_OFFER_MADE);
    assert (streq (event.bank, "ABC"));

    answer = s_decline (q_boc, "BOC");
    s_worker_reply (boc, answer);
    fm_msg_destroy (&answer);
    event = s_expect (&fx, FM_EV_DECLINE_MADE);
    assert (streq (event.bank, "BOC") && event.reason_code == 102);
    assert (streq (event.text, "102:P1;103:P2"));

    //  All answered: RESULT at once, ranked by rate, then amount, bank
    event = s_expect (&fx, FM_EV_REQUEST_COMPLETED);
    assert (event.status == 200 && event.count == 3);
    fm_msg_t *result = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_RESULT, 200);
    assert (streq (result->request_id, id));
    assert (streq (result->request.enterprise_id, code));
    assert (streq (result->request.idem_key, "a-1"));
    assert (result->offer_count == 3);
    assert (streq (result->offers [0].offer_id, "CQRCB/CYD"));     //  280 bp
    assert (streq (result->offers [1].offer_id, "ABC/P1"));        //  300, ABC < CQRCB
    assert (streq (result->offers [2].offer_id, "CQRCB/GRIDE"));
    assert (result->decline_count == 1 && streq (result->declines [0].bank, "BOC"));
    assert (result->declines [0].reason_count == 2);
    assert (result->timed_out_count == 0);
    fm_msg_destroy (&result);
    //  Gap-free from the first event we saw: 4 ready + 8 request events
    assert (fx.seq == first_seq + 12);
    s_expect_no_events (&fx);

    fm_msg_destroy (&q_cqrcb);
    fm_msg_destroy (&q_abc);
    fm_msg_destroy (&q_boc);
    fm_msg_destroy (&request);
    zsock_destroy (&client);
    zsock_destroy (&gov);
    zsock_destroy (&cqrcb);
    zsock_destroy (&abc);
    zsock_destroy (&boc);
    s_fixture_stop (&fx);
}


//  --------------------------------------------------------------------------
//  (b) Deadlines: a silent bank is listed in timed_out after deadline_ms;
//      its late answer is only a reply.late event; a silent gov is 504

static void
s_test_deadlines (bool verbose)
{
    fixture_t fx;
    s_fixture_start (&fx, verbose);
    s_set (&fx, "deadline_ms", "200");
    s_set (&fx, "gov_deadline_ms", "100");
    zsock_t *gov = s_worker_new (&fx, "gov.credit", 0, 0);
    s_expect (&fx, FM_EV_WORKER_READY);
    zsock_t *abc = s_worker_new (&fx, "bank.ABC", 0, 0);
    s_expect (&fx, FM_EV_WORKER_READY);
    zsock_t *silent = s_worker_new (&fx, "bank.CQRCB", 0, 0);   //  capacity 1
    s_expect (&fx, FM_EV_WORKER_READY);

    char code [FM_ENTERPRISE_ID_SIZE];
    s_code (code, 2);
    char id [FM_REQUEST_ID_SIZE];
    fm_request_id_make (code, "b-1", id);
    zsock_t *client = s_client_new (&fx);
    fm_msg_t *request = s_request (code, "b-1", INT64_C (50000000));
    s_client_send (client, FM_SERVICE_REQUEST, request);
    fm_msg_destroy (&request);
    s_expect (&fx, FM_EV_REQUEST_RECEIVED);
    //  The bank deadline starts after the profile we are about to send
    int64_t before_dispatch = zclock_mono ();
    s_gov_answers (gov);
    s_expect (&fx, FM_EV_REQUEST_ENRICHED);
    s_expect (&fx, FM_EV_REQUEST_DISPATCHED);
    s_bank_answers (abc, "ABC", "P1", 320);
    s_expect (&fx, FM_EV_OFFER_MADE);
    fm_msg_t *late_query = s_worker_expect (silent, FM_MSG_BANK_QUERY);

    //  CQRCB never answers: after 200 ms the RESULT lists it
    fm_event_t event = s_expect (&fx, FM_EV_BANK_TIMEOUT);
    assert (streq (event.bank, "CQRCB") && streq (event.request_id, id));
    assert (zclock_mono () - before_dispatch >= 199);   //  not before the deadline
    //  ...and it is an SLA breach: the deadline and how long it waited
    event = s_expect (&fx, FM_EV_SLA_BREACH);
    assert (streq (event.bank, "CQRCB") && streq (event.request_id, id));
    assert (event.count == 200 && event.latency_us >= 199000);
    assert (streq (event.offer_id, ""));
    event = s_expect (&fx, FM_EV_REQUEST_COMPLETED);
    assert (event.status == 200 && event.count == 1);
    fm_msg_t *result = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_RESULT, 200);
    assert (result->offer_count == 1 && streq (result->offers [0].offer_id, "ABC/P1"));
    assert (result->timed_out_count == 1 && streq (result->timed_out [0], "CQRCB"));
    fm_msg_destroy (&result);

    //  Its answer now is late: an event, nothing to the client
    fm_offer_t offer = s_offer ("CQRCB", "GRIDE", 250, INT64_C (50000000));
    fm_msg_t *answer = s_answer (late_query, "CQRCB", &offer, 1);
    s_worker_reply (silent, answer);
    fm_msg_destroy (&answer);
    fm_msg_destroy (&late_query);
    event = s_expect (&fx, FM_EV_LATE_REPLY);
    assert (streq (event.request_id, id) && streq (event.bank, "CQRCB"));
    assert (streq (event.service, "bank.CQRCB"));
    assert (event.latency_us >= 200000);    //  how late: past the 200 ms
    s_client_expect_quiet (client);

    //  The deadline gave CQRCB's capacity back: it gets the next query
    request = s_request (code, "b-2", INT64_C (50000000));
    s_client_send (client, FM_SERVICE_REQUEST, request);
    fm_msg_destroy (&request);
    s_expect (&fx, FM_EV_REQUEST_RECEIVED);
    s_gov_answers (gov);
    s_expect (&fx, FM_EV_REQUEST_ENRICHED);
    s_expect (&fx, FM_EV_REQUEST_DISPATCHED);
    s_bank_answers (silent, "CQRCB", "GRIDE", 250);
    s_expect (&fx, FM_EV_OFFER_MADE);
    s_bank_answers (abc, "ABC", "P1", 320);
    s_expect (&fx, FM_EV_OFFER_MADE);
    s_expect (&fx, FM_EV_REQUEST_COMPLETED);
    result = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_RESULT, 200);
    assert (result->offer_count == 2 && result->timed_out_count == 0);
    fm_msg_destroy (&result);

    //  A silent gov.credit: ERROR 504 after gov_deadline_ms
    request = s_request (code, "b-3", INT64_C (50000000));
    s_client_send (client, FM_SERVICE_REQUEST, request);
    fm_msg_destroy (&request);
    s_expect (&fx, FM_EV_REQUEST_RECEIVED);
    fm_msg_t *ignored = s_worker_expect (gov, FM_MSG_CREDIT_QUERY);
    event = s_expect (&fx, FM_EV_REQUEST_COMPLETED);
    assert (event.status == 504);
    fm_msg_t *error = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_ERROR, 504);
    assert (strstr (error->text, "gov.credit"));
    fm_msg_destroy (&error);
    //  and its late profile is only an event
    fm_msg_t *profile = s_profile (ignored);
    s_worker_reply (gov, profile);
    fm_msg_destroy (&profile);
    fm_msg_destroy (&ignored);
    event = s_expect (&fx, FM_EV_LATE_REPLY);
    assert (streq (event.service, "gov.credit") && streq (event.bank, ""));

    zsock_destroy (&client);
    zsock_destroy (&gov);
    zsock_destroy (&abc);
    zsock_destroy (&silent);
    s_fixture_stop (&fx);
}


//  --------------------------------------------------------------------------
//  (c) Missing services: no gov -> ERROR 503; no bank -> RESULT 503;
//      gov ERROR 404 -> client ERROR 404

static void
s_test_unavailable (bool verbose)
{
    fixture_t fx;
    s_fixture_start (&fx, verbose);
    char code [FM_ENTERPRISE_ID_SIZE];
    s_code (code, 3);
    zsock_t *client = s_client_new (&fx);

    //  Nobody registered
    fm_msg_t *request = s_request (code, "c-1", INT64_C (10000000));
    s_client_send (client, FM_SERVICE_REQUEST, request);
    fm_msg_destroy (&request);
    s_expect (&fx, FM_EV_REQUEST_RECEIVED);
    fm_event_t event = s_expect (&fx, FM_EV_REQUEST_COMPLETED);
    assert (event.status == 503 && event.count == 0);
    fm_msg_t *error = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_ERROR, 503);
    assert (strlen (error->request_id) == 16);
    fm_msg_destroy (&error);

    //  gov.credit but no bank
    zsock_t *gov = s_worker_new (&fx, "gov.credit", 0, 0);
    s_expect (&fx, FM_EV_WORKER_READY);
    request = s_request (code, "c-2", INT64_C (10000000));
    s_client_send (client, FM_SERVICE_REQUEST, request);
    fm_msg_destroy (&request);
    s_expect (&fx, FM_EV_REQUEST_RECEIVED);
    s_gov_answers (gov);
    s_expect (&fx, FM_EV_REQUEST_ENRICHED);
    event = s_expect (&fx, FM_EV_REQUEST_COMPLETED);
    assert (event.status == 503);
    fm_msg_t *result = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_RESULT, 503);
    assert (streq (result->text, "no bank service registered"));
    assert (result->offer_count == 0);
    fm_msg_destroy (&result);

    //  gov.credit does not know the enterprise
    request = s_request (code, "c-3", INT64_C (10000000));
    s_client_send (client, FM_SERVICE_REQUEST, request);
    fm_msg_destroy (&request);
    s_expect (&fx, FM_EV_REQUEST_RECEIVED);
    fm_msg_t *query = s_worker_expect (gov, FM_MSG_CREDIT_QUERY);
    fm_msg_t *not_found = fm_msg_new_error (query->request_id, FM_STATUS_NOT_FOUND,
                                            "no such enterprise");
    s_worker_reply (gov, not_found);
    fm_msg_destroy (&not_found);
    event = s_expect (&fx, FM_EV_REQUEST_COMPLETED);
    assert (event.status == 404);
    error = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_ERROR, 404);
    char text [FM_TEXT_SIZE];
    snprintf (text, sizeof (text), "enterprise %s is not in the registry", code);
    assert (streq (error->text, text));
    assert (streq (error->request_id, query->request_id));
    fm_msg_destroy (&error);
    fm_msg_destroy (&query);

    //  Busy: with max_inflight requests matching, a new one is refused
    //  at once, before it exists (no events)
    s_set (&fx, "max_inflight", "1");
    request = s_request (code, "c-4", INT64_C (10000000));
    s_client_send (client, FM_SERVICE_REQUEST, request);
    fm_msg_destroy (&request);
    s_expect (&fx, FM_EV_REQUEST_RECEIVED);
    query = s_worker_expect (gov, FM_MSG_CREDIT_QUERY);
    request = s_request (code, "c-5", INT64_C (10000000));
    s_client_send (client, FM_SERVICE_REQUEST, request);
    fm_msg_destroy (&request);
    error = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_ERROR, 503);
    assert (strstr (error->text, "busy"));
    fm_msg_destroy (&error);
    s_expect_no_events (&fx);
    fm_msg_destroy (&query);

    zsock_destroy (&gov);
    zsock_destroy (&client);
    s_fixture_stop (&fx);
}


//  --------------------------------------------------------------------------
//  (d) Idempotency: the same key and content replays the stored RESULT;
//      the same key with other content is 409; duplicates in flight wait

static void
s_test_idempotency (bool verbose)
{
    fixture_t fx;
    s_fixture_start (&fx, verbose);
    zsock_t *gov = s_worker_new (&fx, "gov.credit", 0, 0);
    s_expect (&fx, FM_EV_WORKER_READY);
    zsock_t *bank = s_worker_new (&fx, "bank.CQRCB", 4, 0);
    s_expect (&fx, FM_EV_WORKER_READY);
    char code [FM_ENTERPRISE_ID_SIZE];
    s_code (code, 4);
    zsock_t *client = s_client_new (&fx);
    zsock_t *other = s_client_new (&fx);

    fm_msg_t *request = s_request (code, "d-1", INT64_C (20000000));
    s_client_send (client, FM_SERVICE_REQUEST, request);
    s_expect (&fx, FM_EV_REQUEST_RECEIVED);
    //  Duplicates while in flight: from another client, both get the
    //  RESULT; from the same client, it gets one
    s_client_send (other, FM_SERVICE_REQUEST, request);
    s_client_send (client, FM_SERVICE_REQUEST, request);
    s_gov_answers (gov);
    s_expect (&fx, FM_EV_REQUEST_ENRICHED);
    s_expect (&fx, FM_EV_REQUEST_DISPATCHED);
    s_bank_answers (bank, "CQRCB", "GRIDE", 300);
    s_expect (&fx, FM_EV_OFFER_MADE);
    s_expect (&fx, FM_EV_REQUEST_COMPLETED);
    zframe_t *first = s_client_frame (client, FM_SERVICE_REQUEST);
    zframe_t *second = s_client_frame (other, FM_SERVICE_REQUEST);
    assert (zframe_eq (first, second));
    s_client_expect_quiet (client);

    //  Resend after completion: the very same RESULT, no events, no
    //  query to any worker
    s_client_send (client, FM_SERVICE_REQUEST, request);
    zframe_t *replay = s_client_frame (client, FM_SERVICE_REQUEST);
    assert (zframe_eq (first, replay));
    s_expect_no_events (&fx);
    s_worker_expect_quiet (gov);

    //  Same key, different amount: 409
    request->request.amount_fen++;
    s_client_send (client, FM_SERVICE_REQUEST, request);
    fm_msg_t *error = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_ERROR, 409);
    char id [FM_REQUEST_ID_SIZE];
    fm_request_id_make (code, "d-1", id);
    assert (streq (error->request_id, id));
    fm_msg_destroy (&error);
    s_expect_no_events (&fx);

    zframe_destroy (&first);
    zframe_destroy (&second);
    zframe_destroy (&replay);
    fm_msg_destroy (&request);
    zsock_destroy (&client);
    zsock_destroy (&other);
    zsock_destroy (&gov);
    zsock_destroy (&bank);
    s_fixture_stop (&fx);
}


//  --------------------------------------------------------------------------
//  (e) Accept: the checks (404, 403, 404, 409, 410), then GRANT_QUERY to
//      the bank, its CONFIRMATION to the client and loan.granted

static void
s_test_accept (bool verbose)
{
    fixture_t fx;
    s_fixture_start (&fx, verbose);
    zsock_t *gov = s_worker_new (&fx, "gov.credit", 0, 0);
    s_expect (&fx, FM_EV_WORKER_READY);
    zsock_t *bank = s_worker_new (&fx, "bank.CQRCB", 4, 0);
    s_expect (&fx, FM_EV_WORKER_READY);
    char code [FM_ENTERPRISE_ID_SIZE], stranger [FM_ENTERPRISE_ID_SIZE];
    s_code (code, 5);
    s_code (stranger, 6);
    zsock_t *client = s_client_new (&fx);
    zsock_t *other = s_client_new (&fx);

    //  A request with three offers, one of them already expired
    fm_msg_t *request = s_request (code, "e-1", INT64_C (100000000));
    s_client_send (client, FM_SERVICE_REQUEST, request);
    fm_msg_destroy (&request);
    s_expect (&fx, FM_EV_REQUEST_RECEIVED);
    s_gov_answers (gov);
    s_expect (&fx, FM_EV_REQUEST_ENRICHED);
    s_expect (&fx, FM_EV_REQUEST_DISPATCHED);
    fm_msg_t *query = s_worker_expect (bank, FM_MSG_BANK_QUERY);
    fm_offer_t offers [4] = {
        s_offer ("CQRCB", "GRIDE", 300, INT64_C (100000000)),
        s_offer ("CQRCB", "CYD", 310, INT64_C (100000000)),
        s_offer ("CQRCB", "OLD", 320, INT64_C (100000000)),
        s_offer ("CQRCB", "XWD", 330, INT64_C (100000000))
    };
    offers [2].valid_until_us = zclock_time () * 1000 - 1;
    fm_msg_t *answer = s_answer (query, "CQRCB", offers, 4);
    s_worker_reply (bank, answer);
    fm_msg_destroy (&answer);
    fm_msg_destroy (&query);
    for (int index = 0; index < 4; index++)
        s_expect (&fx, FM_EV_OFFER_MADE);
    s_expect (&fx, FM_EV_REQUEST_COMPLETED);
    fm_msg_t *result = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_RESULT, 200);
    char id [FM_REQUEST_ID_SIZE];
    strcpy (id, result->request_id);
    fm_msg_destroy (&result);

    //  The refusals: nothing reaches the bank, no event
    fm_msg_t *accept = s_accept ("0123456789abcdef", code, "CQRCB/GRIDE");
    s_client_send (client, FM_SERVICE_ACCEPT, accept);
    fm_msg_destroy (&accept);
    fm_msg_t *error = s_client_expect (client, FM_SERVICE_ACCEPT, FM_MSG_ERROR, 404);
    fm_msg_destroy (&error);
    accept = s_accept (id, stranger, "CQRCB/GRIDE");
    s_client_send (client, FM_SERVICE_ACCEPT, accept);
    fm_msg_destroy (&accept);
    error = s_client_expect (client, FM_SERVICE_ACCEPT, FM_MSG_ERROR, 403);
    fm_msg_destroy (&error);
    accept = s_accept (id, code, "CQRCB/NOPE");
    s_client_send (client, FM_SERVICE_ACCEPT, accept);
    fm_msg_destroy (&accept);
    error = s_client_expect (client, FM_SERVICE_ACCEPT, FM_MSG_ERROR, 404);
    fm_msg_destroy (&error);
    accept = s_accept (id, code, "CQRCB/OLD");
    s_client_send (client, FM_SERVICE_ACCEPT, accept);
    fm_msg_destroy (&accept);
    error = s_client_expect (client, FM_SERVICE_ACCEPT, FM_MSG_ERROR, 410);
    fm_msg_destroy (&error);
    s_expect_no_events (&fx);
    s_worker_expect_quiet (bank);

    //  Accept GRIDE: offer.accepted, GRANT_QUERY with the offer
    accept = s_accept (id, code, "CQRCB/GRIDE");
    s_client_send (client, FM_SERVICE_ACCEPT, accept);
    fm_event_t event = s_expect (&fx, FM_EV_OFFER_ACCEPTED);
    assert (streq (event.offer_id, "CQRCB/GRIDE") && streq (event.bank, "CQRCB"));
    assert (event.amount_fen == INT64_C (100000000));
    fm_msg_t *grant = s_worker_expect (bank, FM_MSG_GRANT_QUERY);
    assert (streq (grant->request_id, id));
    assert (streq (grant->request.enterprise_id, code));
    assert (grant->offer_count == 1 && streq (grant->offers [0].offer_id, "CQRCB/GRIDE"));
    assert (grant->offers [0].effective_rate_bp == 300);
    //  The same accept from another client while the bank decides: waits
    s_client_send (other, FM_SERVICE_ACCEPT, accept);
    s_worker_expect_quiet (bank);

    //  The bank grants: loan.granted, both clients get the CONFIRMATION
    fm_msg_t *confirmation = fm_msg_new (FM_MSG_CONFIRMATION);
    strcpy (confirmation->request_id, id);
    strcpy (confirmation->request.enterprise_id, code);
    fm_confirmation_t *granted = &confirmation->confirmation;
    strcpy (granted->offer_id, "CQRCB/GRIDE");
    strcpy (granted->bank, "CQRCB");
    granted->granted = true;
    char loan_id [FM_LOAN_ID_SIZE];
    snprintf (loan_id, sizeof (loan_id), "CQRCB-%s", id);
    strcpy (granted->loan_id, loan_id);
    granted->amount_fen = INT64_C (100000000);
    granted->base_rate_bp = 330;
    granted->effective_rate_bp = 300;
    granted->term_months = 12;
    s_worker_reply (bank, confirmation);
    fm_msg_destroy (&confirmation);
    fm_msg_destroy (&grant);
    event = s_expect (&fx, FM_EV_LOAN_GRANTED);
    assert (streq (event.loan_id, loan_id) && streq (event.offer_id, "CQRCB/GRIDE"));
    assert (streq (event.product, "GRIDE") && event.amount_fen == INT64_C (100000000));
    assert (event.base_rate_bp == 330 && event.effective_rate_bp == 300);
    assert (event.lever_count == 1 && streq (event.grid_id, "JB-01"));
    fm_msg_t *reply = s_client_expect (client, FM_SERVICE_ACCEPT, FM_MSG_CONFIRMATION, 0);
    assert (reply->confirmation.granted && streq (reply->confirmation.loan_id, loan_id));
    assert (streq (reply->request_id, id));
    fm_msg_destroy (&reply);
    zframe_t *stored = s_client_frame (other, FM_SERVICE_ACCEPT);

    //  Accepting the same offer again replays the stored confirmation;
    //  another offer of the same request is a conflict
    s_client_send (client, FM_SERVICE_ACCEPT, accept);
    zframe_t *replay = s_client_frame (client, FM_SERVICE_ACCEPT);
    assert (zframe_eq (stored, replay));
    zframe_destroy (&stored);
    zframe_destroy (&replay);
    fm_msg_destroy (&accept);
    accept = s_accept (id, code, "CQRCB/CYD");
    s_client_send (client, FM_SERVICE_ACCEPT, accept);
    fm_msg_destroy (&accept);
    error = s_client_expect (client, FM_SERVICE_ACCEPT, FM_MSG_ERROR, 409);
    fm_msg_destroy (&error);
    s_expect_no_events (&fx);
    s_worker_expect_quiet (bank);

    //  A second request whose offer the bank withdraws: offer.withdrawn,
    //  the client gets the withdrawal, the offer is then gone (410); a
    //  bank that stays silent on a grant is 504
    request = s_request (code, "e-2", INT64_C (100000000));
    s_client_send (client, FM_SERVICE_REQUEST, request);
    fm_msg_destroy (&request);
    s_expect (&fx, FM_EV_REQUEST_RECEIVED);
    s_gov_answers (gov);
    s_expect (&fx, FM_EV_REQUEST_ENRICHED);
    s_expect (&fx, FM_EV_REQUEST_DISPATCHED);
    query = s_worker_expect (bank, FM_MSG_BANK_QUERY);
    answer = s_answer (query, "CQRCB", offers, 2);
    s_worker_reply (bank, answer);
    fm_msg_destroy (&answer);
    fm_msg_destroy (&query);
    s_expect (&fx, FM_EV_OFFER_MADE);
    s_expect (&fx, FM_EV_OFFER_MADE);
    s_expect (&fx, FM_EV_REQUEST_COMPLETED);
    result = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_RESULT, 200);
    strcpy (id, result->request_id);
    fm_msg_destroy (&result);

    accept = s_accept (id, code, "CQRCB/GRIDE");
    s_client_send (client, FM_SERVICE_ACCEPT, accept);
    s_expect (&fx, FM_EV_OFFER_ACCEPTED);
    grant = s_worker_expect (bank, FM_MSG_GRANT_QUERY);
    confirmation = fm_msg_new (FM_MSG_CONFIRMATION);
    strcpy (confirmation->request_id, id);
    strcpy (confirmation->request.enterprise_id, code);
    strcpy (confirmation->confirmation.offer_id, "CQRCB/GRIDE");
    strcpy (confirmation->confirmation.bank, "CQRCB");
    strcpy (confirmation->confirmation.text, "额度已用完");
    s_worker_reply (bank, confirmation);
    fm_msg_destroy (&confirmation);
    fm_msg_destroy (&grant);
    event = s_expect (&fx, FM_EV_OFFER_WITHDRAWN);
    assert (streq (event.offer_id, "CQRCB/GRIDE") && streq (event.text, "额度已用完"));
    stored = s_client_frame (client, FM_SERVICE_ACCEPT);
    fm_error_t err;
    reply = fm_msg_decode (zframe_data (stored), zframe_size (stored), &err);
    assert (reply && reply->type == FM_MSG_CONFIRMATION);
    assert (!reply->confirmation.granted && streq (reply->confirmation.text, "额度已用完"));
    fm_msg_destroy (&reply);
    //  Accepting the withdrawn offer again: the same withdrawal, no bank
    s_client_send (client, FM_SERVICE_ACCEPT, accept);
    fm_msg_destroy (&accept);
    replay = s_client_frame (client, FM_SERVICE_ACCEPT);
    assert (zframe_eq (stored, replay));
    zframe_destroy (&stored);
    zframe_destroy (&replay);
    s_worker_expect_quiet (bank);

    //  Another offer of the same request may still be accepted
    s_set (&fx, "deadline_ms", "100");
    accept = s_accept (id, code, "CQRCB/CYD");
    s_client_send (client, FM_SERVICE_ACCEPT, accept);
    fm_msg_destroy (&accept);
    s_expect (&fx, FM_EV_OFFER_ACCEPTED);
    grant = s_worker_expect (bank, FM_MSG_GRANT_QUERY);
    fm_msg_destroy (&grant);
    error = s_client_expect (client, FM_SERVICE_ACCEPT, FM_MSG_ERROR, 504);
    fm_msg_destroy (&error);

    zsock_destroy (&client);
    zsock_destroy (&other);
    zsock_destroy (&gov);
    zsock_destroy (&bank);
    s_fixture_stop (&fx);
}


//  --------------------------------------------------------------------------
//  (f) Bad input: every malformed frame is an input.rejected event (plus
//      an ERROR to a client whose envelope parsed, DISCONNECT to a
//      worker), and the broker keeps serving

//  Expect input.rejected with this status; returns its text
static void
s_expect_rejected (fixture_t *fx, uint16_t status, const char *text_part)
{
    fm_event_t event = s_expect (fx, FM_EV_INPUT_REJECTED);
    if (event.status != status || !strstr (event.text, text_part)) {
        fprintf (stderr, "fm_broker_test: rejected %u '%s', expected %u '%s'\n",
                 event.status, event.text, status, text_part);
        assert (false);
    }
    assert (strlen (event.peer) > 0);
}

static void
s_test_bad_input (bool verbose)
{
    fixture_t fx;
    s_fixture_start (&fx, verbose);
    zsock_t *client = s_client_new (&fx);

    //  Client side
    //  Wrong protocol frame: no reply (we cannot speak its protocol)
    zstr_sendx (client, "", "HTTP/1.1", "GET /", NULL);
    s_expect_rejected (&fx, 400, "unknown protocol");
    zstr_sendx (client, "", "MDPC02", "fm.request", "x", NULL);
    s_expect_rejected (&fx, 505, "MDPC02");
    //  Truncated envelopes: no delimiter, no service, no body
    zstr_sendx (client, "MDPC01", NULL);
    s_expect_rejected (&fx, 400, "delimiter");
    zstr_sendx (client, "", NULL);
    s_expect_rejected (&fx, 400, "protocol frame");
    zstr_sendx (client, "", "MDPC01", NULL);
    s_expect_rejected (&fx, 400, "service");
    s_client_expect_quiet (client);
    zstr_sendx (client, "", "MDPC01", "fm.request", NULL);
    s_expect_rejected (&fx, 400, "body frame");
    zstr_sendx (client, "", "MDPC01", "fm.request", "a", "b", NULL);
    s_expect_rejected (&fx, 400, "body frame");
    //  A service name that is not text
    s_client_send_raw (client, "fm.\001x", "", 0);
    s_expect_rejected (&fx, 400, "invalid service name 'fm.?x'");
    s_client_expect_quiet (client);

    //  Header fine, body bad: input.rejected and an ERROR with the status
    //  Bad msgpack
    s_client_send_raw (client, FM_SERVICE_REQUEST, "\xc1\x00garbage", 9);
    s_expect_rejected (&fx, 400, "fm.request");
    fm_msg_t *error = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_ERROR, 400);
    fm_msg_destroy (&error);
    //  {"v":2,"t":"request"}: unknown version
    s_client_send_raw (client, FM_SERVICE_REQUEST, "\x82\xa1v\x02\xa1t\xa7request", 14);
    s_expect_rejected (&fx, 505, "");
    error = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_ERROR, 505);
    fm_msg_destroy (&error);
    //  {"v":1,"t":"hello"}: unknown type
    s_client_send_raw (client, FM_SERVICE_REQUEST, "\x82\xa1v\x01\xa1t\xa5hello", 12);
    s_expect_rejected (&fx, 501, "");
    error = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_ERROR, 501);
    fm_msg_destroy (&error);
    //  A body over FM_MAX_BODY
    size_t big_size = FM_MAX_BODY + 1024;
    byte *big = (byte *) zmalloc (big_size);
    big [0] = 0x81;
    s_client_send_raw (client, FM_SERVICE_REQUEST, big, big_size);
    free (big);
    s_expect_rejected (&fx, 413, "");
    error = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_ERROR, 413);
    fm_msg_destroy (&error);
    //  A valid body of the wrong type for the service
    fm_msg_t *accept = s_accept ("0123456789abcdef", "91500000000000000X", "A/B");
    char code [FM_ENTERPRISE_ID_SIZE];
    s_code (code, 7);
    strcpy (accept->request.enterprise_id, code);
    s_client_send (client, FM_SERVICE_REQUEST, accept);
    fm_msg_destroy (&accept);
    s_expect_rejected (&fx, 400, "expects a request body");
    error = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_ERROR, 400);
    fm_msg_destroy (&error);
    //  Valid frames, services a client may not call: ERROR, no event
    s_client_send_raw (client, "gov.credit", "", 0);
    error = s_client_expect (client, "gov.credit", FM_MSG_ERROR, 403);
    fm_msg_destroy (&error);
    s_client_send_raw (client, "weather.today", "", 0);
    error = s_client_expect (client, "weather.today", FM_MSG_ERROR, 501);
    fm_msg_destroy (&error);
    s_expect_no_events (&fx);

    //  Worker side: each misbehaving peer gets DISCONNECT
    zsock_t *rogue = zsock_new_dealer (fx.endpoint);
    zstr_sendx (rogue, "", FM_MDPW, "\004", NULL);          //  HEARTBEAT first
    s_expect_rejected (&fx, 400, "HEARTBEAT before READY");
    s_worker_expect_disconnect (rogue);
    zsock_t *reply_first = zsock_new_dealer (fx.endpoint);
    zstr_sendx (reply_first, "", FM_MDPW, "\003", "0123456789abcdef", "", "x", NULL);
    s_expect_rejected (&fx, 400, "REPLY before READY");
    s_worker_expect_disconnect (reply_first);
    zsock_t *twice = s_worker_new (&fx, "bank.TWICE", 0, 0);
    s_expect (&fx, FM_EV_WORKER_READY);
    zstr_sendx (twice, "", FM_MDPW, "\001", "bank.TWICE", NULL);
    s_expect_rejected (&fx, 400, "READY from a registered worker");
    s_worker_expect_disconnect (twice);
    zsock_t *lower = s_worker_new (&fx, "bank.lower", 0, 0);
    s_expect_rejected (&fx, 403, "bank.lower");
    s_worker_expect_disconnect (lower);
    zsock_t *impostor = s_worker_new (&fx, "fm.request", 0, 0);
    s_expect_rejected (&fx, 403, "fm.request");
    s_worker_expect_disconnect (impostor);
    zsock_t *bad_opts = zsock_new_dealer (fx.endpoint);
    zstr_sendx (bad_opts, "", FM_MDPW, "\001", "bank.OPTS", "\xc1", NULL);
    s_expect_rejected (&fx, 400, "READY options");
    s_worker_expect_disconnect (bad_opts);
    zsock_t *no_command = zsock_new_dealer (fx.endpoint);
    zstr_sendx (no_command, "", FM_MDPW, "\011", NULL);
    s_expect_rejected (&fx, 400, "command");
    s_worker_expect_disconnect (no_command);
    //  A registered worker sending a body that does not decode: rejected,
    //  but it stays registered (its request just waits for the deadline)
    zsock_t *garbler = s_worker_new (&fx, "bank.GARBLE", 0, 0);
    s_expect (&fx, FM_EV_WORKER_READY);
    zstr_sendx (garbler, "", FM_MDPW, "\003", "0123456789abcdef", "", "\xc1", NULL);
    s_expect_rejected (&fx, 400, "bank.GARBLE");
    s_worker_expect_quiet (garbler);
    s_client_send_raw (client, FM_SERVICE_MMI, "bank.GARBLE", 11);
    zframe_t *mmi = s_client_frame (client, FM_SERVICE_MMI);
    assert (zframe_streq (mmi, "200"));
    zframe_destroy (&mmi);
    //  A body that decodes but breaks the protocol (its request_id is not
    //  the reply-to it echoes): DISCONNECT, and the worker is gone
    fm_msg_t *wrong = fm_msg_new_error ("fedcba9876543210", 500, "oops");
    fm_error_t err;
    zframe_t *wrong_body = fm_msg_encode (wrong, &err);
    fm_msg_destroy (&wrong);
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, "");
    zmsg_addstr (reply, FM_MDPW);
    zmsg_addmem (reply, "\003", 1);
    zmsg_addstr (reply, "0123456789abcdef");
    zmsg_addstr (reply, "");
    zmsg_append (reply, &wrong_body);
    zmsg_send (&reply, garbler);
    s_expect_rejected (&fx, 400, "reply-to");
    s_worker_expect_disconnect (garbler);
    s_client_send_raw (client, FM_SERVICE_MMI, "bank.GARBLE", 11);
    mmi = s_client_frame (client, FM_SERVICE_MMI);
    assert (zframe_streq (mmi, "404"));
    zframe_destroy (&mmi);
    //  REPLY framing from a registered worker (the broker reads these
    //  straight from zmq_msg_t parts): no body, a delimiter that is not
    //  empty, and more parts than any 7/MDP message has (the broker keeps
    //  8 and counts the rest) each get input.rejected and DISCONNECT
    const char *shapes [] = { "no body", "bad delimiter", "20 parts" };
    for (size_t shape = 0; shape < 3; shape++) {
        zsock_t *framer = s_worker_new (&fx, "bank.FRAMER", 0, 0);
        s_expect (&fx, FM_EV_WORKER_READY);
        zmsg_t *framed = zmsg_new ();
        zmsg_addstr (framed, "");
        zmsg_addstr (framed, FM_MDPW);
        zmsg_addmem (framed, "\003", 1);
        zmsg_addstr (framed, "0123456789abcdef");
        zmsg_addstr (framed, shape == 1? "x": "");
        if (shape > 0)
            zmsg_addstr (framed, "body");
        for (size_t extra = 0; shape == 2 && extra < 14; extra++)
            zmsg_addstr (framed, "extra");
        assert (shape != 2 || zmsg_size (framed) == 20);
        zmsg_send (&framed, framer);
        if (verbose)
            zsys_debug ("REPLY framing: %s", shapes [shape]);
        s_expect_rejected (&fx, 400, "REPLY needs");
        s_worker_expect_disconnect (framer);
        zsock_destroy (&framer);
    }

    //  Still serving: a normal request completes
    zsock_t *gov = s_worker_new (&fx, "gov.credit", 0, 0);
    s_expect (&fx, FM_EV_WORKER_READY);
    zsock_t *bank = s_worker_new (&fx, "bank.CQRCB", 0, 0);
    s_expect (&fx, FM_EV_WORKER_READY);
    fm_msg_t *request = s_request (code, "f-1", INT64_C (10000000));
    s_client_send (client, FM_SERVICE_REQUEST, request);
    fm_msg_destroy (&request);
    s_expect (&fx, FM_EV_REQUEST_RECEIVED);
    s_gov_answers (gov);
    s_expect (&fx, FM_EV_REQUEST_ENRICHED);
    s_expect (&fx, FM_EV_REQUEST_DISPATCHED);
    s_bank_answers (bank, "CQRCB", "GRIDE", 300);
    s_expect (&fx, FM_EV_OFFER_MADE);
    s_expect (&fx, FM_EV_REQUEST_COMPLETED);
    fm_msg_t *result = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_RESULT, 200);
    fm_msg_destroy (&result);

    zsock_destroy (&rogue);
    zsock_destroy (&reply_first);
    zsock_destroy (&twice);
    zsock_destroy (&lower);
    zsock_destroy (&impostor);
    zsock_destroy (&bad_opts);
    zsock_destroy (&no_command);
    zsock_destroy (&garbler);
    zsock_destroy (&gov);
    zsock_destroy (&bank);
    zsock_destroy (&client);
    s_fixture_stop (&fx);
}


//  --------------------------------------------------------------------------
//  (g) 8/MMI: does a service have workers?

static const char *
s_mmi (zsock_t *client, const char *service, const char *name)
{
    static char status [8];
    s_client_send_raw (client, service, name, strlen (name));
    zframe_t *body = s_client_frame (client, service);
    assert (zframe_size (body) == 3);
    memcpy (status, zframe_data (body), 3);
    status [3] = 0;
    zframe_destroy (&body);
    return status;
}

static void
s_test_mmi (bool verbose)
{
    fixture_t fx;
    s_fixture_start (&fx, verbose);
    zsock_t *client = s_client_new (&fx);
    assert (streq (s_mmi (client, FM_SERVICE_MMI, "fm.request"), "200"));
    assert (streq (s_mmi (client, FM_SERVICE_MMI, "fm.accept"), "200"));
    assert (streq (s_mmi (client, FM_SERVICE_MMI, "bank.CQRCB"), "404"));
    zsock_t *bank = s_worker_new (&fx, "bank.CQRCB", 0, 0);
    s_expect (&fx, FM_EV_WORKER_READY);
    assert (streq (s_mmi (client, FM_SERVICE_MMI, "bank.CQRCB"), "200"));
    assert (streq (s_mmi (client, FM_SERVICE_MMI, "gov.credit"), "404"));
    assert (streq (s_mmi (client, "mmi.echo", "bank.CQRCB"), "501"));
    zsock_destroy (&bank);
    zsock_destroy (&client);
    s_fixture_stop (&fx);
}


//  --------------------------------------------------------------------------
//  (h) Heartbeats: the broker heartbeats workers and expires the silent
//      ones after liveness x max(its interval, the worker's)

static void
s_test_expiry (bool verbose)
{
    //  Timing here is checked only in the direction load cannot break: a
    //  busy machine delays heartbeats and expiries, it never hurries
    //  them.  So: "at least N heartbeats within a bound far below the
    //  alternative interval", "expired no earlier than liveness x
    //  interval", and workers that must stay alive heartbeat with seconds
    //  of margin, not 300 ms.  Every wait is a poll with a deadline.
    fixture_t fx;
    s_fixture_start (&fx, verbose);
    //  A worker that announces 100 ms hears from the broker every 100 ms,
    //  not every 2500 (min of the two intervals): at 2500 ms no more than
    //  one heartbeat could arrive within 2000 ms, at 100 ms about 20 do
    zsock_t *fast = s_worker_new (&fx, "bank.FAST", 1, 100);
    s_expect (&fx, FM_EV_WORKER_READY);
    int64_t start = zclock_mono ();
    int heartbeats = 0;
    while (heartbeats < 3) {
        int64_t left = start + 2000 - zclock_mono ();
        assert (left > 0);
        if (s_worker_next (fast, (int) left, true, NULL, NULL) == FM_MDPW_HEARTBEAT)
            heartbeats++;
    }
    //  Leave quietly (no event), so that no expiry of FAST comes later
    zstr_sendx (fast, "", FM_MDPW, "\005", NULL);
    s_expect_no_events (&fx);

    s_set (&fx, "heartbeat_ms", "100");     //  liveness 3: 300 ms
    //  SILENT announces 100 ms and never answers: expires after >= 300 ms
    int64_t silent_at = zclock_mono ();
    zsock_t *silent = s_worker_new (&fx, "bank.SILENT", 1, 100);
    fm_event_t event = s_expect (&fx, FM_EV_WORKER_READY);
    char silent_peer [FM_CODE_SIZE];
    strcpy (silent_peer, event.peer);
    //  SLOW announces 1 s and never answers: expires after >= 3 s, not
    //  after the broker's 300 ms
    int64_t slow_at = zclock_mono ();
    zsock_t *slow = s_worker_new (&fx, "bank.SLOW", 1, 1000);
    event = s_expect (&fx, FM_EV_WORKER_READY);
    char slow_peer [FM_CODE_SIZE];
    strcpy (slow_peer, event.peer);
    //  ALIVE announces 1 s too, but heartbeats every ~50 ms: it outlives
    //  SLOW, with 3 s of margin for a stalled test
    zsock_t *alive = s_worker_new (&fx, "bank.ALIVE", 1, 1000);
    s_expect (&fx, FM_EV_WORKER_READY);

    //  The broker heartbeats its workers
    assert (s_worker_next (silent, WAIT_MS, true, NULL, NULL) == FM_MDPW_HEARTBEAT);

    //  Until both silent workers expired: each no earlier than its own
    //  liveness x interval after its READY; ALIVE never
    int64_t deadline = zclock_mono () + 10 * WAIT_MS;
    int64_t silent_gone = 0, slow_gone = 0;
    while (!(silent_gone && slow_gone)) {
        assert (zclock_mono () < deadline);
        zstr_sendx (alive, "", FM_MDPW, "\004", NULL);
        fm_event_t next;
        if (s_event_next (&fx, &next, 50, true))
            continue;
        assert (next.type == FM_EV_WORKER_EXPIRED);
        if (streq (next.service, "bank.SILENT")) {
            assert (streq (next.peer, silent_peer) && !silent_gone);
            silent_gone = zclock_mono ();
            assert (silent_gone - silent_at >= 300);
        }
        else {
            assert (streq (next.service, "bank.SLOW"));
            assert (streq (next.peer, slow_peer) && !slow_gone);
            slow_gone = zclock_mono ();
            assert (slow_gone - slow_at >= 3000);
        }
    }
    zstr_sendx (alive, "", FM_MDPW, "\004", NULL);
    zsock_t *client = s_client_new (&fx);
    assert (streq (s_mmi (client, FM_SERVICE_MMI, "bank.SILENT"), "404"));
    assert (streq (s_mmi (client, FM_SERVICE_MMI, "bank.SLOW"), "404"));
    assert (streq (s_mmi (client, FM_SERVICE_MMI, "bank.ALIVE"), "200"));

    zsock_destroy (&client);
    zsock_destroy (&silent);
    zsock_destroy (&alive);
    zsock_destroy (&slow);
    zsock_destroy (&fast);
    s_fixture_stop (&fx);
}


//  --------------------------------------------------------------------------
//  (i) Load: 2000 requests in flight at once on one thread.  The bank's
//      capacity (16) queues most BANK_QUERYs in the broker; the bank never
//      answers, so every request ends at its own deadline (the heap) with
//      the bank timed out, and the event stream stays gap-free

static void
s_test_many (bool verbose)
{
    #define MANY 2000
    fixture_t fx;
    s_fixture_start (&fx, verbose);
    s_set (&fx, "deadline_ms", "300");
    s_set (&fx, "gov_deadline_ms", "10000");
    zsock_t *gov = s_worker_new (&fx, "gov.credit", 1024, 0);
    s_expect (&fx, FM_EV_WORKER_READY);
    zsock_t *bank = s_worker_new (&fx, "bank.CQRCB", 16, 0);
    s_expect (&fx, FM_EV_WORKER_READY);
    char code [FM_ENTERPRISE_ID_SIZE];
    s_code (code, 8);
    zsock_t *client = s_client_new (&fx);
    for (int index = 0; index < MANY; index++) {
        char key [32];
        snprintf (key, sizeof (key), "many-%d", index);
        fm_msg_t *request = s_request (code, key, INT64_C (10000000) + index);
        s_client_send (client, FM_SERVICE_REQUEST, request);
        fm_msg_destroy (&request);
    }
    for (int index = 0; index < MANY; index++)
        s_gov_answers (gov);
    int results = 0;
    while (results < MANY) {
        fm_msg_t *result = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_RESULT, 200);
        assert (result->timed_out_count == 1 && streq (result->timed_out [0], "CQRCB"));
        fm_msg_destroy (&result);
        results++;
    }
    //  6 events per request (received, enriched, dispatched, bank.timeout,
    //  sla.breach, completed), in order per request, gap-free overall
    int completed = 0;
    for (int index = 0; index < 6 * MANY; index++) {
        fm_event_t event;
        assert (s_event_next (&fx, &event, WAIT_MS, true) == 0);
        completed += event.type == FM_EV_REQUEST_COMPLETED;
    }
    assert (completed == MANY);
    s_expect_no_events (&fx);
    zsock_destroy (&client);
    zsock_destroy (&gov);
    zsock_destroy (&bank);
    s_fixture_stop (&fx);
}


//  --------------------------------------------------------------------------
//  Lifecycle helpers

//  Ask fm.status about a request; returns the STATUS (caller destroys)
static fm_msg_t *
s_status (zsock_t *client, const char *id, const char *enterprise)
{
    fm_msg_t *query = fm_msg_new (FM_MSG_STATUS_QUERY);
    strcpy (query->request_id, id);
    strcpy (query->request.enterprise_id, enterprise);
    s_client_send (client, FM_SERVICE_STATUS, query);
    fm_msg_destroy (&query);
    return s_client_expect (client, FM_SERVICE_STATUS, FM_MSG_STATUS, 200);
}

//  Bank worker: take one BANK_QUERY and decline it (two reasons, advice)
static void
s_bank_declines (zsock_t *bank, const char *code)
{
    fm_msg_t *query = s_worker_expect (bank, FM_MSG_BANK_QUERY);
    fm_msg_t *answer = s_decline (query, code);
    strcpy (answer->declines [0].reasons [0].advice, "申请金额不超过300万元可获该产品报价");
    s_worker_reply (bank, answer);
    fm_msg_destroy (&answer);
    fm_msg_destroy (&query);
}

//  Send a REQUEST and run it through gov (profile, plus the fast_track
//  lever if asked); expects received + enriched + dispatched(banks)
static void
s_submit (fixture_t *fx, zsock_t *client, zsock_t *gov, fm_msg_t *request,
          bool fast_track, uint32_t banks)
{
    s_client_send (client, FM_SERVICE_REQUEST, request);
    s_expect (fx, FM_EV_REQUEST_RECEIVED);
    fm_msg_t *query = s_worker_expect (gov, FM_MSG_CREDIT_QUERY);
    fm_msg_t *profile = s_profile (query);
    if (fast_track) {
        fm_lever_t *lever = &profile->profile.levers [profile->profile.lever_count++];
        strcpy (lever->code, "fast_track");
        strcpy (lever->name, "快速通道(党建A级)");
        lever->payer = FM_PAYER_GOVERNMENT;
    }
    s_worker_reply (gov, profile);
    fm_msg_destroy (&profile);
    fm_msg_destroy (&query);
    s_expect (fx, FM_EV_REQUEST_ENRICHED);
    fm_event_t event = s_expect (fx, FM_EV_REQUEST_DISPATCHED);
    assert (event.count == banks);
}


//  --------------------------------------------------------------------------
//  (p) The priority lever (SPEC 17): a bank of capacity 1 is held busy;
//      a normal request queues, then a priority one: when capacity comes
//      back the priority request's BANK_QUERY goes first, the normal one
//      after it (first come first served within each class)

//  Send a REQUEST and answer its CREDIT_QUERY with a profile that carries
//  the priority lever if priority; expects received + enriched.
static void
s_submit_priority (fixture_t *fx, zsock_t *client, zsock_t *gov, const char *code,
                   const char *key, bool priority)
{
    fm_msg_t *request = s_request (code, key, INT64_C (100000000));
    s_client_send (client, FM_SERVICE_REQUEST, request);
    fm_msg_destroy (&request);
    s_expect (fx, FM_EV_REQUEST_RECEIVED);
    fm_msg_t *query = s_worker_expect (gov, FM_MSG_CREDIT_QUERY);
    fm_msg_t *profile = s_profile (query);
    if (priority) {
        fm_lever_t *lever = &profile->profile.levers [profile->profile.lever_count++];
        strcpy (lever->code, "priority");
        strcpy (lever->name, "优先办理(党建A级)");
        lever->payer = FM_PAYER_GOVERNMENT;
    }
    s_worker_reply (gov, profile);
    fm_msg_destroy (&profile);
    fm_msg_destroy (&query);
    s_expect (fx, FM_EV_REQUEST_ENRICHED);
    s_expect (fx, FM_EV_REQUEST_DISPATCHED);
}

static void
s_test_priority (bool verbose)
{
    fixture_t fx;
    s_fixture_start (&fx, verbose);
    //  Queued queries wait well past any ASan slowness
    s_set (&fx, "deadline_ms", "20000");
    zsock_t *gov = s_worker_new (&fx, "gov.credit", 4, 0);
    s_expect (&fx, FM_EV_WORKER_READY);
    zsock_t *abc = s_worker_new (&fx, "bank.ABC", 1, 0);
    s_expect (&fx, FM_EV_WORKER_READY);
    zsock_t *client = s_client_new (&fx);
    char busy [FM_ENTERPRISE_ID_SIZE], normal [FM_ENTERPRISE_ID_SIZE],
         urgent [FM_ENTERPRISE_ID_SIZE];
    s_code (busy, 30);
    s_code (normal, 31);
    s_code (urgent, 32);
    char busy_id [FM_REQUEST_ID_SIZE], normal_id [FM_REQUEST_ID_SIZE],
         urgent_id [FM_REQUEST_ID_SIZE];
    fm_request_id_make (busy, "p-1", busy_id);
    fm_request_id_make (normal, "p-2", normal_id);
    fm_request_id_make (urgent, "p-3", urgent_id);

    //  The first request takes ABC's only slot; ABC holds it
    s_submit_priority (&fx, client, gov, busy, "p-1", false);
    fm_msg_t *held = s_worker_expect (abc, FM_MSG_BANK_QUERY);
    assert (streq (held->request_id, busy_id));
    //  A normal request, then a priority one: both queue, nothing is sent
    s_submit_priority (&fx, client, gov, normal, "p-2", false);
    s_submit_priority (&fx, client, gov, urgent, "p-3", true);
    s_worker_expect_quiet (abc);

    //  ABC answers: its freed slot goes to the priority request
    fm_offer_t offer = s_offer ("ABC", "P1", 300, INT64_C (100000000));
    fm_msg_t *answer = s_answer (held, "ABC", &offer, 1);
    s_worker_reply (abc, answer);
    fm_msg_destroy (&answer);
    fm_msg_destroy (&held);
    fm_msg_t *result = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_RESULT, 200);
    assert (streq (result->request_id, busy_id));
    fm_msg_destroy (&result);
    fm_msg_t *next = s_worker_expect (abc, FM_MSG_BANK_QUERY);
    if (strneq (next->request_id, urgent_id))
        fprintf (stderr, "fm_broker_test: priority: ABC got %s first, not the "
                 "priority request %s\n", next->request_id, urgent_id);
    assert (streq (next->request_id, urgent_id));
    s_worker_expect_quiet (abc);            //  capacity 1: one at a time
    answer = s_answer (next, "ABC", &offer, 1);
    s_worker_reply (abc, answer);
    fm_msg_destroy (&answer);
    fm_msg_destroy (&next);
    result = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_RESULT, 200);
    assert (streq (result->request_id, urgent_id));
    fm_msg_destroy (&result);

    //  Then the normal one
    next = s_worker_expect (abc, FM_MSG_BANK_QUERY);
    assert (streq (next->request_id, normal_id));
    answer = s_answer (next, "ABC", &offer, 1);
    s_worker_reply (abc, answer);
    fm_msg_destroy (&answer);
    fm_msg_destroy (&next);
    result = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_RESULT, 200);
    assert (streq (result->request_id, normal_id));
    fm_msg_destroy (&result);

    zsock_destroy (&client);
    zsock_destroy (&gov);
    zsock_destroy (&abc);
    s_fixture_stop (&fx);
}


//  --------------------------------------------------------------------------
//  (j) Rounds and referral: with first_round 1 a decline refers the
//      request to the next bank, a bank that misses its own deadline is an
//      sla.breach and is referred on too, until no bank is left; the
//      RESULT then lists every reason with its advice and who missed

static void
s_test_referral (bool verbose)
{
    fixture_t fx;
    s_fixture_start (&fx, verbose);
    s_set (&fx, "first_round", "1");
    s_set (&fx, "deadline_ms.BOC", "100");      //  BOC's own deadline
    zsock_t *gov = s_worker_new (&fx, "gov.credit", 4, 0);
    s_expect (&fx, FM_EV_WORKER_READY);
    zsock_t *abc = s_worker_new (&fx, "bank.ABC", 4, 0);
    s_expect (&fx, FM_EV_WORKER_READY);
    zsock_t *boc = s_worker_new (&fx, "bank.BOC", 4, 0);
    s_expect (&fx, FM_EV_WORKER_READY);
    zsock_t *cqrcb = s_worker_new (&fx, "bank.CQRCB", 4, 0);
    s_expect (&fx, FM_EV_WORKER_READY);
    char code [FM_ENTERPRISE_ID_SIZE];
    s_code (code, 20);
    char id [FM_REQUEST_ID_SIZE];
    fm_request_id_make (code, "j-1", id);
    zsock_t *client = s_client_new (&fx);
    fm_msg_t *request = s_request (code, "j-1", INT64_C (500000000));
    s_submit (&fx, client, gov, request, false, 1);
    fm_msg_destroy (&request);

    //  Only ABC is asked; while it thinks, the request is dispatched
    s_worker_expect_quiet (boc);
    fm_msg_t *status = s_status (client, id, code);
    assert (streq (status->state, "dispatched"));
    assert (status->asked_count == 1 && streq (status->asked [0], "ABC"));
    assert (strstr (status->text, "1 pending"));
    fm_msg_destroy (&status);

    //  ABC declines: referred to BOC
    s_bank_declines (abc, "ABC");
    fm_event_t event = s_expect (&fx, FM_EV_DECLINE_MADE);
    assert (streq (event.bank, "ABC") && event.latency_us > 0);
    event = s_expect (&fx, FM_EV_REQUEST_REFERRED);
    assert (streq (event.bank, "BOC") && event.count == 2);
    assert (streq (event.text, "ABC declined"));
    //  BOC never answers: after its 100 ms, a breach, referred to CQRCB
    fm_msg_t *ignored = s_worker_expect (boc, FM_MSG_BANK_QUERY);
    int64_t asked_at = zclock_mono ();
    event = s_expect (&fx, FM_EV_BANK_TIMEOUT);
    assert (streq (event.bank, "BOC"));
    assert (zclock_mono () - asked_at < 1000);  //  its own, not the 2000 default
    event = s_expect (&fx, FM_EV_SLA_BREACH);
    assert (streq (event.bank, "BOC") && event.count == 100);
    assert (event.latency_us >= 100000);
    event = s_expect (&fx, FM_EV_REQUEST_REFERRED);
    assert (streq (event.bank, "CQRCB") && event.count == 3);
    assert (streq (event.text, "BOC missed"));
    //  CQRCB declines too: nobody left, the RESULT has no offer and every
    //  reason with what would change it
    s_bank_declines (cqrcb, "CQRCB");
    s_expect (&fx, FM_EV_DECLINE_MADE);
    event = s_expect (&fx, FM_EV_REQUEST_COMPLETED);
    assert (event.status == 200 && event.count == 0);
    fm_msg_t *result = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_RESULT, 200);
    assert (result->offer_count == 0 && result->decline_count == 2);
    assert (streq (result->declines [0].bank, "ABC") && streq (result->declines [1].bank, "CQRCB"));
    for (size_t index = 0; index < 2; index++) {
        assert (result->declines [index].reason_count == 2);
        assert (streq (result->declines [index].reasons [0].advice,
                       "申请金额不超过300万元可获该产品报价"));
    }
    assert (result->timed_out_count == 1 && streq (result->timed_out [0], "BOC"));
    assert (strstr (result->text, "2 家银行谢绝") && strstr (result->text, "1 家未按时"));
    fm_msg_destroy (&result);

    //  Status now: declined, three asked in order; accept has nothing
    status = s_status (client, id, "");
    assert (streq (status->state, "declined"));
    assert (status->asked_count == 3 && streq (status->asked [2], "CQRCB"));
    assert (status->decline_count == 2 && status->timed_out_count == 1);
    fm_msg_destroy (&status);
    fm_msg_t *accept = s_accept (id, code, "ABC/P1");
    s_client_send (client, FM_SERVICE_ACCEPT, accept);
    fm_msg_destroy (&accept);
    fm_msg_t *error = s_client_expect (client, FM_SERVICE_ACCEPT, FM_MSG_ERROR, 404);
    fm_msg_destroy (&error);

    //  BOC's late answer: reply.late says how late
    fm_offer_t offer = s_offer ("BOC", "P1", 300, INT64_C (500000000));
    fm_msg_t *answer = s_answer (ignored, "BOC", &offer, 1);
    s_worker_reply (boc, answer);
    fm_msg_destroy (&answer);
    fm_msg_destroy (&ignored);
    event = s_expect (&fx, FM_EV_LATE_REPLY);
    assert (streq (event.bank, "BOC") && event.latency_us >= 100000);

    //  Status refusals: unknown 404, another enterprise 403
    char stranger [FM_ENTERPRISE_ID_SIZE];
    s_code (stranger, 21);
    fm_msg_t *query = fm_msg_new (FM_MSG_STATUS_QUERY);
    strcpy (query->request_id, "0123456789abcdef");
    s_client_send (client, FM_SERVICE_STATUS, query);
    error = s_client_expect (client, FM_SERVICE_STATUS, FM_MSG_ERROR, 404);
    fm_msg_destroy (&error);
    strcpy (query->request_id, id);
    strcpy (query->request.enterprise_id, stranger);
    s_client_send (client, FM_SERVICE_STATUS, query);
    error = s_client_expect (client, FM_SERVICE_STATUS, FM_MSG_ERROR, 403);
    fm_msg_destroy (&error);
    fm_msg_destroy (&query);
    s_expect_no_events (&fx);

    zsock_destroy (&client);
    zsock_destroy (&gov);
    zsock_destroy (&abc);
    zsock_destroy (&boc);
    zsock_destroy (&cqrcb);
    s_fixture_stop (&fx);
}


//  --------------------------------------------------------------------------
//  (k) Renewals (续贷) go first, alone, to the bank of the prior loan,
//      whatever first_round says; its decline or miss refers them to the
//      rest (a full round).  Fast-track requests get a shorter deadline.

//  Submit a renewal whose prior loan is at bank prior; banks = how many
//  the first round must ask.  Returns nothing; the events up to
//  request.dispatched are consumed.
static void
s_submit_renewal (fixture_t *fx, zsock_t *client, zsock_t *gov, const char *code,
                  const char *key, const char *prior, uint32_t banks)
{
    fm_msg_t *request = s_request (code, key, INT64_C (100000000));
    request->request.type = FM_REQ_RENEWAL;
    if (prior)
        snprintf (request->request.prior_loan_id, sizeof (request->request.prior_loan_id),
                  "%s-0123456789abcdef", prior);
    s_submit (fx, client, gov, request, false, banks);
    fm_msg_destroy (&request);
}

static void
s_test_renewal (bool verbose)
{
    fixture_t fx;
    s_fixture_start (&fx, verbose);
    zsock_t *gov = s_worker_new (&fx, "gov.credit", 4, 0);
    s_expect (&fx, FM_EV_WORKER_READY);
    zsock_t *abc = s_worker_new (&fx, "bank.ABC", 4, 0);
    s_expect (&fx, FM_EV_WORKER_READY);
    zsock_t *boc = s_worker_new (&fx, "bank.BOC", 4, 0);
    s_expect (&fx, FM_EV_WORKER_READY);
    zsock_t *cqrcb = s_worker_new (&fx, "bank.CQRCB", 4, 0);
    s_expect (&fx, FM_EV_WORKER_READY);
    char code [FM_ENTERPRISE_ID_SIZE];
    s_code (code, 22);
    zsock_t *client = s_client_new (&fx);

    //  first_round 0 (all), yet CQRCB, which holds the prior loan, is
    //  asked alone although ABC and BOC come first by name; it offers,
    //  and the others are never asked
    s_submit_renewal (&fx, client, gov, code, "k-1", "CQRCB", 1);
    s_worker_expect_quiet (abc);
    s_worker_expect_quiet (boc);
    char id [FM_REQUEST_ID_SIZE];
    fm_request_id_make (code, "k-1", id);
    fm_msg_t *status = s_status (client, id, code);
    assert (streq (status->state, "dispatched"));
    assert (status->asked_count == 1 && streq (status->asked [0], "CQRCB"));
    fm_msg_destroy (&status);
    s_bank_answers (cqrcb, "CQRCB", "GRIDE", 300);
    s_expect (&fx, FM_EV_OFFER_MADE);
    s_expect (&fx, FM_EV_REQUEST_COMPLETED);
    fm_msg_t *result = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_RESULT, 200);
    assert (result->offer_count == 1 && streq (result->offers [0].bank, "CQRCB"));
    assert (result->decline_count == 0 && result->timed_out_count == 0);
    fm_msg_destroy (&result);
    s_worker_expect_quiet (abc);
    s_worker_expect_quiet (boc);
    s_expect_no_events (&fx);

    //  The prior bank declines the renewal: referred to the rest, ABC
    //  and BOC, at once
    s_submit_renewal (&fx, client, gov, code, "k-2", "CQRCB", 1);
    s_worker_expect_quiet (abc);
    s_bank_declines (cqrcb, "CQRCB");
    s_expect (&fx, FM_EV_DECLINE_MADE);
    fm_event_t event = s_expect (&fx, FM_EV_REQUEST_REFERRED);
    assert (streq (event.bank, "ABC") && event.count == 2);
    assert (streq (event.text, "CQRCB declined"));
    event = s_expect (&fx, FM_EV_REQUEST_REFERRED);
    assert (streq (event.bank, "BOC") && event.count == 3);
    assert (streq (event.text, "CQRCB declined"));
    s_bank_answers (abc, "ABC", "P1", 310);
    s_expect (&fx, FM_EV_OFFER_MADE);
    s_bank_declines (boc, "BOC");
    s_expect (&fx, FM_EV_DECLINE_MADE);
    s_expect (&fx, FM_EV_REQUEST_COMPLETED);
    result = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_RESULT, 200);
    assert (result->offer_count == 1 && streq (result->offers [0].bank, "ABC"));
    assert (result->decline_count == 2);
    assert (streq (result->declines [0].bank, "CQRCB") && streq (result->declines [1].bank, "BOC"));
    fm_msg_destroy (&result);

    //  The prior bank misses its own 100 ms: sla.breach, referred to the
    //  rest
    s_set (&fx, "deadline_ms.CQRCB", "100");
    s_submit_renewal (&fx, client, gov, code, "k-3", "CQRCB", 1);
    fm_msg_t *ignored = s_worker_expect (cqrcb, FM_MSG_BANK_QUERY);
    s_expect (&fx, FM_EV_BANK_TIMEOUT);
    event = s_expect (&fx, FM_EV_SLA_BREACH);
    assert (streq (event.bank, "CQRCB") && event.count == 100);
    event = s_expect (&fx, FM_EV_REQUEST_REFERRED);
    assert (streq (event.bank, "ABC") && streq (event.text, "CQRCB missed"));
    event = s_expect (&fx, FM_EV_REQUEST_REFERRED);
    assert (streq (event.bank, "BOC") && streq (event.text, "CQRCB missed"));
    s_bank_answers (abc, "ABC", "P1", 310);
    s_expect (&fx, FM_EV_OFFER_MADE);
    s_bank_answers (boc, "BOC", "P1", 305);
    s_expect (&fx, FM_EV_OFFER_MADE);
    s_expect (&fx, FM_EV_REQUEST_COMPLETED);
    result = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_RESULT, 200);
    assert (result->offer_count == 2 && streq (result->offers [0].bank, "BOC"));
    assert (result->timed_out_count == 1 && streq (result->timed_out [0], "CQRCB"));
    fm_msg_destroy (&result);
    fm_msg_destroy (&ignored);
    s_set (&fx, "deadline_ms.CQRCB", "2000");

    //  With first_round 1 the referral after the prior bank is one bank,
    //  as for any request
    s_set (&fx, "first_round", "1");
    s_submit_renewal (&fx, client, gov, code, "k-4", "CQRCB", 1);
    s_bank_declines (cqrcb, "CQRCB");
    s_expect (&fx, FM_EV_DECLINE_MADE);
    event = s_expect (&fx, FM_EV_REQUEST_REFERRED);
    assert (streq (event.bank, "ABC"));
    s_worker_expect_quiet (boc);
    s_bank_answers (abc, "ABC", "P1", 310);
    s_expect (&fx, FM_EV_OFFER_MADE);
    s_expect (&fx, FM_EV_REQUEST_COMPLETED);
    result = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_RESULT, 200);
    assert (result->offer_count == 1 && result->decline_count == 1);
    fm_msg_destroy (&result);
    s_set (&fx, "first_round", "0");

    //  A renewal whose prior bank is not registered, or that names no
    //  prior loan, goes out as a new request: every bank at once
    const char *priors [] = { "ICBC", NULL };
    for (size_t index = 0; index < 2; index++) {
        char key [16];
        snprintf (key, sizeof (key), "k-5-%zu", index);
        s_submit_renewal (&fx, client, gov, code, key, priors [index], 3);
        s_bank_answers (abc, "ABC", "P1", 310);
        s_expect (&fx, FM_EV_OFFER_MADE);
        s_bank_answers (boc, "BOC", "P1", 320);
        s_expect (&fx, FM_EV_OFFER_MADE);
        s_bank_answers (cqrcb, "CQRCB", "GRIDE", 300);
        s_expect (&fx, FM_EV_OFFER_MADE);
        s_expect (&fx, FM_EV_REQUEST_COMPLETED);
        result = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_RESULT, 200);
        assert (result->offer_count == 3);
        fm_msg_destroy (&result);
    }
    //  Fast track: 2000 ms deadline at 10 % = 200 ms (BOC has no
    //  override of its own)
    s_set (&fx, "fast_track_pct", "10");
    fm_msg_t *request = s_request (code, "k-6", INT64_C (100000000));
    int64_t sent = zclock_mono ();
    s_submit (&fx, client, gov, request, true, 3);
    fm_msg_destroy (&request);
    s_bank_answers (abc, "ABC", "P1", 310);
    s_expect (&fx, FM_EV_OFFER_MADE);
    s_bank_answers (cqrcb, "CQRCB", "GRIDE", 300);
    s_expect (&fx, FM_EV_OFFER_MADE);
    ignored = s_worker_expect (boc, FM_MSG_BANK_QUERY);
    s_expect (&fx, FM_EV_BANK_TIMEOUT);
    event = s_expect (&fx, FM_EV_SLA_BREACH);
    assert (streq (event.bank, "BOC") && event.count == 200);
    assert (zclock_mono () - sent < 1500);
    s_expect (&fx, FM_EV_REQUEST_COMPLETED);
    result = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_RESULT, 200);
    assert (result->timed_out_count == 1 && streq (result->timed_out [0], "BOC"));
    fm_msg_destroy (&result);
    fm_msg_destroy (&ignored);

    zsock_destroy (&client);
    zsock_destroy (&gov);
    zsock_destroy (&abc);
    zsock_destroy (&boc);
    zsock_destroy (&cqrcb);
    s_fixture_stop (&fx);
}


//  --------------------------------------------------------------------------
//  (l) Acceptance binds: two clients race to accept different offers (one
//      wins, the other is 409), the status follows offered -> accepted ->
//      granted; an unsolicited confirmation is request.illegal; a request
//      whose offers are all out of date becomes expired

static void
s_test_binding (bool verbose)
{
    fixture_t fx;
    s_fixture_start (&fx, verbose);
    zsock_t *gov = s_worker_new (&fx, "gov.credit", 4, 0);
    s_expect (&fx, FM_EV_WORKER_READY);
    zsock_t *bank = s_worker_new (&fx, "bank.CQRCB", 4, 0);
    s_expect (&fx, FM_EV_WORKER_READY);
    char code [FM_ENTERPRISE_ID_SIZE];
    s_code (code, 23);
    zsock_t *client = s_client_new (&fx);
    zsock_t *rival = s_client_new (&fx);

    fm_msg_t *request = s_request (code, "l-1", INT64_C (100000000));
    s_submit (&fx, client, gov, request, false, 1);
    fm_msg_destroy (&request);
    fm_msg_t *query = s_worker_expect (bank, FM_MSG_BANK_QUERY);
    fm_offer_t offers [2] = {
        s_offer ("CQRCB", "GRIDE", 300, INT64_C (100000000)),
        s_offer ("CQRCB", "CYD", 310, INT64_C (100000000))
    };
    fm_msg_t *answer = s_answer (query, "CQRCB", offers, 2);
    s_worker_reply (bank, answer);
    fm_msg_destroy (&answer);
    fm_msg_destroy (&query);
    s_expect (&fx, FM_EV_OFFER_MADE);
    s_expect (&fx, FM_EV_OFFER_MADE);
    s_expect (&fx, FM_EV_REQUEST_COMPLETED);
    fm_msg_t *result = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_RESULT, 200);
    char id [FM_REQUEST_ID_SIZE];
    strcpy (id, result->request_id);
    fm_msg_destroy (&result);
    fm_msg_t *status = s_status (client, id, code);
    assert (streq (status->state, "offered") && status->offer_count == 2);
    fm_msg_destroy (&status);

    //  An unsolicited confirmation: nobody asked for a grant
    fm_msg_t *confirmation = fm_msg_new (FM_MSG_CONFIRMATION);
    strcpy (confirmation->request_id, id);
    strcpy (confirmation->request.enterprise_id, code);
    strcpy (confirmation->confirmation.offer_id, "CQRCB/GRIDE");
    strcpy (confirmation->confirmation.bank, "CQRCB");
    confirmation->confirmation.granted = true;
    snprintf (confirmation->confirmation.loan_id, FM_LOAN_ID_SIZE, "CQRCB-%s", id);
    confirmation->confirmation.amount_fen = INT64_C (100000000);
    confirmation->confirmation.term_months = 12;
    s_worker_reply (bank, confirmation);
    fm_event_t event = s_expect (&fx, FM_EV_REQUEST_ILLEGAL);
    assert (streq (event.request_id, id) && event.status == 409);
    assert (strstr (event.text, "offered -> granted"));
    status = s_status (client, id, code);
    assert (streq (status->state, "offered"));      //  not overwritten
    fm_msg_destroy (&status);

    //  The race: both accepts are on the wire before the broker reads
    //  either; exactly one wins, the other gets 409
    fm_msg_t *mine = s_accept (id, code, "CQRCB/GRIDE");
    fm_msg_t *theirs = s_accept (id, code, "CQRCB/CYD");
    s_client_send (client, FM_SERVICE_ACCEPT, mine);
    s_client_send (rival, FM_SERVICE_ACCEPT, theirs);
    event = s_expect (&fx, FM_EV_OFFER_ACCEPTED);
    const char *winner = event.offer_id;
    bool mine_won = streq (winner, "CQRCB/GRIDE");
    fm_msg_t *grant = s_worker_expect (bank, FM_MSG_GRANT_QUERY);
    assert (streq (grant->offers [0].offer_id, winner));
    s_worker_expect_quiet (bank);               //  one grant query only
    fm_msg_t *error = s_client_expect (mine_won? rival: client, FM_SERVICE_ACCEPT,
                                       FM_MSG_ERROR, 409);
    fm_msg_destroy (&error);
    status = s_status (client, id, code);
    assert (streq (status->state, "accepted") && streq (status->offer_id, winner));
    fm_msg_destroy (&status);
    //  The winner's accept again: idempotent, waits; the bank grants
    s_client_send (mine_won? client: rival, FM_SERVICE_ACCEPT, mine_won? mine: theirs);
    strcpy (confirmation->confirmation.offer_id, winner);
    s_worker_reply (bank, confirmation);
    fm_msg_destroy (&confirmation);
    fm_msg_destroy (&grant);
    s_expect (&fx, FM_EV_LOAN_GRANTED);
    zframe_t *first = s_client_frame (mine_won? client: rival, FM_SERVICE_ACCEPT);
    s_client_expect_quiet (mine_won? client: rival);    //  one answer per client
    s_client_expect_quiet (mine_won? rival: client);
    zframe_destroy (&first);
    status = s_status (client, id, code);
    assert (streq (status->state, "granted"));
    fm_msg_destroy (&status);
    //  The loser tries again after the grant: still 409
    s_client_send (mine_won? rival: client, FM_SERVICE_ACCEPT, mine_won? theirs: mine);
    error = s_client_expect (mine_won? rival: client, FM_SERVICE_ACCEPT, FM_MSG_ERROR, 409);
    fm_msg_destroy (&error);
    fm_msg_destroy (&mine);
    fm_msg_destroy (&theirs);
    s_expect_no_events (&fx);

    //  Every offer out of date: the accept is 410 and the request expires
    request = s_request (code, "l-2", INT64_C (100000000));
    s_submit (&fx, client, gov, request, false, 1);
    fm_msg_destroy (&request);
    query = s_worker_expect (bank, FM_MSG_BANK_QUERY);
    offers [0].valid_until_us = zclock_time () * 1000 - 1;
    answer = s_answer (query, "CQRCB", offers, 1);
    s_worker_reply (bank, answer);
    fm_msg_destroy (&answer);
    fm_msg_destroy (&query);
    s_expect (&fx, FM_EV_OFFER_MADE);
    s_expect (&fx, FM_EV_REQUEST_COMPLETED);
    result = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_RESULT, 200);
    strcpy (id, result->request_id);
    fm_msg_destroy (&result);
    mine = s_accept (id, code, "CQRCB/GRIDE");
    s_client_send (client, FM_SERVICE_ACCEPT, mine);
    fm_msg_destroy (&mine);
    error = s_client_expect (client, FM_SERVICE_ACCEPT, FM_MSG_ERROR, 410);
    fm_msg_destroy (&error);
    event = s_expect (&fx, FM_EV_REQUEST_EXPIRED);
    assert (streq (event.request_id, id));
    status = s_status (client, id, code);
    assert (streq (status->state, "expired"));
    fm_msg_destroy (&status);
    s_expect_no_events (&fx);

    zsock_destroy (&client);
    zsock_destroy (&rival);
    zsock_destroy (&gov);
    zsock_destroy (&bank);
    s_fixture_stop (&fx);
}


//  --------------------------------------------------------------------------
//  Pipe commands: bad SET and a bind that fails

static void
s_test_pipe (bool verbose)
{
    (void) verbose;
    zactor_t *broker = zactor_new (fm_broker, NULL);
    assert (broker);
    zstr_sendx (broker, "SET", "deadline_ms", "5", NULL);
    char *reply = zstr_recv (broker);
    assert (reply && strneq (reply, "0") && strstr (reply, "deadline_ms"));
    zstr_free (&reply);
    zstr_sendx (broker, "SET", "no_such_setting", "5", NULL);
    reply = zstr_recv (broker);
    assert (reply && strncmp (reply, "-1 ", 3) == 0);
    zstr_free (&reply);
    zstr_sendx (broker, "SET", "max_inflight", "12x", NULL);
    reply = zstr_recv (broker);
    assert (reply && strncmp (reply, "-1 ", 3) == 0);
    zstr_free (&reply);
    zstr_sendx (broker, "BIND", "tcp://127.0.0.1:*", NULL);
    reply = zstr_recv (broker);
    assert (reply && streq (reply, "0"));
    zstr_free (&reply);
    zstr_sendx (broker, "PORTS", NULL);
    char *router_port, *events_port;
    assert (zstr_recvx (broker, &router_port, &events_port, NULL) == 2);
    assert (streq (events_port, ""));       //  EVENTS not bound yet
    //  A bad endpoint and a port in use fail with the reason
    zactor_t *second = zactor_new (fm_broker, NULL);
    zstr_sendx (second, "BIND", "tcp://nowhere", NULL);
    reply = zstr_recv (second);
    assert (reply && strncmp (reply, "-1 ", 3) == 0);
    zstr_free (&reply);
    char endpoint [64];
    snprintf (endpoint, sizeof (endpoint), "tcp://127.0.0.1:%s", router_port);
    zstr_sendx (second, "BIND", endpoint, NULL);
    reply = zstr_recv (second);
    assert (reply && streq (reply, "-1 Address already in use"));
    zstr_free (&reply);
    zstr_free (&router_port);
    zstr_free (&events_port);
    zactor_destroy (&second);
    zactor_destroy (&broker);
}


//  --------------------------------------------------------------------------
//  (m) A RESULT too large for FM_MAX_BODY: 40 banks decline, each with 16
//      reasons whose text and advice are 249 bytes (about 350 KiB in
//      all).  The broker must still answer 200, with every decline, its
//      reasons cut to what fits and the result text saying so; STATUS too.

#define LARGE_BANKS     40

static void
s_test_large_result (bool verbose)
{
    fixture_t fx;
    s_fixture_start (&fx, verbose);
    zsock_t *gov = s_worker_new (&fx, "gov.credit", 4, 0);
    s_expect (&fx, FM_EV_WORKER_READY);
    zsock_t *banks [LARGE_BANKS];
    for (size_t index = 0; index < LARGE_BANKS; index++) {
        char service [FM_SERVICE_SIZE];
        snprintf (service, sizeof (service), "bank.B%02zu", index);
        banks [index] = s_worker_new (&fx, service, 4, 0);
        s_expect (&fx, FM_EV_WORKER_READY);
    }
    char long_text [FM_TEXT_SIZE] = "";
    for (size_t index = 0; index < 83; index++)
        strcat (long_text, "额");               //  3 bytes each: 249
    char code [FM_ENTERPRISE_ID_SIZE];
    s_code (code, 30);
    char id [FM_REQUEST_ID_SIZE];
    fm_request_id_make (code, "m-1", id);
    zsock_t *client = s_client_new (&fx);
    fm_msg_t *request = s_request (code, "m-1", INT64_C (100000000));
    s_submit (&fx, client, gov, request, false, LARGE_BANKS);
    fm_msg_destroy (&request);
    size_t encoded = 0;
    for (size_t index = 0; index < LARGE_BANKS; index++) {
        char bank [FM_CODE_SIZE];
        snprintf (bank, sizeof (bank), "B%02zu", index);
        fm_msg_t *query = s_worker_expect (banks [index], FM_MSG_BANK_QUERY);
        fm_msg_t *answer = fm_msg_new (FM_MSG_BANK_ANSWER);
        strcpy (answer->request_id, query->request_id);
        strcpy (answer->bank, bank);
        fm_decline_t decline;
        memset (&decline, 0, sizeof (decline));
        strcpy (decline.bank, bank);
        for (size_t reason = 0; reason < FM_MAX_REASONS; reason++) {
            decline.reasons [reason].code = FM_REASON_AMOUNT_ABOVE_MAX;
            snprintf (decline.reasons [reason].product, FM_CODE_SIZE, "P%02zu", reason);
            strcpy (decline.reasons [reason].text, long_text);
            strcpy (decline.reasons [reason].advice, long_text);
        }
        decline.reason_count = FM_MAX_REASONS;
        assert (fm_msg_add_decline (answer, &decline) == 0);
        fm_error_t err;
        zframe_t *frame = fm_msg_encode (answer, &err);
        assert (frame);
        encoded += zframe_size (frame);
        zframe_destroy (&frame);
        s_worker_reply (banks [index], answer);
        fm_msg_destroy (&answer);
        fm_msg_destroy (&query);
        s_expect (&fx, FM_EV_DECLINE_MADE);
    }
    assert (encoded > FM_MAX_BODY);             //  the test means something
    fm_event_t event = s_expect (&fx, FM_EV_REQUEST_COMPLETED);
    assert (event.status == 200 && event.count == 0);
    fm_msg_t *result = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_RESULT, 200);
    assert (result->offer_count == 0 && result->decline_count == LARGE_BANKS);
    for (size_t index = 0; index < LARGE_BANKS; index++) {
        assert (result->declines [index].reason_count == FM_MAX_REASONS / 2);
        assert (streq (result->declines [index].reasons [0].advice, long_text));
    }
    if (verbose)
        zsys_debug ("test: large result text: %s", result->text);
    assert (strstr (result->text, "40 家银行谢绝"));
    assert (strstr (result->text, "每家谢绝只列前 8 条原因, 另有 0 家谢绝、0 个报价未列出"));
    fm_msg_destroy (&result);
    //  The stored result is replayed as it was sent
    request = s_request (code, "m-1", INT64_C (100000000));
    s_client_send (client, FM_SERVICE_REQUEST, request);
    fm_msg_destroy (&request);
    result = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_RESULT, 200);
    assert (result->decline_count == LARGE_BANKS && strstr (result->text, "8 条原因"));
    fm_msg_destroy (&result);
    //  STATUS carries the same declines and fits too
    fm_msg_t *status = s_status (client, id, code);
    assert (streq (status->state, "declined"));
    assert (status->asked_count == LARGE_BANKS && status->decline_count == LARGE_BANKS);
    assert (status->declines [0].reason_count == FM_MAX_REASONS / 2);
    fm_msg_destroy (&status);

    zsock_destroy (&client);
    zsock_destroy (&gov);
    for (size_t index = 0; index < LARGE_BANKS; index++)
        zsock_destroy (&banks [index]);
    s_fixture_stop (&fx);
}


//  --------------------------------------------------------------------------
//  (q) Risk warnings expire on time: the broker's own sweep publishes
//      risk.warning 410 "expired" soon after a warning's expires_us, with
//      no further fm.warn call, and exactly once; a warning without expiry
//      stays until lifted

#define SERVICE_WARN    "fm.warn"   //  the broker's own service (fm_warn.h)

//  Raise (level 2, by GOV01) or lift a warning on target_id; expires_us
//  0 = until lifted.  The answer must be WARN 200 or an ERROR of status.
static void
s_warn (zsock_t *client, fm_warn_target_t target, const char *target_id,
        bool lift, int64_t expires_us, uint16_t status)
{
    fm_msg_t *msg = fm_msg_new (FM_MSG_WARN);
    msg->warning.target = target;
    snprintf (msg->warning.target_id, sizeof (msg->warning.target_id), "%s", target_id);
    msg->warning.lift = lift;
    if (!lift) {
        msg->warning.level = 2;
        strcpy (msg->warning.reason, "非法集资风险提示");
        strcpy (msg->warning.raised_by, "GOV01");
        msg->warning.expires_us = expires_us;
    }
    s_client_send (client, SERVICE_WARN, msg);
    fm_msg_destroy (&msg);
    msg = s_client_expect (client, SERVICE_WARN,
                           status == FM_STATUS_OK? FM_MSG_WARN: FM_MSG_ERROR, status);
    fm_msg_destroy (&msg);
}

static void
s_test_warning_expiry (bool verbose)
{
    fixture_t fx;
    s_fixture_start (&fx, verbose);
    zsock_t *client = s_client_new (&fx);
    char firm [FM_ENTERPRISE_ID_SIZE];
    s_code (firm, 4242);

    //  GYQ-01 until lifted; GYQ-02 for 400 ms; the firm for 200 ms (after
    //  GYQ-02: the sweep timer must move earlier)
    int64_t now_us = zclock_time () * 1000;
    int64_t grid_expiry = now_us + 400 * 1000;
    int64_t firm_expiry = now_us + 200 * 1000;
    s_warn (client, FM_WARN_GRID, "GYQ-01", false, 0, FM_STATUS_OK);
    s_warn (client, FM_WARN_GRID, "GYQ-02", false, grid_expiry, FM_STATUS_OK);
    s_warn (client, FM_WARN_ENTERPRISE, firm, false, firm_expiry, FM_STATUS_OK);

    //  Nobody calls fm.warn now.  Three raised, then two expired, each by
    //  the broker's timer and never before its expiry.  "Soon" is the
    //  WAIT_MS of s_expect: load delays timers, it never hurries them, and
    //  a stalled test may see an expiry before the last raise (seq order
    //  is all that is certain, so the events are matched, not ordered)
    bool seen [5] = { false };      //  GYQ-01, GYQ-02, firm raised; GYQ-02,
                                    //  firm expired
    for (size_t count = 0; count < 5; count++) {
        fm_event_t event = s_expect (&fx, FM_EV_RISK_WARNING);
        assert (event.count == 2 && streq (event.peer, "GOV01"));
        bool grid = *event.grid_id != 0;
        assert (grid? !*event.enterprise_id: streq (event.enterprise_id, firm));
        size_t index;
        if (event.status == FM_STATUS_OK) {
            assert (streq (event.text, "非法集资风险提示"));
            index = !grid? 2: streq (event.grid_id, "GYQ-01")? 0: 1;
        }
        else {
            assert (event.status == FM_STATUS_GONE && streq (event.text, "expired"));
            assert (!grid || streq (event.grid_id, "GYQ-02"));
            assert ((int64_t) event.ts_us >= (grid? grid_expiry: firm_expiry));
            index = grid? 3: 4;
            assert (seen [grid? 1: 2]);     //  raised first
        }
        assert (!seen [index]);
        seen [index] = true;
    }
    //  Exactly once: both are gone from the table (a lift finds nothing,
    //  and its own sweep publishes nothing more); GYQ-01 stayed
    s_warn (client, FM_WARN_ENTERPRISE, firm, true, 0, FM_STATUS_NOT_FOUND);
    s_warn (client, FM_WARN_GRID, "GYQ-02", true, 0, FM_STATUS_NOT_FOUND);
    s_expect_no_events (&fx);
    s_warn (client, FM_WARN_GRID, "GYQ-01", true, 0, FM_STATUS_OK);
    fm_event_t event = s_expect (&fx, FM_EV_RISK_WARNING);
    assert (event.status == FM_STATUS_GONE && streq (event.text, "lifted"));
    assert (streq (event.grid_id, "GYQ-01"));

    //  Already past its expiry when raised: raised, then expired at once
    s_warn (client, FM_WARN_GRID, "GYQ-03", false, 1, FM_STATUS_OK);
    event = s_expect (&fx, FM_EV_RISK_WARNING);
    assert (event.status == FM_STATUS_OK && streq (event.grid_id, "GYQ-03"));
    event = s_expect (&fx, FM_EV_RISK_WARNING);
    assert (event.status == FM_STATUS_GONE && streq (event.text, "expired"));
    assert (streq (event.grid_id, "GYQ-03"));
    s_expect_no_events (&fx);

    zsock_destroy (&client);
    s_fixture_stop (&fx);
}


//  A fresh temp dir from template dir (changed in place) for a broker
//  journal; returns the journal's path in it (caller frees with
//  s_journal_dir_remove, which also removes the dir)
static char *
s_journal_dir_new (char *dir)
{
    assert (mkdtemp (dir));
    return zsys_sprintf ("%s/journal", dir);
}

static void
s_journal_dir_remove (const char *dir, char **journal_p)
{
    char *command = zsys_sprintf ("rm -rf '%s'", dir);
    assert (system (command) == 0);
    zstr_free (&command);
    zstr_free (journal_p);
}

//  --------------------------------------------------------------------------
//  (r) Risk warnings survive broker restarts (journal WARNING records):
//      raised, replaced, lifted and one left to expire on a first broker;
//      the second, on the same journal, holds the same table, publishes
//      the 410 of the warning that expired while no broker ran exactly
//      once, and lifts another; the third (the first two segments pruned:
//      only the copies made at each start are left) publishes no 410
//      again, and its bank queries still carry the rest

//  Raise a warning of level with reason (by GOV01); the answer is WARN 200
//  and the event risk.warning 200 follows.
static void
s_warn_raise (fixture_t *fx, zsock_t *client, fm_warn_target_t target,
              const char *target_id, uint8_t level, const char *reason,
              int64_t expires_us)
{
    fm_msg_t *msg = fm_msg_new (FM_MSG_WARN);
    msg->warning.target = target;
    snprintf (msg->warning.target_id, sizeof (msg->warning.target_id), "%s", target_id);
    msg->warning.level = level;
    snprintf (msg->warning.reason, sizeof (msg->warning.reason), "%s", reason);
    strcpy (msg->warning.raised_by, "GOV01");
    msg->warning.expires_us = expires_us;
    s_client_send (client, SERVICE_WARN, msg);
    fm_msg_destroy (&msg);
    msg = s_client_expect (client, SERVICE_WARN, FM_MSG_WARN, FM_STATUS_OK);
    fm_msg_destroy (&msg);
    fm_event_t event = s_expect (fx, FM_EV_RISK_WARNING);
    assert (event.status == FM_STATUS_OK && event.count == level);
}

static void
s_test_warning_restart (bool verbose)
{
    char dir [] = "/tmp/fm-broker-warn-XXXXXX";
    char *journal = s_journal_dir_new (dir);
    char firm [FM_ENTERPRISE_ID_SIZE];
    s_code (firm, 4343);

    //  First broker: JB-01 and GYQ-07 until lifted; the firm raised, then
    //  replaced (level 3); GYQ-08 raised and lifted; GYQ-09 expiring soon
    fixture_t fx;
    s_fixture_open (&fx, verbose, journal);
    zsock_t *client = s_client_new (&fx);
    s_warn_raise (&fx, client, FM_WARN_GRID, "JB-01", 2, "非法集资风险提示", 0);
    s_warn_raise (&fx, client, FM_WARN_GRID, "GYQ-07", 1, "关注", 0);
    s_warn_raise (&fx, client, FM_WARN_ENTERPRISE, firm, 2, "涉诉", 0);
    s_warn_raise (&fx, client, FM_WARN_ENTERPRISE, firm, 3, "欠税", 0);
    s_warn_raise (&fx, client, FM_WARN_GRID, "GYQ-08", 1, "关注", 0);
    s_warn (client, FM_WARN_GRID, "GYQ-08", true, 0, FM_STATUS_OK);
    fm_event_t event = s_expect (&fx, FM_EV_RISK_WARNING);
    assert (event.status == FM_STATUS_GONE && streq (event.grid_id, "GYQ-08"));
    int64_t expiry = zclock_time () * 1000 + 500 * 1000;
    s_warn_raise (&fx, client, FM_WARN_GRID, "GYQ-09", 1, "关注", expiry);
    zsock_destroy (&client);
    s_fixture_stop (&fx);
    //  Stopped before GYQ-09 expired (its 410 is the next broker's), and
    //  no broker runs until it has: a wait on the wall clock, which is
    //  what expires_us is
    assert (zclock_time () * 1000 < expiry);
    while (zclock_time () * 1000 <= expiry)
        zclock_sleep (10);

    //  Second broker: GYQ-09's 410 "expired" once the resume window ends,
    //  with no call; GYQ-08 stayed lifted, GYQ-07 is held and lifts
    s_fixture_open (&fx, verbose, journal);
    client = s_client_new (&fx);
    event = s_expect (&fx, FM_EV_RISK_WARNING);
    assert (event.status == FM_STATUS_GONE && streq (event.text, "expired"));
    assert (streq (event.grid_id, "GYQ-09") && streq (event.peer, "GOV01"));
    s_warn (client, FM_WARN_GRID, "GYQ-09", true, 0, FM_STATUS_NOT_FOUND);
    s_warn (client, FM_WARN_GRID, "GYQ-08", true, 0, FM_STATUS_NOT_FOUND);
    s_warn (client, FM_WARN_GRID, "GYQ-07", true, 0, FM_STATUS_OK);
    event = s_expect (&fx, FM_EV_RISK_WARNING);
    assert (event.status == FM_STATUS_GONE && streq (event.text, "lifted"));
    assert (streq (event.grid_id, "GYQ-07"));
    s_expect_no_events (&fx);
    zsock_destroy (&client);
    s_fixture_stop (&fx);

    //  Third broker: the segments of the first two were pruned at its
    //  start (nothing pins them), so all it knows of the warnings comes
    //  from the copy the second one made at its own start, and what
    //  followed.  No second 410 for GYQ-09, now or at any fm.warn call
    s_fixture_open (&fx, verbose, journal);
    char *segment = zsys_sprintf ("%s/seg-00000001.fmj", journal);
    assert (!zsys_file_exists (segment));
    zstr_free (&segment);
    segment = zsys_sprintf ("%s/seg-00000002.fmj", journal);
    assert (!zsys_file_exists (segment));
    zstr_free (&segment);
    client = s_client_new (&fx);
    s_warn (client, FM_WARN_GRID, "GYQ-09", true, 0, FM_STATUS_NOT_FOUND);
    s_warn (client, FM_WARN_GRID, "GYQ-07", true, 0, FM_STATUS_NOT_FOUND);
    s_expect_no_events (&fx);
    //  The firm's (replaced) warning and its grid's reach the bank
    zsock_t *gov = s_worker_new (&fx, "gov.credit", 4, 10000);
    zsock_t *bank = s_worker_new (&fx, "bank.CQRCB", 4, 10000);
    //  Both registered before the request: a bank READY that comes after
    //  the profile would make it a 503 "no bank service registered"
    s_expect (&fx, FM_EV_WORKER_READY);
    s_expect (&fx, FM_EV_WORKER_READY);
    fm_msg_t *request = s_request (firm, "warn-1", INT64_C (100000000));
    s_client_send (client, FM_SERVICE_REQUEST, request);
    fm_msg_destroy (&request);
    s_gov_answers (gov);
    fm_msg_t *query = s_worker_expect (bank, FM_MSG_BANK_QUERY);
    if (verbose)
        zsys_debug ("test: warnings after two restarts: %s", query->profile.warnings);
    char expected [FM_TEXT_SIZE];
    snprintf (expected, sizeof (expected), "企业 %s 3级: 欠税", firm);
    assert (strstr (query->profile.warnings, expected));
    assert (strstr (query->profile.warnings, "网格 JB-01 2级: 非法集资风险提示"));
    assert (!strstr (query->profile.warnings, "GYQ"));
    fm_msg_destroy (&query);
    zsock_destroy (&gov);
    zsock_destroy (&bank);
    zsock_destroy (&client);
    s_fixture_stop (&fx);

    s_journal_dir_remove (dir, &journal);
}

//  (s) Requests in flight resume from the journal however their REQUEST
//      was journaled: a small body as the client sent it, one that
//      unknown keys make large re-encoded (the journal stays small).  The
//      next broker asks gov.credit again with the same request.
static void
s_test_journal_request (bool verbose)
{
    char dir [] = "/tmp/fm-broker-request-XXXXXX";
    char *journal = s_journal_dir_new (dir);
    char firm [FM_ENTERPRISE_ID_SIZE];
    s_code (firm, 4747);

    fixture_t fx;
    s_fixture_open (&fx, verbose, journal);
    zsock_t *client = s_client_new (&fx);
    zsock_t *gov = s_worker_new (&fx, "gov.credit", 4, 10000);
    s_expect (&fx, FM_EV_WORKER_READY);     //  Before the requests: no 503
    fm_msg_t *small = s_request (firm, "journal-small", INT64_C (100000000));
    s_client_send (client, FM_SERVICE_REQUEST, small);
    fm_msg_t *large = s_request (firm, "journal-large", INT64_C (200000000));
    strcpy (large->request.purpose, "设备更新");
    fm_error_t err;
    zframe_t *frame = fm_msg_encode (large, &err);
    assert (frame);
    //  One more map entry: "extra" = 6000 bytes of str 16
    size_t size = zframe_size (frame);
    byte *body = (byte *) malloc (size + 16 + 6000);
    assert (body);
    memcpy (body, zframe_data (frame), size);
    assert (body [0] >= 0x80 && body [0] < 0x8F);      //  fixmap
    body [0]++;
    memcpy (body + size, "\xa5" "extra" "\xda\x17\x70", 9);
    memset (body + size + 9, 'x', 6000);
    s_client_send_raw (client, FM_SERVICE_REQUEST, body, size + 9 + 6000);
    free (body);
    zframe_destroy (&frame);
    //  Both asked of gov.credit, which never answers
    fm_msg_t *query = s_worker_expect (gov, FM_MSG_CREDIT_QUERY);
    fm_msg_destroy (&query);
    query = s_worker_expect (gov, FM_MSG_CREDIT_QUERY);
    fm_msg_destroy (&query);
    zsock_destroy (&gov);
    zsock_destroy (&client);
    s_fixture_stop (&fx);
    char *segment = zsys_sprintf ("%s/seg-00000001.fmj", journal);
    zfile_t *file = zfile_new (NULL, segment);
    assert (file && zfile_cursize (file) < 4096);       //  Not the 6 KB
    zfile_destroy (&file);
    zstr_free (&segment);

    //  The next broker resumes both: gov.credit is asked again, and the
    //  banks get the same requests
    s_fixture_open (&fx, verbose, journal);
    zsock_t *bank = s_worker_new (&fx, "bank.CQRCB", 4, 10000);
    fm_event_t event;
    do
        assert (s_event_next (&fx, &event, WAIT_MS, false) == 0);
    while (event.type != FM_EV_WORKER_READY || strneq (event.service, "bank.CQRCB"));
    gov = s_worker_new (&fx, "gov.credit", 4, 10000);
    s_gov_answers (gov);
    s_gov_answers (gov);
    size_t resumed = 0;
    for (size_t count = 0; count < 2; count++) {
        query = s_worker_expect (bank, FM_MSG_BANK_QUERY);
        const fm_msg_t *asked = streq (query->request.idem_key, "journal-small")? small: large;
        char id [FM_REQUEST_ID_SIZE];
        fm_request_id_make (firm, asked->request.idem_key, id);
        assert (streq (query->request_id, id));
        assert (streq (query->request.enterprise_id, firm));
        assert (streq (query->request.idem_key, asked->request.idem_key));
        assert (streq (query->request.purpose, asked->request.purpose));
        assert (query->request.amount_fen == asked->request.amount_fen);
        assert (query->request.term_months == asked->request.term_months);
        assert (query->request.consent == asked->request.consent);
        resumed += asked == small? 1: 10;
        fm_msg_destroy (&query);
    }
    assert (resumed == 11);
    zsock_destroy (&gov);
    zsock_destroy (&bank);
    s_fixture_stop (&fx);
    fm_msg_destroy (&small);
    fm_msg_destroy (&large);
    s_journal_dir_remove (dir, &journal);
}

//  (t) Under a journal, ROUTER messages and events wait in one outbox for
//      the turn's journal write.  Many requests in flight: gov.credit gets
//      their queries in the order the client sent them, and a restart
//      resumes them all in one turn, more parts than the outbox holds
//      (flushed when full, nothing lost or repeated).
#define OUTBOX_TEST_REQUESTS 700
static void
s_test_journal_outbox (bool verbose)
{
    char dir [] = "/tmp/fm-broker-outbox-XXXXXX";
    char *journal = s_journal_dir_new (dir);
    char firm [FM_ENTERPRISE_ID_SIZE];
    s_code (firm, 5151);
    char (*ids) [FM_REQUEST_ID_SIZE] = (char (*) [FM_REQUEST_ID_SIZE])
        calloc (OUTBOX_TEST_REQUESTS, FM_REQUEST_ID_SIZE);
    assert (ids);

    fixture_t fx;
    s_fixture_open (&fx, verbose, journal);
    zsock_t *client = s_client_new (&fx);
    zsock_t *gov = s_worker_new (&fx, "gov.credit", 1024, 10000);
    s_expect (&fx, FM_EV_WORKER_READY);
    for (int index = 0; index < OUTBOX_TEST_REQUESTS; index++) {
        char key [32];
        snprintf (key, sizeof (key), "outbox-%d", index);
        fm_msg_t *request = s_request (firm, key, INT64_C (100000000) + index);
        s_client_send (client, FM_SERVICE_REQUEST, request);
        fm_request_id_make (firm, key, ids [index]);
        fm_msg_destroy (&request);
    }
    //  One DEALER, one gov worker: the queries keep the requests' order
    for (int index = 0; index < OUTBOX_TEST_REQUESTS; index++) {
        fm_msg_t *query = s_worker_expect (gov, FM_MSG_CREDIT_QUERY);
        assert (streq (query->request_id, ids [index]));
        fm_msg_destroy (&query);
    }
    zsock_destroy (&gov);
    zsock_destroy (&client);
    s_fixture_stop (&fx);

    //  The next broker asks gov.credit again for each, exactly once
    s_fixture_open (&fx, verbose, journal);
    gov = s_worker_new (&fx, "gov.credit", 1024, 10000);
    zhashx_t *seen = zhashx_new ();
    assert (seen);
    for (int index = 0; index < OUTBOX_TEST_REQUESTS; index++) {
        fm_msg_t *query = s_worker_expect (gov, FM_MSG_CREDIT_QUERY);
        assert (zhashx_insert (seen, query->request_id, (void *) 1) == 0);
        fm_msg_destroy (&query);
    }
    for (int index = 0; index < OUTBOX_TEST_REQUESTS; index++)
        assert (zhashx_lookup (seen, ids [index]));
    s_worker_expect_quiet (gov);
    zhashx_destroy (&seen);
    zsock_destroy (&gov);
    s_fixture_stop (&fx);
    free (ids);
    s_journal_dir_remove (dir, &journal);
}

static void
s_body_destroy (void **item)
{
    zframe_destroy ((zframe_t **) item);
}

//  The events of the next batch on sub within WAIT_MS, appended to
//  bodies (zframe_t each).  Returns how many, 0 on timeout.
static size_t
s_batch_recv (zsock_t *sub, zlistx_t *bodies)
{
    zpoller_t *poller = zpoller_new (sub, NULL);
    void *which = zpoller_wait (poller, WAIT_MS);
    zpoller_destroy (&poller);
    if (which != sub)
        return 0;
    zmsg_t *msg = zmsg_recv (sub);
    assert (msg && zmsg_size (msg) == 2);
    zframe_t *topic = zmsg_first (msg);
    assert (zframe_streq (topic, FM_BATCH_TOPIC));
    zframe_t *body = zmsg_next (msg);
    fm_batch_reader_t reader;
    fm_error_t err;
    assert (fm_batch_open (&reader, zframe_data (body), zframe_size (body), &err) == 0);
    const byte *event;
    size_t size;
    size_t count = 0;
    while (fm_batch_next (&reader, &event, &size)) {
        zlistx_add_end (bodies, zframe_new (event, size));
        count++;
    }
    zmsg_destroy (&msg);
    return count;
}

//  A marker that names itself: its input.rejected event says "unknown
//  protocol 'N<number>'", so the wait skips the events of earlier
//  markers that come late.  Returns the event's seq.
static uint64_t
s_mark_numbered (fixture_t *fx, zsock_t *rejects, unsigned number)
{
    char protocol [16], quoted [20];
    snprintf (protocol, sizeof protocol, "N%u", number);
    snprintf (quoted, sizeof quoted, "'%s'", protocol);
    zstr_sendx (fx->marker, "", protocol, NULL);
    for (;;) {
        zmsg_t *msg = zmsg_recv (rejects);
        assert (msg && zmsg_size (msg) == 2);
        fm_event_t event;
        s_body_event (zmsg_last (msg), "input.rejected.", &event);
        zmsg_destroy (&msg);
        if (strstr (event.text, quoted))
            return event.seq;
    }
}

//  A round trip on the broker's pipe.  Its loop runs one handler at a
//  time, each ending with a flush: when the answer comes, every handler
//  that ran before has returned, and closed its turn's event batch (with
//  event_batch_ms 0).  Without a journal an event reaches a subscriber
//  at once, before its turn ends, so seeing it is no such proof.
static void
s_broker_fence (fixture_t *fx)
{
    zstr_send (fx->broker, "PORTS");
    zmsg_t *reply = zmsg_recv (fx->broker);
    assert (reply && zmsg_size (reply) == 2);
    zmsg_destroy (&reply);
}

//  Event batches (SPEC 12.3): a "$batch" subscriber gets every event the
//  "" subscriber gets, in order, several in one message; and keeps
//  getting them, gap-free, once it is the only subscriber (the broker
//  then sends no single events)
static void
s_test_batches (bool verbose)
{
    fixture_t fx;
    s_fixture_start (&fx, verbose);
    //  A subscriber to everything is no reason to build batches: up to
    //  here (a synced fixture, its fence events) fx.sub saw none
    s_expect_no_events (&fx);
    assert (fx.batches == 0);
    zsock_t *batches = zsock_new_sub (fx.events, FM_BATCH_TOPIC);
    assert (batches);
    //  Live once a marker's event arrives in a batch
    zlistx_t *bodies = zlistx_new ();
    zlistx_set_destructor (bodies, s_body_destroy);
    bool live = false;
    for (int attempt = 0; attempt < 100 && !live; attempt++) {
        s_mark_send (&fx);
        s_expect (&fx, FM_EV_INPUT_REJECTED);
        zpoller_t *poller = zpoller_new (batches, NULL);
        live = zpoller_wait (poller, 50) == batches;
        zpoller_destroy (&poller);
    }
    assert (live);
    while (s_batch_recv (batches, bodies) == 0)
        ;
    zlistx_purge (bodies);

    //  A whole request: gov, one bank, RESULT
    zsock_t *gov = s_worker_new (&fx, "gov.credit", 4, 1000);
    s_expect (&fx, FM_EV_WORKER_READY);
    zsock_t *bank = s_worker_new (&fx, "bank.CQRCB", 4, 1000);
    s_expect (&fx, FM_EV_WORKER_READY);
    char code [FM_ENTERPRISE_ID_SIZE];
    s_code (code, 4242);
    zsock_t *client = s_client_new (&fx);
    fm_msg_t *request = s_request (code, "batch-1", INT64_C (100000000));
    s_client_send (client, FM_SERVICE_REQUEST, request);
    fm_msg_destroy (&request);
    s_gov_answers (gov);
    s_bank_answers (bank, "CQRCB", "GRIDE", 380);
    fm_msg_t *result = s_client_expect (client, FM_SERVICE_REQUEST, FM_MSG_RESULT, 200);
    fm_msg_destroy (&result);
    //  Read the request's events one by one up to a fence
    s_mark_send (&fx);
    fm_event_t event;
    do
        assert (s_event_next (&fx, &event, WAIT_MS, true) == 0);
    while (event.type != FM_EV_INPUT_REJECTED);
    uint64_t last = fx.seq;

    //  The same events, read one by one and then in batches
    size_t messages = 0;
    while (zlistx_size (bodies) < 8 && s_batch_recv (batches, bodies))
        messages++;
    assert (messages < zlistx_size (bodies));       //  several a message
    zframe_t *body = (zframe_t *) zlistx_first (bodies);
    uint64_t seq = 0;
    while (body) {
        s_body_event (body, "in a batch", &event);
        assert (seq == 0 || event.seq == seq + 1);
        seq = event.seq;
        body = (zframe_t *) zlistx_next (bodies);
    }
    assert (seq == last);

    //  Alone: the "" subscriber leaves; batches go on, gap-free
    zsock_destroy (&fx.sub);
    zclock_sleep (100);             //  the unsubscription reaches the XPUB
    zlistx_purge (bodies);
    for (int index = 0; index < 3; index++)
        s_mark_send (&fx);
    while (zlistx_size (bodies) < 3)
        assert (s_batch_recv (batches, bodies));
    body = (zframe_t *) zlistx_first (bodies);
    while (body) {
        s_body_event (body, "in a batch", &event);
        assert (event.type == FM_EV_INPUT_REJECTED && event.seq == ++seq);
        body = (zframe_t *) zlistx_next (bodies);
    }
    //  A prefix subscriber gets its events alone (the broker matches its
    //  topic as the XPUB would) next to the batches
    zsock_t *rejects = zsock_new_sub (fx.events, "input.rejected.");
    assert (rejects);
    zsock_set_rcvtimeo (rejects, 50);
    bool matched = false;
    for (int attempt = 0; attempt < 100 && !matched; attempt++) {
        s_mark_send (&fx);
        zmsg_t *msg = zmsg_recv (rejects);
        matched = msg != NULL;
        zmsg_destroy (&msg);
    }
    assert (matched);
    //  Held: with event_batch_ms 1000 the events of three loop turns (each
    //  marker's event seen, and its turn ended (s_broker_fence), before the
    //  next is sent; the markers are numbered, so a late event of an
    //  earlier one is not taken for it) leave in one batch; with 0 each
    //  turn's event leaves alone.  A held run may be
    //  split by no fault of the broker's: the batch may have been opened
    //  by another event (the fake workers' expiry, which publishes
    //  worker.expired) up to a second earlier, or a loaded machine (ctest
    //  -j) may spread the three turns over the hold.  Such a run is tried
    //  again (up to 20 times); a split of a batch that our first event
    //  opened, with the three turns inside the hold, fails at once
    zsock_set_rcvtimeo (rejects, 100);
    zmsg_t *late;
    while ((late = zmsg_recv (rejects)))
        zmsg_destroy (&late);
    zsock_set_rcvtimeo (rejects, WAIT_MS);
    unsigned markers = 0;
    for (int held = 1; held >= 0; held--) {
        s_set (&fx, "event_batch_ms", held? "1000": "0");
        for (int attempt = 0; ; attempt++) {
            int64_t started = zclock_mono ();
            uint64_t seqs [3];
            for (int index = 0; index < 3; index++) {
                seqs [index] = s_mark_numbered (&fx, rejects, ++markers);
                s_broker_fence (&fx);       //  the next marker: a turn of its own
            }
            int64_t took = zclock_mono () - started;
            //  Messages that hold one of the three, and whether the
            //  first of them opened its batch
            size_t messages = 0;
            bool last_seen = false;
            bool opened_by_first = false;
            while (!last_seen) {
                zlistx_purge (bodies);
                assert (s_batch_recv (batches, bodies));
                bool ours = false;
                body = (zframe_t *) zlistx_first (bodies);
                bool batch_head = true;
                while (body) {
                    s_body_event (body, "in a batch", &event);
                    ours |= event.seq == seqs [0] || event.seq == seqs [1]
                         || event.seq == seqs [2];
                    last_seen |= event.seq == seqs [2];
                    opened_by_first |= batch_head && event.seq == seqs [0];
                    batch_head = false;
                    body = (zframe_t *) zlistx_next (bodies);
                }
                messages += ours;
            }
            if (held && messages != 1) {
                bool fair = opened_by_first && took < 1000;
                if (verbose || fair || attempt == 19)
                    zsys_debug ("held run split in %zu (three turns took %" PRId64
                                " ms, batch %s by the first marker)", messages, took,
                                opened_by_first? "opened": "not opened");
                assert (!fair);             //  the broker closed a held batch
                assert (attempt < 19);      //  the machine never let a run through
                continue;
            }
            assert (messages == (held? 1: 3));
            break;
        }
    }
    zsock_destroy (&rejects);
    zlistx_destroy (&bodies);
    zsock_destroy (&batches);
    zsock_destroy (&client);
    zsock_destroy (&bank);
    zsock_destroy (&gov);
    s_fixture_stop (&fx);
}

//  The next REQUEST or REQUESTS to a fake worker (heartbeats skipped):
//  appends each query, decoded, to queries and checks its token.  Returns
//  the command, or -1 on timeout.
static int
s_worker_queries (zsock_t *worker, zlistx_t *queries)
{
    zpoller_t *poller = zpoller_new (worker, NULL);
    int command = -1;
    while (command == -1 && zpoller_wait (poller, WAIT_MS) == worker) {
        zmsg_t *msg = zmsg_recv (worker);
        assert (msg && zmsg_size (msg) >= 3);
        zframe_t *empty = zmsg_pop (msg);
        char *protocol = zmsg_popstr (msg);
        zframe_t *frame = zmsg_pop (msg);
        assert (zframe_size (empty) == 0 && streq (protocol, FM_MDPW));
        assert (zframe_size (frame) == 1);
        int received = zframe_data (frame) [0];
        if (received == FM_MDPW_REQUEST || received == FM_MDPW_REQUESTS) {
            command = received;
            //  REQUEST [reply-to][""][body]; REQUESTS ([reply-to][body])+
            assert (received == FM_MDPW_REQUEST? zmsg_size (msg) == 3
                                               : zmsg_size (msg) % 2 == 0);
            while (zmsg_size (msg) > 0) {
                char *token = zmsg_popstr (msg);
                if (received == FM_MDPW_REQUEST) {
                    zframe_t *blank = zmsg_pop (msg);
                    assert (zframe_size (blank) == 0);
                    zframe_destroy (&blank);
                }
                zframe_t *body = zmsg_pop (msg);
                fm_error_t err;
                fm_msg_t *query = fm_msg_decode (zframe_data (body), zframe_size (body), &err);
                assert (query && streq (query->request_id, token));
                zlistx_add_end (queries, query);
                zstr_free (&token);
                zframe_destroy (&body);
            }
        }
        else
            assert (received == FM_MDPW_HEARTBEAT);
        zframe_destroy (&empty);
        zstr_free (&protocol);
        zframe_destroy (&frame);
        zmsg_destroy (&msg);
    }
    zpoller_destroy (&poller);
    return command;
}

static void
s_query_destroy (void **item)
{
    fm_msg_destroy ((fm_msg_t **) item);
}

//  One REPLIES answering every query in the list with a PROFILE, which
//  it empties.  broken appends a lone reply-to (half a pair).
static void
s_worker_replies (zsock_t *worker, zlistx_t *queries, bool broken)
{
    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, "");
    zmsg_addstr (reply, FM_MDPW);
    zmsg_addmem (reply, "\007", 1);
    fm_msg_t *query = (fm_msg_t *) zlistx_first (queries);
    while (query) {
        fm_msg_t *profile = s_profile (query);
        fm_error_t err;
        zframe_t *body = fm_msg_encode (profile, &err);
        assert (body);
        zmsg_addstr (reply, query->request_id);
        zmsg_append (reply, &body);
        fm_msg_destroy (&profile);
        query = (fm_msg_t *) zlistx_next (queries);
    }
    if (broken)
        zmsg_addstr (reply, "0123456789abcdef");
    assert (zmsg_send (&reply, worker) == 0);
    zlistx_purge (queries);
}

//  Query batches (SPEC 4.2): a worker announcing batch gets the queries
//  of one loop turn in one REQUESTS (at most batch of them) and may answer
//  them in one REPLIES; a broken REPLIES, or one from a worker that
//  announced no batch, disconnects it
static void
s_test_query_batches (bool verbose)
{
    fixture_t fx;
    s_fixture_start (&fx, verbose);
    zsock_t *gov = s_worker_new_batch (&fx, "gov.credit", 4, 1000, 4);
    s_expect (&fx, FM_EV_WORKER_READY);
    zsock_t *client = s_client_new (&fx);
    char code [FM_ENTERPRISE_ID_SIZE];
    s_code (code, 777);
    for (int index = 0; index < 12; index++) {
        char key [32];
        snprintf (key, sizeof (key), "qb-%d", index);
        fm_msg_t *request = s_request (code, key, INT64_C (100000000) + index);
        s_client_send (client, FM_SERVICE_REQUEST, request);
        fm_msg_destroy (&request);
    }
    //  The first four, in whatever grouping the turns made
    zlistx_t *queries = zlistx_new ();
    zlistx_set_destructor (queries, s_query_destroy);
    while (zlistx_size (queries) < 4)
        assert (s_worker_queries (gov, queries) != -1);
    assert (zlistx_size (queries) == 4);            //  never past capacity
    //  Four answers in one message free four places in one turn: the
    //  next four queued queries leave as one REQUESTS
    s_worker_replies (gov, queries, false);
    assert (s_worker_queries (gov, queries) == FM_MDPW_REQUESTS);
    assert (zlistx_size (queries) == 4);
    s_worker_replies (gov, queries, false);
    assert (s_worker_queries (gov, queries) == FM_MDPW_REQUESTS);
    assert (zlistx_size (queries) == 4);
    s_worker_replies (gov, queries, false);
    //  Twelve answers: no bank, so each request ends 503 or declined, but
    //  every one of them ends
    for (int index = 0; index < 12; index++) {
        zframe_t *body = s_client_frame (client, FM_SERVICE_REQUEST);
        zframe_destroy (&body);
    }

    //  A lone reply-to after a good pair: refused whole, the worker is
    //  disconnected (its query goes to the next gov worker)
    fm_msg_t *request = s_request (code, "qb-broken", INT64_C (100000000));
    s_client_send (client, FM_SERVICE_REQUEST, request);
    fm_msg_destroy (&request);
    assert (s_worker_queries (gov, queries) == FM_MDPW_REQUEST);
    s_worker_replies (gov, queries, true);
    s_worker_expect_disconnect (gov);
    zframe_t *body = s_client_frame (client, FM_SERVICE_REQUEST);
    zframe_destroy (&body);
    fm_event_t event;
    do
        assert (s_event_next (&fx, &event, WAIT_MS, false) == 0);
    while (event.type != FM_EV_INPUT_REJECTED);
    assert (strstr (event.text, "REPLIES needs"));

    //  REPLIES from a worker that announced no batch
    zsock_t *plain = s_worker_new_batch (&fx, "gov.credit", 4, 1000, 1);
    do
        assert (s_event_next (&fx, &event, WAIT_MS, false) == 0);
    while (event.type != FM_EV_WORKER_READY);
    request = s_request (code, "qb-plain", INT64_C (100000000));
    s_client_send (client, FM_SERVICE_REQUEST, request);
    fm_msg_destroy (&request);
    assert (s_worker_queries (plain, queries) == FM_MDPW_REQUEST);
    s_worker_replies (plain, queries, false);
    s_worker_expect_disconnect (plain);
    do
        assert (s_event_next (&fx, &event, WAIT_MS, false) == 0);
    while (event.type != FM_EV_INPUT_REJECTED);
    assert (strstr (event.text, "announced no batch"));

    zlistx_destroy (&queries);
    zsock_destroy (&plain);
    zsock_destroy (&client);
    zsock_destroy (&gov);
    s_fixture_stop (&fx);
}

void
fm_broker_test (bool verbose)
{
    printf (" * fm_broker: ");
    if (verbose)
        printf ("\n");
    s_test_pipe (verbose);
    s_test_matching (verbose);
    s_test_deadlines (verbose);
    s_test_unavailable (verbose);
    s_test_idempotency (verbose);
    s_test_accept (verbose);
    s_test_bad_input (verbose);
    s_test_mmi (verbose);
    s_test_expiry (verbose);
    s_test_many (verbose);
    s_test_referral (verbose);
    s_test_priority (verbose);
    s_test_renewal (verbose);
    s_test_binding (verbose);
    s_test_large_result (verbose);
    s_test_warning_expiry (verbose);
    s_test_warning_restart (verbose);
    s_test_journal_request (verbose);
    s_test_journal_outbox (verbose);
    s_test_batches (verbose);
    s_test_query_batches (verbose);
    printf ("OK\n");
}
