/*  =========================================================================
    fm_broker - the finmatch broker actor

    One thread, one zloop, two sockets.  The ROUTER serves 7/MDP clients
    ("MDPC01") and workers ("MDPW01") on one endpoint; the XPUB publishes
    one event per state change.  The broker is also the only implementer
    of the services fm.request and fm.accept.

    Structures, in the shape of zguide's mdbroker and malamute's server:
      broker_t   the actor's state, settings, sockets, tables
      service_t  a worker service (gov.credit, bank.<CODE>): its live
                 workers and a bounded queue of slots waiting for capacity
      worker_t   one registered worker: identity, service, expiry,
                 capacity (READY extension) and queries in flight
      request_t  one financing request from REQUEST to eviction: the
                 request as asked, its waiting clients, its slots, the
                 stored RESULT and the accept sub-machine
      slot_t     one query the request owes a service (credit, bank, grant):
                 idle -> queued -> sent -> done | timed out.  The slot
                 remembers which worker holds it so capacity is given back
                 exactly once, on the answer or on the deadline.

    Invariants:
    - A request is in the deadline heap iff it waits for gov, banks or a
      grant; each of those waits has exactly one deadline.
    - A queued slot is in exactly one service queue; releasing or
      destroying the slot removes it, so queues never hold stale slots.
    - worker->inflight counts slots in state SENT that name the worker.
    - Event seq numbers advance only when an event was encoded: gap-free
      within an epoch whether or not anyone receives it.

    Costs: every message is O(1) except bank fan-out (O(banks)) and the
    heartbeat timer (O(workers) every heartbeat_ms).  Deadlines live in a
    binary min-heap driven by one one-shot zloop timer re-armed for the
    earliest deadline: zloop scans its timer list linearly, so a timer per
    request would make the loop O(requests).  Tickets would also work but
    take one delay for all, and we have three (gov, banks, grant) that
    are settable at run time.

    A retained request keeps only what replays and accepts need: the
    request as asked (to detect key reuse), its encoded RESULT, and the
    accept state.  Offers are decoded back from the RESULT frame when an
    accept arrives: accepts are rare, retained requests are many.

    The only disk I/O is the journal (fm_journal.h, pipe command JOURNAL):
    records are buffered and written with one write() before anything
    that depends on them leaves: ROUTER messages and events wait in one
    outbox, in the order they were sent, and s_broker_flush writes the
    records then sends the outbox at the end of each loop turn (or when
    the outbox fills up), so a turn costs one write(); a restarted broker
    resumes where the killed one stopped (section "Recovery"), bank
    answers included.  A worker that dies holding queries gives them to another
    worker of its service (section "Re-dispatch").  Nothing is logged per
    message unless VERBOSE.  Every inbound frame is validated; anything malformed
    is an input.rejected event (and an ERROR to a client whose envelope
    parsed, or DISCONNECT to a worker) and never an assertion.
    =========================================================================
*/

#include "fm_broker.h"
#include "fm_proto.h"
#include "fm_batch.h"
#include "fm_mdp.h"
#include "fm_ids.h"
#include "fm_text.h"
#include "fm_rank.h"
#include "fm_auth.h"
#include "fm_lifecycle.h"
#include "fm_replay.h"
#include "fm_journal.h"
#include "fm_warn.h"
#include "fm_curve.h"
#include <time.h>

//  Defaults; each is a setting (SET name value, finmatch-broker.cfg)
#define DEADLINE_MS         2000    //  msecs banks have to answer a query
#define GOV_DEADLINE_MS     1000    //  msecs gov.credit has for a profile
#define HEARTBEAT_MS        FM_HEARTBEAT_MS
#define LIVENESS            FM_HEARTBEAT_LIVENESS
#define MAX_INFLIGHT        10000   //  requests being matched at once
#define MAX_RETAINED        100000  //  completed requests kept for replay
#define EVENTS_HWM          100000  //  events queued per subscriber
#define FIRST_ROUND         0       //  banks asked at once; 0 = all
#define FAST_TRACK_PCT      50      //  % of a bank's deadline for a request
                                    //  carrying the fast_track lever
#define FAST_TRACK_LEVER    "fast_track"    //  lever code (gov policy)
#define PRIORITY_LEVER      "priority"      //  lever code (gov policy): bank
                                            //  queries queue ahead
#define FM_SERVICE_WARN     "fm.warn"       //  risk warnings (fm_warn.h)
#define WARN_SWEEP_MS       1000    //  longest wait between warning sweeps
                                    //  while one may expire: bounds how
                                    //  late a wall-clock step makes them
#define REPLAY_MAX          100000  //  recent events kept for fm.replay
#define REPLAY_BYTES        (64 * 1024 * 1024)  //  and their bytes at most

//  Fixed limits
#define ROUTER_HWM          100000  //  one client DEALER may hold thousands
                                    //  of requests: the 1000 default drops
#define MAX_FRAME           (4 * FM_MAX_BODY)   //  bigger: libzmq drops the
                                    //  peer (ZMQ_MAXMSGSIZE); between
                                    //  FM_MAX_BODY and this we answer 413
#define EVENT_BUFFER_SIZE   (64 * 1024) //  one encoded event, reused
//  Event batches (fm_batch.h) close at these: ~60 events of ~250 bytes,
//  so that a subscriber's receive HWM in messages still bounds its
//  memory, and the buffer always holds one more event of the largest size
#define BATCH_CLOSE_EVENTS  64
//  ... or when they have been open this long (SET event_batch_ms; 0 = at
//  the end of the loop turn).  A turn at low load holds one message's
//  events: closing each made ~7 batches per request, and the recorder
//  woke for each of them (fm-bench 1 in flight, against 0: p50 0.70 ->
//  0.66 ms, p99 3.7 -> 3.1 ms)
#define EVENT_BATCH_MS      5
#define EVENT_TOPICS_SCAN   64      //  s_event_wanted's longest scan
#define BATCH_CLOSE_BYTES   (16 * 1024)
#define BATCH_BUFFER_SIZE   (BATCH_CLOSE_BYTES + FM_BATCH_HEAD_SIZE \
                             + FM_BATCH_ITEM_HEAD_SIZE + EVENT_BUFFER_SIZE)
#define MAX_WAITERS         16      //  clients waiting on one request
#define ROUTER_BATCH        256     //  messages read per wakeup, then the
                                    //  timers get a turn
#define ROUTER_PARTS        (4 + 2 * FM_MDPW_BATCH_MAX) //  parts kept per
                                    //  ROUTER message: REPLIES with the most
                                    //  pairs and the routing id; 7/MDP's
                                    //  other messages have at most 7
#define FM_AUTH_KEY_LENGTH  40      //  Z85 public key (fm_auth_peer_key)
#define JOURNAL_ASKED_MAX   4096    //  bytes: a REQUEST body up to this is
                                    //  journaled as the client sent it
#define OUTBOX_PARTS        4096    //  message parts waiting for the journal
#define OUTBOX_BYTES        (1024 * 1024)   //  and their bytes: a fuller
                                    //  outbox is flushed at once

//  One part of a message waiting in the outbox for the journal write
#define OUTBOX_PUBLISH      1       //  on the XPUB (else the ROUTER)
#define OUTBOX_FIRST        2       //  first part of its message
#define OUTBOX_MORE         4       //  more parts follow
typedef struct {
    zmq_msg_t msg;
    int flags;
} outbox_part_t;

//  A ROUTER message's parts, received with zmq_msg_recv: no allocation
//  beyond libzmq's own for parts over 33 bytes
typedef struct {
    zmq_msg_t part [ROUTER_PARTS];  //  ~130 KiB: one per broker, on the heap
    size_t count;                   //  parts held (initialised)
    size_t total;                   //  parts the message had
} parts_t;

//  Borrowed bytes of one frame
typedef struct {
    const byte *data;
    size_t size;
} view_t;

typedef struct _broker_t broker_t;
typedef struct _service_t service_t;
typedef struct _worker_t worker_t;
typedef struct _request_t request_t;

//  Slot: one query a request owes to one service
typedef enum {
    SLOT_IDLE = 0,                  //  not used (yet)
    SLOT_QUEUED,                    //  in service->queue, no worker free
    SLOT_SENT,                      //  held by worker_key
    SLOT_DONE,                      //  answered
    SLOT_TIMED_OUT                  //  deadline passed or queue was full
} slot_state_t;

typedef struct {
    request_t *request;             //  Borrowed: the request owning the slot
    service_t *service;             //  Borrowed: services live as long as
                                    //  the broker
    zframe_t *body;                 //  Borrowed from request: query to send
    slot_state_t state;
    char *worker_key;               //  Owned: key of the worker holding it
    void *queue_handle;             //  In service->queue when QUEUED
    int64_t dispatched_us;          //  When it was dispatched, mono µs
    int64_t deadline;               //  When the bank misses it, mono msecs
} slot_t;

//  A bank a retained request asked, kept for status and late replies
typedef struct {
    char bank [FM_CODE_SIZE];
    int64_t dispatched_us;          //  mono µs
} asked_t;

//  Request states (proto/SPEC.md 14.3)
typedef enum {
    REQ_ENRICHING = 1,              //  waits for gov.credit
    REQ_GATHERING,                  //  waits for banks
    REQ_DONE                        //  RESULT stored, retained
} req_state_t;

//  Accept sub-machine of a retained request
typedef enum {
    ACC_NONE = 0,                   //  nothing accepted (or last withdrawn)
    ACC_GRANTING,                   //  GRANT_QUERY out, waiting for bank
    ACC_GRANTED                     //  confirmation stored
} acc_state_t;

struct _broker_t {
    zsock_t *pipe;                  //  Actor pipe, borrowed
    zsock_t *router;                //  Clients and workers, owned
    zsock_t *publisher;             //  XPUB events, owned
    fm_auth_t *auth;                //  CURVE policy, owned; NULL = insecure
    const char *auth_key;           //  Key of the client message being
                                    //  handled, borrowed from its frame
    const char *peer_key;           //  CURVE key (User-Id) of the ROUTER
                                    //  message being handled, borrowed
                                    //  from its parts, or NULL
    zloop_t *loop;                  //  Reactor, owned
    bool verbose;                   //  Log every message
    bool terminated;                //  $TERM received
    //  Settings
    int64_t deadline_ms;
    int64_t gov_deadline_ms;
    int64_t heartbeat_ms;
    int64_t liveness;
    int64_t max_inflight;
    int64_t max_retained;
    int64_t events_hwm;
    int64_t first_round;            //  Banks asked in the first round, 0 = all
    int64_t fast_track_pct;         //  Deadline % under the fast_track lever
    zhashx_t *bank_deadlines;       //  bank code -> int64_t msecs, owned:
                                    //  per-bank deadline_ms overrides
    //  Tables
    zhashx_t *services;             //  name -> service_t, owned
    zhashx_t *workers;              //  identity hex -> worker_t, owned
    zhashx_t *requests;             //  request id -> request_t, owned
    zlistx_t *retained;             //  request_t in DONE, oldest first,
                                    //  borrowed from requests
    size_t inflight;                //  requests ENRICHING or GATHERING
    //  Deadlines: binary min-heap of requests by deadline
    request_t **heap;               //  Owned array, borrowed entries
    size_t heap_size;
    size_t heap_max;
    int deadline_timer;             //  zloop timer id, or -1
    int64_t deadline_timer_due;     //  when it fires, mono msecs
    int heartbeat_timer;            //  zloop timer id
    int64_t tick_ms;                //  its period: min of all send intervals
    //  Events
    uint64_t epoch;                 //  start time, UTC µs
    uint64_t seq;                   //  last seq published
    byte *event_buffer;             //  Owned, EVENT_BUFFER_SIZE bytes
    //  The XPUB tells which topics someone subscribes to (the first
    //  subscription to a topic, the last unsubscription, disconnects
    //  included): an event goes out alone only if a subscription matches
    //  it (s_event_wanted), and in batches only while one asks for
    //  FM_BATCH_TOPIC
    size_t all_topics;              //  subscriptions to "" (0 or 1)
    zlistx_t *event_topics;         //  other event prefixes (zchunk_t),
                                    //  owned
    size_t batch_topics;            //  subscriptions asking for batches
    byte *batch_buffer;             //  Owned, BATCH_BUFFER_SIZE bytes
    fm_batch_writer_t batch;        //  The open batch, in batch_buffer
    int64_t event_batch_ms;         //  an open batch leaves at the latest
                                    //  this long after its first event
    int batch_timer;                //  zloop timer id closing it, or -1
    fm_replay_t *replay;            //  Owned: recent events for fm.replay
    fm_msg_reader_t *client_reader; //  Owned: decodes client REQUEST,
                                    //  ACCEPT, STATUS_QUERY bodies
                                    //  (s_client_message) into one message
    fm_msg_t *query;                //  Owned: scratch for the queries and
                                    //  the journaled REQUEST (s_request_query):
                                    //  no lists, so reused without a calloc
    fm_msg_reader_t *reader;        //  Owned: decodes worker answers into
                                    //  one reused message (s_worker_answer)
    fm_warn_t *warnings;            //  Owned: risk warnings (fm.warn)
    int warning_timer;              //  zloop timer id of the next warning
                                    //  sweep, or -1 (nothing expires)
    int64_t replay_max;             //  its bounds: events
    int64_t replay_bytes;           //  and bytes
    //  Journal (fm_journal.h): NULL = off
    fm_journal_t *journal;          //  Owned
    bool loading;                   //  Rebuilding state from it: write
                                    //  nothing, send nothing
    zlistx_t *resuming;             //  request ids (char *) to resume
                                    //  once workers are back, owned
    int resume_timer;               //  zloop timer id, or -1
    bool resuming_now;              //  s_resume is starting requests
    bool gov_awaited;               //  Restarted, and no gov.credit worker
                                    //  registered since: requests wait
                                    //  for one (queued) instead of 503
    //  Query batches: the queries waiting in workers' batches, as
    //  [size_t size][bytes] reply-to then body, and the workers holding any
    byte *query_arena;              //  Owned
    size_t query_arena_used;
    size_t query_arena_alloc;
    worker_t **batching;            //  Owned array, borrowed workers
    size_t batching_size;
    size_t batching_alloc;
    const void **batch_data;        //  Owned, ROUTER_PARTS: a REQUESTS'
    size_t *batch_sizes;            //  parts being queued
    parts_t *parts;                 //  Owned: the ROUTER message being read
    view_t *views;                  //  Owned, ROUTER_PARTS: its worker
                                    //  frames (s_parts_worker_reply)
    outbox_part_t *outbox;          //  Owned, OUTBOX_PARTS: messages sent
    size_t outbox_size;             //  (parts) while the journal is on,
    size_t outbox_bytes;            //  sent by s_broker_flush after the
                                    //  journal write, in order
};

struct _service_t {
    broker_t *broker;               //  Borrowed: parent
    char name [FM_SERVICE_SIZE];    //  "gov.credit", "bank.CQRCB"
    char bank [FM_CODE_SIZE];       //  bank code, "" for gov.credit
    zlistx_t *workers;              //  worker_t, borrowed from broker;
                                    //  round-robin order
    zlistx_t *queue;                //  slot_t waiting for capacity, borrowed
    char towns [FM_TEXT_SIZE];      //  towns the bank is paired with
                                    //  (READY "towns", last announced)
};

struct _worker_t {
    broker_t *broker;               //  Borrowed: parent
    char *key;                      //  Owned: hex of identity (hash key)
    zframe_t *identity;             //  Owned: routing id
    char peer [FM_CODE_SIZE];       //  Hex of first 8 routing id bytes
    service_t *service;             //  Borrowed
    void *handle;                   //  In service->workers
    int64_t expiry;                 //  Expires at, mono msecs
    uint32_t heartbeat_ms;          //  Its announced interval, or 0
    int64_t heartbeat_at;           //  Next HEARTBEAT to it, mono msecs
    uint32_t capacity;              //  Queries it may hold at once
    uint32_t inflight;              //  Queries it holds (SENT slots)
    //  Query batches (SPEC 4.2): queries sent to it in a loop turn wait
    //  here and leave as one REQUESTS at the end of the turn
    uint32_t batch;                 //  Most queries in one REQUESTS, 1 =
                                    //  REQUEST only
    uint32_t pending;               //  Queries waiting: their offsets in
    size_t *pending_at;             //  broker->query_arena, owned (batch)
    size_t batching_index;          //  In broker->batching when pending
};

struct _request_t {
    broker_t *broker;               //  Borrowed: parent
    char id [FM_REQUEST_ID_SIZE];   //  16 hex, also the reply-to token
    req_state_t state;
    fm_req_state_t life;            //  Lifecycle state (SPEC 14.3); moves
                                    //  only through s_request_move
    fm_request_t asked;             //  As the client sent it: replays
                                    //  compare against this
    char grid_id [FM_CODE_SIZE];    //  Effective grid (asked or profile)
    zlistx_t *clients;              //  zframe_t routing ids awaiting the
                                    //  result, owned
    int64_t deadline;               //  mono msecs, when in the heap
    size_t heap_index;              //  SIZE_MAX when not in the heap
    //  While matching (freed when done)
    fm_profile_t *profile;          //  Owned, from gov.credit
    slot_t gov;                     //  CREDIT_QUERY
    zframe_t *gov_query;            //  Owned: encoded CREDIT_QUERY
    slot_t *banks;                  //  Owned array of bank_max slots,
                                    //  bank_count used: the banks asked,
                                    //  in asking order (never moves: queues
                                    //  point into it)
    size_t bank_count;
    size_t bank_max;                //  slots in banks: candidates plus
                                    //  journaled answers, <= FM_MAX_BANKS
    service_t **candidates;         //  Owned: bank services in asking order;
                                    //  [candidate_next..] not asked yet
    size_t candidate_count;
    size_t candidate_next;
    bool fast_track;                //  Profile carries the fast_track lever
    bool priority;                  //  Profile carries the priority lever:
                                    //  its queued bank slots go first
    bool prior_alone;               //  A renewal's prior bank is asked
                                    //  alone; its no refers to a full round
    bool resumed;                   //  Resumed from the journal with its
                                    //  profile: its round's events are out
    asked_t *asked_banks;           //  Owned, once retained: banks asked
    size_t asked_banks_count;
    size_t banks_pending;           //  slots QUEUED or SENT
    zframe_t *bank_query;           //  Owned: one BANK_QUERY for all banks
    fm_offer_t *offers;             //  Owned: offers gathered, unranked
    size_t offer_count;
    size_t offer_max;
    fm_msg_t *result;               //  Owned: RESULT being built
    //  Done
    zframe_t *result_body;          //  Owned: encoded RESULT, replayed
    void *retained_handle;          //  In broker->retained
    //  Accept
    acc_state_t acc_state;
    fm_offer_t *accepted;           //  Owned: offer accepted, or NULL
    slot_t grant;                   //  GRANT_QUERY
    zframe_t *grant_query;          //  Owned: encoded GRANT_QUERY
    zframe_t *confirmation;         //  Owned: stored CONFIRMATION body
    zlistx_t *acc_clients;          //  zframe_t awaiting confirmation, owned
    zlistx_t *withdrawn;            //  withdrawal_t, owned, or NULL
    uint32_t journal_segment;       //  Journal segment of its REQUEST
                                    //  record (pinned), 0 = none
    zlistx_t *journaled;            //  answer_t, owned, or NULL: bank
                                    //  answers and misses loaded from the
                                    //  journal, applied when resumed
    char grant_missed [FM_OFFER_ID_SIZE];   //  Offer whose grant timed
                                    //  out: its late CONFIRMATION is late,
                                    //  not illegal
};

//  An offer the bank withdrew, with the CONFIRMATION that said so: a
//  repeated accept of it gets the same answer
typedef struct {
    char offer_id [FM_OFFER_ID_SIZE];
    zframe_t *confirmation;         //  Owned
} withdrawal_t;

//  A bank's answer (or miss) to an in-flight request, loaded from the
//  journal: a resumed request does not ask that bank again
typedef struct {
    char bank [FM_CODE_SIZE];
    zframe_t *body;                 //  Owned: BANK_ANSWER body; NULL when
                                    //  the bank answered ERROR or missed
    bool missed;
} answer_t;

static void
s_answer_destroy (answer_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        zframe_destroy (&(*self_p)->body);
        free (*self_p);
        *self_p = NULL;
    }
}

static void
s_withdrawal_destroy (withdrawal_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        zframe_destroy (&(*self_p)->confirmation);
        free (*self_p);
        *self_p = NULL;
    }
}

//  The accept of the request is over without a loan (the bank refused,
//  withdrew or missed the grant): another offer may be accepted.  The
//  caller moves the request's life state.
static void
s_request_unaccept (request_t *self)
{
    self->acc_state = ACC_NONE;
    free (self->accepted);
    self->accepted = NULL;
}

//  The bank withdrew the accepted offer: keep its confirmation (owned
//  from here) for repeated accepts of that offer, and undo the accept so
//  that another offer of the request may still be accepted.  The caller
//  moves the request's life state (live: s_request_move; recovery: set).
static void
s_request_keep_withdrawal (request_t *self, zframe_t *confirmation)
{
    assert (self->accepted);
    if (!self->withdrawn) {
        self->withdrawn = zlistx_new ();
        assert (self->withdrawn);
        zlistx_set_destructor (self->withdrawn,
                               (czmq_destructor *) s_withdrawal_destroy);
    }
    withdrawal_t *withdrawal = (withdrawal_t *) zmalloc (sizeof (withdrawal_t));
    assert (withdrawal);
    snprintf (withdrawal->offer_id, sizeof (withdrawal->offer_id), "%s",
              self->accepted->offer_id);
    withdrawal->confirmation = confirmation;
    zlistx_add_end (self->withdrawn, withdrawal);
    s_request_unaccept (self);
}

static void s_request_expired (request_t *self);
static int s_slot_enqueue (slot_t *slot, service_t *service);
static void s_worker_orphans (broker_t *self, service_t *service, const char *key);
static void s_heartbeat_start (broker_t *self);
static void s_service_drain (service_t *self);
static void s_input_rejected (broker_t *self, zframe_t *identity,
                              uint16_t status, const char *format, ...)
                              CHECK_PRINTF (4);


//  --------------------------------------------------------------------------
//  Small helpers

//  Wall clock in µs since the Unix epoch (UTC).  Cannot fail.
static int64_t
s_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

//  Cut a string truncated by snprintf back to whole UTF-8 characters, so
//  that event and error texts stay valid UTF-8.  Cannot fail.
static void
s_utf8_trim (char *text)
{
    size_t length = strlen (text);
    size_t start = length;
    while (start > 0 && ((byte) text [start - 1] & 0xC0) == 0x80)
        start--;                //  Back over continuation bytes
    if (start == 0)
        return;
    byte lead = (byte) text [start - 1];
    size_t need = lead >= 0xF0? 4: lead >= 0xE0? 3: lead >= 0xC0? 2: 1;
    if (length - (start - 1) < need)
        text [start - 1] = 0;
}

//  Copy peer bytes as printable ASCII ('?' for anything else) for use in
//  texts, cut to fit buffer.  Cannot fail.
static void
s_printable (const byte *data, size_t size, char *buffer, size_t max)
{
    size_t out = 0;
    for (size_t index = 0; index < size && out + 1 < max; index++)
        buffer [out++] = data [index] >= 0x20 && data [index] < 0x7F?
                         (char) data [index]: '?';
    buffer [out] = 0;
}

//  Hex of the first 8 bytes of a routing id, lowercase.  Cannot fail.
static void
s_peer_hex (zframe_t *identity, char *peer)
{
    size_t size = identity? zframe_size (identity): 0;
    if (size > 8)
        size = 8;
    const byte *data = identity? zframe_data (identity): NULL;
    for (size_t index = 0; index < size; index++)
        snprintf (peer + 2 * index, 3, "%02x", data [index]);
    peer [2 * size] = 0;
}

