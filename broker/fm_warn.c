/*  =========================================================================
    fm_warn - the broker's table of risk warnings (风险预警)

    A hash by target ("e:<credit code>", "g:<grid id>") of copies of the
    warnings raised.  See fm_warn.h for the contract; proto/SPEC.md "Risk
    warnings" for the wire side.
    =========================================================================
*/

#include "fm_warn.h"
#include "fm_text.h"

struct _fm_warn_t {
    zhashx_t *table;                //  target key -> fm_warning_t, owned
    size_t max;                     //  bound on warnings held
    int64_t expiry;                 //  earliest expires_us held, or 0;
                                    //  may be early (fm_warn_expiry)
};

static void
s_warning_free (void **item)
{
    free (*item);
    *item = NULL;
}

//  The hash key of a target into key (at least FM_CODE_SIZE + 2 bytes).
static void
s_key (char *key, size_t size, fm_warn_target_t target, const char *target_id)
{
    snprintf (key, size, "%c:%s", target == FM_WARN_GRID? 'g': 'e', target_id);
}

//  Take expires_us (0 = none) into the earliest expiry held.
static void
s_expiry_note (fm_warn_t *self, int64_t expires_us)
{
    if (expires_us > 0 && (self->expiry == 0 || expires_us < self->expiry))
        self->expiry = expires_us;
}

//  Recompute the earliest expiry held.  O(warnings): only when the
//  earliest one is lifted or replaced (rare), so that no sweep timer
//  runs for a warning no longer held.
static void
s_expiry_reset (fm_warn_t *self)
{
    self->expiry = 0;
    for (fm_warning_t *warning = (fm_warning_t *) zhashx_first (self->table);
         warning; warning = (fm_warning_t *) zhashx_next (self->table))
        s_expiry_note (self, warning->expires_us);
}

fm_warn_t *
fm_warn_new (size_t max)
{
    fm_warn_t *self = (fm_warn_t *) zmalloc (sizeof (fm_warn_t));
    if (!self)
        return NULL;
    self->table = zhashx_new ();
    if (!self->table) {
        free (self);
        return NULL;
    }
    zhashx_set_destructor (self->table, s_warning_free);
    self->max = max? max: FM_WARN_MAX;
    return self;
}

void
fm_warn_destroy (fm_warn_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        fm_warn_t *self = *self_p;
        zhashx_destroy (&self->table);
        free (self);
        *self_p = NULL;
    }
}

int
fm_warn_raise (fm_warn_t *self, const fm_warning_t *warning)
{
    assert (self);
    assert (warning);
    char key [FM_CODE_SIZE + 2];
    s_key (key, sizeof key, warning->target, warning->target_id);
    fm_warning_t *held = (fm_warning_t *) zhashx_lookup (self->table, key);
    if (!held && zhashx_size (self->table) >= self->max)
        return -1;
    if (held) {
        bool earliest = held->expires_us > 0 && held->expires_us == self->expiry;
        *held = *warning;
        held->lift = false;
        if (earliest)
            s_expiry_reset (self);
        else
            s_expiry_note (self, warning->expires_us);
        return 1;
    }
    s_expiry_note (self, warning->expires_us);
    held = (fm_warning_t *) malloc (sizeof (fm_warning_t));
    assert (held);
    *held = *warning;
    held->lift = false;
    zhashx_insert (self->table, key, held);
    return 0;
}

int
fm_warn_lift (fm_warn_t *self, fm_warn_target_t target, const char *target_id,
              fm_warning_t *lifted)
{
    assert (self);
    assert (target_id);
    char key [FM_CODE_SIZE + 2];
    s_key (key, sizeof key, target, target_id);
    fm_warning_t *held = (fm_warning_t *) zhashx_lookup (self->table, key);
    if (!held)
        return -1;
    if (lifted)
        *lifted = *held;
    bool earliest = held->expires_us > 0 && held->expires_us == self->expiry;
    zhashx_delete (self->table, key);
    if (earliest)
        s_expiry_reset (self);
    return 0;
}

