// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include "mdns/ll_stream.hpp"
#include "xml/element.hpp"

using namespace xnet;
using namespace xnet::mdns;
using SK = StreamEvent::Kind;

namespace {
StreamConfig responder() {
  StreamConfig c;
  c.local_name = "juliet@pronto";
  return c;
}
const std::string kOpen =
    "<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'";
}  // namespace

TEST_CASE("the responder answers each header generation", "[mdns][stream]") {
  struct Case {
    const char* what;
    std::string header;
    bool features;
    const char* to;  // expected to= in our answer, or nullptr
  };
  std::vector<Case> cases = {
      {"RFC 6120 style with from/to/version", "<?xml version='1.0'?>" + kOpen + " from='romeo@forza' to='juliet@pronto' version='1.0'>", true, "romeo@forza"},
      {"libpurple: no version, to=''", "<?xml version='1.0' encoding='UTF-8' ?>" + kOpen + " to='' from='romeo@forza'>", false, "romeo@forza"},
      {"0.9 / iChat: nothing, no XML declaration", kOpen + ">", false, nullptr},
      {"version without from", kOpen + " version='1.0'>", true, nullptr},
  };
  for (const auto& c : cases) {
    SECTION(c.what) {
      LinkLocalStream s(responder());
      s.feed(c.header);
      auto out = s.take_output();
      CHECK(out.find("from='juliet@pronto'") != std::string::npos);
      auto tag = out.substr(out.find("<stream:stream"));  // skip the XML declaration
      CHECK((tag.find("version='1.0'") != std::string::npos) == c.features);
      CHECK((out.find("<stream:features>") != std::string::npos) == c.features);
      if (c.to)
        CHECK(out.find(std::string("to='") + c.to + "'") != std::string::npos);
      else
        CHECK(out.find(" to=") == std::string::npos);
      auto ev = s.take_events();
      REQUIRE(ev.size() == 1);
      CHECK(ev[0].kind == SK::Opened);
      CHECK(s.opened());
    }
  }
}

TEST_CASE("the responder delivers messages, answers IQs and closes properly", "[mdns][stream]") {
  LinkLocalStream s(responder());
  s.feed(kOpen + " from='romeo@forza' version='1.0'>");
  s.take_output();
  s.take_events();
  // Split across chunks on purpose.
  s.feed("<message type='chat' id='1'><body>Hi &amp; ");
  s.feed("bye \xE2\x98\x83</body><thread>t</thread></message>");
  auto ev = s.take_events();
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == SK::Message);
  CHECK(ev[0].message.body == "Hi & bye \xE2\x98\x83");
  CHECK(ev[0].message.from == "romeo@forza");  // defaulted from the stream header
  CHECK(ev[0].message.thread == "t");

  s.feed("<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>");
  auto out = s.take_output();
  auto reply = xml::parse(out);
  REQUIRE(reply);
  CHECK(reply->attr_or("type") == "result");
  CHECK(reply->attr_or("id") == "p");

  s.feed("<iq type='set' id='x'><foo xmlns='urn:other'/></iq>");
  CHECK(s.take_output().find("service-unavailable") != std::string::npos);
  s.feed("<iq type='result' id='r'/>");
  CHECK(s.take_output().empty());  // no reply to results

  s.feed("<presence/>");  // ignored: presence lives in TXT
  CHECK(s.take_output().empty());

  s.feed("</stream:stream>");
  CHECK(s.take_output() == "</stream:stream>");
  CHECK(s.peer_closed());
  CHECK(s.finished());
  auto last = s.take_events();
  CHECK(last.back().kind == SK::Closed);
}

