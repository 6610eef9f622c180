/*  =========================================================================
    fm_dash - live aggregation of the event stream for the dashboard

    One hash per kind of distinct id (requests, enterprises, loans) and one
    accumulator per bank, per grid and per town (a request's town is the
    one its request.enriched names).  fm_dash_report turns them into the
    fm_report_t that the SQL report fills, so that both print and chart
    the same way; the selftest checks that the two agree on the same
    events.  Integer arithmetic only (128-bit for the weighted mean).
    Bank and town names are labels kept beside the figures, loaded with
    the report's own loaders (fm_report_banks.c, fm_report_detail.c).
    =========================================================================
*/

#include <czmq.h>
#include <time.h>
#include "fm_dash.h"
#include "fm_money.h"
#include "fm_i18n.h"

//  One bank's accumulators (loans counted once per loan_id)
typedef struct {
    int64_t offers;
    int64_t declines;
    int64_t timeouts;
    int64_t accepted;
    int64_t loans;
    int64_t credit_fen;
    int64_t reduction_bp;               //  Σ base − effective over loans
} s_bank_t;

//  One grid's or one town's accumulators (an "area", as fm_report's
//  s_areas_sql groups them)
typedef struct {
    int64_t requests;                   //  distinct requests in this area
    int64_t offers;                     //  offer.made
    int64_t loans;
    int64_t credit_fen;
    int64_t reduction_bp;
    zhashx_t *served;                   //  owned: enterprises with a loan
    char town [FM_CODE_SIZE];           //  grids: the largest town code of
                                        //  their requests (SQL's MAX (town))
} s_grid_t;

//  What a request id is known by: its grid (the client's, else the
//  registry's) and its town (the profile's, from request.enriched)
typedef struct {
    char grid [FM_CODE_SIZE];
    char town [FM_CODE_SIZE];
} s_request_t;

struct _fm_dash_t {
    zhashx_t *banks;                    //  owned: code -> s_bank_t
    zhashx_t *grids;                    //  owned: grid id -> s_grid_t
    zhashx_t *towns;                    //  owned: town code -> s_grid_t
    zhashx_t *requests;                 //  owned: request id -> s_request_t
    zhashx_t *enterprises;              //  owned set: requesting enterprises
    zhashx_t *served;                   //  owned set: enterprises with a loan
    zhashx_t *loan_ids;                 //  owned set: loans already counted
    zhashx_t *epochs;                   //  owned: epoch -> last seq (uint64_t)
    fm_report_t totals;                 //  scalar figures; no rows here
    int64_t reduction_bp;               //  Σ base − effective over loans
    __int128 weighted;                  //  Σ amount × reduction
    int64_t completed;                  //  request.completed
    int64_t completed_ok;               //  ... with status 200
    int64_t sla_breaches;               //  sla.breach (if published)
    int64_t late_replies;               //  reply.late
    int64_t rejected;                   //  input.rejected
    int64_t workers_ready;              //  worker.ready minus worker.expired
    int64_t malformed;                  //  messages that did not decode
    uint64_t epoch;                     //  newest broker epoch seen
    uint64_t generation;                //  events applied
    fm_event_t *recent;                 //  owned ring of recent_max events
    size_t recent_max;
    size_t recent_count;
    size_t recent_next;                 //  slot the next event goes to
    //  Names (fm_dash_set_names): labels only, no figure depends on them
    fm_report_t names;                  //  owned: bank_names, and towns
                                        //  rows = every town code met, with
                                        //  its name once the file had it
    char *towns_file;                   //  owned; NULL = towns not named
    bool towns_stale;                   //  a town code not yet looked up
};

//  Item of the set hashes: they store keys only
static char s_present [] = "";

static void
s_bank_destroy (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}

static void
s_grid_destroy (void **item_p)
{
    s_grid_t *grid = (s_grid_t *) *item_p;
    if (grid) {
        zhashx_destroy (&grid->served);
        free (grid);
    }
    *item_p = NULL;
}

static void
s_free_item (void **item_p)
{
    free (*item_p);
    *item_p = NULL;
}


//  --------------------------------------------------------------------------
//  Create and destroy

fm_dash_t *
fm_dash_new (size_t recent_max)
{
    fm_dash_t *self = (fm_dash_t *) zmalloc (sizeof (fm_dash_t));
    if (!self)
        return NULL;
    self->recent_max = recent_max? recent_max: 1;
    self->recent = (fm_event_t *) calloc (self->recent_max, sizeof (fm_event_t));
    self->banks = zhashx_new ();
    self->grids = zhashx_new ();
    self->towns = zhashx_new ();
    self->requests = zhashx_new ();
    self->enterprises = zhashx_new ();
    self->served = zhashx_new ();
    self->loan_ids = zhashx_new ();
    self->epochs = zhashx_new ();
    if (!self->recent || !self->banks || !self->grids || !self->towns
    ||  !self->requests || !self->enterprises || !self->served || !self->loan_ids
    ||  !self->epochs) {
        fm_dash_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->banks, s_bank_destroy);
    zhashx_set_destructor (self->grids, s_grid_destroy);
    zhashx_set_destructor (self->towns, s_grid_destroy);
    zhashx_set_destructor (self->requests, s_free_item);
    zhashx_set_destructor (self->epochs, s_free_item);
    return self;
}

void
fm_dash_destroy (fm_dash_t **self_p)
{
    assert (self_p);
    fm_dash_t *self = *self_p;
    if (self) {
        zhashx_destroy (&self->banks);
        zhashx_destroy (&self->grids);
        zhashx_destroy (&self->towns);
        zhashx_destroy (&self->requests);
        zhashx_destroy (&self->enterprises);
        zhashx_destroy (&self->served);
        zhashx_destroy (&self->loan_ids);
        zhashx_destroy (&self->epochs);
        free (self->recent);
        fm_report_release (&self->names);
        free (self->towns_file);
        free (self);
        *self_p = NULL;
    }
}


//  --------------------------------------------------------------------------
//  Accumulators, created on first use.  Return NULL if out of memory.

static s_bank_t *
s_bank_require (fm_dash_t *self, const char *code)
{
    s_bank_t *bank = (s_bank_t *) zhashx_lookup (self->banks, code);
    if (!bank) {
        bank = (s_bank_t *) zmalloc (sizeof (s_bank_t));
        if (bank && zhashx_insert (self->banks, code, bank)) {
            free (bank);
            bank = NULL;
        }
    }
    return bank;
}

//  The area of code in areas (self->grids or self->towns)
static s_grid_t *
s_grid_require (zhashx_t *areas, const char *code)
{
    s_grid_t *grid = (s_grid_t *) zhashx_lookup (areas, code);
    if (!grid) {
        grid = (s_grid_t *) zmalloc (sizeof (s_grid_t));
        if (!grid)
            return NULL;
        grid->served = zhashx_new ();
        if (!grid->served || zhashx_insert (areas, code, grid)) {
            zhashx_destroy (&grid->served);
            free (grid);
            return NULL;
        }
    }
    return grid;
}

//  Add key to a set.  Returns 1 if it was new, 0 if already there.
static int
s_set_add (zhashx_t *set, const char *key)
{
    return zhashx_insert (set, key, s_present) == 0;
}


//  --------------------------------------------------------------------------
//  Gap detection per epoch, as the recorder does it: a jump in seq is a
//  gap; a new epoch whose first seq is above 1 lost its first events.

static void
s_track_seq (fm_dash_t *self, const fm_event_t *event)
{
    char key [32];
    snprintf (key, sizeof key, "%" PRIu64, event->epoch);
    uint64_t *last = (uint64_t *) zhashx_lookup (self->epochs, key);
    if (!last) {
        last = (uint64_t *) malloc (sizeof (uint64_t));
        if (!last || zhashx_insert (self->epochs, key, last)) {
            free (last);
            return;
        }
        *last = 0;
        self->totals.epochs++;
    }
    if (event->seq > *last + 1) {
        self->totals.gaps++;
        self->totals.missing_events += (int64_t) (event->seq - *last - 1);
    }
    if (event->seq > *last)
        *last = event->seq;
    if (event->epoch > self->epoch)
        self->epoch = event->epoch;
}


