/*  =========================================================================
    test_mdp_conformance - a plain RFC 7/MDP worker and client, written
    here from the frame spec, against a real finmatch-broker process

    The point is interoperability: any Majordomo worker or client, in any
    language, must work with finmatch.  So this test uses no project
    networking code at all (not fm_worker, not fm_client for the protocol
    steps): raw DEALER sockets build and parse every frame by hand.  Only
    the body frames are ours (one msgpack map), so fm_proto encodes and
    decodes those.  finmatch-gov runs as a real process too, since a
    request needs a profile before it reaches a bank.

    Checked:
    - 8/MMI: "200" for fm.request, "404" for a service without workers,
      "501" for another mmi.* name; bodies are plain text;
    - a worker READY with no options frame (plain MDP) becomes visible to
      MMI; the broker sends it REQUEST [""][MDPW01][0x02][reply-to][""][body]
      with a BANK_QUERY; its REPLY reaches the client's RESULT;
    - heartbeats both ways keep the worker; a silent worker expires;
    - HEARTBEAT before READY, and READY for a forbidden service, are
      answered DISCONNECT;
    - clients calling a worker service get ERROR 403, an unknown one 501;
    - DISCONNECT from the worker: MMI says 404, requests get 503.
    =========================================================================
*/

#include <czmq.h>
#include "fm_proto.h"
#include "fm_client.h"
#include "fm_ids.h"
#include "fm_mdp.h"
#include "fm_proc.h"

#define HEARTBEAT_MS    500             //  broker's interval in this test
#define START_MS        15000
#define REPLY_MS        5000
#define SERVICE         "bank.CONF"

static bool s_verbose;

//  --------------------------------------------------------------------------
//  The raw worker

typedef struct {
    zsock_t *sock;                      //  DEALER to the broker
    int64_t heartbeat_at;               //  when we send the next HEARTBEAT
    int heartbeats;                     //  HEARTBEATs received
    int requests;                       //  REQUESTs answered
    int disconnects;                    //  DISCONNECTs received
    fm_msg_t *last_query;               //  last BANK_QUERY, owned
    char last_reply_to [64];
} worker_t;

//  Send [""]["MDPW01"][command] plus the NULL-terminated string frames,
//  then body if not NULL (consumed)
static void
s_worker_send (zsock_t *sock, byte command, zframe_t **body, ...)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "");
    zmsg_addstr (msg, FM_MDPW);
    zmsg_addmem (msg, &command, 1);
    va_list args;
    va_start (args, body);
    const char *frame;
    while ((frame = va_arg (args, const char *)))
        zmsg_addstr (msg, frame);
    va_end (args);
    if (body)
        zmsg_append (msg, body);
    FM_CHECK (zmsg_send (&msg, sock) == 0, "worker send");
}

//  Receive [""]["MDPW01"][command]...: checks the header and returns the
//  message positioned after the command, or NULL on timeout
static zmsg_t *
s_worker_recv (zsock_t *sock, int timeout_ms, byte *command)
{
    zsock_set_rcvtimeo (sock, timeout_ms);
    zmsg_t *msg = zmsg_recv (sock);
    if (!msg)
        return NULL;
    char *empty = zmsg_popstr (msg);
    char *protocol = zmsg_popstr (msg);
    zframe_t *cmd = zmsg_pop (msg);
    FM_CHECK (empty && streq (empty, "") && protocol && streq (protocol, FM_MDPW),
              "worker got a bad header: '%s' '%s'", empty? empty: "(none)",
              protocol? protocol: "(none)");
    FM_CHECK (cmd && zframe_size (cmd) == 1, "command frame of %zu bytes",
              cmd? zframe_size (cmd): 0);
    *command = zframe_data (cmd) [0];
    zstr_free (&empty);
    zstr_free (&protocol);
    zframe_destroy (&cmd);
    return msg;
}

