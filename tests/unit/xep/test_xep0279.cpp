// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include "xep/xep0279.hpp"
#include "xml/element.hpp"

using namespace xnet;
using xep0279::Ns;

namespace {
xml::Element iq(const std::string& payload) {
  auto r = xml::parse("<iq xmlns='jabber:client' type='result' id='s1'>" + payload + "</iq>");
  REQUIRE(r);
  return *r;
}
}  // namespace

TEST_CASE("SIC request shapes carry no 'to'", "[xep0279]") {
  CHECK(xep0279::build_request(Ns::Sic1).str() == "<iq xmlns='jabber:client' type='get'><address xmlns='urn:xmpp:sic:1'/></iq>");
  CHECK(xep0279::build_request(Ns::Sic0).str() == "<iq xmlns='jabber:client' type='get'><ip xmlns='urn:xmpp:sic:0'/></iq>");
}

TEST_CASE("SIC results are parsed over a table of shapes", "[xep0279]") {
  struct Case {
    const char* what;
    std::string payload;
    std::string ip;
    std::optional<std::uint16_t> port;
    int family;
    Ns ns;
    std::size_t warnings;
  };
  auto c = GENERATE(values<Case>({
      {"sic:1 v4", "<address xmlns='urn:xmpp:sic:1'><ip>203.0.113.7</ip><port>50123</port></address>", "203.0.113.7", 50123, 4, Ns::Sic1, 0},
      {"sic:1 v6 no port", "<address xmlns='urn:xmpp:sic:1'><ip>2001:DB8:5:0:0::17</ip></address>", "2001:db8:5::17", std::nullopt, 6, Ns::Sic1, 0},
      {"sic:1 port first", "<address xmlns='urn:xmpp:sic:1'><port>7</port><ip>192.0.2.1</ip></address>", "192.0.2.1", 7, 4, Ns::Sic1, 0},
      {"sic:0", "<ip xmlns='urn:xmpp:sic:0'>203.0.113.7</ip>", "203.0.113.7", std::nullopt, 4, Ns::Sic0, 0},
      {"sic:0 ejabberd wrapper", "<address xmlns='urn:xmpp:sic:0'><ip>203.0.113.7</ip></address>", "203.0.113.7", std::nullopt, 4, Ns::Sic0, 1},
      {"whitespace", "<address xmlns='urn:xmpp:sic:1'><ip>\n  198.51.100.2 \n</ip><port> 443 </port></address>", "198.51.100.2", 443, 4, Ns::Sic1, 0},
      {"v4-mapped", "<address xmlns='urn:xmpp:sic:1'><ip>::ffff:192.0.2.9</ip><port>1</port></address>", "192.0.2.9", 1, 4, Ns::Sic1, 0},
      {"brackets and zone", "<address xmlns='urn:xmpp:sic:1'><ip>[fe80::1%eth0]</ip></address>", "fe80::1", std::nullopt, 6, Ns::Sic1, 0},
      {"port 0 dropped", "<address xmlns='urn:xmpp:sic:1'><ip>192.0.2.1</ip><port>0</port></address>", "192.0.2.1", std::nullopt, 4, Ns::Sic1, 1},
      {"port 65536 dropped", "<address xmlns='urn:xmpp:sic:1'><ip>192.0.2.1</ip><port>65536</port></address>", "192.0.2.1", std::nullopt, 4, Ns::Sic1, 1},
      {"port -1 dropped", "<address xmlns='urn:xmpp:sic:1'><ip>192.0.2.1</ip><port>-1</port></address>", "192.0.2.1", std::nullopt, 4, Ns::Sic1, 1},
      {"port abc dropped", "<address xmlns='urn:xmpp:sic:1'><ip>192.0.2.1</ip><port>abc</port></address>", "192.0.2.1", std::nullopt, 4, Ns::Sic1, 1},
  }));
  INFO(c.what);
  auto r = xep0279::parse_result(iq(c.payload));
  REQUIRE(r);
  CHECK(r->ip == c.ip);
  CHECK(r->port == c.port);
  CHECK(r->family == c.family);
  CHECK(r->ns == c.ns);
  CHECK(r->warnings.size() == c.warnings);
}

TEST_CASE("several <ip> elements: the first is used, the rest kept", "[xep0279]") {
  auto r = xep0279::parse_result(
      iq("<address xmlns='urn:xmpp:sic:1'><ip>192.0.2.1</ip><ip>2001:db8::1</ip><port>9</port></address>"));
  REQUIRE(r);
  CHECK(r->ip == "192.0.2.1");
  CHECK(r->extra_ips == std::vector<std::string>{"2001:db8::1"});
}

TEST_CASE("garbage SIC results are protocol errors", "[xep0279]") {
  auto payload = GENERATE(as<std::string>{}, "", "<address xmlns='urn:xmpp:sic:1'/>",
                          "<address xmlns='urn:xmpp:sic:1'><ip>not-an-ip</ip></address>",
                          "<address xmlns='urn:xmpp:sic:1'><ip>300.1.2.3</ip></address>",
                          "<ip xmlns='urn:xmpp:sic:0'>   </ip>", "<query xmlns='urn:xmpp:sic:1'/>",
                          "<address xmlns='urn:xmpp:other'><ip>192.0.2.1</ip></address>");
  INFO(payload);
  auto r = xep0279::parse_result(iq(payload));
  REQUIRE_FALSE(r);
  CHECK(r.error().category == Category::Protocol);
}

TEST_CASE("server-side result payloads", "[xep0279]") {
  CHECK(xep0279::build_result_payload(Ns::Sic1, "192.0.2.1", 5222).str() ==
        "<address xmlns='urn:xmpp:sic:1'><ip>192.0.2.1</ip><port>5222</port></address>");
  CHECK(xep0279::build_result_payload(Ns::Sic0, "2001:db8::1", 5222).str() ==
        "<ip xmlns='urn:xmpp:sic:0'>2001:db8::1</ip>");
  auto req = xml::parse("<iq xmlns='jabber:client' type='get'><ip xmlns='urn:xmpp:sic:0'/></iq>");
  REQUIRE(req);
  CHECK(xep0279::request_ns(*req) == Ns::Sic0);
}
