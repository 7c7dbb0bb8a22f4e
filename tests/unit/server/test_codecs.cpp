// SPDX-License-Identifier: MIT
// XEP-0215 rendering in every form, TURN REST credentials, PROXY v2, the component handshake and
// the component's dispatch, the serve configuration file.
#include <catch2/catch.hpp>

#include "server/component.hpp"
#include "server/config.hpp"
#include "server/external.hpp"
#include "server/proxy_protocol.hpp"
#include "server/stanza.hpp"
#include "xml/element.hpp"

using namespace xnet::server;
using Catch::Contains;

namespace {
xnet::xml::Element el(const std::string& xml) {
  auto r = xnet::xml::parse(xml);
  REQUIRE(r);
  return *r;
}
std::vector<ExternalService> services() {
  ExternalService stun{"stun", "stun.example.org", 3478, "udp", "", "", "", "", 86400, false};
  ExternalService turn{"turn", "turn.example.org", 3478, "udp", "TURN", "", "", "north", 3600, true};
  ExternalService stat{"turns", "2001:db8::9", 5349, "tcp", "", "u1", "p1", "", 86400, false};
  return {stun, turn, stat};
}
constexpr long long kNow = 1700000000 - 3600;
}  // namespace

TEST_CASE("TURN REST credentials match coturn use-auth-secret (stun-discovery.md §6 vectors)", "[extdisco]") {
  CHECK(turn_rest_credentials("north", 1700000000, "alice").password == "Cd/49soE35ICqcJF/bCTn8Z4OyE=");
  CHECK(turn_rest_credentials("north", 1700000000, "alice").username == "1700000000:alice");
  CHECK(turn_rest_credentials("north", 1700000000, "").password == "CWyHi3zCeWqXBir9thl4m+iZPRY=");
  CHECK(turn_rest_credentials("north", 1767225600, "alice").password == "qnVCfmDqv+5N7tpxKH0liO/huIU=");
  CHECK(xep0082_datetime(1767225600) == "2026-01-01T00:00:00Z");
}

TEST_CASE("the service list in every XEP-0215 form", "[extdisco]") {
  struct Case {
    std::string request, expect, absent;
  } cases[] = {
      {"<services xmlns='urn:xmpp:extdisco:2'/>",
       "<services xmlns='urn:xmpp:extdisco:2'><service type='stun' host='stun.example.org' port='3478' "
       "transport='udp'/><service type='turn' host='turn.example.org' port='3478' transport='udp' name='TURN' "
       "restricted='1'/><service type='turns' host='2001:db8::9' port='5349' transport='tcp' username='u1' "
       "password='p1'/></services>",
       ""},
      {"<services xmlns='urn:xmpp:extdisco:2' type='stun'/>",
       "<services xmlns='urn:xmpp:extdisco:2' type='stun'><service type='stun' host='stun.example.org' "
       "port='3478' transport='udp'/></services>",
       "turn"},
      {"<services xmlns='urn:xmpp:extdisco:1'/>",
       "<service type='turn' host='turn.example.org' port='3478' transport='udp' name='TURN' "
       "username='1700000000:alice' password='Cd/49soE35ICqcJF/bCTn8Z4OyE=' ttl='3600'/>",
       "restricted"},
      {"<services xmlns='urn:xmpp:extdisco:0'/>", "username='1700000000:alice' password='Cd/49soE35ICqcJF/bCTn8Z4OyE='",
       "ttl="},
      {"<services xmlns='http://www.xmpp.org/extensions/xep-0215.html#ns'/>",
       "<services xmlns='http://www.xmpp.org/extensions/xep-0215.html#ns'><service type='stun'", ""},
      {"<stun xmlns='http://www.xmpp.org/extensions/xep-0215.html#ns'/>",
       "<stun xmlns='http://www.xmpp.org/extensions/xep-0215.html#ns'><server host='stun.example.org' "
       "port='3478'/></stun>",
       "turn"},
      {"<query xmlns='google:jingleinfo'/>",
       "<query xmlns='google:jingleinfo'><stun><server host='stun.example.org' udp='3478'/></stun></query>", "turn"},
  };
  for (const auto& c : cases) {
    INFO(c.request);
    auto req = parse_list_request(el(c.request));
    REQUIRE(req);
    auto a = answer_list(*req, services(), "alice", kNow);
    REQUIRE(a.payload);
    auto s = a.payload->str();
    CHECK_THAT(s, Contains(c.expect));
    if (!c.absent.empty()) CHECK_THAT(s, !Contains(c.absent));
  }
  CHECK_FALSE(parse_list_request(el("<query xmlns='jabber:iq:version'/>")));
}

