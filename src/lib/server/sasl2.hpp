// SPDX-License-Identifier: MIT
#pragma once

// The server's codec for XEP-0388 (SASL2) with XEP-0386 (Bind 2) and XEP-0484 (FAST) inline:
// the stream feature it offers, the client's <authenticate/> parsed into a struct, and the
// <challenge/>, <success/> and <failure/> elements it answers with. Pure functions over
// xml::Element, no I/O (the c2s session drives them; the fuzz target calls them directly).

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"
#include "xml/element.hpp"

namespace xnet::server {

inline constexpr std::string_view kSasl2Ns = "urn:xmpp:sasl:2";
inline constexpr std::string_view kBind2Ns = "urn:xmpp:bind:0";
inline constexpr std::string_view kFastNs = "urn:xmpp:fast:0";
inline constexpr std::string_view kSaslCbNs = "urn:xmpp:sasl-cb:0";

/// Bounds on what <authenticate/> may carry (the stanza size limit bounds the whole element).
inline constexpr std::size_t kMaxUserAgentId = 128;  ///< bytes of <user-agent id=...>
inline constexpr std::size_t kMaxBindTag = 48;       ///< bytes of the Bind 2 <tag/> kept

/// What this stream offers (XEP-0388 §2.1, XEP-0440, XEP-0386 §3.1, XEP-0484 §3.1).
struct Sasl2Offer {
  std::vector<std::string> mechanisms;       ///< SASL mechanisms, most preferred first
  bool tls_exporter = false;                 ///< XEP-0440 <channel-binding type='tls-exporter'/>
  bool bind2 = true;                         ///< <inline><bind xmlns='urn:xmpp:bind:0'/>
  std::vector<std::string> fast_mechanisms;  ///< <inline><fast><mechanism/>… (empty = no FAST)
};

/// The SASL2 <authentication/> feature for offer (the channel-binding feature is separate:
/// sasl_channel_binding_feature()).
xml::Element sasl2_feature(const Sasl2Offer& offer);
/// XEP-0440 <sasl-channel-binding/> listing tls-exporter.
xml::Element sasl_channel_binding_feature();

/// A client's <authenticate/> (XEP-0388 §2.3) with the inline requests xnet understands.
struct Sasl2Authenticate {
  std::string mechanism;
  std::optional<std::string> initial_response;  ///< decoded; nullopt = none sent
  std::string user_agent_id;                    ///< <user-agent id=...> ("" = none)
  std::string software, device;                 ///< informational only (bounded)
  bool bind = false;                            ///< XEP-0386 <bind/> present
  std::string bind_tag;                         ///< its <tag/>, trimmed and sanitised
  bool fast = false;                            ///< XEP-0484 <fast/>: the credential is a token
  std::optional<std::uint64_t> fast_count;      ///< <fast count=...>
  bool fast_invalidate = false;                 ///< <fast invalidate='true'/>
  std::string request_token;                    ///< <request-token mechanism=...> ("" = none)
};

/// Parses auth (an <authenticate xmlns='urn:xmpp:sasl:2'/>). Errors carry the SASL condition
/// as Error::message's first word, as ScramServer's do ("malformed-request: ...",
/// "incorrect-encoding: ...").
Result<Sasl2Authenticate> parse_sasl2_authenticate(const xml::Element& auth);

/// The decoded payload of a SASL2 <response/>: "" for an empty element; error
/// "incorrect-encoding" on bad base64.
Result<std::string> parse_sasl2_response(const xml::Element& response);

/// `<challenge xmlns='urn:xmpp:sasl:2'>base64(data)</challenge>`.
xml::Element sasl2_challenge(std::string_view data);

/// A FAST token handed out in <success/>.
struct IssuedToken {
  std::string token;   ///< the secret (only ever written to the client)
  std::string expiry;  ///< XEP-0082 DateTime
};

/// The <success/> of XEP-0388 §2.6.1: additional data (omitted when empty), the authorization
/// identifier (full JID when bound), <bound xmlns='urn:xmpp:bind:0'/> when bound and a FAST
/// <token/> when one was issued.
xml::Element sasl2_success(std::string_view additional, std::string_view authzid, bool bound,
                           const std::optional<IssuedToken>& token);

/// The <failure/> of XEP-0388 §2.6.2 with an RFC 6120 §6.5 condition and an optional text.
xml::Element sasl2_failure(std::string_view condition, std::string_view text = {});

/// The XEP-0386 §3.2.1 resource for a Bind 2 request: "<tag>/<id>", where id is the first
/// hex digits of HMAC-SHA-256(secret, user, tag, user_agent_id), so the same client (tag and
/// user-agent id) of the same account gets the same resource every time, and the id never
/// reveals the user-agent id. An empty tag gives just the id.
std::string bind2_resource(std::string_view secret, std::string_view user, std::string_view tag,
                           std::string_view user_agent_id);

}  // namespace xnet::server
