// A log that holds both Sysmon and Security process events records most
// process creations twice: Sysmon EID 1 (with GUIDs) and Security 4688 (pid
// only). This index of the file's Sysmon side lets the Security reader drop
// a 4688 whose process Sysmon already gives, and puts the export's
// TimeCreated (skewed by whole hours in some exports) on Sysmon's UtcTime
// clock. Plain C++, no CAF (docs/sources.md, "Security and Sysmon in one
// log").
#pragma once

#include "actors/ingest/sysmon_event.hpp"

#include <cstddef>
#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace proctrack {

class security_twins {
public:
  /// 1,000,000 Sysmon creations (24 bytes each): past it the index stops
  /// growing and says so (full()); later 4688 are then kept, not matched.
  static constexpr std::size_t max_creations = 1'000'000;

  /// A 4688 and a Sysmon EID 1 of one host are the same creation when the
  /// pid and the image's file name (any case) are equal and their times
  /// differ by at most this (2 s: nxlog's EventTime is cut to the second,
  /// and the two providers write within ~1 s in the corpus). When the EID 1
  /// has no ProcessId (nxlog exports that failed to render it), the image
  /// and the time alone decide, closest first.
  static constexpr timestamp window = 2 * hns_per_second;

  /// Takes one Sysmon event of the file (EID 1: a creation; any event with
  /// UtcTime and a TimeCreated: a clock sample). Other events are ignored.
  void add(const sysmon_event &ev);

  /// Sorts the index; call once after the last add().
  void finish();

  /// The quarter hours (in ns) to add to this host's TimeCreated to reach
  /// Sysmon's UtcTime: the most common rounded difference over the host's
  /// Sysmon events, or over all hosts when this one has none; 0 without
  /// samples. `samples` gets how many events agreed.
  timestamp offset(std::string_view host, std::size_t *samples = nullptr) const;

  /// True, and that Sysmon creation used up, when a Sysmon EID 1 of `host`
  /// is the same creation as a 4688 of `pid` (decimal text) at `when`
  /// (already on Sysmon's clock) of `image` (a path).
  bool claim(std::string_view host, std::string_view pid, timestamp when,
             std::string_view image);

  std::size_t creations() const {
    return entries_.size();
  }
  bool full() const {
    return full_;
  }

private:
  struct entry {
    std::uint64_t key;   ///< host + pid, or host + image without a pid
    timestamp time;      ///< UtcTime
    std::uint32_t image; ///< hash of the image's lower-cased file name
    bool used;
  };
  std::vector<entry> entries_;
  bool full_ = false;
  /// host (lower case) -> rounded offset (in quarter hours) -> samples.
  std::map<std::string, std::map<std::int64_t, std::size_t>> clock_;
};

/// The lower-cased file name of a Windows or POSIX path, hashed (32 bits):
/// what security_twins compares images by.
std::uint32_t image_key(std::string_view path);

} // namespace proctrack
