// The forwarder's protocol without actors (actors/forward/forward_queue.hpp):
// what a host sends its collector, step by step, as the forwarder drives it.
#include <boost/test/unit_test.hpp>

#include "actors/forward/forward_queue.hpp"

#include <map>
#include <ostream>
#include <string>
#include <vector>

using namespace proctrack;

namespace proctrack {
std::ostream &operator<<(std::ostream &os, offer_result r) {
  return os << static_cast<int>(r);
}
} // namespace proctrack

namespace {

// A message sent: its seq and how many updates or processes it carries.
struct sent_msg {
  std::uint64_t seq;
  std::size_t n;
  bool operator==(const sent_msg &o) const {
    return seq == o.seq && n == o.n;
  }
  // How a failed check prints one (a hidden friend: no warning when no
  // check needs it).
  friend std::ostream &operator<<(std::ostream &os, const sent_msg &m) {
    return os << "{" << m.seq << ", " << m.n << "}";
  }
};
using seqs = std::vector<sent_msg>;

update_batch updates(std::size_t n, int first_pid = 100) {
  update_batch b;
  for (std::size_t i = 0; i < n; ++i) {
    process_update u;
    u.kind = update_kind::start;
    u.process.pid = std::to_string(first_pid + static_cast<int>(i));
    u.process.ppid = "4";
    u.process.start_time = 1609459200 * hns_per_second;
    b.updates.push_back(std::move(u));
  }
  return b;
}

table_state table(std::size_t processes) {
  table_state s;
  s.now = 1609459200 * hns_per_second;
  for (std::size_t i = 0; i < processes; ++i) {
    process_state p;
    p.id = std::to_string(1000 + i) + "-1609459200";
    s.processes.push_back(std::move(p));
  }
  return s;
}

forward_queue_config small(std::size_t chunk, std::size_t in_flight,
                           std::size_t buffer = 100000) {
  forward_queue_config c;
  c.host = "h1";
  c.chunk = chunk;
  c.max_in_flight = in_flight;
  c.buffer = buffer;
  return c;
}

// Sends everything that may go; the seqs sent, with their update counts.
seqs send_all(forward_queue &q) {
  seqs out;
  while (auto *b = q.next_to_send())
    out.push_back({b->seq, b->updates.size() + b->state.processes.size()});
  return out;
}

std::map<std::string, std::int64_t> stats(const forward_queue &q) {
  std::map<std::string, std::int64_t> m;
  for (auto &c : q.report())
    m[c.name] = c.value;
  return m;
}

// A started queue: the first snapshot (an empty table) queued and acked.
forward_queue started(forward_queue_config c) {
  forward_queue q(std::move(c), 77);
  q.begin_snapshot();
  q.queue_snapshot(table(0));
  auto sent = send_all(q);
  BOOST_REQUIRE_EQUAL(sent.size(), 1u);
  q.acked(sent.back().seq);
  return q;
}

} // namespace

BOOST_AUTO_TEST_SUITE(forward_queue_test)

// A snapshot goes in chunks of `chunk` processes, numbered from 1, the
// first marked and tagged with the host, session and table limits.
BOOST_AUTO_TEST_CASE(a_snapshot_goes_in_numbered_chunks) {
  auto c = small(1024, 8);
  c.table.max_expiry = 0; // expiry off travels as -1
  forward_queue q(c, 77);
  q.begin_snapshot();
  BOOST_TEST(q.next_to_send() == nullptr); // none until the cache answers
  q.queue_snapshot(table(2500));
  const fleet_batch *first = q.next_to_send();
  BOOST_REQUIRE(first);
  BOOST_TEST(first->seq == 1u);
  BOOST_TEST(first->snapshot);
  BOOST_TEST(first->host == "h1");
  BOOST_TEST(first->session == 77u);
  BOOST_TEST(first->max_expiry == -1);
  BOOST_TEST(first->state.now == 1609459200 * hns_per_second);
  BOOST_TEST(first->state.processes.size() == 1024u);
  BOOST_TEST(send_all(q) == (seqs{{2, 1024}, {3, 452}}));
  BOOST_TEST(stats(q).at("ForwardSnapshots") == 1);
  BOOST_TEST(stats(q).at("ForwardUndelivered") == 2500);
  q.acked(3);
  BOOST_TEST(stats(q).at("ForwardUpdatesAcked") == 2500);
  BOOST_TEST(q.delivered());
}

