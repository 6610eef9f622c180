/*  =========================================================================
    fm-barebench - the floor of finmatch's message pattern on this machine

    Issue 7 quotes a reference: on a 2-core machine, "a bare broker fanning
    each request out to 5 workers and logging 7 events per request to
    SQLite ran about 35,000 requests/s".  This program is that bare
    system, built the way finmatch is built, so that the same machine can
    say how much of a request's cost is the pattern itself and how much
    is finmatch's work:

    - a broker process: a ROUTER for clients, a ROUTER for workers, a PUB
      for events (batched: one message per loop turn, at most 64 events);
    - worker processes (DEALER), one per bank, and with --gov a
      government worker asked first, as finmatch asks gov.credit before
      the banks;
    - a recorder process (SUB) that writes every event as a row to SQLite
      (WAL, synchronous NORMAL, one transaction per 10,000 events or
      100 ms, one prepared INSERT, an index on the request number like
      finmatch's events_request_n);
    - the load clients in this process: DEALERs, a fixed number of
      requests in flight.

    Bodies are opaque blobs (of -s bytes, or of finmatch's sizes with
    --sizes finmatch, after --frames N header frames): nothing is encoded,
    decoded, validated, matched, ranked or journaled.  The broker routes by a
    request number it writes into the body, and a request ends when every
    bank answered.  What this measures is libzmq, the kernel's loopback,
    the process wake-ups and SQLite: what any implementation of this
    shape pays on this machine before doing anything.

    Not a test; bench/README.md has the figures.
    =========================================================================
*/

#include <czmq.h>
#include <sqlite3.h>
#include <sys/prctl.h>
#include <sys/types.h>
#include <sys/wait.h>
#include "fm_cpu.h"
#include "fm_store.h"

#define MAX_BANKS       16
#define MAX_BODY        4096
#define BATCH_EVENTS    64              //  events per PUB message, at most
#define COMMIT_EVENTS   10000           //  recorder: rows per transaction
#define COMMIT_MS       100             //  ... or this often
#define END_TOPIC       "END"

typedef struct {
    int requests;                       //  -n
    int inflight;                       //  -k
    int clients;                        //  -C
    int banks;                          //  -b
    bool gov;                           //  --gov: ask a gov worker first
    int events;                         //  -E, events per request
    int size;                           //  -s, body and event bytes
    //  Bytes of each kind of message (all -s, or --sizes finmatch)
    int request_size, credit_size, profile_size, query_size, answer_size,
        result_size, event_size;
    int frames;                         //  --frames: header frames per message
    bool log;                           //  false: --no-log (count only)
} opts_t;

//  Request number <-> body: the broker keeps its slot in the first 4
//  bytes of every body it sends, the client its own tag in the next 4
static uint32_t
s_get32 (const byte *at)
{
    uint32_t value;
    memcpy (&value, at, 4);
    return value;
}

static void
s_put32 (byte *at, uint32_t value)
{
    memcpy (at, &value, 4);
}


//  --frames N: N header frames before each body, as 7/MDP has ("",
//  "MDPW01", a command, a reply-to...), so that a run can price them
static void
s_send_headers (void *socket, int count)
{
    for (int i = 0; i < count; i++)
        zmq_send (socket, "MDPW01", 6, ZMQ_SNDMORE);
}

//  Receive the rest of a message into buf, keeping its last frame (the
//  body); returns the body's size, or -1
static int
s_recv_body (void *socket, byte *buf, size_t capacity)
{
    int size = -1;
    int more = 1;
    while (more) {
        size = zmq_recv (socket, buf, capacity, 0);
        if (size < 0)
            return -1;
        size_t more_size = sizeof more;
        zmq_getsockopt (socket, ZMQ_RCVMORE, &more, &more_size);
    }
    return size > (int) capacity? (int) capacity: size;
}


//  --------------------------------------------------------------------------
//  Broker

typedef struct {
    byte client [16];                   //  the client's routing id
    size_t client_size;
    uint32_t tag;                       //  the client's own number
    int pending;                        //  answers still awaited
    int events;                         //  events published so far
    bool at_gov;                        //  waiting for the gov's answer
} slot_t;

