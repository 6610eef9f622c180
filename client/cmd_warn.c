/*  =========================================================================
    cmd_warn - `finmatch warn`: raise or lift a risk warning (风险预警)

    The district government (a gov or grid officer key) raises a risk
    warning on an enterprise or on a grid, or lifts it.  Sends WARN on
    fm.warn; the broker keeps the warning, publishes risk.warning, and
    puts it in the profile of every bank query it applies to until it is
    lifted or expires (proto/SPEC.md "Risk warnings").  Raising again on
    the same target replaces the warning.  The answer says who the broker
    recorded as raising (or lifting) it: in secure mode the key's officer
    id or gov name, whatever --by said.
    =========================================================================
*/

#include <czmq.h>
#include <getopt.h>
#include <jansson.h>
#include "fm_cli.h"
#include "fm_client.h"
#include "fm_ids.h"
#include "fm_mdp.h"
#include "fm_json.h"
#include "fm_print.h"
#include "fm_text.h"
#include "fm_i18n.h"

#define SERVICE_WARN    "fm.warn"       //  the broker's warning service

static void
s_usage (FILE *file)
{
    fputs (_("Usage: finmatch warn (--enterprise CODE | --grid GRID) --reason TEXT\n"
"                     [--level 1|2|3] [--hours H] [--by ID] [--json]\n"
"       finmatch warn --lift (--enterprise CODE | --grid GRID) [--reason TEXT]\n"
"\n"
"Raises a risk warning on an enterprise or a grid, or lifts it.  Until it\n"
"is lifted or expires, every bank asked about the enterprise (or about an\n"
"enterprise of the grid) sees the warning; products may decline or flag.\n"
"\n"
"  --enterprise CODE   the enterprise's unified social credit code\n"
"  --grid GRID         a grid id, e.g. GYQ-01-01\n"
"  --level N           1 watch, 2 warning, 3 severe (default 1)\n"
"  --reason TEXT       why (required to raise)\n"
"  --hours H           expires after H hours (default: until lifted)\n"
"  --by ID             who raises or lifts it (officer or department id);\n"
"                      a secured broker ignores it and records who the key\n"
"                      is; the answer prints whom the broker recorded\n"
"  --lift              lift the warning on the target instead\n"
"  --json              one JSON object instead of text\n"
"  -h, --help          this help\n"
"\n"
"Keys: a gov or officer key (--cert); others are refused (403).\n"
"Exit: 0 done, 1 refused, 2 bad input, 3 broker did not answer.\n"),
file);
}

//  Parse an integer lo..hi from text.  Returns 0 or -1.
static int
s_parse_int (const char *text, long lo, long hi, long *value)
{
    char *end;
    long parsed = strtol (text, &end, 10);
    if (!*text || *end || parsed < lo || parsed > hi)
        return -1;
    *value = parsed;
    return 0;
}

//  Print the broker's WARN answer.
static void
s_print_answer (fm_cli_t *cli, const fm_msg_t *reply)
{
    const fm_warning_t *warning = &reply->warning;
    if (cli->json) {
        json_t *json = json_pack ("{s:s, s:i, s:s, s:s, s:s, s:i, s:b, s:s}",
            "target", warning->target == FM_WARN_GRID? "grid": "enterprise",
            "level", (int) warning->level, "target_id", warning->target_id,
            "reason", warning->reason, "raised_by", warning->raised_by,
            "status", (int) reply->status, "lift", warning->lift, "text", reply->text);
        if (json && warning->expires_us)
            json_object_set_new (json, "expires_us", json_integer (warning->expires_us));
        fm_json_print (&json, stdout);
        return;
    }
    const char *kind = warning->target == FM_WARN_GRID? _("grid"): _("enterprise");
    if (warning->lift)
        printf (_("Risk warning lifted: %s %s\n"), kind, warning->target_id);
    else
        printf (_("Risk warning raised: %s %s, level %u: %s\n"), kind,
                warning->target_id, (unsigned) warning->level, warning->reason);
    //  Who the broker recorded: in secure mode the key's id, not --by
    if (*warning->raised_by)
        printf (warning->lift? _("  lifted by: %s\n"): _("  raised by: %s\n"),
                warning->raised_by);
    printf ("  (%u %s)\n", (unsigned) reply->status, reply->text);
}

