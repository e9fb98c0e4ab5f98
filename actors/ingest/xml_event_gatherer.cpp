#include "actors/ingest/xml_event_gatherer.hpp"

#include <algorithm>

namespace proctrack {

namespace {

bool is_space(char c) {
  return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

bool is_name_char(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
         || (c >= '0' && c <= '9') || c == '_' || c == '-' || c == '.';
}

// After '<' (or "</") at `q`: an optional namespace prefix ("e:"); where
// the local name starts.
std::size_t skip_prefix(std::string_view text, std::size_t q) {
  auto r = q;
  while (r < text.size() && is_name_char(text[r]))
    ++r;
  if (r > q && r < text.size() && text[r] == ':')
    return r + 1;
  return q;
}

// Where an element name `name` (an optional prefix before it) at `q`, just
// after '<' or "</", ends; npos when the name there is another.
std::size_t after_name(std::string_view text, std::size_t q,
                       std::string_view name) {
  auto local = skip_prefix(text, q);
  return text.compare(local, name.size(), name) == 0 ? local + name.size()
                                                     : std::string_view::npos;
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
    } else if (!s.empty() && s.front() == '<') {
      auto end = after_name(s, s.size() > 1 && s[1] == '/' ? 2 : 1, "Events");
      if (end == std::string_view::npos
          || (end < s.size() && !is_space(s[end]) && s[end] != '>')
          || !drop_through(1, ">"))
        return s;
    } else {
      return s;
    }
  }
}

// Where the start tag at `start` ends ('>' outside quoted attribute
// values), npos when not in `text`; `empty` tells "<Event .../>".
std::size_t start_tag_end(std::string_view text, std::size_t start,
                          bool &empty) {
  char quote = 0;
  for (auto i = start + 1; i < text.size(); ++i) {
    char c = text[i];
    if (quote != 0) {
      if (c == quote)
        quote = 0;
    } else if (c == '"' || c == '\'') {
      quote = c;
    } else if (c == '>') {
      empty = text[i - 1] == '/';
      return i;
    }
  }
  return std::string_view::npos;
}

} // namespace

std::size_t find_event_start(std::string_view text, std::size_t from,
                             bool complete) {
  for (auto p = text.find('<', from); p != std::string_view::npos;
       p = text.find('<', p + 1)) {
    auto after = after_name(text, p + 1, "Event");
    if (after == std::string_view::npos)
      continue;
    if (after == text.size())
      return complete ? p : std::string_view::npos;
    if (is_space(text[after]) || text[after] == '>' || text[after] == '/')
      return p;
  }
  return std::string_view::npos;
}

std::pair<std::size_t, std::size_t> find_event_end(std::string_view text,
                                                   std::size_t from) {
  for (auto p = text.find("</", from); p != std::string_view::npos;
       p = text.find("</", p + 2)) {
    auto i = after_name(text, p + 2, "Event");
    if (i == std::string_view::npos)
      continue;
    while (i < text.size() && is_space(text[i]))
      ++i;
    if (i < text.size() && text[i] == '>')
      return {p, i + 1 - p};
  }
  return {std::string_view::npos, 0};
}