// At most max_in_flight unacked messages; an ack of seq N frees every
// message up to N and lets the next ones go.
BOOST_AUTO_TEST_CASE(at_most_max_in_flight_messages_are_unacked) {
  auto q = started(small(10, 2));
  q.offer(updates(35));
  BOOST_TEST(send_all(q) == (seqs{{2, 10}, {3, 10}}));
  BOOST_TEST(send_all(q).empty());
  q.acked(2);
  BOOST_TEST(send_all(q) == (seqs{{4, 10}}));
  q.acked(4);
  BOOST_TEST(send_all(q) == (seqs{{5, 5}}));
  q.acked(5);
  BOOST_TEST(stats(q).at("ForwardUpdatesIn") == 35);
  BOOST_TEST(stats(q).at("ForwardUpdatesAcked") == 35);
  BOOST_TEST(q.delivered());
}

// Small batches fill the last unsent message, never one in flight, and
// never past `chunk`; enrichments ride with the last updates and close
// the message.
BOOST_AUTO_TEST_CASE(small_batches_fill_the_last_unsent_message) {
  auto q = started(small(4, 1));
  q.offer(updates(1, 100));
  BOOST_TEST(send_all(q) == (seqs{{2, 1}})); // in flight: not grown
  q.offer(updates(2, 200));
  q.offer(updates(3, 300)); // 2 fill seq 3 to 4, 1 starts seq 4
  auto e = updates(1, 400);
  e.enrichments.push_back({});
  q.offer(std::move(e)); // joins seq 4 and closes it
  q.offer(updates(1, 500));
  q.acked(2);
  BOOST_TEST(send_all(q) == (seqs{{3, 4}}));
  q.acked(3);
  const fleet_batch *b = q.next_to_send();
  BOOST_REQUIRE(b);
  BOOST_TEST(b->seq == 4u);
  BOOST_TEST(b->updates.size() == 2u);
  BOOST_TEST(b->enrichments.size() == 1u);
  q.acked(4);
  BOOST_TEST(send_all(q) == (seqs{{5, 1}}));
}

// The buffer bounds what is kept; past it the batch is dropped (the first
// drop says so), a snapshot is due, and nothing more is sent until the
// snapshot is queued: what was queued is superseded by it.
BOOST_AUTO_TEST_CASE(a_full_buffer_drops_and_asks_for_a_snapshot) {
  auto q = started(small(10, 1, 25));
  BOOST_TEST(q.offer(updates(20)) == offer_result::queued);
  BOOST_TEST(q.offer(updates(6)) == offer_result::first_drop);
  BOOST_TEST(q.offer(updates(1)) == offer_result::dropped);
  BOOST_TEST(q.resync());
  BOOST_TEST(q.next_to_send() == nullptr);
  BOOST_TEST(stats(q).at("ForwardDropped") == 7);
  BOOST_TEST(!q.delivered());
  auto epoch = q.epoch();
  q.begin_snapshot();
  BOOST_TEST(q.epoch() != epoch); // acks of the old messages are stale
  BOOST_TEST(stats(q).at("ForwardSuperseded") == 20);
  // Batches that arrive before the cache answers are in its snapshot.
  BOOST_TEST(q.offer(updates(3)) == offer_result::superseded);
  BOOST_TEST(stats(q).at("ForwardSuperseded") == 23);
  q.queue_snapshot(table(3));
  const fleet_batch *b = q.next_to_send();
  BOOST_REQUIRE(b);
  BOOST_TEST(b->snapshot);
  BOOST_TEST(b->seq == 4u); // seqs 2 and 3 were never acked
  BOOST_TEST(!q.resync());
}

