/*  =========================================================================
    fm_auth - the broker's authorisation policy: who may do what, by key

    Why not czmq's zauth: zauth answers every ZAP domain with one policy,
    and we need two (any known key on the router, monitor keys only on
    the event stream); it also runs in its own thread, so the store would
    be shared across threads.  Here the ZAP REP socket is one more reader
    on the broker's zloop: handshakes and messages consult the same store
    in the same thread, without locks.  A handshake waits while the broker
    handles a batch of messages; that costs latency on connect only.

    The store is a hash of Z85 public key -> identity, rebuilt from the
    directory when its mtime changes.  Files whose name ends in "_secret"
    are never read (a secret key does not belong in the broker's
    directory; it is logged as misplaced).  Nothing here logs a secret.
    =========================================================================
*/

#include "fm_auth.h"
#include "fm_curve.h"
#include "fm_mdp.h"
#include <dirent.h>
#include <sys/stat.h>

#define ZAP_ENDPOINT        "inproc://zeromq.zap.01"
#define KEY_SIZE            41          //  Z85 public key + NUL
#ifndef FM_SERVICE_WARN
#define FM_SERVICE_WARN     "fm.warn"       //  risk warnings (fm_broker.c)
#endif
#define REFRESH_MS          1000        //  msecs between store checks on
                                        //  the message path

typedef struct {
    char key [KEY_SIZE];
    char role [16];
    char enterprise [FM_ENTERPRISE_ID_SIZE];
    char officer [FM_CODE_SIZE];
    char grid [FM_CODE_SIZE];
    char bank [FM_CODE_SIZE];
    char who [FM_CODE_SIZE];        //  for the record (fm_auth_who)
} identity_t;

struct _fm_auth_t {
    char *certdir;                  //  Owned: directory of public certs
    zhashx_t *store;                //  key -> identity_t, owned
    struct timespec mtime;          //  of certdir when last read
    bool loaded;                    //  store read at least once
    int64_t checked_at;             //  mono msecs of the last mtime check
    fm_curve_t *curve;              //  Owned: the broker's certificate
    zsock_t *zap;                   //  Owned: ZAP handler (REP), or NULL
    zloop_t *loop;                  //  Borrowed, while zap is registered
    fm_auth_denied_fn *denied;      //  Refusal callback, or NULL
    void *denied_arg;
};

static void
s_identity_destroy (void **item)
{
    free (*item);
    *item = NULL;
}

//  True if text is 1..16 of [A-Z0-9_] (a bank code).
static bool
s_code_valid (const char *text)
{
    size_t length = text? strlen (text): 0;
    if (length == 0 || length > 16)
        return false;
    for (size_t index = 0; index < length; index++)
        if (!((text [index] >= 'A' && text [index] <= 'Z')
        ||    (text [index] >= '0' && text [index] <= '9') || text [index] == '_'))
            return false;
    return true;
}

//  Copy a metadata value; returns false if missing, empty or too long.
static bool
s_meta_copy (zconfig_t *root, const char *name, char *buffer, size_t size)
{
    char path [64];
    snprintf (path, sizeof (path), "/metadata/%s", name);
    const char *value = zconfig_get (root, path, NULL);
    if (!value || !*value || strlen (value) >= size)
        return false;
    snprintf (buffer, size, "%s", value);
    return true;
}

//  Who an identity is, for the record (raised_by of a risk warning): the
//  officer's id, the enterprise's code, the bank's code; a gov or monitor
//  key by its certificate's display name (cut at a UTF-8 character
//  boundary to fit), else by its role.
static void
s_who_set (identity_t *self, const char *name)
{
    const char *who = *self->officer? self->officer
                    : *self->enterprise? self->enterprise
                    : *self->bank? self->bank
                    : name && *name? name: self->role;
    size_t length = strlen (who);
    if (length >= sizeof (self->who)) {
        length = sizeof (self->who) - 1;
        while (length > 0 && ((unsigned char) who [length] & 0xC0) == 0x80)
            length--;           //  who [length] starts the cut-off character
    }
    memcpy (self->who, who, length);
    self->who [length] = 0;
}

//  Read one public certificate.  Returns a new identity, or NULL with the
//  reason in why.
static identity_t *
s_identity_load (const char *path, char *why, size_t size)
{
    zconfig_t *root = zconfig_load (path);
    if (!root) {
        snprintf (why, size, "not a certificate file");
        return NULL;
    }
    identity_t *self = (identity_t *) zmalloc (sizeof (identity_t));
    assert (self);
    const char *key = zconfig_get (root, "/curve/public-key", NULL);
    bool ok = false;
    if (zconfig_get (root, "/curve/secret-key", NULL))
        snprintf (why, size, "holds a secret key: move it out of the directory");
    else
    if (!key || strlen (key) != KEY_SIZE - 1)
        snprintf (why, size, "no CURVE public key");
    else
    if (!s_meta_copy (root, FM_CERT_ROLE, self->role, sizeof (self->role)))
        snprintf (why, size, "no role in metadata");
    else
    if (streq (self->role, FM_ROLE_ENTERPRISE)) {
        ok = s_meta_copy (root, FM_CERT_ENTERPRISE, self->enterprise,
                          sizeof (self->enterprise));
        if (!ok)
            snprintf (why, size, "enterprise certificate without enterprise code");
    }
    else
    if (streq (self->role, FM_ROLE_OFFICER)) {
        ok = s_meta_copy (root, FM_CERT_OFFICER, self->officer, sizeof (self->officer))
          && s_meta_copy (root, FM_CERT_GRID, self->grid, sizeof (self->grid));
        if (!ok)
            snprintf (why, size, "officer certificate needs officer and grid");
    }
    else
    if (streq (self->role, FM_ROLE_BANK)) {
        ok = s_meta_copy (root, FM_CERT_BANK, self->bank, sizeof (self->bank))
          && s_code_valid (self->bank);
        if (!ok)
            snprintf (why, size, "bank certificate without a valid bank code");
    }
    else
    if (streq (self->role, FM_ROLE_GOV) || streq (self->role, FM_ROLE_MONITOR)
    ||  streq (self->role, FM_ROLE_BROKER))
        ok = true;
    else
        snprintf (why, size, "unknown role '%s'", self->role);
    if (ok) {
        snprintf (self->key, sizeof (self->key), "%s", key);
        s_who_set (self, zconfig_get (root, "/metadata/" FM_CERT_NAME, NULL));
    }
    zconfig_destroy (&root);
    if (!ok)
        free (self);
    return ok? self: NULL;
}

