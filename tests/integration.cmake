#   Integration tests: real finmatch processes on loopback (tests/README.md).
#   Included by tests/CMakeLists.txt.  Every test gets the binaries' dir and
#   the source tree through the environment, and a TIMEOUT: a hung test is
#   killed by ctest, and fm_proc's parent-death signal takes its children.

set (FM_BINARIES finmatch-broker finmatch-gov finmatch-bank finmatch-recorder finmatch)
set (FM_TEST_ENV "FM_BIN_DIR=${CMAKE_BINARY_DIR}/bin;FM_SOURCE_DIR=${CMAKE_SOURCE_DIR}")

#   fm_proc: spawn/stop helper shared by the C integration tests
add_library (fm_testproc STATIC fm_proc.c)
#   workers/ for fm_store.h: the tests query the log as its readers do
target_include_directories (fm_testproc PUBLIC ${CMAKE_CURRENT_SOURCE_DIR}
                            ${CMAKE_SOURCE_DIR}/workers)
target_link_libraries (fm_testproc PUBLIC libfinmatch PkgConfig::SQLITE)

#   system: 200 requests, 3 banks, gov, recorder; checks results and the DB
add_executable (test_system test_system.c)
target_link_libraries (test_system PRIVATE fm_testproc PkgConfig::SQLITE)
add_dependencies (test_system ${FM_BINARIES})
add_test (NAME system COMMAND test_system)
set_tests_properties (system PROPERTIES TIMEOUT 180 ENVIRONMENT "${FM_TEST_ENV}")

#   status: `finmatch status` live (offered, accepted, granted) and --db
add_executable (test_status test_status.c)
target_link_libraries (test_status PRIVATE fm_testproc PkgConfig::SQLITE PkgConfig::JANSSON)
add_dependencies (test_status ${FM_BINARIES})
add_test (NAME status COMMAND test_status)
set_tests_properties (status PROPERTIES TIMEOUT 120 ENVIRONMENT "${FM_TEST_ENV}")

#   replay: the recorder fills gaps from the broker's replay store after a
#   late start and kill -9; what fell out stays an exact gap row; a
#   subscriber that never reads does not stall the broker
add_executable (test_replay test_replay.c)
target_link_libraries (test_replay PRIVATE fm_testproc PkgConfig::SQLITE)
add_dependencies (test_replay ${FM_BINARIES})
add_test (NAME replay COMMAND test_replay)
set_tests_properties (replay PROPERTIES TIMEOUT 120 ENVIRONMENT "${FM_TEST_ENV}")

#   mdp_conformance: a raw RFC 7 worker and client against the real broker
add_executable (test_mdp_conformance test_mdp_conformance.c)
target_link_libraries (test_mdp_conformance PRIVATE fm_testproc)
add_dependencies (test_mdp_conformance ${FM_BINARIES})
add_test (NAME mdp_conformance COMMAND test_mdp_conformance)
set_tests_properties (mdp_conformance PROPERTIES TIMEOUT 120 ENVIRONMENT "${FM_TEST_ENV}")

#   cli_help_*: --help, --version, unknown flag, missing -c file; one test
#   per binary and per finmatch subcommand
foreach (BINARY finmatch-broker finmatch-gov finmatch-bank finmatch-recorder finmatch)
    string (REPLACE "finmatch-" "" SHORT ${BINARY})
    add_test (NAME cli_help_${SHORT}
              COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/cli_help.sh
                      ${CMAKE_BINARY_DIR}/bin ${PROJECT_VERSION} ${BINARY})
    set_tests_properties (cli_help_${SHORT} PROPERTIES TIMEOUT 60 ENVIRONMENT "${FM_TEST_ENV}")
endforeach ()
foreach (COMMAND request accept watch report keygen status campaign warn)
    add_test (NAME cli_help_finmatch_${COMMAND}
              COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/cli_help.sh
                      ${CMAKE_BINARY_DIR}/bin ${PROJECT_VERSION} finmatch ${COMMAND})
    set_tests_properties (cli_help_finmatch_${COMMAND} PROPERTIES TIMEOUT 60
                          ENVIRONMENT "${FM_TEST_ENV}")
