// SPDX-License-Identifier: MIT
// pass: a public TCP port on a PASS relay (XEP-0003), signalled over XMPP: listen, close.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iomanip>
#include <iostream>
#include <memory>
#include <sstream>

#include <CLI/CLI.hpp>

#include <asio/ip/address.hpp>

#include "cmd/commands.hpp"
#include "cmd/common.hpp"
#include "cmd/pass.hpp"
#include "pass/client.hpp"
#include "pass/service.hpp"
#include "server/hub.hpp"
#include "util/hostport.hpp"

namespace xnet::cmd {
namespace {

nlohmann::json event_json(const pass::Event& e) {
  nlohmann::json j{{"event", e.event}};
  if (e.event == "listening" || e.event == "expired" || e.event == "listener_closed") {
    j["ip"] = e.ip;
    j["port"] = e.port;
    j["endpoint"] = util::format_host_port(e.ip, e.port);
  }
  if (e.event == "listening") {
    j["expires"] = e.expires ? nlohmann::json(*e.expires) : nlohmann::json(nullptr);
    j["service"] = e.service;
    if (e.reconnected) {
      j["reconnected"] = true;
      j["same_port"] = e.same_port;
    }
  }
  if (e.event == "disconnected") {
    j["ip"] = e.ip;
    j["port"] = e.port;
    j["retry_ms"] = e.retry_ms;
  }
  if (e.event == "refused") {
    j["client_ip"] = e.client_ip;
    j["client_port"] = e.client_port;
    j["count"] = e.count;
  }
  if (e.id) {
    j["id"] = e.id;
    j["client_ip"] = e.client_ip;
    j["client_port"] = e.client_port;
  }
  if (!e.reason.empty()) j["reason"] = e.reason;
  if (e.event == "closed" && e.id) {
    j["bytes_in"] = e.bytes_in;
    j["bytes_out"] = e.bytes_out;
    j["duration_ms"] = std::round(e.duration_ms * 10) / 10;
  }
  return j;
}

std::string event_text(const pass::Event& e) {
  std::ostringstream os;
  if (e.event == "listening") {
    os << util::format_host_port(e.ip, e.port);
    return os.str();
  }
  if (e.event == "disconnected") {
    os << "disconnected (" << e.reason << "); retrying in " << std::fixed << std::setprecision(1)
       << static_cast<double>(e.retry_ms) / 1000 << " s";
    return os.str();
  }
  if (e.event == "refused") {
    os << "refused " << util::format_host_port(e.client_ip, e.client_port) << " (" << e.reason;
    if (e.count > 1) os << ", " << e.count << " connections";
    os << ")";
    return os.str();
  }
  if (e.id) {
    os << "#" << e.id << " " << e.event << " " << util::format_host_port(e.client_ip, e.client_port);
    if (e.event == "closed" && e.reason.rfind("exit", 0) != 0 && e.reason.rfind("signal", 0) != 0)
      os << " in " << e.bytes_in << " B, out " << e.bytes_out << " B";
    if (!e.reason.empty() && e.reason != "eof") os << " (" << e.reason << ")";
    return os.str();
  }
  os << e.event << " " << util::format_host_port(e.ip, e.port);
  if (!e.reason.empty() && e.reason != e.event) os << " (" << e.reason << ")";
  return os.str();
}

// Scripts poll for this file: write it whole, then rename into place.
Result<void> write_port_file(const std::string& path, const pass::Event& ep) {
  std::string tmp = path + ".tmp";
  {
    std::ofstream f(tmp, std::ios::trunc);
    if (!f) return fail(Category::Io, "cannot write --port-file " + tmp);
    f << util::format_host_port(ep.ip, ep.port) << "\n";
    if (!f.flush()) return fail(Category::Io, "cannot write --port-file " + tmp);
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0)
    return fail(Category::Io, "cannot rename " + tmp + " to " + path);
  return {};
}

struct ListenOptions {
  ConnectionOptions conn;
  std::string service;
  std::optional<std::uint64_t> expire;
  bool oneshot = false;
  std::string forward;
  std::string exec;
  std::vector<std::string> allow;
  std::string port_file;
  double keepalive = 30;
  bool no_reconnect = false;
};

void run_listen(const ListenOptions& o, Output& out) {
  pass::ListenOptions lo;
  lo.service = o.service;
  lo.expire = o.expire;
  lo.oneshot = o.oneshot;
  if (!o.forward.empty() && !o.exec.empty())
    throw Error(Category::Usage, "--forward and --exec exclude each other");
  if (!o.forward.empty()) {
    auto hp = unwrap(util::parse_host_port(o.forward));
    if (hp.port == 0) throw Error(Category::Usage, "--forward needs HOST:PORT");
    lo.target = pass::Target::Forward;
    lo.forward_host = hp.host;
    lo.forward_port = hp.port;
  } else if (!o.exec.empty()) {
    lo.target = pass::Target::Exec;
    lo.exec_command = o.exec;
  }
  for (const auto& a : o.allow) lo.allow.push_back(unwrap(pass::parse_cidr(a)));
  lo.connect_timeout = std::chrono::milliseconds(static_cast<long long>(o.conn.timeout * 1000));
  lo.keepalive = std::chrono::milliseconds(static_cast<long long>(o.keepalive * 1000));
  pass::ReconnectOptions rc;
  rc.enabled = !o.no_reconnect;
  rc.attempt_timeout = lo.connect_timeout;

  // With stdio as the data path, stdout is the connection: events go to stderr.
  const bool stdio = lo.target == pass::Target::Stdio;
  auto show = [&](const pass::Event& e) {
    if (stdio) {
      if (!out.quiet()) std::cerr << (out.json() ? event_json(e).dump() : "xnet pass: " + event_text(e)) << std::endl;
    } else if (out.json()) {
      out.write_json(event_json(e));
    } else {
      out.write_line(event_text(e));
    }
  };

  auto cfg = unwrap(resolve_connection(o.conn, out));
  pass::Connect connect = [&](asio::io_context& io, Deadline d) -> Result<std::unique_ptr<pass::Link>> {
    auto session = xmpp::Session::open(io, cfg, out, d);
    if (!session) return fail(session.error());
    return std::make_unique<pass::OwningSessionLink<xmpp::Session>>(
        std::make_unique<xmpp::Session>(std::move(*session)));
  };
  auto on_event = [&](const pass::Event& e) {
    // Scripts poll --port-file: it names the current endpoint, also after a reconnect.
    if (e.event == "listening" && !o.port_file.empty()) unwrap(write_port_file(o.port_file, e));
    show(e);
  };
  unwrap(pass::run_listen(connect, lo, rc, out, on_event, [] { return interrupted(); },
                          lo.connect_timeout));
}

struct CloseOptions {
  ConnectionOptions conn;
  std::string service;
  std::string endpoint;
};

struct CloseResult {
  std::string ip;
  std::uint16_t port;
  std::string service;
};

void to_json(nlohmann::json& j, const CloseResult& r) {
  j = {{"closed", true}, {"ip", r.ip}, {"port", r.port}, {"service", r.service}};
}

void print_text(std::ostream& os, const CloseResult& r, const Style& s) {
  os << s.green() << "closed" << s.reset() << " " << util::format_host_port(r.ip, r.port) << " at "
     << r.service << "\n";
}

void run_close(const CloseOptions& o, Output& out) {
  auto hp = unwrap(util::parse_host_port(o.endpoint));
  if (hp.port == 0) throw Error(Category::Usage, "pass close needs IP:PORT (the listener's public endpoint)");
  auto cfg = unwrap(resolve_connection(o.conn, out));
  auto deadline = deadline_from(o.conn.timeout);  // after the password: a prompt must not eat it
  auto session = unwrap(xmpp::Session::open(cfg, out, deadline));
  pass::SessionLink<xmpp::Session> link(session);
  auto service = o.service.empty() ? pass::default_service(session.info().bound_jid) : o.service;
  unwrap(pass::close_listener(link, service, hp.host, hp.port, deadline));
  session.close();
  out.emit(CloseResult{hp.host, hp.port, service});
}

}  // namespace

void add_pass_serve_options(CLI::App& serve, PassServeOptions& o) {
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
                   "Component mode: ping owners every SECONDS, freeing the ports of silent ones (default 30, 0 = off)")
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

std::unique_ptr<server::Service> make_pass_service(const PassServeOptions& o, const std::string& default_ip,
                                                   server::EventLog& log) {
  if (o.range.empty()) return nullptr;
  pass::ServiceConfig c;
  auto dash = o.range.find('-');
  auto first = xep0003::parse_port(o.range.substr(0, dash));
  auto last = dash == std::string::npos ? first : xep0003::parse_port(o.range.substr(dash + 1));
  if (!first || !last || *first == 0 || *last < *first)
    throw Error(Category::Usage, "--pass-range: '" + o.range + "' is not FIRST-LAST (1..65535, FIRST <= LAST)");
  c.first_port = *first;
  c.last_port = *last;
  c.public_ip = o.public_ip.empty() ? default_ip : o.public_ip;
  c.bind_ip = o.bind_ip;
  for (const auto* ip : {&c.public_ip, &c.bind_ip}) {
    std::error_code ec;
    if (!ip->empty()) (void)asio::ip::make_address(*ip, ec);
    if (ec) throw Error(Category::Usage, "--pass-public-ip/--pass-bind: '" + *ip + "' is not an IP address");
  }
  c.name = o.name;
  c.ports_per_account = o.ports_per_account;
  c.limits.relays_per_account = o.relays_per_account;
  c.limits.relays_total = o.relays_total;
  c.limits.accept_window = std::chrono::milliseconds(static_cast<long long>(o.accept_window * 1000));
  c.limits.max_expire = o.max_expire;
  c.limits.relays_per_source = o.relays_per_source;
  c.limits.pending_per_source = o.pending_per_source;
  c.limits.grace = std::chrono::milliseconds(static_cast<long long>(o.grace * 1000));
  c.allow_anonymous = o.anonymous;
  c.owner_ping_interval = std::chrono::milliseconds(static_cast<long long>(o.owner_ping * 1000));
  c.bandwidth = o.bandwidth;
  return std::make_unique<pass::PassService>(
      c, [&log](std::string_view name, const nlohmann::json& fields) { log.event(name, fields); });
}

void register_pass(CLI::App& app, Output& out) {
  auto* pass = app.add_subcommand("pass", "Rent a public TCP port on a PASS relay (XEP-0003 reverse tunnel)");
  pass->require_subcommand(1);

  auto lo = std::make_shared<ListenOptions>();
  auto* listen = pass->add_subcommand(
      "listen", "Register a public port and relay each incoming connection to a local target");
  add_connection_options(*listen, lo->conn);
  listen->add_option("--service", lo->service, "PASS service JID (default: pass.<your domain>)")
      ->type_name("JID");
  listen->add_option("--expire", lo->expire, "Close the public port after SECONDS")
      ->type_name("SECONDS")
      ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{100} * 365 * 24 * 3600));
  listen->add_flag("--oneshot", lo->oneshot, "Accept one connection, then close the port");
  auto* fwd = listen->add_option("--forward", lo->forward,
                                 "Connect each accepted connection to HOST:PORT")
                  ->type_name("HOST:PORT");
  auto* ex = listen->add_option("--exec", lo->exec,
                                "Run CMD (/bin/sh -c) per connection on its stdin/stdout")
                 ->type_name("CMD");
  fwd->excludes(ex);
  listen->add_option("--allow", lo->allow,
                     "Accept only clients from ADDR[/PREFIX] (repeatable); others are denied")
      ->type_name("ADDR[/PREFIX]");
  listen->add_option("--port-file", lo->port_file,
                     "Write the public endpoint (IP:PORT) to FILE (rewritten after a reconnect)")
      ->type_name("FILE");
  listen->add_option("--keepalive", lo->keepalive,
                     "Ping the server every SECONDS; no answer within SECONDS = dead link (default 30, 0 = off)")
      ->type_name("SECONDS")
      ->check(CLI::Range(0.0, 3600.0));
  listen->add_flag("--no-reconnect", lo->no_reconnect,
                   "Exit when the link is lost instead of reconnecting");
  listen->callback([lo, &out] {
    apply_account_defaults(lo->conn, out);
    run_listen(*lo, out);
  });

  auto co = std::make_shared<CloseOptions>();
  auto* close = pass->add_subcommand("close", "Close a public port registered by your account");
  add_connection_options(*close, co->conn);
  close->add_option("endpoint", co->endpoint, "The listener's public endpoint")
      ->required()
      ->type_name("IP:PORT");
  close->add_option("--service", co->service, "PASS service JID (default: pass.<your domain>)")
      ->type_name("JID");
  close->callback([co, &out] {
    apply_account_defaults(co->conn, out);
    run_close(*co, out);
  });
}

}  // namespace xnet::cmd
