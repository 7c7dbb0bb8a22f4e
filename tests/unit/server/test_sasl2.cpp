// SPDX-License-Identifier: MIT
// XEP-0388 SASL2 with XEP-0386 Bind 2 on the server: the codec against the XEPs' own examples
// (tests/data/sasl2/), and the c2s session fed whole client flights through a fake transport.
#include <catch2/catch.hpp>

#include <fstream>
#include <functional>
#include <sstream>

#include "server/crypto.hpp"
#include "server/hub.hpp"
#include "server/sasl2.hpp"
#include "server/stanza.hpp"
#include "support/fake_transport.hpp"
#include "xmpp/sasl.hpp"

using namespace xnet::server;
using xnet::test::FakeTransport;
using xnet::test::kHeader;
using xnet::test::RecordingTrace;
using Catch::Contains;

namespace {

xnet::xml::Element fixture(const std::string& name) {
  std::ifstream in(std::string(XNET_TEST_DATA) + "/sasl2/" + name);
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  auto e = xnet::xml::parse(ss.str());
  REQUIRE(e);
  return *e;
}

struct World {
  NullEventLog log;
  RecordingTrace trace;
  Hub hub;
  explicit World(HubOptions o = defaults()) : hub(std::move(o), accounts(), log, trace) {}
  static HubOptions defaults() {
    HubOptions o;
    o.allow_anonymous = false;
    o.server_secret = "0123456789abcdef0123456789abcdef";
    o.limits.max_stanza_bytes = 8192;
    return o;
  }
  static Accounts accounts() {
    Accounts a;
    (void)a.set("alice", "pencil", 64);
    return a;
  }
};

struct Client {
  FakeTransport t;
  C2sSession s;
  explicit Client(Hub& hub, bool tls = true, std::string ip = "203.0.113.7")
      : s(hub, t, Endpoint{std::move(ip), 40000}, tls) {}
  std::string feed(const std::string& data) {
    s.on_data(data);
    return t.take();
  }
};

std::string b64(std::string_view s) { return crypto::base64(s); }

std::string plain_authenticate(const std::string& password, const std::string& extra = {}) {
  return "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>" +
         b64(std::string("\0alice\0", 7) + password) + "</initial-response>" + extra + "</authenticate>";
}

const std::string kBindTag = "<bind xmlns='urn:xmpp:bind:0'><tag>xnet</tag></bind>";
const std::string kAgent = "<user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'><software>xnet</software></user-agent>";

// The decoded payload of the SASL2 element `<name xmlns='urn:xmpp:sasl:2'>` (or of
// <additional-data>) in out; nullopt when absent.
std::optional<std::string> payload(const std::string& out, const std::string& name) {
  std::string open = name == "additional-data" ? "<additional-data>" : "<" + name + " xmlns='urn:xmpp:sasl:2'>";
  auto a = out.find(open);
  if (a == std::string::npos) return std::nullopt;
  a += open.size();
  auto b = out.find("</" + name + ">", a);
  if (b == std::string::npos) return std::nullopt;
  return crypto::unbase64(out.substr(a, b - a));
}

}  // namespace

// --- the codec, with the XEPs' examples -------------------------------------------------

TEST_CASE("XEP-0388 examples: authenticate requests parse", "[sasl2][codec]") {
  auto a = parse_sasl2_authenticate(fixture("xep0388-authenticate-plus.xml"));
  REQUIRE(a);
  CHECK(a->mechanism == "SCRAM-SHA-1-PLUS");
  CHECK(a->initial_response == "p=tls-exporter,,n=user,r=12C4CD5C-E38E-4A98-8F6D-15C38F51CCC6");
  CHECK_FALSE(a->bind);
  CHECK_FALSE(a->fast);

  // Wrapped base64; a bind in another namespace is not Bind 2.
  auto b = parse_sasl2_authenticate(fixture("xep0388-authenticate-bind.xml"));
  REQUIRE(b);
  CHECK(b->mechanism == "BLURDYBLOOP");
  CHECK(b->initial_response == "I should make this a competition");
  CHECK_FALSE(b->bind);

  auto p = parse_sasl2_authenticate(fixture("xep0388-plain.xml"));
  REQUIRE(p);
  CHECK(p->initial_response == std::string("\0alice@example.org\n345", 22));

  auto r = parse_sasl2_response(fixture("xep0388-response.xml"));
  REQUIRE(r);
  CHECK(r->starts_with("c=cD10bHMtZXhwb3J0ZXIsLMcoQvOdBDePd4OswlmAWV3dg1a1Wh1tYPTBwVid10VU,r=12C4CD5C-"));
  CHECK(r->ends_with(",p=UApo7xo6Pa9J+Vaejfz/dG7BomU="));
}

