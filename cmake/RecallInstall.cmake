include(GNUInstallDirs)
include(CMakePackageConfigHelpers)

install(TARGETS recall EXPORT recall-targets
  ARCHIVE DESTINATION ${CMAKE_INSTALL_LIBDIR}
  LIBRARY DESTINATION ${CMAKE_INSTALL_LIBDIR}
  RUNTIME DESTINATION ${CMAKE_INSTALL_BINDIR}
  INCLUDES DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})
install(DIRECTORY include/recall DESTINATION ${CMAKE_INSTALL_INCLUDEDIR})

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

configure_file(cmake/recall.pc.in ${PROJECT_BINARY_DIR}/recall.pc @ONLY)
install(FILES ${PROJECT_BINARY_DIR}/recall.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
