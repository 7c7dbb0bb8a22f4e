// SPDX-License-Identifier: MIT
// `xnet serve` on 127.0.0.1: a third-party client (slixmpp), xnet's own whoami and stun-list,
// raw sockets for bad input and limits, PROXY v2, SIGHUP pushes, SIGTERM, and component mode
// against a real Prosody.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <regex>
#include <set>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>
#include <openssl/ssl.h>

#include "server/crypto.hpp"
#include "support/process.hpp"
#include "support/prosody.hpp"
#include "support/serve_fixture.hpp"
#include "support/skip.hpp"
#include "support/sockets.hpp"

using namespace xnet::test;
using namespace std::chrono_literals;

namespace {

constexpr const char* kPython = "/usr/bin/python3";
constexpr const char* kPassword = "correct horse 42";

bool have_slixmpp() {
  static bool ok = run({kPython, "-c", "import slixmpp"}, {}, std::nullopt, 30s).exit_code == 0;
  return ok;
}

#define SKIP_WITHOUT_SLIXMPP() \
  XNET_REQUIRE_PEER(have_slixmpp(), "/usr/bin/python3 with python3-slixmpp missing")

std::string script() { return std::string(XNET_SOURCE_DIR) + "/tests/integration/slixmpp_client.py"; }

RunResult slixmpp(std::vector<std::string> extra) {
  std::vector<std::string> argv{kPython, script(), "--jid", "alice@localhost", "--password", kPassword};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return run(argv, {}, std::nullopt, 60s);
}

nlohmann::json last_json_line(const std::string& out) {
  auto end = out.find_last_not_of("\n");
  auto start = out.rfind('\n', end);
  return nlohmann::json::parse(out.substr(start == std::string::npos ? 0 : start + 1, end - (start == std::string::npos ? 0 : start + 1) + 1));
}


// A blocking TCP client with bounded reads, for speaking raw XML to the server.
class Raw {
 public:
  /// src: a source address in 127.0.0.0/8 (all of it is loopback) to appear as another client.
  explicit Raw(std::uint16_t port, const std::string& prefix = {}, int rcvbuf = 0, const char* src = nullptr) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    if (rcvbuf) ::setsockopt(fd_, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf);
    if (src) {
      sockaddr_in b{};
      b.sin_family = AF_INET;
      REQUIRE(inet_pton(AF_INET, src, &b.sin_addr) == 1);
      REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&b), sizeof b) == 0);
    }
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    if (!prefix.empty()) send(prefix);
  }
  ~Raw() {
    if (fd_ >= 0) ::close(fd_);
  }
  void send(const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
      auto n = ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return;
      off += static_cast<std::size_t>(n);
    }
  }
  /// Read until needle appears in everything received (or EOF/timeout); returns all data.
  std::string read_until(const std::string& needle, std::chrono::milliseconds timeout = 10s) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (buf_.find(needle) == std::string::npos && !eof_) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - std::chrono::steady_clock::now());
      if (left.count() <= 0) break;
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
      char b[65536];
      auto n = ::recv(fd_, b, sizeof b, 0);
      if (n <= 0) {
        eof_ = true;
        break;
      }
      buf_.append(b, static_cast<std::size_t>(n));
    }
    return buf_;
  }
  bool eof() const { return eof_; }
  void clear() { buf_.clear(); }
  int fd() const { return fd_; }

 private:
  int fd_ = -1;
  std::string buf_;
  bool eof_ = false;
};

const std::string kHeader =
    "<?xml version='1.0'?><stream:stream to='localhost' version='1.0' xmlns='jabber:client' "
    "xmlns:stream='http://etherx.jabber.org/streams'>";

// Anonymous login over plaintext (server started with --allow-plaintext --anonymous); returns the JID.
std::string anon_login(Raw& c) {
  c.send(kHeader);
  REQUIRE_THAT(c.read_until("</stream:features>"), Catch::Contains("ANONYMOUS"));
  c.clear();
  c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>");
  REQUIRE_THAT(c.read_until("<success"), Catch::Contains("<success"));
  c.clear();
  c.send(kHeader);
  REQUIRE_THAT(c.read_until("</stream:features>"), Catch::Contains("urn:ietf:params:xml:ns:xmpp-bind"));
  c.clear();
  c.send("<iq type='set' id='b1'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></iq>");
  auto got = c.read_until("</jid>");
  std::smatch m;
  REQUIRE(std::regex_search(got, m, std::regex("<jid>([^<]+)</jid>")));
  c.clear();
  return m[1];
}

// Sends a SCRAM-SHA-256 client-first for user; returns the decoded server-first ("" on failure).
std::string scram_first(Raw& c, const std::string& user) {
  c.send(kHeader);
  c.read_until("</stream:features>");
  c.clear();
  c.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>" +
         xnet::server::crypto::base64("n,,n=" + user + ",r=clientnonce") + "</auth>");
  auto got = c.read_until("</", 10s);
  std::smatch m;
  if (!std::regex_search(got, m, std::regex("<challenge[^>]*>([^<]+)</challenge>"))) return {};
  c.clear();
  return xnet::server::crypto::unbase64(m[1].str()).value_or("");
}

// Sends a client-final with a wrong proof after scram_first.
void scram_wrong_final(Raw& c, const std::string& server_first) {
  std::smatch m;
  REQUIRE(std::regex_search(server_first, m, std::regex("r=([^,]+)")));
  c.send("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" +
         xnet::server::crypto::base64("c=biws,r=" + m[1].str() + ",p=" +
                                      xnet::server::crypto::base64(std::string(32, 'x'))) +
         "</response>");
}

