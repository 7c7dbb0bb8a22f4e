// SPDX-License-Identifier: MIT
// Test support: a c2s session's Transport without sockets (what the session writes piles up in
// `out`, timers wait for fire_timers()), a kHeader stream opening, and a Trace that records what
// would reach --debug=xml. For unit tests of server::C2sSession and the hub.
#pragma once

#include <chrono>
#include <functional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "server/c2s.hpp"
#include "trace.hpp"

namespace xnet::test {

struct FakeTransport : server::Transport {
  std::string out;
  std::string exporter;     ///< tls-exporter data handed to SCRAM-*-PLUS ("" = none)
  std::size_t pending = 0;  ///< what pending_bytes() reports (a peer that does not read)
  bool tls_started = false, closed = false;
  std::vector<std::function<void()>> timers;
  void write(std::string d) override { out += d; }
  void start_tls() override { tls_started = true; }
  void close() override { closed = true; }
  void after(std::chrono::milliseconds, std::function<void()> fn) override { timers.push_back(std::move(fn)); }
  std::size_t pending_bytes() const override { return pending; }
  std::string tls_exporter() override { return exporter; }
  /// What was written since the last take().
  std::string take() { return std::exchange(out, {}); }
  /// Runs the timers set so far (those they set wait for the next call).
  void fire_timers() {
    auto t = std::exchange(timers, {});
    for (auto& f : t) f();
  }
};

/// Records what would reach --debug=xml, one line per wire chunk.
struct RecordingTrace final : Trace {
  std::string all;
  bool enabled(TraceArea) const override { return true; }
  void wire(TraceArea, TraceDir, std::string_view d) override { all.append(d).append("\n"); }
  void progress(int, std::string_view) override {}
  void warning(std::string_view) override {}
};

/// A client's stream opening to the domain "localhost".
inline const std::string kHeader =
    "<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams'>";

}  // namespace xnet::test
