# The Windows x86-64 build (mingw-w64, cross-compiled from Debian by
# scripts/build-windows.sh with cmake/mingw-w64-x86_64.cmake; docs/windows.md).
#
# Its dependencies come from PROCTRACK_MINGW_PREFIX (/opt/proctrack-mingw),
# never from the host's /usr:
#  - CAF 0.17.6 core and io, static (Debian's source package, cross-built);
#  - zlib and pugixml, static (Debian's source packages, cross-built);
#  - nlohmann/json, spdlog (header-only, with fmt header-only) and Boost's
#    headers (Boost.Test's header-only runner): Debian's own headers, staged
#    into <prefix>/include (one directory each).
# Left out, with why (and what the user sees when asking for it):
#  - libevtx (no mingw package): EVTX is read by our own BinXML decoder, the
#    default engine; only libevtx's second opinion on a file whose header is
#    flagged dirty is missing (actors/ingest/evtx_reader_windows.cpp);
#  - OpenSSL (no mingw package): no TLS (tls.* refused at start);
#  - SQLite (no mingw package): no history store (--history, history.path);
#  - the Linux live sources (procfs, proc connector, eBPF), the Unix query
#    socket and the listener guard (POSIX sockets): `run` on Windows uses the
#    Windows live sources when they are in the tree (actors/winpslist/,
#    actors/etw/), with no query endpoint; `collector` is Linux-only.
if(NOT PROCTRACK_MINGW_PREFIX)
  set(PROCTRACK_MINGW_PREFIX /opt/proctrack-mingw)
endif()
set(_inc ${PROCTRACK_MINGW_PREFIX}/include)
foreach(_dir nlohmann spdlog fmt boost)
  if(NOT EXISTS ${_inc}/${_dir})
    message(FATAL_ERROR "${_inc}/${_dir} is missing: scripts/build-windows.sh "
                        "stages it from Debian's headers")
  endif()
endforeach()

add_library(nlohmann_json::nlohmann_json INTERFACE IMPORTED)
set_target_properties(nlohmann_json::nlohmann_json PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES ${_inc})
# Debian's spdlog takes fmt from outside (tweakme.h: SPDLOG_FMT_EXTERNAL);
# both are used header-only here.
add_library(spdlog::spdlog INTERFACE IMPORTED)
set_target_properties(spdlog::spdlog PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES ${_inc}
  INTERFACE_COMPILE_DEFINITIONS FMT_HEADER_ONLY)
add_library(Boost::headers INTERFACE IMPORTED)
set_target_properties(Boost::headers PROPERTIES
  INTERFACE_INCLUDE_DIRECTORIES ${_inc})
if(PROCTRACK_TESTS)
  # tests/main.cpp includes the header-only runner when this is defined.
  add_library(Boost::unit_test_framework INTERFACE IMPORTED)
  set_target_properties(Boost::unit_test_framework PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES ${_inc}
    INTERFACE_COMPILE_DEFINITIONS PROCTRACK_BOOST_TEST_HEADER_ONLY)
endif()
find_package(ZLIB REQUIRED)
find_package(pugixml REQUIRED CONFIG)

# What every Windows target compiles and links with. Static: proctrack.exe
# runs on a host with nothing installed (no libstdc++, libgcc or winpthread
# DLL).
add_library(proctrack_windows_defs INTERFACE)
target_compile_definitions(proctrack_windows_defs INTERFACE
  PROCTRACK_NO_TLS _WIN32_WINNT=0x0A00 NOMINMAX)
target_link_options(proctrack_windows_defs INTERFACE
  -static -static-libgcc -static-libstdc++)
target_link_libraries(proctrack_windows_defs INTERFACE
  ws2_32 iphlpapi psapi advapi32 ntdll)

# The Windows live sources, plain C++ under actors/winpslist/ (the process
# list) and actors/etw/ (Sysmon over ETW): in the source glob when present,
# their .cpp compile to nothing elsewhere. `run` needs the process list.
set(PROCTRACK_HAVE_WINPSLIST OFF)
if(EXISTS ${PROJECT_SOURCE_DIR}/actors/winpslist/windows_pslist.hpp)
  set(PROCTRACK_HAVE_WINPSLIST ON)
  target_compile_definitions(proctrack_windows_defs INTERFACE
    PROCTRACK_HAVE_WINPSLIST=1)
  message(STATUS "Windows: process list (actors/winpslist): built; "
                 "`run` syncs it every tracker.sync-period")
else()
  message(STATUS "Windows: no process list (actors/winpslist/ missing): "
                 "`run` exits 2 and says so")
endif()
if(EXISTS ${PROJECT_SOURCE_DIR}/actors/etw)
  target_link_libraries(proctrack_windows_defs INTERFACE tdh)
endif()
message(STATUS "Windows: left out: libevtx (EVTX read by the BinXML decoder; "
               "no libevtx verdict on dirty headers), OpenSSL (no TLS), "
               "SQLite (no history store), the Linux live sources, the Unix "
               "query socket, the listener guard (no query endpoint, no "
               "collector): docs/windows.md")