//  --------------------------------------------------------------------------
//  Fold one event in

//  A town code met in the stream or in a report: remembered so that
//  s_names_refresh looks its name up (once).  Returns 0, or -1 if out of
//  memory.
static int
s_town_met (fm_dash_t *self, const char *code)
{
    if (!*code || !self->towns_file)
        return 0;
    for (size_t i = 0; i < self->names.town_count; i++)
        if (streq (self->names.towns [i].town, code))
            return 0;
    fm_report_town_t *more = (fm_report_town_t *) realloc (
        self->names.towns, (self->names.town_count + 1) * sizeof *more);
    if (!more)
        return -1;
    self->names.towns = more;
    fm_report_town_t *row = &more [self->names.town_count++];
    memset (row, 0, sizeof *row);
    snprintf (row->town, sizeof row->town, "%s", code);
    self->towns_stale = true;
    return 0;
}

//  A grid's town is the largest town code of its requests, as the SQL
//  report's MAX (town): one town per grid in practice
static void
s_grid_town (s_grid_t *grid, const char *town)
{
    if (strcmp (town, grid->town) > 0)
        snprintf (grid->town, sizeof grid->town, "%s", town);
}

//  The grid and town an offer or loan counts in, as the SQL report puts
//  it: the event's grid, else its request's; the request's town ("" if
//  the request or its profile was not seen).  Returns 0 with both set, or
//  -1 if out of memory.
static int
s_event_areas (fm_dash_t *self, const fm_event_t *event,
               s_grid_t **grid_p, s_grid_t **town_p)
{
    const s_request_t *request = (const s_request_t *) zhashx_lookup (
        self->requests, event->request_id);
    const char *grid_id = *event->grid_id? event->grid_id:
                          request? request->grid: "";
    const char *town = request? request->town: "";
    *grid_p = s_grid_require (self->grids, grid_id);
    *town_p = s_grid_require (self->towns, town);
    if (!*grid_p || !*town_p)
        return -1;
    s_grid_town (*grid_p, town);
    return 0;
}

static int
s_apply_loan (fm_dash_t *self, const fm_event_t *event)
{
    //  The report reduces loans to one per loan_id; a loan without an id
    //  is its own (epoch/seq)
    char key [FM_LOAN_ID_SIZE + 48];
    if (*event->loan_id)
        snprintf (key, sizeof key, "%s", event->loan_id);
    else
        snprintf (key, sizeof key, "%" PRIu64 "/%" PRIu64,
                  event->epoch, event->seq);
    if (!s_set_add (self->loan_ids, key))
        return 0;
    int64_t reduction = (int64_t) event->base_rate_bp - event->effective_rate_bp;
    s_bank_t *bank = s_bank_require (self, event->bank);
    s_grid_t *grid, *town;
    if (!bank || s_event_areas (self, event, &grid, &town))
        return -1;
    self->totals.loans++;
    self->totals.credit_fen += event->amount_fen;
    self->reduction_bp += reduction;
    self->weighted += (__int128) event->amount_fen * reduction;
    s_set_add (self->served, event->enterprise_id);
    bank->loans++;
    bank->credit_fen += event->amount_fen;
    bank->reduction_bp += reduction;
    s_grid_t *areas [2] = { grid, town };
    for (size_t index = 0; index < 2; index++) {
        areas [index]->loans++;
        areas [index]->credit_fen += event->amount_fen;
        areas [index]->reduction_bp += reduction;
        s_set_add (areas [index]->served, event->enterprise_id);
    }
    return 0;
}

//  offer.made: counted in its grid and its request's town
static int
s_apply_offer (fm_dash_t *self, const fm_event_t *event)
{
    self->totals.offers++;
    s_bank_t *bank = s_bank_require (self, event->bank);
    s_grid_t *grid, *town;
    if (!bank || s_event_areas (self, event, &grid, &town))
        return -1;
    bank->offers++;
    grid->offers++;
    town->offers++;
    return 0;
}

//  request.received: a new request counts in its grid ("" until enriched)
//  and in the unknown town until its profile names one
static int
s_apply_received (fm_dash_t *self, const fm_event_t *event)
{
    s_set_add (self->enterprises, event->enterprise_id);
    if (zhashx_lookup (self->requests, event->request_id))
        return 0;               //  a replay
    s_request_t *request = (s_request_t *) zmalloc (sizeof (s_request_t));
    s_grid_t *grid = s_grid_require (self->grids, event->grid_id);
    s_grid_t *town = s_grid_require (self->towns, "");
    if (!request || !grid || !town
    ||  zhashx_insert (self->requests, event->request_id, request)) {
        free (request);
        return -1;
    }
    snprintf (request->grid, sizeof request->grid, "%s", event->grid_id);
    self->totals.requests++;
    grid->requests++;
    town->requests++;
    return 0;
}

//  A request counted under "" (grid or town unknown when it was received)
//  moves to code, the first code it gets, in table; code is at most
//  FM_CODE_SIZE - 1 bytes (the decoder's limit).  Returns 0, or -1 when
//  out of memory.
static int
s_request_place (zhashx_t *table, char *placed, const char *code)
{
    if (*placed || !*code)
        return 0;
    s_grid_t *from = s_grid_require (table, "");
    s_grid_t *to = s_grid_require (table, code);
    if (!from || !to)
        return -1;
    from->requests--;
    to->requests++;
    snprintf (placed, FM_CODE_SIZE, "%s", code);
    return 0;
}

//  request.enriched: a request sent without a grid moves to the registry's;
//  the profile's town (the first one) becomes the request's
static int
s_apply_enriched (fm_dash_t *self, const fm_event_t *event)
{
    s_request_t *request = (s_request_t *) zhashx_lookup (self->requests,
                                                          event->request_id);
    if (!request)
        return 0;
    if (s_request_place (self->grids, request->grid, event->grid_id)
    ||  s_request_place (self->towns, request->town, event->town))
        return -1;
    s_grid_t *grid = s_grid_require (self->grids, request->grid);
    if (!grid)
        return -1;
    s_grid_town (grid, request->town);
    return 0;
}

int
fm_dash_apply (fm_dash_t *self, const fm_event_t *event)
{
    assert (self);
    assert (event);
    self->generation++;
    self->recent [self->recent_next] = *event;
    self->recent_next = (self->recent_next + 1) % self->recent_max;
    if (self->recent_count < self->recent_max)
        self->recent_count++;

    self->totals.events++;
    if (self->totals.first_ts_us == 0 || event->ts_us < self->totals.first_ts_us)
        self->totals.first_ts_us = event->ts_us;
    if (event->ts_us > self->totals.last_ts_us)
        self->totals.last_ts_us = event->ts_us;
    s_track_seq (self, event);

    const char *type = fm_event_type_name (event->type);
    s_bank_t *bank = NULL;
    switch (event->type) {
        case FM_EV_REQUEST_RECEIVED:
            return s_apply_received (self, event);
        case FM_EV_REQUEST_ENRICHED:
            return s_apply_enriched (self, event);
        case FM_EV_OFFER_MADE:
            return s_apply_offer (self, event);
        case FM_EV_DECLINE_MADE:
            self->totals.declines++;
            if (!(bank = s_bank_require (self, event->bank)))
                return -1;
            bank->declines++;
            return 0;
        case FM_EV_BANK_TIMEOUT:
            self->totals.timeouts++;
            if (!(bank = s_bank_require (self, event->bank)))
                return -1;
            bank->timeouts++;
            return 0;
        case FM_EV_OFFER_ACCEPTED:
            self->totals.accepted++;
            if (!(bank = s_bank_require (self, event->bank)))
                return -1;
            bank->accepted++;
            return 0;
        case FM_EV_OFFER_WITHDRAWN:
            self->totals.withdrawn++;
            return 0;
        case FM_EV_LOAN_GRANTED:
            return s_apply_loan (self, event);
        case FM_EV_REQUEST_COMPLETED:
            self->completed++;
            if (event->status == 200)
                self->completed_ok++;
            return 0;
        case FM_EV_WORKER_READY:
            self->workers_ready++;
            return 0;
        case FM_EV_WORKER_EXPIRED:
            self->workers_ready--;
            return 0;
        case FM_EV_INPUT_REJECTED:
            self->rejected++;
            return 0;
        case FM_EV_LATE_REPLY:
            self->late_replies++;
            return 0;
        default:
            //  Types added after this file: matched by name so a broker
            //  that publishes sla.breach is counted without a rebuild of
            //  this switch
            if (type && streq (type, "sla.breach"))
                self->sla_breaches++;
            return 0;
    }
}