endforeach ()

#   security: keygen, refusals to start without a key or with a readable
#   secret (the handshake and per-message checks: fm_selftest --test fm_auth)
add_test (NAME security
          COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/security.sh ${CMAKE_BINARY_DIR}/bin
                  ${CMAKE_SOURCE_DIR})
set_tests_properties (security PROPERTIES TIMEOUT 60 ENVIRONMENT "${FM_TEST_ENV}")

#   i18n_cli: language decision (LANG..., --lang) in every binary, Chinese
#   by default, translated errors, bad UTF-8 refused naming where
add_test (NAME i18n_cli
          COMMAND sh ${CMAKE_CURRENT_SOURCE_DIR}/i18n_cli.sh
                  ${CMAKE_BINARY_DIR}/bin ${CMAKE_SOURCE_DIR})
set_tests_properties (i18n_cli PROPERTIES TIMEOUT 120 ENVIRONMENT "${FM_TEST_ENV}")
#   i18n_po: every text marked _() / N_() in the sources has a Chinese
#   translation in po/zh_CN.po (xgettext + msgcmp)
add_test (NAME i18n_po COMMAND bash ${CMAKE_SOURCE_DIR}/po/update.sh --check)
set_tests_properties (i18n_po PROPERTIES TIMEOUT 60)

#   fuzz_codec, fuzz_broker: libFuzzer targets (tests/fuzz/), built with
#   clang by run.sh and run for 20 s each from the seed corpus; skipped
#   (exit 77) where clang is missing
foreach (TARGET codec broker)
    add_test (NAME fuzz_${TARGET}
              COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/fuzz/run.sh ${TARGET}
                      ${CMAKE_BINARY_DIR} 20)
    set_tests_properties (fuzz_${TARGET} PROPERTIES TIMEOUT 240 SKIP_RETURN_CODE 77)
endforeach ()

#   scenario_pilot, scenario_campaign: the seed's two scenarios
#   (deploy/scenarios/) through the live system, one batch each with
#   `finmatch campaign --accept best`; the report's headline figures from
#   the SQLite log within the stated tolerances (test_scenario.c)
add_executable (test_scenario test_scenario.c)
target_link_libraries (test_scenario PRIVATE fm_testproc PkgConfig::SQLITE PkgConfig::JANSSON)
add_dependencies (test_scenario ${FM_BINARIES})
foreach (SCENARIO pilot campaign)
    add_test (NAME scenario_${SCENARIO} COMMAND test_scenario ${SCENARIO})
    set_tests_properties (scenario_${SCENARIO} PROPERTIES TIMEOUT 120
                          ENVIRONMENT "${FM_TEST_ENV}")
endforeach ()

#   fault: the fault suite (test_fault.c): a steady load while a bank
#   worker, the gov worker, the recorder and the broker (from its journal)
#   are killed -9 and restarted, and the log is locked for a while;
#   every key one final answer, nothing processed twice, the log complete.
#   10000 requests; fewer under the sanitizers, which make every process
#   several times slower
add_executable (test_fault test_fault.c)
target_link_libraries (test_fault PRIVATE fm_testproc PkgConfig::SQLITE)
add_dependencies (test_fault ${FM_BINARIES})
#   (3000 at 300/s: the same ~10 s of load, so every fault still falls
#   in the middle of it)
if (FM_SANITIZE)
    set (FM_FAULT_ENV "FM_FAULT_REQUESTS=3000;FM_FAULT_RATE=300")
else ()
    set (FM_FAULT_ENV "FM_FAULT_REQUESTS=10000;FM_FAULT_RATE=1000")
endif ()
add_test (NAME fault COMMAND test_fault)
set_tests_properties (fault PROPERTIES TIMEOUT 300
                      ENVIRONMENT "${FM_TEST_ENV};${FM_FAULT_ENV}")