// A collector that went away and comes back resumes where its hello
// answer says, when that is within what is kept: what it already has is
// dropped, the rest sent again.
BOOST_AUTO_TEST_CASE(a_reconnect_resumes_where_the_collector_is) {
  auto q = started(small(10, 4));
  q.offer(updates(40));
  BOOST_TEST(send_all(q).size() == 4u); // seqs 2..5
  q.acked(2);
  q.lost(collector_loss::down);
  BOOST_TEST(!q.resync());
  BOOST_TEST(stats(q).at("ForwardDisconnects") == 1);
  BOOST_TEST(stats(q).at("ForwardRefused") == 0);
  BOOST_TEST(q.resume_at(4)); // it applied 3 before it went
  BOOST_TEST(send_all(q) == (seqs{{4, 10}, {5, 10}}));
}

// A hello answer outside what is kept (a restarted collector answers 0)
// needs a snapshot; so does a refusal or a timeout.
BOOST_AUTO_TEST_CASE(a_collector_that_lost_the_stream_gets_a_snapshot) {
  {
    auto q = started(small(10, 4));
    q.offer(updates(20));
    send_all(q);
    q.lost(collector_loss::down);
    BOOST_TEST(!q.resume_at(0));
    BOOST_TEST(!q.resume_at(99)); // past what was ever sent
  }
  {
    auto q = started(small(10, 4));
    q.offer(updates(20));
    send_all(q);
    q.lost(collector_loss::refused);
    BOOST_TEST(q.resync());
    BOOST_TEST(stats(q).at("ForwardRefused") == 1);
    BOOST_TEST(!q.resume_at(2));
  }
  {
    auto q = started(small(10, 4));
    q.lost(collector_loss::timeout);
    BOOST_TEST(q.resync());
    BOOST_TEST(stats(q).at("ForwardRefused") == 0);
  }
}

// Paced sources wait while more than two windows of messages are queued,
// or when their batch would not fit; never when no collector is connected.
BOOST_AUTO_TEST_CASE(pacing_waits_for_room) {
  auto q = started(small(10, 2, 100));
  BOOST_TEST(q.has_room(true, 1000)); // nothing queued
  q.offer(updates(41));               // over 2 * 10 * 2
  BOOST_TEST(!q.has_room(true, 1));
  BOOST_TEST(q.has_room(false, 1));
  send_all(q);
  q.acked(3); // 21 left
  BOOST_TEST(!q.has_room(true, 80));
  BOOST_TEST(q.has_room(true, 79));
}

// Only the latest stats travel: a tick replaces the stats of an unsent
// stats-only message; a flush's stats are a message of their own; a
// snapshot carries the last ones.
BOOST_AUTO_TEST_CASE(only_the_latest_stats_travel) {
  auto q = started(small(10, 1));
  q.offer(updates(1));
  q.queue_stats({{"InputEvents", 1}});
  q.queue_stats({{"InputEvents", 2}});
  const fleet_batch *b = q.next_to_send(); // the update
  BOOST_REQUIRE(b);
  BOOST_TEST(b->updates.size() == 1u);
  q.acked(b->seq);
  b = q.next_to_send();
  BOOST_REQUIRE(b);
  BOOST_TEST(b->updates.empty());
  BOOST_REQUIRE_EQUAL(b->stats.size(), 1u);
  BOOST_TEST(b->stats[0].value == 2);
  q.queue_final_stats({{"InputEvents", 3}});
  q.acked(b->seq);
  b = q.next_to_send();
  BOOST_REQUIRE(b);
  BOOST_TEST(b->stats[0].value == 3);
  q.begin_snapshot();
  q.queue_snapshot(table(1));
  b = q.next_to_send();
  BOOST_REQUIRE(b);
  BOOST_TEST(b->snapshot);
  BOOST_REQUIRE_EQUAL(b->stats.size(), 1u);
  BOOST_TEST(b->stats[0].value == 3);
}

BOOST_AUTO_TEST_SUITE_END()
