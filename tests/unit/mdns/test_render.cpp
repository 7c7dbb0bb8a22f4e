// SPDX-License-Identifier: MIT
#include <sys/socket.h>

#include <catch2/catch.hpp>

#include "mdns/render.hpp"

using namespace xnet::mdns;

namespace {
Peer sample() {
  Peer p;
  p.name = "juliet@pronto";
  p.type = "_presence._tcp";
  p.domain = "local";
  p.host = "pronto.local";
  p.port = 5562;
  p.addresses = {{"10.2.1.187", AF_INET, "eth0", 0}, {"fe80::1", AF_INET6, "eth0", 2}};
  p.interfaces = {"eth0"};
  p.txt_raw = {"txtvers=1", "status=away", std::string("msg=bad\xff" "byte"), "vc", "NICK=Jul"};
  p.txt = txt_from_strings(p.txt_raw);
  p.presence = presence_from_txt(p.txt);
  return p;
}
}  // namespace

TEST_CASE("peer rendering", "[mdns][render]") {
  auto j = peer_json(sample());
  CHECK(j["name"] == "juliet@pronto");
  CHECK(j["user"] == "juliet");
  CHECK(j["machine"] == "pronto");
  CHECK(j["addresses"][1]["address"] == "fe80::1%eth0");
  CHECK(j["addresses"][1]["family"] == "ipv6");
  CHECK(j["addresses"][1]["scope_id"] == 2);
  CHECK(j["txt"]["vc"] == true);
  CHECK(j["txt"]["nick"] == "Jul");  // keys lower-cased
  CHECK(j["nick"] == "Jul");
  CHECK(j["status"] == "away");
  CHECK(j["msg"] == "bad\xEF\xBF\xBD" "byte");  // invalid UTF-8 replaced: JSON stays valid
  CHECK(j["txt_raw"][2] == "msg=bad\\xffbyte");    // lossless raw form
  CHECK_NOTHROW(j.dump());
  auto t = peer_text(sample());
  CHECK(t.rfind("juliet@pronto  away", 0) == 0);
  CHECK(t.find("pronto.local port 5562  10.2.1.187, fe80::1%eth0  (on eth0)") != std::string::npos);
  SECTION("an unknown status is shown as avail with the raw value kept") {
    Peer p = sample();
    p.presence.status = "chatty";
    auto k = peer_json(p);
    CHECK(k["status"] == "avail");
    CHECK(k["status_raw"] == "chatty");
  }
  SECTION("events") {
    auto e = peer_event_json({PeerEvent::Kind::Removed, sample()});
    CHECK(e["event"] == "removed");
    CHECK(peer_event_text({PeerEvent::Kind::Removed, sample()}) == "- juliet@pronto");
    CHECK(peer_event_text({PeerEvent::Kind::New, sample()}).rfind("+ juliet@pronto", 0) == 0);
  }
}

TEST_CASE("message rendering", "[mdns][render]") {
  ServerEvent e;
  e.kind = ServerEvent::Kind::Message;
  e.connection = 3;
  e.peer_address = "127.0.0.1";
  e.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000123));
  e.stream.message.from = "romeo@forza";
  e.stream.message.to = "juliet@pronto";
  e.stream.message.type = "chat";
  e.stream.message.body = "two\nlines \xE2\x98\x83";
  e.stream.message.thread = "th";
  auto j = message_json(e);
  CHECK(j["event"] == "message");
  CHECK(j["time"] == "2023-11-14T22:13:20.123Z");
  CHECK(j["body"] == "two\nlines \xE2\x98\x83");
  CHECK(j["thread"] == "th");
  CHECK(j["connection"] == 3);
  CHECK_FALSE(j.contains("stamp"));
  CHECK(message_text(e) == "2023-11-14T22:13:20.123Z romeo@forza: two\n    lines \xE2\x98\x83  [thread th]");
  SECTION("no from: the peer address stands in") {
    e.stream.message.from.clear();
    CHECK(message_text(e).find(" 127.0.0.1: two") != std::string::npos);
  }
}

TEST_CASE("raw and JSON-safe strings", "[mdns][render]") {
  CHECK(json_safe("ok \xC3\xA9") == "ok \xC3\xA9");
  CHECK(json_safe("\xC3") == "\xEF\xBF\xBD");
  CHECK(escape_raw(std::string("a\\b\x01\xC3\xA9\xff", 7)) == "a\\\\b\\x01\xC3\xA9\\xff");
  CHECK(format_time(std::chrono::system_clock::time_point{}) == "1970-01-01T00:00:00.000Z");
}
