// PE version-information reader (SPEC §7): VS_FIXEDFILEINFO, every
// StringTable of every RT_VERSION resource and VarFileInfo\Translation.
// Plain C++, no CAF include: the enricher actor, the tests and the fuzz target
// use it directly. Every offset and size read from the file is checked
// against the file before use; loops and counts are bounded, so any input
// (truncated, corrupted, hostile) gives a result, never a crash or a hang.
// See docs/enrichment.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

namespace proctrack::pe {

enum class error_kind {
  none,            ///< version information read completely
  not_found,       ///< the file does not exist
  io_error,        ///< the file exists but could not be opened or read
  not_pe,          ///< no MZ / PE signature or headers truncated or unusable
  malformed,       ///< headers fine, resources or version data damaged
  no_version_info, ///< a sound PE file without an RT_VERSION resource
  too_large,       ///< larger than limits::max_file_size
};

const char *to_string(error_kind);

struct fixed_file_info {
  std::string file_version;    ///< "a.b.c.d" from FileVersionMS/LS
  std::string product_version; ///< "a.b.c.d" from ProductVersionMS/LS
  std::uint32_t signature = 0; ///< 0xFEEF04BD when sound (not enforced)
  std::uint32_t struc_version = 0;
  std::uint32_t file_flags_mask = 0;
  std::uint32_t file_flags = 0;
  std::uint32_t file_os = 0;
  std::uint32_t file_type = 0;
  std::uint32_t file_subtype = 0;
  std::uint64_t file_date = 0; ///< (FileDateMS << 32) | FileDateLS
};

struct string_table {
  std::string lang_codepage; ///< key as in the file, e.g. "040904B0"
  /// UTF-8 key/value pairs in file order; values end at their first NUL.
  std::vector<std::pair<std::string, std::string>> entries;
};

struct version_info {
  /// From the first VS_VERSIONINFO that has one.
  std::optional<fixed_file_info> fixed;
  /// All tables of all version resources (all names, all languages), in
  /// resource-tree order.
  std::vector<string_table> tables;
  /// Merged over `tables`: a later table wins on a duplicate key, keys stay
  /// in first-seen order (go-pe / Velociraptor's GetVersionInformation).
  std::vector<std::pair<std::string, std::string>> strings;
  /// VarFileInfo\Translation pairs, "040904b0" (lower case), all resources.
  std::vector<std::string> translations;
};

struct result {
  error_kind error = error_kind::none;
  /// Names what and where, e.g. "resource directory at offset 0x1234 loops".
  std::string message;
  /// May hold partial data even with an error (malformed) for damaged files.
  std::optional<version_info> info;
};

struct limits {
  std::uint64_t max_file_size = 256u << 20;
  /// Per resource directory, and for the number of RT_VERSION data entries.
  std::uint32_t max_resource_entries = 4096;
  /// Resource directory nesting (the normal tree has 3 levels).
  std::uint32_t max_depth = 8;
};

/// Parses a PE image held in memory (the file bytes as on disk).
result parse(const std::uint8_t *data, std::size_t size, const limits & = {});

/// Reads the file with a bounded read (at most its fstat size, refused above
/// max_file_size) and parses it.
result read_file(const std::string &path, const limits & = {});

/// The VersionInformation object of SPEC §7: the merged strings as a JSON
/// object, keys in merged order.
std::string to_json(const version_info &);

} // namespace proctrack::pe
