// SPDX-License-Identifier: MIT
// xnet stun-list against a real Prosody 0.12 (mod_external_services, TURN REST secret) and a
// real coturn sharing that secret, both on 127.0.0.1.
#include <catch2/catch.hpp>

#include "support/coturn.hpp"
#include "support/process.hpp"
#include "support/prosody.hpp"
#include "support/serve_fixture.hpp"
#include "support/skip.hpp"

#include <csignal>
#include <thread>

#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>

using namespace xnet::test;

namespace {
constexpr const char* kPassword = "stun-Pa55word!";
const std::map<std::string, std::string> kEnv{{"XNET_PASSWORD", kPassword}};

Coturn& turn() {
  static std::unique_ptr<Coturn> c = std::make_unique<Coturn>();
  return *c;
}

// Prosody announcing coturn with the TURN REST secret (right or wrong).
std::unique_ptr<Prosody> make_prosody(const std::string& secret) {
  auto port = std::to_string(turn().port());
  ProsodyOptions o;
  o.modules = {"external_services"};
  o.host_config = "external_service_secret = \"" + secret + "\"\n" +
                  "external_services = {\n"
                  "  { type = \"stun\", transport = \"udp\", host = \"127.0.0.1\", port = " + port + " };\n" +
                  "  { type = \"turn\", transport = \"udp\", host = \"127.0.0.1\", port = " + port +
                  ", secret = true, username = \"alice\" };\n" +
                  "  { type = \"turn\", transport = \"tcp\", host = \"127.0.0.1\", port = " + port +
                  ", secret = true };\n"
                  "}\n";
  auto p = std::make_unique<Prosody>(o);
  p->add_user("alice", kPassword);
  return p;
}

Prosody& good() {
  static std::unique_ptr<Prosody> p = make_prosody(turn().secret());
  return *p;
}

std::vector<std::string> stun_list(Prosody& s, std::vector<std::string> extra, bool json = true) {
  std::vector<std::string> a;
  if (json) a.push_back("--json");
  a.insert(a.end(), {"stun-list", "--jid", "alice@localhost", "--server", s.server(), "--ca-file", s.cert(),
                     "--timeout", "15"});
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

const nlohmann::json* find(const nlohmann::json& services, const std::string& type, const std::string& transport) {
  for (const auto& s : services)
    if (s["type"] == type && s["transport"] == transport) return &s;
  return nullptr;
}

#define SKIP_WITHOUT_PEERS()           \
  XNET_SKIP_IF(Prosody::unavailable()); \
  XNET_SKIP_IF(Coturn::unavailable())
}  // namespace

TEST_CASE("stun-list lists Prosody's services with TURN REST credentials", "[integration][stun_list]") {
  SKIP_WITHOUT_PEERS();
  auto& s = good();
  auto r = run_xnet(stun_list(s, {}), kEnv);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = r.json();
  REQUIRE(j["services"].size() == 3);
  CHECK(j["warnings"].empty());
  CHECK(j["forms"][0]["source"] == "extdisco:2");
  CHECK(j["forms"][0]["advertised"] == true);
  const auto* stun = find(j["services"], "stun", "udp");
  REQUIRE(stun);
  CHECK((*stun)["host"] == "127.0.0.1");
  CHECK((*stun)["port"] == turn().port());
  CHECK((*stun)["username"].is_null());
  const auto* t = find(j["services"], "turn", "udp");
  REQUIRE(t);
  CHECK((*t)["restricted"] == true);
  CHECK((*t)["source"] == "extdisco:2");
  CHECK((*t)["source_ns"] == "urn:xmpp:extdisco:2");
  REQUIRE((*t)["username"].is_string());
  auto user = (*t)["username"].get<std::string>();
  CHECK(user.size() > 11);
  CHECK(user.substr(user.find(':')) == ":alice");
  CHECK((*t)["password"].get<std::string>().size() == 28);
  CHECK((*t)["rest_user"] == "alice");
  REQUIRE((*t)["expires_in"].is_number());
  CHECK((*t)["expires_in"].get<long long>() > 86000);
  CHECK((*t)["expires_in"].get<long long>() <= 86400);
  CHECK((*t)["expires"] == (*t)["rest_expiry"]);
  CHECK((*t)["expires_source"] == "turn_rest_username");
  CHECK((*t)["expired"] == false);
  CHECK((*t)["uri"] == "turn:127.0.0.1:" + std::to_string(turn().port()) + "?transport=udp");

  SECTION("filters") {
    auto f = run_xnet(stun_list(s, {"--type", "turn", "--transport", "tcp"}), kEnv);
    REQUIRE(f.exit_code == 0);
    auto fj = f.json();
    REQUIRE(fj["services"].size() == 1);
    CHECK(fj["services"][0]["transport"] == "tcp");
  }
  SECTION("--ns extdisco:1 and --all label their source") {
    auto one = run_xnet(stun_list(s, {"--ns", "extdisco:1"}), kEnv);
    REQUIRE(one.exit_code == 0);
    CHECK(one.json()["services"][0]["source"] == "extdisco:1");
    auto all = run_xnet(stun_list(s, {"--all", "--no-credentials"}), kEnv);
    REQUIRE(all.exit_code == 0);
    auto aj = all.json();
    CHECK(aj["forms"].size() == 2);
    CHECK(aj["services"].size() == 6);
  }
  SECTION("text output masks passwords unless --show-secrets") {
    auto pw = (*t)["password"].get<std::string>();
    auto text = run_xnet(stun_list(s, {}, false), kEnv);
    REQUIRE(text.exit_code == 0);
    CHECK(text.out.find("********") != std::string::npos);
    CHECK(text.out.find("turn:127.0.0.1:") != std::string::npos);
    CHECK(text.out.find(pw.substr(0, 20)) == std::string::npos);
    auto shown = run_xnet(stun_list(s, {"--show-secrets"}, false), kEnv);
    REQUIRE(shown.exit_code == 0);
    CHECK(shown.out.find("password ") != std::string::npos);
    CHECK(shown.out.find("********") == std::string::npos);
  }
}

TEST_CASE("stun-list --probe: Binding and TURN allocation against coturn", "[integration][stun_list]") {
  SKIP_WITHOUT_PEERS();
  auto& s = good();
  auto r = run_xnet(stun_list(s, {"--probe"}), kEnv);
  INFO(r.err << turn().log().substr(0, 2000));
  REQUIRE(r.exit_code == 0);
  auto j = r.json();
  CHECK(j["probe_summary"]["probed"] == 3);
  CHECK(j["probe_summary"]["ok"] == 3);
  CHECK(j["probe_summary"]["all_ok"] == true);
  for (const auto& svc : j["services"]) {
    INFO(svc.dump());
    const auto& p = svc["probe"];
    CHECK(p["ok"] == true);
    CHECK(p["reachable"] == true);
    CHECK(p["error"].is_null());
    REQUIRE(p["mapped_address"].is_string());
    CHECK(p["mapped_address"].get<std::string>().rfind("127.0.0.1:", 0) == 0);
    CHECK(p["rtt_ms"].get<double>() >= 0);
    CHECK(p["rtt_ms"].get<double>() < 1000);
    if (svc["type"] == "turn") {
      CHECK(p["allocation_attempted"] == true);
      REQUIRE(p["relayed_address"].is_string());
      CHECK(p["relayed_address"].get<std::string>().rfind("127.0.0.1:", 0) == 0);
      CHECK(p["released"] == true);
      CHECK(p["lifetime"].get<int>() > 0);
    } else {
      CHECK(p["relayed_address"].is_null());
    }
  }
}

TEST_CASE("stun-list --probe: a wrong TURN secret is a credential error", "[integration][stun_list]") {
  SKIP_WITHOUT_PEERS();
  auto bad = make_prosody("not-the-coturn-secret");
  auto r = run_xnet(stun_list(*bad, {"--probe"}), kEnv);
  INFO(r.err);
  CHECK(r.exit_code == 1);
  auto j = r.json();  // exactly one JSON document, even on failure
  CHECK(j["error"]["category"] == "check_failed");
  CHECK(j["error"]["exit_code"] == 1);
  CHECK(j["probe_summary"]["failed"] == 2);
  CHECK(j["probe_summary"]["all_ok"] == false);
  const auto* stun = find(j["services"], "stun", "udp");
  REQUIRE(stun);
  CHECK((*stun)["probe"]["ok"] == true);
  const auto* t = find(j["services"], "turn", "udp");
  REQUIRE(t);
  const auto& p = (*t)["probe"];
  CHECK(p["ok"] == false);
  CHECK(p["reachable"] == true);
  CHECK(p["error"]["category"] == "auth");
  CHECK(p["error"]["message"].get<std::string>().find("credentials rejected") != std::string::npos);

  auto text = run_xnet(stun_list(*bad, {"--probe", "--type", "turn"}, false), kEnv);
  CHECK(text.exit_code == 1);
  CHECK(text.err.find("check failed") != std::string::npos);
  CHECK(text.out.find("authentication failed") != std::string::npos);
}

TEST_CASE("stun-list --probe reports an unreachable STUN server within the budget", "[integration][stun_list]") {
  SKIP_WITHOUT_PEERS();
  // A Prosody announcing a port where nothing listens.
  ProsodyOptions o;
  o.modules = {"external_services"};
  o.host_config = "external_services = { { type = \"stun\", transport = \"udp\", host = \"127.0.0.1\", port = " +
                  std::to_string(free_udp_port()) + " } }\n";
  Prosody p(o);
  p.add_user("alice", kPassword);
  auto r = run_xnet(stun_list(p, {"--probe", "--stun-rto", "50", "--stun-tries", "2"}), kEnv);
  INFO(r.err);
  CHECK(r.exit_code == 1);
  auto j = r.json();
  const auto& probe = j["services"][0]["probe"];
  CHECK(probe["ok"] == false);
  CHECK(probe["reachable"] == false);
  // ICMP port unreachable on loopback ends the transaction early: connect, not timeout.
  auto cat = probe["error"]["category"].get<std::string>();
  CHECK((cat == "connect" || cat == "timeout"));
  CHECK(r.elapsed_ms < 10000);
}

TEST_CASE("whoami falls back to STUN when the server lacks XEP-0279", "[integration][stun_list][whoami]") {
  SKIP_WITHOUT_PEERS();
  auto& s = good();  // mod_external_services only: no mod_ipcheck
  auto r = run_xnet({"--json", "whoami", "--jid", "alice@localhost", "--server", s.server(), "--ca-file", s.cert(),
                     "--timeout", "15"},
                    kEnv);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = r.json();
  CHECK(j["via"] == "stun");
  CHECK(j["external_ip"] == "127.0.0.1");
  REQUIRE(j["external_port"].is_number());
  CHECK(j["external_port"] == j["local_port"]);
  CHECK(j["nat"] == "none");
  CHECK(j["stun_server"] == "127.0.0.1:" + std::to_string(turn().port()));

  auto no = run_xnet({"--json", "whoami", "--no-stun", "--jid", "alice@localhost", "--server", s.server(),
                      "--ca-file", s.cert(), "--timeout", "15"},
                     kEnv);
  CHECK(no.exit_code == 80);
  CHECK(no.json()["error"]["category"] == "not_supported");
}

TEST_CASE("whoami --stun reports SIC and STUN side by side", "[integration][stun_list][whoami]") {
  SKIP_WITHOUT_PEERS();
  auto port = std::to_string(turn().port());
  ProsodyOptions o;
  o.modules = {"ipcheck", "external_services"};
  o.host_config = "external_services = { { type = \"stun\", transport = \"udp\", host = \"127.0.0.1\", port = " +
                  port + " } }\n";
  Prosody p(o);
  p.add_user("alice", kPassword);
  auto r = run_xnet({"--json", "whoami", "--stun", "--jid", "alice@localhost", "--server", p.server(), "--ca-file",
                     p.cert(), "--timeout", "15"},
                    kEnv);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = r.json();
  CHECK(j["via"] == "sic");
  CHECK(j["external_ip"] == "127.0.0.1");
  REQUIRE(j["stun"].is_object());
  CHECK(j["stun"]["external_ip"] == "127.0.0.1");
  CHECK(j["stun"]["nat"] == "none");
  bool compared = false;
  for (const auto& n : j["nat_notes"])
    if (n.get<std::string>().find("see the same address 127.0.0.1") != std::string::npos) compared = true;
  CHECK(compared);
}

TEST_CASE("plain whoami asks the announced STUN servers automatically, within a bound", "[integration][stun_list][whoami]") {
  SKIP_WITHOUT_PEERS();
  // One STUN server that answers (coturn) and, in the second Prosody, one that never does.
  asio::io_context io;
  asio::ip::udp::socket silent(io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto make = [&](std::uint16_t stun_port) {
    ProsodyOptions o;
    o.modules = {"ipcheck", "external_services"};
    o.host_config = "external_services = { { type = \"stun\", transport = \"udp\", host = \"127.0.0.1\", port = " +
                    std::to_string(stun_port) + " } }\n";
    auto p = std::make_unique<Prosody>(o);
    p->add_user("alice", kPassword);
    return p;
  };
  auto args = [](Prosody& p, std::vector<std::string> extra) {
    std::vector<std::string> a{"--json", "whoami", "--jid", "alice@localhost", "--server", p.server(), "--ca-file",
                               p.cert(), "--timeout", "15"};
    a.insert(a.end(), extra.begin(), extra.end());
    return a;
  };
  SECTION("the NAT check appears without --stun, mapping only") {
    auto p = make(turn().port());
    auto r = run_xnet(args(*p, {"-v"}), kEnv);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    auto j = r.json();
    CHECK(j["via"] == "sic");
    REQUIRE(j["stun"].is_object());
    CHECK(j["stun"]["external_ip"] == "127.0.0.1");
    CHECK(j["stun"]["servers"] == nlohmann::json::array({"127.0.0.1:" + std::to_string(turn().port())}));
    CHECK(j["stun"]["filter_change_ip_port_answered"].is_null());
    CHECK(j["mapping"] == "none");
    CHECK(j["nat"] == "none");
    CHECK(r.err.find("--no-stun skips this") != std::string::npos);

    auto off = run_xnet(args(*p, {"--no-stun"}), kEnv);
    INFO(off.err);
    REQUIRE(off.exit_code == 0);
    CHECK_FALSE(off.json().contains("stun"));
    CHECK(off.json()["mapping"] == "unknown");
  }
  SECTION("a STUN server that never answers costs at most about a second, and the report stays the SIC one") {
    auto p = make(silent.local_endpoint().port());
    auto base = run_xnet(args(*p, {"--no-stun"}), kEnv);
    REQUIRE(base.exit_code == 0);
    auto r = run_xnet(args(*p, {"-v"}), kEnv);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    auto j = r.json();
    CHECK_FALSE(j.contains("stun"));
    CHECK(j["external_ip"] == "127.0.0.1");
    CHECK(r.err.find("no automatic NAT check") != std::string::npos);
    CHECK(r.elapsed_ms < base.elapsed_ms + 1500);
  }
}

namespace {

std::vector<std::string> serve_args(ServeFixture& s, std::vector<std::string> extra) {
  std::vector<std::string> a{"--json", "stun-list", "--jid", "alice@localhost", "--server", s.server(), "--ca-file",
                             s.cert(), "--timeout", "10"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}
}  // namespace

TEST_CASE("stun-list --watch --probe probes the servers a push adds", "[integration][stun_list][serve]") {
  XNET_SKIP_IF(Coturn::unavailable());
  // One TURN entry at coturn (Binding only: --no-allocate), then a push adds one at a UDP port
  // that never answers.
  asio::io_context io;
  asio::ip::udp::socket silent(io, asio::ip::udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto entry = [](std::uint16_t port) {
    return "\n[[external_services]]\ntype = \"turn\"\nhost = \"127.0.0.1\"\nport = " + std::to_string(port) +
           "\ntransport = \"udp\"\n";
  };
  const std::string first = entry(turn().port());
  ServeFixture s({{{"alice", kPassword}}, first, {}, false, false});
  TempDir d("xnet-watch-probe");
  Process::Options po;
  po.stdout_file = d / "out";
  po.stderr_file = d / "err";
  po.env = {{"XNET_PASSWORD", kPassword}, {"XDG_CONFIG_HOME", (d / "cfg").string()}};
  auto args = serve_args(s, {"--watch", "--type", "turn", "--probe", "--no-allocate", "--stun-rto", "50",
                             "--stun-tries", "2"});
  args.insert(args.begin(), xnet_binary());
  Process watch(args, po);
  auto lines = [&] {
    auto text = read_file(d / "out");
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
  };
  auto wait_lines = [&](std::size_t n) {
    for (int i = 0; i < 500 && lines() < n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return lines() >= n;
  };
  REQUIRE(wait_lines(1));
  s.write_config(first + entry(silent.local_endpoint().port()));
  s.reload();
  INFO(read_file(d / "err") << s.log());
  REQUIRE(wait_lines(2));
  watch.signal(SIGINT);
  auto status = watch.wait(std::chrono::seconds(5));
  REQUIRE(status);
  CHECK(*status == 0);
  RunResult out;
  out.out = read_file(d / "out");
  auto events = out.json_lines();
  REQUIRE(events.size() == 2);
  CHECK(events[0]["event"] == "list");
  REQUIRE(events[0]["services"].size() == 1);
  CHECK(events[0]["services"][0]["probe"]["ok"] == true);
  CHECK(events[0]["probe_summary"]["ok"] == 1);
  CHECK(events[1]["event"] == "push");
  REQUIRE(events[1]["services"].size() == 2);
  for (const auto& svc : events[1]["services"]) {
    INFO(svc.dump());
    REQUIRE(svc["probe"].is_object());
    if (svc["port"] == turn().port()) {
      CHECK(svc["probe"]["ok"] == true);  // kept from the list event or probed again: coturn answers
    } else {
      CHECK(svc["probe"]["ok"] == false);
      CHECK(svc["probe"]["reachable"] == false);
    }
  }
  CHECK(events[1]["probe_summary"]["probed"] == 2);
  CHECK(events[1]["probe_summary"]["failed"] == 1);
  CHECK(read_file(d / "err").find("probing 1 pushed server(s)") == std::string::npos);  // -v not given
}

TEST_CASE("stun-list reads the 2007 <stun/> form and google:jingleinfo from xnet serve", "[integration][stun_list][serve]") {
  ServeFixture s({{{"alice", kPassword}}, kTestExternalServices, {}, false, false});
  auto v01 = run_xnet(serve_args(s, {"--ns", "xep0215-0.1"}), kEnv);
  INFO(v01.err << s.log());
  REQUIRE(v01.exit_code == 0);
  auto j = v01.json();
  REQUIRE(j["services"].size() >= 1);
  CHECK(j["services"][0]["source"] == "xep0215-0.1");
  CHECK(j["services"][0]["source_ns"] == "http://www.xmpp.org/extensions/xep-0215.html#ns");
  CHECK(j["services"][0]["type"] == "stun");
  CHECK(j["services"][0]["host"] == "127.0.0.1");
  CHECK(j["services"][0]["port"] == 3478);

  auto ji = run_xnet(serve_args(s, {"--ns", "jingleinfo"}), kEnv);
  INFO(ji.err);
  REQUIRE(ji.exit_code == 0);
  auto jj = ji.json();
  REQUIRE(jj["services"].size() >= 1);
  CHECK(jj["services"][0]["source"] == "jingleinfo");
  CHECK(jj["services"][0]["type"] == "stun");
  CHECK(jj["services"][0]["port"] == 3478);
}

TEST_CASE("stun-list --watch acknowledges a push and ends cleanly on SIGINT", "[integration][stun_list][serve]") {
  ServeFixture s({{{"alice", kPassword}}, kTestExternalServices, {}, false, false});
  TempDir d("xnet-watch");
  Process::Options po;
  po.stdout_file = d / "out";
  po.stderr_file = d / "err";
  po.env = {{"XNET_PASSWORD", kPassword}, {"XDG_CONFIG_HOME", (d / "cfg").string()}};
  auto args = serve_args(s, {"--watch", "--type", "turn"});
  args.insert(args.begin(), xnet_binary());
  Process watch(args, po);
  auto lines = [&] {
    auto text = read_file(d / "out");
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
  };
  auto wait_lines = [&](std::size_t n) {
    for (int i = 0; i < 500 && lines() < n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return lines() >= n;
  };
  REQUIRE(wait_lines(1));
  s.write_config(std::string(kTestExternalServices) + R"(
[[external_services]]
type = "turn"
host = "127.0.0.2"
port = 3478
transport = "tcp"
)");
  s.reload();
  INFO(read_file(d / "err") << s.log());
  REQUIRE(wait_lines(2));
  watch.signal(SIGINT);
  auto status = watch.wait(std::chrono::seconds(5));
  REQUIRE(status);
  CHECK(*status == 0);
  RunResult out;
  out.out = read_file(d / "out");
  auto events = out.json_lines();
  std::string summary;
  for (const auto& e : events) summary += e.dump().substr(0, 200) + "\n";
  INFO(summary);
  REQUIRE(events.size() == 2);
  CHECK(events[0]["event"] == "list");
  CHECK(events[0]["services"].size() == 1);
  CHECK(events[1]["event"] == "push");
  CHECK(events[1]["from"] == "localhost");
  bool added = false;
  for (const auto& c : events[1]["changes"])
    if (c["host"] == "127.0.0.2" && c["action"] == "add") added = true;
  CHECK(added);
  CHECK(events[1]["services"].size() == 2);
  // The server logs no IQ error: the push was acknowledged with a result.
  CHECK(s.log().find("push") != std::string::npos);
}

TEST_CASE("stun-list --probe over TLS (stuns, turns) against coturn", "[integration][stun_list][tls]") {
  SKIP_WITHOUT_PEERS();
  CoturnOptions co;
  co.tls = true;
  Coturn tls(co);
  auto port = std::to_string(tls.tls_port());
  ProsodyOptions o;
  o.modules = {"external_services"};
  o.host_config = "external_service_secret = \"" + tls.secret() + "\"\n" +
                  "external_services = {\n"
                  "  { type = \"stuns\", transport = \"tcp\", host = \"127.0.0.1\", port = " + port + " };\n" +
                  "  { type = \"turns\", transport = \"tcp\", host = \"127.0.0.1\", port = " + port +
                  ", secret = true, algorithm = \"turn\" };\n}\n";  // Prosody mints only for type turn by default
  Prosody p(o);
  p.add_user("alice", kPassword);
  // One bundle trusted for both the XMPP server and coturn's TLS listener.
  TempDir d("xnet-ca");
  write_file(d / "ca.pem", read_file(p.cert()) + read_file(tls.cert()));
  std::vector<std::string> args{"--json", "stun-list", "--probe", "--jid", "alice@localhost", "--server", p.server(),
                                "--ca-file", (d / "ca.pem").string(), "--timeout", "15"};
  auto r = run_xnet(args, kEnv);
  INFO(r.err << tls.log().substr(0, 1500));
  REQUIRE(r.exit_code == 0);
  auto j = r.json();
  REQUIRE(j["services"].size() == 2);
  for (const auto& svc : j["services"]) {
    INFO(svc.dump());
    CHECK(svc["probe"]["ok"] == true);
    CHECK(svc["probe"]["mapped_address"].get<std::string>().rfind("127.0.0.1:", 0) == 0);
  }
  const auto* t = find(j["services"], "turns", "tcp");
  REQUIRE(t);
  CHECK((*t)["probe"]["relayed_address"].get<std::string>().rfind("127.0.0.1:", 0) == 0);
  CHECK((*t)["probe"]["released"] == true);

  SECTION("an untrusted certificate is a TLS error") {
    std::vector<std::string> a2{"--json", "stun-list", "--probe", "--jid", "alice@localhost", "--server", p.server(),
                                "--ca-file", p.cert(), "--timeout", "15"};
    auto u = run_xnet(a2, kEnv);
    CHECK(u.exit_code == 1);
    auto uj = u.json();
    for (const auto& svc : uj["services"]) {
      CHECK(svc["probe"]["ok"] == false);
      CHECK(svc["probe"]["error"]["category"] == "tls");
    }
  }
}

namespace {

// Prosody whose domain offers no XEP-0215, with `xnet serve` attached as the XEP-0114
// component xnet.localhost announcing coturn (TURN REST with coturn's secret).
struct ComponentSetup {
  std::unique_ptr<Prosody> prosody;
  TempDir dir{"xnet-stun-comp"};
  std::unique_ptr<Process> component;

  ComponentSetup() {
    ProsodyOptions po;
    po.modules = {};
    po.components = {{"xnet.localhost", "comp-secret"}};
    prosody = std::make_unique<Prosody>(po);
    prosody->add_user("alice", kPassword);
    auto port = std::to_string(turn().port());
    write_file(dir / "services.toml", "[[external_services]]\ntype = \"stun\"\nhost = \"127.0.0.1\"\nport = " + port +
                                          "\ntransport = \"udp\"\n\n[[external_services]]\ntype = \"turn\"\nhost = "
                                          "\"127.0.0.1\"\nport = " + port + "\ntransport = \"udp\"\nsecret = \"" +
                                          turn().secret() + "\"\nttl = 3600\nrestricted = true\n");
    Process::Options opt;
    opt.stdout_file = dir / "out";
    opt.stderr_file = dir / "err";
    opt.env = {{"XNET_COMPONENT_SECRET", "comp-secret"}, {"XDG_CONFIG_HOME", (dir / "cfg").string()}};
    component = std::make_unique<Process>(
        std::vector<std::string>{xnet_binary(), "serve", "--component", "xnet.localhost", "--router",
                                 "127.0.0.1:" + std::to_string(prosody->component_port()), "--server-config",
                                 (dir / "services.toml").string(), "--state-dir", (dir / "state").string(),
                                 "--port-file", (dir / "ready.json").string()},
        opt);
    INFO(read_file(dir / "err") << prosody->log());
    REQUIRE(wait_for_file(dir / "ready.json", std::chrono::seconds(15)));
  }
  std::string log() { return read_file(dir / "err") + prosody->log(); }
};

}  // namespace

TEST_CASE("stun-list finds the XEP-0215 service of a component behind Prosody", "[integration][stun_list][component]") {
  SKIP_WITHOUT_PEERS();
  ComponentSetup c;
  auto& p = *c.prosody;

  SECTION("automatically, among the domain's disco#items, and probes it") {
    auto r = run_xnet(stun_list(p, {"--probe"}), kEnv);
    INFO(r.err << c.log());
    REQUIRE(r.exit_code == 0);
    auto j = r.json();
    CHECK(j["server"] == "localhost");
    CHECK(j["service_jids"] == nlohmann::json::array({"xnet.localhost"}));
    CHECK(j["via_items"] == true);
    CHECK(j["forms"][0]["jid"] == "xnet.localhost");
    CHECK(j["forms"][0]["source"] == "extdisco:2");
    REQUIRE(j["services"].size() == 2);
    const auto* t = find(j["services"], "turn", "udp");
    REQUIRE(t);
    CHECK((*t)["credentials_requested"] == true);
    CHECK((*t)["rest_user"] == "alice");
    CHECK(j["probe_summary"]["probed"] == 2);
    CHECK(j["probe_summary"]["ok"] == 2);
    CHECK(j["error"].is_null());
    CHECK((*t)["probe"]["relayed_address"].get<std::string>().rfind("127.0.0.1:", 0) == 0);
  }
  SECTION("named with --service") {
    auto r = run_xnet(stun_list(p, {"--service", "xnet.localhost"}), kEnv);
    INFO(r.err << c.log());
    REQUIRE(r.exit_code == 0);
    auto j = r.json();
    CHECK(j["service_jids"] == nlohmann::json::array({"xnet.localhost"}));
    CHECK(j["via_items"] == false);
    CHECK(j["services"].size() == 2);
    auto text = run_xnet(stun_list(p, {"--service", "xnet.localhost"}, false), kEnv);
    REQUIRE(text.exit_code == 0);
    CHECK(text.out.find("from xnet.localhost") != std::string::npos);
    CHECK(text.out.find("stun:127.0.0.1:" + std::to_string(turn().port()) + "  udp") != std::string::npos);
  }
  SECTION("whoami finds the component's STUN server, or is told it with --service") {
    for (std::vector<std::string> extra : {std::vector<std::string>{}, {"--service", "xnet.localhost"}}) {
      std::vector<std::string> a{"--json", "whoami", "--jid", "alice@localhost", "--server", p.server(),
                                 "--ca-file", p.cert(), "--timeout", "15"};
      a.insert(a.end(), extra.begin(), extra.end());
      auto r = run_xnet(a, kEnv);
      INFO(r.err << c.log());
      REQUIRE(r.exit_code == 0);
      auto j = r.json();
      CHECK(j["via"] == "stun");  // Prosody without mod_ipcheck: the address comes from coturn
      CHECK(j["external_ip"] == "127.0.0.1");
    }
  }
  SECTION("a --service that offers nothing is not_supported (80)") {
    auto r = run_xnet(stun_list(p, {"--service", "localhost"}), kEnv);
    INFO(r.err);
    CHECK(r.exit_code == 80);
    CHECK(r.json()["error"]["category"] == "not_supported");
  }
}

TEST_CASE("stun-list --watch takes pushes from the component the list came from", "[integration][stun_list][component]") {
  SKIP_WITHOUT_PEERS();
  ComponentSetup c;
  auto& p = *c.prosody;
  TempDir d("xnet-comp-watch");
  Process::Options po;
  po.stdout_file = d / "out";
  po.stderr_file = d / "err";
  po.env = {{"XNET_PASSWORD", kPassword}, {"XDG_CONFIG_HOME", (d / "cfg").string()}};
  auto args = stun_list(p, {"--watch", "--type", "turn"});
  args.insert(args.begin(), xnet_binary());
  Process watch(args, po);
  auto lines = [&] {
    auto text = read_file(d / "out");
    return static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n'));
  };
  auto wait_lines = [&](std::size_t n) {
    for (int i = 0; i < 500 && lines() < n; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    return lines() >= n;
  };
  INFO(read_file(d / "err") << c.log());
  REQUIRE(wait_lines(1));
  write_file(c.dir / "services.toml", read_file(c.dir / "services.toml") +
                                           "\n[[external_services]]\ntype = \"turn\"\nhost = \"127.0.0.2\"\n"
                                           "port = 3478\ntransport = \"tcp\"\n");
  c.component->signal(SIGHUP);
  REQUIRE(wait_lines(2));
  watch.signal(SIGINT);
  auto status = watch.wait(std::chrono::seconds(5));
  REQUIRE(status);
  CHECK(*status == 0);
  RunResult out;
  out.out = read_file(d / "out");
  auto events = out.json_lines();
  REQUIRE(events.size() == 2);
  CHECK(events[0]["event"] == "list");
  CHECK(events[0]["service_jids"] == nlohmann::json::array({"xnet.localhost"}));
  CHECK(events[1]["event"] == "push");
  CHECK(events[1]["from"] == "xnet.localhost");
  bool added = false;
  for (const auto& ch : events[1]["changes"])
    if (ch["host"] == "127.0.0.2" && ch["action"] == "add") added = true;
  CHECK(added);
  CHECK(events[1]["services"].size() == 2);
}

TEST_CASE("stun-list without any XEP-0215 service says how many items it checked", "[integration][stun_list][component]") {
  SKIP_WITHOUT_PEERS();
  ProsodyOptions po;
  po.modules = {};
  Prosody p(po);
  p.add_user("alice", kPassword);
  auto r = run_xnet(stun_list(p, {}), kEnv);
  INFO(r.err);
  CHECK(r.exit_code == 80);
  auto e = r.json()["error"];
  CHECK(e["category"] == "not_supported");
  CHECK(e["message"].get<std::string>().find("services in its disco#items") != std::string::npos);
  CHECK(e["hint"].get<std::string>().find("--service") != std::string::npos);
}

TEST_CASE("stun-list --all --probe probes a server listed under two forms once", "[integration][stun_list]") {
  SKIP_WITHOUT_PEERS();
  auto& s = good();
  auto r = run_xnet(stun_list(s, {"--all", "--probe"}), kEnv);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = r.json();
  REQUIRE(j["services"].size() == 6);
  CHECK(j["probe_summary"]["probed"] == 3);
  CHECK(j["probe_summary"]["ok"] == 3);
  for (const auto& svc : j["services"]) CHECK(svc["probe"]["ok"] == true);
}
