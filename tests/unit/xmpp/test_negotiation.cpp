// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <string>
#include <vector>

#include "trace.hpp"
#include "util/crypto.hpp"
#include "xmpp/negotiation.hpp"
#include "xmpp/sasl.hpp"

using namespace xnet;
using namespace xnet::xmpp;

namespace {

struct RecordingTrace final : Trace {
  bool enabled(TraceArea) const override { return true; }
  void wire(TraceArea, TraceDir dir, std::string_view data) override {
    lines.emplace_back(dir == TraceDir::Sent ? "> " : "< ");
    lines.back() += data;
  }
  void progress(int, std::string_view) override {}
  void warning(std::string_view) override {}
  std::string all() const {
    std::string s;
    for (const auto& l : lines) s += l + "\n";
    return s;
  }
  std::vector<std::string> lines;
};

const std::string kHeaderPlain =
    "<?xml version='1.0'?><stream:stream to='example.org' version='1.0' xml:lang='en' xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams'>";
const std::string kHeaderTls =
    "<?xml version='1.0'?><stream:stream to='example.org' from='user@example.org' version='1.0' xml:lang='en' "
    "xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";
const std::string kStartTls = "<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
const std::string kServerHeader =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
    "id='s1' from='example.org' version='1.0' xml:lang='en'>";
const std::string kProceed = "<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>";
const std::string kSaslNs = "urn:ietf:params:xml:ns:xmpp-sasl";

std::string features(const std::string& inner) { return "<stream:features>" + inner + "</stream:features>"; }
std::string starttls_features() {
  return features("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls>");
}
std::string mechanisms(std::initializer_list<std::string> ms) {
  std::string s = "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>";
  for (const auto& m : ms) s += "<mechanism>" + m + "</mechanism>";
  return s + "</mechanisms>";
}
std::string b64(std::string_view s) { return crypto::base64(s); }

// RFC 5802 §5 vector (SCRAM-SHA-1, user "user", password "pencil").
const std::string kCnonce1 = "fyko+d2lbbFgONRv9qkxdawL";
const std::string kServerFirst1 = "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096";
const std::string kClientFinal1 = "c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=";
const std::string kServerFinal1 = "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=";
// RFC 7677 §3 vector (SCRAM-SHA-256).
const std::string kCnonce256 = "rOprNGfwEbeRWgbNEkqO";
const std::string kServerFirst256 =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
const std::string kClientFinal256 =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
const std::string kServerFinal256 = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

NegotiatorConfig config(std::string nonce = kCnonce1) {
  NegotiatorConfig c;
  c.jid = "user@example.org";
  c.password = "pencil";
  c.resource = "cli";
  c.scram_nonce = std::move(nonce);
  return c;
}

std::vector<Event> drain(ClientNegotiator& n) {
  std::vector<Event> out;
  while (auto e = n.next_event()) out.push_back(std::move(*e));
  return out;
}

// Runs a STARTTLS negotiation up to the point where SASL features have been received over TLS.
void to_sasl(ClientNegotiator& n, const std::string& mech_list, TlsInfo tls = {"TLSv1.3", ""}) {
  n.start();
  REQUIRE(n.take_output() == kHeaderPlain + kStartTls);
  n.feed(kServerHeader + starttls_features());
  REQUIRE(n.take_output().empty());
  n.feed(kProceed);
  auto ev = drain(n);
  REQUIRE(ev.size() == 1);
  REQUIRE(ev[0].kind == Event::Kind::StartTls);
  n.tls_established(tls);
  REQUIRE(n.take_output() == kHeaderTls);
  n.feed(kServerHeader + features(mech_list));
}

Event single_failure(ClientNegotiator& n) {
  auto ev = drain(n);
  REQUIRE(ev.size() == 1);
  REQUIRE(ev[0].kind == Event::Kind::Failed);
  return ev[0];
}

xml::Element iq_get(std::string id) {
  xml::Element iq("iq");
  iq.set("type", "get").set("id", std::move(id));
  iq.add(xml::Element("address", "urn:xmpp:sic:1"));
  return iq;
}

sasl::Credentials pencil(const std::string& nonce) {
  sasl::Credentials c;
  c.username = "user";
  c.password = "pencil";
  c.nonce = nonce;
  return c;
}

}  // namespace

