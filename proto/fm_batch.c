/*  =========================================================================
    fm_batch - event batches: many event bodies in one pub/sub message

    The framing is plain msgpack (array of bin) so that a subscriber in
    another language unpacks a batch with its own library; the writer
    always uses the 32-bit forms, whose headers it can write after the
    fact, and the reader takes every form msgpack allows.
    =========================================================================
*/

#include "fm_batch.h"
#include <msgpack.h>

static void
s_put_be32 (byte *at, uint32_t value)
{
    at [0] = (byte) (value >> 24);
    at [1] = (byte) (value >> 16);
    at [2] = (byte) (value >> 8);
    at [3] = (byte) value;
}

static uint32_t
s_get_be (const byte *at, size_t bytes)
{
    uint32_t value = 0;
    for (size_t index = 0; index < bytes; index++)
        value = value << 8 | at [index];
    return value;
}

void
fm_batch_start (fm_batch_writer_t *self, byte *buf, size_t size)
{
    assert (self);
    assert (buf && size >= FM_BATCH_HEAD_SIZE);
    self->data = buf;
    self->size = size;
    self->used = FM_BATCH_HEAD_SIZE;
    self->count = 0;
}

bool
fm_batch_add (fm_batch_writer_t *self, const byte *body, size_t size)
{
    assert (self);
    assert (body || size == 0);
    if (self->count == FM_BATCH_EVENTS_MAX
    ||  size > UINT32_MAX
    ||  self->size - self->used < FM_BATCH_ITEM_HEAD_SIZE + size)
        return false;
    byte *at = self->data + self->used;
    at [0] = 0xc6;                      //  bin 32
    s_put_be32 (at + 1, (uint32_t) size);
    if (size)
        memcpy (at + FM_BATCH_ITEM_HEAD_SIZE, body, size);
    self->used += FM_BATCH_ITEM_HEAD_SIZE + size;
    self->count++;
    return true;
}

size_t
fm_batch_finish (fm_batch_writer_t *self)
{
    assert (self);
    self->data [0] = 0xdd;              //  array 32
    s_put_be32 (self->data + 1, self->count);
    return self->used;
}

//  Read a msgpack header of one of the given forms at *pos.  fix_low..
//  fix_high is the fix form (its low bits hold the value under fix_mask),
//  forms [] the 8/16/32-bit forms' first bytes (0 = that form does not
//  exist).  Returns the value, or -1 if the bytes are not such a header.
static int64_t
s_read_header (const byte *data, size_t size, size_t *pos, byte fix_low,
               byte fix_high, byte fix_mask, const byte forms [3])
{
    if (*pos >= size)
        return -1;
    byte b = data [(*pos)++];
    if (fix_high && b >= fix_low && b <= fix_high)
        return b & fix_mask;
    for (size_t form = 0; form < 3; form++) {
        size_t bytes = (size_t) 1 << form;
        if (forms [form] && b == forms [form]) {
            if (size - *pos < bytes)
                return -1;
            uint32_t value = s_get_be (data + *pos, bytes);
            *pos += bytes;
            return value;
        }
    }
    return -1;
}

int
fm_batch_open (fm_batch_reader_t *self, const byte *data, size_t size,
               fm_error_t *err)
{
    assert (self);
    assert (err);
    static const byte array_forms [3] = { 0, 0xdc, 0xdd };
    static const byte bin_forms [3] = { 0xc4, 0xc5, 0xc6 };
    size_t pos = 0;
    int64_t count = s_read_header (data, size, &pos, 0x90, 0x9f, 0x0f, array_forms);
    const char *problem = NULL;
    if (count < 0)
        problem = "not a msgpack array";
    else
    if (count == 0 || count > FM_BATCH_EVENTS_MAX)
        problem = "must hold 1 to 4096 events";
    const byte *first = data + pos;
    for (int64_t index = 0; !problem && index < count; index++) {
        int64_t length = s_read_header (data, size, &pos, 0, 0, 0, bin_forms);
        if (length < 0)
            problem = "an element is not a msgpack bin";
        else
        if ((uint64_t) length > size - pos)
            problem = "an element runs past the end";
        else
            pos += (size_t) length;
    }
    if (!problem && pos != size)
        problem = "bytes after the last element";
    if (problem) {
        err->status = FM_STATUS_BAD_REQUEST;
        snprintf (err->text, sizeof (err->text), "event batch: %s", problem);
        return -1;
    }
    self->next = first;
    self->left = (uint32_t) count;
    return 0;
}

