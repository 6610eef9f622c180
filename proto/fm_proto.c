/*  =========================================================================
    fm_proto - finmatch message bodies and events: records and their codec

    The codec is driven by field tables.  A record (request, profile,
    offer, lever, reason, decline, confirmation, the message itself, an
    event, READY options) is described by a desc_t: one field_t row per
    field with its wire key, kind, offset and size in the C struct, bounds,
    and -- for the top-level message table -- which message types carry it
    and which require it.  Validation, encoding, decoding and the selftest
    all walk the same rows, so a field added to a table is encoded, decoded,
    checked and tested at once.  proto/messages.md and proto/SPEC.md list
    the same tables for people.

    Decoding is the trust boundary.  A scan (s_scan) first proves the
    buffer is exactly one complete msgpack object whose every length and
    array and map count is backed by real bytes, nested no deeper than
    msgpack-c would unpack; the decoder then walks those bytes in place
    (s_view), copying values into our fixed-size records, which are
    validated by the same code that guards encoding.  No object tree is
    built: decoding allocates nothing but a message's lists.  Encoding
    writes msgpack straight into a buffer, the same bytes msgpack-c's
    packer writes (the selftest compares them); msgpack-c itself serves
    only the selftest, which builds hostile bodies with it.
    =========================================================================
*/

#include <msgpack.h>
#include <sys/mman.h>
#include "fm_proto.h"
#include "fm_text.h"
#include "fm_ids.h"
#include "fm_mdp.h"

//  The selftest marks bytes that nothing may read (s_test_append_used)
#if defined (__SANITIZE_ADDRESS__)
#   define FM_PROTO_ASAN 1
#elif defined (__has_feature)
#   if __has_feature (address_sanitizer)
#       define FM_PROTO_ASAN 1
#   endif
#endif
#ifdef FM_PROTO_ASAN
#   include <sanitizer/asan_interface.h>
#endif

//  ---------------------------------------------------------------------
//  Names of types and enums (wire strings), indexed by value

//  NULL-terminated after the last type: s_name_index walks from index 1
static const char *s_msg_names [FM_MSG_TYPE_COUNT + 1] = {
    NULL, "request", "credit_query", "profile", "bank_query", "bank_answer",
    "result", "accept", "grant_query", "confirmation", "error",
    "status_query", "status", "warn", NULL
};

//  Event types: wire name and the fields each type sets (SPEC.md "Event
//  stream"); the selftest fills exactly these fields
typedef struct {
    const char *name;
    const char *fields;                 //  space-separated wire keys
} event_info_t;

static const event_info_t s_event_info [FM_EV_TYPE_COUNT] = {
    { NULL, NULL },
    { "request.received",
      "request_id enterprise_id grid_id amount_fen term_months text" },
    { "request.enriched",   "request_id enterprise_id grid_id industry levers town" },
    { "request.dispatched", "request_id enterprise_id grid_id count" },
    { "offer.made",
      "request_id enterprise_id grid_id bank product offer_id amount_fen"
      " term_months base_rate_bp effective_rate_bp levers latency_us" },
    { "decline.made",
      "request_id enterprise_id grid_id bank reason_code text latency_us" },
    { "bank.timeout",       "request_id enterprise_id grid_id bank" },
    { "request.completed",  "request_id enterprise_id grid_id status count" },
    { "offer.accepted",
      "request_id enterprise_id grid_id bank offer_id amount_fen" },
    { "loan.granted",
      "request_id enterprise_id grid_id bank product offer_id loan_id"
      " amount_fen term_months base_rate_bp effective_rate_bp levers" },
    { "offer.withdrawn",    "request_id enterprise_id bank offer_id text" },
    { "worker.ready",       "service peer count" },
    { "worker.expired",     "service peer" },
    { "input.rejected",     "peer status text" },
    { "reply.late",         "request_id bank service latency_us" },
    { "sla.breach",
      "request_id enterprise_id grid_id bank offer_id count latency_us" },
    { "request.referred",   "request_id enterprise_id grid_id bank count text" },
    { "request.illegal",    "request_id enterprise_id status text" },
    { "request.expired",    "request_id enterprise_id grid_id" },
    //  Designated: stays right whatever is added above
    [FM_EV_AUTH_DENIED] = { "auth.denied", "service peer status text" },
    //  Target in enterprise_id or grid_id, level in count, raised_by in
    //  peer, reason in text (SPEC.md "Risk warnings")
    [FM_EV_RISK_WARNING] = { "risk.warning",
                             "enterprise_id grid_id count status text peer" },
};

static const char *s_kind_names [] = { "loan", "insurance", "guarantee", NULL };
static const char *s_collateral_names [] = {
    "none", "property", "equipment", "receivables", "guarantee", NULL
};
static const char *s_req_type_names [] = { "new", "renewal", NULL };
static const char *s_payer_names [] = { "bank", "government", NULL };
static const char *s_warn_target_names [] = { "enterprise", "grid", NULL };
//  Consent bits in bit order: FM_CONSENT_TAX, _SOCIAL, _PARTY
static const char *s_consent_names [] = {
    "tax", "social_insurance", "party_building", NULL
};

//  ---------------------------------------------------------------------
//  Field tables

typedef enum {
    FK_STR,             //  char [size]: NUL-terminated UTF-8
    FK_INT,             //  integer of width size, within lo..hi
    FK_BOOL,            //  bool
    FK_ENUM,            //  enum (width size) <-> one of names[] (index = value)
    FK_BITS,            //  uint32_t bits <-> array of names[] (bit i = names[i])
    FK_GRADE,           //  char <-> 1-char string from chars, "" = 0
    FK_REC,             //  nested struct at offset, described by sub
    FK_LIST,            //  array of sub records; count at count_offset
    FK_STRS             //  heap array of char [size]; count at count_offset
} fkind_t;

//  Field flags
#define F_SIGNED        0x01    //  FK_INT: stored signed (int32_t, int64_t)
#define F_CREDIT        0x02    //  FK_STR: a credit code when not empty
#define F_REQID         0x04    //  FK_STR: a request id when not empty
#define F_BANK          0x08    //  FK_STR: a bank code [A-Z0-9_]{1,16} when not empty
#define F_HEAP          0x10    //  FK_LIST: a pointer to a heap array
#define F_ZERO_OK       0x20    //  FK_INT: 0 is valid besides lo..hi
#define F_ALWAYS        0x40    //  sparse records: encoded even when zero
#define F_OMIT_ZERO     0x80    //  any record: left out when zero (optional
                                //  additions that would grow every record)

//  Message-type bit masks for the top-level message table
#define T(x)            (1u << FM_MSG_##x)
#define ALL             0xFFFFFFFFu

typedef struct _desc_t desc_t;

typedef struct {
    const char *key;                    //  wire key
    size_t key_len;                     //  strlen (key), for the encoders
    fkind_t kind;
    size_t offset;                      //  of the value in the record
    size_t size;                        //  string capacity / int width / element size
    int64_t lo, hi;                     //  int bounds; list item bounds
    uint32_t types;                     //  message types carrying it; 0 = all
    uint32_t required;                  //  types in which it must be present
    unsigned flags;                     //  F_*
    const char *const *names;           //  FK_ENUM, FK_BITS
    const char *chars;                  //  FK_GRADE: allowed characters
    size_t count_offset;                //  FK_LIST, FK_STRS: count field
    size_t count_size;                  //  width of the count field
    const desc_t *sub;                  //  FK_REC, FK_LIST element
} field_t;

//  A rule beyond single fields, checked after them (NULL if none).
//  Returns 0 or -1 with err filled.
typedef struct _path_t path_t;
typedef int (rule_fn) (const void *base, uint32_t tbit, const path_t *path,
                       fm_error_t *err);

struct _desc_t {
    const char *name;                   //  for messages.md and tests
    const field_t *fields;
    size_t field_count;
    size_t size;                        //  sizeof the record
    bool sparse;                        //  encode only non-zero fields
    rule_fn *rule;
    bool wide;                          //  always 16+ fields: map16 header
};

#define MEMBER_SIZE(T_, m)  sizeof (((T_ *) 0)->m)
#define AT(T_, m)       .offset = offsetof (T_, m), .size = MEMBER_SIZE (T_, m)
#define COUNT(T_, m)    .count_offset = offsetof (T_, m), .count_size = MEMBER_SIZE (T_, m)
#define ROWS(a)         a, sizeof (a) / sizeof (a [0])
#define KEY(k)          .key = k, .key_len = sizeof (k) - 1

static rule_fn s_profile_rule, s_offer_rule, s_confirmation_rule, s_msg_rule;
static rule_fn s_warning_rule;

static const field_t s_lever_fields [] = {
    { KEY ("code"), .kind = FK_STR, AT (fm_lever_t, code), .required = ALL },
    { KEY ("name"), .kind = FK_STR, AT (fm_lever_t, name) },
    { KEY ("bp"), .kind = FK_INT, AT (fm_lever_t, bp), .flags = F_SIGNED,
      .lo = 0, .hi = FM_MAX_RATE_BP, .required = ALL },
    { KEY ("payer"), .kind = FK_ENUM, AT (fm_lever_t, payer), .names = s_payer_names },
    { KEY ("pct"), .kind = FK_INT, AT (fm_lever_t, pct), .lo = 1,
      .hi = FM_MAX_UPLIFT_PCT, .flags = F_ZERO_OK | F_OMIT_ZERO },
};
static const desc_t s_lever_desc = {
    "lever", ROWS (s_lever_fields), sizeof (fm_lever_t), false, NULL, false
};

static const field_t s_reason_fields [] = {
    { KEY ("code"), .kind = FK_INT, AT (fm_reason_t, code),
      .lo = 100, .hi = 999, .required = ALL },
    { KEY ("product"), .kind = FK_STR, AT (fm_reason_t, product) },
    { KEY ("text"), .kind = FK_STR, AT (fm_reason_t, text) },
    { KEY ("advice"), .kind = FK_STR, AT (fm_reason_t, advice) },
};
static const desc_t s_reason_desc = {
    "reason", ROWS (s_reason_fields), sizeof (fm_reason_t), false, NULL, false
};

static const field_t s_decline_fields [] = {
    { KEY ("bank"), .kind = FK_STR, AT (fm_decline_t, bank), .flags = F_BANK,
      .required = ALL },
    { KEY ("reasons"), .kind = FK_LIST, AT (fm_decline_t, reasons),
      COUNT (fm_decline_t, reason_count), .lo = 1, .hi = FM_MAX_REASONS,
      .sub = &s_reason_desc, .required = ALL },
};
static const desc_t s_decline_desc = {
    "decline", ROWS (s_decline_fields), sizeof (fm_decline_t), false, NULL, false
};

static const field_t s_offer_fields [] = {
    { KEY ("offer_id"), .kind = FK_STR, AT (fm_offer_t, offer_id), .required = ALL },
    { KEY ("bank"), .kind = FK_STR, AT (fm_offer_t, bank), .flags = F_BANK,
      .required = ALL },
    { KEY ("bank_name"), .kind = FK_STR, AT (fm_offer_t, bank_name) },
    { KEY ("product"), .kind = FK_STR, AT (fm_offer_t, product), .required = ALL },
    { KEY ("product_name"), .kind = FK_STR, AT (fm_offer_t, product_name) },
    { KEY ("kind"), .kind = FK_ENUM, AT (fm_offer_t, kind), .names = s_kind_names },
    { KEY ("amount_fen"), .kind = FK_INT, AT (fm_offer_t, amount_fen),
      .flags = F_SIGNED, .lo = 1, .hi = FM_MAX_AMOUNT_FEN, .required = ALL },
    { KEY ("term_months"), .kind = FK_INT, AT (fm_offer_t, term_months),
      .lo = 1, .hi = FM_MAX_TERM_MONTHS, .required = ALL },
    { KEY ("base_rate_bp"), .kind = FK_INT, AT (fm_offer_t, base_rate_bp),
      .flags = F_SIGNED, .lo = 0, .hi = FM_MAX_RATE_BP, .required = ALL },
    { KEY ("levers"), .kind = FK_LIST, AT (fm_offer_t, levers),
      COUNT (fm_offer_t, lever_count), .lo = 0, .hi = FM_MAX_LEVERS,
      .sub = &s_lever_desc },
    { KEY ("effective_rate_bp"), .kind = FK_INT, AT (fm_offer_t, effective_rate_bp),
      .flags = F_SIGNED, .lo = 0, .hi = FM_MAX_RATE_BP, .required = ALL },
    { KEY ("valid_until_us"), .kind = FK_INT, AT (fm_offer_t, valid_until_us),
      .flags = F_SIGNED, .lo = 0, .hi = INT64_MAX },
    { KEY ("without_credit_data"), .kind = FK_BOOL,
      AT (fm_offer_t, without_credit_data) },
    { KEY ("risk_gov_pct"), .kind = FK_INT, AT (fm_offer_t, risk_gov_pct),
      .lo = 0, .hi = 100 },
    { KEY ("risk_bank_pct"), .kind = FK_INT, AT (fm_offer_t, risk_bank_pct),
      .lo = 0, .hi = 100 },
    { KEY ("risk_guarantor_pct"), .kind = FK_INT, AT (fm_offer_t, risk_guarantor_pct),
      .lo = 0, .hi = 100 },
};
static const desc_t s_offer_desc = {
    "offer", ROWS (s_offer_fields), sizeof (fm_offer_t), false, s_offer_rule, true
};

static const field_t s_request_fields [] = {
    { KEY ("enterprise_id"), .kind = FK_STR, AT (fm_request_t, enterprise_id),
      .flags = F_CREDIT, .required = ALL },
    { KEY ("idem_key"), .kind = FK_STR, AT (fm_request_t, idem_key), .required = ALL },
    { KEY ("amount_fen"), .kind = FK_INT, AT (fm_request_t, amount_fen),
      .flags = F_SIGNED, .lo = 1, .hi = FM_MAX_AMOUNT_FEN, .required = ALL },
    { KEY ("term_months"), .kind = FK_INT, AT (fm_request_t, term_months),
      .lo = 1, .hi = FM_MAX_TERM_MONTHS, .required = ALL },
    { KEY ("purpose"), .kind = FK_STR, AT (fm_request_t, purpose) },
    { KEY ("type"), .kind = FK_ENUM, AT (fm_request_t, type), .names = s_req_type_names },
    { KEY ("prior_loan_id"), .kind = FK_STR, AT (fm_request_t, prior_loan_id) },
    { KEY ("grid_id"), .kind = FK_STR, AT (fm_request_t, grid_id) },
    { KEY ("collateral"), .kind = FK_ENUM, AT (fm_request_t, collateral),
      .names = s_collateral_names },
    { KEY ("consent"), .kind = FK_BITS, AT (fm_request_t, consent),
      .names = s_consent_names },
    { KEY ("kinds"), .kind = FK_BITS, AT (fm_request_t, kinds), .names = s_kind_names },
    { KEY ("submitted_by"), .kind = FK_STR, AT (fm_request_t, submitted_by) },
};
static const desc_t s_request_desc = {
    "request", ROWS (s_request_fields), sizeof (fm_request_t), false, NULL, false
};

static const field_t s_profile_fields [] = {
    { KEY ("enterprise_id"), .kind = FK_STR, AT (fm_profile_t, enterprise_id),
      .flags = F_CREDIT, .required = ALL },
    { KEY ("name"), .kind = FK_STR, AT (fm_profile_t, name) },
    { KEY ("industry"), .kind = FK_STR, AT (fm_profile_t, industry) },
    { KEY ("grid_id"), .kind = FK_STR, AT (fm_profile_t, grid_id) },
    { KEY ("shared"), .kind = FK_BITS, AT (fm_profile_t, shared),
      .names = s_consent_names },
    { KEY ("tax_grade"), .kind = FK_GRADE, AT (fm_profile_t, tax_grade),
      .chars = "ABMCD" },
    { KEY ("party_grade"), .kind = FK_GRADE, AT (fm_profile_t, party_grade),
      .chars = "ABCD-" },
    { KEY ("social_insurance_months"), .kind = FK_INT,
      AT (fm_profile_t, social_insurance_months), .lo = 0, .hi = 600 },
    { KEY ("levers"), .kind = FK_LIST, AT (fm_profile_t, levers),
      COUNT (fm_profile_t, lever_count), .lo = 0, .hi = FM_MAX_LEVERS,
      .sub = &s_lever_desc },
    { KEY ("town"), .kind = FK_STR, AT (fm_profile_t, town) },
    { KEY ("warnings"), .kind = FK_STR, AT (fm_profile_t, warnings) },
};
static const desc_t s_profile_desc = {
    "profile", ROWS (s_profile_fields), sizeof (fm_profile_t), false, s_profile_rule, false
};

static const field_t s_confirmation_fields [] = {
    { KEY ("offer_id"), .kind = FK_STR, AT (fm_confirmation_t, offer_id),
      .required = ALL },
    { KEY ("bank"), .kind = FK_STR, AT (fm_confirmation_t, bank), .flags = F_BANK,
      .required = ALL },
    { KEY ("granted"), .kind = FK_BOOL, AT (fm_confirmation_t, granted),
      .required = ALL },
    { KEY ("loan_id"), .kind = FK_STR, AT (fm_confirmation_t, loan_id) },
    { KEY ("amount_fen"), .kind = FK_INT, AT (fm_confirmation_t, amount_fen),
      .flags = F_SIGNED, .lo = 0, .hi = FM_MAX_AMOUNT_FEN },
    { KEY ("base_rate_bp"), .kind = FK_INT, AT (fm_confirmation_t, base_rate_bp),
      .flags = F_SIGNED, .lo = 0, .hi = FM_MAX_RATE_BP },
    { KEY ("effective_rate_bp"), .kind = FK_INT,
      AT (fm_confirmation_t, effective_rate_bp),
      .flags = F_SIGNED, .lo = 0, .hi = FM_MAX_RATE_BP },
    { KEY ("term_months"), .kind = FK_INT, AT (fm_confirmation_t, term_months),
      .lo = 0, .hi = FM_MAX_TERM_MONTHS },
    { KEY ("text"), .kind = FK_STR, AT (fm_confirmation_t, text) },
};
static const desc_t s_confirmation_desc = {
    "confirmation", ROWS (s_confirmation_fields), sizeof (fm_confirmation_t),
    false, s_confirmation_rule, false
};

static const field_t s_warning_fields [] = {
    { KEY ("target"), .kind = FK_ENUM, AT (fm_warning_t, target),
      .names = s_warn_target_names, .required = ALL },
    { KEY ("target_id"), .kind = FK_STR, AT (fm_warning_t, target_id), .required = ALL },
    { KEY ("level"), .kind = FK_INT, AT (fm_warning_t, level), .lo = 1,
      .hi = FM_MAX_WARN_LEVEL, .flags = F_ZERO_OK },
    { KEY ("reason"), .kind = FK_STR, AT (fm_warning_t, reason) },
    { KEY ("raised_by"), .kind = FK_STR, AT (fm_warning_t, raised_by) },
    { KEY ("expires_us"), .kind = FK_INT, AT (fm_warning_t, expires_us),
      .flags = F_SIGNED, .lo = 0, .hi = INT64_MAX },
    { KEY ("lift"), .kind = FK_BOOL, AT (fm_warning_t, lift) },
};
static const desc_t s_warning_desc = {
    "warning", ROWS (s_warning_fields), sizeof (fm_warning_t), false, s_warning_rule, false
};

