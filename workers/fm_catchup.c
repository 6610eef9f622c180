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
    uint64_t asked_epoch;           //  Its gap row (ASK_GAP)
    uint64_t asked_row;
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
        self->asked_epoch = gap->epoch;
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
            if (asked == ASK_GAP && epoch == self->asked_epoch) {
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
