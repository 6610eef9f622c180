/*  =========================================================================
    cmd_report - `finmatch report --db FILE [--json] [--html F] [--csv DIR]`

    Summarises the recorder's event log (fm_report).  The file is opened
    read-only and never created; anything that is not a finmatch log is a
    clear error with exit 2.  A log with gaps is reported with a loud
    warning (in the tables, and on stderr for --json) but still exits 0:
    the figures are what the log holds.
    =========================================================================
*/

#include <czmq.h>
#include <getopt.h>
#include "fm_cli.h"
#include "fm_report.h"
#include "fm_i18n.h"
#include "fm_report_html.h"

static void
s_usage (FILE *file)
{
    fputs (_("Usage: finmatch report --db FILE [--json] [--html FILE]\n"
        "                       [--csv DIR | --csv-table TABLE] [--by hour|day]\n"
        "                       [--towns FILE] [--banks DIR]\n"
        "\n"
        "Summarises the event log written by finmatch-recorder: requests,\n"
        "enterprises served, offers, declines, loans, credit granted and the\n"
        "average rate reduction; by bank (response time, deadline misses,\n"
        "declines by reason), by town (街道/镇), by grid, by product, and over\n"
        "time.\n"
        "\n"
        "  -d, --db FILE         the SQLite event log (opened read-only)\n"
        "  -j, --json            machine output: integers in fen, bp, tenths of\n"
        "                        bp, µs\n"
        "      --html FILE       also write a self-contained HTML report (SVG\n"
        "                        charts)\n"
        "      --csv DIR         also write every table as DIR/<table>.csv\n"
        "                        (UTF-8, RFC 4180, the --json keys and integers)\n"
        "      --csv-table TABLE print one table as CSV instead of the report:\n"
        "                        summary banks reasons towns grids products series\n"
        "      --by hour|day     time series buckets, local time (default day)\n"
        "      --towns FILE      name the towns from a territory CSV with\n"
        "                        town_code,name columns (deploy/data/towns.csv);\n"
        "                        default /usr/share/finmatch/data/towns.csv\n"
        "                        when it exists (the log holds town codes only)\n"
        "      --banks DIR       name the banks from their configs DIR/*.cfg\n"
        "                        (bank/code, bank/name; deploy/banks); default\n"
        "                        /etc/finmatch/banks when it exists\n"
        "  -h, --help            print this help\n"),
        file);
}

