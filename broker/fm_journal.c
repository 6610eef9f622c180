/*  =========================================================================
    fm_journal - the broker's local journal

    See fm_journal.h.  State: the segments on disk, oldest first, each with
    its pins (requests anchored there) and the last event seq it holds;
    the file descriptor of the newest one, which takes the appends.  A
    write that fails breaks the journal for the rest of the run (logged
    once): the broker goes on serving, and says so loudly, rather than
    stopping the district's traffic for a full disk.
    =========================================================================
*/

#include "fm_journal.h"
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>
#include <inttypes.h>

#define SEGMENT_FORMAT      "seg-%08" PRIu32 ".fmj"
#define BOOT_ID_SIZE        40
#define JOURNAL_BUFFER_MAX  (1024 * 1024)   //  buffered bytes written at once

typedef struct {
    uint32_t number;
    size_t pins;                    //  REQUEST records not yet released
    uint64_t last_seq;              //  Last event seq of the live epoch
                                    //  in it, 0 if none
    uint64_t bytes;
} s_segment_t;

struct _fm_journal_t {
    char *path;                     //  Owned: the directory
    fm_journal_sync_t sync;
    size_t segment_max;
    s_segment_t *segments;          //  Owned array, oldest first
    size_t segment_count;
    size_t segment_alloc;
    int fd;                         //  Newest segment, or -1
    bool broken;                    //  A write failed
    byte *buffer;                   //  Owned: records appended, not yet
    size_t buffered;                //  written (fm_journal_flush)
    size_t buffer_max;              //  its allocated size
    uint64_t epoch;                 //  Epoch being written
    fm_journal_roll_fn *roll_fn;    //  New segment callback, or NULL
    void *roll_arg;                 //  its argument, borrowed
    bool rolling;                   //  In roll_fn: appends do not rotate
    char boot_id [BOOT_ID_SIZE];    //  This boot's id
    //  What load found
    uint64_t loaded_epoch;          //  Last session's epoch, 0 if none
    char loaded_boot [BOOT_ID_SIZE];
    int loaded_sync;
    uint64_t loaded_seq;            //  Last event seq of loaded_epoch
};


//  --------------------------------------------------------------------------
//  CRC-32 (IEEE).  Where the CPU has PCLMULQDQ (x86-64 since 2010), runs
//  of 64 bytes and more are folded 64 bytes per step with carry-less
//  multiplies (Gopal, Ozturk et al., "Fast CRC Computation for Generic
//  Polynomials Using PCLMULQDQ Instruction", Intel 2009): the same CRC,
//  so the record format and old segments are unchanged, at about a tenth
//  of the instructions.  What is left (the tail under 16 bytes, short
//  records, other CPUs) goes slicing by 8: eight bytes per step.  The
//  CRC of every record the broker writes was its largest journal cost
//  (≈ 10 KB journaled per request).

static uint32_t s_crc_table [8][256];
static bool s_crc_folding;              //  PCLMULQDQ and SSE4.1 available

#if defined (__x86_64__) && defined (__GNUC__)
#   include <immintrin.h>
#   define FM_CRC_FOLD 1

//  Fold size bytes (>= 64, a multiple of 16) into the CRC register crc
//  (pre- and post-inversion are the caller's).  Returns the register.
//  The constants are x^(k) mod P for the reflected IEEE polynomial: k1,
//  k2 fold 512 bits ahead, k3, k4 128 bits, k5 64 to 32; then Barrett
//  reduction with P' = 0x1DB710641 and mu = 0x1F7011641.
__attribute__ ((target ("pclmul,sse4.1")))
static uint32_t
s_crc_fold (uint32_t crc, const byte *data, size_t size)
{
    const __m128i k1k2 = _mm_set_epi64x (0x01C6E41596, 0x0154442BD4);
    const __m128i k3k4 = _mm_set_epi64x (0x00CCAA009E, 0x01751997D0);
    const __m128i k5 = _mm_set_epi64x (0, 0x0163CD6124);
    const __m128i poly = _mm_set_epi64x (0x01F7011641, 0x01DB710641);
    const __m128i low32 = _mm_setr_epi32 (-1, 0, -1, 0);
    __m128i x1 = _mm_loadu_si128 ((const __m128i *) data);
    __m128i x2 = _mm_loadu_si128 ((const __m128i *) (data + 16));
    __m128i x3 = _mm_loadu_si128 ((const __m128i *) (data + 32));
    __m128i x4 = _mm_loadu_si128 ((const __m128i *) (data + 48));
    x1 = _mm_xor_si128 (x1, _mm_cvtsi32_si128 ((int) crc));
    data += 64;
    size -= 64;
    //  Four lanes of 128 bits, each folded 512 bits ahead
    while (size >= 64) {
        __m128i t1 = _mm_clmulepi64_si128 (x1, k1k2, 0x00);
        __m128i t2 = _mm_clmulepi64_si128 (x2, k1k2, 0x00);
        __m128i t3 = _mm_clmulepi64_si128 (x3, k1k2, 0x00);
        __m128i t4 = _mm_clmulepi64_si128 (x4, k1k2, 0x00);
        x1 = _mm_clmulepi64_si128 (x1, k1k2, 0x11);
        x2 = _mm_clmulepi64_si128 (x2, k1k2, 0x11);
        x3 = _mm_clmulepi64_si128 (x3, k1k2, 0x11);
        x4 = _mm_clmulepi64_si128 (x4, k1k2, 0x11);
        x1 = _mm_xor_si128 (_mm_xor_si128 (x1, t1),
                            _mm_loadu_si128 ((const __m128i *) data));
        x2 = _mm_xor_si128 (_mm_xor_si128 (x2, t2),
                            _mm_loadu_si128 ((const __m128i *) (data + 16)));
        x3 = _mm_xor_si128 (_mm_xor_si128 (x3, t3),
                            _mm_loadu_si128 ((const __m128i *) (data + 32)));
        x4 = _mm_xor_si128 (_mm_xor_si128 (x4, t4),
                            _mm_loadu_si128 ((const __m128i *) (data + 48)));
        data += 64;
        size -= 64;
    }
    //  The four lanes into one, then 16 bytes at a time
    __m128i t = _mm_clmulepi64_si128 (x1, k3k4, 0x00);
    x1 = _mm_xor_si128 (_mm_xor_si128 (_mm_clmulepi64_si128 (x1, k3k4, 0x11), t), x2);
    t = _mm_clmulepi64_si128 (x1, k3k4, 0x00);
    x1 = _mm_xor_si128 (_mm_xor_si128 (_mm_clmulepi64_si128 (x1, k3k4, 0x11), t), x3);
    t = _mm_clmulepi64_si128 (x1, k3k4, 0x00);
    x1 = _mm_xor_si128 (_mm_xor_si128 (_mm_clmulepi64_si128 (x1, k3k4, 0x11), t), x4);
    while (size >= 16) {
        t = _mm_clmulepi64_si128 (x1, k3k4, 0x00);
        x1 = _mm_xor_si128 (_mm_xor_si128 (_mm_clmulepi64_si128 (x1, k3k4, 0x11), t),
                            _mm_loadu_si128 ((const __m128i *) data));
        data += 16;
        size -= 16;
    }
    //  128 bits to 64, then 64 to 32 (Barrett)
    t = _mm_clmulepi64_si128 (x1, k3k4, 0x10);
    x1 = _mm_xor_si128 (_mm_srli_si128 (x1, 8), t);
    t = _mm_srli_si128 (x1, 4);
    x1 = _mm_xor_si128 (_mm_clmulepi64_si128 (_mm_and_si128 (x1, low32), k5, 0x00), t);
    t = _mm_clmulepi64_si128 (_mm_and_si128 (x1, low32), poly, 0x10);
    t = _mm_clmulepi64_si128 (_mm_and_si128 (t, low32), poly, 0x00);
    x1 = _mm_xor_si128 (x1, t);
    return (uint32_t) _mm_extract_epi32 (x1, 1);
}
#endif

