// SPDX-License-Identifier: MIT
// serve: a small XMPP server (SIC, STUN lists, ping) or an XEP-0114 component; `serve user`
// manages its accounts file.
#include <unistd.h>

#include <asio.hpp>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cmd/commands.hpp"
#include "cmd/common.hpp"
#include "cmd/pass.hpp"
#include "password.hpp"
#include "server/accounts.hpp"
#include "server/certificate.hpp"
#include "server/component.hpp"
#include "server/config.hpp"
#include "server/secret.hpp"
#include "server/server.hpp"
#include "server/stanza.hpp"
#include "util/hostport.hpp"

namespace xnet::cmd {
namespace {

struct ServeOptions {
  std::string config_file;
  std::string domain;
  std::vector<std::string> listen;
  int port = -1;
  int tls_port = -1;
  bool no_direct_tls = false;
  bool proxy_protocol = false;
  bool anonymous = false, no_anonymous = false;
  bool allow_plaintext = false;
  std::string cert, key, state_dir, accounts_file, port_file;
  std::vector<std::string> stun, turn;
  std::string turn_secret_file;
  long long max_stanza_bytes = -1, idle_timeout = -1, auth_timeout = -1, max_conn_per_ip = -1;
  std::string component, router, component_secret_file;
  PassServeOptions pass;  ///< --pass-* (PASS relay, XEP-0003)
};

struct UserOptions {
  std::string name;
  std::string password_file, password_command;
};

// Log lines on stderr: text for people, JSON lines under --json (STYLE §4, §6).
class StderrLog final : public server::EventLog {
 public:
  explicit StderrLog(Output& out) : out_(out) {}
  void event(std::string_view name, const nlohmann::json& fields) override {
    if (out_.quiet()) return;
    char ts[32];
    std::time_t now = std::time(nullptr);
    std::tm tm{};
    gmtime_r(&now, &tm);
    std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    std::string line;
    if (out_.json()) {
      nlohmann::json j = {{"ts", ts}, {"event", name}};
      for (auto& [k, v] : fields.items()) j[k] = v;
      line = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    } else {
      line = std::string(ts) + " " + std::string(name);
      for (auto& [k, v] : fields.items()) {
        if (v.is_string() && v.get<std::string>().empty()) continue;
        line += " " + k + "=" + (v.is_string() ? v.get<std::string>() : v.dump());
      }
    }
    std::cerr << line << '\n';
    std::cerr.flush();
  }

