// SPDX-License-Identifier: MIT
// The stun-list operation without a terminal or a network: a fake XMPP server (fixtures from
// tests/data/xep0215) and a fake prober.
#include <fstream>
#include <map>
#include <sstream>

#include <catch2/catch.hpp>

#include "ops/stun_list.hpp"
#include "xml/element.hpp"
#include "xmpp/stun_services.hpp"

using namespace xnet;
using namespace xnet::ops;

namespace {

constexpr long long kNow = 1767225600 - 3600;
const std::string kInfoNs = "http://jabber.org/protocol/disco#info";

xml::Element fixture(const std::string& name) {
  std::ifstream f(std::string(XNET_TEST_DATA) + "/xep0215/" + name);
  std::stringstream ss;
  ss << f.rdbuf();
  auto e = xml::parse(ss.str());
  REQUIRE(e);
  return *e;
}

xml::Element result_with(const std::string& payload) {
  auto p = xml::parse(payload);
  REQUIRE(p);
  xml::Element iq("iq", "jabber:client");
  iq.set("type", "result");
  iq.add(*p);
  return iq;
}

struct FakeServer {
  std::map<std::string, xml::Element> replies;  // to + "|" + ns + "|" + element
  int requests = 0;
  std::vector<Result<xml::Element>> operator()(std::vector<xml::Element> iqs) {
    std::vector<Result<xml::Element>> out;
    for (const auto& iq : iqs) {
      ++requests;
      const auto& p = iq.children.at(0);
      auto it = replies.find(iq.attr_or("to") + "|" + p.ns + "|" + p.name);
      if (it != replies.end()) {
        out.push_back(it->second);
        continue;
      }
      Error e(Category::Remote, "service-unavailable");
      e.stanza = StanzaError{"cancel", "service-unavailable", "", ""};
      out.push_back(tl::unexpected(e));
    }
    return out;
  }
};

// example.org listing coturn-like services under extdisco:2 and extdisco:1 (the same servers).
FakeServer two_forms() {
  FakeServer s;
  s.replies["example.org|" + kInfoNs + "|query"] =
      result_with("<query xmlns='" + kInfoNs + "'><feature var='urn:xmpp:extdisco:2'/>"
                  "<feature var='urn:xmpp:extdisco:1'/></query>");
  const std::string list = "<service type='stun' host='127.0.0.1' port='3478' transport='udp'/>"
                           "<service type='stun' host='127.0.0.1' port='3478' transport='tcp'/>"
                           "<service type='turn' host='127.0.0.1' port='3478' transport='udp' username='u' "
                           "password='p'/>";
  s.replies["example.org|urn:xmpp:extdisco:2|services"] =
      result_with("<services xmlns='urn:xmpp:extdisco:2'>" + list + "</services>");
  s.replies["example.org|urn:xmpp:extdisco:1|services"] =
      result_with("<services xmlns='urn:xmpp:extdisco:1'>" + list + "</services>");
  return s;
}

struct FakeProber {
  std::vector<std::vector<stun::ProbeTarget>> calls;
  std::string failing_type;  // targets of this type fail
  std::vector<stun::ProbeResult> operator()(const std::vector<stun::ProbeTarget>& targets) {
    calls.push_back(targets);
    std::vector<stun::ProbeResult> out;
    for (const auto& t : targets) {
      stun::ProbeResult r;
      r.reachable = true;
      r.sends = 1;
      r.rtt_ms = 0.5;
      if (t.type == failing_type) r.error = Error(Category::Auth, "credentials rejected");
      out.push_back(r);
    }
    return out;
  }
};

}  // namespace