#   restart: a bank worker dies holding a query (re-dispatched, or its
#   bank's timeout exactly once); kill -9 of the broker with requests in
#   flight, restart on its journal: one result per key, each request
#   received and completed once, one epoch, no gap (test_restart.c)
add_executable (test_restart test_restart.c)
target_link_libraries (test_restart PRIVATE fm_testproc PkgConfig::SQLITE)
add_dependencies (test_restart ${FM_BINARIES})
add_test (NAME restart COMMAND test_restart)
set_tests_properties (restart PROPERTIES TIMEOUT 180 ENVIRONMENT "${FM_TEST_ENV}")

#   netns_fault: the fault suite on several "hosts" (tests/netns_fault.sh):
#   broker, two banks and the recorder in network namespaces joined by
#   veth with tc netem delay and loss (without sch_netem: nftables loss,
#   tc tbf shaping, delay by fm_nfq_delay behind iptables NFQUEUE where
#   it is built), the recorder's link cut and restored
#   mid-load.  Root only; skipped (77) without root, `ip netns`, or both
#   netem and nft+tbf.  Werror build only (tests/run.sh)
add_test (NAME netns_fault
          COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/netns_fault.sh ${CMAKE_BINARY_DIR}/bin)
set_tests_properties (netns_fault PROPERTIES TIMEOUT 240 SKIP_RETURN_CODE 77
                      ENVIRONMENT "${FM_TEST_ENV}")

#   routing: grid-first routing (paired banks first, referral on decline and
#   on timeout) and a risk warning (finmatch warn) reaching the banks:
#   decline 112, flagged offer, all in the SQLite log (test_routing.c)
add_executable (test_routing test_routing.c)
target_link_libraries (test_routing PRIVATE fm_testproc PkgConfig::SQLITE)
add_dependencies (test_routing ${FM_BINARIES})
add_test (NAME routing COMMAND test_routing)
set_tests_properties (routing PROPERTIES TIMEOUT 120 ENVIRONMENT "${FM_TEST_ENV}")

#   valgrind: test_system with the broker, then the fault suite reduced
#   (400 requests, no broker kill) with the broker and one bank worker,
#   under valgrind memcheck; any error or definite/indirect leak fails
#   (tests/valgrind.sh, tests/valgrind.supp).
#   Not in the sanitizer build: valgrind cannot run ASan binaries
if (NOT FM_SANITIZE)
    add_test (NAME valgrind
              COMMAND bash ${CMAKE_CURRENT_SOURCE_DIR}/valgrind.sh ${CMAKE_BINARY_DIR}/bin)
    #   RUN_SERIAL: memcheck makes the broker ~30x slower; alongside other
    #   tests on 2 cores its first requests missed the tests' deadlines
    set_tests_properties (valgrind PROPERTIES TIMEOUT 300 SKIP_RETURN_CODE 77
                          RUN_SERIAL TRUE ENVIRONMENT "${FM_TEST_ENV}")
endif ()

#   recorder_crash: the recorder killed -9 while a 50000-event transaction
#   is being written (proved from its -wal file): no half event or batch,
#   and a new recorder resumes from the last committed seq (replay fills)
add_executable (test_recorder_crash test_recorder_crash.c)
target_link_libraries (test_recorder_crash PRIVATE fm_testproc PkgConfig::SQLITE)
add_dependencies (test_recorder_crash ${FM_BINARIES})
add_test (NAME recorder_crash COMMAND test_recorder_crash)
set_tests_properties (recorder_crash PROPERTIES TIMEOUT 180 ENVIRONMENT "${FM_TEST_ENV}")

#   recorder_yield: the recorder's main thread at SCHED_IDLE once events
#   flow (where it can return from it), SCHED_OTHER with yield_cpu 0
add_executable (test_recorder_yield test_recorder_yield.c)
target_link_libraries (test_recorder_yield PRIVATE fm_testproc)
add_dependencies (test_recorder_yield ${FM_BINARIES})
add_test (NAME recorder_yield COMMAND test_recorder_yield)
set_tests_properties (recorder_yield PROPERTIES TIMEOUT 120 ENVIRONMENT "${FM_TEST_ENV}")
