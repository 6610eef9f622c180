/*  =========================================================================
    test_routing - grid-first routing, referral, and risk warnings, live

    Real processes on loopback (--insecure): finmatch-broker (deadline
    1000 ms), finmatch-recorder, finmatch-gov on the Jiangbei dataset
    (deploy/data: the enterprise's grid GYQ-01-02 is in town GYQ), and four
    finmatch-bank processes written here:
      PAIRA  towns GYQ, maximum 50万: declines a 100万 request
      PAIRB  towns GYQ, stopped (SIGSTOP) once registered: misses
      OTHERD towns JBZ, offers; on_warning = decline
      OTHERF towns JBZ, offers; on_warning = flag
    1. One request.  From the SQLite log, in seq order: dispatched to 2
       banks (the paired ones); PAIRA's decline and PAIRB's timeout each
       precede a request.referred naming them ("declined", "missed");
       every OTHER* answer comes after the first referral.
    2. `finmatch warn --grid GYQ-01-02`: risk.warning (200) logged; a new
       request: OTHERD declines with 112, OTHERF offers with the lever
       risk_warning (levers table); `finmatch warn --lift`: risk.warning
       410 logged; an officer-free enterprise warning is refused for a
       bad credit code (exit 2).

    Usage: test_routing [-v]      (env FM_BIN_DIR, FM_SOURCE_DIR)
    =========================================================================
*/

#include <czmq.h>
#include <sqlite3.h>
#include <signal.h>
#include "fm_proto.h"
#include "fm_client.h"
#include "fm_ids.h"
#include "fm_mdp.h"
#include "fm_proc.h"
#include "fm_store.h"

#define START_MS        20000           //  bound for a process to be ready
#define RUN_MS          20000           //  bound for one `finmatch` run
#define ENTERPRISE      "91500105MA0177ARXD"    //  software_it, GYQ-01-02
#define GRID            "GYQ-01-02"

static bool s_verbose;

static const char *s_bank_template =
    "bank\n"
    "    code = %s\n"
    "    name = 测试银行\n"
    "    lpr_1y_bp = 345\n"
    "    lpr_5y_bp = 420\n"
    "    offer_valid_days = 7\n"
    "    endpoint = %s\n"
    "    capacity = 4\n"
    "    towns = %s\n"
    "products\n"
    "    GRIDE\n"
    "        name = 网格e贷\n"
    "        kind = loan\n"
    "        min_amount_yuan = 100000\n"
    "        max_amount_yuan = %s\n"
    "        partial = 0\n"
    "        min_term_months = 3\n"
    "        max_term_months = 36\n"
    "        industries = *\n"
    "        grids = *\n"
    "        min_tax_grade = D\n"
    "        collateral = none\n"
    "        renewal = 1\n"
    "        needs_credit_data = 0\n"
    "        spread_bp = 30\n"
    "        floor_bp = 250\n"
    "        levers = *\n"
    "        on_warning = %s\n";

//  One SQL count on the log: sql with ?1 bound to text (may be NULL)
static int64_t
s_db_count (const char *path, const char *sql, const char *text)
{
    return fm_proc_db_int (path, sql, text, NULL);
}

