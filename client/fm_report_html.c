/*  =========================================================================
    fm_report_html - the report as one self-contained HTML file

    Charts are horizontal bars in inline SVG, one row per bank or grid,
    lengths in whole pixels computed with integer arithmetic (128-bit: a
    credit in fen times the chart width can pass int64).  Every text is in
    the user's language (fm_i18n: --lang, LANG...; Chinese by default),
    sharing its msgids with the text report, and labels are the same money
    text as the tables (fm_i18n_money: "500万元" / "¥5 million").
    =========================================================================
*/

#include <czmq.h>
#include <time.h>
#include "fm_report_html.h"
#include "fm_report_util.h"
#include "fm_money.h"
#include "fm_i18n.h"
#include "fm_print.h"

#define CHART_BAR_W     420             //  pixels of the longest bar
#define CHART_LABEL_W   110             //  bank code / grid id column
#define CHART_ROW_H     26

static const char *s_css =
    "body{font-family:'Noto Sans CJK SC','WenQuanYi Micro Hei',"
    "'Microsoft YaHei',sans-serif;margin:24px auto;max-width:960px;"
    "color:#1d2733;background:#fff}"
    "h1{font-size:22px;border-bottom:3px solid #b71c1c;padding-bottom:6px}"
    "h2{font-size:17px;margin-top:28px;color:#b71c1c}"
    ".meta{color:#5b6673;font-size:13px}"
    ".warn{background:#fff3cd;border:1px solid #e0a800;padding:8px;"
    "font-weight:bold}"
    "table{border-collapse:collapse;margin:8px 0;font-size:14px}"
    "th,td{border:1px solid #d0d7de;padding:4px 10px}"
    "th{background:#f3f5f7}td.n{text-align:right;"
    "font-variant-numeric:tabular-nums}"
    ".cards{display:flex;flex-wrap:wrap;gap:10px}"
    ".card{border:1px solid #d0d7de;border-radius:6px;padding:8px 14px;"
    "min-width:120px}.card b{display:block;font-size:20px}"
    ".card span{font-size:12px;color:#5b6673}"
    "svg text{font-size:12px;font-family:inherit}";

void
fm_html_escape (FILE *file, const char *str)
{
    for (const char *p = str? str: ""; *p; p++)
        switch (*p) {
            case '&':  fputs ("&amp;", file);  break;
            case '<':  fputs ("&lt;", file);   break;
            case '>':  fputs ("&gt;", file);   break;
            case '"':  fputs ("&quot;", file); break;
            case '\'': fputs ("&#39;", file);  break;
            default:   fputc (*p, file);
        }
}

//  One summary card
static void
s_card (FILE *file, const char *label, const char *value)
{
    fprintf (file, "<div class=\"card\"><b>");
    fm_html_escape (file, value);
    fprintf (file, "</b><span>");
    fm_html_escape (file, label);
    fprintf (file, "</span></div>\n");
}

static void
s_card_int (FILE *file, const char *label, int64_t value)
{
    char text [32];
    snprintf (text, sizeof text, "%" PRId64, value);
    s_card (file, label, text);
}


//  A heading and the head row of a table (headings are msgids)
static void
s_table_head (FILE *file, const char *title, const char *id,
              const char **heads, size_t count)
{
    fprintf (file, "<h2>");
    fm_html_escape (file, title);
    fprintf (file, "</h2>\n<table id=\"%s\">\n<tr>", id);
    for (size_t col = 0; col < count; col++) {
        fprintf (file, "<th>");
        fm_html_escape (file, _(heads [col]));
        fprintf (file, "</th>");
    }
    fprintf (file, "</tr>\n");
}


//  One table row: count cells, the first `left` as text, the rest numeric
static void
s_row (FILE *file, const char **cells, size_t count, size_t left)
{
    fprintf (file, "<tr>");
    for (size_t col = 0; col < count; col++) {
        fprintf (file, col < left? "<td>": "<td class=\"n\">");
        fm_html_escape (file, cells [col]);
        fprintf (file, "</td>");
    }
    fprintf (file, "</tr>\n");
}


//  --------------------------------------------------------------------------
//  A horizontal bar chart: count rows, labels[i], values[i] (>= 0) and
//  the text printed after each bar.  An empty chart says so.

