// SPDX-License-Identifier: MIT
#pragma once

// The socket-free core of `xnet serve`: the Hub (accounts, routing between local sessions and
// plugged services). Client streams are C2sSession (c2s.hpp); the IQs the server answers itself
// are BuiltinIq's (builtin_iq.hpp, shared with the component). The Asio layer
// (server.hpp) feeds bytes in and carries bytes out through Transport; tests do the same with a
// fake Transport (STYLE §13).

#include <chrono>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/accounts.hpp"
#include "server/builtin_iq.hpp"
#include "server/c2s.hpp"
#include "server/event_log.hpp"
#include "server/external.hpp"
#include "server/fast_tokens.hpp"
#include "server/scram.hpp"
#include "server/service.hpp"
#include "server/throttle.hpp"
#include "trace.hpp"
#include "xml/stream_parser.hpp"

namespace asio {
class io_context;
}

namespace xnet::server {

/// Every server input is bounded (STYLE §13); each limit hit is answered with a stream error.
struct Limits {
  std::size_t max_stanza_bytes = 64 * 1024;     ///< policy-violation
  int max_connections_per_ip = 32;              ///< policy-violation at the stream header
  std::chrono::seconds auth_timeout{30};        ///< unauthenticated time: connection-timeout
  std::chrono::seconds idle_timeout{600};       ///< no data at all: connection-timeout
  std::chrono::seconds keepalive_interval{120};  ///< whitespace keepalive after this silence
  int max_auth_failures = 3;                    ///< then not-authorized stream error
  std::chrono::milliseconds auth_failure_delay{1000};  ///< back-off, multiplied by the failure count
  std::size_t max_outbound_bytes = 2 * 1024 * 1024;    ///< peer not reading: policy-violation
  int max_sessions_per_account = 16;            ///< resource-constraint on bind
  std::chrono::seconds handshake_timeout{10};   ///< from accept to stream header / TLS done
  int max_connections = 0;                      ///< all clients; 0 = derived from the fd limit
  ThrottleOptions auth_throttle;                ///< failed logins across connections
};

/// Server-wide settings the core needs.
struct HubOptions {
  std::string domain = "localhost";
  bool require_tls = true;        ///< STARTTLS required before SASL
  bool tls_available = true;      ///< a certificate is loaded
  bool allow_anonymous = false;   ///< SASL ANONYMOUS
  bool allow_plain = true;        ///< SASL PLAIN (only ever offered over TLS)
  std::string server_name = "xnet serve";
  std::string server_secret;      ///< key of the fake SCRAM credentials ("" = random per process)
  Limits limits;
  std::vector<ExternalService> external_services;  ///< at start; then BuiltinIq holds the list
  std::shared_ptr<FastTokenStore> fast_tokens;  ///< XEP-0484 tokens (null = FAST not offered)
};

/// Accounts, sessions, routing, built-in services and plug-in services of one server.
class Hub {
 public:
  Hub(HubOptions options, Accounts accounts, EventLog& log, Trace& trace);
  ~Hub();

  const HubOptions& options() const { return opts_; }
  const std::string& domain() const { return opts_.domain; }
  EventLog& log() { return log_; }
  Trace& trace() { return trace_; }
  const Accounts& accounts() const { return accounts_; }
  void set_accounts(Accounts a) {
    accounts_ = std::move(a);
    fake_iterations_ = accounts_.typical_iterations();
  }
  void set_allow_anonymous(bool on) { opts_.allow_anonymous = on; }
  /// SIGHUP: new accounts (nullopt = keep), the anonymous rule, the external service list; one
  /// "reload" log line with the counts.
  void reload(std::optional<Accounts> accounts, bool allow_anonymous, std::vector<ExternalService> services);
  /// The SCRAM credential shown for an unknown user (from the server secret).
  ScramCredential fake_credential(crypto::Hash h, const std::string& user) const;
  AuthThrottle& throttle() { return throttle_; }

  /// The event loop handed to services (nullptr in socket-free tests).
  void set_io(asio::io_context* io) { io_ = io; }
  asio::io_context* io() { return io_; }

  /// Plug in a service at `<name>.<domain>` (listed in disco#items). The hub keeps it.
  void add_service(std::unique_ptr<Service> service);
  /// Replace the external service list (SIGHUP) and push changes to interested sessions;
  /// returns the number of pushes.
  int reload_external_services(std::vector<ExternalService> list);

  /// Connection accounting per remote IP: false when the limit is reached.
  bool connection_opened(const std::string& ip);
  void connection_closed(const std::string& ip);

  /// Bind a resource for session (RFC 6120 §7): sets its full JID (s.jid()), or fails with a
  /// stanza-error condition.
  Result<void> bind(C2sSession& s, const std::string& user, const std::string& resource);
  void unbind(C2sSession& s);
  /// Route stanza (from already stamped) sent by session from.
  void route(xml::Element stanza, C2sSession& from);
  /// Route a stanza sent by a service (from its JID).
  void route_from_service(xml::Element stanza, const std::string& service_jid);
  /// Graceful shutdown: stream error system-shutdown to every session, detach services.
  void shutdown();
  /// Sessions currently bound.
  std::size_t session_count() const { return sessions_.size(); }
  const C2sSession* find_session(const std::string& full_jid) const;
  /// Ids for stream headers and pushes.
  std::string next_id(std::string_view prefix);
  std::uint64_t next_session_id() { return ++session_seq_; }
  /// Live sessions (negotiating or bound), for shutdown.
  void track(C2sSession* s);
  void untrack(C2sSession* s);
  /// Sessions not yet destroyed (negotiating, bound or closing).
  std::size_t live_sessions() const { return live_; }

  /// The IQs the server answers itself (disco, ping, SIC, XEP-0215 and its pushes, services).
  BuiltinIq& builtin_iq() { return iq_; }
  const std::vector<ExternalService>& external_services() const { return iq_.external_services(); }

 private:
  struct Slot;
  AccountKind account_kind(const std::string& bare) const;
  void bounce(const xml::Element& stanza, std::string_view condition, C2sSession& from);

  HubOptions opts_;
  Accounts accounts_;
  EventLog& log_;
  Trace& trace_;
  asio::io_context* io_ = nullptr;
  /// Normalised full JID → session; the key is a view of the session's own jid().
  std::map<std::string_view, C2sSession*, std::less<>> sessions_;
  std::unordered_map<std::string, int> per_account_;  ///< bare JID → bound sessions (O(1) limit check)
  C2sSession* live_head_ = nullptr;  ///< every live session, linked through the sessions themselves
  std::size_t live_ = 0;
  std::map<std::string, int> per_ip_;
  std::vector<std::unique_ptr<Slot>> services_;
  BuiltinIq iq_;
  AuthThrottle throttle_;
  int fake_iterations_ = 4096;
  std::uint64_t session_seq_ = 0;
  std::uint64_t id_seq_ = 0;
};

}  // namespace xnet::server
