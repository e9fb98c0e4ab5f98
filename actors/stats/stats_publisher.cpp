#include "actors/stats/stats_publisher.hpp"
#include "actors/common/time.hpp"

#include "actors/cache/output_rows.hpp"
#include "actors/live/proc_connector.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <memory>

namespace proctrack {

std::string stats_publisher_config::validate() const {
  if (interval.count() <= 0)
    return "stats.interval must be a positive duration";
  return {};
}

void merge_counters(std::vector<counter> &into,
                    const std::vector<counter> &more) {
  for (auto &c : more) {
    bool found = false;
    for (auto &o : into)
      if (o.name == c.name) {
        o.value += c.value;
        found = true;
        break;
      }
    if (!found)
      into.push_back(c);
  }
}

namespace {

using self_ptr = stats_publisher_actor::stateful_pointer<stats_publisher_state>;

// One polling round: the counters gathered so far and who has not answered.
// (Mailbox depths come in each actor's own report: CAF 0.17 cannot read
// another actor's mailbox safely from outside.)
struct round_state {
  std::vector<counter> merged;
  std::size_t pending = 0;
  std::int64_t unanswered = 0;
};

void publish(self_ptr self, update_sink_actor sink,
             std::vector<counter> merged) {
  auto &st = self->state;
  auto now = wall_clock_now();
  merged.insert(merged.end(), st.fixed.begin(), st.fixed.end());
  merged.push_back({"StatsRows", ++st.rows});
  if (sink)
    self->send(sink, stats_row_json(merged, now) + "\n");
  // The others' counters (not the cache's own) join `stats` queries.
  st.last = merged;
}

} // namespace

stats_publisher_actor::behavior_type
stats_publisher(self_ptr self, stats_publisher_config cfg, cache_actor cache,
                std::vector<stats_api> others, update_sink_actor sink) {
  self->state.fixed = cfg.fixed;
  self->delayed_send(self, cfg.interval, atom::tick_v);
  return {
      [self, cfg, cache, others, sink](atom::tick) {
        self->delayed_send(self, cfg.interval, atom::tick_v);
        auto round = std::make_shared<round_state>();
        round->pending = others.size() + 1;
        // Each round collects the others first, hands them to the cache, then
        // asks the cache for the whole picture.
        auto finish = [self, cache, sink, round] {
          self->send(cache, atom::publish_v,
                     stats_report{"proctrack.agent", round->merged});
          self->request(cache, std::chrono::seconds(5), atom::stats_v)
              .then(
                  [self, cache, sink, round](stats_report &r) {
                    auto all = r.counters;
                    all.push_back({"UnansweredStats", round->unanswered});
                    publish(self, sink, std::move(all));
                  },
                  [self, cache, sink, round](caf::error &) {
                    auto all = round->merged;
                    all.push_back({"UnansweredStats", round->unanswered + 1});
                    publish(self, sink, std::move(all));
                  });
        };
        if (others.empty()) {
          finish();
          return;
        }
        round->pending = others.size();
        for (auto &a : others)
          self->request(a, std::chrono::seconds(5), atom::stats_v)
              .then(
                  [round, finish](stats_report &r) {
                    merge_counters(round->merged, r.counters);
                    if (--round->pending == 0)
                      finish();
                  },
                  [round, finish](caf::error &) {
                    ++round->unanswered;
                    if (--round->pending == 0)
                      finish();
                  });
      },
      [self](atom::snapshot) -> std::string {
        return stats_object_json(self->state.last);
      },
      [self](atom::stats) -> stats_report {
        return {stats_publisher_state::name, {{"StatsRows", self->state.rows}}};
      },
  };
}

stats_publisher_actor spawn_stats_publisher(caf::actor_system &sys,
                                            const stats_publisher_config &cfg,
                                            cache_actor cache,
                                            std::vector<stats_api> others,
                                            update_sink_actor sink) {
  return sys.spawn(stats_publisher, cfg, std::move(cache), std::move(others),
                   std::move(sink));
}

} // namespace proctrack
