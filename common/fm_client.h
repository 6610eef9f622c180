/*  =========================================================================
    fm_client - the client side of finmatch: 7/MDP client and event reader

    Owns one DEALER socket speaking 7/MDP client frames to the broker, so a
    program may keep many requests in flight: replies come back in any
    order and are matched by their request_id (or request.idem_key) body
    fields, never by arrival order.  Also reads the event stream.
    Used by the `finmatch` CLI, the benchmark and the integration tests.
    =========================================================================
*/

#ifndef FM_CLIENT_H_INCLUDED
#define FM_CLIENT_H_INCLUDED

#include "fm_proto.h"
#include "fm_curve.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _fm_client_t fm_client_t;

//  Connect to the broker's client endpoint.  Returns NULL if the endpoint
//  is invalid (error logged).
fm_client_t *
    fm_client_new (const char *endpoint);

//  Connect over CURVE with curve's keys (borrowed; NULL = insecure, as
//  fm_client_new).  A refused key is not reported by ZeroMQ: replies just
//  never come (timeouts).  Returns NULL if the endpoint is invalid.
fm_client_t *
    fm_client_new_secure (const char *endpoint, fm_curve_t *curve);

//  Destroy; idempotent, nulls *self_p.  Pending replies are dropped.
void
    fm_client_destroy (fm_client_t **self_p);

//  Encode msg and send it to service.  msg is borrowed.  Returns 0, or -1
//  if msg is invalid (err filled) or the send failed.
int
    fm_client_send (fm_client_t *self, const char *service,
                    const fm_msg_t *msg, fm_error_t *err);

//  Wait up to timeout_ms (-1 forever) for the next reply.  Returns a new
//  message the caller owns (possibly an ERROR message from the broker),
//  or NULL on timeout or interrupt (err->status 504 / 0) or when the
//  reply cannot be decoded (err filled; the reply is dropped): a bad
//  envelope is 400 (505 for a protocol other than MDPC01), a bad body
//  whatever fm_msg_decode says.  Late MMI replies are skipped.
fm_msg_t *
    fm_client_recv (fm_client_t *self, int timeout_ms, fm_error_t *err);

//  The same, for a caller that reads each reply once and lets it go (the
//  benchmark's load loop): decodes into a message the client keeps and
//  reuses (fm_msg_reader_t), not a new 3 KB message and 8.6 KB per
//  decline.  The message is borrowed: valid until the next
//  fm_client_recv_reused on this client or its destroy; never free it.
const fm_msg_t *
    fm_client_recv_reused (fm_client_t *self, int timeout_ms, fm_error_t *err);

//  Lazy Pirate (zguide chapter 4), for one request at a time: send msg to
//  service and wait up to timeout_ms for its reply (matched by request id:
//  msg->request_id, or for a REQUEST the id of its enterprise and key);
//  on a timeout close and reopen the socket and send the SAME message
//  again, at most tries sends in all.  The broker answers a repeated
//  request from its store (same key, same id), or attaches it to the one
//  in flight: retrying never makes a second request.  Returns the reply
//  (caller owns; may be an ERROR), or NULL with err filled: 504 "broker
//  did not answer after N tries (...)", 0 on interrupt, or a send error.
fm_msg_t *
    fm_client_request (fm_client_t *self, const char *service,
                       const fm_msg_t *msg, int timeout_ms, int tries,
                       fm_error_t *err);

//  Close the socket and connect a new one (same endpoint and keys).
//  Replies to anything sent before are lost.  Returns 0, or -1 (logged).
int
    fm_client_reconnect (fm_client_t *self);

//  8/MMI: ask whether service has workers.  Returns 200, 404 or 501 as the
//  broker answered, or -1 on timeout.
int
    fm_client_mmi (fm_client_t *self, const char *service, int timeout_ms);

//  The underlying socket, for zpoller.  Borrowed.  Replies that
//  fm_client_mmi read while waiting are queued inside the client and do
//  not wake a poller: after an MMI query, drain with fm_client_recv (0).
zsock_t *
    fm_client_sock (fm_client_t *self);

//  Open a SUB socket on the event endpoint subscribed to prefix ("" for
//  all).  Returns a new socket the caller owns, or NULL.
zsock_t *
    fm_events_subscribe (const char *endpoint, const char *prefix);

//  The same over CURVE (curve borrowed; NULL = insecure).  The broker
//  admits only monitor keys to the event stream.
zsock_t *
    fm_events_subscribe_secure (const char *endpoint, const char *prefix,
                                fm_curve_t *curve);

//  Receive one event from a SUB socket into *event (waits for the next
//  message, or the socket's rcvtimeo).  Returns 0, or -1 with err filled
//  if the message is malformed (it is consumed; a topic that differs from
//  fm_event_topic of the decoded body is malformed), or -1 with
//  err->status 504 when rcvtimeo expired, 0 on interrupt; or 1 for a
//  message that is not an event (topic beginning with '$', such as an
//  event batch, SPEC.md 12.3), consumed and to be ignored.
int
    fm_events_recv (zsock_t *sub, fm_event_t *event, fm_error_t *err);

//  Self test
void
    fm_client_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