//  The message table: "v" and "t" come first on the wire and are not rows.
//  Several keys are flattened into the request record (enterprise_id,
//  idem_key, grid_id, consent) for the types that carry only those.
static const field_t s_msg_fields [] = {
    { KEY ("request_id"), .kind = FK_STR, AT (fm_msg_t, request_id), .flags = F_REQID,
      .types = ALL & ~(T (REQUEST) | T (WARN)),
      .required = ALL & ~(T (REQUEST) | T (ERROR) | T (WARN)) },
    { KEY ("request"), .kind = FK_REC, AT (fm_msg_t, request), .sub = &s_request_desc,
      .types = T (REQUEST) | T (BANK_QUERY), .required = T (REQUEST) | T (BANK_QUERY) },
    { KEY ("enterprise_id"), .kind = FK_STR, AT (fm_msg_t, request.enterprise_id),
      .flags = F_CREDIT,
      .types = T (CREDIT_QUERY) | T (RESULT) | T (ACCEPT) | T (GRANT_QUERY)
             | T (CONFIRMATION) | T (STATUS_QUERY) | T (STATUS),
      .required = T (CREDIT_QUERY) | T (RESULT) | T (ACCEPT) | T (GRANT_QUERY)
                | T (CONFIRMATION) | T (STATUS) },
    { KEY ("idem_key"), .kind = FK_STR, AT (fm_msg_t, request.idem_key),
      .types = T (RESULT) },
    { KEY ("grid_id"), .kind = FK_STR, AT (fm_msg_t, request.grid_id),
      .types = T (CREDIT_QUERY) },
    { KEY ("consent"), .kind = FK_BITS, AT (fm_msg_t, request.consent),
      .names = s_consent_names, .types = T (CREDIT_QUERY) },
    //  Issue 3: the government checks the officer against the grid and
    //  caps its interest subsidy by the amount asked
    { KEY ("submitted_by"), .kind = FK_STR, AT (fm_msg_t, request.submitted_by),
      .types = T (CREDIT_QUERY) },
    { KEY ("amount_fen"), .kind = FK_INT, AT (fm_msg_t, request.amount_fen),
      .flags = F_SIGNED | F_ZERO_OK, .lo = 1, .hi = FM_MAX_AMOUNT_FEN,
      .types = T (CREDIT_QUERY) },
    { KEY ("profile"), .kind = FK_REC, AT (fm_msg_t, profile), .sub = &s_profile_desc,
      .types = T (PROFILE) | T (BANK_QUERY), .required = T (PROFILE) | T (BANK_QUERY) },
    { KEY ("bank"), .kind = FK_STR, AT (fm_msg_t, bank), .flags = F_BANK,
      .types = T (BANK_ANSWER), .required = T (BANK_ANSWER) },
    { KEY ("offer_id"), .kind = FK_STR, AT (fm_msg_t, offer_id),
      .types = T (ACCEPT) | T (STATUS), .required = T (ACCEPT) },
    { KEY ("state"), .kind = FK_STR, AT (fm_msg_t, state),
      .types = T (STATUS), .required = T (STATUS) },
    //  0 only in WARN: absent in the client's message, set in the
    //  broker's answer (s_msg_rule refuses 0 in the others)
    { KEY ("status"), .kind = FK_INT, AT (fm_msg_t, status), .lo = 100, .hi = 599,
      .flags = F_ZERO_OK, .types = T (RESULT) | T (ERROR) | T (STATUS) | T (WARN),
      .required = T (RESULT) | T (ERROR) | T (STATUS) },
    { KEY ("text"), .kind = FK_STR, AT (fm_msg_t, text),
      .types = T (RESULT) | T (ERROR) | T (STATUS) | T (WARN) },
    { KEY ("offers"), .kind = FK_LIST, .offset = offsetof (fm_msg_t, offers),
      .size = sizeof (fm_offer_t), COUNT (fm_msg_t, offer_count),
      .lo = 0, .hi = FM_MAX_OFFERS, .flags = F_HEAP, .sub = &s_offer_desc,
      .types = T (BANK_ANSWER) | T (RESULT) | T (GRANT_QUERY) | T (STATUS),
      .required = T (GRANT_QUERY) },
    { KEY ("declines"), .kind = FK_LIST, .offset = offsetof (fm_msg_t, declines),
      .size = sizeof (fm_decline_t), COUNT (fm_msg_t, decline_count),
      .lo = 0, .hi = FM_MAX_DECLINES, .flags = F_HEAP, .sub = &s_decline_desc,
      .types = T (BANK_ANSWER) | T (RESULT) | T (STATUS) },
    { KEY ("timed_out"), .kind = FK_STRS, .offset = offsetof (fm_msg_t, timed_out),
      .size = FM_CODE_SIZE, COUNT (fm_msg_t, timed_out_count),
      .lo = 0, .hi = FM_MAX_BANKS, .flags = F_BANK | F_HEAP,
      .types = T (RESULT) | T (STATUS) },
    { KEY ("asked"), .kind = FK_STRS, .offset = offsetof (fm_msg_t, asked),
      .size = FM_CODE_SIZE, COUNT (fm_msg_t, asked_count),
      .lo = 0, .hi = FM_MAX_BANKS, .flags = F_BANK | F_HEAP, .types = T (STATUS) },
    { KEY ("confirmation"), .kind = FK_REC, AT (fm_msg_t, confirmation),
      .sub = &s_confirmation_desc,
      .types = T (CONFIRMATION), .required = T (CONFIRMATION) },
    { KEY ("warning"), .kind = FK_REC, AT (fm_msg_t, warning), .sub = &s_warning_desc,
      .types = T (WARN), .required = T (WARN) },
};
static const desc_t s_msg_desc = {
    "message", ROWS (s_msg_fields), sizeof (fm_msg_t), false, s_msg_rule, false
};

//  The event table: "v" and "type" come first on the wire and are not rows.
//  Sparse: only epoch, seq, ts_us and the non-zero fields are encoded.
static const field_t s_event_fields [] = {
    { KEY ("epoch"), .kind = FK_INT, AT (fm_event_t, epoch),
      .lo = 1, .hi = INT64_MAX, .flags = F_ALWAYS, .required = ALL },
    { KEY ("seq"), .kind = FK_INT, AT (fm_event_t, seq),
      .lo = 1, .hi = INT64_MAX, .flags = F_ALWAYS, .required = ALL },
    { KEY ("ts_us"), .kind = FK_INT, AT (fm_event_t, ts_us),
      .lo = 0, .hi = INT64_MAX, .flags = F_ALWAYS | F_SIGNED, .required = ALL },
    { KEY ("request_id"), .kind = FK_STR, AT (fm_event_t, request_id), .flags = F_REQID },
    { KEY ("enterprise_id"), .kind = FK_STR, AT (fm_event_t, enterprise_id),
      .flags = F_CREDIT },
    { KEY ("grid_id"), .kind = FK_STR, AT (fm_event_t, grid_id) },
    { KEY ("industry"), .kind = FK_STR, AT (fm_event_t, industry) },
    { KEY ("bank"), .kind = FK_STR, AT (fm_event_t, bank), .flags = F_BANK },
    { KEY ("product"), .kind = FK_STR, AT (fm_event_t, product) },
    { KEY ("offer_id"), .kind = FK_STR, AT (fm_event_t, offer_id) },
    { KEY ("loan_id"), .kind = FK_STR, AT (fm_event_t, loan_id) },
    { KEY ("service"), .kind = FK_STR, AT (fm_event_t, service) },
    { KEY ("peer"), .kind = FK_STR, AT (fm_event_t, peer) },
    { KEY ("amount_fen"), .kind = FK_INT, AT (fm_event_t, amount_fen),
      .flags = F_SIGNED, .lo = 0, .hi = FM_MAX_AMOUNT_FEN },
    { KEY ("term_months"), .kind = FK_INT, AT (fm_event_t, term_months),
      .lo = 0, .hi = FM_MAX_TERM_MONTHS },
    { KEY ("base_rate_bp"), .kind = FK_INT, AT (fm_event_t, base_rate_bp),
      .flags = F_SIGNED, .lo = 0, .hi = FM_MAX_RATE_BP },
    { KEY ("effective_rate_bp"), .kind = FK_INT, AT (fm_event_t, effective_rate_bp),
      .flags = F_SIGNED, .lo = 0, .hi = FM_MAX_RATE_BP },
    { KEY ("status"), .kind = FK_INT, AT (fm_event_t, status),
      .lo = 100, .hi = 599, .flags = F_ZERO_OK },
    { KEY ("count"), .kind = FK_INT, AT (fm_event_t, count),
      .lo = 0, .hi = UINT32_MAX },
    { KEY ("reason_code"), .kind = FK_INT, AT (fm_event_t, reason_code),
      .lo = 100, .hi = 999, .flags = F_ZERO_OK },
    { KEY ("text"), .kind = FK_STR, AT (fm_event_t, text) },
    { KEY ("levers"), .kind = FK_LIST, AT (fm_event_t, levers),
      COUNT (fm_event_t, lever_count), .lo = 0, .hi = FM_MAX_LEVERS,
      .sub = &s_lever_desc },
    { KEY ("latency_us"), .kind = FK_INT, AT (fm_event_t, latency_us),
      .flags = F_SIGNED, .lo = 0, .hi = INT64_MAX },
    { KEY ("town"), .kind = FK_STR, AT (fm_event_t, town) },
};
static const desc_t s_event_desc = {
    "event", ROWS (s_event_fields), sizeof (fm_event_t), true, NULL, false
};

//  READY options: "v" first, then these
static const field_t s_ready_fields [] = {
    { KEY ("capacity"), .kind = FK_INT, AT (fm_ready_opts_t, capacity),
      .lo = 1, .hi = 1024 },
    { KEY ("heartbeat_ms"), .kind = FK_INT, AT (fm_ready_opts_t, heartbeat_ms),
      .lo = 100, .hi = 60000, .flags = F_ZERO_OK },
    { KEY ("towns"), .kind = FK_STR, AT (fm_ready_opts_t, towns) },
    //  Left out when 1 (fm_ready_opts_encode): on the wire 1..1024
    { KEY ("batch"), .kind = FK_INT, AT (fm_ready_opts_t, batch),
      .lo = 1, .hi = FM_MDPW_BATCH_MAX },
};
static const desc_t s_ready_desc = {
    "ready", ROWS (s_ready_fields), sizeof (fm_ready_opts_t), true, NULL, false
};

//  ---------------------------------------------------------------------
//  Small helpers

//  Where a value sits in a body, for error texts only: a chain of links
//  from the value up to the body (NULL), each a key or a list index.  It
//  lives on the callers' stacks and is rendered ("offers[2].levers[0].bp")
//  only when a check fails.  Building the path string for every field
//  checked or decoded, failing or not, was a fifth of the broker's CPU with
//  snprintf and still a tenth with plain copies; a link costs two stores.
struct _path_t {
    const path_t *up;                   //  enclosing value, NULL = the body
    const char *key;                    //  wire key, or NULL: list item
    size_t index;                       //  list item's index when key is NULL
};

//  Append len bytes of text at buf + *at, cut to size - 1.  Cannot fail.
static void
s_path_append (char *buf, size_t size, size_t *at, const char *text, size_t len)
{
    if (*at + len > size - 1)
        len = size - 1 - *at;
    memcpy (buf + *at, text, len);
    *at += len;
}

//  Render a path chain at buf + *at (not terminated).  Cannot fail; cuts.
static void
s_path_render (const path_t *path, char *buf, size_t size, size_t *at)
{
    if (!path)
        return;
    s_path_render (path->up, buf, size, at);
    if (path->key) {
        if (*at > 0)
            s_path_append (buf, size, at, ".", 1);
        s_path_append (buf, size, at, path->key, strlen (path->key));
    }
    else {
        char digits [24];
        size_t count = 0;
        size_t index = path->index;
        do {
            digits [sizeof (digits) - 1 - count++] = (char) ('0' + index % 10);
            index /= 10;
        } while (index);
        s_path_append (buf, size, at, "[", 1);
        s_path_append (buf, size, at, digits + sizeof (digits) - count, count);
        s_path_append (buf, size, at, "]", 1);
    }
}

//  Fill err (if not NULL) with status and "path: message" (just "message"
//  when path is NULL, the body itself).  Returns -1.
static int
s_fail (fm_error_t *err, uint16_t status, const path_t *path, const char *format, ...)
    CHECK_PRINTF (4);
static int
s_fail (fm_error_t *err, uint16_t status, const path_t *path, const char *format, ...)
{
    if (err) {
        err->status = status;
        size_t len = 0;
        s_path_render (path, err->text, sizeof (err->text), &len);
        if (len > 0)
            s_path_append (err->text, sizeof (err->text), &len, ": ", 2);
        va_list args;
        va_start (args, format);
        vsnprintf (err->text + len, sizeof (err->text) - len, format, args);
        va_end (args);
    }
    return -1;
}

//  A top-level key as a path (a compound literal: lives to the end of the
//  enclosing block)
#define KEY_PATH(k)     (&(path_t) { NULL, (k), 0 })

//  Join path and key into buf.  Cannot fail; a path too long is cut.
//  Only the selftest builds path strings now (the expected error texts);
//  the codec uses path_t chains.
static void
s_path (char *buf, size_t size, const char *path, const char *key)
{
    assert (size > 0);
    size_t at = 0;
    s_path_append (buf, size, &at, path, strlen (path));
    if (*path)
        s_path_append (buf, size, &at, ".", 1);
    s_path_append (buf, size, &at, key, strlen (key));
    buf [at] = 0;
}

//  Path of a list item, "path[index]".  Cannot fail; cuts.
static void
s_item_path (char *buf, size_t size, const char *path, size_t index)
{
    assert (size > 0);
    char digits [24];
    size_t count = 0;
    do {
        digits [sizeof (digits) - 1 - count++] = (char) ('0' + index % 10);
        index /= 10;
    } while (index);
    size_t at = 0;
    s_path_append (buf, size, &at, path, strlen (path));
    s_path_append (buf, size, &at, "[", 1);
    s_path_append (buf, size, &at, digits + sizeof (digits) - count, count);
    s_path_append (buf, size, &at, "]", 1);
    buf [at] = 0;
}

static bool
s_applies (const field_t *field, uint32_t tbit)
{
    return field->types == 0 || (field->types & tbit);
}

//  Read an integer of the field's width and signedness from the record
static int64_t
s_int_get (const void *at, size_t width, bool is_signed)
{
    switch (width) {
        case 1: { uint8_t v; memcpy (&v, at, 1); return v; }
        case 2: { uint16_t v; memcpy (&v, at, 2); return v; }
        case 4: if (is_signed) { int32_t v; memcpy (&v, at, 4); return v; }
                else { uint32_t v; memcpy (&v, at, 4); return v; }
        case 8: { int64_t v; memcpy (&v, at, 8); return v; }
    }
    assert (false);             //  the tables hold only these widths
    return 0;
}

static void
s_int_set (void *at, size_t width, int64_t value)
{
    switch (width) {
        case 1: { uint8_t v = (uint8_t) value; memcpy (at, &v, 1); return; }
        case 2: { uint16_t v = (uint16_t) value; memcpy (at, &v, 2); return; }
        case 4: { uint32_t v = (uint32_t) value; memcpy (at, &v, 4); return; }
        case 8: { memcpy (at, &value, 8); return; }
    }
    assert (false);
}

static size_t
s_names_count (const char *const *names)
{
    size_t count = 0;
    while (names [count])
        count++;
    return count;
}

static bool
s_bank_code_valid (const char *code)
{
    size_t len = strlen (code);
    if (len < 1 || len > 16)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!((code [i] >= 'A' && code [i] <= 'Z')
        ||    (code [i] >= '0' && code [i] <= '9') || code [i] == '_'))
            return false;
    return true;
}

//  Stride of a list's items: a record's size, or a string's capacity
static size_t
s_item_size (const field_t *field)
{
    return field->kind == FK_LIST? field->sub->size: field->size;
}

//  Pointer to a list's first element (inline array or heap pointer)
static void *
s_list_items (const field_t *field, const void *base)
{
    const byte *at = (const byte *) base + field->offset;
    if (field->flags & F_HEAP) {
        void *items;
        memcpy (&items, at, sizeof (items));
        return items;
    }
    return (void *) at;
}

//  ---------------------------------------------------------------------
//  Validation: one walk over the table, for records built in memory and
//  for records just decoded.

//  What a check must prove.  CHECK_ALL: a record built in memory, nothing
//  assumed.  CHECK_DECODED: a record s_read_record just filled from a
//  zeroed one: every string present on the wire was length-checked, UTF-8-
//  checked and NUL-terminated while copied (s_read_str), and absent ones
//  are "", so the string scans are not repeated; every other check (value
//  bounds, required, credit codes, request ids, bank codes, counts, rules)
//  still runs.
typedef enum { CHECK_ALL, CHECK_DECODED } check_mode_t;

static int s_check (const desc_t *desc, const void *base, uint32_t tbit,
                    const path_t *path, check_mode_t mode, fm_error_t *err);

static int
s_check_str (const field_t *field, const char *text, bool required,
             const path_t *path, check_mode_t mode, fm_error_t *err)
{
    if (mode == CHECK_DECODED) {
        if (text [0] == 0)
            return required? s_fail (err, FM_STATUS_BAD_REQUEST, path, "must not be empty"): 0;
    }
    else {
        const char *end = memchr (text, 0, field->size);
        if (!end)
            return s_fail (err, FM_STATUS_BAD_REQUEST, path, "not NUL-terminated");
        size_t len = end - text;
        if (len == 0)
            return required? s_fail (err, FM_STATUS_BAD_REQUEST, path, "must not be empty"): 0;
        if (!fm_utf8_valid (text, len))
            return s_fail (err, FM_STATUS_BAD_REQUEST, path,
                           "invalid UTF-8 or control character");
    }
    if ((field->flags & F_CREDIT) && !fm_credit_code_valid (text))
        return s_fail (err, FM_STATUS_BAD_REQUEST, path, "not a valid credit code");
    if ((field->flags & F_REQID) && !fm_request_id_valid (text))
        return s_fail (err, FM_STATUS_BAD_REQUEST, path, "not a request id (16 lowercase hex)");
    if ((field->flags & F_BANK) && !s_bank_code_valid (text))
        return s_fail (err, FM_STATUS_BAD_REQUEST, path, "not a bank code ([A-Z0-9_]{1,16})");
    return 0;
}

static int
s_check_field (const field_t *field, const void *base, uint32_t tbit,
               const path_t *path, check_mode_t mode, fm_error_t *err)
{
    const byte *at = (const byte *) base + field->offset;
    bool required = (field->required & tbit) != 0;
    switch (field->kind) {
        case FK_STR:
            return s_check_str (field, (const char *) at, required, path, mode, err);
        case FK_INT: {
            int64_t value = s_int_get (at, field->size, field->flags & F_SIGNED);
            if ((value == 0 && (field->flags & F_ZERO_OK))
            ||  (value >= field->lo && value <= field->hi))
                return 0;
            if (field->flags & F_ZERO_OK)
                return s_fail (err, FM_STATUS_BAD_REQUEST, path, "must be 0 or %" PRId64
                               "..%" PRId64, field->lo, field->hi);
            return s_fail (err, FM_STATUS_BAD_REQUEST, path, "must be %" PRId64 "..%" PRId64,
                           field->lo, field->hi);
        }
        case FK_BOOL: {
            byte value;
            memcpy (&value, at, 1);
            return value <= 1? 0: s_fail (err, FM_STATUS_BAD_REQUEST, path, "not a boolean");
        }
        case FK_ENUM: {
            int64_t value = s_int_get (at, field->size, false);
            if (value >= 0 && value < (int64_t) s_names_count (field->names))
                return 0;
            return s_fail (err, FM_STATUS_BAD_REQUEST, path, "unknown value %" PRId64, value);
        }
        case FK_BITS: {
            uint32_t bits = (uint32_t) s_int_get (at, 4, false);
            uint32_t known = (1u << s_names_count (field->names)) - 1;
            return (bits & ~known)? s_fail (err, FM_STATUS_BAD_REQUEST, path, "unknown bits"): 0;
        }
        case FK_GRADE: {
            char grade = *(const char *) at;
            if (grade == 0 || strchr (field->chars, grade))
                return 0;
            return s_fail (err, FM_STATUS_BAD_REQUEST, path, "must be one of %s", field->chars);
        }
        case FK_REC:
            return s_check (field->sub, at, ALL, path, mode, err);
        case FK_LIST:
        case FK_STRS: {
            size_t count = (size_t) s_int_get ((const byte *) base + field->count_offset,
                                               field->count_size, false);
            if (count > (size_t) field->hi)
                return s_fail (err, FM_STATUS_TOO_LARGE, path, "more than %" PRId64 " items",
                               field->hi);
            if (count < (size_t) field->lo)
                return s_fail (err, FM_STATUS_BAD_REQUEST, path, "fewer than %" PRId64
                               " items", field->lo);
            const byte *items = s_list_items (field, base);
            if (count > 0 && !items)
                return s_fail (err, FM_STATUS_BAD_REQUEST, path, "items missing");
            for (size_t i = 0; i < count; i++) {
                path_t item_path = { path, NULL, i };
                int rc = field->kind == FK_LIST
                    ? s_check (field->sub, items + i * s_item_size (field), ALL,
                               &item_path, mode, err)
                    : s_check_str (field, (const char *) items + i * s_item_size (field),
                                   true, &item_path, mode, err);
                if (rc)
                    return rc;
            }
            return 0;
        }
    }
    return s_fail (err, FM_STATUS_INTERNAL, path, "bad field kind");
}

//  Check every field of a record that tbit's type carries, then the
//  record's rule.  Returns 0 or -1 with err filled.
static int
s_check (const desc_t *desc, const void *base, uint32_t tbit,
         const path_t *path, check_mode_t mode, fm_error_t *err)
{
    for (size_t i = 0; i < desc->field_count; i++) {
        const field_t *field = &desc->fields [i];
        if (!s_applies (field, tbit))
            continue;
        path_t field_path = { path, field->key, 0 };
        if (s_check_field (field, base, tbit, &field_path, mode, err))
            return -1;
    }
    return desc->rule? desc->rule (base, tbit, path, err): 0;
}

//  Profile: a grade or month count may be present only if shared says so
static int
s_profile_rule (const void *base, uint32_t tbit, const path_t *path, fm_error_t *err)
{
    (void) tbit;
    const fm_profile_t *profile = (const fm_profile_t *) base;
    if (profile->tax_grade && !(profile->shared & FM_CONSENT_TAX))
        return s_fail (err, FM_STATUS_BAD_REQUEST, &(path_t) { path, "tax_grade", 0 },
                       "set but \"tax\" not shared");
    if (profile->party_grade && !(profile->shared & FM_CONSENT_PARTY))
        return s_fail (err, FM_STATUS_BAD_REQUEST, &(path_t) { path, "party_grade", 0 },
                       "set but \"party_building\" not shared");
    if (profile->social_insurance_months && !(profile->shared & FM_CONSENT_SOCIAL))
        return s_fail (err, FM_STATUS_BAD_REQUEST,
                       &(path_t) { path, "social_insurance_months", 0 },
                       "set but \"social_insurance\" not shared");
    return 0;
}

//  Offer: the risk shares are all zero (no scheme) or sum to 100
static int
s_offer_rule (const void *base, uint32_t tbit, const path_t *path, fm_error_t *err)
{
    (void) tbit;
    const fm_offer_t *offer = (const fm_offer_t *) base;
    int sum = offer->risk_gov_pct + offer->risk_bank_pct + offer->risk_guarantor_pct;
    if (sum != 0 && sum != 100)
        return s_fail (err, FM_STATUS_BAD_REQUEST, &(path_t) { path, "risk_gov_pct", 0 },
                       "risk shares must sum to 100 (or all be 0)");
    return 0;
}

//  Confirmation: a granted loan has a loan id, an amount and a term
static int
s_confirmation_rule (const void *base, uint32_t tbit, const path_t *path, fm_error_t *err)
{
    (void) tbit;
    const fm_confirmation_t *confirmation = (const fm_confirmation_t *) base;
    if (!confirmation->granted)
        return 0;
    const char *bad = !confirmation->loan_id [0]? "loan_id"
                    : confirmation->amount_fen < 1? "amount_fen"
                    : confirmation->term_months < 1? "term_months": NULL;
    if (!bad)
        return 0;
    return s_fail (err, FM_STATUS_BAD_REQUEST, &(path_t) { path, bad, 0 },
                   "required when granted");
}

