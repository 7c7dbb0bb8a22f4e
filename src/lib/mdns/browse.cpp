// SPDX-License-Identifier: MIT
#include "mdns/browse.hpp"

#include <algorithm>
#include <cstdio>
#include <set>

#include "mdns/instance.hpp"
#include "mdns/presence.hpp"
#include "util/deadline.hpp"

namespace xnet::mdns {

using namespace std::chrono_literals;

bool same_instance(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto x = static_cast<unsigned char>(a[i]), y = static_cast<unsigned char>(b[i]);
    if (x >= 'A' && x <= 'Z') x = static_cast<unsigned char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<unsigned char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

Result<BrowseResult> browse_peers(Backend& backend, const BrowseRequest& req,
                                  const std::function<void(const PeerEvent&)>& on_event,
                                  const std::function<bool()>& stop, Trace& trace) {
  auto t0 = std::chrono::steady_clock::now();
  if (!req.watch && req.timeout <= 0ms) return fail(Category::Usage, "--timeout must be positive");
  if (auto r = backend.browse(kPresenceType); !r) return fail(r.error());
  PeerTable table(req.self);
  Deadline deadline = Deadline::in(req.timeout);
  std::set<std::string> unresolved;  // found but not resolved yet (one-shot completeness)
  std::vector<bool> found(req.wait_for.size(), false);
  bool all_for_now = false;
  BrowseResult res;
  auto waited_all = [&] {
    return !req.wait_for.empty() && std::all_of(found.begin(), found.end(), [](bool b) { return b; });
  };
  while (true) {
    if (stop && stop()) {
      res.end = BrowseEnd::Interrupted;
      break;
    }
    if (!req.watch && deadline.expired()) {
      res.end = BrowseEnd::Deadline;
      break;
    }
    auto wait = req.watch ? 100ms : std::min<std::chrono::milliseconds>(deadline.remaining(), 100ms);
    auto ev = backend.events().pop(wait);
    if (!ev) continue;
    using K = BackendEvent::Kind;
    if (ev->kind == K::Failure) return fail(Category::Daemon, ev->message, daemon_hint());
    if (ev->kind == K::AllForNow) all_for_now = true;
    if (ev->kind == K::Found) unresolved.insert(ev->name);
    if (ev->kind == K::Resolved || ev->kind == K::Unresolved || ev->kind == K::Removed) unresolved.erase(ev->name);
    if (ev->kind == K::Unresolved) trace.progress(1, "lan: could not resolve '" + ev->name + "'");
    for (const auto& pe : table.apply(*ev)) {
      for (std::size_t i = 0; i < req.wait_for.size(); ++i)
        if (same_instance(pe.peer.name, req.wait_for[i])) found[i] = pe.kind != PeerEvent::Kind::Removed;
      if (!req.watch || (req.exclude_own && pe.peer.own)) continue;
      if (on_event) on_event(pe);
    }
    if (waited_all()) {
      res.end = BrowseEnd::Found;
      break;
    }
    // One-shot: done once the daemon has told us everything it knows and all of it resolved.
    if (!req.watch && req.wait_for.empty() && all_for_now && unresolved.empty()) {
      res.end = BrowseEnd::Complete;
      break;
    }
  }
  res.elapsed = std::chrono::steady_clock::now() - t0;
  res.complete = res.end == BrowseEnd::Complete || res.end == BrowseEnd::Found;
  for (std::size_t i = 0; i < req.wait_for.size(); ++i)
    if (!found[i]) res.missing.push_back(req.wait_for[i]);
  for (auto& p : table.peers()) {
    if (req.exclude_own && p.own) continue;
    if (!req.wait_for.empty() &&
        std::none_of(req.wait_for.begin(), req.wait_for.end(), [&](const auto& n) { return same_instance(p.name, n); }))
      continue;
    res.peers.push_back(std::move(p));
  }
  if (!req.wait_for.empty() && res.end == BrowseEnd::Deadline) {
    std::string names;
    for (const auto& n : res.missing) names += (names.empty() ? "" : ", ") + n;
    auto secs = std::chrono::duration<double>(req.timeout).count();
    char buf[32];
    std::snprintf(buf, sizeof buf, "%g", secs);
    return fail(Category::Dns, "not on the link after " + std::string(buf) + " s: " + names,
                "check the name (as 'xnet lan browse' lists it) or allow more time with --timeout");
  }
  return res;
}

}  // namespace xnet::mdns
