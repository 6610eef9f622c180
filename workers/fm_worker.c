/*  =========================================================================
    fm_worker - 7/MDP worker API with finmatch's capacity extension

    One DEALER socket to the broker for one service.  The worker is always
    in one of two states: connected (READY sent, heartbeats flowing both
    ways) or waiting to reconnect (a fresh, unconnected socket and a time
    at which to connect it).  All timing is kept as absolute monotonic
    deadlines rather than mdwrkapi's per-poll liveness countdown, so that
    waking up for a request never postpones a heartbeat and a busy broker
    cannot starve the expiry check:

      heartbeat_at  next HEARTBEAT we send (every heartbeat_ms, idle or busy)
      expiry_at     the broker is presumed dead if it stays silent until
                    then: liveness x heartbeat_ms after the last valid
                    command it sent (any command counts, RFC 7)
      reconnect_at  while waiting, when to connect the new socket

    Reconnecting always uses a NEW socket, so the broker sees a new routing
    id and cannot mistake us for the worker it expired.  A DISCONNECT from
    the broker reconnects at once, unless the previous connect was less
    than reconnect_ms ago: a broker that refuses our service name would
    otherwise make us loop READY/DISCONNECT as fast as the network allows.

    Every inbound message is untrusted: a message that is not exactly one
    of REQUEST, HEARTBEAT or DISCONNECT in 7/MDP framing is logged and
    dropped, and does not count as a sign of life.

    Sends use a zero send timeout: if the pipe to the broker is full (the
    broker is gone), a heartbeat or reply is dropped instead of blocking the
    worker; the broker side then expires us and we reconnect.
    =========================================================================
*/

#include "fm_worker.h"
#include "fm_mdp.h"
#include "fm_proto.h"
#include "fm_curve.h"

#include <limits.h>

//  How long destroy waits for the final DISCONNECT to leave, msecs
#define FM_WORKER_LINGER_MS     200
//  Longest reply-to token we accept from the broker, bytes
#define FM_WORKER_MAX_REPLY_TO  255

struct _fm_worker_t {
    char *endpoint;                 //  owned, broker endpoint
    char *service;                  //  owned, service name announced
    uint32_t capacity;              //  announced in READY options
    uint32_t heartbeat_ms;          //  our heartbeat interval
    uint32_t liveness;              //  missed heartbeats before expiry
    uint32_t reconnect_ms;          //  delay before reconnecting
    bool verbose;                   //  log every message
    char towns [FM_TEXT_SIZE];      //  announced in READY options ("" none)
    fm_curve_t *curve;              //  owned copy of our CURVE keys, or
                                    //  NULL for an insecure connection
    zsock_t *sock;                  //  owned, DEALER; replaced on reconnect
    zpoller_t *poller;              //  owned, polls sock
    bool connected;                 //  false while waiting to reconnect
    int64_t heartbeat_at;           //  monotonic msecs, next HEARTBEAT out
    int64_t expiry_at;              //  monotonic msecs, broker presumed dead
    int64_t reconnect_at;           //  monotonic msecs, when !connected
    int64_t connected_at;           //  monotonic msecs, last connect
    fm_msg_reader_t *reader;        //  owned, decodes every request body
                                    //  (fm_worker_reply): no fm_msg_t
                                    //  allocated per request
    bool trusted;                   //  encode replies trusted
};

static const char *s_command_names [] = {
    "?", "READY", "REQUEST", "REPLY", "HEARTBEAT", "DISCONNECT"
};

static const char *
s_command_name (byte command)
{
    return command <= FM_MDPW_DISCONNECT? s_command_names [command]: "?";
}


//  Send one command to the broker: [""][MDPW01][command] followed by the
//  frames of tail, if any.  Takes ownership of *tail_p (may be NULL).
//  Returns 0, or -1 if not connected or the pipe is full (message dropped).

static int
s_send_command (fm_worker_t *self, byte command, zmsg_t **tail_p)
{
    zmsg_t *msg = tail_p && *tail_p? *tail_p: zmsg_new ();
    if (tail_p)
        *tail_p = NULL;
    if (!self->connected) {
        zmsg_destroy (&msg);
        return -1;
    }
    zmsg_pushmem (msg, &command, 1);
    zmsg_pushstr (msg, FM_MDPW);
    zmsg_pushstr (msg, "");
    if (self->verbose) {
        zsys_debug ("fm_worker: %s: sending %s to broker",
                    self->service, s_command_name (command));
        zmsg_print (msg);
    }
    int rc = zmsg_send (&msg, self->sock);
    if (rc == -1) {
        //  zmsg_send leaves the message with us on failure
        zmsg_destroy (&msg);
        zsys_warning ("fm_worker: %s: %s to broker dropped (%s)",
                      self->service, s_command_name (command),
                      zmq_strerror (zmq_errno ()));
    }
    return rc;
}


//  Replace the socket with a fresh DEALER.  When delay_ms is 0, connect it
//  and send READY now; else connect later (reconnect_at).  Returns 0, or -1
//  if the endpoint is refused by zmq_connect (the worker stays waiting).

