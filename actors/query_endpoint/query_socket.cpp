#include "actors/query_endpoint/query_socket.hpp"

#include "actors/cache/query_parser.hpp"
#include "actors/common/json_text.hpp"
#include "actors/common/time.hpp"

#include <boost/asio/io_context.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/read_until.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/streambuf.hpp>
#include <boost/asio/write.hpp>
#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <grp.h>
#include <istream>
#include <map>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <thread>
#include <unistd.h>

namespace proctrack {

namespace asio = boost::asio;
using stream = asio::local::stream_protocol;

namespace {

std::string errno_text() {
  return std::strerror(errno);
}

// Whether something accepts connections on the Unix socket at `path`.
bool answers(const std::string &path) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return false;
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  bool ok = ::connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa) == 0;
  ::close(fd);
  return ok;
}

struct counters {
  std::atomic<std::int64_t> connections{0}, refused{0}, queries{0},
      long_lines{0}, slow_readers{0}, idle_closed{0}, open{0};
};

} // namespace

class query_socket_server
    : public std::enable_shared_from_this<query_socket_server> {
public:
  class connection;

  query_socket_config cfg;
  std::string tmp_path;
  int lock_fd = -1;
  dev_t dev = 0;
  ino_t ino = 0;
  asio::io_context io;
  stream::acceptor acceptor{io};
  asio::steady_timer retry{io};
  std::thread thread;
  caf::actor bridge;
  counters stats;
  std::uint64_t next_id = 1;
  // Every open connection (io thread only): it holds the connection while
  // its query is with the cache and no read or write is pending.
  std::map<std::uint64_t, std::shared_ptr<connection>> live;
  bool stopped = false;

  void accept_next();
  // Called on a CAF thread with the cache's answer to connection `id`.
  void deliver(std::uint64_t id, std::string line);

  void remove_file() {
    struct stat sb {};
    if (::lstat(cfg.path.c_str(), &sb) == 0 && sb.st_dev == dev
        && sb.st_ino == ino)
      ::unlink(cfg.path.c_str());
  }

  ~query_socket_server() {
    if (lock_fd >= 0)
      ::close(lock_fd);
  }
};

