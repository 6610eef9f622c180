/*  =========================================================================
    fm_report - report queries over the SQLite event log

    Computes the platform's figures from the recorder's log (schema in
    workers/fm_store.h), by SQL over the `events` table only, and prints
    them as Chinese tables or as JSON.  Definitions (each a count of events
    of one type unless stated):
      requests            distinct request_id of request.received (a
                          replayed request counts once)
      enterprises         distinct enterprise_id of request.received
      enterprises_served  distinct enterprise_id of granted loans
      offers, declines, timeouts, accepted, withdrawn
                          offer.made, decline.made, bank.timeout,
                          offer.accepted, offer.withdrawn events
      loans               loan.granted, counted once per loan_id
      credit_fen          Σ amount_fen of those loans
      avg_reduction_tenth_bp
                          mean of (base_rate_bp − effective_rate_bp) over
                          the loans, in tenths of a basis point, rounded
                          half away from zero (203 = 20.3 bp)
      weighted_reduction_tenth_bp
                          the same mean weighted by amount_fen
    A request's grid is the grid_id of its request.received, or, when the
    client left it empty, that of its request.enriched (the registry's).
    Integer arithmetic only (128-bit for the weighted mean): no float ever
    touches money or rates.
    =========================================================================
*/

#ifndef FM_REPORT_H_INCLUDED
#define FM_REPORT_H_INCLUDED

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <sqlite3.h>
#include <jansson.h>
#include "fm_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Figures of one bank (rows ordered by bank code)
typedef struct {
    char bank [FM_CODE_SIZE];
    int64_t offers;
    int64_t declines;
    int64_t timeouts;
    int64_t accepted;
    int64_t loans;
    int64_t credit_fen;
    int64_t avg_reduction_tenth_bp;     //  0 when loans == 0
    //  Bank scoring (issue 4): response time, deadline misses, honoured
    //  acceptances; rank 1 = best (honoured desc, breaches asc, response
    //  time asc, then bank code)
    int64_t avg_latency_us;             //  mean over offer/decline.made
                                        //  events with latency_us; 0 if none
    int64_t breaches;                   //  sla.breach events (incl. grants)
    int64_t honoured_permille;          //  loans * 1000 / accepted; 1000
                                        //  when nothing was accepted
    int64_t rank;                       //  1..bank_count
} fm_report_bank_t;

//  Figures of one grid (rows ordered by grid id; "" = unknown grid)
typedef struct {
    char grid [FM_CODE_SIZE];
    int64_t requests;
    int64_t enterprises_served;
    int64_t loans;
    int64_t credit_fen;
    int64_t avg_reduction_tenth_bp;     //  0 when loans == 0
} fm_report_grid_t;

typedef struct {
    //  The log itself
    int64_t events;                     //  rows in events
    int64_t epochs;                     //  distinct broker epochs
    int64_t first_ts_us;                //  oldest event, UTC µs (0 if none)
    int64_t last_ts_us;                 //  newest event
    int64_t gaps;                       //  rows in gaps
    int64_t missing_events;             //  seqs those gaps cover
    //  The figures (definitions above)
    int64_t requests;
    int64_t enterprises;
    int64_t enterprises_served;
    int64_t offers;
    int64_t declines;
    int64_t timeouts;
    int64_t accepted;
    int64_t withdrawn;
    int64_t loans;
    int64_t credit_fen;
    int64_t avg_reduction_tenth_bp;
    int64_t weighted_reduction_tenth_bp;
    fm_report_bank_t *banks;            //  owned, bank_count rows
    size_t bank_count;
    fm_report_grid_t *grids;            //  owned, grid_count rows
    size_t grid_count;
} fm_report_t;

//  Compute the report from an open finmatch log (db borrowed).  *out need
//  not be initialised.  Returns 0 with *out filled (release it with
//  fm_report_release), or -1 with a message in err (err_size bytes) and
//  nothing owned in *out: not a finmatch log, wrong schema version, or an
//  sqlite error.
int
    fm_report_compute (sqlite3 *db, fm_report_t *out,
                       char *err, size_t err_size);

//  Open path read-only (never creates a file), check it is a finmatch log,
//  compute the report and close.  Returns 0 or -1 as fm_report_compute,
//  with err naming the file ("no such file", "not a finmatch event log").
int
    fm_report_compute_path (const char *path, fm_report_t *out,
                            char *err, size_t err_size);

//  Free what *self owns and zero it.  Idempotent.
void
    fm_report_release (fm_report_t *self);

//  Print as tables in the user's language (fm_i18n: headings, money in
//  万元/亿元 or ¥ million/billion, local time; fm_table, fm_rate_pct) to file,
//  with a loud warning first when the log has gaps.  Cannot fail.
void
    fm_report_print (const fm_report_t *self, FILE *file);

//  The report as a JSON object (integers: fen, bp, tenths of bp, µs).
//  Returns a new reference the caller owns, or NULL if out of memory.
json_t *
    fm_report_json (const fm_report_t *self);

//  Format a tenth-bp value as "20.3" into buf; returns buf.  Cannot fail.
char *
    fm_report_tenths (int64_t tenths, char *buf, size_t size);

//  Self test
void
    fm_report_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
