/*  =========================================================================
    fm_config - settings of a finmatch binary: table, ZPL file, CLI flags

    The table is the one description of a binary's settings.  Values are
    kept as validated text, one per row, starting from the defaults; the
    ZPL file (-c) and then the flags overwrite them, each value checked
    against its row's type and bounds as it arrives, so an error always
    names where the bad value came from.  Flags are collected in a first
    getopt_long pass and applied after the file is loaded, so that
    "--deadline-ms 50 -c broker.cfg" still lets the flag win.

    getopt keeps its state in globals (optind...); fm_config_parse resets
    them (optind = 0: glibc's full reinitialisation) so it can run more
    than once in a process, as the selftest does.  It is not thread-safe,
    which is fine for something main() calls once.
    =========================================================================
*/

#include <czmq.h>
#include <getopt.h>
#include <errno.h>
#include "fm_config.h"
#include "fm_text.h"
#include "fm_i18n.h"
#include "fm_version.h"

//  getopt_long values of table rows: FLAG_BASE + row index, above any char
#define FLAG_BASE       0x100
//  getopt_long value of the built-in --lang (no short form)
#define FLAG_LANG       (FLAG_BASE - 1)

struct _fm_config_t {
    char *name;                 //  program name, owned
    char *synopsis;             //  usage line after the name, owned
    const fm_setting_t *table;  //  borrowed from the caller (static)
    size_t count;               //  rows in table
    char **values;              //  owned, count entries; NULL = not set
    zconfig_t *zpl;             //  loaded -c file, owned, or NULL
    char *file;                 //  its path, owned, or NULL
    char **args;                //  positional arguments, owned
    size_t arg_count;
};

//  Index of path in the table, or -1
static int
s_find (fm_config_t *self, const char *path)
{
    for (size_t i = 0; i < self->count; i++)
        if (streq (self->table [i].path, path))
            return (int) i;
    return -1;
}

//  Parse an int64 in decimal, whole text, optional sign.  Returns 0 or -1.
static int
s_parse_int (const char *text, int64_t *value)
{
    if (!*text || isspace ((unsigned char) *text))
        return -1;              //  strtoll would skip leading blanks
    errno = 0;
    char *end = NULL;
    long long parsed = strtoll (text, &end, 10);
    if (errno || *end)
        return -1;
    *value = parsed;
    return 0;
}

//  Parse a boolean.  Returns 1, 0, or -1 if the text is not one.
static int
s_parse_bool (const char *text)
{
    if (streq (text, "1") || strcasecmp (text, "true") == 0
    ||  strcasecmp (text, "yes") == 0 || strcasecmp (text, "on") == 0)
        return 1;
    if (streq (text, "0") || strcasecmp (text, "false") == 0
    ||  strcasecmp (text, "no") == 0 || strcasecmp (text, "off") == 0)
        return 0;
    return -1;
}

//  Validate value for row index and store it (booleans as "1"/"0").
//  source names where it came from ("broker.cfg: broker/deadline_ms",
//  "--deadline-ms") and starts the message in err on failure.  Returns 0
//  or -1.
static int
s_set (fm_config_t *self, size_t index, const char *value, const char *source,
       char *err, size_t size)
{
    const fm_setting_t *row = &self->table [index];
    char stored [24];
    const char *text = value;
    if (!fm_utf8_valid (value, strlen (value))) {
        snprintf (err, size, _("%s: value is not valid UTF-8 text"), source);
        return -1;
    }
    if (row->type == FM_SETTING_INT) {
        int64_t number;
        if (s_parse_int (value, &number)) {
            snprintf (err, size, _("%s: '%s' is not an integer"), source, value);
            return -1;
        }
        if (number < row->min) {
            snprintf (err, size, _("%s: %lld is below the minimum %lld"),
                      source, (long long) number, (long long) row->min);
            return -1;
        }
        if (number > row->max) {
            snprintf (err, size, _("%s: %lld is above the maximum %lld"),
                      source, (long long) number, (long long) row->max);
            return -1;
        }
        snprintf (stored, sizeof stored, "%" PRId64, number);
        text = stored;          //  canonical: "+5" and "05" become "5"
    }
    else
    if (row->type == FM_SETTING_BOOL) {
        int flag = s_parse_bool (value);
        if (flag < 0) {
            snprintf (err, size, _("%s: '%s' is not a boolean (1/0, true/false, "
                      "yes/no)"), source, value);
            return -1;
        }
        text = flag ? "1" : "0";
    }
    char *copy = strdup (text);
    if (!copy) {
        snprintf (err, size, _("%s: out of memory"), source);
        return -1;
    }
    free (self->values [index]);
    self->values [index] = copy;
    return 0;
}

//  Reset every value to its default and forget file and positionals
static void
s_reset (fm_config_t *self)
{
    for (size_t i = 0; i < self->count; i++) {
        free (self->values [i]);
        self->values [i] = NULL;
        const char *value = self->table [i].default_value;
        if (value) {
            char err [256];
            //  A default that fails its own row is a programmer error
            int rc = s_set (self, i, value, self->table [i].path, err, sizeof err);
            if (rc)
                zsys_error ("%s: bad default: %s", self->name, err);
            assert (rc == 0);
        }
    }
    zconfig_destroy (&self->zpl);
    zstr_free (&self->file);
    for (size_t i = 0; i < self->arg_count; i++)
        free (self->args [i]);
    free (self->args);
    self->args = NULL;
    self->arg_count = 0;
}


