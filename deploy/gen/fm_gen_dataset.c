/*  =========================================================================
    fm_gen_dataset - deterministic generator of the Jiangbei dataset

    Writes the district at the seed's real scale (seed text: 33 家金融机构
    结对服务 14 个镇街, 132 个社区(村), 1372 个网格, 金融网格员 496 名, 每个
    社区 3-5 名; 超 4000 家企业):
        towns.csv         14 towns/streets/parks (Jiangbei's real names)
        communities.csv   132 communities, each in one town
        grids.csv         1,372 grids, each in one community
        officers.csv      496 grid officers, 3-5 per community, each from an
                          institution paired with the town, with the grids
                          of the community they serve
        enterprises.csv   the registry finmatch-gov loads (default 4,200
                          enterprises, valid unified social credit codes)
        ratings.csv       the government's ratings table (党建增信: party
                          organisation class, grade, source and date; tax
                          credit grade and year; social insurance months)
        institutions.csv  the 33 institutions, kind, paired towns, products
    and, with --banks DIR, the configs of the 28 generated institutions (the
    five others are hand-written in deploy/banks/); products total 70,
    plus the two pilot banks' pilot products (72).

    The output is checked in under deploy/data/ and deploy/banks/; rerunning
    with the same seed gives byte-identical files, because every random
    choice comes from splitmix64 streams (Steele, Lea & Flood 2014;
    constants as in Vigna's public-domain splitmix64.c) seeded with --seed
    (default 20230930, the date of the seed's figures) and drawn in a fixed
    order: first the 64-enterprise demo cohort (on the first two grids of
    the first community of six towns: deploy/scenarios/demo-requests.csv
    names them, and they were the whole dataset before this scale), then
    the other enterprises over all grids, then officers, then the ratings'
    details.  The territory's layout uses its own stream.  Changing the
    order of draws changes the dataset: regenerate and re-check
    deploy/scenarios/ when you do.

    Town and street names are Jiangbei's real ones (the district's own site:
    九街三镇); the two 园区 that make up the seed's 14 are our reading of it.
    Community, officer and company names are illustrative, and institution
    branch names are plausible, not a register.  Codes use the region code
    500105 (江北区).

    Cost: linear in the number of rows (a hash table keeps codes and names
    unique); the default dataset takes a fraction of a second.
    =========================================================================
*/

#include <czmq.h>
#include <getopt.h>
#include "fm_ids.h"

#define DEFAULT_SEED        20230930    //  date of the seed's figures (9月底)
#define DEFAULT_ENTERPRISES 4200        //  the seed: "超4000家企业" at 江北嘴
#define CORE_ENTERPRISES    64          //  the demo cohort, drawn first
#define CORE_TOWNS          6           //  ... on the first two grids of the
#define CORE_GRIDS          2           //  first community of 6 towns
#define MAX_TOWNS           14          //  seed: 14 个镇街(园区)
#define COMMUNITY_TOTAL     132         //  seed: 132 个社区(村)
#define GRID_TOTAL          1372        //  seed: 1372 个网格
#define OFFICER_TOTAL       496         //  seed: 金融网格员 496 名, 3-5 per community
#define MAX_ENTERPRISES     100000
#define REGION_CODE         "500105"    //  GB/T 2260: 重庆市江北区

//  --------------------------------------------------------------------------
//  Deterministic randomness: splitmix64.  Small, fast, passes BigCrush and,
//  unlike rand(), is the same on every libc.

typedef struct {
    uint64_t state;                     //  advanced by every draw
} s_rng_t;

static uint64_t
s_rng_next (s_rng_t *rng)
{
    uint64_t z = (rng->state += UINT64_C (0x9E3779B97F4A7C15));
    z = (z ^ (z >> 30)) * UINT64_C (0xBF58476D1CE4E5B9);
    z = (z ^ (z >> 27)) * UINT64_C (0x94D049BB133111EB);
    return z ^ (z >> 31);
}

//  Uniform integer in [0, n), n > 0.  Rejection sampling removes modulo
//  bias so the distribution does not depend on n.
static uint32_t
s_rng_below (s_rng_t *rng, uint32_t n)
{
    assert (n > 0);
    uint64_t limit = UINT64_MAX - UINT64_MAX % n;
    uint64_t value;
    do
        value = s_rng_next (rng);
    while (value >= limit);
    return (uint32_t) (value % n);
}

//  Index drawn with the given integer weights (sum > 0).
static size_t
s_rng_weighted (s_rng_t *rng, const uint32_t *weights, size_t count)
{
    uint32_t total = 0;
    for (size_t index = 0; index < count; index++)
        total += weights [index];
    assert (total > 0);
    uint32_t pick = s_rng_below (rng, total);
    for (size_t index = 0; index < count; index++) {
        if (pick < weights [index])
            return index;
        pick -= weights [index];
    }
    assert (false);                     //  pick < total by construction
    return 0;
}

//  --------------------------------------------------------------------------
//  Industries.  The codes are the ones bank configs list in `industries`.

typedef enum {
    IND_MANUFACTURING, IND_WHOLESALE_RETAIL, IND_SOFTWARE_IT, IND_CONSTRUCTION,
    IND_CATERING, IND_LOGISTICS, IND_CULTURE_TOURISM, IND_AGRICULTURE,
    IND_COUNT
} s_industry_t;

static const char *s_industry_code [IND_COUNT] = {
    "manufacturing", "wholesale_retail", "software_it", "construction",
    "catering", "logistics", "culture_tourism", "agriculture"
};

//  Name endings per industry; the generator picks one per enterprise
#define SUFFIXES 4
static const char *s_industry_suffix [IND_COUNT][SUFFIXES] = {
    { "机械制造有限公司", "精密零部件有限公司", "汽车配件有限公司", "新材料科技有限公司" },
    { "商贸有限公司", "贸易有限公司", "百货有限公司", "医药连锁有限公司" },
    { "信息技术有限公司", "网络科技有限公司", "软件有限公司", "数据科技有限公司" },
    { "建筑工程有限公司", "建设工程有限公司", "装饰工程有限公司", "市政工程有限公司" },
    { "餐饮管理有限公司", "火锅餐饮有限公司", "食品有限公司", "酒店管理有限公司" },
    { "物流有限公司", "供应链管理有限公司", "货运代理有限公司", "仓储服务有限公司" },
    { "文化传播有限公司", "旅游开发有限公司", "文化创意有限公司", "会展服务有限公司" },
    { "农业开发有限公司", "生态农业有限公司", "果蔬种植有限公司", "农产品有限公司" }
};