TEST_CASE("XEP-0386 and XEP-0484 examples: bind tag, token request, FAST login, invalidation", "[sasl2][codec]") {
  auto b = parse_sasl2_authenticate(fixture("xep0386-bind.xml"));
  REQUIRE(b);
  CHECK(b->bind);
  CHECK(b->bind_tag == "AwesomeXMPP");
  CHECK(b->initial_response == "n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");

  auto rt = parse_sasl2_authenticate(fixture("xep0484-request-token.xml"));
  REQUIRE(rt);
  CHECK(rt->request_token == "HT-SHA-256-ENDP");
  CHECK_FALSE(rt->fast);

  auto f = parse_sasl2_authenticate(fixture("xep0484-fast-auth.xml"));
  REQUIRE(f);
  CHECK(f->fast);
  CHECK(f->fast_count == 123u);
  CHECK_FALSE(f->fast_invalidate);
  CHECK(f->initial_response == std::string("user\0hmac", 9));

  auto inv = parse_sasl2_authenticate(fixture("xep0484-invalidate.xml"));
  REQUIRE(inv);
  CHECK(inv->fast_invalidate);
  CHECK_FALSE(inv->bind);
}

TEST_CASE("success and failure have the shape of the XEP-0388 and XEP-0484 examples", "[sasl2][codec]") {
  auto ex = fixture("xep0388-success.xml");
  auto ours = *xnet::xml::parse(sasl2_success("v=msVHs/BzIOHDqXeVH7EmmDu9id8=", "user@example.org", false, {}).str());
  for (const auto* e : {&ex, &ours}) {
    CHECK(e->name == "success");
    CHECK(e->ns == "urn:xmpp:sasl:2");
    REQUIRE(e->child("additional-data", kSasl2Ns));
    std::string text;
    for (char c : e->child("additional-data", kSasl2Ns)->text)
      if (!std::isspace(static_cast<unsigned char>(c))) text.push_back(c);
    CHECK(crypto::unbase64(text) == "v=msVHs/BzIOHDqXeVH7EmmDu9id8=");
    REQUIRE(e->child("authorization-identifier", kSasl2Ns));
    CHECK(e->child("authorization-identifier", kSasl2Ns)->text == "user@example.org");
  }

  auto tok = fixture("xep0484-token.xml");
  auto ours2 = *xnet::xml::parse(
      sasl2_success("", "user@example.com/AwesomeXMPP.4232f4d4", true,
                    IssuedToken{"WXZzciBwYmFmdmZnZiBqdmd1IGp2eXFhcmZm", "2020-03-12T14:36:15Z"})
          .str());
  for (const auto* e : {&tok, &ours2}) {
    CHECK(e->child("bound", kBind2Ns));
    const auto* t = e->child("token", kFastNs);
    REQUIRE(t);
    CHECK(t->attr_or("token") == "WXZzciBwYmFmdmZnZiBqdmd1IGp2eXFhcmZm");
    CHECK(t->attr_or("expiry") == "2020-03-12T14:36:15Z");
  }
  CHECK_FALSE(ours2.child("additional-data", kSasl2Ns));

  auto fx = fixture("xep0388-failure.xml");
  auto f = *xnet::xml::parse(sasl2_failure("aborted", "This is a terrible example.").str());
  for (const auto* e : {&fx, &f}) {
    CHECK(e->name == "failure");
    CHECK(e->child("aborted", "urn:ietf:params:xml:ns:xmpp-sasl"));
    REQUIRE(e->child("text", kSasl2Ns));
    CHECK(e->child("text", kSasl2Ns)->text == "This is a terrible example.");
  }
}

