# Finds libyal's libevtx (Debian: libevtx-dev). Defines EVTX::evtx.
find_path(EVTX_INCLUDE_DIR libevtx.h)
find_library(EVTX_LIBRARY evtx)
include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(EVTX REQUIRED_VARS EVTX_INCLUDE_DIR EVTX_LIBRARY)
if(EVTX_FOUND AND NOT TARGET EVTX::evtx)
  add_library(EVTX::evtx SHARED IMPORTED)
  set_target_properties(EVTX::evtx PROPERTIES
    IMPORTED_LOCATION "${EVTX_LIBRARY}"
    INTERFACE_INCLUDE_DIRECTORIES "${EVTX_INCLUDE_DIR}")
endif()
mark_as_advanced(EVTX_INCLUDE_DIR EVTX_LIBRARY)