//  Answer one BANK_QUERY with one offer CONF/P1
static void
s_worker_answer (worker_t *self, zmsg_t *msg)
{
    FM_CHECK (zmsg_size (msg) == 3, "REQUEST has %zu frames after the command, "
              "want reply-to, empty, body", zmsg_size (msg));
    char *reply_to = zmsg_popstr (msg);
    char *empty = zmsg_popstr (msg);
    zframe_t *body = zmsg_pop (msg);
    FM_CHECK (streq (empty, ""), "REQUEST: no empty frame after reply-to");
    fm_error_t err;
    fm_msg_t *query = fm_msg_decode (zframe_data (body), zframe_size (body), &err);
    FM_CHECK (query, "REQUEST body does not decode: %d %s", err.status, err.text);
    FM_CHECK (query->type == FM_MSG_BANK_QUERY, "REQUEST carries %s",
              fm_msg_type_name (query->type));
    //  The broker's correlation token is the request id (brief, SPEC.md)
    FM_CHECK (streq (reply_to, query->request_id), "reply-to '%s' != request_id %s",
              reply_to, query->request_id);

    fm_msg_t *answer = fm_msg_new (FM_MSG_BANK_ANSWER);
    snprintf (answer->request_id, FM_REQUEST_ID_SIZE, "%s", query->request_id);
    snprintf (answer->bank, FM_CODE_SIZE, "CONF");
    fm_offer_t offer;
    memset (&offer, 0, sizeof (offer));
    snprintf (offer.offer_id, sizeof (offer.offer_id), "CONF/P1");
    snprintf (offer.bank, sizeof (offer.bank), "CONF");
    snprintf (offer.bank_name, sizeof (offer.bank_name), "一致性测试银行");
    snprintf (offer.product, sizeof (offer.product), "P1");
    snprintf (offer.product_name, sizeof (offer.product_name), "测试贷");
    offer.kind = FM_KIND_LOAN;
    offer.amount_fen = query->request.amount_fen;
    offer.term_months = query->request.term_months;
    offer.base_rate_bp = 400;
    offer.effective_rate_bp = 380;
    offer.lever_count = 1;
    snprintf (offer.levers [0].code, FM_CODE_SIZE, "party_building");
    snprintf (offer.levers [0].name, FM_NAME_SIZE, "党建增信(A级)");
    offer.levers [0].bp = 20;
    offer.levers [0].payer = FM_PAYER_BANK;
    offer.valid_until_us = zclock_time () * 1000 + INT64_C (86400000000);
    FM_CHECK (fm_msg_add_offer (answer, &offer) == 0, "add offer");
    zframe_t *reply = fm_msg_encode (answer, &err);
    FM_CHECK (reply, "cannot encode BANK_ANSWER: %d %s", err.status, err.text);
    s_worker_send (self->sock, FM_MDPW_REPLY, &reply, reply_to, "", NULL);

    snprintf (self->last_reply_to, sizeof (self->last_reply_to), "%s", reply_to);
    fm_msg_destroy (&self->last_query);
    self->last_query = query;
    self->requests++;
    fm_msg_destroy (&answer);
    zframe_destroy (&body);
    zstr_free (&reply_to);
    zstr_free (&empty);
}

//  Handle whatever the broker sent the worker
static void
s_worker_handle (worker_t *self)
{
    byte command;
    zmsg_t *msg = s_worker_recv (self->sock, 0, &command);
    if (!msg)
        return;
    if (s_verbose)
        zsys_debug ("worker: command 0x%02x, %zu more frames", command, zmsg_size (msg));
    if (command == FM_MDPW_HEARTBEAT) {
        FM_CHECK (zmsg_size (msg) == 0, "HEARTBEAT with %zu extra frames", zmsg_size (msg));
        self->heartbeats++;
    }
    else
    if (command == FM_MDPW_REQUEST)
        s_worker_answer (self, msg);
    else
    if (command == FM_MDPW_DISCONNECT)
        self->disconnects++;
    else
        FM_CHECK (false, "worker got command 0x%02x", command);
    zmsg_destroy (&msg);
}

