// The forwarder's protocol as plain C++ (issue 16 item 2, docs/fleet.md):
// which fleet_batch messages a host sends its collector, numbered how, kept
// how long, dropped when, and when the collector must be sent a snapshot
// instead. The forwarder actor (forwarder.cpp) owns one and does the I/O:
// connecting, the courier, timers and the requests whose answers it passes
// back here. No CAF include: tests drive it step by step.
//
// The protocol: per session (a random 64-bit number per agent run) the
// messages are numbered 1, 2, ... (`seq`). The collector acks a seq to mean
// "everything up to it is applied"; on (re)connect its hello answer names
// the next seq it wants (0: none of this session). A snapshot (the cache's
// table in chunks of `chunk` processes, the first marked `snapshot`)
// starts the mirror over; every update batch after it is sent in chunks of
// at most `chunk` updates, at most `max_in_flight` messages unacked.
#pragma once

#include "actors/cache/process_table.hpp"
#include "actors/common/defaults.hpp"
#include "messages/types.hpp"

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <vector>

namespace proctrack {

/// What the protocol needs of the forwarder's config (forwarder_config).
struct forward_queue_config {
  std::string host; ///< agent.host-name: tags every message
  std::size_t buffer =
      defaults::forward_buffer; ///< forward.buffer: updates kept
  std::size_t chunk =
      defaults::forward_chunk; ///< updates (or processes) a message
  std::size_t max_in_flight =
      defaults::forward_max_in_flight; ///< unacked messages
  /// The host's table limits, sent with each message so the collector's
  /// mirror evicts exactly as the host does (max_size, max_children,
  /// max_bytes, max_expiry, max_pending_exits).
  table_config table;
};

/// What became of an update batch handed to forward_queue::offer.
enum class offer_result {
  ignored,    ///< nothing to send in it
  queued,     ///< queued for the collector
  superseded, ///< a snapshot is on its way and will contain it
  dropped,    ///< the buffer was full; the collector gets a snapshot later
  first_drop, ///< dropped, and the first since the last snapshot
};

/// How the collector was lost (forward_queue::lost).
enum class collector_loss {
  down,    ///< its actor or connection went away
  timeout, ///< it did not answer within forward.timeout
  refused, ///< it answered a message with an error
};

/// The forwarder's counters (stats: ForwardUpdatesIn ... ForwardRefused).
struct forward_counters {
  std::int64_t updates_in = 0, updates_acked = 0, dropped = 0, superseded = 0,
               snapshots = 0, connects = 0, connect_failures = 0,
               disconnects = 0, refused = 0;
};

/// The messages to a collector: queued, in flight, acked. Not thread-safe
/// (one actor owns it).
class forward_queue {
public:
  /// `session` must not be 0 (0 means "no session" in a hello answer).
  forward_queue(forward_queue_config cfg, std::uint64_t session);

  const forward_queue_config &config() const {
    return cfg_;
  }
  std::uint64_t session() const {
    return session_;
  }
  /// Bumped whenever the messages in flight stop counting (a disconnect,
  /// a snapshot started): an ack or error of an older epoch is stale.
  std::uint64_t epoch() const {
    return epoch_;
  }
  /// The seq the next new message gets.
  std::uint64_t next_seq() const {
    return next_seq_;
  }

  /// Takes the updates the cache applied, in chunks; small batches fill the
  /// last unsent message first (only max_in_flight messages travel per
  /// round trip, so one message per small batch would make a busy host
  /// outrun its collector). When the stream updates kept would exceed
  /// `buffer`, the batch is dropped and a snapshot is due (`resync()`).
  offer_result offer(update_batch &&b);

  /// A snapshot is due: the stream lost updates, or the collector refused a
  /// message. The forwarder asks the cache for one (begin_snapshot).
  bool resync() const {
    return resync_;
  }
  /// Asked the cache for a snapshot and not yet queued it.
  bool awaiting_snapshot() const {
    return awaiting_snapshot_;
  }

  /// Forgets every queued message (counted as superseded: the snapshot
  /// holds their effect) before the forwarder asks the cache for a
  /// snapshot; new epoch.
  void begin_snapshot();
  /// Queues the cache's answer to the snapshot request in chunks, the first
  /// marked `snapshot` and carrying the clock, the pending exits and
  /// `stats` (the host's last counters).
  void queue_snapshot(table_state &&s);

  /// The next message to send, now counted as in flight; nullptr when
  /// nothing may go (all sent, max_in_flight reached, or a snapshot is
  /// due or awaited).
  const fleet_batch *next_to_send();
  /// The collector applied every message up to `seq`: they are done.
  void acked(std::uint64_t seq);

  /// The collector was lost. After a timeout or a refusal a snapshot is
  /// due (what it applied is unknown, or it rejected our stream); after
  /// `down` the stream may resume where its hello answer says. Messages in
  /// flight are to be sent again; new epoch.
  void lost(collector_loss why);
  /// The collector answered the hello with `next`, the seq it wants next
  /// (0: it knows nothing of this session). True when the stream resumes
  /// there (messages before it are dropped as done); false when a snapshot
  /// is due first (call begin_snapshot). Either way nothing is in flight.
  bool resume_at(std::uint64_t next);

  /// The host's counters to send: replaces those of an unsent stats-only
  /// message, or queues one (not while a snapshot is due: it carries them).
  void queue_stats(std::vector<counter> stats);
  /// As queue_stats, but always a message of its own (a flush's last).
  void queue_final_stats(std::vector<counter> stats);

  /// Whether a paced source that will send `n` more updates may go on:
  /// nobody to wait for (`connected` false), or nothing waits, or the `n`
  /// fit in the buffer and what waits is at most two windows of messages
  /// in flight (enough to keep the connection busy).
  bool has_room(bool connected, std::uint64_t n) const;
  /// Everything queued is acked and no snapshot is due or awaited.
  bool delivered() const;

  forward_counters counters;

  /// The stats: the counters, ForwardUndelivered (what messages queued
  /// carry) and ForwardDelivered (1 or 0).
  std::vector<counter> report() const;

private:
  fleet_batch make_batch(bool snapshot);

  forward_queue_config cfg_;
  std::uint64_t session_;
  std::uint64_t next_seq_ = 1;
  std::uint64_t epoch_ = 0;
  std::deque<fleet_batch> pending_; ///< unacked messages, by seq
  std::size_t sent_ = 0;            ///< the first `sent_` are in flight
  std::size_t pending_updates_ = 0; ///< stream updates in `pending_`
  bool awaiting_snapshot_ = false;
  bool resync_ = false;
  std::vector<counter> last_stats_;
};

} // namespace proctrack
