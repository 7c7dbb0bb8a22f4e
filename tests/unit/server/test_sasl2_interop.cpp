// SPDX-License-Identifier: MIT
// xnet's own client codec (xmpp::ClientNegotiator) against the server's c2s session, in memory:
// the two sides of XEP-0388/0386/0484 must agree on the wire (first login with a token request,
// then a one-flight FAST login, then a refused token falling back to the password).
#include <catch2/catch.hpp>

#include <functional>

#include "server/fast_tokens.hpp"
#include "server/hub.hpp"
#include "support/fake_transport.hpp"
#include "xmpp/negotiation.hpp"

using namespace xnet::server;
using Pipe = xnet::test::FakeTransport;

namespace {

struct Outcome {
  std::string jid, mechanism, error;
  bool sasl2 = false;
  std::optional<xnet::xmpp::FastToken> token;
  int rounds = 0;
};

// Runs one connection (direct TLS with the given version/exporter) until Bound or Failed.
Outcome connect(Hub& hub, xnet::xmpp::NegotiatorConfig cfg, const std::string& version, const std::string& exporter) {
  Pipe p;
  p.exporter = exporter;
  C2sSession s(hub, p, Endpoint{"192.0.2.44", 4000}, true);
  cfg.direct_tls = true;
  xnet::xmpp::ClientNegotiator c(cfg, xnet::null_trace());
  c.start();
  c.tls_established({version, exporter});
  Outcome o;
  for (int i = 0; i < 20; ++i) {
    auto up = c.take_output();
    if (!up.empty()) {
      ++o.rounds;
      s.on_data(up);
    }
    if (p.out.empty() && !p.timers.empty()) {
      auto t = std::exchange(p.timers, {});
      for (auto& f : t) f();
    }
    c.feed(std::exchange(p.out, {}));
    while (auto e = c.next_event()) {
      using K = xnet::xmpp::Event::Kind;
      if (e->kind == K::FastToken && !e->token.token.empty()) o.token = e->token;
      if (e->kind == K::Bound) o.jid = e->jid;
      if (e->kind == K::Failed || e->kind == K::Retry) o.error = e->error.message;
    }
    if (!o.jid.empty() || !o.error.empty()) break;
  }
  o.mechanism = c.mechanism();
  o.sasl2 = c.used_sasl2();
  return o;
}

struct World {
  NullEventLog log;
  Hub hub;
  World() : hub(options(), accounts(), log, xnet::null_trace()) {}
  static HubOptions options() {
    HubOptions o;
    o.server_secret = "interop-secret-interop-secret-32";
    o.fast_tokens = std::make_shared<FastTokenStore>(*FastTokenStore::open({}, o.server_secret));
    return o;
  }
  static Accounts accounts() {
    Accounts a;
    (void)a.set("alice", "pencil", 64);
    return a;
  }
};

xnet::xmpp::NegotiatorConfig config() {
  xnet::xmpp::NegotiatorConfig c;
  c.jid = "alice@localhost";
  c.password = "pencil";
  c.user_agent_id = "3f2d0e1c-aaaa-4bbb-8ccc-0123456789ab";
  c.request_fast_token = true;
  return c;
}

}  // namespace

TEST_CASE("xnet's client and serve agree on SASL2, Bind 2 and a FAST token (TLS 1.2, HT-SHA-256-NONE)",
          "[sasl2][fast][interop]") {
  World w;
  auto first = connect(w.hub, config(), "TLSv1.2", "");
  INFO(first.error);
  REQUIRE(first.jid.starts_with("alice@localhost/xnet/"));
  CHECK(first.sasl2);
  CHECK(first.mechanism == "SCRAM-SHA-256");
  REQUIRE(first.token);
  CHECK(first.token->mechanism == "HT-SHA-256-NONE");

  auto cfg = config();
  cfg.fast_token = first.token;
  auto fast = connect(w.hub, cfg, "TLSv1.2", "");
  INFO(fast.error);
  CHECK(fast.jid == first.jid);  // the same client gets the same resource
  CHECK(fast.mechanism == "HT-SHA-256-NONE");
  CHECK(fast.rounds == 1);  // header, authenticate and the rest in one flight

  cfg.fast_token->token = std::string(86, 'q');
  auto wrong = connect(w.hub, cfg, "TLSv1.2", "");
  // A refused token: the client falls back to its password on the same stream.
  CHECK(wrong.jid == first.jid);
  CHECK(wrong.mechanism == "SCRAM-SHA-256");
}

TEST_CASE("xnet's client and serve agree on SCRAM-SHA-256-PLUS with tls-exporter (TLS 1.3)", "[sasl2][interop]") {
  World w;
  auto cfg = config();
  cfg.request_fast_token = false;
  auto o = connect(w.hub, cfg, "TLSv1.3", std::string(32, '\x6e'));
  INFO(o.error);
  CHECK(o.jid.starts_with("alice@localhost/xnet/"));
  CHECK(o.mechanism == "SCRAM-SHA-256-PLUS");
  CHECK(o.sasl2);
}