TEST_CASE("the same server listed under two forms is probed once", "[ops][stun_list]") {
  auto server = two_forms();
  FakeProber prober;
  StunListQuery q;
  q.all = true;
  q.probe = true;
  auto r = stun_list(std::ref(server), "alice@example.org/cli", kNow, q, std::ref(prober), null_trace());
  REQUIRE(r);
  REQUIRE(r->rows.size() == 6);
  REQUIRE(prober.calls.size() == 1);
  REQUIRE(prober.calls[0].size() == 3);  // stun/udp, stun/tcp, turn/udp
  CHECK(r->probe_targets.size() == 3);
  CHECK(r->summary.probed == 3);
  CHECK(r->summary.ok == 3);
  CHECK(r->summary.all_ok());
  CHECK_FALSE(r->failure);
  CHECK(r->event == StunListEvent::None);
  CHECK(r->service_jids == std::vector<std::string>{"example.org"});
  // rows 0..2 (extdisco:2) and 3..5 (extdisco:1) share their probes
  for (std::size_t i = 0; i < 3; ++i) {
    REQUIRE(r->rows[i].probe);
    CHECK(r->rows[i].probe == r->rows[i + 3].probe);
    CHECK(r->rows[i].found.service.source != r->rows[i + 3].found.service.source);
  }
  CHECK(prober.calls[0][2].credentials->username == "u");
}

TEST_CASE("a failed probe is a whole result with a check_failed failure", "[ops][stun_list]") {
  auto server = two_forms();
  FakeProber prober;
  prober.failing_type = "turn";
  StunListQuery q;
  q.probe = true;
  auto r = stun_list(std::ref(server), "alice@example.org", kNow, q, std::ref(prober), null_trace());
  REQUIRE(r);
  CHECK(r->rows.size() == 3);
  CHECK(r->summary.probed == 3);
  CHECK(r->summary.failed == 1);
  CHECK_FALSE(r->summary.all_ok());
  REQUIRE(r->failure);
  CHECK(r->failure->category == Category::CheckFailed);
  CHECK(exit_code(r->failure->category) == 1);
  CHECK(r->failure->message == "1 of 3 probed servers failed");
}

TEST_CASE("no probe without --probe, and skipped services say why", "[ops][stun_list]") {
  auto server = two_forms();
  server.replies["example.org|urn:xmpp:extdisco:2|services"] =
      result_with("<services xmlns='urn:xmpp:extdisco:2'><service type='stun' host='127.0.0.1'/>"
                  "<service type='ftp' host='ftp.example.org' port='21' transport='tcp'/></services>");
  FakeProber prober;
  StunListQuery q;
  auto r = stun_list(std::ref(server), "alice@example.org", kNow, q, std::ref(prober), null_trace());
  REQUIRE(r);
  CHECK(prober.calls.empty());
  CHECK_FALSE(r->probed);
  q.probe = true;
  r = stun_list(std::ref(server), "alice@example.org", kNow, q, std::ref(prober), null_trace());
  REQUIRE(r);
  REQUIRE(r->rows.size() == 2);
  CHECK(r->rows[0].probe == std::optional<std::size_t>(0));
  CHECK_FALSE(r->rows[1].probe);
  CHECK(r->rows[1].probe_skipped == "not a STUN/TURN service");
  CHECK(r->summary.probed == 1);
}

TEST_CASE("plan_probes: one rule, each distinct server once", "[ops][stun_list]") {
  std::vector<xep0215::FoundService> found;
  auto add = [&](std::string type, std::string host, std::uint16_t port, std::string transport) {
    xep0215::FoundService f;
    f.service.type = std::move(type);
    f.service.host = std::move(host);
    f.service.port = port;
    f.service.transport = std::move(transport);
    found.push_back(f);
  };
  add("stun", "127.0.0.1", 3478, "udp");
  add("turn", "127.0.0.1", 3478, "udp");
  add("stun", "127.0.0.1", 3478, "tcp");
  add("turns", "127.0.0.1", 5349, "tcp");
  add("stun", "127.0.0.1", 3478, "udp");
  add("stun", "127.0.0.1", 3478, "sctp");

  auto check = xmpp::plan_probes(found, xmpp::ProbePurpose::Check);
  CHECK(check.targets.size() == 4);
  CHECK(check.target[4] == check.target[0]);
  CHECK_FALSE(check.target[5]);
  CHECK(check.skipped[5] == "transport sctp is not supported");

  auto ext = xmpp::plan_probes(found, xmpp::ProbePurpose::ExternalAddress);
  REQUIRE(ext.targets.size() == 1);  // only 127.0.0.1:3478 over UDP, whatever the type
  CHECK(ext.targets[0].type == "stun");
  CHECK(ext.target[0] == ext.target[1]);
  CHECK_FALSE(ext.target[2]);
  CHECK_FALSE(ext.target[3]);
}