//  --------------------------------------------------------------------------
//  Create a config for a binary.  Returns NULL if out of memory.

fm_config_t *
fm_config_new (const char *name, const char *synopsis,
               const fm_setting_t *table, size_t count)
{
    assert (name);
    assert (table || count == 0);
    fm_config_t *self = (fm_config_t *) calloc (1, sizeof (fm_config_t));
    if (!self)
        return NULL;
    self->name = strdup (name);
    self->synopsis = strdup (synopsis ? synopsis : "[OPTIONS]");
    self->table = table;
    self->count = count;
    self->values = (char **) calloc (count + 1, sizeof (char *));
    if (!self->name || !self->synopsis || !self->values) {
        fm_config_destroy (&self);
        return NULL;
    }
    for (size_t i = 0; i < count; i++) {
        //  The built-in flags are not available to the table (except a
        //  "verbose" row, which the built-in -v sets)
        const fm_setting_t *row = &table [i];
        assert (row->path);
        assert (!row->flag || (!streq (row->flag, "help")
                && !streq (row->flag, "version") && !streq (row->flag, "config")
        && !streq (row->flag, "lang")));
        assert (row->short_flag == 0 || !strchr ("hVcv:?", row->short_flag));
        assert (row->type != FM_SETTING_INT || row->min <= row->max);
    }
    s_reset (self);
    return self;
}


//  --------------------------------------------------------------------------
//  Destroy; idempotent, nulls *self_p.

void
fm_config_destroy (fm_config_t **self_p)
{
    assert (self_p);
    fm_config_t *self = *self_p;
    if (self) {
        if (self->values) {
            for (size_t i = 0; i < self->count; i++)
                free (self->values [i]);
            free (self->values);
        }
        zconfig_destroy (&self->zpl);
        zstr_free (&self->file);
        for (size_t i = 0; i < self->arg_count; i++)
            free (self->args [i]);
        free (self->args);
        free (self->name);
        free (self->synopsis);
        free (self);
        *self_p = NULL;
    }
}


//  --------------------------------------------------------------------------
//  Load a ZPL file: every table path found in it is set and validated;
//  keys in the table's sections that the table does not know are warned
//  about and ignored.  Returns 0 or -1 with err filled.

int
fm_config_load_file (fm_config_t *self, const char *path, char *err,
                     size_t size)
{
    assert (self);
    assert (path);
    //  Read the file ourselves: zconfig_load says only "NULL" for both a
    //  missing and a bad file, and in czmq 4.2.1 leaks its zfile_t when
    //  the text does not parse
    FILE *probe = fopen (path, "r");
    if (!probe) {
        snprintf (err, size, _("%s: cannot read config file: %s"), path,
                  strerror (errno));
        return -1;
    }
    fclose (probe);
    zchunk_t *chunk = zchunk_slurp (path, 0);
    if (!chunk) {
        snprintf (err, size, _("%s: cannot read config file"), path);
        return -1;
    }
    //  Every line valid UTF-8 before zconfig sees it: a bad byte anywhere
    //  (a value, a key, a comment) would otherwise reach a warning in the
    //  log or a name on a terminal.  CR of CRLF files is allowed.
    const char *text = (const char *) zchunk_data (chunk);
    size_t text_size = zchunk_size (chunk);
    size_t line = 1, start = 0;
    for (size_t pos = 0; pos <= text_size; pos++) {
        if (pos < text_size && text [pos] != '\n')
            continue;
        size_t end = pos;
        if (end > start && text [end - 1] == '\r')
            end--;
        if (!fm_utf8_valid (text + start, end - start)) {
            snprintf (err, size, _("%s:%zu: not valid UTF-8 text (or a "
                      "control character)"), path, line);
            zchunk_destroy (&chunk);
            return -1;
        }
        line++;
        start = pos + 1;
    }
    zconfig_t *root = zconfig_chunk_load (chunk);
    zchunk_destroy (&chunk);
    if (!root) {
        snprintf (err, size, _("%s: not a valid ZPL config file"), path);
        return -1;
    }
    for (size_t i = 0; i < self->count; i++) {
        zconfig_t *item = zconfig_locate (root, self->table [i].path);
        if (!item)
            continue;
        const char *value = zconfig_value (item);
        char source [512];
        snprintf (source, sizeof source, "%s: %s", path, self->table [i].path);
        if (s_set (self, i, value ? value : "", source, err, size)) {
            zconfig_destroy (&root);
            return -1;
        }
    }
    //  Unknown keys in our sections: a typo in a config file should not
    //  pass silently, but a newer file should still load
    for (size_t i = 0; i < self->count; i++) {
        const char *slash = strchr (self->table [i].path, '/');
        if (!slash)
            continue;
        char section [256];
        snprintf (section, sizeof section, "%.*s",
                  (int) (slash - self->table [i].path), self->table [i].path);
        bool seen = false;      //  each section once
        for (size_t j = 0; j < i && !seen; j++)
            seen = strncmp (self->table [j].path, section, strlen (section)) == 0
                && self->table [j].path [strlen (section)] == '/';
        zconfig_t *node = seen ? NULL : zconfig_locate (root, section);
        for (zconfig_t *child = node ? zconfig_child (node) : NULL; child;
             child = zconfig_next (child)) {
            char key [512];
            snprintf (key, sizeof key, "%s/%s", section, zconfig_name (child));
            size_t key_len = strlen (key);
            bool known = false;
            for (size_t k = 0; k < self->count && !known; k++)
                known = streq (self->table [k].path, key)
                    || (strncmp (self->table [k].path, key, key_len) == 0
                        && self->table [k].path [key_len] == '/');
            if (!known)
                zsys_warning ("%s: unknown setting %s (ignored)", path, key);
        }
    }
    zconfig_destroy (&self->zpl);
    self->zpl = root;
    zstr_free (&self->file);
    self->file = strdup (path);
    return 0;
}


