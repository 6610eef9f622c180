/*  =========================================================================
    test_system - 200 requests with 3 banks, real processes on loopback

    Starts finmatch-broker, finmatch-recorder, finmatch-gov and three
    finmatch-bank processes (fixtures in tests/data/system/), all SECURED
    with CURVE keys made here (broker, gov, a key per bank, the recorder as
    monitor, a key per enterprise), sends 200 varied requests concurrently,
    each over its enterprise's own connection (one fm_client per
    enterprise: the broker lets a key act only for its own enterprise),
    plus one request for an enterprise the registry does not hold, and checks EVERY answer against
    an independent model of the rules: this file reads the fixture bank
    configs and the registry itself and decides which bank must offer what
    and which must decline with which reasons; it never calls fm_bank or
    fm_registry.  Then it accepts the top offer of 20 requests (and checks
    that another enterprise's key may not), stops the
    recorder and checks the event log in SQLite: exact counts per type,
    each offer and decline recorded, gap-free sequence numbers.

    Usage: test_system [-v]      (env FM_BIN_DIR, FM_SOURCE_DIR; see README)
    =========================================================================
*/

#include <czmq.h>
#include <sqlite3.h>
#include "fm_proto.h"
#include "fm_client.h"
#include "fm_ids.h"
#include "fm_mdp.h"
#include "fm_proc.h"
#include "fm_store.h"
#include "fm_curve.h"
#include <sys/stat.h>

#define REQUESTS        200             //  requests with known enterprises
#define WINDOW          50              //  requests in flight at once
#define ACCEPTS         20              //  top offers accepted
#define DEADLINE_MS     2000            //  broker deadline for bank answers
#define START_MS        15000           //  bound for a process to be ready
#define REPLY_MS        10000           //  bound for any single reply
#define SLACK_US        (INT64_C (60) * 1000000)    //  offer validity slack
#define DAY_US          (INT64_C (86400) * 1000000)

#define MAX_ENTERPRISES 64
#define MAX_BANKS       3
#define MAX_PRODUCTS    4
#define MAX_EXPECT      32

static const char *s_bank_files [MAX_BANKS] = {
    "bank_cqrcb", "bank_ccb", "bank_icbc"
};

//  An enterprise as the fixture registry holds it
typedef struct {
    char code [FM_ENTERPRISE_ID_SIZE];
    char industry [FM_CODE_SIZE];
    char grid [FM_CODE_SIZE];
    char tax;                           //  A B M C D
    char party;                         //  A B C D or '-'
} ent_t;

//  A product as the fixture bank config states it
typedef struct {
    char code [FM_CODE_SIZE];
    int64_t min_fen, max_fen;
    bool partial;
    int min_term, max_term;
    char industries [256];              //  "*" or comma list
    char grids [256];
    char min_tax;
    char collateral [16];               //  none any property ...
    bool renewal;
    bool needs_credit;
    int spread, floor;
    char levers [256];
} product_t;

typedef struct {
    char code [FM_CODE_SIZE];
    int lpr_1y, lpr_5y;
    int valid_days;
    product_t products [MAX_PRODUCTS];
    int product_count;
} bank_t;

//  One expected decline reason; optional ones may or may not be listed
typedef struct {
    uint16_t code;
    char product [FM_CODE_SIZE];
    bool optional;
    bool seen;
} reason_t;

//  The model: fixture data plus figures gathered while checking
static ent_t s_ents [MAX_ENTERPRISES];
static int s_ent_count;
static bank_t s_banks [MAX_BANKS];
static int s_policy_party [128];        //  bp by grade letter
static int s_policy_tax [128];
static bool s_verbose;

//  Figures
static int s_offers, s_declines, s_partial_offers, s_floor_offers, s_lpr5_offers;
static int s_rate_ties, s_amount_ties;  //  adjacent offers tied on rate (and amount)
static int s_renewals_routed;           //  banks not asked: renewal at its prior bank
static int s_bank_offers [MAX_BANKS], s_bank_declines [MAX_BANKS];
static int s_reason_hist [120];


//  --------------------------------------------------------------------------
//  Fixture loading

static void
s_load_registry (const char *path)
{
    FILE *file = fopen (path, "r");
    FM_CHECK (file, "cannot open %s", path);
    char line [1024];
    FM_CHECK (fgets (line, sizeof (line), file), "empty %s", path);
    FM_CHECK (streq (line, "credit_code,name,industry,grid_id,tax_grade,"
                     "party_grade,social_insurance_months\n"), "header: %s", line);
    while (fgets (line, sizeof (line), file)) {
        FM_CHECK (s_ent_count < MAX_ENTERPRISES, "too many rows");
        //  The fixture uses no quoting; a quote would need a real parser
        FM_CHECK (!strchr (line, '"'), "quoted field in fixture: %s", line);
        char *fields [7];
        char *cursor = line;
        for (int i = 0; i < 7; i++)
            fields [i] = strsep (&cursor, ",\n");
        FM_CHECK (fields [6], "short row: %s", line);
        ent_t *ent = &s_ents [s_ent_count++];
        snprintf (ent->code, sizeof (ent->code), "%s", fields [0]);
        snprintf (ent->industry, sizeof (ent->industry), "%s", fields [2]);
        snprintf (ent->grid, sizeof (ent->grid), "%s", fields [3]);
        ent->tax = fields [4][0];
        ent->party = fields [5][0];
        //  The fixture's codes must all be valid: they were computed with
        //  the GB 32100 check character, checked here again
        FM_CHECK (fm_credit_code_valid (ent->code), "bad code in fixture: %s", ent->code);
        char first17 [18];
        memcpy (first17, ent->code, 17);
        first17 [17] = 0;
        FM_CHECK (fm_credit_code_check_char (first17) == ent->code [17],
                  "check char of %s", ent->code);
    }
    fclose (file);
    FM_CHECK (s_ent_count >= 20, "want >= 20 enterprises, have %d", s_ent_count);
}

static const char *
s_get (zconfig_t *root, const char *path)
{
    const char *value = zconfig_get (root, path, NULL);
    FM_CHECK (value, "fixture lacks %s", path);
    return value;
}

static void
s_load_bank (bank_t *bank, const char *path)
{
    zconfig_t *root = zconfig_load (path);
    FM_CHECK (root, "cannot load %s", path);
    snprintf (bank->code, sizeof (bank->code), "%s", s_get (root, "bank/code"));
    bank->lpr_1y = atoi (s_get (root, "bank/lpr_1y_bp"));
    bank->lpr_5y = atoi (s_get (root, "bank/lpr_5y_bp"));
    bank->valid_days = atoi (s_get (root, "bank/offer_valid_days"));
    zconfig_t *item = zconfig_child (zconfig_locate (root, "products"));
    for (; item; item = zconfig_next (item)) {
        FM_CHECK (bank->product_count < MAX_PRODUCTS, "too many products");
        product_t *p = &bank->products [bank->product_count++];
        snprintf (p->code, sizeof (p->code), "%s", zconfig_name (item));
        //  The model handles loans only: every request asks for loans
        FM_CHECK (streq (zconfig_get (item, "kind", "?"), "loan"), "kind");
        p->min_fen = atoll (s_get (item, "min_amount_yuan")) * 100;
        p->max_fen = atoll (s_get (item, "max_amount_yuan")) * 100;
        p->partial = atoi (s_get (item, "partial")) == 1;
        p->min_term = atoi (s_get (item, "min_term_months"));
        p->max_term = atoi (s_get (item, "max_term_months"));
        snprintf (p->industries, sizeof (p->industries), "%s", s_get (item, "industries"));
        snprintf (p->grids, sizeof (p->grids), "%s", s_get (item, "grids"));
        p->min_tax = s_get (item, "min_tax_grade") [0];
        snprintf (p->collateral, sizeof (p->collateral), "%s", s_get (item, "collateral"));
        p->renewal = atoi (s_get (item, "renewal")) == 1;
        p->needs_credit = atoi (s_get (item, "needs_credit_data")) == 1;
        p->spread = atoi (s_get (item, "spread_bp"));
        p->floor = atoi (s_get (item, "floor_bp"));
        snprintf (p->levers, sizeof (p->levers), "%s", s_get (item, "levers"));
        //  A grade requirement without credit data is not modelled (the
        //  brief leaves open what a bank does with an unknown grade), so
        //  the fixture must not contain one
        FM_CHECK (p->min_tax == 'D' || p->needs_credit,
                  "%s/%s: min_tax_grade without needs_credit_data", bank->code, p->code);
    }
    FM_CHECK (bank->product_count > 0, "%s has no product", path);
    zconfig_destroy (&root);
}

