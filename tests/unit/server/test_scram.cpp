// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include "server/accounts.hpp"
#include "server/crypto.hpp"
#include "server/scram.hpp"

using namespace xnet::server;
using crypto::Hash;

namespace {
ScramCredential cred(Hash h, const std::string& password, const std::string& salt_b64) {
  return derive_scram(h, password, *crypto::unbase64(salt_b64), 4096);
}
}  // namespace

TEST_CASE("SCRAM-SHA-1 server side follows the RFC 5802 vector", "[scram]") {
  auto c = cred(Hash::Sha1, "pencil", "QSXCR+Q6sek8bf92");
  ScramServer s(Hash::Sha1, [&](const std::string& u) -> std::optional<ScramCredential> {
    if (u == "user") return c;
    return std::nullopt;
  }, "3rfcNHYJY1ZVvWVs7j");
  auto first = s.first("n,,n=user,r=fyko+d2lbbFgONRv9qkxdawL");
  REQUIRE(first);
  CHECK(*first == "r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,s=QSXCR+Q6sek8bf92,i=4096");
  auto fin = s.final("c=biws,r=fyko+d2lbbFgONRv9qkxdawL3rfcNHYJY1ZVvWVs7j,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=");
  REQUIRE(fin);
  CHECK(*fin == "v=rmF9pqV8S7suAoZWja4dJRkFsKQ=");
}

TEST_CASE("SCRAM-SHA-256 server side follows the RFC 7677 vector", "[scram]") {
  auto c = cred(Hash::Sha256, "pencil", "W22ZaJ0SNY7soEsUEjb6gQ==");
  ScramServer s(Hash::Sha256, [&](const std::string&) { return std::optional<ScramCredential>(c); },
                "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0");
  auto first = s.first("n,,n=user,r=rOprNGfwEbeRWgbNEkqO");
  REQUIRE(first);
  CHECK(*first == "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096");
  auto fin = s.final(
      "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=");
  REQUIRE(fin);
  CHECK(*fin == "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=");
}

TEST_CASE("SCRAM refuses wrong proofs, unknown users, channel binding and malformed messages", "[scram]") {
  auto c = cred(Hash::Sha1, "pencil", "QSXCR+Q6sek8bf92");
  auto lookup = [&](const std::string& u) -> std::optional<ScramCredential> {
    if (u == "user") return c;
    return std::nullopt;
  };
  SECTION("wrong proof") {
    ScramServer s(Hash::Sha1, lookup, "X");
    REQUIRE(s.first("n,,n=user,r=abc"));
    auto r = s.final("c=biws,r=abcX,p=AAAAAAAAAAAAAAAAAAAAAAAAAAA=");
    REQUIRE_FALSE(r);
    CHECK(sasl_condition(r.error()) == "not-authorized");
  }
  SECTION("unknown user gets a salt and a failure at the end, like a wrong password") {
    ScramServer s(Hash::Sha1, lookup, "X");
    auto f = s.first("n,,n=nobody,r=abc");
    REQUIRE(f);
    CHECK(f->find(",s=") != std::string::npos);
    auto r = s.final("c=biws,r=abcX,p=v0X8v3Bz2T0CJGbJQyF0X+HI4Ts=");
    REQUIRE_FALSE(r);
    CHECK(sasl_condition(r.error()) == "not-authorized");
  }
  struct Bad {
    const char* first;
    const char* cond;
  } bad[] = {
      {"p=tls-unique,,n=user,r=abc", "malformed-request"},
      {"x,,n=user,r=abc", "malformed-request"},
      {"n,,r=abc", "malformed-request"},
      {"n,,n=us=ZZer,r=abc", "malformed-request"},
      {"n", "malformed-request"},
  };
  for (const auto& b : bad) {
    ScramServer s(Hash::Sha1, lookup, "X");
    auto r = s.first(b.first);
    INFO(b.first);
    REQUIRE_FALSE(r);
    CHECK(sasl_condition(r.error()) == b.cond);
  }
  SECTION("nonce mismatch and bad base64") {
    ScramServer s(Hash::Sha1, lookup, "X");
    REQUIRE(s.first("n,,n=user,r=abc"));
    CHECK(sasl_condition(s.final("c=biws,r=other,p=AAAA").error()) == "malformed-request");
    ScramServer t(Hash::Sha1, lookup, "X");
    REQUIRE(t.first("n,,n=user,r=abc"));
    CHECK(sasl_condition(t.final("c=biws,r=abcX,p=!!!").error()) == "incorrect-encoding");
  }
}

TEST_CASE("stored credentials verify PLAIN passwords and never hold the password", "[scram][accounts]") {
  Accounts a;
  REQUIRE(a.set("Alice", "s3cret"));
  auto c = a.find("alice", Hash::Sha256);
  REQUIRE(c);
  CHECK(check_password(Hash::Sha256, *c, "s3cret"));
  CHECK_FALSE(check_password(Hash::Sha256, *c, "s3cret "));
  CHECK(a.users() == std::vector<std::string>{"alice"});
  CHECK_FALSE(a.set("bad@name", "x"));
  CHECK_FALSE(a.set("ok", ""));
  CHECK(a.remove("ALICE"));
  CHECK(a.empty());
}

TEST_CASE("base64 decoding is strict", "[crypto]") {
  CHECK(crypto::unbase64("AGp1bGlldAByMG0zMG15cjBtMzA=") == std::string("\0juliet\0r0m30myr0m30", 20));
  CHECK(crypto::unbase64("") == std::string());
  CHECK_FALSE(crypto::unbase64("abc"));
  CHECK_FALSE(crypto::unbase64("ab=c"));
  CHECK_FALSE(crypto::unbase64("a b="));
  CHECK(crypto::base64("\x01\x02") == "AQI=");
}