//  True if the frame is a name a worker may register: "gov.credit" or
//  "bank.<CODE>" with CODE 1..16 of [A-Z0-9_].  Cannot fail.
static bool
s_worker_service_valid (zframe_t *frame)
{
    const char *data = (const char *) zframe_data (frame);
    size_t size = zframe_size (frame);
    size_t prefix = strlen (FM_SERVICE_BANK_PREFIX);
    if (size == strlen (FM_SERVICE_GOV) && memcmp (data, FM_SERVICE_GOV, size) == 0)
        return true;
    if (size <= prefix || size > prefix + 16
    ||  memcmp (data, FM_SERVICE_BANK_PREFIX, prefix) != 0)
        return false;
    for (size_t index = prefix; index < size; index++) {
        char c = data [index];
        if (!((c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_'))
            return false;
    }
    return true;
}

//  Add a routing id (copied) to a waiter list unless already there or the
//  list is full.  Cannot fail except out of memory (asserted by czmq).
static void
s_waiters_add (zlistx_t *waiters, zframe_t *identity)
{
    zframe_t *waiter = (zframe_t *) zlistx_first (waiters);
    while (waiter) {
        if (zframe_eq (waiter, identity))
            return;
        waiter = (zframe_t *) zlistx_next (waiters);
    }
    if (zlistx_size (waiters) < MAX_WAITERS)
        zlistx_add_end (waiters, zframe_dup (identity));
}

static void
s_frame_destroy (void **item)
{
    zframe_destroy ((zframe_t **) item);
}

static void
s_chunk_destroy (void **item)
{
    zchunk_destroy ((zchunk_t **) item);
}


//  --------------------------------------------------------------------------
//  Sending

static void s_message_send (broker_t *self, bool publish, const void **data,
                            const size_t *size, int count);

//  Write the journal's buffered records (one write()), then send the
//  messages and events that waited for them, in the order they were
//  sent.  Called when the outbox fills, for every message when there is
//  no journal to wait for, and by s_broker_flush: nothing leaves the
//  broker before the journal holds what it depends on, and a turn costs
//  one write() rather than one per message.  Events go on the XPUB
//  without blocking (a slow subscriber loses them at its HWM and sees a
//  seq gap); if the first part of a message fails (a peer the ROUTER
//  cannot reach) the rest of it is dropped.  Cannot fail (a failed write
//  breaks the journal, logged; serving goes on).
static void
s_outbox_send (broker_t *self)
{
    if (self->journal && fm_journal_pending (self->journal))
        fm_journal_flush (self->journal);
    void *router = zsock_resolve (self->router);
    void *publisher = zsock_resolve (self->publisher);
    size_t index = 0;
    while (index < self->outbox_size) {
        outbox_part_t *part = &self->outbox [index++];
        bool publish = (part->flags & OUTBOX_PUBLISH) != 0;
        int flags = (part->flags & OUTBOX_MORE? ZMQ_SNDMORE: 0)
                  | (publish? ZMQ_DONTWAIT: 0);
        if (zmq_msg_send (&part->msg, publish? publisher: router, flags) == -1
        &&  part->flags & OUTBOX_FIRST) {
            //  Not sent: neither is the rest of its message
            while (index < self->outbox_size
               && !(self->outbox [index].flags & OUTBOX_FIRST))
                zmq_msg_close (&self->outbox [index++].msg);
        }
        zmq_msg_close (&part->msg);     //  Sent: empty; else dropped
    }
    self->outbox_size = 0;
    self->outbox_bytes = 0;
}

//  Queue the open event batch, if it holds any, as one message
//  [FM_BATCH_TOPIC][batch] and start the next.  Cannot fail.
static void
s_batch_close (broker_t *self)
{
    if (self->batch.count == 0)
        return;
    size_t size = fm_batch_finish (&self->batch);
    //  Emptied before the send, which may flush the outbox: the buffer
    //  is not written again until fm_batch_start below
    self->batch.count = 0;
    const void *data [2] = { FM_BATCH_TOPIC, self->batch_buffer };
    size_t sizes [2] = { strlen (FM_BATCH_TOPIC), size };
    s_message_send (self, true, data, sizes, 2);
    fm_batch_start (&self->batch, self->batch_buffer, BATCH_BUFFER_SIZE);
}

//  End of a loop turn: send the workers' query batches, close the event
//  batch if event_batch_ms is 0 or arm the timer that will (s_batch_due),
//  write the journal, send everything.  Every handler that may send or
//  publish ends here.
static void s_workers_batch_send (broker_t *self);
static int s_batch_due (zloop_t *loop, int timer_id, void *arg);

static void
s_broker_flush (broker_t *self)
{
    s_workers_batch_send (self);
    if (self->event_batch_ms == 0)
        s_batch_close (self);
    else
    if (self->batch.count > 0 && self->batch_timer == -1)
        self->batch_timer = zloop_timer (self->loop, (size_t) self->event_batch_ms,
                                         1, s_batch_due, self);
    s_outbox_send (self);
}

//  event_batch_ms after the first event of a batch: close it and send it
//  (with anything else queued).
static int
s_batch_due (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    broker_t *self = (broker_t *) arg;
    self->batch_timer = -1;     //  One-shot: zloop removes it after us
    s_batch_close (self);
    s_broker_flush (self);
    return 0;
}

//  Queue one message's parts (borrowed, copied) in the outbox for
//  s_outbox_send, which sends them at once when there is no journal to
//  wait for (none, or loading it): each part costs the one copy into a
//  zmq_msg_t that zmq_send would make anyway.  A full outbox is sent
//  first (journal write, then its messages), so it stays bounded however
//  much one turn sends.  Cannot fail.
static void
s_message_send (broker_t *self, bool publish, const void **data,
                const size_t *size, int count)
{
    size_t bytes = 0;
    for (int index = 0; index < count; index++)
        bytes += size [index];
    if (self->outbox_size + (size_t) count > OUTBOX_PARTS
    ||  self->outbox_bytes + bytes > OUTBOX_BYTES)
        s_outbox_send (self);
    if (!self->outbox) {
        self->outbox = (outbox_part_t *) malloc (OUTBOX_PARTS * sizeof (outbox_part_t));
        assert (self->outbox);
    }
    assert (self->outbox_size + (size_t) count <= OUTBOX_PARTS);
    for (int index = 0; index < count; index++) {
        outbox_part_t *part = &self->outbox [self->outbox_size++];
        int rc = zmq_msg_init_size (&part->msg, size [index]);
        assert (rc == 0);
        if (size [index])
            memcpy (zmq_msg_data (&part->msg), data [index], size [index]);
        part->flags = (publish? OUTBOX_PUBLISH: 0)
                    | (index == 0? OUTBOX_FIRST: 0)
                    | (index + 1 < count? OUTBOX_MORE: 0);
    }
    self->outbox_bytes += bytes;
    if (!self->journal || self->loading)
        s_outbox_send (self);
}

//  Send [identity][""]["MDPC01"][service][body] to a client.  identity and
//  body are borrowed (copied).  A client that went away is dropped by the
//  ROUTER silently: nothing to report.
static void
s_client_send (broker_t *self, zframe_t *identity, const char *service,
               zframe_t *body)
{
    if (self->verbose)
        zsys_debug ("broker: -> client %s (%zu bytes)", service, zframe_size (body));
    //  Straight from the frames: no zmsg_t, list nodes or frame copies
    //  per message (they were ~15 % of the broker's CPU)
    const void *data [5] = { zframe_data (identity), "", FM_MDPC, service,
                             zframe_data (body) };
    size_t size [5] = { zframe_size (identity), 0, strlen (FM_MDPC),
                        strlen (service), zframe_size (body) };
    s_message_send (self, false, data, size, 5);
}

//  Send body to every waiter of a list and empty the list.
static void
s_clients_send (broker_t *self, zlistx_t *waiters, const char *service,
                zframe_t *body)
{
    zframe_t *identity = (zframe_t *) zlistx_first (waiters);
    while (identity) {
        s_client_send (self, identity, service, body);
        identity = (zframe_t *) zlistx_next (waiters);
    }
    zlistx_purge (waiters);
}

//  Build an ERROR body.  Returns a new frame; NULL only if the codec
//  refuses our own message (logged: a bug, not a peer error).
static zframe_t *
s_error_body (const char *request_id, uint16_t status, const char *format,
              va_list args)
{
    char text [FM_TEXT_SIZE];
    vsnprintf (text, sizeof (text), format, args);
    s_utf8_trim (text);
    fm_msg_t *msg = fm_msg_new_error (request_id, status, "%s", text);
    fm_error_t err;
    zframe_t *body = msg? fm_msg_encode (msg, &err): NULL;
    if (msg && !body)
        zsys_error ("broker: cannot encode ERROR %u: %s", status, err.text);
    fm_msg_destroy (&msg);
    return body;
}

//  Send an ERROR to one client (identity borrowed).
static void CHECK_PRINTF (6)
s_client_error (broker_t *self, zframe_t *identity, const char *service,
                const char *request_id, uint16_t status,
                const char *format, ...)
{
    va_list args;
    va_start (args, format);
    zframe_t *body = s_error_body (request_id, status, format, args);
    va_end (args);
    if (body)
        s_client_send (self, identity, service, body);
    zframe_destroy (&body);
}

//  Send an ERROR to every waiter of a list and empty it.
static void CHECK_PRINTF (6)
s_clients_error (broker_t *self, zlistx_t *waiters, const char *service,
                 const char *request_id, uint16_t status,
                 const char *format, ...)
{
    va_list args;
    va_start (args, format);
    zframe_t *body = s_error_body (request_id, status, format, args);
    va_end (args);
    if (body)
        s_clients_send (self, waiters, service, body);
    zlistx_purge (waiters);
    zframe_destroy (&body);
}

//  Send a worker command to a routing id (borrowed).  For REQUEST,
//  reply_to and body (borrowed) follow.
static void
s_peer_send (broker_t *self, zframe_t *identity, byte command,
             const char *reply_to, zframe_t *body)
{
    bool request = command == FM_MDPW_REQUEST;
    const void *data [7] = { zframe_data (identity), "", FM_MDPW, &command,
                             reply_to, "", request? zframe_data (body): NULL };
    size_t size [7] = { zframe_size (identity), 0, strlen (FM_MDPW), 1,
                        request? strlen (reply_to): 0, 0,
                        request? zframe_size (body): 0 };
    s_message_send (self, false, data, size, request? 7: 4);
}


//  --------------------------------------------------------------------------
//  Query batches (SPEC 4.2): REQUESTS [reply-to][body]... to a worker
//  that announced batch >= 2, one per loop turn, so that a bank answering
//  ~30 queries a turn wakes once, not 30 times

//  Copy bytes into the query arena as [size_t size][bytes].  Returns the
//  record's offset.  Cannot fail.
static size_t
s_query_arena_put (broker_t *self, const void *data, size_t size)
{
    size_t need = self->query_arena_used + sizeof (size_t) + size;
    if (need > self->query_arena_alloc) {
        size_t alloc = self->query_arena_alloc? self->query_arena_alloc: 64 * 1024;
        while (alloc < need)
            alloc *= 2;
        self->query_arena = (byte *) realloc (self->query_arena, alloc);
        assert (self->query_arena);
        self->query_arena_alloc = alloc;
    }
    size_t offset = self->query_arena_used;
    memcpy (self->query_arena + offset, &size, sizeof (size_t));
    if (size)
        memcpy (self->query_arena + offset + sizeof (size_t), data, size);
    self->query_arena_used = need;
    return offset;
}

//  The bytes of an arena record
static const void *
s_query_arena_get (broker_t *self, size_t offset, size_t *size)
{
    memcpy (size, self->query_arena + offset, sizeof (size_t));
    return self->query_arena + offset + sizeof (size_t);
}

//  Take a worker out of the list of those holding queries, which it
//  leaves (they were queued, or it is going away with them).
static void
s_worker_unbatch (worker_t *worker)
{
    broker_t *self = worker->broker;
    if (worker->pending == 0)
        return;
    worker->pending = 0;
    size_t last = --self->batching_size;
    self->batching [worker->batching_index] = self->batching [last];
    self->batching [worker->batching_index]->batching_index = worker->batching_index;
}

//  Queue a worker's waiting queries as one message: REQUESTS, or the
//  plain REQUEST of 7/MDP when there is one.  Cannot fail.
static void
s_worker_batch_send (broker_t *self, worker_t *worker)
{
    uint32_t count = worker->pending;
    assert (count > 0 && count <= FM_MDPW_BATCH_MAX);
    byte command = count == 1? FM_MDPW_REQUEST: FM_MDPW_REQUESTS;
    const void **data = self->batch_data;
    size_t *size = self->batch_sizes;
    data [0] = zframe_data (worker->identity);
    size [0] = zframe_size (worker->identity);
    data [1] = "";
    size [1] = 0;
    data [2] = FM_MDPW;
    size [2] = strlen (FM_MDPW);
    data [3] = &command;
    size [3] = 1;
    int parts = 4;
    for (uint32_t index = 0; index < count; index++) {
        size_t token_at = worker->pending_at [index];
        size_t token_size, body_size;
        const void *token = s_query_arena_get (self, token_at, &token_size);
        const void *body = s_query_arena_get (
            self, token_at + sizeof (size_t) + token_size, &body_size);
        data [parts] = token;
        size [parts++] = token_size;
        if (count == 1) {               //  REQUEST: [reply-to][""][body]
            data [parts] = "";
            size [parts++] = 0;
        }
        data [parts] = body;
        size [parts++] = body_size;
    }
    s_worker_unbatch (worker);
    s_message_send (self, false, data, size, parts);
}

//  Queue every worker's waiting queries and empty the arena.  The first
//  thing s_broker_flush does: cannot fail.
static void
s_workers_batch_send (broker_t *self)
{
    while (self->batching_size > 0)
        s_worker_batch_send (self, self->batching [self->batching_size - 1]);
    self->query_arena_used = 0;
}

//  Send a query to a worker: REQUEST at once for a plain one, else into
//  its batch, which leaves when full or at the end of the turn.
static void
s_query_send (broker_t *self, worker_t *worker, const char *reply_to,
              zframe_t *body)
{
    if (worker->batch < 2) {
        s_peer_send (self, worker->identity, FM_MDPW_REQUEST, reply_to, body);
        return;
    }
    if (worker->pending == 0) {
        if (self->batching_size == self->batching_alloc) {
            size_t alloc = self->batching_alloc? 2 * self->batching_alloc: 64;
            self->batching = (worker_t **) realloc (self->batching,
                                                    alloc * sizeof (worker_t *));
            assert (self->batching);
            self->batching_alloc = alloc;
        }
        worker->batching_index = self->batching_size;
        self->batching [self->batching_size++] = worker;
    }
    //  reply-to then body, adjacent: s_worker_batch_send finds the body
    //  right after the token
    size_t offset = s_query_arena_put (self, reply_to, strlen (reply_to));
    s_query_arena_put (self, zframe_data (body), zframe_size (body));
    worker->pending_at [worker->pending++] = offset;
    if (worker->pending == worker->batch)
        s_worker_batch_send (self, worker);
}


//  --------------------------------------------------------------------------
//  Events

//  Copy a string into a fixed array, cut at size - 1 bytes exactly as
//  snprintf "%s" would, without parsing a format: events copy several
//  fields each, ten events a request.  Cannot fail.
static void
s_copy (char *dest, size_t size, const char *src)
{
    size_t length = strnlen (src, size - 1);
    memcpy (dest, src, length);
    dest [length] = 0;
}

//  An empty event of a type.  Cannot fail.
static void
s_event_init (fm_event_t *event, fm_event_type_t type)
{
    memset (event, 0, sizeof (*event));
    event->type = type;
}

//  An event about a request: request, enterprise and grid set.
static void
s_event_request (fm_event_t *event, fm_event_type_t type, request_t *request)
{
    s_event_init (event, type);
    s_copy (event->request_id, sizeof (event->request_id), request->id);
    s_copy (event->enterprise_id, sizeof (event->enterprise_id),
            request->asked.enterprise_id);
    s_copy (event->grid_id, sizeof (event->grid_id), request->grid_id);
}

//  One subscription more (up) or less.  The XPUB reports a topic's first
//  subscription and its last unsubscription only, so a count cannot go
//  below zero; guarded all the same, as a count stuck at zero would
//  silence the stream.
static void
s_subscription_count (size_t *count, bool up)
{
    if (up)
        (*count)++;
    else
    if (*count > 0)
        (*count)--;
}

//  Note one subscription (subscribe true) or unsubscription of a topic
//  the XPUB reported.  The empty topic matches every event; a non-empty
//  prefix of FM_BATCH_TOPIC asks for batches (SPEC 12.3: a subscriber to
//  everything gets the batches others asked for, and skips them, but
//  makes the broker build none); any other topic beginning with '$'
//  matches nothing we publish.  Each topic is listed once.
static void
s_subscription_note (broker_t *self, const byte *topic, size_t size, bool subscribe)
{
    if (size > 0 && size <= strlen (FM_BATCH_TOPIC)
    &&  memcmp (topic, FM_BATCH_TOPIC, size) == 0)
        s_subscription_count (&self->batch_topics, subscribe);
    if (size == 0)
        s_subscription_count (&self->all_topics, subscribe);
    else
    if (topic [0] != '$') {
        zchunk_t *chunk = (zchunk_t *) zlistx_first (self->event_topics);
        while (chunk && !(zchunk_size (chunk) == size
                          && memcmp (zchunk_data (chunk), topic, size) == 0))
            chunk = (zchunk_t *) zlistx_next (self->event_topics);
        if (subscribe && !chunk) {
            chunk = zchunk_new (topic, size);
            assert (chunk);
            zlistx_add_end (self->event_topics, chunk);
        }
        else
        if (!subscribe && chunk)
            zlistx_delete (self->event_topics, zlistx_cursor (self->event_topics));
    }
}

//  True if a subscription matches an event's topic, as the XPUB would
//  find: then it is worth a send.  A scan, as the list is short (a
//  watcher's prefix, `finmatch request --live`'s three per request in
//  flight); past EVENT_TOPICS_SCAN the broker sends every event and lets
//  the XPUB filter.
static bool
s_event_wanted (broker_t *self, const char *topic, size_t size)
{
    if (self->all_topics > 0
    ||  zlistx_size (self->event_topics) > EVENT_TOPICS_SCAN)
        return true;
    zchunk_t *chunk = (zchunk_t *) zlistx_first (self->event_topics);
    while (chunk) {
        if (zchunk_size (chunk) <= size
        &&  memcmp (zchunk_data (chunk), topic, zchunk_size (chunk)) == 0)
            return true;
        chunk = (zchunk_t *) zlistx_next (self->event_topics);
    }
    return false;
}

//  Stamp and publish an event as [topic][body] if a subscription wants it,
//  and into the open batch if a batch subscriber is there; never blocking:
//  a slow subscriber loses events at its HWM (and sees a seq gap), it
//  never stalls the broker.  seq advances only for an encoded event.
static void
s_event_publish (broker_t *self, fm_event_t *event)
{
    event->epoch = self->epoch;
    event->seq = self->seq + 1;
    event->ts_us = s_now_us ();
    //  The events of a request's matching are built only from decoded
    //  (validated) messages, ids, counters, the clock and ASCII summaries:
    //  they take the trusted encoder (a third cheaper; verified anyway in
    //  FM_SANITIZE builds).  Events carrying printf'd or peer-derived text
    //  keep full validation.
    bool trusted = event->type == FM_EV_REQUEST_RECEIVED
                || event->type == FM_EV_REQUEST_ENRICHED
                || event->type == FM_EV_REQUEST_DISPATCHED
                || event->type == FM_EV_OFFER_MADE
                || event->type == FM_EV_DECLINE_MADE
                || event->type == FM_EV_BANK_TIMEOUT
                || event->type == FM_EV_REQUEST_COMPLETED
                || event->type == FM_EV_REQUEST_REFERRED;
    size_t size = trusted?
        fm_event_encode_into_trusted (event, self->event_buffer, EVENT_BUFFER_SIZE):
        fm_event_encode_into (event, self->event_buffer, EVENT_BUFFER_SIZE);
    if (size == 0) {
        //  Our own event failed validation: a bug, logged, no seq used
        zsys_error ("broker: cannot encode %s event",
                    fm_event_type_name (event->type));
        return;
    }
    self->seq++;
    //  Journaled before anyone can see it: a restarted broker continues
    //  this epoch's seq and replays it (fm_journal.h)
    if (self->journal)
        fm_journal_append (self->journal, FM_JOURNAL_EVENT, NULL, self->seq,
                           self->event_buffer, size);
    fm_replay_store (self->replay, self->seq, self->event_buffer, size);
    char topic [128];
    size_t topic_size = fm_event_topic (event, topic, sizeof (topic));
    if (self->verbose)
        zsys_debug ("broker: event %" PRIu64 " %s", event->seq, topic);
    //  Journaled: published by s_outbox_send, once the record is written
    if (s_event_wanted (self, topic, topic_size)) {
        const void *data [2] = { topic, self->event_buffer };
        size_t sizes [2] = { topic_size, size };
        s_message_send (self, true, data, sizes, 2);
    }
    if (self->batch_topics > 0) {
        //  The buffer holds any one event after a close (BATCH_BUFFER_SIZE)
        if (!fm_batch_add (&self->batch, self->event_buffer, size)) {
            s_batch_close (self);
            bool added = fm_batch_add (&self->batch, self->event_buffer, size);
            assert (added);
        }
        if (self->batch.count >= BATCH_CLOSE_EVENTS
        ||  self->batch.used >= BATCH_CLOSE_BYTES)
            s_batch_close (self);
    }
}

//  Publish input.rejected for a peer.
static void
s_input_rejected (broker_t *self, zframe_t *identity, uint16_t status,
                  const char *format, ...)
{
    fm_event_t event;
    s_event_init (&event, FM_EV_INPUT_REJECTED);
    s_peer_hex (identity, event.peer);
    event.status = status;
    va_list args;
    va_start (args, format);
    vsnprintf (event.text, sizeof (event.text), format, args);
    va_end (args);
    s_utf8_trim (event.text);
    if (self->verbose)
        zsys_debug ("broker: rejected input from %s: %u %s",
                    event.peer, status, event.text);
    s_event_publish (self, &event);
}


//  fm_auth refused a key (handshake or message): publish auth.denied.
//  peer = the first 16 characters of the public key (never a secret).
static void
s_auth_denied (void *arg, const char *key, const char *what, const char *text)
{
    broker_t *self = (broker_t *) arg;
    fm_event_t event;
    s_event_init (&event, FM_EV_AUTH_DENIED);
    snprintf (event.peer, sizeof (event.peer), "%.16s", key && *key? key: "-");
    snprintf (event.service, sizeof (event.service), "%s", what);
    event.status = FM_STATUS_FORBIDDEN;
    snprintf (event.text, sizeof (event.text), "%s", text);
    s_utf8_trim (event.text);
    zsys_warning ("broker: auth denied %s to %s: %s", what, event.peer, event.text);
    s_event_publish (self, &event);
    s_broker_flush (self);      //  May come from the ZAP handler's turn
}


//  --------------------------------------------------------------------------
//  Deadline heap: requests ordered by deadline (mono msecs)

static void
s_heap_place (broker_t *self, size_t index, request_t *request)
{
    self->heap [index] = request;
    request->heap_index = index;
}

static void
s_heap_up (broker_t *self, size_t index)
{
    request_t *request = self->heap [index];
    while (index > 0) {
        size_t parent = (index - 1) / 2;
        if (self->heap [parent]->deadline <= request->deadline)
            break;
        s_heap_place (self, index, self->heap [parent]);
        index = parent;
    }
    s_heap_place (self, index, request);
}

static void
s_heap_down (broker_t *self, size_t index)
{
    request_t *request = self->heap [index];
    while (true) {
        size_t child = 2 * index + 1;
        if (child >= self->heap_size)
            break;
        if (child + 1 < self->heap_size
        &&  self->heap [child + 1]->deadline < self->heap [child]->deadline)
            child++;
        if (request->deadline <= self->heap [child]->deadline)
            break;
        s_heap_place (self, index, self->heap [child]);
        index = child;
    }
    s_heap_place (self, index, request);
}

//  Remove a request from the heap if it is there.  Cannot fail.
static void
s_heap_remove (broker_t *self, request_t *request)
{
    size_t index = request->heap_index;
    if (index == SIZE_MAX)
        return;
    assert (index < self->heap_size && self->heap [index] == request);
    request->heap_index = SIZE_MAX;
    self->heap_size--;
    if (index == self->heap_size)
        return;                 //  It was the last entry
    //  Move the last entry into the hole, then restore order either way
    request_t *moved = self->heap [self->heap_size];
    s_heap_place (self, index, moved);
    s_heap_down (self, index);
    s_heap_up (self, moved->heap_index);
}

static int s_deadline_expired (zloop_t *loop, int timer_id, void *arg);

//  Make sure the one deadline timer fires no later than the earliest
//  deadline.  Re-arming costs a zloop timer add/remove, which only happens
//  when a new deadline is earlier than the armed one (rare with equal
//  delays: new deadlines are later).
static void
s_deadline_arm (broker_t *self)
{
    if (self->heap_size == 0)
        return;                 //  An armed timer fires and finds nothing
    int64_t due = self->heap [0]->deadline;
    if (self->deadline_timer != -1 && self->deadline_timer_due <= due)
        return;
    if (self->deadline_timer != -1)
        zloop_timer_end (self->loop, self->deadline_timer);
    int64_t delay = due - zclock_mono ();
    self->deadline_timer = zloop_timer (self->loop, delay > 0? (size_t) delay: 0,
                                        1, s_deadline_expired, self);
    self->deadline_timer_due = due;
}

//  (Re)set a request's single deadline to now + delay_ms.
static void
s_deadline_set (request_t *request, int64_t delay_ms)
{
    broker_t *self = request->broker;
    s_heap_remove (self, request);
    if (self->heap_size == self->heap_max) {
        self->heap_max = self->heap_max? self->heap_max * 2: 1024;
        self->heap = (request_t **) realloc (self->heap,
                                             self->heap_max * sizeof (request_t *));
        assert (self->heap);
    }
    //  + 1: zclock_mono truncates to whole msecs, and a deadline must
    //  never fire before delay_ms have fully passed
    request->deadline = zclock_mono () + delay_ms + 1;
    self->heap [self->heap_size] = request;
    request->heap_index = self->heap_size++;
    s_heap_up (self, request->heap_index);
    s_deadline_arm (self);
}

static int
s_deadline_expired (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    broker_t *self = (broker_t *) arg;
    self->deadline_timer = -1;  //  One-shot: zloop removes it after us
    int64_t now = zclock_mono ();
    while (self->heap_size && self->heap [0]->deadline <= now) {
        request_t *request = self->heap [0];
        s_heap_remove (self, request);
        s_request_expired (request);
    }
    s_deadline_arm (self);
    s_broker_flush (self);
    return 0;
}


//  --------------------------------------------------------------------------
//  Service

static void
s_service_destroy (service_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        service_t *self = *self_p;
        zlistx_destroy (&self->workers);
        zlistx_destroy (&self->queue);
        free (self);
        *self_p = NULL;
    }
}

//  Queue order (zlistx comparator): slots of requests with the priority
//  lever before the others; equal otherwise, so that a sorted insert from
//  the tail keeps each class first-come first-served.
static int
s_slot_compare (const void *item1, const void *item2)
{
    const slot_t *slot1 = (const slot_t *) item1;
    const slot_t *slot2 = (const slot_t *) item2;
    bool first1 = slot1->request && slot1->request->priority;
    bool first2 = slot2->request && slot2->request->priority;
    return (int) first2 - (int) first1;
}

//  Returns a new service, or NULL if out of memory.
static service_t *
s_service_new (broker_t *broker, const char *name)
{
    service_t *self = (service_t *) zmalloc (sizeof (service_t));
    if (self) {
        self->broker = broker;
        snprintf (self->name, sizeof (self->name), "%s", name);
        size_t prefix = strlen (FM_SERVICE_BANK_PREFIX);
        if (strncmp (name, FM_SERVICE_BANK_PREFIX, prefix) == 0)
            snprintf (self->bank, sizeof (self->bank), "%.*s",
                      (int) sizeof (self->bank) - 1, name + prefix);
        self->workers = zlistx_new ();
        if (self->workers)
            self->queue = zlistx_new ();
        if (!self->queue)
            s_service_destroy (&self);
        else
            zlistx_set_comparator (self->queue, s_slot_compare);
    }
    return self;
}

//  Look up or create a service by (validated) name.  Returns the service,
//  owned by the broker, or NULL if out of memory.
static service_t *
s_service_require (broker_t *self, const char *name)
{
    service_t *service = (service_t *) zhashx_lookup (self->services, name);
    if (!service) {
        service = s_service_new (self, name);
        if (service)
            zhashx_insert (self->services, name, service);
    }
    return service;
}

//  True if the named service has at least one live worker.
static bool
s_service_live (broker_t *self, const char *name)
{
    service_t *service = (service_t *) zhashx_lookup (self->services, name);
    return service && zlistx_size (service->workers) > 0;
}

//  Pick a worker with spare capacity, round-robin: the worker picked moves
//  to the end of the list.  Returns the worker, or NULL if all are full.
static worker_t *
s_service_pick (service_t *self)
{
    worker_t *worker = (worker_t *) zlistx_first (self->workers);
    while (worker) {
        if (worker->inflight < worker->capacity) {
            zlistx_move_end (self->workers, worker->handle);
            return worker;
        }
        worker = (worker_t *) zlistx_next (self->workers);
    }
    return NULL;
}


//  --------------------------------------------------------------------------
//  Slot

//  Hand a slot to a worker: send its query, count it against capacity.
static void
s_slot_send (slot_t *slot, worker_t *worker)
{
    broker_t *self = worker->broker;
    s_query_send (self, worker, slot->request->id, slot->body);
    if (self->verbose)
        zsys_debug ("broker: -> %s %s (worker %s, %u/%u)", slot->service->name,
                    slot->request->id, worker->peer, worker->inflight + 1,
                    worker->capacity);
    worker->inflight++;
    zstr_free (&slot->worker_key);
    slot->worker_key = strdup (worker->key);
    slot->state = SLOT_SENT;
}

//  Queue a slot until a worker of service has capacity.  Returns 0, or -1
//  if the queue is full (the slot stays as it was).
static int
s_slot_enqueue (slot_t *slot, service_t *service)
{
    broker_t *self = service->broker;
    if ((int64_t) zlistx_size (service->queue) >= self->max_inflight)
        return -1;
    //  The priority lever: behind the other priority slots, ahead of the
    //  rest (a sorted insert from the tail, s_slot_compare)
    if (slot->request && slot->request->priority)
        slot->queue_handle = zlistx_insert (service->queue, slot, false);
    else
        slot->queue_handle = zlistx_add_end (service->queue, slot);
    slot->state = SLOT_QUEUED;
    return 0;
}

//  Send a slot's query to a worker with capacity, or queue it.  Returns 0,
//  or -1 if the service has no worker at all or its queue is full (the
//  slot stays IDLE).
static int
s_slot_dispatch (slot_t *slot, service_t *service, zframe_t *body)
{
    slot->service = service;
    slot->body = body;
    if (zlistx_size (service->workers) == 0)
        return -1;
    worker_t *worker = s_service_pick (service);
    if (worker) {
        s_slot_send (slot, worker);
        return 0;
    }
    return s_slot_enqueue (slot, service);
}

//  Finish with a slot: leave the queue, or give its worker's capacity
//  back (once: a late answer finds the slot no longer SENT).  If drain,
//  the freed capacity goes to the service's queue at once.  Cannot fail.
static void
s_slot_release (slot_t *slot, slot_state_t state, bool drain)
{
    if (slot->state == SLOT_QUEUED) {
        zlistx_delete (slot->service->queue, slot->queue_handle);
        slot->queue_handle = NULL;
    }
    slot->state = state;
    if (slot->worker_key) {
        broker_t *self = slot->service->broker;
        worker_t *worker = (worker_t *) zhashx_lookup (self->workers, slot->worker_key);
        zstr_free (&slot->worker_key);
        if (worker && worker->inflight > 0) {
            worker->inflight--;
            if (drain)
                s_service_drain (worker->service);
        }
    }
}

//  Give queued slots to workers that have spare capacity, oldest first.
static void
s_service_drain (service_t *self)
{
    while (zlistx_size (self->queue)) {
        worker_t *worker = s_service_pick (self);
        if (!worker)
            break;
        slot_t *slot = (slot_t *) zlistx_first (self->queue);
        zlistx_delete (self->queue, slot->queue_handle);
        slot->queue_handle = NULL;
        s_slot_send (slot, worker);
    }
}


//  --------------------------------------------------------------------------
//  Worker

static void
s_worker_destroy (worker_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        worker_t *self = *self_p;
        if (self->handle)
            zlistx_delete (self->service->workers, self->handle);
        //  Its waiting queries go with it: held, so s_worker_delete hands
        //  them to other workers
        s_worker_unbatch (self);
        free (self->pending_at);
        zframe_destroy (&self->identity);
        zstr_free (&self->key);
        free (self);
        *self_p = NULL;
    }
}

//  Returns a new worker registered in its service list (not yet in the
//  broker's table), or NULL if out of memory.
static worker_t *
s_worker_new (broker_t *broker, zframe_t *identity, const char *key,
              service_t *service, const fm_ready_opts_t *opts)
{
    worker_t *self = (worker_t *) zmalloc (sizeof (worker_t));
    if (self) {
        self->broker = broker;
        self->key = strdup (key);
        self->identity = zframe_dup (identity);
        s_peer_hex (identity, self->peer);
        self->service = service;
        self->capacity = opts? opts->capacity: 1;
        self->heartbeat_ms = opts? opts->heartbeat_ms: 0;
        //  No batch larger than what it may hold
        self->batch = opts && opts->batch > 1? opts->batch: 1;
        if (self->batch > self->capacity)
            self->batch = self->capacity;
        if (self->batch > 1)
            self->pending_at = (size_t *) malloc (self->batch * sizeof (size_t));
        if (self->key && self->identity && (self->batch == 1 || self->pending_at))
            self->handle = zlistx_add_end (service->workers, self);
        if (!self->handle)
            s_worker_destroy (&self);
    }
    return self;
}

//  Push back a worker's expiry: liveness x the longer of the broker's and
//  its own heartbeat interval (7/MDP's mismatched-intervals fix).
static void
s_worker_refresh (worker_t *self)
{
    broker_t *broker = self->broker;
    int64_t interval = broker->heartbeat_ms;
    if ((int64_t) self->heartbeat_ms > interval)
        interval = self->heartbeat_ms;
    self->expiry = zclock_mono () + broker->liveness * interval;
}

//  How often the worker hears from us: min(broker's interval, its own), so
//  that a worker with a short interval never thinks we are gone.
static int64_t
s_worker_interval (worker_t *self)
{
    int64_t interval = self->broker->heartbeat_ms;
    if (self->heartbeat_ms && (int64_t) self->heartbeat_ms < interval)
        interval = self->heartbeat_ms;
    return interval;
}

//  Delete a worker, optionally telling it DISCONNECT first.  The queries
//  it held go to another worker of its service (s_worker_orphans): a dead
//  worker's requests are re-dispatched or missed, never left hanging.
//  Cannot fail.
static void
s_worker_delete (broker_t *self, worker_t *worker, bool disconnect)
{
    if (disconnect)
        s_peer_send (self, worker->identity, FM_MDPW_DISCONNECT, NULL, NULL);
    service_t *service = worker->service;
    uint32_t held = worker->inflight;
    char *key = strdup (worker->key);
    zhashx_delete (self->workers, key);     //  Destructor frees worker
    if (held)
        s_worker_orphans (self, service, key);
    free (key);
}

//  Reject a worker's input: event, DISCONNECT, and forget the worker if
//  it was registered (RFC 7: a peer that breaks protocol starts over).
static void CHECK_PRINTF (5)
s_worker_reject (broker_t *self, zframe_t *identity, worker_t *worker,
                 uint16_t status, const char *format, ...)
{
    char text [FM_TEXT_SIZE];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof (text), format, args);
    va_end (args);
    s_utf8_trim (text);
    s_input_rejected (self, identity, status, "%s", text);
    if (worker)
        s_worker_delete (self, worker, true);
    else
        s_peer_send (self, identity, FM_MDPW_DISCONNECT, NULL, NULL);
}


