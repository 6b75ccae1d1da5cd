# The parts of a consumer project that check recall's packaging rather than
# show its use: included by every consumer project after it defines the
# `consumer` executable linked to recall::recall.
get_target_property(recall_type recall::recall TYPE)
if(recall_type STREQUAL "SHARED_LIBRARY")
  include(GenerateExportHeader)
  add_library(consumer_plugin SHARED ${CMAKE_CURRENT_LIST_DIR}/plugin.cpp)
  set_target_properties(consumer_plugin PROPERTIES
    CXX_VISIBILITY_PRESET hidden VISIBILITY_INLINES_HIDDEN ON)
  generate_export_header(consumer_plugin)
  target_include_directories(consumer_plugin PUBLIC ${CMAKE_CURRENT_BINARY_DIR})
  target_link_libraries(consumer_plugin PUBLIC recall::recall)
  target_link_libraries(consumer PRIVATE consumer_plugin)
  target_compile_definitions(consumer PRIVATE RECALL_CONSUMER_PLUGIN)
endif()
if(TARGET recall::redis)
  target_link_libraries(consumer PRIVATE recall::redis)
  target_compile_definitions(consumer PRIVATE RECALL_CONSUMER_REDIS)
endif()
