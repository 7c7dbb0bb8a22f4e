// SPDX-License-Identifier: MIT
#pragma once

// The renderers of the command layer's result and event types, declared for the unit tests
// (tests/unit/cmd): each type's field table, and its to_json/print_text found by ADL.

#include <iosfwd>

#include <nlohmann/json.hpp>

#include "cmd/fields.hpp"
#include "ops/stun_list.hpp"
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

/// A stun-list result or push event with what the text form needs besides it: display
/// choices, not data (secrets are masked in text unless show_secrets; JSON always has them).
struct StunListView {
  const ops::StunListResult& r;
  bool show_secrets = false;
};
void to_json(nlohmann::json& j, const StunListView& v);
void print_text(std::ostream& os, const StunListView& v, const Style& s);

/// One service of a stun-list result (row set) or of a push's changes (row null).
struct ServiceView {
  const xep0215::Service& s;
  const ops::StunListRow* row;
  const StunListView& list;
  const xep0215::FoundService* found() const { return row ? &row->found : nullptr; }
  /// expires, else the expiry a TURN REST username carries.
  std::optional<long long> expiry() const;
  /// The probe of this row (null when not probed, skipped, or a change).
  const stun::ProbeResult* probe() const;
};
void to_json(nlohmann::json& j, const ServiceView& v);
void print_text(std::ostream& os, const ServiceView& v, const Style& s);

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
const FieldTable<xmpp::WhoamiReport>& whoami_fields();  // to_json/print_text in cmd/whoami.hpp
const FieldTable<stun::ProbeResult>& stun_probe_fields();  // `probe` of each stun-list service
const FieldTable<ServiceView>& stun_service_fields();       // each service and change
const FieldTable<xep0215::FormAttempt>& stun_form_fields();  // `forms`
const FieldTable<ops::ProbeSummary>& stun_summary_fields();  // `probe_summary`
const FieldTable<StunListView>& stun_list_fields();         // the result and each push

}  // namespace xnet::cmd