//  Warning: an enterprise target is a valid credit code; raising needs a
//  level and a reason, lifting neither
static int
s_warning_rule (const void *base, uint32_t tbit, const path_t *path, fm_error_t *err)
{
    (void) tbit;
    const fm_warning_t *warning = (const fm_warning_t *) base;
    if (warning->target == FM_WARN_ENTERPRISE && !fm_credit_code_valid (warning->target_id))
        return s_fail (err, FM_STATUS_BAD_REQUEST, &(path_t) { path, "target_id", 0 },
                       "not a valid credit code");
    if (!warning->lift && warning->level == 0)
        return s_fail (err, FM_STATUS_BAD_REQUEST, &(path_t) { path, "level", 0 },
                       "required to raise a warning (1..%d)", FM_MAX_WARN_LEVEL);
    if (!warning->lift && warning->reason [0] == 0)
        return s_fail (err, FM_STATUS_BAD_REQUEST, &(path_t) { path, "reason", 0 },
                       "required to raise a warning");
    return 0;
}

//  Message: per-type counts of repeated fields
static int
s_msg_rule (const void *base, uint32_t tbit, const path_t *path, fm_error_t *err)
{
    (void) path;
    const fm_msg_t *msg = (const fm_msg_t *) base;
    if ((tbit & (T (RESULT) | T (ERROR) | T (STATUS))) && msg->status == 0)
        return s_fail (err, FM_STATUS_BAD_REQUEST, KEY_PATH ("status"),
                       "must be 100..599");
    if (tbit == T (BANK_ANSWER)) {
        if (msg->decline_count > 1)
            return s_fail (err, FM_STATUS_BAD_REQUEST, KEY_PATH ("declines"),
                           "a bank answer carries at most one decline");
        if (msg->offer_count + msg->decline_count == 0)
            return s_fail (err, FM_STATUS_BAD_REQUEST, KEY_PATH ("offers"),
                           "a bank answer carries offers or a decline");
    }
    if (tbit == T (GRANT_QUERY) && msg->offer_count != 1)
        return s_fail (err, FM_STATUS_BAD_REQUEST, KEY_PATH ("offers"),
                       "a grant query carries exactly one offer");
    return 0;
}

//  ---------------------------------------------------------------------
//  Encoding: one walk over the table, writing msgpack straight into a
//  buffer.  msgpack-c's packer called a write callback (and so a memcpy)
//  for every header and value, and a map's count needed a counting walk
//  before the fields: a fifth of the broker's instructions went there.
//  These writers produce the same bytes msgpack-c's packer does (the
//  smallest encoding of each integer, str8 for 32..255 bytes, fixmap and
//  fixarray below 16), which the selftest checks against msgpack-c.

//  Where encoded bytes go: a fixed buffer (the caller's or the stack),
//  optionally growing on the heap up to limit.  Remembers overflow; once
//  overflowed, nothing more is written.
typedef struct {
    byte *buf;                          //  the fixed buffer, or heap
    size_t size;                        //  capacity of buf
    size_t used;                        //  bytes written
    size_t limit;                       //  may grow up to this; 0 = fixed
    byte *heap;                         //  owned growth buffer, or NULL
    bool overflow;                      //  a write did not fit
} out_t;

//  Make room for len more bytes when they do not fit.  Returns the place
//  to write, or NULL (overflow set) past the limit or out of memory.
static byte *
s_out_grow (out_t *out, size_t len)
{
    if (out->overflow || len > out->limit || out->used > out->limit - len) {
        out->overflow = true;
        return NULL;
    }
    size_t size = out->size * 2;
    if (size < out->used + len)
        size = out->used + len;
    if (size > out->limit)
        size = out->limit;
    byte *grown = (byte *) realloc (out->heap, size);
    if (!grown) {
        out->overflow = true;
        return NULL;
    }
    if (!out->heap)
        memcpy (grown, out->buf, out->used);
    out->heap = out->buf = grown;
    out->size = size;
    byte *at = out->buf + out->used;
    out->used += len;
    return at;
}

//  Room for len bytes at the end of out: the place to write them, or NULL
//  (overflow set) if they do not fit
static inline byte *
s_out_take (out_t *out, size_t len)
{
    if (len <= out->size - out->used && !out->overflow) {
        byte *at = out->buf + out->used;
        out->used += len;
        return at;
    }
    return s_out_grow (out, len);
}

static inline void
s_store16 (byte *at, uint16_t value)
{
    at [0] = (byte) (value >> 8);
    at [1] = (byte) value;
}

static inline void
s_store32 (byte *at, uint32_t value)
{
    at [0] = (byte) (value >> 24);
    at [1] = (byte) (value >> 16);
    at [2] = (byte) (value >> 8);
    at [3] = (byte) value;
}

static inline void
s_store64 (byte *at, uint64_t value)
{
    s_store32 (at, (uint32_t) (value >> 32));
    s_store32 (at + 4, (uint32_t) value);
}

//  A string: header and bytes with one bounds check
static inline void
s_out_str (out_t *out, const char *text, size_t len)
{
    size_t head = len < 32? 1: len < 256? 2: len < 65536? 3: 5;
    byte *at = s_out_take (out, head + len);
    if (!at)
        return;
    if (head == 1)
        at [0] = (byte) (0xa0 | len);
    else
    if (head == 2) {
        at [0] = 0xd9;
        at [1] = (byte) len;
    }
    else
    if (head == 3) {
        at [0] = 0xda;
        s_store16 (at + 1, (uint16_t) len);
    }
    else {
        at [0] = 0xdb;
        s_store32 (at + 1, (uint32_t) len);
    }
    memcpy (at + head, text, len);
}

//  An integer in its smallest encoding, as msgpack_pack_int64 chooses it
static void
s_out_int (out_t *out, int64_t value)
{
    byte *at;
    if (value >= -32 && value < 128) {
        if ((at = s_out_take (out, 1)))
            at [0] = (byte) value;
    }
    else
    if (value > 0) {
        if (value < 256) {
            if ((at = s_out_take (out, 2))) {
                at [0] = 0xcc;
                at [1] = (byte) value;
            }
        }
        else
        if (value < 65536) {
            if ((at = s_out_take (out, 3))) {
                at [0] = 0xcd;
                s_store16 (at + 1, (uint16_t) value);
            }
        }
        else
        if (value < INT64_C (4294967296)) {
            if ((at = s_out_take (out, 5))) {
                at [0] = 0xce;
                s_store32 (at + 1, (uint32_t) value);
            }
        }
        else
        if ((at = s_out_take (out, 9))) {
            at [0] = 0xcf;
            s_store64 (at + 1, (uint64_t) value);
        }
    }
    else
    if (value >= -128) {
        if ((at = s_out_take (out, 2))) {
            at [0] = 0xd0;
            at [1] = (byte) value;
        }
    }
    else
    if (value >= -32768) {
        if ((at = s_out_take (out, 3))) {
            at [0] = 0xd1;
            s_store16 (at + 1, (uint16_t) value);
        }
    }
    else
    if (value >= INT32_MIN) {
        if ((at = s_out_take (out, 5))) {
            at [0] = 0xd2;
            s_store32 (at + 1, (uint32_t) value);
        }
    }
    else
    if ((at = s_out_take (out, 9))) {
        at [0] = 0xd3;
        s_store64 (at + 1, (uint64_t) value);
    }
}

//  An array (fix 0x90, 16 0xdc, 32 0xdd) or map (0x80, 0xde, 0xdf) header
static void
s_out_head (out_t *out, size_t count, byte fix, byte wide)
{
    byte *at;
    if (count < 16) {
        if ((at = s_out_take (out, 1)))
            at [0] = (byte) (fix | count);
    }
    else
    if (count < 65536) {
        if ((at = s_out_take (out, 3))) {
            at [0] = wide;
            s_store16 (at + 1, (uint16_t) count);
        }
    }
    else
    if ((at = s_out_take (out, 5))) {
        at [0] = wide + 1;
        s_store32 (at + 1, (uint32_t) count);
    }
}

//  Write a map header for count entries at mark, where a placeholder of
//  head bytes (1 or 3) was left before the entries were written: when the
//  header's size differs, the entries move (same bytes as counting first)
static void
s_out_map_at (out_t *out, size_t mark, size_t head, size_t count)
{
    if (out->overflow)
        return;
    if (head == 3 && count >= 16 && count < 65536) {
        out->buf [mark] = 0xde;
        s_store16 (out->buf + mark + 1, (uint16_t) count);
        return;
    }
    if (head == 3) {
        //  Fewer than 16 after all (not for the tables as s_test_table
        //  checks them): back to a one-byte header
        memmove (out->buf + mark + 1, out->buf + mark + 3, out->used - mark - 3);
        out->used -= 2;
    }
    if (count < 16) {
        out->buf [mark] = (byte) (0x80 | count);
        return;
    }
    size_t extra = count < 65536? 2: 4;
    if (!s_out_take (out, extra))
        return;
    memmove (out->buf + mark + 1 + extra, out->buf + mark + 1,
             out->used - extra - mark - 1);
    if (extra == 2) {
        out->buf [mark] = 0xde;
        s_store16 (out->buf + mark + 1, (uint16_t) count);
    }
    else {
        out->buf [mark] = 0xdf;
        s_store32 (out->buf + mark + 1, (uint32_t) count);
    }
}

//  A NUL-terminated name (enum names, keys)
static inline void
s_out_name (out_t *out, const char *name)
{
    s_out_str (out, name, strlen (name));
}

static size_t s_out_fields (out_t *out, const desc_t *desc, const void *base,
                            uint32_t tbit);

//  True if a sparse record should leave this field out
static bool
s_is_zero (const field_t *field, const void *base)
{
    const byte *at = (const byte *) base + field->offset;
    switch (field->kind) {
        case FK_STR:
        case FK_GRADE:
            return *at == 0;
        case FK_INT:
            return s_int_get (at, field->size, field->flags & F_SIGNED) == 0;
        case FK_BOOL:
            return *at == 0;
        case FK_ENUM:
        case FK_BITS:
            return s_int_get (at, field->size, false) == 0;
        case FK_REC:
            return false;
        case FK_LIST:
        case FK_STRS:
            return s_int_get ((const byte *) base + field->count_offset,
                              field->count_size, false) == 0;
    }
    return false;
}

static bool
s_encoded (const desc_t *desc, const field_t *field, const void *base, uint32_t tbit)
{
    if (!s_applies (field, tbit))
        return false;
    if (desc->sparse && !(field->flags & F_ALWAYS) && s_is_zero (field, base))
        return false;
    if ((field->flags & F_OMIT_ZERO) && s_is_zero (field, base))
        return false;
    return true;
}

//  A record as a map: placeholder header, fields, then the real header.
//  The placeholder is a map16 header for the records that always write
//  16 fields or more (desc->wide: offers), so that their entries never
//  move and the buffer never needs more room than the final bytes.
static void
s_out_record (out_t *out, const desc_t *desc, const void *base, uint32_t tbit)
{
    size_t mark = out->used;
    size_t head = desc->wide? 3: 1;
    if (!s_out_take (out, head))
        return;
    s_out_map_at (out, mark, head, s_out_fields (out, desc, base, tbit));
}

//  One field's value.  Strings are written with strnlen over their
//  capacity, so that an unterminated array in a record encoded without
//  validation (the trusted encoders) is cut at its end, not read past.
static void
s_out_field (out_t *out, const field_t *field, const void *base)
{
    const byte *at = (const byte *) base + field->offset;
    switch (field->kind) {
        case FK_STR:
            s_out_str (out, (const char *) at, strnlen ((const char *) at, field->size));
            break;
        case FK_INT:
            s_out_int (out, s_int_get (at, field->size, field->flags & F_SIGNED));
            break;
        case FK_BOOL: {
            byte *value = s_out_take (out, 1);
            if (value)
                *value = *at? 0xc3: 0xc2;
            break;
        }
        case FK_ENUM:
            s_out_name (out, field->names [s_int_get (at, field->size, false)]);
            break;
        case FK_BITS: {
            uint32_t bits = (uint32_t) s_int_get (at, 4, false);
            size_t count = 0;
            for (size_t i = 0; field->names [i]; i++)
                count += (bits >> i) & 1;
            s_out_head (out, count, 0x90, 0xdc);
            for (size_t i = 0; field->names [i]; i++)
                if ((bits >> i) & 1)
                    s_out_name (out, field->names [i]);
            break;
        }
        case FK_GRADE:
            s_out_str (out, (const char *) at, *at? 1: 0);
            break;
        case FK_REC:
            s_out_record (out, field->sub, at, ALL);
            break;
        case FK_LIST:
        case FK_STRS: {
            size_t count = (size_t) s_int_get ((const byte *) base + field->count_offset,
                                               field->count_size, false);
            const byte *items = s_list_items (field, base);
            size_t stride = s_item_size (field);
            s_out_head (out, count, 0x90, 0xdc);
            for (size_t i = 0; i < count; i++)
                if (field->kind == FK_LIST)
                    s_out_record (out, field->sub, items + i * stride, ALL);
                else
                    s_out_str (out, (const char *) items + i * stride,
                               strnlen ((const char *) items + i * stride, field->size));
            break;
        }
    }
}

//  Write the fields of a (validated) record as map entries, without
//  "v"/"t".  Returns the number of entries written.
static size_t
s_out_fields (out_t *out, const desc_t *desc, const void *base, uint32_t tbit)
{
    size_t count = 0;
    for (size_t i = 0; i < desc->field_count; i++) {
        const field_t *field = &desc->fields [i];
        if (s_encoded (desc, field, base, tbit)) {
            s_out_str (out, field->key, field->key_len);
            s_out_field (out, field, base);
            count++;
        }
    }
    return count;
}

//  Write a top-level body: {"v":1, [type_key: type_name,] fields...}
static void
s_out_body (out_t *out, const desc_t *desc, const void *base, uint32_t tbit,
            const char *type_key, const char *type_name)
{
    size_t mark = out->used;
    if (!s_out_take (out, 1))
        return;
    s_out_str (out, "v", 1);
    s_out_int (out, FM_PROTO_VERSION);
    if (type_key) {
        s_out_name (out, type_key);
        s_out_name (out, type_name);
    }
    size_t count = s_out_fields (out, desc, base, tbit) + (type_key? 2: 1);
    s_out_map_at (out, mark, 1, count);
}

//  Encode a body into buf of size bytes, no growth.  Returns the bytes
//  written, or 0 if they do not fit.
static size_t
s_encode_into (const desc_t *desc, const void *base, uint32_t tbit,
               const char *type_key, const char *type_name, byte *buf, size_t size)
{
    out_t out = { buf, size, 0, 0, NULL, false };
    s_out_body (&out, desc, base, tbit, type_key, type_name);
    return out.overflow? 0: out.used;
}

//  What the encoder itself needs to stay inside memory, whatever the
//  record holds: enum values index their names, list counts fit their
//  arrays, heap lists exist.  (Strings are packed with strnlen.)  The
//  trusted encoders check only this.  Returns true if encodable.
static bool
s_shape_ok (const desc_t *desc, const void *base, uint32_t tbit)
{
    for (size_t i = 0; i < desc->field_count; i++) {
        const field_t *field = &desc->fields [i];
        if (!s_applies (field, tbit))
            continue;
        const byte *at = (const byte *) base + field->offset;
        if (field->kind == FK_ENUM) {
            int64_t value = s_int_get (at, field->size, false);
            if (value < 0 || value >= (int64_t) s_names_count (field->names))
                return false;
        }
        else
        if (field->kind == FK_REC) {
            if (!s_shape_ok (field->sub, at, ALL))
                return false;
        }
        else
        if (field->kind == FK_LIST || field->kind == FK_STRS) {
            size_t count = (size_t) s_int_get ((const byte *) base + field->count_offset,
                                               field->count_size, false);
            const byte *items = s_list_items (field, base);
            if (count > (size_t) field->hi || (count && !items))
                return false;
            if (field->kind == FK_LIST)
                for (size_t j = 0; j < count; j++)
                    if (!s_shape_ok (field->sub, items + j * s_item_size (field), ALL))
                        return false;
        }
    }
    return true;
}

//  Bodies up to this size are written on the stack and copied once into
//  their frame; larger ones (big results) continue on the heap
#define STACK_BODY      4096

//  Encode a validated body into a new frame, or NULL with err (413 if it
//  exceeds FM_MAX_BODY, 500 if out of memory)
static zframe_t *
s_encode_frame (const desc_t *desc, const void *base, uint32_t tbit,
                const char *type_key, const char *type_name, fm_error_t *err)
{
    byte stack [STACK_BODY];
    out_t out = { stack, sizeof (stack), 0, FM_MAX_BODY, NULL, false };
    s_out_body (&out, desc, base, tbit, type_key, type_name);
    zframe_t *frame = NULL;
    if (out.overflow)
        s_fail (err, FM_STATUS_TOO_LARGE, NULL, "body exceeds %d bytes", FM_MAX_BODY);
    else {
        frame = zframe_new (out.buf, out.used);
        if (!frame)
            s_fail (err, FM_STATUS_INTERNAL, NULL, "out of memory");
    }
    free (out.heap);
    return frame;
}

//  ---------------------------------------------------------------------
//  Decoding

//  Read a big-endian unsigned integer of n bytes at p
static uint64_t
s_be (const byte *p, size_t n)
{
    uint64_t value = 0;
    for (size_t i = 0; i < n; i++)
        value = (value << 8) | p [i];
    return value;
}

//  msgpack-c's unpacker refuses to open a container while this many
//  non-empty ones are open (MSGPACK_EMBED_STACK_SIZE); the scan refuses
//  the same bodies with the same error ("malformed msgpack")
#define SCAN_DEPTH      32

//  What the scan learnt about the top-level map: where the values of "v"
//  and of the type key are, and how often those keys occur
typedef struct {
    bool is_map;                        //  the body is a map
    size_t v_at, type_at;               //  value offsets, 0 = absent
    size_t v_count, type_count;         //  occurrences of each key
} scan_t;

//  Each header byte's payload: 0..31 bytes of fixed size that follow it
//  (fixstr bytes, integer and float widths, fixext type + data), or HL a
//  length field follows (str, bin, ext 8..32), HX never used (0xc1), and
//  from HM on the containers: HM fixmap, HA fixarray, HC a count field
//  follows (array, map 16 and 32)
#define HL      32
#define HX      33
#define HM      34
#define HA      35
#define HC      36
static const byte s_head [256] = {
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,   //  00
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,   //  10
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,   //  20
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,   //  30
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,   //  40
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,   //  50
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,   //  60
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,   //  70
    HM, HM, HM, HM, HM, HM, HM, HM, HM, HM, HM, HM, HM, HM, HM, HM,   //  80
    HA, HA, HA, HA, HA, HA, HA, HA, HA, HA, HA, HA, HA, HA, HA, HA,   //  90
     0,  1,  2,  3,  4,  5,  6,  7,  8,  9, 10, 11, 12, 13, 14, 15,   //  A0
    16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27, 28, 29, 30, 31,   //  B0
     0, HX,  0,  0, HL, HL, HL, HL, HL, HL,  4,  8,  1,  2,  4,  8,   //  C0
     1,  2,  4,  8,  2,  3,  5,  9, 17, HL, HL, HL, HC, HC, HC, HC,   //  D0
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,   //  E0
     0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,  0,   //  F0
};

//  Prove that data holds exactly one complete msgpack object, that every
//  array/map count is backed by bytes, and that it nests no deeper than
//  msgpack-c would unpack, so that the decoder can walk it without any
//  further bounds check.  Each pending element needs at least one byte,
//  so "pending <= bytes left" bounds every count.  On the way, notes
//  where the top-level map holds "v" and type_key (if not NULL) in *scan.
//  Returns 0, or -1 with err filled (400).
static int
s_scan (const byte *data, size_t size, const char *type_key, scan_t *scan,
        fm_error_t *err)
{
    size_t pos = 0;
    uint64_t pending = 1;               //  objects still to read
    //  Elements left in each open non-empty container, as msgpack-c
    //  counts them; top = how many are open
    uint64_t stack [SCAN_DEPTH];
    size_t top = 0;
    bool too_deep = false;
    bool root_map = false;              //  the root is a non-empty map
    int capture = 0;                    //  next root value: 1 "v", 2 type
    size_t type_len = type_key? strlen (type_key): 0;
    memset (scan, 0, sizeof (*scan));
    while (pending > 0) {
        if (pos >= size)
            return s_fail (err, FM_STATUS_BAD_REQUEST, NULL, "truncated msgpack");
        size_t start = pos;
        byte b = data [pos++];
        pending--;
        byte head = s_head [b];
        uint64_t skip = 0;              //  payload bytes after the header
        uint64_t items = 0;             //  elements added (maps: 2 per entry)
        if (head < HL)
            skip = head;
        else
        if (head == HM)
            items = 2 * (uint64_t) (b & 0x0f);
        else
        if (head == HA)
            items = b & 0x0f;
        else
        if (head == HX)
            return s_fail (err, FM_STATUS_BAD_REQUEST, NULL, "bad msgpack byte 0x%02x", b);
        else {
            size_t len_bytes;           //  size of the length field
            //  HL and HC
            switch (b) {
                case 0xc4: case 0xd9: len_bytes = 1; break;    //  bin8, str8
                case 0xc5: case 0xda: len_bytes = 2; break;
                case 0xc6: case 0xdb: len_bytes = 4; break;
                case 0xc7: len_bytes = 1; skip = 1; break;     //  ext8 + type
                case 0xc8: len_bytes = 2; skip = 1; break;
                case 0xc9: len_bytes = 4; skip = 1; break;
                case 0xdc: case 0xde: len_bytes = 2; break;    //  array16, map16
                default:   len_bytes = 4; break;               //  array32, map32
            }
            if (size - pos < len_bytes)
                return s_fail (err, FM_STATUS_BAD_REQUEST, NULL, "truncated msgpack");
            uint64_t n = s_be (data + pos, len_bytes);
            pos += len_bytes;
            if (b == 0xdc || b == 0xdd)
                items = n;
            else
            if (b == 0xde || b == 0xdf)
                items = 2 * n;
            else
                skip += n;
        }
        if (skip > size - pos)
            return s_fail (err, FM_STATUS_BAD_REQUEST, NULL, "truncated msgpack");
        pos += skip;
        pending += items;
        if (pending > size - pos)
            return s_fail (err, FM_STATUS_BAD_REQUEST, NULL, "truncated msgpack");
        if (top == 1 && root_map) {
            if ((stack [0] & 1) == 0) {
                //  A key of the top-level map: a string is its last skip bytes
                bool is_str = (b >= 0xa0 && b <= 0xbf) || (b >= 0xd9 && b <= 0xdb);
                capture = 0;
                if (is_str && skip == 1 && data [pos - 1] == 'v') {
                    scan->v_count++;
                    capture = 1;
                }
                else
                if (is_str && skip == type_len && type_len
                &&  memcmp (data + pos - skip, type_key, type_len) == 0) {
                    scan->type_count++;
                    capture = 2;
                }
            }
            else
            if (capture) {
                if (capture == 1)
                    scan->v_at = start;
                else
                    scan->type_at = start;
                capture = 0;
            }
        }
        //  Nesting as msgpack-c tracks it: a container opened while
        //  SCAN_DEPTH are open fails there; a non-empty one stays open
        //  until its last element is done
        if (head >= HM) {
            if (too_deep || top >= SCAN_DEPTH) {
                too_deep = true;
                root_map = false;       //  notes end: the body fails anyway
                continue;
            }
            if (items > 0) {
                if (top == 0)
                    root_map = scan->is_map = head == HM || b >= 0xde;
                stack [top++] = items;
                continue;
            }
        }
        while (top > 0 && --stack [top - 1] == 0)
            top--;
    }
    if (pos != size)
        return s_fail (err, FM_STATUS_BAD_REQUEST, NULL, "trailing bytes after the body");
    if (too_deep)
        return s_fail (err, FM_STATUS_BAD_REQUEST, NULL, "malformed msgpack");
    if (size > 0 && (data [0] == 0x80 || data [0] == 0xde || data [0] == 0xdf))
        scan->is_map = true;            //  an empty map: no entries to note
    return 0;
}