bool ping_ok(Raw& c, const std::string& id) {
  c.clear();
  c.send("<iq type='get' id='" + id + "'><ping xmlns='urn:xmpp:ping'/></iq>");
  auto got = c.read_until("id='" + id + "'", 5s);
  return got.find("type='result'") != std::string::npos && got.find("id='" + id + "'") != std::string::npos;
}

std::string proxy_v2_header(const char* src_ip, std::uint16_t src_port) {
  std::string h("\r\n\r\n\0\r\nQUIT\n", 12);
  h += static_cast<char>(0x21);  // v2, PROXY
  h += static_cast<char>(0x11);  // TCP over IPv4
  h += std::string("\x00\x0c", 2);
  in_addr src{}, dst{};
  inet_pton(AF_INET, src_ip, &src);
  inet_pton(AF_INET, "127.0.0.1", &dst);
  h.append(reinterpret_cast<char*>(&src), 4);
  h.append(reinterpret_cast<char*>(&dst), 4);
  h += static_cast<char>(src_port >> 8);
  h += static_cast<char>(src_port & 0xff);
  h += std::string("\x14\x66", 2);
  return h;
}

}  // namespace

TEST_CASE("slixmpp logs in with SCRAM over STARTTLS and direct TLS and gets SIC, extdisco and ping answers",
          "[integration][serve][slixmpp]") {
  SKIP_WITHOUT_SLIXMPP();
  ServeFixture s({{{"alice", kPassword}}, kTestExternalServices, {}, false, false});
  struct Case {
    const char* name;
    std::vector<std::string> args;
    const char* mech;
  } cases[] = {
      {"STARTTLS SCRAM-SHA-256", {"--port", std::to_string(s.c2s_port()), "--cafile", s.cert(), "--mech", "SCRAM-SHA-256"}, "SCRAM-SHA-256"},
      {"STARTTLS SCRAM-SHA-1", {"--port", std::to_string(s.c2s_port()), "--cafile", s.cert(), "--mech", "SCRAM-SHA-1"}, "SCRAM-SHA-1"},
      {"direct TLS SCRAM-SHA-256", {"--port", std::to_string(s.direct_tls_port()), "--direct-tls", "--cafile", s.cert(), "--mech", "SCRAM-SHA-256"}, "SCRAM-SHA-256"},
  };
  for (const auto& c : cases) {
    DYNAMIC_SECTION(c.name) {
      auto r = slixmpp(c.args);
      INFO(r.out << r.err << s.log());
      REQUIRE(r.exit_code == 0);
      auto j = last_json_line(r.out);
      CHECK(j["authenticated"] == true);
      CHECK(j["mechanism"] == c.mech);
      CHECK(std::string(j["bound_jid"]).rfind("alice@localhost/", 0) == 0);
      // sic:1 is the session's real remote address and port, as the server log records it.
      CHECK(j["sic1"]["ip"] == "127.0.0.1");
      int port = j["sic1"]["port"];
      CHECK(port > 1024);
      CHECK(s.log().find("port=" + std::to_string(port)) != std::string::npos);
      // extdisco:2: the STUN entry plain, the restricted TURN entry without credentials...
      REQUIRE(j["extdisco2"].size() == 2);
      CHECK(j["extdisco2"][0]["type"] == "stun");
      CHECK(j["extdisco2"][0]["port"] == "3478");
      CHECK(j["extdisco2"][1]["type"] == "turn");
      CHECK(j["extdisco2"][1]["restricted"] == "1");
      CHECK_FALSE(j["extdisco2"][1].contains("password"));
      // ...which <credentials/> mints as coturn use-auth-secret expects.
      REQUIRE(j["credentials"].size() == 1);
      std::string user = j["credentials"][0]["username"], pass = j["credentials"][0]["password"];
      CHECK(user.size() > 6);
      CHECK(user.substr(user.find(':')) == ":alice");
      long long expiry = std::stoll(user.substr(0, user.find(':')));
      CHECK(expiry > static_cast<long long>(std::time(nullptr)) + 3500);
      CHECK(expiry <= static_cast<long long>(std::time(nullptr)) + 3600);
      using namespace xnet::server::crypto;
      CHECK(pass == base64(hmac(Hash::Sha1, "north", user)));
      CHECK(j["ping_ok"] == true);
    }
  }
}

TEST_CASE("a wrong password is refused with a SASL failure while another client is served",
          "[integration][serve][slixmpp]") {
  SKIP_WITHOUT_SLIXMPP();
  ServeFixture s({{{"alice", kPassword}}, {}, {"--allow-plaintext", "--anonymous"}, false, false});
  Raw good(s.c2s_port());
  anon_login(good);
  std::vector<std::string> argv{kPython, script(), "--jid", "alice@localhost", "--password", "wrong", "--port",
                                std::to_string(s.c2s_port()), "--cafile", s.cert(), "--timeout", "15"};
  auto r = run(argv, {}, std::nullopt, 60s);
  INFO(r.out << r.err << s.log());
  CHECK(r.exit_code != 0);
  CHECK(last_json_line(r.out)["authenticated"] == false);
  CHECK(s.wait_log("auth_failed"));
  CHECK(s.log().find("condition=not-authorized") != std::string::npos);
  CHECK(ping_ok(good, "after-bad-password"));
}

