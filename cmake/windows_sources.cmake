# The Windows live agent's own sources (docs/windows-live.md), for the
# Windows (mingw-w64) build to include:
#   include(cmake/windows_sources.cmake)
#   target_sources(libproctrack PRIVATE ${proctrack_windows_sources})
#   target_link_libraries(libproctrack PRIVATE ${proctrack_windows_libs})
# The top-level glob of actors/*.cpp already compiles them on every
# platform: the Windows-only ones are empty outside _WIN32, the decoder and
# the Sysmon verdict are plain C++ tested on Linux (etw_decoder_test).
set(_pt_root "${CMAKE_CURRENT_LIST_DIR}/..")
set(proctrack_windows_sources
    # plain C++, every platform
    ${_pt_root}/actors/etw/sysmon_etw_decoder.cpp
    ${_pt_root}/actors/etw/sysmon_presence.cpp
    # Windows only
    ${_pt_root}/actors/etw/etw_session.cpp
    ${_pt_root}/actors/winpslist/windows_pslist.cpp)
# The CAF actor that owns the ETW session (Windows only; empty elsewhere).
# The Windows pslist needs no actor of its own: the pslist sync actor's
# reader (actors/live/pslist_reader_windows.cpp, win19) calls
# windows::list_processes().
set(proctrack_windows_actor_sources ${_pt_root}/actors/etw/etw_source.cpp)
# ETW consumer and TDH (tdh), SCM and tokens (advapi32),
# NtQuerySystemInformation / NtQueryInformationProcess (ntdll).
set(proctrack_windows_libs tdh advapi32 ntdll)
unset(_pt_root)
