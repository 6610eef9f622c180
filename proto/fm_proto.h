/*  =========================================================================
    fm_proto - finmatch message bodies and events: records and their codec

    Every body frame on the finmatch wire is exactly one msgpack map that
    starts with a schema version ("v") and a message type ("t").  This
    module owns that encoding and nothing else: the MDP framing around the
    body lives in common/fm_mdp, the routing in broker/.  It is the only
    place in the tree that includes msgpack.h.

    Messages and events are plain records (public structs) rather than
    opaque classes: they are data passed between modules, and every field
    is bounded so that a decoded message never points into the wire
    buffer.  Strings are fixed-size, NUL-terminated, valid UTF-8 arrays;
    money is int64 fen; rates are int32 basis points; times are int64
    microseconds since the Unix epoch (UTC).

    Decoding is the trust boundary.  fm_msg_decode and fm_event_decode
    accept any bytes, never crash, and either return a fully validated
    record or NULL with a 3-digit status and a reason in an fm_error_t.

    The field tables in fm_proto.c (one row per field: message types that
    carry it, wire key, kind, bound) drive encode, decode, and the codec
    selftest; proto/SPEC.md is the normative description of the same.
    =========================================================================
*/

#ifndef FM_PROTO_H_INCLUDED
#define FM_PROTO_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

//  Schema version carried as "v" in every body and event
#define FM_PROTO_VERSION        1
//  Largest body frame we accept from the wire (bytes); larger is 413
#define FM_MAX_BODY             (256 * 1024)

//  String capacities, in bytes including the terminating NUL
#define FM_ENTERPRISE_ID_SIZE   19      //  18-char unified social credit code
#define FM_REQUEST_ID_SIZE      17      //  16 lowercase hex digits
#define FM_IDEM_KEY_SIZE        65      //  client idempotency key, 1..64 bytes
#define FM_CODE_SIZE            24      //  bank, product, lever, grid codes
#define FM_OFFER_ID_SIZE        49      //  "<BANK>/<PRODUCT>"
#define FM_LOAN_ID_SIZE         49      //  bank's contract number
#define FM_NAME_SIZE            128     //  UTF-8 display names (Chinese)
#define FM_TEXT_SIZE            256     //  free text: purpose, reasons, errors
#define FM_SERVICE_SIZE         64      //  MDP service names

//  Bounds on repeated fields; a body exceeding one is refused with 413
#define FM_MAX_LEVERS           8       //  policy levers on one offer/profile
#define FM_MAX_OFFERS           128     //  offers in a bank answer or result
#define FM_MAX_DECLINES         128     //  declines in a result
#define FM_MAX_REASONS          16      //  reasons in one decline
#define FM_MAX_BANKS            128     //  bank codes in a list (timeouts...)

//  Bounds on values
#define FM_MAX_AMOUNT_FEN       INT64_C(10000000000000)   //  100 billion yuan
#define FM_MAX_TERM_MONTHS      360
#define FM_MAX_RATE_BP          10000   //  100 %

//  Status codes (3 digits) carried by ERROR bodies, results and events.
//  The table with meanings is in proto/SPEC.md, "Status codes".
#define FM_STATUS_OK                    200
#define FM_STATUS_BAD_REQUEST           400     //  malformed or invalid field
#define FM_STATUS_FORBIDDEN             403     //  not allowed for this peer
#define FM_STATUS_NOT_FOUND             404     //  unknown enterprise/request/offer
#define FM_STATUS_CONFLICT              409     //  idempotency key reuse, already accepted
#define FM_STATUS_GONE                  410     //  offer expired or withdrawn
#define FM_STATUS_TOO_LARGE             413     //  frame or repeated field too large
#define FM_STATUS_INTERNAL              500
#define FM_STATUS_NOT_IMPLEMENTED       501     //  unknown service, command or type
#define FM_STATUS_UNAVAILABLE           503     //  no worker for a needed service, or busy
#define FM_STATUS_TIMEOUT               504     //  a needed service did not answer in time
#define FM_STATUS_BAD_VERSION           505     //  unknown schema or protocol version

