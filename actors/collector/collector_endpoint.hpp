// What a collector publishes on its listener instead of itself (issue 13,
// docs/security.md): an actor with the collector's interface whose stream
// part lets a peer write only its own host and whose query part only reads.
//
// - Stream (fleet_ingest_api): with `tls` set, a fleet_batch or a hello is
//   passed on only when its host is the subject CN of the client
//   certificate the sender's connection presented (tls_audit.hpp,
//   tls_peer_name): a fleet member cannot write another host's mirror, and
//   a query client's certificate writes no host but the one it names.
//   Without `tls` (allow-insecure on loopback, for tests and demos) there is
//   no identity and every stream is taken: the collector warns at start.
// - Queries (collector_query_api) are relayed and their answers sent by the
//   endpoint itself.
//
// Nothing is delegated: a delegated request is answered by the collector,
// which puts the collector's own handle on the wire and in the middleman's
// registry, where any peer could then address it by its id and skip the
// endpoint. The collector's handle therefore never leaves this process.
#pragma once

#include "messages/actors.hpp"

#include <caf/actor_system.hpp>
#include <caf/io/middleman_actor.hpp>

#include <chrono>

namespace proctrack {

struct collector_endpoint_config {
  /// Peers passed mutual TLS: a stream must be the peer's own host.
  bool tls = false;
  /// The middleman of the listener (openssl's with tls): it tells the
  /// address and port of a sender's connection.
  caf::io::middleman_actor middleman;
  /// How long a relayed request may take.
  std::chrono::seconds timeout{30};
};

/// Spawns the endpoint in front of `collector`. Its counters are the
/// collector's plus NotOwnHost (streams refused because the certificate
/// names another host, or none).
collector_actor spawn_collector_endpoint(caf::actor_system &sys,
                                         collector_actor collector,
                                         collector_endpoint_config cfg);

} // namespace proctrack
