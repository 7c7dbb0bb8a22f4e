// SPDX-License-Identifier: MIT
#include "stun/probe.hpp"

#include <algorithm>
#include <cctype>
#include <mutex>
#include <thread>

namespace xnet::stun {
namespace {

// Serialises calls into a Trace that the cmd layer may not have written to be thread-safe.
class LockedTrace final : public Trace {
 public:
  explicit LockedTrace(Trace& inner) : inner_(inner) {}
  bool enabled(TraceArea area) const override {
    std::lock_guard lock(mu_);
    return inner_.enabled(area);
  }
  void wire(TraceArea area, TraceDir dir, std::string_view data) override {
    std::lock_guard lock(mu_);
    inner_.wire(area, dir, data);
  }
  void progress(int level, std::string_view message) override {
    std::lock_guard lock(mu_);
    inner_.progress(level, message);
  }
  void warning(std::string_view message) override {
    std::lock_guard lock(mu_);
    inner_.warning(message);
  }

 private:
  Trace& inner_;
  mutable std::mutex mu_;
};

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

}  // namespace

ProbeResult probe(const ProbeTarget& target, const ProbeOptions& options, Trace& trace) {
  ProbeResult out;
  const auto type = lower(target.type);
  const bool secure = type == "stuns" || type == "turns";
  const bool turn = type == "turn" || type == "turns";
  const bool tcp = secure || lower(target.transport) == "tcp";
  const std::string label = type + ":" + target.host + ":" + std::to_string(target.port) +
                            (tcp ? (secure ? " (tls)" : " (tcp)") : " (udp)");

  ClientOptions copts;
  copts.policy = options.policy;
  copts.software = options.software;
  copts.trace = &trace;
  copts.deadline = steady_clock().now() + options.overall_timeout;

  auto addrs = resolve(target.host, target.port);
  if (!addrs) {
    out.error = addrs.error();
    return out;
  }
  const Address server = addrs->front();
  out.server_address = server;
  trace.progress(2, "probing " + label + " at " + server.to_string());

  auto open = [&]() -> Result<std::unique_ptr<Transport>> {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(*copts.deadline - steady_clock().now());
    auto t = std::min(options.connect_timeout, std::max(left, std::chrono::milliseconds(1)));
    if (secure) return open_tls(server, target.host, options.tls_verify, t);
    if (tcp) return open_tcp(server, t);
    return open_udp(server);
  };
  auto transport = open();
  if (!transport) {
    out.error = transport.error();
    return out;
  }

  auto bound = binding(**transport, copts, target.credentials);
  if (!bound) {
    // A STUN error response (or a credential rejection) still proves the server is there.
    const auto c = bound.error().category;
    out.reachable = c == Category::Auth || c == Category::Remote || c == Category::NotSupported;
    out.error = bound.error();
    return out;
  }
  out.reachable = true;
  out.rtt_ms = bound->rtt_ms;
  out.sends = bound->sends;
  out.mapped = bound->mapped;
  out.software = bound->software;

  if (!turn) return out;
  if (!options.allocate) {
    out.note = "allocation not requested";
    return out;
  }
  if (!target.credentials) {
    out.note = "TURN without credentials: allocation not tried";
    return out;
  }
  out.allocation_attempted = true;
  // Over UDP the Binding socket is reused: same 5-tuple, and coturn answers both on one port.
  auto alloc = allocate(**transport, *target.credentials, copts);
  if (!alloc) {
    out.error = alloc.error();
    return out;
  }
  out.relayed = alloc->relayed;
  out.allocate_rtt_ms = alloc->rtt_ms;
  out.lifetime = alloc->lifetime;
  out.released = alloc->released;
  if (!alloc->released) out.note = "allocation not released: " + alloc->release_error;
  return out;
}

std::vector<ProbeResult> probe_all(const std::vector<ProbeTarget>& targets, const ProbeOptions& options,
                                   Trace& trace) {
  std::vector<ProbeResult> results(targets.size());
  LockedTrace locked(trace);
  std::vector<std::thread> threads;
  threads.reserve(targets.size());
  for (std::size_t i = 0; i < targets.size(); ++i) {
    threads.emplace_back([&, i] {
      try {
        results[i] = probe(targets[i], options, locked);
      } catch (const std::exception& e) {
        results[i].error = Error(Category::Internal, std::string("probe failed: ") + e.what());
      }
    });
  }
  for (auto& t : threads) t.join();
  return results;
}

}  // namespace xnet::stun
