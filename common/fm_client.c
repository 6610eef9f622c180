/*  =========================================================================
    fm_client - the client side of finmatch: 7/MDP client and event reader

    One DEALER socket connected to the broker's ROUTER.  A DEALER, not the
    REQ socket of the zguide's mdcliapi, so that many requests may be in
    flight: each reply carries its request_id in the body, and callers
    match on that.  Every reply is checked before it is believed: exactly
    [""]["MDPC01"][service][body], then the body goes through the codec's
    trust boundary (fm_msg_decode, or a reused fm_msg_reader).

    8/MMI replies carry no correlation (the body is just "200"), so
    fm_client_mmi reads until it sees one on "mmi.service" and keeps any
    ordinary replies that arrive meanwhile in a small queue that the next
    fm_client_recv drains first.  A late MMI reply (after a timed-out
    query) is skipped by fm_client_recv; it could still be taken by a
    later fm_client_mmi for a different service: ask MMI with a timeout
    longer than the broker's answer time.

    The event reader is a plain SUB socket; events are [topic][body] and
    the body is checked against its topic.
    =========================================================================
*/

#include <czmq.h>
#include "fm_client.h"
#include "fm_mdp.h"
#include "fm_ids.h"

struct _fm_client_t {
    zsock_t *dealer;            //  to the broker, owned
    zpoller_t *poller;          //  on dealer, owned
    zlist_t *pending;           //  zmsg_t replies read early by mmi, owned
    char *endpoint;             //  owned, for fm_client_reconnect
    fm_curve_t *curve;          //  owned copy of the keys, or NULL
    fm_msg_reader_t *reader;    //  owned, made by the first
                                //  fm_client_recv_reused
};

//  Fill err if the caller gave one
static void
s_error (fm_error_t *err, uint16_t status, const char *format, ...)
    CHECK_PRINTF (3);
static void
s_error (fm_error_t *err, uint16_t status, const char *format, ...)
{
    if (!err)
        return;
    err->status = status;
    va_list args;
    va_start (args, format);
    vsnprintf (err->text, sizeof err->text, format, args);
    va_end (args);
}

//  Check the MDP client envelope of a reply.  Returns 0 and the service
//  frame's text in service (>= FM_SERVICE_SIZE), or -1 with err filled.
//  msg is borrowed.
static int
s_check_envelope (zmsg_t *msg, char *service, fm_error_t *err)
{
    if (zmsg_size (msg) != 4) {
        s_error (err, FM_STATUS_BAD_REQUEST,
                 "malformed reply: %zu frames, expected 4", zmsg_size (msg));
        return -1;
    }
    zframe_t *empty = zmsg_first (msg);
    zframe_t *protocol = zmsg_next (msg);
    zframe_t *name = zmsg_next (msg);
    if (zframe_size (empty) != 0) {
        s_error (err, FM_STATUS_BAD_REQUEST, "malformed reply: no empty delimiter");
        return -1;
    }
    if (!zframe_streq (protocol, FM_MDPC)) {
        s_error (err, FM_STATUS_BAD_VERSION,
                 "malformed reply: protocol is not " FM_MDPC);
        return -1;
    }
    size_t size = zframe_size (name);
    if (size == 0 || size >= FM_SERVICE_SIZE
    ||  memchr (zframe_data (name), 0, size)) {
        s_error (err, FM_STATUS_BAD_REQUEST, "malformed reply: bad service frame");
        return -1;
    }
    memcpy (service, zframe_data (name), size);
    service [size] = 0;
    return 0;
}

//  Receive the next reply message within the deadline (zclock_mono ms, or
//  -1 for none).  Returns a message the caller owns, or NULL with err
//  filled (504 timeout, 0 interrupt).
static zmsg_t *
s_recv_raw (fm_client_t *self, int64_t deadline, fm_error_t *err)
{
    int timeout = -1;
    if (deadline >= 0) {
        int64_t left = deadline - zclock_mono ();
        timeout = left > 0 ? (int) (left > INT_MAX ? INT_MAX : left) : 0;
    }
    //  With nothing to wait for, ZMQ_EVENTS answers without the poll()
    //  that zmq_poll makes even for a ready socket
    bool ready = timeout == 0
               ? (zsock_events (self->dealer) & ZMQ_POLLIN) != 0
               : zpoller_wait (self->poller, timeout) != NULL;
    if (!ready) {
        if (timeout != 0 && zpoller_terminated (self->poller))
            s_error (err, 0, "interrupted");
        else
            s_error (err, FM_STATUS_TIMEOUT, "no reply within the timeout");
        return NULL;
    }
    zmsg_t *msg = zmsg_recv (self->dealer);
    if (!msg)
        s_error (err, 0, "interrupted");
    return msg;
}


//  --------------------------------------------------------------------------
//  Connect to the broker's client endpoint.  Returns NULL if the endpoint
//  is invalid (error logged).