class query_socket_server::connection
    : public std::enable_shared_from_this<connection> {
public:
  connection(query_socket_server &srv, stream::socket s, std::uint64_t id)
      : srv_(srv), sock_(std::move(s)), timer_(srv.io),
        in_(srv.cfg.max_line + 1), id_(id) {}

  void start() {
    ucred cred{};
    socklen_t len = sizeof cred;
    if (::getsockopt(sock_.native_handle(), SOL_SOCKET, SO_PEERCRED, &cred,
                     &len)
        == 0) {
      who_ = "uid " + std::to_string(cred.uid) + " gid "
             + std::to_string(cred.gid) + " pid " + std::to_string(cred.pid);
    } else {
      who_ = "unknown peer (" + errno_text() + ")";
    }
    spdlog::info("query socket: connection {} from {}", id_, who_);
    read_next();
  }

  // The answer to the query in flight (io thread).
  void answer(std::string line) {
    if (closed_)
      return;
    out_ = std::move(line);
    arm(srv_.cfg.write_timeout, [this] {
      ++srv_.stats.slow_readers;
      spdlog::warn("query socket: connection {} ({}) did not take its answer "
                   "({} bytes) within {} ms: closed",
                   id_, who_, out_.size(), srv_.cfg.write_timeout.count());
    });
    asio::async_write(
        sock_, asio::buffer(out_),
        [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
          self->timer_.cancel();
          if (ec) {
            self->close();
            return;
          }
          self->out_.clear();
          self->out_.shrink_to_fit();
          if (self->last_)
            self->close();
          else
            self->read_next();
        });
  }

  void close() {
    if (closed_)
      return;
    closed_ = true;
    boost::system::error_code ignored;
    timer_.cancel();
    sock_.shutdown(stream::socket::shutdown_both, ignored);
    sock_.close(ignored);
    --srv_.stats.open;
    spdlog::debug("query socket: connection {} closed", id_);
    srv_.live.erase(id_); // may be the last reference: nothing after this
  }

private:
  template <class F>
  void arm(std::chrono::milliseconds after, F on_expiry) {
    timer_.expires_after(after);
    timer_.async_wait(
        [self = shared_from_this(), on_expiry](boost::system::error_code ec) {
          if (ec || self->closed_)
            return;
          on_expiry();
          self->close();
        });
  }

  void read_next() {
    if (closed_)
      return;
    arm(srv_.cfg.idle_timeout, [this] {
      ++srv_.stats.idle_closed;
      spdlog::info("query socket: connection {} ({}) idle for {} ms: closed",
                   id_, who_, srv_.cfg.idle_timeout.count());
    });
    asio::async_read_until(
        sock_, in_, '\n',
        [self = shared_from_this()](boost::system::error_code ec,
                                    std::size_t n) { self->on_read(ec, n); });
  }

  void on_read(boost::system::error_code ec, std::size_t n) {
    timer_.cancel();
    if (closed_)
      return;
    std::string line;
    if (!ec) {
      line.resize(n);
      std::istream is{&in_};
      is.read(line.data(), static_cast<std::streamsize>(n));
      line.pop_back(); // '\n'
    } else if (ec == asio::error::not_found) {
      ++srv_.stats.long_lines;
      spdlog::warn("query socket: connection {} ({}) sent a request line "
                   "longer than {} bytes: closed",
                   id_, who_, srv_.cfg.max_line);
      close();
      return;
    } else if (ec == asio::error::eof && in_.size() > 0) {
      // The last line without its '\n': answered, then the end.
      line.resize(in_.size());
      std::istream is{&in_};
      is.read(line.data(), static_cast<std::streamsize>(line.size()));
      last_ = true;
    } else {
      close(); // end of the client's requests, or an error
      return;
    }
    if (!line.empty() && line.back() == '\r')
      line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) {
      if (last_)
        close();
      else
        read_next();
      return;
    }
    ++srv_.stats.queries;
    spdlog::debug("query socket: connection {} ({}) asks {}", id_, who_, line);
    std::string error;
    timestamp as_of = unknown_time; // QUERY@T: the agent's history answers
    auto q = parse_query_at(line, as_of, error);
    if (!q) {
      answer(error_line(line, error));
      return;
    }
    caf::anon_send(srv_.bridge, *q, as_of, id_, line);
  }

public:
  static std::string error_line(const std::string &q, const std::string &e) {
    std::string out = "{\"query\":";
    append_json_string(out, q);
    out += ",\"error\":";
    append_json_string(out, e);
    out += "}\n";
    return out;
  }

private:
  query_socket_server &srv_;
  stream::socket sock_;
  asio::steady_timer timer_;
  asio::streambuf in_;
  std::uint64_t id_;
  std::string who_, out_;
  bool closed_ = false, last_ = false;
};

void query_socket_server::accept_next() {
  acceptor.async_accept([self = shared_from_this()](
                            boost::system::error_code ec, stream::socket s) {
    if (self->stopped)
      return;
    if (ec) {
      // EMFILE/ENFILE: the descriptors the live sources need come first;
      // try again shortly instead of spinning.
      spdlog::warn("query socket: accept failed ({}); retrying in 200 ms",
                   ec.message());
      self->retry.expires_after(std::chrono::milliseconds(200));
      self->retry.async_wait([self](boost::system::error_code e) {
        if (!e)
          self->accept_next();
      });
      return;
    }
    if (static_cast<std::size_t>(self->stats.open.load())
        >= self->cfg.max_connections) {
      ++self->stats.refused;
      auto line = connection::error_line(
          "", "too many connections ("
                  + std::to_string(self->cfg.max_connections) + " open)");
      boost::system::error_code ignored;
      s.non_blocking(true, ignored);
      s.write_some(asio::buffer(line), ignored);
      s.close(ignored);
      spdlog::warn("query socket: connection refused: {} connections open "
                   "already",
                   self->cfg.max_connections);
      self->accept_next();
      return;
    }
    ++self->stats.connections;
    ++self->stats.open;
    auto id = self->next_id++;
    auto c = std::make_shared<connection>(*self, std::move(s), id);
    self->live[id] = c;
    c->start();
    self->accept_next();
  });
}

void query_socket_server::deliver(std::uint64_t id, std::string line) {
  asio::post(io, [self = shared_from_this(), id, line = std::move(line)] {
    auto it = self->live.find(id);
    if (it == self->live.end())
      return; // closed meanwhile
    it->second->answer(std::move(line));
  });
}

namespace {

// A query (as of a time, or now: unknown_time), the connection's id and
// the query's text.
using bridge_actor = stats_api::extend<
    caf::reacts_to<query, timestamp, std::uint64_t, std::string>>;

bridge_actor::behavior_type bridge(bridge_actor::pointer self,
                                   query_api backend,
                                   std::shared_ptr<query_socket_server> srv) {
  auto timeout = srv->cfg.query_timeout;
  return {
      [=](query &q, timestamp as_of, std::uint64_t id, std::string &text) {
        auto answered = [=](std::string &result) {
          std::string out = "{\"query\":";
          append_json_string(out, text);
          out += ",\"result\":";
          out += result;
          out += "}\n";
          srv->deliver(id, std::move(out));
        };
        auto failed = [=](caf::error &e) {
          // An actor's own words (the history's "no process history ...")
          // as they are; CAF's rendering for the rest (a timeout).
          auto &ctx = e.context();
          auto why = ctx.match_elements<std::string>()
                         ? ctx.get_as<std::string>(0)
                         : self->system().render(e);
          srv->deliver(id,
                       query_socket_server::connection::error_line(text, why));
        };
        if (as_of == unknown_time)
          self->request(backend, timeout, std::move(q)).then(answered, failed);
        else
          self->request(backend, timeout, std::move(q), as_of)
              .then(answered, failed);
      },
      [=](atom::stats) {
        auto &s = srv->stats;
        return stats_report{"query-socket",
                            {{"SocketConnections", s.connections.load()},
                             {"SocketOpen", s.open.load()},
                             {"SocketRefused", s.refused.load()},
                             {"SocketQueries", s.queries.load()},
                             {"SocketLongLines", s.long_lines.load()},
                             {"SocketSlowReaders", s.slow_readers.load()},
                             {"SocketIdleClosed", s.idle_closed.load()}}};
      },
  };
}

} // namespace

