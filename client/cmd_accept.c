/*  =========================================================================
    cmd_accept - `finmatch accept`: take one offer of a finished request

    Sends ACCEPT on fm.accept and prints the bank's confirmation (loan id,
    amount, rate, term), or the refusal: an ERROR from the broker (unknown
    request 404, wrong enterprise 403, expired 410, another offer already
    taken 409...) or a withdrawal by the bank.  Accepting the same offer
    again is idempotent on the broker side, so retrying after a timeout is
    safe.
    =========================================================================
*/

#include <czmq.h>
#include <getopt.h>
#include "fm_cli.h"
#include "fm_client.h"
#include "fm_ids.h"
#include "fm_mdp.h"
#include "fm_json.h"
#include "fm_print.h"
#include "fm_i18n.h"

static void
s_usage (FILE *file)
{
    fputs (_("Usage: finmatch accept REQUEST_ID OFFER_ID --enterprise CODE [--json]\n"
"\n"
"Accepts offer OFFER_ID (\"BANK/PRODUCT\", as listed by finmatch request) of\n"
"request REQUEST_ID on behalf of the enterprise that asked, and prints the\n"
"bank's confirmation: loan id, amount, rate, term.\n"
"\n"
"  --enterprise CODE   the requesting enterprise's credit code (checked by\n"
"                      the broker against the request)\n"
"  --json              one JSON object (fen, bp) instead of text\n"
"  -h, --help          this help\n"
"\n"
"Exit: 0 loan granted, 1 refused or withdrawn, 2 bad input,\n"
"      3 broker did not answer.\n"),
file);
    fputs (_("\nKeys: only the requesting enterprise's own key may accept.  With\n"
"--cert-dir DIR (here or before the command) the key is DIR/CODE.cert with\n"
"DIR/CODE.cert_secret, CODE = --enterprise; else --cert FILE.\n"), file);
}

int
fm_cmd_accept (fm_cli_t *cli, int argc, char **argv)
{
    assert (cli);
    static const struct option options [] = {
        { "enterprise", required_argument, NULL, 'E' },
        { "cert-dir",   required_argument, NULL, 'D' },
        { "json",       no_argument,       NULL, 'j' },
        { "help",       no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *enterprise = NULL;
    optind = 0;                         //  GNU: full re-initialisation
    opterr = 0;
    int opt;
    while ((opt = getopt_long (argc, argv, ":h", options, NULL)) != -1) {
        switch (opt) {
            case 'E': enterprise = optarg; break;
            case 'D': cli->cert_dir = optarg; break;
            case 'j': cli->json = true; break;
            case 'h':
                s_usage (stdout);
                return 0;
            default:
                return fm_cli_option_error ("accept", opt, argv);
        }
    }
    if (argc - optind != 2) {
        fprintf (stderr, _("finmatch accept: expected REQUEST_ID OFFER_ID, "
                 "got %d arguments\n"), argc - optind);
        s_usage (stderr);
        return 2;
    }
    const char *request_id = argv [optind];
    const char *offer_id = argv [optind + 1];
    if (!fm_request_id_valid (request_id)) {
        fprintf (stderr, _("finmatch accept: request id '%.40s' is not 16 "
                 "lowercase hex digits\n"), request_id);
        return 2;
    }
    if (*offer_id == 0 || strlen (offer_id) >= FM_OFFER_ID_SIZE
    ||  !strchr (offer_id, '/')) {
        fprintf (stderr, _("finmatch accept: offer id '%.60s' is not "
                 "BANK/PRODUCT\n"), offer_id);
        return 2;
    }
    if (!enterprise) {
        fputs (_("finmatch accept: --enterprise CODE is required\n"), stderr);
        return 2;
    }
    if (!fm_credit_code_valid (enterprise)) {
        char why [FM_TEXT_SIZE];
        fprintf (stderr, _("finmatch accept: enterprise %s\n"),
                 fm_print_credit_code_problem (enterprise, why, sizeof why));
        return 2;
    }

    //  The accepting enterprise's own key: the broker refuses any other
    fm_curve_t *curve = NULL;
    if (fm_cli_enterprise_keys (cli, enterprise, &curve))
        return 2;
    fm_msg_t *msg = fm_msg_new (FM_MSG_ACCEPT);
    fm_client_t *client = fm_client_new_secure (cli->broker, curve);
    fm_curve_destroy (&curve);          //  the socket has the keys now
    if (!msg || !client) {
        fprintf (stderr, _("finmatch accept: %s\n"), msg? "bad broker endpoint"
                                                      : "out of memory");
        fm_msg_destroy (&msg);
        fm_client_destroy (&client);
        return 2;
    }
    strcpy (msg->request_id, request_id);
    strcpy (msg->request.enterprise_id, enterprise);
    strcpy (msg->offer_id, offer_id);

    int rc = 3;
    fm_error_t err = { 0 };
    //  Lazy Pirate: a timeout reopens the socket and sends the same accept
    //  again; the broker attaches it to the pending grant or answers from
    //  the stored confirmation, so retrying never grants twice
    fm_msg_t *reply = fm_client_request (client, FM_SERVICE_ACCEPT, msg,
                                         cli->timeout_ms, cli->retries, &err);
    if (!reply && err.status != FM_STATUS_TIMEOUT && err.status != 0) {
        fprintf (stderr, _("finmatch accept: cannot send: %s\n"),
                 *err.text? err.text: "send failed");
        rc = err.status == FM_STATUS_BAD_REQUEST? 2: 3;
    }
    else {
        if (reply) {
            fm_cli_print_reply (cli, reply);
            rc = reply->type == FM_MSG_CONFIRMATION
              && reply->confirmation.granted? 0: 1;
            fm_msg_destroy (&reply);
        }
        else
        if (zsys_interrupted)
            fputs (_("finmatch accept: interrupted\n"), stderr);
        else {
            fprintf (stderr, _("finmatch: broker did not answer after %d tries of "
                     "%d ms (is finmatch-broker running at %s?)\n"),
                     cli->retries, cli->timeout_ms, cli->broker);
            if (cli->json) {
                char text [FM_TEXT_SIZE];
                snprintf (text, sizeof text, _("broker did not answer within %d ms"),
                          cli->timeout_ms);
                json_t *json = fm_json_error (request_id, FM_STATUS_TIMEOUT,
                                              text, true);
                fm_json_print (&json, stdout);
            }
        }
    }
    fm_msg_destroy (&msg);
    fm_client_destroy (&client);
    return rc;
}
