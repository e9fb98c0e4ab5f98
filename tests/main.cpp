// The one Boost.Test runner of every suite. Each tests/*_test.cpp is one
// top-level suite named after its file; ctest runs each suite as its own
// test (`proctrack_tests --run_test=fleet_test`), so one program is
// compiled and linked instead of one per suite.
#define BOOST_TEST_MODULE proctrack
#ifdef PROCTRACK_BOOST_TEST_HEADER_ONLY
// The Windows build has no Boost.Test library: the header-only runner.
#include <boost/test/included/unit_test.hpp>
#else
#include <boost/test/unit_test.hpp>
#endif

// libevtx 20181227 leaks a few small allocations on some error paths of
// damaged files (libfwevt/libfvalue internals); not ours to fix. Read only
// by LeakSanitizer (proctrack_asan_tests, -DPROCTRACK_SANITIZE=ON).
extern "C" const char *__lsan_default_suppressions() {
  return "leak:libevtx.so\n";
}
