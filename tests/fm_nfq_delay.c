/*  =========================================================================
    fm_nfq_delay - a fixed-delay link in user space, over NFQUEUE

    netns_fault.sh degrades its links with tc netem where the kernel has
    sch_netem.  CI's Firecracker kernel has no netem, fq, etf or plug
    qdisc, so no qdisc can hold a packet for a fixed time; it does have
    nfnetlink_queue and the xtables NFQUEUE target.  This tool binds one
    NFQUEUE queue, holds every packet the kernel queues to it for DELAY
    (plus optional JITTER), then gives NF_ACCEPT: with an iptables rule
    `-j NFQUEUE --queue-num N --queue-bypass` on a host's OUTPUT and INPUT,
    every packet of that host is delayed both ways.

    Only the packet ids travel to user space (NFQNL_COPY_META: no payload
    copy) and the kernel keeps the packets.  Ids wait in a FIFO with their
    release times; a timerfd armed at the head's release time wakes the
    poll loop (no busy waiting), and each wake-up accepts every due id with
    one batch verdict.  Release times never decrease (release = max
    (arrival + DELAY + jitter, previous release)), so jitter never
    reorders packets and the batch verdict, which accepts every id up to
    the one given, is exact.

    The link must never wedge because of this tool: the FIFO is bounded
    (--max; a packet beyond it is accepted at once and counted as
    "overflow"), the kernel queue is bounded (maxlen = 2 x max) and set
    fail-open (a packet that finds the kernel queue full, or cannot reach
    our socket, is accepted rather than dropped), --queue-bypass in the
    rule passes packets when no process has the queue bound, and on
    SIGTERM/SIGINT the held packets are accepted before exit.  If the tool
    is killed with SIGKILL, the kernel drops the packets held at that
    moment (at most DELAY's worth) and the link works on through the
    bypass.  The tool takes SIGTERM when its parent dies.

    Costs: two system calls per packet batch (recv, verdict), one timerfd
    re-arm per new head, 16 bytes per held packet.
    =========================================================================
*/

#ifndef _GNU_SOURCE
#define _GNU_SOURCE                     //  signalfd, timerfd, SO_RCVBUFFORCE
#endif
#include <assert.h>
#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <linux/netfilter.h>
#include <libnetfilter_queue/libnetfilter_queue.h>

#define DEFAULT_DELAY_US    5000        //  5 ms, netns_fault's default
#define DEFAULT_MAX         10000       //  held packets; 160 KB of FIFO
#define MAX_DELAY_US        10000000    //  10 s: longer is a typo
#define RCVBUF_BYTES        (4 << 20)   //  socket buffer for bursts: a
                                        //  message that does not fit is
                                        //  failed open (passes undelayed)
#define RECV_BYTES          65536       //  one recv; meta-only messages
                                        //  are a few hundred bytes
#define RECVS_PER_WAKE      64          //  then release what is due, so a
                                        //  flood cannot starve the timer

//  One held packet
typedef struct {
    uint32_t id;                        //  the kernel's packet id
    int64_t release_us;                 //  CLOCK_MONOTONIC, microseconds
} held_t;

//  A bounded FIFO of held packets (ring buffer)
typedef struct {
    held_t *items;                      //  owned, max entries
    size_t max;                         //  capacity
    size_t head;                        //  index of the oldest
    size_t count;                       //  entries held
} fifo_t;

//  The tool's state, shared with the packet callback
typedef struct {
    struct nfq_q_handle *queue;         //  owned by s_run, which binds
                                        //  and destroys it
    fifo_t fifo;                        //  held packets
    int64_t delay_us;                   //  fixed delay
    int64_t jitter_us;                  //  +- jitter, 0 = none
    int64_t last_release_us;            //  release time of the newest
    int64_t now_us;                     //  arrival time of this batch
    uint64_t rng;                       //  xorshift64* state, never 0
    uint64_t delayed;                   //  released after their delay
    uint64_t flushed;                   //  released early at exit
    uint64_t overflow;                  //  accepted at once, FIFO full
    uint64_t enobufs;                   //  socket overruns (the kernel
                                        //  failed those packets open)
    uint64_t errors;                    //  verdicts the kernel refused
    bool verbose;                       //  log setup to stderr
} delay_t;


