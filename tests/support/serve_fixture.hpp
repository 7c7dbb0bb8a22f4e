// SPDX-License-Identifier: MIT
// Test support: a real `xnet serve` on 127.0.0.1 (free ports, temp state dir, generated
// certificate, optional accounts and TOML config), ready when its --port-file appears.
// Stopped by its own PID on destruction.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "support/process.hpp"

namespace xnet::test {

/// A serve config with one STUN and one restricted TURN service (TURN REST secret "north",
/// ttl 3600), for tests of the XEP-0215 forms.
inline constexpr const char* kTestExternalServices = R"(
[[external_services]]
type = "stun"
host = "127.0.0.1"
port = 3478
transport = "udp"

[[external_services]]
type = "turn"
host = "127.0.0.1"
port = 3479
transport = "udp"
secret = "north"
ttl = 3600
restricted = true
)";

struct ServeFixtureOptions {
  std::vector<std::pair<std::string, std::string>> users;  ///< created before start
  std::string config_toml;         ///< written to STATE/serve.toml and passed with --server-config
  std::vector<std::string> extra_args;  ///< e.g. {"--anonymous"}, {"--proxy-protocol"}
  bool json_logs = false;          ///< --json: JSON lines on stdout and stderr
  bool ipv6 = false;               ///< listen on ::1 too
};

class ServeFixture {
 public:
  explicit ServeFixture(ServeFixtureOptions options = {});
  ~ServeFixture();
  ServeFixture(const ServeFixture&) = delete;

  std::uint16_t c2s_port() const { return c2s_port_; }
  std::uint16_t direct_tls_port() const { return tls_port_; }
  std::string server() const { return "127.0.0.1:" + std::to_string(c2s_port_); }
  std::string direct_tls_server() const { return "127.0.0.1:" + std::to_string(tls_port_); }
  std::string domain() const { return "localhost"; }
  /// The generated self-signed certificate (use as --ca-file).
  std::string cert() const { return (dir_.path() / "state" / "cert.pem").string(); }
  std::filesystem::path state_dir() const { return dir_.path() / "state"; }
  std::filesystem::path config_path() const { return dir_.path() / "state" / "serve.toml"; }
  const std::filesystem::path& dir() const { return dir_.path(); }
  /// The ready object written to the port file.
  const nlohmann::json& ready() const { return ready_; }
  pid_t pid() const { return proc_->pid(); }
  Process& process() { return *proc_; }

  /// Replace the TOML config (takes effect on reload()).
  void write_config(const std::string& toml);
  /// SIGHUP: re-read config and accounts.
  void reload();
  /// stderr so far (the log lines).
  std::string log() const;
  /// Poll the log until it contains needle (bounded by timeout).
  bool wait_log(const std::string& needle, std::chrono::milliseconds timeout = std::chrono::seconds(10)) const;
  /// SIGTERM and wait; returns the exit status.
  int stop();

 private:
  ServeFixtureOptions opts_;
  TempDir dir_;
  std::unique_ptr<Process> proc_;
  std::uint16_t c2s_port_ = 0, tls_port_ = 0;
  nlohmann::json ready_;
};

}  // namespace xnet::test
