// SPDX-License-Identifier: MIT
#include "ops/stun_list.hpp"

#include <algorithm>
#include <ctime>
#include <deque>
#include <memory>

#include <asio/io_context.hpp>

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

// Which server each row is probed as (each distinct server once).
void plan_rows(StunListResult& r) {
  std::vector<xep0215::FoundService> found;
  for (const auto& row : r.rows) found.push_back(row.found);
  auto plan = xmpp::plan_probes(found, xmpp::ProbePurpose::Check);
  r.probed = true;
  r.probe_targets = plan.targets;
  for (std::size_t i = 0; i < r.rows.size(); ++i) {
    r.rows[i].probe = plan.target[i];
    r.rows[i].probe_skipped = plan.skipped[i];
  }
}

// r.probes is filled (parallel to r.probe_targets): the rows, the summary and the failure.
void finish_probes(StunListResult& r) {
  if (r.probes.size() != r.probe_targets.size()) {
    // A prober that lost results is a bug; never index past the end.
    r.probes.resize(r.probe_targets.size());
    for (auto& p : r.probes)
      if (!p.reachable && !p.error && p.skipped.empty()) p.error = Error(Category::Internal, "no probe result");
  }
  // Over the prober's cap (stun::ProbeOptions::max_servers): listed, not probed.
  for (auto& row : r.rows)
    if (row.probe && !r.probes[*row.probe].skipped.empty()) {
      row.probe_skipped = r.probes[*row.probe].skipped;
      row.probe.reset();
    }
  r.summary = {};
  for (const auto& p : r.probes) {
    if (!p.skipped.empty()) continue;
    ++r.summary.probed;
    if (p.ok())
      ++r.summary.ok;
    else
      ++r.summary.failed;
  }
  r.failure.reset();
  if (r.summary.failed > 0)
    r.failure = Error(Category::CheckFailed, std::to_string(r.summary.failed) + " of " +
                                                 std::to_string(r.summary.probed) + " probed servers failed");
}

void run_probes(StunListResult& r, const Prober& prober, Trace& trace) {
  plan_rows(r);
  if (!r.probe_targets.empty()) {
    trace.progress(1, "probing " + std::to_string(r.probe_targets.size()) + " server(s)");
    r.probes = prober(r.probe_targets);
  }
  finish_probes(r);
}

