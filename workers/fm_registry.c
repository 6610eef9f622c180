/*  =========================================================================
    fm_registry - the government's enterprise registry and policy levers

    The whole CSV is read into memory and parsed by a small RFC 4180
    reader: fields separated by commas, optionally double-quoted, a quote
    inside a quoted field written twice, CRLF or LF line ends, and line
    breaks allowed inside quotes (the line number reported for a record
    is the line it starts on).  A UTF-8 byte order mark at the start is
    skipped.  Columns are found by the header's names, so their order may
    change; extra columns are ignored.

    A row is either entirely valid or skipped: nothing half-parsed reaches
    the index.  The registry never changes after load, so lookups need no
    locking; each is one hash probe.

    Costs: memory is about 400 bytes per enterprise; loading 100,000 rows
    takes well under a second.
    =========================================================================
*/

#include "fm_registry.h"
#include "fm_ids.h"
#include "fm_text.h"

#include <stdarg.h>

//  Largest registry file we read, bytes
#define FM_REGISTRY_MAX_FILE    (512 * 1024 * 1024)
//  Most columns in a record
#define FM_CSV_MAX_FIELDS       32

//  The columns, in the order of the brief's header
typedef enum {
    COL_CREDIT_CODE = 0, COL_NAME, COL_INDUSTRY, COL_GRID_ID, COL_TAX_GRADE,
    COL_PARTY_GRADE, COL_MONTHS, COL_COUNT
} s_column_t;

static const char *s_column_names [COL_COUNT] = {
    "credit_code", "name", "industry", "grid_id", "tax_grade",
    "party_grade", "social_insurance_months"
};

//  An index entry: the record and where it came from
typedef struct {
    fm_enterprise_t enterprise;     //  what callers see
    size_t line;                    //  line in the file, for duplicates
} s_entry_t;

//  A party-building rating's provenance (ratings.csv)
typedef struct {
    char org [8];                   //  "own", "joint", "none"
} s_rating_t;

struct _fm_registry_t {
    zhashx_t *grids;                //  grid id -> town code, owned strings
    zhashx_t *officers;             //  officer id -> ";grid;grid;", owned
    zhashx_t *ratings;              //  credit code -> s_rating_t, owned
    zhashx_t *index;                //  credit code -> s_entry_t, owns entries
    size_t skipped;                 //  bad or duplicate rows
    zlist_t *rejects;               //  owned strings, first rejections
};

//  The CSV reader state
typedef struct {
    const char *data;               //  borrowed file contents
    size_t size;
    size_t pos;                     //  next byte to read
    size_t line;                    //  line number of data [pos], from 1
    char *buf;                      //  owned, field contents NUL-separated
    size_t buf_size;
    size_t buf_used;
    size_t offsets [FM_CSV_MAX_FIELDS];     //  field starts in buf
    size_t lengths [FM_CSV_MAX_FIELDS];     //  field lengths (may hold NULs)
    size_t count;                   //  fields in the current record
} s_csv_t;


static void
s_csv_append (s_csv_t *csv, char c)
{
    if (csv->buf_used == csv->buf_size) {
        csv->buf_size = csv->buf_size? csv->buf_size * 2: 1024;
        csv->buf = (char *) realloc (csv->buf, csv->buf_size);
        assert (csv->buf);
    }
    csv->buf [csv->buf_used++] = c;
}


//  Read the next record.  Returns 1 with the fields in csv, 0 at end of
//  data, or -1 for a malformed record (*why says how; the reader has
//  skipped to the next line).  *line_p gets the record's first line.

static int
s_csv_record (s_csv_t *csv, size_t *line_p, const char **why)
{
    *line_p = csv->line;
    *why = NULL;
    csv->count = 0;
    csv->buf_used = 0;
    if (csv->pos >= csv->size)
        return 0;

    while (true) {
        size_t start = csv->buf_used;
        if (csv->pos < csv->size && csv->data [csv->pos] == '"') {
            csv->pos++;
            while (true) {
                if (csv->pos >= csv->size) {
                    *why = "unterminated quoted field";
                    return -1;      //  nothing left to skip to
                }
                char c = csv->data [csv->pos];
                if (c == '"') {
                    if (csv->pos + 1 < csv->size && csv->data [csv->pos + 1] == '"') {
                        s_csv_append (csv, '"');
                        csv->pos += 2;
                        continue;
                    }
                    csv->pos++;
                    break;
                }
                if (c == '\n')
                    csv->line++;
                s_csv_append (csv, c);
                csv->pos++;
            }
            if (csv->pos < csv->size
            &&  csv->data [csv->pos] != ',' && csv->data [csv->pos] != '\n'
            &&  csv->data [csv->pos] != '\r')
                *why = "text after a closing quote";
        }
        else {
            while (csv->pos < csv->size) {
                char c = csv->data [csv->pos];
                if (c == ',' || c == '\n' || c == '\r')
                    break;
                if (c == '"' && !*why)
                    *why = "quote inside an unquoted field";
                s_csv_append (csv, c);
                csv->pos++;
            }
        }
        if (csv->count < FM_CSV_MAX_FIELDS) {
            csv->offsets [csv->count] = start;
            csv->lengths [csv->count] = csv->buf_used - start;
        }
        else
        if (!*why)
            *why = "too many fields";
        csv->count++;
        s_csv_append (csv, 0);

        if (*why) {
            //  Resynchronise on the next line end
            while (csv->pos < csv->size && csv->data [csv->pos] != '\n')
                csv->pos++;
            if (csv->pos < csv->size) {
                csv->pos++;
                csv->line++;
            }
            return -1;
        }
        if (csv->pos >= csv->size)
            return 1;
        char c = csv->data [csv->pos];
        if (c == ',') {
            csv->pos++;
            continue;
        }
        if (c == '\r') {
            if (csv->pos + 1 < csv->size && csv->data [csv->pos + 1] == '\n')
                csv->pos++;
            else {
                *why = "carriage return without line feed";
                continue;   //  resynchronises above on the next pass
            }
        }
        csv->pos++;         //  the '\n'
        csv->line++;
        return 1;
    }
}

static const char *
s_csv_field (s_csv_t *csv, size_t index)
{
    return csv->buf + csv->offsets [index];
}


//  Record a rejected row: log it, count it, keep the message.

static void
s_reject (fm_registry_t *self, const char *path, size_t line,
          const char *format, ...) CHECK_PRINTF (4);

static void
s_reject (fm_registry_t *self, const char *path, size_t line,
          const char *format, ...)
{
    char reason [256];
    va_list args;
    va_start (args, format);
    vsnprintf (reason, sizeof reason, format, args);
    va_end (args);
    zsys_warning ("%s:%zu: %s (row skipped)", path, line, reason);
    self->skipped++;
    if (zlist_size (self->rejects) < FM_REGISTRY_MAX_REJECTS) {
        char *message = zsys_sprintf ("%s:%zu: %s", path, line, reason);
        assert (message);
        zlist_append (self->rejects, message);
        zstr_free (&message);
    }
}


//  True if text is a short code: 1..FM_CODE_SIZE-1 bytes, no whitespace
//  or comma (bank configs list codes separated by commas).

static bool
s_code_valid (const char *text, size_t length)
{
    if (length == 0 || length >= FM_CODE_SIZE)
        return false;
    for (size_t index = 0; index < length; index++)
        if (text [index] == ',' || isspace ((byte) text [index]))
            return false;
    return true;
}


//  Validate the current record as a row and fill entry.  Returns NULL if
//  valid, else the reason (written into why, size bytes).

