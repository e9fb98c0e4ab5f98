// The history store alone (issue 17, docs/history.md "Measured"): how fast
// history_store::write puts rows into a new file, without the actors, the
// cache or the mirror in front of it, and how fast the store answers.
//
//   history_store_bench FILE [PROCESSES=100000] [BATCH=20000]
//
// Rows as bench/history.sh's workload makes them (about 880 bytes of
// Sysmon-like Data: paths, a command line with random hex arguments,
// hashes), each process written twice (its start, then its exit) as the
// history does when the two fall into different flushes (1 in 100 never
// exits). Prints rows/s of
// each pass (the write calls alone), the file's size per process, then
// pslist@T in the middle of the time span (median of 5) and 1,000
// callchains of processes late in it (p50, p99), on the store opened
// read-only as `proctrack query --history` opens it.
#include "actors/common/time.hpp"
#include "actors/history/history_store.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <ctime>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

using namespace proctrack;
using bench_clock = std::chrono::steady_clock;

namespace {

const char *exes[] = {
    R"(C:\\Windows\\System32\\cmd.exe)",
    R"(C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe)",
    R"(C:\\Windows\\System32\\svchost.exe)",
    R"(C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe)",
    R"(C:\\Windows\\System32\\conhost.exe)",
    R"(C:\\Windows\\explorer.exe)"};

constexpr timestamp t0 = timestamp{1609459200} * hns_per_second;

std::string id_of(std::size_t i) {
  return std::to_string(1000 + i) + "-" + std::to_string(1609459200 + i / 4);
}

// Process i, the same in both passes; its parent is i/2 (chains about
// log2(i) deep).
history_row make(std::size_t i, bool ended) {
  std::mt19937_64 rnd{17 + i};
  auto hex = [&rnd](int digits) {
    std::string s;
    while (static_cast<int>(s.size()) < digits) {
      char b[17];
      std::snprintf(b, sizeof b, "%016llx",
                    static_cast<unsigned long long>(rnd()));
      s += b;
    }
    s.resize(static_cast<std::size_t>(digits));
    return s;
  };
  history_row r;
  r.id = id_of(i);
  r.parent_id = id_of(i / 2);
  r.start_time = t0 + static_cast<timestamp>(i / 4) * hns_per_second;
  auto life = static_cast<timestamp>(1 + rnd() % 600) * hns_per_second;
  if (ended && i % 100 != 0) // 1 in 100 runs on
    r.end_time = r.start_time + life;
  // An exit leaves Data as it was: the history sends it without Data.
  r.data_kept = ended;
  std::string exe = exes[rnd() % 6];
  std::string cmd = exe;
  for (int k = 0; k < 12; ++k)
    cmd += " /arg" + std::to_string(k) + ":" + hex(16);
  r.data = R"({"Name":"x.exe","Exe":")" + exe + R"(","CommandLine":")" + cmd
           + R"(","CurrentDirectory":"C:\\Users\\user)"
           + std::to_string(rnd() % 50) + R"(\\","User":"CORP\\user)"
           + std::to_string(rnd() % 50) + R"(","LogonId":"0x)" + hex(8)
           + R"(","IntegrityLevel":"Medium","Hashes":"SHA1=)" + hex(40)
           + ",MD5=" + hex(32) + ",SHA256=" + hex(64) + ",IMPHASH=" + hex(32)
           + R"(","Company":"Microsoft Corporation","Description":"Windows )"
             R"(Command Processor","Product":"Microsoft Windows Operating )"
             R"(System","FileVersion":"10.0.19041.746"})";
  return r;
}

