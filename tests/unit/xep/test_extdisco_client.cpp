// SPDX-License-Identifier: MIT
#include <map>

#include <catch2/catch.hpp>

#include "xep/extdisco_client.hpp"
#include "xep/turn_rest.hpp"
#include "xml/element.hpp"

using namespace xnet;
using namespace xnet::xep0215;

namespace {

constexpr long long kNow = 1767225600 - 3600;

// A fake server: answers each namespace with a canned payload or a stanza error.
struct FakeServer {
  std::map<std::string, std::string> replies;  // ns + "|" + element → payload XML
  std::vector<xml::Element> asked;

  Result<xml::Element> operator()(xml::Element iq) {
    asked.push_back(iq);
    const auto& p = iq.children.at(0);
    auto it = replies.find(p.ns + "|" + p.name);
    if (it == replies.end()) {
      Error e(Category::Remote, "service-unavailable");
      e.stanza = StanzaError{"cancel", "service-unavailable", "", ""};
      return tl::unexpected(e);
    }
    auto payload = xml::parse(it->second);
    REQUIRE(payload);
    xml::Element reply("iq", "jabber:client");
    reply.set("type", "result");
    reply.add(*payload);
    return reply;
  }
};

xep0030::DiscoInfo info(std::vector<std::string> features) {
  xep0030::DiscoInfo i;
  i.features = std::move(features);
  return i;
}

DiscoverOptions opts() {
  DiscoverOptions o;
  o.server = "example.org";
  o.own_bare_jid = "alice@example.org";
  o.now_unix = kNow;
  return o;
}

bool has_warning(const Discovery& d, std::string_view needle) {
  for (const auto& w : d.warnings)
    if (w.find(needle) != std::string::npos) return true;
  return false;
}

const std::string kV2 =
    "<services xmlns='urn:xmpp:extdisco:2'>"
    "<service type='stun' host='127.0.0.1' port='3478' transport='udp'/>"
    "<service type='turn' host='127.0.0.1' port='3478' transport='udp' restricted='1'/>"
    "<service type='turn' host='127.0.0.1' port='3478' transport='tcp' restricted='1'/>"
    "</services>";

}  // namespace

TEST_CASE("extdisco:2 is preferred and restricted services get credentials", "[extdisco]") {
  FakeServer srv;
  auto creds = turn_rest::generate("north", 1767225600, "alice");
  srv.replies["urn:xmpp:extdisco:2|services"] = kV2;
  srv.replies["urn:xmpp:extdisco:2|credentials"] =
      "<credentials xmlns='urn:xmpp:extdisco:2'>"
      "<service type='turn' host='127.0.0.1' port='3478' transport='udp' username='" + creds.username +
      "' password='" + creds.password + "' expires='2026-01-01T00:00:00Z' restricted='1'/>"
      "<service type='stun' host='10.9.9.9' port='3478' username='x' password='y' restricted='1'/>"
      "</credentials>";
  srv.replies["urn:xmpp:extdisco:1|services"] = "<services xmlns='urn:xmpp:extdisco:1'/>";
  auto d = discover(info({"urn:xmpp:extdisco:2", "urn:xmpp:extdisco:1"}), std::ref(srv), opts(), null_trace());
  REQUIRE(d);
  REQUIRE(d->attempts.size() == 1);
  REQUIRE(d->attempts[0].form == Form::Extdisco2);
  REQUIRE(d->services.size() == 3);
  REQUIRE(d->warnings.empty());
  const auto& turn = d->services[1];
  REQUIRE(turn.credentials_requested);
  REQUIRE(turn.service.username == "1767225600:alice");
  REQUIRE(turn.service.password == "qnVCfmDqv+5N7tpxKH0liO/huIU=");
  REQUIRE(turn.rest_expiry == 1767225600);
  REQUIRE(turn.rest_user == "alice");
  REQUIRE_FALSE(turn.expired);
  // credentials were asked with type and host
  const auto& q = srv.asked[1].children[0].children[0];
  REQUIRE(q.attr_or("type") == "turn");
  REQUIRE(q.attr_or("host") == "127.0.0.1");

  SECTION("--no-credentials leaves them out") {
    FakeServer s2 = srv;
    s2.asked.clear();
    auto o = opts();
    o.request_credentials = false;
    auto d2 = discover(info({"urn:xmpp:extdisco:2"}), std::ref(s2), o, null_trace());
    REQUIRE(d2);
    REQUIRE(s2.asked.size() == 1);
    REQUIRE(d2->services[1].service.username.empty());
  }
  SECTION("filters") {
    FakeServer s2 = srv;
    s2.asked.clear();
    auto o = opts();
    o.type = "turn";
    o.transport = "tcp";
    auto d2 = discover(info({"urn:xmpp:extdisco:2"}), std::ref(s2), o, null_trace());
    REQUIRE(d2);
    REQUIRE(d2->services.size() == 1);
    REQUIRE(d2->services[0].service.transport == "tcp");
    REQUIRE(s2.asked[0].children[0].attr_or("type") == "turn");
  }
}

