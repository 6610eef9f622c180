/*  =========================================================================
    fm_curve - a peer's CURVE security settings: own certificate and the
    broker's public key

    A thin layer over zcert.  What it adds: the mode check on secret files
    (stat before the file is opened, so a readable key is refused before
    it is ever in memory), a clear message for every way loading can fail,
    and one place that knows how a client socket and a server socket are
    made CURVE.  zcert_print is never used: it logs the secret key.
    =========================================================================
*/

#include "fm_curve.h"
#include <sys/stat.h>

#define Z85_KEY_SIZE    40              //  a 32-byte key in Z85 text
#define NULL_KEY_TXT    "0000000000000000000000000000000000000000"

struct _fm_curve_t {
    zcert_t *cert;                      //  owned: our keys and metadata
    char server_key [Z85_KEY_SIZE + 1]; //  broker's public key, or ""
};

//  --------------------------------------------------------------------------
//  Check a secret certificate's file mode.  Returns 0 or -1 with err.

int
fm_curve_secret_check (const char *path, char *err, size_t size)
{
    assert (path);
    struct stat st;
    if (stat (path, &st) == -1) {
        snprintf (err, size, "cannot read secret certificate %s: %s",
                  path, strerror (errno));
        return -1;
    }
    if (!S_ISREG (st.st_mode)) {
        snprintf (err, size, "secret certificate %s is not a regular file", path);
        return -1;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf (err, size, "secret certificate %s is accessible by group or "
                  "others (mode %04o): refusing to use it; run chmod 600 %s "
                  "(and consider the key compromised)",
                  path, (unsigned) (st.st_mode & 07777), path);
        return -1;
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  Load our certificate and the broker's key.

fm_curve_t *
fm_curve_new (const char *cert_path, const char *server_path,
              char *err, size_t size)
{
    assert (cert_path);
    //  zcert_load (NAME) reads NAME_secret first: accept either spelling
    //  and check the file that holds the secret
    size_t length = strlen (cert_path);
    size_t suffix = strlen ("_secret");
    bool is_secret = length > suffix && streq (cert_path + length - suffix, "_secret");
    char *base = is_secret? zsys_sprintf ("%.*s", (int) (length - suffix), cert_path)
                          : strdup (cert_path);
    char *secret = zsys_sprintf ("%s_secret", base);
    assert (base && secret);
    zcert_t *cert = NULL;
    if (fm_curve_secret_check (secret, err, size) == 0) {
        cert = zcert_load (base);
        if (!cert)
            snprintf (err, size, "%s is not a CURVE certificate", secret);
        else
        if (streq (zcert_secret_txt (cert), NULL_KEY_TXT)) {
            snprintf (err, size, "%s holds no secret key", secret);
            zcert_destroy (&cert);
        }
    }
    free (base);
    free (secret);
    if (!cert)
        return NULL;

    char server_key [Z85_KEY_SIZE + 1] = "";
    if (server_path) {
        //  The broker's PUBLIC certificate: never its _secret file
        zconfig_t *root = zconfig_load (server_path);
        const char *text = root? zconfig_get (root, "/curve/public-key", NULL): NULL;
        if (!root)
            snprintf (err, size, "cannot read broker certificate %s", server_path);
        else
        if (!text || strlen (text) != Z85_KEY_SIZE)
            snprintf (err, size, "%s has no CURVE public key", server_path);
        else
            snprintf (server_key, sizeof (server_key), "%s", text);
        zconfig_destroy (&root);
        if (!*server_key) {
            zcert_destroy (&cert);
            return NULL;
        }
    }
    fm_curve_t *self = fm_curve_new_from (cert, server_path? server_key: NULL);
    zcert_destroy (&cert);
    if (!self)
        snprintf (err, size, "out of memory");
    return self;
}


//  --------------------------------------------------------------------------
//  Build from a certificate in memory.

fm_curve_t *
fm_curve_new_from (zcert_t *cert, const char *server_key)
{
    assert (cert);
    fm_curve_t *self = (fm_curve_t *) zmalloc (sizeof (fm_curve_t));
    if (!self)
        return NULL;
    self->cert = zcert_dup (cert);
    if (!self->cert) {
        free (self);
        return NULL;
    }
    if (server_key)
        snprintf (self->server_key, sizeof (self->server_key), "%s", server_key);
    return self;
}


//  --------------------------------------------------------------------------
//  Destroy; idempotent.

void
fm_curve_destroy (fm_curve_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        fm_curve_t *self = *self_p;
        zcert_destroy (&self->cert);
        free (self);
        *self_p = NULL;
    }
}


//  --------------------------------------------------------------------------
//  A copy the caller owns.

fm_curve_t *
fm_curve_dup (fm_curve_t *self)
{
    assert (self);
    return fm_curve_new_from (self->cert, *self->server_key? self->server_key: NULL);
}


//  --------------------------------------------------------------------------
//  CURVE client socket.

int
fm_curve_apply_client (fm_curve_t *self, zsock_t *sock)
{
    assert (self);
    assert (sock);
    if (!*self->server_key)
        return -1;
    zcert_apply (self->cert, sock);
    zsock_set_curve_serverkey (sock, self->server_key);
    return 0;
}


//  --------------------------------------------------------------------------
//  CURVE server socket.

void
fm_curve_apply_server (fm_curve_t *self, zsock_t *sock, const char *domain)
{
    assert (self);
    assert (sock);
    assert (domain);
    zcert_apply (self->cert, sock);
    zsock_set_curve_server (sock, 1);
    zsock_set_zap_domain (sock, domain);
}


//  --------------------------------------------------------------------------
//  Public key, metadata.

const char *
fm_curve_public (fm_curve_t *self)
{
    assert (self);
    return zcert_public_txt (self->cert);
}

const char *
fm_curve_meta (fm_curve_t *self, const char *name)
{
    assert (self);
    return zcert_meta (self->cert, name);
}


//  --------------------------------------------------------------------------
//  Start-up step of every binary.

int
fm_curve_setup (const char *name, bool insecure, const char *cert_path,
                const char *server_path, fm_curve_t **curve_p)
{
    assert (name);
    assert (curve_p);
    *curve_p = NULL;
    if (insecure) {
        zsys_warning ("****************************************************");
        zsys_warning ("%s: --insecure: NO ENCRYPTION, NO AUTHENTICATION.", name);
        zsys_warning ("Anyone who can reach the endpoints can read and send");
        zsys_warning ("everything. For local development only.");
        zsys_warning ("****************************************************");
        return 0;
    }
    if (!cert_path || !*cert_path) {
        fprintf (stderr, "%s: no certificate: give --cert FILE (created by "
                 "'finmatch keygen'), or --insecure for local development\n", name);
        return -1;
    }
    bool need_server = server_path != NULL;
    if (need_server && !*server_path) {
        fprintf (stderr, "%s: no broker key: give --broker-key FILE (the "
                 "broker's public certificate), or --insecure\n", name);
        return -1;
    }
    char err [512];
    *curve_p = fm_curve_new (cert_path, need_server? server_path: NULL, err, sizeof (err));
    if (!*curve_p) {
        fprintf (stderr, "%s: %s\n", name, err);
        return -1;
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  Self test

void
fm_curve_test (bool verbose)
{
    printf (" * fm_curve: ");
    char dir [] = "/tmp/fm_curve_test_XXXXXX";
    assert (mkdtemp (dir));
    char *base = zsys_sprintf ("%s/bank", dir);
    char *secret = zsys_sprintf ("%s/bank_secret", dir);
    char *server = zsys_sprintf ("%s/broker", dir);
    char *server_secret = zsys_sprintf ("%s/broker_secret", dir);
    char err [512];

    zcert_t *cert = zcert_new ();
    zcert_set_meta (cert, FM_CERT_ROLE, FM_ROLE_BANK);
    zcert_set_meta (cert, FM_CERT_BANK, "CQRCB");
    assert (zcert_save (cert, base) == 0);
    zcert_t *broker = zcert_new ();
    zcert_set_meta (broker, FM_CERT_ROLE, FM_ROLE_BROKER);
    assert (zcert_save (broker, server) == 0);

    //  Mode: zcert writes secrets 0600; anything wider is refused
    assert (fm_curve_secret_check (secret, err, sizeof (err)) == 0);
    assert (chmod (secret, 0644) == 0);
    fm_curve_t *curve = fm_curve_new (base, server, err, sizeof (err));
    assert (!curve);
    assert (strstr (err, "chmod 600"));
    if (verbose)
        printf ("\n    refused: %s\n", err);
    assert (chmod (secret, 0600) == 0);

    //  Either spelling of the name; metadata and keys come through
    curve = fm_curve_new (secret, server, err, sizeof (err));
    assert (curve);
    assert (streq (fm_curve_public (curve), zcert_public_txt (cert)));
    assert (streq (fm_curve_meta (curve, FM_CERT_BANK), "CQRCB"));
    fm_curve_t *copy = fm_curve_dup (curve);
    assert (copy);
    fm_curve_destroy (&curve);
    fm_curve_destroy (&curve);
    assert (curve == NULL);

    //  A public file alone is not a certificate we can use
    assert (zsys_file_delete (secret) == 0);
    assert (!fm_curve_new (base, server, err, sizeof (err)));
    //  The broker key must come from a certificate with a public key
    zcert_save (cert, base);
    assert (!fm_curve_new (base, "/nonexistent/broker", err, sizeof (err)));

    //  A CURVE round trip: server with broker's keys, client with ours
    fm_curve_t *server_curve = fm_curve_new_from (broker, NULL);
    assert (server_curve);
    zsock_t *pull = zsock_new (ZMQ_PULL);
    assert (fm_curve_apply_client (server_curve, pull) == -1);   //  no server key
    fm_curve_apply_server (server_curve, pull, FM_ZAP_DOMAIN_ROUTER);
    int port = zsock_bind (pull, "tcp://127.0.0.1:*");
    assert (port > 0);
    zsock_t *push = zsock_new (ZMQ_PUSH);
    assert (fm_curve_apply_client (copy, push) == 0);
    assert (zsock_connect (push, "tcp://127.0.0.1:%d", port) == 0);
    zstr_send (push, "hello");
    zsock_set_rcvtimeo (pull, 5000);
    char *hello = zstr_recv (pull);
    assert (hello && streq (hello, "hello"));
    zstr_free (&hello);
    zsock_destroy (&push);
    zsock_destroy (&pull);

    //  Setup: insecure gives NULL and 0; missing pieces are -1
    fm_curve_t *none = NULL;
    assert (fm_curve_setup ("fm_curve_test", true, NULL, NULL, &none) == 0 && !none);
    assert (fm_curve_setup ("fm_curve_test", false, "", NULL, &none) == -1);

    fm_curve_destroy (&server_curve);
    fm_curve_destroy (&copy);
    zcert_destroy (&cert);
    zcert_destroy (&broker);
    zsys_file_delete (base);
    zsys_file_delete (secret);
    zsys_file_delete (server);
    zsys_file_delete (server_secret);
    zsys_dir_delete (dir);
    free (base);
    free (secret);
    free (server);
    free (server_secret);
    printf ("OK\n");
}
