#include "app/config.hpp"

#include "app/commands.hpp"

#include "messages/type_ids.hpp"

#include "actors/common/text.hpp"
#include "actors/common/time.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#ifndef PROCTRACK_NO_TLS // the Windows build has no OpenSSL
#include <caf/openssl/all.hpp>
#endif
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <limits>
#include <sstream>
#ifdef _WIN32
#include <windows.h> // GetComputerNameExA
#else
#include <unistd.h>
#endif

namespace proctrack {

proctrack_config::proctrack_config() {
  proctrack::add_message_types(*this);
  opt_group{custom_options_, "tracker"}
      .add(max_size, "max-size", "processes cached at most (MaxSize)")
      .add(max_bytes, "max-bytes",
           "bytes of process Data cached at most (all processes)")
      .add(max_children, "max-children", "child ids stored per process")
      .add(max_expiry, "max-expiry",
           "drop processes that exited this long ago (0s: never; replay: "
           "never unless set)")
      .add(also_forward_updates, "also-forward-updates",
           "write every update to the output stream (AlsoForwardUpdates)")
      .add(add_enrichments, "add-enrichments",
           "add PE version information of each Exe (AddEnrichments)")
      .add(sysmon_file_location, "sysmon-file-location",
           "where Sysmon is looked for first (Windows source; empty: no "
           "check)")
      .add(sources, "sources",
           "auto (live events, healed by the pslist sync) or pslist (the "
           "process list alone; Windows without Sysmon)")
      .add(sync_period, "sync-period", "time between two pslist syncs");
  opt_group{custom_options_, "stats"}.add(stats_interval, "interval",
                                          "time between two stats rows");
  opt_group{custom_options_, "live"}
      .add(live_flush, "flush",
           "live updates wait at most this long for the cache")
      .add(live_source, "source",
           "kernel events from: auto (ebpf when it loads), ebpf or "
           "proc-connector")
      .add(live_ebpf_wakeup_bytes, "ebpf-wakeup-bytes",
           "eBPF source: wake the agent once this many bytes of events wait "
           "(0: at every event)")
      .add(live_ebpf_max_delay, "ebpf-max-delay",
           "eBPF source: the longest an event waits before the agent takes "
           "it");
  opt_group{custom_options_, "query"}
      .add(query_socket, "socket",
           "the agent's local query socket (empty: none)")
      .add(query_group, "group",
           "group that may use the query socket (empty: root only)")
      .add(query_host, "host", "address of the TCP query endpoint")
      .add(query_port, "port",
           "port of the TCP query endpoint (-1: none, 0: any free)")
      .add(query_max_connections, "max-connections",
           "TCP query endpoint: connections open at once");
  opt_group{custom_options_, "output"}.add(
      output_path, "path", "write the output stream here instead of stdout");
  opt_group{custom_options_, "log"}.add(
      log_level, "level", "trace, debug, info, warn, error, critical or off");
  opt_group{custom_options_, "enrich"}
      .add(enrich_workers, "workers", "threads reading PE files")
      .add(enrich_path_map, "path-map",
           "drive prefix to mount point, e.g. [\"C:/=/mnt/evidence/c/\"]");
  opt_group{custom_options_, "ingest"}
      .add(ingest_batch_size, "batch-size", "updates per message to the cache")
      .add(ingest_max_in_flight, "max-in-flight",
           "batches read ahead of the cache at most")
      .add(ingest_read_threads, "read-threads",
           "replay: files decoded at once, each in its own thread "
           "(0: one per core, at most 8)");
  opt_group{custom_options_, "forward"}
      .add(forward_connect, "connect",
           "send the update stream to the collector at HOST:PORT")
      .add(forward_buffer, "buffer",
           "updates kept while the collector is away (then dropped)")
      .add(forward_timeout, "timeout",
           "a replay waits this long for the collector's acks");
  opt_group{custom_options_, "history"}
      .add(history_path, "path",
           "the agent's process history store (SQLite; empty: off)")
      .add(history_flush_interval, "flush-interval",
           "history changes are written this often")
      .add(history_max_bytes, "max-bytes",
           "the history store's data at most (older exited processes go)")
      .add(history_max_age, "max-age",
           "exited processes last seen longer ago leave the history (0s: "
           "never)")
      .add(history_max_unacked_rows, "max-unacked-rows",
           "changed processes on their way to the history at most; beyond, "
           "the sources wait (backpressure)")
      .add(history_max_unacked_bytes, "max-unacked-bytes",
           "bytes of changed processes on their way to the history at most");
  opt_group{custom_options_, "agent"}.add(
      agent_host_name, "host-name",
      "this host's name at the collector (default: hostname)");
  opt_group{custom_options_, "listen"}
      .add(listen_host, "host", "address the collector listens on")
      .add(listen_port, "port", "port the collector listens on (0: any)")
      .add(listen_max_connections, "max-connections",
           "connections open at once at the collector")
      .add(listen_max_message, "max-message",
           "bytes one message to the collector may announce");
  opt_group{custom_options_, "collector"}.add(collector_max_hosts, "max-hosts",
                                              "hosts mirrored at most");
  opt_group{custom_options_, "global"}
      .add(allow_insecure, "allow-insecure",
           "listen without TLS (the query endpoint: on loopback only)")
      .add(allow_reduced, "allow-reduced",
           "run: start without the privileges a complete record needs");
  opt_group{custom_options_, "tls"}
      .add(tls_certificate, "certificate", "PEM certificate of this peer")
      .add(tls_key, "key", "PEM private key of the certificate")
      .add(tls_ca, "ca", "PEM CA certificate that signs every peer");
}

namespace {

// Categories whose keys belong to CAF itself; CAF checks those.
bool is_caf_category(const std::string &c) {
  return c == "scheduler" || c == "work-stealing" || c == "logger"
         || c == "middleman" || c == "stream" || c == "openssl" || c == "caf"
         || c == "global";
}

std::string describe_type(const caf::config_option &opt) {
  std::string t(opt.type_name().data(), opt.type_name().size());
  if (t.find("int") != std::string::npos)
    return "an integer";
  if (t == "timespan")
    return "a duration with a unit (500ms, 60s, 24h)";
  if (t == "boolean" || t == "bool")
    return "true or false";
  if (t.find("list") != std::string::npos
      || t.find("vector") != std::string::npos)
    return "a list of strings, e.g. [\"a\", \"b\"]";
  return "a " + t;
}

bool is_duration(const caf::config_option &opt) {
  return opt.type_name() == "timespan";
}

// CAF 0.17 multiplies a duration's number by its unit in 64 bits of
// nanoseconds without a check: 5124096h became 25 minutes, 3000000h a
// negative value. Empty when `text` is in range or not a duration CAF
// reads (CAF names that itself), else what is wrong.
std::string duration_range_error(std::string_view text) {
  while (!text.empty()
         && std::isspace(static_cast<unsigned char>(text.front())))
    text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back())))
    text.remove_suffix(1);
  std::string_view digits = text;
  if (!digits.empty() && (digits.front() == '-' || digits.front() == '+'))
    digits.remove_prefix(1);
  std::size_t n = 0;
  while (n < digits.size() && digits[n] >= '0' && digits[n] <= '9')
    ++n;
  if (n == 0)
    return {};
  auto unit = digits.substr(n);
  struct unit_ns {
    std::string_view name;
    std::uint64_t ns;
  };
  constexpr unit_ns units[] = {{"ns", 1},
                               {"us", 1000},
                               {"ms", 1000'000},
                               {"s", 1000'000'000},
                               {"min", 60'000'000'000},
                               {"h", 3600'000'000'000}};
  const unit_ns *u = nullptr;
  for (auto &x : units)
    if (x.name == unit)
      u = &x;
  if (!u)
    return {};
  constexpr auto max =
      static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max());
  std::uint64_t value = 0;
  bool over = false;
  for (std::size_t i = 0; i < n && !over; ++i) {
    auto d = static_cast<std::uint64_t>(digits[i] - '0');
    over = value > (max - d) / 10;
    value = value * 10 + d;
  }
  over = over || value > max / u->ns;
  if (!over)
    return {};
  return std::string{text} + " is out of range: a duration is at most "
         + std::to_string(max / u->ns) + std::string{u->name}
         + " (about 292 years)";
}

} // namespace

std::string proctrack_config::load(std::vector<std::string> args) {
  // Strict check of the config file first: CAF's reader drops unknown keys
  // and mistyped values without a word.
  std::string file;
  for (auto &a : args) {
    const std::string flag = "--config-file=";
    if (a.compare(0, flag.size(), flag) == 0)
      file = a.substr(flag.size());
  }
  if (!file.empty()) {
    std::ifstream in{file};
    if (!in)
      return "cannot read config file " + file;
    // Parsed without the option set: with it CAF drops mistyped values
    // silently, and we want to name them.
    auto parsed = parse_config(in);
    if (!parsed)
      return "config file " + file + ": " + caf::to_string(parsed.error());
    // Durations are checked on the text: CAF's value may have wrapped.
    std::ifstream again{file};
    std::string line, category;
    for (int number = 1; std::getline(again, line); ++number) {
      std::string_view l = line;
      if (auto c = l.find_first_of(";#"); c != std::string_view::npos)
        l = l.substr(0, c);
      auto open = l.find('['), close = l.find(']');
      if (open != std::string_view::npos && close != std::string_view::npos
          && open < close) {
        category = std::string{trim(l.substr(open + 1, close - open - 1))};
        continue;
      }
      auto eq = l.find('=');
      if (eq == std::string_view::npos || category.empty())
        continue;
      auto opt = custom_options_.qualified_name_lookup(
          category, std::string{trim(l.substr(0, eq))});
      if (!opt || !is_duration(*opt))
        continue;
      if (auto e = duration_range_error(l.substr(eq + 1)); !e.empty())
        return "config file " + file + ":" + std::to_string(number) + ": "
               + category + "." + std::string{trim(l.substr(0, eq))} + " = "
               + e;
    }
    for (auto &[category, value] : *parsed) {
      auto dict = caf::get_if<caf::settings>(&value);
      if (!dict) {
        if (category == "config-file")
          continue;
        if (category == "allow-insecure" || category == "allow-reduced") {
          if (!caf::holds_alternative<bool>(value))
            return "config file " + file + ": " + category
                   + " must be true or false";
          continue;
        }
        return "config file " + file + ": key \"" + category
               + "\" must be inside a [category]";
      }
      if (is_caf_category(category))
        continue;
      for (auto &[key, v] : *dict) {
        auto opt = custom_options_.qualified_name_lookup(category, key);
        if (!opt)
          return "config file " + file + ": unknown key " + category + "."
                 + key;
        if (auto e = opt->check(v))
          return "config file " + file + ": " + category + "." + key
                 + " must be " + describe_type(*opt) + ", not "
                 + caf::to_string(v);
      }
    }
  }
  // CAF 0.17's command line refuses `--FLAG=true|false` for a boolean and
  // takes a list only as `[...]`. We also accept those, and
  // `--enrich.path-map=C:/=/x/` (a bare string, repeatable): such arguments
  // are taken out here and applied after CAF's parse, so the command line
  // still overrides the config file.
  std::vector<std::pair<const caf::config_option *, std::string>> late_flags;
  std::vector<std::string> cli_path_map;
  bool path_map_on_cli = false;
  std::vector<std::string *> empty_strings;
  for (auto i = args.begin(); i != args.end();) {
    auto eq = i->find('=');
    if (i->rfind("--", 0) != 0 || eq == std::string::npos) {
      ++i;
      continue;
    }
    auto name = i->substr(2, eq - 2);
    auto value = i->substr(eq + 1);
    auto dot = name.find('.');
    auto opt =
        dot == std::string::npos
            ? (name == "allow-insecure" || name == "allow-reduced"
                   ? custom_options_.qualified_name_lookup("global", name)
                   : nullptr)
            : custom_options_.qualified_name_lookup(name.substr(0, dot),
                                                    name.substr(dot + 1));
    if (value.empty()
        && (name == "query.socket" || name == "query.group"
            || name == "history.path")) {
      // CAF refuses an empty value; empty means "none" here.
      empty_strings.push_back(name == "query.socket"  ? &query_socket
                              : name == "query.group" ? &query_group
                                                      : &history_path);
      i = args.erase(i);
    } else if (opt && opt->is_flag()) {
      if (!opt->parse(value))
        return "--" + name + " must be true or false, not \"" + value + "\"";
      late_flags.emplace_back(opt, value);
      i = args.erase(i);
    } else if (name == "enrich.path-map") {
      path_map_on_cli = true;
      if (value.empty() || value.front() != '[') {
        cli_path_map.push_back(value);
      } else {
        if (!opt->parse(value))
          return "--" + name + " must be " + describe_type(*opt) + ", not \""
                 + value + "\"";
        cli_path_map.insert(cli_path_map.end(), enrich_path_map.begin(),
                            enrich_path_map.end());
      }
      i = args.erase(i);
    } else {
      ++i;
    }
  }
  // Our own flags are checked here too, so the message names the flag and
  // what it wants; CAF checks its own.
  for (auto &a : args) {
    if (a.rfind("--", 0) != 0)
      continue;
    auto eq = a.find('=');
    auto name =
        a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2);
    auto dot = name.find('.');
    if (dot == std::string::npos)
      continue; // --config-file, --dump-config, --help: CAF's
    auto category = name.substr(0, dot);
    if (is_caf_category(category))
      continue;
    auto opt =
        custom_options_.qualified_name_lookup(category, name.substr(dot + 1));
    if (!opt)
      return "unknown option --" + name + " (see proctrack --help)";
    if (eq == std::string::npos) {
      if (!opt->is_flag())
        return "--" + name + " needs a value: --" + name + "=VALUE";
      continue;
    }
    if (is_duration(*opt))
      if (auto e = duration_range_error(a.substr(eq + 1)); !e.empty())
        return "--" + name + "=" + e;
    if (!opt->parse(a.substr(eq + 1)))
      return "--" + name + " must be " + describe_type(*opt) + ", not \""
             + a.substr(eq + 1) + "\"";
  }
  if (auto err = parse(std::move(args)))
    return "bad option: " + render(err);
  for (auto &[opt, value] : late_flags)
    opt->parse(value); // stores into the bound member
  for (auto *member : empty_strings)
    member->clear();
  if (path_map_on_cli)
    enrich_path_map = std::move(cli_path_map);
  if (!remainder.empty())
    return "unknown argument: " + remainder.front();
  return check();
}

