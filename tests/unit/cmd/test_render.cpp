// SPDX-License-Identifier: MIT
// The result and event renderers of the command layer, without a terminal: every field of each
// table reaches the JSON form and the text form (or is declared here as shown by another
// field's text, so that hiding one is a visible decision).
#include <sys/socket.h>

#include <set>
#include <sstream>

#include <catch2/catch.hpp>

#include "cmd/lan_render.hpp"
#include "cmd/render.hpp"
#include "cmd/whoami.hpp"
#include "mdns/presence.hpp"
#include "mdns/txt.hpp"

using namespace xnet;
using namespace xnet::cmd;

namespace {

template <class T>
std::string text_of(const T& v) {
  std::ostringstream os;
  print_text(os, v, Style{});
  return os.str();
}

// Each present field: its key in the JSON object; its text (or label) in the text form, unless
// it is one of `shown_elsewhere`, whose own text must then be empty.
// The same for a table whose JSON object j and text lie inside another's (text: the outer text).
template <class T>
int check_fields(const FieldTable<T>& table, const T& v, const nlohmann::json& j, const std::string& text,
                 const std::set<std::string>& shown_elsewhere) {
  int checked = 0;
  for (const auto& f : table) {
    const std::string key(f.key);
    CAPTURE(key, text, j.dump());
    if (!present(f.get(v), f.keep_null)) {
      CHECK_FALSE(j.contains(key));
      continue;
    }
    ++checked;
    CHECK(j.contains(key));
    CHECK(j[key] == f.get(v));
    std::string t = field_text(f, v);
    if (!t.empty() && t.front() == '\n') t.erase(0, 1);  // a line of its own (fields_block)
    if (shown_elsewhere.count(key)) {
      CHECK(t.empty());
      continue;
    }
    if (!t.empty()) CHECK(text.find(t) != std::string::npos);
    else CHECK(shown_elsewhere.count(key));
  }
  return checked;
}

template <class T>
int check_both_forms(const FieldTable<T>& table, const T& v, const std::set<std::string>& shown_elsewhere) {
  return check_fields(table, v, nlohmann::json(v), text_of(v), shown_elsewhere);
}

pass::Event listening() {
  pass::Event e;
  e.event = pass::EventKind::Listening;
  e.ip = "203.0.113.5";
  e.port = 40001;
  e.expires = 3600;
  e.service = "pass.example.org";
  e.reconnected = true;
  e.same_port = true;
  return e;
}

pass::Event closed() {
  pass::Event e;
  e.event = pass::EventKind::Closed;
  e.id = 7;
  e.client_ip = "198.51.100.77";
  e.client_port = 51515;
  e.reason = "eof";
  e.bytes_in = 512;
  e.bytes_out = 10240;
  e.duration_ms = 1021.247604;
  return e;
}

}  // namespace

TEST_CASE("PASS events: every field in JSON and in the text line", "[cmd][render][pass]") {
  const std::set<std::string> listening_hidden = {"event", "ip", "port", "expires", "service", "reconnected", "same_port"};
  CHECK(check_both_forms(pass_event_fields(), listening(), listening_hidden) == 8);
  // The documented text of `listening`: the endpoint alone (scripts read the first line).
  CHECK(text_of(listening()) == "203.0.113.5:40001\n");
  nlohmann::json lj = listening();
  CHECK(lj["event"] == "listening");
  CHECK(lj["expires"] == 3600);
  CHECK(lj["endpoint"] == "203.0.113.5:40001");

  const std::set<std::string> client_hidden = {"client_port", "reason"};  // reason "eof": the normal end
  CHECK(check_both_forms(pass_event_fields(), closed(), client_hidden) == 8);
  CHECK(text_of(closed()) == "#7 closed 198.51.100.77:51515 in 512 B, out 10240 B after 1021.2 ms\n");
  nlohmann::json cj = closed();
  CHECK(cj["duration_ms"] == 1021.2);
  CHECK_FALSE(cj.contains("expires"));
  CHECK_FALSE(cj.contains("ip"));

  pass::Event r;
  r.event = pass::EventKind::Refused;
  r.client_ip = "192.0.2.9";
  r.client_port = 1000;
  r.count = 3;
  r.reason = "not allowed";
  check_both_forms(pass_event_fields(), r, {"client_port"});
  CHECK(text_of(r) == "refused 192.0.2.9:1000 3 connections (not allowed)\n");

  pass::Event d;
  d.event = pass::EventKind::Disconnected;
  d.ip = "203.0.113.5";
  d.port = 40001;
  d.reason = "keepalive timeout";
  d.retry_ms = 2000;
  check_both_forms(pass_event_fields(), d, {"ip", "port"});
  nlohmann::json dj = d;
  CHECK(dj["retry_ms"] == 2000.0);
  CHECK(text_of(d) == "disconnected 203.0.113.5:40001 (keepalive timeout) retrying in 2000.0 ms\n");
}

TEST_CASE("PASS event names are named once", "[cmd][render][pass]") {
  using K = pass::EventKind;
  std::set<std::string> names;
  for (K k : {K::Listening, K::Incoming, K::Accepted, K::Denied, K::Closed, K::Expired, K::ListenerClosed, K::Refused,
              K::Disconnected})
    names.insert(std::string(pass::event_name(k)));
  CHECK(names.size() == 9);
  CHECK(names.count("listener_closed") == 1);
  CHECK(names.count("unknown") == 0);
}