TEST_CASE("extdisco credentials requests", "[extdisco]") {
  auto ask = [](const std::string& xml) {
    auto req = parse_list_request(el(xml));
    REQUIRE(req);
    REQUIRE(req->credentials);
    return answer_list(*req, services(), "alice", kNow);
  };
  auto a = ask("<credentials xmlns='urn:xmpp:extdisco:2'><service type='turn' host='turn.example.org'/></credentials>");
  REQUIRE(a.payload);
  CHECK_THAT(a.payload->str(), Contains("username='1700000000:alice' password='Cd/49soE35ICqcJF/bCTn8Z4OyE=' "
                                        "expires='2023-11-14T22:13:20Z' restricted='1'"));
  CHECK(ask("<credentials xmlns='urn:xmpp:extdisco:2'><service type='turn' host='nope.example'/></credentials>").error ==
        "item-not-found");
  CHECK(ask("<credentials xmlns='urn:xmpp:extdisco:2'><service host='turn.example.org'/></credentials>").error ==
        "bad-request");
  CHECK(ask("<credentials xmlns='urn:xmpp:extdisco:1'><service host='turn.example.org'/></credentials>").payload);
}

TEST_CASE("pushes: add/modify/delete for extdisco:2, whole lists for the older forms", "[extdisco]") {
  auto before = services();
  auto after = before;
  after.erase(after.begin());  // stun removed
  after.push_back({"stun", "stun2.example.org", 3478, "udp", "", "", "", "", 86400, false});
  after[0].port = 3479;  // turn modified (new key: counts as delete + add)
  auto req = *parse_list_request(el("<services xmlns='urn:xmpp:extdisco:2' type='stun'/>"));
  auto p = push_payload(req, before, after, "alice", kNow);
  REQUIRE(p);
  auto s = p->str();
  CHECK_THAT(s, Contains("<service action='delete' type='stun' host='stun.example.org'"));
  CHECK_THAT(s, Contains("<service action='add' type='stun' host='stun2.example.org'"));
  CHECK_THAT(s, !Contains("turn"));
  CHECK_FALSE(push_payload(req, before, before, "alice", kNow));
  auto v01 = *parse_list_request(el("<stun xmlns='http://www.xmpp.org/extensions/xep-0215.html#ns'/>"));
  auto q = push_payload(v01, before, after, "alice", kNow);
  REQUIRE(q);
  CHECK_THAT(q->str(), Contains("<server host='stun2.example.org' port='3478'/>"));
  auto turnonly = *parse_list_request(el("<services xmlns='urn:xmpp:extdisco:2' type='turns'/>"));
  CHECK_FALSE(push_payload(turnonly, before, after, "alice", kNow));
}

TEST_CASE("PROXY protocol v2 headers", "[proxy]") {
  std::string sig("\r\n\r\n\0\r\nQUIT\n", 12);
  SECTION("TCP over IPv4") {
    std::string h = sig + std::string("\x21\x11\x00\x0c", 4) + std::string("\xcb\x00\x71\x07", 4) +
                    std::string("\x7f\x00\x00\x01", 4) + std::string("\x10\x92\x14\x66", 4);
    REQUIRE(*proxy::header_length(h.substr(0, 16)) == 28);
    auto e = proxy::parse(h);
    REQUIRE(e);
    REQUIRE(*e);
    CHECK((*e)->ip == "203.0.113.7");
    CHECK((*e)->port == 4242);
  }
  SECTION("TCP over IPv6, with a TLV after the addresses") {
    std::string a6("\x20\x01\x0d\xb8\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x05", 16);
    std::string h = sig + std::string("\x21\x21\x00\x27", 4) + a6 + a6 + std::string("\x9c\x40\x14\x66", 4) +
                    std::string("\x04\x00\x00", 3);
    auto e = proxy::parse(h);
    REQUIRE(e);
    CHECK((*e)->ip == "2001:db8::5");
    CHECK((*e)->port == 40000);
  }
  SECTION("LOCAL command: keep the socket address") {
    std::string h = sig + std::string("\x20\x00\x00\x00", 4);
    auto e = proxy::parse(h);
    REQUIRE(e);
    CHECK_FALSE(*e);
  }
  SECTION("refusals") {
    CHECK_FALSE(proxy::header_length("GET / HTTP/1.1\r\n"));
    CHECK_FALSE(proxy::header_length(sig + std::string("\x11\x11\x00\x0c", 4)));  // version 1
    CHECK_FALSE(proxy::header_length(sig + std::string("\x21\x11\xff\xff", 4)));  // too long
    CHECK_FALSE(proxy::parse(sig + std::string("\x21\x11\x00\x04", 4) + std::string(4, '\0')));  // short block
  }
}

TEST_CASE("XEP-0114 handshake digest", "[component]") {
  CHECK(handshake_digest("3BF96D32", "secret") == "b09ea9b3b7f586be8a08d0a3dd7466f110aeb136");
}

