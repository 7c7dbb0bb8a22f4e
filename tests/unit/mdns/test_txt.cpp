// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include "mdns/presence.hpp"
#include "mdns/txt.hpp"

using namespace xnet;
using namespace xnet::mdns;

namespace {
std::string rdata(std::initializer_list<std::string> strings) {
  std::string out;
  for (const auto& s : strings) {
    out.push_back(static_cast<char>(s.size()));
    out += s;
  }
  return out;
}
}  // namespace

TEST_CASE("TXT decoding follows RFC 6763 §6", "[mdns][txt]") {
  struct Case {
    const char* what;
    std::string wire;
    std::vector<TxtItem> items;
  };
  std::vector<Case> cases = {
      {"empty TXT (one zero byte)", std::string(1, '\0'), {}},
      {"empty rdata", "", {}},
      {"key=value", rdata({"txtvers=1"}), {{"txtvers", "1", true}}},
      {"boolean key", rdata({"vc"}), {{"vc", "", false}}},
      {"key= is present and empty", rdata({"msg="}), {{"msg", "", true}}},
      {"=value is ignored", rdata({"=oops", "a=b"}), {{"a", "b", true}}},
      {"first of duplicate keys wins", rdata({"status=away", "status=dnd"}), {{"status", "away", true}}},
      {"keys differ only in case: first wins", rdata({"Status=dnd", "status=away"}), {{"Status", "dnd", true}}},
      {"= inside the value", rdata({"msg=a=b=c"}), {{"msg", "a=b=c", true}}},
      {"spaces are significant", rdata({"my key= v "}), {{"my key", " v ", true}}},
      {"non-UTF-8 value bytes are kept", rdata({std::string("msg=\xff\xfe\x00z", 8)}), {{"msg", std::string("\xff\xfe\x00z", 4), true}}},
      {"key with a control byte is skipped", rdata({"a\x01=b", "c=d"}), {{"c", "d", true}}},
      {"key with non-ASCII is skipped", rdata({"k\xc3\xa9y=1"}), {}},
      {"empty strings between entries", rdata({"", "a=1", ""}), {{"a", "1", true}}},
  };
  for (const auto& c : cases) {
    SECTION(c.what) {
      auto r = decode_txt(c.wire);
      REQUIRE(r);
      CHECK(r->items() == c.items);
    }
  }
}

TEST_CASE("malformed TXT RDATA is refused", "[mdns][txt]") {
  struct Case {
    const char* what;
    std::string wire;
  };
  std::vector<Case> cases = {
      {"length past the end", std::string("\x05" "abc", 4)},
      {"second string truncated", rdata({"a=1"}) + std::string("\x09" "xy", 3)},
      {"lone length byte", std::string("\x01", 1)},
      {"255-length with 254 bytes", std::string(1, '\xff') + std::string(254, 'a')},
  };
  for (const auto& c : cases) {
    SECTION(c.what) {
      auto r = decode_txt(c.wire);
      REQUIRE_FALSE(r);
      CHECK(r.error().category == Category::Protocol);
    }
  }
}

TEST_CASE("TXT encoding", "[mdns][txt]") {
  SECTION("an empty record is one zero byte") { CHECK(*encode_txt(TxtRecord{}) == std::string(1, '\0')); }
  SECTION("order, flags and empty values are kept and round-trip") {
    TxtRecord t;
    t.set("txtvers", "1");
    t.set_flag("vc");
    t.set("msg", "");
    t.set("nick", "Juli\xC3\xA9");
    auto wire = encode_txt(t);
    REQUIRE(wire);
    CHECK(*wire == rdata({"txtvers=1", "vc", "msg=", "nick=Juli\xC3\xA9"}));
    CHECK(*decode_txt(*wire) == t);
  }
  SECTION("a 255-byte string fits, 256 does not") {
    TxtRecord t;
    t.set("k", std::string(253, 'x'));
    auto ok = encode_txt(t);
    REQUIRE(ok);
    CHECK(ok->size() == 256);
    CHECK(static_cast<unsigned char>((*ok)[0]) == 255);
    t.set("k", std::string(254, 'x'));
    auto bad = encode_txt(t);
    REQUIRE_FALSE(bad);
    CHECK(bad.error().category == Category::Input);
  }
  SECTION("invalid keys are refused") {
    TxtRecord t;
    t.set("a=b", "c");
    CHECK_FALSE(encode_txt(t));
    TxtRecord e;
    e.set("", "x");
    CHECK_FALSE(encode_txt(e));
  }
  SECTION("set replaces case-insensitively in place; remove") {
    TxtRecord t;
    t.set("status", "avail");
    t.set("msg", "x");
    t.set("STATUS", "away");
    REQUIRE(t.items().size() == 2);
    CHECK(t.items()[0].value == "away");
    CHECK(t.get("Status") == "away");
    t.remove("MSG");
    CHECK_FALSE(t.contains("msg"));
    CHECK_FALSE(t.get("nothing"));
  }
  SECTION("binary-safe values survive a round trip") {
    std::string bin;
    for (int i = 0; i < 250; ++i) bin.push_back(static_cast<char>(i));
    TxtRecord t;
    t.set("b", bin);
    CHECK(decode_txt(*encode_txt(t))->get("b") == bin);
  }
}

TEST_CASE("XEP-0174 presence fields in TXT", "[mdns][txt][xep0174]") {
  SECTION("txtvers first, personal fields only when given") {
    Presence p;
    p.nick = "JuliC";
    p.port_p2pj = 5562;
    auto t = presence_to_txt(p);
    REQUIRE(t);
    CHECK(t->strings() == std::vector<std::string>{"txtvers=1", "status=avail", "nick=JuliC", "port.p2pj=5562"});
  }
  SECTION("all fields round-trip") {
    Presence p;
    p.status = "dnd";
    p.msg = "busy \xE2\x98\x83";
    p.nick = "n";
    p.first = "Juliet";
    p.last = "Capulet";
    p.email = "a@b c@d";
    p.jid = "juliet@capulet.lit";
    p.node = "n";
    p.ver = "v";
    p.hash = "sha-1";
    p.port_p2pj = 1;
    CHECK(presence_from_txt(*presence_to_txt(p)) == p);
    CHECK(presence_to_txt(p)->get("1st") == "Juliet");
  }
  SECTION("missing status means avail; unknown status is kept raw") {
    CHECK(presence_from_txt(TxtRecord{}).status == "avail");
    CHECK(presence_from_txt(*decode_txt(rdata({"status=chatty"}))).status == "chatty");
    CHECK_FALSE(valid_status("chatty"));
  }
  SECTION("a malformed port.p2pj is ignored") {
    for (auto bad : {"port.p2pj=abc", "port.p2pj=70000", "port.p2pj=", "port.p2pj=12x"})
      CHECK_FALSE(presence_from_txt(*decode_txt(rdata({bad}))).port_p2pj);
  }
  SECTION("an over-long field is an input error") {
    Presence p;
    p.msg = std::string(300, 'm');
    auto t = presence_to_txt(p);
    REQUIRE_FALSE(t);
    CHECK(t.error().category == Category::Input);
  }
}
