/*  =========================================================================
    fm_json - JSON rendering of what the broker sends a client

    The `--json` face of the finmatch CLI: results, confirmations, errors
    and events as jansson objects.  Numbers stay in the units of the wire
    (money in integer fen, rates in integer basis points, times in integer
    µs UTC) so a script never parses "300万元" or "3.45%"; strings are the
    UTF-8 of the wire.  No JSON real is ever produced, so the output does
    not depend on the locale (jansson formats reals with the C library).

    Every object carries "type" ("result", "confirmation", "error", or the
    event type such as "offer.made") so that a stream of lines mixing kinds
    (request --live --json) can be told apart.  Field names are the wire
    field names of proto/SPEC.md.
    =========================================================================
*/

#ifndef FM_JSON_H_INCLUDED
#define FM_JSON_H_INCLUDED

#include <jansson.h>
#include <stdio.h>
#include "fm_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

//  A RESULT message: request_id, enterprise_id, idem_key, status, text,
//  offers (ranked, each with "rank" from 1 and its levers), declines (each
//  with every reason: code, name, product, text), timed_out (bank codes).
//  Returns a new object the caller owns, or NULL if out of memory.
json_t *
    fm_json_result (const fm_msg_t *msg);

//  A CONFIRMATION message: request_id, enterprise_id, offer_id, bank,
//  granted, loan_id, amount_fen, base_rate_bp, effective_rate_bp,
//  term_months, text.  Returns a new object or NULL if out of memory.
json_t *
    fm_json_confirmation (const fm_msg_t *msg);

//  An error: {"type":"error","request_id","status","status_name","text"}.
//  Used for ERROR replies and, with local = true, for failures the client
//  itself detected (no answer in time): those carry "local": true.
//  request_id may be NULL or "".  Returns a new object or NULL.
json_t *
    fm_json_error (const char *request_id, int status, const char *text,
                   bool local);

//  Any reply: dispatches on msg->type (RESULT, CONFIRMATION, ERROR; other
//  types give {"type":"<wire name>","request_id"}).  Returns a new object
//  or NULL.
json_t *
    fm_json_reply (const fm_msg_t *msg);

//  An event: epoch, seq, ts_us, type, then every field that is set
//  (non-empty strings, non-zero numbers, levers when any).  Returns a new
//  object or NULL.
json_t *
    fm_json_event (const fm_event_t *event);

//  Print json compactly on one line to file, followed by a newline, and
//  flush (scripts read line by line).  Takes ownership of *json_p and
//  nulls it, also on failure.  Returns 0, or -1 if *json_p is NULL (out
//  of memory earlier) or the write failed.
int
    fm_json_print (json_t **json_p, FILE *file);

#ifdef __cplusplus
}
#endif

#endif
