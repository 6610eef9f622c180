/*  =========================================================================
    cmd_request - `finmatch request`: ask every bank for financing offers

    One request from flags, or many from a CSV file (--file).  Either way
    the requests become rows that go through the same pipeline:

      parse + validate every row  ->  send over one fm_client, at most
      WINDOW rows between "sent" and "printed"  ->  match each reply to its
      row by request_id  ->  print rows in input order as they complete.

    The request id is computed before sending (fm_request_id_make), so a
    reply is matched by id and never by arrival order, and `--live` can
    subscribe to the request's events before the broker publishes any.
    Nothing is sent unless every row of the file is valid: a half-submitted
    file is harder to reason about than a refused one.

    Keys: the broker lets an enterprise key submit only for its own
    enterprise, so with --cert-dir DIR each row goes over a connection
    made with DIR/<enterprise>.cert: one connection per distinct
    enterprise, opened when its first row is sent and closed when none of
    its rows is in flight (so at most WINDOW are open).  Every key is
    loaded before anything is sent.  Without --cert-dir, one connection
    with --cert carries every row.

    Each row gets timeout_ms from the moment it was sent; rows are sent in
    order, so the oldest unprinted row always has the earliest deadline and
    is the only one the wait needs to consider.  Printing in input order
    with the window counted up to the print point bounds memory by WINDOW
    replies, whatever the size of the file.
    =========================================================================
*/

#include <czmq.h>
#include <getopt.h>
#include "fm_cli.h"
#include "fm_client.h"
#include "fm_ids.h"
#include "fm_mdp.h"
#include "fm_money.h"
#include "fm_text.h"
#include "fm_json.h"
#include "fm_print.h"
#include "fm_i18n.h"
#include "fm_report.h"

//  Rows between "sent" and "printed", at most.  Bounds broker load from
//  one CLI and the replies held for in-order printing.
#define WINDOW                  64
//  After --live's SUB socket has completed its handshake, the broker's
//  XPUB still has to apply the subscription, which it does asynchronously
//  and without any acknowledgement on the wire (7/MDP events carry no
//  welcome message).  This margin covers that last hop; see s_live_open.
#define LIVE_SETTLE_MS          50
//  How long --live waits for the event socket's handshake before going on
//  without a guarantee (the final result is printed in any case)
#define LIVE_CONNECT_MS         1000
//  After the result, how long --live waits for events still in flight on
//  the other socket (the two sockets are not ordered with each other)
#define LIVE_DRAIN_MS           500
//  Largest CSV header (distinct columns)
#define MAX_COLUMNS             16

typedef enum { ROW_NEW = 0, ROW_SENT, ROW_DONE } s_state_t;

typedef struct {
    fm_request_t request;               //  as sent
    char request_id [FM_REQUEST_ID_SIZE];
    size_t line;                        //  line in --file, 0 for flags
    bool has_enterprise;                //  required fields seen
    bool has_amount;
    bool has_term;
    bool has_consent;                   //  else default: all
    bool has_kinds;                     //  else default: loan
    bool has_type;
    s_state_t state;
    size_t conn;                        //  index into s_cmd_t.conns
    int64_t deadline;                   //  zclock_mono msecs, once sent
    int tries;                          //  sends so far (Lazy Pirate)
    fm_msg_t *reply;                    //  owned, once done (NULL: local error)
    int local_status;                   //  when reply is NULL: 504 or 500
    char local_text [FM_TEXT_SIZE];     //  when reply is NULL
    char best_offer [FM_OFFER_ID_SIZE]; //  campaign: the offer to accept, or ""
} s_row_t;

//  One connection to the broker and the keys it is made with
typedef struct {
    char enterprise [FM_ENTERPRISE_ID_SIZE];    //  "" when shared by all
    fm_curve_t *curve;                  //  owned; NULL with --insecure
    fm_client_t *client;                //  owned while open, else NULL
    size_t in_flight;                   //  rows sent, not yet done
} s_conn_t;

//  Command state
typedef struct {
    fm_cli_t *cli;                      //  borrowed from main
    bool live;
    const char *file;                   //  --file, or NULL
    s_row_t *rows;                      //  owned array
    size_t row_count;
    zhashx_t *by_id;                    //  request id -> row index + 1
    s_conn_t *conns;                    //  owned array
    size_t conn_count;
    bool per_enterprise;                //  --cert-dir: a conn per enterprise
    zpoller_t *poller;                  //  owned: open conns + events
    zsock_t *events;                    //  --live SUB socket, owned
    //  --live: events seen so far, to know when the drain is complete
    size_t seen_offers;
    size_t seen_declines;
    size_t seen_timeouts;
    //  finmatch campaign: rows are summarised, not printed, and a second
    //  round over the same rows sends ACCEPT for each row's best offer
    bool campaign;
    bool accept_best;                   //  --accept best
    bool accepting;                     //  in the ACCEPT round
    struct _s_summary_t *summary;       //  owned, campaign only
} s_cmd_t;

static void
s_usage (FILE *file)
{
    fprintf (file,
_("Usage: finmatch request --enterprise CODE --amount AMOUNT --term MONTHS [OPTIONS]\n"
"       finmatch request --file FILE [OPTIONS]\n"
"\n"
"Asks every bank for offers and prints them ranked by effective rate, every\n"
"decline with its reasons, and the banks that did not answer in time.\n"
"\n"
"  --enterprise CODE   18-character unified social credit code\n"
"  --amount AMOUNT     yuan: 3000000, 3,000,000.00, 300万, 0.3亿\n"
"  --term MONTHS       1..%d\n"
"  --purpose TEXT      what the money is for\n"
"  --grid GRID         the enterprise's grid (default: as registered)\n"
"  --collateral C      none|property|equipment|receivables|guarantee (default none)\n"
"  --consent LIST      data banks may see: tax,social_insurance,party_building,\n"
"                      or all, or none (default all)\n"
"  --kinds LIST        loan,insurance,guarantee or all (default loan)\n"
"  --type T            new|renewal (default new)\n"
"  --prior-loan ID     renewal: the loan being renewed\n"
"  --key KEY           idempotency key, 1..64 bytes (default: a fresh one).\n"
"                      The same key again replays the first result.\n"
"  --officer ID        submitted by this grid officer (金融网格员) on the\n"
"                      enterprise's behalf; the officer must serve the grid\n"
"  --live              print offers and declines the moment banks make them\n"
"  --json              one JSON object per line (fen, bp) instead of tables\n"
"  -h, --help          this help\n"
"\n"
"--file FILE: CSV, first row a header whose column names are the flag names\n"
"(enterprise,amount,term,purpose,grid,collateral,consent,kinds,type,\n"
"prior_loan,key,officer); only enterprise, amount and term are required.\n"
"Fields may be double-quoted (RFC 4180, on one line).  Inside a field, lists\n"
"use ';' or '|' (\"tax;party_building\").  Empty fields take the default; flags given\n"
"with --file are defaults for every row.  Blank lines and lines starting\n"
"with '#' are skipped.  Every row is checked before anything is sent; all\n"
"rows are then submitted concurrently (at most %d in flight) and printed in\n"
"file order.  With --json, each row is one line with its \"line\" number.\n"
"\n"
"Exit: 0 offers received, 1 refused or no offer, 2 bad input,\n"
"      3 broker did not answer; with --file, the worst row's code.\n"),
             FM_MAX_TERM_MONTHS, WINDOW);
    fputs (_("\nKeys: an enterprise key may submit only for its own enterprise.\n"
"  --cert-dir DIR      connect as the enterprise of each request, with\n"
"                      DIR/CODE.cert and DIR/CODE.cert_secret (made by\n"
"                      finmatch keygen --role enterprise --enterprise CODE\n"
"                      --out DIR/CODE.cert): one connection per distinct\n"
"                      enterprise of --file; every key is checked before\n"
"                      anything is sent.  Also a global option.\n"
"Without --cert-dir, every request goes with --cert FILE.  --live needs a\n"
"monitor key (--cert) to read the event stream.\n"), file);
}

