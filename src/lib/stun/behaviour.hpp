// SPDX-License-Identifier: MIT
#pragma once
// NAT behaviour discovery over UDP (RFC 5780 §4.3/§4.4, and the mapping test generalised to
// several STUN servers): the facts that stun/nat.hpp classifies.

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "stun/client.hpp"
#include "stun/nat.hpp"
#include "stun/probe.hpp"
#include "trace.hpp"

namespace asio {
class io_context;
}

namespace xnet::stun {

/// Settings for discover_behaviour().
struct BehaviourOptions {
  /// Retransmissions per Binding. A filtering test that gets no answer costs the whole
  /// budget (policy.udp_budget()), so it is kept short.
  RetransmitPolicy policy{std::chrono::milliseconds(100), 3, 8, std::chrono::milliseconds(1500)};
  std::size_t max_servers = 4;  ///< distinct servers asked (each once), from the front of the list
  bool rfc5780 = true;          ///< run the RFC 5780 tests when a server gives OTHER-ADDRESS
  /// Run the RFC 5780 §4.4 filtering tests too (each unanswered one costs policy.udp_budget()).
  bool filtering = true;
  std::string software = "xnet";
  /// Absolute bound on the whole discovery.
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

/// UdpBehaviour::filtering_note when BehaviourOptions::filtering was off.
inline constexpr const char* kFilteringNotRun = "the RFC 5780 filtering tests were not run";

/// What discover_behaviour() saw.
struct UdpBehaviour {
  std::optional<Address> local;                 ///< the mapping socket's local address
  std::vector<MappingObservation> observations; ///< one per destination that answered
  std::optional<bool> filter_change_ip_port_answered;  ///< RFC 5780 filtering test II
  std::optional<bool> filter_change_port_answered;     ///< RFC 5780 filtering test III
  std::string rfc5780_server;       ///< the server that ran the RFC 5780 tests ("" when none)
  /// Why the filtering behaviour is unknown, for people ("" when the tests gave a verdict).
  std::string filtering_note;
  std::vector<std::string> servers; ///< distinct servers asked, "host:port"
  std::vector<std::string> failures;  ///< "host:port: why" for servers that gave no mapping
  std::optional<double> rtt_ms;       ///< of the first answer
};

/// Asks the UDP STUN servers among targets (each distinct host:port, and each distinct resolved
/// address, once; at most options.max_servers) from one local socket, all at once (replies are
/// matched by transaction ID), and runs the RFC 5780 mapping tests (at once too) and filtering
/// tests (one after the other) against the first that reports an OTHER-ADDRESS. Runs on io;
/// done is called there. Never fails as a whole: see UdpBehaviour::failures.
void async_discover_behaviour(asio::io_context& io, std::vector<ProbeTarget> targets, BehaviourOptions options,
                              Trace& trace, std::function<void(UdpBehaviour)> done);

/// async_discover_behaviour() on a private io_context.
UdpBehaviour discover_behaviour(const std::vector<ProbeTarget>& targets, const BehaviourOptions& options, Trace& trace);

}  // namespace xnet::stun
