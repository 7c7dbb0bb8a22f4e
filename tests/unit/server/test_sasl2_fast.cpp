// SPDX-License-Identifier: MIT
// XEP-0484 FAST on the server: the token store (hashed and masked on disk, slots, expiry,
// rotation, invalidation) and FAST logins through the c2s session with a fake transport.
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <functional>
#include <sstream>

#include "server/crypto.hpp"
#include "server/fast_tokens.hpp"
#include "server/hub.hpp"
#include "server/sasl2.hpp"
#include "support/fake_transport.hpp"
#include "xmpp/sasl.hpp"

using namespace xnet::server;
using xnet::test::FakeTransport;
using xnet::test::kHeader;
using xnet::test::RecordingTrace;
using Catch::Contains;

namespace {

const std::string kSecret = "0123456789abcdef0123456789abcdef";
constexpr std::int64_t kNow = 1'800'000'000;
constexpr std::int64_t kDay = 86400;

// What a client sends: username NUL HMAC(token, "Initiator" || cb), by xnet's own client code.
std::string initiator(const std::string& mech, const std::string& user, const std::string& token,
                      const std::string& cb = {}) {
  xnet::xmpp::sasl::Credentials c;
  c.username = user;
  c.password = token;
  c.cb_exporter = cb;
  auto m = xnet::xmpp::sasl::make_ht(mech, c);
  REQUIRE(m);
  auto r = m->initial();
  return r.substr(r.find('\0') + 1);
}

bool client_accepts(const std::string& mech, const std::string& token, const std::string& responder,
                    const std::string& cb = {}) {
  xnet::xmpp::sasl::Credentials c;
  c.username = "alice";
  c.password = token;
  c.cb_exporter = cb;
  auto m = xnet::xmpp::sasl::make_ht(mech, c);
  m->initial();
  return static_cast<bool>(m->finish(responder));
}

struct TempDir {
  std::filesystem::path p;
  TempDir() {
    char tmpl[] = "/tmp/xnet-fast-XXXXXX";
    p = ::mkdtemp(tmpl);
  }
  ~TempDir() { std::filesystem::remove_all(p); }
};

std::string slurp(const std::filesystem::path& p) {
  std::ifstream in(p);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

TEST_CASE("FAST store: a token checks with the HT mechanisms, and the client accepts the server's answer",
          "[fast][store]") {
  auto s = *FastTokenStore::open({}, kSecret);
  auto t = s.issue("alice", "ua-1", "HT-SHA-256-NONE", "fp", kNow);
  CHECK(t.token.size() > 64);  // HMAC then keys with SHA-256(token): what the store keeps
  CHECK(t.expiry == kNow + 14 * kDay);
  auto v = s.verify("alice", "ua-1", "HT-SHA-256-NONE", initiator("HT-SHA-256-NONE", "alice", t.token), "", "fp",
                    std::nullopt, false, kNow + 60);
  REQUIRE(v.outcome == FastTokenStore::Outcome::Ok);
  CHECK(client_accepts("HT-SHA-256-NONE", t.token, v.responder));
  CHECK_FALSE(v.rotate);

  const std::string cb(32, '\x33');
  auto e = s.issue("alice", "ua-2", "HT-SHA-256-EXPR", "fp", kNow);
  auto ok = s.verify("alice", "ua-2", "HT-SHA-256-EXPR", initiator("HT-SHA-256-EXPR", "alice", e.token, cb), cb,
                     "fp", std::nullopt, false, kNow);
  REQUIRE(ok.outcome == FastTokenStore::Outcome::Ok);
  CHECK(client_accepts("HT-SHA-256-EXPR", e.token, ok.responder, cb));

  struct Case {
    const char* what;
    std::string user, client, mech, mac, cb, fp;
    std::int64_t now;
    FastTokenStore::Outcome want;
  } cases[] = {
      {"another TLS session (EXPR)", "alice", "ua-2", "HT-SHA-256-EXPR",
       initiator("HT-SHA-256-EXPR", "alice", e.token, std::string(32, '\x01')), cb, "fp", kNow,
       FastTokenStore::Outcome::Invalid},
      {"the token with another mechanism", "alice", "ua-2", "HT-SHA-256-NONE",
       initiator("HT-SHA-256-NONE", "alice", e.token), "", "fp", kNow, FastTokenStore::Outcome::Invalid},
      {"another client's token", "alice", "ua-1", "HT-SHA-256-EXPR",
       initiator("HT-SHA-256-EXPR", "alice", e.token, cb), cb, "fp", kNow, FastTokenStore::Outcome::Invalid},
      {"a wrong token", "alice", "ua-1", "HT-SHA-256-NONE",
       initiator("HT-SHA-256-NONE", "alice", std::string(86, 'x')), "", "fp", kNow, FastTokenStore::Outcome::Invalid},
      {"another account", "bob", "ua-1", "HT-SHA-256-NONE", initiator("HT-SHA-256-NONE", "bob", t.token), "", "fp",
       kNow, FastTokenStore::Outcome::Invalid},
  };
  for (const auto& c : cases) {
    INFO(c.what);
    CHECK(s.verify(c.user, c.client, c.mech, c.mac, c.cb, c.fp, std::nullopt, false, c.now).outcome == c.want);
  }
}

TEST_CASE("FAST store: expiry, password change, replayed count and invalidation", "[fast][store]") {
  auto s = *FastTokenStore::open({}, kSecret);
  auto mac = [](const std::string& tok) { return initiator("HT-SHA-256-NONE", "alice", tok); };
  auto t = s.issue("alice", "ua", "HT-SHA-256-NONE", "fp1", kNow);
  using O = FastTokenStore::Outcome;
  // Expired: reported as such (the client held a real token), then gone.
  CHECK(s.verify("alice", "ua", "HT-SHA-256-NONE", mac(t.token), "", "fp1", {}, false, t.expiry).outcome == O::Expired);
  CHECK(s.verify("alice", "ua", "HT-SHA-256-NONE", mac(t.token), "", "fp1", {}, false, kNow).outcome == O::Invalid);

  // The password changed: the credential fingerprint differs.
  t = s.issue("alice", "ua", "HT-SHA-256-NONE", "fp1", kNow);
  CHECK(s.verify("alice", "ua", "HT-SHA-256-NONE", mac(t.token), "", "fp2", {}, false, kNow).outcome == O::Expired);
  CHECK(s.size() == 0);

  // count must grow (a replayed 0-RTT flight is refused).
  t = s.issue("alice", "ua", "HT-SHA-256-NONE", "fp1", kNow);
  CHECK(s.verify("alice", "ua", "HT-SHA-256-NONE", mac(t.token), "", "fp1", 5u, false, kNow).outcome == O::Ok);
  CHECK(s.verify("alice", "ua", "HT-SHA-256-NONE", mac(t.token), "", "fp1", 5u, false, kNow).outcome == O::Expired);
  CHECK(s.verify("alice", "ua", "HT-SHA-256-NONE", mac(t.token), "", "fp1", 6u, false, kNow).outcome == O::Ok);

  // invalidate='true': accepted once, then never again.
  CHECK(s.verify("alice", "ua", "HT-SHA-256-NONE", mac(t.token), "", "fp1", {}, true, kNow).outcome == O::Ok);
  CHECK(s.verify("alice", "ua", "HT-SHA-256-NONE", mac(t.token), "", "fp1", {}, false, kNow).outcome == O::Invalid);

  auto a = s.issue("alice", "ua", "HT-SHA-256-NONE", "fp1", kNow);
  s.issue("bob", "ua", "HT-SHA-256-NONE", "fp1", kNow);
  s.forget_user("alice");
  CHECK(s.verify("alice", "ua", "HT-SHA-256-NONE", mac(a.token), "", "fp1", {}, false, kNow).outcome == O::Invalid);
  CHECK(s.size() == 1);
}

TEST_CASE("FAST store: rotation keeps the old token until the new one is used (XEP-0484 §3.5, §6)", "[fast][store]") {
  auto s = *FastTokenStore::open({}, kSecret);
  auto mac = [](const std::string& tok) { return initiator("HT-SHA-256-NONE", "alice", tok); };
  using O = FastTokenStore::Outcome;
  auto old = s.issue("alice", "ua", "HT-SHA-256-NONE", "fp", kNow);
  // Used early: no rotation. In its second half: rotate.
  CHECK_FALSE(s.verify("alice", "ua", "HT-SHA-256-NONE", mac(old.token), "", "fp", {}, false, kNow + kDay).rotate);
  auto v = s.verify("alice", "ua", "HT-SHA-256-NONE", mac(old.token), "", "fp", {}, false, kNow + 8 * kDay);
  CHECK(v.outcome == O::Ok);
  CHECK(v.rotate);
  auto fresh = s.issue("alice", "ua", "HT-SHA-256-NONE", "fp", kNow + 8 * kDay);
  // The client may not have received the fresh one: the old one still works (no second rotation).
  v = s.verify("alice", "ua", "HT-SHA-256-NONE", mac(old.token), "", "fp", {}, false, kNow + 9 * kDay);
  CHECK(v.outcome == O::Ok);
  CHECK_FALSE(v.rotate);
  // An unused token is replaced by a newer one.
  auto newer = s.issue("alice", "ua", "HT-SHA-256-NONE", "fp", kNow + 9 * kDay);
  CHECK(s.verify("alice", "ua", "HT-SHA-256-NONE", mac(fresh.token), "", "fp", {}, false, kNow + 9 * kDay).outcome ==
        O::Invalid);
  // Using the newest retires the old one.
  CHECK(s.verify("alice", "ua", "HT-SHA-256-NONE", mac(newer.token), "", "fp", {}, false, kNow + 9 * kDay).outcome ==
        O::Ok);
  CHECK(s.verify("alice", "ua", "HT-SHA-256-NONE", mac(old.token), "", "fp", {}, false, kNow + 9 * kDay).outcome ==
        O::Invalid);
  CHECK(s.size() == 1);
}

TEST_CASE("FAST store on disk: mode 0600, no token in it, useless without the server secret", "[fast][store]") {
  TempDir d;
  auto path = d.p / "state" / "fast-tokens.json";
  FastTokenStore::Issued t;
  {
    auto s = *FastTokenStore::open(path, kSecret);
    t = s.issue("alice", "ua", "HT-SHA-256-NONE", "fp", kNow);
  }
  struct stat st {};
  REQUIRE(::stat(path.c_str(), &st) == 0);
  CHECK((st.st_mode & 0777) == 0600);
  auto text = slurp(path);
  CHECK_THAT(text, !Contains(t.token));
  CHECK_THAT(text, !Contains(crypto::base64(t.token)));
  CHECK_THAT(text, !Contains(crypto::base64(crypto::digest(crypto::Hash::Sha256, t.token))));
  auto mac = initiator("HT-SHA-256-NONE", "alice", t.token);
  {
    auto s = *FastTokenStore::open(path, kSecret);
    CHECK(s.size() == 1);
    CHECK(s.verify("alice", "ua", "HT-SHA-256-NONE", mac, "", "fp", {}, false, kNow).outcome ==
          FastTokenStore::Outcome::Ok);
  }
  {
    auto s = *FastTokenStore::open(path, "another server's secret, 32 b.");
    CHECK(s.verify("alice", "ua", "HT-SHA-256-NONE", mac, "", "fp", {}, false, kNow).outcome ==
          FastTokenStore::Outcome::Invalid);
  }
  std::ofstream(path) << "{not json";
  auto bad = FastTokenStore::open(path, kSecret);
  REQUIRE_FALSE(bad);
  CHECK(bad.error().category == xnet::Category::Config);
}

// --- through the session ------------------------------------------------------------------

namespace {

const std::string kAgent = "<user-agent id='ua-fast-test'><software>xnet</software></user-agent>";
const std::string kBind = "<bind xmlns='urn:xmpp:bind:0'><tag>xnet</tag></bind>";

struct World {
  NullEventLog log;
  RecordingTrace trace;
  Hub hub;
  World() : hub(options(), accounts("pencil"), log, trace) {}
  static HubOptions options() {
    HubOptions o;
    o.server_secret = kSecret;
    o.fast_tokens = std::make_shared<FastTokenStore>(*FastTokenStore::open({}, kSecret));
    return o;
  }
  static Accounts accounts(const std::string& pw) {
    Accounts a;
    (void)a.set("alice", pw, 64);
    return a;
  }
};

struct Client {
  FakeTransport t;
  C2sSession s;
  explicit Client(Hub& hub) : s(hub, t, Endpoint{"198.51.100.9", 40000}, true) {}
  std::string feed(const std::string& d) {
    s.on_data(d);
    return t.take();
  }
};

std::string attr(const std::string& xml, const std::string& name) {
  auto a = xml.find(name + "='");
  if (a == std::string::npos) return {};
  a += name.size() + 2;
  return xml.substr(a, xml.find('\'', a) - a);
}

std::string fast_authenticate(const std::string& mech, const std::string& token, const std::string& cb = {},
                              const std::string& fast_attrs = {}) {
  xnet::xmpp::sasl::Credentials c;
  c.username = "alice";
  c.password = token;
  c.cb_exporter = cb;
  auto m = xnet::xmpp::sasl::make_ht(mech, c);
  return "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='" + mech + "'><initial-response>" +
         crypto::base64(m->initial()) + "</initial-response>" + kAgent + kBind + "<fast xmlns='urn:xmpp:fast:0'" +
         fast_attrs + "/></authenticate>";
}

// A password login asking for a token; returns the token.
std::string password_login_with_token(World& w, const std::string& mech, const std::string& exporter = {}) {
  Client c(w.hub);
  c.t.exporter = exporter;
  auto out = c.feed(kHeader + "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>" +
                    crypto::base64(std::string("\0alice\0pencil", 13)) + "</initial-response>" + kAgent + kBind +
                    "<request-token xmlns='urn:xmpp:fast:0' mechanism='" + mech + "'/></authenticate>");
  REQUIRE(c.s.state() == C2sSession::State::Bound);
  REQUIRE_THAT(out, Contains("<token xmlns='urn:xmpp:fast:0' expiry='"));
  return attr(out, "token");
}

}  // namespace

TEST_CASE("FAST through the session: offered, issued on request-token, then one flight logs in and binds",
          "[fast][session]") {
  World w;
  {
    Client c(w.hub);
    c.t.exporter = std::string(32, '\x07');
    auto out = c.feed(kHeader);
    CHECK_THAT(out, Contains("<inline><bind xmlns='urn:xmpp:bind:0'/><fast xmlns='urn:xmpp:fast:0'>"
                             "<mechanism>HT-SHA-256-EXPR</mechanism><mechanism>HT-SHA-256-NONE</mechanism></fast>"));
  }
  auto token = password_login_with_token(w, "HT-SHA-256-NONE");
  CHECK(token.size() == 86);
  CHECK_THAT(w.trace.all, !Contains(token));
  CHECK_THAT(w.trace.all, Contains("token='[redacted]'"));

  Client c(w.hub);
  auto out = c.feed(kHeader + fast_authenticate("HT-SHA-256-NONE", token) +
                    "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>");
  REQUIRE(c.s.state() == C2sSession::State::Bound);
  CHECK_THAT(out, Contains("<authorization-identifier>alice@localhost/xnet/"));
  CHECK_THAT(out, !Contains("<token "));  // fresh token: no rotation
  auto a = out.find("<additional-data>");
  REQUIRE(a != std::string::npos);
  auto responder = crypto::unbase64(out.substr(a + 17, out.find("</additional-data>") - a - 17));
  REQUIRE(responder);
  CHECK(client_accepts("HT-SHA-256-NONE", token, *responder));
  CHECK_THAT(out, Contains("id='p'"));
  CHECK_THAT(w.trace.all, !Contains(token));

  // EXPR is bound to the TLS session's exporter.
  const std::string cb(32, '\x21');
  auto t2 = password_login_with_token(w, "HT-SHA-256-EXPR", cb);
  Client e(w.hub);
  e.t.exporter = cb;
  e.feed(kHeader + fast_authenticate("HT-SHA-256-EXPR", t2, cb));
  CHECK(e.s.state() == C2sSession::State::Bound);
}

TEST_CASE("FAST through the session: a wrong token fails quietly, pipelined stanzas are dropped, the password works",
          "[fast][session]") {
  World w;
  password_login_with_token(w, "HT-SHA-256-NONE");
  Client c(w.hub);
  auto out = c.feed(kHeader + fast_authenticate("HT-SHA-256-NONE", std::string(86, 'z')) +
                    "<iq type='get' id='p'><ping xmlns='urn:xmpp:ping'/></iq>");
  CHECK_THAT(out, !Contains("<failure"));  // held back like any failed guess
  c.t.fire_timers();
  out = c.t.take();
  CHECK(out == "<failure xmlns='urn:xmpp:sasl:2'><not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/></failure>");
  CHECK_FALSE(c.t.closed);
  out = c.feed("<authenticate xmlns='urn:xmpp:sasl:2' mechanism='PLAIN'><initial-response>" +
               crypto::base64(std::string("\0alice\0pencil", 13)) + "</initial-response>" + kAgent + kBind +
               "</authenticate>");
  CHECK_THAT(out, Contains("<success xmlns='urn:xmpp:sasl:2'>"));
  CHECK(c.s.state() == C2sSession::State::Bound);
}

TEST_CASE("FAST through the session: a password change or an invalidated token gives credentials-expired at once",
          "[fast][session]") {
  World w;
  auto token = password_login_with_token(w, "HT-SHA-256-NONE");
  w.hub.set_accounts(World::accounts("new password"));
  Client c(w.hub);
  auto out = c.feed(kHeader + fast_authenticate("HT-SHA-256-NONE", token));
  CHECK(out.substr(out.find("<failure")) ==
        "<failure xmlns='urn:xmpp:sasl:2'><credentials-expired xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/></failure>");
  CHECK(c.t.timers.empty());

  w.hub.set_accounts(World::accounts("pencil"));
  auto t2 = password_login_with_token(w, "HT-SHA-256-NONE");
  Client d(w.hub);
  out = d.feed(kHeader + fast_authenticate("HT-SHA-256-NONE", t2, {}, " invalidate='true'"));
  CHECK_THAT(out, Contains("<success"));
  CHECK_THAT(out, !Contains("<token "));
  Client e(w.hub);
  e.feed(kHeader + fast_authenticate("HT-SHA-256-NONE", t2));
  e.t.fire_timers();
  CHECK_THAT(e.t.take(), Contains("<not-authorized"));
}