//  Message types: the "t" key of a body, as a wire string
typedef enum {
    FM_MSG_REQUEST = 1,     //  "request"       client -> broker (fm.request)
    FM_MSG_CREDIT_QUERY,    //  "credit_query"  broker -> gov.credit
    FM_MSG_PROFILE,         //  "profile"       gov.credit -> broker
    FM_MSG_BANK_QUERY,      //  "bank_query"    broker -> bank.<CODE>
    FM_MSG_BANK_ANSWER,     //  "bank_answer"   bank.<CODE> -> broker
    FM_MSG_RESULT,          //  "result"        broker -> client
    FM_MSG_ACCEPT,          //  "accept"        client -> broker (fm.accept)
    FM_MSG_GRANT_QUERY,     //  "grant_query"   broker -> bank.<CODE>
    FM_MSG_CONFIRMATION,    //  "confirmation"  bank -> broker -> client
    FM_MSG_ERROR,           //  "error"         anyone -> peer
    FM_MSG_STATUS_QUERY,    //  "status_query"  client -> broker (fm.status)
    FM_MSG_STATUS,          //  "status"        broker -> client
    FM_MSG_WARN,            //  "warn"          client <-> broker (fm.warn)
    FM_MSG_TYPE_COUNT
} fm_msg_type_t;

//  Request type (wire strings "new", "renewal")
typedef enum { FM_REQ_NEW = 0, FM_REQ_RENEWAL = 1 } fm_req_type_t;

//  Collateral offered (wire strings)
typedef enum {
    FM_COLLATERAL_NONE = 0,     //  "none": credit loan
    FM_COLLATERAL_PROPERTY,     //  "property": real estate mortgage
    FM_COLLATERAL_EQUIPMENT,    //  "equipment"
    FM_COLLATERAL_RECEIVABLES,  //  "receivables": accounts receivable pledge
    FM_COLLATERAL_GUARANTEE,    //  "guarantee": third-party guarantee
    FM_COLLATERAL_COUNT
} fm_collateral_t;

//  Product kinds (wire strings "loan", "insurance", "guarantee"); as bits
//  in fm_request_t.kinds
typedef enum {
    FM_KIND_LOAN = 0, FM_KIND_INSURANCE = 1, FM_KIND_GUARANTEE = 2, FM_KIND_COUNT
} fm_kind_t;
#define FM_KIND_BIT(k)          (1u << (k))

//  Consent flags: which government-held data the enterprise agrees to share
//  with banks.  Wire: array of strings.  Bits in fm_request_t.consent.
#define FM_CONSENT_TAX          0x01    //  "tax": tax credit grade (银税互动)
#define FM_CONSENT_SOCIAL       0x02    //  "social_insurance": months paid
#define FM_CONSENT_PARTY        0x04    //  "party_building": 党建 grade
#define FM_CONSENT_ALL          0x07

//  Who pays for a policy lever (wire strings "bank", "government")
typedef enum { FM_PAYER_BANK = 0, FM_PAYER_GOVERNMENT = 1 } fm_payer_t;

//  One policy lever: a rate reduction an enterprise earns
typedef struct {
    char code [FM_CODE_SIZE];           //  e.g. "party_building"
    char name [FM_NAME_SIZE];           //  e.g. "党建增信(A级)"
    int32_t bp;                         //  reduction in basis points, >= 0
    fm_payer_t payer;                   //  who bears the reduction
    uint8_t pct;                        //  limit_uplift: product maximum
                                        //  raised by this %, 0..FM_MAX_
                                        //  UPLIFT_PCT; 0 = none (optional
                                        //  wire key "pct", absent = 0)
} fm_lever_t;

//  Largest limit uplift a lever may carry, percent
#define FM_MAX_UPLIFT_PCT       100

//  Risk warning (风险预警) on an enterprise or a grid, raised or lifted by
//  the government through fm.warn (SPEC.md "Risk warnings")
typedef enum { FM_WARN_ENTERPRISE = 0, FM_WARN_GRID = 1 } fm_warn_target_t;
#define FM_MAX_WARN_LEVEL       3       //  1 关注, 2 警示, 3 严重

typedef struct {
    fm_warn_target_t target;            //  wire "enterprise" | "grid"
    char target_id [FM_CODE_SIZE];      //  credit code (valid) or grid id
    uint8_t level;                      //  1..FM_MAX_WARN_LEVEL; 0 = lift
    char reason [FM_TEXT_SIZE];         //  why, UTF-8 (required to raise)
    char raised_by [FM_CODE_SIZE];      //  officer or department id
    int64_t expires_us;                 //  UTC µs; 0 = until lifted
    bool lift;                          //  true: lift the warning on target
} fm_warning_t;