void
fm_dash_malformed (fm_dash_t *self)
{
    assert (self);
    self->malformed++;
    self->generation++;
}

uint64_t
fm_dash_generation (fm_dash_t *self)
{
    assert (self);
    return self->generation;
}


//  --------------------------------------------------------------------------
//  The figures as a report

static int64_t
s_round_div (__int128 a, __int128 b)
{
    if (b <= 0)
        return 0;
    if (a >= 0)
        return (int64_t) ((2 * a + b) / (2 * b));
    else
        return -(int64_t) ((-2 * a + b) / (2 * b));
}

static int
s_compare_keys (const void *a, const void *b)
{
    return strcmp (*(const char * const *) a, *(const char * const *) b);
}

//  The keys of hash, sorted (byte order, as SQLite's ORDER BY).  Returns a
//  new array of borrowed keys (free only the array), or NULL (count 0 or
//  out of memory; *count says which).
static const char **
s_sorted_keys (zhashx_t *hash, size_t *count)
{
    *count = zhashx_size (hash);
    if (*count == 0)
        return NULL;
    const char **keys = (const char **) calloc (*count, sizeof (char *));
    if (!keys)
        return NULL;
    size_t index = 0;
    for (void *item = zhashx_first (hash); item; item = zhashx_next (hash))
        keys [index++] = (const char *) zhashx_cursor (hash);
    qsort (keys, *count, sizeof (char *), s_compare_keys);
    return keys;
}

//  The rows of areas (grids or towns) into out->grids or out->towns,
//  ordered by code.  Returns 0, or -1 if out of memory (the caller
//  releases out).
static int
s_areas_report (zhashx_t *areas, fm_report_t *out, bool towns)
{
    size_t count;
    const char **keys = s_sorted_keys (areas, &count);
    if (count && !keys)
        return -1;
    if (towns)
        out->towns = (fm_report_town_t *) calloc (count + 1,
                                                  sizeof (fm_report_town_t));
    else
        out->grids = (fm_report_grid_t *) calloc (count + 1,
                                                  sizeof (fm_report_grid_t));
    if (towns? !out->towns: !out->grids) {
        free (keys);
        return -1;
    }
    for (size_t index = 0; index < count; index++) {
        s_grid_t *area = (s_grid_t *) zhashx_lookup (areas, keys [index]);
        //  An area left without requests, offers or loans (its only
        //  request moved to the registry's grid, or to its town) is not a
        //  row of the SQL report either
        if (area->requests == 0 && area->offers == 0 && area->loans == 0)
            continue;
        int64_t served = (int64_t) zhashx_size (area->served);
        int64_t reduction = s_round_div ((__int128) area->reduction_bp * 10,
                                         area->loans);
        if (towns) {
            fm_report_town_t *row = &out->towns [out->town_count++];
            snprintf (row->town, sizeof row->town, "%s", keys [index]);
            row->requests = area->requests;
            row->enterprises_served = served;
            row->offers = area->offers;
            row->loans = area->loans;
            row->credit_fen = area->credit_fen;
            row->avg_reduction_tenth_bp = reduction;
        }
        else {
            fm_report_grid_t *row = &out->grids [out->grid_count++];
            snprintf (row->grid, sizeof row->grid, "%s", keys [index]);
            snprintf (row->town, sizeof row->town, "%s", area->town);
            row->requests = area->requests;
            row->enterprises_served = served;
            row->offers = area->offers;
            row->loans = area->loans;
            row->credit_fen = area->credit_fen;
            row->avg_reduction_tenth_bp = reduction;
        }
    }
    free (keys);
    return 0;
}

int
fm_dash_report (fm_dash_t *self, fm_report_t *out)
{
    assert (self);
    assert (out);
    //  totals holds scalars only: every row pointer in it is NULL
    *out = self->totals;
    out->enterprises = (int64_t) zhashx_size (self->enterprises);
    out->enterprises_served = (int64_t) zhashx_size (self->served);
    out->avg_reduction_tenth_bp =
        s_round_div ((__int128) self->reduction_bp * 10, out->loans);
    out->weighted_reduction_tenth_bp =
        s_round_div (self->weighted * 10, out->credit_fen);

    size_t count;
    const char **keys = s_sorted_keys (self->banks, &count);
    if (count && !keys)
        return -1;
    out->banks = (fm_report_bank_t *) calloc (count + 1, sizeof (fm_report_bank_t));
    for (size_t index = 0; out->banks && index < count; index++) {
        const s_bank_t *bank = (const s_bank_t *) zhashx_lookup (self->banks,
                                                                  keys [index]);
        fm_report_bank_t *row = &out->banks [out->bank_count++];
        snprintf (row->bank, sizeof row->bank, "%s", keys [index]);
        row->offers = bank->offers;
        row->declines = bank->declines;
        row->timeouts = bank->timeouts;
        row->accepted = bank->accepted;
        row->loans = bank->loans;
        row->credit_fen = bank->credit_fen;
        row->avg_reduction_tenth_bp =
            s_round_div ((__int128) bank->reduction_bp * 10, bank->loans);
    }
    free (keys);

    if (!out->banks
    ||  s_areas_report (self->grids, out, false)
    ||  s_areas_report (self->towns, out, true)
    ||  fm_dash_name_report (self, out)) {
        fm_report_release (out);
        return -1;
    }
    return 0;
}


//  --------------------------------------------------------------------------
//  Names: `finmatch report`'s loaders (fm_report_bank_names,
//  fm_report_town_names) fill self->names; every report the dashboard
//  shows gets a copy.  The territory loader names the town rows a report
//  already has, and the stream's towns are not known in advance: so the
//  file is read once here to check it, and again only when a town code
//  appears that was not looked up yet (a district has a dozen or two).

int
fm_dash_set_names (fm_dash_t *self, const char *banks_dir,
                   const char *towns_file, char *err, size_t err_size)
{
    assert (self);
    assert (err);
    fm_report_t names;
    memset (&names, 0, sizeof names);
    char *file = towns_file? strdup (towns_file): NULL;
    if (towns_file && !file) {
        snprintf (err, err_size, "out of memory");
        return -1;
    }
    if ((banks_dir && fm_report_bank_names (&names, banks_dir, err, err_size) < 0)
    ||  (towns_file && fm_report_town_names (&names, towns_file, err, err_size) < 0)) {
        fm_report_release (&names);
        free (file);
        return -1;
    }
    fm_report_release (&self->names);
    self->names = names;
    free (self->towns_file);
    self->towns_file = file;
    self->towns_stale = false;
    return 0;
}

