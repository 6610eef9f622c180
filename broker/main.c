/*  =========================================================================
    finmatch-broker - the finmatch broker daemon

    A thin shell around the fm_broker actor, shaped like malamute.c: read
    the settings (built-in defaults < -c FILE < flags, one table for the
    loader and --help), start the actor, hand it the settings, bind, log
    where we listen, and wait for SIGINT/SIGTERM.  Runs in the foreground
    and logs to stderr (systemd Type=simple).  Exit codes: 0 after a clean
    stop or --help/--version, 1 when an endpoint cannot be bound, 2 on bad
    configuration.
    =========================================================================
*/

#include "fm_broker.h"
#include "fm_config.h"
#include "fm_i18n.h"
#include "fm_curve.h"
#include "fm_version.h"

#define NAME "finmatch-broker"
//  How often the main thread looks at zsys_interrupted while it waits
#define SIGNAL_CHECK_MS 250

//  The settings, once: fm_config loads them and prints --help from here.
//  Integer settings are passed to the actor as "SET <name after broker/>".
static const fm_setting_t s_settings [] = {
    { "broker/endpoint", "endpoint", 'e', FM_SETTING_STRING,
      "tcp://127.0.0.1:7555", 0, 0,
      N_("ROUTER endpoint to bind for clients and workers (7/MDP)") },
    { "broker/events", "events", 0, FM_SETTING_STRING,
      "tcp://127.0.0.1:7556", 0, 0,
      N_("XPUB endpoint to bind for the event stream") },
    { "broker/deadline_ms", "deadline-ms", 0, FM_SETTING_INT,
      "2000", 10, 600000,
      N_("msecs banks have to answer a request (and to confirm a grant)") },
    { "broker/gov_deadline_ms", "gov-deadline-ms", 0, FM_SETTING_INT,
      "1000", 10, 600000,
      N_("msecs gov.credit has to return a profile before ERROR 504") },
    { "broker/heartbeat_ms", "heartbeat-ms", 0, FM_SETTING_INT,
      "500", 10, 600000,
      N_("msecs between heartbeats to workers") },
    { "broker/liveness", "liveness", 0, FM_SETTING_INT,
      "3", 1, 100,
      N_("missed heartbeat intervals before a worker expires") },
    { "broker/max_inflight", "max-inflight", 0, FM_SETTING_INT,
      "10000", 1, 10000000,
      N_("requests matched at once; more are refused with 503") },
    { "broker/max_retained", "max-retained", 0, FM_SETTING_INT,
      "100000", 0, 100000000,
      N_("completed requests kept for replays and accepts (oldest evicted)") },
    { "broker/events_hwm", "events-hwm", 0, FM_SETTING_INT,
      "100000", 0, 100000000,
      N_("events queued per subscriber before it loses some (0 = no limit)") },
    { "broker/replay_max", "replay-max", 0, FM_SETTING_INT,
      "100000", 0, 100000000,
      N_("recent events kept for fm.replay (recorders fill gaps from them)") },
    { "broker/replay_bytes", "replay-bytes", 0, FM_SETTING_INT,
      "67108864", 0, 1099511627776,
      N_("bytes of recent events kept for fm.replay at most") },
    { "broker/event_batch_ms", "event-batch-ms", 0, FM_SETTING_INT,
      "5", 0, 1000,
      N_("msecs an event batch (the recorder's stream) waits for more events, 0 = none") },
    { "broker/cert", "cert", 0, FM_SETTING_STRING,
      "", 0, 0,
      N_("the broker's secret certificate (finmatch keygen --role broker)") },
    { "broker/certs", "certs", 0, FM_SETTING_STRING,
      "", 0, 0,
      N_("directory of the public certificates allowed to connect") },
    { "broker/insecure", "insecure", 0, FM_SETTING_BOOL,
      "0", 0, 0,
      N_("plain TCP, no authentication: local development only") },
    { "broker/first_round", "first-round", 0, FM_SETTING_INT,
      "0", 0, 128,
      N_("banks asked at once, 0 = all; the rest are asked as banks decline or miss") },
    { "broker/fast_track_pct", "fast-track-pct", 0, FM_SETTING_INT,
      "50", 1, 100,
      N_("percent of a bank's deadline for requests with the fast_track lever") },
    { "broker/journal", "journal", 0, FM_SETTING_STRING,
      "finmatch-broker.journal", 0, 0,
      N_("journal directory: requests, results, grants and events survive a restart; "
         "\"\" = off (a restart then loses them)") },
    { "broker/journal_sync", "journal-sync", 0, FM_SETTING_STRING,
      "normal", 0, 0,
      N_("normal: survives kill -9 of the broker; full: also power loss (a disk flush per record)") },
    { "broker/verbose", NULL, 0, FM_SETTING_BOOL,
      "0", 0, 0,
      N_("log every message (also -v)") },
};
#define SETTINGS (sizeof (s_settings) / sizeof (s_settings [0]))

//  Send a synchronous command and read its "0" / "-1 reason" reply.
//  Returns 0, or -1 with the reason printed as NAME: what: reason.
static int
s_command (zactor_t *broker, const char *what, const char *command,
           const char *arg1, const char *arg2)
{
    zstr_sendx (broker, command, arg1, arg2, NULL);
    char *reply = zstr_recv (broker);
    int rc = reply && streq (reply, "0")? 0: -1;
    if (rc)
        fprintf (stderr, "%s: %s: %s\n", NAME, what,
                 reply && strlen (reply) > 3? reply + 3: "no reply from broker");
    zstr_free (&reply);
    return rc;
}

