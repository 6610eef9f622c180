/*  =========================================================================
    finmatch-bank - one bank's matching service (bank.<CODE>)

    Usage: finmatch-bank -c FILE [OPTIONS]

    A thin main: reads the settings table and the bank's own sections
    (`bank`, `products`) from the same ZPL file, then serves BANK_QUERY
    and GRANT_QUERY as a 7/MDP worker until SIGINT/SIGTERM.  Every request
    gets exactly one reply, an ERROR body when the request is malformed or
    of a type we do not serve, so the broker is never left waiting.
    Several processes may serve the same bank: the broker spreads work.
    =========================================================================
*/

#include <czmq.h>
#include "fm_config.h"
#include "fm_i18n.h"
#include "fm_version.h"
#include "fm_mdp.h"
#include "fm_proto.h"
#include "fm_worker.h"
#include "fm_bank.h"

static const fm_setting_t s_settings [] = {
    { "bank/endpoint", "endpoint", 'e', FM_SETTING_STRING, "tcp://127.0.0.1:7555",
      0, 0, N_("broker endpoint to connect to") },
    { "bank/capacity", "capacity", 0, FM_SETTING_INT, "32",
      1, 1024, N_("requests held at once (announced in READY)") },
    { "bank/batch", "batch", 0, FM_SETTING_INT, "32",
      1, 1024, N_("requests taken in one message (announced in READY; 1 = one at a time)") },
    { "bank/heartbeat_ms", "heartbeat", 0, FM_SETTING_INT, "500",
      100, 60000, N_("heartbeat interval in msecs (use the broker's)") },
    { "bank/liveness", "liveness", 0, FM_SETTING_INT, "3",
      1, 100, N_("missed heartbeats before reconnecting") },
    { "bank/cert", "cert", 0, FM_SETTING_STRING, "",
      0, 0, N_("our secret certificate (finmatch keygen --role bank)") },
    { "bank/broker_key", "broker-key", 0, FM_SETTING_STRING, "",
      0, 0, N_("the broker's public certificate") },
    { "bank/insecure", "insecure", 0, FM_SETTING_BOOL, "0",
      0, 0, N_("plain TCP, no authentication: local development only") },
    { "bank/verbose", NULL, 0, FM_SETTING_BOOL, "0",
      0, 0, N_("log every message exchanged") },
    //  The bank's own keys: listed so --help shows them and the loader
    //  knows them; fm_bank_load validates them (and `products`)
    { "bank/code", NULL, 0, FM_SETTING_STRING, "",
      0, 0, N_("bank code, A-Z 0-9 _ (required); service bank.<code>") },
    { "bank/name", NULL, 0, FM_SETTING_STRING, "",
      0, 0, N_("bank display name (required)") },
    { "bank/lpr_1y_bp", NULL, 0, FM_SETTING_STRING, "",
      0, 0, N_("1-year LPR in bp, terms <= 60 months (required)") },
    { "bank/lpr_5y_bp", NULL, 0, FM_SETTING_STRING, "",
      0, 0, N_("5-year LPR in bp, terms > 60 months (required)") },
    { "bank/offer_valid_days", NULL, 0, FM_SETTING_STRING, "7",
      0, 0, N_("days an offer may be accepted, 1..365") },
    { "bank/towns", NULL, 0, FM_SETTING_STRING, "",
      0, 0, N_("town codes this institution is paired with, comma list (announced in READY)") },
};
#define SETTING_COUNT (sizeof (s_settings) / sizeof (s_settings [0]))

//  Wall clock, UTC microseconds: offers carry absolute validity times
static int64_t
s_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_REALTIME, &ts);
    return (int64_t) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

//  The bank and the replies it keeps: one BANK_ANSWER reused for every
//  query (no 3 KB message and lists allocated per query), the last
//  CONFIRMATION (rare: a new one per grant)
typedef struct {
    fm_bank_t *bank;                //  borrowed from main
    fm_msg_t *answer;               //  owned, BANK_ANSWER reused
    fm_msg_t *confirmation;         //  owned, last CONFIRMATION or NULL
} bank_worker_t;

//  The bank's answers (fm_worker_reply_fn): offers or a decline to a
//  BANK_QUERY, a confirmation to a GRANT_QUERY, each kept in worker;
//  NULL for anything else (or out of memory: the broker gets ERROR 501)
static const fm_msg_t *
s_bank_answer (const fm_msg_t *request, void *arg)
{
    bank_worker_t *worker = (bank_worker_t *) arg;
    if (request->type == FM_MSG_BANK_QUERY)
        return fm_bank_answer_into (worker->bank, request, s_now_us (),
                                    worker->answer) == 0? worker->answer: NULL;
    if (request->type == FM_MSG_GRANT_QUERY) {
        fm_msg_destroy (&worker->confirmation);
        worker->confirmation = fm_bank_grant (worker->bank, request, s_now_us ());
        return worker->confirmation;
    }
    return NULL;
}

