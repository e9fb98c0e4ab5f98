#include "actors/cache/subscribers.hpp"

#include <caf/send.hpp>

#include <algorithm>

namespace proctrack {

namespace {

// Adds `sink` once and monitors it: one monitor per entry, so one down
// message drops it.
template <class Handle>
void add_once(caf::local_actor *self, std::vector<Handle> &sinks,
              const Handle &sink) {
  if (!sink || std::find(sinks.begin(), sinks.end(), sink) != sinks.end())
    return;
  sinks.push_back(sink);
  self->monitor(sink);
}

template <class Handle>
bool drop_from(std::vector<Handle> &sinks, const caf::actor_addr &who) {
  auto gone = std::remove_if(sinks.begin(), sinks.end(),
                             [&](auto &s) { return s.address() == who; });
  bool found = gone != sinks.end();
  sinks.erase(gone, sinks.end());
  return found;
}

} // namespace

void subscribers::add_text(caf::local_actor *self,
                           const update_sink_actor &sink) {
  add_once(self, text_, sink);
}

void subscribers::add_batch(caf::local_actor *self,
                            const update_batch_sink_actor &sink) {
  add_once(self, batch_, sink);
}

// unsafe_send_as is what the owner's own send() does (its handle and
// execution context as the sender) without the compile-time check of the
// owner's interface, which this class does not know; the sinks' handle
// types fix what each list may be sent.
void subscribers::send_text(caf::local_actor *self,
                            const std::string &chunk) const {
  for (auto &s : text_)
    caf::unsafe_send_as(self, s, chunk);
}

void subscribers::send_batch(caf::local_actor *self, update_batch &&b) const {
  for (std::size_t i = 0; i + 1 < batch_.size(); ++i)
    caf::unsafe_send_as(self, batch_[i], b);
  if (!batch_.empty())
    caf::unsafe_send_as(self, batch_.back(), std::move(b));
}

void subscribers::wait_for_whole(caf::typed_response_promise<table_state> p,
                                 update_batch_sink_actor sink) {
  waiters_.emplace_back(std::move(p), std::move(sink));
}

void subscribers::answer_waiters(caf::local_actor *self,
                                 const std::function<table_state()> &state) {
  auto waiting = std::move(waiters_);
  waiters_.clear();
  for (auto &[p, sink] : waiting) {
    add_batch(self, sink);
    p.deliver(state());
  }
}

bool subscribers::drop(const caf::actor_addr &who) {
  bool text = drop_from(text_, who);
  bool batch = drop_from(batch_, who);
  return text || batch;
}

} // namespace proctrack