int
main (int argc, char **argv)
{
    fm_config_t *config;
    int rc = fm_config_daemon (NAME, "[OPTIONS]", s_settings, SETTINGS,
                               argc, argv, &config);
    if (rc != 0)
        return rc == 1? 0: 2;
    //  Secure unless told otherwise: the certificate is checked (mode 0600)
    //  before the actor starts, so a bad key is a configuration error
    bool insecure = fm_config_bool (config, "broker/insecure");
    const char *cert = fm_config_str (config, "broker/cert");
    const char *certs = fm_config_str (config, "broker/certs");
    fm_curve_t *curve = NULL;
    rc = fm_curve_setup (NAME, insecure, cert, NULL, &curve);
    fm_curve_destroy (&curve);
    if (rc == 0 && !insecure && !*certs) {
        fprintf (stderr, _("%s: no certificate directory: give --certs DIR "
                 "(public certificates of every allowed peer)\n"), NAME);
        rc = -1;
    }
    const char *journal = fm_config_str (config, "broker/journal");
    const char *journal_sync = fm_config_str (config, "broker/journal_sync");
    if (rc == 0 && strneq (journal_sync, "normal") && strneq (journal_sync, "full")) {
        fprintf (stderr, _("%s: journal_sync must be normal or full, not '%s'\n"),
                 NAME, journal_sync);
        rc = -1;
    }
    if (rc) {
        fm_config_destroy (&config);
        return 2;
    }
    zactor_t *broker = zactor_new (fm_broker, NAME);
    assert (broker);
    if (fm_config_bool (config, "broker/verbose"))
        zstr_send (broker, "VERBOSE");

    //  Settings before binding: events_hwm applies to subscribers that
    //  connect after it is set
    const char *prefix = "broker/";
    for (size_t index = 0; rc == 0 && index < SETTINGS; index++) {
        if (s_settings [index].type != FM_SETTING_INT)
            continue;
        const char *name = s_settings [index].path + strlen (prefix);
        char value [32];
        snprintf (value, sizeof (value), "%" PRId64,
                  fm_config_int (config, s_settings [index].path));
        rc = s_command (broker, s_settings [index].path, "SET", name, value);
    }
    char what [300];
    if (rc == 0 && !insecure)
        rc = s_command (broker, "security", "AUTH", cert, certs);
    //  The journal loads before we bind: no client is served from a state
    //  that is not yet rebuilt
    if (rc == 0 && *journal) {
        snprintf (what, sizeof (what), _("journal %s"), journal);
        zstr_sendx (broker, "JOURNAL", journal, journal_sync, NULL);
        char *reply = zstr_recv (broker);
        rc = reply && streq (reply, "0")? 0: -1;
        if (rc)
            fprintf (stderr, "%s: %s: %s\n", NAME, what,
                     reply && strlen (reply) > 3? reply + 3: "no reply from broker");
        zstr_free (&reply);
    }
    else
    if (rc == 0)
        zsys_warning ("%s: NO JOURNAL (journal = \"\"): a restart of the broker "
                      "loses every request in flight, every result kept for retries "
                      "and every pending grant", NAME);
    //  Per-bank deadlines: section broker/deadlines, one "CODE = ms" each
    zconfig_t *deadlines = fm_config_zpl (config)?
        zconfig_locate (fm_config_zpl (config), "broker/deadlines"): NULL;
    for (zconfig_t *item = deadlines? zconfig_child (deadlines): NULL;
         rc == 0 && item; item = zconfig_next (item)) {
        char name [64];
        snprintf (name, sizeof (name), "deadline_ms.%s", zconfig_name (item));
        rc = s_command (broker, "broker/deadlines", "SET", name,
                        zconfig_value (item)? zconfig_value (item): "");
    }
    const char *endpoint = fm_config_str (config, "broker/endpoint");
    const char *events = fm_config_str (config, "broker/events");
    if (rc == 0) {
        snprintf (what, sizeof (what), _("cannot bind %s"), endpoint);
        rc = s_command (broker, what, "BIND", endpoint, NULL);
    }
    if (rc == 0) {
        snprintf (what, sizeof (what), _("cannot bind %s"), events);
        rc = s_command (broker, what, "EVENTS", events, NULL);
    }
    if (rc == 0) {
        zsys_info ("%s %s: clients and workers on %s, events on %s",
                   NAME, FM_VERSION, endpoint, events);
        //  The actor sends nothing unasked: this returns on SIGINT/SIGTERM.
        //  The signal may be delivered to any of our threads that does not
        //  block it (the actor's, say: its nonstop zloop carries on), and
        //  then only zsys_interrupted tells: so wait in slices and look
        //  (under valgrind a SIGTERM left this poll asleep for good)
        zpoller_t *poller = zpoller_new (broker, NULL);
        assert (poller);
        while (!zsys_interrupted) {
            void *which = zpoller_wait (poller, SIGNAL_CHECK_MS);
            if (zpoller_terminated (poller))
                break;
            if (which == broker) {
                char *unexpected = zstr_recv (broker);
                zstr_free (&unexpected);
            }
        }
        zpoller_destroy (&poller);
        zsys_info ("%s: stopping", NAME);
    }
    zactor_destroy (&broker);
    fm_config_destroy (&config);
    return rc == 0? 0: 1;
}