TEST_CASE("serve listening: every field in JSON and in the text block", "[cmd][render][serve]") {
  server::ServeListening r;
  r.domain = "localhost";
  r.c2s_port = 5222;
  r.direct_tls_port = 5223;
  r.listeners = {{"127.0.0.1", 5222, false}, {"::1", 5222, false}, {"127.0.0.1", 5223, true}};
  r.certificate = "/var/lib/xnet/cert.pem";
  r.fingerprint_sha256 = "AB:CD";
  r.certificate_generated = true;
  r.anonymous = true;
  r.accounts = 0;
  r.accounts_file = "/var/lib/xnet/accounts.json";
  r.pid = 4242;
  r.pass_jid = "pass.localhost";
  r.pass_range = "40000-40099";
  const std::set<std::string> hidden = {"event", "listeners", "certificate_generated", "accounts_file"};
  CHECK(check_both_forms(serve_listening_fields(), r, hidden) == 14);
  auto text = text_of(r);
  CHECK(text.find("STARTTLS     127.0.0.1:5222, [::1]:5222") != std::string::npos);
  CHECK(text.find("(generated, self-signed)") != std::string::npos);
  CHECK(text.find("0 in /var/lib/xnet/accounts.json") != std::string::npos);
  CHECK(text.find("xnet whoami --jid localhost --server 127.0.0.1:5222 --ca-file /var/lib/xnet/cert.pem") !=
        std::string::npos);
  nlohmann::json j = r;
  CHECK(j["event"] == "listening");
  CHECK(j["listeners"].size() == 3);
  CHECK(j["listeners"][2]["tls"] == "direct");
  CHECK(j["pass"]["jid"] == "pass.localhost");
  r.pass_jid.reset();
  nlohmann::json j2 = r;
  CHECK_FALSE(j2.contains("pass"));

  server::ComponentReady c{"xnet.example.org", "127.0.0.1:5347", 99};
  check_both_forms(component_ready_fields(), c, {"mode"});
  CHECK(text_of(c) == "xnet serve: component xnet.example.org attached to 127.0.0.1:5347 pid 99\n");
}

TEST_CASE("serve log lines: the same event as text and as a JSON line", "[cmd][render][serve]") {
  LogEvent e{"2026-12-01T00:00:00Z", "reload", {{"accounts", 2}, {"note", ""}, {"source", "sighup"}}};
  CHECK(text_of(e) == "2026-12-01T00:00:00Z reload accounts=2 source=sighup\n");
  nlohmann::json j = e;
  CHECK(j == nlohmann::json{{"ts", "2026-12-01T00:00:00Z"}, {"event", "reload"}, {"accounts", 2}, {"note", ""},
                            {"source", "sighup"}});
}

namespace {

stun::Address addr(const char* ip, std::uint16_t port) { return *stun::Address::parse(ip, port); }

xmpp::WhoamiReport whoami_sic() {
  xmpp::WhoamiReport r;
  r.conn.bound_jid = "alice@example.org/xnet-1";
  r.conn.server_host = "example.org";
  r.conn.server_ip = "192.0.2.1";
  r.conn.server_port = 5222;
  r.conn.local_ip = "10.0.0.2";
  r.conn.local_port = 40000;
  r.conn.tls = "starttls";
  r.conn.connect_ms = 51.26;
  r.external = {"203.0.113.5", 40001, 4, xep0279::Ns::Sic1, {"203.0.113.6"}, {}};
  r.nat = "nat";
  r.notes = {"the server sees 203.0.113.5 but your side of the connection is 10.0.0.2"};
  r.warnings = {"STUN: stun2.example.org:3478: timeout"};
  r.elapsed_ms = 67.04;
  r.nat_report.meaning = "behind NAT";
  r.nat_report.mapping = stun::Mapping::EndpointIndependent;
  r.nat_report.mapping_basis = "RFC 5780 test";
  r.nat_report.tcp_port_preserved = false;
  stun::UdpBehaviour v;
  v.local = addr("10.0.0.2", 50000);
  v.observations = {{"stun.example.org:3478", addr("192.0.2.3", 3478), addr("203.0.113.5", 50001)},
                    {"stun3.example.org:3478", addr("192.0.2.4", 3478), addr("203.0.113.9", 50002)}};
  v.servers = {"stun.example.org:3478", "stun3.example.org:3478"};
  v.filtering_note = "no RFC 5780 server";
  v.rtt_ms = 12.34567;
  r.stun = v;
  return r;
}

}  // namespace