static void
s_crc_init (void)
{
#if defined (FM_CRC_FOLD)
    __builtin_cpu_init ();
    s_crc_folding = __builtin_cpu_supports ("pclmul") && __builtin_cpu_supports ("sse4.1");
#endif
    if (s_crc_table [0][1])
        return;
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++)
            c = c & 1? 0xEDB88320u ^ (c >> 1): c >> 1;
        s_crc_table [0][n] = c;
    }
    for (uint32_t n = 0; n < 256; n++)
        for (int slice = 1; slice < 8; slice++)
            s_crc_table [slice][n] = (s_crc_table [slice - 1][n] >> 8)
                                   ^ s_crc_table [0][s_crc_table [slice - 1][n] & 0xFF];
}

//  CRC-32 of data continuing crc (0 to start), by slicing by 8 only.
static uint32_t
s_crc_sliced (uint32_t crc, const byte *data, size_t size)
{
    crc = ~crc;
    while (size >= 8) {
        uint32_t low, high;
        memcpy (&low, data, 4);
        memcpy (&high, data + 4, 4);
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
        low = __builtin_bswap32 (low);
        high = __builtin_bswap32 (high);
#endif
        low ^= crc;
        crc = s_crc_table [7][low & 0xFF] ^ s_crc_table [6][(low >> 8) & 0xFF]
            ^ s_crc_table [5][(low >> 16) & 0xFF] ^ s_crc_table [4][low >> 24]
            ^ s_crc_table [3][high & 0xFF] ^ s_crc_table [2][(high >> 8) & 0xFF]
            ^ s_crc_table [1][(high >> 16) & 0xFF] ^ s_crc_table [0][high >> 24];
        data += 8;
        size -= 8;
    }
    while (size--)
        crc = s_crc_table [0][(crc ^ *data++) & 0xFF] ^ (crc >> 8);
    return ~crc;
}

//  CRC-32 of data continuing crc (0 to start): folded where the CPU can,
//  the rest sliced.  Cannot fail.
static uint32_t
s_crc (uint32_t crc, const byte *data, size_t size)
{
#if defined (FM_CRC_FOLD)
    if (s_crc_folding && size >= 64) {
        size_t folded = size & ~(size_t) 15;
        crc = ~s_crc_fold (~crc, data, folded);
        data += folded;
        size -= folded;
    }
#endif
    return s_crc_sliced (crc, data, size);
}


//  --------------------------------------------------------------------------
//  Helpers

static void
s_boot_id (char *boot_id)
{
    *boot_id = 0;
    FILE *file = fopen ("/proc/sys/kernel/random/boot_id", "r");
    if (file) {
        if (fgets (boot_id, BOOT_ID_SIZE, file))
            boot_id [strcspn (boot_id, "\n")] = 0;
        fclose (file);
    }
}

//  Path of a segment; caller frees.
static char *
s_segment_path (fm_journal_t *self, uint32_t number)
{
    return zsys_sprintf ("%s/" SEGMENT_FORMAT, self->path, number);
}

static s_segment_t *
s_segment_add (fm_journal_t *self, uint32_t number)
{
    if (self->segment_count == self->segment_alloc) {
        self->segment_alloc = self->segment_alloc? self->segment_alloc * 2: 16;
        self->segments = (s_segment_t *) realloc (self->segments,
                                                  self->segment_alloc * sizeof (s_segment_t));
        assert (self->segments);
    }
    s_segment_t *segment = &self->segments [self->segment_count++];
    memset (segment, 0, sizeof (*segment));
    segment->number = number;
    return segment;
}

static s_segment_t *
s_segment_find (fm_journal_t *self, uint32_t number)
{
    //  Segments are few and sorted: binary search
    size_t low = 0, high = self->segment_count;
    while (low < high) {
        size_t middle = (low + high) / 2;
        if (self->segments [middle].number == number)
            return &self->segments [middle];
        if (self->segments [middle].number < number)
            low = middle + 1;
        else
            high = middle;
    }
    return NULL;
}