static int
s_connect (fm_worker_t *self, uint32_t delay_ms)
{
    zpoller_destroy (&self->poller);
    zsock_destroy (&self->sock);
    self->connected = false;
    self->sock = zsock_new (ZMQ_DEALER);
    assert (self->sock);    //  only fails when out of memory or contexts
    zsock_set_sndtimeo (self->sock, 0);
    zsock_set_linger (self->sock, 0);
    if (self->curve)                //  before connect: CURVE client keys
        fm_curve_apply_client (self->curve, self->sock);
    self->poller = zpoller_new (self->sock, NULL);
    assert (self->poller);

    int64_t now = zclock_mono ();
    if (delay_ms > 0) {
        self->reconnect_at = now + delay_ms;
        return 0;
    }
    if (zsock_connect (self->sock, "%s", self->endpoint) == -1) {
        zsys_error ("fm_worker: %s: cannot connect to '%s': %s",
                    self->service, self->endpoint, zmq_strerror (zmq_errno ()));
        self->reconnect_at = now + self->reconnect_ms;
        return -1;
    }
    self->connected = true;
    self->connected_at = now;
    self->heartbeat_at = now + self->heartbeat_ms;
    self->expiry_at = now + (int64_t) self->heartbeat_ms * self->liveness;
    if (self->verbose)
        zsys_debug ("fm_worker: %s: connecting to broker at %s",
                    self->service, self->endpoint);

    //  READY [service][opts]: the options frame tells the broker our
    //  capacity and heartbeat so it expires us on our schedule, not its own
    fm_ready_opts_t opts = { self->capacity, self->heartbeat_ms, "" };
    snprintf (opts.towns, sizeof (opts.towns), "%s", self->towns);
    zframe_t *opts_frame = fm_ready_opts_encode (&opts);
    zmsg_t *tail = zmsg_new ();
    zmsg_addstr (tail, self->service);
    if (opts_frame)
        zmsg_append (tail, &opts_frame);
    else
        zsys_error ("fm_worker: %s: READY options out of bounds, sent none",
                    self->service);
    s_send_command (self, FM_MDPW_READY, &tail);
    return 0;
}


//  Do whatever is due at time now: connect a waiting socket, expire a
//  silent broker, send a heartbeat.  Cannot fail.

static void
s_tick (fm_worker_t *self, int64_t now)
{
    if (!self->connected) {
        if (now >= self->reconnect_at)
            s_connect (self, 0);
        return;
    }
    if (now >= self->expiry_at) {
        zsys_warning ("fm_worker: %s: broker silent for %" PRId64
                      " ms, reconnecting in %u ms", self->service,
                      (int64_t) self->heartbeat_ms * self->liveness,
                      self->reconnect_ms);
        s_connect (self, self->reconnect_ms);
        return;
    }
    if (now >= self->heartbeat_at) {
        s_send_command (self, FM_MDPW_HEARTBEAT, NULL);
        self->heartbeat_at = now + self->heartbeat_ms;
    }
}


//  Frames of an inbound message that we keep: a valid one has at most 6
//  (REQUEST); the rest of a longer one is read and counted, not kept
#define MAX_FRAMES      6

//  Read one whole message into parts [] (caller closes the first
//  min (count, MAX_FRAMES)) and return its frame count: 0 if no message is
//  waiting (wait false: errno EAGAIN) or interrupted.  When wait is false
//  the first frame is taken with ZMQ_DONTWAIT: a message already queued
//  costs no syscall that way, where zsock_events (ZMQ_EVENTS) and
//  zmq_poll always make at least one.  zmq_msg_t rather than zframe_recv:
//  no zframe_t allocated and no ZMQ_RCVMORE getsockopt per frame, ~550
//  instructions a frame, 6 frames a REQUEST (callgrind, fm-bench bank).
static size_t
s_recv_frames (fm_worker_t *self, zmq_msg_t *parts, bool wait)
{
    void *handle = zsock_resolve (self->sock);
    size_t count = 0;
    while (true) {
        zmq_msg_t scratch;
        zmq_msg_t *part = count < MAX_FRAMES? &parts [count]: &scratch;
        zmq_msg_init (part);
        //  Once the first frame is in the rest has arrived too (multipart
        //  is atomic): the others never block
        if (zmq_msg_recv (part, handle, count == 0 && !wait? ZMQ_DONTWAIT: 0) == -1) {
            int error = zmq_errno ();
            zmq_msg_close (part);
            errno = error;      //  EAGAIN: none waiting; else interrupted
            break;              //  (mid-message too: refused)
        }
        bool more = zmq_msg_more (part) != 0;
        if (part == &scratch)
            zmq_msg_close (part);
        count++;
        if (!more)
            break;
    }
    return count;
}

//  A new frame holding a copy of part.  Cannot fail (czmq aborts when out
//  of memory).
static zframe_t *
s_frame_from (zmq_msg_t *part)
{
    zframe_t *frame = zframe_new (zmq_msg_data (part), zmq_msg_size (part));
    assert (frame);
    return frame;
}

//  Check one inbound message and act on it.  Returns the body of a valid
//  REQUEST (caller owns, *reply_to_p set), else NULL.  Closes the parts
//  (count frames were received, at most MAX_FRAMES kept).

