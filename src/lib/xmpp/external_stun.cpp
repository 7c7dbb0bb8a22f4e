// SPDX-License-Identifier: MIT
#include "xmpp/external_stun.hpp"

#include <algorithm>
#include <ctime>
#include <memory>
#include <optional>

#include <asio/io_context.hpp>

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
  // On the session's own loop: the stream stays served (pings answered) while STUN runs.
  auto result = std::make_shared<std::optional<stun::UdpBehaviour>>();
  stun::async_discover_behaviour(session.io(), targets, bo, out,
                                 [result](stun::UdpBehaviour b) { *result = std::move(b); });
  auto ran = session.run_until([result] { return result->has_value(); }, deadline);
  // The discovery is bounded by its own deadline; if the stream ended first, finish it anyway
  // so nothing of it is left pending on the loop.
  const auto limit = *bo.deadline + std::chrono::seconds(2);
  while (!result->has_value() && std::chrono::steady_clock::now() < limit)
    session.io().run_one_for(std::chrono::milliseconds(100));
  if (!result->has_value()) return fail(ran ? Error(Category::Timeout, "STUN discovery did not finish") : ran.error());
  auto seen = std::move(**result);
  if (seen.observations.empty()) {
    std::string why = seen.failures.empty() ? "no answer" : seen.failures.front();
    return fail(Category::Timeout, "no STUN server answered (" + why + ")");
  }
  return seen;
}

}  // namespace xnet::xmpp
