// SPDX-License-Identifier: MIT
// The pieces of `lan announce` that are protocol, not presentation: which text an XML stream can
// carry, the stdin control protocol that changes the announced presence, and the XEP-0115 caps
// of xnet's link-local identity.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>

#include "error.hpp"
#include "mdns/backend.hpp"
#include "mdns/ll_net.hpp"
#include "mdns/presence.hpp"
#include "trace.hpp"
#include "xep/xep0174.hpp"

namespace xnet::mdns {

/// Check that s can travel in an XML 1.0 stream (§2.2): valid UTF-8, no control characters but
/// tab, LF and CR. Category::Input naming what otherwise.
Result<void> check_xml_text(std::string_view what, std::string_view s);

/// Apply one control line of the `lan announce` stdin protocol to presence:
/// `status avail|away|dnd`, `msg TEXT`, `nick TEXT` (an empty TEXT removes the field).
/// Returns false for a blank line (nothing to do), true when presence was changed.
/// Category::Input for an unknown command, a bad status or text XML cannot carry.
Result<bool> apply_control_line(std::string_view line, Presence& presence);

/// Set presence's XEP-0115 fields (node, ver, hash=sha-1) for identity and xnet's features.
void set_caps(Presence& presence, const xep0174::Identity& identity);

/// A change of what `lan announce` publishes.
struct AnnounceEvent {
  enum class Kind { Announced, Renamed, Updated };
  Kind kind = Kind::Announced;
  std::string name;  ///< the instance name now registered
  std::uint16_t port = 0;
  TxtRecord txt;
};

struct AnnounceRequest {
  std::string name;   ///< instance user@machine (renamed per XEP-0174 §3 on conflict)
  Presence presence;  ///< caps set by announce() for listener.stream.identity
  ListenerConfig listener;
  bool port_p2pj = true;  ///< publish the deprecated port.p2pj key
  std::chrono::milliseconds publish_timeout{10'000};
  int control_fd = -1;  ///< read control lines (apply_control_line) from here until EOF; -1: none
  int wake_fd = -1;     ///< readable when stop() may have turned true (self-pipe); -1: none
};

struct AnnounceHooks {
  std::function<void(const AnnounceEvent&)> on_announce;  ///< announced, renamed, updated
  std::function<void(const ServerEvent&)> on_stream;      ///< peers' connections and messages
  std::function<void(const Error&)> on_warning;           ///< a bad control line, a refused update
  std::function<bool()> stop;                             ///< polled at least every 500 ms
};

/// Run `lan announce`: listen for peers' streams, publish the presence on backend, apply control
/// lines, report everything through hooks until stop() or a daemon failure; then close the
/// peers' streams (grace 2 s) and withdraw the records. Errors: Os (port), Input, Daemon, Timeout.
Result<void> announce(Backend& backend, AnnounceRequest request, const AnnounceHooks& hooks, Trace& trace);

}  // namespace xnet::mdns
