// SPDX-License-Identifier: MIT
#pragma once

// The renderers of the command layer's result and event types, declared for the unit tests
// (tests/unit/cmd): each type's field table, and its to_json/print_text found by ADL.

#include <iosfwd>

#include <nlohmann/json.hpp>

#include "cmd/fields.hpp"
#include "pass/client.hpp"
#include "server/serve_setup.hpp"
#include "stun/probe.hpp"
#include "xmpp/whoami.hpp"

namespace xnet::pass {
void to_json(nlohmann::json& j, const Event& e);
void print_text(std::ostream& os, const Event& e, const cmd::Style& s);
}  // namespace xnet::pass

namespace xnet::server {
void to_json(nlohmann::json& j, const ServeListening& r);
void print_text(std::ostream& os, const ServeListening& r, const cmd::Style& s);
void to_json(nlohmann::json& j, const ComponentReady& r);
void print_text(std::ostream& os, const ComponentReady& r, const cmd::Style& s);
}  // namespace xnet::server

namespace xnet::stun {
void to_json(nlohmann::json& j, const ProbeResult& p);
void print_text(std::ostream& os, const ProbeResult& p, const cmd::Style& s);
}  // namespace xnet::stun

namespace xnet::cmd {

/// A line of serve's log (stderr): `ts event key=value...`, or one JSON object under --json.
struct LogEvent {
  std::string ts;
  std::string event;
  nlohmann::json fields = nlohmann::json::object();
};
void to_json(nlohmann::json& j, const LogEvent& e);
void print_text(std::ostream& os, const LogEvent& e, const Style& s);

const FieldTable<pass::Event>& pass_event_fields();
const FieldTable<server::ServeListening>& serve_listening_fields();
const FieldTable<server::ComponentReady>& component_ready_fields();
const FieldTable<xmpp::WhoamiReport>& whoami_fields();
const FieldTable<stun::ProbeResult>& stun_probe_fields();  // `probe` of each stun-list service  // to_json/print_text in cmd/whoami.hpp

}  // namespace xnet::cmd
