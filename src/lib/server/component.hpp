// SPDX-License-Identifier: MIT
#pragma once

// XEP-0114 component mode: `xnet serve --component JID --router HOST:PORT` attaches to a real
// Prosody or ejabberd and serves disco, ping, the XEP-0215 forms and plugged services (PASS)
// under the component's domain. The IQs are answered by BuiltinIq (builtin_iq.hpp), the same
// code as the built-in server's; this file only links to the router and routes.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <asio/io_context.hpp>

#include "error.hpp"
#include "server/builtin_iq.hpp"
#include "server/external.hpp"
#include "server/hub.hpp"
#include "server/service.hpp"

namespace xnet::server {

/// XEP-0114 §3: lower-case hex SHA-1 of stream id followed by secret.
std::string handshake_digest(std::string_view stream_id, std::string_view secret);

/// The socket-free logic of a component: stanzas in, stanzas out.
class ComponentCore {
 public:
  /// domain = the component's JID; send carries stanzas to the router.
  ComponentCore(std::string domain, std::vector<ExternalService> services, EventLog& log, Trace& trace,
                std::function<void(const xml::Element&)> send);
  ~ComponentCore();

  /// Plug a service in; it shares the component's JID and gets the stanzas whose payload
  /// namespace is one of its features().
  void add_service(std::unique_ptr<Service> service, asio::io_context* io);
  /// A stanza from the router (to = the component's domain or a JID at it).
  void handle(const xml::Element& stanza);
  /// New external-service list (SIGHUP): push changes to JIDs that asked for a typed list.
  void reload(std::vector<ExternalService> list);
  /// Shutdown: detach services.
  void detach();
  const std::string& domain() const { return domain_; }
  /// The IQs the component answers itself (shared with the built-in server).
  BuiltinIq& builtin_iq() { return iq_; }

 private:
  struct Slot;
  void send(xml::Element stanza);
  std::string domain_;
  BuiltinIq iq_;
  EventLog& log_;
  Trace& trace_;
  std::function<void(const xml::Element&)> send_;
  std::vector<std::unique_ptr<Slot>> services_;
};

struct ComponentOptions {
  std::string jid;     ///< the component's domain, e.g. xnet.example.org
  std::string host;    ///< router host
  unsigned short port = 5347;
  std::string secret;  ///< shared secret
  std::chrono::seconds timeout{10};  ///< connect + handshake budget
  std::size_t max_stanza_bytes = 256 * 1024;
};

/// The link to the router. Runs on io; on_ready is called after the handshake; on_end with the
/// reason when the link ends (Category::Auth for a refused handshake, Connect/Timeout/Protocol).
class ComponentLink {
 public:
  ComponentLink(asio::io_context& io, ComponentOptions opts, std::vector<ExternalService> services, EventLog& log,
                Trace& trace);
  ~ComponentLink();
  ComponentCore& core();
  /// Connect and serve until the link ends or stop().
  void start(std::function<void()> on_ready, std::function<void(Result<void>)> on_end);
  /// Close the stream (</stream:stream>) and end the link.
  void stop();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace xnet::server