//  Trade names (字号), two characters each
static const char *s_trade_names [] = {
    "渝兴", "嘉陵", "两江", "江诚", "北辰", "鸿泰", "瑞丰", "金桥", "华岳", "巴渝",
    "山城", "朝天", "鼎盛", "恒通", "锦程", "汇川", "德润", "博远", "致远", "宏图",
    "聚力", "新航", "长嘉", "佳禾", "盛世", "江宇", "蓝海", "启明", "铜锣", "鱼复",
    "港城", "观澜", "融汇", "永盛", "同创", "协力", "云帆", "正弘", "泰和", "天驰",
    "弘毅", "明德", "晨曦", "合信", "睿智", "广源", "万通", "兴隆", "祥瑞", "福星",
    "宜居", "鑫达", "力行", "康桥", "九鼎", "凯歌", "星河", "朗润", "丰禾", "绿野"
};
#define TRADE_NAMES (sizeof (s_trade_names) / sizeof (s_trade_names [0]))
//  Attempts with the curated names before combining characters; the
//  default dataset never gets that far, so its names stay curated
#define CURATED_ATTEMPTS 50

//  Characters for made-up trade names: first and second position
static const char *s_trade_first [] = {
    "渝", "嘉", "江", "北", "鸿", "瑞", "金", "华", "巴", "鼎", "恒", "锦",
    "汇", "德", "博", "致", "宏", "聚", "新", "长", "佳", "盛", "蓝", "启",
    "观", "融", "永", "同", "协", "云", "正", "泰", "天", "弘", "明", "晨",
    "合", "睿", "广", "万", "祥", "福", "宜", "鑫", "康", "九", "凯", "星",
    "朗", "丰", "绿", "东", "海", "中"
};
#define TRADE_FIRST (sizeof (s_trade_first) / sizeof (s_trade_first [0]))
static const char *s_trade_second [] = {
    "兴", "陵", "诚", "辰", "泰", "丰", "桥", "岳", "城", "盛", "通", "程",
    "川", "润", "远", "图", "力", "航", "禾", "世", "宇", "海", "明", "澜",
    "创", "帆", "和", "驰", "毅", "德", "曦", "信", "智", "源", "达", "行",
    "河", "峰", "安", "捷", "科", "锐", "腾"
};
#define TRADE_SECOND (sizeof (s_trade_second) / sizeof (s_trade_second [0]))

//  Industry weights by the kind of place a town is
typedef enum { PLACE_COMMERCIAL, PLACE_MIXED, PLACE_PORT, PLACE_RURAL, PLACE_COUNT } s_place_t;

static const uint32_t s_place_weights [PLACE_COUNT][IND_COUNT] = {
    //  mfg  retail  it  constr  cater  logis  culture  agri
    {   2,   6,      5,  2,      5,     1,     3,       0 },   //  commercial core
    {   5,   4,      3,  4,      3,     2,     1,       0 },   //  mixed urban
    {   4,   3,      1,  3,      2,     7,     1,       0 },   //  port and parks
    {   5,   2,      0,  2,      2,     3,     3,       6 }    //  towns with farmland
};

//  --------------------------------------------------------------------------
//  Towns and streets (镇街) and parks (园区).  The first ones are used first,
//  so the default six already mix commercial, port and rural places.

typedef struct {
    const char *abbrev;                 //  grid id prefix
    const char *name;                   //  Chinese name
    s_place_t place;                    //  industry mix
    const char *communities [4];        //  illustrative community names
    int community_count;                //  its share of the 132
} s_town_t;

static const s_town_t s_towns [MAX_TOWNS] = {
    { "GYQ", "观音桥街道",     PLACE_COMMERCIAL, { "北城天街社区", "建新北路社区", "洋河社区", "鲤鱼池社区" }, 14 },
    { "SMH", "石马河街道",     PLACE_MIXED,      { "南桥寺社区", "石马河社区", "大庆村社区", "玉带山社区" }, 10 },
    { "DSB", "大石坝街道",     PLACE_MIXED,      { "大石坝社区", "东原社区", "红石路社区", "嘉陵社区" }, 11 },
    { "WLD", "五里店街道",     PLACE_COMMERCIAL, { "五里店社区", "江北嘴社区", "塔坪社区", "玉带河社区" }, 10 },
    { "CT",  "寸滩街道",       PLACE_PORT,       { "寸滩社区", "港城社区", "石子山社区", "黑石子社区" }, 9 },
    { "YZ",  "鱼嘴镇",         PLACE_RURAL,      { "鱼嘴社区", "双溪村", "东风村", "沙湾村" }, 12 },
    { "HXJ", "华新街街道",     PLACE_COMMERCIAL, { "华新村社区", "鸿恩寺社区", "小苑社区", "东原香山社区" }, 10 },
    { "JBC", "江北城街道",     PLACE_COMMERCIAL, { "江北城社区", "金沙门社区", "上浩社区", "弋阳观社区" }, 7 },
    { "GJT", "郭家沱街道",     PLACE_PORT,       { "郭家沱社区", "望江社区", "平安社区", "王家沟社区" }, 9 },
    { "TSP", "铁山坪街道",     PLACE_RURAL,      { "铁山坪社区", "唐家桥村", "莲花村", "新桥村" }, 8 },
    { "FS",  "复盛镇",         PLACE_RURAL,      { "复盛社区", "正街村", "八树村", "联盟村" }, 11 },
    { "WB",  "五宝镇",         PLACE_RURAL,      { "五宝社区", "渠溪村", "石坝村", "干坝村" }, 10 },
    { "GC",  "港城工业园区",   PLACE_PORT,       { "港城东区", "港城西区", "港城南区", "港城北区" }, 5 },
    { "JBZ", "江北嘴中央商务区", PLACE_COMMERCIAL, { "江北嘴金融城", "大剧院片区", "江北城东片区", "江北城西片区" }, 6 }
};

//  --------------------------------------------------------------------------
//  Credit codes

//  GB 32100 alphabet: digits and capitals without I, O, S, V, Z
static const char s_uscc_alphabet [] = "0123456789ABCDEFGHJKLMNPQRTUWXY";