static zframe_t *
s_handle (fm_worker_t *self, zmq_msg_t *parts, size_t count,
          zframe_t **reply_to_p)
{
    size_t kept = count < MAX_FRAMES? count: MAX_FRAMES;
    byte *data [MAX_FRAMES];
    size_t size [MAX_FRAMES];
    for (size_t index = 0; index < kept; index++) {
        data [index] = (byte *) zmq_msg_data (&parts [index]);
        size [index] = zmq_msg_size (&parts [index]);
    }
    if (self->verbose) {
        zsys_debug ("fm_worker: %s: received from broker:", self->service);
        for (size_t index = 0; index < kept; index++) {
            zframe_t *frame = s_frame_from (&parts [index]);
            zframe_print (frame, NULL);
            zframe_destroy (&frame);
        }
    }
    const char *why = NULL;
    byte command = 0;
    if (count < 3)
        why = "fewer than 3 frames";
    else
    if (size [0] != 0)
        why = "first frame not empty";
    else
    if (size [1] != strlen (FM_MDPW)
    ||  memcmp (data [1], FM_MDPW, strlen (FM_MDPW)) != 0)
        why = "not MDPW01";
    else
    if (size [2] != 1)
        why = "command frame not 1 byte";
    else {
        command = data [2][0];
        if (command == FM_MDPW_REQUEST) {
            if (count != 6)
                why = "REQUEST without exactly [reply-to][\"\"][body]";
            else
            if (size [3] == 0
            ||  size [3] > FM_WORKER_MAX_REPLY_TO)
                why = "REQUEST reply-to empty or too long";
            else
            if (size [4] != 0)
                why = "REQUEST delimiter not empty";
        }
        else
        if (command == FM_MDPW_HEARTBEAT || command == FM_MDPW_DISCONNECT) {
            if (count != 3)
                why = "extra frames after command";
        }
        else
            why = "unexpected command";
    }
    zframe_t *body = NULL;
    if (why)
        zsys_warning ("fm_worker: %s: dropped malformed message from broker "
                      "(%zu frames, command 0x%02x): %s",
                      self->service, count, command, why);
    else {
        //  A valid command from the broker is a sign of life
        self->expiry_at = zclock_mono () + (int64_t) self->heartbeat_ms * self->liveness;
        if (command == FM_MDPW_REQUEST) {
            //  Copies: czmq has no stable way to wrap a zmq_msg_t, and a
            //  copy costs less than zframe_recv's per-frame overhead
            *reply_to_p = s_frame_from (&parts [3]);
            body = s_frame_from (&parts [5]);
        }
        else
        if (command == FM_MDPW_DISCONNECT) {
            int64_t since = zclock_mono () - self->connected_at;
            uint32_t delay = since >= self->reconnect_ms? 0: self->reconnect_ms;
            zsys_warning ("fm_worker: %s: broker sent DISCONNECT, reconnecting%s",
                          self->service, delay? " after a pause": "");
            s_connect (self, delay);
        }
    }
    for (size_t index = 0; index < kept; index++)
        zmq_msg_close (&parts [index]);
    return body;
}


//  --------------------------------------------------------------------------
//  Connect to endpoint as a worker for service.  Returns NULL if the
//  endpoint is invalid (error logged).

fm_worker_t *
fm_worker_new (const char *endpoint, const char *service,
               uint32_t capacity, uint32_t heartbeat_ms, uint32_t liveness)
{
    return fm_worker_new_secure (endpoint, service, capacity, heartbeat_ms,
                                 liveness, NULL);
}


//  --------------------------------------------------------------------------
//  The same over CURVE: curve is borrowed and copied (every reconnect
//  makes a new socket with the same keys); NULL = insecure.

fm_worker_t *
fm_worker_new_secure (const char *endpoint, const char *service,
                      uint32_t capacity, uint32_t heartbeat_ms,
                      uint32_t liveness, fm_curve_t *curve)
{
    assert (endpoint);
    assert (service);
    //  The config tables bound these; out of range is a programmer error
    assert (capacity >= 1 && capacity <= 1024);
    assert (heartbeat_ms >= 1);
    assert (liveness >= 1);

    fm_worker_t *self = (fm_worker_t *) zmalloc (sizeof (fm_worker_t));
    assert (self);
    self->endpoint = strdup (endpoint);
    self->service = strdup (service);
    assert (self->endpoint && self->service);
    self->reader = fm_msg_reader_new ();
    assert (self->reader);      //  only fails when out of memory
    self->capacity = capacity;
    self->heartbeat_ms = heartbeat_ms;
    self->liveness = liveness;
    self->reconnect_ms = FM_RECONNECT_MS;
    if (curve) {
        self->curve = fm_curve_dup (curve);
        assert (self->curve);
    }
    if (s_connect (self, 0) == -1)
        fm_worker_destroy (&self);
    return self;
}


//  --------------------------------------------------------------------------
//  Announce the towns a bank is paired with (READY options "towns").  The
//  worker has already sent READY without them, so it says DISCONNECT and
//  registers again on a fresh socket.  Returns 0, or -1 if towns is too
//  long (nothing changed).

