/*  =========================================================================
    finmatch-recorder - keeps every broker event in an SQLite log

    Subscribes to the broker's event stream (XPUB) in batches (SPEC.md
    12.3: up to 64 events a message, not one per event) and appends each
    event, decoded columns plus the raw body, to the fm_store log.  Writes
    are batched: a batch commits when batch_max events are pending or on a
    batch_ms timer.  When the disk or the lock fails, the pending events
    stay in memory (bounded by pending_max) and the flush is retried with
    exponential backoff; events refused while the queue is full become gap
    rows, never a silent hole.

    SUB is a "slow joiner": events published before the subscription is
    active are lost.  The store records that as a gap from seq 1 when the
    first event it sees in an epoch has seq > 1, and every later seq jump
    as a gap too.  fm_catchup then asks the broker's fm.replay service for
    each gap and the store fills it; what the broker no longer has stays
    a gap row (recorder/broker = "" turns replay off).

    While the log keeps up and the machine has spare CPU, the thread that
    reads and writes it runs at idle CPU priority, so that a broker and
    workers on the same machine run first (recorder/yield_cpu and
    yield_spare; fm_yield.h says when it switches).

    Runs in the foreground until SIGINT/SIGTERM, then flushes, closes the
    log and prints one summary line.  Exit 0, 1 if events were lost at
    shutdown or the log cannot be opened, 2 on bad configuration.
    =========================================================================
*/

#include <czmq.h>
#include <sqlite3.h>
#include "fm_proto.h"
#include "fm_batch.h"
#include "fm_config.h"
#include "fm_i18n.h"
#include "fm_store.h"
#include "fm_catchup.h"
#include "fm_curve.h"
#include "fm_yield.h"

//  Backoff of flush retries after a failure: doubles from batch_ms up to
//  this (msecs).  Long enough not to hammer a full disk, short enough that
//  a released lock is noticed quickly.
#define RETRY_MAX_MS        5000
//  Attempts of the final flush at shutdown, with backoff from 100 msecs
#define FINAL_ATTEMPTS      5
//  Messages read per wakeup before returning to the loop (timers stay
//  on time under a flood)
#define READ_BURST          1000
//  Once the SUB queue is empty, stop reading for this long (msecs): the
//  events that arrive meanwhile are then read in one wakeup instead of
//  one each (a request publishes ~10 events within a millisecond or two,
//  and every wakeup is a context switch of the recorder's thread and a
//  signal from the ZeroMQ I/O thread).  The log lags by that much more.
#define READ_PAUSE_MS       1
//  SUB receive high-water mark in messages: batches of up to 64 events
//  (the broker closes one at 64 events or 16 KiB, or event_batch_ms
//  after its first event), so at most ~16 MB, about a second of events
//  at full load, where batches fill.  A SUB socket drops when
//  full, so a recorder starved of CPU for longer sheds events rather than
//  growing: the store records the jump as a gap and fm_catchup fetches it
//  from the broker's replay store (100,000 events), so nothing is lost
//  unless the recorder falls that far behind.  A far higher HWM let a
//  stalled recorder grow by ~60 MB (fm-bench --million: RSS 74 -> 264 MiB)
#define SUB_RCVHWM          1000

