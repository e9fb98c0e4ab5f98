#include "actors/ingest/security_twins.hpp"

#include "actors/common/text.hpp"

#include "actors/common/time.hpp"

#include <algorithm>
#include <cctype>

namespace proctrack {

namespace {

constexpr timestamp quarter_hour = 900 * hns_per_second;

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto &c : out)
    c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// FNV-1a, 64 bits, over the lower-cased bytes of each part and a separator.
struct fnv {
  std::uint64_t h = 1469598103934665603ULL;
  fnv &add(std::string_view s) {
    for (char c : s) {
      h ^= static_cast<unsigned char>(
          std::tolower(static_cast<unsigned char>(c)));
      h *= 1099511628211ULL;
    }
    h ^= 0xff; // separator: ("ab","c") != ("a","bc")
    h *= 1099511628211ULL;
    return *this;
  }
};

std::uint64_t pid_key(std::string_view host, std::string_view pid) {
  return fnv{}.add(host).add("pid").add(trim(pid)).h;
}

std::uint64_t image_only_key(std::string_view host, std::string_view image) {
  return fnv{}.add(host).add("image").add(base_name(trim(image))).h;
}

bool is_sysmon(const sysmon_event &ev) {
  if (ev.provider.empty())
    return true;
  return lower(ev.provider) == lower(sysmon_provider);
}

} // namespace

std::uint32_t image_key(std::string_view path) {
  auto h = fnv{}.add(base_name(trim(path))).h;
  return static_cast<std::uint32_t>(h ^ (h >> 32));
}

void security_twins::add(const sysmon_event &ev) {
  if (!is_sysmon(ev))
    return;
  auto utc_text = ev.find("UtcTime");
  if (utc_text == nullptr)
    return;
  auto utc = parse_time(*utc_text);
  if (!utc || *utc == unknown_time)
    return;
  if (auto tc = parse_time(ev.time_created); tc && *tc != unknown_time) {
    auto diff = *utc - *tc;
    auto q = (diff >= 0 ? diff + quarter_hour / 2 : diff - quarter_hour / 2)
             / quarter_hour;
    auto &per_host = clock_[lower(ev.computer)];
    if (per_host.size() < 64 || per_host.count(q) > 0)
      ++per_host[q];
  }
  if (ev.event_id != 1)
    return;
  if (entries_.size() >= max_creations) {
    full_ = true;
    return;
  }
  auto image = ev.find("Image");
  auto pid = ev.find("ProcessId");
  std::string_view img = image != nullptr ? std::string_view{*image} : "";
  if (pid != nullptr && !trim(*pid).empty())
    entries_.push_back(
        {pid_key(ev.computer, *pid), *utc, image_key(img), false});
  else if (!img.empty())
    entries_.push_back(
        {image_only_key(ev.computer, img), *utc, image_key(img), false});
}

void security_twins::finish() {
  std::sort(entries_.begin(), entries_.end(),
            [](const entry &a, const entry &b) {
              return a.key != b.key ? a.key < b.key : a.time < b.time;
            });
}

timestamp security_twins::offset(std::string_view host,
                                 std::size_t *samples) const {
  auto best_of = [](const std::map<std::int64_t, std::size_t> &m,
                    std::int64_t &q, std::size_t &n) {
    for (auto &[k, v] : m)
      if (v > n) {
        q = k;
        n = v;
      }
  };
  std::int64_t q = 0;
  std::size_t n = 0;
  if (auto it = clock_.find(lower(host)); it != clock_.end())
    best_of(it->second, q, n);
  if (n == 0) { // no Sysmon event of this host: the file's common offset
    std::map<std::int64_t, std::size_t> all;
    for (auto &[h, m] : clock_)
      for (auto &[k, v] : m)
        all[k] += v;
    best_of(all, q, n);
  }
  if (samples != nullptr)
    *samples = n;
  return q * quarter_hour;
}

bool security_twins::claim(std::string_view host, std::string_view pid,
                           timestamp when, std::string_view image) {
  auto img = image_key(image);
  auto pick = [&](std::uint64_t key, bool same_image) -> entry * {
    auto lo = std::lower_bound(
        entries_.begin(), entries_.end(), key,
        [](const entry &e, std::uint64_t k) { return e.key < k; });
    entry *best = nullptr;
    timestamp best_gap = window + 1;
    for (auto it = lo; it != entries_.end() && it->key == key; ++it) {
      if (it->used || (same_image && it->image != img))
        continue;
      auto gap = it->time > when ? it->time - when : when - it->time;
      if (gap < best_gap) {
        best = &*it;
        best_gap = gap;
      }
    }
    return best;
  };
  auto e = pick(pid_key(host, pid), true);
  if (e == nullptr && !image.empty())
    e = pick(image_only_key(host, image), false);
  if (e == nullptr)
    return false;
  e->used = true;
  return true;
}

} // namespace proctrack
