/*  =========================================================================
    fm_wait_ready - wait until the broker has workers for given services

    A deployment helper for scripts (deploy/demo.sh, smoke tests): asks the
    broker with 8/MMI ("mmi.service", body = service name) whether each
    named service has at least one live worker, and repeats every poll
    interval until all do or the deadline passes.  It sends no finmatch
    request, so it leaves nothing in the event log except what the broker
    itself publishes.

    Exit status: 0 all services ready; 1 deadline passed (the services
    still missing are printed); 2 usage error.  A broker that does not
    answer yet (still starting) counts as "not ready", not as an error.

    Keys as every finmatch binary (proto/SPEC.md "Security"): --cert FILE
    (any certificate the broker's directory holds: MMI is open to every
    authenticated key) and --broker-key FILE, or --insecure.  A key the
    broker refuses looks like a broker that never answers: exit 1.

    A probe that timed out may be answered late; since an MMI reply does
    not name the service it is about, a late "200" could be taken for the
    next probe's answer.  So after a timeout the client socket is thrown
    away and a fresh one is made.
    =========================================================================
*/

#include <czmq.h>
#include <getopt.h>
#include "fm_client.h"
#include "fm_curve.h"

#define POLL_INTERVAL_MS    100         //  between rounds of probes
#define PROBE_TIMEOUT_MS    500         //  one MMI round trip on loopback

static void
s_usage (FILE *file)
{
    fprintf (file,
        "Usage: fm-wait-ready [OPTIONS] SERVICE...\n"
        "Wait until the broker reports live workers for every SERVICE (8/MMI).\n"
        "  -b, --broker EP      broker endpoint (default tcp://127.0.0.1:7555)\n"
        "  -t, --timeout MS     give up after MS milliseconds (default 30000)\n"
        "  -q, --quiet          print nothing on success\n"
        "      --cert FILE      our secret certificate (finmatch keygen)\n"
        "      --broker-key FILE  the broker's public certificate\n"
        "      --insecure       plain TCP, no authentication (development)\n"
        "  -h, --help           this text\n"
        "Exit: 0 ready, 1 timed out (missing services printed), 2 usage.\n");
}

int
main (int argc, char **argv)
{
    const char *broker = "tcp://127.0.0.1:7555";
    long timeout_ms = 30000;
    bool quiet = false;
    bool insecure = false;
    const char *cert = "";
    const char *broker_key = "";
    static const struct option options [] = {
        { "broker", required_argument, NULL, 'b' },
        { "timeout", required_argument, NULL, 't' },
        { "quiet", no_argument, NULL, 'q' },
        { "cert", required_argument, NULL, 'C' },
        { "broker-key", required_argument, NULL, 'K' },
        { "insecure", no_argument, NULL, 'I' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    int opt;
    while ((opt = getopt_long (argc, argv, "b:t:qh", options, NULL)) != -1) {
        char *end;
        switch (opt) {
            case 'b':
                broker = optarg;
                break;
            case 't':
                errno = 0;
                timeout_ms = strtol (optarg, &end, 10);
                if (errno || *end || end == optarg || timeout_ms < 0 || timeout_ms > 3600000) {
                    fprintf (stderr, "fm-wait-ready: --timeout: '%s' is not 0..3600000\n", optarg);
                    return 2;
                }
                break;
            case 'q':
                quiet = true;
                break;
            case 'C':
                cert = optarg;
                break;
            case 'K':
                broker_key = optarg;
                break;
            case 'I':
                insecure = true;
                break;
            case 'h':
                s_usage (stdout);
                return 0;
            default:
                s_usage (stderr);
                return 2;
        }
    }
    int count = argc - optind;
    if (count < 1) {
        s_usage (stderr);
        return 2;
    }
    char **services = argv + optind;
    zsys_set_logident ("fm-wait-ready");
    fm_curve_t *curve = NULL;
    if (fm_curve_setup ("fm-wait-ready", insecure, cert, broker_key, &curve))
        return 2;
    bool *ready = calloc ((size_t) count, sizeof (bool));
    assert (ready);

    int64_t deadline = zclock_mono () + timeout_ms;
    fm_client_t *client = fm_client_new_secure (broker, curve);
    if (!client) {
        fprintf (stderr, "fm-wait-ready: bad broker endpoint '%s'\n", broker);
        fm_curve_destroy (&curve);
        free (ready);
        return 2;
    }
    int missing = count;
    while (missing > 0 && !zsys_interrupted && zclock_mono () < deadline) {
        for (int index = 0; index < count; index++) {
            if (ready [index])
                continue;
            //  Never wait for a probe past the deadline
            int64_t left = deadline - zclock_mono ();
            if (left <= 0)
                break;
            int status = fm_client_mmi (client, services [index],
                                        left < PROBE_TIMEOUT_MS? (int) left: PROBE_TIMEOUT_MS);
            if (status == 200) {
                ready [index] = true;
                missing--;
            }
            else
            if (status == 501) {
                fprintf (stderr, "fm-wait-ready: broker does not support MMI for %s\n",
                         services [index]);
                deadline = 0;           //  will never become ready
                break;
            }
            else
            if (status < 0) {
                //  Unanswered: drop the socket so a late reply cannot be
                //  mistaken for the answer to the next probe
                fm_client_destroy (&client);
                client = fm_client_new_secure (broker, curve);
                assert (client);        //  the endpoint parsed a moment ago
                break;
            }
        }
        if (missing > 0)
            zclock_sleep (POLL_INTERVAL_MS);
    }
    fm_client_destroy (&client);
    fm_curve_destroy (&curve);
    if (missing > 0) {
        fprintf (stderr, "fm-wait-ready: no worker after %ld ms for:", timeout_ms);
        for (int index = 0; index < count; index++)
            if (!ready [index])
                fprintf (stderr, " %s", services [index]);
        fprintf (stderr, "\n");
    }
    else
    if (!quiet)
        printf ("ready: %d service%s\n", count, count == 1? "": "s");
    free (ready);
    return missing > 0? 1: 0;
}
