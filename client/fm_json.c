/*  =========================================================================
    fm_json - JSON rendering of what the broker sends a client

    Builds jansson objects from decoded records.  Messages (result,
    confirmation) always carry every field of their type, so a script sees
    a stable schema; events carry only the fields that are set, as on the
    wire (SPEC.md "Event stream").  Out of memory inside jansson makes a
    field silently missing: the CLI then prints less, it never crashes.
    =========================================================================
*/

#include <czmq.h>
#include "fm_json.h"

//  Set key to a string / integer / boolean.  jansson's *_set_new steals
//  the value and copes with NULL (out of memory), so these cannot fail
//  loudly.
static void
s_set_str (json_t *object, const char *key, const char *value)
{
    json_object_set_new (object, key, json_string (value? value: ""));
}

static void
s_set_int (json_t *object, const char *key, int64_t value)
{
    json_object_set_new (object, key, json_integer ((json_int_t) value));
}

static void
s_set_bool (json_t *object, const char *key, bool value)
{
    json_object_set_new (object, key, json_boolean (value));
}

//  Array of lever objects {code, name, bp, payer}
static json_t *
s_levers (const fm_lever_t *levers, size_t count)
{
    json_t *array = json_array ();
    if (!array)
        return NULL;
    for (size_t index = 0; index < count; index++) {
        json_t *lever = json_object ();
        if (!lever)
            break;
        s_set_str (lever, "code", levers [index].code);
        s_set_str (lever, "name", levers [index].name);
        s_set_int (lever, "bp", levers [index].bp);
        s_set_str (lever, "payer", fm_payer_name (levers [index].payer));
        json_array_append_new (array, lever);
    }
    return array;
}

static json_t *
s_offer (const fm_offer_t *offer, size_t rank)
{
    json_t *object = json_object ();
    if (!object)
        return NULL;
    s_set_int (object, "rank", (int64_t) rank);
    s_set_str (object, "offer_id", offer->offer_id);
    s_set_str (object, "bank", offer->bank);
    s_set_str (object, "bank_name", offer->bank_name);
    s_set_str (object, "product", offer->product);
    s_set_str (object, "product_name", offer->product_name);
    s_set_str (object, "kind", fm_kind_name (offer->kind));
    s_set_int (object, "amount_fen", offer->amount_fen);
    s_set_int (object, "term_months", offer->term_months);
    s_set_int (object, "base_rate_bp", offer->base_rate_bp);
    json_object_set_new (object, "levers",
                         s_levers (offer->levers, offer->lever_count));
    s_set_int (object, "effective_rate_bp", offer->effective_rate_bp);
    s_set_int (object, "valid_until_us", offer->valid_until_us);
    s_set_bool (object, "without_credit_data", offer->without_credit_data);
    return object;
}

static json_t *
s_decline (const fm_decline_t *decline)
{
    json_t *object = json_object ();
    if (!object)
        return NULL;
    s_set_str (object, "bank", decline->bank);
    json_t *reasons = json_array ();
    for (size_t index = 0; reasons && index < decline->reason_count; index++) {
        const fm_reason_t *reason = &decline->reasons [index];
        json_t *item = json_object ();
        if (!item)
            break;
        s_set_int (item, "code", reason->code);
        s_set_str (item, "name", fm_reason_name (reason->code));
        s_set_str (item, "product", reason->product);
        s_set_str (item, "text", reason->text);
        json_array_append_new (reasons, item);
    }
    json_object_set_new (object, "reasons", reasons);
    return object;
}

json_t *
fm_json_result (const fm_msg_t *msg)
{
    assert (msg);
    json_t *object = json_object ();
    if (!object)
        return NULL;
    s_set_str (object, "type", "result");
    s_set_str (object, "request_id", msg->request_id);
    s_set_str (object, "enterprise_id", msg->request.enterprise_id);
    s_set_str (object, "idem_key", msg->request.idem_key);
    s_set_int (object, "status", msg->status);
    s_set_str (object, "text", msg->text);

    json_t *offers = json_array ();
    for (size_t index = 0; offers && index < msg->offer_count; index++)
        json_array_append_new (offers, s_offer (&msg->offers [index], index + 1));
    json_object_set_new (object, "offers", offers);

    json_t *declines = json_array ();
    for (size_t index = 0; declines && index < msg->decline_count; index++)
        json_array_append_new (declines, s_decline (&msg->declines [index]));
    json_object_set_new (object, "declines", declines);

    json_t *timed_out = json_array ();
    for (size_t index = 0; timed_out && index < msg->timed_out_count; index++)
        json_array_append_new (timed_out, json_string (msg->timed_out [index]));
    json_object_set_new (object, "timed_out", timed_out);
    return object;
}

