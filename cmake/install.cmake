# `cmake --install` and the .deb packages (scripts/package.sh; docs/install.md).
#
# Two components, one package each:
#   client -> cairn:  bin/cairn, completions, cairn*(1) pages, the cairn-sync@ user unit
#   daemon -> cairnd: bin/cairnd, completions, cairnd*(8) pages, cairnd.service,
#                     /etc/default/cairnd, maintainer scripts (a `cairn` system user and
#                     /var/lib/cairn; nothing started)
include(GNUInstallDirs)

# Manual pages, written by the binaries from their own CLI11 definitions (lib/man) into
# man/manSECTION of the build tree.
set(CAIRN_MAN_DIR ${PROJECT_BINARY_DIR}/man)
function(cairn_man_pages program section)
  set(folder ${CAIRN_MAN_DIR}/man${section})
  add_custom_command(
    OUTPUT ${folder}/${program}.${section}
    COMMAND ${CMAKE_COMMAND} -E rm -rf ${folder}
    COMMAND ${program} --write-man-pages ${folder}
    DEPENDS ${program}
    COMMENT "Writing the ${program}(${section}) manual pages"
    VERBATIM)
endfunction()
cairn_man_pages(cairn 1)
cairn_man_pages(cairnd 8)
add_custom_target(man_pages ALL DEPENDS ${CAIRN_MAN_DIR}/man1/cairn.1 ${CAIRN_MAN_DIR}/man8/cairnd.8)

# Paths the units and conffiles name. With the prefix /usr (the packages), GNUInstallDirs puts
# the configuration in /etc; with /usr/local, in /usr/local/etc.
set(CAIRN_BINDIR ${CMAKE_INSTALL_FULL_BINDIR})
set(CAIRN_SYSCONFDIR ${CMAKE_INSTALL_FULL_SYSCONFDIR})
set(CAIRN_PKG_DIR ${PROJECT_BINARY_DIR}/packaging)
configure_file(packaging/systemd/cairnd.service.in ${CAIRN_PKG_DIR}/cairnd.service @ONLY)
configure_file(packaging/systemd/cairn-sync@.service.in ${CAIRN_PKG_DIR}/cairn-sync@.service @ONLY)
configure_file(packaging/debian/conffiles.in ${CAIRN_PKG_DIR}/conffiles @ONLY)
foreach(script postinst prerm postrm)
  file(COPY packaging/debian/${script} DESTINATION ${CAIRN_PKG_DIR}
       FILE_PERMISSIONS OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ
                        WORLD_EXECUTE)
endforeach()

# Units under PREFIX/lib/systemd: /usr/lib/systemd for the packages (Debian 12's /usr is merged),
# /usr/local/lib/systemd for a local install; systemd searches both.
set(CAIRN_SYSTEMD_DIR lib/systemd)
set(bash_dir ${CMAKE_INSTALL_DATADIR}/bash-completion/completions)
set(fish_dir ${CMAKE_INSTALL_DATADIR}/fish/vendor_completions.d)
set(zsh_dir ${CMAKE_INSTALL_DATADIR}/zsh/vendor-completions)

install(TARGETS cairn RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT client)
install(FILES completions/cairn.bash DESTINATION ${bash_dir} RENAME cairn COMPONENT client)
install(FILES completions/cairn.fish DESTINATION ${fish_dir} COMPONENT client)
install(FILES completions/_cairn DESTINATION ${zsh_dir} COMPONENT client)
install(DIRECTORY ${CAIRN_MAN_DIR}/man1 DESTINATION ${CMAKE_INSTALL_MANDIR} COMPONENT client)
install(FILES ${CAIRN_PKG_DIR}/cairn-sync@.service DESTINATION ${CAIRN_SYSTEMD_DIR}/user
        COMPONENT client)

install(TARGETS cairnd RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR} COMPONENT daemon)
# bash and fish load completions by command name; the files cover both commands.
install(FILES completions/cairn.bash DESTINATION ${bash_dir} RENAME cairnd COMPONENT daemon)
install(FILES completions/cairn.fish DESTINATION ${fish_dir} RENAME cairnd.fish COMPONENT daemon)
install(DIRECTORY ${CAIRN_MAN_DIR}/man8 DESTINATION ${CMAKE_INSTALL_MANDIR} COMPONENT daemon)
install(FILES ${CAIRN_PKG_DIR}/cairnd.service DESTINATION ${CAIRN_SYSTEMD_DIR}/system
        COMPONENT daemon)
install(FILES packaging/debian/cairnd.default DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/default
        RENAME cairnd COMPONENT daemon)

# The .deb packages (scripts/package.sh: cpack in a tree configured with the prefix /usr, which
# the unit files and conffiles name).
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME cairn)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "Cairn")
set(CPACK_PACKAGE_CONTACT "Cairn maintainers <maintainers@cairn.invalid>")
set(CPACK_PACKAGING_INSTALL_PREFIX ${CMAKE_INSTALL_PREFIX})
set(CPACK_STRIP_FILES ON)
set(CPACK_DEB_COMPONENT_INSTALL ON)
set(CPACK_COMPONENTS_ALL client daemon)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(CPACK_DEBIAN_CLIENT_PACKAGE_NAME cairn)
set(CPACK_DEBIAN_CLIENT_PACKAGE_SECTION utils)
string(CONCAT CPACK_COMPONENT_CLIENT_DESCRIPTION
       "Cairn file storage and sync: the command-line client\n"
       "cairn pushes, pulls and syncs working copies with a cairnd server, sending only the\n"
       "content-defined chunks the server lacks; put/get/cat for scripts, history and restore,\n"
       "shares and links. Includes the cairn-sync@ systemd user unit.")
set(CPACK_DEBIAN_DAEMON_PACKAGE_NAME cairnd)
set(CPACK_DEBIAN_DAEMON_PACKAGE_DEPENDS "adduser")
set(CPACK_DEBIAN_DAEMON_PACKAGE_SUGGESTS "cairn, postgresql")
string(CONCAT CPACK_COMPONENT_DAEMON_DESCRIPTION
       "Cairn file storage and sync: the server\n"
       "cairnd serves the Cairn HTTP API, WebSocket notifications and web page, with metadata in\n"
       "SQLite or PostgreSQL and content-addressed blobs on disk or in an S3-compatible store.\n"
       "Installs cairnd.service (not enabled) and creates the cairn system user.")
set(CPACK_DEBIAN_DAEMON_PACKAGE_CONTROL_EXTRA
    "${CAIRN_PKG_DIR}/postinst;${CAIRN_PKG_DIR}/prerm;${CAIRN_PKG_DIR}/postrm;${CAIRN_PKG_DIR}/conffiles")
set(CPACK_DEBIAN_DAEMON_PACKAGE_CONTROL_STRICT_PERMISSION TRUE)
include(CPack)
