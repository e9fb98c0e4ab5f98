// tls_audit.hpp in the Windows build: there is no TLS (no OpenSSL for
// mingw-w64 in Debian), so there is nothing to count and no peer name.
#include "actors/common/tls_audit.hpp"

namespace proctrack {

tls_audit_counts tls_audit() {
  return {};
}

std::string tls_peer_name(const std::string &, std::uint16_t) {
  return {};
}

bool tls_audit_active() {
  return false;
}

} // namespace proctrack
