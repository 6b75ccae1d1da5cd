# Builds TARGET in BUILD_DIR, which must fail, and checks that the first
# compiler error line matches the regex on SOURCE's first line:
#   // expect-first-error: <regex>
# So a compile-time diagnostic of recall's (a static_assert, a deleted
# overload) is proven to be the first thing a user reads.
file(STRINGS ${SOURCE} first LIMIT_COUNT 1)
if(NOT first MATCHES "^// expect-first-error: (.+)$")
  message(FATAL_ERROR "${SOURCE}: the first line must be '// expect-first-error: <regex>'")
endif()
set(expected "${CMAKE_MATCH_1}")

execute_process(COMMAND ${CMAKE_COMMAND} --build ${BUILD_DIR} --target ${TARGET}
                RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
if(rc EQUAL 0)
  message(FATAL_ERROR "${SOURCE} compiled, but it must not:\n${out}")
endif()
string(REGEX MATCH "[^\n]*error:[^\n]*" first_error "${out}")
if(NOT first_error)
  message(FATAL_ERROR "${SOURCE}: the build failed without a compiler error line:\n${out}")
endif()
if(NOT first_error MATCHES "${expected}")
  message(FATAL_ERROR "${SOURCE}: the first error is\n  ${first_error}\nexpected it to match\n  "
                      "${expected}\nfull output:\n${out}")
endif()
message(STATUS "first error, as expected: ${first_error}")
