/*  =========================================================================
    fm_report_util - what the report's files share (internal to client/)

    Owns the small pieces that fm_report.c, fm_report_detail.c and
    fm_report_html.c would otherwise each carry a copy of:
    - the statement helpers every figure's query goes through: prepare
      with the error in err, copy a text column, grow a row array, and
      finish a step loop (finalize; 0, or -1 with err filled);
    - the table cells the text and HTML reports print alike: a reduction
      ("20.3 BP"), a rate ("3.450%"), a response time in ms ("12.5"), and
      the eight cells of a town or grid row.
    Not part of the report's API (fm_report.h): nothing outside the
    report's own files includes this header.
    =========================================================================
*/

#ifndef FM_REPORT_UTIL_H_INCLUDED
#define FM_REPORT_UTIL_H_INCLUDED

#include "fm_report.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Prepare sql on db.  Returns the statement (caller finalizes it), or
//  NULL with sqlite's message in err.
sqlite3_stmt *
    fm_report_sql_prepare (sqlite3 *db, const char *sql,
                           char *err, size_t err_size);

//  Copy a text column (NULL reads as "") into dest, truncated to size.
//  Cannot fail.
void
    fm_report_sql_copy (char *dest, size_t size, const unsigned char *text);

//  Grow *array (rows of elem bytes, *count used of *alloc) so that one
//  more fits.  Returns the new row, zeroed and counted, or NULL if out of
//  memory (then *array, *count and *alloc are unchanged).
void *
    fm_report_sql_row_new (void **array, size_t *count, size_t *alloc,
                           size_t elem);

//  Finish a step loop that ended with rc: finalize stmt (taken), and
//  return 0 if rc is SQLITE_DONE, else -1 with err filled ("out of
//  memory" for SQLITE_NOMEM, which the loop sets when a row_new failed).
int
    fm_report_sql_done (sqlite3 *db, sqlite3_stmt *stmt, int rc,
                        char *err, size_t err_size);

//  A reduction in tenths of bp as "20.3 BP" (in both languages), or "-"
//  when loans == 0.  Written to buf; returns buf.  Cannot fail.
char *
    fm_report_reduction_cell (int64_t tenths, int64_t loans,
                              char *buf, size_t size);

//  A rate in tenths of bp as a percentage, "3.450%", or "-" when n == 0.
//  Written to buf; returns buf.  Cannot fail.
char *
    fm_report_rate_cell (int64_t tenths, int64_t n, char *buf, size_t size);

//  µs as milliseconds with one decimal, "12.5", or "-" when answers == 0.
//  Written to buf; returns buf.  Cannot fail.
char *
    fm_report_ms_cell (int64_t us, int64_t answers, char *buf, size_t size);

//  The cells of one town or grid row: code (or "(unknown)"), the second
//  column (town name / town code, or "-"), requests, enterprises served,
//  offers, loans, credit granted (fm_i18n_money) and the reduction.
//  cells point into the struct itself (and into the row given).
typedef struct {
    char counts [4][24];
    char money [64];
    char reduction [64];
    const char *cells [8];
} fm_report_area_row_t;

//  Fill row for town (borrowed; row points into it until it changes).
//  Returns row->cells.  Cannot fail.
const char **
    fm_report_town_row (const fm_report_town_t *town, fm_report_area_row_t *row);

//  Fill row for grid, as fm_report_town_row.
const char **
    fm_report_grid_row (const fm_report_grid_t *grid, fm_report_area_row_t *row);

#ifdef __cplusplus
}
#endif

#endif
