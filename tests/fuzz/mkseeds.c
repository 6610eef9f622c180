/*  =========================================================================
    mkseeds - writes the fuzzers' seed corpus (tests/fuzz/corpus/...)

    Valid bodies of each kind the codec knows, and the same bodies inside
    broker frame sequences (fuzz_broker's input format: each frame is a
    length byte, 0xFF meaning a two-byte big-endian length follows, then
    the bytes).  Run once by hand when the codec changes:
        mkseeds tests/fuzz/corpus
    =========================================================================
*/

#include "fm_proto.h"
#include "fm_batch.h"
#include "fm_mdp.h"
#include "fm_ids.h"

static void
s_write (const char *dir, const char *name, const byte *data, size_t size)
{
    char path [512];
    snprintf (path, sizeof (path), "%s/%s", dir, name);
    FILE *file = fopen (path, "wb");
    assert (file);
    assert (fwrite (data, 1, size, file) == size);
    fclose (file);
}

//  Frames -> fuzz_broker input
static size_t
s_pack (byte *out, const char *frames [], const size_t sizes [], size_t count)
{
    size_t length = 0;
    for (size_t index = 0; index < count; index++) {
        if (sizes [index] < 0xFF)
            out [length++] = (byte) sizes [index];
        else {
            out [length++] = 0xFF;
            out [length++] = (byte) (sizes [index] >> 8);
            out [length++] = (byte) sizes [index];
        }
        memcpy (out + length, frames [index], sizes [index]);
        length += sizes [index];
    }
    return length;
}