//  ---------------------------------------------------------------------
//  A walk over scanned bytes: one object's header at a time, in place.
//  msgpack-c's unpacker built a tree of objects in a zone (malloc, an
//  allocation per container, a copy of every header) for each body, a
//  fifth of a decode, only for the decoder to walk it once.  After s_scan
//  every length and count is known to be backed by bytes, so the walk
//  checks no bounds.

typedef enum {
    V_OTHER,                            //  nil, float, bin, ext
    V_BOOL,
    V_POS,                              //  integer >= 0 (u64)
    V_NEG,                              //  integer < 0 (i64)
    V_STR,
    V_ARRAY,
    V_MAP
} vtype_t;

//  One object as msgpack-c would have typed it (signed encodings of
//  values >= 0 are positive integers, as there)
typedef struct {
    vtype_t type;
    uint32_t size;                      //  string bytes, array items, map entries
    const char *str;                    //  V_STR: the bytes (not terminated)
    union {
        uint64_t u64;
        int64_t i64;
        bool boolean;
    } via;
} view_t;

//  Read the object header at *p into *v and move *p past it: past the
//  whole object for scalars and strings, to the first element for arrays
//  and maps.  Cannot fail on scanned bytes.
static inline void
s_view (const byte **p, view_t *v)
{
    const byte *at = *p;
    byte b = *at++;
    if (b <= 0x7f) {
        v->type = V_POS;
        v->via.u64 = b;
    }
    else
    if (b >= 0xe0) {
        v->type = V_NEG;
        v->via.i64 = (int8_t) b;
    }
    else
    if (b >= 0xa0 && b <= 0xbf) {
        v->type = V_STR;
        v->size = b & 0x1f;
        v->str = (const char *) at;
        at += v->size;
    }
    else
    if (b <= 0x8f) {
        v->type = V_MAP;
        v->size = b & 0x0f;
    }
    else
    if (b <= 0x9f) {
        v->type = V_ARRAY;
        v->size = b & 0x0f;
    }
    else {
        size_t n;
        v->type = V_OTHER;
        switch (b) {
            case 0xc2: case 0xc3:
                v->type = V_BOOL;
                v->via.boolean = b == 0xc3;
                break;
            case 0xcc: case 0xcd: case 0xce: case 0xcf:
                n = (size_t) 1 << (b - 0xcc);
                v->type = V_POS;
                v->via.u64 = s_be (at, n);
                at += n;
                break;
            case 0xd0: case 0xd1: case 0xd2: case 0xd3: {
                n = (size_t) 1 << (b - 0xd0);
                uint64_t raw = s_be (at, n);
                at += n;
                //  Sign-extend from n bytes
                int64_t value = n == 8? (int64_t) raw
                              : (int64_t) (raw ^ (UINT64_C (1) << (8 * n - 1)))
                              - (int64_t) (UINT64_C (1) << (8 * n - 1));
                v->type = value < 0? V_NEG: V_POS;
                v->via.i64 = value;
                break;
            }
            case 0xd9: case 0xda: case 0xdb:
                n = (size_t) 1 << (b - 0xd9);
                v->type = V_STR;
                v->size = (uint32_t) s_be (at, n);
                v->str = (const char *) at + n;
                at += n + v->size;
                break;
            case 0xdc: case 0xdd:
                n = (size_t) 2 << (b - 0xdc);
                v->type = V_ARRAY;
                v->size = (uint32_t) s_be (at, n);
                at += n;
                break;
            case 0xde: case 0xdf:
                n = (size_t) 2 << (b - 0xde);
                v->type = V_MAP;
                v->size = (uint32_t) s_be (at, n);
                at += n;
                break;
            case 0xc4: case 0xc5: case 0xc6:            //  bin
                n = (size_t) 1 << (b - 0xc4);
                at += n + s_be (at, n);
                break;
            case 0xc7: case 0xc8: case 0xc9:            //  ext: length, type
                n = (size_t) 1 << (b - 0xc7);
                at += n + 1 + s_be (at, n);
                break;
            case 0xca: at += 4; break;
            case 0xcb: at += 8; break;
            case 0xd4: at += 2; break;                  //  fixext: type + data
            case 0xd5: at += 3; break;
            case 0xd6: at += 5; break;
            case 0xd7: at += 9; break;
            case 0xd8: at += 17; break;
            default: break;                             //  nil
        }
    }
    *p = at;
}

//  Move *p past count complete objects.  Cannot fail on scanned bytes.
static void
s_skip (const byte **p, uint64_t count)
{
    while (count > 0) {
        view_t v;
        s_view (p, &v);
        count--;
        if (v.type == V_ARRAY)
            count += v.size;
        else
        if (v.type == V_MAP)
            count += 2 * (uint64_t) v.size;
    }
}

//  Move *p past the elements of a container whose header s_view read
static void
s_skip_rest (const byte **p, const view_t *v)
{
    if (v->type == V_ARRAY)
        s_skip (p, v->size);
    else
    if (v->type == V_MAP)
        s_skip (p, 2 * (uint64_t) v->size);
}

//  True if v is a string equal to name.  Runs for every key of every
//  body against candidate rows: no strlen, and a mismatch usually ends at
//  the first byte.
static bool
s_key_is (const view_t *v, const char *name)
{
    if (v->type != V_STR)
        return false;
    const char *text = v->str;
    uint32_t size = v->size;
    for (uint32_t i = 0; i < size; i++)
        if (name [i] != text [i] || name [i] == 0)
            return false;
    return name [size] == 0;
}

//  An integer as int64: 0, -1 if not an integer, -2 if above INT64_MAX
static int
s_obj_int (const view_t *v, int64_t *value)
{
    if (v->type == V_POS) {
        if (v->via.u64 > (uint64_t) INT64_MAX)
            return -2;
        *value = (int64_t) v->via.u64;
        return 0;
    }
    if (v->type == V_NEG) {
        *value = v->via.i64;
        return 0;
    }
    return -1;
}

//  Copy a string into a buffer of capacity size.  Returns 0, or -1 with
//  err filled (wrong type, too long, invalid UTF-8 or control char).
static int
s_read_str (const view_t *v, char *buf, size_t size, const path_t *path, fm_error_t *err)
{
    if (v->type != V_STR)
        return s_fail (err, FM_STATUS_BAD_REQUEST, path, "must be a string");
    if (v->size > size - 1)
        return s_fail (err, FM_STATUS_BAD_REQUEST, path, "longer than %zu bytes", size - 1);
    //  Check the wire bytes: an embedded NUL would otherwise hide the rest
    if (v->size && !fm_utf8_valid (v->str, v->size))
        return s_fail (err, FM_STATUS_BAD_REQUEST, path, "invalid UTF-8 or control character");
    memcpy (buf, v->str, v->size);
    buf [v->size] = 0;
    return 0;
}

//  Index of a string in names, or -1
static int
s_name_index (const view_t *v, const char *const *names)
{
    for (int i = 0; names [i]; i++)
        if (s_key_is (v, names [i]))
            return i;
    return -1;
}

//  A reused message's heap lists (fm_msg_reader_t): capacity of each
//  heap array of the reader's message, by the field's offset.  NULL in
//  every other decode (the record there starts zeroed, arrays calloc'ed).
#define REUSE_HEAPS     4
typedef struct {
    size_t offset [REUSE_HEAPS];        //  field offset in fm_msg_t
    size_t capacity [REUSE_HEAPS];      //  items allocated there
} reuse_t;

static int s_read_record (const desc_t *desc, const view_t *map, const byte **p,
                          void *base, uint32_t tbit, const path_t *path,
                          reuse_t *reuse, fm_error_t *err);

//  Reset the fields of a record that tbit's types carry to their "absent"
//  state, as a zeroed record has them: strings "" (first byte only: no
//  reader looks past the NUL), numbers 0, lists count 0 (a heap array is
//  kept for reuse).  The cheap alternative to zeroing a whole record
//  before a decode into it (an fm_msg_t is 3 KB, a decline 8.6 KB, and
//  a decode writes a few hundred bytes of them).  Cannot fail.
static void
s_reset_record (const desc_t *desc, void *base, uint32_t tbit)
{
    for (size_t i = 0; i < desc->field_count; i++) {
        const field_t *field = &desc->fields [i];
        if (!s_applies (field, tbit))
            continue;
        byte *at = (byte *) base + field->offset;
        switch (field->kind) {
            case FK_STR:
            case FK_GRADE:
                *at = 0;
                break;
            case FK_INT:
            case FK_ENUM:
                s_int_set (at, field->size, 0);
                break;
            case FK_BITS:
                s_int_set (at, 4, 0);
                break;
            case FK_BOOL:
                *(bool *) at = false;
                break;
            case FK_REC:
                s_reset_record (field->sub, at, ALL);
                break;
            case FK_LIST:
            case FK_STRS:
                s_int_set ((byte *) base + field->count_offset, field->count_size, 0);
                break;
        }
    }
}

//  A reused heap list's array with room for count items: the array kept
//  from earlier decodes, grown (and the growth zeroed once, so that every
//  byte stays defined) when too small.  Returns the array, or NULL if
//  out of memory (the old array stays, with its capacity).
static byte *
s_reuse_items (reuse_t *reuse, const field_t *field, void *base, size_t count)
{
    byte *at = (byte *) base + field->offset;
    byte *items;
    memcpy (&items, at, sizeof (items));
    size_t slot = 0;
    while (slot < REUSE_HEAPS && reuse->offset [slot] != field->offset
       &&  reuse->offset [slot] != 0)
        slot++;
    assert (slot < REUSE_HEAPS);        //  fm_msg_t has 4 heap lists
    reuse->offset [slot] = field->offset;
    if (count <= reuse->capacity [slot])
        return items;
    size_t capacity = reuse->capacity [slot] * 2;
    if (capacity < count)
        capacity = count < 4? 4: count;
    size_t item_size = s_item_size (field);
    byte *grown = (byte *) realloc (items, capacity * item_size);
    if (!grown)
        return NULL;
    memset (grown + reuse->capacity [slot] * item_size, 0,
            (capacity - reuse->capacity [slot]) * item_size);
    memcpy (at, &grown, sizeof (grown));
    reuse->capacity [slot] = capacity;
    return grown;
}

//  Decode one field's value, whose header s_view read into *v, with *p
//  after that header.  On success *p is past the whole value; on failure
//  it is anywhere (the decode ends).  Only wire-level checks here (types,
//  sizes, counts, names); value bounds are s_check's job afterwards.
static int
s_read_field (const field_t *field, const view_t *v, const byte **p, void *base,
              const path_t *path, reuse_t *reuse, fm_error_t *err)
{
    byte *at = (byte *) base + field->offset;
    switch (field->kind) {
        case FK_STR:
            return s_read_str (v, (char *) at, field->size, path, err);
        case FK_INT: {
            int64_t value;
            int rc = s_obj_int (v, &value);
            if (rc == -1)
                return s_fail (err, FM_STATUS_BAD_REQUEST, path, "must be an integer");
            //  Range before storing, so that a narrow field never wraps
            if (rc == -2 || !((value == 0 && (field->flags & F_ZERO_OK))
                          ||  (value >= field->lo && value <= field->hi))) {
                if (field->flags & F_ZERO_OK)
                    return s_fail (err, FM_STATUS_BAD_REQUEST, path, "must be 0 or %"
                                   PRId64 "..%" PRId64, field->lo, field->hi);
                return s_fail (err, FM_STATUS_BAD_REQUEST, path, "must be %" PRId64
                               "..%" PRId64, field->lo, field->hi);
            }
            s_int_set (at, field->size, value);
            return 0;
        }
        case FK_BOOL:
            if (v->type != V_BOOL)
                return s_fail (err, FM_STATUS_BAD_REQUEST, path, "must be a boolean");
            *(bool *) at = v->via.boolean;
            return 0;
        case FK_ENUM: {
            if (v->type != V_STR)
                return s_fail (err, FM_STATUS_BAD_REQUEST, path, "must be a string");
            int index = s_name_index (v, field->names);
            if (index < 0)
                return s_fail (err, FM_STATUS_BAD_REQUEST, path, "unknown value");
            s_int_set (at, field->size, index);
            return 0;
        }
        case FK_BITS: {
            if (v->type != V_ARRAY)
                return s_fail (err, FM_STATUS_BAD_REQUEST, path, "must be an array");
            if (v->size > 16)
                return s_fail (err, FM_STATUS_BAD_REQUEST, path, "too many items");
            uint32_t bits = 0;
            for (uint32_t i = 0; i < v->size; i++) {
                view_t item;
                s_view (p, &item);
                if (item.type != V_STR)
                    return s_fail (err, FM_STATUS_BAD_REQUEST, path, "items must be strings");
                int index = s_name_index (&item, field->names);
                if (index < 0)
                    return s_fail (err, FM_STATUS_BAD_REQUEST, path, "unknown value");
                bits |= 1u << index;
            }
            s_int_set (at, 4, bits);
            return 0;
        }
        case FK_GRADE: {
            char grade [2];
            if (s_read_str (v, grade, sizeof (grade), path, err))
                return -1;
            if (grade [0] && !strchr (field->chars, grade [0]))
                return s_fail (err, FM_STATUS_BAD_REQUEST, path, "must be one of %s",
                               field->chars);
            *(char *) at = grade [0];
            return 0;
        }
        case FK_REC:
            if (v->type != V_MAP)
                return s_fail (err, FM_STATUS_BAD_REQUEST, path, "must be a map");
            return s_read_record (field->sub, v, p, at, ALL, path, reuse, err);
        case FK_LIST:
        case FK_STRS: {
            if (v->type != V_ARRAY)
                return s_fail (err, FM_STATUS_BAD_REQUEST, path, "must be an array");
            size_t count = v->size;
            if (count > (size_t) field->hi)
                return s_fail (err, FM_STATUS_TOO_LARGE, path, "more than %" PRId64
                               " items", field->hi);
            byte *items = at;
            if ((field->flags & F_HEAP) && reuse) {
                items = s_reuse_items (reuse, field, base, count);
                if (count && !items)
                    return s_fail (err, FM_STATUS_INTERNAL, path, "out of memory");
            }
            else
            if (field->flags & F_HEAP) {
                items = count? (byte *) calloc (count, s_item_size (field)): NULL;
                if (count && !items)
                    return s_fail (err, FM_STATUS_INTERNAL, path, "out of memory");
                memcpy (at, &items, sizeof (items));
            }
            //  Count first: the owner frees the heap array whatever happens
            s_int_set ((byte *) base + field->count_offset, field->count_size, count);
            for (size_t i = 0; i < count; i++) {
                view_t item;
                s_view (p, &item);
                path_t item_path = { path, NULL, i };
                if (field->kind == FK_STRS) {
                    if (s_read_str (&item, (char *) items + i * s_item_size (field), field->size,
                                    &item_path, err))
                        return -1;
                }
                else {
                    if (item.type != V_MAP)
                        return s_fail (err, FM_STATUS_BAD_REQUEST, &item_path, "must be a map");
                    byte *record = items + i * s_item_size (field);
                    //  A reused record holds an earlier decode's item
                    if (reuse)
                        s_reset_record (field->sub, record, ALL);
                    if (s_read_record (field->sub, &item, p, record, ALL, &item_path, reuse,
                                       err))
                        return -1;
                }
            }
            return 0;
        }
    }
    return s_fail (err, FM_STATUS_INTERNAL, path, "bad field kind");
}

//  Decode the rows of desc that tbit's type carries from a map whose
//  header s_view read into *map, *p at its first key; on success *p is
//  past the map.  Unknown keys are ignored; a known key twice is refused
//  (two implementations could keep different copies); a required key
//  must be present.  Encoders (ours) write the rows in table order, so
//  the search for a key's row starts after the row matched last: one
//  comparison per key for our own bodies, the whole table at worst for
//  anyone else's.
static int
s_read_record (const desc_t *desc, const view_t *map, const byte **p, void *base,
               uint32_t tbit, const path_t *path, reuse_t *reuse, fm_error_t *err)
{
    assert (desc->field_count <= 64);   //  seen[] is a 64-bit mask
    uint64_t seen = 0;
    size_t next = 0;                    //  row to try first
    for (uint32_t k = 0; k < map->size; k++) {
        view_t key;
        s_view (p, &key);
        if (key.type != V_STR) {
            s_skip_rest (p, &key);      //  a container key: its elements
            s_skip (p, 1);              //  matches no row: value ignored
            continue;
        }
        //  A body's "v" and type key ("t", "type") were read by
        //  s_unpack_body and are no row of a top-level table (the
        //  selftest checks): skipped here, not searched through every row
        if (!path && (key.size == 1? *key.str == 'v' || *key.str == 't'
                                   : key.size == 4 && memcmp (key.str, "type", 4) == 0)) {
            s_skip (p, 1);
            continue;
        }
        const field_t *field = NULL;
        size_t i = 0;
        for (size_t n = 0; n < desc->field_count; n++) {
            i = next + n < desc->field_count? next + n: next + n - desc->field_count;
            //  Length first: it rejects almost every other row at once,
            //  and a match is one memcmp, not a loop over the bytes
            const field_t *row = &desc->fields [i];
            if (key.size == row->key_len && s_applies (row, tbit)
            &&  memcmp (key.str, row->key, key.size) == 0) {
                field = &desc->fields [i];
                break;
            }
        }
        if (!field) {
            s_skip (p, 1);
            continue;
        }
        path_t field_path = { path, field->key, 0 };
        if (seen & (UINT64_C (1) << i))
            return s_fail (err, FM_STATUS_BAD_REQUEST, &field_path, "duplicate key");
        seen |= UINT64_C (1) << i;
        view_t value;
        s_view (p, &value);
        if (s_read_field (field, &value, p, base, &field_path, reuse, err))
            return -1;
        next = i + 1;
    }
    for (size_t i = 0; i < desc->field_count; i++) {
        const field_t *field = &desc->fields [i];
        if (s_applies (field, tbit) && (field->required & tbit)
        &&  !(seen & (UINT64_C (1) << i)))
            return s_fail (err, FM_STATUS_BAD_REQUEST, &(path_t) { path, field->key, 0 },
                           "missing");
    }
    return 0;
}

//  A scanned body, ready to walk: the root map's header and the place
//  of its first key, and the type key's value
typedef struct {
    view_t root;                        //  the root map's header
    const byte *first;                  //  its first key
    view_t type;                        //  type key's value (V_STR)
} body_t;

//  Common front of every body decode: size, scan, map, "v", and the type
//  key when type_key is not NULL (its value in body->type).  Nothing to
//  free.  Returns 0, or -1 with err filled.
static int
s_unpack_body (const byte *data, size_t size, body_t *body, const char *type_key,
               fm_error_t *err)
{
    if (size > FM_MAX_BODY)
        return s_fail (err, FM_STATUS_TOO_LARGE, NULL, "body of %zu bytes exceeds %d",
                       size, FM_MAX_BODY);
    if (!data && size)
        return s_fail (err, FM_STATUS_BAD_REQUEST, NULL, "no data");
    scan_t scan;
    if (s_scan (data, size, type_key, &scan, err))
        return -1;
    const char *problem = NULL;
    uint16_t status = FM_STATUS_BAD_REQUEST;
    const char *where = "";
    if (!scan.is_map)
        problem = "body is not a map";
    else {
        view_t version;
        int64_t value;
        if (scan.v_count > 1) {
            where = "v";
            problem = "duplicate key";
        }
        else
        if (scan.v_count == 0) {
            where = "v";
            problem = "missing";
        }
        else {
            const byte *at = data + scan.v_at;
            s_view (&at, &version);
            int rc = s_obj_int (&version, &value);
            if (rc == -1) {
                where = "v";
                problem = "must be an integer";
            }
            else
            if (rc == -2 || value != FM_PROTO_VERSION) {
                where = "v";
                problem = "unsupported version (this peer speaks 1)";
                status = FM_STATUS_BAD_VERSION;
            }
        }
        if (!problem && type_key) {
            where = type_key;
            if (scan.type_count > 1)
                problem = "duplicate key";
            else
            if (scan.type_count == 0)
                problem = "missing";
            else {
                const byte *at = data + scan.type_at;
                s_view (&at, &body->type);
                if (body->type.type != V_STR)
                    problem = "must be a string";
            }
        }
    }
    if (problem)
        return s_fail (err, status, KEY_PATH (where), "%s", problem);
    body->first = data;
    s_view (&body->first, &body->root);
    return 0;
}

//  ---------------------------------------------------------------------
//  Messages

fm_msg_t *
fm_msg_new (fm_msg_type_t type)
{
    fm_msg_t *self = (fm_msg_t *) zmalloc (sizeof (fm_msg_t));
    if (self)
        self->type = type;
    return self;
}

