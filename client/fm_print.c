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
        int rc = snprintf (buf + used, size - used, "%s%s-%dbp",
                           index? ", ": "", name, (int) levers [index].bp);
        if (rc < 0)
            break;
        used += (size_t) rc;
    }
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
    if (msg->status != FM_STATUS_OK)
        fprintf (file, _("Status %u: %s\n"), (unsigned) msg->status,
                 *msg->text? msg->text: fm_status_name (msg->status));
    if (msg->offer_count) {
        fprintf (file, _("%zu offers (ranked by effective rate):\n"), msg->offer_count);
        s_print_offers (file, msg);
    }
    else
    if (msg->status == FM_STATUS_OK)
        fprintf (file, "%s\n", _("No bank made an offer"));

    if (msg->decline_count) {
        fprintf (file, _("Declined by %zu banks:\n"), msg->decline_count);
        for (size_t index = 0; index < msg->decline_count; index++) {
            const fm_decline_t *decline = &msg->declines [index];
            fprintf (file, "  %s\n", decline->bank);
            for (size_t reason = 0; reason < decline->reason_count; reason++) {
                const fm_reason_t *it = &decline->reasons [reason];
                fprintf (file, "    %u %s%s%s%s %s\n",
                         (unsigned) it->code, fm_reason_name (it->code),
                         *it->product? " [": "", it->product,
                         *it->product? "]": "", it->text);
            }
        }
    }
    if (msg->timed_out_count) {
        fprintf (file, _("No answer in time from %zu banks:"), msg->timed_out_count);
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
             *msg->text? msg->text: fm_status_name (msg->status));
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
            fprintf (file, _(" enterprise %s sent to %u banks"),
                     event->enterprise_id, (unsigned) event->count);
            break;
        case FM_EV_OFFER_MADE:
            fprintf (file, _(" %s %s amount %s term %s rate %s→%s%s%s"),
                     event->bank, event->offer_id, amount, term, base, effective,
                     *levers? _(" reductions "): "", levers);
            break;
        case FM_EV_DECLINE_MADE:
            fprintf (file, _(" %s declined %u %s %s"), event->bank,
                     (unsigned) event->reason_code,
                     fm_reason_name (event->reason_code), event->text);
            break;
        case FM_EV_BANK_TIMEOUT:
            fprintf (file, _(" %s did not answer in time"), event->bank);
            break;
        case FM_EV_REQUEST_COMPLETED:
            fprintf (file, _(" status %u offers %u"), (unsigned) event->status,
                     (unsigned) event->count);
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
