// SPDX-License-Identifier: MIT
// The client's XEP-0388 SASL2 + XEP-0386 Bind2 + XEP-0484 FAST login against a real `xnet serve`
// (first login with the password, the stored token on the next, a wrong token, --no-fast,
// logout), and its SASL1 fallback against a real Prosody 0.12 (which has no SASL2).
#include <sys/stat.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include <catch2/catch.hpp>

#include "support/process.hpp"
#include "support/prosody.hpp"
#include "support/serve_fixture.hpp"
#include "support/skip.hpp"

using namespace xnet::test;
namespace fs = std::filesystem;

namespace {
constexpr const char* kPassword = "fast-Pa55word";

ServeFixture& serve() {
  static std::unique_ptr<ServeFixture> s = [] {
    ServeFixtureOptions o;
    o.users = {{"alice", kPassword}};
    return std::make_unique<ServeFixture>(o);
  }();
  return *s;
}

unsigned mode_of(const fs::path& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

std::vector<fs::path> token_files(const fs::path& state) {
  std::vector<fs::path> out;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(state / "xnet", ec))
    if (e.path().filename().string().starts_with("fast-")) out.push_back(e.path());
  return out;
}

// Line n (0-based) of a token file: tag, account, server, mechanism, token, expiry.
std::string token_line(const fs::path& file, int n) {
  std::ifstream f(file);
  std::string line;
  for (int i = 0; i <= n; ++i) std::getline(f, line);
  return line;
}

void set_token(const fs::path& file, const std::string& token) {
  std::vector<std::string> lines;
  {
    std::ifstream f(file);
    for (std::string l; std::getline(f, l);) lines.push_back(l);
  }
  REQUIRE(lines.size() == 6);
  lines[4] = token;
  std::ofstream f(file, std::ios::trunc);
  for (const auto& l : lines) f << l << "\n";
}

struct Client {
  TempDir state{"xnet-sasl2-state"};
  TempDir work{"xnet-sasl2-work"};

  // A password command that leaves a mark, so a test can tell whether the password was read.
  fs::path marker() const { return work / "password-was-read"; }
  std::string password_command() const {
    return "touch '" + marker().string() + "' && echo '" + std::string(kPassword) + "'";
  }

  RunResult whoami(const std::string& server, std::vector<std::string> extra = {}, bool direct = true) {
    auto& s = serve();
    std::vector<std::string> a{"--json", "--debug=xml", "-vv", "whoami", "--jid", "alice@localhost", "--server", server,
                               "--ca-file", s.cert(), "--timeout", "10", "--password-command", password_command()};
    if (direct) a.push_back("--direct-tls");
    a.insert(a.end(), extra.begin(), extra.end());
    return run_xnet(a, {{"XDG_STATE_HOME", state.path().string()}});
  }
  RunResult run(std::vector<std::string> args) {
    return run_xnet(args, {{"XDG_STATE_HOME", state.path().string()}});
  }
};

// A first login stores a FAST token; then the stored token is replaced by `token` (a wrong one).
fs::path plant_token(Client& c, ServeFixture& s, const std::string& token) {
  REQUIRE(c.whoami(s.direct_tls_server()).exit_code == 0);
  auto files = token_files(c.state.path());
  REQUIRE(files.size() == 1);
  set_token(files[0], token);
  return files[0];
}

bool contains(const std::string& hay, const std::string& needle) { return hay.find(needle) != std::string::npos; }

#define SKIP_WITHOUT_SERVE_FAST()                                                                    \
  do {                                                                                               \
    auto probe = Client().whoami(serve().direct_tls_server());                                       \
    XNET_REQUIRE_PEER(contains(probe.err, "<authentication xmlns='urn:xmpp:sasl:2'") &&             \
                          contains(probe.err, "urn:xmpp:fast:0"),                                    \
                      "xnet serve offers no SASL2 with FAST yet");                                   \
  } while (0)
}  // namespace