int
fm_cmd_warn (fm_cli_t *cli, int argc, char **argv)
{
    assert (cli);
    static const struct option options [] = {
        { "enterprise", required_argument, NULL, 'E' },
        { "grid",       required_argument, NULL, 'G' },
        { "level",      required_argument, NULL, 'l' },
        { "reason",     required_argument, NULL, 'r' },
        { "hours",      required_argument, NULL, 'H' },
        { "by",         required_argument, NULL, 'b' },
        { "lift",       no_argument,       NULL, 'L' },
        { "json",       no_argument,       NULL, 'j' },
        { "help",       no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *enterprise = NULL, *grid = NULL, *reason = "", *by = "";
    long level = 1, hours = 0;
    bool lift = false;
    optind = 0;                         //  GNU: full re-initialisation
    opterr = 0;
    int opt;
    while ((opt = getopt_long (argc, argv, ":h", options, NULL)) != -1) {
        switch (opt) {
            case 'E': enterprise = optarg; break;
            case 'G': grid = optarg; break;
            case 'r': reason = optarg; break;
            case 'b': by = optarg; break;
            case 'L': lift = true; break;
            case 'j': cli->json = true; break;
            case 'l':
                if (s_parse_int (optarg, 1, FM_MAX_WARN_LEVEL, &level)) {
                    fprintf (stderr, _("finmatch warn: --level '%.20s' is not 1..%d\n"),
                             optarg, FM_MAX_WARN_LEVEL);
                    return 2;
                }
                break;
            case 'H':
                if (s_parse_int (optarg, 1, 24 * 366 * 10, &hours)) {
                    fprintf (stderr, _("finmatch warn: --hours '%.20s' is not a "
                             "number of hours\n"), optarg);
                    return 2;
                }
                break;
            case 'h':
                s_usage (stdout);
                return 0;
            default:
                return fm_cli_option_error ("warn", opt, argv);
        }
    }
    if (optind < argc) {
        fprintf (stderr, _("finmatch warn: unexpected argument '%.40s'\n"), argv [optind]);
        s_usage (stderr);
        return 2;
    }
    if (!enterprise == !grid) {
        fputs (_("finmatch warn: give one of --enterprise CODE or --grid GRID\n"), stderr);
        s_usage (stderr);
        return 2;
    }
    if (enterprise && !fm_credit_code_valid (enterprise)) {
        char why [FM_TEXT_SIZE];
        fprintf (stderr, _("finmatch warn: enterprise %s\n"),
                 fm_print_credit_code_problem (enterprise, why, sizeof why));
        return 2;
    }
    const char *target = enterprise? enterprise: grid;
    if (strlen (target) >= FM_CODE_SIZE || strlen (reason) >= FM_TEXT_SIZE
    ||  strlen (by) >= FM_CODE_SIZE
    ||  !fm_utf8_valid (target, strlen (target))
    ||  !fm_utf8_valid (reason, strlen (reason))
    ||  !fm_utf8_valid (by, strlen (by))) {
        fputs (_("finmatch warn: target, --reason or --by is too long or not "
                 "valid UTF-8\n"), stderr);
        return 2;
    }
    if (!lift && !*reason) {
        fputs (_("finmatch warn: --reason TEXT is required to raise a warning\n"), stderr);
        return 2;
    }

    if (fm_cli_keys (cli))
        return 2;
    fm_msg_t *msg = fm_msg_new (FM_MSG_WARN);
    fm_client_t *client = fm_client_new_secure (cli->broker, cli->curve);
    if (!msg || !client) {
        fprintf (stderr, _("finmatch warn: %s\n"), msg? "bad broker endpoint"
                                                    : "out of memory");
        fm_msg_destroy (&msg);
        fm_client_destroy (&client);
        return 2;
    }
    fm_warning_t *warning = &msg->warning;
    warning->target = enterprise? FM_WARN_ENTERPRISE: FM_WARN_GRID;
    snprintf (warning->target_id, sizeof warning->target_id, "%s", target);
    snprintf (warning->reason, sizeof warning->reason, "%s", reason);
    snprintf (warning->raised_by, sizeof warning->raised_by, "%s", by);
    warning->lift = lift;
    if (!lift) {
        warning->level = (uint8_t) level;
        if (hours)
            warning->expires_us = zclock_time () * 1000 + (int64_t) hours * 3600 * 1000000;
    }

    int rc = 3;
    fm_error_t err = { 0 };
    if (fm_client_send (client, SERVICE_WARN, msg, &err)) {
        fprintf (stderr, _("finmatch warn: cannot send: %s\n"),
                 *err.text? err.text: "send failed");
        rc = err.status == FM_STATUS_BAD_REQUEST? 2: 3;
    }
    else {
        fm_msg_t *reply = fm_client_recv (client, cli->timeout_ms, &err);
        if (reply) {
            if (reply->type == FM_MSG_WARN) {
                s_print_answer (cli, reply);
                rc = 0;
            }
            else {
                fm_cli_print_reply (cli, reply);
                rc = 1;
            }
            fm_msg_destroy (&reply);
        }
        else
        if (zsys_interrupted)
            fputs (_("finmatch warn: interrupted\n"), stderr);
        else
        if (err.status && err.status != FM_STATUS_TIMEOUT)
            fprintf (stderr, _("finmatch warn: bad reply: %s\n"), err.text);
        else
            fprintf (stderr, _("finmatch: broker did not answer within %d ms "
                     "(is finmatch-broker running at %s?)\n"),
                     cli->timeout_ms, cli->broker);
    }
    fm_msg_destroy (&msg);
    fm_client_destroy (&client);
    return rc;
}
