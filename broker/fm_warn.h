/*  =========================================================================
    fm_warn - the broker's table of risk warnings (风险预警)

    The district government raises a risk warning on an enterprise or on a
    grid through the broker service fm.warn (finmatch warn), and lifts it
    the same way.  The broker is the one place every bank query passes, so
    it keeps the warnings here and writes the ones that apply to a request
    (the enterprise's own and its grid's) into the profile's `warnings`
    field of every BANK_QUERY; bank product rules decline (112) or flag on
    them (workers/fm_bank, on_warning).

    The table is bounded (max warnings, FM_WARN_MAX by default): one per
    target, a second raise on the same target replaces the first, and a
    raise beyond the bound is refused.  Lookups are O(1) (a hash by
    target); a warning past its expiry stops applying at once and is
    dropped the next time it is looked at (fm_warn_match) or at the next
    sweep (fm_warn_expire), which reports it so the broker can publish
    risk.warning "expired".  The table keeps the earliest expiry it holds
    (fm_warn_expiry), so the broker sweeps on a timer at that time, and a
    sweep before it is one comparison.

    The broker's journal keeps the table across restarts (fm_journal.h,
    WARNING records): each raise, lift and expiry, and at the start of
    every segment a copy of every warning held (fm_warn_first/next);
    recovery raises and lifts them again in journal order.
    =========================================================================
*/

#ifndef FM_WARN_H_INCLUDED
#define FM_WARN_H_INCLUDED

#include <czmq.h>
#include "fm_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Default bound on warnings held at once
#define FM_WARN_MAX             4096

typedef struct _fm_warn_t fm_warn_t;

//  Called for each warning dropped because it expired; borrowed for the
//  call.
typedef void (fm_warn_expired_fn) (void *arg, const fm_warning_t *warning);

//  Create a table holding at most max warnings (0 = FM_WARN_MAX).
//  Returns NULL only if out of memory.
fm_warn_t *
    fm_warn_new (size_t max);

//  Destroy; idempotent, nulls *self_p.
void
    fm_warn_destroy (fm_warn_t **self_p);

//  Raise a warning (valid, lift false; copied).  Returns 0 if new, 1 if it
//  replaced the warning on the same target, -1 if the table is full.
int
    fm_warn_raise (fm_warn_t *self, const fm_warning_t *warning);

//  Lift the warning on target.  Returns 0 and copies it into *lifted (if
//  not NULL), or -1 if there is none.
int
    fm_warn_lift (fm_warn_t *self, fm_warn_target_t target, const char *target_id,
                  fm_warning_t *lifted);

//  Drop every warning whose expires_us is set and <= now_us, calling fn
//  (may be NULL) for each.  Returns how many were dropped.  O(1) before
//  fm_warn_expiry, else O(warnings) (and fm_warn_expiry is exact again).
size_t
    fm_warn_expire (fm_warn_t *self, int64_t now_us, fm_warn_expired_fn *fn, void *arg);

//  When the next sweep is due: the earliest expires_us of the warnings
//  held, or 0 if none expires.  Exact after a raise, lift or sweep; after
//  fm_warn_match dropped an expired warning it may be earlier (that sweep
//  is due anyway).  Cannot fail.
int64_t
    fm_warn_expiry (fm_warn_t *self);

//  Append the warnings that apply to an enterprise and its grids (grid
//  and other_grid, either may be "" or NULL; the same grid is counted
//  once) to buf, "; "-joined after what buf already holds, each as
//  "企业 <id> <n>级: <reason>" or "网格 <id> <n>级: <reason>".  The text
//  is cut at a UTF-8 character boundary to fit size.  Expired ones are
//  dropped (fn called) and do not apply.  Returns the number appended.
size_t
    fm_warn_match (fm_warn_t *self, const char *enterprise_id, const char *grid,
                   const char *other_grid, int64_t now_us, char *buf, size_t size,
                   fm_warn_expired_fn *fn, void *arg);

//  Number of warnings held.
size_t
    fm_warn_size (fm_warn_t *self);

//  Iterate over the warnings held, in no particular order: first, then
//  next until NULL.  Borrowed; do not raise or lift while iterating.
const fm_warning_t *
    fm_warn_first (fm_warn_t *self);
const fm_warning_t *
    fm_warn_next (fm_warn_t *self);

//  Self test
void
    fm_warn_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
