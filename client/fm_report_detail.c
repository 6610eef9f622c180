/*  =========================================================================
    fm_report_detail - the report's detail tables (issue 3)

    Per bank: response time (median, p90) and declines by reason; per town
    (街道/镇) and per grid (网格); per product; a time series.  Same rules
    as fm_report.c: one read transaction, loans reduced to one row per
    loan_id, integer arithmetic only (definitions in fm_report.h).

    The town of a request is not a column of the log: it is the `town`
    field of the request's request.enriched body, which the store keeps
    whole in `raw`.  An SQL function (fm_report_town) decodes that body
    with the proto codec, so the grouping stays in SQL.
    =========================================================================
*/

#include <czmq.h>
#include "fm_report.h"
#include "fm_report_util.h"
#include "fm_text.h"
#include "fm_i18n.h"
#include "fm_print.h"
#include "fm_store.h"

//  One row per granted loan (the earliest event of each loan_id), with
//  what the detail tables need
#define DETAIL_LOANS_CTE \
    "WITH loans AS (" \
    " SELECT * FROM (" \
    "  SELECT COALESCE (bank, '') AS bank, grid_id, request_id, ts_us," \
    "   enterprise_id, COALESCE (amount_fen, 0) AS amount," \
    "   COALESCE (base_rate_bp, 0) - COALESCE (effective_rate_bp, 0)" \
    "    AS reduction, COALESCE (effective_rate_bp, 0) AS rate," \
    "   COALESCE (product, substr (offer_id, instr (offer_id, '/') + 1), '')" \
    "    AS product," \
    "   ROW_NUMBER () OVER (PARTITION BY COALESCE (loan_id, epoch || '/' || seq)" \
    "    ORDER BY epoch, seq) AS n" \
    "  FROM events WHERE type = 'loan.granted')" \
    " WHERE n = 1)"

//  Requests once each, with their grid (the client's, else the
//  registry's) and town (the profile's, from request.enriched).  %s
//  twice: how x is matched to r's request, through the index the log has
//  (S_SAME_REQUEST)
#define DETAIL_REQUESTS_CTE \
    ", requests AS (" \
    " SELECT request_id, grid, town FROM (" \
    "  SELECT r.request_id, ROW_NUMBER () OVER (PARTITION BY r.request_id" \
    "   ORDER BY r.epoch, r.seq) AS n," \
    "   COALESCE (NULLIF (r.grid_id, ''), (SELECT x.grid_id FROM events x" \
    "    WHERE %s AND x.type = 'request.enriched'" \
    "    AND x.grid_id IS NOT NULL ORDER BY x.epoch, x.seq LIMIT 1), '')" \
    "    AS grid," \
    "   COALESCE ((SELECT fm_report_town (x.raw) FROM events x" \
    "    WHERE %s AND x.type = 'request.enriched'" \
    "    ORDER BY x.epoch, x.seq LIMIT 1), '') AS town" \
    "  FROM events r WHERE r.type = 'request.received')" \
    " WHERE n = 1)"

//  The same request as r's, by request number in a log of schema version
//  4, by request_id (indexed there) in an older one (fm_store.h)
#define S_SAME_REQUEST(numbered) \
    ((numbered)? "x.request_n = r.request_n": "x.request_id = r.request_id")

//  Per area rows; %s = S_SAME_REQUEST twice, then the grouping column
//  (grid or town) three times
static const char *s_areas_sql =
    DETAIL_LOANS_CTE DETAIL_REQUESTS_CTE ", rows AS ("
    " SELECT grid, town, 1 AS requests, NULL AS enterprise_id, 0 AS offers,"
    "  0 AS loans, 0 AS credit, 0 AS reduction FROM requests"
    " UNION ALL"
    " SELECT COALESCE (NULLIF (o.grid_id, ''), q.grid, ''), COALESCE (q.town, ''),"
    "  0, NULL, 1, 0, 0, 0"
    " FROM events o LEFT JOIN requests q ON q.request_id = o.request_id"
    " WHERE o.type = 'offer.made'"
    " UNION ALL"
    " SELECT COALESCE (NULLIF (l.grid_id, ''), q.grid, ''), COALESCE (q.town, ''),"
    "  0, l.enterprise_id, 0, 1, l.amount, l.reduction"
    " FROM loans l LEFT JOIN requests q ON q.request_id = l.request_id)"
    " SELECT %s, MAX (town), SUM (requests), count(DISTINCT enterprise_id),"
    "  SUM (offers), SUM (loans), SUM (credit), SUM (reduction)"
    " FROM rows GROUP BY %s ORDER BY %s";

