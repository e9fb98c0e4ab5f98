// A host application that embeds proctrack (docs/embedding.md). It shows the
// whole embedding surface:
//   1. register proctrack's message types in its own actor_system_config;
//   2. spawn the tracker into its own actor system from plain settings
//      (spawn_tracker) and get typed handles back;
//   3. an actor of its own subscribes to the cache's update stream, feeds
//      updates, asks "what launched this?" and checks the batches it got;
//   4. the tracker's stats publisher writes stats rows to a sink of ours;
//   5. stop_tracker ends the tracker's actors.
// The last line is "ok" and the exit code 0 when everything matched.
#include <actors/tracker/tracker.hpp>
#include <messages/actors.hpp>

#include <caf/all.hpp>

#include <chrono>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

using namespace proctrack;

namespace {

process_update start(std::string pid, std::string ppid, timestamp secs,
                     std::string name) {
  process_update u;
  u.kind = update_kind::start;
  u.process.pid = std::move(pid);
  u.process.ppid = std::move(ppid);
  u.process.start_time = secs * hns_per_second;
  u.process.data.push_back({"Name", "\"" + name + "\""});
  return u;
}

// What the host's actor saw, read by main once it has finished.
struct observed {
  std::vector<update_batch> streamed; ///< batches from the update stream
  std::uint64_t applied = 0;          ///< updates the cache acknowledged
  std::string callchain;              ///< the answer to callchain:200
};

struct host_state {
  static inline const char *name = "embed.host";
  std::size_t expected_batches = 0;
  bool answered = false;
};

using host_actor = update_batch_sink_actor;

// The host's own actor. It is a typed update_batch_sink_actor, so it can
// subscribe to the cache's stream of applied batches; it feeds two batches
// (each a request: the answer is the backpressure), then queries the chain.
host_actor::behavior_type host(host_actor::stateful_pointer<host_state> self,
                               cache_actor cache,
                               std::shared_ptr<observed> out) {
  auto done = [self] {
    if (self->state.answered && self->state.expected_batches == 0)
      self->quit();
  };
  auto feed = [self, cache, out, done] {
    std::vector<update_batch> batches(2);
    batches[0].host = "embedded-example";
    batches[0].updates = {start("1", "0", 1609459200, "init"),
                          start("100", "1", 1609459260, "sshd")};
    batches[1].host = "embedded-example";
    batches[1].updates = {start("200", "100", 1609459320, "bash")};
    self->state.expected_batches = batches.size();
    for (auto &b : batches)
      self->request(cache, caf::infinite, std::move(b))
          .then([out](std::uint64_t n) { out->applied += n; });
    // Messages from one actor to another arrive in order: the query is
    // answered after both batches are applied.
    self->request(cache, caf::infinite, query{"callchain", "200", 10})
        .then([self, out, done](std::string &chain) {
          out->callchain = std::move(chain);
          self->state.answered = true;
          done();
        });
  };
  // Subscribe first: the answer is the snapshot of the cache so far (empty
  // here); every batch applied after it comes to us.
  self->request(cache, caf::infinite, atom::subscribe_v,
                caf::actor_cast<update_batch_sink_actor>(self))
      .then([feed](update_batch &snapshot) {
        std::cout << "subscribed; snapshot of " << snapshot.updates.size()
                  << " updates\n";
        feed();
      });
  return {
      [self, out, done](update_batch &b) {
        out->streamed.push_back(std::move(b));
        if (self->state.expected_batches > 0)
          --self->state.expected_batches;
        done();
      },
  };
}

// Receives the tracker's stats rows (JSON lines).
struct stats_rows {
  std::mutex mu;
  std::vector<std::string> rows;
};

update_sink_actor::behavior_type stats_sink(update_sink_actor::pointer,
                                            std::shared_ptr<stats_rows> out) {
  return {
      [out](const std::string &line) {
        std::lock_guard<std::mutex> lock{out->mu};
        out->rows.push_back(line);
      },
  };
}

struct config : caf::actor_system_config {
  config() {
    proctrack::add_message_types(*this);
  }
};

} // namespace

int main(int argc, char **argv) {
  config cfg;
  if (auto err = cfg.parse(argc, argv)) {
    std::cerr << "bad arguments: " << cfg.render(err) << "\n";
    return 2;
  }
  caf::actor_system sys{cfg};
  auto rows = std::make_shared<stats_rows>();
  auto sink = sys.spawn(stats_sink, rows);

  tracker_settings settings;
  settings.cache.table.max_size = 1000;
  settings.stats.emplace();
  settings.stats->config.interval = std::chrono::milliseconds(50);
  settings.stats->sink = sink;
  auto t = spawn_tracker(sys, settings);
  if (!t) {
    std::cerr << "cannot start the tracker: "
              << tracker_error_message(t.error()) << "\n";
    return 2;
  }

  auto out = std::make_shared<observed>();
  auto me = sys.spawn(host, t->cache, out);
  caf::scoped_actor self{sys};
  self->wait_for(me);
  std::cout << "applied " << out->applied << " updates\n";
  std::cout << "callchain:200 = " << out->callchain << "\n";

  // The stats publisher writes a row every interval: wait (at most 5 s) for
  // one taken after the feed.
  std::string row;
  for (int i = 0; i < 100 && row.empty(); ++i) {
    {
      std::lock_guard<std::mutex> lock{rows->mu};
      for (auto &r : rows->rows)
        if (r.find("\"Length\":3") != std::string::npos)
          row = r;
    }
    if (row.empty())
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  if (!row.empty() && row.back() == '\n')
    row.pop_back(); // each row is a JSON line
  std::cout << "stats row: " << row << "\n";

  stop_tracker(*t);
  self->wait_for(t->cache, t->stats);
  self->send_exit(sink, caf::exit_reason::user_shutdown);

  std::vector<std::string> problems;
  if (out->applied != 3)
    problems.push_back("the cache applied " + std::to_string(out->applied)
                       + " updates, not 3");
  // The stream: both batches, in order, as fed.
  if (out->streamed.size() != 2)
    problems.push_back("the update stream had "
                       + std::to_string(out->streamed.size())
                       + " batches, not 2");
  else if (out->streamed[0].updates.size() != 2
           || out->streamed[1].updates.size() != 1
           || out->streamed[1].updates[0].process.pid != "200"
           || out->streamed[0].host != "embedded-example")
    problems.push_back("the update stream's batches differ from those fed");
  // The chain must be init -> sshd -> bash.
  auto &chain = out->callchain;
  auto i = chain.find("init"), s = chain.find("sshd"), b = chain.find("bash");
  if (i == std::string::npos || s == std::string::npos || b == std::string::npos
      || !(i < s && s < b))
    problems.push_back("callchain:200 is not init -> sshd -> bash");
  if (row.find("\"update_type\":\"stats\"") == std::string::npos
      || row.find("\"Length\":3") == std::string::npos)
    problems.push_back("no stats row with the 3 cached processes");
  for (auto &p : problems)
    std::cout << "mismatch: " << p << "\n";
  std::cout << (problems.empty() ? "ok" : "unexpected answer") << "\n";
  return problems.empty() ? 0 : 1;
}
