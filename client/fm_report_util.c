/*  =========================================================================
    fm_report_util - what the report's files share (internal to client/)

    See fm_report_util.h.  The statement helpers keep one error
    convention for every query of the report: a failed prepare or step
    leaves sqlite's message (or "out of memory") in the caller's err, and
    the statement is always finalized on the way out.
    =========================================================================
*/

#include <czmq.h>
#include "fm_report_util.h"
#include "fm_i18n.h"

sqlite3_stmt *
fm_report_sql_prepare (sqlite3 *db, const char *sql, char *err, size_t err_size)
{
    sqlite3_stmt *stmt = NULL;
    if (sqlite3_prepare_v2 (db, sql, -1, &stmt, NULL) != SQLITE_OK) {
        snprintf (err, err_size, "%s", sqlite3_errmsg (db));
        sqlite3_finalize (stmt);
        return NULL;
    }
    return stmt;
}

void
fm_report_sql_copy (char *dest, size_t size, const unsigned char *text)
{
    snprintf (dest, size, "%s", text? (const char *) text: "");
}

void *
fm_report_sql_row_new (void **array, size_t *count, size_t *alloc, size_t elem)
{
    if (*count == *alloc) {
        size_t grown = *alloc? *alloc * 2: 8;
        void *rows = realloc (*array, grown * elem);
        if (!rows)
            return NULL;
        *array = rows;
        *alloc = grown;
    }
    void *row = (char *) *array + (*count)++ * elem;
    memset (row, 0, elem);
    return row;
}

int
fm_report_sql_done (sqlite3 *db, sqlite3_stmt *stmt, int rc,
                    char *err, size_t err_size)
{
    if (rc == SQLITE_NOMEM)
        snprintf (err, err_size, "out of memory");
    else
    if (rc != SQLITE_DONE)
        snprintf (err, err_size, "%s", sqlite3_errmsg (db));
    sqlite3_finalize (stmt);
    return rc == SQLITE_DONE? 0: -1;
}


//  --------------------------------------------------------------------------
//  Cells

char *
fm_report_reduction_cell (int64_t tenths, int64_t loans, char *buf, size_t size)
{
    char number [32];
    if (loans == 0)
        snprintf (buf, size, "-");
    else
        snprintf (buf, size, "%s BP", fm_report_tenths (tenths, number,
                                                        sizeof number));
    return buf;
}

char *
fm_report_rate_cell (int64_t tenths, int64_t n, char *buf, size_t size)
{
    if (n == 0)
        snprintf (buf, size, "-");
    else
        snprintf (buf, size, "%" PRId64 ".%03" PRId64 "%%", tenths / 1000,
                  (tenths < 0? -tenths: tenths) % 1000);
    return buf;
}

char *
fm_report_ms_cell (int64_t us, int64_t answers, char *buf, size_t size)
{
    if (answers == 0)
        snprintf (buf, size, "-");
    else
        fm_report_tenths (fm_report_round_div (us, 100), buf, size);
    return buf;
}

static const char **
s_area_row (fm_report_area_row_t *row, const char *code, const char *second,
            int64_t requests, int64_t served, int64_t offers, int64_t loans,
            int64_t credit_fen, int64_t reduction_tenth_bp)
{
    const int64_t counts [4] = { requests, served, offers, loans };
    for (size_t i = 0; i < 4; i++)
        snprintf (row->counts [i], sizeof row->counts [i], "%" PRId64, counts [i]);
    row->cells [0] = *code? code: _("(unknown)");
    row->cells [1] = *second? second: "-";
    for (size_t i = 0; i < 4; i++)
        row->cells [2 + i] = row->counts [i];
    row->cells [6] = fm_i18n_money (credit_fen, row->money, sizeof row->money);
    row->cells [7] = fm_report_reduction_cell (reduction_tenth_bp, loans,
                                               row->reduction, sizeof row->reduction);
    return row->cells;
}

const char **
fm_report_town_row (const fm_report_town_t *town, fm_report_area_row_t *row)
{
    assert (town && row);
    return s_area_row (row, town->town, town->name, town->requests,
                       town->enterprises_served, town->offers, town->loans,
                       town->credit_fen, town->avg_reduction_tenth_bp);
}

const char **
fm_report_grid_row (const fm_report_grid_t *grid, fm_report_area_row_t *row)
{
    assert (grid && row);
    return s_area_row (row, grid->grid, grid->town, grid->requests,
                       grid->enterprises_served, grid->offers, grid->loans,
                       grid->credit_fen, grid->avg_reduction_tenth_bp);
}