int
main (int argc, char **argv)
{
    fm_config_t *config;
    int rc = fm_config_daemon ("finmatch-bank", "-c FILE [OPTIONS]",
                               s_settings, SETTING_COUNT, argc, argv, &config);
    if (rc != 0)
        return rc == 1? 0: 2;
    const char *file = fm_config_file (config);
    zconfig_t *zpl = fm_config_zpl (config);
    if (!file || !zpl) {
        fputs (_("finmatch-bank: -c FILE is required: the bank and its "
                 "products are configured there (see finmatch-bank.cfg)\n"), stderr);
        fm_config_destroy (&config);
        return 2;
    }
    char err [512];
    fm_bank_t *bank = fm_bank_load (zpl, file, err, sizeof err);
    if (!bank) {
        fprintf (stderr, _("finmatch-bank: %s\n"), err);
        fm_config_destroy (&config);
        return 2;
    }
    char service [FM_SERVICE_SIZE];
    snprintf (service, sizeof service, "%s%s", FM_SERVICE_BANK_PREFIX, fm_bank_code (bank));
    fm_curve_t *curve = NULL;
    if (fm_curve_setup ("finmatch-bank", fm_config_bool (config, "bank/insecure"),
                        fm_config_str (config, "bank/cert"),
                        fm_config_str (config, "bank/broker_key"), &curve)) {
        fm_bank_destroy (&bank);
        fm_config_destroy (&config);
        return 2;
    }
    if (curve && fm_curve_meta (curve, FM_CERT_BANK)
    &&  strneq (fm_curve_meta (curve, FM_CERT_BANK), fm_bank_code (bank)))
        zsys_warning ("%s: our certificate names bank %s: the broker will "
                      "refuse this service", service, fm_curve_meta (curve, FM_CERT_BANK));
    const char *endpoint = fm_config_str (config, "bank/endpoint");
    fm_worker_t *worker = fm_worker_new_secure (endpoint, service,
                                         (uint32_t) fm_config_int (config, "bank/capacity"),
                                         (uint32_t) fm_config_int (config, "bank/heartbeat_ms"),
                                         (uint32_t) fm_config_int (config, "bank/liveness"),
                                         curve);
    fm_curve_destroy (&curve);      //  the worker keeps its own copy
    if (!worker) {
        fprintf (stderr, _("finmatch-bank: bank/endpoint: cannot connect to '%s'\n"), endpoint);
        fm_bank_destroy (&bank);
        fm_config_destroy (&config);
        return 2;
    }
    fm_worker_set_verbose (worker, fm_config_bool (config, "bank/verbose"));
    //  Query batches (SPEC.md 4.2): up to `batch` queries in one message
    //  each way, so that ZeroMQ's per-message costs are paid once per
    //  batch.  Before our first recv: it goes out in the one READY
    fm_worker_set_batch (worker, (uint32_t) fm_config_int (config, "bank/batch"));
    //  Our replies meet fm_msg_encode_trusted's terms: built from the
    //  decoded query, constants and the configuration checked at load,
    //  texts cut at character boundaries (fm_bank.c); the ASan builds
    //  validate them anyway (FM_PROTO_VERIFY_TRUSTED)
    fm_worker_set_trusted (worker, true);
    //  三网融合: the broker asks us first for requests from these towns
    //  (in the one READY too)
    if (*fm_bank_towns (bank))
        fm_worker_set_towns (worker, fm_bank_towns (bank));
    zsys_info ("finmatch-bank %s: serving %s (%s) from %s, %zu products, broker %s",
               FM_VERSION, service, fm_bank_name (bank), file,
               fm_bank_product_count (bank), endpoint);
    if (fm_bank_product_count (bank) == 0)
        zsys_warning ("%s has no products: every request will be declined", service);

    bank_worker_t kept = { bank, fm_msg_new (FM_MSG_BANK_ANSWER), NULL };
    assert (kept.answer);       //  only fails when out of memory
    size_t answered = 0;
    while (!zsys_interrupted) {
        zframe_t *reply_to;
        zframe_t *body = fm_worker_recv (worker, -1, &reply_to);
        if (!body)
            break;              //  interrupted
        zframe_t *reply = fm_worker_reply (worker, body, s_bank_answer, &kept);
        zframe_destroy (&body);
        fm_worker_send (worker, &reply_to, &reply);
        answered++;
    }
    zsys_info ("finmatch-bank: %s stopping after %zu requests", service, answered);
    fm_msg_destroy (&kept.answer);
    fm_msg_destroy (&kept.confirmation);
    fm_worker_destroy (&worker);
    fm_bank_destroy (&bank);
    fm_config_destroy (&config);
    return 0;
}