fm_client_t *
fm_client_new (const char *endpoint)
{
    return fm_client_new_secure (endpoint, NULL);
}


//  --------------------------------------------------------------------------
//  The same over CURVE with curve's keys (borrowed; NULL = insecure).

//  Open the DEALER and its poller.  Returns 0, or -1 (logged).
static int
s_open (fm_client_t *self)
{
    //  Keys before connect: the handshake starts at connect.  Connect is
    //  the DEALER default; an explicit "@"/">" is honoured
    self->dealer = zsock_new (ZMQ_DEALER);
    if (self->dealer && self->curve && fm_curve_apply_client (self->curve, self->dealer))
        zsock_destroy (&self->dealer);
    if (self->dealer && zsock_attach (self->dealer, self->endpoint, false))
        zsock_destroy (&self->dealer);
    if (!self->dealer) {
        zsys_error ("fm_client: cannot connect to '%s'", self->endpoint);
        return -1;
    }
    //  Lazy Pirate closes the socket with requests unanswered: drop them
    zsock_set_linger (self->dealer, 0);
    self->poller = zpoller_new (self->dealer, NULL);
    return self->poller? 0: -1;
}

fm_client_t *
fm_client_new_secure (const char *endpoint, fm_curve_t *curve)
{
    assert (endpoint);
    fm_client_t *self = (fm_client_t *) zmalloc (sizeof (fm_client_t));
    if (!self)
        return NULL;
    self->endpoint = strdup (endpoint);
    self->curve = curve? fm_curve_dup (curve): NULL;
    self->pending = zlist_new ();
    if (!self->endpoint || (curve && !self->curve) || !self->pending
    ||  s_open (self)) {
        fm_client_destroy (&self);
        return NULL;
    }
    return self;
}


//  --------------------------------------------------------------------------
//  Destroy; idempotent, nulls *self_p.  Pending replies are dropped.

void
fm_client_destroy (fm_client_t **self_p)
{
    assert (self_p);
    fm_client_t *self = *self_p;
    if (self) {
        if (self->pending) {
            zmsg_t *msg;
            while ((msg = (zmsg_t *) zlist_pop (self->pending)))
                zmsg_destroy (&msg);
            zlist_destroy (&self->pending);
        }
        zpoller_destroy (&self->poller);
        zsock_destroy (&self->dealer);
        fm_curve_destroy (&self->curve);
        fm_msg_reader_destroy (&self->reader);
        free (self->endpoint);
        free (self);
        *self_p = NULL;
    }
}


//  --------------------------------------------------------------------------
//  Encode msg and send it to service.  msg is borrowed.  Returns 0, or -1
//  if msg is invalid (err filled) or the send failed.

