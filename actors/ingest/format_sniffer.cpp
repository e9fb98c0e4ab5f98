#include "actors/ingest/format_sniffer.hpp"
#include "actors/ingest/xml_event_gatherer.hpp"

#include "actors/common/json_scan.hpp"
#include "actors/common/json_text.hpp"
#include "actors/ingest/line_reader.hpp"
#include "actors/ingest/sysmon_linux_reader.hpp"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <zlib.h>

namespace proctrack {

const char *to_string(input_format f) {
  switch (f) {
  case input_format::updates:
    return "updates";
  case input_format::sysmon_json:
    return "sysmon-json";
  case input_format::evtx:
    return "evtx";
  case input_format::sysmon_linux:
    return "sysmon-linux";
  case input_format::unknown:
    return "unknown";
  }
  return "unknown";
}

namespace {

// The top-level keys of a line that is one valid JSON object, else none.
// Scanned, not parsed into a tree: a sync row's listing may fill the whole
// 16 MiB line, and a tree of it would cost several times that.
std::vector<std::string> top_level_keys(std::string_view line) {
  json_scan::scanner sc{line};
  std::vector<std::string> keys;
  bool first = true;
  if (sc.peek() != '{' || !sc.begin_object(first))
    return {};
  std::string_view k;
  bool esc = false;
  while (sc.next_key(first, k, esc)) {
    json_scan::value v;
    if (!sc.scan(v))
      return {};
    std::string key;
    if (esc)
      json_scan::unescape("\"" + std::string{k} + "\"", key);
    else
      key.assign(k.data(), k.size());
    keys.push_back(std::move(key));
  }
  if (!sc.ok() || !sc.at_end())
    return {};
  return keys;
}

// True when the file (plain or gzip'd) begins with an update row's first
// key, as every row proctrack writes does: its first line may be a sync row
// longer than the sniffer reads, which the update reader still reads whole
// (ingest_config::max_line).
bool starts_as_update_row(const std::string &path) {
  gzFile f = gzopen(path.c_str(), "rb");
  if (f == nullptr)
    return false;
  char head[64] = {0};
  int n = gzread(f, head, sizeof head - 1);
  gzclose(f);
  if (n <= 0)
    return false;
  std::string_view s{head, static_cast<std::size_t>(n)};
  if (s.substr(0, 3) == "\xEF\xBB\xBF")
    s.remove_prefix(3);
  auto first = s.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos
         && s.substr(first).rfind("{\"update_type\":", 0) == 0;
}

// What a line that decided nothing holds, for the user: its keys, or its
// first bytes (control and non-ASCII bytes shown as '?').
std::string describe_line(std::string_view line,
                          const std::vector<std::string> &keys) {
  auto printable = [](std::string_view s, std::size_t max) {
    std::string out;
    for (char c : s.substr(0, max))
      out += (c >= 0x20 && c < 0x7f) ? c : '?';
    return out;
  };
  if (!keys.empty()) {
    std::string out = "is a JSON object with keys ";
    for (std::size_t i = 0; i < keys.size() && i < 8; ++i)
      out += (i ? ", " : "") + printable(keys[i], 40);
    if (keys.size() > 8)
      out += ", ... (" + std::to_string(keys.size()) + " keys)";
    return out;
  }
  return "is not a JSON object: \"" + printable(line, 40)
         + (line.size() > 40 ? "...\"" : "\"");
}

} // namespace

input_format sniff_format(const std::string &path, std::string &error) {
  {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
      error = path + ": cannot open: " + std::strerror(errno);
      return input_format::unknown;
    }
    char magic[8] = {0};
    in.read(magic, 8);
    if (in.gcount() == 8 && std::memcmp(magic, "ElfFile", 8) == 0)
      return input_format::evtx;
  }
  // gzip or plain text: line_reader decompresses transparently. Look at the
  // first few non-blank lines (a torn first line is skipped).
  line_reader lines(path, std::size_t{16} << 20);
  if (!lines.open(error))
    return input_format::unknown;
  std::string line;
  int looked = 0, too_long = 0;
  std::string found; // what the first line held, for the message
  // Pieces: a line over the bound may still be event XML (wevtutil writes
  // a whole log as one line); its first piece tells.
  lines.pieces(true);
  bool rest_of_long_line = false;
  // Event XML: Splunk's XmlWinEventLog (one <Event> document a line),
  // wevtutil and Event Viewer exports (<?xml ..?>, <Events>, several events
  // a line or one over many lines), from the line's first non-blank `at`.
  auto event_xml = [&line](std::size_t at) {
    return line[at] == '<'
           && (find_event_start(line, at) != std::string::npos
               || line.compare(at, 7, "<Events") == 0);
  };
  while (looked < 20) {
    auto st = lines.next(line);
    if (st == line_reader::status::eof)
      break;
    if (rest_of_long_line) {
      rest_of_long_line = st == line_reader::status::piece;
      continue;
    }
    if (st == line_reader::status::piece) {
      auto at = line.find_first_not_of(" \t\r");
      if (at != std::string::npos
          && (event_xml(at) || line.compare(at, 5, "<?xml") == 0))
        return input_format::sysmon_json;
      ++looked, ++too_long;
      rest_of_long_line = true;
      continue;
    }
    if (line.find_first_not_of(" \t\r") == std::string::npos)
      continue;
    ++looked;
    auto first = line.find_first_not_of(" \t\r");
    if (event_xml(first))
      return input_format::sysmon_json;
    if (line.compare(first, 5, "<?xml") == 0) {
      --looked; // a declaration says nothing yet
      continue;
    }
    // Where Sysmon for Linux's events are kept: syslog text, the journal's
    // export form, journalctl's "-- Journal begins at .." first line.
    syslog_line parts;
    if (split_syslog_line(line, parts) || line.rfind("__CURSOR=", 0) == 0
        || line.rfind("__REALTIME_TIMESTAMP=", 0) == 0)
      return input_format::sysmon_linux;
    if (line.rfind("-- ", 0) == 0) {
      --looked;
      continue;
    }
    // Bad text does not hide the format: the readers repair it too.
    std::string repaired;
    if (repair_json_text(line, repaired) > 0)
      line.swap(repaired);
    auto keys = top_level_keys(line);
    if (found.empty())
      found = describe_line(line, keys);
    auto has = [&](const char *k) {
      return std::find(keys.begin(), keys.end(), k) != keys.end();
    };
    if (has("update_type"))
      return input_format::updates;
    // `journalctl -o json`.
    if (has("MESSAGE")
        && (has("__CURSOR") || has("SYSLOG_IDENTIFIER") || has("_HOSTNAME")
            || has("__REALTIME_TIMESTAMP")))
      return input_format::sysmon_linux;
    // A flattened ECS document is known by any "winlog." key, as the reader
    // knows it: its EventID may be only in "event.code".
    bool flat_winlog = std::any_of(keys.begin(), keys.end(), [](auto &k) {
      return k.rfind("winlog.", 0) == 0;
    });
    if (has("EventID") || has("winlog") || has("event_data") || has("event_id")
        || flat_winlog)
      return input_format::sysmon_json;
    // The event's XML as JSON: evtx_dump's {"Event":{"System":..}} or
    // Velociraptor parse_evtx's {"System":..,"EventData":..}.
    if ((has("Event") && line.find("\"System\"") != std::string::npos)
        || has("System"))
      return input_format::sysmon_json;
  }
  if (too_long > 0 && too_long == looked && starts_as_update_row(path))
    return input_format::updates;
  error = path
          + ": unknown format (not EVTX, and no JSON line with "
            "update_type, EventID, winlog, event_data, System or a "
            "journal's MESSAGE, nor an <Event> line, nor a syslog line, in "
            "the first "
          + std::to_string(looked) + " lines)";
  if (!found.empty())
    error += "; the first line " + found;
  if (too_long
      > 0) // e.g. a sync row too long to read: say so, not just "unknown"
    error += "; " + std::to_string(too_long)
             + " of them longer than the 16 MiB line limit, not read";
  if (!lines.last_error().empty())
    error += "; " + lines.last_error();
  return input_format::unknown;
}

} // namespace proctrack