//  GB 11714 organisation code check character for 8 characters (digits and
//  capitals, value of a letter = 10 + its place in A..Z).  Returns '0'..'9'
//  or 'X'.
static char
s_org_check (const char *body)
{
    static const int weights [8] = { 3, 7, 9, 10, 5, 8, 4, 2 };
    int sum = 0;
    for (int index = 0; index < 8; index++) {
        char c = body [index];
        int value = isdigit ((unsigned char) c)? c - '0': c - 'A' + 10;
        sum += value * weights [index];
    }
    int check = 11 - sum % 11;
    return check == 10? 'X': check == 11? '0': (char) ('0' + check);
}

//  Make a code: '9' (registered by the market regulator) '1' (enterprise),
//  region, 9-character organisation code whose 9th character is its own
//  GB 11714 check, and the GB 32100 check character.  Most enterprises
//  registered since 2015 have organisation codes starting "MA"; older ones
//  kept their all-digit codes.  Returns 0, or -1 if the check character
//  could not be computed (fm_ids reports a character outside the alphabet:
//  a bug here or there).
static int
s_code_make (s_rng_t *rng, bool recent, char *code)
{
    char body [9];
    if (recent) {
        body [0] = 'M';
        body [1] = 'A';
        for (int index = 2; index < 8; index++)
            body [index] = s_uscc_alphabet [s_rng_below (rng, 31)];
    }
    else
        for (int index = 0; index < 8; index++)
            body [index] = (char) ('0' + s_rng_below (rng, 10));
    body [8] = 0;
    snprintf (code, 19, "91" REGION_CODE "%s%c", body, s_org_check (body));
    char check = fm_credit_code_check_char (code);
    if (!check)
        return -1;
    code [17] = check;
    code [18] = 0;
    return 0;
}

//  --------------------------------------------------------------------------
//  Territory: communities, grids, officers

typedef struct {
    char code [16];                     //  "GYQ-01"
    char name [96];
    size_t town;                        //  index into s_towns
    size_t first_grid, grid_count;      //  its grids in the grid table
} s_community_t;

typedef struct {
    char id [24];                       //  "GYQ-01-02"
    char name [128];
    size_t town;                        //  index into s_towns
    size_t community;                   //  index into the community table
} s_grid_t;

typedef struct {
    char code [19];                     //  unified social credit code
    char name [128];
    s_industry_t industry;
    size_t grid;                        //  index into the grid table
    char tax_grade;                     //  A B M C D
    char party_grade;                   //  A B C D, '-' no party organisation
    int months;                         //  social insurance months paid
} s_enterprise_t;

//  --------------------------------------------------------------------------
//  Institutions (seed: 33 家金融机构结对服务 14 个镇街).  The first five
//  have hand-written configs in deploy/banks/ (their comments explain each
//  product); the other 28 are written by this generator from the product
//  templates below.  Pairing is policy, not chance: it is written out here,
//  and every town has at least one paired institution (check_dataset.sh).

typedef enum { INST_BANK, INST_INSURER, INST_GUARANTOR } s_inst_kind_t;
static const char *s_inst_kind_name [] = { "bank", "insurer", "guarantor" };

typedef struct {
    const char *code;                   //  service bank.<code>
    const char *name;
    s_inst_kind_t kind;
    const char *towns;                  //  paired towns, comma list of abbrevs
    const char *products;               //  template keys; NULL = hand-written
    const char *file;                   //  config file name in deploy/banks/
} s_institution_t;

static const s_institution_t s_institutions [] = {
    { "CQRCB",   "重庆农村商业银行",           INST_BANK,      "YZ,FS,WB,TSP", NULL, "cqrcb.cfg" },
    { "BCQ",     "重庆银行",                   INST_BANK,      "GYQ,JBZ",      NULL, "bcq.cfg" },
    { "CCBJB",   "中国建设银行重庆江北支行",   INST_BANK,      "HXJ,JBC",      NULL, "ccbjb.cfg" },
    { "ACIC",    "安诚财产保险",               INST_INSURER,   "GYQ,WLD",      NULL, "acic.cfg" },
    { "XNDB",    "重庆兴农融资担保",           INST_GUARANTOR, "YZ,FS,WB",     NULL, "xndb.cfg" },
    { "ICBCJB",  "中国工商银行重庆江北支行",   INST_BANK, "JBZ,JBC", "CREDIT,MORT,PROJECT", NULL },
    { "ABCJB",   "中国农业银行重庆江北支行",   INST_BANK, "FS,WB",   "CREDIT,MORT,PROJECT", NULL },
    { "BOCJB",   "中国银行重庆江北支行",       INST_BANK, "WLD",     "CREDIT,MORT,PROJECT", NULL },
    { "BOCOMJB", "交通银行重庆江北支行",       INST_BANK, "DSB",     "CREDIT,MORT,PROJECT", NULL },
    { "PSBCJB",  "中国邮政储蓄银行重庆江北区支行", INST_BANK, "YZ,TSP", "CREDIT,TECH", NULL },
    { "CMBJB",   "招商银行重庆江北支行",       INST_BANK, "GYQ",     "CREDIT,MORT,PROJECT", NULL },
    { "CITICJB", "中信银行重庆江北支行",       INST_BANK, "JBZ",     "CREDIT,MORT,PROJECT", NULL },
    { "CEBJB",   "中国光大银行重庆江北支行",   INST_BANK, "SMH",     "CREDIT,SUPPLY", NULL },
    { "CMBCJB",  "中国民生银行重庆江北支行",   INST_BANK, "HXJ",     "CREDIT,MORT,PROJECT", NULL },
    { "CIBJB",   "兴业银行重庆江北支行",       INST_BANK, "CT,GC",   "CREDIT,MORT,PROJECT", NULL },
    { "SPDBJB",  "浦发银行重庆江北支行",       INST_BANK, "JBZ",     "CREDIT,MORT,PROJECT", NULL },
    { "HXBJB",   "华夏银行重庆江北支行",       INST_BANK, "DSB",     "CREDIT,SUPPLY", NULL },
    { "PABJB",   "平安银行重庆江北支行",       INST_BANK, "GYQ",     "CREDIT,MORT,PROJECT", NULL },
    { "CGBJB",   "广发银行重庆江北支行",       INST_BANK, "SMH",     "CREDIT,MORT", NULL },
    { "CZBJB",   "浙商银行重庆江北支行",       INST_BANK, "GC",      "SUPPLY,TECH", NULL },
    { "CQTGB",   "重庆三峡银行江北支行",       INST_BANK, "GJT",     "CREDIT,MORT,PROJECT", NULL },
    { "CQFMB",   "重庆富民银行",               INST_BANK, "GJT",     "CREDIT,TECH", NULL },
    { "NCBCQ",   "南洋商业银行重庆分行",       INST_BANK, "JBZ",     "MORT,PROJECT", NULL },
    { "HFBJB",   "恒丰银行重庆江北支行",       INST_BANK, "CT",      "CREDIT,SUPPLY", NULL },
    { "BOHJB",   "渤海银行重庆江北支行",       INST_BANK, "WLD",     "CREDIT,MORT", NULL },
    { "PICCJB",  "中国人民财产保险重庆江北支公司", INST_INSURER, "GYQ,YZ", "YKB,BOND", NULL },
    { "CPICJB",  "太平洋财产保险重庆江北支公司", INST_INSURER, "HXJ",  "BOND", NULL },
    { "PAPCJB",  "平安财产保险重庆江北支公司", INST_INSURER, "JBZ",   "BOND", NULL },
    { "CLICJB",  "中国人寿财产保险重庆江北支公司", INST_INSURER, "DSB", "YKB", NULL },
    { "GBLIFE",  "国宝人寿保险",               INST_INSURER, "JBC",   "YKB", NULL },
    { "CQSMEG",  "重庆市中小企业融资担保",     INST_GUARANTOR, "GC,CT",   "POLICY,COMM", NULL },
    { "SXDB",    "重庆三峡融资担保",           INST_GUARANTOR, "GJT,TSP", "COMM", NULL },
    { "JBDB",    "重庆市江北区融资担保",       INST_GUARANTOR, "SMH,WB",  "POLICY", NULL }
};
#define INSTITUTIONS (sizeof (s_institutions) / sizeof (s_institutions [0]))