TEST_CASE("whoami: every field in JSON and in the text block", "[cmd][render][whoami]") {
  // Shown by another field's text (external, local, server), on stderr (warnings), or said in
  // words by the notes and the meaning (the NAT facts for scripts); connect_ms is JSON only.
  const std::set<std::string> hidden = {"external_port", "family", "namespace", "via", "stun_server", "local_port",
                                        "mapping_basis", "cgnat", "external_private", "external_shared",
                                        "tcp_port_preserved", "udp_port_preserved", "server_ip", "server_port", "tls",
                                        "connect_ms", "warnings"};
  auto r = whoami_sic();
  CHECK(check_both_forms(whoami_fields(), r, hidden) == 28);
  CHECK(text_of(r) ==
        "external   203.0.113.5:40001  (IPv4, urn:xmpp:sic:1)\n"
        "local      10.0.0.2:40000\n"
        "other IPs  203.0.113.6\n"
        "stun       203.0.113.5:50001  (UDP, via STUN stun.example.org:3478)\n"
        "stun local 10.0.0.2:50000\n"
        "nat        nat\n"
        "           the server sees 203.0.113.5 but your side of the connection is 10.0.0.2\n"
        "           stun3.example.org:3478 saw 203.0.113.9\n"
        "mapping    endpoint-independent  (RFC 5780 test)\n"
        "filtering  unknown  (no RFC 5780 server)\n"
        "meaning    behind NAT\n"
        "server     example.org (192.0.2.1:5222), STARTTLS\n"
        "jid        alice@example.org/xnet-1\n"
        "elapsed    67.0 ms\n");
  nlohmann::json j = r;
  CHECK(j["via"] == "sic");
  CHECK(j["external_port"] == 40001);
  CHECK(j["connect_ms"] == 51.3);
  CHECK(j["udp_port_preserved"].is_null());
  CHECK(j["stun"]["rtt_ms"] == 12.346);
  CHECK(j["stun"]["disagreements"] == nlohmann::json{"stun3.example.org:3478 saw 203.0.113.9"});
  CHECK(j["stun"]["local_port"] == 50000);
  CHECK_FALSE(j.contains("stun_server"));

  // No SIC: the STUN view is the answer.
  r.external = {};
  r.stun->observations.pop_back();
  r.elapsed_ms = 12345;
  auto via_stun_hidden = hidden;
  via_stun_hidden.insert("stun");  // its address is the external/local lines
  check_both_forms(whoami_fields(), r, via_stun_hidden);
  auto text = text_of(r);
  CHECK(text.rfind("external   203.0.113.5:50001  (UDP, via STUN stun.example.org:3478)\nlocal      10.0.0.2:50000\nnat", 0) == 0);
  CHECK(text.find("stun ") == std::string::npos);
  CHECK(text.find("elapsed    12.3 s\n") != std::string::npos);
  nlohmann::json s = r;
  CHECK(s["via"] == "stun");
  CHECK(s["external_ip"] == "203.0.113.5");
  CHECK(s["external_port"] == 50001);
  CHECK(s["local_ip"] == "10.0.0.2");
  CHECK(s["local_port"] == 50000);
  CHECK(s["stun_server"] == "stun.example.org:3478");
  CHECK(s["namespace"].is_null());
  CHECK_FALSE(s.contains("extra_ips"));

  // SIC alone: no STUN lines, nulls kept in JSON.
  auto sic = whoami_sic();
  sic.stun.reset();
  sic.external.port.reset();
  sic.external.extra_ips.clear();
  sic.nat_report.mapping_basis.clear();
  auto sic_hidden = hidden;
  sic_hidden.insert({"mapping", "filtering"});  // unknown without STUN: not shown
  check_both_forms(whoami_fields(), sic, sic_hidden);
  CHECK(text_of(sic).rfind("external   203.0.113.5  (IPv4, urn:xmpp:sic:1)\nlocal      10.0.0.2:40000\nnat        nat\n", 0) == 0);
  CHECK(text_of(sic).find("mapping") == std::string::npos);
  nlohmann::json k = sic;
  CHECK(k.size() == 26);
  CHECK(k["external_port"].is_null());
  CHECK(k["mapping_basis"].is_null());
  CHECK_FALSE(k.contains("stun"));
}

TEST_CASE("stun-list probe: every field in JSON and in the probe lines", "[cmd][render][stun_list]") {
  // JSON only (details for scripts), or shown by another field's text (released in relayed).
  const std::set<std::string> hidden = {"reachable", "requests_sent", "server_address", "allocation_attempted",
                                        "allocate_rtt_ms", "lifetime", "released", "software"};
  stun::ProbeResult p;
  p.reachable = true;
  p.rtt_ms = 0.2449;
  p.sends = 2;
  p.server_address = addr("192.0.2.3", 3478);
  p.mapped = addr("203.0.113.7", 40112);
  p.allocation_attempted = true;
  p.relayed = addr("198.51.100.4", 50012);
  p.allocate_rtt_ms = 1.26;
  p.lifetime = 600;
  p.released = true;
  p.software = "Coturn-4.6";
  p.note = "allocation released";
  auto ok_hidden = hidden;
  ok_hidden.insert("error");  // null: no error line
  CHECK(check_both_forms(stun_probe_fields(), p, ok_hidden) == 14);
  CHECK(text_of(p) ==
        "      probe: ok  rtt 0.2 ms  mapped 203.0.113.7:40112  relayed 198.51.100.4:50012 (released)\n"
        "      allocation released\n");
  std::ostringstream coloured;
  print_text(coloured, p, Style{true});
  CHECK(coloured.str().rfind("      probe: \033[32mok\033[0m  rtt 0.2 ms", 0) == 0);
  CHECK(coloured.str().find("\033[2mallocation released\033[0m") != std::string::npos);
  nlohmann::json j = p;
  CHECK(j["rtt_ms"] == 0.2);
  CHECK(j["allocate_rtt_ms"] == 1.3);
  CHECK(j["requests_sent"] == 2);
  CHECK(j["error"].is_null());
  CHECK(j.size() == 14);

  stun::ProbeResult f;
  f.sends = 4;
  f.error = Error(Category::Timeout, "no answer from 192.0.2.3:3478 after 4 requests");
  auto failed_hidden = hidden;
  failed_hidden.insert({"rtt_ms", "mapped_address", "relayed_address", "note"});  // null: not in the line
  check_both_forms(stun_probe_fields(), f, failed_hidden);
  CHECK(text_of(f) == "      probe: FAILED\n      timeout: no answer from 192.0.2.3:3478 after 4 requests\n");
  nlohmann::json fj = f;
  CHECK(fj["ok"] == false);
  CHECK(fj["rtt_ms"].is_null());
  CHECK(fj["lifetime"].is_null());
  CHECK(fj["error"]["category"] == "timeout");
  CHECK(fj.size() == 14);
}