int
fm_dash_name_report (fm_dash_t *self, fm_report_t *report)
{
    assert (self);
    assert (report);
    size_t count = self->names.bank_name_count;
    fm_report_bank_name_t *banks = NULL;
    if (count) {
        banks = (fm_report_bank_name_t *) malloc (count * sizeof *banks);
        if (!banks)
            return -1;
        memcpy (banks, self->names.bank_names, count * sizeof *banks);
    }
    free (report->bank_names);
    report->bank_names = banks;
    report->bank_name_count = count;
    if (!self->towns_file)
        return 0;
    for (size_t index = 0; index < report->town_count; index++)
        if (s_town_met (self, report->towns [index].town))
            return -1;
    for (size_t index = 0; index < report->grid_count; index++)
        if (s_town_met (self, report->grids [index].town))
            return -1;
    if (self->towns_stale) {
        //  The file was good at start; if it went since, towns show codes
        char err [512];
        if (fm_report_town_names (&self->names, self->towns_file, err,
                                  sizeof err) < 0)
            zsys_warning ("%s (towns are shown by code)", err);
        self->towns_stale = false;
    }
    for (size_t index = 0; index < report->town_count; index++) {
        fm_report_town_t *town = &report->towns [index];
        const char *name = fm_report_town_name (&self->names, town->town);
        snprintf (town->name, sizeof town->name, "%s", name? name: "");
    }
    report->town_names = true;
    return 0;
}


//  --------------------------------------------------------------------------
//  Event labels in the user's language (msgids; fm_i18n)

static const struct {
    const char *type;
    const char *label;
} s_labels [] = {
    { "request.received",   N_("Request received") },
    { "request.enriched",   N_("Government credit profile") },
    { "request.dispatched", N_("Sent to banks") },
    { "offer.made",         N_("Bank offer") },
    { "decline.made",       N_("Bank declined") },
    { "bank.timeout",       N_("Bank timed out") },
    { "request.completed",  N_("Match completed") },
    { "offer.accepted",     N_("Offer accepted") },
    { "loan.granted",       N_("Loan granted") },
    { "offer.withdrawn",    N_("Offer withdrawn") },
    { "worker.ready",       N_("Service online") },
    { "worker.expired",     N_("Service lost") },
    { "input.rejected",     N_("Message rejected") },
    { "reply.late",         N_("Late reply") },
    { "sla.breach",         N_("Deadline missed") },
};

const char *
fm_dash_type_cn (const char *type)
{
    if (!type)
        return "?";
    for (size_t index = 0; index < sizeof s_labels / sizeof s_labels [0]; index++)
        if (streq (s_labels [index].type, type))
            return _(s_labels [index].label);
    return type;
}


//  --------------------------------------------------------------------------
//  The page's snapshot

static void
s_set_text (json_t *object, const char *key, const char *value)
{
    json_object_set_new (object, key, json_string (value? value: ""));
}

static void
s_set_int (json_t *object, const char *key, int64_t value)
{
    json_object_set_new (object, key, json_integer ((json_int_t) value));
}

//  "20.3 BP" (basis points, in both languages), or "-" without loans
static void
s_set_reduction (json_t *object, int64_t tenths, int64_t loans)
{
    char number [32], text [40];
    if (loans == 0)
        snprintf (text, sizeof text, "-");
    else
        snprintf (text, sizeof text, "%s BP",
                  fm_report_tenths (tenths, number, sizeof number));
    s_set_text (object, "reduction_text", text);
}

static void
s_set_money (json_t *object, int64_t fen)
{
    char text [64];
    s_set_text (object, "credit_text", fm_i18n_money (fen, text, sizeof text));
}

static json_t *
s_event_json (fm_dash_t *self, const fm_event_t *event)
{
    json_t *row = json_object ();
    if (!row)
        return NULL;
    const char *type = fm_event_type_name (event->type);
    char text [64];
    time_t seconds = (time_t) (event->ts_us / 1000000);
    struct tm tm;
    if (localtime_r (&seconds, &tm))
        strftime (text, sizeof text, "%H:%M:%S", &tm);
    else
        snprintf (text, sizeof text, "-");
    s_set_int (row, "seq", (int64_t) event->seq);
    s_set_int (row, "ts_us", event->ts_us);
    s_set_text (row, "time", text);
    s_set_text (row, "type", type);
    s_set_text (row, "type_cn", fm_dash_type_cn (type));
    s_set_text (row, "request_id", event->request_id);
    s_set_text (row, "enterprise_id", event->enterprise_id);
    s_set_text (row, "grid_id", event->grid_id);
    s_set_text (row, "bank", *event->bank? event->bank: event->service);
    //  A bank's worker events name its service, bank.<CODE>
    const char *code = *event->bank? event->bank:
                       strncmp (event->service, "bank.", 5)? "": event->service + 5;
    s_set_text (row, "bank_name", fm_report_bank_name (&self->names, code));
    if (event->amount_fen)
        s_set_text (row, "amount_text",
                    fm_i18n_money (event->amount_fen, text, sizeof text));
    if (event->effective_rate_bp)
        s_set_text (row, "rate_text",
                    fm_rate_pct (event->effective_rate_bp, text, sizeof text));
    //  One detail column: what identifies or explains the event
    char detail [FM_TEXT_SIZE + 64] = "";
    if (*event->loan_id)
        snprintf (detail, sizeof detail, "%s", event->loan_id);
    else
    if (*event->offer_id)
        snprintf (detail, sizeof detail, "%s", event->offer_id);
    else
    if (event->type == FM_EV_REQUEST_COMPLETED)
        snprintf (detail, sizeof detail,
                  P_("status %u, %u offer", "status %u, %u offers", event->count),
                  event->status, event->count);
    else
    if (event->type == FM_EV_REQUEST_DISPATCHED)
        snprintf (detail, sizeof detail, P_("%u bank", "%u banks", event->count),
                  event->count);
    else
    if (*event->text)
        snprintf (detail, sizeof detail, "%s", event->text);
    s_set_text (row, "detail", detail);
    return row;
}

json_t *
fm_dash_json (fm_dash_t *self, const fm_report_t *db_report)
{
    assert (self);
    fm_report_t stream;
    const fm_report_t *report = db_report;
    if (!report) {
        if (fm_dash_report (self, &stream))
            return NULL;
        report = &stream;
    }
    json_t *root = json_object ();
    json_t *figures = fm_report_json (report);
    json_t *live = json_object ();
    json_t *recent = json_array ();
    if (!root || !figures || !live || !recent) {
        json_decref (root);
        json_decref (figures);
        json_decref (live);
        json_decref (recent);
        if (report == &stream)
            fm_report_release (&stream);
        return NULL;
    }
    //  Formatted amounts beside the integers: the page never does money
    //  arithmetic
    s_set_money (figures, report->credit_fen);
    s_set_reduction (figures, report->avg_reduction_tenth_bp, report->loans);
    json_t *rows = json_object_get (figures, "banks");
    for (size_t index = 0; index < report->bank_count; index++) {
        json_t *row = json_array_get (rows, index);
        s_set_money (row, report->banks [index].credit_fen);
        s_set_reduction (row, report->banks [index].avg_reduction_tenth_bp,
                         report->banks [index].loans);
    }
    rows = json_object_get (figures, "grids");
    for (size_t index = 0; index < report->grid_count; index++) {
        json_t *row = json_array_get (rows, index);
        s_set_money (row, report->grids [index].credit_fen);
        s_set_reduction (row, report->grids [index].avg_reduction_tenth_bp,
                         report->grids [index].loans);
    }
    //  Towns: the report's JSON calls the name "name"; "town_name" as on
    //  the grid rows, so the page reads one key
    rows = json_object_get (figures, "towns");
    for (size_t index = 0; index < report->town_count; index++) {
        json_t *row = json_array_get (rows, index);
        s_set_money (row, report->towns [index].credit_fen);
        s_set_reduction (row, report->towns [index].avg_reduction_tenth_bp,
                         report->towns [index].loans);
        s_set_text (row, "town_name", report->towns [index].name);
    }
    s_set_int (live, "generation", (int64_t) self->generation);
    s_set_int (live, "events", self->totals.events);
    s_set_int (live, "epoch", (int64_t) self->epoch);
    s_set_int (live, "completed", self->completed);
    s_set_int (live, "completed_ok", self->completed_ok);
    s_set_int (live, "timeouts", self->totals.timeouts);
    s_set_int (live, "sla_breaches", self->sla_breaches);
    s_set_int (live, "deadline_misses", self->totals.timeouts + self->sla_breaches);
    s_set_int (live, "late_replies", self->late_replies);
    s_set_int (live, "rejected", self->rejected);
    s_set_int (live, "workers", self->workers_ready);
    s_set_int (live, "malformed", self->malformed);
    s_set_int (live, "gaps", self->totals.gaps);
    s_set_int (live, "missing_events", self->totals.missing_events);
    //  Newest first
    for (size_t index = 0; index < self->recent_count; index++) {
        size_t slot = (self->recent_next + self->recent_max - 1 - index)
                    % self->recent_max;
        json_array_append_new (recent, s_event_json (self, &self->recent [slot]));
    }
    json_object_set_new (root, "report", figures);
    json_object_set_new (root, "live", live);
    json_object_set_new (root, "recent", recent);
    s_set_text (root, "source", db_report? "db": "stream");
    if (report == &stream)
        fm_report_release (&stream);
    return root;
}


