// A source of updates for the ingest actor: update-row JSON lines, Sysmon
// JSON lines or an EVTX file, behind one pull interface. Plain C++.
#pragma once

#include "actors/ingest/format_sniffer.hpp"
#include "messages/types.hpp"

#include <memory>
#include <string>
#include <vector>

namespace proctrack {

class update_source {
public:
  virtual ~update_source() = default;

  /// Appends up to `max` updates to `out`, in source order, and stops early
  /// once they carry max_batch_bytes of Data (update_data_bytes), so that
  /// the batches in flight stay small when rows are huge (1 MB command
  /// lines). False once the source is exhausted (it may still have appended
  /// some).
  virtual bool read(std::vector<process_update> &out, std::size_t max) = 0;

  /// 4 MiB: the Data one read() hands over at most (plus its last update).
  static constexpr std::size_t max_batch_bytes = std::size_t{4} << 20;

  /// Problems met since the last call, each naming file and line/record.
  virtual std::vector<std::string> take_errors() = 0;

  /// Notes for the user that are not errors (e.g. "this file holds no
  /// process event"), each naming the file; since the last call.
  virtual std::vector<std::string> take_notes() {
    return {};
  }

  /// Counters of this source (added up over all sources by the ingest
  /// actor): lines/records read, bad input, skipped events.
  virtual void add_counters(std::vector<counter> &out) const = 0;

  /// Bytes of input consumed so far, for progress reports (0 if unknown).
  virtual std::uint64_t position() const {
    return 0;
  }
};

/// Bytes of Data text (keys and JSON values) an update carries, its
/// listing's included.
std::size_t update_data_bytes(const process_update &u);

/// Opens `path` ("-" is standard input) as `format`
/// (input_format::unknown: detect from the content). nullptr and `error`
/// naming the file when it cannot be opened or its format is unknown.
/// `max_line`: the longest update row read (bytes, at least 16 MiB); a
/// longer one is skipped whole and named.
std::unique_ptr<update_source>
open_update_source(const std::string &path, input_format format,
                   std::string &error,
                   std::size_t max_line = std::size_t{16} << 20);

/// One source that yields the updates of all `sources` merged in event
/// time order (each source's own order is kept).
std::unique_ptr<update_source>
merge_by_time(std::vector<std::unique_ptr<update_source>> sources);

/// Reads `src` in a thread of its own, up to `depth` reads of `batch`
/// updates ahead of the caller (memory: depth x batch updates, each read at
/// most max_batch_bytes of Data). The caller sees exactly what `src` gives,
/// read for read (the same batches, errors and notes with the batch they
/// came with, the same counters): several files read ahead this way are
/// decoded on several cores and still replay as one serial run.
std::unique_ptr<update_source> read_ahead(std::unique_ptr<update_source> src,
                                          std::size_t batch,
                                          std::size_t depth = 4);

/// Parses "auto", "updates", "sysmon-json", "evtx", "sysmon-linux".
bool parse_input_format(const std::string &text, input_format &out);

/// Adds `c` to the counter of the same name in `out`, or appends it.
void add_counter(std::vector<counter> &out, const std::string &name,
                 std::int64_t value);

} // namespace proctrack
