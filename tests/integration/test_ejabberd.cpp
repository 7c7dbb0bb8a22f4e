// SPDX-License-Identifier: MIT
// Interop with a real ejabberd 23.01 (Debian) and a real coturn, both on 127.0.0.1: SIC over
// STARTTLS and direct TLS with SASL1 SCRAM (ejabberd 23.01 has no SASL2), its broken sic:0,
// mod_stun_disco (extdisco:2 only, restricted="true", expires) with probes against coturn, and
// `xnet serve` attached as an XEP-0114 component (STUN discovery through disco#items or
// --service, PASS through the component).
//
// One ejabberd serves every case of this binary (start-up ~2.5 s, clean stop ~3 s): localhost
// carries mod_sic, mod_ping and mod_stun_disco; plain.test only mod_disco and mod_ping, with the
// component xnet.plain.test behind it. Each ctest entry is its own process, hence few cases.
#include <catch2/catch.hpp>

#include <algorithm>
#include <csignal>
#include <memory>
#include <regex>
#include <sstream>
#include <thread>

#include "server/crypto.hpp"
#include "support/coturn.hpp"
#include "support/ejabberd.hpp"
#include "support/process.hpp"
#include "support/skip.hpp"
#include "support/sockets.hpp"

using namespace xnet::test;
using namespace std::chrono_literals;
using nlohmann::json;