//  Serve the worker until sock (if any) is readable or timeout_ms passed,
//  sending HEARTBEATs on time.  Returns true if sock became readable.
static bool
s_pump (worker_t *self, zsock_t *sock, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    zpoller_t *poller = zpoller_new (self->sock, sock, NULL);
    bool readable = false;
    while (!readable) {
        int64_t now = zclock_mono ();
        if (now >= self->heartbeat_at) {
            s_worker_send (self->sock, FM_MDPW_HEARTBEAT, NULL, NULL);
            self->heartbeat_at = now + HEARTBEAT_MS;
        }
        if (now >= deadline)
            break;
        int64_t wait = deadline < self->heartbeat_at ? deadline : self->heartbeat_at;
        //  Never negative: zpoller_wait (-1) would wait forever
        void *which = zpoller_wait (poller, wait > now ? (int) (wait - now) : 0);
        if (which == self->sock)
            s_worker_handle (self);
        else
        if (which && which == sock)
            readable = true;
        else
            FM_CHECK (!zpoller_terminated (poller), "interrupted");
    }
    zpoller_destroy (&poller);
    return readable;
}


//  --------------------------------------------------------------------------
//  The raw client

static void
s_client_send (zsock_t *sock, const char *service, zframe_t **body)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, "");
    zmsg_addstr (msg, FM_MDPC);
    zmsg_addstr (msg, service);
    zmsg_append (msg, body);
    FM_CHECK (zmsg_send (&msg, sock) == 0, "client send");
}

static void
s_client_send_str (zsock_t *sock, const char *service, const char *text)
{
    zframe_t *body = zframe_new (text, strlen (text));
    s_client_send (sock, service, &body);
}

//  Receive [""]["MDPC01"][service][body] while serving the worker (may be
//  NULL); checks the header and the echoed service.  Returns the body.
static zframe_t *
s_client_recv (zsock_t *sock, worker_t *worker, const char *service)
{
    if (worker)
        FM_CHECK (s_pump (worker, sock, REPLY_MS), "no reply on %s in %d ms",
                  service, REPLY_MS);
    else
        zsock_set_rcvtimeo (sock, REPLY_MS);
    zmsg_t *msg = zmsg_recv (sock);
    FM_CHECK (msg, "no reply on %s in %d ms", service, REPLY_MS);
    FM_CHECK (zmsg_size (msg) == 4, "client reply has %zu frames, want 4", zmsg_size (msg));
    char *empty = zmsg_popstr (msg);
    char *protocol = zmsg_popstr (msg);
    char *echoed = zmsg_popstr (msg);
    FM_CHECK (streq (empty, "") && streq (protocol, FM_MDPC),
              "client reply header '%s' '%s'", empty, protocol);
    FM_CHECK (streq (echoed, service), "reply on service '%s', want '%s'", echoed, service);
    zframe_t *body = zmsg_pop (msg);
    zstr_free (&empty);
    zstr_free (&protocol);
    zstr_free (&echoed);
    zmsg_destroy (&msg);
    return body;
}

//  8/MMI over the raw client.  Returns the body text (caller frees).
static char *
s_mmi (zsock_t *sock, worker_t *worker, const char *service)
{
    s_client_send_str (sock, FM_SERVICE_MMI, service);
    zframe_t *body = s_client_recv (sock, worker, FM_SERVICE_MMI);
    char *text = zframe_strdup (body);
    zframe_destroy (&body);
    return text;
}

//  Poll MMI until it gives want, for up to timeout_ms, serving the worker
static bool
s_mmi_wait (zsock_t *sock, worker_t *worker, const char *service,
            const char *want, int timeout_ms)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (true) {
        FM_CHECK (fm_proc_all_running (), "a process died");
        char *got = s_mmi (sock, worker, service);
        bool hit = streq (got, want);
        zstr_free (&got);
        if (hit)
            return true;
        if (zclock_mono () >= deadline)
            return false;
        if (worker)
            s_pump (worker, NULL, 50);
        else
            zclock_sleep (50);
    }
}