int
fm_worker_set_towns (fm_worker_t *self, const char *towns)
{
    assert (self);
    assert (towns);
    if (strlen (towns) >= sizeof (self->towns))
        return -1;
    snprintf (self->towns, sizeof (self->towns), "%s", towns);
    if (self->connected) {
        s_send_command (self, FM_MDPW_DISCONNECT, NULL);
        s_connect (self, 0);
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  Send DISCONNECT, then destroy.  Idempotent, nulls *self_p.

void
fm_worker_destroy (fm_worker_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        fm_worker_t *self = *self_p;
        if (self->connected) {
            //  Tell the broker now rather than let it wait out our expiry;
            //  linger a moment so the frame leaves before the socket dies
            s_send_command (self, FM_MDPW_DISCONNECT, NULL);
            zsock_set_linger (self->sock, FM_WORKER_LINGER_MS);
        }
        zpoller_destroy (&self->poller);
        zsock_destroy (&self->sock);
        free (self->endpoint);
        free (self->service);
        fm_curve_destroy (&self->curve);
        fm_msg_reader_destroy (&self->reader);
        free (self);
        *self_p = NULL;
    }
}


//  --------------------------------------------------------------------------
//  Log every message exchanged.

void
fm_worker_set_verbose (fm_worker_t *self, bool verbose)
{
    assert (self);
    self->verbose = verbose;
}


//  --------------------------------------------------------------------------
//  Encode fm_worker_reply's replies trusted (see header).

void
fm_worker_set_trusted (fm_worker_t *self, bool trusted)
{
    assert (self);
    self->trusted = trusted;
}


//  --------------------------------------------------------------------------
//  Set the reconnect delay.

void
fm_worker_set_reconnect (fm_worker_t *self, uint32_t reconnect_ms)
{
    assert (self);
    self->reconnect_ms = reconnect_ms;
}


//  --------------------------------------------------------------------------
//  Wait up to timeout_ms (-1 forever) for the next REQUEST.  Returns the
//  body (caller owns) and *reply_to_p (caller owns), or NULL on timeout or
//  interrupt (*reply_to_p NULL).

zframe_t *
fm_worker_recv (fm_worker_t *self, int timeout_ms, zframe_t **reply_to_p)
{
    assert (self);
    assert (reply_to_p);
    *reply_to_p = NULL;
    int64_t deadline = timeout_ms < 0? INT64_MAX: zclock_mono () + timeout_ms;

    while (!zsys_interrupted) {
        //  A message already queued is taken without polling (see
        //  s_recv_frames): under load a request is usually waiting
        zmq_msg_t parts [MAX_FRAMES];
        size_t count = s_recv_frames (self, parts, false);
        if (count == 0) {
            if (zmq_errno () != EAGAIN)
                break;              //  interrupted
            //  Sleep until the earliest of: caller's deadline, our next duty
            int64_t now = zclock_mono ();
            int64_t wake = deadline;
            if (self->connected) {
                wake = self->heartbeat_at < wake? self->heartbeat_at: wake;
                wake = self->expiry_at < wake? self->expiry_at: wake;
            }
            else
                wake = self->reconnect_at < wake? self->reconnect_at: wake;
            int64_t wait = wake - now;
            wait = wait < 0? 0: wait > INT_MAX? INT_MAX: wait;
            void *which = zpoller_wait (self->poller, (int) wait);
            if (which == self->sock) {
                count = s_recv_frames (self, parts, true);
                if (count == 0)
                    break;          //  interrupted
            }
            else
            if (zpoller_terminated (self->poller))
                break;
        }
        if (count > 0) {
            zframe_t *body = s_handle (self, parts, count, reply_to_p);
            if (body)
                return body;
        }
        //  Duties come after input: a message already waiting is handled
        //  before we decide the broker went silent
        s_tick (self, zclock_mono ());
        if (zclock_mono () >= deadline)
            break;                  //  timeout
    }
    return NULL;
}


//  --------------------------------------------------------------------------
//  Send a REPLY.  Takes ownership of both frames, whatever the outcome.
//  Returns 0, or -1 if not connected or the pipe to the broker is full.

int
fm_worker_send (fm_worker_t *self, zframe_t **reply_to_p, zframe_t **body_p)
{
    assert (self);
    assert (reply_to_p && *reply_to_p);
    assert (body_p && *body_p);
    int rc = -1;
    if (self->verbose || !self->connected) {
        zmsg_t *tail = zmsg_new ();
        zmsg_append (tail, reply_to_p);
        zmsg_addstr (tail, "");
        zmsg_append (tail, body_p);
        rc = s_send_command (self, FM_MDPW_REPLY, &tail);
    }
    else {
        //  The hot path: frame by frame, no zmsg_t (s_recv_frames).  Once
        //  the first frame is queued ZeroMQ takes the rest of the message
        //  (multipart is atomic), so only the first send can fail
        void *handle = zsock_resolve (self->sock);
        byte command = FM_MDPW_REPLY;
        if (zmq_send (handle, "", 0, ZMQ_SNDMORE) == 0) {
            zmq_send (handle, FM_MDPW, strlen (FM_MDPW), ZMQ_SNDMORE);
            zmq_send (handle, &command, 1, ZMQ_SNDMORE);
            zframe_send (reply_to_p, self->sock, ZFRAME_MORE);
            zmq_send (handle, "", 0, ZMQ_SNDMORE);
            rc = zframe_send (body_p, self->sock, 0);
        }
        else
            zsys_warning ("fm_worker: %s: REPLY to broker dropped (%s)",
                          self->service, zmq_strerror (zmq_errno ()));
        zframe_destroy (reply_to_p);    //  left with us if not sent
        zframe_destroy (body_p);
    }
    if (rc == -1 && !self->connected)
        zsys_warning ("fm_worker: %s: reply dropped, broker connection lost",
                      self->service);
    //  A long computation before this reply may have made a heartbeat due
    s_tick (self, zclock_mono ());
    return rc;
}


//  --------------------------------------------------------------------------
//  Selftest: an in-process ROUTER plays the broker with raw frames.

//  Receive one message from the fake broker within timeout_ms, skipping
//  heartbeats (counted in *heartbeats if not NULL).  Returns it, or NULL.
static zmsg_t *
s_broker_recv (zsock_t *router, int timeout_ms, size_t *heartbeats)
{
    zpoller_t *poller = zpoller_new (router, NULL);
    int64_t deadline = zclock_mono () + timeout_ms;
    zmsg_t *result = NULL;
    while (!result) {
        int64_t wait = deadline - zclock_mono ();
        if (zpoller_wait (poller, wait < 0? 0: (int) wait) != router)
            break;
        zmsg_t *msg = zmsg_recv (router);
        assert (msg);
        assert (zmsg_size (msg) >= 4);
        zframe_t *command = zmsg_first (msg);
        command = zmsg_next (msg);
        command = zmsg_next (msg);
        command = zmsg_next (msg);
        if (zframe_size (command) == 1
        &&  zframe_data (command) [0] == FM_MDPW_HEARTBEAT) {
            assert (zmsg_size (msg) == 4);
            if (heartbeats)
                (*heartbeats)++;
            zmsg_destroy (&msg);
        }
        else
            result = msg;
    }
    zpoller_destroy (&poller);
    return result;
}

//  Check the MDP worker envelope of msg and return its command; leaves the
//  routing id in *identity_p (caller owns) and the rest in msg.
static byte
s_broker_envelope (zmsg_t *msg, zframe_t **identity_p)
{
    *identity_p = zmsg_pop (msg);
    zframe_t *frame = zmsg_pop (msg);
    assert (frame && zframe_size (frame) == 0);
    zframe_destroy (&frame);
    frame = zmsg_pop (msg);
    assert (frame && zframe_streq (frame, FM_MDPW));
    zframe_destroy (&frame);
    frame = zmsg_pop (msg);
    assert (frame && zframe_size (frame) == 1);
    byte command = zframe_data (frame) [0];
    zframe_destroy (&frame);
    return command;
}

//  Send the frames given as strings, after identity, to the worker; a
//  string of one byte below 0x10 is sent as that command byte.
static void
s_broker_send (zsock_t *router, zframe_t *identity, const char *frames [],
               size_t count)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_append (msg, &(zframe_t *) { zframe_dup (identity) });
    for (size_t i = 0; i < count; i++)
        zmsg_addmem (msg, frames [i], strlen (frames [i]));
    int rc = zmsg_send (&msg, router);
    assert (rc == 0);
}