//  -------------------------------------------------------------------------
//  Field parsing, shared by flags and CSV columns.  Each returns 0, or -1
//  with a message in err naming the field and the problem.

static int
s_copy_text (const char *name, const char *value, char *dest, size_t size,
             char *err, size_t err_size)
{
    size_t length = strlen (value);
    if (length >= size) {
        snprintf (err, err_size, _("%s: too long (%zu bytes, at most %zu)"),
                  name, length, size - 1);
        return -1;
    }
    if (!fm_utf8_valid (value, length)) {
        snprintf (err, err_size, _("%s: not valid UTF-8 text"), name);
        return -1;
    }
    memcpy (dest, value, length + 1);
    return 0;
}

static int
s_parse_enterprise (const char *value, char *dest, char *err, size_t size)
{
    if (fm_credit_code_valid (value)) {
        strcpy (dest, value);
        return 0;
    }
    char why [FM_TEXT_SIZE];
    fm_print_credit_code_problem (value, why, sizeof why);
    snprintf (err, size, _("enterprise %s"), why);
    return -1;
}

//  Split a list on ',', ';' or '|' and call back for each trimmed item.
//  Returns 0, or -1 with err filled by the callback or for an empty list.
typedef int (s_item_fn) (const char *item, uint32_t *bits);

static int
s_parse_list (const char *name, const char *value, s_item_fn *item_fn,
              uint32_t *bits, char *err, size_t size)
{
    char copy [FM_TEXT_SIZE];
    if (strlen (value) >= sizeof copy) {
        snprintf (err, size, _("%s: list too long"), name);
        return -1;
    }
    strcpy (copy, value);
    *bits = 0;
    size_t items = 0;
    bool special = false;               //  "all" or "none" seen
    char *save = NULL;
    for (char *item = strtok_r (copy, ",;|", &save); item;
               item = strtok_r (NULL, ",;|", &save)) {
        while (*item == ' ')
            item++;
        char *end = item + strlen (item);
        while (end > item && end [-1] == ' ')
            *--end = 0;
        if (*item == 0)
            continue;
        items++;
        if (streq (item, "all") || streq (item, "none"))
            special = true;
        if (item_fn (item, bits)) {
            snprintf (err, size, _("%s: unknown item '%.40s'"), name, item);
            return -1;
        }
    }
    if (items == 0) {
        snprintf (err, size, _("%s: empty list (use 'none')"), name);
        return -1;
    }
    if (special && items > 1) {
        snprintf (err, size, _("%s: 'all' and 'none' stand alone"), name);
        return -1;
    }
    return 0;
}

static int
s_consent_item (const char *item, uint32_t *bits)
{
    if (streq (item, "tax"))
        *bits |= FM_CONSENT_TAX;
    else
    if (streq (item, "social_insurance"))
        *bits |= FM_CONSENT_SOCIAL;
    else
    if (streq (item, "party_building"))
        *bits |= FM_CONSENT_PARTY;
    else
    if (streq (item, "all"))
        *bits |= FM_CONSENT_ALL;
    else
    if (!streq (item, "none"))
        return -1;
    return 0;
}

static int
s_kind_item (const char *item, uint32_t *bits)
{
    fm_kind_t kind;
    if (streq (item, "all"))
        *bits |= FM_KIND_BIT (FM_KIND_LOAN) | FM_KIND_BIT (FM_KIND_INSURANCE)
               | FM_KIND_BIT (FM_KIND_GUARANTEE);
    else
    if (fm_kind_parse (item, &kind) == 0)
        *bits |= FM_KIND_BIT (kind);
    else
        return -1;
    return 0;
}

//  Set one field of row by its flag/column name from text.  An empty value
//  leaves the default.  Returns 0, or -1 with err filled.
static int
s_row_set (s_row_t *row, const char *name, const char *value,
           char *err, size_t size)
{
    fm_request_t *request = &row->request;
    if (*value == 0)
        return 0;
    if (streq (name, "enterprise")) {
        row->has_enterprise = true;
        return s_parse_enterprise (value, request->enterprise_id, err, size);
    }
    if (streq (name, "amount")) {
        int64_t fen;
        if (fm_money_parse (value, &fen)) {
            snprintf (err, size, _("amount '%.40s': not an amount of yuan "
                      "(e.g. 3000000, 300万, 0.3亿)"), value);
            return -1;
        }
        if (fen <= 0 || fen > FM_MAX_AMOUNT_FEN) {
            snprintf (err, size, _("amount '%.40s': must be above 0 and at "
                      "most 1000亿"), value);
            return -1;
        }
        request->amount_fen = fen;
        row->has_amount = true;
        return 0;
    }
    if (streq (name, "term")) {
        char *end;
        errno = 0;
        long term = strtol (value, &end, 10);
        if (errno || *end || end == value || term < 1
        ||  term > FM_MAX_TERM_MONTHS || !isdigit ((unsigned char) *value)) {
            snprintf (err, size, _("term '%.40s': months, 1..%d"),
                      value, FM_MAX_TERM_MONTHS);
            return -1;
        }
        request->term_months = (uint16_t) term;
        row->has_term = true;
        return 0;
    }
    if (streq (name, "purpose"))
        return s_copy_text (name, value, request->purpose,
                            sizeof request->purpose, err, size);
    if (streq (name, "grid"))
        return s_copy_text (name, value, request->grid_id,
                            sizeof request->grid_id, err, size);
    if (streq (name, "prior_loan") || streq (name, "prior-loan"))
        return s_copy_text ("prior_loan", value, request->prior_loan_id,
                            sizeof request->prior_loan_id, err, size);
    if (streq (name, "key"))
        return s_copy_text (name, value, request->idem_key,
                            sizeof request->idem_key, err, size);
    if (streq (name, "officer"))
        return s_copy_text (name, value, request->submitted_by,
                            sizeof request->submitted_by, err, size);
    if (streq (name, "collateral")) {
        if (fm_collateral_parse (value, &request->collateral) == 0)
            return 0;
        snprintf (err, size, _("collateral '%.40s': one of none, property, "
                  "equipment, receivables, guarantee"), value);
        return -1;
    }
    if (streq (name, "type")) {
        row->has_type = true;
        if (fm_req_type_parse (value, &request->type) == 0)
            return 0;
        snprintf (err, size, _("type '%.40s': new or renewal"), value);
        return -1;
    }
    if (streq (name, "consent")) {
        row->has_consent = true;
        return s_parse_list (name, value, s_consent_item, &request->consent,
                             err, size);
    }
    if (streq (name, "kinds")) {
        row->has_kinds = true;
        return s_parse_list (name, value, s_kind_item, &request->kinds,
                             err, size);
    }
    snprintf (err, size, _("unknown field '%.40s'"), name);
    return -1;
}

//  True if name is a CSV column we know
static bool
s_column_known (const char *name)
{
    static const char *columns [] = {
        "enterprise", "amount", "term", "purpose", "grid", "collateral",
        "consent", "kinds", "type", "prior_loan", "key", "officer"
    };
    for (size_t index = 0; index < sizeof columns / sizeof columns [0]; index++)
        if (streq (name, columns [index]))
            return true;
    return false;
}