int
fm_cmd_report (fm_cli_t *cli, int argc, char **argv)
{
    static const struct option options [] = {
        { "db",   required_argument, NULL, 'd' },
        { "json", no_argument,       NULL, 'j' },
        { "html", required_argument, NULL, 'H' },
        { "csv", required_argument, NULL, 'C' },
        { "csv-table", required_argument, NULL, 'T' },
        { "by", required_argument, NULL, 'B' },
        { "towns", required_argument, NULL, 'N' },
        { "banks", required_argument, NULL, 'K' },
        { "help", no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *path = NULL;
    const char *html = NULL;
    const char *csv_dir = NULL;
    const char *csv_table = NULL;
    const char *towns = NULL;
    const char *banks = NULL;
    fm_report_by_t by = FM_REPORT_BY_DAY;
    bool json = cli && cli->json;
    //  argv [0] is "report"; optind = 0 makes GNU getopt start over after
    //  main's own parse, and opterr = 0 lets us word the errors
    optind = 0;
    opterr = 0;
    int opt;
    while ((opt = getopt_long (argc, argv, ":d:jh", options, NULL)) != -1) {
        switch (opt) {
            case 'd':
                path = optarg;
                break;
            case 'j':
                json = true;
                break;
            case 'H':
                html = optarg;
                break;
            case 'C':
                csv_dir = optarg;
                break;
            case 'T':
                csv_table = optarg;
                break;
            case 'N':
                towns = optarg;
                break;
            case 'K':
                banks = optarg;
                break;
            case 'B':
                if (streq (optarg, "hour"))
                    by = FM_REPORT_BY_HOUR;
                else
                if (streq (optarg, "day"))
                    by = FM_REPORT_BY_DAY;
                else {
                    fprintf (stderr, _("finmatch report: --by must be hour or"
                             " day, not '%s'\n"), optarg);
                    return 2;
                }
                break;
            case 'h':
                s_usage (stdout);
                return 0;
            default:
                return fm_cli_option_error ("report", opt, argv);
        }
    }
    if (optind < argc) {
        fprintf (stderr, _("finmatch report: unexpected argument '%s'"
                 " (try --help)\n"), argv [optind]);
        return 2;
    }
    if (!path) {
        fputs (_("finmatch report: --db FILE is required"
                 " (try --help)\n"), stderr);
        return 2;
    }
    if (csv_table) {
        bool known = false;
        for (size_t i = 0; fm_report_csv_tables [i]; i++)
            known = known || streq (fm_report_csv_tables [i], csv_table);
        if (!known) {
            fprintf (stderr, _("finmatch report: no table '%s' (tables: summary"
                     " banks reasons towns grids products series)\n"), csv_table);
            return 2;
        }
    }
    fm_report_t report;
    char err [512];
    if (fm_report_compute_path (path, &report, err, sizeof err)) {
        fprintf (stderr, _("finmatch report: %s\n"), err);
        return 2;
    }
    fm_report_series_by (&report, by);
    //  Town names: as asked, else from the installed territory table
    if (!towns && zsys_file_exists (FM_REPORT_TOWNS_FILE))
        towns = FM_REPORT_TOWNS_FILE;
    if (towns && fm_report_town_names (&report, towns, err, sizeof err) < 0) {
        fprintf (stderr, _("finmatch report: %s\n"), err);
        fm_report_release (&report);
        return 2;
    }
    //  Bank names: as asked, else from an installed system's configs
    if (!banks && zsys_file_exists (FM_REPORT_BANKS_DIR))
        banks = FM_REPORT_BANKS_DIR;
    if (banks && fm_report_bank_names (&report, banks, err, sizeof err) < 0) {
        fprintf (stderr, _("finmatch report: %s\n"), err);
        fm_report_release (&report);
        return 2;
    }
    int rc = 0;
    if (csv_dir && fm_report_csv_dir (&report, csv_dir, err, sizeof err)) {
        fprintf (stderr, _("finmatch report: cannot write %s\n"), err);
        rc = 2;
    }
    if (csv_table) {
        if (fm_report_csv (&report, csv_table, stdout)) {
            fputs (_("finmatch report: cannot write CSV\n"), stderr);
            rc = 2;
        }
        fm_report_release (&report);
        return rc;
    }
    if (html) {
        //  Written before the tables, so a write error is the exit code
        FILE *file = fopen (html, "w");
        if (!file || fm_report_html (&report, path, file)) {
            fprintf (stderr, _("finmatch report: cannot write %s: %s\n"), html,
                     strerror (errno));
            rc = 2;
        }
        if (file && fclose (file) && rc == 0) {
            fprintf (stderr, _("finmatch report: cannot write %s: %s\n"), html,
                     strerror (errno));
            rc = 2;
        }
    }
    if (json) {
        if (report.gaps)
            fprintf (stderr, _("finmatch report: WARNING: the event log has "
                     "%lld gaps (%lld events missing); figures may be low\n"),
                     (long long) report.gaps, (long long) report.missing_events);
        json_t *root = fm_report_json (&report);
        if (!root || json_dumpf (root, stdout, JSON_INDENT (2))) {
            fputs (_("finmatch report: cannot write JSON\n"), stderr);
            rc = 2;
        }
        else
            fputc ('\n', stdout);
        json_decref (root);
    }
    else {
        printf (_("finmatch financing report: %s\n"), path);
        fm_report_print (&report, stdout);
    }
    fm_report_release (&report);
    return rc;
}
