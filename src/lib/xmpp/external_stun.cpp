// SPDX-License-Identifier: MIT
#include "xmpp/external_stun.hpp"

#include <algorithm>
#include <ctime>

#include "xep/extdisco_client.hpp"

namespace xnet::xmpp {

// The external address as STUN servers see it, from the servers the XMPP server announces.
Result<stun::UdpBehaviour> external_via_stun(Session& session, Deadline deadline, Trace& out) {
  std::string bare = bare_jid(session.info().bound_jid);
  std::string domain = jid_domain(bare);
  auto info = session.disco_info(domain, deadline);
  if (!info) return fail(info.error());
  xep0215::DiscoverOptions d;
  d.server = domain;
  d.own_bare_jid = bare;
  d.request_credentials = false;
  d.now_unix = static_cast<long long>(std::time(nullptr));
  auto requester = [&](xml::Element iq) { return session.request(std::move(iq), deadline); };
  auto found = xep0215::discover(*info, requester, d, out);
  if (!found) return fail(found.error());
  std::vector<stun::ProbeTarget> targets;
  for (const auto& f : found->services) {
    const auto& sv = f.service;
    if ((sv.type != "stun" && sv.type != "turn") || sv.transport != "udp") continue;
    targets.push_back(stun::ProbeTarget{sv.host, sv.port, sv.type, sv.transport, std::nullopt});
  }
  if (targets.empty()) return fail(Category::NotSupported, "the server announces no STUN server over UDP");
  stun::BehaviourOptions bo;
  bo.deadline = std::chrono::steady_clock::now() + std::min(std::chrono::milliseconds(6000), deadline.remaining());
  auto seen = stun::discover_behaviour(targets, bo, out);
  if (seen.observations.empty()) {
    std::string why = seen.failures.empty() ? "no answer" : seen.failures.front();
    return fail(Category::Timeout, "no STUN server answered (" + why + ")");
  }
  return seen;
}

}  // namespace xnet::xmpp