//  Complete a row once all its fields are set: required fields, defaults,
//  key, request id, and the codec's own validation (msg is scratch).
//  Returns 0, or -1 with err filled.
static int
s_row_finish (s_row_t *row, fm_msg_t *msg, char *err, size_t size)
{
    fm_request_t *request = &row->request;
    const char *missing = !row->has_enterprise? "enterprise"
                        : !row->has_amount? "amount"
                        : !row->has_term? "term": NULL;
    if (missing) {
        snprintf (err, size, _("%s is required"), missing);
        return -1;
    }
    if (!row->has_consent)
        request->consent = FM_CONSENT_ALL;
    if (!row->has_kinds)
        request->kinds = FM_KIND_BIT (FM_KIND_LOAN);
    if (*request->prior_loan_id && request->type != FM_REQ_RENEWAL) {
        snprintf (err, size, _("prior_loan applies to type renewal only"));
        return -1;
    }
    if (*request->idem_key == 0)
        fm_idem_key_make (request->idem_key);
    fm_request_id_make (request->enterprise_id, request->idem_key,
                        row->request_id);

    //  Last word to the codec: it knows every bound on the wire
    msg->request = *request;
    strcpy (msg->request_id, row->request_id);
    fm_error_t error;
    if (fm_msg_validate (msg, &error)) {
        snprintf (err, size, "%s", error.text);
        return -1;
    }
    return 0;
}

//  -------------------------------------------------------------------------
//  CSV

//  Split line in place into fields (RFC 4180 on one line: "..." quoting
//  with "" for a quote; spaces around unquoted fields trimmed).  Returns
//  the number of fields, or -1 on a quoting error or more than max fields.
static int
s_csv_split (char *line, char **fields, int max)
{
    int count = 0;
    char *read = line;
    while (true) {
        if (count == max)
            return -1;
        while (*read == ' ')
            read++;
        char *write = read;
        fields [count++] = write;
        if (*read == '"') {
            read++;
            while (true) {
                if (*read == 0)
                    return -1;              //  unterminated quote
                if (*read == '"') {
                    if (read [1] == '"') {
                        *write++ = '"';
                        read += 2;
                        continue;
                    }
                    read++;
                    break;
                }
                *write++ = *read++;
            }
            while (*read == ' ')
                read++;
            if (*read != ',' && *read != 0)
                return -1;                  //  text after closing quote
        }
        else {
            while (*read && *read != ',')
                *write++ = *read++;
            while (write > fields [count - 1] && write [-1] == ' ')
                write--;
        }
        bool more = *read == ',';
        *write = 0;
        if (!more)
            return count;
        read++;
    }
}

//  Append a row.  Returns the new row (zeroed copy of template), or NULL
//  when out of memory.
static s_row_t *
s_rows_append (s_cmd_t *self, const s_row_t *template)
{
    if ((self->row_count & (self->row_count - 1)) == 0) {
        //  Grow at powers of two
        size_t capacity = self->row_count? self->row_count * 2: 1;
        s_row_t *rows = realloc (self->rows, capacity * sizeof (s_row_t));
        if (!rows)
            return NULL;
        self->rows = rows;
    }
    s_row_t *row = &self->rows [self->row_count++];
    *row = *template;
    return row;
}

//  Register row's request id; a second row with the same id is an error
//  (same enterprise and key would make the broker replay one result).
//  Returns 0, or -1 with err filled.
static int
s_row_register (s_cmd_t *self, size_t index, char *err, size_t size)
{
    s_row_t *row = &self->rows [index];
    uintptr_t other = (uintptr_t) zhashx_lookup (self->by_id, row->request_id);
    if (other) {
        snprintf (err, size, _("same enterprise and key as line %zu "
                  "(request %s)"), self->rows [other - 1].line, row->request_id);
        return -1;
    }
    zhashx_insert (self->by_id, row->request_id, (void *) (uintptr_t) (index + 1));
    return 0;
}

//  Read every row of the CSV file, each starting as a copy of template.
//  Prints "file:line: problem" for every bad row.  Returns 0 if all rows
//  are valid, else -1.
static int
s_load_file (s_cmd_t *self, const s_row_t *template, fm_msg_t *scratch)
{
    FILE *file = fopen (self->file, "r");
    if (!file) {
        fprintf (stderr, _("finmatch request: %s: %s\n"), self->file,
                 strerror (errno));
        return -1;
    }
    char *line = NULL;
    size_t line_size = 0;
    size_t line_no = 0;
    size_t errors = 0;
    char *header_line = NULL;          //  owned copy, fields point into it
    char *columns [MAX_COLUMNS];
    int column_count = 0;
    char err [FM_TEXT_SIZE + 64];

    ssize_t length;
    while ((length = getline (&line, &line_size, file)) != -1) {
        line_no++;
        while (length > 0 && (line [length - 1] == '\n' || line [length - 1] == '\r'))
            line [--length] = 0;
        char *text = line;
        if (line_no == 1 && memcmp (text, "\xEF\xBB\xBF", 3) == 0)
            text += 3;                  //  UTF-8 BOM some spreadsheets write
        if (*text == 0 || *text == '#')
            continue;
        if (!fm_utf8_valid (text, strlen (text))) {
            fprintf (stderr, _("%s:%zu: not valid UTF-8 text\n"), self->file, line_no);
            errors++;
            continue;
        }
        if (!header_line) {
            header_line = strdup (text);
            if (!header_line)
                break;
            column_count = s_csv_split (header_line, columns, MAX_COLUMNS);
            if (column_count < 0) {
                fprintf (stderr, _("%s:%zu: bad header (quoting, or more than "
                         "%d columns)\n"), self->file, line_no, MAX_COLUMNS);
                errors++;
                break;
            }
            for (int col = 0; col < column_count; col++) {
                if (!s_column_known (columns [col])) {
                    fprintf (stderr, _("%s:%zu: unknown column '%s' (known: "
                             "enterprise,amount,term,purpose,grid,collateral,"
                             "consent,kinds,type,prior_loan,key,officer)\n"),
                             self->file, line_no, columns [col]);
                    errors++;
                }
                for (int other = 0; other < col; other++)
                    if (streq (columns [col], columns [other])) {
                        fprintf (stderr, _("%s:%zu: column '%s' twice\n"),
                                 self->file, line_no, columns [col]);
                        errors++;
                    }
                if (streq (columns [col], "key") && *template->request.idem_key) {
                    fprintf (stderr, _("%s:%zu: --key and a key column exclude "
                             "each other\n"), self->file, line_no);
                    errors++;
                }
            }
            if (errors)
                break;
            continue;
        }
        char *fields [MAX_COLUMNS];
        int count = s_csv_split (text, fields, MAX_COLUMNS);
        if (count != column_count) {
            if (count < 0)
                fprintf (stderr, _("%s:%zu: bad quoting or too many fields\n"),
                         self->file, line_no);
            else
                fprintf (stderr, _("%s:%zu: %d fields, the header has %d\n"),
                         self->file, line_no, count, column_count);
            errors++;
            continue;
        }
        s_row_t *row = s_rows_append (self, template);
        if (!row) {
            fputs (_("finmatch request: out of memory\n"), stderr);
            errors++;
            break;
        }
        row->line = line_no;
        int rc = 0;
        for (int col = 0; col < count && rc == 0; col++)
            rc = s_row_set (row, columns [col], fields [col], err, sizeof err);
        if (rc == 0)
            rc = s_row_finish (row, scratch, err, sizeof err);
        if (rc == 0)
            rc = s_row_register (self, self->row_count - 1, err, sizeof err);
        if (rc) {
            fprintf (stderr, "%s:%zu: %s\n", self->file, line_no, err);
            errors++;
            self->row_count--;          //  drop it, keep checking the rest
        }
    }
    if (ferror (file)) {
        fprintf (stderr, _("finmatch request: %s: read error\n"), self->file);
        errors++;
    }
    else
    if (!header_line && errors == 0) {
        fprintf (stderr, _("%s: empty file (a header row is required)\n"), self->file);
        errors++;
    }
    else
    if (errors == 0 && self->row_count == 0) {
        fprintf (stderr, _("%s: no request rows after the header\n"), self->file);
        errors++;
    }
    free (line);
    free (header_line);
    fclose (file);
    return errors? -1: 0;
}

