/*  =========================================================================
    cmd_status - `finmatch status`: where a request stands

    Live: sends STATUS_QUERY on fm.status and prints the broker's answer:
    the lifecycle state (proto/SPEC.md 14.3), the banks asked in order,
    their offers, declines (every reason with what would change it) and
    deadline misses, and the accepted offer.  The broker forgets requests
    (failed ones at once, others past max_retained, all on restart), so
    --db FILE reads the recorder's event log instead: every event of the
    request, folded through fm_lifecycle into the same state names.
    =========================================================================
*/

#include <czmq.h>
#include <getopt.h>
#include <sqlite3.h>
#include <jansson.h>
#include "fm_cli.h"
#include "fm_client.h"
#include "fm_ids.h"
#include "fm_mdp.h"
#include "fm_lifecycle.h"
#include "fm_store.h"
#include "fm_i18n.h"

static void
s_usage (FILE *file)
{
    fputs (_("Usage: finmatch status REQUEST_ID [--enterprise CODE] [--db FILE] [--json]\n"
"\n"
"Shows where request REQUEST_ID stands: received, enriched, dispatched,\n"
"offered, declined, accepted, granted, withdrawn, expired or failed; the\n"
"banks asked, their offers, declines with reasons and advice, and the banks\n"
"that missed their deadline.\n"
"\n"
"  --enterprise CODE   ask as this enterprise (the broker checks it)\n"
"  --db FILE           read the recorder's event log instead of the broker\n"
"  --json              JSON instead of text\n"
"  -h, --help          this help\n"
"\n"
"Exit: 0 shown, 1 unknown request, 2 bad input, 3 broker did not answer.\n"),
file);
}

//  Print a live STATUS as text.  Cannot fail.
static void
s_print_status (const fm_msg_t *status)
{
    printf (_("Request %s  state %s\n"), status->request_id, status->state);
    printf (_("Enterprise %s\n"), status->request.enterprise_id);
    if (*status->offer_id)
        printf (_("Accepted offer %s\n"), status->offer_id);
    printf ("%s", _("Banks asked:"));
    for (size_t index = 0; index < status->asked_count; index++)
        printf (" %s", status->asked [index]);
    printf ("\n");
    for (size_t index = 0; index < status->offer_count; index++) {
        const fm_offer_t *offer = &status->offers [index];
        char amount [48];
        printf (_("  offer   %-20s %s  %u months  %d bp\n"), offer->offer_id,
                fm_i18n_money (offer->amount_fen, amount, sizeof amount),
                offer->term_months, offer->effective_rate_bp);
    }
    for (size_t index = 0; index < status->decline_count; index++) {
        const fm_decline_t *decline = &status->declines [index];
        for (size_t reason = 0; reason < decline->reason_count; reason++) {
            const fm_reason_t *item = &decline->reasons [reason];
            printf (_("  decline %-8s %u %s: %s"), decline->bank, item->code,
                    item->product, item->text);
            if (*item->advice)
                printf (" → %s", item->advice);
            printf ("\n");
        }
    }
    for (size_t index = 0; index < status->timed_out_count; index++)
        printf (_("  missed  %s\n"), status->timed_out [index]);
    printf ("%s\n", status->text);
}

