// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include "xml/element.hpp"
#include "xml/stream_parser.hpp"

using namespace xnet;

namespace {
struct Collector final : xml::StreamHandler {
  std::vector<xml::Element> stanzas;
  std::optional<xml::Element> root;
  bool closed = false;
  void on_open(const xml::Element& r) override { root = r; }
  void on_stanza(xml::Element s) override { stanzas.push_back(std::move(s)); }
  void on_close() override { closed = true; }
};
constexpr std::string_view kHeader =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams' to='example.org' version='1.0'>";
}  // namespace

TEST_CASE("parse resolves namespaces and keeps attributes", "[xml]") {
  auto r = xml::parse(
      "<iq type='result' id='a1' xmlns='jabber:client'><address xmlns='urn:xmpp:sic:1'>"
      "<ip>192.0.2.1</ip><port>5222</port></address></iq>");
  REQUIRE(r);
  CHECK(r->name == "iq");
  CHECK(r->ns == "jabber:client");
  CHECK(r->attr_or("id") == "a1");
  const auto* a = r->child("address", "urn:xmpp:sic:1");
  REQUIRE(a);
  CHECK(a->child("ip")->text == "192.0.2.1");
  CHECK(a->child("ip")->ns == "urn:xmpp:sic:1");
  CHECK(r->child("address", "urn:xmpp:sic:0") == nullptr);
}

TEST_CASE("serialize then parse round-trips, escaping included", "[xml]") {
  xml::Element iq("iq", "jabber:client");
  iq.set("type", "get").set("to", "a'b\"<c>&");
  iq.add("query", "urn:xmpp:ping").set_text("x < y & z");
  auto s = iq.str();
  CHECK(s == "<iq xmlns='jabber:client' type='get' to='a&apos;b&quot;&lt;c&gt;&amp;'>"
             "<query xmlns='urn:xmpp:ping'>x &lt; y &amp; z</query></iq>");
  auto back = xml::parse(s);
  REQUIRE(back);
  CHECK(back->attr_or("to") == "a'b\"<c>&");
  CHECK(back->child("query")->text == "x < y & z");
  CHECK(back->str() == s);
}

TEST_CASE("parse refuses DTDs, entities, PIs and bad prefixes", "[xml][security]") {
  struct Case {
    std::string doc;
    std::string what;
  };
  auto c = GENERATE(values<Case>({
      {"<!DOCTYPE x [<!ENTITY a 'aaaa'>]><x>&a;</x>", "DTD"},
      {"<x>&undefined;</x>", "undefined entity"},
      {"<x><?php evil?></x>", "PI"},
      {"<x><!-- c --></x>", "comment"},
      {"<p:x/>", "undeclared prefix"},
      {"<x y='1' y='2'/>", "duplicate attribute"},
      {"<x>", "unclosed"},
      {"<x></y>", "mismatched"},
      {"", "empty"},
  }));
  INFO(c.what);
  auto r = xml::parse(c.doc);
  REQUIRE_FALSE(r);
  CHECK(r.error().category == Category::Protocol);
}

TEST_CASE("billion laughs is refused before any expansion", "[xml][security]") {
  std::string doc = "<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'>";
  for (int i = 1; i < 10; ++i)
    doc += "<!ENTITY lol" + std::to_string(i) + " '&lol" + (i > 1 ? std::to_string(i - 1) : "") + ";&lol" +
           (i > 1 ? std::to_string(i - 1) : "") + ";'>";
  doc += "]><lolz>&lol9;</lolz>";
  auto r = xml::parse(doc);
  REQUIRE_FALSE(r);
}

TEST_CASE("stream parser handles split reads and pipelined stanzas", "[xml][stream]") {
  Collector c;
  xml::StreamParser p(c);
  std::string data = std::string(kHeader) +
                     "<iq type='get' id='1'><ping xmlns='urn:xmpp:ping'/></iq> \n"
                     "<message to='a@b'><body>h\xC3\xA9llo</body></message>"
                     "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:features>"
                     "</stream:stream>";
  SECTION("byte by byte") {
    for (char ch : data) REQUIRE(p.feed(std::string_view(&ch, 1)));
  }
  SECTION("all at once") { REQUIRE(p.feed(data)); }
  REQUIRE(c.root);
  CHECK(c.root->name == "stream");
  CHECK(c.root->ns == "http://etherx.jabber.org/streams");
  CHECK(c.root->attr_or("xmlns") == "jabber:client");
  CHECK(c.root->attr_or("to") == "example.org");
  REQUIRE(c.stanzas.size() == 3);
  CHECK(c.stanzas[0].name == "iq");
  CHECK(c.stanzas[0].ns == "jabber:client");
  CHECK(c.stanzas[0].child("ping", "urn:xmpp:ping"));
  CHECK(c.stanzas[1].child("body")->text == "h\xC3\xA9llo");
  CHECK(c.stanzas[2].name == "features");
  CHECK(c.stanzas[2].ns == "http://etherx.jabber.org/streams");
  CHECK(c.closed);
}

