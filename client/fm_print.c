/*  =========================================================================
    fm_print - human rendering of requests, results, confirmations, events

    Pure formatting over decoded records: no I/O other than the stream
    given, no state.  Column widths of the offer table are chosen so that a
    result fits 120 terminal cells with typical Chinese bank and product
    names; names longer than their column are cut by fm_table with "…".
    =========================================================================
*/

#include <czmq.h>
#include <time.h>
#include "fm_print.h"
#include "fm_money.h"
#include "fm_text.h"
#include "fm_ids.h"
#include "fm_i18n.h"

//  Display widths of the cut columns, in terminal cells
#define BANK_CELLS      24
#define PRODUCT_CELLS   16
#define LEVERS_CELLS    40

static const char *
s_kind_cn (fm_kind_t kind)
{
    switch (kind) {
        case FM_KIND_LOAN:      return _("loan");
        case FM_KIND_INSURANCE: return _("insurance");
        case FM_KIND_GUARANTEE: return _("guarantee");
        default:                return "?";
    }
}

static const char *
s_collateral_cn (fm_collateral_t collateral)
{
    switch (collateral) {
        case FM_COLLATERAL_NONE:        return _("none (credit)");
        case FM_COLLATERAL_PROPERTY:    return _("property mortgage");
        case FM_COLLATERAL_EQUIPMENT:   return _("equipment mortgage");
        case FM_COLLATERAL_RECEIVABLES: return _("receivables pledge");
        case FM_COLLATERAL_GUARANTEE:   return _("third-party guarantee");
        default:                        return "?";
    }
}

char *
fm_print_levers (const fm_lever_t *levers, size_t count,
                 char *buf, size_t size)
{
    assert (buf && size);
    buf [0] = 0;
    size_t used = 0;
    for (size_t index = 0; index < count && used < size; index++) {
        const char *name = *levers [index].name? levers [index].name
                                               : levers [index].code;
        int rc = snprintf (buf + used, size - used, "%s%s -%d BP",
                           index? ", ": "", name, (int) levers [index].bp);
        if (rc < 0)
            break;
        used += (size_t) rc;
    }
    return buf;
}

//  --------------------------------------------------------------------------
//  Codes for the user.  Texts that other processes put on the wire (ERROR
//  and RESULT texts from the broker, decline reasons and withdrawals from
//  banks) are data: the broker writes English, banks write Chinese, and
//  nobody translates them in transit.  The user reads the code's meaning
//  from our catalogue, in their language, and the wire text after it as
//  the detail: it names the ids and figures involved.

const char *
fm_print_status_meaning (uint16_t status)
{
    switch (status) {
        case FM_STATUS_OK:
            return _("done");
        case FM_STATUS_BAD_REQUEST:
            return _("invalid request");
        case FM_STATUS_FORBIDDEN:
            return _("not allowed (another enterprise's request, or a "
                     "service clients may not call)");
        case FM_STATUS_NOT_FOUND:
            return _("not found (no such enterprise, request or offer)");
        case FM_STATUS_CONFLICT:
            return _("conflict (the key was used for another request, or "
                     "another offer was already accepted)");
        case FM_STATUS_GONE:
            return _("the offer has expired or was withdrawn");
        case FM_STATUS_TOO_LARGE:
            return _("message too large");
        case FM_STATUS_INTERNAL:
            return _("internal error in the broker");
        case FM_STATUS_NOT_IMPLEMENTED:
            return _("not supported");
        case FM_STATUS_UNAVAILABLE:
            return _("service unavailable (no worker, or busy); try again later");
        case FM_STATUS_TIMEOUT:
            return _("a service did not answer in time; try again later");
        case FM_STATUS_BAD_VERSION:
            return _("protocol version not supported");
    }
    return _("unknown status");
}

