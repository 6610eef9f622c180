/*  =========================================================================
    cmd_watch - `finmatch watch`: the broker's event stream, live

    Subscribes to the event endpoint (optionally to a topic prefix such as
    "offer.made." or "request.completed.<id>") and prints one line per
    event, or one JSON object per line with --json.  Runs until SIGINT, or
    until --count events were printed (scripts and tests).  Malformed
    events are reported on stderr and skipped: the stream is untrusted
    like any other input.  Events published before the subscription
    reached the broker are not seen; SUB has no history (the recorder's
    database does).
    =========================================================================
*/

#include <czmq.h>
#include <getopt.h>
#include "fm_cli.h"
#include "fm_client.h"
#include "fm_json.h"
#include "fm_print.h"
#include "fm_i18n.h"

//  Longest wait in one poll, so that a SIGINT arriving between the check
//  of zsys_interrupted and the poll still ends the command promptly
#define WAKE_MS     1000

static void
s_usage (FILE *file)
{
    fputs (_("Usage: finmatch watch [PREFIX] [--count N] [--json]\n"
"\n"
"Prints the broker's events as they are published, one line each: local\n"
"time, sequence number, type, request (or service), details.  PREFIX\n"
"selects topics \"<type>.<key>\": e.g. \"offer.made.\", \"loan.granted.\",\n"
"or \"request.completed.<request id>\".  Stops on Ctrl-C.\n"
"\n"
"  --count N           exit after N events\n"
"  --json              one JSON object per line (every set field; fen, bp)\n"
"  -h, --help          this help\n"
"\n"
"Exit: 0 stopped or N events seen, 2 bad input, 3 event stream unusable.\n"), file);
}

int
fm_cmd_watch (fm_cli_t *cli, int argc, char **argv)
{
    assert (cli);
    static const struct option options [] = {
        { "count", required_argument, NULL, 'n' },
        { "json",  no_argument,       NULL, 'j' },
        { "help",  no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    long long count = 0;                //  0: no limit
    optind = 0;                         //  GNU: full re-initialisation
    opterr = 0;
    int opt;
    while ((opt = getopt_long (argc, argv, ":h", options, NULL)) != -1) {
        switch (opt) {
            case 'n': {
                char *end;
                errno = 0;
                count = strtoll (optarg, &end, 10);
                if (errno || *end || end == optarg || count < 1) {
                    fprintf (stderr, _("finmatch watch: --count '%s' is not a "
                             "positive number\n"), optarg);
                    return 2;
                }
                break;
            }
            case 'j': cli->json = true; break;
            case 'h':
                s_usage (stdout);
                return 0;
            default:
                return fm_cli_option_error ("watch", opt, argv);
        }
    }
    if (argc - optind > 1) {
        fputs (_("finmatch watch: one PREFIX at most\n"), stderr);
        return 2;
    }
    const char *prefix = optind < argc? argv [optind]: "";

    if (fm_cli_keys (cli))
        return 2;
    zsock_t *sub = fm_events_subscribe_secure (cli->events, prefix, cli->curve);
    if (!sub) {
        fprintf (stderr, _("finmatch watch: cannot subscribe to %s\n"), cli->events);
        return 2;
    }
    zpoller_t *poller = zpoller_new (sub, NULL);
    if (!poller) {
        zsock_destroy (&sub);
        fputs (_("finmatch watch: out of memory\n"), stderr);
        return 3;
    }
    if (cli->verbose)
        zsys_debug ("watching %s prefix '%s'", cli->events, prefix);

    long long seen = 0;
    while (!zsys_interrupted && (count == 0 || seen < count)) {
        if (!zpoller_wait (poller, WAKE_MS)) {
            if (zpoller_terminated (poller))
                break;
            continue;
        }
        fm_event_t event;
        fm_error_t err = { 0 };
        int rc = fm_events_recv (sub, &event, &err);
        if (rc == 1)
            continue;                   //  a batch: its events come alone too
        if (rc) {
            if (err.status == 0)
                break;                  //  interrupted
            fprintf (stderr, _("finmatch watch: bad event skipped: %u %s\n"),
                     (unsigned) err.status, err.text);
            continue;
        }
        if (cli->json) {
            json_t *json = fm_json_event (&event);
            fm_json_print (&json, stdout);
        }
        else {
            fm_print_event (stdout, &event);
            fflush (stdout);
        }
        seen++;
    }
    zpoller_destroy (&poller);
    zsock_destroy (&sub);
    return 0;
}