//  A flag collected by the first pass, applied after the file
typedef struct {
    size_t index;               //  table row
    const char *value;          //  borrowed from argv, or "1"
    char source [72];           //  "--deadline-ms" or "-d"
} s_flag_t;


//  --------------------------------------------------------------------------
//  Parse argv.  Returns 0 to go on, 1 after --help/--version, -1 on error
//  (printed as "NAME: message").

int
fm_config_parse (fm_config_t *self, int argc, char **argv)
{
    assert (self);
    assert (argc >= 1 && argv);
    s_reset (self);

    //  --lang first, so that even the errors below speak the language
    //  asked for (a bad value is reported by the getopt pass)
    for (int argn = 1; argn < argc && !streq (argv [argn], "--"); argn++) {
        if (streq (argv [argn], "--lang") && argn + 1 < argc)
            fm_i18n_set_lang (argv [argn + 1]);
        else
        if (strncmp (argv [argn], "--lang=", 7) == 0)
            fm_i18n_set_lang (argv [argn] + 7);
    }
    //  Every argument must be UTF-8 text, the command's own included (the
    //  tail this parse leaves to the caller): a bad byte would otherwise
    //  be echoed in an error message or land in a request.  The message
    //  names the flag the value belongs to.
    for (int argn = 1; argn < argc; argn++) {
        if (fm_utf8_valid (argv [argn], strlen (argv [argn])))
            continue;
        const char *previous = argv [argn - 1];
        if (argn > 1 && *previous == '-'
        &&  fm_utf8_valid (previous, strlen (previous)) && !strchr (previous, '='))
            fprintf (stderr, _("%s: the value of %s is not valid UTF-8 text\n"),
                     self->name, previous);
        else
            fprintf (stderr, _("%s: argument %d is not valid UTF-8 text\n"),
                     self->name, argn);
        return -1;
    }

    //  Options: the built-ins, then one per table row with a flag
    struct option *options = (struct option *) calloc (self->count + 6,
                                                        sizeof (struct option));
    char *optstring = (char *) malloc (2 * self->count + 16);
    s_flag_t *flags = (s_flag_t *) calloc ((size_t) argc, sizeof (s_flag_t));
    if (!options || !optstring || !flags) {
        free (options);
        free (optstring);
        free (flags);
        fprintf (stderr, _("%s: out of memory\n"), self->name);
        return -1;
    }
    size_t option_count = 0;
    options [option_count++] = (struct option) { "help", no_argument, NULL, 'h' };
    options [option_count++] = (struct option) { "version", no_argument, NULL, 'V' };
    options [option_count++] = (struct option) { "config", required_argument, NULL, 'c' };
    options [option_count++] = (struct option) { "verbose", no_argument, NULL, 'v' };
    options [option_count++] = (struct option) { "lang", required_argument, NULL, FLAG_LANG };
    //  "+": stop at the first positional (a subcommand and its own flags);
    //  ":": report a missing argument as ':' so we can word the message
    strcpy (optstring, "+:hVc:v");
    for (size_t i = 0; i < self->count; i++) {
        const fm_setting_t *row = &self->table [i];
        bool optional = row->type == FM_SETTING_BOOL;
        if (row->flag && !streq (row->flag, "verbose"))
            options [option_count++] = (struct option) {
                row->flag, optional ? optional_argument : required_argument,
                NULL, FLAG_BASE + (int) i };
        if (row->short_flag) {
            size_t len = strlen (optstring);
            optstring [len++] = row->short_flag;
            optstring [len++] = ':';
            if (optional)       //  "-j" alone, or attached "-j0"
                optstring [len++] = ':';
            optstring [len] = 0;
        }
    }

    //  First pass: collect.  getopt's own messages are off (opterr = 0):
    //  ours start with the program name from the table, not argv [0].
    int rc = 0;
    bool help = false, version = false, verbose = false;
    const char *file = NULL;
    size_t flag_count = 0;
    optind = 0;                 //  glibc: full reinitialisation
    opterr = 0;
    while (rc == 0) {
        int long_index = -1;
        int option = getopt_long (argc, argv, optstring, options, &long_index);
        if (option == -1)
            break;
        const char *current = argv [optind - 1];
        if (option == 'h')
            help = true;
        else
        if (option == 'V')
            version = true;
        else
        if (option == 'c')
            file = optarg;
        else
        if (option == 'v')
            verbose = true;
        else
        if (option == FLAG_LANG) {
            //  Applied at once, so that --help and the errors after it
            //  speak the language asked for
            if (fm_i18n_set_lang (optarg)) {
                fprintf (stderr, _("%s: --lang '%s': say zh or en\n"),
                         self->name, optarg);
                rc = -1;
            }
        }
        else
        if (option == ':') {
            fprintf (stderr, _("%s: %s needs a value\n"), self->name, current);
            rc = -1;
        }
        else
        if (option == '?') {
            if (strncmp (current, "--", 2) == 0 && optopt)
                fprintf (stderr, _("%s: %s takes no value\n"), self->name, current);
            else
            if (strncmp (current, "--", 2) == 0)
                fprintf (stderr, _("%s: unknown option '%s'\n"), self->name, current);
            else
                fprintf (stderr, _("%s: unknown option '-%c'\n"), self->name, optopt);
            rc = -1;
        }
        else {
            //  A table flag, long or short
            s_flag_t *flag = &flags [flag_count++];
            if (option >= FLAG_BASE) {
                flag->index = (size_t) (option - FLAG_BASE);
                snprintf (flag->source, sizeof flag->source, "--%s",
                          self->table [flag->index].flag);
            }
            else {
                for (size_t i = 0; i < self->count; i++)
                    if (self->table [i].short_flag == option)
                        flag->index = i;
                snprintf (flag->source, sizeof flag->source, "-%c", option);
            }
            flag->value = optarg ? optarg : "1";
        }
    }
    free (options);
    free (optstring);

    if (rc == 0 && help) {
        fm_config_usage (self, stdout);
        rc = 1;
    }
    else
    if (rc == 0 && version) {
        printf ("%s %s\n", self->name, FM_VERSION);
        rc = 1;
    }
    char err [640];
    if (rc == 0 && file && fm_config_load_file (self, file, err, sizeof err)) {
        fprintf (stderr, "%s: %s\n", self->name, err);
        rc = -1;
    }
    for (size_t i = 0; rc == 0 && i < flag_count; i++) {
        if (s_set (self, flags [i].index, flags [i].value, flags [i].source,
                   err, sizeof err)) {
            fprintf (stderr, "%s: %s\n", self->name, err);
            rc = -1;
        }
    }
    free (flags);
    if (rc == 0 && verbose) {
        for (size_t i = 0; i < self->count; i++) {
            const char *path = self->table [i].path;
            size_t len = strlen (path);
            if (self->table [i].type == FM_SETTING_BOOL
            && (streq (path, "verbose")
                || (len > 8 && streq (path + len - 8, "/verbose"))))
                s_set (self, i, "1", "-v", err, sizeof err);
        }
    }
    //  Every required setting must have come from the file or a flag
    for (size_t i = 0; rc == 0 && i < self->count; i++) {
        if (!self->values [i]) {
            const fm_setting_t *row = &self->table [i];
            if (row->flag)
                fprintf (stderr, _("%s: %s is required (--%s or in the config "
                         "file)\n"), self->name, row->path, row->flag);
            else
                fprintf (stderr, _("%s: %s is required in the config file\n"),
                         self->name, row->path);
            rc = -1;
        }
    }
    //  Positionals, kept for the caller
    if (rc == 0 && optind < argc) {
        self->args = (char **) calloc ((size_t) (argc - optind), sizeof (char *));
        if (!self->args) {
            fprintf (stderr, _("%s: out of memory\n"), self->name);
            return -1;
        }
        for (int argn = optind; argn < argc; argn++) {
            self->args [self->arg_count] = strdup (argv [argn]);
            if (!self->args [self->arg_count]) {
                fprintf (stderr, _("%s: out of memory\n"), self->name);
                return -1;
            }
            self->arg_count++;
        }
    }
    return rc;
}