std::string proctrack_config::check() const {
  cache_config cc = make_cache_config();
  if (max_size <= 0)
    return "tracker.max-size must be at least 1 (got "
           + std::to_string(max_size) + ")";
  if (max_bytes <= 0)
    return "tracker.max-bytes must be at least "
           + std::to_string(cache_config::min_max_bytes) + " (1 MiB) (got "
           + std::to_string(max_bytes) + ")";
  if (max_children < 0)
    return "tracker.max-children must not be negative (got "
           + std::to_string(max_children) + ")";
  if (history_max_unacked_rows <= 0)
    return "history.max-unacked-rows must be at least 1 (got "
           + std::to_string(history_max_unacked_rows) + ")";
  if (history_max_unacked_bytes <= 0)
    return "history.max-unacked-bytes must be at least "
           + std::to_string(cache_config::min_unacked_bytes) + " (64 KiB) (got "
           + std::to_string(history_max_unacked_bytes) + ")";
  if (auto e = cc.validate(); !e.empty())
    return e;
  if (sync_period.count() <= 0)
    return "tracker.sync-period must be a positive duration";
  if (sources != "auto" && sources != "pslist")
    return "tracker.sources must be auto or pslist (got \"" + sources + "\")";
  if (stats_interval.count() <= 0)
    return "stats.interval must be a positive duration";
  if (live_flush < caf::timespan::zero()
      || live_flush > std::chrono::seconds(1))
    return "live.flush must be between 0 and 1s";
  if (live_source != "auto" && live_source != "ebpf"
      && live_source != "proc-connector")
    return "live.source must be auto, ebpf or proc-connector (got \""
           + live_source + "\")";
  if (live_ebpf_wakeup_bytes < 0 || live_ebpf_wakeup_bytes > (4 << 20))
    return "live.ebpf-wakeup-bytes must be between 0 and 4 MiB (half the "
           "ring buffer)";
  if (live_ebpf_max_delay < std::chrono::milliseconds(1)
      || live_ebpf_max_delay > std::chrono::seconds(1))
    return "live.ebpf-max-delay must be between 1ms and 1s";
  if (query_port < -1 || query_port > 65535)
    return "query.port must be -1 (none) or between 0 and 65535 (got "
           + std::to_string(query_port) + ")";
  if (query_max_connections < 1 || query_max_connections > 10000)
    return "query.max-connections must be between 1 and 10000 (got "
           + std::to_string(query_max_connections) + ")";
  if (listen_max_connections < 1 || listen_max_connections > 10000)
    return "listen.max-connections must be between 1 and 10000 (got "
           + std::to_string(listen_max_connections) + ")";
  if (listen_max_message < 4096 || listen_max_message > (std::int64_t{1} << 30))
    return "listen.max-message must be between 4096 and 1073741824 (got "
           + std::to_string(listen_max_message) + ")";
  if (!query_socket.empty() && query_socket.front() != '/')
    return "query.socket must be an absolute path (got \"" + query_socket
           + "\")";
  if (enrich_workers < 1 || enrich_workers > 64)
    return "enrich.workers must be between 1 and 64";
  for (auto &m : enrich_path_map)
    if (m.find('=') == std::string::npos)
      return "enrich.path-map entry \"" + m
             + "\" must be PREFIX=MOUNTPOINT, e.g. C:/=/mnt/evidence/c/";
  if (ingest_batch_size < 1 || ingest_batch_size > 1'000'000)
    return "ingest.batch-size must be between 1 and 1000000";
  if (ingest_max_in_flight < 1 || ingest_max_in_flight > 1024)
    return "ingest.max-in-flight must be between 1 and 1024";
  if (ingest_read_threads < 0 || ingest_read_threads > 64)
    return "ingest.read-threads must be between 0 and 64";
  if (!forward_connect.empty()) {
    auto colon = forward_connect.rfind(':');
    auto port = colon == std::string::npos ? std::string{}
                                           : forward_connect.substr(colon + 1);
    if (colon == 0 || port.empty() || port.size() > 5
        || port.find_first_not_of("0123456789") != std::string::npos
        || std::stol(port) < 1 || std::stol(port) > 65535)
      return "forward.connect must be HOST:PORT (got \"" + forward_connect
             + "\")";
  }
  if (forward_buffer < 1 || forward_buffer > 100'000'000)
    return "forward.buffer must be between 1 and 100000000";
  if (forward_timeout.count() <= 0)
    return "forward.timeout must be a positive duration";
  // The history's keys are checked whether or not a store is written, so a
  // typo fails the same way in the agent and in a replay.
  if (auto why =
          make_history_config(history_path.empty() ? "-" : history_path, cc)
              .validate();
      !why.empty())
    return why;
  for (unsigned char c : agent_host_name)
    if (!(std::isalnum(c) || c == '.' || c == '_' || c == '-'))
      return "agent.host-name must be letters, digits, '.', '_' or '-' (got "
             "\""
             + agent_host_name + "\")";
  if (agent_host_name.size() > 255)
    return "agent.host-name must be at most 255 characters";
  if (listen_host.empty())
    return "listen.host must not be empty";
  if (listen_port < 0 || listen_port > 65535)
    return "listen.port must be between 0 and 65535 (got "
           + std::to_string(listen_port) + ")";
  if (collector_max_hosts < 1 || collector_max_hosts > 100000)
    return "collector.max-hosts must be between 1 and 100000";
  if (!tls_certificate.empty() || !tls_key.empty() || !tls_ca.empty()) {
    const char *keys[] = {"tls.certificate", "tls.key", "tls.ca"};
    const std::string *vals[] = {&tls_certificate, &tls_key, &tls_ca};
    for (int i = 0; i < 3; ++i) {
      if (vals[i]->empty())
        return std::string{keys[i]}
               + " must be set too: TLS needs tls.certificate, tls.key and "
                 "tls.ca";
      if (!std::ifstream{*vals[i]})
        return std::string{keys[i]} + ": cannot read " + *vals[i];
    }
  }
  static const char *levels[] = {"trace", "debug",    "info", "warn",
                                 "error", "critical", "off"};
  bool level_ok = false;
  for (auto l : levels)
    level_ok = level_ok || log_level == l;
  if (!level_ok)
    return "log.level must be one of trace, debug, info, warn, error, "
           "critical, off (got \""
           + log_level + "\")";
  return {};
}

