#include "actors/etw/etw_source.hpp"

#ifdef _WIN32

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

namespace proctrack {

std::string etw_source_config::validate() const {
  if (poll.count() <= 0)
    return "the ETW source's poll period must be positive";
  if (max_batch == 0 || max_queue == 0)
    return "the ETW source's batch and queue bounds must be positive";
  if (lost_check.count() <= 0)
    return "the ETW source's lost-event check period must be positive";
  return {};
}

etw_source_state::~etw_source_state() {
  // ProcessTrace returns once the session is stopped and the trace closed.
  if (session)
    session->stop();
  if (worker.joinable())
    worker.join();
}

namespace {

using self_ptr = live_events_actor::stateful_pointer<etw_source_state>;

// Takes what the ETW thread queued to the cache; returns how many rows.
std::uint64_t drain(self_ptr self, const etw_source_config &cfg,
                    const cache_actor &cache, const pslist_sync_actor &pslist) {
  auto &st = self->state;
  // ETW counts what it lost in the session, not in an event: read the
  // counts now and then (stats() calls on_lost, which flags the queue, when
  // they grew), so a loss heals within lost_check, not at the next stats.
  auto now = std::chrono::steady_clock::now();
  if (now - st.lost_checked >= cfg.lost_check) {
    st.lost_checked = now;
    st.session->stats();
  }
  std::vector<process_update> rows;
  bool lost = false;
  std::string run_error;
  bool ended = false;
  std::uint64_t dropped = 0;
  {
    std::lock_guard<std::mutex> g(st.queue->mtx);
    rows.swap(st.queue->rows);
    lost = st.queue->lost;
    st.queue->lost = false;
    dropped = st.queue->dropped;
    run_error = st.queue->run_error;
    ended = st.queue->ended;
  }
  std::uint64_t n = rows.size();
  for (std::size_t i = 0; i < rows.size(); i += cfg.max_batch) {
    update_batch b;
    b.host = cfg.host;
    auto end = std::min(rows.size(), i + cfg.max_batch);
    b.updates.assign(std::make_move_iterator(rows.begin() + i),
                     std::make_move_iterator(rows.begin() + end));
    ++st.batches;
    self->request(cache, caf::infinite, std::move(b))
        .then([](std::uint64_t) {},
              [](caf::error &err) {
                spdlog::warn("ETW updates not applied: {}",
                             caf::to_string(err));
              });
  }
  st.sent += static_cast<std::int64_t>(n);
  if (dropped > st.dropped_seen) {
    st.dropped_seen = dropped;
    lost = true;
  }
  if (lost && pslist) {
    // Rows the cache will never see: a listing puts it right.
    ++st.heal_syncs;
    self->request(pslist, std::chrono::seconds(60), atom::sync_v)
        .then([](std::uint64_t) {}, [](caf::error &) {});
  }
  if (ended && !st.reported_end) {
    st.reported_end = true;
    if (!run_error.empty())
      spdlog::error("ETW source stopped: {}", run_error);
    else
      spdlog::info("ETW session ended");
  }
  return n;
}

} // namespace

live_events_actor::behavior_type
etw_source(self_ptr self, etw_source_config cfg,
           std::shared_ptr<etw::session> session,
           std::shared_ptr<etw_queue> queue, cache_actor cache,
           pslist_sync_actor pslist) {
  auto &st = self->state;
  st.session = session;
  st.queue = queue;
  st.worker = std::thread([session, queue] {
    std::string err;
    bool ok = session->run(err);
    std::lock_guard<std::mutex> g(queue->mtx);
    queue->ended = true;
    if (!ok)
      queue->run_error = err;
  });
  self->delayed_send(self, cfg.poll, atom::tick_v);
  return {
      [self, cfg, cache, pslist](atom::tick) {
        drain(self, cfg, cache, pslist);
        self->delayed_send(self, cfg.poll, atom::tick_v);
      },
      [self, cfg, cache, pslist](atom::flush) -> std::uint64_t {
        return drain(self, cfg, cache, pslist);
      },
      [self](atom::stats) -> stats_report {
        auto &st = self->state;
        auto s = st.session->stats();
        std::uint64_t dropped = 0;
        {
          std::lock_guard<std::mutex> g(st.queue->mtx);
          dropped = st.queue->dropped;
        }
        auto i = [](std::uint64_t v) { return static_cast<std::int64_t>(v); };
        return {etw_source_state::name,
                {{"EtwEvents", i(s.events)},
                 {"EtwUpdates", i(s.updates)},
                 {"EtwDecodeErrors", i(s.decode_errors)},
                 {"EtwLayoutErrors", i(s.layout_errors)},
                 {"EtwEventsLost", i(s.events_lost)},
                 {"EtwBuffersLost", i(s.buffers_lost)},
                 {"EtwLostNotices", i(s.lost_notices)},
                 {"EtwQueueDropped", i(dropped)},
                 {"EtwUpdatesSent", st.sent},
                 {"EtwHealingSyncs", st.heal_syncs},
                 {"MailboxEtwSource",
                  static_cast<std::int64_t>(self->mailbox().size())}}};
      },
  };
}

live_events_actor spawn_etw_source(caf::actor_system &sys,
                                   const etw_source_config &cfg,
                                   cache_actor cache, pslist_sync_actor pslist,
                                   std::string &error) {
  if (auto why = cfg.validate(); !why.empty()) {
    error = why;
    return {};
  }
  auto queue = std::make_shared<etw_queue>();
  auto max_queue = cfg.max_queue;
  std::string computer =
      cfg.computer.empty() ? etw::local_computer_name() : cfg.computer;
  auto session = std::make_shared<etw::session>(
      computer,
      [queue, max_queue](process_update u) {
        std::lock_guard<std::mutex> g(queue->mtx);
        if (queue->rows.size() >= max_queue) {
          ++queue->dropped;
          return;
        }
        queue->rows.push_back(std::move(u));
      },
      [](std::uint16_t id, const std::string &why) {
        spdlog::warn("Sysmon event {} over ETW: {}", id, why);
      },
      [queue] {
        std::lock_guard<std::mutex> g(queue->mtx);
        queue->lost = true;
      });
  if (!session->start(error))
    return {};
  // Its own thread: the actor's work is small, but it owns ProcessTrace's
  // thread and must not share a scheduler worker with the cache.
  return sys.spawn<caf::detached>(etw_source, cfg, session, queue,
                                  std::move(cache), std::move(pslist));
}

} // namespace proctrack

#endif // _WIN32
