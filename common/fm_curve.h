/*  =========================================================================
    fm_curve - a peer's CURVE security settings: own certificate and the
    broker's public key

    Every finmatch socket that crosses a process boundary is CURVE by
    default (proto/SPEC.md "Security").  This class holds what one process
    needs for that: its own certificate (zcert: public + secret key, with
    metadata naming the role and identity) and, for clients and workers,
    the broker's public key.  Applying it to a socket before connect (or
    bind) is one call.

    Certificates are czmq's zcert files: NAME holds the public key and the
    metadata, NAME_secret holds both keys.  A secret file readable by group
    or others is refused before it is read (mode must be 0600 or stricter):
    a key anyone on the host can copy authenticates nobody.  Secret keys
    are never logged: this class prints public keys only.

    A NULL fm_curve_t means "insecure": the fm_*_secure constructors accept
    NULL and then behave exactly like their plain versions.
    =========================================================================
*/

#ifndef FM_CURVE_H_INCLUDED
#define FM_CURVE_H_INCLUDED

#include <czmq.h>

#ifdef __cplusplus
extern "C" {
#endif

//  Certificate metadata keys and role names (what keygen writes, what the
//  broker's fm_auth reads)
#define FM_CERT_ROLE            "role"
#define FM_CERT_ENTERPRISE      "enterprise"    //  role enterprise
#define FM_CERT_OFFICER         "officer"       //  role officer: officer id
#define FM_CERT_GRID            "grid"          //  role officer: grid id
#define FM_CERT_BANK            "bank"          //  role bank: bank code
#define FM_CERT_NAME            "name"          //  free text, display only

#define FM_ROLE_ENTERPRISE      "enterprise"
#define FM_ROLE_OFFICER         "officer"
#define FM_ROLE_BANK            "bank"
#define FM_ROLE_GOV             "gov"
#define FM_ROLE_MONITOR         "monitor"
#define FM_ROLE_BROKER          "broker"

//  ZAP domains the broker sets on its sockets: the router admits every
//  key in the store, the event stream only monitor keys
#define FM_ZAP_DOMAIN_ROUTER    "finmatch"
#define FM_ZAP_DOMAIN_EVENTS    "finmatch.events"

typedef struct _fm_curve_t fm_curve_t;

//  Check that path (a secret certificate) exists, is a regular file and is
//  not accessible by group or others.  Returns 0, or -1 with a message for
//  the user in err ("... is readable by others (mode 0644): run chmod 600
//  ...").
int
    fm_curve_secret_check (const char *path, char *err, size_t size);

//  Load our own certificate from cert_path (NAME or NAME_secret: the
//  secret file is what is read and checked) and, unless server_path is
//  NULL, the broker's public key from its public certificate file.
//  Returns a new instance, or NULL with err filled (missing file, bad
//  mode, no secret key in the file, bad public key).
fm_curve_t *
    fm_curve_new (const char *cert_path, const char *server_path,
                  char *err, size_t size);

//  Build from a certificate in memory (tests, keygen).  cert is copied;
//  server_key is the broker's Z85 public key or NULL.  Returns a new
//  instance, or NULL if out of memory.
fm_curve_t *
    fm_curve_new_from (zcert_t *cert, const char *server_key);

//  Destroy; idempotent, nulls *self_p.
void
    fm_curve_destroy (fm_curve_t **self_p);

//  A copy the caller owns (a worker keeps one for its reconnects).
fm_curve_t *
    fm_curve_dup (fm_curve_t *self);

//  Make sock a CURVE client of the broker: our keys and the broker's
//  public key.  Call before connect.  Returns 0, or -1 if this instance
//  has no server key.
int
    fm_curve_apply_client (fm_curve_t *self, zsock_t *sock);

//  Make sock a CURVE server with our keys and ZAP domain domain.  Call
//  before bind.  Cannot fail.
void
    fm_curve_apply_server (fm_curve_t *self, zsock_t *sock, const char *domain);

//  Our public key, Z85 (40 chars).  Borrowed.
const char *
    fm_curve_public (fm_curve_t *self);

//  A metadata value of our certificate ("role"...), or NULL.  Borrowed.
const char *
    fm_curve_meta (fm_curve_t *self, const char *name);

//  The common start-up step of every binary: with insecure, log a loud
//  warning and set *curve_p to NULL; else load cert_path and server_path
//  (NULL for the broker itself) into *curve_p.  name prefixes messages.
//  Returns 0, or -1 after printing "name: reason" to stderr (the caller
//  exits 2).
int
    fm_curve_setup (const char *name, bool insecure, const char *cert_path,
                    const char *server_path, fm_curve_t **curve_p);

//  Self test
void
    fm_curve_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
