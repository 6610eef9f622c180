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
    Its town (街道/镇) is the `town` of its request.enriched (the profile's
    town code, read from the stored event body); the log holds codes only,
    so town names come from an optional territory table (fm_report_
    town_names, deploy/data/towns.csv).  Offers and loans count in the grid
    of their event and the town of their request.
    Detail tables (fm_report_detail.c):
      response time       per bank answer = the largest latency_us of the
                          bank's offer/decline.made events of one request;
                          median and p90 by nearest rank (the value at rank
                          ceil(p × n / 100) of the n answers sorted)
      declines by reason  a decline counts once under every distinct
                          reason code its text lists (so the per-reason
                          counts may add up to more than the declines)
      per product         offers, offer.accepted (by offer_id), loans,
                          amount; mean effective rate of the offers and of
                          the loans, in tenths of bp (rounded as above)
      time series         requests (first request.received), offers,
                          loans and their amount per local hour or day
                          (Asia/Shanghai by default, fm_i18n), buckets
                          with no activity omitted
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
    //  Response time per answer (definitions above); 0 when answers == 0
    int64_t answers;                    //  (request, bank) answers timed
    int64_t median_latency_us;
    int64_t p90_latency_us;
} fm_report_bank_t;

//  Declines of one bank under one reason code (rows ordered by bank, code)
typedef struct {
    char bank [FM_CODE_SIZE];
    uint16_t code;                      //  FM_REASON_* (SPEC.md)
    int64_t declines;                   //  decline.made events listing it
} fm_report_reason_t;

//  Figures of one town (街道/镇), rows ordered by town code ("" = unknown)
typedef struct {
    char town [FM_CODE_SIZE];           //  town code as in the log
    char name [FM_NAME_SIZE];           //  Chinese name, "" if not known
    int64_t requests;
    int64_t enterprises_served;
    int64_t offers;
    int64_t loans;
    int64_t credit_fen;
    int64_t avg_reduction_tenth_bp;     //  0 when loans == 0
} fm_report_town_t;

//  Figures of one product (rows ordered by bank, product)
typedef struct {
    char bank [FM_CODE_SIZE];
    char product [FM_CODE_SIZE];
    int64_t offers;
    int64_t accepted;
    int64_t loans;
    int64_t credit_fen;
    int64_t avg_offer_rate_tenth_bp;    //  mean effective rate offered
    int64_t avg_loan_rate_tenth_bp;     //  mean effective rate granted
} fm_report_product_t;

//  A bank's display name (fm_report_bank_names; the log holds codes only)
typedef struct {
    char bank [FM_CODE_SIZE];
    char name [FM_NAME_SIZE];
} fm_report_bank_name_t;

//  Where an installed system keeps its bank configs: `finmatch report`
//  names the banks from here when --banks is not given and it exists
#define FM_REPORT_BANKS_DIR     "/etc/finmatch/banks"

//  Where the .deb installs the territory table (deploy/data/towns.csv):
//  `finmatch report` names the towns from it when --towns is not given
//  and it exists
#define FM_REPORT_TOWNS_FILE    "/usr/share/finmatch/data/towns.csv"

//  One time bucket (rows in time order)
typedef struct {
    int64_t start_us;                   //  bucket start, UTC µs
    char label [24];                    //  local "2024-05-01 08:00" (hour)
                                        //  or "2024-05-01" (day)
    int64_t requests;
    int64_t offers;
    int64_t loans;
    int64_t credit_fen;
} fm_report_bucket_t;

typedef enum {
    FM_REPORT_BY_HOUR = 0,              //  what fm_report_compute fills
    FM_REPORT_BY_DAY = 1
} fm_report_by_t;

