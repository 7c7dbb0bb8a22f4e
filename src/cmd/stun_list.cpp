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

using J = nlohmann::json;
J null_if_empty(const std::string& s) { return s.empty() ? J(nullptr) : J(s); }
template <class T>
std::string no_text(const T&) { return {}; }  // the text of a field shown by another's, or JSON only

using P = stun::ProbeResult;
using PF = Field<P>;
J addr_json(const std::optional<stun::Address>& a) { return a ? J(a->to_string()) : J(nullptr); }

// One probe (`probe` of each service): JSON keys, and the text "probe: ok  rtt 1.2 ms  mapped
// ...", in order; error and note are lines of their own.
const FieldTable<P> kProbeFields = {
    PF{"ok", "probe:", [](const P& p) { return J(p.ok()); },
       [](const P& p) { return std::string(p.ok() ? "probe: ok" : "probe: FAILED"); }},
    PF{"reachable", "", [](const P& p) { return J(p.reachable); }, no_text<P>},  // in ok and error
    PF{"rtt_ms", "rtt", [](const P& p) { return p.rtt_ms ? J(round_ms(*p.rtt_ms)) : J(nullptr); },
       [](const P& p) { return p.rtt_ms ? "rtt " + format_ms(*p.rtt_ms) : std::string(); }, true},
    PF{"requests_sent", "", [](const P& p) { return J(p.sends); }, no_text<P>},
    PF{"server_address", "", [](const P& p) { return addr_json(p.server_address); }, no_text<P>, true},
    PF{"mapped_address", "mapped", [](const P& p) { return addr_json(p.mapped); },
       [](const P& p) { return p.mapped ? "mapped " + p.mapped->to_string() : std::string(); }, true},
    PF{"relayed_address", "relayed", [](const P& p) { return addr_json(p.relayed); },
       [](const P& p) {
         return p.relayed ? "relayed " + p.relayed->to_string() + (p.released ? " (released)" : "") : std::string();
       },
       true},
    PF{"allocation_attempted", "", [](const P& p) { return J(p.allocation_attempted); }, no_text<P>},
    PF{"allocate_rtt_ms", "",
       [](const P& p) { return p.allocate_rtt_ms ? J(round_ms(*p.allocate_rtt_ms)) : J(nullptr); }, no_text<P>, true},
    PF{"lifetime", "", [](const P& p) { return p.relayed ? J(p.lifetime) : J(nullptr); }, no_text<P>, true},
    PF{"released", "", [](const P& p) { return J(p.released); }, no_text<P>},  // in relayed
    PF{"software", "", [](const P& p) { return null_if_empty(p.software); }, no_text<P>, true},
    PF{"error", "", [](const P& p) { return p.error ? error_json(*p.error) : J(nullptr); },
       [](const P& p) {
         return p.error ? "\n" + std::string(category_label(p.error->category)) + ": " + p.error->message
                        : std::string();
       },
       true},
    PF{"note", "", [](const P& p) { return null_if_empty(p.note); },
       [](const P& p) { return p.note.empty() ? std::string() : "\n" + p.note; }, true},
};

constexpr BlockLayout kServiceLayout{"  ", "      ", "  "};

// The probe lines, the first without indent (it is a line of a service block).
std::string probe_text(const P& p, const Style& st) {
  auto paint = [&](const PF& f, std::string t) {
    auto on = [&](std::string_view colour) { return std::string(colour) + t + std::string(st.reset()); };
    if (f.key == "ok") {
      t = p.ok() ? "ok" : "FAILED";
      return "probe: " + on(p.ok() ? st.green() : st.red());
    }
    if (f.key == "error") return on(st.red());
    if (f.key == "note") return on(st.dim());
    return t;
  };
  return fields_block(kProbeFields, p, {"", kServiceLayout.indent, kServiceLayout.sep}, paint);
}

using SV = ServiceView;
using SF = Field<SV>;

std::string masked(const std::string& secret, bool show) { return show ? secret : std::string("********"); }
std::string when(long long at, long long now) {
  return xep0215::format_datetime(at) + " (" + left_text(at - now) + ")";
}
// Fields only a listed service has (not a pushed change): absent from both forms otherwise.
template <class Get>
auto listed(Get get) {
  return [get](const SV& v) { return v.row ? get(*v.found()) : absent(); };
}

