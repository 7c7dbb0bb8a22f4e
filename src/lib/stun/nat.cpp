// SPDX-License-Identifier: MIT
#include "stun/nat.hpp"

#include <algorithm>
#include <set>

namespace xnet::stun {
namespace {

bool same_ip(const Address& a, const Address& b) { return a.family == b.family && a.ip == b.ip; }

std::string kind_of(const Address& a) {
  if (is_shared_address(a)) return "a carrier-grade NAT shared address (100.64.0.0/10)";
  if (is_private_address(a)) return "a private address";
  return "a public address";
}

bool is_public(const Address& a) { return !is_shared_address(a) && !is_private_address(a); }

// How an IPv6 address local was translated to external (both IPv6, different): RFC 6296
// NPTv6 rewrites the prefix only (a checksum-neutral change of at most one 16-bit word
// outside it) and never the port; anything else is a stateful NAT66.
std::string ipv6_translation(const Address& local, const Address& external, std::optional<bool> port_kept,
                             const char* proto) {
  int words_changed_low = 0;  // 16-bit words of the low 64 bits that differ
  for (int w = 4; w < 8; ++w)
    if (local.ip[2 * w] != external.ip[2 * w] || local.ip[2 * w + 1] != external.ip[2 * w + 1]) ++words_changed_low;
  const std::string seen = "IPv6 " + local.ip_string() + " leaves as " + external.ip_string() + " (" + proto + ")";
  if (words_changed_low <= 1 && port_kept != false)
    return seen + ": the prefix is rewritten and the interface identifier" +
           (words_changed_low == 0 ? " kept" : " all but one word kept") +
           ", which looks like NPTv6 prefix translation (RFC 6296): stateless, ports kept";
  return seen + ": a stateful IPv6 NAT (NAT66) is in the path";
}

}  // namespace

std::string to_string(NatKind k) {
  switch (k) {
    case NatKind::None: return "none";
    case NatKind::Nat: return "nat";
    case NatKind::Cgnat: return "cgnat";
    case NatKind::Unknown: break;
  }
  return "unknown";
}

std::string to_string(Mapping m) {
  switch (m) {
    case Mapping::None: return "none";
    case Mapping::EndpointIndependent: return "endpoint-independent";
    case Mapping::AddressDependent: return "address-dependent";
    case Mapping::AddressAndPortDependent: return "address-and-port-dependent";
    case Mapping::Dependent: return "dependent";
    case Mapping::Unknown: break;
  }
  return "unknown";
}

std::string to_string(Filtering f) {
  switch (f) {
    case Filtering::EndpointIndependent: return "endpoint-independent";
    case Filtering::AddressDependent: return "address-dependent";
    case Filtering::AddressAndPortDependent: return "address-and-port-dependent";
    case Filtering::Unknown: break;
  }
  return "unknown";
}

bool is_shared_address(const Address& a) { return a.family == 4 && a.ip[0] == 100 && (a.ip[1] & 0xC0) == 64; }

bool is_private_address(const Address& a) {
  const auto& b = a.ip;
  if (a.family == 4) {
    return b[0] == 10 || b[0] == 127 || (b[0] == 172 && (b[1] & 0xF0) == 16) || (b[0] == 192 && b[1] == 168) ||
           (b[0] == 169 && b[1] == 254) || b[0] == 0;
  }
  if ((b[0] & 0xFE) == 0xFC) return true;                   // fc00::/7 unique local
  if (b[0] == 0xFE && (b[1] & 0xC0) == 0x80) return true;    // fe80::/10 link-local
  bool zero_prefix = std::all_of(b.begin(), b.begin() + 15, [](std::uint8_t x) { return x == 0; });
  if (zero_prefix && (b[15] == 1 || b[15] == 0)) return true;  // ::1, ::
  // ::ffff:a.b.c.d: judge the IPv4 address.
  bool mapped4 = std::all_of(b.begin(), b.begin() + 10, [](std::uint8_t x) { return x == 0; }) && b[10] == 0xFF &&
                 b[11] == 0xFF;
  if (mapped4) {
    Address v4;
    v4.family = 4;
    std::copy(b.begin() + 12, b.end(), v4.ip.begin());
    return is_private_address(v4);
  }
  return false;
}

NatReport classify(const NatFacts& f) {
  NatReport r;
  // The STUN answers that can be compared: the family of the local UDP socket (or the first).
  std::vector<const MappingObservation*> obs;
  int family = f.local_udp ? f.local_udp->family : (f.stun.empty() ? 0 : f.stun.front().mapped.family);
  for (const auto& o : f.stun)
    if (o.mapped.family == family && o.destination.family == family) obs.push_back(&o);
  const Address* stun_ext = obs.empty() ? nullptr : &obs.front()->mapped;

  // Is anything translated?
  std::optional<bool> tcp_translated, udp_translated;
  if (f.local_tcp && f.sic) {
    if (f.local_tcp->family == f.sic->family)
      tcp_translated = !same_ip(*f.local_tcp, *f.sic);
    else
      r.notes.push_back("the XMPP server saw an IPv" + std::to_string(f.sic->family) + " address for an IPv" +
                        std::to_string(f.local_tcp->family) + " connection: NAT64 or a proxy is in the path");
  }
  if (f.local_udp && stun_ext) udp_translated = !same_ip(*f.local_udp, *stun_ext);

  // Carrier-grade NAT and external addresses that are not public.
  const bool local_shared = (f.local_tcp && is_shared_address(*f.local_tcp)) ||
                            (f.local_udp && is_shared_address(*f.local_udp));
  const bool sic_shared = f.sic && is_shared_address(*f.sic);
  const bool sic_private = f.sic && is_private_address(*f.sic);
  bool stun_shared = false, stun_private = false;
  for (const auto* o : obs) {
    stun_shared = stun_shared || is_shared_address(o->mapped);
    stun_private = stun_private || is_private_address(o->mapped);
  }
  r.external_shared = sic_shared || stun_shared;
  r.external_private = (sic_private && tcp_translated.value_or(true)) || (stun_private && udp_translated.value_or(true));
  r.cgnat = local_shared || r.external_shared;

  if (r.cgnat)
    r.kind = NatKind::Cgnat;
  else if (tcp_translated.value_or(false) || udp_translated.value_or(false))
    r.kind = NatKind::Nat;
  else if (tcp_translated || udp_translated)
    r.kind = NatKind::None;

  if (local_shared) {
    const Address& l = f.local_tcp && is_shared_address(*f.local_tcp) ? *f.local_tcp : *f.local_udp;
    r.notes.push_back("this device's own address " + l.ip_string() +
                      " is in 100.64.0.0/10: it sits directly on a carrier-grade NAT");
  }

  // IPv6 has no need of NAT: say what the translation is, when there is one.
  if (f.local_tcp && f.sic && f.local_tcp->family == 6 && f.sic->family == 6 && tcp_translated == true) {
    std::optional<bool> kept;
    if (f.sic->port != 0) kept = f.sic->port == f.local_tcp->port;
    r.notes.push_back(ipv6_translation(*f.local_tcp, *f.sic, kept, "TCP"));
  }
  if (f.local_udp && stun_ext && f.local_udp->family == 6 && udp_translated == true &&
      !(f.local_tcp && f.sic && f.local_tcp->family == 6 && f.sic->family == 6 && tcp_translated == true &&
        same_ip(*f.local_tcp, *f.local_udp) && same_ip(*f.sic, *stun_ext)))
    r.notes.push_back(ipv6_translation(*f.local_udp, *stun_ext, stun_ext->port == f.local_udp->port, "UDP"));
  // TCP (SIC) and UDP (STUN) over different families: each verdict applies to its own family.
  if (tcp_translated && udp_translated && f.sic && stun_ext && f.sic->family != stun_ext->family &&
      *tcp_translated != *udp_translated) {
    const auto& [fam_on, fam_off] = *tcp_translated ? std::pair(f.sic->family, stun_ext->family)
                                                    : std::pair(stun_ext->family, f.sic->family);
    r.notes.push_back("IPv" + std::to_string(fam_on) + " is translated but IPv" + std::to_string(fam_off) +
                      " leaves with this host's own address: the NAT applies to IPv" + std::to_string(fam_on) +
                      " only");
  }

  // Port preservation.
  if (f.local_tcp && f.sic && f.sic->port != 0 && f.local_tcp->family == f.sic->family)
    r.tcp_port_preserved = f.sic->port == f.local_tcp->port;
  if (f.local_udp && stun_ext) r.udp_port_preserved = stun_ext->port == f.local_udp->port;
  if (udp_translated.value_or(false) && r.udp_port_preserved)
    r.notes.push_back(*r.udp_port_preserved
                          ? "the NAT kept the UDP port (" + std::to_string(f.local_udp->port) +
                                "): a port-preserving NAT, which makes the port peers must use predictable"
                          : "the NAT changed the UDP port (" + std::to_string(f.local_udp->port) + " -> " +
                                std::to_string(stun_ext->port) + ")");

  // Mapping behaviour from the answers to one local socket.
  std::vector<const MappingObservation*> distinct;
  for (const auto* o : obs)
    if (std::none_of(distinct.begin(), distinct.end(), [&](const auto* d) { return d->destination == o->destination; }))
      distinct.push_back(o);
  std::set<std::string> servers;
  for (const auto* o : distinct) servers.insert(o->server);
  std::set<std::string> mapped_ips;
  for (const auto* o : distinct) mapped_ips.insert(o->mapped.ip_string());
  if (udp_translated == false && std::all_of(distinct.begin(), distinct.end(),
                                             [&](const auto* o) { return o->mapped == *f.local_udp; })) {
    r.mapping = Mapping::None;
  } else if (distinct.size() >= 2) {
    bool all_same = std::all_of(distinct.begin(), distinct.end(),
                                [&](const auto* o) { return o->mapped == distinct.front()->mapped; });
    bool same_ip_pair = false, same_ip_pair_differs = false;
    for (std::size_t i = 0; i < distinct.size(); ++i)
      for (std::size_t j = i + 1; j < distinct.size(); ++j)
        if (same_ip(distinct[i]->destination, distinct[j]->destination)) {
          same_ip_pair = true;
          if (!(distinct[i]->mapped == distinct[j]->mapped)) same_ip_pair_differs = true;
        }
    if (all_same)
      r.mapping = Mapping::EndpointIndependent;
    else if (same_ip_pair_differs)
      r.mapping = Mapping::AddressAndPortDependent;
    else if (same_ip_pair)
      r.mapping = Mapping::AddressDependent;
    else
      r.mapping = Mapping::Dependent;
    r.mapping_basis = std::to_string(distinct.size()) + " destinations of " + std::to_string(servers.size()) +
                      (servers.size() == 1 ? " STUN server (RFC 5780 OTHER-ADDRESS)" : " STUN servers");
    if (!all_same) {
      std::string seen;
      for (const auto* o : distinct) seen += (seen.empty() ? "" : ", ") + o->mapped.to_string();
      r.notes.push_back("each destination got its own mapping (" + seen + ")");
    }
  }
  if (mapped_ips.size() > 1) {
    std::string list;
    for (const auto& ip : mapped_ips) list += (list.empty() ? "" : ", ") + ip;
    r.notes.push_back("STUN servers saw different external addresses (" + list +
                      "): this network leaves through several exits (an address pool or several uplinks)");
  }

  // Filtering (RFC 5780 §4.4).
  if (f.filter_change_ip_port_answered == true)
    r.filtering = Filtering::EndpointIndependent;
  else if (f.filter_change_port_answered == true)
    r.filtering = Filtering::AddressDependent;
  else if (f.filter_change_ip_port_answered == false && f.filter_change_port_answered == false)
    r.filtering = Filtering::AddressAndPortDependent;

  // When the XMPP server (TCP) and STUN (UDP) disagree, say why only as far as the facts go.
  if (f.sic && stun_ext && f.sic->family == stun_ext->family) {
    bool sic_among_stun = std::any_of(obs.begin(), obs.end(), [&](const auto* o) { return same_ip(o->mapped, *f.sic); });
    const std::string sic_ip = f.sic->ip_string(), stun_ip = stun_ext->ip_string();
    if (sic_among_stun) {
      r.notes.push_back("the XMPP server (TCP) and the STUN server (UDP) see the same address " + sic_ip);
    } else if (!is_public(*f.sic) && is_public(*stun_ext)) {
      r.notes.push_back("the XMPP server sees " + sic_ip + ", " + kind_of(*f.sic) + ", while STUN sees " + stun_ip +
                        ": the XMPP server sits inside " +
                        (is_shared_address(*f.sic) ? "the carrier network, before the carrier-grade NAT"
                                                   : "your (or your provider's) private network, before the NAT"));
    } else if (is_public(*f.sic) && !is_public(*stun_ext)) {
      r.notes.push_back("the STUN server sees " + stun_ip + ", " + kind_of(*stun_ext) + ", while the XMPP server sees " +
                        sic_ip + ": the STUN server sits inside " +
                        (is_shared_address(*stun_ext) ? "the carrier network, before the carrier-grade NAT"
                                                      : "your (or your provider's) private network, before the NAT"));
    } else if (!is_public(*f.sic) && !is_public(*stun_ext)) {
      r.notes.push_back("the XMPP server sees " + sic_ip + " and the STUN server " + stun_ip +
                        ", neither a public address: both servers sit inside private networks at different depths");
    } else if (udp_translated == false && tcp_translated == true) {
      r.notes.push_back("UDP leaves with this host's own address but the XMPP server sees " + sic_ip +
                        ": a proxy (or a NAT) for TCP only is in the path");
    } else if (mapped_ips.size() > 1) {
      r.notes.push_back("the XMPP server sees " + sic_ip + " and the STUN servers see yet other addresses: several exits");
    } else {
      r.notes.push_back("the XMPP server sees " + sic_ip + " (TCP) but STUN sees " + stun_ip +
                        " (UDP): TCP and UDP leave through different exits, or TCP goes through a proxy");
    }
  }
  if (r.kind != NatKind::Cgnat) {
    if (sic_private && tcp_translated == true)
      r.notes.push_back("the XMPP server sees " + f.sic->ip_string() + ", a private address: it is inside a private network");
  } else if (sic_shared && !(stun_ext && is_public(*stun_ext))) {
    r.notes.push_back("the XMPP server sees " + f.sic->ip_string() +
                      ", a carrier-grade NAT shared address: it is inside the carrier network");
  } else if (stun_shared && !(f.sic && is_public(*f.sic))) {
    r.notes.push_back("the STUN server sees " + stun_ext->ip_string() +
                      ", a carrier-grade NAT shared address: it is inside the carrier network");
  }

  // One line for people.
  switch (r.mapping) {
    case Mapping::None:
      r.meaning = "no NAT for UDP: peers can reach this host directly where the firewall allows it";
      break;
    case Mapping::EndpointIndependent:
      r.meaning = r.filtering == Filtering::EndpointIndependent
                      ? "endpoint-independent NAT (full cone): direct peer-to-peer calls work, also incoming"
                      : "endpoint-independent mapping: direct peer-to-peer calls usually work (hole punching)";
      break;
    case Mapping::AddressDependent:
    case Mapping::AddressAndPortDependent:
    case Mapping::Dependent:
      r.meaning = "symmetric NAT (a new mapping per destination): direct peer-to-peer calls will need a TURN relay";
      break;
    case Mapping::Unknown:
      if (r.kind == NatKind::None)
        r.meaning = "no NAT: peers can reach this host directly where the firewall allows it";
      else if (r.kind == NatKind::Unknown)
        r.meaning = "not enough facts to classify the NAT";
      else
        r.meaning = "NAT behaviour not classified: it needs answers from two STUN servers (or one with RFC 5780)";
      break;
  }
  if (r.cgnat) r.meaning += "; behind a carrier-grade NAT, port forwarding cannot open incoming ports";
  return r;
}

}  // namespace xnet::stun
