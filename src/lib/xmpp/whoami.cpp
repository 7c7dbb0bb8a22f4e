// SPDX-License-Identifier: MIT
#include "xmpp/whoami.hpp"

namespace xnet::xmpp {

namespace {
bool unsupported(const Error& e) {
  if (!e.stanza) return false;
  const auto& c = e.stanza->condition;
  return c == "service-unavailable" || c == "feature-not-implemented" || c == "bad-request";
}

Error not_supported(const std::string& server) {
  return Error(Category::NotSupported, "server " + server + " does not support XEP-0279 (Server IP Check)",
               "ask the operator to enable mod_ipcheck (Prosody) or mod_sic (ejabberd)");
}
}  // namespace

void fill_nat_hint(WhoamiReport& r) {
  const auto& ext = r.external;
  const auto& c = r.conn;
  stun::NatFacts f;
  if (!c.local_ip.empty()) f.local_tcp = stun::Address::parse(c.local_ip, c.local_port);
  if (!ext.ip.empty()) f.sic = stun::Address::parse(ext.ip, ext.port.value_or(0));
  if (!c.server_ip.empty()) f.xmpp_server = stun::Address::parse(c.server_ip, c.server_port);
  if (r.stun) {
    f.local_udp = r.stun->local;
    f.stun = r.stun->observations;
    f.filter_change_ip_port_answered = r.stun->filter_change_ip_port_answered;
    f.filter_change_port_answered = r.stun->filter_change_port_answered;
  }
  r.nat_report = stun::classify(f);
  r.nat = stun::to_string(r.nat_report.kind);
  r.notes.clear();
  if (c.local_ip.empty()) r.notes.push_back("the local address of the connection is unknown");
  int local_family = c.local_ip.find(':') != std::string::npos ? 6 : 4;
  if (!ext.ip.empty() && !c.local_ip.empty() && local_family == ext.family) {
    const bool translated = c.local_ip != ext.ip;
    if (translated)
      r.notes.push_back("the server sees " + ext.ip + " but your side of the connection is " + c.local_ip +
                        ": a NAT or proxy is in the path");
    else
      r.notes.push_back("the server sees your local address: no NAT between you and the server");
    if (!ext.port)
      r.notes.push_back("the server did not report a port; the port mapping is unknown");
    else if (*ext.port != c.local_port)
      r.notes.push_back("the server sees port " + std::to_string(*ext.port) + " but your local port is " +
                        std::to_string(c.local_port) + ": the port is translated");
    else if (translated)
      r.notes.push_back("the port is preserved");
  }
  for (const auto& n : r.nat_report.notes) r.notes.push_back(n);
}

Result<WhoamiReport> server_ip_check(Session& session, std::optional<xep0279::Ns> force_ns, Deadline deadline,
                                     Trace& trace) {
  WhoamiReport rep;
  rep.conn = session.info();
  auto started = Deadline::Clock::now();
  std::vector<xep0279::Ns> order;
  if (force_ns) {
    order = {*force_ns};
  } else {
    // To the domain: without 'to' Prosody answers for the account's bare JID instead.
    auto disco = session.disco_info(jid_domain(session.info().bound_jid), deadline);
    bool has1 = false, has0 = false;
    if (disco) {
      has1 = disco->has(xep0279::kSic1);
      has0 = disco->has(xep0279::kSic0);
      trace.progress(2, std::string("server advertises ") + (has1 ? "sic:1 " : "") + (has0 ? "sic:0" : "") +
                            (!has0 && !has1 ? "no SIC namespace" : ""));
    } else if (disco.error().category == Category::Timeout || disco.error().category == Category::Interrupted) {
      return fail(disco.error());
    }
    if (has1 || (!has0 && !has1)) order.push_back(xep0279::Ns::Sic1);
    if (has0 || (!has0 && !has1)) order.push_back(xep0279::Ns::Sic0);
    if (has1 && !has0) order.push_back(xep0279::Ns::Sic0);  // cheap second chance
  }
  std::optional<Error> last;
  for (auto ns : order) {
    trace.progress(2, "asking " + std::string(xep0279::ns_uri(ns)));
    auto reply = session.request(xep0279::build_request(ns), deadline);
    if (!reply) {
      if (unsupported(reply.error())) {
        last = reply.error();
        continue;
      }
      auto e = reply.error();
      if (e.stanza && (e.stanza->condition == "forbidden" || e.stanza->condition == "not-authorized"))
        e.hint = "the server refused to tell your address (policy)";
      else if (e.stanza && e.stanza->condition == "item-not-found")
        e.hint = "the server does not know the address of this connection";
      return fail(e);
    }
    auto addr = xep0279::parse_result(*reply);
    if (!addr) return fail(addr.error());
    rep.external = std::move(*addr);
    rep.warnings = rep.external.warnings;
    if (rep.external.ns != ns)
      rep.warnings.push_back("asked in " + std::string(xep0279::ns_uri(ns)) + " but the server answered in " +
                             std::string(xep0279::ns_uri(rep.external.ns)));
    rep.elapsed_ms = rep.conn.connect_ms +
                     std::chrono::duration<double, std::milli>(Deadline::Clock::now() - started).count();
    fill_nat_hint(rep);
    return rep;
  }
  (void)last;
  return fail(not_supported(rep.conn.server_host));
}

}  // namespace xnet::xmpp