void
fm_msg_destroy (fm_msg_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        fm_msg_t *self = *self_p;
        free (self->offers);
        free (self->declines);
        free (self->timed_out);
        free (self->asked);
        free (self);
        *self_p = NULL;
    }
}

//  Room for one more element at the end of a heap array: *items grown
//  as needed.  Returns the new element (not yet written; the caller fills
//  it, then counts it), or NULL (bound reached or out of memory) leaving
//  the array unchanged.
static byte *
s_append_slot (void **items, size_t count, size_t max, size_t item_size)
{
    if (count >= max)
        return NULL;
    //  Capacity = count + 1 rounded up to a power of two, at least 8 (a
    //  RESULT gathers a decline from most of its banks): growing one by
    //  one re-copied the whole array each time (8.6 KB per decline: 8 % of
    //  the broker).  realloc to the size a block already has is a no-op,
    //  so this holds for arrays allocated anywhere.
    size_t capacity = 8;
    while (capacity < count + 1)
        capacity *= 2;
    byte *grown = (byte *) realloc (*items, capacity * item_size);
    if (!grown)
        return NULL;
    *items = grown;
    return grown + count * item_size;
}

//  Grow a heap array by one element and copy item in.  Returns 0, or -1
//  (bound reached or out of memory) leaving the array unchanged.
static int
s_append (void **items, size_t *count, size_t max, size_t item_size, const void *item)
{
    byte *slot = s_append_slot (items, *count, max, item_size);
    if (!slot)
        return -1;
    memcpy (slot, item, item_size);
    (*count)++;
    return 0;
}

//  Copy a record that holds one fixed array of which only the first used
//  items mean anything (a decline's reasons, an offer's levers): the
//  bytes before the array, the used items, the bytes after it.  The
//  unused items of dest are left as they were (unwritten, in a grown heap
//  array): nothing reads them, since every reader of these records stops
//  at the count (the codec's check, encoders and decoder, the broker, the
//  clients; fm_proto's selftest s_test_append_used proves it for the
//  codec, with the unused items unreadable).  A count above the array's
//  length (an invalid record, refused by validation later) copies the
//  whole array.  Cannot fail.
static void
s_copy_used (void *dest, const void *src, size_t size, size_t array_offset,
             size_t array_size, size_t item_size, size_t used)
{
    if (used > array_size / item_size)
        used = array_size / item_size;
    memcpy (dest, src, array_offset + used * item_size);
    size_t after = array_offset + array_size;
    memcpy ((byte *) dest + after, (const byte *) src + after, size - after);
}

int
fm_msg_add_offer (fm_msg_t *self, const fm_offer_t *offer)
{
    assert (self);
    assert (offer);
    //  An offer is 1.7 KB, 1.3 KB of it eight levers: one or two are used
    byte *slot = s_append_slot ((void **) &self->offers, self->offer_count, FM_MAX_OFFERS,
                                sizeof (fm_offer_t));
    if (!slot)
        return -1;
    s_copy_used (slot, offer, sizeof (fm_offer_t), offsetof (fm_offer_t, levers),
                 sizeof (offer->levers), sizeof (fm_lever_t), offer->lever_count);
    self->offer_count++;
    return 0;
}

int
fm_msg_add_decline (fm_msg_t *self, const fm_decline_t *decline)
{
    assert (self);
    assert (decline);
    //  A decline is 8.6 KB, sixteen reasons of 538 bytes: a RESULT
    //  gathering whole ones was ~10 % of the broker's instructions
    byte *slot = s_append_slot ((void **) &self->declines, self->decline_count,
                                FM_MAX_DECLINES, sizeof (fm_decline_t));
    if (!slot)
        return -1;
    s_copy_used (slot, decline, sizeof (fm_decline_t), offsetof (fm_decline_t, reasons),
                 sizeof (decline->reasons), sizeof (fm_reason_t), decline->reason_count);
    self->decline_count++;
    return 0;
}

int
fm_msg_add_timed_out (fm_msg_t *self, const char *bank)
{
    assert (self);
    assert (bank);
    char code [FM_CODE_SIZE] = { 0 };
    if (strlen (bank) >= sizeof (code))
        return -1;
    strcpy (code, bank);
    return s_append ((void **) &self->timed_out, &self->timed_out_count, FM_MAX_BANKS,
                     FM_CODE_SIZE, code);
}

int
fm_msg_add_asked (fm_msg_t *self, const char *bank)
{
    assert (self);
    assert (bank);
    char code [FM_CODE_SIZE] = { 0 };
    if (strlen (bank) >= sizeof (code))
        return -1;
    strcpy (code, bank);
    return s_append ((void **) &self->asked, &self->asked_count, FM_MAX_BANKS,
                     FM_CODE_SIZE, code);
}

const char *
fm_msg_type_name (fm_msg_type_t type)
{
    return type > 0 && type < FM_MSG_TYPE_COUNT? s_msg_names [type]: "?";
}

int
fm_msg_validate (const fm_msg_t *self, fm_error_t *err)
{
    assert (self);
    fm_error_t local;
    if (!err)
        err = &local;
    if (self->type <= 0 || self->type >= FM_MSG_TYPE_COUNT)
        return s_fail (err, FM_STATUS_BAD_REQUEST, KEY_PATH ("t"), "unknown message type %d",
                       (int) self->type);
    return s_check (&s_msg_desc, self, 1u << self->type, NULL, CHECK_ALL, err);
}

zframe_t *
fm_msg_encode (const fm_msg_t *self, fm_error_t *err)
{
    assert (self);
    fm_error_t local;
    if (!err)
        err = &local;
    if (fm_msg_validate (self, err))
        return NULL;
    return s_encode_frame (&s_msg_desc, self, 1u << self->type, "t",
                           s_msg_names [self->type], err);
}

zframe_t *
fm_msg_encode_trusted (const fm_msg_t *self)
{
    assert (self);
    if (self->type <= 0 || self->type >= FM_MSG_TYPE_COUNT
    ||  !s_shape_ok (&s_msg_desc, self, 1u << self->type))
        return NULL;
#ifdef FM_PROTO_VERIFY_TRUSTED
    fm_error_t check;
    if (fm_msg_validate (self, &check)) {
        zsys_error ("fm_msg_encode_trusted: invalid %s: %s",
                    s_msg_names [self->type], check.text);
        assert (false);
    }
#endif
    return s_encode_frame (&s_msg_desc, self, 1u << self->type, "t",
                           s_msg_names [self->type], NULL);
}

//  The first steps of both decoders: scan the body and name its type.
//  Returns the type; or 0 with err filled (501 unknown type), or -1 with
//  err filled (the body did not scan).
static int
s_msg_unpack (const byte *data, size_t size, body_t *body, fm_error_t *err)
{
    if (s_unpack_body (data, size, body, "t", err))
        return -1;
    int type = s_name_index (&body->type, s_msg_names + 1) + 1;
    if (type <= 0) {
        s_fail (err, FM_STATUS_NOT_IMPLEMENTED, KEY_PATH ("t"), "unknown message type");
        return 0;
    }
    return type;
}

fm_msg_t *
fm_msg_decode (const byte *data, size_t size, fm_error_t *err)
{
    fm_error_t local;
    if (!err)
        err = &local;
    body_t body;
    int type = s_msg_unpack (data, size, &body, err);
    if (type < 0)
        return NULL;
    fm_msg_t *self = NULL;
    if (type > 0) {
        self = fm_msg_new ((fm_msg_type_t) type);
        if (!self)
            s_fail (err, FM_STATUS_INTERNAL, NULL, "out of memory");
        else
        if (s_read_record (&s_msg_desc, &body.root, &body.first, self, 1u << type, NULL,
                           NULL, err)
        ||  s_check (&s_msg_desc, self, 1u << type, NULL, CHECK_DECODED, err))
            fm_msg_destroy (&self);
    }
    return self;
}

//  ---------------------------------------------------------------------
//  Message reader: fm_msg_decode into one message kept between decodes

struct _fm_msg_reader_t {
    fm_msg_t *msg;                      //  Owned, with its heap arrays
    reuse_t reuse;                      //  Capacities of those arrays
    uint32_t dirty;                     //  Type bits decoded into msg since
                                        //  it was last reset
};

fm_msg_reader_t *
fm_msg_reader_new (void)
{
    fm_msg_reader_t *self = (fm_msg_reader_t *) zmalloc (sizeof (fm_msg_reader_t));
    if (self) {
        self->msg = (fm_msg_t *) zmalloc (sizeof (fm_msg_t));
        if (!self->msg) {
            free (self);
            self = NULL;
        }
    }
    return self;
}

void
fm_msg_reader_destroy (fm_msg_reader_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        fm_msg_reader_t *self = *self_p;
        fm_msg_destroy (&self->msg);
        free (self);
        *self_p = NULL;
    }
}

fm_msg_t *
fm_msg_reader_decode (fm_msg_reader_t *self, const byte *data, size_t size,
                      fm_error_t *err)
{
    assert (self);
    fm_error_t local;
    if (!err)
        err = &local;
    body_t body;
    int type = s_msg_unpack (data, size, &body, err);
    if (type < 0)
        return NULL;
    fm_msg_t *msg = NULL;
    if (type > 0) {
        //  Every field the last decodes wrote, and every field this type
        //  reads, back to "absent": the message is then as fm_msg_new
        //  left it for all that any reader of it can see
        uint32_t tbit = 1u << type;
        msg = self->msg;
        s_reset_record (&s_msg_desc, msg, self->dirty | tbit);
        self->dirty = tbit;
        msg->type = (fm_msg_type_t) type;
        if (s_read_record (&s_msg_desc, &body.root, &body.first, msg, tbit, NULL,
                           &self->reuse, err)
        ||  s_check (&s_msg_desc, msg, tbit, NULL, CHECK_DECODED, err))
            msg = NULL;
    }
    return msg;
}

//  Make text valid for the wire in place: invalid UTF-8 bytes become '?',
//  control characters other than tab become ' ', and a sequence cut at
//  the end is dropped.  Cannot fail.
static void
s_text_sanitize (char *text)
{
    byte *p = (byte *) text;
    while (*p) {
        size_t n = 0;                   //  length of a valid sequence at p
        if (*p < 0x80)
            n = 1;
        else
        if (*p >= 0xc2 && *p <= 0xdf)
            n = (p [1] & 0xc0) == 0x80? 2: 0;
        else
        if (*p >= 0xe0 && *p <= 0xef) {
            byte lo = *p == 0xe0? 0xa0: 0x80, hi = *p == 0xed? 0x9f: 0xbf;
            n = p [1] >= lo && p [1] <= hi && (p [2] & 0xc0) == 0x80? 3: 0;
        }
        else
        if (*p >= 0xf0 && *p <= 0xf4) {
            byte lo = *p == 0xf0? 0x90: 0x80, hi = *p == 0xf4? 0x8f: 0xbf;
            n = p [1] >= lo && p [1] <= hi && (p [2] & 0xc0) == 0x80
             && (p [3] & 0xc0) == 0x80? 4: 0;
        }
        if (n == 0) {
            //  Dangling tail of a cut sequence: drop it; else mark it
            bool tail = true;
            for (byte *q = p + 1; *q && tail; q++)
                tail = (*q & 0xc0) == 0x80;
            if (tail && *p >= 0xc2 && *p <= 0xf4) {
                *p = 0;
                break;
            }
            *p++ = '?';
        }
        else {
            if (n == 1 && *p < 0x20 && *p != '\t')
                *p = ' ';
            p += n;
        }
    }
}

fm_msg_t *
fm_msg_new_error (const char *request_id, uint16_t status, const char *format, ...)
{
    fm_msg_t *self = fm_msg_new (FM_MSG_ERROR);
    if (!self)
        return NULL;
    self->status = status;
    if (request_id)
        snprintf (self->request_id, sizeof (self->request_id), "%s", request_id);
    va_list args;
    va_start (args, format);
    vsnprintf (self->text, sizeof (self->text), format, args);
    va_end (args);
    s_text_sanitize (self->text);
    return self;
}

//  ---------------------------------------------------------------------
//  Events

const char *
fm_event_type_name (fm_event_type_t type)
{
    return type > 0 && type < FM_EV_TYPE_COUNT? s_event_info [type].name: "?";
}

fm_event_type_t
fm_event_type_from_name (const char *name)
{
    if (name)
        for (int type = 1; type < FM_EV_TYPE_COUNT; type++)
            if (streq (name, s_event_info [type].name))
                return (fm_event_type_t) type;
    return (fm_event_type_t) 0;
}

size_t
fm_event_topic (const fm_event_t *self, char *buf, size_t size)
{
    assert (self);
    assert (buf && size > 0);
    const char *key = self->request_id [0]? self->request_id
                    : self->service [0]? self->service: "-";
    //  Plain copies, not snprintf: once per event on the broker's hot path
    const char *name = fm_event_type_name (self->type);
    size_t at = 0;
    s_path_append (buf, size, &at, name, strlen (name));
    s_path_append (buf, size, &at, ".", 1);
    s_path_append (buf, size, &at, key, strnlen (key, FM_SERVICE_SIZE - 1));
    buf [at] = 0;
    return at;
}

static int
s_event_validate (const fm_event_t *self, check_mode_t mode, fm_error_t *err)
{
    if (self->type <= 0 || self->type >= FM_EV_TYPE_COUNT)
        return s_fail (err, FM_STATUS_BAD_REQUEST, KEY_PATH ("type"), "unknown event type");
    return s_check (&s_event_desc, self, ALL, NULL, mode, err);
}

zframe_t *
fm_event_encode (const fm_event_t *self, fm_error_t *err)
{
    assert (self);
    fm_error_t local;
    if (!err)
        err = &local;
    if (s_event_validate (self, CHECK_ALL, err))
        return NULL;
    return s_encode_frame (&s_event_desc, self, ALL, "type",
                           s_event_info [self->type].name, err);
}

size_t
fm_event_encode_into (const fm_event_t *self, byte *buf, size_t size)
{
    assert (self);
    assert (buf || size == 0);
    if (s_event_validate (self, CHECK_ALL, NULL))
        return 0;
    return s_encode_into (&s_event_desc, self, ALL, "type", s_event_info [self->type].name,
                          buf, size);
}

size_t
fm_event_encode_into_trusted (const fm_event_t *self, byte *buf, size_t size)
{
    assert (self);
    assert (buf || size == 0);
    if (self->type <= 0 || self->type >= FM_EV_TYPE_COUNT
    ||  !s_shape_ok (&s_event_desc, self, ALL))
        return 0;
#ifdef FM_PROTO_VERIFY_TRUSTED
    fm_error_t check;
    if (s_event_validate (self, CHECK_ALL, &check)) {
        zsys_error ("fm_event_encode_into_trusted: invalid %s: %s",
                    s_event_info [self->type].name, check.text);
        assert (false);
    }
#endif
    return s_encode_into (&s_event_desc, self, ALL, "type", s_event_info [self->type].name,
                          buf, size);
}

int
fm_event_decode (const byte *data, size_t size, fm_event_t *event, fm_error_t *err)
{
    assert (event);
    fm_error_t local;
    if (!err)
        err = &local;
    memset (event, 0, sizeof (*event));
    body_t body;
    if (s_unpack_body (data, size, &body, "type", err))
        return -1;
    int rc = -1;
    int type = 0;
    for (int i = 1; i < FM_EV_TYPE_COUNT && !type; i++)
        if (s_key_is (&body.type, s_event_info [i].name))
            type = i;
    if (!type)
        s_fail (err, FM_STATUS_NOT_IMPLEMENTED, KEY_PATH ("type"), "unknown event type");
    else {
        event->type = (fm_event_type_t) type;
        rc = s_read_record (&s_event_desc, &body.root, &body.first, event, ALL, NULL,
                            NULL, err)
          || s_event_validate (event, CHECK_DECODED, err)? -1: 0;
    }
    if (rc)
        memset (event, 0, sizeof (*event));
    return rc;
}

//  ---------------------------------------------------------------------
//  READY options

zframe_t *
fm_ready_opts_encode (const fm_ready_opts_t *self)
{
    assert (self);
    //  batch 0 is "not set" (an initialiser that predates the key) and
    //  means 1; 1, the default, is left out (the record is sparse) so
    //  that a worker that does not batch sends the same bytes as before
    fm_ready_opts_t opts = *self;
    if (opts.batch == 0)
        opts.batch = 1;
    if (s_check (&s_ready_desc, &opts, ALL, NULL, CHECK_ALL, NULL))
        return NULL;
    if (opts.batch == 1)
        opts.batch = 0;
    return s_encode_frame (&s_ready_desc, &opts, ALL, NULL, NULL, NULL);
}

int
fm_ready_opts_decode (const byte *data, size_t size, fm_ready_opts_t *opts,
                      fm_error_t *err)
{
    assert (opts);
    fm_error_t local;
    if (!err)
        err = &local;
    //  Absent keys: capacity 1, heartbeat 0 = "not announced", no towns,
    //  batch 1 (REQUEST only)
    memset (opts, 0, sizeof (*opts));
    opts->capacity = 1;
    opts->batch = 1;
    body_t body;
    if (s_unpack_body (data, size, &body, NULL, err))
        return -1;
    int rc = s_read_record (&s_ready_desc, &body.root, &body.first, opts, ALL, NULL, NULL,
                            err)
          || s_check (&s_ready_desc, opts, ALL, NULL, CHECK_DECODED, err)? -1: 0;
    if (rc) {
        memset (opts, 0, sizeof (*opts));
        opts->capacity = 1;
        opts->batch = 1;
    }
    return rc;
}

//  ---------------------------------------------------------------------
//  Enum names

static int
s_parse (const char *const *names, const char *text, int *out)
{
    if (text)
        for (int i = 0; names [i]; i++)
            if (streq (names [i], text)) {
                *out = i;
                return 0;
            }
    return -1;
}

const char *
fm_kind_name (fm_kind_t kind)
{
    return kind >= 0 && kind < FM_KIND_COUNT? s_kind_names [kind]: "?";
}

int
fm_kind_parse (const char *text, fm_kind_t *out)
{
    int value;
    if (s_parse (s_kind_names, text, &value))
        return -1;
    *out = (fm_kind_t) value;
    return 0;
}

const char *
fm_collateral_name (fm_collateral_t collateral)
{
    return collateral >= 0 && collateral < FM_COLLATERAL_COUNT
         ? s_collateral_names [collateral]: "?";
}

int
fm_collateral_parse (const char *text, fm_collateral_t *out)
{
    int value;
    if (s_parse (s_collateral_names, text, &value))
        return -1;
    *out = (fm_collateral_t) value;
    return 0;
}

const char *
fm_req_type_name (fm_req_type_t type)
{
    return type == FM_REQ_NEW || type == FM_REQ_RENEWAL? s_req_type_names [type]: "?";
}

int
fm_req_type_parse (const char *text, fm_req_type_t *out)
{
    int value;
    if (s_parse (s_req_type_names, text, &value))
        return -1;
    *out = (fm_req_type_t) value;
    return 0;
}

const char *
fm_payer_name (fm_payer_t payer)
{
    return payer == FM_PAYER_BANK || payer == FM_PAYER_GOVERNMENT
         ? s_payer_names [payer]: "?";
}

int
fm_payer_parse (const char *text, fm_payer_t *out)
{
    int value;
    if (s_parse (s_payer_names, text, &value))
        return -1;
    *out = (fm_payer_t) value;
    return 0;
}

const char *
fm_reason_name (uint16_t code)
{
    switch (code) {
        case FM_REASON_AMOUNT_BELOW_MIN:     return "AMOUNT_BELOW_MIN";
        case FM_REASON_AMOUNT_ABOVE_MAX:     return "AMOUNT_ABOVE_MAX";
        case FM_REASON_TERM_OUT_OF_RANGE:    return "TERM_OUT_OF_RANGE";
        case FM_REASON_INDUSTRY_NOT_SERVED:  return "INDUSTRY_NOT_SERVED";
        case FM_REASON_GRID_NOT_SERVED:      return "GRID_NOT_SERVED";
        case FM_REASON_CREDIT_GRADE_TOO_LOW: return "CREDIT_GRADE_TOO_LOW";
        case FM_REASON_COLLATERAL_REQUIRED:  return "COLLATERAL_REQUIRED";
        case FM_REASON_NO_CREDIT_CONSENT:    return "NO_CREDIT_CONSENT";
        case FM_REASON_KIND_NOT_WANTED:      return "KIND_NOT_WANTED";
        case FM_REASON_RENEWAL_NOT_OFFERED:  return "RENEWAL_NOT_OFFERED";
        case FM_REASON_NO_PRODUCTS:          return "NO_PRODUCTS";
        case FM_REASON_RISK_WARNING:         return "RISK_WARNING";
    }
    return "UNKNOWN";
}

const char *
fm_status_name (uint16_t status)
{
    switch (status) {
        case FM_STATUS_OK:              return "ok";
        case FM_STATUS_BAD_REQUEST:     return "bad request";
        case FM_STATUS_FORBIDDEN:       return "forbidden";
        case FM_STATUS_NOT_FOUND:       return "not found";
        case FM_STATUS_CONFLICT:        return "conflict";
        case FM_STATUS_GONE:            return "gone";
        case FM_STATUS_TOO_LARGE:       return "too large";
        case FM_STATUS_INTERNAL:        return "internal error";
        case FM_STATUS_NOT_IMPLEMENTED: return "not implemented";
        case FM_STATUS_UNAVAILABLE:     return "unavailable";
        case FM_STATUS_TIMEOUT:         return "timeout";
        case FM_STATUS_BAD_VERSION:     return "version not supported";
    }
    return "unknown";
}

//  ---------------------------------------------------------------------
//  Selftest

//  The selftest walks the same field tables as the codec: it fills every
//  field a type carries with a non-default value (Chinese where free
//  text), round-trips, then breaks each field in turn on the wire and
//  asserts the exact status and the field named in the error.

#define TEST_CN "重庆市江北区观音桥街道党建引领政银企对接网格化融资服务"

//  Deterministic generator for garbage tests (xorshift64*)
static uint64_t
s_rand (uint64_t *state)
{
    *state ^= *state >> 12;
    *state ^= *state << 25;
    *state ^= *state >> 27;
    return *state * UINT64_C (2685821657736338717);
}