TEST_CASE("the first SASL2 login stores a FAST token (0600) and the next one uses it without the password",
          "[integration][sasl2][fast]") {
  SKIP_WITHOUT_SERVE_FAST();
  auto& s = serve();
  Client c;
  auto first = c.whoami(s.direct_tls_server());
  INFO(first.err);
  REQUIRE(first.exit_code == 0);
  CHECK(first.json()["external_ip"] == "127.0.0.1");
  CHECK(contains(first.err, "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-SHA-"));
  CHECK(contains(first.err, "<bind xmlns='urn:xmpp:bind:0'><tag>xnet</tag></bind>"));
  CHECK(contains(first.err, "<request-token xmlns='urn:xmpp:fast:0' mechanism='HT-SHA-256-"));
  CHECK(fs::exists(c.marker()));
  auto files = token_files(c.state.path());
  REQUIRE(files.size() == 1);
  CHECK(mode_of(files[0]) == 0600);
  CHECK(mode_of(c.state / "xnet") == 0700);
  CHECK(token_line(files[0], 1) == "alice@localhost");
  CHECK(token_line(files[0], 2) == s.direct_tls_server());
  const std::string token = token_line(files[0], 4);
  REQUIRE(token.size() >= 16);
  // The token never reaches the trace, the JSON or anything else printed.
  CHECK_FALSE(contains(first.err, token));
  CHECK_FALSE(contains(first.out, token));
  CHECK(contains(first.err, "token='[redacted]'"));

  fs::remove(c.marker());
  auto second = c.whoami(s.direct_tls_server());
  INFO(second.err);
  REQUIRE(second.exit_code == 0);
  CHECK(second.json()["external_ip"] == "127.0.0.1");
  // FAST: the HT mechanism with a redacted payload, no SCRAM, and the password never read.
  CHECK(contains(second.err, "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='" + token_line(files[0], 3) +
                                 "'><initial-response>[redacted]</initial-response>"));
  CHECK(contains(second.err, "<fast xmlns='urn:xmpp:fast:0'/>"));
  CHECK_FALSE(contains(second.err, "mechanism='SCRAM-"));
  CHECK(contains(second.err, "FAST token)"));
  CHECK_FALSE(fs::exists(c.marker()));
  CHECK_FALSE(contains(second.err, token));
  CHECK(token_files(c.state.path()).size() == 1);
}

TEST_CASE("FAST over STARTTLS too, with the token kept per server address", "[integration][sasl2][fast]") {
  SKIP_WITHOUT_SERVE_FAST();
  auto& s = serve();
  Client c;
  REQUIRE(c.whoami(s.server(), {}, false).exit_code == 0);
  auto files = token_files(c.state.path());
  REQUIRE(files.size() == 1);
  CHECK(token_line(files[0], 2) == s.server());
  fs::remove(c.marker());
  auto r = c.whoami(s.server(), {}, false);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.json()["tls"] == "starttls");
  CHECK(contains(r.err, "FAST token)"));
  CHECK_FALSE(fs::exists(c.marker()));
}

TEST_CASE("a wrong FAST token falls back to the password silently and is replaced", "[integration][sasl2][fast]") {
  SKIP_WITHOUT_SERVE_FAST();
  auto& s = serve();
  Client c;
  plant_token(c, s, "d3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmc");
  fs::remove(c.marker());
  // Without -v and --debug nothing about it is printed.
  auto quiet = c.run({"--json", "whoami", "--jid", "alice@localhost", "--server", s.direct_tls_server(), "--direct-tls",
                      "--ca-file", s.cert(), "--timeout", "10", "--password-command", c.password_command()});
  INFO(quiet.err);
  REQUIRE(quiet.exit_code == 0);
  CHECK(quiet.json()["external_ip"] == "127.0.0.1");
  CHECK(quiet.err.empty());
  CHECK(fs::exists(c.marker()));  // the password was needed, so it was read
  auto files = token_files(c.state.path());
  REQUIRE(files.size() == 1);
  CHECK(token_line(files[0], 4) != "d3Jvbmctd3Jvbmctd3Jvbmctd3Jvbmc");
  // ... and the new token works.
  fs::remove(c.marker());
  auto again = c.whoami(s.direct_tls_server());
  INFO(again.err);
  REQUIRE(again.exit_code == 0);
  CHECK(contains(again.err, "FAST token)"));
  CHECK_FALSE(fs::exists(c.marker()));
}