int
main (int argc, char *argv [])
{
    assert (argc == 2);
    char codec [256], broker [256];
    snprintf (codec, sizeof (codec), "%s/codec", argv [1]);
    snprintf (broker, sizeof (broker), "%s/broker", argv [1]);

    fm_msg_t *request = fm_msg_new (FM_MSG_REQUEST);
    snprintf (request->request.enterprise_id, FM_ENTERPRISE_ID_SIZE, "91500105MA5U0A0A0");
    request->request.enterprise_id [17] = fm_credit_code_check_char (request->request.enterprise_id);
    request->request.enterprise_id [18] = 0;
    snprintf (request->request.idem_key, FM_IDEM_KEY_SIZE, "seed-1");
    snprintf (request->request.purpose, FM_TEXT_SIZE, "购买设备");
    request->request.amount_fen = 300000000;
    request->request.term_months = 12;
    request->request.consent = FM_CONSENT_ALL;
    fm_error_t err;
    zframe_t *body = fm_msg_encode (request, &err);
    assert (body);
    s_write (codec, "request", zframe_data (body), zframe_size (body));

    fm_msg_t *error = fm_msg_new_error ("0123456789abcdef", 404, "企业不存在");
    zframe_t *error_body = fm_msg_encode (error, &err);
    assert (error_body);
    s_write (codec, "error", zframe_data (error_body), zframe_size (error_body));

    fm_ready_opts_t opts = { .capacity = 8, .heartbeat_ms = 1000, .batch = 1 };
    zframe_t *ready = fm_ready_opts_encode (&opts);
    s_write (codec, "ready_opts", zframe_data (ready), zframe_size (ready));
    fm_ready_opts_t batch_opts = { .capacity = 8, .heartbeat_ms = 1000, .batch = 4 };
    zframe_t *ready_batch = fm_ready_opts_encode (&batch_opts);
    s_write (codec, "ready_opts_batch", zframe_data (ready_batch), zframe_size (ready_batch));

    fm_event_t event;
    memset (&event, 0, sizeof (event));
    event.epoch = 1700000000000000;
    event.seq = 7;
    event.ts_us = 1700000000000001;
    event.type = FM_EV_OFFER_MADE;
    snprintf (event.request_id, sizeof (event.request_id), "0123456789abcdef");
    snprintf (event.enterprise_id, sizeof (event.enterprise_id), "%s",
              request->request.enterprise_id);
    snprintf (event.bank, sizeof (event.bank), "CQRCB");
    snprintf (event.product, sizeof (event.product), "GRIDE");
    snprintf (event.offer_id, sizeof (event.offer_id), "CQRCB/GRIDE");
    event.amount_fen = 300000000;
    event.term_months = 12;
    event.base_rate_bp = 375;
    event.effective_rate_bp = 345;
    byte buffer [4096];
    size_t size = fm_event_encode_into (&event, buffer, sizeof (buffer));
    assert (size);
    s_write (codec, "event", buffer, size);
    {   //  An event batch of that event twice (SPEC 12.3)
        byte batch [8192];
        fm_batch_writer_t writer;
        fm_batch_start (&writer, batch, sizeof (batch));
        assert (fm_batch_add (&writer, buffer, size));
        assert (fm_batch_add (&writer, buffer, size));
        s_write (codec, "event_batch", batch, fm_batch_finish (&writer));
    }

    //  Broker inputs: [identity][""][protocol][...]
    byte out [8192];
    {   //  Client REQUEST
        const char *frames [] = { "CLIENT01", "", FM_MDPC, FM_SERVICE_REQUEST,
                                  (char *) zframe_data (body) };
        size_t sizes [] = { 8, 0, 6, strlen (FM_SERVICE_REQUEST), zframe_size (body) };
        s_write (broker, "client_request", out, s_pack (out, frames, sizes, 5));
    }
    {   //  Worker READY with options
        byte command = FM_MDPW_READY;
        const char *frames [] = { "WORKER01", "", FM_MDPW, (char *) &command, "bank.CQRCB",
                                  (char *) zframe_data (ready) };
        size_t sizes [] = { 8, 0, 6, 1, 10, zframe_size (ready) };
        s_write (broker, "worker_ready", out, s_pack (out, frames, sizes, 6));
    }
    {   //  Worker REPLY with an error body
        byte command = FM_MDPW_REPLY;
        const char *frames [] = { "WORKER01", "", FM_MDPW, (char *) &command,
                                  "0123456789abcdef", "", (char *) zframe_data (error_body) };
        size_t sizes [] = { 8, 0, 6, 1, 16, 0, zframe_size (error_body) };
        s_write (broker, "worker_reply", out, s_pack (out, frames, sizes, 7));
    }
    {   //  Worker READY announcing batch 4, then REPLIES of two pairs
        byte command = FM_MDPW_READY;
        const char *frames [] = { "WORKER01", "", FM_MDPW, (char *) &command, "gov.credit",
                                  (char *) zframe_data (ready_batch) };
        size_t sizes [] = { 8, 0, 6, 1, 10, zframe_size (ready_batch) };
        s_write (broker, "worker_ready_batch", out, s_pack (out, frames, sizes, 6));
        byte replies_command = FM_MDPW_REPLIES;
        const char *replies [] = { "WORKER02", "", FM_MDPW, (char *) &command, "gov.credit",
                                   (char *) zframe_data (ready_batch), "\0END",
                                   "WORKER02", "", FM_MDPW, (char *) &replies_command,
                                   "0123456789abcdef", (char *) zframe_data (error_body),
                                   "1123456789abcdef", (char *) zframe_data (error_body) };
        size_t replies_sizes [] = { 8, 0, 6, 1, 10, zframe_size (ready_batch), 4,
                                    8, 0, 6, 1, 16, zframe_size (error_body),
                                    16, zframe_size (error_body) };
        s_write (broker, "worker_replies", out, s_pack (out, replies, replies_sizes, 15));
    }
    {   //  MMI and replay
        const char *frames [] = { "CLIENT01", "", FM_MDPC, "mmi.service", "fm.request" };
        size_t sizes [] = { 8, 0, 6, 11, 10 };
        s_write (broker, "client_mmi", out, s_pack (out, frames, sizes, 5));
        const char *replay [] = { "CLIENT01", "", FM_MDPC, "fm.replay", "0 1 100" };
        size_t replay_sizes [] = { 8, 0, 6, 9, 7 };
        s_write (broker, "client_replay", out, s_pack (out, replay, replay_sizes, 5));
    }
    zframe_destroy (&body);
    zframe_destroy (&error_body);
    zframe_destroy (&ready);
    zframe_destroy (&ready_batch);
    fm_msg_destroy (&request);
    fm_msg_destroy (&error);
    return 0;
}