static int
s_compare_u32 (const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *) a, y = *(const uint32_t *) b;
    return x < y? -1: x > y;
}

static void
s_header (byte *header, fm_journal_type_t type, const char *id, uint64_t seq,
          size_t payload)
{
    uint32_t size = (uint32_t) (FM_JOURNAL_HEADER + payload);
    memset (header, 0, FM_JOURNAL_HEADER);
    memcpy (header, &size, 4);
    header [8] = (byte) type;
    memcpy (header + 12, &seq, 8);
    if (id)
        memcpy (header + 20, id, strnlen (id, 16));
}


//  --------------------------------------------------------------------------
//  Public API

fm_journal_t *
fm_journal_new (const char *path, fm_journal_sync_t sync, char *reason, size_t size)
{
    assert (path);
    s_crc_init ();
    if (!*path) {
        snprintf (reason, size, "empty journal path");
        return NULL;
    }
    if (mkdir (path, 0750) && errno != EEXIST) {
        snprintf (reason, size, "cannot create %s: %s", path, strerror (errno));
        return NULL;
    }
    if (access (path, R_OK | W_OK | X_OK)) {
        snprintf (reason, size, "%s: %s", path, strerror (errno));
        return NULL;
    }
    fm_journal_t *self = (fm_journal_t *) zmalloc (sizeof (fm_journal_t));
    assert (self);
    self->path = strdup (path);
    self->sync = sync;
    self->segment_max = FM_JOURNAL_SEGMENT_MAX;
    self->fd = -1;
    s_boot_id (self->boot_id);
    return self;
}

void
fm_journal_destroy (fm_journal_t **self_p)
{
    assert (self_p);
    if (*self_p) {
        fm_journal_t *self = *self_p;
        fm_journal_flush (self);
        if (self->fd != -1)
            close (self->fd);
        free (self->buffer);
        free (self->segments);
        free (self->path);
        free (self);
        *self_p = NULL;
    }
}

int
fm_journal_sync_parse (const char *text, fm_journal_sync_t *sync)
{
    if (text && streq (text, "normal"))
        *sync = FM_JOURNAL_SYNC_NORMAL;
    else
    if (text && streq (text, "full"))
        *sync = FM_JOURNAL_SYNC_FULL;
    else
        return -1;
    return 0;
}

void
fm_journal_set_segment_max (fm_journal_t *self, size_t bytes)
{
    assert (self);
    self->segment_max = bytes;
}

void
fm_journal_set_roll (fm_journal_t *self, fm_journal_roll_fn *fn, void *arg)
{
    assert (self);
    self->roll_fn = fn;
    self->roll_arg = arg;
}

//  Parse one segment's bytes; returns the offset of the first byte that
//  is not a whole valid record (== size if all are).
static size_t
s_parse (fm_journal_t *self, s_segment_t *segment, const byte *data, size_t size,
         fm_journal_fn *fn, void *arg, int64_t *records)
{
    size_t offset = 0;
    uint64_t epoch = 0;
    while (size - offset >= FM_JOURNAL_HEADER) {
        const byte *header = data + offset;
        uint32_t length, crc;
        memcpy (&length, header, 4);
        memcpy (&crc, header + 4, 4);
        if (length < FM_JOURNAL_HEADER || length > size - offset
        ||  s_crc (0, header + 8, length - 8) != crc
        ||  header [8] < FM_JOURNAL_SESSION || header [8] > FM_JOURNAL_WARNING)
            break;
        fm_journal_record_t record;
        memset (&record, 0, sizeof (record));
        record.type = (fm_journal_type_t) header [8];
        memcpy (&record.seq, header + 12, 8);
        memcpy (record.id, header + 20, 16);
        record.segment = segment->number;
        record.data = header + FM_JOURNAL_HEADER;
        record.size = length - FM_JOURNAL_HEADER;
        if (record.type == FM_JOURNAL_SESSION) {
            epoch = record.seq;
            if (epoch != self->loaded_epoch) {
                //  A new epoch: earlier events are of another one
                self->loaded_seq = 0;
                for (size_t index = 0; index < self->segment_count; index++)
                    self->segments [index].last_seq = 0;
            }
            self->loaded_epoch = epoch;
            snprintf (self->loaded_boot, sizeof (self->loaded_boot), "%.*s",
                      (int) (record.size > 1? record.size - 1: 0), (const char *) record.data);
            self->loaded_sync = record.size? record.data [record.size - 1]: 0;
        }
        else
        if (record.type == FM_JOURNAL_EVENT) {
            segment->last_seq = record.seq;
            self->loaded_seq = record.seq;
        }
        else
        if (record.type == FM_JOURNAL_REQUEST)
            segment->pins++;
        if (fn)
            fn (arg, &record);
        (*records)++;
        offset += length;
    }
    return offset;
}