//  --------------------------------------------------------------------------
//  The page in the user's language.  page.html writes its texts in
//  English between double braces; here they are listed again with N_()
//  so that po/update.sh extracts them (xgettext does not read HTML), and
//  the selftest checks that the two lists agree.

static const char *s_page_texts [] = {
    N_("Government-bank-enterprise financing · live monitor"),
    N_("Jiangbei district government-bank-enterprise financing · live "
       "monitor (party-building platform)"),
    N_("Download report (HTML)"), N_("connecting…"),
    N_("Financing requests"), N_("Bank offers"), N_("Offers accepted"),
    N_("Loans granted"), N_("Credit granted"), N_("Average rate reduction"),
    N_("Deadline misses (bank timeouts + SLA breaches)"),
    N_("Matches completed"), N_("Offers by bank"), N_("Credit granted by grid"),
    N_("By bank"), N_("Bank"), N_("Offers"), N_("Declines"), N_("Timeouts"),
    N_("Accepted"), N_("Loans"), N_("Avg reduction"),
    N_("By grid"), N_("Grid"), N_("Requests"), N_("Enterprises served"),
    N_("Town"), N_("By town"), N_("Credit granted by town"),
    N_("Latest events"), N_("Time"), N_("Event"), N_("Request id"),
    N_("Enterprise"), N_("Bank / service"), N_("Amount"), N_("Rate"),
    N_("Detail"), N_("Data: "), N_("live event stream"),
    N_("(unknown)"), N_("(no data yet)"), N_("1 offer"), N_("%s offers"),
    N_("bank and grid tables from the event log (SQLite), "),
    N_(", events received: %s"), N_("; warning: events missing: %s"),
    N_("; malformed messages: %s"), N_("● live"),
    N_("disconnected, reconnecting…"),
};

//  Append text to buf as HTML (escaped) or as a JavaScript string
//  literal (JSON, with "</" broken so it cannot end the script element)
static void
s_page_put (zchunk_t *buf, const char *text, bool js)
{
    if (!js) {
        for (const char *p = text; *p; p++) {
            const char *entity = *p == '&'? "&amp;": *p == '<'? "&lt;":
                                 *p == '>'? "&gt;": *p == '"'? "&quot;":
                                 *p == '\''? "&#39;": NULL;
            if (entity)
                zchunk_extend (buf, entity, strlen (entity));
            else
                zchunk_extend (buf, p, 1);
        }
        return;
    }
    json_t *string = json_string (text);
    char *literal = string? json_dumps (string, JSON_ENCODE_ANY): NULL;
    json_decref (string);
    for (const char *p = literal? literal: "\"\""; *p; p++) {
        if (p [0] == '<' && p [1] == '/')
            zchunk_extend (buf, "<\\", 2);
        else
            zchunk_extend (buf, p, 1);
    }
    free (literal);
}

char *
fm_dash_page_render (const char *page, size_t size, size_t *size_p)
{
    assert (page);
    zchunk_t *buf = zchunk_new (NULL, size + size / 2 + 1);
    if (!buf)
        return NULL;
    const char *end = page + size;
    const char *cursor = page;
    while (cursor < end) {
        const char *open = strstr (cursor, "{{");
        if (!open || open >= end) {
            zchunk_extend (buf, cursor, (size_t) (end - cursor));
            break;
        }
        zchunk_extend (buf, cursor, (size_t) (open - cursor));
        const char *close = strstr (open + 2, "}}");
        if (!close || close >= end) {
            zsys_error ("dashboard page: '{{' without '}}'");
            zchunk_destroy (&buf);
            return NULL;
        }
        char key [256];
        size_t length = (size_t) (close - open - 2);
        if (length >= sizeof key) {
            zsys_error ("dashboard page: text too long at '%.40s'", open);
            zchunk_destroy (&buf);
            return NULL;
        }
        memcpy (key, open + 2, length);
        key [length] = 0;
        bool js = strncmp (key, "js:", 3) == 0;
        const char *msgid = js? key + 3: key;
        if (streq (key, "lang"))
            zchunk_extend (buf, fm_i18n_lang () == FM_LANG_EN? "en": "zh-CN",
                           fm_i18n_lang () == FM_LANG_EN? 2: 5);
        else {
            size_t index = 0;
            size_t count = sizeof s_page_texts / sizeof s_page_texts [0];
            while (index < count && !streq (s_page_texts [index], msgid))
                index++;
            if (index == count) {
                //  A page text missing from s_page_texts: a bug
                zsys_error ("dashboard page: '%s' is not in s_page_texts", msgid);
                zchunk_destroy (&buf);
                return NULL;
            }
            s_page_put (buf, _(msgid), js);
        }
        cursor = close + 2;
    }
    zchunk_extend (buf, "", 1);         //  the NUL
    if (zchunk_size (buf) == 0) {       //  extend failed: out of memory
        zchunk_destroy (&buf);
        return NULL;
    }
    size_t text_size = zchunk_size (buf) - 1;
    char *text = (char *) malloc (text_size + 1);
    if (text)
        memcpy (text, zchunk_data (buf), text_size + 1);
    zchunk_destroy (&buf);
    if (text && size_p)
        *size_p = text_size;
    return text;
}


//  --------------------------------------------------------------------------
//  Selftest: the same events through fm_dash and through the recorder's
//  log and the SQL report must give the same figures

#include "fm_store.h"
#include "fm_report_html.h"

//  The page as compiled in (dashboard/embed.cmake)
extern const char fm_dash_page [];
extern const size_t fm_dash_page_size;

typedef struct {
    uint64_t epoch, seq;
    fm_event_type_t type;
    const char *request_id, *enterprise_id, *grid_id, *bank, *loan_id;
    int64_t amount_yuan;
    int32_t base_rate_bp, effective_rate_bp;
    const char *town;                   //  request.enriched: profile's town
} s_row_t;

#define E1  UINT64_C(1714521600000000)
#define E2  UINT64_C(1714608000000000)
#define R1  "a1a1a1a1a1a1a1a1"
#define R2  "b2b2b2b2b2b2b2b2"
#define R3  "c3c3c3c3c3c3c3c3"
//  Valid credit codes: the SQL report decodes the request.enriched bodies
#define EA  "91500105MA2987XB1W"
#define EB  "91500105MA0177ARXD"
#define EC  "91500105826604409M"