//  Product templates.  Each institution's copy varies its spread by its
//  place in the table (0..20 bp more), so that prices differ but the floor
//  always stays at or below the base rate for every term served.
typedef struct {
    const char *key;                    //  template key in s_institutions
    const char *code;                   //  product code
    const char *name;
    const char *kind;
    long min_yuan, max_yuan;
    int partial, min_term, max_term;
    const char *industries;
    const char *min_tax_grade;
    const char *collateral;
    int renewal, needs_credit_data, spread_bp, floor_bp;
    const char *levers;
    const char *risk_share;             //  guarantee: "gov,bank,guarantor" %
    const char *why;                    //  comment line in the config
} s_template_t;

static const s_template_t s_templates [] = {
    { "CREDIT", "PHXD", "普惠信用贷", "loan", 100000, 3000000, 0, 3, 36, "*", "B", "none",
      1, 1, 55, 340, "party_building,tax_credit", NULL,
      "credit loan for small firms, priced on government-held credit data" },
    { "MORT", "DYJY", "抵押经营贷", "loan", 500000, 20000000, 1, 12, 120, "*", "C", "property",
      1, 0, 20, 335, "party_building", NULL,
      "operating loan on a property mortgage; long terms use the 5-year LPR" },
    { "PROJECT", "XMD", "项目贷款", "loan", 10000000, 1000000000, 1, 12, 120, "*", "B", "any",
      0, 1, 10, 310, "*", NULL,
      "project and fixed-asset loans for larger firms (the matchmaking campaign)" },
    { "SUPPLY", "GYLD", "供应链应收贷", "loan", 1000000, 30000000, 1, 6, 24,
      "manufacturing,wholesale_retail,logistics,construction", "B", "receivables",
      1, 1, 40, 330, "*", NULL, "supply-chain loan on a receivables pledge" },
    { "TECH", "KCD", "科创贷", "loan", 500000, 10000000, 1, 12, 36,
      "software_it,manufacturing", "M", "any", 1, 0, 60, 350, "party_building", NULL,
      "loan for technology firms, any pledge; new taxpayers welcome" },
    { "BOND", "LYBX", "小微贷款履约保证保险", "insurance", 100000, 5000000, 1, 6, 36, "*", "B", "none",
      1, 1, -180, 100, "party_building", NULL,
      "performance bond insurance: the rate is the annual premium" },
    { "YKB", "YKB", "渝快保", "insurance", 10000, 1000000, 1, 12, 12, "*", "D", "none",
      1, 0, -285, 30, "party_building", NULL,
      "inclusive insurance (普惠保险) for small firms: one-year policies" },
    { "POLICY", "ZYD", "政银担风险分担", "guarantee", 100000, 10000000, 1, 6, 36, "*", "C", "none",
      1, 0, -245, 50, "party_building", "30,20,50",
      "policy guarantee with risk sharing: government 30%, bank 20%, guarantor 50%" },
    { "COMM", "RZDB", "融资担保", "guarantee", 1000000, 50000000, 1, 6, 60, "*", "B", "none",
      1, 0, -195, 80, "party_building", NULL,
      "commercial financing guarantee: the rate is the annual guarantee fee" }
};
#define TEMPLATES (sizeof (s_templates) / sizeof (s_templates [0]))

static const s_template_t *
s_template (const char *key)
{
    for (size_t index = 0; index < TEMPLATES; index++)
        if (streq (s_templates [index].key, key))
            return &s_templates [index];
    return NULL;
}

//  Surnames and given-name characters for grid officers
static const char *s_surnames [] = {
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "周", "吴", "徐", "孙", "胡", "朱",
    "高", "林", "何", "郭", "马", "罗", "梁", "宋", "郑", "谢", "唐", "冉", "向", "谭"
};
static const char *s_given [] = {
    "伟", "芳", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟",
    "涛", "明", "超", "秀", "霞", "平", "刚", "桂", "渝", "川", "嘉", "欣", "宇", "婷"
};
#define ARRAY_SIZE(a) (sizeof (a) / sizeof ((a) [0]))

//  --------------------------------------------------------------------------
//  Generation.  The order of draws is part of the output: see the banner.