namespace {

constexpr const char* kPassword = "ejabberd-Pa55word!";
constexpr const char* kComponent = "xnet.plain.test";
constexpr const char* kComponentSecret = "component-secret";
const std::map<std::string, std::string> kEnv{{"XNET_PASSWORD", kPassword}};

Coturn& turn() {
  static std::unique_ptr<Coturn> c = std::make_unique<Coturn>();
  return *c;
}

Ejabberd& ejabberd() {
  static std::unique_ptr<Ejabberd> e = [] {
    EjabberdOptions o;
    o.stun_secret = turn().secret();
    EjabberdStunService stun;
    stun.port = turn().port();
    EjabberdStunService t = stun;
    t.type = "turn";
    t.restricted = true;
    EjabberdStunService ttcp = t;
    ttcp.transport = "tcp";
    o.stun_services = {stun, t, ttcp};
    o.plain_hosts = {"plain.test"};
    o.components = {{kComponent, kComponentSecret}};
    o.ping_interval = 1;  // ejabberd pings idle clients each second and kills those that do not answer
    auto p = std::make_unique<Ejabberd>(o);
    p->add_user("alice", kPassword);
    p->add_user("bob", kPassword, "plain.test");
    return p;
  }();
  return *e;
}

#define SKIP_WITHOUT_PEERS()             \
  XNET_SKIP_IF(Ejabberd::unavailable()); \
  XNET_SKIP_IF(Coturn::unavailable())

/// `xnet [--json] VERB --jid JID --server ... --ca-file ... --timeout 15 EXTRA...`
std::vector<std::string> args(const std::string& verb, const std::string& jid, std::vector<std::string> extra,
                              bool json = true, bool direct_tls = false) {
  auto& e = ejabberd();
  std::vector<std::string> a;
  if (json) a.push_back("--json");
  a.push_back(verb);
  a.insert(a.end(), {"--jid", jid, "--server", direct_tls ? e.direct_tls_server() : e.server(), "--ca-file",
                     e.ca_file(), "--timeout", "15"});
  if (direct_tls) a.push_back("--direct-tls");
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

const json* find(const json& services, const std::string& type, const std::string& transport) {
  for (const auto& s : services)
    if (s["type"] == type && s["transport"] == transport) return &s;
  return nullptr;
}

}  // namespace

TEST_CASE("ejabberd: whoami gets SIC over STARTTLS and direct TLS after a SASL1 SCRAM login", "[integration][ejabberd]") {
  SKIP_WITHOUT_PEERS();
  auto& e = ejabberd();
  // Distribution on a fixed loopback port: the node needed no epmd (none on 0.0.0.0:4369).
  CHECK_FALSE(e.started_epmd());

  // One state directory for both logins: a FAST token, were one stored, would be used by the
  // second; with no SASL2 on the server none may be stored.
  TempDir state("xnet-ejabberd-state");
  auto env = kEnv;
  env["XDG_STATE_HOME"] = state.path().string();
  for (bool direct : {false, true}) {
    INFO((direct ? "direct TLS" : "STARTTLS"));
    auto a = args("whoami", "alice@localhost", {}, true, direct);
    a.insert(a.begin(), {"--debug", "xml"});
    auto r = run_xnet(a, env);
    INFO(r.err.substr(0, 4000) << e.log().substr(0, 2000));
    REQUIRE(r.exit_code == 0);
    auto j = r.json();
    CHECK(j["via"] == "sic");
    CHECK(j["namespace"] == "urn:xmpp:sic:1");
    CHECK(j["external_ip"] == "127.0.0.1");
    REQUIRE(j["external_port"].is_number());
    CHECK(j["external_port"] == j["local_port"]);
    CHECK(j["nat"] == "none");
    CHECK(j["tls"] == (direct ? "direct" : "starttls"));
    CHECK(j["server_port"] == (direct ? e.direct_tls_port() : e.c2s_port()));
    CHECK(j["jid"].get<std::string>().rfind("alice@localhost/", 0) == 0);
    // ejabberd 23.01 offers SASL1 only (no urn:xmpp:sasl:2): SCRAM-SHA-1, not its
    // SCRAM-SHA-1-PLUS (no tls-exporter announced), never PLAIN; nothing of SASL2 is tried.
    CHECK(r.err.find("urn:xmpp:sasl:2") == std::string::npos);
    CHECK(r.err.find("<authenticate") == std::string::npos);
    CHECK(r.err.find("mechanism='SCRAM-SHA-1'") != std::string::npos);
    CHECK(r.err.find("<success") != std::string::npos);
    CHECK(r.err.find(kPassword) == std::string::npos);
  }
  std::vector<std::string> tokens;
  if (std::filesystem::exists(state.path() / "xnet"))
    for (const auto& f : std::filesystem::directory_iterator(state.path() / "xnet"))
      if (f.path().filename().string().rfind("fast-", 0) == 0) tokens.push_back(f.path().string());
  CHECK(tokens.empty());

  SECTION("text output names the namespace and the TLS mode") {
    auto r = run_xnet(args("whoami", "alice@localhost", {}, false), kEnv);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("urn:xmpp:sic:1") != std::string::npos);
    CHECK(r.out.find("STARTTLS") != std::string::npos);
  }
  SECTION("ejabberd's self-signed certificate is refused without --ca-file (79), on both ports") {
    for (bool direct : {false, true}) {
      auto a = args("whoami", "alice@localhost", {}, true, direct);
      auto ca = std::find(a.begin(), a.end(), "--ca-file");
      a.erase(ca, ca + 2);
      auto r = run_xnet(a, kEnv);
      INFO(r.err);
      CHECK(r.exit_code == 79);
      CHECK(r.json()["error"]["category"] == "tls");
    }
  }
  SECTION("a wrong password is an authentication error (77)") {
    auto r = run_xnet(args("whoami", "alice@localhost", {}), {{"XNET_PASSWORD", "not-the-password"}});
    INFO(r.err);
    CHECK(r.exit_code == 77);
    CHECK(r.json()["error"]["category"] == "auth");
  }
  SECTION("sic:0, which ejabberd advertises but answers with bad-request, is reported as such") {
    for (std::vector<std::string> extra : {std::vector<std::string>{"--ns", "0"}, {"--ns", "0", "--no-stun"}}) {
      auto r = run_xnet(args("whoami", "alice@localhost", extra), kEnv);
      INFO(r.out << r.err);
      CHECK(r.exit_code == 81);
      auto err = r.json()["error"];
      CHECK(err["category"] == "remote_error");
      CHECK(err["stanza_error"]["condition"] == "bad-request");
      auto msg = err["message"].get<std::string>();
      CHECK(msg.find("urn:xmpp:sic:0") != std::string::npos);
      CHECK(msg.find("does not support") == std::string::npos);
      CHECK(err["hint"].get<std::string>().find("--ns 1") != std::string::npos);
    }
    // Without --ns, sic:1 is asked first and answers: the broken sic:0 is never needed.
    auto r = run_xnet(args("whoami", "alice@localhost", {"--ns", "1"}), kEnv);
    REQUIRE(r.exit_code == 0);
    CHECK(r.json()["namespace"] == "urn:xmpp:sic:1");
  }
}

