/*  =========================================================================
    fm_catchup - the recorder asks the broker for the events it missed

    See fm_catchup.h.  State: at most one question out (asked_*), and a
    cursor per gap row that the broker answered "gone" for its beginning:
    the next question about that row starts at the cursor, and a row whose
    cursor passed its end is not asked again.  Cursors live in memory only:
    a restarted recorder asks once more, and the broker answers 410 again.
    =========================================================================
*/

#include "fm_catchup.h"
#include "fm_proto.h"
#include "fm_mdp.h"
#include <inttypes.h>

//  A question without answer is given up after this (msecs): the broker
//  is busy or gone; we ask again on a later tick
#define TIMEOUT_MS          2000
//  How often we ask for the broker's head (msecs)
#define HEAD_MS             1000
//  Gap rows read per tick
#define GAPS_MAX            64

typedef enum {
    ASK_NONE = 0,
    ASK_GAP,                        //  about a gaps row
    ASK_HEAD,                       //  the broker's head
    ASK_TAIL                        //  last seq in the log .. old head
} ask_t;

struct _fm_catchup_t {
    zsock_t *dealer;                //  Owned: to the broker's ROUTER
    fm_store_t *store;              //  Borrowed from the recorder
    zhashx_t *cursors;              //  "epoch/from_seq" of a gap row ->
                                    //  uint64_t * first seq still to ask
    ask_t asked;                    //  The question out, or ASK_NONE
    uint64_t asked_epoch;           //  Its epoch and first seq as sent (an
    uint64_t asked_from;            //  answer that does not echo them is a
                                    //  late answer to an older question)
    uint64_t asked_row;             //  Its gap row's first seq (ASK_GAP)
    uint64_t asked_to;              //  Its last seq (ASK_TAIL: the head
                                    //  the tail runs to)
    int64_t asked_at;               //  mono msecs
    int64_t head_at;                //  next head probe, mono msecs
    uint64_t head_epoch;            //  Head seen by the previous probe
    uint64_t head_seq;
    fm_catchup_stats_t stats;
};

fm_catchup_t *
fm_catchup_new (const char *endpoint, fm_curve_t *curve, fm_store_t *store)
{
    assert (endpoint);
    assert (store);
    fm_catchup_t *self = (fm_catchup_t *) zmalloc (sizeof (fm_catchup_t));
    assert (self);
    self->store = store;
    self->cursors = zhashx_new ();
    assert (self->cursors);
    zhashx_set_destructor (self->cursors, (czmq_destructor *) zstr_free);
    self->dealer = zsock_new (ZMQ_DEALER);
    assert (self->dealer);
    zsock_set_linger (self->dealer, 0);
    //  Questions are not queued for a broker that is not there: a tick
    //  asks again once it is back
    zsock_set_sndtimeo (self->dealer, 0);
    if (curve)
        fm_curve_apply_client (curve, self->dealer);
    if (zsock_connect (self->dealer, "%s", endpoint)) {
        zsys_error ("fm_catchup: invalid broker endpoint '%s'", endpoint);
        fm_catchup_destroy (&self);
    }
    return self;
}

void
fm_catchup_destroy (fm_catchup_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        fm_catchup_t *self = *self_p;
        zsock_destroy (&self->dealer);
        zhashx_destroy (&self->cursors);
        free (self);
        *self_p = NULL;
    }
}

zsock_t *
fm_catchup_sock (fm_catchup_t *self)
{
    assert (self);
    return self->dealer;
}

//  Send one question.  Returns 0, or -1 if it could not be sent now.
static int
s_ask (fm_catchup_t *self, ask_t kind, uint64_t epoch, uint64_t from_seq,
       uint64_t to_seq)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_addmem (msg, "", 0);
    zmsg_addstr (msg, FM_MDPC);
    zmsg_addstr (msg, FM_SERVICE_REPLAY);
    zmsg_addstrf (msg, "%" PRIu64 " %" PRIu64 " %" PRIu64, epoch, from_seq, to_seq);
    if (zmsg_send (&msg, self->dealer)) {
        zmsg_destroy (&msg);
        return -1;
    }
    self->asked = kind;
    self->asked_epoch = epoch;
    self->asked_from = from_seq;
    self->asked_to = to_seq;
    self->asked_at = zclock_mono ();
    self->stats.asked++;
    return 0;
}

static uint64_t
s_cursor (fm_catchup_t *self, uint64_t epoch, uint64_t row)
{
    char key [48];
    snprintf (key, sizeof (key), "%" PRIu64 "/%" PRIu64, epoch, row);
    uint64_t *cursor = (uint64_t *) zhashx_lookup (self->cursors, key);
    return cursor? *cursor: row;
}

