/*  =========================================================================
    finmatch-gov - the government credit service (gov.credit)

    Usage: finmatch-gov [-c FILE] [OPTIONS]

    A thin main: loads the enterprise registry CSV and the policy levers
    (`policy` section of the same ZPL file), then answers CREDIT_QUERY with
    a PROFILE (or ERROR 404) as a 7/MDP worker until SIGINT/SIGTERM.  A
    relative gov/registry path given in the config file is resolved against
    that file's directory, so a deployment directory can be moved as one.
    =========================================================================
*/

#include <czmq.h>
#include "fm_config.h"
#include "fm_i18n.h"
#include "fm_version.h"
#include "fm_mdp.h"
#include "fm_proto.h"
#include "fm_worker.h"
#include "fm_registry.h"

static const fm_setting_t s_settings [] = {
    { "gov/endpoint", "endpoint", 'e', FM_SETTING_STRING, "tcp://127.0.0.1:7555",
      0, 0, N_("broker endpoint to connect to") },
    { "gov/registry", "registry", 'r', FM_SETTING_STRING, NULL,
      0, 0, N_("enterprise registry CSV (relative to the config file's directory)") },
    { "gov/grids", "grids", 0, FM_SETTING_STRING, "",
      0, 0, N_("grids CSV: grid -> town, for 三网融合 routing (\"\" = none)") },
    { "gov/officers", "officers", 0, FM_SETTING_STRING, "",
      0, 0, N_("grid officers CSV: who may submit for which grids (\"\" = none)") },
    { "gov/ratings", "ratings", 0, FM_SETTING_STRING, "",
      0, 0, N_("ratings CSV (党建增信, tax, social insurance); overrides the registry's") },
    { "gov/capacity", "capacity", 0, FM_SETTING_INT, "32",
      1, 1024, N_("credit queries held at once (announced in READY)") },
    { "gov/batch", "batch", 0, FM_SETTING_INT, "32",
      1, 1024, N_("credit queries taken in one message (announced in READY; 1 = one at a time)") },
    { "gov/heartbeat_ms", "heartbeat", 0, FM_SETTING_INT, "500",
      100, 60000, N_("heartbeat interval in msecs (use the broker's)") },
    { "gov/liveness", "liveness", 0, FM_SETTING_INT, "3",
      1, 100, N_("missed heartbeats before reconnecting") },
    { "gov/cert", "cert", 0, FM_SETTING_STRING, "",
      0, 0, N_("our secret certificate (finmatch keygen --role gov)") },
    { "gov/broker_key", "broker-key", 0, FM_SETTING_STRING, "",
      0, 0, N_("the broker's public certificate") },
    { "gov/insecure", "insecure", 0, FM_SETTING_BOOL, "0",
      0, 0, N_("plain TCP, no authentication: local development only") },
    { "gov/verbose", NULL, 0, FM_SETTING_BOOL, "0",
      0, 0, N_("log every message exchanged") },
};
#define SETTING_COUNT (sizeof (s_settings) / sizeof (s_settings [0]))

//  What gov.credit knows (fm_worker_reply_fn): a profile, or ERROR
//  404/403, for a CREDIT_QUERY, answered into the one reply message kept
//  for the worker's life; NULL for anything else
typedef struct {
    fm_registry_t *registry;            //  borrowed from main
    const fm_policy_t *policy;          //  borrowed from main
    fm_msg_t *reply;                    //  owned, reused for every query
} gov_t;

static const fm_msg_t *
s_gov_answer (const fm_msg_t *request, void *arg)
{
    gov_t *gov = (gov_t *) arg;
    if (request->type != FM_MSG_CREDIT_QUERY)
        return NULL;
    fm_gov_answer_into (gov->registry, gov->policy, request, gov->reply);
    return gov->reply;
}

//  The registry path to open: relative paths that came from the config
//  file are taken relative to its directory.  Caller frees.
static char *
s_data_path (fm_config_t *config, const char *key)
{
    const char *path = fm_config_str (config, key);
    const char *file = fm_config_file (config);
    zconfig_t *zpl = fm_config_zpl (config);
    const char *from_file = zpl? zconfig_get (zpl, key, NULL): NULL;
    const char *slash = file? strrchr (file, '/'): NULL;
    if (*path != '/' && slash && from_file && streq (from_file, path))
        return zsys_sprintf ("%.*s/%s", (int) (slash - file), file, path);
    return strdup (path);
}

