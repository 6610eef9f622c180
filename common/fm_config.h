/*  =========================================================================
    fm_config - settings of a finmatch binary: table, ZPL file, CLI flags

    Every binary describes its settings once, in a static table of
    fm_setting_t (name, type, default, bounds, flag, help) as redis's
    static_configs[] does.  This class reads that table three ways, in
    order of precedence: the built-in default, then the ZPL file given
    with -c FILE (czmq zconfig), then command-line flags (getopt_long).
    --help prints usage generated from the same table, so the two can never
    disagree.

    Flags every binary gets without declaring them:
      -h, --help        print usage and exit 0
      -V, --version     print "NAME VERSION" and exit 0
      -c, --config FILE read settings from a ZPL file (must exist)
      -v, --verbose     sets "<section>/verbose" = 1 if the table has it

    Values are validated against type and bounds after each source; a bad
    value is an error naming the source ("file.cfg: broker/deadline_ms:
    '20x' is not an integer") and the binary exits 2.
    Positional arguments (after options) are kept for the caller.
    =========================================================================
*/

#ifndef FM_CONFIG_H_INCLUDED
#define FM_CONFIG_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    FM_SETTING_STRING = 0,
    FM_SETTING_INT,                     //  int64 within [min, max]
    FM_SETTING_BOOL                     //  "1"/"0", "true"/"false", "yes"/"no"
} fm_setting_type_t;

typedef struct {
    const char *path;                   //  ZPL path, "broker/deadline_ms"
    const char *flag;                   //  long flag without "--", or NULL
    char short_flag;                    //  or 0
    fm_setting_type_t type;
    const char *default_value;          //  as text; NULL = required
    int64_t min, max;                   //  bounds for FM_SETTING_INT
    const char *help;                   //  one line, shown by --help
} fm_setting_t;

typedef struct _fm_config_t fm_config_t;

//  Create a config for a binary.  name is the program name ("finmatch-broker"),
//  synopsis the usage line after it ("[OPTIONS]"), table/count the settings
//  (borrowed: must outlive the config).  Returns NULL if out of memory.
fm_config_t *
    fm_config_new (const char *name, const char *synopsis,
                   const fm_setting_t *table, size_t count);

//  Destroy; idempotent, nulls *self_p.
void
    fm_config_destroy (fm_config_t **self_p);

//  Parse argv: load defaults, the -c file if any, then flags (a flag wins
//  over the file wherever it stands on the line).  Every call starts from
//  the defaults again.  BOOL flags take no value ("--json" = 1) or an
//  attached one ("--json=0", "-j0").  Returns
//   0  to go on (settings loaded and valid),
//   1  when --help/--version was printed (caller exits 0),
//  -1  on any error, already printed to stderr as "NAME: message" (caller
//      exits 2).
//  Stops at the first non-option argument; see fm_config_args.
int
    fm_config_parse (fm_config_t *self, int argc, char **argv);

//  Load a ZPL file directly (tests).  Keys of the table's sections that the
//  table does not list are logged (zsys_warning) and ignored; other
//  sections are left for the caller (fm_config_zpl).  Returns 0 or -1 with
//  a message naming the file in err (size bytes); on failure the settings
//  read before the bad one stay set.
int
    fm_config_load_file (fm_config_t *self, const char *path,
                         char *err, size_t size);

//  Set one setting from text, validated.  Returns 0 or -1 with err filled.
int
    fm_config_set (fm_config_t *self, const char *path, const char *value,
                   char *err, size_t size);

//  Getters.  path must be in the table (asserted: a typo is a programmer
//  error).  Strings are borrowed until the next set, parse or destroy;
//  fm_config_str gives NULL for a required setting not yet set.  BOOL
//  values read as "1"/"0" through fm_config_str.
const char *
    fm_config_str (fm_config_t *self, const char *path);
int64_t
    fm_config_int (fm_config_t *self, const char *path);
bool
    fm_config_bool (fm_config_t *self, const char *path);

//  The loaded ZPL tree for structured sections (bank products...), or
//  NULL if no file was loaded.  Borrowed.
zconfig_t *
    fm_config_zpl (fm_config_t *self);

//  The path of the file loaded with -c, or NULL.
const char *
    fm_config_file (fm_config_t *self);

//  Positional arguments left after the options: count and the i-th.
size_t
    fm_config_argc (fm_config_t *self);
const char *
    fm_config_arg (fm_config_t *self, size_t index);

//  The start-up every daemon shares: the language (fm_i18n_init), czmq's
//  log identity = name and log stream = stderr (czmq's default is stdout),
//  a config over table, argv parsed, and any positional argument refused
//  (daemons take none).  Returns 0 with *config_p set (caller owns it);
//  else *config_p is NULL and the return is 1 (--help/--version printed:
//  exit 0) or -1 (error printed: exit 2).
int
    fm_config_daemon (const char *name, const char *synopsis,
                      const fm_setting_t *table, size_t count,
                      int argc, char **argv, fm_config_t **config_p);

//  Print usage (synopsis, then one line per setting with flag, default,
//  bounds, help) to file.
void
    fm_config_usage (fm_config_t *self, FILE *file);

//  Self test
void
    fm_config_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
