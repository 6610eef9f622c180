/*  =========================================================================
    fm_bank - a bank's products and the matching rules

    The bank is loaded once from ZPL and never changes afterwards, so
    answering is a pure function of (bank, query, now): no locks, no I/O.
    Products keep their file order, which is the order of offers and of
    decline reasons, so answers are deterministic.

    Costs: an answer is O(products x (levers + list entries)); with the
    bound of FM_MAX_OFFERS products that is microseconds.

    Config checks happen at load so that answering never meets a bad
    value: LPR + spread must be a valid rate for every term the product
    serves, and the floor may not exceed that base (otherwise "effective
    = max (floor, ...)" would price above the base rate).
    =========================================================================
*/

#include "fm_bank.h"
#include "fm_money.h"
#include "fm_text.h"

#include <stdarg.h>
#include <time.h>

//  Terms up to this many months are priced on the 1-year LPR, longer
//  ones on the 5-year LPR (PBoC LPR convention)
#define FM_LPR_1Y_MAX_TERM      60
//  Longest comma list (industries, grids, levers) in a product
#define FM_BANK_MAX_LIST        64
#define FM_USEC_PER_DAY         (INT64_C (86400) * 1000000)

//  Collateral requirement of a product
typedef enum {
    REQUIRE_NONE = 0,               //  credit product
    REQUIRE_ANY,                    //  any collateral but none
    REQUIRE_SPECIFIC                //  exactly product->collateral
} s_require_t;

typedef struct {
    char code [FM_CODE_SIZE];       //  product code, from the section name
    char name [FM_NAME_SIZE];       //  display name
    fm_kind_t kind;
    int64_t min_amount_fen;
    int64_t max_amount_fen;
    bool partial;                   //  offer max amount when asked more
    uint16_t min_term;              //  months
    uint16_t max_term;
    zlist_t *industries;            //  owned strings; NULL = all
    zlist_t *grids;                 //  owned strings; NULL = all
    char min_tax_grade;             //  'A','B','M','C','D'
    s_require_t require;
    fm_collateral_t collateral;     //  when require is REQUIRE_SPECIFIC
    bool renewal;                   //  serves renewals
    bool needs_credit_data;         //  decline (108) without tax consent
    int32_t spread_bp;              //  may be negative
    int32_t floor_bp;
    zlist_t *levers;                //  owned strings; NULL = all
    uint8_t risk_share [3];         //  government, bank, guarantor %;
                                    //  all 0 = no risk-sharing scheme
    bool decline_on_warning;        //  decline (112) under a risk warning
    bool flag_on_warning;           //  offer, flagged (risk_warning lever)
    uint8_t max_uplift_pct;         //  limit_uplift honoured up to this %
} s_product_t;

struct _fm_bank_t {
    char code [FM_CODE_SIZE];       //  bank code, service "bank.<code>"
    char name [FM_NAME_SIZE];       //  display name
    int32_t lpr_1y_bp;
    int32_t lpr_5y_bp;
    int32_t offer_valid_days;
    char towns [FM_TEXT_SIZE];      //  paired town codes (三网融合), comma
                                    //  list; "" = not paired
    s_product_t *products;          //  owned array, file order
    size_t product_count;
};

//  Keys we accept; bank_main's worker settings live in the same section
//  Every key of the bank section: the catalogue's, and finmatch-bank's
//  own settings (workers/bank_main.c), since both live in one file
static const char *s_bank_keys [] = {
    "code", "name", "lpr_1y_bp", "lpr_5y_bp", "offer_valid_days",
    "endpoint", "capacity", "batch", "heartbeat_ms", "liveness", "verbose", "towns",
    "cert", "broker_key", "insecure",
    NULL
};
static const char *s_product_keys [] = {
    "name", "kind", "min_amount_yuan", "max_amount_yuan", "partial",
    "min_term_months", "max_term_months", "industries", "grids",
    "min_tax_grade", "collateral", "renewal", "needs_credit_data",
    "spread_bp", "floor_bp", "levers", "risk_share", "on_warning",
    "max_uplift_pct", NULL
};

//  Error reporting context for the loader
typedef struct {
    const char *source;
    char *err;
    size_t size;
} s_ctx_t;


//  Write "SOURCE: PATH: message" into the context's buffer.  Returns -1.

static int
s_fail (s_ctx_t *ctx, const char *path, const char *format, ...)
{
    char message [256];
    va_list args;
    va_start (args, format);
    vsnprintf (message, sizeof message, format, args);
    va_end (args);
    snprintf (ctx->err, ctx->size, "%s: %s: %s", ctx->source, path, message);
    return -1;
}


//  True if text is a code: 1..max characters of A-Z 0-9 _ (and lowercase,
//  '-' and '.' when loose).  Cannot fail.