static const char *
s_row_parse (s_csv_t *csv, const size_t *column, s_entry_t *entry,
             char *why, size_t size)
{
    //  UTF-8 first, so that nothing below prints bad bytes
    for (size_t index = 0; index < csv->count; index++)
        if (!fm_utf8_valid (s_csv_field (csv, index), csv->lengths [index])) {
            snprintf (why, size, "invalid UTF-8 or control character in field %zu",
                      index + 1);
            return why;
        }
    fm_enterprise_t *enterprise = &entry->enterprise;
    const char *code = s_csv_field (csv, column [COL_CREDIT_CODE]);
    size_t length = csv->lengths [column [COL_CREDIT_CODE]];
    if (length != 18) {
        if (length <= 40)
            snprintf (why, size, "credit code '%s' is not 18 characters", code);
        else
            snprintf (why, size, "credit code of %zu bytes is not 18 characters", length);
        return why;
    }
    if (!fm_credit_code_valid (code)) {
        char first17 [18];
        memcpy (first17, code, 17);
        first17 [17] = 0;
        char check = fm_credit_code_check_char (first17);
        if (check && strchr ("0123456789ABCDEFGHJKLMNPQRTUWXY", code [17]))
            snprintf (why, size, "bad check character in %s", code);
        else
            snprintf (why, size, "credit code '%s' has characters outside GB 32100", code);
        return why;
    }
    memcpy (enterprise->credit_code, code, 19);

    const char *name = s_csv_field (csv, column [COL_NAME]);
    length = csv->lengths [column [COL_NAME]];
    if (length == 0 || length >= FM_NAME_SIZE) {
        snprintf (why, size, "name empty or longer than %d bytes", FM_NAME_SIZE - 1);
        return why;
    }
    memcpy (enterprise->name, name, length + 1);

    const s_column_t code_columns [2] = { COL_INDUSTRY, COL_GRID_ID };
    char *targets [2] = { enterprise->industry, enterprise->grid_id };
    for (int which = 0; which < 2; which++) {
        const char *text = s_csv_field (csv, column [code_columns [which]]);
        length = csv->lengths [column [code_columns [which]]];
        if (!s_code_valid (text, length)) {
            snprintf (why, size, "%s must be 1-%d bytes without spaces or commas",
                      s_column_names [code_columns [which]], FM_CODE_SIZE - 1);
            return why;
        }
        memcpy (targets [which], text, length + 1);
    }

    const char *grade = s_csv_field (csv, column [COL_TAX_GRADE]);
    if (csv->lengths [column [COL_TAX_GRADE]] != 1 || !strchr ("ABMCD", grade [0])) {
        snprintf (why, size, "tax_grade '%s' is not one of A B M C D", grade);
        return why;
    }
    enterprise->tax_grade = grade [0];
    grade = s_csv_field (csv, column [COL_PARTY_GRADE]);
    if (csv->lengths [column [COL_PARTY_GRADE]] != 1 || !strchr ("ABCD-", grade [0])) {
        snprintf (why, size, "party_grade '%s' is not one of A B C D -", grade);
        return why;
    }
    enterprise->party_grade = grade [0];

    const char *months = s_csv_field (csv, column [COL_MONTHS]);
    length = csv->lengths [column [COL_MONTHS]];
    unsigned value = 0;
    bool digits = length > 0 && length <= 3;
    for (size_t index = 0; digits && index < length; index++) {
        if (months [index] < '0' || months [index] > '9')
            digits = false;
        else
            value = value * 10 + (unsigned) (months [index] - '0');
    }
    if (!digits || value > FM_MAX_SOCIAL_MONTHS) {
        snprintf (why, size, "social_insurance_months '%.16s' is not 0..%d",
                  months, FM_MAX_SOCIAL_MONTHS);
        return why;
    }
    enterprise->social_insurance_months = (uint16_t) value;
    return NULL;
}


static void
s_entry_destroy (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}


//  --------------------------------------------------------------------------
//  Load the registry CSV.  Returns a new registry, or NULL with err filled.

fm_registry_t *
fm_registry_load (const char *path, char *err, size_t size)
{
    assert (path);
    assert (err && size > 0);
    *err = 0;
    FILE *file = fopen (path, "rb");
    if (!file) {
        snprintf (err, size, "%s: cannot open: %s", path, strerror (errno));
        return NULL;
    }
    char *data = NULL;
    size_t data_size = 0, capacity = 0;
    while (true) {
        if (data_size == capacity) {
            if (capacity >= FM_REGISTRY_MAX_FILE) {
                snprintf (err, size, "%s: larger than %d bytes", path,
                          FM_REGISTRY_MAX_FILE);
                fclose (file);
                free (data);
                return NULL;
            }
            capacity = capacity? capacity * 2: 65536;
            data = (char *) realloc (data, capacity);
            assert (data);
        }
        size_t got = fread (data + data_size, 1, capacity - data_size, file);
        data_size += got;
        if (got == 0)
            break;
    }
    bool failed = ferror (file);
    fclose (file);
    if (failed) {
        snprintf (err, size, "%s: cannot read: %s", path, strerror (errno));
        free (data);
        return NULL;
    }

    fm_registry_t *self = (fm_registry_t *) zmalloc (sizeof (fm_registry_t));
    assert (self);
    self->index = zhashx_new ();
    assert (self->index);
    zhashx_set_destructor (self->index, s_entry_destroy);
    self->grids = zhashx_new ();
    self->officers = zhashx_new ();
    self->ratings = zhashx_new ();
    assert (self->grids && self->officers && self->ratings);
    zhashx_set_destructor (self->ratings, s_entry_destroy);
    //  grids and officers hold strings: zhashx duplicates and frees them
    zhashx_set_duplicator (self->grids, (zhashx_duplicator_fn *) strdup);
    zhashx_set_destructor (self->grids, (zhashx_destructor_fn *) zstr_free);
    zhashx_set_duplicator (self->officers, (zhashx_duplicator_fn *) strdup);
    zhashx_set_destructor (self->officers, (zhashx_destructor_fn *) zstr_free);
    self->rejects = zlist_new ();
    assert (self->rejects);
    zlist_autofree (self->rejects);

    s_csv_t csv;
    memset (&csv, 0, sizeof csv);
    csv.data = data;
    csv.size = data_size;
    csv.line = 1;
    if (data_size >= 3 && memcmp (data, "\xEF\xBB\xBF", 3) == 0)
        csv.pos = 3;

    //  The header names the columns; all seven must be there, once
    size_t line;
    const char *why;
    int rc = s_csv_record (&csv, &line, &why);
    size_t column [COL_COUNT];
    size_t header_count = csv.count;
    if (rc == 0)
        snprintf (err, size, "%s: empty file, expected a header row", path);
    else
    if (rc == -1)
        snprintf (err, size, "%s:%zu: header: %s", path, line, why);
    else
    for (int col = 0; col < COL_COUNT; col++) {
        size_t found = 0;
        for (size_t index = 0; index < csv.count && index < FM_CSV_MAX_FIELDS; index++)
            if (streq (s_csv_field (&csv, index), s_column_names [col])) {
                column [col] = index;
                found++;
            }
        if (found != 1) {
            snprintf (err, size, "%s:%zu: header row %s column '%s' (expected %s,"
                      "%s,%s,%s,%s,%s,%s)", path, line,
                      found? "repeats": "lacks", s_column_names [col],
                      s_column_names [0], s_column_names [1], s_column_names [2],
                      s_column_names [3], s_column_names [4], s_column_names [5],
                      s_column_names [6]);
            break;
        }
    }
    if (*err) {
        free (csv.buf);
        free (data);
        fm_registry_destroy (&self);
        return NULL;
    }
    if (header_count > COL_COUNT)
        zsys_warning ("%s:%zu: %zu extra header columns ignored", path, line,
                      header_count - COL_COUNT);

    while ((rc = s_csv_record (&csv, &line, &why)) != 0) {
        if (rc == -1) {
            s_reject (self, path, line, "%s", why);
            continue;
        }
        if (csv.count == 1 && csv.lengths [0] == 0)
            continue;               //  blank line
        if (csv.count != header_count) {
            s_reject (self, path, line, "%zu fields, expected %zu",
                      csv.count, header_count);
            continue;
        }
        s_entry_t *entry = (s_entry_t *) zmalloc (sizeof (s_entry_t));
        assert (entry);
        entry->line = line;
        char reason [160];
        if (s_row_parse (&csv, column, entry, reason, sizeof reason)) {
            s_reject (self, path, line, "%s", reason);
            free (entry);
            continue;
        }
        s_entry_t *first = (s_entry_t *) zhashx_lookup (self->index,
                                                        entry->enterprise.credit_code);
        if (first) {
            s_reject (self, path, line, "duplicate credit code %s (first on line %zu)",
                      entry->enterprise.credit_code, first->line);
            free (entry);
            continue;
        }
        rc = zhashx_insert (self->index, entry->enterprise.credit_code, entry);
        assert (rc == 0);
    }
    free (csv.buf);
    free (data);
    return self;
}