int64_t
fm_journal_load (fm_journal_t *self, fm_journal_fn *fn, void *arg,
                 char *reason, size_t size)
{
    assert (self);
    assert (self->fd == -1);
    DIR *dir = opendir (self->path);
    if (!dir) {
        snprintf (reason, size, "%s: %s", self->path, strerror (errno));
        return -1;
    }
    uint32_t *numbers = NULL;
    size_t count = 0, alloc = 0;
    struct dirent *entry;
    while ((entry = readdir (dir))) {
        uint32_t number;
        char tail;
        if (sscanf (entry->d_name, "seg-%8" SCNu32 ".fm%c", &number, &tail) == 2
        &&  tail == 'j' && strlen (entry->d_name) == 16) {
            if (count == alloc) {
                alloc = alloc? alloc * 2: 16;
                numbers = (uint32_t *) realloc (numbers, alloc * sizeof (uint32_t));
                assert (numbers);
            }
            numbers [count++] = number;
        }
    }
    closedir (dir);
    if (count)                  //  numbers is NULL when there is none
        qsort (numbers, count, sizeof (uint32_t), s_compare_u32);
    int64_t records = 0;
    int rc = 0;
    for (size_t index = 0; index < count && rc == 0; index++) {
        char *path = s_segment_path (self, numbers [index]);
        int fd = open (path, O_RDWR | O_CLOEXEC);
        struct stat st;
        byte *data = NULL;
        if (fd == -1 || fstat (fd, &st)) {
            snprintf (reason, size, "%s: %s", path, strerror (errno));
            rc = -1;
        }
        else {
            size_t bytes = (size_t) st.st_size;
            data = (byte *) malloc (bytes? bytes: 1);
            assert (data);
            size_t done = 0;
            while (done < bytes) {
                ssize_t got = pread (fd, data + done, bytes - done, (off_t) done);
                if (got <= 0)
                    break;
                done += (size_t) got;
            }
            if (done < bytes) {
                snprintf (reason, size, "%s: short read", path);
                rc = -1;
            }
            else {
                s_segment_t *segment = s_segment_add (self, numbers [index]);
                size_t valid = s_parse (self, segment, data, bytes, fn, arg, &records);
                segment->bytes = valid;
                if (valid < bytes && index + 1 == count) {
                    zsys_warning ("fm_journal: %s: torn last record (%zu bytes) "
                                  "dropped: the broker stopped while writing it",
                                  path, bytes - valid);
                    if (ftruncate (fd, (off_t) valid))
                        zsys_warning ("fm_journal: %s: cannot cut the torn tail: %s",
                                      path, strerror (errno));
                }
                else
                if (valid < bytes)
                    zsys_error ("fm_journal: %s: damaged at byte %zu: the %zu bytes "
                                "after it are skipped", path, valid, bytes - valid);
            }
        }
        free (data);
        if (fd != -1)
            close (fd);
        free (path);
    }
    free (numbers);
    return rc? -1: records;
}

uint64_t
fm_journal_epoch (fm_journal_t *self)
{
    assert (self);
    if (!self->loaded_epoch)
        return 0;
    if (streq (self->loaded_boot, self->boot_id)
    ||  self->loaded_sync == FM_JOURNAL_SYNC_FULL)
        return self->loaded_epoch;
    return 0;
}

uint64_t
fm_journal_last_seq (fm_journal_t *self)
{
    assert (self);
    return fm_journal_epoch (self)? self->loaded_seq: 0;
}

//  Write what is buffered to the open segment: one write() (more only
//  for a short write), and fdatasync() under sync "full".  Returns 0 or
//  -1 (broken: logged once; what was buffered is lost with the journal).
static int
s_flush (fm_journal_t *self)
{
    if (self->buffered == 0)
        return self->broken? -1: 0;
    if (self->broken || self->fd == -1) {
        self->buffered = 0;
        return -1;
    }
    size_t done = 0;
    while (done < self->buffered) {
        ssize_t wrote = write (self->fd, self->buffer + done, self->buffered - done);
        if (wrote < 0 && errno == EINTR)
            continue;
        if (wrote <= 0) {
            zsys_error ("fm_journal: %s: write failed (%s): the journal is off "
                        "until the broker restarts; a restart now may lose requests",
                        self->path, wrote < 0? strerror (errno): "no space");
            self->broken = true;
            self->buffered = 0;
            return -1;
        }
        done += (size_t) wrote;
    }
    self->buffered = 0;
    if (self->sync == FM_JOURNAL_SYNC_FULL && fdatasync (self->fd)) {
        zsys_error ("fm_journal: %s: fdatasync failed: %s", self->path, strerror (errno));
        self->broken = true;
        return -1;
    }
    return 0;
}

//  Add one record for the open segment to the buffer (written by
//  s_flush; a buffer past JOURNAL_BUFFER_MAX is written at once).  The
//  segment's size, pins and last seq count it from now.  Returns 0 or -1
//  (broken).
static int
s_write (fm_journal_t *self, fm_journal_type_t type, const char *id, uint64_t seq,
         const void *head, size_t head_size, const void *data, size_t size)
{
    if (self->broken || self->fd == -1)
        return -1;
    size_t total = FM_JOURNAL_HEADER + head_size + size;
    if (self->buffered + total > self->buffer_max) {
        size_t want = self->buffer_max? self->buffer_max: 64 * 1024;
        while (want < self->buffered + total)
            want *= 2;
        byte *buffer = (byte *) realloc (self->buffer, want);
        if (!buffer) {
            zsys_error ("fm_journal: out of memory: the journal is off");
            self->broken = true;
            return -1;
        }
        self->buffer = buffer;
        self->buffer_max = want;
    }
    byte *header = self->buffer + self->buffered;
    s_header (header, type, id, seq, head_size + size);
    if (head_size)
        memcpy (header + FM_JOURNAL_HEADER, head, head_size);
    if (size)
        memcpy (header + FM_JOURNAL_HEADER + head_size, data, size);
    uint32_t crc = s_crc (0, header + 8, total - 8);
    memcpy (header + 4, &crc, 4);
    self->buffered += total;
    s_segment_t *segment = &self->segments [self->segment_count - 1];
    segment->bytes += total;
    if (type == FM_JOURNAL_EVENT)
        segment->last_seq = seq;
    else
    if (type == FM_JOURNAL_REQUEST)
        segment->pins++;
    if (self->buffered >= JOURNAL_BUFFER_MAX)
        return s_flush (self);
    return 0;
}

