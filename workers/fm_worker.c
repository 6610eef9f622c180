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

    The first READY waits for the first fm_worker_recv, so that options set
    after fm_worker_new (towns, batch) travel in it: the broker sees one
    READY, not a READY, a DISCONNECT and another READY.

    Reconnecting always uses a NEW socket, so the broker sees a new routing
    id and cannot mistake us for the worker it expired.  A DISCONNECT from
    the broker reconnects at once, unless the previous connect was less
    than reconnect_ms ago: a broker that refuses our service name would
    otherwise make us loop READY/DISCONNECT as fast as the network allows.

    Every inbound message is untrusted: a message that is not exactly one
    of REQUEST, HEARTBEAT or DISCONNECT in 7/MDP framing (or REQUESTS, when
    we announced a batch) is logged and dropped, and does not count as a
    sign of life.

    Query batches (SPEC.md 4.2): a worker that announced batch >= 2 may
    get REQUESTS, several [reply-to][body] pairs in one message.  The
    message is received into parts [] (one zmq_msg_t per frame, no copy)
    and stays there: fm_worker_recv hands out one pair per call, from
    parts, without touching the socket, until the queue is empty.  While
    requests of a batch are out, fm_worker_send gathers the replies
    (the caller's frames, no copy) and sends them as one REPLIES when
    every request handed out is answered and none is queued, when
    gathered is full, when fm_worker_recv is about to read the socket,
    and before a reconnect or destroy.  So a reply never waits while we
    block, and the socket is never read while a reply waits: a DISCONNECT
    can never find replies gathered.  A reconnect sends the gathered
    replies to the old connection (whose requests they answer) and drops
    the queued requests: the broker asks again after it expires or
    forgets us.  A reply sent after that goes out as a plain REPLY, on
    whatever connection is up, as it always did.

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
//  Frames of an inbound message that we keep without a batch: a valid one
//  has at most 6 (REQUEST); the rest of a longer one is read and counted,
//  not kept.  With batch B, a REQUESTS has 3 + 2 x B
#define MAX_FRAMES              6

struct _fm_worker_t {
    char *endpoint;                 //  owned, broker endpoint
    char *service;                  //  owned, service name announced
    uint32_t capacity;              //  announced in READY options
    uint32_t batch;                 //  announced in READY options: most
                                    //  pairs per REQUESTS; 1 = none
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
    bool started;                   //  fm_worker_recv was called: READY
                                    //  goes out on every connect
    int64_t heartbeat_at;           //  monotonic msecs, next HEARTBEAT out
    int64_t expiry_at;              //  monotonic msecs, broker presumed dead
    int64_t reconnect_at;           //  monotonic msecs, when !connected
    int64_t connected_at;           //  monotonic msecs, last connect
    fm_msg_reader_t *reader;        //  owned, decodes every request body
                                    //  (fm_worker_reply): no fm_msg_t
                                    //  allocated per request
    bool trusted;                   //  encode replies trusted
    zmq_msg_t *parts;               //  owned, parts_max: the message being
                                    //  read; while queue_next < queue_end,
                                    //  the REQUESTS whose pairs from
                                    //  queue_next on are still queued (open)
    size_t parts_max;               //  max (MAX_FRAMES, 3 + 2 x batch)
    size_t queue_next;              //  index in parts of the next queued
                                    //  pair's reply-to
    size_t queue_end;               //  one past the queued pairs (0: none)
    zframe_t **gathered;            //  owned array of 2 x batch: reply-to,
                                    //  body of each reply gathered (owned)
    size_t gathered_count;          //  pairs in gathered
    size_t handed;                  //  requests of batches handed out and
                                    //  not yet answered in a sent message
};

static const char *s_command_names [] = {
    "?", "READY", "REQUEST", "REPLY", "HEARTBEAT", "DISCONNECT",
    "REQUESTS", "REPLIES"
};

static const char *
s_command_name (byte command)
{
    return command <= FM_MDPW_REPLIES? s_command_names [command]: "?";
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


//  Send the replies gathered, if any: one REPLIES, or a plain REPLY when
//  there is one (what any broker reads).  The frames are handed to ZeroMQ
//  as they are (zframe_send: no copy).  The requests they answer are no
//  longer "handed" (the caller may still hold others).  Returns 0, or -1
//  if not connected or the pipe is full (all dropped, logged).

static int
s_flush_replies (fm_worker_t *self)
{
    size_t count = self->gathered_count;
    if (count == 0)
        return 0;
    self->gathered_count = 0;
    self->handed = self->handed > count? self->handed - count: 0;
    zframe_t **pairs = self->gathered;
    byte command = count == 1? FM_MDPW_REPLY: FM_MDPW_REPLIES;
    int rc = -1;
    if (self->verbose || !self->connected) {
        zmsg_t *tail = zmsg_new ();
        for (size_t index = 0; index < count; index++) {
            zmsg_append (tail, &pairs [2 * index]);
            if (count == 1)
                zmsg_addstr (tail, "");
            zmsg_append (tail, &pairs [2 * index + 1]);
        }
        rc = s_send_command (self, command, &tail);
        if (rc == -1 && !self->connected)
            zsys_warning ("fm_worker: %s: %s of %zu dropped, broker connection"
                          " lost", self->service, s_command_name (command), count);
        return rc;
    }
    //  The hot path: frame by frame, no zmsg_t (s_recv_frames).  Once the
    //  first frame is queued ZeroMQ takes the rest of the message
    //  (multipart is atomic), so only the first send can fail
    void *handle = zsock_resolve (self->sock);
    if (zmq_send (handle, "", 0, ZMQ_SNDMORE) == 0) {
        zmq_send (handle, FM_MDPW, strlen (FM_MDPW), ZMQ_SNDMORE);
        zmq_send (handle, &command, 1, ZMQ_SNDMORE);
        for (size_t index = 0; index < count; index++) {
            bool last = index == count - 1;
            zframe_send (&pairs [2 * index], self->sock, ZFRAME_MORE);
            if (count == 1)
                zmq_send (handle, "", 0, ZMQ_SNDMORE);
            rc = zframe_send (&pairs [2 * index + 1], self->sock,
                              last? 0: ZFRAME_MORE);
        }
    }
    else
        zsys_warning ("fm_worker: %s: %s of %zu to broker dropped (%s)",
                      self->service, s_command_name (command), count,
                      zmq_strerror (zmq_errno ()));
    for (size_t index = 0; index < 2 * count; index++)
        zframe_destroy (&pairs [index]);    //  left with us if not sent
    return rc;
}


//  Drop the requests still queued from a REQUESTS (closes their parts).
//  Returns how many were dropped.  Cannot fail.

static size_t
s_queue_drop (fm_worker_t *self)
{
    size_t dropped = (self->queue_end - self->queue_next) / 2;
    for (size_t index = self->queue_next; index < self->queue_end; index++)
        zmq_msg_close (&self->parts [index]);
    self->queue_next = self->queue_end = 0;
    return dropped;
}


//  READY [service][opts] on the connection just made: the options frame
//  tells the broker our capacity, heartbeat and batch, so it expires us on
//  our schedule, not its own.  Our timers start now.  Cannot fail (a
//  READY dropped shows as a silent broker).

static void
s_send_ready (fm_worker_t *self)
{
    int64_t now = zclock_mono ();
    self->heartbeat_at = now + self->heartbeat_ms;
    self->expiry_at = now + (int64_t) self->heartbeat_ms * self->liveness;
    fm_ready_opts_t opts = { self->capacity, self->heartbeat_ms, "", self->batch };
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
}


//  Leave the current connection's batch: send the replies gathered (to
//  the connection their requests came from), drop the requests still
//  queued (the broker asks again, logged with why), forget those handed
//  out.

static void
s_batch_leave (fm_worker_t *self, const char *why)
{
    s_flush_replies (self);
    size_t dropped = s_queue_drop (self);
    if (dropped)
        zsys_warning ("fm_worker: %s: %zu queued requests dropped %s",
                      self->service, dropped, why);
    self->handed = 0;
}


//  Replace the socket with a fresh DEALER.  Replies gathered go to the
//  old connection first (they answer its requests); requests still
//  queued are dropped (the broker asks again).  When delay_ms is 0,
//  connect it and send READY now (once started); else connect later
//  (reconnect_at).  Returns 0, or -1 if the endpoint is refused by
//  zmq_connect (the worker stays waiting).

static int
s_connect (fm_worker_t *self, uint32_t delay_ms)
{
    if (self->sock)
        s_batch_leave (self, "with the connection");
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
    if (self->started)
        s_send_ready (self);
    return 0;
}


//  Register again with new READY options: the replies gathered go first,
//  then DISCONNECT, then READY on a fresh socket.  Before the first
//  fm_worker_recv nothing was announced yet: nothing to do.

static void
s_reregister (fm_worker_t *self)
{
    if (self->started && self->connected) {
        s_flush_replies (self);
        s_send_command (self, FM_MDPW_DISCONNECT, NULL);
        //  The broker is alive: let the replies and the DISCONNECT leave
        //  the old socket (linger 0 would drop what is still queued)
        zsock_set_linger (self->sock, FM_WORKER_LINGER_MS);
        s_connect (self, 0);
    }
}


//  Do whatever is due at time now: connect a waiting socket, expire a
//  silent broker (only when may_expire: not while requests of a batch
//  are out, since the broker's heartbeats then wait unread in the
//  socket), send a heartbeat.  Cannot fail.

static void
s_tick (fm_worker_t *self, int64_t now, bool may_expire)
{
    if (!self->connected) {
        if (now >= self->reconnect_at)
            s_connect (self, 0);
        return;
    }
    if (may_expire && now >= self->expiry_at) {
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


//  Read one whole message into self->parts [] (caller closes the first
//  min (count, parts_max)) and return its frame count: 0 if no message is
//  waiting (wait false: errno EAGAIN) or interrupted.  When wait is false
//  the first frame is taken with ZMQ_DONTWAIT: a message already queued
//  costs no syscall that way, where zsock_events (ZMQ_EVENTS) and
//  zmq_poll always make at least one.  zmq_msg_t rather than zframe_recv:
//  no zframe_t allocated and no ZMQ_RCVMORE getsockopt per frame, ~550
//  instructions a frame, 6 frames a REQUEST (callgrind, fm-bench bank).
//  parts [] must hold no queued request (queue empty).
static size_t
s_recv_frames (fm_worker_t *self, bool wait)
{
    assert (self->queue_end == 0);  //  else we would overwrite the queue
    zmq_msg_t *parts = self->parts;
    void *handle = zsock_resolve (self->sock);
    size_t count = 0;
    while (true) {
        zmq_msg_t scratch;
        zmq_msg_t *part = count < self->parts_max? &parts [count]: &scratch;
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

//  Hand out the next queued request of a REQUESTS: returns its body and
//  sets *reply_to_p (both the caller's, copies as for REQUEST), closes its
//  parts.  The queue must not be empty.
static zframe_t *
s_queue_pop (fm_worker_t *self, zframe_t **reply_to_p)
{
    assert (self->queue_next + 1 < self->queue_end);
    zmq_msg_t *pair = &self->parts [self->queue_next];
    *reply_to_p = s_frame_from (&pair [0]);
    zframe_t *body = s_frame_from (&pair [1]);
    zmq_msg_close (&pair [0]);
    zmq_msg_close (&pair [1]);
    self->queue_next += 2;
    if (self->queue_next >= self->queue_end)
        self->queue_next = self->queue_end = 0;
    self->handed++;
    return body;
}

//  Why a REQUESTS of count frames (all kept) is malformed, or NULL if it
//  is well formed: 1..batch pairs, each reply-to 1..255 bytes.  A bad
//  pair spoils the whole message: a broker that frames one pair wrong is
//  not trusted with the pairing of the others either.
static const char *
s_requests_invalid (fm_worker_t *self, size_t count)
{
    if (self->batch < 2)
        return "REQUESTS, but we announced no batch";
    if (count < 5)
        return "REQUESTS without a [reply-to][body] pair";
    if ((count - 3) % 2)
        return "REQUESTS with an odd number of frames after the command";
    if ((count - 3) / 2 > self->batch)
        return "REQUESTS with more pairs than our batch";
    for (size_t index = 3; index < count; index += 2) {
        size_t size = zmq_msg_size (&self->parts [index]);
        if (size == 0 || size > FM_WORKER_MAX_REPLY_TO)
            return "REQUESTS reply-to empty or too long";
    }
    return NULL;
}

//  Check one inbound message (count frames in self->parts, at most
//  parts_max kept) and act on it.  Returns the body of a valid REQUEST,
//  or of the first pair of a valid REQUESTS (caller owns, *reply_to_p
//  set; the other pairs stay queued in parts), else NULL.  Closes the
//  parts it does not queue.

static zframe_t *
s_handle (fm_worker_t *self, size_t count, zframe_t **reply_to_p)
{
    zmq_msg_t *parts = self->parts;
    size_t kept = count < self->parts_max? count: self->parts_max;
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
    if (zmq_msg_size (&parts [0]) != 0)
        why = "first frame not empty";
    else
    if (zmq_msg_size (&parts [1]) != strlen (FM_MDPW)
    ||  memcmp (zmq_msg_data (&parts [1]), FM_MDPW, strlen (FM_MDPW)) != 0)
        why = "not MDPW01";
    else
    if (zmq_msg_size (&parts [2]) != 1)
        why = "command frame not 1 byte";
    else {
        command = *(byte *) zmq_msg_data (&parts [2]);
        if (command == FM_MDPW_REQUEST) {
            if (count != 6)
                why = "REQUEST without exactly [reply-to][\"\"][body]";
            else
            if (zmq_msg_size (&parts [3]) == 0
            ||  zmq_msg_size (&parts [3]) > FM_WORKER_MAX_REPLY_TO)
                why = "REQUEST reply-to empty or too long";
            else
            if (zmq_msg_size (&parts [4]) != 0)
                why = "REQUEST delimiter not empty";
        }
        else
        if (command == FM_MDPW_REQUESTS)
            //  More frames than kept is more pairs than our batch
            why = count > kept? "REQUESTS with more pairs than our batch"
                              : s_requests_invalid (self, count);
        else
        if (command == FM_MDPW_HEARTBEAT || command == FM_MDPW_DISCONNECT) {
            if (count != 3)
                why = "extra frames after command";
        }
        else
            why = "unexpected command";
    }
    zframe_t *body = NULL;
    size_t closed = kept;           //  parts closed here: 0 .. closed - 1
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
        if (command == FM_MDPW_REQUESTS) {
            //  The pairs stay where they were received; the first goes
            //  out now, the others on the next calls
            for (size_t index = 0; index < 3; index++)
                zmq_msg_close (&parts [index]);
            closed = 0;
            self->queue_next = 3;
            self->queue_end = count;
            body = s_queue_pop (self, reply_to_p);
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
    for (size_t index = 0; index < closed; index++)
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


//  Size parts [] and gathered [] for batch (the queue must be empty and
//  nothing gathered).  Only fails when out of memory (asserted).

static void
s_size_batch (fm_worker_t *self, uint32_t batch)
{
    assert (self->queue_end == 0 && self->gathered_count == 0);
    self->batch = batch;
    size_t parts_max = 3 + 2 * (size_t) batch;
    self->parts_max = parts_max > MAX_FRAMES? parts_max: MAX_FRAMES;
    free (self->parts);
    self->parts = (zmq_msg_t *) malloc (self->parts_max * sizeof (zmq_msg_t));
    free (self->gathered);
    self->gathered = (zframe_t **) calloc (2 * (size_t) batch, sizeof (zframe_t *));
    assert (self->parts && self->gathered);
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
    s_size_batch (self, 1);
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
//  Announce the towns a bank is paired with (READY options "towns").
//  Before the first fm_worker_recv they go out with the first READY;
//  after it the worker says DISCONNECT and registers again on a fresh
//  socket.  Returns 0, or -1 if towns is too long (nothing changed).

int
fm_worker_set_towns (fm_worker_t *self, const char *towns)
{
    assert (self);
    assert (towns);
    if (strlen (towns) >= sizeof (self->towns))
        return -1;
    snprintf (self->towns, sizeof (self->towns), "%s", towns);
    s_reregister (self);
    return 0;
}


//  --------------------------------------------------------------------------
//  Announce a batch (READY options "batch"), as fm_worker_set_towns does.
//  Returns 0, or -1 if batch is not 1..FM_MDPW_BATCH_MAX (nothing
//  changed).

int
fm_worker_set_batch (fm_worker_t *self, uint32_t batch)
{
    assert (self);
    if (batch < 1 || batch > FM_MDPW_BATCH_MAX)
        return -1;
    if (batch == self->batch)
        return 0;
    //  Replies gathered go to the connection they answer; requests queued
    //  are dropped (the broker asks again), so that the arrays may be
    //  resized before the new READY lets batch REQUESTS arrive
    s_batch_leave (self, "to re-register");
    s_size_batch (self, batch);
    s_reregister (self);
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
        if (self->connected && self->started) {
            //  Tell the broker now rather than let it wait out our expiry;
            //  linger a moment so the frames leave before the socket dies.
            //  The replies gathered go first: their requests were ours
            s_flush_replies (self);
            s_send_command (self, FM_MDPW_DISCONNECT, NULL);
            zsock_set_linger (self->sock, FM_WORKER_LINGER_MS);
        }
        else
            s_flush_replies (self);     //  not connected: dropped, logged
        s_queue_drop (self);
        zpoller_destroy (&self->poller);
        zsock_destroy (&self->sock);
        free (self->endpoint);
        free (self->service);
        fm_curve_destroy (&self->curve);
        fm_msg_reader_destroy (&self->reader);
        free (self->parts);
        free (self->gathered);
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
//  Wait up to timeout_ms (-1 forever) for the next request.  Returns the
//  body (caller owns) and *reply_to_p (caller owns), or NULL on timeout or
//  interrupt (*reply_to_p NULL).

zframe_t *
fm_worker_recv (fm_worker_t *self, int timeout_ms, zframe_t **reply_to_p)
{
    assert (self);
    assert (reply_to_p);
    *reply_to_p = NULL;
    if (!self->started) {
        //  The first READY, with every option set since fm_worker_new
        self->started = true;
        if (self->connected)
            s_send_ready (self);
    }
    int64_t deadline = timeout_ms < 0? INT64_MAX: zclock_mono () + timeout_ms;

    while (!zsys_interrupted) {
        //  The rest of a REQUESTS first, without touching the socket; a
        //  heartbeat may be due meanwhile, an expiry is not judged (the
        //  broker's messages wait unread)
        if (self->queue_end) {
            zframe_t *body = s_queue_pop (self, reply_to_p);
            s_tick (self, zclock_mono (), false);
            return body;
        }
        //  About to read the socket and maybe wait: no reply stays behind
        s_flush_replies (self);

        //  A message already queued is taken without polling (see
        //  s_recv_frames): under load a request is usually waiting
        size_t count = s_recv_frames (self, false);
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
                count = s_recv_frames (self, true);
                if (count == 0)
                    break;          //  interrupted
            }
            else
            if (zpoller_terminated (self->poller))
                break;
        }
        if (count > 0) {
            zframe_t *body = s_handle (self, count, reply_to_p);
            if (body)
                return body;
        }
        //  Duties come after input: a message already waiting is handled
        //  before we decide the broker went silent
        s_tick (self, zclock_mono (), true);
        if (zclock_mono () >= deadline)
            break;                  //  timeout
    }
    return NULL;
}


//  --------------------------------------------------------------------------
//  Send a REPLY, or gather it for a REPLIES while requests of a batch are
//  out.  Takes ownership of both frames, whatever the outcome.  Returns
//  0, or -1 if not connected or the pipe to the broker is full.

int
fm_worker_send (fm_worker_t *self, zframe_t **reply_to_p, zframe_t **body_p)
{
    assert (self);
    assert (reply_to_p && *reply_to_p);
    assert (body_p && *body_p);
    //  Kept with the replies gathered (no copy): while a batch is out, for
    //  one REPLIES when the batch is answered, bounded by batch (sent
    //  when full); else sent at once, as a plain REPLY.  The caller may
    //  have held requests from before the batch (capacity > 1): their
    //  replies ride along, any grouping is allowed.  Nothing is gathered
    //  while no batch is out (s_flush_replies empties it as handed ends)
    assert (self->handed > 0 || self->gathered_count == 0);
    assert (self->gathered_count < self->batch);
    self->gathered [2 * self->gathered_count] = *reply_to_p;
    self->gathered [2 * self->gathered_count + 1] = *body_p;
    *reply_to_p = *body_p = NULL;
    self->gathered_count++;
    int rc = 0;
    if (self->handed == 0
    ||  (self->queue_end == 0 && self->gathered_count >= self->handed)
    ||  self->gathered_count == self->batch)
        rc = s_flush_replies (self);
    //  A long computation before this reply may have made a heartbeat
    //  due; while a batch is out the broker's messages wait unread, so
    //  its silence proves nothing yet
    s_tick (self, zclock_mono (), self->handed == 0 && self->queue_end == 0);
    return rc;
}


//  --------------------------------------------------------------------------
//  Selftest: an in-process ROUTER plays the broker with raw frames.

//  The next frame of msg must be the string expected
static void
s_pop_expect (zmsg_t *msg, const char *expected)
{
    char *text = zmsg_popstr (msg);
    assert (text && streq (text, expected));
    zstr_free (&text);
}

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

//  Expect a READY for service with options capacity/heartbeat/batch from
//  a new peer; returns its routing id (caller owns).
static zframe_t *
s_expect_ready (zsock_t *router, int timeout_ms, uint32_t capacity,
                uint32_t heartbeat_ms, uint32_t batch)
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
    assert (opts.batch == batch);
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

//  Expect the answers to count requests from peer in one message: a
//  REPLY [reply-to][""][body] when count is 1, else a REPLIES
//  ([reply-to][body]){count}; pairs [] = reply-to, body, ... as strings
static void
s_expect_replies (zsock_t *router, zframe_t *peer, const char *pairs [],
                  size_t count)
{
    zmsg_t *msg = s_broker_recv (router, 1000, NULL);
    assert (msg);
    zframe_t *identity;
    byte command = s_broker_envelope (msg, &identity);
    assert (zframe_eq (identity, peer));
    zframe_destroy (&identity);
    assert (command == (count == 1? FM_MDPW_REPLY: FM_MDPW_REPLIES));
    assert (zmsg_size (msg) == (count == 1? 3: 2 * count));
    for (size_t index = 0; index < count; index++) {
        s_pop_expect (msg, pairs [2 * index]);
        if (count == 1)
            s_pop_expect (msg, "");
        s_pop_expect (msg, pairs [2 * index + 1]);
    }
    zmsg_destroy (&msg);
}

//  Receive the next request, which must be body for reply_to, and answer
//  it with reply (fm_worker_send takes the frames)
static void
s_serve_one (fm_worker_t *worker, const char *reply_to_text, const char *body_text,
             const char *reply)
{
    zframe_t *reply_to = NULL;
    zframe_t *body = fm_worker_recv (worker, 1000, &reply_to);
    assert (body && zframe_streq (body, body_text));
    assert (reply_to && zframe_streq (reply_to, reply_to_text));
    zframe_destroy (&body);
    body = zframe_from (reply);
    assert (fm_worker_send (worker, &reply_to, &body) == 0);
    assert (reply_to == NULL && body == NULL);
}

//  Query batches (SPEC.md 4.2): a worker that announced batch 4 takes a
//  REQUESTS of 3 pairs in three recv calls and answers in one REPLIES;
//  malformed REQUESTS are dropped whole; replies never wait while the
//  worker reads the socket, re-registers or goes away
static void
s_batch_test (zsock_t *router, const char *endpoint, bool verbose)
{
    fm_worker_t *worker = fm_worker_new (endpoint, "bank.TEST", 8, 1000, 3);
    assert (worker);
    fm_worker_set_verbose (worker, verbose);
    assert (fm_worker_set_batch (worker, 0) == -1);
    assert (fm_worker_set_batch (worker, FM_MDPW_BATCH_MAX + 1) == -1);
    assert (fm_worker_set_batch (worker, 4) == 0);
    assert (fm_worker_set_towns (worker, "GYQ") == 0);
    //  One READY, carrying both
    zframe_t *reply_to = NULL;
    zframe_t *body = fm_worker_recv (worker, 0, &reply_to);
    assert (body == NULL);
    zframe_t *peer = s_expect_ready (router, 2000, 8, 1000, 4);
    zmsg_t *msg = s_broker_recv (router, 50, NULL);
    assert (msg == NULL);

    //  Three pairs: three recv calls in order, the second and third from
    //  the queue; the replies go as ONE REPLIES of three, in order, once
    //  the last is answered
    const char *three [] = { "", FM_MDPW, "\x06", "0123456789abcdef", "one",
                             "1123456789abcdef", "two", "2123456789abcdef", "three" };
    s_broker_send (router, peer, three, 9);
    s_serve_one (worker, "0123456789abcdef", "one", "uno");
    s_serve_one (worker, "1123456789abcdef", "two", "dos");
    msg = s_broker_recv (router, 50, NULL);
    assert (msg == NULL);           //  gathered, not sent yet
    s_serve_one (worker, "2123456789abcdef", "three", "tres");
    const char *answers [] = { "0123456789abcdef", "uno", "1123456789abcdef", "dos",
                               "2123456789abcdef", "tres" };
    s_expect_replies (router, peer, answers, 3);

    //  A plain REQUEST still works on a batch worker: a plain REPLY
    const char *single [] = { "", FM_MDPW, "\x02", "3123456789abcdef", "", "four" };
    s_broker_send (router, peer, single, 6);
    s_serve_one (worker, "3123456789abcdef", "four", "cuatro");
    const char *answer4 [] = { "3123456789abcdef", "cuatro" };
    s_expect_replies (router, peer, answer4, 1);

    //  Malformed REQUESTS are dropped whole, as a malformed REQUEST is:
    //  zero pairs, an odd frame count, 5 pairs for batch 4, an empty
    //  reply-to, a reply-to of 256 bytes (the broker asks again after the
    //  worker's expiry or never: SPEC.md 4.2)
    char long_reply_to [257];
    memset (long_reply_to, 'x', 256);
    long_reply_to [256] = 0;
    const char *bad1 [] = { "", FM_MDPW, "\x06" };
    const char *bad2 [] = { "", FM_MDPW, "\x06", "0123456789abcdef", "one", "1123456789abcdef" };
    const char *bad3 [] = { "", FM_MDPW, "\x06", "a", "1", "b", "2", "c", "3", "d", "4", "e", "5" };
    const char *bad4 [] = { "", FM_MDPW, "\x06", "0123456789abcdef", "one", "", "two" };
    const char *bad5 [] = { "", FM_MDPW, "\x06", "0123456789abcdef", "one", long_reply_to, "two" };
    s_broker_send (router, peer, bad1, 3);
    s_broker_send (router, peer, bad2, 6);
    s_broker_send (router, peer, bad3, 13);
    s_broker_send (router, peer, bad4, 7);
    s_broker_send (router, peer, bad5, 7);
    body = fm_worker_recv (worker, 150, &reply_to);
    assert (body == NULL && reply_to == NULL);
    msg = s_broker_recv (router, 0, NULL);
    assert (msg == NULL);           //  no READY: it did not reconnect

    //  Exactly batch pairs is fine; a caller that answers only some of
    //  them before asking for more gets them sent before the worker
    //  reads the socket (as a plain REPLY when there is one)
    const char *four [] = { "", FM_MDPW, "\x06", "a", "1", "b", "2", "c", "3", "d", "4" };
    s_broker_send (router, peer, four, 11);
    s_serve_one (worker, "a", "1", "A");
    s_serve_one (worker, "b", "2", "B");
    s_serve_one (worker, "c", "3", "C");
    body = fm_worker_recv (worker, 1000, &reply_to);
    assert (body && zframe_streq (body, "4") && zframe_streq (reply_to, "d"));
    zframe_destroy (&body);
    //  ...d is held; the next recv sends a, b, c before it waits
    zframe_t *held = reply_to;
    body = fm_worker_recv (worker, 50, &reply_to);
    assert (body == NULL);
    const char *abc [] = { "a", "A", "b", "B", "c", "C" };
    s_expect_replies (router, peer, abc, 3);
    //  ...and d's answer, the last one of the batch, goes at once
    body = zframe_from ("D");
    assert (fm_worker_send (worker, &held, &body) == 0);
    const char *d [] = { "d", "D" };
    s_expect_replies (router, peer, d, 1);

    //  Re-registering mid-batch: the replies gathered go to the old
    //  connection first, then DISCONNECT; the new READY says batch 2 and
    //  the queued request is gone (the broker asks again)
    s_broker_send (router, peer, three, 9);
    s_serve_one (worker, "0123456789abcdef", "one", "uno");
    s_serve_one (worker, "1123456789abcdef", "two", "dos");
    fm_worker_set_verbose (worker, true);   //  the zmsg path of REPLIES
    assert (fm_worker_set_batch (worker, 2) == 0);
    fm_worker_set_verbose (worker, verbose);
    //  The old connection says REPLIES then DISCONNECT, in that order; the
    //  new one's READY may overtake them (another pipe at the ROUTER)
    zframe_t *peer2 = NULL;
    size_t from_peer = 0;
    zframe_t *identity;
    while (from_peer < 2 || !peer2) {
        msg = s_broker_recv (router, 1000, NULL);
        assert (msg);
        byte command = s_broker_envelope (msg, &identity);
        if (zframe_eq (identity, peer)) {
            assert (command == (from_peer == 0? FM_MDPW_REPLIES: FM_MDPW_DISCONNECT));
            if (from_peer == 0) {
                assert (zmsg_size (msg) == 4);
                s_pop_expect (msg, "0123456789abcdef");
                s_pop_expect (msg, "uno");
                s_pop_expect (msg, "1123456789abcdef");
                s_pop_expect (msg, "dos");
            }
            from_peer++;
            zframe_destroy (&identity);
        }
        else {
            assert (!peer2 && command == FM_MDPW_READY);
            assert (zmsg_size (msg) == 2);
            zframe_t *opts_frame = zmsg_last (msg);
            fm_ready_opts_t opts;
            assert (fm_ready_opts_decode (zframe_data (opts_frame), zframe_size (opts_frame),
                                          &opts, NULL) == 0);
            assert (opts.batch == 2 && streq (opts.towns, "GYQ"));
            peer2 = identity;
        }
        zmsg_destroy (&msg);
    }
    body = fm_worker_recv (worker, 50, &reply_to);
    assert (body == NULL);          //  "three" was dropped
    //  Three pairs are now more than announced
    s_broker_send (router, peer2, three, 9);
    body = fm_worker_recv (worker, 100, &reply_to);
    assert (body == NULL);

    //  Destroy sends what was gathered, then DISCONNECT
    const char *two [] = { "", FM_MDPW, "\x06", "0123456789abcdef", "one",
                           "1123456789abcdef", "two" };
    s_broker_send (router, peer2, two, 7);
    s_serve_one (worker, "0123456789abcdef", "one", "uno");
    fm_worker_destroy (&worker);
    const char *uno [] = { "0123456789abcdef", "uno" };
    s_expect_replies (router, peer2, uno, 1);
    msg = s_broker_recv (router, 1000, NULL);
    assert (msg && s_broker_envelope (msg, &identity) == FM_MDPW_DISCONNECT);
    assert (zframe_eq (identity, peer2));
    zframe_destroy (&identity);
    zmsg_destroy (&msg);
    zframe_destroy (&peer);
    zframe_destroy (&peer2);
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
    //  ...on the first recv, not before: options set until then travel in
    //  the one READY
    zmsg_t *msg = s_broker_recv (router, 50, NULL);
    assert (msg == NULL);
    zframe_t *reply_to = NULL;
    zframe_t *body = fm_worker_recv (worker, 0, &reply_to);
    assert (body == NULL && reply_to == NULL);
    zframe_t *peer1 = s_expect_ready (router, 2000, 8, heartbeat_ms, 1);

    //  REQUEST -> recv returns body and reply-to
    const char *request [] = { "", FM_MDPW, "\x02", "0123456789abcdef", "", "hello" };
    s_broker_send (router, peer1, request, 6);
    body = fm_worker_recv (worker, 1000, &reply_to);
    assert (body && zframe_streq (body, "hello"));
    assert (reply_to && zframe_streq (reply_to, "0123456789abcdef"));
    zframe_destroy (&body);

    //  send -> REPLY [reply-to][""][body]; both frames consumed
    body = zframe_from ("world");
    int rc = fm_worker_send (worker, &reply_to, &body);
    assert (rc == 0);
    assert (reply_to == NULL && body == NULL);
    msg = s_broker_recv (router, 1000, NULL);
    assert (msg);
    zframe_t *identity;
    assert (s_broker_envelope (msg, &identity) == FM_MDPW_REPLY);
    assert (zframe_eq (identity, peer1));
    zframe_destroy (&identity);
    assert (zmsg_size (msg) == 3);
    s_pop_expect (msg, "0123456789abcdef");
    s_pop_expect (msg, "");
    s_pop_expect (msg, "world");
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
    //  REQUESTS to a worker that announced no batch; REPLIES is ours
    const char *bad13 [] = { "", FM_MDPW, "\x06", "0123456789abcdef", "hello" };
    const char *bad14 [] = { "", FM_MDPW, "\x07", "0123456789abcdef", "hello" };
    s_broker_send (router, peer1, bad13, 5);
    s_broker_send (router, peer1, bad14, 5);
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

    //  Query batches, on a worker of their own
    s_batch_test (router, endpoint, verbose);
    zsock_destroy (&router);

    //  @end
}