// One service: JSON keys, and the text block "  URI  transport  restricted  "name"  [source]"
// with its user, expiry, token and probe lines below, in order. Secrets are masked in text
// unless --show-secrets; JSON always carries them.
const FieldTable<SV> kServiceFields = {
    SF{"uri", "uri", [](const SV& v) { return J(v.s.uri()); },
       [](const SV& v) {
         // A pushed change (and a listed entry changed by a push) starts with what happened.
         std::string sign = v.s.action == xep0215::Action::Delete   ? "- "
                            : v.s.action == xep0215::Action::Modify ? "~ "
                            : v.row                                 ? ""
                                                                    : "+ ";
         return sign + v.s.uri();
       }},
    SF{"action", "",
       [](const SV& v) {
         return v.row && v.s.action == xep0215::Action::Add ? absent() : J(xep0215::action_name(v.s.action));
       },
       no_text<SV>},  // in uri
    SF{"type", "", [](const SV& v) { return J(v.s.type); }, no_text<SV>},  // in uri
    SF{"host", "", [](const SV& v) { return J(v.s.host); }, no_text<SV>},  // in uri
    SF{"port", "", [](const SV& v) { return J(v.s.port); }, no_text<SV>},  // in uri
    SF{"transport", "transport", [](const SV& v) { return J(v.s.transport); },
       [](const SV& v) {
         // stun: and stuns: URIs carry no transport; say which one was listed.
         return v.s.uri().find("?transport=") == std::string::npos ? v.s.transport : std::string();
       }},
    SF{"restricted", "restricted", [](const SV& v) { return J(v.s.restricted); },
       [](const SV& v) { return std::string(v.s.restricted ? "restricted" : ""); }},
    SF{"name", "name", [](const SV& v) { return null_if_empty(v.s.name); },
       [](const SV& v) { return v.s.name.empty() ? std::string() : "\"" + v.s.name + "\""; }, true},
    SF{"source", "source", [](const SV& v) { return J(xep0215::form_label(v.s.source)); },
       [](const SV& v) { return "[" + std::string(xep0215::form_label(v.s.source)) + "]"; }},
    SF{"source_ns", "", [](const SV& v) { return J(xep0215::form_ns(v.s.source)); }, no_text<SV>},  // in source
    SF{"username", "user", [](const SV& v) { return null_if_empty(v.s.username); },
       [](const SV& v) {
         if (v.s.username.empty()) return std::string();
         return "\nuser " + v.s.username + (v.s.password.empty() ? "  password -" : "");
       },
       true},
    SF{"password", "password", [](const SV& v) { return null_if_empty(v.s.password); },
       [](const SV& v) {
         if (v.s.password.empty()) return std::string();
         return std::string(v.s.username.empty() ? "\nuser -  " : "") + "password " +
                masked(v.s.password, v.list.show_secrets);
       },
       true},
    SF{"expires", "expires",
       [](const SV& v) { return v.expiry() ? J(xep0215::format_datetime(*v.expiry())) : J(nullptr); },
       [](const SV& v) {
         if (!v.s.expires) return std::string();  // shown as the TURN REST username's expiry
         return "\nexpires " + when(*v.s.expires, v.list.r.now) + (v.s.expires_from_ttl ? " from ttl" : "");
       },
       true},
    SF{"expires_in", "", [](const SV& v) { return v.expiry() ? J(*v.expiry() - v.list.r.now) : J(nullptr); },
       no_text<SV>, true},  // in expires
    SF{"expires_source", "",
       [](const SV& v) {
         if (!v.expiry()) return J(nullptr);
         return J(v.s.expires ? (v.s.expires_from_ttl ? "ttl" : "expires") : "turn_rest_username");
       },
       no_text<SV>, true},  // in expires
    SF{"expired", "", listed([](const xep0215::FoundService& f) { return J(f.expired); }), no_text<SV>},  // in expires
    SF{"credentials_requested", "", listed([](const xep0215::FoundService& f) { return J(f.credentials_requested); }),
       no_text<SV>},  // how they came: for scripts
    SF{"rest_expiry", "TURN REST expiry", listed([](const xep0215::FoundService& f) {
         return f.rest_expiry ? J(xep0215::format_datetime(*f.rest_expiry)) : J(nullptr);
       }),
       [](const SV& v) {
         const auto& rest = v.found()->rest_expiry;
         if (!rest || (v.s.expires && *v.s.expires == *rest)) return std::string();  // none, or the same as expires
         return "\nTURN REST username expires " + when(*rest, v.list.r.now);
       },
       true},
    SF{"rest_user", "",
       listed([](const xep0215::FoundService& f) { return f.rest_expiry ? J(f.rest_user) : J(nullptr); }), no_text<SV>,
       true},  // in username
    SF{"token", "relay token", [](const SV& v) { return v.s.token.empty() ? absent() : J(v.s.token); },
       [](const SV& v) {
         return "\nrelay token " + masked(v.s.token, v.list.show_secrets) + " (Google relay, not used)";
       }},
    SF{"probe", "probe",
       [](const SV& v) {
         if (!v.row || !v.list.r.probed) return absent();
         if (const P* p = v.probe()) return J(*p);
         return J{{"skipped", v.row->probe_skipped}};
       },
       [](const SV& v) {
         const P* p = v.probe();
         return "\n" + (p ? probe_text(*p, Style{}) : "probe: skipped (" + v.row->probe_skipped + ")");
       }},
};