std::string proctrack_config::host_name() const {
  if (!agent_host_name.empty())
    return agent_host_name;
  char buf[256] = {};
#ifdef _WIN32
  DWORD size = sizeof buf - 1;
  if (!GetComputerNameExA(ComputerNameDnsHostname, buf, &size) || buf[0] == 0)
    return "localhost";
#else
  if (gethostname(buf, sizeof buf - 1) != 0 || buf[0] == 0)
    return "localhost";
#endif
  std::string h = buf;
  for (auto &c : h)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_'
          || c == '-'))
      c = '_';
  return h;
}

void proctrack_config::load_network() {
  caf::actor_system_config::load<caf::io::middleman>();
  if (tls_enabled()) {
#ifdef PROCTRACK_NO_TLS
    std::fprintf(stderr, "proctrack: tls.* is set, but this build has no TLS "
                         "(OpenSSL is left out of the Windows build, "
                         "docs/windows.md)\n");
    std::exit(2);
#else
    openssl_certificate = tls_certificate;
    openssl_key = tls_key;
    openssl_cafile = tls_ca;
    caf::actor_system_config::load<caf::openssl::manager>();
#endif
  }
}

bool is_loopback(const std::string &host) {
  return host == "127.0.0.1" || host == "localhost" || host == "::1"
         || host.rfind("127.", 0) == 0;
}

