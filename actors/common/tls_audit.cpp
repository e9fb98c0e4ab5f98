#include "actors/common/tls_audit.hpp"

#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <spdlog/spdlog.h>

#include <arpa/inet.h>
#include <dlfcn.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdlib>
#include <map>
#include <mutex>
#include <string>

namespace proctrack {

namespace {

std::atomic<std::int64_t> accepted_count{0}, refused_count{0},
    outgoing_failed_count{0};

// What we know of the one connection of a context (CAF makes one context
// per connection).
struct conn_state {
  bool started = false; ///< the handshake began (the info callback ran)
  bool server = false;  ///< we accepted the connection
  bool done = false;    ///< the handshake completed
  bool alerted = false; ///< the peer sent a fatal alert
  std::string peer;     ///< "ADDR:PORT" of the other side
  std::string why;      ///< the first reason the handshake failed
};

// The certificate names of the open accepted connections, by "ADDR:PORT"
// of the peer, with the connection they belong to (a key is erased only
// by its own connection's end).
std::mutex names_mutex;
std::map<std::string, std::pair<const conn_state *, std::string>> peer_names;

// The single subject CN of `cert`, or empty.
std::string common_name(X509 *cert) {
  if (!cert)
    return {};
  auto *subject = X509_get_subject_name(cert);
  int at = X509_NAME_get_index_by_NID(subject, NID_commonName, -1);
  if (at < 0 || X509_NAME_get_index_by_NID(subject, NID_commonName, at) >= 0)
    return {}; // none, or more than one: no name to go by
  auto *data = X509_NAME_ENTRY_get_data(X509_NAME_get_entry(subject, at));
  unsigned char *utf8 = nullptr;
  int n = ASN1_STRING_to_UTF8(&utf8, data);
  if (n < 0)
    return {};
  std::string out{reinterpret_cast<char *>(utf8), static_cast<std::size_t>(n)};
  OPENSSL_free(utf8);
  if (out.find('\0') != std::string::npos)
    return {}; // an embedded NUL: a name made to fool a comparison
  return out;
}

std::string peer_of(const SSL *ssl) {
  int fd = SSL_get_fd(ssl);
  sockaddr_storage a{};
  socklen_t len = sizeof a;
  if (fd < 0 || getpeername(fd, reinterpret_cast<sockaddr *>(&a), &len) != 0)
    return "?";
  char buf[INET6_ADDRSTRLEN] = {};
  unsigned port = 0;
  if (a.ss_family == AF_INET) {
    auto &in = reinterpret_cast<sockaddr_in &>(a);
    inet_ntop(AF_INET, &in.sin_addr, buf, sizeof buf);
    port = ntohs(in.sin_port);
  } else if (a.ss_family == AF_INET6) {
    auto &in = reinterpret_cast<sockaddr_in6 &>(a);
    inet_ntop(AF_INET6, &in.sin6_addr, buf, sizeof buf);
    port = ntohs(in.sin6_port);
  }
  return std::string{buf} + ":" + std::to_string(port);
}

// The end of a context: of its connection too.
void on_free(void *, void *ptr, CRYPTO_EX_DATA *, int, long, void *) {
  auto *st = static_cast<conn_state *>(ptr);
  if (!st)
    return;
  if (st->server && st->done) {
    std::lock_guard<std::mutex> guard{names_mutex};
    auto it = peer_names.find(st->peer);
    if (it != peer_names.end() && it->second.first == st)
      peer_names.erase(it);
  }
  // A client's handshake is done before the server has checked the
  // client's certificate (TLS 1.3): the server's fatal alert says "refused".
  if (st->started && (!st->done || (!st->server && st->alerted))) {
    auto why = st->why.empty() ? std::string{"no complete TLS handshake (not "
                                             "TLS, or the peer left)"}
                               : st->why;
    if (st->server) {
      ++refused_count;
      spdlog::warn("tls: refused {}: {}", st->peer, why);
    } else {
      ++outgoing_failed_count;
      spdlog::warn("tls: handshake with {} failed: {}", st->peer, why);
    }
  }
  delete st;
}

int state_index() {
  static int idx =
      SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, on_free);
  return idx;
}

conn_state *state_of(const SSL *ssl) {
  auto *ctx = SSL_get_SSL_CTX(ssl);
  if (!ctx || state_index() < 0)
    return nullptr;
  return static_cast<conn_state *>(SSL_CTX_get_ex_data(ctx, state_index()));
}

// OpenSSL 3.0 has no text for TLS 1.3's certificate_required.
std::string alert_text(int desc) {
  if (desc == 116)
    return "certificate required";
  std::string t = SSL_alert_desc_string_long(desc);
  return t == "unknown" ? "alert " + std::to_string(desc) : t;
}

void on_info(const SSL *ssl, int where, int ret) {
  auto *st = state_of(ssl);
  if (!st)
    return;
  // The first call (SSL_accept or SSL_connect began, even if the peer
  // never sends a byte) tells the side and the peer.
  if (!st->started) {
    st->started = true;
    st->server = SSL_is_server(ssl) == 1;
    st->peer = peer_of(ssl);
  }
  if ((where & SSL_CB_HANDSHAKE_DONE) && !st->done) {
    st->done = true;
    if (st->server) {
      ++accepted_count;
      // The verified client certificate names the peer from now on.
#if OPENSSL_VERSION_NUMBER >= 0x30000000L
      X509 *cert = SSL_get1_peer_certificate(ssl);
#else
      X509 *cert = SSL_get_peer_certificate(ssl);
#endif
      auto name = SSL_get_verify_result(ssl) == X509_V_OK ? common_name(cert)
                                                          : std::string{};
      X509_free(cert);
      std::lock_guard<std::mutex> guard{names_mutex};
      peer_names[st->peer] = {st, std::move(name)};
    }
  }
  // A fatal alert, sent or received, says why when nothing else did.
  if ((where & SSL_CB_ALERT) && (ret >> 8) == SSL3_AL_FATAL) {
    bool read = (where & SSL_CB_READ) != 0;
    st->alerted = st->alerted || read;
    if (st->why.empty())
      st->why = std::string{read ? "peer sent alert: " : "sent alert: "}
                + alert_text(ret & 0xff);
  }
}

using verify_fn = int (*)(int, X509_STORE_CTX *);
// CAF passes no callback; one passed by anyone else is kept per context.
int chained_index() {
  static int idx =
      SSL_CTX_get_ex_new_index(0, nullptr, nullptr, nullptr, nullptr);
  return idx;
}

int on_verify(int ok, X509_STORE_CTX *store) {
  auto *ssl = static_cast<SSL *>(
      X509_STORE_CTX_get_ex_data(store, SSL_get_ex_data_X509_STORE_CTX_idx()));
  if (ssl) {
    auto *ctx = SSL_get_SSL_CTX(ssl);
    if (auto *chained = reinterpret_cast<verify_fn>(
            SSL_CTX_get_ex_data(ctx, chained_index())))
      ok = chained(ok, store);
    auto *st = state_of(ssl);
    if (!ok && st && st->why.empty()) {
      std::string subject = "?";
      if (auto *cert = X509_STORE_CTX_get_current_cert(store)) {
        char buf[256] = {};
        X509_NAME_oneline(X509_get_subject_name(cert), buf, sizeof buf);
        subject = buf;
      }
      st->why =
          std::string{"certificate "} + subject + ": "
          + X509_verify_cert_error_string(X509_STORE_CTX_get_error(store));
    }
  }
  return ok;
}

using set_verify_fn = void (*)(SSL_CTX *, int, SSL_verify_cb);

set_verify_fn real_set_verify() {
  static auto fn =
      reinterpret_cast<set_verify_fn>(dlsym(RTLD_NEXT, "SSL_CTX_set_verify"));
  return fn;
}

} // namespace

