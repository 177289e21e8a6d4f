# SPDX-License-Identifier: Apache-2.0
# The Debian package: install rules for what the OS needs besides the binary
# (unit, default config, man page, copyright, changelog) and CPack's DEB
# generator. Every file comes from its one source in image/.
#
# Configure with -DCMAKE_INSTALL_PREFIX=/usr (scripts/package.sh does) so the
# config lands in /etc and the unit in /lib/systemd/system, then
# `cpack -G DEB`. Dependencies are computed by dpkg-shlibdeps.

include(GNUInstallDirs)

set(SYNWATCH_DEB_RELEASE 1 CACHE STRING "Debian revision of the package (the -N in 0.1.0-N)")
set(SYNWATCH_DEB_MAINTAINER "synwatch maintainers <synwatch@example.org>"
  CACHE STRING "Maintainer field of the .deb")
if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(_sw_unitdir /lib/systemd/system)
else()
  set(_sw_unitdir ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
endif()
set(SYNWATCH_SYSTEMD_UNIT_DIR ${_sw_unitdir} CACHE PATH "Where synwatch.service is installed")

set(_sw_image ${CMAKE_SOURCE_DIR}/image)
set(_sw_pkg ${CMAKE_BINARY_DIR}/pkg)
set(_sw_confdir ${CMAKE_INSTALL_FULL_SYSCONFDIR}/synwatch)

# Debian wants man pages and changelogs gzip -9n (no name, no timestamp).
add_custom_command(
  OUTPUT ${_sw_pkg}/synwatch.1.gz
  COMMAND ${CMAKE_COMMAND} -E make_directory ${_sw_pkg}
  COMMAND gzip -9n -c ${_sw_image}/synwatch.1 > ${_sw_pkg}/synwatch.1.gz
  DEPENDS ${_sw_image}/synwatch.1
  COMMENT "gzip synwatch.1")
add_custom_command(
  OUTPUT ${_sw_pkg}/changelog.Debian.gz
  COMMAND ${CMAKE_COMMAND} -E make_directory ${_sw_pkg}
  COMMAND gzip -9n -c ${_sw_image}/debian/changelog > ${_sw_pkg}/changelog.Debian.gz
  DEPENDS ${_sw_image}/debian/changelog
  COMMENT "gzip changelog")
add_custom_target(synwatch_pkg_docs ALL
  DEPENDS ${_sw_pkg}/synwatch.1.gz ${_sw_pkg}/changelog.Debian.gz)

install(FILES ${_sw_image}/synwatch.service DESTINATION ${SYNWATCH_SYSTEMD_UNIT_DIR})
install(FILES ${_sw_image}/synwatch.toml DESTINATION ${_sw_confdir})
install(FILES ${_sw_image}/synwatch.tmpfiles DESTINATION lib/tmpfiles.d
  RENAME synwatch.conf)
install(FILES ${_sw_pkg}/synwatch.1.gz DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
install(FILES ${_sw_image}/debian/copyright ${_sw_pkg}/changelog.Debian.gz
  DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/doc/synwatch)
install(FILES ${_sw_image}/debian/lintian-overrides
  DESTINATION ${CMAKE_INSTALL_DATAROOTDIR}/lintian/overrides RENAME synwatch)

# dpkg marks files as conffiles only when told; the list follows the install
# rule above.
file(WRITE ${_sw_pkg}/control/conffiles "${_sw_confdir}/synwatch.toml\n")

# The changelog's newest entry should name the version being packaged.
file(STRINGS ${_sw_image}/debian/changelog _sw_cl_head LIMIT_COUNT 1)
string(REGEX MATCH "\\(([^)]+)\\)" _sw_cl_match "${_sw_cl_head}")
if(NOT CMAKE_MATCH_1 STREQUAL "${PROJECT_VERSION}-${SYNWATCH_DEB_RELEASE}")
  message(WARNING "image/debian/changelog starts at ${CMAKE_MATCH_1}, the package is "
    "${PROJECT_VERSION}-${SYNWATCH_DEB_RELEASE}: add a changelog entry")
endif()

set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGE_NAME synwatch)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_CONTACT "${SYNWATCH_DEB_MAINTAINER}")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "Prometheus exporter that counts TCP SYNs at XDP")
set(CPACK_PACKAGE_DESCRIPTION
  "synwatch loads an XDP program that counts new TCP connection attempts\n"
  "per interface, per peer and per rule outcome (allowed, denied, blocked by\n"
  "port-scan detection, unmatched), optionally drops them, and serves the\n"
  "counts to Prometheus on port 9632. Counters live in BPF maps and are read\n"
  "at scrape time. The service runs as an unprivileged user with CAP_BPF,\n"
  "CAP_NET_ADMIN and CAP_PERFMON.")
string(CONCAT CPACK_PACKAGE_DESCRIPTION ${CPACK_PACKAGE_DESCRIPTION})
set(CPACK_STRIP_FILES ON)
set(CPACK_INSTALL_DEFAULT_DIRECTORY_PERMISSIONS
  OWNER_READ OWNER_WRITE OWNER_EXECUTE GROUP_READ GROUP_EXECUTE WORLD_READ WORLD_EXECUTE)

set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_RELEASE ${SYNWATCH_DEB_RELEASE})
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
# adduser: postinst creates the system user; procps: the unit's ExecReload
# runs /bin/kill; libssl3: loaded on first use for TLS and basic auth, so
# not linked and not seen by dpkg-shlibdeps. Everything else is computed.
set(CPACK_DEBIAN_PACKAGE_DEPENDS "adduser, procps, libssl3 (>= 3.0.0)")
set(CPACK_DEBIAN_PACKAGE_CONTROL_EXTRA
  ${_sw_pkg}/control/conffiles
  ${_sw_image}/debian/postinst
  ${_sw_image}/debian/prerm
  ${_sw_image}/debian/postrm)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)

include(CPack)
