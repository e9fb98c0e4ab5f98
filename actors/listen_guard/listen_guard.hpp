// The bounds in front of CAF's middleman on a listening port (issue 13,
// docs/security.md "Bounds before authentication"). CAF 0.17's binary
// protocol (BASP) reads a 32-byte header and then allocates the payload size
// it announces (caf/io/basp/header.hpp, payload_len: up to 4 GiB) before
// reading a byte of it; and its listener accepts connections without limit,
// each one a descriptor taken from the table /proc reads need.
//
// guarded_publish() publishes an actor as caf::io::publish (plaintext) or
// caf::openssl::publish (tls = true) do, through a middleman actor of ours
// whose listener and connections check:
//  - connections open at once (max_connections): at the cap, the connection
//    silent longest is closed when it has been silent for `idle` (a client
//    that connected and never sent anything, a TLS handshake never begun;
//    those that never delivered a message go first); otherwise the new
//    connection is closed at once;
//  - the payload a peer announces (max_message per message, max_pending in
//    all connections together): a header announcing more closes that
//    connection before anything is allocated for it.
// With TLS the handshake comes before any BASP header is read (SSL_read
// returns no data until it completed); the bounds apply after it too.
// Every refusal is logged (spdlog, at most one line a second per kind) and
// counted in listen_guard_stats.
#pragma once

#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/expected.hpp>
#include <caf/fwd.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <set>
#include <string>

namespace proctrack {

struct listen_guard_config {
  std::string name = "listener";        ///< in log lines
  std::size_t max_connections = 64;     ///< open at once
  std::size_t max_message = 1u << 20;   ///< bytes one BASP payload may have
  std::size_t max_pending = 16u << 20;  ///< announced payloads, all together
  std::chrono::milliseconds idle{5000}; ///< silent this long: may be evicted
  bool tls = false; ///< TLS (the system's openssl manager's settings)
};

/// What the guard did, counted since start (read from any thread).
struct listen_guard_stats {
  std::atomic<std::uint64_t> accepted{0};
  std::atomic<std::uint64_t> refused_full{0};     ///< closed at once at the cap
  std::atomic<std::uint64_t> evicted_idle{0};     ///< closed to make room
  std::atomic<std::uint64_t> refused_oversize{0}; ///< announced too much
  std::atomic<std::uint64_t> open{0};             ///< connections now
  std::atomic<std::uint64_t> pending_bytes{0};    ///< announced payloads now
};

/// Publishes `whom` (with its message type signatures `sigs`) on
/// host:port (port 0: any free one) with the guard. Returns the bound port,
/// or CAF's error (address in use, ...). `stats` (may be null) is updated
/// while the listener lives.
caf::expected<std::uint16_t>
guarded_publish(caf::actor_system &sys, caf::strong_actor_ptr whom,
                std::set<std::string> sigs, std::uint16_t port,
                const std::string &host, const listen_guard_config &cfg,
                std::shared_ptr<listen_guard_stats> stats = nullptr);

template <class Handle>
caf::expected<std::uint16_t>
guarded_publish(caf::actor_system &sys, const Handle &whom, std::uint16_t port,
                const std::string &host, const listen_guard_config &cfg,
                std::shared_ptr<listen_guard_stats> stats = nullptr) {
  return guarded_publish(sys, caf::actor_cast<caf::strong_actor_ptr>(whom),
                         sys.message_types(whom), port, host, cfg,
                         std::move(stats));
}

} // namespace proctrack
