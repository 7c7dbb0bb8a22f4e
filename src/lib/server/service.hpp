// SPDX-License-Identifier: MIT
#pragma once

// The plug-in interface of `xnet serve`: a service (PASS, ...) reachable at its own JID.
// The same interface serves both modes:
//  * c2s mode: the service lives at `<name>.<domain>` (e.g. pass.example.org), is listed in the
//    server's disco#items with identity(), and receives stanzas that local sessions address to it;
//  * component mode (XEP-0114): the service shares the component's JID and receives the stanzas
//    Prosody/ejabberd route to the component whose payload namespace is one of namespaces().
// Everything runs on the one io_context of the process (STYLE §13): no locking needed.

#include <optional>
#include <string>
#include <vector>

#include <asio/io_context.hpp>

#include "trace.hpp"
#include "xml/element.hpp"

namespace xnet::server {

/// An IP address and port as the server sees it (IPv4-mapped IPv6 already unmapped).
struct Endpoint {
  std::string ip;  ///< "203.0.113.7" or RFC 5952 "2001:db8::1", no brackets, no zone
  unsigned short port = 0;
};

/// A XEP-0030 identity.
struct Identity {
  std::string category;  ///< e.g. "proxy", "server", "component"
  std::string type;      ///< e.g. "bytestreams", "im", "generic"
  std::string name;      ///< human-readable, optional
};

/// Who sent a stanza to a service.
struct Origin {
  std::string full_jid;             ///< the sender's full JID (server-stamped, trustworthy)
  std::optional<Endpoint> remote;   ///< the sender session's remote address; nullopt in component
                                    ///< mode (the router does not tell) or when unknown
  bool local = true;                ///< true for a session of this server, false over a component link
  bool anonymous = false;           ///< a SASL ANONYMOUS session (c2s mode; the router does not tell)
};

/// What a service may do with the server that hosts it. Provided by the server; valid between
/// Service::attach() and Service::detach().
class ServiceHost {
 public:
  virtual ~ServiceHost() = default;
  /// The event loop every session and timer of the process runs on.
  virtual asio::io_context& io() = 0;
  /// Route stanza (its `to` must be set; `from` is forced to the service's JID or a JID at its
  /// domain) to a local session or over the component link. Unknown targets are dropped
  /// (and, for IQ get/set, answered with service-unavailable back to the service).
  virtual void send(xml::Element stanza) = 0;
  /// The server's domain (c2s mode) or the component's domain (component mode).
  virtual const std::string& domain() const = 0;
  /// The JID the service was attached at.
  virtual const std::string& service_jid() const = 0;
  /// True if full_jid is a session currently online at this server (always false for remote
  /// JIDs in component mode, where the router owns sessions).
  virtual bool online(const std::string& full_jid) const = 0;
  /// Log sink (one line per event, never stdout).
  virtual Trace& trace() = 0;
};

/// A service plugged into the server. Implementations must not block.
class Service {
 public:
  virtual ~Service() = default;
  /// Short name used to form the JID in c2s mode (`<name>.<domain>`), e.g. "pass".
  virtual std::string name() const = 0;
  /// The disco#info identity of the service (also used for its disco#items entry).
  virtual Identity identity() const = 0;
  /// The disco#info features (namespaces) the service implements, e.g. {"jabber:iq:pass"}.
  /// In component mode, stanzas whose payload namespace is listed here are routed to it.
  virtual std::vector<std::string> features() const = 0;
  /// Called once when the server starts; host stays valid until detach().
  virtual void attach(ServiceHost& host) = 0;
  /// A stanza addressed to the service (to = its JID, or a JID at its domain), sent by origin.
  /// Return true when handled. When false, the server answers XEP-0030 disco#info (from
  /// identity() and features()), XEP-0199 ping, and service-unavailable for anything else.
  virtual bool on_stanza(const xml::Element& stanza, const Origin& origin) = 0;
  /// The session full_jid ended (disconnect, shutdown): release what belongs to it.
  virtual void on_session_end(const std::string& full_jid) { (void)full_jid; }
  /// Called on graceful shutdown (SIGTERM) before the loop stops.
  virtual void detach() {}
};

}  // namespace xnet::server
