// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/io_context.hpp>

#include "error.hpp"
#include "trace.hpp"
#include "util/deadline.hpp"
#include "xml/element.hpp"
#include "xep/xep0030.hpp"

namespace xnet::xmpp {

/// How to reach and authenticate to an XMPP server.
struct ConnectConfig {
  std::string jid;                 ///< bare or full JID
  std::string password;
  std::string host;                ///< empty: SRV lookup (XEP-0368 merged), then the JID domain
  std::uint16_t port = 0;          ///< 0: default (5222, or 5223 with direct_tls)
  bool direct_tls = false;         ///< XEP-0368 direct TLS instead of STARTTLS
  int family = 0;                  ///< 0 = IPv4 and IPv6 (Happy Eyeballs), 4 or 6 = only that family
  std::string ca_file;             ///< CA bundle to verify against instead of the system store
  bool insecure = false;           ///< skip certificate verification
  std::string resource;            ///< requested resource ("" = server-assigned)
  /// XEP-0484 FAST (--no-fast turns it off): where the server offers SASL2, log in with the
  /// token stored for this account and server, ask for one when there is none, and keep the
  /// rotated one. A refused token is deleted and the password used instead, silently.
  bool fast = true;
  /// Where FAST tokens and the per-machine client id live ("" = default_state_dir()).
  std::string state_dir;
  /// Asked (once) when the password is needed but empty: a stored FAST token was refused or
  /// is unusable. Time spent in it extends every deadline of the session, so a prompt does not
  /// eat the --timeout budget.
  std::function<Result<std::string>()> password_provider;
  /// XEP-0484 §4.5 (logout --revoke): authenticate with the stored token asking the server to
  /// invalidate it; no password fallback, no new token.
  bool fast_invalidate = false;
};

/// The server part of the key FAST tokens are stored under for config: host:port when a
/// host is given (the default port of the TLS mode when none), else the JID's domain.
std::string fast_server_key(const ConnectConfig& config);
/// True when a usable (unexpired) FAST token is stored for config's account and server
/// (and config.fast is set), i.e. the login may need no password.
bool has_fast_token(const ConnectConfig& config);

/// Facts about an established session, for reports.
struct ConnectionInfo {
  std::string bound_jid;
  std::string server_host;   ///< the host name or address connected to
  std::string server_ip;     ///< the peer address of the socket
  std::uint16_t server_port = 0;
  std::string local_ip;      ///< the local address of the socket
  std::uint16_t local_port = 0;
  std::string tls;           ///< "starttls" or "direct"
  double connect_ms = 0;     ///< time until the resource was bound
  std::string mechanism;     ///< the SASL mechanism that authenticated ("HT-SHA-256-NONE", ...)
  bool sasl2 = false;        ///< XEP-0388 was used
  bool fast = false;         ///< authenticated with a stored XEP-0484 token
  bool token_stored = false; ///< the server issued a (new) FAST token and it was stored
};

using DiscoInfo = xep0030::DiscoInfo;

/// Options for Session::open beyond the account.
struct OpenOptions {
  /// IQs sent in the same flight as the resource binding (their ids must be set, e.g. with
  /// Session::make_id()); collect their replies with Session::wait_reply().
  std::vector<xml::Element> first_flight;
};

/// A client session over Asio + OpenSSL and the sans-IO negotiation codec: it resolves (SRV),
/// connects (Happy Eyeballs), negotiates TLS (mandatory; plaintext passwords are never sent),
/// authenticates, binds, and then carries requests matched by id. It answers XEP-0199 pings and
/// can keep the link alive. Single-threaded: everything runs on one io_context.
class Session {
 public:
  /// Connect and wait until a resource is bound or fail with a categorised error
  /// (Dns, Connect, Tls, Auth, NotSupported, Timeout, Protocol) before deadline. The session
  /// runs on its own io_context (see io()).
  static Result<Session> open(const ConnectConfig& config, Trace& trace, Deadline deadline,
                              OpenOptions options = {});
  /// The same on the caller's io (STUN probes, PASS relays and the stream share one loop).
  static Result<Session> open(asio::io_context& io, const ConnectConfig& config, Trace& trace,
                              Deadline deadline, OpenOptions options = {});

