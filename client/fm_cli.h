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

#ifdef __cplusplus
extern "C" {
#endif

typedef struct {
    const char *broker;                 //  client endpoint of the broker
    const char *events;                 //  event stream endpoint
    int timeout_ms;                     //  per reply
    bool json;                          //  machine output (fen, bp)
    bool verbose;
    struct _fm_curve_t *curve;          //  our CURVE keys (fm_curve.h),
                                        //  NULL with --insecure; borrowed
} fm_cli_t;

int fm_cmd_request (fm_cli_t *cli, int argc, char **argv);
int fm_cmd_accept  (fm_cli_t *cli, int argc, char **argv);
int fm_cmd_watch   (fm_cli_t *cli, int argc, char **argv);
int fm_cmd_report  (fm_cli_t *cli, int argc, char **argv);
int fm_cmd_status  (fm_cli_t *cli, int argc, char **argv);
int fm_cmd_keygen  (fm_cli_t *cli, int argc, char **argv);

#ifdef __cplusplus
}
#endif

#endif
