/*  =========================================================================
    fm_report_banks - bank names for the report (issue 3)

    The event log holds bank codes only (events carry no bank name), so
    the report's per-bank and per-product tables would show "CQRCB" where
    a reader wants 重庆农村商业银行.  The banks' own configuration files
    (one ZPL file per bank with bank/code and bank/name: the *.cfg in
    deploy/banks, or FM_REPORT_BANKS_DIR when installed) are the table of
    names.  Names are labels only: no figure changes; JSON and CSV keep
    the codes and add the name as `bank_name` ("" when not known).
    =========================================================================
*/

#include <czmq.h>
#include <dirent.h>
#include "fm_report.h"
#include "fm_report_html.h"
#include "fm_i18n.h"

//  Add or replace code's name.  Returns 0, or -1 if out of memory.
static int
s_bank_name_add (fm_report_t *self, const char *code, const char *name)
{
    for (size_t i = 0; i < self->bank_name_count; i++)
        if (streq (self->bank_names [i].bank, code)) {
            snprintf (self->bank_names [i].name, sizeof self->bank_names [i].name,
                      "%s", name);
            return 0;
        }
    fm_report_bank_name_t *more = (fm_report_bank_name_t *) realloc (
        self->bank_names, (self->bank_name_count + 1) * sizeof *more);
    if (!more)
        return -1;
    self->bank_names = more;
    fm_report_bank_name_t *row = &more [self->bank_name_count++];
    snprintf (row->bank, sizeof row->bank, "%s", code);
    snprintf (row->name, sizeof row->name, "%s", name);
    return 0;
}

int
fm_report_bank_names (fm_report_t *self, const char *dir, char *err, size_t err_size)
{
    assert (self && dir && err);
    DIR *handle = opendir (dir);
    if (!handle) {
        snprintf (err, err_size, "%s: %s", dir, strerror (errno));
        return -1;
    }
    int named = 0;
    struct dirent *entry;
    while ((entry = readdir (handle))) {
        size_t length = strlen (entry->d_name);
        if (entry->d_name [0] == '.' || length < 5
        ||  strneq (entry->d_name + length - 4, ".cfg"))
            continue;
        char *path = zsys_sprintf ("%s/%s", dir, entry->d_name);
        zconfig_t *root = path? zconfig_load (path): NULL;
        const char *code = root? zconfig_get (root, "bank/code", ""): "";
        const char *name = root? zconfig_get (root, "bank/name", ""): "";
        //  Another kind of config (or a broken one) is not a bank: skip it
        if (*code && *name && strlen (code) < FM_CODE_SIZE) {
            if (s_bank_name_add (self, code, name)) {
                snprintf (err, err_size, "out of memory");
                named = -1;
            }
            else
                named++;
        }
        zconfig_destroy (&root);
        zstr_free (&path);
        if (named < 0)
            break;
    }
    closedir (handle);
    return named;
}

const char *
fm_report_bank_name (const fm_report_t *self, const char *code)
{
    assert (self && code);
    for (size_t i = 0; i < self->bank_name_count; i++)
        if (streq (self->bank_names [i].bank, code))
            return self->bank_names [i].name;
    return NULL;
}

const char *
fm_report_town_name (const fm_report_t *self, const char *code)
{
    assert (self && code);
    for (size_t i = 0; *code && i < self->town_count; i++)
        if (streq (self->towns [i].town, code))
            return *self->towns [i].name? self->towns [i].name: NULL;
    return NULL;
}

const char *
fm_report_bank_label (const fm_report_t *self, const char *code, char *buf, size_t size)
{
    assert (self && code && buf);
    const char *name = fm_report_bank_name (self, code);
    if (!*code)
        snprintf (buf, size, "%s", _("(unknown)"));
    else
    if (name)
        snprintf (buf, size, "%s(%s)", name, code);
    else
        snprintf (buf, size, "%s", code);
    return buf;
}


