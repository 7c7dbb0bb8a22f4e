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
#include "stun/probe.hpp"
#include "xep/extdisco_client.hpp"
#include "xmpp/session.hpp"

namespace xnet::cmd {
namespace {

struct StunListOptions {
  ConnectionOptions conn;
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

struct Row {
  xep0215::FoundService found;
  std::optional<stun::ProbeResult> probe;
  std::string probe_skipped;  ///< why this entry was not probed
};

struct StunListReport {
  std::string event;  ///< "" for one-shot output; "list"/"push" under --watch
  std::string jid;
  std::string server;
  std::string push_from;
  std::vector<std::string> features;
  std::vector<xep0215::FormAttempt> attempts;
  std::vector<Row> rows;
  std::vector<xep0215::Service> changes;  ///< the entries of a push
  std::vector<std::string> warnings;
  bool probed = false;
  bool show_secrets = false;
  long long now = 0;
};

long long now_unix() { return static_cast<long long>(std::time(nullptr)); }

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

double round3(double v) { return std::round(v * 1000) / 1000; }

nlohmann::json probe_json(const stun::ProbeResult& p) {
  using nlohmann::json;
  auto addr = [](const std::optional<stun::Address>& a) { return a ? json(a->to_string()) : json(nullptr); };
  json j = {{"ok", p.ok()},
            {"reachable", p.reachable},
            {"rtt_ms", p.rtt_ms ? json(round3(*p.rtt_ms)) : json(nullptr)},
            {"requests_sent", p.sends},
            {"server_address", addr(p.server_address)},
            {"mapped_address", addr(p.mapped)},
            {"relayed_address", addr(p.relayed)},
            {"allocation_attempted", p.allocation_attempted},
            {"allocate_rtt_ms", p.allocate_rtt_ms ? json(round3(*p.allocate_rtt_ms)) : json(nullptr)},
            {"lifetime", p.relayed ? json(p.lifetime) : json(nullptr)},
            {"released", p.released},
            {"software", p.software.empty() ? json(nullptr) : json(p.software)},
            {"note", p.note.empty() ? json(nullptr) : json(p.note)},
            {"error", nullptr}};
  if (p.error)
    j["error"] = {{"category", category_name(p.error->category)},
                  {"message", p.error->message},
                  {"exit_code", exit_code(p.error->category)}};
  return j;
}

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

void to_json(nlohmann::json& j, const StunListReport& r) {
  using nlohmann::json;
  j = json::object();
  if (!r.event.empty()) j["event"] = r.event;
  j["jid"] = r.jid;
  j["server"] = r.server;
  if (!r.push_from.empty()) j["from"] = r.push_from;
  j["features"] = r.features;
  json forms = json::array();
  for (const auto& a : r.attempts) {
    json f = {{"source", xep0215::form_label(a.form)},
              {"ns", xep0215::form_ns(a.form)},
              {"advertised", a.advertised},
              {"services", a.services},
              {"error", a.error ? json(a.error->stanza ? a.error->stanza->condition : a.error->message) : json(nullptr)}};
    forms.push_back(std::move(f));
  }
  j["forms"] = forms;
  json services = json::array();
  int probed = 0, ok = 0;
  for (const auto& row : r.rows) {
    auto s = service_json(row.found.service, &row.found, r.now);
    if (r.probed) {
      if (row.probe) {
        s["probe"] = probe_json(*row.probe);
        ++probed;
        if (row.probe->ok()) ++ok;
      } else {
        s["probe"] = {{"skipped", row.probe_skipped}};
      }
    }
    services.push_back(std::move(s));
  }
  j["services"] = services;
  if (r.event == "push") {
    json changes = json::array();
    for (const auto& c : r.changes) {
      auto cj = service_json(c, nullptr, r.now);
      cj["action"] = xep0215::action_name(c.action);
      changes.push_back(std::move(cj));
    }
    j["changes"] = changes;
  }
  if (r.probed) j["probe_summary"] = {{"probed", probed}, {"ok", ok}, {"failed", probed - ok}, {"all_ok", probed == ok}};
  j["warnings"] = r.warnings;
}

void print_service(std::ostream& os, const xep0215::Service& s, const xep0215::FoundService* f, bool secrets,
                   long long now, const Style& st) {
  os << "  " << st.bold() << s.uri() << st.reset();
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

void print_text(std::ostream& os, const StunListReport& r, const Style& st) {
  if (r.event == "push") {
    os << "push from " << (r.push_from.empty() ? r.server : r.push_from) << ":\n";
    for (const auto& c : r.changes)
      os << "  " << (c.action == xep0215::Action::Delete ? "- " : c.action == xep0215::Action::Modify ? "~ " : "+ ")
         << c.uri() << "\n";
    os << "services now:\n";
  } else {
    std::string forms;
    for (const auto& a : r.attempts)
      if (a.services > 0 || !a.error) forms += (forms.empty() ? "" : ", ") + std::string(xep0215::form_label(a.form));
    os << "STUN/TURN services of " << r.server << " (" << (forms.empty() ? "none answered" : forms) << ")\n";
  }
  if (r.rows.empty()) os << "  (none)\n";
  int probed = 0, ok = 0;
  for (const auto& row : r.rows) {
    print_service(os, row.found.service, &row.found, r.show_secrets, r.now, st);
    if (!r.probed) continue;
    if (!row.probe) {
      os << "      probe: " << st.dim() << "skipped (" << row.probe_skipped << ")" << st.reset() << "\n";
      continue;
    }
    const auto& p = *row.probe;
    ++probed;
    if (p.ok()) ++ok;
    os << "      probe: " << (p.ok() ? st.green() : st.red()) << (p.ok() ? "ok" : "FAILED") << st.reset();
    if (p.rtt_ms) os << "  rtt " << round3(*p.rtt_ms) << " ms";
    if (p.mapped) os << "  mapped " << p.mapped->to_string();
    if (p.relayed) os << "  relayed " << p.relayed->to_string() << (p.released ? " (released)" : "");
    os << "\n";
    if (p.error)
      os << "      " << st.red() << category_label(p.error->category) << ": " << p.error->message << st.reset()
         << "\n";
    if (!p.note.empty()) os << "      " << st.dim() << p.note << st.reset() << "\n";
  }
  if (r.probed) os << "probed " << probed << ", ok " << ok << ", failed " << probed - ok << "\n";
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

void run_probes(std::vector<Row>& rows, const StunListOptions& o, Output& out) {
  std::vector<stun::ProbeTarget> targets;
  std::vector<std::size_t> index;
  for (std::size_t i = 0; i < rows.size(); ++i) {
    const auto& s = rows[i].found.service;
    if (s.type != "stun" && s.type != "turn" && s.type != "stuns" && s.type != "turns") {
      rows[i].probe_skipped = s.type == "google-relay" ? "Google relay protocol is not STUN" : "not a STUN/TURN service";
      continue;
    }
    if (s.transport != "udp" && s.transport != "tcp") {
      rows[i].probe_skipped = "transport " + s.transport + " is not supported";
      continue;
    }
    stun::ProbeTarget t;
    t.host = s.host;
    t.port = s.port;
    t.type = s.type;
    t.transport = s.transport;
    if (!s.username.empty() && !s.password.empty()) t.credentials = stun::Credentials{s.username, s.password, false};
    targets.push_back(std::move(t));
    index.push_back(i);
  }
  out.progress(1, "probing " + std::to_string(targets.size()) + " service(s)");
  auto results = stun::probe_all(targets, probe_options(o), out);
  for (std::size_t k = 0; k < results.size(); ++k) {
    if (!results[k].skipped.empty())
      rows[index[k]].probe_skipped = results[k].skipped;
    else
      rows[index[k]].probe = std::move(results[k]);
  }
}

void run_stun_list(const StunListOptions& o, Output& out) {
  auto deadline = deadline_from(o.conn.timeout);
  xep0215::DiscoverOptions d;
  if (!o.ns.empty()) {
    d.force = xep0215::parse_form(o.ns);
    if (!d.force)
      throw Error(Category::Usage, "--ns: unknown form '" + o.ns + "'",
                  "use extdisco:2, extdisco:1, extdisco:0, xep0215-provisional, xep0215-0.1 or jingleinfo");
  }
  auto cfg = unwrap(resolve_connection(o.conn, out));
  auto session = unwrap(xmpp::Session::open(cfg, out, deadline));
  const auto& bound = session.info().bound_jid;
  std::string domain = xmpp::jid_domain(bound);
  std::string bare = xmpp::bare_jid(bound);

  d.server = domain;
  d.own_bare_jid = bare;
  d.all = o.all;
  d.type = o.type;
  d.transport = o.transport;
  d.request_credentials = !o.no_credentials;
  d.now_unix = now_unix();
  auto info = unwrap(session.disco_info(domain, deadline));
  auto requester = [&](xml::Element iq) { return session.request(std::move(iq), deadline); };
  auto found = unwrap(xep0215::discover(info, requester, d, out));

  StunListReport report;
  report.event = o.watch ? "list" : "";
  report.jid = bound;
  report.server = domain;
  report.features = found.features;
  report.attempts = found.attempts;
  report.warnings = found.warnings;
  report.show_secrets = o.show_secrets;
  report.now = d.now_unix;
  for (auto& f : found.services) report.rows.push_back(Row{std::move(f), std::nullopt, {}});
  for (const auto& w : report.warnings) out.warning(w);

  if (o.probe) {
    report.probed = true;
    run_probes(report.rows, o, out);
  }

  if (!o.watch) {
    session.close();
    out.emit(report);
    if (!o.probe) return;
    int probed = 0, failed = 0;
    for (const auto& r : report.rows)
      if (r.probe) {
        ++probed;
        if (!r.probe->ok()) ++failed;
      }
    if (failed == 0) return;
    std::string msg = std::to_string(failed) + " of " + std::to_string(probed) + " probed services failed";
    if (!out.json()) throw Error(Category::CheckFailed, msg);
    // The JSON result is already on stdout and says so; only the exit status is left.
    out.warning(msg);
    throw ExitStatus{exit_code(Category::CheckFailed)};
  }

  // --watch: acknowledge and print each push until SIGINT/SIGTERM.
  out.emit(report);
  std::vector<xep0215::FoundService> current;
  for (const auto& r : report.rows) current.push_back(r.found);
  std::vector<std::string> allowed = {domain, bare};
  session.on_stanza([&](const xml::Element& st) {
    auto push = xep0215::handle_push(st, allowed, now_unix());
    if (!push.is_push) return false;
    session.send(push.reply);
    if (!push.problem.empty()) out.warning(push.problem);
    if (!push.accepted || !push.list) return true;
    std::vector<std::string> warnings = push.list->warnings;
    xep0215::apply_list_push(current, *push.list, now_unix(), warnings);
    StunListReport p;
    p.event = "push";
    p.jid = bound;
    p.server = domain;
    p.push_from = st.attr_or("from");
    p.features = report.features;
    p.show_secrets = o.show_secrets;
    p.now = now_unix();
    p.changes = push.list->services;
    for (const auto& f : current)
      if (xep0215::matches_filters(f.service, o.type, o.transport)) p.rows.push_back(Row{f, std::nullopt, {}});
    p.warnings = warnings;
    for (const auto& w : warnings) out.warning(w);
    out.emit(p);
    return true;
  });
  out.progress(1, "watching for list pushes (Ctrl-C to stop)");
  while (!interrupted()) {
    auto r = session.poll(std::chrono::milliseconds(200));
    if (!r && r.error().category != Category::Interrupted) throw r.error();
  }
  // SIGINT/SIGTERM is the normal way to stop watching: close the stream and exit 0.
  session.close();
}

}  // namespace

void register_stun_list(CLI::App& app, Output& out) {
  auto opts = std::make_shared<StunListOptions>();
  auto* sub = app.add_subcommand("stun-list", "List the STUN/TURN servers the XMPP server announces (XEP-0215)");
  add_connection_options(*sub, opts->conn);
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
    apply_account_defaults(opts->conn, out);
    run_stun_list(*opts, out);
  });
}

}  // namespace xnet::cmd