static void
s_cursor_set (fm_catchup_t *self, uint64_t epoch, uint64_t row, uint64_t next)
{
    char key [48];
    snprintf (key, sizeof (key), "%" PRIu64 "/%" PRIu64, epoch, row);
    uint64_t *cursor = (uint64_t *) malloc (sizeof (uint64_t));
    assert (cursor);
    *cursor = next;
    zhashx_update (self->cursors, key, cursor);
}

int
fm_catchup_tick (fm_catchup_t *self)
{
    assert (self);
    int64_t now = zclock_mono ();
    if (self->asked && now - self->asked_at < TIMEOUT_MS)
        return 0;
    if (self->asked) {
        self->stats.timeouts++;
        self->asked = ASK_NONE;
    }
    if (now >= self->head_at) {
        self->head_at = now + HEAD_MS;
        s_ask (self, ASK_HEAD, 0, 0, 0);
        return 0;
    }
    fm_store_gap_t gaps [GAPS_MAX];
    int count = fm_store_gaps (self->store, gaps, GAPS_MAX);
    for (int index = 0; index < count; index++) {
        fm_store_gap_t *gap = &gaps [index];
        uint64_t from_seq = s_cursor (self, gap->epoch, gap->from_seq);
        if (from_seq < gap->from_seq)
            from_seq = gap->from_seq;
        if (from_seq > gap->to_seq)
            continue;           //  All of it is gone
        self->asked_row = gap->from_seq;
        s_ask (self, ASK_GAP, gap->epoch, from_seq, gap->to_seq);
        break;
    }
    return 0;
}

//  Apply one answer: [""][MDPC01][fm.replay][status line][events...]
static void
s_answer (fm_catchup_t *self, zmsg_t *msg)
{
    zframe_t *empty = zmsg_pop (msg);
    char *protocol = zmsg_popstr (msg);
    char *service = zmsg_popstr (msg);
    char *line = zmsg_popstr (msg);
    int status = 0;
    uint64_t epoch = 0, from_seq = 0, to_seq = 0, head = 0;
    if (!empty || zframe_size (empty) || !protocol || strneq (protocol, FM_MDPC)
    ||  !service || strneq (service, FM_SERVICE_REPLAY) || !line
    ||  sscanf (line, "%d %" SCNu64 " %" SCNu64 " %" SCNu64 " %" SCNu64,
                &status, &epoch, &from_seq, &to_seq, &head) != 5) {
        //  403 comes as an ERROR body (msgpack), not a status line
        zsys_warning ("fm_catchup: unexpected answer from the broker (%s)",
                      service? service: "no service");
        self->asked = ASK_NONE;
    }
    else
    if (!self->asked
    ||  (self->asked == ASK_HEAD) != (from_seq == 0)
    ||  (self->asked != ASK_HEAD
         && (epoch != self->asked_epoch || from_seq != self->asked_from))) {
        //  A late answer to a question given up on (TIMEOUT_MS): applying
        //  it to the question now out would move that question's cursor
        //  with another range's status and never ask for the range again.
        //  The question out keeps waiting for its own answer
        self->stats.stale++;
        zsys_debug ("fm_catchup: late answer '%s' ignored", line);
    }
    else {
        ask_t asked = self->asked;
        uint64_t asked_to = self->asked_to;
        self->asked = ASK_NONE;
        self->stats.answered++;
        if (status == 200) {
            zframe_t *body = zmsg_pop (msg);
            while (body) {
                fm_event_t event;
                fm_error_t err;
                if (fm_event_decode (zframe_data (body), zframe_size (body), &event, &err) == 0
                &&  event.epoch == epoch) {
                    fm_store_append (self->store, &event, zframe_data (body),
                                     zframe_size (body));
                    self->stats.replayed++;
                }
                else
                    zsys_warning ("fm_catchup: replayed event refused: %s", err.text);
                zframe_destroy (&body);
                body = zmsg_pop (msg);
            }
            //  Now, so that the next tick sees the gap rows as they are
            fm_store_flush (self->store);
            //  Behind: the next batch of the tail at once, not at the next
            //  head probe (one batch a second was ~1000 events/s).  Gap
            //  rows need nothing: fm_catchup_recv ticks after each answer
            if (asked == ASK_TAIL && to_seq >= from_seq && to_seq < asked_to)
                s_ask (self, ASK_TAIL, epoch, to_seq + 1, asked_to);
        }
        else
        if (status == 410 || status == 204) {
            if (asked == ASK_GAP) {
                s_cursor_set (self, epoch, self->asked_row, to_seq + 1);
                if (status == 410) {
                    self->stats.gone += to_seq - from_seq + 1;
                    zsys_warning ("fm_catchup: events %" PRIu64 "..%" PRIu64 " of epoch %"
                                  PRIu64 " are gone: they stay a gap", from_seq, to_seq, epoch);
                }
            }
            else
            if (asked == ASK_TAIL && status == 410 && to_seq < self->head_seq) {
                //  The start of the tail is gone: fetch the rest, and the
                //  store makes the gone part a gap row of its exact size
                self->stats.gone += to_seq - from_seq + 1;
                s_ask (self, ASK_TAIL, epoch, to_seq + 1, self->head_seq);
            }
            else
            if (asked == ASK_HEAD && from_seq == 0) {
                //  Below the head of one probe ago: lost at the end
                uint64_t last = 0;
                if (epoch == self->head_epoch
                &&  fm_store_last_seq (self->store, epoch, &last) == 0
                &&  last < self->head_seq)
                    s_ask (self, ASK_TAIL, epoch, last + 1, self->head_seq);
                self->head_epoch = epoch;
                self->head_seq = head;
            }
        }
        else
            zsys_warning ("fm_catchup: broker answered '%s'", line);
    }
    zframe_destroy (&empty);
    zstr_free (&protocol);
    zstr_free (&service);
    zstr_free (&line);
}