//  --------------------------------------------------------------------------
//  Self test: the checked-in bank configs name every bank; the per-bank and
//  per-product tables show the names; without names they show codes as
//  before

void
fm_report_banks_test (bool verbose)
{
    printf (" * fm_report_banks: ");
    if (verbose)
        printf ("\n");
    fm_report_t report;
    memset (&report, 0, sizeof report);
    char err [256];
    assert (fm_report_bank_names (&report, "/nonexistent/banks", err, sizeof err) == -1);
    assert (strstr (err, "/nonexistent/banks"));

    //  A directory with one bank, one config that is not a bank, one file
    //  that is not a config
    char dir [] = "/tmp/fm_report_banks_XXXXXX";
    assert (mkdtemp (dir));
    const char *files [][2] = {
        { "abc.cfg", "bank\n    code = ABC\n    name = 中国农业银行\n" },
        { "gov.cfg", "gov\n    endpoint = tcp://127.0.0.1:7555\n" },
        { "notes.txt", "bank\n    code = XYZ\n    name = 不是配置\n" },
    };
    for (size_t i = 0; i < 3; i++) {
        char *path = zsys_sprintf ("%s/%s", dir, files [i][0]);
        FILE *file = fopen (path, "w");
        assert (file);
        fputs (files [i][1], file);
        fclose (file);
        zstr_free (&path);
    }
    assert (fm_report_bank_names (&report, dir, err, sizeof err) == 1);
    assert (streq (fm_report_bank_name (&report, "ABC"), "中国农业银行"));
    assert (!fm_report_bank_name (&report, "XYZ"));
    char label [FM_NAME_SIZE + FM_CODE_SIZE + 4];
    assert (streq (fm_report_bank_label (&report, "ABC", label, sizeof label),
                   "中国农业银行(ABC)"));
    assert (streq (fm_report_bank_label (&report, "BOC", label, sizeof label), "BOC"));
    for (size_t i = 0; i < 3; i++) {
        char *path = zsys_sprintf ("%s/%s", dir, files [i][0]);
        zsys_file_delete (path);
        zstr_free (&path);
    }
    zsys_dir_delete (dir);

    //  The checked-in configs: the pilot bank among them
    const char *source = getenv ("FM_SOURCE_DIR");
    if (source) {
        char *banks = zsys_sprintf ("%s/deploy/banks", source);
        int named = fm_report_bank_names (&report, banks, err, sizeof err);
        if (verbose)
            printf ("    %d banks named from %s\n", named, banks);
        assert (named >= 2);
        assert (streq (fm_report_bank_name (&report, "CQRCB"), "重庆农村商业银行"));
        zstr_free (&banks);
    }
    else
        zsys_warning ("fm_report_banks_test: FM_SOURCE_DIR unset, deploy/banks skipped");

    //  Printed: the per-bank and per-product tables carry the name; a
    //  report without names prints the code alone
    fm_report_bank_t bank;
    memset (&bank, 0, sizeof bank);
    snprintf (bank.bank, sizeof bank.bank, "ABC");
    bank.offers = 3;
    bank.rank = 1;
    fm_report_product_t product;
    memset (&product, 0, sizeof product);
    snprintf (product.bank, sizeof product.bank, "ABC");
    snprintf (product.product, sizeof product.product, "KJD");
    product.offers = 3;
    report.banks = &bank;
    report.bank_count = 1;
    report.products = &product;
    report.product_count = 1;
    //  A named town and a grid in it: JSON and CSV name the grid's town
    fm_report_town_t town;
    memset (&town, 0, sizeof town);
    snprintf (town.town, sizeof town.town, "GYQ");
    snprintf (town.name, sizeof town.name, "观音桥街道");
    fm_report_grid_t grid;
    memset (&grid, 0, sizeof grid);
    snprintf (grid.grid, sizeof grid.grid, "GYQ-01");
    snprintf (grid.town, sizeof grid.town, "GYQ");
    report.towns = &town;
    report.town_count = 1;
    report.grids = &grid;
    report.grid_count = 1;
    report.town_names = true;
    assert (streq (fm_report_town_name (&report, "GYQ"), "观音桥街道"));
    assert (!fm_report_town_name (&report, "JBZ"));
    assert (!fm_report_town_name (&report, ""));
    for (int pass = 0; pass < 2; pass++) {
        char *text = NULL;
        size_t size = 0;
        FILE *memory = open_memstream (&text, &size);
        assert (memory);
        fm_report_print (&report, memory);
        fclose (memory);
        //  Every "ABC" cell is labelled: one in each bank table (by bank,
        //  scoring, response time) and one in the product table
        size_t labelled = 0, codes = 0;
        for (const char *at = strstr (text, "ABC"); at; at = strstr (at + 1, "ABC")) {
            codes++;
            if (at - text >= 19 && strncmp (at - 19, "中国农业银行(ABC)", 19) == 0)
                labelled++;
        }
        if (verbose && pass == 0)
            printf ("%s", text);
        assert (codes == 4);
        assert (labelled == (pass == 0? 4: 0));
        free (text);

        //  JSON: bank_name on the bank, reason and product rows ("" when
        //  not named); town_name on the grid rows
        const char *want = pass == 0? "中国农业银行": "";
        json_t *json = fm_report_json (&report);
        assert (json);
        json_t *row = json_array_get (json_object_get (json, "banks"), 0);
        assert (streq (json_string_value (json_object_get (row, "bank")), "ABC"));
        assert (streq (json_string_value (json_object_get (row, "bank_name")), want));
        row = json_array_get (json_object_get (json, "products"), 0);
        assert (streq (json_string_value (json_object_get (row, "bank_name")), want));
        row = json_array_get (json_object_get (json, "grids"), 0);
        assert (streq (json_string_value (json_object_get (row, "town")), "GYQ"));
        assert (streq (json_string_value (json_object_get (row, "town_name")),
                       "观音桥街道"));
        json_decref (json);

        //  CSV: the name is the last column, the code stays first
        memory = open_memstream (&text, &size);
        assert (memory);
        assert (fm_report_csv (&report, "products", memory) == 0);
        fclose (memory);
        if (verbose)
            printf ("%s", text);
        assert (strstr (text, ",avg_loan_rate_tenth_bp,bank_name\r\n"));
        assert (strstr (text, pass == 0? "\r\nABC,KJD,3,0,0,0,0,0,中国农业银行\r\n"
                                       : "\r\nABC,KJD,3,0,0,0,0,0,\r\n"));
        free (text);
        memory = open_memstream (&text, &size);
        assert (memory);
        assert (fm_report_csv (&report, "banks", memory) == 0);
        fclose (memory);
        assert (strstr (text, ",rank,bank_name\r\nABC,"));
        assert (strstr (text, pass == 0? ",中国农业银行\r\n": ",1,\r\n"));
        free (text);
        memory = open_memstream (&text, &size);
        assert (memory);
        assert (fm_report_csv (&report, "grids", memory) == 0);
        fclose (memory);
        assert (strstr (text, ",avg_reduction_tenth_bp,town_name\r\n"
                              "GYQ-01,GYQ,0,0,0,0,0,0,观音桥街道\r\n"));
        free (text);

        //  HTML: the same label as the text report
        memory = open_memstream (&text, &size);
        assert (memory);
        assert (fm_report_html (&report, "test.db", memory) == 0);
        fclose (memory);
        assert (!strstr (text, "中国农业银行(ABC)") == (pass != 0));
        free (text);
        free (report.bank_names);
        report.bank_names = NULL;
        report.bank_name_count = 0;
    }
    report.towns = NULL;
    report.grids = NULL;
    printf ("OK\n");
}
