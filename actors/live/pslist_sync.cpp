#include "actors/live/pslist_sync.hpp"

#include "actors/common/time.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

namespace proctrack {

std::string pslist_sync_config::validate() const {
  if (period.count() <= 0)
    return "tracker.sync-period must be a positive duration";
  return {};
}

namespace {

using self_ptr = pslist_sync_actor::stateful_pointer<pslist_sync_state>;

// Lists the processes and sends one sync; `done` gets the number of processes
// once the cache has applied it, `failed` why there is no listing to apply.
template <class Done, class Failed>
void list_now(self_ptr self, const pslist_sync_config &cfg, cache_actor cache,
              Done done, Failed failed) {
  auto &st = self->state;
  auto t0 = std::chrono::steady_clock::now();
  process_update u;
  u.kind = update_kind::sync;
  u.time = wall_clock_now();
  auto listing = st.reader();
  if (!listing.error.empty()) {
    // An incomplete listing applied as a sync would mark every process it
    // misses as exited (e.g. while a client holds every descriptor).
    ++st.failures;
    spdlog::warn("pslist sync failed, not applied ({} so far): {}", st.failures,
                 listing.error);
    failed(listing.error);
    return;
  }
  u.processes = std::move(listing.processes);
  auto n = static_cast<std::uint64_t>(u.processes.size());
  update_batch b;
  b.host = cfg.host;
  b.updates.push_back(std::move(u));
  auto time = b.updates.front().time;
  self->request(cache, caf::infinite, std::move(b))
      .then(
          [self, t0, n, time, done](std::uint64_t) mutable {
            auto &st = self->state;
            auto us = std::chrono::duration_cast<std::chrono::microseconds>(
                          std::chrono::steady_clock::now() - t0)
                          .count();
            ++st.syncs;
            st.last_size = static_cast<std::int64_t>(n);
            st.last_duration_us = us;
            st.max_duration_us = std::max<std::int64_t>(st.max_duration_us, us);
            st.last_time = time;
            spdlog::debug("pslist sync: {} processes in {} us", n, us);
            done(n);
          },
          [](caf::error &err) {
            spdlog::warn("pslist sync not applied: {}", caf::to_string(err));
          });
}

// The same after the live events actor has sent the cache every event it
// holds: a listing that reached the cache before updates of events that
// happened before it would take a process's parent from the listing (a
// reaper, once the creator is gone) instead of from its fork. A live actor
// that does not answer (gone) delays the listing by the timeout at most.
template <class Done, class Failed>
void take_listing(self_ptr self, const pslist_sync_config &cfg,
                  cache_actor cache, Done done, Failed failed) {
  auto live = self->state.live;
  if (!live) {
    list_now(self, cfg, std::move(cache), std::move(done), std::move(failed));
    return;
  }
  auto go = [self, cfg, cache, done, failed]() mutable {
    list_now(self, cfg, std::move(cache), std::move(done), std::move(failed));
  };
  self->request(live, std::chrono::seconds(5), atom::flush_v)
      .then([go](std::uint64_t) mutable { go(); },
            [go](caf::error &) mutable { go(); });
}

} // namespace

pslist_sync_actor::behavior_type
pslist_sync(self_ptr self, pslist_sync_config cfg, cache_actor cache) {
  self->state.reader =
      cfg.reader ? cfg.reader : default_pslist_reader(cfg.proc_root);
  self->delayed_send(self, cfg.period, atom::tick_v);
  return {
      [self, cfg, cache](atom::sync) -> caf::result<std::uint64_t> {
        auto rp = self->make_response_promise<std::uint64_t>();
        take_listing(
            self, cfg, cache, [rp](std::uint64_t n) mutable { rp.deliver(n); },
            [rp](const std::string &why) mutable {
              rp.deliver(caf::make_error(caf::sec::runtime_error,
                                         "/proc listing failed: " + why));
            });
        return rp;
      },
      [self, cfg, cache](atom::tick) {
        take_listing(
            self, cfg, cache, [](std::uint64_t) {}, [](const std::string &) {});
        self->delayed_send(self, cfg.period, atom::tick_v);
      },
      [self](atom::subscribe, live_events_actor live) {
        self->state.live = std::move(live);
      },
      [self](atom::stats) -> stats_report {
        auto &st = self->state;
        return {pslist_sync_state::name,
                {{"PslistSyncs", st.syncs},
                 {"SyncFailures", st.failures},
                 {"LastSyncDurationUs", st.last_duration_us},
                 {"MaxSyncDurationUs", st.max_duration_us},
                 {"LastPslistSize", st.last_size},
                 {"MailboxPslistSync",
                  static_cast<std::int64_t>(self->mailbox().size())}}};
      },
  };
}

pslist_sync_actor spawn_pslist_sync(caf::actor_system &sys,
                                    const pslist_sync_config &cfg,
                                    cache_actor cache) {
  // Listing the processes blocks for a moment: a thread of its own.
  return sys.spawn<caf::detached>(pslist_sync, cfg, std::move(cache));
}

} // namespace proctrack