TEST_CASE("xnet whoami reports what serve sees", "[integration][serve][whoami]") {
  ServeFixture s({{{"alice", kPassword}}, {}, {}, false, false});
  auto r = run_xnet({"--json", "whoami", "--jid", "alice@localhost", "--server", s.server(), "--ca-file", s.cert(),
                     "--timeout", "10"},
                    {{"XNET_PASSWORD", kPassword}});
  INFO(r.out << r.err << s.log());
  REQUIRE(r.exit_code == 0);
  auto j = r.json();
  CHECK(j["external_ip"] == "127.0.0.1");
  CHECK(j.dump().find(std::to_string(s.c2s_port())) != std::string::npos);
  auto d = run_xnet({"--json", "whoami", "--jid", "alice@localhost", "--server", s.direct_tls_server(),
                     "--direct-tls", "--ca-file", s.cert(), "--timeout", "10"},
                    {{"XNET_PASSWORD", kPassword}});
  INFO(d.out << d.err);
  REQUIRE(d.exit_code == 0);
  CHECK(d.json()["external_ip"] == "127.0.0.1");
}

TEST_CASE("xnet stun-list reads every XEP-0215 form from serve", "[integration][serve][stun-list]") {
  ServeFixture s({{{"alice", kPassword}}, kTestExternalServices, {}, false, false});
  auto r = run_xnet({"--json", "stun-list", "--all", "--jid", "alice@localhost", "--server", s.server(), "--ca-file",
                     s.cert(), "--timeout", "10"},
                    {{"XNET_PASSWORD", kPassword}});
  INFO(r.out << r.err << s.log());
  REQUIRE(r.exit_code == 0);
  auto j = r.json();
  std::set<std::string> answered;
  for (const auto& f : j["forms"])
    if (f["error"].is_null() && f["services"].get<int>() > 0) answered.insert(f["source"]);
  CHECK(answered.count("extdisco:2"));
  CHECK(answered.count("extdisco:1"));
  CHECK(answered.count("extdisco:0"));
  CHECK(answered.count("xep0215-0.1"));
  bool turn_with_credentials = false, stun = false;
  for (const auto& sv : j["services"]) {
    if (sv["type"] == "stun" && sv["host"] == "127.0.0.1" && sv["port"] == 3478) stun = true;
    if (sv["type"] == "turn" && sv["port"] == 3479 && sv["password"].is_string()) {
      std::string user = sv["username"];
      CHECK(sv["password"] == xnet::server::crypto::base64(
                                  xnet::server::crypto::hmac(xnet::server::crypto::Hash::Sha1, "north", user)));
      turn_with_credentials = true;
    }
  }
  CHECK(stun);
  CHECK(turn_with_credentials);
}

TEST_CASE("stun-list --watch gets a push after SIGHUP reloads the list", "[integration][serve][stun-list]") {
  ServeFixture s({{{"alice", kPassword}}, kTestExternalServices, {}, false, false});
  TempDir d("xnet-watch");
  Process::Options po;
  po.stdout_file = d / "out";
  po.stderr_file = d / "err";
  po.env = {{"XNET_PASSWORD", kPassword}, {"XDG_CONFIG_HOME", (d / "cfg").string()}};
  Process watch({xnet_binary(), "--json", "stun-list", "--watch", "--type", "stun", "--jid", "alice@localhost",
                 "--server", s.server(), "--ca-file", s.cert(), "--timeout", "10"},
                po);
  auto wait_lines = [&](std::size_t n) {
    for (int i = 0; i < 500; ++i) {
      auto text = read_file(d / "out");
      if (static_cast<std::size_t>(std::count(text.begin(), text.end(), '\n')) >= n) return true;
      std::this_thread::sleep_for(20ms);
    }
    return false;
  };
  REQUIRE(wait_lines(1));
  s.write_config(std::string(kTestExternalServices) + R"(
[[external_services]]
type = "stun"
host = "stun2.example.net"
port = 3478
transport = "udp"
)");
  s.reload();
  INFO(read_file(d / "err") << s.log());
  REQUIRE(wait_lines(2));
  REQUIRE(s.wait_log("reload"));
  auto lines = read_file(d / "out");
  auto push = nlohmann::json::parse(lines.substr(lines.find('\n') + 1, lines.find('\n', lines.find('\n') + 1) - lines.find('\n') - 1));
  CHECK(push["event"] == "push");
  bool added = false;
  for (const auto& c : push["changes"])
    if (c["host"] == "stun2.example.net" && c["action"] == "add") added = true;
  CHECK(added);
  watch.stop();
}

TEST_CASE("a typed extdisco:2 request is pushed the change after SIGHUP", "[integration][serve][push]") {
  ServeFixture s({{}, kTestExternalServices, {"--allow-plaintext", "--anonymous"}, false, false});
  Raw c(s.c2s_port());
  auto jid = anon_login(c);
  c.send("<iq type='get' id='l1'><services xmlns='urn:xmpp:extdisco:2' type='stun'/></iq>");
  auto got = c.read_until("</iq>");
  CHECK_THAT(got, Catch::Contains("host='127.0.0.1'"));
  c.clear();
  s.write_config(R"(
[[external_services]]
type = "stun"
host = "198.51.100.20"
port = 3478
transport = "udp"
)");
  s.reload();
  got = c.read_until("</iq>");
  INFO(got << s.log());
  CHECK_THAT(got, Catch::Contains("type='set'"));
  CHECK_THAT(got, Catch::Contains("action='delete'"));
  CHECK_THAT(got, Catch::Contains("action='add' type='stun' host='198.51.100.20'"));
  CHECK_THAT(got, Catch::Contains("to='" + jid + "'"));
}