static const s_row_t s_rows [] = {
    { E1, 1, FM_EV_REQUEST_RECEIVED, R1, EA, "GYQ-01-01", "", "", 3000000, 0, 0, NULL },
    { E1, 2, FM_EV_REQUEST_RECEIVED, R2, EB, "", "", "", 1000000, 0, 0, NULL },
    { E1, 3, FM_EV_REQUEST_RECEIVED, R3, EC, "YZ-01-02", "", "", 5000000, 0, 0, NULL },
    { E1, 4, FM_EV_REQUEST_ENRICHED, R2, EB, "GYQ-01-01", "", "", 0, 0, 0, "GYQ" },
    { E1, 5, FM_EV_REQUEST_ENRICHED, R3, EC, "YZ-01-02", "", "", 0, 0, 0, "YZ" },
    { E1, 6, FM_EV_OFFER_MADE, R1, EA, "GYQ-01-01", "CQRCB", "", 3000000, 375, 345, NULL },
    { E1, 7, FM_EV_OFFER_MADE, R1, EA, "GYQ-01-01", "BCQ", "", 3000000, 380, 360, NULL },
    { E1, 8, FM_EV_DECLINE_MADE, R2, EB, "GYQ-01-01", "BCQ", "", 0, 0, 0, NULL },
    { E1, 9, FM_EV_OFFER_MADE, R2, EB, "GYQ-01-01", "CQRCB", "", 1000000, 375, 355, NULL },
    { E1, 10, FM_EV_OFFER_MADE, R3, EC, "YZ-01-02", "BCQ", "", 5000000, 400, 385, NULL },
    { E1, 11, FM_EV_BANK_TIMEOUT, R3, EC, "YZ-01-02", "CQRCB", "", 0, 0, 0, NULL },
    { E1, 12, FM_EV_REQUEST_COMPLETED, R3, EC, "YZ-01-02", "", "", 0, 0, 0, NULL },
    { E1, 13, FM_EV_OFFER_ACCEPTED, R1, EA, "GYQ-01-01", "CQRCB", "", 3000000, 0, 0, NULL },
    { E1, 14, FM_EV_LOAN_GRANTED, R1, EA, "GYQ-01-01", "CQRCB", "CQRCB-" R1, 3000000, 375, 345, NULL },
    { E1, 15, FM_EV_OFFER_ACCEPTED, R3, EC, "YZ-01-02", "BCQ", "", 5000000, 0, 0, NULL },
    { E1, 16, FM_EV_LOAN_GRANTED, R3, EC, "YZ-01-02", "BCQ", "BCQ-" R3, 5000000, 400, 385, NULL },
    //  A restarted broker, its first two events lost; a replay and a
    //  repeated loan event must not count twice
    { E2, 3, FM_EV_WORKER_READY, "", "", "", "", "", 0, 0, 0, NULL },
    { E2, 4, FM_EV_REQUEST_RECEIVED, R1, EA, "GYQ-01-01", "", "", 3000000, 0, 0, NULL },
    { E2, 5, FM_EV_LOAN_GRANTED, R1, EA, "GYQ-01-01", "CQRCB", "CQRCB-" R1, 3000000, 375, 345, NULL },
    { E2, 7, FM_EV_OFFER_WITHDRAWN, R2, EB, "", "CQRCB", "", 0, 0, 0, NULL },
};
#define ROW_COUNT (sizeof (s_rows) / sizeof (s_rows [0]))

static void
s_row_event (const s_row_t *row, fm_event_t *event)
{
    memset (event, 0, sizeof *event);
    event->epoch = row->epoch;
    event->seq = row->seq;
    event->ts_us = (int64_t) (row->epoch + row->seq * 1000000);
    event->type = row->type;
    snprintf (event->request_id, sizeof event->request_id, "%s", row->request_id);
    snprintf (event->enterprise_id, sizeof event->enterprise_id, "%s",
              row->enterprise_id);
    snprintf (event->grid_id, sizeof event->grid_id, "%s", row->grid_id);
    snprintf (event->bank, sizeof event->bank, "%s", row->bank);
    snprintf (event->loan_id, sizeof event->loan_id, "%s", row->loan_id);
    if (row->type == FM_EV_WORKER_READY)
        snprintf (event->service, sizeof event->service, "bank.CQRCB");
    if (row->type == FM_EV_REQUEST_COMPLETED)
        event->status = 200;
    event->amount_fen = row->amount_yuan * 100;
    event->base_rate_bp = row->base_rate_bp;
    event->effective_rate_bp = row->effective_rate_bp;
    if (row->town)
        snprintf (event->town, sizeof event->town, "%s", row->town);
}

//  Write text to dir/name; returns the path (caller frees)
static char *
s_test_file (const char *dir, const char *name, const char *text)
{
    char *path = zsys_sprintf ("%s/%s", dir, name);
    assert (path);
    FILE *file = fopen (path, "w");
    assert (file);
    fputs (text, file);
    fclose (file);
    return path;
}

//  The string at key of the index'th row of report/array in snapshot
static const char *
s_test_cell (json_t *snapshot, const char *array, size_t index, const char *key)
{
    json_t *rows = json_object_get (json_object_get (snapshot, "report"), array);
    const char *value = json_string_value (json_object_get (
        json_array_get (rows, index), key));
    assert (value);
    return value;
}

