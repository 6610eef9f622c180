/*  =========================================================================
    fm_lifecycle - the request lifecycle: states and legal transitions

    The transition table of proto/SPEC.md 14.3 in one switch.  Keep the two
    in step: the selftest walks every (from, to) pair against a copy of the
    SPEC table, so a change to one without the other fails.
    =========================================================================
*/

#include "fm_lifecycle.h"

static const char *s_names [FM_RS_COUNT] = {
    "none", "received", "enriched", "dispatched", "offered", "declined",
    "accepted", "granted", "withdrawn", "expired", "failed"
};

const char *
fm_lifecycle_name (fm_req_state_t state)
{
    return state > FM_RS_NONE && state < FM_RS_COUNT? s_names [state]: "?";
}

fm_req_state_t
fm_lifecycle_parse (const char *name)
{
    for (int state = FM_RS_RECEIVED; name && state < FM_RS_COUNT; state++)
        if (streq (name, s_names [state]))
            return (fm_req_state_t) state;
    return FM_RS_NONE;
}

bool
fm_lifecycle_legal (fm_req_state_t from, fm_req_state_t to)
{
    switch (from) {
        case FM_RS_NONE:
            return to == FM_RS_RECEIVED;
        case FM_RS_RECEIVED:            //  PROFILE; gov 404/504, no gov
            return to == FM_RS_ENRICHED || to == FM_RS_FAILED;
        case FM_RS_ENRICHED:            //  BANK_QUERY sent; no bank
            return to == FM_RS_DISPATCHED || to == FM_RS_FAILED;
        case FM_RS_DISPATCHED:          //  every bank answered or missed,
                                        //  nobody left to refer to; 500
            return to == FM_RS_OFFERED || to == FM_RS_DECLINED
                || to == FM_RS_FAILED;
        case FM_RS_OFFERED:             //  ACCEPT; all offers out of date
            return to == FM_RS_ACCEPTED || to == FM_RS_EXPIRED;
        case FM_RS_ACCEPTED:            //  CONFIRMATION; bank silent/ERROR
            return to == FM_RS_GRANTED || to == FM_RS_WITHDRAWN
                || to == FM_RS_OFFERED;
        case FM_RS_WITHDRAWN:           //  another offer; all out of date
            return to == FM_RS_ACCEPTED || to == FM_RS_EXPIRED;
        case FM_RS_DECLINED:
        case FM_RS_GRANTED:
        case FM_RS_EXPIRED:
        case FM_RS_FAILED:
        case FM_RS_COUNT:
            return false;
    }
    return false;
}

bool
fm_lifecycle_final (fm_req_state_t state)
{
    for (int to = FM_RS_RECEIVED; to < FM_RS_COUNT; to++)
        if (fm_lifecycle_legal (state, (fm_req_state_t) to))
            return false;
    return true;
}

fm_req_state_t
fm_lifecycle_apply (fm_req_state_t state, const fm_event_t *event)
{
    fm_req_state_t to = state;
    switch (event->type) {
        case FM_EV_REQUEST_RECEIVED:
            to = FM_RS_RECEIVED;
            break;
        case FM_EV_REQUEST_ENRICHED:
            to = FM_RS_ENRICHED;
            break;
        case FM_EV_REQUEST_DISPATCHED:
            to = FM_RS_DISPATCHED;
            break;
        case FM_EV_REQUEST_COMPLETED:
            if (event->status != FM_STATUS_OK)
                to = FM_RS_FAILED;
            else
                to = event->count? FM_RS_OFFERED: FM_RS_DECLINED;
            break;
        case FM_EV_OFFER_ACCEPTED:
            to = FM_RS_ACCEPTED;
            break;
        case FM_EV_LOAN_GRANTED:
            to = FM_RS_GRANTED;
            break;
        case FM_EV_OFFER_WITHDRAWN:
            to = FM_RS_WITHDRAWN;
            break;
        case FM_EV_REQUEST_EXPIRED:
            to = FM_RS_EXPIRED;
            break;
        case FM_EV_SLA_BREACH:
            //  A missed grant (offer_id set) hands the request back
            if (*event->offer_id)
                to = FM_RS_OFFERED;
            break;
        default:
            break;
    }
    //  The log may start mid-request (recorder joined late): trust it
    return to;
}


//  --------------------------------------------------------------------------
//  Selftest