//  The request's events in seq order as "type bank reason_code text" lines
static char *
s_request_events (const char *path, const char *id)
{
    sqlite3 *db = NULL;
    FM_CHECK (sqlite3_open_v2 (path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK, "open");
    sqlite3_busy_timeout (db, 1000);
    sqlite3_stmt *stmt = NULL;
    FM_CHECK (sqlite3_prepare_v2 (db, "SELECT type, COALESCE (bank, ''), "
              "COALESCE (reason_code, 0), COALESCE (text, '') FROM events "
              "WHERE " FM_STORE_OF_REQUEST ("?1") " ORDER BY epoch, seq", -1, &stmt, NULL) == SQLITE_OK,
              "prepare: %s", sqlite3_errmsg (db));
    sqlite3_bind_text (stmt, 1, id, -1, SQLITE_STATIC);
    char *lines = strdup ("");
    while (sqlite3_step (stmt) == SQLITE_ROW) {
        char *more = zsys_sprintf ("%s%s %s %d %s\n", lines,
                                   (const char *) sqlite3_column_text (stmt, 0),
                                   (const char *) sqlite3_column_text (stmt, 1),
                                   sqlite3_column_int (stmt, 2),
                                   (const char *) sqlite3_column_text (stmt, 3));
        zstr_free (&lines);
        lines = more;
    }
    sqlite3_finalize (stmt);
    sqlite3_close (db);
    return lines;
}

//  Offset of the first line starting with prefix, or -1
static long
s_line_at (const char *lines, const char *prefix)
{
    size_t length = strlen (prefix);
    for (const char *line = lines; line && *line; ) {
        if (strncmp (line, prefix, length) == 0)
            return (long) (line - lines);
        line = strchr (line, '\n');
        if (line)
            line++;
    }
    return -1;
}

//  Run `finmatch --insecure --broker router ...args`; returns exit code
static int
s_finmatch (const char *router, const char **args, char **output)
{
    const char *argv [24] = { "--insecure", "--broker", router };
    size_t argn = 3;
    for (size_t index = 0; args [index] && argn < 23; index++)
        argv [argn++] = args [index];
    argv [argn] = NULL;
    int rc = fm_proc_run ("finmatch", "finmatch", argv, RUN_MS, output);
    if (s_verbose)
        zsys_info ("finmatch %s: exit %d\n%s", args [0], rc, *output);
    return rc;
}

//  One request by ENTERPRISE with idempotency key; returns its id
static void
s_request (const char *router, const char *key, char *id)
{
    const char *args [] = { "request", "--enterprise", ENTERPRISE, "--amount", "100万",
                            "--term", "12", "--consent", "all", "--key", key, NULL };
    char *output;
    int rc = s_finmatch (router, args, &output);
    FM_CHECK (rc == 0 || rc == 1, "finmatch request exited %d:\n%s", rc, output);
    zstr_free (&output);
    fm_request_id_make (ENTERPRISE, key, id);
}

int
main (int argc, char *argv [])
{
    s_verbose = argc > 1 && streq (argv [1], "-v");
    zsys_init ();
    zsys_set_logident ("test_routing");
    fm_proc_setup ("routing", argv [0]);

    fm_proc_system_t *sys = fm_proc_system_new (START_MS);
    const char *router = sys->router;
    //  liveness 60 x 500 ms: the stopped PAIRB must stay registered (and so
    //  be asked, and miss) for the whole test, not only the default 1.5 s
    fm_proc_system_broker (sys, NULL, "broker/deadline_ms", "1000", "broker/liveness", "60",
                           NULL);
    fm_proc_system_wait_service (sys, FM_SERVICE_REQUEST);
    fm_proc_system_recorder (sys, NULL, NULL);
    fm_proc_system_wait_recorder (sys, NULL);
    const char *db = sys->db;

    char *registry = fm_proc_source_path ("deploy/data/enterprises.csv");
    char *grids = fm_proc_source_path ("deploy/data/grids.csv");
    fm_proc_system_gov (sys, "tests/data/system/gov.cfg", NULL, "gov/registry", registry,
                        "gov/grids", grids, NULL);

    //  The four banks
    const char *banks [][4] = {
        { "PAIRA",  "GYQ", "500000",   "ignore" },
        { "PAIRB",  "GYQ", "30000000", "ignore" },
        { "OTHERD", "JBZ", "30000000", "decline" },
        { "OTHERF", "JBZ", "30000000", "flag" },
    };
    fm_proc_t *pairb = NULL;
    char *paths [4];
    for (size_t index = 0; index < 4; index++) {
        paths [index] = fm_proc_tmp_path ("%s.cfg", banks [index][0]);
        FILE *file = fopen (paths [index], "w");
        FM_CHECK (file, "cannot write %s", paths [index]);
        fprintf (file, s_bank_template, banks [index][0], router, banks [index][1],
                 banks [index][2], banks [index][3]);
        fclose (file);
        fm_proc_t *bank = fm_proc_system_bank (sys, banks [index][0], paths [index], NULL,
                                               NULL);
        if (index == 1)
            pairb = bank;
    }
    fm_proc_system_wait_service (sys, FM_SERVICE_GOV);
    char service [FM_SERVICE_SIZE];
    for (size_t index = 0; index < 4; index++) {
        snprintf (service, sizeof service, "bank.%s", banks [index][0]);
        fm_proc_system_wait_service (sys, service);
    }
    //  PAIRB stays registered (liveness 60 above) but answers nothing
    FM_CHECK (kill (fm_proc_pid (pairb), SIGSTOP) == 0, "SIGSTOP PAIRB");

    //  1. Grid-first routing, referral on decline and on timeout
    char id [FM_REQUEST_ID_SIZE];
    s_request (router, "routing-1", id);
    fm_proc_db_wait (db, "SELECT COUNT(*) FROM events WHERE type = 'request.completed' "
                     "AND " FM_STORE_OF_REQUEST ("?1"), id, 1, START_MS);
    char *lines = s_request_events (db, id);
    if (s_verbose)
        zsys_info ("events of %s:\n%s", id, lines);
    FM_CHECK (s_db_count (db, "SELECT count FROM events WHERE type = 'request.dispatched' "
                          "AND " FM_STORE_OF_REQUEST ("?1"), id) == 2,
              "dispatched to other than the 2 paired banks:\n%s", lines);
    long decline_a = s_line_at (lines, "decline.made PAIRA ");
    long timeout_b = s_line_at (lines, "bank.timeout PAIRB ");
    long refer_a = s_line_at (lines, "request.referred OTHERD 0 PAIRA declined");
    long refer_b = s_line_at (lines, "request.referred OTHERF 0 PAIRB missed");
    long first_refer = s_line_at (lines, "request.referred ");
    FM_CHECK (decline_a >= 0 && timeout_b >= 0, "no PAIRA decline or PAIRB timeout:\n%s",
              lines);
    FM_CHECK (refer_a > decline_a && refer_b > timeout_b,
              "referrals do not follow the decline and the timeout:\n%s", lines);
    long other_d = s_line_at (lines, "offer.made OTHERD ");
    long other_f = s_line_at (lines, "offer.made OTHERF ");
    FM_CHECK (other_d > first_refer && other_f > first_refer,
              "an unpaired bank answered before any referral:\n%s", lines);
    //  Before the first referral only paired banks appear
    char *head = strndup (lines, (size_t) first_refer);
    FM_CHECK (!strstr (head, "OTHER"), "unpaired bank before referral:\n%s", lines);
    zstr_free (&head);
    zstr_free (&lines);

    //  2. A risk warning on the grid reaches the banks
    char *output;
    const char *bad_args [] = { "warn", "--enterprise", "91500105MA0177ARX0",
                                "--reason", "x", NULL };
    FM_CHECK (s_finmatch (router, bad_args, &output) == 2,
              "warn with a bad credit code did not exit 2:\n%s", output);
    zstr_free (&output);
    const char *warn_args [] = { "warn", "--grid", GRID, "--level", "2", "--reason",
                                 "非法集资风险提示", "--by", "JBO0009", NULL };
    int rc = s_finmatch (router, warn_args, &output);
    FM_CHECK (rc == 0 && strstr (output, GRID), "finmatch warn exited %d:\n%s", rc, output);
    //  The answer names who the broker recorded (insecure: --by as sent)
    FM_CHECK (strstr (output, "JBO0009"), "finmatch warn did not say who raised it:\n%s",
              output);
    zstr_free (&output);
    fm_proc_db_wait (db, "SELECT COUNT(*) FROM events WHERE type = 'risk.warning' "
                     "AND grid_id = ?1 AND status = 200 AND count = 2 "
                     "AND text = '非法集资风险提示'", GRID, 1, START_MS);
    s_request (router, "routing-2", id);
    fm_proc_db_wait (db, "SELECT COUNT(*) FROM events WHERE type = 'request.completed' "
                     "AND " FM_STORE_OF_REQUEST ("?1"), id, 1, START_MS);
    lines = s_request_events (db, id);
    if (s_verbose)
        zsys_info ("events of %s:\n%s", id, lines);
    FM_CHECK (s_line_at (lines, "decline.made OTHERD 112 ") >= 0,
              "OTHERD did not decline with 112:\n%s", lines);
    FM_CHECK (s_line_at (lines, "offer.made OTHERF ") >= 0, "OTHERF made no offer:\n%s",
              lines);
    zstr_free (&lines);
    FM_CHECK (s_db_count (db, "SELECT COUNT(*) FROM levers l JOIN events e "
                          "ON e.epoch = l.epoch AND e.seq = l.seq "
                          "WHERE e.type = 'offer.made' AND e.request_id = ?1 "
                          "AND e.bank = 'OTHERF' AND l.code = 'risk_warning' "
                          "AND l.name LIKE '%网格 GYQ-01-02 2级: 非法集资风险提示%'",
                          id) == 1,
              "no risk_warning lever on OTHERF's offer in the log");

    //  Lifted: logged as 410; lifting again is 404 (exit 1)
    const char *lift_args [] = { "warn", "--lift", "--grid", GRID, NULL };
    rc = s_finmatch (router, lift_args, &output);
    FM_CHECK (rc == 0, "finmatch warn --lift exited %d:\n%s", rc, output);
    zstr_free (&output);
    fm_proc_db_wait (db, "SELECT COUNT(*) FROM events WHERE type = 'risk.warning' "
                     "AND grid_id = ?1 AND status = 410", GRID, 1, START_MS);
    rc = s_finmatch (router, lift_args, &output);
    FM_CHECK (rc == 1 && strstr (output, "404"), "second lift exited %d:\n%s", rc, output);
    zstr_free (&output);

    kill (fm_proc_pid (pairb), SIGCONT);
    for (size_t index = 0; index < 4; index++)
        zstr_free (&paths [index]);
    zstr_free (&registry);
    zstr_free (&grids);
    fm_proc_system_destroy (&sys);
    return fm_proc_teardown (true);
}