static void
s_load_policy (const char *path)
{
    zconfig_t *root = zconfig_load (path);
    FM_CHECK (root, "cannot load %s", path);
    const char *grades = "ABMCD";
    for (const char *g = grades; *g; g++) {
        char key [64];
        snprintf (key, sizeof (key), "policy/party_building/%c", *g);
        s_policy_party [(int) *g] = atoi (zconfig_get (root, key, "0"));
        snprintf (key, sizeof (key), "policy/tax_credit/%c", *g);
        s_policy_tax [(int) *g] = atoi (zconfig_get (root, key, "0"));
    }
    zconfig_destroy (&root);
}


//  --------------------------------------------------------------------------
//  The model of the rules

//  A > B > M > C > D
static int
s_grade_rank (char grade)
{
    const char *order = "DCMBA";
    const char *hit = grade ? strchr (order, grade) : NULL;
    return hit ? (int) (hit - order) + 1 : 0;
}

//  True if list is "*" or holds item as one comma-separated entry
static bool
s_list_has (const char *list, const char *item)
{
    if (streq (list, "*"))
        return true;
    size_t len = strlen (item);
    const char *cursor = list;
    while (*cursor) {
        const char *end = strchr (cursor, ',');
        size_t n = end ? (size_t) (end - cursor) : strlen (cursor);
        if (n == len && memcmp (cursor, item, n) == 0)
            return true;
        cursor += n + (end ? 1 : 0);
    }
    return false;
}

static void
s_add_reason (reason_t *reasons, int *count, uint16_t code,
              const char *product, bool optional)
{
    FM_CHECK (*count < MAX_EXPECT, "too many reasons");
    reason_t *r = &reasons [(*count)++];
    memset (r, 0, sizeof (*r));
    r->code = code;
    snprintf (r->product, sizeof (r->product), "%s", product);
    r->optional = optional;
}

//  Failing reasons of one product for a request; returns how many
//  mandatory reasons were added (0 = eligible).
static int
s_product_reasons (const product_t *p, const fm_request_t *req, const ent_t *ent,
                   reason_t *reasons, int *count)
{
    int failures = 0;
    bool tax_shared = (req->consent & FM_CONSENT_TAX) != 0;
#   define FAIL(reason) do { s_add_reason (reasons, count, reason, p->code, false); \
                           failures++; } while (0)
    if (req->amount_fen < p->min_fen)
        FAIL (FM_REASON_AMOUNT_BELOW_MIN);
    if (req->amount_fen > p->max_fen && !p->partial)
        FAIL (FM_REASON_AMOUNT_ABOVE_MAX);
    if (req->term_months < p->min_term || req->term_months > p->max_term)
        FAIL (FM_REASON_TERM_OUT_OF_RANGE);
    if (!s_list_has (p->industries, ent->industry))
        FAIL (FM_REASON_INDUSTRY_NOT_SERVED);
    if (!s_list_has (p->grids, ent->grid))
        FAIL (FM_REASON_GRID_NOT_SERVED);
    if (tax_shared && s_grade_rank (ent->tax) < s_grade_rank (p->min_tax))
        FAIL (FM_REASON_CREDIT_GRADE_TOO_LOW);
    if (!tax_shared && p->min_tax != 'D')
        //  Grade unknown: the bank may list "grade too low" beside 108
        s_add_reason (reasons, count, FM_REASON_CREDIT_GRADE_TOO_LOW, p->code, true);
    if (streq (p->collateral, "any")) {
        if (req->collateral == FM_COLLATERAL_NONE)
            FAIL (FM_REASON_COLLATERAL_REQUIRED);
    }
    else
    if (!streq (p->collateral, "none")
    &&  !streq (p->collateral, fm_collateral_name (req->collateral)))
        FAIL (FM_REASON_COLLATERAL_REQUIRED);
    if (req->type == FM_REQ_RENEWAL && !p->renewal)
        FAIL (FM_REASON_RENEWAL_NOT_OFFERED);
    if (p->needs_credit && !tax_shared)
        FAIL (FM_REASON_NO_CREDIT_CONSENT);
#   undef FAIL
    return failures;
}

//  Levers the government grants this request (by consent and policy);
//  writes codes and bp, returns how many.
static int
s_profile_levers (const fm_request_t *req, const ent_t *ent,
                  const char *codes [2], int bp [2])
{
    int count = 0;
    if ((req->consent & FM_CONSENT_PARTY) && ent->party != '-'
    &&  s_policy_party [(int) ent->party] > 0) {
        codes [count] = "party_building";
        bp [count++] = s_policy_party [(int) ent->party];
    }
    if ((req->consent & FM_CONSENT_TAX) && s_policy_tax [(int) ent->tax] > 0) {
        codes [count] = "tax_credit";
        bp [count++] = s_policy_tax [(int) ent->tax];
    }
    return count;
}


//  --------------------------------------------------------------------------
//  The requests: varied deterministically over enterprise, amount, term,
//  collateral, consent and type

static const int64_t s_amounts_yuan [] = {
    50000, 200000, 600000, 1000000, 2000000, 3000000, 5000000,
    8000000, 12000000, 30000000, 40000000
};
static const int s_terms [] = { 1, 3, 6, 12, 12, 24, 36, 36, 48, 60, 84, 120, 180 };
#define COUNT(a) ((int) (sizeof (a) / sizeof ((a) [0])))

typedef struct {
    fm_request_t request;
    const ent_t *ent;
    char request_id [FM_REQUEST_ID_SIZE];
    int64_t sent_us;
    fm_msg_t *result;                   //  owned once received
} job_t;

