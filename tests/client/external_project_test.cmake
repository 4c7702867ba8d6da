# Installs the `client` component of a Winnow build tree into a fresh
# prefix, then configures, builds and runs tests/client/external_project
# against it, as a user of the installed package would:
#   cmake -DBUILD_DIR=... -DSOURCE_DIR=... -DWORK_DIR=... -DGENERATOR=...
#         -DCXX_COMPILER=... -P external_project_test.cmake
foreach(var BUILD_DIR SOURCE_DIR WORK_DIR GENERATOR CXX_COMPILER)
  if(NOT DEFINED ${var})
    message(FATAL_ERROR "${var} is not set")
  endif()
endforeach()

function(run step timeout)
  execute_process(COMMAND ${ARGN}
    RESULT_VARIABLE rc OUTPUT_VARIABLE out ERROR_VARIABLE out
    TIMEOUT ${timeout})
  if(NOT rc EQUAL 0)
    message(FATAL_ERROR "${step} failed (${rc}):\n${out}")
  endif()
  message(STATUS "${step}: ok")
  set(last_output "${out}" PARENT_SCOPE)
endfunction()

set(prefix ${WORK_DIR}/prefix)
file(REMOVE_RECURSE ${WORK_DIR})
run("install" 120
  ${CMAKE_COMMAND} --install ${BUILD_DIR} --prefix ${prefix}
  --component client)
foreach(f lib/cmake/winnow/winnowConfig.cmake
          lib/cmake/winnow/winnowConfigVersion.cmake
          lib/cmake/winnow/winnowTargets.cmake
          include/winnow/client/client.h
          include/winnow/v1/selection.grpc.pb.h
          share/winnow/proto/winnow/v1/selection.proto)
  if(NOT EXISTS ${prefix}/${f})
    message(FATAL_ERROR "not installed: ${f}")
  endif()
endforeach()
# The package must not point back into the build or source tree.
file(GLOB_RECURSE targets_files ${prefix}/lib/cmake/winnow/*.cmake)
foreach(f ${targets_files})
  file(READ ${f} text)
  string(FIND "${text}" "${BUILD_DIR}" at)
  if(NOT at EQUAL -1)
    message(FATAL_ERROR "${f} refers to the build tree ${BUILD_DIR}")
  endif()
endforeach()

run("configure" 180
  ${CMAKE_COMMAND} -S ${SOURCE_DIR} -B ${WORK_DIR}/build -G ${GENERATOR}
  -DCMAKE_PREFIX_PATH=${prefix} -DCMAKE_CXX_COMPILER=${CXX_COMPILER}
  -DCMAKE_BUILD_TYPE=Release)
run("build" 400 ${CMAKE_COMMAND} --build ${WORK_DIR}/build)
run("run" 60 ${WORK_DIR}/build/winnow_client_example)
message(STATUS "${last_output}")