TEST_CASE("bad input gets the right stream error and a second client is served throughout",
          "[integration][serve][limits]") {
  ServeFixture s({{{"alice", kPassword}}, {}, {"--allow-plaintext", "--anonymous", "--max-stanza-bytes", "4096"},
                  false, false});
  Raw good(s.c2s_port());
  anon_login(good);

  SECTION("malformed XML") {
    Raw bad(s.c2s_port(), kHeader);
    bad.read_until("</stream:features>");
    bad.send("<message><body>unclosed</message>");
    auto got = bad.read_until("</stream:stream>");
    CHECK_THAT(got, Catch::Contains("<not-well-formed xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"));
    CHECK(ping_ok(good, "p1"));
  }
  SECTION("an entity declaration") {
    Raw bad(s.c2s_port(), "<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'>]>" + kHeader);
    auto got = bad.read_until("</stream:stream>");
    CHECK_THAT(got, Catch::Contains("<restricted-xml xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"));
    CHECK(ping_ok(good, "p2"));
  }
  SECTION("an oversized stanza") {
    Raw bad(s.c2s_port());
    anon_login(bad);
    bad.send("<message to='x@localhost'><body>" + std::string(10000, 'a') + "</body></message>");
    auto got = bad.read_until("</stream:stream>");
    CHECK_THAT(got, Catch::Contains("<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"));
    CHECK(ping_ok(good, "p3"));
  }
  SECTION("a stanza before authentication") {
    Raw bad(s.c2s_port(), kHeader);
    bad.read_until("</stream:features>");
    bad.send("<iq type='get' id='x'><address xmlns='urn:xmpp:sic:1'/></iq>");
    auto got = bad.read_until("</stream:stream>");
    CHECK_THAT(got, Catch::Contains("<not-authorized xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"));
    CHECK_THAT(got, !Catch::Contains("<address"));
    CHECK(ping_ok(good, "p4"));
  }
  SECTION("a wrong SASL PLAIN password over TLS-less stream is refused (PLAIN not offered)") {
    Raw bad(s.c2s_port(), kHeader);
    CHECK_THAT(bad.read_until("</stream:features>"), !Catch::Contains("<mechanism>PLAIN</mechanism>"));
    bad.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='PLAIN'>AGFsaWNlAHdyb25n</auth>");
    CHECK_THAT(bad.read_until("</failure>"), Catch::Contains("<invalid-mechanism/>"));
    CHECK(ping_ok(good, "p5"));
  }
  SECTION("a client that stops reading") {
    Raw slow(s.c2s_port(), {}, 4096);
    auto slow_jid = anon_login(slow);
    Raw flooder(s.c2s_port());
    anon_login(flooder);
    std::string msg = "<message to='" + slow_jid + "'><body>" + std::string(3500, 'x') + "</body></message>";
    bool dropped = false;
    for (int i = 0; i < 3000 && !dropped; ++i) {
      flooder.send(msg);
      if (i % 50 == 49) {
        dropped = s.log().find("peer does not read its stream") != std::string::npos;
        REQUIRE(ping_ok(good, "flood" + std::to_string(i)));
      }
    }
    INFO(s.log());
    CHECK((dropped || s.wait_log("peer does not read its stream", 8s)));
    CHECK(ping_ok(good, "p6"));
  }
}

TEST_CASE("limits: connections per address, unauthenticated time", "[integration][serve][limits]") {
  ServeFixture s({{}, {}, {"--allow-plaintext", "--max-connections-per-ip", "2", "--auth-timeout", "1"}, false, false});
  Raw a(s.c2s_port(), kHeader), b(s.c2s_port(), kHeader);
  CHECK_THAT(a.read_until("</stream:features>"), Catch::Contains("<stream:features>"));
  CHECK_THAT(b.read_until("</stream:features>"), Catch::Contains("<stream:features>"));
  Raw c(s.c2s_port(), kHeader);
  CHECK_THAT(c.read_until("</stream:stream>"), Catch::Contains("<policy-violation"));
  // a and b never authenticate: they are closed with connection-timeout after ~1 s.
  auto t0 = std::chrono::steady_clock::now();
  CHECK_THAT(a.read_until("</stream:stream>", 5s), Catch::Contains("<connection-timeout"));
  CHECK(std::chrono::steady_clock::now() - t0 < 4s);
}

TEST_CASE("PROXY protocol v2: SIC reports the client's address from the header", "[integration][serve][proxy]") {
  ServeFixture s({{}, {}, {"--allow-plaintext", "--anonymous", "--proxy-protocol"}, false, false});
  Raw c(s.c2s_port(), proxy_v2_header("203.0.113.7", 4242));
  anon_login(c);
  c.send("<iq type='get' id='s1'><address xmlns='urn:xmpp:sic:1'/></iq>");
  auto got = c.read_until("</iq>");
  CHECK_THAT(got, Catch::Contains("<ip>203.0.113.7</ip><port>4242</port>"));
  // Without the header the connection is dropped (no header, no service).
  Raw plain(s.c2s_port(), kHeader);
  CHECK(plain.read_until("features", 3s).find("features") == std::string::npos);
}