static const char *s_products_sql =
    DETAIL_LOANS_CTE ", rows AS ("
    " SELECT COALESCE (bank, '') AS bank,"
    "  COALESCE (product, substr (offer_id, instr (offer_id, '/') + 1), '')"
    "   AS product,"
    "  (type = 'offer.made') AS offers, (type = 'offer.accepted') AS accepted,"
    "  0 AS loans, 0 AS credit, 0 AS loan_rate,"
    "  CASE WHEN type = 'offer.made' THEN COALESCE (effective_rate_bp, 0)"
    "   ELSE 0 END AS offer_rate"
    " FROM events WHERE type IN ('offer.made', 'offer.accepted')"
    " UNION ALL"
    " SELECT bank, product, 0, 0, 1, amount, rate, 0 FROM loans)"
    " SELECT bank, product, SUM (offers), SUM (accepted), SUM (loans),"
    "  SUM (credit), SUM (loan_rate), SUM (offer_rate)"
    " FROM rows GROUP BY bank, product ORDER BY bank, product";

//  One response time per (bank, request): the bank answers once
static const char *s_latency_sql =
    "SELECT COALESCE (bank, ''), MAX (latency_us) AS latency FROM events"
    " WHERE type IN ('offer.made', 'decline.made') AND latency_us > 0"
    " GROUP BY COALESCE (bank, ''), request_id ORDER BY 1, 2";

static const char *s_reasons_sql =
    "SELECT COALESCE (bank, ''), COALESCE (reason_code, 0), COALESCE (text, '')"
    " FROM events WHERE type = 'decline.made' ORDER BY epoch, seq";

//  kind 0 = request, 1 = offer, 2 = loan
static const char *s_series_sql =
    DETAIL_LOANS_CTE
    " SELECT ts_us, 0, 0 FROM (SELECT ts_us, ROW_NUMBER () OVER"
    "  (PARTITION BY request_id ORDER BY epoch, seq) AS n"
    "  FROM events WHERE type = 'request.received') WHERE n = 1"
    " UNION ALL SELECT ts_us, 1, 0 FROM events WHERE type = 'offer.made'"
    " UNION ALL SELECT ts_us, 2, amount FROM loans"
    " ORDER BY 1";


//  --------------------------------------------------------------------------
//  fm_report_town (raw): the town of an event body, or NULL

static void
s_sql_town (sqlite3_context *context, int argc, sqlite3_value **argv)
{
    assert (argc == 1);
    const void *raw = sqlite3_value_blob (argv [0]);
    int size = sqlite3_value_bytes (argv [0]);
    fm_event_t *event = (fm_event_t *) malloc (sizeof (fm_event_t));
    fm_error_t err;
    if (event && raw && size > 0
    &&  fm_event_decode ((const byte *) raw, (size_t) size, event, &err) == 0
    &&  *event->town)
        sqlite3_result_text (context, event->town, -1, SQLITE_TRANSIENT);
    else
        sqlite3_result_null (context);
    free (event);
}


//  --------------------------------------------------------------------------
//  Towns and grids (one query each, grouped by the column)

