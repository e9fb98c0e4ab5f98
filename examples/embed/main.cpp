// A host application with an actor of its own that feeds proctrack's cache
// and asks it "what launched this?". It shows the whole embedding surface:
// register our message types in your config, spawn the cache from a plain
// config struct, talk to it through its typed interface.
#include <actors/cache/cache.hpp>
#include <messages/actors.hpp>

#include <caf/all.hpp>

#include <iostream>
#include <memory>

using namespace proctrack;

namespace {

process_update start(std::string pid, std::string ppid, timestamp secs,
                     std::string name) {
  process_update u;
  u.kind = update_kind::start;
  u.process.pid = std::move(pid);
  u.process.ppid = std::move(ppid);
  u.process.start_time = secs * ns_per_second;
  u.process.data.push_back({"Name", "\"" + name + "\""});
  return u;
}

// The host's own actor: feeds three processes, then asks for the chain of
// the last one and prints it.
caf::behavior feeder(caf::event_based_actor *self, cache_actor cache,
                     std::shared_ptr<std::string> answer) {
  update_batch batch;
  batch.host = "embedded-example";
  batch.updates.push_back(start("1", "0", 1609459200, "init"));
  batch.updates.push_back(start("100", "1", 1609459260, "sshd"));
  batch.updates.push_back(start("200", "100", 1609459320, "bash"));
  self->request(cache, caf::infinite, std::move(batch))
      .then([=](std::uint64_t applied) {
        std::cout << "applied " << applied << " updates\n";
        self->request(cache, caf::infinite, query{"callchain", "200", 10})
            .then([=](const std::string &chain) {
              std::cout << "callchain:200 = " << chain << "\n";
              *answer = chain;
              self->quit();
            });
      });
  return {};
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
    std::cerr << "bad arguments\n";
    return 2;
  }
  caf::actor_system sys{cfg};
  cache_config cc;
  cc.table.max_size = 1000;
  if (auto why = cc.validate(); !why.empty()) {
    std::cerr << why << "\n";
    return 2;
  }
  auto cache = spawn_cache(sys, cc);
  auto answer = std::make_shared<std::string>();
  auto me = sys.spawn(feeder, cache, answer);
  caf::scoped_actor self{sys};
  self->wait_for(me);
  self->send_exit(cache, caf::exit_reason::user_shutdown);
  // The chain must be init -> sshd -> bash.
  auto i = answer->find("init"), s = answer->find("sshd"),
       b = answer->find("bash");
  bool ok = i != std::string::npos && s != std::string::npos
            && b != std::string::npos && i < s && s < b;
  std::cout << (ok ? "ok" : "unexpected answer") << "\n";
  return ok ? 0 : 1;
}