std::unique_ptr<query_socket> query_socket::open(const query_socket_config &cfg,
                                                 std::string &error) {
  auto fail = [&](const std::string &why) {
    error = "query.socket " + cfg.path + ": " + why;
    return nullptr;
  };
  if (cfg.path.empty() || cfg.path.front() != '/')
    return fail("must be an absolute path");
  if (cfg.path.size() + 5 >= sizeof(sockaddr_un{}.sun_path))
    return fail("longer than a Unix socket path may be ("
                + std::to_string(sizeof(sockaddr_un{}.sun_path) - 6)
                + " bytes at most)");
  gid_t gid = 0;
  if (!cfg.group.empty()) {
    std::vector<char> buf(16384);
    group g{}, *found = nullptr;
    if (::getgrnam_r(cfg.group.c_str(), &g, buf.data(), buf.size(), &found) != 0
        || !found) {
      error = "query.group: no group named \"" + cfg.group + "\"";
      return nullptr;
    }
    gid = found->gr_gid;
  }
  auto dir = cfg.path.substr(0, cfg.path.rfind('/'));
  if (!dir.empty()) {
    struct stat ds {};
    if (::stat(dir.c_str(), &ds) != 0) {
      if (errno != ENOENT || ::mkdir(dir.c_str(), 0755) != 0)
        return fail("cannot create its directory " + dir + ": " + errno_text());
      ::chmod(dir.c_str(), 0755); // whatever the umask
    } else if (!S_ISDIR(ds.st_mode)) {
      return fail(dir + " is not a directory");
    } else if ((ds.st_mode & S_IWOTH) && !(ds.st_mode & S_ISVTX)) {
      return fail("its directory " + dir
                  + " is writable by everyone: anyone could replace the "
                    "socket");
    }
  }
  auto srv = std::make_shared<query_socket_server>();
  srv->cfg = cfg;
  // The lock is held as long as the agent runs: a second agent stops here
  // even if the first has not bound its socket yet.
  auto lock = cfg.path + ".lock";
  srv->lock_fd =
      ::open(lock.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (srv->lock_fd < 0)
    return fail("cannot open its lock file " + lock + ": " + errno_text());
  if (::flock(srv->lock_fd, LOCK_EX | LOCK_NB) != 0)
    return fail("another agent holds it (lock " + lock
                + "): not taking it over");
  struct stat sb {};
  if (::lstat(cfg.path.c_str(), &sb) == 0) {
    if (!S_ISSOCK(sb.st_mode))
      return fail("exists and is not a socket; not touched");
    if (answers(cfg.path))
      return fail("another agent answers on it: not taking it over");
    if (::unlink(cfg.path.c_str()) != 0)
      return fail("cannot remove the stale socket: " + errno_text());
    spdlog::info("query socket: removed the stale socket {}", cfg.path);
  }
  // Bound under a temporary name, given its mode and owner, then renamed
  // into place: nobody can connect before the permissions are right.
  srv->tmp_path = cfg.path + ".new";
  ::unlink(srv->tmp_path.c_str());
  boost::system::error_code ec;
  srv->acceptor.open(stream{}, ec);
  if (!ec)
    srv->acceptor.bind(stream::endpoint{srv->tmp_path}, ec);
  if (ec)
    return fail("cannot bind: " + ec.message());
  auto mode = cfg.group.empty() ? 0600 : 0660;
  auto undo = [&](const std::string &why) {
    ::unlink(srv->tmp_path.c_str());
    return fail(why);
  };
  if (::chmod(srv->tmp_path.c_str(), mode) != 0)
    return undo("chmod: " + errno_text());
  if (!cfg.group.empty()
      && ::chown(srv->tmp_path.c_str(), ::geteuid(), gid) != 0)
    return undo("cannot give it to group " + cfg.group + ": " + errno_text());
  srv->acceptor.listen(64, ec);
  if (ec)
    return undo("listen: " + ec.message());
  if (::rename(srv->tmp_path.c_str(), cfg.path.c_str()) != 0)
    return undo("cannot move it into place: " + errno_text());
  if (::lstat(cfg.path.c_str(), &sb) == 0) {
    srv->dev = sb.st_dev;
    srv->ino = sb.st_ino;
  }
  std::unique_ptr<query_socket> out{new query_socket};
  out->impl_ = std::move(srv);
  return out;
}

query_socket_actor query_socket::serve(caf::actor_system &sys,
                                       query_api backend) {
  auto b = sys.spawn(bridge, std::move(backend), impl_);
  impl_->bridge = caf::actor_cast<caf::actor>(b);
  impl_->accept_next();
  impl_->thread = std::thread([srv = impl_] { srv->io.run(); });
  return caf::actor_cast<query_socket_actor>(b);
}

void query_socket::stop() {
  if (!impl_ || impl_->stopped)
    return;
  auto srv = impl_;
  asio::post(srv->io, [srv] {
    srv->stopped = true;
    boost::system::error_code ignored;
    srv->acceptor.close(ignored);
    srv->retry.cancel();
    auto live = srv->live;
    for (auto &[id, c] : live)
      c->close();
  });
  if (srv->thread.joinable())
    srv->thread.join(); // returns once every handler has run
  else
    srv->stopped = true;
  if (srv->bridge)
    caf::anon_send_exit(srv->bridge, caf::exit_reason::user_shutdown);
  srv->bridge = nullptr;
  srv->remove_file();
}

query_socket::~query_socket() {
  stop();
  if (impl_ && !impl_->thread.joinable())
    impl_->remove_file();
}

const std::string &query_socket::path() const {
  return impl_->cfg.path;
}

} // namespace proctrack
