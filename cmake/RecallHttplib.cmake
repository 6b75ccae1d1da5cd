# Finds cpp-httplib, for recall::httplib (recall/httplib.hpp), the way each
# package manager ships it: vcpkg and Conan export httplib::httplib; Debian 12
# ships libcpp-httplib-dev as a compiled library with only cpp-httplib.pc,
# whose flags (CPPHTTPLIB_OPENSSL_SUPPORT, ...) must reach every user of the
# header, since they change its types: it becomes httplib::httplib here.
# Defines the target when cpp-httplib is found and never fails. Used by the
# build and, installed, by recall-config.cmake.
if(NOT TARGET httplib::httplib)
  find_package(httplib CONFIG QUIET)
endif()
if(NOT TARGET httplib::httplib)
  find_package(PkgConfig QUIET)
  if(PkgConfig_FOUND)
    pkg_check_modules(recall_pc_httplib QUIET IMPORTED_TARGET cpp-httplib)
  endif()
  if(TARGET PkgConfig::recall_pc_httplib)
    add_library(httplib::httplib INTERFACE IMPORTED)
    target_link_libraries(httplib::httplib INTERFACE PkgConfig::recall_pc_httplib)
  endif()
endif()
