// SPDX-License-Identifier: MIT
// The built-in IQ module shared by the server and the component: disco, ping, SIC, XEP-0215 with
// its push bookkeeping, and the hook to plugged services, driven directly (no session, no socket).
#include <catch2/catch.hpp>

#include "server/builtin_iq.hpp"
#include "server/external.hpp"
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

std::vector<ExternalService> list() {
  ExternalService stun{"stun", "stun.example.org", 3478, "udp", "", "", "", "", 86400, false};
  ExternalService turn{"turn", "turn.example.org", 3478, "udp", "TURN", "", "", "north", 3600, true};
  return {stun, turn};
}

constexpr long long kNow = 1767225600;  // 2026-01-01T00:00:00Z

struct Relay final : Service {
  std::vector<std::string> seen, ended;
  bool take = true;
  std::string name() const override { return "pass"; }
  Identity identity() const override { return {"proxy", "relay", "PASS"}; }
  std::vector<std::string> features() const override { return {"jabber:iq:pass"}; }
  void attach(ServiceHost&) override {}
  bool on_stanza(const xnet::xml::Element& st, const Origin& o) override {
    const auto* p = st.first_child();
    if (!take || !p || p->ns != "jabber:iq:pass") return false;
    seen.push_back(o.full_jid + " " + st.attr_or("id"));
    return true;
  }
  void on_session_end(const std::string& jid) override { ended.push_back(jid); }
};

BuiltinIq make(IqHost host, std::string jid) {
  BuiltinIqOptions o;
  o.host = host;
  o.jid = std::move(jid);
  o.external_services = list();
  BuiltinIq iq(std::move(o));
  iq.set_clock([] { return kNow; });
  return iq;
}

const Origin kAlice{"alice@example.org/phone", Endpoint{"203.0.113.7", 50123}, true, false};
const Origin kBob{"bob@example.org/laptop", Endpoint{"198.51.100.9", 40000}, true, false};

// An IQ from origin: `to` omitted when empty.
std::string ask(BuiltinIq& iq, const Origin& o, const std::string& to, const std::string& payload,
                const std::string& type = "get", const std::string& id = "q1") {
  std::string xml = "<iq xmlns='jabber:client' type='" + type + "' id='" + id + "' from='" + o.full_jid + "'" +
                    (to.empty() ? "" : " to='" + to + "'") + ">" + payload + "</iq>";
  auto reply = iq.answer(el(xml), o);
  auto s = reply.str("jabber:client");
  CHECK_THAT(s, Contains("to='" + o.full_jid + "'"));
  CHECK_THAT(s, Contains("id='" + id + "'"));
  return s;
}

const std::string kInfo = "<query xmlns='http://jabber.org/protocol/disco#info'/>";
const std::string kItems = "<query xmlns='http://jabber.org/protocol/disco#items'/>";
const std::string kPing = "<ping xmlns='urn:xmpp:ping'/>";
const std::string kSic1 = "<address xmlns='urn:xmpp:sic:1'/>";
const std::string kSic0 = "<ip xmlns='urn:xmpp:sic:0'/>";
const std::string kStunList = "<services xmlns='urn:xmpp:extdisco:2' type='stun'/>";

}  // namespace