//  --------------------------------------------------------------------------
//  Set one setting from text, validated.  Returns 0 or -1 with err filled.

int
fm_config_set (fm_config_t *self, const char *path, const char *value,
               char *err, size_t size)
{
    assert (self);
    assert (path);
    assert (value);
    int index = s_find (self, path);
    if (index < 0) {
        snprintf (err, size, "%s: unknown setting", path);
        return -1;
    }
    return s_set (self, (size_t) index, value, path, err, size);
}


//  --------------------------------------------------------------------------
//  Getters.  A path not in the table is a programmer error.

const char *
fm_config_str (fm_config_t *self, const char *path)
{
    assert (self);
    int index = s_find (self, path);
    assert (index >= 0);        //  a typo in the caller
    return self->values [index];
}

int64_t
fm_config_int (fm_config_t *self, const char *path)
{
    assert (self);
    int index = s_find (self, path);
    assert (index >= 0);
    assert (self->table [index].type == FM_SETTING_INT);
    //  Validated when set; a missing required value is not read before
    //  fm_config_parse succeeded
    assert (self->values [index]);
    int64_t value = 0;
    int rc = s_parse_int (self->values [index], &value);
    assert (rc == 0);
    return value;
}

bool
fm_config_bool (fm_config_t *self, const char *path)
{
    assert (self);
    int index = s_find (self, path);
    assert (index >= 0);
    assert (self->table [index].type == FM_SETTING_BOOL);
    return self->values [index] && streq (self->values [index], "1");
}


//  --------------------------------------------------------------------------
//  The loaded ZPL tree, or NULL.  Borrowed.

zconfig_t *
fm_config_zpl (fm_config_t *self)
{
    assert (self);
    return self->zpl;
}


//  --------------------------------------------------------------------------
//  The path of the file loaded with -c, or NULL.

const char *
fm_config_file (fm_config_t *self)
{
    assert (self);
    return self->file;
}


//  --------------------------------------------------------------------------
//  Positional arguments.