const char *
fm_print_reason_meaning (uint16_t code)
{
    switch (code) {
        case FM_REASON_AMOUNT_BELOW_MIN:
            return _("amount below the product's minimum");
        case FM_REASON_AMOUNT_ABOVE_MAX:
            return _("amount above the product's maximum");
        case FM_REASON_TERM_OUT_OF_RANGE:
            return _("term outside the product's range");
        case FM_REASON_INDUSTRY_NOT_SERVED:
            return _("industry not served by the product");
        case FM_REASON_GRID_NOT_SERVED:
            return _("grid not served by the product");
        case FM_REASON_CREDIT_GRADE_TOO_LOW:
            return _("tax credit grade below the product's requirement");
        case FM_REASON_COLLATERAL_REQUIRED:
            return _("the product requires other collateral");
        case FM_REASON_NO_CREDIT_CONSENT:
            return _("the product needs consent to share tax credit data");
        case FM_REASON_KIND_NOT_WANTED:
            return _("product kind not asked for");
        case FM_REASON_RENEWAL_NOT_OFFERED:
            return _("the product does not serve renewals");
        case FM_REASON_NO_PRODUCTS:
            return _("the bank has no product to apply for");
    }
    return _("other reason");
}

//  True if a wire text adds something to the status meaning: not empty
//  and not just the status's English name
static bool
s_text_adds (const char *text, uint16_t status)
{
    return *text && strcasecmp (text, fm_status_name (status)) != 0;
}

char *
fm_print_reason (const fm_reason_t *reason, char *buf, size_t size)
{
    assert (reason && buf && size);
    const char *meaning = fm_print_reason_meaning (reason->code);
    //  The bank's text is data in the bank's language; shown as given
    if (*reason->product && *reason->text)
        snprintf (buf, size, _("[%s] %s (%u) — bank: %s"), reason->product,
                  meaning, (unsigned) reason->code, reason->text);
    else
    if (*reason->product)
        snprintf (buf, size, _("[%s] %s (%u)"), reason->product, meaning,
                  (unsigned) reason->code);
    else
    if (*reason->text)
        snprintf (buf, size, _("%s (%u) — bank: %s"), meaning,
                  (unsigned) reason->code, reason->text);
    else
        snprintf (buf, size, _("%s (%u)"), meaning, (unsigned) reason->code);
    return buf;
}

//  A term in months, for the user: "12个月", "12 months", "1 month"
static char *
s_term (unsigned months, char *buf, size_t size)
{
    if (months == 1)
        snprintf (buf, size, "%s", _("1 month"));
    else
        snprintf (buf, size, _("%u months"), months);
    return buf;
}

//  Consent bits as the flag spells them
static void
s_consent_text (uint32_t consent, char *buf, size_t size)
{
    if (consent == FM_CONSENT_ALL)
        snprintf (buf, size, "all");
    else
    if (consent == 0)
        snprintf (buf, size, "none");
    else
        snprintf (buf, size, "%s%s%s%s%s",
                  consent & FM_CONSENT_TAX? "tax": "",
                  (consent & FM_CONSENT_TAX) && (consent & ~FM_CONSENT_TAX)? ",": "",
                  consent & FM_CONSENT_SOCIAL? "social_insurance": "",
                  (consent & FM_CONSENT_SOCIAL) && (consent & FM_CONSENT_PARTY)? ",": "",
                  consent & FM_CONSENT_PARTY? "party_building": "");
}

void
fm_print_request (FILE *file, const char *request_id,
                  const fm_request_t *request)
{
    assert (file && request_id && request);
    char amount [48], term [48];
    fm_i18n_money (request->amount_fen, amount, sizeof amount);
    fprintf (file, _("Request %s  enterprise %s  amount %s  term %s"),
             request_id, request->enterprise_id, amount,
             s_term (request->term_months, term, sizeof term));
    if (request->type == FM_REQ_RENEWAL)
        fprintf (file, _("  renewal (of loan %s)"),
                 *request->prior_loan_id? request->prior_loan_id: "-");
    if (*request->grid_id)
        fprintf (file, _("  grid %s"), request->grid_id);
    if (request->collateral != FM_COLLATERAL_NONE)
        fprintf (file, _("  collateral %s"), s_collateral_cn (request->collateral));
    if (request->consent != FM_CONSENT_ALL) {
        char consent [64];
        s_consent_text (request->consent, consent, sizeof consent);
        fprintf (file, _("  consent %s"), consent);
    }
    if (request->kinds && request->kinds != FM_KIND_BIT (FM_KIND_LOAN)) {
        fprintf (file, "%s", _("  kinds"));
        for (int kind = 0; kind < FM_KIND_COUNT; kind++)
            if (request->kinds & FM_KIND_BIT (kind))
                fprintf (file, " %s", s_kind_cn ((fm_kind_t) kind));
    }
    if (*request->purpose)
        fprintf (file, _("  purpose %s"), request->purpose);
    fprintf (file, "\n");
}

