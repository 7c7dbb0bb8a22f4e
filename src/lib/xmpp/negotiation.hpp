// SPDX-License-Identifier: MIT
#pragma once

// The client side of an XMPP stream (RFC 6120) as a sans-IO codec: bytes in, bytes and events
// out, no sockets, no timers, no Asio (so the fuzz build with clang 14 can use it). A thin
// transport (xmpp/session.cpp) drives it:
//
//   ClientNegotiator n(config, trace);
//   n.start();                                  // STARTTLS: header (+ <starttls/>) queued
//   write(n.take_output());
//   on read(bytes):   n.feed(bytes);  handle n.next_event() until empty;  write(n.take_output());
//   on StartTls:      do the TLS handshake, then n.tls_established(info); write(n.take_output());
//   on EOF:           n.end_of_input();  (then drain events)
//
// The codec owns the XML trace (--debug=xml): it reports every element it sends or receives to
// Trace::wire(TraceArea::Xml, ...) already redacted (SASL payloads, FAST tokens, the password).
// The transport must not trace XMPP bytes itself.

#include <cstddef>
#include <cstdint>
#include <deque>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"
#include "trace.hpp"
#include "xml/element.hpp"

namespace xnet::xmpp {

/// Limits on everything the server sends. Exceeding one ends the negotiation with a
/// Category::Protocol failure naming the limit (the codec never grows without bound).
struct NegotiationLimits {
  std::size_t max_depth = 32;                    ///< XML element nesting (stream root = 1)
  std::size_t max_stanza_bytes = 256 * 1024;     ///< bytes of one first-level element
  std::size_t max_pre_session_bytes = 512 * 1024;  ///< bytes received before Bound
  std::size_t max_features = 64;                 ///< children of one <stream:features/>
  std::size_t max_mechanisms = 64;               ///< <mechanism/> entries in one list
  std::size_t max_error_text = 512;              ///< bytes of a server error text kept (truncated)
  std::size_t max_sasl_rounds = 8;               ///< SASL challenges accepted in one exchange
  std::size_t max_queued_events = 4096;          ///< undrained events before the codec fails
};

/// A stored XEP-0484 FAST token (used only with SASL2; see NegotiatorConfig::fast_token).
struct FastToken {
  std::string mechanism;  ///< e.g. "HT-SHA-256-NONE"
  std::string token;      ///< the secret; never traced
  std::string expiry;     ///< XEP-0082 date-time as sent by the server ("" = unknown)
};

/// What the codec needs to log in. An empty password (with a non-anonymous JID) is asked for
/// with Event::Kind::NeedPassword only when it is needed (no usable FAST token). TLS is always required unless require_tls is false (tests
/// against plaintext loopback servers only), and PLAIN is never used without TLS.
struct NegotiatorConfig {
  /// The account: "user@domain" (a "/resource" suffix is ignored; use resource). A JID
  /// without a local part ("domain") logs in with SASL ANONYMOUS.
  std::string jid;
  /// The password (unused for ANONYMOUS). Never traced; redacted wherever it might appear.
  std::string password;
  /// The resource to ask for in bind ("" = let the server choose, RFC 6120 §7.6). Bind2 lets
  /// the server choose, so a resource set here means RFC 6120 bind after SASL2 success.
  std::string resource;
  /// XEP-0368: the transport speaks TLS from the first byte; start() queues nothing and the
  /// stream header goes out from tls_established().
  bool direct_tls = false;
  /// STARTTLS mode: send <starttls/> right behind the first stream header without waiting
  /// for <stream:features/> (TLS is required anyway). If the server rejects that step the
  /// codec emits Event::Kind::Retry: reconnect with this set to false.
  bool pipeline_starttls = true;
  /// When false (tests only), a server that offers no STARTTLS is used in plaintext; PLAIN is
  /// still refused there, SCRAM and ANONYMOUS are allowed.
  bool require_tls = true;
  /// SASL mechanisms allowed, most preferred first. Empty = the default order:
  /// SCRAM-SHA-256-PLUS, SCRAM-SHA-1-PLUS, SCRAM-SHA-256, SCRAM-SHA-1, PLAIN (ANONYMOUS for a
  /// domain-only JID). -PLUS needs TLS 1.3, TlsInfo::exporter, and the server listing
  /// tls-exporter in its XEP-0440 <sasl-channel-binding/> feature.
  std::vector<std::string> mechanisms;
  /// XEP-0388: use SASL2 (with XEP-0386 Bind2 inline) when the server offers it, else SASL1.
  bool sasl2 = true;
  /// XEP-0388 <user-agent id=...>: a stable per-machine UUID ("" = none sent). Bind2 tag too.
  std::string user_agent_id;
  /// XEP-0386 Bind2 tag (the client name, e.g. "xnet").
  std::string bind2_tag = "xnet";
  /// XEP-0484: a stored token to try first over SASL2 (falls back to the password silently).
  /// With a token, the SASL2 <authenticate/> is sent in the same flight as the stream header
  /// after TLS (the token came from a SASL2 server), so login costs one round trip.
  std::optional<FastToken> fast_token;
  /// XEP-0484: ask the server for a FAST token (delivered as Event::Kind::FastToken).
  bool request_fast_token = false;
  /// XEP-0484 §4.5: with fast_token, ask the server to invalidate the token (log out). A
  /// refused token is then an Auth failure, never a fallback to the password.
  bool fast_invalidate = false;
  /// Test hook: the SCRAM client nonce ("" = random).
  std::string scram_nonce;
  NegotiationLimits limits;
};

/// What the transport learnt from the TLS handshake.
struct TlsInfo {
  /// The negotiated protocol as OpenSSL names it ("TLSv1.3", "TLSv1.2").
  std::string version;
  /// RFC 9266 tls-exporter channel-binding data: 32 bytes of
  /// SSL_export_keying_material(ssl, out, 32, "EXPORTER-Channel-Binding", ..., nullptr, 0, 0).
  /// Empty = not available (then no -PLUS mechanism is used). Only used with TLS 1.3.
  std::string exporter;
};

/// One thing the transport must act on or report, in the order it happened.
struct Event {
  enum class Kind {
    StartTls,   ///< <proceed/> received: start the TLS handshake now, then call tls_established()
    Bound,      ///< the session is up: jid is the full JID the server bound (authoritative)
    Stanza,     ///< a stanza (iq/message/presence/other) after Bound, in stream order
    FastToken,  ///< XEP-0484: store token (replaces any earlier one for this account); an
                ///< empty token.token means "discard the stored token" (refused or unusable)
    Retry,      ///< the server rejected a pipelined step: close and reconnect. After a
                ///< FastToken event with an empty token on this connection: without the
                ///< token (stanzas had been pipelined behind it); else with
                ///< pipeline_starttls = false. error says what happened.
    NeedPassword,  ///< the password is needed now (no usable FAST token, or it was refused):
                   ///< call provide_password(); the codec waits meanwhile
    Closed,     ///< the server closed the stream cleanly (</stream:stream>) after Bound
    Failed,     ///< negotiation or stream failed; error has the category; nothing more follows
  };
  Kind kind = Kind::Failed;
  std::string jid;          ///< Bound: the bound full JID
  xml::Element stanza;      ///< Stanza: the element (namespaces resolved, see xml::Element)
  FastToken token;          ///< FastToken
  Error error;              ///< Failed, Retry
  std::string condition;    ///< Failed: the stream-error / SASL / stanza condition, if any
};

/// Where the negotiation is (for diagnostics; the events are the contract).
enum class NegotiationState {
  Idle,          ///< constructed, start() not yet called
  Connecting,    ///< first stream header sent or awaited
  TlsHandshake,  ///< StartTls emitted, waiting for tls_established()
  Authenticating,
  Binding,
  Bound,         ///< session up: send() writes immediately
  Closing,       ///< close() called
  Done,          ///< Closed or Failed emitted
};

/// The sans-IO client negotiator. Single-threaded. All methods are cheap and never block.
class ClientNegotiator {
 public:
  /// config is copied; trace must outlive the negotiator.
  ClientNegotiator(NegotiatorConfig config, Trace& trace);
  ~ClientNegotiator();
  ClientNegotiator(const ClientNegotiator&) = delete;
  ClientNegotiator& operator=(const ClientNegotiator&) = delete;

