/*  =========================================================================
    fm_dash - live aggregation of the event stream for the dashboard

    Folds broker events, one at a time, into the same figures that
    `finmatch report` computes by SQL over the recorder's log (definitions
    in client/fm_report.h), so the dashboard needs no database: requests
    and enterprises are distinct ids, loans are counted once per loan_id, a
    request's grid is that of its request.received or, when the client
    left it empty, that of its request.enriched, its town that of its
    request.enriched.  Banks and towns are named as the report names them
    (fm_dash_set_names: the same loaders, the same files).  It also keeps the live
    extras the report does not have: requests completed, deadline misses
    (bank.timeout plus sla.breach when the broker publishes it), and the
    most recent events.

    Costs: every distinct request id, enterprise and loan id is kept in a
    hash so that replays and repeats never count twice; memory grows with
    the stream (about 150 bytes a request).  A dashboard meant to run for
    years should be restarted, or read the figures from the log (--db).
    Not thread safe: the dashboard holds its own lock around every call.
    =========================================================================
*/

#ifndef FM_DASH_H_INCLUDED
#define FM_DASH_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <jansson.h>
#include "fm_proto.h"
#include "fm_report.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct _fm_dash_t fm_dash_t;

//  Create an empty aggregation that keeps the recent_max newest events
//  (at least 1).  Returns NULL if out of memory.
fm_dash_t *
    fm_dash_new (size_t recent_max);

//  Destroy; idempotent, nulls *self_p.
void
    fm_dash_destroy (fm_dash_t **self_p);

//  Fold one event in (event borrowed).  Returns 0, or -1 if out of memory
//  (the figures may then be low; the event is still in the recent list).
int
    fm_dash_apply (fm_dash_t *self, const fm_event_t *event);

//  Count a message that did not decode (shown on the page).  Cannot fail.
void
    fm_dash_malformed (fm_dash_t *self);

//  How many events were applied so far: changes whenever the page must
//  be redrawn.  Cannot fail.
uint64_t
    fm_dash_generation (fm_dash_t *self);

//  The figures as a report (banks, grids and towns ordered by code, as
//  the SQL report orders them; a grid's town and a town's figures as the
//  report's detail tables define them), named as fm_dash_name_report
//  does.  *out need not be initialised.  Returns 0 with *out filled
//  (release with fm_report_release), or -1 if out of memory with nothing
//  owned in *out.
int
    fm_dash_report (fm_dash_t *self, fm_report_t *out);

//  Name banks and towns as `finmatch report --banks DIR --towns FILE`
//  does, with its loaders (fm_report_bank_names, fm_report_town_names):
//  banks_dir holds the bank configs (bank/code, bank/name), towns_file is
//  the territory CSV (town_code,name); either may be NULL (shown by code).
//  Both are read now (the towns file again when a town code appears that
//  was not looked up yet).  Returns 0, or -1 with err filled (err_size
//  bytes, naming the path) if one cannot be read; the names set before
//  then stay.
int
    fm_dash_set_names (fm_dash_t *self, const char *banks_dir,
                       const char *towns_file, char *err, size_t err_size);

//  Put those names into report (borrowed; from fm_dash_report or from
//  the log): its bank_names become a copy of ours, its towns' names are
//  filled, town_names set when a towns file was given; the JSON then
//  carries bank_name and town_name.  May read the towns file (see above;
//  a failure then is logged and the towns keep their codes).  Returns 0,
//  or -1 if out of memory.
int
    fm_dash_name_report (fm_dash_t *self, fm_report_t *report);

//  The page's snapshot: the report (from db_report if not NULL, borrowed
//  and named by the caller with fm_dash_name_report, else from the
//  stream) with the report's JSON keys (bank_name on bank rows, town and
//  town_name on grid rows) plus town_name on town rows, amounts and
//  labels formatted in the user's language (fm_i18n) beside the integer
//  fen, live counters and the recent events, newest first (bank_name
//  beside bank).  Returns a new reference the caller owns, or NULL if out
//  of memory.
json_t *
    fm_dash_json (fm_dash_t *self, const fm_report_t *db_report);

//  Label of an event type in the user's language ("offer.made" ->
//  "银行报价" / "Bank offer"; fm_i18n); the type name itself for a type it
//  does not know.  Borrowed; cannot fail.
const char *
    fm_dash_type_cn (const char *type);

//  The dashboard page (size bytes, dashboard/page.html) in the user's
//  language: every English text between double braces replaced by its
//  translation, HTML-escaped, or with a "js:" prefix by a JavaScript
//  string literal of it; "lang" by "zh-CN" or "en".  Returns a new
//  NUL-terminated string (caller frees) and its length in *size_p (may be
//  NULL), or NULL if out of memory or the page has a text that is not in
//  the catalogue's list (logged: a bug the selftest catches).
char *
    fm_dash_page_render (const char *page, size_t size, size_t *size_p);

//  Self test
void
    fm_dash_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
