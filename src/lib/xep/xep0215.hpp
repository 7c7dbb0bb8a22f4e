// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"
#include "xml/element.hpp"

/// XEP-0215 External Service Discovery in every form, plus Google's jingleinfo: pure codecs
/// over xml::Element for both the client and the server side (stun-discovery.md).
namespace xnet::xep0215 {

/// 0.1 `<stun/>` (2007) and the 0.2/0.3 provisional `<services/>` share this namespace.
inline constexpr std::string_view kNsProvisional = "http://www.xmpp.org/extensions/xep-0215.html#ns";
inline constexpr std::string_view kNsExtdisco0 = "urn:xmpp:extdisco:0";
inline constexpr std::string_view kNsExtdisco1 = "urn:xmpp:extdisco:1";
inline constexpr std::string_view kNsExtdisco2 = "urn:xmpp:extdisco:2";
inline constexpr std::string_view kNsJingleInfo = "google:jingleinfo";

/// The request/reply shapes xnet speaks.
enum class Form {
  Stun2007,     ///< XEP-0215 0.1: <stun xmlns='…#ns'/> with <server host port username password/>
  Provisional,  ///< XEP-0215 0.2/0.3: <services xmlns='…#ns'/> (reply items may be <server/>)
  Extdisco0,    ///< urn:xmpp:extdisco:0
  Extdisco1,    ///< urn:xmpp:extdisco:1 (credentials by host only; Prosody adds ttl)
  Extdisco2,    ///< urn:xmpp:extdisco:2 (expires, restricted, action)
  JingleInfo,   ///< google:jingleinfo, asked of the user's own bare JID
};

/// The namespace URI of form.
std::string_view form_ns(Form form);
/// A short stable label for form, used as `source` in output: "extdisco:2", "xep0215-0.1",
/// "xep0215-provisional", "extdisco:1", "extdisco:0", "jingleinfo".
std::string_view form_label(Form form);
/// Parses a --ns value: a label above, a namespace URI, or the shorthands "2", "1", "0",
/// "0.1", "2007", "stun", "google". nullopt when unknown.
std::optional<Form> parse_form(std::string_view text);
/// The form a disco feature announces (only the five namespace URIs; the provisional
/// namespace maps to Stun2007).
std::optional<Form> form_of_feature(std::string_view feature);

/// XEP-0215 §3.3: what a pushed <service/> does to the list.
enum class Action { Add, Modify, Delete };
std::string_view action_name(Action a);

/// One external service, normalised (stun-discovery.md §3.2).
struct Service {
  std::string type;       ///< lower case: stun, turn, stuns, turns (stun-relay → turn), google-relay, or other
  std::string host;       ///< IPv6 literals without brackets
  std::uint16_t port = 0; ///< the given port, else 3478 (stun/turn) or 5349 (stuns/turns)
  bool port_given = false;
  std::string transport;  ///< lower case; udp for stun/turn and tcp for stuns/turns when absent
  std::string username;
  std::string password;
  std::optional<long long> expires;  ///< Unix seconds (from `expires`, else from a ttl)
  bool expires_from_ttl = false;     ///< expires was computed from the non-standard `ttl`
  bool restricted = false;
  std::string name;
  Action action = Action::Add;
  std::string token;      ///< jingleinfo relay token
  Form source = Form::Extdisco2;  ///< the form it was received in

  /// True when this service matches other's (type, host, port, transport); parts that other
  /// did not state are wildcards (XEP-0215 §3.3 identification).
  bool same_service(const Service& other) const;
  /// The RFC 7064/7065 URI: stun:host:port, turn:host:port?transport=udp ...
  std::string uri() const;
};

/// A decoded reply, push or credentials answer.
struct ServiceList {
  Form form = Form::Extdisco2;
  std::string type_filter;           ///< the `type` attribute of <services/>, if any
  bool credentials = false;          ///< a <credentials/> answer
  std::vector<Service> services;
  std::vector<std::string> warnings; ///< tolerated oddities (bad port, garbage expires, …)
};

// ---- client side ----------------------------------------------------------------------------

/// The IQ get asking for the list in form, addressed to to (the server domain; for
/// jingleinfo the user's bare JID). type filters extdisco/provisional lists (empty: all).
xml::Element build_request(Form form, std::string_view to, std::string_view type = {});

/// The IQ get asking for credentials of service (extdisco:1: host only; extdisco:2: host and
/// type, plus port when known). Other forms have no credential request: Category::NotSupported.
Result<xml::Element> build_credentials_request(Form form, std::string_view to, const Service& service);

/// Parses a result IQ (or its payload, or a pushed IQ set) in any form. now_unix turns an
/// extdisco:1 `ttl` into an expiry. Errors: Protocol when no known payload is present.
/// Services without a host are dropped with a warning; other defects become warnings.
Result<ServiceList> parse(const xml::Element& iq_or_payload, long long now_unix);

/// Prosody's <credentials/> matcher can return unrelated services (stun-discovery.md §3.4):
/// keep those with the type and host of requested (and its port when it had one).
std::vector<Service> filter_credentials(const std::vector<Service>& answer, const Service& requested);

/// True when iq is an IQ set carrying a list push in one of the forms.
bool is_push(const xml::Element& iq);

/// Applies a push to current: add (replacing an equal service), modify, delete.
void apply_push(std::vector<Service>& current, const std::vector<Service>& push);

/// Parses a XEP-0082 date-time ("2026-01-01T00:00:00Z", fractions and ±hh:mm allowed) to
/// Unix seconds; nullopt when malformed.
std::optional<long long> parse_datetime(std::string_view text);
/// Formats unix_seconds as "YYYY-MM-DDThh:mm:ssZ".
std::string format_datetime(long long unix_seconds);

// ---- server side ----------------------------------------------------------------------------

/// The reply payload listing services in form. For extdisco:2, restricted services are sent
/// without credentials unless with_credentials. type_filter is echoed and applied exactly.
xml::Element render(Form form, const std::vector<Service>& services, std::string_view type_filter = {},
                    bool with_credentials = false);

/// The <credentials/> reply payload (extdisco:1/2) for services.
xml::Element render_credentials(Form form, const std::vector<Service>& services);

/// The payload of a push (IQ set) in form: each service carries its action (extdisco:2 and
/// the provisional form; XEP-0215 §3.3 – xnet sends 'delete'). For 0.1 and jingleinfo the
/// push is the full new list.
xml::Element render_push(Form form, const std::vector<Service>& services, std::string_view type_filter = {});

}  // namespace xnet::xep0215
