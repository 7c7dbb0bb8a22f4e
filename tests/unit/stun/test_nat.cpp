// SPDX-License-Identifier: MIT
// NAT classification from tables of facts: local address, SIC address, STUN answers from
// several destinations, RFC 5780 filtering answers.
#include <algorithm>

#include <catch2/catch.hpp>

#include "stun/nat.hpp"

using namespace xnet::stun;

namespace {

Address A(const char* ip, std::uint16_t port) { return *Address::parse(ip, port); }

MappingObservation O(const char* server_ip, std::uint16_t server_port, const char* ip, std::uint16_t port,
                     std::string label = "") {
  if (label.empty()) label = std::string(server_ip) + ":" + std::to_string(server_port);
  return {label, A(server_ip, server_port), A(ip, port)};
}

bool has_note(const NatReport& r, const std::string& part) {
  return std::any_of(r.notes.begin(), r.notes.end(), [&](const std::string& n) { return n.find(part) != std::string::npos; });
}

struct Row {
  const char* name;
  NatFacts facts;
  NatKind kind;
  Mapping mapping;
  Filtering filtering;
  std::optional<bool> tcp_kept;
  std::optional<bool> udp_kept;
  bool external_private;
  bool external_shared;
  const char* note;     // a note that must be present ("" for none required)
  const char* meaning;  // a part of the meaning line
};

}  // namespace

