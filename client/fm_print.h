/*  =========================================================================
    fm_print - human rendering of requests, results, confirmations, events

    The default (non --json) face of the finmatch CLI, shared by request,
    accept and watch so that an offer looks the same wherever it appears.
    Texts in the user's language (fm_i18n: Chinese by default); money
    goes through fm_i18n_money ("300万元" / "¥3 million"), rates through
    fm_rate_pct ("3.45%"), times are local (Asia/Shanghai), tables
    through fm_table (aligned by display width, long names cut with "…").
    Identifiers a user must type back (request id, offer id) are never cut.
    All functions write to the given stream and cannot fail (a failed write
    to stdout is the shell's business).
    =========================================================================
*/

#ifndef FM_PRINT_H_INCLUDED
#define FM_PRINT_H_INCLUDED

#include <stdio.h>
#include "fm_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

//  One line describing a request as sent: request id, enterprise, amount
//  (万元), term, and the non-default options.
void
    fm_print_request (FILE *file, const char *request_id,
                      const fm_request_t *request);

//  A RESULT: status line when not 200, the ranked offers as a table, every
//  decline with every reason (code name and text), and banks that timed
//  out.
void
    fm_print_result (FILE *file, const fm_msg_t *msg);

//  A CONFIRMATION: loan id, bank, amount, rate, term; or the withdrawal.
void
    fm_print_confirmation (FILE *file, const fm_msg_t *msg);

//  An ERROR reply: the status and its localized meaning ("错误 404：未找到
//  (企业、需求或报价不存在)"), then the broker's text as the detail when it
//  adds something (the ids involved).  Wire texts are data in English and
//  are never translated (proto/SPEC.md, "Texts").
void
    fm_print_error (FILE *file, const fm_msg_t *msg);

//  What a status code means, in the user's language ("not found: no such
//  enterprise, request or offer").  Borrowed (catalogue); cannot fail.
const char *
    fm_print_status_meaning (uint16_t status);

//  What a decline reason code means, in the user's language ("amount above
//  the product's maximum").  Borrowed (catalogue); cannot fail.
const char *
    fm_print_reason_meaning (uint16_t code);

//  One decline reason for the user into buf: the product, the localized
//  meaning of the code and, as the detail, the bank's own text (wire data
//  in the bank's language: never translated) when it says more than the
//  meaning.  Returns buf.
char *
    fm_print_reason (const fm_reason_t *reason, char *buf, size_t size);

//  Any reply, dispatching on its type.
void
    fm_print_reply (FILE *file, const fm_msg_t *msg);

//  One event on one line: local time with ms, seq, type, request id (or
//  the service / "-"), then the details of its type.
void
    fm_print_event (FILE *file, const fm_event_t *event);

//  The levers as "name-30bp, name-10bp" into buf; "" if none.  Returns buf.
char *
    fm_print_levers (const fm_lever_t *levers, size_t count,
                     char *buf, size_t size);

//  Why code is not a valid unified social credit code, for the user:
//  "'X': a unified social credit code has 18 characters, not 17", bad
//  alphabet, or "bad check character 'X' (expected 'Y')".  Writes into
//  buf and returns it; "" if the code is valid.
char *
    fm_print_credit_code_problem (const char *code, char *buf, size_t size);

//  Self test
void
    fm_print_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