//  Names, as `finmatch report --banks --towns` gives them: in the snapshot
//  (stream and log), the recent events, the HTML report; escaped there; a
//  town met later looked up then; bad paths refused
static void
s_test_names (fm_dash_t *dash, const char *dir, fm_report_t *sql, bool verbose)
{
    char *banks = zsys_sprintf ("%s/banks", dir);
    assert (banks && zsys_dir_create (banks) == 0);
    char *cqrcb = s_test_file (banks, "cqrcb.cfg",
        "bank\n    code = CQRCB\n    name = 重庆农村商业银行\n");
    //  A name that is markup: text on the page, never HTML
    char *bcq = s_test_file (banks, "bcq.cfg",
        "bank\n    code = BCQ\n    name = 重庆银行<b>&amp;\n");
    char *towns = s_test_file (dir, "towns.csv",
        "town_code,name,kind\nGYQ,观音桥街道,街道\nYZ,鱼嘴镇,镇\n"
        "JBC,江北城街道,街道\n");
    char *bad = s_test_file (dir, "bad.csv", "code,label\nGYQ,观音桥街道\n");
    char err [512];
    assert (fm_dash_set_names (dash, "/nonexistent/banks", towns, err,
                               sizeof err) == -1);
    assert (strstr (err, "/nonexistent/banks"));
    assert (fm_dash_set_names (dash, banks, bad, err, sizeof err) == -1);
    assert (strstr (err, "town_code"));
    assert (fm_dash_set_names (dash, banks, "/nonexistent/towns.csv", err,
                               sizeof err) == -1);
    assert (strstr (err, "/nonexistent/towns.csv"));
    json_t *snapshot = fm_dash_json (dash, NULL);
    assert (snapshot);
    assert (streq (s_test_cell (snapshot, "banks", 1, "bank_name"), ""));
    json_decref (snapshot);

    assert (fm_dash_set_names (dash, banks, towns, err, sizeof err) == 0);
    snapshot = fm_dash_json (dash, NULL);
    assert (snapshot);
    if (verbose) {
        char *text = json_dumps (snapshot, JSON_INDENT (2));
        printf ("%s\n", text);
        free (text);
    }
    assert (streq (s_test_cell (snapshot, "banks", 0, "bank"), "BCQ"));
    assert (streq (s_test_cell (snapshot, "banks", 0, "bank_name"),
                   "重庆银行<b>&amp;"));
    assert (streq (s_test_cell (snapshot, "banks", 1, "bank"), "CQRCB"));
    assert (streq (s_test_cell (snapshot, "banks", 1, "bank_name"),
                   "重庆农村商业银行"));
    assert (streq (s_test_cell (snapshot, "grids", 0, "town_name"), "观音桥街道"));
    assert (streq (s_test_cell (snapshot, "grids", 1, "town_name"), "鱼嘴镇"));
    assert (streq (s_test_cell (snapshot, "towns", 0, "town_name"), ""));
    assert (streq (s_test_cell (snapshot, "towns", 1, "town_name"), "观音桥街道"));
    assert (streq (s_test_cell (snapshot, "towns", 2, "name"), "鱼嘴镇"));
    json_t *newest = json_array_get (json_object_get (snapshot, "recent"), 0);
    assert (streq (json_string_value (json_object_get (newest, "bank_name")),
                   "重庆农村商业银行"));
    //  A worker event names its bank through the service
    json_t *ready = json_array_get (json_object_get (snapshot, "recent"), 3);
    assert (streq (json_string_value (json_object_get (ready, "bank")), "bank.CQRCB"));
    assert (streq (json_string_value (json_object_get (ready, "bank_name")),
                   "重庆农村商业银行"));
    //  What goes on the wire is JSON: UTF-8 as is, the markup a string
    //  that parses back the same
    char *text = json_dumps (snapshot, JSON_COMPACT);
    assert (text);
    assert (strstr (text, "\"bank_name\":\"重庆农村商业银行\""));
    assert (!strchr (text, '\n'));             //  one SSE data line
    json_t *back = json_loads (text, 0, NULL);
    assert (back);
    assert (streq (s_test_cell (back, "banks", 0, "bank_name"), "重庆银行<b>&amp;"));
    json_decref (back);
    free (text);
    json_decref (snapshot);

    //  The HTML report of the same figures: labelled and escaped
    fm_report_t live;
    assert (fm_dash_report (dash, &live) == 0);
    char *html = NULL;
    size_t size = 0;
    FILE *memory = open_memstream (&html, &size);
    assert (memory);
    assert (fm_report_html (&live, "fm_dash_test", memory) == 0);
    fclose (memory);
    assert (strstr (html, "重庆农村商业银行(CQRCB)"));
    assert (strstr (html, "重庆银行&lt;b&gt;&amp;amp;(BCQ)"));
    assert (!strstr (html, "<b>&amp;"));
    assert (strstr (html, "鱼嘴镇"));
    free (html);
    fm_report_release (&live);

    //  The log's report (--db): named by the caller
    assert (fm_dash_name_report (dash, sql) == 0);
    assert (streq (fm_report_bank_name (sql, "CQRCB"), "重庆农村商业银行"));
    assert (streq (fm_report_town_name (sql, "YZ"), "鱼嘴镇"));
    snapshot = fm_dash_json (dash, sql);
    assert (snapshot);
    assert (streq (s_test_cell (snapshot, "banks", 1, "bank_name"),
                   "重庆农村商业银行"));
    assert (streq (s_test_cell (snapshot, "grids", 1, "town_name"), "鱼嘴镇"));
    json_decref (snapshot);

    //  A town first met now is looked up now
    fm_event_t event;
    memset (&event, 0, sizeof event);
    event.epoch = E2;
    event.seq = 8;
    event.type = FM_EV_REQUEST_RECEIVED;
    snprintf (event.request_id, sizeof event.request_id, "d4d4d4d4d4d4d4d4");
    snprintf (event.enterprise_id, sizeof event.enterprise_id, "%s", EA);
    snprintf (event.grid_id, sizeof event.grid_id, "JBC-01-01");
    assert (fm_dash_apply (dash, &event) == 0);
    event.seq = 9;
    event.type = FM_EV_REQUEST_ENRICHED;
    snprintf (event.town, sizeof event.town, "JBC");
    assert (fm_dash_apply (dash, &event) == 0);
    snapshot = fm_dash_json (dash, NULL);
    assert (snapshot);
    assert (streq (s_test_cell (snapshot, "towns", 2, "town"), "JBC"));
    assert (streq (s_test_cell (snapshot, "towns", 2, "town_name"), "江北城街道"));
    assert (streq (s_test_cell (snapshot, "grids", 1, "town_name"), "江北城街道"));
    json_decref (snapshot);

    const char *paths [] = { cqrcb, bcq, towns, bad };
    for (size_t index = 0; index < 4; index++)
        zsys_file_delete (paths [index]);
    zsys_dir_delete (banks);
    zstr_free (&cqrcb);
    zstr_free (&bcq);
    zstr_free (&towns);
    zstr_free (&bad);
    zstr_free (&banks);
}

