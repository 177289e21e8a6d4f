# SPDX-License-Identifier: Apache-2.0
# synwatch_bpf_skeleton(<target> <source.bpf.c>): compile an XDP program with
# clang -target bpf and wrap it in a bpftool skeleton header, exposed as an
# INTERFACE target whose include directory holds <name>.skel.h. The object
# is embedded in the header, so nothing is looked up at run time.
find_program(BPF_CLANG NAMES clang clang-14 REQUIRED)
find_program(BPFTOOL NAMES bpftool PATHS /usr/sbin /sbin REQUIRED)

execute_process(COMMAND uname -m OUTPUT_VARIABLE _sw_arch OUTPUT_STRIP_TRAILING_WHITESPACE)
if(_sw_arch STREQUAL "x86_64")
  set(_sw_target_arch x86)
else()
  set(_sw_target_arch ${_sw_arch})
endif()

function(synwatch_bpf_skeleton target source)
  get_filename_component(_name ${source} NAME_WE)
  set(_dir ${CMAKE_BINARY_DIR}/bpf)
  set(_obj ${_dir}/${_name}.bpf.o)
  set(_skel ${_dir}/${_name}.skel.h)
  file(MAKE_DIRECTORY ${_dir})
  add_custom_command(
    OUTPUT ${_obj}
    COMMAND ${BPF_CLANG} -g -O2 -target bpf -D__TARGET_ARCH_${_sw_target_arch}
            -Wall -Werror -I${CMAKE_SOURCE_DIR}/bpf
            -I/usr/include/${CMAKE_LIBRARY_ARCHITECTURE}
            -c ${CMAKE_SOURCE_DIR}/${source} -o ${_obj}
    DEPENDS ${CMAKE_SOURCE_DIR}/${source} ${CMAKE_SOURCE_DIR}/bpf/synwatch.h
            ${CMAKE_SOURCE_DIR}/bpf/parsing.h
    COMMENT "BPF ${source}")
  add_custom_command(
    OUTPUT ${_skel}
    COMMAND ${BPFTOOL} gen skeleton ${_obj} name ${_name}_bpf > ${_skel}
    DEPENDS ${_obj}
    COMMENT "skeleton ${_name}.skel.h")
  add_custom_target(${target}_gen ALL DEPENDS ${_skel})
  add_library(${target} INTERFACE)
  add_dependencies(${target} ${target}_gen)
  target_include_directories(${target} INTERFACE ${_dir})
endfunction()