TEST_CASE("watch: pushes are acknowledged, applied and filtered", "[ops][stun_list]") {
  FakeServer server;
  server.replies["example.org|" + kInfoNs + "|query"] =
      result_with("<query xmlns='" + kInfoNs + "'><feature var='urn:xmpp:extdisco:2'/></query>");
  server.replies["example.org|urn:xmpp:extdisco:2|services"] = fixture("extdisco2_services.xml");
  FakeProber prober;
  StunListQuery q;
  q.watch = true;
  q.type = "turn";
  q.request_credentials = false;
  auto r = stun_list(std::ref(server), "alice@example.org/cli", kNow, q, std::ref(prober), null_trace());
  REQUIRE(r);
  CHECK(r->event == StunListEvent::List);
  CHECK(event_name(r->event) == "list");
  REQUIRE(r->rows.size() == 1);  // the fixture's turn (the server ignores the type filter)
  StunListWatch w(*r, q);

  SECTION("an accepted push") {
    auto step = w.on_stanza(fixture("extdisco2_push.xml"), kNow);
    REQUIRE(step);
    CHECK(step->reply.attr_or("type") == "result");
    CHECK(step->reply.attr_or("id") == "push7");
    REQUIRE(step->event);
    CHECK(step->event->event == StunListEvent::Push);
    CHECK(step->event->push_from == "example.org");
    CHECK(step->event->changes.size() >= 4);
    std::vector<std::string> hosts;
    for (const auto& row : step->event->rows) hosts.push_back(row.found.service.host);
    CHECK(std::find(hosts.begin(), hosts.end(), "turn2.example.org") != hosts.end());
    for (const auto& row : step->event->rows) CHECK(row.found.service.type == "turn");
    // a second push builds on the first
    auto again = fixture("extdisco2_push.xml");
    auto step2 = w.on_stanza(again, kNow);
    REQUIRE(step2);
    REQUIRE(step2->event);
    CHECK(step2->event->rows.size() == step->event->rows.size());
  }
  SECTION("a push from another JID is refused") {
    auto push = fixture("extdisco2_push.xml");
    push.set("from", "evil.example.net");
    auto step = w.on_stanza(push, kNow);
    REQUIRE(step);
    CHECK(step->reply.attr_or("type") == "error");
    CHECK_FALSE(step->event);
    CHECK(step->problem.find("evil.example.net") != std::string::npos);
  }
  SECTION("other stanzas are left alone") {
    xml::Element msg("message", "jabber:client");
    CHECK_FALSE(w.on_stanza(msg, kNow));
  }
}

