// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include "server/crypto.hpp"
#include "server/scram.hpp"
#include "server/throttle.hpp"

using namespace xnet::server;
using namespace std::chrono_literals;
using V = AuthThrottle::Verdict;

TEST_CASE("throttle: guesses from many addresses exhaust the account bucket, which refills", "[throttle]") {
  AuthThrottle t({3, 10s, 100, 1s, 1000});
  auto now = AuthThrottle::Clock::now();
  for (int i = 0; i < 3; ++i) {
    std::string ip = "10.0.0." + std::to_string(i);
    REQUIRE(t.check(ip, "alice", now) == V::Allowed);
    t.failed(ip, "alice", now);
  }
  CHECK(t.check("10.0.0.99", "alice", now) == V::AccountThrottled);
  CHECK(t.check("10.0.0.99", "bob", now) == V::Allowed);
  CHECK(t.retry_after("10.0.0.99", "alice", now) == Approx(10.0));
  // One token back after one refill interval, all of them later: nobody is locked out for good.
  CHECK(t.check("10.0.0.99", "alice", now + 9s) == V::AccountThrottled);
  CHECK(t.check("10.0.0.99", "alice", now + 10s) == V::Allowed);
  CHECK(t.check("10.0.0.99", "alice", now + 1h) == V::Allowed);
  CHECK(t.size() == 3);  // full buckets are forgotten (the three address buckets are not yet)
}

TEST_CASE("throttle: one address guessing many accounts hits its address bucket", "[throttle]") {
  AuthThrottle t({100, 1s, 4, 5s, 1000});
  auto now = AuthThrottle::Clock::now();
  for (int i = 0; i < 4; ++i) t.failed("192.0.2.1", "user" + std::to_string(i), now);
  CHECK(t.check("192.0.2.1", "other", now) == V::AddressThrottled);
  CHECK(t.check("192.0.2.2", "other", now) == V::Allowed);
  // IPv6: the /64 is one address.
  for (int i = 0; i < 4; ++i) t.failed("2001:db8::" + std::to_string(i + 1), "x" + std::to_string(i), now);
  CHECK(t.check("2001:db8::ffff", "y", now) == V::AddressThrottled);
  CHECK(t.check("2001:db8:0:1::1", "y", now) == V::Allowed);
  CHECK(AuthThrottle::address_key("2001:db8::5") == "2001:db8::/64");
  CHECK(AuthThrottle::address_key("127.0.0.1") == "127.0.0.1");
}

TEST_CASE("throttle: the owner's known address keeps its own allowance during an attack", "[throttle]") {
  AuthThrottle t({2, 60s, 100, 1s, 1000});
  auto now = AuthThrottle::Clock::now();
  t.succeeded("198.51.100.7", "alice", now);
  for (int i = 0; i < 10; ++i) t.failed("203.0.113." + std::to_string(i), "alice", now);
  CHECK(t.check("203.0.113.50", "alice", now) == V::AccountThrottled);
  CHECK(t.check("198.51.100.7", "alice", now) == V::Allowed);
  // The owner's own typos are bounded too.
  t.failed("198.51.100.7", "alice", now);
  t.failed("198.51.100.7", "alice", now);
  CHECK(t.check("198.51.100.7", "alice", now) == V::AccountThrottled);
}

TEST_CASE("throttle: tables stay bounded", "[throttle]") {
  AuthThrottle t({5, 1s, 5, 1s, 100});
  auto now = AuthThrottle::Clock::now();
  for (int i = 0; i < 5000; ++i) t.failed("10.1." + std::to_string(i / 256) + "." + std::to_string(i % 256), "u" + std::to_string(i), now);
  CHECK(t.size() <= 200);
}

TEST_CASE("fake SCRAM credentials: stable per server, different between servers, shaped like real ones", "[scram]") {
  std::string s1 = crypto::random_bytes(32), s2 = crypto::random_bytes(32);
  auto a = fake_scram_credential(crypto::Hash::Sha256, s1, "nobody", 4096);
  auto b = fake_scram_credential(crypto::Hash::Sha256, s1, "nobody", 4096);
  auto c = fake_scram_credential(crypto::Hash::Sha256, s2, "nobody", 4096);
  auto d = fake_scram_credential(crypto::Hash::Sha1, s1, "nobody", 4096);
  auto real = derive_scram(crypto::Hash::Sha256, "pw", crypto::random_bytes(16), 4096);
  CHECK(a.salt == b.salt);
  CHECK(a.salt != c.salt);
  CHECK(a.salt != d.salt);
  CHECK(a.salt.size() == real.salt.size());
  CHECK(a.stored_key.size() == real.stored_key.size());
  CHECK(d.stored_key.size() == 20);
  CHECK(a.iterations == 4096);
  CHECK(fake_scram_credential(crypto::Hash::Sha256, s1, "nobody", 10000).iterations == 10000);

  // The exchange for an unknown user looks like a real one and fails only at the proof.
  ScramServer srv(crypto::Hash::Sha256, [](const std::string&) { return std::optional<ScramCredential>(); }, "srv",
                  [&](const std::string& u) { return fake_scram_credential(crypto::Hash::Sha256, s1, u, 4096); });
  auto first = srv.first("n,,n=nobody,r=abc");
  REQUIRE(first);
  CHECK(*first == "r=abcsrv,s=" + crypto::base64(a.salt) + ",i=4096");
  auto fin = srv.final("c=biws,r=abcsrv,p=" + crypto::base64(std::string(32, 'x')));
  REQUIRE(!fin);
  CHECK(sasl_condition(fin.error()) == "not-authorized");
  // Even a proof made from the fake keys does not log in.
  ScramServer srv2(crypto::Hash::Sha256, [](const std::string&) { return std::optional<ScramCredential>(); }, "srv",
                   [&](const std::string& u) { return fake_scram_credential(crypto::Hash::Sha256, s1, u, 4096); });
  REQUIRE(srv2.first("n,,n=nobody,r=abc"));
  std::string am = "n=nobody,r=abc," + *first + ",c=biws,r=abcsrv";
  std::string sig = crypto::hmac(crypto::Hash::Sha256, a.stored_key, am);
  std::string ck(32, '\0');  // a client key whose hash is not stored_key: fails either way
  for (std::size_t i = 0; i < 32; ++i) ck[i] = static_cast<char>(ck[i] ^ sig[i]);
  CHECK(!srv2.final("c=biws,r=abcsrv,p=" + crypto::base64(ck)));
}