static void
s_make_request (int i, job_t *job)
{
    memset (job, 0, sizeof (*job));
    job->ent = &s_ents [(i * 7) % s_ent_count];
    fm_request_t *req = &job->request;
    snprintf (req->enterprise_id, sizeof (req->enterprise_id), "%s", job->ent->code);
    snprintf (req->idem_key, sizeof (req->idem_key), "system-%03d", i);
    req->amount_fen = s_amounts_yuan [(i * 5 + i / 20) % COUNT (s_amounts_yuan)] * 100;
    req->term_months = s_terms [(i * 3 + i / 13) % COUNT (s_terms)];
    snprintf (req->purpose, sizeof (req->purpose), "流动资金周转 #%d", i);
    if (i % 9 == 4) {
        req->type = FM_REQ_RENEWAL;
        snprintf (req->prior_loan_id, sizeof (req->prior_loan_id),
                  "CQRCB-%016x", (unsigned) i);
    }
    req->collateral = (i % 7 < 3) ? FM_COLLATERAL_NONE
                                  : (fm_collateral_t) (1 + i % 4);
    req->consent = (uint32_t) ((i * 3 + i / 8) % 8);
    req->kinds = 0;                     //  loans
    if (i % 40 == 7) {
        //  A manufacturer with tax grade B in a served grid asks 1200万:
        //  ICBC/MORT offers it all and CCB/MFG offers 1000万 (partial) at
        //  the same rate, so the ranking must order them by amount
        job->ent = &s_ents [1];
        FM_CHECK (streq (job->ent->industry, "C39") && job->ent->tax == 'B'
               && streq (job->ent->grid, "JB01"), "fixture row 2 changed");
        snprintf (req->enterprise_id, sizeof (req->enterprise_id), "%s", job->ent->code);
        req->amount_fen = INT64_C (12000000) * 100;
        req->term_months = 24;
        req->collateral = FM_COLLATERAL_PROPERTY;
        req->consent = FM_CONSENT_ALL;
        req->type = FM_REQ_NEW;
        req->prior_loan_id [0] = 0;
    }
    fm_request_id_make (req->enterprise_id, req->idem_key, job->request_id);
}


//  --------------------------------------------------------------------------
//  Checking one result against the model

static int
s_offer_cmp (const fm_offer_t *a, const fm_offer_t *b)
{
    if (a->effective_rate_bp != b->effective_rate_bp)
        return a->effective_rate_bp < b->effective_rate_bp ? -1 : 1;
    if (a->amount_fen != b->amount_fen)
        return a->amount_fen > b->amount_fen ? -1 : 1;
    int rc = strcmp (a->bank, b->bank);
    return rc ? rc : strcmp (a->product, b->product);
}

static void
s_check_offer (job_t *job, const bank_t *bank, const product_t *p,
               const fm_offer_t *offer, int64_t now_us)
{
    const fm_request_t *req = &job->request;
    const char *rid = job->request_id;
    char offer_id [FM_OFFER_ID_SIZE];
    FM_CHECK (snprintf (offer_id, sizeof (offer_id), "%s/%s", bank->code, p->code)
              < (int) sizeof (offer_id), "offer id too long");
    FM_CHECK (streq (offer->bank, bank->code) && streq (offer->product, p->code),
              "%s: offer %s names bank %s product %s", rid, offer_id,
              offer->bank, offer->product);
    FM_CHECK (offer->kind == FM_KIND_LOAN, "%s %s: kind %d", rid, offer_id, offer->kind);
    int64_t amount = (p->partial && req->amount_fen > p->max_fen)
                   ? p->max_fen : req->amount_fen;
    FM_CHECK (offer->amount_fen == amount, "%s %s: amount %" PRId64 " fen, want %"
              PRId64 " (asked %" PRId64 ")", rid, offer_id, offer->amount_fen,
              amount, req->amount_fen);
    FM_CHECK (offer->term_months == req->term_months, "%s %s: term %d, want %d",
              rid, offer_id, offer->term_months, req->term_months);
    int lpr = req->term_months <= 60 ? bank->lpr_1y : bank->lpr_5y;
    int base = lpr + p->spread;
    FM_CHECK (offer->base_rate_bp == base, "%s %s: base %d bp, want LPR %d + spread %d",
              rid, offer_id, offer->base_rate_bp, lpr, p->spread);

    //  Levers: those the government granted and this product honours
    const char *codes [2];
    int bp [2];
    int granted = s_profile_levers (req, job->ent, codes, bp);
    int honoured = 0;
    for (int i = 0; i < granted; i++)
        if (s_list_has (p->levers, codes [i]))
            honoured += bp [i];
    int effective = base - honoured > p->floor ? base - honoured : p->floor;
    FM_CHECK (offer->effective_rate_bp == effective,
              "%s %s: effective %d bp, want max (floor %d, %d - %d)", rid, offer_id,
              offer->effective_rate_bp, p->floor, base, honoured);
    FM_CHECK (offer->effective_rate_bp >= p->floor, "%s %s: below floor", rid, offer_id);
    int sum = 0;
    for (int i = 0; i < offer->lever_count; i++) {
        const fm_lever_t *lever = &offer->levers [i];
        int full = -1;
        for (int j = 0; j < granted; j++)
            if (streq (codes [j], lever->code) && s_list_has (p->levers, codes [j]))
                full = bp [j];
        FM_CHECK (full >= 0, "%s %s: lever %s not granted or not honoured",
                  rid, offer_id, lever->code);
        FM_CHECK (lever->bp >= 0 && lever->bp <= full, "%s %s: lever %s %d bp of %d",
                  rid, offer_id, lever->code, lever->bp, full);
        for (int j = 0; j < i; j++)
            FM_CHECK (!streq (offer->levers [j].code, lever->code), "%s %s: lever %s twice",
                      rid, offer_id, lever->code);
        sum += lever->bp;
    }
    FM_CHECK (offer->effective_rate_bp == offer->base_rate_bp - sum,
              "%s %s: effective %d != base %d - levers %d", rid, offer_id,
              offer->effective_rate_bp, offer->base_rate_bp, sum);
    int64_t valid = (int64_t) bank->valid_days * DAY_US;
    FM_CHECK (offer->valid_until_us >= job->sent_us + valid - SLACK_US
           && offer->valid_until_us <= now_us + valid + SLACK_US,
              "%s %s: valid_until %" PRId64 " not ~ now + %d days", rid, offer_id,
              offer->valid_until_us, bank->valid_days);
    bool without = (req->consent & FM_CONSENT_TAX) == 0;
    FM_CHECK (offer->without_credit_data == without, "%s %s: without_credit_data %d",
              rid, offer_id, offer->without_credit_data);
    if (amount < req->amount_fen)
        s_partial_offers++;
    if (effective == p->floor && base - honoured < p->floor)
        s_floor_offers++;
    if (req->term_months > 60)
        s_lpr5_offers++;
}

static void
s_check_decline (job_t *job, const bank_t *bank, const fm_decline_t *decline,
                 reason_t *expect, int expect_count)
{
    const char *rid = job->request_id;
    FM_CHECK (decline->reason_count > 0, "%s: decline of %s without reasons",
              rid, bank->code);
    for (int i = 0; i < decline->reason_count; i++) {
        const fm_reason_t *got = &decline->reasons [i];
        int hit = -1;
        for (int j = 0; j < expect_count; j++)
            if (expect [j].code == got->code && streq (expect [j].product, got->product))
                hit = j;
        FM_CHECK (hit >= 0, "%s: %s declined with unexpected reason %d (%s) on '%s': %s",
                  rid, bank->code, got->code, fm_reason_name (got->code),
                  got->product, got->text);
        FM_CHECK (!expect [hit].seen, "%s: %s reason %d on %s listed twice",
                  rid, bank->code, got->code, got->product);
        expect [hit].seen = true;
        FM_CHECK (strlen (got->text) > 0, "%s: reason %d without text", rid, got->code);
        if (got->code < 120)
            s_reason_hist [got->code]++;
    }
    for (int j = 0; j < expect_count; j++)
        FM_CHECK (expect [j].seen || expect [j].optional,
                  "%s: %s decline lacks reason %d (%s) on %s (it lists %d reasons)",
                  rid, bank->code, expect [j].code, fm_reason_name (expect [j].code),
                  expect [j].product, decline->reason_count);
}

