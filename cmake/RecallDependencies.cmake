# Finds recall's dependencies the way each package manager ships them. Used by
# the build and, installed, by recall-config.cmake for consumers.
include(CMakeFindDependencyMacro)

find_dependency(absl CONFIG)
find_dependency(cereal CONFIG)
find_dependency(fmt CONFIG)
find_dependency(Threads)

# vcpkg and Conan export xxHash::xxhash; Debian ships only libxxhash.pc.
if(NOT TARGET xxHash::xxhash)
  find_package(xxHash CONFIG QUIET)
endif()
if(NOT TARGET xxHash::xxhash)
  find_package(PkgConfig QUIET)
  if(PkgConfig_FOUND)
    pkg_check_modules(recall_libxxhash QUIET IMPORTED_TARGET libxxhash)
  endif()
  if(TARGET PkgConfig::recall_libxxhash)
    add_library(xxHash::xxhash INTERFACE IMPORTED)
    target_link_libraries(xxHash::xxhash INTERFACE PkgConfig::recall_libxxhash)
  else()
    message(FATAL_ERROR "recall needs xxHash: install libxxhash-dev (Debian), "
                        "the xxhash port (vcpkg) or xxhash/0.8.x (Conan)")
  endif()
endif()