int
main (int argc, char **argv)
{
    fm_config_t *config;
    int rc = fm_config_daemon ("finmatch-gov", "[-c FILE] [OPTIONS]",
                               s_settings, SETTING_COUNT, argc, argv, &config);
    if (rc != 0)
        return rc == 1? 0: 2;
    char err [512];
    fm_policy_t policy;
    const char *file = fm_config_file (config);
    if (fm_policy_load (&policy, fm_config_zpl (config), file? file: "(no config)",
                        err, sizeof err)) {
        fprintf (stderr, _("finmatch-gov: %s\n"), err);
        fm_config_destroy (&config);
        return 2;
    }
    char *path = s_data_path (config, "gov/registry");
    fm_registry_t *registry = fm_registry_load (path, err, sizeof err);
    if (!registry) {
        fprintf (stderr, _("finmatch-gov: gov/registry: %s\n"), err);
        free (path);
        fm_config_destroy (&config);
        return 2;
    }
    //  Issue 3 tables, each optional: grid -> town, officers, ratings
    const char *tables [] = { "gov/grids", "gov/officers", "gov/ratings" };
    for (size_t index = 0; index < 3; index++) {
        if (!*fm_config_str (config, tables [index]))
            continue;
        char *table = s_data_path (config, tables [index]);
        int rows = index == 0? fm_registry_load_grids (registry, table, err, sizeof err)
                 : index == 1? fm_registry_load_officers (registry, table, err, sizeof err)
                             : fm_registry_load_ratings (registry, table, err, sizeof err);
        free (table);
        if (rows < 0) {
            fprintf (stderr, _("finmatch-gov: %s: %s\n"), tables [index], err);
            fm_registry_destroy (&registry);
            free (path);
            fm_config_destroy (&config);
            return 2;
        }
        zsys_info ("finmatch-gov: %s: %d rows", tables [index], rows);
    }
    fm_curve_t *curve = NULL;
    if (fm_curve_setup ("finmatch-gov", fm_config_bool (config, "gov/insecure"),
                        fm_config_str (config, "gov/cert"),
                        fm_config_str (config, "gov/broker_key"), &curve)) {
        fm_registry_destroy (&registry);
        free (path);
        fm_config_destroy (&config);
        return 2;
    }
    const char *endpoint = fm_config_str (config, "gov/endpoint");
    fm_worker_t *worker = fm_worker_new_secure (endpoint, FM_SERVICE_GOV,
                                         (uint32_t) fm_config_int (config, "gov/capacity"),
                                         (uint32_t) fm_config_int (config, "gov/heartbeat_ms"),
                                         (uint32_t) fm_config_int (config, "gov/liveness"),
                                         curve);
    fm_curve_destroy (&curve);      //  the worker keeps its own copy
    if (!worker) {
        fprintf (stderr, _("finmatch-gov: gov/endpoint: cannot connect to '%s'\n"), endpoint);
        fm_registry_destroy (&registry);
        free (path);
        fm_config_destroy (&config);
        return 2;
    }
    fm_worker_set_verbose (worker, fm_config_bool (config, "gov/verbose"));
    //  Query batches (SPEC.md 4.2): up to `batch` queries in one message
    //  each way, so that ZeroMQ's per-message costs are paid once per
    //  batch.  Before our first recv: it goes out in the one READY
    fm_worker_set_batch (worker, (uint32_t) fm_config_int (config, "gov/batch"));
    //  Our replies meet fm_msg_encode_trusted's terms: built from the
    //  decoded query, constants, and the registry, grids, ratings and
    //  policy checked at load against the codec's rules for a PROFILE
    //  (fm_gov_answer_into); the ASan builds validate them anyway
    //  (FM_PROTO_VERIFY_TRUSTED)
    fm_worker_set_trusted (worker, true);
    zsys_info ("finmatch-gov %s: serving %s, registry %s: %zu enterprises "
               "(%zu rows skipped), policy party_building A/B/C/D = %d/%d/%d/%d bp, "
               "tax_credit A/B/M/C/D = %d/%d/%d/%d/%d bp, broker %s",
               FM_VERSION, FM_SERVICE_GOV, path, fm_registry_size (registry),
               fm_registry_skipped (registry),
               policy.party_building [0], policy.party_building [1],
               policy.party_building [2], policy.party_building [3],
               policy.tax_credit [0], policy.tax_credit [1], policy.tax_credit [2],
               policy.tax_credit [3], policy.tax_credit [4], endpoint);
    if (fm_registry_size (registry) == 0)
        zsys_warning ("registry %s is empty: every query will be answered 404", path);
    free (path);

    gov_t gov = { registry, &policy, fm_msg_new (FM_MSG_PROFILE) };
    assert (gov.reply);
    size_t answered = 0;
    while (!zsys_interrupted) {
        zframe_t *reply_to;
        zframe_t *body = fm_worker_recv (worker, -1, &reply_to);
        if (!body)
            break;              //  interrupted
        zframe_t *reply = fm_worker_reply (worker, body, s_gov_answer, &gov);
        zframe_destroy (&body);
        fm_worker_send (worker, &reply_to, &reply);
        answered++;
    }
    zsys_info ("finmatch-gov: stopping after %zu queries", answered);
    fm_msg_destroy (&gov.reply);
    fm_worker_destroy (&worker);
    fm_registry_destroy (&registry);
    fm_config_destroy (&config);
    return 0;
}