//  --------------------------------------------------------------------------
//  Request

//  Destroy a request and everything it owns.  Leaves the heap, the
//  retained list and every service queue, so nothing refers to it after.
//  Does not remove it from broker->requests (the hash calls us).
static void
s_request_destroy (request_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        request_t *self = *self_p;
        broker_t *broker = self->broker;
        s_heap_remove (broker, self);
        if (self->retained_handle)
            zlistx_delete (broker->retained, self->retained_handle);
        if (self->state != REQ_DONE)
            broker->inflight--;
        s_slot_release (&self->gov, SLOT_TIMED_OUT, false);
        for (size_t index = 0; index < self->bank_count; index++)
            s_slot_release (&self->banks [index], SLOT_TIMED_OUT, false);
        s_slot_release (&self->grant, SLOT_TIMED_OUT, false);
        if (self->journal_segment && broker->journal)
            fm_journal_release (broker->journal, self->journal_segment);
        free (self->banks);
        free (self->candidates);
        free (self->asked_banks);
        free (self->profile);
        free (self->offers);
        free (self->accepted);
        fm_msg_destroy (&self->result);
        zframe_destroy (&self->gov_query);
        zframe_destroy (&self->bank_query);
        zframe_destroy (&self->result_body);
        zframe_destroy (&self->grant_query);
        zframe_destroy (&self->confirmation);
        zlistx_destroy (&self->clients);
        zlistx_destroy (&self->acc_clients);
        zlistx_destroy (&self->withdrawn);
        zlistx_destroy (&self->journaled);
        free (self);
        *self_p = NULL;
    }
}

//  Returns a new in-flight request (counted in broker->inflight) holding a
//  copy of asked, or NULL if out of memory.  Not yet in broker->requests.
static request_t *
s_request_new (broker_t *broker, const char *id, const fm_request_t *asked)
{
    request_t *self = (request_t *) zmalloc (sizeof (request_t));
    if (self) {
        self->broker = broker;
        self->state = REQ_ENRICHING;
        self->life = FM_RS_RECEIVED;    //  From none: the table's first row
        broker->inflight++;
        self->heap_index = SIZE_MAX;
        s_copy (self->id, sizeof (self->id), id);
        self->asked = *asked;
        s_copy (self->grid_id, sizeof (self->grid_id), asked->grid_id);
        self->gov.request = self;
        self->grant.request = self;
        self->clients = zlistx_new ();
        if (self->clients)
            self->acc_clients = zlistx_new ();
        if (self->acc_clients)
            self->result = fm_msg_new (FM_MSG_RESULT);
        if (self->result) {
            zlistx_set_destructor (self->clients, s_frame_destroy);
            zlistx_set_destructor (self->acc_clients, s_frame_destroy);
        }
        else
            s_request_destroy (&self);
    }
    return self;
}

//  Remove a request from the broker's table, destroying it.
static void
s_request_delete (request_t *self)
{
    broker_t *broker = self->broker;
    char id [FM_REQUEST_ID_SIZE];
    memcpy (id, self->id, sizeof (id));
    zhashx_delete (broker->requests, id);
}

//  Append a record about a request to the journal, BEFORE the broker acts
//  on it (sends, publishes).  A no-op when the journal is off or while it
//  is being loaded.  Returns the segment written, or 0.
static uint32_t
s_journal_write (request_t *self, fm_journal_type_t type, const void *data,
                 size_t size)
{
    broker_t *broker = self->broker;
    if (!broker->journal || broker->loading)
        return 0;
    return fm_journal_append (broker->journal, type, self->id, 0, data, size);
}

//  Journal a frame's bytes (RESULT, CONFIRMATION).
static void
s_journal_frame (request_t *self, fm_journal_type_t type, zframe_t *frame)
{
    s_journal_write (self, type, zframe_data (frame), zframe_size (frame));
}

//  Journal a request as asked (REQUEST body); its segment stays pinned
//  until the request is forgotten.  asked is the client's REQUEST body,
//  borrowed, or NULL: journaled as it came when it is small (it decoded
//  to self->asked, and the journal's loader decodes it the same way), so
//  the request is not encoded again; a larger one (unknown extra keys may
//  fill it up to FM_MAX_BODY) is journaled re-encoded, its extras left
//  out.
static void
s_journal_request (request_t *self, zframe_t *asked)
{
    broker_t *broker = self->broker;
    if (!broker->journal || broker->loading)
        return;
    if (asked && zframe_size (asked) <= JOURNAL_ASKED_MAX) {
        self->journal_segment = s_journal_write (self, FM_JOURNAL_REQUEST,
                                                 zframe_data (asked), zframe_size (asked));
        return;
    }
    //  The broker's scratch message (no lists): asked was decoded, so the
    //  trusted encoder; the validating one runs only to explain a refusal
    fm_msg_t *msg = broker->query;
    msg->type = FM_MSG_REQUEST;
    s_copy (msg->request_id, sizeof (msg->request_id), self->id);
    msg->request = self->asked;
    fm_error_t err;
    zframe_t *body = fm_msg_encode_trusted (msg);
    if (!body)
        body = fm_msg_encode (msg, &err);
    if (body)
        self->journal_segment = s_journal_write (self, FM_JOURNAL_REQUEST,
                                                 zframe_data (body), zframe_size (body));
    else
        zsys_error ("broker: cannot journal %s: %s", self->id, err.text);
    zframe_destroy (&body);
}

//  Journal a bank's answer before it is acted on (events, RESULT):
//  [u8 code length][code][BANK_ANSWER body]; no body when the bank
//  answered ERROR.  A resumed request does not ask that bank again.
static void
s_journal_answer (request_t *self, const char *bank, const byte *data, size_t size)
{
    broker_t *broker = self->broker;
    if (!broker->journal || broker->loading)
        return;
    //  Head and body go straight into the journal's buffer: no joined copy
    byte head [1 + FM_CODE_SIZE];
    size_t length = strnlen (bank, FM_CODE_SIZE - 1);
    head [0] = (byte) length;
    memcpy (head + 1, bank, length);
    fm_journal_append2 (broker->journal, FM_JOURNAL_ANSWER, self->id, 0,
                        head, 1 + length, data, size);
}

//  Forget a request for good: END in the journal (so that a restart does
//  not bring it back), then delete it.
static void
s_request_forget (request_t *self)
{
    s_journal_write (self, FM_JOURNAL_END, NULL, 0);
    s_request_delete (self);
}

//  Publish request.illegal: something tried to move the request from its
//  state to `to` and the lifecycle table (fm_lifecycle) has no such row.
//  The state is left as it was.
static void CHECK_PRINTF (3)
s_request_illegal (request_t *self, fm_req_state_t to, const char *format, ...)
{
    fm_event_t event;
    s_event_request (&event, FM_EV_REQUEST_ILLEGAL, self);
    event.grid_id [0] = 0;          //  Not in this event's field set
    event.status = FM_STATUS_CONFLICT;
    int length = snprintf (event.text, sizeof (event.text), "%s -> %s: ",
                           fm_lifecycle_name (self->life), fm_lifecycle_name (to));
    va_list args;
    va_start (args, format);
    vsnprintf (event.text + length, sizeof (event.text) - (size_t) length, format, args);
    va_end (args);
    s_utf8_trim (event.text);
    zsys_warning ("broker: request %s: illegal transition %s", self->id, event.text);
    s_event_publish (self->broker, &event);
}

//  Move a request to a new lifecycle state.  Returns 0, or -1 (and a
//  request.illegal event) if the table forbids the move: every state
//  change goes through here, so none is a silent overwrite.
static int
s_request_move (request_t *self, fm_req_state_t to)
{
    if (!fm_lifecycle_legal (self->life, to)) {
        s_request_illegal (self, to, "no such transition");
        return -1;
    }
    self->life = to;
    return 0;
}

//  True if two requests carry the same content, field by field (the
//  structs may differ in bytes after a string's NUL).
static bool
s_request_same (const fm_request_t *a, const fm_request_t *b)
{
    return streq (a->enterprise_id, b->enterprise_id)
        && streq (a->idem_key, b->idem_key)
        && a->amount_fen == b->amount_fen
        && a->term_months == b->term_months
        && streq (a->purpose, b->purpose)
        && a->type == b->type
        && streq (a->prior_loan_id, b->prior_loan_id)
        && streq (a->grid_id, b->grid_id)
        && a->collateral == b->collateral
        && a->consent == b->consent
        && (a->kinds? a->kinds: FM_KIND_BIT (FM_KIND_LOAN))
        == (b->kinds? b->kinds: FM_KIND_BIT (FM_KIND_LOAN))
        && streq (a->submitted_by, b->submitted_by);
}

//  Encode a query body for this request: CREDIT_QUERY or BANK_QUERY.
//  Returns a new frame, or NULL (logged) if our own message is invalid.
static zframe_t *
s_request_query (request_t *self, fm_msg_type_t type)
{
    //  The broker's scratch message: it has no lists, and every field the
    //  two types carry is set here (profile zeroed for CREDIT_QUERY, as in
    //  a new message)
    fm_msg_t *msg = self->broker->query;
    msg->type = type;
    s_copy (msg->request_id, sizeof (msg->request_id), self->id);
    msg->request = self->asked;
    s_copy (msg->request.grid_id, sizeof (msg->request.grid_id), self->grid_id);
    if (self->profile)
        msg->profile = *self->profile;
    else
        memset (&msg->profile, 0, sizeof (msg->profile));
    fm_error_t err;
    //  Built from the decoded request and profile: trusted encoding; the
    //  validating encoder runs only to explain a refusal
    zframe_t *body = fm_msg_encode_trusted (msg);
    if (!body)
        body = fm_msg_encode (msg, &err);
    if (!body)
        zsys_error ("broker: cannot encode %s for %s: %s",
                    fm_msg_type_name (type), self->id, err.text);
    return body;
}

//  End an in-flight request that is not kept: send body (if any; it is
//  destroyed) to its clients, publish request.completed with status, and
//  forget the request.  Cannot fail.
static void
s_request_end_unretained (request_t *self, uint16_t status, zframe_t **body_p)
{
    broker_t *broker = self->broker;
    //  Journaled first: a restart must not resume what the client was told
    //  has failed
    s_journal_write (self, FM_JOURNAL_END, NULL, 0);
    if (*body_p)
        s_clients_send (broker, self->clients, FM_SERVICE_REQUEST, *body_p);
    zframe_destroy (body_p);
    s_request_move (self, FM_RS_FAILED);
    fm_event_t event;
    s_event_request (&event, FM_EV_REQUEST_COMPLETED, self);
    event.status = status;
    s_event_publish (broker, &event);
    s_request_delete (self);
}

//  End an in-flight request with an ERROR to its clients and
//  request.completed, then forget it (failures are not retained: a retry
//  may succeed).
static void CHECK_PRINTF (3)
s_request_fail (request_t *self, uint16_t status, const char *format, ...)
{
    va_list args;
    va_start (args, format);
    zframe_t *body = s_error_body (self->id, status, format, args);
    va_end (args);
    s_request_end_unretained (self, status, &body);
}

//  Keep a finished request for replays and accepts; free what matching
//  needed; evict the oldest beyond max_retained.
static void
s_request_retain (request_t *self)
{
    broker_t *broker = self->broker;
    s_heap_remove (broker, self);
    self->state = REQ_DONE;
    broker->inflight--;
    zframe_destroy (&self->gov_query);
    zframe_destroy (&self->bank_query);
    fm_msg_destroy (&self->result);
    free (self->profile);
    self->profile = NULL;
    free (self->offers);
    self->offers = NULL;
    self->offer_count = self->offer_max = 0;
    //  Keep who was asked and when (status, late replies), not the slots
    self->asked_banks = (asked_t *) calloc (self->bank_count? self->bank_count: 1,
                                      sizeof (asked_t));
    assert (self->asked_banks);
    for (size_t index = 0; index < self->bank_count; index++) {
        s_copy (self->asked_banks [index].bank, sizeof (self->asked_banks [index].bank),
                self->banks [index].service->bank);
        self->asked_banks [index].dispatched_us = self->banks [index].dispatched_us;
    }
    self->asked_banks_count = self->bank_count;
    free (self->banks);         //  All released before we get here
    self->banks = NULL;
    self->bank_count = self->bank_max = 0;
    free (self->candidates);
    self->candidates = NULL;
    self->candidate_count = self->candidate_next = 0;
    zlistx_destroy (&self->journaled);
    self->retained_handle = zlistx_add_end (broker->retained, self);
    while ((int64_t) zlistx_size (broker->retained) > broker->max_retained)
        s_request_forget ((request_t *) zlistx_first (broker->retained));
}

//  Publish the bank-side events of a miss (bank.timeout, then sla.breach
//  with how long the bank had), list the bank in RESULT.timed_out and give
//  its capacity back.  The slot was pending.
static void
s_request_missed (request_t *self, slot_t *slot)
{
    broker_t *broker = self->broker;
    int64_t waited_us = zclock_usecs () - slot->dispatched_us;
    //  A resumed request does not ask a bank that missed again
    s_journal_write (self, FM_JOURNAL_MISS, slot->service->bank,
                     strlen (slot->service->bank));
    fm_event_t event;
    s_event_request (&event, FM_EV_BANK_TIMEOUT, self);
    s_copy (event.bank, sizeof (event.bank), slot->service->bank);
    s_event_publish (broker, &event);
    s_event_request (&event, FM_EV_SLA_BREACH, self);
    s_copy (event.bank, sizeof (event.bank), slot->service->bank);
    event.count = (uint32_t) ((slot->deadline * 1000 - slot->dispatched_us) / 1000);
    event.latency_us = waited_us > 0? waited_us: 0;
    s_event_publish (broker, &event);
    fm_msg_add_timed_out (self->result, slot->service->bank);
    s_slot_release (slot, SLOT_TIMED_OUT, true);
    self->banks_pending--;
}

//  A bank's deadline for this request, msecs: its override or the
//  broker's deadline_ms, cut to fast_track_pct under the fast_track lever.
static int64_t
s_request_bank_deadline (request_t *self, service_t *service)
{
    broker_t *broker = self->broker;
    int64_t *override = (int64_t *) zhashx_lookup (broker->bank_deadlines, service->bank);
    int64_t deadline = override? *override: broker->deadline_ms;
    if (self->fast_track)
        deadline = deadline * broker->fast_track_pct / 100;
    return deadline > 0? deadline: 1;
}

//  How many of available banks one round asks: the broker's first_round,
//  0 = all.  Cannot fail.
static size_t
s_request_round (request_t *self, size_t available)
{
    int64_t first_round = self->broker->first_round;
    return first_round > 0 && (size_t) first_round < available?
           (size_t) first_round: available;
}

