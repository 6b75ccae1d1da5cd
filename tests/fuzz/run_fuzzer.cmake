# Runs one libFuzzer target for SECONDS on a working copy of its seeds.
#   cmake -DFUZZER=<binary> -DSEEDS=<seed dir> -DWORK=<build dir> -DSECONDS=<n> -P run_fuzzer.cmake
# The seeds are copied into WORK/corpus (the fuzzer adds what it finds
# there; the source tree is never written). Any crash, leak, sanitizer report,
# out-of-memory or timeout fails the run; the input that caused it is saved
# in WORK/artifacts/.
foreach(var FUZZER SEEDS WORK SECONDS)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "run_fuzzer.cmake: -D${var}=... is required")
  endif()
endforeach()
file(MAKE_DIRECTORY ${WORK}/corpus ${WORK}/artifacts)
file(GLOB seeds ${SEEDS}/*)
if(seeds)
  file(COPY ${seeds} DESTINATION ${WORK}/corpus)
endif()
execute_process(
  COMMAND ${FUZZER} -max_total_time=${SECONDS} -timeout=10 -rss_limit_mb=2048
          -error_exitcode=77 -timeout_exitcode=78 -print_final_stats=1
          -artifact_prefix=${WORK}/artifacts/ ${WORK}/corpus
  RESULT_VARIABLE result)
if(NOT result EQUAL 0)
  message(FATAL_ERROR "${FUZZER} failed (exit ${result}); the input is in ${WORK}/artifacts/. "
                      "Reproduce: ${FUZZER} ${WORK}/artifacts/<file>")
endif()
