// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

#include <unistd.h>

#include "config.hpp"

namespace cfg = xnet::config;
using xnet::Category;

namespace {

// A temp directory removed at scope exit.
struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "xnet-config-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
};

// Sets an environment variable for the scope of a test and restores it afterwards.
struct EnvGuard {
  std::string name;
  std::optional<std::string> old;
  EnvGuard(std::string n, const char* value) : name(std::move(n)) {
    if (const char* o = std::getenv(name.c_str())) old = o;
    if (value)
      ::setenv(name.c_str(), value, 1);
    else
      ::unsetenv(name.c_str());
  }
  ~EnvGuard() {
    if (old)
      ::setenv(name.c_str(), old->c_str(), 1);
    else
      ::unsetenv(name.c_str());
  }
};

}  // namespace

TEST_CASE("a full configuration file parses into accounts", "[config]") {
  EnvGuard home("HOME", "/home/alice");
  auto c = cfg::parse(R"(# accounts
default_account = "work"

[accounts.work]
jid = "alice@example.org"
server = "xmpp.example.org:5222"
password_file = "~/.config/xnet/work.pass"
direct_tls = false
ca_file = "/etc/ssl/my-ca.pem"
resource = "xnet"
timeout = 10
insecure = false

[accounts.home]
jid = "al@home.example"
server = "[::1]:5223"
password_command = "pass show xmpp/home"
direct_tls = true
timeout = 2.5
insecure = true
)",
                      "config.toml");
  REQUIRE(c.has_value());
  CHECK(c->source == "config.toml");
  REQUIRE(c->accounts.size() == 2);
  // File order, not the alphabetical order toml++ keeps internally.
  CHECK(c->accounts[0].name == "work");
  CHECK(c->accounts[1].name == "home");
  CHECK(c->default_account == std::optional<std::string>("work"));

  const auto* w = c->find("work");
  REQUIRE(w != nullptr);
  CHECK(w->jid == std::optional<std::string>("alice@example.org"));
  CHECK(w->server == std::optional<std::string>("xmpp.example.org:5222"));
  CHECK(w->password_file == std::optional<std::string>("/home/alice/.config/xnet/work.pass"));
  CHECK_FALSE(w->password_command.has_value());
  CHECK(w->direct_tls == std::optional<bool>(false));
  CHECK(w->ca_file == std::optional<std::string>("/etc/ssl/my-ca.pem"));
  CHECK(w->resource == std::optional<std::string>("xnet"));
  CHECK(w->timeout == std::optional<double>(10.0));
  CHECK(w->insecure == std::optional<bool>(false));

  const auto* h = c->find("home");
  REQUIRE(h != nullptr);
  CHECK(h->server == std::optional<std::string>("[::1]:5223"));
  CHECK(h->password_command == std::optional<std::string>("pass show xmpp/home"));
  CHECK(h->direct_tls == std::optional<bool>(true));
  CHECK(h->timeout == std::optional<double>(2.5));
  CHECK(h->insecure == std::optional<bool>(true));
  CHECK_FALSE(h->resource.has_value());
  CHECK(c->find("nope") == nullptr);
}

TEST_CASE("an empty file is an empty configuration", "[config]") {
  auto c = cfg::parse("", "config.toml");
  REQUIRE(c.has_value());
  CHECK(c->accounts.empty());
  CHECK_FALSE(c->default_account.has_value());
  CHECK(c->selected(std::nullopt) == nullptr);
}

