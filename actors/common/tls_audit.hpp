// Counts and logs TLS handshakes of CAF's openssl module (docs/fleet.md,
// "TLS"). CAF 0.17 gives no hook for a failed handshake: its session makes
// one SSL_CTX per connection, calls SSL_CTX_set_verify(ctx, mode, nullptr)
// and drops the connection silently when the handshake fails. tls_audit.cpp
// therefore defines SSL_CTX_set_verify itself (ELF symbol interposition: the
// definition in the executable wins over libssl's), forwards to libssl's,
// and adds to every context a verify callback (why a certificate was
// refused), an info callback (handshake started / done, and on which side)
// and ex_data whose free function sees the end of the connection: an
// accepted connection that ends before its handshake completed was refused.
#pragma once

#include <cstdint>
#include <string>

namespace proctrack {

struct tls_audit_counts {
  /// Accepted connections whose TLS handshake completed.
  std::int64_t accepted = 0;
  /// Accepted connections that ended before their TLS handshake completed:
  /// a certificate not signed by tls.ca, no certificate, not TLS at all, or
  /// a peer that gave up.
  std::int64_t refused = 0;
  /// Outgoing connections (forwarders) whose TLS handshake did not complete.
  std::int64_t outgoing_failed = 0;
};

/// The counts of this process so far.
tls_audit_counts tls_audit();

/// The subject CN of the client certificate that the peer at ADDR:PORT
/// (as CAF's middleman reports a connection: dotted IPv4 or IPv6 text)
/// presented on an accepted TLS connection that is still open; empty when
/// there is no such connection or its certificate has no single CN. The
/// collector takes this as the one host a fleet member may write
/// (actors/collector/collector_endpoint.hpp).
std::string tls_peer_name(const std::string &addr, std::uint16_t port);

/// True when the interposition is live: the process resolves
/// SSL_CTX_set_verify to tls_audit.cpp's (false if the executable does not
/// export it; then nothing is counted).
bool tls_audit_active();

} // namespace proctrack
