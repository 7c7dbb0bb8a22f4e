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
    if (secure) return open_tls(server, target.host, options.tls_verify, t, options.ca_file);
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
  out.local = (*transport)->local();
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

Result<ExternalView> external_address(const std::vector<ProbeTarget>& targets, const ProbeOptions& options,
                                      Trace& trace) {
  if (targets.empty()) return fail(Category::NotSupported, "no STUN server to ask");
  ProbeOptions o = options;
  o.allocate = false;
  auto results = probe_all(targets, o, trace);
  const ProbeResult* first = nullptr;
  std::size_t first_index = 0;
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (results[i].mapped) {
      first = &results[i];
      first_index = i;
      break;
    }
  }
  if (!first) {
    Error e = results.front().error.value_or(Error(Category::Timeout, "no STUN server answered"));
    e.message = "no STUN server answered (" + targets.front().host + ":" + std::to_string(targets.front().port) +
                ": " + e.message + ")";
    return fail(std::move(e));
  }
  ExternalView v;
  v.mapped = *first->mapped;
  v.local = first->local;
  v.server = targets[first_index].host + ":" + std::to_string(targets[first_index].port);
  v.rtt_ms = first->rtt_ms.value_or(0);
  if (!v.local) {
    v.nat = "unknown";
    v.notes.push_back("the local address of the STUN socket is unknown");
  } else if (v.local->family != v.mapped.family) {
    v.nat = "unknown";
    v.notes.push_back("the STUN server saw an IPv" + std::to_string(v.mapped.family) + " address for an IPv" +
                      std::to_string(v.local->family) + " socket (NAT64 or a proxy)");
  } else if (v.local->ip != v.mapped.ip) {
    v.nat = "nat";
    v.notes.push_back("STUN sees " + v.mapped.to_string() + " for the local UDP socket " + v.local->to_string() +
                      ": a NAT is in the path");
  } else {
    v.nat = "none";
    v.notes.push_back("STUN sees the local UDP address: no NAT towards the STUN server");
  }
  if (v.local && v.local->family == v.mapped.family && v.local->port != v.mapped.port)
    v.notes.push_back("the UDP port is translated (" + std::to_string(v.local->port) + " -> " +
                      std::to_string(v.mapped.port) + ")");
  for (std::size_t i = 0; i < results.size(); ++i) {
    if (i == first_index || !results[i].mapped) continue;
    if (results[i].mapped->ip != v.mapped.ip)
      v.disagreements.push_back(targets[i].host + ":" + std::to_string(targets[i].port) + " saw " +
                                results[i].mapped->ip_string());
  }
  return v;
}

std::vector<std::string> compare_with_sic(const ExternalView& stun, const std::string& sic_ip,
                                          std::optional<std::uint16_t> sic_port) {
  std::vector<std::string> notes;
  if (sic_ip == stun.mapped.ip_string()) {
    notes.push_back("the XMPP server (TCP) and the STUN server (UDP) see the same address " + sic_ip);
  } else {
    notes.push_back("the XMPP server sees " + sic_ip + " but the STUN server sees " + stun.mapped.ip_string() +
                    ": different exits or a proxy for TCP");
  }
  (void)sic_port;  // TCP and UDP mappings are separate; their ports are not comparable
  return notes;
}

}  // namespace xnet::stun
