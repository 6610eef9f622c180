/*  =========================================================================
    fm-microbench - per-request work of one process, without the network

    fm-bench measures the whole system, where the machine's other load and
    the context switches of nine processes blur what one change did.  This
    program repeats the in-process work of one request in a loop, so that a
    change to the codec or the event log can be measured alone (and run
    under callgrind for instruction counts, which do not depend on load):

      bank     decode a BANK_QUERY, answer it (deploy/banks/cqrcb.cfg),
               encode the BANK_ANSWER: a bank worker's work per query, as
               finmatch-bank does it (fm_worker_reply): decoded by one
               reused fm_msg_reader, answered into one reused message
               (fm_bank_answer_into), encoded trusted
      gov      decode a CREDIT_QUERY (reused reader), answer it from the
               deploy registry, grids, ratings and policy (deploy/gov.cfg)
               into one reused PROFILE (fm_gov_answer_into), encode it
               trusted: a government worker's work per query, as
               finmatch-gov does it; 64 enterprises, consent as fm-bench
      answer   decode a BANK_ANSWER with fm_msg_decode (a new fm_msg_t)
      reader   decode a BANK_ANSWER with fm_msg_reader_decode (one reused
               message): what the broker does per bank answer
      result   what the broker does with a request's 5 bank answers
               (CQRCB, BCQ, CCBJB, ICBCJB, ABCJB, each answering the
               query with deploy/banks/<bank>.cfg): decode each with one
               reused reader, keep its offers, append its decline to a new
               RESULT (s_request_answered), then rank the offers, append
               them and encode the RESULT trusted (s_request_complete); no
               events
      event    encode an offer.made event (the broker) and decode it (the
               recorder)
      store    the recorder's work per event into a fresh SQLite log in a
               temp dir: decode, fm_store_append, commits of 1000; 9 events
               per request (received, enriched, dispatched, 5 bank answers,
               completed)
      log      the event log alone: as store, but each commit's events
               are decoded before the clock runs (SQLite and fm_store)
      log-noreq  log without the events_request_n index (dropped after
               fm_store_new made it): what finding a request's events
               costs per event, but for request_ids (schema version 4)

    Prints microseconds (wall and CPU) per iteration.  Queries vary amount,
    term, collateral, consent and renewal as fm-bench's requests do.

        fm-microbench [bank|gov|answer|reader|result|event|store|log|log-noreq|all]
                      [ITERATIONS]

    FM_SOURCE_DIR (default: <this program's dir>/../..) finds deploy/.
    =========================================================================
*/

#include <czmq.h>
#include <sys/resource.h>
#include <libgen.h>
#include "fm_proto.h"
#include "fm_ids.h"
#include "fm_bank.h"
#include "fm_registry.h"
#include "fm_store.h"
#include "fm_rank.h"
#include <sqlite3.h>

#define QUERIES         64              //  distinct bodies cycled through
#define BANKS           5               //  banks answering each query (result)

static const char *s_banks [BANKS] = { "cqrcb", "bcq", "ccbjb", "icbcjb", "abcjb" };

typedef struct {
    zframe_t *queries [QUERIES];        //  BANK_QUERY bodies
    zframe_t *answers [QUERIES];        //  BANK_ANSWER bodies
    zframe_t *bank_answers [QUERIES][BANKS];    //  each bank's BANK_ANSWER
    fm_msg_t *requests [QUERIES];       //  the query each answers (result)
    zframe_t *credits [QUERIES];        //  CREDIT_QUERY bodies
    fm_registry_t *registry;            //  deploy/data, as finmatch-gov
    fm_policy_t policy;                 //  deploy/gov.cfg's
    fm_msg_t *profile;                  //  finmatch-gov's reused reply
    fm_event_t event;                   //  an offer.made event
    fm_bank_t *bank;
    fm_msg_reader_t *reader;            //  a worker's reader (fm_worker_reply)
    fm_msg_t *answer;                   //  finmatch-bank's reused BANK_ANSWER
} fixture_t;