static void
s_broker_command (zsock_t *router, zframe_t *identity, byte command)
{
    char cmd [2] = { (char) command, 0 };
    const char *frames [] = { "", FM_MDPW, cmd };
    s_broker_send (router, identity, frames, 3);
}

//  Expect a READY for service with options capacity/heartbeat from a new
//  peer; returns its routing id (caller owns).
static zframe_t *
s_expect_ready (zsock_t *router, int timeout_ms, uint32_t capacity,
                uint32_t heartbeat_ms)
{
    zmsg_t *msg = s_broker_recv (router, timeout_ms, NULL);
    assert (msg);
    zframe_t *identity;
    byte command = s_broker_envelope (msg, &identity);
    assert (command == FM_MDPW_READY);
    assert (zmsg_size (msg) == 2);
    char *service = zmsg_popstr (msg);
    assert (streq (service, "bank.TEST"));
    zstr_free (&service);
    zframe_t *opts_frame = zmsg_pop (msg);
    fm_ready_opts_t opts;
    fm_error_t err;
    int rc = fm_ready_opts_decode (zframe_data (opts_frame),
                                   zframe_size (opts_frame), &opts, &err);
    assert (rc == 0);
    assert (opts.capacity == capacity);
    assert (opts.heartbeat_ms == heartbeat_ms);
    zframe_destroy (&opts_frame);
    zmsg_destroy (&msg);
    return identity;
}

//  --------------------------------------------------------------------------
//  One request body in, one reply body out, on the worker's own reader,
//  reply kept by the handler (see header).  Decoding into the reader
//  saves the calloc and zeroing of a 3 KB fm_msg_t per request
//  (fm-microbench bank, gov).  A trusted worker's replies are encoded
//  with fm_msg_encode_trusted; our own ERRORs always checked.