//  Ask the next candidate bank: a new slot, its own deadline.  Returns
//  true if a bank was asked (or counted as missed because its queue is
//  full), false if no candidate is left.
static bool
s_request_ask_next (request_t *self)
{
    if (self->candidate_next >= self->candidate_count || self->bank_count >= self->bank_max)
        return false;
    service_t *service = self->candidates [self->candidate_next++];
    slot_t *slot = &self->banks [self->bank_count++];
    slot->request = self;
    slot->service = service;
    //  Rounded up to whole msecs of the same monotonic clock, so that the
    //  bank always has its full deadline (zclock_mono truncates: "now +
    //  100" could fire after 99.1 ms)
    slot->dispatched_us = zclock_usecs ();
    slot->deadline = (slot->dispatched_us + s_request_bank_deadline (self, service) * 1000
                      + 999) / 1000;
    if (s_slot_dispatch (slot, service, self->bank_query) == 0)
        self->banks_pending++;
    else {
        //  No worker left or queue full: the bank misses at once
        self->banks_pending++;
        slot->state = SLOT_SENT;        //  Pending, so that missed counts it
        s_request_missed (self, slot);
    }
    return true;
}

//  A bank declined or missed: refer the request on to the next bank not
//  yet asked (request.referred), so that a request ends only when every
//  eligible bank had its chance.  A bank that cannot take the query is
//  passed over at once.  Cannot fail.
static void
s_request_refer (request_t *self, const char *bank, const char *why)
{
    //  One bank per decline or miss; but when a renewal's prior bank says
    //  no, the others get the round a new request would have had
    size_t round = 1;
    if (self->prior_alone) {
        self->prior_alone = false;
        round = s_request_round (self, self->candidate_count - self->candidate_next);
    }
    size_t asked = 0;
    while (asked < round && self->candidate_next < self->candidate_count) {
        fm_event_t event;
        s_event_request (&event, FM_EV_REQUEST_REFERRED, self);
        s_copy (event.bank, sizeof (event.bank),
                self->candidates [self->candidate_next]->bank);
        event.count = (uint32_t) self->bank_count + 1;
        //  "%s %s" by hand: a bank code (< 24 bytes) and a constant word
        size_t length = strnlen (bank, FM_CODE_SIZE - 1);
        memcpy (event.text, bank, length);
        event.text [length++] = ' ';
        s_copy (event.text + length, sizeof (event.text) - length, why);
        s_event_publish (self->broker, &event);
        size_t pending = self->banks_pending;
        if (!s_request_ask_next (self))
            break;
        if (self->banks_pending > pending)
            asked++;                    //  Asked: it answers or misses later
        else {
            bank = self->banks [self->bank_count - 1].service->bank;
            why = "missed";
        }
    }
}

//  Re-arm the request's one heap deadline at its earliest pending bank.
static void
s_request_rearm (request_t *self)
{
    int64_t due = INT64_MAX;
    for (size_t index = 0; index < self->bank_count; index++) {
        slot_t *slot = &self->banks [index];
        if ((slot->state == SLOT_SENT || slot->state == SLOT_QUEUED) && slot->deadline < due)
            due = slot->deadline;
    }
    if (due != INT64_MAX)
        s_deadline_set (self, due - zclock_mono ());
}

//  Encode a RESULT or STATUS that must reach the client whatever its
//  size.  Declines carry up to 16 reasons of two 255-byte texts each, so
//  a few dozen declining banks exceed FM_MAX_BODY (413 from the codec).
//  Then msg is cut in steps until it fits, least useful first: reasons per
//  decline down to 8, 4, 2, 1 (each decline keeps its first ones), then
//  whole declines from the end, then offers from the end (ranked: the
//  worst go).  msg->text says what was left out.  Returns the body, or
//  NULL (logged, err filled) on any other encoding failure.
static zframe_t *
s_encode_fitting (fm_msg_t *msg, fm_error_t *err)
{
    //  A RESULT is built from decoded answers, the decoded request and
    //  texts cut at character boundaries: trusted encoding first; only a
    //  refusal (too large) takes the validating encoder, which says why
    zframe_t *body = fm_msg_encode_trusted (msg);
    if (body)
        return body;
    char text [FM_TEXT_SIZE];
    s_copy (text, sizeof (text), msg->text);
    size_t max_reasons = FM_MAX_REASONS;
    size_t declines = msg->decline_count;
    size_t offers = msg->offer_count;
    body = fm_msg_encode (msg, err);
    while (!body && err->status == FM_STATUS_TOO_LARGE) {
        if (max_reasons > 1)
            max_reasons /= 2;
        else
        if (msg->decline_count > 0)
            msg->decline_count--;
        else
        if (msg->offer_count > 0)
            msg->offer_count--;
        else
            break;                      //  Nothing left to cut
        for (size_t index = 0; index < msg->decline_count; index++)
            if (msg->declines [index].reason_count > max_reasons)
                msg->declines [index].reason_count = max_reasons;
        if (snprintf (msg->text, sizeof (msg->text),
                      "%s%s[超过 %d KiB: 每家谢绝只列前 %zu 条原因, 另有 %zu 家谢绝、"
                      "%zu 个报价未列出]", text, *text? " ": "",
                      FM_MAX_BODY / 1024, max_reasons, declines - msg->decline_count,
                      offers - msg->offer_count) >= (int) sizeof (msg->text))
            s_utf8_trim (msg->text);    //  Back to whole characters
        body = fm_msg_encode (msg, err);
    }
    if (body && (msg->decline_count < declines || max_reasons < FM_MAX_REASONS
             ||  msg->offer_count < offers))
        zsys_warning ("broker: %s for %s too large, cut: %s",
                      fm_msg_type_name (msg->type), msg->request_id, msg->text);
    return body;
}

//  Every bank asked answered or missed, and nobody is left to refer to:
//  rank, answer the clients, publish request.completed, retain.
static void
s_request_complete (request_t *self)
{
    broker_t *broker = self->broker;
    fm_msg_t *result = self->result;
    fm_event_t event;
    for (size_t index = 0; index < self->bank_count; index++) {
        slot_t *slot = &self->banks [index];
        if (slot->state == SLOT_SENT || slot->state == SLOT_QUEUED)
            s_request_missed (self, slot);      //  Cannot happen; be safe
    }
    fm_offer_rank (self->offers, self->offer_count);
    for (size_t index = 0; index < self->offer_count; index++)
        if (fm_msg_add_offer (result, &self->offers [index]))
            break;              //  FM_MAX_OFFERS best ones only
    s_copy (result->request_id, sizeof (result->request_id), self->id);
    result->request = self->asked;
    s_copy (result->request.grid_id, sizeof (result->request.grid_id), self->grid_id);
    result->status = FM_STATUS_OK;
    if (result->offer_count == 0)
        //  The declines carry every reason and its advice
        snprintf (result->text, sizeof (result->text),
                  "未获报价: %zu 家银行谢绝, %zu 家未按时答复",
                  result->decline_count, result->timed_out_count);
    fm_error_t err;
    self->result_body = s_encode_fitting (result, &err);
    if (!self->result_body) {
        zsys_error ("broker: cannot encode RESULT for %s: %s", self->id, err.text);
        s_request_fail (self, FM_STATUS_INTERNAL, "cannot encode result: %s", err.text);
        return;
    }
    s_journal_frame (self, FM_JOURNAL_RESULT, self->result_body);
    s_request_move (self, result->offer_count? FM_RS_OFFERED: FM_RS_DECLINED);
    s_event_request (&event, FM_EV_REQUEST_COMPLETED, self);
    event.status = FM_STATUS_OK;
    event.count = (uint32_t) result->offer_count;
    s_event_publish (broker, &event);
    s_clients_send (broker, self->clients, FM_SERVICE_REQUEST, self->result_body);
    s_request_retain (self);
}

//  A request with no bank to ask: RESULT 503, not retained.
static void
s_request_no_banks (request_t *self)
{
    fm_msg_t *result = self->result;
    snprintf (result->request_id, sizeof (result->request_id), "%s", self->id);
    result->request = self->asked;
    result->status = FM_STATUS_UNAVAILABLE;
    snprintf (result->text, sizeof (result->text), "no bank service registered");
    fm_error_t err;
    zframe_t *body = fm_msg_encode (result, &err);
    if (!body) {
        s_request_fail (self, FM_STATUS_UNAVAILABLE, "no bank service registered");
        return;
    }
    s_request_end_unretained (self, FM_STATUS_UNAVAILABLE, &body);
}

//  Keep an offer for ranking.  Cannot fail.
static void
s_request_keep_offer (request_t *self, const fm_offer_t *offer)
{
    if (self->offer_count == self->offer_max) {
        self->offer_max = self->offer_max? self->offer_max * 2: 16;
        self->offers = (fm_offer_t *) realloc (self->offers,
                                               self->offer_max * sizeof (fm_offer_t));
        assert (self->offers);
    }
    self->offers [self->offer_count++] = *offer;
}

//  A request resumed with its profile (s_request_start): apply the
//  answers and misses the journal kept, without events (they were
//  published, and journaled, before the restart), and take their banks
//  out of the candidates: only banks that still owe an answer are asked.
//  Returns how many the round still owes: first_round less the banks that
//  offered (each decline or miss had referred the request on); 0 when a
//  renewal's prior bank offered.  Cannot fail.
static size_t
s_request_replay (request_t *self, size_t first_round)
{
    broker_t *broker = self->broker;
    size_t offered = 0;
    bool done = false;
    answer_t *entry = self->journaled? (answer_t *) zlistx_first (self->journaled): NULL;
    for (; entry; entry = (answer_t *) zlistx_next (self->journaled)) {
        char name [FM_SERVICE_SIZE];
        snprintf (name, sizeof (name), "%s%s", FM_SERVICE_BANK_PREFIX, entry->bank);
        service_t *service = s_service_require (broker, name);
        bool applied = false;
        for (size_t index = 0; index < self->bank_count; index++)
            if (self->banks [index].service == service)
                applied = true;
        if (!service || applied || self->bank_count >= self->bank_max)
            continue;
        bool prior = self->prior_alone && self->candidate_count > 0
                  && self->candidates [0] == service;
        for (size_t index = 0; index < self->candidate_count; index++)
            if (self->candidates [index] == service) {
                memmove (self->candidates + index, self->candidates + index + 1,
                         (self->candidate_count - index - 1) * sizeof (service_t *));
                self->candidate_count--;
                break;
            }
        slot_t *slot = &self->banks [self->bank_count++];
        slot->request = self;
        slot->service = service;
        slot->state = entry->missed? SLOT_TIMED_OUT: SLOT_DONE;
        size_t offers = 0;
        if (entry->missed)
            fm_msg_add_timed_out (self->result, service->bank);
        else
        if (entry->body) {
            fm_error_t err;
            fm_msg_t *answer = fm_msg_decode (zframe_data (entry->body),
                                              zframe_size (entry->body), &err);
            if (answer && answer->type == FM_MSG_BANK_ANSWER) {
                for (size_t index = 0; index < answer->offer_count; index++)
                    s_request_keep_offer (self, &answer->offers [index]);
                for (size_t index = 0; index < answer->decline_count; index++)
                    fm_msg_add_decline (self->result, &answer->declines [index]);
                offers = answer->offer_count;
            }
            fm_msg_destroy (&answer);
        }
        if (offers)
            offered++;
        if (prior) {
            //  The renewal's prior bank: its offer ends the request, its
            //  no sends it to the others as a new request's round
            self->prior_alone = false;
            done = offers > 0;
            first_round = s_request_round (self, self->candidate_count);
            offered = 0;
        }
    }
    zlistx_destroy (&self->journaled);
    if (done || first_round <= offered)
        return 0;
    first_round -= offered;
    return first_round < self->candidate_count? first_round: self->candidate_count;
}

//  The banks a retained request loaded from the journal had asked: those
//  whose answers or misses were journaled, in order, then any other bank
//  its RESULT names (journals written before answers were).  Replaces
//  the (empty) list s_request_retain made.  Cannot fail.
static void
s_request_asked_rebuild (request_t *self, zlistx_t *journaled, const fm_msg_t *result)
{
    size_t max = (journaled? zlistx_size (journaled): 0) + result->offer_count
               + result->decline_count + result->timed_out_count;
    asked_t *asked = (asked_t *) calloc (max? max: 1, sizeof (asked_t));
    assert (asked);
    size_t count = 0;
    for (size_t item = 0; item < max; item++) {
        size_t index = item;
        const char *bank = NULL;
        if (journaled && index < zlistx_size (journaled))
            bank = ((answer_t *) (index? zlistx_next (journaled):
                                         zlistx_first (journaled)))->bank;
        else {
            index -= journaled? zlistx_size (journaled): 0;
            if (index < result->offer_count)
                bank = result->offers [index].bank;
            else
            if ((index -= result->offer_count) < result->decline_count)
                bank = result->declines [index].bank;
            else
                bank = result->timed_out [index - result->decline_count];
        }
        bool known = false;
        for (size_t seen = 0; seen < count && !known; seen++)
            known = streq (asked [seen].bank, bank);
        if (!known && *bank)
            s_copy (asked [count++].bank, sizeof (asked [0].bank), bank);
    }
    free (self->asked_banks);
    self->asked_banks = asked;
    self->asked_banks_count = count;
}

static int
s_service_compare (const void *a, const void *b)
{
    return strcmp ((*(service_t * const *) a)->name, (*(service_t * const *) b)->name);
}

//  --------------------------------------------------------------------------
//  Risk warnings (fm.warn, fm_warn.h; SPEC.md "Risk warnings")

//  Publish risk.warning for a warning raised (status 200) or lifted or
//  expired (410; text says which).  The target goes in enterprise_id or
//  grid_id, the level in count, who in peer.  Cannot fail.
static void
s_warning_publish (broker_t *self, const fm_warning_t *warning, uint16_t status,
                   const char *text)
{
    fm_event_t event;
    s_event_init (&event, FM_EV_RISK_WARNING);
    if (warning->target == FM_WARN_GRID)
        snprintf (event.grid_id, sizeof (event.grid_id), "%s", warning->target_id);
    else
        snprintf (event.enterprise_id, sizeof (event.enterprise_id), "%.*s",
                  (int) sizeof (event.enterprise_id) - 1, warning->target_id);
    event.count = warning->level;
    event.status = status;
    snprintf (event.text, sizeof (event.text), "%s", text);
    snprintf (event.peer, sizeof (event.peer), "%s", warning->raised_by);
    s_event_publish (self, &event);
}

//  Journal a warning (WARNING record, fm_journal.h) BEFORE the broker
//  acts on it: held (gone false: raised, replaced, or copied into a new
//  segment) or gone (lifted or expired, why in text).  A no-op with the
//  journal off or while loading it.  Cannot fail (a warning that does not
//  encode is a bug: logged, and a restart would not know it).
static void
s_warning_journal (broker_t *self, const fm_warning_t *warning, bool gone,
                   const char *text)
{
    if (!self->journal || self->loading)
        return;
    fm_msg_t *msg = fm_msg_new (FM_MSG_WARN);
    assert (msg);
    msg->warning = *warning;
    msg->warning.lift = gone;
    if (gone && text)
        snprintf (msg->warning.reason, sizeof (msg->warning.reason), "%s", text);
    fm_error_t err;
    zframe_t *body = fm_msg_encode (msg, &err);
    if (body)
        fm_journal_append (self->journal, FM_JOURNAL_WARNING, NULL, 0,
                           zframe_data (body), zframe_size (body));
    else
        zsys_error ("broker: cannot journal the warning on %s: %s",
                    warning->target_id, err.text);
    zframe_destroy (&body);
    fm_msg_destroy (&msg);
}

//  fm_journal roll callback: a new segment starts (broker start, or a
//  rotation at segment_max): copy every warning held into it, so that the
//  newest segment alone rebuilds the table and pruning older ones loses
//  none (fm_journal.h).  Warnings past their expiry are copied too: their
//  410 has not been published yet.
static void
s_warning_copy (void *arg, fm_journal_t *journal, uint32_t segment)
{
    (void) journal;
    (void) segment;
    broker_t *self = (broker_t *) arg;
    for (const fm_warning_t *warning = fm_warn_first (self->warnings); warning;
         warning = fm_warn_next (self->warnings))
        s_warning_journal (self, warning, false, NULL);
}

//  fm_warn callback: a warning passed its expiry (dropped from the table
//  right after; journaled gone first, so a restart publishes no second 410)
static void
s_warning_expired (void *arg, const fm_warning_t *warning)
{
    s_warning_journal ((broker_t *) arg, warning, true, "expired");
    s_warning_publish ((broker_t *) arg, warning, FM_STATUS_GONE, "expired");
}

static int s_warning_sweep (zloop_t *loop, int timer_id, void *arg);

//  (Re)arm the one-shot sweep timer for the table's next expiry, at most
//  WARN_SWEEP_MS ahead: expires_us is wall-clock time while zloop times
//  on the monotonic clock, so a clock step delays an expiry by no more
//  than that (and a sweep before the expiry is one comparison).  No
//  warning that expires, no timer.  Cannot fail.
static void
s_warning_arm (broker_t *self)
{
    if (self->warning_timer != -1)
        zloop_timer_end (self->loop, self->warning_timer);
    self->warning_timer = -1;
    int64_t expiry = fm_warn_expiry (self->warnings);
    if (expiry == 0)
        return;
    int64_t delay = (expiry - s_now_us () + 999) / 1000;
    delay = delay < 0? 0: delay > WARN_SWEEP_MS? WARN_SWEEP_MS: delay;
    self->warning_timer = zloop_timer (self->loop, (size_t) delay, 1,
                                       s_warning_sweep, self);
}

//  Sweep timer: publish risk.warning "expired" (410) for each warning
//  past its expiry, journaled like any event, then re-arm.
static int
s_warning_sweep (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    broker_t *self = (broker_t *) arg;
    self->warning_timer = -1;   //  One-shot: zloop removes it after us
    fm_warn_expire (self->warnings, s_now_us (), s_warning_expired, self);
    s_warning_arm (self);
    s_broker_flush (self);
    return 0;
}

//  fm.warn: a WARN body raises or lifts a warning; the answer is the WARN
//  with status 200 and a text, or an ERROR (400 malformed, 403 in secure
//  mode: not a gov or officer key, or an officer outside their own grid
//  (fm_auth_client), 404 lift of no warning, 503 table full).  In secure
//  mode raised_by is who the key is (fm_auth_who), whatever the body says.
static void
s_client_warn (broker_t *self, zframe_t *identity, zframe_t *body)
{
    fm_error_t err;
    fm_msg_t *msg = fm_msg_decode (zframe_data (body), zframe_size (body), &err);
    if (msg && msg->type != FM_MSG_WARN) {
        err.status = FM_STATUS_BAD_REQUEST;
        snprintf (err.text, sizeof (err.text), "fm.warn expects a warn body, got %s",
                  fm_msg_type_name (msg->type));
        fm_msg_destroy (&msg);
    }
    if (!msg) {
        s_input_rejected (self, identity, err.status, "%s: %s", FM_SERVICE_WARN, err.text);
        s_client_error (self, identity, FM_SERVICE_WARN, "", err.status, "%s", err.text);
        return;
    }
    fm_warning_t *warning = &msg->warning;
    if (self->auth) {
        if (fm_auth_client (self->auth, self->auth_key, FM_SERVICE_WARN, msg,
                            err.text, sizeof (err.text))) {
            s_client_error (self, identity, FM_SERVICE_WARN, "", FM_STATUS_FORBIDDEN,
                            "%s", err.text);
            fm_msg_destroy (&msg);
            return;
        }
        const char *who = fm_auth_who (self->auth, self->auth_key);
        snprintf (warning->raised_by, sizeof (warning->raised_by), "%s", who? who: "");
    }
    fm_warn_expire (self->warnings, s_now_us (), s_warning_expired, self);
    const char *kind = warning->target == FM_WARN_GRID? "grid": "enterprise";
    if (warning->lift) {
        fm_warning_t lifted;
        if (fm_warn_lift (self->warnings, warning->target, warning->target_id, &lifted)) {
            s_client_error (self, identity, FM_SERVICE_WARN, "", FM_STATUS_NOT_FOUND,
                            "no warning on %s %s", kind, warning->target_id);
            fm_msg_destroy (&msg);
            return;
        }
        //  Who lifted it, and why if said; the level it had
        if (*warning->raised_by)
            snprintf (lifted.raised_by, sizeof (lifted.raised_by), "%s", warning->raised_by);
        const char *why = *warning->reason? warning->reason: "lifted";
        s_warning_journal (self, &lifted, true, why);
        s_warning_publish (self, &lifted, FM_STATUS_GONE, why);
        snprintf (msg->text, sizeof (msg->text), "warning on %s %s lifted (%zu active)",
                  kind, warning->target_id, fm_warn_size (self->warnings));
    }
    else {
        int rc = fm_warn_raise (self->warnings, warning);
        if (rc < 0) {
            s_client_error (self, identity, FM_SERVICE_WARN, "", FM_STATUS_UNAVAILABLE,
                            "warning table full (%zu): lift one first",
                            fm_warn_size (self->warnings));
            fm_msg_destroy (&msg);
            return;
        }
        s_warning_journal (self, warning, false, NULL);
        s_warning_publish (self, warning, FM_STATUS_OK, warning->reason);
        if (warning->expires_us > 0)
            s_warning_arm (self);   //  Maybe earlier than the armed sweep
        snprintf (msg->text, sizeof (msg->text), "warning on %s %s %s (%zu active)",
                  kind, warning->target_id, rc? "replaced": "raised",
                  fm_warn_size (self->warnings));
    }
    msg->status = FM_STATUS_OK;
    zframe_t *answer = fm_msg_encode (msg, &err);
    if (answer)
        s_client_send (self, identity, FM_SERVICE_WARN, answer);
    else
        zsys_error ("broker: cannot encode WARN answer: %s", err.text);
    zframe_destroy (&answer);
    fm_msg_destroy (&msg);
}