//  Fill enterprise list [index], on grid `ordinal` of grids when ordinal <
//  grid_count (every grid gets one enterprise before any gets two), else
//  on a random grid.  Age drives the rest: a taxpayer less than a year old
//  is graded M (新设立纳税人); older ones get A..D; older ones more often
//  have a party organisation.  Returns 0, or -1 if no unique code or name
//  was found.
static int
s_enterprise_make (s_rng_t *rng, s_enterprise_t *self, size_t ordinal,
                   const size_t *grids, size_t grid_count,
                   const s_grid_t *grid_table, zhashx_t *taken)
{
    memset (self, 0, sizeof (*self));
    self->grid = grids [ordinal < grid_count? ordinal: s_rng_below (rng, (uint32_t) grid_count)];
    const s_town_t *town = &s_towns [grid_table [self->grid].town];
    self->industry = (s_industry_t) s_rng_weighted (rng, s_place_weights [town->place], IND_COUNT);

    //  Age in months, skewed young: most small firms are a few years old
    int age = 3 + (int) s_rng_below (rng, 60);
    if (s_rng_below (rng, 3) == 0)
        age += (int) s_rng_below (rng, 180);

    static const uint32_t tax_weights [] = { 30, 40, 0, 20, 10 };
    static const char tax_grades [] = "ABMCD";
    self->tax_grade = age < 12? 'M': tax_grades [s_rng_weighted (rng, tax_weights, 5)];

    //  Party organisation: about half of young firms, three in four older
    bool party = s_rng_below (rng, 100) < (age < 36? 50u: 75u);
    static const uint32_t party_weights [] = { 30, 40, 22, 8 };
    self->party_grade = party? "ABCD" [s_rng_weighted (rng, party_weights, 4)]: '-';

    int gap = (int) s_rng_below (rng, (uint32_t) (age < 12? age: 12) + 1);
    self->months = age - gap;

    for (int attempt = 0; attempt < 1000; attempt++) {
        if (s_code_make (rng, age < 100, self->code) != 0)
            return -1;
        if (!zhashx_lookup (taken, self->code))
            break;
        self->code [0] = 0;
    }
    for (int attempt = 0; attempt < 1000; attempt++) {
        //  The curated trade names first; when they run out (large
        //  datasets), names made of two characters from the lists below
        char trade [16];
        if (attempt < CURATED_ATTEMPTS)
            snprintf (trade, sizeof (trade), "%s",
                      s_trade_names [s_rng_below (rng, TRADE_NAMES)]);
        else {
            const char *first = s_trade_first [s_rng_below (rng, TRADE_FIRST)];
            const char *second = s_trade_second [s_rng_below (rng, TRADE_SECOND)];
            snprintf (trade, sizeof (trade), "%s%s", first, second);
        }
        const char *suffix = s_industry_suffix [self->industry][s_rng_below (rng, SUFFIXES)];
        //  Some firms carry the district in their name, as many do
        bool district = s_rng_below (rng, 5) == 0;
        snprintf (self->name, sizeof (self->name), "重庆%s%s%s",
                  district? "江北": "", trade, suffix);
        if (!zhashx_lookup (taken, self->name))
            break;
        self->name [0] = 0;
    }
    if (!*self->code || !*self->name)
        return -1;
    //  Codes and names cannot collide with each other: a code is ASCII,
    //  a name starts with "重庆"
    zhashx_insert (taken, self->code, self);
    zhashx_insert (taken, self->name, self);
    return 0;
}

//  Lay out the territory: communities per town as in s_towns, grids per
//  community drawn 8..12 and then nudged one at a time (within 6..15) until
//  they sum to GRID_TOTAL.  Cannot fail.
static void
s_territory_make (s_rng_t *rng, s_community_t *communities, s_grid_t *grids)
{
    size_t count = 0;
    for (size_t town = 0; town < MAX_TOWNS; town++)
        for (int index = 0; index < s_towns [town].community_count; index++) {
            s_community_t *self = &communities [count++];
            self->town = town;
            snprintf (self->code, sizeof (self->code), "%s-%02d",
                      s_towns [town].abbrev, index + 1);
            if (index < 4)
                snprintf (self->name, sizeof (self->name), "%s",
                          s_towns [town].communities [index]);
            else
                snprintf (self->name, sizeof (self->name), "%s第%d%s",
                          s_towns [town].name, index + 1,
                          s_towns [town].place == PLACE_RURAL? "村": "社区");
            self->grid_count = 8 + s_rng_below (rng, 5);
        }
    assert (count == COMMUNITY_TOTAL);
    size_t total = 0;
    for (size_t index = 0; index < count; index++)
        total += communities [index].grid_count;
    while (total != GRID_TOTAL) {
        s_community_t *self = &communities [s_rng_below (rng, COMMUNITY_TOTAL)];
        if (total < GRID_TOTAL && self->grid_count < 15) {
            self->grid_count++;
            total++;
        }
        else
        if (total > GRID_TOTAL && self->grid_count > 6) {
            self->grid_count--;
            total--;
        }
    }
    size_t next = 0;
    for (size_t index = 0; index < count; index++) {
        s_community_t *self = &communities [index];
        self->first_grid = next;
        for (size_t grid = 0; grid < self->grid_count; grid++) {
            s_grid_t *row = &grids [next++];
            row->town = self->town;
            row->community = index;
            snprintf (row->id, sizeof (row->id), "%s-%02zu", self->code, grid + 1);
            snprintf (row->name, sizeof (row->name), "%s第%zu网格", self->name, grid + 1);
        }
    }
    assert (next == GRID_TOTAL);
}

//  True if the comma list has item.  Cannot fail.
static bool
s_list_has (const char *list, const char *item)
{
    size_t length = strlen (item);
    for (const char *at = list; at && *at; ) {
        const char *comma = strchr (at, ',');
        size_t span = comma? (size_t) (comma - at): strlen (at);
        if (span == length && memcmp (at, item, length) == 0)
            return true;
        at = comma? comma + 1: NULL;
    }
    return false;
}

//  --------------------------------------------------------------------------
//  Output

//  Write one CSV field, quoted per RFC 4180 when it needs to be.
static void
s_csv_field (FILE *file, const char *text, bool last)
{
    if (strpbrk (text, ",\"\r\n")) {
        fputc ('"', file);
        for (const char *c = text; *c; c++) {
            if (*c == '"')
                fputc ('"', file);
            fputc (*c, file);
        }
        fputc ('"', file);
    }
    else
        fputs (text, file);
    fputs (last? "\n": ",", file);
}

