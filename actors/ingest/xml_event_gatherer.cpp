#include "actors/ingest/xml_event_gatherer.hpp"

#include <algorithm>

namespace proctrack {

namespace {

constexpr std::string_view end_tag = "</Event>";

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// Drops what may stand between events: whitespace, <?..?>, <!--..-->,
// <Events ..>, </Events>. What is left is not an event's.
std::string_view skip_wrapper(std::string_view s) {
  for (;;) {
    while (!s.empty() && is_space(s.front()))
      s.remove_prefix(1);
    auto drop_through = [&s](std::size_t from, std::string_view close) {
      auto e = s.find(close, from);
      if (e == std::string_view::npos)
        return false;
      s.remove_prefix(e + close.size());
      return true;
    };
    if (s.rfind("<?", 0) == 0) {
      if (!drop_through(2, "?>"))
        return s;
    } else if (s.rfind("<!--", 0) == 0) {
      if (!drop_through(4, "-->"))
        return s;
    } else if (s.rfind("</Events", 0) == 0
               || (s.rfind("<Events", 0) == 0
                   && (s.size() == 7 || is_space(s[7]) || s[7] == '>'))) {
      if (!drop_through(1, ">"))
        return s;
    } else {
      return s;
    }
  }
}

} // namespace

std::size_t find_event_start(std::string_view text, std::size_t from) {
  for (auto p = text.find("<Event", from); p != std::string_view::npos;
       p = text.find("<Event", p + 1)) {
    auto after = p + 6;
    if (after == text.size() || is_space(text[after]) || text[after] == '>'
        || text[after] == '/')
      return p;
  }
  return std::string_view::npos;
}

void xml_event_gatherer::outside(std::string_view text,
                                 std::vector<std::string> &errors) {
  auto rest = skip_wrapper(text);
  if (rest.empty())
    return;
  std::string shown{rest.substr(0, 40)};
  std::replace_if(
      shown.begin(), shown.end(),
      [](char c) { return static_cast<unsigned char>(c) < 0x20; }, ' ');
  errors.push_back("text outside an <Event> element: \"" + shown
                   + (rest.size() > 40 ? "...\"" : "\""));
}

void xml_event_gatherer::feed(std::string_view line, std::uint64_t n,
                              std::vector<std::string> &errors) {
  std::size_t pos = 0;
  while (pos <= line.size()) {
    if (!open_) {
      auto start = find_event_start(line, pos);
      outside(line.substr(pos, start == std::string_view::npos
                                   ? std::string_view::npos
                                   : start - pos),
              errors);
      if (start == std::string_view::npos)
        return;
      open_ = true;
      too_long_ = false;
      current_ = event{{}, n};
      pos = start;
    } else if (!too_long_) {
      current_.xml += '\n'; // the line break between two lines of one event
    }
    auto end = line.find(end_tag, pos);
    auto stop =
        end == std::string_view::npos ? line.size() : end + end_tag.size();
    if (!too_long_) {
      if (current_.xml.size() + (stop - pos) > max_) {
        too_long_ = true;
        current_.xml = std::string{}; // its memory goes now
        errors.push_back("an <Event> longer than " + std::to_string(max_)
                         + " bytes, from line " + std::to_string(current_.line)
                         + ", skipped");
      } else {
        current_.xml.append(line.substr(pos, stop - pos));
      }
    }
    if (end == std::string_view::npos)
      return;
    if (!too_long_)
      ready_.push_back(std::move(current_));
    current_ = event{};
    open_ = false;
    pos = stop;
    if (pos == line.size())
      return;
  }
}

bool xml_event_gatherer::pop(event &out) {
  if (ready_.empty())
    return false;
  out = std::move(ready_.front());
  ready_.pop_front();
  return true;
}

std::string xml_event_gatherer::finish() {
  if (!open_)
    return {};
  open_ = false;
  auto line = current_.line;
  current_ = event{};
  return "an <Event> started on line " + std::to_string(line)
         + " never ends (no </Event> before the end of the input)";
}

} // namespace proctrack