 private:
  Output& out_;
};

std::string read_secret_file(const std::string& path) {
  std::vector<std::string> warnings;
  return unwrap(password::read_file(path, warnings));
}

Result<std::vector<server::ExternalService>> cli_services(const ServeOptions& o) {
  std::vector<server::ExternalService> out;
  std::string secret;
  if (!o.turn_secret_file.empty()) {
    std::vector<std::string> w;
    auto s = password::read_file(o.turn_secret_file, w);
    if (!s) return tl::unexpected(s.error());
    secret = *s;
  }
  auto add = [&](const std::string& spec, const std::string& type) -> Result<void> {
    auto hp = util::parse_host_port(spec);
    if (!hp) return tl::unexpected(hp.error());
    server::ExternalService s;
    s.type = type;
    s.host = hp->host;
    s.port = hp->port ? hp->port : 3478;
    s.transport = "udp";
    if (type == "turn" && !secret.empty()) {
      s.secret = secret;
      s.restricted = true;
    }
    out.push_back(std::move(s));
    return {};
  };
  for (const auto& s : o.stun)
    if (auto r = add(s, "stun"); !r) return tl::unexpected(r.error());
  for (const auto& s : o.turn)
    if (auto r = add(s, "turn"); !r) return tl::unexpected(r.error());
  return out;
}

// The configuration file first, then the command line on top.
Result<server::ServeConfig> effective_config(const ServeOptions& o) {
  server::ServeConfig c;
  if (!o.config_file.empty()) {
    auto r = server::load_serve_config(o.config_file);
    if (!r) return r;
    c = std::move(*r);
  }
  if (!o.domain.empty()) c.domain = o.domain;
  if (!o.listen.empty()) c.listen = o.listen;
  if (o.port >= 0) c.c2s_port = o.port;
  if (o.tls_port >= 0) c.direct_tls_port = o.tls_port;
  if (o.no_direct_tls) c.direct_tls = false;
  if (o.proxy_protocol) c.proxy_protocol = true;
  if (o.allow_plaintext) c.require_starttls = false;
  if (!o.cert.empty()) c.certificate = o.cert;
  if (!o.key.empty()) c.key = o.key;
  if (!o.state_dir.empty()) c.state_dir = o.state_dir;
  if (!o.accounts_file.empty()) c.accounts_file = o.accounts_file;
  if (o.max_stanza_bytes > 0) c.limits.max_stanza_bytes = static_cast<std::size_t>(o.max_stanza_bytes);
  if (o.idle_timeout > 0) c.limits.idle_timeout = std::chrono::seconds(o.idle_timeout);
  if (o.auth_timeout > 0) c.limits.auth_timeout = std::chrono::seconds(o.auth_timeout);
  if (o.max_conn_per_ip > 0) c.limits.max_connections_per_ip = static_cast<int>(o.max_conn_per_ip);
  if (!o.component.empty()) c.component_jid = o.component;
  if (!o.router.empty()) c.component_router = o.router;
  if (!o.component_secret_file.empty()) c.component_secret_file = o.component_secret_file;
  if (c.certificate.empty() != c.key.empty())
    return fail(Category::Usage, "--cert and --key go together");
  if (c.state_dir.empty()) c.state_dir = server::default_state_dir().string();
  if (c.accounts_file.empty()) c.accounts_file = (std::filesystem::path(c.state_dir) / "accounts.json").string();
  else if (std::filesystem::path(c.accounts_file).is_relative() && !o.config_file.empty() && o.accounts_file.empty())
    c.accounts_file = (std::filesystem::path(c.state_dir) / c.accounts_file).string();
  auto extra = cli_services(o);
  if (!extra) return tl::unexpected(extra.error());
  for (auto& s : *extra) c.external_services.push_back(std::move(s));
  if (server::normalize_jid(c.domain).empty() || c.domain.find('@') != std::string::npos ||
      c.domain.find('/') != std::string::npos)
    return fail(Category::Usage, "invalid domain '" + c.domain + "'");
  return c;
}

bool can_bind(const std::string& addr) {
  asio::io_context io;
  std::error_code ec;
  asio::ip::tcp::acceptor a(io);
  auto ip = asio::ip::make_address(addr, ec);
  if (ec) return false;
  asio::ip::tcp::endpoint ep(ip, 0);
  a.open(ep.protocol(), ec);
  if (!ec) a.bind(ep, ec);
  return !ec;
}

void write_port_file(const std::string& path, const nlohmann::json& j) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f) throw Error(Category::Io, "cannot write port file " + path);
    f << j.dump() << '\n';
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw Error(Category::Io, "cannot write port file " + path);
}

std::string bracket(const std::string& ip) { return ip.find(':') != std::string::npos ? "[" + ip + "]" : ip; }