size_t
fm_config_argc (fm_config_t *self)
{
    assert (self);
    return self->arg_count;
}

const char *
fm_config_arg (fm_config_t *self, size_t index)
{
    assert (self);
    return index < self->arg_count ? self->args [index] : NULL;
}


//  --------------------------------------------------------------------------
//  Print usage generated from the table.

//  --------------------------------------------------------------------------
//  Daemon start-up: see header

int
fm_config_daemon (const char *name, const char *synopsis,
                  const fm_setting_t *table, size_t count,
                  int argc, char **argv, fm_config_t **config_p)
{
    assert (config_p);
    *config_p = NULL;
    fm_i18n_init ();
    zsys_init ();
    zsys_set_logident (name);
    zsys_set_logstream (stderr);
    fm_config_t *config = fm_config_new (name, synopsis, table, count);
    assert (config);
    int rc = fm_config_parse (config, argc, argv);
    if (rc == 0 && fm_config_argc (config) > 0) {
        fprintf (stderr, _("%s: unexpected argument '%s'\n"), name,
                 fm_config_arg (config, 0));
        rc = -1;
    }
    if (rc == 0)
        *config_p = config;
    else
        fm_config_destroy (&config);
    return rc;
}

void
fm_config_usage (fm_config_t *self, FILE *file)
{
    assert (self);
    assert (file);
    //  Left column: "-d, --deadline-ms N", or the ZPL path for settings that
    //  have no flag (config file only)
    size_t rows = self->count + 5;
    char **left = (char **) calloc (rows, sizeof (char *));
    char **right = (char **) calloc (rows, sizeof (char *));
    if (!left || !right) {
        free (left);
        free (right);
        return;
    }
    left [0] = strdup ("-h, --help");
    right [0] = strdup (_("print this help and exit"));
    left [1] = strdup ("-V, --version");
    right [1] = strdup (_("print the version and exit"));
    left [2] = strdup (_("-c, --config FILE"));
    right [2] = strdup (_("read settings from a ZPL file"));
    left [3] = strdup ("-v, --verbose");
    right [3] = strdup (_("log more (sets */verbose)"));
    left [4] = strdup ("    --lang zh|en");
    right [4] = strdup (_("language of the messages (default: from LANGUAGE, "
                          "LC_ALL, LC_MESSAGES, LANG; else Chinese)"));
    size_t width = 0;
    for (size_t i = 0; i < self->count; i++) {
        const fm_setting_t *row = &self->table [i];
        const char *metavar = row->type == FM_SETTING_INT ? _(" N")
                            : row->type == FM_SETTING_BOOL ? "[=0|1]" : _(" TEXT");
        char shortf [8] = "    ";
        if (row->short_flag)
            snprintf (shortf, sizeof shortf, "-%c%s", row->short_flag,
                      row->flag ? ", " : "");
        if (row->flag)
            left [i + 5] = zsys_sprintf ("%s--%s%s", shortf, row->flag, metavar);
        else
        if (row->short_flag)
            left [i + 5] = zsys_sprintf ("%s%s", shortf, metavar);
        else
            left [i + 5] = zsys_sprintf (_("%s (file)"), row->path);
        char bounds [64] = "";
        if (row->type == FM_SETTING_INT)
            snprintf (bounds, sizeof bounds, ", %" PRId64 "..%" PRId64,
                      row->min, row->max);
        //  Help texts are marked N_() in the binaries' tables
        const char *help = row->help && *row->help ? _(row->help) : "";
        if (row->default_value)
            right [i + 5] = zsys_sprintf (_("%s [default %s%s%s%s]"), help,
                *row->default_value ? "" : "\"",
                row->default_value,
                *row->default_value ? "" : "\"", bounds);
        else
            right [i + 5] = zsys_sprintf (_("%s [required%s]"), help, bounds);
    }
    for (size_t i = 0; i < rows; i++)
        if (left [i] && fm_text_width (left [i]) > width)
            width = fm_text_width (left [i]);
    fprintf (file, "%s %s %s\n\n%s\n", _("Usage:"), self->name, self->synopsis,
             _("Options:"));
    for (size_t i = 0; i < rows; i++) {
        const char *l = left [i] ? left [i] : "";
        fprintf (file, "  %s%*s  %s\n", l, (int) (width - fm_text_width (l)), "",
                 right [i] ? right [i] : "");
        free (left [i]);
        free (right [i]);
    }
    free (left);
    free (right);
}


//  --------------------------------------------------------------------------
//  Selftest

static const fm_setting_t s_test_table [] = {
    { "broker/endpoint", "endpoint", 'e', FM_SETTING_STRING,
      "tcp://127.0.0.1:7555", 0, 0, "router endpoint" },
    { "broker/deadline_ms", "deadline-ms", 'd', FM_SETTING_INT,
      "2000", 10, 60000, "request deadline (msecs)" },
    { "broker/max_inflight", NULL, 0, FM_SETTING_INT,
      "10000", 1, 1000000, "requests in flight at once" },
    { "broker/name", "name", 0, FM_SETTING_STRING, "江北区", 0, 0, "shown name" },
    { "broker/json", "json", 'j', FM_SETTING_BOOL, "0", 0, 0, "print JSON" },
    { "broker/verbose", NULL, 0, FM_SETTING_BOOL, "0", 0, 0, "log every message" },
    { "events/endpoint", "events", 0, FM_SETTING_STRING,
      "tcp://127.0.0.1:7556", 0, 0, "event endpoint" }
};
#define TEST_ROWS (sizeof (s_test_table) / sizeof (s_test_table [0]))