typedef struct {
    const opts_t *opts;
    void *front, *back, *pub;
    slot_t *slots;                      //  one per request in flight
    size_t slot_count;
    uint32_t *free_slots;
    size_t free_count;
    byte body [MAX_BODY];
    byte batch [BATCH_EVENTS * (MAX_BODY + 4)];
    size_t batch_size;
    int batch_events;
    uint64_t seq;                       //  events published
} broker_t;

static void
s_publish_batch (broker_t *self)
{
    if (self->batch_events == 0)
        return;
    zmq_send (self->pub, "E", 1, ZMQ_SNDMORE);
    zmq_send (self->pub, self->batch, self->batch_size, 0);
    self->batch_size = 0;
    self->batch_events = 0;
}

//  One event: [u32 size][seq u64, request u32, type u32, padding]
static void
s_event (broker_t *self, uint32_t request, uint32_t type)
{
    self->slots [request].events++;
    size_t size = (size_t) self->opts->event_size;
    byte *at = self->batch + self->batch_size;
    s_put32 (at, (uint32_t) size);
    memset (at + 4, 0x5a, size);
    uint64_t seq = ++self->seq;
    memcpy (at + 4, &seq, 8);
    s_put32 (at + 12, request);
    s_put32 (at + 16, type);
    self->batch_size += 4 + size;
    if (++self->batch_events == BATCH_EVENTS)
        s_publish_batch (self);
}

static void
s_send_to (broker_t *self, void *socket, const byte *id, size_t id_size,
           const byte *body, size_t size)
{
    zmq_send (socket, id, id_size, ZMQ_SNDMORE);
    s_send_headers (socket, self->opts->frames);
    zmq_send (socket, body, size, 0);
}

static void
s_fan_out (broker_t *self, uint32_t request)
{
    size_t size = (size_t) self->opts->query_size;
    slot_t *slot = &self->slots [request];
    slot->pending = self->opts->banks;
    for (int bank = 0; bank < self->opts->banks; bank++) {
        char id [16];
        snprintf (id, sizeof id, "b%d", bank);
        s_send_to (self, self->back, (byte *) id, strlen (id), self->body, size);
    }
    s_event (self, request, 2);                 //  dispatched
}

//  Read [routing id][body] if a message is there: 1 read, 0 nothing
//  waiting, -1 a message of another shape (read and dropped)
static int
s_recv_routed (void *socket, byte *id, size_t *id_size, byte *body, size_t *size)
{
    int rc = zmq_recv (socket, id, 16, ZMQ_DONTWAIT);
    if (rc < 0)
        return 0;
    *id_size = (size_t) rc > 16? 16: (size_t) rc;
    int more = 0;
    size_t more_size = sizeof more;
    zmq_getsockopt (socket, ZMQ_RCVMORE, &more, &more_size);
    if (!more)
        return -1;
    rc = s_recv_body (socket, body, MAX_BODY);
    if (rc < 0)
        return -1;
    *size = (size_t) rc;
    return 1;
}

//  One client message, if any; false when none was waiting
static bool
s_on_client (broker_t *self)
{
    byte id [16];
    size_t id_size, size;
    int rc = s_recv_routed (self->front, id, &id_size, self->body, &size);
    if (rc <= 0 || size < 8)
        return rc != 0;
    if (size == 8 && memcmp (self->body, "STOP", 4) == 0) {
        //  The load is over: tell the recorder how many events to expect
        s_publish_batch (self);
        zmq_send (self->pub, END_TOPIC, strlen (END_TOPIC), ZMQ_SNDMORE);
        zmq_send (self->pub, &self->seq, sizeof self->seq, 0);
        zmq_send (self->front, id, id_size, ZMQ_SNDMORE);
        zmq_send (self->front, "STOP", 4, 0);
        return true;
    }
    if (self->free_count == 0)
        return true;                            //  more in flight than slots
    uint32_t request = self->free_slots [--self->free_count];
    slot_t *slot = &self->slots [request];
    memcpy (slot->client, id, id_size);
    slot->client_size = id_size;
    slot->tag = s_get32 (self->body + 4);
    slot->events = 0;
    s_put32 (self->body, request);
    s_event (self, request, 1);                 //  received
    if (self->opts->gov) {
        slot->at_gov = true;
        s_send_to (self, self->back, (byte *) "g", 1, self->body,
                   (size_t) self->opts->credit_size);
    }
    else
        s_fan_out (self, request);
    return true;
}

