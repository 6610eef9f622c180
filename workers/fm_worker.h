/*  =========================================================================
    fm_worker - 7/MDP worker API with finmatch's capacity extension

    Owns one DEALER connection to the broker for one service: READY on
    connect (with fm_ready_opts: capacity, heartbeat interval, towns,
    batch), heartbeats both ways, expiry of a silent broker and reconnect
    after FM_RECONNECT_MS, DISCONNECT handling.  Shaped like zguide's
    mdwrkapi but written on zsock/zpoller and non-blocking-friendly: a
    caller with capacity > 1 may receive several requests before replying.
    With a batch (fm_worker_set_batch) the broker may send several
    requests in one REQUESTS message and the worker answers them in one
    REPLIES; callers still see one request per fm_worker_recv.
    =========================================================================
*/

#ifndef FM_WORKER_H_INCLUDED
#define FM_WORKER_H_INCLUDED

#include <czmq.h>
#include "fm_curve.h"
#include "fm_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _fm_worker_t fm_worker_t;

//  Connect to endpoint as a worker for service.  capacity 1..1024,
//  heartbeat_ms and liveness as the broker's (see SPEC.md).  READY goes
//  out on the first fm_worker_recv, so that the options set before it
//  (towns, batch) travel in one READY.  Returns NULL if the endpoint is
//  invalid (error logged).
fm_worker_t *
    fm_worker_new (const char *endpoint, const char *service,
                   uint32_t capacity, uint32_t heartbeat_ms,
                   uint32_t liveness);

//  The same over CURVE with curve's keys (borrowed, copied: reconnects
//  reuse them); NULL = insecure, as fm_worker_new.  A broker that refuses
//  the key (or the service for it) shows as a silent broker: the worker
//  keeps retrying every reconnect interval.
fm_worker_t *
    fm_worker_new_secure (const char *endpoint, const char *service,
                          uint32_t capacity, uint32_t heartbeat_ms,
                          uint32_t liveness, fm_curve_t *curve);

//  Send DISCONNECT, then destroy.  Idempotent, nulls *self_p.
void
    fm_worker_destroy (fm_worker_t **self_p);

//  Log every message exchanged.
void
    fm_worker_set_verbose (fm_worker_t *self, bool verbose);

//  Announce the towns a bank worker is paired with (comma-separated town
//  codes, READY options "towns").  Before the first fm_worker_recv they
//  go out with the first READY; after it the worker re-registers
//  (DISCONNECT, then READY on a new connection).  Returns 0, or -1 if
//  longer than FM_TEXT_SIZE - 1 bytes.
int
    fm_worker_set_towns (fm_worker_t *self, const char *towns);

//  Announce that we take up to batch requests in one REQUESTS message
//  (READY options "batch", SPEC.md 4.2), 1..FM_MDPW_BATCH_MAX; 1 (the
//  default) = plain REQUEST/REPLY.  Like fm_worker_set_towns, before the
//  first fm_worker_recv it costs nothing, after it the worker re-registers
//  (requests still queued are dropped: the broker asks again).  Returns
//  0, or -1 if batch is out of bounds (nothing changed).
int
    fm_worker_set_batch (fm_worker_t *self, uint32_t batch);

//  Set the delay before reconnecting after the broker went silent or sent
//  DISCONNECT twice in a row (default FM_RECONNECT_MS).  Tests shorten it.
void
    fm_worker_set_reconnect (fm_worker_t *self, uint32_t reconnect_ms);

//  Wait up to timeout_ms (-1 forever) for the next request, doing
//  heartbeats and reconnects meanwhile.  The requests of a REQUESTS come
//  one per call, in order, without touching the socket; once none is
//  queued, the replies gathered (fm_worker_send) are sent before the
//  socket is read.  Returns the body frame (caller owns) and sets
//  *reply_to_p to the reply-to frame (caller owns, pass it back to
//  fm_worker_send); or NULL on timeout or interrupt.
zframe_t *
    fm_worker_recv (fm_worker_t *self, int timeout_ms, zframe_t **reply_to_p);

//  Send a REPLY to reply_to with body.  While requests of a REQUESTS are
//  out, the reply is gathered instead (at most batch of them) and all go
//  as one REPLIES when every request handed out is answered and none is
//  queued (else at the next fm_worker_recv that reads the socket, a
//  reconnect, or destroy).  Takes ownership of both frames and nulls the
//  pointers, whatever the outcome.  Returns 0 (sent, or gathered), or -1
//  if dropped (not connected, pipe to the broker full).
int
    fm_worker_send (fm_worker_t *self, zframe_t **reply_to_p,
                    zframe_t **body_p);

//  A worker's answer kept by the handler: a reply message the handler owns
//  and may reuse (borrowed by the caller until the handler's next call),
//  or NULL when the request's type is not one this worker handles.
typedef const fm_msg_t *(fm_worker_reply_fn) (const fm_msg_t *request, void *arg);

//  Encode the replies of fm_worker_reply with fm_msg_encode_trusted: only
//  for handlers whose every reply meets that function's header (built
//  from decoded requests, constants and configuration validated at load,
//  texts cut at a character boundary).  Default false (validated).
void
    fm_worker_set_trusted (fm_worker_t *self, bool trusted);

//  Turn one request body into one reply body, so that the broker always
//  gets an answer.  The body is decoded with a reader the worker keeps
//  for its life (no fm_msg_t allocated per request), so request, as
//  answer() sees it, is valid only during that call: answer() must keep
//  no pointer into it.  A body that does not decode is answered with its
//  ERROR (400/413/505...), a type answer() does not handle (it returns
//  NULL) with ERROR 501, and a reply of ours that fails to encode with
//  ERROR 500; each of those is logged once under the worker's service.
//  The body is borrowed.  Returns a new frame; cannot fail.
zframe_t *
    fm_worker_reply (fm_worker_t *self, zframe_t *body,
                     fm_worker_reply_fn *answer, void *arg);

//  Self test
void
    fm_worker_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
