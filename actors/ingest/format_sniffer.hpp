// Guesses the format of an input file from its content (SPEC §9 replay's
// "format detected"). Plain C++, no CAF.
#pragma once

#include <string>

namespace proctrack {

enum class input_format { updates, sysmon_json, evtx, sysmon_linux, unknown };

const char *to_string(input_format f);

/// EVTX by its "ElfFile\0" signature; otherwise the first JSON object line
/// (of the decompressed text for gzip) decides: "update_type" -> updates;
/// EventID, event_id, winlog (or a flattened "winlog.*" key),
/// event_data, Event.System (evtx_dump) or System (Velociraptor
/// parse_evtx) -> sysmon_json; so does a line starting with "<Event"
/// (Splunk's XmlWinEventLog, one XML event a line). A syslog line (RFC
/// 3164, RFC 3339 timestamps, RFC 5424, journalctl's short forms), a
/// `journalctl -o json` line (MESSAGE with __CURSOR, SYSLOG_IDENTIFIER or
/// _HOSTNAME) or a `journalctl -o export` entry (__CURSOR=) -> sysmon_linux
/// (Sysmon for Linux's events; sysmon_linux_reader.hpp). unknown, with a
/// message naming the file in `error`, when the file cannot be read or
/// nothing matches.
input_format sniff_format(const std::string &path, std::string &error);

} // namespace proctrack