static const fm_setting_t s_settings [] = {
    { "recorder/events", "events", 'e', FM_SETTING_STRING,
      "tcp://127.0.0.1:7556", 0, 0,
      N_("broker event endpoint (XPUB) to subscribe to") },
    { "recorder/broker", "broker", 'b', FM_SETTING_STRING,
      "tcp://127.0.0.1:7555", 0, 0,
      N_("broker endpoint (ROUTER) to ask for missed events, \"\" = never ask") },
    { "recorder/db", "db", 'd', FM_SETTING_STRING,
      "finmatch-events.db", 0, 0,
      N_("SQLite event log (created if missing)") },
    //  Commits of up to 10000 (not 1000): each one rewrites every page of
    //  the request-id index it touched, and request ids are random, so
    //  larger commits write the index less often per event (recorder CPU
    //  -12 % in fm-bench, RSS +18 MiB: ~2 KB per event pending)
    { "recorder/batch_max", "batch-max", 0, FM_SETTING_INT,
      "10000", 1, 100000,
      N_("commit when this many events are pending") },
    { "recorder/batch_ms", "batch-ms", 0, FM_SETTING_INT,
      "100", 1, 10000,
      N_("commit pending events at least this often (msecs)") },
    { "recorder/pending_max", "pending-max", 0, FM_SETTING_INT,
      "100000", 1, 1000000,
      N_("events kept in memory while the log cannot be written") },
    { "recorder/cert", "cert", 0, FM_SETTING_STRING, "",
      0, 0, N_("our secret certificate (finmatch keygen --role monitor)") },
    { "recorder/broker_key", "broker-key", 0, FM_SETTING_STRING, "",
      0, 0, N_("the broker's public certificate") },
    { "recorder/insecure", "insecure", 0, FM_SETTING_BOOL, "0",
      0, 0, N_("plain TCP, no authentication: local development only") },
    { "recorder/yield_cpu", "yield-cpu", 0, FM_SETTING_BOOL, "1", 0, 0,
      N_("write the log at idle CPU priority while it keeps up, so that the"
         " broker and workers on this machine run first") },
    { "recorder/yield_spare", "yield-spare", 0, FM_SETTING_INT, "20", 0, 100,
      N_("yield only while the machine's CPUs are at least this many"
         " percent idle (0: whatever the load)") },
    { "recorder/verbose", NULL, 0, FM_SETTING_BOOL,
      "0", 0, 0,
      N_("log every event received") },
};
#define SETTING_COUNT (sizeof (s_settings) / sizeof (s_settings [0]))

typedef struct {
    fm_store_t *store;                  //  owned
    fm_catchup_t *catchup;              //  owned, or NULL: no replay
    zsock_t *sub;                       //  owned
    fm_yield_t *yield;                  //  owned: this thread's priority
    int64_t newest_ts;                  //  newest event ts_us of this read
    zmq_msg_t frames [2];               //  [topic][body], reused per message
    bool verbose;
    int batch_ms;                       //  flush interval, and first backoff
    int retry_ms;                       //  current backoff, 0 when healthy
    int64_t retry_at;                   //  zclock_mono of the next retry
    uint64_t messages;                  //  messages read from SUB
    uint64_t received;                  //  events in them
    uint64_t malformed;                 //  refused by the codec or framing
    uint64_t refused;                   //  refused by the store (queue full)
} recorder_t;


//  --------------------------------------------------------------------------
//  Flush now, unless a retry is not yet due.  On failure, double the
//  backoff.  Returns 0 or -1.

static int
s_recorder_flush (recorder_t *self)
{
    if (fm_store_pending (self->store) == 0 && !fm_store_failing (self->store))
        return 0;
    if (self->retry_ms && zclock_mono () < self->retry_at)
        return -1;
    if (fm_store_flush (self->store) == 0) {
        self->retry_ms = 0;
        return 0;
    }
    self->retry_ms = self->retry_ms? self->retry_ms * 2: self->batch_ms;
    if (self->retry_ms > RETRY_MAX_MS)
        self->retry_ms = RETRY_MAX_MS;
    self->retry_at = zclock_mono () + self->retry_ms;
    return -1;
}

static int
s_on_timer (zloop_t *loop, int timer_id, void *arg)
{
    (void) loop;
    (void) timer_id;
    recorder_t *self = (recorder_t *) arg;
    fm_yield_beat (self->yield);
    s_recorder_flush (self);
    if (self->catchup && !fm_store_failing (self->store))
        fm_catchup_tick (self->catchup);
    return 0;
}


//  --------------------------------------------------------------------------
//  Count and log a message or event refused by the codec or the framing.
//  A broken publisher could flood the log: the first ones, then one in a
//  thousand.

