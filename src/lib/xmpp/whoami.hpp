// SPDX-License-Identifier: MIT
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "error.hpp"
#include "stun/behaviour.hpp"
#include "stun/nat.hpp"
#include "util/deadline.hpp"
#include "xep/xep0279.hpp"
#include "xmpp/session.hpp"

namespace xnet::xmpp {

/// What `whoami` learns: the server's view of this connection and how it compares.
struct WhoamiReport {
  ConnectionInfo conn;
  xep0279::Address external;
  std::string nat;                 ///< "none", "nat", "cgnat" or "unknown" (nat_report.kind)
  std::vector<std::string> notes;  ///< human explanations of the NAT hint
  std::vector<std::string> warnings;
  double elapsed_ms = 0;           ///< from connect start to the answer
  /// What the STUN servers the XMPP server announces saw (whoami --stun, or no SIC).
  std::optional<stun::UdpBehaviour> stun;
  stun::NatReport nat_report;      ///< the classification; filled by fill_nat_hint()
};

/// Classifies the NAT from the SIC answer (external, empty ip when there was none), the
/// connection's local address and, when present, the STUN facts (sic.md §4.6, RFC 4787,
/// RFC 5780): sets nat, notes and nat_report.
void fill_nat_hint(WhoamiReport& r);

/// The XEP-0279 requests of one whoami, planned before the session exists so they can leave in
/// the same flight as the resource binding (Session::open with OpenOptions::first_flight).
struct IpCheckPlan {
  std::optional<xep0279::Ns> force_ns;
  std::vector<xml::Element> first_flight;  ///< sic (force_ns or sic:1), plus disco#info without force_ns
  std::string sic_id, disco_id;
  /// The XEP-0215 (extdisco:2) list request of the automatic STUN check ("" when not sent).
  std::string stun_list_id;
};

/// Plan the first flight for account_jid: with force_ns only that SIC query; otherwise the
/// sic:1 query and a disco#info of the domain (read only when sic:1 is refused, to decide on sic:0).
/// With stun_list_from set, an extdisco:2 list request to that JID ("" = the account's domain)
/// joins the flight, so the STUN servers are known when SIC answers at no extra round trip.
IpCheckPlan plan_ip_check(std::optional<xep0279::Ns> force_ns, const std::string& account_jid,
                          const std::optional<std::string>& stun_list_from = std::nullopt);

/// Collect the answers of plan on session (opened with plan.first_flight) and fall back to
/// sic:0 when sic:1 is refused as unsupported and the server may speak it. Errors as for
/// server_ip_check.
Result<WhoamiReport> finish_ip_check(Session& session, const IpCheckPlan& plan, Deadline deadline, Trace& trace);

/// Run XEP-0279 on session: pick sic:1 or sic:0 from disco#info (or force_ns), fall back to
/// sic:0 when sic:1 is refused as unsupported. Errors: NotSupported (no SIC), Remote (other
/// stanza errors, e.g. forbidden), Protocol (garbage reply), Timeout.
Result<WhoamiReport> server_ip_check(Session& session, std::optional<xep0279::Ns> force_ns,
                                     Deadline deadline, Trace& trace);

}  // namespace xnet::xmpp
