// SPDX-License-Identifier: MIT
// xnet whoami against a real Prosody 0.12 with mod_ipcheck on 127.0.0.1.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <catch2/catch.hpp>

#include "support/process.hpp"
#include "support/prosody.hpp"
#include "support/skip.hpp"

using namespace xnet::test;

namespace {
constexpr const char* kPassword = "s3cret-Pa55word!";

Prosody& server() {
  static std::unique_ptr<Prosody> p = [] {
    auto s = std::make_unique<Prosody>();
    s->add_user("alice", kPassword);
    return s;
  }();
  return *p;
}

std::vector<std::string> base_args(const std::string& server_addr, std::vector<std::string> extra = {}) {
  std::vector<std::string> a{"--jid", "alice@localhost", "--server", server_addr, "--timeout", "10"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

std::vector<std::string> whoami(std::vector<std::string> args, bool json = true) {
  std::vector<std::string> a;
  if (json) a.push_back("--json");
  a.push_back("whoami");
  a.insert(a.end(), args.begin(), args.end());
  return a;
}

const std::map<std::string, std::string> kEnv{{"XNET_PASSWORD", kPassword}};

#define SKIP_WITHOUT_PROSODY() XNET_SKIP_IF(Prosody::unavailable())
}  // namespace

TEST_CASE("whoami over STARTTLS reports 127.0.0.1 and the connection's own port", "[integration][whoami]") {
  SKIP_WITHOUT_PROSODY();
  auto& s = server();
  auto r = run_xnet(whoami(base_args(s.server(), {"--ca-file", s.cert()})), kEnv);
  INFO(r.err << s.log().substr(0, 0));
  REQUIRE(r.exit_code == 0);
  auto j = r.json();
  CHECK(j["external_ip"] == "127.0.0.1");
  CHECK(j["family"] == "ipv4");
  CHECK(j["local_ip"] == "127.0.0.1");
  REQUIRE(j["external_port"].is_number());
  CHECK(j["external_port"] == j["local_port"]);
  CHECK(j["local_port"].get<int>() > 0);
  CHECK(j["server_port"] == s.c2s_port());
  CHECK(j["server_ip"] == "127.0.0.1");
  CHECK(j["tls"] == "starttls");
  CHECK(j["namespace"] == "urn:xmpp:sic:1");
  CHECK(j["nat"] == "none");
  CHECK(j["jid"].get<std::string>().rfind("alice@localhost/", 0) == 0);
  CHECK(j["elapsed_ms"].get<double>() > 0);
  CHECK(j["via"] == "sic");
}

TEST_CASE("whoami text output", "[integration][whoami]") {
  SKIP_WITHOUT_PROSODY();
  auto& s = server();
  auto r = run_xnet(whoami(base_args(s.server(), {"--ca-file", s.cert()}), false), kEnv);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("external   127.0.0.1:") != std::string::npos);
  CHECK(r.out.find("nat        none") != std::string::npos);
  CHECK(r.out.find("STARTTLS") != std::string::npos);
  CHECK(r.out.find("\033[") == std::string::npos);  // no colour when not a TTY
}

TEST_CASE("whoami over direct TLS", "[integration][whoami]") {
  SKIP_WITHOUT_PROSODY();
  auto& s = server();
  auto r = run_xnet(whoami(base_args(s.direct_tls_server(), {"--direct-tls", "--ca-file", s.cert()})), kEnv);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = r.json();
  CHECK(j["tls"] == "direct");
  CHECK(j["server_port"] == s.direct_tls_port());
  CHECK(j["external_port"] == j["local_port"]);
}

TEST_CASE("whoami --ns forces the namespace", "[integration][whoami]") {
  SKIP_WITHOUT_PROSODY();
  auto& s = server();
  auto r = run_xnet(whoami(base_args(s.server(), {"--ca-file", s.cert(), "--ns", "0"})), kEnv);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = r.json();
  CHECK(j["namespace"] == "urn:xmpp:sic:0");
  CHECK(j["external_ip"] == "127.0.0.1");
  CHECK(j["external_port"].is_null());  // sic:0 carries no port
  CHECK(j["nat"] == "none");
}

TEST_CASE("self-signed certificate: refused by default, accepted with --ca-file or --insecure",
          "[integration][whoami][tls]") {
  SKIP_WITHOUT_PROSODY();
  auto& s = server();
  SECTION("refused") {
    auto r = run_xnet(whoami(base_args(s.server())), kEnv);
    CHECK(r.exit_code == 79);
    auto j = r.json();
    CHECK(j["error"]["category"] == "tls");
    CHECK(j["error"]["exit_code"] == 79);
    CHECK(r.err.find("--ca-file") != std::string::npos);
  }
  SECTION("refused on direct TLS too") {
    auto r = run_xnet(whoami(base_args(s.direct_tls_server(), {"--direct-tls"})), kEnv);
    CHECK(r.exit_code == 79);
  }
  SECTION("insecure") {
    auto r = run_xnet(whoami(base_args(s.server(), {"--insecure"})), kEnv);
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.err.find("warning") != std::string::npos);
    CHECK(r.json()["external_ip"] == "127.0.0.1");
  }
}