int
fm_client_send (fm_client_t *self, const char *service, const fm_msg_t *msg,
                fm_error_t *err)
{
    assert (self);
    assert (service);
    assert (msg);
    if (!*service || strlen (service) >= FM_SERVICE_SIZE) {
        s_error (err, FM_STATUS_BAD_REQUEST, "bad service name");
        return -1;
    }
    zframe_t *body = fm_msg_encode (msg, err);
    if (!body)
        return -1;
    zmsg_t *request = zmsg_new ();
    zmsg_addstr (request, "");
    zmsg_addstr (request, FM_MDPC);
    zmsg_addstr (request, service);
    zmsg_append (request, &body);
    if (zmsg_send (&request, self->dealer)) {
        zmsg_destroy (&request);
        s_error (err, FM_STATUS_UNAVAILABLE, "send failed: %s", zmq_strerror (zmq_errno ()));
        return -1;
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  Wait up to timeout_ms (-1 forever) for the next reply and decode it
//  with reader (NULL: into a new message).  Returns the message, or NULL
//  on timeout (504), interrupt (0) or a reply that does not parse (err
//  filled, the reply dropped).

static fm_msg_t *
s_recv_decoded (fm_client_t *self, fm_msg_reader_t *reader, int timeout_ms,
                fm_error_t *err)
{
    int64_t deadline = timeout_ms < 0 ? -1 : zclock_mono () + timeout_ms;
    while (true) {
        zmsg_t *reply = (zmsg_t *) zlist_pop (self->pending);
        if (!reply)
            reply = s_recv_raw (self, deadline, err);
        if (!reply)
            return NULL;
        char service [FM_SERVICE_SIZE];
        if (s_check_envelope (reply, service, err)) {
            zmsg_destroy (&reply);
            return NULL;
        }
        if (strncmp (service, "mmi.", 4) == 0) {
            //  A late answer to an MMI query that timed out: not ours
            zsys_debug ("fm_client: skipped a late %s reply", service);
            zmsg_destroy (&reply);
            continue;
        }
        zframe_t *body = zmsg_last (reply);
        fm_msg_t *msg = reader
            ? fm_msg_reader_decode (reader, zframe_data (body), zframe_size (body), err)
            : fm_msg_decode (zframe_data (body), zframe_size (body), err);
        zmsg_destroy (&reply);
        return msg;
    }
}

fm_msg_t *
fm_client_recv (fm_client_t *self, int timeout_ms, fm_error_t *err)
{
    assert (self);
    return s_recv_decoded (self, NULL, timeout_ms, err);
}


//  --------------------------------------------------------------------------
//  As fm_client_recv, into a message the client keeps: borrowed until the
//  next fm_client_recv_reused or destroy.

const fm_msg_t *
fm_client_recv_reused (fm_client_t *self, int timeout_ms, fm_error_t *err)
{
    assert (self);
    if (!self->reader && !(self->reader = fm_msg_reader_new ())) {
        s_error (err, FM_STATUS_INTERNAL, "out of memory");
        return NULL;
    }
    return s_recv_decoded (self, self->reader, timeout_ms, err);
}


//  --------------------------------------------------------------------------
//  Close the socket and open a new one to the same endpoint with the same
//  keys (Lazy Pirate).  Replies to anything sent before are lost.

int
fm_client_reconnect (fm_client_t *self)
{
    assert (self);
    zmsg_t *msg;
    while ((msg = (zmsg_t *) zlist_pop (self->pending)))
        zmsg_destroy (&msg);
    zpoller_destroy (&self->poller);
    zsock_destroy (&self->dealer);
    return s_open (self);
}


//  --------------------------------------------------------------------------
//  Lazy Pirate request: send, wait for the reply to this request, and on a
//  timeout reopen the socket and send the same message again.

fm_msg_t *
fm_client_request (fm_client_t *self, const char *service, const fm_msg_t *msg,
                   int timeout_ms, int tries, fm_error_t *err)
{
    assert (self);
    assert (msg);
    assert (timeout_ms >= 0);
    if (tries < 1)
        tries = 1;
    //  The reply names the request: the id we sent, or for REQUEST the
    //  one the broker derives from enterprise and key
    char id [FM_REQUEST_ID_SIZE] = "";
    if (msg->type == FM_MSG_REQUEST && *msg->request.enterprise_id)
        fm_request_id_make (msg->request.enterprise_id, msg->request.idem_key, id);
    else
        snprintf (id, sizeof (id), "%s", msg->request_id);
    for (int attempt = 1; attempt <= tries; attempt++) {
        if (attempt > 1) {
            zsys_warning ("fm_client: no reply from %s within %d ms, trying again "
                          "(%d of %d)", self->endpoint, timeout_ms, attempt, tries);
            if (fm_client_reconnect (self)) {
                s_error (err, FM_STATUS_UNAVAILABLE, "cannot reconnect to %s",
                         self->endpoint);
                return NULL;
            }
        }
        if (fm_client_send (self, service, msg, err))
            return NULL;
        int64_t deadline = zclock_mono () + timeout_ms;
        while (true) {
            int64_t left = deadline - zclock_mono ();
            fm_msg_t *reply = fm_client_recv (self, left > 0? (int) left: 0, err);
            if (!reply && err && err->status == FM_STATUS_TIMEOUT)
                break;                  //  Try again, if tries are left
            if (!reply && (!err || err->status == 0))
                return NULL;            //  Interrupted
            if (!reply)
                continue;               //  Undecodable: not ours, keep waiting
            //  A reply to an earlier try of another request: not ours
            if (*id && *reply->request_id && strneq (reply->request_id, id)) {
                fm_msg_destroy (&reply);
                continue;
            }
            return reply;
        }
    }
    s_error (err, FM_STATUS_TIMEOUT, "broker did not answer after %d tries "
             "(%d ms each, %s)", tries, timeout_ms, self->endpoint);
    return NULL;
}


//  --------------------------------------------------------------------------
//  8/MMI: ask whether service has workers.  Returns 200, 404 or 501 as the
//  broker answered, or -1 on timeout, interrupt or a reply that is not a
//  3-digit status.

int
fm_client_mmi (fm_client_t *self, const char *service, int timeout_ms)
{
    assert (self);
    assert (service);
    //  RFC 8: the body is the service name as plain text, not msgpack
    zmsg_t *request = zmsg_new ();
    zmsg_addstr (request, "");
    zmsg_addstr (request, FM_MDPC);
    zmsg_addstr (request, FM_SERVICE_MMI);
    zmsg_addstr (request, service);
    if (zmsg_send (&request, self->dealer)) {
        zmsg_destroy (&request);
        return -1;
    }
    int64_t deadline = timeout_ms < 0 ? -1 : zclock_mono () + timeout_ms;
    while (true) {
        fm_error_t err;
        zmsg_t *reply = s_recv_raw (self, deadline, &err);
        if (!reply)
            return -1;
        char name [FM_SERVICE_SIZE];
        if (s_check_envelope (reply, name, &err) == 0
        &&  streq (name, FM_SERVICE_MMI)) {
            zframe_t *body = zmsg_last (reply);
            int status = -1;
            if (zframe_size (body) == 3) {
                const byte *digits = zframe_data (body);
                if (isdigit (digits [0]) && isdigit (digits [1]) && isdigit (digits [2]))
                    status = (digits [0] - '0') * 100 + (digits [1] - '0') * 10
                           + (digits [2] - '0');
            }
            zmsg_destroy (&reply);
            return status;
        }
        //  Someone else's reply (or a bad one): fm_client_recv handles it
        if (zlist_append (self->pending, reply)) {
            zmsg_destroy (&reply);
            return -1;
        }
    }
}


//  --------------------------------------------------------------------------
//  The underlying socket, for zpoller.  Borrowed.  Note: replies taken
//  early by fm_client_mmi wait in a queue and do not wake a poller; call
//  fm_client_recv with timeout 0 after an MMI query to drain them.

zsock_t *
fm_client_sock (fm_client_t *self)
{
    assert (self);
    return self->dealer;
}


//  --------------------------------------------------------------------------
//  Open a SUB socket on the event endpoint subscribed to prefix.  Returns a
//  new socket the caller owns, or NULL (error logged).

zsock_t *
fm_events_subscribe (const char *endpoint, const char *prefix)
{
    return fm_events_subscribe_secure (endpoint, prefix, NULL);
}


//  --------------------------------------------------------------------------
//  The same over CURVE (curve borrowed; NULL = insecure).  The broker
//  admits monitor keys only: any other key's handshake is refused and the
//  socket receives nothing.

zsock_t *
fm_events_subscribe_secure (const char *endpoint, const char *prefix,
                            fm_curve_t *curve)
{
    assert (endpoint);
    zsock_t *sub = zsock_new (ZMQ_SUB);
    if (sub && curve && fm_curve_apply_client (curve, sub))
        zsock_destroy (&sub);
    if (sub) {
        zsock_set_subscribe (sub, prefix ? prefix : "");
        if (zsock_attach (sub, endpoint, false))
            zsock_destroy (&sub);
    }
    if (!sub)
        zsys_error ("fm_client: cannot subscribe to '%s'", endpoint);
    return sub;
}


//  --------------------------------------------------------------------------
//  Receive one event [topic][body] into *event.  Returns 0, or -1 with err
//  filled: 400/413/505 malformed (consumed), 504 if the socket's receive
//  timeout expired, 0 on interrupt; or 1 for a message that is not an
//  event (its topic begins with '$': an event batch, SPEC.md 12.3, which a
//  subscriber to everything also receives), consumed, *event untouched.
//  One message per call, so that a caller driven by a poller never
//  blocks.

int
fm_events_recv (zsock_t *sub, fm_event_t *event, fm_error_t *err)
{
    assert (sub);
    assert (event);
    zmsg_t *msg = zmsg_recv (sub);
    if (msg && zframe_size (zmsg_first (msg)) > 0
            && zframe_data (zmsg_first (msg)) [0] == '$') {
        zmsg_destroy (&msg);
        return 1;
    }
    if (!msg) {
        if (zmq_errno () == EAGAIN)
            s_error (err, FM_STATUS_TIMEOUT, "no event within the timeout");
        else
            s_error (err, 0, "interrupted");
        return -1;
    }
    int rc = -1;
    if (zmsg_size (msg) != 2)
        s_error (err, FM_STATUS_BAD_REQUEST,
                 "malformed event: %zu frames, expected 2", zmsg_size (msg));
    else {
        zframe_t *topic = zmsg_first (msg);
        zframe_t *body = zmsg_next (msg);
        if (fm_event_decode (zframe_data (body), zframe_size (body), event, err) == 0) {
            //  The topic must be what the body says ("<type>.<key>"), or a
            //  subscriber filtering on topics would be misled
            char expected [128];
            size_t len = fm_event_topic (event, expected, sizeof expected);
            if (zframe_size (topic) == len
            &&  memcmp (zframe_data (topic), expected, len) == 0)
                rc = 0;
            else
                s_error (err, FM_STATUS_BAD_REQUEST,
                         "malformed event: topic does not match its body (%s)",
                         expected);
        }
    }
    zmsg_destroy (&msg);
    return rc;
}


//  --------------------------------------------------------------------------
//  Selftest: a ROUTER plays the broker with raw frames, so every byte the
//  client sends and every malformed reply is under the test's control.

//  Receive a client request at the fake broker, check its envelope, and
//  return the routing id (caller owns); body and service are checked
static zframe_t *
s_broker_recv (zsock_t *router, const char *service, const char *body_text)
{
    zpoller_t *poller = zpoller_new (router, NULL);
    assert (zpoller_wait (poller, 5000) == router);
    zpoller_destroy (&poller);
    zmsg_t *msg = zmsg_recv (router);
    assert (msg);
    assert (zmsg_size (msg) == 5);
    zframe_t *identity = zmsg_pop (msg);
    char *empty = zmsg_popstr (msg);
    char *protocol = zmsg_popstr (msg);
    char *name = zmsg_popstr (msg);
    assert (streq (empty, ""));
    assert (streq (protocol, FM_MDPC));
    assert (streq (name, service));
    zframe_t *body = zmsg_pop (msg);
    if (body_text)
        assert (zframe_streq (body, body_text));
    else {
        fm_error_t err;
        fm_msg_t *request = fm_msg_decode (zframe_data (body), zframe_size (body), &err);
        assert (request);
        assert (request->type == FM_MSG_REQUEST);
        fm_msg_destroy (&request);
    }
    zframe_destroy (&body);
    zstr_free (&empty);
    zstr_free (&protocol);
    zstr_free (&name);
    zmsg_destroy (&msg);
    return identity;
}

//  Send frames from the fake broker to the client identity: frames are
//  strings, except that a NULL string means "the body frame" given
static void
s_broker_send (zsock_t *router, zframe_t *identity, zframe_t *body,
               const char *frames [])
{
    zmsg_t *msg = zmsg_new ();
    zframe_t *copy = zframe_dup (identity);
    zmsg_append (msg, &copy);
    for (size_t i = 0; frames [i] || body; i++) {
        if (frames [i])
            zmsg_addstr (msg, frames [i]);
        else {
            copy = zframe_dup (body);
            zmsg_append (msg, &copy);
            break;
        }
    }
    int rc = zmsg_send (&msg, router);
    assert (rc == 0);
}

//  A broker for the Lazy Pirate test: ignores the first try, answers the
//  second (which must come from a new socket, with the same body) after a
//  decoy reply for another request.
static void
s_pirate_broker (zsock_t *pipe, void *args)
{
    zsock_t *router = (zsock_t *) args;
    zsock_signal (pipe, 0);
    zframe_t *first = s_broker_recv (router, FM_SERVICE_REQUEST, NULL);
    zframe_t *second = s_broker_recv (router, FM_SERVICE_REQUEST, NULL);
    assert (!zframe_eq (first, second));        //  Reconnected: new peer
    char id [FM_REQUEST_ID_SIZE];
    fm_request_id_make ("91350100M000100Y43", "pirate-1", id);
    const char *frames [] = { "", FM_MDPC, FM_SERVICE_REQUEST, NULL };
    fm_msg_t *decoy = fm_msg_new_error ("0000000000000000", 404, "not yours");
    fm_msg_t *answer = fm_msg_new_error (id, 404, "the answer");
    fm_error_t err;
    zframe_t *body = fm_msg_encode (decoy, &err);
    s_broker_send (router, second, body, frames);
    zframe_destroy (&body);
    body = fm_msg_encode (answer, &err);
    s_broker_send (router, second, body, frames);
    zframe_destroy (&body);
    fm_msg_destroy (&decoy);
    fm_msg_destroy (&answer);
    zframe_destroy (&first);
    zframe_destroy (&second);
    char *command = zstr_recv (pipe);          //  $TERM
    zstr_free (&command);
}

void
fm_client_test (bool verbose)
{
    zsock_t *router = zsock_new_router ("@tcp://127.0.0.1:*");
    assert (router);
    char *endpoint = zsock_last_endpoint (router);      //  ours to free
    if (verbose)
        printf ("   fake broker at %s\n", endpoint);
    assert (fm_client_new ("nonsense://endpoint") == NULL);
    fm_client_t *client = fm_client_new (endpoint);
    assert (client);
    zstr_free (&endpoint);
    assert (fm_client_sock (client));
    fm_error_t err;

    //  Nothing to receive yet: a timeout, status 504
    assert (fm_client_recv (client, 20, &err) == NULL);
    assert (err.status == FM_STATUS_TIMEOUT);

    //  A request goes out as [""]["MDPC01"]["fm.request"][msgpack]
    fm_msg_t *request = fm_msg_new (FM_MSG_REQUEST);
    assert (request);
    strcpy (request->request.enterprise_id, "91350100M000100Y43");
    strcpy (request->request.idem_key, "key-1");
    request->request.amount_fen = 300000000;
    request->request.term_months = 12;
    strcpy (request->request.grid_id, "JB-01");
    strcpy (request->request.purpose, "流动资金");
    request->request.consent = FM_CONSENT_ALL;
    int rc = fm_client_send (client, FM_SERVICE_REQUEST, request, &err);
    if (rc && verbose)
        printf ("   send: %d %s\n", err.status, err.text);
    assert (rc == 0);
    zframe_t *identity = s_broker_recv (router, FM_SERVICE_REQUEST, NULL);

    //  An invalid message is refused before it reaches the wire
    fm_msg_t *invalid = fm_msg_new (FM_MSG_REQUEST);
    assert (fm_client_send (client, FM_SERVICE_REQUEST, invalid, &err) == -1);
    assert (err.status == FM_STATUS_BAD_REQUEST);
    fm_msg_destroy (&invalid);

    //  The broker answers with a RESULT: it comes back decoded
    char request_id [17];
    fm_request_id_make ("91350100M000100Y43", "key-1", request_id);
    fm_msg_t *result = fm_msg_new (FM_MSG_RESULT);
    strcpy (result->request_id, request_id);
    strcpy (result->request.enterprise_id, "91350100M000100Y43");
    strcpy (result->request.idem_key, "key-1");
    result->status = FM_STATUS_OK;
    zframe_t *result_body = fm_msg_encode (result, &err);
    if (!result_body)
        printf ("   encode RESULT: %d %s\n", err.status, err.text);
    assert (result_body);
    const char *reply_frames [] = { "", FM_MDPC, FM_SERVICE_REQUEST, NULL };
    s_broker_send (router, identity, result_body, reply_frames);
    fm_msg_t *reply = fm_client_recv (client, 5000, &err);
    assert (reply);
    assert (reply->type == FM_MSG_RESULT);
    assert (streq (reply->request_id, request_id));
    assert (reply->status == FM_STATUS_OK);
    assert (streq (reply->request.enterprise_id, "91350100M000100Y43"));
    fm_msg_destroy (&reply);

    //  Malformed replies: NULL with err filled, and the client goes on
    const char *too_few [] = { "", FM_MDPC, NULL };
    const char *no_delimiter [] = { "x", FM_MDPC, FM_SERVICE_REQUEST, NULL };
    const char *wrong_protocol [] = { "", "MDPC02", FM_SERVICE_REQUEST, NULL };
    const char *garbage [] = { "", FM_MDPC, FM_SERVICE_REQUEST, "\xC1garbage", NULL };
    const char *too_many [] = { "", FM_MDPC, FM_SERVICE_REQUEST, "x", NULL };
    const char *empty_service [] = { "", FM_MDPC, "", NULL };
    struct {
        const char **frames;
        zframe_t *body;
        uint16_t status;
    } bad [] = {
        { too_few, NULL, FM_STATUS_BAD_REQUEST },
        { no_delimiter, result_body, FM_STATUS_BAD_REQUEST },
        { wrong_protocol, result_body, FM_STATUS_BAD_VERSION },
        { garbage, NULL, FM_STATUS_BAD_REQUEST },
        { too_many, result_body, FM_STATUS_BAD_REQUEST },
        { empty_service, result_body, FM_STATUS_BAD_REQUEST },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        s_broker_send (router, identity, bad [i].body, bad [i].frames);
        memset (&err, 0, sizeof err);
        reply = fm_client_recv (client, 5000, &err);
        if (verbose)
            printf ("   bad reply %zu: %d %s\n", i, err.status, err.text);
        assert (reply == NULL);
        assert (err.status == bad [i].status);
        assert (*err.text);
    }
    //  ...and still reads a good one afterwards
    s_broker_send (router, identity, result_body, reply_frames);
    reply = fm_client_recv (client, 5000, &err);
    assert (reply && reply->type == FM_MSG_RESULT);
    fm_msg_destroy (&reply);

    //  fm_client_recv_reused: the same checks, into one message the
    //  client keeps, which the next reply overwrites
    s_broker_send (router, identity, result_body, reply_frames);
    const fm_msg_t *kept = fm_client_recv_reused (client, 5000, &err);
    assert (kept && kept->type == FM_MSG_RESULT);
    assert (streq (kept->request_id, request_id));
    assert (streq (kept->request.enterprise_id, "91350100M000100Y43"));
    fm_msg_t *other = fm_msg_new_error ("00000000000000aa", 404, "没有这笔申请");
    zframe_t *other_body = fm_msg_encode (other, &err);
    assert (other_body);
    s_broker_send (router, identity, other_body, reply_frames);
    const fm_msg_t *again = fm_client_recv_reused (client, 5000, &err);
    assert (again == kept);
    assert (again->type == FM_MSG_ERROR && again->status == 404);
    assert (streq (again->request_id, "00000000000000aa"));
    assert (streq (again->text, "没有这笔申请"));
    zframe_destroy (&other_body);
    fm_msg_destroy (&other);
    s_broker_send (router, identity, NULL, garbage);
    memset (&err, 0, sizeof err);
    assert (fm_client_recv_reused (client, 5000, &err) == NULL);
    assert (err.status == FM_STATUS_BAD_REQUEST);
    //  Timeout 0 with nothing there: 504 at once, without waiting
    memset (&err, 0, sizeof err);
    assert (fm_client_recv_reused (client, 0, &err) == NULL);
    assert (err.status == FM_STATUS_TIMEOUT);
    s_broker_send (router, identity, result_body, reply_frames);
    kept = fm_client_recv_reused (client, 5000, &err);
    assert (kept && kept->type == FM_MSG_RESULT && kept->status == FM_STATUS_OK);
    assert (streq (kept->text, ""));

    //  8/MMI.  The fake broker is single-threaded, so it queues the answer
    //  first, and a RESULT before it: fm_client_mmi must skip the RESULT
    //  (keeping it for fm_client_recv) and read "200"
    s_broker_send (router, identity, result_body, reply_frames);
    const char *mmi_200 [] = { "", FM_MDPC, FM_SERVICE_MMI, "200", NULL };
    s_broker_send (router, identity, NULL, mmi_200);
    assert (fm_client_mmi (client, "bank.CQRCB", 5000) == 200);
    zframe_destroy (&identity);
    identity = s_broker_recv (router, FM_SERVICE_MMI, "bank.CQRCB");
    reply = fm_client_recv (client, 0, &err);
    assert (reply && reply->type == FM_MSG_RESULT);
    fm_msg_destroy (&reply);
    const char *mmi_404 [] = { "", FM_MDPC, FM_SERVICE_MMI, "404", NULL };
    s_broker_send (router, identity, NULL, mmi_404);
    assert (fm_client_mmi (client, "bank.NONE", 5000) == 404);
    zframe_destroy (&identity);
    identity = s_broker_recv (router, FM_SERVICE_MMI, "bank.NONE");
    const char *mmi_501 [] = { "", FM_MDPC, FM_SERVICE_MMI, "501", NULL };
    s_broker_send (router, identity, NULL, mmi_501);
    assert (fm_client_mmi (client, "mmi.other", 5000) == 501);
    zframe_destroy (&identity);
    identity = s_broker_recv (router, FM_SERVICE_MMI, "mmi.other");
    //  No answer: -1 after the timeout; a late answer is then skipped by
    //  fm_client_recv, which returns the next real reply
    assert (fm_client_mmi (client, "gov.credit", 20) == -1);
    zframe_destroy (&identity);
    identity = s_broker_recv (router, FM_SERVICE_MMI, "gov.credit");
    s_broker_send (router, identity, NULL, mmi_200);
    s_broker_send (router, identity, result_body, reply_frames);
    reply = fm_client_recv (client, 5000, &err);
    assert (reply && reply->type == FM_MSG_RESULT);
    fm_msg_destroy (&reply);
    //  A body that is not a status is not a status
    const char *mmi_bad [] = { "", FM_MDPC, FM_SERVICE_MMI, "2x0", NULL };
    s_broker_send (router, identity, NULL, mmi_bad);
    assert (fm_client_mmi (client, "gov.credit", 5000) == -1);

    zframe_destroy (&result_body);
    zframe_destroy (&identity);
    fm_msg_destroy (&result);
    fm_msg_destroy (&request);
    fm_client_destroy (&client);
    fm_client_destroy (&client);
    assert (client == NULL);
    zsock_destroy (&router);

    //  Events: XPUB plays the broker's event socket
    zsock_t *xpub = zsock_new_xpub ("@tcp://127.0.0.1:*");
    assert (xpub);
    endpoint = zsock_last_endpoint (xpub);
    zsock_t *sub = fm_events_subscribe (endpoint, "offer.made.");
    assert (sub);
    zstr_free (&endpoint);
    zsock_set_rcvtimeo (sub, 5000);
    //  Wait for the subscription to reach the publisher (no sleeping: the
    //  XPUB socket tells us)
    zpoller_t *poller = zpoller_new (xpub, NULL);
    assert (zpoller_wait (poller, 5000) == xpub);
    zpoller_destroy (&poller);
    zframe_t *subscription = zframe_recv (xpub);
    assert (subscription);
    assert (zframe_size (subscription) == 1 + strlen ("offer.made."));
    assert (zframe_data (subscription) [0] == 1);
    zframe_destroy (&subscription);

    fm_event_t event;
    memset (&event, 0, sizeof event);
    event.epoch = 1764300000000000;
    event.seq = 7;
    event.ts_us = 1764300000123456;
    event.type = FM_EV_OFFER_MADE;
    strcpy (event.request_id, request_id);
    strcpy (event.enterprise_id, "91350100M000100Y43");
    strcpy (event.grid_id, "JB-01");
    strcpy (event.bank, "CQRCB");
    strcpy (event.product, "GRIDE");
    strcpy (event.offer_id, "CQRCB/GRIDE");
    event.amount_fen = 300000000;
    event.term_months = 12;
    event.base_rate_bp = 375;
    event.effective_rate_bp = 345;
    zframe_t *event_body = fm_event_encode (&event, &err);
    if (!event_body)
        printf ("   encode event: %d %s\n", err.status, err.text);
    assert (event_body);
    char topic [128];
    fm_event_topic (&event, topic, sizeof topic);
    assert (strncmp (topic, "offer.made.", 11) == 0);

    //  Filtered out by the subscription; then a bad body, a topic that
    //  lies about the body, a wrong frame count; then the good event
    zstr_sendm (xpub, "request.received.x");
    zframe_t *copy = zframe_dup (event_body);
    zframe_send (&copy, xpub, 0);
    zstr_sendm (xpub, topic);
    zstr_send (xpub, "\x81\xA1v\x01");
    zstr_sendm (xpub, "offer.made.0000000000000000");
    copy = zframe_dup (event_body);
    zframe_send (&copy, xpub, 0);
    zstr_send (xpub, topic);
    zstr_sendm (xpub, topic);
    copy = zframe_dup (event_body);
    zframe_send (&copy, xpub, 0);

    fm_event_t got;
    for (int i = 0; i < 3; i++) {
        memset (&err, 0, sizeof err);
        assert (fm_events_recv (sub, &got, &err) == -1);
        if (verbose)
            printf ("   bad event %d: %d %s\n", i, err.status, err.text);
        assert (err.status >= 400);
    }
    memset (&got, 0, sizeof got);
    rc = fm_events_recv (sub, &got, &err);
    if (rc)
        printf ("   event: %d %s\n", err.status, err.text);
    assert (rc == 0);
    assert (got.type == FM_EV_OFFER_MADE);
    assert (got.epoch == event.epoch);
    assert (got.seq == 7);
    assert (got.ts_us == event.ts_us);
    assert (streq (got.request_id, request_id));
    assert (streq (got.offer_id, "CQRCB/GRIDE"));
    assert (got.amount_fen == 300000000);
    assert (got.effective_rate_bp == 345);
    //  Nothing more: the receive timeout gives 504
    zsock_set_rcvtimeo (sub, 20);
    assert (fm_events_recv (sub, &got, &err) == -1);
    assert (err.status == FM_STATUS_TIMEOUT);

    //  A subscriber to everything also gets event batches: skipped
    endpoint = zsock_last_endpoint (xpub);
    zsock_t *all = fm_events_subscribe (endpoint, "");
    zstr_free (&endpoint);
    assert (all);
    zsock_set_rcvtimeo (all, 5000);
    subscription = zframe_recv (xpub);
    assert (subscription && zframe_size (subscription) == 1);
    zframe_destroy (&subscription);
    zstr_sendm (xpub, "$batch");
    zstr_send (xpub, "\x91\xc4\x01\x80");
    zstr_sendm (xpub, topic);
    copy = zframe_dup (event_body);
    zframe_send (&copy, xpub, 0);
    memset (&got, 0, sizeof got);
    assert (fm_events_recv (all, &got, &err) == 1);
    assert (got.type == 0);
    assert (fm_events_recv (all, &got, &err) == 0);
    assert (got.type == FM_EV_OFFER_MADE && got.seq == 7);
    zsock_destroy (&all);

    zframe_destroy (&event_body);
    zsock_destroy (&sub);
    zsock_destroy (&xpub);

    //  Lazy Pirate: the first try goes unanswered, the second (same
    //  request, new socket) is answered; replies for other requests are
    //  skipped.  With nobody answering: a clear 504 after the tries.
    zsock_t *pirate_router = zsock_new_router ("@tcp://127.0.0.1:*");
    assert (pirate_router);
    char *pirate_endpoint = zsock_last_endpoint (pirate_router);
    fm_client_t *pirate = fm_client_new (pirate_endpoint);
    assert (pirate);
    zactor_t *pirate_broker = zactor_new (s_pirate_broker, pirate_router);
    fm_msg_t *ask = fm_msg_new (FM_MSG_REQUEST);
    strcpy (ask->request.enterprise_id, "91350100M000100Y43");
    strcpy (ask->request.idem_key, "pirate-1");
    ask->request.amount_fen = 300000000;
    ask->request.term_months = 12;
    ask->request.consent = FM_CONSENT_ALL;
    fm_msg_t *answer = fm_client_request (pirate, FM_SERVICE_REQUEST, ask, 300, 3, &err);
    assert (answer);
    assert (answer->type == FM_MSG_ERROR);
    assert (streq (answer->text, "the answer"));
    fm_msg_destroy (&answer);
    zactor_destroy (&pirate_broker);
    //  Nobody answers now
    int64_t started = zclock_mono ();
    answer = fm_client_request (pirate, FM_SERVICE_REQUEST, ask, 50, 2, &err);
    assert (answer == NULL);
    assert (err.status == FM_STATUS_TIMEOUT);
    assert (strstr (err.text, "did not answer after 2 tries"));
    assert (zclock_mono () - started >= 100);
    fm_msg_destroy (&ask);
    fm_client_destroy (&pirate);
    zstr_free (&pirate_endpoint);
    zsock_destroy (&pirate_router);
}
