#include "actors/ingest/format_sniffer.hpp"

#include "actors/common/json_text.hpp"
#include "actors/ingest/line_reader.hpp"

#include <nlohmann/json.hpp>

#include <cerrno>
#include <cstring>
#include <fstream>

namespace proctrack {

const char *to_string(input_format f) {
  switch (f) {
  case input_format::updates:
    return "updates";
  case input_format::sysmon_json:
    return "sysmon-json";
  case input_format::evtx:
    return "evtx";
  case input_format::unknown:
    return "unknown";
  }
  return "unknown";
}

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
  int looked = 0;
  while (looked < 20) {
    auto st = lines.next(line);
    if (st == line_reader::status::eof)
      break;
    if (st == line_reader::status::too_long) {
      ++looked;
      continue;
    }
    if (line.find_first_not_of(" \t\r") == std::string::npos)
      continue;
    ++looked;
    // Splunk's XmlWinEventLog: one <Event> document a line.
    auto first = line.find_first_not_of(" \t\r");
    if (line.compare(first, 6, "<Event") == 0)
      return input_format::sysmon_json;
    // Bad text does not hide the format: the readers repair it too.
    std::string repaired;
    if (repair_json_text(line, repaired) > 0)
      line.swap(repaired);
    auto j = nlohmann::json::parse(line, nullptr, false);
    if (!j.is_object())
      continue;
    if (j.contains("update_type"))
      return input_format::updates;
    if (j.contains("EventID") || j.contains("winlog")
        || j.contains("event_data") || j.contains("event_id")
        || j.contains("winlog.event_id"))
      return input_format::sysmon_json;
    // The event's XML as JSON: evtx_dump's {"Event":{"System":..}} or
    // Velociraptor parse_evtx's {"System":..,"EventData":..}.
    if ((j.contains("Event") && j["Event"].is_object()
         && j["Event"].contains("System"))
        || (j.contains("System") && j["System"].is_object()))
      return input_format::sysmon_json;
  }
  error = path
          + ": unknown format (not EVTX, and no JSON line with "
            "update_type, EventID, winlog, event_data or System, nor an "
            "<Event> line, in the first "
          + std::to_string(looked) + " lines)";
  if (!lines.last_error().empty())
    error += "; " + lines.last_error();
  return input_format::unknown;
}

} // namespace proctrack