static int64_t
s_cpu_us (void)
{
    struct rusage usage;
    getrusage (RUSAGE_SELF, &usage);
    return (int64_t) (usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1000000
         + usage.ru_utime.tv_usec + usage.ru_stime.tv_usec;
}

static void
s_lever (fm_lever_t *lever, const char *code, const char *name, int32_t bp)
{
    snprintf (lever->code, sizeof lever->code, "%s", code);
    snprintf (lever->name, sizeof lever->name, "%s", name);
    lever->bp = bp;
    lever->payer = FM_PAYER_BANK;
}

//  Query i, shaped like fm-bench's request i
static fm_msg_t *
s_query (int i)
{
    static const int64_t amounts_yuan [] = {
        200000, 500000, 1000000, 3000000, 5000000, 8000000, 20000000
    };
    static const uint16_t terms [] = { 6, 12, 24, 36, 60, 120 };
    fm_msg_t *query = fm_msg_new (FM_MSG_BANK_QUERY);
    assert (query);
    fm_request_t *request = &query->request;
    strcpy (request->enterprise_id, "91500105MA2987XB1W");
    snprintf (request->idem_key, sizeof request->idem_key, "bench-%d", i);
    request->amount_fen = amounts_yuan [i % 7] * 100;
    request->term_months = terms [(i / 7) % 6];
    strcpy (request->purpose, "流动资金周转");
    request->type = i % 11 == 0? FM_REQ_RENEWAL: FM_REQ_NEW;
    if (request->type == FM_REQ_RENEWAL)
        snprintf (request->prior_loan_id, sizeof request->prior_loan_id,
                  "CQRCB-%016x", i);
    request->collateral = (fm_collateral_t) ((i / 3) % FM_COLLATERAL_COUNT);
    request->consent = i % 5 == 0? FM_CONSENT_PARTY: FM_CONSENT_ALL;
    request->kinds = FM_KIND_BIT (FM_KIND_LOAN);
    strcpy (request->grid_id, "GYQ-01-01");
    fm_request_id_make (request->enterprise_id, request->idem_key, query->request_id);
    fm_profile_t *profile = &query->profile;
    strcpy (profile->enterprise_id, request->enterprise_id);
    strcpy (profile->name, "重庆康桥食品有限公司");
    strcpy (profile->industry, "catering");
    strcpy (profile->grid_id, "GYQ-01-01");
    strcpy (profile->town, "GYQ");
    profile->shared = request->consent;
    if (profile->shared & FM_CONSENT_TAX)
        profile->tax_grade = 'A';
    if (profile->shared & FM_CONSENT_PARTY)
        profile->party_grade = 'B';
    if (profile->shared & FM_CONSENT_SOCIAL)
        profile->social_insurance_months = 30;
    s_lever (&profile->levers [profile->lever_count++], "party_building", "党建增信(B级)", 20);
    if (profile->shared & FM_CONSENT_TAX)
        s_lever (&profile->levers [profile->lever_count++], "tax_credit", "银税互动(A级)", 10);
    return query;
}

//  The government's data as deploy/gov.cfg names it, and 64 CREDIT_QUERY
//  bodies for enterprises spread over deploy/data/enterprises.csv
static void
s_gov_fixture (fixture_t *fx, const char *source_dir)
{
    char path [1100], err [512];
    snprintf (path, sizeof path, "%.1024s/deploy/gov.cfg", source_dir);
    zconfig_t *zpl = zconfig_load (path);
    if (!zpl || fm_policy_load (&fx->policy, zpl, path, err, sizeof err)) {
        fprintf (stderr, "fm-microbench: cannot load the policy of %s\n", path);
        exit (2);
    }
    zconfig_destroy (&zpl);
    snprintf (path, sizeof path, "%.1024s/deploy/data/enterprises.csv", source_dir);
    fx->registry = fm_registry_load (path, err, sizeof err);
    if (!fx->registry) {
        fprintf (stderr, "fm-microbench: %s\n", err);
        exit (2);
    }
    const char *tables [] = { "grids", "officers", "ratings" };
    for (int index = 0; index < 3; index++) {
        snprintf (path, sizeof path, "%.1024s/deploy/data/%s.csv", source_dir,
                  tables [index]);
        int rows = index == 0? fm_registry_load_grids (fx->registry, path, err, sizeof err)
                 : index == 1? fm_registry_load_officers (fx->registry, path, err, sizeof err)
                             : fm_registry_load_ratings (fx->registry, path, err, sizeof err);
        assert (rows > 0);
    }
    snprintf (path, sizeof path, "%.1024s/deploy/data/enterprises.csv", source_dir);
    FILE *csv = fopen (path, "r");
    assert (csv);
    char line [1024];
    int row = 0, made = 0;
    while (made < QUERIES && fgets (line, sizeof line, csv)) {
        if (row++ % 61 != 1)
            continue;           //  the header, and 60 rows of 61
        fm_msg_t *credit = fm_msg_new (FM_MSG_CREDIT_QUERY);
        assert (credit);
        memcpy (credit->request.enterprise_id, line, 18);
        snprintf (credit->request.idem_key, sizeof credit->request.idem_key,
                  "bench-%d", made);
        fm_request_id_make (credit->request.enterprise_id, credit->request.idem_key,
                            credit->request_id);
        credit->request.consent = made % 5 == 0? FM_CONSENT_PARTY: FM_CONSENT_ALL;
        credit->request.amount_fen = INT64_C (100000) * (1 + made % 7) * 1000;
        fm_error_t error;
        fx->credits [made] = fm_msg_encode (credit, &error);
        assert (fx->credits [made]);
        fm_msg_destroy (&credit);
        made++;
    }
    fclose (csv);
    assert (made == QUERIES);
    fx->profile = fm_msg_new (FM_MSG_PROFILE);
    assert (fx->profile);
}

static void
s_fixture_new (fixture_t *fx, const char *source_dir)
{
    memset (fx, 0, sizeof *fx);
    char path [1100];
    snprintf (path, sizeof path, "%.1024s/deploy/banks/cqrcb.cfg", source_dir);
    zconfig_t *zpl = zconfig_load (path);
    if (!zpl) {
        fprintf (stderr, "fm-microbench: cannot load %s (set FM_SOURCE_DIR)\n", path);
        exit (2);
    }
    char err [256];
    fx->bank = fm_bank_load (zpl, path, err, sizeof err);
    zconfig_destroy (&zpl);
    if (!fx->bank) {
        fprintf (stderr, "fm-microbench: %s\n", err);
        exit (2);
    }
    fm_bank_t *banks [BANKS];
    for (int b = 0; b < BANKS; b++) {
        snprintf (path, sizeof path, "%.1024s/deploy/banks/%s.cfg", source_dir, s_banks [b]);
        zpl = zconfig_load (path);
        banks [b] = zpl? fm_bank_load (zpl, path, err, sizeof err): NULL;
        zconfig_destroy (&zpl);
        if (!banks [b]) {
            fprintf (stderr, "fm-microbench: cannot load %s\n", path);
            exit (2);
        }
    }
    fx->reader = fm_msg_reader_new ();
    fx->answer = fm_msg_new (FM_MSG_BANK_ANSWER);
    assert (fx->reader && fx->answer);
    fm_error_t error;
    for (int i = 0; i < QUERIES; i++) {
        fm_msg_t *query = s_query (i);
        for (int b = 0; b < BANKS; b++) {
            fm_msg_t *answer = fm_bank_answer (banks [b], query, zclock_time () * 1000);
            assert (answer);
            fx->bank_answers [i][b] = fm_msg_encode (answer, &error);
            assert (fx->bank_answers [i][b]);
            fm_msg_destroy (&answer);
        }
        fx->queries [i] = fm_msg_encode (query, &error);
        fm_msg_t *answer = fm_bank_answer (fx->bank, query, zclock_time () * 1000);
        fx->answers [i] = fm_msg_encode (answer, &error);
        assert (fx->queries [i] && fx->answers [i]);
        fm_msg_destroy (&answer);
        fx->requests [i] = query;
    }
    for (int b = 0; b < BANKS; b++)
        fm_bank_destroy (&banks [b]);
    s_gov_fixture (fx, source_dir);
    fm_event_t *event = &fx->event;
    event->epoch = UINT64_C (1700000000000000);
    event->seq = 1;
    event->ts_us = INT64_C (1700000000000001);
    event->type = FM_EV_OFFER_MADE;
    strcpy (event->request_id, "0123456789abcdef");
    strcpy (event->enterprise_id, "91500105MA2987XB1W");
    strcpy (event->grid_id, "GYQ-01-01");
    strcpy (event->bank, "CQRCB");
    strcpy (event->product, "GRIDE");
    strcpy (event->offer_id, "CQRCB/GRIDE");
    event->amount_fen = 300000000;
    event->term_months = 12;
    event->base_rate_bp = 405;
    event->effective_rate_bp = 375;
    event->latency_us = 812;
    s_lever (&event->levers [event->lever_count++], "party_building", "党建增信(B级)", 20);
    s_lever (&event->levers [event->lever_count++], "tax_credit", "银税互动(A级)", 10);
}

static void
s_fixture_destroy (fixture_t *fx)
{
    for (int i = 0; i < QUERIES; i++) {
        zframe_destroy (&fx->queries [i]);
        zframe_destroy (&fx->answers [i]);
        for (int b = 0; b < BANKS; b++)
            zframe_destroy (&fx->bank_answers [i][b]);
        fm_msg_destroy (&fx->requests [i]);
    }
    for (int i = 0; i < QUERIES; i++)
        zframe_destroy (&fx->credits [i]);
    fm_registry_destroy (&fx->registry);
    fm_msg_destroy (&fx->profile);
    fm_bank_destroy (&fx->bank);
    fm_msg_reader_destroy (&fx->reader);
    fm_msg_destroy (&fx->answer);
}

//  One iteration of a codec workload
static void
s_codec_step (fixture_t *fx, const char *what, int i)
{
    fm_error_t err;
    if (streq (what, "bank")) {
        zframe_t *body = fx->queries [i % QUERIES];
        fm_msg_t *query = fm_msg_reader_decode (fx->reader, zframe_data (body),
                                                zframe_size (body), &err);
        assert (query);
        int rc = fm_bank_answer_into (fx->bank, query, zclock_time () * 1000,
                                      fx->answer);
        assert (rc == 0);
        zframe_t *frame = fm_msg_encode_trusted (fx->answer);
        assert (frame);
        zframe_destroy (&frame);
    }
    else
    if (streq (what, "gov")) {
        zframe_t *body = fx->credits [i % QUERIES];
        fm_msg_t *credit = fm_msg_reader_decode (fx->reader, zframe_data (body),
                                                 zframe_size (body), &err);
        assert (credit);
        fm_gov_answer_into (fx->registry, &fx->policy, credit, fx->profile);
        assert (fx->profile->type == FM_MSG_PROFILE);
        zframe_t *frame = fm_msg_encode_trusted (fx->profile);
        assert (frame);
        zframe_destroy (&frame);
    }
    else
    if (streq (what, "answer")) {
        zframe_t *body = fx->answers [i % QUERIES];
        fm_msg_t *answer = fm_msg_decode (zframe_data (body), zframe_size (body), &err);
        assert (answer);
        fm_msg_destroy (&answer);
    }
    else
    if (streq (what, "reader")) {
        static fm_msg_reader_t *reader = NULL;
        if (!reader)
            reader = fm_msg_reader_new ();
        zframe_t *body = fx->answers [i % QUERIES];
        fm_msg_t *answer = fm_msg_reader_decode (reader, zframe_data (body),
                                                 zframe_size (body), &err);
        assert (answer);
    }
    else
    if (streq (what, "result")) {
        //  The broker's request_t: a RESULT from s_request_new, offers
        //  kept for ranking as s_request_keep_offer keeps them
        fm_msg_t *result = fm_msg_new (FM_MSG_RESULT);
        assert (result);
        fm_offer_t *offers = NULL;
        size_t offer_count = 0, offer_max = 0;
        for (int b = 0; b < BANKS; b++) {
            zframe_t *body = fx->bank_answers [i % QUERIES][b];
            fm_msg_t *answer = fm_msg_reader_decode (fx->reader, zframe_data (body),
                                                     zframe_size (body), &err);
            assert (answer);
            for (size_t index = 0; index < answer->offer_count; index++) {
                if (offer_count == offer_max) {
                    offer_max = offer_max? offer_max * 2: 16;
                    offers = (fm_offer_t *) realloc (offers, offer_max * sizeof (fm_offer_t));
                    assert (offers);
                }
                offers [offer_count++] = answer->offers [index];
            }
            for (size_t index = 0; index < answer->decline_count; index++)
                fm_msg_add_decline (result, &answer->declines [index]);
        }
        fm_offer_rank (offers, offer_count);
        for (size_t index = 0; index < offer_count; index++)
            if (fm_msg_add_offer (result, &offers [index]))
                break;
        const fm_msg_t *query = fx->requests [i % QUERIES];
        snprintf (result->request_id, sizeof result->request_id, "%s", query->request_id);
        result->request = query->request;
        result->status = FM_STATUS_OK;
        if (result->offer_count == 0)
            snprintf (result->text, sizeof result->text,
                      "未获报价: %zu 家银行谢绝, %zu 家未按时答复",
                      result->decline_count, result->timed_out_count);
        zframe_t *frame = fm_msg_encode_trusted (result);
        assert (frame);
        zframe_destroy (&frame);
        free (offers);
        fm_msg_destroy (&result);
    }
    else {
        byte buffer [4096];
        fx->event.seq = (uint64_t) i + 1;
        size_t size = fm_event_encode_into (&fx->event, buffer, sizeof buffer);
        assert (size);
        fm_event_t copy;
        int rc = fm_event_decode (buffer, size, &copy, &err);
        assert (rc == 0);
    }
}

//  Event k (0..8) of request r, as the broker would publish it
static void
s_store_event (fm_event_t *event, int r, int k, uint64_t seq, const char *request_id)
{
    static const char *banks [] = { "CQRCB", "BCQ", "CCBJB", "ICBCJB", "ABCJB" };
    memset (event, 0, sizeof *event);
    event->epoch = UINT64_C (1700000000000000);
    event->seq = seq;
    event->ts_us = INT64_C (1700000000000000) + (int64_t) seq;
    strcpy (event->request_id, request_id);
    strcpy (event->enterprise_id, "91500105MA2987XB1W");
    snprintf (event->grid_id, sizeof event->grid_id, "GYQ-01-%02d", r % 13);
    if (k == 0) {
        event->type = FM_EV_REQUEST_RECEIVED;
        event->amount_fen = 300000000;
        event->term_months = 12;
        strcpy (event->text, "流动资金周转");
    }
    else
    if (k == 1) {
        event->type = FM_EV_REQUEST_ENRICHED;
        strcpy (event->industry, "catering");
        s_lever (&event->levers [event->lever_count++], "party_building", "党建增信(B级)", 20);
        s_lever (&event->levers [event->lever_count++], "tax_credit", "银税互动(A级)", 10);
    }
    else
    if (k == 2) {
        event->type = FM_EV_REQUEST_DISPATCHED;
        event->count = 5;
    }
    else
    if (k < 8) {
        strcpy (event->bank, banks [k - 3]);
        event->latency_us = 900 + k;
        if ((r + k) % 5 == 0) {
            event->type = FM_EV_OFFER_MADE;
            strcpy (event->product, "GRIDE");
            snprintf (event->offer_id, sizeof event->offer_id, "%s/GRIDE", event->bank);
            event->amount_fen = 300000000;
            event->term_months = 12;
            event->base_rate_bp = 405;
            event->effective_rate_bp = 385;
            s_lever (&event->levers [event->lever_count++], "party_building",
                     "党建增信(B级)", 20);
        }
        else {
            event->type = FM_EV_DECLINE_MADE;
            event->reason_code = 102;
            strcpy (event->text, "102:GRIDE;103:DYD;106:XCZX");
        }
    }
    else {
        event->type = FM_EV_REQUEST_COMPLETED;
        event->status = 200;
        event->count = 1;
    }
}

//  Decode body index of the store workload's bodies (512 bytes apart)
static void
s_store_decode (const byte *bodies, const size_t *sizes, int index, fm_event_t *event)
{
    fm_error_t err;
    int rc = fm_event_decode (bodies + (size_t) index * 512, sizes [index], event, &err);
    assert (rc == 0);
}

//  Events per commit, as the recorder's default batch_max
#define STORE_BATCH     1000

//  Requests' events into a fresh log in a temp dir; returns events stored.
//  decode: each event's decode is timed with its fm_store_append (the
//  recorder's work); otherwise the events of each commit are decoded
//  before the clock runs (the log's work alone).  request_index false
//  drops events_request_n after fm_store_new made it (what that index
//  costs; fm_store does not make it again)
static uint64_t
s_store_run (int requests, bool decode, bool request_index,
             int64_t *wall_us, int64_t *cpu_us)
{
    char dir [] = "/tmp/fm-microbench.XXXXXX";
    assert (mkdtemp (dir));
    char path [256];
    snprintf (path, sizeof path, "%s/events.db", dir);
    fm_store_t *store = fm_store_new (path, STORE_BATCH, 100000);
    assert (store);
    if (!request_index) {
        sqlite3 *db;
        int rc = sqlite3_open (path, &db);
        assert (rc == SQLITE_OK);
        rc = sqlite3_exec (db, "DROP INDEX events_request_n", NULL, NULL, NULL);
        assert (rc == SQLITE_OK);
        sqlite3_close (db);
    }
    //  Bodies encoded first: only the recorder's work is timed
    int count = requests * 9;
    byte *bodies = (byte *) malloc ((size_t) count * 512);
    size_t *sizes = (size_t *) malloc ((size_t) count * sizeof (size_t));
    fm_event_t *events = (fm_event_t *) malloc (STORE_BATCH * sizeof (fm_event_t));
    assert (bodies && sizes && events);
    uint64_t seq = 0;
    for (int r = 0; r < requests; r++) {
        char key [32], request_id [FM_REQUEST_ID_SIZE];
        snprintf (key, sizeof key, "bench-%d", r);
        fm_request_id_make ("91500105MA2987XB1W", key, request_id);
        for (int k = 0; k < 9; k++) {
            fm_event_t event;
            s_store_event (&event, r, k, seq + 1, request_id);
            sizes [seq] = fm_event_encode_into (&event, bodies + seq * 512, 512);
            assert (sizes [seq]);
            seq++;
        }
    }
    *wall_us = *cpu_us = 0;
    for (int first = 0; first < count; first += STORE_BATCH) {
        int chunk = count - first < STORE_BATCH? count - first: STORE_BATCH;
        if (!decode)
            for (int i = 0; i < chunk; i++)
                s_store_decode (bodies, sizes, first + i, &events [i]);
        int64_t wall = zclock_usecs (), cpu = s_cpu_us ();
        for (int i = 0; i < chunk; i++) {
            if (decode)
                s_store_decode (bodies, sizes, first + i, &events [i]);
            int rc = fm_store_append (store, &events [i], bodies + (size_t) (first + i) * 512,
                                      sizes [first + i]);
            assert (rc == 0);
        }
        if (first + chunk == count) {
            int rc = fm_store_flush (store);
            assert (rc == 0);
        }
        *wall_us += zclock_usecs () - wall;
        *cpu_us += s_cpu_us () - cpu;
    }
    fm_store_stats_t stats;
    fm_store_stats (store, &stats);
    fm_store_destroy (&store);
    free (bodies);
    free (sizes);
    free (events);
    fm_store_remove (path);
    rmdir (dir);
    return stats.stored;
}

int
main (int argc, char **argv)
{
    const char *what = argc > 1? argv [1]: "all";
    int iterations = argc > 2? atoi (argv [2]): 0;
    if (streq (what, "-h") || streq (what, "--help") || iterations < 0) {
        printf ("Usage: fm-microbench [bank|gov|answer|reader|result|event|store|log|\n"
                "                      log-noreq|all]"
                " [ITERATIONS]\n"
                "Repeats one process's work per request without the network;\n"
                "prints wall and CPU microseconds per iteration (store, log: per\n"
                "event).  FM_SOURCE_DIR finds deploy/banks/cqrcb.cfg.\n");
        return 0;
    }
    //  As finmatch-recorder does (SQLite's allocation statistics take a
    //  global mutex per malloc)
    sqlite3_config (SQLITE_CONFIG_MEMSTATUS, 0);
    zsys_init ();
    zsys_set_logstream (stderr);
    char source [1024];
    if (getenv ("FM_SOURCE_DIR") && *getenv ("FM_SOURCE_DIR"))
        snprintf (source, sizeof source, "%s", getenv ("FM_SOURCE_DIR"));
    else {
        char self [1024];
        ssize_t len = readlink ("/proc/self/exe", self, sizeof self - 1);
        self [len > 0? len: 0] = 0;
        snprintf (source, sizeof source, "%s/../..", dirname (self));
    }
    const char *codecs [] = { "bank", "gov", "answer", "reader", "result", "event", NULL };
    bool all = streq (what, "all");
    bool known = all;
    fixture_t fx;
    s_fixture_new (&fx, source);
    for (int c = 0; codecs [c]; c++) {
        if (!all && !streq (what, codecs [c]))
            continue;
        known = true;
        int count = iterations? iterations: 50000;
        for (int i = 0; i < 1000; i++)        //  warm caches and malloc
            s_codec_step (&fx, codecs [c], i);
        int64_t wall = zclock_usecs (), cpu = s_cpu_us ();
        for (int i = 0; i < count; i++)
            s_codec_step (&fx, codecs [c], i);
        wall = zclock_usecs () - wall;
        cpu = s_cpu_us () - cpu;
        printf ("%-9s %6d iterations  %7.2f us wall  %7.2f us CPU per iteration\n",
                codecs [c], count, (double) wall / count, (double) cpu / count);
    }
    s_fixture_destroy (&fx);
    //  store: the recorder's work; log, log-noreq: the log's alone,
    //  with the shipped indexes and without events_request_n
    struct { const char *name; bool decode; bool request_index; } stores [] = {
        { "store", true, true }, { "log", false, true }, { "log-noreq", false, false }
    };
    for (size_t i = 0; i < sizeof stores / sizeof stores [0]; i++) {
        if (!(all || streq (what, stores [i].name)))
            continue;
        known = true;
        int requests = iterations? iterations: 20000;
        int64_t wall, cpu;
        uint64_t stored = s_store_run (requests, stores [i].decode,
                                       stores [i].request_index, &wall, &cpu);
        printf ("%-9s %6" PRIu64 " events      %7.2f us wall  %7.2f us CPU per event"
                " (%d requests)\n", stores [i].name, stored, (double) wall / stored,
                (double) cpu / stored, requests);
    }
    if (!known) {
        fprintf (stderr, "fm-microbench: unknown workload '%s'\n", what);
        return 2;
    }
    return 0;
}