//  -------------------------------------------------------------------------
//  --live: the event subscription

//  Open a SUB socket on the event endpoint for this request's offer,
//  decline and timeout events, and wait (bounded) until it is connected
//  to the broker.  SUB drops whatever is published before its
//  subscription reaches the publisher, and the broker publishes offers a
//  few milliseconds after our request: so we watch the socket's handshake
//  through a monitor (a poll on a condition, not a guess), make the socket
//  attach the new pipe, which sends the subscriptions, and give the
//  broker's XPUB LIVE_SETTLE_MS to apply them, as nothing on the wire
//  acknowledges a subscription.  Returns the socket (caller owns), or NULL
//  if it cannot be created; a broker that does not answer only costs the
//  guarantee (warned), never the final result.
static zsock_t *
s_live_open (const char *endpoint, const char *request_id, fm_curve_t *curve)
{
    zsock_t *sub = zsock_new (ZMQ_SUB);
    if (!sub)
        return NULL;
    if (curve) {
        //  The broker admits monitor keys only to the event stream (SPEC
        //  "Security"): with any other key, go on without live lines
        const char *role = fm_curve_meta (curve, FM_CERT_ROLE);
        if (!role || strneq (role, FM_ROLE_MONITOR)) {
            fprintf (stderr, "finmatch request: --live needs a monitor "
                     "certificate; showing the result only\n");
            return sub;             //  never connected: no events
        }
        fm_curve_apply_client (curve, sub);
    }
    const char *types [] = { "offer.made.", "decline.made.", "bank.timeout." };
    for (size_t index = 0; index < 3; index++) {
        char topic [96];
        snprintf (topic, sizeof topic, "%s%s", types [index], request_id);
        zsock_set_subscribe (sub, topic);
    }
    //  The monitor must exist before connect, or the handshake may be over
    //  before we listen for it
    const char *monitor_endpoint = "inproc://finmatch-live-monitor";
    zsock_t *monitor = NULL;
    if (zmq_socket_monitor (zsock_resolve (sub), monitor_endpoint,
                            ZMQ_EVENT_HANDSHAKE_SUCCEEDED) == 0)
        monitor = zsock_new_pair (">inproc://finmatch-live-monitor");
    if (zsock_connect (sub, "%s", endpoint)) {
        fprintf (stderr, _("finmatch request: bad events endpoint '%s'\n"), endpoint);
        zsock_destroy (&monitor);
        zsock_destroy (&sub);
        return NULL;
    }
    bool connected = false;
    if (monitor) {
        int64_t deadline = zclock_mono () + LIVE_CONNECT_MS;
        zpoller_t *poller = zpoller_new (monitor, NULL);
        while (!connected && poller) {
            int64_t wait = deadline - zclock_mono ();
            if (wait <= 0 || !zpoller_wait (poller, (int) wait))
                break;
            zmsg_t *note = zmsg_recv (monitor);
            zframe_t *head = note? zmsg_first (note): NULL;
            //  Frame 1 of a monitor event: uint16 event id, uint32 value
            if (head && zframe_size (head) >= 2) {
                uint16_t event;
                memcpy (&event, zframe_data (head), 2);
                connected = event == ZMQ_EVENT_HANDSHAKE_SUCCEEDED;
            }
            zmsg_destroy (&note);
        }
        zpoller_destroy (&poller);
        zmq_socket_monitor (zsock_resolve (sub), NULL, 0);
        zsock_destroy (&monitor);
    }
    if (connected) {
        //  Reading ZMQ_EVENTS makes the socket process its pending
        //  commands: the new pipe is attached and the subscriptions go out
        zsock_events (sub);
        zclock_sleep (LIVE_SETTLE_MS);
    }
    else
        fprintf (stderr, _("finmatch request: event stream %s not connected "
                 "within %d ms; live lines may be missing\n"),
                 endpoint, LIVE_CONNECT_MS);
    return sub;
}

//  Read one event from the live socket and print it.  Counts what the
//  final drain waits for.
static void
s_live_event (s_cmd_t *self)
{
    fm_event_t event;
    fm_error_t err;
    if (fm_events_recv (self->events, &event, &err)) {
        if (err.status)
            zsys_warning ("bad event dropped: %u %s", err.status, err.text);
        return;
    }
    if (event.type == FM_EV_OFFER_MADE)
        self->seen_offers++;
    else
    if (event.type == FM_EV_DECLINE_MADE)
        self->seen_declines++;
    else
    if (event.type == FM_EV_BANK_TIMEOUT)
        self->seen_timeouts++;
    if (self->cli->json) {
        json_t *json = fm_json_event (&event);
        fm_json_print (&json, stdout);
    }
    else {
        fputs (_("  live "), stdout);
        fm_print_event (stdout, &event);
        fflush (stdout);
    }
}

//  The result and the events travel on different sockets, so some events
//  may still be on their way when the result arrives.  Wait until every
//  offer, decline and timeout the result lists has been seen live, at most
//  LIVE_DRAIN_MS (a replayed result publishes no new events).
static void
s_live_drain (s_cmd_t *self, const fm_msg_t *reply)
{
    if (!reply || reply->type != FM_MSG_RESULT)
        return;
    zpoller_t *poller = zpoller_new (self->events, NULL);
    int64_t deadline = zclock_mono () + LIVE_DRAIN_MS;
    while (poller
    &&    (self->seen_offers < reply->offer_count
    ||     self->seen_declines < reply->decline_count
    ||     self->seen_timeouts < reply->timed_out_count)) {
        int64_t wait = deadline - zclock_mono ();
        if (wait <= 0 || !zpoller_wait (poller, (int) wait))
            break;
        s_live_event (self);
    }
    zpoller_destroy (&poller);
}

//  -------------------------------------------------------------------------
//  Sending, matching, printing

//  Exit code of one finished row (fm_cli.h)
static int
s_row_exit (const s_row_t *row)
{
    if (!row->reply)
        return 3;
    if (row->reply->type == FM_MSG_RESULT
    &&  row->reply->status == FM_STATUS_OK && row->reply->offer_count > 0)
        return 0;
    return 1;
}