TEST_CASE("a wrong token and a wrong password is an auth failure that leaks neither", "[integration][sasl2][fast]") {
  SKIP_WITHOUT_SERVE_FAST();
  auto& s = serve();
  Client c;
  plant_token(c, s, "c2Vjb25kLXdyb25nLXRva2Vu");
  auto r = c.run({"--json", "--debug=xml", "whoami", "--jid", "alice@localhost", "--server", s.direct_tls_server(),
                  "--direct-tls", "--ca-file", s.cert(), "--timeout", "10", "--password-command",
                  "echo not-the-password"});
  INFO(r.err);
  CHECK(r.exit_code == 77);
  CHECK(r.json()["error"]["category"] == "auth");
  CHECK_FALSE(contains(r.err + r.out, "c2Vjb25kLXdyb25nLXRva2Vu"));
  CHECK_FALSE(contains(r.err + r.out, "not-the-password"));
  CHECK(token_files(c.state.path()).empty());
}

TEST_CASE("with --no-fast no token is used, requested or stored", "[integration][sasl2][fast]") {
  SKIP_WITHOUT_SERVE_FAST();
  auto& s = serve();
  Client c;
  auto r = c.whoami(s.direct_tls_server(), {"--no-fast"});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(contains(r.err, "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='SCRAM-"));
  CHECK_FALSE(contains(r.err, "request-token"));
  CHECK(token_files(c.state.path()).empty());
  // With a token stored, --no-fast still logs in with the password and leaves the token alone.
  REQUIRE(c.whoami(s.direct_tls_server()).exit_code == 0);
  auto files = token_files(c.state.path());
  REQUIRE(files.size() == 1);
  auto token = token_line(files[0], 4);
  fs::remove(c.marker());
  r = c.whoami(s.direct_tls_server(), {"--no-fast"});
  REQUIRE(r.exit_code == 0);
  CHECK(fs::exists(c.marker()));
  CHECK_FALSE(contains(r.err, "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-"));
  CHECK(token_line(files[0], 4) == token);
}

TEST_CASE("logout forgets the stored tokens and the next login needs the password", "[integration][sasl2][fast]") {
  SKIP_WITHOUT_SERVE_FAST();
  auto& s = serve();
  Client c;
  REQUIRE(c.whoami(s.direct_tls_server()).exit_code == 0);
  REQUIRE(c.whoami(s.server(), {}, false).exit_code == 0);
  REQUIRE(token_files(c.state.path()).size() == 2);
  auto token = token_line(token_files(c.state.path())[0], 4);
  auto r = c.run({"--json", "logout", "--jid", "alice@localhost", "--server", s.server()});
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.json()["count"] == 1);
  CHECK(r.json()["removed"][0]["server"] == s.server());
  REQUIRE(token_files(c.state.path()).size() == 1);
  r = c.run({"--json", "logout", "--jid", "alice@localhost/ignored"});
  REQUIRE(r.exit_code == 0);
  CHECK(r.json()["account"] == "alice@localhost");
  CHECK(r.json()["count"] == 1);
  CHECK_FALSE(contains(r.out + r.err, token));
  CHECK(token_files(c.state.path()).empty());
  fs::remove(c.marker());
  auto again = c.whoami(s.direct_tls_server());
  REQUIRE(again.exit_code == 0);
  CHECK(fs::exists(c.marker()));
  CHECK_FALSE(contains(again.err, "<authenticate xmlns='urn:xmpp:sasl:2' mechanism='HT-"));
  // Nothing left: still success, text says so.
  REQUIRE(c.run({"logout", "--all"}).exit_code == 0);
  auto none = c.run({"logout", "--jid", "alice@localhost"});
  CHECK(none.exit_code == 0);
  CHECK(contains(none.out, "no stored FAST token for alice@localhost"));
}

