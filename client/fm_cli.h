/*  =========================================================================
    fm_cli - the `finmatch` command line: global options and subcommands

    main.c parses the global options (fm_config table: broker endpoint,
    events endpoint, timeout, --json, --verbose, -c FILE) into fm_cli_t and
    hands the rest of argv, starting at the command name, to one of the
    fm_cmd_* functions below.  Each returns the process exit code:
        0   done (for request: a result was received)
        1   the system answered with a refusal (ERROR reply, no offer...)
        2   usage or input error (message already printed)
        3   broker unreachable or no answer within the timeout
    =========================================================================
*/

#ifndef FM_CLI_H_INCLUDED
#define FM_CLI_H_INCLUDED

#include <stdbool.h>
#include "fm_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *broker;                 //  client endpoint of the broker
    const char *events;                 //  event stream endpoint
    int timeout_ms;                     //  per reply
    int retries;                        //  tries per request (Lazy Pirate)
    bool json;                          //  machine output (fen, bp)
    bool verbose;
    bool insecure;                      //  --insecure: plain TCP
    const char *cert;                   //  --cert FILE, or ""
    const char *broker_key;             //  --broker-key FILE, or ""
    const char *cert_dir;               //  --cert-dir DIR, or "": one
                                        //  certificate per enterprise
    struct _fm_curve_t *curve;          //  our CURVE keys (fm_curve.h):
                                        //  NULL until fm_cli_keys, and
                                        //  with --insecure; owned by main
    bool keys_loaded;                   //  fm_cli_keys succeeded
} fm_cli_t;

//  Load our own keys (--cert, --broker-key) into cli->curve, once: call
//  right before connecting, so usage errors and local-only commands never
//  need keys.  Returns 0 (cli->curve is NULL with --insecure), or -1 after
//  printing "finmatch: reason" to stderr (exit 2).
int fm_cli_keys (fm_cli_t *cli);

//  The keys to act for enterprise: with --cert-dir DIR (and not
//  --insecure), DIR/<enterprise>.cert and its _secret; else our own keys
//  (fm_cli_keys).  Returns 0 with *curve_p a new instance the caller owns
//  (NULL with --insecure), or -1 after printing why to stderr.
int fm_cli_enterprise_keys (fm_cli_t *cli, const char *enterprise,
                            struct _fm_curve_t **curve_p);

//  A command's getopt_long error (optstring starts with ':'): opt is what
//  getopt_long returned (':' for a missing value, anything else for an
//  unknown option), argv the command's arguments.  Prints "finmatch
//  COMMAND: ..." naming the option and returns the usage exit code, 2.
int fm_cli_option_error (const char *command, int opt, char **argv);

//  Print a reply the command does not treat itself (an ERROR, a refusal)
//  to stdout: one JSON line with --json, else the text form.  reply is
//  borrowed.  Cannot fail.
void fm_cli_print_reply (fm_cli_t *cli, const fm_msg_t *reply);

int fm_cmd_request (fm_cli_t *cli, int argc, char **argv);
int fm_cmd_accept  (fm_cli_t *cli, int argc, char **argv);
int fm_cmd_watch   (fm_cli_t *cli, int argc, char **argv);
int fm_cmd_report  (fm_cli_t *cli, int argc, char **argv);
int fm_cmd_status  (fm_cli_t *cli, int argc, char **argv);
int fm_cmd_keygen  (fm_cli_t *cli, int argc, char **argv);
int fm_cmd_campaign (fm_cli_t *cli, int argc, char **argv);
int fm_cmd_warn    (fm_cli_t *cli, int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif
