#include "actors/listen_guard/listen_guard.hpp"

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <caf/io/basp/header.hpp>
#include <caf/io/basp_broker.hpp>
#include <caf/io/middleman_actor_impl.hpp>
#include <caf/io/network/default_multiplexer.hpp>
#include <caf/io/network/doorman_impl.hpp>
#include <caf/io/network/native_socket.hpp>
#include <caf/io/network/stream_impl.hpp>
#include <caf/openssl/session.hpp>
#include <caf/policy/tcp.hpp>
#include <spdlog/spdlog.h>

#include <list>
#include <mutex>
#include <sys/socket.h>
#include <unistd.h>
#include <utility>

namespace proctrack {

namespace {

using caf::io::network::native_socket;
using mpx_type = caf::io::network::default_multiplexer;
using clock_type = std::chrono::steady_clock;

// One guarded connection as the listener sees it (to pick one to evict).
class guarded_link {
public:
  virtual ~guarded_link() = default;
  /// Closes the connection from the multiplexer's thread: reads end, CAF
  /// sees the end of the stream and tells the broker as for any peer that
  /// went away.
  virtual void close_now() = 0;
  clock_type::time_point last_active = clock_type::now();
  bool closing = false;
  /// Whether a message ever came through: with TLS, proof the peer passed
  /// the handshake (SSL_read returns no data before it completed).
  bool delivered = false;
};

// What one listener's connections share. All calls come from CAF's
// multiplexer thread (the doorman, the scribes and the BASP broker run
// there); the mutex keeps it right should that change.
struct guard_state {
  listen_guard_config cfg;
  std::shared_ptr<listen_guard_stats> stats;
  std::mutex mtx;
  std::list<guarded_link *> live;
  std::atomic<std::int64_t> last_log[3] = {{0}, {0}, {0}};

  // At most one line a second per kind: a flood must not become a log flood.
  bool should_log(int kind) {
    auto now = std::chrono::duration_cast<std::chrono::seconds>(
                   clock_type::now().time_since_epoch())
                   .count();
    auto was = last_log[kind].load();
    return now != was && last_log[kind].compare_exchange_strong(was, now);
  }

  // Whether a new connection may stay; at the cap, the connection silent
  // longest goes if it was silent for cfg.idle, one that never delivered a
  // message (a TLS handshake never finished) before one that did.
  bool admit() {
    std::lock_guard<std::mutex> g{mtx};
    std::size_t open = 0;
    guarded_link *oldest = nullptr;
    for (auto *l : live)
      if (!l->closing) {
        ++open;
        if (!oldest
            || std::make_pair(l->delivered, l->last_active)
                   < std::make_pair(oldest->delivered, oldest->last_active))
          oldest = l;
      }
    if (open < cfg.max_connections)
      return true;
    if (oldest && clock_type::now() - oldest->last_active >= cfg.idle) {
      oldest->close_now();
      ++stats->evicted_idle;
      if (should_log(0))
        spdlog::warn(
            "{}: {} connections open (the cap): closed one silent for {} ms "
            "to take a new one ({} evicted so far)",
            cfg.name, open,
            std::chrono::duration_cast<std::chrono::milliseconds>(
                clock_type::now() - oldest->last_active)
                .count(),
            stats->evicted_idle.load());
      return true;
    }
    ++stats->refused_full;
    if (should_log(1))
      spdlog::warn(
          "{}: {} connections open (the cap), none silent for {} ms: new "
          "connection refused ({} refused so far)",
          cfg.name, open, cfg.idle.count(), stats->refused_full.load());
    return false;
  }
};

// The TLS policy of a stream: CAF's openssl session does the reads and
// writes (and the handshake inside them).
struct tls_policy {
  explicit tls_policy(caf::openssl::session_ptr s) : session(std::move(s)) {}
  caf::io::network::rw_state read_some(size_t &result, native_socket fd,
                                       void *buf, size_t len) {
    return session->read_some(result, fd, buf, len);
  }
  caf::io::network::rw_state write_some(size_t &result, native_socket fd,
                                        const void *buf, size_t len) {
    return session->write_some(result, fd, buf, len);
  }
  bool must_read_more(native_socket fd, size_t threshold) {
    return session->must_read_more(fd, threshold);
  }
  caf::openssl::session_ptr session;
};

// A connection (CAF scribe) that refuses a read policy announcing more
// than the limits before the stream allocates a buffer for it: the BASP
// broker calls configure_read(exactly(payload_len)) right after a header.
template <class Policy>
class guarded_scribe : public caf::io::scribe, public guarded_link {
public:
  template <class... Ts>
  guarded_scribe(mpx_type &mx, native_socket fd, std::shared_ptr<guard_state> g,
                 Ts &&...xs)
      : caf::io::scribe(caf::io::network::conn_hdl_from_socket(fd)),
        stream_(mx, fd, std::forward<Ts>(xs)...), g_(std::move(g)) {
    std::lock_guard<std::mutex> l{g_->mtx};
    g_->live.push_back(this);
    ++g_->stats->open;
  }

  ~guarded_scribe() override {
    reserve(0);
    std::lock_guard<std::mutex> l{g_->mtx};
    g_->live.remove(this);
    --g_->stats->open;
  }

  void configure_read(caf::io::receive_policy::config config) override {
    if (poisoned_)
      return;
    using flag = caf::io::receive_policy_flag;
    std::size_t want =
        config.first == flag::at_most ? 0 : config.second; // exactly, at_least
    if (want > caf::io::basp::header_size) {
      auto pending = g_->stats->pending_bytes.load() - reserved_;
      if (want > g_->cfg.max_message || pending + want > g_->cfg.max_pending) {
        ++g_->stats->refused_oversize;
        if (g_->should_log(2))
          spdlog::warn(
              "{}: a peer ({}) announced a {} byte message (limit {} per "
              "message, {} pending in all, {} pending now): connection "
              "closed ({} so far)",
              g_->cfg.name, addr(), want, g_->cfg.max_message,
              g_->cfg.max_pending, pending, g_->stats->refused_oversize.load());
        reserve(0);
        close_now();
        return; // the stream keeps reading headers: nothing allocated
      }
      reserve(want);
    } else {
      reserve(0);
    }
    stream_.configure_read(config);
    if (!launched_)
      launch();
  }

  bool consume(caf::execution_unit *ctx, const void *buf,
               size_t num_bytes) override {
    if (poisoned_) {
      // What a closed socket does: the broker is told the peer went away.
      io_failure(ctx, caf::io::network::operation::read);
      return false;
    }
    last_active = clock_type::now();
    delivered = true;
    return caf::io::scribe::consume(ctx, buf, num_bytes);
  }

  void ack_writes(bool enable) override {
    stream_.ack_writes(enable);
  }
  std::vector<char> &wr_buf() override {
    return stream_.wr_buf();
  }
  std::vector<char> &rd_buf() override {
    return stream_.rd_buf();
  }
  void graceful_shutdown() override {
    stream_.graceful_shutdown();
    detach(&stream_.backend(), false);
  }
  void flush() override {
    stream_.flush(this);
  }
  std::string addr() const override {
    auto x = caf::io::network::remote_addr_of_fd(stream_.fd());
    return x ? *x : std::string{};
  }
  uint16_t port() const override {
    auto x = caf::io::network::remote_port_of_fd(stream_.fd());
    return x ? *x : 0;
  }
  void add_to_loop() override {
    stream_.activate(this);
  }
  void remove_from_loop() override {
    stream_.passivate();
  }

  void close_now() override {
    closing = true;
    poisoned_ = true;
    // The next read sees the end (or data, which consume() drops).
    ::shutdown(stream_.fd(), SHUT_RDWR);
  }

private:
  void launch() {
    launched_ = true;
    stream_.start(this);
    // TLS: lets SSL_accept run before the first write is queued (as CAF's
    // openssl scribe does).
    if constexpr (std::is_same_v<Policy, tls_policy>)
      stream_.force_empty_write(this);
  }