static void
s_print_offers (FILE *file, const fm_msg_t *msg)
{
    fm_table_t *table = fm_table_new (10);
    if (!table)
        return;
    fm_table_column (table, 0, _("Rank"), FM_ALIGN_RIGHT, 0);
    fm_table_column (table, 1, _("Bank"), FM_ALIGN_LEFT, BANK_CELLS);
    fm_table_column (table, 2, _("Product"), FM_ALIGN_LEFT, PRODUCT_CELLS);
    fm_table_column (table, 3, _("Kind"), FM_ALIGN_LEFT, 0);
    fm_table_column (table, 4, _("Amount"), FM_ALIGN_RIGHT, 0);
    fm_table_column (table, 5, _("Term"), FM_ALIGN_RIGHT, 0);
    fm_table_column (table, 6, _("Base rate"), FM_ALIGN_RIGHT, 0);
    fm_table_column (table, 7, _("Reductions"), FM_ALIGN_LEFT, LEVERS_CELLS);
    fm_table_column (table, 8, _("Rate"), FM_ALIGN_RIGHT, 0);
    //  Never cut: the user types it back into `finmatch accept`
    fm_table_column (table, 9, _("Offer id"), FM_ALIGN_LEFT, 0);

    //  Offers priced without consented credit data are marked "*"; the
    //  others get a space there so that the rates stay aligned
    bool any_without_data = false;
    for (size_t index = 0; index < msg->offer_count; index++)
        if (msg->offers [index].without_credit_data)
            any_without_data = true;
    for (size_t index = 0; index < msg->offer_count; index++) {
        const fm_offer_t *offer = &msg->offers [index];
        char rank [24], term [32], amount [48], base [16], effective [24];
        char levers [FM_MAX_LEVERS * (FM_NAME_SIZE + 16)];
        snprintf (rank, sizeof rank, "%zu", index + 1);
        s_term (offer->term_months, term, sizeof term);
        fm_i18n_money (offer->amount_fen, amount, sizeof amount);
        fm_rate_pct (offer->base_rate_bp, base, sizeof base);
        fm_rate_pct (offer->effective_rate_bp, effective, sizeof effective);
        if (any_without_data)
            strcat (effective, offer->without_credit_data? "*": " ");
        fm_print_levers (offer->levers, offer->lever_count,
                         levers, sizeof levers);
        const char *cells [10] = {
            rank,
            *offer->bank_name? offer->bank_name: offer->bank,
            *offer->product_name? offer->product_name: offer->product,
            s_kind_cn (offer->kind),
            amount, term, base,
            *levers? levers: "-",
            effective,
            offer->offer_id
        };
        fm_table_row (table, cells);
    }
    fm_table_print (table, file);
    fm_table_destroy (&table);
    if (any_without_data)
        fprintf (file, "%s\n", _("  * priced without consented credit data"));
}

void
fm_print_result (FILE *file, const fm_msg_t *msg)
{
    assert (file && msg);
    if (msg->status != FM_STATUS_OK) {
        fprintf (file, _("Status %u: %s\n"), (unsigned) msg->status,
                 fm_print_status_meaning (msg->status));
        if (s_text_adds (msg->text, msg->status))
            fprintf (file, _("  detail: %s\n"), msg->text);
    }
    if (msg->offer_count) {
        fprintf (file, P_("%zu offer (ranked by effective rate):\n",
                          "%zu offers (ranked by effective rate):\n",
                          (int64_t) msg->offer_count), msg->offer_count);
        s_print_offers (file, msg);
    }
    else
    if (msg->status == FM_STATUS_OK)
        fprintf (file, "%s\n", _("No bank made an offer"));

    if (msg->decline_count) {
        fprintf (file, P_("Declined by %zu bank:\n", "Declined by %zu banks:\n",
                          (int64_t) msg->decline_count), msg->decline_count);
        for (size_t index = 0; index < msg->decline_count; index++) {
            const fm_decline_t *decline = &msg->declines [index];
            fprintf (file, "  %s\n", decline->bank);
            for (size_t reason = 0; reason < decline->reason_count; reason++) {
                char line [FM_TEXT_SIZE + FM_CODE_SIZE + 256];
                fprintf (file, "    %s\n",
                         fm_print_reason (&decline->reasons [reason],
                                          line, sizeof line));
            }
        }
    }
    if (msg->timed_out_count) {
        fprintf (file, P_("No answer in time from %zu bank:",
                          "No answer in time from %zu banks:",
                          (int64_t) msg->timed_out_count), msg->timed_out_count);
        for (size_t index = 0; index < msg->timed_out_count; index++)
            fprintf (file, " %s", msg->timed_out [index]);
        fprintf (file, "\n");
    }
}

