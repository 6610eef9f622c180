/*  =========================================================================
    fm_lifecycle - the request lifecycle: states and legal transitions

    One financing request moves through the states of proto/SPEC.md 14.3:

        received -> enriched -> dispatched -> offered | declined
        offered  -> accepted -> granted | withdrawn | offered (grant missed)
        withdrawn -> accepted (another offer)     offered | withdrawn -> expired
        received | enriched | dispatched -> failed

    This class is the table, nothing else: the broker asks it before every
    state change (an illegal one becomes a request.illegal event, never a
    silent overwrite), and `finmatch status --db` folds a request's logged
    events through it to say where the request stands.  Pure functions, no
    allocation; the SPEC table and fm_lifecycle_legal are mirrors.
    =========================================================================
*/

#ifndef FM_LIFECYCLE_H_INCLUDED
#define FM_LIFECYCLE_H_INCLUDED

#include <stdbool.h>
#include "fm_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Request states (wire names in STATUS.state)
typedef enum {
    FM_RS_NONE = 0,                     //  not known (yet)
    FM_RS_RECEIVED,                     //  "received": waits for gov.credit
    FM_RS_ENRICHED,                     //  "enriched": profile in, not yet sent
    FM_RS_DISPATCHED,                   //  "dispatched": waits for banks
    FM_RS_OFFERED,                      //  "offered": RESULT with >= 1 offer
    FM_RS_DECLINED,                     //  "declined": RESULT without offer
    FM_RS_ACCEPTED,                     //  "accepted": GRANT_QUERY out
    FM_RS_GRANTED,                      //  "granted": loan confirmed
    FM_RS_WITHDRAWN,                    //  "withdrawn": bank withdrew the
                                        //  accepted offer
    FM_RS_EXPIRED,                      //  "expired": every offer past its
                                        //  validity, none granted
    FM_RS_FAILED,                       //  "failed": ERROR to the client
                                        //  (gov 404/504, no gov/bank 503)
    FM_RS_COUNT
} fm_req_state_t;

//  Wire name of a state ("offered"), or "?" if out of range.  Cannot fail.
const char *
    fm_lifecycle_name (fm_req_state_t state);

//  State for a wire name, or FM_RS_NONE if unknown.  Cannot fail.
fm_req_state_t
    fm_lifecycle_parse (const char *name);

//  True if a request may move from `from` to `to` (SPEC.md 14.3).  A move
//  to the same state is never a transition and returns false.
bool
    fm_lifecycle_legal (fm_req_state_t from, fm_req_state_t to);

//  True if no transition leaves the state (declined, granted, expired,
//  failed).
bool
    fm_lifecycle_final (fm_req_state_t state);

//  The state a request is in after this logged event, given the state
//  before it (events that do not move a request return `state`).  Used
//  to rebuild a request's state from the event log.  Cannot fail.
fm_req_state_t
    fm_lifecycle_apply (fm_req_state_t state, const fm_event_t *event);

//  Self test
void
    fm_lifecycle_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
