// SPDX-License-Identifier: MIT
// A real ejabberd 23.01 on 127.0.0.1: its own config dir, spool, logs, Erlang node name and
// cookie, free loopback ports, a self-signed certificate per virtual host. Erlang distribution
// listens on a fixed loopback port (ERL_DIST_PORT), so no epmd is ever needed or started; the
// fixture still checks, and stops any epmd that appeared because of it. ejabberd is started
// detached (`ejabberdctl start`), found by its pidfile, ready when its log says it started and
// its ports accept, and stopped by that PID on destruction.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "support/process.hpp"

namespace xnet::test {

/// One mod_stun_disco service (XEP-0215 extdisco:2).
struct EjabberdStunService {
  std::string type = "stun";  ///< stun, turn, stuns, turns
  std::string transport = "udp";
  std::string host = "127.0.0.1";
  std::uint16_t port = 3478;
  bool restricted = false;  ///< true: ejabberd mints TURN REST credentials from stun_secret
};

struct EjabberdOptions {
  std::string domain = "localhost";  ///< first virtual host: mod_sic, mod_ping, mod_stun_disco
  /// mod_stun_disco services of the first host (the module is loaded only when non-empty).
  std::vector<EjabberdStunService> stun_services;
  std::string stun_secret = "north";  ///< mod_stun_disco `secret` (coturn's static-auth-secret)
  /// Extra virtual hosts with only mod_disco and mod_ping (no SIC, no XEP-0215): the server a
  /// component's services must be found behind.
  std::vector<std::string> plain_hosts;
  /// XEP-0114 components: name → secret (an ejabberd_service listener opens when non-empty).
  std::vector<std::pair<std::string, std::string>> components;
  /// mod_ping send_pings: ping every client idle this many seconds and kill the session when
  /// no answer comes within 5 s (0: ejabberd's default, no pings). ejabberd sends the next ping
  /// only after an answer, so a second ping proves the first was answered.
  int ping_interval = 0;
};

class Ejabberd {
 public:
  /// Why ejabberd cannot run here (not installed, not root, no 'ejabberd' user), or nullopt.
  static std::optional<std::string> unavailable();

  explicit Ejabberd(EjabberdOptions options = {});
  ~Ejabberd();
  Ejabberd(const Ejabberd&) = delete;
  Ejabberd& operator=(const Ejabberd&) = delete;

  /// Create an account (ejabberdctl register) on host (default: the first virtual host).
  void add_user(const std::string& user, const std::string& password, const std::string& host = {});

  const std::string& domain() const { return opts_.domain; }
  std::uint16_t c2s_port() const { return c2s_port_; }
  std::uint16_t direct_tls_port() const { return tls_port_; }
  std::uint16_t component_port() const { return component_port_; }
  /// "127.0.0.1:PORT" for --server / --router.
  std::string server() const { return "127.0.0.1:" + std::to_string(c2s_port_); }
  std::string direct_tls_server() const { return "127.0.0.1:" + std::to_string(tls_port_); }
  std::string router() const { return "127.0.0.1:" + std::to_string(component_port_); }
  /// All certificates of the virtual hosts in one PEM bundle (use as --ca-file).
  std::string ca_file() const { return ca_.string(); }
  /// The beam.smp process of this node.
  pid_t pid() const { return pid_; }
  /// Whether an epmd appeared while this node started (it should not: ERL_DIST_PORT is set).
  bool started_epmd() const { return !epmd_pids_.empty(); }
  /// ejabberd.log and error.log (for failure messages).
  std::string log() const;

 private:
  void write_config();
  RunResult ctl(std::vector<std::string> args) const;
  void stop();

  EjabberdOptions opts_;
  TempDir dir_;
  std::filesystem::path etc_, ca_;
  std::string node_, cookie_;
  std::uint16_t c2s_port_ = 0, tls_port_ = 0, component_port_ = 0, dist_port_ = 0;
  std::vector<std::pair<std::string, std::pair<std::filesystem::path, std::filesystem::path>>> certs_;
  pid_t pid_ = -1;
  std::vector<pid_t> epmd_pids_;
};

}  // namespace xnet::test
