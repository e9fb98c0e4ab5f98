// `proctrack query --socket=PATH` and `--history=FILE` (app/query_local.hpp).
#include "app/query_local.hpp"

#include "actors/cache/query_parser.hpp"
#include "actors/common/json_text.hpp"
#include "actors/common/time.hpp"
#include "actors/history/history_store.hpp"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <nlohmann/json.hpp>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

namespace proctrack {

namespace {

int fail(const std::string &msg) {
  std::fprintf(stderr, "proctrack query: %s\n", msg.c_str());
  return 2;
}

} // namespace

// One query a line in, one answer a line out, in turn.
int query_socket_at(const std::string &path,
                    const std::vector<std::string> &texts) {
  int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un sa{};
  sa.sun_family = AF_UNIX;
  if (path.size() >= sizeof sa.sun_path)
    return fail("--socket: path too long: " + path);
  std::strncpy(sa.sun_path, path.c_str(), sizeof sa.sun_path - 1);
  if (fd < 0
      || ::connect(fd, reinterpret_cast<sockaddr *>(&sa), sizeof sa) != 0) {
    int e = errno;
    std::string why = std::strerror(e);
    if (e == ENOENT || e == ECONNREFUSED)
      why += " (is `proctrack run` running? --socket=PATH for another "
             "socket, --connect=HOST:PORT for a TCP endpoint)";
    else if (e == EACCES || e == EPERM)
      why += " (the socket is for root, or for query.group's members)";
    return fail("cannot reach an agent at " + path + ": " + why);
  }
  std::string buf;
  int status = 0;
  char chunk[65536];
  for (auto &t : texts) {
    auto line = t + "\n";
    std::size_t off = 0;
    while (off < line.size()) {
      auto n = ::send(fd, line.data() + off, line.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        ::close(fd);
        return fail("the agent at " + path
                    + " closed the connection: " + std::strerror(errno));
      }
      off += static_cast<std::size_t>(n);
    }
    std::size_t nl;
    while ((nl = buf.find('\n')) == std::string::npos) {
      auto n = ::read(fd, chunk, sizeof chunk);
      if (n < 0 && errno == EINTR)
        continue;
      if (n <= 0) {
        ::close(fd);
        return fail("the agent at " + path
                    + " closed the connection before "
                      "answering "
                    + t);
      }
      buf.append(chunk, static_cast<std::size_t>(n));
    }
    auto answer = buf.substr(0, nl + 1);
    buf.erase(0, nl + 1);
    auto j = nlohmann::json::parse(answer, nullptr, false);
    if (j.is_object() && j.contains("result")) {
      std::fwrite(answer.data(), 1, answer.size(), stdout);
    } else {
      auto why = j.is_object() && j.contains("error") && j["error"].is_string()
                     ? j["error"].get<std::string>()
                     : answer;
      std::fprintf(stderr, "proctrack query: %s failed: %s\n", t.c_str(),
                   why.c_str());
      status = 2;
    }
  }
  ::close(fd);
  std::fflush(stdout);
  return status;
}

// `--history=FILE`: answers from a history store, no agent involved. A
// query may end in @TIME (RFC 3339): the answer as it stood then.
int query_history(const std::string &path,
                  const std::vector<std::string> &texts) {
  std::string error;
  auto store = history_store::open(path, history_store::mode::read_only, error);
  if (!store)
    return fail(error);
  int status = 0;
  for (auto &t : texts) {
    std::string text = t;
    timestamp as_of = unknown_time;
    if (auto at = t.rfind('@'); at != std::string::npos) {
      std::string why;
      auto when = parse_time(std::string_view{t}.substr(at + 1), &why);
      if (!when || *when == unknown_time) {
        std::fprintf(stderr,
                     "proctrack query: %s: bad time after @ (RFC 3339, e.g. "
                     "2021-01-01T10:42:00Z)%s%s\n",
                     t.c_str(), why.empty() ? "" : ": ", why.c_str());
        status = 2;
        continue;
      }
      as_of = *when;
      text = t.substr(0, at);
    }
    auto q = parse_query(text, error);
    if (!q) {
      std::fprintf(stderr, "proctrack query: %s\n", error.c_str());
      status = 2;
      continue;
    }
    auto result = store->answer(*q, as_of, error);
    if (!result) {
      std::fprintf(stderr, "proctrack query: %s: %s\n", t.c_str(),
                   error.c_str());
      status = 2;
      continue;
    }
    std::string out = "{\"query\":";
    append_json_string(out, t);
    out += ",\"result\":";
    out += *result;
    out += "}\n";
    std::fwrite(out.data(), 1, out.size(), stdout);
  }
  std::fflush(stdout);
  return status;
}

} // namespace proctrack
