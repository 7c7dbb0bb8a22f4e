// SPDX-License-Identifier: MIT
#pragma once

#include <string_view>

namespace xnet {

/// Debug areas selectable with --debug=<areas>.
enum class TraceArea { Xml, Stun, Mdns, Server };

/// Direction of a traced wire chunk.
enum class TraceDir { Sent, Received, Info };

/// The library never prints. It reports wire traffic and progress to a Trace sink that the
/// command layer implements. Implementations must be cheap when an area is disabled.
class Trace {
 public:
  virtual ~Trace() = default;
  /// True when traffic of area should be passed to wire().
  virtual bool enabled(TraceArea area) const = 0;
  /// One chunk of traffic (already redacted by the library: no passwords, no SASL payloads).
  virtual void wire(TraceArea area, TraceDir dir, std::string_view data) = 0;
  /// A progress message; level 1 = milestone (-v), 2 = protocol step (-vv).
  virtual void progress(int level, std::string_view message) = 0;
  /// A warning the user should see (unless -q).
  virtual void warning(std::string_view message) = 0;
};

/// A Trace that drops everything: for tests and callers without a sink.
class NullTrace final : public Trace {
 public:
  bool enabled(TraceArea) const override { return false; }
  void wire(TraceArea, TraceDir, std::string_view) override {}
  void progress(int, std::string_view) override {}
  void warning(std::string_view) override {}
};

/// A process-wide NullTrace instance.
Trace& null_trace();

}  // namespace xnet