TEST_CASE("watch --probe: a push probes the servers it names, the others keep their result", "[ops][stun_list]") {
  FakeServer server;
  server.replies["example.org|" + kInfoNs + "|query"] =
      result_with("<query xmlns='" + kInfoNs + "'><feature var='urn:xmpp:extdisco:2'/></query>");
  server.replies["example.org|urn:xmpp:extdisco:2|services"] = fixture("extdisco2_services.xml");
  FakeProber prober;
  StunListQuery q;
  q.watch = true;
  q.probe = true;
  q.request_credentials = false;
  auto r = stun_list(std::ref(server), "alice@example.org/cli", kNow, q, std::ref(prober), null_trace());
  REQUIRE(r);
  REQUIRE(r->probe_targets.size() == 3);  // stun.example.org, turn.example.org udp, turns 5349
  StunListWatch w(*r, q);
  CHECK(w.probing());
  auto step = w.on_stanza(fixture("extdisco2_push.xml"), kNow);
  REQUIRE(step);
  REQUIRE(step->event);
  auto& event = *step->event;
  auto need = w.plan_push_probes(event);
  std::vector<std::string> hosts;
  for (const auto& t : need.targets) hosts.push_back(t.host + ":" + std::to_string(t.port) + "/" + t.transport);
  std::sort(hosts.begin(), hosts.end());
  // added (turn2, turn3) and modified (turn.example.org over UDP, new credentials); not the
  // untouched STUN server nor turns on 5349
  CHECK(hosts == std::vector<std::string>{"turn.example.org:3478/udp", "turn2.example.org:3478/udp",
                                          "turn3.example.org:3478/udp"});
  std::vector<stun::ProbeResult> results(need.targets.size());
  for (auto& p : results) p.error = Error(Category::Timeout, "no answer");
  w.complete_push_probes(event, need, results);
  CHECK(event.probed);
  CHECK(event.summary.probed == static_cast<int>(event.probe_targets.size()));
  CHECK(event.summary.failed == 3);
  CHECK(event.summary.ok == static_cast<int>(event.probe_targets.size()) - 3);
  REQUIRE(event.failure);
  CHECK(event.failure->category == Category::CheckFailed);
  for (const auto& row : event.rows) {
    INFO(row.found.service.host << ":" << row.found.service.port);
    REQUIRE(row.probe);
    const auto& p = event.probes.at(*row.probe);
    if (row.found.service.host == "stun.example.org") CHECK(p.ok());
  }
  SECTION("the next push reuses what this one probed") {
    auto again = w.on_stanza(fixture("extdisco2_push.xml"), kNow);
    REQUIRE(again);
    REQUIRE(again->event);
    auto need2 = w.plan_push_probes(*again->event);
    CHECK(need2.targets.size() == 3);  // the same push names the same servers again
    auto& e2 = *again->event;
    for (std::size_t i = 0; i < e2.probe_targets.size(); ++i)
      if (e2.probe_targets[i].host == "stun.example.org") CHECK(e2.probes[i].ok());
  }
}

TEST_CASE("watch: pushed lists are cut at kMaxWatchedServices with a warning", "[ops][stun_list]") {
  FakeServer server;
  server.replies["example.org|" + kInfoNs + "|query"] =
      result_with("<query xmlns='" + kInfoNs + "'><feature var='urn:xmpp:extdisco:2'/></query>");
  server.replies["example.org|urn:xmpp:extdisco:2|services"] = fixture("extdisco2_services.xml");
  FakeProber prober;
  StunListQuery q;
  q.watch = true;
  q.request_credentials = false;
  auto r = stun_list(std::ref(server), "alice@example.org/cli", kNow, q, std::ref(prober), null_trace());
  REQUIRE(r);
  StunListWatch w(*r, q);
  std::string entries;
  for (std::size_t i = 0; i < kMaxWatchedServices + 10; ++i)
    entries += "<service action='add' type='stun' host='s" + std::to_string(i) + ".example.org' port='3478' transport='udp'/>";
  auto push = xml::parse("<iq xmlns='jabber:client' type='set' id='big' from='example.org'>"
                         "<services xmlns='urn:xmpp:extdisco:2'>" + entries + "</services></iq>");
  REQUIRE(push);
  auto step = w.on_stanza(*push, kNow);
  REQUIRE(step);
  REQUIRE(step->event);
  CHECK(step->event->rows.size() == kMaxWatchedServices);
  CHECK(std::any_of(step->event->warnings.begin(), step->event->warnings.end(),
                    [](const std::string& s) { return s.find("keeping the first 1000") != std::string::npos; }));
}