//  (Re)build the store from the directory.  Returns 0, or -1 if the
//  directory cannot be read (the store is then empty: refuse everyone).
static int
s_load (fm_auth_t *self, char *err, size_t size)
{
    zhashx_purge (self->store);
    DIR *dir = opendir (self->certdir);
    if (!dir) {
        snprintf (err, size, "cannot read certificate directory %s: %s",
                  self->certdir, strerror (errno));
        return -1;
    }
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        const char *name = entry->d_name;
        size_t length = strlen (name);
        if (name [0] == '.')
            continue;
        char *path = zsys_sprintf ("%s/%s", self->certdir, name);
        assert (path);
        struct stat st;
        if (stat (path, &st) == 0 && S_ISREG (st.st_mode)) {
            char why [200];
            identity_t *identity = NULL;
            if (length > 7 && streq (name + length - 7, "_secret"))
                snprintf (why, sizeof (why), "a secret key file: move it out of "
                          "the directory");
            else
                identity = s_identity_load (path, why, sizeof (why));
            if (!identity)
                zsys_warning ("auth: %s: ignored: %s", path, why);
            else
            if (zhashx_insert (self->store, identity->key, identity)) {
                zsys_warning ("auth: %s: ignored: key already listed", path);
                free (identity);
            }
        }
        free (path);
    }
    closedir (dir);
    return 0;
}

//  Report a refusal to the callback and fill why.  Returns 403.
static int CHECK_PRINTF (6)
s_deny (fm_auth_t *self, const char *key, const char *what, char *why,
        size_t size, const char *format, ...)
{
    char text [FM_TEXT_SIZE];
    va_list args;
    va_start (args, format);
    vsnprintf (text, sizeof (text), format, args);
    va_end (args);
    if (why)
        snprintf (why, size, "%s", text);
    if (self->denied)
        self->denied (self->denied_arg, key? key: "", what, text);
    return FM_STATUS_FORBIDDEN;
}

//  The identity of a key, after a rate-limited refresh.  NULL if unknown.
static identity_t *
s_lookup (fm_auth_t *self, const char *key, bool refresh)
{
    if (refresh || zclock_mono () - self->checked_at >= REFRESH_MS)
        fm_auth_refresh (self);
    return key? (identity_t *) zhashx_lookup (self->store, key): NULL;
}


//  --------------------------------------------------------------------------
//  ZAP handler (RFC 27): [version][request id][domain][address][identity]
//  [mechanism][credentials...] -> [version][request id][status][text]
//  [user id][metadata].  User id = the Z85 key, which the broker then
//  reads per message as the frame property "User-Id".

static int
s_zap_recv (zloop_t *loop, zsock_t *reader, void *arg)
{
    (void) loop;
    fm_auth_t *self = (fm_auth_t *) arg;
    zmsg_t *request = zmsg_recv (reader);
    if (!request)
        return 0;
    char *version = zmsg_popstr (request);
    char *sequence = zmsg_popstr (request);
    char *domain = zmsg_popstr (request);
    char *address = zmsg_popstr (request);
    zframe_t *routing = zmsg_pop (request);
    char *mechanism = zmsg_popstr (request);
    zframe_t *credentials = zmsg_pop (request);
    char key [KEY_SIZE] = "";
    if (credentials && zframe_size (credentials) == 32)
        zmq_z85_encode (key, zframe_data (credentials), 32);

    const char *status = "400";
    const char *what = domain && streq (domain, FM_ZAP_DOMAIN_EVENTS)? "events": "connect";
    char text [FM_TEXT_SIZE] = "";
    identity_t *identity = s_lookup (self, *key? key: NULL, true);
    if (!version || strneq (version, "1.0") || !mechanism || strneq (mechanism, "CURVE")
    ||  !*key)
        s_deny (self, key, what, text, sizeof (text), "%s from %s: CURVE required",
                what, address? address: "?");
    else
    if (!identity)
        s_deny (self, key, what, text, sizeof (text), "unknown key from %s", address? address: "?");
    else
    if (streq (domain, FM_ZAP_DOMAIN_ROUTER) && strneq (identity->role, FM_ROLE_BROKER))
        status = "200";
    else
    if (streq (domain, FM_ZAP_DOMAIN_EVENTS) && streq (identity->role, FM_ROLE_MONITOR))
        status = "200";
    else
        s_deny (self, key, what, text, sizeof (text),
                "%s keys may not connect to %s", identity->role, what);

    zmsg_t *reply = zmsg_new ();
    zmsg_addstr (reply, "1.0");
    zmsg_addstr (reply, sequence? sequence: "");
    zmsg_addstr (reply, status);
    zmsg_addstr (reply, streq (status, "200")? "OK": text);
    zmsg_addstr (reply, streq (status, "200")? key: "");
    zmsg_addmem (reply, "", 0);
    zmsg_send (&reply, reader);
    zmsg_destroy (&reply);
    zstr_free (&version);
    zstr_free (&sequence);
    zstr_free (&domain);
    zstr_free (&address);
    zstr_free (&mechanism);
    zframe_destroy (&routing);
    zframe_destroy (&credentials);
    zmsg_destroy (&request);
    return 0;
}


//  --------------------------------------------------------------------------
//  Load the certificates in certdir.

fm_auth_t *
fm_auth_new (const char *certdir, char *err, size_t size)
{
    assert (certdir);
    fm_auth_t *self = (fm_auth_t *) zmalloc (sizeof (fm_auth_t));
    assert (self);
    self->certdir = strdup (certdir);
    self->store = zhashx_new ();
    assert (self->certdir && self->store);
    zhashx_set_destructor (self->store, s_identity_destroy);
    struct stat st;
    errno = 0;
    if (stat (certdir, &st) == -1 || !S_ISDIR (st.st_mode)) {
        snprintf (err, size, "certificate directory %s: %s", certdir,
                  errno? strerror (errno): "not a directory");
        fm_auth_destroy (&self);
        return NULL;
    }
    if (s_load (self, err, size)) {
        fm_auth_destroy (&self);
        return NULL;
    }
    self->mtime = st.st_mtim;
    self->loaded = true;
    self->checked_at = zclock_mono ();
    return self;
}


//  --------------------------------------------------------------------------
//  Destroy.

void
fm_auth_destroy (fm_auth_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        fm_auth_t *self = *self_p;
        if (self->loop && self->zap)
            zloop_reader_end (self->loop, self->zap);
        zsock_destroy (&self->zap);
        fm_curve_destroy (&self->curve);
        zhashx_destroy (&self->store);
        free (self->certdir);
        free (self);
        *self_p = NULL;
    }
}