TEST_CASE("malformed and invalid files name the file and line", "[config]") {
  struct Case {
    const char* name;
    const char* text;
    const char* expected;  // the message must start with this
    const char* also;      // and contain this
  };
  const Case cases[] = {
      {"syntax error", "[accounts.a]\njid = \"a@b\"\nserver = \n", "config.toml:3:", ""},
      {"unterminated string", "[accounts.a]\njid = \"a@b\n", "config.toml:2:", ""},
      {"duplicate key", "[accounts.a]\njid = \"a@b\"\njid = \"c@d\"\n", "config.toml:3:", ""},
      {"unknown account key", "[accounts.a]\njid = \"a@b\"\n\nsevrer = \"x\"\n", "config.toml:4: unknown key \"sevrer\"",
       "[accounts.a]"},
      {"unknown top-level key", "verbose = true\n", "config.toml:1: unknown key \"verbose\"", ""},
      {"wrong type for jid", "[accounts.a]\n\njid = 42\n", "config.toml:3: expected a string for \"jid\"", "integer"},
      {"wrong type for direct_tls", "[accounts.a]\ndirect_tls = \"yes\"\n",
       "config.toml:2: expected true or false for \"direct_tls\"", "a string"},
      {"wrong type for timeout", "[accounts.a]\ntimeout = \"10\"\n", "config.toml:2: expected a number of seconds", ""},
      {"negative timeout", "[accounts.a]\ntimeout = -1\n", "config.toml:2: \"timeout\" must be a positive", ""},
      {"zero timeout", "[accounts.a]\ntimeout = 0\n", "config.toml:2:", "positive"},
      {"empty jid", "[accounts.a]\njid = \"\"\n", "config.toml:2: \"jid\" must not be empty", ""},
      {"bad port", "[accounts.a]\nserver = \"host:99999\"\n", "config.toml:2: \"server\" has a port outside", ""},
      {"non-numeric port", "[accounts.a]\nserver = \"host:abc\"\n", "config.toml:2: \"server\" has an invalid port", ""},
      {"bare IPv6", "[accounts.a]\nserver = \"::1\"\n", "config.toml:2: \"server\" has more than one ':'", ""},
      {"unterminated IPv6", "[accounts.a]\nserver = \"[::1:5222\"\n", "config.toml:2:", "IPv6"},
      {"password in file", "[accounts.a]\njid = \"a@b\"\npassword = \"hunter2\"\n",
       "config.toml:3: passwords cannot be stored", ""},
      {"password at top level", "password = \"x\"\n", "config.toml:1: \"password\" must be inside an account", ""},
      {"accounts not a table", "accounts = 3\n", "config.toml:1: expected a table for \"accounts\"", ""},
      {"account not a table", "[accounts]\nwork = \"x\"\n", "config.toml:2: expected a table for account \"work\"", ""},
      {"default_account missing", "default_account = \"home\"\n[accounts.work]\n",
       "config.toml:1: default_account \"home\" has no [accounts.home] table", ""},
      {"both password sources", "[accounts.a]\npassword_file = \"/x\"\npassword_command = \"echo\"\n",
       "config.toml:3: [accounts.a] sets both password_file and password_command", ""},
  };
  for (const auto& c : cases) {
    SECTION(c.name) {
      auto r = cfg::parse(c.text, "config.toml");
      REQUIRE_FALSE(r.has_value());
      CHECK(r.error().category == Category::Config);
      INFO(r.error().message);
      CHECK(r.error().message.rfind(c.expected, 0) == 0);
      CHECK(r.error().message.find(c.also) != std::string::npos);
    }
  }
}

TEST_CASE("a password key gets a hint towards the safe sources", "[config]") {
  auto r = cfg::parse("[accounts.a]\npassword = \"x\"\n", "c.toml");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().hint.find("password_file") != std::string::npos);
  CHECK(r.error().hint.find("password_command") != std::string::npos);
  // The value itself is not echoed back.
  CHECK(r.error().message.find("\"x\"") == std::string::npos);
}

TEST_CASE("server values accepted", "[config]") {
  for (const char* s : {"example.org", "example.org:5222", "127.0.0.1:1", "[::1]", "[::1]:65535", "localhost"}) {
    SECTION(s) {
      auto r = cfg::parse(std::string("[accounts.a]\nserver = \"") + s + "\"\n", "c");
      REQUIRE(r.has_value());
      CHECK(r->accounts.at(0).server == std::optional<std::string>(s));
    }
  }
}

TEST_CASE("account selection", "[config]") {
  auto two = cfg::parse("[accounts.a]\njid = \"a@x\"\n[accounts.b]\njid = \"b@x\"\n", "c.toml");
  REQUIRE(two.has_value());
  auto two_default = cfg::parse("default_account = \"b\"\n[accounts.a]\n[accounts.b]\n", "c.toml");
  REQUIRE(two_default.has_value());
  auto one = cfg::parse("[accounts.only]\njid = \"o@x\"\n", "c.toml");
  REQUIRE(one.has_value());

  SECTION("requested wins over the default") {
    REQUIRE(two_default->selected("a") != nullptr);
    CHECK(two_default->selected("a")->name == "a");
  }
  SECTION("default_account when nothing is requested") {
    REQUIRE(two_default->selected(std::nullopt) != nullptr);
    CHECK(two_default->selected(std::nullopt)->name == "b");
  }
  SECTION("the only account when nothing is requested") {
    REQUIRE(one->selected(std::nullopt) != nullptr);
    CHECK(one->selected(std::nullopt)->name == "only");
  }
  SECTION("no choice among several accounts without a default") {
    CHECK(two->selected(std::nullopt) == nullptr);
    auto s = two->select(std::nullopt);
    REQUIRE(s.has_value());
    CHECK(*s == nullptr);
  }
  SECTION("a requested account that does not exist") {
    CHECK(two->selected("c") == nullptr);
    auto s = two->select("c");
    REQUIRE_FALSE(s.has_value());
    CHECK(s.error().category == Category::Config);
    CHECK(s.error().message == "no account \"c\" in c.toml");
    CHECK(s.error().hint == "known accounts: a, b");
  }
  SECTION("a requested account in an empty configuration") {
    cfg::Config empty;
    auto s = empty.select("work");
    REQUIRE_FALSE(s.has_value());
    CHECK(s.error().hint.find("[accounts.work]") != std::string::npos);
  }
  SECTION("select returns the account that exists") {
    auto s = two->select("b");
    REQUIRE(s.has_value());
    REQUIRE(*s != nullptr);
    CHECK((*s)->jid == std::optional<std::string>("b@x"));
  }
}