TEST_CASE("builtin IQ, server mode: disco of the server, of accounts, and of plugged services", "[builtin_iq]") {
  auto iq = make(IqHost::Server, "Example.ORG");
  Relay relay;
  iq.plug(relay, "pass.example.org");
  iq.set_directory([](const std::string& bare) {
    if (bare == "carol@example.org") return AccountKind::Registered;
    if (bare == "anon-x1@example.org") return AccountKind::Anonymous;
    return AccountKind::None;
  });

  auto info = ask(iq, kAlice, "example.org", kInfo);
  CHECK_THAT(info, Contains("type='result'"));
  CHECK_THAT(info, Contains("<identity category='server' type='im' name='xnet serve'/>"));
  for (const char* f : {"urn:xmpp:sic:1", "urn:xmpp:sic:0", "urn:xmpp:ping", "urn:xmpp:extdisco:2",
                        "http://jabber.org/protocol/disco#items"})
    CHECK_THAT(info, Contains(std::string("var='") + f + "'"));
  CHECK_THAT(info, !Contains("jabber:iq:pass"));  // the service has its own JID
  CHECK_THAT(ask(iq, kAlice, "", kInfo), Contains("category='server' type='im'"));  // no `to`: the server

  auto items = ask(iq, kAlice, "example.org", kItems);
  CHECK_THAT(items, Contains("<item jid='pass.example.org' name='PASS'/>"));

  CHECK_THAT(ask(iq, kAlice, "carol@example.org", kInfo), Contains("category='account' type='registered'"));
  CHECK_THAT(ask(iq, kAlice, "anon-x1@example.org", kInfo), Contains("category='account' type='anonymous'"));
  CHECK_THAT(ask(iq, kAlice, "alice@example.org", kInfo), Contains("category='account' type='registered'"));
  CHECK_THAT(ask(iq, kAlice, "nobody@example.org", kInfo), Contains("<service-unavailable"));
  CHECK_THAT(ask(iq, kAlice, "nobody@example.org", kItems), Contains("<service-unavailable"));
  CHECK_THAT(ask(iq, kAlice, "carol@example.org", kItems), !Contains("<item "));

  CHECK_THAT(ask(iq, kAlice, "example.org", kInfo, "set"), Contains("<bad-request"));
  CHECK_THAT(ask(iq, kAlice, "example.org", "<query xmlns='http://jabber.org/protocol/disco#info' node='x'/>"),
             Contains("<item-not-found"));
  CHECK_THAT(ask(iq, kAlice, "example.org", "<query xmlns='urn:example:unknown'/>"), Contains("<service-unavailable"));
  CHECK_THAT(ask(iq, kAlice, "", "<session xmlns='urn:ietf:params:xml:ns:xmpp-session'/>", "set"),
             Contains("type='result'"));

  // The rules of IQ requests hold whoever routed the stanza here.
  CHECK_THAT(iq.answer(el("<iq type='get' from='alice@example.org/phone'><ping xmlns='urn:xmpp:ping'/></iq>"), kAlice)
                 .str("jabber:client"),
             Contains("<bad-request"));
  CHECK_THAT(iq.answer(el("<iq type='get' id='2' from='alice@example.org/phone'>" + kPing + kPing + "</iq>"), kAlice)
                 .str("jabber:client"),
             Contains("<bad-request"));
}

TEST_CASE("builtin IQ: ping of the host, of oneself, of existing and unknown accounts", "[builtin_iq]") {
  auto iq = make(IqHost::Server, "example.org");
  iq.set_directory([](const std::string& bare) {
    return bare == "bob@example.org" ? AccountKind::Registered : AccountKind::None;
  });
  CHECK_THAT(ask(iq, kAlice, "", kPing), Contains("type='result'"));
  CHECK_THAT(ask(iq, kAlice, "example.org", kPing), Contains("type='result'"));
  CHECK_THAT(ask(iq, kAlice, "alice@example.org", kPing), Contains("type='result'"));
  CHECK_THAT(ask(iq, kAlice, "bob@example.org", kPing), Contains("type='result'"));
  CHECK_THAT(ask(iq, kAlice, "eve@example.org", kPing), Contains("<service-unavailable"));
  CHECK_THAT(ask(iq, kAlice, "", kPing, "set"), Contains("<bad-request"));
}

TEST_CASE("builtin IQ: SIC tells the sender its own address and nobody else's", "[builtin_iq][sic]") {
  auto iq = make(IqHost::Server, "example.org");
  iq.set_directory([](const std::string&) { return AccountKind::Registered; });
  CHECK_THAT(ask(iq, kAlice, "", kSic1),
             Contains("<address xmlns='urn:xmpp:sic:1'><ip>203.0.113.7</ip><port>50123</port></address>"));
  CHECK_THAT(ask(iq, kAlice, "", kSic0), Contains("<ip xmlns='urn:xmpp:sic:0'>203.0.113.7</ip>"));
  CHECK_THAT(ask(iq, kAlice, "", kSic0), !Contains("50123"));
  CHECK_THAT(ask(iq, kAlice, "alice@example.org", kSic1), Contains("<ip>203.0.113.7</ip>"));
  CHECK_THAT(ask(iq, kBob, "example.org", kSic1), Contains("<ip>198.51.100.9</ip><port>40000</port>"));

  // Asking about another user: refused, and neither address appears in the reply.
  for (const auto& p : {kSic1, kSic0}) {
    auto other = ask(iq, kAlice, "bob@example.org", p);
    CHECK_THAT(other, Contains("<error type='auth'><forbidden"));
    CHECK_THAT(other, !Contains("198.51.100.9"));
    CHECK_THAT(other, !Contains("203.0.113.7"));
  }
  CHECK_THAT(ask(iq, kAlice, "", kSic1, "set"), Contains("<not-allowed"));
  CHECK_THAT(ask(iq, kAlice, "", "<address xmlns='urn:xmpp:sic:1'><ip>1.2.3.4</ip></address>"), Contains("<bad-request"));
  CHECK_THAT(ask(iq, kAlice, "", "<other xmlns='urn:xmpp:sic:1'/>"), Contains("<bad-request"));
  const Origin unknown{"alice@example.org/phone", std::nullopt, true, false};
  CHECK_THAT(ask(iq, unknown, "", kSic1), Contains("<item-not-found"));
}

