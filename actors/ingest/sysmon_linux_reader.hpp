// Reads Sysmon for Linux events (Microsoft's SysmonForLinux, provider
// "Linux-Sysmon") from the logs it is kept in. Sysmon for Linux writes each
// event as one line of XML, the Windows event schema (<Event><System>..
// <EventData><Data Name=..>..</EventData></Event>), to syslog with the tag
// "sysmon" (its own viewer, sysmonLogView, finds an event as the text from
// "<Event>" after " sysmon" in a line). Forms read, decided per file:
//  - syslog text, one message a line: RFC 3164 / rsyslog's traditional
//    format ("Nov 24 09:59:48 host sysmon: <Event>.."), rsyslog's RFC 3339
//    timestamps ("2022-11-24T09:59:48.015060+00:00 host sysmon[1109]: .."),
//    RFC 5424 ("<14>1 2022-11-24T09:59:48Z host sysmon 1109 - - <Event>.."),
//    and journalctl's short / short-iso / short-precise output (the same
//    shapes, "-- Journal begins .." lines skipped);
//  - `journalctl -o json`: one JSON object a line, the XML in MESSAGE (a
//    string, or an array of byte values when the text is not printable);
//  - `journalctl -o export`: KEY=value lines, a blank line after each entry,
//    a binary field as KEY, a 64-bit little-endian length and the bytes.
// Lines or entries of other programs are skipped and counted, never errors.
// A line of sysmon's whose XML is cut short (a syslog daemon's message size
// limit), does not parse, or is longer than the line limit is an error
// naming the file and line; reading goes on. In the journal forms an entry
// that claims the identifier "sysmon" but whose trusted fields (_COMM, _UID,
// set by journald, not by the sender) say another program or user sent it
// is skipped and counted: a local user can write to syslog as "sysmon"
// (`logger -t sysmon`), and plain syslog text cannot tell (docs/sources.md).
// Plain C++, no CAF.
#pragma once

#include "actors/ingest/line_reader.hpp"
#include "actors/ingest/sysmon_event.hpp"

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace proctrack {

/// One syslog line split into its parts (views into the line).
struct syslog_line {
  std::string_view host; ///< HOSTNAME; empty when the form has none
  std::string_view tag;  ///< the program: "sysmon" of "sysmon[1109]:"
  std::string_view text; ///< the message after the header
};

/// Splits a syslog line in one of the text forms above. False when the
/// line has no syslog header.
bool split_syslog_line(std::string_view line, syslog_line &out);

class sysmon_linux_reader {
public:
  enum class form { syslog, journal_json, journal_export };

  struct counters {
    std::uint64_t lines = 0;        ///< lines read (blank ones included)
    std::uint64_t records = 0;      ///< events returned by next()
    std::uint64_t bad_lines = 0;    ///< sysmon's lines that could not be read
    std::uint64_t read_errors = 0;  ///< the input ended in a read error
    std::uint64_t filtered = 0;     ///< events skipped by only_event_ids()
    std::uint64_t invalid_text = 0; ///< bad UTF-8 replaced by U+FFFD
    std::uint64_t other_lines = 0;  ///< other programs' lines / entries
    std::uint64_t unrecognised = 0; ///< of which: not syslog nor journal
    std::uint64_t sysmon_text = 0;  ///< sysmon's messages that are no event
    std::uint64_t not_from_sysmon = 0; ///< "sysmon" entries journald says
                                       ///< another program or user sent
    std::map<std::int64_t, std::uint64_t> filtered_by_event_id;
  };

  explicit sysmon_linux_reader(std::string path);

  /// Opens the file; false with a message naming it if it cannot.
  bool open(std::string &error);

  /// Returns only events with one of these EventIDs (empty: all). The
  /// others are recognised by their <EventID> without parsing the XML.
  void only_event_ids(std::vector<std::int64_t> ids) {
    wanted_ = std::move(ids);
  }

  /// The next event, in file order; its computer is the event's Computer,
  /// else the syslog / journal host name. False at the end.
  bool next(sysmon_event &ev);

  const counters &stats() const {
    return stats_;
  }

  /// The form of the file, known after the first non-blank line.
  form file_form() const {
    return form_;
  }

  /// Messages "FILE:LINE: why" gathered since the last call (at most
  /// 10,000 are kept; the counters count all).
  std::vector<std::string> take_errors();

  /// Notes that are not errors (a log with no Sysmon event at all, what it
  /// held instead), since the last call.
  std::vector<std::string> take_notes();

private:
  // A message of sysmon's found, its XML and the host the envelope gives.
  bool next_message(std::string &xml, std::string &host, std::uint64_t &line);
  bool next_export_entry(std::string &xml, std::string &host,
                         std::uint64_t &line);
  bool from_journal_fields(std::string_view ident, std::string_view comm,
                           std::string_view uid, std::uint64_t line);
  void error(std::uint64_t line, std::string msg);
  void note_at_end();

  line_reader lines_;
  counters stats_;
  form form_ = form::syslog;
  bool form_known_ = false;
  bool ended_ = false;
  std::vector<std::string> errors_;
  std::vector<std::string> notes_;
  std::vector<std::int64_t> wanted_;
  std::string pending_; // a line read ahead (export form)
  bool have_pending_ = false;
};

const char *to_string(sysmon_linux_reader::form f);

/// Decodes one `journalctl -o json` line. True when it is a journal entry
/// (a JSON object with MESSAGE); then `message`, `ident` (SYSLOG_IDENTIFIER),
/// `comm` (_COMM), `uid` (_UID) and `host` (_HOSTNAME) hold its fields
/// (empty when absent). A MESSAGE given as an array of byte values is
/// decoded to those bytes.
bool parse_journal_json(std::string_view line, std::string &message,
                        std::string &ident, std::string &comm, std::string &uid,
                        std::string &host);

} // namespace proctrack