std::string proctrack_config::check_listen(const std::string &host,
                                           const std::string &key) const {
  if (is_loopback(host) || tls_enabled())
    return {};
  if (!allow_insecure)
    return key + " " + host
           + " is not loopback: configure tls.certificate, tls.key and "
             "tls.ca, or set allow-insecure=true";
  spdlog::warn("{} {} WITHOUT TLS (allow-insecure=true): anyone who reaches "
               "the port can talk to it",
               key, host);
  return {};
}

std::string proctrack_config::check_query_endpoint() const {
  if (query_port < 0)
    return {};
  if (tls_enabled())
    return check_listen(query_host, "query.host");
  if (!allow_insecure)
    return "query.port is set but TLS is not: the TCP query endpoint needs "
           "tls.certificate, tls.key and tls.ca (mutual TLS), or "
           "allow-insecure=true on a loopback query.host; local queries use "
           "query.socket";
  if (!is_loopback(query_host))
    return "query.host " + query_host
           + " is not loopback: without TLS (allow-insecure=true) the query "
             "endpoint listens on loopback only";
  spdlog::warn("query endpoint {}:{} WITHOUT TLS (allow-insecure=true): every "
               "local user can read the whole process table through it",
               query_host, query_port);
  return {};
}

history_config
proctrack_config::make_history_config(const std::string &path,
                                      const cache_config &cache) const {
  history_config hc;
  hc.path = path;
  hc.flush_interval = from_ns(history_flush_interval.count());
  hc.max_bytes =
      static_cast<std::uint64_t>(std::max<std::int64_t>(history_max_bytes, 0));
  hc.max_age = from_ns(history_max_age.count());
  hc.cache = cache;
  return hc;
}

