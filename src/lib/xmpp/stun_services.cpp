// SPDX-License-Identifier: MIT
#include "xmpp/stun_services.hpp"

#include <algorithm>

namespace xnet::xmpp {

namespace {

// The IQs of a batch share one flight (request-by-id); the replies come back in order.
xep0215::BatchRequester make_batch(Session& session, Deadline deadline) {
  return [&session, deadline](std::vector<xml::Element> iqs) { return session.request_all(std::move(iqs), deadline); };
}

}  // namespace

xep0215::BatchRequester batch_requester(Session& session, Deadline deadline) { return make_batch(session, deadline); }

Result<xep0215::Discovery> discover_stun_services(Session& session, const std::string& service_jid,
                                                  xep0215::DiscoverOptions options, Deadline deadline,
                                                  Trace& trace) {
  const std::string bound = session.info().bound_jid;
  xep0215::LocateOptions where;
  where.domain = jid_domain(bound);
  where.service_jid = service_jid;
  options.server = where.domain;
  options.own_bare_jid = bare_jid(bound);
  // An item that never answers its disco#info (a hung component) must not cost the whole
  // --timeout: the item search gets its own, shorter bound from when it starts.
  xep0215::BatchRequester items = [&session, deadline](std::vector<xml::Element> iqs) {
    return make_batch(session, deadline.capped(kItemInfoWait))(std::move(iqs));
  };
  return xep0215::discover_services(batch_requester(session, deadline), where, std::move(options), trace, &items);
}

namespace {
bool is_stun_type(const std::string& t) { return t == "stun" || t == "turn" || t == "stuns" || t == "turns"; }
}  // namespace

ProbePlan plan_probes(const std::vector<xep0215::FoundService>& services, ProbePurpose purpose) {
  ProbePlan plan;
  const bool check = purpose == ProbePurpose::Check;
  for (const auto& f : services) {
    const auto& s = f.service;
    std::string why;
    if (!is_stun_type(s.type))
      why = s.type == "google-relay" ? "Google relay protocol is not STUN" : "not a STUN/TURN service";
    else if (s.transport != "udp" && s.transport != "tcp")
      why = "transport " + s.transport + " is not supported";
    else if (!check && (s.transport != "udp" || (s.type != "stun" && s.type != "turn")))
      why = "only STUN over UDP is used for the external address";
    if (!why.empty()) {
      plan.target.push_back(std::nullopt);
      plan.skipped.push_back(std::move(why));
      continue;
    }
    stun::ProbeTarget t;
    t.host = s.host;
    t.port = s.port;
    t.type = check ? s.type : "stun";
    t.transport = s.transport;
    if (check && !s.username.empty() && !s.password.empty()) t.credentials = stun::Credentials{s.username, s.password, false};
    auto same = std::find_if(plan.targets.begin(), plan.targets.end(), [&](const stun::ProbeTarget& o) {
      return o.host == t.host && o.port == t.port && o.transport == t.transport && o.type == t.type;
    });
    std::size_t index = static_cast<std::size_t>(same - plan.targets.begin());
    if (same == plan.targets.end()) {
      plan.targets.push_back(std::move(t));
    } else if (!same->credentials && t.credentials) {
      same->credentials = t.credentials;  // a later listing may carry the credentials
    }
    plan.target.push_back(index);
    plan.skipped.emplace_back();
  }
  return plan;
}

}  // namespace xnet::xmpp
