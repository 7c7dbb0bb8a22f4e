// SPDX-License-Identifier: MIT
// `xnet serve` options over the configuration file: merged once, field by field, in the library.
#include <filesystem>
#include <fstream>

#include <catch2/catch.hpp>

#include "server/serve_setup.hpp"

using namespace xnet;

namespace {
std::filesystem::path temp_file(const std::string& name, const std::string& text) {
  auto dir = std::filesystem::temp_directory_path() / ("xnet-serve-setup-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  auto p = dir / name;
  std::ofstream(p) << text;
  return p;
}
}  // namespace

TEST_CASE("serve: the command line wins over the configuration file", "[server][serve_setup]") {
  auto file = temp_file("serve.toml",
                        "domain = \"file.example\"\nstate_dir = \"/tmp/xnet-state-a\"\naccounts_file = \"users.json\"\n"
                        "anonymous = true\n");
  server::ServeOverrides o;
  o.config_file = file.string();
  auto c = server::resolve_serve_config(o);
  REQUIRE(c);
  CHECK(c->domain == "file.example");
  CHECK(c->state_dir == "/tmp/xnet-state-a");
  CHECK(c->accounts_file == "/tmp/xnet-state-a/users.json");  // relative to the state directory
  CHECK(server::anonymous_allowed(o, *c, false));

  o.domain = "cli.example";
  o.port = 0;
  o.no_direct_tls = true;
  o.max_stanza_bytes = 4096;
  o.stun = {"192.0.2.7"};
  o.no_anonymous = true;
  auto d = server::resolve_serve_config(o);
  REQUIRE(d);
  CHECK(d->domain == "cli.example");
  CHECK(d->c2s_port == 0);
  CHECK_FALSE(d->direct_tls);
  CHECK(d->limits.max_stanza_bytes == 4096);
  REQUIRE(d->external_services.size() == 1);
  CHECK(d->external_services[0].port == 3478);
  CHECK_FALSE(server::anonymous_allowed(o, *d, true));
}

TEST_CASE("serve: bad option combinations are usage errors", "[server][serve_setup]") {
  server::ServeOverrides o;
  o.state_dir = "/tmp/xnet-state-b";
  o.cert = "/tmp/only-cert.pem";
  auto e = server::resolve_serve_config(o);
  REQUIRE_FALSE(e);
  CHECK(e.error().category == Category::Usage);

  server::ServeOverrides bad;
  bad.state_dir = "/tmp/xnet-state-b";
  bad.domain = "user@example.org";
  REQUIRE_FALSE(server::resolve_serve_config(bad));

  server::ServeOverrides defaults;
  defaults.state_dir = "/tmp/xnet-state-c";
  auto c = server::resolve_serve_config(defaults);
  REQUIRE(c);
  CHECK(c->accounts_file == "/tmp/xnet-state-c/accounts.json");
  CHECK(server::anonymous_allowed(defaults, *c, true));   // no accounts yet
  CHECK_FALSE(server::anonymous_allowed(defaults, *c, false));
}
