// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

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
  std::string host;                ///< empty: SRV lookup / JID domain (done by libstrophe)
  std::uint16_t port = 0;          ///< 0: default (5222, or 5223 with direct_tls)
  bool direct_tls = false;         ///< XEP-0368 direct TLS instead of STARTTLS
  std::string ca_file;             ///< CA bundle to verify against instead of the system store
  bool insecure = false;           ///< skip certificate verification
  std::string resource;            ///< requested resource ("" = server-assigned)
};

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
};

using DiscoInfo = xep0030::DiscoInfo;

/// A client session: RAII over libstrophe's xmpp_ctx_t/xmpp_conn_t. It connects, negotiates
/// TLS (mandatory; plaintext passwords are never sent), authenticates, binds, and then
/// answers synchronous requests. Single-threaded: use it from one thread.
class Session {
 public:
  /// Connect and wait until a resource is bound or fail with a categorised error
  /// (Dns, Connect, Tls, Auth, Timeout, Protocol) before deadline.
  static Result<Session> open(const ConnectConfig& config, Trace& trace, Deadline deadline);

  Session(Session&&) noexcept;
  Session& operator=(Session&&) noexcept;
  ~Session();  ///< closes the stream cleanly if still open

  const ConnectionInfo& info() const;

  /// Send iq (an <iq/> of type get or set; an id is assigned when missing) and wait for the
  /// reply. A result IQ is returned; an error IQ becomes Category::Remote with
  /// Error::stanza set; no reply before deadline → Timeout; lost stream → Connect/Protocol.
  Result<xml::Element> request(xml::Element iq, Deadline deadline);

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

  /// Close the stream and wait briefly for the server's close.
  void close();

  /// A fresh unique stanza id.
  std::string next_id();

 private:
  struct Impl;
  explicit Session(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
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
/// Remove SASL payloads (auth/response/challenge/success) and password from a traced XML line.
std::string redact(std::string_view xml_text, std::string_view password);

}  // namespace xnet::xmpp