static int
s_compute_areas (sqlite3 *db, fm_report_t *out, bool by_town,
                 char *err, size_t err_size)
{
    const char *key = by_town? "town": "grid";
    char sql [4096];
    const char *same = S_SAME_REQUEST (fm_store_has_request_numbers (db));
    int length = snprintf (sql, sizeof sql, s_areas_sql, same, same, key, key, key);
    assert (length > 0 && (size_t) length < sizeof sql);
    sqlite3_stmt *stmt = fm_report_sql_prepare (db, sql, err, err_size);
    if (!stmt)
        return -1;
    size_t alloc = 0;
    int rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        int64_t requests = sqlite3_column_int64 (stmt, 2);
        int64_t served = sqlite3_column_int64 (stmt, 3);
        int64_t offers = sqlite3_column_int64 (stmt, 4);
        int64_t loans = sqlite3_column_int64 (stmt, 5);
        int64_t credit = sqlite3_column_int64 (stmt, 6);
        int64_t reduction = fm_report_mean_tenths (sqlite3_column_int64 (stmt, 7),
                                                   loans);
        if (by_town) {
            fm_report_town_t *town = (fm_report_town_t *) fm_report_sql_row_new (
                (void **) &out->towns, &out->town_count, &alloc, sizeof *town);
            if (!town) {
                rc = SQLITE_NOMEM;
                break;
            }
            fm_report_sql_copy (town->town, sizeof town->town, sqlite3_column_text (stmt, 0));
            town->requests = requests;
            town->enterprises_served = served;
            town->offers = offers;
            town->loans = loans;
            town->credit_fen = credit;
            town->avg_reduction_tenth_bp = reduction;
        }
        else {
            fm_report_grid_t *grid = (fm_report_grid_t *) fm_report_sql_row_new (
                (void **) &out->grids, &out->grid_count, &alloc, sizeof *grid);
            if (!grid) {
                rc = SQLITE_NOMEM;
                break;
            }
            fm_report_sql_copy (grid->grid, sizeof grid->grid, sqlite3_column_text (stmt, 0));
            fm_report_sql_copy (grid->town, sizeof grid->town, sqlite3_column_text (stmt, 1));
            grid->requests = requests;
            grid->enterprises_served = served;
            grid->offers = offers;
            grid->loans = loans;
            grid->credit_fen = credit;
            grid->avg_reduction_tenth_bp = reduction;
        }
    }
    return fm_report_sql_done (db, stmt, rc, err, err_size);
}

static int
s_compute_products (sqlite3 *db, fm_report_t *out, char *err, size_t err_size)
{
    sqlite3_stmt *stmt = fm_report_sql_prepare (db, s_products_sql, err, err_size);
    if (!stmt)
        return -1;
    size_t alloc = 0;
    int rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        fm_report_product_t *row = (fm_report_product_t *) fm_report_sql_row_new (
            (void **) &out->products, &out->product_count, &alloc, sizeof *row);
        if (!row) {
            rc = SQLITE_NOMEM;
            break;
        }
        fm_report_sql_copy (row->bank, sizeof row->bank, sqlite3_column_text (stmt, 0));
        fm_report_sql_copy (row->product, sizeof row->product, sqlite3_column_text (stmt, 1));
        row->offers = sqlite3_column_int64 (stmt, 2);
        row->accepted = sqlite3_column_int64 (stmt, 3);
        row->loans = sqlite3_column_int64 (stmt, 4);
        row->credit_fen = sqlite3_column_int64 (stmt, 5);
        row->avg_loan_rate_tenth_bp =
            fm_report_mean_tenths (sqlite3_column_int64 (stmt, 6), row->loans);
        row->avg_offer_rate_tenth_bp =
            fm_report_mean_tenths (sqlite3_column_int64 (stmt, 7), row->offers);
    }
    return fm_report_sql_done (db, stmt, rc, err, err_size);
}


//  --------------------------------------------------------------------------
//  Nearest-rank percentile of n sorted values: the value at rank
//  ceil(p × n / 100), 1-based.  0 if n == 0.

static int64_t
s_percentile (const int64_t *sorted, size_t n, int p)
{
    if (n == 0)
        return 0;
    size_t rank = ((size_t) p * n + 99) / 100;
    if (rank < 1)
        rank = 1;
    return sorted [rank - 1];
}

static fm_report_bank_t *
s_bank (fm_report_t *out, const char *code)
{
    for (size_t i = 0; i < out->bank_count; i++)
        if (streq (out->banks [i].bank, code))
            return &out->banks [i];
    return NULL;
}

