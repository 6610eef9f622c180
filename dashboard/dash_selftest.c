/*  =========================================================================
    dash_selftest - selftest runner for fm_dash and fm_report_html

    Usage: fm_dash_selftest [--test NAME] [-v]; without --test runs all.
    =========================================================================
*/

#include <czmq.h>
#include "fm_dash.h"
#include "fm_report_html.h"

static const struct {
    const char *name;
    void (*test) (bool verbose);
} s_tests [] = {
    { "fm_dash", fm_dash_test },
    { "fm_report_html", fm_report_html_test },
};

int
main (int argc, char **argv)
{
    const char *only = NULL;
    bool verbose = false;
    for (int argn = 1; argn < argc; argn++)
        if (streq (argv [argn], "--test") && argn + 1 < argc)
            only = argv [++argn];
        else
        if (streq (argv [argn], "-v"))
            verbose = true;
        else {
            fprintf (stderr, "usage: fm_dash_selftest [--test NAME] [-v]\n");
            return 2;
        }
    int ran = 0;
    for (size_t index = 0; index < sizeof s_tests / sizeof s_tests [0]; index++)
        if (!only || streq (only, s_tests [index].name)) {
            s_tests [index].test (verbose);
            ran++;
        }
    if (ran == 0) {
        fprintf (stderr, "fm_dash_selftest: no test '%s'\n", only);
        return 2;
    }
    return 0;
}
