// SPDX-License-Identifier: MIT
// stun-list: the STUN/TURN services an XMPP server announces (XEP-0215 in every form and
// google:jingleinfo), with credentials, pushes (--watch) and a real STUN/TURN probe (--probe).
#include <cmath>
#include <cstdlib>
#include <ctime>
#include <iostream>
#include <ostream>

#include <CLI/CLI.hpp>

#include "cmd/commands.hpp"
#include "cmd/common.hpp"
#include "cmd/render.hpp"
#include "stun/probe.hpp"
#include "ops/stun_list.hpp"
#include "xep/extdisco_client.hpp"
#include "xmpp/session.hpp"

namespace xnet::cmd {
namespace {

struct StunListOptions {
  ConnectionOptions conn;
  std::string service;
  std::string ns;
  bool all = false;
  std::string type;
  std::string transport;
  bool no_credentials = false;
  bool show_secrets = false;
  bool watch = false;
  bool probe = false;
  bool no_allocate = false;
  int rto_ms = 100;
  int tries = 4;
  double probe_timeout = 5.0;
};

// What the renderers need besides the result: display choices, not data.
struct StunListView {
  const ops::StunListResult& r;
  bool show_secrets = false;
};

std::string left_text(long long seconds) {
  bool past = seconds < 0;
  long long s = std::llabs(seconds);
  std::string t;
  if (s < 120)
    t = std::to_string(s) + " s";
  else if (s < 7200)
    t = std::to_string(s / 60) + " min";
  else if (s < 172800)
    t = std::to_string(s / 3600) + " h " + std::to_string((s % 3600) / 60) + " min";
  else
    t = std::to_string(s / 86400) + " days";
  return past ? "expired " + t + " ago" : "in " + t;
}

nlohmann::json error_json(const Error& e) {
  return {{"category", category_name(e.category)}, {"message", e.message}, {"exit_code", exit_code(e.category)}};
}

using P = stun::ProbeResult;
using PF = Field<P>;
nlohmann::json addr_json(const std::optional<stun::Address>& a) {
  return a ? nlohmann::json(a->to_string()) : nlohmann::json(nullptr);
}
std::string no_text(const P&) { return {}; }  // the text of a field shown by another's, or JSON only

// One probe (`probe` of each service): JSON keys, and the words of the text line
// "probe: ok  rtt 1.2 ms  mapped ...", in order; error and note are lines of their own.
const FieldTable<P> kProbeFields = {
    PF{"ok", "probe:", [](const P& p) { return nlohmann::json(p.ok()); },
       [](const P& p) { return std::string(p.ok() ? "ok" : "FAILED"); }},
    PF{"reachable", "", [](const P& p) { return nlohmann::json(p.reachable); }, no_text},  // in ok and error
    PF{"rtt_ms", "rtt", [](const P& p) { return p.rtt_ms ? nlohmann::json(round_ms(*p.rtt_ms)) : nlohmann::json(nullptr); },
       [](const P& p) { return p.rtt_ms ? format_ms(*p.rtt_ms) : std::string(); }, true},
    PF{"requests_sent", "", [](const P& p) { return nlohmann::json(p.sends); }, no_text},
    PF{"server_address", "", [](const P& p) { return addr_json(p.server_address); }, no_text, true},
    PF{"mapped_address", "mapped", [](const P& p) { return addr_json(p.mapped); },
       [](const P& p) { return p.mapped ? p.mapped->to_string() : std::string(); }, true},
    PF{"relayed_address", "relayed", [](const P& p) { return addr_json(p.relayed); },
       [](const P& p) { return p.relayed ? p.relayed->to_string() + (p.released ? " (released)" : "") : std::string(); },
       true},
    PF{"allocation_attempted", "", [](const P& p) { return nlohmann::json(p.allocation_attempted); }, no_text},
    PF{"allocate_rtt_ms", "",
       [](const P& p) { return p.allocate_rtt_ms ? nlohmann::json(round_ms(*p.allocate_rtt_ms)) : nlohmann::json(nullptr); },
       no_text, true},
    PF{"lifetime", "", [](const P& p) { return p.relayed ? nlohmann::json(p.lifetime) : nlohmann::json(nullptr); },
       no_text, true},
    PF{"released", "", [](const P& p) { return nlohmann::json(p.released); }, no_text},  // in relayed
    PF{"software", "", [](const P& p) { return p.software.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.software); },
       no_text, true},
    PF{"error", "", [](const P& p) { return p.error ? error_json(*p.error) : nlohmann::json(nullptr); },
       [](const P& p) {
         return p.error ? std::string(category_label(p.error->category)) + ": " + p.error->message : std::string();
       },
       true},  // a line of its own
    PF{"note", "", [](const P& p) { return p.note.empty() ? nlohmann::json(nullptr) : nlohmann::json(p.note); },
       [](const P& p) { return p.note; },
       true},  // a line of its own
};

nlohmann::json service_json(const xep0215::Service& s, const xep0215::FoundService* f, long long now) {
  using nlohmann::json;
  // Prosody sends no `expires` with TURN REST credentials: the username carries the expiry.
  const bool has_expiry = s.expires.has_value() || (f && f->rest_expiry.has_value());
  const long long expiry_at = s.expires ? *s.expires : (f && f->rest_expiry) ? *f->rest_expiry : 0;
  json j = {{"type", s.type},
            {"host", s.host},
            {"port", s.port},
            {"transport", s.transport},
            {"uri", s.uri()},
            {"username", s.username.empty() ? json(nullptr) : json(s.username)},
            {"password", s.password.empty() ? json(nullptr) : json(s.password)},
            {"expires", has_expiry ? json(xep0215::format_datetime(expiry_at)) : json(nullptr)},
            {"expires_in", has_expiry ? json(expiry_at - now) : json(nullptr)},
            {"expires_source", !has_expiry ? json(nullptr)
                               : s.expires ? json(s.expires_from_ttl ? "ttl" : "expires")
                                           : json("turn_rest_username")},
            {"restricted", s.restricted},
            {"name", s.name.empty() ? json(nullptr) : json(s.name)},
            {"source", xep0215::form_label(s.source)},
            {"source_ns", xep0215::form_ns(s.source)}};
  if (s.action != xep0215::Action::Add) j["action"] = xep0215::action_name(s.action);
  if (!s.token.empty()) j["token"] = s.token;
  if (f) {
    j["expired"] = f->expired;
    j["credentials_requested"] = f->credentials_requested;
    j["rest_expiry"] = f->rest_expiry ? json(xep0215::format_datetime(*f->rest_expiry)) : json(nullptr);
    j["rest_user"] = f->rest_expiry ? json(f->rest_user) : json(nullptr);
  }
  return j;
}

void to_json(nlohmann::json& j, const StunListView& v) {
  using nlohmann::json;
  const auto& r = v.r;
  j = json::object();
  if (r.event != ops::StunListEvent::None) j["event"] = ops::event_name(r.event);
  j["jid"] = r.jid;
  j["server"] = r.server;
  j["service_jids"] = r.service_jids;
  j["via_items"] = r.via_items;
  if (!r.push_from.empty()) j["from"] = r.push_from;
  j["features"] = r.features;
  json forms = json::array();
  for (const auto& a : r.attempts)
    forms.push_back({{"source", xep0215::form_label(a.form)},
                     {"ns", xep0215::form_ns(a.form)},
                     {"jid", a.jid},
                     {"advertised", a.advertised},
                     {"services", a.services},
                     {"error", a.error ? json(a.error->stanza ? a.error->stanza->condition : a.error->message)
                                       : json(nullptr)}});
  j["forms"] = forms;
  json services = json::array();
  for (const auto& row : r.rows) {
    auto s = service_json(row.found.service, &row.found, r.now);
    if (r.probed) {
      if (row.probe && *row.probe < r.probes.size())
        s["probe"] = r.probes[*row.probe];
      else
        s["probe"] = {{"skipped", row.probe_skipped}};
    }
    services.push_back(std::move(s));
  }
  j["services"] = services;
  if (r.event == ops::StunListEvent::Push) {
    json changes = json::array();
    for (const auto& c : r.changes) {
      auto cj = service_json(c, nullptr, r.now);
      cj["action"] = xep0215::action_name(c.action);
      changes.push_back(std::move(cj));
    }
    j["changes"] = changes;
  }
  if (r.probed)
    j["probe_summary"] = {{"probed", r.summary.probed},
                          {"ok", r.summary.ok},
                          {"failed", r.summary.failed},
                          {"all_ok", r.summary.all_ok()}};
  j["warnings"] = r.warnings;
  // The documented error object ends a failed check too (exit status 1).
  j["error"] = r.failure ? error_json(*r.failure) : json(nullptr);
}

void print_service(std::ostream& os, const xep0215::Service& s, const xep0215::FoundService* f, bool secrets,
                   long long now, const Style& st) {
  auto uri = s.uri();
  os << "  " << st.bold() << uri << st.reset();
  // stun: and stuns: URIs carry no transport; say which one was listed.
  if (uri.find("?transport=") == std::string::npos) os << "  " << s.transport;
  if (s.restricted) os << "  restricted";
  if (!s.name.empty()) os << "  \"" << s.name << "\"";
  os << "  " << st.dim() << "[" << xep0215::form_label(s.source) << "]" << st.reset() << "\n";
  if (!s.username.empty() || !s.password.empty()) {
    os << "      user " << (s.username.empty() ? "-" : s.username) << "  password "
       << (s.password.empty() ? "-" : secrets ? s.password : std::string("********")) << "\n";
  }
  if (s.expires) {
    bool expired = *s.expires <= now;
    os << "      expires " << xep0215::format_datetime(*s.expires) << " (" << (expired ? st.red() : "")
       << left_text(*s.expires - now) << (expired ? st.reset() : "") << ")"
       << (s.expires_from_ttl ? " from ttl" : "") << "\n";
  }
  if (f && f->rest_expiry && (!s.expires || *s.expires != *f->rest_expiry))
    os << "      TURN REST username expires " << xep0215::format_datetime(*f->rest_expiry) << " ("
       << left_text(*f->rest_expiry - now) << ")\n";
  if (!s.token.empty()) os << "      relay token " << (secrets ? s.token : std::string("********")) << " (Google relay, not used)\n";
}

void print_text(std::ostream& os, const StunListView& v, const Style& st) {
  const auto& r = v.r;
  if (r.event == ops::StunListEvent::Push) {
    os << "push from " << (r.push_from.empty() ? r.server : r.push_from) << ":\n";
    for (const auto& c : r.changes)
      os << "  " << (c.action == xep0215::Action::Delete ? "- " : c.action == xep0215::Action::Modify ? "~ " : "+ ")
         << c.uri() << (c.uri().find("?transport=") == std::string::npos ? "  " + c.transport : "") << "\n";
    os << "services now:\n";
  } else {
    std::string forms;
    for (const auto& a : r.attempts)
      if (a.services > 0 || !a.error) forms += (forms.empty() ? "" : ", ") + std::string(xep0215::form_label(a.form));
    os << "STUN/TURN services of " << r.server;
    bool elsewhere = r.service_jids.size() != 1 || r.service_jids.front() != r.server;
    if (elsewhere && !r.service_jids.empty()) {
      std::string jids;
      for (const auto& j : r.service_jids) jids += (jids.empty() ? "" : ", ") + j;
      os << " from " << jids << (r.via_items ? " (found in disco#items)" : "");
    }
    os << " (" << (forms.empty() ? "none answered" : forms) << ")\n";
  }
  if (r.rows.empty()) os << "  (none)\n";
  for (const auto& row : r.rows) {
    print_service(os, row.found.service, &row.found, v.show_secrets, r.now, st);
    if (!r.probed) continue;
    if (!row.probe || *row.probe >= r.probes.size()) {
      os << "      probe: " << st.dim() << "skipped (" << row.probe_skipped << ")" << st.reset() << "\n";
      continue;
    }
    print_text(os, r.probes[*row.probe], st);
  }
  if (r.probed)
    os << "probed " << r.summary.probed << " server(s), ok " << r.summary.ok << ", failed " << r.summary.failed
       << "\n";
}

stun::ProbeOptions probe_options(const StunListOptions& o) {
  stun::ProbeOptions p;
  p.policy.rto = std::chrono::milliseconds(o.rto_ms);
  p.policy.max_sends = o.tries;
  p.policy.reliable_timeout = p.policy.udp_budget();
  p.overall_timeout = std::chrono::milliseconds(static_cast<long long>(o.probe_timeout * 1000));
  p.connect_timeout = std::min(p.overall_timeout, std::chrono::milliseconds(3000));
  p.allocate = !o.no_allocate;
  p.tls_verify = !o.conn.insecure;
  p.ca_file = o.conn.ca_file;
  return p;
}

ops::StunListQuery make_query(const StunListOptions& o) {
  ops::StunListQuery q;
  if (!o.ns.empty()) {
    q.force = xep0215::parse_form(o.ns);
    if (!q.force)
      throw Error(Category::Usage, "--ns: unknown form '" + o.ns + "'",
                  "use extdisco:2, extdisco:1, extdisco:0, xep0215-provisional, xep0215-0.1 or jingleinfo");
  }
  q.service_jid = o.service;
  q.all = o.all;
  q.type = o.type;
  q.transport = o.transport;
  q.request_credentials = !o.no_credentials;
  q.probe = o.probe;
  q.probe_options = probe_options(o);
  q.watch = o.watch;
  return q;
}

void run_stun_list(const StunListOptions& o, Output& out) {
  auto query = make_query(o);
  auto cfg = unwrap(resolve_connection(o.conn, out));
  auto deadline = deadline_from(cfg.timeout);  // after the password: a prompt must not eat it
  auto session = unwrap(xmpp::Session::open(cfg, out, deadline));
  auto result = unwrap(ops::stun_list(session, query, deadline, out));
  out.emit(StunListView{result, o.show_secrets});
  if (!o.watch) {
    session.close();
    // Under --json the result already carries the error object; only the exit status is left.
    if (result.failure) out.fail_after_result(*result.failure);
    return;
  }
  // --watch: acknowledge and print each push until SIGINT/SIGTERM (the normal way to stop).
  ops::StunListWatch w(result, query);
  unwrap(ops::watch(
      session, w, [&](const ops::StunListResult& e) { out.emit(StunListView{e, o.show_secrets}); },
      [] { return interrupted(); }, out));
  session.close();
}

}  // namespace