//  PROFILE arrived: publish request.enriched, then ask the first round of
//  banks (broker first_round: all by default; a renewal's prior bank
//  first), each with its own deadline.  Declines and misses refer the
//  request on to the banks not yet asked.
static void
s_request_enriched (request_t *self, const fm_profile_t *profile)
{
    broker_t *broker = self->broker;
    s_slot_release (&self->gov, SLOT_DONE, true);
    self->profile = (fm_profile_t *) malloc (sizeof (fm_profile_t));
    assert (self->profile);
    *self->profile = *profile;
    if (*self->grid_id == 0)
        s_copy (self->grid_id, sizeof (self->grid_id), profile->grid_id);
    //  Risk warnings on the enterprise, the request's grid or its grid on
    //  record reach every bank in the profile (after the gov's own)
    fm_warn_match (broker->warnings, profile->enterprise_id, self->grid_id,
                   profile->grid_id, s_now_us (), self->profile->warnings,
                   sizeof (self->profile->warnings), s_warning_expired, broker);
    s_request_move (self, FM_RS_ENRICHED);
    for (size_t index = 0; index < profile->lever_count && index < FM_MAX_LEVERS; index++)
        if (streq (profile->levers [index].code, FAST_TRACK_LEVER))
            self->fast_track = true;
        else
        if (streq (profile->levers [index].code, PRIORITY_LEVER))
            self->priority = true;

    fm_event_t event;
    s_event_request (&event, FM_EV_REQUEST_ENRICHED, self);
    s_copy (event.industry, sizeof (event.industry), profile->industry);
    s_copy (event.town, sizeof (event.town), profile->town);
    event.lever_count = profile->lever_count;
    memcpy (event.levers, profile->levers, sizeof (event.levers));
    if (!self->resumed)             //  Published before the restart
        s_event_publish (broker, &event);

    //  Candidates in service-name order, so routing and timed_out lists
    //  are deterministic
    //  Sized for the bank services there are and the answers the journal
    //  kept (a resumed request's banks may have no workers now), not
    //  FM_MAX_BANKS: 9 KB zeroed per request was a third of its callocs
    size_t max = zhashx_size (broker->services)
               + (self->journaled? zlistx_size (self->journaled): 0);
    self->bank_max = max < FM_MAX_BANKS? max: FM_MAX_BANKS;
    self->banks = (slot_t *) calloc (self->bank_max? self->bank_max: 1, sizeof (slot_t));
    self->candidates = (service_t **) calloc (self->bank_max? self->bank_max: 1,
                                              sizeof (service_t *));
    assert (self->banks && self->candidates);
    service_t *service = (service_t *) zhashx_first (broker->services);
    while (service) {
        if (*service->bank && zlistx_size (service->workers)) {
            if (self->candidate_count == self->bank_max) {
                zsys_warning ("broker: more than %d banks, %s not asked",
                              FM_MAX_BANKS, service->name);
                break;
            }
            self->candidates [self->candidate_count++] = service;
        }
        service = (service_t *) zhashx_next (broker->services);
    }
    if (self->candidate_count == 0
    &&  !(self->journaled && zlistx_size (self->journaled))) {
        s_request_no_banks (self);
        return;
    }
    qsort (self->candidates, self->candidate_count, sizeof (service_t *),
           s_service_compare);
    size_t first_round = s_request_round (self, self->candidate_count);
    //  三网融合: banks paired with the town of the request's grid (the
    //  profile's town) go first and are the first round; the others hear
    //  of the request only by referral (a paired bank declined or missed)
    size_t paired = 0;
    if (*profile->town)
        for (size_t index = 0; index < self->candidate_count; index++)
            if (fm_list_has (self->candidates [index]->towns, profile->town)) {
                service_t *first = self->candidates [index];
                memmove (self->candidates + paired + 1, self->candidates + paired,
                         (index - paired) * sizeof (service_t *));
                self->candidates [paired++] = first;
            }
    if (paired > 0)
        first_round = paired;
    //  续贷: a renewal goes first to the bank of its prior loan
    //  ("<BANK>-<request id>"), and to it alone, whatever first_round
    //  says: it heads the asking order and is the whole first round.  Its
    //  decline or miss refers the request to the others (s_request_refer).
    //  A prior bank without live workers is not a candidate: the request
    //  then goes out as a new one would.
    if (self->asked.type == FM_REQ_RENEWAL && *self->asked.prior_loan_id) {
        char prior [FM_CODE_SIZE];
        size_t length = strcspn (self->asked.prior_loan_id, "-");
        snprintf (prior, sizeof (prior), "%.*s", (int) (length < sizeof (prior)?
                  length: sizeof (prior) - 1), self->asked.prior_loan_id);
        for (size_t index = 0; index < self->candidate_count; index++)
            if (streq (self->candidates [index]->bank, prior)) {
                service_t *first = self->candidates [index];
                memmove (self->candidates + 1, self->candidates, index * sizeof (service_t *));
                self->candidates [0] = first;
                first_round = 1;
                self->prior_alone = self->candidate_count > 1;
                break;
            }
    }
    self->bank_query = s_request_query (self, FM_MSG_BANK_QUERY);
    if (!self->bank_query) {
        s_request_fail (self, FM_STATUS_INTERNAL, "cannot encode bank query");
        return;
    }
    self->state = REQ_GATHERING;
    s_request_move (self, FM_RS_DISPATCHED);
    if (self->resumed)
        //  Its round's events are in the log: apply the answers the
        //  journal kept, ask only the banks that still owe one
        first_round = s_request_replay (self, first_round);
    else {
        s_event_request (&event, FM_EV_REQUEST_DISPATCHED, self);
        event.count = (uint32_t) first_round;
        s_event_publish (broker, &event);
    }

    for (size_t index = 0; index < first_round; index++) {
        size_t pending = self->banks_pending;
        s_request_ask_next (self);
        if (self->banks_pending == pending)     //  Missed at once
            s_request_refer (self, self->banks [self->bank_count - 1].service->bank,
                             "missed");
    }
    if (self->banks_pending == 0)
        s_request_complete (self);
    else
        s_request_rearm (self);
}

//  A bank answered (slot was SENT): one event per offer and decline, each
//  with the bank's response time.  A bank without offers (decline or
//  ERROR) refers the request on.
static void
s_request_answered (request_t *self, slot_t *slot, const fm_msg_t *answer)
{
    broker_t *broker = self->broker;
    int64_t latency_us = zclock_usecs () - slot->dispatched_us;
    if (latency_us < 0)
        latency_us = 0;
    fm_event_t event;
    for (size_t index = 0; index < answer->offer_count; index++) {
        const fm_offer_t *offer = &answer->offers [index];
        s_request_keep_offer (self, offer);
        s_event_request (&event, FM_EV_OFFER_MADE, self);
        s_copy (event.bank, sizeof (event.bank), offer->bank);
        s_copy (event.product, sizeof (event.product), offer->product);
        s_copy (event.offer_id, sizeof (event.offer_id), offer->offer_id);
        event.amount_fen = offer->amount_fen;
        event.term_months = offer->term_months;
        event.base_rate_bp = offer->base_rate_bp;
        event.effective_rate_bp = offer->effective_rate_bp;
        event.lever_count = offer->lever_count;
        memcpy (event.levers, offer->levers, sizeof (event.levers));
        event.latency_us = latency_us;
        s_event_publish (broker, &event);
    }
    for (size_t index = 0; index < answer->decline_count; index++) {
        const fm_decline_t *decline = &answer->declines [index];
        fm_msg_add_decline (self->result, decline);
        s_event_request (&event, FM_EV_DECLINE_MADE, self);
        s_copy (event.bank, sizeof (event.bank), decline->bank);
        if (decline->reason_count)
            event.reason_code = decline->reasons [0].code;
        //  text = "code:product;code:product..." as many whole items as fit
        size_t length = 0;
        for (size_t reason = 0; reason < decline->reason_count; reason++) {
            //  "%s%u:%s" by hand: snprintf was 3 % of the broker
            char item [FM_CODE_SIZE + 16];
            size_t size = 0;
            if (reason)
                item [size++] = ';';
            char digits [8];
            size_t count = 0;
            unsigned code = decline->reasons [reason].code;
            do
                digits [count++] = (char) ('0' + code % 10);
            while ((code /= 10) > 0);
            while (count > 0)
                item [size++] = digits [--count];
            item [size++] = ':';
            s_copy (item + size, sizeof (item) - size, decline->reasons [reason].product);
            size += strlen (item + size);
            if (length + size >= sizeof (event.text))
                break;
            memcpy (event.text + length, item, (size_t) size + 1);
            length += (size_t) size;
        }
        event.latency_us = latency_us;
        s_event_publish (broker, &event);
    }
    s_slot_release (slot, SLOT_DONE, true);
    self->banks_pending--;
    if (answer->offer_count == 0)
        s_request_refer (self, slot->service->bank, "declined");
    if (self->banks_pending == 0)
        s_request_complete (self);
    else
    if (answer->offer_count == 0)
        s_request_rearm (self);         //  A referred bank may be due first
}

//  Find this request's slot for a bank service, or NULL.
static slot_t *
s_request_bank_slot (request_t *self, service_t *service)
{
    for (size_t index = 0; index < self->bank_count; index++)
        if (self->banks [index].service == service)
            return &self->banks [index];
    return NULL;
}

//  The request's deadline passed: what that means depends on its state.
//  While gathering, every bank past its own deadline misses (and the
//  request is referred on); the heap deadline then moves to the next one.
static void
s_request_expired (request_t *self)
{
    broker_t *broker = self->broker;
    if (self->state == REQ_ENRICHING) {
        s_slot_release (&self->gov, SLOT_TIMED_OUT, true);
        s_request_fail (self, FM_STATUS_TIMEOUT,
                        "gov.credit did not answer within %" PRId64 " ms",
                        broker->gov_deadline_ms);
    }
    else
    if (self->state == REQ_GATHERING) {
        int64_t now = zclock_mono ();
        size_t asked = self->bank_count;    //  Referrals append after these
        for (size_t index = 0; index < asked; index++) {
            slot_t *slot = &self->banks [index];
            if ((slot->state == SLOT_SENT || slot->state == SLOT_QUEUED)
            &&  slot->deadline <= now) {
                s_request_missed (self, slot);
                s_request_refer (self, slot->service->bank, "missed");
            }
        }
        if (self->banks_pending == 0)
            s_request_complete (self);
        else
            s_request_rearm (self);
    }
    else
    if (self->acc_state == ACC_GRANTING) {
        const char *service = self->grant.service? self->grant.service->name: "bank";
        s_journal_write (self, FM_JOURNAL_GRANT_FAIL, NULL, 0);
        fm_event_t event;
        s_event_request (&event, FM_EV_SLA_BREACH, self);
        snprintf (event.bank, sizeof (event.bank), "%s", self->accepted->bank);
        snprintf (event.offer_id, sizeof (event.offer_id), "%s", self->accepted->offer_id);
        event.count = (uint32_t) broker->deadline_ms;
        event.latency_us = zclock_usecs () - self->grant.dispatched_us;
        if (event.latency_us < 0)
            event.latency_us = 0;
        s_event_publish (broker, &event);
        snprintf (self->grant_missed, sizeof (self->grant_missed), "%s",
                  self->accepted->offer_id);
        s_slot_release (&self->grant, SLOT_TIMED_OUT, true);
        s_clients_error (broker, self->acc_clients, FM_SERVICE_ACCEPT, self->id,
                         FM_STATUS_TIMEOUT, "%s did not confirm within %" PRId64 " ms",
                         service, broker->deadline_ms);
        s_request_unaccept (self);
        s_request_move (self, FM_RS_OFFERED);
        zframe_destroy (&self->grant_query);
    }
}


//  --------------------------------------------------------------------------
//  Re-dispatch: a worker died holding queries

//  A query the dead worker held: which request, which of its slots
typedef enum { ORPHAN_GOV, ORPHAN_BANK, ORPHAN_GRANT } orphan_kind_t;
typedef struct {
    char id [FM_REQUEST_ID_SIZE];
    orphan_kind_t kind;
} orphan_t;

static bool
s_slot_held_by (slot_t *slot, const char *key)
{
    return slot->state == SLOT_SENT && slot->worker_key && streq (slot->worker_key, key);
}

//  One orphaned slot (state SENT, its worker gone).  While its deadline
//  leaves time and the service has another live worker, the query goes
//  there (or waits in the queue for its capacity); the deadline stays the
//  one the request had.  Else a bank query misses: bank.timeout, once,
//  and the request is referred on as after any miss.  A gov or grant
//  query with no worker left waits in the queue for one to register
//  until its deadline (then 504 as before).  Cannot fail.
static void
s_slot_orphaned (request_t *request, slot_t *slot, orphan_kind_t kind)
{
    service_t *service = slot->service;
    zstr_free (&slot->worker_key);      //  Its capacity died with it
    slot->state = SLOT_IDLE;
    bool time_left = kind != ORPHAN_BANK || slot->deadline > zclock_mono ();
    int rc = -1;
    if (time_left && zlistx_size (service->workers) > 0)
        rc = s_slot_dispatch (slot, service, slot->body);
    else
    if (time_left && kind != ORPHAN_BANK)
        rc = s_slot_enqueue (slot, service);
    if (rc == 0) {
        zsys_info ("broker: %s query of %s re-dispatched (%s)", service->name,
                   request->id, slot->state == SLOT_SENT? "sent": "queued");
        return;
    }
    if (kind == ORPHAN_BANK) {
        slot->state = SLOT_SENT;        //  Pending, so that missed counts it
        s_request_missed (request, slot);
        s_request_refer (request, service->bank, "missed");
        if (request->banks_pending == 0)
            s_request_complete (request);
        else
            s_request_rearm (request);
    }
    else {
        //  Queue full: the request's deadline ends it as if unanswered
        slot->state = SLOT_TIMED_OUT;
        zsys_warning ("broker: %s query of %s lost with its worker", service->name,
                      request->id);
    }
}

//  Find the queries a deleted worker (key, of service) held and hand each
//  to s_slot_orphaned.  O(requests): workers die rarely.  Cannot fail.
static void
s_worker_orphans (broker_t *self, service_t *service, const char *key)
{
    zlistx_t *orphans = zlistx_new ();
    assert (orphans);
    zlistx_set_destructor (orphans, (czmq_destructor *) zstr_free);
    request_t *request = (request_t *) zhashx_first (self->requests);
    while (request) {
        orphan_t found = { "", ORPHAN_GOV };
        bool held = false;
        if (request->state == REQ_ENRICHING && s_slot_held_by (&request->gov, key))
            held = true;
        else
        if (request->state == REQ_GATHERING) {
            slot_t *slot = s_request_bank_slot (request, service);
            held = slot && s_slot_held_by (slot, key);
            found.kind = ORPHAN_BANK;
        }
        else
        if (request->acc_state == ACC_GRANTING && s_slot_held_by (&request->grant, key)) {
            held = true;
            found.kind = ORPHAN_GRANT;
        }
        if (held) {
            orphan_t *orphan = (orphan_t *) malloc (sizeof (orphan_t));
            assert (orphan);
            *orphan = found;
            memcpy (orphan->id, request->id, sizeof (orphan->id));
            zlistx_add_end (orphans, orphan);
        }
        request = (request_t *) zhashx_next (self->requests);
    }
    //  Look each up again: handling one may complete or end others
    orphan_t *orphan = (orphan_t *) zlistx_first (orphans);
    while (orphan) {
        request = (request_t *) zhashx_lookup (self->requests, orphan->id);
        slot_t *slot = !request? NULL
                     : orphan->kind == ORPHAN_GOV? &request->gov
                     : orphan->kind == ORPHAN_GRANT? &request->grant
                     : request->state == REQ_GATHERING? s_request_bank_slot (request, service)
                     : NULL;
        if (slot && s_slot_held_by (slot, key))
            s_slot_orphaned (request, slot, orphan->kind);
        orphan = (orphan_t *) zlistx_next (orphans);
    }
    zlistx_destroy (&orphans);
}


//  --------------------------------------------------------------------------
//  Client side: fm.request, fm.accept, mmi.*

//  Start matching a received (or resumed) request: CREDIT_QUERY to
//  gov.credit with a fresh gov_deadline_ms, or fail it (503) when no gov
//  worker is there.  After a restart, until a gov worker registered, it
//  waits for one in the queue instead (504 at gov_deadline_ms).  A
//  request resumed with a journaled PROFILE skips gov.credit.  Cannot
//  fail.
static void
s_request_start (request_t *request)
{
    broker_t *self = request->broker;
    if (request->profile) {
        //  Resumed, its PROFILE journaled: gov.credit answered before the
        //  restart; go on with the banks that have not answered
        fm_profile_t *profile = request->profile;
        request->profile = NULL;
        request->resumed = true;
        s_request_enriched (request, profile);
        free (profile);
        return;
    }
    service_t *gov = (service_t *) zhashx_lookup (self->services, FM_SERVICE_GOV);
    if ((!gov || zlistx_size (gov->workers) == 0) && self->resume_timer != -1) {
        //  Just restarted: workers are still coming back; start it with
        //  the resumed ones (s_resume) rather than refuse it
        zlistx_add_end (self->resuming, strdup (request->id));
        return;
    }
    if ((!gov || zlistx_size (gov->workers) == 0)
    &&  (self->resuming_now || self->gov_awaited))
        //  Resumed after a restart, or new since, and gov.credit is not
        //  back yet (none registered since the restart): wait in its
        //  queue for a worker, up to gov_deadline_ms (then 504)
        gov = s_service_require (self, FM_SERVICE_GOV);
    else
    if (!gov || zlistx_size (gov->workers) == 0) {
        s_request_fail (request, FM_STATUS_UNAVAILABLE,
                        "no %s worker: enterprise data unavailable", FM_SERVICE_GOV);
        return;
    }
    if (!request->gov_query)
        request->gov_query = s_request_query (request, FM_MSG_CREDIT_QUERY);
    if (!request->gov_query) {
        s_request_fail (request, FM_STATUS_INTERNAL, "cannot encode credit query");
        return;
    }
    request->gov.service = gov;
    request->gov.body = request->gov_query;
    int rc = !gov? -1
           : zlistx_size (gov->workers) == 0? s_slot_enqueue (&request->gov, gov)
           : s_slot_dispatch (&request->gov, gov, request->gov_query);
    if (rc) {
        s_request_fail (request, FM_STATUS_UNAVAILABLE, "%s is overloaded", FM_SERVICE_GOV);
        return;
    }
    s_deadline_set (request, self->gov_deadline_ms);
}

//  REQUEST on fm.request (msg valid, borrowed; body = the REQUEST body it
//  was decoded from, borrowed).
static void
s_client_request (broker_t *self, zframe_t *identity, const fm_msg_t *msg,
                  zframe_t *body)
{
    char id [FM_REQUEST_ID_SIZE];
    fm_request_id_make (msg->request.enterprise_id, msg->request.idem_key, id);
    request_t *request = (request_t *) zhashx_lookup (self->requests, id);
    if (request) {
        //  Idempotency: the same key means the same request
        if (!s_request_same (&request->asked, &msg->request))
            s_client_error (self, identity, FM_SERVICE_REQUEST, id, FM_STATUS_CONFLICT,
                            "idempotency key '%s' was already used for a different request",
                            msg->request.idem_key);
        else
        if (request->state == REQ_DONE)
            s_client_send (self, identity, FM_SERVICE_REQUEST, request->result_body);
        else
            s_waiters_add (request->clients, identity);
        return;
    }
    if ((int64_t) self->inflight >= self->max_inflight) {
        //  SPEC 14.3: refused before it exists, so no events
        s_client_error (self, identity, FM_SERVICE_REQUEST, id, FM_STATUS_UNAVAILABLE,
                        "broker busy: %" PRId64 " requests in flight", self->max_inflight);
        return;
    }
    request = s_request_new (self, id, &msg->request);
    if (!request) {
        s_client_error (self, identity, FM_SERVICE_REQUEST, id, FM_STATUS_INTERNAL,
                        "out of memory");
        return;
    }
    zhashx_insert (self->requests, id, request);
    s_waiters_add (request->clients, identity);
    //  Titanic (9/TSP): persisted before anything happens about it
    s_journal_request (request, body);
    fm_event_t event;
    s_event_request (&event, FM_EV_REQUEST_RECEIVED, request);
    event.amount_fen = request->asked.amount_fen;
    event.term_months = request->asked.term_months;
    s_copy (event.text, sizeof (event.text), request->asked.purpose);
    s_utf8_trim (event.text);
    s_event_publish (self, &event);
    s_request_start (request);
}

//  Find an offer in a stored RESULT body.  Returns 0 and fills *offer, or
//  -1 if the offer is not in it.
static int
s_result_offer (zframe_t *result_body, const char *offer_id, fm_offer_t *offer)
{
    fm_error_t err;
    fm_msg_t *result = fm_msg_decode (zframe_data (result_body),
                                      zframe_size (result_body), &err);
    int rc = -1;
    for (size_t index = 0; result && index < result->offer_count; index++) {
        if (streq (result->offers [index].offer_id, offer_id)) {
            *offer = result->offers [index];
            rc = 0;
            break;
        }
    }
    fm_msg_destroy (&result);
    return rc;
}

//  True if an offer of a retained request was withdrawn by its bank.
static bool
s_request_withdrew (request_t *self, const char *offer_id)
{
    withdrawal_t *withdrawal = self->withdrawn?
        (withdrawal_t *) zlistx_first (self->withdrawn): NULL;
    while (withdrawal) {
        if (streq (withdrawal->offer_id, offer_id))
            return true;
        withdrawal = (withdrawal_t *) zlistx_next (self->withdrawn);
    }
    return false;
}

//  Offers expire by the clock, not by an event: when an accept or a status
//  query finds that no offer of an offered (or withdrawn) request is still
//  valid, the request moves to expired and request.expired is published.
//  Cannot fail.
static void
s_request_check_expiry (request_t *self)
{
    if ((self->life != FM_RS_OFFERED && self->life != FM_RS_WITHDRAWN)
    ||  !self->result_body)
        return;
    fm_error_t err;
    fm_msg_t *result = fm_msg_decode (zframe_data (self->result_body),
                                      zframe_size (self->result_body), &err);
    if (!result)
        return;
    int64_t now = s_now_us ();
    size_t valid = 0;
    for (size_t index = 0; index < result->offer_count; index++)
        if (result->offers [index].valid_until_us >= now
        &&  !s_request_withdrew (self, result->offers [index].offer_id))
            valid++;
    fm_msg_destroy (&result);
    if (valid == 0 && s_request_move (self, FM_RS_EXPIRED) == 0) {
        fm_event_t event;
        s_event_request (&event, FM_EV_REQUEST_EXPIRED, self);
        s_event_publish (self->broker, &event);
    }
}

//  STATUS_QUERY on fm.status (msg valid, borrowed): where the request
//  stands, from the broker's memory (in flight or retained).
static void
s_client_status (broker_t *self, zframe_t *identity, const fm_msg_t *msg)
{
    const char *id = msg->request_id;
    request_t *request = (request_t *) zhashx_lookup (self->requests, id);
    if (!request) {
        s_client_error (self, identity, FM_SERVICE_STATUS, id, FM_STATUS_NOT_FOUND,
                        "unknown request %s (finished long ago, failed, or never "
                        "sent): try the event log", id);
        return;
    }
    if (*msg->request.enterprise_id
    &&  strneq (request->asked.enterprise_id, msg->request.enterprise_id)) {
        s_client_error (self, identity, FM_SERVICE_STATUS, id, FM_STATUS_FORBIDDEN,
                        "request %s belongs to another enterprise", id);
        return;
    }
    s_request_check_expiry (request);
    fm_msg_t *status = fm_msg_new (FM_MSG_STATUS);
    assert (status);
    snprintf (status->request_id, sizeof (status->request_id), "%s", id);
    status->request = request->asked;
    status->status = FM_STATUS_OK;
    snprintf (status->state, sizeof (status->state), "%s", fm_lifecycle_name (request->life));
    if (request->accepted)
        snprintf (status->offer_id, sizeof (status->offer_id), "%s",
                  request->accepted->offer_id);
    size_t pending = 0;
    if (request->banks)
        for (size_t index = 0; index < request->bank_count; index++) {
            slot_t *slot = &request->banks [index];
            fm_msg_add_asked (status, slot->service->bank);
            if (slot->state == SLOT_SENT || slot->state == SLOT_QUEUED)
                pending++;
        }
    else
        for (size_t index = 0; index < request->asked_banks_count; index++)
            fm_msg_add_asked (status, request->asked_banks [index].bank);
    fm_error_t err;
    const fm_msg_t *source = request->result;
    fm_msg_t *stored = NULL;
    if (request->result_body)
        source = stored = fm_msg_decode (zframe_data (request->result_body),
                                         zframe_size (request->result_body), &err);
    if (source) {
        for (size_t index = 0; index < source->decline_count; index++)
            fm_msg_add_decline (status, &source->declines [index]);
        for (size_t index = 0; index < source->timed_out_count; index++)
            fm_msg_add_timed_out (status, source->timed_out [index]);
        for (size_t index = 0; index < source->offer_count; index++)
            fm_msg_add_offer (status, &source->offers [index]);
    }
    if (!stored)                        //  Still gathering: offers so far
        for (size_t index = 0; index < request->offer_count; index++)
            fm_msg_add_offer (status, &request->offers [index]);
    fm_msg_destroy (&stored);
    snprintf (status->text, sizeof (status->text),
              "%s: %zu asked, %zu offers, %zu declined, %zu missed, %zu pending",
              status->state, status->asked_count, status->offer_count,
              status->decline_count, status->timed_out_count, pending);
    zframe_t *body = s_encode_fitting (status, &err);
    if (body)
        s_client_send (self, identity, FM_SERVICE_STATUS, body);
    else
        s_client_error (self, identity, FM_SERVICE_STATUS, id, FM_STATUS_INTERNAL,
                        "cannot encode status: %s", err.text);
    zframe_destroy (&body);
    fm_msg_destroy (&status);
}

