// SPDX-License-Identifier: MIT
// whoami: the address and port the XMPP server sees for this connection (XEP-0279), with a
// NAT hint from comparing it with the local end of the socket.
#include <algorithm>
#include <cmath>
#include <ctime>
#include <ostream>

#include <CLI/CLI.hpp>

#include "cmd/commands.hpp"
#include "cmd/common.hpp"
#include "cmd/whoami.hpp"
#include "stun/behaviour.hpp"
#include "stun/nat.hpp"
#include "util/hostport.hpp"
#include "xep/extdisco_client.hpp"
#include "xmpp/external_stun.hpp"
#include "xmpp/whoami.hpp"

namespace xnet::xmpp {

namespace {

nlohmann::json opt_bool(const std::optional<bool>& b) { return b ? nlohmann::json(*b) : nlohmann::json(nullptr); }

// "none" when the STUN socket's own address came back, "nat" when another did.
std::string udp_nat(const stun::UdpBehaviour& v) {
  if (!v.local || v.observations.empty() || v.local->family != v.observations.front().mapped.family) return "unknown";
  return v.local->ip == v.observations.front().mapped.ip ? "none" : "nat";
}

// Distinct servers (one line each, however often they were listed or asked) that saw another
// address than the first.
std::vector<std::string> disagreements(const stun::UdpBehaviour& v) {
  std::vector<std::string> out, seen;
  if (v.observations.empty()) return out;
  const auto& first = v.observations.front();
  for (const auto& o : v.observations) {
    if (std::find(seen.begin(), seen.end(), o.server) != seen.end()) continue;
    seen.push_back(o.server);
    if (o.server != first.server && o.mapped.ip != first.mapped.ip)
      out.push_back(o.server + " saw " + o.mapped.ip_string());
  }
  return out;
}

nlohmann::json stun_json(const stun::UdpBehaviour& v) {
  using nlohmann::json;
  json obs = json::array();
  for (const auto& o : v.observations)
    obs.push_back({{"server", o.server}, {"destination", o.destination.to_string()}, {"mapped", o.mapped.to_string()}});
  json j = {{"local_ip", v.local ? json(v.local->ip_string()) : json(nullptr)},
            {"local_port", v.local ? json(v.local->port) : json(nullptr)},
            {"nat", udp_nat(v)},
            {"servers", v.servers},
            {"observations", obs},
            {"rfc5780_server", v.rfc5780_server.empty() ? json(nullptr) : json(v.rfc5780_server)},
            {"filter_change_ip_port_answered", opt_bool(v.filter_change_ip_port_answered)},
            {"filter_change_port_answered", opt_bool(v.filter_change_port_answered)},
            {"filtering_note", v.filtering_note.empty() ? json(nullptr) : json(v.filtering_note)},
            {"failures", v.failures},
            {"disagreements", disagreements(v)}};
  if (!v.observations.empty()) {
    const auto& m = v.observations.front().mapped;
    j["external_ip"] = m.ip_string();
    j["external_port"] = m.port;
    j["family"] = m.family == 6 ? "ipv6" : "ipv4";
    j["server"] = v.observations.front().server;
  }
  if (v.rtt_ms) j["rtt_ms"] = std::round(*v.rtt_ms * 1000) / 1000;
  return j;
}

}  // namespace

void to_json(nlohmann::json& j, const WhoamiReport& r) {
  const auto& n = r.nat_report;
  const bool via_stun = r.external.ip.empty() && r.stun && !r.stun->observations.empty();
  j = {{"jid", r.conn.bound_jid},
       {"via", via_stun ? "stun" : "sic"},
       {"external_ip", r.external.ip},
       {"external_port", r.external.port ? nlohmann::json(*r.external.port) : nlohmann::json(nullptr)},
       {"family", r.external.family == 6 ? "ipv6" : "ipv4"},
       {"local_ip", r.conn.local_ip},
       {"local_port", r.conn.local_port},
       {"nat", r.nat},
       {"nat_notes", r.notes},
       {"nat_meaning", n.meaning},
       {"cgnat", n.cgnat},
       {"external_private", n.external_private},
       {"external_shared", n.external_shared},
       {"tcp_port_preserved", opt_bool(n.tcp_port_preserved)},
       {"udp_port_preserved", opt_bool(n.udp_port_preserved)},
       {"mapping", stun::to_string(n.mapping)},
       {"mapping_basis", n.mapping_basis.empty() ? nlohmann::json(nullptr) : nlohmann::json(n.mapping_basis)},
       {"filtering", stun::to_string(n.filtering)},
       {"namespace", via_stun ? nlohmann::json(nullptr) : nlohmann::json(xep0279::ns_uri(r.external.ns))},
       {"server_host", r.conn.server_host},
       {"server_ip", r.conn.server_ip},
       {"server_port", r.conn.server_port},
       {"tls", r.conn.tls},
       {"connect_ms", std::round(r.conn.connect_ms * 10) / 10},
       {"elapsed_ms", std::round(r.elapsed_ms * 10) / 10},
       {"warnings", r.warnings}};
  if (!r.external.extra_ips.empty()) j["extra_ips"] = r.external.extra_ips;
  if (r.stun) j["stun"] = stun_json(*r.stun);
  if (via_stun) {
    // No SIC: the STUN view is the answer (the external and local addresses are UDP ones).
    const auto& s = *r.stun;
    const auto& m = s.observations.front().mapped;
    j["external_ip"] = m.ip_string();
    j["external_port"] = m.port;
    j["family"] = m.family == 6 ? "ipv6" : "ipv4";
    j["local_ip"] = s.local ? nlohmann::json(s.local->ip_string()) : nlohmann::json(nullptr);
    j["local_port"] = s.local ? nlohmann::json(s.local->port) : nlohmann::json(nullptr);
    j["stun_server"] = s.observations.front().server;
  }
}

void print_text(std::ostream& os, const WhoamiReport& r, const cmd::Style& s) {
  auto label = [&](std::string_view l) { os << s.bold() << l << s.reset(); };
  auto note = [&](const std::string& n) { os << "           " << s.dim() << n << s.reset() << "\n"; };
  const auto& n = r.nat_report;
  if (!r.external.ip.empty()) {
    std::string ext = r.external.port ? util::format_host_port(r.external.ip, *r.external.port) : r.external.ip;
    label("external ");
    os << "  " << ext << "  (IPv" << r.external.family << ", " << xep0279::ns_uri(r.external.ns) << ")\n";
    label("local    ");
    os << "  " << util::format_host_port(r.conn.local_ip, r.conn.local_port) << "\n";
  }
  if (r.stun && !r.stun->observations.empty()) {
    const auto& v = *r.stun;
    const auto& first = v.observations.front();
    label(r.external.ip.empty() ? "external " : "stun     ");
    os << "  " << first.mapped.to_string() << "  (UDP, via STUN " << first.server << ")\n";
    if (v.local) {
      label(r.external.ip.empty() ? "local    " : "stun local");
      os << (r.external.ip.empty() ? "  " : " ") << v.local->to_string() << "\n";
    }
  }
  label("nat      ");
  auto colour = r.nat == "none" ? s.green() : r.nat == "unknown" ? s.dim() : s.yellow();
  os << "  " << colour << r.nat << s.reset() << "\n";
  for (const auto& line : r.notes) note(line);
  if (r.stun) {
    for (const auto& d : disagreements(*r.stun)) note(d);
    label("mapping  ");
    os << "  " << stun::to_string(n.mapping);
    if (!n.mapping_basis.empty()) os << s.dim() << "  (" << n.mapping_basis << ")" << s.reset();
    os << "\n";
    label("filtering");
    os << "  " << stun::to_string(n.filtering);
    if (n.filtering == stun::Filtering::Unknown && !r.stun->filtering_note.empty())
      os << s.dim() << "  (" << r.stun->filtering_note << ")" << s.reset();
    os << "\n";
  }
  label("meaning  ");
  os << "  " << n.meaning << "\n";
  label("server   ");
  os << "  " << r.conn.server_host;
  if (!r.conn.server_ip.empty())
    os << " (" << util::format_host_port(r.conn.server_ip, r.conn.server_port) << ")";
  os << ", " << (r.conn.tls == "direct" ? "direct TLS" : "STARTTLS") << "\n";
  label("jid      ");
  os << "  " << r.conn.bound_jid << "\n";
  label("elapsed  ");
  os << "  " << static_cast<long>(std::lround(r.elapsed_ms)) << " ms\n";
}

}  // namespace xnet::xmpp