tls_audit_counts tls_audit() {
  return {accepted_count.load(), refused_count.load(),
          outgoing_failed_count.load()};
}

std::string tls_peer_name(const std::string &addr, std::uint16_t port) {
  // peer_of's form: IPv6 addresses are not bracketed.
  auto key = addr + ":" + std::to_string(port);
  std::lock_guard<std::mutex> guard{names_mutex};
  auto it = peer_names.find(key);
  return it == peer_names.end() ? std::string{} : it->second.second;
}

bool tls_audit_active() {
  return dlsym(RTLD_DEFAULT, "SSL_CTX_set_verify")
         == reinterpret_cast<void *>(&::SSL_CTX_set_verify);
}

} // namespace proctrack

// Interposes libssl's SSL_CTX_set_verify (see tls_audit.hpp).
extern "C" void SSL_CTX_set_verify(SSL_CTX *ctx, int mode,
                                   SSL_verify_cb callback) {
  using namespace proctrack;
  auto real = real_set_verify();
  if (!real) {
    spdlog::critical("tls: libssl's SSL_CTX_set_verify not found");
    std::abort();
  }
  if (!ctx || state_index() < 0 || chained_index() < 0) {
    real(ctx, mode, callback);
    return;
  }
  if (!SSL_CTX_get_ex_data(ctx, state_index())) {
    auto *st = new conn_state;
    if (SSL_CTX_set_ex_data(ctx, state_index(), st) == 1)
      SSL_CTX_set_info_callback(ctx, on_info);
    else
      delete st;
  }
  SSL_CTX_set_ex_data(ctx, chained_index(), reinterpret_cast<void *>(callback));
  real(ctx, mode, on_verify);
}