//  ACCEPT on fm.accept (msg valid, borrowed).
static void
s_client_accept (broker_t *self, zframe_t *identity, const fm_msg_t *msg)
{
    const char *id = msg->request_id;
    request_t *request = (request_t *) zhashx_lookup (self->requests, id);
    if (!request) {
        s_client_error (self, identity, FM_SERVICE_ACCEPT, id, FM_STATUS_NOT_FOUND,
                        "unknown request %s", id);
        return;
    }
    if (strneq (request->asked.enterprise_id, msg->request.enterprise_id)) {
        s_client_error (self, identity, FM_SERVICE_ACCEPT, id, FM_STATUS_FORBIDDEN,
                        "request %s belongs to another enterprise", id);
        if (self->auth)
            s_auth_denied (self, self->auth_key, FM_SERVICE_ACCEPT,
                           "accept for a request of another enterprise");
        return;
    }
    if (request->state != REQ_DONE) {
        s_client_error (self, identity, FM_SERVICE_ACCEPT, id, FM_STATUS_NOT_FOUND,
                        "request %s has no offers yet", id);
        return;
    }
    if (request->life == FM_RS_DECLINED) {
        s_client_error (self, identity, FM_SERVICE_ACCEPT, id, FM_STATUS_NOT_FOUND,
                        "request %s has no offer: every bank declined or missed", id);
        return;
    }
    if (request->acc_state != ACC_NONE) {
        if (strneq (request->accepted->offer_id, msg->offer_id))
            s_client_error (self, identity, FM_SERVICE_ACCEPT, id, FM_STATUS_CONFLICT,
                            "offer %s was already accepted for request %s",
                            request->accepted->offer_id, id);
        else
        if (request->acc_state == ACC_GRANTED)
            s_client_send (self, identity, FM_SERVICE_ACCEPT, request->confirmation);
        else
            s_waiters_add (request->acc_clients, identity);
        return;
    }
    withdrawal_t *withdrawal = request->withdrawn?
        (withdrawal_t *) zlistx_first (request->withdrawn): NULL;
    while (withdrawal) {
        if (streq (withdrawal->offer_id, msg->offer_id)) {
            s_client_send (self, identity, FM_SERVICE_ACCEPT, withdrawal->confirmation);
            return;
        }
        withdrawal = (withdrawal_t *) zlistx_next (request->withdrawn);
    }
    fm_offer_t offer;
    if (s_result_offer (request->result_body, msg->offer_id, &offer)) {
        s_client_error (self, identity, FM_SERVICE_ACCEPT, id, FM_STATUS_NOT_FOUND,
                        "unknown offer %s in request %s", msg->offer_id, id);
        return;
    }
    if (offer.valid_until_us < s_now_us ()) {
        s_client_error (self, identity, FM_SERVICE_ACCEPT, id, FM_STATUS_GONE,
                        "offer %s has expired", msg->offer_id);
        s_request_check_expiry (request);
        return;
    }
    char name [FM_SERVICE_SIZE];
    snprintf (name, sizeof (name), "%s%s", FM_SERVICE_BANK_PREFIX, offer.bank);
    service_t *service = (service_t *) zhashx_lookup (self->services, name);
    if (!service || zlistx_size (service->workers) == 0) {
        s_client_error (self, identity, FM_SERVICE_ACCEPT, id, FM_STATUS_UNAVAILABLE,
                        "%s has no worker to confirm the loan", name);
        return;
    }
    fm_msg_t *query = fm_msg_new (FM_MSG_GRANT_QUERY);
    assert (query);
    snprintf (query->request_id, sizeof (query->request_id), "%s", id);
    query->request = request->asked;
    snprintf (query->request.grid_id, sizeof (query->request.grid_id), "%s",
              request->grid_id);
    fm_msg_add_offer (query, &offer);
    fm_error_t err;
    request->grant_query = fm_msg_encode (query, &err);
    fm_msg_destroy (&query);
    if (!request->grant_query) {
        zsys_error ("broker: cannot encode GRANT_QUERY for %s: %s", id, err.text);
        s_client_error (self, identity, FM_SERVICE_ACCEPT, id, FM_STATUS_INTERNAL,
                        "cannot encode grant query");
        return;
    }
    request->grant.request = request;
    request->grant.dispatched_us = zclock_usecs ();
    //  Journaled before the bank hears of it: after a restart the grant is
    //  asked again (same loan id), never granted twice
    s_journal_write (request, FM_JOURNAL_ACCEPT, offer.offer_id, strlen (offer.offer_id));
    if (s_slot_dispatch (&request->grant, service, request->grant_query)) {
        s_journal_write (request, FM_JOURNAL_GRANT_FAIL, NULL, 0);
        zframe_destroy (&request->grant_query);
        s_client_error (self, identity, FM_SERVICE_ACCEPT, id, FM_STATUS_UNAVAILABLE,
                        "%s is overloaded", name);
        return;
    }
    request->acc_state = ACC_GRANTING;
    s_request_move (request, FM_RS_ACCEPTED);
    request->accepted = (fm_offer_t *) malloc (sizeof (fm_offer_t));
    assert (request->accepted);
    *request->accepted = offer;
    s_waiters_add (request->acc_clients, identity);
    fm_event_t event;
    s_event_request (&event, FM_EV_OFFER_ACCEPTED, request);
    snprintf (event.bank, sizeof (event.bank), "%s", offer.bank);
    snprintf (event.offer_id, sizeof (event.offer_id), "%s", offer.offer_id);
    event.amount_fen = offer.amount_fen;
    s_event_publish (self, &event);
    s_deadline_set (request, self->deadline_ms);
}

//  8/MMI: body = service name as plain text.  Replies 200, 404 or 501.
static void
s_client_mmi (broker_t *self, zframe_t *identity, const char *service,
              zframe_t *body)
{
    const char *status = "501";
    if (streq (service, FM_SERVICE_MMI)) {
        char name [FM_SERVICE_SIZE];
        s_printable (zframe_data (body), zframe_size (body), name, sizeof (name));
        if (streq (name, FM_SERVICE_REQUEST) || streq (name, FM_SERVICE_ACCEPT)
        ||  streq (name, FM_SERVICE_STATUS) || streq (name, FM_SERVICE_REPLAY)
        ||  streq (name, FM_SERVICE_WARN))
            status = "200";
        else
            status = s_service_live (self, name)? "200": "404";
    }
    zframe_t *reply = zframe_new (status, 3);
    s_client_send (self, identity, service, reply);
    zframe_destroy (&reply);
}

//  fm.replay: body = "<epoch> <from_seq> <to_seq>" as text; the answer is
//  a status line and the stored event bodies (fm_replay.h).  In secure
//  mode only monitor keys, the ones that may read the event stream.
static void
s_client_replay (broker_t *self, zframe_t *identity, zframe_t *body)
{
    const char *role = self->auth && self->auth_key?
                       fm_auth_role (self->auth, self->auth_key): NULL;
    if (self->auth && (!role || strneq (role, FM_ROLE_MONITOR))) {
        s_client_error (self, identity, FM_SERVICE_REPLAY, "", FM_STATUS_FORBIDDEN,
                        "fm.replay is for monitor keys");
        return;
    }
    zmsg_t *answer = fm_replay_answer (self->replay, zframe_data (body),
                                       zframe_size (body));
    zmsg_pushstr (answer, FM_SERVICE_REPLAY);
    zmsg_pushstr (answer, FM_MDPC);
    zmsg_pushmem (answer, "", 0);
    zmsg_push (answer, zframe_dup (identity));
    s_broker_flush (self);
    if (zmsg_send (&answer, self->router))
        zmsg_destroy (&answer);
}

//  A client message: [service][body] left in msg after the envelope.
//  One switch over the service classes, as in proto/SPEC.md 14.2
//  (clients are stateless: every message stands alone).
typedef enum {
    CLIENT_SERVICE_REQUEST,         //  fm.request: REQUEST -> RESULT | ERROR
    CLIENT_SERVICE_ACCEPT,          //  fm.accept: ACCEPT -> CONFIRMATION | ERROR
    CLIENT_SERVICE_STATUS,          //  fm.status: STATUS_QUERY -> STATUS | ERROR
    CLIENT_SERVICE_MMI,             //  mmi.*: "200" | "404" | "501"
    CLIENT_SERVICE_REPLAY,          //  fm.replay: text -> status + events
    CLIENT_SERVICE_WARN,            //  fm.warn: WARN -> WARN | ERROR
    CLIENT_SERVICE_WORKER,          //  gov.credit, bank.*: ERROR 403
    CLIENT_SERVICE_UNKNOWN          //  anything else: ERROR 501
} client_service_t;

static void
s_client_message (broker_t *self, zframe_t *identity, zmsg_t *msg)
{
    zframe_t *service_frame = zmsg_pop (msg);
    if (!service_frame) {
        s_input_rejected (self, identity, FM_STATUS_BAD_REQUEST,
                          "client message without service frame");
        return;
    }
    char service [FM_SERVICE_SIZE];
    s_printable (zframe_data (service_frame), zframe_size (service_frame),
                 service, sizeof (service));
    bool service_ok = zframe_size (service_frame) > 0
                   && zframe_size (service_frame) < FM_SERVICE_SIZE
                   && strlen (service) == zframe_size (service_frame)
                   && !strchr (service, '?');
    zframe_t *body = zmsg_pop (msg);
    if (!body || zmsg_size (msg) > 0) {
        //  SPEC 14.2: a header that does not parse gets no reply
        s_input_rejected (self, identity, FM_STATUS_BAD_REQUEST,
                          "client message on '%s' needs exactly one body frame", service);
        zframe_destroy (&service_frame);
        zframe_destroy (&body);
        return;
    }
    if (!service_ok) {
        s_input_rejected (self, identity, FM_STATUS_BAD_REQUEST,
                          "invalid service name '%s'", service);
        zframe_destroy (&service_frame);
        zframe_destroy (&body);
        return;
    }
    if (self->verbose)
        zsys_debug ("broker: <- client %s (%zu bytes)", service, zframe_size (body));
    self->auth_key = self->auth? self->peer_key: NULL;

    client_service_t kind = CLIENT_SERVICE_UNKNOWN;
    if (streq (service, FM_SERVICE_REQUEST))
        kind = CLIENT_SERVICE_REQUEST;
    else
    if (streq (service, FM_SERVICE_ACCEPT))
        kind = CLIENT_SERVICE_ACCEPT;
    else
    if (streq (service, FM_SERVICE_STATUS))
        kind = CLIENT_SERVICE_STATUS;
    else
    if (strncmp (service, "mmi.", 4) == 0)
        kind = CLIENT_SERVICE_MMI;
    else
    if (streq (service, FM_SERVICE_REPLAY))
        kind = CLIENT_SERVICE_REPLAY;
    else
    if (streq (service, FM_SERVICE_WARN))
        kind = CLIENT_SERVICE_WARN;
    else
    if (s_worker_service_valid (service_frame))
        kind = CLIENT_SERVICE_WORKER;

    fm_msg_type_t expected = kind == CLIENT_SERVICE_REQUEST? FM_MSG_REQUEST
                           : kind == CLIENT_SERVICE_STATUS? FM_MSG_STATUS_QUERY
                           : FM_MSG_ACCEPT;
    fm_msg_t *decoded = NULL;
    fm_error_t err;
    switch (kind) {
        case CLIENT_SERVICE_REQUEST:
        case CLIENT_SERVICE_ACCEPT:
        case CLIENT_SERVICE_STATUS:
            //  The broker's client reader: no 3 KB message calloc'ed per
            //  body; decoded is read here only, never kept
            decoded = fm_msg_reader_decode (self->client_reader, zframe_data (body),
                                            zframe_size (body), &err);
            if (!decoded) {
                s_input_rejected (self, identity, err.status, "%s: %s", service, err.text);
                s_client_error (self, identity, service, "", err.status, "%s", err.text);
            }
            else
            if (decoded->type != expected) {
                s_input_rejected (self, identity, FM_STATUS_BAD_REQUEST,
                                  "%s expects a %s body, got %s", service,
                                  fm_msg_type_name (expected),
                                  fm_msg_type_name (decoded->type));
                s_client_error (self, identity, service, decoded->request_id,
                                FM_STATUS_BAD_REQUEST, "%s expects a %s body, got %s",
                                service, fm_msg_type_name (expected),
                                fm_msg_type_name (decoded->type));
            }
            else
            if (self->auth
            &&  fm_auth_client (self->auth, self->auth_key, service, decoded,
                                err.text, sizeof (err.text)))
                s_client_error (self, identity, service, decoded->request_id,
                                FM_STATUS_FORBIDDEN, "%s", err.text);
            else
            if (kind == CLIENT_SERVICE_REQUEST)
                s_client_request (self, identity, decoded, body);
            else
            if (kind == CLIENT_SERVICE_STATUS)
                s_client_status (self, identity, decoded);
            else
                s_client_accept (self, identity, decoded);
            //  decoded is the client reader's (valid until its next
            //  decode): not freed
            break;
        case CLIENT_SERVICE_MMI:
            s_client_mmi (self, identity, service, body);
            break;
        case CLIENT_SERVICE_REPLAY:
            s_client_replay (self, identity, body);
            break;
        case CLIENT_SERVICE_WARN:
            s_client_warn (self, identity, body);
            break;
        case CLIENT_SERVICE_WORKER:
            s_client_error (self, identity, service, "", FM_STATUS_FORBIDDEN,
                            "%s is a worker service: clients may call fm.request, "
                            "fm.accept, fm.status and mmi.*", service);
            break;
        case CLIENT_SERVICE_UNKNOWN:
            s_client_error (self, identity, service, "", FM_STATUS_NOT_IMPLEMENTED,
                            "unknown service %s", service);
            break;
    }
    zframe_destroy (&service_frame);
    zframe_destroy (&body);
}


//  --------------------------------------------------------------------------
//  Worker side

//  Publish reply.late for an answer nobody waits for any more.  When the
//  request still remembers asking this bank, latency_us says how long the
//  answer took: how late it is, against the bank's deadline.
static void
s_reply_late (broker_t *self, worker_t *worker, const char *request_id)
{
    fm_event_t event;
    s_event_init (&event, FM_EV_LATE_REPLY);
    snprintf (event.request_id, sizeof (event.request_id), "%s", request_id);
    snprintf (event.bank, sizeof (event.bank), "%s", worker->service->bank);
    snprintf (event.service, sizeof (event.service), "%s", worker->service->name);
    request_t *request = (request_t *) zhashx_lookup (self->requests, request_id);
    int64_t dispatched_us = 0;
    if (request && *worker->service->bank) {
        for (size_t index = 0; request->banks && index < request->bank_count; index++)
            if (request->banks [index].service == worker->service)
                dispatched_us = request->banks [index].dispatched_us;
        for (size_t index = 0; index < request->asked_banks_count; index++)
            if (streq (request->asked_banks [index].bank, worker->service->bank))
                dispatched_us = request->asked_banks [index].dispatched_us;
    }
    if (dispatched_us && zclock_usecs () > dispatched_us)
        event.latency_us = zclock_usecs () - dispatched_us;
    s_event_publish (self, &event);
}

//  True if a bank answer is about this bank only: bank field, each offer's
//  bank and offer id "<BANK>/<PRODUCT>", each decline's bank.
static bool
s_answer_consistent (const fm_msg_t *answer, const char *bank, char *why, size_t size)
{
    if (strneq (answer->bank, bank)) {
        snprintf (why, size, "bank_answer from bank.%s names bank '%s'", bank, answer->bank);
        return false;
    }
    size_t length = strlen (bank);
    for (size_t index = 0; index < answer->offer_count; index++) {
        const fm_offer_t *offer = &answer->offers [index];
        //  offer_id == "<bank>/<product>", compared in place (no snprintf
        //  per offer); the text is built only to say what is wrong
        bool offer_id_ok = strncmp (offer->offer_id, bank, length) == 0
                        && offer->offer_id [length] == '/'
                        && streq (offer->offer_id + length + 1, offer->product);
        if (strneq (offer->bank, bank) || !offer_id_ok) {
            char offer_id [FM_OFFER_ID_SIZE + FM_CODE_SIZE];
            snprintf (offer_id, sizeof (offer_id), "%s/%s", bank, offer->product);
            snprintf (why, size, "bank.%s offer '%s' is not %s", bank,
                      offer->offer_id, offer_id);
            return false;
        }
    }
    for (size_t index = 0; index < answer->decline_count; index++)
        if (strneq (answer->declines [index].bank, bank)) {
            snprintf (why, size, "bank.%s decline names bank '%s'", bank,
                      answer->declines [index].bank);
            return false;
        }
    return true;
}

//  CONFIRMATION (or ERROR) for the pending grant of a request.
static void
s_accept_answered (request_t *request, const fm_msg_t *answer)
{
    broker_t *self = request->broker;
    s_heap_remove (self, request);
    s_slot_release (&request->grant, SLOT_DONE, true);
    zframe_destroy (&request->grant_query);
    fm_event_t event;
    if (answer->type == FM_MSG_ERROR) {
        s_journal_write (request, FM_JOURNAL_GRANT_FAIL, NULL, 0);
        s_clients_error (self, request->acc_clients, FM_SERVICE_ACCEPT, request->id,
                         answer->status, "bank.%s: %s", request->accepted->bank,
                         answer->text);
        s_request_unaccept (request);
        s_request_move (request, FM_RS_OFFERED);
        return;
    }
    const fm_confirmation_t *confirmation = &answer->confirmation;
    fm_msg_t *reply = fm_msg_new (FM_MSG_CONFIRMATION);
    assert (reply);
    snprintf (reply->request_id, sizeof (reply->request_id), "%s", request->id);
    reply->request = request->asked;
    reply->confirmation = *confirmation;
    fm_error_t err;
    zframe_t *body = fm_msg_encode (reply, &err);
    fm_msg_destroy (&reply);
    if (!body) {
        s_journal_write (request, FM_JOURNAL_GRANT_FAIL, NULL, 0);
        s_clients_error (self, request->acc_clients, FM_SERVICE_ACCEPT, request->id,
                         FM_STATUS_INTERNAL, "cannot encode confirmation: %s", err.text);
        s_request_unaccept (request);
        s_request_move (request, FM_RS_OFFERED);
        return;
    }
    const fm_offer_t *offer = request->accepted;
    s_journal_frame (request, FM_JOURNAL_CONFIRM, body);
    if (confirmation->granted) {
        s_event_request (&event, FM_EV_LOAN_GRANTED, request);
        snprintf (event.bank, sizeof (event.bank), "%s", offer->bank);
        snprintf (event.product, sizeof (event.product), "%s", offer->product);
        snprintf (event.offer_id, sizeof (event.offer_id), "%s", offer->offer_id);
        snprintf (event.loan_id, sizeof (event.loan_id), "%s", confirmation->loan_id);
        event.amount_fen = confirmation->amount_fen;
        event.term_months = confirmation->term_months;
        event.base_rate_bp = confirmation->base_rate_bp;
        event.effective_rate_bp = confirmation->effective_rate_bp;
        event.lever_count = offer->lever_count;
        memcpy (event.levers, offer->levers, sizeof (event.levers));
        s_event_publish (self, &event);
        request->acc_state = ACC_GRANTED;
        s_request_move (request, FM_RS_GRANTED);
        request->confirmation = body;
        s_clients_send (self, request->acc_clients, FM_SERVICE_ACCEPT, body);
    }
    else {
        s_event_request (&event, FM_EV_OFFER_WITHDRAWN, request);
        event.grid_id [0] = 0;      //  Not in this event's field set
        snprintf (event.bank, sizeof (event.bank), "%s", offer->bank);
        snprintf (event.offer_id, sizeof (event.offer_id), "%s", offer->offer_id);
        snprintf (event.text, sizeof (event.text), "%s", confirmation->text);
        s_event_publish (self, &event);
        s_clients_send (self, request->acc_clients, FM_SERVICE_ACCEPT, body);
        s_request_keep_withdrawal (request, body);
        s_request_move (request, FM_RS_WITHDRAWN);
    }
}

//  REPLY from a registered worker: frames = [reply-to][""][body], count
//  = how many frames the message had after the command (3 when well
//  formed; frames holds the first min (count, 3)).  Frames are borrowed
//  bytes: straight from the ROUTER's zmq_msg_t parts on the hot path
//  (s_router_recv), from a zmsg_t otherwise.  Routes the answer to the
//  slot that asked for it, or publishes reply.late.
static void
s_worker_answer (broker_t *self, zframe_t *identity, worker_t *worker,
                 const view_t *frames, size_t count)
{
    const view_t *reply_to = count > 0? &frames [0]: NULL;
    const view_t *body = count > 2? &frames [2]: NULL;
    fm_msg_t *answer = NULL;
    char id [FM_REQUEST_ID_SIZE] = "";
    if (reply_to && reply_to->size == FM_REQUEST_ID_SIZE - 1) {
        memcpy (id, reply_to->data, FM_REQUEST_ID_SIZE - 1);
        id [FM_REQUEST_ID_SIZE - 1] = 0;
    }
    fm_error_t err;
    service_t *service = worker->service;
    bool is_gov = *service->bank == 0;
    char why [FM_TEXT_SIZE];

    if (count != 3 || frames [1].size != 0)
        s_worker_reject (self, identity, worker, FM_STATUS_BAD_REQUEST,
                         "REPLY needs [reply-to][\"\"][body]");
    else
    if (!fm_request_id_valid (id))
        s_worker_reject (self, identity, worker, FM_STATUS_BAD_REQUEST,
                         "REPLY reply-to is not a request id");
    else
    if (!(answer = fm_msg_reader_decode (self->reader, body->data, body->size, &err)))
        //  SPEC 14.1: the worker stays; the request waits for its deadline
        s_input_rejected (self, identity, err.status, "%s: %s", service->name, err.text);
    else
    if (strneq (answer->request_id, id))
        s_worker_reject (self, identity, worker, FM_STATUS_BAD_REQUEST,
                         "reply-to %s but body request_id '%s'", id, answer->request_id);
    else
    if (is_gov && answer->type != FM_MSG_PROFILE && answer->type != FM_MSG_ERROR)
        s_worker_reject (self, identity, worker, FM_STATUS_BAD_REQUEST,
                         "gov.credit may answer profile or error, not %s",
                         fm_msg_type_name (answer->type));
    else
    if (!is_gov && answer->type != FM_MSG_BANK_ANSWER
    &&  answer->type != FM_MSG_CONFIRMATION && answer->type != FM_MSG_ERROR)
        s_worker_reject (self, identity, worker, FM_STATUS_BAD_REQUEST,
                         "%s may answer bank_answer, confirmation or error, not %s",
                         service->name, fm_msg_type_name (answer->type));
    else
    if (answer->type == FM_MSG_BANK_ANSWER
    &&  !s_answer_consistent (answer, service->bank, why, sizeof (why)))
        s_worker_reject (self, identity, worker, FM_STATUS_BAD_REQUEST, "%s", why);
    else {
        request_t *request = (request_t *) zhashx_lookup (self->requests, id);
        slot_t *bank_slot = request && !is_gov && request->state == REQ_GATHERING?
                            s_request_bank_slot (request, service): NULL;
        bool gov_waits = request && is_gov && request->state == REQ_ENRICHING
                      && request->gov.state == SLOT_SENT;
        bool bank_waits = bank_slot && bank_slot->state == SLOT_SENT;
        bool grant_waits = request && request->acc_state == ACC_GRANTING
                        && request->grant.service == service
                        && request->grant.state == SLOT_SENT;
        if (gov_waits && answer->type == FM_MSG_PROFILE
        &&  strneq (answer->profile.enterprise_id, request->asked.enterprise_id))
            s_worker_reject (self, identity, worker, FM_STATUS_BAD_REQUEST,
                             "profile for %s answers request of %s",
                             answer->profile.enterprise_id, request->asked.enterprise_id);
        else
        if (grant_waits && answer->type == FM_MSG_CONFIRMATION
        &&  strneq (answer->confirmation.offer_id, request->accepted->offer_id))
            s_worker_reject (self, identity, worker, FM_STATUS_BAD_REQUEST,
                             "confirmation for %s, accepted offer is %s",
                             answer->confirmation.offer_id, request->accepted->offer_id);
        else
        if (gov_waits && answer->type == FM_MSG_PROFILE) {
            //  Journaled: a resumed request does not ask gov.credit again
            s_journal_write (request, FM_JOURNAL_PROFILE, body->data, body->size);
            s_request_enriched (request, &answer->profile);
        }
        else
        if (gov_waits) {                //  ERROR from gov.credit
            s_slot_release (&request->gov, SLOT_DONE, true);
            if (answer->status == FM_STATUS_NOT_FOUND)
                s_request_fail (request, FM_STATUS_NOT_FOUND,
                                "enterprise %s is not in the registry",
                                request->asked.enterprise_id);
            else
                s_request_fail (request, answer->status, "gov.credit: %s", answer->text);
        }
        else
        if (bank_waits && answer->type == FM_MSG_BANK_ANSWER) {
            s_journal_answer (request, service->bank, body->data, body->size);
            s_request_answered (request, bank_slot, answer);
        }
        else
        if (bank_waits && answer->type == FM_MSG_ERROR) {
            //  The bank could not process the query: answered, nothing to
            //  rank; not a timeout
            if (self->verbose)
                zsys_debug ("broker: %s error %u on %s: %s", service->name,
                            answer->status, id, answer->text);
            fm_msg_t empty_answer = { .type = FM_MSG_BANK_ANSWER };
            s_journal_answer (request, service->bank, NULL, 0);
            s_request_answered (request, bank_slot, &empty_answer);
        }
        else
        if (grant_waits && (answer->type == FM_MSG_CONFIRMATION
                        ||  answer->type == FM_MSG_ERROR))
            s_accept_answered (request, answer);
        else
        if (request && answer->type == FM_MSG_CONFIRMATION
        &&  strneq (request->grant_missed, answer->confirmation.offer_id))
            //  Nobody asked this bank to confirm this offer: the request
            //  cannot move to granted/withdrawn from where it is
            s_request_illegal (request, answer->confirmation.granted?
                               FM_RS_GRANTED: FM_RS_WITHDRAWN,
                               "unsolicited confirmation of %s from %s",
                               answer->confirmation.offer_id, service->name);
        else
            s_reply_late (self, worker, id);
    }
    //  answer is the reader's (valid until the next decode): not freed
}

