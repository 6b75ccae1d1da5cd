# Finds hiredis, for recall::redis, the way each package manager ships it:
# vcpkg and Conan export hiredis::hiredis (hiredis 1.x); Debian 12 ships
# libhiredis-dev 0.14 with only hiredis.pc, which becomes hiredis::hiredis
# here. Defines the target when hiredis is found and never fails: the caller
# decides whether a missing hiredis is an error. Used by the build and,
# installed, by recall-config.cmake.
if(NOT TARGET hiredis::hiredis)
  find_package(hiredis CONFIG QUIET)
endif()
if(NOT TARGET hiredis::hiredis)
  find_package(PkgConfig QUIET)
  if(PkgConfig_FOUND)
    pkg_check_modules(recall_pc_hiredis QUIET IMPORTED_TARGET hiredis)
  endif()
  if(TARGET PkgConfig::recall_pc_hiredis)
    add_library(hiredis::hiredis INTERFACE IMPORTED)
    target_link_libraries(hiredis::hiredis INTERFACE PkgConfig::recall_pc_hiredis)
  endif()
endif()
