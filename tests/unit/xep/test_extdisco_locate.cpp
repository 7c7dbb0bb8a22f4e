// SPDX-License-Identifier: MIT
// Where the XEP-0215 list is asked: the domain, a --service JID, or a component found among
// the domain's disco#items (bounded, one batch of disco#info requests).
#include <fstream>
#include <map>
#include <sstream>

#include <catch2/catch.hpp>

#include "xep/extdisco_client.hpp"
#include "xml/element.hpp"

using namespace xnet;
using namespace xnet::xep0215;

namespace {

constexpr long long kNow = 1767225600 - 3600;
constexpr std::string_view kInfo = "http://jabber.org/protocol/disco#info";
constexpr std::string_view kItems = "http://jabber.org/protocol/disco#items";

xml::Element fixture(const std::string& name) {
  std::ifstream f(std::string(XNET_TEST_DATA) + "/xep0215/" + name);
  std::stringstream ss;
  ss << f.rdbuf();
  auto e = xml::parse(ss.str());
  REQUIRE(e);
  return *e;
}

xml::Element info_reply(const std::vector<std::string>& features) {
  xml::Element iq("iq", "jabber:client");
  iq.set("type", "result");
  auto& q = iq.add("query", std::string(kInfo));
  for (const auto& f : features) q.add("feature").set("var", f);
  return iq;
}

Result<xml::Element> unavailable() {
  Error e(Category::Remote, "service-unavailable");
  e.stanza = StanzaError{"cancel", "service-unavailable", "", ""};
  return tl::unexpected(e);
}

// A fake network: answers by (to, payload namespace) and records each batch.
struct FakeNet {
  std::map<std::string, xml::Element> replies;  // to + "|" + ns → reply IQ
  std::vector<std::size_t> batches;             // size of each batch
  std::vector<std::string> asked;               // to + "|" + ns, in order

  std::vector<Result<xml::Element>> operator()(std::vector<xml::Element> iqs) {
    batches.push_back(iqs.size());
    std::vector<Result<xml::Element>> out;
    for (const auto& iq : iqs) {
      const auto& p = iq.children.at(0);
      auto key = iq.attr_or("to") + "|" + p.ns;
      asked.push_back(key);
      auto it = replies.find(key);
      if (it == replies.end())
        out.push_back(unavailable());
      else
        out.push_back(it->second);
    }
    return out;
  }
  std::size_t count(const std::string& key) const { return std::count(asked.begin(), asked.end(), key); }
};

DiscoverOptions opts() {
  DiscoverOptions o;
  o.own_bare_jid = "alice@example.org";
  o.now_unix = kNow;
  return o;
}

LocateOptions at(std::string service = {}) {
  LocateOptions l;
  l.domain = "example.org";
  l.service_jid = std::move(service);
  return l;
}

}  // namespace

TEST_CASE("the domain's own list is used when it advertises XEP-0215", "[extdisco][locate]") {
  FakeNet net;
  net.replies["example.org|" + std::string(kInfo)] = info_reply({"urn:xmpp:extdisco:2"});
  net.replies["example.org|urn:xmpp:extdisco:2"] = fixture("extdisco2_services.xml");
  auto o = opts();
  o.request_credentials = false;
  auto d = discover_services(std::ref(net), at(), o, null_trace());
  REQUIRE(d);
  CHECK(d->services.size() == 3);
  CHECK(d->service_jids == std::vector<std::string>{"example.org"});
  CHECK_FALSE(d->via_items);
  CHECK(net.count("example.org|" + std::string(kItems)) == 0);
  CHECK(d->attempts.at(0).jid == "example.org");
}

