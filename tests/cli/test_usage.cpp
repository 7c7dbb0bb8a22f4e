// SPDX-License-Identifier: MIT
// What a new user hits: mistyped commands and options, help, version, timeout values, invalid
// JIDs and Ctrl-C, checked against the built xnet.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <csignal>
#include <poll.h>

#include <catch2/catch.hpp>

#include "support/process.hpp"

using namespace std::chrono_literals;
using xnet::test::run_xnet;

namespace {

std::size_t count_of(const std::string& hay, const std::string& needle) {
  std::size_t n = 0;
  for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + needle.size())) ++n;
  return n;
}

}  // namespace

TEST_CASE("unknown commands get the nearest command as a suggestion", "[cli][usage]") {
  struct Case {
    std::vector<std::string> args;
    std::string message, hint;
  };
  const Case cases[] = {
      {{"whoamy"}, "unknown command 'whoamy'", "did you mean 'xnet whoami'?"},
      {{"stunlist"}, "unknown command 'stunlist'", "did you mean 'xnet stun-list'?"},
      {{"srve"}, "unknown command 'srve'", "did you mean 'xnet serve'?"},
      {{"lan", "brows"}, "xnet lan: usage error: unknown command 'brows'", "did you mean 'xnet lan browse'?"},
      {{"pass", "listne"}, "unknown command 'listne'", "did you mean 'xnet pass listen'?"},
      {{"--json", "-v", "whoamy"}, "unknown command 'whoamy'", "did you mean 'xnet whoami'?"},
      {{"bogus"}, "unknown command 'bogus'", "the commands are: whoami, stun-list, pass, lan, serve"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.args);
    auto r = run_xnet(c.args);
    CHECK(r.exit_code == 64);
    CHECK(r.err.find(c.message) != std::string::npos);
    CHECK(r.err.find(c.hint) != std::string::npos);
    CHECK(r.err.find("A subcommand is required") == std::string::npos);
  }
}

TEST_CASE("unknown options get the nearest option of that command", "[cli][usage]") {
  struct Case {
    std::vector<std::string> args;
    std::string expect;
  };
  const Case cases[] = {
      {{"whoami", "--jdi", "x"}, "unknown option --jdi\n  hint: did you mean --jid?"},
      {{"whoami", "--jason"}, "did you mean --json?"},
      {{"lan", "browse", "--wach"}, "did you mean --watch?"},
      {{"lan", "browse", "--timeot", "1"}, "did you mean --timeout?"},
      {{"stun-list", "--prob"}, "did you mean --probe?"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.args);
    auto r = run_xnet(c.args);
    CHECK(r.exit_code == 64);
    CHECK(r.err.find(c.expect) != std::string::npos);
  }
}

TEST_CASE("help and version work as commands and flags", "[cli][usage]") {
  auto top = run_xnet({"help"});
  CHECK(top.exit_code == 0);
  CHECK(top.out.find("Usage: xnet [OPTIONS] SUBCOMMAND") != std::string::npos);
  CHECK(top.out.find("xnet help COMMAND") != std::string::npos);

  auto lan = run_xnet({"help", "lan", "browse"});
  CHECK(lan.exit_code == 0);
  CHECK(lan.out.find("Usage: xnet lan browse [OPTIONS]") != std::string::npos);
  CHECK(lan.out == run_xnet({"lan", "browse", "--help"}).out);

  auto bad = run_xnet({"help", "lanx"});
  CHECK(bad.exit_code == 64);
  CHECK(bad.err.find("did you mean 'xnet help lan'?") != std::string::npos);

  for (std::vector<std::string> args : {std::vector<std::string>{"version"}, {"-V"}, {"--version"}}) {
    CAPTURE(args);
    auto r = run_xnet(args);
    CHECK(r.exit_code == 0);
    CHECK(r.out.rfind("xnet ", 0) == 0);
    CHECK(r.err.empty());
  }
}

TEST_CASE("bad timeout values give a short message", "[cli][usage]") {
  struct Case {
    std::vector<std::string> args;
    std::string expect;
  };
  const Case cases[] = {
      {{"whoami", "--timeout", "0"}, "--timeout: must be greater than 0 seconds (got 0)"},
      {{"whoami", "--timeout", "-1"}, "--timeout: must be greater than 0 seconds (got -1)"},
      {{"whoami", "--timeout", "abc"}, "--timeout: 'abc' is not a number of seconds"},
      {{"whoami", "--timeout", "nan"}, "'nan' is not a number of seconds"},
      {{"whoami", "--timeout", "1e999"}, "'1e999' is not a number of seconds"},
      {{"whoami", "--timeout", "1e12"}, "must be at most 31536000 seconds"},
      {{"lan", "browse", "--timeout", "0"}, "--timeout: must be greater than 0 seconds"},
      {{"lan", "send", "a@b", "hi", "--timeout", "x"}, "--timeout: 'x' is not a number of seconds"},
      {{"lan", "announce", "--publish-timeout", "-3"}, "--publish-timeout: must be greater than 0"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.args);
    auto r = run_xnet(c.args);
    CHECK(r.exit_code == 64);
    CHECK(r.err.find(c.expect) != std::string::npos);
    CHECK(r.err.size() < 200);  // no 300-digit range
  }
}

