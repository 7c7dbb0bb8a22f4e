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
#include "cmd/fields.hpp"
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

// No SIC answer, but STUN saw an address: the STUN view is the answer (the external and
// local addresses are UDP ones).
bool via_stun(const WhoamiReport& r) { return r.external.ip.empty() && r.stun && !r.stun->observations.empty(); }
const stun::MappingObservation& first_seen(const WhoamiReport& r) { return r.stun->observations.front(); }
nlohmann::json null_if_empty(const std::string& s) { return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s); }
std::string none(const WhoamiReport&) { return {}; }  // the text of a field shown by another's

// Dimmed note lines under the previous line, at the value column.
std::string note_lines(const std::vector<std::string>& lines) {
  std::string t;
  for (const auto& l : lines) t += (t.empty() ? "" : "\n") + std::string(11, ' ') + l;
  return t;
}

using F = cmd::Field<WhoamiReport>;
using J = nlohmann::json;

// The one table of whoami's result: JSON keys (documented in xnet-whoami(1), schema/whoami)
// and the text lines, in text order. Unlabelled fields with a text are dimmed note lines.
const cmd::FieldTable<WhoamiReport> kWhoamiFields = {
    F{"external_ip", "external",
      [](const WhoamiReport& r) { return via_stun(r) ? J(first_seen(r).mapped.ip_string()) : J(r.external.ip); },
      [](const WhoamiReport& r) {
        if (via_stun(r)) return first_seen(r).mapped.to_string() + "  (UDP, via STUN " + first_seen(r).server + ")";
        if (r.external.ip.empty()) return std::string();
        std::string ext = r.external.port ? util::format_host_port(r.external.ip, *r.external.port) : r.external.ip;
        return ext + "  (IPv" + std::to_string(r.external.family) + ", " + std::string(xep0279::ns_uri(r.external.ns)) +
               ")";
      }},
    F{"external_port", "",
      [](const WhoamiReport& r) {
        if (via_stun(r)) return J(first_seen(r).mapped.port);
        return r.external.port ? J(*r.external.port) : J(nullptr);
      },
      none, true},  // in external
    F{"family", "",
      [](const WhoamiReport& r) {
        int fam = via_stun(r) ? first_seen(r).mapped.family : r.external.family;
        return J(fam == 6 ? "ipv6" : "ipv4");
      },
      none},  // in external
    F{"namespace", "",
      [](const WhoamiReport& r) { return via_stun(r) ? J(nullptr) : J(xep0279::ns_uri(r.external.ns)); }, none,
      true},  // in external
    F{"via", "", [](const WhoamiReport& r) { return J(via_stun(r) ? "stun" : "sic"); }, none},  // in external
    F{"stun_server", "",
      [](const WhoamiReport& r) { return via_stun(r) ? J(first_seen(r).server) : cmd::absent(); }, none},  // in external
    F{"local_ip", "local",
      [](const WhoamiReport& r) {
        if (!via_stun(r)) return J(r.conn.local_ip);
        return r.stun->local ? J(r.stun->local->ip_string()) : J(nullptr);
      },
      [](const WhoamiReport& r) {
        if (via_stun(r)) return r.stun->local ? r.stun->local->to_string() : std::string();
        return r.external.ip.empty() ? std::string() : util::format_host_port(r.conn.local_ip, r.conn.local_port);
      },
      true},
    F{"local_port", "",
      [](const WhoamiReport& r) {
        if (!via_stun(r)) return J(r.conn.local_port);
        return r.stun->local ? J(r.stun->local->port) : J(nullptr);
      },
      none, true},  // in local
    F{"extra_ips", "other IPs",
      [](const WhoamiReport& r) { return r.external.extra_ips.empty() ? cmd::absent() : J(r.external.extra_ips); },
      [](const WhoamiReport& r) {
        std::string t;
        for (const auto& ip : r.external.extra_ips) t += (t.empty() ? "" : ", ") + ip;
        return t;
      }},
    F{"stun", "stun", [](const WhoamiReport& r) { return r.stun ? stun_json(*r.stun) : cmd::absent(); },
      [](const WhoamiReport& r) {
        // With a SIC answer, the UDP view next to it (without, it is external/local above).
        if (via_stun(r) || r.stun->observations.empty()) return std::string();
        const auto& first = first_seen(r);
        std::string t = first.mapped.to_string() + "  (UDP, via STUN " + first.server + ")";
        if (r.stun->local) t += "\nstun local " + r.stun->local->to_string();
        return t;
      }},
    F{"nat", "nat", [](const WhoamiReport& r) { return J(r.nat); }},
    F{"nat_notes", "",
      [](const WhoamiReport& r) { return J(r.notes); },
      [](const WhoamiReport& r) {
        auto lines = r.notes;
        if (r.stun)
          for (auto& d : disagreements(*r.stun)) lines.push_back(std::move(d));  // also stun.disagreements
        return note_lines(lines);
      }},
    F{"mapping", "mapping", [](const WhoamiReport& r) { return J(stun::to_string(r.nat_report.mapping)); },
      [](const WhoamiReport& r) {
        if (!r.stun) return std::string();  // SIC alone says nothing of UDP mappings
        const auto& n = r.nat_report;
        return std::string(stun::to_string(n.mapping)) + (n.mapping_basis.empty() ? "" : "  (" + n.mapping_basis + ")");
      }},
    F{"mapping_basis", "", [](const WhoamiReport& r) { return null_if_empty(r.nat_report.mapping_basis); }, none,
      true},  // in mapping
    F{"filtering", "filtering", [](const WhoamiReport& r) { return J(stun::to_string(r.nat_report.filtering)); },
      [](const WhoamiReport& r) {
        if (!r.stun) return std::string();
        const auto& n = r.nat_report;
        std::string t = stun::to_string(n.filtering);
        if (n.filtering == stun::Filtering::Unknown && !r.stun->filtering_note.empty())
          t += "  (" + r.stun->filtering_note + ")";
        return t;
      }},
    F{"nat_meaning", "meaning", [](const WhoamiReport& r) { return J(r.nat_report.meaning); }},
    // Facts for scripts; the text says them in the notes and the meaning.
    F{"cgnat", "", [](const WhoamiReport& r) { return J(r.nat_report.cgnat); }, none},
    F{"external_private", "", [](const WhoamiReport& r) { return J(r.nat_report.external_private); }, none},
    F{"external_shared", "", [](const WhoamiReport& r) { return J(r.nat_report.external_shared); }, none},
    F{"tcp_port_preserved", "", [](const WhoamiReport& r) { return opt_bool(r.nat_report.tcp_port_preserved); },
      none, true},
    F{"udp_port_preserved", "", [](const WhoamiReport& r) { return opt_bool(r.nat_report.udp_port_preserved); },
      none, true},
    F{"server_host", "server", [](const WhoamiReport& r) { return J(r.conn.server_host); },
      [](const WhoamiReport& r) {
        std::string t = r.conn.server_host;
        if (!r.conn.server_ip.empty()) t += " (" + util::format_host_port(r.conn.server_ip, r.conn.server_port) + ")";
        return t + ", " + (r.conn.tls == "direct" ? "direct TLS" : "STARTTLS");
      }},
    F{"server_ip", "", [](const WhoamiReport& r) { return J(r.conn.server_ip); }, none},      // in server
    F{"server_port", "", [](const WhoamiReport& r) { return J(r.conn.server_port); }, none},  // in server
    F{"tls", "", [](const WhoamiReport& r) { return J(r.conn.tls); }, none},                  // in server
    F{"jid", "jid", [](const WhoamiReport& r) { return J(r.conn.bound_jid); }},
    F{"connect_ms", "", [](const WhoamiReport& r) { return J(cmd::round_ms(r.conn.connect_ms)); }, none},  // JSON only
    F{"elapsed_ms", "elapsed", [](const WhoamiReport& r) { return J(cmd::round_ms(r.elapsed_ms)); },
      [](const WhoamiReport& r) { return cmd::format_ms(r.elapsed_ms); }},
    F{"warnings", "", [](const WhoamiReport& r) { return J(r.warnings); }, none},  // on stderr as they happen
};

}  // namespace

void to_json(nlohmann::json& j, const WhoamiReport& r) { j = cmd::fields_json(kWhoamiFields, r); }

// "label      value" lines at one column (the labels of people's eyes: bold; the NAT verdict in
// colour), then note lines; fields with no text here are left out.
void print_text(std::ostream& os, const WhoamiReport& r, const cmd::Style& s) {
  for (const auto& f : kWhoamiFields) {
    if (auto v = f.get(r); v.is_discarded() || v.is_null()) continue;
    const std::string t = cmd::field_text(f, r);
    if (t.empty()) continue;
    if (f.label.empty()) {
      os << s.dim() << t << s.reset() << '\n';
      continue;
    }
    os << s.bold() << f.label << s.reset() << std::string(f.label.size() < 10 ? 11 - f.label.size() : 1, ' ');
    if (f.key == "nat")
      os << (r.nat == "none" ? s.green() : r.nat == "unknown" ? s.dim() : s.yellow()) << t << s.reset() << '\n';
    else
      os << t << '\n';
  }
}

}  // namespace xnet::xmpp

namespace xnet::cmd {

const FieldTable<xmpp::WhoamiReport>& whoami_fields() { return xmpp::kWhoamiFields; }

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
