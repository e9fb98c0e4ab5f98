#include "actors/enricher/enricher.hpp"

#include "actors/common/posix_io.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <sys/stat.h>

#include <cerrno>
#include <cstring>
#include <exception>
#include <tuple>

namespace proctrack {

namespace {

// Outcome kinds besides pe::error_kind names.
constexpr const char *kind_ok = "ok";
constexpr const char *kind_partial = "partial";
constexpr const char *kind_unmapped = "unmapped";
constexpr const char *kind_worker = "worker_failed";

// Every error kind, for a stats report with a fixed set of names.
constexpr const char *error_kinds[] = {
    "not_found",       "io_error",  "not_pe",      "malformed",
    "no_version_info", "too_large", kind_unmapped, kind_worker};

// "no_version_info" -> "EnrichErrorsNoVersionInfo".
std::string counter_name(const std::string &kind) {
  std::string out = "EnrichErrors";
  bool up = true;
  for (char c : kind) {
    if (c == '_') {
      up = true;
      continue;
    }
    out += up && c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c;
    up = false;
  }
  return out;
}

enrichment failure(std::string kind, const std::string &message) {
  enrichment e;
  e.ok = false;
  e.error = kind + ": " + message;
  return e;
}

// What a worker answers for one read.
std::tuple<enrichment, std::string> to_enrichment(const pe::result &r) {
  bool has_strings = r.info && !r.info->strings.empty();
  if (r.error == pe::error_kind::none
      || (r.error == pe::error_kind::malformed && has_strings)) {
    // A damaged file whose version strings could be read still enriches:
    // the strings are what the file says (docs/enrichment.md).
    enrichment e;
    e.ok = true;
    e.version_info_json = r.info ? pe::to_json(*r.info) : "{}";
    if (r.info)
      for (auto &[k, v] : r.info->strings)
        if (k == "OriginalFilename")
          e.original_filename = v;
    return {std::move(e),
            r.error == pe::error_kind::none ? kind_ok : kind_partial};
  }
  std::string kind = pe::to_string(r.error);
  return {failure(kind, r.message), kind};
}

} // namespace

std::string enricher_config::validate() const {
  if (workers < 1 || workers > 64)
    return "enrich.workers must be between 1 and 64 (got "
           + std::to_string(workers) + ")";
  if (cache_size > (std::size_t{1} << 24))
    return "the enrichment cache size must be at most 16777216";
  std::string error;
  if (!path_map::parse(path_map, error))
    return error;
  return {};
}

std::vector<counter> enricher_state::counters() const {
  std::vector<counter> out{
      {"EnricherRequests", requests},
      {"EnrichCacheHits", cache_hits},
      {"EnrichCoalesced", coalesced},
      {"EnrichFilesRead", files_read},
      {"EnrichOk", answered_ok},
      {"EnrichPartial", partial},
      {"EnrichErrors", errors},
      {"EnrichCacheSize", static_cast<std::int64_t>(lru.size())},
      {"EnrichCacheEvictions", evictions},
      {"EnrichQueued", static_cast<std::int64_t>(queue.size())},
      {"EnrichWorkerRestarts", worker_restarts},
  };
  for (auto kind : error_kinds) {
    auto i = errors_by_kind.find(kind);
    out.push_back(
        {counter_name(kind), i == errors_by_kind.end() ? 0 : i->second});
  }
  return out;
}

enricher_worker_actor::behavior_type
enricher_worker(enricher_worker_actor::pointer, pe_reader_fn reader) {
  return {
      [reader](atom::run, const std::string &local)
          -> std::tuple<enrichment, std::string> {
        try {
          return to_enrichment(reader(local));
        } catch (const std::exception &x) {
          return {failure(kind_worker,
                          std::string{"reading "} + local + ": " + x.what()),
                  kind_worker};
        }
      },
  };
}

enricher_actor::behavior_type enricher(enricher_stateful_pointer self,
                                       enricher_config cfg) {
  auto &st = self->state;
  std::string error;
  st.map = *path_map::parse(cfg.path_map, error); // validated by spawn
  st.cache_size = cfg.cache_size;
  pe_reader_fn reader = cfg.reader;
  if (!reader) {
    auto limits = cfg.limits;
    reader = [limits](const std::string &p) {
      return pe::read_file(p, limits);
    };
  }
  auto spawn_worker = [self, reader] {
    auto w = self->spawn<caf::detached + caf::linked>(enricher_worker, reader);
    self->state.workers.push_back(w);
    self->state.idle.push_back(w);
  };
  for (std::size_t i = 0; i < cfg.workers; ++i)
    spawn_worker();
  // Counts one answer and delivers it.
  auto answer = [self](caf::typed_response_promise<enrichment> &p, enrichment e,
                       const std::string &path, const std::string &kind) {
    auto &st = self->state;
    e.path = path;
    if (e.ok) {
      ++st.answered_ok;
    } else {
      ++st.errors;
      ++st.errors_by_kind[kind];
    }
    p.deliver(std::move(e));
  };
  // A read finished (or failed): remember it, answer everyone waiting.
  auto finish = [self, answer](const std::string &key, enrichment e,
                               const std::string &kind) {
    auto &st = self->state;
    if (kind == kind_partial)
      ++st.partial;
    // io errors and worker failures may be transient: not remembered.
    if (st.cache_size > 0 && kind != "io_error" && kind != kind_worker
        && st.index.find(key) == st.index.end()) {
      st.lru.emplace_front(key, enricher_state::result{e, kind});
      st.index.emplace(key, st.lru.begin());
      while (st.lru.size() > st.cache_size) {
        st.index.erase(st.lru.back().first);
        st.lru.pop_back();
        ++st.evictions;
      }
    }
    auto i = st.in_flight.find(key);
    if (i == st.in_flight.end())
      return;
    auto waiters = std::move(i->second);
    st.in_flight.erase(i);
    for (auto &w : waiters)
      answer(w.promise, e, w.path, kind);
  };
  // Hands queued reads to idle workers.
  auto dispatch = std::make_shared<std::function<void()>>();
  *dispatch = [self, finish,
               weak = std::weak_ptr<std::function<void()>>(dispatch)] {
    auto &st = self->state;
    while (!st.idle.empty() && !st.queue.empty()) {
      auto w = st.idle.back();
      st.idle.pop_back();
      auto job = std::move(st.queue.front());
      st.queue.pop_front();
      ++st.files_read;
      self->request(w, caf::infinite, atom::run_v, job.local)
          .then(
              [self, finish, weak, w, key = job.key](enrichment &e,
                                                     std::string &kind) {
                finish(key, std::move(e), kind);
                self->state.idle.push_back(w);
                if (auto d = weak.lock())
                  (*d)();
              },
              [finish, key = job.key, local = job.local](caf::error &err) {
                // The worker died (its exit handler below replaces it).
                finish(key,
                       failure(kind_worker,
                               "reading " + local + ": " + caf::to_string(err)),
                       kind_worker);
              });
    }
  };
  // A worker that exits is replaced; any other exit ends the enricher (and,
  // through the links, its workers).
  self->set_exit_handler([self, spawn_worker, dispatch](caf::exit_msg &msg) {
    auto &st = self->state;
    for (auto i = st.workers.begin(); i != st.workers.end(); ++i)
      if (i->address() == msg.source) {
        spdlog::warn("enricher worker exited ({}); starting another",
                     caf::to_string(msg.reason));
        st.workers.erase(i);
        for (auto j = st.idle.begin(); j != st.idle.end(); ++j)
          if (j->address() == msg.source) {
            st.idle.erase(j);
            break;
          }
        ++st.worker_restarts;
        spawn_worker();
        (*dispatch)();
        return;
      }
    self->quit(msg.reason);
  });
  return {
      [self, answer, dispatch](
          atom::enrich, const std::string &path) -> caf::result<enrichment> {
        auto &st = self->state;
        ++st.requests;
        auto p = self->make_response_promise<enrichment>();
        auto local = st.map.map(path);
        if (!local) {
          answer(p,
                 failure(kind_unmapped,
                         "no local path for " + path
                             + " (no enrich.path-map entry matches)"),
                 path, kind_unmapped);
          return p;
        }
        struct stat sb;
        if (::stat(local->c_str(), &sb) != 0) {
          int err = errno;
          std::string kind =
              err == ENOENT || err == ENOTDIR ? "not_found" : "io_error";
          answer(p,
                 failure(kind,
                         "cannot stat " + *local + ": " + std::strerror(err)),
                 path, kind);
          return p;
        }
        if (!S_ISREG(sb.st_mode)) {
          answer(p, failure("io_error", *local + " is not a regular file"),
                 path, "io_error");
          return p;
        }
        auto key =
            *local + '\n' + std::to_string(sb.st_size) + '\n' + mtime_text(sb);
        if (auto i = st.index.find(key); i != st.index.end()) {
          ++st.cache_hits;
          st.lru.splice(st.lru.begin(), st.lru, i->second);
          auto &r = i->second->second;
          answer(p, r.value, path, r.kind);
          return p;
        }
        auto [i, fresh] = st.in_flight.try_emplace(key);
        i->second.push_back({p, path});
        if (!fresh) {
          ++st.coalesced;
          return p;
        }
        st.queue.push_back({key, *local});
        (*dispatch)();
        return p;
      },
      [self](atom::stats) -> stats_report {
        return {enricher_state::name, self->state.counters()};
      },
  };
}

caf::expected<enricher_actor> spawn_enricher(caf::actor_system &sys,
                                             const enricher_config &cfg) {
  if (auto err = cfg.validate(); !err.empty())
    return caf::make_error(caf::sec::invalid_argument, std::move(err));
  return sys.spawn(enricher, cfg);
}

} // namespace proctrack
