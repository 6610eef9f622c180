/*  =========================================================================
    fm_broker - the finmatch broker actor

    Routes 7/MDP traffic between clients and workers and runs the
    matchmaking itself (services fm.request and fm.accept): a request is
    validated, enriched by gov.credit, fanned out to every registered bank
    service, gathered until all banks answered or the deadline passed,
    ranked, and answered.  Every state change is published on an XPUB
    socket as an event with a gap-free sequence number.

    Usage (czmq actor):
        zactor_t *broker = zactor_new (fm_broker, "broker");
        zstr_sendx (broker, "BIND", "tcp://127.0.0.1:*", NULL);
        zstr_sendx (broker, "EVENTS", "tcp://127.0.0.1:*", NULL);
        zstr_sendx (broker, "PORTS", NULL);
        char *router_port, *events_port;
        zstr_recvx (broker, &router_port, &events_port, NULL);
        ...
        zactor_destroy (&broker);

    Pipe commands (strings, synchronous ones reply):
        VERBOSE                         log every message
        BIND endpoint                   bind the client/worker ROUTER; replies
                                        "0" or "-1 <reason>"
        EVENTS endpoint                 bind the event XPUB; replies "0"/"-1 ..."
        AUTH cert certdir               secure mode (before BIND/EVENTS): CURVE
                                        with the broker's secret certificate,
                                        keys allowed from certdir (fm_auth.h);
                                        replies "0" or "-1 <reason>".  Without
                                        AUTH the actor is insecure (tests)
        JOURNAL path sync               open the journal directory (sync
                                        "normal" or "full"), reload it and
                                        resume what was in flight; before
                                        BIND.  Replies "0" or "-1 <reason>".
                                        Without JOURNAL nothing is persisted
        PORTS                           replies router port, events port
        SET name value                  set a setting (deadline_ms,
                                        heartbeat_ms, liveness, max_inflight,
                                        ...); replies "0" or "-1 <reason>"
        $TERM                           end the actor
    =========================================================================
*/

#ifndef FM_BROKER_H_INCLUDED
#define FM_BROKER_H_INCLUDED

#include <czmq.h>

#ifdef __cplusplus
extern "C" {
#endif

//  The actor function; args is the log identity (const char *) or NULL.
void
    fm_broker (zsock_t *pipe, void *args);

//  Fuzzing hook: handle one ROUTER message ([identity][""][protocol]...,
//  taken and destroyed) in a process-wide broker bound nowhere.  Test
//  code only (tests/fuzz); not thread safe.
void
    fm_broker_feed (zmsg_t **msg_p);

//  Self test
void
    fm_broker_test (bool verbose);

#ifdef __cplusplus
}
#endif

#endif