  /// The io_context this session runs on. Blocking calls of Session (request, poll, run_until)
  /// run it, so handlers of other users of io run inside them too.
  asio::io_context& io();

  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;
  ~Session();  ///< closes the stream cleanly if still open

  const ConnectionInfo& info() const;

  /// Send iq (an <iq/> of type get or set; an id is assigned when missing) and wait for the
  /// reply. A result IQ is returned; an error IQ becomes Category::Remote with
  /// Error::stanza set; no reply before deadline → Timeout; lost stream → Connect/Protocol.
  Result<xml::Element> request(xml::Element iq, Deadline deadline);

  /// Send iq without waiting (an id is assigned when missing, and returned). done runs on io()
  /// with the reply (error IQ → Category::Remote with Error::stanza), or with the error that
  /// ended the session. Several requests can be in flight at once.
  std::string send_request(xml::Element iq, std::function<void(Result<xml::Element>)> done);

  /// Send iq without waiting and keep its reply for wait_reply(id); returns the id.
  std::string send_request(xml::Element iq);

  /// Send all iqs in one flight and wait for every reply (or the deadline); results in order.
  std::vector<Result<xml::Element>> request_all(std::vector<xml::Element> iqs, Deadline deadline);

  /// Wait for the reply to an IQ sent with OpenOptions::first_flight or send_request(iq) (by its id).
  Result<xml::Element> wait_reply(const std::string& id, Deadline deadline);

  /// disco#info of jid ("" = the server itself).
  Result<DiscoInfo> disco_info(const std::string& jid, Deadline deadline);

  /// Send a stanza without waiting.
  void send(const xml::Element& stanza);

  /// Handler for incoming stanzas that no pending request consumes (pushes, IQ sets,
  /// messages). Unanswered IQ get/set are answered service-unavailable when it returns false.
  void on_stanza(std::function<bool(const xml::Element&)> handler);

  /// Run the event loop for up to max_wait (or until the stream ends). Returns an error when
  /// the connection is lost.
  Result<void> poll(std::chrono::milliseconds max_wait);

  /// Run until stop() returns true or deadline passes (Timeout) or the connection is lost.
  Result<void> run_until(const std::function<bool()>& stop, Deadline deadline);

  /// Keep a long-lived session alive and notice a dead link: after interval without any
  /// byte from the server, send a XEP-0199 ping; when nothing at all arrives within timeout
  /// of that, the session fails with Category::Timeout (poll/run_until/request return it, and
  /// the on_failure handler runs). interval 0 turns it off.
  void set_keepalive(std::chrono::milliseconds interval, std::chrono::milliseconds timeout);

  /// Called once on io() when the session ends by itself (stream error, lost or dead link).
  void on_failure(std::function<void(const Error&)> handler);

  /// True until the stream is closed or has failed.
  bool alive() const;

  /// Send </stream:stream> and close the connection, without waiting for the server's close.
  void close();

  /// A fresh unique stanza id.
  std::string next_id();
  /// A unique stanza id for use before a session exists (OpenOptions::first_flight).
  static std::string make_id();

 private:
  struct Impl;
  explicit Session(std::shared_ptr<Impl> impl);
  static Result<Session> open_impl(asio::io_context* io, const ConnectConfig& config, Trace& trace,
                                   Deadline deadline, OpenOptions options);
  std::shared_ptr<Impl> impl_;
};

/// "user@domain" from "user@domain/resource".
std::string bare_jid(std::string_view jid);
/// "domain" from "user@domain/resource" (or from "domain").
std::string jid_domain(std::string_view jid);

/// Build an IQ reply of type error for request with condition (RFC 6120 §8.3).
xml::Element make_error_reply(const xml::Element& request, std::string_view type,
                              std::string_view condition, std::string_view text = {});
/// Build an empty result IQ for request.
xml::Element make_result_reply(const xml::Element& request);
/// Extract the stanza error from an error stanza.
StanzaError parse_stanza_error(const xml::Element& stanza);

}  // namespace xnet::xmpp
