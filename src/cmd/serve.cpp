// SPDX-License-Identifier: MIT
// serve: a small XMPP server (SIC, STUN lists, ping) or an XEP-0114 component; `serve user`
// manages its accounts file.
#include <asio/io_context.hpp>
#include <cstdlib>
#include <ctime>
#include <fstream>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cmd/commands.hpp"
#include "cmd/common.hpp"
#include "cmd/fields.hpp"
#include "cmd/render.hpp"
#include "password.hpp"
#include "server/accounts.hpp"
#include "server/fast_tokens.hpp"
#include "server/serve_setup.hpp"
#include "server/stanza.hpp"
#include "util/hostport.hpp"

namespace xnet::cmd {
namespace {

std::string listeners_text(const server::ServeListening& r, bool direct_tls) {
  std::string l;
  for (const auto& b : r.listeners)
    if (b.direct_tls == direct_tls) l += (l.empty() ? "" : ", ") + util::format_host_port(b.address, b.port);
  return l.empty() ? "off" : l;
}

// The "listening" event; text: a block for people, then how to connect.
const FieldTable<server::ServeListening> kListeningFields = {
    {"event", "", [](const server::ServeListening&) { return nlohmann::json("listening"); },
     [](const server::ServeListening&) { return std::string(); }},  // the header line
    {"domain", "serving", [](const server::ServeListening& r) { return nlohmann::json(r.domain); }},
    {"c2s_port", "STARTTLS", [](const server::ServeListening& r) { return nlohmann::json(r.c2s_port); },
     [](const server::ServeListening& r) { return listeners_text(r, false); }},
    {"direct_tls_port", "direct TLS", [](const server::ServeListening& r) { return nlohmann::json(r.direct_tls_port); },
     [](const server::ServeListening& r) { return listeners_text(r, true); }},
    {"listeners", "", [](const server::ServeListening& r) {
       auto a = nlohmann::json::array();
       for (const auto& b : r.listeners)
         a.push_back({{"address", b.address}, {"port", b.port}, {"tls", b.direct_tls ? "direct" : "starttls"}});
       return a;
     },
     [](const server::ServeListening&) { return std::string(); }},  // in STARTTLS / direct TLS
    {"certificate", "certificate", [](const server::ServeListening& r) { return nlohmann::json(r.certificate); },
     [](const server::ServeListening& r) {
       return r.certificate + (r.certificate_generated ? " (generated, self-signed)" : "");
     }},
    {"fingerprint_sha256", "SHA-256", [](const server::ServeListening& r) { return nlohmann::json(r.fingerprint_sha256); }},
    {"certificate_generated", "", [](const server::ServeListening& r) { return nlohmann::json(r.certificate_generated); },
     [](const server::ServeListening&) { return std::string(); }},  // in certificate
    {"anonymous", "anonymous", [](const server::ServeListening& r) { return nlohmann::json(r.anonymous); },
     [](const server::ServeListening& r) { return std::string(r.anonymous ? "SASL ANONYMOUS allowed" : "off"); }},
    {"accounts", "accounts", [](const server::ServeListening& r) { return nlohmann::json(r.accounts); },
     [](const server::ServeListening& r) { return std::to_string(r.accounts) + " in " + r.accounts_file; }},
    {"accounts_file", "", [](const server::ServeListening& r) { return nlohmann::json(r.accounts_file); },
     [](const server::ServeListening&) { return std::string(); }},  // in accounts
    {"proxy_protocol", "PROXY v2", [](const server::ServeListening& r) { return nlohmann::json(r.proxy_protocol); },
     [](const server::ServeListening& r) { return std::string(r.proxy_protocol ? "required" : "off"); }},
    {"pass", "PASS", [](const server::ServeListening& r) {
       if (!r.pass_jid) return absent();
       return nlohmann::json{{"jid", *r.pass_jid}, {"range", r.pass_range.value_or("")}};
     },
     [](const server::ServeListening& r) { return r.pass_jid.value_or("") + " ports " + r.pass_range.value_or(""); }},
    {"pid", "pid", [](const server::ServeListening& r) { return nlohmann::json(r.pid); }},
};

const FieldTable<server::ComponentReady> kComponentReadyFields = {
    {"event", "", [](const server::ComponentReady&) { return nlohmann::json("ready"); },
     [](const server::ComponentReady&) { return std::string("xnet serve: component"); }},
    {"mode", "", [](const server::ComponentReady&) { return nlohmann::json("component"); },
     [](const server::ComponentReady&) { return std::string(); }},  // in the event's text
    {"jid", "", [](const server::ComponentReady& r) { return nlohmann::json(r.jid); }},
    {"router", "attached to", [](const server::ComponentReady& r) { return nlohmann::json(r.router); }},
    {"pid", "pid", [](const server::ComponentReady& r) { return nlohmann::json(r.pid); }},
};

}  // namespace

const FieldTable<server::ServeListening>& serve_listening_fields() { return kListeningFields; }
const FieldTable<server::ComponentReady>& component_ready_fields() { return kComponentReadyFields; }

void to_json(nlohmann::json& j, const LogEvent& e) {
  j = {{"ts", e.ts}, {"event", e.event}};
  for (auto& [k, v] : e.fields.items()) j[k] = v;
}

void print_text(std::ostream& os, const LogEvent& e, const Style&) {
  os << e.ts << ' ' << e.event;
  for (auto& [k, v] : e.fields.items()) {
    if (v.is_string() && v.get<std::string>().empty()) continue;
    os << ' ' << k << '=' << (v.is_string() ? v.get<std::string>() : v.dump());
  }
  os << '\n';
}

}  // namespace xnet::cmd