bool strip_element_prefixes(std::string &xml) {
  auto start = find_event_start(xml);
  bool prefixed_event =
      start != std::string::npos && skip_prefix(xml, start + 1) != start + 1;
  if (!prefixed_event && xml.find(":System") == std::string::npos)
    return false;
  std::string out;
  out.reserve(xml.size());
  for (std::size_t i = 0; i < xml.size();) {
    if (xml[i] == '<' && i + 1 < xml.size()) {
      auto q = xml[i + 1] == '/' ? i + 2 : i + 1;
      auto local = skip_prefix(xml, q);
      out.append(xml, i, q - i);
      i = local;
      continue;
    }
    out += xml[i++];
  }
  xml.swap(out);
  return true;
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

void xml_event_gatherer::drop_open(std::string why,
                                   std::vector<std::string> &errors) {
  if (!too_long_)
    errors.push_back("an <Event> started on line "
                     + std::to_string(current_.line) + " " + why + ": skipped");
  open_ = false;
  too_long_ = false;
  current_ = event{};
  tail_.clear();
}

void xml_event_gatherer::feed(std::string_view piece, std::uint64_t n,
                              std::vector<std::string> &errors, bool more) {
  bool new_line = !continuing_;
  continuing_ = more;
  // Bytes held back from the previous piece of this line (they may begin
  // a start tag) go first.
  std::string joined;
  std::string_view line = piece;
  if (!held_.empty()) {
    joined = std::move(held_);
    held_.clear();
    joined.append(piece);
    line = joined;
  }
  std::size_t pos = 0;
  while (pos <= line.size()) {
    bool began_here = false; // the open event started in this text
    if (!open_) {
      auto start = find_event_start(line, pos, !more);
      if (start == std::string_view::npos) {
        // A piece's last bytes may be the start of "<Event": kept for
        // the next piece.
        auto keep = more ? std::min<std::size_t>(line.size() - pos, 64) : 0;
        outside(line.substr(pos, line.size() - pos - keep), errors);
        held_.assign(line.substr(line.size() - keep));
        return;
      }
      outside(line.substr(pos, start - pos), errors);
      bool empty = false;
      auto tag_end = start_tag_end(line, start, empty);
      if (tag_end != std::string_view::npos && empty) {
        // <Event/>: complete, and holds nothing (its parse says so).
        ready_.push_back(
            event{std::string{line.substr(start, tag_end + 1 - start)}, n});
        pos = tag_end + 1;
        continue;
      }
      open_ = true;
      too_long_ = false;
      current_ = event{{}, n};
      tail_.clear();
      pos = start;
      new_line = false;
      began_here = true;
      // Past "<Event": a nested start is searched for after it.
      current_.xml.append(line.substr(pos, 1));
      ++pos;
    } else if (new_line) {
      new_line = false;
      if (!too_long_)
        current_.xml += '\n'; // the break between two lines of one event
      else
        tail_ += '\n';
    }
    // Where this event ends: "</Event>" in this line, or one that began in
    // what the event already holds ("</Ev" at the end of a piece,
    // "</Event" before a line break), searched in its last bytes and the
    // first of this line only (a long line is never copied whole).
    std::size_t end_in_line = std::string_view::npos; // bytes of line taken
    std::size_t end_len = 0;
    if (!began_here) {
      auto &before = too_long_ ? tail_ : current_.xml;
      auto held = std::min<std::size_t>(before.size(), 64);
      std::string window = before.substr(before.size() - held);
      window.append(line.substr(pos, 64));
      auto [at, len] = find_event_end(window, 0);
      if (at != std::string::npos && at < held) {
        end_in_line = at + len - held;
        end_len = len;
      }
    }
    if (end_in_line == std::string_view::npos) {
      auto [at, len] = find_event_end(line, pos);
      if (at != std::string_view::npos) {
        end_in_line = at + len - pos;
        end_len = len;
      }
    }
    // A new <Event> before this one's end: this one was cut (a truncated
    // export followed by another); it is dropped, the new one read.
    auto next_start = find_event_start(line, pos, !more);
    if (next_start != std::string_view::npos
        && (end_in_line == std::string_view::npos
            || next_start + end_len < pos + end_in_line)) {
      drop_open("has no </Event> before another <Event> on line "
                    + std::to_string(n),
                errors);
      pos = next_start;
      continue;
    }
    auto stop =
        end_in_line == std::string_view::npos ? line.size() : pos + end_in_line;
    if (!too_long_ && current_.xml.size() + (stop - pos) > max_) {
      errors.push_back("an <Event> longer than " + std::to_string(max_)
                       + " bytes, from line " + std::to_string(current_.line)
                       + ", skipped");
      too_long_ = true;
      tail_ = current_.xml.substr(
          current_.xml.size() - std::min<std::size_t>(current_.xml.size(), 64));
      current_.xml = std::string{}; // its memory goes now
    }
    if (too_long_) {
      tail_.append(
          line.substr(pos, stop - pos)
              .substr((stop - pos) - std::min<std::size_t>(stop - pos, 64)));
      if (tail_.size() > 64)
        tail_.erase(0, tail_.size() - 64);
    } else {
      current_.xml.append(line.substr(pos, stop - pos));
    }
    if (end_in_line == std::string_view::npos)
      return;
    if (!too_long_)
      ready_.push_back(std::move(current_));
    current_ = event{};
    tail_.clear();
    open_ = false;
    too_long_ = false;
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
  std::vector<std::string> errors;
  if (!held_.empty()) {
    outside(held_, errors);
    held_.clear();
  }
  continuing_ = false;
  if (open_) {
    auto line = current_.line;
    bool counted = too_long_; // already reported as too long
    open_ = false;
    too_long_ = false;
    current_ = event{};
    tail_.clear();
    if (!counted)
      errors.push_back("an <Event> started on line " + std::to_string(line)
                       + " never ends (no </Event> before the end of the "
                         "input)");
  }
  std::string out;
  for (auto &e : errors)
    out += (out.empty() ? "" : "; ") + e;
  return out;
}

} // namespace proctrack