namespace {

constexpr long long kNow = 1700000000;

xep0215::Service service(std::string type, std::string host, std::uint16_t port, std::string transport,
                         xep0215::Form source = xep0215::Form::Extdisco2) {
  xep0215::Service s;
  s.type = std::move(type);
  s.host = std::move(host);
  s.port = port;
  s.transport = std::move(transport);
  s.source = source;
  return s;
}

// A result of event for alice@example.org whose list came from service_jids.
ops::StunListResult result_of(ops::StunListEvent event, std::vector<std::string> service_jids) {
  ops::StunListResult r;
  r.event = event;
  r.jid = "alice@example.org/xnet";
  r.server = "example.org";
  r.service_jids = std::move(service_jids);
  r.now = kNow;
  return r;
}

// A probed list: a plain STUN server, a TURN server with REST credentials, one with a password
// only and a past ttl expiry (not probed), and a jingleinfo relay sharing the first probe.
ops::StunListResult probed_list() {
  auto r = result_of(ops::StunListEvent::None, {"example.org"});
  r.features = {"urn:xmpp:extdisco:2", "google:jingleinfo"};
  xep0215::FormAttempt a2{xep0215::Form::Extdisco2, true, std::nullopt, 3, "example.org"};
  Error timeout(Category::Timeout, "no reply in 10s");
  xep0215::FormAttempt a1{xep0215::Form::Extdisco1, false, timeout, 0, "example.org"};
  Error refused(Category::Protocol, "refused");
  refused.stanza = StanzaError{"cancel", "feature-not-implemented", "", ""};
  xep0215::FormAttempt aj{xep0215::Form::JingleInfo, true, refused, 0, "alice@example.org"};
  xep0215::FormAttempt ap{xep0215::Form::Provisional, true, std::nullopt, 1, "example.org"};
  r.attempts = {a2, a1, aj, ap};

  ops::StunListRow plain{{service("stun", "192.0.2.3", 3478, "udp"), {}, {}, false, false}, 0, {}};
  auto turn = service("turn", "turn.example.org", 3478, "udp");
  turn.username = "1700000600:alice";
  turn.password = "s3cret";
  turn.expires = kNow + 300;
  turn.restricted = true;
  turn.name = "Main relay";
  ops::StunListRow rest{{turn, kNow + 600, "alice", false, true}, 1, {}};
  auto turns = service("turns", "turn.example.org", 5349, "tcp", xep0215::Form::Extdisco1);
  turns.password = "only-a-password";
  turns.expires = kNow - 4000;
  turns.expires_from_ttl = true;
  ops::StunListRow expired{{turns, {}, {}, true, true}, std::nullopt, "expired credentials"};
  auto relay = service("google-relay", "relay.example.org", 19295, "udp", xep0215::Form::JingleInfo);
  relay.token = "relay-token";
  relay.username = "gu";
  ops::StunListRow google{{relay, {}, {}, false, false}, 0, {}};
  r.rows = {plain, rest, expired, google};

  r.probed = true;
  stun::ProbeResult ok;
  ok.reachable = true;
  ok.rtt_ms = 1.26;
  ok.sends = 1;
  ok.server_address = addr("192.0.2.3", 3478);
  ok.mapped = addr("203.0.113.7", 40112);
  stun::ProbeResult bad;
  bad.reachable = true;
  bad.rtt_ms = 20.04;
  bad.sends = 1;
  bad.allocation_attempted = true;
  bad.error = Error(Category::Auth, "TURN Allocate: 401 authentication failed");
  r.probes = {ok, bad};
  r.summary = {2, 1, 1};
  r.warnings = {"extdisco:1: no reply in 10s"};
  r.failure = Error(Category::CheckFailed, "1 of 2 STUN/TURN servers failed the probe");
  return r;
}

// A push from the server itself: one added, one modified, one deleted; not probed.
ops::StunListResult push() {
  auto r = result_of(ops::StunListEvent::Push, {"example.org"});
  r.attempts = {{xep0215::Form::Extdisco2, true, std::nullopt, 1, "example.org"}};
  auto added = service("stun", "192.0.2.9", 3478, "udp");
  auto changed = service("turn", "192.0.2.9", 3478, "tcp");
  changed.action = xep0215::Action::Modify;
  changed.username = "bob";
  changed.password = "pw";
  auto gone = service("turns", "192.0.2.10", 5349, "tcp");
  gone.action = xep0215::Action::Delete;
  r.changes = {added, changed, gone};
  r.rows = {{{added, {}, {}, false, false}, std::nullopt, {}}, {{changed, {}, {}, false, false}, std::nullopt, {}}};
  return r;
}

// A list found on other JIDs (disco#items) where no form answered.
ops::StunListResult elsewhere_empty() {
  auto r = result_of(ops::StunListEvent::List, {"stun.example.org", "relay.example.org"});
  r.via_items = true;
  r.attempts = {{xep0215::Form::Extdisco2, false, Error(Category::Timeout, "no reply"), 0, "stun.example.org"}};
  return r;
}


// The JSON documents as the hand-written renderers printed them before the tables (schema
// xnet-stun-list:1): the tables must keep them byte for byte.
constexpr const char* kProbedListJson = R"json({"error":{"category":"check_failed","exit_code":1,"message":"1 of 2 STUN/TURN servers failed the probe"},"features":["urn:xmpp:extdisco:2","google:jingleinfo"],"forms":[{"advertised":true,"error":null,"jid":"example.org","ns":"urn:xmpp:extdisco:2","services":3,"source":"extdisco:2"},{"advertised":false,"error":"no reply in 10s","jid":"example.org","ns":"urn:xmpp:extdisco:1","services":0,"source":"extdisco:1"},{"advertised":true,"error":"feature-not-implemented","jid":"alice@example.org","ns":"google:jingleinfo","services":0,"source":"jingleinfo"},{"advertised":true,"error":null,"jid":"example.org","ns":"http://www.xmpp.org/extensions/xep-0215.html#ns","services":1,"source":"xep0215-provisional"}],"jid":"alice@example.org/xnet","probe_summary":{"all_ok":false,"failed":1,"ok":1,"probed":2},"server":"example.org","service_jids":["example.org"],"services":[{"credentials_requested":false,"expired":false,"expires":null,"expires_in":null,"expires_source":null,"host":"192.0.2.3","name":null,"password":null,"port":3478,"probe":{"allocate_rtt_ms":null,"allocation_attempted":false,"error":null,"lifetime":null,"mapped_address":"203.0.113.7:40112","note":null,"ok":true,"reachable":true,"relayed_address":null,"released":false,"requests_sent":1,"rtt_ms":1.3,"server_address":"192.0.2.3:3478","software":null},"rest_expiry":null,"rest_user":null,"restricted":false,"source":"extdisco:2","source_ns":"urn:xmpp:extdisco:2","transport":"udp","type":"stun","uri":"stun:192.0.2.3:3478","username":null},{"credentials_requested":true,"expired":false,"expires":"2023-11-14T22:18:20Z","expires_in":300,"expires_source":"expires","host":"turn.example.org","name":"Main relay","password":"s3cret","port":3478,"probe":{"allocate_rtt_ms":null,"allocation_attempted":true,"error":{"category":"auth","exit_code":77,"message":"TURN Allocate: 401 authentication failed"},"lifetime":null,"mapped_address":null,"note":null,"ok":false,"reachable":true,"relayed_address":null,"released":false,"requests_sent":1,"rtt_ms":20.0,"server_address":null,"software":null},"rest_expiry":"2023-11-14T22:23:20Z","rest_user":"alice","restricted":true,"source":"extdisco:2","source_ns":"urn:xmpp:extdisco:2","transport":"udp","type":"turn","uri":"turn:turn.example.org:3478?transport=udp","username":"1700000600:alice"},{"credentials_requested":true,"expired":true,"expires":"2023-11-14T21:06:40Z","expires_in":-4000,"expires_source":"ttl","host":"turn.example.org","name":null,"password":"only-a-password","port":5349,"probe":{"skipped":"expired credentials"},"rest_expiry":null,"rest_user":null,"restricted":false,"source":"extdisco:1","source_ns":"urn:xmpp:extdisco:1","transport":"tcp","type":"turns","uri":"turns:turn.example.org:5349?transport=tcp","username":null},{"credentials_requested":false,"expired":false,"expires":null,"expires_in":null,"expires_source":null,"host":"relay.example.org","name":null,"password":null,"port":19295,"probe":{"allocate_rtt_ms":null,"allocation_attempted":false,"error":null,"lifetime":null,"mapped_address":"203.0.113.7:40112","note":null,"ok":true,"reachable":true,"relayed_address":null,"released":false,"requests_sent":1,"rtt_ms":1.3,"server_address":"192.0.2.3:3478","software":null},"rest_expiry":null,"rest_user":null,"restricted":false,"source":"jingleinfo","source_ns":"google:jingleinfo","token":"relay-token","transport":"udp","type":"google-relay","uri":"google-relay:relay.example.org:19295","username":"gu"}],"via_items":false,"warnings":["extdisco:1: no reply in 10s"]})json";
constexpr const char* kPushJson = R"json({"changes":[{"action":"add","expires":null,"expires_in":null,"expires_source":null,"host":"192.0.2.9","name":null,"password":null,"port":3478,"restricted":false,"source":"extdisco:2","source_ns":"urn:xmpp:extdisco:2","transport":"udp","type":"stun","uri":"stun:192.0.2.9:3478","username":null},{"action":"modify","expires":null,"expires_in":null,"expires_source":null,"host":"192.0.2.9","name":null,"password":"pw","port":3478,"restricted":false,"source":"extdisco:2","source_ns":"urn:xmpp:extdisco:2","transport":"tcp","type":"turn","uri":"turn:192.0.2.9:3478?transport=tcp","username":"bob"},{"action":"delete","expires":null,"expires_in":null,"expires_source":null,"host":"192.0.2.10","name":null,"password":null,"port":5349,"restricted":false,"source":"extdisco:2","source_ns":"urn:xmpp:extdisco:2","transport":"tcp","type":"turns","uri":"turns:192.0.2.10:5349?transport=tcp","username":null}],"error":null,"event":"push","features":[],"forms":[{"advertised":true,"error":null,"jid":"example.org","ns":"urn:xmpp:extdisco:2","services":1,"source":"extdisco:2"}],"jid":"alice@example.org/xnet","server":"example.org","service_jids":["example.org"],"services":[{"credentials_requested":false,"expired":false,"expires":null,"expires_in":null,"expires_source":null,"host":"192.0.2.9","name":null,"password":null,"port":3478,"rest_expiry":null,"rest_user":null,"restricted":false,"source":"extdisco:2","source_ns":"urn:xmpp:extdisco:2","transport":"udp","type":"stun","uri":"stun:192.0.2.9:3478","username":null},{"action":"modify","credentials_requested":false,"expired":false,"expires":null,"expires_in":null,"expires_source":null,"host":"192.0.2.9","name":null,"password":"pw","port":3478,"rest_expiry":null,"rest_user":null,"restricted":false,"source":"extdisco:2","source_ns":"urn:xmpp:extdisco:2","transport":"tcp","type":"turn","uri":"turn:192.0.2.9:3478?transport=tcp","username":"bob"}],"via_items":false,"warnings":[]})json";

}  // namespace