TEST_CASE("SIGTERM closes every stream with system-shutdown and exits 0", "[integration][serve]") {
  ServeFixture s({{}, {}, {"--allow-plaintext", "--anonymous"}, false, false});
  Raw c(s.c2s_port());
  anon_login(c);
  s.process().signal(SIGTERM);
  CHECK_THAT(c.read_until("</stream:stream>"), Catch::Contains("<system-shutdown"));
  auto st = s.process().wait(5s);
  REQUIRE(st);
  CHECK(*st == 0);
}

TEST_CASE("JSON log lines with --json", "[integration][serve]") {
  ServeFixture s({{}, {}, {"--allow-plaintext", "--anonymous"}, true, false});
  {
    Raw c(s.c2s_port());
    anon_login(c);
  }
  REQUIRE(s.wait_log("\"event\":\"bind\""));
  std::istringstream in(s.log());
  std::string line;
  int n = 0;
  while (std::getline(in, line)) {
    auto j = nlohmann::json::parse(line);
    CHECK(j.contains("event"));
    CHECK(j.contains("ts"));
    ++n;
  }
  CHECK(n >= 3);
  auto out = read_file(s.dir() / "stdout");
  CHECK(nlohmann::json::parse(out.substr(0, out.find('\n')))["event"] == "listening");
}

TEST_CASE("component mode: a Prosody client reaches the component's services", "[integration][serve][component]") {
  XNET_SKIP_IF(Prosody::unavailable());
  SKIP_WITHOUT_SLIXMPP();
  ProsodyOptions po;
  po.components = {{"xnet.localhost", "comp-secret"}};
  Prosody p(po);
  p.add_user("alice", kPassword);
  TempDir d("xnet-comp");
  write_file(d / "services.toml", kTestExternalServices);
  Process::Options opt;
  opt.stdout_file = d / "out";
  opt.stderr_file = d / "err";
  opt.env = {{"XNET_COMPONENT_SECRET", "comp-secret"}, {"XDG_CONFIG_HOME", (d / "cfg").string()}};
  Process comp({xnet_binary(), "serve", "--component", "xnet.localhost", "--router",
                "127.0.0.1:" + std::to_string(p.component_port()), "--server-config", (d / "services.toml").string(),
                "--state-dir", (d / "state").string(), "--port-file", (d / "ready.json").string()},
               opt);
  INFO(read_file(d / "err") << p.log());
  REQUIRE(wait_for_file(d / "ready.json", 15s));
  CHECK(nlohmann::json::parse(read_file(d / "ready.json"))["mode"] == "component");

  std::vector<std::string> argv{kPython, script(), "--jid", "alice@localhost", "--password", kPassword, "--port",
                                std::to_string(p.c2s_port()), "--cafile", p.cert(), "--to", "xnet.localhost"};
  auto r = run(argv, {}, std::nullopt, 60s);
  INFO(r.out << r.err << read_file(d / "err"));
  REQUIRE(r.exit_code == 0);
  auto j = last_json_line(r.out);
  CHECK(j["disco_identity"] == "component/generic");
  CHECK(j["disco_features"].dump().find("urn:xmpp:extdisco:2") != std::string::npos);
  REQUIRE(j["extdisco2"].size() == 2);
  REQUIRE(j["credentials"].size() == 1);
  std::string user = j["credentials"][0]["username"];
  CHECK(user.substr(user.find(':')) == ":alice");
  CHECK(j["credentials"][0]["password"] ==
        xnet::server::crypto::base64(xnet::server::crypto::hmac(xnet::server::crypto::Hash::Sha1, "north", user)));
  CHECK(j["ping_ok"] == true);

  // A wrong secret is refused by the router: exit code 77 (auth).
  Process::Options bad = opt;
  bad.env["XNET_COMPONENT_SECRET"] = "wrong";
  bad.stdout_file = d / "out2";
  bad.stderr_file = d / "err2";
  Process wrong({xnet_binary(), "serve", "--component", "xnet.localhost", "--router",
                 "127.0.0.1:" + std::to_string(p.component_port()), "--state-dir", (d / "state2").string()},
                bad);
  auto st = wrong.wait(20s);
  INFO(read_file(d / "err2"));
  REQUIRE(st);
  CHECK(*st != 0);
  comp.stop();
}

TEST_CASE("xnet serve with no accounts lets xnet whoami log in anonymously", "[integration][serve][whoami]") {
  ServeFixture s;
  CHECK(s.ready()["anonymous"] == true);
  CHECK(s.ready()["certificate_generated"] == true);
  CHECK(std::string(s.ready()["fingerprint_sha256"]).size() == 95);
  auto r = run_xnet({"--json", "whoami", "--jid", "localhost", "--server", s.server(), "--ca-file", s.cert(),
                     "--timeout", "10"});
  INFO(r.out << r.err << s.log());
  REQUIRE(r.exit_code == 0);
  auto j = r.json();
  CHECK(j["external_ip"] == "127.0.0.1");
  CHECK(std::string(j["jid"]).rfind("anon-", 0) == 0);
  CHECK(s.log().find("mechanism=ANONYMOUS") != std::string::npos);
}