TEST_CASE("authenticate parsing refuses bad input with the right condition", "[sasl2][codec]") {
  struct Case {
    std::string xml, condition;
  } cases[] = {
      {"<authenticate xmlns='urn:xmpp:sasl:2'/>", "invalid-mechanism"},
      {"<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>!!</initial-response></authenticate>",
       "incorrect-encoding"},
      {"<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>AA==</initial-response>"
       "<initial-response>AA==</initial-response></authenticate>",
       "malformed-request"},
      {"<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><fast xmlns='urn:xmpp:fast:0' count='-1'/>"
       "</authenticate>",
       "malformed-request"},
      {"<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><user-agent id='" + std::string(200, 'x') +
           "'/></authenticate>",
       "malformed-request"},
      {"<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'/>", "malformed-request"},
  };
  for (const auto& c : cases) {
    INFO(c.xml);
    auto e = xnet::xml::parse(c.xml);
    REQUIRE(e);
    auto a = parse_sasl2_authenticate(*e);
    REQUIRE_FALSE(a);
    CHECK(sasl_condition(a.error()) == c.condition);
  }
  // An empty <initial-response/> is an empty response, not an absent one (XEP-0388 §2.2).
  auto e = parse_sasl2_authenticate(
      *xnet::xml::parse("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='ANONYMOUS'><initial-response/></authenticate>"));
  REQUIRE(e);
  CHECK(e->initial_response == std::string());
}

TEST_CASE("Bind 2 tags are made resource-safe and resources are stable per tag and user agent", "[sasl2][codec]") {
  auto tag_of = [](const std::string& t) {
    auto a = parse_sasl2_authenticate(*xnet::xml::parse(
        "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><bind xmlns='urn:xmpp:bind:0'><tag>" + t +
        "</tag></bind></authenticate>"));
    REQUIRE(a);
    return a->bind_tag;
  };
  CHECK(tag_of("  xnet  ") == "xnet");
  CHECK(tag_of("my client/2") == "my-client-2");
  CHECK(tag_of(std::string(100, 'a')).size() == kMaxBindTag);
  // 47 ASCII bytes then a 3-byte character: the cut falls inside it, which is dropped whole.
  CHECK(tag_of(std::string(47, 'a') + "\xe2\x82\xac") == std::string(47, 'a'));

  auto r1 = bind2_resource("secret", "alice", "xnet", "ua-1");
  CHECK(r1.starts_with("xnet/"));
  CHECK(r1.size() == 15);
  CHECK(r1 == bind2_resource("secret", "alice", "xnet", "ua-1"));
  CHECK(r1 != bind2_resource("secret", "alice", "xnet", "ua-2"));
  CHECK(r1 != bind2_resource("secret", "bob", "xnet", "ua-1"));
  CHECK(r1 != bind2_resource("other", "alice", "xnet", "ua-1"));
  CHECK(r1.find("ua-1") == std::string::npos);
  CHECK(bind2_resource("secret", "alice", "", "").size() == 10);
}

// --- the session ------------------------------------------------------------------------

TEST_CASE("SASL2 is offered with Bind 2 inline next to SASL1, and only over TLS when TLS is required",
          "[sasl2][session]") {
  World w;
  Client plain(w.hub, false);
  auto out = plain.feed(kHeader);
  CHECK_THAT(out, !Contains("urn:xmpp:sasl:2"));

  Client c(w.hub);
  out = c.feed(kHeader);
  CHECK_THAT(out, Contains("<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>"));
  CHECK_THAT(out, Contains("<authentication xmlns='urn:xmpp:sasl:2'><mechanism>SCRAM-SHA-256</mechanism>"
                           "<mechanism>SCRAM-SHA-1</mechanism><mechanism>PLAIN</mechanism>"
                           "<inline><bind xmlns='urn:xmpp:bind:0'/></inline></authentication>"));
  CHECK_THAT(out, !Contains("sasl-channel-binding"));

  // TLS 1.3 with tls-exporter: -PLUS first, and XEP-0440 says which binding.
  Client p(w.hub);
  p.t.exporter = std::string(32, '\x42');
  out = p.feed(kHeader);
  CHECK_THAT(out, Contains("<authentication xmlns='urn:xmpp:sasl:2'><mechanism>SCRAM-SHA-256-PLUS</mechanism>"
                           "<mechanism>SCRAM-SHA-1-PLUS</mechanism><mechanism>SCRAM-SHA-256</mechanism>"));
  CHECK_THAT(out, Contains("<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'>"
                           "<channel-binding type='tls-exporter'/></sasl-channel-binding>"));
  // SASL1 keeps its list: older clients may try tls-unique, which TLS 1.3 lacks.
  CHECK_THAT(out, Contains("<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>SCRAM-SHA-256</mechanism>"));

  HubOptions o = World::defaults();
  o.allow_anonymous = true;
  o.allow_plain = false;
  World w2(o);
  Client a(w2.hub);
  out = a.feed(kHeader);
  CHECK_THAT(out, Contains("<mechanism>SCRAM-SHA-1</mechanism><mechanism>ANONYMOUS</mechanism><inline>"));
}