static void
s_chart (FILE *file, const char *title, const char *id, size_t count,
         const char **labels, const int64_t *values, char **texts,
         const char *color)
{
    fprintf (file, "<h2>");
    fm_html_escape (file, title);
    fprintf (file, "</h2>\n");
    if (count == 0) {
        fprintf (file, "<p class=\"meta\">");
        fm_html_escape (file, _("(no data yet)"));
        fprintf (file, "</p>\n");
        return;
    }
    int64_t max = 0;
    for (size_t i = 0; i < count; i++)
        if (values [i] > max)
            max = values [i];
    int width = CHART_LABEL_W + CHART_BAR_W + 130;
    int height = (int) count * CHART_ROW_H + 8;
    fprintf (file, "<svg id=\"%s\" xmlns=\"http://www.w3.org/2000/svg\""
             " width=\"%d\" height=\"%d\" viewBox=\"0 0 %d %d\" role=\"img\""
             " aria-label=\"", id, width, height, width, height);
    fm_html_escape (file, title);
    fprintf (file, "\">\n");
    for (size_t i = 0; i < count; i++) {
        int y = (int) i * CHART_ROW_H + 4;
        int64_t bar = max > 0
            ? (int64_t) ((__int128) (values [i] > 0? values [i]: 0)
                         * CHART_BAR_W / max)
            : 0;
        if (values [i] > 0 && bar == 0)
            bar = 1;            //  a non-zero value stays visible
        fprintf (file, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">",
                 CHART_LABEL_W - 6, y + 16);
        fm_html_escape (file, *labels [i]? labels [i]: _("(unknown)"));
        fprintf (file, "</text><rect x=\"%d\" y=\"%d\" width=\"%" PRId64
                 "\" height=\"%d\" fill=\"%s\"/>", CHART_LABEL_W, y + 3, bar,
                 CHART_ROW_H - 8, color);
        fprintf (file, "<text x=\"%" PRId64 "\" y=\"%d\">",
                 CHART_LABEL_W + bar + 6, y + 16);
        fm_html_escape (file, texts [i]);
        fprintf (file, "</text>\n");
    }
    fprintf (file, "</svg>\n");
}

//  Room for the charts' labels and texts
typedef struct {
    const char **labels;
    int64_t *values;
    char **texts;
    size_t count;
} s_series_t;

static int
s_series_new (s_series_t *series, size_t count)
{
    series->count = count;
    series->labels = (const char **) calloc (count + 1, sizeof (char *));
    series->values = (int64_t *) calloc (count + 1, sizeof (int64_t));
    series->texts = (char **) calloc (count + 1, sizeof (char *));
    for (size_t i = 0; series->texts && i < count; i++)
        if (!(series->texts [i] = (char *) calloc (1, 64)))
            return -1;
    return series->labels && series->values && series->texts? 0: -1;
}

static void
s_series_free (s_series_t *series)
{
    for (size_t i = 0; series->texts && i < series->count; i++)
        free (series->texts [i]);
    free (series->texts);
    free (series->labels);
    free (series->values);
    memset (series, 0, sizeof *series);
}


//  --------------------------------------------------------------------------
//  The detail tables (fm_report_detail): response time, declines by
//  reason, towns (with a chart), grids, products, the time series.
//  Returns 0, or -1 if out of memory.

static char *
s_int (char *buf, int64_t value)
{
    snprintf (buf, 24, "%" PRId64, value);
    return buf;
}