//  A financing request as the enterprise states it
typedef struct {
    char enterprise_id [FM_ENTERPRISE_ID_SIZE];  //  USCC, check char valid
    char idem_key [FM_IDEM_KEY_SIZE];   //  client idempotency key
    int64_t amount_fen;                 //  1 .. FM_MAX_AMOUNT_FEN
    uint16_t term_months;               //  1 .. FM_MAX_TERM_MONTHS
    char purpose [FM_TEXT_SIZE];        //  free text, may be empty
    fm_req_type_t type;                 //  new or renewal
    char prior_loan_id [FM_LOAN_ID_SIZE];   //  renewal: the earlier loan, else ""
    char grid_id [FM_CODE_SIZE];        //  the enterprise's grid
    fm_collateral_t collateral;         //  what it can pledge
    uint32_t consent;                   //  FM_CONSENT_* bits
    uint32_t kinds;                     //  FM_KIND_BIT bits; 0 on the wire = loan
    char submitted_by [FM_CODE_SIZE];   //  grid officer id, or "" for self
} fm_request_t;

//  What the government knows of an enterprise, as released to a bank.
//  Fields the enterprise did not consent to share are zero/empty and their
//  FM_CONSENT_* bit is clear in `shared`.
typedef struct {
    char enterprise_id [FM_ENTERPRISE_ID_SIZE];
    char name [FM_NAME_SIZE];           //  registered name, Chinese
    char industry [FM_CODE_SIZE];       //  industry code as in the registry
    char grid_id [FM_CODE_SIZE];        //  grid on record
    uint32_t shared;                    //  FM_CONSENT_* bits actually included
    char tax_grade;                     //  'A','B','M','C','D'; 0 if not shared
    char party_grade;                   //  'A','B','C','D'; '-' none; 0 not shared
    uint16_t social_insurance_months;   //  0 if not shared
    fm_lever_t levers [FM_MAX_LEVERS];  //  policy levers earned
    uint8_t lever_count;
    char town [FM_CODE_SIZE];           //  town code of the request's grid
                                        //  (三网融合 pairing), "" = unknown
    char warnings [FM_TEXT_SIZE];       //  risk warnings on the enterprise
                                        //  or its grid, "; "-joined, "" = none
} fm_profile_t;

//  One reason a product was declined.  Codes are listed in SPEC.md.
typedef struct {
    uint16_t code;                      //  FM_REASON_*
    char product [FM_CODE_SIZE];        //  product code, "" = whole bank
    char text [FM_TEXT_SIZE];           //  human explanation, UTF-8
    char advice [FM_TEXT_SIZE];         //  what would change the outcome,
                                        //  UTF-8, "" if nothing would
} fm_reason_t;

//  Decline reason codes
#define FM_REASON_AMOUNT_BELOW_MIN      101
#define FM_REASON_AMOUNT_ABOVE_MAX      102
#define FM_REASON_TERM_OUT_OF_RANGE     103
#define FM_REASON_INDUSTRY_NOT_SERVED   104
#define FM_REASON_GRID_NOT_SERVED       105
#define FM_REASON_CREDIT_GRADE_TOO_LOW  106
#define FM_REASON_COLLATERAL_REQUIRED   107
#define FM_REASON_NO_CREDIT_CONSENT     108     //  product needs shared credit data
#define FM_REASON_KIND_NOT_WANTED       109     //  enterprise asked for other kinds
#define FM_REASON_RENEWAL_NOT_OFFERED   110
#define FM_REASON_NO_PRODUCTS           111     //  bank has no product at all
#define FM_REASON_RISK_WARNING          112     //  a risk warning is raised on the
                                                //  enterprise or its grid

//  A bank's decline of a request: every failing reason of every product
typedef struct {
    char bank [FM_CODE_SIZE];
    fm_reason_t reasons [FM_MAX_REASONS];
    uint8_t reason_count;
} fm_decline_t;