//  Whether bank b is asked for this request.  A renewal (续贷) whose
//  prior loan "<BANK>-<id>" is at a fixture bank goes to that bank alone
//  first; the others are asked only when it has no offer (declines: the
//  fixture banks never miss).  Every other request asks every bank.
static bool
s_bank_asked (const job_t *job, int b)
{
    const fm_request_t *req = &job->request;
    if (req->type != FM_REQ_RENEWAL)
        return true;
    int prior = -1;
    for (int index = 0; index < MAX_BANKS; index++) {
        size_t length = strlen (s_banks [index].code);
        if (strncmp (req->prior_loan_id, s_banks [index].code, length) == 0
        &&  req->prior_loan_id [length] == '-')
            prior = index;
    }
    if (prior < 0 || prior == b)
        return true;
    for (int k = 0; k < s_banks [prior].product_count; k++) {
        reason_t expect [MAX_EXPECT];
        int expect_count = 0;
        if (s_product_reasons (&s_banks [prior].products [k], req, job->ent,
                               expect, &expect_count) == 0)
            return false;               //  The prior bank offers: done
    }
    return true;
}

static void
s_check_result (job_t *job, int64_t now_us)
{
    fm_msg_t *msg = job->result;
    const char *rid = job->request_id;
    FM_CHECK (msg->type == FM_MSG_RESULT, "%s: got %s (status %d: %s), want result",
              rid, fm_msg_type_name (msg->type), msg->status, msg->text);
    FM_CHECK (msg->status == FM_STATUS_OK, "%s: status %d %s", rid, msg->status, msg->text);
    FM_CHECK (msg->timed_out_count == 0, "%s: bank %s timed out", rid, msg->timed_out [0]);
    bool offered [MAX_BANKS] = { false };
    size_t expected_offers = 0;

    for (int b = 0; b < MAX_BANKS; b++) {
        const bank_t *bank = &s_banks [b];
        if (!s_bank_asked (job, b)) {
            //  Not asked (a renewal its prior bank took): nothing from it
            offered [b] = true;         //  not counted as declining
            for (size_t o = 0; o < msg->offer_count; o++)
                FM_CHECK (strneq (msg->offers [o].bank, bank->code),
                          "%s: renewal offered by %s, not asked", rid, bank->code);
            for (size_t d = 0; d < msg->decline_count; d++)
                FM_CHECK (strneq (msg->declines [d].bank, bank->code),
                          "%s: renewal declined by %s, not asked", rid, bank->code);
            s_renewals_routed++;
            continue;
        }
        reason_t expect [MAX_EXPECT];
        int expect_count = 0;
        int eligible = 0;
        for (int k = 0; k < bank->product_count; k++) {
            const product_t *p = &bank->products [k];
            char offer_id [FM_OFFER_ID_SIZE];
            FM_CHECK (snprintf (offer_id, sizeof (offer_id), "%s/%s", bank->code, p->code)
              < (int) sizeof (offer_id), "offer id too long");
            const fm_offer_t *offer = NULL;
            for (size_t o = 0; o < msg->offer_count; o++)
                if (streq (msg->offers [o].offer_id, offer_id))
                    offer = &msg->offers [o];
            int before = expect_count;
            if (s_product_reasons (p, &job->request, job->ent, expect, &expect_count) == 0) {
                //  Eligible: its optional notes do not apply
                expect_count = before;
                eligible++;
                FM_CHECK (offer, "%s: %s is eligible at %s but not offered",
                          rid, p->code, bank->code);
                s_check_offer (job, bank, p, offer, now_us);
            }
            else
                FM_CHECK (!offer, "%s: %s offered though it fails reason %d",
                          rid, offer_id, expect [before].code);
        }
        expected_offers += eligible;
        offered [b] = eligible > 0;
        const fm_decline_t *decline = NULL;
        for (size_t d = 0; d < msg->decline_count; d++)
            if (streq (msg->declines [d].bank, bank->code)) {
                FM_CHECK (!decline, "%s: two declines from %s", rid, bank->code);
                decline = &msg->declines [d];
            }
        if (eligible) {
            FM_CHECK (!decline, "%s: %s offers and declines", rid, bank->code);
            s_bank_offers [b] += eligible;
        }
        else {
            FM_CHECK (decline, "%s: %s neither offers nor declines", rid, bank->code);
            s_check_decline (job, bank, decline, expect, expect_count);
            s_bank_declines [b]++;
        }
    }
    FM_CHECK (msg->offer_count == expected_offers, "%s: %zu offers, want %zu",
              rid, msg->offer_count, expected_offers);
    size_t declining = 0;
    for (int b = 0; b < MAX_BANKS; b++)
        declining += offered [b] ? 0 : 1;
    FM_CHECK (msg->decline_count == declining, "%s: %zu declines, want %zu",
              rid, msg->decline_count, declining);
    for (size_t o = 1; o < msg->offer_count; o++) {
        const fm_offer_t *a = &msg->offers [o - 1], *b = &msg->offers [o];
        FM_CHECK (s_offer_cmp (a, b) < 0, "%s: offers %s (%d bp, %" PRId64 " fen) and "
                  "%s (%d bp, %" PRId64 " fen) out of rank order", rid, a->offer_id,
                  a->effective_rate_bp, a->amount_fen, b->offer_id,
                  b->effective_rate_bp, b->amount_fen);
        if (a->effective_rate_bp == b->effective_rate_bp) {
            s_rate_ties++;
            if (a->amount_fen == b->amount_fen)
                s_amount_ties++;
        }
    }
    s_offers += (int) msg->offer_count;
    s_declines += (int) msg->decline_count;
    if (s_verbose)
        zsys_info ("%s %s %" PRId64 " fen %d months consent %u collateral %s: "
                   "%zu offers%s%s, %zu declines", rid, job->ent->code,
                   job->request.amount_fen, job->request.term_months,
                   job->request.consent, fm_collateral_name (job->request.collateral),
                   msg->offer_count, msg->offer_count ? ", top " : "",
                   msg->offer_count ? msg->offers [0].offer_id : "", msg->decline_count);
}


//  --------------------------------------------------------------------------
//  The event log

//  First column of the first row of sql as an integer, with optional text
//  parameters (NULL-terminated); -1 on any error (missing table...)
static int64_t
s_db_int (sqlite3 *db, const char *sql, ...)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) != SQLITE_OK)
        return -1;
    va_list args;
    va_start (args, sql);
    const char *text;
    int index = 1;
    while ((text = va_arg (args, const char *)))
        sqlite3_bind_text (stmt, index++, text, -1, SQLITE_TRANSIENT);
    va_end (args);
    int64_t value = -1;
    if (sqlite3_step (stmt) == SQLITE_ROW)
        value = sqlite3_column_int64 (stmt, 0);
    sqlite3_finalize (stmt);
    return value;
}

//  Rows of one event type, or -1 if the DB is not readable yet
static int64_t
s_db_count (const char *path, const char *type)
{
    return fm_proc_db_int (path, "SELECT COUNT(*) FROM events WHERE type = ?", type, NULL);
}

typedef struct {
    const char *db;
    const char *type;
    int64_t want;
} db_wait_t;

static bool
s_db_has_all (void *arg)
{
    db_wait_t *waits = (db_wait_t *) arg;
    for (; waits->type; waits++)
        if (s_db_count (waits->db, waits->type) != waits->want)
            return false;
    return true;
}

//  Keys: a certificate with role and identity, its public file in the
//  broker's certificate directory (certs, unless NULL) and its secret in
//  keys (mode 0600, as finmatch keygen writes it).  Returns the
//  certificate (caller owns); the secret is "<keys>/<name>_secret".
static zcert_t *
s_keygen (const char *certs, const char *keys, const char *name,
          const char *role, const char *meta, const char *value)
{
    zcert_t *cert = zcert_new ();
    FM_CHECK (cert, "zcert_new");
    zcert_set_meta (cert, FM_CERT_ROLE, "%s", role);
    if (meta)
        zcert_set_meta (cert, meta, "%s", value);
    char *secret = zsys_sprintf ("%s/%s_secret", keys, name);
    FM_CHECK (zcert_save_secret (cert, secret) == 0 && chmod (secret, 0600) == 0,
              "cannot write %s", secret);
    free (secret);
    if (certs) {
        char *public = zsys_sprintf ("%s/%s", certs, name);
        FM_CHECK (zcert_save_public (cert, public) == 0, "cannot write %s", public);
        free (public);
    }
    return cert;
}