//  --------------------------------------------------------------------------
//  Refusal callback.

void
fm_auth_set_denied (fm_auth_t *self, fm_auth_denied_fn *fn, void *arg)
{
    assert (self);
    self->denied = fn;
    self->denied_arg = arg;
}


//  --------------------------------------------------------------------------
//  Re-read the directory if it changed.

size_t
fm_auth_refresh (fm_auth_t *self)
{
    assert (self);
    self->checked_at = zclock_mono ();
    struct stat st;
    if (stat (self->certdir, &st) == -1) {
        if (zhashx_size (self->store))
            zsys_warning ("auth: %s is gone: refusing every key", self->certdir);
        zhashx_purge (self->store);
        self->loaded = false;
        return 0;
    }
    if (!self->loaded || st.st_mtim.tv_sec != self->mtime.tv_sec
    ||  st.st_mtim.tv_nsec != self->mtime.tv_nsec) {
        char err [300];
        if (s_load (self, err, sizeof (err)))
            zsys_warning ("auth: %s", err);
        self->mtime = st.st_mtim;
        self->loaded = true;
        zsys_info ("auth: %s changed: %zu keys", self->certdir,
                   zhashx_size (self->store));
    }
    return zhashx_size (self->store);
}


//  --------------------------------------------------------------------------
//  Make the broker's sockets CURVE servers and bind ZAP.

int
fm_auth_start (fm_auth_t *self, const char *cert_path, zloop_t *loop,
               zsock_t *router, zsock_t *publisher, char *err, size_t size)
{
    assert (self);
    assert (cert_path && loop && router && publisher);
    if (self->zap) {
        snprintf (err, size, "security already started");
        return -1;
    }
    self->curve = fm_curve_new (cert_path, NULL, err, size);
    if (!self->curve)
        return -1;
    const char *role = fm_curve_meta (self->curve, FM_CERT_ROLE);
    if (!role || strneq (role, FM_ROLE_BROKER))
        zsys_warning ("auth: %s is not a broker certificate (role %s)",
                      cert_path, role? role: "none");
    self->zap = zsock_new (ZMQ_REP);
    assert (self->zap);
    if (zsock_bind (self->zap, ZAP_ENDPOINT) == -1) {
        snprintf (err, size, "cannot bind ZAP handler: %s (one secure broker "
                  "per process)", zmq_strerror (zmq_errno ()));
        zsock_destroy (&self->zap);
        fm_curve_destroy (&self->curve);
        return -1;
    }
    self->loop = loop;
    zloop_reader (loop, self->zap, s_zap_recv, self);
    zloop_reader_set_tolerant (loop, self->zap);
    fm_curve_apply_server (self->curve, router, FM_ZAP_DOMAIN_ROUTER);
    fm_curve_apply_server (self->curve, publisher, FM_ZAP_DOMAIN_EVENTS);
    zsys_info ("auth: CURVE on, broker key %s, %zu keys allowed from %s",
               fm_curve_public (self->curve), zhashx_size (self->store),
               self->certdir);
    return 0;
}


//  --------------------------------------------------------------------------
//  The authenticated key of a frame's sender.

const char *
fm_auth_peer_key (zframe_t *frame)
{
    if (!frame)
        return NULL;
    const char *key = zframe_meta (frame, "User-Id");
    return key && strlen (key) == KEY_SIZE - 1? key: NULL;
}


//  --------------------------------------------------------------------------
//  Role of a key.

const char *
fm_auth_role (fm_auth_t *self, const char *key)
{
    assert (self);
    identity_t *identity = key? (identity_t *) zhashx_lookup (self->store, key): NULL;
    return identity? identity->role: NULL;
}


//  --------------------------------------------------------------------------
//  Who a key is, for the record.

const char *
fm_auth_who (fm_auth_t *self, const char *key)
{
    assert (self);
    identity_t *identity = key? (identity_t *) zhashx_lookup (self->store, key): NULL;
    return identity? identity->who: NULL;
}


//  --------------------------------------------------------------------------
//  Per-message client policy.

int
fm_auth_client (fm_auth_t *self, const char *key, const char *service,
                const fm_msg_t *msg, char *why, size_t size)
{
    assert (self);
    assert (service && msg);
    identity_t *identity = s_lookup (self, key, false);
    if (!identity)
        return s_deny (self, key, service, why, size,
                       "key not (or no longer) authorised");
    const char *role = identity->role;
    const fm_request_t *request = &msg->request;
    bool enterprise = streq (role, FM_ROLE_ENTERPRISE);
    bool officer = streq (role, FM_ROLE_OFFICER);
    if (msg->type == FM_MSG_REQUEST) {
        if (enterprise && strneq (request->enterprise_id, identity->enterprise))
            return s_deny (self, key, service, why, size,
                           "this key may submit only for enterprise %s, not %s",
                           identity->enterprise, request->enterprise_id);
        if (officer && (strneq (request->grid_id, identity->grid)
                    ||  strneq (request->submitted_by, identity->officer)))
            return s_deny (self, key, service, why, size,
                           "officer %s may submit only with grid_id %s and "
                           "submitted_by %s", identity->officer, identity->grid,
                           identity->officer);
        if (!enterprise && !officer)
            return s_deny (self, key, service, why, size,
                           "%s keys may not submit requests", role);
        return 0;
    }
    if (msg->type == FM_MSG_ACCEPT) {
        if (!enterprise)
            return s_deny (self, key, service, why, size,
                           "only the enterprise itself may accept an offer, "
                           "not a %s key", role);
        if (strneq (request->enterprise_id, identity->enterprise))
            return s_deny (self, key, service, why, size,
                           "this key may accept only for enterprise %s, not %s",
                           identity->enterprise, request->enterprise_id);
        return 0;
    }
    if (msg->type == FM_MSG_WARN) {
        //  Risk warnings: the government anywhere; a grid officer on their
        //  own grid only (the grid their certificate names, as for
        //  requests): the broker cannot tell an enterprise's grid without
        //  the registry, so enterprise warnings need a gov key
        const fm_warning_t *warning = &msg->warning;
        if (streq (role, FM_ROLE_GOV))
            return 0;
        if (!officer)
            return s_deny (self, key, service, why, size,
                           "%s keys may not raise or lift risk warnings", role);
        if (warning->target != FM_WARN_GRID)
            return s_deny (self, key, service, why, size,
                           "officer %s may warn only on grid %s; enterprise "
                           "warnings need a gov key", identity->officer,
                           identity->grid);
        if (strneq (warning->target_id, identity->grid))
            return s_deny (self, key, service, why, size,
                           "officer %s may warn only on grid %s, not %s",
                           identity->officer, identity->grid, warning->target_id);
        return 0;
    }
    //  Anything else a client may ask (read-only queries): an enterprise
    //  about itself, officers and monitors about anything
    if (enterprise && strneq (request->enterprise_id, identity->enterprise))
        return s_deny (self, key, service, why, size,
                       "this key may ask only about enterprise %s",
                       identity->enterprise);
    if (!enterprise && !officer && strneq (role, FM_ROLE_MONITOR))
        return s_deny (self, key, service, why, size,
                       "%s keys may not call %s", role, service);
    return 0;
}