//  An offer: one eligible product, price decomposed
typedef struct {
    char offer_id [FM_OFFER_ID_SIZE];   //  "<BANK>/<PRODUCT>", unique per request
    char bank [FM_CODE_SIZE];
    char bank_name [FM_NAME_SIZE];
    char product [FM_CODE_SIZE];
    char product_name [FM_NAME_SIZE];
    fm_kind_t kind;
    int64_t amount_fen;                 //  may be below the amount asked
    uint16_t term_months;
    int32_t base_rate_bp;               //  LPR + spread
    fm_lever_t levers [FM_MAX_LEVERS];  //  levers applied to this offer
    uint8_t lever_count;
    int32_t effective_rate_bp;          //  base minus applied levers, >= floor
    int64_t valid_until_us;             //  offer validity, UTC µs
    bool without_credit_data;           //  priced with no consented credit data
    //  Guarantee risk sharing (政银担): shares of a default borne by the
    //  government, the lending bank and the guarantor, percent; all 0 =
    //  no scheme, else they sum to 100 (Chongqing: 30/20/50)
    uint8_t risk_gov_pct;
    uint8_t risk_bank_pct;
    uint8_t risk_guarantor_pct;
} fm_offer_t;

//  A bank's confirmation (or withdrawal) of an accepted offer
typedef struct {
    char offer_id [FM_OFFER_ID_SIZE];
    char bank [FM_CODE_SIZE];
    bool granted;                       //  false = withdrawn, see text
    char loan_id [FM_LOAN_ID_SIZE];     //  contract number when granted
    int64_t amount_fen;
    int32_t base_rate_bp;
    int32_t effective_rate_bp;
    uint16_t term_months;
    char text [FM_TEXT_SIZE];           //  withdrawal reason, or ""
} fm_confirmation_t;

//  A message body.  Which fields a type uses (others stay zero and are not
//  encoded).  Wire keys are the field names; for the types that carry only
//  part of the request, its fields travel as top-level keys
//  ("enterprise_id", "idem_key", "grid_id", "consent").  Required fields
//  per type: proto/messages.md and SPEC.md.
//    REQUEST       request (request_id is not on the wire: the broker
//                  derives it, fm_request_id_make)
//    CREDIT_QUERY  request_id request (enterprise_id, grid_id, consent used)
//    PROFILE       request_id profile
//    BANK_QUERY    request_id request profile
//    BANK_ANSWER   request_id bank offers declines(0 or 1; not both empty)
//    RESULT        request_id request.enterprise_id request.idem_key status
//                  offers(ranked) declines timed_out
//    ACCEPT        request_id request.enterprise_id offer_id
//    GRANT_QUERY   request_id request.enterprise_id offer (exactly one,
//                  in offers[0])
//    CONFIRMATION  request_id request.enterprise_id confirmation
//    ERROR         request_id(may be "") status text
//    STATUS_QUERY  request_id request.enterprise_id(may be "")
//    STATUS        request_id request.enterprise_id state status text
//                  offer_id(accepted, or "") offers declines timed_out
//                  asked(banks asked so far, in asking order)
//    WARN          warning; the broker's answer adds status and text
//                  (request_id is not carried)
typedef struct {
    fm_msg_type_t type;
    char request_id [FM_REQUEST_ID_SIZE];
    fm_request_t request;
    fm_profile_t profile;
    char bank [FM_CODE_SIZE];           //  BANK_ANSWER: answering bank
    char offer_id [FM_OFFER_ID_SIZE];   //  ACCEPT
    uint16_t status;                    //  RESULT, ERROR: FM_STATUS_*
    char text [FM_TEXT_SIZE];           //  ERROR, RESULT: human message
    fm_offer_t *offers;                 //  owned, offer_count entries
    size_t offer_count;
    fm_decline_t *declines;             //  owned, decline_count entries
    size_t decline_count;
    char (*timed_out) [FM_CODE_SIZE];   //  owned, bank codes that missed
    size_t timed_out_count;
    fm_confirmation_t confirmation;
    char state [FM_CODE_SIZE];          //  STATUS: lifecycle state name
                                        //  (SPEC.md 14.3), e.g. "offered"
    char (*asked) [FM_CODE_SIZE];       //  owned, STATUS: banks asked
    size_t asked_count;
    fm_warning_t warning;               //  WARN: the warning raised/lifted
} fm_msg_t;

//  Create an empty message of the given type.  Returns NULL only if out of
//  memory.
fm_msg_t *
    fm_msg_new (fm_msg_type_t type);

//  Destroy a message and everything it owns.  Idempotent; nulls *self_p.
void
    fm_msg_destroy (fm_msg_t **self_p);