//  Close one bank's run of sorted latencies
static void
s_latency_close (fm_report_t *out, const char *code, const int64_t *values,
                 size_t n)
{
    fm_report_bank_t *bank = s_bank (out, code);
    if (bank && n) {
        bank->answers = (int64_t) n;
        bank->median_latency_us = s_percentile (values, n, 50);
        bank->p90_latency_us = s_percentile (values, n, 90);
    }
}

static int
s_compute_latency (sqlite3 *db, fm_report_t *out, char *err, size_t err_size)
{
    sqlite3_stmt *stmt = fm_report_sql_prepare (db, s_latency_sql, err, err_size);
    if (!stmt)
        return -1;
    char current [FM_CODE_SIZE] = "";
    int64_t *values = NULL;
    size_t count = 0, alloc = 0;
    int rc;
    //  Rows come sorted by bank, then latency
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        char code [FM_CODE_SIZE];
        fm_report_sql_copy (code, sizeof code, sqlite3_column_text (stmt, 0));
        if (!streq (code, current)) {
            s_latency_close (out, current, values, count);
            snprintf (current, sizeof current, "%s", code);
            count = 0;
        }
        int64_t *value = (int64_t *) fm_report_sql_row_new ((void **) &values, &count,
                                                &alloc, sizeof (int64_t));
        if (!value) {
            rc = SQLITE_NOMEM;
            break;
        }
        *value = sqlite3_column_int64 (stmt, 1);
    }
    if (rc == SQLITE_DONE)
        s_latency_close (out, current, values, count);
    free (values);
    return fm_report_sql_done (db, stmt, rc, err, err_size);
}


//  --------------------------------------------------------------------------
//  Declines by reason: every distinct code a decline's text lists
//  ("102:GRIDE;104:KJD"), or its reason_code when the text has none

static int
s_reason_add (fm_report_t *out, size_t *alloc, const char *bank, uint16_t code)
{
    for (size_t i = 0; i < out->reason_count; i++)
        if (out->reasons [i].code == code && streq (out->reasons [i].bank, bank)) {
            out->reasons [i].declines++;
            return 0;
        }
    fm_report_reason_t *row = (fm_report_reason_t *) fm_report_sql_row_new (
        (void **) &out->reasons, &out->reason_count, alloc, sizeof *row);
    if (!row)
        return -1;
    snprintf (row->bank, sizeof row->bank, "%s", bank);
    row->code = code;
    row->declines = 1;
    return 0;
}

static int
s_reason_compare (const void *a, const void *b)
{
    const fm_report_reason_t *x = (const fm_report_reason_t *) a;
    const fm_report_reason_t *y = (const fm_report_reason_t *) b;
    int order = strcmp (x->bank, y->bank);
    return order? order: (int) x->code - (int) y->code;
}

static int
s_compute_reasons (sqlite3 *db, fm_report_t *out, char *err, size_t err_size)
{
    sqlite3_stmt *stmt = fm_report_sql_prepare (db, s_reasons_sql, err, err_size);
    if (!stmt)
        return -1;
    size_t alloc = 0;
    int rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        char bank [FM_CODE_SIZE];
        fm_report_sql_copy (bank, sizeof bank, sqlite3_column_text (stmt, 0));
        int64_t first = sqlite3_column_int64 (stmt, 1);
        const char *text = (const char *) sqlite3_column_text (stmt, 2);
        //  Codes seen in this decline (text is at most 255 bytes: few)
        uint16_t seen [64];
        size_t seen_count = 0;
        for (const char *item = text; item && *item; ) {
            char *end = NULL;
            long code = strtol (item, &end, 10);
            if (end != item && *end == ':' && code >= 100 && code <= 999) {
                bool dup = false;
                for (size_t i = 0; i < seen_count; i++)
                    dup = dup || seen [i] == (uint16_t) code;
                if (!dup && seen_count < 64)
                    seen [seen_count++] = (uint16_t) code;
            }
            item = strchr (item, ';');
            if (item)
                item++;
        }
        if (seen_count == 0 && first >= 100 && first <= 999)
            seen [seen_count++] = (uint16_t) first;
        for (size_t i = 0; i < seen_count; i++)
            if (s_reason_add (out, &alloc, bank, seen [i])) {
                rc = SQLITE_NOMEM;
                break;
            }
        if (rc == SQLITE_NOMEM)
            break;
    }
    if (out->reason_count)
        qsort (out->reasons, out->reason_count, sizeof (fm_report_reason_t),
               s_reason_compare);
    return fm_report_sql_done (db, stmt, rc, err, err_size);
}