std::string service_text(const SV& v, const Style& st) {
  return fields_block(kServiceFields, v, kServiceLayout, [&](const SF& f, std::string t) {
    auto paint = [](std::string_view on, const std::string& text, std::string_view off) {
      return std::string(on) + text + std::string(off);
    };
    if (f.key == "uri") return paint(st.bold(), t, st.reset());
    if (f.key == "source") return paint(st.dim(), t, st.reset());
    if (f.key == "expires" && v.found() && v.found()->expired) return paint(st.red(), t, st.reset());
    if (f.key == "probe") {
      if (const P* p = v.probe()) return probe_text(*p, st);
      return "probe: " + paint(st.dim(), "skipped (" + v.row->probe_skipped + ")", st.reset());
    }
    return t;
  });
}

// A push's changes: the first line of each ("+ URI  transport ...": the credentials are in the
// list below), then the list heading.
std::string changes_text(const StunListView& v, const Style& st) {
  std::string t;
  for (const auto& c : v.r.changes) {
    auto block = service_text(SV{c, nullptr, v}, st);
    t += "\n" + block.substr(0, block.find('\n'));
  }
  return t + "\nservices now:";
}

std::string services_text(const StunListView& v, const Style& st) {
  if (v.r.rows.empty()) return "\n  (none)";
  std::string t;
  for (const auto& row : v.r.rows) t += "\n" + service_text(SV{row.found.service, &row, v}, st);
  return t;
}

// One form asked: JSON keys; its text (the form's label when it answered) joins the heading.
using FA = xep0215::FormAttempt;
using FF = Field<FA>;
const FieldTable<FA> kFormFields = {
    FF{"source", "form", [](const FA& a) { return J(xep0215::form_label(a.form)); },
       [](const FA& a) {
         return a.services > 0 || !a.error ? std::string(xep0215::form_label(a.form)) : std::string();
       }},
    FF{"ns", "", [](const FA& a) { return J(xep0215::form_ns(a.form)); }, no_text<FA>},  // in source
    FF{"jid", "", [](const FA& a) { return J(a.jid); }, no_text<FA>},                    // the heading's "from"
    FF{"advertised", "", [](const FA& a) { return J(a.advertised); }, no_text<FA>},      // details for scripts
    FF{"services", "", [](const FA& a) { return J(a.services); }, no_text<FA>},          // the list below
    FF{"error", "",
       [](const FA& a) {
         return a.error ? J(a.error->stanza ? a.error->stanza->condition : a.error->message) : J(nullptr);
       },
       no_text<FA>, true},  // a warning on stderr when it happened
};

using PS = ops::ProbeSummary;
using SumF = Field<PS>;
// The probe counts over distinct servers: "probed 2 server(s), ok 1, failed 1".
const FieldTable<PS> kSummaryFields = {
    SumF{"probed", "probed", [](const PS& s) { return J(s.probed); },
         [](const PS& s) { return "probed " + std::to_string(s.probed) + " server(s)"; }},
    SumF{"ok", "ok", [](const PS& s) { return J(s.ok); }, [](const PS& s) { return "ok " + std::to_string(s.ok); }},
    SumF{"failed", "failed", [](const PS& s) { return J(s.failed); },
         [](const PS& s) { return "failed " + std::to_string(s.failed); }},
    SumF{"all_ok", "", [](const PS& s) { return J(s.all_ok()); }, no_text<PS>},  // in failed
};

using V = StunListView;
using VF = Field<V>;
bool push(const V& v) { return v.r.event == ops::StunListEvent::Push; }
// The list came from JIDs other than the domain (a component, disco#items).
bool elsewhere(const V& v) {
  return !push(v) && !v.r.service_jids.empty() &&
         (v.r.service_jids.size() != 1 || v.r.service_jids.front() != v.r.server);
}

