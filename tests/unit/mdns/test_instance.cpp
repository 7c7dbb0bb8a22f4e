// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include "mdns/instance.hpp"

using namespace xnet;
using namespace xnet::mdns;

TEST_CASE("instance names user@machine", "[mdns][instance]") {
  struct Ok {
    const char* text;
    const char* user;
    const char* machine;
  };
  for (const auto& c : std::vector<Ok>{{"juliet@pronto", "juliet", "pronto"},
                                       {"J. Doe@lab-1", "J. Doe", "lab-1"},
                                       {"a@b@host", "a@b", "host"},
                                       {"j\xC3\xBCrgen@box", "j\xC3\xBCrgen", "box"},
                                       {"\xE6\x97\xA5\xE6\x9C\xAC@x", "\xE6\x97\xA5\xE6\x9C\xAC", "x"}}) {
    SECTION(c.text) {
      auto n = parse_instance(c.text);
      REQUIRE(n);
      CHECK(n->user == c.user);
      CHECK(n->machine == c.machine);
      CHECK(n->str() == c.text);
    }
  }
  for (const char* bad : {"nobody", "@host", "user@", "user@m\xC3\xA4" "chine", "user@host.local", "user@-x",
                          "u\x01@x", "bad\xff@x", "u@under_score"}) {
    SECTION(std::string("rejects ") + bad) {
      auto n = parse_instance(bad);
      REQUIRE_FALSE(n);
      CHECK(n.error().category == Category::Input);
    }
  }
  SECTION("63 bytes fit, 64 do not (counted in bytes)") {
    std::string u61(61, 'u');
    CHECK(parse_instance(u61 + "@m"));
    CHECK_FALSE(parse_instance(u61 + "u@m"));
    // 20 three-byte characters = 60 bytes + "@ab" = 63.
    std::string snow;
    for (int i = 0; i < 20; ++i) snow += "\xE2\x98\x83";
    CHECK(parse_instance(snow + "@ab"));
    CHECK_FALSE(parse_instance(snow + "@abc"));
  }
}

TEST_CASE("network labels", "[mdns][instance]") {
  CHECK(valid_instance_label("Bonjour Name.with dots"));
  CHECK_FALSE(valid_instance_label(""));
  CHECK_FALSE(valid_instance_label(std::string(64, 'a')));
  CHECK_FALSE(valid_instance_label(std::string("a\0b", 3)));
  CHECK_FALSE(valid_instance_label("\xC0\x80"));  // overlong NUL
  CHECK_FALSE(valid_instance_label("\xED\xA0\x80"));  // surrogate
  CHECK(valid_utf8("\xF0\x9F\x98\x80"));
  CHECK_FALSE(valid_utf8("\xF4\x90\x80\x80"));  // above U+10FFFF
  CHECK_FALSE(valid_utf8("\xE2\x98"));
}

TEST_CASE("XEP-0174 conflict renaming", "[mdns][instance]") {
  InstanceName j{"juliet", "pronto"};
  CHECK(renamed(j, 1).str() == "juliet-1@pronto");
  CHECK(renamed(j, 2).str() == "juliet-2@pronto");
  CHECK(renamed(renamed(j, 1), 2).str() == "juliet-2@pronto");  // no juliet-1-2
  CHECK(renamed_machine("pronto", 1) == "pronto-1");
  CHECK(renamed_machine("pronto-1", 2) == "pronto-2");
  CHECK(rename_counter("juliet-12") == 12);
  CHECK(rename_counter("juliet") == 0);
  CHECK(rename_counter("jean-luc") == 0);
  CHECK(rename_counter("x-01") == 0);
  CHECK(base_user("juliet-3") == "juliet");
  CHECK(base_user("anne-marie") == "anne-marie");
  SECTION("a long UTF-8 user is shortened at a character boundary") {
    std::string snow;
    for (int i = 0; i < 20; ++i) snow += "\xE2\x98\x83";
    InstanceName n{snow, "ab"};
    auto r = renamed(n, 10);
    CHECK(r.str().size() <= kMaxLabel);
    CHECK(valid_utf8(r.user));
    CHECK(r.user.size() == 57 + 3);  // 19 snowmen + "-10"
    CHECK(parse_instance(r.str()));
  }
}

TEST_CASE("label escaping and host sanitizing", "[mdns][instance]") {
  CHECK(escape_label("a.b\\c") == "a\\.b\\\\c");
  CHECK(*unescape_label("a\\.b\\\\c") == "a.b\\c");
  CHECK(*unescape_label("alice\\064lab") == "alice@lab");
  CHECK(*unescape_label("caf\\195\\169") == "caf\xC3\xA9");
  CHECK_FALSE(unescape_label("x\\"));
  CHECK_FALSE(unescape_label("x\\25"));
  CHECK_FALSE(unescape_label("x\\999"));
  CHECK(sanitize_machine("Pronto.example.org") == "pronto");
  CHECK(sanitize_machine("my_box") == "my-box");
  CHECK(sanitize_machine("--") == "localhost");
  CHECK(valid_machine(sanitize_machine(std::string(80, 'h'))));
  auto d = default_instance();
  CHECK(parse_instance(d.str()));
}
