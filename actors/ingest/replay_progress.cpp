#include "actors/ingest/replay_progress.hpp"

#include <algorithm>
#include <cstdio>

namespace proctrack {

namespace {

std::string printable_name(const std::string &path) {
  auto slash = path.find_last_of('/');
  std::string name = slash == std::string::npos ? path : path.substr(slash + 1);
  if (name.size() > 64)
    name = name.substr(0, 61) + "...";
  for (auto &c : name)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      c = '?';
  return name;
}

double per_second(std::int64_t n, double seconds) {
  return seconds > 0 ? static_cast<double>(n) / seconds : 0.0;
}

} // namespace

std::string progress_line(const replay_figures &f) {
  char buf[256];
  std::string out =
      "[file " + std::to_string(std::min(f.files_done + 1, f.files_total)) + "/"
      + std::to_string(f.files_total) + "] " + printable_name(f.current) + ": ";
  std::snprintf(buf, sizeof buf, "%lld records, %.0f records/s, %lld errors",
                static_cast<long long>(f.records),
                per_second(f.records, f.seconds),
                static_cast<long long>(f.errors));
  out += buf;
  double done = 0;
  if (f.bytes_total > 0)
    done =
        static_cast<double>(f.bytes_done) / static_cast<double>(f.bytes_total);
  else if (f.files_total > 0)
    done =
        static_cast<double>(f.files_done) / static_cast<double>(f.files_total);
  if (f.seconds >= 1 && done > 0 && done < 1) {
    auto left = static_cast<long long>(f.seconds * (1 - done) / done + 0.5);
    std::snprintf(buf, sizeof buf, ", ETA %lld:%02lld", left / 60, left % 60);
    out += buf;
  }
  return out;
}

std::string summary_line(const replay_figures &f) {
  char buf[256];
  std::string out = "replay: " + std::to_string(f.files_done) + " file"
                    + (f.files_done == 1 ? "" : "s");
  if (f.open_failures > 0 || f.files_skipped > 0)
    out += " (" + std::to_string(f.open_failures) + " unreadable, "
           + std::to_string(f.files_skipped) + " not a log)";
  out += ", " + std::to_string(f.records) + " records";
  if (f.security_events > 0 || f.linux_events > 0) {
    out += " (";
    if (f.security_events > 0)
      out += "Security 4688/4689: " + std::to_string(f.security_events);
    if (f.security_events > 0 && f.linux_events > 0)
      out += ", ";
    if (f.linux_events > 0)
      out += "Sysmon for Linux: " + std::to_string(f.linux_events);
    out += ")";
  }
  out += ", " + std::to_string(f.updates) + " process updates";
  std::snprintf(buf, sizeof buf,
                ", %lld input errors in %.1f s (%.0f records/s)",
                static_cast<long long>(f.errors), f.seconds,
                per_second(f.records, f.seconds));
  return out + buf;
}

} // namespace proctrack