//  Send a REQUEST body to fm.request and return the decoded reply
static fm_msg_t *
s_request (zsock_t *sock, worker_t *worker, const char *enterprise, const char *key)
{
    fm_msg_t *msg = fm_msg_new (FM_MSG_REQUEST);
    snprintf (msg->request.enterprise_id, FM_ENTERPRISE_ID_SIZE, "%s", enterprise);
    snprintf (msg->request.idem_key, FM_IDEM_KEY_SIZE, "%s", key);
    msg->request.amount_fen = INT64_C (300000000);          //  300万
    msg->request.term_months = 12;
    msg->request.consent = FM_CONSENT_ALL;
    snprintf (msg->request.purpose, FM_TEXT_SIZE, "一致性测试");
    fm_error_t err;
    zframe_t *body = fm_msg_encode (msg, &err);
    FM_CHECK (body, "encode REQUEST: %d %s", err.status, err.text);
    fm_msg_destroy (&msg);
    s_client_send (sock, FM_SERVICE_REQUEST, &body);
    body = s_client_recv (sock, worker, FM_SERVICE_REQUEST);
    fm_msg_t *reply = fm_msg_decode (zframe_data (body), zframe_size (body), &err);
    FM_CHECK (reply, "reply does not decode: %d %s", err.status, err.text);
    zframe_destroy (&body);
    return reply;
}

//  Expect an ERROR with status from a client call of service
static void
s_expect_error (zsock_t *sock, const char *service, uint16_t status)
{
    s_client_send_str (sock, service, "x");
    zframe_t *body = s_client_recv (sock, NULL, service);
    fm_error_t err;
    fm_msg_t *reply = fm_msg_decode (zframe_data (body), zframe_size (body), &err);
    FM_CHECK (reply, "ERROR body does not decode: %d %s", err.status, err.text);
    FM_CHECK (reply->type == FM_MSG_ERROR && reply->status == status,
              "client call of %s: got %s %d (%s), want ERROR %d", service,
              fm_msg_type_name (reply->type), reply->status, reply->text, status);
    fm_msg_destroy (&reply);
    zframe_destroy (&body);
}

//  A peer that breaks the worker protocol gets DISCONNECT
static void
s_expect_disconnect (const char *endpoint, const char *what, byte command,
                     const char *service)
{
    zsock_t *sock = zsock_new_dealer (endpoint);
    FM_CHECK (sock, "dealer");
    if (service)
        s_worker_send (sock, command, NULL, service, NULL);
    else
        s_worker_send (sock, command, NULL, NULL);
    int64_t deadline = zclock_mono () + REPLY_MS;
    bool disconnected = false;
    while (!disconnected && zclock_mono () < deadline) {
        byte got;
        zmsg_t *msg = s_worker_recv (sock, REPLY_MS, &got);
        FM_CHECK (msg, "%s: no DISCONNECT in %d ms", what, REPLY_MS);
        //  A HEARTBEAT may come first if the broker took us for a worker
        FM_CHECK (got == FM_MDPW_DISCONNECT || got == FM_MDPW_HEARTBEAT,
                  "%s: got command 0x%02x, want DISCONNECT", what, got);
        disconnected = got == FM_MDPW_DISCONNECT;
        zmsg_destroy (&msg);
    }
    FM_CHECK (disconnected, "%s: no DISCONNECT", what);
    zsock_destroy (&sock);
}

//  --------------------------------------------------------------------------

