// SPDX-License-Identifier: MIT
#pragma once

// `xnet serve` assembled from its options: the configuration file merged with the command line
// (once, field by field), the anonymous rule, the certificate, the hub, the listeners and the
// PASS relay; and component mode (XEP-0114). The cmd layer declares the options, calls open()
// and run(), and renders what they report.

#include <cstddef>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "error.hpp"
#include "pass/serve_options.hpp"
#include "server/config.hpp"
#include "server/event_log.hpp"
#include "server/server.hpp"
#include "trace.hpp"

namespace asio {
class io_context;
}

namespace xnet::server {

/// What the command line of `xnet serve` gave. Unset values (empty, -1, false) leave the
/// configuration file's value, or the default.
struct ServeOverrides {
  std::string config_file;  ///< --server-config
  std::string domain;
  std::vector<std::string> listen;
  int port = -1;
  int tls_port = -1;
  bool no_direct_tls = false;
  bool proxy_protocol = false;
  bool anonymous = false, no_anonymous = false;
  bool allow_plaintext = false;
  std::string cert, key, state_dir, accounts_file;
  std::vector<std::string> stun, turn;  ///< HOST[:PORT] announced over XEP-0215
  std::string turn_secret_file;
  long long max_stanza_bytes = -1, idle_timeout = -1, auth_timeout = -1, max_conn_per_ip = -1;
  std::string component, router, component_secret_file;
  pass::ServeOptions pass;  ///< --pass-* (PASS relay, XEP-0003)
};

/// The configuration file first, then the command line on top; state directory and accounts
/// file defaults filled in. Errors: Config (file), Usage (bad value), Io (TURN secret file).
Result<ServeConfig> resolve_serve_config(const ServeOverrides& o);

/// SASL ANONYMOUS: --anonymous, else not with --no-anonymous, else the file's setting or an
/// empty accounts file.
bool anonymous_allowed(const ServeOverrides& o, const ServeConfig& c, bool no_accounts);

/// The "listening" report of a c2s server (JSON event `listening`, schema xnet-serve).
struct ServeListening {
  std::string domain;  ///< normalised
  int c2s_port = 0;
  int direct_tls_port = 0;
  std::vector<BoundListener> listeners;
  std::string certificate;
  std::string fingerprint_sha256;
  bool certificate_generated = false;
  bool anonymous = false;
  std::size_t accounts = 0;
  std::string accounts_file;
  bool proxy_protocol = false;
  long pid = 0;
  std::optional<std::string> pass_jid, pass_range;
  std::string state_dir_option;  ///< --state-dir as given ("" = default), for the hint lines
};

/// The "ready" report of component mode.
struct ComponentReady {
  std::string jid;
  std::string router;  ///< HOST:PORT
  long pid = 0;
};

/// A c2s server built from the options and listening. run() serves until SIGINT/SIGTERM;
/// SIGHUP re-reads the configuration (STUN/TURN list) and the accounts.
class ServeInstance {
 public:
  /// Loads accounts, the certificate (generated once into the state directory when none is
  /// given), binds the listeners and plugs in the PASS relay. Warnings go to trace.
  static Result<std::unique_ptr<ServeInstance>> open(asio::io_context& io, ServeOverrides o, ServeConfig cfg,
                                                     EventLog& log, Trace& trace);
  ~ServeInstance();
  const ServeListening& listening() const;
  void run();

 private:
  ServeInstance();
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Component mode (cfg.component_jid set): attach to the router and serve until SIGINT/SIGTERM
/// (Ok) or until the link ends (its error). SIGHUP re-reads the STUN/TURN list. on_ready is
/// called once the handshake is done. Errors before connecting: Usage (no router, bad JID, no
/// secret; the secret comes from the file or $XNET_COMPONENT_SECRET).
Result<void> run_component(const ServeOverrides& o, const ServeConfig& cfg, EventLog& log, Trace& trace,
                           const std::function<void(const ComponentReady&)>& on_ready);

}  // namespace xnet::server