static void
s_row_print (s_cmd_t *self, s_row_t *row)
{
    if (self->cli->json) {
        json_t *json = row->reply
                     ? fm_json_reply (row->reply)
                     : fm_json_error (row->request_id, row->local_status,
                                      row->local_text, true);
        if (json && self->file)
            json_object_set_new (json, "line", json_integer ((json_int_t) row->line));
        fm_json_print (&json, stdout);
        return;
    }
    if (self->file)
        printf ("[%s:%zu] ", self->file, row->line);
    if (!self->live)                    //  --live printed it before sending
        fm_print_request (stdout, row->request_id, &row->request);
    if (row->reply) {
        if (self->live)
            fputs (_("Final result:\n"), stdout);
        fm_print_reply (stdout, row->reply);
    }
    else
        printf (_("Error %d: %s\n"), row->local_status, row->local_text);
    if (self->file)
        printf ("\n");
    fflush (stdout);
}

//  -------------------------------------------------------------------------
//  finmatch campaign: a batch of requests, summarised (政银企对接活动)

//  What a campaign adds up.  Sets hold bank codes or credit codes (keys
//  only).  Money in fen, rates in bp; no float.
typedef struct _s_summary_t {
    size_t requests;                    //  rows noted in the request round
    size_t with_offers;                 //  RESULT 200 with at least one offer
    size_t refused;                     //  ERROR, or RESULT without offers
    size_t unanswered;                  //  no reply within the timeout
    size_t offers;                      //  offers over all rows
    zhashx_t *offering;                 //  banks that made an offer (set)
    int64_t offered_fen;                //  Σ amount of each row's best offer
    size_t accepts;                     //  ACCEPT sent
    size_t loans;                       //  CONFIRMATION granted
    size_t not_granted;                 //  refused, withdrawn or unanswered
    size_t accepts_unanswered;          //  of those, no reply in time
    zhashx_t *granting;                 //  banks that granted a loan (set)
    zhashx_t *served;                   //  enterprises with a loan (set)
    int64_t granted_fen;                //  Σ amount of the granted loans
    int64_t reduction_bp;               //  Σ base - effective over the loans
} s_summary_t;

//  Returns a new summary, or NULL if out of memory.
static s_summary_t *
s_summary_new (void)
{
    s_summary_t *self = (s_summary_t *) calloc (1, sizeof (s_summary_t));
    if (!self)
        return NULL;
    self->offering = zhashx_new ();
    self->granting = zhashx_new ();
    self->served = zhashx_new ();
    if (!self->offering || !self->granting || !self->served) {
        zhashx_destroy (&self->offering);
        zhashx_destroy (&self->granting);
        zhashx_destroy (&self->served);
        free (self);
        return NULL;
    }
    return self;
}

static void
s_summary_destroy (s_summary_t **self_p)
{
    if (*self_p) {
        zhashx_destroy (&(*self_p)->offering);
        zhashx_destroy (&(*self_p)->granting);
        zhashx_destroy (&(*self_p)->served);
        free (*self_p);
        *self_p = NULL;
    }
}

//  One line on stderr for a row that did not go through, so a batch of
//  hundreds still says which line failed and why
static void
s_campaign_complain (s_cmd_t *self, const s_row_t *row, const char *what)
{
    const fm_msg_t *reply = row->reply;
    int status = reply? (int) reply->status: row->local_status;
    const char *text = reply? reply->text: row->local_text;
    if (reply && reply->type == FM_MSG_CONFIRMATION) {
        status = 0;
        text = reply->confirmation.text;
    }
    fprintf (stderr, "%s:%zu: %s %s: %d %s\n", self->file, row->line, what,
             row->request_id, status, text);
}

//  Note a finished row of either round in the summary (the reply is not
//  printed).  In the request round, pick the offer the ACCEPT round will
//  take: the best-ranked loan offer, else the best-ranked offer (the
//  broker ranks by effective rate).  Returns the row's exit code.
static int
s_campaign_note (s_cmd_t *self, s_row_t *row)
{
    s_summary_t *sum = self->summary;
    const fm_msg_t *reply = row->reply;
    if (!self->accepting) {
        sum->requests++;
        *row->best_offer = 0;
        if (!reply) {
            sum->unanswered++;
            s_campaign_complain (self, row, _("no answer to request"));
            return 3;
        }
        if (reply->type != FM_MSG_RESULT || reply->status != FM_STATUS_OK
        ||  reply->offer_count == 0) {
            sum->refused++;
            if (reply->type != FM_MSG_RESULT || reply->status != FM_STATUS_OK)
                s_campaign_complain (self, row, _("request refused"));
            return 1;
        }
        sum->with_offers++;
        sum->offers += reply->offer_count;
        const fm_offer_t *best = NULL;
        for (size_t index = 0; index < reply->offer_count; index++) {
            const fm_offer_t *offer = &reply->offers [index];
            zhashx_insert (sum->offering, offer->bank, (void *) "");
            if (!best && offer->kind == FM_KIND_LOAN)
                best = offer;
        }
        if (!best)
            best = &reply->offers [0];
        sum->offered_fen += best->amount_fen;
        if (self->accept_best)
            strcpy (row->best_offer, best->offer_id);
        return 0;
    }
    if (*row->best_offer == 0)
        return 0;                       //  nothing was accepted for it
    sum->accepts++;
    if (reply && reply->type == FM_MSG_CONFIRMATION && reply->confirmation.granted) {
        const fm_confirmation_t *loan = &reply->confirmation;
        sum->loans++;
        sum->granted_fen += loan->amount_fen;
        sum->reduction_bp += loan->base_rate_bp - loan->effective_rate_bp;
        zhashx_insert (sum->granting, loan->bank, (void *) "");
        zhashx_insert (sum->served, row->request.enterprise_id, (void *) "");
        return 0;
    }
    sum->not_granted++;
    if (!reply)
        sum->accepts_unanswered++;
    s_campaign_complain (self, row, _("offer not granted for"));
    return reply? 1: 3;
}

//  Print the campaign summary (table or one JSON object).  Returns the
//  exit code: 3 if a request or an acceptance went unanswered, else 1 if
//  no request received an offer, else 0.
static int
s_campaign_print (s_cmd_t *self)
{
    s_summary_t *sum = self->summary;
    //  Mean reduction in tenths of a bp, rounded half up (values are >= 0)
    int64_t tenths = sum->loans
        ? (sum->reduction_bp * 20 + (int64_t) sum->loans) / (2 * (int64_t) sum->loans): 0;
    if (self->cli->json) {
        json_t *json = json_pack ("{s:s, s:s, s:I, s:I, s:I, s:I, s:I, s:I, s:I,"
                                  " s:I, s:I, s:I, s:I, s:I, s:I, s:I}",
            "type", "campaign", "file", self->file,
            "requests", (json_int_t) sum->requests,
            "with_offers", (json_int_t) sum->with_offers,
            "refused", (json_int_t) sum->refused,
            "unanswered", (json_int_t) sum->unanswered,
            "offers", (json_int_t) sum->offers,
            "institutions_offering", (json_int_t) zhashx_size (sum->offering),
            "offered_fen", (json_int_t) sum->offered_fen,
            "accepted", (json_int_t) sum->accepts,
            "loans", (json_int_t) sum->loans,
            "not_granted", (json_int_t) sum->not_granted,
            "institutions_granting", (json_int_t) zhashx_size (sum->granting),
            "enterprises_served", (json_int_t) zhashx_size (sum->served),
            "granted_fen", (json_int_t) sum->granted_fen,
            "avg_reduction_tenth_bp", (json_int_t) tenths);
        fm_json_print (&json, stdout);
    }
    else {
        char money [64], cell [32];
        printf (_("Campaign %s\n"), self->file);
        fm_table_t *table = fm_table_new (2);
        assert (table);
        fm_table_column (table, 0, _("Figure"), FM_ALIGN_LEFT, 0);
        fm_table_column (table, 1, _("Value"), FM_ALIGN_RIGHT, 0);
        fm_table_rowf (table, "%s\t%zu", _("Requests submitted"), sum->requests);
        fm_table_rowf (table, "%s\t%zu", _("Requests with offers"), sum->with_offers);
        fm_table_rowf (table, "%s\t%zu", _("Requests refused or without offer"),
                       sum->refused);
        fm_table_rowf (table, "%s\t%zu", _("Requests unanswered"), sum->unanswered);
        fm_table_rowf (table, "%s\t%zu", _("Offers"), sum->offers);
        fm_table_rowf (table, "%s\t%zu", _("Institutions offering"),
                       zhashx_size (sum->offering));
        fm_table_rowf (table, "%s\t%s", _("Credit offered (best offer each)"),
                       fm_i18n_money (sum->offered_fen, money, sizeof money));
        if (self->accept_best) {
            fm_table_rowf (table, "%s\t%zu", _("Offers accepted"), sum->accepts);
            fm_table_rowf (table, "%s\t%zu", _("Loans granted"), sum->loans);
            fm_table_rowf (table, "%s\t%zu", _("Institutions granting"),
                           zhashx_size (sum->granting));
            fm_table_rowf (table, "%s\t%zu", _("Enterprises served"),
                           zhashx_size (sum->served));
            fm_table_rowf (table, "%s\t%s", _("Credit accepted"),
                           fm_i18n_money (sum->granted_fen, money, sizeof money));
            fm_table_rowf (table, "%s\t%s BP", _("Average rate reduction"),
                           fm_report_tenths (tenths, cell, sizeof cell));
        }
        fm_table_print (table, stdout);
        fm_table_destroy (&table);
        fflush (stdout);
    }
    if (sum->unanswered || sum->accepts_unanswered)
        return 3;
    return sum->with_offers? 0: 1;
}

