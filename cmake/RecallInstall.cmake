include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS recall EXPORT recall-targets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
set(recall_header_excludes)
if(NOT TARGET recall_redis)
  list(APPEND recall_header_excludes PATTERN "redis*.hpp" EXCLUDE)
endif()
if(NOT TARGET recall_httplib)
  list(APPEND recall_header_excludes PATTERN "httplib.hpp" EXCLUDE)
endif()
install(DIRECTORY include/recall ${RECALL_GENERATED_INCLUDE_DIR}/recall
        DESTINATION ${CMAKE_INSTALL_INCLUDEDIR} ${recall_header_excludes})

set(recall_cmake_dir ${CMAKE_INSTALL_LIBDIR}/cmake/recall)
install(EXPORT recall-targets NAMESPACE recall:: DESTINATION ${recall_cmake_dir})
configure_package_config_file(cmake/recall-config.cmake.in
  ${PROJECT_BINARY_DIR}/recall-config.cmake INSTALL_DESTINATION ${recall_cmake_dir})
write_basic_package_version_file(${PROJECT_BINARY_DIR}/recall-config-version.cmake
  COMPATIBILITY SameMinorVersion)
install(FILES
  ${PROJECT_BINARY_DIR}/recall-config.cmake
  ${PROJECT_BINARY_DIR}/recall-config-version.cmake
  cmake/RecallDependencies.cmake
  DESTINATION ${recall_cmake_dir})

# The .pc file finds its prefix from its own location, so an installed tree
# works wherever it is copied (cmake --install --prefix, vcpkg, Conan).
set(recall_pc_dir ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
if(IS_ABSOLUTE "${recall_pc_dir}")
  set(RECALL_PC_PREFIX "${CMAKE_INSTALL_PREFIX}")
else()
  file(RELATIVE_PATH recall_pc_up "/${recall_pc_dir}" "/")
  string(REGEX REPLACE "/$" "" recall_pc_up "${recall_pc_up}")
  set(RECALL_PC_PREFIX "\${pcfiledir}/${recall_pc_up}")
endif()
foreach(dir LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${dir}}")
    set(RECALL_PC_${dir} "${CMAKE_INSTALL_${dir}}")
  else()
    set(RECALL_PC_${dir} "\${prefix}/${CMAKE_INSTALL_${dir}}")
  endif()
endforeach()

# recall::redis: its own export set, so that find_package(recall) needs
# hiredis only where recall was built with it.
if(TARGET recall_redis)
  install(TARGETS recall_redis EXPORT recall-redis-targets
    ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
    LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
    RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR})
  install(EXPORT recall-redis-targets NAMESPACE recall:: DESTINATION ${recall_cmake_dir})
  install(FILES cmake/RecallHiredis.cmake DESTINATION ${recall_cmake_dir})
  configure_file(cmake/recall-redis.pc.in ${PROJECT_BINARY_DIR}/recall-redis.pc @ONLY)
  install(FILES ${PROJECT_BINARY_DIR}/recall-redis.pc DESTINATION ${recall_pc_dir})
endif()

# recall::httplib: its own export set, like recall::redis.
if(TARGET recall_httplib)
  install(TARGETS recall_httplib EXPORT recall-httplib-targets)
  install(EXPORT recall-httplib-targets NAMESPACE recall:: DESTINATION ${recall_cmake_dir})
  install(FILES cmake/RecallHttplib.cmake DESTINATION ${recall_cmake_dir})
endif()

configure_file(cmake/recall.pc.in ${PROJECT_BINARY_DIR}/recall.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/recall.pc DESTINATION ${recall_pc_dir})