//  REPLY ([reply-to][""][body] in frames) or REPLIES (([reply-to][body])
//  pairs) from a registered worker whose hash key is key.  Each pair is
//  one REPLY; a pair that breaks the rules disconnects the worker, and
//  the pairs after it are dropped with it (their queries go to another
//  worker, as for any worker that leaves holding queries).  Cannot fail.
static void
s_worker_replies (broker_t *self, zframe_t *identity, worker_t *worker,
                  const char *key, byte command, const view_t *frames,
                  size_t count)
{
    if (command == FM_MDPW_REPLY)
        s_worker_answer (self, identity, worker, frames, count);
    else
    if (worker->batch < 2)
        s_worker_reject (self, identity, worker, FM_STATUS_BAD_REQUEST,
                         "REPLIES from a worker that announced no batch");
    else
    if (count == 0 || count % 2)
        s_worker_reject (self, identity, worker, FM_STATUS_BAD_REQUEST,
                         "REPLIES needs ([reply-to][body]) pairs, got %zu frames",
                         count);
    else
        for (size_t index = 0; index < count; index += 2) {
            view_t pair [3] = { frames [index], { (const byte *) "", 0 },
                                frames [index + 1] };
            s_worker_answer (self, identity, worker, pair, 3);
            if (zhashx_lookup (self->workers, key) != worker)
                break;          //  Rejected and disconnected
        }
}

//  REPLY or REPLIES as a zmsg_t (the frames after the command left in
//  msg, borrowed): the path of fm_broker_feed.  Cannot fail.
static void
s_worker_reply (broker_t *self, zframe_t *identity, worker_t *worker,
                const char *key, byte command, zmsg_t *msg)
{
    size_t count = zmsg_size (msg);
    if (count > ROUTER_PARTS - 4) {
        s_worker_reject (self, identity, worker, FM_STATUS_BAD_REQUEST,
                         "more than %d frames", ROUTER_PARTS - 4);
        return;
    }
    zframe_t *frame = zmsg_first (msg);
    for (size_t index = 0; frame; index++) {
        self->views [index].data = zframe_data (frame);
        self->views [index].size = zframe_size (frame);
        frame = zmsg_next (msg);
    }
    s_worker_replies (self, identity, worker, key, command, self->views, count);
}

//  READY from an unknown peer: [service][opts?] left in msg.
static void
s_worker_ready (broker_t *self, zframe_t *identity, const char *key, zmsg_t *msg)
{
    zframe_t *service_frame = zmsg_pop (msg);
    zframe_t *opts_frame = zmsg_pop (msg);
    fm_ready_opts_t opts;
    fm_error_t err;
    char name [FM_SERVICE_SIZE];
    if (service_frame)
        s_printable (zframe_data (service_frame), zframe_size (service_frame),
                     name, sizeof (name));
    if (!service_frame || zmsg_size (msg) > 0)
        s_worker_reject (self, identity, NULL, FM_STATUS_BAD_REQUEST,
                         "READY needs [service][opts?]");
    else
    if (!s_worker_service_valid (service_frame))
        s_worker_reject (self, identity, NULL, FM_STATUS_FORBIDDEN,
                         "workers may register gov.credit or bank.<CODE>, not '%s'", name);
    else
    if (self->auth && fm_auth_worker (self->auth, self->peer_key,
                                      name, err.text, sizeof (err.text)))
        s_peer_send (self, identity, FM_MDPW_DISCONNECT, NULL, NULL);
    else
    if (opts_frame && fm_ready_opts_decode (zframe_data (opts_frame),
                                            zframe_size (opts_frame), &opts, &err))
        s_worker_reject (self, identity, NULL, err.status, "READY options: %s", err.text);
    else {
        service_t *service = s_service_require (self, name);
        worker_t *worker = service?
            s_worker_new (self, identity, key, service, opts_frame? &opts: NULL): NULL;
        //  三网融合: the bank's paired towns, for grid-first routing
        if (worker && opts_frame)
            snprintf (service->towns, sizeof (service->towns), "%s", opts.towns);
        if (!worker)
            s_worker_reject (self, identity, NULL, FM_STATUS_INTERNAL, "out of memory");
        else {
            zhashx_insert (self->workers, key, worker);
            s_worker_refresh (worker);
            worker->heartbeat_at = zclock_mono () + s_worker_interval (worker);
            if (s_worker_interval (worker) < self->tick_ms)
                s_heartbeat_start (self);
            fm_event_t event;
            s_event_init (&event, FM_EV_WORKER_READY);
            snprintf (event.service, sizeof (event.service), "%s", name);
            snprintf (event.peer, sizeof (event.peer), "%s", worker->peer);
            event.count = worker->capacity;
            s_event_publish (self, &event);
            if (self->verbose)
                zsys_debug ("broker: worker %s ready for %s, capacity %u",
                            worker->peer, name, worker->capacity);
            if (streq (name, FM_SERVICE_GOV))
                self->gov_awaited = false;      //  Back: no gov is 503 again
            s_service_drain (service);
        }
    }
    zframe_destroy (&service_frame);
    zframe_destroy (&opts_frame);
}

//  A worker message: [command][...] left in msg after the envelope.
//
//  Worker lifecycle, one machine per peer (proto/SPEC.md 14.1):
//
//    state      event        action                            next
//    ---------  -----------  --------------------------------  ---------
//    unknown    READY ok     register, worker.ready, drain     ready
//    unknown    READY bad    input.rejected, DISCONNECT        unknown
//    unknown    DISCONNECT   ignore                            unknown
//    unknown    other        input.rejected, DISCONNECT        unknown
//    ready      REPLY        refresh, route answer / late      ready
//    ready      REPLY, body  input.rejected (request waits     ready
//               undecodable  for its deadline)
//    ready      REPLY, body  input.rejected, DISCONNECT        unknown
//               breaks rules (token mismatch, wrong type/bank)
//    ready      REPLIES      each pair as a REPLY; after a pair  ready
//                            that disconnects, the rest dropped
//    ready      REPLIES, no  input.rejected, DISCONNECT        unknown
//               batch, odd frames or no pair
//    ready      HEARTBEAT    refresh                           ready
//    ready      (tick)       HEARTBEAT every min(intervals)    ready
//    ready      DISCONNECT   forget                            unknown
//    ready      READY        input.rejected, DISCONNECT        unknown
//    ready      (silence)    worker.expired (heartbeat timer)  unknown
//    *          malformed    input.rejected, DISCONNECT        unknown
static void
s_worker_message (broker_t *self, zframe_t *identity, zmsg_t *msg)
{
    char *key = zframe_strhex (identity);
    worker_t *worker = (worker_t *) zhashx_lookup (self->workers, key);
    zframe_t *command_frame = zmsg_pop (msg);
    int command = command_frame && zframe_size (command_frame) == 1?
                  zframe_data (command_frame) [0]: -1;
    if (worker)
        s_worker_refresh (worker);  //  Any traffic proves it alive

    switch (command) {
        case FM_MDPW_READY:
            if (worker)
                s_worker_reject (self, identity, worker, FM_STATUS_BAD_REQUEST,
                                 "READY from a registered worker of %s",
                                 worker->service->name);
            else
                s_worker_ready (self, identity, key, msg);
            break;
        case FM_MDPW_REPLY:
        case FM_MDPW_REPLIES:
            if (worker)
                s_worker_reply (self, identity, worker, key, (byte) command, msg);
            else
                s_worker_reject (self, identity, NULL, FM_STATUS_BAD_REQUEST,
                                 "%s before READY", command == FM_MDPW_REPLY?
                                 "REPLY": "REPLIES");
            break;
        case FM_MDPW_HEARTBEAT:
            if (!worker)
                s_worker_reject (self, identity, NULL, FM_STATUS_BAD_REQUEST,
                                 "HEARTBEAT before READY");
            else
            if (zmsg_size (msg) > 0)
                s_worker_reject (self, identity, worker, FM_STATUS_BAD_REQUEST,
                                 "HEARTBEAT with extra frames");
            break;
        case FM_MDPW_DISCONNECT:
            if (worker) {
                if (self->verbose)
                    zsys_debug ("broker: worker %s of %s disconnected",
                                worker->peer, worker->service->name);
                s_worker_delete (self, worker, false);
            }
            break;
        default:
            s_worker_reject (self, identity, worker, FM_STATUS_BAD_REQUEST,
                             "invalid worker command frame");
            break;
    }
    zframe_destroy (&command_frame);
    free (key);
}


//  --------------------------------------------------------------------------
//  Reactor handlers

//  One message on the ROUTER: [identity][""][protocol][...]
static void
s_router_message (broker_t *self, zmsg_t *msg)
{
    zframe_t *identity = zmsg_pop (msg);
    zframe_t *empty = zmsg_pop (msg);
    zframe_t *protocol = zmsg_pop (msg);
    if (!empty || zframe_size (empty) != 0)
        s_input_rejected (self, identity, FM_STATUS_BAD_REQUEST,
                          "missing empty delimiter frame");
    else
    if (!protocol)
        s_input_rejected (self, identity, FM_STATUS_BAD_REQUEST,
                          "missing protocol frame");
    else
    if (zframe_streq (protocol, FM_MDPC))
        s_client_message (self, identity, msg);
    else
    if (zframe_streq (protocol, FM_MDPW))
        s_worker_message (self, identity, msg);
    else {
        char text [16];
        s_printable (zframe_data (protocol), zframe_size (protocol), text, sizeof (text));
        bool other_version = zframe_size (protocol) == 6
            && (memcmp (zframe_data (protocol), "MDPC", 4) == 0
            ||  memcmp (zframe_data (protocol), "MDPW", 4) == 0);
        if (other_version)
            s_input_rejected (self, identity, FM_STATUS_BAD_VERSION,
                              "unsupported protocol version '%s'", text);
        else
            s_input_rejected (self, identity, FM_STATUS_BAD_REQUEST,
                              "unknown protocol '%s'", text);
    }
    zframe_destroy (&identity);
    zframe_destroy (&empty);
    zframe_destroy (&protocol);
}

//  Receive one message's parts from the ROUTER into parts (at most
//  ROUTER_PARTS kept, the rest counted and dropped).  Returns 0, or -1
//  when nothing is waiting (EAGAIN) or on interrupt.
static int
s_parts_recv (parts_t *parts, void *handle)
{
    parts->count = parts->total = 0;
    zmq_msg_init (&parts->part [0]);
    if (zmq_msg_recv (&parts->part [0], handle, ZMQ_DONTWAIT) == -1) {
        zmq_msg_close (&parts->part [0]);
        return -1;
    }
    parts->count = parts->total = 1;
    //  The rest of a multipart message is there already: never blocks
    while (zmq_msg_more (&parts->part [parts->count - 1])) {
        zmq_msg_t *part = &parts->part [parts->count];
        zmq_msg_t extra;
        if (parts->count == ROUTER_PARTS) {
            //  Past any legal 7/MDP message: count and drop; the last
            //  kept part still says "more", so keep reading into extra
            zmq_msg_init (&extra);
            int rc;
            while ((rc = zmq_msg_recv (&extra, handle, 0)) == -1 && errno == EINTR)
                ;
            bool more = rc != -1 && zmq_msg_more (&extra);
            zmq_msg_close (&extra);
            parts->total += rc != -1;
            if (!more)
                break;
            continue;
        }
        zmq_msg_init (part);
        int rc;
        while ((rc = zmq_msg_recv (part, handle, 0)) == -1 && errno == EINTR)
            ;                   //  The part is there: a signal is no reason
                                //  to leave it to be read as a message
        if (rc == -1) {
            zmq_msg_close (part);
            break;              //  Context terminated: handle what we have
        }
        parts->count++;
        parts->total++;
    }
    return 0;
}

static void
s_parts_close (parts_t *parts)
{
    for (size_t index = 0; index < parts->count; index++)
        zmq_msg_close (&parts->part [index]);
    parts->count = 0;
}

//  The hot path: REPLY or REPLIES [identity][""]["MDPW01"][0x03|0x07]
//  [...] from a registered worker, handled from the parts without a
//  zmsg_t, a frame per part or a list node.  Returns true if handled,
//  false for any other message (the caller takes the general path).
static bool
s_parts_worker_reply (broker_t *self, parts_t *parts)
{
    byte command = parts->count >= 4 && zmq_msg_size (&parts->part [3]) == 1?
                   *(byte *) zmq_msg_data (&parts->part [3]): 0;
    if ((command != FM_MDPW_REPLY && command != FM_MDPW_REPLIES)
    ||  parts->total > parts->count
    ||  zmq_msg_size (&parts->part [1]) != 0
    ||  zmq_msg_size (&parts->part [2]) != strlen (FM_MDPW)
    ||  memcmp (zmq_msg_data (&parts->part [2]), FM_MDPW, strlen (FM_MDPW)) != 0)
        return false;
    //  The worker key, as zframe_strhex spells it, without an allocation
    const byte *routing = (const byte *) zmq_msg_data (&parts->part [0]);
    size_t routing_size = zmq_msg_size (&parts->part [0]);
    char key [2 * 256 + 1];
    if (routing_size > 256)
        return false;
    static const char hex [] = "0123456789ABCDEF";
    for (size_t index = 0; index < routing_size; index++) {
        key [2 * index] = hex [routing [index] >> 4];
        key [2 * index + 1] = hex [routing [index] & 15];
    }
    key [2 * routing_size] = 0;
    worker_t *worker = (worker_t *) zhashx_lookup (self->workers, key);
    if (!worker)
        return false;           //  REPLY before READY: the general path
    s_worker_refresh (worker);  //  Any traffic proves it alive
    view_t *frames = self->views;
    size_t count = parts->count - 4;
    for (size_t index = 0; index < count; index++) {
        frames [index].data = (const byte *) zmq_msg_data (&parts->part [4 + index]);
        frames [index].size = zmq_msg_size (&parts->part [4 + index]);
    }
    zframe_t *identity = zframe_new (routing, routing_size);
    s_worker_replies (self, identity, worker, key, command, frames, count);
    zframe_destroy (&identity);
    return true;
}

//  Any other ROUTER message: as a zmsg_t (copies) for the general path.
static void
s_parts_message (broker_t *self, parts_t *parts)
{
    zmsg_t *msg = zmsg_new ();
    for (size_t index = 0; index < parts->count; index++)
        zmsg_addmem (msg, zmq_msg_data (&parts->part [index]),
                     zmq_msg_size (&parts->part [index]));
    if (parts->total > parts->count)
        zmsg_addmem (msg, "", 0);   //  Stands for the parts dropped: every
                                    //  check only counts frames that far
    s_router_message (self, msg);
    zmsg_destroy (&msg);
}

static void s_subscriptions_read (broker_t *self);

static int
s_router_recv (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    broker_t *self = (broker_t *) arg;
    //  A client may subscribe to its request's events and then send it:
    //  take in the subscriptions that reached the XPUB first, so that
    //  this turn's events go to it (s_event_publish sends only what some
    //  subscription can match).  One non-blocking read when there is none.
    s_subscriptions_read (self);
    void *handle = zsock_resolve (reader);
    parts_t *parts = self->parts;
    for (int count = 0; count < ROUTER_BATCH; count++) {
        if (s_parts_recv (parts, handle))
            break;              //  Nothing waiting, or interrupted
        //  fm_auth_peer_key for parts: every part that came from the peer
        //  carries its connection's metadata (the routing id, made by the
        //  ROUTER, does not)
        const char *key = self->auth && parts->count > 1?
            zmq_msg_gets (&parts->part [parts->count - 1], "User-Id"): NULL;
        self->peer_key = key && strlen (key) == FM_AUTH_KEY_LENGTH? key: NULL;
        if (!s_parts_worker_reply (self, parts))
            s_parts_message (self, parts);
        self->peer_key = NULL;
        s_parts_close (parts);
    }
    s_broker_flush (self);      //  The batch's records, then its events
    return 0;
}

//  Read every (un)subscription waiting on the XPUB, count it, and log it
//  when verbose.  Never blocks.
static void
s_subscriptions_read (broker_t *self)
{
    void *handle = zsock_resolve (self->publisher);
    zmq_msg_t msg;
    zmq_msg_init (&msg);
    while (zmq_msg_recv (&msg, handle, ZMQ_DONTWAIT) != -1) {
        const byte *data = (const byte *) zmq_msg_data (&msg);
        size_t size = zmq_msg_size (&msg);
        if (size > 0 && (data [0] == 0 || data [0] == 1)) {
            s_subscription_note (self, data + 1, size - 1, data [0] == 1);
            if (self->verbose) {
                char topic [128];
                s_printable (data + 1, size - 1, topic, sizeof (topic));
                zsys_debug ("broker: %s '%s' (%zu event, %zu batch topics)",
                            data [0]? "subscribe": "unsubscribe", topic,
                            self->all_topics + zlistx_size (self->event_topics),
                            self->batch_topics);
            }
        }
    }
    zmq_msg_close (&msg);
}

//  Subscriptions arrive on the XPUB: read them so they never queue up
static int
s_publisher_recv (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    (void) reader;
    s_subscriptions_read ((broker_t *) arg);
    return 0;
}

//  Heartbeat tick: expire silent workers, then send HEARTBEAT to each
//  worker whose interval is up.  Ticks at the shortest interval in use.
static int
s_heartbeat (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    broker_t *self = (broker_t *) arg;
    int64_t now = zclock_mono ();
    zlistx_t *expired = zlistx_new ();
    assert (expired);
    worker_t *worker = (worker_t *) zhashx_first (self->workers);
    while (worker) {
        if (worker->expiry <= now)
            zlistx_add_end (expired, worker);
        else
        if (now + self->tick_ms / 2 >= worker->heartbeat_at) {
            //  Half a tick early rather than a whole tick late
            s_peer_send (self, worker->identity, FM_MDPW_HEARTBEAT, NULL, NULL);
            worker->heartbeat_at = now + s_worker_interval (worker);
        }
        worker = (worker_t *) zhashx_next (self->workers);
    }
    worker = (worker_t *) zlistx_first (expired);
    while (worker) {
        fm_event_t event;
        s_event_init (&event, FM_EV_WORKER_EXPIRED);
        snprintf (event.service, sizeof (event.service), "%s", worker->service->name);
        snprintf (event.peer, sizeof (event.peer), "%s", worker->peer);
        s_event_publish (self, &event);
        if (self->verbose)
            zsys_debug ("broker: worker %s of %s expired", worker->peer,
                        worker->service->name);
        s_worker_delete (self, worker, false);
        worker = (worker_t *) zlistx_next (expired);
    }
    zlistx_destroy (&expired);
    s_broker_flush (self);
    return 0;
}


//  --------------------------------------------------------------------------
//  Recovery: the journal (fm_journal.h) rebuilds what a killed broker knew
//
//  Records are applied in order, without sending or publishing anything:
//  REQUEST creates an in-flight request, RESULT retains it (with the
//  max_retained bound), END forgets it, ACCEPT / CONFIRM / GRANT_FAIL
//  replay the accept sub-machine, EVENT refills the replay store, WARNING
//  raises or drops a risk warning (each segment starts with a copy of the
//  table, s_warning_copy, so pruning loses none).  The
//  epoch and seq continue where the journal ends (unless a reboot may
//  have lost its tail, fm_journal_epoch), so the recorder sees the same
//  epoch go on and fills any gap from fm.replay.
//
//  What was in flight is resumed once workers had time to come back
//  (liveness x heartbeat_ms after start, the window in which a live worker
//  re-registers): a request starts again from enrichment with fresh
//  deadlines; a pending grant is asked again (the bank's loan id is
//  "<BANK>-<request id>": asking twice grants once).  Clients that retry
//  meanwhile attach to the request; retained results answer at once; new
//  requests that find no gov worker in that window wait for it as well.
//  Warnings that expired meanwhile are published (410 "expired") at the
//  end of that window too; until then they no longer apply to queries.

//  ANSWER or MISS record of an in-flight request: keep it for its
//  resumption (or, once its RESULT follows, for its list of banks asked).
//  A record that does not parse is skipped (logged).
static void
s_recover_answer (request_t *request, const fm_journal_record_t *record)
{
    size_t length = record->type == FM_JOURNAL_MISS? record->size
                  : record->size? record->data [0]: 0;
    const byte *code = record->type == FM_JOURNAL_MISS? record->data: record->data + 1;
    if (length == 0 || length >= FM_CODE_SIZE
    ||  (record->type == FM_JOURNAL_ANSWER && 1 + length > record->size)) {
        zsys_warning ("broker: journal: answer of %s unreadable, skipped", record->id);
        return;
    }
    answer_t *answer = (answer_t *) zmalloc (sizeof (answer_t));
    assert (answer);
    memcpy (answer->bank, code, length);
    answer->missed = record->type == FM_JOURNAL_MISS;
    if (record->type == FM_JOURNAL_ANSWER && record->size > 1 + length)
        answer->body = zframe_new (record->data + 1 + length, record->size - 1 - length);
    if (!request->journaled) {
        request->journaled = zlistx_new ();
        assert (request->journaled);
        zlistx_set_destructor (request->journaled, (czmq_destructor *) s_answer_destroy);
    }
    zlistx_add_end (request->journaled, answer);
}

static void
s_recover_record (void *arg, const fm_journal_record_t *record)
{
    broker_t *self = (broker_t *) arg;
    request_t *request = *record->id?
        (request_t *) zhashx_lookup (self->requests, record->id): NULL;
    fm_error_t err;
    fm_msg_t *msg = NULL;
    switch (record->type) {
        case FM_JOURNAL_SESSION:
            if (record->seq != self->epoch) {
                fm_replay_destroy (&self->replay);
                self->replay = fm_replay_new (record->seq, (size_t) self->replay_max,
                                              (size_t) self->replay_bytes);
                assert (self->replay);
                self->epoch = record->seq;
                self->seq = 0;
            }
            break;
        case FM_JOURNAL_EVENT:
            if (record->seq != self->seq + 1)
                fm_replay_skip (self->replay, record->seq - 1);
            fm_replay_store (self->replay, record->seq, record->data, record->size);
            self->seq = record->seq;
            break;
        case FM_JOURNAL_REQUEST:
            msg = fm_msg_decode (record->data, record->size, &err);
            if (request)
                s_request_delete (request);
            request = msg && msg->type == FM_MSG_REQUEST?
                      s_request_new (self, record->id, &msg->request): NULL;
            if (request) {
                request->journal_segment = record->segment;
                zhashx_insert (self->requests, record->id, request);
            }
            else {
                zsys_warning ("broker: journal: request %s unreadable, skipped", record->id);
                fm_journal_release (self->journal, record->segment);
            }
            break;
        case FM_JOURNAL_RESULT:
            if (!request || request->state == REQ_DONE)
                break;
            msg = fm_msg_decode (record->data, record->size, &err);
            if (!msg) {
                zsys_warning ("broker: journal: result of %s unreadable: %s",
                              record->id, err.text);
                break;
            }
            if (*msg->request.grid_id)
                snprintf (request->grid_id, sizeof (request->grid_id), "%s",
                          msg->request.grid_id);
            request->result_body = zframe_new (record->data, record->size);
            request->life = msg->offer_count? FM_RS_OFFERED: FM_RS_DECLINED;
            {
                //  Who was asked, for status: its journaled answers
                zlistx_t *journaled = request->journaled;
                request->journaled = NULL;
                s_request_retain (request);
                s_request_asked_rebuild (request, journaled, msg);
                zlistx_destroy (&journaled);
            }
            break;
        case FM_JOURNAL_END:
            if (request)
                s_request_delete (request);
            break;
        case FM_JOURNAL_PROFILE:
            msg = request && request->state != REQ_DONE?
                  fm_msg_decode (record->data, record->size, &err): NULL;
            if (msg && msg->type == FM_MSG_PROFILE) {
                free (request->profile);
                request->profile = (fm_profile_t *) malloc (sizeof (fm_profile_t));
                assert (request->profile);
                *request->profile = msg->profile;
            }
            break;
        case FM_JOURNAL_ANSWER:
        case FM_JOURNAL_MISS:
            if (request && request->state != REQ_DONE)
                s_recover_answer (request, record);
            break;
        case FM_JOURNAL_ACCEPT:
            if (request && request->state == REQ_DONE && !request->accepted) {
                char offer_id [FM_OFFER_ID_SIZE];
                snprintf (offer_id, sizeof (offer_id), "%.*s", (int) record->size,
                          (const char *) record->data);
                fm_offer_t offer;
                if (s_result_offer (request->result_body, offer_id, &offer) == 0) {
                    request->accepted = (fm_offer_t *) malloc (sizeof (fm_offer_t));
                    assert (request->accepted);
                    *request->accepted = offer;
                    request->acc_state = ACC_GRANTING;
                    request->life = FM_RS_ACCEPTED;
                }
            }
            break;
        case FM_JOURNAL_CONFIRM:
            msg = request && request->accepted?
                  fm_msg_decode (record->data, record->size, &err): NULL;
            if (msg && msg->type == FM_MSG_CONFIRMATION && msg->confirmation.granted) {
                zframe_destroy (&request->confirmation);
                request->confirmation = zframe_new (record->data, record->size);
                request->acc_state = ACC_GRANTED;
                request->life = FM_RS_GRANTED;
            }
            else
            if (msg && msg->type == FM_MSG_CONFIRMATION) {
                s_request_keep_withdrawal (request,
                                           zframe_new (record->data, record->size));
                request->life = FM_RS_WITHDRAWN;
            }
            break;
        case FM_JOURNAL_WARNING:
            //  Held or gone, in journal order: the table as it was
            msg = fm_msg_decode (record->data, record->size, &err);
            if (!msg || msg->type != FM_MSG_WARN)
                zsys_warning ("broker: journal: a warning record is unreadable, skipped");
            else
            if (msg->warning.lift)
                fm_warn_lift (self->warnings, msg->warning.target,
                              msg->warning.target_id, NULL);
            else
            if (fm_warn_raise (self->warnings, &msg->warning) < 0)
                zsys_warning ("broker: journal: warning table full, the warning "
                              "on %s is lost", msg->warning.target_id);
            break;
        case FM_JOURNAL_GRANT_FAIL:
            if (request && request->accepted) {
                snprintf (request->grant_missed, sizeof (request->grant_missed), "%s",
                          request->accepted->offer_id);
                s_request_unaccept (request);
                request->life = FM_RS_OFFERED;
            }
            break;
    }
    fm_msg_destroy (&msg);
}