//  Open a new segment after the newest and write its SESSION record.
static int
s_roll (fm_journal_t *self, char *reason, size_t size)
{
    //  What is buffered belongs to the segment being closed
    if (s_flush (self) && self->fd != -1) {
        snprintf (reason, size, "%s: cannot write", self->path);
        return -1;
    }
    uint32_t number = self->segment_count?
        self->segments [self->segment_count - 1].number + 1: 1;
    char *path = s_segment_path (self, number);
    int fd = open (path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0640);
    if (fd == -1) {
        snprintf (reason, size, "%s: %s", path, strerror (errno));
        free (path);
        return -1;
    }
    free (path);
    if (self->fd != -1)
        close (self->fd);
    self->fd = fd;
    s_segment_add (self, number);
    if (self->sync == FM_JOURNAL_SYNC_FULL) {
        //  The new file's name must survive a power cut too
        int dir = open (self->path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (dir != -1) {
            fsync (dir);
            close (dir);
        }
    }
    byte session [BOOT_ID_SIZE + 1];
    size_t length = strlen (self->boot_id);
    memcpy (session, self->boot_id, length);
    session [length] = (byte) self->sync;
    if (s_write (self, FM_JOURNAL_SESSION, NULL, self->epoch, NULL, 0, session, length + 1)
    ||  s_flush (self)) {
        snprintf (reason, size, "%s: cannot write", self->path);
        return -1;
    }
    //  The owner's long-lived state, copied into the new segment (header
    //  comment): its appends stay in this segment whatever their size, or
    //  a copy bigger than segment_max would roll for ever
    if (self->roll_fn) {
        self->rolling = true;
        self->roll_fn (self->roll_arg, self, number);
        self->rolling = false;
    }
    if (self->broken) {
        snprintf (reason, size, "%s: cannot write", self->path);
        return -1;
    }
    return 0;
}

int
fm_journal_begin (fm_journal_t *self, uint64_t epoch, char *reason, size_t size)
{
    assert (self);
    assert (epoch);
    if (epoch != self->loaded_epoch)
        //  The old epoch's events are not replayed any more
        for (size_t index = 0; index < self->segment_count; index++)
            self->segments [index].last_seq = 0;
    self->epoch = epoch;
    return s_roll (self, reason, size);
}

uint32_t
fm_journal_append (fm_journal_t *self, fm_journal_type_t type, const char *id,
                   uint64_t seq, const void *data, size_t size)
{
    return fm_journal_append2 (self, type, id, seq, NULL, 0, data, size);
}

uint32_t
fm_journal_append2 (fm_journal_t *self, fm_journal_type_t type, const char *id,
                    uint64_t seq, const void *head, size_t head_size,
                    const void *data, size_t size)
{
    assert (self);
    if (self->broken || self->fd == -1)
        return 0;
    if (self->segments [self->segment_count - 1].bytes >= self->segment_max
    &&  !self->rolling) {
        char reason [256];
        if (s_roll (self, reason, sizeof (reason))) {
            zsys_error ("fm_journal: cannot start a segment: %s", reason);
            self->broken = true;
            return 0;
        }
    }
    if (s_write (self, type, id, seq, head, head_size, data, size))
        return 0;
    return self->segments [self->segment_count - 1].number;
}

int
fm_journal_flush (fm_journal_t *self)
{
    assert (self);
    return s_flush (self);
}

bool
fm_journal_pending (fm_journal_t *self)
{
    assert (self);
    return self->buffered > 0;
}

void
fm_journal_release (fm_journal_t *self, uint32_t segment_number)
{
    assert (self);
    s_segment_t *segment = s_segment_find (self, segment_number);
    if (segment && segment->pins > 0)
        segment->pins--;
}

size_t
fm_journal_prune (fm_journal_t *self, uint64_t keep_seq)
{
    assert (self);
    size_t deleted = 0;
    while (deleted + 1 < self->segment_count) {
        s_segment_t *segment = &self->segments [deleted];
        if (segment->pins
        ||  (segment->last_seq && keep_seq && segment->last_seq >= keep_seq))
            break;
        char *path = s_segment_path (self, segment->number);
        if (unlink (path) && errno != ENOENT) {
            zsys_warning ("fm_journal: cannot delete %s: %s", path, strerror (errno));
            free (path);
            break;
        }
        free (path);
        deleted++;
    }
    if (deleted) {
        memmove (self->segments, self->segments + deleted,
                 (self->segment_count - deleted) * sizeof (s_segment_t));
        self->segment_count -= deleted;
    }
    return deleted;
}

bool
fm_journal_broken (fm_journal_t *self)
{
    assert (self);
    return self->broken;
}

size_t
fm_journal_segments (fm_journal_t *self)
{
    assert (self);
    return self->segment_count;
}

uint64_t
fm_journal_bytes (fm_journal_t *self)
{
    assert (self);
    uint64_t bytes = 0;
    for (size_t index = 0; index < self->segment_count; index++)
        bytes += self->segments [index].bytes;
    return bytes;
}


//  --------------------------------------------------------------------------
//  Self test

typedef struct {
    size_t records;
    size_t requests;
    size_t events;
    uint64_t last_seq;
    char last_id [17];
    char last_payload [64];
    uint32_t request_segments [64];
} s_seen_t;

static void
s_test_collect (void *arg, const fm_journal_record_t *record)
{
    s_seen_t *seen = (s_seen_t *) arg;
    seen->records++;
    if (record->type == FM_JOURNAL_REQUEST && seen->requests < 64)
        seen->request_segments [seen->requests++] = record->segment;
    if (record->type == FM_JOURNAL_EVENT) {
        seen->events++;
        seen->last_seq = record->seq;
    }
    if (record->type != FM_JOURNAL_SESSION) {
        snprintf (seen->last_id, sizeof (seen->last_id), "%s", record->id);
        snprintf (seen->last_payload, sizeof (seen->last_payload), "%.*s",
                  (int) record->size, (const char *) record->data);
    }
}

//  Long-lived state across rotation and prune (fm_journal_set_roll): a
//  little table of names, "+name" held, "-name" gone, as the broker keeps
//  its risk warnings
typedef struct {
    char names [8][8];              //  held names, "" = free
    size_t rolls;                   //  roll callbacks seen
    uint32_t last_segment;          //  and the segment of the last
    uint32_t segment;               //  Load: segment of the last record
    bool after_session;             //  Load: the last record was SESSION
    size_t copies_first;            //  Load: WARNING records that came
                                    //  right after a SESSION
} s_table_t;

static void
s_table_apply (s_table_t *table, const char *record, size_t size)
{
    assert (size >= 2 && size < 8 && (*record == '+' || *record == '-'));
    char name [8];
    snprintf (name, sizeof (name), "%.*s", (int) size - 1, record + 1);
    int free_slot = -1;
    for (int index = 0; index < 8; index++) {
        if (streq (table->names [index], name)) {
            if (*record == '-')
                *table->names [index] = 0;
            return;                 //  held again: a copy or a replace
        }
        if (!*table->names [index] && free_slot == -1)
            free_slot = index;
    }
    if (*record == '+') {
        assert (free_slot >= 0);
        snprintf (table->names [free_slot], 8, "%s", name);
    }
}

static void
s_table_change (s_table_t *table, fm_journal_t *journal, const char *record)
{
    //  Journaled before applied, as the broker does
    assert (fm_journal_append (journal, FM_JOURNAL_WARNING, NULL, 0, record,
                               strlen (record)));
    s_table_apply (table, record, strlen (record));
}

static void
s_table_copy (void *arg, fm_journal_t *journal, uint32_t segment)
{
    s_table_t *table = (s_table_t *) arg;
    table->rolls++;
    table->last_segment = segment;
    for (int index = 0; index < 8; index++)
        if (*table->names [index]) {
            char record [8];
            snprintf (record, sizeof (record), "+%s", table->names [index]);
            //  Lands in the new segment even past segment_max
            assert (fm_journal_append (journal, FM_JOURNAL_WARNING, NULL, 0,
                                       record, strlen (record)) == segment);
        }
}

static void
s_table_load (void *arg, const fm_journal_record_t *record)
{
    s_table_t *table = (s_table_t *) arg;
    if (record->type == FM_JOURNAL_WARNING) {
        if (table->after_session && record->segment == table->segment)
            table->copies_first++;
        else
            table->after_session = false;
        s_table_apply (table, (const char *) record->data, record->size);
    }
    else
        table->after_session = record->type == FM_JOURNAL_SESSION;
    table->segment = record->segment;
}

//  Same names held, in any order
static bool
s_table_equal (s_table_t *one, s_table_t *other)
{
    size_t held = 0;
    for (int index = 0; index < 8; index++)
        if (*one->names [index]) {
            held++;
            bool found = false;
            for (int at = 0; at < 8 && !found; at++)
                found = streq (one->names [index], other->names [at]);
            if (!found)
                return false;
        }
    for (int index = 0; index < 8; index++)
        if (*other->names [index])
            held--;
    return held == 0;
}

static void
s_test_roll (const char *path)
{
    char reason [256];
    fm_journal_t *journal = fm_journal_new (path, FM_JOURNAL_SYNC_NORMAL,
                                            reason, sizeof (reason));
    assert (journal);
    assert (fm_journal_load (journal, NULL, NULL, reason, sizeof (reason)) == 0);
    s_table_t table;
    memset (&table, 0, sizeof (table));
    fm_journal_set_roll (journal, s_table_copy, &table);
    //  Begin is a new segment: the (empty) table is copied
    assert (fm_journal_begin (journal, 4000, reason, sizeof (reason)) == 0);
    assert (table.rolls == 1 && table.last_segment == 1);
    //  Round trip of the record type, with raise, replace, lift
    s_table_change (&table, journal, "+AAA");
    s_table_change (&table, journal, "+BBB");
    s_table_change (&table, journal, "+GONE");
    s_table_change (&table, journal, "-GONE");
    s_table_change (&table, journal, "+BBB");
    //  Small segments: events roll them; each new one starts with a copy
    //  of the table, bigger than segment_max, without rolling again
    fm_journal_set_segment_max (journal, 64);
    for (uint64_t seq = 1; seq <= 10; seq++) {
        assert (fm_journal_append (journal, FM_JOURNAL_EVENT, NULL, seq, "e", 1));
        if (seq == 5)
            s_table_change (&table, journal, "+CCC");
    }
    //  begin, one per event, and one for CCC's record
    size_t segments = fm_journal_segments (journal);
    assert (table.rolls == 12 && segments == 12);
    //  Nothing pins the old segments: all but the newest go, and with
    //  them the records where AAA, BBB and CCC were raised
    assert (fm_journal_prune (journal, 0) == segments - 1);
    assert (fm_journal_segments (journal) == 1);
    fm_journal_set_segment_max (journal, FM_JOURNAL_SEGMENT_MAX);
    s_table_change (&table, journal, "-CCC");
    fm_journal_destroy (&journal);

    //  Reload: the newest segment's copy and what followed it rebuild the
    //  table exactly
    journal = fm_journal_new (path, FM_JOURNAL_SYNC_NORMAL, reason, sizeof (reason));
    assert (journal);
    s_table_t loaded;
    memset (&loaded, 0, sizeof (loaded));
    //  SESSION, AAA BBB CCC (the copy), event 10, -CCC
    assert (fm_journal_load (journal, s_table_load, &loaded, reason, sizeof (reason)) == 6);
    assert (loaded.copies_first == 3);
    assert (s_table_equal (&table, &loaded));
    s_table_t expected;
    memset (&expected, 0, sizeof (expected));
    s_table_apply (&expected, "+AAA", 4);
    s_table_apply (&expected, "+BBB", 4);
    assert (s_table_equal (&expected, &loaded));
    //  And a restart copies it into its own segment
    loaded.rolls = 0;
    fm_journal_set_roll (journal, s_table_copy, &loaded);
    assert (fm_journal_begin (journal, 4000, reason, sizeof (reason)) == 0);
    assert (loaded.rolls == 1 && fm_journal_segments (journal) == 2);
    assert (fm_journal_prune (journal, 0) == 1);
    fm_journal_destroy (&journal);
    journal = fm_journal_new (path, FM_JOURNAL_SYNC_NORMAL, reason, sizeof (reason));
    s_table_t again;
    memset (&again, 0, sizeof (again));
    assert (fm_journal_load (journal, s_table_load, &again, reason, sizeof (reason)) == 3);
    assert (again.copies_first == 2 && s_table_equal (&table, &again));
    fm_journal_destroy (&journal);
}

//  The folded CRC (where the CPU has it) and slicing by 8 must give the
//  bytewise CRC for every length around their step sizes (64, 16, 8),
//  every alignment and a chained start: records written by either are
//  read by the other.
static void
s_test_crc (bool verbose)
{
    byte data [700];
    uint32_t seed = 12345;
    for (size_t index = 0; index < sizeof (data); index++) {
        seed = seed * 1103515245 + 12345;
        data [index] = (byte) (seed >> 16);
    }
    for (size_t size = 0; size + 16 <= sizeof (data); size++)
        for (size_t offset = 0; offset < 16; offset++) {
            uint32_t start = size % 3 == 0? 0: (uint32_t) (size * 2654435761u + offset);
            uint32_t bytewise = ~start;
            for (size_t index = 0; index < size; index++)
                bytewise = s_crc_table [0][(bytewise ^ data [offset + index]) & 0xFF]
                         ^ (bytewise >> 8);
            bytewise = ~bytewise;
            assert (s_crc (start, data + offset, size) == bytewise);
            assert (s_crc_sliced (start, data + offset, size) == bytewise);
        }
    if (verbose)
        printf ("(crc folded: %s) ", s_crc_folding? "yes": "no");
}

void
fm_journal_test (bool verbose)
{
    printf (" * fm_journal: ");
    s_crc_init ();
    assert (s_crc (0, (const byte *) "123456789", 9) == 0xCBF43926);     //  check value
    assert (s_crc (s_crc (0, (const byte *) "1234", 4), (const byte *) "56789", 5)
            == 0xCBF43926);
    s_test_crc (verbose);
    char dir [] = "/tmp/fm-journal-test-XXXXXX";
    assert (mkdtemp (dir));
    char *path = zsys_sprintf ("%s/journal", dir);
    char reason [256];

    //  Write: a session, requests, events, a result
    fm_journal_t *journal = fm_journal_new (path, FM_JOURNAL_SYNC_NORMAL,
                                            reason, sizeof (reason));
    assert (journal);
    s_seen_t seen = { 0 };
    assert (fm_journal_load (journal, s_test_collect, &seen, reason, sizeof (reason)) == 0);
    assert (fm_journal_epoch (journal) == 0);       //  Nothing to continue
    assert (fm_journal_begin (journal, 1000, reason, sizeof (reason)) == 0);
    uint32_t segment = fm_journal_append (journal, FM_JOURNAL_REQUEST,
                                          "0123456789abcdef", 0, "asked", 5);
    assert (segment == 1);
    for (uint64_t seq = 1; seq <= 10; seq++)
        assert (fm_journal_append (journal, FM_JOURNAL_EVENT, NULL, seq, "event", 5));
    //  In two parts: loaded as one payload "result", its CRC over both
    assert (fm_journal_append2 (journal, FM_JOURNAL_RESULT, "0123456789abcdef", 0,
                                "res", 3, "ult", 3) == 1);
    //  Appends are buffered: nothing past the SESSION record is on disk
    //  until fm_journal_flush writes them all with one write()
    char *first_path = zsys_sprintf ("%s/" SEGMENT_FORMAT, path, (uint32_t) 1);
    struct stat status;
    assert (stat (first_path, &status) == 0);
    off_t session_size = status.st_size;
    assert (fm_journal_pending (journal));
    assert ((uint64_t) session_size < fm_journal_bytes (journal));
    assert (fm_journal_flush (journal) == 0);
    assert (!fm_journal_pending (journal));
    assert (stat (first_path, &status) == 0);
    assert ((uint64_t) status.st_size == fm_journal_bytes (journal));
    assert (status.st_size == session_size + 12 * FM_JOURNAL_HEADER + 5 + 50 + 6);
    zstr_free (&first_path);
    fm_journal_destroy (&journal);

    //  Reopen and recover: everything, in order, and the epoch continues
    journal = fm_journal_new (path, FM_JOURNAL_SYNC_NORMAL, reason, sizeof (reason));
    assert (journal);
    memset (&seen, 0, sizeof (seen));
    assert (fm_journal_load (journal, s_test_collect, &seen, reason, sizeof (reason)) == 13);
    assert (seen.requests == 1 && seen.events == 10 && seen.last_seq == 10);
    assert (streq (seen.last_id, "0123456789abcdef"));
    assert (streq (seen.last_payload, "result"));
    assert (fm_journal_epoch (journal) == 1000);
    assert (fm_journal_last_seq (journal) == 10);
    assert (fm_journal_begin (journal, 1000, reason, sizeof (reason)) == 0);
    assert (fm_journal_segments (journal) == 2);
    //  Segment 1 is pinned by its request and holds events 1..10
    assert (fm_journal_prune (journal, 5) == 0);
    fm_journal_release (journal, 1);
    assert (fm_journal_prune (journal, 5) == 0);     //  events 5..10 kept
    assert (fm_journal_prune (journal, 11) == 1);    //  now it goes
    assert (fm_journal_segments (journal) == 1);
    //  Small segments roll; pins keep them, releases let them go
    fm_journal_set_segment_max (journal, 200);
    uint32_t segments [20];
    for (int index = 0; index < 20; index++) {
        char id [17];
        snprintf (id, sizeof (id), "%016x", index);
        segments [index] = fm_journal_append (journal, FM_JOURNAL_REQUEST, id, 0,
                                              "a request body of some size", 27);
        assert (segments [index] >= 2);
    }
    assert (fm_journal_segments (journal) > 5);
    size_t before = fm_journal_segments (journal);
    //  Release every request of the oldest segment: it can go
    int released = 0;
    while (released < 20 && segments [released] == segments [0])
        fm_journal_release (journal, segments [released++]);
    assert (fm_journal_prune (journal, 0) == 1);
    assert (fm_journal_segments (journal) < before);
    for (int index = released; index < 20; index++)
        fm_journal_release (journal, segments [index]);
    fm_journal_prune (journal, 0);
    assert (fm_journal_segments (journal) == 1);    //  Only the one written
    uint64_t bytes = fm_journal_bytes (journal);
    assert (bytes > 0);
    //  A record appended after the prune is found on reload
    uint32_t last = fm_journal_append (journal, FM_JOURNAL_END, "00000000000000aa", 0, NULL, 0);
    assert (last);
    fm_journal_destroy (&journal);

    //  Torn tail: half a record at the end of the newest segment is
    //  ignored and cut off, and the records before it stay
    char *segment_path = zsys_sprintf ("%s/seg-%08" PRIu32 ".fmj", path, last);
    struct stat st;
    assert (stat (segment_path, &st) == 0);
    off_t good_size = st.st_size;
    FILE *file = fopen (segment_path, "ab");
    assert (file);
    byte torn [FM_JOURNAL_HEADER + 4];
    s_header (torn, FM_JOURNAL_RESULT, "00000000000000bb", 0, 100);
    memset (torn + FM_JOURNAL_HEADER, 'x', 4);
    assert (fwrite (torn, 1, sizeof (torn), file) == sizeof (torn));
    fclose (file);
    journal = fm_journal_new (path, FM_JOURNAL_SYNC_NORMAL, reason, sizeof (reason));
    assert (journal);
    memset (&seen, 0, sizeof (seen));
    assert (fm_journal_load (journal, s_test_collect, &seen, reason, sizeof (reason)) > 0);
    assert (streq (seen.last_id, "00000000000000aa"));
    assert (stat (segment_path, &st) == 0 && st.st_size == good_size);
    //  A record with a bad checksum is no better than a torn one
    fm_journal_destroy (&journal);
    file = fopen (segment_path, "ab");
    assert (file);
    byte bad [FM_JOURNAL_HEADER + 4];
    s_header (bad, FM_JOURNAL_END, "00000000000000cc", 0, 4);
    memcpy (bad + FM_JOURNAL_HEADER, "junk", 4);     //  crc left 0
    assert (fwrite (bad, 1, sizeof (bad), file) == sizeof (bad));
    fclose (file);
    journal = fm_journal_new (path, FM_JOURNAL_SYNC_NORMAL, reason, sizeof (reason));
    memset (&seen, 0, sizeof (seen));
    assert (fm_journal_load (journal, s_test_collect, &seen, reason, sizeof (reason)) > 0);
    assert (streq (seen.last_id, "00000000000000aa"));
    //  Another epoch: the old events are no longer needed by the replay
    assert (fm_journal_begin (journal, 2000, reason, sizeof (reason)) == 0);
    fm_journal_destroy (&journal);

    //  Sync full works the same (and survives power loss)
    journal = fm_journal_new (path, FM_JOURNAL_SYNC_FULL, reason, sizeof (reason));
    assert (journal);
    assert (fm_journal_load (journal, NULL, NULL, reason, sizeof (reason)) > 0);
    assert (fm_journal_epoch (journal) == 2000);
    assert (fm_journal_begin (journal, 2000, reason, sizeof (reason)) == 0);
    assert (fm_journal_append (journal, FM_JOURNAL_EVENT, NULL, 1, "e", 1));
    fm_journal_destroy (&journal);

    //  Settings and refusals
    fm_journal_sync_t sync;
    assert (fm_journal_sync_parse ("full", &sync) == 0 && sync == FM_JOURNAL_SYNC_FULL);
    assert (fm_journal_sync_parse ("normal", &sync) == 0 && sync == FM_JOURNAL_SYNC_NORMAL);
    assert (fm_journal_sync_parse ("fast", &sync) == -1);
    assert (fm_journal_new ("", FM_JOURNAL_SYNC_NORMAL, reason, sizeof (reason)) == NULL);
    assert (fm_journal_new ("/proc/no/such/dir", FM_JOURNAL_SYNC_NORMAL,
                            reason, sizeof (reason)) == NULL);

    //  Cost of an append (the broker pays this per record)
    journal = fm_journal_new (path, FM_JOURNAL_SYNC_NORMAL, reason, sizeof (reason));
    assert (fm_journal_load (journal, NULL, NULL, reason, sizeof (reason)) >= 0);
    assert (fm_journal_begin (journal, 3000, reason, sizeof (reason)) == 0);
    byte body [300];
    memset (body, 'b', sizeof (body));
    int64_t start = zclock_usecs ();
    for (uint64_t seq = 1; seq <= 10000; seq++) {
        fm_journal_append (journal, FM_JOURNAL_EVENT, NULL, seq, body, sizeof (body));
        if (seq % 10 == 0)
            fm_journal_flush (journal);     //  as the broker: per loop turn
    }
    int64_t spent = zclock_usecs () - start;
    if (verbose)
        printf ("(append of 300 bytes, flushed every 10: %.2f us) ",
                (double) spent / 10000.0);
    fm_journal_destroy (&journal);

    //  Long-lived state survives rotation and prune
    char *roll_path = zsys_sprintf ("%s/roll", dir);
    s_test_roll (roll_path);
    zstr_free (&roll_path);

    //  Clean up the directory
    char *command = zsys_sprintf ("rm -rf '%s'", dir);
    assert (system (command) == 0);
    zstr_free (&command);
    zstr_free (&segment_path);
    zstr_free (&path);
    printf ("OK\n");
}