TEST_CASE("logout needs an account or --all", "[integration][sasl2]") {
  Client c;
  auto r = c.run({"--json", "logout"});
  CHECK(r.exit_code == 64);
  CHECK(r.json()["error"]["category"] == "usage");
  r = c.run({"logout", "--jid", "localhost"});
  CHECK(r.exit_code == 64);
  r = c.run({"--json", "logout", "--all"});
  REQUIRE(r.exit_code == 0);
  CHECK(r.json()["count"] == 0);
  CHECK(r.json()["state_dir"] == (c.state / "xnet").string());
}

// ---- SASL1 fallback against Prosody 0.12 (no SASL2) -------------------------------------------

namespace {
Prosody& prosody() {
  static std::unique_ptr<Prosody> p = [] {
    auto s = std::make_unique<Prosody>();
    s->add_user("alice", kPassword);
    return s;
  }();
  return *p;
}

RunResult prosody_whoami(Client& c, bool direct) {
  auto& p = prosody();
  std::vector<std::string> a{"--json", "--debug=xml", "-vv", "whoami", "--jid", "alice@localhost", "--server",
                             direct ? p.direct_tls_server() : p.server(), "--ca-file", p.cert(), "--timeout", "10",
                             "--password-command", c.password_command()};
  if (direct) a.push_back("--direct-tls");
  return c.run(a);
}
}  // namespace

TEST_CASE("without SASL2 (Prosody 0.12) the client logs in with SASL1 and stores nothing",
          "[integration][sasl2][prosody]") {
  XNET_SKIP_IF(Prosody::unavailable());
  for (bool direct : {false, true}) {
    Client c;
    auto r = prosody_whoami(c, direct);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.json()["external_ip"] == "127.0.0.1");
    CHECK(contains(r.err, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>[redacted]</auth>"));
    CHECK_FALSE(contains(r.err, "urn:xmpp:sasl:2"));
    CHECK(token_files(c.state.path()).empty());
  }
}

TEST_CASE("a stored token for a server without SASL2 is dropped and the password used",
          "[integration][sasl2][prosody]") {
  XNET_SKIP_IF(Prosody::unavailable());
  auto& p = prosody();
  Client c;
  // Plant a token where the store looks for this account and server (as if the server had
  // offered FAST once and lost SASL2 since): fast-<first 32 hex digits of SHA-256(account \n server)>.
  const std::string server = p.direct_tls_server();
  auto hash = run({"sh", "-c", "printf 'alice@localhost\\n%s' \"$0\" | sha256sum", server});
  REQUIRE(hash.exit_code == 0);
  fs::create_directories(c.state / "xnet");
  auto file = c.state / "xnet" / ("fast-" + hash.out.substr(0, 32));
  {
    std::ofstream f(file);
    f << "xnet-fast-token 1\nalice@localhost\n" << server << "\nHT-SHA-256-NONE\nb2xkLXRva2Vu\n\n";
  }
  auto listed = c.run({"--json", "logout", "--all"});
  REQUIRE(listed.exit_code == 0);
  REQUIRE(listed.json()["count"] == 1);  // the planted file is well-formed
  {
    std::ofstream f(file);
    f << "xnet-fast-token 1\nalice@localhost\n" << server << "\nHT-SHA-256-NONE\nb2xkLXRva2Vu\n\n";
  }
  auto r = prosody_whoami(c, true);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.json()["external_ip"] == "127.0.0.1");
  // The token went out with the header (a SASL2 server would have answered in one round trip),
  // Prosody offered no SASL2, so the token was deleted and the password read.
  CHECK(contains(r.err, "mechanism='HT-SHA-256-NONE'><initial-response>[redacted]</initial-response>"));
  CHECK(contains(r.err, "<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>"));
  CHECK_FALSE(contains(r.err, "b2xkLXRva2Vu"));
  CHECK(fs::exists(c.marker()));
  CHECK_FALSE(fs::exists(file));
}