void
fm_print_confirmation (FILE *file, const fm_msg_t *msg)
{
    assert (file && msg);
    const fm_confirmation_t *it = &msg->confirmation;
    if (it->granted) {
        char amount [48], base [16], effective [16], term [48];
        fm_i18n_money (it->amount_fen, amount, sizeof amount);
        fm_rate_pct (it->base_rate_bp, base, sizeof base);
        fm_rate_pct (it->effective_rate_bp, effective, sizeof effective);
        fprintf (file, _("Loan granted  loan id %s\n"), it->loan_id);
        fprintf (file, _("  request %s  offer %s  bank %s\n"),
                 msg->request_id, it->offer_id, it->bank);
        fprintf (file, _("  amount %s  term %s  rate %s → %s\n"),
                 amount, s_term (it->term_months, term, sizeof term),
                 base, effective);
    }
    else
        fprintf (file, _("Offer withdrawn  request %s  offer %s  bank %s: %s\n"),
                 msg->request_id, it->offer_id, it->bank,
                 *it->text? it->text: _("(no reason given)"));
}

void
fm_print_error (FILE *file, const fm_msg_t *msg)
{
    assert (file && msg);
    fprintf (file, _("Error %u: %s\n"), (unsigned) msg->status,
             fm_print_status_meaning (msg->status));
    if (s_text_adds (msg->text, msg->status))
        fprintf (file, _("  detail: %s\n"), msg->text);
}

void
fm_print_reply (FILE *file, const fm_msg_t *msg)
{
    assert (file && msg);
    if (msg->type == FM_MSG_RESULT)
        fm_print_result (file, msg);
    else
    if (msg->type == FM_MSG_CONFIRMATION)
        fm_print_confirmation (file, msg);
    else
    if (msg->type == FM_MSG_ERROR)
        fm_print_error (file, msg);
    else
        fprintf (file, _("Unexpected reply type %s\n"), fm_msg_type_name (msg->type));
}

//  The key column of an event line: its request, else its service, else -
static const char *
s_event_key (const fm_event_t *event)
{
    if (*event->request_id)
        return event->request_id;
    if (*event->service)
        return event->service;
    return "-";
}

