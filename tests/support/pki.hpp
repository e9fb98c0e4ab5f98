// Certificates for the TLS end-to-end tests, made at test time with the
// openssl CLI (the commands docs/fleet.md shows): a CA, a collector and an
// agent signed by it, a stranger CA with a stranger signed by it, and
// leaves on demand (a fleet host's certificate names its host in its CN).
#pragma once

#include "run_binary.hpp"

#include <chrono>
#include <sstream>
#include <stdexcept>
#include <string>
#include <unistd.h>
#include <vector>

namespace proctrack_test {

// The openssl CLI on PATH (scripts/setup.sh installs it), or empty.
inline std::string openssl_cli() {
  const char *path = std::getenv("PATH");
  std::istringstream dirs{path ? path : "/usr/bin:/bin"};
  std::string dir;
  while (std::getline(dirs, dir, ':')) {
    auto p = (dir.empty() ? std::string{"."} : dir) + "/openssl";
    if (access(p.c_str(), X_OK) == 0)
      return p;
  }
  return {};
}

// PEM files of one party: NAME.pem (certificate) and NAME.key.
struct party {
  std::string cert, key;
};

// Makes the CAs and leaf certificates in `dir` with the openssl CLI: the
// commands docs/fleet.md shows.
class pki {
public:
  explicit pki(const temp_dir &dir) : dir_(dir.path().string()) {
    cli_ = openssl_cli();
    if (cli_.empty())
      throw std::runtime_error(
          "the openssl command is missing (scripts/setup.sh installs it)");
    ca_ = make_ca("ca");
    collector_ = make_leaf("collector", "ca");
    agent_ = make_leaf("agent", "ca");
    stranger_ca_ = make_ca("stranger-ca");
    stranger_ = make_leaf("stranger", "stranger-ca");
  }
  const std::string &ca() const {
    return ca_.cert;
  }
  const std::string &stranger_ca() const {
    return stranger_ca_.cert;
  }
  const party &collector() const {
    return collector_;
  }
  const party &agent() const {
    return agent_;
  }
  const party &stranger() const {
    return stranger_;
  }

  /// The tls.* flags of a party that trusts `ca`.
  static std::vector<std::string> flags(const party &p, const std::string &ca) {
    return {"--tls.certificate=" + p.cert, "--tls.key=" + p.key,
            "--tls.ca=" + ca};
  }

  /// A leaf certificate with subject CN=`name`, signed by CA `ca` ("ca" or
  /// "stranger-ca"): a fleet host's certificate names its host.
  party make_leaf(const std::string &name, const std::string &ca = "ca") {
    party p{dir_ + "/" + name + ".pem", dir_ + "/" + name + ".key"};
    auto csr = dir_ + "/" + name + ".csr";
    openssl({"req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
             "-nodes", "-keyout", p.key, "-out", csr, "-subj", "/CN=" + name});
    openssl({"x509", "-req", "-in", csr, "-CA", dir_ + "/" + ca + ".pem",
             "-CAkey", dir_ + "/" + ca + ".key", "-set_serial",
             std::to_string(++serial_), "-days", "2", "-out", p.cert});
    return p;
  }

private:
  void openssl(const std::vector<std::string> &args) {
    auto r = run(cli_, args, {}, std::chrono::seconds(60));
    if (r.status != 0)
      throw std::runtime_error("openssl " + args.at(0) + " failed ("
                               + std::to_string(r.status) + "): " + r.err);
  }
  party make_ca(const std::string &name) {
    party p{dir_ + "/" + name + ".pem", dir_ + "/" + name + ".key"};
    openssl({"req", "-x509", "-newkey", "ec", "-pkeyopt",
             "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", p.key, "-out",
             p.cert, "-days", "2", "-subj", "/CN=" + name});
    return p;
  }
  std::string dir_, cli_;
  int serial_ = 1000;
  party ca_, collector_, agent_, stranger_ca_, stranger_;
};

} // namespace proctrack_test