TEST_CASE("SCRAM client matches the RFC 5802 and RFC 7677 vectors", "[xmpp][sasl]") {
  SECTION("SCRAM-SHA-1") {
    auto m = sasl::make("SCRAM-SHA-1", pencil(kCnonce1));
    CHECK(m->initial() == "n,,n=user,r=" + kCnonce1);
    auto r = m->step(kServerFirst1);
    REQUIRE(r);
    CHECK(*r == kClientFinal1);
    CHECK(m->finish(kServerFinal1));
  }
  SECTION("SCRAM-SHA-256") {
    auto m = sasl::make("SCRAM-SHA-256", pencil(kCnonce256));
    CHECK(m->initial() == "n,,n=user,r=" + kCnonce256);
    auto r = m->step(kServerFirst256);
    REQUIRE(r);
    CHECK(*r == kClientFinal256);
    CHECK(m->finish(kServerFinal256));
  }
  SECTION("a wrong server signature is an auth failure") {
    auto m = sasl::make("SCRAM-SHA-1", pencil(kCnonce1));
    m->initial();
    REQUIRE(m->step(kServerFirst1));
    auto f = m->finish("v=AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    REQUIRE_FALSE(f);
    CHECK(f.error().category == Category::Auth);
  }
  SECTION("a server nonce that does not extend ours is refused") {
    auto m = sasl::make("SCRAM-SHA-1", pencil(kCnonce1));
    m->initial();
    auto r = m->step("r=other,s=QSXCR+Q6sek8bf92,i=4096");
    REQUIRE_FALSE(r);
    CHECK(r.error().category == Category::Auth);
  }
  SECTION("an absurd iteration count is refused before any hashing") {
    auto m = sasl::make("SCRAM-SHA-1", pencil(kCnonce1));
    m->initial();
    auto r = m->step("r=" + kCnonce1 + "x,s=QSXCR+Q6sek8bf92,i=2000000000");
    REQUIRE_FALSE(r);
    CHECK(r.error().message.find("iterations") != std::string::npos);
  }
  SECTION("-PLUS binds the tls-exporter data into c=") {
    std::string exporter(32, '\x07');
    auto m = sasl::make("SCRAM-SHA-256-PLUS",
                        {.username = "user", .password = "pencil", .cb_exporter = exporter, .nonce = kCnonce256});
    CHECK(m->initial() == "p=tls-exporter,,n=user,r=" + kCnonce256);
    auto r = m->step(kServerFirst256);
    REQUIRE(r);
    CHECK(r->starts_with("c=" + b64("p=tls-exporter,," + exporter) + ",r="));
  }
  SECTION("usernames are escaped") { CHECK(sasl::escape_saslname("a,b=c") == "a=2Cb=3Dc"); }
}

TEST_CASE("STARTTLS login pipelines starttls, the TLS header, and restart with bind and first request",
          "[xmpp][negotiation]") {
  RecordingTrace trace;
  ClientNegotiator n(config(), trace);
  // Flight 1: header and <starttls/> without waiting for features.
  to_sasl(n, mechanisms({"SCRAM-SHA-1", "PLAIN"}));
  // No SCRAM-SHA-256 offered: SCRAM-SHA-1 is chosen.
  CHECK(n.take_output() == "<auth xmlns='" + kSaslNs + "' mechanism='SCRAM-SHA-1'>" +
                               b64("n,,n=user,r=" + kCnonce1) + "</auth>");
  CHECK(n.mechanism() == "SCRAM-SHA-1");
  n.feed("<challenge xmlns='" + kSaslNs + "'>" + b64(kServerFirst1) + "</challenge>");
  CHECK(n.take_output() == "<response xmlns='" + kSaslNs + "'>" + b64(kClientFinal1) + "</response>");
  // The verb's first request, queued before the session is up.
  n.send(iq_get("q1"));
  CHECK(n.take_output().empty());
  n.feed("<success xmlns='" + kSaslNs + "'>" + b64(kServerFinal1) + "</success>");
  // One flight: restart header, bind, the first request.
  CHECK(n.take_output() == kHeaderTls +
                               "<iq type='set' id='xn1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'>"
                               "<resource>cli</resource></bind></iq>"
                               "<iq type='get' id='q1'><address xmlns='urn:xmpp:sic:1'/></iq>");
  CHECK(drain(n).empty());
  n.feed(kServerHeader + features("<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>") +
         "<iq type='result' id='xn1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>user@example.org/cli"
         "</jid></bind></iq><iq type='result' id='q1' from='example.org'><address xmlns='urn:xmpp:sic:1'>"
         "<ip>192.0.2.1</ip></address></iq>");
  auto ev = drain(n);
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].kind == Event::Kind::Bound);
  CHECK(ev[0].jid == "user@example.org/cli");
  CHECK(n.bound_jid() == "user@example.org/cli");
  CHECK(ev[1].kind == Event::Kind::Stanza);
  CHECK(ev[1].stanza.attr_or("id") == "q1");
  CHECK(n.state() == NegotiationState::Bound);
  CHECK(n.take_output().empty());

  SECTION("XEP-0199 pings from the server are answered") {
    n.feed("<iq type='get' id='p9' from='example.org'><ping xmlns='urn:xmpp:ping'/></iq>");
    CHECK(drain(n).empty());
    CHECK(n.take_output() == "<iq type='result' id='p9' to='example.org'/>");
  }
  SECTION("keepalive and ping requests") {
    n.keepalive();
    CHECK(n.take_output() == " ");
    auto id = n.ping();
    CHECK(n.take_output() == "<iq type='get' id='" + id + "' to='example.org'><ping xmlns='urn:xmpp:ping'/></iq>");
  }
  SECTION("close is sent once and the server's close ends cleanly") {
    n.close();
    n.close();
    CHECK(n.take_output() == "</stream:stream>");
    n.feed("</stream:stream>");
    auto e = drain(n);
    REQUIRE(e.size() == 1);
    CHECK(e[0].kind == Event::Kind::Closed);
  }
  SECTION("stanza errors are delivered whole, long texts truncated") {
    n.feed("<iq type='error' id='q2'><error type='cancel'><service-unavailable "
           "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/><text xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'>" +
           std::string(100000, 'x') + "</text></error></iq>");
    auto e = drain(n);
    REQUIRE(e.size() == 1);
    REQUIRE(e[0].kind == Event::Kind::Stanza);
    const auto* err = e[0].stanza.child("error");
    REQUIRE(err);
    CHECK(err->child("service-unavailable"));
    CHECK(err->child("text")->text.size() < 600);
  }
  SECTION("the server closing without </stream:stream> is a Connect failure") {
    n.end_of_input();
    CHECK(single_failure(n).error.category == Category::Connect);
  }
  SECTION("the trace redacts SASL payloads and never shows the password") {
    auto t = trace.all();
    CHECK(t.find(b64(kClientFinal1)) == std::string::npos);
    CHECK(t.find(b64(kServerFirst1)) == std::string::npos);
    CHECK(t.find(b64(kServerFinal1)) == std::string::npos);
    CHECK(t.find(b64("n,,n=user,r=" + kCnonce1)) == std::string::npos);
    CHECK(t.find("pencil") == std::string::npos);
    CHECK(t.find("<auth xmlns='" + kSaslNs + "' mechanism='SCRAM-SHA-1'>[redacted]</auth>") != std::string::npos);
    CHECK(t.find("<challenge xmlns='" + kSaslNs + "'>[redacted]</challenge>") != std::string::npos);
    CHECK(t.find("> <iq type='get' id='q1'>") != std::string::npos);
    CHECK(t.find("< <iq type='result' id='q1'") != std::string::npos);
    CHECK(t.find("< <stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>") !=
          std::string::npos);
    // Each received stanza is traced once.
    std::size_t q1 = 0;
    for (const auto& l : trace.lines) q1 += l.starts_with("< <iq type='result' id='q1'") ? 1 : 0;
    CHECK(q1 == 1);
  }
}

TEST_CASE("the same login fed one byte at a time gives the same result", "[xmpp][negotiation]") {
  ClientNegotiator n(config(kCnonce256), null_trace());
  n.start();
  n.take_output();
  auto feed_bytes = [&](const std::string& s) {
    for (char c : s) n.feed(std::string_view(&c, 1));
  };
  feed_bytes(kServerHeader + starttls_features() + kProceed);
  REQUIRE(drain(n).size() == 1);
  n.tls_established({"TLSv1.2", ""});
  n.take_output();
  feed_bytes(kServerHeader + features(mechanisms({"SCRAM-SHA-1", "SCRAM-SHA-256"})));
  CHECK(n.mechanism() == "SCRAM-SHA-256");
  n.take_output();
  feed_bytes("<challenge xmlns='" + kSaslNs + "'>" + b64(kServerFirst256) + "</challenge>");
  CHECK(n.take_output() == "<response xmlns='" + kSaslNs + "'>" + b64(kClientFinal256) + "</response>");
  // Success and the whole next stream in one read.
  n.feed("<success xmlns='" + kSaslNs + "'>" + b64(kServerFinal256) + "</success>" + kServerHeader +
         features("<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>") +
         "<iq type='result' id='xn1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>user@example.org/x</jid>"
         "</bind></iq>");
  auto ev = drain(n);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == Event::Kind::Bound);
  CHECK(ev[0].jid == "user@example.org/x");
}