//  A valid credit code made from a serial number
static void
s_test_credit_code (char *code, unsigned serial)
{
    snprintf (code, FM_ENTERPRISE_ID_SIZE, "91500105MA5U%05u", serial % 100000);
    char check = fm_credit_code_check_char (code);
    assert (check);
    code [17] = check;
    code [18] = 0;
    assert (fm_credit_code_valid (code));
}

//  Fill a string field with a value its flags accept; salt varies it
static void
s_test_fill_str (const field_t *field, char *buf, size_t size, unsigned salt)
{
    if (field->flags & F_CREDIT)
        s_test_credit_code (buf, 4711 + salt);
    else
    if (field->flags & F_REQID)
        snprintf (buf, size, "%016" PRIx64, UINT64_C (0x0123456789abcdef) + salt);
    else
    if (field->flags & F_BANK)
        snprintf (buf, size, "CQRCB_%u", salt);
    else {
        //  Chinese, as long as fits (each character is 3 bytes), rotated
        const char *cn = TEST_CN;
        size_t cn_chars = strlen (cn) / 3;
        size_t chars = (size - 1) / 3;
        for (size_t i = 0; i < chars; i++)
            memcpy (buf + 3 * i, cn + 3 * ((i + salt) % cn_chars), 3);
        buf [3 * chars] = 0;
    }
}

static void
s_test_fill (const desc_t *desc, void *base, uint32_t tbit, unsigned salt, size_t max_items)
{
    for (size_t i = 0; i < desc->field_count; i++) {
        const field_t *field = &desc->fields [i];
        if (!s_applies (field, tbit))
            continue;
        byte *at = (byte *) base + field->offset;
        switch (field->kind) {
            case FK_STR:
                s_test_fill_str (field, (char *) at, field->size, salt);
                break;
            case FK_INT: {
                int64_t value = (field->flags & F_ZERO_OK)? field->lo
                              : field->lo + (field->hi - field->lo) / 3;
                if (value + salt <= field->hi)
                    value += salt;
                s_int_set (at, field->size, value? value: 1);
                break;
            }
            case FK_BOOL:
                *(bool *) at = true;
                break;
            case FK_ENUM: {
                size_t count = s_names_count (field->names);
                s_int_set (at, field->size, (count - 1 + salt) % count);
                break;
            }
            case FK_BITS:
                s_int_set (at, 4, (1u << s_names_count (field->names)) - 1);
                break;
            case FK_GRADE:
                *(char *) at = field->chars [salt % strlen (field->chars)];
                break;
            case FK_REC:
                s_test_fill (field->sub, at, ALL, salt, max_items);
                break;
            case FK_LIST:
            case FK_STRS: {
                size_t count = (size_t) field->hi < max_items? (size_t) field->hi: max_items;
                byte *items = at;
                if (field->flags & F_HEAP) {
                    items = (byte *) calloc (count, s_item_size (field));
                    assert (items);
                    memcpy (at, &items, sizeof (items));
                }
                s_int_set ((byte *) base + field->count_offset, field->count_size, count);
                for (size_t n = 0; n < count; n++)
                    if (field->kind == FK_LIST)
                        s_test_fill (field->sub, items + n * s_item_size (field), ALL,
                                     salt + n + 1, max_items);
                    else
                        s_test_fill_str (field, (char *) items + n * s_item_size (field),
                                         field->size, salt + n + 1);
                break;
            }
        }
    }
}

//  A message of the given type with every carried field set
static fm_msg_t *
s_test_msg (fm_msg_type_t type, size_t max_items)
{
    fm_msg_t *msg = fm_msg_new (type);
    assert (msg);
    s_test_fill (&s_msg_desc, msg, 1u << type, 0, max_items);
    //  Per-type rules (s_msg_rule)
    if (type == FM_MSG_BANK_ANSWER && msg->decline_count > 1)
        msg->decline_count = 1;
    if (type == FM_MSG_GRANT_QUERY)
        msg->offer_count = 1;
    //  s_offer_rule: risk shares sum to 100; a lever's pct is set on the
    //  one limit_uplift lever only (the size bounds assume so)
    for (size_t index = 0; index < msg->offer_count; index++) {
        for (size_t lever = 1; lever < FM_MAX_LEVERS; lever++)
            msg->offers [index].levers [lever].pct = 0;
        msg->offers [index].risk_gov_pct = 30;
        msg->offers [index].risk_bank_pct = 20;
        msg->offers [index].risk_guarantor_pct = 50;
    }
    return msg;
}

//  Decode either kind of body; returns 0 or the error status
typedef uint16_t (decode_fn) (const byte *data, size_t size, fm_error_t *err);

//  One reader for the whole selftest: reused across types and failures
static fm_msg_reader_t *s_test_reader = NULL;

static uint16_t
s_test_decode_msg (const byte *data, size_t size, fm_error_t *err)
{
    //  The reader (one message reused across every body of the test,
    //  whatever its type, accepted or refused) must agree with
    //  fm_msg_decode on every input: same status, same error text, and
    //  for an accepted body the same message (same encoding)
    if (!s_test_reader)
        s_test_reader = fm_msg_reader_new ();
    assert (s_test_reader);
    fm_error_t reader_err = { 0, "" };
    fm_msg_t *read = fm_msg_reader_decode (s_test_reader, data, size, &reader_err);
    fm_msg_t *msg = fm_msg_decode (data, size, err);
    if (!msg) {
        if (read || reader_err.status != err->status || strneq (reader_err.text, err->text))
            zsys_error ("reader: %u '%s', decode: %u '%s'", reader_err.status,
                        reader_err.text, err->status, err->text);
        assert (!read);
        assert (reader_err.status == err->status);
        assert (streq (reader_err.text, err->text));
        return err->status;
    }
    //  Anything decode accepts must encode again: decode validates
    zframe_t *frame = fm_msg_encode (msg, err);
    assert (frame);
    assert (read);
    zframe_t *again = fm_msg_encode (read, &reader_err);
    assert (again);
    assert (zframe_eq (frame, again));
    zframe_destroy (&again);
    zframe_destroy (&frame);
    fm_msg_destroy (&msg);
    return 0;
}

static uint16_t
s_test_decode_event (const byte *data, size_t size, fm_error_t *err)
{
    fm_event_t event;
    if (fm_event_decode (data, size, &event, err))
        return err->status;
    zframe_t *frame = fm_event_encode (&event, err);
    assert (frame);
    zframe_destroy (&frame);
    return 0;
}

//  Mutations of one field on the wire
typedef enum {
    MUT_WRONG_TYPE, MUT_REMOVE, MUT_TOO_HIGH, MUT_TOO_LOW, MUT_TOO_LONG,
    MUT_BAD_UTF8, MUT_CONTROL, MUT_TOO_MANY, MUT_BAD_CODE, MUT_UNKNOWN_NAME
} mutation_t;

typedef struct {
    const char *path;                   //  wire keys joined by '.'
    mutation_t mutation;
    const field_t *field;
} target_t;

//  A string through msgpack-c's packer (the mutation tests build bodies
//  with it, independent of the codec's own writers)
static void
s_test_pack_string (msgpack_packer *pk, const char *text)
{
    size_t len = strlen (text);
    msgpack_pack_str (pk, len);
    msgpack_pack_str_body (pk, text, len);
}

//  True if a msgpack-c object is a string equal to name
static bool
s_test_key_is (const msgpack_object *key, const char *name)
{
    return key->type == MSGPACK_OBJECT_STR && strlen (name) == key->via.str.size
        && memcmp (key->via.str.ptr, name, key->via.str.size) == 0;
}

//  Re-pack obj with the value at target->path mutated.  Arrays met on the
//  way are descended through their first element.
static void
s_test_repack (msgpack_packer *pk, const msgpack_object *obj, const char *path,
               const target_t *target)
{
    if (obj->type == MSGPACK_OBJECT_ARRAY && *path) {
        msgpack_pack_array (pk, obj->via.array.size);
        for (uint32_t i = 0; i < obj->via.array.size; i++)
            if (i == 0)
                s_test_repack (pk, &obj->via.array.ptr [i], path, target);
            else
                msgpack_pack_object (pk, obj->via.array.ptr [i]);
        return;
    }
    if (obj->type != MSGPACK_OBJECT_MAP || !*path) {
        msgpack_pack_object (pk, *obj);
        return;
    }
    const char *dot = strchr (path, '.');
    size_t token_len = dot? (size_t) (dot - path): strlen (path);
    char token [64];
    assert (token_len < sizeof (token));
    memcpy (token, path, token_len);
    token [token_len] = 0;
    bool last = dot == NULL;
    bool remove = last && target->mutation == MUT_REMOVE;
    bool present = false;
    for (uint32_t i = 0; i < obj->via.map.size; i++)
        present |= s_test_key_is (&obj->via.map.ptr [i].key, token);
    assert (present);                   //  the filled message carries it
    msgpack_pack_map (pk, obj->via.map.size - (remove? 1: 0));
    for (uint32_t i = 0; i < obj->via.map.size; i++) {
        const msgpack_object_kv *kv = &obj->via.map.ptr [i];
        if (!s_test_key_is (&kv->key, token)) {
            msgpack_pack_object (pk, kv->key);
            msgpack_pack_object (pk, kv->val);
            continue;
        }
        if (remove)
            continue;
        msgpack_pack_object (pk, kv->key);
        if (!last) {
            s_test_repack (pk, &kv->val, dot + 1, target);
            continue;
        }
        const field_t *field = target->field;
        switch (target->mutation) {
            case MUT_WRONG_TYPE:
                if (field->kind == FK_INT || field->kind == FK_REC)
                    s_test_pack_string (pk, "7");
                else
                    msgpack_pack_int64 (pk, 7);
                break;
            case MUT_TOO_HIGH:
                msgpack_pack_uint64 (pk, (uint64_t) field->hi + 1);
                break;
            case MUT_TOO_LOW:
                msgpack_pack_int64 (pk, field->lo - 1);
                break;
            case MUT_TOO_LONG: {
                char text [FM_TEXT_SIZE + 1];
                memset (text, 'A', field->size);
                text [field->size] = 0;
                s_test_pack_string (pk, text);
                break;
            }
            case MUT_BAD_UTF8:
                s_test_pack_string (pk, "\xe9\x87");           //  cut sequence
                break;
            case MUT_CONTROL:
                msgpack_pack_str (pk, 3);
                msgpack_pack_str_body (pk, "A\0B", 3);   //  embedded NUL
                break;
            case MUT_BAD_CODE:
                s_test_pack_string (pk, field->flags & F_CREDIT? "91500105MA5U000000"
                                 : field->flags & F_REQID? "0123456789ABCDEF"
                                 : "cqrcb");
                break;
            case MUT_UNKNOWN_NAME:
                if (field->kind == FK_BITS) {
                    msgpack_pack_array (pk, 1);
                    s_test_pack_string (pk, "everything");
                }
                else
                    s_test_pack_string (pk, field->kind == FK_GRADE? "Z": "nonsense");
                break;
            case MUT_TOO_MANY:
                assert (kv->val.type == MSGPACK_OBJECT_ARRAY && kv->val.via.array.size);
                msgpack_pack_array (pk, (size_t) field->hi + 1);
                for (int64_t n = 0; n <= field->hi; n++)
                    msgpack_pack_object (pk, kv->val.via.array.ptr [0]);
                break;
            case MUT_REMOVE:
                break;
        }
    }
}

//  Mutate one field of a valid body and assert the decoder's status and
//  that its text starts with the field's path.  Returns 1 (a case run).
static size_t
s_test_mutate (const byte *data, size_t size, decode_fn *decode, const target_t *target,
               const char *error_path, uint16_t expected, bool verbose)
{
    msgpack_unpacked result;
    msgpack_unpacked_init (&result);
    size_t offset = 0;
    int rc = msgpack_unpack_next (&result, (const char *) data, size, &offset);
    assert (rc == MSGPACK_UNPACK_SUCCESS);
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    s_test_repack (&pk, &result.data, target->path, target);
    fm_error_t err = { 0, "" };
    uint16_t status = decode ((const byte *) sbuf.data, sbuf.size, &err);
    size_t len = strlen (error_path);
    bool named = strncmp (err.text, error_path, len) == 0 && err.text [len] == ':';
    if (verbose || status != expected || !named)
        zsys_info ("mutation %d of %s: expected %u \"%s\", got %u \"%s\"",
                   target->mutation, target->path, expected, error_path, status, err.text);
    assert (status == expected);
    assert (named);
    if (target->mutation == MUT_TOO_LONG)
        assert (strstr (err.text, "longer than"));
    if (target->mutation == MUT_REMOVE)
        assert (strstr (err.text, "missing"));
    msgpack_sbuffer_destroy (&sbuf);
    msgpack_unpacked_destroy (&result);
    return 1;
}

//  Every mutation that applies to every field of desc (recursively).
//  Returns the number of cases run.
static size_t
s_test_fields (const byte *data, size_t size, decode_fn *decode, const desc_t *desc,
               uint32_t tbit, const char *wire_path, const char *error_path, bool verbose)
{
    size_t cases = 0;
    for (size_t i = 0; i < desc->field_count; i++) {
        const field_t *field = &desc->fields [i];
        if (!s_applies (field, tbit))
            continue;
        char path [FM_TEXT_SIZE], epath [FM_TEXT_SIZE];
        s_path (path, sizeof (path), wire_path, field->key);
        s_path (epath, sizeof (epath), error_path, field->key);
        target_t target = { path, MUT_WRONG_TYPE, field };
        cases += s_test_mutate (data, size, decode, &target, epath, 400, verbose);
        if (field->required & tbit) {
            target.mutation = MUT_REMOVE;
            cases += s_test_mutate (data, size, decode, &target, epath, 400, verbose);
        }
        switch (field->kind) {
            case FK_INT:
                target.mutation = MUT_TOO_HIGH;
                cases += s_test_mutate (data, size, decode, &target, epath, 400, verbose);
                if (!(field->lo == 1 && (field->flags & F_ZERO_OK))) {
                    target.mutation = MUT_TOO_LOW;
                    cases += s_test_mutate (data, size, decode, &target, epath, 400, verbose);
                }
                break;
            case FK_STR:
                target.mutation = MUT_TOO_LONG;
                cases += s_test_mutate (data, size, decode, &target, epath, 400, verbose);
                target.mutation = MUT_BAD_UTF8;
                cases += s_test_mutate (data, size, decode, &target, epath, 400, verbose);
                target.mutation = MUT_CONTROL;
                cases += s_test_mutate (data, size, decode, &target, epath, 400, verbose);
                if (field->flags & (F_CREDIT | F_REQID | F_BANK)) {
                    target.mutation = MUT_BAD_CODE;
                    cases += s_test_mutate (data, size, decode, &target, epath, 400, verbose);
                }
                break;
            case FK_ENUM:
            case FK_BITS:
            case FK_GRADE:
                target.mutation = MUT_UNKNOWN_NAME;
                cases += s_test_mutate (data, size, decode, &target, epath, 400, verbose);
                break;
            case FK_BOOL:
                break;
            case FK_REC:
                cases += s_test_fields (data, size, decode, field->sub, ALL, path, epath,
                                        verbose);
                break;
            case FK_LIST:
            case FK_STRS: {
                target.mutation = MUT_TOO_MANY;
                char epath0 [FM_TEXT_SIZE];
                s_item_path (epath0, sizeof (epath0), epath, 0);
                cases += s_test_mutate (data, size, decode, &target, epath, 413, verbose);
                if (field->kind == FK_LIST)
                    cases += s_test_fields (data, size, decode, field->sub, ALL, path,
                                            epath0, verbose);
                break;
            }
        }
    }
    return cases;
}

//  Every prefix of a valid body must be refused with 400
static size_t
s_test_prefixes (const byte *data, size_t size, decode_fn *decode)
{
    for (size_t len = 0; len < size; len++) {
        fm_error_t err;
        //  A copy of exactly len bytes, so ASan catches any overread
        byte *copy = (byte *) malloc (len? len: 1);
        assert (copy);
        memcpy (copy, data, len);
        uint16_t status = decode (copy, len, &err);
        assert (status == FM_STATUS_BAD_REQUEST);
        free (copy);
    }
    return size;
}

//  Flip random bytes of a valid body; decode must never crash, and any
//  accepted result re-encodes (checked inside the decode functions)
static void
s_test_flips (const byte *data, size_t size, decode_fn *decode, uint64_t *seed,
              size_t rounds)
{
    byte *copy = (byte *) malloc (size);
    assert (copy);
    for (size_t round = 0; round < rounds; round++) {
        memcpy (copy, data, size);
        size_t flips = 1 + s_rand (seed) % 4;
        for (size_t f = 0; f < flips; f++)
            copy [s_rand (seed) % size] = (byte) s_rand (seed);
        fm_error_t err;
        uint16_t status = decode (copy, size, &err);
        assert (status == 0 || status == 400 || status == 413
             || status == 501 || status == 505);
    }
    free (copy);
}

//  Pack a small body by hand: {"v": v, [type_key: type,] extra...}
static zframe_t *
s_test_body (const char *hex)
{
    size_t len = strlen (hex) / 2;
    byte *data = (byte *) malloc (len + 1);
    assert (data);
    for (size_t i = 0; i < len; i++) {
        unsigned value;
        int rc = sscanf (hex + 2 * i, "%2x", &value);
        assert (rc == 1);
        data [i] = (byte) value;
    }
    zframe_t *frame = zframe_new (data, len);
    free (data);
    return frame;
}

static uint16_t
s_test_hex_status (const char *hex, decode_fn *decode)
{
    zframe_t *frame = s_test_body (hex);
    fm_error_t err = { 0, "" };
    uint16_t status = decode (zframe_data (frame), zframe_size (frame), &err);
    zframe_destroy (&frame);
    return status;
}

static void
s_test_messages (bool verbose)
{
    size_t cases = 0, prefixes = 0;
    uint64_t seed = 20240601;
    for (int type = 1; type < FM_MSG_TYPE_COUNT; type++) {
        fm_msg_t *msg = s_test_msg ((fm_msg_type_t) type, 3);
        fm_error_t err = { 0, "" };
        zframe_t *frame = fm_msg_encode (msg, &err);
        if (!frame)
            zsys_error ("encode %s: %u %s", fm_msg_type_name (type), err.status, err.text);
        assert (frame);
        fm_msg_t *copy = fm_msg_decode (zframe_data (frame), zframe_size (frame), &err);
        if (!copy)
            zsys_error ("decode %s: %u %s", fm_msg_type_name (type), err.status, err.text);
        assert (copy);
        assert (copy->type == (fm_msg_type_t) type);
        //  Re-encoding the copy gives the same bytes: every carried field
        //  survived (the encoder writes every one of them)
        zframe_t *again = fm_msg_encode (copy, &err);
        assert (again);
        assert (zframe_eq (frame, again));
        zframe_destroy (&again);
        //  The trusted encoder writes the very same bytes
        again = fm_msg_encode_trusted (msg);
        assert (again);
        assert (zframe_eq (frame, again));
        zframe_destroy (&again);
        //  Spot checks on nested values, Chinese text and list order
        if (type == FM_MSG_RESULT) {
            assert (copy->offer_count == 3 && copy->decline_count == 3);
            assert (copy->timed_out_count == 3);
            assert (streq (copy->offers [2].levers [1].name, msg->offers [2].levers [1].name));
            assert (copy->offers [2].levers [1].bp == msg->offers [2].levers [1].bp);
            assert (copy->offers [1].amount_fen == msg->offers [1].amount_fen);
            assert (copy->offers [0].amount_fen != copy->offers [1].amount_fen);
            assert (streq (copy->declines [1].reasons [2].text, msg->declines [1].reasons [2].text));
            assert (streq (copy->timed_out [2], "CQRCB_3"));
            assert (streq (copy->request.enterprise_id, msg->request.enterprise_id));
        }
        if (type == FM_MSG_BANK_QUERY) {
            assert (streq (copy->request.purpose, msg->request.purpose));
            assert (copy->request.amount_fen == msg->request.amount_fen);
            assert (copy->request.consent == FM_CONSENT_ALL);
            assert (copy->request.kinds == 7);
            assert (copy->request.type == FM_REQ_RENEWAL);
            assert (copy->request.collateral == FM_COLLATERAL_GUARANTEE);
            assert (copy->profile.lever_count == 3);
            assert (copy->profile.tax_grade == 'A');
            assert (copy->profile.levers [0].payer == FM_PAYER_BANK);
            assert (streq (copy->profile.name, msg->profile.name));
            assert (strlen (copy->profile.name) == 126);      //  42 characters
        }
        if (type == FM_MSG_CONFIRMATION)
            assert (copy->confirmation.granted);
        fm_msg_destroy (&copy);

        //  Break every field in every way on the wire
        cases += s_test_fields (zframe_data (frame), zframe_size (frame), s_test_decode_msg,
                                &s_msg_desc, 1u << type, "", "", verbose);
        prefixes += s_test_prefixes (zframe_data (frame), zframe_size (frame),
                                     s_test_decode_msg);
        s_test_flips (zframe_data (frame), zframe_size (frame), s_test_decode_msg,
                      &seed, 2000);
        //  A trailing byte is refused
        byte *longer = (byte *) malloc (zframe_size (frame) + 1);
        assert (longer);
        memcpy (longer, zframe_data (frame), zframe_size (frame));
        longer [zframe_size (frame)] = 0xc0;
        assert (s_test_decode_msg (longer, zframe_size (frame) + 1, &err) == 400);
        assert (strstr (err.text, "trailing"));
        free (longer);
        zframe_destroy (&frame);
        fm_msg_destroy (&msg);
    }
    if (verbose)
        zsys_info ("fm_proto: %zu field mutations, %zu prefixes", cases, prefixes);
    assert (cases > 500);
}

