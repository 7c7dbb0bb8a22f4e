// SPDX-License-Identifier: MIT
// whoami: the address and port the XMPP server sees for this connection (XEP-0279), with a
// NAT hint from comparing it with the local end of the socket.
#include <cmath>
#include <ostream>

#include <CLI/CLI.hpp>

#include "cmd/commands.hpp"
#include "cmd/common.hpp"
#include "cmd/whoami.hpp"
#include "util/hostport.hpp"
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
};

void run_whoami(const WhoamiOptions& o, Output& out) {
  auto deadline = deadline_from(o.conn.timeout);
  auto cfg = unwrap(resolve_connection(o.conn, out));
  auto session = unwrap(xmpp::Session::open(cfg, out, deadline));
  std::optional<xep0279::Ns> ns;
  if (o.ns == "0") ns = xep0279::Ns::Sic0;
  if (o.ns == "1") ns = xep0279::Ns::Sic1;
  auto report = unwrap(xmpp::server_ip_check(session, ns, deadline, out));
  for (const auto& w : report.warnings) out.warning(w);
  session.close();
  out.emit(report);
}

}  // namespace

void register_whoami(CLI::App& app, Output& out) {
  auto opts = std::make_shared<WhoamiOptions>();
  auto* sub = app.add_subcommand("whoami", "Show the IP address and port the XMPP server sees (XEP-0279)");
  add_connection_options(*sub, opts->conn);
  sub->add_option("--ns", opts->ns, "Force the SIC namespace: 1 (urn:xmpp:sic:1) or 0 (urn:xmpp:sic:0)")
      ->check(quiet(CLI::IsMember({"0", "1"})))
      ->type_name("0|1");
  sub->callback([opts, &out] { run_whoami(*opts, out); });
}

}  // namespace xnet::cmd
