/*  =========================================================================
    fm_mdp - ZeroMQ RFC 7/MDP (Majordomo 0.1) frame constants

    finmatch's client and worker sides are 7/MDP: any Majordomo client or
    worker, in any language, interoperates.  This header owns the constants
    of that framing; the broker, fm_worker and fm_client build and parse
    frames with them.  Frame layouts (after the ROUTER identity frame at
    the broker):

      client -> broker   [""]["MDPC01"][service][body]
      broker -> client   [""]["MDPC01"][service][body]
      worker -> broker   [""]["MDPW01"][0x01 READY][service][opts?]
                         [""]["MDPW01"][0x03 REPLY][reply-to][""][body]
                         [""]["MDPW01"][0x04 HEARTBEAT]
                         [""]["MDPW01"][0x05 DISCONNECT]
                         [""]["MDPW01"][0x07 REPLIES]([reply-to][body]){1..}
      broker -> worker   [""]["MDPW01"][0x02 REQUEST][reply-to][""][body]
                         [""]["MDPW01"][0x04 HEARTBEAT]
                         [""]["MDPW01"][0x05 DISCONNECT]
                         [""]["MDPW01"][0x06 REQUESTS]([reply-to][body]){1..batch}

    "reply-to" is opaque to workers: they echo it.  The broker puts its own
    correlation token there (SPEC.md "Correlation").

    REQUESTS and REPLIES are finmatch's query batches (SPEC.md 4.2): many
    requests or replies in one message, to save the per-message costs.
    The broker sends REQUESTS only to a worker whose READY options
    announced batch >= 2, with at most that many pairs; such a worker may
    answer with REPLY or REPLIES in any grouping.  Inside a pair there is
    no empty delimiter.
    =========================================================================
*/

#ifndef FM_MDP_H_INCLUDED
#define FM_MDP_H_INCLUDED

#define FM_MDPC                 "MDPC01"
#define FM_MDPW                 "MDPW01"

#define FM_MDPW_READY           0x01
#define FM_MDPW_REQUEST         0x02
#define FM_MDPW_REPLY           0x03
#define FM_MDPW_HEARTBEAT       0x04
#define FM_MDPW_DISCONNECT      0x05
#define FM_MDPW_REQUESTS        0x06    //  query batch, broker -> worker
#define FM_MDPW_REPLIES         0x07    //  query batch, worker -> broker

//  Most [reply-to][body] pairs one REQUESTS or REPLIES may carry, and the
//  bound of the READY option "batch"
#define FM_MDPW_BATCH_MAX       1024

//  Services
#define FM_SERVICE_REQUEST      "fm.request"    //  handled inside the broker
#define FM_SERVICE_ACCEPT       "fm.accept"     //  handled inside the broker
#define FM_SERVICE_STATUS       "fm.status"     //  handled inside the broker
#define FM_SERVICE_REPLAY       "fm.replay"     //  handled inside the broker:
                                                //  recent events (fm_replay.h)
#define FM_SERVICE_GOV          "gov.credit"
#define FM_SERVICE_BANK_PREFIX  "bank."         //  + bank code
#define FM_SERVICE_MMI          "mmi.service"   //  8/MMI

//  Defaults shared by broker and workers (msecs); all are config.  A dead
//  worker is noticed after liveness x heartbeat = 1500 ms, inside the
//  banks' 2000 ms deadline, so its queries can still go to another worker
//  (proto/SPEC.md "Heartbeat and expiry")
#define FM_HEARTBEAT_MS         500     //  interval between heartbeats
#define FM_HEARTBEAT_LIVENESS   3       //  missed heartbeats before expiry
#define FM_RECONNECT_MS         1000    //  worker reconnect delay

#endif
