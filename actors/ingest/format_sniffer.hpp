// Guesses the format of an input file from its content (SPEC §9 replay's
// "format detected"). Plain C++, no CAF.
#pragma once

#include <string>

namespace proctrack {

enum class input_format { updates, sysmon_json, evtx, unknown };

const char *to_string(input_format f);

/// EVTX by its "ElfFile\0" signature; otherwise the first JSON object line
/// (of the decompressed text for gzip) decides: "update_type" -> updates;
/// EventID, event_id, winlog or event_data -> sysmon_json. unknown, with a
/// message naming the file in `error`, when the file cannot be read or
/// nothing matches.
input_format sniff_format(const std::string &path, std::string &error);

} // namespace proctrack