//  --------------------------------------------------------------------------
//  Worker registration policy.

int
fm_auth_worker (fm_auth_t *self, const char *key, const char *service,
                char *why, size_t size)
{
    assert (self);
    assert (service);
    identity_t *identity = s_lookup (self, key, false);
    if (!identity)
        return s_deny (self, key, service, why, size,
                       "key not (or no longer) authorised");
    if (streq (service, FM_SERVICE_GOV)) {
        if (streq (identity->role, FM_ROLE_GOV))
            return 0;
        return s_deny (self, key, service, why, size,
                       "%s needs a gov key, not a %s key", service, identity->role);
    }
    size_t prefix = strlen (FM_SERVICE_BANK_PREFIX);
    if (streq (identity->role, FM_ROLE_BANK)
    &&  strncmp (service, FM_SERVICE_BANK_PREFIX, prefix) == 0
    &&  streq (service + prefix, identity->bank))
        return 0;
    if (streq (identity->role, FM_ROLE_BANK))
        return s_deny (self, key, service, why, size,
                       "this key may serve only bank.%s, not %s",
                       identity->bank, service);
    return s_deny (self, key, service, why, size,
                   "%s keys may not serve %s", identity->role, service);
}


//  --------------------------------------------------------------------------
//  Self test: the policy on a store of certificates.  The broker's own
//  test drives the handshakes end to end (fm_broker_test, security part).

static char *
s_test_cert (const char *dir, const char *name, const char *role,
             const char *meta1, const char *value1,
             const char *meta2, const char *value2)
{
    zcert_t *cert = zcert_new ();
    zcert_set_meta (cert, FM_CERT_ROLE, "%s", role);
    if (meta1)
        zcert_set_meta (cert, meta1, "%s", value1);
    if (meta2)
        zcert_set_meta (cert, meta2, "%s", value2);
    char *path = zsys_sprintf ("%s/%s", dir, name);
    assert (zcert_save_public (cert, path) == 0);
    free (path);
    char *key = strdup (zcert_public_txt (cert));
    zcert_destroy (&cert);
    return key;
}

static void
s_test_denied (void *arg, const char *key, const char *what, const char *text)
{
    (void) key;
    (void) what;
    (void) text;
    (*(int *) arg)++;
}

//  --------------------------------------------------------------------------
//  End to end: a secure broker actor, raw CURVE peers, the monitor stream

#include "fm_broker.h"
#include "fm_client.h"
#include "fm_ids.h"

typedef struct {
    char *certdir;
    char *endpoint;                 //  router, tcp://127.0.0.1:port
    char *events;                   //  XPUB
    char *broker_key;               //  Z85
    zsock_t *monitor;               //  SUB with a monitor key
} s_net_t;

//  A certificate kept in memory (secret included); its public file goes
//  into the broker's directory as name unless name is NULL.
static zcert_t *
s_net_cert (s_net_t *net, const char *name, const char *role,
            const char *meta, const char *value)
{
    zcert_t *cert = zcert_new ();
    zcert_set_meta (cert, FM_CERT_ROLE, "%s", role);
    if (meta)
        zcert_set_meta (cert, meta, "%s", value);
    if (name) {
        char *path = zsys_sprintf ("%s/%s", net->certdir, name);
        assert (zcert_save_public (cert, path) == 0);
        free (path);
    }
    return cert;
}

//  A socket of type connected with cert (NULL: plain, no CURVE).
static zsock_t *
s_net_sock (s_net_t *net, int type, const char *endpoint, zcert_t *cert)
{
    zsock_t *sock = zsock_new (type);
    assert (sock);
    if (cert) {
        fm_curve_t *curve = fm_curve_new_from (cert, net->broker_key);
        assert (curve);
        assert (fm_curve_apply_client (curve, sock) == 0);
        fm_curve_destroy (&curve);
    }
    zsock_set_rcvtimeo (sock, 300);
    if (type == ZMQ_SUB)
        zsock_set_subscribe (sock, "");
    assert (zsock_connect (sock, "%s", endpoint) == 0);
    return sock;
}

//  Client message [""][MDPC01][service][body].
static void
s_net_send (zsock_t *dealer, const char *service, fm_msg_t *msg)
{
    fm_error_t err;
    zframe_t *body = fm_msg_encode (msg, &err);
    assert (body);
    zmsg_t *out = zmsg_new ();
    zmsg_addmem (out, "", 0);
    zmsg_addstr (out, "MDPC01");
    zmsg_addstr (out, service);
    zmsg_append (out, &body);
    assert (zmsg_send (&out, dealer) == 0);
}

//  The decoded body of the next reply within rcvtimeo, or NULL.
static fm_msg_t *
s_net_recv (zsock_t *dealer)
{
    zmsg_t *in = zmsg_recv (dealer);
    if (!in)
        return NULL;
    zframe_t *body = zmsg_last (in);
    fm_error_t err;
    fm_msg_t *msg = fm_msg_decode (zframe_data (body), zframe_size (body), &err);
    zmsg_destroy (&in);
    return msg;
}

//  MMI: "200"/"404" from the broker, or NULL if nothing came (refused).
static char *
s_net_mmi (zsock_t *dealer, const char *service)
{
    zstr_sendx (dealer, "", "MDPC01", "mmi.service", service, NULL);
    zmsg_t *in = zmsg_recv (dealer);
    char *status = in? strdup ((char *) zframe_data (zmsg_last (in))): NULL;
    if (status)
        status [3] = 0;
    zmsg_destroy (&in);
    return status;
}

//  The next monitor event of type within timeout_ms; 0 or -1.
static int
s_net_event (s_net_t *net, fm_event_type_t type, int timeout_ms, fm_event_t *event)
{
    int64_t deadline = zclock_mono () + timeout_ms;
    while (zclock_mono () < deadline) {
        fm_error_t err;
        if (fm_events_recv (net->monitor, event, &err) == 0 && event->type == type)
            return 0;
    }
    return -1;
}