static void
s_test_edges (bool verbose)
{
    (void) verbose;
    fm_error_t err = { 0, "" };
    decode_fn *decode = s_test_decode_msg;

    //  A small request by hand, field by field
    //  {"v":1,"t":"error","status":404}
    assert (s_test_hex_status ("83a17601a174a56572726f72a6737461747573cd0194", decode) == 0);
    //  Same with "v" as uint64 1 and status as int16: accepted
    assert (s_test_hex_status ("83a176cf0000000000000001a174a56572726f72a6737461747573d10194",
                               decode) == 0);
    //  Versions: 2 -> 505, 0 -> 505, -1 (negative fixint) -> 505,
    //  2^64-1 -> 505, "1" -> 400, missing -> 400
    assert (s_test_hex_status ("83a17602a174a56572726f72a6737461747573cd0194", decode) == 505);
    assert (s_test_hex_status ("83a17600a174a56572726f72a6737461747573cd0194", decode) == 505);
    assert (s_test_hex_status ("83a176ffa174a56572726f72a6737461747573cd0194", decode) == 505);
    assert (s_test_hex_status ("83a176cfffffffffffffffffa174a56572726f72a6737461747573cd0194",
                               decode) == 505);
    assert (s_test_hex_status ("83a176a131a174a56572726f72a6737461747573cd0194", decode) == 400);
    assert (s_test_hex_status ("82a174a56572726f72a6737461747573cd0194", decode) == 400);
    //  Duplicate "v" -> 400; duplicate "status" -> 400
    assert (s_test_hex_status ("84a17601a17601a174a56572726f72a6737461747573cd0194", decode) == 400);
    assert (s_test_hex_status ("84a17601a174a56572726f72a6737461747573cd0194a6737461747573cd0194",
                               decode) == 400);
    //  Types: unknown -> 501, missing -> 400, not a string -> 400
    assert (s_test_hex_status ("83a17601a174a56572726f73a6737461747573cd0194", decode) == 501);
    assert (s_test_hex_status ("82a17601a6737461747573cd0194", decode) == 400);
    assert (s_test_hex_status ("83a17601a17401a6737461747573cd0194", decode) == 400);
    //  Status -1 (negative fixint) and 600 are out of range; 1.5 not an int
    assert (s_test_hex_status ("83a17601a174a56572726f72a6737461747573ff", decode) == 400);
    assert (s_test_hex_status ("83a17601a174a56572726f72a6737461747573cd0258", decode) == 400);
    assert (s_test_hex_status ("83a17601a174a56572726f72a6737461747573cb3ff8000000000000",
                               decode) == 400);
    //  Unknown keys are ignored: {"v":1,"t":"error","status":404,"x":[nil]}
    assert (s_test_hex_status ("84a17601a174a56572726f72a6737461747573cd0194a17891c0", decode) == 0);
    //  Not a map; empty; nil; an array; 0xc1 (never used)
    assert (s_test_hex_status ("91c0", decode) == 400);
    assert (s_test_hex_status ("", decode) == 400);
    assert (s_test_hex_status ("c0", decode) == 400);
    assert (s_test_hex_status ("c1", decode) == 400);
    assert (s_test_decode_msg (NULL, 0, &err) == 400);
    //  An array header claiming 4 billion items is refused before any
    //  allocation (ASan would abort on a 96 GB malloc)
    assert (s_test_hex_status ("ddffffffff", decode) == 400);
    assert (s_test_hex_status ("81a176dfffffffff", decode) == 400);
    assert (s_test_hex_status ("dbffffffff41", decode) == 400);
    //  Nesting 100 deep: msgpack-c's parse stack is 32
    char deep [2 * 100 + 3] = "";
    for (int i = 0; i < 100; i++)
        strcat (deep, "91");
    strcat (deep, "c0");
    assert (s_test_hex_status (deep, decode) == 400);

    //  Too large: FM_MAX_BODY + 1 bytes -> 413 without looking further
    byte *big = (byte *) calloc (1, FM_MAX_BODY + 1);
    assert (big);
    assert (s_test_decode_msg (big, FM_MAX_BODY + 1, &err) == 413);
    assert (s_test_decode_event (big, FM_MAX_BODY + 1, &err) == 413);
    free (big);

    //  Encode refuses a body the decoder would refuse: a result at every
    //  bound with the longest strings exceeds FM_MAX_BODY
    fm_msg_t *msg = s_test_msg (FM_MSG_RESULT, 1000);
    assert (msg->offer_count == FM_MAX_OFFERS && msg->declines [0].reason_count == FM_MAX_REASONS);
    assert (fm_msg_validate (msg, &err) == 0);
    assert (fm_msg_encode (msg, &err) == NULL);
    assert (err.status == 413);
    assert (fm_msg_encode_trusted (msg) == NULL);
    //  ...and 128 offers with no declines fit and round-trip (a body
    //  above the encoder's stack buffer: the heap path)
    msg->decline_count = 0;
    msg->timed_out_count = 0;
    zframe_t *frame = fm_msg_encode (msg, &err);
    assert (frame);
    assert (zframe_size (frame) > 4096);
    zframe_t *trusted = fm_msg_encode_trusted (msg);
    assert (trusted && zframe_eq (frame, trusted));
    zframe_destroy (&trusted);
    fm_msg_t *copy = fm_msg_decode (zframe_data (frame), zframe_size (frame), &err);
    assert (copy && copy->offer_count == FM_MAX_OFFERS);
    assert (copy->offers [FM_MAX_OFFERS - 1].lever_count == FM_MAX_LEVERS);
    //  The 129th offer is refused by add, leaving the message unchanged
    assert (fm_msg_add_offer (copy, &copy->offers [0]) == -1);
    assert (copy->offer_count == FM_MAX_OFFERS);
    fm_msg_destroy (&copy);
    zframe_destroy (&frame);
    //  A decline without reasons is invalid; too many offers is 413
    msg->decline_count = 1;
    msg->declines [0].reason_count = 0;
    assert (fm_msg_validate (msg, &err) == -1 && err.status == 400);
    assert (streq (err.text, "declines[0].reasons: fewer than 1 items"));
    msg->declines [0].reason_count = 1;
    msg->offer_count = FM_MAX_OFFERS + 1;         //  lie: only validate reads it
    assert (fm_msg_validate (msg, &err) == -1 && err.status == 413);
    //  The trusted encoder checks the shape it walks: counts, enums, lists
    assert (fm_msg_encode_trusted (msg) == NULL);
    msg->offer_count = FM_MAX_OFFERS;
    msg->offers [3].lever_count = FM_MAX_LEVERS + 1;
    assert (fm_msg_encode_trusted (msg) == NULL);
    msg->offers [3].lever_count = 0;
    msg->offers [3].kind = FM_KIND_COUNT;
    assert (fm_msg_encode_trusted (msg) == NULL);
    msg->offers [3].kind = FM_KIND_LOAN;
    msg->type = FM_MSG_TYPE_COUNT;
    assert (fm_msg_encode_trusted (msg) == NULL);
    msg->type = FM_MSG_RESULT;
    {
        fm_offer_t *offers = msg->offers;
        msg->offers = NULL;                         //  count without items
        assert (fm_msg_encode_trusted (msg) == NULL);
        msg->offers = offers;
    }
#ifndef FM_PROTO_VERIFY_TRUSTED
    //  An unterminated string is cut at its array's end, never read past
    //  (builds verifying the promise abort here instead, by design)
    msg->decline_count = 0;
    msg->offer_count = 1;
    memset (msg->text, 'x', sizeof (msg->text));
    frame = fm_msg_encode_trusted (msg);
    assert (frame);
    copy = fm_msg_decode (zframe_data (frame), zframe_size (frame), &err);
    assert (copy == NULL && err.status == 400);     //  255 + 1 bytes: too long
    zframe_destroy (&frame);
    msg->text [0] = 0;
    msg->decline_count = 1;
    msg->offer_count = FM_MAX_OFFERS;
#endif
    //  The error names the field and its bound
    msg->offers [5].amount_fen = 0;
    assert (fm_msg_validate (msg, &err) == -1 && err.status == 400);
    assert (streq (err.text, "offers[5].amount_fen: must be 1..10000000000000"));
    fm_msg_destroy (&msg);

    //  A request built by hand
    msg = fm_msg_new (FM_MSG_REQUEST);
    s_test_credit_code (msg->request.enterprise_id, 1);
    strcpy (msg->request.idem_key, "key-1");
    msg->request.amount_fen = INT64_C (300000000);        //  300万元
    msg->request.term_months = 12;
    assert (fm_msg_validate (msg, &err) == 0);
    frame = fm_msg_encode (msg, &err);
    assert (frame);
    copy = fm_msg_decode (zframe_data (frame), zframe_size (frame), &err);
    assert (copy);
    assert (copy->request.amount_fen == INT64_C (300000000));
    assert (copy->request.term_months == 12);
    assert (copy->request.consent == 0 && copy->request.kinds == 0);
    assert (copy->request.type == FM_REQ_NEW);
    assert (copy->request.grid_id [0] == 0);
    fm_msg_destroy (&copy);
    zframe_destroy (&frame);
    msg->request.term_months = 361;
    assert (fm_msg_encode (msg, &err) == NULL);
    assert (streq (err.text, "request.term_months: must be 1..360"));
    msg->request.term_months = 12;
    strcpy (msg->request.purpose, "\xe9\x87");      //  cut UTF-8 in memory
    assert (fm_msg_encode (msg, &err) == NULL);
    assert (streq (err.text, "request.purpose: invalid UTF-8 or control character"));
    memset (msg->request.purpose, 'x', sizeof (msg->request.purpose));
    assert (fm_msg_encode (msg, &err) == NULL);
    assert (streq (err.text, "request.purpose: not NUL-terminated"));
    msg->request.purpose [0] = 0;
    msg->request.enterprise_id [17] = msg->request.enterprise_id [17] == '0'? '1': '0';
    assert (fm_msg_encode (msg, &err) == NULL);
    assert (streq (err.text, "request.enterprise_id: not a valid credit code"));
    fm_msg_destroy (&msg);

    //  A profile may carry a grade only if it was shared
    msg = s_test_msg (FM_MSG_PROFILE, 1);
    msg->profile.shared &= ~FM_CONSENT_TAX;
    assert (fm_msg_validate (msg, &err) == -1);
    assert (streq (err.text, "profile.tax_grade: set but \"tax\" not shared"));
    msg->profile.tax_grade = 0;
    assert (fm_msg_validate (msg, &err) == 0);
    fm_msg_destroy (&msg);
    //  A granted confirmation needs a loan id
    msg = s_test_msg (FM_MSG_CONFIRMATION, 1);
    msg->confirmation.loan_id [0] = 0;
    assert (fm_msg_validate (msg, &err) == -1);
    assert (streq (err.text, "confirmation.loan_id: required when granted"));
    msg->confirmation.granted = false;
    assert (fm_msg_validate (msg, &err) == 0);
    fm_msg_destroy (&msg);
    //  Bank answers: at most one decline, not empty; grant query: one offer
    msg = s_test_msg (FM_MSG_BANK_ANSWER, 2);
    msg->decline_count = 2;
    assert (fm_msg_validate (msg, &err) == -1 && err.status == 400);
    msg->decline_count = 0;
    msg->offer_count = 0;
    assert (fm_msg_validate (msg, &err) == -1 && err.status == 400);
    fm_msg_destroy (&msg);
    msg = s_test_msg (FM_MSG_GRANT_QUERY, 2);
    msg->offer_count = 2;
    assert (fm_msg_validate (msg, &err) == -1 && err.status == 400);
    msg->type = (fm_msg_type_t) 0;
    assert (fm_msg_validate (msg, &err) == -1);
    assert (fm_msg_encode (msg, NULL) == NULL);
    fm_msg_destroy (&msg);
    fm_msg_destroy (&msg);                  //  idempotent

    //  fm_msg_new_error: printf text, made wire-safe
    char code [FM_ENTERPRISE_ID_SIZE];
    s_test_credit_code (code, 42);
    msg = fm_msg_new_error ("0123456789abcdef", FM_STATUS_NOT_FOUND,
                            "enterprise %s is not in the registry", code);
    frame = fm_msg_encode (msg, &err);
    assert (frame);
    copy = fm_msg_decode (zframe_data (frame), zframe_size (frame), &err);
    assert (copy && copy->type == FM_MSG_ERROR && copy->status == 404);
    assert (streq (copy->request_id, "0123456789abcdef"));
    assert (strstr (copy->text, code));
    fm_msg_destroy (&copy);
    zframe_destroy (&frame);
    fm_msg_destroy (&msg);
    msg = fm_msg_new_error (NULL, 400, "bad\xff\x01line\nend\xe9\x87");
    assert (streq (msg->text, "bad? line end"));
    frame = fm_msg_encode (msg, &err);
    assert (frame);
    zframe_destroy (&frame);
    fm_msg_destroy (&msg);
    //  Cut inside a Chinese character at the text capacity: still valid
    char long_cn [1024] = "x";
    while (strlen (long_cn) + strlen (TEST_CN) < sizeof (long_cn))
        strcat (long_cn, TEST_CN);
    msg = fm_msg_new_error ("", 500, "%s", long_cn);
    assert (strlen (msg->text) == 253);     //  1 + 84 characters of 3 bytes
    frame = fm_msg_encode (msg, &err);
    assert (frame);
    zframe_destroy (&frame);
    fm_msg_destroy (&msg);

    //  Random garbage, 20000 buffers from a fixed seed
    uint64_t seed = 88172645463325252ull;
    byte buffer [512];
    size_t accepted = 0;
    for (int round = 0; round < 20000; round++) {
        size_t size = s_rand (&seed) % sizeof (buffer);
        for (size_t i = 0; i < size; i++)
            buffer [i] = (byte) s_rand (&seed);
        //  Half the rounds start as a map, to get past the first byte
        if (round % 2 && size > 0)
            buffer [0] = 0x80 | (buffer [0] & 0x0f);
        uint16_t status = s_test_decode_msg (buffer, size, &err);
        assert (status == 0 || status == 400 || status == 413 || status == 501
             || status == 505);
        accepted += status == 0;
        status = s_test_decode_event (buffer, size, &err);
        assert (status == 0 || status == 400 || status == 413 || status == 501
             || status == 505);
    }
    assert (accepted == 0);

    //  Add functions
    msg = fm_msg_new (FM_MSG_RESULT);
    for (int i = 0; i < FM_MAX_BANKS; i++)
        assert (fm_msg_add_timed_out (msg, "BANK") == 0);
    assert (fm_msg_add_timed_out (msg, "BANK") == -1);
    assert (msg->timed_out_count == FM_MAX_BANKS);
    fm_decline_t decline = { .bank = "CQRCB", .reason_count = 0 };
    for (int i = 0; i < FM_MAX_DECLINES; i++)
        assert (fm_msg_add_decline (msg, &decline) == 0);
    assert (fm_msg_add_decline (msg, &decline) == -1);
    fm_msg_destroy (&msg);
    msg = fm_msg_new (FM_MSG_RESULT);
    assert (fm_msg_add_timed_out (msg, "A_BANK_CODE_THAT_IS_TOO_LONG") == -1);
    assert (msg->timed_out_count == 0 && msg->timed_out == NULL);
    fm_msg_destroy (&msg);
}

static void
s_test_events (bool verbose)
{
    fm_error_t err = { 0, "" };
    uint64_t seed = 7;
    size_t cases = 0;
    for (int type = 1; type < FM_EV_TYPE_COUNT; type++) {
        const char *name = fm_event_type_name ((fm_event_type_t) type);
        assert (fm_event_type_from_name (name) == (fm_event_type_t) type);
        //  Fill exactly the fields this type sets
        fm_event_t event;
        fm_event_t all;
        memset (&event, 0, sizeof (event));
        memset (&all, 0, sizeof (all));
        s_test_fill (&s_event_desc, &all, ALL, (unsigned) type, 3);
        event.type = (fm_event_type_t) type;
        event.epoch = UINT64_C (1717200000000000);
        event.seq = type;
        event.ts_us = INT64_C (1717200000000000) + type;
        char fields [256];
        snprintf (fields, sizeof (fields), "%s", s_event_info [type].fields);
        size_t set = 0;
        for (char *key = strtok (fields, " "); key; key = strtok (NULL, " ")) {
            const field_t *field = NULL;
            for (size_t i = 0; i < s_event_desc.field_count; i++)
                if (streq (s_event_desc.fields [i].key, key))
                    field = &s_event_desc.fields [i];
            assert (field);             //  the info table names real rows
            memcpy ((byte *) &event + field->offset, (byte *) &all + field->offset,
                    field->size);
            if (field->kind == FK_LIST)
                memcpy ((byte *) &event + field->count_offset,
                        (byte *) &all + field->count_offset, field->count_size);
            set++;
        }
        assert (set > 0);
        //  Topic
        char topic [96];
        size_t len = fm_event_topic (&event, topic, sizeof (topic));
        assert (len == strlen (topic));
        const char *key = event.request_id [0]? event.request_id
                        : event.service [0]? event.service: "-";
        char expected [96];
        snprintf (expected, sizeof (expected), "%s.%s", name, key);
        assert (streq (topic, expected));
        //  Round trip through a frame and through a caller buffer
        zframe_t *frame = fm_event_encode (&event, &err);
        assert (frame);
        byte buffer [4096];
        size_t size = fm_event_encode_into (&event, buffer, sizeof (buffer));
        assert (size == zframe_size (frame));
        assert (memcmp (buffer, zframe_data (frame), size) == 0);
        //  Too small by one byte: 0 (in a scratch buffer: what a failed
        //  encode leaves in its buffer is undefined)
        byte scratch [4096];
        assert (fm_event_encode_into (&event, scratch, size - 1) == 0);
        assert (fm_event_encode_into (&event, scratch, 0) == 0);
        assert (fm_event_encode_into_trusted (&event, scratch, size - 1) == 0);
        assert (fm_event_encode_into_trusted (&event, scratch, size) == size);
        assert (memcmp (scratch, buffer, size) == 0);
        fm_event_t copy;
        assert (fm_event_decode (buffer, size, &copy, &err) == 0);
        assert (copy.type == event.type && copy.seq == event.seq);
        assert (copy.epoch == event.epoch && copy.ts_us == event.ts_us);
        assert (copy.lever_count == event.lever_count);
        assert (streq (copy.text, event.text));
        assert (copy.amount_fen == event.amount_fen && copy.count == event.count);
        byte again [4096];
        assert (fm_event_encode_into (&copy, again, sizeof (again)) == size);
        assert (memcmp (again, buffer, size) == 0);
        memset (again, 0, sizeof (again));
        assert (fm_event_encode_into_trusted (&event, again, sizeof (again)) == size);
        assert (memcmp (again, buffer, size) == 0);
        assert (fm_event_encode_into_trusted (&event, again, size - 1) == 0);
        //  Unset fields are not on the wire: the map has 5 + set keys
        if (5 + set < 16)
            assert (buffer [0] == (0x80 | (5 + set)));
        else
            assert (buffer [0] == 0xde && s_be (buffer + 1, 2) == 5 + set);
        s_test_prefixes (buffer, size, s_test_decode_event);
        s_test_flips (buffer, size, s_test_decode_event, &seed, 1000);
        zframe_destroy (&frame);
    }
    //  Every field broken on the wire, on an event with every field set
    fm_event_t event;
    memset (&event, 0, sizeof (event));
    s_test_fill (&s_event_desc, &event, ALL, 1, 3);
    event.type = FM_EV_OFFER_MADE;
    event.status = 200;
    event.reason_code = 101;
    byte buffer [4096];
    size_t size = fm_event_encode_into (&event, buffer, sizeof (buffer));
    assert (size > 0);
    cases += s_test_fields (buffer, size, s_test_decode_event, &s_event_desc, ALL, "", "",
                            verbose);
    if (verbose)
        zsys_info ("fm_proto: %zu event field mutations", cases);
    //  ts_us 0 is still on the wire (epoch, seq, ts_us always are)
    event.ts_us = 0;
    size = fm_event_encode_into (&event, buffer, sizeof (buffer));
    assert (size > 0);
    fm_event_t copy;
    assert (fm_event_decode (buffer, size, &copy, &err) == 0 && copy.ts_us == 0);
    //  Invalid events are not encoded
    event.seq = 0;
    assert (fm_event_encode (&event, &err) == NULL && err.status == 400);
    assert (fm_event_encode_into (&event, buffer, sizeof (buffer)) == 0);
    event.seq = 1;
    event.type = FM_EV_TYPE_COUNT;
    assert (fm_event_encode_into (&event, buffer, sizeof (buffer)) == 0);
    assert (fm_event_encode_into_trusted (&event, buffer, sizeof (buffer)) == 0);
    event.type = FM_EV_OFFER_MADE;
    event.lever_count = FM_MAX_LEVERS + 1;
    assert (fm_event_encode_into_trusted (&event, buffer, sizeof (buffer)) == 0);
    event.lever_count = 0;
    event.type = FM_EV_TYPE_COUNT;
    assert (streq (fm_event_type_name (FM_EV_TYPE_COUNT), "?"));
    assert (fm_event_type_from_name ("offer.eaten") == 0);
    assert (fm_event_type_from_name (NULL) == 0);
    //  Topic of a worker event and of an unkeyed one
    memset (&event, 0, sizeof (event));
    event.type = FM_EV_WORKER_READY;
    strcpy (event.service, "bank.CQRCB");
    char topic [96];
    fm_event_topic (&event, topic, sizeof (topic));
    assert (streq (topic, "worker.ready.bank.CQRCB"));
    event.type = FM_EV_INPUT_REJECTED;
    event.service [0] = 0;
    fm_event_topic (&event, topic, sizeof (topic));
    assert (streq (topic, "input.rejected.-"));
    assert (fm_event_topic (&event, topic, 6) == 5 && streq (topic, "input"));
    //  {"v":1,"type":"nope","epoch":1,"seq":1,"ts_us":0} -> 501; v 2 -> 505
    assert (s_test_hex_status ("85a17601a474797065a46e6f7065a565706f636801a37365710"
                               "1a574735f757300", s_test_decode_event) == 501);
    assert (s_test_hex_status ("85a17602a474797065a46e6f7065a565706f636801a37365710"
                               "1a574735f757300", s_test_decode_event) == 505);
    assert (s_test_hex_status ("85a17601a474797065aa6f666665722e6d616465a565706f636801"
                               "a373657101a574735f757300", s_test_decode_event) == 0);
}