//  --------------------------------------------------------------------------
//  Time series: local hour buckets.  The bucket start is the event time
//  less its local minutes and seconds: exact for whole-hour zones (UTC+8)

static int64_t
s_local_field (int64_t us, const char *format)
{
    char text [16];
    fm_i18n_time (us, format, text, sizeof text);
    return atoll (text);
}

static int
s_compute_series (sqlite3 *db, fm_report_t *out, char *err, size_t err_size)
{
    sqlite3_stmt *stmt = fm_report_sql_prepare (db, s_series_sql, err, err_size);
    if (!stmt)
        return -1;
    size_t alloc = 0;
    int rc;
    out->series_by = FM_REPORT_BY_HOUR;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        int64_t ts = sqlite3_column_int64 (stmt, 0);
        int kind = sqlite3_column_int (stmt, 1);
        int64_t amount = sqlite3_column_int64 (stmt, 2);
        int64_t start = ts - ts % 1000000
                      - (s_local_field (ts, "%M") * 60
                         + s_local_field (ts, "%S")) * 1000000;
        //  Rows come in time order: a bucket is the last one or new
        fm_report_bucket_t *bucket = out->series_count?
            &out->series [out->series_count - 1]: NULL;
        if (!bucket || bucket->start_us != start) {
            bucket = (fm_report_bucket_t *) fm_report_sql_row_new ((void **) &out->series,
                        &out->series_count, &alloc, sizeof *bucket);
            if (!bucket) {
                rc = SQLITE_NOMEM;
                break;
            }
            bucket->start_us = start;
            fm_i18n_time (start, "%Y-%m-%d %H:00", bucket->label,
                          sizeof bucket->label);
        }
        if (kind == 0)
            bucket->requests++;
        else
        if (kind == 1)
            bucket->offers++;
        else {
            bucket->loans++;
            bucket->credit_fen += amount;
        }
    }
    return fm_report_sql_done (db, stmt, rc, err, err_size);
}


//  --------------------------------------------------------------------------
//  Compute the detail tables

int
fm_report_compute_detail (sqlite3 *db, fm_report_t *out,
                          char *err, size_t err_size)
{
    assert (db && out && err);
    if (sqlite3_create_function_v2 (db, "fm_report_town", 1,
            SQLITE_UTF8 | SQLITE_DETERMINISTIC, NULL, s_sql_town,
            NULL, NULL, NULL) != SQLITE_OK) {
        snprintf (err, err_size, "%s", sqlite3_errmsg (db));
        return -1;
    }
    int rc = s_compute_areas (db, out, false, err, err_size);
    if (rc == 0)
        rc = s_compute_areas (db, out, true, err, err_size);
    if (rc == 0)
        rc = s_compute_products (db, out, err, err_size);
    if (rc == 0)
        rc = s_compute_latency (db, out, err, err_size);
    if (rc == 0)
        rc = s_compute_reasons (db, out, err, err_size);
    if (rc == 0)
        rc = s_compute_series (db, out, err, err_size);
    return rc;
}


//  --------------------------------------------------------------------------
//  Merge hours into local days

void
fm_report_series_by (fm_report_t *self, fm_report_by_t by)
{
    assert (self);
    if (by != FM_REPORT_BY_DAY || self->series_by == FM_REPORT_BY_DAY) {
        return;
    }
    size_t days = 0;
    for (size_t i = 0; i < self->series_count; i++) {
        fm_report_bucket_t hour = self->series [i];
        int64_t start = hour.start_us
                      - s_local_field (hour.start_us, "%H") * INT64_C (3600000000);
        fm_report_bucket_t *day = days? &self->series [days - 1]: NULL;
        if (!day || day->start_us != start) {
            day = &self->series [days++];
            memset (day, 0, sizeof *day);
            day->start_us = start;
            fm_i18n_time (start, "%Y-%m-%d", day->label, sizeof day->label);
        }
        day->requests += hour.requests;
        day->offers += hour.offers;
        day->loans += hour.loans;
        day->credit_fen += hour.credit_fen;
    }
    self->series_count = days;
    self->series_by = FM_REPORT_BY_DAY;
}