static const fm_setting_t s_required_table [] = {
    { "gov/registry", "registry", 'r', FM_SETTING_STRING, NULL, 0, 0, "registry CSV" }
};

static int
s_test_parse (fm_config_t *config, char **argv)
{
    int argc = 0;
    while (argv [argc])
        argc++;
    return fm_config_parse (config, argc, argv);
}

static char *
s_test_file (const char *name, const char *text)
{
    const char *dir = getenv ("TMPDIR");
    char *path = zsys_sprintf ("%s/fm_config_test_%d_%s", dir ? dir : "/tmp",
                               (int) getpid (), name);
    assert (path);
    FILE *file = fopen (path, "w");
    assert (file);
    fputs (text, file);
    fclose (file);
    return path;
}

void
fm_config_test (bool verbose)
{
    fm_config_t *config = fm_config_new ("fm-test", "[OPTIONS] COMMAND ...",
                                         s_test_table, TEST_ROWS);
    assert (config);
    char err [640];

    //  Defaults
    char *plain [] = { "fm-test", NULL };
    assert (s_test_parse (config, plain) == 0);
    assert (streq (fm_config_str (config, "broker/endpoint"), "tcp://127.0.0.1:7555"));
    assert (fm_config_int (config, "broker/deadline_ms") == 2000);
    assert (fm_config_int (config, "broker/max_inflight") == 10000);
    assert (streq (fm_config_str (config, "broker/name"), "江北区"));
    assert (!fm_config_bool (config, "broker/json"));
    assert (!fm_config_bool (config, "broker/verbose"));
    assert (fm_config_argc (config) == 0);
    assert (fm_config_arg (config, 0) == NULL);
    assert (fm_config_file (config) == NULL);
    assert (fm_config_zpl (config) == NULL);

    //  The file overrides defaults; other sections are for the caller; an
    //  unknown key in our section is a warning, not an error
    char *good = s_test_file ("good.cfg",
        "#   test config\n"
        "broker\n"
        "    deadline_ms = 500\n"
        "    endpoint = \"tcp://127.0.0.1:9999\"\n"
        "    name = 重庆农村商业银行\n"
        "    typo_key = 1           #   warned about\n"
        "bank\n"
        "    code = CQRCB\n");
    char *with_file [] = { "fm-test", "-c", good, NULL };
    assert (s_test_parse (config, with_file) == 0);
    assert (fm_config_int (config, "broker/deadline_ms") == 500);
    assert (streq (fm_config_str (config, "broker/endpoint"), "tcp://127.0.0.1:9999"));
    assert (streq (fm_config_str (config, "broker/name"), "重庆农村商业银行"));
    assert (fm_config_int (config, "broker/max_inflight") == 10000);
    assert (streq (fm_config_file (config), good));
    assert (fm_config_zpl (config));
    assert (streq (zconfig_get (fm_config_zpl (config), "bank/code", ""), "CQRCB"));

    //  Flags override the file, whatever their order on the line
    char *flag_first [] = { "fm-test", "--deadline-ms", "50", "--config", good, NULL };
    assert (s_test_parse (config, flag_first) == 0);
    assert (fm_config_int (config, "broker/deadline_ms") == 50);
    assert (streq (fm_config_str (config, "broker/endpoint"), "tcp://127.0.0.1:9999"));
    char *flag_forms [] = { "fm-test", "-c", good, "-d60", "--events=ipc://@ev",
                            "-e", "inproc://x", "--name", "观音桥", NULL };
    assert (s_test_parse (config, flag_forms) == 0);
    assert (fm_config_int (config, "broker/deadline_ms") == 60);
    assert (streq (fm_config_str (config, "events/endpoint"), "ipc://@ev"));
    assert (streq (fm_config_str (config, "broker/endpoint"), "inproc://x"));
    assert (streq (fm_config_str (config, "broker/name"), "观音桥"));
    //  The last of repeated flags wins
    char *repeated [] = { "fm-test", "-d", "70", "--deadline-ms", "80", NULL };
    assert (s_test_parse (config, repeated) == 0);
    assert (fm_config_int (config, "broker/deadline_ms") == 80);

    //  Parsing again starts from the defaults
    assert (s_test_parse (config, plain) == 0);
    assert (fm_config_int (config, "broker/deadline_ms") == 2000);
    assert (fm_config_file (config) == NULL);

    //  Booleans: bare flag is "1", "=0" turns off, -v sets */verbose
    char *bools [] = { "fm-test", "--json", "-v", NULL };
    assert (s_test_parse (config, bools) == 0);
    assert (fm_config_bool (config, "broker/json"));
    assert (fm_config_bool (config, "broker/verbose"));
    char *bool_off [] = { "fm-test", "-j", "--json=no", NULL };
    assert (s_test_parse (config, bool_off) == 0);
    assert (!fm_config_bool (config, "broker/json"));
    char *bool_short [] = { "fm-test", "-j", NULL };
    assert (s_test_parse (config, bool_short) == 0);
    assert (fm_config_bool (config, "broker/json"));
    char *bool_bad [] = { "fm-test", "--json=maybe", NULL };
    assert (s_test_parse (config, bool_bad) == -1);

    //  Positionals are kept; options stop at the first one (the
    //  subcommand's own flags pass through untouched)
    char *command [] = { "fm-test", "-d", "100", "request", "--enterprise",
                         "91350100M000100Y43", "--amount", "300万", NULL };
    assert (s_test_parse (config, command) == 0);
    assert (fm_config_int (config, "broker/deadline_ms") == 100);
    assert (fm_config_argc (config) == 5);
    assert (streq (fm_config_arg (config, 0), "request"));
    assert (streq (fm_config_arg (config, 1), "--enterprise"));
    assert (streq (fm_config_arg (config, 4), "300万"));
    char *dashes [] = { "fm-test", "--", "-d", NULL };
    assert (s_test_parse (config, dashes) == 0);
    assert (fm_config_argc (config) == 1);
    assert (streq (fm_config_arg (config, 0), "-d"));
    assert (fm_config_int (config, "broker/deadline_ms") == 2000);

    //  Bad values, naming their source
    char *bad_int [] = { "fm-test", "--deadline-ms", "20x", NULL };
    assert (s_test_parse (config, bad_int) == -1);
    char *too_low [] = { "fm-test", "--deadline-ms", "0", NULL };
    assert (s_test_parse (config, too_low) == -1);
    char *too_high [] = { "fm-test", "-d", "60001", NULL };
    assert (s_test_parse (config, too_high) == -1);
    char *missing_value [] = { "fm-test", "--deadline-ms", NULL };
    assert (s_test_parse (config, missing_value) == -1);
    char *unknown_long [] = { "fm-test", "--bogus", NULL };
    assert (s_test_parse (config, unknown_long) == -1);
    char *unknown_short [] = { "fm-test", "-x", NULL };
    assert (s_test_parse (config, unknown_short) == -1);
    char *no_value [] = { "fm-test", "--help=1", NULL };
    assert (s_test_parse (config, no_value) == -1);
    //  The messages themselves
    assert (s_set (config, 1, "0", "--deadline-ms", err, sizeof err) == -1);
    assert (streq (err, "--deadline-ms: 0 is below the minimum 10"));
    assert (fm_config_set (config, "broker/deadline_ms", "abc", err, sizeof err) == -1);
    assert (streq (err, "broker/deadline_ms: 'abc' is not an integer"));
    assert (fm_config_set (config, "broker/deadline_ms", "99999999999999999999",
                           err, sizeof err) == -1);
    assert (fm_config_set (config, "broker/deadline_ms", " 5", err, sizeof err) == -1);
    assert (fm_config_set (config, "broker/deadline_ms", "", err, sizeof err) == -1);
    assert (fm_config_set (config, "broker/deadline_ms", "60001", err, sizeof err) == -1);
    assert (streq (err, "broker/deadline_ms: 60001 is above the maximum 60000"));
    assert (fm_config_set (config, "broker/nothing", "1", err, sizeof err) == -1);
    assert (fm_config_set (config, "broker/name", "\xC0\x80", err, sizeof err) == -1);
    //  A rejected value leaves the old one in place; accepted ones are
    //  canonical
    assert (fm_config_int (config, "broker/deadline_ms") == 2000);
    assert (fm_config_set (config, "broker/deadline_ms", "+0100", err, sizeof err) == 0);
    assert (fm_config_int (config, "broker/deadline_ms") == 100);
    assert (streq (fm_config_str (config, "broker/deadline_ms"), "100"));
    assert (fm_config_set (config, "broker/json", "TRUE", err, sizeof err) == 0);
    assert (streq (fm_config_str (config, "broker/json"), "1"));

    char *bad = s_test_file ("bad.cfg", "broker\n    deadline_ms = abc\n");
    char *bad_file [] = { "fm-test", "-c", bad, NULL };
    assert (s_test_parse (config, bad_file) == -1);
    assert (fm_config_load_file (config, bad, err, sizeof err) == -1);
    char *expected = zsys_sprintf ("%s: broker/deadline_ms: 'abc' is not an integer", bad);
    if (verbose)
        printf ("   %s\n", err);
    assert (streq (err, expected));
    zstr_free (&expected);
    char *bounds = s_test_file ("bounds.cfg", "broker\n    max_inflight = 0\n");
    assert (fm_config_load_file (config, bounds, err, sizeof err) == -1);
    assert (strstr (err, "broker/max_inflight: 0 is below the minimum 1"));

    //  Missing and unparseable files: clear errors naming the file
    char *missing = zsys_sprintf ("%s.does-not-exist", good);
    char *missing_file [] = { "fm-test", "-c", missing, NULL };
    assert (s_test_parse (config, missing_file) == -1);
    assert (fm_config_load_file (config, missing, err, sizeof err) == -1);
    if (verbose)
        printf ("   %s\n", err);
    assert (strstr (err, missing) == err);
    assert (strstr (err, "No such file"));
    char *garbage = s_test_file ("garbage.cfg", "broker\n  deadline_ms = 5\n\"x\n");
    assert (fm_config_load_file (config, garbage, err, sizeof err) == -1);
    if (verbose)
        printf ("   %s\n", err);
    assert (strstr (err, garbage) == err);
    char *no_file [] = { "fm-test", "-c", NULL };
    assert (s_test_parse (config, no_file) == -1);

    //  --help and --version print and return 1, even with other flags
    char *help [] = { "fm-test", "-d", "100", "--help", NULL };
    assert (s_test_parse (config, help) == 1);
    char *help_short [] = { "fm-test", "-h", NULL };
    assert (s_test_parse (config, help_short) == 1);
    char *version [] = { "fm-test", "-V", NULL };
    assert (s_test_parse (config, version) == 1);

    //  Usage comes from the table
    char *usage = NULL;
    size_t usage_size = 0;
    FILE *memory = open_memstream (&usage, &usage_size);
    assert (memory);
    fm_config_usage (config, memory);
    fclose (memory);
    if (verbose)
        printf ("%s", usage);
    assert (strstr (usage, "Usage: fm-test [OPTIONS] COMMAND ...\n") == usage);
    assert (strstr (usage, "-d, --deadline-ms N"));
    assert (strstr (usage, "[default 2000, 10..60000]"));
    assert (strstr (usage, "-j, --json[=0|1]"));
    assert (strstr (usage, "    --events TEXT"));
    assert (strstr (usage, "broker/max_inflight (file)"));
    assert (strstr (usage, "-c, --config FILE"));
    free (usage);
    fm_config_destroy (&config);
    fm_config_destroy (&config);
    assert (config == NULL);

    //  Required settings: missing is an error, a flag or the file fills it
    config = fm_config_new ("fm-req", NULL, s_required_table, 1);
    assert (config);
    assert (fm_config_str (config, "gov/registry") == NULL);
    assert (s_test_parse (config, plain) == -1);
    char *given [] = { "fm-req", "--registry", "enterprises.csv", NULL };
    assert (s_test_parse (config, given) == 0);
    assert (streq (fm_config_str (config, "gov/registry"), "enterprises.csv"));
    char *registry = s_test_file ("registry.cfg", "gov\n    registry = r.csv\n");
    char *from_file [] = { "fm-req", "-c", registry, NULL };
    assert (s_test_parse (config, from_file) == 0);
    assert (streq (fm_config_str (config, "gov/registry"), "r.csv"));
    fm_config_destroy (&config);

    //  Bad UTF-8: in a config file (named with its line, whatever the
    //  line holds: value, key or comment) and in any argument (named by
    //  its flag), refused before it can reach a terminal or the log
    config = fm_config_new ("fm-test", NULL, s_test_table, TEST_ROWS);
    assert (config);
    char *bad_utf8 = s_test_file ("bad_utf8.cfg",
        "broker\n    deadline_ms = 500\r\n    #   fine: 江北\n"
        "    name = \"\xE6\xB1\x9F\xC0\x80\"\n");
    assert (fm_config_load_file (config, bad_utf8, err, sizeof err) == -1);
    char *where = zsys_sprintf ("%s:4: not valid UTF-8", bad_utf8);
    if (verbose)
        printf ("   %s\n", err);
    assert (strstr (err, where) == err);
    zstr_free (&where);
    char *bad_comment = s_test_file ("bad_comment.cfg",
        "#   \xFF\xFE\nbroker\n    deadline_ms = 500\n");
    assert (fm_config_load_file (config, bad_comment, err, sizeof err) == -1);
    assert (strstr (err, ":1: not valid UTF-8"));
    char *bad_flag [] = { "fm-test", "--name", "\xE4\xB8", NULL };
    assert (s_test_parse (config, bad_flag) == -1);
    char *bad_attached [] = { "fm-test", "--name=\xFF", NULL };
    assert (s_test_parse (config, bad_attached) == -1);
    char *bad_positional [] = { "fm-test", "request", "--purpose", "\x1B[2J", NULL };
    assert (s_test_parse (config, bad_positional) == -1);

    //  --lang: a built-in flag of every binary, applied at once
    char *lang_en [] = { "fm-test", "--lang", "en", "-d", "100", NULL };
    assert (s_test_parse (config, lang_en) == 0);
    assert (fm_i18n_lang () == FM_LANG_EN);
    assert (fm_config_int (config, "broker/deadline_ms") == 100);
    char *lang_zh [] = { "fm-test", "--lang=zh_CN", NULL };
    assert (s_test_parse (config, lang_zh) == 0);
    assert (fm_i18n_lang () == FM_LANG_ZH);
    char *lang_bad [] = { "fm-test", "--lang", "fr", NULL };
    assert (s_test_parse (config, lang_bad) == -1);
    char *lang_missing [] = { "fm-test", "--lang", NULL };
    assert (s_test_parse (config, lang_missing) == -1);
    //  Usage lists it, in the language asked for
    usage = NULL;
    memory = open_memstream (&usage, &usage_size);
    assert (memory);
    fm_config_usage (config, memory);
    fclose (memory);
    if (verbose)
        printf ("%s", usage);
    if (fm_i18n_catalogue_loaded ())
        assert (strstr (usage, "用法: fm-test") == usage);
    assert (strstr (usage, "--lang zh|en"));
    free (usage);
    fm_i18n_set_lang ("en");
    fm_config_destroy (&config);
    unlink (bad_utf8);
    zstr_free (&bad_utf8);
    unlink (bad_comment);
    zstr_free (&bad_comment);

    char *paths [] = { good, bad, bounds, garbage, registry };
    for (size_t i = 0; i < sizeof paths / sizeof paths [0]; i++) {
        unlink (paths [i]);
        zstr_free (&paths [i]);
    }
    zstr_free (&missing);
}