void
fm_lifecycle_test (bool verbose)
{
    (void) verbose;
    printf (" * fm_lifecycle: ");
    //  The SPEC.md 14.3 table, as (from, to) pairs; every other is illegal
    static const int legal [][2] = {
        { FM_RS_NONE, FM_RS_RECEIVED },
        { FM_RS_RECEIVED, FM_RS_ENRICHED }, { FM_RS_RECEIVED, FM_RS_FAILED },
        { FM_RS_ENRICHED, FM_RS_DISPATCHED }, { FM_RS_ENRICHED, FM_RS_FAILED },
        { FM_RS_DISPATCHED, FM_RS_OFFERED }, { FM_RS_DISPATCHED, FM_RS_DECLINED },
        { FM_RS_DISPATCHED, FM_RS_FAILED },
        { FM_RS_OFFERED, FM_RS_ACCEPTED }, { FM_RS_OFFERED, FM_RS_EXPIRED },
        { FM_RS_ACCEPTED, FM_RS_GRANTED }, { FM_RS_ACCEPTED, FM_RS_WITHDRAWN },
        { FM_RS_ACCEPTED, FM_RS_OFFERED },
        { FM_RS_WITHDRAWN, FM_RS_ACCEPTED }, { FM_RS_WITHDRAWN, FM_RS_EXPIRED },
    };
    size_t pairs = sizeof (legal) / sizeof (legal [0]);
    size_t found = 0;
    for (int from = 0; from < FM_RS_COUNT; from++)
        for (int to = 0; to < FM_RS_COUNT; to++) {
            bool expected = false;
            for (size_t index = 0; index < pairs; index++)
                if (legal [index][0] == from && legal [index][1] == to)
                    expected = true;
            assert (fm_lifecycle_legal ((fm_req_state_t) from, (fm_req_state_t) to)
                    == expected);
            found += expected;
        }
    assert (found == pairs);
    assert (fm_lifecycle_final (FM_RS_GRANTED) && fm_lifecycle_final (FM_RS_DECLINED));
    assert (fm_lifecycle_final (FM_RS_EXPIRED) && fm_lifecycle_final (FM_RS_FAILED));
    assert (!fm_lifecycle_final (FM_RS_WITHDRAWN) && !fm_lifecycle_final (FM_RS_OFFERED));
    for (int state = FM_RS_RECEIVED; state < FM_RS_COUNT; state++)
        assert ((int) fm_lifecycle_parse (fm_lifecycle_name ((fm_req_state_t) state)) == state);
    assert (fm_lifecycle_parse ("nonsense") == FM_RS_NONE);
    assert (streq (fm_lifecycle_name (FM_RS_COUNT), "?"));

    //  Folding a logged history
    fm_event_t event;
    memset (&event, 0, sizeof (event));
    fm_req_state_t state = FM_RS_NONE;
    event.type = FM_EV_REQUEST_RECEIVED;
    state = fm_lifecycle_apply (state, &event);
    event.type = FM_EV_REQUEST_ENRICHED;
    state = fm_lifecycle_apply (state, &event);
    event.type = FM_EV_REQUEST_DISPATCHED;
    state = fm_lifecycle_apply (state, &event);
    event.type = FM_EV_OFFER_MADE;
    assert (fm_lifecycle_apply (state, &event) == FM_RS_DISPATCHED);
    event.type = FM_EV_REQUEST_COMPLETED;
    event.status = 200;
    event.count = 0;
    assert (fm_lifecycle_apply (state, &event) == FM_RS_DECLINED);
    event.count = 2;
    state = fm_lifecycle_apply (state, &event);
    assert (state == FM_RS_OFFERED);
    event.type = FM_EV_OFFER_ACCEPTED;
    state = fm_lifecycle_apply (state, &event);
    event.type = FM_EV_SLA_BREACH;
    assert (fm_lifecycle_apply (state, &event) == FM_RS_ACCEPTED);
    strcpy (event.offer_id, "CQRCB/GRIDE");
    assert (fm_lifecycle_apply (state, &event) == FM_RS_OFFERED);
    event.type = FM_EV_LOAN_GRANTED;
    assert (fm_lifecycle_apply (state, &event) == FM_RS_GRANTED);
    event.type = FM_EV_REQUEST_COMPLETED;
    event.status = 504;
    assert (fm_lifecycle_apply (FM_RS_RECEIVED, &event) == FM_RS_FAILED);
    printf ("OK\n");
}
