// SPDX-License-Identifier: MIT
#include "server/config.hpp"

#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include <toml++/toml.h>

namespace xnet::server {

namespace {

// Built with append(): GCC 12 at -O3 warns (-Wrestrict, a false positive) on `"x" + std::string`.
std::string cat(std::string_view a, std::string_view b, std::string_view c = {}) {
  std::string s;
  s.reserve(a.size() + b.size() + c.size());
  s.append(a).append(b).append(c);
  return s;
}

struct Ctx {
  std::string source;
  Error err(const toml::node* n, const std::string& msg) const {
    std::string where = source;
    if (n) where.append(":").append(std::to_string(n->source().begin.line));
    where.append(": ").append(msg);
    return Error(Category::Config, where);
  }
};

Result<void> check_keys(const Ctx& c, const toml::table& t, const std::set<std::string>& allowed,
                        std::string_view table) {
  for (const auto& [k, v] : t) {
    if (!allowed.count(std::string(k.str())))
      return tl::unexpected(
          c.err(&v, cat(cat("unknown key \"", k.str(), "\""), table.empty() ? "" : cat(" in [", table, "]"))));
  }
  return {};
}

template <class T>
Result<void> get(const Ctx& c, const toml::table& t, std::string_view key, T& out) {
  const toml::node* n = t.get(key);
  if (!n) return {};
  if constexpr (std::is_same_v<T, bool>) {
    if (auto v = n->value<bool>()) return out = *v, Result<void>();
    return tl::unexpected(c.err(n, cat("expected true or false for \"", key, "\"")));
  } else if constexpr (std::is_same_v<T, std::string>) {
    if (auto v = n->value<std::string>()) return out = *v, Result<void>();
    return tl::unexpected(c.err(n, cat("expected a string for \"", key, "\"")));
  } else {
    if (auto v = n->value<long long>()) {
      if (*v < 0) return tl::unexpected(c.err(n, cat("\"", key, "\" must not be negative")));
      out = static_cast<T>(*v);
      return {};
    }
    return tl::unexpected(c.err(n, cat("expected an integer for \"", key, "\"")));
  }
}

#define XNET_TRY(expr)                                       \
  do {                                                       \
    if (auto r_ = (expr); !r_) return tl::unexpected(r_.error()); \
  } while (0)

Result<void> port_value(const Ctx& c, const toml::table& t, std::string_view key, int& out) {
  long long v = out;
  XNET_TRY(get(c, t, key, v));
  if (v > 65535) {
    return tl::unexpected(c.err(t.get(key), cat("\"", key, "\" must be 0..65535")));
  }
  out = static_cast<int>(v);
  return {};
}

}  // namespace

Result<ServeConfig> parse_serve_config(std::string_view text, std::string_view source_name, ServeConfig cfg) {
  Ctx c{std::string(source_name)};
  toml::table root;
  try {
    root = toml::parse(text, source_name);
  } catch (const toml::parse_error& e) {
    return fail(Category::Config, c.source + ":" + std::to_string(e.source().begin.line) + ": " +
                                      std::string(e.description()));
  }
  XNET_TRY(check_keys(c, root,
                      {"domain", "listen", "c2s_port", "direct_tls_port", "direct_tls", "proxy_protocol",
                       "require_starttls", "anonymous", "plain", "state_dir", "accounts_file", "certificate", "key",
                       "server_name", "tls_session_tickets", "limits", "external_services", "component"},
                      ""));
  XNET_TRY(get(c, root, "domain", cfg.domain));
  if (const toml::node* n = root.get("listen")) {
    auto* arr = n->as_array();
    if (!arr) return tl::unexpected(c.err(n, "expected an array of addresses for \"listen\""));
    cfg.listen.clear();
    for (const auto& v : *arr) {
      auto s = v.value<std::string>();
      if (!s) return tl::unexpected(c.err(&v, "expected a string address in \"listen\""));
      cfg.listen.push_back(*s);
    }
  }
  XNET_TRY(port_value(c, root, "c2s_port", cfg.c2s_port));
  XNET_TRY(port_value(c, root, "direct_tls_port", cfg.direct_tls_port));
  XNET_TRY(get(c, root, "direct_tls", cfg.direct_tls));
  XNET_TRY(get(c, root, "proxy_protocol", cfg.proxy_protocol));
  XNET_TRY(get(c, root, "require_starttls", cfg.require_starttls));
  XNET_TRY(get(c, root, "anonymous", cfg.anonymous));
  XNET_TRY(get(c, root, "plain", cfg.plain));
  XNET_TRY(get(c, root, "state_dir", cfg.state_dir));
  XNET_TRY(get(c, root, "accounts_file", cfg.accounts_file));
  XNET_TRY(get(c, root, "certificate", cfg.certificate));
  XNET_TRY(get(c, root, "key", cfg.key));
  XNET_TRY(get(c, root, "server_name", cfg.server_name));
  XNET_TRY(get(c, root, "tls_session_tickets", cfg.tls_session_tickets));
  if (cfg.tls_session_tickets < 0 || cfg.tls_session_tickets > 8)
    return tl::unexpected(c.err(root.get("tls_session_tickets"), "tls_session_tickets must be 0 to 8"));
  if (cfg.certificate.empty() != cfg.key.empty())
    return tl::unexpected(c.err(nullptr, "\"certificate\" and \"key\" go together"));

  if (const toml::node* n = root.get("limits")) {
    auto* t = n->as_table();
    if (!t) return tl::unexpected(c.err(n, "[limits] must be a table"));
    XNET_TRY(check_keys(c, *t,
                        {"max_stanza_bytes", "max_connections_per_ip", "auth_timeout", "idle_timeout",
                         "keepalive_interval", "max_auth_failures", "auth_failure_delay_ms", "max_outbound_bytes",
                         "max_sessions_per_account", "handshake_timeout", "max_connections", "account_auth_burst",
                         "account_auth_refill_ms", "address_auth_burst", "address_auth_refill_ms"},
                        "limits"));
    auto& l = cfg.limits;
    long long v;
    XNET_TRY(get(c, *t, "max_stanza_bytes", l.max_stanza_bytes));
    XNET_TRY(get(c, *t, "max_connections_per_ip", l.max_connections_per_ip));
    v = l.auth_timeout.count();
    XNET_TRY(get(c, *t, "auth_timeout", v));
    l.auth_timeout = std::chrono::seconds(v);
    v = l.idle_timeout.count();
    XNET_TRY(get(c, *t, "idle_timeout", v));
    l.idle_timeout = std::chrono::seconds(v);
    v = l.keepalive_interval.count();
    XNET_TRY(get(c, *t, "keepalive_interval", v));
    l.keepalive_interval = std::chrono::seconds(v);
    XNET_TRY(get(c, *t, "max_auth_failures", l.max_auth_failures));
    v = l.auth_failure_delay.count();
    XNET_TRY(get(c, *t, "auth_failure_delay_ms", v));
    l.auth_failure_delay = std::chrono::milliseconds(v);
    XNET_TRY(get(c, *t, "max_outbound_bytes", l.max_outbound_bytes));
    XNET_TRY(get(c, *t, "max_sessions_per_account", l.max_sessions_per_account));
    v = l.handshake_timeout.count();
    XNET_TRY(get(c, *t, "handshake_timeout", v));
    l.handshake_timeout = std::chrono::seconds(v);
    XNET_TRY(get(c, *t, "max_connections", l.max_connections));
    auto& th = l.auth_throttle;
    long long burst = static_cast<long long>(th.account_burst);
    XNET_TRY(get(c, *t, "account_auth_burst", burst));
    th.account_burst = static_cast<double>(burst);
    burst = static_cast<long long>(th.address_burst);
    XNET_TRY(get(c, *t, "address_auth_burst", burst));
    th.address_burst = static_cast<double>(burst);
    v = th.account_refill.count();
    XNET_TRY(get(c, *t, "account_auth_refill_ms", v));
    th.account_refill = std::chrono::milliseconds(v);
    v = th.address_refill.count();
    XNET_TRY(get(c, *t, "address_auth_refill_ms", v));
    th.address_refill = std::chrono::milliseconds(v);
    if (th.account_burst < 1 || th.address_burst < 1 || th.account_refill.count() < 1 || th.address_refill.count() < 1)
      return tl::unexpected(c.err(n, "auth throttle bursts and refill intervals must be positive"));
    if (l.handshake_timeout.count() < 1) return tl::unexpected(c.err(n, "handshake_timeout must be positive"));
    if (l.max_stanza_bytes < 1024) return tl::unexpected(c.err(n, "max_stanza_bytes must be at least 1024"));
  }

  if (const toml::node* n = root.get("external_services")) {
    auto* arr = n->as_array();
    if (!arr) return tl::unexpected(c.err(n, "external_services must be an array of tables ([[external_services]])"));
    cfg.external_services.clear();
    for (const auto& item : *arr) {
      auto* t = item.as_table();
      if (!t) return tl::unexpected(c.err(&item, "each external service must be a table"));
      XNET_TRY(check_keys(c, *t,
                          {"type", "host", "port", "transport", "name", "username", "password", "secret", "ttl",
                           "restricted"},
                          "external_services"));
      ExternalService s;
      int port = 0;
      XNET_TRY(get(c, *t, "type", s.type));
      XNET_TRY(get(c, *t, "host", s.host));
      XNET_TRY(port_value(c, *t, "port", port));
      s.port = static_cast<unsigned short>(port);
      XNET_TRY(get(c, *t, "transport", s.transport));
      XNET_TRY(get(c, *t, "name", s.name));
      XNET_TRY(get(c, *t, "username", s.username));
      XNET_TRY(get(c, *t, "password", s.password));
      XNET_TRY(get(c, *t, "secret", s.secret));
      XNET_TRY(get(c, *t, "ttl", s.ttl));
      XNET_TRY(get(c, *t, "restricted", s.restricted));
      if (s.type.empty() || s.host.empty())
        return tl::unexpected(c.err(&item, "an external service needs \"type\" and \"host\""));
      if (s.host.size() > 2 && s.host.front() == '[' && s.host.back() == ']') s.host = s.host.substr(1, s.host.size() - 2);
      if (!s.transport.empty() && s.transport != "udp" && s.transport != "tcp")
        return tl::unexpected(c.err(&item, "transport must be \"udp\" or \"tcp\""));
      if (s.ttl <= 0) return tl::unexpected(c.err(&item, "ttl must be positive"));
      cfg.external_services.push_back(std::move(s));
    }
  }

  if (const toml::node* n = root.get("component")) {
    auto* t = n->as_table();
    if (!t) return tl::unexpected(c.err(n, "[component] must be a table"));
    XNET_TRY(check_keys(c, *t, {"jid", "router", "secret_file"}, "component"));
    XNET_TRY(get(c, *t, "jid", cfg.component_jid));
    XNET_TRY(get(c, *t, "router", cfg.component_router));
    XNET_TRY(get(c, *t, "secret_file", cfg.component_secret_file));
  }
  return cfg;
}

Result<ServeConfig> load_serve_config(const std::filesystem::path& path, ServeConfig defaults) {
  std::ifstream in(path);
  if (!in) return fail(Category::Config, "cannot read configuration file " + path.string());
  std::stringstream ss;
  ss << in.rdbuf();
  return parse_serve_config(ss.str(), path.string(), std::move(defaults));
}

std::filesystem::path default_state_dir() {
  const char* xdg = std::getenv("XDG_STATE_HOME");
  if (xdg && *xdg == '/') return std::filesystem::path(xdg) / "xnet";
  const char* home = std::getenv("HOME");
  if (home && *home) return std::filesystem::path(home) / ".local" / "state" / "xnet";
  return ".xnet-state";
}

}  // namespace xnet::server