TEST_CASE("stream failures end in a stream error", "[mdns][stream]") {
  struct Case {
    const char* what;
    std::string input;
    const char* condition;
  };
  std::vector<Case> cases = {
      {"not XML", "hello there\n", "not-well-formed"},
      {"a DTD", "<?xml version='1.0'?><!DOCTYPE s [<!ENTITY x 'y'>]><s/>", "restricted-xml"},
      {"wrong root", "<html xmlns='http://www.w3.org/1999/xhtml'>", "invalid-namespace"},
      {"wrong stream namespace", "<stream:stream xmlns='jabber:server' xmlns:stream='http://etherx.jabber.org/streams'>", "invalid-namespace"},
      {"over-size stanza", kOpen + "><message><body>" + std::string(70000, 'a') + "</body></message>", "policy-violation"},
  };
  for (const auto& c : cases) {
    SECTION(c.what) {
      LinkLocalStream s(responder());
      s.feed(c.input);
      auto out = s.take_output();
      CHECK(out.find("<stream:stream") != std::string::npos);  // a header always precedes the error
      CHECK(out.find(std::string("<") + c.condition) != std::string::npos);
      CHECK(out.find("</stream:stream>") != std::string::npos);
      CHECK(s.failed());
      auto ev = s.take_events();
      REQUIRE_FALSE(ev.empty());
      CHECK(ev.back().kind == SK::Error);
      s.feed("<more/>");  // ignored after failure, no crash
      CHECK(s.take_output().empty());
    }
  }
  SECTION("too many stanzas") {
    StreamConfig c = responder();
    c.max_stanzas = 3;
    LinkLocalStream s(c);
    s.feed(kOpen + ">");
    for (int i = 0; i < 5; ++i) s.feed("<message><body>x</body></message>");
    CHECK(s.failed());
    CHECK(s.take_output().find("policy-violation") != std::string::npos);
  }
}

TEST_CASE("the initiator side", "[mdns][stream]") {
  StreamConfig c;
  c.initiator = true;
  c.local_name = "romeo@forza";
  c.peer_name = "juliet@pronto";
  SECTION("opens, sends after the peer's header, waits for the peer's close") {
    LinkLocalStream s(c);
    s.start();
    auto hdr = s.take_output();
    CHECK(hdr.find("from='romeo@forza' to='juliet@pronto' version='1.0'") != std::string::npos);
    s.feed(kOpen + " from='juliet@pronto' version='1.0'><stream:features/>");
    REQUIRE(s.opened());
    xep0174::Message m;
    m.from = "romeo@forza";
    m.to = "juliet@pronto";
    m.body = "a<b";
    s.send(m);
    s.close();
    auto out = s.take_output();
    CHECK(out.find("<body>a&lt;b</body>") != std::string::npos);
    CHECK(out.find("</stream:stream>") != std::string::npos);
    CHECK(s.we_closed());
    CHECK_FALSE(s.finished());
    // A stanza may still arrive after our close (XEP-0174 §4.2): it is delivered.
    s.feed("<message from='juliet@pronto'><body>late</body></message></stream:stream>");
    auto ev = s.take_events();
    REQUIRE(ev.size() >= 2);
    CHECK(ev[ev.size() - 2].message.body == "late");
    CHECK(s.finished());
    CHECK(s.take_output().empty());  // already closed: no second close tag
  }
  SECTION("Pidgin-style: no version") {
    c.send_version = false;
    LinkLocalStream s(c);
    s.start();
    auto out = s.take_output();
    CHECK(out.substr(out.find("<stream:stream")).find("version") == std::string::npos);
  }
  SECTION("a peer requiring STARTTLS fails clearly") {
    LinkLocalStream s(c);
    s.start();
    s.take_output();
    s.feed(kOpen + " version='1.0'><stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>");
    CHECK(s.failed());
    auto ev = s.take_events();
    CHECK(ev.back().text.find("STARTTLS") != std::string::npos);
  }
  SECTION("a stream error from the peer") {
    LinkLocalStream s(c);
    s.start();
    s.feed(kOpen + "><stream:error><host-unknown xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>");
    CHECK(s.failed());
    CHECK(s.take_events().back().text.find("host-unknown") != std::string::npos);
  }
  SECTION("EOF without a close") {
    LinkLocalStream s(c);
    s.start();
    s.peer_eof();
    CHECK(s.failed());
  }
}