//  Append a copy of offer/decline/bank code.  Return 0, or -1 if the bound
//  (FM_MAX_OFFERS...) is reached or memory is out; the message is unchanged
//  on failure.  An offer's copy holds its first lever_count levers, a
//  decline's its first reason_count reasons: the items past the count are
//  not copied (undefined in the copy; read lists up to their counts only,
//  as every reader in the tree does).
int
    fm_msg_add_offer (fm_msg_t *self, const fm_offer_t *offer);
int
    fm_msg_add_decline (fm_msg_t *self, const fm_decline_t *decline);
int
    fm_msg_add_timed_out (fm_msg_t *self, const char *bank);
int
    fm_msg_add_asked (fm_msg_t *self, const char *bank);

//  Wire name of a message type ("request"...), or "?" if out of range.
const char *
    fm_msg_type_name (fm_msg_type_t type);

//  Check every field of self against the bounds above and the type's
//  required fields.  Returns 0 if valid, else -1 with err filled (status
//  400 or 413 and a reason naming the field).
typedef struct {
    uint16_t status;                    //  FM_STATUS_*
    char text [FM_TEXT_SIZE];           //  names the field and the problem
} fm_error_t;

int
    fm_msg_validate (const fm_msg_t *self, fm_error_t *err);

//  Encode as one msgpack map.  Returns a new frame the caller owns, or NULL
//  if self fails fm_msg_validate (err filled when err is not NULL).
zframe_t *
    fm_msg_encode (const fm_msg_t *self, fm_error_t *err);

//  Trusted encoding: for a record this process built itself, only from
//  (a) fields copied from records that were validated (decoded with
//  fm_msg_decode/fm_event_decode, or passed fm_msg_validate), (b) its own
//  constants, counters and clock, and (c) configuration validated when it
//  was loaded, with every number computed inside the field's bounds.
//  The field-by-field validation (UTF-8, credit codes, request ids, value
//  bounds, required fields: about half the cost of an encode) is skipped;
//  only what keeps the encoder inside memory is checked (type, enum values
//  and list counts in range, heap lists present; strings are read with
//  strnlen within their arrays).  NOT for: text formatted with printf into
//  a fixed array (a cut can split a UTF-8 character), text from a peer or
//  a file not checked at load, anything a test does not cover.  Builds
//  with FM_PROTO_VERIFY_TRUSTED defined (the FM_SANITIZE builds, so every
//  ASan test run checks the promise) validate anyway and abort on an
//  invalid record.  Returns a new frame, or NULL if the record cannot be
//  encoded (shape out of range, or larger than FM_MAX_BODY).
zframe_t *
    fm_msg_encode_trusted (const fm_msg_t *self);

//  Decode one body.  Accepts any bytes.  Returns a new validated message the
//  caller owns, or NULL with err filled: 413 too large (body or a repeated
//  field above its FM_MAX_*), 505 unknown "v", 501 unknown "t", 400
//  anything else malformed (not exactly one msgpack map, trailing bytes,
//  wrong msgpack type, duplicate key, missing or out-of-bound field,
//  invalid UTF-8, bad credit code...).  err->text names the field, e.g.
//  "request.amount_fen: must be 1..10000000000000".  Unknown extra keys
//  are ignored (forward compatibility within a version).  err may be NULL.
fm_msg_t *
    fm_msg_decode (const byte *data, size_t size, fm_error_t *err);

//  A reusable decoder for a hot path (the broker's bank answers and
//  profiles): decodes into one message it keeps, instead of allocating
//  and zeroing a new fm_msg_t (3 KB) and its lists (8.6 KB per decline)
//  per body.  Same checks, same results, same errors as fm_msg_decode.
typedef struct _fm_msg_reader_t fm_msg_reader_t;

//  Create a reader.  Returns NULL only if out of memory.
fm_msg_reader_t *
    fm_msg_reader_new (void);

//  Destroy a reader and its message.  Idempotent; nulls *self_p.
void
    fm_msg_reader_destroy (fm_msg_reader_t **self_p);

//  Decode one body as fm_msg_decode does.  Returns the reader's message,
//  owned by the reader and valid until its next decode or destroy: read
//  it (or change its fixed fields), never free it, never keep pointers
//  into it or take its lists.  Fields the type does not carry are zero,
//  as after fm_msg_decode (strings are "", but the bytes after a NUL are
//  not zeroed: compare strings, not whole records).  Returns NULL with
//  err filled exactly as
//  fm_msg_decode on any invalid body.  err may be NULL.
fm_msg_t *
    fm_msg_reader_decode (fm_msg_reader_t *self, const byte *data, size_t size,
                          fm_error_t *err);

