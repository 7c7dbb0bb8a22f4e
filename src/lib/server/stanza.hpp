// SPDX-License-Identifier: MIT
#pragma once

// Stanza and stream helpers for the server side (RFC 6120 §4.9, §8.3).

#include <string>
#include <string_view>

#include "xml/element.hpp"

namespace xnet::server {

inline constexpr std::string_view kStreamNs = "http://etherx.jabber.org/streams";
inline constexpr std::string_view kClientNs = "jabber:client";
inline constexpr std::string_view kComponentNs = "jabber:component:accept";
inline constexpr std::string_view kTlsNs = "urn:ietf:params:xml:ns:xmpp-tls";
inline constexpr std::string_view kSaslNs = "urn:ietf:params:xml:ns:xmpp-sasl";
inline constexpr std::string_view kBindNs = "urn:ietf:params:xml:ns:xmpp-bind";
inline constexpr std::string_view kSessionNs = "urn:ietf:params:xml:ns:xmpp-session";
inline constexpr std::string_view kStanzasNs = "urn:ietf:params:xml:ns:xmpp-stanzas";
inline constexpr std::string_view kStreamsNs = "urn:ietf:params:xml:ns:xmpp-streams";
inline constexpr std::string_view kPingNs = "urn:xmpp:ping";

/// The opening tag of a stream (with the XML declaration), default namespace ns.
std::string stream_header(std::string_view ns, std::string_view from, std::string_view id,
                          std::string_view to = {}, bool version = true);
/// `<stream:error><condition/>[<text/>]</stream:error></stream:stream>`.
std::string stream_error(std::string_view condition, std::string_view text = {});

/// The default stanza-error type of condition (xmpp-core.md §3.1 table).
std::string_view default_error_type(std::string_view condition);

/// An error reply to stanza (to/from swapped, same id, payload echoed for IQs).
xml::Element error_reply(const xml::Element& stanza, std::string_view condition, std::string_view text = {},
                         std::string_view type = {});
/// An empty IQ result for iq (to/from swapped, same id); payload appended when not empty.
xml::Element iq_result(const xml::Element& iq);

/// Bare JID (without resource) of jid.
std::string bare_jid(std::string_view jid);
/// The domain part of jid.
std::string jid_domain(std::string_view jid);
/// The local part of jid ("" when none).
std::string jid_local(std::string_view jid);
/// The resource part ("" when none).
std::string jid_resource(std::string_view jid);
/// Normalised JID for comparisons: domain and local part lower-cased, resource kept; "" when
/// jid is malformed (empty parts, over-long parts, forbidden characters in the local part).
std::string normalize_jid(std::string_view jid);

/// Serialize stanza for a stream whose default namespace is stream_ns.
std::string serialize(const xml::Element& stanza, std::string_view stream_ns);

}  // namespace xnet::server
