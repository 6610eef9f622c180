/*  =========================================================================
    cmd_keygen - `finmatch keygen`: create a CURVE certificate for a role

    Writes a czmq certificate pair: FILE (public key + metadata, to give to
    the broker's certificate directory or, for the broker's own, to every
    peer) and FILE_secret (both keys, mode 0600, never to leave the host
    it runs on).  The metadata names the role and the identity the broker
    authorises by (proto/SPEC.md "Security"):

      enterprise  enterprise = unified social credit code
      officer     officer = officer id, grid = grid id
      bank        bank = bank code (serves bank.<CODE> only)
      gov         serves gov.credit
      monitor     may read the event stream (recorder, watch, dashboards)
      broker      the broker itself

    Existing files are never overwritten: a lost secret is replaced by a
    new key and the old public file removed from the directory.  Prints
    the public key only.
    =========================================================================
*/

#include <czmq.h>
#include <getopt.h>
#include <sys/stat.h>
#include "fm_cli.h"
#include "fm_curve.h"
#include "fm_ids.h"
#include "fm_proto.h"

static void
s_usage (FILE *file)
{
    fputs ("Usage: finmatch keygen --role ROLE [IDENTITY] --out FILE [--name TEXT]\n"
"\n"
"Creates a CURVE certificate: FILE (public, give it to the broker's --certs\n"
"directory) and FILE_secret (mode 0600, keep it on this host).\n"
"\n"
"  --role ROLE         enterprise | officer | bank | gov | monitor | broker\n"
"  --enterprise CODE   role enterprise: its unified social credit code\n"
"  --officer ID        role officer: the officer's id (submitted_by)\n"
"  --grid GRID         role officer: the grid the officer serves\n"
"  --bank CODE         role bank: the bank code (A-Z 0-9 _, 1..16)\n"
"  --name TEXT         a display name (optional)\n"
"  --out FILE          where to write (FILE and FILE_secret must not exist)\n"
"  -h, --help          this help\n"
"\n"
"Exit: 0 written, 2 bad input or the files could not be written.\n", file);
}

//  True if text is a bank code: 1..16 of [A-Z0-9_].
static bool
s_bank_code_valid (const char *text)
{
    size_t length = strlen (text);
    if (length == 0 || length > 16)
        return false;
    for (size_t index = 0; index < length; index++)
        if (!strchr ("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_", text [index]))
            return false;
    return true;
}

//  True if text is a printable ASCII id of 1..FM_CODE_SIZE-1 characters.
static bool
s_id_valid (const char *text)
{
    size_t length = strlen (text);
    if (length == 0 || length >= FM_CODE_SIZE)
        return false;
    for (size_t index = 0; index < length; index++)
        if (text [index] <= ' ' || text [index] > '~')
            return false;
    return true;
}

