#include "actors/live/live_events.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

namespace proctrack {

std::string live_events_config::validate() const {
  if (poll_ms <= 0 || poll_ms > 1000)
    return "live events poll time must be between 1 and 1000 ms";
  if (max_batch == 0 || max_in_flight == 0)
    return "live events batch bounds must be positive";
  return {};
}

namespace {

using self_ptr = live_events_actor::stateful_pointer<live_events_state>;

void send_batch(self_ptr self, const live_events_config &cfg,
                const cache_actor &cache, std::vector<process_update> &&ups) {
  auto &st = self->state;
  if (ups.empty())
    return;
  if (st.in_flight >= cfg.max_in_flight) {
    // The cache is far behind: drop rather than grow without bound; the
    // next sync puts the cache right.
    ++st.dropped_batches;
    return;
  }
  update_batch b;
  b.host = cfg.host;
  b.updates = std::move(ups);
  st.updates_sent += static_cast<std::int64_t>(b.updates.size());
  ++st.in_flight;
  self->request(cache, caf::infinite, std::move(b))
      .then([self](std::uint64_t) { --self->state.in_flight; },
            [self](caf::error &) { --self->state.in_flight; });
}

} // namespace

live_events_actor::behavior_type
live_events(self_ptr self, live_events_config cfg,
            std::shared_ptr<linux_proc::proc_connector> connector,
            cache_actor cache, pslist_sync_actor pslist) {
  self->state.connector = std::move(connector);
  self->state.reader.emplace(cfg.proc_root);
  self->send(self, atom::tick_v);
  return {
      // One turn: wait briefly for events, send them, come back. Other
      // messages (stats, exit) are handled between turns.
      [self, cfg, cache, pslist](atom::tick) {
        auto &st = self->state;
        st.events.clear();
        auto status = st.connector->receive(st.events, cfg.poll_ms);
        using rs = linux_proc::proc_connector::recv_status;
        if (status == rs::overflow) {
          ++st.lost_overflows;
          spdlog::warn("kernel process events lost (receive buffer full): "
                       "syncing from /proc");
          self->request(pslist, caf::infinite, atom::sync_v)
              .then([](std::uint64_t) {}, [](caf::error &) {});
        } else if (status == rs::error) {
          ++st.receive_errors;
          spdlog::error("proc connector: {}", st.connector->last_error());
        }
        st.events_seen += static_cast<std::int64_t>(st.events.size());
        std::vector<process_update> ups;
        linux_proc::to_updates(st.events, *st.reader, ups);
        while (ups.size() > cfg.max_batch) {
          std::vector<process_update> rest(
              std::make_move_iterator(ups.begin() + cfg.max_batch),
              std::make_move_iterator(ups.end()));
          ups.resize(cfg.max_batch);
          send_batch(self, cfg, cache, std::move(ups));
          ups = std::move(rest);
        }
        send_batch(self, cfg, cache, std::move(ups));
        self->send(self, atom::tick_v);
      },
      [self](atom::stats) -> stats_report {
        auto &st = self->state;
        auto &cs = st.connector->stats();
        return {live_events_state::name,
                {{"KernelEvents", st.events_seen},
                 {"LiveUpdates", st.updates_sent},
                 {"LostEvents", st.lost_overflows},
                 {"DroppedLiveBatches", st.dropped_batches},
                 {"MalformedKernelMessages",
                  static_cast<std::int64_t>(cs.malformed)},
                 {"ConnectorErrors", st.receive_errors},
                 {"MailboxLiveEvents",
                  static_cast<std::int64_t>(self->mailbox().size())}}};
      },
  };
}

live_events_actor
spawn_live_events(caf::actor_system &sys, const live_events_config &cfg,
                  std::shared_ptr<linux_proc::proc_connector> connector,
                  cache_actor cache, pslist_sync_actor pslist) {
  return sys.spawn<caf::detached>(live_events, cfg, std::move(connector),
                                  std::move(cache), std::move(pslist));
}

} // namespace proctrack