static bool
s_code_valid (const char *text, size_t max, bool loose)
{
    size_t length = strlen (text);
    if (length == 0 || length > max)
        return false;
    for (const char *c = text; *c; c++) {
        if ((*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '_')
            continue;
        if (loose && ((*c >= 'a' && *c <= 'z') || *c == '-' || *c == '.'))
            continue;
        return false;
    }
    return true;
}


//  Check the keys of a section: each known and given once.  Returns 0 or
//  -1 with the error filled.

static int
s_check_keys (s_ctx_t *ctx, zconfig_t *section, const char *prefix,
              const char **known)
{
    for (zconfig_t *item = zconfig_child (section); item;
         item = zconfig_next (item)) {
        const char *name = zconfig_name (item);
        char path [128];
        snprintf (path, sizeof path, "%s/%s", prefix, name);
        bool found = false;
        for (const char **key = known; *key; key++)
            if (streq (*key, name))
                found = true;
        if (!found)
            return s_fail (ctx, path, "unknown key");
        if (zconfig_child (item))
            return s_fail (ctx, path, "is a section, expected a value");
        for (zconfig_t *other = zconfig_child (section); other != item;
             other = zconfig_next (other))
            if (streq (zconfig_name (other), name))
                return s_fail (ctx, path, "given twice");
    }
    return 0;
}


//  The value of key in section, or NULL if absent.  A key given without a
//  value reads as "".  Borrowed.

static const char *
s_value (zconfig_t *section, const char *key)
{
    zconfig_t *item = zconfig_locate (section, key);
    if (!item)
        return NULL;
    const char *value = zconfig_value (item);
    return value? value: "";
}


//  Parse an integer in [min, max] from the key, or take default_value
//  when absent (NULL default = required).  Returns 0 or -1.

static int
s_get_int (s_ctx_t *ctx, zconfig_t *section, const char *prefix,
           const char *key, const char *default_value,
           int64_t min, int64_t max, int64_t *out)
{
    char path [128];
    snprintf (path, sizeof path, "%s/%s", prefix, key);
    const char *text = s_value (section, key);
    if (!text)
        text = default_value;
    if (!text)
        return s_fail (ctx, path, "missing");
    char *end;
    errno = 0;
    long long value = strtoll (text, &end, 10);
    if (*text == 0 || *end != 0 || errno == ERANGE || isspace ((byte) *text))
        return s_fail (ctx, path, "'%s' is not an integer", text);
    if (value < min || value > max)
        return s_fail (ctx, path, "%lld is out of range %" PRId64 "..%" PRId64,
                       value, min, max);
    *out = value;
    return 0;
}


//  Parse a 0/1 flag.  Returns 0 or -1.

static int
s_get_bool (s_ctx_t *ctx, zconfig_t *section, const char *prefix,
            const char *key, const char *default_value, bool *out)
{
    char path [128];
    snprintf (path, sizeof path, "%s/%s", prefix, key);
    const char *text = s_value (section, key);
    if (!text)
        text = default_value;
    if (streq (text, "1") || streq (text, "true") || streq (text, "yes"))
        *out = true;
    else
    if (streq (text, "0") || streq (text, "false") || streq (text, "no"))
        *out = false;
    else
        return s_fail (ctx, path, "'%s' is not 0 or 1", text);
    return 0;
}


//  Parse an amount in yuan ("3000000", "300万") into fen.  Returns 0 or -1.

static int
s_get_amount (s_ctx_t *ctx, zconfig_t *section, const char *prefix,
              const char *key, int64_t *fen)
{
    char path [128];
    snprintf (path, sizeof path, "%s/%s", prefix, key);
    const char *text = s_value (section, key);
    if (!text)
        return s_fail (ctx, path, "missing");
    if (fm_money_parse (text, fen) == -1)
        return s_fail (ctx, path, "'%s' is not an amount in yuan", text);
    if (*fen > FM_MAX_AMOUNT_FEN)
        return s_fail (ctx, path, "'%s' is above the largest amount", text);
    return 0;
}


//  Parse a comma list of codes, or "*" for all (*list_p stays NULL).
//  Returns 0 or -1.

static int
s_get_list (s_ctx_t *ctx, zconfig_t *section, const char *prefix,
            const char *key, zlist_t **list_p)
{
    char path [128];
    snprintf (path, sizeof path, "%s/%s", prefix, key);
    const char *text = s_value (section, key);
    if (!text || streq (text, "*"))
        return 0;
    zlist_t *list = zlist_new ();
    assert (list);
    zlist_autofree (list);
    *list_p = list;         //  the caller's destructor frees it on failure
    const char *start = text;
    while (true) {
        const char *comma = strchr (start, ',');
        size_t length = comma? (size_t) (comma - start): strlen (start);
        //  Allow spaces after commas: "C13, C14"
        while (length && (*start == ' ' || *start == '\t')) {
            start++;
            length--;
        }
        while (length && (start [length - 1] == ' ' || start [length - 1] == '\t'))
            length--;
        char code [FM_CODE_SIZE];
        if (length == 0 || length >= sizeof code)
            return s_fail (ctx, path, "'%s' is not a comma list of codes or *", text);
        memcpy (code, start, length);
        code [length] = 0;
        if (!fm_utf8_valid (code, length) || strchr (code, ' '))
            return s_fail (ctx, path, "'%s' is not a comma list of codes or *", text);
        if (zlist_size (list) >= FM_BANK_MAX_LIST)
            return s_fail (ctx, path, "more than %d entries", FM_BANK_MAX_LIST);
        zlist_append (list, code);
        if (!comma)
            break;
        start = comma + 1;
    }
    return 0;
}


//  True if list is NULL (all) or holds text.

static bool
s_list_has (zlist_t *list, const char *text)
{
    if (!list)
        return true;
    for (char *item = (char *) zlist_first (list); item;
         item = (char *) zlist_next (list))
        if (streq (item, text))
            return true;
    return false;
}


//  Tax credit grade order A > B > M > C > D; -1 for anything else.

static int
s_tax_rank (char grade)
{
    switch (grade) {
        case 'A': return 4;
        case 'B': return 3;
        case 'M': return 2;
        case 'C': return 1;
        case 'D': return 0;
        default:  return -1;
    }
}

static const char *
s_kind_cn (fm_kind_t kind)
{
    return kind == FM_KIND_LOAN? "贷款":
           kind == FM_KIND_INSURANCE? "保险":
           kind == FM_KIND_GUARANTEE? "担保": "?";
}

static const char *
s_collateral_cn (fm_collateral_t collateral)
{
    switch (collateral) {
        case FM_COLLATERAL_NONE:        return "信用(无抵押)";
        case FM_COLLATERAL_PROPERTY:    return "房产抵押";
        case FM_COLLATERAL_EQUIPMENT:   return "设备抵押";
        case FM_COLLATERAL_RECEIVABLES: return "应收账款质押";
        case FM_COLLATERAL_GUARANTEE:   return "第三方保证";
        default:                        return "?";
    }
}


static void
s_product_free (s_product_t *product)
{
    zlist_destroy (&product->industries);
    zlist_destroy (&product->grids);
    zlist_destroy (&product->levers);
}


//  Load one product from its section.  Returns 0 or -1.

static int
s_product_load (fm_bank_t *bank, s_product_t *product, zconfig_t *section,
                s_ctx_t *ctx)
{
    const char *code = zconfig_name (section);
    char prefix [128];
    snprintf (prefix, sizeof prefix, "products/%s", code);
    //  Offer id "<BANK>/<PRODUCT>" must fit FM_OFFER_ID_SIZE: 16+1+23
    if (!s_code_valid (code, FM_CODE_SIZE - 1, true))
        return s_fail (ctx, prefix, "product code must be 1-%d characters "
                       "of A-Z a-z 0-9 _ - .", FM_CODE_SIZE - 1);
    snprintf (product->code, sizeof product->code, "%s", code);
    if (s_check_keys (ctx, section, prefix, s_product_keys))
        return -1;

    char path [160];
    const char *text = s_value (section, "name");
    snprintf (path, sizeof path, "%s/name", prefix);
    if (!text || !*text)
        return s_fail (ctx, path, "missing");
    if (strlen (text) >= FM_NAME_SIZE || !fm_utf8_valid (text, strlen (text)))
        return s_fail (ctx, path, "not valid UTF-8 of at most %d bytes",
                       FM_NAME_SIZE - 1);
    snprintf (product->name, sizeof product->name, "%s", text);

    text = s_value (section, "kind");
    snprintf (path, sizeof path, "%s/kind", prefix);
    if (!text)
        product->kind = FM_KIND_LOAN;
    else
    if (fm_kind_parse (text, &product->kind) == -1)
        return s_fail (ctx, path, "'%s' is not loan, insurance or guarantee", text);

    if (s_get_amount (ctx, section, prefix, "min_amount_yuan", &product->min_amount_fen)
    ||  s_get_amount (ctx, section, prefix, "max_amount_yuan", &product->max_amount_fen))
        return -1;
    if (product->max_amount_fen < product->min_amount_fen) {
        snprintf (path, sizeof path, "%s/max_amount_yuan", prefix);
        return s_fail (ctx, path, "below min_amount_yuan");
    }
    if (product->max_amount_fen == 0) {
        snprintf (path, sizeof path, "%s/max_amount_yuan", prefix);
        return s_fail (ctx, path, "must be above zero");
    }
    int64_t value;
    if (s_get_bool (ctx, section, prefix, "partial", "0", &product->partial))
        return -1;
    if (s_get_int (ctx, section, prefix, "min_term_months", NULL,
                   1, FM_MAX_TERM_MONTHS, &value))
        return -1;
    product->min_term = (uint16_t) value;
    if (s_get_int (ctx, section, prefix, "max_term_months", NULL,
                   1, FM_MAX_TERM_MONTHS, &value))
        return -1;
    product->max_term = (uint16_t) value;
    if (product->max_term < product->min_term) {
        snprintf (path, sizeof path, "%s/max_term_months", prefix);
        return s_fail (ctx, path, "below min_term_months");
    }
    if (s_get_list (ctx, section, prefix, "industries", &product->industries)
    ||  s_get_list (ctx, section, prefix, "grids", &product->grids)
    ||  s_get_list (ctx, section, prefix, "levers", &product->levers))
        return -1;

    text = s_value (section, "min_tax_grade");
    snprintf (path, sizeof path, "%s/min_tax_grade", prefix);
    if (!text)
        text = "D";
    if (strlen (text) != 1 || s_tax_rank (text [0]) < 0)
        return s_fail (ctx, path, "'%s' is not one of A B M C D", text);
    product->min_tax_grade = text [0];

    text = s_value (section, "collateral");
    snprintf (path, sizeof path, "%s/collateral", prefix);
    if (!text || streq (text, "none"))
        product->require = REQUIRE_NONE;
    else
    if (streq (text, "any"))
        product->require = REQUIRE_ANY;
    else
    if (fm_collateral_parse (text, &product->collateral) == 0
    &&  product->collateral != FM_COLLATERAL_NONE)
        product->require = REQUIRE_SPECIFIC;
    else
        return s_fail (ctx, path, "'%s' is not none, any, property, "
                       "equipment, receivables or guarantee", text);

    if (s_get_bool (ctx, section, prefix, "renewal", "1", &product->renewal)
    ||  s_get_bool (ctx, section, prefix, "needs_credit_data", "0",
                    &product->needs_credit_data))
        return -1;
    if (s_get_int (ctx, section, prefix, "spread_bp", "0",
                   -FM_MAX_RATE_BP, FM_MAX_RATE_BP, &value))
        return -1;
    product->spread_bp = (int32_t) value;
    if (s_get_int (ctx, section, prefix, "floor_bp", "0",
                   0, FM_MAX_RATE_BP, &value))
        return -1;
    product->floor_bp = (int32_t) value;

    //  risk_share = government,bank,guarantor percent, summing to 100
    text = s_value (section, "risk_share");
    snprintf (path, sizeof path, "%s/risk_share", prefix);
    if (text) {
        unsigned gov, bank_pct, guarantor;
        char extra;
        if (sscanf (text, "%u,%u,%u%c", &gov, &bank_pct, &guarantor, &extra) != 3
        ||  gov + bank_pct + guarantor != 100)
            return s_fail (ctx, path, "'%s' is not government,bank,guarantor "
                           "percent summing to 100", text);
        product->risk_share [0] = (uint8_t) gov;
        product->risk_share [1] = (uint8_t) bank_pct;
        product->risk_share [2] = (uint8_t) guarantor;
    }
    text = s_value (section, "on_warning");
    snprintf (path, sizeof path, "%s/on_warning", prefix);
    if (!text || streq (text, "ignore"))
        product->decline_on_warning = false;
    else
    if (streq (text, "decline"))
        product->decline_on_warning = true;
    else
    if (streq (text, "flag"))
        product->flag_on_warning = true;
    else
        return s_fail (ctx, path, "'%s' is not ignore, decline or flag", text);
    //  额度上浮: the most of a limit_uplift lever this product honours
    //  (the lever must also be in `levers`)
    int64_t uplift;
    if (s_get_int (ctx, section, prefix, "max_uplift_pct", "100", 0,
                   FM_MAX_UPLIFT_PCT, &uplift))
        return -1;
    product->max_uplift_pct = (uint8_t) uplift;

    //  The base rate for every term the product serves must be a valid
    //  rate, and the floor may not lie above it
    int32_t lowest_base = FM_MAX_RATE_BP;
    for (int which = 0; which < 2; which++) {
        bool applies = which == 0? product->min_term <= FM_LPR_1Y_MAX_TERM
                                 : product->max_term > FM_LPR_1Y_MAX_TERM;
        if (!applies)
            continue;
        int32_t lpr = which == 0? bank->lpr_1y_bp: bank->lpr_5y_bp;
        int32_t base = lpr + product->spread_bp;
        if (base < 0 || base > FM_MAX_RATE_BP) {
            snprintf (path, sizeof path, "%s/spread_bp", prefix);
            return s_fail (ctx, path, "base rate %s + spread = %d bp is out "
                           "of range 0..%d", which == 0? "lpr_1y_bp": "lpr_5y_bp",
                           base, FM_MAX_RATE_BP);
        }
        if (base < lowest_base)
            lowest_base = base;
    }
    if (product->floor_bp > lowest_base) {
        snprintf (path, sizeof path, "%s/floor_bp", prefix);
        return s_fail (ctx, path, "%d is above the base rate LPR + spread "
                       "(%d bp)", product->floor_bp, lowest_base);
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  Load a bank from ZPL.  Returns a new bank or NULL with err filled.

fm_bank_t *
fm_bank_load (zconfig_t *root, const char *source, char *err, size_t size)
{
    assert (root);
    assert (source);
    assert (err && size > 0);
    s_ctx_t ctx = { source, err, size };
    *err = 0;

    zconfig_t *section = zconfig_locate (root, "bank");
    if (!section) {
        s_fail (&ctx, "bank", "missing section");
        return NULL;
    }
    fm_bank_t *self = (fm_bank_t *) zmalloc (sizeof (fm_bank_t));
    assert (self);
    if (s_check_keys (&ctx, section, "bank", s_bank_keys))
        goto failed;

    const char *text = s_value (section, "code");
    if (!text) {
        s_fail (&ctx, "bank/code", "missing");
        goto failed;
    }
    //  Service names are "bank.<CODE>" with CODE 1..16 of [A-Z0-9_]
    if (!s_code_valid (text, 16, false)) {
        s_fail (&ctx, "bank/code", "'%s' must be 1-16 characters of A-Z 0-9 _", text);
        goto failed;
    }
    snprintf (self->code, sizeof self->code, "%s", text);
    text = s_value (section, "name");
    if (!text || !*text) {
        s_fail (&ctx, "bank/name", "missing");
        goto failed;
    }
    if (strlen (text) >= FM_NAME_SIZE || !fm_utf8_valid (text, strlen (text))) {
        s_fail (&ctx, "bank/name", "not valid UTF-8 of at most %d bytes",
                FM_NAME_SIZE - 1);
        goto failed;
    }
    snprintf (self->name, sizeof self->name, "%s", text);
    int64_t value;
    if (s_get_int (&ctx, section, "bank", "lpr_1y_bp", NULL, 0, FM_MAX_RATE_BP, &value))
        goto failed;
    self->lpr_1y_bp = (int32_t) value;
    if (s_get_int (&ctx, section, "bank", "lpr_5y_bp", NULL, 0, FM_MAX_RATE_BP, &value))
        goto failed;
    self->lpr_5y_bp = (int32_t) value;
    if (s_get_int (&ctx, section, "bank", "offer_valid_days", "7", 1, 365, &value))
        goto failed;
    self->offer_valid_days = (int32_t) value;
    //  towns = comma list of town codes this institution is paired with;
    //  bank_main announces them in READY so the broker asks us first for
    //  requests from those towns' grids
    text = s_value (section, "towns");
    if (text) {
        char copy [FM_TEXT_SIZE];
        if (strlen (text) >= sizeof copy) {
            s_fail (&ctx, "bank/towns", "longer than %d bytes", FM_TEXT_SIZE - 1);
            goto failed;
        }
        snprintf (copy, sizeof copy, "%s", text);
        for (char *town = strtok (copy, ","); town; town = strtok (NULL, ","))
            if (!s_code_valid (town, FM_CODE_SIZE - 1, false)) {
                s_fail (&ctx, "bank/towns", "'%s' is not a comma list of town "
                        "codes (A-Z 0-9 _)", text);
                goto failed;
            }
        if (*text && (text [strlen (text) - 1] == ',' || *text == ',')) {
            s_fail (&ctx, "bank/towns", "'%s' has an empty entry", text);
            goto failed;
        }
        snprintf (self->towns, sizeof self->towns, "%s", text);
    }

    zconfig_t *products = zconfig_locate (root, "products");
    size_t count = 0;
    for (zconfig_t *item = products? zconfig_child (products): NULL; item;
         item = zconfig_next (item))
        count++;
    if (count > FM_MAX_OFFERS) {
        s_fail (&ctx, "products", "%zu products, at most %d", count, FM_MAX_OFFERS);
        goto failed;
    }
    if (count) {
        self->products = (s_product_t *) zmalloc (count * sizeof (s_product_t));
        assert (self->products);
    }
    for (zconfig_t *item = products? zconfig_child (products): NULL; item;
         item = zconfig_next (item)) {
        s_product_t *product = &self->products [self->product_count++];
        if (s_product_load (self, product, item, &ctx))
            goto failed;
        for (size_t index = 0; index + 1 < self->product_count; index++)
            if (streq (self->products [index].code, product->code)) {
                char path [64];
                snprintf (path, sizeof path, "products/%s", product->code);
                s_fail (&ctx, path, "product given twice");
                goto failed;
            }
    }
    return self;

failed:
    fm_bank_destroy (&self);
    return NULL;
}


//  --------------------------------------------------------------------------
//  Destroy; idempotent, nulls *self_p.

void
fm_bank_destroy (fm_bank_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        fm_bank_t *self = *self_p;
        for (size_t index = 0; index < self->product_count; index++)
            s_product_free (&self->products [index]);
        free (self->products);
        free (self);
        *self_p = NULL;
    }
}


const char *
fm_bank_code (fm_bank_t *self)
{
    assert (self);
    return self->code;
}

const char *
fm_bank_name (fm_bank_t *self)
{
    assert (self);
    return self->name;
}

const char *
fm_bank_towns (fm_bank_t *self)
{
    assert (self);
    return self->towns;
}

size_t
fm_bank_product_count (fm_bank_t *self)
{
    assert (self);
    return self->product_count;
}


//  Collects decline reasons, keeping the first FM_MAX_REASONS and counting
//  the rest
typedef struct {
    fm_decline_t *decline;          //  being built, in the answer if it can
    size_t total;
} s_reasons_t;

//  Reason and advice texts are joined from their pieces by plain copies,
//  not formatted with vsnprintf (7 % of a bank process, perf under
//  fm-bench: the texts are most of a decline's work).  A text is cut at a
//  UTF-8 character boundary when it does not fit (a "风险预警: " reason
//  with a long warning): vsnprintf cut at a byte, which could split a
//  character, so that the whole answer failed to encode.  Pieces are
//  valid UTF-8 (constants, configuration checked at load, decoded fields,
//  digits), so the result is too.

#if defined (__GNUC__)
#   define S_SENTINEL __attribute__ ((sentinel))
#else
#   define S_SENTINEL
#endif

//  Join the NULL-terminated list of pieces from first on into text (size
//  bytes, > 0).  Cannot fail.
static void
s_text_join (char *text, size_t size, const char *first, va_list args)
{
    size_t used = 0;
    for (const char *piece = first; piece; piece = va_arg (args, const char *)) {
        size_t length = strlen (piece);
        if (used + length >= size) {
            //  Keep what fits, back to the start of a character
            length = size - 1 - used;
            while (length > 0 && ((byte) piece [length] & 0xC0) == 0x80)
                length--;
            memcpy (text + used, piece, length);
            used += length;
            break;
        }
        memcpy (text + used, piece, length);
        used += length;
    }
    text [used] = 0;
}

//  s_text_join with the pieces as arguments.  Cannot fail.
static void
s_text_join_pieces (char *text, size_t size, const char *first, ...) S_SENTINEL;

static void
s_text_join_pieces (char *text, size_t size, const char *first, ...)
{
    va_list args;
    va_start (args, first);
    s_text_join (text, size, first, args);
    va_end (args);
}

//  The same for a fixed array: copy text, cut at size - 1 bytes (codes and
//  names, checked shorter at load or decode).  Cannot fail.
static void
s_text_copy (char *text, size_t size, const char *source)
{
    size_t length = strnlen (source, size - 1);
    memcpy (text, source, length);
    text [length] = 0;
}

//  Decimal digits of value in buf (24 bytes); returns the text in buf.
static const char *
s_uint_text (uint64_t value, char *buf)
{
    char *digit = buf + 23;
    *digit = 0;
    do
        *--digit = (char) ('0' + value % 10);
    while (value /= 10);
    return digit;
}

//  Add a reason: code, product and the text joined from the pieces.
static void
s_reason (s_reasons_t *reasons, uint16_t code, const char *product,
          const char *first, ...) S_SENTINEL;

static void
s_reason (s_reasons_t *reasons, uint16_t code, const char *product,
          const char *first, ...)
{
    reasons->total++;
    if (reasons->decline->reason_count >= FM_MAX_REASONS)
        return;
    fm_reason_t *reason = &reasons->decline->reasons [reasons->decline->reason_count++];
    reason->code = code;
    reason->advice [0] = 0;         //  the rest of reasons [] is never zeroed
    s_text_copy (reason->product, sizeof reason->product, product);
    va_list args;
    va_start (args, first);
    s_text_join (reason->text, sizeof reason->text, first, args);
    va_end (args);
}


//  Set what would change the outcome on the reason added last (if it was
//  kept): the enterprise's way out of a dead end.  Pieces as s_reason.
static void
s_advice (s_reasons_t *reasons, const char *first, ...) S_SENTINEL;

static void
s_advice (s_reasons_t *reasons, const char *first, ...)
{
    if (reasons->total > reasons->decline->reason_count || reasons->decline->reason_count == 0)
        return;                 //  The reason itself did not fit
    fm_reason_t *reason = &reasons->decline->reasons [reasons->decline->reason_count - 1];
    va_list args;
    va_start (args, first);
    s_text_join (reason->advice, sizeof reason->advice, first, args);
    va_end (args);
}


//  Cut text back so that strlen (text) <= limit, at a UTF-8 boundary.

static void
s_utf8_truncate (char *text, size_t limit)
{
    size_t length = strlen (text);
    if (length <= limit)
        return;
    length = limit;
    while (length > 0 && ((byte) text [length] & 0xC0) == 0x80)
        length--;
    text [length] = 0;
}


//  额度上浮: the limit_uplift lever of the profile this product honours,
//  or NULL; *pct gets its percentage capped at the product's
//  max_uplift_pct (0 when NULL).

static const fm_lever_t *
s_product_uplift (s_product_t *product, const fm_profile_t *profile, uint8_t *pct)
{
    *pct = 0;
    for (size_t index = 0; index < profile->lever_count && index < FM_MAX_LEVERS; index++) {
        const fm_lever_t *lever = &profile->levers [index];
        if (streq (lever->code, "limit_uplift") && lever->pct > 0
        &&  s_list_has (product->levers, lever->code)) {
            *pct = lever->pct < product->max_uplift_pct? lever->pct
                                                       : product->max_uplift_pct;
            return *pct? lever: NULL;
        }
    }
    return NULL;
}


//  Check every rule of product against the query; add a reason for each
//  failure.  Returns true if the product is eligible.  *amount_fen gets
//  the amount to offer.

static bool
s_product_check (fm_bank_t *self, s_product_t *product, const fm_msg_t *query,
                 s_reasons_t *reasons, int64_t *amount_fen)
{
    const fm_request_t *request = &query->request;
    const fm_profile_t *profile = &query->profile;
    size_t before = reasons->total;
    char have [48], limit [48];
    char number [3][24];            //  digits of numbers in the texts

    uint32_t kinds = request->kinds? request->kinds: FM_KIND_BIT (FM_KIND_LOAN);
    if (!(kinds & FM_KIND_BIT (product->kind))) {
        char wanted [64] = "";
        for (int kind = 0; kind < FM_KIND_COUNT; kind++)
            if (kinds & FM_KIND_BIT (kind)) {
                if (*wanted)
                    strcat (wanted, "、");
                strcat (wanted, s_kind_cn ((fm_kind_t) kind));
            }
        s_reason (reasons, FM_REASON_KIND_NOT_WANTED, product->code,
                  "产品类型 ", s_kind_cn (product->kind), " 不在申请类型(", wanted,
                  ")之内", NULL);
        s_advice (reasons, "申请类型包含", s_kind_cn (product->kind), "可获该产品报价", NULL);
    }
    *amount_fen = request->amount_fen;
    //  The maximum, raised by an honoured limit_uplift lever (values are
    //  at most 10^13 fen and 100 %: no overflow)
    uint8_t uplift_pct;
    s_product_uplift (product, profile, &uplift_pct);
    int64_t max_amount_fen = product->max_amount_fen
                           + product->max_amount_fen * uplift_pct / 100;
    if (request->amount_fen < product->min_amount_fen) {
        s_reason (reasons, FM_REASON_AMOUNT_BELOW_MIN, product->code,
                  "金额 ", fm_money_cn (request->amount_fen, have, sizeof have),
                  " 低于产品下限 ", fm_money_cn (product->min_amount_fen, limit, sizeof limit),
                  NULL);
        s_advice (reasons, "申请金额不低于", limit, "可获该产品报价", NULL);
    }
    else
    if (request->amount_fen > max_amount_fen) {
        if (product->partial)
            *amount_fen = max_amount_fen;
        else
        if (uplift_pct)
            s_reason (reasons, FM_REASON_AMOUNT_ABOVE_MAX, product->code,
                      "金额 ", fm_money_cn (request->amount_fen, have, sizeof have),
                      " 超过产品上限 ", fm_money_cn (max_amount_fen, limit, sizeof limit),
                      "(含额度上浮", s_uint_text (uplift_pct, number [0]), "%)", NULL);
        else
            s_reason (reasons, FM_REASON_AMOUNT_ABOVE_MAX, product->code,
                      "金额 ", fm_money_cn (request->amount_fen, have, sizeof have),
                      " 超过产品上限 ", fm_money_cn (max_amount_fen, limit, sizeof limit),
                      NULL);
        if (!product->partial)
            s_advice (reasons, "申请金额不超过", limit, "可获该产品报价", NULL);
    }
    if (request->term_months < product->min_term
    ||  request->term_months > product->max_term) {
        const char *min_term = s_uint_text (product->min_term, number [1]);
        const char *max_term = s_uint_text (product->max_term, number [2]);
        s_reason (reasons, FM_REASON_TERM_OUT_OF_RANGE, product->code,
                  "期限 ", s_uint_text (request->term_months, number [0]),
                  "个月 不在产品期限 ", min_term, "-", max_term, "个月 之内", NULL);
        s_advice (reasons, "申请期限在 ", min_term, "-", max_term,
                  "个月 之内可获该产品报价", NULL);
    }
    if (!s_list_has (product->industries, profile->industry)) {
        s_reason (reasons, FM_REASON_INDUSTRY_NOT_SERVED, product->code,
                  "行业 ", *profile->industry? profile->industry: "(未知)",
                  " 不在产品服务行业之内", NULL);
        s_advice (reasons, "本产品不服务该行业,请选择其他银行或产品", NULL);
    }
    //  The broker fills the request's grid from the profile when empty
    const char *grid = *request->grid_id? request->grid_id: profile->grid_id;
    if (!s_list_has (product->grids, grid)) {
        s_reason (reasons, FM_REASON_GRID_NOT_SERVED, product->code,
                  "网格 ", *grid? grid: "(未知)", " 不在产品服务网格之内", NULL);
        s_advice (reasons, "本产品不服务该网格,可由网格员对接结对银行", NULL);
    }

    //  Credit data: a product that needs it declines without consent; one
    //  that does not is priced without it and cannot check the grade
    bool tax_shared = (profile->shared & FM_CONSENT_TAX) != 0;
    if (!tax_shared) {
        if (product->needs_credit_data) {
            s_reason (reasons, FM_REASON_NO_CREDIT_CONSENT, product->code,
                      "产品需要企业授权共享纳税信用数据(银税互动)", NULL);
            s_advice (reasons, "授权共享纳税信用数据(--consent tax)可获该产品评估", NULL);
        }
    }
    else
    if (s_tax_rank (profile->tax_grade) < s_tax_rank (product->min_tax_grade)) {
        char grade [2] = { profile->tax_grade, 0 };
        char min_grade [2] = { product->min_tax_grade, 0 };
        s_reason (reasons, FM_REASON_CREDIT_GRADE_TOO_LOW, product->code,
                  "纳税信用等级 ", s_tax_rank (profile->tax_grade) < 0? "(未知)": grade,
                  " 低于产品要求 ", min_grade, NULL);
        s_advice (reasons, "纳税信用等级达到 ", min_grade, " 级或以上可获该产品报价", NULL);
    }
    bool collateral_ok = product->require == REQUIRE_NONE
        || (product->require == REQUIRE_ANY && request->collateral != FM_COLLATERAL_NONE)
        || (product->require == REQUIRE_SPECIFIC && request->collateral == product->collateral);
    if (!collateral_ok) {
        const char *required = product->require == REQUIRE_ANY
                             ? "抵押或保证": s_collateral_cn (product->collateral);
        s_reason (reasons, FM_REASON_COLLATERAL_REQUIRED, product->code,
                  "产品要求", required, ",申请提供的是",
                  s_collateral_cn (request->collateral), NULL);
        s_advice (reasons, "提供", required, "可获该产品报价", NULL);
    }
    //  A flagged offer carries one more lever (risk_warning): a profile
    //  with no room left for it is declined instead
    if (*profile->warnings && (product->decline_on_warning
    ||  (product->flag_on_warning && profile->lever_count >= FM_MAX_LEVERS))) {
        s_reason (reasons, FM_REASON_RISK_WARNING, product->code,
                  "风险预警: ", profile->warnings, NULL);
        s_advice (reasons, "风险预警解除后可重新申请", NULL);
    }
    if (request->type == FM_REQ_RENEWAL && !product->renewal) {
        s_reason (reasons, FM_REASON_RENEWAL_NOT_OFFERED, product->code,
                  "产品不办理续贷", NULL);
        s_advice (reasons, "以新贷款申请(--type new)可获该产品评估", NULL);
    }
    (void) self;
    return reasons->total == before;
}


//  Price an eligible product into offer.  Integers only; see header.

static void
s_product_price (fm_bank_t *self, s_product_t *product, const fm_msg_t *query,
                 int64_t amount_fen, int64_t now_us, fm_offer_t *offer)
{
    const fm_profile_t *profile = &query->profile;
    memset (offer, 0, sizeof *offer);
    s_text_join_pieces (offer->offer_id, sizeof offer->offer_id,
                        self->code, "/", product->code, NULL);
    s_text_copy (offer->bank, sizeof offer->bank, self->code);
    s_text_copy (offer->bank_name, sizeof offer->bank_name, self->name);
    s_text_copy (offer->product, sizeof offer->product, product->code);
    s_text_copy (offer->product_name, sizeof offer->product_name, product->name);
    offer->kind = product->kind;
    offer->amount_fen = amount_fen;
    offer->term_months = query->request.term_months;

    int32_t lpr = offer->term_months <= FM_LPR_1Y_MAX_TERM? self->lpr_1y_bp
                                                          : self->lpr_5y_bp;
    int32_t base = lpr + product->spread_bp;
    //  Checked at load for every served term; clamp in case that ever changes
    base = base < 0? 0: base > FM_MAX_RATE_BP? FM_MAX_RATE_BP: base;
    int32_t floor = product->floor_bp < base? product->floor_bp: base;

    //  Levers the bank pays cut its own rate, down to the floor
    int64_t sum = 0;
    for (size_t index = 0; index < profile->lever_count && index < FM_MAX_LEVERS; index++)
        if (s_list_has (product->levers, profile->levers [index].code)
        &&  profile->levers [index].payer == FM_PAYER_BANK
        &&  profile->levers [index].bp > 0)
            sum += profile->levers [index].bp;
    int32_t effective = base - sum < floor? floor: (int32_t) (base - sum);

    //  Hand out base - effective over the honoured levers in profile order,
    //  so the floor cuts the last ones; a lever cut to nothing is not shown
    int32_t budget = base - effective;
    for (size_t index = 0; index < profile->lever_count && index < FM_MAX_LEVERS; index++) {
        const fm_lever_t *lever = &profile->levers [index];
        if (!s_list_has (product->levers, lever->code) || lever->bp <= 0
        ||  lever->payer != FM_PAYER_BANK)
            continue;
        int32_t give = lever->bp < budget? lever->bp: budget;
        if (give <= 0)
            break;
        offer->levers [offer->lever_count] = *lever;
        offer->levers [offer->lever_count].bp = give;
        offer->lever_count++;
        budget -= give;
    }
    assert (budget == 0);   //  sum of applied == base - effective, by construction

    //  Levers the government pays (区级贴息) do not touch the bank's rate
    //  (base minus the bank's levers, at or above its floor): they lower
    //  what the enterprise pays on a loan, below the floor if need be, and
    //  are always honoured (it is not the bank's money).  The bank earns
    //  effective + the government levers' bp.
    for (size_t index = 0; index < profile->lever_count && index < FM_MAX_LEVERS
                           && offer->lever_count < FM_MAX_LEVERS; index++) {
        const fm_lever_t *lever = &profile->levers [index];
        if (lever->payer != FM_PAYER_GOVERNMENT || lever->bp <= 0
        ||  product->kind != FM_KIND_LOAN)
            continue;
        int32_t give = lever->bp < effective? lever->bp: effective;
        if (give <= 0)
            break;
        offer->levers [offer->lever_count] = *lever;
        offer->levers [offer->lever_count].bp = give;
        offer->lever_count++;
        effective -= give;
    }
    //  额度上浮: shown when it made the offer possible (amount above the
    //  product's own maximum), with the percentage applied; the bank
    //  carries the larger exposure
    uint8_t uplift_pct;
    const fm_lever_t *uplift = s_product_uplift (product, profile, &uplift_pct);
    if (uplift && amount_fen > product->max_amount_fen
    &&  offer->lever_count < FM_MAX_LEVERS) {
        fm_lever_t *lever = &offer->levers [offer->lever_count++];
        *lever = *uplift;
        lever->bp = 0;
        lever->pct = uplift_pct;
        lever->payer = FM_PAYER_BANK;
    }
    //  on_warning = flag: offered, but flagged for the enterprise and the
    //  log with a zero lever naming the warnings (s_product_check keeps a
    //  place for it: offer levers come from the profile's)
    if (product->flag_on_warning && *profile->warnings
    &&  offer->lever_count < FM_MAX_LEVERS) {
        fm_lever_t *lever = &offer->levers [offer->lever_count++];
        memset (lever, 0, sizeof *lever);
        snprintf (lever->code, sizeof lever->code, "risk_warning");
        char flag [FM_TEXT_SIZE + 16];
        snprintf (flag, sizeof flag, "风险预警: %s", profile->warnings);
        s_utf8_truncate (flag, sizeof lever->name - 1);
        memcpy (lever->name, flag, strlen (flag) + 1);
        lever->payer = FM_PAYER_BANK;
    }
    offer->risk_gov_pct = product->risk_share [0];
    offer->risk_bank_pct = product->risk_share [1];
    offer->risk_guarantor_pct = product->risk_share [2];
    offer->base_rate_bp = base;
    offer->effective_rate_bp = effective;
    offer->valid_until_us = now_us + self->offer_valid_days * FM_USEC_PER_DAY;
    offer->without_credit_data = !(profile->shared & FM_CONSENT_TAX);
}


//  --------------------------------------------------------------------------
//  Answer a BANK_QUERY.  Returns a new BANK_ANSWER, or NULL if out of
//  memory.

fm_msg_t *
fm_bank_answer (fm_bank_t *self, const fm_msg_t *query, int64_t now_us)
{
    fm_msg_t *answer = fm_msg_new (FM_MSG_BANK_ANSWER);
    if (answer && fm_bank_answer_into (self, query, now_us, answer))
        fm_msg_destroy (&answer);
    return answer;
}


//  --------------------------------------------------------------------------
//  Answer a BANK_QUERY into answer, a BANK_ANSWER reused query after query
//  (its offer and decline lists keep their memory).  Returns 0, or -1 if
//  out of memory.

int
fm_bank_answer_into (fm_bank_t *self, const fm_msg_t *query, int64_t now_us,
                     fm_msg_t *answer)
{
    assert (self);
    assert (query);
    //  bank_main dispatches on the decoded type: anything else is a bug
    assert (query->type == FM_MSG_BANK_QUERY);
    //  Only ever a BANK_ANSWER: every field it carries is set below, every
    //  other field stays zero from fm_msg_new
    assert (answer && answer->type == FM_MSG_BANK_ANSWER);
    answer->offer_count = 0;
    answer->decline_count = 0;
    s_text_copy (answer->request_id, sizeof answer->request_id, query->request_id);
    s_text_copy (answer->bank, sizeof answer->bank, self->code);

    //  The decline is built where it will be sent: in the answer's list
    //  when a previous query grew it (8.6 KB not copied per decline), else
    //  in scratch, then appended.  Neither is zeroed whole (most of it is
    //  never used): only reasons [0..reason_count) are ever read, and
    //  s_reason fills each
    fm_decline_t scratch;
    s_reasons_t reasons;
    reasons.decline = answer->declines? &answer->declines [0]: &scratch;
    reasons.total = 0;
    reasons.decline->reason_count = 0;
    s_text_copy (reasons.decline->bank, sizeof reasons.decline->bank, self->code);
    for (size_t index = 0; index < self->product_count; index++) {
        s_product_t *product = &self->products [index];
        int64_t amount_fen;
        if (s_product_check (self, product, query, &reasons, &amount_fen)) {
            fm_offer_t offer;
            s_product_price (self, product, query, amount_fen, now_us, &offer);
            if (fm_msg_add_offer (answer, &offer) == -1)
                return -1;
        }
    }
    if (answer->offer_count == 0) {
        if (self->product_count == 0)
            s_reason (&reasons, FM_REASON_NO_PRODUCTS, "", "本行暂无可申请的产品", NULL);
        if (reasons.total > FM_MAX_REASONS) {
            //  Say on the last kept reason how many did not fit
            char suffix [64];
            snprintf (suffix, sizeof suffix, ";另有 %zu 条原因未列出",
                      reasons.total - FM_MAX_REASONS);
            fm_reason_t *last = &reasons.decline->reasons [FM_MAX_REASONS - 1];
            s_utf8_truncate (last->text, sizeof last->text - 1 - strlen (suffix));
            strcat (last->text, suffix);
        }
        if (reasons.decline == &scratch) {
            if (fm_msg_add_decline (answer, &scratch) == -1)
                return -1;
        }
        else
            answer->decline_count = 1;
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  Answer a GRANT_QUERY.  Returns a new CONFIRMATION, or NULL if out of
//  memory.

fm_msg_t *
fm_bank_grant (fm_bank_t *self, const fm_msg_t *grant_query, int64_t now_us)
{
    assert (self);
    assert (grant_query);
    assert (grant_query->type == FM_MSG_GRANT_QUERY);

    fm_msg_t *reply = fm_msg_new (FM_MSG_CONFIRMATION);
    if (!reply)
        return NULL;
    snprintf (reply->request_id, sizeof reply->request_id, "%s",
              grant_query->request_id);
    snprintf (reply->request.enterprise_id, sizeof reply->request.enterprise_id,
              "%s", grant_query->request.enterprise_id);
    fm_confirmation_t *confirmation = &reply->confirmation;
    snprintf (confirmation->bank, sizeof confirmation->bank, "%s", self->code);

    const fm_offer_t *offer = grant_query->offer_count? &grant_query->offers [0]: NULL;
    if (!offer) {
        snprintf (confirmation->offer_id, sizeof confirmation->offer_id, "%s",
                  grant_query->offer_id);
        snprintf (confirmation->text, sizeof confirmation->text,
                  "授信请求中没有要约");
        return reply;
    }
    snprintf (confirmation->offer_id, sizeof confirmation->offer_id, "%s",
              offer->offer_id);
    confirmation->amount_fen = offer->amount_fen;
    confirmation->base_rate_bp = offer->base_rate_bp;
    confirmation->effective_rate_bp = offer->effective_rate_bp;
    confirmation->term_months = offer->term_months;

    s_product_t *product = NULL;
    for (size_t index = 0; index < self->product_count; index++)
        if (streq (self->products [index].code, offer->product))
            product = &self->products [index];

    if (!streq (offer->bank, self->code))
        snprintf (confirmation->text, sizeof confirmation->text,
                  "要约 %s 不是本行(%s)发出的", offer->offer_id, self->code);
    else
    if (!product)
        snprintf (confirmation->text, sizeof confirmation->text,
                  "产品 %s 已停办,要约撤回", offer->product);
    else
    if (offer->amount_fen > product->max_amount_fen
    ||  offer->amount_fen <= 0
    ||  offer->term_months < product->min_term
    ||  offer->term_months > product->max_term)
        snprintf (confirmation->text, sizeof confirmation->text,
                  "要约条件与产品 %s 当前条件不符,要约撤回", product->code);
    else
    if (now_us > offer->valid_until_us) {
        //  China has no daylight saving: Beijing time is UTC+8 all year
        time_t beijing = (time_t) (offer->valid_until_us / 1000000 + 8 * 3600);
        struct tm tm;
        gmtime_r (&beijing, &tm);
        char when [32];
        strftime (when, sizeof when, "%Y-%m-%d %H:%M", &tm);
        snprintf (confirmation->text, sizeof confirmation->text,
                  "要约已过期(有效期至北京时间 %s),请重新申请", when);
    }
    else {
        confirmation->granted = true;
        snprintf (confirmation->loan_id, sizeof confirmation->loan_id, "%s-%s",
                  self->code, grant_query->request_id);
    }
    return reply;
}


//  --------------------------------------------------------------------------
//  Selftest

//  fm_bank_answer, checked against fm_bank_answer_into on one message
//  reused across the whole selftest: the same answer, byte for byte, and
//  every answer encodes with the checked encoder (what lets bank_main
//  encode them trusted).  Returns the fresh answer (caller owns).
static fm_msg_t *s_test_reused = NULL;

static fm_msg_t *
s_test_answer (fm_bank_t *bank, const fm_msg_t *query, int64_t now)
{
    fm_msg_t *answer = fm_bank_answer (bank, query, now);
    assert (answer);
    if (!s_test_reused)
        s_test_reused = fm_msg_new (FM_MSG_BANK_ANSWER);
    assert (s_test_reused);
    int rc = fm_bank_answer_into (bank, query, now, s_test_reused);
    assert (rc == 0);
    fm_error_t error;
    zframe_t *fresh = fm_msg_encode (answer, &error);
    if (!fresh)
        printf ("fm_bank_answer: %s\n", error.text);
    assert (fresh);
    zframe_t *reused = fm_msg_encode_trusted (s_test_reused);
    assert (reused && zframe_eq (fresh, reused));
    zframe_destroy (&fresh);
    zframe_destroy (&reused);
    return answer;
}

//  A bank with three products covering every rule
static const char *s_test_cfg =
    "bank\n"
    "    code = TEST\n"
    "    name = 测试农商行\n"
    "    lpr_1y_bp = 345\n"
    "    lpr_5y_bp = 420\n"
    "    offer_valid_days = 7\n"
    "    endpoint = tcp://127.0.0.1:7555     #   bank_main's, accepted here\n"
    "products\n"
    "    GRIDE\n"
    "        name = 网格e贷\n"
    "        kind = loan\n"
    "        min_amount_yuan = 100000\n"
    "        max_amount_yuan = 300万\n"
    "        partial = 0\n"
    "        min_term_months = 3\n"
    "        max_term_months = 36\n"
    "        industries = *\n"
    "        grids = *\n"
    "        min_tax_grade = B\n"
    "        collateral = none\n"
    "        renewal = 1\n"
    "        needs_credit_data = 1\n"
    "        spread_bp = 30\n"
    "        floor_bp = 250\n"
    "        levers = party_building,tax_credit\n"
    "    HOUSE\n"
    "        name = 房e贷\n"
    "        min_amount_yuan = 500000\n"
    "        max_amount_yuan = 10000000\n"
    "        partial = 1\n"
    "        min_term_months = 12\n"
    "        max_term_months = 120\n"
    "        industries = C13, C14\n"
    "        grids = JB01,JB02\n"
    "        min_tax_grade = M\n"
    "        collateral = property\n"
    "        renewal = 0\n"
    "        needs_credit_data = 0\n"
    "        spread_bp = -20\n"
    "        floor_bp = 300\n"
    "        levers = party_building\n"
    "    GUARD\n"
    "        name = 贷款保证保险\n"
    "        kind = insurance\n"
    "        min_amount_yuan = 10000\n"
    "        max_amount_yuan = 1000000\n"
    "        min_term_months = 1\n"
    "        max_term_months = 12\n"
    "        collateral = any\n"
    "        spread_bp = 100\n";

static fm_bank_t *
s_test_bank (const char *text, char *err, size_t size)
{
    zconfig_t *root = zconfig_str_load (text);
    assert (root);
    fm_bank_t *bank = fm_bank_load (root, "t.cfg", err, size);
    zconfig_destroy (&root);
    return bank;
}

//  A bank query: good enterprise asking 200万 for 12 months, all consents
static fm_msg_t *
s_test_query (void)
{
    fm_msg_t *query = fm_msg_new (FM_MSG_BANK_QUERY);
    assert (query);
    strcpy (query->request_id, "0123456789abcdef");
    fm_request_t *request = &query->request;
    strcpy (request->enterprise_id, "91500105MA5U00001D");
    request->amount_fen = INT64_C (200000000);
    request->term_months = 12;
    request->type = FM_REQ_NEW;
    strcpy (request->grid_id, "JB01");
    request->collateral = FM_COLLATERAL_NONE;
    request->consent = FM_CONSENT_ALL;
    fm_profile_t *profile = &query->profile;
    strcpy (profile->enterprise_id, request->enterprise_id);
    strcpy (profile->name, "重庆测试科技有限公司");
    strcpy (profile->industry, "C13");
    strcpy (profile->grid_id, "JB01");
    profile->shared = FM_CONSENT_ALL;
    profile->tax_grade = 'A';
    profile->party_grade = 'A';
    profile->social_insurance_months = 36;
    profile->lever_count = 2;
    strcpy (profile->levers [0].code, "party_building");
    strcpy (profile->levers [0].name, "党建增信(A级)");
    profile->levers [0].bp = 30;
    strcpy (profile->levers [1].code, "tax_credit");
    strcpy (profile->levers [1].name, "银税互动(A级)");
    profile->levers [1].bp = 10;
    return query;
}

static void s_test_reasons (const fm_msg_t *answer, char *buf, size_t size);
static void s_test_levers_exact (const fm_offer_t *offer);

//  额度上浮 (limit_uplift, capped by max_uplift_pct) and on_warning = flag
static void
s_test_uplift_and_flag (void)
{
    const char *at = strstr (s_test_cfg, "        levers = party_building,tax_credit\n");
    assert (at);
    char *text = zsys_sprintf ("%.*s        levers = party_building,tax_credit,limit_uplift\n"
                               "        max_uplift_pct = 20\n        on_warning = flag\n%s",
                               (int) (at - s_test_cfg), s_test_cfg,
                               at + strlen ("        levers = party_building,tax_credit\n"));
    char err [256];
    fm_bank_t *bank = s_test_bank (text, err, sizeof err);
    if (!bank)
        printf ("%s\n", err);
    assert (bank);
    int64_t now = INT64_C (1717200000000000);
    fm_msg_t *query = s_test_query ();
    fm_lever_t *uplift = &query->profile.levers [query->profile.lever_count++];
    strcpy (uplift->code, "limit_uplift");
    strcpy (uplift->name, "额度上浮30%(党建A级)");
    uplift->pct = 30;                   //  policy says 30, GRIDE honours 20
    //  Asked within the product's own maximum: no uplift lever shown
    fm_msg_t *answer = s_test_answer (bank, query, now);
    assert (answer->offer_count == 1 && answer->offers [0].lever_count == 2);
    fm_msg_destroy (&answer);
    //  350万 > 300万: offered in full thanks to the uplift, capped at 20 %
    query->request.amount_fen = INT64_C (350000000);
    answer = s_test_answer (bank, query, now);
    assert (answer->offer_count == 1);
    const fm_offer_t *offer = &answer->offers [0];
    assert (offer->amount_fen == INT64_C (350000000));
    assert (offer->lever_count == 3);
    assert (streq (offer->levers [2].code, "limit_uplift"));
    assert (offer->levers [2].pct == 20 && offer->levers [2].bp == 0);
    assert (offer->levers [2].payer == FM_PAYER_BANK);
    s_test_levers_exact (offer);
    //  The pct survives the wire
    zframe_t *encoded = fm_msg_encode (answer, NULL);
    assert (encoded);
    fm_msg_t *decoded = fm_msg_decode (zframe_data (encoded), zframe_size (encoded), NULL);
    assert (decoded && decoded->offers [0].levers [2].pct == 20);
    fm_msg_destroy (&decoded);
    zframe_destroy (&encoded);
    fm_msg_destroy (&answer);
    //  370万 > 300万 × 120 %: declined, the text names the raised maximum
    query->request.amount_fen = INT64_C (370000000);
    answer = s_test_answer (bank, query, now);
    assert (answer->offer_count == 0);
    bool named = false;
    for (size_t index = 0; index < answer->declines [0].reason_count; index++)
        if (answer->declines [0].reasons [index].code == FM_REASON_AMOUNT_ABOVE_MAX
        &&  streq (answer->declines [0].reasons [index].product, "GRIDE"))
            named = strstr (answer->declines [0].reasons [index].text,
                            "360万元(含额度上浮20%)") != NULL;
    assert (named);
    fm_msg_destroy (&answer);
    //  Without the lever the product's own maximum holds
    query->profile.lever_count--;
    query->request.amount_fen = INT64_C (350000000);
    answer = s_test_answer (bank, query, now);
    assert (answer->offer_count == 0);
    fm_msg_destroy (&answer);

    //  on_warning = flag: offered, with a zero risk_warning lever naming
    //  the warnings, whole characters only
    query->request.amount_fen = INT64_C (200000000);
    for (size_t index = 0; index + 1 < sizeof query->profile.warnings; index += 3)
        if (index + 3 < sizeof query->profile.warnings)
            memcpy (query->profile.warnings + index, "警", 3);
    query->profile.warnings [3 * ((sizeof query->profile.warnings - 1) / 3)] = 0;
    answer = s_test_answer (bank, query, now);
    assert (answer->offer_count == 1);
    offer = &answer->offers [0];
    const fm_lever_t *flag = &offer->levers [offer->lever_count - 1];
    assert (streq (flag->code, "risk_warning") && flag->bp == 0);
    assert (strncmp (flag->name, "风险预警: 警警", strlen ("风险预警: 警警")) == 0);
    assert (fm_utf8_valid (flag->name, strlen (flag->name)));
    s_test_levers_exact (offer);
    encoded = fm_msg_encode (answer, NULL);
    assert (encoded);
    zframe_destroy (&encoded);
    fm_msg_destroy (&answer);
    //  A profile with no room for the flag lever is declined (112) instead
    query->profile.lever_count = FM_MAX_LEVERS;
    for (size_t index = 2; index < FM_MAX_LEVERS; index++) {
        snprintf (query->profile.levers [index].code, FM_CODE_SIZE, "other%zu", index);
        query->profile.levers [index].bp = 1;
    }
    answer = s_test_answer (bank, query, now);
    char codes [256];
    s_test_reasons (answer, codes, sizeof codes);
    assert (strstr (codes, "112:GRIDE"));
    fm_msg_destroy (&answer);
    fm_msg_destroy (&query);
    fm_bank_destroy (&bank);
    zstr_free (&text);
}

//  Reason codes of the only decline, as "code:product,..." for comparing
static void
s_test_reasons (const fm_msg_t *answer, char *buf, size_t size)
{
    assert (answer->offer_count == 0);
    assert (answer->decline_count == 1);
    *buf = 0;
    const fm_decline_t *decline = &answer->declines [0];
    for (size_t index = 0; index < decline->reason_count; index++) {
        size_t used = strlen (buf);
        snprintf (buf + used, size - used, "%s%u:%s", index? ",": "",
                  decline->reasons [index].code, decline->reasons [index].product);
    }
}

static void
s_test_levers_exact (const fm_offer_t *offer)
{
    int32_t sum = 0;
    for (size_t index = 0; index < offer->lever_count; index++)
        sum += offer->levers [index].bp;
    assert (sum == offer->base_rate_bp - offer->effective_rate_bp);
}

static void
s_test_config_error (const char *text, const char *expected)
{
    char err [256];
    fm_bank_t *bank = s_test_bank (text, err, sizeof err);
    if (bank || !strstr (err, expected)) {
        printf ("expected '%s', got '%s'\n", expected, bank? "(loaded)": err);
        assert (false);
    }
}

void
fm_bank_test (bool verbose)
{
    //  @selftest
    char err [256];
    char codes [512];
    int64_t now = INT64_C (1735689600000000);   //  2025-01-01 00:00 UTC
    fm_bank_t *bank = s_test_bank (s_test_cfg, err, sizeof err);
    if (!bank)
        printf ("%s\n", err);
    assert (bank);
    assert (streq (fm_bank_code (bank), "TEST"));
    assert (streq (fm_bank_name (bank), "测试农商行"));
    assert (fm_bank_product_count (bank) == 3);

    //  Good enterprise: GRIDE offers, both levers applied in full
    fm_msg_t *query = s_test_query ();
    fm_msg_t *answer = s_test_answer (bank, query, now);
    assert (answer && answer->type == FM_MSG_BANK_ANSWER);
    assert (streq (answer->request_id, "0123456789abcdef"));
    assert (streq (answer->bank, "TEST"));
    assert (answer->decline_count == 0);
    assert (answer->offer_count == 1);
    fm_offer_t *offer = &answer->offers [0];
    assert (streq (offer->offer_id, "TEST/GRIDE"));
    assert (streq (offer->bank, "TEST") && streq (offer->product, "GRIDE"));
    assert (streq (offer->bank_name, "测试农商行"));
    assert (streq (offer->product_name, "网格e贷"));
    assert (offer->kind == FM_KIND_LOAN);
    assert (offer->amount_fen == INT64_C (200000000));
    assert (offer->term_months == 12);
    assert (offer->base_rate_bp == 375);
    assert (offer->effective_rate_bp == 335);
    assert (offer->lever_count == 2);
    assert (streq (offer->levers [0].code, "party_building") && offer->levers [0].bp == 30);
    assert (streq (offer->levers [0].name, "党建增信(A级)"));
    assert (streq (offer->levers [1].code, "tax_credit") && offer->levers [1].bp == 10);
    assert (offer->valid_until_us == now + 7 * FM_USEC_PER_DAY);
    assert (!offer->without_credit_data);
    fm_error_t error;
    zframe_t *frame = fm_msg_encode (answer, &error);
    if (!frame)
        printf ("encode: %s\n", error.text);
    assert (frame);
    zframe_destroy (&frame);

    //  Grant the offer: loan id and the offered terms
    fm_msg_t *grant = fm_msg_new (FM_MSG_GRANT_QUERY);
    strcpy (grant->request_id, query->request_id);
    strcpy (grant->request.enterprise_id, query->request.enterprise_id);
    int rc = fm_msg_add_offer (grant, offer);
    assert (rc == 0);
    fm_msg_t *confirmation = fm_bank_grant (bank, grant, now + 1000000);
    assert (confirmation && confirmation->type == FM_MSG_CONFIRMATION);
    assert (streq (confirmation->request_id, "0123456789abcdef"));
    assert (streq (confirmation->request.enterprise_id, "91500105MA5U00001D"));
    assert (confirmation->confirmation.granted);
    assert (streq (confirmation->confirmation.loan_id, "TEST-0123456789abcdef"));
    assert (streq (confirmation->confirmation.offer_id, "TEST/GRIDE"));
    assert (streq (confirmation->confirmation.bank, "TEST"));
    assert (confirmation->confirmation.amount_fen == INT64_C (200000000));
    assert (confirmation->confirmation.base_rate_bp == 375);
    assert (confirmation->confirmation.effective_rate_bp == 335);
    assert (confirmation->confirmation.term_months == 12);
    fm_msg_destroy (&confirmation);

    //  ...but not once it expired
    confirmation = fm_bank_grant (bank, grant, offer->valid_until_us + 1);
    assert (confirmation && !confirmation->confirmation.granted);
    assert (*confirmation->confirmation.loan_id == 0);
    assert (strstr (confirmation->confirmation.text, "要约已过期"));
    assert (strstr (confirmation->confirmation.text, "2025-01-08 08:00"));
    if (verbose)
        printf ("%s\n", confirmation->confirmation.text);
    fm_msg_destroy (&confirmation);

    //  ...nor another bank's offer
    strcpy (grant->offers [0].bank, "OTHER");
    confirmation = fm_bank_grant (bank, grant, now);
    assert (!confirmation->confirmation.granted);
    assert (strstr (confirmation->confirmation.text, "不是本行"));
    fm_msg_destroy (&confirmation);
    fm_msg_destroy (&grant);
    fm_msg_destroy (&answer);

    //  The floor cuts lever bp exactly, later levers first
    query->profile.levers [0].bp = 100;
    query->profile.levers [1].bp = 50;
    answer = s_test_answer (bank, query, now);
    assert (answer->offer_count == 1);
    offer = &answer->offers [0];
    assert (offer->base_rate_bp == 375 && offer->effective_rate_bp == 250);
    assert (offer->lever_count == 2);
    assert (offer->levers [0].bp == 100 && offer->levers [1].bp == 25);
    s_test_levers_exact (offer);
    fm_msg_destroy (&answer);
    query->profile.levers [0].bp = 125;
    answer = s_test_answer (bank, query, now);
    offer = &answer->offers [0];
    assert (offer->effective_rate_bp == 250);
    assert (offer->lever_count == 1 && offer->levers [0].bp == 125);
    s_test_levers_exact (offer);
    fm_msg_destroy (&answer);
    query->profile.levers [0].bp = 30;
    query->profile.levers [1].bp = 10;

    //  Partial amount (HOUSE), lever not honoured (tax_credit), floor, and
    //  GRIDE declining over the amount does not produce a decline
    query->request.amount_fen = INT64_C (2000000000);       //  2000万
    query->request.term_months = 24;
    query->request.collateral = FM_COLLATERAL_PROPERTY;
    answer = s_test_answer (bank, query, now);
    assert (answer->decline_count == 0);
    assert (answer->offer_count == 1);
    offer = &answer->offers [0];
    assert (streq (offer->offer_id, "TEST/HOUSE"));
    assert (offer->amount_fen == INT64_C (1000000000));     //  capped at 1000万
    assert (offer->base_rate_bp == 325);
    assert (offer->effective_rate_bp == 300);
    assert (offer->lever_count == 1);
    assert (streq (offer->levers [0].code, "party_building"));
    assert (offer->levers [0].bp == 25);
    s_test_levers_exact (offer);
    fm_msg_destroy (&answer);

    //  LPR by term: 60 months is 1-year, 61 is 5-year
    query->request.term_months = 60;
    answer = s_test_answer (bank, query, now);
    assert (answer->offer_count == 1 && answer->offers [0].base_rate_bp == 325);
    fm_msg_destroy (&answer);
    query->request.term_months = 61;
    answer = s_test_answer (bank, query, now);
    assert (answer->offer_count == 1 && answer->offers [0].base_rate_bp == 400);
    assert (answer->offers [0].effective_rate_bp == 370);
    fm_msg_destroy (&answer);

    //  Not partial: over the maximum declines with the amounts in the text
    query->request.amount_fen = INT64_C (500000000);        //  500万
    query->request.term_months = 12;
    query->request.collateral = FM_COLLATERAL_NONE;
    answer = s_test_answer (bank, query, now);
    s_test_reasons (answer, codes, sizeof codes);
    assert (streq (codes, "102:GRIDE,107:HOUSE,109:GUARD,102:GUARD,107:GUARD"));
    assert (streq (answer->declines [0].bank, "TEST"));
    assert (streq (answer->declines [0].reasons [0].text,
                   "金额 500万元 超过产品上限 300万元"));
    //  ...and what would change it
    assert (streq (answer->declines [0].reasons [0].advice,
                   "申请金额不超过300万元可获该产品报价"));
    if (verbose)
        printf ("%s\n", answer->declines [0].reasons [1].text);
    fm_msg_destroy (&answer);

    //  Every rule to its code, all reasons of all products
    query->request.amount_fen = INT64_C (5000000);          //  5万
    query->request.term_months = 48;
    query->request.type = FM_REQ_RENEWAL;
    strcpy (query->request.grid_id, "YB09");
    strcpy (query->profile.industry, "F51");
    query->profile.tax_grade = 'C';
    answer = s_test_answer (bank, query, now);
    s_test_reasons (answer, codes, sizeof codes);
    if (verbose)
        printf ("%s\n", codes);
    assert (streq (codes, "101:GRIDE,103:GRIDE,106:GRIDE,"
                          "101:HOUSE,104:HOUSE,105:HOUSE,106:HOUSE,107:HOUSE,110:HOUSE,"
                          "109:GUARD,103:GUARD,107:GUARD"));
    fm_decline_t *decline = &answer->declines [0];
    assert (streq (decline->reasons [0].text, "金额 5万元 低于产品下限 10万元"));
    //  Every reason says what would change the outcome
    for (size_t index = 0; index < decline->reason_count; index++)
        assert (*decline->reasons [index].advice);
    assert (streq (decline->reasons [0].advice, "申请金额不低于10万元可获该产品报价"));
    assert (streq (decline->reasons [1].advice, "申请期限在 3-36个月 之内可获该产品报价"));
    assert (streq (decline->reasons [2].advice, "纳税信用等级达到 B 级或以上可获该产品报价"));
    assert (streq (decline->reasons [1].text, "期限 48个月 不在产品期限 3-36个月 之内"));
    assert (streq (decline->reasons [2].text, "纳税信用等级 C 低于产品要求 B"));
    assert (streq (decline->reasons [4].text, "行业 F51 不在产品服务行业之内"));
    assert (streq (decline->reasons [5].text, "网格 YB09 不在产品服务网格之内"));
    assert (streq (decline->reasons [7].text, "产品要求房产抵押,申请提供的是信用(无抵押)"));
    assert (streq (decline->reasons [8].text, "产品不办理续贷"));
    assert (streq (decline->reasons [9].text, "产品类型 保险 不在申请类型(贷款)之内"));
    frame = fm_msg_encode (answer, &error);
    assert (frame);
    zframe_destroy (&frame);
    fm_msg_destroy (&answer);

    //  The grid on record is used when the request carries none
    *query->request.grid_id = 0;
    strcpy (query->profile.grid_id, "JB02");
    answer = s_test_answer (bank, query, now);
    s_test_reasons (answer, codes, sizeof codes);
    assert (!strstr (codes, "105:"));
    fm_msg_destroy (&answer);
    fm_msg_destroy (&query);

    //  Kinds: asking for insurance and loans gets GUARD too; a GUARD needs
    //  collateral of any sort
    query = s_test_query ();
    query->request.amount_fen = INT64_C (50000000);         //  50万
    query->request.collateral = FM_COLLATERAL_GUARANTEE;
    query->request.kinds = FM_KIND_BIT (FM_KIND_INSURANCE) | FM_KIND_BIT (FM_KIND_LOAN);
    answer = s_test_answer (bank, query, now);
    assert (answer->offer_count == 2);
    assert (streq (answer->offers [0].offer_id, "TEST/GRIDE"));
    assert (streq (answer->offers [1].offer_id, "TEST/GUARD"));
    assert (answer->offers [1].kind == FM_KIND_INSURANCE);
    //  levers = * by default: both applied, 445 - 40
    assert (answer->offers [1].base_rate_bp == 445);
    assert (answer->offers [1].effective_rate_bp == 405);
    fm_msg_destroy (&answer);
    query->request.kinds = FM_KIND_BIT (FM_KIND_INSURANCE);
    answer = s_test_answer (bank, query, now);
    assert (answer->offer_count == 1);
    assert (streq (answer->offers [0].offer_id, "TEST/GUARD"));
    fm_msg_destroy (&answer);
    query->request.kinds = FM_KIND_BIT (FM_KIND_GUARANTEE);
    answer = s_test_answer (bank, query, now);
    s_test_reasons (answer, codes, sizeof codes);
    assert (streq (codes, "109:GRIDE,109:HOUSE,107:HOUSE,109:GUARD"));
    assert (streq (answer->declines [0].reasons [0].text,
                   "产品类型 贷款 不在申请类型(担保)之内"));
    fm_msg_destroy (&answer);
    fm_msg_destroy (&query);

    //  No tax consent: GRIDE needs credit data (108); HOUSE prices without
    //  it and skips the grade check, and the levers the government left
    //  out are not there to apply
    query = s_test_query ();
    query->request.amount_fen = INT64_C (200000000);
    query->request.collateral = FM_COLLATERAL_PROPERTY;
    query->request.consent = FM_CONSENT_PARTY;
    query->profile.shared = FM_CONSENT_PARTY;
    query->profile.tax_grade = 0;
    query->profile.lever_count = 1;     //  party_building only
    answer = s_test_answer (bank, query, now);
    assert (answer->offer_count == 1);
    offer = &answer->offers [0];
    assert (streq (offer->offer_id, "TEST/HOUSE"));
    assert (offer->without_credit_data);
    assert (offer->effective_rate_bp == 300 && offer->lever_count == 1);
    fm_msg_destroy (&answer);
    query->request.collateral = FM_COLLATERAL_NONE;
    answer = s_test_answer (bank, query, now);
    s_test_reasons (answer, codes, sizeof codes);
    assert (streq (codes, "108:GRIDE,107:HOUSE,109:GUARD,102:GUARD,107:GUARD"));
    fm_msg_destroy (&answer);
    fm_msg_destroy (&query);
    fm_bank_destroy (&bank);
    fm_bank_destroy (&bank);    //  idempotent

    //  A bank with no products declines with 111
    bank = s_test_bank ("bank\n    code = EMPTY\n    name = 空银行\n"
                        "    lpr_1y_bp = 345\n    lpr_5y_bp = 420\n", err, sizeof err);
    assert (bank);
    assert (fm_bank_product_count (bank) == 0);
    query = s_test_query ();
    answer = s_test_answer (bank, query, now);
    s_test_reasons (answer, codes, sizeof codes);
    assert (streq (codes, "111:"));
    assert (streq (answer->declines [0].reasons [0].text, "本行暂无可申请的产品"));
    fm_msg_destroy (&answer);
    fm_msg_destroy (&query);
    fm_bank_destroy (&bank);

    //  More reasons than fit: the first FM_MAX_REASONS are kept and the
    //  last one says how many were left out.  10 products x 3 reasons.
    zconfig_t *root = zconfig_new ("root", NULL);
    zconfig_put (root, "bank/code", "MANY");
    zconfig_put (root, "bank/name", "多产品银行");
    zconfig_put (root, "bank/lpr_1y_bp", "345");
    zconfig_put (root, "bank/lpr_5y_bp", "420");
    for (int index = 0; index < 10; index++) {
        char path [64];
        snprintf (path, sizeof path, "products/P%d/name", index);
        zconfig_put (root, path, "产品");
        snprintf (path, sizeof path, "products/P%d/min_amount_yuan", index);
        zconfig_put (root, path, "1000");
        snprintf (path, sizeof path, "products/P%d/max_amount_yuan", index);
        zconfig_put (root, path, "2000");
        snprintf (path, sizeof path, "products/P%d/min_term_months", index);
        zconfig_put (root, path, "1");
        snprintf (path, sizeof path, "products/P%d/max_term_months", index);
        zconfig_put (root, path, "6");
        snprintf (path, sizeof path, "products/P%d/grids", index);
        zconfig_put (root, path, "NOWHERE");
    }
    bank = fm_bank_load (root, "many.cfg", err, sizeof err);
    zconfig_destroy (&root);
    assert (bank);
    query = s_test_query ();
    answer = s_test_answer (bank, query, now);
    assert (answer->decline_count == 1);
    decline = &answer->declines [0];
    assert (decline->reason_count == FM_MAX_REASONS);
    assert (decline->reasons [0].code == FM_REASON_AMOUNT_ABOVE_MAX);
    assert (streq (decline->reasons [15].product, "P5"));
    assert (strstr (decline->reasons [15].text, "另有 14 条原因未列出"));
    assert (fm_utf8_valid (decline->reasons [15].text, strlen (decline->reasons [15].text)));
    if (verbose)
        printf ("%s\n", decline->reasons [15].text);
    fm_msg_destroy (&answer);
    fm_msg_destroy (&query);
    fm_bank_destroy (&bank);

    //  The shipped sample and the fixture load
    const char *source_dir = getenv ("FM_SOURCE_DIR");
    if (!source_dir)
        source_dir = ".";
    const char *files [] = { "deploy/finmatch-bank.cfg", "tests/data/workers/bank_small.cfg" };
    for (size_t index = 0; index < 2; index++) {
        root = zconfig_loadf ("%s/%s", source_dir, files [index]);
        if (!root)
            printf ("cannot read %s/%s (set FM_SOURCE_DIR)\n", source_dir, files [index]);
        assert (root);
        bank = fm_bank_load (root, files [index], err, sizeof err);
        if (!bank)
            printf ("%s\n", err);
        assert (bank);
        assert (fm_bank_product_count (bank) >= 2);
        fm_bank_destroy (&bank);
        zconfig_destroy (&root);
    }
    //  A secured bank's file holds its keys too (CURVE is the default:
    //  finmatch-bank without them refuses to start)
    root = zconfig_loadf ("%s/%s", source_dir, files [0]);
    assert (root);
    zconfig_put (root, "bank/cert", "/etc/finmatch/keys/bank-cqrcb_secret");
    zconfig_put (root, "bank/broker_key", "/etc/finmatch/keys/broker");
    zconfig_put (root, "bank/insecure", "0");
    bank = fm_bank_load (root, files [0], err, sizeof err);
    if (!bank)
        printf ("%s\n", err);
    assert (bank);
    fm_bank_destroy (&bank);
    zconfig_destroy (&root);

    //  Config errors name the file and the key
    s_test_config_error ("products\n", "t.cfg: bank: missing section");
    s_test_config_error ("bank\n    name = x\n    lpr_1y_bp = 1\n    lpr_5y_bp = 1\n",
                         "t.cfg: bank/code: missing");
    s_test_config_error ("bank\n    code = cqrcb\n", "t.cfg: bank/code: 'cqrcb' must be");
    s_test_config_error ("bank\n    code = X\n    name = x\n    lpr_1y_bp = 3.45\n",
                         "t.cfg: bank/lpr_1y_bp: '3.45' is not an integer");
    s_test_config_error ("bank\n    code = X\n    name = x\n    lpr_1y_bp = 345\n"
                         "    lpr_5y_bp = 20000\n",
                         "t.cfg: bank/lpr_5y_bp: 20000 is out of range 0..10000");
    s_test_config_error ("bank\n    code = X\n    name = x\n    lpr_1y_bp = 345\n"
                         "    lpr_5y_bp = 420\n    colour = red\n",
                         "t.cfg: bank/colour: unknown key");

    //  Product errors, each a one-line change of the good config
    struct {
        const char *from, *to, *expected;
    } cases [] = {
        { "kind = loan", "kind = lease",
          "t.cfg: products/GRIDE/kind: 'lease' is not loan, insurance or guarantee" },
        { "max_amount_yuan = 300万", "max_amount_yuan = 50000",
          "t.cfg: products/GRIDE/max_amount_yuan: below min_amount_yuan" },
        { "max_amount_yuan = 300万", "max_amount_yuan = 3百万",
          "t.cfg: products/GRIDE/max_amount_yuan: '3百万' is not an amount in yuan" },
        { "min_tax_grade = B", "min_tax_grade = E",
          "t.cfg: products/GRIDE/min_tax_grade: 'E' is not one of A B M C D" },
        { "spread_bp = 30", "spread_bp = 3O",
          "t.cfg: products/GRIDE/spread_bp: '3O' is not an integer" },
        { "max_term_months = 36", "max_term_months = 2",
          "t.cfg: products/GRIDE/max_term_months: below min_term_months" },
        { "partial = 0", "partial = maybe",
          "t.cfg: products/GRIDE/partial: 'maybe' is not 0 or 1" },
        { "collateral = property", "collateral = gold",
          "t.cfg: products/HOUSE/collateral: 'gold' is not none" },
        { "floor_bp = 250", "floor_bp = 400",
          "t.cfg: products/GRIDE/floor_bp: 400 is above the base rate" },
        { "spread_bp = -20", "spread_bp = -500",
          "t.cfg: products/HOUSE/spread_bp: base rate lpr_1y_bp + spread" },
        { "levers = party_building,", "lever = party_building,",
          "t.cfg: products/GRIDE/lever: unknown key" },
        { "grids = *", "grids = A,,B",
          "t.cfg: products/GRIDE/grids: 'A,,B' is not a comma list" },
        { "    GUARD\n", "    GRIDE\n",
          "t.cfg: products/GRIDE: product given twice" },
        { "        name = 房e贷\n", "",
          "t.cfg: products/HOUSE/name: missing" },
        { "        min_term_months = 12\n", "",
          "t.cfg: products/HOUSE/min_term_months: missing" },
    };
    for (size_t index = 0; index < sizeof cases / sizeof cases [0]; index++) {
        const char *at = strstr (s_test_cfg, cases [index].from);
        assert (at);
        char *text = zsys_sprintf ("%.*s%s%s", (int) (at - s_test_cfg), s_test_cfg,
                                   cases [index].to, at + strlen (cases [index].from));
        s_test_config_error (text, cases [index].expected);
        zstr_free (&text);
    }

    //  Issue 3: a government-paid lever (区级贴息) lowers what the
    //  enterprise pays, not the bank's rate: applied after the floor
    bank = s_test_bank (s_test_cfg, err, sizeof err);
    assert (bank);
    query = s_test_query ();
    fm_lever_t *subsidy = &query->profile.levers [query->profile.lever_count++];
    strcpy (subsidy->code, "subsidy");
    strcpy (subsidy->name, "区级贴息(制造业)");
    subsidy->bp = 50;
    subsidy->payer = FM_PAYER_GOVERNMENT;
    answer = s_test_answer (bank, query, now);
    assert (answer && answer->offer_count == 1);
    offer = &answer->offers [0];
    //  base 375, bank levers 30 + 10, then 50 paid by the district
    assert (offer->base_rate_bp == 375 && offer->effective_rate_bp == 285);
    assert (offer->lever_count == 3);
    assert (streq (offer->levers [2].code, "subsidy") && offer->levers [2].bp == 50);
    assert (offer->levers [2].payer == FM_PAYER_GOVERNMENT);
    s_test_levers_exact (offer);
    assert (offer->risk_gov_pct == 0 && offer->risk_guarantor_pct == 0);
    fm_msg_destroy (&answer);
    //  The floor (250) binds the bank's levers only: 125 from the bank,
    //  the full 50 from the district, 200 to the enterprise
    query->profile.levers [0].bp = 200;
    answer = s_test_answer (bank, query, now);
    offer = &answer->offers [0];
    assert (offer->effective_rate_bp == 200);
    assert (offer->levers [0].bp == 125 && offer->lever_count == 2);
    assert (offer->levers [1].payer == FM_PAYER_GOVERNMENT && offer->levers [1].bp == 50);
    s_test_levers_exact (offer);
    fm_msg_destroy (&answer);
    fm_msg_destroy (&query);
    fm_bank_destroy (&bank);

    //  Risk sharing on the offer, decline on a risk warning, towns
    const char *at = strstr (s_test_cfg, "        levers = party_building,tax_credit\n");
    assert (at);
    char *text = zsys_sprintf ("%.*s        risk_share = 30,20,50\n        on_warning = decline\n%s",
                               (int) (at - s_test_cfg), s_test_cfg, at);
    at = strstr (text, "    offer_valid_days");
    assert (at);
    char *with_towns = zsys_sprintf ("%.*s    towns = GYQ,JBZ\n%s", (int) (at - text), text, at);
    bank = s_test_bank (with_towns, err, sizeof err);
    if (!bank)
        printf ("%s\n", err);
    assert (bank && streq (fm_bank_towns (bank), "GYQ,JBZ"));
    query = s_test_query ();
    answer = s_test_answer (bank, query, now);
    assert (answer->offer_count == 1);
    assert (answer->offers [0].risk_gov_pct == 30 && answer->offers [0].risk_bank_pct == 20
            && answer->offers [0].risk_guarantor_pct == 50);
    zframe_t *encoded = fm_msg_encode (answer, NULL);
    assert (encoded);
    fm_msg_t *decoded = fm_msg_decode (zframe_data (encoded), zframe_size (encoded), NULL);
    assert (decoded && decoded->offers [0].risk_guarantor_pct == 50);
    fm_msg_destroy (&decoded);
    zframe_destroy (&encoded);
    fm_msg_destroy (&answer);
    strcpy (query->profile.warnings, "网格 JB01: 非法集资风险提示");
    answer = s_test_answer (bank, query, now);
    s_test_reasons (answer, codes, sizeof codes);
    assert (strstr (codes, "112:GRIDE"));
    bool warned = false;
    for (size_t index = 0; index < answer->declines [0].reason_count; index++)
        if (answer->declines [0].reasons [index].code == FM_REASON_RISK_WARNING)
            warned = strstr (answer->declines [0].reasons [index].text,
                             "风险预警: 网格 JB01") != NULL;
    assert (warned);
    fm_msg_destroy (&answer);
    //  A warning too long for the reason text is cut at a character
    //  boundary (vsnprintf cut it at a byte: the answer did not encode)
    for (size_t index = 0; index + 3 < sizeof query->profile.warnings; index += 3)
        memcpy (query->profile.warnings + index, "警", 3);
    query->profile.warnings [3 * ((sizeof query->profile.warnings - 1) / 3)] = 0;
    answer = s_test_answer (bank, query, now);
    warned = false;
    for (size_t index = 0; index < answer->declines [0].reason_count; index++) {
        const char *text = answer->declines [0].reasons [index].text;
        if (answer->declines [0].reasons [index].code == FM_REASON_RISK_WARNING) {
            warned = strncmp (text, "风险预警: 警警", strlen ("风险预警: 警警")) == 0;
            assert (fm_utf8_valid (text, strlen (text)));
            assert (strlen (text) > sizeof answer->declines [0].reasons [index].text - 4);
        }
    }
    assert (warned);
    fm_msg_destroy (&answer);
    fm_msg_destroy (&query);
    fm_bank_destroy (&bank);
    s_test_uplift_and_flag ();
    zstr_free (&with_towns);
    zstr_free (&text);

    //  The deployed institutions (deploy/banks): 33, 72 products (70 of
    //  the dataset + the two pilot banks' 党建 pilot products, issue 3's
    //  scenarios), every one paired with at least one town
    char *dir_path = zsys_sprintf ("%s/deploy/banks", source_dir);
    zdir_t *dir = zdir_new (dir_path, NULL);
    assert (dir);
    zlist_t *cfg_files = zdir_list (dir);
    size_t institutions = 0, products = 0;
    for (zfile_t *file = (zfile_t *) zlist_first (cfg_files); file;
         file = (zfile_t *) zlist_next (cfg_files)) {
        const char *name = zfile_filename (file, NULL);
        if (strlen (name) < 4 || !streq (name + strlen (name) - 4, ".cfg"))
            continue;
        zconfig_t *root = zconfig_load (name);
        assert (root);
        bank = fm_bank_load (root, name, err, sizeof err);
        if (!bank)
            printf ("%s\n", err);
        assert (bank);
        assert (*fm_bank_towns (bank));
        institutions++;
        products += fm_bank_product_count (bank);
        fm_bank_destroy (&bank);
        zconfig_destroy (&root);
    }
    if (verbose)
        printf ("deploy/banks: %zu institutions, %zu products\n", institutions, products);
    assert (institutions == 33 && products == 72);
    zlist_destroy (&cfg_files);
    zdir_destroy (&dir);
    zstr_free (&dir_path);
    fm_msg_destroy (&s_test_reused);
    //  @end
}