//  A REQUEST for enterprise with idem key.
static fm_msg_t *
s_net_request (const char *enterprise, const char *key)
{
    fm_msg_t *msg = fm_msg_new (FM_MSG_REQUEST);
    snprintf (msg->request.enterprise_id, sizeof (msg->request.enterprise_id), "%s", enterprise);
    snprintf (msg->request.idem_key, sizeof (msg->request.idem_key), "%s", key);
    msg->request.amount_fen = 100000000;
    msg->request.term_months = 12;
    snprintf (msg->request.purpose, sizeof (msg->request.purpose), "流动资金");
    return msg;
}

static void
s_test_broker (bool verbose)
{
    char dir [] = "/tmp/fm_auth_e2e_XXXXXX";
    assert (mkdtemp (dir));
    s_net_t net = { NULL, NULL, NULL, NULL, NULL };
    net.certdir = zsys_sprintf ("%s/certs", dir);
    assert (zsys_dir_create (net.certdir) == 0);
    char ent_a [FM_ENTERPRISE_ID_SIZE], ent_b [FM_ENTERPRISE_ID_SIZE],
         ent_c [FM_ENTERPRISE_ID_SIZE];
    snprintf (ent_a, sizeof (ent_a), "91500100000000001X");
    snprintf (ent_b, sizeof (ent_b), "91500100000000002X");
    snprintf (ent_c, sizeof (ent_c), "91500100000000003X");
    ent_a [17] = fm_credit_code_check_char (ent_a);
    ent_b [17] = fm_credit_code_check_char (ent_b);
    ent_c [17] = fm_credit_code_check_char (ent_c);

    //  The broker's own pair: secret file, mode checked at AUTH
    zcert_t *broker_cert = s_net_cert (&net, NULL, FM_ROLE_BROKER, NULL, NULL);
    char *broker_path = zsys_sprintf ("%s/broker", dir);
    char *broker_secret = zsys_sprintf ("%s/broker_secret", dir);
    assert (zcert_save (broker_cert, broker_path) == 0);
    net.broker_key = strdup (zcert_public_txt (broker_cert));
    zcert_t *cert_a = s_net_cert (&net, "a", FM_ROLE_ENTERPRISE, FM_CERT_ENTERPRISE, ent_a);
    zcert_t *cert_b = s_net_cert (&net, "b", FM_ROLE_ENTERPRISE, FM_CERT_ENTERPRISE, ent_b);
    zcert_t *cert_c = s_net_cert (&net, "c", FM_ROLE_ENTERPRISE, FM_CERT_ENTERPRISE, ent_c);
    zcert_t *cert_bank = s_net_cert (&net, "cqrcb", FM_ROLE_BANK, FM_CERT_BANK, "CQRCB");
    zcert_t *cert_mon = s_net_cert (&net, "mon", FM_ROLE_MONITOR, NULL, NULL);
    zcert_t *cert_gov = s_net_cert (&net, "gov", FM_ROLE_GOV, NULL, NULL);
    zcert_t *stranger = s_net_cert (&net, NULL, FM_ROLE_MONITOR, NULL, NULL);

    //  A world-readable secret: the broker refuses to go secure
    zactor_t *broker = zactor_new (fm_broker, "fm_auth_test");
    assert (chmod (broker_secret, 0644) == 0);
    zstr_sendx (broker, "AUTH", broker_path, net.certdir, NULL);
    char *reply = zstr_recv (broker);
    assert (reply && strstr (reply, "-1 ") == reply && strstr (reply, "chmod 600"));
    if (verbose)
        printf ("\n    %s\n", reply);
    zstr_free (&reply);
    assert (chmod (broker_secret, 0600) == 0);
    zstr_sendx (broker, "AUTH", broker_path, net.certdir, NULL);
    reply = zstr_recv (broker);
    assert (reply && streq (reply, "0"));
    zstr_free (&reply);
    //  Requests wait for gov as long as the test needs them to exist
    zstr_sendx (broker, "SET", "gov_deadline_ms", "600000", NULL);
    reply = zstr_recv (broker);
    assert (reply && streq (reply, "0"));
    zstr_free (&reply);
    zstr_sendx (broker, "BIND", "tcp://127.0.0.1:*", NULL);
    reply = zstr_recv (broker);
    assert (reply && streq (reply, "0"));
    zstr_free (&reply);
    zstr_sendx (broker, "EVENTS", "tcp://127.0.0.1:*", NULL);
    reply = zstr_recv (broker);
    assert (reply && streq (reply, "0"));
    zstr_free (&reply);
    char *router_port, *events_port;
    zstr_sendx (broker, "PORTS", NULL);
    assert (zstr_recvx (broker, &router_port, &events_port, NULL) == 2);
    net.endpoint = zsys_sprintf ("tcp://127.0.0.1:%s", router_port);
    net.events = zsys_sprintf ("tcp://127.0.0.1:%s", events_port);
    zstr_free (&router_port);
    zstr_free (&events_port);

    //  Monitor: poll until its subscription is live (A's requests each
    //  publish events; no gov worker, so each ends at once with 503)
    net.monitor = s_net_sock (&net, ZMQ_SUB, net.events, cert_mon);
    zsock_t *client_a = s_net_sock (&net, ZMQ_DEALER, net.endpoint, cert_a);
    fm_event_t event;
    bool live = false;
    for (int attempt = 0; attempt < 100 && !live; attempt++) {
        char key [32];
        snprintf (key, sizeof (key), "sync-%d", attempt);
        fm_msg_t *msg = s_net_request (ent_a, key);
        s_net_send (client_a, FM_SERVICE_REQUEST, msg);
        fm_msg_destroy (&msg);
        msg = s_net_recv (client_a);
        assert (msg && msg->type == FM_MSG_ERROR && msg->status == FM_STATUS_UNAVAILABLE);
        fm_msg_destroy (&msg);
        live = s_net_event (&net, FM_EV_REQUEST_RECEIVED, 50, &event) == 0;
    }
    assert (live);

    //  No key: a plain peer never completes the handshake, nothing comes
    zsock_t *plain = s_net_sock (&net, ZMQ_DEALER, net.endpoint, NULL);
    char *status = s_net_mmi (plain, FM_SERVICE_REQUEST);
    assert (status == NULL);
    zsock_destroy (&plain);

    //  Unknown key: refused by ZAP, auth.denied on the stream
    zsock_t *unknown = s_net_sock (&net, ZMQ_DEALER, net.endpoint, stranger);
    status = s_net_mmi (unknown, FM_SERVICE_REQUEST);
    assert (status == NULL);
    assert (s_net_event (&net, FM_EV_AUTH_DENIED, 2000, &event) == 0);
    assert (streq (event.service, "connect"));
    assert (strncmp (event.peer, zcert_public_txt (stranger), 16) == 0);
    zsock_destroy (&unknown);

    //  A known key works; it may not submit for another enterprise
    status = s_net_mmi (client_a, FM_SERVICE_REQUEST);
    assert (status && streq (status, "200"));
    zstr_free (&status);
    fm_msg_t *msg = s_net_request (ent_b, "a-claims-b");
    s_net_send (client_a, FM_SERVICE_REQUEST, msg);
    fm_msg_destroy (&msg);
    msg = s_net_recv (client_a);
    assert (msg && msg->type == FM_MSG_ERROR && msg->status == FM_STATUS_FORBIDDEN);
    fm_msg_destroy (&msg);
    assert (s_net_event (&net, FM_EV_AUTH_DENIED, 2000, &event) == 0);
    assert (streq (event.service, FM_SERVICE_REQUEST));

    //  B's request exists (a gov worker holds its credit query without
    //  answering); A may not accept it, neither claiming to be B nor as
    //  itself
    zsock_t *gov = s_net_sock (&net, ZMQ_DEALER, net.endpoint, cert_gov);
    zstr_sendx (gov, "", "MDPW01", "\001", FM_SERVICE_GOV, NULL);
    assert (s_net_event (&net, FM_EV_WORKER_READY, 2000, &event) == 0);
    zsock_t *client_b = s_net_sock (&net, ZMQ_DEALER, net.endpoint, cert_b);
    msg = s_net_request (ent_b, "b-own");
    s_net_send (client_b, FM_SERVICE_REQUEST, msg);
    fm_msg_destroy (&msg);
    assert (s_net_event (&net, FM_EV_REQUEST_RECEIVED, 2000, &event) == 0);
    char id_b [FM_REQUEST_ID_SIZE];
    fm_request_id_make (ent_b, "b-own", id_b);
    const char *claims [] = { ent_b, ent_a };
    for (size_t index = 0; index < 2; index++) {
        msg = fm_msg_new (FM_MSG_ACCEPT);
        snprintf (msg->request_id, sizeof (msg->request_id), "%s", id_b);
        snprintf (msg->request.enterprise_id, sizeof (msg->request.enterprise_id),
                  "%s", claims [index]);
        snprintf (msg->offer_id, sizeof (msg->offer_id), "CQRCB/GRIDE");
        s_net_send (client_a, FM_SERVICE_ACCEPT, msg);
        fm_msg_destroy (&msg);
        msg = s_net_recv (client_a);
        assert (msg && msg->type == FM_MSG_ERROR && msg->status == FM_STATUS_FORBIDDEN);
        fm_msg_destroy (&msg);
        assert (s_net_event (&net, FM_EV_AUTH_DENIED, 2000, &event) == 0);
        assert (streq (event.service, FM_SERVICE_ACCEPT));
    }

    //  A bank key registering as another bank: DISCONNECT, auth.denied;
    //  as its own bank: worker.ready
    zsock_t *bank = s_net_sock (&net, ZMQ_DEALER, net.endpoint, cert_bank);
    zsock_set_rcvtimeo (bank, 2000);
    zstr_sendx (bank, "", "MDPW01", "\001", "bank.ABC", NULL);
    zmsg_t *in = zmsg_recv (bank);
    assert (in && zmsg_size (in) == 3);
    assert (zframe_data (zmsg_last (in)) [0] == 0x05);      //  DISCONNECT
    zmsg_destroy (&in);
    assert (s_net_event (&net, FM_EV_AUTH_DENIED, 2000, &event) == 0);
    assert (streq (event.service, "bank.ABC"));
    zstr_sendx (bank, "", "MDPW01", "\001", "bank.CQRCB", NULL);
    assert (s_net_event (&net, FM_EV_WORKER_READY, 2000, &event) == 0);
    assert (streq (event.service, "bank.CQRCB"));

    //  Risk warnings (fm.warn): officer W01 of grid JB-01 warns on its own
    //  grid, claiming to be someone else: the event says W01; on another
    //  grid it is 403 and auth.denied; a gov key warns anywhere
    zcert_t *cert_o = zcert_new ();
    zcert_set_meta (cert_o, FM_CERT_ROLE, "%s", FM_ROLE_OFFICER);
    zcert_set_meta (cert_o, FM_CERT_OFFICER, "W01");
    zcert_set_meta (cert_o, FM_CERT_GRID, "JB-01");
    char *path_o = zsys_sprintf ("%s/o", net.certdir);
    assert (zcert_save_public (cert_o, path_o) == 0);
    zsock_t *officer = s_net_sock (&net, ZMQ_DEALER, net.endpoint, cert_o);
    zsock_set_rcvtimeo (officer, 2000);
    const char *grids [] = { "JB-01", "JB-02" };
    for (size_t index = 0; index < 2; index++) {
        msg = fm_msg_new (FM_MSG_WARN);
        msg->warning.target = FM_WARN_GRID;
        snprintf (msg->warning.target_id, sizeof (msg->warning.target_id), "%s",
                  grids [index]);
        msg->warning.level = 2;
        snprintf (msg->warning.reason, sizeof (msg->warning.reason), "非法集资风险");
        snprintf (msg->warning.raised_by, sizeof (msg->warning.raised_by), "W99");
        s_net_send (officer, FM_SERVICE_WARN, msg);
        fm_msg_destroy (&msg);
        msg = s_net_recv (officer);
        if (index == 0) {
            assert (msg && msg->type == FM_MSG_WARN && msg->status == FM_STATUS_OK);
            assert (s_net_event (&net, FM_EV_RISK_WARNING, 2000, &event) == 0);
            assert (streq (event.grid_id, "JB-01") && streq (event.peer, "W01"));
            assert (event.status == FM_STATUS_OK && event.count == 2);
        }
        else {
            assert (msg && msg->type == FM_MSG_ERROR && msg->status == FM_STATUS_FORBIDDEN);
            if (verbose)
                printf ("    %s\n", msg->text);
            assert (strstr (msg->text, "JB-02"));
            assert (s_net_event (&net, FM_EV_AUTH_DENIED, 2000, &event) == 0);
            assert (streq (event.service, FM_SERVICE_WARN));
        }
        fm_msg_destroy (&msg);
    }
    //  The gov key lifts it (from its gov worker socket: one key, any
    //  socket); the record says who
    msg = fm_msg_new (FM_MSG_WARN);
    msg->warning.target = FM_WARN_GRID;
    snprintf (msg->warning.target_id, sizeof (msg->warning.target_id), "JB-01");
    msg->warning.lift = true;
    zsock_t *gov_client = s_net_sock (&net, ZMQ_DEALER, net.endpoint, cert_gov);
    zsock_set_rcvtimeo (gov_client, 2000);
    s_net_send (gov_client, FM_SERVICE_WARN, msg);
    fm_msg_destroy (&msg);
    msg = s_net_recv (gov_client);
    assert (msg && msg->type == FM_MSG_WARN && msg->status == FM_STATUS_OK);
    fm_msg_destroy (&msg);
    assert (s_net_event (&net, FM_EV_RISK_WARNING, 2000, &event) == 0);
    assert (streq (event.grid_id, "JB-01") && streq (event.peer, FM_ROLE_GOV));
    assert (event.status == FM_STATUS_GONE);
    zsock_destroy (&gov_client);
    zsock_destroy (&officer);
    zcert_destroy (&cert_o);
    free (path_o);

    //  A subscriber without a monitor key receives nothing: its handshake
    //  is refused (auth.denied), and events published later never reach it
    zsock_t *nosy = s_net_sock (&net, ZMQ_SUB, net.events, cert_a);
    assert (s_net_event (&net, FM_EV_AUTH_DENIED, 2000, &event) == 0);
    assert (streq (event.service, "events"));
    msg = s_net_request (ent_a, "after-nosy");
    s_net_send (client_a, FM_SERVICE_REQUEST, msg);
    fm_msg_destroy (&msg);
    assert (s_net_event (&net, FM_EV_REQUEST_RECEIVED, 2000, &event) == 0);
    zsock_set_rcvtimeo (nosy, 100);
    zmsg_t *leak = zmsg_recv (nosy);
    assert (leak == NULL);
    zsock_destroy (&nosy);

    //  Revocation: C works, its certificate is removed, its next
    //  connection is refused and so is its old connection's next message
    zsock_t *client_c = s_net_sock (&net, ZMQ_DEALER, net.endpoint, cert_c);
    status = s_net_mmi (client_c, FM_SERVICE_REQUEST);
    assert (status && streq (status, "200"));
    zstr_free (&status);
    char *path_c = zsys_sprintf ("%s/c", net.certdir);
    assert (zsys_file_delete (path_c) == 0);
    zsock_t *again = s_net_sock (&net, ZMQ_DEALER, net.endpoint, cert_c);
    status = s_net_mmi (again, FM_SERVICE_REQUEST);
    assert (status == NULL);
    assert (s_net_event (&net, FM_EV_AUTH_DENIED, 2000, &event) == 0);
    assert (streq (event.service, "connect"));
    msg = s_net_request (ent_c, "after-revocation");
    s_net_send (client_c, FM_SERVICE_REQUEST, msg);
    fm_msg_destroy (&msg);
    msg = s_net_recv (client_c);
    assert (msg && msg->type == FM_MSG_ERROR && msg->status == FM_STATUS_FORBIDDEN);
    fm_msg_destroy (&msg);

    zsock_destroy (&again);
    zsock_destroy (&client_c);
    zsock_destroy (&bank);
    zsock_destroy (&gov);
    zsock_destroy (&client_b);
    zsock_destroy (&client_a);
    zsock_destroy (&net.monitor);
    zactor_destroy (&broker);

    zdir_t *tree = zdir_new (dir, NULL);
    if (tree) {
        zdir_remove (tree, true);
        zdir_destroy (&tree);
    }
    zcert_destroy (&broker_cert);
    zcert_destroy (&cert_a);
    zcert_destroy (&cert_b);
    zcert_destroy (&cert_c);
    zcert_destroy (&cert_bank);
    zcert_destroy (&cert_mon);
    zcert_destroy (&cert_gov);
    zcert_destroy (&stranger);
    free (path_c);
    free (broker_path);
    free (broker_secret);
    free (net.certdir);
    free (net.endpoint);
    free (net.events);
    free (net.broker_key);
}