TEST_CASE("serve user add/list/del keep salted credentials only, and SIGHUP reloads them", "[integration][serve][accounts]") {
  ServeFixture s({{}, {}, {"--no-anonymous"}, false, false});
  auto state = s.state_dir().string();
  auto add = run_xnet({"--json", "serve", "user", "add", "Bob", "--state-dir", state}, {{"XNET_PASSWORD", kPassword}});
  INFO(add.err);
  REQUIRE(add.exit_code == 0);
  CHECK(add.json()["jid"] == "bob@localhost");
  auto file = read_file(s.state_dir() / "accounts.json");
  CHECK(file.find(kPassword) == std::string::npos);
  CHECK(file.find("stored_key") != std::string::npos);
  CHECK((std::filesystem::status(s.state_dir() / "accounts.json").permissions() & std::filesystem::perms::others_read) ==
        std::filesystem::perms::none);
  auto list = run_xnet({"--json", "serve", "user", "list", "--state-dir", state});
  CHECK(list.json()["users"] == nlohmann::json::array({"bob"}));
  CHECK(run_xnet({"serve", "user", "add", "bad@name", "--state-dir", state}, {{"XNET_PASSWORD", "x"}}).exit_code == 65);
  CHECK(run_xnet({"serve", "user", "add", "carol", "--state-dir", state}).exit_code == 64);  // no password source, no TTY
  // The running server learns the new account on SIGHUP.
  s.reload();
  REQUIRE(s.wait_log("reload"));
  auto who = run_xnet({"--json", "whoami", "--jid", "bob@localhost", "--server", s.server(), "--ca-file", s.cert(),
                       "--timeout", "10"},
                      {{"XNET_PASSWORD", kPassword}});
  INFO(who.err << s.log());
  CHECK(who.exit_code == 0);
  auto del = run_xnet({"serve", "user", "del", "bob", "--state-dir", state});
  CHECK(del.exit_code == 0);
  CHECK(run_xnet({"serve", "user", "del", "bob", "--state-dir", state}).exit_code == 65);
}

TEST_CASE("an unknown user gets a salt shaped like a real one, stable per server, different between state dirs",
          "[integration][serve][accounts]") {
  ServeFixture a({{{"alice", kPassword}}, {}, {"--allow-plaintext"}, false, false});
  ServeFixture b({{{"alice", kPassword}}, {}, {"--allow-plaintext"}, false, false});
  auto salt_of = [](const std::string& first) {
    std::smatch m;
    REQUIRE(std::regex_search(first, m, std::regex(",s=([^,]+),i=([0-9]+)$")));
    return std::make_pair(m[1].str(), m[2].str());
  };
  Raw c1(a.c2s_port()), c2(a.c2s_port()), c3(b.c2s_port()), c4(a.c2s_port());
  auto real = salt_of(scram_first(c4, "alice"));
  auto fake_a1 = salt_of(scram_first(c1, "nobody"));
  auto fake_a2 = salt_of(scram_first(c2, "nobody"));
  auto fake_b = salt_of(scram_first(c3, "nobody"));
  CHECK(fake_a1 == fake_a2);
  CHECK(fake_a1.first != fake_b.first);
  CHECK(fake_a1.first.size() == real.first.size());
  CHECK(xnet::server::crypto::unbase64(fake_a1.first)->size() == xnet::server::crypto::unbase64(real.first)->size());
  CHECK(fake_a1.second == real.second);
  // The old public formula is gone.
  CHECK(fake_a1.first != xnet::server::crypto::base64(
                             xnet::server::crypto::digest(xnet::server::crypto::Hash::Sha256, "xnet-fake-salt:nobody")
                                 .substr(0, 16)));
  CHECK(std::filesystem::exists(a.state_dir() / "server-secret"));
  CHECK((std::filesystem::status(a.state_dir() / "server-secret").permissions() & std::filesystem::perms::group_all) ==
        std::filesystem::perms::none);
}

TEST_CASE("password guesses from many addresses are throttled per account, and logged", "[integration][serve][limits]") {
  ServeFixture s({{{"alice", kPassword}}, {}, {"--allow-plaintext", "--anonymous"}, false, false});
  // Ten guesses from ten addresses (the default account burst), one per connection.
  std::vector<std::unique_ptr<Raw>> guessers;
  for (int i = 0; i < 10; ++i) {
    std::string ip = "127.0.3." + std::to_string(i + 1);
    guessers.push_back(std::make_unique<Raw>(s.c2s_port(), std::string(), 0, ip.c_str()));
    auto first = scram_first(*guessers.back(), "alice");
    REQUIRE(!first.empty());
    scram_wrong_final(*guessers.back(), first);
  }
  for (auto& g : guessers) CHECK_THAT(g->read_until("</failure>"), Catch::Contains("<not-authorized/>"));
  // The eleventh, from yet another address, is refused before any password check.
  Raw late(s.c2s_port(), std::string(), 0, "127.0.4.1");
  late.send(kHeader);
  late.read_until("</stream:features>");
  late.clear();
  late.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-256'>" +
            xnet::server::crypto::base64("n,,n=alice,r=clientnonce") + "</auth>");
  auto got = late.read_until("</failure>");
  CHECK_THAT(got, Catch::Contains("<temporary-auth-failure/>"));
  CHECK_THAT(got, !Catch::Contains("<challenge"));
  CHECK(s.wait_log("auth_throttled"));
  CHECK_THAT(s.log(), Catch::Contains("limit=account"));
  // Other accounts and anonymous clients are served meanwhile.
  Raw other(s.c2s_port(), std::string(), 0, "127.0.4.2");
  CHECK(!scram_first(other, "bob").empty());
  Raw good(s.c2s_port());
  anon_login(good);
  CHECK(ping_ok(good, "t1"));
}