json_t *
fm_json_confirmation (const fm_msg_t *msg)
{
    assert (msg);
    const fm_confirmation_t *confirmation = &msg->confirmation;
    json_t *object = json_object ();
    if (!object)
        return NULL;
    s_set_str (object, "type", "confirmation");
    s_set_str (object, "request_id", msg->request_id);
    s_set_str (object, "enterprise_id", msg->request.enterprise_id);
    s_set_str (object, "offer_id", confirmation->offer_id);
    s_set_str (object, "bank", confirmation->bank);
    s_set_bool (object, "granted", confirmation->granted);
    s_set_str (object, "loan_id", confirmation->loan_id);
    s_set_int (object, "amount_fen", confirmation->amount_fen);
    s_set_int (object, "base_rate_bp", confirmation->base_rate_bp);
    s_set_int (object, "effective_rate_bp", confirmation->effective_rate_bp);
    s_set_int (object, "term_months", confirmation->term_months);
    s_set_str (object, "text", confirmation->text);
    return object;
}

json_t *
fm_json_error (const char *request_id, int status, const char *text,
               bool local)
{
    json_t *object = json_object ();
    if (!object)
        return NULL;
    s_set_str (object, "type", "error");
    s_set_str (object, "request_id", request_id);
    s_set_int (object, "status", status);
    s_set_str (object, "status_name", fm_status_name ((uint16_t) status));
    s_set_str (object, "text", text);
    if (local)
        s_set_bool (object, "local", true);
    return object;
}

json_t *
fm_json_reply (const fm_msg_t *msg)
{
    assert (msg);
    switch (msg->type) {
        case FM_MSG_RESULT:
            return fm_json_result (msg);
        case FM_MSG_CONFIRMATION:
            return fm_json_confirmation (msg);
        case FM_MSG_ERROR:
            return fm_json_error (msg->request_id, msg->status, msg->text, false);
        default: {
            json_t *object = json_object ();
            if (object) {
                s_set_str (object, "type", fm_msg_type_name (msg->type));
                s_set_str (object, "request_id", msg->request_id);
            }
            return object;
        }
    }
}

//  Event fields: only those set, as the wire encodes them
static void
s_set_str_if (json_t *object, const char *key, const char *value)
{
    if (*value)
        s_set_str (object, key, value);
}

static void
s_set_int_if (json_t *object, const char *key, int64_t value)
{
    if (value)
        s_set_int (object, key, value);
}

json_t *
fm_json_event (const fm_event_t *event)
{
    assert (event);
    json_t *object = json_object ();
    if (!object)
        return NULL;
    s_set_str (object, "type", fm_event_type_name (event->type));
    //  epoch and seq are uint64 on the wire but are µs and counters, far
    //  below INT64_MAX; json_int_t is signed
    s_set_int (object, "epoch", (int64_t) event->epoch);
    s_set_int (object, "seq", (int64_t) event->seq);
    s_set_int (object, "ts_us", event->ts_us);
    s_set_str_if (object, "request_id", event->request_id);
    s_set_str_if (object, "enterprise_id", event->enterprise_id);
    s_set_str_if (object, "grid_id", event->grid_id);
    s_set_str_if (object, "industry", event->industry);
    s_set_str_if (object, "bank", event->bank);
    s_set_str_if (object, "product", event->product);
    s_set_str_if (object, "offer_id", event->offer_id);
    s_set_str_if (object, "loan_id", event->loan_id);
    s_set_str_if (object, "service", event->service);
    s_set_str_if (object, "peer", event->peer);
    s_set_int_if (object, "amount_fen", event->amount_fen);
    s_set_int_if (object, "term_months", event->term_months);
    s_set_int_if (object, "base_rate_bp", event->base_rate_bp);
    s_set_int_if (object, "effective_rate_bp", event->effective_rate_bp);
    s_set_int_if (object, "status", event->status);
    s_set_int_if (object, "count", event->count);
    s_set_int_if (object, "reason_code", event->reason_code);
    s_set_str_if (object, "text", event->text);
    if (event->lever_count)
        json_object_set_new (object, "levers",
                             s_levers (event->levers, event->lever_count));
    return object;
}

int
fm_json_print (json_t **json_p, FILE *file)
{
    assert (json_p);
    assert (file);
    json_t *json = *json_p;
    *json_p = NULL;
    if (!json)
        return -1;
    //  JSON_PRESERVE_ORDER keeps the field order above (stable diffs);
    //  UTF-8 is written as is, not \u-escaped
    int rc = json_dumpf (json, file, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref (json);
    if (rc == 0 && fputc ('\n', file) != EOF && fflush (file) == 0)
        return 0;
    return -1;
}