void
fm_print_event (FILE *file, const fm_event_t *event)
{
    assert (file && event);
    //  Local time (Asia/Shanghai unless TZ says otherwise: fm_i18n): the
    //  operator watching reads wall-clock time
    char clock [16];
    fm_i18n_time (event->ts_us, "%H:%M:%S", clock, sizeof clock);
    if (streq (clock, "-"))
        snprintf (clock, sizeof clock, "--:--:--");
    int millis = (int) ((event->ts_us % 1000000) / 1000);
    if (millis < 0)
        millis = 0;

    char amount [48] = "", base [16] = "", effective [16] = "", term [48];
    char levers [FM_MAX_LEVERS * (FM_NAME_SIZE + 16)];
    fm_i18n_money (event->amount_fen, amount, sizeof amount);
    s_term (event->term_months, term, sizeof term);
    fm_rate_pct (event->base_rate_bp, base, sizeof base);
    fm_rate_pct (event->effective_rate_bp, effective, sizeof effective);
    fm_print_levers (event->levers, event->lever_count, levers, sizeof levers);

    fprintf (file, "%s.%03d #%-6" PRIu64 " %-18s %-16s", clock, millis,
             event->seq, fm_event_type_name (event->type),
             s_event_key (event));
    switch (event->type) {
        case FM_EV_REQUEST_RECEIVED:
            fprintf (file, _(" enterprise %s grid %s amount %s term %s%s%s"),
                     event->enterprise_id, *event->grid_id? event->grid_id: "-",
                     amount, term, *event->text? _(" purpose "): "", event->text);
            break;
        case FM_EV_REQUEST_ENRICHED:
            fprintf (file, _(" enterprise %s industry %s grid %s%s%s"),
                     event->enterprise_id, event->industry, event->grid_id,
                     *levers? _(" reductions "): "", levers);
            break;
        case FM_EV_REQUEST_DISPATCHED:
            fprintf (file, P_(" enterprise %s sent to %u bank",
                              " enterprise %s sent to %u banks", event->count),
                     event->enterprise_id, (unsigned) event->count);
            break;
        case FM_EV_OFFER_MADE:
            fprintf (file, _(" %s %s amount %s term %s rate %s→%s%s%s"),
                     event->bank, event->offer_id, amount, term, base, effective,
                     *levers? _(" reductions "): "", levers);
            break;
        case FM_EV_DECLINE_MADE:
            fprintf (file, _(" %s declined: %s (%u) %s"), event->bank,
                     fm_print_reason_meaning (event->reason_code),
                     (unsigned) event->reason_code, event->text);
            break;
        case FM_EV_BANK_TIMEOUT:
            fprintf (file, _(" %s did not answer in time"), event->bank);
            break;
        case FM_EV_REQUEST_COMPLETED:
            fprintf (file, P_(" status %u, %u offer", " status %u, %u offers",
                              event->count),
                     (unsigned) event->status, (unsigned) event->count);
            break;
        case FM_EV_OFFER_ACCEPTED:
            fprintf (file, _(" %s %s amount %s"), event->bank, event->offer_id,
                     amount);
            break;
        case FM_EV_LOAN_GRANTED:
            fprintf (file, _(" %s loan %s amount %s term %s rate %s→%s"),
                     event->bank, event->loan_id, amount, term, base, effective);
            break;
        case FM_EV_OFFER_WITHDRAWN:
            fprintf (file, _(" %s %s withdrawn: %s"), event->bank, event->offer_id,
                     event->text);
            break;
        case FM_EV_WORKER_READY:
            fprintf (file, _(" peer %s capacity %u"), event->peer,
                     (unsigned) event->count);
            break;
        case FM_EV_WORKER_EXPIRED:
            fprintf (file, _(" peer %s expired"), event->peer);
            break;
        case FM_EV_INPUT_REJECTED:
            fprintf (file, _(" peer %s status %u %s"), event->peer,
                     (unsigned) event->status, event->text);
            break;
        case FM_EV_LATE_REPLY:
            fprintf (file, _(" %s %s late reply"), event->bank, event->service);
            break;
        default:
            break;
    }
    fprintf (file, "\n");
}

char *
fm_print_credit_code_problem (const char *code, char *buf, size_t size)
{
    assert (code && buf && size);
    buf [0] = 0;
    if (fm_credit_code_valid (code))
        return buf;
    size_t length = strlen (code);
    if (length != 18) {
        snprintf (buf, size, _("'%.40s': a unified social credit code has 18 "
                  "characters, not %zu"), code, length);
        return buf;
    }
    char first17 [18];
    memcpy (first17, code, 17);
    first17 [17] = 0;
    char check = fm_credit_code_check_char (first17);
    if (check == 0 || !strchr ("0123456789ABCDEFGHJKLMNPQRTUWXY", code [17]))
        snprintf (buf, size, _("'%s': only digits and capital letters other "
                  "than I O S V Z are allowed"), code);
    else
        snprintf (buf, size, _("'%s': bad check character '%c' (expected '%c')"),
                  code, code [17], check);
    return buf;
}


//  --------------------------------------------------------------------------
//  Selftest: codes are rendered in the user's language, wire texts follow
//  as the detail, untranslated; counted nouns agree with their number

//  Render msg with fm_print_reply in lang into a new string (caller frees)
static char *
s_test_render (const fm_msg_t *msg, const char *lang)
{
    int rc = fm_i18n_set_lang (lang);
    assert (rc == 0);
    char *text = NULL;
    size_t size = 0;
    FILE *file = open_memstream (&text, &size);
    assert (file);
    fm_print_reply (file, msg);
    fclose (file);
    return text;
}

