/*  =========================================================================
    fm_report_html - the report as one self-contained HTML file

    Charts are horizontal bars in inline SVG, one row per bank or grid,
    lengths in whole pixels computed with integer arithmetic (128-bit: a
    credit in fen times the chart width can pass int64).  Labels are the
    same Chinese money text as the tables (fm_money_cn).
    =========================================================================
*/

#include <czmq.h>
#include <time.h>
#include "fm_report_html.h"
#include "fm_money.h"

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

//  "20.3bp", or "-" without loans
static char *
s_reduction (int64_t tenths, int64_t loans, char *buf, size_t size)
{
    char number [32];
    if (loans == 0)
        snprintf (buf, size, "-");
    else
        snprintf (buf, size, "%sbp", fm_report_tenths (tenths, number,
                                                       sizeof number));
    return buf;
}

//  One summary card
static void
s_card (FILE *file, const char *label, const char *value)
{
    fprintf (file, "<div class=\"card\"><b>");
    fm_html_escape (file, value);
    fprintf (file, "</b><span>%s</span></div>\n", label);
}

static void
s_card_int (FILE *file, const char *label, int64_t value)
{
    char text [32];
    snprintf (text, sizeof text, "%" PRId64, value);
    s_card (file, label, text);
}


//  --------------------------------------------------------------------------
//  A horizontal bar chart: count rows, labels[i], values[i] (>= 0) and
//  the text printed after each bar.  An empty chart says so.