namespace xnet::cmd {
namespace {

struct WhoamiOptions {
  ConnectionOptions conn;
  std::string ns;
  bool stun = false;
  bool no_stun = false;
  std::string service;  ///< --service: the JID announcing STUN servers
};

void run_whoami(const WhoamiOptions& o, Output& out) {
  // The --timeout budget starts once the credentials are there (a password prompt or command
  // must not eat it).
  auto cfg = unwrap(resolve_connection(o.conn, out));
  auto deadline = deadline_from(cfg.timeout);
  std::optional<xep0279::Ns> ns;
  if (o.ns == "0") ns = xep0279::Ns::Sic0;
  if (o.ns == "1") ns = xep0279::Ns::Sic1;
  // The SIC query (and disco#info where needed) leaves in the same flight as the binding.
  // Automatic where cheap: the STUN list request joins that flight too (not with --stun, which
  // runs the full discovery, nor with --no-stun).
  std::optional<std::string> list_from;
  if (!o.stun && !o.no_stun) list_from = o.service;
  auto plan = xmpp::plan_ip_check(ns, cfg.jid, list_from);
  xmpp::OpenOptions first;
  first.first_flight = plan.first_flight;
  auto session = unwrap(xmpp::Session::open(cfg, out, deadline, std::move(first)));
  auto sic = xmpp::finish_ip_check(session, plan, deadline, out);
  const bool no_sic = !sic && sic.error().category == Category::NotSupported;
  if (!sic && !(no_sic && !o.no_stun)) throw sic.error();
  if (sic && !o.stun) {
    if (!o.no_stun) {
      auto started = Deadline::Clock::now();
      auto view = xmpp::quick_external_via_stun(session, plan.stun_list_id, xmpp::kQuickStunBudget, deadline, out);
      if (view) {
        sic->stun = std::move(*view);
        xmpp::fill_nat_hint(*sic);
        sic->elapsed_ms += std::chrono::duration<double, std::milli>(Deadline::Clock::now() - started).count();
      } else {
        out.progress(1, "no automatic NAT check: " + view.error().message);
      }
    }
    for (const auto& w : sic->warnings) out.warning(w);
    out.emit(*sic);  // printed first; </stream:stream> follows without waiting for the server's
    session.close();
    return;
  }
  // --stun, or no SIC on the server: ask the STUN servers it announces (unless --no-stun).
  auto started = Deadline::Clock::now();
  if (no_sic) out.progress(1, "the server has no XEP-0279; asking its STUN servers");
  auto view = xmpp::external_via_stun(session, deadline, out, o.service);
  xmpp::WhoamiReport rep;
  if (sic) {
    rep = std::move(*sic);
  } else {
    rep.conn = session.info();
  }
  session.close();
  if (!view) {
    if (!sic) {
      Error e = view.error();
      e.message = "the server offers no XEP-0279, and STUN gave no answer: " + e.message;
      throw e;
    }
    rep.warnings.push_back("STUN: " + view.error().message);
  } else {
    rep.stun = std::move(*view);
    for (const auto& f : rep.stun->failures) rep.warnings.push_back("STUN: " + f);
  }
  xmpp::fill_nat_hint(rep);
  auto stun_ms = std::chrono::duration<double, std::milli>(Deadline::Clock::now() - started).count();
  rep.elapsed_ms = sic ? rep.elapsed_ms + stun_ms : stun_ms;
  for (const auto& w : rep.warnings) out.warning(w);
  out.emit(rep);
}

}  // namespace

void register_whoami(CLI::App& app, Output& out) {
  auto opts = std::make_shared<WhoamiOptions>();
  auto* sub = app.add_subcommand("whoami", "Show the IP address and port the XMPP server sees (XEP-0279)");
  add_connection_options(*sub, opts->conn);
  sub->add_option("--ns", opts->ns, "Force the SIC namespace: 1 (urn:xmpp:sic:1) or 0 (urn:xmpp:sic:0)")
      ->check(quiet(CLI::IsMember({"0", "1"})))
      ->type_name("0|1");
  auto* stun = sub->add_flag("--stun", opts->stun,
                             "Also learn the address from the STUN servers the server announces (XEP-0215)");
  auto* no_stun = sub->add_flag("--no-stun", opts->no_stun,
                                "No STUN at all: neither the automatic NAT check nor the fallback when the server "
                                "lacks XEP-0279")
                     ->excludes(stun);
  sub->add_option("--service", opts->service,
                  "Ask this JID (e.g. a component) for the STUN servers instead of the account's domain")
      ->type_name("JID")
      ->excludes(no_stun);
  sub->callback([opts, &out] {
    run_whoami(*opts, out);
  });
}

}  // namespace xnet::cmd
