/*  =========================================================================
    finmatch - the command line of the finmatch platform

    Usage: finmatch [GLOBAL OPTIONS] COMMAND [ARGS]

    Parses the global options (fm_config: built-in default < -c FILE <
    flags) into an fm_cli_t, then hands argv from the command name on to
    the command.  fm_config stops at the first non-option argument, so a
    command's own flags never reach the global parser.  Exit codes are
    those of fm_cli.h; 2 for a bad global option or an unknown command.
    =========================================================================
*/

#include <czmq.h>
#include "fm_config.h"
#include "fm_i18n.h"
#include "fm_version.h"
#include "fm_cli.h"
#include "fm_curve.h"

static const fm_setting_t s_settings [] = {
    { "client/broker", "broker", 0, FM_SETTING_STRING, "tcp://127.0.0.1:7555",
      0, 0, N_("broker endpoint for requests (7/MDP client)") },
    { "client/events", "events", 0, FM_SETTING_STRING, "tcp://127.0.0.1:7556",
      0, 0, N_("broker event stream endpoint (watch, request --live)") },
    { "client/timeout_ms", "timeout", 0, FM_SETTING_INT, "5000",
      1, 3600000, N_("msecs to wait for each reply") },
    { "client/retries", "retries", 0, FM_SETTING_INT, "3",
      1, 100, N_("tries per request: after a timeout, a new connection and the same request") },
    { "client/json", "json", 0, FM_SETTING_BOOL, "0",
      0, 0, N_("print JSON (money in fen, rates in bp) instead of tables") },
    { "client/cert", "cert", 0, FM_SETTING_STRING, "",
      0, 0, N_("our secret certificate (finmatch keygen)") },
    { "client/broker_key", "broker-key", 0, FM_SETTING_STRING, "",
      0, 0, N_("the broker's public certificate") },
    { "client/cert_dir", "cert-dir", 0, FM_SETTING_STRING, "",
      0, 0, N_("certificates of enterprises, DIR/<credit code>.cert: request "
               "and accept connect as the enterprise they act for") },
    { "client/insecure", "insecure", 0, FM_SETTING_BOOL, "0",
      0, 0, N_("plain TCP, no authentication: local development only") },
    { "client/verbose", NULL, 0, FM_SETTING_BOOL, "0",
      0, 0, N_("log protocol details to stderr") },
};
#define SETTING_COUNT (sizeof (s_settings) / sizeof (s_settings [0]))

typedef struct {
    const char *name;
    int (*run) (fm_cli_t *cli, int argc, char **argv);
    const char *help;
} s_command_t;

static const s_command_t s_commands [] = {
    { "request", fm_cmd_request,
      N_("ask every bank for offers (or --file FILE: a CSV of requests)") },
    { "accept",  fm_cmd_accept,
      N_("accept one offer of a request: REQUEST_ID OFFER_ID --enterprise CODE") },
    { "watch",   fm_cmd_watch,
      N_("print the broker's event stream live, one line per event") },
    { "keygen",  fm_cmd_keygen,
      N_("create a CURVE certificate for a role: keygen --role ROLE --out FILE") },
    { "report",  fm_cmd_report,
      N_("summarise the recorder's event database (--db FILE)") },
    { "status",  fm_cmd_status,
      N_("where a request stands: REQUEST_ID (live), or --db FILE (log)") },
    { "campaign", fm_cmd_campaign,
      N_("submit a batch of requests at once and summarise it: campaign FILE") },
    { "warn",    fm_cmd_warn,
      N_("raise or lift a risk warning on an enterprise or a grid (gov, officers)") },
};
#define COMMAND_COUNT (sizeof (s_commands) / sizeof (s_commands [0]))

static void
s_print_commands (FILE *file)
{
    fprintf (file, "\n%s\n", _("Commands:"));
    for (size_t index = 0; index < COMMAND_COUNT; index++)
        fprintf (file, "  %-10s %s\n", s_commands [index].name,
                 _(s_commands [index].help));
    fprintf (file, "\n%s\n", _("Run 'finmatch COMMAND --help' for a command's options."));
}

//  True if the global options asked for --help (as opposed to --version):
//  fm_config prints its own usage for both and returns 1; we add the
//  command list after the usage.  Only arguments before the command count.
static bool
s_asked_help (int argc, char **argv, size_t positional)
{
    int last = argc - (int) positional;
    for (int argn = 1; argn < last; argn++) {
        if (streq (argv [argn], "-h") || streq (argv [argn], "--help"))
            return true;
        if (streq (argv [argn], "-V") || streq (argv [argn], "--version"))
            return false;
    }
    return false;
}

int
main (int argc, char **argv)
{
    //  No setlocale: fm_text measures CJK width with its own table and all
    //  numbers are formatted by us; the language of the texts is fm_i18n's
    //  (LANG..., or --lang, applied by fm_config_parse)
    fm_i18n_init ();
    zsys_set_logident ("finmatch");
    //  Logs go to stderr, never into the results on stdout (--json)
    zsys_set_logstream (stderr);

    fm_config_t *config = fm_config_new ("finmatch",
        "[GLOBAL OPTIONS] COMMAND [ARGS]", s_settings, SETTING_COUNT);
    if (!config) {
        fprintf (stderr, "finmatch: out of memory\n");
        return 2;
    }
    int rc = fm_config_parse (config, argc, argv);
    size_t positional = fm_config_argc (config);
    if (rc == 1) {
        if (s_asked_help (argc, argv, positional))
            s_print_commands (stdout);
        fm_config_destroy (&config);
        return 0;
    }
    if (rc != 0) {
        fm_config_destroy (&config);
        return 2;
    }
    if (positional == 0) {
        fprintf (stderr, "%s\n", _("finmatch: no command given"));
        fm_config_usage (config, stderr);
        s_print_commands (stderr);
        fm_config_destroy (&config);
        return 2;
    }
    //  The command and its arguments are the tail of argv: fm_config
    //  stops at the first non-option, so they were not permuted
    int cmd_argc = (int) positional;
    char **cmd_argv = argv + (argc - cmd_argc);
    assert (streq (cmd_argv [0], fm_config_arg (config, 0)));

    fm_cli_t cli = {
        .broker = fm_config_str (config, "client/broker"),
        .events = fm_config_str (config, "client/events"),
        .timeout_ms = (int) fm_config_int (config, "client/timeout_ms"),
        .retries = (int) fm_config_int (config, "client/retries"),
        .json = fm_config_bool (config, "client/json"),
        .verbose = fm_config_bool (config, "client/verbose"),
        .insecure = fm_config_bool (config, "client/insecure"),
        .cert = fm_config_str (config, "client/cert"),
        .broker_key = fm_config_str (config, "client/broker_key"),
        .cert_dir = fm_config_str (config, "client/cert_dir"),
    };

    const s_command_t *command = NULL;
    for (size_t index = 0; index < COMMAND_COUNT; index++)
        if (streq (cmd_argv [0], s_commands [index].name))
            command = &s_commands [index];
    if (!command) {
        fprintf (stderr, _("finmatch: unknown command '%s'\n"), cmd_argv [0]);
        s_print_commands (stderr);
        fm_config_destroy (&config);
        return 2;
    }
    //  Keys are loaded by the commands right before they connect
    //  (fm_cli_keys): a usage error is reported as such, and commands that
    //  read local files only (report, status --db, keygen) need none
    rc = command->run (&cli, cmd_argc, cmd_argv);
    fm_curve_destroy (&cli.curve);
    fm_config_destroy (&config);
    return rc;
}