TEST_CASE("a component among disco#items is found: bounded, one batch, node items skipped", "[extdisco][locate]") {
  FakeNet net;
  net.replies["example.org|" + std::string(kInfo)] = info_reply({"http://jabber.org/protocol/disco#info"});
  net.replies["example.org|" + std::string(kItems)] = fixture("disco_items_components.xml");
  net.replies["stun.example.org|" + std::string(kInfo)] = fixture("disco_info_component.xml");
  net.replies["conference.example.org|" + std::string(kInfo)] = info_reply({"http://jabber.org/protocol/muc"});
  net.replies["stun.example.org|urn:xmpp:extdisco:2"] = fixture("extdisco2_services.xml");
  auto o = opts();
  o.request_credentials = false;

  SECTION("every distinct item is asked, in one batch") {
    auto d = discover_services(std::ref(net), at(), o, null_trace());
    REQUIRE(d);
    CHECK(d->via_items);
    CHECK(d->items_checked == 4);  // conference, proxy, upload, stun (node item and duplicate skipped)
    CHECK(d->service_jids == std::vector<std::string>{"stun.example.org"});
    CHECK(d->services.size() == 3);
    CHECK(d->attempts.at(0).jid == "stun.example.org");
    CHECK(d->attempts.at(0).form == Form::Extdisco2);
    CHECK(d->attempts.at(0).advertised);
    // info(domain), items(domain), one batch of 4 infos, the list request
    REQUIRE(net.batches.size() == 4);
    CHECK(net.batches[2] == 4);
    CHECK(net.count("proxy.example.org|" + std::string(kInfo)) == 1);
    // the domain is not asked the unadvertised legacy forms
    CHECK(net.count("example.org|urn:xmpp:extdisco:2") == 0);
  }
  SECTION("the count is bounded and the limit reported") {
    auto where = at();
    where.max_items = 2;
    auto d = discover_services(std::ref(net), where, o, null_trace());
    REQUIRE_FALSE(d);  // stun.example.org is the 4th item: not asked
    CHECK(d.error().category == Category::NotSupported);
    CHECK(d.error().message.find("none of the 2 services") != std::string::npos);
    CHECK(d.error().hint.find("--service") != std::string::npos);
    CHECK(net.count("stun.example.org|" + std::string(kInfo)) == 0);
    CHECK(net.batches[2] == 2);
  }
  SECTION("pushes are then accepted from the component") {
    auto d = discover_services(std::ref(net), at(), o, null_trace());
    REQUIRE(d);
    auto push = fixture("extdisco2_push.xml");
    push.set("from", "stun.example.org");
    CHECK(handle_push(push, d->service_jids, kNow).accepted);
    push.set("from", "evil.example.org");
    CHECK_FALSE(handle_push(push, d->service_jids, kNow).accepted);
  }
}

TEST_CASE("a named service JID is asked alone the named JID", "[extdisco][locate]") {
  FakeNet net;
  net.replies["stun.example.org|" + std::string(kInfo)] = fixture("disco_info_component.xml");
  net.replies["stun.example.org|urn:xmpp:extdisco:2"] = fixture("extdisco2_services.xml");
  auto o = opts();
  o.request_credentials = false;
  auto d = discover_services(std::ref(net), at("stun.example.org"), o, null_trace());
  REQUIRE(d);
  CHECK(d->service_jids == std::vector<std::string>{"stun.example.org"});
  CHECK_FALSE(d->via_items);
  CHECK(net.count("example.org|" + std::string(kInfo)) == 0);

  SECTION("a JID that does not answer disco#info is an error naming it") {
    FakeNet empty;
    auto e = discover_services(std::ref(empty), at("nothing.example.org"), o, null_trace());
    REQUIRE_FALSE(e);
    CHECK(e.error().message.find("nothing.example.org") != std::string::npos);
  }
}

TEST_CASE("no service anywhere: the domain's legacy chain is still tried", "[extdisco][locate]") {
  FakeNet net;
  net.replies["example.org|" + std::string(kInfo)] = info_reply({});
  net.replies["example.org|" + std::string(kItems)] = fixture("disco_items_components.xml");
  net.replies["example.org|urn:xmpp:extdisco:1"] = xml::Element("iq", "jabber:client");
  net.replies["example.org|urn:xmpp:extdisco:1"].set("type", "result");
  net.replies["example.org|urn:xmpp:extdisco:1"].add("services", "urn:xmpp:extdisco:1").add("service").set("type", "stun").set("host", "127.0.0.1");
  auto d = discover_services(std::ref(net), at(), opts(), null_trace());
  REQUIRE(d);
  CHECK(d->services.size() == 1);
  CHECK(d->service_jids == std::vector<std::string>{"example.org"});
  CHECK(d->items_checked == 4);
}

