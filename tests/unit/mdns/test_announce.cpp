// SPDX-License-Identifier: MIT
// `lan announce` protocol pieces without a daemon or a terminal: XML text checks, the stdin
// control protocol, XEP-0115 caps.
#include <catch2/catch.hpp>

#include "mdns/announce.hpp"

using namespace xnet::mdns;

TEST_CASE("XML text checks accept tab, LF and CR and refuse other controls and bad UTF-8", "[mdns][announce]") {
  CHECK(check_xml_text("x", "caf\xC3\xA9\tline\r\nnext"));
  auto ctl = check_xml_text("the message", std::string("a\x01" "b"));
  REQUIRE_FALSE(ctl);
  CHECK(ctl.error().category == xnet::Category::Input);
  CHECK(ctl.error().message == "the message contains a control character that XML cannot carry");
  auto utf = check_xml_text("the message", "\xFF\xFE");
  REQUIRE_FALSE(utf);
  CHECK(utf.error().message == "the message is not valid UTF-8");
}

TEST_CASE("control lines change the presence", "[mdns][announce]") {
  Presence p;
  struct Case {
    std::string line;
    bool ok, changed;
  };
  const Case cases[] = {
      {"status away", true, true}, {"msg Out for lunch\r", true, true}, {"nick Jules ", true, true},
      {"", true, false},           {"   ", true, false},               {"status gone", false, false},
      {"dance now", false, false}, {"msg a\x02z", false, false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.line);
    auto r = apply_control_line(c.line, p);
    REQUIRE(static_cast<bool>(r) == c.ok);
    if (r) CHECK(*r == c.changed);
  }
  CHECK(p.status == "away");
  CHECK(p.msg == "Out for lunch");
  CHECK(p.nick == "Jules");
  REQUIRE(apply_control_line("msg", p));
  CHECK_FALSE(p.msg.has_value());  // an empty value removes the field
}

TEST_CASE("caps name xnet by its urn, not a made-up URL", "[mdns][announce]") {
  Presence p;
  set_caps(p, xnet::xep0174::Identity{});
  CHECK(p.node == "urn:xnet:caps");
  CHECK(p.hash == "sha-1");
  REQUIRE(p.ver.has_value());
  CHECK(p.ver->size() == 28);  // base64 of a SHA-1
}