static int
s_detail (const fm_report_t *self, FILE *file)
{
    char n [8][24], money [64], cell [64], extra [64];
    char label [FM_NAME_SIZE + FM_CODE_SIZE + 4];
    const char *unknown = _("(unknown)");

    const char *time_heads [] = {
        N_("Bank"), N_("Answers"), N_("Median ms"), N_("P90 ms"),
        N_("Timeouts"), N_("SLA breaches")
    };
    s_table_head (file, _("Bank response time and deadline misses"), "latency",
                  time_heads, 6);
    for (size_t i = 0; i < self->bank_count; i++) {
        const fm_report_bank_t *bank = &self->banks [i];
        const char *cells [] = {
            fm_report_bank_label (self, bank->bank, label, sizeof label),
            s_int (n [0], bank->answers),
            fm_report_ms_cell (bank->median_latency_us, bank->answers,
                               cell, sizeof cell),
            fm_report_ms_cell (bank->p90_latency_us, bank->answers,
                               extra, sizeof extra),
            s_int (n [1], bank->timeouts), s_int (n [2], bank->breaches)
        };
        s_row (file, cells, 6, 1);
    }
    fprintf (file, "</table>\n");

    const char *reason_heads [] = {
        N_("Bank"), N_("Code"), N_("Reason"), N_("Declines")
    };
    s_table_head (file, _("Declines by reason"), "reasons", reason_heads, 4);
    for (size_t i = 0; i < self->reason_count; i++) {
        const fm_report_reason_t *row = &self->reasons [i];
        const char *cells [] = {
            fm_report_bank_label (self, row->bank, label, sizeof label),
            s_int (n [0], row->code),
            fm_print_reason_meaning (row->code), s_int (n [1], row->declines)
        };
        s_row (file, cells, 4, 3);
    }
    fprintf (file, "</table>\n");

    s_series_t towns;
    if (s_series_new (&towns, self->town_count)) {
        s_series_free (&towns);
        return -1;
    }
    for (size_t i = 0; i < self->town_count; i++) {
        const fm_report_town_t *town = &self->towns [i];
        towns.labels [i] = *town->name? town->name: town->town;
        towns.values [i] = town->credit_fen;
        fm_i18n_money (town->credit_fen, towns.texts [i], 64);
    }
    s_chart (file, _("Credit granted by town"), "chart-town-credit", towns.count,
             towns.labels, towns.values, towns.texts, "#6a1b9a");
    s_series_free (&towns);
    const char *town_heads [] = {
        N_("Town code"), N_("Town"), N_("Requests"), N_("Enterprises served"),
        N_("Offers"), N_("Loans"), N_("Credit granted"), N_("Avg reduction")
    };
    s_table_head (file, _("By town"), "towns", town_heads, 8);
    for (size_t i = 0; i < self->town_count; i++) {
        fm_report_area_row_t row;
        s_row (file, fm_report_town_row (&self->towns [i], &row), 8, 2);
    }
    fprintf (file, "</table>\n");
    if (!self->town_names) {
        fprintf (file, "<p class=\"meta\">");
        fm_html_escape (file, _("(the log holds town codes only; "
                        "--towns FILE names them, e.g. deploy/data/towns.csv)"));
        fprintf (file, "</p>\n");
    }

    const char *grid_heads [] = {
        N_("Grid"), N_("Town code"), N_("Requests"), N_("Enterprises served"),
        N_("Offers"), N_("Loans"), N_("Credit granted"), N_("Avg reduction")
    };
    s_table_head (file, _("By grid"), "grids", grid_heads, 8);
    for (size_t i = 0; i < self->grid_count; i++) {
        fm_report_area_row_t row;
        s_row (file, fm_report_grid_row (&self->grids [i], &row), 8, 2);
    }
    fprintf (file, "</table>\n");

    const char *product_heads [] = {
        N_("Bank"), N_("Product"), N_("Offers"), N_("Accepted"), N_("Loans"),
        N_("Credit granted"), N_("Avg offered rate"), N_("Avg loan rate")
    };
    s_table_head (file, _("By product"), "products", product_heads, 8);
    for (size_t i = 0; i < self->product_count; i++) {
        const fm_report_product_t *row = &self->products [i];
        const char *cells [] = {
            fm_report_bank_label (self, row->bank, label, sizeof label),
            *row->product? row->product: unknown,
            s_int (n [0], row->offers), s_int (n [1], row->accepted),
            s_int (n [2], row->loans),
            fm_i18n_money (row->credit_fen, money, sizeof money),
            fm_report_rate_cell (row->avg_offer_rate_tenth_bp, row->offers,
                                 cell, sizeof cell),
            fm_report_rate_cell (row->avg_loan_rate_tenth_bp, row->loans,
                                 extra, sizeof extra)
        };
        s_row (file, cells, 8, 2);
    }
    fprintf (file, "</table>\n");

    bool by_day = self->series_by == FM_REPORT_BY_DAY;
    const char *series_heads [] = {
        by_day? N_("Day"): N_("Hour"), N_("Requests"), N_("Offers"),
        N_("Loans"), N_("Credit granted")
    };
    s_table_head (file, by_day? _("By day (local time)"): _("By hour (local time)"),
                  "series", series_heads, 5);
    for (size_t i = 0; i < self->series_count; i++) {
        const fm_report_bucket_t *row = &self->series [i];
        const char *cells [] = {
            row->label, s_int (n [0], row->requests), s_int (n [1], row->offers),
            s_int (n [2], row->loans),
            fm_i18n_money (row->credit_fen, money, sizeof money)
        };
        s_row (file, cells, 5, 1);
    }
    fprintf (file, "</table>\n");
    return 0;
}


