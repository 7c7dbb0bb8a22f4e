// SPDX-License-Identifier: MIT
// A real coturn (turnserver) on 127.0.0.1 with a fresh port, TURN REST credentials
// (use-auth-secret + static-auth-secret) and a temp config. Runs in the foreground as our
// child and is stopped by its PID on destruction.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "support/process.hpp"

namespace xnet::test {

struct CoturnOptions {
  std::string secret = "north";   ///< static-auth-secret shared with the XMPP server
  std::string realm = "xnet.test";
  bool tls = false;               ///< also listen for TLS (stuns/turns) with a self-signed certificate
};

class Coturn {
 public:
  /// Why coturn cannot run here (turnserver missing), or nullopt.
  static std::optional<std::string> unavailable();

  explicit Coturn(CoturnOptions options = {});
  ~Coturn();
  Coturn(const Coturn&) = delete;

  /// The STUN/TURN port, open on UDP and TCP.
  std::uint16_t port() const { return port_; }
  /// The TLS port (stuns/turns) when started with tls, else 0.
  std::uint16_t tls_port() const { return tls_port_; }
  /// The self-signed certificate of the TLS listener (CN localhost, IP 127.0.0.1).
  std::string cert() const { return cert_.string(); }
  const std::string& secret() const { return opts_.secret; }
  const std::string& realm() const { return opts_.realm; }
  /// The server log (for failure messages).
  std::string log() const;

 private:
  CoturnOptions opts_;
  TempDir dir_;
  std::uint16_t port_ = 0, tls_port_ = 0;
  std::filesystem::path cert_, key_;
  std::optional<Process> proc_;
};

}  // namespace xnet::test