  /// Begin: with STARTTLS, queues the stream header (and <starttls/> when pipelined).
  /// With direct TLS, queues nothing: call tls_established() once the handshake is done.
  void start();

  /// Hand over bytes received from the server (decrypted). Events are queued; output may be
  /// queued (SASL responses, restart + bind + pending stanzas in one flight, ping answers).
  /// After a Failed event further input is ignored. Bytes the server sends after <proceed/>
  /// in the same plaintext read are refused (STARTTLS command injection).
  void feed(std::string_view bytes);

  /// The TLS handshake finished (after StartTls, or at connect for direct TLS). Queues the
  /// (new) stream header at once, so it can leave in the same flight as the TLS Finished.
  void tls_established(const TlsInfo& info);

  /// The transport reached EOF or lost the connection: queues Closed (after a clean close)
  /// or Failed (Category::Connect, "connection closed by the server ...").
  void end_of_input();

  /// Bytes to write now (possibly empty); the internal buffer is cleared.
  std::string take_output();
  /// True when take_output() would return something.
  bool has_output() const;

  /// The next event, or nullopt when none is queued.
  std::optional<Event> next_event();

  /// Send a stanza (iq/message/presence, ns "jabber:client" or empty). Before Bound it is
  /// held and written in the same flight as bind (after SASL success), so a verb's first
  /// requests cost no extra round trip; after Bound it is queued for output at once.
  /// Children with an empty ns inherit their parent's namespace when serialised.
  void send(const xml::Element& stanza);