TEST_CASE("direct TLS sends nothing before the handshake and uses SCRAM-PLUS with tls-exporter",
          "[xmpp][negotiation]") {
  auto c = config(kCnonce256);
  c.direct_tls = true;
  ClientNegotiator n(c, null_trace());
  n.start();
  CHECK(n.take_output().empty());
  std::string exporter(32, 'E');
  n.tls_established({"TLSv1.3", exporter});
  CHECK(n.take_output() == kHeaderTls);
  const std::string cb = "<sasl-channel-binding xmlns='urn:xmpp:sasl-cb:0'><channel-binding type='tls-server-end-point'/>"
                         "<channel-binding type='tls-exporter'/></sasl-channel-binding>";
  n.feed(kServerHeader +
         features(mechanisms({"SCRAM-SHA-1", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256-PLUS", "PLAIN"}) + cb));
  CHECK(n.mechanism() == "SCRAM-SHA-256-PLUS");
  CHECK(n.take_output() == "<auth xmlns='" + kSaslNs + "' mechanism='SCRAM-SHA-256-PLUS'>" +
                               b64("p=tls-exporter,,n=user,r=" + kCnonce256) + "</auth>");

  SECTION("without TLS 1.3 no -PLUS is used") {
    ClientNegotiator m(c, null_trace());
    m.start();
    m.tls_established({"TLSv1.2", exporter});
    m.take_output();
    m.feed(kServerHeader + features(mechanisms({"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"}) + cb));
    CHECK(m.mechanism() == "SCRAM-SHA-256");
  }
  SECTION("a server that does not list tls-exporter (XEP-0440) gets no -PLUS and the GS2 flag n") {
    ClientNegotiator m(c, null_trace());
    m.start();
    m.tls_established({"TLSv1.3", exporter});
    m.take_output();
    m.feed(kServerHeader + features(mechanisms({"SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"})));
    CHECK(m.mechanism() == "SCRAM-SHA-256");
    CHECK(m.take_output() == "<auth xmlns='" + kSaslNs + "' mechanism='SCRAM-SHA-256'>" +
                                 b64("n,,n=user,r=" + kCnonce256) + "</auth>");
  }
  SECTION("a server offering no -PLUS while we could bind gets the GS2 flag y") {
    ClientNegotiator m(c, null_trace());
    m.start();
    m.tls_established({"TLSv1.3", exporter});
    m.take_output();
    m.feed(kServerHeader + features(mechanisms({"SCRAM-SHA-256"}) + cb));
    CHECK(m.take_output() == "<auth xmlns='" + kSaslNs + "' mechanism='SCRAM-SHA-256'>" +
                                 b64("y,,n=user,r=" + kCnonce256) + "</auth>");
  }
}

TEST_CASE("mechanism choice and refusals", "[xmpp][negotiation]") {
  SECTION("PLAIN over TLS") {
    ClientNegotiator n(config(), null_trace());
    to_sasl(n, mechanisms({"PLAIN"}));
    CHECK(n.take_output() ==
          "<auth xmlns='" + kSaslNs + "' mechanism='PLAIN'>" + b64(std::string("\0user\0pencil", 12)) + "</auth>");
    n.feed("<success xmlns='" + kSaslNs + "'/>");
    CHECK(n.take_output().starts_with(kHeaderTls + "<iq type='set'"));
  }
  SECTION("only PLAIN on an unencrypted stream is refused") {
    auto c = config();
    c.require_tls = false;
    ClientNegotiator n(c, null_trace());
    n.start();
    CHECK(n.take_output() == kHeaderPlain);  // no pipelined starttls when TLS is optional
    n.feed(kServerHeader + features(mechanisms({"PLAIN"})));
    auto f = single_failure(n);
    CHECK(f.error.category == Category::NotSupported);
    CHECK(f.error.message.find("PLAIN") != std::string::npos);
    CHECK(n.take_output().empty());  // the password never left
  }
  SECTION("a server without STARTTLS is refused when TLS is required") {
    ClientNegotiator n(config(), null_trace());
    n.start();
    n.take_output();
    n.feed(kServerHeader + features(mechanisms({"PLAIN", "SCRAM-SHA-1"})));
    CHECK(single_failure(n).error.category == Category::Tls);
  }
  SECTION("ANONYMOUS for a domain-only JID") {
    NegotiatorConfig c;
    c.jid = "example.org";
    ClientNegotiator n(c, null_trace());
    n.start();
    n.take_output();
    n.feed(kServerHeader + starttls_features() + kProceed);
    drain(n);
    n.tls_established({"TLSv1.3", ""});
    CHECK(n.take_output() == kHeaderPlain);  // no from= for anonymous
    n.feed(kServerHeader + features(mechanisms({"PLAIN", "ANONYMOUS"})));
    CHECK(n.take_output() == "<auth xmlns='" + kSaslNs + "' mechanism='ANONYMOUS'>=</auth>");
    n.feed("<success xmlns='" + kSaslNs + "'/>");
    CHECK(n.take_output() == kHeaderPlain +
                                 "<iq type='set' id='xn1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
  }
  SECTION("ANONYMOUS not offered is NotSupported") {
    NegotiatorConfig c;
    c.jid = "example.org";
    c.direct_tls = true;
    ClientNegotiator n(c, null_trace());
    n.start();
    n.tls_established({"TLSv1.3", ""});
    n.feed(kServerHeader + features(mechanisms({"PLAIN"})));
    auto f = single_failure(n);
    CHECK(f.error.category == Category::NotSupported);
    CHECK(f.error.message.find("anonymous") != std::string::npos);
  }
  SECTION("no common mechanism lists what was offered") {
    ClientNegotiator n(config(), null_trace());
    to_sasl(n, mechanisms({"X-OAUTH2", "DIGEST-MD5"}));
    auto f = single_failure(n);
    CHECK(f.error.category == Category::NotSupported);
    CHECK(f.error.message.find("X-OAUTH2, DIGEST-MD5") != std::string::npos);
  }
  SECTION("a configured order restricts the mechanisms") {
    auto c = config();
    c.mechanisms = {"PLAIN"};
    ClientNegotiator n(c, null_trace());
    to_sasl(n, mechanisms({"SCRAM-SHA-1", "PLAIN"}));
    CHECK(n.mechanism() == "PLAIN");
  }
}

TEST_CASE("SASL failures are Auth errors with the condition and text", "[xmpp][negotiation]") {
  ClientNegotiator n(config(), null_trace());
  to_sasl(n, mechanisms({"SCRAM-SHA-1"}));
  n.take_output();
  SECTION("not-authorized") {
    n.feed("<failure xmlns='" + kSaslNs + "'><not-authorized/><text xml:lang='en'>Wrong password</text></failure>");
    auto f = single_failure(n);
    CHECK(f.error.category == Category::Auth);
    CHECK(f.condition == "not-authorized");
    CHECK(f.error.message == "authentication failed: not-authorized (Wrong password)");
  }
  SECTION("a huge text is truncated, control characters removed") {
    n.feed("<failure xmlns='" + kSaslNs + "'><account-disabled/><text>line\r\nfake: prompt" + std::string(200000, 'A') +
           "</text></failure>");
    auto f = single_failure(n);
    CHECK(f.condition == "account-disabled");
    CHECK(f.error.message.size() < 700);
    CHECK(f.error.message.find('\n') == std::string::npos);
    CHECK(f.error.message.find("more bytes") != std::string::npos);
  }
  SECTION("success without the server signature is refused") {
    n.feed("<challenge xmlns='" + kSaslNs + "'>" + b64(kServerFirst1) + "</challenge>");
    n.take_output();
    n.feed("<success xmlns='" + kSaslNs + "'/>");
    auto f = single_failure(n);
    CHECK(f.error.category == Category::Auth);
    CHECK(n.take_output().find("stream:stream to=") == std::string::npos);  // no restart
  }
  SECTION("bad base64 in a challenge") {
    n.feed("<challenge xmlns='" + kSaslNs + "'>!!!</challenge>");
    auto f = single_failure(n);
    CHECK(f.error.category == Category::Protocol);
    CHECK(f.condition == "incorrect-encoding");
  }
  SECTION("endless challenges are cut off") {
    n.feed("<challenge xmlns='" + kSaslNs + "'>" + b64(kServerFirst1) + "</challenge>");
    for (int i = 0; i < 20; ++i) n.feed("<challenge xmlns='" + kSaslNs + "'>" + b64(kServerFinal1) + "</challenge>");
    auto ev = drain(n);
    REQUIRE_FALSE(ev.empty());
    CHECK(ev.back().kind == Event::Kind::Failed);
  }
}

TEST_CASE("pipelined STARTTLS fallbacks and injection", "[xmpp][negotiation]") {
  SECTION("a <failure/> to the pipelined starttls asks for a retry without pipelining") {
    ClientNegotiator n(config(), null_trace());
    n.start();
    n.take_output();
    n.feed(kServerHeader + starttls_features() + "<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    auto ev = drain(n);
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].kind == Event::Kind::Retry);
  }
  SECTION("a stream error to the pipelined starttls asks for a retry") {
    ClientNegotiator n(config(), null_trace());
    n.start();
    n.take_output();
    n.feed(kServerHeader + "<stream:error><unsupported-stanza-type "
                           "xmlns='urn:ietf:params:xml:ns:xmpp-streams'/></stream:error>");
    auto ev = drain(n);
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].kind == Event::Kind::Retry);
  }
  SECTION("without pipelining, starttls waits for the features and a failure is a TLS error") {
    auto c = config();
    c.pipeline_starttls = false;
    ClientNegotiator n(c, null_trace());
    n.start();
    CHECK(n.take_output() == kHeaderPlain);
    n.feed(kServerHeader);
    CHECK(n.take_output().empty());
    n.feed(starttls_features());
    CHECK(n.take_output() == kStartTls);
    n.feed("<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    CHECK(single_failure(n).error.category == Category::Tls);
  }
  SECTION("plaintext bytes after <proceed/> in the same read are refused") {
    ClientNegotiator n(config(), null_trace());
    n.start();
    n.take_output();
    n.feed(kServerHeader + starttls_features() + kProceed + "<stream:features/>");
    auto ev = drain(n);
    REQUIRE(ev.size() == 2);
    CHECK(ev[0].kind == Event::Kind::StartTls);
    CHECK(ev[1].kind == Event::Kind::Failed);
    CHECK(ev[1].error.message.find("injection") != std::string::npos);
  }
  SECTION("a partial element after <proceed/> is refused too") {
    ClientNegotiator n(config(), null_trace());
    n.start();
    n.take_output();
    n.feed(kServerHeader + starttls_features() + kProceed + "<x>");
    auto ev = drain(n);
    REQUIRE(ev.size() == 2);
    CHECK(ev[1].kind == Event::Kind::Failed);
  }
  SECTION("plaintext bytes in a later read before tls_established() are refused") {
    ClientNegotiator n(config(), null_trace());
    n.start();
    n.feed(kServerHeader + starttls_features() + kProceed);
    n.feed(" ");
    auto ev = drain(n);
    REQUIRE(ev.size() == 2);
    CHECK(ev[1].kind == Event::Kind::Failed);
  }
}

TEST_CASE("stream errors map to categories with their condition", "[xmpp][negotiation]") {
  struct Row {
    const char* condition;
    Category category;
  };
  auto row = GENERATE(values<Row>({
      {"host-unknown", Category::Connect},
      {"see-other-host", Category::Connect},
      {"not-authorized", Category::Auth},
      {"system-shutdown", Category::Timeout},
      {"connection-timeout", Category::Timeout},
      {"unsupported-version", Category::NotSupported},
      {"policy-violation", Category::Protocol},
      {"conflict", Category::Protocol},
      {"internal-server-error", Category::Protocol},
  }));
  CHECK(stream_error_category(row.condition) == row.category);
  auto c = config();
  c.direct_tls = true;
  ClientNegotiator n(c, null_trace());
  n.start();
  n.tls_established({"TLSv1.3", ""});
  n.take_output();
  n.feed(kServerHeader + "<stream:error><" + row.condition +
         " xmlns='urn:ietf:params:xml:ns:xmpp-streams'>other.example:5222</" + row.condition +
         "><text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>go away</text></stream:error>");
  auto f = single_failure(n);
  CHECK(f.error.category == row.category);
  CHECK(f.condition == row.condition);
  CHECK(f.error.message.find("go away") != std::string::npos);
  CHECK(n.take_output() == "</stream:stream>");
}

TEST_CASE("bind errors and header problems", "[xmpp][negotiation]") {
  SECTION("bind conflict is a Remote error with the stanza error kept") {
    ClientNegotiator n(config(), null_trace());
    to_sasl(n, mechanisms({"PLAIN"}));
    n.feed("<success xmlns='" + kSaslNs + "'/>" + kServerHeader +
           features("<bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/>") +
           "<iq type='error' id='xn1'><error type='cancel'><conflict "
           "xmlns='urn:ietf:params:xml:ns:xmpp-stanzas'/></error></iq>");
    auto f = single_failure(n);
    CHECK(f.error.category == Category::Remote);
    REQUIRE(f.error.stanza);
    CHECK(f.error.stanza->condition == "conflict");
    CHECK(f.error.stanza->type == "cancel");
  }
  SECTION("a stream without version is not XMPP 1.0") {
    ClientNegotiator n(config(), null_trace());
    n.start();
    n.feed("<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='x'>");
    CHECK(single_failure(n).error.category == Category::NotSupported);
  }
  SECTION("garbage instead of a stream") {
    ClientNegotiator n(config(), null_trace());
    n.start();
    n.feed("HTTP/1.1 400 Bad Request\r\n\r\n");
    CHECK(single_failure(n).error.category == Category::Protocol);
  }
  SECTION("EOF during negotiation is a Connect error naming the phase") {
    ClientNegotiator n(config(), null_trace());
    n.start();
    n.feed(kServerHeader);
    n.end_of_input();
    auto f = single_failure(n);
    CHECK(f.error.category == Category::Connect);
    CHECK(f.error.message.find("before TLS") != std::string::npos);
  }
  SECTION("an invalid JID") {
    NegotiatorConfig c;
    c.jid = "@";
    ClientNegotiator n(c, null_trace());
    n.start();
    CHECK(single_failure(n).error.category == Category::Usage);
  }
}

TEST_CASE("limits on what the server sends", "[xmpp][negotiation][limits]") {
  SECTION("nesting deeper than 32 in the plaintext features") {
    ClientNegotiator n(config(), null_trace());
    n.start();
    std::string deep;
    for (int i = 0; i < 500000 / 3; ++i) deep += "<a>";
    n.feed(kServerHeader + "<stream:features>" + deep);
    auto f = single_failure(n);
    CHECK(f.error.category == Category::Protocol);
    CHECK(f.condition == "policy-violation");
  }
  SECTION("a message nested 30000 deep after bind") {
    ClientNegotiator n(config(), null_trace());
    to_sasl(n, mechanisms({"PLAIN"}));
    n.feed("<success xmlns='" + kSaslNs + "'/>" + kServerHeader +
           "<iq type='result' id='xn1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>user@example.org/r</jid>"
           "</bind></iq>");
    REQUIRE(drain(n).size() == 1);
    std::string deep = "<message>";
    for (int i = 0; i < 30000; ++i) deep += "<b>";
    n.feed(deep);
    CHECK(single_failure(n).condition == "policy-violation");
  }
  SECTION("too many stream features") {
    ClientNegotiator n(config(), null_trace());
    n.start();
    std::string many;
    for (int i = 0; i < 65; ++i) many += "<f" + std::to_string(i) + " xmlns='urn:x'/>";
    n.feed(kServerHeader + features(many));
    auto f = single_failure(n);
    CHECK(f.error.message.find("65 stream features") != std::string::npos);
  }
  SECTION("too many mechanisms") {
    ClientNegotiator n(config(), null_trace());
    std::string list = "<mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>";
    for (int i = 0; i < 100; ++i) list += "<mechanism>X-" + std::to_string(i) + "</mechanism>";
    to_sasl(n, list + "</mechanisms>");
    CHECK(single_failure(n).condition == "policy-violation");
  }
  SECTION("endless features before the session is up hit the byte limit") {
    ClientNegotiator n(config(), null_trace());
    n.start();
    n.feed(kServerHeader + "<stream:features>");
    std::string chunk(64 * 1024, ' ');
    for (int i = 0; i < 64 && n.state() != NegotiationState::Done; ++i) n.feed("<x xmlns='urn:x'>" + chunk + "</x>");
    auto f = single_failure(n);
    CHECK(f.error.category == Category::Protocol);
  }
  SECTION("a 10 MB stream error text never reaches the message whole") {
    auto c = config();
    c.direct_tls = true;
    ClientNegotiator n(c, null_trace());
    n.start();
    n.tls_established({"TLSv1.3", ""});
    n.feed(kServerHeader + "<stream:error><undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
                           "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>");
    std::string mb(1 << 20, 'E');
    for (int i = 0; i < 10 && n.state() != NegotiationState::Done; ++i) n.feed(mb);
    auto f = single_failure(n);
    CHECK(f.error.message.size() < 1024);
  }
  SECTION("a 200 KB stream error text after bind is truncated and keeps its condition") {
    ClientNegotiator n(config(), null_trace());
    to_sasl(n, mechanisms({"PLAIN"}));
    n.feed("<success xmlns='" + kSaslNs + "'/>" + kServerHeader +
           "<iq type='result' id='xn1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>user@example.org/r</jid>"
           "</bind></iq>");
    drain(n);
    n.feed("<stream:error><conflict xmlns='urn:ietf:params:xml:ns:xmpp-streams'/><text "
           "xmlns='urn:ietf:params:xml:ns:xmpp-streams'>" +
           std::string(200000, 'T') + "</text></stream:error>");
    auto f = single_failure(n);
    CHECK(f.condition == "conflict");
    CHECK(f.error.message.size() < 700);
  }
  SECTION("a 10 000-entry list in one stanza parses whole") {
    auto c = config();
    c.limits.max_stanza_bytes = 1 << 20;
    ClientNegotiator n(c, null_trace());
    to_sasl(n, mechanisms({"PLAIN"}));
    n.feed("<success xmlns='" + kSaslNs + "'/>" + kServerHeader +
           "<iq type='result' id='xn1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>user@example.org/r</jid>"
           "</bind></iq>");
    drain(n);
    std::string list = "<iq type='result' id='s'><services xmlns='urn:xmpp:extdisco:2'>";
    for (int i = 0; i < 10000; ++i)
      list += "<service type='stun' host='192.0.2." + std::to_string(i % 250) + "' port='3478' transport='udp'/>";
    list += "</services></iq>";
    n.feed(list);
    auto ev = drain(n);
    REQUIRE(ev.size() == 1);
    REQUIRE(ev[0].kind == Event::Kind::Stanza);
    CHECK(ev[0].stanza.child("services")->children.size() == 10000);
  }
}

TEST_CASE("redact_xml hides SASL payloads, tokens and the password", "[xmpp][redact]") {
  CHECK(redact_xml("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AHVzZXIAcGVuY2ls</auth>", "") ==
        "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>[redacted]</auth>");
  CHECK(redact_xml("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-1'><initial-response>biws"
                   "</initial-response></authenticate>",
                   "")
            .find("biws") == std::string::npos);
  CHECK(redact_xml("<token xmlns='urn:xmpp:fast:0' expiry='2026' token='s3cr3t'/>", "") ==
        "<token xmlns='urn:xmpp:fast:0' expiry='2026' token='[redacted]'/>");
  CHECK(redact_xml("<message><body>my pw is hunter2</body></message>", "hunter2") ==
        "<message><body>my pw is ********</body></message>");
  CHECK(redact_xml("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>", "") ==
        "<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
}

namespace {

const std::string kSasl2Ns = "urn:xmpp:sasl:2";

// XEP-0484 §4.1 features, plus XEP-0386 Bind2 inline.
std::string sasl2_features() {
  return features(
      "<authentication xmlns='urn:xmpp:sasl:2'><mechanism>SCRAM-SHA-1</mechanism>"
      "<mechanism>SCRAM-SHA-1-PLUS</mechanism><inline><bind xmlns='urn:xmpp:bind:0'/>"
      "<fast xmlns='urn:xmpp:fast:0' tls-0rtt='true'><mechanism>HT-SHA-256-ENDP</mechanism>"
      "<mechanism>HT-SHA-256-EXPR</mechanism><mechanism>HT-SHA-256-NONE</mechanism></fast></inline>"
      "</authentication>" +
      mechanisms({"SCRAM-SHA-1", "PLAIN"}));
}

NegotiatorConfig sasl2_config() {
  auto c = config();
  c.direct_tls = true;
  c.user_agent_id = "d4565fa7-4d72-4749-b3d3-740edbf87770";
  c.bind2_tag = "xnet";
  c.resource.clear();  // Bind2 lets the server choose
  return c;
}

}  // namespace

TEST_CASE("SASL2 with Bind2 inline and a FAST token request", "[xmpp][sasl2]") {
  auto c = sasl2_config();
  c.request_fast_token = true;
  RecordingTrace trace;
  ClientNegotiator n(c, trace);
  n.start();
  n.tls_established({"TLSv1.3", ""});
  CHECK(n.take_output() == kHeaderTls);
  n.send(iq_get("q1"));
  n.feed(kServerHeader + sasl2_features());
  CHECK(n.take_output() ==
        "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-1'><initial-response>" +
            b64("n,,n=user,r=" + kCnonce1) +
            "</initial-response><user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'><software>xnet</software>"
            "</user-agent><bind xmlns='urn:xmpp:bind:0'><tag>xnet</tag></bind>"
            "<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/></authenticate>");
  CHECK(n.used_sasl2());
  n.feed("<challenge xmlns='urn:xmpp:sasl:2'>" + b64(kServerFirst1) + "</challenge>");
  // No restart and no bind round trip: the held request follows the final SCRAM message.
  CHECK(n.take_output() == "<response xmlns='urn:xmpp:sasl:2'>" + b64(kClientFinal1) + "</response>" +
                               "<iq type='get' id='q1'><address xmlns='urn:xmpp:sic:1'/></iq>");
  n.feed("<success xmlns='urn:xmpp:sasl:2'><additional-data>" + b64(kServerFinal1) +
         "</additional-data><authorization-identifier>user@example.org/xnet.4232f4d4</authorization-identifier>"
         "<bound xmlns='urn:xmpp:bind:0'/><token xmlns='urn:xmpp:fast:0' expiry='2026-12-12T14:36:15Z' "
         "token='WXZzciBwYmFmdmZnZiBqdmd1IGp2eXFhcmZm'/></success>");
  CHECK(n.take_output().empty());
  auto ev = drain(n);
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].kind == Event::Kind::FastToken);
  CHECK(ev[0].token.token == "WXZzciBwYmFmdmZnZiBqdmd1IGp2eXFhcmZm");
  CHECK(ev[0].token.mechanism == "HT-SHA-256-NONE");
  CHECK(ev[0].token.expiry == "2026-12-12T14:36:15Z");
  CHECK(ev[1].kind == Event::Kind::Bound);
  CHECK(ev[1].jid == "user@example.org/xnet.4232f4d4");
  // Features sent after success are ignored.
  n.feed(features("<sm xmlns='urn:xmpp:sm:3'/>"));
  CHECK(drain(n).empty());
  auto t = trace.all();
  CHECK(t.find("WXZzciBwYmFmdmZnZiBqdmd1IGp2eXFhcmZm") == std::string::npos);
  CHECK(t.find(b64(kClientFinal1)) == std::string::npos);
  CHECK(t.find(b64("n,,n=user,r=" + kCnonce1)) == std::string::npos);
  CHECK(t.find("<initial-response>[redacted]</initial-response>") != std::string::npos);
}

TEST_CASE("SASL2 without Bind2 binds on the same stream", "[xmpp][sasl2]") {
  auto c = sasl2_config();
  c.resource = "cli";
  ClientNegotiator n(c, null_trace());
  n.start();
  n.tls_established({"TLSv1.3", ""});
  n.take_output();
  n.feed(kServerHeader + features("<authentication xmlns='urn:xmpp:sasl:2'><mechanism>PLAIN</mechanism>"
                                  "</authentication>"));
  CHECK(n.take_output().find("<bind xmlns='urn:xmpp:bind:0'>") == std::string::npos);
  n.feed("<success xmlns='urn:xmpp:sasl:2'><authorization-identifier>user@example.org</authorization-identifier>"
         "</success>");
  CHECK(n.take_output() ==
        "<iq type='set' id='xn1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>cli</resource></bind></iq>");
  n.feed("<iq type='result' id='xn1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>user@example.org/cli</jid>"
         "</bind></iq>");
  auto ev = drain(n);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == Event::Kind::Bound);
}

TEST_CASE("SASL2 failure is an Auth error with the condition", "[xmpp][sasl2]") {
  ClientNegotiator n(sasl2_config(), null_trace());
  n.start();
  n.tls_established({"TLSv1.3", ""});
  n.feed(kServerHeader + sasl2_features());
  n.feed("<failure xmlns='urn:xmpp:sasl:2'><aborted xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
         "<text>This is a terrible example.</text></failure>");
  auto f = single_failure(n);
  CHECK(f.error.category == Category::Auth);
  CHECK(f.condition == "aborted");
  CHECK(f.error.message.find("terrible") != std::string::npos);
}

TEST_CASE("SASL2 is not used when disabled", "[xmpp][sasl2]") {
  auto c = sasl2_config();
  c.sasl2 = false;
  ClientNegotiator n(c, null_trace());
  n.start();
  n.tls_established({"TLSv1.3", ""});
  n.take_output();
  n.feed(kServerHeader + sasl2_features());
  CHECK(n.take_output().starts_with("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>"));
  CHECK_FALSE(n.used_sasl2());
}

TEST_CASE("a stored FAST token logs in within the header's flight", "[xmpp][sasl2][fast]") {
  auto c = sasl2_config();
  const std::string token = "WXZzciBwYmFmdmZnZiBqdmd1IGp2eXFhcmZm";
  c.fast_token = FastToken{"HT-SHA-256-NONE", token, "2026-12-12T14:36:15Z"};
  c.password.clear();
  RecordingTrace trace;
  ClientNegotiator n(c, trace);
  n.start();
  n.tls_established({"TLSv1.3", ""});
  std::string initial = "user" + std::string(1, '\0') + crypto::hmac(crypto::Hash::Sha256, token, "Initiator");
  CHECK(n.take_output() == kHeaderTls +
                               "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-SHA-256-NONE'><initial-response>" +
                               b64(initial) +
                               "</initial-response><user-agent id='d4565fa7-4d72-4749-b3d3-740edbf87770'>"
                               "<software>xnet</software></user-agent><bind xmlns='urn:xmpp:bind:0'><tag>xnet</tag>"
                               "</bind><fast xmlns='urn:xmpp:fast:0'/></authenticate>");
  n.send(iq_get("q1"));
  // The request leaves in the same flight, right behind the token (one round trip in all).
  CHECK(n.take_output() == "<iq type='get' id='q1'><address xmlns='urn:xmpp:sic:1'/></iq>");
  SECTION("success binds at once") {
    n.feed(kServerHeader + sasl2_features() + "<success xmlns='urn:xmpp:sasl:2'><additional-data>" +
           b64(crypto::hmac(crypto::Hash::Sha256, token, "Responder")) +
           "</additional-data><authorization-identifier>user@example.org/xnet.1</authorization-identifier>"
           "<bound xmlns='urn:xmpp:bind:0'/></success>");
    auto ev = drain(n);
    REQUIRE(ev.size() == 1);
    CHECK(ev[0].kind == Event::Kind::Bound);
    CHECK(n.used_fast());
    CHECK(n.take_output().empty());
    CHECK(trace.all().find(b64(initial)) == std::string::npos);
  }
  SECTION("XEP-0484 §4.4: a rotated token in the success replaces the stored one") {
    n.feed(kServerHeader + sasl2_features() + "<success xmlns='urn:xmpp:sasl:2'><additional-data>" +
           b64(crypto::hmac(crypto::Hash::Sha256, token, "Responder")) +
           "</additional-data><authorization-identity>user@example.com/AwesomeXMPP.4232f4d4</authorization-identity>"
           "<bound xmlns='urn:xmpp:bind:0'><metadata xmlns='urn:xmpp:mam:2'><start id='YWxwaGEg' "
           "timestamp='2008-08-22T21:09:04Z'/><end id='b21lZ2Eg' timestamp='2020-04-20T14:34:21Z'/></metadata>"
           "</bound><token xmlns='urn:xmpp:fast:0' expiry='2020-03-31T14:36:15Z' "
           "token='R3VyIHpiZmcgbnl2aXIgdmYgZ3VyIGp2eXFyZmcu'/></success>");
    auto ev = drain(n);
    REQUIRE(ev.size() == 2);
    CHECK(ev[0].kind == Event::Kind::FastToken);
    CHECK(ev[0].token.token == "R3VyIHpiZmcgbnl2aXIgdmYgZ3VyIGp2eXFyZmcu");
    CHECK(ev[0].token.mechanism == "HT-SHA-256-NONE");
    CHECK(ev[0].token.expiry == "2020-03-31T14:36:15Z");
    CHECK(ev[1].kind == Event::Kind::Bound);
    CHECK(ev[1].jid == "user@example.com/AwesomeXMPP.4232f4d4");
    CHECK(trace.all().find("R3VyIHpiZmcgbnl2aXIgdmYgZ3VyIGp2eXFyZmcu") == std::string::npos);
  }
  SECTION("a refused token with a request behind it is discarded and the login retried") {
    n.feed(kServerHeader + sasl2_features() + "<failure xmlns='urn:xmpp:sasl:2'><credentials-expired "
                                              "xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/></failure>");
    auto ev = drain(n);
    REQUIRE(ev.size() == 2);
    CHECK(ev[0].kind == Event::Kind::FastToken);
    CHECK(ev[0].token.token.empty());
    CHECK(ev[1].kind == Event::Kind::Retry);
  }
  SECTION("a wrong server proof is refused") {
    n.feed(kServerHeader + sasl2_features() + "<success xmlns='urn:xmpp:sasl:2'><additional-data>" + b64("nope") +
           "</additional-data><authorization-identifier>user@example.org/xnet.1</authorization-identifier>"
           "<bound xmlns='urn:xmpp:bind:0'/></success>");
    CHECK(single_failure(n).error.category == Category::Auth);
  }
  SECTION("a server without SASL2 drops the token and asks for a retry without it") {
    n.feed(kServerHeader + features(mechanisms({"PLAIN"})));
    auto ev = drain(n);
    REQUIRE(ev.size() == 2);
    CHECK(ev[0].kind == Event::Kind::FastToken);
    CHECK(ev[0].token.token.empty());
    CHECK(ev[1].kind == Event::Kind::Retry);
  }
}

TEST_CASE("a refused FAST token without a password asks for it and continues on the stream",
          "[xmpp][sasl2][fast]") {
  auto c = sasl2_config();
  c.fast_token = FastToken{"HT-SHA-256-NONE", "old-token", ""};
  c.password.clear();
  c.request_fast_token = true;
  RecordingTrace trace;
  ClientNegotiator n(c, trace);
  n.start();
  n.tls_established({"TLSv1.3", ""});
  CHECK(n.take_output().find("mechanism='HT-SHA-256-NONE'") != std::string::npos);
  n.feed(kServerHeader + sasl2_features() +
         "<failure xmlns='urn:xmpp:sasl:2'><credentials-expired xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>"
         "</failure>");
  auto ev = drain(n);
  REQUIRE(ev.size() == 2);
  CHECK(ev[0].kind == Event::Kind::FastToken);
  CHECK(ev[0].token.token.empty());
  CHECK(ev[1].kind == Event::Kind::NeedPassword);
  CHECK(n.take_output().empty());
  n.provide_password("pencil");
  auto out = n.take_output();
  CHECK(out.starts_with("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-1'>"));
  // A fresh token is asked for in the same exchange.
  CHECK(out.find("<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-NONE'/>") != std::string::npos);
  CHECK(trace.all().find("pencil") == std::string::npos);
  CHECK(trace.all().find("old-token") == std::string::npos);
}

TEST_CASE("the password is asked for only when needed", "[xmpp][negotiation]") {
  auto c = config();
  c.password.clear();
  ClientNegotiator n(c, null_trace());
  to_sasl(n, mechanisms({"SCRAM-SHA-1"}));
  auto ev = drain(n);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == Event::Kind::NeedPassword);
  CHECK(n.take_output().empty());
  n.provide_password("pencil");
  CHECK(n.take_output() == "<auth xmlns='" + kSaslNs + "' mechanism='SCRAM-SHA-1'>" +
                               b64("n,,n=user,r=" + kCnonce1) + "</auth>");
  SECTION("an empty password is an auth failure") {
    ClientNegotiator m(c, null_trace());
    to_sasl(m, mechanisms({"SCRAM-SHA-1"}));
    drain(m);
    m.provide_password("");
    CHECK(single_failure(m).error.category == Category::Auth);
  }
}

