// SPDX-License-Identifier: MIT
// pass: a public TCP port on a PASS relay (XEP-0003), signalled over XMPP: listen, close.
#include <cmath>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>

#include <CLI/CLI.hpp>

#include "cmd/commands.hpp"
#include "cmd/common.hpp"
#include "pass/client.hpp"
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
  auto session = unwrap(xmpp::Session::open(cfg, out, deadline_from(o.conn.timeout)));
  pass::SessionLink<xmpp::Session> link(session);
  auto listener = unwrap(pass::Listener::open(link, lo, out, deadline_from(o.conn.timeout)));
  if (!o.port_file.empty()) unwrap(write_port_file(o.port_file, listener->endpoint()));
  show(listener->endpoint());
  auto result = listener->run(show, [] { return interrupted(); });
  if (!result) throw result.error();
  if (interrupted()) {
    // Ctrl-C is the normal way to stop a listener: free the port, then exit 0.
    auto closed = listener->close(deadline_from(std::min(o.conn.timeout, 5.0)));
    if (!closed) out.warning("could not close the listener: " + closed.error().message);
    pass::Event e = listener->endpoint();
    e.event = "listener_closed";
    e.reason = "interrupted";
    e.expires.reset();
    show(e);
  }
  session.close();
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
  auto deadline = deadline_from(o.conn.timeout);
  auto cfg = unwrap(resolve_connection(o.conn, out));
  auto session = unwrap(xmpp::Session::open(cfg, out, deadline));
  pass::SessionLink<xmpp::Session> link(session);
  auto service = o.service.empty() ? pass::default_service(session.info().bound_jid) : o.service;
  unwrap(pass::close_listener(link, service, hp.host, hp.port, deadline));
  session.close();
  out.emit(CloseResult{hp.host, hp.port, service});
}

}  // namespace

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
  listen->add_option("--port-file", lo->port_file, "Write the public endpoint (IP:PORT) to FILE")
      ->type_name("FILE");
  listen->callback([lo, &out] { run_listen(*lo, out); });

  auto co = std::make_shared<CloseOptions>();
  auto* close = pass->add_subcommand("close", "Close a public port registered by your account");
  add_connection_options(*close, co->conn);
  close->add_option("endpoint", co->endpoint, "The listener's public endpoint")
      ->required()
      ->type_name("IP:PORT");
  close->add_option("--service", co->service, "PASS service JID (default: pass.<your domain>)")
      ->type_name("JID");
  close->callback([co, &out] { run_close(*co, out); });
}

}  // namespace xnet::cmd
