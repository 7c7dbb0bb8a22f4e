// SPDX-License-Identifier: MIT
// Rendering of `lan` results for people (text) and machines (JSON). Pure functions, shared by
// the command layer and the unit tests.
#pragma once

#include <chrono>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "mdns/ll_net.hpp"
#include "mdns/peers.hpp"

namespace xnet::mdns {

/// s with every byte sequence that is not valid UTF-8 replaced by U+FFFD, so that JSON output
/// stays valid whatever bytes a TXT record carries.
std::string json_safe(std::string_view s);

/// s with `\` doubled and every byte that is a control character or not part of valid UTF-8
/// written as `\xHH`: a lossless, printable form of raw TXT strings.
std::string escape_raw(std::string_view s);

/// RFC 3339 UTC time with milliseconds, e.g. `2026-01-02T03:04:05.678Z`.
std::string format_time(std::chrono::system_clock::time_point t);

/// A peer as a JSON object: name, user, machine, host, port, addresses, interfaces, txt
/// (decoded; flags as true), txt_raw (escape_raw strings), status, msg, nick, ..., local, own.
nlohmann::json peer_json(const Peer& peer);

/// A peer as text lines for people (no trailing newline).
std::string peer_text(const Peer& peer);

/// A peer event as one JSON line object: peer_json plus "event" ("new"/"updated"/"removed").
nlohmann::json peer_event_json(const PeerEvent& event);

/// A peer event as one text line.
std::string peer_event_text(const PeerEvent& event);

/// A received message as a JSON line object: event "message", from, to, body, thread, type,
/// id, time (received, or the sender's delay stamp as `stamp`), peer_address, connection.
nlohmann::json message_json(const ServerEvent& event);

/// A received message as text: `TIME FROM: BODY` (body lines after the first indented).
std::string message_text(const ServerEvent& event);

}  // namespace xnet::mdns
