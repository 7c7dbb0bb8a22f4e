// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <fstream>
#include <sstream>

#include "xep/xep0003.hpp"

using namespace xnet;
using namespace xnet::xep0003;

namespace {

xml::Element load(const std::string& name) {
  std::ifstream in(std::string(XNET_TEST_DATA) + "/pass/" + name);
  REQUIRE(in);
  std::stringstream ss;
  ss << in.rdbuf();
  auto doc = xml::parse(ss.str());
  REQUIRE(doc);
  return *doc;
}

Result<Query> parse_text(const std::string& inner) {
  auto doc = xml::parse("<query xmlns='jabber:iq:pass'>" + inner + "</query>");
  REQUIRE(doc);
  return parse_query(*doc);
}

}  // namespace

TEST_CASE("every pass.md example parses, classifies and round-trips", "[xep0003]") {
  struct Row {
    const char* file;
    bool from_service;
    Kind kind;
    Query expected;
  };
  const Endpoint server{"192.0.2.10", 40001};
  const Endpoint proxy2{"192.0.2.10", 40002};
  const Endpoint client{"198.51.100.77", 51515};
  std::vector<Row> rows;
  {
    Query q;
    q.expire = true;
    q.expire_seconds = 900;
    q.oneshot = true;
    rows.push_back({"register.xml", false, Kind::Register, q});
  }
  {
    Query q;
    q.server = server;
    rows.push_back({"register_result.xml", true, Kind::RegisterResult, q});
  }
  {
    Query q;
    q.client = client;
    q.proxy = proxy2;
    rows.push_back({"incoming.xml", true, Kind::Incoming, q});
  }
  rows.push_back({"accept.xml", false, Kind::Ack, Query{}});
  {
    Query q;
    q.expire = true;
    q.close = true;
    q.proxy = server;
    rows.push_back({"expire_notice.xml", true, Kind::ExpireNotice, q});
  }
  {
    Query q;
    q.oneshot = true;
    q.close = true;
    q.proxy = server;
    rows.push_back({"oneshot_notice.xml", true, Kind::OneshotNotice, q});
  }
  {
    Query q;
    q.close = true;
    q.proxy = server;
    rows.push_back({"close.xml", false, Kind::Close, q});
  }
  rows.push_back({"close_result.xml", true, Kind::Ack, Query{}});
  rows.push_back({"peer_query.xml", false, Kind::PeerQuery, Query{}});
  {
    Query q;
    q.client = Endpoint{"198.51.100.77", std::nullopt};
    rows.push_back({"peer_query_result.xml", false, Kind::PeerQueryResult, q});
  }
  {
    Query q;
    q.client = Endpoint{"2001:db8::7", 65535};
    q.proxy = Endpoint{"192.0.2.10", 43523};
    rows.push_back({"unordered.xml", true, Kind::Incoming, q});
  }

  for (const auto& row : rows) {
    SECTION(row.file) {
      auto iq = load(row.file);
      const auto* qe = find_query(iq);
      REQUIRE(qe);
      auto q = parse_query(*qe);
      REQUIRE(q);
      CHECK(*q == row.expected);
      CHECK(classify(iq.attr_or("type"), *q, row.from_service) == row.kind);
      // Build again and compare: struct → element → struct is the identity.
      auto rebuilt = build_query(*q);
      auto again = parse_query(rebuilt);
      REQUIRE(again);
      CHECK(*again == *q);
      // And the rebuilt XML parses from text too.
      auto text = xml::parse(rebuilt.str());
      REQUIRE(text);
      CHECK(*parse_query(*text) == *q);
    }
  }
}

TEST_CASE("error examples: deny, 502 and the pre-XMPP form", "[xep0003]") {
  SECTION("deny echoes the query with 401 not-authorized") {
    auto iq = load("deny.xml");
    auto e = parse_error(iq);
    CHECK(e.condition == "not-authorized");
    CHECK(e.type == "auth");
    auto q = parse_query(*find_query(iq));
    REQUIRE(q);
    CHECK(q->client->port == 51515);
  }
  SECTION("502 is retry-later") {
    auto e = parse_error(load("no_ports.xml"));
    CHECK(e.condition == "service-unavailable");
    CHECK(e.type == "wait");
    CHECK(e.text == "No more ports available. Try again later.");
    CHECK(is_retry_later(e));
  }
  SECTION("legacy error: code only, text as content") {
    auto iq = load("legacy_error.xml");
    auto e = parse_error(iq);
    CHECK(e.condition == "item-not-found");
    CHECK(e.type == "cancel");
    CHECK(e.text == "Port not found in registry.");
    CHECK_FALSE(is_retry_later(e));
    auto q = parse_query(*find_query(iq));
    REQUIRE(q);
    CHECK(q->proxy->port == 43253);
  }
  SECTION("legacy 502 without type is retry-later") {
    auto doc = xml::parse("<iq type='error' xmlns='jabber:client'><error code='502'>busy</error></iq>");
    REQUIRE(doc);
    auto e = parse_error(*doc);
    CHECK(e.condition == "service-unavailable");
    CHECK(is_retry_later(e));
  }
  SECTION("no error child") {
    auto doc = xml::parse("<iq type='error' xmlns='jabber:client'/>");
    CHECK(parse_error(*doc).condition == "undefined-condition");
  }
}