const FieldTable<stun::ProbeResult>& stun_probe_fields() { return kProbeFields; }

void register_stun_list(CLI::App& app, Output& out) {
  auto opts = std::make_shared<StunListOptions>();
  auto* sub = app.add_subcommand("stun-list", "List the STUN/TURN servers the XMPP server announces (XEP-0215)");
  add_connection_options(*sub, opts->conn);
  sub->add_option("--service", opts->service,
                  "Ask this JID (e.g. a component) for the list instead of the account's domain")
      ->type_name("JID");
  sub->add_option("--ns", opts->ns,
                  "Ask only this form: extdisco:2, extdisco:1, extdisco:0, xep0215-provisional, xep0215-0.1, "
                  "jingleinfo")
      ->type_name("FORM");
  sub->add_flag("--all", opts->all, "Ask every form the server advertises; each entry names its source");
  sub->add_option("--type", opts->type, "Only services of this type")
      ->check(quiet(CLI::IsMember({"stun", "turn", "stuns", "turns"})))
      ->type_name("stun|turn|stuns|turns");
  sub->add_option("--transport", opts->transport, "Only services over this transport")
      ->check(quiet(CLI::IsMember({"udp", "tcp"})))
      ->type_name("udp|tcp");
  sub->add_flag("--no-credentials", opts->no_credentials,
                "Do not request credentials for restricted services (extdisco <credentials/>)");
  sub->add_flag("--show-secrets", opts->show_secrets, "Show passwords in text output (JSON always carries them)");
  sub->add_flag("--watch", opts->watch, "Stay connected and print each list push (JSON lines with --json)");
  auto* probe = sub->add_flag("--probe", opts->probe,
                              "Probe each server: STUN Binding, and a TURN Allocate (then released) with the credentials");
  sub->add_flag("--no-allocate", opts->no_allocate, "With --probe, send only Binding requests, also to TURN servers")
      ->needs(probe);
  sub->add_option("--stun-rto", opts->rto_ms, "With --probe, first STUN retransmission timeout in ms (doubles)")
      ->capture_default_str()
      ->check(quiet(CLI::Range(10, 10000)))
      ->type_name("MS");
  sub->add_option("--stun-tries", opts->tries, "With --probe, STUN requests sent over UDP before giving up")
      ->capture_default_str()
      ->check(quiet(CLI::Range(1, 10)))
      ->type_name("N");
  sub->add_option("--probe-timeout", opts->probe_timeout, "With --probe, bound on each server's whole probe")
      ->capture_default_str()
      ->check(quiet(CLI::PositiveNumber))
      ->type_name("SECONDS");
  sub->callback([opts, &out] {
    run_stun_list(*opts, out);
  });
}

}  // namespace xnet::cmd

namespace xnet::stun {
void to_json(nlohmann::json& j, const ProbeResult& p) { j = cmd::fields_json(cmd::kProbeFields, p); }
// "      probe: ok  rtt 1.2 ms  mapped ..." from the labelled fields, then the unlabelled ones
// (error, note) as lines of their own.
void print_text(std::ostream& os, const ProbeResult& p, const cmd::Style& st) {
  std::string notes;
  os << "     ";
  for (const auto& f : cmd::kProbeFields) {
    if (auto v = f.get(p); v.is_discarded() || v.is_null()) continue;
    const std::string t = cmd::field_text(f, p);
    if (t.empty()) continue;
    if (f.label.empty()) {
      notes += "      " + std::string(f.key == "error" ? st.red() : st.dim()) + t + std::string(st.reset()) + "\n";
      continue;
    }
    os << (f.key == "ok" ? " " : "  ") << f.label << ' ';
    if (f.key == "ok")
      os << (p.ok() ? st.green() : st.red()) << t << st.reset();
    else
      os << t;
  }
  os << '\n' << notes;
}
}  // namespace xnet::stun
