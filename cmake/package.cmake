# SPDX-License-Identifier: Apache-2.0
# What the Debian package ships besides the binary, as install() rules: the
# unit, the default config, the tmpfiles.d entry of the pin directory and the
# man page, each from its one source in image/. debian/rules builds with
# dh's cmake build system and installs through these rules
# (dh_auto_install), so a file added here lands in the package; debhelper
# then compresses the man page, marks everything under /etc as a conffile
# and writes the systemd and tmpfiles parts of the maintainer scripts.
#
# With -DCMAKE_INSTALL_PREFIX=/usr (as dh configures) the config lands in
# /etc and the unit in /lib/systemd/system.

include(GNUInstallDirs)

if(CMAKE_INSTALL_PREFIX STREQUAL "/usr")
  set(_sw_unitdir /lib/systemd/system)
else()
  set(_sw_unitdir ${CMAKE_INSTALL_PREFIX}/lib/systemd/system)
endif()
set(SYNWATCH_SYSTEMD_UNIT_DIR ${_sw_unitdir} CACHE PATH "Where synwatch.service is installed")

set(_sw_image ${CMAKE_SOURCE_DIR}/image)

install(FILES ${_sw_image}/synwatch.service DESTINATION ${SYNWATCH_SYSTEMD_UNIT_DIR})
install(FILES ${_sw_image}/synwatch.toml
  DESTINATION ${CMAKE_INSTALL_FULL_SYSCONFDIR}/synwatch)
install(FILES ${_sw_image}/synwatch.tmpfiles DESTINATION lib/tmpfiles.d
  RENAME synwatch.conf)
install(FILES ${_sw_image}/synwatch.1 DESTINATION ${CMAKE_INSTALL_MANDIR}/man1)
