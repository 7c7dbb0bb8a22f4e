// SPDX-License-Identifier: MIT
#include "stun/probe.hpp"

#include <algorithm>
#include <cctype>
#include <exception>
#include <map>
#include <memory>
#include <tuple>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include "stun/async.hpp"

namespace xnet::stun {
namespace {

using std::chrono::milliseconds;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

bool is_turn(const ProbeTarget& t) {
  auto type = lower(t.type);
  return type == "turn" || type == "turns";
}

// "udp", "tcp" or "tls": how the probe reaches the server.
std::string wire_transport(const ProbeTarget& t) {
  auto type = lower(t.type);
  if (type == "stuns" || type == "turns") return "tls";
  return lower(t.transport) == "tcp" ? "tcp" : "udp";
}

// A probe's full result and its Binding part alone (what a plain STUN entry for the same
// server gets).
struct Outcome {
  ProbeResult full;
  ProbeResult binding;
};

asio::awaitable<Outcome> co_probe(const ProbeTarget& target, const ProbeOptions& options, Trace& trace) {
  Outcome oc;
  ProbeResult& out = oc.full;
  const auto type = lower(target.type);
  const auto wire = wire_transport(target);
  const bool turn = is_turn(target);
  const std::string label = type + ":" + target.host + ":" + std::to_string(target.port) + " (" + wire + ")";

  ClientOptions copts;
  copts.policy = options.policy;
  copts.software = options.software;
  copts.trace = &trace;
  copts.deadline = steady_clock().now() + options.overall_timeout;
  if (options.deadline && *options.deadline < *copts.deadline) copts.deadline = *options.deadline;
  auto left = [&] {
    return std::max(milliseconds(1), std::chrono::duration_cast<milliseconds>(*copts.deadline - steady_clock().now()));
  };

  auto addrs = co_await async_resolve(target.host, target.port, left());
  if (!addrs) {
    out.error = addrs.error();
    oc.binding = out;
    co_return oc;
  }
  const Address server = addrs->front();
  out.server_address = server;
  trace.progress(2, "probing " + label + " at " + server.to_string());

  Result<std::unique_ptr<AsyncTransport>> transport = fail(Category::Internal, "no transport");
  auto t = std::min(options.connect_timeout, left());
  if (wire == "tls")
    transport = co_await async_open_tls(server, target.host, options.tls_verify, t, options.ca_file);
  else if (wire == "tcp")
    transport = co_await async_open_tcp(server, t);
  else
    transport = co_await async_open_udp(server);
  if (!transport) {
    out.error = transport.error();
    oc.binding = out;
    co_return oc;
  }

  auto bound = co_await co_binding(**transport, copts, target.credentials);
  if (!bound) {
    // A STUN error response (or a credential rejection) still proves the server is there.
    const auto c = bound.error().category;
    out.reachable = c == Category::Auth || c == Category::Remote || c == Category::NotSupported;
    out.error = bound.error();
    oc.binding = out;
    co_return oc;
  }
  out.reachable = true;
  out.rtt_ms = bound->rtt_ms;
  out.sends = bound->sends;
  out.mapped = bound->mapped;
  out.local = (*transport)->local();
  out.software = bound->software;
  oc.binding = out;

  if (!turn) co_return oc;
  if (!options.allocate) {
    out.note = "allocation not requested";
    co_return oc;
  }
  if (!target.credentials) {
    out.note = "TURN without credentials: allocation not tried";
    co_return oc;
  }
  out.allocation_attempted = true;
  // Over UDP the Binding socket is reused: same 5-tuple, and coturn answers both on one port.
  auto alloc = co_await co_allocate(**transport, *target.credentials, copts, false);
  if (!alloc) {
    out.error = alloc.error();
    co_return oc;
  }
  out.relayed = alloc->relayed;
  out.allocate_rtt_ms = alloc->rtt_ms;
  out.lifetime = alloc->lifetime;
  out.released = alloc->released;
  if (!alloc->released) out.note = "allocation not released: " + alloc->release_error;
  co_return oc;
}

// One probe_all run: distinct servers handed out to at most `concurrency` workers.
struct Run {
  std::vector<ProbeTarget> targets;
  ProbeOptions options;
  Trace* trace = nullptr;
  ProbeDone done;
  std::vector<std::size_t> reps;          // target index probed for each distinct server, in order
  std::vector<std::size_t> group_of;      // target -> index into reps
  std::vector<Outcome> outcomes;          // per rep
  std::size_t to_probe = 0;               // reps[0..to_probe) are probed, the rest skipped
  std::size_t next = 0;
  std::size_t workers = 0;