//  One worker message, if any; false when none was waiting
static bool
s_on_worker (broker_t *self, int *ready)
{
    byte id [16];
    size_t id_size, size;
    int rc = s_recv_routed (self->back, id, &id_size, self->body, &size);
    if (rc <= 0)
        return rc != 0;
    if (size == 1 && self->body [0] == 'R') {
        (*ready)++;
        return true;
    }
    uint32_t request = size < 8? UINT32_MAX: s_get32 (self->body);
    if (request >= self->slot_count)
        return true;                            //  not one of ours: dropped
    slot_t *slot = &self->slots [request];
    if (slot->at_gov) {
        slot->at_gov = false;
        s_event (self, request, 3);             //  enriched
        s_fan_out (self, request);
        return true;
    }
    //  Events: received, [enriched,] dispatched, one per answer while
    //  the budget lasts (one is kept for the end), the rest at the end
    if (slot->events < self->opts->events - 1)
        s_event (self, request, 4);             //  answered
    if (--slot->pending == 0) {
        while (slot->events < self->opts->events)
            s_event (self, request, 5);         //  completed
        s_put32 (self->body + 4, slot->tag);
        s_send_to (self, self->front, slot->client, slot->client_size, self->body,
                   (size_t) self->opts->result_size);
        self->free_slots [self->free_count++] = request;
    }
    return true;
}

static void
s_bind (void *socket, int fd)
{
    char endpoint [256];
    size_t size = sizeof endpoint;
    int rc = zmq_bind (socket, "tcp://127.0.0.1:*");
    assert (rc == 0);
    zmq_getsockopt (socket, ZMQ_LAST_ENDPOINT, endpoint, &size);
    dprintf (fd, "%s\n", endpoint);
}

static int
s_broker_run (const opts_t *opts, int fd)
{
    broker_t self = { .opts = opts };
    void *ctx = zmq_ctx_new ();
    self.front = zmq_socket (ctx, ZMQ_ROUTER);
    self.back = zmq_socket (ctx, ZMQ_ROUTER);
    self.pub = zmq_socket (ctx, ZMQ_PUB);
    int zero = 0;
    zmq_setsockopt (self.front, ZMQ_SNDHWM, &zero, sizeof zero);
    zmq_setsockopt (self.front, ZMQ_RCVHWM, &zero, sizeof zero);
    zmq_setsockopt (self.back, ZMQ_SNDHWM, &zero, sizeof zero);
    zmq_setsockopt (self.back, ZMQ_RCVHWM, &zero, sizeof zero);
    zmq_setsockopt (self.pub, ZMQ_SNDHWM, &zero, sizeof zero);
    s_bind (self.front, fd);
    s_bind (self.back, fd);
    s_bind (self.pub, fd);
    self.slot_count = (size_t) opts->inflight + 1;
    self.slots = (slot_t *) calloc (self.slot_count, sizeof (slot_t));
    self.free_slots = (uint32_t *) calloc (self.slot_count, sizeof (uint32_t));
    assert (self.slots && self.free_slots);
    for (size_t i = 0; i < self.slot_count; i++)
        self.free_slots [self.free_count++] = (uint32_t) (self.slot_count - 1 - i);

    int ready = 0, expected = opts->banks + (opts->gov? 1: 0);
    bool announced = false;
    zmq_pollitem_t items [] = {
        { self.back, 0, ZMQ_POLLIN, 0 }, { self.front, 0, ZMQ_POLLIN, 0 }
    };
    while (!zsys_interrupted) {
        if (zmq_poll (items, 2, 100) < 0)
            break;
        //  Drain each socket, workers first (they finish requests)
        while (s_on_worker (&self, &ready))
            ;
        while (s_on_client (&self))
            ;
        s_publish_batch (&self);
        if (!announced && ready == expected) {
            dprintf (fd, "ready\n");
            announced = true;
        }
    }
    zmq_close (self.front);
    zmq_close (self.back);
    zmq_close (self.pub);
    zmq_ctx_term (ctx);
    free (self.slots);
    free (self.free_slots);
    return 0;
}


//  --------------------------------------------------------------------------
//  Worker: answers each body with itself