TEST_CASE("only extdisco:1 is diagnosed", "[extdisco]") {
  FakeServer srv;
  srv.replies["urn:xmpp:extdisco:1|services"] =
      "<services xmlns='urn:xmpp:extdisco:1'><service type='stun' host='127.0.0.1' port='3478'/></services>";
  auto d = discover(info({"urn:xmpp:extdisco:1"}), std::ref(srv), opts(), null_trace());
  REQUIRE(d);
  REQUIRE(d->services.size() == 1);
  REQUIRE(d->services[0].service.source == Form::Extdisco1);
  REQUIRE(has_warning(*d, "Conversations"));
}

TEST_CASE("only legacy forms: fallback chain and diagnosis", "[extdisco]") {
  FakeServer srv;
  srv.replies["http://www.xmpp.org/extensions/xep-0215.html#ns|stun"] =
      "<stun xmlns='http://www.xmpp.org/extensions/xep-0215.html#ns'><server host='127.0.0.1' port='3478'/></stun>";
  srv.replies["google:jingleinfo|query"] =
      "<query xmlns='google:jingleinfo'><stun><server host='127.0.0.2' udp='3478'/></stun></query>";
  auto d = discover(info({"http://www.xmpp.org/extensions/xep-0215.html#ns", "google:jingleinfo"}), std::ref(srv),
                    opts(), null_trace());
  REQUIRE(d);
  REQUIRE(has_warning(*d, "only legacy"));
  REQUIRE(d->services.size() == 2);
  REQUIRE(d->services[0].service.source == Form::Stun2007);
  REQUIRE(d->services[1].service.source == Form::JingleInfo);
  // provisional <services/> was tried first and refused, then <stun/>, then jingleinfo to the own JID
  REQUIRE(srv.asked.size() == 3);
  REQUIRE(srv.asked[2].attr_or("to") == "alice@example.org");
}

TEST_CASE("asking all forms (--all) queries every advertised form and labels the source", "[extdisco]") {
  FakeServer srv;
  srv.replies["urn:xmpp:extdisco:2|services"] = kV2;
  srv.replies["urn:xmpp:extdisco:1|services"] =
      "<services xmlns='urn:xmpp:extdisco:1'><service type='stun' host='127.0.0.1' port='3478'/></services>";
  auto o = opts();
  o.all = true;
  o.request_credentials = false;
  auto d = discover(info({"urn:xmpp:extdisco:2", "urn:xmpp:extdisco:1"}), std::ref(srv), o, null_trace());
  REQUIRE(d);
  REQUIRE(d->attempts.size() == 2);
  REQUIRE(d->services.size() == 4);
  REQUIRE(d->services[3].service.source == Form::Extdisco1);
}

TEST_CASE("a forced namespace (--ns) picks that form, a refusal is reported", "[extdisco]") {
  FakeServer srv;
  auto o = opts();
  o.force = Form::Extdisco0;
  auto d = discover(info({"urn:xmpp:extdisco:2"}), std::ref(srv), o, null_trace());
  REQUIRE_FALSE(d);
  REQUIRE(d.error().category == Category::Remote);
  REQUIRE_THAT(d.error().message, Catch::Contains("extdisco:0") && Catch::Contains("service-unavailable"));
}