bool same_target(const stun::ProbeTarget& a, const stun::ProbeTarget& b) {
  auto creds = [](const stun::ProbeTarget& t) {
    return t.credentials ? t.credentials->username + '\n' + t.credentials->password : std::string();
  };
  return a.host == b.host && a.port == b.port && a.type == b.type && a.transport == b.transport &&
         creds(a) == creds(b);
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

std::vector<stun::ProbeResult> probe_on_session(xmpp::Session& session, const std::vector<stun::ProbeTarget>& targets,
                                                const stun::ProbeOptions& options, Trace& trace) {
  auto out = std::make_shared<std::optional<std::vector<stun::ProbeResult>>>();
  stun::async_probe_all(session.io(), targets, options, trace,
                        [out](std::vector<stun::ProbeResult> r) { *out = std::move(r); });
  // Each probe is bounded by options (resolution, connection, overall_timeout), so the run
  // ends by itself; the stream keeps being served meanwhile. When the stream ends first, the
  // probes still finish on the loop.
  auto done = [out] { return out->has_value(); };
  auto ran = session.run_until(done, Deadline::never());
  (void)ran;
  while (!out->has_value() && !session.io().stopped()) session.io().run_one_for(std::chrono::milliseconds(100));
  if (!out->has_value()) {
    std::vector<stun::ProbeResult> lost(targets.size());
    for (auto& p : lost) p.error = Error(Category::Internal, "the probe did not finish");
    return lost;
  }
  return std::move(**out);
}

Result<StunListResult> stun_list(xmpp::Session& session, const StunListQuery& q, Deadline deadline, Trace& trace) {
  Prober prober = [&](const std::vector<stun::ProbeTarget>& targets) {
    return probe_on_session(session, targets, q.probe_options, trace);
  };
  return stun_list(xmpp::batch_requester(session, deadline), session.info().bound_jid, now_unix(), q, prober, trace);
}

StunListWatch::StunListWatch(const StunListResult& initial, const StunListQuery& q)
    : type_(q.type), transport_(q.transport), probe_(q.probe), probe_options_(q.probe_options) {
  if (initial.probed) {
    probed_targets_ = initial.probe_targets;
    probed_results_ = initial.probes;
  }
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
  if (current_.size() > kMaxWatchedServices) {
    p.warnings.push_back("the list pushes name " + std::to_string(current_.size()) + " services; keeping the first " +
                         std::to_string(kMaxWatchedServices));
    current_.resize(kMaxWatchedServices);
  }
  p.push_from = stanza.attr_or("from");
  p.now = now;
  p.changes = push.list->services;
  for (const auto& f : current_)
    if (xep0215::matches_filters(f.service, type_, transport_)) p.rows.push_back(StunListRow{f, std::nullopt, {}});
  step.event = std::move(p);
  return step;
}

StunListWatch::PushProbes StunListWatch::plan_push_probes(StunListResult& event) {
  plan_rows(event);
  PushProbes need;
  event.probes.assign(event.probe_targets.size(), stun::ProbeResult{});
  // A server the push named (added, changed or deleted, by host, port and transport) is probed
  // again; any other keeps its last result.
  auto named = [&](const stun::ProbeTarget& t) {
    return std::any_of(event.changes.begin(), event.changes.end(), [&](const xep0215::Service& c) {
      return c.host == t.host && c.port == t.port && c.transport == t.transport;
    });
  };
  for (std::size_t i = 0; i < event.probe_targets.size(); ++i) {
    const auto& t = event.probe_targets[i];
    auto known = std::find_if(probed_targets_.begin(), probed_targets_.end(),
                              [&](const stun::ProbeTarget& o) { return same_target(o, t); });
    const auto k = static_cast<std::size_t>(known - probed_targets_.begin());
    if (known != probed_targets_.end() && k < probed_results_.size() && probed_results_[k].skipped.empty() &&
        !named(t)) {
      event.probes[i] = probed_results_[k];
      continue;
    }
    need.targets.push_back(t);
    need.index.push_back(i);
  }
  return need;
}

void StunListWatch::complete_push_probes(StunListResult& event, const PushProbes& probes,
                                         std::vector<stun::ProbeResult> results) {
  results.resize(probes.targets.size());
  for (std::size_t j = 0; j < probes.index.size() && probes.index[j] < event.probes.size(); ++j)
    event.probes[probes.index[j]] = std::move(results[j]);
  for (auto& p : event.probes)
    if (p.same_as) p.same_as.reset();  // indexes into another run's targets
  finish_probes(event);
  // Remembered for the next push: what this event shows (bounded by the watched list).
  probed_targets_ = event.probe_targets;
  probed_results_ = event.probes;
}

namespace {

// --watch --probe: push events wait for their probes, one push at a time and in order, so no
// more than one probe run (16 probes, 32 servers) is ever in flight.
struct PushQueue {
  std::deque<StunListResult> events;  // the front one is being probed
  StunListWatch::PushProbes probing;
  bool busy = false;
  std::size_t dropped = 0;
};

}  // namespace

Result<void> watch(xmpp::Session& session, StunListWatch& w,
                   const std::function<void(const StunListResult&)>& on_event, const std::function<bool()>& stop,
                   Trace& trace, const AsyncProber& prober) {
  auto queue = std::make_shared<PushQueue>();
  const bool probing = w.probing();
  AsyncProber probe = prober;
  if (!probe)
    probe = [&session, &w, &trace](std::vector<stun::ProbeTarget> targets,
                                   std::function<void(std::vector<stun::ProbeResult>)> done) {
      stun::async_probe_all(session.io(), std::move(targets), w.probe_options(), trace, std::move(done));
    };
  // Runs on the loop: emits the events at the front whose probes are done, starts the next run.
  std::function<void()> pump;
  pump = [&, queue] {
    while (!queue->busy && !queue->events.empty()) {
      auto& front = queue->events.front();
      queue->probing = w.plan_push_probes(front);
      if (queue->probing.targets.empty()) {
        w.complete_push_probes(front, queue->probing, {});
        on_event(front);
        queue->events.pop_front();
        continue;
      }
      queue->busy = true;
      trace.progress(1, "probing " + std::to_string(queue->probing.targets.size()) + " pushed server(s)");
      std::weak_ptr<PushQueue> weak = queue;
      probe(queue->probing.targets, [&, weak](std::vector<stun::ProbeResult> results) {
        auto q = weak.lock();
        if (!q || q->events.empty()) return;  // the watch ended meanwhile
        w.complete_push_probes(q->events.front(), q->probing, std::move(results));
        on_event(q->events.front());
        q->events.pop_front();
        q->busy = false;
        pump();
      });
    }
  };
  session.on_stanza([&, queue](const xml::Element& st) {
    auto step = w.on_stanza(st, now_unix());
    if (!step) return false;
    session.send(step->reply);
    if (!step->problem.empty()) trace.warning(step->problem);
    if (step->event) {
      for (const auto& warning : step->event->warnings) trace.warning(warning);
      if (!probing) {
        on_event(*step->event);
      } else if (queue->events.size() >= kMaxPushesWaiting) {
        if (queue->dropped++ == 0)
          trace.warning("list pushes arrive faster than they can be probed; leaving events out (the list stays current)");
      } else {
        queue->events.push_back(std::move(*step->event));
        pump();
      }
    }
    return true;
  });
  trace.progress(1, "watching for list pushes (Ctrl-C to stop)");
  // XEP-0199 pings after 60 s of silence; a dead link is reported within 90 s.
  session.set_keepalive(std::chrono::seconds(60), std::chrono::seconds(30));
  auto finish = [&] {
    session.on_stanza(nullptr);
    // Events still waiting for probes are shown as they are, in order.
    auto waiting = std::move(queue->events);
    queue->events.clear();
    for (auto& e : waiting) {
      e.probed = true;
      e.probe_targets.clear();
      e.probes.clear();
      e.summary = {};
      e.failure.reset();
      for (auto& row : e.rows) {
        if (row.probe || row.probe_skipped.empty()) row.probe_skipped = "not probed: the watch ended first";
        row.probe.reset();
      }
      on_event(e);
    }
    if (queue->dropped > 0) trace.warning(std::to_string(queue->dropped) + " list push event(s) were left out");
  };
  while (!stop()) {
    auto r = session.poll(std::chrono::milliseconds(200));
    if (!r && r.error().category != Category::Interrupted) {
      finish();
      return fail(r.error());
    }
  }
  finish();
  return {};
}

}  // namespace xnet::ops