TEST_CASE("PASS errors carry code, condition and type (XEP-0086)", "[xep0003]") {
  struct Row {
    PassError e;
    int code;
    const char* condition;
    const char* type;
  };
  const Row rows[] = {
      {PassError::MissingProxy, 400, "bad-request", "modify"},
      {PassError::BadRequest, 400, "bad-request", "modify"},
      {PassError::NotYours, 401, "not-authorized", "auth"},
      {PassError::Denied, 401, "not-authorized", "auth"},
      {PassError::NotFound, 404, "item-not-found", "cancel"},
      {PassError::WrongIp, 405, "not-allowed", "cancel"},
      {PassError::NoPorts, 502, "service-unavailable", "wait"},
      {PassError::Unavailable, 503, "service-unavailable", "cancel"},
  };
  for (const auto& r : rows) {
    CAPTURE(r.code);
    auto el = build_error(r.e);
    CHECK(el.attr_or("code") == std::to_string(r.code));
    CHECK(el.attr_or("type") == r.type);
    REQUIRE(el.child(r.condition, "urn:ietf:params:xml:ns:xmpp-stanzas"));
    CHECK(el.child("text")->text == text_of(r.e));
    // The reply form round-trips through parse_error.
    xml::Element req("iq", "jabber:client");
    req.set("type", "set").set("id", "x").set("from", "a@b/c").set("to", "pass.b");
    req.add(build_query(Query{}));
    auto reply = make_error_reply(req, r.e);
    CHECK(reply.attr_or("to") == "a@b/c");
    CHECK(reply.attr_or("from") == "pass.b");
    CHECK(reply.attr_or("id") == "x");
    REQUIRE(find_query(reply));
    auto se = parse_error(reply);
    CHECK(se.condition == r.condition);
    CHECK(se.type == r.type);
  }
}

TEST_CASE("XEP-0086 legacy code table", "[xep0003]") {
  struct Row {
    int code;
    const char* condition;
    const char* type;
  };
  const Row rows[] = {
      {302, "redirect", "modify"},          {400, "bad-request", "modify"},
      {401, "not-authorized", "auth"},      {402, "payment-required", "auth"},
      {403, "forbidden", "auth"},           {404, "item-not-found", "cancel"},
      {405, "not-allowed", "cancel"},       {406, "not-acceptable", "modify"},
      {407, "registration-required", "auth"}, {408, "remote-server-timeout", "wait"},
      {409, "conflict", "cancel"},          {500, "internal-server-error", "wait"},
      {501, "feature-not-implemented", "cancel"}, {502, "service-unavailable", "wait"},
      {503, "service-unavailable", "cancel"}, {504, "remote-server-timeout", "wait"},
      {510, "service-unavailable", "cancel"}, {999, "undefined-condition", "cancel"},
  };
  for (const auto& r : rows) {
    CAPTURE(r.code);
    CHECK(condition_for_code(r.code) == Condition{r.condition, r.type});
  }
  CHECK(code_for_condition("jid-malformed") == 400);
  CHECK(code_for_condition("recipient-unavailable") == 404);
  CHECK(code_for_condition("remote-server-not-found") == 404);
  CHECK(code_for_condition("resource-constraint") == 500);
  CHECK(code_for_condition("subscription-required") == 407);
  CHECK(code_for_condition("undefined-condition") == 500);
  CHECK(code_for_condition("unexpected-request") == 400);
  CHECK(code_for_condition("service-unavailable") == 503);
  CHECK(code_for_condition("no-such-thing") == 500);
}

TEST_CASE("ports and expire edge cases (pass.md §9)", "[xep0003]") {
  SECTION("ports") {
    CHECK(parse_text("<proxy port='43253'>1.2.3.4</proxy>")->proxy->port == 43253);
    CHECK(parse_text("<proxy port='0'>1.2.3.4</proxy>")->proxy->port == 0);
    CHECK(parse_text("<proxy port='65535'>1.2.3.4</proxy>")->proxy->port == 65535);
    CHECK_FALSE(parse_text("<proxy port='65536'>1.2.3.4</proxy>").has_value());
    CHECK_FALSE(parse_text("<proxy port='-1'>1.2.3.4</proxy>").has_value());
    CHECK_FALSE(parse_text("<proxy port='12a'>1.2.3.4</proxy>").has_value());
    CHECK_FALSE(parse_text("<proxy port=''>1.2.3.4</proxy>").has_value());
    CHECK_FALSE(parse_text("<proxy port='1'/>").has_value());  // no IP
    CHECK_FALSE(parse_text("<proxy>1.2.3.4 5.6.7.8</proxy>").has_value());
    auto q = parse_text("<proxy>1.2.3.4</proxy>");
    REQUIRE(q);
    CHECK_FALSE(q->proxy->port.has_value());
  }
  SECTION("expire") {
    CHECK(parse_text("<expire>0</expire>")->expire_seconds == 0u);
    CHECK(parse_text("<expire>18446744073709551615</expire>")->expire_seconds ==
          18446744073709551615ull);
    CHECK_FALSE(parse_text("<expire>18446744073709551616</expire>").has_value());
    CHECK_FALSE(parse_text("<expire>-5</expire>").has_value());
    CHECK_FALSE(parse_text("<expire>soon</expire>").has_value());
    auto empty = parse_text("<expire/>");
    REQUIRE(empty);
    CHECK(empty->expire);
    CHECK_FALSE(empty->expire_seconds);
  }
  SECTION("wrong element") {
    auto doc = xml::parse("<query xmlns='jabber:iq:other'/>");
    CHECK_FALSE(parse_query(*doc).has_value());
  }
  SECTION("token extension") {
    Query q;
    q.client = Endpoint{"1.2.3.4", 1};
    q.proxy = Endpoint{"5.6.7.8", 2};
    q.token = "00112233445566778899aabbccddeeff";
    auto el = build_query(q);
    REQUIRE(el.child("token", kTokenNs));
    CHECK(*parse_query(el) == q);
  }
}