forwarder_config proctrack_config::make_forwarder_config() const {
  forwarder_config fc;
  parse_host_port(forward_connect, fc.collector_host, fc.collector_port);
  fc.host = host_name();
  fc.buffer = static_cast<std::size_t>(forward_buffer);
  fc.timeout = forward_timeout;
  fc.stats_interval = stats_interval;
  fc.tls = tls_enabled();
  fc.table = make_cache_config().table;
  return fc;
}

tracker_settings proctrack_config::make_tracker_settings() const {
  tracker_settings s;
  s.cache = make_cache_config();
  if (add_enrichments)
    s.enricher = enricher_config{static_cast<std::size_t>(enrich_workers),
                                 enrich_path_map};
  if (!forward_connect.empty())
    s.forward = make_forwarder_config();
  return s;
}

cache_config proctrack_config::make_cache_config() const {
  cache_config c;
  c.table.max_size = static_cast<std::size_t>(max_size > 0 ? max_size : 0);
  c.table.max_bytes = static_cast<std::size_t>(max_bytes > 0 ? max_bytes : 0);
  c.table.max_children =
      static_cast<std::size_t>(max_children > 0 ? max_children : 0);
  c.table.max_expiry = from_ns(max_expiry.count());
  c.forward_updates = also_forward_updates;
  c.add_enrichments = add_enrichments;
  // Negative: 0, which validate() refuses (check() names the value first).
  c.history_max_unacked_rows = static_cast<std::size_t>(
      history_max_unacked_rows > 0 ? history_max_unacked_rows : 0);
  c.history_max_unacked_bytes = static_cast<std::size_t>(
      history_max_unacked_bytes > 0 ? history_max_unacked_bytes : 0);
  return c;
}