//  --------------------------------------------------------------------------
//  Destroy; idempotent, nulls *self_p.

void
fm_registry_destroy (fm_registry_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        fm_registry_t *self = *self_p;
        zhashx_destroy (&self->index);
        zhashx_destroy (&self->grids);
        zhashx_destroy (&self->officers);
        zhashx_destroy (&self->ratings);
        zlist_destroy (&self->rejects);
        free (self);
        *self_p = NULL;
    }
}


size_t
fm_registry_size (fm_registry_t *self)
{
    assert (self);
    return zhashx_size (self->index);
}

size_t
fm_registry_skipped (fm_registry_t *self)
{
    assert (self);
    return self->skipped;
}

zlist_t *
fm_registry_rejects (fm_registry_t *self)
{
    assert (self);
    return self->rejects;
}

const fm_enterprise_t *
fm_registry_find (fm_registry_t *self, const char *credit_code)
{
    assert (self);
    assert (credit_code);
    s_entry_t *entry = (s_entry_t *) zhashx_lookup (self->index, credit_code);
    return entry? &entry->enterprise: NULL;
}


//  --------------------------------------------------------------------------
//  Issue 3 tables.  One small reader for the three: the whole file, a
//  header naming the columns wanted (any order, extra columns ignored),
//  each row handed to a function that validates it.

typedef const char *(s_row_fn) (fm_registry_t *self, const char **fields,
                                char *why, size_t size);

static int
s_table_load (fm_registry_t *self, const char *path, const char **names,
              size_t count, s_row_fn *row_fn, char *err, size_t size)
{
    FILE *file = fopen (path, "rb");
    if (!file) {
        snprintf (err, size, "%s: cannot open: %s", path, strerror (errno));
        return -1;
    }
    zchunk_t *chunk = zchunk_read (file, FM_REGISTRY_MAX_FILE);
    fclose (file);
    if (!chunk) {
        snprintf (err, size, "%s: cannot read", path);
        return -1;
    }
    s_csv_t csv;
    memset (&csv, 0, sizeof csv);
    csv.data = (const char *) zchunk_data (chunk);
    csv.size = zchunk_size (chunk);
    csv.line = 1;
    if (csv.size >= 3 && memcmp (csv.data, "\xEF\xBB\xBF", 3) == 0)
        csv.pos = 3;
    size_t line, column [8];
    const char *why;
    assert (count <= 8);
    int rc = s_csv_record (&csv, &line, &why);
    size_t header_count = csv.count;
    *err = 0;
    if (rc != 1)
        snprintf (err, size, "%s: no header row", path);
    for (size_t col = 0; !*err && col < count; col++) {
        size_t found = 0;
        for (size_t index = 0; index < csv.count && index < FM_CSV_MAX_FIELDS; index++)
            if (streq (s_csv_field (&csv, index), names [col])) {
                column [col] = index;
                found++;
            }
        if (found != 1)
            snprintf (err, size, "%s:1: header row %s column '%s'", path,
                      found? "repeats": "lacks", names [col]);
    }
    int loaded = 0;
    while (!*err && (rc = s_csv_record (&csv, &line, &why)) != 0) {
        if (rc == -1) {
            s_reject (self, path, line, "%s", why);
            continue;
        }
        if (csv.count == 1 && csv.lengths [0] == 0)
            continue;
        if (csv.count != header_count) {
            s_reject (self, path, line, "%zu fields, expected %zu", csv.count, header_count);
            continue;
        }
        const char *fields [8];
        bool valid = true;
        for (size_t col = 0; col < count; col++) {
            fields [col] = s_csv_field (&csv, column [col]);
            if (!fm_utf8_valid (fields [col], csv.lengths [column [col]]))
                valid = false;
        }
        char reason [160];
        const char *bad = valid? row_fn (self, fields, reason, sizeof reason)
                               : "invalid UTF-8 or control character";
        if (bad)
            s_reject (self, path, line, "%s", bad);
        else
            loaded++;
    }
    free (csv.buf);
    zchunk_destroy (&chunk);
    return *err? -1: loaded;
}

static const char *
s_grid_row (fm_registry_t *self, const char **fields, char *why, size_t size)
{
    if (!s_code_valid (fields [0], strlen (fields [0]))
    ||  !s_code_valid (fields [1], strlen (fields [1]))) {
        snprintf (why, size, "grid_id and town_code must be codes");
        return why;
    }
    if (zhashx_lookup (self->grids, fields [0])) {
        snprintf (why, size, "duplicate grid %s", fields [0]);
        return why;
    }
    zhashx_insert (self->grids, fields [0], (void *) fields [1]);
    return NULL;
}

int
fm_registry_load_grids (fm_registry_t *self, const char *path, char *err, size_t size)
{
    assert (self && path && err);
    static const char *names [] = { "grid_id", "town_code" };
    return s_table_load (self, path, names, 2, s_grid_row, err, size);
}

static const char *
s_officer_row (fm_registry_t *self, const char **fields, char *why, size_t size)
{
    if (!s_code_valid (fields [0], strlen (fields [0])) || !*fields [1]) {
        snprintf (why, size, "officer_id must be a code and grids not empty");
        return why;
    }
    if (zhashx_lookup (self->officers, fields [0])) {
        snprintf (why, size, "duplicate officer %s", fields [0]);
        return why;
    }
    //  Stored as ";g1;g2;" so that a lookup is one strstr of ";grid;"
    char *grids = zsys_sprintf (";%s;", fields [1]);
    assert (grids);
    zhashx_insert (self->officers, fields [0], grids);
    zstr_free (&grids);
    return NULL;
}

int
fm_registry_load_officers (fm_registry_t *self, const char *path, char *err, size_t size)
{
    assert (self && path && err);
    static const char *names [] = { "officer_id", "grids" };
    return s_table_load (self, path, names, 2, s_officer_row, err, size);
}