TEST_CASE("wrong password is an auth failure", "[integration][whoami][auth]") {
  SKIP_WITHOUT_PROSODY();
  auto& s = server();
  auto r = run_xnet(whoami(base_args(s.server(), {"--ca-file", s.cert()})), {{"XNET_PASSWORD", "wrong"}});
  CHECK(r.exit_code == 77);
  CHECK(r.json()["error"]["category"] == "auth");
  CHECK(r.err.find("not-authorized") != std::string::npos);
}

TEST_CASE("password sources reach the server", "[integration][whoami][auth]") {
  SKIP_WITHOUT_PROSODY();
  auto& s = server();
  TempDir d;
  write_file(d / "pw", std::string(kPassword) + "\n");
  ::chmod((d / "pw").c_str(), 0600);
  SECTION("--password-file") {
    auto r = run_xnet(whoami(base_args(s.server(), {"--ca-file", s.cert(), "--password-file", (d / "pw").string()})));
    INFO(r.err);
    CHECK(r.exit_code == 0);
  }
  SECTION("--password-command") {
    auto r = run_xnet(
        whoami(base_args(s.server(), {"--ca-file", s.cert(), "--password-command", "cat " + (d / "pw").string()})));
    INFO(r.err);
    CHECK(r.exit_code == 0);
  }
  SECTION("config file account") {
    write_file(d / "config.toml", "default_account = \"t\"\n[accounts.t]\njid = \"alice@localhost\"\nserver = \"" +
                                      s.server() + "\"\nca_file = \"" + s.cert() + "\"\npassword_file = \"" +
                                      (d / "pw").string() + "\"\n");
    auto r = run_xnet({"--json", "--config", (d / "config.toml").string(), "whoami"});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.json()["external_ip"] == "127.0.0.1");
  }
  SECTION("no password and no TTY is a usage error, not a hang") {
    auto r = run_xnet(whoami(base_args(s.server(), {"--ca-file", s.cert()})), {}, std::nullopt,
                      std::chrono::seconds(10));
    CHECK(r.exit_code == 64);
  }
}

TEST_CASE("the XML trace (--debug=xml) shows the stream but never the password", "[integration][whoami][security]") {
  SKIP_WITHOUT_PROSODY();
  auto& s = server();
  auto r = run_xnet({"--debug=xml", "whoami", "--jid", "alice@localhost", "--server", s.server(), "--ca-file",
                     s.cert()},
                    kEnv);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("urn:xmpp:sic:1") != std::string::npos);  // the trace is really there
  CHECK(r.err.find("<auth") != std::string::npos);
  CHECK(r.err.find("[redacted]") != std::string::npos);
  CHECK(r.err.find(kPassword) == std::string::npos);
  // SCRAM client-first carries n=alice,r=…; its base64 must be gone too.
  CHECK(r.err.find("biwsbj1hbGljZSxy") == std::string::npos);
}

TEST_CASE("connection failures map to their exit codes", "[integration][whoami]") {
  SECTION("refused") {
    auto port = free_port();  // nothing listens there
    auto r = run_xnet(whoami(base_args("127.0.0.1:" + std::to_string(port))), kEnv);
    CHECK(r.exit_code == 69);
    CHECK(r.json()["error"]["category"] == "connect");
  }
  SECTION("a listener that never answers: timeout within the budget") {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 8) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    auto r = run_xnet({"--json", "whoami", "--jid", "alice@localhost", "--server",
                       "127.0.0.1:" + std::to_string(ntohs(a.sin_port)), "--timeout", "1"},
                      kEnv);
    ::close(fd);
    CHECK(r.exit_code == 75);
    CHECK(r.json()["error"]["category"] == "timeout");
    CHECK(r.elapsed_ms >= 900);
    CHECK(r.elapsed_ms < 3000);
  }
  SECTION("unknown host (resolver isolated to loopback)") {
    XNET_REQUIRE_PEER(::geteuid() == 0 && find_program("unshare"), "needs root and unshare to isolate DNS");
    // Point the resolver at 127.0.0.1 in a private mount namespace so no query leaves the machine.
    TempDir d;
    write_file(d / "resolv.conf", "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n");
    std::string cmd = "mount --bind " + (d / "resolv.conf").string() + " /etc/resolv.conf && exec \"$@\"";
    std::vector<std::string> argv{"unshare", "--mount", "--propagation", "private", "sh", "-c", cmd, "sh",
                                  xnet_binary(), "--json", "whoami", "--jid", "alice@no-such-host.invalid",
                                  "--server", "no-such-host.invalid", "--timeout", "5"};
    auto r = run(argv, {{"XNET_PASSWORD", "x"}, {"XDG_CONFIG_HOME", d.path().string()}});
    INFO(r.err);
    CHECK(r.exit_code == 68);
    CHECK(r.json()["error"]["category"] == "dns");
  }
}

TEST_CASE("a server without XEP-0279 is 'not supported'", "[integration][whoami]") {
  SKIP_WITHOUT_PROSODY();
  ProsodyOptions o;
  o.modules.clear();
  Prosody plain(o);
  plain.add_user("bob", "pw-bob-123");
  auto r = run_xnet({"--json", "whoami", "--jid", "bob@localhost", "--server", plain.server(), "--ca-file",
                     plain.cert()},
                    {{"XNET_PASSWORD", "pw-bob-123"}});
  INFO(r.err);
  CHECK(r.exit_code == 80);
  CHECK(r.json()["error"]["category"] == "not_supported");
  CHECK(r.err.find("XEP-0279") != std::string::npos);
}
