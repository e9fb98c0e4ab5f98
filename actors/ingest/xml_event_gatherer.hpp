// Gathers Windows event XML documents (<Event ...>...</Event>, as
// wevtutil, Event Viewer, Get-WinEvent's ToXml() and Splunk's
// XmlWinEventLog write them) from text read line by line, whatever the
// line breaks: one event a line (Splunk), several on one line (`wevtutil
// qe /f:xml` writes them one after another), one over many lines
// (pretty-printed exports, a value that holds a newline), and inside
// Event Viewer's "Save All Events As... XML" wrapper (an XML declaration,
// then <Events> ... </Events>; that file is UTF-16 and is converted to
// UTF-8 first). The event's own XML is parsed elsewhere (parse_event_xml).
// Plain C++, no CAF.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace proctrack {

class xml_event_gatherer {
public:
  /// One event's XML text (its lines joined by '\n') and the line it
  /// started on (1-based, as fed).
  struct event {
    std::string xml;
    std::uint64_t line = 0;
  };

  /// `max_event_bytes`: an event longer than this is skipped, reported,
  /// and its text not kept (memory stays bounded whatever the input).
  explicit xml_event_gatherer(std::size_t max_event_bytes)
      : max_(max_event_bytes) {}

  /// True while an event is open: the next line belongs to it, whatever
  /// it holds.
  bool inside() const {
    return open_;
  }

  /// Feeds line `n` (without its line break), or a piece of it: `more`
  /// says the line goes on in the next feed (a line longer than the line
  /// reader's bound comes in pieces; wevtutil writes a whole log as one
  /// line). The events it completes go to pop(). An event ends at its
  /// `</Event>` (whitespace before the '>' allowed); `<Event/>` is
  /// complete at once. A new `<Event` before the open one's end drops the
  /// open one (a cut export joined to another): "an <Event> started on
  /// line N has no </Event> before another <Event> on line M: skipped".
  /// Text between events other than whitespace, an XML declaration
  /// (<?xml ..?>), a comment and the <Events> wrapper's tags is an error
  /// ("text outside an <Event> element: ..."). Errors go to `errors`; the
  /// events around them are still gathered. Element names may carry a
  /// namespace prefix (<e:Event>).
  void feed(std::string_view line, std::uint64_t n,
            std::vector<std::string> &errors, bool more = false);

  /// The oldest complete event; false when there is none.
  bool pop(event &out);

  /// At the end of the input: what is wrong with an event still open
  /// ("an <Event> started on line N never ends"), empty when none is.
  std::string finish();

private:
  void outside(std::string_view text, std::vector<std::string> &errors);
  void drop_open(std::string why, std::vector<std::string> &errors);

  std::size_t max_;
  bool open_ = false;
  bool too_long_ = false;   ///< the open event is over max_: not kept
  bool continuing_ = false; ///< the last feed had `more`
  event current_;
  std::string held_; ///< a piece's last bytes, outside events, not yet read
  std::string tail_; ///< the last bytes of an event over max_
  std::deque<event> ready_;
};

/// Where `<Event` (or `<prefix:Event`) starts an element named Event (not
/// Events, EventData, EventID...) in `text`, from `from`; npos when
/// nowhere. `complete`: the text ends there (else "<Event" at its very
/// end is not yet a start: the next piece decides).
std::size_t find_event_start(std::string_view text, std::size_t from = 0,
                             bool complete = true);

/// The first end tag `</Event>` (or `</prefix:Event >`, whitespace before
/// the '>') in `text` from `from`: its position and length; npos when none.
std::pair<std::size_t, std::size_t> find_event_end(std::string_view text,
                                                   std::size_t from = 0);

/// Drops namespace prefixes from an event's element names (`<e:System>`
/// -> `<System>`), which parse_event_xml looks up by local name; only
/// when the event's own tag or its System element has one. True when it
/// changed `xml`.
bool strip_element_prefixes(std::string &xml);

} // namespace proctrack
