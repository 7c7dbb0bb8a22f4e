// SPDX-License-Identifier: MIT
#include <sys/socket.h>

#include <catch2/catch.hpp>

#include "mdns/peers.hpp"

using namespace xnet::mdns;
using K = BackendEvent::Kind;

namespace {
BackendEvent ev(K kind, int ifindex, int family, const std::string& name = "juliet@pronto") {
  BackendEvent e;
  e.kind = kind;
  e.name = name;
  e.type = "_presence._tcp";
  e.domain = "local";
  e.if_index = ifindex;
  e.interface = ifindex == 1 ? "lo" : "eth" + std::to_string(ifindex);
  e.family = family;
  return e;
}
BackendEvent resolved(int ifindex, int family, const std::string& ip, std::vector<std::string> txt = {"txtvers=1"}) {
  auto e = ev(K::Resolved, ifindex, family);
  e.host = "pronto.local";
  e.port = 5562;
  e.txt = std::move(txt);
  e.address = Address{ip, family, e.interface, ip.rfind("fe80", 0) == 0 ? static_cast<unsigned>(ifindex) : 0u};
  return e;
}
}  // namespace

TEST_CASE("the peer table merges interfaces and protocols", "[mdns][peers]") {
  PeerTable t;
  CHECK(t.apply(ev(K::Found, 2, AF_INET)).empty());  // not resolved yet
  auto e1 = t.apply(resolved(2, AF_INET, "10.0.0.5"));
  REQUIRE(e1.size() == 1);
  CHECK(e1[0].kind == PeerEvent::Kind::New);
  CHECK(e1[0].peer.port == 5562);

  t.apply(ev(K::Found, 3, AF_INET6));
  auto e2 = t.apply(resolved(3, AF_INET6, "fe80::1"));
  REQUIRE(e2.size() == 1);
  CHECK(e2[0].kind == PeerEvent::Kind::Updated);
  REQUIRE(e2[0].peer.addresses.size() == 2);
  CHECK(e2[0].peer.addresses[0].ip == "10.0.0.5");  // IPv4 first
  CHECK(e2[0].peer.addresses[1].str() == "fe80::1%eth3");
  CHECK(e2[0].peer.interfaces == std::vector<std::string>{"eth2", "eth3"});
  CHECK(t.peers().size() == 1);

  SECTION("the same data again is no event") { CHECK(t.apply(resolved(3, AF_INET6, "fe80::1")).empty()); }
  SECTION("a TXT change is an update with the new presence") {
    auto e = t.apply(resolved(2, AF_INET, "10.0.0.5", {"txtvers=1", "status=away"}));
    REQUIRE(e.size() == 1);
    CHECK(e[0].kind == PeerEvent::Kind::Updated);
    CHECK(e[0].peer.presence.status == "away");
  }
  SECTION("removed only when gone from every interface") {
    auto r1 = t.apply(ev(K::Removed, 2, AF_INET));
    REQUIRE(r1.size() == 1);
    CHECK(r1[0].kind == PeerEvent::Kind::Updated);
    CHECK(r1[0].peer.addresses.size() == 1);
    auto r2 = t.apply(ev(K::Removed, 3, AF_INET6));
    REQUIRE(r2.size() == 1);
    CHECK(r2[0].kind == PeerEvent::Kind::Removed);
    CHECK(r2[0].peer.name == "juliet@pronto");
    CHECK(t.peers().empty());
  }
}

TEST_CASE("the peer table marks the caller's own instance", "[mdns][peers]") {
  PeerTable t("romeo@forza");
  t.apply(resolved(1, AF_INET, "127.0.0.1"));
  auto mine = ev(K::Resolved, 1, AF_INET, "romeo@forza");
  mine.port = 1;
  auto e = t.apply(mine);
  REQUIRE(e.size() == 1);
  CHECK(e[0].peer.own);
  auto ps = t.peers();
  REQUIRE(ps.size() == 2);
  CHECK(ps[0].name == "juliet@pronto");
  CHECK_FALSE(ps[0].own);
  SECTION("a removal of an unknown or unresolved instance is silent") {
    CHECK(t.apply(ev(K::Removed, 1, AF_INET, "ghost@x")).empty());
    t.apply(ev(K::Found, 1, AF_INET, "late@x"));
    CHECK(t.apply(ev(K::Removed, 1, AF_INET, "late@x")).empty());
  }
}