void run_component(const ServeOptions& o, server::ServeConfig cfg, Output& out) {
  if (cfg.component_router.empty()) throw Error(Category::Usage, "--component needs --router HOST:PORT");
  auto jid = server::normalize_jid(cfg.component_jid);
  if (jid.empty() || jid.find('@') != std::string::npos || jid.find('/') != std::string::npos)
    throw Error(Category::Usage, "invalid component JID '" + cfg.component_jid + "'", "use a domain such as xnet.example.org");
  auto hp = unwrap(util::parse_host_port(cfg.component_router));
  std::string secret;
  if (!cfg.component_secret_file.empty()) secret = read_secret_file(cfg.component_secret_file);
  else if (const char* e = std::getenv("XNET_COMPONENT_SECRET"); e && *e) secret = e;
  else
    throw Error(Category::Usage, "no component secret",
                "use --component-secret-file FILE or the XNET_COMPONENT_SECRET environment variable");
  StderrLog log(out);
  asio::io_context io;
  server::ComponentOptions co;
  co.jid = jid;
  co.host = hp.host;
  co.port = hp.port ? hp.port : 5347;
  co.secret = secret;
  server::ComponentLink link(io, co, cfg.external_services, log, out);
  if (auto pass = make_pass_service(o.pass, cfg.listen.empty() ? "127.0.0.1" : cfg.listen.front(), log))
    link.core().add_service(std::move(pass), &io);
  Result<void> result;
  int stop_signal = 0;
  asio::signal_set sigs(io, SIGTERM, SIGINT, SIGHUP);
  std::function<void()> wait_sig = [&] {
    sigs.async_wait([&](std::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        auto c = effective_config(o);
        if (!c) log.event("reload_failed", {{"message", c.error().message}});
        else link.core().reload(c->external_services);
        wait_sig();
        return;
      }
      stop_signal = sig;
      link.stop();
    });
  };
  wait_sig();
  link.start(
      [&] {
        nlohmann::json ready = {{"event", "ready"}, {"mode", "component"}, {"jid", jid},
                                {"router", util::format_host_port(co.host, co.port)}, {"pid", ::getpid()}};
        if (!o.port_file.empty()) write_port_file(o.port_file, ready);
        if (out.json()) out.write_json(ready);
        else out.write_line("xnet serve: component " + jid + " attached to " + util::format_host_port(co.host, co.port));
      },
      [&](Result<void> r) {
        result = std::move(r);
        std::error_code ec;
        sigs.cancel(ec);
        io.stop();
      });
  io.run();
  if (stop_signal) return;
  if (!result) throw result.error();
}