TEST_CASE("ejabberd: stun-list reads mod_stun_disco (extdisco:2 only) and probes coturn", "[integration][ejabberd]") {
  SKIP_WITHOUT_PEERS();
  auto& e = ejabberd();
  const auto port = turn().port();
  auto r = run_xnet(args("stun-list", "alice@localhost", {}), kEnv);
  INFO(r.err << e.log().substr(0, 2000));
  REQUIRE(r.exit_code == 0);
  auto j = r.json();
  CHECK(j["warnings"].empty());
  CHECK(j["via_items"] == false);
  REQUIRE(j["forms"].size() == 1);
  CHECK(j["forms"][0]["source"] == "extdisco:2");
  CHECK(j["forms"][0]["advertised"] == true);
  CHECK(j["features"] == json::array({"urn:xmpp:extdisco:2"}));
  REQUIRE(j["services"].size() == 3);
  const auto* stun = find(j["services"], "stun", "udp");
  REQUIRE(stun);
  CHECK((*stun)["host"] == "127.0.0.1");
  CHECK((*stun)["port"] == port);
  CHECK((*stun)["restricted"] == false);
  CHECK((*stun)["username"].is_null());
  const auto* t = find(j["services"], "turn", "udp");
  REQUIRE(t);
  // ejabberd writes restricted="true" (not "1"), username "expiry:random", and expires.
  CHECK((*t)["restricted"] == true);
  auto user = (*t)["username"].get<std::string>();
  CHECK(std::regex_match(user, std::regex("[0-9]{10}:[0-9a-f]+")));
  CHECK((*t)["password"] == xnet::server::crypto::base64(xnet::server::crypto::hmac(
                               xnet::server::crypto::Hash::Sha1, turn().secret(), user)));
  CHECK((*t)["expires_source"] == "expires");
  REQUIRE((*t)["expires_in"].is_number());
  CHECK((*t)["expires_in"].get<long long>() > 43000);  // mod_stun_disco's default: 12 h
  CHECK((*t)["expires_in"].get<long long>() <= 43200);
  CHECK((*t)["expires"] == (*t)["rest_expiry"]);
  CHECK((*t)["expired"] == false);
  CHECK((*t)["uri"] == "turn:127.0.0.1:" + std::to_string(port) + "?transport=udp");
  REQUIRE(find(j["services"], "turn", "tcp"));

  SECTION("extdisco:1, which ejabberd refuses, is a remote error when asked for by name") {
    auto one = run_xnet(args("stun-list", "alice@localhost", {"--ns", "extdisco:1"}), kEnv);
    INFO(one.err);
    CHECK(one.exit_code == 81);
    auto err = one.json()["error"];
    CHECK(err["stanza_error"]["condition"] == "service-unavailable");
    CHECK(err["message"].get<std::string>().find("extdisco:1") != std::string::npos);
    // --all asks every advertised form: extdisco:2 alone, still the full list.
    auto all = run_xnet(args("stun-list", "alice@localhost", {"--all", "--no-credentials"}), kEnv);
    INFO(all.err);
    REQUIRE(all.exit_code == 0);
    CHECK(all.json()["services"].size() == 3);
  }
  SECTION("text output masks the TURN password") {
    auto text = run_xnet(args("stun-list", "alice@localhost", {}, false), kEnv);
    REQUIRE(text.exit_code == 0);
    CHECK(text.out.find("********") != std::string::npos);
    CHECK(text.out.find("turn:127.0.0.1:" + std::to_string(port)) != std::string::npos);
    CHECK(text.out.find((*t)["password"].get<std::string>()) == std::string::npos);
  }
  SECTION("--probe: Binding on every service, an allocation with ejabberd's credentials on each TURN") {
    auto p = run_xnet(args("stun-list", "alice@localhost", {"--probe"}), kEnv);
    INFO(p.err << turn().log().substr(0, 2000));
    REQUIRE(p.exit_code == 0);
    auto pj = p.json();
    CHECK(pj["probe_summary"]["probed"] == 3);
    CHECK(pj["probe_summary"]["ok"] == 3);
    CHECK(pj["probe_summary"]["all_ok"] == true);
    for (const auto& svc : pj["services"]) {
      INFO(svc.dump());
      CHECK(svc["probe"]["ok"] == true);
      CHECK(svc["probe"]["mapped_address"].get<std::string>().rfind("127.0.0.1:", 0) == 0);
      if (svc["type"] == "turn") {
        CHECK(svc["probe"]["relayed_address"].get<std::string>().rfind("127.0.0.1:", 0) == 0);
        CHECK(svc["probe"]["released"] == true);
      }
    }
  }
  SECTION("--watch stays connected: ejabberd's pings are answered, SIGINT ends it with 0") {
    TempDir d("xnet-ejabberd-watch");
    Process::Options po;
    po.stdout_file = d / "out";
    po.stderr_file = d / "err";
    po.env = {{"XNET_PASSWORD", kPassword}, {"XDG_CONFIG_HOME", (d / "cfg").string()}};
    auto a = args("stun-list", "alice@localhost", {"--watch"});
    a.insert(a.begin(), {xnet_binary(), "--debug", "xml"});
    Process watch(a, po);
    auto count = [&](const std::vector<std::string>& parts) {
      std::istringstream in(read_file(d / "err"));
      std::string line;
      int n = 0;
      while (std::getline(in, line))
        if (std::all_of(parts.begin(), parts.end(), [&](const auto& p) { return line.find(p) != std::string::npos; }))
          ++n;
      return n;
    };
    // ejabberd pings after 1 s idle and only pings again once answered (else: kill after 5 s).
    for (int i = 0; i < 200 && count({" < ", "from='localhost'", "urn:xmpp:ping"}) < 2; ++i)
      std::this_thread::sleep_for(50ms);
    INFO(read_file(d / "err").substr(0, 6000));
    CHECK(count({" < ", "from='localhost'", "urn:xmpp:ping"}) >= 2);
    CHECK(count({" > ", "type='result'", "to='localhost'"}) >= 1);
    CHECK_FALSE(watch.poll());
    watch.signal(SIGINT);
    auto st = watch.wait(5s);
    REQUIRE(st);
    CHECK(*st == 0);
    RunResult out;
    out.out = read_file(d / "out");
    auto events = out.json_lines();
    REQUIRE(events.size() == 1);
    CHECK(events[0]["event"] == "list");
    CHECK(events[0]["services"].size() == 3);
  }
  SECTION("whoami --stun puts SIC and STUN side by side") {
    auto w = run_xnet(args("whoami", "alice@localhost", {"--stun"}), kEnv);
    INFO(w.err);
    REQUIRE(w.exit_code == 0);
    auto wj = w.json();
    CHECK(wj["via"] == "sic");
    CHECK(wj["external_ip"] == "127.0.0.1");
    REQUIRE(wj["stun"].is_object());
    CHECK(wj["stun"]["external_ip"] == "127.0.0.1");
    CHECK(wj["stun"]["nat"] == "none");
    CHECK(wj["udp_port_preserved"] == true);
    bool compared = false;
    for (const auto& n : wj["nat_notes"])
      if (n.get<std::string>().find("see the same address 127.0.0.1") != std::string::npos) compared = true;
    CHECK(compared);
  }
}