zframe_t *
fm_worker_reply (fm_worker_t *self, zframe_t *body,
                 fm_worker_reply_fn *answer, void *arg)
{
    assert (self && body && answer);
    const char *service = self->service;
    fm_error_t error;
    const fm_msg_t *request = fm_msg_reader_decode (self->reader, zframe_data (body),
                                                    zframe_size (body), &error);
    const fm_msg_t *reply = request? answer (request, arg): NULL;
    fm_msg_t *error_reply = NULL;   //  an ERROR of ours, owned
    if (!request) {
        zsys_warning ("%s: bad request body (%zu bytes): %u %s", service,
                      zframe_size (body), error.status, error.text);
        reply = error_reply = fm_msg_new_error ("", error.status, "%s", error.text);
    }
    else
    if (!reply) {
        zsys_warning ("%s: unexpected %s body", service,
                      fm_msg_type_name (request->type));
        reply = error_reply = fm_msg_new_error (request->request_id,
                                                FM_STATUS_NOT_IMPLEMENTED,
                                                "%s does not handle %s", service,
                                                fm_msg_type_name (request->type));
    }
    fm_error_t failure;
    zframe_t *frame = NULL;
    if (reply && self->trusted && reply != error_reply)
        frame = fm_msg_encode_trusted (reply);
    if (reply && !frame)            //  also says why a trusted one failed
        frame = fm_msg_encode (reply, &failure);
    if (!frame) {
        //  Our own answer failed validation: a bug here, but the broker
        //  still gets an answer
        zsys_error ("%s: cannot encode our %s: %s", service,
                    reply? fm_msg_type_name (reply->type): "reply",
                    reply? failure.text: "out of memory");
        fm_msg_destroy (&error_reply);
        error_reply = fm_msg_new_error (request? request->request_id: "",
                                        FM_STATUS_INTERNAL, "%s failed to answer",
                                        service);
        frame = error_reply? fm_msg_encode (error_reply, &failure): NULL;
        assert (frame);     //  a short ERROR always encodes
    }
    fm_msg_destroy (&error_reply);
    return frame;
}

//  Test helper: a check of the status a reply carries
static void
s_assert_reply_status (zframe_t *reply, uint16_t status)
{
    assert (reply);
    fm_error_t error;
    fm_msg_t *msg = fm_msg_decode (zframe_data (reply), zframe_size (reply), &error);
    assert (msg);
    assert (msg->type == FM_MSG_ERROR);
    assert (msg->status == status);
    fm_msg_destroy (&msg);
}

//  fm_worker_reply's handler for the test: echoes ERROR bodies into the
//  message at arg (kept, reused), and answers an invalid reply (status 0)
//  to an ERROR whose text is "invalid"
static const fm_msg_t *
s_echo_errors_kept (const fm_msg_t *request, void *arg)
{
    fm_msg_t *kept = (fm_msg_t *) arg;
    if (request->type != FM_MSG_ERROR)
        return NULL;
    strcpy (kept->request_id, request->request_id);
    kept->status = streq (request->text, "invalid")? 0: request->status;
    strcpy (kept->text, request->text);
    return kept;
}

//  fm_worker_reply, body after body: the reader's message is reused, each
//  request is whole.  Garbage is the decoder's own 400, a type the worker
//  does not handle 501
static void
s_reply_test (fm_worker_t *worker)
{
    fm_msg_t *kept = fm_msg_new (FM_MSG_ERROR);
    assert (kept);
    byte garbage [] = { 0xc1, 0x00 };
    zframe_t *body = zframe_new (garbage, sizeof garbage);
    zframe_t *reply = fm_worker_reply (worker, body, s_echo_errors_kept, kept);
    s_assert_reply_status (reply, FM_STATUS_BAD_REQUEST);
    zframe_destroy (&reply);
    zframe_destroy (&body);

    fm_msg_t *query = fm_msg_new (FM_MSG_CREDIT_QUERY);
    assert (query);
    strcpy (query->request_id, "0123456789abcdef");
    strcpy (query->request.enterprise_id, "91350100M000100Y43");
    query->request.consent = FM_CONSENT_ALL;
    body = fm_msg_encode (query, NULL);
    assert (body);
    reply = fm_worker_reply (worker, body, s_echo_errors_kept, kept);
    s_assert_reply_status (reply, FM_STATUS_NOT_IMPLEMENTED);
    zframe_destroy (&reply);
    zframe_destroy (&body);
    fm_msg_destroy (&query);

    //  Two ERRORs in a row, trusted and not: each echoed whole (the
    //  second's shorter text leaves nothing of the first's)
    const char *texts [] = { "a longer text first", "short" };
    uint16_t statuses [] = { FM_STATUS_CONFLICT, FM_STATUS_NOT_FOUND };
    for (int index = 0; index < 4; index++) {
        fm_worker_set_trusted (worker, index >= 2);
        fm_msg_t *error = fm_msg_new_error ("0123456789abcdef", statuses [index % 2],
                                            "%s", texts [index % 2]);
        body = fm_msg_encode (error, NULL);
        assert (body);
        reply = fm_worker_reply (worker, body, s_echo_errors_kept, kept);
        fm_msg_t *echo = fm_msg_decode (zframe_data (reply), zframe_size (reply), NULL);
        assert (echo && echo->type == FM_MSG_ERROR);
        assert (echo->status == statuses [index % 2]);
        assert (streq (echo->text, texts [index % 2]));
        assert (streq (echo->request_id, "0123456789abcdef"));
        fm_msg_destroy (&echo);
        zframe_destroy (&reply);
        zframe_destroy (&body);
        fm_msg_destroy (&error);
    }
    //  A reply of ours that does not validate: ERROR 500 (checked only:
    //  trusted, the ASan builds would abort on it, as they should)
    fm_worker_set_trusted (worker, false);
    fm_msg_t *error = fm_msg_new_error ("0123456789abcdef", FM_STATUS_CONFLICT, "invalid");
    body = fm_msg_encode (error, NULL);
    reply = fm_worker_reply (worker, body, s_echo_errors_kept, kept);
    s_assert_reply_status (reply, FM_STATUS_INTERNAL);
    zframe_destroy (&reply);
    zframe_destroy (&body);
    fm_msg_destroy (&error);
    fm_msg_destroy (&kept);
}

