/*  =========================================================================
    fm_gen_dataset - deterministic generator of the demo dataset

    Writes the two files the government worker and the bank configs rely
    on: grids.csv (the 三网融合 grids of Chongqing's Jiangbei district:
    town or street, community, grid) and enterprises.csv (the registry
    finmatch-gov loads, one row per enterprise with a valid 18-character
    unified social credit code).  The output is checked in under
    deploy/data/; rerunning the generator with the same parameters gives
    byte-identical files, because every random choice comes from one
    splitmix64 stream (Steele, Lea & Flood 2014; constants as in Vigna's
    public-domain splitmix64.c) seeded with --seed, drawn in a fixed order.
    Changing the order of draws below changes the dataset: regenerate and
    re-check deploy/scenarios/ when you do.

    Scale is a parameter (--towns, --communities, --grids, --enterprises).
    The defaults give the small core dataset: 6 towns, 12 grids, 64
    enterprises.  The district itself has 14 镇街(园区), 132 社区(村) and
    1,372 grids (seed text), which --towns 14 --communities 10 --grids 10
    approximates.

    Town and street names are Jiangbei's real ones (the district's own site:
    九街三镇); the two 园区 that make up the seed's 14 are our reading of it.
    Community names are illustrative, not the civil-affairs register, and
    company names are invented.  Codes use the region code 500105 (江北区).

    Cost: linear in the number of rows (a hash table keeps codes and names
    unique); 20,000 enterprises take a fraction of a second.
    =========================================================================
*/

#include <czmq.h>
#include <getopt.h>
#include "fm_ids.h"

#define DEFAULT_SEED        20230930    //  date of the seed's figures (9月底)
#define MAX_TOWNS           14
#define MAX_COMMUNITIES     99          //  per town: two digits in grid ids
#define MAX_GRIDS           99          //  per community: two digits
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
} s_town_t;

static const s_town_t s_towns [MAX_TOWNS] = {
    { "GYQ", "观音桥街道",     PLACE_COMMERCIAL, { "北城天街社区", "建新北路社区", "洋河社区", "鲤鱼池社区" } },
    { "SMH", "石马河街道",     PLACE_MIXED,      { "南桥寺社区", "石马河社区", "大庆村社区", "玉带山社区" } },
    { "DSB", "大石坝街道",     PLACE_MIXED,      { "大石坝社区", "东原社区", "红石路社区", "嘉陵社区" } },
    { "WLD", "五里店街道",     PLACE_COMMERCIAL, { "五里店社区", "江北嘴社区", "塔坪社区", "玉带河社区" } },
    { "CT",  "寸滩街道",       PLACE_PORT,       { "寸滩社区", "港城社区", "石子山社区", "黑石子社区" } },
    { "YZ",  "鱼嘴镇",         PLACE_RURAL,      { "鱼嘴社区", "双溪村", "东风村", "沙湾村" } },
    { "HXJ", "华新街街道",     PLACE_COMMERCIAL, { "华新村社区", "鸿恩寺社区", "小苑社区", "东原香山社区" } },
    { "JBC", "江北城街道",     PLACE_COMMERCIAL, { "江北城社区", "金沙门社区", "上浩社区", "弋阳观社区" } },
    { "GJT", "郭家沱街道",     PLACE_PORT,       { "郭家沱社区", "望江社区", "平安社区", "王家沟社区" } },
    { "TSP", "铁山坪街道",     PLACE_RURAL,      { "铁山坪社区", "唐家桥村", "莲花村", "新桥村" } },
    { "FS",  "复盛镇",         PLACE_RURAL,      { "复盛社区", "正街村", "八树村", "联盟村" } },
    { "WB",  "五宝镇",         PLACE_RURAL,      { "五宝社区", "渠溪村", "石坝村", "干坝村" } },
    { "GC",  "港城工业园区",   PLACE_PORT,       { "港城东区", "港城西区", "港城南区", "港城北区" } },
    { "JBZ", "江北嘴中央商务区", PLACE_COMMERCIAL, { "江北嘴金融城", "大剧院片区", "江北城东片区", "江北城西片区" } }
};