namespace {

/// `xnet serve --component xnet.plain.test` attached to the shared ejabberd, announcing coturn
/// (TURN REST with coturn's secret) and renting PASS ports.
struct Component {
  TempDir dir{"xnet-ejabberd-comp"};
  std::unique_ptr<Process> proc;

  Component() {
    auto& e = ejabberd();
    auto port = std::to_string(turn().port());
    write_file(dir / "services.toml",
               "[[external_services]]\ntype = \"stun\"\nhost = \"127.0.0.1\"\nport = " + port +
                   "\ntransport = \"udp\"\n\n[[external_services]]\ntype = \"turn\"\nhost = \"127.0.0.1\"\nport = " +
                   port + "\ntransport = \"udp\"\nsecret = \"" + turn().secret() +
                   "\"\nttl = 3600\nrestricted = true\n");
    auto base = std::min<int>(free_port(), 65535 - 100);
    Process::Options o;
    o.stdout_file = dir / "out";
    o.stderr_file = dir / "err";
    o.env = {{"XNET_COMPONENT_SECRET", kComponentSecret}, {"XDG_CONFIG_HOME", (dir / "cfg").string()}};
    proc = std::make_unique<Process>(
        std::vector<std::string>{xnet_binary(), "serve", "--component", kComponent, "--router", e.router(),
                                 "--server-config", (dir / "services.toml").string(), "--state-dir",
                                 (dir / "state").string(), "--port-file", (dir / "ready.json").string(),
                                 "--pass-range", std::to_string(base) + "-" + std::to_string(base + 99),
                                 "--pass-public-ip", "127.0.0.1", "--pass-grace", "1", "--pass-owner-ping", "5"},
        o);
    INFO(log());
    REQUIRE(wait_for_file(dir / "ready.json", 15s));
    CHECK(json::parse(read_file(dir / "ready.json"))["mode"] == "component");
  }
  std::string log() const { return read_file(dir / "err") + ejabberd().log().substr(0, 3000); }
};

/// A running `xnet --json pass listen` whose JSON lines land in a file.
struct Listen {
  TempDir dir{"xnet-ejabberd-listen"};
  std::unique_ptr<Process> proc;
  std::uint16_t port = 0;