TEST_CASE("builtin IQ, component mode: one identity with the services, no SIC, dispatch by namespace", "[builtin_iq][component]") {
  auto iq = make(IqHost::Component, "xnet.example.org");
  Relay relay;
  iq.plug(relay, "xnet.example.org");
  const Origin remote{"alice@example.org/phone", std::nullopt, false, false};
  auto info = ask(iq, remote, "xnet.example.org", kInfo);
  CHECK_THAT(info, Contains("<identity category='component' type='generic' name='xnet serve'/>"));
  CHECK_THAT(info, Contains("<identity category='proxy' type='relay' name='PASS'/>"));
  CHECK_THAT(info, Contains("var='jabber:iq:pass'"));
  CHECK_THAT(info, Contains("var='urn:xmpp:extdisco:2'"));
  CHECK_THAT(info, !Contains("urn:xmpp:sic"));
  CHECK_THAT(ask(iq, remote, "xnet.example.org", kItems), !Contains("<item "));
  CHECK_THAT(ask(iq, remote, "xnet.example.org", kPing), Contains("type='result'"));
  // Even an origin with an address gets no SIC answer from a component.
  CHECK_THAT(ask(iq, kAlice, "xnet.example.org", kSic1), Contains("<service-unavailable"));
  CHECK_THAT(ask(iq, kAlice, "xnet.example.org", kSic1), !Contains("203.0.113.7"));
  // A JID at the component's domain is no account here.
  CHECK_THAT(ask(iq, remote, "someone@xnet.example.org", kPing), Contains("<service-unavailable"));

  auto pass = el("<iq type='set' id='p1' from='alice@example.org/phone' to='xnet.example.org'>"
                 "<query xmlns='jabber:iq:pass'/></iq>");
  const auto* p = iq.service_for(pass);
  REQUIRE(p);
  CHECK_FALSE(iq.to_service(*p, pass, remote));
  CHECK(relay.seen == std::vector<std::string>{"alice@example.org/phone p1"});
  CHECK_FALSE(iq.service_for(el("<iq type='get' id='d' to='xnet.example.org'>" + kInfo + "</iq>")));
  relay.take = false;  // a namespace the service lists but does not take: service-unavailable
  auto r = iq.to_service(*p, pass, remote);
  REQUIRE(r);
  CHECK_THAT(r->str("jabber:client"), Contains("<service-unavailable"));
}

TEST_CASE("builtin IQ: the PASS hook in server mode, with the fallback answers of a service", "[builtin_iq][service]") {
  auto iq = make(IqHost::Server, "example.org");
  Relay relay;
  iq.plug(relay, "pass.example.org");
  auto to_pass = [&](const std::string& payload, const std::string& type = "get") {
    return el("<iq type='" + type + "' id='s1' from='alice@example.org/phone' to='pass.example.org'>" + payload + "</iq>");
  };
  CHECK_FALSE(iq.service_for(to_pass(kInfo).set("to", "example.org")));
  CHECK_FALSE(iq.service_for(to_pass(kInfo).set("to", "bob@example.org")));
  const auto* p = iq.service_for(to_pass(kInfo));
  REQUIRE(p);
  CHECK(p->jid == "pass.example.org");
  CHECK(iq.service_for(to_pass(kInfo).set("to", "x@Pass.Example.org/r")) == p);

  auto info = iq.to_service(*p, to_pass(kInfo), kAlice);
  REQUIRE(info);
  auto s = info->str("jabber:client");
  CHECK_THAT(s, Contains("from='pass.example.org'"));
  CHECK_THAT(s, Contains("category='proxy' type='relay'"));
  CHECK_THAT(s, Contains("var='jabber:iq:pass'"));
  CHECK_THAT(s, Contains("var='urn:xmpp:ping'"));
  auto ping = iq.to_service(*p, to_pass(kPing), kAlice);
  REQUIRE(ping);
  CHECK_THAT(ping->str("jabber:client"), Contains("type='result'"));
  auto other = iq.to_service(*p, to_pass("<foo xmlns='urn:other'/>"), kAlice);
  REQUIRE(other);
  CHECK_THAT(other->str("jabber:client"), Contains("<service-unavailable"));
  CHECK_FALSE(iq.to_service(*p, to_pass("<query xmlns='jabber:iq:pass'/>", "set"), kAlice));
  CHECK_FALSE(iq.to_service(*p, to_pass("", "result"), kAlice));  // results are never answered
  iq.session_ended("alice@example.org/phone");
  CHECK(relay.ended == std::vector<std::string>{"alice@example.org/phone"});
}