//  Figures of one grid (rows ordered by grid id; "" = unknown grid)
typedef struct {
    char grid [FM_CODE_SIZE];
    int64_t requests;
    int64_t enterprises_served;
    int64_t loans;
    int64_t credit_fen;
    int64_t avg_reduction_tenth_bp;     //  0 when loans == 0
    int64_t offers;                     //  offer.made in this grid
    char town [FM_CODE_SIZE];           //  the grid's town code, "" unknown
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
    //  Detail tables (issue 3); a caller that builds an fm_report_t by
    //  hand may leave them NULL/0
    fm_report_reason_t *reasons;        //  owned, reason_count rows
    size_t reason_count;
    fm_report_town_t *towns;            //  owned, town_count rows
    size_t town_count;
    fm_report_product_t *products;      //  owned, product_count rows
    size_t product_count;
    fm_report_bucket_t *series;         //  owned, series_count rows
    size_t series_count;
    fm_report_by_t series_by;           //  what a bucket is
    bool town_names;                    //  towns[].name came from a table
    fm_report_bank_name_t *bank_names;  //  owned, bank_name_count rows
    size_t bank_name_count;             //  (fm_report_bank_names; labels only)
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

//  The detail tables (reasons, response times, towns, grid offers and
//  towns, products, hourly series) into *out, inside fm_report_compute's
//  read transaction.  Returns 0, or -1 with err filled (the caller
//  releases *out).
int
    fm_report_compute_detail (sqlite3 *db, fm_report_t *out,
                              char *err, size_t err_size);

//  Merge the hourly series into local days (FM_REPORT_BY_DAY), in place;
//  FM_REPORT_BY_HOUR leaves it.  Call once, after compute.  Cannot fail.
void
    fm_report_series_by (fm_report_t *self, fm_report_by_t by);

//  Name the towns from a territory CSV with a header row holding
//  `town_code` and `name` columns (deploy/data/towns.csv).  Returns the
//  number of towns named, or -1 with err filled if the file cannot be
//  read or lacks those columns.  Names are labels only: no figure changes.
int
    fm_report_town_names (fm_report_t *self, const char *path,
                          char *err, size_t err_size);

//  Name the banks from a directory of bank configs (every *.cfg with
//  bank/code and bank/name, as deploy/banks/*.cfg; other files skipped).
//  Returns the number of banks named, or -1 with err filled if the
//  directory cannot be read.  Names are labels only: no figure changes.
int
    fm_report_bank_names (fm_report_t *self, const char *dir,
                          char *err, size_t err_size);

//  The name of bank code, or NULL if not known.  Borrowed.
const char *
    fm_report_bank_name (const fm_report_t *self, const char *code);

//  The name of town code from the territory table (towns[].name), or
//  NULL if not known.  Borrowed.
const char *
    fm_report_town_name (const fm_report_t *self, const char *code);

//  A bank's cell in the tables: "name(CODE)" when named, else the code,
//  "(unknown)" for "".  Written to buf; returns buf.  Cannot fail.
const char *
    fm_report_bank_label (const fm_report_t *self, const char *code,
                          char *buf, size_t size);

//  Self test of the bank names (fm_report_banks.c)
void
    fm_report_banks_test (bool verbose);

//  Print the detail tables (after fm_report_print's).  Cannot fail.
void
    fm_report_print_detail (const fm_report_t *self, FILE *file);

//  Add the detail tables to a report JSON object (fm_report_json calls
//  it).  Returns 0, or -1 if out of memory.
int
    fm_report_json_detail (const fm_report_t *self, json_t *root);

//  Table names for the CSV export, NULL-terminated: "summary", "banks",
//  "reasons", "towns", "grids", "products", "series"
extern const char *fm_report_csv_tables [];

//  Write one table as RFC 4180 CSV (UTF-8, header row of the JSON keys,
//  integers in fen / bp / tenths of bp / µs as in --json, CRLF line ends)
//  to file.  Returns 0, -1 if table is unknown, -2 on a write error.
int
    fm_report_csv (const fm_report_t *self, const char *table, FILE *file);

//  Write every table as DIR/<table>.csv (DIR is created if missing).
//  Returns 0, or -1 with err filled.
int
    fm_report_csv_dir (const fm_report_t *self, const char *dir,
                       char *err, size_t err_size);

//  Shared with the detail and CSV files: a / b rounded half away from
//  zero (0 if b <= 0), and the mean of sum over n in tenths.
int64_t
    fm_report_round_div (__int128 a, __int128 b);
int64_t
    fm_report_mean_tenths (__int128 sum, __int128 n);

//  Self test
void
    fm_report_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
