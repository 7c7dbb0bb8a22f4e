// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <vector>

#include "error.hpp"
#include "stun/probe.hpp"
#include "trace.hpp"
#include "util/deadline.hpp"
#include "xep/extdisco_client.hpp"
#include "xmpp/session.hpp"

/// The STUN/TURN services an XMPP account can use, shared by `stun-list` and `whoami --stun`:
/// where they are found (the domain, a named service, or a component among disco#items) and
/// which of them are probed.
namespace xnet::xmpp {

/// session's requests as a XEP-0215 batch requester bounded by deadline: the IQs of a batch
/// are sent together (Session::request_all) and share one round trip.
xep0215::BatchRequester batch_requester(Session& session, Deadline deadline);

/// How long the disco#info requests to the domain's items may take together (bounded by the
/// operation's deadline too).
inline constexpr std::chrono::milliseconds kItemInfoWait{3000};

/// Runs xep0215::discover_services() over session for its account's domain (or
/// service_jid when not empty). options.server and options.own_bare_jid are filled in.
Result<xep0215::Discovery> discover_stun_services(Session& session, const std::string& service_jid,
                                                  xep0215::DiscoverOptions options, Deadline deadline,
                                                  Trace& trace);

/// What the probes are for.
enum class ProbePurpose {
  Check,            ///< stun-list --probe: every stun/turn/stuns/turns service, Allocate with credentials
  ExternalAddress,  ///< whoami --stun: Binding over UDP only, no credentials
};

/// The probes to send for a list of services: each distinct server once.
struct ProbePlan {
  std::vector<stun::ProbeTarget> targets;          ///< distinct, in the order first listed
  std::vector<std::optional<std::size_t>> target;  ///< per service: index into targets, or none
  std::vector<std::string> skipped;                ///< per service: why it is not probed ("" when probed)
};

/// The one rule for which services are probed for purpose and how: a service is probed when
/// its type is stun/turn/stuns/turns and its transport udp/tcp (ExternalAddress: stun/turn over
/// udp only). The same entry listed twice (e.g. under two XEP-0215 forms) maps to one
/// target: Check keys on (type, host, port, transport), ExternalAddress on (host, port).
/// stun::probe_all() then sends one probe per (host, port, transport) on the wire and gives
/// a STUN entry the Binding part of a TURN entry's probe of the same server.
ProbePlan plan_probes(const std::vector<xep0215::FoundService>& services, ProbePurpose purpose);

}  // namespace xnet::xmpp