TEST_CASE("NAT classification from tables of facts", "[stun][nat]") {
  std::vector<Row> rows = {
      {"no NAT: the servers see the local addresses",
       {A("198.51.100.7", 40000), A("198.51.100.7", 40000), {}, A("198.51.100.7", 50000),
        {O("192.0.2.1", 3478, "198.51.100.7", 50000), O("192.0.2.2", 3478, "198.51.100.7", 50000)}, {}, {}},
       NatKind::None, Mapping::None, Filtering::Unknown, true, true, false, false,
       "see the same address 198.51.100.7", "no NAT"},
      {"home NAT, port preserving (masquerade): endpoint-independent from two servers",
       {A("192.168.1.10", 40000), A("203.0.113.5", 40000), {}, A("192.168.1.10", 50000),
        {O("192.0.2.1", 3478, "203.0.113.5", 50000), O("192.0.2.2", 3478, "203.0.113.5", 50000)}, {}, {}},
       NatKind::Nat, Mapping::EndpointIndependent, Filtering::Unknown, true, true, false, false,
       "the NAT kept the UDP port (50000)", "hole punching"},
      {"random-port NAT: each server gets its own port, dependent (not told apart)",
       {A("192.168.1.10", 40000), A("203.0.113.5", 61234), {}, A("192.168.1.10", 50000),
        {O("192.0.2.1", 3478, "203.0.113.5", 31000), O("192.0.2.2", 3478, "203.0.113.5", 42000)}, {}, {}},
       NatKind::Nat, Mapping::Dependent, Filtering::Unknown, false, false, false, false,
       "each destination got its own mapping", "will need a TURN relay"},
      {"RFC 5780: a new mapping per port of the same address is address-and-port-dependent",
       {{}, {}, {}, A("10.0.0.2", 50000),
        {O("192.0.2.1", 3478, "203.0.113.5", 31000, "s"), O("192.0.2.9", 3478, "203.0.113.5", 31001, "s"),
         O("192.0.2.9", 3479, "203.0.113.5", 31002, "s")},
        false, false},
       NatKind::Nat, Mapping::AddressAndPortDependent, Filtering::AddressAndPortDependent, {}, false, false, false,
       "", "TURN relay"},
      {"RFC 5780: the same mapping for both ports of the other address is address-dependent",
       {{}, {}, {}, A("10.0.0.2", 50000),
        {O("192.0.2.1", 3478, "203.0.113.5", 31000, "s"), O("192.0.2.9", 3478, "203.0.113.5", 31001, "s"),
         O("192.0.2.9", 3479, "203.0.113.5", 31001, "s")},
        false, true},
       NatKind::Nat, Mapping::AddressDependent, Filtering::AddressDependent, {}, false, false, false, "",
       "TURN relay"},
      {"RFC 5780: full cone",
       {{}, {}, {}, A("10.0.0.2", 50000),
        {O("192.0.2.1", 3478, "203.0.113.5", 50000, "s"), O("192.0.2.9", 3478, "203.0.113.5", 50000, "s"),
         O("192.0.2.9", 3479, "203.0.113.5", 50000, "s")},
        true, {}},
       NatKind::Nat, Mapping::EndpointIndependent, Filtering::EndpointIndependent, {}, true, false, false,
       "kept the UDP port", "full cone"},
      {"device directly on the CGN (own address 100.64.0.50)",
       {A("100.64.0.50", 40000), A("203.0.113.77", 1025), {}, A("100.64.0.50", 50000),
        {O("192.0.2.1", 3478, "203.0.113.77", 2048), O("192.0.2.2", 3478, "203.0.113.77", 3072)}, {}, {}},
       NatKind::Cgnat, Mapping::Dependent, Filtering::Unknown, false, false, false, false,
       "sits directly on a carrier-grade NAT", "carrier-grade NAT"},
      {"XMPP server inside the carrier network: SIC sees a shared address, STUN a public one",
       {A("192.168.1.10", 40000), A("100.64.3.4", 40000), {}, A("192.168.1.10", 50000),
        {O("192.0.2.1", 3478, "203.0.113.77", 7000)}, {}, {}},
       NatKind::Cgnat, Mapping::Unknown, Filtering::Unknown, true, false, false, true,
       "the XMPP server sits inside the carrier network", "needs answers from two STUN servers"},
      {"STUN server inside the carrier network",
       {A("192.168.1.10", 40000), A("203.0.113.77", 40000), {}, A("192.168.1.10", 50000),
        {O("100.64.0.1", 3478, "100.64.9.9", 50000)}, {}, {}},
       NatKind::Cgnat, Mapping::Unknown, Filtering::Unknown, true, true, false, true,
       "the STUN server sits inside the carrier network", "carrier-grade NAT"},
      {"TCP-only proxy: UDP leaves untranslated, TCP does not",
       {A("198.51.100.7", 40000), A("203.0.113.200", 3128), {}, A("198.51.100.7", 50000),
        {O("192.0.2.1", 3478, "198.51.100.7", 50000)}, {}, {}},
       NatKind::Nat, Mapping::None, Filtering::Unknown, false, true, false, false,
       "a proxy (or a NAT) for TCP only", "no NAT for UDP"},
      {"several exits: two STUN servers see two public addresses",
       {A("192.168.1.10", 40000), A("203.0.113.5", 40000), {}, A("192.168.1.10", 50000),
        {O("192.0.2.1", 3478, "203.0.113.5", 50000), O("192.0.2.2", 3478, "203.0.113.6", 50000)}, {}, {}},
       NatKind::Nat, Mapping::Dependent, Filtering::Unknown, true, true, false, false,
       "several exits", "TURN relay"},
      {"SIC and one STUN server disagree, both public: no cause claimed beyond the alternatives",
       {A("192.168.1.10", 40000), A("203.0.113.5", 40000), {}, A("192.168.1.10", 50000),
        {O("192.0.2.1", 3478, "203.0.113.9", 50000)}, {}, {}},
       NatKind::Nat, Mapping::Unknown, Filtering::Unknown, true, true, false, false,
       "different exits, or TCP goes through a proxy", "not classified"},
      {"the external address is itself private (a second NAT in front)",
       {A("192.168.1.10", 40000), A("10.20.0.3", 40000), {}, A("192.168.1.10", 50000),
        {O("10.20.0.1", 3478, "10.20.0.3", 50000), O("10.20.0.2", 3478, "10.20.0.3", 50000)}, {}, {}},
       NatKind::Nat, Mapping::EndpointIndependent, Filtering::Unknown, true, true, true, false,
       "a private address", "hole punching"},
      {"nothing but SIC without a port",
       {A("192.168.1.10", 40000), A("203.0.113.5", 0), {}, {}, {}, {}, {}},
       NatKind::Nat, Mapping::Unknown, Filtering::Unknown, {}, {}, false, false, "", "not classified"},
      {"no facts at all", {}, NatKind::Unknown, Mapping::Unknown, Filtering::Unknown, {}, {}, false, false, "",
       "not enough facts"},
      {"IPv6 without NAT: the servers see the host's own global address",
       {A("2001:db8:1::10", 40000), A("2001:db8:1::10", 40000), {}, A("2001:db8:1::10", 50000),
        {O("2001:db8:ff::1", 3478, "2001:db8:1::10", 50000), O("2001:db8:ff::2", 3478, "2001:db8:1::10", 50000)}, {},
        {}},
       NatKind::None, Mapping::None, Filtering::Unknown, true, true, false, false,
       "see the same address 2001:db8:1::10", "no NAT"},
      {"IPv6 NPTv6: only the prefix changes, ports kept",
       {A("fd00:1:2:3:aaaa:bbbb:cccc:dddd", 40000), A("2001:db8:5:3:aaaa:bbbb:cccc:dddd", 40000), {},
        A("fd00:1:2:3:aaaa:bbbb:cccc:dddd", 50000),
        {O("2001:db8:ff::1", 3478, "2001:db8:5:3:aaaa:bbbb:cccc:dddd", 50000),
         O("2001:db8:ff::2", 3478, "2001:db8:5:3:aaaa:bbbb:cccc:dddd", 50000)},
        {}, {}},
       NatKind::Nat, Mapping::EndpointIndependent, Filtering::Unknown, true, true, false, false,
       "looks like NPTv6 prefix translation (RFC 6296)", "hole punching"},
      {"IPv6 NAT66: the router's own address and new ports",
       {A("fd00::10", 40000), A("2001:db8:5::1", 61000), {}, A("fd00::10", 50000),
        {O("2001:db8:ff::1", 3478, "2001:db8:5::1", 31000), O("2001:db8:ff::2", 3478, "2001:db8:5::1", 42000)}, {},
        {}},
       NatKind::Nat, Mapping::Dependent, Filtering::Unknown, false, false, false, false,
       "a stateful IPv6 NAT (NAT66)", "TURN relay"},
      {"IPv6 to the XMPP server untranslated, IPv4 to STUN through a NAT",
       {A("2001:db8:1::10", 40000), A("2001:db8:1::10", 40000), {}, A("192.168.1.10", 50000),
        {O("192.0.2.1", 3478, "203.0.113.5", 50000), O("192.0.2.2", 3478, "203.0.113.5", 50000)}, {}, {}},
       NatKind::Nat, Mapping::EndpointIndependent, Filtering::Unknown, true, true, false, false,
       "IPv4 is translated but IPv6 leaves with this host's own address", "hole punching"},
  };
  for (const auto& row : rows) {
    SECTION(row.name) {
      auto r = classify(row.facts);
      INFO("meaning: " << r.meaning);
      for (const auto& n : r.notes) INFO("note: " << n);
      CHECK(to_string(r.kind) == to_string(row.kind));
      CHECK(r.cgnat == (row.kind == NatKind::Cgnat));
      CHECK(to_string(r.mapping) == to_string(row.mapping));
      CHECK(to_string(r.filtering) == to_string(row.filtering));
      CHECK(r.tcp_port_preserved == row.tcp_kept);
      CHECK(r.udp_port_preserved == row.udp_kept);
      CHECK(r.external_private == row.external_private);
      CHECK(r.external_shared == row.external_shared);
      if (*row.note) CHECK(has_note(r, row.note));
      CHECK(r.meaning.find(row.meaning) != std::string::npos);
    }
  }
}