//  Connections: one per distinct enterprise with --cert-dir, else one.
//  Load every key now, so a missing key stops the command before anything
//  is sent.  Returns 0, or -1 after printing why.
static int
s_conns_prepare (s_cmd_t *self)
{
    fm_cli_t *cli = self->cli;
    self->per_enterprise = !cli->insecure && cli->cert_dir && *cli->cert_dir;
    self->conns = (s_conn_t *) calloc (self->per_enterprise? self->row_count: 1,
                                       sizeof (s_conn_t));
    zhashx_t *by_enterprise = zhashx_new ();    //  code -> conn index + 1
    if (!self->conns || !by_enterprise) {
        fputs (_("finmatch request: out of memory\n"), stderr);
        zhashx_destroy (&by_enterprise);
        return -1;
    }
    int rc = 0;
    for (size_t index = 0; index < self->row_count && rc == 0; index++) {
        s_row_t *row = &self->rows [index];
        const char *enterprise = self->per_enterprise? row->request.enterprise_id: "";
        uintptr_t found = (uintptr_t) zhashx_lookup (by_enterprise, enterprise);
        if (found) {
            row->conn = found - 1;
            continue;
        }
        s_conn_t *conn = &self->conns [self->conn_count];
        snprintf (conn->enterprise, sizeof conn->enterprise, "%s", enterprise);
        if (fm_cli_enterprise_keys (cli, self->per_enterprise? enterprise: NULL,
                                    &conn->curve)) {
            if (self->file)
                fprintf (stderr, _("%s:%zu: no key to submit this request\n"),
                         self->file, row->line);
            rc = -1;
            break;
        }
        row->conn = self->conn_count++;
        zhashx_insert (by_enterprise, enterprise, (void *) (uintptr_t) self->conn_count);
    }
    zhashx_destroy (&by_enterprise);
    return rc;
}

//  Open conn if it is not open.  Returns 0, or -1 (bad endpoint).
static int
s_conn_open (s_cmd_t *self, s_conn_t *conn)
{
    if (conn->client)
        return 0;
    conn->client = fm_client_new_secure (self->cli->broker, conn->curve);
    if (!conn->client)
        return -1;
    zpoller_add (self->poller, fm_client_sock (conn->client));
    return 0;
}

//  A row of conn is done (answered, timed out or failed to send).  With a
//  connection per enterprise, close it when nothing of it is in flight:
//  a late reply then has nowhere to arrive, which is what we want.
static void
s_conn_row_done (s_cmd_t *self, s_conn_t *conn)
{
    assert (conn->in_flight > 0);       //  only sent rows get here
    conn->in_flight--;
    if (self->per_enterprise && conn->in_flight == 0 && conn->client) {
        zpoller_remove (self->poller, fm_client_sock (conn->client));
        fm_client_destroy (&conn->client);
    }
}

static void
s_row_send (s_cmd_t *self, s_row_t *row, fm_msg_t *msg)
{
    if (self->accepting && *row->best_offer == 0) {
        //  Campaign ACCEPT round: nothing to accept for this row
        row->state = ROW_DONE;
        return;
    }
    msg->request = row->request;
    strcpy (msg->request_id, row->request_id);
    if (self->accepting)
        strcpy (msg->offer_id, row->best_offer);
    fm_error_t err = { 0 };
    row->deadline = zclock_mono () + self->cli->timeout_ms;
    s_conn_t *conn = &self->conns [row->conn];
    if (s_conn_open (self, conn)) {
        row->state = ROW_DONE;
        row->local_status = FM_STATUS_INTERNAL;
        snprintf (row->local_text, sizeof row->local_text,
                  _("bad broker endpoint '%.60s'"), self->cli->broker);
        return;
    }
    conn->in_flight++;
    row->tries++;
    if (fm_client_send (conn->client, self->accepting? FM_SERVICE_ACCEPT
                                                     : FM_SERVICE_REQUEST, msg, &err)) {
        s_conn_row_done (self, conn);
        row->state = ROW_DONE;
        row->local_status = FM_STATUS_INTERNAL;
        snprintf (row->local_text, sizeof row->local_text,
                  _("cannot send to %.60s: %.160s"), self->cli->broker,
                  *err.text? err.text: "send failed");
        return;
    }
    row->state = ROW_SENT;
    if (self->cli->verbose)
        zsys_debug ("sent request %s (line %zu)", row->request_id, row->line);
}

//  Take one reply off conn's socket and attach it to its row
static void
s_take_reply (s_cmd_t *self, s_conn_t *conn, size_t first, size_t last)
{
    fm_error_t err = { 0 };
    fm_msg_t *reply = fm_client_recv (conn->client, 0, &err);
    if (!reply) {
        if (err.status && err.status != FM_STATUS_TIMEOUT)
            zsys_warning ("undecodable reply dropped: %u %s",
                          err.status, err.text);
        return;
    }
    size_t index = 0;
    uintptr_t found = *reply->request_id
        ? (uintptr_t) zhashx_lookup (self->by_id, reply->request_id): 0;
    if (found)
        index = found - 1;
    else {
        //  An ERROR without request id (the broker could not read ours):
        //  it belongs to a row only if exactly one is in flight on conn
        size_t in_flight = 0;
        for (size_t scan = first; scan < last; scan++)
            if (self->rows [scan].state == ROW_SENT
            &&  &self->conns [self->rows [scan].conn] == conn) {
                in_flight++;
                index = scan;
            }
        if (in_flight != 1) {
            zsys_warning ("reply %s for no known request dropped (%u %s)",
                          fm_msg_type_name (reply->type),
                          (unsigned) reply->status, reply->text);
            fm_msg_destroy (&reply);
            return;
        }
    }
    s_row_t *row = &self->rows [index];
    if (row->state != ROW_SENT) {
        //  Late (we gave up on it) or duplicate: nothing to attach it to
        if (self->cli->verbose)
            zsys_debug ("late or duplicate reply for %s dropped", row->request_id);
        fm_msg_destroy (&reply);
        return;
    }
    row->reply = reply;
    row->state = ROW_DONE;
    s_conn_row_done (self, &self->conns [row->conn]);
}

