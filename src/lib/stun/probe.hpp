// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "error.hpp"
#include "stun/client.hpp"
#include "trace.hpp"

namespace asio {
class io_context;
}

namespace xnet::stun {

/// One STUN/TURN service to check.
struct ProbeTarget {
  std::string host;                 ///< IP literal (IPv6 with or without brackets) or DNS name
  std::uint16_t port = 3478;
  std::string type = "stun";        ///< stun, turn, stuns or turns
  std::string transport = "udp";    ///< udp or tcp (stuns/turns always use TLS over TCP)
  std::optional<Credentials> credentials;  ///< used for the TURN Allocate (and a Binding 401)
};

/// What a probe found. ok() is the verdict that the exit code is based on.
struct ProbeResult {
  bool reachable = false;                ///< some valid STUN response came back
  std::optional<double> rtt_ms;          ///< Binding round-trip time
  int sends = 0;                         ///< Binding requests sent (1 = no retransmission)
  std::optional<Address> server_address; ///< the resolved address that was probed
  std::optional<Address> mapped;         ///< reflexive address from the Binding response
  std::optional<Address> local;          ///< local end of the probe's socket
  std::string software;                  ///< server SOFTWARE attribute
  bool allocation_attempted = false;     ///< a TURN Allocate was tried (turn/turns with credentials)
  std::optional<Address> relayed;        ///< XOR-RELAYED-ADDRESS of the allocation
  std::optional<double> allocate_rtt_ms;
  std::uint32_t lifetime = 0;            ///< allocation lifetime granted, seconds
  bool released = false;                 ///< the allocation was released (Refresh LIFETIME 0)
  std::optional<Error> error;            ///< first failure, with its category
  std::string note;                      ///< e.g. "TURN without credentials: allocation not tried"
  /// Non-empty when the target was not probed at all (over ProbeOptions::max_servers).
  std::string skipped;
  /// Index of the target whose probe this result repeats: the same server (host, port and
  /// transport) listed twice is probed once.
  std::optional<std::size_t> same_as;

  /// True when every step the probe tried worked.
  bool ok() const { return !error.has_value(); }
};

/// Settings for probing.
struct ProbeOptions {
  RetransmitPolicy policy;
  std::chrono::milliseconds connect_timeout{1500};  ///< TCP/TLS connection setup
  /// Bound on each probe as a whole (resolution excluded); probes run concurrently, so this is
  /// also about the bound on probe_all().
  std::chrono::milliseconds overall_timeout{5000};
  bool allocate = true;      ///< try a TURN Allocate when credentials are present
  bool tls_verify = true;    ///< verify stuns/turns certificates
  std::string ca_file;       ///< extra trusted CAs (PEM) for stuns/turns
  std::string software = "xnet";
  std::size_t concurrency = 16;   ///< probes in flight at once
  /// Distinct servers one list may make the client probe; the rest are skipped with a warning
  /// (a server chooses the list, and each probe sends datagrams to addresses it named).
  std::size_t max_servers = 32;
  /// Absolute bound on every probe, on top of overall_timeout (which starts when a probe starts).
  std::optional<std::chrono::steady_clock::time_point> deadline;
};

/// Called once with the results of async_probe_all(), in the order of the targets.
using ProbeDone = std::function<void(std::vector<ProbeResult>)>;

/// Probes targets on io, which the caller runs (single-threaded): for each distinct server
/// (host, port, transport) a Binding request, then for TURN with credentials an Allocate that
/// is released again (Refresh, LIFETIME 0). At most options.concurrency probes are in flight
/// and at most options.max_servers distinct servers are probed (trace gets a warning naming
/// how many were skipped). Never fails as a whole: failures land in ProbeResult::error.
/// trace must outlive the run; done is called on io's thread.
void async_probe_all(asio::io_context& io, std::vector<ProbeTarget> targets, ProbeOptions options, Trace& trace,
                     ProbeDone done);

/// async_probe_all() on a private io_context, for callers without a loop of their own.
std::vector<ProbeResult> probe_all(const std::vector<ProbeTarget>& targets, const ProbeOptions& options,
                                   Trace& trace);

/// Probes one target (probe_all() of one).
ProbeResult probe(const ProbeTarget& target, const ProbeOptions& options, Trace& trace);

}  // namespace xnet::stun
