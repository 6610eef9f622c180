/*  =========================================================================
    fm_report - report queries over the SQLite event log

    See fm_report.h for the definitions of every figure.  Each figure is
    one SQL aggregate over `events`; loans are first reduced to one row per
    loan_id (the earliest loan.granted, window function) so that a
    repeated event can never count money twice.  Rounding and the
    amount-weighted mean happen here in integer C (128-bit), because
    sqlite's SUM of amount × bp could overflow int64 on a big log and its
    AVG is floating point.
    =========================================================================
*/

#include <czmq.h>
#include <time.h>
#include "fm_report.h"
#include "fm_report_util.h"
#include "fm_store.h"
#include "fm_text.h"
#include "fm_money.h"
#include "fm_i18n.h"
#include "fm_cli.h"

//  One row per granted loan: bank, grid, enterprise, amount, reduction
#define LOANS_CTE \
    "WITH loans AS (" \
    " SELECT bank, grid_id, enterprise_id, amount, reduction FROM (" \
    "  SELECT COALESCE (bank, '') AS bank, COALESCE (grid_id, '') AS grid_id," \
    "   enterprise_id, COALESCE (amount_fen, 0) AS amount," \
    "   COALESCE (base_rate_bp, 0) - COALESCE (effective_rate_bp, 0)" \
    "    AS reduction," \
    "   ROW_NUMBER () OVER (PARTITION BY COALESCE (loan_id, epoch || '/' || seq)" \
    "    ORDER BY epoch, seq) AS n" \
    "  FROM events WHERE type = 'loan.granted')" \
    " WHERE n = 1)"

static const char *s_totals_sql =
    "SELECT count(*), count(DISTINCT epoch),"
    " COALESCE (MIN (ts_us), 0), COALESCE (MAX (ts_us), 0),"
    " count(DISTINCT CASE WHEN type = 'request.received' THEN request_id END),"
    " count(DISTINCT CASE WHEN type = 'request.received' THEN enterprise_id END),"
    " COALESCE (SUM (type = 'offer.made'), 0),"
    " COALESCE (SUM (type = 'decline.made'), 0),"
    " COALESCE (SUM (type = 'bank.timeout'), 0),"
    " COALESCE (SUM (type = 'offer.accepted'), 0),"
    " COALESCE (SUM (type = 'offer.withdrawn'), 0)"
    " FROM events";

static const char *s_gaps_sql =
    "SELECT count(*), COALESCE (SUM (to_seq - from_seq + 1), 0) FROM gaps";

static const char *s_loans_sql =
    LOANS_CTE
    " SELECT count(*), count(DISTINCT enterprise_id),"
    " COALESCE (SUM (amount), 0), COALESCE (SUM (reduction), 0) FROM loans";

static const char *s_weighted_sql =
    LOANS_CTE " SELECT amount, reduction FROM loans";

static const char *s_banks_sql =
    LOANS_CTE ", rows AS ("
    " SELECT COALESCE (bank, '') AS bank,"
    "  (type = 'offer.made') AS offers, (type = 'decline.made') AS declines,"
    "  (type = 'bank.timeout') AS timeouts,"
    "  (type = 'offer.accepted') AS accepted,"
    "  0 AS loans, 0 AS credit, 0 AS reduction,"
    "  (type = 'sla.breach') AS breaches,"
    "  CASE WHEN type IN ('offer.made', 'decline.made') AND latency_us > 0"
    "   THEN latency_us ELSE 0 END AS latency,"
    "  (type IN ('offer.made', 'decline.made') AND latency_us > 0) AS answers"
    " FROM events WHERE type IN ('offer.made', 'decline.made',"
    "  'bank.timeout', 'offer.accepted', 'sla.breach')"
    " UNION ALL"
    " SELECT bank, 0, 0, 0, 0, 1, amount, reduction, 0, 0, 0 FROM loans)"
    " SELECT bank, SUM (offers), SUM (declines), SUM (timeouts),"
    "  SUM (accepted), SUM (loans), SUM (credit), SUM (reduction),"
    "  SUM (breaches), SUM (latency), SUM (answers)"
    " FROM rows GROUP BY bank ORDER BY bank";

//  --------------------------------------------------------------------------
//  a / b rounded half away from zero (b > 0); 0 if b <= 0

static int64_t
s_round_div (__int128 a, __int128 b)
{
    if (b <= 0)
        return 0;
    if (a >= 0)
        return (int64_t) ((2 * a + b) / (2 * b));
    else
        return -(int64_t) ((-2 * a + b) / (2 * b));
}

//  Mean of sum over n in tenths, rounded; 0 if n == 0
static int64_t
s_mean_tenths (__int128 sum, __int128 n)
{
    return s_round_div (sum * 10, n);
}

int64_t
fm_report_round_div (__int128 a, __int128 b)
{
    return s_round_div (a, b);
}

int64_t
fm_report_mean_tenths (__int128 sum, __int128 n)
{
    return s_mean_tenths (sum, n);
}

//  Run a one-row query into count int64 values.  Returns 0 or -1.
static int
s_query_row (sqlite3 *db, const char *sql, int64_t **values, int count,
             char *err, size_t err_size)
{
    sqlite3_stmt *stmt = fm_report_sql_prepare (db, sql, err, err_size);
    if (!stmt)
        return -1;
    int rc = sqlite3_step (stmt);
    if (rc == SQLITE_ROW)
        for (int i = 0; i < count; i++)
            *values [i] = sqlite3_column_int64 (stmt, i);
    else
        snprintf (err, err_size, "%s", sqlite3_errmsg (db));
    sqlite3_finalize (stmt);
    return rc == SQLITE_ROW? 0: -1;
}


//  --------------------------------------------------------------------------
//  Check the meta table.  Returns 0, or -1 with err filled.