static uint16_t
s_test_decode_ready (const byte *data, size_t size, fm_error_t *err)
{
    fm_ready_opts_t opts;
    return fm_ready_opts_decode (data, size, &opts, err)? err->status: 0;
}

//  READY option "batch" (query batches, SPEC.md 4.2): absent is 1 and
//  the encoder leaves 0 and 1 out, byte for byte the SPEC's example;
//  2..1024 round-trip; 0, 1025 and a string are refused
static void
s_test_ready_batch (void)
{
    fm_error_t err = { 0, "" };
    //  SPEC.md 4.2: {"v":1,"capacity":32,"heartbeat_ms":2500}
    zframe_t *example = s_test_body ("83a17601a86361706163697479"
                                     "20ac6865617274626561745f6d73cd09c4");
    fm_ready_opts_t copy;
    assert (fm_ready_opts_decode (zframe_data (example), zframe_size (example),
                                  &copy, &err) == 0);
    assert (copy.batch == 1);
    for (uint32_t batch = 0; batch <= 1; batch++) {
        fm_ready_opts_t opts = { 32, 2500, "", batch };
        zframe_t *frame = fm_ready_opts_encode (&opts);
        assert (frame && zframe_eq (frame, example));
        zframe_destroy (&frame);
    }
    zframe_destroy (&example);

    uint32_t batches [] = { 2, 32, FM_MDPW_BATCH_MAX };
    for (size_t index = 0; index < 3; index++) {
        fm_ready_opts_t opts = { 8, 500, "GYQ", batches [index] };
        zframe_t *frame = fm_ready_opts_encode (&opts);
        assert (frame);
        assert (fm_ready_opts_decode (zframe_data (frame), zframe_size (frame),
                                      &copy, &err) == 0);
        assert (copy.batch == batches [index]);
        assert (copy.capacity == 8 && copy.heartbeat_ms == 500);
        assert (streq (copy.towns, "GYQ"));
        //  Truncations of it are refused, never read past
        s_test_prefixes (zframe_data (frame), zframe_size (frame), s_test_decode_ready);
        zframe_destroy (&frame);
    }
    fm_ready_opts_t opts = { 8, 500, "", FM_MDPW_BATCH_MAX + 1 };
    assert (fm_ready_opts_encode (&opts) == NULL);

    //  {"v":1,"batch":1} is legal on the wire (the encoder just omits it)
    zframe_t *body = s_test_body ("82a17601a5626174636801");
    assert (fm_ready_opts_decode (zframe_data (body), zframe_size (body), &copy, &err) == 0);
    assert (copy.batch == 1 && copy.capacity == 1);
    zframe_destroy (&body);
    //  batch 0, 1025, "x", -1: 400, and opts reset to the defaults
    const char *refused [] = {
        "82a17601a5626174636800",
        "82a17601a56261746368cd0401",
        "82a17601a56261746368a178",
        "82a17601a56261746368ff"
    };
    for (size_t index = 0; index < 4; index++) {
        body = s_test_body (refused [index]);
        copy.batch = 77;
        assert (fm_ready_opts_decode (zframe_data (body), zframe_size (body),
                                      &copy, &err) == -1);
        assert (err.status == 400);
        assert (strstr (err.text, "batch"));
        assert (copy.batch == 1 && copy.capacity == 1);
        zframe_destroy (&body);
    }
}

static void
s_test_ready (void)
{
    fm_error_t err = { 0, "" };
    fm_ready_opts_t opts = { 32, 2500, "", 1 }, copy;
    zframe_t *frame = fm_ready_opts_encode (&opts);
    assert (frame);
    assert (fm_ready_opts_decode (zframe_data (frame), zframe_size (frame), &copy, &err) == 0);
    assert (copy.capacity == 32 && copy.heartbeat_ms == 2500);
    assert (copy.towns [0] == 0);           //  absent: no pairing
    s_test_prefixes (zframe_data (frame), zframe_size (frame), s_test_decode_ready);
    zframe_destroy (&frame);
    //  A bank announces the towns it is paired with (三网融合)
    strcpy (opts.towns, "GYQ,JBZ");
    frame = fm_ready_opts_encode (&opts);
    assert (frame);
    assert (fm_ready_opts_decode (zframe_data (frame), zframe_size (frame), &copy, &err) == 0);
    assert (streq (copy.towns, "GYQ,JBZ") && copy.capacity == 32);
    zframe_destroy (&frame);
    opts.towns [0] = 0;
    opts.heartbeat_ms = 0;                  //  not announced: key left out
    frame = fm_ready_opts_encode (&opts);
    assert (frame && zframe_size (frame) == 14);
    zframe_destroy (&frame);
    opts.capacity = 0;
    assert (fm_ready_opts_encode (&opts) == NULL);
    opts.capacity = 1;
    opts.heartbeat_ms = 99;
    assert (fm_ready_opts_encode (&opts) == NULL);
    //  {"v":1} -> capacity 1, heartbeat 0; capacity as int8 5 -> 5
    zframe_t *body = s_test_body ("81a17601");
    assert (fm_ready_opts_decode (zframe_data (body), zframe_size (body), &copy, &err) == 0);
    assert (copy.capacity == 1 && copy.heartbeat_ms == 0);
    zframe_destroy (&body);
    body = s_test_body ("82a17601a86361706163697479d005");
    assert (fm_ready_opts_decode (zframe_data (body), zframe_size (body), &copy, &err) == 0);
    assert (copy.capacity == 5);
    zframe_destroy (&body);
    //  capacity 2000 -> 400; v 2 -> 505; capacity -5 -> 400
    body = s_test_body ("82a17601a86361706163697479cd07d0");
    assert (fm_ready_opts_decode (zframe_data (body), zframe_size (body), &copy, &err) == -1);
    assert (err.status == 400 && streq (err.text, "capacity: must be 1..1024"));
    assert (copy.capacity == 1);
    zframe_destroy (&body);
    body = s_test_body ("82a17602a8636170616369747905");
    assert (fm_ready_opts_decode (zframe_data (body), zframe_size (body), &copy, &err) == -1);
    assert (err.status == 505);
    zframe_destroy (&body);
    body = s_test_body ("82a17601a86361706163697479fb");
    assert (fm_ready_opts_decode (zframe_data (body), zframe_size (body), &copy, &err) == -1);
    assert (err.status == 400);
    zframe_destroy (&body);
    s_test_ready_batch ();
}

static void
s_test_names (void)
{
    for (int i = 0; i < FM_KIND_COUNT; i++) {
        fm_kind_t kind;
        assert (fm_kind_parse (fm_kind_name ((fm_kind_t) i), &kind) == 0 && (int) kind == i);
    }
    for (int i = 0; i < FM_COLLATERAL_COUNT; i++) {
        fm_collateral_t collateral;
        assert (fm_collateral_parse (fm_collateral_name ((fm_collateral_t) i), &collateral) == 0);
        assert ((int) collateral == i);
    }
    fm_req_type_t type;
    assert (fm_req_type_parse ("renewal", &type) == 0 && type == FM_REQ_RENEWAL);
    assert (streq (fm_req_type_name (FM_REQ_NEW), "new"));
    fm_payer_t payer;
    assert (fm_payer_parse ("government", &payer) == 0 && payer == FM_PAYER_GOVERNMENT);
    assert (streq (fm_payer_name (FM_PAYER_BANK), "bank"));
    fm_kind_t kind;
    assert (fm_kind_parse ("mortgage", &kind) == -1);
    assert (fm_kind_parse (NULL, &kind) == -1);
    assert (fm_collateral_parse ("", NULL) == -1);
    assert (streq (fm_kind_name (FM_KIND_COUNT), "?"));
    assert (streq (fm_collateral_name ((fm_collateral_t) 99), "?"));
    assert (streq (fm_collateral_name (FM_COLLATERAL_RECEIVABLES), "receivables"));
    for (uint16_t code = FM_REASON_AMOUNT_BELOW_MIN; code <= FM_REASON_RISK_WARNING; code++)
        assert (!streq (fm_reason_name (code), "UNKNOWN"));
    assert (streq (fm_reason_name (FM_REASON_AMOUNT_ABOVE_MAX), "AMOUNT_ABOVE_MAX"));
    assert (streq (fm_reason_name (100), "UNKNOWN"));
    assert (streq (fm_status_name (404), "not found"));
    assert (streq (fm_status_name (299), "unknown"));
    assert (streq (fm_msg_type_name (FM_MSG_GRANT_QUERY), "grant_query"));
    assert (streq (fm_msg_type_name (FM_MSG_TYPE_COUNT), "?"));
}

//  The tables agree with the structs: inline lists hold exactly their
//  bound, heap lists name their element size, keys are unique per table
static void
s_test_table (const desc_t *desc)
{
    assert (desc->field_count <= 64);
    size_t omitted = 0;                 //  rows that may be left out
    for (size_t i = 0; i < desc->field_count; i++) {
        const field_t *field = &desc->fields [i];
        for (size_t j = 0; j < i; j++)
            assert (!streq (field->key, desc->fields [j].key));
        //  Every row names its key with KEY (): the encoders write key_len bytes
        assert (field->key_len == strlen (field->key));
        if (field->flags & F_OMIT_ZERO)
            omitted++;
        if (field->kind == FK_LIST && !(field->flags & F_HEAP))
            assert (field->size == (size_t) field->hi * field->sub->size);
        if (field->kind == FK_LIST && (field->flags & F_HEAP))
            assert (field->size == field->sub->size);
        if (field->kind == FK_INT)
            assert (field->size == 1 || field->size == 2 || field->size == 4
                 || field->size == 8);
        if (field->kind == FK_BITS)
            assert (field->size == sizeof (uint32_t));
        if (field->kind == FK_STRS)
            assert (field->flags & F_HEAP);
        if (field->kind == FK_REC || field->kind == FK_LIST)
            s_test_table (field->sub);
    }
    //  A wide record (map16 placeholder) writes 16 fields or more always
    if (desc->wide)
        assert (!desc->sparse && desc->field_count - omitted >= 16);
}

//  The reader leaves nothing of an earlier body visible: a BANK_QUERY
//  (request, profile) then a RESULT (3 offers, declines) then a
//  BANK_ANSWER with one decline of one reason reads exactly as decoded
//  fresh, and fields the answer does not carry are zero again
static void
s_test_reader_reuse (void)
{
    fm_msg_reader_t *reader = fm_msg_reader_new ();
    assert (reader);
    fm_msg_type_t types [] = { FM_MSG_BANK_QUERY, FM_MSG_RESULT, FM_MSG_BANK_ANSWER,
                               FM_MSG_PROFILE, FM_MSG_BANK_ANSWER };
    for (size_t i = 0; i < sizeof (types) / sizeof (types [0]); i++) {
        fm_msg_t *msg = s_test_msg (types [i], i == 2? 1: 3);
        if (types [i] == FM_MSG_BANK_ANSWER) {
            //  A valid answer: offers or exactly one decline
            msg->offer_count = i == 2? 0: msg->offer_count;
            msg->decline_count = i == 2? 1: 0;
        }
        fm_error_t err;
        zframe_t *frame = fm_msg_encode (msg, &err);
        if (!frame)
            zsys_error ("reader test: %s: %s", fm_msg_type_name (types [i]), err.text);
        assert (frame);
        fm_msg_t *fresh = fm_msg_decode (zframe_data (frame), zframe_size (frame), &err);
        fm_msg_t *read = fm_msg_reader_decode (reader, zframe_data (frame),
                                               zframe_size (frame), &err);
        assert (fresh && read);
        assert (read->type == types [i]);
        assert (read->offer_count == fresh->offer_count);
        assert (read->decline_count == fresh->decline_count);
        for (size_t d = 0; d < read->decline_count; d++) {
            assert (read->declines [d].reason_count == fresh->declines [d].reason_count);
            assert (streq (read->declines [d].reasons [0].advice,
                           fresh->declines [d].reasons [0].advice));
        }
        if (types [i] == FM_MSG_BANK_ANSWER || types [i] == FM_MSG_PROFILE) {
            assert (read->timed_out_count == 0 && read->asked_count == 0);
            assert (read->request.amount_fen == 0 && read->request.purpose [0] == 0);
            assert (read->status == 0 && read->text [0] == 0);
        }
        if (types [i] == FM_MSG_BANK_ANSWER)
            assert (read->profile.enterprise_id [0] == 0 && read->profile.lever_count == 0);
        //  Same bytes out: every carried field equal
        zframe_t *again = fm_msg_encode (read, &err);
        assert (again && zframe_eq (frame, again));
        zframe_destroy (&again);
        fm_msg_destroy (&fresh);
        zframe_destroy (&frame);
        fm_msg_destroy (&msg);
    }
    //  A refused body returns NULL, and the next good one reads cleanly
    assert (!fm_msg_reader_decode (reader, (const byte *) "\x81", 1, NULL));
    fm_msg_reader_destroy (&reader);
    assert (!reader);
}

//  fm_msg_add_decline and fm_msg_add_offer copy only the used reasons and
//  levers, and every reader in the codec (validation, both encoders)
//  stops at the counts.  A decline whose unused reasons lie on a page that
//  cannot be read (PROT_NONE: a read is SIGSEGV, in any build and under
//  valgrind) is appended, and read in place as a RESULT's decline; in
//  ASan builds the offers' unused levers are poisoned too.  Both RESULTs
//  encode to the bytes of one built with whole records.  With a whole-
//  record copy in fm_msg_add_decline this test dies.
static void
s_test_append_used (void)
{
    fm_msg_t *msg = s_test_msg (FM_MSG_RESULT, 3);
    size_t used = 2;                    //  reasons in the guarded decline
    msg->declines [0].reason_count = (uint8_t) used;
    zframe_t *reference = fm_msg_encode (msg, NULL);
    assert (reference);

    //  [readable][guard: reasons [used..]][readable...]: the record starts
    //  head bytes before the guard page, its reason_count is after it
    size_t page = (size_t) sysconf (_SC_PAGESIZE);
    size_t head = offsetof (fm_decline_t, reasons) + used * sizeof (fm_reason_t);
    bool guarded = head <= page
                && (FM_MAX_REASONS - used) * sizeof (fm_reason_t) >= page;
    size_t pages = 2 + (sizeof (fm_decline_t) + page - 1) / page;
    byte *map = (byte *) mmap (NULL, pages * page, PROT_READ | PROT_WRITE,
                               MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    assert (map != MAP_FAILED);
    fm_decline_t *decline = (fm_decline_t *) (map + page - head);
    memcpy (decline, &msg->declines [0], head);
    decline->reason_count = (uint8_t) used;
    int rc;
    if (guarded) {
        rc = mprotect (map + page, page, PROT_NONE);
        assert (rc == 0);
    }
    fm_msg_t *copy = fm_msg_new (FM_MSG_RESULT);
    assert (copy);
    strcpy (copy->request_id, msg->request_id);
    copy->request = msg->request;
    copy->status = msg->status;
    strcpy (copy->text, msg->text);
    for (size_t index = 0; index < msg->offer_count; index++) {
        fm_offer_t *offer = (fm_offer_t *) malloc (sizeof (fm_offer_t));
        assert (offer);
        *offer = msg->offers [index];
#ifdef FM_PROTO_ASAN
        ASAN_POISON_MEMORY_REGION (offer->levers + offer->lever_count,
                                   (FM_MAX_LEVERS - offer->lever_count) * sizeof (fm_lever_t));
#endif
        rc = fm_msg_add_offer (copy, offer);
        assert (rc == 0);
#ifdef FM_PROTO_ASAN
        ASAN_UNPOISON_MEMORY_REGION (offer, sizeof (fm_offer_t));
#endif
        free (offer);
    }
    rc = fm_msg_add_decline (copy, decline);
    assert (rc == 0);
    for (size_t index = 1; index < msg->decline_count; index++) {
        rc = fm_msg_add_decline (copy, &msg->declines [index]);
        assert (rc == 0);
    }
    for (size_t index = 0; index < msg->timed_out_count; index++) {
        rc = fm_msg_add_timed_out (copy, msg->timed_out [index]);
        assert (rc == 0);
    }
    fm_error_t err;
    zframe_t *frame = fm_msg_encode (copy, &err);
    assert (frame && zframe_eq (frame, reference));
    zframe_destroy (&frame);
    frame = fm_msg_encode_trusted (copy);
    assert (frame && zframe_eq (frame, reference));
    zframe_destroy (&frame);
    //  The guarded record itself as a RESULT's only decline (copy's
    //  first decline is its copy)
    fm_decline_t *declines = msg->declines;
    msg->declines = decline;
    msg->decline_count = 1;
    copy->decline_count = 1;
    zframe_destroy (&reference);
    reference = fm_msg_encode (copy, &err);
    assert (reference);
    rc = fm_msg_validate (msg, &err);
    assert (rc == 0);
    frame = fm_msg_encode (msg, &err);
    assert (frame && zframe_eq (frame, reference));
    zframe_destroy (&frame);
    frame = fm_msg_encode_trusted (msg);
    assert (frame && zframe_eq (frame, reference));
    zframe_destroy (&frame);
    msg->declines = declines;
    zframe_destroy (&reference);
    munmap (map, pages * page);
    fm_msg_destroy (&copy);
    fm_msg_destroy (&msg);
}

//  The codec's msgpack writers produce exactly msgpack-c's packer bytes:
//  every integer width edge, string and header lengths at each size
//  class, a map header patched in after its entries, and overflow at the
//  exact end of a fixed buffer
static void
s_test_writers (void)
{
    msgpack_sbuffer sbuf;
    msgpack_sbuffer_init (&sbuf);
    msgpack_packer pk;
    msgpack_packer_init (&pk, &sbuf, msgpack_sbuffer_write);
    size_t big = 70000;
    byte *expect_buf = (byte *) malloc (2 * big + 16);
    char *text = (char *) malloc (big);
    assert (expect_buf && text);
    memset (text, 'a', big);
    const int64_t ints [] = {
        0, 1, 31, 32, 127, 128, 255, 256, 65535, 65536, INT64_C (4294967295),
        INT64_C (4294967296), INT64_MAX, -1, -31, -32, -33, -127, -128, -129,
        -32767, -32768, -32769, INT32_MIN, INT64_C (-2147483649), INT64_MIN
    };
    const size_t lens [] = { 0, 1, 15, 16, 31, 32, 255, 256, 65535, 65536, 69999 };
    for (int what = 0; what < 4; what++) {
        size_t cases = what == 0? sizeof (ints) / sizeof (ints [0])
                                : sizeof (lens) / sizeof (lens [0]);
        for (size_t i = 0; i < cases; i++) {
            msgpack_sbuffer_clear (&sbuf);
            size_t n = what? lens [i]: 0;
            if (what == 0)
                msgpack_pack_int64 (&pk, ints [i]);
            else
            if (what == 1) {
                msgpack_pack_str (&pk, n);
                msgpack_pack_str_body (&pk, text, n);
            }
            else
            if (what == 2)
                msgpack_pack_array (&pk, n);
            else {
                //  A map of n entries {0:0, ...} as a record would write it
                msgpack_pack_map (&pk, n);
                for (size_t j = 0; j < n; j++) {
                    msgpack_pack_int64 (&pk, 0);
                    msgpack_pack_int64 (&pk, 0);
                }
            }
            size_t expect = sbuf.size;
            memcpy (expect_buf, sbuf.data, expect);
            //  Exactly enough room, then one byte less
            for (size_t less = 0; less < 2 && less <= expect; less++) {
                size_t room = expect - less;
                byte *buf = (byte *) malloc (room? room: 1);
                assert (buf);
                out_t out = { buf, room, 0, 0, NULL, false };
                if (what == 0)
                    s_out_int (&out, ints [i]);
                else
                if (what == 1)
                    s_out_str (&out, text, n);
                else
                if (what == 2)
                    s_out_head (&out, n, 0x90, 0xdc);
                else {
                    size_t mark = out.used;
                    if (s_out_take (&out, 1)) {
                        for (size_t j = 0; j < 2 * n; j++)
                            s_out_int (&out, 0);
                        s_out_map_at (&out, mark, 1, n);
                    }
                }
                if (room >= expect) {
                    assert (!out.overflow);
                    assert (out.used == expect);
                    assert (memcmp (buf, expect_buf, expect) == 0);
                }
                else
                    assert (out.overflow);
                free (buf);
            }
            //  A growing writer from a small stack buffer gives the same
            byte small [8];
            out_t grow = { small, sizeof (small), 0, FM_MAX_BODY, NULL, false };
            if (what == 1)
                s_out_str (&grow, text, n);
            else
            if (what == 0)
                s_out_int (&grow, ints [i]);
            if (what < 2) {
                assert (!grow.overflow && grow.used == expect);
                assert (memcmp (grow.buf, expect_buf, expect) == 0);
            }
            free (grow.heap);
        }
    }
    //  The growing writer stops at its limit
    byte small [8];
    out_t grow = { small, sizeof (small), 0, 100, NULL, false };
    s_out_str (&grow, text, 98);        //  2-byte header + 98 = 100: fits
    assert (!grow.overflow && grow.used == 100 && grow.heap);
    s_out_int (&grow, 0);
    assert (grow.overflow && grow.used == 100);
    free (grow.heap);
    free (text);
    free (expect_buf);
    msgpack_sbuffer_destroy (&sbuf);
}

void
fm_proto_test (bool verbose)
{
    s_test_table (&s_msg_desc);
    s_test_table (&s_event_desc);
    s_test_table (&s_ready_desc);
    //  s_read_record skips "v", "t" and "type" in a body without looking
    //  for a row: no top-level table may have one
    const desc_t *tops [] = { &s_msg_desc, &s_event_desc, &s_ready_desc };
    for (size_t t = 0; t < sizeof tops / sizeof tops [0]; t++)
        for (size_t i = 0; i < tops [t]->field_count; i++) {
            const char *key = tops [t]->fields [i].key;
            assert (!streq (key, "v") && !streq (key, "t") && !streq (key, "type"));
        }
    s_test_names ();
    s_test_writers ();
    s_test_ready ();
    s_test_messages (verbose);
    s_test_edges (verbose);
    s_test_events (verbose);
    s_test_reader_reuse ();
    s_test_append_used ();
    fm_msg_reader_destroy (&s_test_reader);
    fm_msg_reader_destroy (&s_test_reader);
}