namespace xnet::server {
void to_json(nlohmann::json& j, const ServeListening& r) { j = cmd::fields_json(cmd::kListeningFields, r); }
void print_text(std::ostream& os, const ServeListening& r, const cmd::Style& s) {
  os << s.bold() << "xnet serve: serving " << r.domain << s.reset() << '\n';
  cmd::FieldTable<ServeListening> rest(cmd::kListeningFields.begin() + 2, cmd::kListeningFields.end());
  std::ostringstream block;
  cmd::fields_text(block, rest, r, s);
  std::istringstream lines(block.str());
  for (std::string line; std::getline(lines, line);) os << "  " << line << '\n';
  // How to connect (hints for people; the JSON form has the facts they are made of).
  const auto* first = r.listeners.empty() ? nullptr : &r.listeners.front();
  std::string server_arg = util::format_host_port(first ? first->address : "127.0.0.1",
                                                  static_cast<std::uint16_t>(r.c2s_port));
  std::string trust = " --ca-file " + r.certificate;
  os << "Connect with:\n";
  if (r.anonymous) os << "  xnet whoami --jid " << r.domain << " --server " << server_arg << trust << "   (SASL ANONYMOUS)\n";
  if (r.accounts == 0)
    os << "  xnet serve user add alice"
       << (r.state_dir_option.empty() ? std::string() : " --state-dir " + r.state_dir_option) << "   (then SIGHUP)\n";
  os << "  xnet whoami --jid alice@" << r.domain << " --server " << server_arg << trust << '\n';
  os << "Stop with Ctrl-C or SIGTERM; SIGHUP reloads the STUN/TURN list and the accounts.\n";
}
void to_json(nlohmann::json& j, const ComponentReady& r) { j = cmd::fields_json(cmd::kComponentReadyFields, r); }
void print_text(std::ostream& os, const ComponentReady& r, const cmd::Style&) {
  os << cmd::fields_line(cmd::kComponentReadyFields, r) << '\n';
}
}  // namespace xnet::server

namespace xnet::cmd {
namespace {

struct UserOptions {
  std::string name;
  std::string password_file, password_command;
};

std::string utc_now() {
  char ts[32];
  std::time_t now = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&now, &tm);
  std::strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return ts;
}

// The server's log on stderr: one LogEvent per line, text for people, JSON lines under --json.
class StderrLog final : public server::EventLog {
 public:
  explicit StderrLog(Output& out) : out_(out) {}
  void event(std::string_view name, const nlohmann::json& fields) override {
    out_.emit(LogEvent{utc_now(), std::string(name), fields}, Output::Channel::Log);
  }

