/*  =========================================================================
    fm_report_csv - the report's tables as CSV files

    One RFC 4180 file per table (UTF-8 without BOM, CRLF line ends, a
    header row).  The columns are the keys of `finmatch report --json` and
    the values are its integers (fen, bp, tenths of bp, µs): the CSV is
    built from that JSON, so both always agree.  Texts (bank codes, town
    names, labels) are quoted when they hold a comma, quote or line end.
    Columns added later (bank_name, town_name: "" when not known) come
    last, so a reader of the older columns by position keeps working.
    =========================================================================
*/

#include <czmq.h>
#include "fm_report.h"
#include "fm_i18n.h"

const char *fm_report_csv_tables [] = {
    "summary", "banks", "reasons", "towns", "grids", "products", "series", NULL
};

//  The columns of each table (JSON keys), and where its rows are in the
//  JSON ("" = the summary: every integer member of the root)
typedef struct {
    const char *table;
    const char *path;                   //  array member, "a.b" = nested
    const char *columns [20];
} s_table_t;

static const s_table_t s_tables [] = {
    { "summary", "", { "figure", "value", NULL } },
    { "banks", "banks", { "bank", "offers", "declines", "timeouts", "accepted",
      "loans", "credit_granted_fen", "avg_reduction_tenth_bp", "answers",
      "median_latency_us", "p90_latency_us", "avg_latency_us", "sla_breaches",
      "honoured_permille", "rank", "bank_name", NULL } },
    { "reasons", "declines_by_reason", { "bank", "code", "reason", "declines",
      "bank_name", NULL } },
    { "towns", "towns", { "town", "name", "requests", "enterprises_served",
      "offers", "loans", "credit_granted_fen", "avg_reduction_tenth_bp", NULL } },
    { "grids", "grids", { "grid", "town", "requests", "enterprises_served",
      "offers", "loans", "credit_granted_fen", "avg_reduction_tenth_bp",
      "town_name", NULL } },
    { "products", "products", { "bank", "product", "offers", "accepted",
      "loans", "credit_granted_fen", "avg_offer_rate_tenth_bp",
      "avg_loan_rate_tenth_bp", "bank_name", NULL } },
    { "series", "series.buckets", { "start_us", "label", "requests", "offers",
      "loans", "credit_granted_fen", NULL } },
};

//  One field, quoted when it must be
static void
s_field (FILE *file, const char *text, bool first)
{
    if (!first)
        fputc (',', file);
    if (strpbrk (text, ",\"\r\n")) {
        fputc ('"', file);
        for (const char *p = text; *p; p++) {
            if (*p == '"')
                fputc ('"', file);
            fputc (*p, file);
        }
        fputc ('"', file);
    }
    else
        fputs (text, file);
}

static void
s_value (FILE *file, json_t *value, bool first)
{
    char number [32];
    if (json_is_integer (value)) {
        snprintf (number, sizeof number, "%" JSON_INTEGER_FORMAT,
                  json_integer_value (value));
        s_field (file, number, first);
    }
    else
        s_field (file, json_is_string (value)? json_string_value (value): "",
                 first);
}

int
fm_report_csv (const fm_report_t *self, const char *table, FILE *file)
{
    assert (self && table && file);
    const s_table_t *spec = NULL;
    for (size_t i = 0; i < sizeof s_tables / sizeof s_tables [0]; i++)
        if (streq (s_tables [i].table, table))
            spec = &s_tables [i];
    if (!spec)
        return -1;
    json_t *root = fm_report_json (self);
    if (!root)
        return -2;
    for (size_t col = 0; spec->columns [col]; col++)
        s_field (file, spec->columns [col], col == 0);
    fputs ("\r\n", file);
    if (*spec->path == 0) {
        //  Every scalar figure, in the JSON's order
        const char *key;
        json_t *value;
        json_object_foreach (root, key, value)
            if (json_is_integer (value)) {
                s_field (file, key, true);
                s_value (file, value, false);
                fputs ("\r\n", file);
            }
    }
    else {
        char path [64];
        snprintf (path, sizeof path, "%s", spec->path);
        char *dot = strchr (path, '.');
        if (dot)
            *dot = 0;
        json_t *rows = json_object_get (root, path);
        if (dot)
            rows = json_object_get (rows, dot + 1);
        size_t index;
        json_t *row;
        json_array_foreach (rows, index, row) {
            for (size_t col = 0; spec->columns [col]; col++)
                s_value (file, json_object_get (row, spec->columns [col]),
                         col == 0);
            fputs ("\r\n", file);
        }
    }
    json_decref (root);
    fflush (file);
    return ferror (file)? -2: 0;
}

int
fm_report_csv_dir (const fm_report_t *self, const char *dir,
                   char *err, size_t err_size)
{
    assert (self && dir && err);
    if (zsys_dir_create ("%s", dir) && !zsys_file_exists (dir)) {
        snprintf (err, err_size, "%s: %s", dir, strerror (errno));
        return -1;
    }
    for (size_t i = 0; fm_report_csv_tables [i]; i++) {
        char path [1024];
        snprintf (path, sizeof path, "%s/%s.csv", dir, fm_report_csv_tables [i]);
        FILE *file = fopen (path, "w");
        int rc = file? fm_report_csv (self, fm_report_csv_tables [i], file): -2;
        if (file && fclose (file))
            rc = -2;
        if (rc) {
            snprintf (err, err_size, "%s: %s", path, strerror (errno));
            return -1;
        }
    }
    return 0;
}
