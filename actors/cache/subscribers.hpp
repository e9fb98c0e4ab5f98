// The cache's subscribers: the sinks of its output stream (JSON lines,
// tracker.also-forward-updates), its typed sinks (every batch as applied:
// the fleet forwarder, embedders) and the snapshot requests waiting for a
// listing in parts to be whole. The cache owns one and calls it; it holds
// handles and sends through the cache, and has no behavior of its own.
//
// A subscriber that terminates is dropped: each one is monitored when it
// is added, and the cache's down handler calls drop(). A long-running agent
// whose sinks come and go (embedders, forwarders restarted) keeps only the
// live ones (`Subscribers` in the cache's stats report).
#pragma once

#include "messages/actors.hpp"

#include <caf/actor_addr.hpp>
#include <caf/local_actor.hpp>
#include <caf/typed_response_promise.hpp>

#include <cstddef>
#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace proctrack {

class subscribers {
public:
  /// Adds a sink of the output stream, once: subscribing again only takes
  /// a new sync row (the caller's answer), so the sink never receives a row
  /// twice (a stream read back would count every start and exit twice).
  /// A null sink is ignored (it asks only for the sync row). `self` (the
  /// owner) monitors a new sink; its down handler calls drop().
  void add_text(caf::local_actor *self, const update_sink_actor &sink);
  /// Adds a typed sink, once (asking again only takes a new snapshot). A
  /// null sink is ignored. Monitored as add_text's.
  void add_batch(caf::local_actor *self, const update_batch_sink_actor &sink);

  bool has_text_sinks() const {
    return !text_.empty();
  }
  /// False: nobody listens, and the owner need not keep the applied batch.
  bool has_batch_sinks() const {
    return !batch_.empty();
  }
  /// Sinks now, text and typed (a sink of both counts twice).
  std::size_t size() const {
    return text_.size() + batch_.size();
  }

  /// Sends one or more JSON lines (each ending in '\n', or a listing in
  /// parts without it) to every text sink, as `self`.
  void send_text(caf::local_actor *self, const std::string &chunk) const;
  /// Sends a batch to every typed sink, in the order they subscribed, as
  /// `self`. The last one gets the batch itself, the others a copy: a batch
  /// of Sysmon-sized updates is worth not copying once more.
  void send_batch(caf::local_actor *self, update_batch &&b) const;

  /// Keeps a snapshot request until the table's listing in parts is whole
  /// (a mirror never starts from half a sync).
  void wait_for_whole(caf::typed_response_promise<table_state> p,
                      update_batch_sink_actor sink);
  bool has_waiters() const {
    return !waiters_.empty();
  }
  /// Answers every waiting request with `state()` (called once each, in
  /// order) and adds its sink (add_batch) first, so the sink gets every
  /// batch after the state it was answered.
  void answer_waiters(caf::local_actor *self,
                      const std::function<table_state()> &state);

  /// Forgets every sink whose address is `who` (a down message's source);
  /// true when there was one.
  bool drop(const caf::actor_addr &who);

private:
  std::vector<update_sink_actor> text_;
  std::vector<update_batch_sink_actor> batch_;
  std::vector<std::pair<caf::typed_response_promise<table_state>,
                        update_batch_sink_actor>>
      waiters_;
};

} // namespace proctrack
