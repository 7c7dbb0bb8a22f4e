// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include "xep/turn_rest.hpp"

using namespace xnet::turn_rest;

TEST_CASE("TURN REST vectors from stun-discovery.md §6", "[turn_rest]") {
  struct Row {
    const char* username;
    const char* password;
  };
  for (auto r : {Row{"1700000000:alice", "Cd/49soE35ICqcJF/bCTn8Z4OyE="}, Row{"1700000000", "CWyHi3zCeWqXBir9thl4m+iZPRY="},
                 Row{"1767225600:alice", "qnVCfmDqv+5N7tpxKH0liO/huIU="},
                 Row{"1767229200:alice", "NtnEvQtTWyjHZIle0+Ms+zW2Ryc="}}) {
    INFO(r.username);
    REQUIRE(password_for("north", r.username) == r.password);
  }
  auto c = generate("north", 1700000000, "alice");
  REQUIRE(c.username == "1700000000:alice");
  REQUIRE(c.password == "Cd/49soE35ICqcJF/bCTn8Z4OyE=");
  REQUIRE(c.password.size() == 28);
  REQUIRE(c.expiry == 1700000000);
  REQUIRE(generate("north", 1700000000).username == "1700000000");
}

TEST_CASE("TURN REST usernames decode", "[turn_rest]") {
  auto a = decode_username("1767225600:alice");
  REQUIRE(a);
  REQUIRE(a->expiry == 1767225600);
  REQUIRE(a->user == "alice");
  auto b = decode_username("1767225600");
  REQUIRE(b);
  REQUIRE(b->user.empty());
  auto c = decode_username("alice:1767225600");  // coturn's other order
  REQUIRE(c);
  REQUIRE(c->expiry == 1767225600);
  REQUIRE(c->user == "alice");
  auto d = decode_username("1767225600:x:y");  // user part with the separator in it
  REQUIRE(d);
  REQUIRE(d->user == "x:y");
  REQUIRE_FALSE(decode_username("alice"));
  REQUIRE_FALSE(decode_username("12345:alice"));  // too short for a timestamp
  REQUIRE_FALSE(decode_username(""));
  REQUIRE_FALSE(decode_username("17672256x0:alice"));
}

TEST_CASE("non-ASCII user parts are signed as UTF-8 bytes", "[turn_rest]") {
  auto c = generate("north", 1700000000, "\xc3\xa9lodie");
  REQUIRE(c.username == "1700000000:\xc3\xa9lodie");
  REQUIRE(c.password == password_for("north", c.username));
  REQUIRE(c.password != password_for("north", "1700000000:elodie"));
}
