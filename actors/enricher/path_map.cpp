#include "actors/enricher/path_map.hpp"

#include <algorithm>

namespace proctrack {

namespace {

std::string slashes(std::string_view s) {
  std::string out{s};
  std::replace(out.begin(), out.end(), '\\', '/');
  return out;
}

char lower(char c) {
  return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c;
}

bool iprefix(std::string_view s, std::string_view prefix) {
  if (prefix.size() > s.size())
    return false;
  for (std::size_t i = 0; i < prefix.size(); ++i)
    if (lower(s[i]) != lower(prefix[i]))
      return false;
  return true;
}

bool has_dotdot(std::string_view p) {
  std::size_t start = 0;
  while (start <= p.size()) {
    auto end = p.find('/', start);
    if (end == std::string_view::npos)
      end = p.size();
    if (p.substr(start, end - start) == "..")
      return true;
    start = end + 1;
  }
  return false;
}

} // namespace

std::optional<path_map> path_map::parse(const std::vector<std::string> &entries,
                                        std::string &error) {
  path_map m;
  for (auto &e : entries) {
    auto eq = e.find('=');
    if (eq == std::string::npos) {
      error = "enrich.path-map entry \"" + e
              + "\" must be PREFIX=MOUNTPOINT, e.g. C:/=/mnt/evidence/c/";
      return std::nullopt;
    }
    entry x{slashes(std::string_view{e}.substr(0, eq)), e.substr(eq + 1)};
    if (x.prefix.empty() || x.mount.empty()) {
      error = "enrich.path-map entry \"" + e
              + "\" needs a prefix and a mount point, e.g. "
                "C:/=/mnt/evidence/c/";
      return std::nullopt;
    }
    m.entries_.push_back(std::move(x));
  }
  // Longest prefix first; equal lengths keep their configured order.
  std::stable_sort(m.entries_.begin(), m.entries_.end(),
                   [](const entry &a, const entry &b) {
                     return a.prefix.size() > b.prefix.size();
                   });
  return m;
}

std::optional<std::string> path_map::map(std::string_view path) const {
  auto p = slashes(path);
  // Win32 file namespace and NT object prefixes: \\?\C:\... and \??\C:\...
  for (std::string_view nt : {"//?/", "/?\?/"})
    if (p.size() > nt.size() + 1 && p.compare(0, nt.size(), nt) == 0
        && p[nt.size() + 1] == ':') {
      p.erase(0, nt.size());
      break;
    }
  for (auto &e : entries_) {
    if (!iprefix(p, e.prefix))
      continue;
    std::string_view rest = std::string_view{p}.substr(e.prefix.size());
    char last = e.prefix.back();
    if (last != '/' && last != ':' && !rest.empty() && rest.front() != '/')
      continue; // not at a path boundary
    while (!rest.empty() && rest.front() == '/')
      rest.remove_prefix(1);
    if (has_dotdot(rest))
      return std::nullopt; // would leave the mount point
    std::string out = e.mount;
    if (!rest.empty()) {
      if (out.back() != '/')
        out += '/';
      out.append(rest.data(), rest.size());
    }
    return out;
  }
  if (!path.empty() && path.front() == '/')
    return std::string{path};
  return std::nullopt;
}

} // namespace proctrack
