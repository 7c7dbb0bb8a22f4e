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

TEST_CASE("stored tokens can be listed and forgotten per account", "[xmpp][fast]") {
  TempDir tmp;
  TokenStore store(tmp.path);
  auto now = std::chrono::system_clock::from_time_t(1584000000);
  REQUIRE(store.save("alice@example.org", "example.org", {"HT-SHA-256-NONE", "t1", "2020-03-12T14:36:15Z"}));
  REQUIRE(store.save("alice@example.org", "127.0.0.1:5223", {"HT-SHA-256-EXPR", "t2", ""}));
  REQUIRE(store.save("bob@example.org", "example.org", {"HT-SHA-256-NONE", "t3", "2019-01-01T00:00:00Z"}));
  auto all = store.list(now);
  REQUIRE(all.size() == 3);
  CHECK(all[0].account == "alice@example.org");
  CHECK(all[0].server == "127.0.0.1:5223");
  CHECK(all[0].token.mechanism == "HT-SHA-256-EXPR");
  CHECK(all[1].server == "example.org");
  CHECK_FALSE(all[1].expired);
  CHECK(all[2].account == "bob@example.org");
  CHECK(all[2].expired);
  // Each file names its account and server, so a hash slot cannot hand out another's token.
  std::ifstream f(all[1].path);
  std::string first, account, server;
  std::getline(f, first);
  std::getline(f, account);
  std::getline(f, server);
  CHECK(first == "xnet-fast-token 1");
  CHECK(account == "alice@example.org");
  CHECK(server == "example.org");
  auto gone = store.forget_account("alice@example.org");
  REQUIRE(gone);
  CHECK(gone->size() == 2);
  REQUIRE(store.list(now).size() == 1);
  CHECK(store.list(now)[0].account == "bob@example.org");
  auto again = store.forget("bob@example.org", "example.org");
  REQUIRE(again);
  CHECK(*again);
  again = store.forget("bob@example.org", "example.org");
  REQUIRE(again);
  CHECK_FALSE(*again);
  CHECK(store.list(now).empty());
}

TEST_CASE("a token file whose account does not match is not used", "[xmpp][fast]") {
  TempDir tmp;
  TokenStore store(tmp.path);
  REQUIRE(store.save("alice@example.org", "example.org", {"HT-SHA-256-NONE", "t1", ""}));
  auto path = store.list()[0].path;
  // Someone copies alice's file into bob's slot.
  REQUIRE(store.save("bob@example.org", "example.org", {"HT-SHA-256-NONE", "t2", ""}));
  std::string bob_path;
  for (const auto& t : store.list())
    if (t.account == "bob@example.org") bob_path = t.path;
  std::filesystem::copy_file(path, bob_path, std::filesystem::copy_options::overwrite_existing);
  CHECK_FALSE(store.load("bob@example.org", "example.org"));
  CHECK(store.load("alice@example.org", "example.org")->token == "t1");
}