static int
s_worker_run (const char *endpoint, const char *id, size_t reply_size, int frames)
{
    void *ctx = zmq_ctx_new ();
    void *dealer = zmq_socket (ctx, ZMQ_DEALER);
    zmq_setsockopt (dealer, ZMQ_ROUTING_ID, id, strlen (id));
    int zero = 0;
    zmq_setsockopt (dealer, ZMQ_SNDHWM, &zero, sizeof zero);
    zmq_setsockopt (dealer, ZMQ_RCVHWM, &zero, sizeof zero);
    zmq_connect (dealer, endpoint);
    zmq_send (dealer, "R", 1, 0);
    byte body [MAX_BODY];
    while (!zsys_interrupted) {
        int size = s_recv_body (dealer, body, sizeof body);
        if (size < 0)
            break;
        if (size >= 8) {
            s_send_headers (dealer, frames);
            zmq_send (dealer, body, reply_size, 0);
        }
    }
    zmq_close (dealer);
    zmq_ctx_term (ctx);
    return 0;
}


//  --------------------------------------------------------------------------
//  Recorder: every event a row

typedef struct {
    sqlite3 *db;
    sqlite3_stmt *insert, *begin, *commit;
    bool in_transaction;
    int in_batch;
    int64_t batch_start;
    uint64_t rows;
} recorder_t;

static void
s_exec (sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec (db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf (stderr, "fm-barebench: recorder: %s: %s\n", sql, err);
        _exit (1);
    }
}

static void
s_commit (recorder_t *self)
{
    if (!self->in_transaction)
        return;
    sqlite3_step (self->commit);
    sqlite3_reset (self->commit);
    self->in_transaction = false;
    self->in_batch = 0;
}

static void
s_store (recorder_t *self, const byte *event, size_t size)
{
    if (!self->db) {
        self->rows++;
        return;
    }
    if (!self->in_transaction) {
        sqlite3_step (self->begin);
        sqlite3_reset (self->begin);
        self->in_transaction = true;
        self->batch_start = zclock_mono ();
    }
    uint64_t seq;
    memcpy (&seq, event, 8);
    sqlite3_bind_int64 (self->insert, 1, (sqlite3_int64) seq);
    sqlite3_bind_int64 (self->insert, 2, s_get32 (event + 8));
    sqlite3_bind_int64 (self->insert, 3, s_get32 (event + 12));
    sqlite3_bind_blob (self->insert, 4, event, (int) size, SQLITE_STATIC);
    if (sqlite3_step (self->insert) == SQLITE_DONE)
        self->rows++;
    sqlite3_reset (self->insert);
    if (++self->in_batch >= COMMIT_EVENTS)
        s_commit (self);
}

