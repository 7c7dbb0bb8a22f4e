// SPDX-License-Identifier: MIT
// whoami: the address and port the XMPP server sees for this connection (XEP-0279), with a
// NAT hint from comparing it with the local end of the socket.
#include <cmath>
#include <ctime>
#include <ostream>

#include <CLI/CLI.hpp>

#include "cmd/commands.hpp"
#include "cmd/common.hpp"
#include "cmd/whoami.hpp"
#include "stun/probe.hpp"
#include "util/hostport.hpp"
#include "xep/extdisco_client.hpp"
#include "xmpp/external_stun.hpp"
#include "xmpp/whoami.hpp"

namespace xnet::xmpp {

void to_json(nlohmann::json& j, const WhoamiReport& r) {
  j = {{"jid", r.conn.bound_jid},
       {"via", "sic"},
       {"external_ip", r.external.ip},
       {"external_port", r.external.port ? nlohmann::json(*r.external.port) : nlohmann::json(nullptr)},
       {"family", r.external.family == 6 ? "ipv6" : "ipv4"},
       {"local_ip", r.conn.local_ip},
       {"local_port", r.conn.local_port},
       {"nat", r.nat},
       {"nat_notes", r.notes},
       {"namespace", xep0279::ns_uri(r.external.ns)},
       {"server_host", r.conn.server_host},
       {"server_ip", r.conn.server_ip},
       {"server_port", r.conn.server_port},
       {"tls", r.conn.tls},
       {"connect_ms", std::round(r.conn.connect_ms * 10) / 10},
       {"elapsed_ms", std::round(r.elapsed_ms * 10) / 10},
       {"warnings", r.warnings}};
  if (!r.external.extra_ips.empty()) j["extra_ips"] = r.external.extra_ips;
}

void print_text(std::ostream& os, const WhoamiReport& r, const cmd::Style& s) {
  std::string ext = r.external.port ? util::format_host_port(r.external.ip, *r.external.port) : r.external.ip;
  auto label = [&](std::string_view l) { os << s.bold() << l << s.reset(); };
  label("external ");
  os << "  " << ext << "  (IPv" << r.external.family << ", " << xep0279::ns_uri(r.external.ns) << ")\n";
  label("local    ");
  os << "  " << util::format_host_port(r.conn.local_ip, r.conn.local_port) << "\n";
  label("nat      ");
  auto colour = r.nat == "none" ? s.green() : r.nat == "nat" ? s.yellow() : s.dim();
  os << "  " << colour << r.nat << s.reset() << "\n";
  for (const auto& n : r.notes) os << "           " << s.dim() << n << s.reset() << "\n";
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
};

// whoami with STUN: the SIC report, the STUN view, or both (then compared).
struct WhoamiStunReport {
  std::optional<xmpp::WhoamiReport> sic;
  std::optional<stun::ExternalView> stun;
  xmpp::ConnectionInfo conn;
  std::vector<std::string> warnings;
  double elapsed_ms = 0;
};

nlohmann::json stun_json(const stun::ExternalView& v) {
  return {{"external_ip", v.mapped.ip_string()},
          {"external_port", v.mapped.port},
          {"family", v.mapped.family == 6 ? "ipv6" : "ipv4"},
          {"local_ip", v.local ? nlohmann::json(v.local->ip_string()) : nlohmann::json(nullptr)},
          {"local_port", v.local ? nlohmann::json(v.local->port) : nlohmann::json(nullptr)},
          {"nat", v.nat},
          {"nat_notes", v.notes},
          {"server", v.server},
          {"rtt_ms", std::round(v.rtt_ms * 1000) / 1000},
          {"disagreements", v.disagreements}};
}

void to_json(nlohmann::json& j, const WhoamiStunReport& r) {
  if (r.sic) {
    xmpp::to_json(j, *r.sic);
    if (r.stun) {
      j["stun"] = stun_json(*r.stun);
      auto& notes = j["nat_notes"];
      for (const auto& n : stun::compare_with_sic(*r.stun, r.sic->external.ip, r.sic->external.port))
        notes.push_back(n);
    }
    for (const auto& w : r.warnings) j["warnings"].push_back(w);
    return;
  }
  j = stun_json(*r.stun);
  j["jid"] = r.conn.bound_jid;
  j["via"] = "stun";
  j["stun_server"] = r.stun->server;
  j.erase("server");
  j["server_host"] = r.conn.server_host;
  j["server_ip"] = r.conn.server_ip;
  j["server_port"] = r.conn.server_port;
  j["tls"] = r.conn.tls;
  j["elapsed_ms"] = std::round(r.elapsed_ms * 10) / 10;
  j["warnings"] = r.warnings;
}

void print_text(std::ostream& os, const WhoamiStunReport& r, const Style& s) {
  if (r.sic) xmpp::print_text(os, *r.sic, s);
  if (!r.stun) return;
  const auto& v = *r.stun;
  auto label = [&](std::string_view l) { os << s.bold() << l << s.reset(); };
  label(r.sic ? "stun     " : "external ");
  os << "  " << v.mapped.to_string() << "  (UDP, via STUN " << v.server << ")\n";
  if (v.local) {
    label(r.sic ? "stun local" : "local    ");
    os << (r.sic ? " " : "  ") << v.local->to_string() << "\n";
  }
  label(r.sic ? "stun nat " : "nat      ");
  auto colour = v.nat == "none" ? s.green() : v.nat == "nat" ? s.yellow() : s.dim();
  os << "  " << colour << v.nat << s.reset() << "\n";
  for (const auto& n : v.notes) os << "           " << s.dim() << n << s.reset() << "\n";
  if (r.sic)
    for (const auto& n : stun::compare_with_sic(v, r.sic->external.ip, r.sic->external.port))
      os << "           " << s.dim() << n << s.reset() << "\n";
  for (const auto& d : v.disagreements) os << "           " << s.dim() << d << s.reset() << "\n";
  if (!r.sic) {
    label("jid      ");
    os << "  " << r.conn.bound_jid << "\n";
  }
}

void run_whoami(const WhoamiOptions& o, Output& out) {
  auto deadline = deadline_from(o.conn.timeout);
  auto cfg = unwrap(resolve_connection(o.conn, out));
  auto session = unwrap(xmpp::Session::open(cfg, out, deadline));
  std::optional<xep0279::Ns> ns;
  if (o.ns == "0") ns = xep0279::Ns::Sic0;
  if (o.ns == "1") ns = xep0279::Ns::Sic1;
  auto sic = xmpp::server_ip_check(session, ns, deadline, out);
  const bool no_sic = !sic && sic.error().category == Category::NotSupported;
  if (!sic && !(no_sic && !o.no_stun)) throw sic.error();
  if (sic && !o.stun) {
    for (const auto& w : sic->warnings) out.warning(w);
    session.close();
    out.emit(*sic);
    return;
  }
  // --stun, or no SIC on the server: ask the STUN servers it announces (unless --no-stun).
  WhoamiStunReport rep;
  rep.conn = session.info();
  auto started = Deadline::Clock::now();
  if (no_sic) out.progress(1, "the server has no XEP-0279; asking its STUN servers");
  auto view = xmpp::external_via_stun(session, deadline, out);
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
  }
  if (sic) rep.sic = std::move(*sic);
  rep.elapsed_ms = std::chrono::duration<double, std::milli>(Deadline::Clock::now() - started).count();
  if (rep.sic)
    for (const auto& w : rep.sic->warnings) out.warning(w);
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
  sub->add_flag("--no-stun", opts->no_stun, "Never fall back to STUN when the server lacks XEP-0279")
      ->excludes(stun);
  sub->callback([opts, &out] {
    apply_account_defaults(opts->conn, out);
    run_whoami(*opts, out);
  });
}

}  // namespace xnet::cmd