int
main (int argc, char *argv [])
{
    s_verbose = argc > 1 && streq (argv [1], "-v");
    zsys_init ();
    zsys_set_logident ("test_mdp_conformance");
    fm_proc_setup ("mdp", argv [0]);

    //  An enterprise of the fixture registry: the first data row
    char *registry = fm_proc_source_path ("tests/data/system/enterprises.csv");
    FILE *file = fopen (registry, "r");
    FM_CHECK (file, "open %s", registry);
    char line [512];
    FM_CHECK (fgets (line, sizeof (line), file) && fgets (line, sizeof (line), file),
              "registry too short");
    fclose (file);
    char enterprise [FM_ENTERPRISE_ID_SIZE];
    snprintf (enterprise, sizeof (enterprise), "%.18s", line);
    FM_CHECK (fm_credit_code_valid (enterprise), "fixture code %s", enterprise);

    //  Broker and gov
    char heartbeat [16];
    snprintf (heartbeat, sizeof (heartbeat), "%d", HEARTBEAT_MS);
    fm_proc_system_t *sys = fm_proc_system_new (START_MS);
    const char *router = sys->router;
    fm_proc_t *broker = fm_proc_system_broker (sys, NULL, "broker/heartbeat_ms", heartbeat,
                                               "broker/deadline_ms", "2000", NULL);
    fm_proc_t *gov = fm_proc_system_gov (sys, "tests/data/system/gov.cfg", NULL,
                                         "gov/registry", registry, NULL);
    fm_proc_system_wait_service (sys, FM_SERVICE_GOV);
    fm_client_destroy (&sys->client);

    //  1. Plain client, 8/MMI
    zsock_t *client = zsock_new_dealer (router);
    FM_CHECK (client, "client dealer");
    char *text = s_mmi (client, NULL, FM_SERVICE_REQUEST);
    FM_CHECK (streq (text, "200"), "mmi fm.request: '%s'", text);
    zstr_free (&text);
    text = s_mmi (client, NULL, FM_SERVICE_ACCEPT);
    FM_CHECK (streq (text, "200"), "mmi fm.accept: '%s'", text);
    zstr_free (&text);
    text = s_mmi (client, NULL, SERVICE);
    FM_CHECK (streq (text, "404"), "mmi %s before READY: '%s'", SERVICE, text);
    zstr_free (&text);
    s_client_send_str (client, "mmi.nothing", SERVICE);
    zframe_t *body = s_client_recv (client, NULL, "mmi.nothing");
    FM_CHECK (zframe_streq (body, "501"), "mmi.nothing: '%.*s'",
              (int) zframe_size (body), (char *) zframe_data (body));
    zframe_destroy (&body);
    printf ("mdp: 8/MMI 200/404/501 OK\n");

    //  2. Plain worker: READY without options
    worker_t worker = { zsock_new_dealer (router), 0, 0, 0, 0, NULL, "" };
    FM_CHECK (worker.sock, "worker dealer");
    s_worker_send (worker.sock, FM_MDPW_READY, NULL, SERVICE, NULL);
    worker.heartbeat_at = zclock_mono () + HEARTBEAT_MS;
    FM_CHECK (s_mmi_wait (client, &worker, SERVICE, "200", START_MS),
              "mmi %s not 200 after READY", SERVICE);

    //  3. A request reaches the worker; its REPLY reaches the RESULT
    fm_msg_t *reply = s_request (client, &worker, enterprise, "mdp-1");
    char request_id [FM_REQUEST_ID_SIZE];
    fm_request_id_make (enterprise, "mdp-1", request_id);
    FM_CHECK (reply->type == FM_MSG_RESULT, "got %s %d %s, want RESULT",
              fm_msg_type_name (reply->type), reply->status, reply->text);
    FM_CHECK (reply->status == 200 && streq (reply->request_id, request_id),
              "RESULT status %d id %s (want %s)", reply->status, reply->request_id, request_id);
    FM_CHECK (worker.requests == 1, "worker served %d requests", worker.requests);
    FM_CHECK (reply->offer_count == 1 && reply->decline_count == 0
           && reply->timed_out_count == 0, "RESULT %zu offers %zu declines %zu timeouts",
              reply->offer_count, reply->decline_count, reply->timed_out_count);
    const fm_offer_t *offer = &reply->offers [0];
    FM_CHECK (streq (offer->offer_id, "CONF/P1") && streq (offer->bank, "CONF")
           && offer->amount_fen == INT64_C (300000000) && offer->base_rate_bp == 400
           && offer->effective_rate_bp == 380 && offer->lever_count == 1
           && offer->levers [0].bp == 20, "RESULT offer %s %s %" PRId64 " %d %d",
              offer->offer_id, offer->bank, offer->amount_fen, offer->base_rate_bp,
              offer->effective_rate_bp);
    fm_msg_t *query = worker.last_query;
    FM_CHECK (streq (query->request_id, request_id), "BANK_QUERY id %s", query->request_id);
    FM_CHECK (streq (query->request.enterprise_id, enterprise)
           && streq (query->profile.enterprise_id, enterprise),
              "BANK_QUERY for %s / profile %s", query->request.enterprise_id,
              query->profile.enterprise_id);
    FM_CHECK (query->request.amount_fen == INT64_C (300000000)
           && query->request.term_months == 12, "BANK_QUERY request fields");
    FM_CHECK (query->profile.shared == FM_CONSENT_ALL && query->profile.tax_grade != 0,
              "profile shared %u tax %c", query->profile.shared, query->profile.tax_grade);
    fm_msg_destroy (&reply);
    printf ("mdp: plain worker REQUEST/REPLY -> RESULT OK (reply-to %s)\n",
            worker.last_reply_to);

    //  4. Heartbeats both ways keep the worker registered
    int64_t hb_start = zclock_mono ();
    while (worker.heartbeats < 4 && zclock_mono () - hb_start < 10 * HEARTBEAT_MS)
        s_pump (&worker, NULL, HEARTBEAT_MS);
    FM_CHECK (worker.heartbeats >= 4, "%d HEARTBEATs from the broker in %d ms",
              worker.heartbeats, 10 * HEARTBEAT_MS);
    FM_CHECK (worker.disconnects == 0, "worker was disconnected");
    text = s_mmi (client, &worker, SERVICE);
    FM_CHECK (streq (text, "200"), "mmi %s after heartbeats: '%s'", SERVICE, text);
    zstr_free (&text);
    printf ("mdp: %d broker heartbeats in %" PRId64 " ms, worker kept\n",
            worker.heartbeats, zclock_mono () - hb_start);

    //  5. A worker that never heartbeats expires (liveness x heartbeat)
    zsock_t *silent = zsock_new_dealer (router);
    s_worker_send (silent, FM_MDPW_READY, NULL, "bank.SILENT", NULL);
    FM_CHECK (s_mmi_wait (client, &worker, "bank.SILENT", "200", REPLY_MS),
              "bank.SILENT never registered");
    int64_t silent_at = zclock_mono ();
    FM_CHECK (s_mmi_wait (client, &worker, "bank.SILENT", "404", 10 * HEARTBEAT_MS),
              "silent worker not expired after %d ms", 10 * HEARTBEAT_MS);
    printf ("mdp: silent worker expired after %" PRId64 " ms\n",
            zclock_mono () - silent_at);
    zsock_destroy (&silent);
    text = s_mmi (client, &worker, SERVICE);
    FM_CHECK (streq (text, "200"), "mmi %s after expiry of another: '%s'", SERVICE, text);
    zstr_free (&text);

    //  6. Protocol errors of peers
    s_expect_disconnect (router, "HEARTBEAT before READY", FM_MDPW_HEARTBEAT, NULL);
    s_expect_disconnect (router, "READY for evil.service", FM_MDPW_READY, "evil.service");
    s_expect_error (client, SERVICE, FM_STATUS_FORBIDDEN);
    s_expect_error (client, FM_SERVICE_GOV, FM_STATUS_FORBIDDEN);
    s_expect_error (client, "no.such.service", FM_STATUS_NOT_IMPLEMENTED);
    printf ("mdp: DISCONNECT for protocol errors, ERROR 403/501 for clients OK\n");

    //  7. DISCONNECT: the service is gone, requests get 503
    s_worker_send (worker.sock, FM_MDPW_DISCONNECT, NULL, NULL);
    FM_CHECK (s_mmi_wait (client, NULL, SERVICE, "404", REPLY_MS),
              "mmi %s not 404 after DISCONNECT", SERVICE);
    reply = s_request (client, NULL, enterprise, "mdp-2");
    FM_CHECK (reply->type == FM_MSG_RESULT && reply->status == FM_STATUS_UNAVAILABLE,
              "request with no bank: %s %d (%s), want RESULT 503",
              fm_msg_type_name (reply->type), reply->status, reply->text);
    fm_msg_destroy (&reply);
    printf ("mdp: DISCONNECT -> mmi 404, request -> 503 OK\n");

    fm_msg_destroy (&worker.last_query);
    zsock_destroy (&worker.sock);
    zsock_destroy (&client);
    int rc = fm_proc_stop (gov, 5000);
    FM_CHECK (rc == 0, "finmatch-gov exited %d on SIGTERM", rc);
    rc = fm_proc_stop (broker, 5000);
    FM_CHECK (rc == 0, "finmatch-broker exited %d on SIGTERM", rc);
    fm_proc_system_destroy (&sys);
    zstr_free (&registry);
    printf ("mdp: OK\n");
    return fm_proc_teardown (true);
}
