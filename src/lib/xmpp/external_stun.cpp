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

namespace {

long long now_unix() { return static_cast<long long>(std::time(nullptr)); }

// Runs the discovery on the session's own loop: the stream stays served (pings answered)
// while STUN runs.
Result<stun::UdpBehaviour> run_discovery(Session& session, const std::vector<stun::ProbeTarget>& targets,
                                         const stun::BehaviourOptions& bo, Deadline deadline, Trace& out) {
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

}  // namespace

// The external address as STUN servers see it, from the servers the XMPP server announces.
Result<stun::UdpBehaviour> external_via_stun(Session& session, Deadline deadline, Trace& out,
                                             const std::string& service_jid) {
  xep0215::DiscoverOptions d;
  d.request_credentials = false;
  d.now_unix = now_unix();
  auto found = discover_stun_services(session, service_jid, d, deadline, out);
  if (!found) return fail(found.error());
  // The probe rule shared with stun-list: stun/turn over UDP, each distinct host:port once.
  auto targets = plan_probes(found->services, ProbePurpose::ExternalAddress).targets;
  if (targets.empty()) return fail(Category::NotSupported, "the server announces no STUN server over UDP");
  stun::BehaviourOptions bo;
  bo.deadline = std::chrono::steady_clock::now() + std::min(std::chrono::milliseconds(6000), deadline.remaining());
  return run_discovery(session, targets, bo, deadline, out);
}

Result<stun::UdpBehaviour> quick_external_via_stun(Session& session, const std::string& list_id,
                                                   std::chrono::milliseconds budget, Deadline deadline,
                                                   Trace& out) {
  if (list_id.empty()) return fail(Category::NotSupported, "no STUN list was asked");
  const Deadline bound = deadline.capped(budget);
  auto reply = session.wait_reply(list_id, bound);
  if (!reply) {
    if (reply.error().category == Category::Remote)
      return fail(Category::NotSupported, "the server offers no extdisco:2 list (" +
                                              (reply.error().stanza ? reply.error().stanza->condition
                                                                    : reply.error().message) + ")");
    return fail(reply.error());
  }
  const auto now = now_unix();
  auto list = xep0215::parse(*reply, now);
  if (!list) return fail(list.error());
  std::vector<xep0215::FoundService> found;
  std::vector<std::string> ignored;  // expiry warnings are stun-list's business
  for (const auto& s : list->services) found.push_back(xep0215::check_service(s, now, ignored));
  auto targets = plan_probes(found, ProbePurpose::ExternalAddress).targets;
  if (targets.empty()) return fail(Category::NotSupported, "the server announces no STUN server over UDP");
  stun::BehaviourOptions bo;
  bo.filtering = false;
  // The servers are asked at once; a silent one gives up after 700 ms (sends at 0, 100 and
  // 300 ms), inside the budget.
  bo.policy = stun::RetransmitPolicy{std::chrono::milliseconds(100), 3, 4, std::chrono::milliseconds(700)};
  bo.deadline = bound.at();
  out.progress(1, "asking " + std::to_string(targets.size()) + " announced STUN server(s) (at most " +
                      std::to_string(budget.count()) + " ms; --no-stun skips this)");
  auto seen = run_discovery(session, targets, bo, bound, out);
  if (seen && !seen->rfc5780_server.empty() && seen->filtering_note == stun::kFilteringNotRun)
    seen->filtering_note += " (whoami --stun runs them)";
  return seen;
}

}  // namespace xnet::xmpp