//  Run every row through send / wait / print.  Returns the worst exit code
//  of the rows (fm_cli.h), or 3 if interrupted.
static int
s_run (s_cmd_t *self)
{
    fm_msg_t *msg = fm_msg_new (self->accepting? FM_MSG_ACCEPT: FM_MSG_REQUEST);
    zpoller_t *poller = self->poller;
    if (!msg) {
        fputs (_("finmatch request: out of memory\n"), stderr);
        return 3;
    }

    int worst = 0;
    size_t timed_out = 0;
    size_t next_send = 0, next_print = 0;
    for (size_t index = 0; index < self->row_count; index++)
        self->rows [index].tries = 0;       //  Each round has its tries
    while (next_print < self->row_count) {
        while (next_send < self->row_count && next_send - next_print < WINDOW)
            s_row_send (self, &self->rows [next_send++], msg);

        s_row_t *head = &self->rows [next_print];
        if (head->state == ROW_DONE) {
            if (self->events)
                s_live_drain (self, head->reply);
            int code = s_row_exit (head);
            if (self->campaign)
                code = s_campaign_note (self, head);
            else
                s_row_print (self, head);
            worst = code > worst? code: worst;
            fm_msg_destroy (&head->reply);
            next_print++;
            continue;
        }
        int64_t now = zclock_mono ();
        if (head->deadline <= now) {
            //  Rows were sent in order: every later expired row follows
            for (size_t index = next_print; index < next_send; index++) {
                s_row_t *row = &self->rows [index];
                if (row->state == ROW_SENT && row->deadline <= now
                &&  row->tries < self->cli->retries) {
                    //  Lazy Pirate: the same request (same key) again, on
                    //  a new socket when nothing else waits on this one;
                    //  the broker answers from its store or attaches the
                    //  retry to the request in flight
                    s_conn_t *conn = &self->conns [row->conn];
                    s_conn_row_done (self, conn);
                    if (conn->client && conn->in_flight == 0) {
                        zpoller_remove (self->poller, fm_client_sock (conn->client));
                        fm_client_destroy (&conn->client);
                    }
                    zsys_warning ("no reply for %s within %d ms, trying again (%d of %d)",
                                  row->request_id, self->cli->timeout_ms,
                                  row->tries + 1, self->cli->retries);
                    s_row_send (self, row, msg);
                }
                else
                if (row->state == ROW_SENT && row->deadline <= now) {
                    row->state = ROW_DONE;
                    s_conn_row_done (self, &self->conns [row->conn]);
                    row->local_status = FM_STATUS_TIMEOUT;
                    snprintf (row->local_text, sizeof row->local_text,
                              _("broker did not answer within %d ms"),
                              self->cli->timeout_ms);
                    timed_out++;
                }
            }
            continue;
        }
        zsock_t *which = (zsock_t *) zpoller_wait (poller, (int) (head->deadline - now));
        if (zpoller_terminated (poller)) {
            fputs (_("finmatch request: interrupted\n"), stderr);
            worst = 3;
            break;
        }
        if (which && which == self->events)
            s_live_event (self);
        else
        if (which) {
            //  Open connections are those with rows in flight: at most
            //  WINDOW, each of them at least one row between the print
            //  and send points
            for (size_t index = next_print; index < next_send; index++) {
                s_conn_t *conn = &self->conns [self->rows [index].conn];
                if (conn->client && which == fm_client_sock (conn->client)) {
                    s_take_reply (self, conn, next_print, next_send);
                    break;
                }
            }
        }
    }
    if (timed_out == 1 && self->row_count == 1)
        fprintf (stderr, _("finmatch: broker did not answer after %d tries of "
                 "%d ms (is finmatch-broker running at %s?)\n"),
                 self->cli->retries, self->cli->timeout_ms, self->cli->broker);
    else
    if (timed_out)
        fprintf (stderr, _("finmatch: broker did not answer %zu of %zu requests "
                 "after %d tries of %d ms (is finmatch-broker running at %s?)\n"),
                 timed_out, self->row_count, self->cli->retries,
                 self->cli->timeout_ms, self->cli->broker);
    //  Replies of rows we never printed (interrupt)
    for (size_t index = next_print; index < self->row_count; index++)
        fm_msg_destroy (&self->rows [index].reply);
    fm_msg_destroy (&msg);
    return worst;
}

//  -------------------------------------------------------------------------

static int
    s_execute (s_cmd_t *selfp, s_row_t *templatep, bool request_flags);