int
fm_cmd_keygen (fm_cli_t *cli, int argc, char **argv)
{
    assert (cli);               //  no setting of it is used: keys are local
    static const struct option options [] = {
        { "role",       required_argument, NULL, 'r' },
        { "enterprise", required_argument, NULL, 'E' },
        { "officer",    required_argument, NULL, 'O' },
        { "grid",       required_argument, NULL, 'G' },
        { "bank",       required_argument, NULL, 'B' },
        { "name",       required_argument, NULL, 'n' },
        { "out",        required_argument, NULL, 'o' },
        { "help",       no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    const char *role = NULL, *enterprise = NULL, *officer = NULL;
    const char *grid = NULL, *bank = NULL, *name = NULL, *out = NULL;
    optind = 0;                         //  GNU: full re-initialisation
    opterr = 0;
    int opt;
    while ((opt = getopt_long (argc, argv, ":h", options, NULL)) != -1) {
        switch (opt) {
            case 'r': role = optarg; break;
            case 'E': enterprise = optarg; break;
            case 'O': officer = optarg; break;
            case 'G': grid = optarg; break;
            case 'B': bank = optarg; break;
            case 'n': name = optarg; break;
            case 'o': out = optarg; break;
            case 'h':
                s_usage (stdout);
                return 0;
            case ':':
                fprintf (stderr, "finmatch keygen: %s needs a value\n", argv [optind - 1]);
                s_usage (stderr);
                return 2;
            default:
                fprintf (stderr, "finmatch keygen: unknown option '%s'\n", argv [optind - 1]);
                s_usage (stderr);
                return 2;
        }
    }
    if (optind < argc) {
        fprintf (stderr, "finmatch keygen: unexpected argument '%s'\n", argv [optind]);
        return 2;
    }
    if (!role || !out) {
        fprintf (stderr, "finmatch keygen: --role and --out are required\n");
        s_usage (stderr);
        return 2;
    }
    const char *problem = NULL;
    if (streq (role, FM_ROLE_ENTERPRISE)) {
        if (!enterprise || !fm_credit_code_valid (enterprise))
            problem = "role enterprise needs --enterprise with a valid credit code";
    }
    else
    if (streq (role, FM_ROLE_OFFICER)) {
        if (!officer || !grid || !s_id_valid (officer) || !s_id_valid (grid))
            problem = "role officer needs --officer ID and --grid GRID";
    }
    else
    if (streq (role, FM_ROLE_BANK)) {
        if (!bank || !s_bank_code_valid (bank))
            problem = "role bank needs --bank CODE (A-Z 0-9 _, 1..16)";
    }
    else
    if (strneq (role, FM_ROLE_GOV) && strneq (role, FM_ROLE_MONITOR)
    &&  strneq (role, FM_ROLE_BROKER))
        problem = "role must be enterprise, officer, bank, gov, monitor or broker";
    //  Identity options that the role does not use would be ignored by
    //  the broker: refuse them rather than let the user believe otherwise
    if (!problem
    &&  ((enterprise && strneq (role, FM_ROLE_ENTERPRISE))
    ||   ((officer || grid) && strneq (role, FM_ROLE_OFFICER))
    ||   (bank && strneq (role, FM_ROLE_BANK))))
        problem = "an identity option does not belong to this role";
    if (problem) {
        fprintf (stderr, "finmatch keygen: %s\n", problem);
        return 2;
    }
    char *secret = zsys_sprintf ("%s_secret", out);
    assert (secret);
    struct stat st;
    if (stat (out, &st) == 0 || stat (secret, &st) == 0) {
        fprintf (stderr, "finmatch keygen: %s or %s exists: not overwriting a key\n",
                 out, secret);
        free (secret);
        return 2;
    }
    zcert_t *cert = zcert_new ();
    assert (cert);
    zcert_set_meta (cert, FM_CERT_ROLE, "%s", role);
    if (enterprise)
        zcert_set_meta (cert, FM_CERT_ENTERPRISE, "%s", enterprise);
    if (officer)
        zcert_set_meta (cert, FM_CERT_OFFICER, "%s", officer);
    if (grid)
        zcert_set_meta (cert, FM_CERT_GRID, "%s", grid);
    if (bank)
        zcert_set_meta (cert, FM_CERT_BANK, "%s", bank);
    if (name)
        zcert_set_meta (cert, FM_CERT_NAME, "%s", name);
    //  The secret first (czmq writes it under umask 077), then make sure
    //  of the mode whatever the umask was, then the public file
    int rc = zcert_save_secret (cert, secret);
    if (rc == 0)
        rc = chmod (secret, 0600);
    if (rc == 0)
        rc = zcert_save_public (cert, out);
    if (rc) {
        fprintf (stderr, "finmatch keygen: cannot write %s: %s\n", out, strerror (errno));
        remove (secret);
        remove (out);
    }
    else
        printf ("%s key %s\n  public: %s\n  secret: %s (mode 0600)\n",
                role, zcert_public_txt (cert), out, secret);
    zcert_destroy (&cert);
    free (secret);
    return rc? 2: 0;
}
