#include "actors/forward/forward_queue.hpp"

#include <algorithm>
#include <iterator>
#include <utility>

namespace proctrack {

namespace {

// What a message carries: its updates, the processes of a snapshot chunk
// and its enrichments.
std::size_t weight(const fleet_batch &b) {
  return b.updates.size() + b.state.processes.size() + b.enrichments.size();
}

// What a message counts against forward.buffer: its stream updates. A
// snapshot is not counted: it is one copy of the table, bounded by
// tracker.max-size, and counting it would make every table larger than
// the buffer overflow it again as soon as the next update arrives, so a
// busy host would send nothing but snapshots.
std::size_t buffered(const fleet_batch &b) {
  return b.updates.size() + b.enrichments.size();
}

} // namespace

forward_queue::forward_queue(forward_queue_config cfg, std::uint64_t session)
    : cfg_(std::move(cfg)), session_(session) {}

fleet_batch forward_queue::make_batch(bool snapshot) {
  fleet_batch b;
  b.host = cfg_.host;
  b.session = session_;
  b.seq = next_seq_++;
  b.snapshot = snapshot;
  auto &t = cfg_.table;
  b.max_size = t.max_size;
  b.max_children = t.max_children;
  b.max_bytes = t.max_bytes;
  // 0 in a batch means "not said" (the collector's own); expiry off (a
  // replay's default) travels as -1 so the mirror keeps all too.
  b.max_expiry = t.max_expiry > 0 ? t.max_expiry : -1;
  b.max_pending_exits = t.max_pending_exits;
  return b;
}

offer_result forward_queue::offer(update_batch &&b) {
  auto n = b.updates.size() + b.enrichments.size();
  if (n == 0 && b.expire_at == unknown_time)
    return offer_result::ignored;
  counters.updates_in += static_cast<std::int64_t>(n);
  if (awaiting_snapshot_) {
    counters.superseded += static_cast<std::int64_t>(n); // in the snapshot
    return offer_result::superseded;
  }
  if (resync_ || pending_updates_ + n > cfg_.buffer) {
    // The buffer is full (collector away or slow): drop, and make the
    // collector exact again with a snapshot once it is back.
    counters.dropped += static_cast<std::int64_t>(n);
    bool first = !resync_;
    resync_ = true;
    return first ? offer_result::first_drop : offer_result::dropped;
  }
  // Updates in chunks; the enrichments and the expiry ride with the last
  // chunk, since they apply after the updates.
  auto &u = b.updates;
  std::size_t i = 0;
  // Only a message with nothing that applies after its updates can grow.
  if (pending_.size() > sent_) {
    auto &last = pending_.back();
    if (!last.snapshot && last.state.processes.empty()
        && last.enrichments.empty() && last.expire_at == unknown_time
        && last.stats.empty() && last.updates.size() < cfg_.chunk) {
      i = std::min(u.size(), cfg_.chunk - last.updates.size());
      last.updates.insert(last.updates.end(),
                          std::make_move_iterator(u.begin()),
                          std::make_move_iterator(u.begin() + i));
      pending_updates_ += i;
      if (i == u.size()) {
        pending_updates_ += b.enrichments.size();
        last.enrichments = std::move(b.enrichments);
        last.expire_at = b.expire_at;
        return offer_result::queued;
      }
    }
  }
  do {
    auto fb = make_batch(false);
    auto end = std::min(u.size(), i + cfg_.chunk);
    fb.updates.assign(std::make_move_iterator(u.begin() + i),
                      std::make_move_iterator(u.begin() + end));
    if (end == u.size()) {
      fb.enrichments = std::move(b.enrichments);
      fb.expire_at = b.expire_at;
    }
    pending_updates_ += end - i + fb.enrichments.size();
    pending_.push_back(std::move(fb));
    i = end;
  } while (i < u.size());
  return offer_result::queued;
}

void forward_queue::begin_snapshot() {
  awaiting_snapshot_ = true;
  resync_ = false;
  counters.superseded += static_cast<std::int64_t>(pending_updates_);
  pending_.clear();
  pending_updates_ = 0;
  sent_ = 0;
  ++epoch_;
}

void forward_queue::queue_snapshot(table_state &&s) {
  awaiting_snapshot_ = false;
  ++counters.snapshots;
  auto &procs = s.processes;
  std::size_t i = 0;
  do {
    auto fb = make_batch(i == 0);
    auto end = std::min(procs.size(), i + cfg_.chunk);
    fb.state.processes.assign(std::make_move_iterator(procs.begin() + i),
                              std::make_move_iterator(procs.begin() + end));
    if (fb.snapshot) {
      fb.state.now = s.now;
      fb.state.last_expiry_run = s.last_expiry_run;
      fb.state.clock_candidate = s.clock_candidate;
      fb.state.pending_exits = std::move(s.pending_exits);
      fb.stats = last_stats_;
    }
    pending_.push_back(std::move(fb));
    i = end;
  } while (i < procs.size());
}

const fleet_batch *forward_queue::next_to_send() {
  if (resync_ || awaiting_snapshot_ || sent_ >= pending_.size()
      || sent_ >= cfg_.max_in_flight)
    return nullptr;
  return &pending_[sent_++];
}

void forward_queue::acked(std::uint64_t seq) {
  while (!pending_.empty() && pending_.front().seq <= seq) {
    counters.updates_acked +=
        static_cast<std::int64_t>(weight(pending_.front()));
    pending_updates_ -= std::min(pending_updates_, buffered(pending_.front()));
    pending_.pop_front();
    if (sent_ > 0)
      --sent_;
  }
}

void forward_queue::lost(collector_loss why) {
  if (why == collector_loss::refused)
    ++counters.refused;
  if (why != collector_loss::down)
    resync_ = true;
  ++counters.disconnects;
  sent_ = 0;
  ++epoch_;
}

bool forward_queue::resume_at(std::uint64_t next) {
  bool ok = false;
  if (!resync_ && !awaiting_snapshot_) {
    auto front = pending_.empty() ? next_seq_ : pending_.front().seq;
    if (next != 0 && next >= front && next <= next_seq_) {
      while (!pending_.empty() && pending_.front().seq < next) {
        pending_updates_ -=
            std::min(pending_updates_, buffered(pending_.front()));
        pending_.pop_front();
      }
      ok = true;
    } else if (!pending_.empty() && pending_.front().snapshot) {
      ok = true; // it starts over with the snapshot queued
    }
  } else if (awaiting_snapshot_) {
    ok = true; // one is on its way
  }
  sent_ = 0;
  return ok;
}

void forward_queue::queue_stats(std::vector<counter> stats) {
  last_stats_ = std::move(stats);
  if (resync_ || awaiting_snapshot_)
    return; // the next snapshot carries them
  // Only the latest stats matter: replace unsent ones.
  if (pending_.size() > sent_ && pending_.back().updates.empty()
      && !pending_.back().snapshot) {
    pending_.back().stats = last_stats_;
  } else {
    auto fb = make_batch(false);
    fb.stats = last_stats_;
    pending_.push_back(std::move(fb));
  }
}

void forward_queue::queue_final_stats(std::vector<counter> stats) {
  last_stats_ = std::move(stats);
  if (resync_ || awaiting_snapshot_)
    return;
  auto fb = make_batch(false);
  fb.stats = last_stats_;
  pending_.push_back(std::move(fb));
}

bool forward_queue::has_room(bool connected, std::uint64_t n) const {
  auto window = 2 * cfg_.chunk * cfg_.max_in_flight;
  return !connected || pending_updates_ == 0
         || (pending_updates_ + n <= cfg_.buffer && pending_updates_ <= window);
}

bool forward_queue::delivered() const {
  return pending_.empty() && !awaiting_snapshot_ && !resync_;
}

std::vector<counter> forward_queue::report() const {
  std::int64_t undelivered = 0;
  for (auto &b : pending_)
    undelivered += static_cast<std::int64_t>(weight(b));
  return {{"ForwardUpdatesIn", counters.updates_in},
          {"ForwardUpdatesAcked", counters.updates_acked},
          {"ForwardUndelivered", undelivered},
          {"ForwardDropped", counters.dropped},
          {"ForwardSuperseded", counters.superseded},
          {"ForwardSnapshots", counters.snapshots},
          {"ForwardConnects", counters.connects},
          {"ForwardConnectFailures", counters.connect_failures},
          {"ForwardDisconnects", counters.disconnects},
          {"ForwardRefused", counters.refused},
          {"ForwardDelivered", delivered() ? 1 : 0}};
}

} // namespace proctrack
