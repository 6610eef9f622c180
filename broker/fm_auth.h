/*  =========================================================================
    fm_auth - the broker's authorisation policy: who may do what, by key

    The broker authenticates every peer with CURVE and authorises it by
    its public key, never by what its messages claim.  This class holds
    the allowed keys (a directory of public zcert certificates whose
    metadata names a role and an identity, see fm_curve.h), answers ZAP
    (RFC 27) handshakes on the broker's own zloop, and answers the
    broker's per-message questions:

      - handshake on the router (domain "finmatch"): any key in the store
        except a broker key;
      - handshake on the event stream ("finmatch.events"): monitor keys
        only, so subscribers without one receive nothing at all;
      - REQUEST: an enterprise key only for its own enterprise; an officer
        key only with request.grid_id = its grid and submitted_by = its id;
      - ACCEPT: only an enterprise key, only for its own enterprise (the
        broker separately checks that this enterprise owns the request);
      - WARN (fm.warn): a gov key on any target; an officer key only on
        the grid its certificate names (like REQUEST), never on an
        enterprise; the broker records fm_auth_who as raised_by;
      - READY: bank.<CODE> only for a bank key naming CODE, gov.credit
        only for a gov key.

    Every refusal goes to the denied callback (the broker publishes
    auth.denied) and, for messages, comes back as 403 with a reason.

    The store is re-read when the directory changes (its mtime: add,
    remove or rename files; do not edit a certificate in place), checked
    on every handshake and at most once a second on messages.  So a key
    removed from the directory is refused on its next connection, and its
    open connections are refused from the next message on.
    =========================================================================
*/

#ifndef FM_AUTH_H_INCLUDED
#define FM_AUTH_H_INCLUDED

#include <czmq.h>
#include "fm_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _fm_auth_t fm_auth_t;

//  Called for every refusal: key is the peer's Z85 public key ("" if
//  none), what the service or stream refused, text the reason.
//  Arguments are borrowed for the call.
typedef void (fm_auth_denied_fn) (void *arg, const char *key,
                                  const char *what, const char *text);

//  Load the certificates in certdir.  Returns a new instance, or NULL with
//  err filled if the directory cannot be read.  Bad files are logged and
//  skipped.
fm_auth_t *
    fm_auth_new (const char *certdir, char *err, size_t size);

//  Destroy; idempotent, nulls *self_p.  Unbinds the ZAP handler.
void
    fm_auth_destroy (fm_auth_t **self_p);

//  Set the refusal callback.
void
    fm_auth_set_denied (fm_auth_t *self, fm_auth_denied_fn *fn, void *arg);

//  Re-read the directory if it changed since the last read.  Returns the
//  number of keys in the store.
size_t
    fm_auth_refresh (fm_auth_t *self);

//  Make the broker secure: load its certificate (secret, mode-checked)
//  from cert_path, make router and publisher CURVE servers with their ZAP
//  domains, and bind the ZAP handler on loop.  Must run before the
//  sockets bind (libzmq admits every CURVE key while no ZAP handler
//  exists).  One per process: ZAP has one well-known endpoint.  Returns 0,
//  or -1 with err filled.
int
    fm_auth_start (fm_auth_t *self, const char *cert_path, zloop_t *loop,
                   zsock_t *router, zsock_t *publisher, char *err, size_t size);

//  The authenticated key of the peer that sent frame (its ZAP User-Id),
//  or NULL for a peer that did not authenticate.  Borrowed from frame.
const char *
    fm_auth_peer_key (zframe_t *frame);

//  The role of a key in the store, or NULL if unknown.  Borrowed.
const char *
    fm_auth_role (fm_auth_t *self, const char *key);

//  Who a key in the store is, for the record: an officer's id, an
//  enterprise's code, a bank's code, else the certificate's display name
//  (cut to FM_CODE_SIZE - 1 bytes at a UTF-8 boundary) or its role.
//  Returns NULL if the key is unknown.  Borrowed.
const char *
    fm_auth_who (fm_auth_t *self, const char *key);

//  May key send msg (decoded, valid) to service?  Returns 0, or 403 with
//  why filled (and the denied callback called).  key NULL = not
//  authenticated (refused).
int
    fm_auth_client (fm_auth_t *self, const char *key, const char *service,
                    const fm_msg_t *msg, char *why, size_t size);

//  May key register as a worker for service?  Returns 0, or 403 with why
//  filled (and the denied callback called).
int
    fm_auth_worker (fm_auth_t *self, const char *key, const char *service,
                    char *why, size_t size);

//  Self test
void
    fm_auth_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
