/*  =========================================================================
    fuzz_codec - libFuzzer target for the message and event codec

    Feeds any bytes to every decoder in proto/fm_proto (fm_msg_decode,
    fm_msg_reader_decode, fm_event_decode, fm_ready_opts_decode) and to
    the event batch reader (proto/fm_batch).  Whatever decodes must
    encode again, and the re-encoded body must decode to a message that
    encodes to the same bytes (the codec is canonical once a body went
    through it): a decoder that accepts what the encoder then refuses, or
    a round trip that changes the bytes, aborts the run like a crash.
    msgpack-c is the oracle for the msgpack layer the codec reads itself:
    every body a decoder accepts must be one complete map to msgpack-c.
    =========================================================================
*/

#include "fm_proto.h"
#include "fm_batch.h"
#include <msgpack.h>

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

//  Decode, encode, decode, encode: the two encodings must be equal.
static void
s_msg_round_trip (const uint8_t *data, size_t size)
{
    //  The broker's reusable reader (one for the whole run, so each input
    //  meets the leftovers of the ones before) agrees with fm_msg_decode
    static fm_msg_reader_t *reader = NULL;
    if (!reader)
        reader = fm_msg_reader_new ();
    fm_error_t err, reader_err;
    fm_msg_t *read = fm_msg_reader_decode (reader, data, size, &reader_err);
    fm_msg_t *msg = fm_msg_decode (data, size, &err);
    if (!msg) {
        assert (err.status >= 400 && err.status <= 599);
        assert (!read && reader_err.status == err.status);
        assert (streq (reader_err.text, err.text));
        return;
    }
    assert (read);
    zframe_t *first = fm_msg_encode (msg, &err);
    assert (first);             //  decoded = valid = encodable
    zframe_t *from_reader = fm_msg_encode (read, &err);
    assert (from_reader && zframe_eq (first, from_reader));
    zframe_destroy (&from_reader);
    fm_msg_t *again = fm_msg_decode (zframe_data (first), zframe_size (first), &err);
    assert (again);
    zframe_t *second = fm_msg_encode (again, &err);
    assert (second && zframe_eq (first, second));
    zframe_destroy (&first);
    zframe_destroy (&second);
    fm_msg_destroy (&again);
    fm_msg_destroy (&msg);
}

static void
s_event_round_trip (const uint8_t *data, size_t size)
{
    fm_error_t err;
    fm_event_t event;
    if (fm_event_decode (data, size, &event, &err))
        return;
    static byte first [64 * 1024], second [64 * 1024];
    size_t first_size = fm_event_encode_into (&event, first, sizeof (first));
    assert (first_size > 0);
    fm_event_t again;
    assert (fm_event_decode (first, first_size, &again, &err) == 0);
    size_t second_size = fm_event_encode_into (&again, second, sizeof (second));
    assert (second_size == first_size && memcmp (first, second, first_size) == 0);
    char topic [128];
    assert (fm_event_topic (&event, topic, sizeof (topic)) > 0);
}

//  msgpack-c is the reference for what msgpack is: the codec scans and
//  walks the bytes itself (proto/fm_proto.c, for speed), so whatever it
//  accepts must also unpack with msgpack-c to exactly one complete map.
//  (Only accepted bodies go to msgpack-c: on arbitrary bytes its unpacker
//  allocates whatever a container header claims, up to gigabytes, which is
//  why the codec never gave it unscanned input.)
static void
s_msgpack_agrees (const uint8_t *data, size_t size)
{
    msgpack_unpacked result;
    msgpack_unpacked_init (&result);
    size_t offset = 0;
    msgpack_unpack_return rc = msgpack_unpack_next (&result, (const char *) data,
                                                    size, &offset);
    assert (rc == MSGPACK_UNPACK_SUCCESS && offset == size
            && result.data.type == MSGPACK_OBJECT_MAP);
    msgpack_unpacked_destroy (&result);
}

static void
s_msgpack_oracle (const uint8_t *data, size_t size)
{
    fm_error_t err;
    fm_msg_t *msg = fm_msg_decode (data, size, &err);
    if (msg)
        s_msgpack_agrees (data, size);
    fm_msg_destroy (&msg);
    fm_event_t event;
    if (fm_event_decode (data, size, &event, &err) == 0)
        s_msgpack_agrees (data, size);
}

//  An event batch the reader accepts: its bodies lie inside the input, in
//  order, and written again by fm_batch_writer they read back the same;
//  to msgpack-c it is exactly one array of that many bins.
static void
s_batch_round_trip (const uint8_t *data, size_t size)
{
    fm_batch_reader_t reader;
    fm_error_t err;
    if (fm_batch_open (&reader, data, size, &err)) {
        assert (err.status == FM_STATUS_BAD_REQUEST);
        return;
    }
    static byte copy [1024 * 1024];
    fm_batch_writer_t writer;
    fm_batch_start (&writer, copy, sizeof (copy));
    uint32_t count = reader.left;
    const byte *body, *last_end = data;
    size_t body_size;
    while (fm_batch_next (&reader, &body, &body_size)) {
        assert (body >= last_end && body + body_size <= data + size);
        last_end = body + body_size;
        if (!fm_batch_add (&writer, body, body_size))
            return;             //  past the copy's size: nothing to compare
    }
    assert (last_end == data + size);
    size_t copy_size = fm_batch_finish (&writer);
    fm_batch_reader_t again;
    assert (fm_batch_open (&again, copy, copy_size, &err) == 0 && again.left == count);
    fm_batch_open (&reader, data, size, &err);
    const byte *copied;
    size_t copied_size;
    while (fm_batch_next (&reader, &body, &body_size)) {
        assert (fm_batch_next (&again, &copied, &copied_size));
        assert (copied_size == body_size && memcmp (copied, body, body_size) == 0);
    }
    msgpack_unpacked result;
    msgpack_unpacked_init (&result);
    size_t offset = 0;
    assert (msgpack_unpack_next (&result, (const char *) data, size, &offset)
            == MSGPACK_UNPACK_SUCCESS && offset == size);
    assert (result.data.type == MSGPACK_OBJECT_ARRAY && result.data.via.array.size == count);
    for (uint32_t index = 0; index < count; index++)
        assert (result.data.via.array.ptr [index].type == MSGPACK_OBJECT_BIN);
    msgpack_unpacked_destroy (&result);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    s_msgpack_oracle (data, size);
    s_batch_round_trip (data, size);
    s_msg_round_trip (data, size);
    s_event_round_trip (data, size);
    fm_ready_opts_t opts;
    fm_error_t err;
    if (fm_ready_opts_decode (data, size, &opts, &err) == 0) {
        zframe_t *frame = fm_ready_opts_encode (&opts);
        assert (frame);
        zframe_destroy (&frame);
    }
    return 0;
}
