#   FmPackage.cmake - systemd units, the service user, and the .deb
#
#   Included at the end of the top-level CMakeLists.txt.
#     cmake --install build --prefix /usr/local   binaries, man pages, units
#                                                 (ExecStart = <prefix>/bin)
#     cpack -G DEB --config build/CPackConfig.cmake
#                                                 finmatch_<ver>_<arch>.deb,
#                                                 installing under /usr
#   The units in deploy/systemd name /usr/local/bin; install rewrites that
#   to the real prefix, so the .deb's units run /usr/bin/finmatch-*.
#   CPACK_SET_DESTDIR makes CPack install with CMAKE_INSTALL_PREFIX = /usr
#   into a staging DESTDIR, which is what the rewrite needs to see.
include (GNUInstallDirs)

set (FM_UNITS finmatch-broker.service finmatch-gov.service
              finmatch-bank@.service finmatch-recorder.service
              finmatch-dashboard.service)
install (CODE "
    set (bindir \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}\")
    set (unitdir \"\$ENV{DESTDIR}\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\")
    file (MAKE_DIRECTORY \"\${unitdir}\")
    foreach (unit ${FM_UNITS})
        file (READ \"${CMAKE_SOURCE_DIR}/deploy/systemd/\${unit}\" text)
        string (REPLACE \"/usr/local/bin/\" \"\${bindir}/\" text \"\${text}\")
        message (STATUS \"Installing: \${unitdir}/\${unit}\")
        file (WRITE \"\${unitdir}/\${unit}\" \"\${text}\")
    endforeach ()
")
#   The dedicated user, created by systemd-sysusers (or the .deb's postinst)
install (FILES deploy/systemd/finmatch.sysusers
         DESTINATION lib/sysusers.d RENAME finmatch.conf)

set (CPACK_GENERATOR DEB)
set (CPACK_PACKAGE_NAME finmatch)
set (CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set (CPACK_PACKAGE_CONTACT "finmatch maintainers <finmatch@localhost>")
set (CPACK_PACKAGE_DESCRIPTION_SUMMARY
     "government-bank-enterprise financing matchmaking (broker, workers, CLI, dashboard)")
set (CPACK_PACKAGE_DESCRIPTION
     "finmatch matches enterprises needing financing with banks, with the district government in the middle: a 7/MDP broker, bank and government workers, an SQLite event recorder, a live web dashboard and the finmatch CLI.")
set (CPACK_SET_DESTDIR ON)
set (CPACK_PACKAGING_INSTALL_PREFIX /usr)
set (CPACK_INSTALL_PREFIX /usr)
set (CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set (CPACK_DEBIAN_PACKAGE_SECTION net)
set (CPACK_DEBIAN_PACKAGE_PRIORITY optional)
#   Runtime libraries of Debian 12 (bookworm), one per NEEDED entry of the
#   binaries; the ctest package_deb checks that no NEEDED library is missing
#   from this list.  adduser for the postinst fallback.
set (CPACK_DEBIAN_PACKAGE_DEPENDS
     "libc6 (>= 2.34), libczmq4 (>= 4.2.1), libzmq5 (>= 4.3.4), libmsgpackc2 (>= 4.0), libsqlite3-0 (>= 3.40), libjansson4 (>= 2.14), libmicrohttpd12 (>= 0.9.75), libtcmalloc-minimal4 (>= 2.10), adduser")
set (CPACK_DEBIAN_PACKAGE_SUGGESTS "systemd, sqlite3")
set (CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
     ${CMAKE_SOURCE_DIR}/deploy/debian/postinst
     ${CMAKE_SOURCE_DIR}/deploy/debian/postrm)
set (CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
#   cpack and `make install` must not rebuild: the package tests run while
#   other tests execute the same binaries, and a relink under them would
#   make those tests fail at random.  Build first, then install/package.
set (CMAKE_SKIP_INSTALL_ALL_DEPENDENCY TRUE)
include (CPack)

#   ctests: the .deb unpacked into a scratch root (dpkg -x, nothing is
#   installed on the machine) runs `finmatch --version`; its units pass
#   systemd-analyze verify.  One cpack at a time (shared build tree).
if (FM_TESTS)
    foreach (MODE deb units)
        add_test (NAME package_${MODE}
                  COMMAND bash ${CMAKE_SOURCE_DIR}/tests/package_deb.sh
                          ${CMAKE_BINARY_DIR} ${PROJECT_VERSION} ${MODE})
        set_tests_properties (package_${MODE} PROPERTIES TIMEOUT 180
                              SKIP_RETURN_CODE 77 RESOURCE_LOCK fm_cpack)
    endforeach ()
endif ()
