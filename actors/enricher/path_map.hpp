// Maps the Windows paths that process data carries (Sysmon's Image, e.g.
// `C:\Windows\System32\cmd.exe`) to local paths where the files can be read,
// typically a mounted disk image (`enrich.path-map`, SPEC §7). Plain C++, no
// CAF. See docs/enrichment.md, "The enricher actor".
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace proctrack {

class path_map {
public:
  /// One `PREFIX=MOUNTPOINT` entry, normalised: the prefix with backslashes
  /// turned into slashes.
  struct entry {
    std::string prefix;
    std::string mount;
  };

  path_map() = default;

  /// Parses `PREFIX=MOUNTPOINT` entries (split at the first '='), e.g.
  /// "C:/=/mnt/evidence/c/". Returns nullopt and sets `error` (naming the
  /// entry) when an entry has no '=', an empty prefix or an empty mount point.
  static std::optional<path_map> parse(const std::vector<std::string> &entries,
                                       std::string &error);

  /// The local path of `path`, or nullopt when there is none:
  /// - backslashes become slashes and a `\\?\` or `\??\` prefix is dropped;
  /// - the longest matching prefix wins; prefixes compare ASCII
  ///   case-insensitively (Windows paths are), and match only at a path
  ///   boundary (the prefix ends with '/' or ':', or the path continues with
  ///   '/' or ends there): "C:/Win" does not match "C:/Windows";
  /// - the rest is appended to the mount point with exactly one '/' between;
  /// - a path no entry matches is used as is only when it is an absolute
  ///   POSIX path (starts with '/'); a Windows path without a mapping has no
  ///   local path;
  /// - a mapped rest with a ".." component is refused (it could leave the
  ///   mount point).
  std::optional<std::string> map(std::string_view path) const;

  const std::vector<entry> &entries() const {
    return entries_;
  }

  bool empty() const {
    return entries_.empty();
  }

private:
  std::vector<entry> entries_; ///< longest prefix first
};

} // namespace proctrack
