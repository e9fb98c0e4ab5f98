// listener_attack: runs one attack of tests/support/listener_attacks.hpp
// against 127.0.0.1:PORT and reports what it cost process PID (the
// listener) in RSS and descriptors, sampled every 20 ms while the attack
// is held. The figures of docs/security.md and docs/benchmarks.md come from
// it (bench/listener_attacks.sh runs it).
//
//   listener_attack PID PORT header CONNECTIONS PAYLOAD_BYTES HOLD_SECONDS
//   listener_attack PID PORT idle CONNECTIONS HOLD_SECONDS
//   listener_attack PID PORT garbage BYTES CONNECTIONS
//
// One JSON line out: {"attack":..,"rss_before_kb":..,"rss_peak_kb":..,
// "fds_before":..,"fds_peak":..,"held":..,"sent":..}
#include "tests/support/listener_attacks.hpp"

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <thread>

using namespace proctrack::attack;

int main(int argc, char **argv) {
  if (argc < 5) {
    std::fprintf(stderr, "usage: see the comment at the top of %s\n", __FILE__);
    return 2;
  }
  int pid = std::atoi(argv[1]);
  auto port = static_cast<std::uint16_t>(std::atoi(argv[2]));
  std::string what = argv[3];
  long rss0 = status_kb(pid, "VmRSS");
  int fds0 = open_fds(pid);
  std::atomic<long> rss_peak{rss0};
  std::atomic<int> fds_peak{fds0};
  std::atomic<bool> done{false};
  std::thread sampler([&] {
    while (!done) {
      long r = status_kb(pid, "VmRSS");
      int f = open_fds(pid);
      if (r > rss_peak)
        rss_peak = r;
      if (f > fds_peak)
        fds_peak = f;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  });
  std::size_t held = 0;
  std::uint64_t sent = 0;
  if (what == "header" && argc >= 7) {
    auto fds = header_attack(
        port, static_cast<std::uint32_t>(std::strtoul(argv[5], nullptr, 0)),
        std::atoi(argv[4]));
    held = fds.size();
    std::this_thread::sleep_for(std::chrono::seconds(std::atoi(argv[6])));
    close_all(fds);
  } else if (what == "idle" && argc >= 6) {
    auto fds = idle_flood(port, std::atoi(argv[4]));
    held = fds.size();
    std::this_thread::sleep_for(std::chrono::seconds(std::atoi(argv[5])));
    close_all(fds);
  } else if (what == "garbage" && argc >= 6) {
    sent =
        garbage(port, std::strtoull(argv[4], nullptr, 0), std::atoi(argv[5]));
  } else {
    std::fprintf(stderr,
                 "listener_attack: unknown attack or missing arguments\n");
    return 2;
  }
  std::this_thread::sleep_for(std::chrono::milliseconds(500));
  done = true;
  sampler.join();
  std::printf("{\"attack\":\"%s\",\"rss_before_kb\":%ld,\"rss_peak_kb\":%ld,"
              "\"rss_after_kb\":%ld,\"fds_before\":%d,\"fds_peak\":%d,"
              "\"held\":%zu,\"sent\":%llu}\n",
              what.c_str(), rss0, rss_peak.load(), status_kb(pid, "VmRSS"),
              fds0, fds_peak.load(), held,
              static_cast<unsigned long long>(sent));
  return 0;
}