TEST_CASE("explanations are stated only when the facts support them", "[stun][nat]") {
  NatFacts f;
  f.local_tcp = A("192.168.1.10", 40000);
  f.sic = A("203.0.113.5", 40000);
  f.local_udp = A("192.168.1.10", 50000);
  f.stun = {O("192.0.2.1", 3478, "203.0.113.5", 50000)};
  auto r = classify(f);
  CHECK_FALSE(has_note(r, "carrier"));
  CHECK_FALSE(has_note(r, "proxy"));
  CHECK_FALSE(has_note(r, "exits"));
  CHECK(has_note(r, "see the same address 203.0.113.5"));
  CHECK(r.udp_port_preserved == true);
}

TEST_CASE("the same destination listed twice counts once", "[stun][nat]") {
  NatFacts f;
  f.local_udp = A("192.168.1.10", 50000);
  f.stun = {O("192.0.2.1", 3478, "203.0.113.5", 50000, "stun.example"),
            O("192.0.2.1", 3478, "203.0.113.5", 50000, "stun.example")};
  auto r = classify(f);
  CHECK(r.mapping == Mapping::Unknown);
  CHECK(r.kind == NatKind::Nat);
}

TEST_CASE("address classes", "[stun][nat]") {
  struct C {
    const char* ip;
    bool shared, priv;
  };
  for (auto c : std::vector<C>{{"100.64.0.0", true, false},   {"100.127.255.255", true, false},
                               {"100.63.255.255", false, false}, {"100.128.0.0", false, false},
                               {"10.1.2.3", false, true},      {"172.16.0.1", false, true},
                               {"172.32.0.1", false, false},   {"192.168.0.1", false, true},
                               {"169.254.1.1", false, true},   {"127.0.0.1", false, true},
                               {"8.8.8.8", false, false},      {"fd00::1", false, true},
                               {"fe80::1", false, true},       {"::1", false, true},
                               {"2001:db8::1", false, false},  {"::ffff:192.168.1.1", false, true}}) {
    INFO(c.ip);
    auto a = A(c.ip, 1);
    CHECK(is_shared_address(a) == c.shared);
    CHECK(is_private_address(a) == c.priv);
  }
}

TEST_CASE("IPv6 translation notes name NPTv6 only on its evidence", "[stun][nat]") {
  NatFacts f;
  f.local_udp = A("fd00:1:2:3::10", 50000);
  SECTION("the interface identifier kept but the port changed: not NPTv6 (it never touches ports)") {
    f.stun = {O("2001:db8:ff::1", 3478, "2001:db8:5:3::10", 50001)};
    auto r = classify(f);
    CHECK(r.kind == NatKind::Nat);
    CHECK(has_note(r, "NAT66"));
    CHECK_FALSE(has_note(r, "NPTv6"));
  }
  SECTION("one word of the interface identifier adjusted (checksum-neutral NPTv6), port kept") {
    f.stun = {O("2001:db8:ff::1", 3478, "2001:db8:5:3::1234:10", 50000)};
    auto r = classify(f);
    CHECK(has_note(r, "all but one word kept"));
    CHECK(has_note(r, "NPTv6"));
  }
  SECTION("untranslated IPv6: no translation note at all") {
    f.local_udp = A("2001:db8:5:3::10", 50000);
    f.stun = {O("2001:db8:ff::1", 3478, "2001:db8:5:3::10", 50000)};
    auto r = classify(f);
    CHECK(r.kind == NatKind::None);
    CHECK(r.mapping == Mapping::None);
    CHECK_FALSE(has_note(r, "NPTv6"));
    CHECK_FALSE(has_note(r, "NAT66"));
  }
}