void
fm_worker_test (bool verbose)
{
    //  @selftest
    //  The fake broker
    zsock_t *router = zsock_new (ZMQ_ROUTER);
    assert (router);
    int port = zsock_bind (router, "tcp://127.0.0.1:*");
    assert (port > 0);
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "tcp://127.0.0.1:%d", port);

    //  An invalid endpoint is refused
    assert (fm_worker_new ("no-such-transport", "bank.TEST", 1, 100, 3) == NULL);

    //  READY carries the service and the options frame
    const uint32_t heartbeat_ms = 100, liveness = 3;
    fm_worker_t *worker = fm_worker_new (endpoint, "bank.TEST", 8,
                                         heartbeat_ms, liveness);
    assert (worker);
    fm_worker_set_verbose (worker, verbose);
    fm_worker_set_reconnect (worker, 200);
    zframe_t *peer1 = s_expect_ready (router, 2000, 8, heartbeat_ms);

    //  REQUEST -> recv returns body and reply-to
    const char *request [] = { "", FM_MDPW, "\x02", "0123456789abcdef", "", "hello" };
    s_broker_send (router, peer1, request, 6);
    zframe_t *reply_to = NULL;
    zframe_t *body = fm_worker_recv (worker, 1000, &reply_to);
    assert (body && zframe_streq (body, "hello"));
    assert (reply_to && zframe_streq (reply_to, "0123456789abcdef"));
    zframe_destroy (&body);

    //  send -> REPLY [reply-to][""][body]; both frames consumed
    body = zframe_from ("world");
    int rc = fm_worker_send (worker, &reply_to, &body);
    assert (rc == 0);
    assert (reply_to == NULL && body == NULL);
    zmsg_t *msg = s_broker_recv (router, 1000, NULL);
    assert (msg);
    zframe_t *identity;
    assert (s_broker_envelope (msg, &identity) == FM_MDPW_REPLY);
    assert (zframe_eq (identity, peer1));
    zframe_destroy (&identity);
    assert (zmsg_size (msg) == 3);
    char *text = zmsg_popstr (msg);
    assert (streq (text, "0123456789abcdef"));
    zstr_free (&text);
    text = zmsg_popstr (msg);
    assert (streq (text, ""));
    zstr_free (&text);
    text = zmsg_popstr (msg);
    assert (streq (text, "world"));
    zstr_free (&text);
    zmsg_destroy (&msg);

    //  A timeout returns NULL, not earlier than asked
    s_broker_command (router, peer1, FM_MDPW_HEARTBEAT);
    int64_t start = zclock_mono ();
    body = fm_worker_recv (worker, 250, &reply_to);
    int64_t elapsed = zclock_mono () - start;
    assert (body == NULL && reply_to == NULL);
    assert (elapsed >= 250 && elapsed < 1000);
    //  (The fake broker answers at once after every pump of the worker, as
    //  a live broker would have meanwhile, so that the worker does not see
    //  it as silent while this single thread does broker work)
    s_broker_command (router, peer1, FM_MDPW_HEARTBEAT);

    //  Heartbeats arrived meanwhile: at least two in 250 ms at 100 ms
    size_t heartbeats = 0;
    msg = s_broker_recv (router, 0, &heartbeats);
    assert (msg == NULL);
    assert (heartbeats >= 2);

    //  Malformed messages are dropped and do not hurt the worker
    const char *bad1 [] = { "x" };
    const char *bad2 [] = { "", "MDPW99", "\x02", "0123456789abcdef", "", "hello" };
    const char *bad3 [] = { "", FM_MDPW, "\x02" };
    const char *bad4 [] = { "", FM_MDPW, "\x09" };
    const char *bad5 [] = { "", FM_MDPW, "\x02", "0123456789abcdef", "x", "hello" };
    const char *bad6 [] = { "", FM_MDPW, "\x02", "", "", "hello" };
    const char *bad7 [] = { "", FM_MDPW, "\x04", "extra" };
    const char *bad8 [] = { "", FM_MDPW, "\x01", "bank.TEST" };
    const char *bad9 [] = { "", FM_MDPW, "42" };
    const char *bad10 [] = { "x", FM_MDPW, "\x04" };
    s_broker_send (router, peer1, bad1, 1);
    s_broker_send (router, peer1, bad2, 6);
    s_broker_send (router, peer1, bad3, 3);
    s_broker_send (router, peer1, bad4, 3);
    s_broker_send (router, peer1, bad5, 6);
    s_broker_send (router, peer1, bad6, 6);
    s_broker_send (router, peer1, bad7, 4);
    s_broker_send (router, peer1, bad8, 4);
    s_broker_send (router, peer1, bad9, 3);
    s_broker_send (router, peer1, bad10, 3);
    //  More frames than a valid message has (the rest read, not kept)
    const char *bad11 [] = { "", FM_MDPW, "\x02", "0123456789abcdef", "", "hello", "x" };
    const char *bad12 [] = { "", FM_MDPW, "\x04", "a", "b", "c", "d", "e", "f" };
    s_broker_send (router, peer1, bad11, 7);
    s_broker_send (router, peer1, bad12, 9);
    s_broker_command (router, peer1, FM_MDPW_HEARTBEAT);
    body = fm_worker_recv (worker, 150, &reply_to);
    assert (body == NULL && reply_to == NULL);
    s_broker_command (router, peer1, FM_MDPW_HEARTBEAT);

    //  ...and the worker still serves on the same connection
    s_broker_send (router, peer1, request, 6);
    body = fm_worker_recv (worker, 1000, &reply_to);
    assert (body && zframe_streq (body, "hello"));
    zframe_destroy (&body);
    zframe_destroy (&reply_to);
    //  Requests back to back are taken whole and in order, each with its
    //  own reply-to (the second one from the queue, without polling)
    const char *second [] = { "", FM_MDPW, "\x02", "fedcba9876543210", "", "there" };
    s_broker_send (router, peer1, request, 6);
    s_broker_send (router, peer1, second, 6);
    s_broker_command (router, peer1, FM_MDPW_HEARTBEAT);
    body = fm_worker_recv (worker, 1000, &reply_to);
    assert (body && zframe_streq (body, "hello"));
    assert (reply_to && zframe_streq (reply_to, "0123456789abcdef"));
    zframe_destroy (&body);
    zframe_destroy (&reply_to);
    body = fm_worker_recv (worker, 1000, &reply_to);
    assert (body && zframe_streq (body, "there"));
    assert (reply_to && zframe_streq (reply_to, "fedcba9876543210"));
    zframe_destroy (&body);
    zframe_destroy (&reply_to);
    heartbeats = 0;
    msg = s_broker_recv (router, 20, &heartbeats);
    assert (msg == NULL);       //  no READY: it did not reconnect

    //  Broker silence: after liveness x heartbeat the worker gives up on
    //  this connection, and after the reconnect delay sends READY again
    //  from a new socket
    int64_t last_heard = zclock_mono ();
    zframe_t *peer2 = NULL;
    while (!peer2 && zclock_mono () - last_heard < 5000) {
        body = fm_worker_recv (worker, 50, &reply_to);
        assert (body == NULL);
        msg = s_broker_recv (router, 0, NULL);
        if (msg) {
            byte command = s_broker_envelope (msg, &peer2);
            assert (command == FM_MDPW_READY);
            zmsg_destroy (&msg);
        }
    }
    elapsed = zclock_mono () - last_heard;
    assert (peer2);
    assert (!zframe_eq (peer2, peer1));
    assert (elapsed >= heartbeat_ms * liveness);
    assert (elapsed < 3000);

    //  DISCONNECT from the broker: the worker reconnects again
    s_broker_command (router, peer2, FM_MDPW_DISCONNECT);
    zframe_t *peer3 = NULL;
    start = zclock_mono ();
    while (!peer3 && zclock_mono () - start < 3000) {
        body = fm_worker_recv (worker, 50, &reply_to);
        assert (body == NULL);
        msg = s_broker_recv (router, 0, NULL);
        if (msg) {
            byte command = s_broker_envelope (msg, &peer3);
            assert (command == FM_MDPW_READY);
            zmsg_destroy (&msg);
        }
    }
    assert (peer3);
    assert (!zframe_eq (peer3, peer2));

    //  Requests on the new connection work as before
    s_broker_send (router, peer3, request, 6);
    body = fm_worker_recv (worker, 1000, &reply_to);
    assert (body && zframe_streq (body, "hello"));
    zframe_destroy (&body);
    body = zframe_from ("again");
    rc = fm_worker_send (worker, &reply_to, &body);
    assert (rc == 0);
    msg = s_broker_recv (router, 1000, NULL);
    assert (msg);
    assert (s_broker_envelope (msg, &identity) == FM_MDPW_REPLY);
    assert (zframe_eq (identity, peer3));
    zframe_destroy (&identity);
    zmsg_destroy (&msg);

    //  fm_worker_reply: one reply body per request body, on the worker's
    //  reader
    s_reply_test (worker);

    //  Destroy says DISCONNECT
    fm_worker_destroy (&worker);
    assert (worker == NULL);
    fm_worker_destroy (&worker);    //  idempotent
    msg = s_broker_recv (router, 1000, NULL);
    assert (msg);
    assert (s_broker_envelope (msg, &identity) == FM_MDPW_DISCONNECT);
    assert (zframe_eq (identity, peer3));
    zframe_destroy (&identity);
    zmsg_destroy (&msg);

    zframe_destroy (&peer1);
    zframe_destroy (&peer2);
    zframe_destroy (&peer3);
    zsock_destroy (&router);

    //  @end
}