TEST_CASE("the whole SASL2 flight in one read: header, PLAIN with Bind 2, and a request behind it",
          "[sasl2][session][pipelining]") {
  World w;
  Client c(w.hub);
  auto out = c.feed(kHeader + plain_authenticate("pencil", kAgent + kBindTag) +
                    "<iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>");
  REQUIRE(c.s.state() == C2sSession::State::Bound);
  auto expected = "alice@localhost/" + bind2_resource("0123456789abcdef0123456789abcdef", "alice", "xnet",
                                                       "d4565fa7-4d72-4749-b3d3-740edbf87770");
  CHECK(c.s.jid() == expected);
  CHECK_THAT(out, Contains("<success xmlns='urn:xmpp:sasl:2'><authorization-identifier>" + expected +
                           "</authorization-identifier><bound xmlns='urn:xmpp:bind:0'/></success>"));
  // No restart: features follow at once (nothing left to negotiate), then the ping's answer.
  auto success = out.find("<success");
  auto features = out.find("<stream:features></stream:features>", success);
  auto pong = out.find("id='p1'", success);
  CHECK(features != std::string::npos);
  CHECK(pong != std::string::npos);
  CHECK(features < pong);
  CHECK_THAT(out.substr(out.rfind("<iq", pong)), Contains("type='result'"));
  CHECK(w.hub.find_session(expected) == &c.s);
}

TEST_CASE("the same tag and user agent get the same resource on the next login, a second one at once another",
          "[sasl2][session]") {
  World w;
  std::string first;
  {
    Client c(w.hub);
    c.feed(kHeader + plain_authenticate("pencil", kAgent + kBindTag));
    first = c.s.jid();
    REQUIRE(c.s.state() == C2sSession::State::Bound);
    Client d(w.hub);
    d.feed(kHeader + plain_authenticate("pencil", kAgent + kBindTag));
    REQUIRE(d.s.state() == C2sSession::State::Bound);
    CHECK(d.s.jid() != first);
    CHECK(d.s.jid().starts_with(first + "-"));
  }
  Client e(w.hub);
  e.feed(kHeader + plain_authenticate("pencil", kAgent + kBindTag));
  CHECK(e.s.jid() == first);
}

TEST_CASE("SASL2 without Bind 2 leaves the stream authenticated for an RFC 6120 bind, without a restart",
          "[sasl2][session]") {
  World w;
  Client c(w.hub);
  auto out = c.feed(kHeader + plain_authenticate("pencil"));
  CHECK_THAT(out, Contains("<authorization-identifier>alice@localhost</authorization-identifier></success>"));
  CHECK_THAT(out, Contains("<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>"));
  CHECK(c.s.state() == C2sSession::State::Authenticated);
  out = c.feed("<iq type='set' id='b'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>r</resource></bind></iq>");
  CHECK_THAT(out, Contains("<jid>alice@localhost/r</jid>"));
  CHECK(c.s.state() == C2sSession::State::Bound);
}