//  The client of each enterprise, made with its own key
typedef struct {
    char code [FM_ENTERPRISE_ID_SIZE];
    fm_client_t *client;
} ent_client_t;

static ent_client_t s_ent_clients [MAX_ENTERPRISES + 1];
static int s_ent_client_count;

static fm_client_t *
s_client_of (const char *code)
{
    for (int i = 0; i < s_ent_client_count; i++)
        if (streq (s_ent_clients [i].code, code))
            return s_ent_clients [i].client;
    FM_CHECK (false, "no client for enterprise %s", code);
    return NULL;
}

//  The enterprise client whose socket is which, or NULL
static fm_client_t *
s_client_by_sock (void *which)
{
    for (int i = 0; i < s_ent_client_count; i++)
        if (fm_client_sock (s_ent_clients [i].client) == which)
            return s_ent_clients [i].client;
    return NULL;
}

//  --------------------------------------------------------------------------

int
main (int argc, char *argv [])
{
    s_verbose = argc > 1 && streq (argv [1], "-v");
    zsys_init ();
    zsys_set_logident ("test_system");
    fm_proc_setup ("system", argv [0]);
    int64_t started = zclock_mono ();

    //  The model, from the fixtures
    char *registry = fm_proc_source_path ("tests/data/system/enterprises.csv");
    char *gov_fixture = fm_proc_source_path ("tests/data/system/gov.cfg");
    s_load_registry (registry);
    s_load_policy (gov_fixture);
    char *bank_fixture [MAX_BANKS];
    for (int b = 0; b < MAX_BANKS; b++) {
        bank_fixture [b] = fm_proc_source_path ("tests/data/system/%s.cfg", s_bank_files [b]);
        s_load_bank (&s_banks [b], bank_fixture [b]);
    }

    //  The request mix must exercise every rule of the fixture, else the
    //  checks below prove little: check the model before starting anything
    int model_offers [MAX_BANKS] = { 0 }, model_declines [MAX_BANKS] = { 0 };
    int model_reasons [120] = { 0 };
    for (int i = 0; i < REQUESTS; i++) {
        job_t job;
        s_make_request (i, &job);
        for (int b = 0; b < MAX_BANKS; b++) {
            if (!s_bank_asked (&job, b))
                continue;
            reason_t expect [MAX_EXPECT];
            int expect_count = 0, eligible = 0;
            for (int k = 0; k < s_banks [b].product_count; k++) {
                int before = expect_count;
                if (s_product_reasons (&s_banks [b].products [k], &job.request,
                                       job.ent, expect, &expect_count) == 0) {
                    expect_count = before;
                    eligible++;
                }
            }
            model_offers [b] += eligible;
            model_declines [b] += eligible ? 0 : 1;
            for (int r = 0; r < expect_count && !eligible; r++)
                if (!expect [r].optional)
                    model_reasons [expect [r].code]++;
        }
    }
    for (int b = 0; b < MAX_BANKS; b++)
        FM_CHECK (model_offers [b] > 0 && model_declines [b] > 0,
                  "model coverage: %s %d offers %d declines", s_banks [b].code,
                  model_offers [b], model_declines [b]);
    const uint16_t covered [] = { 101, 102, 103, 104, 105, 106, 107, 108, 110 };
    for (size_t i = 0; i < sizeof (covered) / sizeof (covered [0]); i++)
        FM_CHECK (model_reasons [covered [i]] > 0, "model coverage: reason %d never",
                  covered [i]);

    //  Ports chosen now; a bind race with another test shows as the broker
    //  exiting, which fm_proc_wait_until reports with its log
    fm_proc_system_t *sys = fm_proc_system_new (START_MS);
    const char *router = sys->router;
    char deadline [16];
    snprintf (deadline, sizeof (deadline), "%d", DEADLINE_MS);

    //  0. Keys.  certs: public certificates the broker admits; keys: the
    //  secrets and the broker's public certificate, which peers verify
    char *certs = fm_proc_tmp_path ("certs");
    char *keys = fm_proc_tmp_path ("keys");
    FM_CHECK (mkdir (certs, 0700) == 0 && mkdir (keys, 0700) == 0, "key dirs");
    zcert_t *broker_cert = s_keygen (NULL, keys, "broker", FM_ROLE_BROKER, NULL, NULL);
    char *broker_public = fm_proc_tmp_path ("keys/broker");
    FM_CHECK (zcert_save_public (broker_cert, broker_public) == 0, "broker public");
    char *broker_secret = fm_proc_tmp_path ("keys/broker_secret");
    const char *broker_key = zcert_public_txt (broker_cert);
    zcert_t *cert = s_keygen (certs, keys, "gov", FM_ROLE_GOV, NULL, NULL);
    zcert_destroy (&cert);
    cert = s_keygen (certs, keys, "recorder", FM_ROLE_MONITOR, NULL, NULL);
    zcert_destroy (&cert);
    for (int b = 0; b < MAX_BANKS; b++) {
        cert = s_keygen (certs, keys, s_bank_files [b], FM_ROLE_BANK, FM_CERT_BANK,
                         s_banks [b].code);
        zcert_destroy (&cert);
    }
    //  The operator (MMI probes, the recorder probe) is a monitor
    cert = s_keygen (certs, keys, "operator", FM_ROLE_MONITOR, NULL, NULL);
    fm_curve_t *operator_curve = fm_curve_new_from (cert, broker_key);
    FM_CHECK (operator_curve, "operator keys");
    zcert_destroy (&cert);
    char unknown [FM_ENTERPRISE_ID_SIZE] = "91500105MA99999999";
    unknown [17] = fm_credit_code_check_char (unknown);
    unknown [18] = 0;
    FM_CHECK (fm_credit_code_valid (unknown), "unknown code %s", unknown);
    for (int i = 0; i <= s_ent_count; i++) {
        //  Every fixture enterprise, and last the unregistered one
        const char *code = i < s_ent_count? s_ents [i].code: unknown;
        char name [32];
        snprintf (name, sizeof (name), "ent-%.*s", FM_ENTERPRISE_ID_SIZE - 1, code);
        cert = s_keygen (certs, keys, name, FM_ROLE_ENTERPRISE, FM_CERT_ENTERPRISE, code);
        snprintf (s_ent_clients [i].code, FM_ENTERPRISE_ID_SIZE, "%.*s",
                  FM_ENTERPRISE_ID_SIZE - 1, code);
        fm_curve_t *curve = fm_curve_new_from (cert, broker_key);
        FM_CHECK (curve, "enterprise keys");
        s_ent_clients [i].client = fm_client_new_secure (router, curve);
        FM_CHECK (s_ent_clients [i].client, "fm_client_new_secure %s", router);
        s_ent_client_count = i + 1;
        fm_curve_destroy (&curve);
        zcert_destroy (&cert);
    }
    char *gov_secret = fm_proc_tmp_path ("keys/gov_secret");
    char *recorder_secret = fm_proc_tmp_path ("keys/recorder_secret");
    char *bank_secret [MAX_BANKS];
    for (int b = 0; b < MAX_BANKS; b++)
        bank_secret [b] = fm_proc_tmp_path ("keys/%s_secret", s_bank_files [b]);

    //  1. Broker, secured
    const char *broker_args [] = { "--cert", broker_secret, "--certs", certs, NULL };
    fm_proc_t *broker = fm_proc_system_broker (sys, broker_args,
                                               "broker/deadline_ms", deadline, NULL);
    fm_client_t *client = fm_client_new_secure (router, operator_curve);
    FM_CHECK (client, "fm_client_new_secure %s", router);
    sys->client = client;
    fm_proc_system_wait_service (sys, FM_SERVICE_REQUEST);

    //  2. Recorder, subscribed before any worker exists
    const char *recorder_args [] = { "--cert", recorder_secret,
                                     "--broker-key", broker_public, NULL };
    fm_proc_t *recorder = fm_proc_system_recorder (sys, recorder_args, NULL);
    const char *db = sys->db;
    zsock_t *probe = zsock_new (ZMQ_DEALER);
    FM_CHECK (probe, "probe socket");
    FM_CHECK (fm_curve_apply_client (operator_curve, probe) == 0, "probe keys");
    FM_CHECK (zsock_connect (probe, "%s", router) == 0, "probe connect");
    zsock_set_rcvtimeo (probe, REPLY_MS);
    int probes = fm_proc_system_wait_recorder (sys, probe);
    zsock_destroy (&probe);

    //  3. Government and banks
    const char *gov_args [] = { "--cert", gov_secret, "--broker-key", broker_public, NULL };
    fm_proc_t *gov = fm_proc_system_gov (sys, "tests/data/system/gov.cfg", gov_args,
                                         "gov/registry", registry, NULL);
    fm_proc_t *banks [MAX_BANKS];
    for (int b = 0; b < MAX_BANKS; b++) {
        const char *bank_args [] = { "--cert", bank_secret [b],
                                     "--broker-key", broker_public, NULL };
        banks [b] = fm_proc_system_bank (sys, s_bank_files [b], bank_fixture [b], bank_args,
                                         NULL);
    }
    fm_proc_system_wait_service (sys, FM_SERVICE_GOV);
    for (int b = 0; b < MAX_BANKS; b++) {
        char service [FM_SERVICE_SIZE];
        FM_CHECK (snprintf (service, sizeof (service), "bank.%s", s_banks [b].code)
                  < (int) sizeof (service), "service name too long");
        fm_proc_system_wait_service (sys, service);
    }
    fm_proc_db_wait (db, "SELECT COUNT(*) FROM events WHERE type = ?", "worker.ready",
                     1 + MAX_BANKS, START_MS);
    zsys_info ("system: 6 processes up in %" PRId64 " ms (%d recorder probes)",
               zclock_mono () - started, probes);

    //  4. An enterprise the registry does not hold: ERROR 404
    fm_error_t err;
    fm_msg_t *msg = fm_msg_new (FM_MSG_REQUEST);
    for (int i = 0; i < s_ent_count; i++)
        FM_CHECK (!streq (s_ents [i].code, unknown), "%s is in the fixture", unknown);
    snprintf (msg->request.enterprise_id, FM_ENTERPRISE_ID_SIZE, "%s", unknown);
    snprintf (msg->request.idem_key, FM_IDEM_KEY_SIZE, "system-unknown");
    msg->request.amount_fen = INT64_C (100000000);
    msg->request.term_months = 12;
    msg->request.consent = FM_CONSENT_ALL;
    FM_CHECK (fm_client_send (s_client_of (unknown), FM_SERVICE_REQUEST, msg, &err) == 0,
              "send: %d %s", err.status, err.text);
    fm_msg_destroy (&msg);
    msg = fm_client_recv (s_client_of (unknown), REPLY_MS, &err);
    FM_CHECK (msg, "no reply for unknown enterprise (%d %s)", err.status, err.text);
    FM_CHECK (msg->type == FM_MSG_ERROR && msg->status == FM_STATUS_NOT_FOUND,
              "unknown enterprise: got %s status %d (%s), want error 404",
              fm_msg_type_name (msg->type), msg->status, msg->text);
    fm_msg_destroy (&msg);

    //  5. 200 requests, WINDOW in flight, each on its enterprise's own
    //  connection; replies come on any of them
    zpoller_t *poller = zpoller_new (NULL);
    FM_CHECK (poller, "poller");
    for (int i = 0; i < s_ent_client_count; i++)
        FM_CHECK (zpoller_add (poller, fm_client_sock (s_ent_clients [i].client)) == 0,
                  "zpoller_add");
    job_t *jobs = (job_t *) zmalloc (REQUESTS * sizeof (job_t));
    for (int i = 0; i < REQUESTS; i++)
        s_make_request (i, &jobs [i]);
    int64_t batch_start = zclock_mono ();
    int sent = 0, done = 0;
    while (done < REQUESTS) {
        while (sent < REQUESTS && sent - done < WINDOW) {
            msg = fm_msg_new (FM_MSG_REQUEST);
            msg->request = jobs [sent].request;
            jobs [sent].sent_us = zclock_time () * 1000;
            FM_CHECK (fm_client_send (s_client_of (jobs [sent].ent->code),
                                      FM_SERVICE_REQUEST, msg, &err) == 0,
                      "request %d invalid: %d %s", sent, err.status, err.text);
            fm_msg_destroy (&msg);
            sent++;
        }
        void *which = zpoller_wait (poller, REPLY_MS);
        FM_CHECK (which, "no reply within %d ms; %d of %d answered", REPLY_MS, done, sent);
        fm_client_t *from = s_client_by_sock (which);
        FM_CHECK (from, "reply on a socket of no enterprise");
        msg = fm_client_recv (from, 0, &err);
        FM_CHECK (msg, "undecodable reply (%d %s); %d of %d answered",
                  err.status, err.text, done, sent);
        job_t *job = NULL;
        for (int i = 0; i < sent; i++)
            if (streq (jobs [i].request_id, msg->request_id))
                job = &jobs [i];
        FM_CHECK (job, "reply %s for no request of ours (status %d %s)",
                  msg->request_id, msg->status, msg->text);
        FM_CHECK (from == s_client_of (job->ent->code),
                  "reply %s came on another enterprise's connection", job->request_id);
        FM_CHECK (!job->result, "second reply for %s", job->request_id);
        job->result = msg;
        s_check_result (job, zclock_time () * 1000 + 1000);
        done++;
    }
    int64_t batch_ms = zclock_mono () - batch_start;

    //  Coverage: the fixture and the request mix must exercise the rules,
    //  else the checks above prove little
    for (int b = 0; b < MAX_BANKS; b++)
        FM_CHECK (s_bank_offers [b] > 0 && s_bank_declines [b] > 0,
                  "coverage: %s made %d offers, %d declines", s_banks [b].code,
                  s_bank_offers [b], s_bank_declines [b]);
    for (size_t i = 0; i < sizeof (covered) / sizeof (covered [0]); i++)
        FM_CHECK (s_reason_hist [covered [i]] > 0, "coverage: reason %d never seen",
                  covered [i]);
    //  Renewals went to their prior bank alone when it offered
    FM_CHECK (s_renewals_routed > 0, "coverage: no renewal routed to its prior bank alone");
    FM_CHECK (s_partial_offers > 0 && s_floor_offers > 0 && s_lpr5_offers > 0,
              "coverage: partial %d floor %d lpr5 %d", s_partial_offers,
              s_floor_offers, s_lpr5_offers);
    //  Both tie-breaks of the ranking: by amount, and by bank code
    FM_CHECK (s_rate_ties > s_amount_ties && s_amount_ties > 0,
              "coverage: %d rate ties, %d of them on amount too", s_rate_ties,
              s_amount_ties);

    //  6. Another enterprise's key may not accept: 403 (and auth.denied),
    //  nothing accepted.  Then accept the top offer of ACCEPTS requests,
    //  each with its own enterprise's key
    for (int i = 0; i < REQUESTS; i++) {
        job_t *job = &jobs [i];
        if (job->result->offer_count == 0)
            continue;
        const ent_t *other = &s_ents [(job->ent - s_ents + 1) % s_ent_count];
        FM_CHECK (other != job->ent, "fixture has one enterprise");
        msg = fm_msg_new (FM_MSG_ACCEPT);
        snprintf (msg->request_id, FM_REQUEST_ID_SIZE, "%s", job->request_id);
        snprintf (msg->request.enterprise_id, FM_ENTERPRISE_ID_SIZE, "%s", job->ent->code);
        snprintf (msg->offer_id, FM_OFFER_ID_SIZE, "%s", job->result->offers [0].offer_id);
        fm_client_t *thief = s_client_of (other->code);
        FM_CHECK (fm_client_send (thief, FM_SERVICE_ACCEPT, msg, &err) == 0,
                  "accept invalid: %d %s", err.status, err.text);
        fm_msg_destroy (&msg);
        msg = fm_client_recv (thief, REPLY_MS, &err);
        FM_CHECK (msg, "no answer to a foreign accept (%d %s)", err.status, err.text);
        FM_CHECK (msg->type == FM_MSG_ERROR && msg->status == FM_STATUS_FORBIDDEN,
                  "%s accepting %s's offer: got %s %d %s, want error 403", other->code,
                  job->ent->code, fm_msg_type_name (msg->type), msg->status, msg->text);
        fm_msg_destroy (&msg);
        break;
    }
    int accepts = 0;
    job_t *accepted [ACCEPTS];
    for (int i = 0; i < REQUESTS && accepts < ACCEPTS; i++) {
        job_t *job = &jobs [i];
        if (job->result->offer_count == 0)
            continue;
        msg = fm_msg_new (FM_MSG_ACCEPT);
        snprintf (msg->request_id, FM_REQUEST_ID_SIZE, "%s", job->request_id);
        snprintf (msg->request.enterprise_id, FM_ENTERPRISE_ID_SIZE, "%s", job->ent->code);
        snprintf (msg->offer_id, FM_OFFER_ID_SIZE, "%s", job->result->offers [0].offer_id);
        FM_CHECK (fm_client_send (s_client_of (job->ent->code), FM_SERVICE_ACCEPT,
                                  msg, &err) == 0,
                  "accept invalid: %d %s", err.status, err.text);
        fm_msg_destroy (&msg);
        accepted [accepts++] = job;
    }
    FM_CHECK (accepts == ACCEPTS, "only %d requests had offers to accept", accepts);
    for (int n = 0; n < accepts; n++) {
        void *which = zpoller_wait (poller, REPLY_MS);
        FM_CHECK (which, "no confirmation within %d ms", REPLY_MS);
        fm_client_t *from = s_client_by_sock (which);
        FM_CHECK (from, "confirmation on a socket of no enterprise");
        msg = fm_client_recv (from, 0, &err);
        FM_CHECK (msg, "no confirmation (%d %s)", err.status, err.text);
        job_t *job = NULL;
        for (int i = 0; i < accepts; i++)
            if (streq (accepted [i]->request_id, msg->request_id))
                job = accepted [i];
        FM_CHECK (job, "confirmation for %s, not accepted", msg->request_id);
        const fm_offer_t *offer = &job->result->offers [0];
        const fm_confirmation_t *c = &msg->confirmation;
        FM_CHECK (msg->type == FM_MSG_CONFIRMATION, "%s: accept answered %s %d %s",
                  job->request_id, fm_msg_type_name (msg->type), msg->status, msg->text);
        FM_CHECK (c->granted, "%s: %s withdrawn: %s", job->request_id, offer->offer_id, c->text);
        char loan_id [FM_LOAN_ID_SIZE];
        FM_CHECK (snprintf (loan_id, sizeof (loan_id), "%s-%s", offer->bank,
                            job->request_id) < (int) sizeof (loan_id), "loan id");
        FM_CHECK (streq (c->loan_id, loan_id), "loan id %s, want %s", c->loan_id, loan_id);
        FM_CHECK (streq (c->offer_id, offer->offer_id) && streq (c->bank, offer->bank),
                  "%s: confirmation for %s", job->request_id, c->offer_id);
        FM_CHECK (c->amount_fen == offer->amount_fen && c->term_months == offer->term_months
               && c->base_rate_bp == offer->base_rate_bp
               && c->effective_rate_bp == offer->effective_rate_bp,
                  "%s: confirmation terms differ from the offer", job->request_id);
        fm_msg_destroy (&msg);
    }

    //  7. The event log: wait until the recorder has everything, stop it
    //  (it flushes on SIGTERM), then read the database alone
    db_wait_t want [] = {
        { db, "request.received", REQUESTS + 1 },
        { db, "input.rejected", probes },   //  replayed: sent before SUB
        { db, "request.enriched", REQUESTS },
        { db, "request.dispatched", REQUESTS },
        { db, "request.completed", REQUESTS + 1 },
        { db, "offer.made", s_offers },
        { db, "decline.made", s_declines },
        { db, "bank.timeout", 0 },
        { db, "offer.accepted", accepts },
        { db, "loan.granted", accepts },
        { db, "offer.withdrawn", 0 },
        { db, "reply.late", 0 },
        { db, "auth.denied", 1 },       //  the foreign accept
        { NULL, NULL, 0 }
    };
    //  On timeout the exact comparison below says which count is off
    fm_proc_wait_until (s_db_has_all, want, 10000, 100);
    int rc = fm_proc_stop (recorder, 10000);
    FM_CHECK (rc == 0, "finmatch-recorder exited %d on SIGTERM", rc);

    sqlite3 *sql = fm_proc_db_open (db);
    FM_CHECK (sql, "cannot open %s", db);
    printf ("system: %d requests + 1 unknown in %" PRId64 " ms (%.0f/s): %d offers, "
            "%d declines, %d partial, %d at floor, %d on 5y LPR, %d rank ties "
            "(%d on amount too)\n",
            REQUESTS, batch_ms, REQUESTS * 1000.0 / (batch_ms ? batch_ms : 1),
            s_offers, s_declines, s_partial_offers, s_floor_offers, s_lpr5_offers,
            s_rate_ties, s_amount_ties);
    for (int b = 0; b < MAX_BANKS; b++)
        printf ("system:   bank %-6s %3d offers %3d declines\n", s_banks [b].code,
                s_bank_offers [b], s_bank_declines [b]);
    printf ("system:   reasons:");
    for (int code = 101; code <= 111; code++)
        if (s_reason_hist [code])
            printf (" %d×%d", code, s_reason_hist [code]);
    printf ("\nsystem: events by type:\n");
    sqlite3_stmt *stmt;
    FM_CHECK (sqlite3_prepare_v2 (sql, "SELECT type, COUNT(*) FROM events GROUP BY type "
              "ORDER BY type", -1, &stmt, NULL) == SQLITE_OK, "%s", sqlite3_errmsg (sql));
    while (sqlite3_step (stmt) == SQLITE_ROW)
        printf ("system:   %-20s %6lld\n", sqlite3_column_text (stmt, 0),
                (long long) sqlite3_column_int64 (stmt, 1));
    sqlite3_finalize (stmt);
    fflush (stdout);

    for (db_wait_t *w = want; w->type; w++) {
        int64_t count = s_db_int (sql, "SELECT COUNT(*) FROM events WHERE type = ?",
                                  w->type, NULL);
        FM_CHECK (count == w->want, "events %s: %" PRId64 ", want %" PRId64,
                  w->type, count, w->want);
    }
    //  A worker.ready for each worker service (gov + banks)
    int64_t services = s_db_int (sql, "SELECT COUNT(DISTINCT service) FROM events "
                                 "WHERE type = 'worker.ready' AND (service = ? OR "
                                 "service IN (?, ?, ?))", FM_SERVICE_GOV, "bank.CQRCB",
                                 "bank.CCB", "bank.ICBC", NULL);
    FM_CHECK (services == 1 + MAX_BANKS, "worker.ready for %" PRId64 " of %d services",
              services, 1 + MAX_BANKS);
    FM_CHECK (s_db_int (sql, "SELECT COUNT(*) FROM events WHERE type = 'worker.expired'",
                        NULL) == 0, "a worker expired during the test");

    //  Every offer and decline of the results is in the log, as sent
    FM_CHECK (sqlite3_prepare_v2 (sql, "SELECT COUNT(*) FROM events WHERE type = "
              "'offer.made' AND " FM_STORE_OF_REQUEST ("?") " AND offer_id = ? AND bank = ? AND "
              "product = ? AND amount_fen = ? AND term_months = ? AND base_rate_bp = ? "
              "AND effective_rate_bp = ? AND enterprise_id = ?", -1, &stmt, NULL)
              == SQLITE_OK, "%s", sqlite3_errmsg (sql));
    for (int i = 0; i < REQUESTS; i++) {
        fm_msg_t *result = jobs [i].result;
        for (size_t o = 0; o < result->offer_count; o++) {
            const fm_offer_t *offer = &result->offers [o];
            sqlite3_reset (stmt);
            sqlite3_bind_text (stmt, 1, jobs [i].request_id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text (stmt, 2, offer->offer_id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text (stmt, 3, offer->bank, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text (stmt, 4, offer->product, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int64 (stmt, 5, offer->amount_fen);
            sqlite3_bind_int (stmt, 6, offer->term_months);
            sqlite3_bind_int (stmt, 7, offer->base_rate_bp);
            sqlite3_bind_int (stmt, 8, offer->effective_rate_bp);
            sqlite3_bind_text (stmt, 9, jobs [i].ent->code, -1, SQLITE_TRANSIENT);
            FM_CHECK (sqlite3_step (stmt) == SQLITE_ROW && sqlite3_column_int (stmt, 0) == 1,
                      "offer.made %s %s not recorded as offered", jobs [i].request_id,
                      offer->offer_id);
        }
    }
    sqlite3_finalize (stmt);
    FM_CHECK (sqlite3_prepare_v2 (sql, "SELECT COUNT(*) FROM events WHERE type = "
              "'decline.made' AND " FM_STORE_OF_REQUEST ("?") " AND bank = ? AND reason_code = ?",
              -1, &stmt, NULL) == SQLITE_OK, "%s", sqlite3_errmsg (sql));
    for (int i = 0; i < REQUESTS; i++) {
        fm_msg_t *result = jobs [i].result;
        for (size_t d = 0; d < result->decline_count; d++) {
            const fm_decline_t *decline = &result->declines [d];
            sqlite3_reset (stmt);
            sqlite3_bind_text (stmt, 1, jobs [i].request_id, -1, SQLITE_TRANSIENT);
            sqlite3_bind_text (stmt, 2, decline->bank, -1, SQLITE_TRANSIENT);
            sqlite3_bind_int (stmt, 3, decline->reasons [0].code);
            FM_CHECK (sqlite3_step (stmt) == SQLITE_ROW && sqlite3_column_int (stmt, 0) == 1,
                      "decline.made %s %s (first reason %d) not recorded",
                      jobs [i].request_id, decline->bank, decline->reasons [0].code);
        }
    }
    sqlite3_finalize (stmt);
    for (int n = 0; n < accepts; n++)
        FM_CHECK (s_db_int (sql, "SELECT COUNT(*) FROM events WHERE type = 'loan.granted' "
                            "AND " FM_STORE_OF_REQUEST ("?") " AND offer_id = ?", accepted [n]->request_id,
                            accepted [n]->result->offers [0].offer_id, NULL) == 1,
                  "loan.granted %s not recorded", accepted [n]->request_id);

    //  Sequence numbers: one epoch, contiguous from 1 to the last, no gap
    //  rows: the events published before the recorder's SUB connected
    //  (the probes' input.rejected) came back through fm.replay
    FM_CHECK (s_db_int (sql, "SELECT COUNT(DISTINCT epoch) FROM events", NULL) == 1,
              "more than one epoch");
    int64_t first = s_db_int (sql, "SELECT MIN(seq) FROM events", NULL);
    int64_t last = s_db_int (sql, "SELECT MAX(seq) FROM events", NULL);
    int64_t rows = s_db_int (sql, "SELECT COUNT(*) FROM events", NULL);
    int64_t gaps = s_db_int (sql, "SELECT COUNT(*) FROM gaps", NULL);
    int64_t probes_recorded = s_db_int (sql, "SELECT COUNT(*) FROM events WHERE "
                                        "type = 'input.rejected'", NULL);
    printf ("system: seq %" PRId64 "..%" PRId64 ", %" PRId64 " rows, %" PRId64
            " gap rows, %d probes (%" PRId64 " recorded)\n", first, last, rows, gaps,
            probes, probes_recorded);
    FM_CHECK (first == 1, "first seq %" PRId64 ": the start was not replayed", first);
    FM_CHECK (rows == last, "seq not contiguous: %" PRId64 " rows for 1..%" PRId64,
              rows, last);
    FM_CHECK (gaps == 0, "%" PRId64 " gap rows", gaps);
    FM_CHECK (probes_recorded == probes, "%" PRId64 " of %d probes recorded",
              probes_recorded, probes);
    sqlite3_close (sql);

    //  8. Everyone stops cleanly on SIGTERM
    fm_client_destroy (&sys->client);
    zpoller_destroy (&poller);
    for (int i = 0; i < s_ent_client_count; i++)
        fm_client_destroy (&s_ent_clients [i].client);
    fm_curve_destroy (&operator_curve);
    for (int b = 0; b < MAX_BANKS; b++) {
        rc = fm_proc_stop (banks [b], 5000);
        FM_CHECK (rc == 0, "finmatch-bank %s exited %d on SIGTERM", s_banks [b].code, rc);
    }
    rc = fm_proc_stop (gov, 5000);
    FM_CHECK (rc == 0, "finmatch-gov exited %d on SIGTERM", rc);
    rc = fm_proc_stop (broker, 5000);
    FM_CHECK (rc == 0, "finmatch-broker exited %d on SIGTERM", rc);

    for (int i = 0; i < REQUESTS; i++)
        fm_msg_destroy (&jobs [i].result);
    free (jobs);
    for (int b = 0; b < MAX_BANKS; b++) {
        zstr_free (&bank_fixture [b]);
        zstr_free (&bank_secret [b]);
    }
    zcert_destroy (&broker_cert);
    zstr_free (&broker_public);
    zstr_free (&broker_secret);
    zstr_free (&gov_secret);
    zstr_free (&recorder_secret);
    zstr_free (&certs);
    zstr_free (&keys);
    fm_proc_system_destroy (&sys);
    zstr_free (&registry);
    zstr_free (&gov_fixture);
    printf ("system: OK in %" PRId64 " ms\n", zclock_mono () - started);
    return fm_proc_teardown (true);
}