TEST_CASE("a verb's help names the global options and shows defaults", "[cli][help]") {
  for (std::vector<std::string> verb : {std::vector<std::string>{"whoami"}, {"stun-list"}, {"lan", "browse"},
                                        {"lan", "announce"}, {"pass", "listen"}, {"serve"}}) {
    CAPTURE(verb);
    verb.push_back("--help");
    auto r = run_xnet(verb);
    CHECK(r.exit_code == 0);
    for (const char* g : {"--json", "-v,--verbose", "--account NAME", "--debug AREAS", "-q,--quiet"})
      CHECK(r.out.find(g) != std::string::npos);
    CHECK(r.out.find("Excludes:") == std::string::npos);
    CHECK(r.out.find("Needs:") == std::string::npos);
  }
  CHECK(run_xnet({"lan", "browse", "--help"}).out.find("--timeout SECONDS=3") != std::string::npos);
  CHECK(run_xnet({"lan", "send", "--help"}).out.find("--timeout SECONDS=10") != std::string::npos);
}

TEST_CASE("an invalid JID is reported before any password is asked for", "[cli][usage]") {
  const char* bad[] = {"bad jid@@x", "@example.org", "user@", "a@b@c", "us<er@example.org", "user@example.org/"};
  for (const char* jid : bad) {
    CAPTURE(jid);
    auto r = run_xnet({"whoami", "--jid", jid, "--timeout", "2"}, {}, std::string());
    CHECK(r.exit_code == 64);
    CHECK(r.err.find("is not a valid JID") != std::string::npos);
    CHECK(r.err.find("assword") == std::string::npos);
  }
}

TEST_CASE("Ctrl-C prints interrupted once and exits 130", "[cli][usage]") {
  // A TCP listener that accepts and never answers: xnet waits for the stream header.
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  REQUIRE(s >= 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  REQUIRE(::listen(s, 4) == 0);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  std::string port = std::to_string(ntohs(a.sin_port));

  xnet::test::TempDir dir;
  xnet::test::Process::Options po;
  po.env = {{"XNET_PASSWORD", "pw"}, {"XDG_CONFIG_HOME", dir.path().string()}};
  po.stdout_file = dir / "out";
  po.stderr_file = dir / "err";
  xnet::test::Process p({xnet::test::xnet_binary(), "whoami", "--jid", "u@localhost", "--server", "127.0.0.1:" + port,
                         "--timeout", "30"},
                        po);
  pollfd pfd{s, POLLIN, 0};
  REQUIRE(::poll(&pfd, 1, 10000) == 1);  // xnet connected
  int c = ::accept(s, nullptr, nullptr);
  REQUIRE(c >= 0);
  p.signal(SIGINT);
  auto st = p.wait(10s);
  ::close(c);
  ::close(s);
  REQUIRE(st);
  CHECK(*st == 130);
  std::string err = xnet::test::read_file(dir / "err");
  CAPTURE(err);
  CHECK(count_of(err, "interrupted") == 1);
  CHECK(err.find("xnet whoami: interrupted\n") != std::string::npos);
}

TEST_CASE("under --json a usage error ends stdout with the error object", "[cli][usage][json]") {
  auto r = run_xnet({"--json", "whoami", "--jid", "bad jid@@x"}, {}, std::string());
  CHECK(r.exit_code == 64);
  auto j = r.json();
  CHECK(j["error"]["category"] == "usage");
  CHECK(j["error"]["exit_code"] == 64);
  CHECK(j["error"]["message"].get<std::string>().find("is not a valid JID") != std::string::npos);
  CHECK(j["error"]["hint"].is_string());

  auto top = run_xnet({"--json", "whoamy"});
  CHECK(top.exit_code == 64);
  CHECK(top.json()["error"]["hint"] == "did you mean 'xnet whoami'?");
}

TEST_CASE("out-of-range numbers of any option get a short message", "[cli][usage]") {
  struct Case {
    std::vector<std::string> args;
    std::string expect;
  };
  const Case cases[] = {
      {{"serve", "--idle-timeout", "0"}, "--idle-timeout: must be a number greater than 0 (got 0)"},
      {{"stun-list", "--probe-timeout", "abc"}, "--probe-timeout: must be a number greater than 0 (got abc)"},
      {{"lan", "announce", "--port", "70000"}, "--port: must be a number from 0 to 65535 (got 70000)"},
  };
  for (const auto& c : cases) {
    CAPTURE(c.args);
    auto r = run_xnet(c.args);
    CHECK(r.exit_code == 64);
    CHECK(r.err.find(c.expect) != std::string::npos);
    CHECK(r.err.find("000000") == std::string::npos);
  }
}

TEST_CASE("version --json is one object with the build facts in every spelling", "[cli][usage][json]") {
  for (std::vector<std::string> args : {std::vector<std::string>{"--version", "--json"}, {"--json", "-V"},
                                        {"--json", "version"}}) {
    CAPTURE(args);
    auto r = run_xnet(args);
    CHECK(r.exit_code == 0);
    CHECK(r.err.empty());
    auto j = r.json();  // captured for schema.validate (schema/xnet-version.schema.json) too
    CHECK(j["version"].get<std::string>().rfind("0.", 0) == 0);
    for (const char* k : {"git", "build_type", "openssl", "openssl_build", "expat", "mdns_backend", "mdns_backend_version"})
      CHECK(j.contains(k));
    CHECK(j["openssl"].get<std::string>().rfind("OpenSSL ", 0) == 0);
    CHECK(r.out.find('\n') == r.out.size() - 1);  // one line
  }
}
