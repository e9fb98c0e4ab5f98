// proctrack_bench: the in-process benchmarks of issue 6. Each subcommand
// prints one JSON object on stdout; bench/run.sh collects them.
//
//   gen OUT [--rows=N] [--seed=S] [--data=sysmon|empty]   write update rows
//   table FILE [--reps=R] [--max-size=M]   bare process_table apply rate
//   decode FILE [--reps=R]                 nlohmann vs simdjson row decoding
//   query [--n=N] [--reps=R]               query latency (actor, bare table)
//   pslist [--spawn=N] [--reps=R]          one pslist sync vs ps
//   mem --n=N [--data=sysmon|empty] [--factor=F]   RSS per tracked process
//   pe [--reps=R] FILE...                  PE version reader files/s
//   resync [--n=N] [--reps=R]              a collector resync of an N-process
//                                          table: state vs start/exit updates
//
// Every timed subcommand runs one untimed warm-up pass, then R timed ones
// (default 5), and reports each and the median.
#include "actors/cache/cache.hpp"
#include "actors/cache/process_table.hpp"
#include "actors/common/time.hpp"
#include "actors/enricher/pe_version_reader.hpp"
#include "actors/forward/snapshot.hpp"
#include "actors/ingest/update_row_decoder.hpp"
#include "actors/live/pslist_sync.hpp"
#include "bench/nlohmann_decoder.hpp"
#include "bench/simdjson_decoder.hpp"
#include "bench/workload.hpp"
#include "messages/actors.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <fstream>
#include <map>
#include <string>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

using namespace proctrack;
using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;

namespace {

struct args {
  std::vector<std::string> operands;
  std::map<std::string, std::string> flags;

  std::string get(const std::string &k, const std::string &def) const {
    auto i = flags.find(k);
    return i == flags.end() ? def : i->second;
  }
  std::uint64_t num(const std::string &k, std::uint64_t def) const {
    auto i = flags.find(k);
    return i == flags.end() ? def : std::stoull(i->second);
  }
};

args parse_args(int argc, char **argv, int first) {
  args a;
  for (int i = first; i < argc; ++i) {
    std::string s = argv[i];
    if (s.rfind("--", 0) == 0) {
      auto eq = s.find('=');
      if (eq == std::string::npos)
        a.flags[s.substr(2)] = "1";
      else
        a.flags[s.substr(2, eq - 2)] = s.substr(eq + 1);
    } else {
      a.operands.push_back(s);
    }
  }
  return a;
}

double seconds_since(clock_type::time_point t0) {
  return std::chrono::duration<double>(clock_type::now() - t0).count();
}

// CPU time of the calling thread: on a machine shared with other work the
// wall clock also counts the time the thread waited for a core.
double thread_cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + double(ts.tv_nsec) * 1e-9;
}

