// SPDX-License-Identifier: MIT
#pragma once

// XEP-0215 External Service Discovery on the server: the configured STUN/TURN list answered in
// every namespace (0.1 <stun/>, 0.2/0.3 provisional, extdisco:0, :1, :2) and google:jingleinfo,
// TURN REST credentials (coturn use-auth-secret) and pushes on reload.

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "error.hpp"
#include "xml/element.hpp"

namespace xnet::server {

inline constexpr std::string_view kExtdisco0 = "urn:xmpp:extdisco:0";
inline constexpr std::string_view kExtdisco1 = "urn:xmpp:extdisco:1";
inline constexpr std::string_view kExtdisco2 = "urn:xmpp:extdisco:2";
inline constexpr std::string_view kExtdiscoProvisional = "http://www.xmpp.org/extensions/xep-0215.html#ns";
inline constexpr std::string_view kJingleInfo = "google:jingleinfo";

/// One configured external service (a `[[external_services]]` table of the serve config).
struct ExternalService {
  std::string type;       ///< stun, turn, stuns, turns
  std::string host;       ///< FQDN or IP literal (IPv6 without brackets)
  unsigned short port = 0;  ///< 0 = not sent
  std::string transport;  ///< udp, tcp ("" = not sent)
  std::string name;
  std::string username, password;  ///< static credentials
  std::string secret;     ///< TURN REST shared secret (coturn static-auth-secret): mint credentials
  long ttl = 86400;       ///< seconds, for minted credentials
  bool restricted = false;  ///< XEP-0215 restricted='1': credentials only via <credentials/>

  bool operator==(const ExternalService&) const = default;
};

/// TURN REST credentials (stun-discovery.md §6): username = expiry[":" user],
/// password = base64(HMAC-SHA1(secret, username)).
struct TurnCredentials {
  std::string username, password;
  long long expiry = 0;  ///< Unix seconds
};
TurnCredentials turn_rest_credentials(std::string_view secret, long long expiry, std::string_view user);

/// XEP-0082 UTC date-time of unix_seconds: "2026-01-01T00:00:00Z".
std::string xep0082_datetime(long long unix_seconds);

/// A request for the service list, recognised from an IQ payload.
struct ListRequest {
  std::string ns;        ///< namespace of the request (one of the constants above)
  std::string type;      ///< type filter ("" = all)
  bool credentials = false;  ///< <credentials/> (extdisco:1/2)
  xml::Element payload;  ///< the request payload
};

/// Recognises a XEP-0215 / jingleinfo request payload (nullopt for any other payload).
std::optional<ListRequest> parse_list_request(const xml::Element& payload);

/// The answer to a list request: the result payload, or a stanza-error condition.
struct ListAnswer {
  std::optional<xml::Element> payload;
  std::string error;  ///< stanza-error condition when payload is empty
};

/// Answers req from services for requester (its bare JID's local part goes into minted TURN
/// usernames) at time now_unix.
ListAnswer answer_list(const ListRequest& req, const std::vector<ExternalService>& services,
                       std::string_view requester, long long now_unix);

/// The push payload (an IQ set child) that tells a client who sent req about the change from
/// old_list to new_list; nullopt when nothing visible to it changed.
std::optional<xml::Element> push_payload(const ListRequest& req, const std::vector<ExternalService>& old_list,
                                         const std::vector<ExternalService>& new_list, std::string_view requester,
                                         long long now_unix);

/// The disco features this module implements.
std::vector<std::string> external_features();

}  // namespace xnet::server