static void
s_malformed (recorder_t *self, const fm_error_t *err)
{
    self->malformed++;
    if (self->malformed <= 10 || self->malformed % 1000 == 0)
        zsys_warning ("malformed event #%" PRIu64 " (%u): %s",
                      self->malformed, err->status, err->text);
}

//  Decode one event body and queue it in the store.  topic is the
//  message's topic for a single event, which must name the event's type,
//  or NULL for an event out of a batch.

static void
s_event_store (recorder_t *self, const byte *body, size_t body_size,
               const byte *topic, size_t topic_size)
{
    self->received++;
    fm_event_t event;
    fm_error_t err = { 0, "" };
    if (fm_event_decode (body, body_size, &event, &err) == 0 && topic) {
        //  The topic is what subscribers filter on: it must name the type
        const char *name = fm_event_type_name (event.type);
        size_t length = strlen (name);
        if (topic_size <= length
        ||  memcmp (topic, name, length) != 0
        ||  topic [length] != '.') {
            err.status = FM_STATUS_BAD_REQUEST;
            snprintf (err.text, sizeof err.text,
                      "topic does not start with '%s.'", name);
        }
    }
    if (err.status) {
        s_malformed (self, &err);
        return;
    }
    if (event.ts_us > self->newest_ts)
        self->newest_ts = event.ts_us;
    if (self->verbose)
        zsys_debug ("event %" PRIu64 "/%" PRIu64 " %s %s",
                    event.epoch, event.seq,
                    fm_event_type_name (event.type), event.request_id);
    if (fm_store_append (self->store, &event, body, body_size)) {
        self->refused++;
        if (self->refused == 1 || self->refused % 1000 == 0)
            zsys_error ("event log queue full (%zu pending): %" PRIu64
                        " events dropped so far, they will show as gaps",
                        fm_store_pending (self->store), self->refused);
    }
}

//  Read one message, [FM_BATCH_TOPIC][batch] or [topic][body], and queue
//  its events.  A batch whose framing is broken is refused whole; within
//  a sound one, each event that does not decode whole is refused alone
//  (counted and logged, never stored in part).  Frames are received into
//  two reused zmq_msg_t (no zmsg_t/zframe_t allocations per message); a
//  message of any other shape is read to its end and refused.  Returns
//  false if interrupted.

static bool
s_receive_one (recorder_t *self)
{
    void *handle = zsock_resolve (self->sub);
    size_t frames = 0;
    bool more = true;
    while (more) {
        zmq_msg_t scratch;
        zmq_msg_t *frame = frames < 2? &self->frames [frames]: &scratch;
        if (frame == &scratch)
            zmq_msg_init (&scratch);
        if (zmq_msg_recv (frame, handle, 0) == -1) {
            if (frame == &scratch)
                zmq_msg_close (&scratch);
            if (frames == 0)
                return false;   //  interrupted
            break;              //  interrupted mid-message: refused below
        }
        more = zmq_msg_more (frame);
        if (frame == &scratch)
            zmq_msg_close (&scratch);
        frames++;
    }
    self->messages++;
    if (frames != 2 || more) {
        fm_error_t err = { FM_STATUS_BAD_REQUEST, "" };
        snprintf (err.text, sizeof err.text,
                  "expected [topic][body], got %zu frames", frames);
        s_malformed (self, &err);
        return true;
    }
    const byte *body = (const byte *) zmq_msg_data (&self->frames [1]);
    size_t body_size = zmq_msg_size (&self->frames [1]);
    const byte *topic = (const byte *) zmq_msg_data (&self->frames [0]);
    size_t topic_size = zmq_msg_size (&self->frames [0]);
    if (topic_size == strlen (FM_BATCH_TOPIC)
    &&  memcmp (topic, FM_BATCH_TOPIC, topic_size) == 0) {
        fm_batch_reader_t batch;
        fm_error_t err = { 0, "" };
        if (fm_batch_open (&batch, body, body_size, &err)) {
            s_malformed (self, &err);
            return true;
        }
        const byte *event;
        size_t event_size;
        while (fm_batch_next (&batch, &event, &event_size))
            s_event_store (self, event, event_size, NULL, 0);
    }
    else
        s_event_store (self, body, body_size, topic, topic_size);
    return true;
}