typedef struct {
    char id [24];                       //  "GYQ-01-02"
    size_t town;                        //  index into s_towns
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

//  --------------------------------------------------------------------------
//  Generation.  The order of draws is part of the output: see the banner.

//  Fill one enterprise.  Age drives the rest: a taxpayer less than a year
//  old is graded M (新设立纳税人); older ones get A..D; older and larger ones
//  more often have a party organisation.  Returns 0, or -1 if no unique
//  code or name was found.
static int
s_enterprise_make (s_rng_t *rng, s_enterprise_t *list, size_t count,
                   const s_grid_t *grids, size_t grid_count, zhashx_t *taken)
{
    s_enterprise_t *self = &list [count];
    memset (self, 0, sizeof (*self));
    //  Every grid gets one enterprise before any gets two
    self->grid = count < grid_count? count: s_rng_below (rng, (uint32_t) grid_count);
    const s_town_t *town = &s_towns [grids [self->grid].town];
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

//  Write grids.csv into dir and fill grids (towns x communities x per
//  entries, town by town, community by community).  Returns 0, or -1 if
//  the file cannot be written (message printed).
static int
s_write_grids (const char *dir, size_t towns, size_t communities, size_t per,
               s_grid_t *grids)
{
    char path [4096];
    FILE *file = s_open (dir, "grids.csv", path, sizeof (path));
    if (!file)
        return -1;
    fputs ("grid_id,town,community,grid_name\n", file);
    size_t grid_index = 0;
    for (size_t town = 0; town < towns; town++)
        for (size_t community = 0; community < communities; community++) {
            char community_name [96];
            if (community < 4)
                snprintf (community_name, sizeof (community_name), "%s",
                          s_towns [town].communities [community]);
            else
                snprintf (community_name, sizeof (community_name), "%s第%zu社区",
                          s_towns [town].name, community + 1);
            for (size_t grid = 0; grid < per; grid++) {
                s_grid_t *self = &grids [grid_index++];
                self->town = town;
                //  Bounds checked by main: both numbers have two digits
                snprintf (self->id, sizeof (self->id), "%.3s-%02u-%02u",
                          s_towns [town].abbrev, (unsigned) (community + 1) % 100u,
                          (unsigned) (grid + 1) % 100u);
                char grid_name [128];
                snprintf (grid_name, sizeof (grid_name), "%s第%zu网格", community_name, grid + 1);
                s_csv_field (file, self->id, false);
                s_csv_field (file, s_towns [town].name, false);
                s_csv_field (file, community_name, false);
                s_csv_field (file, grid_name, true);
            }
        }
    if (fclose (file)) {
        fprintf (stderr, "fm-gen-dataset: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

//  Make count enterprises into list and write enterprises.csv into dir.
//  Returns 0, or -1 (message printed) if the file cannot be written or an
//  enterprise cannot be made.
static int
s_write_enterprises (const char *dir, s_rng_t *rng, const s_grid_t *grids,
                     size_t grid_count, s_enterprise_t *list, size_t count,
                     zhashx_t *taken)
{
    char path [4096];
    FILE *file = s_open (dir, "enterprises.csv", path, sizeof (path));
    if (!file)
        return -1;
    fputs ("credit_code,name,industry,grid_id,tax_grade,party_grade,social_insurance_months\n", file);
    for (size_t index = 0; index < count; index++) {
        if (s_enterprise_make (rng, list, index, grids, grid_count, taken)) {
            fprintf (stderr, "fm-gen-dataset: cannot make enterprise %zu "
                     "(check character or unique name)\n", index + 1);
            fclose (file);
            return -1;
        }
        s_enterprise_t *self = &list [index];
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
    if (fclose (file)) {
        fprintf (stderr, "fm-gen-dataset: cannot write %s\n", path);
        return -1;
    }
    return 0;
}

//  Print count valid codes that are not in taken, one per line.  They are
//  drawn after the registry, so asking for them never changes it.  Returns
//  0, or -1 if a check character could not be computed.
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
        "Write grids.csv and enterprises.csv (deterministic) into --out.\n"
        "  -o, --out DIR          output directory (default .)\n"
        "  -s, --seed N           splitmix64 seed (default %d)\n"
        "  -t, --towns N          towns/streets/parks, 1..%d (default 6)\n"
        "  -m, --communities N    communities per town, 1..%d (default 1)\n"
        "  -g, --grids N          grids per community, 1..%d (default 2)\n"
        "  -e, --enterprises N    enterprises, 1..%d (default 64)\n"
        "  -p, --spare N          also print N valid credit codes that are NOT\n"
        "                         in the registry (for tests of the 404 path)\n"
        "  -h, --help             this text\n",
        DEFAULT_SEED, MAX_TOWNS, MAX_COMMUNITIES, MAX_GRIDS, MAX_ENTERPRISES);
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
    const char *out = ".";
    long seed = DEFAULT_SEED, towns = 6, communities = 1, grids_per = 2;
    long enterprises = 64, spare = 0;
    static const struct option options [] = {
        { "out", required_argument, NULL, 'o' },
        { "seed", required_argument, NULL, 's' },
        { "towns", required_argument, NULL, 't' },
        { "communities", required_argument, NULL, 'm' },
        { "grids", required_argument, NULL, 'g' },
        { "enterprises", required_argument, NULL, 'e' },
        { "spare", required_argument, NULL, 'p' },
        { "help", no_argument, NULL, 'h' },
        { NULL, 0, NULL, 0 }
    };
    int opt;
    while ((opt = getopt_long (argc, argv, "o:s:t:m:g:e:p:h", options, NULL)) != -1) {
        int rc = 0;
        switch (opt) {
            case 'o': out = optarg; break;
            case 's': rc = s_parse_int ("seed", optarg, 0, LONG_MAX, &seed); break;
            case 't': rc = s_parse_int ("towns", optarg, 1, MAX_TOWNS, &towns); break;
            case 'm': rc = s_parse_int ("communities", optarg, 1, MAX_COMMUNITIES, &communities); break;
            case 'g': rc = s_parse_int ("grids", optarg, 1, MAX_GRIDS, &grids_per); break;
            case 'e': rc = s_parse_int ("enterprises", optarg, 1, MAX_ENTERPRISES, &enterprises); break;
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
    size_t grid_count = (size_t) (towns * communities * grids_per);
    s_grid_t *grids = calloc (grid_count, sizeof (s_grid_t));
    s_enterprise_t *list = calloc ((size_t) enterprises, sizeof (s_enterprise_t));
    //  Codes and names already used, for uniqueness (values borrowed)
    zhashx_t *taken = zhashx_new ();
    int rc = 1;
    if (!grids || !list || !taken)
        fprintf (stderr, "fm-gen-dataset: out of memory\n");
    else
    if (s_write_grids (out, (size_t) towns, (size_t) communities, (size_t) grids_per, grids) == 0
    &&  s_write_enterprises (out, &rng, grids, grid_count, list, (size_t) enterprises, taken) == 0
    &&  s_print_spares (&rng, (size_t) spare, taken) == 0) {
        fprintf (stderr, "fm-gen-dataset: %zu grids in %ld towns, %ld enterprises -> %s\n",
                 grid_count, towns, enterprises, out);
        rc = 0;
    }
    zhashx_destroy (&taken);
    free (grids);
    free (list);
    return rc;
}