namespace {

std::string dur(caf::timespan t) {
  constexpr std::int64_t ns_per_s = 1'000'000'000; // caf::timespan is ns
  auto ns = t.count();
  if (ns == 0)
    return "0s";
  if (ns % (3600 * ns_per_s) == 0)
    return std::to_string(ns / (3600 * ns_per_s)) + "h";
  if (ns % ns_per_s == 0)
    return std::to_string(ns / ns_per_s) + "s";
  if (ns % 1000000 == 0)
    return std::to_string(ns / 1000000) + "ms";
  return std::to_string(ns) + "ns";
}

std::string str(const std::string &s) {
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\')
      out += '\\';
    out += c;
  }
  return out + "\"";
}

} // namespace

std::string proctrack_config::dump() const {
  std::ostringstream o;
  auto b = [](bool v) { return v ? "true" : "false"; };
  o << "[tracker]\n"
    << "max-size=" << max_size << "\n"
    << "max-bytes=" << max_bytes << "\n"
    << "max-children=" << max_children << "\n"
    << "max-expiry=" << dur(max_expiry) << "\n"
    << "also-forward-updates=" << b(also_forward_updates) << "\n"
    << "add-enrichments=" << b(add_enrichments) << "\n"
    << "sysmon-file-location=" << str(sysmon_file_location) << "\n"
    << "sync-period=" << dur(sync_period) << "\n"
    << "sources=" << str(sources) << "\n\n"
    << "[stats]\ninterval=" << dur(stats_interval) << "\n\n"
    << "[live]\nflush=" << dur(live_flush) << "\nsource=" << str(live_source)
    << "\nebpf-wakeup-bytes=" << live_ebpf_wakeup_bytes
    << "\nebpf-max-delay=" << dur(live_ebpf_max_delay) << "\n\n"
    << "[query]\nsocket=" << str(query_socket) << "\ngroup=" << str(query_group)
    << "\nhost=" << str(query_host) << "\nport=" << query_port << "\n\n"
    << "[output]\npath=" << str(output_path) << "\n\n"
    << "[log]\nlevel=" << str(log_level) << "\n\n"
    << "[enrich]\nworkers=" << enrich_workers << "\npath-map=[";
  for (std::size_t i = 0; i < enrich_path_map.size(); ++i)
    o << (i ? ", " : "") << str(enrich_path_map[i]);
  o << "]\n\n"
    << "[ingest]\nbatch-size=" << ingest_batch_size
    << "\nmax-in-flight=" << ingest_max_in_flight
    << "\nread-threads=" << ingest_read_threads << "\n\n"
    << "[forward]\nconnect=" << str(forward_connect)
    << "\nbuffer=" << forward_buffer << "\ntimeout=" << dur(forward_timeout)
    << "\n\n[history]\npath=" << str(history_path)
    << "\nflush-interval=" << dur(history_flush_interval)
    << "\nmax-bytes=" << history_max_bytes
    << "\nmax-age=" << dur(history_max_age)
    << "\nmax-unacked-rows=" << history_max_unacked_rows
    << "\nmax-unacked-bytes=" << history_max_unacked_bytes
    << "\n\n[agent]\nhost-name=" << str(agent_host_name) << "\n\n"
    << "[listen]\nhost=" << str(listen_host) << "\nport=" << listen_port
    << "\n\n[collector]\nmax-hosts=" << collector_max_hosts << "\n\n"
    << "[tls]\ncertificate=" << str(tls_certificate) << "\nkey=" << str(tls_key)
    << "\nca=" << str(tls_ca) << "\n";
  return o.str();
}

std::optional<int>
start_command(proctrack_config &cfg, const command_line &cl, const char *prefix,
              void (*defaults)(proctrack_config &, const command_line &)) {
  auto fail = [prefix](const std::string &msg) {
    std::fprintf(stderr, "%s: %s\n", prefix, msg.c_str());
    return 2;
  };
  if (auto err = cfg.load(cl.config_args); !err.empty())
    return fail(err);
  if (cfg.help_printed())
    return 0;
  if (defaults != nullptr)
    defaults(cfg, cl);
  if (cl.dump_config) {
    std::fputs(cfg.dump().c_str(), stdout);
    return 0;
  }
  if (!setup_logging(cfg.log_level))
    return fail("log.level: unknown level " + cfg.log_level);
  return std::nullopt;
}

bool setup_logging(const std::string &level) {
  auto lvl = spdlog::level::from_str(level);
  if (lvl == spdlog::level::off && level != "off")
    return false;
  auto logger = spdlog::stderr_color_mt("proctrack");
  logger->set_pattern("%Y-%m-%dT%H:%M:%S.%e %^%l%$ %v");
  logger->set_level(lvl);
  spdlog::set_default_logger(logger);
  return true;
}

} // namespace proctrack
