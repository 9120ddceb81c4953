# -O2 for Release: g++ 12 at -O3 raises false -Wrestrict/-Wstringop-overflow errors inside
# libstdc++, and -O3 measured no faster on the hashing and I/O paths that dominate.
set(CMAKE_CXX_FLAGS_RELEASE "-O2 -DNDEBUG" CACHE STRING "" FORCE)

# Settings every Cairn target links; third-party targets never see them.
add_library(cairn_settings INTERFACE)
target_compile_features(cairn_settings INTERFACE cxx_std_20)
target_include_directories(cairn_settings INTERFACE ${PROJECT_SOURCE_DIR})

add_library(cairn_warnings INTERFACE)
target_compile_options(cairn_warnings INTERFACE
  -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Woverloaded-virtual
  -Wnull-dereference)
if(CAIRN_WERROR)
  target_compile_options(cairn_warnings INTERFACE -Werror)
endif()

# Stricter arithmetic warnings for the shared core, where on-disk and wire formats live.
add_library(cairn_strict_warnings INTERFACE)
target_compile_options(cairn_strict_warnings INTERFACE -Wconversion -Wsign-conversion)

if(CAIRN_SANITIZE)
  add_compile_options(-fsanitize=${CAIRN_SANITIZE} -fno-omit-frame-pointer
                      -fno-sanitize-recover=undefined)
  add_link_options(-fsanitize=${CAIRN_SANITIZE})
  if(CAIRN_SANITIZE MATCHES "thread")
    # Asio's fenced blocks use std::atomic_thread_fence, which TSan cannot model; g++ warns about
    # every use. The warning says nothing about our code.
    add_compile_options(-Wno-tsan)
  endif()
endif()

if(CAIRN_FUZZ)
  if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
    message(FATAL_ERROR "CAIRN_FUZZ needs clang (libFuzzer): CXX=clang++-14")
  endif()
  # Coverage feedback for libFuzzer in every library; the fuzz targets link -fsanitize=fuzzer.
  add_compile_options(-fsanitize=fuzzer-no-link)
endif()

# Links faster than ld.bfd when present.
find_program(CAIRN_LLD ld.lld)
if(CAIRN_LLD)
  add_link_options(-fuse-ld=lld)
endif()

# common/version.h: the project's version, written into the build tree.
configure_file(${PROJECT_SOURCE_DIR}/common/version.h.in
               ${PROJECT_BINARY_DIR}/generated/common/version.h @ONLY)
target_include_directories(cairn_settings INTERFACE ${PROJECT_BINARY_DIR}/generated)
