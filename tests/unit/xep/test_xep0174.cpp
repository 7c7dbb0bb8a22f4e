// SPDX-License-Identifier: MIT
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

#include "xep/xep0174.hpp"
#include "xml/element.hpp"
#include "xml/stream_parser.hpp"

using namespace xnet;
using namespace xnet::xep0174;

namespace {
xml::Element fixture(const std::string& name) {
  std::ifstream in(std::string(XNET_TEST_DATA) + "/linklocal/" + name);
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  auto e = xml::parse(ss.str());
  REQUIRE(e);
  return *e;
}

// Parse a stream header through the real stream parser.
struct Capture : xml::StreamHandler {
  xml::Element root;
  void on_open(const xml::Element& r) override { root = r; }
  void on_stanza(xml::Element) override {}
  void on_close() override {}
};
xml::Element stream_root(const std::string& text) {
  Capture c;
  xml::StreamParser p(c);
  REQUIRE(p.feed(text));
  return c.root;
}
}  // namespace

TEST_CASE("XEP-0174 stream headers of each generation", "[xep0174]") {
  struct Case {
    const char* what;
    std::string xml;
    StreamHeader header;
    Generation gen;
  };
  const std::string open = "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'";
  std::vector<Case> cases = {
      {"2.0", "<?xml version='1.0'?>" + open + " from='romeo@forza' to='juliet@pronto' version='1.0'>",
       {"romeo@forza", "juliet@pronto", "1.0", {}}, Generation::Rfc6120},
      {"libpurple to=''", open + " to='' from='romeo@forza'>", {"romeo@forza", "", {}, {}}, Generation::Addressed},
      {"0.9 / iChat", open + ">", {}, Generation::Legacy},
      {"with id", open + " version='1.0' id='abc'>", {{}, {}, "1.0", "abc"}, Generation::Rfc6120},
  };
  for (const auto& c : cases) {
    SECTION(c.what) {
      auto h = parse_stream_header(stream_root(c.xml));
      REQUIRE(h);
      CHECK(*h == c.header);
      CHECK(generation(*h) == c.gen);
      // Our writer produces a header that parses back to the same attributes.
      auto again = parse_stream_header(stream_root(open_stream(c.header)));
      REQUIRE(again);
      CHECK(*again == c.header);
    }
  }
  SECTION("a non-stream root or another default namespace is refused") {
    CHECK_FALSE(parse_stream_header(xml::Element("html", "http://www.w3.org/1999/xhtml")));
    auto r = stream_root("<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'>");
    CHECK_FALSE(parse_stream_header(r));
  }
  CHECK(generation_name(Generation::Legacy) == "legacy");
  CHECK(close_stream() == "</stream:stream>");
}

TEST_CASE("the responder's answer header", "[xep0174]") {
  StreamHeader full{"romeo@forza", "juliet@pronto", "1.0", {}};
  auto a = answer_header(full, "juliet@pronto");
  CHECK(a == StreamHeader{"juliet@pronto", "romeo@forza", "1.0", {}});
  CHECK(features_expected(a, full));

  StreamHeader purple{"romeo@forza", "", {}, {}};
  auto b = answer_header(purple, "juliet@pronto");
  CHECK(b == StreamHeader{"juliet@pronto", "romeo@forza", {}, {}});
  CHECK_FALSE(features_expected(b, purple));

  StreamHeader legacy{};
  auto c = answer_header(legacy, "juliet@pronto");
  CHECK_FALSE(c.to);
  CHECK_FALSE(c.version);
  CHECK_FALSE(features_expected(StreamHeader{{}, {}, "0.9", {}}, full));
  CHECK(features_expected(StreamHeader{{}, {}, "1.1", {}}, full));
  // Attribute values are escaped.
  CHECK(open_stream(StreamHeader{"a'b@x", {}, {}, {}}).find("from='a&apos;b@x'") != std::string::npos);
}

TEST_CASE("caps and features", "[xep0174][caps]") {
  // The XEP-0115 simple example, as quoted by XEP-0174.
  Identity exodus{"client", "pc", "Exodus 0.9.1"};
  CHECK(caps_ver(exodus, {"http://jabber.org/protocol/muc", "http://jabber.org/protocol/caps",
                          "http://jabber.org/protocol/disco#info", "http://jabber.org/protocol/disco#items"}) ==
        "QgayPKawpkPSDYmwT/WM94uAlu0=");
  auto f = stream_features(Identity{});
  REQUIRE(f.rfind("<stream:features>", 0) == 0);
  // On the wire the prefix is declared by the stream header; declare it for a standalone parse.
  f.replace(0, 17, "<stream:features xmlns:stream='http://etherx.jabber.org/streams'>");
  auto e = xml::parse(f);
  REQUIRE(e);
  CHECK(e->name == "features");
  const auto* q = e->child("query", kDiscoInfoNs);
  REQUIRE(q);
  CHECK(q->attr_or("node").find(std::string(kCapsNode) + "#") == 0);
  CHECK(q->children_named("feature").size() == local_features().size());
}