bool
fm_batch_next (fm_batch_reader_t *self, const byte **body, size_t *size)
{
    assert (self);
    if (self->left == 0)
        return false;
    //  fm_batch_open proved every header and length
    static const size_t head_bytes [3] = { 2, 3, 5 };
    byte form = *self->next - 0xc4;
    size_t head = head_bytes [form];
    *size = s_get_be (self->next + 1, head - 1);
    *body = self->next + head;
    self->next += head + *size;
    self->left--;
    return true;
}


//  --------------------------------------------------------------------------
//  Self test

//  Open bytes that must be refused, with a reason naming it
static void
s_expect_refused (const byte *data, size_t size, const char *reason)
{
    fm_batch_reader_t reader;
    fm_error_t err = { 0, "" };
    assert (fm_batch_open (&reader, data, size, &err) == -1);
    assert (err.status == FM_STATUS_BAD_REQUEST);
    assert (strstr (err.text, reason));
}

void
fm_batch_test (bool verbose)
{
    (void) verbose;
    printf (" * fm_batch: ");
    _Static_assert (FM_BATCH_EVENTS_MAX == 4096, "fm_batch_open's text says 4096");

    //  Real event bodies round-trip in order, byte for byte
    byte bodies [3][256];
    size_t sizes [3];
    for (int index = 0; index < 3; index++) {
        fm_event_t event;
        memset (&event, 0, sizeof (event));
        event.type = FM_EV_REQUEST_RECEIVED;
        event.epoch = 1;
        event.seq = (uint64_t) index + 1;
        event.ts_us = 1700000000000000;
        snprintf (event.request_id, sizeof (event.request_id), "%016x", index);
        snprintf (event.grid_id, sizeof (event.grid_id), "观音桥");
        sizes [index] = fm_event_encode_into (&event, bodies [index], sizeof (bodies [index]));
        assert (sizes [index] > 0);
    }
    byte buffer [1024];
    fm_batch_writer_t writer;
    fm_batch_start (&writer, buffer, sizeof (buffer));
    for (int index = 0; index < 3; index++)
        assert (fm_batch_add (&writer, bodies [index], sizes [index]));
    size_t size = fm_batch_finish (&writer);
    assert (size == FM_BATCH_HEAD_SIZE + 3 * FM_BATCH_ITEM_HEAD_SIZE
                    + sizes [0] + sizes [1] + sizes [2]);
    fm_batch_reader_t reader;
    fm_error_t err = { 0, "" };
    assert (fm_batch_open (&reader, buffer, size, &err) == 0);
    for (int index = 0; index < 3; index++) {
        const byte *body;
        size_t body_size;
        assert (fm_batch_next (&reader, &body, &body_size));
        assert (body_size == sizes [index]);
        assert (memcmp (body, bodies [index], body_size) == 0);
        fm_event_t event;
        assert (fm_event_decode (body, body_size, &event, &err) == 0);
        assert (event.seq == (uint64_t) index + 1);
        assert (streq (event.grid_id, "观音桥"));
    }
    const byte *body;
    size_t body_size;
    assert (!fm_batch_next (&reader, &body, &body_size));

    //  It is plain msgpack: msgpack-c, the reference, reads the writer's
    //  bytes as an array of three bins holding the bodies
    msgpack_zone zone;
    msgpack_zone_init (&zone, 2048);
    msgpack_object root;
    assert (msgpack_unpack ((const char *) buffer, size, NULL, &zone, &root)
            == MSGPACK_UNPACK_SUCCESS);
    assert (root.type == MSGPACK_OBJECT_ARRAY && root.via.array.size == 3);
    for (int index = 0; index < 3; index++) {
        msgpack_object *item = &root.via.array.ptr [index];
        assert (item->type == MSGPACK_OBJECT_BIN);
        assert (item->via.bin.size == sizes [index]);
        assert (memcmp (item->via.bin.ptr, bodies [index], sizes [index]) == 0);
    }
    msgpack_zone_destroy (&zone);
    //  and the reader takes the short forms another packer would write
    {
        byte alien [] = { 0x92, 0xc4, 0x01, 0x80, 0xc5, 0x00, 0x01, 0x80 };
        assert (fm_batch_open (&reader, alien, sizeof (alien), &err) == 0);
        assert (fm_batch_next (&reader, &body, &body_size) && body_size == 1);
        assert (body [0] == 0x80);
        assert (fm_batch_next (&reader, &body, &body_size) && body_size == 1);
        assert (!fm_batch_next (&reader, &body, &body_size));
    }

    //  The example of SPEC.md 12.3, byte for byte
    {
        byte one [] = { 0x81, 0xa1, 0x76, 0x01 };
        byte two [] = { 0x80 };
        byte expected [] = { 0xdd, 0, 0, 0, 2, 0xc6, 0, 0, 0, 4, 0x81, 0xa1, 0x76,
                             0x01, 0xc6, 0, 0, 0, 1, 0x80 };
        byte example [64];
        fm_batch_start (&writer, example, sizeof (example));
        assert (fm_batch_add (&writer, one, 4));
        assert (fm_batch_add (&writer, two, 1));
        assert (fm_batch_finish (&writer) == sizeof (expected));
        assert (memcmp (example, expected, sizeof (expected)) == 0);
    }

    //  A writer that is full refuses, and what it holds stays whole
    fm_batch_start (&writer, buffer, FM_BATCH_HEAD_SIZE + FM_BATCH_ITEM_HEAD_SIZE
                                     + sizes [0]);
    assert (fm_batch_add (&writer, bodies [0], sizes [0]));
    assert (!fm_batch_add (&writer, bodies [1], sizes [1]));
    size = fm_batch_finish (&writer);
    assert (fm_batch_open (&reader, buffer, size, &err) == 0 && reader.left == 1);

    //  Framing faults, each refused with its reason
    s_expect_refused (NULL, 0, "not a msgpack array");
    byte map [] = { 0x81, 0xa1, 0x76, 0x01 };
    s_expect_refused (map, sizeof (map), "not a msgpack array");
    byte empty [] = { 0x90 };
    s_expect_refused (empty, sizeof (empty), "1 to 4096");
    byte huge [] = { 0xdd, 0x00, 0x00, 0x10, 0x01 };
    s_expect_refused (huge, sizeof (huge), "1 to 4096");
    byte cut_header [] = { 0xdc, 0x00 };
    s_expect_refused (cut_header, sizeof (cut_header), "not a msgpack array");
    byte not_bin [] = { 0x91, 0xa1, 0x78 };
    s_expect_refused (not_bin, sizeof (not_bin), "not a msgpack bin");
    byte too_few [] = { 0x92, 0xc4, 0x01, 0x80 };
    s_expect_refused (too_few, sizeof (too_few), "not a msgpack bin");
    byte past_end [] = { 0x91, 0xc6, 0xff, 0xff, 0xff, 0xff, 0x80 };
    s_expect_refused (past_end, sizeof (past_end), "runs past the end");
    byte cut_length [] = { 0x91, 0xc5, 0x00 };
    s_expect_refused (cut_length, sizeof (cut_length), "not a msgpack bin");
    byte trailing [] = { 0x91, 0xc4, 0x01, 0x80, 0x00 };
    s_expect_refused (trailing, sizeof (trailing), "bytes after the last");
    printf ("OK\n");
}
