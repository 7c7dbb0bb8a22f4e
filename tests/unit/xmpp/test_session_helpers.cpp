// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include "error.hpp"
#include "util/hostport.hpp"
#include "xmpp/negotiation.hpp"
#include "xmpp/session.hpp"
#include "xmpp/whoami.hpp"

using namespace xnet;

TEST_CASE("every category maps to its documented exit code", "[error]") {
  struct Row {
    Category c;
    int code;
    const char* name;
  };
  auto row = GENERATE(values<Row>({
      {Category::Usage, 64, "usage"},          {Category::Input, 65, "input"},
      {Category::Dns, 68, "dns"},              {Category::Connect, 69, "connect"},
      {Category::Internal, 70, "internal"},    {Category::Os, 71, "os"},
      {Category::Io, 74, "io"},                {Category::Timeout, 75, "timeout"},
      {Category::Protocol, 76, "protocol"},    {Category::Auth, 77, "auth"},
      {Category::Config, 78, "config"},        {Category::Tls, 79, "tls"},
      {Category::NotSupported, 80, "not_supported"}, {Category::Remote, 81, "remote_error"},
      {Category::Daemon, 82, "daemon"},        {Category::CheckFailed, 1, "check_failed"},
      {Category::Interrupted, 130, "interrupted"},
  }));
  CHECK(exit_code(row.c) == row.code);
  CHECK(category_name(row.c) == row.name);
  CHECK_FALSE(category_label(row.c).empty());
}

TEST_CASE("redaction removes SASL payloads and the password", "[xmpp][security]") {
  CHECK(xmpp::redact_xml("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>biwsbj1hbGljZQ==</auth>", "pw") ==
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>[redacted]</auth>");
  CHECK(xmpp::redact_xml("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>Yz1iaXdz</response>", "pw") ==
        "<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>[redacted]</response>");
  CHECK(xmpp::redact_xml("<challenge>abc</challenge><success>def</success>", "") ==
        "<challenge>[redacted]</challenge><success>[redacted]</success>");
  CHECK(xmpp::redact_xml("<authenticate mechanism='HT-SHA-256-NONE'>dG9rZW4=</authenticate>", "") ==
        "<authenticate mechanism='HT-SHA-256-NONE'>[redacted]</authenticate>");
  CHECK(xmpp::redact_xml("<token xmlns='urn:xmpp:fast:0' token='s3cr3t' expiry='x'/>", "") ==
        "<token xmlns='urn:xmpp:fast:0' token='[redacted]' expiry='x'/>");
  CHECK(xmpp::redact_xml("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>", "") ==
        "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
  CHECK(xmpp::redact_xml("password is hunter2, really hunter2", "hunter2") == "password is ********, really ********");
}

TEST_CASE("stanza errors are decoded, legacy codes mapped", "[xmpp]") {
  auto e = xml::parse(
      "<iq type='error' xmlns='jabber:client'><error type='auth'><forbidden "
      "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>no</text>"
      "</error></iq>");
  REQUIRE(e);
  auto se = xmpp::parse_stanza_error(*e);
  CHECK(se.type == "auth");
  CHECK(se.condition == "forbidden");
  CHECK(se.text == "no");
  auto legacy = xml::parse("<iq type='error' xmlns='jabber:client'><error code='503'>gone</error></iq>");
  REQUIRE(legacy);
  CHECK(xmpp::parse_stanza_error(*legacy).condition == "service-unavailable");
  auto reply = xmpp::make_error_reply(*e, "cancel", "service-unavailable", "nope");
  CHECK(reply.attr_or("type") == "error");
  CHECK(xmpp::parse_stanza_error(reply).condition == "service-unavailable");
  CHECK(xmpp::parse_stanza_error(reply).text == "nope");
}

TEST_CASE("NAT hint compares the server's view with the socket", "[xmpp][whoami]") {
  xmpp::WhoamiReport r;
  r.conn.local_ip = "192.168.1.5";
  r.conn.local_port = 40000;
  r.external.ip = "192.168.1.5";
  r.external.family = 4;
  r.external.port = 40000;
  xmpp::fill_nat_hint(r);
  CHECK(r.nat == "none");
  r.external.ip = "203.0.113.9";
  r.external.port = 61000;
  xmpp::fill_nat_hint(r);
  CHECK(r.nat == "nat");
  REQUIRE(r.notes.size() == 2);
  CHECK(r.notes[1].find("translated") != std::string::npos);
  r.external.port.reset();
  xmpp::fill_nat_hint(r);
  CHECK(r.notes[1].find("unknown") != std::string::npos);
  r.external.family = 6;
  r.external.ip = "2001:db8::1";
  xmpp::fill_nat_hint(r);
  CHECK(r.nat == "unknown");
  r.conn.local_ip.clear();
  xmpp::fill_nat_hint(r);
  CHECK(r.nat == "unknown");
}

TEST_CASE("HOST[:PORT] parsing", "[util]") {
  struct Row {
    std::string in;
    std::string host;
    std::uint16_t port;
  };
  auto row = GENERATE(values<Row>({{"example.org", "example.org", 0},
                                   {"example.org:5223", "example.org", 5223},
                                   {"127.0.0.1:1", "127.0.0.1", 1},
                                   {"[::1]:5222", "::1", 5222},
                                   {"[2001:db8::1]", "2001:db8::1", 0},
                                   {"2001:db8::1", "2001:db8::1", 0}}));
  auto r = util::parse_host_port(row.in);
  REQUIRE(r);
  CHECK(r->host == row.host);
  CHECK(r->port == row.port);
  for (const char* bad : {"", ":5222", "host:", "host:0", "host:65536", "host:x", "[::1", "[::1]x", "[nothost]:1", "1:2:zz"}) {
    INFO(bad);
    auto b = util::parse_host_port(bad);
    REQUIRE_FALSE(b);
    CHECK(b.error().category == Category::Usage);
  }
  CHECK(util::format_host_port("::1", 80) == "[::1]:80");
  CHECK(util::format_host_port("127.0.0.1", 80) == "127.0.0.1:80");
}