//  --------------------------------------------------------------------------
//  FIFO: push returns 0, or -1 when full; head returns the oldest entry or
//  NULL when empty (borrowed until the next push or pop)

static int
s_fifo_push (fifo_t *self, uint32_t id, int64_t release_us)
{
    if (self->count == self->max)
        return -1;
    held_t *item = &self->items [(self->head + self->count) % self->max];
    item->id = id;
    item->release_us = release_us;
    self->count++;
    return 0;
}

static held_t *
s_fifo_head (fifo_t *self)
{
    return self->count? &self->items [self->head]: NULL;
}

static void
s_fifo_pop (fifo_t *self)
{
    //  Callers pop only after s_fifo_head returned an entry
    assert (self->count > 0);
    self->head = (self->head + 1) % self->max;
    self->count--;
}


//  --------------------------------------------------------------------------
//  Return the release time of a packet that arrived at arrival_us: arrival
//  + delay + a uniform jitter in [-jitter, +jitter], never before arrival
//  and never before the previous release (no reordering).  Cannot fail.

static int64_t
s_release_time (delay_t *self, int64_t arrival_us)
{
    int64_t wait_us = self->delay_us;
    if (self->jitter_us > 0) {
        //  xorshift64*: jitter only needs to look random, not be secret
        self->rng ^= self->rng >> 12;
        self->rng ^= self->rng << 25;
        self->rng ^= self->rng >> 27;
        uint64_t draw = (self->rng * 2685821657736338717ULL) >> 11;
        wait_us += (int64_t) (draw % (uint64_t) (2 * self->jitter_us + 1))
                 - self->jitter_us;
        if (wait_us < 0)
            wait_us = 0;
    }
    int64_t release_us = arrival_us + wait_us;
    if (release_us < self->last_release_us)
        release_us = self->last_release_us;
    self->last_release_us = release_us;
    return release_us;
}

static int64_t
s_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}


//  --------------------------------------------------------------------------
//  Packet callback (libnetfilter_queue): hold the packet, or accept it at
//  once when the FIFO is full.  Returns 0 (a negative value would stop
//  nfq_handle_packet's caller for nothing).

