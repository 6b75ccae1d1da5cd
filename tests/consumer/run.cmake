# Builds and runs the consumer program (main.cpp) against recall added one
# way (MODE: find_package, add_subdirectory or fetchcontent), as a static or a
# shared library (SHARED: ON/OFF). Run by CTest with cmake -P.
#
# find_package installs recall into a temporary prefix first: from the main
# build (REUSE_BUILD_DIR) when it has the wanted linkage, else from a build of
# only the library. With a shared library it also checks that every function
# defined in src/ is exported and that the soname chain is in place; with a
# static one the pkg-config file is used to build the program once more. When
# the install has recall::redis, tests/consumer_redis asks for it with
# COMPONENTS redis; a prefix without it must refuse that with a clear message.
#
# Inputs: MODE SHARED SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER VERSION
# VERSION_MAJOR VERSION_MINOR; optional: REUSE_BUILD_DIR (with its LIBDIR),
# LAUNCHER, NM, WITH_REDIS (RECALL_WITH_REDIS for the builds of recall).
cmake_minimum_required(VERSION 3.20)

file(REMOVE_RECURSE ${WORK_DIR})
set(consumer_dir ${SOURCE_DIR}/tests/consumer)
set(common -G ${GENERATOR} -DCMAKE_CXX_COMPILER=${CXX_COMPILER} -DBUILD_SHARED_LIBS=${SHARED})
if(LAUNCHER)
  list(APPEND common -DCMAKE_CXX_COMPILER_LAUNCHER=${LAUNCHER})
endif()
# recall::redis is covered through find_package; the subproject builds leave
# it out to stay short.
if(NOT MODE STREQUAL "find_package")
  list(APPEND common -DRECALL_WITH_REDIS=OFF)
elseif(DEFINED WITH_REDIS)
  list(APPEND common -DRECALL_WITH_REDIS=${WITH_REDIS})
endif()

function(run)
  execute_process(COMMAND ${ARGN} RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out
                  TIMEOUT 600)
  if(NOT rc EQUAL 0)
    string(REPLACE ";" " " command "${ARGN}")
    message(FATAL_ERROR "consumer test: command failed (${rc}):\n${command}\n${out}")
  endif()
endfunction()

function(build_and_run_consumer project_dir)
  run(${CMAKE_COMMAND} -S ${consumer_dir}/${project_dir} -B ${WORK_DIR}/consumer ${common}
      ${ARGN})
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/consumer --target consumer --parallel 1)
  # A deadlock must fail the test, not hang it.
  execute_process(COMMAND ${WORK_DIR}/consumer/consumer RESULT_VARIABLE rc TIMEOUT 60
                  OUTPUT_VARIABLE out ERROR_VARIABLE out)
  message(STATUS "${out}")
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer test: the consumer program failed (${rc})")
  endif()
endfunction()

# Every function with external linkage that src/ defines in namespace recall
# must be in the shared library's dynamic symbol table, unless it is private:
# its class is defined in a header under src/, or the function is declared at
# namespace scope in a file under src/.
function(check_exports build_dir target)
  if(NOT NM OR NOT CMAKE_HOST_SYSTEM_NAME STREQUAL "Linux")
    return()
  endif()
  file(GLOB_RECURSE objects ${build_dir}/CMakeFiles/${target}.dir/src/*.o)
  execute_process(COMMAND ${NM} -C --defined-only ${objects} OUTPUT_VARIABLE defined)
  file(GLOB library ${build_dir}/lib${target}.so)
  execute_process(COMMAND ${NM} -C -D --defined-only ${library} OUTPUT_VARIABLE exported)
  file(GLOB_RECURSE private_headers ${SOURCE_DIR}/src/*.hpp)
  file(GLOB_RECURSE private_sources ${SOURCE_DIR}/src/*.hpp ${SOURCE_DIR}/src/*.cpp)
  set(private_text "")
  foreach(file IN LISTS private_sources)
    file(READ ${file} text)
    string(APPEND private_text "\n${text}")
  endforeach()
  set(private_classes "")
  foreach(file IN LISTS private_headers)
    file(READ ${file} text)
    string(APPEND private_classes "\n${text}")
  endforeach()
  string(REPLACE "\n" ";" defined "${defined}")
  set(missing "")
  foreach(line IN LISTS defined)
    if(NOT line MATCHES "^[0-9a-f]+ T (recall::.*)$")
      continue()
    endif()
    set(symbol "${CMAKE_MATCH_1}")
    string(FIND "${exported}" " ${symbol}\n" at)
    if(NOT at EQUAL -1)
      continue()
    endif()
    string(REGEX REPLACE "^recall::(detail::)?([A-Za-z0-9_]+).*$" "\\2" owner "${symbol}")
    if(private_classes MATCHES "(class|struct) ${owner}[ \n:{]" OR
       private_text MATCHES "\n[A-Za-z_][^\n(;{]*[ *&]${owner}\\([^;{]*\\)[^;{]*;")
      continue()
    endif()
    string(APPEND missing "  ${symbol}\n")
  endforeach()
  if(missing)
    string(TOUPPER "${target}_EXPORT" macro)
    message(FATAL_ERROR "consumer test: defined in src/ but not exported from lib${target}.so "
                        "(declare them with ${macro}):\n${missing}")
  endif()
endfunction()

function(check_soname libdir name)
  if(NOT CMAKE_HOST_SYSTEM_NAME STREQUAL "Linux")
    return()
  endif()
  set(soname lib${name}.so.${VERSION_MAJOR}.${VERSION_MINOR})
  file(READ_SYMLINK ${libdir}/lib${name}.so link)
  file(READ_SYMLINK ${libdir}/${soname} target)
  if(NOT link STREQUAL soname OR NOT target STREQUAL "lib${name}.so.${VERSION}")
    message(FATAL_ERROR "consumer test: expected lib${name}.so -> ${soname} -> "
                        "lib${name}.so.${VERSION}, found ${link} -> ${target}")
  endif()
endfunction()

# find_package(recall COMPONENTS redis) against `prefix` must fail, saying
# that recall was built without its redis component.
function(expect_no_redis prefix)
  execute_process(COMMAND ${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer_redis
                          -B ${WORK_DIR}/consumer_no_redis ${common} -DCMAKE_PREFIX_PATH=${prefix}
                  RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out)
  if(rc EQUAL 0 OR NOT out MATCHES "built without its redis component")
    message(FATAL_ERROR "consumer test: find_package(recall COMPONENTS redis) without "
                        "recall::redis should fail clearly (${rc}):\n${out}")
  endif()
endfunction()

# With recall::redis installed: the consumer that asks for COMPONENTS redis
# works, recall-redis.pc answers, and the same prefix without the redis
# export refuses the component.
function(check_redis_component prefix libdir)
  run(${CMAKE_COMMAND} -S ${SOURCE_DIR}/tests/consumer_redis -B ${WORK_DIR}/consumer_redis
      ${common} -DCMAKE_PREFIX_PATH=${prefix})
  run(${CMAKE_COMMAND} --build ${WORK_DIR}/consumer_redis --parallel 1)
  run(${WORK_DIR}/consumer_redis/consumer_redis)
  find_program(PKG_CONFIG pkg-config)
  if(PKG_CONFIG)
    run(${CMAKE_COMMAND} -E env PKG_CONFIG_PATH=${libdir}/pkgconfig ${PKG_CONFIG} --libs
        recall-redis)
  endif()
  set(without ${WORK_DIR}/prefix_without_redis)
  file(COPY ${prefix}/ DESTINATION ${without})
  file(GLOB_RECURSE redis_exports ${without}/*/recall-redis-targets*.cmake)
  file(REMOVE ${redis_exports})
  expect_no_redis(${without})