TEST_CASE("sequential() and single() keep the order of replies", "[extdisco][locate]") {
  std::vector<std::string> seen;
  auto batch = sequential([&](xml::Element iq) -> Result<xml::Element> {
    seen.push_back(iq.attr_or("to"));
    if (iq.attr_or("to") == "b") return unavailable();
    return iq;
  });
  std::vector<xml::Element> iqs;
  for (auto to : {"a", "b", "c"}) iqs.push_back(xep0030::info_request(to));
  auto r = batch(iqs);
  REQUIRE(r.size() == 3);
  CHECK(r[0]);
  CHECK_FALSE(r[1]);
  CHECK(r[2]->attr_or("to") == "c");
  CHECK(seen == std::vector<std::string>{"a", "b", "c"});
  auto one = single(batch)(xep0030::info_request("z"));
  REQUIRE(one);
  CHECK(one->attr_or("to") == "z");
}

TEST_CASE("credentials for several restricted services are asked in one batch", "[extdisco][locate]") {
  FakeNet net;
  net.replies["example.org|" + std::string(kInfo)] = info_reply({"urn:xmpp:extdisco:2"});
  auto list = xml::parse(
      "<iq xmlns='jabber:client' type='result'><services xmlns='urn:xmpp:extdisco:2'>"
      "<service type='turn' host='127.0.0.1' port='3478' transport='udp' restricted='1'/>"
      "<service type='turn' host='127.0.0.1' port='3478' transport='tcp' restricted='1'/>"
      "<service type='stun' host='127.0.0.1' port='3478' transport='udp'/>"
      "</services></iq>");
  REQUIRE(list);
  net.replies["example.org|urn:xmpp:extdisco:2"] = *list;
  auto creds = xml::parse(
      "<iq xmlns='jabber:client' type='result'><credentials xmlns='urn:xmpp:extdisco:2'>"
      "<service type='turn' host='127.0.0.1' port='3478' transport='udp' username='1767225600:alice' password='pw'/>"
      "<service type='turn' host='127.0.0.1' port='3478' transport='tcp' username='1767225600:alice' password='pw2'/>"
      "</credentials></iq>");
  REQUIRE(creds);
  // The fake answers both namespaces' payloads by (to, ns): credentials share extdisco:2's key,
  // so answer every extdisco:2 request after the list with the credentials.
  struct Net2 : FakeNet {
    xml::Element creds;
    std::vector<Result<xml::Element>> operator()(std::vector<xml::Element> iqs) {
      auto out = FakeNet::operator()(iqs);
      for (std::size_t i = 0; i < iqs.size(); ++i)
        if (iqs[i].children.at(0).name == "credentials") out[i] = creds;
      return out;
    }
  } net2;
  net2.replies = net.replies;
  net2.creds = *creds;
  auto d = discover_services(std::ref(net2), at(), opts(), null_trace());
  REQUIRE(d);
  REQUIRE(d->services.size() == 3);
  CHECK(d->services[0].service.password == "pw");
  CHECK(d->services[1].service.password == "pw2");
  CHECK(d->services[0].credentials_requested);
  // info, list, then both credential requests together
  REQUIRE(net2.batches.size() == 3);
  CHECK(net2.batches[2] == 2);
}

TEST_CASE("the items' disco#info batch goes through its own requester when given", "[extdisco][locate]") {
  FakeNet net;
  net.replies["example.org|" + std::string(kInfo)] = info_reply({});
  net.replies["example.org|" + std::string(kItems)] = fixture("disco_items_components.xml");
  net.replies["stun.example.org|urn:xmpp:extdisco:2"] = fixture("extdisco2_services.xml");
  FakeNet items;  // stands for a requester with a shorter deadline
  items.replies["stun.example.org|" + std::string(kInfo)] = fixture("disco_info_component.xml");
  xep0215::BatchRequester item_batch = std::ref(items);
  auto o = opts();
  o.request_credentials = false;
  auto d = discover_services(std::ref(net), at(), o, null_trace(), &item_batch);
  REQUIRE(d);
  CHECK(d->service_jids == std::vector<std::string>{"stun.example.org"});
  REQUIRE(items.batches.size() == 1);
  CHECK(items.batches[0] == 4);
  CHECK(net.count("stun.example.org|" + std::string(kInfo)) == 0);
}