void
fm_dash_test (bool verbose)
{
    printf (" * fm_dash: ");
    //  @selftest
    char dir [] = "/tmp/fm_dash_test.XXXXXX";
    assert (mkdtemp (dir));
    char path [256];
    snprintf (path, sizeof path, "%s/events.db", dir);

    fm_dash_t *dash = fm_dash_new (4);
    assert (dash);
    fm_store_t *store = fm_store_new (path, 1000, 1000);
    assert (store);
    for (size_t index = 0; index < ROW_COUNT; index++) {
        fm_event_t event;
        s_row_event (&s_rows [index], &event);
        int rc = fm_dash_apply (dash, &event);
        assert (rc == 0);
        //  A profile with its body: the SQL report reads a request's town
        //  from it
        byte raw [4096];
        size_t raw_size = 0;
        if (event.type == FM_EV_REQUEST_ENRICHED) {
            raw_size = fm_event_encode_into (&event, raw, sizeof raw);
            assert (raw_size > 0);
        }
        rc = fm_store_append (store, &event, raw_size? raw: NULL, raw_size);
        assert (rc == 0);
    }
    int rc = fm_store_flush (store);
    assert (rc == 0);
    fm_store_destroy (&store);
    assert (fm_dash_generation (dash) == ROW_COUNT);

    fm_report_t sql, live;
    char err [256];
    rc = fm_report_compute_path (path, &sql, err, sizeof err);
    if (rc)
        zsys_error ("fm_dash_test: %s", err);
    assert (rc == 0);
    rc = fm_dash_report (dash, &live);
    assert (rc == 0);
    if (verbose) {
        fm_report_print (&sql, stdout);
        fm_report_print (&live, stdout);
    }
    //  Hand-checked figures first, then field by field against SQL
    assert (live.requests == 3);
    assert (live.loans == 2);
    assert (live.credit_fen == INT64_C(800000000));
    assert (live.avg_reduction_tenth_bp == 225);     //  (30 + 15) / 2
    assert (live.gaps == 2);                         //  E2 1..2 and 6
    assert (live.missing_events == 3);
    assert (live.grid_count == 2);
    assert (streq (live.grids [0].grid, "GYQ-01-01"));
    assert (live.grids [0].requests == 2);           //  R2 moved by enrichment
    assert (live.bank_count == 2);
    assert (streq (live.banks [0].bank, "BCQ"));

    assert (live.events == sql.events);
    assert (live.epochs == sql.epochs);
    assert (live.first_ts_us == sql.first_ts_us);
    assert (live.last_ts_us == sql.last_ts_us);
    assert (live.gaps == sql.gaps);
    assert (live.missing_events == sql.missing_events);
    assert (live.requests == sql.requests);
    assert (live.enterprises == sql.enterprises);
    assert (live.enterprises_served == sql.enterprises_served);
    assert (live.offers == sql.offers);
    assert (live.declines == sql.declines);
    assert (live.timeouts == sql.timeouts);
    assert (live.accepted == sql.accepted);
    assert (live.withdrawn == sql.withdrawn);
    assert (live.loans == sql.loans);
    assert (live.credit_fen == sql.credit_fen);
    assert (live.avg_reduction_tenth_bp == sql.avg_reduction_tenth_bp);
    assert (live.weighted_reduction_tenth_bp == sql.weighted_reduction_tenth_bp);
    assert (live.bank_count == sql.bank_count);
    for (size_t index = 0; index < live.bank_count; index++) {
        const fm_report_bank_t *a = &live.banks [index], *b = &sql.banks [index];
        assert (streq (a->bank, b->bank));
        assert (a->offers == b->offers && a->declines == b->declines);
        assert (a->timeouts == b->timeouts && a->accepted == b->accepted);
        assert (a->loans == b->loans && a->credit_fen == b->credit_fen);
        assert (a->avg_reduction_tenth_bp == b->avg_reduction_tenth_bp);
    }
    assert (live.grid_count == sql.grid_count);
    for (size_t index = 0; index < live.grid_count; index++) {
        const fm_report_grid_t *a = &live.grids [index], *b = &sql.grids [index];
        assert (streq (a->grid, b->grid));
        assert (a->requests == b->requests);
        assert (a->enterprises_served == b->enterprises_served);
        assert (a->loans == b->loans && a->credit_fen == b->credit_fen);
        assert (a->avg_reduction_tenth_bp == b->avg_reduction_tenth_bp);
        assert (a->offers == b->offers && streq (a->town, b->town));
    }
    //  Towns: R1's profile never came (town ""); R2 is in GYQ, R3 in YZ;
    //  a grid is in the town of its requests
    assert (live.town_count == 3);
    assert (streq (live.towns [0].town, "") && live.towns [0].requests == 1
         && live.towns [0].offers == 2 && live.towns [0].loans == 1);
    assert (streq (live.towns [1].town, "GYQ") && live.towns [1].requests == 1
         && live.towns [1].offers == 1 && live.towns [1].loans == 0);
    assert (streq (live.towns [2].town, "YZ") && live.towns [2].loans == 1);
    assert (streq (live.grids [0].town, "GYQ") && streq (live.grids [1].town, "YZ"));
    assert (live.town_count == sql.town_count);
    for (size_t index = 0; index < live.town_count; index++) {
        const fm_report_town_t *a = &live.towns [index], *b = &sql.towns [index];
        assert (streq (a->town, b->town));
        assert (a->requests == b->requests && a->offers == b->offers);
        assert (a->enterprises_served == b->enterprises_served);
        assert (a->loans == b->loans && a->credit_fen == b->credit_fen);
        assert (a->avg_reduction_tenth_bp == b->avg_reduction_tenth_bp);
    }

    //  The snapshot: Chinese money text (the default language), live
    //  counters, newest event first
    int lang_rc = fm_i18n_set_lang ("zh");
    assert (lang_rc == 0);
    assert (fm_i18n_catalogue_loaded ());
    json_t *snapshot = fm_dash_json (dash, NULL);
    assert (snapshot);
    json_t *figures = json_object_get (snapshot, "report");
    assert (streq (json_string_value (json_object_get (figures, "credit_text")),
                   "800万元"));
    assert (streq (json_string_value (json_object_get (figures, "reduction_text")),
                   "22.5 BP"));
    json_t *live_json = json_object_get (snapshot, "live");
    assert (json_integer_value (json_object_get (live_json, "deadline_misses")) == 1);
    assert (json_integer_value (json_object_get (live_json, "completed_ok")) == 1);
    json_t *recent = json_object_get (snapshot, "recent");
    assert (json_array_size (recent) == 4);
    json_t *newest = json_array_get (recent, 0);
    assert (streq (json_string_value (json_object_get (newest, "type_cn")),
                   "报价撤回"));
    assert (json_integer_value (json_object_get (newest, "seq")) == 7);
    //  No names given: banks and towns by code, their names ""
    json_t *row = json_array_get (json_object_get (figures, "banks"), 1);
    assert (streq (json_string_value (json_object_get (row, "bank")), "CQRCB"));
    assert (streq (json_string_value (json_object_get (row, "bank_name")), ""));
    row = json_array_get (json_object_get (figures, "grids"), 0);
    assert (streq (json_string_value (json_object_get (row, "town")), "GYQ"));
    assert (streq (json_string_value (json_object_get (row, "town_name")), ""));
    row = json_array_get (json_object_get (figures, "towns"), 2);
    assert (streq (json_string_value (json_object_get (row, "town")), "YZ"));
    assert (streq (json_string_value (json_object_get (row, "town_name")), ""));
    assert (streq (json_string_value (json_object_get (row, "credit_text")),
                   "500万元"));
    assert (streq (json_string_value (json_object_get (newest, "bank")), "CQRCB"));
    assert (streq (json_string_value (json_object_get (newest, "bank_name")), ""));
    //  From the log instead: same rows, source says so
    json_t *from_db = fm_dash_json (dash, &sql);
    assert (from_db);
    assert (streq (json_string_value (json_object_get (from_db, "source")), "db"));
    json_decref (from_db);
    json_decref (snapshot);

    assert (streq (fm_dash_type_cn ("loan.granted"), "放款成功"));
    assert (streq (fm_dash_type_cn ("new.kind"), "new.kind"));
    //  English: the same snapshot with English labels and ¥
    fm_i18n_set_lang ("en");
    snapshot = fm_dash_json (dash, NULL);
    assert (snapshot);
    figures = json_object_get (snapshot, "report");
    assert (streq (json_string_value (json_object_get (figures, "credit_text")),
                   "¥8 million"));
    assert (streq (json_string_value (json_object_get (figures, "reduction_text")),
                   "22.5 BP"));
    newest = json_array_get (json_object_get (snapshot, "recent"), 0);
    assert (streq (json_string_value (json_object_get (newest, "type_cn")),
                   "Offer withdrawn"));
    json_decref (snapshot);

    //  The page in both languages: every text is in s_page_texts (else
    //  NULL), translated, and escaped for where it stands
    const char *langs [] = { "zh", "en" };
    for (size_t index = 0; index < 2; index++) {
        fm_i18n_set_lang (langs [index]);
        size_t page_size = 0;
        char *page = fm_dash_page_render (fm_dash_page, fm_dash_page_size,
                                          &page_size);
        assert (page);
        assert (page_size == strlen (page));
        assert (!strstr (page, "{{") && !strstr (page, "}}"));
        if (verbose)
            printf ("%s\n", page);
        if (index == 0) {
            assert (strstr (page, "<html lang=\"zh-CN\">"));
            assert (strstr (page, "<span>授信金额</span>"));
            assert (strstr (page, "<th>银行</th><th>报价</th>"));
            assert (strstr (page, "政银企融资对接"));
            assert (strstr (page, "box.textContent = \"（暂无数据）\";"));
            //  Towns: a column of the grid table, their own chart and
            //  table; banks and towns labelled by name when the server
            //  sent one (bank_name, town_name), else by code
            assert (strstr (page, "<th>网格</th><th>街道/镇</th>"));
            assert (strstr (page, "<h2>按街道/镇</h2>"));
            assert (strstr (page, "<h2>各街道/镇授信金额</h2>"));
            assert (strstr (page, "label(r.bank_name, r.bank)"));
            assert (strstr (page, "label(r.town_name, r.town)"));
            assert (!strstr (page, "Credit granted"));
        }
        else {
            assert (strstr (page, "<html lang=\"en\">"));
            assert (strstr (page, "<span>Credit granted</span>"));
            assert (strstr (page, "<th>Bank</th><th>Offers</th>"));
            assert (strstr (page, "box.textContent = \"(no data yet)\";"));
            //  Nothing Chinese left in the English page
            for (const char *p = page; *p; p++)
                assert ((unsigned char) *p < 0xE4 || (unsigned char) *p > 0xE9);
        }
        //  Every page text has a Chinese translation in the catalogue
        if (index == 0)
            for (size_t text = 0; text < sizeof s_page_texts / sizeof s_page_texts [0];
                 text++)
                assert (!streq (_(s_page_texts [text]), s_page_texts [text]));
        free (page);
    }
    //  Escaping, and a text that is not listed
    const char *probe = "<a title='{{Time}}'>{{js:Time}}</a>{{lang}}";
    char *out = fm_dash_page_render (probe, strlen (probe), NULL);
    assert (out);
    assert (streq (out, "<a title='Time'>\"Time\"</a>en"));
    free (out);
    probe = "{{No such text}}";
    assert (fm_dash_page_render (probe, strlen (probe), NULL) == NULL);
    probe = "{{Time";
    assert (fm_dash_page_render (probe, strlen (probe), NULL) == NULL);
    fm_dash_malformed (dash);
    assert (fm_dash_generation (dash) == ROW_COUNT + 1);

    s_test_names (dash, dir, &sql, verbose);

    fm_report_release (&sql);
    fm_report_release (&live);
    fm_dash_destroy (&dash);
    fm_dash_destroy (&dash);
    fm_store_remove (path);
    int removed = rmdir (dir);          //  nothing else was left in it
    assert (removed == 0);
    //  @end
    printf ("OK\n");
}