TEST_CASE("stun-list: the result, byte for byte, and its text block", "[cmd][render][stun_list]") {
  auto r = probed_list();
  StunListView v{r, false};
  CHECK(nlohmann::json(v).dump() == kProbedListJson);
  CHECK(nlohmann::json(StunListView{r, true}).dump() == kProbedListJson);  // JSON always has the secrets
  CHECK(text_of(v) ==
        "STUN/TURN services of example.org (extdisco:2, xep0215-provisional)\n"
        "  stun:192.0.2.3:3478  udp  [extdisco:2]\n"
        "      probe: ok  rtt 1.3 ms  mapped 203.0.113.7:40112\n"
        "  turn:turn.example.org:3478?transport=udp  restricted  \"Main relay\"  [extdisco:2]\n"
        "      user 1700000600:alice  password ********\n"
        "      expires 2023-11-14T22:18:20Z (in 5 min)\n"
        "      TURN REST username expires 2023-11-14T22:23:20Z (in 10 min)\n"
        "      probe: FAILED  rtt 20.0 ms\n"
        "      authentication failed: TURN Allocate: 401 authentication failed\n"
        "  turns:turn.example.org:5349?transport=tcp  [extdisco:1]\n"
        "      user -  password ********\n"
        "      expires 2023-11-14T21:06:40Z (expired 66 min ago) from ttl\n"
        "      probe: skipped (expired credentials)\n"
        "  google-relay:relay.example.org:19295  udp  [jingleinfo]\n"
        "      user gu  password -\n"
        "      relay token ******** (Google relay, not used)\n"
        "      probe: ok  rtt 1.3 ms  mapped 203.0.113.7:40112\n"
        "probed 2 server(s), ok 1, failed 1\n");
  std::ostringstream coloured;
  print_text(coloured, v, Style{true});
  CHECK(coloured.str().find("  \033[1mstun:192.0.2.3:3478\033[0m  udp  \033[2m[extdisco:2]\033[0m\n") != std::string::npos);
  CHECK(coloured.str().find("\033[31mexpires 2023-11-14T21:06:40Z (expired 66 min ago) from ttl\033[0m") !=
        std::string::npos);
  CHECK(coloured.str().find("probe: \033[31mFAILED\033[0m") != std::string::npos);
  CHECK(coloured.str().find("probe: \033[2mskipped (expired credentials)\033[0m") != std::string::npos);
  auto shown = text_of(StunListView{r, true});
  CHECK(shown.find("password s3cret") != std::string::npos);
  CHECK(shown.find("password only-a-password") != std::string::npos);
  CHECK(shown.find("relay token relay-token") != std::string::npos);
  CHECK(text_of(v).find("s3cret") == std::string::npos);

  // Every field of the result: in JSON, and in the heading, the blocks or the counts.
  // The heading says "of example.org" (service_jids: the domain itself, not in disco#items).
  const std::set<std::string> hidden = {"event", "jid", "features", "warnings", "error", "via_items", "service_jids"};
  CHECK(check_both_forms(stun_list_fields(), v, hidden) == 10);
  nlohmann::json j = v;
  CHECK(check_fields(stun_summary_fields(), r.summary, j["probe_summary"], text_of(v), {"all_ok"}) == 4);
  // Forms: the label of those that answered is the heading's list.
  const std::set<std::string> form_hidden = {"ns", "jid", "advertised", "services", "error"};
  CHECK(check_fields(stun_form_fields(), r.attempts[0], j["forms"][0], text_of(v), form_hidden) == 6);
  auto failed_form = form_hidden;
  failed_form.insert("source");  // no answer: not in the heading
  check_fields(stun_form_fields(), r.attempts[1], j["forms"][1], text_of(v), failed_form);
}