static int
s_recorder_run (const opts_t *opts, const char *endpoint, const char *db_path, int fd)
{
    recorder_t self = { 0 };
    if (opts->log) {
        if (sqlite3_open (db_path, &self.db) != SQLITE_OK)
            return 1;
        s_exec (self.db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = NORMAL;"
                         "CREATE TABLE events (seq INTEGER PRIMARY KEY,"
                         " request INTEGER, type INTEGER, body BLOB);"
                         "CREATE INDEX events_request ON events (request);");
        sqlite3_prepare_v2 (self.db, "INSERT INTO events VALUES (?, ?, ?, ?)", -1,
                            &self.insert, NULL);
        sqlite3_prepare_v2 (self.db, "BEGIN", -1, &self.begin, NULL);
        sqlite3_prepare_v2 (self.db, "COMMIT", -1, &self.commit, NULL);
        assert (self.insert && self.begin && self.commit);
    }
    void *ctx = zmq_ctx_new ();
    void *sub = zmq_socket (ctx, ZMQ_SUB);
    int zero = 0;
    zmq_setsockopt (sub, ZMQ_RCVHWM, &zero, sizeof zero);
    zmq_setsockopt (sub, ZMQ_SUBSCRIBE, "", 0);
    zmq_connect (sub, endpoint);
    dprintf (fd, "ready\n");
    byte *batch = (byte *) malloc (BATCH_EVENTS * (MAX_BODY + 4));
    uint64_t expected = UINT64_MAX;
    int64_t end_at = 0;                 //  when END came
    char topic [16];
    //  Until every event is in, or 2 s after END without them (lost)
    while (!zsys_interrupted && self.rows < expected
       &&  !(end_at && zclock_mono () - end_at > 2000)) {
        zmq_pollitem_t item = { sub, 0, ZMQ_POLLIN, 0 };
        if (zmq_poll (&item, 1, COMMIT_MS) < 0)
            break;
        if (self.in_transaction && zclock_mono () - self.batch_start >= COMMIT_MS)
            s_commit (&self);
        int events;
        size_t events_size = sizeof events;
        while (zmq_getsockopt (sub, ZMQ_EVENTS, &events, &events_size) == 0
           &&  (events & ZMQ_POLLIN)) {
            int topic_size = zmq_recv (sub, topic, sizeof topic, 0);
            int size = zmq_recv (sub, batch, BATCH_EVENTS * (MAX_BODY + 4), 0);
            if (size > BATCH_EVENTS * (MAX_BODY + 4))
                size = BATCH_EVENTS * (MAX_BODY + 4);   //  truncated by zmq_recv
            if (topic_size == (int) strlen (END_TOPIC)
            &&  memcmp (topic, END_TOPIC, strlen (END_TOPIC)) == 0 && size == 8) {
                memcpy (&expected, batch, 8);
                end_at = zclock_mono ();
            }
            else
            for (size_t at = 0; size > 0 && at + 4 <= (size_t) size; ) {
                size_t event_size = s_get32 (batch + at);
                if (event_size < 20 || event_size > (size_t) size - at - 4)
                    break;              //  not a batch of ours: the rest goes
                s_store (&self, batch + at + 4, event_size);
                at += 4 + event_size;
            }
        }
    }
    s_commit (&self);
    dprintf (fd, "%" PRIu64 " %" PRIu64 "\n", self.rows, expected);
    free (batch);
    zmq_close (sub);
    zmq_ctx_term (ctx);
    if (self.db) {
        sqlite3_finalize (self.insert);
        sqlite3_finalize (self.begin);
        sqlite3_finalize (self.commit);
        sqlite3_close (self.db);
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  The parent: processes, load, table

typedef struct {
    const char *name;
    pid_t pid;
    long cpu_from;
} child_t;

//  Start a child that runs fn's role and reports on a pipe; returns the
//  read end of its pipe
static int
s_spawn (child_t *child, const char *name, int (*role) (void *, int), void *arg)
{
    int fds [2];
    int rc = pipe (fds);
    assert (rc == 0);
    pid_t pid = fork ();
    assert (pid >= 0);
    if (pid == 0) {
        //  Never outlive the parent, however it ends
        prctl (PR_SET_PDEATHSIG, SIGTERM);
        if (getppid () == 1)
            _exit (1);
        close (fds [0]);
        _exit (role (arg, fds [1]));
    }
    close (fds [1]);
    child->name = name;
    child->pid = pid;
    return fds [0];
}

static bool
s_read_line (int fd, char *line, size_t size)
{
    size_t at = 0;
    while (at + 1 < size) {
        char c;
        if (read (fd, &c, 1) != 1)
            return false;
        if (c == '\n')
            break;
        line [at++] = c;
    }
    line [at] = 0;
    return true;
}

//  Role trampolines: arguments through a small struct
typedef struct {
    const opts_t *opts;
    char front [256], back [256], pub [256];
    char id [16];
    char db_path [512];
} role_arg_t;

static int
s_broker_role (void *arg, int fd)
{
    return s_broker_run (((role_arg_t *) arg)->opts, fd);
}

static int
s_worker_role (void *arg, int fd)
{
    close (fd);
    role_arg_t *self = (role_arg_t *) arg;
    bool is_gov = streq (self->id, "g");
    return s_worker_run (self->back, self->id,
                         (size_t) (is_gov? self->opts->profile_size: self->opts->answer_size),
                         self->opts->frames);
}

static int
s_recorder_role (void *arg, int fd)
{
    role_arg_t *self = (role_arg_t *) arg;
    return s_recorder_run (self->opts, self->pub, self->db_path, fd);
}

static int
s_compare_us (const void *a, const void *b)
{
    int64_t x = *(const int64_t *) a, y = *(const int64_t *) b;
    return x < y? -1: x > y;
}

//  Drive opts->requests through the broker, inflight at a time over the
//  clients, each request's latency into latency [its number]; returns
//  the wall time in microseconds
static int64_t
s_load (const opts_t *opts, void *ctx, const char *front, int64_t *latency)
{
    void *clients [64];
    zmq_pollitem_t items [64];
    int zero = 0;
    for (int c = 0; c < opts->clients; c++) {
        clients [c] = zmq_socket (ctx, ZMQ_DEALER);
        zmq_setsockopt (clients [c], ZMQ_SNDHWM, &zero, sizeof zero);
        zmq_setsockopt (clients [c], ZMQ_RCVHWM, &zero, sizeof zero);
        zmq_connect (clients [c], front);
        items [c] = (zmq_pollitem_t) { clients [c], 0, ZMQ_POLLIN, 0 };
    }
    byte body [MAX_BODY];
    memset (body, 0x33, sizeof body);
    int sent = 0, done = 0;
    int64_t start = zclock_usecs ();
    while (sent < opts->inflight && sent < opts->requests) {
        latency [sent] = zclock_usecs ();
        s_put32 (body + 4, (uint32_t) sent);
        s_send_headers (clients [sent % opts->clients], opts->frames);
        zmq_send (clients [sent % opts->clients], body, (size_t) opts->request_size, 0);
        sent++;
    }
    int quiet = 0;                      //  seconds without a reply
    while (done < opts->requests && !zsys_interrupted && quiet < 5) {
        int ready = zmq_poll (items, opts->clients, 1000);
        if (ready < 0)
            break;
        quiet = ready == 0? quiet + 1: 0;
        for (int c = 0; c < opts->clients; c++) {
            int events;
            size_t events_size = sizeof events;
            while (zmq_getsockopt (clients [c], ZMQ_EVENTS, &events, &events_size) == 0
               &&  (events & ZMQ_POLLIN)) {
                byte reply [MAX_BODY];
                if (s_recv_body (clients [c], reply, sizeof reply) < 0)
                    break;
                done++;
                uint32_t tag = s_get32 (reply + 4);
                if (tag < (uint32_t) opts->requests)
                    latency [tag] = zclock_usecs () - latency [tag];
                if (sent < opts->requests) {
                    latency [sent] = zclock_usecs ();
                    s_put32 (body + 4, (uint32_t) sent);
                    s_send_headers (clients [c], opts->frames);
                    zmq_send (clients [c], body, (size_t) opts->request_size, 0);
                    sent++;
                }
            }
        }
    }
    int64_t elapsed = zclock_usecs () - start;
    //  The recorder learns how many events to expect
    zmq_send (clients [0], "STOP\0\0\0\0", 8, 0);
    byte reply [16];
    s_recv_body (clients [0], reply, sizeof reply);
    for (int c = 0; c < opts->clients; c++)
        zmq_close (clients [c]);
    return done == opts->requests? elapsed: -1;
}

static void
s_usage (FILE *out)
{
    fprintf (out,
        "Usage: fm-barebench [-n REQUESTS] [-k INFLIGHT] [-C CLIENTS] [-b BANKS]\n"
        "                    [-E EVENTS] [-s BYTES] [--sizes finmatch] [--gov]\n"
        "                    [--frames N] [--no-log] [--smoke]\n"
        "\n"
        "The bare message pattern of finmatch, with no work: a broker process\n"
        "(ROUTER for clients, ROUTER for workers, PUB for events), BANKS echo\n"
        "workers and with --gov a gov worker asked first, a recorder process\n"
        "writing every event to SQLite, load clients here.  Bodies are opaque\n"
        "BYTES-byte blobs.  Prints requests/s, latency p50/p99/p999 and each\n"
        "process's CPU per request: what any implementation of this shape\n"
        "costs on this machine.\n"
        "\n"
        "  -n REQUESTS   requests (default 200000)\n"
        "  -k INFLIGHT   requests in flight (default 200)\n"
        "  -C CLIENTS    client connections (default 4)\n"
        "  -b BANKS      bank workers, each asked every request (default 5)\n"
        "  -E EVENTS     events logged per request (default 7)\n"
        "  -s BYTES      size of every body and event (default 200)\n"
        "  --sizes finmatch  finmatch's sizes instead (fm-microbench's bodies):\n"
        "                REQUEST 570, CREDIT_QUERY 160, PROFILE 410, BANK_QUERY\n"
        "                630, BANK_ANSWER 650, RESULT 2850, events 230 bytes\n"
        "  --gov         a gov worker answers first, then the banks are asked\n"
        "  --frames N    N header frames before every body (7/MDP has 3-4)\n"
        "  --no-log      the recorder counts events but writes no SQLite\n"
        "  --smoke       2,000 requests; exit 1 unless every event was logged\n"
        "  -h, --help    this text\n");
}

//  An option that takes a number, its range and where it goes
typedef struct {
    const char *flag;
    int low, high;
    int *value;
} number_option_t;

//  The entry of flag in options (ended by a NULL flag), or NULL
static const number_option_t *
s_number_option (const number_option_t *options, const char *flag)
{
    for (; options->flag; options++)
        if (streq (flag, options->flag))
            return options;
    return NULL;
}

static bool
s_int_arg (int argc, char **argv, int *index, int low, int high, int *value)
{
    if (*index + 1 >= argc)
        return false;
    char *end;
    long parsed = strtol (argv [++*index], &end, 10);
    if (*end || parsed < low || parsed > high)
        return false;
    *value = (int) parsed;
    return true;
}

int
main (int argc, char **argv)
{
    opts_t opts = { .requests = 200000, .inflight = 200, .clients = 4, .banks = 5,
                    .events = 7, .size = 200, .log = true };
    bool finmatch_sizes = false;
    const number_option_t numbers [] = {
        { "-n", 1, 10000000, &opts.requests },
        { "-k", 1, 100000, &opts.inflight },
        { "-C", 1, 64, &opts.clients },
        { "-b", 1, MAX_BANKS, &opts.banks },
        { "-E", 2, 64, &opts.events },
        { "-s", 24, MAX_BODY, &opts.size },
        { "--frames", 0, 16, &opts.frames },
        { NULL, 0, 0, NULL }
    };
    const number_option_t *number;
    for (int i = 1; i < argc; i++) {
        const char *arg = argv [i];
        bool ok = true;
        number = NULL;
        if (streq (arg, "-h") || streq (arg, "--help")) {
            s_usage (stdout);
            return 0;
        }
        else
        if ((number = s_number_option (numbers, arg)))
            ok = s_int_arg (argc, argv, &i, number->low, number->high, number->value);
        else
        if (streq (arg, "--sizes")) {
            if (i + 1 < argc && streq (argv [i + 1], "finmatch")) {
                finmatch_sizes = true;
                i++;
            }
            else {
                fprintf (stderr, "fm-barebench: --sizes takes 'finmatch'\n");
                return 2;
            }
        }
        else
        if (streq (arg, "--gov"))
            opts.gov = true;
        else
        if (streq (arg, "--no-log"))
            opts.log = false;
        else
        if (streq (arg, "--smoke"))
            opts.requests = 2000;
        else
            ok = false;
        if (!ok && number)
            fprintf (stderr, "fm-barebench: %s takes a number from %d to %d\n",
                     arg, number->low, number->high);
        else
        if (!ok) {
            fprintf (stderr, "fm-barebench: unknown argument '%s'\n", arg);
            s_usage (stderr);
        }
        if (!ok)
            return 2;
    }
    if (finmatch_sizes) {
        opts.request_size = 570;
        opts.credit_size = 160;
        opts.profile_size = 410;
        opts.query_size = 630;
        opts.answer_size = 650;
        opts.result_size = 2850;
        opts.event_size = 230;
    }
    else
        opts.request_size = opts.credit_size = opts.profile_size = opts.query_size
            = opts.answer_size = opts.result_size = opts.event_size = opts.size;
    if (opts.events < 2 + (opts.gov? 1: 0)) {
        fprintf (stderr, "fm-barebench: -E must be at least %d (received, %sdispatched)\n",
                 2 + (opts.gov? 1: 0), opts.gov? "enriched, ": "");
        return 2;
    }
    //  Children are forked before this process makes a ZeroMQ context
    char dir [] = "/tmp/fm-barebench.XXXXXX";
    if (!mkdtemp (dir)) {
        fprintf (stderr, "fm-barebench: mkdtemp: %s\n", strerror (errno));
        return 1;
    }
    role_arg_t arg = { .opts = &opts };
    snprintf (arg.db_path, sizeof arg.db_path, "%s/events.db", dir);
    child_t children [MAX_BANKS + 3];
    int child_count = 0;
    int broker_fd = s_spawn (&children [child_count++], "broker", s_broker_role, &arg);
    bool up = s_read_line (broker_fd, arg.front, sizeof arg.front)
           && s_read_line (broker_fd, arg.back, sizeof arg.back)
           && s_read_line (broker_fd, arg.pub, sizeof arg.pub);
    int recorder_fd = -1;
    if (up) {
        recorder_fd = s_spawn (&children [child_count++], "recorder", s_recorder_role, &arg);
        char line [64];
        up = s_read_line (recorder_fd, line, sizeof line);
    }
    static char names [MAX_BANKS + 1][16];
    for (int w = 0; up && w < opts.banks + (opts.gov? 1: 0); w++) {
        bool is_gov = w == opts.banks;
        if (is_gov) {
            snprintf (arg.id, sizeof arg.id, "g");
            snprintf (names [w], sizeof names [w], "gov");
        }
        else {
            snprintf (arg.id, sizeof arg.id, "b%d", w);
            snprintf (names [w], sizeof names [w], "bank-%d", w);
        }
        close (s_spawn (&children [child_count++], names [w], s_worker_role, &arg));
    }
    char line [128];
    up = up && s_read_line (broker_fd, line, sizeof line) && streq (line, "ready");
    int rc = 0;
    if (!up) {
        fprintf (stderr, "fm-barebench: the processes did not start\n");
        rc = 1;
    }
    void *ctx = up? zmq_ctx_new (): NULL;
    int64_t elapsed = -1;
    int64_t *latency = (int64_t *) calloc ((size_t) opts.requests, sizeof (int64_t));
    assert (latency);
    long self_from = fm_cpu_process_ticks (getpid ());
    if (up) {
        //  A SUB connects asynchronously: the first events could go
        //  before the recorder's subscription arrives, so settle first
        zclock_sleep (200);
        for (int c = 0; c < child_count; c++)
            children [c].cpu_from = fm_cpu_process_ticks (children [c].pid);
        self_from = fm_cpu_process_ticks (getpid ());
        elapsed = s_load (&opts, ctx, arg.front, latency);
        if (elapsed < 0) {
            fprintf (stderr, "fm-barebench: the load did not complete\n");
            rc = 1;
        }
    }
    long ticks_per_s = sysconf (_SC_CLK_TCK);
    if (elapsed > 0) {
        printf ("fm-barebench: %d requests, %d in flight over %d clients, %s%d banks,"
                " %d events/request %s, %s\n",
                opts.requests, opts.inflight, opts.clients, opts.gov? "gov + ": "",
                opts.banks, opts.events, opts.log? "logged to SQLite": "not logged",
                finmatch_sizes? "finmatch's message sizes": "bodies of -s bytes");
        printf ("requests/s %.0f\n", opts.requests * 1e6 / (double) elapsed);
        qsort (latency, (size_t) opts.requests, sizeof (int64_t), s_compare_us);
        printf ("latency ms p50 %.3f p99 %.3f p999 %.3f\n",
                latency [opts.requests / 2] / 1000.0,
                latency [(size_t) opts.requests * 99 / 100] / 1000.0,
                latency [(size_t) opts.requests * 999 / 1000] / 1000.0);
        double total = 0;
        for (int c = 0; c <= child_count; c++) {
            long to = fm_cpu_process_ticks (c < child_count? children [c].pid: getpid ());
            long from = c < child_count? children [c].cpu_from: self_from;
            double us = (double) (to - from) * 1e6 / (double) ticks_per_s / opts.requests;
            total += us;
            printf ("CPU us/request %-10s %6.1f\n", c < child_count? children [c].name: "clients", us);
        }
        printf ("CPU us/request %-10s %6.1f\n", "all", total);
    }
    //  The recorder has the last word on the log; the others are stopped
    uint64_t rows = 0, expected = 0;
    if (recorder_fd >= 0 && elapsed > 0) {
        if (s_read_line (recorder_fd, line, sizeof line)
        &&  sscanf (line, "%" SCNu64 " %" SCNu64, &rows, &expected) == 2)
            printf ("events logged %" PRIu64 " of %" PRIu64 "\n", rows, expected);
        if (rows != expected || expected != (uint64_t) opts.requests * (uint64_t) opts.events) {
            fprintf (stderr, "fm-barebench: events lost\n");
            rc = 1;
        }
    }
    for (int c = 0; c < child_count; c++)
        kill (children [c].pid, SIGTERM);
    for (int c = 0; c < child_count; c++)
        waitpid (children [c].pid, NULL, 0);
    if (ctx)
        zmq_ctx_term (ctx);
    fm_store_remove (arg.db_path);
    rmdir (dir);
    free (latency);
    return rc;
}
