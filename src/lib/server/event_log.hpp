// SPDX-License-Identifier: MIT
#pragma once

// The structured log of `xnet serve` and its services: one event per state change, rendered by
// the cmd layer as a text line or a JSON line. Its own header so that services (PASS) and the
// command layer need not include the whole hub.

#include <string_view>

#include <nlohmann/json.hpp>

namespace xnet::server {

/// Structured log lines ("one line per event"): the cmd layer renders text or JSON lines.
class EventLog {
 public:
  virtual ~EventLog() = default;
  virtual void event(std::string_view name, const nlohmann::json& fields) = 0;
};

/// An EventLog that drops everything.
class NullEventLog final : public EventLog {
 public:
  void event(std::string_view, const nlohmann::json&) override {}
};

}  // namespace xnet::server