void
fm_print_test (bool verbose)
{
    printf (" * fm_print: ");
    //  @selftest
    //  A broker ERROR: its text is English data from the wire
    fm_msg_t *error = fm_msg_new_error ("0123456789abcdef", FM_STATUS_CONFLICT,
                                        "offer ABC/P1 was already accepted for "
                                        "request 0123456789abcdef");
    assert (error);
    char *text = s_test_render (error, "zh");
    assert (fm_i18n_catalogue_loaded ());
    if (verbose)
        printf ("\n%s", text);
    assert (strstr (text, "错误 409"));
    assert (strstr (text, "已接受其他报价"));
    assert (strstr (text, "详情：offer ABC/P1 was already accepted"));
    free (text);
    text = s_test_render (error, "en");
    assert (strstr (text, "Error 409: conflict"));
    assert (strstr (text, "detail: offer ABC/P1 was already accepted"));
    free (text);
    //  A text that only repeats the status name adds nothing
    snprintf (error->text, sizeof error->text, "not found");
    error->status = FM_STATUS_NOT_FOUND;
    text = s_test_render (error, "en");
    assert (strstr (text, "Error 404: not found (no such"));
    assert (!strstr (text, "detail"));
    free (text);
    fm_msg_destroy (&error);

    //  A RESULT with one decline: the bank's Chinese text stays as given,
    //  the code's meaning is in the user's language
    fm_msg_t *result = fm_msg_new (FM_MSG_RESULT);
    assert (result);
    result->status = FM_STATUS_OK;
    fm_decline_t decline;
    memset (&decline, 0, sizeof decline);
    snprintf (decline.bank, sizeof decline.bank, "CQRCB");
    decline.reason_count = 2;
    decline.reasons [0].code = FM_REASON_AMOUNT_ABOVE_MAX;
    snprintf (decline.reasons [0].product, sizeof decline.reasons [0].product, "GRIDE");
    snprintf (decline.reasons [0].text, sizeof decline.reasons [0].text,
              "金额 500万元 超过产品上限 300万元");
    decline.reasons [1].code = FM_REASON_NO_PRODUCTS;
    int rc = fm_msg_add_decline (result, &decline);
    assert (rc == 0);
    text = s_test_render (result, "en");
    if (verbose)
        printf ("%s", text);
    assert (strstr (text, "No bank made an offer"));
    assert (strstr (text, "Declined by 1 bank:\n"));
    assert (strstr (text, "[GRIDE] amount above the product's maximum (102)"
                          " — bank: 金额 500万元 超过产品上限 300万元"));
    assert (strstr (text, "the bank has no product to apply for (111)\n"));
    free (text);
    text = s_test_render (result, "zh");
    if (verbose)
        printf ("%s", text);
    assert (strstr (text, "1 家银行婉拒"));
    assert (strstr (text, "[GRIDE] 金额超过产品上限（102）— 银行说明：金额 500万元"));
    free (text);
    //  A failed RESULT: the meaning, then the broker's text
    result->status = FM_STATUS_UNAVAILABLE;
    snprintf (result->text, sizeof result->text, "no bank service registered");
    text = s_test_render (result, "zh");
    assert (strstr (text, "状态 503"));
    assert (strstr (text, "服务暂不可用"));
    assert (strstr (text, "详情：no bank service registered"));
    free (text);
    fm_msg_destroy (&result);

    //  Reductions in BP in both languages
    fm_i18n_set_lang ("en");
    fm_lever_t levers [2];
    memset (levers, 0, sizeof levers);
    snprintf (levers [0].code, sizeof levers [0].code, "party_building");
    snprintf (levers [0].name, sizeof levers [0].name, "党建增信(A级)");
    levers [0].bp = 30;
    snprintf (levers [1].code, sizeof levers [1].code, "tax_credit");
    levers [1].bp = 10;
    char buf [200];
    assert (streq (fm_print_levers (levers, 2, buf, sizeof buf),
                   "党建增信(A级) -30 BP, tax_credit -10 BP"));
    assert (streq (fm_print_reason_meaning (999), "other reason"));
    //  @end
    printf ("OK\n");
}