double ms_since(bench_clock::time_point a) {
  return std::chrono::duration<double, std::milli>(bench_clock::now() - a)
      .count();
}

} // namespace

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fprintf(stderr, "usage: %s FILE [PROCESSES] [BATCH]\n", argv[0]);
    return 2;
  }
  std::string path = argv[1];
  std::size_t n = argc > 2 ? std::stoul(argv[2]) : 100000;
  std::size_t batch = argc > 3 ? std::stoul(argv[3]) : 20000;
  if (n < 1000 || batch == 0) {
    std::fprintf(stderr, "at least 1000 processes, batches of at least 1\n");
    return 2;
  }
  for (auto suffix : {"", "-wal", "-shm"})
    std::filesystem::remove(path + suffix);
  std::string error;
  auto store =
      history_store::open(path, history_store::mode::read_write, error);
  if (!store) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  auto pass = [&](const char *what, bool ended) {
    double ms = 0, cpu = 0;
    for (std::size_t i = 0; i < n; i += batch) {
      std::vector<history_row> b;
      for (std::size_t j = i; j < std::min(n, i + batch); ++j)
        b.push_back(make(j, ended));
      auto a = bench_clock::now(); // the write alone
      auto c0 = std::clock();
      bool ok = store->write(b, wall_clock_now(), error);
      ms += ms_since(a);
      cpu += static_cast<double>(std::clock() - c0) / CLOCKS_PER_SEC;
      if (!ok) {
        std::fprintf(stderr, "%s\n", error.c_str());
        std::exit(1);
      }
    }
    // Per CPU second too: on a loaded machine the wall clock mostly
    // measures the wait for a core.
    std::printf("%s: %zu rows in %.2f s = %.0f rows/s; %.2f s of CPU = %.0f "
                "rows per CPU second\n",
                what, n, ms / 1000, static_cast<double>(n) / (ms / 1000), cpu,
                static_cast<double>(n) / cpu);
  };
  pass("inserts (starts)", false);
  pass("updates (exits, 99 of 100)", true);
  auto c = store->counters(); // a copy: the store closes first
  store.reset();
  auto size = std::filesystem::file_size(path);
  std::printf("file %.1f MB = %.0f B/process; Data %lld B as text, %lld B "
              "stored (%.0f%%)\n",
              static_cast<double>(size) / 1e6,
              static_cast<double>(size) / static_cast<double>(n),
              static_cast<long long>(c.data_bytes),
              static_cast<long long>(c.stored_bytes),
              100.0 * static_cast<double>(c.stored_bytes)
                  / static_cast<double>(c.data_bytes));

  store = history_store::open(path, history_store::mode::read_only, error);
  if (!store) {
    std::fprintf(stderr, "%s\n", error.c_str());
    return 1;
  }
  auto mid = t0 + static_cast<timestamp>(n / 8) * hns_per_second;
  std::vector<double> ps;
  std::size_t bytes = 0;
  for (int k = 0; k < 5; ++k) {
    auto a = bench_clock::now();
    auto text = store->answer(query{"pslist", "", 0}, mid, error);
    ps.push_back(ms_since(a));
    bytes = text ? text->size() : 0;
  }
  std::sort(ps.begin(), ps.end());
  std::printf("pslist@T (%zu running at T, %zu B of JSON): median %.1f ms\n",
              store->pslist("", mid).size(), bytes, ps[2]);
  std::vector<double> cc;
  std::size_t entries = 0;
  for (std::size_t k = 0; k < 1000; ++k) {
    auto i = n - 1 - (k * 7919) % (n / 2);
    auto a = bench_clock::now();
    auto text =
        store->answer(query{"callchain", id_of(i), 0}, unknown_time, error);
    cc.push_back(ms_since(a));
    if (text)
      entries += static_cast<std::size_t>(
          std::count(text->begin(), text->end(), '"') > 0);
  }
  std::sort(cc.begin(), cc.end());
  std::printf("callchain from the store (1,000 processes, chains of about "
              "%.0f entries): p50 %.2f ms, p99 %.2f ms\n",
              std::log2(static_cast<double>(n)), cc[500], cc[990]);
  return entries == 1000 ? 0 : 1;
}
