// SPDX-License-Identifier: MIT
#pragma once

// The renderers of `lan`'s peers, browse events and received messages: one field table each
// drives the JSON line and the text. Self-contained (field tables and the string helpers
// below, no Output), so the mdns fuzz targets compile this file in and render hostile input.

#include <chrono>
#include <iosfwd>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "cmd/fields.hpp"
#include "mdns/ll_net.hpp"
#include "mdns/peers.hpp"

namespace xnet::cmd {

/// s with every byte sequence that is not valid UTF-8 replaced by U+FFFD, so that JSON output
/// stays valid whatever bytes a TXT record or a peer's stream carries.
std::string json_safe(std::string_view s);

/// s with `\` doubled and every byte that is a control character or not part of valid UTF-8
/// written as `\xHH`: a lossless, printable form of raw TXT strings.
std::string escape_raw(std::string_view s);

/// RFC 3339 UTC time with milliseconds, e.g. `2026-01-02T03:04:05.678Z`.
std::string format_time(std::chrono::system_clock::time_point t);

/// A message received by `lan announce` (a ServerEvent of kind Message), as one JSON line
/// (event "message") or one text line `TIME FROM: BODY`.
struct LanMessage {
  const mdns::ServerEvent& e;
};
void to_json(nlohmann::json& j, const LanMessage& m);
void print_text(std::ostream& os, const LanMessage& m, const Style& s);

/// A peer as its text block (no trailing newline): `NAME  STATUS "msg"`, then host, port,
/// addresses and interfaces, then the raw TXT strings.
std::string peer_text(const mdns::Peer& p);

const FieldTable<mdns::Peer>& lan_peer_fields();             // each peer of browse, and of its events
const FieldTable<mdns::PeerEvent>& lan_peer_event_fields();  // browse --watch lines
const FieldTable<LanMessage>& lan_message_fields();          // announce's received messages

}  // namespace xnet::cmd

namespace xnet::mdns {
void to_json(nlohmann::json& j, const Peer& p);
void to_json(nlohmann::json& j, const PeerEvent& e);
void print_text(std::ostream& os, const PeerEvent& e, const cmd::Style& s);
}  // namespace xnet::mdns
