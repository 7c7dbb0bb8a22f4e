// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "error.hpp"
#include "xml/element.hpp"

/// XEP-0003 Proxy Accept Socket Service (PASS): pure codec over xml::Element, plus the
/// XEP-0086 legacy error-code mapping. No I/O. Readings of the spec's ambiguities are those of
/// `specs/pass.md`.
namespace xnet::xep0003 {

inline constexpr std::string_view kNs = "jabber:iq:pass";
/// xnet extension namespace for the rendezvous token (ignored by other implementations).
inline constexpr std::string_view kTokenNs = "urn:xnet:pass:token:0";
/// xnet extension namespace for reclaiming a port after a reconnect and for refusal notices
/// (ignored by other implementations).
inline constexpr std::string_view kExtNs = "urn:xnet:pass:0";

/// An address element: `<server|client|proxy port='P'>IP</…>`. XEP-0003 §1: the port is
/// optional; its schema says xs:short but the examples use 43253, so 0..65535 is accepted.
struct Endpoint {
  std::string ip;
  std::optional<std::uint16_t> port;
  bool operator==(const Endpoint&) const = default;
};

/// The `<query xmlns='jabber:iq:pass'>` payload: every child of the XEP's choice list.
struct Query {
  std::optional<Endpoint> server;
  std::optional<Endpoint> client;
  std::optional<Endpoint> proxy;
  bool expire = false;                 ///< an `<expire>` child is present
  std::optional<std::uint64_t> expire_seconds;  ///< its value; empty `<expire/>` = expiry notice
  bool oneshot = false;
  bool close = false;
  std::optional<std::string> token;    ///< xnet extension: `<token xmlns=kTokenNs>` (may be "")
  /// xnet extension in a registration: `<reclaim xmlns=kExtNs port='P'/>` asks for the
  /// account's port P back (held for it after its session dropped).
  std::optional<std::uint16_t> reclaim;
  /// xnet extension in a notice from the service: `<refused xmlns=kExtNs count='N'>REASON</refused>`
  /// with `<client/>`: a connection to the listener was refused by the relay (REASON such as
  /// relay_quota, source_limit, no_ports); N connections since the last such notice.
  std::optional<std::string> refused;
  std::uint64_t refused_count = 0;
  bool operator==(const Query&) const = default;
};

/// What a PASS IQ means, from its type and children (pass.md §2-§5).
enum class Kind {
  Register,          ///< set, optional expire/oneshot, no close/proxy/server/client
  RegisterResult,    ///< result with <server/>
  Incoming,          ///< set from the service with <client/> and <proxy/>
  ExpireNotice,      ///< set with empty <expire/>, <close/>, <proxy/>
  OneshotNotice,     ///< set with <oneshot/>, <close/>, <proxy/>
  CloseNotice,       ///< set with <close/> and <proxy/> from the service (any other reason)
  Close,             ///< set from the renter: <close/> (+ <proxy/>)
  PeerQuery,         ///< get with an empty query (§5.1)
  PeerQueryResult,   ///< result with <client/> only
  Ack,               ///< result with an empty (or echoed) query
  Refused,           ///< set from the service with <client/> and the xnet <refused/> extension
  Unknown,
};

/// The JSON/text name of kind ("register", "incoming", ...).
std::string_view kind_name(Kind kind);

/// Parse a `<query xmlns='jabber:iq:pass'>` element. Children may come in any order; unknown
/// children are ignored. Errors (Category::Input): wrong element, a port outside 0..65535 or not
/// a number, an `<expire>` that is not an unsigned integer, an address element without an IP.
Result<Query> parse_query(const xml::Element& query);

/// Build the query element for q (children in the XEP's order: server, client, proxy, expire,
/// oneshot, close, token).
xml::Element build_query(const Query& q);

/// Classify a PASS payload q carried in an IQ of iq_type ("get", "set", "result", "error").
/// from_service tells a service's set (notices) from a renter's set (register/close).
Kind classify(std::string_view iq_type, const Query& q, bool from_service);

/// Build an `<iq>` of type type with id, from and to (omitted when empty) carrying q.
xml::Element make_iq(std::string_view type, std::string_view id, std::string_view from,
                     std::string_view to, const Query& q);

/// The PASS payload of iq, or nullptr when iq carries no jabber:iq:pass query.
const xml::Element* find_query(const xml::Element& iq);

// --- Errors (XEP-0086) -------------------------------------------------------------------

/// A stanza error condition and its type (RFC 6120 §8.3).
struct Condition {
  std::string_view condition;
  std::string_view type;
  bool operator==(const Condition&) const = default;
};

/// XEP-0086 §3: legacy code → condition/type (e.g. 502 → service-unavailable/wait). Unknown
/// codes give undefined-condition/cancel.
Condition condition_for_code(int code);
/// XEP-0086 §3: condition → legacy code (e.g. item-not-found → 404); 500 when unknown.
int code_for_condition(std::string_view condition);

/// The errors a PASS service or renter sends (pass.md §2, §4.3, §5.2, §9).
enum class PassError {
  MissingProxy,  ///< 400: close without <proxy/>
  BadRequest,    ///< 400: malformed registration (bad expire, close/proxy in a registration)
  NotYours,      ///< 401: listener registered to another JID
  Denied,        ///< 401: the renter refuses an incoming connection
  NotFound,      ///< 404: no listener on that port
  WrongIp,       ///< 405: the IP in <proxy/> is not the service's
  NoPorts,       ///< 502 (wait): every port is in use, or the account's quota is used up
  Forbidden,     ///< 403 (auth): the sender may not rent ports (anonymous, unless allowed)
  Unavailable,   ///< 503 (cancel): feature not offered (e.g. the §5.1 peer IP query)
};

/// Legacy code of error (400, 401, 404, 405, 502, 503).
int code_of(PassError error);
/// The XEP's text for error ("Port not found in registry.").
std::string_view text_of(PassError error);

/// Build the `<error code=… type=…><condition/><text/></error>` child for error (both the
/// legacy code and the RFC 6120 condition, pass.md §6). text overrides the XEP's text.
xml::Element build_error(PassError error, std::string_view text = {});

/// Build the error reply to request: swaps from/to, echoes the request's query (XEP-0003 §5.2
/// shows the echo), appends build_error(error, text).
xml::Element make_error_reply(const xml::Element& request, PassError error,
                              std::string_view text = {});

/// Parse the `<error>` child of an error IQ, including the pre-XMPP form
/// `<error code='404'>Port not found in registry.</error>` (code mapped through XEP-0086,
/// content as text). A missing `<error>` gives undefined-condition.
StanzaError parse_error(const xml::Element& iq);

/// True when e means "retry later": a wait-type error or legacy code 502 (pass.md §6).
bool is_retry_later(const StanzaError& e);

/// Parse a port attribute value: digits only, 0..65535.
std::optional<std::uint16_t> parse_port(std::string_view text);

}  // namespace xnet::xep0003