static json_t *
s_status_json (const fm_msg_t *status)
{
    json_t *asked = json_array ();
    for (size_t index = 0; index < status->asked_count; index++)
        json_array_append_new (asked, json_string (status->asked [index]));
    json_t *missed = json_array ();
    for (size_t index = 0; index < status->timed_out_count; index++)
        json_array_append_new (missed, json_string (status->timed_out [index]));
    json_t *offers = json_array ();
    for (size_t index = 0; index < status->offer_count; index++) {
        const fm_offer_t *offer = &status->offers [index];
        json_array_append_new (offers, json_pack ("{s:s, s:I, s:i, s:i, s:i}",
            "offer_id", offer->offer_id, "amount_fen", (json_int_t) offer->amount_fen,
            "term_months", offer->term_months, "base_rate_bp", offer->base_rate_bp,
            "effective_rate_bp", offer->effective_rate_bp));
    }
    json_t *reasons = json_array ();
    for (size_t index = 0; index < status->decline_count; index++) {
        const fm_decline_t *decline = &status->declines [index];
        for (size_t reason = 0; reason < decline->reason_count; reason++) {
            const fm_reason_t *item = &decline->reasons [reason];
            json_array_append_new (reasons, json_pack ("{s:s, s:i, s:s, s:s, s:s}",
                "bank", decline->bank, "code", item->code, "product", item->product,
                "text", item->text, "advice", item->advice));
        }
    }
    return json_pack ("{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:s}",
        "request_id", status->request_id, "enterprise_id", status->request.enterprise_id,
        "state", status->state, "accepted", status->offer_id, "asked", asked,
        "offers", offers, "declines", reasons, "missed", missed, "text", status->text);
}

//  Ask the broker.  Returns the exit code.
static int
s_status_live (fm_cli_t *cli, const char *request_id, const char *enterprise)
{
    //  Keys now, not in main: status --db reads a local file only
    fm_curve_t *curve = NULL;
    if (fm_cli_enterprise_keys (cli, enterprise, &curve))
        return 2;
    fm_msg_t *msg = fm_msg_new (FM_MSG_STATUS_QUERY);
    fm_client_t *client = fm_client_new_secure (cli->broker, curve);
    fm_curve_destroy (&curve);          //  the socket has the keys now
    if (!msg || !client) {
        fprintf (stderr, "finmatch status: %s\n", msg? _("bad broker endpoint")
                                                    : _("out of memory"));
        fm_msg_destroy (&msg);
        fm_client_destroy (&client);
        return 2;
    }
    strcpy (msg->request_id, request_id);
    if (enterprise)
        snprintf (msg->request.enterprise_id, sizeof msg->request.enterprise_id,
                  "%s", enterprise);
    int rc = 3;
    fm_error_t err = { 0 };
    fm_msg_t *reply = NULL;
    reply = fm_client_request (client, FM_SERVICE_STATUS, msg, cli->timeout_ms,
                               cli->retries, &err);
    if (!reply)
        fprintf (stderr, _("finmatch: broker did not answer after %d tries of "
                 "%d ms (is finmatch-broker running at %s?)\n"),
                 cli->retries, cli->timeout_ms, cli->broker);
    else
    if (reply->type == FM_MSG_STATUS) {
        if (cli->json) {
            json_t *json = s_status_json (reply);
            json_dumpf (json, stdout, JSON_COMPACT);
            printf ("\n");
            json_decref (json);
        }
        else
            s_print_status (reply);
        rc = 0;
    }
    else {
        fprintf (stderr, _("finmatch status: %u %s\n"), reply->status, reply->text);
        rc = 1;
    }
    fm_msg_destroy (&reply);
    fm_msg_destroy (&msg);
    fm_client_destroy (&client);
    return rc;
}