//  --------------------------------------------------------------------------
//  Write the report

int
fm_report_html (const fm_report_t *self, const char *source, FILE *file)
{
    assert (self);
    assert (file);
    char money [64], cell [64], from [32], to [32], now_text [32];
    //  Local time (Asia/Shanghai unless TZ says otherwise: fm_i18n)
    fm_i18n_time ((int64_t) time (NULL) * 1000000, "%Y-%m-%d %H:%M:%S",
                  now_text, sizeof now_text);
    fm_i18n_time (self->first_ts_us, "%Y-%m-%d %H:%M:%S", from, sizeof from);
    fm_i18n_time (self->last_ts_us, "%Y-%m-%d %H:%M:%S", to, sizeof to);

    //  Texts come from the catalogue and are escaped like data: a
    //  translation can never inject markup
    fprintf (file, "<!DOCTYPE html>\n<html lang=\"%s\">\n<head>\n"
             "<meta charset=\"utf-8\">\n<title>",
             fm_i18n_lang () == FM_LANG_EN? "en": "zh-CN");
    fm_html_escape (file, _("finmatch financing report"));
    fprintf (file, "</title>\n<style>%s</style>\n</head>\n<body>\n<h1>", s_css);
    fm_html_escape (file, _("finmatch financing report · government, "
                            "banks and enterprises"));
    fprintf (file, "</h1>\n<p class=\"meta\">");
    fm_html_escape (file, _("Source: "));
    fm_html_escape (file, source);
    snprintf (cell, sizeof cell, _("  Generated: %s"), now_text);
    fm_html_escape (file, cell);
    fprintf (file, "<br>");
    char events [48], epochs [48], line [256];
    snprintf (events, sizeof events, P_("%lld event", "%lld events", self->events),
              (long long) self->events);
    snprintf (epochs, sizeof epochs, P_("%lld epoch", "%lld epochs", self->epochs),
              (long long) self->epochs);
    snprintf (line, sizeof line, _("Event log: %s, %s, %s to %s\n"),
              events, epochs, from, to);
    fm_html_escape (file, line);
    fprintf (file, "</p>\n");
    if (self->gaps) {
        fprintf (file, "<p class=\"warn\">");
        snprintf (line, sizeof line, P_("Warning: the event log has %lld gap",
                                        "Warning: the event log has %lld gaps",
                                        self->gaps), (long long) self->gaps);
        fm_html_escape (file, line);
        snprintf (line, sizeof line, P_(" (%lld event missing)",
                                        " (%lld events missing)",
                                        self->missing_events),
                  (long long) self->missing_events);
        fm_html_escape (file, line);
        fm_html_escape (file, _("; the figures below may be low."));
        fprintf (file, "</p>\n");
    }

    fprintf (file, "<h2>");
    fm_html_escape (file, _("Overview"));
    fprintf (file, "</h2>\n<div class=\"cards\">\n");
    s_card_int (file, _("Financing requests"), self->requests);
    s_card_int (file, _("Bank offers"), self->offers);
    s_card_int (file, _("Offers accepted"), self->accepted);
    s_card_int (file, _("Loans granted"), self->loans);
    s_card (file, _("Credit granted"),
            fm_i18n_money (self->credit_fen, money, sizeof money));
    s_card (file, _("Average rate reduction"),
            fm_report_reduction_cell (self->avg_reduction_tenth_bp, self->loans,
                                      cell, sizeof cell));
    fprintf (file, "</div>\n<table id=\"summary\">\n<tr><th>");
    fm_html_escape (file, _("Figure"));
    fprintf (file, "</th><th>");
    fm_html_escape (file, _("Value"));
    fprintf (file, "</th></tr>\n");
    //  The text report's labels (same msgids)
    const struct { const char *label; int64_t value; } rows [] = {
        { N_("Financing requests"), self->requests },
        { N_("Enterprises asking"), self->enterprises },
        { N_("Enterprises served"), self->enterprises_served },
        { N_("Bank offers"), self->offers },
        { N_("Bank declines"), self->declines },
        { N_("Bank timeouts"), self->timeouts },
        { N_("Offers accepted"), self->accepted },
        { N_("Offers withdrawn"), self->withdrawn },
        { N_("Loans granted"), self->loans },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++) {
        fprintf (file, "<tr><td>");
        fm_html_escape (file, _(rows [i].label));
        fprintf (file, "</td><td class=\"n\">%" PRId64 "</td></tr>\n",
                 rows [i].value);
    }
    const struct { const char *label; const char *value; } texts [] = {
        { N_("Credit granted"),
          fm_i18n_money (self->credit_fen, money, sizeof money) },
        { N_("Average rate reduction"),
          fm_report_reduction_cell (self->avg_reduction_tenth_bp, self->loans,
                                    cell, sizeof cell) },
    };
    for (size_t i = 0; i < sizeof texts / sizeof texts [0]; i++) {
        fprintf (file, "<tr><td>");
        fm_html_escape (file, _(texts [i].label));
        fprintf (file, "</td><td class=\"n\">");
        fm_html_escape (file, texts [i].value);
        fprintf (file, "</td></tr>\n");
    }
    fprintf (file, "<tr><td>");
    fm_html_escape (file, _("Amount-weighted rate reduction"));
    fprintf (file, "</td><td class=\"n\">%s</td></tr>\n</table>\n",
             fm_report_reduction_cell (self->weighted_reduction_tenth_bp,
                                       self->loans, cell, sizeof cell));

    //  Charts: offers and credit per bank, credit per grid
    s_series_t offers, credit, grids;
    int rc = s_series_new (&offers, self->bank_count);
    if (rc == 0)
        rc = s_series_new (&credit, self->bank_count);
    else
        memset (&credit, 0, sizeof credit);
    if (rc == 0)
        rc = s_series_new (&grids, self->grid_count);
    else
        memset (&grids, 0, sizeof grids);
    if (rc == 0) {
        for (size_t i = 0; i < self->bank_count; i++) {
            const fm_report_bank_t *bank = &self->banks [i];
            const char *name = fm_report_bank_name (self, bank->bank);
            offers.labels [i] = credit.labels [i] = name? name: bank->bank;
            offers.values [i] = bank->offers;
            snprintf (offers.texts [i], 64,
                      P_("%lld offer", "%lld offers", bank->offers),
                      (long long) bank->offers);
            credit.values [i] = bank->credit_fen;
            fm_i18n_money (bank->credit_fen, credit.texts [i], 64);
        }
        for (size_t i = 0; i < self->grid_count; i++) {
            const fm_report_grid_t *grid = &self->grids [i];
            grids.labels [i] = grid->grid;
            grids.values [i] = grid->credit_fen;
            fm_i18n_money (grid->credit_fen, grids.texts [i], 64);
        }
        s_chart (file, _("Offers by bank"), "chart-offers", offers.count,
                 offers.labels, offers.values, offers.texts, "#1565c0");
        s_chart (file, _("Credit granted by bank"), "chart-bank-credit", credit.count,
                 credit.labels, credit.values, credit.texts, "#b71c1c");
        s_chart (file, _("Credit granted by grid"), "chart-grid-credit", grids.count,
                 grids.labels, grids.values, grids.texts, "#2e7d32");
    }
    s_series_free (&offers);
    s_series_free (&credit);
    s_series_free (&grids);
    if (rc)
        return -1;

    const char *bank_heads [] = {
        N_("Bank"), N_("Offers"), N_("Declines"), N_("Timeouts"),
        N_("Accepted"), N_("Loans"), N_("Credit granted"), N_("Avg reduction")
    };
    s_table_head (file, _("By bank"), "banks", bank_heads,
                  sizeof bank_heads / sizeof bank_heads [0]);
    for (size_t i = 0; i < self->bank_count; i++) {
        const fm_report_bank_t *bank = &self->banks [i];
        fprintf (file, "<tr><td>");
        char label [FM_NAME_SIZE + FM_CODE_SIZE + 4];
        fm_html_escape (file, fm_report_bank_label (self, bank->bank,
                                                    label, sizeof label));
        fprintf (file, "</td><td class=\"n\">%" PRId64 "</td><td class=\"n\">%"
                 PRId64 "</td><td class=\"n\">%" PRId64 "</td><td class=\"n\">%"
                 PRId64 "</td><td class=\"n\">%" PRId64 "</td><td class=\"n\">"
                 "%s</td><td class=\"n\">%s</td></tr>\n",
                 bank->offers, bank->declines, bank->timeouts, bank->accepted,
                 bank->loans, fm_i18n_money (bank->credit_fen, money, sizeof money),
                 fm_report_reduction_cell (bank->avg_reduction_tenth_bp,
                                           bank->loans, cell, sizeof cell));
    }
    fprintf (file, "</table>\n");
    if (s_detail (self, file))
        return -1;
    fprintf (file, "<p class=\"meta\">");
    fm_html_escape (file, _("Rate reduction = base rate − effective rate, in "
                            "basis points (BP, 0.01 percentage point).  "
                            "Generated by finmatch."));
    fprintf (file, "</p>\n</body>\n</html>\n");
    fflush (file);
    return ferror (file)? -1: 0;
}


