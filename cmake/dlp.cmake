# Helpers shared by every area: one static library per sensor/ area, one
# cmocka executable per unit test. An area links only the areas it names in
# DEPS, so a forbidden dependency fails to link (ARCHITECTURE.md, G15).

set(DLP_WARNINGS -Wall -Wextra -Wshadow -Wstrict-prototypes
    -Wmissing-prototypes -Wformat=2 -Wvla -Wpointer-arith -Wundef)
if(DLP_WERROR)
  list(APPEND DLP_WARNINGS -Werror)
endif()

add_compile_definitions(_GNU_SOURCE)
if(DLP_SANITIZE)
  add_compile_options(-fsanitize=address,undefined -fno-sanitize-recover=all
                      -fno-omit-frame-pointer)
  add_link_options(-fsanitize=address,undefined)
endif()

# dlp_add_area(NAME SOURCES a.c b.c DEPS dlp_core ... LIBS PkgConfig::X ...)
function(dlp_add_area name)
  cmake_parse_arguments(A "" "" "SOURCES;DEPS;LIBS" ${ARGN})
  add_library(${name} STATIC ${A_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/include
                             PRIVATE ${CMAKE_CURRENT_SOURCE_DIR})
  target_compile_options(${name} PRIVATE ${DLP_WARNINGS})
  target_link_libraries(${name} PUBLIC ${A_DEPS} PRIVATE ${A_LIBS})
endfunction()

# dlp_add_unit_test(NAME SOURCES t.c LIBS dlp_x ...) : a cmocka test under ctest.
function(dlp_add_unit_test name)
  cmake_parse_arguments(T "" "" "SOURCES;LIBS;LABELS" ${ARGN})
  add_executable(${name} ${T_SOURCES})
  target_compile_options(${name} PRIVATE ${DLP_WARNINGS} -Wno-missing-prototypes)
  target_include_directories(${name} PRIVATE ${PROJECT_SOURCE_DIR}/tests/harness)
  target_link_libraries(${name} PRIVATE ${T_LIBS} PkgConfig::CMOCKA)
  add_test(NAME ${name} COMMAND ${name})
  set_tests_properties(${name} PROPERTIES LABELS "unit;${T_LABELS}"
      ENVIRONMENT "DLP_SRC=${PROJECT_SOURCE_DIR};DLP_BUILD=${PROJECT_BINARY_DIR}")
endfunction()