//  Ask the bank again for a grant that was pending when the broker
//  stopped.  Without a worker of the bank the accept is undone (journaled
//  GRANT_FAIL, logged): the enterprise's retried accept asks again.
static void
s_request_regrant (request_t *request)
{
    broker_t *self = request->broker;
    const fm_offer_t *offer = request->accepted;
    char name [FM_SERVICE_SIZE];
    snprintf (name, sizeof (name), "%s%s", FM_SERVICE_BANK_PREFIX, offer->bank);
    service_t *service = (service_t *) zhashx_lookup (self->services, name);
    fm_msg_t *query = fm_msg_new (FM_MSG_GRANT_QUERY);
    assert (query);
    snprintf (query->request_id, sizeof (query->request_id), "%s", request->id);
    query->request = request->asked;
    snprintf (query->request.grid_id, sizeof (query->request.grid_id), "%s",
              request->grid_id);
    fm_msg_add_offer (query, offer);
    fm_error_t err;
    zframe_destroy (&request->grant_query);
    request->grant_query = fm_msg_encode (query, &err);
    fm_msg_destroy (&query);
    request->grant.request = request;
    request->grant.dispatched_us = zclock_usecs ();
    if (service && zlistx_size (service->workers) && request->grant_query
    &&  s_slot_dispatch (&request->grant, service, request->grant_query) == 0) {
        s_deadline_set (request, self->deadline_ms);
        zsys_info ("broker: grant of %s for %s asked again", offer->offer_id, request->id);
        return;
    }
    zsys_warning ("broker: grant of %s for %s not asked again: %s has no worker; "
                  "the offer may be accepted again", offer->offer_id, request->id, name);
    s_journal_write (request, FM_JOURNAL_GRANT_FAIL, NULL, 0);
    snprintf (request->grant_missed, sizeof (request->grant_missed), "%s", offer->offer_id);
    zframe_destroy (&request->grant_query);
    s_request_unaccept (request);
    request->life = FM_RS_OFFERED;
}

//  Resume timer: start what the journal left in flight.
static int
s_resume (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    broker_t *self = (broker_t *) arg;
    self->resume_timer = -1;
    size_t requests = 0, grants = 0;
    self->resuming_now = true;
    char *id = (char *) zlistx_first (self->resuming);
    while (id) {
        request_t *request = (request_t *) zhashx_lookup (self->requests, id);
        if (request && request->state == REQ_ENRICHING
        &&  request->gov.state == SLOT_IDLE && request->heap_index == SIZE_MAX) {
            requests++;
            s_request_start (request);
        }
        else
        if (request && request->acc_state == ACC_GRANTING
        &&  request->grant.state == SLOT_IDLE) {
            grants++;
            s_request_regrant (request);
        }
        id = (char *) zlistx_next (self->resuming);
    }
    zlistx_purge (self->resuming);
    self->resuming_now = false;
    //  Warnings that expired while the broker was down (or in the window)
    //  get their 410 now, once subscribers had the window to reconnect;
    //  from here the sweep timer keeps time
    fm_warn_expire (self->warnings, s_now_us (), s_warning_expired, self);
    s_warning_arm (self);
    zsys_info ("broker: resumed %zu requests and %zu grants from the journal",
               requests, grants);
    s_broker_flush (self);
    return 0;
}

//  JOURNAL path sync: open and load the journal, continue its epoch (or
//  start one), and schedule the resumption of what was in flight.  Must
//  come before BIND.  Returns 0, or -1 with reason filled.
static int
s_journal_open (broker_t *self, const char *path, const char *sync_text,
                char *reason, size_t size)
{
    fm_journal_sync_t sync;
    if (self->journal || zsock_endpoint (self->router)) {
        snprintf (reason, size, "JOURNAL must come once, before BIND");
        return -1;
    }
    if (!path || fm_journal_sync_parse (sync_text, &sync)) {
        snprintf (reason, size, "journal_sync must be normal or full");
        return -1;
    }
    self->journal = fm_journal_new (path, sync, reason, size);
    if (!self->journal)
        return -1;
    int64_t started = zclock_usecs ();
    self->loading = true;
    int64_t records = fm_journal_load (self->journal, s_recover_record, self, reason, size);
    self->loading = false;
    if (records < 0) {
        fm_journal_destroy (&self->journal);
        return -1;
    }
    if (!fm_journal_epoch (self->journal)) {
        //  No journal yet, or a reboot may have cut its tail: events we
        //  published may be missing from it, so their seqs must not be
        //  used again
        if (self->seq)
            zsys_warning ("broker: journal: the host rebooted since epoch %" PRIu64
                          " and journal_sync was normal: starting a new epoch",
                          self->epoch);
        self->epoch = (uint64_t) s_now_us ();
        self->seq = 0;
        fm_replay_destroy (&self->replay);
        self->replay = fm_replay_new (self->epoch, (size_t) self->replay_max,
                                      (size_t) self->replay_bytes);
        assert (self->replay);
    }
    //  Every new segment starts with a copy of the warnings held
    fm_journal_set_roll (self->journal, s_warning_copy, self);
    if (fm_journal_begin (self->journal, self->epoch, reason, size)) {
        fm_journal_destroy (&self->journal);
        return -1;
    }
    size_t retained = zlistx_size (self->retained);
    request_t *request = (request_t *) zhashx_first (self->requests);
    while (request) {
        if (request->state != REQ_DONE || request->acc_state == ACC_GRANTING)
            zlistx_add_end (self->resuming, strdup (request->id));
        request = (request_t *) zhashx_next (self->requests);
    }
    fm_journal_prune (self->journal, fm_replay_first (self->replay));
    zsys_info ("broker: journal %s: %" PRId64 " records in %" PRId64 " ms: %zu results "
               "retained, %zu to resume, epoch %" PRIu64 " at seq %" PRIu64 " (sync %s)",
               path, records, (zclock_usecs () - started) / 1000, retained,
               zlistx_size (self->resuming), self->epoch, self->seq, sync_text);
    //  After a restart (the journal held something), workers get the same
    //  window to come back before new requests need them
    if (records > 0)
        self->gov_awaited = true;       //  Until a gov worker registers
    if (records > 0)
        self->resume_timer = zloop_timer (self->loop,
                                          (size_t) (self->liveness * self->heartbeat_ms
                                                    + FM_RECONNECT_MS),
                                          1, s_resume, self);
    return 0;
}


//  --------------------------------------------------------------------------
//  Pipe commands

//  Settings that SET may change, with bounds
typedef struct {
    const char *name;
    size_t offset;                  //  of the int64_t in broker_t
    int64_t min, max;
} s_setting_t;

static const s_setting_t s_settings [] = {
    { "deadline_ms",     offsetof (broker_t, deadline_ms),     10, 600000 },
    { "gov_deadline_ms", offsetof (broker_t, gov_deadline_ms), 10, 600000 },
    { "heartbeat_ms",    offsetof (broker_t, heartbeat_ms),    10, 600000 },
    { "liveness",        offsetof (broker_t, liveness),        1, 100 },
    { "max_inflight",    offsetof (broker_t, max_inflight),    1, 10000000 },
    { "max_retained",    offsetof (broker_t, max_retained),    0, 100000000 },
    { "events_hwm",      offsetof (broker_t, events_hwm),      0, 100000000 },
    { "first_round",     offsetof (broker_t, first_round),     0, FM_MAX_BANKS },
    { "fast_track_pct",  offsetof (broker_t, fast_track_pct),  1, 100 },
    { "replay_max",      offsetof (broker_t, replay_max),      0, 100000000 },
    { "replay_bytes",    offsetof (broker_t, replay_bytes),    0, INT64_C (1) << 40 },
    { "event_batch_ms",  offsetof (broker_t, event_batch_ms),  0, 1000 },
};

//  SET deadline_ms.<BANK> ms: a bank's own deadline (10..600000), or 0 to
//  fall back to deadline_ms.  Returns 0, or -1 with reason filled.
static int
s_bank_deadline_set (broker_t *self, const char *bank, const char *value,
                     char *reason, size_t size)
{
    size_t length = strlen (bank);
    bool valid = length >= 1 && length <= 16;
    for (size_t index = 0; valid && index < length; index++)
        valid = (bank [index] >= 'A' && bank [index] <= 'Z')
             || (bank [index] >= '0' && bank [index] <= '9') || bank [index] == '_';
    char *end = NULL;
    errno = 0;
    long long number = value? strtoll (value, &end, 10): -1;
    if (!valid || !value || !*value || *end || errno
    ||  (number != 0 && (number < 10 || number > 600000))) {
        snprintf (reason, size, "deadline_ms.%s must be a bank code and 0 or "
                  "an integer in 10..600000", bank);
        return -1;
    }
    if (number == 0)
        zhashx_delete (self->bank_deadlines, bank);
    else {
        int64_t *ms = (int64_t *) malloc (sizeof (int64_t));
        assert (ms);
        *ms = number;
        zhashx_update (self->bank_deadlines, bank, ms);
    }
    return 0;
}

//  (Re)start the heartbeat timer at the shortest send interval of the
//  broker and its workers.  Cannot fail.
static void
s_heartbeat_start (broker_t *self)
{
    self->tick_ms = self->heartbeat_ms;
    worker_t *worker = (worker_t *) zhashx_first (self->workers);
    while (worker) {
        if (s_worker_interval (worker) < self->tick_ms)
            self->tick_ms = s_worker_interval (worker);
        worker = (worker_t *) zhashx_next (self->workers);
    }
    if (self->heartbeat_timer != -1)
        zloop_timer_end (self->loop, self->heartbeat_timer);
    self->heartbeat_timer = zloop_timer (self->loop, (size_t) self->tick_ms, 0,
                                         s_heartbeat, self);
}

//  SET name value.  Returns 0, or -1 with reason filled.
static int
s_setting_set (broker_t *self, const char *name, const char *value,
               char *reason, size_t size)
{
    if (name && strncmp (name, "deadline_ms.", 12) == 0)
        return s_bank_deadline_set (self, name + 12, value, reason, size);
    for (size_t index = 0; index < sizeof (s_settings) / sizeof (s_settings [0]); index++) {
        const s_setting_t *setting = &s_settings [index];
        if (strneq (setting->name, name))
            continue;
        char *end = NULL;
        errno = 0;
        long long number = value? strtoll (value, &end, 10): 0;
        if (!value || !*value || *end || errno
        ||  number < setting->min || number > setting->max) {
            snprintf (reason, size, "%s must be an integer in %" PRId64 "..%" PRId64,
                      name, setting->min, setting->max);
            return -1;
        }
        *(int64_t *) ((byte *) self + setting->offset) = number;
        if (streq (name, "heartbeat_ms"))
            s_heartbeat_start (self);
        else
        if (streq (name, "events_hwm"))     //  Applies to later subscribers
            zsock_set_sndhwm (self->publisher, (int) number);
        else
        if (streq (name, "replay_max") || streq (name, "replay_bytes")) {
            if (fm_replay_set_bounds (self->replay, (size_t) self->replay_max,
                                      (size_t) self->replay_bytes)) {
                snprintf (reason, size, "out of memory for %s", name);
                return -1;
            }
        }
        else
        if (streq (name, "max_retained"))
            while ((int64_t) zlistx_size (self->retained) > self->max_retained)
                s_request_forget ((request_t *) zlistx_first (self->retained));
        return 0;
    }
    snprintf (reason, size, "unknown setting '%s'", name? name: "");
    return -1;
}

//  The port of a socket's last bound endpoint, or "" if unbound.
static const char *
s_port (zsock_t *sock)
{
    const char *endpoint = zsock_endpoint (sock);
    const char *colon = endpoint? strrchr (endpoint, ':'): NULL;
    return colon? colon + 1: "";
}

//  Bind sock to endpoint and reply "0" or "-1 <reason>" on the pipe.
static void
s_bind (broker_t *self, zsock_t *sock, const char *endpoint)
{
    if (endpoint && zsock_bind (sock, "%s", endpoint) != -1) {
        if (self->verbose)
            zsys_debug ("broker: bound %s", zsock_endpoint (sock));
        zstr_send (self->pipe, "0");
    }
    else
        zstr_sendf (self->pipe, "-1 %s", endpoint? zmq_strerror (zmq_errno ()):
                                                   "missing endpoint");
}

static int
s_pipe_recv (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    broker_t *self = (broker_t *) arg;
    zmsg_t *msg = zmsg_recv (reader);
    if (!msg)
        return 0;               //  Interrupted: wait for $TERM
    char *command = zmsg_popstr (msg);
    int rc = 0;
    if (!command)
        ;
    else
    if (streq (command, "$TERM")) {
        self->terminated = true;
        rc = -1;
    }
    else
    if (streq (command, "VERBOSE"))
        self->verbose = true;
    else
    if (streq (command, "BIND")) {
        char *endpoint = zmsg_popstr (msg);
        s_bind (self, self->router, endpoint);
        zstr_free (&endpoint);
    }
    else
    if (streq (command, "EVENTS")) {
        char *endpoint = zmsg_popstr (msg);
        s_bind (self, self->publisher, endpoint);
        zstr_free (&endpoint);
    }
    else
    if (streq (command, "AUTH")) {
        char *cert = zmsg_popstr (msg);
        char *certdir = zmsg_popstr (msg);
        //  Secure mode: CURVE + ZAP on both sockets (fm_auth.h)
        char reason [FM_TEXT_SIZE] = "AUTH needs a certificate and a directory";
        fm_auth_t *auth = NULL;
        if (zsock_endpoint (self->router) || zsock_endpoint (self->publisher))
            snprintf (reason, sizeof (reason), "AUTH must come before BIND and EVENTS");
        else
        if (self->auth)
            snprintf (reason, sizeof (reason), "AUTH was already given");
        else
        if (cert && certdir)
            auth = fm_auth_new (certdir, reason, sizeof (reason));
        if (auth && fm_auth_start (auth, cert, self->loop, self->router,
                                   self->publisher, reason, sizeof (reason)) == 0) {
            self->auth = auth;
            fm_auth_set_denied (self->auth, s_auth_denied, self);
            zstr_send (self->pipe, "0");
        }
        else {
            fm_auth_destroy (&auth);
            zstr_sendf (self->pipe, "-1 %s", reason);
        }
        zstr_free (&cert);
        zstr_free (&certdir);
    }
    else
    if (streq (command, "JOURNAL")) {
        char *path = zmsg_popstr (msg);
        char *sync = zmsg_popstr (msg);
        char reason [FM_TEXT_SIZE];
        if (s_journal_open (self, path, sync? sync: "normal", reason, sizeof (reason)) == 0)
            zstr_send (self->pipe, "0");
        else
            zstr_sendf (self->pipe, "-1 %s", reason);
        zstr_free (&path);
        zstr_free (&sync);
    }
    else
    if (streq (command, "PORTS"))
        zstr_sendx (self->pipe, s_port (self->router), s_port (self->publisher), NULL);
    else
    if (streq (command, "SET")) {
        char *name = zmsg_popstr (msg);
        char *value = zmsg_popstr (msg);
        char reason [FM_TEXT_SIZE];
        if (s_setting_set (self, name, value, reason, sizeof (reason)) == 0)
            zstr_send (self->pipe, "0");
        else
            zstr_sendf (self->pipe, "-1 %s", reason);
        zstr_free (&name);
        zstr_free (&value);
    }
    else
        //  The pipe is our owner's API: a bad command is a bug in the caller
        zsys_error ("broker: invalid pipe command '%s'", command);
    zstr_free (&command);
    zmsg_destroy (&msg);
    s_broker_flush (self);
    return rc;
}


//  --------------------------------------------------------------------------
//  Broker

static void
s_broker_destroy (broker_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        broker_t *self = *self_p;
        s_batch_close (self);
        s_broker_flush (self);
        //  Requests first: they release slots held in services and workers
        zhashx_destroy (&self->requests);
        zlistx_destroy (&self->retained);
        zhashx_destroy (&self->workers);
        zhashx_destroy (&self->services);
        zhashx_destroy (&self->bank_deadlines);
        fm_auth_destroy (&self->auth);      //  ends its reader: loop first
        zloop_destroy (&self->loop);
        zsock_destroy (&self->router);
        zsock_destroy (&self->publisher);
        free (self->heap);
        free (self->event_buffer);
        free (self->batch_buffer);
        zlistx_destroy (&self->event_topics);
        free (self->query_arena);       //  after the workers: they unbatch
        free (self->batching);
        free (self->batch_data);
        free (self->batch_sizes);
        free (self->parts);
        free (self->views);
        fm_replay_destroy (&self->replay);
        fm_msg_reader_destroy (&self->reader);
        fm_msg_reader_destroy (&self->client_reader);
        fm_msg_destroy (&self->query);
        zlistx_destroy (&self->resuming);
        fm_journal_destroy (&self->journal);   //  after the requests: pins
        fm_warn_destroy (&self->warnings);
        for (size_t index = 0; index < self->outbox_size; index++)
            zmq_msg_close (&self->outbox [index].msg);
        free (self->outbox);
        free (self);
        *self_p = NULL;
    }
}

//  Returns a new broker with unbound sockets, or NULL on failure.
static broker_t *
s_broker_new (zsock_t *pipe)
{
    broker_t *self = (broker_t *) zmalloc (sizeof (broker_t));
    if (!self)
        return NULL;
    self->pipe = pipe;
    self->deadline_ms = DEADLINE_MS;
    self->gov_deadline_ms = GOV_DEADLINE_MS;
    self->heartbeat_ms = HEARTBEAT_MS;
    self->liveness = LIVENESS;
    self->max_inflight = MAX_INFLIGHT;
    self->max_retained = MAX_RETAINED;
    self->events_hwm = EVENTS_HWM;
    self->first_round = FIRST_ROUND;
    self->fast_track_pct = FAST_TRACK_PCT;
    self->bank_deadlines = zhashx_new ();
    self->deadline_timer = -1;
    self->batch_timer = -1;
    self->event_batch_ms = EVENT_BATCH_MS;
    self->heartbeat_timer = -1;
    self->epoch = (uint64_t) s_now_us ();
    self->event_buffer = (byte *) malloc (EVENT_BUFFER_SIZE);
    self->batch_buffer = (byte *) malloc (BATCH_BUFFER_SIZE);
    self->event_topics = zlistx_new ();
    self->batch_data = (const void **) malloc (ROUTER_PARTS * sizeof (void *));
    self->batch_sizes = (size_t *) malloc (ROUTER_PARTS * sizeof (size_t));
    self->parts = (parts_t *) malloc (sizeof (parts_t));
    self->views = (view_t *) malloc (ROUTER_PARTS * sizeof (view_t));
    if (self->event_topics)
        zlistx_set_destructor (self->event_topics, s_chunk_destroy);
    if (self->batch_buffer)
        fm_batch_start (&self->batch, self->batch_buffer, BATCH_BUFFER_SIZE);
    self->replay_max = REPLAY_MAX;
    self->replay_bytes = REPLAY_BYTES;
    self->replay = fm_replay_new (self->epoch, REPLAY_MAX, REPLAY_BYTES);
    self->reader = fm_msg_reader_new ();
    self->client_reader = fm_msg_reader_new ();
    self->query = fm_msg_new (FM_MSG_CREDIT_QUERY);
    self->warnings = fm_warn_new (FM_WARN_MAX);
    self->services = zhashx_new ();
    self->workers = zhashx_new ();
    self->requests = zhashx_new ();
    self->retained = zlistx_new ();
    self->resuming = zlistx_new ();
    self->resume_timer = -1;
    self->warning_timer = -1;
    self->router = zsock_new (ZMQ_ROUTER);
    self->publisher = zsock_new (ZMQ_XPUB);
    self->loop = zloop_new ();
    if (!self->event_buffer || !self->batch_buffer || !self->event_topics
    ||  !self->batch_data || !self->batch_sizes || !self->parts || !self->views
    ||  !self->replay || !self->reader || !self->client_reader
    ||  !self->query || !self->warnings || !self->services || !self->workers || !self->requests
    ||  !self->bank_deadlines
    ||  !self->retained || !self->resuming || !self->router || !self->publisher || !self->loop) {
        s_broker_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->services, (czmq_destructor *) s_service_destroy);
    zhashx_set_destructor (self->workers, (czmq_destructor *) s_worker_destroy);
    zhashx_set_destructor (self->requests, (czmq_destructor *) s_request_destroy);
    zhashx_set_destructor (self->bank_deadlines, (czmq_destructor *) zstr_free);
    zlistx_set_destructor (self->resuming, (czmq_destructor *) zstr_free);
    zsock_set_sndhwm (self->router, ROUTER_HWM);
    zsock_set_rcvhwm (self->router, ROUTER_HWM);
    zsock_set_maxmsgsize (self->router, MAX_FRAME);
    zsock_set_sndhwm (self->publisher, (int) self->events_hwm);
    zsock_set_linger (self->router, 0);
    zsock_set_linger (self->publisher, 0);
    zloop_set_nonstop (self->loop, true);
    zloop_reader (self->loop, pipe, s_pipe_recv, self);
    zloop_reader (self->loop, self->router, s_router_recv, self);
    zloop_reader (self->loop, self->publisher, s_publisher_recv, self);
    //  A peer error on a socket must not kill the reactor
    zloop_reader_set_tolerant (self->loop, self->router);
    zloop_reader_set_tolerant (self->loop, self->publisher);
    s_heartbeat_start (self);
    return self;
}

//  Fuzzing hook (tests/fuzz/fuzz_broker.c): one broker, bound nowhere,
//  with short deadlines and heartbeats so that expiry paths run too.  Each
//  call handles one ROUTER message as if it had arrived, then runs the
//  deadline and heartbeat handlers.  Replies go nowhere (a ROUTER drops
//  what it cannot route).  Test code: not thread safe, never freed.
void
fm_broker_feed (zmsg_t **msg_p)
{
    static broker_t *self = NULL;
    static zsock_t *pipe = NULL;
    assert (msg_p && *msg_p);
    if (!self) {
        pipe = zsock_new_pair ("@inproc://fm-broker-feed");
        assert (pipe);
        self = s_broker_new (pipe);
        assert (self);
        char reason [FM_TEXT_SIZE];
        assert (s_setting_set (self, "deadline_ms", "10", reason, sizeof (reason)) == 0);
        assert (s_setting_set (self, "gov_deadline_ms", "10", reason, sizeof (reason)) == 0);
        assert (s_setting_set (self, "heartbeat_ms", "10", reason, sizeof (reason)) == 0);
        assert (s_setting_set (self, "max_retained", "50", reason, sizeof (reason)) == 0);
        assert (s_setting_set (self, "replay_max", "100", reason, sizeof (reason)) == 0);
    }
    if (zmsg_size (*msg_p) > 0)
        s_router_message (self, *msg_p);
    zmsg_destroy (msg_p);
    s_deadline_expired (self->loop, -1, self);
    s_heartbeat (self->loop, -1, self);
}

void
fm_broker (zsock_t *pipe, void *args)
{
    if (args)
        zsys_set_logident ((const char *) args);
    broker_t *self = s_broker_new (pipe);
    zsock_signal (pipe, 0);     //  Ready (zactor_new waits for this)
    if (!self) {
        zsys_error ("broker: cannot create sockets");
        //  Still answer until $TERM, so zactor_destroy does not hang
        while (true) {
            char *command = zstr_recv (pipe);
            bool term = !command || streq (command, "$TERM");
            zstr_free (&command);
            if (term)
                return;
        }
    }
    zloop_start (self->loop);
    //  zloop_start also returns when SIGINT/SIGTERM interrupts it.  Our
    //  owner is shutting down then and ends us with $TERM: wait for it, so
    //  that zactor_destroy never talks to a dead pipe.
    while (!self->terminated) {
        char *command = zstr_recv (pipe);
        if (!command && zmq_errno () == ETERM)
            break;              //  Context gone: nobody will send $TERM
        self->terminated = command && streq (command, "$TERM");
        zstr_free (&command);
    }
    s_broker_destroy (&self);
}
