// SPDX-License-Identifier: MIT
// The --pass-* options of `xnet serve`: range and address checks, and the service config.
#include <catch2/catch.hpp>

#include "pass/serve_options.hpp"

using namespace xnet;

TEST_CASE("PASS port ranges parse or fail with a usage error", "[pass][serve_options]") {
  auto r = pass::parse_port_range("40000-40999");
  REQUIRE(r);
  CHECK(r->first == 40000);
  CHECK(r->last == 40999);
  auto one = pass::parse_port_range("5000");
  REQUIRE(one);
  CHECK(one->first == 5000);
  CHECK(one->last == 5000);
  for (const char* bad : {"", "0-10", "10-5", "1-65536", "a-b", "100-", "-100", "1--2", "40000-40999x"}) {
    CAPTURE(bad);
    auto e = pass::parse_port_range(bad);
    REQUIRE_FALSE(e);
    CHECK(e.error().category == Category::Usage);
    CHECK(e.error().message.find("--pass-range") != std::string::npos);
  }
}

TEST_CASE("PASS service config from the serve options", "[pass][serve_options]") {
  pass::ServeOptions o;
  o.range = "41000-41010";
  o.accept_window = 2.5;
  o.grace = 0;
  o.owner_ping = 15;
  o.ports_per_account = 2;
  auto c = pass::service_config(o, "192.0.2.1");
  REQUIRE(c);
  CHECK(c->first_port == 41000);
  CHECK(c->last_port == 41010);
  CHECK(c->public_ip == "192.0.2.1");
  CHECK(c->bind_ip.empty());
  CHECK(c->limits.accept_window == std::chrono::milliseconds(2500));
  CHECK(c->limits.grace == std::chrono::milliseconds(0));
  CHECK(c->owner_ping_interval == std::chrono::milliseconds(15000));
  CHECK(c->ports_per_account == 2);

  o.public_ip = "not-an-ip";
  auto bad = pass::service_config(o, "192.0.2.1");
  REQUIRE_FALSE(bad);
  CHECK(bad.error().category == Category::Usage);

  server::NullEventLog log;
  pass::ServeOptions off;
  auto none = pass::make_service(off, "127.0.0.1", log);
  REQUIRE(none);
  CHECK(*none == nullptr);
}
