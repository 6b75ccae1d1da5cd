# Installs recall into a temporary prefix, then configures, builds and runs a
# tiny project that uses it through find_package(recall CONFIG REQUIRED).
# With WITH_REDIS, a second one asks for COMPONENTS redis; and a prefix
# without recall::redis must refuse that request with a clear message.
file(REMOVE_RECURSE ${WORK_DIR})
set(prefix ${WORK_DIR}/prefix)

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "command failed (${rc}): ${ARGN}\n${out}")
  endif()
endfunction()

# Configuring the redis consumer against `install_prefix` must fail, saying
# that recall was built without its redis component.
function(expect_no_redis install_prefix)
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer_redis
                          -B ${WORK_DIR}/build_no_redis -DCMAKE_PREFIX_PATH=${install_prefix}
                          -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(rc EQUAL 0 OR NOT out MATCHES "built without its redis component")
    message(FATAL_ERROR "find_package(recall COMPONENTS redis) without recall::redis should "
                        "fail clearly (${rc}):\n${out}")
  endif()
endfunction()

run(${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix})
run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer -B ${WORK_DIR}/build
    -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
run(${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run(${WORK_DIR}/build/consumer)

if(WITH_REDIS)
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer_redis -B ${WORK_DIR}/build_redis
      -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX_COMPILER})
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/build_redis)
  run(${WORK_DIR}/build_redis/consumer_redis)
  find_program(PKG_CONFIG pkg-config)
  if(PKG_CONFIG)
    file(GLOB pc_dirs ${prefix}/lib*/pkgconfig ${prefix}/lib/*/pkgconfig)
    string(REPLACE ";" ":" pc_path "${pc_dirs}")
    run(${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${pc_path} ${PKG_CONFIG} --libs recall-redis)
  endif()
  # The same package without its redis part, as a build without hiredis
  # installs it.
  set(prefix_without ${WORK_DIR}/prefix_without_redis)
  file(COPY ${prefix}/ DESTINATION ${prefix_without})
  file(GLOB_RECURSE redis_exports ${prefix_without}/*/recall-redis-targets*.cmake)
  file(REMOVE ${redis_exports})
  expect_no_redis(${prefix_without})
else()
  expect_no_redis(${prefix})
endif()