//  --------------------------------------------------------------------------
//  Town names from a territory CSV (town_code,name,... with a header row;
//  plain fields: the territory tables have no quotes or commas in names)

int
fm_report_town_names (fm_report_t *self, const char *path,
                      char *err, size_t err_size)
{
    assert (self && path && err);
    FILE *file = fopen (path, "r");
    if (!file) {
        snprintf (err, err_size, "%s: %s", path, strerror (errno));
        return -1;
    }
    char line [1024];
    int code_col = -1, name_col = -1, named = 0;
    bool header = true;
    while (fgets (line, sizeof line, file)) {
        line [strcspn (line, "\r\n")] = 0;
        //  Split in place on commas
        char *fields [16];
        int count = 0;
        for (char *field = line; field && count < 16; count++) {
            fields [count] = field;
            field = strchr (field, ',');
            if (field)
                *field++ = 0;
        }
        if (header) {
            //  A UTF-8 BOM before the first heading is not part of it
            if (count && strncmp (fields [0], "\xEF\xBB\xBF", 3) == 0)
                fields [0] += 3;
            for (int i = 0; i < count; i++)
                if (streq (fields [i], "town_code"))
                    code_col = i;
                else
                if (streq (fields [i], "name") || streq (fields [i], "town"))
                    name_col = name_col < 0? i: name_col;
            header = false;
            if (code_col < 0 || name_col < 0)
                break;
            continue;
        }
        if (code_col >= count || name_col >= count)
            continue;
        for (size_t i = 0; i < self->town_count; i++) {
            fm_report_town_t *town = &self->towns [i];
            if (*town->town && !*town->name && streq (town->town, fields [code_col])) {
                snprintf (town->name, sizeof town->name, "%s", fields [name_col]);
                named++;
            }
        }
    }
    fclose (file);
    if (code_col < 0 || name_col < 0) {
        snprintf (err, err_size, _("%s: needs a header row with town_code and"
                  " name columns"), path);
        return -1;
    }
    self->town_names = true;
    return named;
}


//  --------------------------------------------------------------------------
//  Printing

static const char *
s_or_unknown (const char *text)
{
    return *text? text: _("(unknown)");
}

//  A table with heads (msgids); right-aligned but the first left ones
static fm_table_t *
s_table (FILE *file, const char *title, const char **heads, size_t count,
         size_t left)
{
    fprintf (file, "\n%s\n", title);
    fm_table_t *table = fm_table_new (count);
    assert (table);
    for (size_t col = 0; col < count; col++)
        fm_table_column (table, col, _(heads [col]),
                         col < left? FM_ALIGN_LEFT: FM_ALIGN_RIGHT, 0);
    return table;
}

static void
s_table_end (fm_table_t **table, FILE *file)
{
    fm_table_print (*table, file);
    fm_table_destroy (table);
}