int
fm_catchup_recv (fm_catchup_t *self)
{
    assert (self);
    while (zsock_events (self->dealer) & ZMQ_POLLIN) {
        zmsg_t *msg = zmsg_recv (self->dealer);
        if (!msg)
            break;
        s_answer (self, msg);
        zmsg_destroy (&msg);
    }
    return fm_catchup_tick (self);
}

void
fm_catchup_stats (fm_catchup_t *self, fm_catchup_stats_t *stats)
{
    assert (self);
    *stats = self->stats;
}


//  --------------------------------------------------------------------------
//  Selftest: a ROUTER in the test plays the broker's fm.replay

//  One valid event of epoch/seq, decoded into *event; returns its body
static zframe_t *
s_test_event (uint64_t epoch, uint64_t seq, fm_event_t *event)
{
    memset (event, 0, sizeof *event);
    event->epoch = epoch;
    event->seq = seq;
    event->ts_us = (int64_t) epoch;
    event->type = FM_EV_WORKER_READY;
    snprintf (event->service, sizeof event->service, "bank.T");
    snprintf (event->peer, sizeof event->peer, "00ff");
    fm_error_t err;
    zframe_t *body = fm_event_encode (event, &err);
    if (!body)
        zsys_error ("fm_catchup_test: %s", err.text);
    assert (body);
    return body;
}

//  Read one question for the fake broker into text; returns the asker's
//  routing id
static zframe_t *
s_test_question (zsock_t *router, char *text, size_t size)
{
    zpoller_t *poller = zpoller_new (router, NULL);
    assert (zpoller_wait (poller, 2000) == router);
    zpoller_destroy (&poller);
    zmsg_t *msg = zmsg_recv (router);
    assert (msg && zmsg_size (msg) == 5);
    zframe_t *identity = zmsg_pop (msg);
    zframe_t *empty = zmsg_pop (msg);
    char *protocol = zmsg_popstr (msg);
    char *service = zmsg_popstr (msg);
    char *question = zmsg_popstr (msg);
    assert (zframe_size (empty) == 0);
    assert (streq (protocol, FM_MDPC));
    assert (streq (service, FM_SERVICE_REPLAY));
    snprintf (text, size, "%s", question);
    zframe_destroy (&empty);
    zstr_free (&protocol);
    zstr_free (&service);
    zstr_free (&question);
    zmsg_destroy (&msg);
    return identity;
}

//  Answer with a status line and the events first..last (none if 0)
static void
s_test_reply (zsock_t *router, zframe_t *identity, const char *line,
              uint64_t epoch, uint64_t first, uint64_t last)
{
    zmsg_t *msg = zmsg_new ();
    zmsg_append (msg, &(zframe_t *) {zframe_dup (identity)});
    zmsg_addmem (msg, "", 0);
    zmsg_addstr (msg, FM_MDPC);
    zmsg_addstr (msg, FM_SERVICE_REPLAY);
    zmsg_addstr (msg, line);
    for (uint64_t seq = first; first && seq <= last; seq++) {
        fm_event_t event;
        zframe_t *body = s_test_event (epoch, seq, &event);
        zmsg_append (msg, &body);
    }
    assert (zmsg_send (&msg, router) == 0);
}

//  Let the catch-up read what the fake broker sent (and ask its next)
static void
s_test_recv (fm_catchup_t *self)
{
    zpoller_t *poller = zpoller_new (fm_catchup_sock (self), NULL);
    assert (zpoller_wait (poller, 2000) == fm_catchup_sock (self));
    zpoller_destroy (&poller);
    fm_catchup_recv (self);
}