//  Convenience: an ERROR message with status and printf-style text.
//  request_id may be NULL (= "").  The text is cut to FM_TEXT_SIZE - 1 at
//  a character boundary and made wire-safe (invalid UTF-8 -> '?', control
//  characters -> ' ').  Returns NULL only if out of memory.
fm_msg_t *
    fm_msg_new_error (const char *request_id, uint16_t status,
                      const char *format, ...) CHECK_PRINTF (3);

//  ---------------------------------------------------------------------
//  Events: one per broker state change, published as [topic][body] where
//  topic = "<type>.<key>" (key = request id, or service name for worker
//  events, or "-").  An event is a flat record: which optional fields are
//  set depends on its type (table in SPEC.md "Event stream").  Unset
//  strings are "", unset numbers are 0 and are not encoded.

//  Event types (wire strings)
typedef enum {
    FM_EV_REQUEST_RECEIVED = 1,         //  "request.received"
    FM_EV_REQUEST_ENRICHED,             //  "request.enriched"
    FM_EV_REQUEST_DISPATCHED,           //  "request.dispatched"
    FM_EV_OFFER_MADE,                   //  "offer.made"
    FM_EV_DECLINE_MADE,                 //  "decline.made"
    FM_EV_BANK_TIMEOUT,                 //  "bank.timeout"
    FM_EV_REQUEST_COMPLETED,            //  "request.completed"
    FM_EV_OFFER_ACCEPTED,               //  "offer.accepted"
    FM_EV_LOAN_GRANTED,                 //  "loan.granted"
    FM_EV_OFFER_WITHDRAWN,              //  "offer.withdrawn"
    FM_EV_WORKER_READY,                 //  "worker.ready"
    FM_EV_WORKER_EXPIRED,               //  "worker.expired"
    FM_EV_INPUT_REJECTED,               //  "input.rejected"
    FM_EV_LATE_REPLY,                   //  "reply.late": answer after deadline
    FM_EV_SLA_BREACH,                   //  "sla.breach": a bank missed its deadline
    FM_EV_REQUEST_REFERRED,             //  "request.referred": asked a further bank
    FM_EV_REQUEST_ILLEGAL,              //  "request.illegal": refused transition
    FM_EV_REQUEST_EXPIRED,              //  "request.expired": offers out of date
    FM_EV_AUTH_DENIED,                  //  "auth.denied": a key was refused
    FM_EV_RISK_WARNING,                 //  "risk.warning": raised (status
                                        //  200) or lifted/expired (410)
    FM_EV_TYPE_COUNT
} fm_event_type_t;

typedef struct {
    uint64_t epoch;                     //  broker epoch: start time, UTC µs
    uint64_t seq;                       //  1, 2, 3... gap-free within epoch
    int64_t ts_us;                      //  when it happened, UTC µs
    fm_event_type_t type;
    char request_id [FM_REQUEST_ID_SIZE];
    char enterprise_id [FM_ENTERPRISE_ID_SIZE];
    char grid_id [FM_CODE_SIZE];
    char industry [FM_CODE_SIZE];
    char bank [FM_CODE_SIZE];
    char product [FM_CODE_SIZE];
    char offer_id [FM_OFFER_ID_SIZE];
    char loan_id [FM_LOAN_ID_SIZE];
    char service [FM_SERVICE_SIZE];     //  worker events
    char peer [FM_CODE_SIZE];           //  hex of the peer's routing id (first bytes)
    int64_t amount_fen;                 //  asked (received) or offered/granted
    uint16_t term_months;
    int32_t base_rate_bp;
    int32_t effective_rate_bp;
    uint16_t status;                    //  completed/rejected: FM_STATUS_*
    uint32_t count;                     //  dispatched: banks; completed: offers
    uint16_t reason_code;               //  decline.made: first reason
    char text [FM_TEXT_SIZE];           //  reasons, rejected input, levers summary
    fm_lever_t levers [FM_MAX_LEVERS];  //  enriched, offer.made, loan.granted
    uint8_t lever_count;
    int64_t latency_us;                 //  offer/decline.made, sla.breach,
                                        //  reply.late: µs since the query
                                        //  was dispatched to the bank
    char town [FM_CODE_SIZE];           //  request.enriched: town code of
                                        //  the request's grid (profile.town)
} fm_event_t;

