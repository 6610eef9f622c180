/*  =========================================================================
    fm_cli - the keys a `finmatch` command connects with

    Keys are loaded when a command is about to connect, never before: so a
    usage error is reported as a usage error, and the commands that read
    only local files (report, status --db, keygen) never need a key.

    Two sources: --cert FILE (the user's own certificate, loaded once and
    kept in fm_cli_t), or --cert-dir DIR, one certificate per enterprise
    named DIR/<credit code>.cert (+ DIR/<credit code>.cert_secret, as
    `finmatch keygen --out DIR/<code>.cert` writes them): request and
    accept then connect as the enterprise each request is for, because the
    broker lets an enterprise key act only for its own enterprise.
    =========================================================================
*/

#include <czmq.h>
#include <getopt.h>
#include "fm_cli.h"
#include "fm_curve.h"
#include "fm_i18n.h"
#include "fm_json.h"
#include "fm_print.h"

//  --------------------------------------------------------------------------
//  Our own keys (--cert), loaded once.

int
fm_cli_keys (fm_cli_t *cli)
{
    assert (cli);
    if (cli->curve || cli->keys_loaded)
        return 0;
    if (!cli->insecure && (!cli->cert || !*cli->cert)) {
        fprintf (stderr, _("finmatch: no certificate: give --cert FILE (or, "
                 "for request and accept, --cert-dir DIR of enterprise keys; "
                 "made by 'finmatch keygen'), or --insecure for local "
                 "development\n"));
        return -1;
    }
    if (fm_curve_setup ("finmatch", cli->insecure, cli->cert,
                        cli->broker_key? cli->broker_key: "", &cli->curve))
        return -1;
    cli->keys_loaded = true;
    return 0;
}


//  --------------------------------------------------------------------------
//  The keys to act for enterprise.

int
fm_cli_enterprise_keys (fm_cli_t *cli, const char *enterprise,
                        fm_curve_t **curve_p)
{
    assert (cli);
    assert (curve_p);
    *curve_p = NULL;
    if (cli->insecure || !cli->cert_dir || !*cli->cert_dir || !enterprise) {
        if (fm_cli_keys (cli))
            return -1;
        if (cli->curve) {
            *curve_p = fm_curve_dup (cli->curve);
            if (!*curve_p) {
                fputs ("finmatch: out of memory\n", stderr);
                return -1;
            }
        }
        return 0;
    }
    if (!cli->broker_key || !*cli->broker_key) {
        fprintf (stderr, _("finmatch: no broker key: give --broker-key FILE (the "
                 "broker's public certificate), or --insecure\n"));
        return -1;
    }
    char *path = zsys_sprintf ("%s/%s.cert", cli->cert_dir, enterprise);
    assert (path);
    char err [512];
    *curve_p = fm_curve_new (path, cli->broker_key, err, sizeof (err));
    if (!*curve_p)
        fprintf (stderr, _("finmatch: no key for enterprise %s in --cert-dir "
                 "%s: %s\n"), enterprise, cli->cert_dir, err);
    free (path);
    return *curve_p? 0: -1;
}

//  --------------------------------------------------------------------------
//  A command's option error: see header

int
fm_cli_option_error (const char *command, int opt, char **argv)
{
    const char *option = argv [optind - 1];
    if (opt == ':')
        fprintf (stderr, _("finmatch %s: %s needs a value\n"), command, option);
    else
        fprintf (stderr, _("finmatch %s: unknown option '%s' "
                 "(see finmatch %s --help)\n"), command, option, command);
    return 2;
}

//  --------------------------------------------------------------------------
//  A reply as JSON or text: see header

void
fm_cli_print_reply (fm_cli_t *cli, const fm_msg_t *reply)
{
    assert (cli);
    assert (reply);
    if (cli->json) {
        json_t *json = fm_json_reply (reply);
        fm_json_print (&json, stdout);
    }
    else
        fm_print_reply (stdout, reply);
}