static int
s_check_log (sqlite3 *db, char *err, size_t err_size)
{
    sqlite3_stmt *stmt = NULL;
    int rc = sqlite3_prepare_v2 (db,
        "SELECT key, value FROM meta"
        " WHERE key IN ('application', 'schema_version')", -1, &stmt, NULL);
    if (rc != SQLITE_OK) {
        if ((rc & 0xff) == SQLITE_NOTADB)
            snprintf (err, err_size, "%s", _("not an SQLite database"));
        else
            snprintf (err, err_size, _("not a finmatch event log (%s)"),
                      sqlite3_errmsg (db));
        return -1;
    }
    char application [64] = "";
    int version = 0;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        const char *key = (const char *) sqlite3_column_text (stmt, 0);
        const char *value = (const char *) sqlite3_column_text (stmt, 1);
        if (key && value && streq (key, "application"))
            snprintf (application, sizeof application, "%s", value);
        else
        if (key && value && streq (key, "schema_version"))
            version = atoi (value);
    }
    sqlite3_finalize (stmt);
    if (rc != SQLITE_DONE) {
        snprintf (err, err_size, "%s", sqlite3_errmsg (db));
        return -1;
    }
    if (!streq (application, FM_STORE_APPLICATION)) {
        snprintf (err, err_size, "%s", _("not a finmatch event log"));
        return -1;
    }
    //  Older logs whose columns are the same are read as they are
    if (version < FM_STORE_SCHEMA_READABLE || version > FM_STORE_SCHEMA_VERSION) {
        snprintf (err, err_size, _("event log schema version %d, this finmatch"
                  " reads version %d"), version, FM_STORE_SCHEMA_VERSION);
        return -1;
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  Per-bank table.  Returns 0 or -1 with err filled.

static int
s_compute_banks (sqlite3 *db, fm_report_t *out, char *err, size_t err_size)
{
    sqlite3_stmt *stmt = fm_report_sql_prepare (db, s_banks_sql, err, err_size);
    if (!stmt)
        return -1;
    size_t alloc = 0;
    int rc;
    while ((rc = sqlite3_step (stmt)) == SQLITE_ROW) {
        fm_report_bank_t *bank = (fm_report_bank_t *) fm_report_sql_row_new (
            (void **) &out->banks, &out->bank_count, &alloc, sizeof *bank);
        if (!bank) {
            rc = SQLITE_NOMEM;
            break;
        }
        fm_report_sql_copy (bank->bank, sizeof bank->bank, sqlite3_column_text (stmt, 0));
        bank->offers = sqlite3_column_int64 (stmt, 1);
        bank->declines = sqlite3_column_int64 (stmt, 2);
        bank->timeouts = sqlite3_column_int64 (stmt, 3);
        bank->accepted = sqlite3_column_int64 (stmt, 4);
        bank->loans = sqlite3_column_int64 (stmt, 5);
        bank->credit_fen = sqlite3_column_int64 (stmt, 6);
        bank->avg_reduction_tenth_bp =
            s_mean_tenths (sqlite3_column_int64 (stmt, 7), bank->loans);
        bank->breaches = sqlite3_column_int64 (stmt, 8);
        int64_t answers = sqlite3_column_int64 (stmt, 10);
        bank->avg_latency_us = answers? sqlite3_column_int64 (stmt, 9) / answers: 0;
        bank->honoured_permille = bank->accepted?
            bank->loans * 1000 / bank->accepted: 1000;
    }
    //  Scoring: rank every bank against the others (O(n^2), n is small)
    for (size_t i = 0; i < out->bank_count; i++) {
        const fm_report_bank_t *a = &out->banks [i];
        out->banks [i].rank = 1;
        for (size_t j = 0; j < out->bank_count; j++) {
            const fm_report_bank_t *b = &out->banks [j];
            bool better = b->honoured_permille != a->honoured_permille?
                          b->honoured_permille > a->honoured_permille
                        : b->breaches != a->breaches? b->breaches < a->breaches
                        : b->avg_latency_us != a->avg_latency_us?
                          b->avg_latency_us < a->avg_latency_us
                        : strcmp (b->bank, a->bank) < 0;
            if (j != i && better)
                out->banks [i].rank++;
        }
    }
    return fm_report_sql_done (db, stmt, rc, err, err_size);
}


//  --------------------------------------------------------------------------
//  Compute the report from an open finmatch log

int
fm_report_compute (sqlite3 *db, fm_report_t *out, char *err, size_t err_size)
{
    assert (db);
    assert (out);
    assert (err && err_size);
    memset (out, 0, sizeof *out);
    *err = 0;
    if (s_check_log (db, err, err_size))
        return -1;

    //  One read transaction: every figure sees the same snapshot even
    //  while the recorder keeps committing (WAL)
    if (sqlite3_exec (db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK) {
        snprintf (err, err_size, "%s", sqlite3_errmsg (db));
        return -1;
    }
    int64_t *totals [] = {
        &out->events, &out->epochs, &out->first_ts_us, &out->last_ts_us,
        &out->requests, &out->enterprises, &out->offers, &out->declines,
        &out->timeouts, &out->accepted, &out->withdrawn
    };
    int64_t *gaps [] = { &out->gaps, &out->missing_events };
    int64_t reduction_sum = 0;
    int64_t *loans [] = {
        &out->loans, &out->enterprises_served, &out->credit_fen, &reduction_sum
    };
    int rc = s_query_row (db, s_totals_sql, totals, 11, err, err_size);
    if (rc == 0)
        rc = s_query_row (db, s_gaps_sql, gaps, 2, err, err_size);
    if (rc == 0)
        rc = s_query_row (db, s_loans_sql, loans, 4, err, err_size);
    if (rc == 0) {
        out->avg_reduction_tenth_bp = s_mean_tenths (reduction_sum, out->loans);
        //  Σ amount × reduction in 128 bits: 1e13 fen × 1e4 bp per loan
        sqlite3_stmt *stmt = fm_report_sql_prepare (db, s_weighted_sql, err, err_size);
        __int128 weighted = 0, amount = 0;
        rc = -1;
        if (stmt) {
            int step;
            while ((step = sqlite3_step (stmt)) == SQLITE_ROW) {
                int64_t fen = sqlite3_column_int64 (stmt, 0);
                weighted += (__int128) fen * sqlite3_column_int64 (stmt, 1);
                amount += fen;
            }
            rc = fm_report_sql_done (db, stmt, step, err, err_size);
        }
        out->weighted_reduction_tenth_bp = s_mean_tenths (weighted, amount);
    }
    if (rc == 0)
        rc = s_compute_banks (db, out, err, err_size);
    if (rc == 0)
        rc = fm_report_compute_detail (db, out, err, err_size);
    sqlite3_exec (db, "COMMIT", NULL, NULL, NULL);
    if (rc)
        fm_report_release (out);
    return rc;
}


//  --------------------------------------------------------------------------
//  Open read-only, check and compute

int
fm_report_compute_path (const char *path, fm_report_t *out,
                        char *err, size_t err_size)
{
    assert (path);
    assert (out);
    assert (err && err_size);
    memset (out, 0, sizeof *out);
    //  sqlite's "unable to open database file" does not say why
    if (access (path, R_OK) != 0) {
        snprintf (err, err_size, "%s: %s", path, strerror (errno));
        return -1;
    }
    sqlite3 *db = NULL;
    int rc = sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL);
    if (rc != SQLITE_OK) {
        snprintf (err, err_size, "%s: %s", path,
                  db? sqlite3_errmsg (db): sqlite3_errstr (rc));
        sqlite3_close (db);
        return -1;
    }
    sqlite3_busy_timeout (db, FM_STORE_BUSY_MS);
    char reason [256];
    rc = fm_report_compute (db, out, reason, sizeof reason);
    if (rc)
        snprintf (err, err_size, "%s: %s", path, reason);
    sqlite3_close (db);
    return rc;
}


//  --------------------------------------------------------------------------
//  Free what *self owns

void
fm_report_release (fm_report_t *self)
{
    if (self) {
        free (self->banks);
        free (self->grids);
        free (self->reasons);
        free (self->towns);
        free (self->products);
        free (self->series);
        free (self->bank_names);
        memset (self, 0, sizeof *self);
    }
}


//  --------------------------------------------------------------------------
//  "20.3" from 203

char *
fm_report_tenths (int64_t tenths, char *buf, size_t size)
{
    uint64_t magnitude = tenths < 0? (uint64_t) 0 - (uint64_t) tenths
                                   : (uint64_t) tenths;
    snprintf (buf, size, "%s%" PRIu64 ".%" PRIu64, tenths < 0? "-": "",
              magnitude / 10, magnitude % 10);
    return buf;
}


//  Local time (Asia/Shanghai by default, fm_i18n) of a UTC µs time
static char *
s_local_time (int64_t us, char *buf, size_t size)
{
    return fm_i18n_time (us, "%Y-%m-%d %H:%M:%S", buf, size);
}


//  --------------------------------------------------------------------------
//  Print as tables in the user's language (fm_i18n)

void
fm_report_print (const fm_report_t *self, FILE *file)
{
    assert (self);
    assert (file);
    char money [64], cell [64], pct [32], from [32], to [32];
    char label [FM_NAME_SIZE + FM_CODE_SIZE + 4];       //  a bank's cell
    if (self->gaps) {
        //  Counted nouns go through P_: "1 gap", "2 gaps"
        fprintf (file, P_("!!! WARNING: the event log has %lld gap",
                          "!!! WARNING: the event log has %lld gaps",
                          self->gaps), (long long) self->gaps);
        fprintf (file, P_(" (%lld event missing)", " (%lld events missing)",
                          self->missing_events),
                 (long long) self->missing_events);
        fprintf (file, "%s\n", _("; figures may be low (see the gaps table) !!!"));
        fputc ('\n', file);
    }
    char events [48], epochs [48];
    snprintf (events, sizeof events, P_("%lld event", "%lld events", self->events),
              (long long) self->events);
    snprintf (epochs, sizeof epochs, P_("%lld epoch", "%lld epochs", self->epochs),
              (long long) self->epochs);
    fprintf (file, _("Event log: %s, %s, %s to %s\n"), events, epochs,
             s_local_time (self->first_ts_us, from, sizeof from),
             s_local_time (self->last_ts_us, to, sizeof to));
    fputc ('\n', file);

    fm_table_t *table = fm_table_new (2);
    assert (table);
    fm_table_column (table, 0, _("Figure"), FM_ALIGN_LEFT, 0);
    fm_table_column (table, 1, _("Value"), FM_ALIGN_RIGHT, 0);
    //  Labels go through %s: a translation can never break the format
    struct {
        const char *label;
        int64_t value;
    } counts [] = {
        { N_("Financing requests"), self->requests },
        { N_("Enterprises asking"), self->enterprises },
        { N_("Enterprises served"), self->enterprises_served },
        { N_("Bank offers"), self->offers },
        { N_("Bank declines"), self->declines },
        { N_("Bank timeouts"), self->timeouts },
        { N_("Offers accepted"), self->accepted },
        { N_("Offers withdrawn"), self->withdrawn },
        { N_("Loans granted"), self->loans }
    };
    for (size_t i = 0; i < sizeof counts / sizeof counts [0]; i++)
        fm_table_rowf (table, "%s\t%" PRId64, _(counts [i].label),
                       counts [i].value);
    fm_table_rowf (table, "%s\t%s", _("Credit granted"),
                   fm_i18n_money (self->credit_fen, money, sizeof money));
    if (self->loans) {
        //  A percentage needs whole bp: rounded from the tenths
        char about [96];
        int64_t bp = s_round_div (self->avg_reduction_tenth_bp, 10);
        snprintf (about, sizeof about, _("%s (about %s)"),
                  fm_report_reduction_cell (self->avg_reduction_tenth_bp,
                                            self->loans, cell, sizeof cell),
                  fm_rate_pct ((int32_t) bp, pct, sizeof pct));
        fm_table_rowf (table, "%s\t%s", _("Average rate reduction"), about);
        bp = s_round_div (self->weighted_reduction_tenth_bp, 10);
        snprintf (about, sizeof about, _("%s (about %s)"),
                  fm_report_reduction_cell (self->weighted_reduction_tenth_bp,
                                            self->loans, cell, sizeof cell),
                  fm_rate_pct ((int32_t) bp, pct, sizeof pct));
        fm_table_rowf (table, "%s\t%s", _("Amount-weighted rate reduction"),
                       about);
    }
    else
        fm_table_rowf (table, "%s\t-", _("Average rate reduction"));
    fm_table_print (table, file);
    fm_table_destroy (&table);

    fprintf (file, "\n%s\n", _("By bank"));
    table = fm_table_new (8);
    assert (table);
    const char *bank_heads [] = {
        N_("Bank"), N_("Offers"), N_("Declines"), N_("Timeouts"),
        N_("Accepted"), N_("Loans"), N_("Credit granted"), N_("Avg reduction")
    };
    for (size_t col = 0; col < 8; col++)
        fm_table_column (table, col, _(bank_heads [col]),
                         col? FM_ALIGN_RIGHT: FM_ALIGN_LEFT, 0);
    for (size_t i = 0; i < self->bank_count; i++) {
        const fm_report_bank_t *bank = &self->banks [i];
        fm_table_rowf (table, "%s\t%" PRId64 "\t%" PRId64 "\t%" PRId64 "\t%"
                       PRId64 "\t%" PRId64 "\t%s\t%s",
                       fm_report_bank_label (self, bank->bank, label, sizeof label),
                       bank->offers,
                       bank->declines, bank->timeouts, bank->accepted,
                       bank->loans,
                       fm_i18n_money (bank->credit_fen, money, sizeof money),
                       fm_report_reduction_cell (bank->avg_reduction_tenth_bp,
                                                 bank->loans, cell, sizeof cell));
    }
    fm_table_print (table, file);
    fm_table_destroy (&table);

    //  Bank scoring: best first (fm_report_bank_t.rank)
    fprintf (file, "\n%s\n", _("Bank scoring"));
    table = fm_table_new (5);
    assert (table);
    const char *score_heads [] = {
        N_("Rank"), N_("Bank"), N_("Avg response ms"), N_("SLA breaches"),
        N_("Honoured %")
    };
    for (size_t col = 0; col < 5; col++)
        fm_table_column (table, col, _(score_heads [col]),
                         col == 1? FM_ALIGN_LEFT: FM_ALIGN_RIGHT, 0);
    for (int64_t rank = 1; rank <= (int64_t) self->bank_count; rank++)
        for (size_t i = 0; i < self->bank_count; i++) {
            const fm_report_bank_t *bank = &self->banks [i];
            if (bank->rank != rank)
                continue;
            fm_table_rowf (table, "%" PRId64 "\t%s\t%" PRId64 "\t%" PRId64
                           "\t%" PRId64 ".%" PRId64, bank->rank,
                           fm_report_bank_label (self, bank->bank, label, sizeof label),
                           bank->avg_latency_us / 1000, bank->breaches,
                           bank->honoured_permille / 10, bank->honoured_permille % 10);
        }
    fm_table_print (table, file);
    fm_table_destroy (&table);

    fm_report_print_detail (self, file);
}


//  --------------------------------------------------------------------------
//  The report as JSON

static void
s_set_int (json_t *object, const char *key, int64_t value)
{
    json_object_set_new (object, key, json_integer ((json_int_t) value));
}

json_t *
fm_report_json (const fm_report_t *self)
{
    assert (self);
    json_t *root = json_object ();
    json_t *banks = json_array ();
    json_t *grids = json_array ();
    if (!root || !banks || !grids) {
        json_decref (root);
        json_decref (banks);
        json_decref (grids);
        return NULL;
    }
    s_set_int (root, "v", 1);
    s_set_int (root, "events", self->events);
    s_set_int (root, "epochs", self->epochs);
    s_set_int (root, "first_ts_us", self->first_ts_us);
    s_set_int (root, "last_ts_us", self->last_ts_us);
    s_set_int (root, "gaps", self->gaps);
    s_set_int (root, "missing_events", self->missing_events);
    s_set_int (root, "requests", self->requests);
    s_set_int (root, "enterprises", self->enterprises);
    s_set_int (root, "enterprises_served", self->enterprises_served);
    s_set_int (root, "offers", self->offers);
    s_set_int (root, "declines", self->declines);
    s_set_int (root, "timeouts", self->timeouts);
    s_set_int (root, "accepted", self->accepted);
    s_set_int (root, "withdrawn", self->withdrawn);
    s_set_int (root, "loans", self->loans);
    s_set_int (root, "credit_granted_fen", self->credit_fen);
    s_set_int (root, "avg_reduction_tenth_bp", self->avg_reduction_tenth_bp);
    s_set_int (root, "weighted_reduction_tenth_bp",
               self->weighted_reduction_tenth_bp);
    for (size_t i = 0; i < self->bank_count; i++) {
        const fm_report_bank_t *bank = &self->banks [i];
        json_t *row = json_object ();
        json_object_set_new (row, "bank", json_string (bank->bank));
        const char *bank_name = fm_report_bank_name (self, bank->bank);
        json_object_set_new (row, "bank_name", json_string (bank_name? bank_name: ""));
        s_set_int (row, "offers", bank->offers);
        s_set_int (row, "declines", bank->declines);
        s_set_int (row, "timeouts", bank->timeouts);
        s_set_int (row, "accepted", bank->accepted);
        s_set_int (row, "loans", bank->loans);
        s_set_int (row, "credit_granted_fen", bank->credit_fen);
        s_set_int (row, "avg_reduction_tenth_bp", bank->avg_reduction_tenth_bp);
        s_set_int (row, "avg_latency_us", bank->avg_latency_us);
        s_set_int (row, "sla_breaches", bank->breaches);
        s_set_int (row, "honoured_permille", bank->honoured_permille);
        s_set_int (row, "rank", bank->rank);
        json_array_append_new (banks, row);
    }
    for (size_t i = 0; i < self->grid_count; i++) {
        const fm_report_grid_t *grid = &self->grids [i];
        json_t *row = json_object ();
        json_object_set_new (row, "grid", json_string (grid->grid));
        s_set_int (row, "requests", grid->requests);
        s_set_int (row, "enterprises_served", grid->enterprises_served);
        s_set_int (row, "loans", grid->loans);
        s_set_int (row, "credit_granted_fen", grid->credit_fen);
        s_set_int (row, "avg_reduction_tenth_bp", grid->avg_reduction_tenth_bp);
        json_object_set_new (row, "town", json_string (grid->town));
        const char *town_name = fm_report_town_name (self, grid->town);
        json_object_set_new (row, "town_name", json_string (town_name? town_name: ""));
        s_set_int (row, "offers", grid->offers);
        json_array_append_new (grids, row);
    }
    json_object_set_new (root, "banks", banks);
    json_object_set_new (root, "grids", grids);
    if (fm_report_json_detail (self, root)) {
        json_decref (root);
        return NULL;
    }
    return root;
}


//  --------------------------------------------------------------------------
//  Selftest: a fixture log written with fm_store from a fixed event list

typedef struct {
    uint64_t epoch;
    uint64_t seq;
    fm_event_type_t type;
    const char *request_id;
    const char *enterprise_id;
    const char *grid_id;
    const char *bank;
    const char *product;
    const char *loan_id;
    int64_t amount_yuan;
    int32_t base_rate_bp;
    int32_t effective_rate_bp;
} s_fixture_t;

#define E1  UINT64_C(1714521600000000)      //  2024-05-01 00:00 UTC
#define E2  UINT64_C(1714608000000000)      //  the broker restarted
#define R1  "a1a1a1a1a1a1a1a1"
#define R2  "b2b2b2b2b2b2b2b2"
#define R3  "c3c3c3c3c3c3c3c3"
#define EA  "91500105MA5U0AAAA1"
#define EB  "91500105MA5U0BBBB2"
#define EC  "91500105MA5U0CCCC3"

static const s_fixture_t s_fixture [] = {
    //  Three requests; R2 leaves the grid to the registry (enriched)
    { E1, 1, FM_EV_REQUEST_RECEIVED, R1, EA, "JB-GN-01", "", "", "", 3000000, 0, 0 },
    { E1, 2, FM_EV_REQUEST_RECEIVED, R2, EB, "", "", "", "", 1000000, 0, 0 },
    { E1, 3, FM_EV_REQUEST_RECEIVED, R3, EC, "JB-GN-02", "", "", "", 5000000, 0, 0 },
    { E1, 4, FM_EV_REQUEST_ENRICHED, R2, EB, "JB-GN-01", "", "", "", 0, 0, 0 },
    { E1, 5, FM_EV_OFFER_MADE, R1, EA, "JB-GN-01", "CQRCB", "GRIDE", "", 3000000, 375, 345 },
    { E1, 6, FM_EV_OFFER_MADE, R1, EA, "JB-GN-01", "ABC", "KJD", "", 3000000, 380, 360 },
    { E1, 7, FM_EV_DECLINE_MADE, R2, EB, "JB-GN-01", "ABC", "", "", 0, 0, 0 },
    { E1, 8, FM_EV_OFFER_MADE, R2, EB, "JB-GN-01", "CQRCB", "GRIDE", "", 1000000, 375, 355 },
    { E1, 9, FM_EV_OFFER_MADE, R3, EC, "JB-GN-02", "ABC", "KJD", "", 5000000, 400, 385 },
    { E1, 10, FM_EV_BANK_TIMEOUT, R3, EC, "JB-GN-02", "CQRCB", "", "", 0, 0, 0 },
    { E1, 11, FM_EV_OFFER_ACCEPTED, R1, EA, "JB-GN-01", "CQRCB", "GRIDE", "", 3000000, 0, 0 },
    { E1, 12, FM_EV_LOAN_GRANTED, R1, EA, "JB-GN-01", "CQRCB", "GRIDE", "CQRCB-" R1, 3000000, 375, 345 },
    { E1, 13, FM_EV_OFFER_ACCEPTED, R3, EC, "JB-GN-02", "ABC", "KJD", "", 5000000, 0, 0 },
    { E1, 14, FM_EV_LOAN_GRANTED, R3, EC, "JB-GN-02", "ABC", "KJD", "ABC-" R3, 5000000, 400, 385 },
    //  New epoch, first two events lost (gap 1..2); R1 replayed, and its
    //  loan event repeated: neither may count twice
    { E2, 3, FM_EV_WORKER_READY, "", "", "", "", "", "", 0, 0, 0 },
    { E2, 4, FM_EV_REQUEST_RECEIVED, R1, EA, "JB-GN-01", "", "", "", 3000000, 0, 0 },
    { E2, 5, FM_EV_LOAN_GRANTED, R1, EA, "JB-GN-01", "CQRCB", "GRIDE", "CQRCB-" R1, 3000000, 375, 345 },
};
#define FIXTURE_COUNT (sizeof (s_fixture) / sizeof (s_fixture [0]))

//  Scoring by deadline misses: every acceptance honoured (none made), so
//  sla.breach decides before response time.  CQRCB answers fastest but
//  missed twice, ABC once, BOC never: by misses BOC, ABC, CQRCB; by
//  response time alone it would be CQRCB, BOC, ABC.
static const s_fixture_t s_scoring [] = {
    { E1, 1, FM_EV_REQUEST_RECEIVED, R1, EA, "JB-GN-01", "", "", "", 1000000, 0, 0 },
    { E1, 2, FM_EV_OFFER_MADE, R1, EA, "JB-GN-01", "CQRCB", "GRIDE", "", 1000000, 375, 345 },
    { E1, 3, FM_EV_BANK_TIMEOUT, R1, EA, "JB-GN-01", "ABC", "", "", 0, 0, 0 },
    { E1, 4, FM_EV_SLA_BREACH, R1, EA, "JB-GN-01", "ABC", "", "", 0, 0, 0 },
    { E1, 5, FM_EV_OFFER_MADE, R1, EA, "JB-GN-01", "BOC", "P1", "", 1000000, 380, 360 },
    { E1, 6, FM_EV_REQUEST_RECEIVED, R2, EB, "JB-GN-01", "", "", "", 1000000, 0, 0 },
    { E1, 7, FM_EV_BANK_TIMEOUT, R2, EB, "JB-GN-01", "CQRCB", "", "", 0, 0, 0 },
    { E1, 8, FM_EV_SLA_BREACH, R2, EB, "JB-GN-01", "CQRCB", "", "", 0, 0, 0 },
    { E1, 9, FM_EV_OFFER_MADE, R2, EB, "JB-GN-01", "ABC", "KJD", "", 1000000, 380, 360 },
    { E1, 10, FM_EV_DECLINE_MADE, R2, EB, "JB-GN-01", "BOC", "", "", 0, 0, 0 },
    { E1, 11, FM_EV_REQUEST_RECEIVED, R3, EC, "JB-GN-02", "", "", "", 1000000, 0, 0 },
    { E1, 12, FM_EV_BANK_TIMEOUT, R3, EC, "JB-GN-02", "CQRCB", "", "", 0, 0, 0 },
    { E1, 13, FM_EV_SLA_BREACH, R3, EC, "JB-GN-02", "CQRCB", "", "", 0, 0, 0 },
    { E1, 14, FM_EV_OFFER_MADE, R3, EC, "JB-GN-02", "BOC", "P1", "", 1000000, 380, 360 },
    { E1, 15, FM_EV_OFFER_MADE, R3, EC, "JB-GN-02", "ABC", "KJD", "", 1000000, 380, 360 },
};
#define SCORING_COUNT (sizeof (s_scoring) / sizeof (s_scoring [0]))

//  Write count fixture rows into a new event log at path.
static void
s_fixture_write_rows (const char *path, const s_fixture_t *rows, size_t count)
{
    fm_store_t *store = fm_store_new (path, 1000, 1000);
    assert (store);
    for (size_t i = 0; i < count; i++) {
        const s_fixture_t *row = &rows [i];
        fm_event_t event;
        memset (&event, 0, sizeof event);
        event.epoch = row->epoch;
        event.seq = row->seq;
        event.ts_us = (int64_t) (row->epoch + row->seq * 1000000);
        event.type = row->type;
        snprintf (event.request_id, sizeof event.request_id, "%s", row->request_id);
        snprintf (event.enterprise_id, sizeof event.enterprise_id, "%s",
                  row->enterprise_id);
        snprintf (event.grid_id, sizeof event.grid_id, "%s", row->grid_id);
        snprintf (event.bank, sizeof event.bank, "%s", row->bank);
        //  offer.accepted names its offer by offer_id only (as the broker)
        if (row->type != FM_EV_OFFER_ACCEPTED)
            snprintf (event.product, sizeof event.product, "%s", row->product);
        snprintf (event.loan_id, sizeof event.loan_id, "%s", row->loan_id);
        if (*row->product)
            snprintf (event.offer_id, sizeof event.offer_id, "%s/%s",
                      row->bank, row->product);
        if (row->type == FM_EV_WORKER_READY)
            snprintf (event.service, sizeof event.service, "bank.CQRCB");
        event.amount_fen = row->amount_yuan * 100;
        event.term_months = row->amount_yuan? 12: 0;
        event.base_rate_bp = row->base_rate_bp;
        event.effective_rate_bp = row->effective_rate_bp;
        //  Bank response time: seq milliseconds, for the scoring
        if (row->type == FM_EV_OFFER_MADE || row->type == FM_EV_DECLINE_MADE)
            event.latency_us = (int64_t) row->seq * 1000;
        //  A miss: the bank had 2000 ms and took longer
        if (row->type == FM_EV_SLA_BREACH) {
            event.count = 2000;
            event.latency_us = INT64_C (2000000) + (int64_t) row->seq * 1000;
        }
        //  The raw body as the recorder stores it, when it encodes (these
        //  made-up credit codes do not: the towns stay unknown here)
        byte raw [4096];
        size_t raw_size = fm_event_encode_into (&event, raw, sizeof raw);
        int rc = fm_store_append (store, &event, raw_size? raw: NULL, raw_size);
        assert (rc == 0);
    }
    int rc = fm_store_flush (store);
    assert (rc == 0);
    fm_store_destroy (&store);
}

//  The detail fixture (towns, grids, products, response times, reasons,
//  series): E1 = 2024-05-01 08:00 local; at is seconds after E1
typedef struct {
    int64_t at;
    fm_event_type_t type;
    const char *request;
    const char *enterprise;
    const char *grid;
    const char *town;
    const char *bank;
    const char *product;
    int64_t amount_yuan;
    int32_t base_rate_bp;
    int32_t effective_rate_bp;
    uint16_t reason;
    const char *text;
    int64_t latency_ms;
} s_detail_t;

#define Q1  "d1d1d1d1d1d1d1d1"
#define Q2  "d2d2d2d2d2d2d2d2"
#define Q3  "d3d3d3d3d3d3d3d3"
#define Q4  "d4d4d4d4d4d4d4d4"
#define DA  "91500105MA2987XB1W"
#define DB  "91500105MA0177ARXD"
#define DC  "91500105826604409M"
#define DD  "91500105MACF3RKE49"

static const s_detail_t s_detail [] = {
    { .at = 0, .type = FM_EV_REQUEST_RECEIVED, .request = Q1, .enterprise = DA,
      .grid = "GYQ-01-01", .amount_yuan = 3000000 },
    { .at = 1, .type = FM_EV_REQUEST_ENRICHED, .request = Q1, .enterprise = DA,
      .grid = "GYQ-01-01", .town = "GYQ" },
    //  CQRCB answers Q1 with two offers (one answer, 10 ms)
    { .at = 2, .type = FM_EV_OFFER_MADE, .request = Q1, .enterprise = DA,
      .grid = "GYQ-01-01", .bank = "CQRCB", .product = "GRIDE",
      .amount_yuan = 3000000, .base_rate_bp = 375, .effective_rate_bp = 345,
      .latency_ms = 10 },
    { .at = 2, .type = FM_EV_OFFER_MADE, .request = Q1, .enterprise = DA,
      .grid = "GYQ-01-01", .bank = "CQRCB", .product = "KJD",
      .amount_yuan = 3000000, .base_rate_bp = 380, .effective_rate_bp = 350,
      .latency_ms = 10 },
    //  102 twice in one decline counts once
    { .at = 3, .type = FM_EV_DECLINE_MADE, .request = Q1, .enterprise = DA,
      .grid = "GYQ-01-01", .bank = "ABC", .reason = 102,
      .text = "102:KJD;104:XD;102:XD", .latency_ms = 30 },
    //  Q2 leaves the grid to the registry
    { .at = 60, .type = FM_EV_REQUEST_RECEIVED, .request = Q2, .enterprise = DB,
      .amount_yuan = 1000000 },
    { .at = 61, .type = FM_EV_REQUEST_ENRICHED, .request = Q2, .enterprise = DB,
      .grid = "GYQ-01-02", .town = "GYQ" },
    { .at = 62, .type = FM_EV_OFFER_MADE, .request = Q2, .enterprise = DB,
      .grid = "GYQ-01-02", .bank = "CQRCB", .product = "GRIDE",
      .amount_yuan = 1000000, .base_rate_bp = 375, .effective_rate_bp = 355,
      .latency_ms = 20 },
    { .at = 63, .type = FM_EV_DECLINE_MADE, .request = Q2, .enterprise = DB,
      .grid = "GYQ-01-02", .bank = "ABC", .reason = 104, .text = "104:KJD",
      .latency_ms = 50 },
    { .at = 3600, .type = FM_EV_REQUEST_RECEIVED, .request = Q3, .enterprise = DC,
      .grid = "JBZ-02-01", .amount_yuan = 5000000 },
    { .at = 3601, .type = FM_EV_REQUEST_ENRICHED, .request = Q3, .enterprise = DC,
      .grid = "JBZ-02-01", .town = "JBZ" },
    { .at = 3602, .type = FM_EV_OFFER_MADE, .request = Q3, .enterprise = DC,
      .grid = "JBZ-02-01", .bank = "ABC", .product = "KJD",
      .amount_yuan = 5000000, .base_rate_bp = 400, .effective_rate_bp = 385,
      .latency_ms = 40 },
    { .at = 3603, .type = FM_EV_BANK_TIMEOUT, .request = Q3, .enterprise = DC,
      .grid = "JBZ-02-01", .bank = "CQRCB" },
    { .at = 3603, .type = FM_EV_SLA_BREACH, .request = Q3, .enterprise = DC,
      .grid = "JBZ-02-01", .bank = "CQRCB", .latency_ms = 2000 },
    { .at = 3700, .type = FM_EV_OFFER_ACCEPTED, .request = Q1, .enterprise = DA,
      .grid = "GYQ-01-01", .bank = "CQRCB", .product = "GRIDE",
      .amount_yuan = 3000000 },
    { .at = 3701, .type = FM_EV_LOAN_GRANTED, .request = Q1, .enterprise = DA,
      .grid = "GYQ-01-01", .bank = "CQRCB", .product = "GRIDE",
      .amount_yuan = 3000000, .base_rate_bp = 375, .effective_rate_bp = 345 },
    { .at = 3800, .type = FM_EV_OFFER_ACCEPTED, .request = Q3, .enterprise = DC,
      .grid = "JBZ-02-01", .bank = "ABC", .product = "KJD",
      .amount_yuan = 5000000 },
    { .at = 3801, .type = FM_EV_LOAN_GRANTED, .request = Q3, .enterprise = DC,
      .grid = "JBZ-02-01", .bank = "ABC", .product = "KJD",
      .amount_yuan = 5000000, .base_rate_bp = 400, .effective_rate_bp = 385 },
    //  The next local day; the registry never answered: no town
    { .at = 57600, .type = FM_EV_REQUEST_RECEIVED, .request = Q4, .enterprise = DD,
      .grid = "GYQ-01-01", .amount_yuan = 2000000 },
};
#define DETAIL_COUNT (sizeof (s_detail) / sizeof (s_detail [0]))

static void
s_detail_write (const char *path)
{
    fm_store_t *store = fm_store_new (path, 1000, 1000);
    assert (store);
    for (size_t i = 0; i < DETAIL_COUNT; i++) {
        const s_detail_t *row = &s_detail [i];
        fm_event_t event;
        memset (&event, 0, sizeof event);
        event.epoch = E1;
        event.seq = i + 1;
        event.ts_us = (int64_t) E1 + row->at * 1000000;
        event.type = row->type;
        snprintf (event.request_id, sizeof event.request_id, "%s", row->request);
        snprintf (event.enterprise_id, sizeof event.enterprise_id, "%s",
                  row->enterprise);
        if (row->grid)
            snprintf (event.grid_id, sizeof event.grid_id, "%s", row->grid);
        if (row->town)
            snprintf (event.town, sizeof event.town, "%s", row->town);
        if (row->bank)
            snprintf (event.bank, sizeof event.bank, "%s", row->bank);
        if (row->product && row->type != FM_EV_OFFER_ACCEPTED)
            snprintf (event.product, sizeof event.product, "%s", row->product);
        if (row->product)
            snprintf (event.offer_id, sizeof event.offer_id, "%s/%s",
                      row->bank, row->product);
        if (row->type == FM_EV_LOAN_GRANTED)
            snprintf (event.loan_id, sizeof event.loan_id, "%s-%s",
                      row->bank, row->request);
        event.amount_fen = row->amount_yuan * 100;
        event.base_rate_bp = row->base_rate_bp;
        event.effective_rate_bp = row->effective_rate_bp;
        event.reason_code = row->reason;
        if (row->text)
            snprintf (event.text, sizeof event.text, "%s", row->text);
        event.latency_us = row->latency_ms * 1000;
        if (row->type == FM_EV_SLA_BREACH)
            event.count = 2000;
        byte raw [4096];
        size_t raw_size = fm_event_encode_into (&event, raw, sizeof raw);
        assert (raw_size > 0);
        int rc = fm_store_append (store, &event, raw, raw_size);
        assert (rc == 0);
    }
    int rc = fm_store_flush (store);
    assert (rc == 0);
    fm_store_destroy (&store);
}

static void
s_fixture_write (const char *path)
{
    s_fixture_write_rows (path, s_fixture, FIXTURE_COUNT);
}

//  Read a whole file into a new string (test helper); NULL if unreadable
static char *
s_slurp (const char *path)
{
    zchunk_t *chunk = zchunk_slurp (path, 0);
    if (!chunk)
        return NULL;
    char *text = (char *) calloc (1, zchunk_size (chunk) + 1);
    assert (text);
    memcpy (text, zchunk_data (chunk), zchunk_size (chunk));
    zchunk_destroy (&chunk);
    return text;
}

static size_t
s_lines (const char *text)
{
    size_t lines = 0;
    for (const char *p = text; (p = strstr (p, "\r\n")); p += 2)
        lines++;
    return lines;
}

//  The detail tables against figures computed by hand from s_detail
static void
s_detail_test (const char *dir, bool verbose)
{
    char path [256];
    snprintf (path, sizeof path, "%s/detail.db", dir);
    s_detail_write (path);
    fm_report_t report;
    char err [256];
    int rc = fm_report_compute_path (path, &report, err, sizeof err);
    if (rc)
        zsys_error ("fm_report_test: %s", err);
    assert (rc == 0);
    assert (report.requests == 4 && report.loans == 2);

    //  The same log as version 3 wrote it (request_id indexed, no request
    //  numbers): the detail tables find the towns and grids of the
    //  requests through request_id there, and come out the same
    char old_path [256];
    snprintf (old_path, sizeof old_path, "%s/detail-3.db", dir);
    sqlite3 *db = NULL;
    rc = sqlite3_open (path, &db);
    assert (rc == SQLITE_OK);
    char sql [512];
    snprintf (sql, sizeof sql, "VACUUM INTO '%s'", old_path);
    rc = sqlite3_exec (db, sql, NULL, NULL, NULL);
    assert (rc == SQLITE_OK);
    sqlite3_close (db);
    rc = sqlite3_open (old_path, &db);
    assert (rc == SQLITE_OK);
    rc = sqlite3_exec (db, FM_STORE_DOWNGRADE_4_TO_3, NULL, NULL, NULL);
    assert (rc == SQLITE_OK);
    assert (!fm_store_has_request_numbers (db));
    sqlite3_close (db);
    fm_report_t old_report;
    rc = fm_report_compute_path (old_path, &old_report, err, sizeof err);
    assert (rc == 0);
    json_t *numbered = fm_report_json (&report), *by_id = fm_report_json (&old_report);
    char *numbered_text = json_dumps (numbered, JSON_SORT_KEYS);
    char *by_id_text = json_dumps (by_id, JSON_SORT_KEYS);
    assert (numbered_text && by_id_text && streq (numbered_text, by_id_text));
    assert (strstr (numbered_text, "\"town\": \"GYQ\""));
    free (numbered_text);
    free (by_id_text);
    json_decref (numbered);
    json_decref (by_id);
    fm_report_release (&old_report);

    //  Response times, one per (bank, request): ABC 30, 50, 40 ms ->
    //  sorted 30 40 50: median rank ceil(1.5) = 2 -> 40, p90 rank
    //  ceil(2.7) = 3 -> 50; CQRCB 10 (two offers, one answer), 20 ->
    //  median rank 1 -> 10, p90 rank ceil(1.8) = 2 -> 20
    assert (report.bank_count == 2);
    fm_report_bank_t *abc = &report.banks [0], *cqrcb = &report.banks [1];
    assert (streq (abc->bank, "ABC") && streq (cqrcb->bank, "CQRCB"));
    assert (abc->answers == 3 && abc->median_latency_us == 40000
         && abc->p90_latency_us == 50000);
    assert (cqrcb->answers == 2 && cqrcb->median_latency_us == 10000
         && cqrcb->p90_latency_us == 20000);
    assert (cqrcb->timeouts == 1 && cqrcb->breaches == 1 && abc->breaches == 0);

    //  Declines by reason: Q1 lists 102 twice and 104, Q2 104
    assert (report.reason_count == 2);
    assert (streq (report.reasons [0].bank, "ABC") && report.reasons [0].code == 102
         && report.reasons [0].declines == 1);
    assert (report.reasons [1].code == 104 && report.reasons [1].declines == 2);

    //  Towns: Q4 has no profile (unknown), GYQ Q1+Q2, JBZ Q3
    assert (report.town_count == 3);
    fm_report_town_t *none = &report.towns [0], *gyq = &report.towns [1],
                     *jbz = &report.towns [2];
    assert (streq (none->town, "") && none->requests == 1 && none->offers == 0
         && none->loans == 0 && none->enterprises_served == 0);
    assert (streq (gyq->town, "GYQ") && gyq->requests == 2 && gyq->offers == 3
         && gyq->loans == 1 && gyq->enterprises_served == 1
         && gyq->credit_fen == INT64_C(300000000)
         && gyq->avg_reduction_tenth_bp == 300);
    assert (streq (jbz->town, "JBZ") && jbz->requests == 1 && jbz->offers == 1
         && jbz->loans == 1 && jbz->credit_fen == INT64_C(500000000)
         && jbz->avg_reduction_tenth_bp == 150);
    assert (!report.town_names && *gyq->name == 0);

    //  Grids: Q4 counts in GYQ-01-01 (its town unknown, the grid's is GYQ)
    assert (report.grid_count == 3);
    fm_report_grid_t *g1 = &report.grids [0], *g2 = &report.grids [1],
                     *g3 = &report.grids [2];
    assert (streq (g1->grid, "GYQ-01-01") && streq (g1->town, "GYQ")
         && g1->requests == 2 && g1->offers == 2 && g1->loans == 1
         && g1->credit_fen == INT64_C(300000000));
    assert (streq (g2->grid, "GYQ-01-02") && streq (g2->town, "GYQ")
         && g2->requests == 1 && g2->offers == 1 && g2->loans == 0
         && g2->avg_reduction_tenth_bp == 0);
    assert (streq (g3->grid, "JBZ-02-01") && streq (g3->town, "JBZ")
         && g3->requests == 1 && g3->offers == 1 && g3->loans == 1);

    //  Products: CQRCB/GRIDE offered at 345 and 355 (mean 350.0)
    assert (report.product_count == 3);
    fm_report_product_t *kjd = &report.products [0],
                        *gride = &report.products [1],
                        *ckjd = &report.products [2];
    assert (streq (kjd->bank, "ABC") && streq (kjd->product, "KJD"));
    assert (kjd->offers == 1 && kjd->accepted == 1 && kjd->loans == 1
         && kjd->credit_fen == INT64_C(500000000)
         && kjd->avg_offer_rate_tenth_bp == 3850
         && kjd->avg_loan_rate_tenth_bp == 3850);
    assert (streq (gride->bank, "CQRCB") && streq (gride->product, "GRIDE"));
    assert (gride->offers == 2 && gride->accepted == 1 && gride->loans == 1
         && gride->credit_fen == INT64_C(300000000)
         && gride->avg_offer_rate_tenth_bp == 3500
         && gride->avg_loan_rate_tenth_bp == 3450);
    assert (streq (ckjd->product, "KJD") && ckjd->offers == 1
         && ckjd->accepted == 0 && ckjd->loans == 0
         && ckjd->avg_offer_rate_tenth_bp == 3500
         && ckjd->avg_loan_rate_tenth_bp == 0);

    //  Series by local hour (UTC+8), then by local day
    char *saved_tz = getenv ("TZ")? strdup (getenv ("TZ")): NULL;
    setenv ("TZ", "CST-8", 1);
    tzset ();
    fm_report_release (&report);
    rc = fm_report_compute_path (path, &report, err, sizeof err);
    assert (rc == 0);
    assert (report.series_by == FM_REPORT_BY_HOUR && report.series_count == 3);
    fm_report_bucket_t *h = report.series;
    assert (streq (h [0].label, "2024-05-01 08:00") && h [0].start_us == (int64_t) E1);
    assert (h [0].requests == 2 && h [0].offers == 3 && h [0].loans == 0);
    assert (streq (h [1].label, "2024-05-01 09:00")
         && h [1].start_us == (int64_t) E1 + INT64_C(3600000000));
    assert (h [1].requests == 1 && h [1].offers == 1 && h [1].loans == 2
         && h [1].credit_fen == INT64_C(800000000));
    assert (streq (h [2].label, "2024-05-02 00:00") && h [2].requests == 1);
    json_t *json = fm_report_json (&report);
    assert (streq (json_string_value (json_object_get (
            json_object_get (json, "series"), "by")), "hour"));
    json_decref (json);
    fm_report_series_by (&report, FM_REPORT_BY_DAY);
    fm_report_series_by (&report, FM_REPORT_BY_DAY);     //  once only
    assert (report.series_by == FM_REPORT_BY_DAY && report.series_count == 2);
    h = report.series;
    assert (streq (h [0].label, "2024-05-01")
         && h [0].start_us == (int64_t) E1 - INT64_C(8) * 3600000000);
    assert (h [0].requests == 3 && h [0].offers == 4 && h [0].loans == 2
         && h [0].credit_fen == INT64_C(800000000));
    assert (streq (h [1].label, "2024-05-02")
         && h [1].start_us == (int64_t) E1 + INT64_C(16) * 3600000000);
    assert (h [1].requests == 1 && h [1].offers == 0);

    //  Town names from a territory table (a header row, BOM tolerated)
    char towns [256];
    snprintf (towns, sizeof towns, "%s/towns.csv", dir);
    FILE *handle = fopen (towns, "w");
    assert (handle);
    fprintf (handle, "\xEF\xBB\xBFtown_code,name,kind\nGYQ,观音桥街道,街道\n"
             "JBZ,江北城街道,街道\nWB,五宝镇,镇\n");
    fclose (handle);
    assert (fm_report_town_names (&report, towns, err, sizeof err) == 2);
    assert (streq (report.towns [1].name, "观音桥街道")
         && streq (report.towns [2].name, "江北城街道") && report.town_names);
    assert (fm_report_town_names (&report, path, err, sizeof err) == -1);
    assert (strstr (err, "town_code"));

    //  JSON keys
    json = fm_report_json (&report);
    assert (json);
    json_t *row = json_array_get (json_object_get (json, "banks"), 0);
    assert (json_integer_value (json_object_get (row, "median_latency_us")) == 40000);
    assert (json_integer_value (json_object_get (row, "p90_latency_us")) == 50000);
    assert (json_integer_value (json_object_get (row, "answers")) == 3);
    row = json_array_get (json_object_get (json, "declines_by_reason"), 1);
    assert (json_integer_value (json_object_get (row, "code")) == 104);
    assert (streq (json_string_value (json_object_get (row, "reason")),
                   "INDUSTRY_NOT_SERVED"));
    row = json_array_get (json_object_get (json, "towns"), 1);
    assert (streq (json_string_value (json_object_get (row, "name")), "观音桥街道"));
    assert (json_integer_value (json_object_get (row, "offers")) == 3);
    row = json_array_get (json_object_get (json, "grids"), 0);
    assert (streq (json_string_value (json_object_get (row, "town")), "GYQ"));
    row = json_array_get (json_object_get (json, "products"), 1);
    assert (json_integer_value (json_object_get (row, "avg_offer_rate_tenth_bp"))
            == 3500);
    json_t *series = json_object_get (json, "series");
    assert (streq (json_string_value (json_object_get (series, "by")), "day"));
    assert (json_array_size (json_object_get (series, "buckets")) == 2);
    json_decref (json);

    //  CSV: exact towns table; header and row count of every table
    char *text = NULL;
    size_t text_size = 0;
    FILE *memory = open_memstream (&text, &text_size);
    assert (memory);
    assert (fm_report_csv (&report, "towns", memory) == 0);
    fclose (memory);
    assert (streq (text,
        "town,name,requests,enterprises_served,offers,loans,"
        "credit_granted_fen,avg_reduction_tenth_bp\r\n"
        ",,1,0,0,0,0,0\r\n"
        "GYQ,观音桥街道,2,1,3,1,300000000,300\r\n"
        "JBZ,江北城街道,1,1,1,1,500000000,150\r\n"));
    free (text);
    memory = open_memstream (&text, &text_size);
    assert (fm_report_csv (&report, "nosuch", memory) == -1);
    fclose (memory);
    free (text);
    char csv_dir [256];
    snprintf (csv_dir, sizeof csv_dir, "%s/csv", dir);
    assert (fm_report_csv_dir (&report, csv_dir, err, sizeof err) == 0);
    const struct { const char *table; const char *header; size_t rows; } csv [] = {
        { "summary", "figure,value\r\nv,1\r\n", 19 },
        { "banks", "bank,offers,declines,timeouts,accepted,loans,", 2 },
        { "reasons", "bank,code,reason,declines,bank_name\r\n"
                     "ABC,102,AMOUNT_ABOVE_MAX,1,\r\n", 2 },
        { "towns", "town,name,", 3 },
        { "grids", "grid,town,requests,enterprises_served,offers,loans,", 3 },
        { "products", "bank,product,offers,accepted,loans,credit_granted_fen,"
                      "avg_offer_rate_tenth_bp,avg_loan_rate_tenth_bp,bank_name\r\n"
                      "ABC,KJD,1,1,1,500000000,3850,3850,\r\n", 3 },
        { "series", "start_us,label,requests,offers,loans,credit_granted_fen\r\n"
                    "1714492800000000,2024-05-01,3,4,2,800000000\r\n", 2 },
    };
    for (size_t i = 0; i < sizeof csv / sizeof csv [0]; i++) {
        char file [300];
        snprintf (file, sizeof file, "%s/%s.csv", csv_dir, csv [i].table);
        text = s_slurp (file);
        assert (text);
        if (verbose)
            printf ("%s:\n%s", csv [i].table, text);
        assert (strncmp (text, csv [i].header, strlen (csv [i].header)) == 0);
        assert (s_lines (text) == csv [i].rows + 1);
        free (text);
        unlink (file);
    }
    assert (fm_report_csv_tables [7] == NULL);
    //  A text with a comma and a quote is quoted (RFC 4180)
    snprintf (report.towns [1].name, sizeof report.towns [1].name, "a,\"b\"");
    memory = open_memstream (&text, &text_size);
    assert (fm_report_csv (&report, "towns", memory) == 0);
    fclose (memory);
    assert (strstr (text, "\r\nGYQ,\"a,\"\"b\"\"\",2,"));
    free (text);

    //  The tables, in Chinese, aligned by display width (CJK = 2 cells)
    int lang_rc = fm_i18n_set_lang ("zh");
    assert (lang_rc == 0);
    snprintf (report.towns [1].name, sizeof report.towns [1].name, "观音桥街道");
    memory = open_memstream (&text, &text_size);
    fm_report_print_detail (&report, memory);
    fclose (memory);
    if (verbose)
        printf ("%s", text);
    assert (strstr (text, "按街道/镇"));
    assert (strstr (text, "观音桥街道"));
    assert (strstr (text, "按产品"));
    assert (strstr (text, "3.500%"));
    assert (strstr (text, "2024-05-02"));
    //  Every line of the towns table has the same display width up to
    //  its last column's end (right-aligned numbers)
    const char *table = strstr (text, "按街道/镇\n");
    assert (table);
    table = strchr (table, '\n') + 1;
    size_t widths [8], lines = 0;
    while (*table && *table != '\n' && lines < 8) {
        const char *end = strchr (table, '\n');
        char line [512];
        snprintf (line, sizeof line, "%.*s", (int) (end - table), table);
        widths [lines++] = fm_text_width (line);
        table = end + 1;
    }
    assert (lines == 5);            //  heading, rule, three towns
    for (size_t i = 1; i < lines; i++)
        assert (widths [i] == widths [0]);
    free (text);
    fm_i18n_set_lang ("en");

    //  The command: --csv DIR, --csv-table, --by, --towns; bad values exit 2
    fm_cli_t cli = { .timeout_ms = 1000 };
    char *args_csv [] = { "report", "--db", path, "--csv", csv_dir, "--by",
                          "hour", "--towns", towns, "--csv-table", "series", NULL };
    assert (fm_cmd_report (&cli, 11, args_csv) == 0);
    char csv_file [300];
    snprintf (csv_file, sizeof csv_file, "%s/series.csv", csv_dir);
    text = s_slurp (csv_file);
    assert (text && s_lines (text) == 4);      //  header + three hours
    assert (strstr (text, ",2024-05-01 09:00,1,1,2,800000000\r\n"));
    free (text);
    snprintf (csv_file, sizeof csv_file, "%s/towns.csv", csv_dir);
    text = s_slurp (csv_file);
    assert (text && strstr (text, "JBZ,江北城街道,1,"));
    free (text);
    char *args_by [] = { "report", "--db", path, "--by", "week", NULL };
    assert (fm_cmd_report (&cli, 5, args_by) == 2);
    char *args_table [] = { "report", "--db", path, "--csv-table", "nosuch", NULL };
    assert (fm_cmd_report (&cli, 5, args_table) == 2);
    char *args_towns [] = { "report", "--db", path, "--towns", path, NULL };
    assert (fm_cmd_report (&cli, 5, args_towns) == 2);
    for (size_t i = 0; fm_report_csv_tables [i]; i++) {
        char file [300];
        snprintf (file, sizeof file, "%s/%s.csv", csv_dir, fm_report_csv_tables [i]);
        unlink (file);
    }
    rmdir (csv_dir);
    unlink (towns);

    if (saved_tz)
        setenv ("TZ", saved_tz, 1);
    else
        unsetenv ("TZ");
    tzset ();
    free (saved_tz);
    fm_report_release (&report);
    fm_store_remove (path);
    fm_store_remove (old_path);
}

void
fm_report_test (bool verbose)
{
    //  @selftest
    char dir [] = "/tmp/fm_report_test.XXXXXX";
    assert (mkdtemp (dir));
    char path [256];
    snprintf (path, sizeof path, "%s/events.db", dir);
    s_fixture_write (path);
    //  Local time is UTC+8 for the series labels and the goldens (the
    //  default zone; "CST-8" is it without tzdata)
    char *saved_tz = getenv ("TZ")? strdup (getenv ("TZ")): NULL;
    setenv ("TZ", "CST-8", 1);
    tzset ();

    fm_report_t report;
    char err [256];
    int rc = fm_report_compute_path (path, &report, err, sizeof err);
    if (rc)
        zsys_error ("fm_report_test: %s", err);
    assert (rc == 0);
    assert (report.events == 17);
    assert (report.epochs == 2);
    assert (report.first_ts_us == (int64_t) E1 + 1000000);
    assert (report.last_ts_us == (int64_t) E2 + 5000000);
    assert (report.gaps == 1);
    assert (report.missing_events == 2);
    assert (report.requests == 3);
    assert (report.enterprises == 3);
    assert (report.enterprises_served == 2);
    assert (report.offers == 4);
    assert (report.declines == 1);
    assert (report.timeouts == 1);
    assert (report.accepted == 2);
    assert (report.withdrawn == 0);
    assert (report.loans == 2);
    assert (report.credit_fen == INT64_C(800000000));       //  800万元
    //  Reductions 30 and 15 bp: mean 22.5; by amount (300万×30 + 500万×15)
    //  / 800万 = 20.625 -> 20.6
    assert (report.avg_reduction_tenth_bp == 225);
    assert (report.weighted_reduction_tenth_bp == 206);

    assert (report.bank_count == 2);
    fm_report_bank_t *abc = &report.banks [0];
    assert (streq (abc->bank, "ABC"));
    assert (abc->offers == 2 && abc->declines == 1 && abc->timeouts == 0);
    assert (abc->accepted == 1 && abc->loans == 1);
    assert (abc->credit_fen == INT64_C(500000000));
    assert (abc->avg_reduction_tenth_bp == 150);
    fm_report_bank_t *cqrcb = &report.banks [1];
    assert (streq (cqrcb->bank, "CQRCB"));
    assert (cqrcb->offers == 2 && cqrcb->declines == 0 && cqrcb->timeouts == 1);
    assert (cqrcb->accepted == 1 && cqrcb->loans == 1);
    assert (cqrcb->credit_fen == INT64_C(300000000));
    assert (cqrcb->avg_reduction_tenth_bp == 300);
    //  Scoring: both honoured every acceptance, neither breached; CQRCB
    //  answered faster (seqs 5, 8: 6.5 ms) than ABC (6, 7, 9: 7.333 ms)
    assert (abc->avg_latency_us == 7333 && cqrcb->avg_latency_us == 6500);
    assert (abc->breaches == 0 && cqrcb->breaches == 0);
    assert (abc->honoured_permille == 1000 && cqrcb->honoured_permille == 1000);
    assert (cqrcb->rank == 1 && abc->rank == 2);

    assert (report.grid_count == 2);
    fm_report_grid_t *gn1 = &report.grids [0];
    assert (streq (gn1->grid, "JB-GN-01"));
    assert (gn1->requests == 2);        //  R1, and R2 through its profile
    assert (gn1->enterprises_served == 1 && gn1->loans == 1);
    assert (gn1->credit_fen == INT64_C(300000000));
    assert (gn1->avg_reduction_tenth_bp == 300);
    fm_report_grid_t *gn2 = &report.grids [1];
    assert (streq (gn2->grid, "JB-GN-02"));
    assert (gn2->requests == 1 && gn2->enterprises_served == 1);
    assert (gn2->loans == 1 && gn2->credit_fen == INT64_C(500000000));
    assert (gn2->avg_reduction_tenth_bp == 150);

    //  Rounding is integer, half away from zero
    assert (s_mean_tenths (45, 2) == 225);
    assert (s_mean_tenths (1, 3) == 3);         //  0.333 -> 0.3
    assert (s_mean_tenths (2, 3) == 7);         //  0.666 -> 0.7
    assert (s_mean_tenths (1, 4) == 3);         //  0.25 -> 0.3
    assert (s_mean_tenths (-1, 4) == -3);
    assert (s_mean_tenths (5, 0) == 0);
    char tenths [32];
    assert (streq (fm_report_tenths (203, tenths, sizeof tenths), "20.3"));
    assert (streq (fm_report_tenths (-5, tenths, sizeof tenths), "-0.5"));
    assert (streq (fm_report_tenths (0, tenths, sizeof tenths), "0.0"));

    //  JSON: keys and integer values, and the golden file when the source
    //  tree is known (ctest sets FM_SOURCE_DIR)
    json_t *json = fm_report_json (&report);
    assert (json);
    assert (json_integer_value (json_object_get (json, "credit_granted_fen"))
            == 800000000);
    assert (json_integer_value (json_object_get (json, "requests")) == 3);
    assert (json_integer_value (json_object_get (json, "avg_reduction_tenth_bp"))
            == 225);
    assert (json_integer_value (json_object_get (json, "gaps")) == 1);
    json_t *bank = json_array_get (json_object_get (json, "banks"), 1);
    assert (streq (json_string_value (json_object_get (bank, "bank")), "CQRCB"));
    assert (json_integer_value (json_object_get (bank, "timeouts")) == 1);
    const char *source = getenv ("FM_SOURCE_DIR");
    if (source) {
        char golden [512];
        snprintf (golden, sizeof golden,
                  "%s/tests/data/report/expected.json", source);
        //  FM_GOLDEN_WRITE=1 rewrites it too (then review the diff)
        if (getenv ("FM_GOLDEN_WRITE")) {
            int written = json_dump_file (json, golden, JSON_INDENT (2));
            FILE *handle = fopen (golden, "a");
            assert (written == 0 && handle);
            fputc ('\n', handle);
            fclose (handle);
        }
        json_error_t json_err;
        json_t *expected = json_load_file (golden, 0, &json_err);
        if (!expected)
            zsys_error ("fm_report_test: %s: %s", golden, json_err.text);
        assert (expected);
        if (!json_equal (json, expected)) {
            char *text = json_dumps (json, JSON_INDENT (2));
            zsys_error ("fm_report_test: JSON differs from %s:\n%s",
                        golden, text);
            free (text);
        }
        assert (json_equal (json, expected));
        json_decref (expected);
    }
    else
        zsys_warning ("fm_report_test: FM_SOURCE_DIR unset, golden JSON skipped");
    json_decref (json);

    //  Human output, in both languages, against golden files (exact): the
    //  gap warning, headings, money in 万元 / ¥ million, local time in
    //  UTC+8 (set above)
    const char *langs [] = { "zh", "en" };
    for (size_t i = 0; i < 2; i++) {
        int lang_rc = fm_i18n_set_lang (langs [i]);
        assert (lang_rc == 0);
        char *text = NULL;
        size_t text_size = 0;
        FILE *memory = open_memstream (&text, &text_size);
        assert (memory);
        fm_report_print (&report, memory);
        fclose (memory);
        if (verbose)
            printf ("%s", text);
        //  --json never changes with the language: integers in fen, bp
        json_t *again = fm_report_json (&report);
        json_t *first = fm_report_json (&report);
        assert (again && first);
        fm_i18n_set_lang ("en");
        json_decref (first);
        first = fm_report_json (&report);
        assert (json_equal (again, first));
        json_decref (again);
        json_decref (first);
        fm_i18n_set_lang (langs [i]);
        if (i == 0) {
            assert (fm_i18n_catalogue_loaded ());
            assert (strstr (text, "警告"));
            assert (strstr (text, "按银行"));
            assert (strstr (text, "800万元"));
            assert (strstr (text, "22.5 BP（约 0.23%）"));
            assert (strstr (text, "有 1 处缺口，共缺失 2 条事件"));
            assert (strstr (text, "2024-05-01 08:00:01 至 2024-05-02 08:00:05"));
        }
        else {
            assert (strstr (text, "WARNING"));
            assert (strstr (text, "By bank"));
            assert (strstr (text, "¥8 million"));
            assert (strstr (text, "22.5 BP (about 0.23%)"));
            //  Counted nouns agree with their number
            assert (strstr (text, "has 1 gap (2 events missing);"));
            assert (strstr (text, "17 events, 2 epochs"));
            assert (!strstr (text, "1 gaps"));
        }
        if (source) {
            char golden [512];
            snprintf (golden, sizeof golden, "%s/tests/data/i18n/report.%s.txt",
                      source, langs [i]);
            //  FM_GOLDEN_WRITE=1 rewrites the files (then review the diff)
            if (getenv ("FM_GOLDEN_WRITE")) {
                FILE *handle = fopen (golden, "w");
                assert (handle);
                fputs (text, handle);
                fclose (handle);
            }
            zchunk_t *chunk = zchunk_slurp (golden, 0);
            if (!chunk)
                zsys_error ("fm_report_test: cannot read %s", golden);
            assert (chunk);
            bool same = zchunk_size (chunk) == strlen (text)
                     && memcmp (zchunk_data (chunk), text, strlen (text)) == 0;
            if (!same)
                zsys_error ("fm_report_test: output differs from %s:\n%s",
                            golden, text);
            assert (same);
            zchunk_destroy (&chunk);
        }
        free (text);
    }
    fm_i18n_set_lang ("en");
    if (saved_tz)
        setenv ("TZ", saved_tz, 1);
    else
        unsetenv ("TZ");
    tzset ();
    free (saved_tz);
    fm_report_release (&report);
    assert (report.banks == NULL && report.bank_count == 0);

    //  An empty log: zeros, no division by zero
    char empty [256];
    snprintf (empty, sizeof empty, "%s/empty.db", dir);
    fm_store_t *store = fm_store_new (empty, 1, 1);
    assert (store);
    fm_store_destroy (&store);
    rc = fm_report_compute_path (empty, &report, err, sizeof err);
    assert (rc == 0);
    assert (report.events == 0 && report.loans == 0);
    assert (report.avg_reduction_tenth_bp == 0 && report.bank_count == 0);
    fm_report_release (&report);

    //  Refusals: a missing file (not created), another database, a text
    //  file; the command exits 2 for them and 0 for the log
    char missing [256];
    snprintf (missing, sizeof missing, "%s/missing.db", dir);
    rc = fm_report_compute_path (missing, &report, err, sizeof err);
    assert (rc == -1);
    assert (strstr (err, "missing.db"));
    assert (!zsys_file_exists (missing));

    char other [256];
    snprintf (other, sizeof other, "%s/other.db", dir);
    sqlite3 *db = NULL;
    rc = sqlite3_open (other, &db);
    assert (rc == SQLITE_OK);
    rc = sqlite3_exec (db, "CREATE TABLE foo (x)", NULL, NULL, NULL);
    assert (rc == SQLITE_OK);
    sqlite3_close (db);
    rc = fm_report_compute_path (other, &report, err, sizeof err);
    assert (rc == -1);
    assert (strstr (err, "not a finmatch event log"));

    char textfile [256];
    snprintf (textfile, sizeof textfile, "%s/notes.txt", dir);
    FILE *handle = fopen (textfile, "w");
    assert (handle);
    fprintf (handle, "这不是数据库 - this is not a database at all, just text\n");
    fclose (handle);
    rc = fm_report_compute_path (textfile, &report, err, sizeof err);
    assert (rc == -1);
    assert (strstr (err, "not an SQLite database"));

    fm_cli_t cli = { .timeout_ms = 1000 };
    char *args_missing [] = { "report", "--db", missing, NULL };
    assert (fm_cmd_report (&cli, 3, args_missing) == 2);
    char *args_other [] = { "report", "--db", other, "--json", NULL };
    assert (fm_cmd_report (&cli, 4, args_other) == 2);
    char *args_none [] = { "report", NULL };
    assert (fm_cmd_report (&cli, 1, args_none) == 2);
    char *args_bad [] = { "report", "--bogus", NULL };
    assert (fm_cmd_report (&cli, 2, args_bad) == 2);

    //  Deadline misses (sla.breach) rank a bank down before response time
    char scoring [256];
    snprintf (scoring, sizeof scoring, "%s/scoring.db", dir);
    s_fixture_write_rows (scoring, s_scoring, SCORING_COUNT);
    rc = fm_report_compute_path (scoring, &report, err, sizeof err);
    assert (rc == 0);
    assert (report.requests == 3 && report.timeouts == 3 && report.loans == 0);
    assert (report.bank_count == 3);
    const fm_report_bank_t *by_abc = &report.banks [0];
    const fm_report_bank_t *by_boc = &report.banks [1];
    const fm_report_bank_t *by_cqrcb = &report.banks [2];
    assert (streq (by_abc->bank, "ABC") && streq (by_boc->bank, "BOC")
         && streq (by_cqrcb->bank, "CQRCB"));
    assert (by_abc->breaches == 1 && by_boc->breaches == 0 && by_cqrcb->breaches == 2);
    assert (by_abc->timeouts == 1 && by_boc->timeouts == 0 && by_cqrcb->timeouts == 2);
    //  Response times (misses are not answers): CQRCB 2 ms, BOC (5, 10,
    //  14) 9.666 ms, ABC (9, 15) 12 ms
    assert (by_cqrcb->avg_latency_us == 2000);
    assert (by_boc->avg_latency_us == 9666 && by_abc->avg_latency_us == 12000);
    assert (by_boc->rank == 1 && by_abc->rank == 2 && by_cqrcb->rank == 3);
    json = fm_report_json (&report);
    assert (json);
    json_t *row = json_array_get (json_object_get (json, "banks"), 2);
    assert (json_integer_value (json_object_get (row, "sla_breaches")) == 2);
    assert (json_integer_value (json_object_get (row, "rank")) == 3);
    json_decref (json);
    fm_report_release (&report);
    fm_store_remove (scoring);

    s_detail_test (dir, verbose);

    fm_store_remove (path);
    fm_store_remove (empty);
    fm_store_remove (other);
    unlink (textfile);
    //  Every file the test made is gone (the directory is empty)
    int removed = rmdir (dir);
    assert (removed == 0);
    //  @end
}