TEST_CASE("a requested resource means RFC 6120 bind after SASL2, not Bind2", "[xmpp][sasl2]") {
  auto c = sasl2_config();
  c.resource = "cli";
  ClientNegotiator n(c, null_trace());
  n.start();
  n.tls_established({"TLSv1.3", ""});
  n.take_output();
  n.send(iq_get("q1"));
  n.feed(kServerHeader + sasl2_features());
  auto out = n.take_output();
  CHECK(out.find("urn:xmpp:bind:0") == std::string::npos);
  n.feed("<challenge xmlns='urn:xmpp:sasl:2'>" + b64(kServerFirst1) + "</challenge>");
  // Not pipelined: without Bind2 the request must wait for the bind.
  CHECK(n.take_output() == "<response xmlns='urn:xmpp:sasl:2'>" + b64(kClientFinal1) + "</response>");
  n.feed("<success xmlns='urn:xmpp:sasl:2'><additional-data>" + b64(kServerFinal1) +
         "</additional-data><authorization-identifier>user@example.org</authorization-identifier></success>");
  CHECK(n.take_output() ==
        "<iq type='set' id='xn1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>cli</resource></bind></iq>"
        "<iq type='get' id='q1'><address xmlns='urn:xmpp:sic:1'/></iq>");
}