static void
s_chart (FILE *file, const char *title, const char *id, size_t count,
         const char **labels, const int64_t *values, char **texts,
         const char *color)
{
    fprintf (file, "<h2>%s</h2>\n", title);
    if (count == 0) {
        fprintf (file, "<p class=\"meta\">（暂无数据）</p>\n");
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
             " aria-label=\"%s\">\n", id, width, height, width, height, title);
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
        fm_html_escape (file, *labels [i]? labels [i]: "(未知)");
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
//  Write the report

int
fm_report_html (const fm_report_t *self, const char *source, FILE *file)
{
    assert (self);
    assert (file);
    char money [64], cell [64], from [32], to [32], now_text [32];
    time_t now = time (NULL);
    struct tm tm;
    strftime (now_text, sizeof now_text, "%Y-%m-%d %H:%M:%S",
              localtime_r (&now, &tm));
    time_t seconds = (time_t) (self->first_ts_us / 1000000);
    if (self->first_ts_us > 0 && localtime_r (&seconds, &tm))
        strftime (from, sizeof from, "%Y-%m-%d %H:%M:%S", &tm);
    else
        snprintf (from, sizeof from, "-");
    seconds = (time_t) (self->last_ts_us / 1000000);
    if (self->last_ts_us > 0 && localtime_r (&seconds, &tm))
        strftime (to, sizeof to, "%Y-%m-%d %H:%M:%S", &tm);
    else
        snprintf (to, sizeof to, "-");

    fprintf (file, "<!DOCTYPE html>\n<html lang=\"zh-CN\">\n<head>\n"
             "<meta charset=\"utf-8\">\n"
             "<title>finmatch 融资对接报告</title>\n<style>%s</style>\n"
             "</head>\n<body>\n<h1>finmatch 融资对接报告 · 政银企对接</h1>\n",
             s_css);
    fprintf (file, "<p class=\"meta\">数据来源：");
    fm_html_escape (file, source);
    fprintf (file, "　生成时间：%s<br>事件日志：%" PRId64 " 条事件，%" PRId64
             " 个纪元，%s 至 %s</p>\n", now_text, self->events, self->epochs,
             from, to);
    if (self->gaps)
        fprintf (file, "<p class=\"warn\">警告：事件日志有 %" PRId64
                 " 处缺口，共缺失 %" PRId64 " 条事件，以下统计可能偏低。"
                 "</p>\n", self->gaps, self->missing_events);

    fprintf (file, "<h2>总体指标</h2>\n<div class=\"cards\">\n");
    s_card_int (file, "融资需求", self->requests);
    s_card_int (file, "银行报价", self->offers);
    s_card_int (file, "企业接受报价", self->accepted);
    s_card_int (file, "放款笔数", self->loans);
    s_card (file, "授信金额", fm_money_cn (self->credit_fen, money, sizeof money));
    s_card (file, "平均降息", s_reduction (self->avg_reduction_tenth_bp,
                                          self->loans, cell, sizeof cell));
    fprintf (file, "</div>\n<table id=\"summary\">\n"
             "<tr><th>指标</th><th>数值</th></tr>\n");
    const struct { const char *label; int64_t value; } rows [] = {
        { "融资需求", self->requests },
        { "提出需求的企业", self->enterprises },
        { "获贷企业", self->enterprises_served },
        { "银行报价", self->offers },
        { "银行婉拒", self->declines },
        { "银行超时", self->timeouts },
        { "企业接受报价", self->accepted },
        { "报价撤回", self->withdrawn },
        { "放款笔数", self->loans },
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows [0]; i++)
        fprintf (file, "<tr><td>%s</td><td class=\"n\">%" PRId64
                 "</td></tr>\n", rows [i].label, rows [i].value);
    fprintf (file, "<tr><td>授信金额</td><td class=\"n\">%s</td></tr>\n",
             fm_money_cn (self->credit_fen, money, sizeof money));
    fprintf (file, "<tr><td>平均降息</td><td class=\"n\">%s</td></tr>\n",
             s_reduction (self->avg_reduction_tenth_bp, self->loans,
                          cell, sizeof cell));
    fprintf (file, "<tr><td>按金额加权平均降息</td><td class=\"n\">%s</td>"
             "</tr>\n</table>\n",
             s_reduction (self->weighted_reduction_tenth_bp, self->loans,
                          cell, sizeof cell));

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
            offers.labels [i] = credit.labels [i] = bank->bank;
            offers.values [i] = bank->offers;
            snprintf (offers.texts [i], 64, "%" PRId64 " 笔报价", bank->offers);
            credit.values [i] = bank->credit_fen;
            fm_money_cn (bank->credit_fen, credit.texts [i], 64);
        }
        for (size_t i = 0; i < self->grid_count; i++) {
            const fm_report_grid_t *grid = &self->grids [i];
            grids.labels [i] = grid->grid;
            grids.values [i] = grid->credit_fen;
            fm_money_cn (grid->credit_fen, grids.texts [i], 64);
        }
        s_chart (file, "各银行报价笔数", "chart-offers", offers.count,
                 offers.labels, offers.values, offers.texts, "#1565c0");
        s_chart (file, "各银行授信金额", "chart-bank-credit", credit.count,
                 credit.labels, credit.values, credit.texts, "#b71c1c");
        s_chart (file, "各网格授信金额", "chart-grid-credit", grids.count,
                 grids.labels, grids.values, grids.texts, "#2e7d32");
    }
    s_series_free (&offers);
    s_series_free (&credit);
    s_series_free (&grids);
    if (rc)
        return -1;

    fprintf (file, "<h2>按银行</h2>\n<table id=\"banks\">\n<tr><th>银行</th>"
             "<th>报价</th><th>婉拒</th><th>超时</th><th>接受</th><th>放款</th>"
             "<th>授信金额</th><th>平均降息</th></tr>\n");
    for (size_t i = 0; i < self->bank_count; i++) {
        const fm_report_bank_t *bank = &self->banks [i];
        fprintf (file, "<tr><td>");
        fm_html_escape (file, *bank->bank? bank->bank: "(未知)");
        fprintf (file, "</td><td class=\"n\">%" PRId64 "</td><td class=\"n\">%"
                 PRId64 "</td><td class=\"n\">%" PRId64 "</td><td class=\"n\">%"
                 PRId64 "</td><td class=\"n\">%" PRId64 "</td><td class=\"n\">"
                 "%s</td><td class=\"n\">%s</td></tr>\n",
                 bank->offers, bank->declines, bank->timeouts, bank->accepted,
                 bank->loans, fm_money_cn (bank->credit_fen, money, sizeof money),
                 s_reduction (bank->avg_reduction_tenth_bp, bank->loans,
                              cell, sizeof cell));
    }
    fprintf (file, "</table>\n<h2>按网格</h2>\n<table id=\"grids\">\n"
             "<tr><th>网格</th><th>融资需求</th><th>获贷企业</th><th>放款</th>"
             "<th>授信金额</th><th>平均降息</th></tr>\n");
    for (size_t i = 0; i < self->grid_count; i++) {
        const fm_report_grid_t *grid = &self->grids [i];
        fprintf (file, "<tr><td>");
        fm_html_escape (file, *grid->grid? grid->grid: "(未知)");
        fprintf (file, "</td><td class=\"n\">%" PRId64 "</td><td class=\"n\">%"
                 PRId64 "</td><td class=\"n\">%" PRId64 "</td><td class=\"n\">"
                 "%s</td><td class=\"n\">%s</td></tr>\n",
                 grid->requests, grid->enterprises_served, grid->loans,
                 fm_money_cn (grid->credit_fen, money, sizeof money),
                 s_reduction (grid->avg_reduction_tenth_bp, grid->loans,
                              cell, sizeof cell));
    }
    fprintf (file, "</table>\n<p class=\"meta\">金额单位：元/万元/亿元；"
             "降息 = 基准利率 − 执行利率（bp，0.01%%）。由 finmatch 生成。</p>\n"
             "</body>\n</html>\n");
    fflush (file);
    return ferror (file)? -1: 0;
}


//  --------------------------------------------------------------------------
//  Selftest

void
fm_report_html_test (bool verbose)
{
    printf (" * fm_report_html: ");
    //  @selftest
    fm_report_bank_t banks [] = {
        { "BCQ", 3, 1, 0, 1, 1, INT64_C(500000000), 150, 0, 0, 1000, 1 },
        { "<X&Y>", 1, 0, 1, 0, 0, 0, 0, 0, 0, 1000, 2 },
    };
    fm_report_grid_t grids [] = {
        { "GYQ-01-01", 2, 1, 1, INT64_C(500000000), 150 },
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

    char *text = NULL;
    size_t size = 0;
    FILE *file = open_memstream (&text, &size);
    assert (file);
    int rc = fm_report_html (&report, "log<1>.db", file);
    fclose (file);
    assert (rc == 0);
    if (verbose)
        puts (text);
    assert (strstr (text, "<!DOCTYPE html>"));
    assert (strstr (text, "500万元"));
    assert (strstr (text, "15.0bp"));
    assert (strstr (text, "缺口"));
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
    text = NULL;
    file = open_memstream (&text, &size);
    assert (file);
    rc = fm_report_html (&report, "empty.db", file);
    fclose (file);
    assert (rc == 0);
    assert (strstr (text, "暂无数据"));
    free (text);
    //  @end
    printf ("OK\n");
}