TEST_CASE("nothing offered: not supported", "[extdisco]") {
  FakeServer srv;
  auto d = discover(info({}), std::ref(srv), opts(), null_trace());
  REQUIRE_FALSE(d);
  REQUIRE(d.error().category == Category::NotSupported);
  REQUIRE(srv.asked.size() == 5);
}

TEST_CASE("a timeout is not mistaken for 'unsupported'", "[extdisco]") {
  auto timeout = [](xml::Element) -> Result<xml::Element> { return fail(Category::Timeout, "no reply"); };
  auto d = discover(info({"urn:xmpp:extdisco:2"}), timeout, opts(), null_trace());
  REQUIRE_FALSE(d);
  REQUIRE(d.error().category == Category::Timeout);
}

TEST_CASE("expired TURN REST credentials and clock skew are flagged", "[extdisco]") {
  std::vector<std::string> w;
  Service s;
  s.type = "turn";
  s.host = "127.0.0.1";
  s.port = 3478;
  s.transport = "udp";
  s.username = std::to_string(kNow - 100) + ":alice";
  auto f = check_service(s, kNow, w);
  REQUIRE(f.expired);
  REQUIRE(w.size() == 1);
  REQUIRE_THAT(w[0], Catch::Contains("skewed"));

  w.clear();
  s.username = std::to_string(kNow + 86400) + ":alice";
  s.expires = kNow + 3600;
  f = check_service(s, kNow, w);
  REQUIRE_FALSE(f.expired);
  REQUIRE(w.size() == 1);
  REQUIRE_THAT(w[0], Catch::Contains("clock of the server looks skewed"));

  w.clear();
  s.username = "static-user";
  s.expires = kNow - 7200;
  f = check_service(s, kNow, w);
  REQUIRE(f.expired);
  REQUIRE_THAT(w.at(0), Catch::Contains("expired at"));
}

TEST_CASE("pushes are acknowledged, strangers are refused", "[extdisco][push]") {
  auto iq = xml::parse(
      "<iq xmlns='jabber:client' type='set' id='push7' from='example.org' to='alice@example.org/cli'>"
      "<services xmlns='urn:xmpp:extdisco:2' type='turn'>"
      "<service action='add' type='turn' host='turn2.example.org' port='3478' transport='udp'/>"
      "<service action='delete' type='stun' host='127.0.0.1' port='3478' transport='udp'/>"
      "</services></iq>");
  REQUIRE(iq);
  auto out = handle_push(*iq, {"example.org", "alice@example.org"}, kNow);
  REQUIRE(out.is_push);
  REQUIRE(out.accepted);
  REQUIRE(out.reply.attr_or("type") == "result");
  REQUIRE(out.reply.attr_or("id") == "push7");
  REQUIRE(out.reply.attr_or("to") == "example.org");
  REQUIRE(out.list);

  std::vector<FoundService> current;
  std::vector<std::string> w;
  Service stun;
  stun.type = "stun";
  stun.host = "127.0.0.1";
  stun.port = 3478;
  stun.port_given = true;
  stun.transport = "udp";
  current.push_back(check_service(stun, kNow, w));
  apply_list_push(current, *out.list, kNow, w);
  REQUIRE(current.size() == 1);
  REQUIRE(current[0].service.host == "turn2.example.org");

  iq->set("from", "mallory@evil.example");
  auto bad = handle_push(*iq, {"example.org"}, kNow);
  REQUIRE(bad.is_push);
  REQUIRE_FALSE(bad.accepted);
  REQUIRE(bad.reply.attr_or("type") == "error");
  REQUIRE(bad.reply.child("error")->child("service-unavailable"));

  auto ping = xml::parse("<iq xmlns='jabber:client' type='set' id='p'><ping xmlns='urn:xmpp:ping'/></iq>");
  REQUIRE_FALSE(handle_push(*ping, {"example.org"}, kNow).is_push);
}
