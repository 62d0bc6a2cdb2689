# `make install` (cmake --install BUILD; DESTDIR=... to stage): see docs/deploy.md.
#
#   PREFIX/bin/dlpsensor
#   PREFIX/share/dlpsensor/rules/*.yaml   found by PREFIX/bin/dlpsensor as ../share/dlpsensor/rules,
#                                         by other copies as the configured PREFIX's
#                                         (dlp_default_rules_dir, sensor/runtime/detection.c)
#   PREFIX/lib/systemd/system/dlpsensor.service   paths rewritten for this install
#   PREFIX/lib/sysusers.d/dlpsensor.conf          the dlpsensor system user
#   PREFIX/share/man/man8/dlpsensor.8
#   PREFIX/share/doc/dlpsensor/           README.md, deploy.md, limits.md, rules.md,
#                                         dlpsensor.yaml (the example configuration)
#   DLP_CONFDIR/dlpsensor.yaml            the example, only if no file is there yet
#
# DLP_CONFDIR is /etc/dlpsensor for the prefixes /usr and /usr/local, else the
# prefix's sysconfdir (GNUInstallDirs: /etc/opt/P for /opt/P, PREFIX/etc elsewhere,
# so an install into a home directory does not need /etc) plus /dlpsensor.

include(GNUInstallDirs)

if(CMAKE_INSTALL_PREFIX STREQUAL "/usr" OR CMAKE_INSTALL_PREFIX STREQUAL "/usr/local")
  set(_dlp_confdir "/etc/dlpsensor")
else()
  set(_dlp_confdir "${CMAKE_INSTALL_FULL_SYSCONFDIR}/dlpsensor")
endif()
set(DLP_CONFDIR "${_dlp_confdir}" CACHE PATH
    "Directory of dlpsensor.yaml (the systemd unit's -c)")

install(TARGETS dlpsensor RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
install(DIRECTORY ${PROJECT_SOURCE_DIR}/rules/
        DESTINATION ${CMAKE_INSTALL_DATADIR}/dlpsensor/rules
        FILES_MATCHING PATTERN "*.yaml")
install(FILES ${PROJECT_SOURCE_DIR}/dist/dlpsensor.8 DESTINATION ${CMAKE_INSTALL_MANDIR}/man8)
install(FILES ${PROJECT_SOURCE_DIR}/README.md ${PROJECT_SOURCE_DIR}/docs/deploy.md
              ${PROJECT_SOURCE_DIR}/docs/limits.md ${PROJECT_SOURCE_DIR}/dist/dlpsensor.yaml
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${PROJECT_SOURCE_DIR}/rules/README.md RENAME rules.md
        DESTINATION ${CMAKE_INSTALL_DOCDIR})
install(FILES ${PROJECT_SOURCE_DIR}/dist/dlpsensor.sysusers RENAME dlpsensor.conf
        DESTINATION lib/sysusers.d)

# The unit names the binary and the configuration by absolute path: rewritten
# at install time, so that `cmake --install --prefix P` is honoured too.
install(CODE "
  file(READ \"${PROJECT_SOURCE_DIR}/dist/dlpsensor.service\" _unit)
  string(REPLACE \"/usr/local/bin/dlpsensor\"
         \"\${CMAKE_INSTALL_PREFIX}/${CMAKE_INSTALL_BINDIR}/dlpsensor\" _unit \"\${_unit}\")
  string(REPLACE \"/etc/dlpsensor/\" \"${DLP_CONFDIR}/\" _unit \"\${_unit}\")
  file(WRITE \"${PROJECT_BINARY_DIR}/dist/dlpsensor.service\" \"\${_unit}\")
  file(INSTALL DESTINATION \"\${CMAKE_INSTALL_PREFIX}/lib/systemd/system\" TYPE FILE
       PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
       FILES \"${PROJECT_BINARY_DIR}/dist/dlpsensor.service\")
")

# The configuration is the administrator's: installed once, never overwritten.
install(CODE "
  if(EXISTS \"\$ENV{DESTDIR}${DLP_CONFDIR}/dlpsensor.yaml\")
    message(STATUS \"Keeping: \$ENV{DESTDIR}${DLP_CONFDIR}/dlpsensor.yaml\")
  else()
    file(INSTALL DESTINATION \"${DLP_CONFDIR}\" TYPE FILE
         PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ
         FILES \"${PROJECT_SOURCE_DIR}/dist/dlpsensor.yaml\")
  endif()
")