// The result (and each push under --watch): JSON keys, and the text, in order: the heading
// "STUN/TURN services of DOMAIN from JIDS (found in disco#items) (FORMS)" or "push from JID:"
// with the changes, then the service blocks and the probe counts.
const FieldTable<V> kStunListFields = {
    VF{"event", "",
       [](const V& v) { return v.r.event == ops::StunListEvent::None ? absent() : J(ops::event_name(v.r.event)); },
       no_text<V>},                                                    // in the heading's words
    VF{"jid", "", [](const V& v) { return J(v.r.jid); }, no_text<V>},  // the account: the user knows it
    VF{"from", "push from", [](const V& v) { return v.r.push_from.empty() ? absent() : J(v.r.push_from); },
       [](const V& v) { return push(v) ? "push from " + v.r.push_from + ":" : std::string(); }},
    VF{"server", "server", [](const V& v) { return J(v.r.server); },
       [](const V& v) {
         if (!push(v)) return "STUN/TURN services of " + v.r.server;
         return v.r.push_from.empty() ? "push from " + v.r.server + ":" : std::string();
       }},
    VF{"service_jids", "from", [](const V& v) { return J(v.r.service_jids); },
       [](const V& v) {
         std::string t;
         if (elsewhere(v))
           for (const auto& j : v.r.service_jids) t += (t.empty() ? "from " : ", ") + j;
         return t;
       }},
    VF{"via_items", "found in", [](const V& v) { return J(v.r.via_items); },
       [](const V& v) { return std::string(elsewhere(v) && v.r.via_items ? "(found in disco#items)" : ""); }},
    VF{"forms", "forms",
       [](const V& v) {
         J forms = J::array();
         for (const auto& a : v.r.attempts) forms.push_back(fields_json(kFormFields, a));
         return forms;
       },
       [](const V& v) {
         if (push(v)) return std::string();
         std::string t;
         for (const auto& a : v.r.attempts)
           if (auto label = fields_block(kFormFields, a, {}); !label.empty()) t += (t.empty() ? "" : ", ") + label;
         return "(" + (t.empty() ? std::string("none answered") : t) + ")";
       }},
    VF{"features", "", [](const V& v) { return J(v.r.features); }, no_text<V>},  // details for scripts
    VF{"changes", "changes",
       [](const V& v) {
         if (!push(v)) return absent();
         J changes = J::array();
         for (const auto& c : v.r.changes) changes.push_back(fields_json(kServiceFields, SV{c, nullptr, v}));
         return changes;
       },
       [](const V& v) { return changes_text(v, Style{}); }},
    VF{"services", "services",
       [](const V& v) {
         J services = J::array();
         for (const auto& row : v.r.rows)
           services.push_back(fields_json(kServiceFields, SV{row.found.service, &row, v}));
         return services;
       },
       [](const V& v) { return services_text(v, Style{}); }},
    VF{"probe_summary", "probed",
       [](const V& v) { return v.r.probed ? fields_json(kSummaryFields, v.r.summary) : absent(); },
       [](const V& v) {
         return "\n" + fields_block(kSummaryFields, v.r.summary, {"", "", ", "});
       }},
    VF{"warnings", "", [](const V& v) { return J(v.r.warnings); }, no_text<V>},  // on stderr as they happen
    // The documented error object ends a failed check too (exit status 1); text: on stderr.
    VF{"error", "", [](const V& v) { return v.r.failure ? error_json(*v.r.failure) : J(nullptr); }, no_text<V>, true},
};

}  // namespace

void to_json(nlohmann::json& j, const StunListView& v) { j = fields_json(kStunListFields, v); }

const stun::ProbeResult* ServiceView::probe() const {
  if (!row || !list.r.probed || !row->probe || *row->probe >= list.r.probes.size()) return nullptr;
  return &list.r.probes[*row->probe];
}
std::optional<long long> ServiceView::expiry() const {
  // Prosody sends no `expires` with TURN REST credentials: the username carries the expiry.
  if (s.expires) return s.expires;
  if (row) return row->found.rest_expiry;
  return std::nullopt;
}

void to_json(nlohmann::json& j, const ServiceView& v) { j = fields_json(kServiceFields, v); }
void print_text(std::ostream& os, const ServiceView& v, const Style& st) { os << service_text(v, st) << '\n'; }

const FieldTable<StunListView>& stun_list_fields() { return kStunListFields; }
const FieldTable<ServiceView>& stun_service_fields() { return kServiceFields; }
const FieldTable<xep0215::FormAttempt>& stun_form_fields() { return kFormFields; }
const FieldTable<ops::ProbeSummary>& stun_summary_fields() { return kSummaryFields; }

void print_text(std::ostream& os, const StunListView& v, const Style& st) {
  os << fields_block(kStunListFields, v, {"", "", " "}, [&](const VF& f, std::string t) {
    if (f.key == "services") return services_text(v, st).substr(1);
    if (f.key == "changes") return changes_text(v, st).substr(1);
    return t;
  }) << '\n';
}
namespace {
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
  auto* probe =
      sub->add_flag("--probe", opts->probe,
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
void print_text(std::ostream& os, const ProbeResult& p, const cmd::Style& st) {
  os << cmd::kServiceLayout.indent << cmd::probe_text(p, st) << '\n';
}
}  // namespace xnet::stun