 private:
  Output& out_;
};

// Scripts poll for this file: the ready/listening event as JSON, written whole, then renamed.
void write_port_file(const std::string& path, const nlohmann::json& j) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f) throw Error(Category::Io, "cannot write port file " + path);
    f << j.dump() << '\n';
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) throw Error(Category::Io, "cannot write port file " + path);
}

struct ServeOptions {
  server::ServeOverrides server;
  std::string port_file;  ///< --port-file
};

void run_serve(const ServeOptions& o, Output& out) {
  auto cfg = unwrap(server::resolve_serve_config(o.server));
  StderrLog log(out);
  if (!cfg.component_jid.empty()) {
    unwrap(server::run_component(o.server, cfg, log, out, [&](const server::ComponentReady& ready) {
      if (!o.port_file.empty()) write_port_file(o.port_file, ready);
      out.emit(ready);
    }));
    return;
  }
  asio::io_context io;
  auto inst = unwrap(server::ServeInstance::open(io, o.server, std::move(cfg), log, out));
  if (!o.port_file.empty()) write_port_file(o.port_file, inst->listening());
  out.emit(inst->listening());
  inst->run();
}

// `serve user`: the accounts file as it is, or one change to it.
struct UserList {
  std::string accounts_file;
  std::vector<std::string> users;
};
struct UserChange {
  std::string event;  ///< added, deleted
  std::string user;
  std::string jid;    ///< "" for deleted
  std::string accounts_file;
};

const FieldTable<UserList> kUserListFields = {
    {"accounts_file", "", [](const UserList& l) { return nlohmann::json(l.accounts_file); },
     [](const UserList&) { return std::string(); }},  // text: the names alone, one per line
    {"users", "", [](const UserList& l) { return nlohmann::json(l.users); }},
};
void to_json(nlohmann::json& j, const UserList& l) { j = fields_json(kUserListFields, l); }
void print_text(std::ostream& os, const UserList& l, const Style&) {
  for (const auto& u : l.users) os << u << '\n';
}

const FieldTable<UserChange> kUserChangeFields = {
    {"event", "", [](const UserChange& c) { return nlohmann::json(c.event); }},
    {"user", "", [](const UserChange& c) { return nlohmann::json(c.user); },
     [](const UserChange& c) { return c.jid.empty() ? c.user : std::string(); }},  // else in jid
    {"jid", "", [](const UserChange& c) { return c.jid.empty() ? absent() : nlohmann::json(c.jid); }},
    {"accounts_file", "", [](const UserChange& c) { return nlohmann::json(c.accounts_file); },
     [](const UserChange& c) { return (c.event == "deleted" ? "from " : "to ") + c.accounts_file; }},
};
void to_json(nlohmann::json& j, const UserChange& c) { j = fields_json(kUserChangeFields, c); }
void print_text(std::ostream& os, const UserChange& c, const Style&) { os << fields_line(kUserChangeFields, c) << '\n'; }

void run_user(const std::string& action, const ServeOptions& so, const UserOptions& uo, Output& out) {
  auto cfg = unwrap(server::resolve_serve_config(so.server));
  auto accounts = unwrap(server::Accounts::load(cfg.accounts_file));
  if (action == "list") return out.emit(UserList{cfg.accounts_file, accounts.users()});
  if (action == "del") {
    if (!accounts.remove(uo.name)) throw Error(Category::Input, "no such user '" + uo.name + "'");
    unwrap(accounts.save(cfg.accounts_file));
    server::forget_fast_tokens(cfg.state_dir, uo.name);
    return out.emit(UserChange{"deleted", uo.name, "", cfg.accounts_file});
  }
  password::Sources src;
  if (!uo.password_file.empty()) src.file = uo.password_file;
  if (!uo.password_command.empty()) src.command = uo.password_command;
  src.env = password::env_password();
  auto pw = unwrap(password::resolve(src, password::system_terminal(), "Password for " + uo.name + ": "));
  for (const auto& w : pw.warnings) out.warning(w);
  unwrap(accounts.set(uo.name, pw.password));
  unwrap(accounts.save(cfg.accounts_file));
  server::forget_fast_tokens(cfg.state_dir, uo.name);
  auto n = server::normalize_localpart(uo.name).value_or(uo.name);
  out.emit(UserChange{"added", n, n + "@" + server::normalize_jid(cfg.domain), cfg.accounts_file});
}

