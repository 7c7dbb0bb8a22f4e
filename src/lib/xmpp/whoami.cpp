// SPDX-License-Identifier: MIT
#include "xmpp/whoami.hpp"

#include "xep/xep0030.hpp"
#include "xep/xep0215.hpp"

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

IpCheckPlan plan_ip_check(std::optional<xep0279::Ns> force_ns, const std::string& account_jid,
                          const std::optional<std::string>& stun_list_from) {
  IpCheckPlan p;
  p.force_ns = force_ns;
  auto sic = xep0279::build_request(force_ns.value_or(xep0279::Ns::Sic1));
  if (sic.ns.empty()) sic.ns = "jabber:client";
  p.sic_id = Session::make_id();
  sic.set("id", p.sic_id);
  p.first_flight.push_back(std::move(sic));
  if (!force_ns) {
    // To the domain: without 'to' Prosody answers for the account's bare JID instead.
    xml::Element disco("iq", "jabber:client");
    disco.set("type", "get");
    disco.set("to", jid_domain(account_jid));
    disco.add(xep0030::info_query());
    p.disco_id = Session::make_id();
    disco.set("id", p.disco_id);
    p.first_flight.push_back(std::move(disco));
  }
  if (stun_list_from) {
    // Speculative: a server without XEP-0215 answers with an error, which costs nothing but bytes.
    auto list = xep0215::build_request(xep0215::Form::Extdisco2,
                                       stun_list_from->empty() ? jid_domain(account_jid) : *stun_list_from);
    p.stun_list_id = Session::make_id();
    list.set("id", p.stun_list_id);
    p.first_flight.push_back(std::move(list));
  }
  return p;
}

namespace {
Result<WhoamiReport> report_from(Session& session, const xml::Element& reply, xep0279::Ns asked,
                                 Deadline::Clock::time_point started) {
  WhoamiReport rep;
  rep.conn = session.info();
  auto addr = xep0279::parse_result(reply);
  if (!addr) return fail(addr.error());
  rep.external = std::move(*addr);
  rep.warnings = rep.external.warnings;
  if (rep.external.ns != asked)
    rep.warnings.push_back("asked in " + std::string(xep0279::ns_uri(asked)) + " but the server answered in " +
                           std::string(xep0279::ns_uri(rep.external.ns)));
  rep.elapsed_ms = rep.conn.connect_ms +
                   std::chrono::duration<double, std::milli>(Deadline::Clock::now() - started).count();
  fill_nat_hint(rep);
  return rep;
}

// A forced namespace the server answers with bad-request: it claims the namespace but cannot
// serve it (ejabberd 23.01's mod_sic: "Missing cdata in tag <ip/>" for sic:0). Say so, instead
// of "does not support XEP-0279" and a STUN fallback that hides the server's answer.
Error forced_refused(Error e, xep0279::Ns ns, const std::string& server) {
  const auto& s = *e.stanza;
  e.message = "server " + server + " refused the " + std::string(xep0279::ns_uri(ns)) + " request: " + s.condition +
              (s.text.empty() ? "" : " (" + s.text + ")");
  e.hint = ns == xep0279::Ns::Sic0 ? "the server may serve only urn:xmpp:sic:1: try --ns 1, or leave --ns out"
                                   : "the server may serve only urn:xmpp:sic:0: try --ns 0, or leave --ns out";
  return e;
}

Error refine(Error e) {
  if (e.stanza && (e.stanza->condition == "forbidden" || e.stanza->condition == "not-authorized"))
    e.hint = "the server refused to tell your address (policy)";
  else if (e.stanza && e.stanza->condition == "item-not-found")
    e.hint = "the server does not know the address of this connection";
  return e;
}
}  // namespace

Result<WhoamiReport> finish_ip_check(Session& session, const IpCheckPlan& plan, Deadline deadline, Trace& trace) {
  auto started = Deadline::Clock::now();
  auto asked = plan.force_ns.value_or(xep0279::Ns::Sic1);
  auto reply = session.wait_reply(plan.sic_id, deadline);
  if (reply) {
    auto r = report_from(session, *reply, asked, started);
    if (r) r->elapsed_ms = session.info().connect_ms + std::chrono::duration<double, std::milli>(
                                                          Deadline::Clock::now() - started).count();
    return r;
  }
  if (plan.force_ns && reply.error().stanza && reply.error().stanza->condition == "bad-request")
    return fail(forced_refused(reply.error(), *plan.force_ns, session.info().server_host));
  if (!unsupported(reply.error())) return fail(refine(reply.error()));
  if (plan.force_ns || plan.disco_id.empty()) return fail(not_supported(session.info().server_host));
  // sic:1 refused: ask sic:0 unless the server's disco#info rules it out.
  auto disco_reply = session.wait_reply(plan.disco_id, deadline);
  bool has0 = true;
  if (disco_reply) {
    auto disco = xep0030::parse_info(*disco_reply);
    if (disco) {
      has0 = disco->has(xep0279::kSic0) || !disco->has(xep0279::kSic1);
      trace.progress(2, std::string("server advertises ") + (disco->has(xep0279::kSic1) ? "sic:1 " : "") +
                            (disco->has(xep0279::kSic0) ? "sic:0" : "") +
                            (!disco->has(xep0279::kSic0) && !disco->has(xep0279::kSic1) ? "no SIC namespace" : ""));
    }
  } else if (disco_reply.error().category == Category::Timeout ||
             disco_reply.error().category == Category::Interrupted) {
    return fail(disco_reply.error());
  }
  if (!has0) return fail(not_supported(session.info().server_host));
  trace.progress(2, "asking " + std::string(xep0279::ns_uri(xep0279::Ns::Sic0)));
  auto r0 = session.request(xep0279::build_request(xep0279::Ns::Sic0), deadline);
  if (!r0) {
    if (unsupported(r0.error())) return fail(not_supported(session.info().server_host));
    return fail(refine(r0.error()));
  }
  return report_from(session, *r0, xep0279::Ns::Sic0, started);
}

Result<WhoamiReport> server_ip_check(Session& session, std::optional<xep0279::Ns> force_ns, Deadline deadline,
                                     Trace& trace) {
  // On an open session: the same requests, in one flight.
  auto plan = plan_ip_check(force_ns, session.info().bound_jid);
  for (auto& iq : plan.first_flight) session.send_request(std::move(iq));
  return finish_ip_check(session, plan, deadline, trace);
}

}  // namespace xnet::xmpp
