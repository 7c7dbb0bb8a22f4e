// SPDX-License-Identifier: MIT
// A real Prosody 0.12 on 127.0.0.1 with fresh ports, a temp config, a self-signed certificate
// and created accounts. Stopped by its own PID (from its pidfile) on destruction.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace xnet::test {

struct ProsodyOptions {
  std::string domain = "localhost";
  std::vector<std::string> modules{"ipcheck"};  ///< extra modules (plus the basic set)
  std::string host_config;                      ///< Lua lines inside the VirtualHost
  std::string global_config;                    ///< Lua lines at global level
  bool nagle = false;                           ///< Prosody's default is on; tests want it off
  /// Components: name → secret (a component_ports listener is opened when non-empty).
  std::vector<std::pair<std::string, std::string>> components;
};

class Prosody {
 public:
  /// Why Prosody cannot run here (binary missing, not root), or nullopt.
  static std::optional<std::string> unavailable();

  explicit Prosody(ProsodyOptions options = {});
  ~Prosody();
  Prosody(const Prosody&) = delete;

  /// Create an account (prosodyctl register).
  void add_user(const std::string& user, const std::string& password);

  const std::string& domain() const { return opts_.domain; }
  std::uint16_t c2s_port() const { return c2s_port_; }
  std::uint16_t direct_tls_port() const { return tls_port_; }
  std::uint16_t component_port() const { return component_port_; }
  /// The self-signed certificate the server presents (use as --ca-file).
  std::string cert() const { return cert_.string(); }
  const std::filesystem::path& dir() const { return dir_.path(); }
  /// The server log (for test failure messages).
  std::string log() const;
  /// "127.0.0.1:PORT" for --server.
  std::string server() const { return "127.0.0.1:" + std::to_string(c2s_port_); }
  std::string direct_tls_server() const { return "127.0.0.1:" + std::to_string(tls_port_); }

 private:
  void write_config();
  ProsodyOptions opts_;
  TempDir dir_;
  std::filesystem::path config_, cert_, key_;
  std::uint16_t c2s_port_ = 0, tls_port_ = 0, component_port_ = 0;
  pid_t pid_ = -1;
};

}  // namespace xnet::test