// --pass-*: the PASS relay (XEP-0003), on when --pass-range is given.
void add_pass_options(CLI::App& serve, pass::ServeOptions& o) {
  const char* g = "PASS relay (XEP-0003)";
  serve.add_option("--pass-range", o.range,
                   "Offer PASS at pass.<domain> with public ports FIRST-LAST (off when not given)")
      ->group(g)
      ->type_name("FIRST-LAST");
  serve.add_option("--pass-public-ip", o.public_ip,
                   "Address announced to renters and clients (default: the first --listen address)")
      ->group(g)
      ->type_name("IP");
  serve.add_option("--pass-bind", o.bind_ip, "Address the PASS ports bind to (default: --pass-public-ip)")
      ->group(g)
      ->type_name("IP");
  serve.add_option("--pass-ports-per-account", o.ports_per_account, "Public ports one account may hold (default 4)")
      ->group(g)
      ->check(CLI::Range(std::size_t{1}, std::size_t{65535}))
      ->type_name("N");
  serve.add_option("--pass-relays-per-account", o.relays_per_account,
                   "Concurrent relayed connections per account, pending ones included (default 16)")
      ->group(g)
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000}))
      ->type_name("N");
  serve.add_option("--pass-relays", o.relays_total, "Concurrent relayed connections in all (default 1024)")
      ->group(g)
      ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}))
      ->type_name("N");
  serve.add_option("--pass-accept-window", o.accept_window,
                   "Seconds an incoming connection waits for its owner to collect it (default 10)")
      ->group(g)
      ->check(CLI::Range(0.1, 300.0))
      ->type_name("SECONDS");
  serve.add_option("--pass-bandwidth", o.bandwidth, "Bytes per second per account over all its relays (default: no cap)")
      ->group(g)
      ->type_name("BYTES");
  serve.add_option("--pass-relays-per-source", o.relays_per_source,
                   "Concurrent relayed connections from one client address, pending ones included (default 8)")
      ->group(g)
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000}))
      ->type_name("N");
  serve.add_option("--pass-pending-per-source", o.pending_per_source,
                   "Connections from one client address waiting for their owners (default 8)")
      ->group(g)
      ->check(CLI::Range(std::size_t{1}, std::size_t{100000}))
      ->type_name("N");
  serve.add_option("--pass-grace", o.grace,
                   "Seconds a port is kept for its account after the owner's session dropped (default 120, 0 = none)")
      ->group(g)
      ->check(CLI::Range(0.0, 86400.0))
      ->type_name("SECONDS");
  serve.add_option("--pass-owner-ping", o.owner_ping,
                   "Ping port owners every SECONDS, freeing the ports of silent ones (default 30, 0 = off)")
      ->group(g)
      ->check(CLI::Range(0.0, 3600.0))
      ->type_name("SECONDS");
  serve.add_flag("--pass-anonymous", o.anonymous, "Let anonymous (SASL ANONYMOUS) sessions rent ports")
      ->group(g);
  serve.add_option("--pass-max-expire", o.max_expire,
                   "Longest lifetime of a public port in seconds; also the default (default: none)")
      ->group(g)
      ->type_name("SECONDS");
}

void add_server_options(CLI::App& sub, ServeOptions& o) {
  sub.add_option("--server-config", o.server.config_file, "Server configuration file (TOML; see xnet-serve(1))")
      ->type_name("FILE");
  sub.add_option("--state-dir", o.server.state_dir, "Directory for the generated certificate and accounts "
                                              "(default $XDG_STATE_HOME/xnet)")
      ->type_name("DIR");
  sub.add_option("--accounts", o.server.accounts_file, "Accounts file (default STATE_DIR/accounts.json)")->type_name("FILE");
  sub.add_option("--domain", o.server.domain, "XMPP domain served (default localhost)")->type_name("DOMAIN");
}

}  // namespace