  /// Queue a whitespace keepalive (RFC 6120 §4.6.1); only after Bound.
  void keepalive();
  /// Queue an XEP-0199 ping to the server and return its id (the reply is a Stanza event:
  /// an iq result or error with that id; either proves the link is alive).
  std::string ping();

  /// The password after Event::Kind::NeedPassword: authentication continues on this stream.
  void provide_password(std::string password);

  /// Queue </stream:stream> (once). The transport may close the socket after writing it
  /// without waiting for the server's close.
  void close();

  /// The current state.
  NegotiationState state() const;
  /// The bound full JID ("" before Bound).
  const std::string& bound_jid() const;
  /// The last <stream:features/> received (empty Element before the first).
  const xml::Element& features() const;
  /// The SASL mechanism used ("" before authentication), e.g. "SCRAM-SHA-256-PLUS".
  const std::string& mechanism() const;
  /// True when SASL2 (XEP-0388) was used.
  bool used_sasl2() const;
  /// True when the session was authenticated with a XEP-0484 FAST token.
  bool used_fast() const;
  /// A fresh stanza id unique within this negotiator ("xn1", "xn2", ...).
  std::string next_id();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

/// Redact one traced XML text: the content of SASL elements (RFC 6120 auth/response/
/// challenge/success and XEP-0388 authenticate/initial-response/response/challenge/success/
/// additional-data), FAST token attributes, and every occurrence of password.
std::string redact_xml(std::string_view xml_text, std::string_view password);

/// The category of an RFC 6120 §4.9.3 stream-error condition (e.g. not-authorized → Auth,
/// system-shutdown → Timeout, see-other-host → Connect, anything unknown → Protocol).
Category stream_error_category(std::string_view condition);

}  // namespace xnet::xmpp
