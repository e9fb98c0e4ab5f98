// What an unauthenticated peer can send to a listening port (issue 13,
// docs/security.md "Bounds before authentication"): CAF wire headers that
// announce a huge payload, idle connections, garbage. Plain POSIX sockets,
// no CAF: the attacker does not play by the protocol's rules. Used by
// tests/listener_attack_test.cpp and by the listener_attack tool
// (tests/tools/listener_attack.cpp) that docs/benchmarks.md's figures come
// from.
#pragma once

#include <arpa/inet.h>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstring>
#include <dirent.h>
#include <fstream>
#include <netinet/in.h>
#include <string>
#include <sys/resource.h>
#include <sys/socket.h>
#include <thread>
#include <unistd.h>
#include <vector>

namespace proctrack::attack {

/// A connection to 127.0.0.1:port (or -1 when refused / out of
/// descriptors). Blocking, with a 2 s send timeout.
inline int connect_loopback(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0)
    return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr *>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  timeval tv{2, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  return fd;
}

/// A 32-byte CAF 0.17 BASP header (caf/io/basp/header.hpp, big-endian as
/// CAF's binary_serializer writes it): a client handshake announcing
/// `payload_len` bytes, the first thing a server reads from a client.
inline std::vector<unsigned char> basp_header(std::uint32_t payload_len) {
  std::vector<unsigned char> h(32, 0);
  h[0] = 0x01; // message_type::client_handshake
  for (int i = 0; i < 4; ++i)
    h[4 + i] = static_cast<unsigned char>(payload_len >> (24 - 8 * i));
  h[15] = 3; // operation_data: BASP version 3
  return h;
}

inline bool send_all(int fd, const void *buf, std::size_t n) {
  auto p = static_cast<const char *>(buf);
  while (n > 0) {
    auto w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0)
      return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

/// Opens `n` connections that each send one header announcing
/// `payload_len` bytes and then nothing; returns them (the caller closes).
inline std::vector<int> header_attack(std::uint16_t port,
                                      std::uint32_t payload_len, int n) {
  std::vector<int> fds;
  auto h = basp_header(payload_len);
  for (int i = 0; i < n; ++i) {
    int fd = connect_loopback(port);
    if (fd < 0)
      continue;
    send_all(fd, h.data(), h.size());
    fds.push_back(fd);
  }
  return fds;
}

/// Opens up to `n` connections that send nothing (raising this process's
/// own descriptor limit first); returns those that connected.
inline std::vector<int> idle_flood(std::uint16_t port, int n) {
  rlimit r{};
  if (::getrlimit(RLIMIT_NOFILE, &r) == 0 && r.rlim_cur < r.rlim_max) {
    r.rlim_cur = r.rlim_max;
    ::setrlimit(RLIMIT_NOFILE, &r);
  }
  std::vector<int> fds;
  for (int i = 0; i < n; ++i) {
    int fd = connect_loopback(port);
    if (fd >= 0)
      fds.push_back(fd);
  }
  return fds;
}

/// Sends `bytes` of pseudo-random garbage over `connections` connections
/// (reconnecting when the server closes one); returns the bytes the server
/// took. Stops after `limit` even if not all was sent.
inline std::uint64_t
garbage(std::uint16_t port, std::uint64_t bytes, int connections,
        std::chrono::seconds limit = std::chrono::seconds(60)) {
  std::vector<unsigned char> chunk(1 << 16);
  std::uint32_t x = 2463534242u;
  for (auto &c : chunk) { // xorshift: no structure for a parser to like
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    c = static_cast<unsigned char>(x);
  }
  std::vector<std::thread> ts;
  std::vector<std::uint64_t> sent(static_cast<std::size_t>(connections), 0);
  auto deadline = std::chrono::steady_clock::now() + limit;
  for (int i = 0; i < connections; ++i)
    ts.emplace_back([&, i] {
      auto share = bytes / static_cast<std::uint64_t>(connections);
      int fd = -1;
      while (sent[i] < share && std::chrono::steady_clock::now() < deadline) {
        if (fd < 0 && (fd = connect_loopback(port)) < 0) {
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
          continue;
        }
        auto w = ::send(fd, chunk.data(), chunk.size(), MSG_NOSIGNAL);
        if (w <= 0) {
          ::close(fd);
          fd = -1;
          continue;
        }
        sent[i] += static_cast<std::uint64_t>(w);
      }
      if (fd >= 0)
        ::close(fd);
    });
  for (auto &t : ts)
    t.join();
  std::uint64_t total = 0;
  for (auto s : sent)
    total += s;
  return total;
}

inline void close_all(std::vector<int> &fds) {
  for (int fd : fds)
    ::close(fd);
  fds.clear();
}

/// A field of /proc/PID/status in kB (VmRSS, VmHWM), -1 when unreadable.
inline long status_kb(int pid, const std::string &field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line))
    if (line.compare(0, field.size() + 1, field + ":") == 0)
      return std::stol(line.substr(field.size() + 1));
  return -1;
}

/// Descriptors the process has open, -1 when unreadable.
inline int open_fds(int pid) {
  auto dir = "/proc/" + std::to_string(pid) + "/fd";
  int n = 0;
  if (auto *d = ::opendir(dir.c_str())) {
    while (auto *e = ::readdir(d))
      if (e->d_name[0] != '.')
        ++n;
    ::closedir(d);
    return n;
  }
  return -1;
}

} // namespace proctrack::attack