TEST_CASE("stun-list services: every field in JSON and in the service block", "[cmd][render][stun_list]") {
  auto r = probed_list();
  StunListView list{r, false};
  // In the URI, in another field's text (expires, username, source), or details for scripts.
  const std::set<std::string> hidden = {"type", "host", "port", "source_ns", "expires_in", "expires_source",
                                        "expired", "credentials_requested", "rest_user", "action"};
  auto plain_hidden = hidden;  // restricted false, and null: nothing to say
  plain_hidden.insert({"restricted", "rest_expiry", "name", "username", "password", "expires"});
  CHECK(check_both_forms(stun_service_fields(), ServiceView{r.rows[0].found.service, &r.rows[0], list}, plain_hidden) == 19);
  auto rest_hidden = hidden;
  rest_hidden.insert("transport");  // in the URI's ?transport=
  CHECK(check_both_forms(stun_service_fields(), ServiceView{r.rows[1].found.service, &r.rows[1], list}, rest_hidden) == 19);
  auto ttl_hidden = rest_hidden;
  ttl_hidden.insert({"restricted", "rest_expiry", "name", "username"});
  check_both_forms(stun_service_fields(), ServiceView{r.rows[2].found.service, &r.rows[2], list}, ttl_hidden);
  auto relay_hidden = plain_hidden;
  relay_hidden.erase("username");
  check_both_forms(stun_service_fields(), ServiceView{r.rows[3].found.service, &r.rows[3], list}, relay_hidden);

  // A pushed change: the service's own keys and its action, none of a listed entry's.
  auto p = push();
  StunListView pv{p, false};
  nlohmann::json c = ServiceView{p.changes[0], nullptr, pv};
  CHECK(c["action"] == "add");
  CHECK_FALSE(c.contains("expired"));
  CHECK_FALSE(c.contains("rest_expiry"));
  CHECK_FALSE(c.contains("probe"));
  nlohmann::json listed = ServiceView{p.rows[0].found.service, &p.rows[0], pv};
  CHECK_FALSE(listed.contains("action"));
  CHECK(listed["rest_expiry"].is_null());
}