TEST_CASE("stream parser enforces the stanza size limit", "[xml][stream][security]") {
  Collector c;
  xml::StreamParser p(c, {.max_stanza_bytes = 1000});
  REQUIRE(p.feed(kHeader));
  REQUIRE(p.feed("<message><body>" + std::string(500, 'a') + "</body></message>"));
  CHECK(c.stanzas.size() == 1);
  SECTION("long text") {
    auto r = p.feed("<message><body>" + std::string(5000, 'a'));
    REQUIRE_FALSE(r);
    CHECK(p.error_condition() == "policy-violation");
  }
  SECTION("huge start tag fed in pieces") {
    REQUIRE(p.feed("<message to='"));
    bool failed = false;
    for (int i = 0; i < 20 && !failed; ++i) failed = !p.feed(std::string(200, 'b'));
    CHECK(failed);
    CHECK(p.error_condition() == "policy-violation");
  }
}

TEST_CASE("stream parser refuses entities and text at stream level, reset restarts", "[xml][stream]") {
  Collector c;
  xml::StreamParser p(c);
  REQUIRE(p.feed(kHeader));
  SECTION("entity reference") {
    REQUIRE_FALSE(p.feed("<message><body>&xxe;</body></message>"));
    CHECK(p.error_condition() == "restricted-xml");
  }
  SECTION("text between stanzas") {
    REQUIRE_FALSE(p.feed("garbage"));
    CHECK(p.error_condition() == "not-well-formed");
  }
  SECTION("restart") {
    p.reset();
    c.root.reset();
    REQUIRE(p.feed(kHeader));
    CHECK(c.root);
  }
}

TEST_CASE("a dormant stream parser wakes up in the same stream", "[xml][stream][memory]") {
  Collector c;
  xml::StreamParser p(c, {.max_stanza_bytes = 1000});
  std::string header = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
                       "xmlns:x='urn:example:x' to='example.org' version='1.0'>";
  REQUIRE(p.feed(header));
  SECTION("not at rest inside a stanza") {
    REQUIRE(p.feed("<message><body>half"));
    CHECK_FALSE(p.hibernate());
    REQUIRE(p.feed("</body></message>"));
    REQUIRE(c.stanzas.size() == 1);
    CHECK(c.stanzas[0].child("body")->text == "half");
  }
  SECTION("namespaces, limits and the stream end survive sleeping") {
    REQUIRE(p.hibernate());
    CHECK(p.hibernate());  // already dormant
    CHECK(p.open());
    CHECK(p.at_rest());
    CHECK(p.error_condition().empty());
    REQUIRE(p.feed("<x:ping id='1'/><iq type='get'/>"));
    REQUIRE(c.stanzas.size() == 2);
    CHECK(c.stanzas[0].name == "ping");
    CHECK(c.stanzas[0].ns == "urn:example:x");
    CHECK(c.stanzas[1].ns == "jabber:client");
    CHECK(c.root->attr_or("to") == "example.org");  // on_open ran once, not again on waking
    REQUIRE(p.hibernate());
    REQUIRE_FALSE(p.feed("<message><body>" + std::string(2000, 'a') + "</body></message>"));
    CHECK(p.error_condition() == "policy-violation");
  }
  SECTION("two streams with the same root sleep and wake independently") {
    Collector c2;
    xml::StreamParser q(c2);
    REQUIRE(q.feed(header));
    REQUIRE(p.hibernate());
    REQUIRE(q.hibernate());
    REQUIRE(q.feed("<x:a/>"));
    REQUIRE(q.hibernate());
    REQUIRE(p.feed("<x:b/></stream:stream>"));
    CHECK(c.closed);
    CHECK_FALSE(c2.closed);
    REQUIRE(c2.stanzas.size() == 1);
    CHECK(c2.stanzas[0].name == "a");
    REQUIRE(c.stanzas.size() == 1);
    CHECK(c.stanzas[0].name == "b");
  }
  SECTION("a reset after sleeping starts a new stream") {
    REQUIRE(p.hibernate());
    p.reset();
    c.root.reset();
    CHECK_FALSE(p.open());
    REQUIRE(p.feed(std::string(kHeader)));
    REQUIRE(c.root);
    REQUIRE(p.feed("<iq/>"));
    CHECK(c.stanzas.back().ns == "jabber:client");
    REQUIRE_FALSE(p.feed("<x:ping/>"));  // the old stream's prefix is gone
    CHECK(p.error_condition() == "invalid-namespace");
  }
}