double median(std::vector<double> v) {
  if (v.empty())
    return 0;
  std::sort(v.begin(), v.end());
  auto n = v.size();
  return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

double percentile(std::vector<double> &sorted, double p) {
  if (sorted.empty())
    return 0;
  auto i = static_cast<std::size_t>(p * (sorted.size() - 1) + 0.5);
  return sorted[std::min(i, sorted.size() - 1)];
}

std::uint64_t rss_bytes() {
  std::ifstream in{"/proc/self/statm"};
  std::uint64_t size = 0, resident = 0;
  in >> size >> resident;
  return resident * static_cast<std::uint64_t>(sysconf(_SC_PAGESIZE));
}

// The whole file with simdjson's padding after it.
std::string read_padded(const std::string &path) {
  std::FILE *f = std::fopen(path.c_str(), "rb");
  if (!f)
    throw std::runtime_error("cannot read " + path);
  std::fseek(f, 0, SEEK_END);
  auto size = static_cast<std::size_t>(std::ftell(f));
  std::fseek(f, 0, SEEK_SET);
  std::string buf(size + 64, ' ');
  if (std::fread(buf.data(), 1, size, f) != size)
    throw std::runtime_error("short read " + path);
  std::fclose(f);
  buf.resize(size);
  buf.reserve(size + 64);
  return buf;
}

template <class F>
void for_each_line(const std::string &buf, F &&f) {
  std::size_t pos = 0;
  while (pos < buf.size()) {
    auto nl = buf.find('\n', pos);
    if (nl == std::string::npos)
      nl = buf.size();
    f(std::string_view{buf.data() + pos, nl - pos}, buf.capacity() - pos);
    pos = nl + 1;
  }
}

json series(const std::vector<double> &secs, double work,
            const char *unit_name) {
  json j;
  j["seconds"] = secs;
  j["median_seconds"] = median(secs);
  j[unit_name] = work / median(secs);
  return j;
}

// -- gen ---------------------------------------------------------------------

int cmd_gen(const args &a) {
  if (a.operands.empty())
    throw std::runtime_error("gen: OUT missing");
  bench::workload_config cfg;
  cfg.rows = a.num("rows", 1'000'000);
  cfg.seed = a.num("seed", 42);
  cfg.data = a.get("data", "sysmon") == "empty" ? bench::data_size::empty
                                                : bench::data_size::sysmon;
  bench::workload w{cfg};
  std::FILE *out = std::fopen(a.operands[0].c_str(), "wb");
  if (!out)
    throw std::runtime_error("cannot write " + a.operands[0]);
  process_update u;
  std::string line;
  std::uint64_t bytes = 0, rows = 0;
  while (w.next(u)) {
    line.clear();
    bench::append_row_json(line, u);
    line += '\n';
    bytes += line.size();
    ++rows;
    std::fwrite(line.data(), 1, line.size(), out);
  }
  std::fclose(out);
  json j{{"rows", rows},         {"bytes", bytes},     {"starts", w.starts},
         {"exits", w.exits},     {"merges", w.merges}, {"syncs", w.syncs},
         {"lost_exits", w.lost}, {"seed", cfg.seed}};
  std::puts(j.dump().c_str());
  return 0;
}

// -- decode and table
// ----------------------------------------------------------

std::vector<process_update> decode_all(const std::string &buf) {
  std::vector<process_update> out;
  std::string error;
  for_each_line(buf, [&](std::string_view line, std::size_t) {
    process_update u;
    if (decode_update_row(line, u, error) == row_result::update)
      out.push_back(std::move(u));
  });
  return out;
}

int cmd_table(const args &a) {
  auto reps = a.num("reps", 5);
  auto buf = read_padded(a.operands.at(0));
  auto updates = decode_all(buf);
  buf.clear();
  buf.shrink_to_fit();
  table_config cfg;
  cfg.max_size = a.num("max-size", 10000);
  std::vector<double> secs, cpu_secs;
  json last_counters;
  for (std::uint64_t r = 0; r <= reps; ++r) {
    auto copy = updates; // apply() moves the data out: untimed copy
    process_table table{cfg};
    auto c0 = thread_cpu_seconds();
    auto t0 = clock_type::now();
    for (auto &u : copy)
      table.apply(std::move(u));
    auto s = seconds_since(t0);
    auto cs = thread_cpu_seconds() - c0;
    if (r > 0) {
      secs.push_back(s);
      cpu_secs.push_back(cs);
    }
    last_counters = json::object();
    for (auto &c : table.counter_list())
      last_counters[c.name] = c.value;
  }
  json j = series(secs, static_cast<double>(updates.size()), "rows_per_s");
  j["cpu_seconds"] = cpu_secs;
  j["cpu_rows_per_s"] = static_cast<double>(updates.size()) / median(cpu_secs);
  j["rows"] = updates.size();
  j["max_size"] = cfg.max_size;
  j["counters"] = last_counters;
  std::puts(j.dump().c_str());
  return 0;
}

int cmd_decode(const args &a) {
  auto reps = a.num("reps", 5);
  auto buf = read_padded(a.operands.at(0));
  double mb = static_cast<double>(buf.size()) / 1e6;
  // A checksum of what each decoder produced, so each provably did the work
  // and they agree: kinds, pids, times and every data value's text length.
  auto digest = [](const process_update &u) {
    std::uint64_t h = static_cast<std::uint64_t>(u.kind) * 31 + u.time;
    auto rec = [&](const process_record &p) {
      h = h * 1099511628211ull + std::hash<std::string>{}(p.pid)
          + std::hash<std::string>{}(p.ppid) + std::hash<std::string>{}(p.guid)
          + static_cast<std::uint64_t>(p.start_time);
      for (auto &f : p.data)
        h += f.key.size() * 131 + f.json.size();
    };
    rec(u.process);
    for (auto &p : u.processes)
      rec(p);
    return h + std::hash<std::string>{}(u.target);
  };
  json j;
  j["mb"] = mb;
  std::uint64_t ref_rows = 0, ref_digest = 0;
  double ref_median = 0;
  std::string error;
  // decode(line, capacity, out) -> true when `out` holds an update
  auto run = [&](const char *name, const char *what, auto &&decode) {
    std::vector<double> secs;
    std::uint64_t rows = 0, dg = 0;
    for (std::uint64_t r = 0; r <= reps; ++r) {
      process_update u;
      rows = 0;
      dg = 0;
      auto t0 = clock_type::now();
      for_each_line(buf, [&](std::string_view line, std::size_t cap) {
        if (decode(line, cap, u)) {
          ++rows;
          dg += digest(u);
        }
      });
      auto s = seconds_since(t0);
      if (r > 0)
        secs.push_back(s);
    }
    auto &o = j[name];
    o = series(secs, static_cast<double>(rows), "rows_per_s");
    o["what"] = what;
    o["mb_per_s"] = mb / median(secs);
    o["rows"] = rows;
    if (ref_rows == 0) {
      ref_rows = rows;
      ref_digest = dg;
      ref_median = median(secs);
      j["rows"] = rows;
    }
    o["same_result_as_scanner"] = rows == ref_rows && dg == ref_digest;
    o["speedup_over_scanner"] = ref_median / std::max(1e-12, median(secs));
  };
  run("scanner", "decode_update_row (proctrack's validating scanner)",
      [&](std::string_view line, std::size_t, process_update &u) {
        return decode_update_row(line, u, error) == row_result::update;
      });
  run("nlohmann", "nlohmann/json DOM (the decoder before 309f8c2)",
      [&](std::string_view line, std::size_t, process_update &u) {
        return bench::decode_update_row_nlohmann(line, u, error)
               == row_result::update;
      });
  if (bench::simdjson_available()) {
    bench::simdjson_row_decoder generic;
    run("simdjson",
        "simdjson On-Demand, baseline x86-64 build (fallback kernel)",
        [&](std::string_view line, std::size_t cap, process_update &u) {
          return generic.decode(line, cap, u, error);
        });
    j["simdjson"]["implementation"] = generic.implementation();
    bench::simdjson_row_decoder_native native;
    run("simdjson_native", "simdjson On-Demand, -march=native build",
        [&](std::string_view line, std::size_t cap, process_update &u) {
          return native.decode(line, cap, u, error);
        });
    j["simdjson_native"]["implementation"] = native.implementation();
  } else {
    std::fputs("decode: built without simdjson (libsimdjson-dev); its "
               "comparison is skipped\n",
               stderr);
  }
  std::puts(j.dump().c_str());
  return 0;
}

// -- query
// ---------------------------------------------------------------------

// A cache of n processes: a chain of 20 from pid 1 to pid 20, then a 10-ary
// tree under pid 20 (so pid n is a leaf 25 levels deep for n = 100k, pid 21
// has 10 children, pid 20 has a subtree far above 1000 nodes).
std::vector<process_update> query_population(std::size_t n) {
  bench::workload_config wc;
  wc.seed = 7;
  bench::workload w{wc};
  std::vector<process_update> out;
  out.reserve(n);
  auto base = *parse_time("2021-01-01T00:00:00Z");
  for (std::size_t k = 1; k <= n; ++k) {
    process_update u;
    w.next_start(u);
    auto &p = u.process;
    p.pid = std::to_string(k);
    std::size_t parent = k <= 20 ? k - 1 : 20 + (k - 21) / 10;
    p.ppid = std::to_string(parent);
    p.start_time = base + static_cast<timestamp>(k) * hns_per_second;
    p.guid.clear();
    p.parent_guid.clear();
    p.data.erase(std::remove_if(p.data.begin(), p.data.end(),
                                [](const data_field &f) {
                                  return f.key == "ProcessGuid"
                                         || f.key == "ParentProcessGuid"
                                         || f.key == "Pid" || f.key == "Ppid";
                                }),
                 p.data.end());
    p.data.push_back({"Pid", p.pid});
    p.data.push_back({"Ppid", p.ppid});
    out.push_back(std::move(u));
  }
  return out;
}

struct latency {
  std::vector<double> p50, p99;
  std::size_t bytes = 0;
};

json latency_json(const latency &l) {
  return json{{"p50_us", median(l.p50)},
              {"p99_us", median(l.p99)},
              {"p50_us_per_rep", l.p50},
              {"p99_us_per_rep", l.p99},
              {"answer_bytes", l.bytes}};
}

// A cache of `max_size` spawned into `sys` and fed `population` in batches
// of 1024, each applied before the next is sent.
cache_actor filled_cache(caf::actor_system &sys,
                         std::vector<process_update> &population,
                         std::size_t max_size) {
  cache_config cc;
  cc.table.max_size = max_size;
  // Every process kept: the default tracker.max-bytes (64 MiB) holds about
  // 70,000 of these Sysmon-sized ones, and queries of evicted ancestors
  // would measure a shorter answer than the bench names.
  cc.table.max_bytes = std::size_t{1} << 30;
  auto cache = spawn_cache(sys, cc);
  caf::scoped_actor self{sys};
  for (std::size_t i = 0; i < population.size(); i += 1024) {
    update_batch b;
    auto end = std::min(population.size(), i + 1024);
    for (auto k = i; k < end; ++k)
      b.updates.push_back(std::move(population[k]));
    self->request(cache, caf::infinite, std::move(b))
        .receive(
            [](std::uint64_t) {},
            [](caf::error &e) { throw std::runtime_error(caf::to_string(e)); });
  }
  return cache;
}

int cmd_query(const args &a) {
  auto n = a.num("n", 100000);
  auto reps = a.num("reps", 5);
  auto population = query_population(n);
  struct q {
    const char *name;
    query what;
    std::uint64_t iters;
  };
  std::vector<q> qs = {
      {"callchain", query{"callchain", std::to_string(n), 10},
       a.num("iters", 20000)},
      {"children", query{"children", "21", 0}, a.num("iters", 20000)},
      {"tree", query{"tree", "20", 1000}, a.num("tree-iters", 500)},
  };
  json j;
  j["processes"] = n;
  // Bare table: the cost of the answer itself.
  {
    table_config tc;
    tc.max_size = n;
    tc.max_bytes = std::size_t{1} << 30; // as filled_cache: every process
    process_table table{tc};
    for (auto &u : population)
      table.apply(u);
    j["table_size"] = table.size();
    if (table.size() != n)
      throw std::runtime_error("the query population was not kept whole: "
                               + std::to_string(table.size()) + " of "
                               + std::to_string(n));
    for (auto &x : qs) {
      latency l;
      for (std::uint64_t r = 0; r <= reps; ++r) {
        std::vector<double> lat;
        lat.reserve(x.iters);
        for (std::uint64_t i = 0; i < x.iters; ++i) {
          auto t0 = clock_type::now();
          std::string s;
          if (x.what.verb == "callchain")
            s = table.callchain_json(x.what.id, x.what.max);
          else if (x.what.verb == "children")
            s = table.children_json(x.what.id);
          else
            s = table.tree_json(x.what.id, x.what.max);
          lat.push_back(seconds_since(t0) * 1e6);
          l.bytes = s.size();
        }
        std::sort(lat.begin(), lat.end());
        if (r > 0) {
          l.p50.push_back(percentile(lat, 0.5));
          l.p99.push_back(percentile(lat, 0.99));
        }
      }
      j["table"][x.name] = latency_json(l);
    }
  }
  // Through the cache actor: a request from a scoped actor, as `replay`
  // and an embedding application ask. --policy: CAF's scheduler, stealing
  // (CAF's default) or sharing (what the agent and replay run since
  // issues 13 and 18): issue 16 item 3 measures what it does to a query's
  // two thread hand-offs.
  auto policy = a.get("policy", "stealing");
  if (policy != "stealing" && policy != "sharing")
    throw std::runtime_error("--policy must be stealing or sharing");
  caf::actor_system_config cfg;
  add_message_types(cfg);
  cfg.set("logger.verbosity", caf::atom("quiet"));
  cfg.set("scheduler.policy",
          policy == "sharing" ? caf::atom("sharing") : caf::atom("stealing"));
  j["policy"] = policy;
  caf::actor_system sys{cfg};
  auto cache = filled_cache(sys, population, n);
  caf::scoped_actor self{sys};
  for (auto &x : qs) {
    latency l;
    for (std::uint64_t r = 0; r <= reps; ++r) {
      std::vector<double> lat;
      lat.reserve(x.iters);
      for (std::uint64_t i = 0; i < x.iters; ++i) {
        auto t0 = clock_type::now();
        self->request(cache, caf::infinite, x.what)
            .receive([&](std::string &s) { l.bytes = s.size(); },
                     [](caf::error &e) {
                       throw std::runtime_error(caf::to_string(e));
                     });
        lat.push_back(seconds_since(t0) * 1e6);
      }
      std::sort(lat.begin(), lat.end());
      if (r > 0) {
        l.p50.push_back(percentile(lat, 0.5));
        l.p99.push_back(percentile(lat, 0.99));
      }
    }
    j["actor"][x.name] = latency_json(l);
  }
  self->send_exit(cache, caf::exit_reason::user_shutdown);
  std::puts(j.dump().c_str());
  return 0;
}

// -- query over loopback ---

// query-server: the same cache as `query`, published on loopback as the
// agent publishes its cache (CAF's middleman); prints the port, then waits
// until its standard input closes.
int cmd_query_server(const args &a) {
  auto n = a.num("n", 100000);
  auto population = query_population(n);
  caf::actor_system_config cfg;
  add_message_types(cfg);
  cfg.load<caf::io::middleman>();
  cfg.set("logger.verbosity", caf::atom("quiet"));
  caf::actor_system sys{cfg};
  auto cache = filled_cache(sys, population, n);
  caf::scoped_actor self{sys};
  auto port = sys.middleman().publish(cache, 0, "127.0.0.1");
  if (!port)
    throw std::runtime_error("publish: " + sys.render(port.error()));
  std::printf("%u\n", static_cast<unsigned>(*port));
  std::fflush(stdout);
  char c;
  while (std::fread(&c, 1, 1, stdin) == 1) {
  }
  self->send_exit(cache, caf::exit_reason::user_shutdown);
  return 0;
}

// query-client: connects as `proctrack query` does and times each request.
int cmd_query_client(const args &a) {
  auto n = a.num("n", 100000);
  auto reps = a.num("reps", 5);
  auto port = static_cast<std::uint16_t>(a.num("port", 0));
  caf::actor_system_config cfg;
  add_message_types(cfg);
  cfg.load<caf::io::middleman>();
  cfg.set("logger.verbosity", caf::atom("quiet"));
  caf::actor_system sys{cfg};
  auto cache = sys.middleman().remote_actor<cache_actor>("127.0.0.1", port);
  if (!cache)
    throw std::runtime_error("connect: " + sys.render(cache.error()));
  caf::scoped_actor self{sys};
  struct q {
    const char *name;
    query what;
    std::uint64_t iters;
  };
  std::vector<q> qs = {
      {"callchain", query{"callchain", std::to_string(n), 10},
       a.num("iters", 5000)},
      {"children", query{"children", "21", 0}, a.num("iters", 5000)},
      {"tree", query{"tree", "20", 1000}, a.num("tree-iters", 200)},
  };
  json j;
  j["processes"] = n;
  for (auto &x : qs) {
    latency l;
    for (std::uint64_t r = 0; r <= reps; ++r) {
      std::vector<double> lat;
      lat.reserve(x.iters);
      for (std::uint64_t i = 0; i < x.iters; ++i) {
        auto t0 = clock_type::now();
        self->request(*cache, caf::infinite, x.what)
            .receive([&](std::string &s) { l.bytes = s.size(); },
                     [](caf::error &e) {
                       throw std::runtime_error(caf::to_string(e));
                     });
        lat.push_back(seconds_since(t0) * 1e6);
      }
      std::sort(lat.begin(), lat.end());
      if (r > 0) {
        l.p50.push_back(percentile(lat, 0.5));
        l.p99.push_back(percentile(lat, 0.99));
      }
    }
    j["loopback"][x.name] = latency_json(l);
  }
  std::puts(j.dump().c_str());
  return 0;
}

// -- pslist ---

// User + system CPU seconds of this process (all threads) / of its reaped
// children.
double process_cpu_seconds() {
  struct timespec t;
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return static_cast<double>(t.tv_sec) + static_cast<double>(t.tv_nsec) * 1e-9;
}

double children_cpu_seconds() {
  struct rusage u;
  ::getrusage(RUSAGE_CHILDREN, &u);
  auto tv = [](const struct timeval &v) {
    return static_cast<double>(v.tv_sec)
           + static_cast<double>(v.tv_usec) * 1e-6;
  };
  return tv(u.ru_utime) + tv(u.ru_stime);
}

// One pslist sync (the agent's pslist_sync actor: /proc listing into the
// cache) with `--spawn` extra live processes, against `ps -eo
// pid,ppid,lstart,user,comm,args` on the same process set.
int cmd_pslist(const args &a) {
  auto spawn = a.num("spawn", 3000);
  auto reps = a.num("reps", 5);
  // Children first, while this process has one thread: each just waits.
  std::vector<pid_t> kids;
  for (std::uint64_t i = 0; i < spawn; ++i) {
    auto pid = fork();
    if (pid == 0) {
      pause();
      _exit(0);
    }
    if (pid < 0)
      break;
    kids.push_back(pid);
  }
  json j;
  j["spawned"] = kids.size();
  double sync_cpu = 0;
  {
    caf::actor_system_config cfg;
    add_message_types(cfg);
    cfg.set("logger.verbosity", caf::atom("quiet"));
    caf::actor_system sys{cfg};
    cache_config cc;
    cc.table.max_size = 100000;
    auto cache = spawn_cache(sys, cc);
    pslist_sync_config pc;
    pc.period = std::chrono::hours(24);
    auto ps = spawn_pslist_sync(sys, pc, cache);
    caf::scoped_actor self{sys};
    std::vector<double> secs, cpu;
    std::uint64_t listed = 0;
    for (std::uint64_t r = 0; r <= reps; ++r) {
      auto t0 = clock_type::now();
      auto c0 = process_cpu_seconds();
      self->request(ps, caf::infinite, atom::sync_v)
          .receive([&](std::uint64_t n) { listed = n; },
                   [](caf::error &e) {
                     throw std::runtime_error(caf::to_string(e));
                   });
      auto s = seconds_since(t0);
      if (r > 0) {
        secs.push_back(s);
        cpu.push_back(process_cpu_seconds() - c0);
      }
    }
    j["proctrack"] = series(secs, 1.0, "syncs_per_s");
    sync_cpu = median(cpu);
    j["proctrack"]["median_cpu_seconds"] = sync_cpu;
    j["proctrack"]["listed"] = listed;
    self->send_exit(ps, caf::exit_reason::user_shutdown);
    self->send_exit(cache, caf::exit_reason::user_shutdown);
  }
  std::vector<double> ps_secs, ps_cpu;
  for (std::uint64_t r = 0; r <= reps; ++r) {
    auto t0 = clock_type::now();
    auto c0 = children_cpu_seconds();
    if (std::system("exec ps -eo pid,ppid,lstart,user,comm,args >/dev/null")
        != 0)
      throw std::runtime_error("ps failed");
    auto s = seconds_since(t0);
    if (r > 0) {
      ps_secs.push_back(s);
      ps_cpu.push_back(children_cpu_seconds() - c0);
    }
  }
  j["ps"] = series(ps_secs, 1.0, "runs_per_s");
  j["ps"]["median_cpu_seconds"] = median(ps_cpu);
  j["ratio_proctrack_over_ps"] =
      median(j["proctrack"]["seconds"].get<std::vector<double>>())
      / median(ps_secs);
  // CPU time (user + system; the bench's threads, ps and its shell) moves
  // less than wall time with the machine's load: the same ratio by CPU.
  j["cpu_ratio_proctrack_over_ps"] = sync_cpu / median(ps_cpu);
  for (auto pid : kids)
    kill(pid, SIGKILL);
  for (auto pid : kids)
    waitpid(pid, nullptr, 0);
  std::puts(j.dump().c_str());
  return 0;
}

// -- mem ---
// -------------------------------------------------------------------------

int cmd_mem(const args &a) {
  auto n = a.num("n", 100000);
  auto factor = a.num("factor", 2);
  bench::workload_config wc;
  wc.seed = a.num("seed", 42);
  wc.data = a.get("data", "sysmon") == "empty" ? bench::data_size::empty
                                               : bench::data_size::sysmon;
  bench::workload w{wc};
  table_config tc;
  tc.max_size = n;
  // The bound by count is what is measured: tracker.max-bytes' default
  // (64 MiB) would keep ~65k Sysmon-sized processes of 100k, and the
  // figures per process would divide by processes not held.
  tc.max_bytes = std::size_t{1} << 40;
  // Expiry off too: 1M generated starts span more than the default 24 h,
  // and the ended holders of reused pids would expire (870k of them).
  tc.max_expiry = 0;
  process_update u;
  w.next_start(u); // allocate the generator's buffers before measuring
  auto rss0 = rss_bytes();
  process_table table{tc};
  std::uint64_t data_bytes = 0;
  json samples = json::array();
  std::uint64_t total = n * factor;
  std::uint64_t rss_at_max = 0;
  for (std::uint64_t i = 1; i <= total; ++i) {
    w.next_start(u);
    if (i <= n)
      for (auto &f : u.process.data)
        data_bytes += f.key.size() + f.json.size();
    table.apply(std::move(u));
    if (i % (n / 4) == 0 || i == total) {
      auto rss = rss_bytes();
      if (i == n)
        rss_at_max = rss;
      samples.push_back(json{
          {"applied", i}, {"cached", table.size()}, {"rss_bytes", rss - rss0}});
    }
  }
  auto rss_end = rss_bytes();
  json counters = json::object();
  for (auto &c : table.counter_list())
    counters[c.name] = c.value;
  double per_process = double(rss_at_max - rss0) / double(n);
  double overhead = double(rss_at_max - rss0 - data_bytes) / double(n);
  json j{{"processes", n},
         {"data", wc.data == bench::data_size::empty ? "empty" : "sysmon"},
         {"data_bytes_per_process", double(data_bytes) / double(n)},
         {"rss_per_process", per_process},
         {"overhead_per_process", overhead},
         {"rss_at_max_size", rss_at_max - rss0},
         {"rss_at_end", rss_end - rss0},
         {"growth_after_max_size_pct",
          100.0 * (double(rss_end) - double(rss_at_max))
              / double(rss_at_max - rss0)},
         {"samples", samples},
         {"evictions", table.counters().evictions},
         {"counters", counters}};
  std::puts(j.dump().c_str());
  return 0;
}

// -- pe
// --------------------------------------------------------------------------

int cmd_pe(const args &a) {
  auto reps = a.num("reps", 5);
  auto rounds = a.num("rounds", 20); // passes over the files per timed rep
  std::vector<std::string> files = a.operands;
  std::uint64_t bytes = 0, with_info = 0, errors = 0;
  std::vector<double> secs;
  for (std::uint64_t r = 0; r <= reps; ++r) {
    auto t0 = clock_type::now();
    for (std::uint64_t k = 0; k < rounds; ++k)
      for (auto &f : files) {
        auto res = pe::read_file(f);
        if (res.info && !res.info->strings.empty()) {
          auto s = pe::to_json(*res.info);
          bytes += s.size();
          ++with_info;
        } else if (res.error != pe::error_kind::none) {
          ++errors;
        }
      }
    auto s = seconds_since(t0);
    if (r > 0)
      secs.push_back(s);
  }
  auto per_pass = rounds ? with_info / (rounds * (reps + 1)) : 0;
  json j = series(secs, double(files.size() * rounds), "files_per_s");
  j["files"] = files.size();
  j["rounds"] = rounds;
  j["with_version_info"] = per_pass;
  j["errors_per_pass"] = rounds ? errors / (rounds * (reps + 1)) : 0;
  std::puts(j.dump().c_str());
  return 0;
}

} // namespace