static const char *
s_rating_row (fm_registry_t *self, const char **fields, char *why, size_t size)
{
    s_entry_t *entry = (s_entry_t *) zhashx_lookup (self->index, fields [0]);
    if (!entry) {
        snprintf (why, size, "rating for %.20s, not in the registry", fields [0]);
        return why;
    }
    const char *org = fields [1], *party = fields [2], *tax = fields [3];
    bool none = streq (org, "none");
    if ((!none && !streq (org, "own") && !streq (org, "joint"))
    ||  strlen (party) != 1 || !strchr ("ABCD-", party [0])
    ||  (none != (party [0] == '-'))) {
        snprintf (why, size, "party_org '%.8s' with party_grade '%.4s': expected "
                  "own|joint with A-D, or none with -", org, party);
        return why;
    }
    if (strlen (tax) != 1 || !strchr ("ABMCD", tax [0])) {
        snprintf (why, size, "tax_grade '%.4s' is not one of A B M C D", tax);
        return why;
    }
    char *end;
    long months = strtol (fields [4], &end, 10);
    if (!*fields [4] || *end || months < 0 || months > FM_MAX_SOCIAL_MONTHS) {
        snprintf (why, size, "social_insurance_months '%.8s' is not 0..%d",
                  fields [4], FM_MAX_SOCIAL_MONTHS);
        return why;
    }
    s_rating_t *rating = (s_rating_t *) zmalloc (sizeof (s_rating_t));
    assert (rating);
    snprintf (rating->org, sizeof rating->org, "%s", org);
    zhashx_update (self->ratings, fields [0], rating);
    entry->enterprise.party_grade = party [0];
    entry->enterprise.tax_grade = tax [0];
    entry->enterprise.social_insurance_months = (uint16_t) months;
    return NULL;
}

int
fm_registry_load_ratings (fm_registry_t *self, const char *path, char *err, size_t size)
{
    assert (self && path && err);
    static const char *names [] = {
        "credit_code", "party_org", "party_grade", "tax_grade", "social_insurance_months"
    };
    return s_table_load (self, path, names, 5, s_rating_row, err, size);
}


//  --------------------------------------------------------------------------
//  Fill policy from the `policy` section.  Returns 0 or -1 with err.

int
fm_policy_load (fm_policy_t *policy, zconfig_t *root, const char *source,
                char *err, size_t size)
{
    assert (policy);
    assert (source);
    assert (err && size > 0);
    memset (policy, 0, sizeof *policy);
    *err = 0;
    zconfig_t *section = root? zconfig_locate (root, "policy"): NULL;
    if (!section)
        return 0;

    for (zconfig_t *lever = zconfig_child (section); lever; lever = zconfig_next (lever)) {
        const char *name = zconfig_name (lever);
        const char *grades;
        int32_t *table;
        long max = FM_MAX_POLICY_BP;        //  bound on each grade's value
        const char *unit = "bp";
        if (streq (name, "party_building")) {
            grades = "ABCD";
            table = policy->party_building;
        }
        else
        if (streq (name, "tax_credit")) {
            grades = "ABMCD";
            table = policy->tax_credit;
        }
        else
        if (streq (name, "subsidy")) {
            //  区级贴息: bp, industries, max_amount_yuan
            const char *bp = zconfig_get (lever, "bp", "0");
            char *end;
            long value = strtol (bp, &end, 10);
            if (!*bp || *end || value < 0 || value > FM_MAX_POLICY_BP) {
                snprintf (err, size, "%s: policy/subsidy/bp: '%s' is not an integer "
                          "0..%d (bp)", source, bp, FM_MAX_POLICY_BP);
                return -1;
            }
            policy->subsidy_bp = (int32_t) value;
            const char *cap = zconfig_get (lever, "max_amount_yuan", "0");
            long long yuan = strtoll (cap, &end, 10);
            if (!*cap || *end || yuan < 0 || yuan > FM_MAX_AMOUNT_FEN / 100) {
                snprintf (err, size, "%s: policy/subsidy/max_amount_yuan: '%s' is not "
                          "an amount in yuan", source, cap);
                return -1;
            }
            policy->subsidy_cap_fen = (int64_t) yuan * 100;
            snprintf (policy->subsidy_industries, sizeof policy->subsidy_industries,
                      "%s", zconfig_get (lever, "industries", "*"));
            continue;
        }
        else
        if (streq (name, "fast_track")) {
            grades = "ABCD";                //  by party-building grade
            table = policy->fast_track;
        }
        else
        if (streq (name, "priority")) {
            grades = "ABCD";                //  by party-building grade
            table = policy->priority;
            max = 1;
            unit = "1 = lever";
        }
        else
        if (streq (name, "limit_uplift")) {
            grades = "ABCD";                //  by party-building grade
            table = policy->limit_uplift;
            max = FM_MAX_UPLIFT_PCT;
            unit = "%";
        }
        else {
            snprintf (err, size, "%s: policy/%s: unknown lever (party_building, "
                      "tax_credit, fast_track, priority, limit_uplift or subsidy)",
                      source, name);
            return -1;
        }
        for (zconfig_t *other = zconfig_child (section); other != lever;
             other = zconfig_next (other))
            if (streq (zconfig_name (other), name)) {
                snprintf (err, size, "%s: policy/%s: given twice", source, name);
                return -1;
            }
        bool seen [5] = { false };
        for (zconfig_t *item = zconfig_child (lever); item; item = zconfig_next (item)) {
            const char *grade = zconfig_name (item);
            const char *where = strlen (grade) == 1? strchr (grades, grade [0]): NULL;
            if (!where) {
                snprintf (err, size, "%s: policy/%s/%s: not a grade (%s)",
                          source, name, grade, grades);
                return -1;
            }
            size_t index = (size_t) (where - grades);
            if (seen [index]) {
                snprintf (err, size, "%s: policy/%s/%s: given twice", source, name, grade);
                return -1;
            }
            seen [index] = true;
            const char *text = zconfig_value (item);
            char *end;
            long value = text && *text? strtol (text, &end, 10): -1;
            if (!text || !*text || *end || value < 0 || value > max) {
                snprintf (err, size, "%s: policy/%s/%s: '%s' is not an integer "
                          "0..%ld (%s)", source, name, grade, text? text: "",
                          max, unit);
                return -1;
            }
            table [index] = (int32_t) value;
        }
    }
    return 0;
}


//  True if the comma list is "*" or has code.  Cannot fail.

static bool
s_list_has_code (const char *list, const char *code)
{
    return streq (list, "*") || fm_list_has (list, code);
}


//  The discount for grade in the table ordered as grades, or 0.

static int32_t
s_policy_bp (const int32_t *table, const char *grades, char grade)
{
    const char *where = grade? strchr (grades, grade): NULL;
    return where? table [where - grades]: 0;
}


//  Append the NUL-terminated pieces (NULL ends the list) to the string at
//  dest (size bytes).  Every piece of a lever's code or name is a constant
//  or a value checked at load to fit (grades one character, industry codes
//  < FM_CODE_SIZE bytes, s_code_valid), so nothing is ever cut, which is
//  what lets gov's replies use the trusted encoder: a piece that does not
//  fit is a bug here.  Cheaper than snprintf, and never a cut character.

static void
s_put (char *dest, size_t size, ...)
{
    size_t len = 0;
    va_list args;
    va_start (args, size);
    for (const char *piece = va_arg (args, const char *); piece;
         piece = va_arg (args, const char *)) {
        size_t piece_len = strlen (piece);
        assert (len + piece_len < size);
        memcpy (dest + len, piece, piece_len);
        len += piece_len;
    }
    va_end (args);
    dest [len] = 0;
}

//  The profile's next lever with its code, bp and payer set and no name.
//  At most six levers exist (party_building, fast_track, priority,
//  limit_uplift, tax_credit, subsidy), below FM_MAX_LEVERS.

static fm_lever_t *
s_lever_add (fm_profile_t *profile, const char *code, int32_t bp, fm_payer_t payer)
{
    assert (profile->lever_count < FM_MAX_LEVERS);
    fm_lever_t *lever = &profile->levers [profile->lever_count++];
    s_put (lever->code, sizeof lever->code, code, NULL);
    lever->name [0] = 0;
    lever->bp = bp;
    lever->payer = payer;
    lever->pct = 0;
    return lever;
}


//  --------------------------------------------------------------------------
//  Answer a CREDIT_QUERY.  Returns a new PROFILE or ERROR 404/403; NULL
//  only if out of memory.