static FILE *
s_open (const char *dir, const char *name, char *path, size_t size)
{
    snprintf (path, size, "%s/%s", dir, name);
    FILE *file = fopen (path, "w");
    if (!file)
        fprintf (stderr, "fm-gen-dataset: cannot write %s: %s\n", path, strerror (errno));
    return file;
}

static int
s_close (FILE *file, const char *path)
{
    if (fclose (file)) {
        fprintf (stderr, "fm-gen-dataset: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

//  Write towns.csv, communities.csv, grids.csv.  Returns 0 or -1.
static int
s_write_territory (const char *dir, const s_community_t *communities,
                   const s_grid_t *grids)
{
    char path [4096];
    FILE *file = s_open (dir, "towns.csv", path, sizeof (path));
    if (!file)
        return -1;
    fputs ("town_code,name,kind,communities,grids\n", file);
    for (size_t town = 0; town < MAX_TOWNS; town++) {
        size_t grid_count = 0;
        for (size_t index = 0; index < COMMUNITY_TOTAL; index++)
            if (communities [index].town == town)
                grid_count += communities [index].grid_count;
        const char *name = s_towns [town].name;
        const char *kind = strstr (name, "园区") || strstr (name, "商务区")? "园区"
                         : strstr (name, "镇")? "镇": "街道";
        fprintf (file, "%s,%s,%s,%d,%zu\n", s_towns [town].abbrev, name, kind,
                 s_towns [town].community_count, grid_count);
    }
    if (s_close (file, path))
        return -1;
    file = s_open (dir, "communities.csv", path, sizeof (path));
    if (!file)
        return -1;
    fputs ("community_code,town_code,name,grids\n", file);
    for (size_t index = 0; index < COMMUNITY_TOTAL; index++)
        fprintf (file, "%s,%s,%s,%zu\n", communities [index].code,
                 s_towns [communities [index].town].abbrev, communities [index].name,
                 communities [index].grid_count);
    if (s_close (file, path))
        return -1;
    file = s_open (dir, "grids.csv", path, sizeof (path));
    if (!file)
        return -1;
    fputs ("grid_id,town_code,community_code,town,community,grid_name\n", file);
    for (size_t index = 0; index < GRID_TOTAL; index++) {
        const s_grid_t *grid = &grids [index];
        s_csv_field (file, grid->id, false);
        s_csv_field (file, s_towns [grid->town].abbrev, false);
        s_csv_field (file, communities [grid->community].code, false);
        s_csv_field (file, s_towns [grid->town].name, false);
        s_csv_field (file, communities [grid->community].name, false);
        s_csv_field (file, grid->name, true);
    }
    return s_close (file, path);
}

//  Write officers.csv: 3..5 officers per community (3 each, then the rest
//  of OFFICER_TOTAL handed out one at a time to communities drawn at random
//  that have fewer than 5), each from an institution paired with the town
//  (round robin), sharing the community's grids round robin.  Returns 0 or
//  -1.
static int
s_write_officers (const char *dir, s_rng_t *rng, const s_community_t *communities,
                  const s_grid_t *grids)
{
    int per [COMMUNITY_TOTAL];
    for (size_t index = 0; index < COMMUNITY_TOTAL; index++)
        per [index] = 3;
    for (int extra = OFFICER_TOTAL - 3 * COMMUNITY_TOTAL; extra > 0; ) {
        size_t index = s_rng_below (rng, COMMUNITY_TOTAL);
        if (per [index] < 5) {
            per [index]++;
            extra--;
        }
    }
    char path [4096];
    FILE *file = s_open (dir, "officers.csv", path, sizeof (path));
    if (!file)
        return -1;
    fputs ("officer_id,name,institution,town_code,community_code,grids\n", file);
    int number = 0;
    size_t turn [MAX_TOWNS] = { 0 };
    for (size_t index = 0; index < COMMUNITY_TOTAL; index++) {
        const s_community_t *community = &communities [index];
        const char *town = s_towns [community->town].abbrev;
        //  The institutions paired with this town, in table order
        const char *paired [INSTITUTIONS];
        size_t paired_count = 0;
        for (size_t inst = 0; inst < INSTITUTIONS; inst++)
            if (s_list_has (s_institutions [inst].towns, town))
                paired [paired_count++] = s_institutions [inst].code;
        assert (paired_count > 0);
        for (int officer = 0; officer < per [index]; officer++) {
            char id [16], name [32], list [512] = "";
            snprintf (id, sizeof (id), "JBO%04d", ++number);
            snprintf (name, sizeof (name), "%s%s%s",
                      s_surnames [s_rng_below (rng, ARRAY_SIZE (s_surnames))],
                      s_given [s_rng_below (rng, ARRAY_SIZE (s_given))],
                      s_rng_below (rng, 2)? s_given [s_rng_below (rng, ARRAY_SIZE (s_given))]: "");
            for (size_t grid = (size_t) officer; grid < community->grid_count;
                 grid += (size_t) per [index]) {
                if (*list)
                    strcat (list, ";");
                strcat (list, grids [community->first_grid + grid].id);
            }
            const char *institution = paired [turn [community->town]++ % paired_count];
            s_csv_field (file, id, false);
            s_csv_field (file, name, false);
            s_csv_field (file, institution, false);
            s_csv_field (file, town, false);
            s_csv_field (file, community->code, false);
            s_csv_field (file, list, true);
        }
    }
    assert (number == OFFICER_TOTAL);
    return s_close (file, path);
}

//  Write enterprises.csv (the registry) and ratings.csv (the government's
//  ratings table: party organisation class, party-building grade with its
//  source and date, tax credit grade with its year, social insurance
//  months).  The ratings' extra details are drawn after every enterprise,
//  so they never change the registry.  Returns 0 or -1.
static int
s_write_enterprises (const char *dir, s_rng_t *rng, const s_enterprise_t *list,
                     size_t count, const s_grid_t *grids)
{
    char path [4096];
    FILE *file = s_open (dir, "enterprises.csv", path, sizeof (path));
    if (!file)
        return -1;
    fputs ("credit_code,name,industry,grid_id,tax_grade,party_grade,social_insurance_months\n", file);
    for (size_t index = 0; index < count; index++) {
        const s_enterprise_t *self = &list [index];
        char tax [2] = { self->tax_grade, 0 };
        char party [2] = { self->party_grade, 0 };
        char months [16];
        snprintf (months, sizeof (months), "%d", self->months);
        s_csv_field (file, self->code, false);
        s_csv_field (file, self->name, false);
        s_csv_field (file, s_industry_code [self->industry], false);
        s_csv_field (file, grids [self->grid].id, false);
        s_csv_field (file, tax, false);
        s_csv_field (file, party, false);
        s_csv_field (file, months, true);
    }
    if (s_close (file, path))
        return -1;

    file = s_open (dir, "ratings.csv", path, sizeof (path));
    if (!file)
        return -1;
    fputs ("credit_code,party_org,party_grade,party_source,party_rated_on,"
           "tax_grade,tax_year,social_insurance_months\n", file);
    //  Party-building ratings are issued twice a year; a firm with its own
    //  organisation is rated by the district's 两新工委, one in a joint
    //  organisation (联合党支部) by its town's party committee, in a
    //  separate class (SPEC.md "Ratings")
    static const char *dates [] = { "2022-06-30", "2022-12-31", "2023-06-30" };
    for (size_t index = 0; index < count; index++) {
        const s_enterprise_t *self = &list [index];
        const char *org = "none", *source = "", *date = "";
        char source_buf [96];
        if (self->party_grade != '-') {
            bool joint = s_rng_below (rng, 100) < 35;
            org = joint? "joint": "own";
            if (joint) {
                snprintf (source_buf, sizeof (source_buf), "%s党工委",
                          s_towns [grids [self->grid].town].name);
                source = source_buf;
            }
            else
                source = "江北区委两新工委";
            date = dates [s_rng_below (rng, 3)];
        }
        fprintf (file, "%s,%s,%c,%s,%s,%c,2022,%d\n", self->code, org,
                 self->party_grade, source, date, self->tax_grade, self->months);
    }
    return s_close (file, path);
}

//  Write institutions.csv, and with banks_dir the config of every generated
//  institution.  Returns 0 or -1.
static int
s_write_institutions (const char *dir, const char *banks_dir)
{
    char path [4096];
    FILE *file = s_open (dir, "institutions.csv", path, sizeof (path));
    if (!file)
        return -1;
    fputs ("code,name,kind,towns,products,config\n", file);
    for (size_t index = 0; index < INSTITUTIONS; index++) {
        const s_institution_t *self = &s_institutions [index];
        char config [64], towns [64], products [128] = "";
        if (self->file)
            snprintf (config, sizeof (config), "%s", self->file);
        else {
            snprintf (config, sizeof (config), "%s.cfg", self->code);
            for (char *c = config; *c; c++)
                *c = (char) tolower ((unsigned char) *c);
        }
        snprintf (towns, sizeof (towns), "%s", self->towns);
        for (char *c = towns; *c; c++)
            if (*c == ',')
                *c = ';';
        if (self->products) {
            const char *at = self->products;
            while (*at) {
                size_t span = strcspn (at, ",");
                char key [16];
                snprintf (key, sizeof (key), "%.*s", (int) span, at);
                const s_template_t *template = s_template (key);
                assert (template);      //  the tables above are ours
                if (*products)
                    strcat (products, ";");
                strcat (products, template->code);
                at += span + (at [span] == ',');
            }
        }
        else
            snprintf (products, sizeof (products), "(%s)", self->file);
        s_csv_field (file, self->code, false);
        s_csv_field (file, self->name, false);
        s_csv_field (file, s_inst_kind_name [self->kind], false);
        s_csv_field (file, towns, false);
        s_csv_field (file, products, false);
        s_csv_field (file, config, true);
        if (!banks_dir || !self->products)
            continue;

        char cfg_path [4096];
        FILE *cfg = s_open (banks_dir, config, cfg_path, sizeof (cfg_path));
        if (!cfg) {
            fclose (file);
            return -1;
        }
        fprintf (cfg,
            "#   %s - %s paired with %s (三网融合).\n"
            "#   Generated by fm-gen-dataset (deploy/gen): edit the generator, not\n"
            "#   this file.  LPR as of 2023-08-21; amounts in yuan, rates in bp.\n"
            "bank\n"
            "    code = %s\n"
            "    name = %s\n"
            "    lpr_1y_bp = 345\n"
            "    lpr_5y_bp = 420\n"
            "    offer_valid_days = 7\n"
            "    endpoint = tcp://127.0.0.1:7555     #   broker (demo overrides)\n"
            "    capacity = 16\n"
            "    towns = %s\n"
            "products\n",
            self->name, s_inst_kind_name [self->kind], self->towns,
            self->code, self->name, self->towns);
        int vary = (int) (index % 5) * 5;       //  0..20 bp on the spread
        const char *at = self->products;
        while (*at) {
            size_t span = strcspn (at, ",");
            char key [16];
            snprintf (key, sizeof (key), "%.*s", (int) span, at);
            const s_template_t *t = s_template (key);
            fprintf (cfg,
                "    %s\n"
                "        #   %s\n"
                "        name = %s\n"
                "        kind = %s\n"
                "        min_amount_yuan = %ld\n"
                "        max_amount_yuan = %ld\n"
                "        partial = %d\n"
                "        min_term_months = %d\n"
                "        max_term_months = %d\n"
                "        industries = %s\n"
                "        grids = *\n"
                "        min_tax_grade = %s\n"
                "        collateral = %s\n"
                "        renewal = %d\n"
                "        needs_credit_data = %d\n"
                "        spread_bp = %d\n"
                "        floor_bp = %d\n"
                "        levers = %s\n",
                t->code, t->why, t->name, t->kind, t->min_yuan, t->max_yuan,
                t->partial, t->min_term, t->max_term, t->industries, t->min_tax_grade,
                t->collateral, t->renewal, t->needs_credit_data, t->spread_bp + vary,
                t->floor_bp, t->levers);
            if (t->risk_share)
                fprintf (cfg, "        risk_share = %s\n", t->risk_share);
            at += span + (at [span] == ',');
        }
        if (s_close (cfg, cfg_path)) {
            fclose (file);
            return -1;
        }
    }
    return s_close (file, path);
}

//  Print count valid codes that are not in taken, one per line.  They are
//  drawn last, so asking for them never changes the dataset.  Returns 0,
//  or -1 if a check character could not be computed.
static int
s_print_spares (s_rng_t *rng, size_t count, zhashx_t *taken)
{
    for (size_t index = 0; index < count; index++) {
        char code [19];
        do
            if (s_code_make (rng, true, code))
                return -1;
        while (zhashx_lookup (taken, code));
        printf ("%s\n", code);
    }
    return 0;
}

static void
s_usage (FILE *file)
{
    fprintf (file,
        "Usage: fm-gen-dataset [OPTIONS]\n"
        "Write the Jiangbei dataset (deterministic) into --out: towns.csv,\n"
        "communities.csv, grids.csv, officers.csv, enterprises.csv, ratings.csv,\n"
        "institutions.csv; with --banks, the generated institutions' configs.\n"
        "  -o, --out DIR          output directory (default .)\n"
        "  -b, --banks DIR        also write the 28 generated bank configs there\n"
        "  -s, --seed N           splitmix64 seed (default %d)\n"
        "  -e, --enterprises N    enterprises, %d..%d (default %d; the first %d\n"
        "                         are the demo cohort)\n"
        "  -p, --spare N          also print N valid credit codes that are NOT\n"
        "                         in the registry (for tests of the 404 path)\n"
        "  -h, --help             this text\n",
        DEFAULT_SEED, CORE_ENTERPRISES, MAX_ENTERPRISES, DEFAULT_ENTERPRISES,
        CORE_ENTERPRISES);
}

//  Parse a bounded decimal integer option.  Returns 0 or -1 (message
//  printed).
static int
s_parse_int (const char *name, const char *text, long min, long max, long *value)
{
    char *end;
    errno = 0;
    long result = strtol (text, &end, 10);
    if (errno || end == text || *end || result < min || result > max) {
        fprintf (stderr, "fm-gen-dataset: --%s: '%s' is not an integer in %ld..%ld\n",
                 name, text, min, max);
        return -1;
    }
    *value = result;
    return 0;
}

int
main (int argc, char **argv)
{
    const char *out = ".", *banks = NULL;
    long seed = DEFAULT_SEED, enterprises = DEFAULT_ENTERPRISES, spare = 0;
    static const struct option options [] = {
        { "out", required_argument, NULL, 'o' },
        { "banks", required_argument, NULL, 'b' },
        { "seed", required_argument, NULL, 's' },
        { "enterprises", required_argument, NULL, 'e' },
        { "spare", required_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    int opt;
    while ((opt = getopt_long (argc, argv, "o:b:s:e:p:h", options, NULL)) != -1) {
        int rc = 0;
        switch (opt) {
            case 'o': out = optarg; break;
            case 'b': banks = optarg; break;
            case 's': rc = s_parse_int ("seed", optarg, 0, LONG_MAX, &seed); break;
            case 'e': rc = s_parse_int ("enterprises", optarg, CORE_ENTERPRISES,
                                        MAX_ENTERPRISES, &enterprises); break;
            case 'p': rc = s_parse_int ("spare", optarg, 0, 1000, &spare); break;
            case 'h': s_usage (stdout); return 0;
            default:  s_usage (stderr); return 2;
        }
        if (rc)
            return 2;
    }
    if (optind < argc) {
        fprintf (stderr, "fm-gen-dataset: unexpected argument '%s'\n", argv [optind]);
        return 2;
    }
    s_rng_t rng = { (uint64_t) seed };
    s_community_t *communities = calloc (COMMUNITY_TOTAL, sizeof (s_community_t));
    s_grid_t *grids = calloc (GRID_TOTAL, sizeof (s_grid_t));
    size_t *order = calloc (GRID_TOTAL, sizeof (size_t));
    s_enterprise_t *list = calloc ((size_t) enterprises, sizeof (s_enterprise_t));
    //  Codes and names already used, for uniqueness (values borrowed)
    zhashx_t *taken = zhashx_new ();
    int rc = 1;
    if (!communities || !grids || !order || !list || !taken) {
        fprintf (stderr, "fm-gen-dataset: out of memory\n");
        goto done;
    }
    //  The layout does not depend on draws, but grid indexes do: lay out
    //  the names first with a throwaway stream, so that the demo cohort
    //  below is drawn first from the real one (it was the whole dataset
    //  before the district's scale, and demo-requests.csv names it)
    s_rng_t layout = { (uint64_t) seed ^ UINT64_C (0x5DEECE66D) };
    s_territory_make (&layout, communities, grids);

    //  1. The demo cohort: on grids 01 and 02 of community 01 of the first
    //     six towns, in that order
    size_t core_count = 0;
    for (size_t index = 0; index < COMMUNITY_TOTAL; index++)
        if (communities [index].town < CORE_TOWNS
        &&  strstr (communities [index].code, "-01") == communities [index].code
                                                       + strlen (communities [index].code) - 3)
            for (size_t grid = 0; grid < CORE_GRIDS; grid++)
                order [core_count++] = communities [index].first_grid + grid;
    assert (core_count == CORE_TOWNS * CORE_GRIDS);
    for (size_t index = 0; index < CORE_ENTERPRISES; index++)
        if (s_enterprise_make (&rng, &list [index], index, order, core_count, grids, taken))
            goto failed;
    //  2. Everyone else, over every grid of the district
    for (size_t index = 0; index < GRID_TOTAL; index++)
        order [index] = index;
    for (size_t index = CORE_ENTERPRISES; index < (size_t) enterprises; index++)
        if (s_enterprise_make (&rng, &list [index], index - CORE_ENTERPRISES, order,
                               GRID_TOTAL, grids, taken))
            goto failed;
    //  3. Officers, ratings' details, spares
    if (s_write_territory (out, communities, grids)
    ||  s_write_officers (out, &rng, communities, grids)
    ||  s_write_enterprises (out, &rng, list, (size_t) enterprises, grids)
    ||  s_write_institutions (out, banks)
    ||  s_print_spares (&rng, (size_t) spare, taken))
        goto done;
    fprintf (stderr, "fm-gen-dataset: %d towns, %d communities, %d grids, %d officers, "
             "%zu institutions, %ld enterprises -> %s\n", MAX_TOWNS, COMMUNITY_TOTAL,
             GRID_TOTAL, OFFICER_TOTAL, INSTITUTIONS, enterprises, out);
    rc = 0;
    goto done;
failed:
    fprintf (stderr, "fm-gen-dataset: cannot make an enterprise (check character "
             "or unique name)\n");
done:
    zhashx_destroy (&taken);
    free (communities);
    free (grids);
    free (order);
    free (list);
    return rc;
}