// -- resync
// --------------------------------------------------------------------

// What a collector resync of one host costs, from the host's table to the
// collector's mirror, both ways the snapshot can travel: the exact state
// (export_state, serialize, deserialize, import_state: what the forwarder
// sends) and the earlier form, start/exit updates re-applied
// (snapshot_updates, ..., apply), which is the baseline. The network itself
// is not timed: CAF's binary serializer gives the bytes that would cross it.
int cmd_resync(const args &a) {
  auto n = a.num("n", 100000);
  auto reps = a.num("reps", 5);
  bench::workload_config wc;
  wc.rows = n * 3;
  wc.seed = a.num("seed", 42);
  bench::workload w{wc};
  table_config tc;
  tc.max_size = n;
  tc.max_bytes = std::size_t{1} << 40; // a table of n, as the row says
  tc.max_expiry = 0; // the workload spans more than the default 24 h
  process_table host{tc};
  process_update u;
  while (w.next(u))
    host.apply(std::move(u));
  caf::actor_system_config cfg;
  add_message_types(cfg);
  caf::actor_system sys{cfg};
  struct stages {
    std::vector<double> take, serialize, deserialize, build, total;
    std::size_t bytes = 0, mirror_size = 0;
    std::string pslist; ///< the mirror's answer, to check it
  };
  auto timed = [](auto &&f, std::vector<double> &into, bool keep) {
    auto t0 = clock_type::now();
    f();
    if (keep)
      into.push_back(seconds_since(t0));
  };
  // One way to the mirror: take the snapshot, carry it through CAF's binary
  // serializer and back, build the mirror from it.
  auto path = [&](auto take, auto build, stages &into, bool keep) {
    auto t0 = clock_type::now();
    {
      decltype(take()) s, back;
      std::vector<char> buf;
      process_table mirror{tc};
      timed([&] { s = take(); }, into.take, keep);
      timed(
          [&] {
            caf::binary_serializer out{sys, buf};
            if (out(s))
              throw std::runtime_error("serialize");
          },
          into.serialize, keep);
      timed(
          [&] {
            caf::binary_deserializer in{sys, buf};
            if (in(back))
              throw std::runtime_error("deserialize");
          },
          into.deserialize, keep);
      timed([&] { build(mirror, back); }, into.build, keep);
      into.bytes = buf.size();
      into.mirror_size = mirror.size();
      if (!keep) // checked in the warm-up pass only: not part of the time
        into.pslist = mirror.pslist_json();
    }
    if (keep)
      into.total.push_back(seconds_since(t0));
  };
  stages st, up;
  for (std::uint64_t r = 0; r <= reps; ++r) {
    bool keep = r > 0;
    path([&] { return host.export_state(); },
         [](process_table &m, table_state &s) { m.import_state(std::move(s)); },
         st, keep);
    if (!keep && st.pslist != host.pslist_json())
      throw std::runtime_error("the imported mirror differs from the host");
    path([&] { return snapshot_updates(host); },
         [](process_table &m, std::vector<process_update> &us) {
           for (auto &x : us)
             m.apply(std::move(x));
         },
         up, keep);
  }
  auto report = [](const stages &x) {
    return json{{"take_ms", median(x.take) * 1e3},
                {"serialize_ms", median(x.serialize) * 1e3},
                {"deserialize_ms", median(x.deserialize) * 1e3},
                {"build_ms", median(x.build) * 1e3},
                {"total_ms", median(x.total) * 1e3},
                {"total_seconds", x.total},
                {"bytes", x.bytes},
                {"mirror_size", x.mirror_size}};
  };
  json j{{"processes", host.size()},
         {"state", report(st)},
         {"updates", report(up)},
         {"time_ratio", median(st.total) / median(up.total)},
         {"bytes_ratio", double(st.bytes) / double(up.bytes)}};
  std::puts(j.dump().c_str());
  return 0;
}

int main(int argc, char **argv) {
  if (argc < 2) {
    std::fputs("usage: proctrack_bench gen|table|decode|query|mem|pe ...\n",
               stderr);
    return 2;
  }
  std::string cmd = argv[1];
  auto a = parse_args(argc, argv, 2);
  try {
    if (cmd == "gen")
      return cmd_gen(a);
    if (cmd == "table")
      return cmd_table(a);
    if (cmd == "decode")
      return cmd_decode(a);
    if (cmd == "query")
      return cmd_query(a);
    if (cmd == "query-server")
      return cmd_query_server(a);
    if (cmd == "query-client")
      return cmd_query_client(a);
    if (cmd == "pslist")
      return cmd_pslist(a);
    if (cmd == "mem")
      return cmd_mem(a);
    if (cmd == "pe")
      return cmd_pe(a);
    if (cmd == "resync")
      return cmd_resync(a);
  } catch (const std::exception &e) {
    std::fprintf(stderr, "proctrack_bench %s: %s\n", cmd.c_str(), e.what());
    return 1;
  }
  std::fprintf(stderr, "proctrack_bench: unknown command %s\n", cmd.c_str());
  return 2;
}