static int
s_on_replay (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    (void) reader;
    fm_catchup_recv (((recorder_t *) arg)->catchup);
    return 0;
}

static int s_on_event (zloop_t *loop, zsock_t *reader, void *arg);

static int
s_on_resume (zloop_t *loop, int timer_id, void *arg)
{
    (void) timer_id;
    recorder_t *self = (recorder_t *) arg;
    return zloop_reader (loop, self->sub, s_on_event, self);
}

static int
s_on_event (zloop_t *loop, zsock_t *reader, void *arg)
{
    recorder_t *self = (recorder_t *) arg;
    int burst = 0;
    while (s_receive_one (self)
       &&  ++burst < READ_BURST && !zsys_interrupted
       &&  (zsock_events (reader) & ZMQ_POLLIN))
        ;
    if (self->newest_ts) {
        fm_yield_observe (self->yield, zclock_mono (),
                          zclock_time () * 1000 - self->newest_ts);
        self->newest_ts = 0;
    }
    if (burst < READ_BURST && !zsys_interrupted) {
        //  Drained: pause (READ_PAUSE_MS).  Safe inside a reader handler:
        //  zloop polls a copy of its readers and rebuilds after this
        zloop_reader_end (loop, reader);
        if (zloop_timer (loop, READ_PAUSE_MS, 1, s_on_resume, self) == -1)
            return zloop_reader (loop, reader, s_on_event, self);
    }
    return 0;
}


//  --------------------------------------------------------------------------