TEST_CASE("stun-list push and an empty list: byte for byte, and their text", "[cmd][render][stun_list]") {
  auto p = push();
  StunListView v{p, false};
  CHECK(nlohmann::json(v).dump() == kPushJson);
  CHECK(text_of(v) ==
        "push from example.org:\n"
        "  + stun:192.0.2.9:3478  udp  [extdisco:2]\n"
        "  ~ turn:192.0.2.9:3478?transport=tcp  [extdisco:2]\n"
        "  - turns:192.0.2.10:5349?transport=tcp  [extdisco:2]\n"
        "services now:\n"
        "  stun:192.0.2.9:3478  udp  [extdisco:2]\n"
        "  ~ turn:192.0.2.9:3478?transport=tcp  [extdisco:2]\n"
        "      user bob  password ********\n");
  check_both_forms(stun_list_fields(), v, {"event", "jid", "features", "warnings", "error", "via_items", "service_jids", "forms"});
  p.push_from = "relay.example.org";
  CHECK(text_of(v).rfind("push from relay.example.org:\n  + stun:", 0) == 0);
  CHECK(nlohmann::json(v)["from"] == "relay.example.org");

  auto e = elsewhere_empty();
  StunListView ev{e, false};
  CHECK(text_of(ev) ==
        "STUN/TURN services of example.org from stun.example.org, relay.example.org (found in disco#items) "
        "(none answered)\n  (none)\n");
  nlohmann::json j = ev;
  CHECK(j.dump() ==
        R"({"error":null,"event":"list","features":[],"forms":[{"advertised":false,"error":"no reply","jid":"stun.example.org","ns":"urn:xmpp:extdisco:2","services":0,"source":"extdisco:2"}],"jid":"alice@example.org/xnet","server":"example.org","service_jids":["stun.example.org","relay.example.org"],"services":[],"via_items":true,"warnings":[]})");
  check_both_forms(stun_list_fields(), ev, {"event", "jid", "features", "warnings", "error"});
}

namespace {

mdns::Peer lan_peer() {
  mdns::Peer p;
  p.name = "juliet@pronto";
  p.type = "_presence._tcp";
  p.domain = "local";
  p.host = "pronto.local";
  p.port = 5562;
  p.addresses = {{"10.2.1.187", AF_INET, "eth0", 0}, {"fe80::1", AF_INET6, "eth0", 2}};
  p.interfaces = {"eth0"};
  p.txt_raw = {"txtvers=1", "status=away", std::string("msg=bad\xff" "byte"), "vc", "NICK=Jul"};
  p.txt = mdns::txt_from_strings(p.txt_raw);
  p.presence = mdns::presence_from_txt(p.txt);
  return p;
}

mdns::ServerEvent lan_message() {
  mdns::ServerEvent e;
  e.kind = mdns::ServerEvent::Kind::Message;
  e.connection = 3;
  e.peer_address = "127.0.0.1";
  e.time = std::chrono::system_clock::time_point(std::chrono::milliseconds(1700000000123));
  e.stream.message.from = "romeo@forza";
  e.stream.message.to = "juliet@pronto";
  e.stream.message.type = "chat";
  e.stream.message.body = "two\nlines \xE2\x98\x83";
  e.stream.message.thread = "th";
  return e;
}

// JSON only (for scripts), or shown by another field's text (name, status, host, txt_raw).
const std::set<std::string> kPeerHidden = {"user", "machine", "msg", "port", "txt", "nick", "type", "domain", "local"};

}  // namespace