void run_serve(const ServeOptions& o, Output& out) {
  auto cfg = unwrap(effective_config(o));
  if (!cfg.component_jid.empty()) return run_component(o, std::move(cfg), out);

  auto accounts = unwrap(server::Accounts::load(cfg.accounts_file));
  bool anonymous = o.anonymous || (!o.no_anonymous && (cfg.anonymous || accounts.empty()));

  // The certificate: from options, or generated once into the state directory.
  std::string cert = cfg.certificate, key = cfg.key, fingerprint;
  bool generated = false;
  if (cert.empty()) {
    auto files = unwrap(server::ensure_self_signed(cfg.state_dir, server::normalize_jid(cfg.domain)));
    cert = files.cert.string();
    key = files.key.string();
    fingerprint = files.fingerprint;
    generated = files.generated;
  } else {
    fingerprint = unwrap(server::certificate_fingerprint(cert));
  }

  StderrLog log(out);
  server::HubOptions ho;
  ho.domain = cfg.domain;
  ho.require_tls = cfg.require_starttls;
  ho.allow_anonymous = anonymous;
  ho.allow_plain = cfg.plain;
  ho.server_name = cfg.server_name;
  ho.server_secret = unwrap(server::load_server_secret(cfg.state_dir));
  ho.limits = cfg.limits;
  ho.external_services = cfg.external_services;
  server::Hub hub(ho, std::move(accounts), log, out);

  asio::io_context io;
  server::Server srv(io, hub);
  unwrap(srv.load_tls(cert, key));
  // Enough descriptors for many idle sessions, and a cap below them so accept() never fails.
  auto fd = server::raise_fd_limit();
  auto cap = server::connection_cap(fd, cfg.limits.max_connections);
  srv.set_max_connections(cap);
  log.event("fd_limit", {{"soft_before", fd.soft_before}, {"soft", fd.soft}, {"hard", fd.hard},
                         {"max_connections", cap}});

  // Default loopback addresses: skip ::1 on a machine without IPv6 instead of failing.
  std::vector<std::string> addrs = cfg.listen;
  if (o.listen.empty()) {
    std::erase_if(addrs, [&](const std::string& a) {
      if (a != "::1" || can_bind(a)) return false;
      out.warning("IPv6 loopback not available; listening on IPv4 only");
      return true;
    });
  }
  std::vector<server::ListenerSpec> specs;
  for (const auto& a : addrs) specs.push_back({a, cfg.c2s_port, false, cfg.proxy_protocol});
  if (cfg.direct_tls)
    for (const auto& a : addrs) specs.push_back({a, cfg.direct_tls_port, true, cfg.proxy_protocol});
  auto bound = unwrap(srv.listen(specs));

  int c2s_port = 0, tls_port = 0;
  nlohmann::json listeners = nlohmann::json::array();
  std::string c2s_list, tls_list;
  for (const auto& b : bound) {
    (b.direct_tls ? tls_port : c2s_port) = b.port;
    listeners.push_back({{"address", b.address}, {"port", b.port}, {"tls", b.direct_tls ? "direct" : "starttls"}});
    auto& l = b.direct_tls ? tls_list : c2s_list;
    l += (l.empty() ? "" : ", ") + bracket(b.address) + ":" + std::to_string(b.port);
  }
  std::string first_addr = bound.empty() ? "127.0.0.1" : bound.front().address;
  std::string domain = server::normalize_jid(cfg.domain);
  nlohmann::json ready = {{"event", "listening"},
                          {"domain", domain},
                          {"c2s_port", c2s_port},
                          {"direct_tls_port", tls_port},
                          {"listeners", listeners},
                          {"certificate", cert},
                          {"fingerprint_sha256", fingerprint},
                          {"certificate_generated", generated},
                          {"anonymous", anonymous},
                          {"accounts", hub.accounts().users().size()},
                          {"accounts_file", cfg.accounts_file},
                          {"proxy_protocol", cfg.proxy_protocol},
                          {"pid", ::getpid()}};
  if (auto pass = make_pass_service(o.pass, first_addr, log)) {
    ready["pass"] = {{"jid", pass->name() + "." + domain}, {"range", o.pass.range}};
    hub.add_service(std::move(pass));
  }
  if (!o.port_file.empty()) write_port_file(o.port_file, ready);
  if (out.json()) {
    out.write_json(ready);
  } else {
    std::string server_arg = util::format_host_port(first_addr, static_cast<std::uint16_t>(c2s_port));
    out.write_line("xnet serve: serving " + domain);
    out.write_line("  STARTTLS     " + c2s_list);
    if (!tls_list.empty()) out.write_line("  direct TLS   " + tls_list);
    out.write_line("  certificate  " + cert + (generated ? " (generated, self-signed)" : "") );
    out.write_line("  SHA-256      " + fingerprint);
    out.write_line(std::string("  accounts     ") + std::to_string(hub.accounts().users().size()) + " in " +
                   cfg.accounts_file + (anonymous ? "; SASL ANONYMOUS allowed" : ""));
    out.write_line("Connect with:");
    std::string trust = generated || !fingerprint.empty() ? " --ca-file " + cert : "";
    if (anonymous)
      out.write_line("  xnet whoami --jid " + domain + " --server " + server_arg + trust + "   (SASL ANONYMOUS)");
    if (hub.accounts().empty())
      out.write_line("  xnet serve user add alice" +
                     (o.state_dir.empty() ? std::string() : " --state-dir " + o.state_dir) + "   (then SIGHUP)");
    out.write_line("  xnet whoami --jid alice@" + domain + " --server " + server_arg + trust);
    out.write_line("Stop with Ctrl-C or SIGTERM; SIGHUP reloads the STUN/TURN list and the accounts.");
  }

  srv.start([&] {
    auto c = effective_config(o);
    if (!c) {
      log.event("reload_failed", {{"message", c.error().message}});
      return;
    }
    std::optional<server::Accounts> accts;
    if (auto a = server::Accounts::load(c->accounts_file)) accts = std::move(*a);
    else log.event("reload_failed", {{"message", a.error().message}});
    // The anonymous rule follows the accounts at once: off as soon as the first one exists.
    bool empty = accts ? accts->empty() : hub.accounts().empty();
    bool anon = o.anonymous || (!o.no_anonymous && (c->anonymous || empty));
    hub.reload(std::move(accts), anon, c->external_services);
  });
  io.run();
}

