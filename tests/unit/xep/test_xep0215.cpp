// SPDX-License-Identifier: MIT
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

#include "xep/xep0215.hpp"
#include "xml/element.hpp"

using namespace xnet;
using namespace xnet::xep0215;

namespace {

constexpr long long kNow = 1767225600 - 3600;  // 2025-12-31T23:00:00Z

xml::Element fixture(const std::string& name) {
  std::ifstream f(std::string(XNET_TEST_DATA) + "/xep0215/" + name);
  REQUIRE(f);
  std::stringstream ss;
  ss << f.rdbuf();
  auto e = xml::parse(ss.str());
  REQUIRE(e);
  return *e;
}

ServiceList load(const std::string& name) {
  auto r = parse(fixture(name), kNow);
  REQUIRE(r);
  return *r;
}

bool has_warning(const ServiceList& l, std::string_view needle) {
  for (const auto& w : l.warnings)
    if (w.find(needle) != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("extdisco:2 services reply", "[xep0215]") {
  auto l = load("extdisco2_services.xml");
  REQUIRE(l.form == Form::Extdisco2);
  REQUIRE(l.warnings.empty());
  REQUIRE(l.services.size() == 3);
  const auto& stun = l.services[0];
  REQUIRE(stun.type == "stun");
  REQUIRE(stun.host == "stun.example.org");
  REQUIRE(stun.port == 3478);
  REQUIRE(stun.transport == "udp");
  REQUIRE_FALSE(stun.restricted);
  REQUIRE(stun.uri() == "stun:stun.example.org:3478");
  const auto& turn = l.services[1];
  REQUIRE(turn.username == "1767225600:alice");
  REQUIRE(turn.password == "qnVCfmDqv+5N7tpxKH0liO/huIU=");
  REQUIRE(turn.expires == 1767225600);
  REQUIRE(turn.restricted);
  REQUIRE(turn.source == Form::Extdisco2);
  REQUIRE(turn.uri() == "turn:turn.example.org:3478?transport=udp");
  REQUIRE(l.services[2].type == "turns");
  REQUIRE(l.services[2].username.empty());

  SECTION("render and parse again gives the same services") {
    auto payload = render(Form::Extdisco2, l.services, {}, true);
    auto again = parse(payload, kNow);
    REQUIRE(again);
    REQUIRE(again->services.size() == 3);
    for (std::size_t i = 0; i < 3; ++i) {
      REQUIRE(again->services[i].host == l.services[i].host);
      REQUIRE(again->services[i].port == l.services[i].port);
      REQUIRE(again->services[i].username == l.services[i].username);
      REQUIRE(again->services[i].expires == l.services[i].expires);
      REQUIRE(again->services[i].restricted == l.services[i].restricted);
    }
    REQUIRE(payload.children[1].attr_or("expires") == "2026-01-01T00:00:00Z");
    REQUIRE(payload.children[1].attr_or("restricted") == "1");
  }
  SECTION("without credentials a restricted service is rendered bare") {
    auto payload = render(Form::Extdisco2, l.services);
    REQUIRE(payload.children[1].attr("username") == nullptr);
    REQUIRE(payload.children[1].attr("password") == nullptr);
  }
  SECTION("the type filter is echoed and applied") {
    auto payload = render(Form::Extdisco2, l.services, "turn", true);
    REQUIRE(payload.attr_or("type") == "turn");
    REQUIRE(payload.children.size() == 1);
  }
}

TEST_CASE("extdisco:2 quirks are tolerated", "[xep0215]") {
  auto l = load("extdisco2_edge.xml");
  auto find = [&](std::string_view host) -> const Service& {
    for (const auto& s : l.services)
      if (s.host == host) return s;
    FAIL("no service " << host);
    throw;
  };
  SECTION("missing port and transport get the defaults") {
    REQUIRE(find("stun.example.org").port == 3478);
    REQUIRE_FALSE(find("stun.example.org").port_given);
    REQUIRE(find("stun.example.org").transport == "udp");
    REQUIRE(find("turn.example.org").port == 5349);
    REQUIRE(find("turn.example.org").transport == "tcp");
  }
  SECTION("IPv6 with and without brackets, upper-case type and transport") {
    REQUIRE(find("2001:db8::1").type == "stun");
    REQUIRE(find("2001:db8::1").transport == "udp");
    REQUIRE(find("2001:db8::2").port == 3479);
    REQUIRE(find("2001:db8::2").uri() == "stun:[2001:db8::2]:3479");
  }
  SECTION("restricted and expires variants") {
    REQUIRE(find("t1.example.org").restricted);
    REQUIRE(find("t1.example.org").expires == 1767225600);
    REQUIRE_FALSE(find("t2.example.org").restricted);
    REQUIRE(find("t2.example.org").expires == 1767225600);  // 01:00+01:00 is midnight UTC
    REQUIRE_FALSE(find("t3.example.org").expires);
    REQUIRE(has_warning(l, "unreadable expires='garbage'"));
    REQUIRE_FALSE(find("t4.example.org").restricted);
    REQUIRE(has_warning(l, "invalid restricted='yes'"));
    REQUIRE_FALSE(find("t4.example.org").expires);
    REQUIRE(has_warning(l, "implausible expires='1970-01-02T00:00:00Z'"));
  }
  SECTION("legacy stun-relay, bad port, unknown types, x-data children") {
    REQUIRE(find("legacy.example.org").type == "turn");
    REQUIRE(find("legacy.example.org").port == 3478);
    REQUIRE(has_warning(l, "invalid port '99999'"));
    REQUIRE(find("ftp.example.org").type == "ftp");
    REQUIRE(find("ftp.example.org").name == "Files");
  }
  SECTION("a service without host is dropped with a warning") {
    REQUIRE(l.services.size() == 10);
    REQUIRE(has_warning(l, "without host"));
  }
}

TEST_CASE("empty lists are valid", "[xep0215]") {
  auto l = load("extdisco2_empty.xml");
  REQUIRE(l.services.empty());
  REQUIRE(l.type_filter == "turn");
  auto c = load("extdisco2_credentials_empty.xml");
  REQUIRE(c.credentials);
  REQUIRE(c.services.empty());
}

TEST_CASE("credentials: Prosody's extra services are filtered out", "[xep0215]") {
  auto l = load("extdisco2_credentials_quirk.xml");
  REQUIRE(l.credentials);
  REQUIRE(l.services.size() == 4);
  Service asked;
  asked.type = "turn";
  asked.host = "turn.example.org";
  auto kept = filter_credentials(l.services, asked);
  REQUIRE(kept.size() == 2);  // udp and tcp on the same host and type
  for (const auto& s : kept) {
    REQUIRE(s.type == "turn");
    REQUIRE(s.host == "turn.example.org");
  }
  SECTION("extdisco:1 replies may lack the type: it is taken from the request") {
    auto one = load("extdisco1_credentials.xml");
    REQUIRE(one.form == Form::Extdisco1);
    auto k = filter_credentials(one.services, asked);
    REQUIRE(k.size() == 1);
    REQUIRE(k[0].type == "turn");
    REQUIRE(k[0].username == "u");
  }
}

TEST_CASE("extdisco:1 with the non-standard ttl", "[xep0215]") {
  auto l = load("extdisco1_ttl.xml");
  REQUIRE(l.form == Form::Extdisco1);
  REQUIRE(l.services.size() == 2);
  REQUIRE(l.services[1].expires == kNow + 86400);
  REQUIRE(l.services[1].expires_from_ttl);
  REQUIRE(l.services[1].source == Form::Extdisco1);
}

TEST_CASE("pushes: actions, acknowledgement shape, apply", "[xep0215]") {
  auto iq = fixture("extdisco2_push.xml");
  REQUIRE(is_push(iq));
  auto l = load("extdisco2_push.xml");
  REQUIRE(l.type_filter == "turn");
  REQUIRE(l.services.size() == 5);  // the unknown action is ignored
  REQUIRE(has_warning(l, "unknown action 'explode'"));
  REQUIRE(l.services[0].action == Action::Add);
  REQUIRE(l.services[1].action == Action::Modify);
  REQUIRE(l.services[2].action == Action::Delete);
  REQUIRE(l.services[3].action == Action::Delete);  // 'remove' accepted
  REQUIRE(l.services[4].action == Action::Add);     // no action = add

  std::vector<Service> current = load("extdisco2_services.xml").services;
  Service gone;
  gone.type = "turn";
  gone.host = "198.51.100.9";
  gone.port = 3478;
  gone.port_given = true;
  gone.transport = "udp";
  current.push_back(gone);
  apply_push(current, l.services);
  auto count = [&](std::string_view host) {
    return std::count_if(current.begin(), current.end(), [&](const Service& s) { return s.host == host; });
  };
  REQUIRE(count("198.51.100.9") == 0);
  REQUIRE(count("turn2.example.org") == 1);
  REQUIRE(count("turn3.example.org") == 1);
  auto it = std::find_if(current.begin(), current.end(),
                         [](const Service& s) { return s.host == "turn.example.org" && s.type == "turn"; });
  REQUIRE(it != current.end());
  REQUIRE(it->username == "1767229200:alice");

  SECTION("a result IQ is not a push") {
    REQUIRE_FALSE(is_push(fixture("extdisco2_services.xml")));
  }
  SECTION("render_push writes actions, 'delete' for removals") {
    auto p = render_push(Form::Extdisco2, l.services, "turn");
    REQUIRE(p.attr_or("type") == "turn");
    REQUIRE(p.children[2].attr_or("action") == "delete");
    REQUIRE(p.children[3].attr_or("action") == "delete");
    REQUIRE(p.children[1].attr_or("action") == "modify");
  }
}

TEST_CASE("XEP-0215 0.1 <stun/> form", "[xep0215]") {
  auto l = load("stun2007.xml");
  REQUIRE(l.form == Form::Stun2007);
  REQUIRE(l.services.size() == 3);
  REQUIRE(l.services[0].type == "stun");
  REQUIRE(l.services[0].transport == "udp");
  REQUIRE(l.services[1].username == "u1");
  REQUIRE(l.services[1].password == "p1");
  REQUIRE(l.services[2].host == "stun2.example.org");
  REQUIRE(l.services[2].port == 3478);
  REQUIRE(l.services[0].source == Form::Stun2007);

  auto req = build_request(Form::Stun2007, "example.org");
  REQUIRE(req.attr_or("type") == "get");
  REQUIRE(req.attr_or("to") == "example.org");
  REQUIRE(req.child("stun", kNsProvisional));

  auto again = parse(render(Form::Stun2007, l.services), kNow);
  REQUIRE(again);
  REQUIRE(again->services.size() == 3);
  REQUIRE(again->services[1].password == "p1");
}

TEST_CASE("XEP-0215 0.2/0.3 provisional <services/> with <server/> items", "[xep0215]") {
  auto iq = fixture("provisional_services.xml");
  REQUIRE(is_push(iq));
  auto l = load("provisional_services.xml");
  REQUIRE(l.form == Form::Provisional);
  REQUIRE(l.services.size() == 2);
  REQUIRE(l.services[0].type == "turn");
  REQUIRE(l.services[0].name == "Relay");
}

TEST_CASE("google:jingleinfo", "[xep0215][jingleinfo]") {
  auto l = load("jingleinfo.xml");
  REQUIRE(l.form == Form::JingleInfo);
  REQUIRE(l.services.size() == 5);
  REQUIRE(l.services[0].type == "stun");
  REQUIRE(l.services[0].port == 19302);
  REQUIRE(l.services[2].type == "google-relay");
  REQUIRE(l.services[2].token == "opaque-relay-token");
  REQUIRE(l.services[2].transport == "udp");
  REQUIRE(l.services[3].port == 19294);
  REQUIRE(l.services[4].port == 443);

  auto relay_only = load("jingleinfo_relay_only.xml");
  REQUIRE(relay_only.services.size() == 1);
  REQUIRE(relay_only.services[0].token == "late-token");
  REQUIRE(is_push(fixture("jingleinfo_relay_only.xml")));

  auto req = build_request(Form::JingleInfo, "alice@example.org");
  REQUIRE(req.attr_or("to") == "alice@example.org");
  REQUIRE(req.child("query", kNsJingleInfo));

  auto again = parse(render(Form::JingleInfo, l.services), kNow);
  REQUIRE(again);
  REQUIRE(again->services.size() == 5);
  REQUIRE(again->services[4].token == "opaque-relay-token");
}

TEST_CASE("requests", "[xep0215]") {
  auto r = build_request(Form::Extdisco2, "example.org", "turn");
  const auto* s = r.child("services", kNsExtdisco2);
  REQUIRE(s);
  REQUIRE(s->attr_or("type") == "turn");
  REQUIRE(build_request(Form::Extdisco1, "example.org").child("services", kNsExtdisco1));

  Service turn;
  turn.type = "turn";
  turn.host = "turn.example.org";
  turn.port = 3478;
  turn.port_given = true;
  auto c2 = build_credentials_request(Form::Extdisco2, "example.org", turn);
  REQUIRE(c2);
  const auto* svc = c2->child("credentials", kNsExtdisco2)->child("service");
  REQUIRE(svc->attr_or("type") == "turn");
  REQUIRE(svc->attr_or("host") == "turn.example.org");
  REQUIRE(svc->attr_or("port") == "3478");
  auto c1 = build_credentials_request(Form::Extdisco1, "example.org", turn);
  REQUIRE(c1);
  REQUIRE(c1->child("credentials", kNsExtdisco1)->child("service")->attr("type") == nullptr);
  auto bad = build_credentials_request(Form::Stun2007, "example.org", turn);
  REQUIRE_FALSE(bad);
  REQUIRE(bad.error().category == Category::NotSupported);
}

TEST_CASE("form names and features", "[xep0215]") {
  REQUIRE(parse_form("extdisco:2") == Form::Extdisco2);
  REQUIRE(parse_form("urn:xmpp:extdisco:1") == Form::Extdisco1);
  REQUIRE(parse_form("2007") == Form::Stun2007);
  REQUIRE(parse_form("http://www.xmpp.org/extensions/xep-0215.html#ns") == Form::Stun2007);
  REQUIRE(parse_form("google:jingleinfo") == Form::JingleInfo);
  REQUIRE_FALSE(parse_form("extdisco:3"));
  REQUIRE(form_of_feature("urn:xmpp:extdisco:2") == Form::Extdisco2);
  REQUIRE_FALSE(form_of_feature("urn:xmpp:sic:1"));
  for (auto f : {Form::Stun2007, Form::Provisional, Form::Extdisco0, Form::Extdisco1, Form::Extdisco2, Form::JingleInfo})
    REQUIRE(parse_form(form_label(f)) == f);
}

TEST_CASE("XEP-0082 date-times", "[xep0215]") {
  REQUIRE(parse_datetime("2026-01-01T00:00:00Z") == 1767225600);
  REQUIRE(parse_datetime("2026-01-01T00:00:00.123456Z") == 1767225600);
  REQUIRE(parse_datetime("2026-01-01T02:00:00+02:00") == 1767225600);
  REQUIRE(parse_datetime("2025-12-31T23:00:00-01:00") == 1767225600);
  REQUIRE_FALSE(parse_datetime("2026-01-01T00:00:00"));
  REQUIRE_FALSE(parse_datetime("2026-13-01T00:00:00Z"));
  REQUIRE_FALSE(parse_datetime("yesterday"));
  REQUIRE_FALSE(parse_datetime(""));
  REQUIRE(format_datetime(1767225600) == "2026-01-01T00:00:00Z");
}

TEST_CASE("a reply without a XEP-0215 payload is a protocol error", "[xep0215]") {
  auto e = xml::parse("<iq xmlns='jabber:client' type='result' id='1'/>");
  REQUIRE(e);
  auto r = parse(*e, kNow);
  REQUIRE_FALSE(r);
  REQUIRE(r.error().category == Category::Protocol);
}