void
fm_report_print_detail (const fm_report_t *self, FILE *file)
{
    assert (self && file);
    char money [64], cell [64], median [32], p90 [32], rate [32];
    char label [FM_NAME_SIZE + FM_CODE_SIZE + 4];       //  a bank's cell

    const char *time_heads [] = {
        N_("Bank"), N_("Answers"), N_("Median ms"), N_("P90 ms"),
        N_("Timeouts"), N_("SLA breaches")
    };
    fm_table_t *table = s_table (file, _("Bank response time and deadline misses"),
                                 time_heads, 6, 1);
    for (size_t i = 0; i < self->bank_count; i++) {
        const fm_report_bank_t *bank = &self->banks [i];
        fm_table_rowf (table, "%s\t%" PRId64 "\t%s\t%s\t%" PRId64 "\t%" PRId64,
                       fm_report_bank_label (self, bank->bank, label, sizeof label),
                       bank->answers,
                       fm_report_ms_cell (bank->median_latency_us, bank->answers,
                                          median, sizeof median),
                       fm_report_ms_cell (bank->p90_latency_us, bank->answers,
                                          p90, sizeof p90),
                       bank->timeouts, bank->breaches);
    }
    s_table_end (&table, file);

    const char *reason_heads [] = {
        N_("Bank"), N_("Code"), N_("Reason"), N_("Declines")
    };
    table = s_table (file, _("Declines by reason"), reason_heads, 4, 3);
    for (size_t i = 0; i < self->reason_count; i++) {
        const fm_report_reason_t *row = &self->reasons [i];
        char code [16];
        snprintf (code, sizeof code, "%u", (unsigned) row->code);
        const char *cells [] = {
            fm_report_bank_label (self, row->bank, label, sizeof label), code,
            fm_print_reason_meaning (row->code),
            NULL
        };
        snprintf (cell, sizeof cell, "%" PRId64, row->declines);
        cells [3] = cell;
        fm_table_row (table, cells);
    }
    s_table_end (&table, file);

    const char *town_heads [] = {
        N_("Town code"), N_("Town"), N_("Requests"), N_("Enterprises served"),
        N_("Offers"), N_("Loans"), N_("Credit granted"), N_("Avg reduction")
    };
    table = s_table (file, _("By town"), town_heads, 8, 2);
    for (size_t i = 0; i < self->town_count; i++) {
        fm_report_area_row_t row;
        fm_table_row (table, fm_report_town_row (&self->towns [i], &row));
    }
    s_table_end (&table, file);
    if (!self->town_names)
        fprintf (file, "%s\n", _("(the log holds town codes only; "
                 "--towns FILE names them, e.g. deploy/data/towns.csv)"));

    const char *grid_heads [] = {
        N_("Grid"), N_("Town code"), N_("Requests"), N_("Enterprises served"),
        N_("Offers"), N_("Loans"), N_("Credit granted"), N_("Avg reduction")
    };
    table = s_table (file, _("By grid"), grid_heads, 8, 2);
    for (size_t i = 0; i < self->grid_count; i++) {
        fm_report_area_row_t row;
        fm_table_row (table, fm_report_grid_row (&self->grids [i], &row));
    }
    s_table_end (&table, file);

    const char *product_heads [] = {
        N_("Bank"), N_("Product"), N_("Offers"), N_("Accepted"), N_("Loans"),
        N_("Credit granted"), N_("Avg offered rate"), N_("Avg loan rate")
    };
    table = s_table (file, _("By product"), product_heads, 8, 2);
    for (size_t i = 0; i < self->product_count; i++) {
        const fm_report_product_t *row = &self->products [i];
        fm_table_rowf (table, "%s\t%s\t%" PRId64 "\t%" PRId64 "\t%" PRId64
                       "\t%s\t%s\t%s",
                       fm_report_bank_label (self, row->bank, label, sizeof label),
                       s_or_unknown (row->product),
                       row->offers, row->accepted, row->loans,
                       fm_i18n_money (row->credit_fen, money, sizeof money),
                       fm_report_rate_cell (row->avg_offer_rate_tenth_bp,
                                            row->offers, rate, sizeof rate),
                       fm_report_rate_cell (row->avg_loan_rate_tenth_bp,
                                            row->loans, cell, sizeof cell));
    }
    s_table_end (&table, file);

    const char *series_heads [] = {
        self->series_by == FM_REPORT_BY_DAY? N_("Day"): N_("Hour"),
        N_("Requests"), N_("Offers"), N_("Loans"), N_("Credit granted")
    };
    table = s_table (file, self->series_by == FM_REPORT_BY_DAY
                           ? _("By day (local time)"): _("By hour (local time)"),
                     series_heads, 5, 1);
    for (size_t i = 0; i < self->series_count; i++) {
        const fm_report_bucket_t *row = &self->series [i];
        fm_table_rowf (table, "%s\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%s",
                       row->label, row->requests, row->offers, row->loans,
                       fm_i18n_money (row->credit_fen, money, sizeof money));
    }
    s_table_end (&table, file);
}


//  --------------------------------------------------------------------------
//  JSON