void run_user(const std::string& action, const ServeOptions& so, const UserOptions& uo, Output& out) {
  auto cfg = unwrap(effective_config(so));
  auto accounts = unwrap(server::Accounts::load(cfg.accounts_file));
  if (action == "list") {
    auto users = accounts.users();
    if (out.json()) {
      out.write_json({{"accounts_file", cfg.accounts_file}, {"users", users}});
    } else {
      for (const auto& u : users) out.write_line(u);
    }
    return;
  }
  if (action == "del") {
    if (!accounts.remove(uo.name)) throw Error(Category::Input, "no such user '" + uo.name + "'");
    unwrap(accounts.save(cfg.accounts_file));
    if (out.json()) out.write_json({{"event", "deleted"}, {"user", uo.name}, {"accounts_file", cfg.accounts_file}});
    else out.progress(0, "deleted " + uo.name);
    return;
  }
  password::Sources src;
  if (!uo.password_file.empty()) src.file = uo.password_file;
  if (!uo.password_command.empty()) src.command = uo.password_command;
  src.env = password::env_password();
  auto pw = unwrap(password::resolve(src, password::system_terminal(), "Password for " + uo.name + ": "));
  for (const auto& w : pw.warnings) out.warning(w);
  unwrap(accounts.set(uo.name, pw.password));
  unwrap(accounts.save(cfg.accounts_file));
  auto n = server::normalize_localpart(uo.name).value_or(uo.name);
  if (out.json())
    out.write_json({{"event", "added"}, {"user", n}, {"jid", n + "@" + server::normalize_jid(cfg.domain)},
                    {"accounts_file", cfg.accounts_file}});
  else
    out.progress(0, "added " + n + "@" + server::normalize_jid(cfg.domain) + " to " + cfg.accounts_file);
}

void add_server_options(CLI::App& sub, ServeOptions& o) {
  sub.add_option("--server-config", o.config_file, "Server configuration file (TOML; see xnet-serve(1))")
      ->type_name("FILE");
  sub.add_option("--state-dir", o.state_dir, "Directory for the generated certificate and accounts "
                                              "(default $XDG_STATE_HOME/xnet)")
      ->type_name("DIR");
  sub.add_option("--accounts", o.accounts_file, "Accounts file (default STATE_DIR/accounts.json)")->type_name("FILE");
  sub.add_option("--domain", o.domain, "XMPP domain served (default localhost)")->type_name("DOMAIN");
}

}  // namespace

