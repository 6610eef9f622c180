/*  =========================================================================
    fm_selftest - runs the selftest of every finmatch class

    Usage: fm_selftest [-v] [--test NAME] [--list]
    With no --test, runs them all in table order.  ctest runs one process
    per class (tests/CMakeLists.txt) so a failure names its class.
    =========================================================================
*/

#include <czmq.h>
#include "fm_proto.h"
#include "fm_lifecycle.h"
#include "fm_batch.h"
#include "fm_ids.h"
#include "fm_text.h"
#include "fm_money.h"
#include "fm_cpu.h"
#include "fm_i18n.h"
#include "fm_config.h"
#include "fm_client.h"
#include "fm_curve.h"
#include "fm_broker.h"
#include "fm_auth.h"
#include "fm_rank.h"
#include "fm_replay.h"
#include "fm_journal.h"
#include "fm_warn.h"
#include "fm_worker.h"
#include "fm_bank.h"
#include "fm_registry.h"
#include "fm_store.h"
#include "fm_catchup.h"
#include "fm_yield.h"
#include "fm_report.h"
#include "fm_print.h"

typedef struct {
    const char *name;
    void (*test) (bool verbose);
} selftest_t;

//  Order: each class after the classes it uses
static const selftest_t s_tests [] = {
    { "fm_ids",      fm_ids_test },
    { "fm_text",     fm_text_test },
    { "fm_money",    fm_money_test },
    { "fm_cpu",      fm_cpu_test },
    { "fm_i18n",     fm_i18n_test },
    { "fm_config",   fm_config_test },
    { "fm_proto",    fm_proto_test },
    { "fm_lifecycle", fm_lifecycle_test },
    { "fm_batch",    fm_batch_test },
    { "fm_client",   fm_client_test },
    { "fm_curve",    fm_curve_test },
    { "fm_rank",     fm_rank_test },
    { "fm_replay",   fm_replay_test },
    { "fm_journal",  fm_journal_test },
    { "fm_warn",     fm_warn_test },
    { "fm_broker",   fm_broker_test },
    { "fm_auth",     fm_auth_test },
    { "fm_worker",   fm_worker_test },
    { "fm_bank",     fm_bank_test },
    { "fm_registry", fm_registry_test },
    { "fm_store",    fm_store_test },
    { "fm_catchup",  fm_catchup_test },
    { "fm_yield",    fm_yield_test },
    { "fm_report",   fm_report_test },
    { "fm_report_banks", fm_report_banks_test },
    { "fm_print",    fm_print_test },
};
#define TEST_COUNT (sizeof (s_tests) / sizeof (s_tests [0]))

int
main (int argc, char **argv)
{
    bool verbose = false;
    const char *only = NULL;
    for (int argn = 1; argn < argc; argn++) {
        if (streq (argv [argn], "-v") || streq (argv [argn], "--verbose"))
            verbose = true;
        else
        if (streq (argv [argn], "--test") && argn + 1 < argc)
            only = argv [++argn];
        else
        if (streq (argv [argn], "--list")) {
            for (size_t i = 0; i < TEST_COUNT; i++)
                puts (s_tests [i].name);
            return 0;
        }
        else {
            fprintf (stderr, "usage: fm_selftest [-v] [--test NAME] [--list]\n");
            return 2;
        }
    }
    zsys_init ();
    zsys_set_logident ("fm_selftest");
    bool ran = false;
    for (size_t i = 0; i < TEST_COUNT; i++) {
        if (only && !streq (only, s_tests [i].name))
            continue;
        printf (" * %s\n", s_tests [i].name);
        s_tests [i].test (verbose);
        ran = true;
    }
    if (!ran) {
        fprintf (stderr, "fm_selftest: no test named '%s'\n", only);
        return 2;
    }
    //  czmq reports sockets left open here: a leak fails loudly
    zsys_shutdown ();
    printf ("selftests passed\n");
    return 0;
}
