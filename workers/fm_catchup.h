/*  =========================================================================
    fm_catchup - the recorder asks the broker for the events it missed

    The recorder reads events over SUB, which loses them silently when it
    joins late, falls behind, or restarts; fm_store turns every seq jump
    into a gaps row.  This class fills those rows: it asks the broker's
    fm.replay service (7/MDP client frames on a DEALER, text bodies, see
    broker/fm_replay.h and proto/SPEC.md "Event replay") for each missing
    range, hands the answered events to the store (which shrinks or splits
    the gap rows as late events arrive) and flushes.  A range the broker
    no longer has (410) is remembered and not asked again in this run: its
    gap row stays, with its size, and the log says exactly what is lost.

    It also finds losses no later event revealed: every head_ms it asks
    the broker for its head (last seq published); when the log is still
    below the head seen one probe earlier, it asks for the difference.

    One question at a time (a slow or dead broker gets no pile of
    requests); an unanswered question is given up after timeout_ms.
    Answers that come late are still used: events are idempotent.
    =========================================================================
*/

#ifndef FM_CATCHUP_H_INCLUDED
#define FM_CATCHUP_H_INCLUDED

#include <czmq.h>
#include "fm_store.h"
#include "fm_curve.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _fm_catchup_t fm_catchup_t;

//  Counters since fm_catchup_new
typedef struct {
    uint64_t asked;                     //  questions sent
    uint64_t answered;                  //  answers received
    uint64_t replayed;                  //  events received in answers
    uint64_t gone;                      //  seqs the broker no longer had
    uint64_t timeouts;                  //  questions given up
    uint64_t stale;                     //  late answers to questions given
                                        //  up on, ignored
} fm_catchup_stats_t;

//  Connect to the broker's ROUTER endpoint (curve borrowed, NULL =
//  insecure).  store is borrowed and must outlive the instance.  Returns
//  the instance, or NULL if the endpoint is invalid (logged).
fm_catchup_t *
    fm_catchup_new (const char *endpoint, fm_curve_t *curve, fm_store_t *store);

//  Destroy; idempotent, nulls *self_p.
void
    fm_catchup_destroy (fm_catchup_t **self_p);

//  The DEALER socket, for the caller's reactor.  Borrowed.
zsock_t *
    fm_catchup_sock (fm_catchup_t *self);

//  Read and apply every answer waiting on the socket (never blocks), then
//  ask the next question.  Returns 0.
int
    fm_catchup_recv (fm_catchup_t *self);

//  Time passed: give up a question past its timeout, probe the head when
//  due, ask about the next gap if idle.  Call every few hundred msecs and
//  after each flush.  Returns 0.
int
    fm_catchup_tick (fm_catchup_t *self);

//  Copy the counters.  Cannot fail.
void
    fm_catchup_stats (fm_catchup_t *self, fm_catchup_stats_t *stats);

//  Self test of this class (a ROUTER in the test plays the broker)
void
    fm_catchup_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
