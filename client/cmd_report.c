/*  =========================================================================
    cmd_report - `finmatch report --db FILE [--json]`

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

static void
s_usage (FILE *file)
{
    fprintf (file,
        "Usage: finmatch report --db FILE [--json]\n"
        "\n"
        "Summarises the event log written by finmatch-recorder: requests,\n"
        "enterprises served, offers, declines, loans, credit granted and the\n"
        "average rate reduction, by bank and by grid.\n"
        "\n"
        "  -d, --db FILE   the SQLite event log (opened read-only)\n"
        "  -j, --json      machine output: integers in fen, bp, tenths of bp\n"
        "  -h, --help      print this help\n");
}

int
fm_cmd_report (fm_cli_t *cli, int argc, char **argv)
{
    static const struct option options [] = {
        { "db",   required_argument, NULL, 'd' },
        { "json", no_argument,       NULL, 'j' },
        { "help", no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *path = NULL;
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
            case 'h':
                s_usage (stdout);
                return 0;
            case ':':
                fprintf (stderr, "finmatch report: %s needs a value\n",
                         argv [optind - 1]);
                return 2;
            default:
                fprintf (stderr, "finmatch report: unknown option '%s'"
                         " (try --help)\n", argv [optind - 1]);
                return 2;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "finmatch report: unexpected argument '%s'"
                 " (try --help)\n", argv [optind]);
        return 2;
    }
    if (!path) {
        fprintf (stderr, "finmatch report: --db FILE is required"
                 " (try --help)\n");
        return 2;
    }
    fm_report_t report;
    char err [512];
    if (fm_report_compute_path (path, &report, err, sizeof err)) {
        fprintf (stderr, "finmatch report: %s\n", err);
        return 2;
    }
    int rc = 0;
    if (json) {
        if (report.gaps)
            fprintf (stderr, "finmatch report: WARNING: the event log has %"
                     PRId64 " gaps (%" PRId64 " events missing); figures may"
                     " be low\n", report.gaps, report.missing_events);
        json_t *root = fm_report_json (&report);
        if (!root || json_dumpf (root, stdout, JSON_INDENT (2))) {
            fprintf (stderr, "finmatch report: cannot write JSON\n");
            rc = 2;
        }
        else
            fputc ('\n', stdout);
        json_decref (root);
    }
    else {
        printf ("finmatch 融资对接报告：%s\n", path);
        fm_report_print (&report, stdout);
    }
    fm_report_release (&report);
    return rc;
}