fm_msg_t *
fm_gov_answer (fm_registry_t *self, const fm_policy_t *policy,
               const fm_msg_t *credit_query)
{
    fm_msg_t *reply = fm_msg_new (FM_MSG_PROFILE);
    if (reply)
        fm_gov_answer_into (self, policy, credit_query, reply);
    return reply;
}


//  --------------------------------------------------------------------------
//  Answer a CREDIT_QUERY into reply (reused): a PROFILE, or ERROR 404/403.
//  Cannot fail.
//
//  Every value reaching the reply is one of: the query's request id,
//  enterprise id, grid id, officer id (decoded and validated by the codec);
//  a registry row's fields, each checked at load against the codec's rules
//  for a PROFILE (s_row_parse: credit code check character, UTF-8 without
//  control characters in every field, name 1..FM_NAME_SIZE-1 bytes,
//  industry and grid 1..FM_CODE_SIZE-1 bytes, grades in ABMCD / ABCD-,
//  months 0..600; ratings.csv rows the same, s_rating_row); a town code
//  from grids.csv (UTF-8, s_code_valid); the policy's numbers (bp
//  0..FM_MAX_POLICY_BP < FM_MAX_RATE_BP, pct 0..FM_MAX_UPLIFT_PCT, the
//  subsidy cut pro rata below its bp); constants.  Grades and months are
//  set only with their consent bit (the profile rule), and texts are
//  joined whole (s_put).  That is fm_msg_encode_trusted's contract.

void
fm_gov_answer_into (fm_registry_t *self, const fm_policy_t *policy,
                    const fm_msg_t *credit_query, fm_msg_t *reply)
{
    assert (self);
    assert (policy);
    assert (credit_query);
    assert (reply);
    //  gov_main dispatches on the decoded type: anything else is a bug
    assert (credit_query->type == FM_MSG_CREDIT_QUERY);
    //  The ERROR texts below are never cut: an 18-character credit code
    //  or two codes of < FM_CODE_SIZE bytes in a short sentence
    _Static_assert (FM_TEXT_SIZE > 40 + 2 * FM_CODE_SIZE, "error texts fit");
    memcpy (reply->request_id, credit_query->request_id, sizeof reply->request_id);

    const char *id = credit_query->request.enterprise_id;
    const fm_enterprise_t *enterprise = fm_registry_find (self, id);
    if (!enterprise) {
        reply->type = FM_MSG_ERROR;
        reply->status = FM_STATUS_NOT_FOUND;
        snprintf (reply->text, sizeof reply->text,
                  "enterprise %s is not in the registry", id);
        return;
    }
    //  The request's grid: as asked, else as registered.  A grid officer
    //  submitting on the enterprise's behalf must serve that grid
    const char *grid = *credit_query->request.grid_id? credit_query->request.grid_id
                                                     : enterprise->grid_id;
    const char *officer = credit_query->request.submitted_by;
    if (*officer) {
        const char *grids = (const char *) zhashx_lookup (self->officers, officer);
        char needle [FM_CODE_SIZE + 2];
        s_put (needle, sizeof needle, ";", grid, ";", NULL);
        if (!grids || !strstr (grids, needle)) {
            zsys_warning ("gov.credit: officer %s refused for grid %s (request %s)",
                          officer, grid, credit_query->request_id);
            reply->type = FM_MSG_ERROR;
            reply->status = FM_STATUS_FORBIDDEN;
            snprintf (reply->text, sizeof reply->text,
                      "officer %s is not a grid officer of grid %s", officer, grid);
            return;
        }
    }

    //  Every field a PROFILE carries is written below or zero: the reply
    //  keeps nothing of the previous query
    reply->type = FM_MSG_PROFILE;
    fm_profile_t *profile = &reply->profile;
    memset (profile, 0, sizeof *profile);
    const char *town = (const char *) zhashx_lookup (self->grids, grid);
    if (town)
        s_put (profile->town, sizeof profile->town, town, NULL);
    memcpy (profile->enterprise_id, enterprise->credit_code, sizeof profile->enterprise_id);
    memcpy (profile->name, enterprise->name, sizeof profile->name);
    memcpy (profile->industry, enterprise->industry, sizeof profile->industry);
    memcpy (profile->grid_id, enterprise->grid_id, sizeof profile->grid_id);

    //  Registration data (name, industry, grid) is public; the rest is
    //  released only with the enterprise's consent, and a lever only for
    //  data released: a bank must be able to check what it discounts
    uint32_t consent = credit_query->request.consent;
    profile->shared = consent & FM_CONSENT_ALL;
    if (consent & FM_CONSENT_PARTY) {
        profile->party_grade = enterprise->party_grade;
        const char grade [2] = { enterprise->party_grade, 0 };
        int32_t bp = s_policy_bp (policy->party_building, "ABCD", enterprise->party_grade);
        if (bp > 0) {
            fm_lever_t *lever = s_lever_add (profile, "party_building", bp, FM_PAYER_BANK);
            //  A firm in a joint organisation is rated in its own class
            s_rating_t *rating = (s_rating_t *) zhashx_lookup (self->ratings,
                                                               enterprise->credit_code);
            s_put (lever->name, sizeof lever->name, "党建增信(", grade, "级",
                   rating && streq (rating->org, "joint")? "·联合党组织": "", ")", NULL);
        }
        //  Fast track: no discount (bp 0, banks skip it), the broker
        //  shortens the banks' deadlines (SPEC.md 14.3)
        if (s_policy_bp (policy->fast_track, "ABCD", enterprise->party_grade) > 0
        &&  profile->lever_count < FM_MAX_LEVERS) {
            fm_lever_t *lever = s_lever_add (profile, "fast_track", 0, FM_PAYER_GOVERNMENT);
            s_put (lever->name, sizeof lever->name, "快速通道(党建", grade, "级)", NULL);
        }
        //  Priority: no discount; the broker serves the request's bank
        //  queries first when banks are busy (SPEC.md 14.3)
        if (s_policy_bp (policy->priority, "ABCD", enterprise->party_grade) > 0
        &&  profile->lever_count < FM_MAX_LEVERS) {
            fm_lever_t *lever = s_lever_add (profile, "priority", 0, FM_PAYER_GOVERNMENT);
            s_put (lever->name, sizeof lever->name, "优先办理(党建", grade, "级)", NULL);
        }
        //  额度上浮: banks that honour it raise a product's maximum by pct;
        //  the bank carries the larger exposure
        int32_t pct = s_policy_bp (policy->limit_uplift, "ABCD", enterprise->party_grade);
        if (pct > 0 && profile->lever_count < FM_MAX_LEVERS) {
            fm_lever_t *lever = s_lever_add (profile, "limit_uplift", 0, FM_PAYER_BANK);
            //  1..FM_MAX_UPLIFT_PCT (fm_policy_load): at most three digits
            assert (pct <= FM_MAX_UPLIFT_PCT && FM_MAX_UPLIFT_PCT < 1000);
            char digits [4] = { 0 }, *digit = digits + 3;
            for (int32_t value = pct; value; value /= 10)
                *--digit = (char) ('0' + value % 10);
            s_put (lever->name, sizeof lever->name, "额度上浮", digit, "%(党建",
                   grade, "级)", NULL);
            lever->pct = (uint8_t) pct;
        }
    }
    if (consent & FM_CONSENT_TAX) {
        profile->tax_grade = enterprise->tax_grade;
        int32_t bp = s_policy_bp (policy->tax_credit, "ABMCD", enterprise->tax_grade);
        if (bp > 0) {
            const char grade [2] = { enterprise->tax_grade, 0 };
            fm_lever_t *lever = s_lever_add (profile, "tax_credit", bp, FM_PAYER_BANK);
            s_put (lever->name, sizeof lever->name, "银税互动(", grade, "级)", NULL);
        }
    }
    if (consent & FM_CONSENT_SOCIAL)
        profile->social_insurance_months = enterprise->social_insurance_months;

    //  区级贴息: by industry (public data, no consent needed), paid by the
    //  district; above the cap the bp is cut pro rata so that the district
    //  never pays more than bp on cap_fen of principal
    if (policy->subsidy_bp > 0 && profile->lever_count < FM_MAX_LEVERS
    &&  s_list_has_code (policy->subsidy_industries, enterprise->industry)) {
        int64_t amount = credit_query->request.amount_fen;
        int64_t bp = policy->subsidy_bp;
        if (policy->subsidy_cap_fen > 0 && amount > policy->subsidy_cap_fen)
            bp = bp * policy->subsidy_cap_fen / amount;
        if (bp > 0) {
            fm_lever_t *lever = s_lever_add (profile, "subsidy", (int32_t) bp,
                                             FM_PAYER_GOVERNMENT);
            s_put (lever->name, sizeof lever->name, "区级贴息(", enterprise->industry,
                   ")", NULL);
        }
    }
}