  void reserve(std::size_t n) {
    g_->stats->pending_bytes += n;
    g_->stats->pending_bytes -= reserved_;
    reserved_ = n;
  }

  caf::io::network::stream_impl<Policy> stream_;
  std::shared_ptr<guard_state> g_;
  std::size_t reserved_ = 0;
  bool launched_ = false;
  bool poisoned_ = false;
};

class guarded_doorman : public caf::io::network::doorman_impl {
public:
  guarded_doorman(mpx_type &mx, native_socket fd,
                  std::shared_ptr<guard_state> g)
      : caf::io::network::doorman_impl(mx, fd), g_(std::move(g)) {}

  bool new_connection() override {
    if (detached())
      return false;
    auto &mx = acceptor_.backend();
    auto fd = acceptor_.accepted_socket();
    if (!g_->admit()) {
      ::close(fd);
      return true;
    }
    ++g_->stats->accepted;
    caf::io::network::nonblocking(fd, true);
    caf::io::scribe_ptr s;
    if (g_->cfg.tls) {
      auto session = caf::openssl::make_session(parent()->system(), fd, true);
      if (!session) {
        spdlog::warn("{}: no TLS session for a new connection (see the "
                     "openssl settings)",
                     g_->cfg.name);
        ::close(fd);
        return true;
      }
      s = caf::make_counted<guarded_scribe<tls_policy>>(mx, fd, g_,
                                                        std::move(session));
    } else {
      s = caf::make_counted<guarded_scribe<caf::policy::tcp>>(mx, fd, g_);
    }
    auto hdl = s->hdl();
    parent()->add_scribe(std::move(s));
    return doorman::new_connection(&mx, hdl);
  }

private:
  std::shared_ptr<guard_state> g_;
};

// CAF's middleman actor with our listener: what caf::openssl does for TLS,
// with the guard around it.
class guarded_middleman : public caf::io::middleman_actor_impl {
public:
  guarded_middleman(caf::actor_config &cfg, caf::actor broker,
                    std::shared_ptr<guard_state> g)
      : caf::io::middleman_actor_impl(cfg, std::move(broker)),
        g_(std::move(g)) {}

  const char *name() const override {
    return "proctrack.guarded_middleman";
  }

protected:
  caf::expected<caf::io::doorman_ptr> open(uint16_t port, const char *addr,
                                           bool reuse) override {
    auto fd = caf::io::network::new_tcp_acceptor_impl(port, addr, reuse);
    if (!fd)
      return std::move(fd.error());
    auto &mx = static_cast<mpx_type &>(system().middleman().backend());
    return caf::make_counted<guarded_doorman>(mx, *fd, g_);
  }

private:
  std::shared_ptr<guard_state> g_;
};

} // namespace

caf::expected<std::uint16_t>
guarded_publish(caf::actor_system &sys, caf::strong_actor_ptr whom,
                std::set<std::string> sigs, std::uint16_t port,
                const std::string &host, const listen_guard_config &cfg,
                std::shared_ptr<listen_guard_stats> stats) {
  auto g = std::make_shared<guard_state>();
  g->cfg = cfg;
  g->stats = stats ? std::move(stats) : std::make_shared<listen_guard_stats>();
  auto basp =
      sys.middleman().named_broker<caf::io::basp_broker>(caf::atom("BASP"));
  auto mm = sys.spawn<guarded_middleman, caf::hidden>(basp, g);
  caf::expected<std::uint16_t> result{caf::error{}};
  caf::scoped_actor self{sys};
  self->request(mm, caf::infinite, caf::publish_atom::value, port,
                std::move(whom), std::move(sigs), host, true)
      .receive([&](std::uint16_t bound) { result = bound; },
               [&](caf::error &e) { result = std::move(e); });
  // The listener belongs to the broker now; this actor is done.
  self->send_exit(mm, caf::exit_reason::user_shutdown);
  return result;
}

} // namespace proctrack