endfunction()

# The pkg-config file alone is enough to compile and link the program.
function(build_with_pkg_config libdir)
  find_program(PKG_CONFIG pkg-config)
  if(NOT PKG_CONFIG)
    message(STATUS "consumer test: no pkg-config, its check is skipped")
    return()
  endif()
  set(ENV{PKG_CONFIG_PATH} ${libdir}/pkgconfig)
  execute_process(COMMAND ${PKG_CONFIG} --modversion recall OUTPUT_VARIABLE pc_version
                  OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT pc_version STREQUAL VERSION)
    message(FATAL_ERROR "consumer test: pkg-config says recall ${pc_version}, not ${VERSION}")
  endif()
  execute_process(COMMAND ${PKG_CONFIG} --cflags --libs recall OUTPUT_VARIABLE flags
                  RESULT_VARIABLE rc OUTPUT_STRIP_TRAILING_WHITESPACE)
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "consumer test: pkg-config --cflags --libs recall failed")
  endif()
  separate_arguments(flags UNIX_COMMAND "${flags}")
  set(exe ${WORK_DIR}/consumer-pkg-config)
  run(${LAUNCHER} ${CXX_COMPILER} ${consumer_dir}/main.cpp -o ${exe} ${flags}
      -Wl,-rpath,${libdir})
  run(${exe})
endfunction()

if(MODE STREQUAL "find_package")
  set(prefix ${WORK_DIR}/prefix)
  if(REUSE_BUILD_DIR)
    set(recall_build ${REUSE_BUILD_DIR})
    set(libdir ${prefix}/${LIBDIR})
  else()
    set(recall_build ${WORK_DIR}/recall)
    set(libdir ${prefix}/lib)
    run(${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${recall_build} ${common}
        -DRECALL_BUILD_TESTS=OFF -DRECALL_BUILD_BENCHMARKS=OFF -DRECALL_BUILD_EXAMPLES=OFF
        -DRECALL_INSTALL=ON -DCMAKE_INSTALL_LIBDIR=lib)
    run(${CMAKE_COMMAND} --build ${recall_build} --parallel 1)
  endif()
  run(${CMAKE_COMMAND} --install ${recall_build} --prefix ${prefix})
  set(with_redis OFF)
  if(EXISTS ${libdir}/cmake/recall/recall-redis-targets.cmake)
    set(with_redis ON)
  endif()
  if(SHARED)
    check_exports(${recall_build} recall)
    check_soname(${libdir} recall)
    if(with_redis)
      check_exports(${recall_build} recall_redis)
      check_soname(${libdir} recall_redis)
    endif()
  endif()
  build_and_run_consumer(find_package -DCMAKE_PREFIX_PATH=${prefix})
  if(NOT SHARED)
    build_with_pkg_config(${libdir})
  endif()
  if(with_redis)
    check_redis_component(${prefix} ${libdir})
  else()
    expect_no_redis(${prefix})
  endif()
elseif(MODE STREQUAL "add_subdirectory")
  build_and_run_consumer(add_subdirectory -DRECALL_SOURCE_DIR=${SOURCE_DIR})
elseif(MODE STREQUAL "fetchcontent")
  build_and_run_consumer(fetchcontent -DFETCHCONTENT_SOURCE_DIR_RECALL=${SOURCE_DIR})
else()
  message(FATAL_ERROR "consumer test: unknown MODE '${MODE}'")
endif()