void register_serve(CLI::App& app, Output& out) {
  auto opts = std::make_shared<ServeOptions>();
  auto* sub = app.add_subcommand("serve", "Run a small XMPP server (SIC, STUN lists, ping) or a component");
  sub->require_subcommand(0, 1);
  add_server_options(*sub, *opts);
  add_pass_serve_options(*sub, opts->pass);
  const char* net = "Listeners";
  sub->add_option("--listen", opts->listen, "Listen on ADDR (repeatable; default 127.0.0.1 and ::1)")
      ->group(net)
      ->type_name("ADDR");
  sub->add_option("--port", opts->port, "STARTTLS port (default 5222; 0 = a free port)")
      ->group(net)
      ->check(CLI::Range(0, 65535))
      ->type_name("PORT");
  sub->add_option("--tls-port", opts->tls_port, "Direct TLS port (default 5223; 0 = a free port)")
      ->group(net)
      ->check(CLI::Range(0, 65535))
      ->type_name("PORT");
  sub->add_flag("--no-direct-tls", opts->no_direct_tls, "Do not open the direct TLS listener")->group(net);
  sub->add_flag("--proxy-protocol", opts->proxy_protocol,
                "Expect a PROXY protocol v2 header on every connection (behind HAProxy/nginx)")
      ->group(net);
  sub->add_option("--port-file", opts->port_file, "Write the bound ports as JSON to FILE once listening")
      ->group(net)
      ->type_name("FILE");
  const char* sec = "Security";
  sub->add_option("--cert", opts->cert, "TLS certificate chain (PEM); default: generated self-signed")
      ->group(sec)
      ->type_name("FILE");
  sub->add_option("--key", opts->key, "TLS private key (PEM)")->group(sec)->type_name("FILE");
  sub->add_flag("--anonymous", opts->anonymous, "Allow SASL ANONYMOUS (default: only when there are no accounts)")
      ->group(sec);
  sub->add_flag("--no-anonymous", opts->no_anonymous, "Never allow SASL ANONYMOUS")->group(sec);
  sub->add_flag("--allow-plaintext", opts->allow_plaintext, "Do not require STARTTLS before SASL (tests only)")
      ->group(sec);
  const char* lim = "Limits";
  sub->add_option("--max-stanza-bytes", opts->max_stanza_bytes, "Largest stanza accepted (default 65536)")
      ->group(lim)
      ->check(CLI::Range(1024LL, 16LL * 1024 * 1024))
      ->type_name("N");
  sub->add_option("--idle-timeout", opts->idle_timeout, "Close streams silent for SECONDS (default 600)")
      ->group(lim)
      ->check(CLI::PositiveNumber)
      ->type_name("SECONDS");
  sub->add_option("--auth-timeout", opts->auth_timeout, "Time allowed to authenticate (default 30)")
      ->group(lim)
      ->check(CLI::PositiveNumber)
      ->type_name("SECONDS");
  sub->add_option("--max-connections-per-ip", opts->max_conn_per_ip, "Connections per client address (default 32)")
      ->group(lim)
      ->check(CLI::PositiveNumber)
      ->type_name("N");
  const char* ext = "STUN/TURN list (XEP-0215)";
  sub->add_option("--stun", opts->stun, "Announce a STUN server HOST[:PORT] (repeatable)")
      ->group(ext)
      ->type_name("HOST[:PORT]");
  sub->add_option("--turn", opts->turn, "Announce a TURN server HOST[:PORT] (repeatable)")
      ->group(ext)
      ->type_name("HOST[:PORT]");
  sub->add_option("--turn-secret-file", opts->turn_secret_file,
                  "TURN REST shared secret (coturn static-auth-secret) for --turn servers")
      ->group(ext)
      ->type_name("FILE");
  const char* comp = "Component mode (XEP-0114)";
  sub->add_option("--component", opts->component, "Attach to a router as component JID instead of serving c2s")
      ->group(comp)
      ->type_name("JID");
  sub->add_option("--router", opts->router, "The router's component port HOST:PORT")->group(comp)->type_name("HOST:PORT");
  sub->add_option("--component-secret-file", opts->component_secret_file,
                  "Shared component secret (else $XNET_COMPONENT_SECRET)")
      ->group(comp)
      ->type_name("FILE");

  auto* user = sub->add_subcommand("user", "Manage the accounts of the server");
  user->require_subcommand(1);
  auto uo = std::make_shared<UserOptions>();
  auto* add = user->add_subcommand("add", "Add a user or change its password (password read like the client's)");
  add->add_option("name", uo->name, "User name (the JID's local part)")->required();
  add->add_option("--password-file", uo->password_file, "Read the password from the first line of FILE")
      ->type_name("FILE");
  add->add_option("--password-command", uo->password_command, "Run CMD and use the first line of its output")
      ->type_name("CMD");
  auto* del = user->add_subcommand("del", "Delete a user");
  del->add_option("name", uo->name, "User name")->required();
  auto* list = user->add_subcommand("list", "List the users");
  add->callback([opts, uo, &out] { run_user("add", *opts, *uo, out); });
  del->callback([opts, uo, &out] { run_user("del", *opts, *uo, out); });
  list->callback([opts, uo, &out] { run_user("list", *opts, *uo, out); });

  sub->callback([sub, opts, &out] {
    if (sub->got_subcommand("user")) return;
    run_serve(*opts, out);
  });
}

}  // namespace xnet::cmd