int
fm_cmd_request (fm_cli_t *cli, int argc, char **argv)
{
    assert (cli);
    static const struct option options [] = {
        { "enterprise", required_argument, NULL, 'E' },
        { "amount",     required_argument, NULL, 'A' },
        { "term",       required_argument, NULL, 'T' },
        { "purpose",    required_argument, NULL, 'P' },
        { "grid",       required_argument, NULL, 'G' },
        { "collateral", required_argument, NULL, 'C' },
        { "consent",    required_argument, NULL, 'S' },
        { "kinds",      required_argument, NULL, 'K' },
        { "type",       required_argument, NULL, 'Y' },
        { "prior-loan", required_argument, NULL, 'L' },
        { "key",        required_argument, NULL, 'I' },
        { "officer",    required_argument, NULL, 'O' },
        { "file",       required_argument, NULL, 'F' },
        { "live",       no_argument,       NULL, 'l' },
        { "cert-dir",   required_argument, NULL, 'D' },
        { "json",       no_argument,       NULL, 'j' },
        { "help",       no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    s_cmd_t self = { .cli = cli };
    s_row_t template = { .line = 0 };
    //  Fields given as flags, by name, so the template can take them all
    //  and the file check sees which
    bool request_flags = false;
    int rc = 0;
    char err [FM_TEXT_SIZE + 64];

    optind = 0;                         //  GNU: full re-initialisation
    opterr = 0;
    int opt;
    while (rc == 0
    &&    (opt = getopt_long (argc, argv, ":h", options, NULL)) != -1) {
        const char *name = NULL;
        switch (opt) {
            case 'E': name = "enterprise"; break;
            case 'A': name = "amount"; break;
            case 'T': name = "term"; break;
            case 'P': name = "purpose"; break;
            case 'G': name = "grid"; break;
            case 'C': name = "collateral"; break;
            case 'S': name = "consent"; break;
            case 'K': name = "kinds"; break;
            case 'Y': name = "type"; break;
            case 'L': name = "prior_loan"; break;
            case 'I': name = "key"; break;
            case 'O': name = "officer"; break;
            case 'F': self.file = optarg; break;
            case 'l': self.live = true; break;
            case 'D': cli->cert_dir = optarg; break;
            case 'j': cli->json = true; break;
            case 'h':
                s_usage (stdout);
                return 0;
            default:
                rc = fm_cli_option_error ("request", opt, argv);
                break;
        }
        if (name) {
            request_flags = true;
            if (*optarg == 0) {
                fprintf (stderr, _("finmatch request: --%s is empty\n"), name);
                rc = 2;
            }
            else
            if (s_row_set (&template, name, optarg, err, sizeof err)) {
                fprintf (stderr, _("finmatch request: %s\n"), err);
                rc = 2;
            }
        }
    }
    if (rc)
        return rc;
    if (optind < argc) {
        fprintf (stderr, _("finmatch request: unexpected argument '%s'\n"),
                 argv [optind]);
        return 2;
    }
    if (self.file && self.live) {
        fputs (_("finmatch request: --live follows one request; "
                 "it cannot be used with --file\n"), stderr);
        return 2;
    }
    return s_execute (&self, &template, request_flags);
}

//  Load the rows (--file, or the flags' one row), prepare the keys and
//  connections, and run them; a campaign then runs its ACCEPT round and
//  prints its summary.  Releases everything self holds.  Returns the exit
//  code (fm_cli.h).
static int
s_execute (s_cmd_t *selfp, s_row_t *templatep, bool request_flags)
{
    s_cmd_t self = *selfp;
    s_row_t template = *templatep;
    fm_cli_t *cli = self.cli;
    int rc = 0;
    char err [FM_TEXT_SIZE + 64];
    fm_msg_t *scratch = fm_msg_new (FM_MSG_REQUEST);
    self.by_id = zhashx_new ();
    if (!scratch || !self.by_id) {
        fputs (_("finmatch request: out of memory\n"), stderr);
        fm_msg_destroy (&scratch);
        zhashx_destroy (&self.by_id);
        return 2;
    }
    if (self.file)
        rc = s_load_file (&self, &template, scratch)? 2: 0;
    else
    if (!request_flags) {
        s_usage (stderr);
        rc = 2;
    }
    else {
        s_row_t *row = s_rows_append (&self, &template);
        if (!row
        ||  s_row_finish (row, scratch, err, sizeof err)
        ||  s_row_register (&self, 0, err, sizeof err)) {
            fprintf (stderr, _("finmatch request: %s\n"), row? err: "out of memory");
            rc = 2;
        }
    }
    fm_msg_destroy (&scratch);

    //  Keys only now that every flag and row is known to be valid
    if (rc == 0 && s_conns_prepare (&self))
        rc = 2;
    if (rc == 0) {
        self.poller = zpoller_new (NULL);
        if (!self.poller) {
            fputs (_("finmatch request: out of memory\n"), stderr);
            rc = 2;
        }
        else
        if (s_conn_open (&self, &self.conns [0])) {
            //  Checked before the first row's send, which would only
            //  report it per row
            fprintf (stderr, _("finmatch request: bad broker endpoint '%s'\n"),
                     cli->broker);
            rc = 2;
        }
    }
    if (rc == 0 && self.live) {
        s_row_t *row = &self.rows [0];
        //  The event stream admits monitor keys: --cert if given (with
        //  --cert-dir for the request), else the request's own key
        fm_curve_t *curve = self.conns [0].curve;
        if (cli->cert && *cli->cert && !cli->insecure) {
            if (fm_cli_keys (cli))
                rc = 2;
            curve = cli->curve;
        }
        self.events = rc? NULL: s_live_open (cli->events, row->request_id, curve);
        if (!self.events)
            rc = 2;
        else
        if (zpoller_add (self.poller, self.events))
            rc = 2;
        else
        if (!cli->json) {
            fm_print_request (stdout, row->request_id, &row->request);
            fflush (stdout);
        }
    }
    if (rc == 0)
        rc = s_run (&self);
    if (self.campaign && rc != 2 && self.summary->requests == self.row_count) {
        //  Every row was answered or given up on (not interrupted): the
        //  ACCEPT round goes over the same rows and connections
        if (self.accept_best && self.summary->with_offers > 0) {
            for (size_t index = 0; index < self.row_count; index++) {
                s_row_t *row = &self.rows [index];
                row->state = ROW_NEW;
                row->reply = NULL;      //  destroyed when it was noted
                row->local_status = 0;
                *row->local_text = 0;
            }
            self.accepting = true;
            s_run (&self);
        }
        if (!zsys_interrupted)
            rc = s_campaign_print (&self);
    }

    zsock_destroy (&self.events);
    zpoller_destroy (&self.poller);
    for (size_t index = 0; index < self.conn_count; index++) {
        fm_client_destroy (&self.conns [index].client);
        fm_curve_destroy (&self.conns [index].curve);
    }
    free (self.conns);
    zhashx_destroy (&self.by_id);
    free (self.rows);
    s_summary_destroy (&self.summary);
    return rc;
}

//  -------------------------------------------------------------------------

static void
s_campaign_usage (FILE *file)
{
    fprintf (file,
_("Usage: finmatch campaign FILE [--accept best] [OPTIONS]\n"
"\n"
"A matchmaking campaign (政银企对接): submits every request of FILE at once\n"
"(at most %d in flight), then prints one summary instead of each result:\n"
"requests, requests with offers, institutions offering, credit offered\n"
"(the best offer of each request).  With --accept best, it then accepts the\n"
"best offer of every request that has one (the best-ranked loan offer, else\n"
"the best-ranked offer), concurrently, and adds loans granted, institutions\n"
"granting, enterprises served, credit accepted and the average rate\n"
"reduction (base minus effective rate over the granted loans).\n"
"\n"
"  FILE                CSV of requests, as for finmatch request --file\n"
"                      (columns enterprise,amount,term,purpose,grid,\n"
"                      collateral,consent,kinds,type,prior_loan,key,officer)\n"
"  --accept MODE       best: accept the best offer of each request;\n"
"                      none (default): only ask\n"
"  --cert-dir DIR      act for each enterprise with DIR/CODE.cert (as for\n"
"                      finmatch request); also a global option\n"
"  --json              the summary as one JSON object (fen, bp)\n"
"  -h, --help          this help\n"
"\n"
"Rows that fail are named on stderr (file:line, request id, status).\n"
"Exit: 0 some request received offers, 1 none did, 2 bad input,\n"
"      3 a request or an acceptance went unanswered.\n"), WINDOW);
}

int
fm_cmd_campaign (fm_cli_t *cli, int argc, char **argv)
{
    assert (cli);
    static const struct option options [] = {
        { "accept",   required_argument, NULL, 'a' },
        { "cert-dir", required_argument, NULL, 'D' },
        { "json",     no_argument,       NULL, 'j' },
        { "help",     no_argument,       NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    s_cmd_t self = { .cli = cli, .campaign = true };
    s_row_t template = { .line = 0 };
    optind = 0;                         //  GNU: full re-initialisation
    opterr = 0;
    int opt;
    while ((opt = getopt_long (argc, argv, ":h", options, NULL)) != -1) {
        switch (opt) {
            case 'a':
                if (streq (optarg, "best"))
                    self.accept_best = true;
                else
                if (!streq (optarg, "none")) {
                    fprintf (stderr, _("finmatch campaign: --accept '%s': "
                             "best or none\n"), optarg);
                    return 2;
                }
                break;
            case 'D': cli->cert_dir = optarg; break;
            case 'j': cli->json = true; break;
            case 'h':
                s_campaign_usage (stdout);
                return 0;
            default:
                return fm_cli_option_error ("campaign", opt, argv);
        }
    }
    if (argc - optind != 1) {
        fputs (_("finmatch campaign: expected one FILE\n"), stderr);
        s_campaign_usage (stderr);
        return 2;
    }
    self.file = argv [optind];
    self.summary = s_summary_new ();
    if (!self.summary) {
        fputs (_("finmatch request: out of memory\n"), stderr);
        return 2;
    }
    return s_execute (&self, &template, false);
}