//  --------------------------------------------------------------------------
//  Selftest

//  The page for report in the current language, as a string the caller
//  frees; printed when verbose
static char *
s_test_page (const fm_report_t *report, const char *db, bool verbose)
{
    char *text = NULL;
    size_t size = 0;
    FILE *file = open_memstream (&text, &size);
    assert (file);
    int rc = fm_report_html (report, db, file);
    fclose (file);
    assert (rc == 0);
    if (verbose)
        puts (text);
    return text;
}

void
fm_report_html_test (bool verbose)
{
    printf (" * fm_report_html: ");
    //  @selftest
    fm_report_bank_t banks [] = {
        { "BCQ", 3, 1, 0, 1, 1, INT64_C(500000000), 150, 0, 0, 1000, 1,
          2, 12000, 30000 },
        { "<X&Y>", 1, 0, 1, 0, 0, 0, 0, 0, 0, 1000, 2, 0, 0, 0 },
    };
    fm_report_grid_t grids [] = {
        { "GYQ-01-01", 2, 1, 1, INT64_C(500000000), 150, 3, "GYQ" },
    };
    fm_report_t report;
    memset (&report, 0, sizeof report);
    report.events = 12;
    report.requests = 2;
    report.offers = 4;
    report.loans = 1;
    report.credit_fen = INT64_C(500000000);
    report.avg_reduction_tenth_bp = 150;
    report.gaps = 1;
    report.missing_events = 2;
    report.banks = banks;
    report.bank_count = 2;
    report.grids = grids;
    report.grid_count = 1;
    fm_report_town_t towns [] = {
        { "GYQ", "观音桥街道", 2, 1, 3, 1, INT64_C(500000000), 150 },
    };
    fm_report_product_t products [] = {
        { "BCQ", "GRIDE", 3, 1, 1, INT64_C(500000000), 3500, 3450 },
    };
    fm_report_reason_t reasons [] = { { "BCQ", 102, 1 } };
    fm_report_bucket_t series [] = {
        { INT64_C(1714492800000000), "2024-05-01", 2, 4, 1, INT64_C(500000000) },
    };
    report.towns = towns;
    report.town_count = 1;
    report.town_names = true;
    report.products = products;
    report.product_count = 1;
    report.reasons = reasons;
    report.reason_count = 1;
    report.series = series;
    report.series_count = 1;
    report.series_by = FM_REPORT_BY_DAY;

    //  Chinese (the default) from the catalogue built from po/zh_CN.po
    int rc = fm_i18n_set_lang ("zh");
    assert (rc == 0);
    assert (fm_i18n_catalogue_loaded ());
    char *text = s_test_page (&report, "log<1>.db", verbose);
    assert (strstr (text, "<!DOCTYPE html>"));
    assert (strstr (text, "<html lang=\"zh-CN\">"));
    assert (strstr (text, "<title>finmatch 融资对接报告</title>"));
    assert (strstr (text, "<th>银行</th><th>报价</th><th>婉拒</th>"));
    assert (strstr (text, "<span>授信金额</span>"));
    assert (strstr (text, "500万元"));
    assert (strstr (text, "15.0 BP"));
    assert (strstr (text, "有 1 处缺口，共缺失 2 条事件"));
    assert (strstr (text, "1 笔报价"));
    assert (!strstr (text, "Credit granted"));
    assert (!strstr (text, "bp<"));
    //  The detail tables (issue 3), Chinese headings and names
    assert (strstr (text, "<h2>按街道/镇</h2>"));
    assert (strstr (text, "<td>GYQ</td><td>观音桥街道</td><td class=\"n\">2</td>"));
    assert (strstr (text, "id=\"chart-town-credit\""));
    assert (strstr (text, "<h2>按产品</h2>"));
    assert (strstr (text, "<td class=\"n\">3.500%</td><td class=\"n\">3.450%</td>"));
    assert (strstr (text, "<h2>银行响应时间与超时违约</h2>"));
    assert (strstr (text, "<td class=\"n\">12.0</td><td class=\"n\">30.0</td>"));
    assert (strstr (text, "<h2>按原因统计婉拒</h2>"));
    assert (strstr (text, "<td>金额超过产品上限</td>"));
    assert (strstr (text, "<h2>按天(本地时间)</h2>"));
    assert (strstr (text, "<td>2024-05-01</td>"));
    assert (strstr (text, "<td>GYQ-01-01</td><td>GYQ</td>"));
    free (text);

    //  English: the msgids, ¥ with million, the same BP
    fm_i18n_set_lang ("en");
    text = s_test_page (&report, "log<1>.db", verbose);
    assert (strstr (text, "<html lang=\"en\">"));
    assert (strstr (text, "<title>finmatch financing report</title>"));
    assert (strstr (text, "<th>Bank</th><th>Offers</th><th>Declines</th>"));
    assert (strstr (text, "<span>Credit granted</span>"));
    assert (strstr (text, "¥5 million"));
    assert (strstr (text, "15.0 BP"));
    assert (strstr (text, "has 1 gap (2 events missing)"));
    assert (strstr (text, ">1 offer<"));
    assert (strstr (text, ">3 offers<"));
    assert (strstr (text, "<h2>By town</h2>"));
    assert (strstr (text, "<th>Town code</th><th>Town</th>"));
    assert (strstr (text, "<h2>By product</h2>"));
    assert (strstr (text, "<h2>By day (local time)</h2>"));
    assert (strstr (text, "<td>amount above the product&#39;s maximum</td>"));
    //  The town's name is data: the only Chinese left in English
    char *name = strstr (text, "观音桥街道");
    assert (name);
    memset (name, 'x', strlen ("观音桥街道"));
    name = strstr (text, "观音桥街道");
    assert (name);
    memset (name, 'x', strlen ("观音桥街道"));
    //  Nothing Chinese is left in English but the data
    for (const char *p = text; *p; p++)
        assert ((unsigned char) *p < 0xE4 || (unsigned char) *p > 0xE9);
    assert (strstr (text, "id=\"chart-offers\""));
    assert (strstr (text, "id=\"chart-grid-credit\""));
    //  Escaped, never raw
    assert (strstr (text, "&lt;X&amp;Y&gt;"));
    assert (!strstr (text, "<X&Y>"));
    assert (strstr (text, "log&lt;1&gt;.db"));
    //  The longest bar is the full width; nothing loads from elsewhere
    assert (strstr (text, "width=\"420\""));
    assert (!strstr (text, "src="));
    assert (!strstr (text, "href="));
    assert (!strstr (text, "<script"));
    free (text);

    //  An empty report still writes a page
    memset (&report, 0, sizeof report);
    text = s_test_page (&report, "empty.db", false);
    assert (strstr (text, "(no data yet)"));
    free (text);
    fm_i18n_set_lang ("zh");
    text = s_test_page (&report, "empty.db", false);
    assert (strstr (text, "暂无数据"));
    free (text);
    fm_i18n_set_lang ("en");
    //  @end
    printf ("OK\n");
}
