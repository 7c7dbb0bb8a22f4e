// SPDX-License-Identifier: MIT
// The `lan browse` operation: browse _presence._tcp through a Backend, merge what it reports
// into peers, and end when the daemon has told everything (one-shot), when every awaited peer
// has resolved (--wait-for), at the deadline, or never (watch). No terminal, no printing.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "error.hpp"
#include "mdns/backend.hpp"
#include "mdns/peers.hpp"
#include "trace.hpp"

namespace xnet::mdns {

struct BrowseRequest {
  std::chrono::milliseconds timeout{3000};  ///< one-shot and wait_for: give up after this
  bool watch = false;                       ///< report PeerEvents until stop() says so
  bool exclude_own = false;                 ///< leave out peers flagged own
  std::string self;                         ///< the caller's instance name (flagged own)
  std::vector<std::string> wait_for;        ///< end as soon as all of these have resolved
};

/// How a browse ended.
enum class BrowseEnd {
  Complete,     ///< the daemon reported all it knows and everything resolved
  Found,        ///< every name of wait_for resolved
  Deadline,     ///< timeout passed first (one-shot: the list may be incomplete)
  Interrupted,  ///< stop() returned true
};

struct BrowseResult {
  std::vector<Peer> peers;  ///< sorted by name; with wait_for, only the awaited peers
  std::chrono::steady_clock::duration elapsed{};
  BrowseEnd end = BrowseEnd::Deadline;
  bool complete = false;             ///< end == Complete or Found
  std::vector<std::string> missing;  ///< wait_for names that never resolved
};

/// Instance names compare without regard to ASCII case (RFC 6762 §16).
bool same_instance(std::string_view a, std::string_view b);

/// Run the browse on backend. on_event receives every PeerEvent in watch mode (own peers left
/// out when exclude_own). stop() is polled at least every 100 ms. Errors: Daemon (the backend
/// failed), Dns ("not on the link") when wait_for names are still missing at the deadline.
Result<BrowseResult> browse_peers(Backend& backend, const BrowseRequest& request,
                                  const std::function<void(const PeerEvent&)>& on_event,
                                  const std::function<bool()>& stop, Trace& trace);

}  // namespace xnet::mdns