TEST_CASE("XEP-0484 §4.5: invalidating a token", "[xmpp][sasl2][fast]") {
  auto c = sasl2_config();
  c.fast_token = FastToken{"HT-SHA-256-NONE", "tok", ""};
  c.fast_invalidate = true;
  c.request_fast_token = true;
  c.password.clear();
  ClientNegotiator n(c, null_trace());
  n.start();
  n.tls_established({"TLSv1.3", ""});
  auto out = n.take_output();
  CHECK(out.find("<fast xmlns='urn:xmpp:fast:0' invalidate='true'/>") != std::string::npos);
  CHECK(out.find("request-token") == std::string::npos);
  SECTION("a refused token is an auth failure, with no fallback") {
    n.feed(kServerHeader + sasl2_features() +
           "<failure xmlns='urn:xmpp:sasl:2'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/></failure>");
    auto ev = drain(n);
    REQUIRE(!ev.empty());
    CHECK(ev.back().kind == Event::Kind::Failed);
    CHECK(ev.back().error.category == Category::Auth);
    for (const auto& e : ev) CHECK(e.kind != Event::Kind::NeedPassword);
  }
}

TEST_CASE("a refused FAST token falls back to the password on the same stream", "[xmpp][sasl2][fast]") {
  auto c = sasl2_config();
  c.fast_token = FastToken{"HT-SHA-256-NONE", "old-token", ""};
  ClientNegotiator n(c, null_trace());
  n.start();
  n.tls_established({"TLSv1.3", ""});
  n.take_output();
  n.feed(kServerHeader + sasl2_features());
  CHECK(n.take_output().empty());
  n.feed("<failure xmlns='urn:xmpp:sasl:2'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/></failure>");
  auto ev = drain(n);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == Event::Kind::FastToken);
  CHECK(ev[0].token.token.empty());
  CHECK(n.take_output().starts_with("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-1'>"));
  CHECK(n.mechanism() == "SCRAM-SHA-1");
}

