// SPDX-License-Identifier: MIT
#include "xmpp/external_stun.hpp"

#include <algorithm>
#include <ctime>

#include "xep/extdisco_client.hpp"
#include "xmpp/stun_services.hpp"

namespace xnet::xmpp {

// The external address as STUN servers see it, from the servers the XMPP server announces.
Result<stun::UdpBehaviour> external_via_stun(Session& session, Deadline deadline, Trace& out,
                                             const std::string& service_jid) {
  xep0215::DiscoverOptions d;
  d.request_credentials = false;
  d.now_unix = static_cast<long long>(std::time(nullptr));
  auto found = discover_stun_services(session, service_jid, d, deadline, out);
  if (!found) return fail(found.error());
  // The probe rule shared with stun-list: stun/turn over UDP, each distinct host:port once.
  auto targets = plan_probes(found->services, ProbePurpose::ExternalAddress).targets;
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