TEST_CASE("home expansion", "[config]") {
  CHECK(cfg::expand_home("~/a/b", "/home/u") == "/home/u/a/b");
  CHECK(cfg::expand_home("~/a", "/home/u/") == "/home/u/a");
  CHECK(cfg::expand_home("~", "/home/u") == "/home/u");
  CHECK(cfg::expand_home("/abs/~/x", "/home/u") == "/abs/~/x");
  CHECK(cfg::expand_home("~bob/x", "/home/u") == "~bob/x");
  CHECK(cfg::expand_home("rel", "/home/u") == "rel");

  EnvGuard home("HOME", "/srv/h");
  auto c = cfg::parse("[accounts.a]\nca_file = \"~/ca.pem\"\npassword_file = \"~/pw\"\n", "c");
  REQUIRE(c.has_value());
  CHECK(c->accounts[0].ca_file == std::optional<std::string>("/srv/h/ca.pem"));
  CHECK(c->accounts[0].password_file == std::optional<std::string>("/srv/h/pw"));
}

TEST_CASE("default path follows XDG_CONFIG_HOME, then HOME", "[config]") {
  EnvGuard home("HOME", "/home/u");
  SECTION("XDG_CONFIG_HOME set") {
    EnvGuard xdg("XDG_CONFIG_HOME", "/cfg");
    CHECK(cfg::default_path() == std::filesystem::path("/cfg/xnet/config.toml"));
  }
  SECTION("XDG_CONFIG_HOME unset") {
    EnvGuard xdg("XDG_CONFIG_HOME", nullptr);
    CHECK(cfg::default_path() == std::filesystem::path("/home/u/.config/xnet/config.toml"));
  }
  SECTION("relative XDG_CONFIG_HOME is ignored") {
    EnvGuard xdg("XDG_CONFIG_HOME", "rel/dir");
    CHECK(cfg::default_path() == std::filesystem::path("/home/u/.config/xnet/config.toml"));
  }
}

TEST_CASE("loading from disk", "[config]") {
  TempDir dir;
  auto path = dir.path / "config.toml";

  SECTION("a missing default file is an empty configuration") {
    auto c = cfg::load(path, false);
    REQUIRE(c.has_value());
    CHECK(c->accounts.empty());
  }
  SECTION("a missing explicit file is a config error naming it") {
    auto c = cfg::load(path, true);
    REQUIRE_FALSE(c.has_value());
    CHECK(c.error().category == Category::Config);
    CHECK(c.error().message.find(path.string()) != std::string::npos);
  }
  SECTION("a file parses and errors carry its path and line") {
    std::ofstream(path) << "[accounts.a]\njid = \"a@b\"\n\n\n\nbogus = 1\n";
    auto c = cfg::load(path, false);
    REQUIRE_FALSE(c.has_value());
    CHECK(c.error().category == Category::Config);
    CHECK(c.error().message.rfind(path.string() + ":6: unknown key \"bogus\"", 0) == 0);
  }
  SECTION("a good file loads") {
    std::ofstream(path) << "[accounts.a]\njid = \"a@b\"\n";
    auto c = cfg::load(path, true);
    REQUIRE(c.has_value());
    CHECK(c->source == path.string());
    REQUIRE(c->accounts.size() == 1);
    CHECK(c->accounts[0].jid == std::optional<std::string>("a@b"));
  }
  SECTION("a directory is refused") {
    auto c = cfg::load(dir.path, false);
    REQUIRE_FALSE(c.has_value());
    CHECK(c.error().category == Category::Config);
  }
  SECTION("an oversized file is refused") {
    {
      std::ofstream out(path);
      std::string comment(1000, '#');
      for (int i = 0; i < 1200; ++i) out << comment << '\n';
    }
    auto c = cfg::load(path, false);
    REQUIRE_FALSE(c.has_value());
    CHECK(c.error().message.find("too large") != std::string::npos);
  }
}