//  Wire name of an event type ("offer.made"...), or "?".  Cannot fail.
const char *
    fm_event_type_name (fm_event_type_t type);

//  Event type for a wire name, or 0 if unknown.
fm_event_type_t
    fm_event_type_from_name (const char *name);

//  Write the topic "<type>.<key>" into buf (at least 96 bytes); key is
//  request_id if set, else service if set, else "-".  Returns the length
//  written (cut to size - 1).  Cannot fail.
size_t
    fm_event_topic (const fm_event_t *self, char *buf, size_t size);

//  Encode the event body.  Returns a new frame or NULL on invalid event.
zframe_t *
    fm_event_encode (const fm_event_t *self, fm_error_t *err);

//  Encode into a caller buffer (no allocation: the broker's hot path).
//  Returns bytes written, or 0 if it does not fit or the event is invalid
//  (what buf then holds is undefined).
size_t
    fm_event_encode_into (const fm_event_t *self, byte *buf, size_t size);

//  The same without field validation, for events built as fm_msg_encode_
//  trusted describes (the broker's own events: fields copied from decoded
//  messages, its counters and clock).  Same checks and FM_PROTO_VERIFY_
//  TRUSTED behaviour.  Returns bytes written, or 0 if it does not fit or
//  the shape is out of range.
size_t
    fm_event_encode_into_trusted (const fm_event_t *self, byte *buf, size_t size);

//  Decode an event body into *event.  Accepts any bytes.  Returns 0, or -1
//  with err filled, exactly as fm_msg_decode.
int
    fm_event_decode (const byte *data, size_t size, fm_event_t *event,
                     fm_error_t *err);

//  Human names and parsers for the enums above (wire strings).  Parsers
//  return 0 and set *out, or -1 for unknown text.
const char *fm_kind_name (fm_kind_t kind);
int         fm_kind_parse (const char *text, fm_kind_t *out);
const char *fm_collateral_name (fm_collateral_t collateral);
int         fm_collateral_parse (const char *text, fm_collateral_t *out);
const char *fm_req_type_name (fm_req_type_t type);
int         fm_req_type_parse (const char *text, fm_req_type_t *out);
const char *fm_payer_name (fm_payer_t payer);
int         fm_payer_parse (const char *text, fm_payer_t *out);
//  Symbolic name of a reason code ("AMOUNT_ABOVE_MAX") or "UNKNOWN"
const char *fm_reason_name (uint16_t code);
//  Short English meaning of a status code ("not found") or "unknown"
const char *fm_status_name (uint16_t status);

//  ---------------------------------------------------------------------
//  READY options: finmatch's extension to 7/MDP READY.  A worker MAY send
//  a third frame after the service name, one msgpack map
//  {"v":1, "capacity":N, "heartbeat_ms":M, "towns":"GYQ,JBZ", "batch":B}.
//  A plain 7/MDP worker sends none and is treated as capacity 1 with the
//  broker's own heartbeat, batch 1.
typedef struct {
    uint32_t capacity;                  //  requests it may hold at once, 1..1024
    uint32_t heartbeat_ms;              //  its heartbeat interval, 100..60000;
                                        //  0 = not announced (key absent)
    char towns [FM_TEXT_SIZE];          //  bank workers: town codes it is
                                        //  paired with, comma-separated;
                                        //  "" = none (key absent)
    uint32_t batch;                     //  requests it takes in one REQUESTS
                                        //  message (fm_mdp.h), 1..1024; 1 =
                                        //  REQUEST only (key absent).  Last,
                                        //  so that { capacity, heartbeat,
                                        //  towns } initialisers leave it 0,
                                        //  which the encoder takes as 1
} fm_ready_opts_t;

//  Encode READY options (heartbeat_ms 0 is left out, and so is batch 0 or
//  1: a worker that does not batch sends the bytes it sent before batches
//  existed).  Returns a new frame, or NULL if out of bounds.
zframe_t *
    fm_ready_opts_encode (const fm_ready_opts_t *self);

//  Decode READY options.  Absent keys: capacity 1, heartbeat_ms 0, batch
//  1.  Returns 0, or -1 with err filled (opts then capacity 1, heartbeat
//  0, batch 1).
int
    fm_ready_opts_decode (const byte *data, size_t size,
                          fm_ready_opts_t *opts, fm_error_t *err);

//  Self test of this class
void
    fm_proto_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