TEST_CASE("messages", "[xep0174][message]") {
  SECTION("Pidgin: XHTML-IM and events are tolerated") {
    auto m = parse_message(fixture("message-pidgin.xml"));
    REQUIRE(m);
    CHECK(m->body == "Hello from Pidgin");
    CHECK(m->has_xhtml);
    CHECK(m->type == "chat");
    CHECK(m->id == "purple1");
  }
  SECTION("iChat: missing type and id") {
    auto m = parse_message(fixture("message-ichat.xml"));
    REQUIRE(m);
    CHECK(m->type == "normal");
    CHECK(m->id.empty());
    CHECK(m->from.empty());
  }
  SECTION("subject, thread, delay; build and parse round-trip") {
    auto m = parse_message(fixture("message-delay.xml"));
    REQUIRE(m);
    CHECK(m->subject == "Balcony");
    CHECK(m->thread == "th-1");
    CHECK(m->stamp == "2008-11-26T12:00:00Z");
    auto again = parse_message(*xml::parse(build_message(*m).str()));
    REQUIRE(again);
    CHECK(*again == *m);
  }
  SECTION("unicode and markup characters survive") {
    Message m;
    m.from = "r\xC3\xB6meo@forza";
    m.body = "<&>'\" \xF0\x9F\x98\x80";
    auto again = parse_message(*xml::parse(build_message(m).str()));
    REQUIRE(again);
    CHECK(again->body == m.body);
    CHECK(again->from == m.from);
  }
  CHECK_FALSE(parse_message(xml::Element("iq", std::string(kClientNs))));
}

TEST_CASE("IQ answers", "[xep0174][iq]") {
  Identity id;
  SECTION("disco#info") {
    auto r = answer_iq(fixture("iq-disco.xml"), id, "juliet@pronto");
    REQUIRE(r);
    CHECK(r->attr_or("type") == "result");
    CHECK(r->attr_or("id") == "d1");
    CHECK(r->attr_or("to") == "romeo@forza");
    CHECK(r->attr_or("from") == "juliet@pronto");
    const auto* q = r->child("query", kDiscoInfoNs);
    REQUIRE(q);
    CHECK(q->child("identity")->attr_or("category") == "client");
    bool ping = false;
    for (const auto* f : q->children_named("feature")) ping = ping || f->attr_or("var") == kPingNs;
    CHECK(ping);
  }
  SECTION("ping") {
    auto r = answer_iq(fixture("iq-ping.xml"), id, "juliet@pronto");
    REQUIRE(r);
    CHECK(r->attr_or("type") == "result");
    CHECK(r->children.empty());
  }
  SECTION("anything else: service-unavailable") {
    auto r = answer_iq(fixture("iq-version.xml"), id, "juliet@pronto");
    REQUIRE(r);
    CHECK(r->attr_or("type") == "error");
    const auto* err = r->child("error");
    REQUIRE(err);
    CHECK(err->attr_or("type") == "cancel");
    CHECK(err->child("service-unavailable", kStanzaErrorNs));
  }
  SECTION("results, errors and non-IQs get nothing") {
    xml::Element res("iq", std::string(kClientNs));
    res.set("type", "result");
    CHECK_FALSE(answer_iq(res, id, "x"));
    res.set("type", "error");
    CHECK_FALSE(answer_iq(res, id, "x"));
    CHECK_FALSE(answer_iq(xml::Element("message", std::string(kClientNs)), id, "x"));
  }
}

TEST_CASE("stream errors", "[xep0174]") {
  auto s = stream_error("policy-violation", "too <big>");
  CHECK(s == "<stream:error><policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
             "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>too &lt;big&gt;</text></stream:error>");
  xml::Element e("error", std::string(kStreamNs));
  CHECK(stream_error_condition(e) == "undefined-condition");
  e.add("text", std::string(kStreamErrorNs));
  e.add("conflict", std::string(kStreamErrorNs));
  CHECK(stream_error_condition(e) == "conflict");
}