  explicit Listen(const std::string& target) {
    auto a = args("pass", "alice@localhost",
                  {"--forward", target, "--service", kComponent, "--port-file", (dir / "endpoint").string()});
    a.insert(a.begin() + 2, "listen");  // xnet --json pass listen ...
    a.insert(a.begin(), {xnet_binary(), "--debug", "xml"});
    Process::Options o;
    o.stdout_file = dir / "out";
    o.stderr_file = dir / "err";
    o.env = {{"XNET_PASSWORD", kPassword}, {"XDG_CONFIG_HOME", (dir / "cfg").string()}};
    proc = std::make_unique<Process>(a, o);
    INFO(read_file(dir / "err"));
    REQUIRE(wait_for_file(dir / "endpoint", 15s));
    auto ep = read_file(dir / "endpoint");
    REQUIRE(ep.rfind("127.0.0.1:", 0) == 0);
    port = static_cast<std::uint16_t>(std::stoi(ep.substr(ep.rfind(':') + 1)));
  }
};

bool relays(std::uint16_t port, const std::string& data = "through ejabberd and the component") {
  int c = tcp_connect(port);
  if (c < 0) return false;
  auto back = round_trip(c, data);
  ::close(c);
  return back == data;
}

bool refused_within(std::uint16_t port, std::chrono::milliseconds budget) {
  auto end = std::chrono::steady_clock::now() + budget;
  while (std::chrono::steady_clock::now() < end) {
    int fd = tcp_connect(port);
    if (fd < 0) return true;
    ::close(fd);
    std::this_thread::sleep_for(50ms);
  }
  return false;
}

}  // namespace