TEST_CASE("SASL2 SCRAM-SHA-256 with challenge and response, then a wrong password gets a delayed failure",
          "[sasl2][session]") {
  World w;
  for (std::string password : {"pencil", "wrong"}) {
    Client c(w.hub);
    c.feed(kHeader);
    xnet::xmpp::sasl::Credentials cr;
    cr.username = "alice";
    cr.password = password;
    auto m = xnet::xmpp::sasl::make("SCRAM-SHA-256", cr);
    auto out = c.feed("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-256'><initial-response>" +
                      b64(m->initial()) + "</initial-response>" + kBindTag + "</authenticate>");
    auto ch = payload(out, "challenge");
    REQUIRE(ch);
    auto resp = m->step(*ch);
    REQUIRE(resp);
    out = c.feed("<response xmlns='urn:xmpp:sasl:2'>" + b64(*resp) + "</response>");
    if (password == "wrong") {
      // The failure is held back (a timer), then sent in the SASL2 form; the stream stays.
      CHECK(out.empty());
      c.t.fire_timers();
      CHECK(c.t.take() ==
            "<failure xmlns='urn:xmpp:sasl:2'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/></failure>");
      CHECK(c.s.state() == C2sSession::State::Negotiating);
      CHECK_FALSE(c.t.closed);
      continue;
    }
    auto ad = payload(out, "additional-data");
    REQUIRE(ad);
    CHECK(ad->starts_with("v="));
    CHECK(m->finish(*ad));
    CHECK(c.s.state() == C2sSession::State::Bound);
    CHECK(c.s.jid().starts_with("alice@localhost/xnet/"));
  }
}

TEST_CASE("SASL2 refusals: unknown mechanism, PLAIN or HT without TLS, bad base64, abort, stanzas behind a refusal",
          "[sasl2][session]") {
  World w;
  {
    Client c(w.hub);
    auto out = c.feed(kHeader + "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='CRAM-MD5'/>");
    CHECK_THAT(out, Contains("<failure xmlns='urn:xmpp:sasl:2'><invalid-mechanism xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"));
    out = c.feed("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><initial-response>AA==</initial-response>"
                 "<fast xmlns='urn:xmpp:fast:0'/></authenticate>");
    CHECK_THAT(out, Contains("<invalid-mechanism"));
    out = c.feed("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>%%</initial-response></authenticate>");
    CHECK_THAT(out, Contains("<incorrect-encoding"));
    out = c.feed("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-1'/>");
    CHECK(out == "<challenge xmlns='urn:xmpp:sasl:2'/>");
    out = c.feed("<abort xmlns='urn:xmpp:sasl:2'/>");
    CHECK_THAT(out, Contains("<failure xmlns='urn:xmpp:sasl:2'><aborted xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"));
    out = c.feed("<response xmlns='urn:xmpp:sasl:2'>AA==</response>");
    CHECK_THAT(out, Contains("<malformed-request"));
    CHECK(c.s.state() == C2sSession::State::Negotiating);
    // Stanzas behind a refused SASL2 attempt are dropped (the client retries), a bounded number.
    out = c.feed("<iq type='get' id='x'><ping xmlns='urn:xmpp:ping'/></iq>");
    CHECK(out.empty());
    CHECK_FALSE(c.t.closed);
    std::string many;
    for (int i = 0; i < 40; ++i) many += "<iq type='get' id='x'><ping xmlns='urn:xmpp:ping'/></iq>";
    out = c.feed(many);
    CHECK_THAT(out, Contains("<not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"));
    CHECK(c.t.closed);
  }
  {
    HubOptions o = World::defaults();
    o.require_tls = false;
    World w2(o);
    Client c(w2.hub, false);
    auto out = c.feed(kHeader);
    CHECK_THAT(out, Contains("<authentication xmlns='urn:xmpp:sasl:2'>"));
    CHECK_THAT(out, !Contains("<mechanism>PLAIN</mechanism>"));
    out = c.feed(plain_authenticate("pencil"));
    CHECK_THAT(out, Contains("<invalid-mechanism"));
    CHECK(c.s.state() == C2sSession::State::Negotiating);
  }
}

