// SPDX-License-Identifier: MIT
// The sample serve configuration and systemd unit shipped in share/doc/xnet/examples: the
// configuration loads, documents every key the parser knows, and a real `xnet serve` starts
// with it; the unit runs options that exist and keeps its sandboxing on.
#include <catch2/catch.hpp>

#include <regex>
#include <set>
#include <sstream>

#include "server/config.hpp"
#include "support/process.hpp"
#include "support/serve_fixture.hpp"

using namespace xnet::test;

namespace {

std::string sample_path() { return std::string(XNET_SOURCE_DIR) + "/examples/serve.toml"; }

/// The sample with every optional `#key = ...` / `#[table]` line switched on.
std::string uncommented(const std::string& text) {
  static const std::regex optional_line(R"(^#(\[|[a-z_]+ = ))");
  std::istringstream in(text);
  std::string line, out;
  while (std::getline(in, line)) {
    if (std::regex_search(line, optional_line)) line.erase(0, 1);
    out += line + "\n";
  }
  return out;
}

/// Every key the parser accepts: the lists given to check_keys() in src/lib/server/config.cpp.
std::set<std::string> parser_keys() {
  auto src = read_file(std::string(XNET_SOURCE_DIR) + "/src/lib/server/config.cpp");
  std::set<std::string> keys;
  static const std::regex list(R"(check_keys\([^{]*\{([^}]*)\})");
  static const std::regex quoted("\"([a-z0-9_]+)\"");
  for (std::sregex_iterator it(src.begin(), src.end(), list), end; it != end; ++it) {
    std::string body = (*it)[1];
    for (std::sregex_iterator q(body.begin(), body.end(), quoted); q != end; ++q) keys.insert((*q)[1]);
  }
  return keys;
}

}  // namespace

TEST_CASE("the sample serve configuration loads and documents every key", "[package][examples]") {
  auto text = read_file(sample_path());
  REQUIRE(!text.empty());
  auto cfg = xnet::server::parse_serve_config(text, "serve.toml");
  INFO((cfg ? std::string() : cfg.error().message));
  REQUIRE(cfg);
  CHECK(cfg->domain == "localhost");
  CHECK(cfg->state_dir == "/var/lib/xnet");
  CHECK(cfg->external_services.size() == 1);
  CHECK(cfg->component_jid.empty());  // component mode stays off in the sample

  auto full = xnet::server::parse_serve_config(uncommented(text), "serve.toml (all keys on)");
  INFO((full ? std::string() : full.error().message));
  REQUIRE(full);
  CHECK(full->external_services.size() == 2);
  CHECK(full->component_jid == "xnet.example.org");
  CHECK(!full->certificate.empty());

  auto keys = parser_keys();
  REQUIRE(keys.size() > 20);  // the extraction itself works
  auto all = uncommented(text);
  for (const auto& k : keys) {
    INFO("key " << k << " of src/lib/server/config.cpp");
    bool documented = std::regex_search(all, std::regex("(^|\n)" + k + " = ")) ||
                      all.find("[" + k + "]") != std::string::npos;
    CHECK(documented);
  }
}

TEST_CASE("xnet serve starts with the sample serve configuration", "[package][examples]") {
  ServeFixtureOptions o;
  o.config_toml = read_file(sample_path());  // listeners, ports and state dir: the fixture's
  ServeFixture serve(o);
  CHECK(serve.c2s_port() != 0);
  CHECK(serve.direct_tls_port() != 0);
  CHECK(serve.ready().dump().find("localhost") != std::string::npos);
  auto who = run_xnet({"--json", "whoami", "--jid", "nobody@localhost", "--server", serve.server(), "--ca-file",
                       serve.cert(), "--timeout", "5"},
                      {{"XNET_PASSWORD", "wrong"}});
  CHECK(who.exit_code == 77);  // the server ran, TLS verified against its generated certificate, auth refused
  CHECK(serve.stop() == 0);
}

TEST_CASE("the sample systemd unit runs existing options and keeps its sandboxing", "[package][examples]") {
  auto unit = read_file(std::string(XNET_SOURCE_DIR) + "/examples/xnet-serve.service");
  REQUIRE(!unit.empty());
  for (const char* line : {"ProtectSystem=strict", "PrivateTmp=yes", "NoNewPrivileges=yes", "StateDirectory=xnet",
                           "CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "RestrictAddressFamilies=", "ProtectHome=yes",
                           "SystemCallFilter=@system-service", "DynamicUser=yes"}) {
    INFO(line);
    CHECK(unit.find(std::string("\n") + line) != std::string::npos);
  }
  std::smatch m;
  REQUIRE(std::regex_search(unit, m, std::regex("\nExecStart=/usr/bin/xnet ([^\n]*)")));
  auto help = run_xnet({"serve", "--help"});
  REQUIRE(help.exit_code == 0);
  std::istringstream args(m[1].str());
  std::string a;
  while (args >> a) {
    if (a.rfind("--", 0) != 0) continue;
    INFO(a);
    CHECK(help.out.find(a) != std::string::npos);
  }
}
