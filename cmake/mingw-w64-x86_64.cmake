# Cross-compiling for Windows x86-64 from Debian with mingw-w64 (posix
# threads variant: std::thread and std::mutex come from winpthread, which
# CAF needs). Used by scripts/build-windows.sh for CAF and for proctrack.
#
#   cmake -DCMAKE_TOOLCHAIN_FILE=cmake/mingw-w64-x86_64.cmake \
#         -DCMAKE_PREFIX_PATH=/opt/proctrack-mingw ...
#
# PROCTRACK_MINGW_PREFIX (default /opt/proctrack-mingw) holds the Windows
# CAF and the staged header-only libraries; it is searched for libraries,
# headers and CMake packages, the host's /usr never is.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(_mingw x86_64-w64-mingw32)
set(CMAKE_C_COMPILER ${_mingw}-gcc-posix)
set(CMAKE_CXX_COMPILER ${_mingw}-g++-posix)
set(CMAKE_RC_COMPILER ${_mingw}-windres)
if(NOT PROCTRACK_MINGW_PREFIX)
  set(PROCTRACK_MINGW_PREFIX /opt/proctrack-mingw)
endif()
set(CMAKE_FIND_ROOT_PATH /usr/${_mingw} ${PROCTRACK_MINGW_PREFIX})
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
# Tests and try_run go through wine (Debian's wine64 package).
if(NOT CMAKE_CROSSCOMPILING_EMULATOR)
  find_program(PROCTRACK_WINE64 NAMES wine64 PATHS /usr/lib/wine NO_DEFAULT_PATH)
  find_program(PROCTRACK_WINE64 NAMES wine64)
  if(PROCTRACK_WINE64)
    set(CMAKE_CROSSCOMPILING_EMULATOR ${PROCTRACK_WINE64})
  endif()
endif()
