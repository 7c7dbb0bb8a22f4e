// SPDX-License-Identifier: MIT
#include <map>
#include <set>

#include <catch2/catch.hpp>

#include "xmpp/connect.hpp"
#include "xmpp/resolve.hpp"

using namespace xnet;
using namespace xnet::xmpp;

namespace {
SrvRecord rec(std::string target, std::uint16_t port, std::uint16_t prio, std::uint16_t weight, bool direct = false) {
  return SrvRecord{std::move(target), port, prio, weight, direct};
}
SrvAnswer records(std::vector<SrvRecord> r) {
  SrvAnswer a;
  a.kind = SrvAnswer::Kind::Records;
  a.records = std::move(r);
  return a;
}
SrvAnswer kind(SrvAnswer::Kind k) {
  SrvAnswer a;
  a.kind = k;
  return a;
}
}  // namespace

TEST_CASE("SRV records are ordered by priority first", "[resolve][srv]") {
  std::mt19937 rng(1);
  auto out = order_srv({rec("c", 1, 30, 5), rec("a", 1, 10, 5), rec("b", 1, 20, 5)}, rng);
  REQUIRE(out.size() == 3);
  CHECK(out[0].target == "a");
  CHECK(out[1].target == "b");
  CHECK(out[2].target == "c");
}

TEST_CASE("within a priority the weights decide how often a record comes first", "[resolve][srv]") {
  std::mt19937 rng(42);
  std::map<std::string, int> first;
  for (int i = 0; i < 4000; ++i) {
    auto out = order_srv({rec("heavy", 1, 0, 90), rec("light", 1, 0, 10)}, rng);
    REQUIRE(out.size() == 2);
    ++first[out[0].target];
  }
  // Expected 3600 : 400; allow a wide margin so the test cannot flake.
  CHECK(first["heavy"] > 3300);
  CHECK(first["light"] > 250);
  CHECK(first["heavy"] + first["light"] == 4000);
}

TEST_CASE("every record appears exactly once, zero weights included", "[resolve][srv]") {
  std::mt19937 rng(7);
  auto out = order_srv({rec("a", 1, 5, 0), rec("b", 2, 5, 0), rec("c", 3, 5, 10), rec("d", 4, 1, 0)}, rng);
  REQUIRE(out.size() == 4);
  CHECK(out[0].target == "d");
  std::multiset<std::string> names;
  for (const auto& r : out) names.insert(r.target);
  CHECK(names == std::multiset<std::string>{"a", "b", "c", "d"});
}

TEST_CASE("XEP-0368: both SRV sets merge into one order", "[resolve][srv]") {
  std::mt19937 rng(3);
  auto t = plan_targets("example.org", records({rec("tls.example.org", 443, 5, 0, true)}),
                        records({rec("xmpp.example.org", 5222, 10, 0)}), false, rng);
  REQUIRE(t);
  REQUIRE(t->size() == 2);
  CHECK((*t)[0].host == "tls.example.org");
  CHECK((*t)[0].port == 443);
  CHECK((*t)[0].direct_tls);
  CHECK((*t)[1].host == "xmpp.example.org");
  CHECK_FALSE((*t)[1].direct_tls);
  CHECK((*t)[1].from_srv);
}

TEST_CASE("no SRV records: the domain on 5222, or 5223 for direct TLS", "[resolve][srv]") {
  std::mt19937 rng(3);
  auto none = kind(SrvAnswer::Kind::None);
  auto t = plan_targets("example.org", none, none, false, rng);
  REQUIRE(t);
  REQUIRE(t->size() == 1);
  CHECK((*t)[0].host == "example.org");
  CHECK((*t)[0].port == 5222);
  CHECK_FALSE((*t)[0].direct_tls);
  auto d = plan_targets("example.org", none, none, true, rng);
  REQUIRE(d);
  CHECK((*d)[0].port == 5223);
  CHECK((*d)[0].direct_tls);
  // A failed lookup is treated like no records (the address lookup then says what is wrong).
  auto f = plan_targets("example.org", kind(SrvAnswer::Kind::Failed), kind(SrvAnswer::Kind::Failed), false, rng);
  REQUIRE(f);
  CHECK((*f)[0].host == "example.org");
}

TEST_CASE("with --direct-tls only _xmpps-client records are used", "[resolve][srv]") {
  std::mt19937 rng(3);
  auto t = plan_targets("example.org", records({rec("tls.example.org", 5223, 0, 0, true)}),
                        records({rec("xmpp.example.org", 5222, 0, 0)}), true, rng);
  REQUIRE(t);
  REQUIRE(t->size() == 1);
  CHECK((*t)[0].host == "tls.example.org");
}

TEST_CASE("an SRV target of '.' means the service is not offered", "[resolve][srv]") {
  std::mt19937 rng(3);
  auto dot = kind(SrvAnswer::Kind::NotOffered);
  auto none = kind(SrvAnswer::Kind::None);
  SECTION("no STARTTLS service: give up, no A/AAAA guess") {
    auto t = plan_targets("example.org", none, dot, false, rng);
    REQUIRE_FALSE(t);
    CHECK(t.error().category == Category::Dns);
  }
  SECTION("no direct TLS but STARTTLS records: those are used") {
    auto t = plan_targets("example.org", dot, records({rec("xmpp.example.org", 5222, 0, 0)}), false, rng);
    REQUIRE(t);
    REQUIRE(t->size() == 1);
    CHECK((*t)[0].host == "xmpp.example.org");
  }
  SECTION("--direct-tls against a '.' direct-TLS record") {
    auto t = plan_targets("example.org", dot, none, true, rng);
    REQUIRE_FALSE(t);
    CHECK(t.error().category == Category::Dns);
  }
}

TEST_CASE("Happy Eyeballs interleaves the address families, IPv6 first", "[resolve][connect]") {
  auto a6 = asio::ip::make_address("::1");
  auto b6 = asio::ip::make_address("2001:db8::1");
  auto a4 = asio::ip::make_address("127.0.0.1");
  auto out = interleave_families({a6, b6}, {a4});
  REQUIRE(out.size() == 3);
  CHECK(out[0] == a6);
  CHECK(out[1] == a4);
  CHECK(out[2] == b6);
  CHECK(interleave_families({}, {a4}) == std::vector<asio::ip::address>{a4});
}
