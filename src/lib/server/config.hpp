// SPDX-License-Identifier: MIT
#pragma once

// The `xnet serve` configuration file (TOML). Every key is optional; command-line options
// override it. Unknown keys are errors. Example:
//
//   domain = "example.org"
//   listen = ["127.0.0.1", "::1"]       # addresses for every listener
//   c2s_port = 5222                      # STARTTLS listener; 0 = a free port
//   direct_tls_port = 5223               # XEP-0368 direct TLS; 0 = a free port
//   direct_tls = true                    # false: no direct-TLS listener
//   proxy_protocol = false               # expect a PROXY v2 header on every connection
//   require_starttls = true
//   anonymous = false                    # SASL ANONYMOUS
//   plain = true                         # SASL PLAIN (over TLS only)
//   state_dir = "~/.local/state/xnet"
//   accounts_file = "accounts.json"      # relative to state_dir
//   certificate = "/etc/xnet/cert.pem"   # both or neither; neither = generated self-signed
//   key = "/etc/xnet/key.pem"
//
//   [limits]
//   max_stanza_bytes = 65536
//   max_connections_per_ip = 32
//   auth_timeout = 30                    # seconds
//   idle_timeout = 600
//   keepalive_interval = 120
//   max_auth_failures = 3
//   auth_failure_delay_ms = 1000
//   max_outbound_bytes = 2097152
//   max_sessions_per_account = 16
//   handshake_timeout = 10               # accept to stream header, and each TLS handshake
//   max_connections = 0                  # all clients; 0 = from the fd limit
//   account_auth_burst = 10              # failed logins per account before throttling
//   account_auth_refill_ms = 6000        # one more allowed per interval
//   address_auth_burst = 20              # failed logins per address (IPv6: /64)
//   address_auth_refill_ms = 3000
//
//   [[external_services]]                # XEP-0215 list, re-read on SIGHUP
//   type = "turn"
//   host = "turn.example.org"
//   port = 3478
//   transport = "udp"
//   secret = "north"                     # TURN REST (coturn static-auth-secret)
//   ttl = 86400
//   restricted = true
//
//   [component]                          # XEP-0114 component mode
//   jid = "xnet.example.org"
//   router = "127.0.0.1:5347"
//   secret_file = "/etc/xnet/component.secret"

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"
#include "server/external.hpp"
#include "server/hub.hpp"

namespace xnet::server {

struct ServeConfig {
  std::string domain = "localhost";
  std::vector<std::string> listen = {"127.0.0.1", "::1"};
  int c2s_port = 5222;
  int direct_tls_port = 5223;
  bool direct_tls = true;
  bool proxy_protocol = false;
  bool require_starttls = true;
  bool anonymous = false;
  bool plain = true;
  std::string state_dir;      ///< "" = default_state_dir()
  std::string accounts_file;  ///< "" = <state_dir>/accounts.json
  std::string certificate, key;
  std::string server_name = "xnet serve";
  int tls_session_tickets = 1;  ///< TLS 1.3 tickets sent after a handshake (0 = no resumption)
  Limits limits;
  std::vector<ExternalService> external_services;
  std::string component_jid, component_router, component_secret_file;
};

/// Parses text (TOML) over defaults. Errors are Category::Config naming source_name and the key.
Result<ServeConfig> parse_serve_config(std::string_view text, std::string_view source_name,
                                       ServeConfig defaults = {});
/// Reads and parses path (Category::Config when it cannot be read).
Result<ServeConfig> load_serve_config(const std::filesystem::path& path, ServeConfig defaults = {});

/// `$XDG_STATE_HOME/xnet`, else `$HOME/.local/state/xnet`, else `./.xnet-state`.
std::filesystem::path default_state_dir();

}  // namespace xnet::server