TEST_CASE("anonymous is refused right after the first account is added and SIGHUP", "[integration][serve][accounts]") {
  ServeFixture s({{}, {}, {"--allow-plaintext"}, false, false});
  REQUIRE(s.ready()["anonymous"] == true);
  Raw before(s.c2s_port());
  anon_login(before);
  auto add = run_xnet({"serve", "user", "add", "bob", "--state-dir", s.state_dir().string()},
                      {{"XNET_PASSWORD", kPassword}});
  REQUIRE(add.exit_code == 0);
  s.reload();
  REQUIRE(s.wait_log("reload"));
  INFO(s.log());
  CHECK_THAT(s.log(), Catch::Contains("accounts=1"));
  CHECK_THAT(s.log(), Catch::Contains("anonymous=false"));
  Raw after(s.c2s_port(), kHeader);
  CHECK_THAT(after.read_until("</stream:features>"), !Catch::Contains("ANONYMOUS"));
  after.send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='ANONYMOUS'/>");
  auto got = after.read_until("</failure>");
  CHECK_THAT(got, Catch::Contains("<invalid-mechanism/>"));
  CHECK_THAT(got, !Catch::Contains("<success"));
}

TEST_CASE("whitespace keepalives between stanzas do not count toward the stanza limit", "[integration][serve][limits]") {
  ServeFixture s({{}, {}, {"--allow-plaintext", "--anonymous", "--max-stanza-bytes", "4096"}, false, false});
  Raw c(s.c2s_port());
  anon_login(c);
  for (int i = 0; i < 50; ++i) c.send(std::string(4000, ' ') + "\n");  // 200 KB of keepalives
  CHECK(ping_ok(c, "ws1"));
  c.send(std::string(100000, ' '));  // in one write, too
  CHECK(ping_ok(c, "ws2"));
  CHECK(!c.eof());
}

TEST_CASE("a UTF-16 stream is refused with unsupported-encoding", "[integration][serve][limits]") {
  ServeFixture s({{}, {}, {"--allow-plaintext", "--anonymous"}, false, false});
  std::string utf16("\xfe\xff", 2);
  for (char ch : kHeader) {
    utf16.push_back('\0');
    utf16.push_back(ch);
  }
  Raw c(s.c2s_port(), utf16);
  auto got = c.read_until("</stream:stream>");
  CHECK_THAT(got, Catch::Contains("<unsupported-encoding xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"));
  Raw d(s.c2s_port(), "<?xml version='1.0' encoding='UTF-16'?>" + kHeader.substr(21));
  CHECK_THAT(d.read_until("</stream:stream>"), Catch::Contains("<unsupported-encoding"));
  Raw good(s.c2s_port());
  anon_login(good);
}

TEST_CASE("silent connections from one address beyond the limit are refused at once while others are served",
          "[integration][serve][limits]") {
  ServeFixture s({{}, "[limits]\nhandshake_timeout = 2\n", {"--allow-plaintext", "--anonymous", "--max-connections-per-ip", "5"},
                  false, false});
  std::vector<std::unique_ptr<Raw>> silent;
  for (int i = 0; i < 5; ++i) silent.push_back(std::make_unique<Raw>(s.c2s_port(), std::string(), 0, "127.0.5.1"));
  // Give the server the chance to accept them all (they send nothing: nothing to wait for).
  Raw probe(s.c2s_port(), std::string(), 0, "127.0.5.2");
  anon_login(probe);
  auto t0 = std::chrono::steady_clock::now();
  Raw extra(s.c2s_port(), std::string(), 0, "127.0.5.1");
  auto got = extra.read_until("</stream:stream>", 5s);
  CHECK_THAT(got, Catch::Contains("<policy-violation xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"));
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);
  extra.read_until("never", 2s);
  CHECK(extra.eof());
  CHECK(s.wait_log("connections_per_ip"));
  // Another address is served meanwhile.
  Raw other(s.c2s_port(), std::string(), 0, "127.0.5.3");
  anon_login(other);
  CHECK(ping_ok(other, "o1"));
  // The silent ones are closed at the handshake deadline (2 s), long before the auth timeout.
  silent[0]->read_until("never", 6s);
  CHECK(silent[0]->eof());
  CHECK(s.wait_log("handshake_timeout"));
  // Their slots are free again.
  Raw again(s.c2s_port(), kHeader, 0, "127.0.5.1");
  CHECK_THAT(again.read_until("</stream:features>"), Catch::Contains("<stream:features>"));
}

TEST_CASE("serve raises its descriptor soft limit and logs it", "[integration][serve][limits]") {
  ServeFixture s({{}, {}, {"--allow-plaintext"}, false, false});
  REQUIRE(s.wait_log("fd_limit"));
  auto log = s.log();
  std::smatch m;
  REQUIRE(std::regex_search(log, m, std::regex("fd_limit hard=(-?[0-9]+) max_connections=([0-9]+) soft=([0-9]+)")));
  auto hard = std::stoll(m[1]), cap = std::stoll(m[2]), soft = std::stoll(m[3]);
  if (hard > 0) CHECK(soft == hard);
  CHECK(cap < soft);
  CHECK(cap > 0);
}

