// SPDX-License-Identifier: MIT
#pragma once

// The IQs `xnet serve` answers itself, in both of its modes, from one piece of code:
// XEP-0030 disco#info/#items, XEP-0199 ping, XEP-0279 SIC (sic:0 and sic:1), XEP-0215 (every
// form, with the push bookkeeping: who asked for a typed list and gets a push on reload), and the
// hook that hands stanzas to plugged services (PASS) with the fallback answer when a service does
// not take an IQ. The built-in server (Hub) and the XEP-0114 component (ComponentCore) only route;
// socket-free, no clock of its own but a settable one.
//
// Differences between the modes are data, not code paths of their own:
//  * Server: identity server/im; SIC answered (the server sees the sender's address, and only ever
//    tells the sender its own, never another user's); plugged services live at their own JIDs
//    (`pass.<domain>`) and are listed in disco#items; IQs to a local user's bare JID are answered
//    on the user's behalf (existence from the host's directory).
//  * Component: identity component/generic plus the services' identities and features in the
//    component's own disco#info; no SIC (the router does not tell addresses); services share the
//    component's JID and get the stanzas whose payload namespace they list.

#include <cstddef>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "server/external.hpp"
#include "server/service.hpp"
#include "xml/element.hpp"

namespace xnet::server {

/// Which server hosts the module.
enum class IqHost { Server, Component };

/// What a bare JID of the host's domain is (server mode), for disco#info identities and checks.
enum class AccountKind { None, Registered, Anonymous };

struct BuiltinIqOptions {
  IqHost host = IqHost::Server;
  std::string jid;                   ///< the server's domain or the component's JID (normalised)
  std::string name = "xnet serve";   ///< the host's disco#info identity name
  std::vector<ExternalService> external_services;
  std::size_t max_watchers = 100000;     ///< JIDs remembered for XEP-0215 pushes
  std::size_t max_watches_per_jid = 16;  ///< typed list requests remembered per JID
};

class BuiltinIq {
 public:
  explicit BuiltinIq(BuiltinIqOptions options);

  const std::string& jid() const { return opts_.jid; }
  IqHost host() const { return opts_.host; }

  /// Server mode: what a bare JID of the domain is. Without it, no other account exists.
  void set_directory(std::function<AccountKind(const std::string& bare)> directory) { directory_ = std::move(directory); }
  /// The clock of TURN REST credentials and pushes (Unix seconds; default: the system clock).
  void set_clock(std::function<long long()> unix_now) { now_ = std::move(unix_now); }

  // --- plugged services (the PASS hook) --------------------------------------------------------
  struct Plugged {
    Service* service;
    std::string jid;  ///< `<name>.<domain>` (server) or the component's JID
  };
  /// Plug service in at jid (not owned; it must outlive the module or be unplugged by then).
  void plug(Service& service, std::string jid);
  const std::vector<Plugged>& plugged() const { return plugged_; }
  /// The service a stanza is for: by the domain of its `to` (server mode) or by the namespace of
  /// its payload (component mode); nullptr when none.
  const Plugged* service_for(const xml::Element& stanza) const;
  /// Hand stanza to the service. When the service does not take an IQ get/set, the fallback
  /// answer from the service's JID: disco#info from its identity and features, ping, else
  /// service-unavailable. nullopt = nothing to send.
  std::optional<xml::Element> to_service(const Plugged& p, const xml::Element& stanza, const Origin& origin);
  /// A session ended: tell every service and forget its XEP-0215 watches.
  void session_ended(const std::string& full_jid);

  // --- the host's own IQs ---------------------------------------------------------------------
  /// Answer an IQ get/set addressed to the host (no `to`, the host's JID), to the sender's own
  /// bare JID, or (server mode) to another local account's bare JID. origin.full_jid is the
  /// server-stamped sender; origin.remote its address (used for SIC only, and only for itself).
  /// Always returns one reply (result or error), `to` = the sender.
  xml::Element answer(const xml::Element& iq, const Origin& origin);

  // --- XEP-0215 -------------------------------------------------------------------------------
  const std::vector<ExternalService>& external_services() const { return opts_.external_services; }
  /// Replace the list (SIGHUP): the pushes (IQ sets from the host's JID, jabber:client) to
  /// the JIDs that asked for a typed list and see a change.
  std::vector<xml::Element> reload(std::vector<ExternalService> list);
  /// JIDs with at least one remembered typed list request.
  std::size_t watchers() const { return watches_.size(); }

 private:
  enum class Addressee { Host, Self, OtherAccount };
  xml::Element disco_info(const xml::Element& iq, Addressee to, AccountKind kind) const;
  void remember(const std::string& full_jid, const ListRequest& req);
  long long now() const;

  BuiltinIqOptions opts_;
  std::function<AccountKind(const std::string&)> directory_;
  std::function<long long()> now_;
  std::vector<Plugged> plugged_;
  std::map<std::string, std::vector<ListRequest>> watches_;  ///< full JID → typed list requests
  std::uint64_t push_seq_ = 0;
};

}  // namespace xnet::server
