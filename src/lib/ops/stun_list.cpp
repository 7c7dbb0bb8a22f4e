// SPDX-License-Identifier: MIT
#include "ops/stun_list.hpp"

#include <ctime>

#include "xmpp/stun_services.hpp"

namespace xnet::ops {

std::string_view event_name(StunListEvent event) {
  switch (event) {
    case StunListEvent::List: return "list";
    case StunListEvent::Push: return "push";
    case StunListEvent::None: break;
  }
  return "";
}

namespace {

long long now_unix() { return static_cast<long long>(std::time(nullptr)); }

void run_probes(StunListResult& r, const Prober& prober, Trace& trace) {
  std::vector<xep0215::FoundService> found;
  for (const auto& row : r.rows) found.push_back(row.found);
  auto plan = xmpp::plan_probes(found, xmpp::ProbePurpose::Check);
  r.probed = true;
  r.probe_targets = plan.targets;
  for (std::size_t i = 0; i < r.rows.size(); ++i) {
    r.rows[i].probe = plan.target[i];
    r.rows[i].probe_skipped = plan.skipped[i];
  }
  if (!plan.targets.empty()) {
    trace.progress(1, "probing " + std::to_string(plan.targets.size()) + " server(s)");
    r.probes = prober(plan.targets);
  }
  if (r.probes.size() != r.probe_targets.size()) {
    // A prober that lost results is a bug; never index past the end.
    r.probes.resize(r.probe_targets.size());
    for (auto& p : r.probes)
      if (!p.reachable && !p.error) p.error = Error(Category::Internal, "no probe result");
  }
  // Over the prober's cap (stun::ProbeOptions::max_servers): listed, not probed.
  for (auto& row : r.rows)
    if (row.probe && !r.probes[*row.probe].skipped.empty()) {
      row.probe_skipped = r.probes[*row.probe].skipped;
      row.probe.reset();
    }
  for (const auto& p : r.probes) {
    if (!p.skipped.empty()) continue;
    ++r.summary.probed;
    if (p.ok())
      ++r.summary.ok;
    else
      ++r.summary.failed;
  }
  if (r.summary.failed > 0)
    r.failure = Error(Category::CheckFailed, std::to_string(r.summary.failed) + " of " +
                                                 std::to_string(r.summary.probed) + " probed servers failed");
}

}  // namespace

Result<StunListResult> stun_list(const xep0215::BatchRequester& request, std::string_view bound_jid,
                                 long long now, const StunListQuery& q, const Prober& prober, Trace& trace) {
  xep0215::LocateOptions where;
  where.domain = xmpp::jid_domain(bound_jid);
  where.service_jid = q.service_jid;
  xep0215::DiscoverOptions d;
  d.server = where.domain;
  d.own_bare_jid = xmpp::bare_jid(bound_jid);
  d.force = q.force;
  d.all = q.all;
  d.type = q.type;
  d.transport = q.transport;
  d.request_credentials = q.request_credentials;
  d.now_unix = now;
  auto found = xep0215::discover_services(request, where, d, trace);
  if (!found) return fail(found.error());

  StunListResult r;
  r.event = q.watch ? StunListEvent::List : StunListEvent::None;
  r.jid = std::string(bound_jid);
  r.server = where.domain;
  r.service_jids = found->service_jids;
  r.via_items = found->via_items;
  r.items_checked = found->items_checked;
  r.features = std::move(found->features);
  r.attempts = std::move(found->attempts);
  r.warnings = std::move(found->warnings);
  r.now = now;
  for (auto& f : found->services) r.rows.push_back(StunListRow{std::move(f), std::nullopt, {}});
  for (const auto& w : r.warnings) trace.warning(w);
  if (q.probe) run_probes(r, prober, trace);
  return r;
}

Result<StunListResult> stun_list(xmpp::Session& session, const StunListQuery& q, Deadline deadline, Trace& trace) {
  Prober prober = [&](const std::vector<stun::ProbeTarget>& targets) {
    return stun::probe_all(targets, q.probe_options, trace);
  };
  return stun_list(xmpp::batch_requester(session, deadline), session.info().bound_jid, now_unix(), q, prober, trace);
}

StunListWatch::StunListWatch(const StunListResult& initial, const StunListQuery& q)
    : type_(q.type), transport_(q.transport) {
  base_.event = StunListEvent::Push;
  base_.jid = initial.jid;
  base_.server = initial.server;
  base_.service_jids = initial.service_jids;
  base_.via_items = initial.via_items;
  base_.items_checked = initial.items_checked;
  base_.features = initial.features;
  allowed_ = initial.service_jids;
  if (allowed_.empty()) allowed_.push_back(initial.server);
  allowed_.push_back(xmpp::bare_jid(initial.jid));  // jingleinfo notifications
  for (const auto& row : initial.rows) current_.push_back(row.found);
}

std::optional<StunListWatch::Step> StunListWatch::on_stanza(const xml::Element& stanza, long long now) {
  auto push = xep0215::handle_push(stanza, allowed_, now);
  if (!push.is_push) return std::nullopt;
  Step step;
  step.reply = std::move(push.reply);
  step.problem = std::move(push.problem);
  if (!push.accepted || !push.list) return step;
  StunListResult p = base_;
  p.warnings = push.list->warnings;
  xep0215::apply_list_push(current_, *push.list, now, p.warnings);
  p.push_from = stanza.attr_or("from");
  p.now = now;
  p.changes = push.list->services;
  for (const auto& f : current_)
    if (xep0215::matches_filters(f.service, type_, transport_)) p.rows.push_back(StunListRow{f, std::nullopt, {}});
  step.event = std::move(p);
  return step;
}

Result<void> watch(xmpp::Session& session, StunListWatch& w,
                   const std::function<void(const StunListResult&)>& on_event, const std::function<bool()>& stop,
                   Trace& trace) {
  session.on_stanza([&](const xml::Element& st) {
    auto step = w.on_stanza(st, now_unix());
    if (!step) return false;
    session.send(step->reply);
    if (!step->problem.empty()) trace.warning(step->problem);
    if (step->event) {
      for (const auto& warning : step->event->warnings) trace.warning(warning);
      on_event(*step->event);
    }
    return true;
  });
  trace.progress(1, "watching for list pushes (Ctrl-C to stop)");
  // XEP-0199 pings after 60 s of silence; a dead link is reported within 90 s.
  session.set_keepalive(std::chrono::seconds(60), std::chrono::seconds(30));
  while (!stop()) {
    auto r = session.poll(std::chrono::milliseconds(200));
    if (!r && r.error().category != Category::Interrupted) {
      session.on_stanza(nullptr);
      return fail(r.error());
    }
  }
  session.on_stanza(nullptr);
  return {};
}

}  // namespace xnet::ops
