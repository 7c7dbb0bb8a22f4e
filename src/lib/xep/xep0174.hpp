// SPDX-License-Identifier: MIT
// XEP-0174 Serverless Messaging: pure codecs for the link-local XML stream (headers of each
// generation, features, messages, disco#info and ping answers). No I/O.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"
#include "xml/element.hpp"

namespace xnet::xep0174 {

inline constexpr std::string_view kStreamNs = "http://etherx.jabber.org/streams";
inline constexpr std::string_view kClientNs = "jabber:client";
inline constexpr std::string_view kStanzaErrorNs = "urn:ietf:params:xml:ns:xmpp-stanzas";
inline constexpr std::string_view kStreamErrorNs = "urn:ietf:params:xml:ns:xmpp-streams";
inline constexpr std::string_view kDiscoInfoNs = "http://jabber.org/protocol/disco#info";
inline constexpr std::string_view kPingNs = "urn:xmpp:ping";
inline constexpr std::string_view kCapsNs = "http://jabber.org/protocol/caps";
inline constexpr std::string_view kTlsNs = "urn:ietf:params:xml:ns:xmpp-tls";
inline constexpr std::string_view kDelayNs = "urn:xmpp:delay";
inline constexpr std::string_view kXhtmlImNs = "http://jabber.org/protocol/xhtml-im";
// XEP-0115 §4: a URI naming the software. xnet has no web site; its identifiers live under
// urn:xnet: (as urn:xnet:pass:token:0 does).
inline constexpr std::string_view kCapsNode = "urn:xnet:caps";

/// The attributes of a `<stream:stream>` open tag. An absent attribute is nullopt; libpurple
/// sends `to=''` (present, empty) when it does not know the peer.
struct StreamHeader {
  std::optional<std::string> from;
  std::optional<std::string> to;
  std::optional<std::string> version;
  std::optional<std::string> id;

  bool operator==(const StreamHeader&) const = default;
};

/// The generations of stream headers seen in the wild (XEP-0174 history).
enum class Generation {
  Legacy,     ///< v0.9 / iChat: no from, to or version
  Addressed,  ///< v0.10+ or libpurple: from/to present, no version
  Rfc6120,    ///< version='1.0': stream features follow
};

/// Classify header by the attributes present.
Generation generation(const StreamHeader& header);

/// The name of generation ("legacy", "addressed", "rfc6120").
std::string_view generation_name(Generation g);

/// The XML declaration plus the `<stream:stream ...>` open tag for header (absent attributes
/// are left out).
std::string open_stream(const StreamHeader& header);

/// The closing tag `</stream:stream>`.
std::string_view close_stream();

/// Read the header from the stream root delivered by xml::StreamParser. The root must be
/// `stream` in the streams namespace (Category::Protocol, condition invalid-namespace
/// otherwise); a default namespace other than jabber:client is refused too.
Result<StreamHeader> parse_stream_header(const xml::Element& root);

/// The responder's header for an incoming theirs (XEP-0174 §4): from = our_name; to = their
/// from when non-empty; version='1.0' only when they sent a version.
StreamHeader answer_header(const StreamHeader& theirs, std::string_view our_name);

/// True when both headers carry version 1.0 or later, so the responder sends
/// `<stream:features/>` (RFC 6120 §4.3.2).
bool features_expected(const StreamHeader& a, const StreamHeader& b);

/// A disco identity (XEP-0030).
struct Identity {
  std::string category = "client";
  std::string type = "pc";
  std::string name = "xnet";
};

/// The features xnet's link-local endpoint supports (disco#info, ping, caps), sorted.
std::vector<std::string> local_features();

/// XEP-0115 §5.1 verification string for one identity and features (base64 of SHA-1).
std::string caps_ver(const Identity& identity, std::vector<std::string> features);

/// The `<query xmlns='disco#info'>` payload describing identity and local_features(); node
/// is set when non-empty.
xml::Element disco_info_query(const Identity& identity, std::string_view node = {});

/// `<stream:features>` holding the disco#info query (XEP-0174 2.0 §4 RECOMMENDS it).
std::string stream_features(const Identity& identity);

/// A serverless chat message (XEP-0174 §4.1).
struct Message {
  std::string from;
  std::string to;
  std::string type = "chat";
  std::string id;
  std::string body;
  std::string thread;
  std::string subject;
  std::string stamp;  ///< XEP-0203 delay stamp when the sender set one
  bool has_xhtml = false;

  bool operator==(const Message&) const = default;
};

/// Build `<message>` from message (empty fields are left out).
xml::Element build_message(const Message& message);

/// Read a `<message>` stanza: a missing type is `normal`, a missing id is empty, unknown
/// extensions are ignored, XHTML-IM is noted. A non-message is Category::Protocol.
Result<Message> parse_message(const xml::Element& stanza);

/// The reply to an incoming `<iq>` (XEP-0174 §4.1): disco#info get → our identity and
/// features; ping get → empty result; any other get/set → service-unavailable; result and
/// error IQs get no reply (nullopt). our_name fills `from`.
std::optional<xml::Element> answer_iq(const xml::Element& iq, const Identity& identity,
                                      std::string_view our_name);

/// `<stream:error>` with condition (RFC 6120 §4.9.3) and optional text, serialized.
std::string stream_error(std::string_view condition, std::string_view text = {});

/// The condition of a received `<stream:error>` element ("undefined-condition" if none).
std::string stream_error_condition(const xml::Element& error);

/// True when features requires STARTTLS (`<starttls><required/></starttls>`).
bool starttls_required(const xml::Element& features);

}  // namespace xnet::xep0174