  void finish() {
    std::vector<ProbeResult> results(targets.size());
    for (std::size_t i = 0; i < targets.size(); ++i) {
      const std::size_t g = group_of[i];
      const std::size_t rep = reps[g];
      if (g >= to_probe) {
        results[i].skipped = "not probed: the list names more than " + std::to_string(options.max_servers) +
                             " distinct servers";
        continue;
      }
      const auto& oc = outcomes[g];
      const auto& t = targets[i];
      const auto& r = targets[rep];
      const bool same_creds = t.credentials && r.credentials && t.credentials->username == r.credentials->username &&
                              t.credentials->password == r.credentials->password;
      if (i == rep || (is_turn(t) && is_turn(r) && same_creds) || (!t.credentials && !r.credentials && is_turn(t) == is_turn(r))) {
        results[i] = oc.full;
      } else {
        results[i] = oc.binding;
        if (is_turn(t) && options.allocate && oc.binding.ok())
          results[i].note = t.credentials ? "same server as entry " + std::to_string(rep + 1) +
                                                ": probed once, with that entry's credentials"
                                          : "TURN without credentials: allocation not tried";
      }
      if (i != rep) results[i].same_as = rep;
    }
    auto cb = std::move(done);
    cb(std::move(results));
  }
};

asio::awaitable<void> worker(std::shared_ptr<Run> run) {
  while (run->next < run->to_probe) {
    const std::size_t g = run->next++;
    const auto& target = run->targets[run->reps[g]];
    try {
      run->outcomes[g] = co_await co_probe(target, run->options, *run->trace);
    } catch (const std::exception& e) {
      run->outcomes[g].full.error = Error(Category::Internal, std::string("probe failed: ") + e.what());
      run->outcomes[g].binding = run->outcomes[g].full;
    }
  }
  if (--run->workers == 0) run->finish();
}

}  // namespace

void async_probe_all(asio::io_context& io, std::vector<ProbeTarget> targets, ProbeOptions options, Trace& trace,
                     ProbeDone done) {
  auto run = std::make_shared<Run>();
  run->targets = std::move(targets);
  run->options = std::move(options);
  run->trace = &trace;
  run->done = std::move(done);
  // Each distinct server once; a TURN entry with credentials represents its server (its probe
  // includes the Binding that a plain STUN entry needs).
  std::map<std::tuple<std::string, std::uint16_t, std::string>, std::size_t> seen;
  run->group_of.resize(run->targets.size());
  for (std::size_t i = 0; i < run->targets.size(); ++i) {
    const auto& t = run->targets[i];
    auto key = std::make_tuple(lower(t.host), t.port, wire_transport(t));
    auto [it, fresh] = seen.emplace(key, run->reps.size());
    if (fresh) {
      run->reps.push_back(i);
    } else {
      auto& rep = run->reps[it->second];
      const auto& r = run->targets[rep];
      if (is_turn(t) && t.credentials && !(is_turn(r) && r.credentials)) rep = i;
    }
    run->group_of[i] = it->second;
  }
  run->outcomes.resize(run->reps.size());
  run->to_probe = std::min(run->reps.size(), run->options.max_servers);
  if (run->to_probe < run->reps.size())
    trace.warning("the server lists " + std::to_string(run->reps.size()) + " distinct STUN/TURN servers; probing only the first " +
                  std::to_string(run->to_probe));
  const std::size_t workers = std::min(std::max<std::size_t>(1, run->options.concurrency), run->to_probe);
  if (workers == 0) {
    asio::post(io, [run] { run->finish(); });
    return;
  }
  run->workers = workers;
  for (std::size_t w = 0; w < workers; ++w) asio::co_spawn(io, worker(run), asio::detached);
}

std::vector<ProbeResult> probe_all(const std::vector<ProbeTarget>& targets, const ProbeOptions& options,
                                   Trace& trace) {
  asio::io_context io;
  std::vector<ProbeResult> out;
  async_probe_all(io, targets, options, trace, [&](std::vector<ProbeResult> r) { out = std::move(r); });
  io.run();
  return out;
}

ProbeResult probe(const ProbeTarget& target, const ProbeOptions& options, Trace& trace) {
  return probe_all({target}, options, trace).front();
}

}  // namespace xnet::stun
