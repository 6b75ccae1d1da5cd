# recall::redis, the Redis client: an optional target, built when hiredis is
# found (RECALL_WITH_REDIS=AUTO), required (ON) or never built (OFF).
# recall::recall itself never depends on hiredis.
string(TOUPPER "${RECALL_WITH_REDIS}" recall_with_redis)
if(recall_with_redis MATCHES "^(ON|YES|TRUE|Y|1)$")
  set(recall_with_redis ON)
elseif(recall_with_redis MATCHES "^(OFF|NO|FALSE|N|0)$")
  set(recall_with_redis OFF)
elseif(NOT recall_with_redis STREQUAL "AUTO")
  message(FATAL_ERROR "RECALL_WITH_REDIS is '${RECALL_WITH_REDIS}'; use AUTO, ON or OFF")
endif()

if(NOT recall_with_redis STREQUAL "OFF")
  include(RecallHiredis)
  if(NOT TARGET hiredis::hiredis AND recall_with_redis STREQUAL "ON")
    message(FATAL_ERROR "RECALL_WITH_REDIS is ON but hiredis was not found: install "
                        "libhiredis-dev (Debian), the hiredis port (vcpkg) or hiredis (Conan), "
                        "or configure with -DRECALL_WITH_REDIS=AUTO to build without recall::redis")
  endif()
endif()

if(recall_with_redis STREQUAL "OFF")
  message(STATUS "recall: recall::redis is not built (RECALL_WITH_REDIS=OFF)")
  return()
elseif(NOT TARGET hiredis::hiredis)
  message(STATUS "recall: recall::redis is not built (hiredis not found)")
  return()
endif()

add_library(recall_redis
  src/redis/client.cpp
  src/redis/connection.cpp
  src/redis/options.cpp
  src/redis/reply.cpp
  src/redis/session_format.cpp
  src/redis/session_functions.cpp
  src/redis/session_storage.cpp
  src/redis/session_values.cpp
  src/redis/sha1.cpp
  src/redis/store.cpp
  src/redis/stats.cpp
  src/redis/subscriber.cpp
  src/redis/subscription.cpp
)
add_library(recall::redis ALIAS recall_redis)
# Shared like recall itself: only what carries RECALL_REDIS_EXPORT is exported.
set_target_properties(recall_redis PROPERTIES
  EXPORT_NAME redis
  CXX_EXTENSIONS OFF
  CXX_VISIBILITY_PRESET hidden
  VISIBILITY_INLINES_HIDDEN ON
  VERSION ${PROJECT_VERSION}
  SOVERSION ${PROJECT_VERSION_MAJOR}.${PROJECT_VERSION_MINOR})
generate_export_header(recall_redis
  EXPORT_FILE_NAME ${RECALL_GENERATED_INCLUDE_DIR}/recall/redis_export.hpp)
# Installed anywhere, a shared librecall_redis finds librecall beside it.
if(APPLE)
  set_target_properties(recall_redis PROPERTIES INSTALL_RPATH @loader_path)
elseif(UNIX)
  set_target_properties(recall_redis PROPERTIES INSTALL_RPATH $ORIGIN)
endif()
# hiredis stays out of the public headers: private, but a static
# recall_redis still carries it to whoever links recall::redis.
target_link_libraries(recall_redis PUBLIC recall PRIVATE hiredis::hiredis)
recall_warnings(recall_redis)
message(STATUS "recall: recall::redis is built")
