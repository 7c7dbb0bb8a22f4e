// SPDX-License-Identifier: MIT
#include <sstream>

#include <catch2/catch.hpp>

#include "cmd/whoami.hpp"

using namespace xnet;

namespace {
xmpp::WhoamiReport sample() {
  xmpp::WhoamiReport r;
  r.conn.bound_jid = "alice@example.org/xnet";
  r.conn.server_host = "example.org";
  r.conn.server_ip = "192.0.2.10";
  r.conn.server_port = 5222;
  r.conn.local_ip = "10.0.0.2";
  r.conn.local_port = 40000;
  r.conn.tls = "starttls";
  r.conn.connect_ms = 12.34;
  r.external.ip = "203.0.113.7";
  r.external.port = 61000;
  r.external.family = 4;
  r.external.ns = xep0279::Ns::Sic1;
  r.elapsed_ms = 15.06;
  xmpp::fill_nat_hint(r);
  return r;
}
}  // namespace

TEST_CASE("whoami JSON keys are stable", "[cmd][whoami]") {
  nlohmann::json j = sample();
  CHECK(j["external_ip"] == "203.0.113.7");
  CHECK(j["external_port"] == 61000);
  CHECK(j["family"] == "ipv4");
  CHECK(j["local_ip"] == "10.0.0.2");
  CHECK(j["local_port"] == 40000);
  CHECK(j["nat"] == "nat");
  CHECK(j["nat_notes"].size() == 2);
  CHECK(j["namespace"] == "urn:xmpp:sic:1");
  CHECK(j["server_host"] == "example.org");
  CHECK(j["server_port"] == 5222);
  CHECK(j["tls"] == "starttls");
  CHECK(j["elapsed_ms"] == Approx(15.1));
  CHECK(j["jid"] == "alice@example.org/xnet");
  CHECK(j["via"] == "sic");
  auto r = sample();
  r.external.port.reset();
  nlohmann::json j2 = r;
  CHECK(j2["external_port"].is_null());
}

TEST_CASE("whoami text output, plain and coloured", "[cmd][whoami]") {
  std::ostringstream plain;
  xmpp::print_text(plain, sample(), cmd::Style{false});
  CHECK(plain.str() ==
        "external   203.0.113.7:61000  (IPv4, urn:xmpp:sic:1)\n"
        "local      10.0.0.2:40000\n"
        "nat        nat\n"
        "           the server sees 203.0.113.7 but your side of the connection is 10.0.0.2: a NAT or proxy is in the path\n"
        "           the server sees port 61000 but your local port is 40000: the port is translated\n"
        "server     example.org (192.0.2.10:5222), STARTTLS\n"
        "jid        alice@example.org/xnet\n"
        "elapsed    15 ms\n");
  std::ostringstream colour;
  xmpp::print_text(colour, sample(), cmd::Style{true});
  CHECK(colour.str().find("\033[33mnat\033[0m") != std::string::npos);
}
