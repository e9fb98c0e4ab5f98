// Runs the Windows live source's OS parts once, as the agent would at start:
// the Sysmon presence verdict (tracker.sysmon-file-location), then the ETW
// session on Sysmon's provider for a few seconds (stopped from another
// thread), printing what it received. Exit 0 when the session ran, 2 with
// the session's error message when it could not (wine: ETW is stubbed, so
// OpenTraceW or ProcessTrace fails; the check is that this is a clear
// message and an exit, never a hang). Built standalone (no CAF) by
// scripts/windows-checks.sh.
#include "actors/etw/etw_session.hpp"
#include "actors/etw/sysmon_presence.hpp"

#include <windows.h>

#include <chrono>
#include <cstdio>
#include <thread>

using namespace proctrack;

int main(int argc, char **argv) {
  std::string where = argc > 1 ? argv[1] : "C:/Windows/sysmon64.exe";
  auto v = etw::check_sysmon(where);
  std::printf("sysmon: state %d: %s\n", static_cast<int>(v.state),
              v.message.c_str());
  std::uint64_t rows = 0;
  etw::session s(
      etw::local_computer_name(),
      [&](process_update u) {
        ++rows;
        std::printf("row: %s pid %s guid %s\n", to_string(u.kind),
                    u.process.pid.c_str(),
                    u.kind == update_kind::exit ? u.target.c_str()
                                                : u.process.guid.c_str());
      },
      [](std::uint16_t id, const std::string &why) {
        std::printf("event %u not decoded: %s\n", id, why.c_str());
      },
      [] { std::printf("events lost\n"); });
  std::string err;
  auto t0 = std::chrono::steady_clock::now();
  if (!s.start(err)) {
    std::printf("etw: %s\n", err.c_str());
    return 2;
  }
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::seconds(3));
    s.stop();
  });
  bool ok = s.run(err);
  stopper.join();
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                std::chrono::steady_clock::now() - t0)
                .count();
  auto st = s.stats();
  std::printf("etw: ran %lld ms, %llu events, %llu rows, lost %llu/%llu\n",
              static_cast<long long>(ms),
              static_cast<unsigned long long>(st.events),
              static_cast<unsigned long long>(rows),
              static_cast<unsigned long long>(st.events_lost),
              static_cast<unsigned long long>(st.buffers_lost));
  if (!ok) {
    std::printf("etw: %s\n", err.c_str());
    return 2;
  }
  return 0;
}