static bool
s_expired (const fm_warning_t *warning, int64_t now_us)
{
    return warning->expires_us > 0 && warning->expires_us <= now_us;
}

size_t
fm_warn_expire (fm_warn_t *self, int64_t now_us, fm_warn_expired_fn *fn, void *arg)
{
    assert (self);
    if (self->expiry == 0 || now_us < self->expiry)
        return 0;                   //  Nothing due: the timer's usual case
    //  Collect first: deleting while iterating a zhashx is not allowed;
    //  the warnings that stay give the exact next expiry
    self->expiry = 0;
    zlistx_t *keys = zlistx_new ();
    assert (keys);
    for (fm_warning_t *warning = (fm_warning_t *) zhashx_first (self->table);
         warning; warning = (fm_warning_t *) zhashx_next (self->table))
        if (s_expired (warning, now_us))
            zlistx_add_end (keys, (void *) zhashx_cursor (self->table));
        else
            s_expiry_note (self, warning->expires_us);
    size_t dropped = 0;
    for (const char *key = (const char *) zlistx_first (keys); key;
         key = (const char *) zlistx_next (keys)) {
        char copy [FM_CODE_SIZE + 2];
        snprintf (copy, sizeof copy, "%s", key);
        fm_warning_t *warning = (fm_warning_t *) zhashx_lookup (self->table, copy);
        if (fn)
            fn (arg, warning);
        zhashx_delete (self->table, copy);
        dropped++;
    }
    zlistx_destroy (&keys);
    return dropped;
}

int64_t
fm_warn_expiry (fm_warn_t *self)
{
    assert (self);
    return self->expiry;
}

//  Append text to buf (holding *length bytes) cut at a UTF-8 character
//  boundary to fit size.  Returns false if it did not fit whole.
static bool
s_append (char *buf, size_t size, size_t *length, const char *text)
{
    size_t room = size - 1 - *length;
    size_t want = strlen (text);
    size_t take = want <= room? want: room;
    //  Never end inside a character: back off continuation bytes
    if (take < want)
        while (take > 0 && ((byte) text [take] & 0xC0) == 0x80)
            take--;
    memcpy (buf + *length, text, take);
    *length += take;
    buf [*length] = 0;
    return take == want;
}

//  The warning on key if held and not expired; an expired one is dropped
//  and reported.  Returns the warning (borrowed) or NULL.
static fm_warning_t *
s_lookup_live (fm_warn_t *self, const char *key, int64_t now_us,
               fm_warn_expired_fn *fn, void *arg)
{
    fm_warning_t *warning = (fm_warning_t *) zhashx_lookup (self->table, key);
    if (warning && s_expired (warning, now_us)) {
        if (fn)
            fn (arg, warning);
        zhashx_delete (self->table, key);
        warning = NULL;
    }
    return warning;
}

size_t
fm_warn_match (fm_warn_t *self, const char *enterprise_id, const char *grid,
               const char *other_grid, int64_t now_us, char *buf, size_t size,
               fm_warn_expired_fn *fn, void *arg)
{
    assert (self);
    assert (buf && size > 0);
    if (zhashx_size (self->table) == 0)
        return 0;                   //  The common case: nothing to format
    char keys [3][FM_CODE_SIZE + 2] = { "", "", "" };
    if (enterprise_id && *enterprise_id)
        s_key (keys [0], sizeof keys [0], FM_WARN_ENTERPRISE, enterprise_id);
    if (grid && *grid)
        s_key (keys [1], sizeof keys [1], FM_WARN_GRID, grid);
    if (other_grid && *other_grid && !(grid && streq (grid, other_grid)))
        s_key (keys [2], sizeof keys [2], FM_WARN_GRID, other_grid);

    size_t length = strnlen (buf, size - 1);
    buf [length] = 0;
    size_t matched = 0;
    for (size_t index = 0; index < 3; index++) {
        if (!*keys [index])
            continue;
        fm_warning_t *warning = s_lookup_live (self, keys [index], now_us, fn, arg);
        if (!warning)
            continue;
        char item [FM_TEXT_SIZE + FM_CODE_SIZE + 32];
        snprintf (item, sizeof item, "%s%s %s %u级: %s", length? "; ": "",
                  warning->target == FM_WARN_GRID? "网格": "企业", warning->target_id,
                  (unsigned) warning->level, warning->reason);
        matched++;
        if (!s_append (buf, size, &length, item))
            break;                  //  Full: the bank sees what fits
    }
    return matched;
}

