#include "actors/query_endpoint/query_facade.hpp"

#include "actors/cache/query_parser.hpp"
#include "actors/common/time.hpp"

#include <caf/typed_event_based_actor.hpp>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <unordered_set>

namespace proctrack {

namespace {

// How long a lookup may wait on the history (a write of what is pending
// comes first): past it, the cache's own answer goes out.
constexpr auto history_timeout = std::chrono::seconds(10);

bool unknown_parent(const std::string &id) {
  return id.empty()
         || (id.size() >= 2 && id.compare(id.size() - 2, 2, "-?") == 0);
}

timestamp start_of(const nlohmann::ordered_json &e) {
  auto it = e.find("StartTime");
  if (it == e.end() || !it->is_string())
    return unknown_time;
  auto t = parse_time(it->get<std::string>());
  return t ? *t : unknown_time;
}

// The cache's answer `cached` to `q`, completed from the history where the
// cache missed (docs/history.md "Lookups that miss the cache"):
// - get, tree: the cache does not know the process (null);
// - callchain: the oldest entry's parent is not cached (evicted): the
//   store's chain of that parent goes before it, up to MAX in all;
// - children: the store's children the cache no longer holds, merged by
//   start time, up to MAX.
// Text is spliced, not re-serialized, except for a children merge.
void complete(query_api::pointer self, const history_actor &history,
              const query &q, std::string cached,
              caf::typed_response_promise<std::string> rp) {
  auto ask = [&](query hq, auto done) {
    self->request(history, history_timeout, std::move(hq), unknown_time)
        .then(std::move(done), [rp, cached](caf::error &) mutable {
          rp.deliver(std::move(cached)); // the history failed: what we have
        });
  };
  auto max = q.max > 0 ? q.max : default_max(q.verb);
  if ((q.verb == "get" || q.verb == "tree") && cached == "null") {
    ask(q, [rp](std::string &h) mutable { rp.deliver(std::move(h)); });
    return;
  }
  if (q.verb == "callchain") {
    auto chain = nlohmann::json::parse(cached, nullptr, false);
    if (!chain.is_array()) {
      rp.deliver(std::move(cached));
      return;
    }
    if (chain.empty()) {
      ask(q, [rp](std::string &h) mutable { rp.deliver(std::move(h)); });
      return;
    }
    auto parent = chain.front().value("ParentId", std::string{});
    auto have = static_cast<std::int64_t>(chain.size());
    if (have >= max || unknown_parent(parent)) {
      rp.deliver(std::move(cached));
      return;
    }
    query up{"callchain", parent, max - have};
    ask(up, [rp, cached](std::string &h) mutable {
      if (h.size() < 3 || h.front() != '[' || h.back() != ']') {
        rp.deliver(std::move(cached)); // [] (not stored either)
        return;
      }
      h.pop_back();
      h += ',';
      h.append(cached, 1, std::string::npos);
      rp.deliver(std::move(h));
    });
    return;
  }
  if (q.verb == "children") {
    ask(q, [rp, cached, max](std::string &h) mutable {
      using oj = nlohmann::ordered_json;
      auto mine = oj::parse(cached, nullptr, false);
      auto theirs = oj::parse(h, nullptr, false);
      if (!mine.is_array() || !theirs.is_array()) {
        rp.deliver(std::move(cached));
        return;
      }
      if (mine.empty()) {
        rp.deliver(std::move(h));
        return;
      }
      std::unordered_set<std::string> ids;
      for (auto &e : mine)
        ids.insert(e.value("Id", std::string{}));
      std::vector<oj> all(mine.begin(), mine.end());
      for (auto &e : theirs)
        if (ids.count(e.value("Id", std::string{})) == 0)
          all.push_back(std::move(e));
      if (all.size() == mine.size()) {
        rp.deliver(std::move(cached));
        return;
      }
      std::stable_sort(all.begin(), all.end(), [](auto &a, auto &b) {
        return start_of(a) < start_of(b);
      });
      if (all.size() > static_cast<std::size_t>(max))
        all.resize(static_cast<std::size_t>(max));
      rp.deliver(oj(std::move(all))
                     .dump(-1, ' ', false, oj::error_handler_t::replace));
    });
    return;
  }
  rp.deliver(std::move(cached));
}

// Relays, never delegates: a delegated request is answered by the cache
// itself, which puts the cache's handle on the wire and in the middleman's
// registry, where any peer could address it by its id, with the whole
// cache interface. The answer comes from the facade; the cache's handle
// never leaves this process (nor the history's).
query_api::behavior_type facade(query_api::pointer self, query_backend backend,
                                history_actor history) {
  return {
      // As of a time: the store's answer alone (the cache holds now). The
      // history bounds it (history_config::max_answer), as the cache's
      // size bounds an answer about now.
      [=](query &q, timestamp as_of) {
        auto rp = self->make_response_promise<std::string>();
        if (!history) {
          rp.deliver(caf::make_error(
              caf::sec::runtime_error,
              "no process history: a query as of a time (" + to_string(q)
                  + "@T) is answered from the history store, and this "
                    "agent keeps none (history.path)"));
          return rp;
        }
        if (as_of == unknown_time || q.verb == "stats") {
          rp.deliver(caf::make_error(caf::sec::runtime_error,
                                     "an as-of query needs a time and one of "
                                     "get, callchain, children, tree, pslist"));
          return rp;
        }
        self->request(history, history_timeout, std::move(q), as_of)
            .then([rp](std::string &r) mutable { rp.deliver(std::move(r)); },
                  [rp](caf::error &e) mutable { rp.deliver(std::move(e)); });
        return rp;
      },
      [=](query &q) {
        auto rp = self->make_response_promise<std::string>();
        self->request(backend, caf::infinite, q)
            .then(
                [=](std::string &r) mutable {
                  if (history)
                    complete(self, history, q, std::move(r), rp);
                  else
                    rp.deliver(std::move(r));
                },
                [rp](caf::error &e) mutable { rp.deliver(std::move(e)); });
        return rp;
      },
  };
}

} // namespace

query_api spawn_query_facade(caf::actor_system &sys, query_backend backend,
                             history_actor history) {
  return sys.spawn(facade, std::move(backend), std::move(history));
}

} // namespace proctrack
