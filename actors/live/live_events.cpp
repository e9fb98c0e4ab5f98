#include "actors/live/live_events.hpp"

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <utility>

namespace proctrack {

std::string live_events_config::validate() const {
  if (poll_ms <= 0 || poll_ms > 1000)
    return "live events poll time must be between 1 and 1000 ms";
  if (flush_ms < 0 || flush_ms > 1000)
    return "live.flush must be between 0 and 1s";
  if (max_batch == 0 || max_in_flight == 0 || max_backlog == 0)
    return "live events batch bounds must be positive";
  return {};
}

namespace {

using self_ptr = live_events_actor::stateful_pointer<live_events_state>;

// Asks the pslist sync actor for a listing now, unless one is on its way.
void heal(self_ptr self, const pslist_sync_actor &pslist) {
  auto &st = self->state;
  if (st.heal_pending || !pslist)
    return;
  st.heal_pending = true;
  ++st.heal_syncs;
  self->request(pslist, caf::infinite, atom::sync_v)
      .then([self](std::uint64_t) { self->state.heal_pending = false; },
            [self](caf::error &) { self->state.heal_pending = false; });
}

// Leader exits that /proc cannot yet tell apart from a thread's execve()
// are asked about again each round and taken as exits after this long (or
// at once past max_undecided held).
constexpr auto undecided_for = std::chrono::seconds(1);
constexpr std::size_t max_undecided = 4096;

// Turns the held exits, then this round's events, into updates. The held
// exits go first, in one batch with the new events, so that what follows
// them (a fork of the pid: a final exit; its exec: a thread's execve())
// decides them; those held past undecided_for go first of all and are
// decided now.
void decode(self_ptr self, std::vector<process_update> &ups) {
  auto &st = self->state;
  auto now = std::chrono::steady_clock::now();
  auto held = std::exchange(st.undecided, {});
  std::stable_partition(held.begin(), held.end(), [&](const auto &h) {
    return now - h.second >= undecided_for;
  });
  std::size_t must_decide = 0;
  std::vector<linux_proc::proc_event> batch;
  batch.reserve(held.size() + st.events.size());
  for (auto &[ev, since] : held) {
    if (now - since >= undecided_for)
      ++must_decide;
    batch.push_back(ev);
  }
  batch.insert(batch.end(), st.events.begin(), st.events.end());
  if (batch.empty())
    return;
  // Time spent suspended moves /proc's clock away from the events' one.
  st.reader->set_boot_offset_ns(
      linux_proc::procfs_reader::measure_boot_offset_ns());
  std::vector<linux_proc::proc_event> again;
  st.translator.translate(batch, *st.reader, ups, unknown_time, &st.counts,
                          held.size() < max_undecided ? &again : nullptr,
                          must_decide);
  for (auto &ev : again) {
    auto since = now;
    for (auto &[h, t] : held)
      if (h.pid == ev.pid && h.ktime_ns == ev.ktime_ns)
        since = t;
    st.undecided.emplace_back(ev, since);
  }
}

// Appends updates to the backlog, filling the last batch up to max_batch.
// Past max_backlog the rest is dropped and the cache healed by a sync.
void enqueue(self_ptr self, const live_events_config &cfg,
             const pslist_sync_actor &pslist,
             std::vector<process_update> &&ups) {
  auto &st = self->state;
  std::size_t dropped = 0;
  if (st.backlog_size == 0 && !ups.empty())
    st.backlog_since = std::chrono::steady_clock::now();
  for (auto &u : ups) {
    if (st.backlog_size >= cfg.max_backlog) {
      ++dropped;
      continue;
    }
    if (st.backlog.empty() || st.backlog.back().size() >= cfg.max_batch) {
      st.backlog.emplace_back();
      st.backlog.back().reserve(std::min(cfg.max_batch, ups.size()));
    }
    st.backlog.back().push_back(std::move(u));
    ++st.backlog_size;
  }
  st.max_backlog_seen =
      std::max(st.max_backlog_seen, static_cast<std::int64_t>(st.backlog_size));
  if (dropped > 0) {
    if (st.dropped_updates == 0 || !st.heal_pending)
      spdlog::warn("the cache is {} updates behind: dropped {} live updates, "
                   "syncing from /proc",
                   st.backlog_size, dropped);
    st.dropped_updates += static_cast<std::int64_t>(dropped);
    heal(self, pslist);
  }
}

// Whether the backlog's first batch may go now: it is full, or its oldest
// update has waited flush_ms.
bool due(const live_events_state &st, const live_events_config &cfg) {
  if (st.backlog.empty())
    return false;
  return st.backlog.front().size() >= cfg.max_batch || st.backlog.size() > 1
         || std::chrono::steady_clock::now() - st.backlog_since
                >= std::chrono::milliseconds(cfg.flush_ms);
}

// Sends backlog batches while fewer than max_in_flight wait for the cache;
// each answer sends the next, so the cache never idles while work waits.
void pump(self_ptr self, const live_events_config &cfg,
          const cache_actor &cache) {
  auto &st = self->state;
  while (due(st, cfg) && st.in_flight < cfg.max_in_flight) {
    update_batch b;
    b.host = cfg.host;
    b.updates = std::move(st.backlog.front());
    st.backlog.pop_front();
    st.backlog_size -= b.updates.size();
    if (st.backlog_size > 0) // what is left was queued after what went
      st.backlog_since = std::chrono::steady_clock::now();
    st.updates_sent += static_cast<std::int64_t>(b.updates.size());
    ++st.in_flight;
    auto done = [self, cfg, cache] {
      --self->state.in_flight;
      pump(self, cfg, cache);
    };
    self->request(cache, caf::infinite, std::move(b))
        .then([done](std::uint64_t) { done(); },
              [done](caf::error &) { done(); });
  }
}

// Sends the whole backlog now, whatever is in flight (atom::flush): its
// batches are in the cache's mailbox before the flush is answered. Answers
// the updates sent.
std::uint64_t send_all(self_ptr self, const live_events_config &cfg,
                       const cache_actor &cache) {
  auto &st = self->state;
  std::uint64_t sent = 0;
  while (!st.backlog.empty()) {
    update_batch b;
    b.host = cfg.host;
    b.updates = std::move(st.backlog.front());
    st.backlog.pop_front();
    st.backlog_size -= b.updates.size();
    sent += b.updates.size();
    st.updates_sent += static_cast<std::int64_t>(b.updates.size());
    ++st.in_flight;
    auto done = [self, cfg, cache] {
      --self->state.in_flight;
      pump(self, cfg, cache);
    };
    self->request(cache, caf::infinite, std::move(b))
        .then([done](std::uint64_t) { done(); },
              [done](caf::error &) { done(); });
  }
  return sent;
}

// How long a turn may wait for events: poll_ms, or less while batches wait
// to be sent (1 ms while the cache has max_in_flight batches: its answers
// are taken between turns).
int turn_wait(const live_events_state &st, const live_events_config &cfg) {
  if (st.backlog.empty())
    return cfg.poll_ms;
  using namespace std::chrono;
  auto left =
      duration_cast<milliseconds>(st.backlog_since + milliseconds(cfg.flush_ms)
                                  - steady_clock::now())
          .count()
      + 1;
  return st.in_flight >= cfg.max_in_flight
             ? 1
             : static_cast<int>(std::clamp<long long>(left, 1, cfg.poll_ms));
}

// One turn of the eBPF source: waits at most wait_ms for events, takes
// every event the ring buffer holds, queues their updates and sends what
// may go.
void ebpf_turn(self_ptr self, const live_events_config &cfg,
               const cache_actor &cache, const pslist_sync_actor &pslist,
               int wait_ms) {
  auto &st = self->state;
  st.ebpf_events.clear();
  auto status = st.ebpf->receive(st.ebpf_events, wait_ms);
  if (status == linux_proc::ebpf_source::recv_status::error) {
    ++st.receive_errors;
    spdlog::error("{}", st.ebpf->last_error());
  }
  // Lost events: the kernel found the ring buffer full.
  auto lost = st.ebpf->lost();
  if (lost > st.ebpf_lost_seen) {
    st.lost_overflows += static_cast<std::int64_t>(lost - st.ebpf_lost_seen);
    st.ebpf_lost_seen = lost;
    spdlog::warn("kernel process events lost (eBPF ring buffer full): "
                 "syncing from /proc");
    heal(self, pslist);
  }
  st.events_seen += static_cast<std::int64_t>(st.ebpf_events.size());
  std::vector<process_update> ups;
  if (!st.ebpf_events.empty())
    st.ebpf_translator.translate(st.ebpf_events, *st.reader, ups,
                                 &st.ebpf_counts);
  enqueue(self, cfg, pslist, std::move(ups));
  pump(self, cfg, cache);
}

// One turn of the proc connector: waits at most wait_ms for events, decodes
// what arrived (and the held exits), queues the updates, sends what may go.
void connector_turn(self_ptr self, const live_events_config &cfg,
                    const cache_actor &cache, const pslist_sync_actor &pslist,
                    int wait_ms) {
  auto &st = self->state;
  st.events.clear();
  auto status = st.connector->receive(st.events, wait_ms);
  using rs = linux_proc::proc_connector::recv_status;
  if (status == rs::overflow) {
    ++st.lost_overflows;
    spdlog::warn("kernel process events lost (receive buffer full): "
                 "syncing from /proc");
    heal(self, pslist);
  } else if (status == rs::error) {
    ++st.receive_errors;
    spdlog::error("proc connector: {}", st.connector->last_error());
  }
  st.events_seen += static_cast<std::int64_t>(st.events.size());
  std::vector<process_update> ups;
  decode(self, ups);
  enqueue(self, cfg, pslist, std::move(ups));
  pump(self, cfg, cache);
}

// The behaviour both sources share: one turn (wait briefly for events, queue
// them, send what may go, come back); other messages (answers, stats, exit)
// are handled between turns, so the actor stops within poll_ms. `turn` reads
// the source, `source_counters` are its own stats.
using turn_fn = void (*)(self_ptr, const live_events_config &,
                         const cache_actor &, const pslist_sync_actor &, int);
using counters_fn = std::vector<counter> (*)(self_ptr);

live_events_actor::behavior_type
live_behavior(self_ptr self, live_events_config cfg, cache_actor cache,
              pslist_sync_actor pslist, turn_fn turn,
              counters_fn source_counters) {
  self->state.reader.emplace(cfg.proc_root);
  self->send(self, atom::tick_v);
  return {
      [self, cfg, cache, pslist, turn](atom::tick) {
        turn(self, cfg, cache, pslist, turn_wait(self->state, cfg));
        self->send(self, atom::tick_v);
      },
      [self, cfg, cache, pslist, turn](atom::flush) -> std::uint64_t {
        ++self->state.flushes;
        turn(self, cfg, cache, pslist, 0);
        return send_all(self, cfg, cache);
      },
      [self, source_counters](atom::stats) -> stats_report {
        return {live_events_state::name, source_counters(self)};
      },
  };
}

// The eBPF source's events carry the image and the exact start, so nothing
// is held and /proc is read only for what an event could not carry.
std::int64_t i64(std::uint64_t v) {
  return static_cast<std::int64_t>(v);
}

// The counters both sources report, around the source's own (`own`), in the
// order the stats rows have always had.
std::vector<counter> live_counters(self_ptr self, bool ebpf,
                                   std::vector<counter> own,
                                   std::uint64_t malformed) {
  auto &st = self->state;
  std::vector<counter> out{{"EbpfSource", ebpf ? 1 : 0},
                           {"KernelEvents", st.events_seen},
                           {"LiveUpdates", st.updates_sent},
                           {"LostEvents", st.lost_overflows},
                           {"DroppedLiveUpdates", st.dropped_updates},
                           {"HealingSyncs", st.heal_syncs}};
  out.insert(out.end(), own.begin(), own.end());
  out.insert(out.end(), {{"LiveBacklog", i64(st.backlog_size)},
                         {"MaxLiveBacklog", st.max_backlog_seen},
                         {"LiveFlushes", st.flushes},
                         {"MalformedKernelMessages", i64(malformed)},
                         {"ConnectorErrors", st.receive_errors},
                         {"MailboxLiveEvents", i64(self->mailbox().size())}});
  return out;
}

std::vector<counter> ebpf_counters(self_ptr self) {
  auto &st = self->state;
  auto &c = st.ebpf_counts;
  return live_counters(
      self, true,
      {{"EbpfProcReads", i64(c.proc_reads)},
       {"EbpfExeUnread", i64(c.exe_unread)},
       {"EbpfArgsTruncated", i64(c.args_truncated)},
       {"EbpfArgsUnread", i64(c.args_unread)},
       {"UnreadExecImages", i64(c.unread_images)},
       {"CommChanges", i64(c.comm_changes)},
       {"IdentitiesDropped", i64(c.identities_dropped)},
       {"KnownProcesses", i64(st.ebpf_translator.known_size())}},
      st.ebpf->malformed());
}

std::vector<counter> connector_counters(self_ptr self) {
  auto &st = self->state;
  auto &c = st.counts;
  return live_counters(self, false,
                       {{"ThreadExecExits", i64(c.thread_exec_exits)},
                        {"ForeignProcReads", i64(c.foreign_reads)},
                        {"InheritedImages", i64(c.inherited_images)},
                        {"UnreadExecImages", i64(c.unread_images)},
                        {"CommChanges", i64(c.comm_changes)},
                        {"IdentitiesDropped", i64(c.identities_dropped)},
                        {"KnownProcesses", i64(st.translator.known_size())}},
                       st.connector->stats().malformed);
}

} // namespace

live_events_actor::behavior_type
live_events_ebpf(self_ptr self, live_events_config cfg,
                 std::shared_ptr<linux_proc::ebpf_source> source,
                 cache_actor cache, pslist_sync_actor pslist) {
  self->state.ebpf = std::move(source);
  return live_behavior(self, std::move(cfg), std::move(cache),
                       std::move(pslist), ebpf_turn, ebpf_counters);
}

live_events_actor::behavior_type
live_events(self_ptr self, live_events_config cfg,
            std::shared_ptr<linux_proc::proc_connector> connector,
            cache_actor cache, pslist_sync_actor pslist) {
  self->state.connector = std::move(connector);
  return live_behavior(self, std::move(cfg), std::move(cache),
                       std::move(pslist), connector_turn, connector_counters);
}

live_events_actor
spawn_live_events(caf::actor_system &sys, const live_events_config &cfg,
                  std::shared_ptr<linux_proc::proc_connector> connector,
                  cache_actor cache, pslist_sync_actor pslist) {
  return sys.spawn<caf::detached>(live_events, cfg, std::move(connector),
                                  std::move(cache), std::move(pslist));
}

live_events_actor
spawn_live_events(caf::actor_system &sys, const live_events_config &cfg,
                  std::shared_ptr<linux_proc::ebpf_source> source,
                  cache_actor cache, pslist_sync_actor pslist) {
  return sys.spawn<caf::detached>(live_events_ebpf, cfg, std::move(source),
                                  std::move(cache), std::move(pslist));
}

} // namespace proctrack