TEST_CASE("ejabberd: xnet serve as a component serves STUN discovery and PASS through ejabberd",
          "[integration][ejabberd][component]") {
  SKIP_WITHOUT_PEERS();
  Component c;

  SECTION("stun-list finds the component among plain.test's disco#items and probes it") {
    auto r = run_xnet(args("stun-list", "bob@plain.test", {"--probe"}), kEnv);
    INFO(r.err << c.log());
    REQUIRE(r.exit_code == 0);
    auto j = r.json();
    CHECK(j["server"] == "plain.test");
    CHECK(j["service_jids"] == json::array({kComponent}));
    CHECK(j["via_items"] == true);
    CHECK(j["forms"][0]["jid"] == kComponent);
    CHECK(j["forms"][0]["source"] == "extdisco:2");
    REQUIRE(j["services"].size() == 2);
    const auto* t = find(j["services"], "turn", "udp");
    REQUIRE(t);
    CHECK((*t)["rest_user"] == "bob");
    CHECK(j["probe_summary"]["ok"] == 2);
    CHECK((*t)["probe"]["relayed_address"].get<std::string>().rfind("127.0.0.1:", 0) == 0);
    // whoami on plain.test (no mod_sic) gets the address from the component's STUN server.
    auto w = run_xnet(args("whoami", "bob@plain.test", {}), kEnv);
    INFO(w.err);
    REQUIRE(w.exit_code == 0);
    CHECK(w.json()["via"] == "stun");
    CHECK(w.json()["external_ip"] == "127.0.0.1");
  }
  SECTION("--service names the component from an account on another host") {
    auto r = run_xnet(args("stun-list", "alice@localhost", {"--service", kComponent}), kEnv);
    INFO(r.err << c.log());
    REQUIRE(r.exit_code == 0);
    auto j = r.json();
    CHECK(j["service_jids"] == json::array({kComponent}));
    CHECK(j["via_items"] == false);
    REQUIRE(j["services"].size() == 2);
    CHECK((*find(j["services"], "turn", "udp"))["rest_user"] == "alice");
    auto w = run_xnet(args("whoami", "alice@localhost", {"--stun", "--service", kComponent}), kEnv);
    INFO(w.err);
    REQUIRE(w.exit_code == 0);
    CHECK(w.json()["via"] == "sic");
    CHECK(w.json()["stun"]["server"] == "127.0.0.1:" + std::to_string(turn().port()));
  }
  SECTION("pass listen relays through the component, and the port goes when the owner does") {
    EchoServer echo;
    {
      Listen l(echo.target());
      const auto data = random_bytes(512 * 1024, 7);
      int fd = tcp_connect(l.port);
      REQUIRE(fd >= 0);
      CHECK(round_trip(fd, data) == data);
      ::close(fd);
      // ejabberd pings the owner after 1 s idle (mod_ping, kill after 5 s without an answer; the
      // component's own owner pings, every 5 s, would reset that idle time): each is answered,
      // the session and the port stay.
      auto count_lines = [&](const std::vector<std::string>& parts) {
        std::istringstream in(read_file(l.dir / "err"));
        std::string line;
        int n = 0;
        while (std::getline(in, line))
          if (std::all_of(parts.begin(), parts.end(), [&](const auto& p) { return line.find(p) != std::string::npos; }))
            ++n;
        return n;
      };
      auto pinged = [&] { return count_lines({" < ", "from='localhost'", "urn:xmpp:ping"}); };
      for (int i = 0; i < 200 && pinged() < 2; ++i) std::this_thread::sleep_for(50ms);
      INFO(read_file(l.dir / "err").substr(0, 6000));
      CHECK(pinged() >= 2);
      CHECK(count_lines({" > ", "type='result'", "to='localhost'"}) >= 1);
      CHECK_FALSE(l.proc->poll());
      CHECK(relays(l.port));
      CHECK(read_file(l.dir / "out").find("\"disconnected\"") == std::string::npos);
      CHECK(read_file(l.dir / "out").find("reconnected") == std::string::npos);
      CHECK(read_file(c.dir / "err").find("pass_owner_gone") == std::string::npos);
      // A close for a port this owner does not hold: the component's stanza error comes back.
      auto ra = args("pass", "alice@localhost", {"127.0.0.1:1", "--service", kComponent});
      ra.insert(ra.begin() + 2, "close");  // xnet --json pass close 127.0.0.1:1 ...
      auto r = run_xnet(ra, kEnv);
      INFO(r.out << r.err);
      CHECK(r.exit_code == 81);
      CHECK(r.json()["error"]["stanza_error"]["condition"] == "item-not-found");
      l.proc->signal(SIGINT);
      auto rc = l.proc->wait(10s);
      INFO(read_file(l.dir / "err") << c.log());
      REQUIRE(rc);
      CHECK(*rc == 0);
      CHECK(refused_within(l.port, 5s));
    }
    // An owner killed without closing: ejabberd tells the component (the unavailable presence
    // that follows the listener's directed presence), which frees the port after its 1 s grace.
    Listen k(echo.target());
    REQUIRE(relays(k.port));
    k.proc->signal(SIGKILL);
    (void)k.proc->wait(5s);
    INFO(c.log());
    CHECK(refused_within(k.port, 10s));
    CHECK(read_file(c.dir / "err").find("pass_held") != std::string::npos);
  }
  SECTION("a wrong component secret is refused by ejabberd: serve exits with 77") {
    TempDir d("xnet-ejabberd-badcomp");
    Process::Options o;
    o.stdout_file = d / "out";
    o.stderr_file = d / "err";
    o.env = {{"XNET_COMPONENT_SECRET", "not-the-secret"}, {"XDG_CONFIG_HOME", (d / "cfg").string()}};
    Process wrong({xnet_binary(), "serve", "--component", kComponent, "--router", ejabberd().router(), "--state-dir",
                   (d / "state").string()},
                  o);
    auto st = wrong.wait(20s);
    INFO(read_file(d / "err"));
    REQUIRE(st);
    CHECK(*st == 77);
    // The component that holds the name is still attached and answering.
    auto r = run_xnet(args("stun-list", "alice@localhost", {"--service", kComponent}), kEnv);
    CHECK(r.exit_code == 0);
  }
}
