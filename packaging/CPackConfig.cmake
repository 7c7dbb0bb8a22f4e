# SPDX-License-Identifier: MIT
# A Debian package of what `cmake --install` installs: `cpack -G DEB` in the build directory
# (after building `xnet`). Depends comes from dpkg-shlibdeps; tests/package/check_deb.sh checks
# the result (label `package`).
set(CPACK_PACKAGE_NAME xnet)
set(CPACK_PACKAGE_VERSION ${PROJECT_VERSION})
set(CPACK_PACKAGE_VENDOR "The xnet developers")
set(CPACK_PACKAGE_CONTACT "The xnet developers <xnet@users.noreply.github.com>")
set(CPACK_PACKAGE_DESCRIPTION_SUMMARY "command-line toolkit for XMPP-signalled connectivity checks")
set(CPACK_PACKAGE_DESCRIPTION "xnet asks an XMPP server which address it sees (XEP-0279),
lists and probes its STUN/TURN services (XEP-0215), opens reverse tunnels
through it (XEP-0003 PASS), talks serverless XMPP on the local network
(XEP-0174 over mDNS) and serves all of these itself (xnet serve).
Text output for people, JSON for scripts.")
set(CPACK_RESOURCE_FILE_LICENSE ${CMAKE_CURRENT_SOURCE_DIR}/LICENSE)
set(CPACK_GENERATOR DEB)
set(CPACK_PACKAGING_INSTALL_PREFIX /usr)
# Install with CMAKE_INSTALL_PREFIX=/usr under DESTDIR, so the zsh completion goes where zsh
# reads it under /usr (vendor-completions).
set(CPACK_SET_DESTDIR ON)
set(CPACK_INSTALL_PREFIX /usr)
set(CPACK_STRIP_FILES ON)
set(CPACK_DEBIAN_FILE_NAME DEB-DEFAULT)
set(CPACK_DEBIAN_PACKAGE_SECTION net)
set(CPACK_DEBIAN_PACKAGE_PRIORITY optional)
set(CPACK_DEBIAN_PACKAGE_SHLIBDEPS ON)
set(CPACK_DEBIAN_PACKAGE_GENERATE_SHLIBS OFF)
set(CPACK_DEBIAN_COMPRESSION_TYPE xz)
set(CPACK_DEBIAN_PACKAGE_CONTROL_STRICT_PERMISSION ON)
if(XNET_MDNS_BACKEND STREQUAL "avahi")
  # libavahi-client talks to avahi-daemon over D-Bus; without a daemon `xnet lan` reports it.
  set(CPACK_DEBIAN_PACKAGE_RECOMMENDS "avahi-daemon")
endif()
include(CPack)