//  Read the event log.  Returns the exit code.
static int
s_status_log (fm_cli_t *cli, const char *request_id, const char *path)
{
    sqlite3 *db = NULL;
    if (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        fprintf (stderr, _("finmatch status: cannot open %s: %s\n"), path,
                 db? sqlite3_errmsg (db): "out of memory");
        sqlite3_close (db);
        return 2;
    }
    //  A log of schema version 4 indexes its events by request number,
    //  an older one by request_id (fm_store.h)
    char sql [512];
    snprintf (sql, sizeof sql,
        "SELECT raw, type, COALESCE (bank, ''), COALESCE (offer_id, ''),"
        " COALESCE (text, ''), COALESCE (status, 0), COALESCE (count, 0), ts_us"
        " FROM events WHERE %s ORDER BY epoch, seq",
        fm_store_has_request_numbers (db)
        ? FM_STORE_OF_REQUEST ("?1")
        : "request_id = ?1");
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL);
    if (rc != SQLITE_OK) {
        fprintf (stderr, _("finmatch status: %s is not a finmatch event log: %s\n"),
                 path, sqlite3_errmsg (db));
        sqlite3_close (db);
        return 2;
    }
    sqlite3_bind_text (stmt, 1, request_id, -1, SQLITE_TRANSIENT);
    fm_req_state_t state = FM_RS_NONE;
    size_t events = 0;
    json_t *list = json_array ();
    while (sqlite3_step (stmt) == SQLITE_ROW) {
        //  The raw body is the event as published: decode it whole, so the
        //  fold sees exactly what the broker said
        fm_event_t event;
        fm_error_t err;
        const void *raw = sqlite3_column_blob (stmt, 0);
        int size = sqlite3_column_bytes (stmt, 0);
        if (!raw || fm_event_decode ((const byte *) raw, (size_t) size, &event, &err))
            continue;
        state = fm_lifecycle_apply (state, &event);
        events++;
        char when [32];
        time_t seconds = (time_t) (event.ts_us / 1000000);
        struct tm local;
        localtime_r (&seconds, &local);
        strftime (when, sizeof when, "%Y-%m-%d %H:%M:%S", &local);
        if (cli->json)
            json_array_append_new (list, json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s}",
                "time", when, "type", fm_event_type_name (event.type),
                "bank", event.bank, "offer_id", event.offer_id, "text", event.text,
                "state", fm_lifecycle_name (state)));
        else
            printf ("%s  %-18s %-8s %-16s %-10s %s\n", when,
                    fm_event_type_name (event.type), event.bank, event.offer_id,
                    fm_lifecycle_name (state), event.text);
    }
    sqlite3_finalize (stmt);
    sqlite3_close (db);
    if (cli->json) {
        json_t *json = json_pack ("{s:s, s:s, s:o}", "request_id", request_id,
                                  "state", events? fm_lifecycle_name (state): "unknown",
                                  "events", list);
        json_dumpf (json, stdout, JSON_COMPACT);
        printf ("\n");
        json_decref (json);
    }
    else {
        json_decref (list);
        if (events)
            printf (_("Request %s  state %s  (%zu events)\n"), request_id,
                    fm_lifecycle_name (state), events);
    }
    if (events == 0) {
        fprintf (stderr, _("finmatch status: no event of request %s in %s\n"),
                 request_id, path);
        return 1;
    }
    return 0;
}

int
fm_cmd_status (fm_cli_t *cli, int argc, char **argv)
{
    assert (cli);
    static const struct option options [] = {
        { "enterprise", required_argument, NULL, 'E' },
        { "db",         required_argument, NULL, 'd' },
        { "json",       no_argument,       NULL, 'j' },
        { "help",       no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *enterprise = NULL;
    const char *db = NULL;
    optind = 0;                         //  GNU: full re-initialisation
    opterr = 0;
    int opt;
    while ((opt = getopt_long (argc, argv, ":h", options, NULL)) != -1) {
        switch (opt) {
            case 'E': enterprise = optarg; break;
            case 'd': db = optarg; break;
            case 'j': cli->json = true; break;
            case 'h':
                s_usage (stdout);
                return 0;
            default:
                return fm_cli_option_error ("status", opt, argv);
        }
    }
    if (argc - optind != 1) {
        fprintf (stderr, _("finmatch status: expected REQUEST_ID, got %d arguments\n"),
                 argc - optind);
        s_usage (stderr);
        return 2;
    }
    const char *request_id = argv [optind];
    if (!fm_request_id_valid (request_id)) {
        fprintf (stderr, _("finmatch status: request id '%.40s' is not 16 "
                 "lowercase hex digits\n"), request_id);
        return 2;
    }
    if (enterprise && !fm_credit_code_valid (enterprise)) {
        fprintf (stderr, _("finmatch status: enterprise '%.40s' is not a valid "
                 "credit code\n"), enterprise);
        return 2;
    }
    return db? s_status_log (cli, request_id, db)
             : s_status_live (cli, request_id, enterprise);
}