void register_serve(CLI::App& app, Output& out) {
  auto opts = std::make_shared<ServeOptions>();
  auto* sub = app.add_subcommand("serve", "Run a small XMPP server (SIC, STUN lists, ping) or a component");
  sub->require_subcommand(0, 1);
  add_server_options(*sub, *opts);
  add_pass_options(*sub, opts->server.pass);
  const char* net = "Listeners";
  sub->add_option("--listen", opts->server.listen, "Listen on ADDR (repeatable; default 127.0.0.1 and ::1)")
      ->group(net)
      ->type_name("ADDR");
  sub->add_option("--port", opts->server.port, "STARTTLS port (default 5222; 0 = a free port)")
      ->group(net)
      ->check(CLI::Range(0, 65535))
      ->type_name("PORT");
  sub->add_option("--tls-port", opts->server.tls_port, "Direct TLS port (default 5223; 0 = a free port)")
      ->group(net)
      ->check(CLI::Range(0, 65535))
      ->type_name("PORT");
  sub->add_flag("--no-direct-tls", opts->server.no_direct_tls, "Do not open the direct TLS listener")->group(net);
  sub->add_flag("--proxy-protocol", opts->server.proxy_protocol,
                "Expect a PROXY protocol v2 header on every connection (behind HAProxy/nginx)")
      ->group(net);
  sub->add_option("--port-file", opts->port_file, "Write the bound ports as JSON to FILE once listening")
      ->group(net)
      ->type_name("FILE");
  const char* sec = "Security";
  sub->add_option("--cert", opts->server.cert, "TLS certificate chain (PEM); default: generated self-signed")
      ->group(sec)
      ->type_name("FILE");
  sub->add_option("--key", opts->server.key, "TLS private key (PEM)")->group(sec)->type_name("FILE");
  sub->add_flag("--anonymous", opts->server.anonymous, "Allow SASL ANONYMOUS (default: only when there are no accounts)")
      ->group(sec);
  sub->add_flag("--no-anonymous", opts->server.no_anonymous, "Never allow SASL ANONYMOUS")->group(sec);
  sub->add_flag("--allow-plaintext", opts->server.allow_plaintext, "Do not require STARTTLS before SASL (tests only)")
      ->group(sec);
  const char* lim = "Limits";
  sub->add_option("--max-stanza-bytes", opts->server.max_stanza_bytes, "Largest stanza accepted (default 65536)")
      ->group(lim)
      ->check(CLI::Range(1024LL, 16LL * 1024 * 1024))
      ->type_name("N");
  sub->add_option("--idle-timeout", opts->server.idle_timeout, "Close streams silent for SECONDS (default 600)")
      ->group(lim)
      ->check(CLI::PositiveNumber)
      ->type_name("SECONDS");
  sub->add_option("--auth-timeout", opts->server.auth_timeout, "Time allowed to authenticate (default 30)")
      ->group(lim)
      ->check(CLI::PositiveNumber)
      ->type_name("SECONDS");
  sub->add_option("--max-connections-per-ip", opts->server.max_conn_per_ip, "Connections per client address (default 32)")
      ->group(lim)
      ->check(CLI::PositiveNumber)
      ->type_name("N");
  const char* ext = "STUN/TURN list (XEP-0215)";
  sub->add_option("--stun", opts->server.stun, "Announce a STUN server HOST[:PORT] (repeatable)")
      ->group(ext)
      ->type_name("HOST[:PORT]");
  sub->add_option("--turn", opts->server.turn, "Announce a TURN server HOST[:PORT] (repeatable)")
      ->group(ext)
      ->type_name("HOST[:PORT]");
  sub->add_option("--turn-secret-file", opts->server.turn_secret_file,
                  "TURN REST shared secret (coturn static-auth-secret) for --turn servers")
      ->group(ext)
      ->type_name("FILE");
  const char* comp = "Component mode (XEP-0114)";
  sub->add_option("--component", opts->server.component, "Attach to a router as component JID instead of serving c2s")
      ->group(comp)
      ->type_name("JID");
  sub->add_option("--router", opts->server.router, "The router's component port HOST:PORT")->group(comp)->type_name("HOST:PORT");
  sub->add_option("--component-secret-file", opts->server.component_secret_file,
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