TEST_CASE("the component answers disco, ping and XEP-0215 under its JID", "[component]") {
  NullEventLog log;
  std::vector<xnet::xml::Element> sent;
  ComponentCore core("xnet.example.org", services(), log, xnet::null_trace(),
                     [&](const xnet::xml::Element& st) { sent.push_back(st); });
  auto ask = [&](const std::string& xml) {
    sent.clear();
    core.handle(el(xml));
    REQUIRE(sent.size() == 1);
    return sent[0].str("jabber:component:accept");
  };
  auto info = ask("<iq xmlns='jabber:component:accept' type='get' id='1' from='a@example.org/x' "
                  "to='xnet.example.org'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>");
  CHECK_THAT(info, Contains("category='component' type='generic'"));
  CHECK_THAT(info, Contains("var='urn:xmpp:extdisco:2'"));
  CHECK_THAT(info, !Contains("urn:xmpp:sic"));
  CHECK_THAT(info, Contains("to='a@example.org/x'"));
  CHECK_THAT(info, Contains("from='xnet.example.org'"));
  CHECK_THAT(ask("<iq xmlns='jabber:component:accept' type='get' id='2' from='a@example.org/x' "
                 "to='xnet.example.org'><ping xmlns='urn:xmpp:ping'/></iq>"),
             Contains("type='result'"));
  CHECK_THAT(ask("<iq xmlns='jabber:component:accept' type='get' id='3' from='a@example.org/x' "
                 "to='xnet.example.org'><credentials xmlns='urn:xmpp:extdisco:2'><service type='turn' "
                 "host='turn.example.org'/></credentials></iq>"),
             Contains(":a' password="));
  CHECK_THAT(ask("<iq xmlns='jabber:component:accept' type='get' id='4' from='a@example.org/x' "
                 "to='xnet.example.org'><address xmlns='urn:xmpp:sic:1'/></iq>"),
             Contains("<service-unavailable"));
  sent.clear();
  core.handle(el("<iq xmlns='jabber:component:accept' type='get' id='5' to='xnet.example.org'>"
                 "<ping xmlns='urn:xmpp:ping'/></iq>"));  // no from: dropped
  core.handle(el("<iq xmlns='jabber:component:accept' type='result' id='6' from='a@example.org/x' "
                 "to='xnet.example.org'/>"));  // results are never answered
  CHECK(sent.empty());
  // A typed request makes the JID a push target on reload.
  ask("<iq xmlns='jabber:component:accept' type='get' id='7' from='a@example.org/x' to='xnet.example.org'>"
      "<services xmlns='urn:xmpp:extdisco:2' type='stun'/></iq>");
  sent.clear();
  auto next = services();
  next[0].host = "stun9.example.org";
  core.reload(next);
  REQUIRE(sent.size() == 1);
  CHECK_THAT(sent[0].str("jabber:component:accept"), Contains("action='add' type='stun' host='stun9.example.org'"));
}

TEST_CASE("the serve configuration file", "[config]") {
  auto ok = parse_serve_config(R"(
domain = "example.org"
listen = ["0.0.0.0"]
c2s_port = 0
proxy_protocol = true
tls_session_tickets = 0
[limits]
max_stanza_bytes = 10000
auth_timeout = 5
[[external_services]]
type = "turn"
host = "[2001:db8::1]"
port = 3478
secret = "s"
restricted = true
[component]
jid = "xnet.example.org"
router = "127.0.0.1:5347"
)",
                               "serve.toml");
  REQUIRE(ok);
  CHECK(ok->domain == "example.org");
  CHECK(ok->listen == std::vector<std::string>{"0.0.0.0"});
  CHECK(ok->c2s_port == 0);
  CHECK(ok->proxy_protocol);
  CHECK(ok->tls_session_tickets == 0);
  CHECK(parse_serve_config("", "serve.toml")->tls_session_tickets == 1);
  CHECK(ok->limits.max_stanza_bytes == 10000);
  CHECK(ok->limits.auth_timeout == std::chrono::seconds(5));
  REQUIRE(ok->external_services.size() == 1);
  CHECK(ok->external_services[0].host == "2001:db8::1");
  CHECK(ok->component_jid == "xnet.example.org");
  struct Bad {
    const char* text;
    const char* msg;
  } bad[] = {
      {"domian = \"x\"", "serve.toml:1: unknown key \"domian\""},
      {"c2s_port = 70000", "0..65535"},
      {"anonymous = \"yes\"", "expected true or false"},
      {"[[external_services]]\nhost = \"x\"", "needs \"type\" and \"host\""},
      {"[[external_services]]\ntype = \"stun\"\nhost = \"x\"\ntransport = \"sctp\"", "transport"},
      {"certificate = \"a.pem\"", "go together"},
      {"[limits]\nmax_stanza_bytes = 10", "at least 1024"},
      {"tls_session_tickets = 9", "0 to 8"},
      {"tls_session_tickets = -1", "must not be negative"},
      {"listen = [", "serve.toml:"},
  };
  for (const auto& b : bad) {
    INFO(b.text);
    auto r = parse_serve_config(b.text, "serve.toml");
    REQUIRE_FALSE(r);
    CHECK(r.error().category == xnet::Category::Config);
    CHECK_THAT(r.error().message, Contains(b.msg));
  }
}