//  One tick's head probe ("0 0 0"), answered with the epoch's head at
//  head; then the question for the gap 2..4 must come.  Returns that
//  question's identity, to answer it (caller destroys).
static zframe_t *
s_test_probe_then_gap (zsock_t *router, fm_catchup_t *self, uint64_t epoch,
                       uint64_t head)
{
    char question [128], line [128];
    fm_catchup_tick (self);
    zframe_t *identity = s_test_question (router, question, sizeof question);
    assert (streq (question, "0 0 0"));
    snprintf (line, sizeof line, "204 %" PRIu64 " 0 %" PRIu64 " %" PRIu64, epoch, head, head);
    s_test_reply (router, identity, line, epoch, 0, 0);
    s_test_recv (self);
    zframe_destroy (&identity);
    identity = s_test_question (router, question, sizeof question);
    snprintf (line, sizeof line, "%" PRIu64 " 2 4", epoch);
    assert (streq (question, line));
    return identity;
}

void
fm_catchup_test (bool verbose)
{
    if (verbose)
        zsys_info ("fm_catchup_test: starting");
    //  @selftest
    char dir [] = "/tmp/fm_catchup_test.XXXXXX";
    assert (mkdtemp (dir));
    char path [256];
    snprintf (path, sizeof path, "%s/events.db", dir);
    const uint64_t epoch = 1714521600000000;
    fm_store_t *store = fm_store_new (path, 100, 1000);
    assert (store);
    zsock_t *router = zsock_new_router ("tcp://127.0.0.1:*");
    assert (router);
    char *endpoint = zsock_last_endpoint (router);      //  a new string
    fm_catchup_t *catchup = fm_catchup_new (endpoint, NULL, store);
    assert (catchup);
    zstr_free (&endpoint);

    //  The log holds 1 and 5 of the epoch: a gap row 2..4
    for (uint64_t seq = 1; seq <= 5; seq += 4) {
        fm_event_t event;
        zframe_t *body = s_test_event (epoch, seq, &event);
        assert (fm_store_append (store, &event, zframe_data (body),
                                 zframe_size (body)) == 0);
        zframe_destroy (&body);
    }
    assert (fm_store_flush (store) == 0);
    fm_store_gap_t gaps [4];
    assert (fm_store_gaps (store, gaps, 4) == 1);
    assert (gaps [0].from_seq == 2 && gaps [0].to_seq == 4);

    //  First the head probe; its answer makes the next tick ask the gap
    char line [128];
    zframe_t *identity = s_test_probe_then_gap (router, catchup, epoch, 5);

    //  A late head answer (to a probe given up on) arrives while the gap
    //  question is out: it must not be taken for the gap's answer, which
    //  would move the gap's cursor past it and never ask again
    snprintf (line, sizeof line, "204 %" PRIu64 " 0 9 9", epoch);
    s_test_reply (router, identity, line, epoch, 0, 0);
    s_test_recv (catchup);
    fm_catchup_stats_t stats;
    fm_catchup_stats (catchup, &stats);
    assert (stats.stale == 1);

    //  So is an answer to another range
    snprintf (line, sizeof line, "410 %" PRIu64 " 7 8 9", epoch);
    s_test_reply (router, identity, line, epoch, 0, 0);
    s_test_recv (catchup);
    fm_catchup_stats (catchup, &stats);
    assert (stats.stale == 2 && stats.gone == 0);

    //  The gap question goes unanswered past its timeout: the gap is
    //  still wanted, so after the next head probe it is asked again (a
    //  late answer taken for the gap's would have moved its cursor past
    //  4, and it would never be asked again)
    zframe_destroy (&identity);
    zclock_sleep (TIMEOUT_MS + 100);
    identity = s_test_probe_then_gap (router, catchup, epoch, 9);

    //  The gap's own answer fills it
    snprintf (line, sizeof line, "200 %" PRIu64 " 2 4 9", epoch);
    s_test_reply (router, identity, line, epoch, 2, 4);
    s_test_recv (catchup);
    fm_catchup_stats (catchup, &stats);
    assert (stats.replayed == 3);
    assert (fm_store_gaps (store, gaps, 4) == 0);
    uint64_t last = 0;
    assert (fm_store_last_seq (store, epoch, &last) == 0 && last == 5);
    zframe_destroy (&identity);

    fm_catchup_destroy (&catchup);
    zsock_destroy (&router);
    fm_store_destroy (&store);
    int rc = fm_store_remove (path);
    assert (rc == 0);
    rc = rmdir (dir);                   //  nothing else was left in it
    assert (rc == 0);
    //  @end
    if (verbose)
        zsys_info ("fm_catchup_test: OK");
}
