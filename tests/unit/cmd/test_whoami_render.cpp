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
  CHECK(j["cgnat"] == false);
  CHECK(j["mapping"] == "unknown");
  CHECK(j["filtering"] == "unknown");
  CHECK(j["tcp_port_preserved"] == false);
  CHECK(j["udp_port_preserved"].is_null());
  CHECK(j["mapping_basis"].is_null());
  CHECK(j["nat_meaning"].get<std::string>().find("not classified") != std::string::npos);
  CHECK_FALSE(j.contains("stun"));
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
        "meaning    NAT behaviour not classified: it needs answers from two STUN servers (or one with RFC 5780)\n"
        "server     example.org (192.0.2.10:5222), STARTTLS\n"
        "jid        alice@example.org/xnet\n"
        "elapsed    15.1 ms\n");
  std::ostringstream colour;
  xmpp::print_text(colour, sample(), cmd::Style{true});
  CHECK(colour.str().find("\033[33mnat\033[0m") != std::string::npos);
}

namespace {
xnet::stun::Address addr(const char* ip, std::uint16_t port) { return *xnet::stun::Address::parse(ip, port); }

// Behind a carrier-grade NAT with random ports; the same STUN server listed twice (two
// XEP-0215 forms) and a second server that sees another port.
xmpp::WhoamiReport cgnat_sample() {
  auto r = sample();
  r.conn.local_ip = "100.64.0.50";
  r.external.ip = "203.0.113.7";
  stun::UdpBehaviour b;
  b.local = addr("100.64.0.50", 50000);
  b.servers = {"192.0.2.1:3478", "192.0.2.2:3478"};
  b.observations = {{"192.0.2.1:3478", addr("192.0.2.1", 3478), addr("203.0.113.7", 1111)},
                    {"192.0.2.2:3478", addr("192.0.2.2", 3478), addr("203.0.113.8", 2222)}};
  b.rtt_ms = 1.2345;
  r.stun = b;
  xmpp::fill_nat_hint(r);
  return r;
}
}  // namespace

TEST_CASE("whoami JSON and text with STUN facts: CGNAT, dependent mapping", "[cmd][whoami]") {
  auto r = cgnat_sample();
  nlohmann::json j = r;
  CHECK(j["nat"] == "cgnat");
  CHECK(j["cgnat"] == true);
  CHECK(j["mapping"] == "dependent");
  CHECK(j["mapping_basis"] == "2 destinations of 2 STUN servers");
  CHECK(j["udp_port_preserved"] == false);
  CHECK(j["stun"]["external_ip"] == "203.0.113.7");
  CHECK(j["stun"]["observations"].size() == 2);
  CHECK(j["stun"]["rfc5780_server"].is_null());
  CHECK(j["stun"]["disagreements"] == nlohmann::json::array({"192.0.2.2:3478 saw 203.0.113.8"}));
  CHECK(j["nat_meaning"].get<std::string>().find("TURN relay") != std::string::npos);
  std::ostringstream plain;
  xmpp::print_text(plain, r, cmd::Style{false});
  auto t = plain.str();
  INFO(t);
  CHECK(t.find("stun       203.0.113.7:1111  (UDP, via STUN 192.0.2.1:3478)\n") != std::string::npos);
  CHECK(t.find("nat        cgnat\n") != std::string::npos);
  CHECK(t.find("sits directly on a carrier-grade NAT") != std::string::npos);
  CHECK(t.find("mapping    dependent  (2 destinations of 2 STUN servers)\n") != std::string::npos);
  CHECK(t.find("filtering  unknown") != std::string::npos);
  CHECK(t.find("meaning    symmetric NAT") != std::string::npos);
  // A disagreeing server is printed once.
  auto first = t.find("192.0.2.2:3478 saw 203.0.113.8");
  REQUIRE(first != std::string::npos);
  CHECK(t.find("192.0.2.2:3478 saw 203.0.113.8", first + 1) == std::string::npos);
}

TEST_CASE("whoami without SIC reports the STUN view at the top level", "[cmd][whoami]") {
  auto r = cgnat_sample();
  r.external = {};
  xmpp::fill_nat_hint(r);
  nlohmann::json j = r;
  CHECK(j["via"] == "stun");
  CHECK(j["external_ip"] == "203.0.113.7");
  CHECK(j["external_port"] == 1111);
  CHECK(j["local_port"] == 50000);
  CHECK(j["stun_server"] == "192.0.2.1:3478");
  CHECK(j["namespace"].is_null());
}
