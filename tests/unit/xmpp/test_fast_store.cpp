// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "xmpp/fast_store.hpp"

using namespace xnet;
using namespace xnet::xmpp;

namespace {

struct TempDir {
  TempDir() {
    char tmpl[] = "/tmp/xnet-fast-XXXXXX";
    path = ::mkdtemp(tmpl);
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string path;
};

unsigned mode_of(const std::string& p) {
  struct stat st {};
  REQUIRE(::stat(p.c_str(), &st) == 0);
  return st.st_mode & 0777;
}

}  // namespace

TEST_CASE("XEP-0082 date-times", "[xmpp][fast]") {
  auto t = parse_xep0082("2020-03-12T14:36:15Z");
  REQUIRE(t);
  CHECK(std::chrono::system_clock::to_time_t(*t) == 1584023775);
  CHECK(parse_xep0082("2020-03-12T16:36:15.123+02:00") == t);
  CHECK_FALSE(parse_xep0082("2020-03-12 14:36:15"));
  CHECK_FALSE(parse_xep0082("2020-03-12T14:36:15"));
  CHECK_FALSE(parse_xep0082(""));
}

TEST_CASE("FAST tokens are stored per account and server, 0600, and expire", "[xmpp][fast]") {
  TempDir tmp;
  TokenStore store(tmp.path + "/state/xnet");
  auto now = std::chrono::system_clock::from_time_t(1584000000);  // before the expiry below
  CHECK_FALSE(store.load("user@example.org", "example.org", now));
  FastToken t{"HT-SHA-256-NONE", "WXZzciBwYmFmdmZnZiBqdmd1IGp2eXFhcmZm", "2020-03-12T14:36:15Z"};
  REQUIRE(store.save("user@example.org", "example.org", t));
  auto back = store.load("user@example.org", "example.org", now);
  REQUIRE(back);
  CHECK(back->token == t.token);
  CHECK(back->mechanism == t.mechanism);
  CHECK(back->expiry == t.expiry);
  CHECK(mode_of(store.dir()) == 0700);
  for (const auto& e : std::filesystem::directory_iterator(store.dir())) CHECK(mode_of(e.path()) == 0600);
  // Another account or server has its own slot.
  CHECK_FALSE(store.load("other@example.org", "example.org", now));
  CHECK_FALSE(store.load("user@example.org", "127.0.0.1:5222", now));
  // Expired tokens are not returned.
  CHECK_FALSE(store.load("user@example.org", "example.org", now + std::chrono::hours(24)));
  // Rotation replaces; an empty token forgets.
  REQUIRE(store.save("user@example.org", "example.org", {"HT-SHA-256-NONE", "new", ""}));
  CHECK(store.load("user@example.org", "example.org", now)->token == "new");
  REQUIRE(store.save("user@example.org", "example.org", {}));
  CHECK_FALSE(store.load("user@example.org", "example.org", now));
  // forget_all removes every token but keeps the client id.
  auto id = store.client_id();
  CHECK(id.size() == 36);
  CHECK(store.client_id() == id);
  REQUIRE(store.save("a@x", "x", {"HT-SHA-256-NONE", "1", ""}));
  REQUIRE(store.save("b@x", "x", {"HT-SHA-256-NONE", "2", ""}));
  auto n = store.forget_all();
  REQUIRE(n);
  CHECK(*n == 2);
  CHECK(store.client_id() == id);
}

TEST_CASE("a token with a line break is refused and a garbage file is ignored", "[xmpp][fast]") {
  TempDir tmp;
  TokenStore store(tmp.path);
  auto r = store.save("u@x", "x", {"HT-SHA-256-NONE", "a\nb", ""});
  REQUIRE_FALSE(r);
  CHECK(r.error().category == Category::Protocol);
  REQUIRE(store.save("u@x", "x", {"HT-SHA-256-NONE", "t", ""}));
  for (const auto& e : std::filesystem::directory_iterator(store.dir()))
    std::ofstream(e.path()) << "garbage";
  CHECK_FALSE(store.load("u@x", "x"));
}

TEST_CASE("the default state directory follows XDG_STATE_HOME", "[xmpp][fast]") {
  const char* old = std::getenv("XDG_STATE_HOME");
  std::string saved = old ? old : "";
  ::setenv("XDG_STATE_HOME", "/tmp/xnet-state-test", 1);
  CHECK(default_state_dir() == "/tmp/xnet-state-test/xnet");
  if (old) ::setenv("XDG_STATE_HOME", saved.c_str(), 1);
  else ::unsetenv("XDG_STATE_HOME");
}