TEST_CASE("SCRAM-SHA-256-PLUS binds to the connection's tls-exporter",
          "[sasl2][session]") {
  World w;
  const std::string exporter(32, '\x5a');
  auto login = [&](const std::string& mech, const std::string& client_exporter, bool server_offers_plus) {
    Client c(w.hub);
    c.t.exporter = exporter;
    c.feed(kHeader);
    xnet::xmpp::sasl::Credentials cr;
    cr.username = "alice";
    cr.password = "pencil";
    cr.cb_exporter = client_exporter;
    cr.server_offers_plus = server_offers_plus;
    auto m = xnet::xmpp::sasl::make(mech, cr);
    auto out = c.feed("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='" + mech + "'><initial-response>" +
                      b64(m->initial()) + "</initial-response></authenticate>");
    auto ch = payload(out, "challenge");
    if (!ch) {
      c.t.fire_timers();
      return out + c.t.take();
    }
    auto resp = m->step(*ch);
    REQUIRE(resp);
    out = c.feed("<response xmlns='urn:xmpp:sasl:2'>" + b64(*resp) + "</response>");
    c.t.fire_timers();
    return out + c.t.take();
  };
  CHECK_THAT(login("SCRAM-SHA-256-PLUS", exporter, true), Contains("<success xmlns='urn:xmpp:sasl:2'>"));
  CHECK_THAT(login("SCRAM-SHA-1-PLUS", exporter, true), Contains("<success xmlns='urn:xmpp:sasl:2'>"));
  // A man in the middle with another TLS session: the exporters differ.
  CHECK_THAT(login("SCRAM-SHA-256-PLUS", std::string(32, '\x01'), true), Contains("<malformed-request"));
  // "y" (the client could bind but saw no -PLUS) is accepted: clients that know only
  // tls-unique (slixmpp) send it against a tls-exporter offer.
  CHECK_THAT(login("SCRAM-SHA-256", exporter, false), Contains("<success"));
  // Plain SCRAM with "n" stays fine.
  CHECK_THAT(login("SCRAM-SHA-256", "", false), Contains("<success"));
}

TEST_CASE("SASL1: the whole flight after a stream restart in one read is answered", "[sasl2][session][pipelining]") {
  World w;
  Client c(w.hub);
  auto out = c.feed(kHeader + "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" +
                    b64(std::string("\0alice\0pencil", 13)) + "</auth>" + kHeader +
                    "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>pipe</resource>"
                    "</bind></iq><iq type='get' id='p1'><ping xmlns='urn:xmpp:ping'/></iq>");
  CHECK_THAT(out, Contains("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"));
  CHECK_THAT(out, Contains("<jid>alice@localhost/pipe</jid>"));
  CHECK_THAT(out, Contains("id='p1'"));
  REQUIRE(c.s.state() == C2sSession::State::Bound);
  CHECK(c.s.jid() == "alice@localhost/pipe");
  // Two stream headers went out: the first, and the one after the restart.
  auto first = out.find("<stream:stream");
  CHECK(out.find("<stream:stream", first + 1) != std::string::npos);
  CHECK(out.find("<stream:stream", first + 1) > out.find("<success"));

  // The same flight split at every byte boundary of a few places gives the same outcome.
  std::string flight = kHeader + "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>" +
                       b64(std::string("\0alice\0pencil", 13)) + "</auth>" + kHeader +
                       "<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>";
  for (std::size_t cut : {kHeader.size() + 10, flight.find("</auth>") + 7, flight.find("</auth>") + 30}) {
    Client d(w.hub);
    d.feed(flight.substr(0, cut));
    d.feed(flight.substr(cut));
    INFO(cut);
    CHECK(d.s.state() == C2sSession::State::Bound);
  }
}

TEST_CASE("SASL2 payloads never reach the XML trace", "[sasl2][session][redaction]") {
  World w;
  Client c(w.hub);
  c.feed(kHeader + plain_authenticate("pencil", kAgent + kBindTag));
  REQUIRE(c.s.state() == C2sSession::State::Bound);
  const auto& tr = w.trace.all;
  CHECK_THAT(tr, Contains("<initial-response>[redacted]</initial-response>"));
  CHECK_THAT(tr, !Contains(b64(std::string("\0alice\0pencil", 13))));
  CHECK_THAT(tr, Contains("<authorization-identifier>alice@localhost/xnet/"));

  Client d(w.hub);
  d.feed(kHeader);
  xnet::xmpp::sasl::Credentials cr;
  cr.username = "alice";
  cr.password = "pencil";
  auto m = xnet::xmpp::sasl::make("SCRAM-SHA-1", cr);
  auto first = b64(m->initial());
  auto out = d.feed("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-1'><initial-response>" + first +
                    "</initial-response></authenticate>");
  auto raw = payload(out, "challenge");
  REQUIRE(raw);
  auto ch = b64(*raw);
  CHECK_THAT(w.trace.all, !Contains(first));
  CHECK_THAT(w.trace.all, !Contains(ch));
  CHECK_THAT(w.trace.all, Contains("<challenge xmlns='urn:xmpp:sasl:2'>[redacted]</challenge>"));
}