size_t
fm_warn_size (fm_warn_t *self)
{
    assert (self);
    return zhashx_size (self->table);
}

const fm_warning_t *
fm_warn_first (fm_warn_t *self)
{
    assert (self);
    return (const fm_warning_t *) zhashx_first (self->table);
}

const fm_warning_t *
fm_warn_next (fm_warn_t *self)
{
    assert (self);
    return (const fm_warning_t *) zhashx_next (self->table);
}


//  --------------------------------------------------------------------------
//  Selftest

static void
s_test_expired (void *arg, const fm_warning_t *warning)
{
    assert (warning);
    (*(size_t *) arg)++;
}

static fm_warning_t
s_test_warning (fm_warn_target_t target, const char *id, uint8_t level,
                const char *reason, int64_t expires_us)
{
    fm_warning_t warning;
    memset (&warning, 0, sizeof warning);
    warning.target = target;
    snprintf (warning.target_id, sizeof warning.target_id, "%s", id);
    warning.level = level;
    snprintf (warning.reason, sizeof warning.reason, "%s", reason);
    snprintf (warning.raised_by, sizeof warning.raised_by, "GOV01");
    warning.expires_us = expires_us;
    return warning;
}

void
fm_warn_test (bool verbose)
{
    printf (" * fm_warn: ");
    const char *firm = "91500105MA5U3UR07J";
    fm_warn_t *warn = fm_warn_new (3);
    assert (warn);
    char buf [FM_TEXT_SIZE] = "";
    size_t expired = 0;
    //  Empty table: nothing applies, buf untouched
    assert (fm_warn_match (warn, firm, "JB01", "", 1000, buf, sizeof buf,
                           s_test_expired, &expired) == 0);
    assert (*buf == 0);
    assert (fm_warn_expiry (warn) == 0);

    fm_warning_t grid = s_test_warning (FM_WARN_GRID, "JB01", 2, "非法集资风险提示", 0);
    fm_warning_t firm_warning = s_test_warning (FM_WARN_ENTERPRISE, firm, 3, "欠税", 0);
    assert (fm_warn_raise (warn, &grid) == 0);
    assert (fm_warn_raise (warn, &firm_warning) == 0);
    //  A second raise on the same target replaces
    grid.level = 1;
    assert (fm_warn_raise (warn, &grid) == 1);
    assert (fm_warn_size (warn) == 2);
    assert (fm_warn_expiry (warn) == 0);       //  Neither expires
    assert (fm_warn_match (warn, firm, "JB01", "JB01", 1000, buf, sizeof buf,
                           s_test_expired, &expired) == 2);
    if (verbose)
        printf ("\n   %s\n", buf);
    assert (streq (buf, "企业 91500105MA5U3UR07J 3级: 欠税; 网格 JB01 1级: 非法集资风险提示"));
    //  Appends after what the gov already wrote; other grids do not apply
    snprintf (buf, sizeof buf, "gov");
    assert (fm_warn_match (warn, "91500105MA5U3UR07X", "JB02", "JB01", 1000, buf,
                           sizeof buf, NULL, NULL) == 1);
    assert (streq (buf, "gov; 网格 JB01 1级: 非法集资风险提示"));

    //  Cut at a character boundary: never half a character
    char small [20] = "";
    assert (fm_warn_match (warn, "", "JB01", NULL, 1000, small, sizeof small,
                           NULL, NULL) == 1);
    assert (fm_utf8_valid (small, strlen (small)));
    assert (strlen (small) <= 19 && strncmp (small, "网格 JB01", 11) == 0);

    //  Bound: a third target fits, a fourth is refused
    fm_warning_t third = s_test_warning (FM_WARN_GRID, "JB03", 1, "x", 500);
    assert (fm_warn_raise (warn, &third) == 0);
    assert (fm_warn_expiry (warn) == 500);
    fm_warning_t fourth = s_test_warning (FM_WARN_GRID, "JB04", 1, "y", 0);
    assert (fm_warn_raise (warn, &fourth) == -1);
    //  Expiry: JB03 expired at 500 does not apply at 1000, and is reported
    *buf = 0;
    assert (fm_warn_match (warn, "", "JB03", NULL, 1000, buf, sizeof buf,
                           s_test_expired, &expired) == 0);
    assert (expired == 1 && fm_warn_size (warn) == 2);
    //  The next expiry may be early after a drop, never late
    assert (fm_warn_expiry (warn) == 500);
    third.expires_us = 2000;
    assert (fm_warn_raise (warn, &third) == 0);
    //  A sweep finding nothing due makes the next expiry exact again
    assert (fm_warn_expire (warn, 1999, s_test_expired, &expired) == 0);
    assert (fm_warn_expiry (warn) == 2000);
    assert (fm_warn_expire (warn, 1500, s_test_expired, &expired) == 0);
    assert (fm_warn_expire (warn, 2000, s_test_expired, &expired) == 1);
    assert (expired == 2 && fm_warn_size (warn) == 2);
    assert (fm_warn_expiry (warn) == 0);
    //  Two expiries: a sweep at the first keeps the second
    third.expires_us = 4000;
    assert (fm_warn_raise (warn, &third) == 0);
    fm_warning_t firm_expiring = s_test_warning (FM_WARN_ENTERPRISE, firm, 3, "欠税", 3000);
    assert (fm_warn_raise (warn, &firm_expiring) == 1);
    assert (fm_warn_expiry (warn) == 3000);
    assert (fm_warn_expire (warn, 3000, s_test_expired, &expired) == 1);
    assert (expired == 3 && fm_warn_expiry (warn) == 4000);
    assert (fm_warn_expire (warn, 4000, s_test_expired, &expired) == 1);
    assert (expired == 4 && fm_warn_size (warn) == 1 && fm_warn_expiry (warn) == 0);
    //  Replacing or lifting the earliest gives the next one, or none
    third.expires_us = 6000;
    assert (fm_warn_raise (warn, &third) == 0);
    firm_expiring.expires_us = 5000;
    assert (fm_warn_raise (warn, &firm_expiring) == 0);
    assert (fm_warn_expiry (warn) == 5000);
    assert (fm_warn_raise (warn, &firm_warning) == 1);
    assert (fm_warn_expiry (warn) == 6000);
    assert (fm_warn_lift (warn, FM_WARN_GRID, "JB03", NULL) == 0);
    assert (fm_warn_expiry (warn) == 0);

    //  Iteration lists exactly what is held (a journal's view)
    size_t listed = 0;
    for (const fm_warning_t *item = fm_warn_first (warn); item; item = fm_warn_next (warn))
        listed++;
    assert (listed == 2);

    //  Lift
    fm_warning_t lifted;
    assert (fm_warn_lift (warn, FM_WARN_GRID, "JB01", &lifted) == 0);
    assert (streq (lifted.reason, "非法集资风险提示"));
    assert (fm_warn_lift (warn, FM_WARN_GRID, "JB01", NULL) == -1);
    //  Same id as another kind is another target
    assert (fm_warn_lift (warn, FM_WARN_GRID, firm, NULL) == -1);
    assert (fm_warn_lift (warn, FM_WARN_ENTERPRISE, firm, NULL) == 0);
    assert (fm_warn_size (warn) == 0);

    fm_warn_destroy (&warn);
    fm_warn_destroy (&warn);
    printf ("OK\n");
}