TEST_CASE("an HT-SHA-256-EXPR token sent behind the header binds to tls-exporter", "[xmpp][sasl2][fast]") {
  auto c = sasl2_config();
  const std::string token = "WXZzciBwYmFmdmZnZiBqdmd1IGp2eXFhcmZm";
  const std::string exporter(32, '\x42');
  c.fast_token = FastToken{"HT-SHA-256-EXPR", token, ""};
  c.password.clear();
  ClientNegotiator n(c, null_trace());
  n.start();
  n.tls_established({"TLSv1.3", exporter});
  std::string initial =
      "user" + std::string(1, '\0') + crypto::hmac(crypto::Hash::Sha256, token, "Initiator" + exporter);
  CHECK(n.take_output().find("mechanism='HT-SHA-256-EXPR'><initial-response>" + b64(initial) + "</initial-response>") !=
        std::string::npos);
  n.feed(kServerHeader + sasl2_features() + "<success xmlns='urn:xmpp:sasl:2'><additional-data>" +
         b64(crypto::hmac(crypto::Hash::Sha256, token, "Responder" + exporter)) +
         "</additional-data><authorization-identifier>user@example.org/xnet.1</authorization-identifier>"
         "<bound xmlns='urn:xmpp:bind:0'/></success>");
  auto ev = drain(n);
  REQUIRE(ev.size() == 1);
  CHECK(ev[0].kind == Event::Kind::Bound);
}