void
fm_auth_test (bool verbose)
{
    printf (" * fm_auth: ");
    char dir [] = "/tmp/fm_auth_test_XXXXXX";
    assert (mkdtemp (dir));
    const char *ent_a = "91500105MA5U0XXXX1";
    const char *ent_b = "91500105MA5U0YYYY2";
    char *key_a = s_test_cert (dir, "a", FM_ROLE_ENTERPRISE, FM_CERT_ENTERPRISE, ent_a, NULL, NULL);
    char *key_o = s_test_cert (dir, "o", FM_ROLE_OFFICER, FM_CERT_OFFICER, "W01",
                               FM_CERT_GRID, "JB-GN-01");
    char *key_bank = s_test_cert (dir, "cqrcb", FM_ROLE_BANK, FM_CERT_BANK, "CQRCB", NULL, NULL);
    char *key_gov = s_test_cert (dir, "gov", FM_ROLE_GOV, NULL, NULL, NULL, NULL);
    char *key_mon = s_test_cert (dir, "mon", FM_ROLE_MONITOR, NULL, NULL, NULL, NULL);
    //  Bad files are skipped: no role, a secret key
    char *key_bad = s_test_cert (dir, "bad", "wizard", NULL, NULL, NULL, NULL);
    zcert_t *leaked = zcert_new ();
    char *leaked_path = zsys_sprintf ("%s/leaked", dir);
    zcert_save (leaked, leaked_path);       //  leaked + leaked_secret

    char err [256];
    assert (!fm_auth_new ("/nonexistent/certs", err, sizeof (err)));
    fm_auth_t *auth = fm_auth_new (dir, err, sizeof (err));
    assert (auth);
    int denials = 0;
    fm_auth_set_denied (auth, s_test_denied, &denials);
    assert (fm_auth_refresh (auth) == 5);
    assert (streq (fm_auth_role (auth, key_bank), FM_ROLE_BANK));
    assert (!fm_auth_role (auth, key_bad));
    assert (!fm_auth_role (auth, zcert_public_txt (leaked)));

    char why [FM_TEXT_SIZE];
    fm_msg_t *msg = fm_msg_new (FM_MSG_REQUEST);
    snprintf (msg->request.enterprise_id, sizeof (msg->request.enterprise_id), "%s", ent_a);
    assert (fm_auth_client (auth, key_a, FM_SERVICE_REQUEST, msg, why, sizeof (why)) == 0);
    assert (fm_auth_client (auth, key_bank, FM_SERVICE_REQUEST, msg, why, sizeof (why)) == 403);
    assert (fm_auth_client (auth, NULL, FM_SERVICE_REQUEST, msg, why, sizeof (why)) == 403);
    snprintf (msg->request.enterprise_id, sizeof (msg->request.enterprise_id), "%s", ent_b);
    assert (fm_auth_client (auth, key_a, FM_SERVICE_REQUEST, msg, why, sizeof (why)) == 403);
    if (verbose)
        printf ("\n    %s\n", why);
    //  Officer: own grid and own id only
    assert (fm_auth_client (auth, key_o, FM_SERVICE_REQUEST, msg, why, sizeof (why)) == 403);
    snprintf (msg->request.grid_id, sizeof (msg->request.grid_id), "JB-GN-01");
    snprintf (msg->request.submitted_by, sizeof (msg->request.submitted_by), "W01");
    assert (fm_auth_client (auth, key_o, FM_SERVICE_REQUEST, msg, why, sizeof (why)) == 0);
    fm_msg_destroy (&msg);

    //  Accept: the enterprise itself only
    msg = fm_msg_new (FM_MSG_ACCEPT);
    snprintf (msg->request.enterprise_id, sizeof (msg->request.enterprise_id), "%s", ent_b);
    assert (fm_auth_client (auth, key_a, FM_SERVICE_ACCEPT, msg, why, sizeof (why)) == 403);
    assert (fm_auth_client (auth, key_o, FM_SERVICE_ACCEPT, msg, why, sizeof (why)) == 403);
    snprintf (msg->request.enterprise_id, sizeof (msg->request.enterprise_id), "%s", ent_a);
    assert (fm_auth_client (auth, key_a, FM_SERVICE_ACCEPT, msg, why, sizeof (why)) == 0);
    fm_msg_destroy (&msg);

    //  Workers: the bank named in the certificate, gov.credit for gov
    assert (fm_auth_worker (auth, key_bank, "bank.CQRCB", why, sizeof (why)) == 0);
    assert (fm_auth_worker (auth, key_bank, "bank.ABC", why, sizeof (why)) == 403);
    assert (fm_auth_worker (auth, key_bank, FM_SERVICE_GOV, why, sizeof (why)) == 403);
    assert (fm_auth_worker (auth, key_gov, FM_SERVICE_GOV, why, sizeof (why)) == 0);
    assert (fm_auth_worker (auth, key_mon, "bank.CQRCB", why, sizeof (why)) == 403);
    assert (fm_auth_worker (auth, key_a, FM_SERVICE_GOV, why, sizeof (why)) == 403);
    assert (denials == 10);

    //  Risk warnings: gov anywhere; an officer on its own grid only, never
    //  on an enterprise; others not at all.  Who raised it comes from the
    //  key (a gov key's display name cut at a character boundary)
    msg = fm_msg_new (FM_MSG_WARN);
    msg->warning.target = FM_WARN_GRID;
    snprintf (msg->warning.target_id, sizeof (msg->warning.target_id), "JB-GN-01");
    assert (fm_auth_client (auth, key_o, FM_SERVICE_WARN, msg, why, sizeof (why)) == 0);
    assert (fm_auth_client (auth, key_gov, FM_SERVICE_WARN, msg, why, sizeof (why)) == 0);
    assert (fm_auth_client (auth, key_a, FM_SERVICE_WARN, msg, why, sizeof (why)) == 403);
    assert (fm_auth_client (auth, key_mon, FM_SERVICE_WARN, msg, why, sizeof (why)) == 403);
    snprintf (msg->warning.target_id, sizeof (msg->warning.target_id), "JB-GN-02");
    assert (fm_auth_client (auth, key_o, FM_SERVICE_WARN, msg, why, sizeof (why)) == 403);
    assert (strstr (why, "JB-GN-01") && strstr (why, "JB-GN-02"));
    assert (fm_auth_client (auth, key_gov, FM_SERVICE_WARN, msg, why, sizeof (why)) == 0);
    msg->warning.target = FM_WARN_ENTERPRISE;
    snprintf (msg->warning.target_id, sizeof (msg->warning.target_id), "%s", ent_a);
    assert (fm_auth_client (auth, key_o, FM_SERVICE_WARN, msg, why, sizeof (why)) == 403);
    assert (fm_auth_client (auth, key_gov, FM_SERVICE_WARN, msg, why, sizeof (why)) == 0);
    fm_msg_destroy (&msg);
    assert (denials == 14);
    assert (streq (fm_auth_who (auth, key_o), "W01"));
    assert (streq (fm_auth_who (auth, key_a), ent_a));
    assert (streq (fm_auth_who (auth, key_bank), "CQRCB"));
    assert (streq (fm_auth_who (auth, key_gov), FM_ROLE_GOV));
    assert (!fm_auth_who (auth, key_bad));
    char *key_office = s_test_cert (dir, "office", FM_ROLE_GOV, FM_CERT_NAME,
                                    "重庆市江北区金融工作办公室", NULL, NULL);
    assert (fm_auth_refresh (auth) == 6);
    assert (streq (fm_auth_who (auth, key_office), "重庆市江北区金"));    //  21 bytes
    char *office_path = zsys_sprintf ("%s/office", dir);
    zsys_file_delete (office_path);
    assert (fm_auth_refresh (auth) == 5);
    free (office_path);
    free (key_office);

    //  Revocation: remove a file, the directory's mtime moves, the next
    //  check re-reads it
    char *path = zsys_sprintf ("%s/cqrcb", dir);
    zsys_file_delete (path);
    assert (fm_auth_refresh (auth) == 4);
    assert (fm_auth_worker (auth, key_bank, "bank.CQRCB", why, sizeof (why)) == 403);
    assert (fm_auth_peer_key (NULL) == NULL);
    fm_auth_destroy (&auth);
    fm_auth_destroy (&auth);

    //  Clean up
    zdir_t *tree = zdir_new (dir, NULL);
    if (tree) {
        zdir_remove (tree, true);
        zdir_destroy (&tree);
    }
    zcert_destroy (&leaked);
    free (leaked_path);
    free (path);
    free (key_a);
    free (key_o);
    free (key_bank);
    free (key_gov);
    free (key_mon);
    free (key_bad);

    s_test_broker (verbose);
    printf ("OK\n");
}