TEST_CASE("lan peer: every field in JSON and in the text block", "[cmd][render][lan]") {
  auto own_hidden = kPeerHidden;
  own_hidden.insert("own");  // false: nothing to say
  auto p = lan_peer();
  std::ostringstream text;
  text << peer_text(p) << '\n';
  CHECK(check_fields(lan_peer_fields(), p, nlohmann::json(p), text.str(), own_hidden) == 16);
  CHECK(peer_text(p) ==
        "juliet@pronto  away \"bad\xEF\xBF\xBD" "byte\"\n"
        "  pronto.local port 5562  10.2.1.187, fe80::1%eth0  (on eth0)\n"
        "  txt: txtvers=1 status=away msg=bad\\xffbyte vc NICK=Jul");
  nlohmann::json j = p;
  CHECK(j["name"] == "juliet@pronto");
  CHECK(j["user"] == "juliet");
  CHECK(j["machine"] == "pronto");
  CHECK(j["addresses"][1]["address"] == "fe80::1%eth0");
  CHECK(j["addresses"][1]["family"] == "ipv6");
  CHECK(j["addresses"][1]["scope_id"] == 2);
  CHECK_FALSE(j["addresses"][0].contains("scope_id"));
  CHECK(j["txt"]["vc"] == true);
  CHECK(j["txt"]["nick"] == "Jul");  // keys lower-cased
  CHECK(j["nick"] == "Jul");
  CHECK(j["status"] == "away");
  CHECK(j["msg"] == "bad\xEF\xBF\xBD" "byte");  // invalid UTF-8 replaced: JSON stays valid
  CHECK(j["txt_raw"][2] == "msg=bad\\xffbyte");    // lossless raw form
  CHECK_FALSE(j.contains("status_raw"));
  CHECK_FALSE(j.contains("email"));
  CHECK(j.size() == 16);
  CHECK_NOTHROW(j.dump());

  SECTION("an unknown status is shown as avail with the raw value kept; no @ in the name: no user") {
    p.presence.status = "chatty";
    p.presence.msg.reset();
    p.name = "pronto";
    p.own = true;
    nlohmann::json k = p;
    CHECK(k["status"] == "avail");
    CHECK(k["status_raw"] == "chatty");
    CHECK_FALSE(k.contains("user"));
    CHECK(peer_text(p).rfind("pronto  avail  (you)\n", 0) == 0);
  }
}

TEST_CASE("lan browse events: the peer's fields and the event, in one line object", "[cmd][render][lan]") {
  mdns::PeerEvent added{mdns::PeerEvent::Kind::New, lan_peer()};
  auto hidden = kPeerHidden;
  hidden.insert({"own", "event"});  // the event is the name's mark
  CHECK(check_both_forms(lan_peer_event_fields(), added, hidden) == 17);
  CHECK(text_of(added).rfind("+ juliet@pronto  away", 0) == 0);
  nlohmann::json j = added;
  CHECK(j["event"] == "new");
  CHECK(j["port"] == 5562);

  mdns::PeerEvent removed{mdns::PeerEvent::Kind::Removed, lan_peer()};
  CHECK(text_of(removed) == "- juliet@pronto\n");
  CHECK(nlohmann::json(removed)["event"] == "removed");
  mdns::PeerEvent updated{mdns::PeerEvent::Kind::Updated, lan_peer()};
  CHECK(text_of(updated).rfind("= juliet@pronto", 0) == 0);
  CHECK(nlohmann::json(updated)["event"] == "updated");
}

TEST_CASE("lan messages: every field in JSON and in the text line", "[cmd][render][lan]") {
  auto e = lan_message();
  LanMessage m{e};
  const std::set<std::string> hidden = {"event", "thread", "to", "type", "peer_address", "connection"};
  CHECK(check_both_forms(lan_message_fields(), m, hidden) == 9);
  CHECK(text_of(m) == "2023-11-14T22:13:20.123Z romeo@forza: two\n    lines \xE2\x98\x83  [thread th]\n");
  nlohmann::json j = m;
  CHECK(j["event"] == "message");
  CHECK(j["time"] == "2023-11-14T22:13:20.123Z");
  CHECK(j["body"] == "two\nlines \xE2\x98\x83");
  CHECK(j["thread"] == "th");
  CHECK(j["connection"] == 3);
  CHECK_FALSE(j.contains("stamp"));
  CHECK_FALSE(j.contains("id"));
  SECTION("no from: the peer address stands in") {
    e.stream.message.from.clear();
    e.stream.message.stamp = "2023-11-14T22:00:00Z";
    CHECK(text_of(m).find(" 127.0.0.1: two") != std::string::npos);
    nlohmann::json k = m;
    CHECK(k["from"] == "");
    CHECK(k["stamp"] == "2023-11-14T22:00:00Z");
  }
}

TEST_CASE("raw and JSON-safe strings", "[cmd][render][lan]") {
  CHECK(json_safe("ok \xC3\xA9") == "ok \xC3\xA9");
  CHECK(json_safe("\xC3") == "\xEF\xBF\xBD");
  CHECK(escape_raw(std::string("a\\b\x01\xC3\xA9\xff", 7)) == "a\\\\b\\x01\xC3\xA9\\xff");
  CHECK(format_time(std::chrono::system_clock::time_point{}) == "1970-01-01T00:00:00.000Z");
}

TEST_CASE("durations are formatted like they are rounded", "[cmd][render]") {
  CHECK(format_ms(1021.247604) == "1021.2 ms");
  CHECK(format_ms(0.04) == "0.0 ms");
  CHECK(format_ms(15.06) == "15.1 ms");
  CHECK(format_ms(12345.0) == "12.3 s");
}
