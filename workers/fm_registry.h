/*  =========================================================================
    fm_registry - the government's enterprise registry and policy levers

    The registry is a CSV file (RFC 4180, header row required) with one
    enterprise per row:
        credit_code,name,industry,grid_id,tax_grade,party_grade,social_insurance_months
    loaded once into memory with a hash index by credit code.  Every row is
    validated (credit code check character, grades, months 0..600, UTF-8);
    a bad row is logged as "FILE:LINE: reason" and skipped, and so is a
    second row for the same credit code.

    The policy is the gov config's `policy` section: rate discounts in bp
    per grade for party building (党建增信) and tax credit (银税互动);
    by party-building grade a fast track, priority and a limit uplift (%);
    a district interest subsidy (区级贴息) by industry.

    fm_gov_answer builds a PROFILE holding only what the request consented
    to share, with the levers those data earn; fm_gov_answer_into does the
    same into one reused message (finmatch-gov).
    =========================================================================
*/

#ifndef FM_REGISTRY_H_INCLUDED
#define FM_REGISTRY_H_INCLUDED

#include <czmq.h>
#include <stdbool.h>
#include "fm_proto.h"

#ifdef __cplusplus
extern "C" {
#endif

//  Most months of social insurance a row may state (50 years)
#define FM_MAX_SOCIAL_MONTHS    600
//  Largest discount a policy may grant per lever, bp
#define FM_MAX_POLICY_BP        500
//  Rejected rows whose messages are kept for fm_registry_rejects
#define FM_REGISTRY_MAX_REJECTS 1000

//  One enterprise as the registry holds it
typedef struct {
    char credit_code [FM_ENTERPRISE_ID_SIZE];   //  USCC, valid check char
    char name [FM_NAME_SIZE];           //  registered name, UTF-8
    char industry [FM_CODE_SIZE];       //  industry code
    char grid_id [FM_CODE_SIZE];        //  grid on record
    char tax_grade;                     //  'A','B','M','C','D'
    char party_grade;                   //  'A','B','C','D', '-' = none
    uint16_t social_insurance_months;   //  0..FM_MAX_SOCIAL_MONTHS
} fm_enterprise_t;

//  Policy levers: discount in bp per grade (0 = no lever)
typedef struct {
    int32_t party_building [4];         //  grades A, B, C, D
    int32_t tax_credit [5];             //  grades A, B, M, C, D
    int32_t fast_track [4];             //  party grades A..D: 1 = the
                                        //  fast_track lever (bp 0, shorter
                                        //  bank deadlines at the broker)
    int32_t priority [4];               //  party grades A..D: 1 = the
                                        //  priority lever (bp 0, bank
                                        //  queries queue first at the broker)
    int32_t limit_uplift [4];           //  party grades A..D: % by which
                                        //  banks raise a product's maximum
                                        //  (limit_uplift lever, pct), 0..
                                        //  FM_MAX_UPLIFT_PCT
    //  区级贴息: interest subsidy paid by the district (payer government)
    int32_t subsidy_bp;                 //  0 = no subsidy programme
    int64_t subsidy_cap_fen;            //  principal subsidised at most;
                                        //  above it bp is cut pro rata
    char subsidy_industries [FM_TEXT_SIZE];  //  comma list, "*" = all
} fm_policy_t;

typedef struct _fm_registry_t fm_registry_t;

//  Load the registry CSV at path.  Bad rows are logged and skipped.
//  Returns a new registry the caller owns, or NULL with a message in err
//  (size bytes) if the file cannot be read or its header is wrong.
fm_registry_t *
    fm_registry_load (const char *path, char *err, size_t size);

//  Destroy; idempotent, nulls *self_p.
void
    fm_registry_destroy (fm_registry_t **self_p);

//  Number of enterprises loaded.  Cannot fail.
size_t
    fm_registry_size (fm_registry_t *self);

//  Number of rows skipped as bad or duplicate.  Cannot fail.
size_t
    fm_registry_skipped (fm_registry_t *self);

//  The first rejected rows as "FILE:LINE: reason" strings (at most
//  FM_REGISTRY_MAX_REJECTS kept; fm_registry_skipped counts them all).
//  Borrowed until destroy.
zlist_t *
    fm_registry_rejects (fm_registry_t *self);

//  The enterprise with this credit code, or NULL.  Borrowed until destroy.
const fm_enterprise_t *
    fm_registry_find (fm_registry_t *self, const char *credit_code);

//  Load the territory and the ratings (issue 3), each optional:
//    grids.csv     grid_id,town_code,...  -> PROFILE.town (三网融合)
//    officers.csv  officer_id,...,grids (';' list) -> submitted_by check
//    ratings.csv   credit_code,party_org,party_grade,party_source,
//                  party_rated_on,tax_grade,tax_year,social_insurance_months
//                  -> overrides the registry's grades (the ratings table
//                  is the government's own record; party_org own|joint|none)
//  Bad rows are logged and skipped.  Returns the number of rows loaded,
//  or -1 with err filled if the file cannot be read or lacks a column.
int
    fm_registry_load_grids (fm_registry_t *self, const char *path, char *err, size_t size);
int
    fm_registry_load_officers (fm_registry_t *self, const char *path, char *err, size_t size);
int
    fm_registry_load_ratings (fm_registry_t *self, const char *path, char *err, size_t size);

//  Fill policy from the `policy` section of the ZPL tree root
//  (policy/party_building/<A-D> and policy/tax_credit/<A,B,M,C,D>, each
//  0..FM_MAX_POLICY_BP; absent = 0).  source names the file in errors.
//  Returns 0, or -1 with "SOURCE: PATH: problem" in err.
int
    fm_policy_load (fm_policy_t *policy, zconfig_t *root, const char *source,
                    char *err, size_t size);

//  Answer a CREDIT_QUERY (borrowed; request.enterprise_id and .consent
//  used).  Returns a new PROFILE, or a new ERROR 404 if the enterprise is
//  not in the registry (403 if submitted_by is not an officer of the
//  grid); caller owns.  NULL only if out of memory.
fm_msg_t *
    fm_gov_answer (fm_registry_t *self, const fm_policy_t *policy,
                   const fm_msg_t *credit_query);

//  The same into reply, a message (fm_msg_new) the caller owns and reuses
//  for every query: finmatch-gov's hot path, no allocation.  Sets reply's
//  type to PROFILE or ERROR and overwrites every field that type carries.
//  The reply meets fm_msg_encode_trusted's terms: every value in it was
//  validated by the codec (the query's) or at load against the codec's
//  rules (the registry's rows, grids, policy), and texts are whole.
//  Cannot fail.
void
    fm_gov_answer_into (fm_registry_t *self, const fm_policy_t *policy,
                        const fm_msg_t *credit_query, fm_msg_t *reply);

//  Self test
void
    fm_registry_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