TEST_CASE("FAST tokens: serve keeps them hashed in its state dir and drops them when the password changes",
          "[integration][serve][fast]") {
  ServeFixture s({{{"alice", kPassword}}, {}, {}, false, false});
  auto client_state = s.state_dir() / "client-state";
  std::filesystem::create_directories(client_state);
  auto r = run_xnet({"--json", "whoami", "--jid", "alice@localhost", "--server", s.direct_tls_server(), "--direct-tls",
                     "--ca-file", s.cert(), "--no-stun", "--timeout", "10", "--debug", "xml"},
                    {{"XNET_PASSWORD", kPassword}, {"XDG_STATE_HOME", client_state.string()}});
  INFO(r.err << s.log());
  REQUIRE(r.exit_code == 0);
  // The client logged in with SASL2 + Bind 2 and received a token.
  CHECK(r.err.find("<authenticate xmlns='urn:xmpp:sasl:2'") != std::string::npos);
  std::string token;
  for (const auto& f : std::filesystem::directory_iterator(client_state / "xnet"))
    if (f.path().filename().string().starts_with("fast-")) {
      std::istringstream in(read_file(f.path()));
      std::string line;
      while (std::getline(in, line))
        if (line.size() == 86) token = line;
    }
  REQUIRE(token.size() == 86);
  auto tokens = s.state_dir() / "fast-tokens.json";
  REQUIRE(std::filesystem::exists(tokens));
  CHECK((std::filesystem::status(tokens).permissions() & std::filesystem::perms::mask) ==
        (std::filesystem::perms::owner_read | std::filesystem::perms::owner_write));
  auto stored = read_file(tokens);
  CHECK(stored.find("\"user\":\"alice\"") != std::string::npos);
  CHECK(stored.find(token) == std::string::npos);
  REQUIRE(s.wait_log("fast_token_issued"));
  CHECK(s.log().find(token) == std::string::npos);
  CHECK(r.err.find(token) == std::string::npos);
  // A new password: the account's tokens leave the file (and would fail anyway).
  auto add = run_xnet({"serve", "user", "add", "alice", "--state-dir", s.state_dir().string()},
                      {{"XNET_PASSWORD", "another password"}});
  REQUIRE(add.exit_code == 0);
  CHECK(read_file(tokens).find("\"user\":\"alice\"") == std::string::npos);
}

namespace {
// A TLS 1.3 client on serve's direct TLS port that offers `resume` (if any), opens a stream and
// reads the answer (which brings the tickets): whether the server resumed, and the tickets seen.
struct TlsVisit {
  bool resumed = false;
  int tickets = 0;
  SSL_SESSION* session = nullptr;  ///< the last ticket's session (caller frees)
};
TlsVisit tls_visit(std::uint16_t port, SSL_SESSION* resume) {
  TlsVisit v;
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  REQUIRE(ctx);
  SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
  SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_CLIENT | SSL_SESS_CACHE_NO_INTERNAL_STORE);
  SSL_CTX_set_ex_data(ctx, 0, &v);
  SSL_CTX_sess_set_new_cb(ctx, [](SSL* ssl, SSL_SESSION* sess) {
    auto* visit = static_cast<TlsVisit*>(SSL_CTX_get_ex_data(SSL_get_SSL_CTX(ssl), 0));
    ++visit->tickets;
    if (visit->session) SSL_SESSION_free(visit->session);
    visit->session = sess;
    return 1;  // we keep the reference
  });
  int fd = tcp_connect(port);
  REQUIRE(fd >= 0);
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  SSL* ssl = SSL_new(ctx);
  SSL_set_fd(ssl, fd);
  SSL_set_tlsext_host_name(ssl, "localhost");
  if (resume) SSL_set_session(ssl, resume);
  REQUIRE(SSL_connect(ssl) == 1);
  v.resumed = SSL_session_reused(ssl) == 1;
  std::string header(kHeader);
  REQUIRE(SSL_write(ssl, header.data(), static_cast<int>(header.size())) > 0);
  std::string got;
  char buf[4096];
  for (int i = 0; i < 20 && got.find("</stream:features>") == std::string::npos; ++i) {
    int n = SSL_read(ssl, buf, sizeof buf);
    if (n <= 0) break;
    got.append(buf, static_cast<std::size_t>(n));
  }
  CHECK_THAT(got, Catch::Contains("<stream:features"));
  SSL_shutdown(ssl);
  SSL_free(ssl);
  ::close(fd);
  SSL_CTX_free(ctx);
  return v;
}
}  // namespace

TEST_CASE("TLS 1.3 resumption: one ticket per handshake by default, none with tls_session_tickets = 0",
          "[integration][serve][tls]") {
  SECTION("default") {
    ServeFixture s({{}, {}, {"--anonymous"}, false, false});
    auto first = tls_visit(s.direct_tls_port(), nullptr);
    CHECK_FALSE(first.resumed);
    CHECK(first.tickets == 1);
    REQUIRE(first.session);
    auto second = tls_visit(s.direct_tls_port(), first.session);
    CHECK(second.resumed);
    SSL_SESSION_free(first.session);
    if (second.session) SSL_SESSION_free(second.session);
  }
  SECTION("off") {
    ServeFixture s({{}, "tls_session_tickets = 0\n", {"--anonymous"}, false, false});
    auto first = tls_visit(s.direct_tls_port(), nullptr);
    CHECK_FALSE(first.resumed);
    CHECK(first.tickets == 0);
    CHECK_FALSE(first.session);
  }
}