int
main (int argc, char **argv)
{
    fm_config_t *config;
    int rc = fm_config_daemon ("finmatch-recorder", "[OPTIONS]",
                               s_settings, SETTING_COUNT, argc, argv, &config);
    if (rc != 0)
        return rc == 1? 0: 2;
    //  No memory statistics: with them every SQLite malloc and free takes
    //  a global mutex (~4 % of the recorder).  Must precede any other
    //  SQLite call; harmless (SQLITE_MISUSE) if it comes too late.
    sqlite3_config (SQLITE_CONFIG_MEMSTATUS, 0);
    recorder_t self;
    memset (&self, 0, sizeof self);
    zmq_msg_init (&self.frames [0]);
    zmq_msg_init (&self.frames [1]);
    self.verbose = fm_config_bool (config, "recorder/verbose");
    self.batch_ms = (int) fm_config_int (config, "recorder/batch_ms");
    size_t batch_max = (size_t) fm_config_int (config, "recorder/batch_max");
    size_t pending_max = (size_t) fm_config_int (config, "recorder/pending_max");
    if (pending_max < batch_max)
        pending_max = batch_max;
    const char *db = fm_config_str (config, "recorder/db");
    const char *events = fm_config_str (config, "recorder/events");

    //  A start that fails ends at "failed" with this code: 2 for the
    //  configuration, 1 for what the machine refused
    int failure = 2;
    zloop_t *loop = NULL;

    //  The event stream admits monitor keys only (SPEC "Security")
    fm_curve_t *curve = NULL;
    if (fm_curve_setup ("finmatch-recorder", fm_config_bool (config, "recorder/insecure"),
                        fm_config_str (config, "recorder/cert"),
                        fm_config_str (config, "recorder/broker_key"), &curve))
        goto failed;
    self.store = fm_store_new (db, batch_max, pending_max);
    if (!self.store) {
        failure = 1;            //  reason logged by fm_store
        goto failed;
    }
    self.sub = zsock_new (ZMQ_SUB);
    assert (self.sub);
    zsock_set_rcvhwm (self.sub, SUB_RCVHWM);
    //  Batches only: the same events up to 64 a message, where "" would
    //  also take each one alone (SPEC.md 12.3)
    zsock_set_subscribe (self.sub, FM_BATCH_TOPIC);
    if (curve)
        fm_curve_apply_client (curve, self.sub);
    const char *broker = fm_config_str (config, "recorder/broker");
    if (*broker)
        self.catchup = fm_catchup_new (broker, curve, self.store);
    fm_curve_destroy (&curve);
    if (*broker && !self.catchup)
        goto failed;
    if (zsock_attach (self.sub, events, false)) {
        fprintf (stderr, _("finmatch-recorder: invalid events endpoint '%s'\n"),
                 events);
        goto failed;
    }
    zsys_info ("recording events from %s into %s (batch %zu events or %d ms)",
               events, db, batch_max, self.batch_ms);

    loop = zloop_new ();
    assert (loop);
    zloop_reader (loop, self.sub, s_on_event, &self);
    if (self.catchup)
        zloop_reader (loop, fm_catchup_sock (self.catchup), s_on_replay, &self);
    zloop_timer (loop, (size_t) self.batch_ms, 0, s_on_timer, &self);
    //  After every socket and the store: their threads keep normal priority
    self.yield = fm_yield_new (fm_config_bool (config, "recorder/yield_cpu"),
                               self.batch_ms,
                               (int) fm_config_int (config, "recorder/yield_spare"));
    if (!self.yield) {
        zsys_error ("cannot start: out of memory or threads");
        failure = 1;
        goto failed;
    }
    zloop_start (loop);         //  returns on SIGINT/SIGTERM
    zloop_destroy (&loop);
    fm_yield_stats_t yielded;
    fm_yield_stats (self.yield, &yielded);
    //  Normal priority again: the final flush must not wait for idle CPU
    fm_yield_destroy (&self.yield);
    zsock_destroy (&self.sub);
    zmq_msg_close (&self.frames [0]);
    zmq_msg_close (&self.frames [1]);
    fm_catchup_stats_t replay = { 0 };
    if (self.catchup)
        fm_catchup_stats (self.catchup, &replay);
    fm_catchup_destroy (&self.catchup);

    //  Final flush: a locked file may be released in a moment, so retry a
    //  few times before giving up on what is still in memory
    int delay = 100;
    for (int attempt = 0; attempt < FINAL_ATTEMPTS
                          && fm_store_pending (self.store); attempt++) {
        if (fm_store_flush (self.store) == 0)
            break;
        zclock_sleep (delay);
        delay *= 2;
    }
    size_t unwritten = fm_store_pending (self.store);
    fm_store_stats_t stats;
    fm_store_stats (self.store, &stats);
    zsys_info ("stopped: %" PRIu64 " events received in %" PRIu64 " messages, %"
               PRIu64 " stored, %"
               PRIu64 " gaps (%" PRIu64 " events missing), %" PRIu64
               " duplicates, %" PRIu64 " malformed, %" PRIu64 " dropped,"
               " %zu unwritten; replay: %" PRIu64 " asked, %" PRIu64
               " events replayed, %" PRIu64 " gone; idle CPU priority %"
               PRIu64 " times (back to normal %" PRIu64 ": %" PRIu64
               " starved, %" PRIu64 " machine busy), lag at most %" PRId64 " ms",
               self.received, self.messages, stats.stored,
               stats.gaps, stats.missing, stats.duplicates, self.malformed,
               stats.dropped, unwritten, replay.asked, replay.replayed, replay.gone,
               yielded.to_idle, yielded.to_normal, yielded.starved,
               yielded.busy, yielded.max_lag_us / 1000);
    //  Destroy makes one last attempt and logs the events it loses
    fm_store_destroy (&self.store);
    fm_config_destroy (&config);
    return unwritten? 1: 0;

failed:
    //  Nothing was received: every destructor here takes NULL
    zloop_destroy (&loop);
    zsock_destroy (&self.sub);
    fm_catchup_destroy (&self.catchup);
    fm_curve_destroy (&curve);
    fm_store_destroy (&self.store);
    zmq_msg_close (&self.frames [0]);
    zmq_msg_close (&self.frames [1]);
    fm_config_destroy (&config);
    return failure;
}