static void
s_set_int (json_t *object, const char *key, int64_t value)
{
    json_object_set_new (object, key, json_integer ((json_int_t) value));
}

static void
s_set_str (json_t *object, const char *key, const char *value)
{
    json_object_set_new (object, key, json_string (value));
}

int
fm_report_json_detail (const fm_report_t *self, json_t *root)
{
    assert (self && root);
    json_t *reasons = json_array ();
    json_t *towns = json_array ();
    json_t *products = json_array ();
    json_t *series = json_object ();
    json_t *buckets = json_array ();
    if (!reasons || !towns || !products || !series || !buckets) {
        json_decref (reasons);
        json_decref (towns);
        json_decref (products);
        json_decref (series);
        json_decref (buckets);
        return -1;
    }
    //  Bank rows already exist (fm_report_json): add the response times
    json_t *banks = json_object_get (root, "banks");
    for (size_t i = 0; i < self->bank_count; i++) {
        json_t *row = json_array_get (banks, i);
        if (!row)
            break;
        s_set_int (row, "answers", self->banks [i].answers);
        s_set_int (row, "median_latency_us", self->banks [i].median_latency_us);
        s_set_int (row, "p90_latency_us", self->banks [i].p90_latency_us);
    }
    for (size_t i = 0; i < self->reason_count; i++) {
        const fm_report_reason_t *reason = &self->reasons [i];
        json_t *row = json_object ();
        s_set_str (row, "bank", reason->bank);
        const char *name = fm_report_bank_name (self, reason->bank);
        s_set_str (row, "bank_name", name? name: "");
        s_set_int (row, "code", reason->code);
        s_set_str (row, "reason", fm_reason_name (reason->code));
        s_set_int (row, "declines", reason->declines);
        json_array_append_new (reasons, row);
    }
    for (size_t i = 0; i < self->town_count; i++) {
        const fm_report_town_t *town = &self->towns [i];
        json_t *row = json_object ();
        s_set_str (row, "town", town->town);
        s_set_str (row, "name", town->name);
        s_set_int (row, "requests", town->requests);
        s_set_int (row, "enterprises_served", town->enterprises_served);
        s_set_int (row, "offers", town->offers);
        s_set_int (row, "loans", town->loans);
        s_set_int (row, "credit_granted_fen", town->credit_fen);
        s_set_int (row, "avg_reduction_tenth_bp", town->avg_reduction_tenth_bp);
        json_array_append_new (towns, row);
    }
    for (size_t i = 0; i < self->product_count; i++) {
        const fm_report_product_t *product = &self->products [i];
        json_t *row = json_object ();
        s_set_str (row, "bank", product->bank);
        const char *name = fm_report_bank_name (self, product->bank);
        s_set_str (row, "bank_name", name? name: "");
        s_set_str (row, "product", product->product);
        s_set_int (row, "offers", product->offers);
        s_set_int (row, "accepted", product->accepted);
        s_set_int (row, "loans", product->loans);
        s_set_int (row, "credit_granted_fen", product->credit_fen);
        s_set_int (row, "avg_offer_rate_tenth_bp", product->avg_offer_rate_tenth_bp);
        s_set_int (row, "avg_loan_rate_tenth_bp", product->avg_loan_rate_tenth_bp);
        json_array_append_new (products, row);
    }
    for (size_t i = 0; i < self->series_count; i++) {
        const fm_report_bucket_t *bucket = &self->series [i];
        json_t *row = json_object ();
        s_set_int (row, "start_us", bucket->start_us);
        s_set_str (row, "label", bucket->label);
        s_set_int (row, "requests", bucket->requests);
        s_set_int (row, "offers", bucket->offers);
        s_set_int (row, "loans", bucket->loans);
        s_set_int (row, "credit_granted_fen", bucket->credit_fen);
        json_array_append_new (buckets, row);
    }
    s_set_str (series, "by", self->series_by == FM_REPORT_BY_DAY? "day": "hour");
    json_object_set_new (series, "buckets", buckets);
    json_object_set_new (root, "declines_by_reason", reasons);
    json_object_set_new (root, "towns", towns);
    json_object_set_new (root, "products", products);
    json_object_set_new (root, "series", series);
    return 0;
}
