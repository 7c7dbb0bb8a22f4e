// SPDX-License-Identifier: MIT
// `lan send`: the message text split into bodies and made into chat messages, before any I/O.
#include <catch2/catch.hpp>

#include "mdns/ll_net.hpp"

using namespace xnet;

TEST_CASE("lan send: one body, trailing newlines of piped input trimmed", "[mdns][send]") {
  mdns::OutgoingText t{"hello\nworld\n\r\n", false, true, "romeo@forza", "juliet@pronto", "t1"};
  auto m = mdns::make_messages(t);
  REQUIRE(m);
  REQUIRE(m->size() == 1);
  CHECK((*m)[0].body == "hello\nworld");
  CHECK((*m)[0].from == "romeo@forza");
  CHECK((*m)[0].to == "juliet@pronto");
  CHECK((*m)[0].type == "chat");
  CHECK((*m)[0].thread == "t1");
  t.from_stdin = false;  // a message given as an argument is sent as it is
  CHECK(mdns::make_messages(t)->at(0).body == "hello\nworld\n\r\n");
}

TEST_CASE("lan send: --each-line gives one message per non-empty line with distinct ids", "[mdns][send]") {
  mdns::OutgoingText t{"one\r\n\ntwo\nthree", true, true, "a@b", "c@d", ""};
  auto m = mdns::make_messages(t);
  REQUIRE(m);
  REQUIRE(m->size() == 3);
  CHECK((*m)[0].body == "one");
  CHECK((*m)[2].body == "three");
  CHECK((*m)[0].id != (*m)[1].id);
}

TEST_CASE("lan send: empty input and XML-forbidden characters are input errors", "[mdns][send]") {
  for (const char* text : {"", "\n\n", "\r\n"}) {
    auto m = mdns::make_messages({text, false, true, "a@b", "c@d", ""});
    REQUIRE_FALSE(m);
    CHECK(m.error().category == Category::Input);
  }
  auto bad = mdns::make_messages({std::string("a\x01") + "b", false, false, "a@b", "c@d", ""});
  REQUIRE_FALSE(bad);
  auto lines = mdns::make_messages({"\n\n", true, true, "a@b", "c@d", ""});
  REQUIRE_FALSE(lines);
}