//  --------------------------------------------------------------------------
//  Selftest

static char *
s_test_path (const char *name)
{
    const char *source_dir = getenv ("FM_SOURCE_DIR");
    return zsys_sprintf ("%s/tests/data/workers/%s", source_dir? source_dir: ".", name);
}

static bool
s_test_rejected (fm_registry_t *registry, const char *expected)
{
    for (char *message = (char *) zlist_first (fm_registry_rejects (registry));
         message; message = (char *) zlist_next (fm_registry_rejects (registry)))
        if (strstr (message, expected))
            return true;
    return false;
}

static fm_msg_t *
s_test_query (const char *enterprise_id, uint32_t consent)
{
    fm_msg_t *query = fm_msg_new (FM_MSG_CREDIT_QUERY);
    assert (query);
    strcpy (query->request_id, "00112233445566ff");
    strcpy (query->request.enterprise_id, enterprise_id);
    query->request.consent = consent;
    return query;
}

void
fm_registry_test (bool verbose)
{
    //  @selftest
    char err [512];
    char *path = s_test_path ("registry_good.csv");
    fm_registry_t *registry = fm_registry_load (path, err, sizeof err);
    if (!registry)
        printf ("%s (set FM_SOURCE_DIR)\n", err);
    assert (registry);
    zstr_free (&path);
    assert (fm_registry_size (registry) == 5);
    assert (fm_registry_skipped (registry) == 0);
    const fm_enterprise_t *enterprise = fm_registry_find (registry, "91500105MA5U00001D");
    assert (enterprise);
    assert (streq (enterprise->name, "重庆江北嘴科技有限公司"));
    assert (streq (enterprise->industry, "I65"));
    assert (streq (enterprise->grid_id, "JB-GJ-01"));
    assert (enterprise->tax_grade == 'A');
    assert (enterprise->party_grade == 'A');
    assert (enterprise->social_insurance_months == 36);
    //  Quoted name with a comma and a doubled quote
    enterprise = fm_registry_find (registry, "91500105MA5U00002G");
    assert (enterprise);
    assert (streq (enterprise->name, "重庆\"江北\"餐饮,住宿有限公司"));
    assert (enterprise->party_grade == '-');
    assert (enterprise->social_insurance_months == 0);
    //  CRLF line and a quoted numeric field
    enterprise = fm_registry_find (registry, "91500105MA5U00003K");
    assert (enterprise && enterprise->social_insurance_months == 600);
    assert (enterprise->tax_grade == 'M');
    assert (fm_registry_find (registry, "91500105MA5U00011E") == NULL);
    assert (fm_registry_find (registry, "") == NULL);

    //  Policy from ZPL
    zconfig_t *root = zconfig_str_load (
        "policy\n"
        "    party_building\n"
        "        A = 30\n"
        "        B = 20\n"
        "        C = 10\n"
        "    tax_credit\n"
        "        A = 10\n");
    assert (root);
    fm_policy_t policy;
    int rc = fm_policy_load (&policy, root, "gov.cfg", err, sizeof err);
    assert (rc == 0);
    zconfig_destroy (&root);
    assert (policy.party_building [0] == 30 && policy.party_building [3] == 0);
    assert (policy.tax_credit [0] == 10 && policy.tax_credit [1] == 0);

    //  All consents: every field, both levers, party first
    fm_msg_t *query = s_test_query ("91500105MA5U00001D", FM_CONSENT_ALL);
    fm_msg_t *reply = fm_gov_answer (registry, &policy, query);
    assert (reply && reply->type == FM_MSG_PROFILE);
    assert (streq (reply->request_id, "00112233445566ff"));
    fm_profile_t *profile = &reply->profile;
    assert (streq (profile->enterprise_id, "91500105MA5U00001D"));
    assert (streq (profile->name, "重庆江北嘴科技有限公司"));
    assert (streq (profile->industry, "I65") && streq (profile->grid_id, "JB-GJ-01"));
    assert (profile->shared == FM_CONSENT_ALL);
    assert (profile->tax_grade == 'A' && profile->party_grade == 'A');
    assert (profile->social_insurance_months == 36);
    assert (profile->lever_count == 2);
    assert (streq (profile->levers [0].code, "party_building"));
    assert (streq (profile->levers [0].name, "党建增信(A级)"));
    assert (profile->levers [0].bp == 30 && profile->levers [0].payer == FM_PAYER_BANK);
    assert (streq (profile->levers [1].code, "tax_credit"));
    assert (streq (profile->levers [1].name, "银税互动(A级)"));
    assert (profile->levers [1].bp == 10 && profile->levers [1].payer == FM_PAYER_BANK);
    fm_error_t error;
    zframe_t *frame = fm_msg_encode (reply, &error);
    if (!frame)
        printf ("encode: %s\n", error.text);
    assert (frame);
    zframe_destroy (&frame);
    fm_msg_destroy (&reply);

    //  Fast track for party grade A: a third lever, bp 0, paid by nobody
    //  but the government's attention; the broker shortens deadlines
    policy.fast_track [0] = 1;
    reply = fm_gov_answer (registry, &policy, query);
    profile = &reply->profile;
    assert (profile->lever_count == 3);
    assert (streq (profile->levers [1].code, "fast_track"));
    assert (profile->levers [1].bp == 0);
    assert (profile->levers [1].payer == FM_PAYER_GOVERNMENT);
    policy.fast_track [0] = 0;
    fm_msg_destroy (&reply);

    //  Priority and limit uplift, from the policy text, by party grade:
    //  grade A earns both, with the uplift's percentage on the lever
    root = zconfig_str_load (
        "policy\n"
        "    party_building\n"
        "        A = 30\n"
        "    priority\n"
        "        A = 1\n"
        "    limit_uplift\n"
        "        A = 20\n"
        "        B = 10\n");
    fm_policy_t levers_policy;
    assert (fm_policy_load (&levers_policy, root, "gov.cfg", err, sizeof err) == 0);
    zconfig_destroy (&root);
    assert (levers_policy.priority [0] == 1 && levers_policy.priority [1] == 0);
    assert (levers_policy.limit_uplift [0] == 20 && levers_policy.limit_uplift [1] == 10);
    reply = fm_gov_answer (registry, &levers_policy, query);
    profile = &reply->profile;
    assert (profile->lever_count == 3);
    assert (streq (profile->levers [1].code, "priority") && profile->levers [1].bp == 0);
    assert (profile->levers [1].payer == FM_PAYER_GOVERNMENT);
    assert (streq (profile->levers [2].code, "limit_uplift"));
    assert (profile->levers [2].pct == 20 && profile->levers [2].bp == 0);
    assert (profile->levers [2].payer == FM_PAYER_BANK);
    assert (streq (profile->levers [2].name, "额度上浮20%(党建A级)"));
    zframe_t *wire = fm_msg_encode (reply, NULL);
    assert (wire);                      //  a valid PROFILE
    zframe_destroy (&wire);
    fm_msg_destroy (&reply);
    fm_msg_destroy (&query);

    //  No consent: public registration data only, no levers
    query = s_test_query ("91500105MA5U00001D", 0);
    reply = fm_gov_answer (registry, &policy, query);
    profile = &reply->profile;
    assert (profile->shared == 0);
    assert (streq (profile->name, "重庆江北嘴科技有限公司"));
    assert (profile->tax_grade == 0 && profile->party_grade == 0);
    assert (profile->social_insurance_months == 0 && profile->lever_count == 0);
    fm_msg_destroy (&reply);
    fm_msg_destroy (&query);

    //  Tax only: the grade and the tax lever
    query = s_test_query ("91500105MA5U00001D", FM_CONSENT_TAX);
    reply = fm_gov_answer (registry, &policy, query);
    profile = &reply->profile;
    assert (profile->shared == FM_CONSENT_TAX);
    assert (profile->tax_grade == 'A' && profile->party_grade == 0);
    assert (profile->social_insurance_months == 0);
    assert (profile->lever_count == 1 && streq (profile->levers [0].code, "tax_credit"));
    fm_msg_destroy (&reply);
    fm_msg_destroy (&query);

    //  Social insurance only: months, no lever
    query = s_test_query ("91500105MA5U00001D", FM_CONSENT_SOCIAL);
    reply = fm_gov_answer (registry, &policy, query);
    profile = &reply->profile;
    assert (profile->shared == FM_CONSENT_SOCIAL);
    assert (profile->social_insurance_months == 36);
    assert (profile->tax_grade == 0 && profile->party_grade == 0 && profile->lever_count == 0);
    fm_msg_destroy (&reply);
    fm_msg_destroy (&query);

    //  Party building, grade B: 20 bp; tax grade B earns nothing by policy
    query = s_test_query ("91500105MA5U00021F", FM_CONSENT_PARTY | FM_CONSENT_TAX);
    reply = fm_gov_answer (registry, &policy, query);
    profile = &reply->profile;
    assert (profile->party_grade == 'B' && profile->tax_grade == 'B');
    assert (profile->lever_count == 1);
    assert (streq (profile->levers [0].name, "党建增信(B级)") && profile->levers [0].bp == 20);
    fm_msg_destroy (&reply);
    fm_msg_destroy (&query);

    //  No party organisation ('-'): shared, but no lever
    query = s_test_query ("91500105MA5U00002G", FM_CONSENT_PARTY);
    reply = fm_gov_answer (registry, &policy, query);
    profile = &reply->profile;
    assert (profile->shared == FM_CONSENT_PARTY && profile->party_grade == '-');
    assert (profile->lever_count == 0);
    fm_msg_destroy (&reply);
    fm_msg_destroy (&query);

    //  Unknown enterprise: ERROR 404
    query = s_test_query ("91500105MA5U00011E", FM_CONSENT_ALL);
    reply = fm_gov_answer (registry, &policy, query);
    assert (reply && reply->type == FM_MSG_ERROR);
    assert (reply->status == FM_STATUS_NOT_FOUND);
    assert (streq (reply->request_id, "00112233445566ff"));
    assert (streq (reply->text, "enterprise 91500105MA5U00011E is not in the registry"));
    fm_msg_destroy (&reply);
    fm_msg_destroy (&query);
    fm_registry_destroy (&registry);
    fm_registry_destroy (&registry);    //  idempotent

    //  Bad rows are reported with their line and skipped
    path = s_test_path ("registry_bad.csv");
    registry = fm_registry_load (path, err, sizeof err);
    assert (registry);
    if (verbose)
        for (char *message = (char *) zlist_first (fm_registry_rejects (registry));
             message; message = (char *) zlist_next (fm_registry_rejects (registry)))
            printf ("%s\n", message);
    char expected [256];
    const char *rejects [] = {
        "3: bad check character in 91500105MA5U00001X",
        "4: tax_grade 'E' is not one of A B M C D",
        "5: party_grade 'M' is not one of A B C D -",
        "6: social_insurance_months '601' is not 0..600",
        "7: invalid UTF-8 or control character in field 2",
        "8: duplicate credit code 91500105MA5U00001D (first on line 2)",
        "9: 6 fields, expected 7",
        "10: credit code '91500105ma5u00002g' has characters outside GB 32100",
        "11: quote inside an unquoted field",
        "12: name empty",
        "13: credit code '9150010' is not 18 characters",
        "15: social_insurance_months 'x' is not 0..600",
    };
    size_t reject_count = sizeof rejects / sizeof rejects [0];
    for (size_t index = 0; index < reject_count; index++) {
        snprintf (expected, sizeof expected, "registry_bad.csv:%s", rejects [index]);
        if (!s_test_rejected (registry, expected)) {
            printf ("not rejected: %s\n", expected);
            assert (false);
        }
    }
    assert (fm_registry_skipped (registry) == reject_count);
    //  Lines 2, 14 (every field quoted) and 16 are good; 17 is blank
    assert (fm_registry_size (registry) == 3);
    assert (fm_registry_find (registry, "91500105MA5U00001D"));
    assert (fm_registry_find (registry, "91500105MA5U00003K"));
    assert (fm_registry_find (registry, "91500105MA5U00012H"));
    //  The duplicate kept the first row's data
    assert (streq (fm_registry_find (registry, "91500105MA5U00001D")->grid_id, "JB-GJ-01"));
    fm_registry_destroy (&registry);
    zstr_free (&path);

    //  Header problems fail the load
    path = s_test_path ("registry_noheader.csv");
    registry = fm_registry_load (path, err, sizeof err);
    assert (registry == NULL);
    assert (strstr (err, "registry_noheader.csv:1: header row lacks column 'credit_code'"));
    zstr_free (&path);
    path = s_test_path ("registry_empty.csv");
    registry = fm_registry_load (path, err, sizeof err);
    assert (registry == NULL);
    assert (strstr (err, "registry_empty.csv: empty file"));
    zstr_free (&path);
    registry = fm_registry_load ("/nonexistent/enterprises.csv", err, sizeof err);
    assert (registry == NULL);
    assert (strstr (err, "/nonexistent/enterprises.csv: cannot open"));

    //  Policy errors name the file and key
    const char *bad_policies [][2] = {
        { "policy\n    party_building\n        E = 10\n",
          "gov.cfg: policy/party_building/E: not a grade (ABCD)" },
        { "policy\n    tax_credit\n        A = 600\n",
          "gov.cfg: policy/tax_credit/A: '600' is not an integer 0..500 (bp)" },
        { "policy\n    tax_credit\n        A = 1O\n",
          "gov.cfg: policy/tax_credit/A: '1O' is not an integer" },
        { "policy\n    green_credit\n        A = 10\n",
          "gov.cfg: policy/green_credit: unknown lever" },
        { "policy\n    tax_credit\n        M = -1\n",
          "gov.cfg: policy/tax_credit/M: '-1' is not an integer" },
        //  An uplift above 100 % and a priority that is not 0/1 are refused
        { "policy\n    limit_uplift\n        A = 101\n",
          "gov.cfg: policy/limit_uplift/A: '101' is not an integer 0..100 (%)" },
        { "policy\n    priority\n        A = 2\n",
          "gov.cfg: policy/priority/A: '2' is not an integer 0..1 (1 = lever)" },
    };
    for (size_t index = 0; index < sizeof bad_policies / sizeof bad_policies [0]; index++) {
        root = zconfig_str_load (bad_policies [index][0]);
        assert (root);
        rc = fm_policy_load (&policy, root, "gov.cfg", err, sizeof err);
        if (rc != -1 || !strstr (err, bad_policies [index][1])) {
            printf ("expected '%s', got '%s'\n", bad_policies [index][1], err);
            assert (false);
        }
        zconfig_destroy (&root);
    }
    //  No policy section: no levers at all
    rc = fm_policy_load (&policy, NULL, "gov.cfg", err, sizeof err);
    assert (rc == 0 && policy.party_building [0] == 0 && policy.tax_credit [0] == 0);

    //  Issue 3: the Jiangbei dataset with its grids, officers and ratings
    const char *source_dir = getenv ("FM_SOURCE_DIR");
    path = zsys_sprintf ("%s/deploy/data/enterprises.csv", source_dir? source_dir: ".");
    registry = fm_registry_load (path, err, sizeof err);
    assert (registry && fm_registry_size (registry) >= 4000);
    assert (fm_registry_skipped (registry) == 0);
    zstr_free (&path);
    const char *tables [] = { "grids", "officers", "ratings" };
    int rows [3];
    for (size_t index = 0; index < 3; index++) {
        path = zsys_sprintf ("%s/deploy/data/%s.csv", source_dir? source_dir: ".",
                             tables [index]);
        rows [index] = index == 0? fm_registry_load_grids (registry, path, err, sizeof err)
                     : index == 1? fm_registry_load_officers (registry, path, err, sizeof err)
                                 : fm_registry_load_ratings (registry, path, err, sizeof err);
        if (rows [index] < 0)
            printf ("%s\n", err);
        zstr_free (&path);
    }
    assert (rows [0] == 1372 && rows [1] == 496);
    assert ((size_t) rows [2] == fm_registry_size (registry));
    assert (fm_registry_skipped (registry) == 0);
    root = zconfig_str_load (
        "policy\n"
        "    party_building\n"
        "        B = 20\n"
        "    subsidy\n"
        "        bp = 25\n"
        "        industries = manufacturing, agriculture\n"
        "        max_amount_yuan = 5000000\n");
    rc = fm_policy_load (&policy, root, "gov.cfg", err, sizeof err);
    assert (rc == 0 && policy.subsidy_bp == 25);
    assert (policy.subsidy_cap_fen == INT64_C (500000000));
    zconfig_destroy (&root);
    //  GYQ-01-01's catering firm, party grade B in a joint organisation,
    //  submitted by the officer who serves that grid: town GYQ
    query = s_test_query ("91500105MA2987XB1W", FM_CONSENT_ALL);
    query->request.amount_fen = INT64_C (100000000);
    strcpy (query->request.submitted_by, "JBO0001");
    reply = fm_gov_answer (registry, &policy, query);
    assert (reply && reply->type == FM_MSG_PROFILE);
    assert (streq (reply->profile.town, "GYQ"));
    assert (reply->profile.lever_count == 1);
    assert (streq (reply->profile.levers [0].name, "党建增信(B级·联合党组织)"));
    fm_msg_destroy (&reply);
    //  An officer of another grid is refused: 403, nothing released
    strcpy (query->request.submitted_by, "JBO0002");
    reply = fm_gov_answer (registry, &policy, query);
    assert (reply && reply->type == FM_MSG_ERROR && reply->status == FM_STATUS_FORBIDDEN);
    assert (streq (reply->text, "officer JBO0002 is not a grid officer of grid GYQ-01-01"));
    fm_msg_destroy (&reply);
    strcpy (query->request.submitted_by, "NOBODY");
    reply = fm_gov_answer (registry, &policy, query);
    assert (reply->status == FM_STATUS_FORBIDDEN);
    fm_msg_destroy (&reply);
    //  ... unless the request names a grid that officer serves
    strcpy (query->request.submitted_by, "JBO0002");
    strcpy (query->request.grid_id, "GYQ-01-02");
    reply = fm_gov_answer (registry, &policy, query);
    assert (reply->type == FM_MSG_PROFILE && streq (reply->profile.town, "GYQ"));
    fm_msg_destroy (&reply);
    fm_msg_destroy (&query);
    //  Subsidy (manufacturing, SMH-01-01): no consent needed, paid by the
    //  government; 25 bp up to the 500万 cap, pro rata above (1000万: 12)
    query = s_test_query ("91500105826604409M", 0);
    query->request.amount_fen = INT64_C (300000000);
    reply = fm_gov_answer (registry, &policy, query);
    assert (reply->profile.lever_count == 1 && streq (reply->profile.town, "SMH"));
    assert (streq (reply->profile.levers [0].code, "subsidy"));
    assert (reply->profile.levers [0].bp == 25);
    assert (reply->profile.levers [0].payer == FM_PAYER_GOVERNMENT);
    assert (streq (reply->profile.levers [0].name, "区级贴息(manufacturing)"));
    fm_msg_destroy (&reply);
    query->request.amount_fen = INT64_C (1000000000);
    reply = fm_gov_answer (registry, &policy, query);
    assert (reply->profile.levers [0].bp == 12);
    fm_msg_destroy (&reply);
    fm_msg_destroy (&query);
    //  Not a subsidised industry: no lever
    query = s_test_query ("91500105MA2987XB1W", 0);
    query->request.amount_fen = INT64_C (100000000);
    reply = fm_gov_answer (registry, &policy, query);
    assert (reply->profile.lever_count == 0);
    fm_msg_destroy (&reply);
    fm_msg_destroy (&query);

    //  finmatch-gov answers into one reused message and encodes it trusted:
    //  for every enterprise of the dataset, with every consent, officers,
    //  unknown enterprises and every lever in between, the reply must be
    //  valid (what the trusted encoder takes on faith) and its bytes those
    //  of a fresh answer encoded checked (nothing left from the last query)
    policy.fast_track [0] = policy.priority [0] = 1;
    policy.limit_uplift [0] = 20;
    policy.tax_credit [0] = 10;
    fm_msg_t *reused = fm_msg_new (FM_MSG_PROFILE);
    assert (reused);
    size_t index = 0, levers = 0, errors = 0;
    //  The codes first: a lookup moves zhashx's cursor
    zlistx_t *codes = zhashx_keys (registry->index);
    assert (codes);
    for (const char *code = (const char *) zlistx_first (codes); code;
         code = (const char *) zlistx_next (codes), index++) {
        query = s_test_query (index % 13 == 0? "91500105MA5U00011E": code,
                              (uint32_t) index % 8);
        query->request.amount_fen = index % 3? INT64_C (1000000000): INT64_C (100000000);
        if (index % 5 == 0) {
            strcpy (query->request.submitted_by, index % 401? "JBO0001": "NOBODY");
            strcpy (query->request.grid_id, "GYQ-01-01");
        }
        reply = fm_gov_answer (registry, &policy, query);
        assert (reply);
        fm_gov_answer_into (registry, &policy, query, reused);
        fm_error_t error;
        if (fm_msg_validate (reused, &error)) {
            printf ("%s: %s\n", code, error.text);
            assert (false);
        }
        zframe_t *checked = fm_msg_encode (reply, NULL);
        zframe_t *trusted = fm_msg_encode_trusted (reused);
        assert (checked && trusted);
        assert (zframe_eq (checked, trusted));
        levers += reused->type == FM_MSG_PROFILE? reused->profile.lever_count: 0;
        errors += reused->type == FM_MSG_ERROR;
        zframe_destroy (&checked);
        zframe_destroy (&trusted);
        fm_msg_destroy (&reply);
        fm_msg_destroy (&query);
    }
    if (verbose)
        printf ("   %zu answers into one message, %zu levers, %zu errors\n",
                index, levers, errors);
    assert (index == fm_registry_size (registry));
    assert (levers > index / 2 && errors > index / 13);
    zlistx_destroy (&codes);
    fm_msg_destroy (&reused);
    fm_registry_destroy (&registry);
    //  @end
}