static int
s_on_packet (struct nfq_q_handle *queue, struct nfgenmsg *nfmsg,
             struct nfq_data *nfa, void *arg)
{
    (void) nfmsg;
    delay_t *self = (delay_t *) arg;
    struct nfqnl_msg_packet_hdr *header = nfq_get_msg_packet_hdr (nfa);
    if (!header)
        return 0;               //  not a packet message: nothing to hold
    uint32_t id = ntohl (header->packet_id);
    if (s_fifo_push (&self->fifo, id, s_release_time (self, self->now_us))) {
        //  Accepted out of turn: a later batch verdict may name it again,
        //  which the kernel ignores (it is no longer queued)
        if (nfq_set_verdict (queue, id, NF_ACCEPT, 0, NULL) < 0)
            self->errors++;
        self->overflow++;
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  Accept every held packet due at now_us (all of them when flush), with
//  one batch verdict.  Returns the number released.

static size_t
s_release_due (delay_t *self, int64_t now_us, bool flush)
{
    size_t released = 0;
    uint32_t last_id = 0;
    held_t *held;
    while ((held = s_fifo_head (&self->fifo))
       &&  (flush || held->release_us <= now_us)) {
        last_id = held->id;
        s_fifo_pop (&self->fifo);
        released++;
    }
    if (released) {
        //  Ids are queued in increasing order (mod 2^32, which the kernel
        //  handles) and the FIFO keeps that order, so "every id up to
        //  last_id" is exactly the packets just popped plus ones already
        //  accepted
        if (nfq_set_verdict_batch (self->queue, last_id, NF_ACCEPT) < 0)
            self->errors++;
        if (flush)
            self->flushed += released;
        else
            self->delayed += released;
    }
    return released;
}


//  --------------------------------------------------------------------------
//  Arm the timer at the head's release time, or disarm it when nothing is
//  held.  armed_us remembers the current setting to spare system calls.
//  Returns 0, or -1 if timerfd_settime failed.

static int
s_timer_arm (delay_t *self, int timer, int64_t *armed_us)
{
    held_t *held = s_fifo_head (&self->fifo);
    int64_t when_us = held? held->release_us: 0;
    if (when_us == *armed_us)
        return 0;
    struct itimerspec spec;
    memset (&spec, 0, sizeof spec);
    if (when_us) {
        spec.it_value.tv_sec = when_us / 1000000;
        spec.it_value.tv_nsec = (when_us % 1000000) * 1000;
    }
    if (timerfd_settime (timer, TFD_TIMER_ABSTIME, &spec, NULL))
        return -1;
    *armed_us = when_us;
    return 0;
}


//  --------------------------------------------------------------------------
//  Parse a duration: digits with an optional unit us, ms (default) or s.
//  Returns 0 and sets *us, or -1 if text is not one or exceeds 10 s.

static int
s_parse_duration (const char *text, int64_t *us)
{
    char *end;
    errno = 0;
    long long value = strtoll (text, &end, 10);
    if (end == text || errno || value < 0 || *text == '-' || *text == '+')
        return -1;
    int64_t scale;
    if (*end == 0 || strcmp (end, "ms") == 0)
        scale = 1000;
    else
    if (strcmp (end, "us") == 0)
        scale = 1;
    else
    if (strcmp (end, "s") == 0)
        scale = 1000000;
    else
        return -1;
    if (value > MAX_DELAY_US / scale)
        return -1;
    *us = (int64_t) value * scale;
    return 0;
}


//  --------------------------------------------------------------------------
//  Selftest of the pure parts (FIFO, release times, durations); needs no
//  privileges.  Returns 0 on success, 1 at the first failed check.  CHECK,
//  not assert: the checks call the code under test, and must not vanish
//  under NDEBUG.

#define CHECK(condition) \
    do { \
        if (!(condition)) { \
            fprintf (stderr, "fm_nfq_delay: selftest failed, line %d: %s\n", \
                     __LINE__, #condition); \
            return 1; \
        } \
    } while (0)

static int
s_selftest (void)
{
    held_t items [4];
    fifo_t fifo = { items, 4, 0, 0 };
    CHECK (s_fifo_head (&fifo) == NULL);
    //  Wrap around the ring twice: order kept, full refused
    uint32_t id = 0, expect = 0;
    for (int round = 0; round < 3; round++) {
        while (s_fifo_push (&fifo, id, id) == 0)
            id++;
        CHECK (fifo.count == 4);
        for (int i = 0; i < 3; i++) {
            held_t *held = s_fifo_head (&fifo);
            CHECK (held && held->id == expect && held->release_us == expect);
            s_fifo_pop (&fifo);
            expect++;
        }
    }
    //  No jitter: release = arrival + delay exactly
    delay_t delay;
    memset (&delay, 0, sizeof delay);
    delay.delay_us = 5000;
    delay.rng = 88172645463325252ULL;
    CHECK (s_release_time (&delay, 1000) == 6000);
    CHECK (s_release_time (&delay, 1001) == 6001);
    //  Jitter: packets far apart (never held back by the previous one)
    //  spread over [delay - jitter, delay + jitter]; close together,
    //  release times never decrease
    delay.jitter_us = 2000;
    int64_t low = INT64_MAX, high = 0;
    for (int64_t arrival = 0; arrival < 10000000; arrival += 10000) {
        int64_t wait = s_release_time (&delay, arrival) - arrival;
        CHECK (wait >= 3000 && wait <= 7000);
        low = wait < low? wait: low;
        high = wait > high? wait: high;
    }
    CHECK (low < 3200 && high > 6800);
    int64_t previous = 0;
    for (int64_t arrival = 20000000; arrival < 21000000; arrival += 100) {
        int64_t release = s_release_time (&delay, arrival);
        CHECK (release >= previous && release >= arrival + 3000);
        previous = release;
    }
    //  A jitter larger than the delay never releases before arrival
    delay.delay_us = 1000;
    delay.jitter_us = 5000;
    delay.last_release_us = 0;
    for (int64_t arrival = 0; arrival < 100000; arrival += 100)
        CHECK (s_release_time (&delay, arrival) >= arrival);
    //  Durations
    int64_t us;
    CHECK (s_parse_duration ("5", &us) == 0 && us == 5000);
    CHECK (s_parse_duration ("5ms", &us) == 0 && us == 5000);
    CHECK (s_parse_duration ("250us", &us) == 0 && us == 250);
    CHECK (s_parse_duration ("2s", &us) == 0 && us == 2000000);
    CHECK (s_parse_duration ("0", &us) == 0 && us == 0);
    CHECK (s_parse_duration ("", &us) == -1);
    CHECK (s_parse_duration ("-1ms", &us) == -1);
    CHECK (s_parse_duration ("1.5ms", &us) == -1);
    CHECK (s_parse_duration ("5 ms", &us) == -1);
    CHECK (s_parse_duration ("11s", &us) == -1);
    CHECK (s_parse_duration ("99999999999999999999", &us) == -1);
    printf ("fm_nfq_delay: selftest OK\n");
    return 0;
}

static void
s_usage (FILE *out)
{
    fprintf (out,
        "Usage: fm_nfq_delay [OPTION...]\n"
        "Hold every packet of an NFQUEUE queue for a fixed delay, then accept it.\n"
        "Needs CAP_NET_ADMIN in the network namespace of the iptables rule, e.g.\n"
        "  iptables -A OUTPUT -o eth0 -j NFQUEUE --queue-num 0 --queue-bypass\n"
        "\n"
        "  -q, --queue N      queue number to bind (default 0)\n"
        "  -d, --delay T      delay per packet (default 5ms; units us, ms, s)\n"
        "  -j, --jitter T     +- uniform jitter (default 0); never reorders\n"
        "  -m, --max N        packets held at most (default %d); beyond, a\n"
        "                     packet is accepted at once (\"overflow\")\n"
        "  -v, --verbose      log the queue setup\n"
        "      --selftest     test the FIFO and the delay arithmetic, exit\n"
        "  -h, --help         this text\n"
        "\n"
        "Prints \"ready\" once the queue is bound, and on SIGTERM or SIGINT the\n"
        "counts (delayed, flushed at exit, overflow, enobufs, errors) and CPU time,\n"
        "after accepting the packets still held.  Exit 0, 1 on a setup failure,\n"
        "2 on bad arguments.\n", DEFAULT_MAX);
}


//  --------------------------------------------------------------------------
//  Set up the queue, run the poll loop until SIGTERM/SIGINT, print the
//  counts.  Returns the exit code.

static int
s_run (delay_t *self, uint16_t queue_num)
{
    int rc = 1;
    struct nfq_handle *handle = NULL;
    int signals = -1, timer = -1;
    unsigned char *buffer = NULL;

    //  The shell that started us may die without its EXIT trap (SIGKILL):
    //  take that as SIGTERM rather than hold a namespace's link forever
    if (prctl (PR_SET_PDEATHSIG, SIGTERM)) {
        perror ("fm_nfq_delay: prctl");
        goto done;
    }

    sigset_t mask;
    sigemptyset (&mask);
    sigaddset (&mask, SIGTERM);
    sigaddset (&mask, SIGINT);
    if (sigprocmask (SIG_BLOCK, &mask, NULL)
    || (signals = signalfd (-1, &mask, SFD_CLOEXEC | SFD_NONBLOCK)) < 0) {
        perror ("fm_nfq_delay: signalfd");
        goto done;
    }
    timer = timerfd_create (CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK);
    self->fifo.items = calloc (self->fifo.max, sizeof (held_t));
    buffer = malloc (RECV_BYTES);
    if (timer < 0 || !self->fifo.items || !buffer) {
        perror ("fm_nfq_delay: timerfd/calloc");
        goto done;
    }
    handle = nfq_open ();
    if (!handle) {
        perror ("fm_nfq_delay: nfq_open (root? nfnetlink_queue?)");
        goto done;
    }
    self->queue = nfq_create_queue (handle, queue_num, s_on_packet, self);
    if (!self->queue) {
        fprintf (stderr, "fm_nfq_delay: cannot bind queue %u: %s"
                 " (bound by another process?)\n", queue_num, strerror (errno));
        goto done;
    }
    //  Ids only: the kernel keeps the packet, we never look inside
    if (nfq_set_mode (self->queue, NFQNL_COPY_META, 0) < 0) {
        perror ("fm_nfq_delay: nfq_set_mode");
        goto done;
    }
    //  The kernel counts every unverdicted packet, ours and those still in
    //  the socket: twice our FIFO leaves room for our own overflow count
    if (nfq_set_queue_maxlen (self->queue, (uint32_t) (2 * self->fifo.max)) < 0)
        fprintf (stderr, "fm_nfq_delay: warning: queue maxlen not set: %s\n",
                 strerror (errno));
    //  Fail open so that a full queue or socket passes packets instead of
    //  dropping them; GSO so that a TSO super-packet is held whole rather
    //  than segmented for us.  Older kernels lack one or both flags
    uint32_t flags = NFQA_CFG_F_FAIL_OPEN | NFQA_CFG_F_GSO;
    if (nfq_set_queue_flags (self->queue, flags, flags) < 0
    &&  nfq_set_queue_flags (self->queue, NFQA_CFG_F_FAIL_OPEN,
                             NFQA_CFG_F_FAIL_OPEN) < 0)
        fprintf (stderr, "fm_nfq_delay: warning: no fail-open in this kernel:"
                 " a full queue drops packets\n");
    int netlink = nfq_fd (handle);
    int rcvbuf = RCVBUF_BYTES;
    if (setsockopt (netlink, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf)
    &&  setsockopt (netlink, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf))
        fprintf (stderr, "fm_nfq_delay: warning: receive buffer not raised\n");
    if (self->verbose)
        fprintf (stderr, "fm_nfq_delay: queue %u: delay %" PRId64 " us, jitter"
                 " %" PRId64 " us, max %zu held, kernel maxlen %zu, fail-open\n",
                 queue_num, self->delay_us, self->jitter_us, self->fifo.max,
                 2 * self->fifo.max);
    printf ("fm_nfq_delay: queue %u ready: delay %" PRId64 " us, jitter %"
            PRId64 " us\n", queue_num, self->delay_us, self->jitter_us);
    fflush (stdout);

    int64_t armed_us = 0;
    bool running = true;
    while (running) {
        struct pollfd items [3] = {
            { netlink, POLLIN, 0 }, { timer, POLLIN, 0 }, { signals, POLLIN, 0 }
        };
        if (poll (items, 3, -1) < 0) {
            if (errno == EINTR)
                continue;
            perror ("fm_nfq_delay: poll");
            break;
        }
        if (items [2].revents)
            running = false;
        if (items [1].revents) {
            uint64_t expirations;
            if (read (timer, &expirations, sizeof expirations) < 0
            &&  errno != EAGAIN)
                perror ("fm_nfq_delay: timerfd read");
        }
        if (items [0].revents) {
            //  One arrival time per wake-up: a packet that waited in the
            //  socket arrived earlier, so it is held a little longer than
            //  DELAY, never shorter
            self->now_us = s_now_us ();
            for (int recvs = 0; recvs < RECVS_PER_WAKE; recvs++) {
                ssize_t size = recv (netlink, buffer, RECV_BYTES, MSG_DONTWAIT);
                if (size > 0)
                    nfq_handle_packet (handle, (char *) buffer, (int) size);
                else
                if (size < 0 && errno == ENOBUFS)
                    self->enobufs++;    //  overrun: the kernel failed open
                else
                if (size < 0 && errno == EINTR)
                    continue;
                else
                    break;              //  EAGAIN: drained
            }
        }
        s_release_due (self, s_now_us (), false);
        if (s_timer_arm (self, timer, &armed_us)) {
            perror ("fm_nfq_delay: timerfd_settime");
            break;
        }
    }
    //  Whatever is still held goes now: closing the queue would drop it
    s_release_due (self, 0, true);
    //  CPU time too: the cost of a user-space link is the question asked
    struct rusage usage;
    getrusage (RUSAGE_SELF, &usage);
    int64_t cpu_ms = ((int64_t) usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000
                   + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1000;
    printf ("fm_nfq_delay: queue %u: delayed %" PRIu64 " packets, flushed %"
            PRIu64 ", overflow %" PRIu64 ", enobufs %" PRIu64 ", errors %"
            PRIu64 ", cpu %" PRId64 " ms\n", queue_num, self->delayed,
            self->flushed, self->overflow, self->enobufs, self->errors, cpu_ms);
    fflush (stdout);
    rc = running? 1: 0;

done:
    if (self->queue)
        nfq_destroy_queue (self->queue);
    if (handle)
        nfq_close (handle);
    if (timer >= 0)
        close (timer);
    if (signals >= 0)
        close (signals);
    free (buffer);
    free (self->fifo.items);
    return rc;
}

int
main (int argc, char *argv [])
{
    static const struct option options [] = {
        { "queue",    required_argument, NULL, 'q' },
        { "delay",    required_argument, NULL, 'd' },
        { "jitter",   required_argument, NULL, 'j' },
        { "max",      required_argument, NULL, 'm' },
        { "verbose",  no_argument,       NULL, 'v' },
        { "selftest", no_argument,       NULL, 'S' },
        { "help",     no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    delay_t self;
    memset (&self, 0, sizeof self);
    self.delay_us = DEFAULT_DELAY_US;
    self.fifo.max = DEFAULT_MAX;
    long queue_num = 0;
    int opt;
    char *end;
    while ((opt = getopt_long (argc, argv, "q:d:j:m:vh", options, NULL)) != -1) {
        switch (opt) {
            case 'q':
                queue_num = strtol (optarg, &end, 10);
                if (*optarg == 0 || *end || queue_num < 0 || queue_num > 65535) {
                    fprintf (stderr, "fm_nfq_delay: --queue %s: expected 0..65535\n",
                             optarg);
                    return 2;
                }
                break;
            case 'd':
            case 'j':
                if (s_parse_duration (optarg, opt == 'd'? &self.delay_us:
                                                          &self.jitter_us)) {
                    fprintf (stderr, "fm_nfq_delay: --%s %s: expected a whole"
                             " number of us, ms (default) or s, at most 10 s\n",
                             opt == 'd'? "delay": "jitter", optarg);
                    return 2;
                }
                break;
            case 'm': {
                long max = strtol (optarg, &end, 10);
                if (*optarg == 0 || *end || max < 1 || max > 1000000) {
                    fprintf (stderr, "fm_nfq_delay: --max %s: expected 1..1000000\n",
                             optarg);
                    return 2;
                }
                self.fifo.max = (size_t) max;
                break;
            }
            case 'v':
                self.verbose = true;
                break;
            case 'S':
                return s_selftest ();
            case 'h':
                s_usage (stdout);
                return 0;
            default:
                s_usage (stderr);
                return 2;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "fm_nfq_delay: unexpected argument '%s'\n", argv [optind]);
        return 2;
    }
    self.rng = ((uint64_t) getpid () << 32) ^ (uint64_t) s_now_us () ^ 1;
    return s_run (&self, (uint16_t) queue_num);
}