TEST_CASE("builtin IQ: XEP-0215 answers, and pushes only to who asked for a typed list", "[builtin_iq][extdisco]") {
  for (auto host : {IqHost::Server, IqHost::Component}) {
    const std::string jid = host == IqHost::Server ? "example.org" : "xnet.example.org";
    INFO(jid);
    auto iq = make(host, jid);
    auto all = ask(iq, kAlice, jid, "<services xmlns='urn:xmpp:extdisco:2'/>");
    CHECK_THAT(all, Contains("host='stun.example.org'"));
    CHECK_THAT(all, Contains("host='turn.example.org'"));
    auto creds = ask(iq, kAlice, jid, "<credentials xmlns='urn:xmpp:extdisco:2'><service type='turn' "
                                      "host='turn.example.org'/></credentials>");
    CHECK_THAT(creds, Contains("username='" + std::to_string(kNow + 3600) + ":alice'"));
    CHECK_THAT(creds, Contains("password='" + turn_rest_credentials("north", kNow + 3600, "alice").password + "'"));
    CHECK_THAT(ask(iq, kAlice, jid, kStunList, "set"), Contains("<not-allowed"));
    CHECK(iq.watchers() == 0);  // untyped, credential and refused requests are not remembered

    ask(iq, kAlice, jid, kStunList);
    ask(iq, kAlice, jid, kStunList);  // the same request twice is remembered once
    ask(iq, kBob, "", "<services xmlns='urn:xmpp:extdisco:2' type='turn'/>");
    CHECK(iq.watchers() == 2);

    auto next = list();
    next[0].host = "stun9.example.org";
    auto pushes = iq.reload(next);
    REQUIRE(pushes.size() == 1);  // bob asked for TURN only, which did not change
    auto s = pushes[0].str("jabber:client");
    CHECK_THAT(s, Contains("type='set'"));
    CHECK_THAT(s, Contains("from='" + jid + "'"));
    CHECK_THAT(s, Contains("to='alice@example.org/phone'"));
    CHECK_THAT(s, Contains("action='add' type='stun' host='stun9.example.org'"));
    CHECK_THAT(s, Contains("action='delete' type='stun' host='stun.example.org'"));
    CHECK(iq.external_services()[0].host == "stun9.example.org");
    CHECK(iq.reload(next).empty());  // nothing changed

    iq.session_ended("alice@example.org/phone");
    CHECK(iq.watchers() == 1);
    next[0].host = "stun10.example.org";
    CHECK(iq.reload(next).empty());
  }
}

TEST_CASE("builtin IQ: XEP-0215 about another account is refused and the watch tables are bounded", "[builtin_iq][extdisco]") {
  BuiltinIqOptions o;
  o.jid = "example.org";
  o.external_services = list();
  o.max_watchers = 3;
  o.max_watches_per_jid = 2;
  BuiltinIq iq(std::move(o));
  iq.set_directory([](const std::string&) { return AccountKind::Registered; });
  CHECK_THAT(ask(iq, kAlice, "bob@example.org", kStunList), Contains("<error type='auth'><forbidden"));
  CHECK(iq.watchers() == 0);
  for (const char* t : {"stun", "turn", "stuns", "turns"})
    ask(iq, kAlice, "", std::string("<services xmlns='urn:xmpp:extdisco:2' type='") + t + "'/>");
  auto next = list();
  next.push_back({"stuns", "s.example.org", 5349, "tcp", "", "", "", "", 86400, false});
  next.push_back({"turns", "t.example.org", 5349, "tcp", "", "", "", "north", 3600, false});
  CHECK(iq.reload(next).empty());  // only stun and turn remembered; neither changed
  for (int i = 0; i < 5; ++i) {
    Origin o2{"u" + std::to_string(i) + "@example.org/r", Endpoint{"192.0.2.1", 1}, true, false};
    ask(iq, o2, "", kStunList);
  }
  CHECK(iq.watchers() == 3);
}
