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

#include "cmd/commands.hpp"
#include "cmd/common.hpp"
#include "cmd/fields.hpp"
#include "cmd/render.hpp"
#include "pass/client.hpp"
#include "pass/service.hpp"
#include "util/hostport.hpp"

namespace xnet::cmd {
namespace {

using pass::EventKind;

bool listener_event(const pass::Event& e) {
  return e.event == EventKind::Listening || e.event == EventKind::Expired || e.event == EventKind::ListenerClosed ||
         e.event == EventKind::Disconnected;
}
bool client_event(const pass::Event& e) { return e.id != 0 || e.event == EventKind::Refused; }
template <class V>
nlohmann::json when(bool on, V v) {
  return on ? nlohmann::json(std::move(v)) : absent();
}
std::string endpoint(const pass::Event& e) { return util::format_host_port(e.ip, e.port); }

// One table per PASS event: the JSON line, and the text line in table order. The text of the
// `listening` event is the endpoint alone (documented: scripts read it as the first line).
const FieldTable<pass::Event> kPassEventFields = {
    {"id", "", [](const pass::Event& e) { return when(e.id != 0, e.id); },
     [](const pass::Event& e) { return "#" + std::to_string(e.id); }},
    {"event", "", [](const pass::Event& e) { return nlohmann::json(pass::event_name(e.event)); },
     [](const pass::Event& e) {
       return e.event == EventKind::Listening ? std::string() : std::string(pass::event_name(e.event));
     }},
    {"endpoint", "", [](const pass::Event& e) { return when(listener_event(e), endpoint(e)); }},
    {"ip", "", [](const pass::Event& e) { return when(listener_event(e), e.ip); },
     [](const pass::Event&) { return std::string(); }},  // in endpoint
    {"port", "", [](const pass::Event& e) { return when(listener_event(e), e.port); },
     [](const pass::Event&) { return std::string(); }},  // in endpoint
    {"client_ip", "", [](const pass::Event& e) { return when(client_event(e), e.client_ip); },
     [](const pass::Event& e) { return util::format_host_port(e.client_ip, e.client_port); }},
    {"client_port", "", [](const pass::Event& e) { return when(client_event(e), e.client_port); },
     [](const pass::Event&) { return std::string(); }},  // in client_ip
    {"expires", "expires in", [](const pass::Event& e) {
       if (e.event != EventKind::Listening) return absent();
       return e.expires ? nlohmann::json(*e.expires) : nlohmann::json(nullptr);
     },
     [](const pass::Event&) { return std::string(); },  // listening: the endpoint alone
     true},
    {"service", "", [](const pass::Event& e) { return when(e.event == EventKind::Listening, e.service); },
     [](const pass::Event&) { return std::string(); }},  // listening: the endpoint alone
    {"reconnected", "", [](const pass::Event& e) { return when(e.event == EventKind::Listening && e.reconnected, true); },
     [](const pass::Event&) { return std::string(); }},  // listening: the endpoint alone
    {"same_port", "", [](const pass::Event& e) { return when(e.event == EventKind::Listening && e.reconnected, e.same_port); },
     [](const pass::Event&) { return std::string(); }},  // listening: the endpoint alone
    {"bytes_in", "in", [](const pass::Event& e) { return when(e.event == EventKind::Closed && e.id, e.bytes_in); },
     [](const pass::Event& e) { return "in " + std::to_string(e.bytes_in) + " B,"; }},
    {"bytes_out", "out", [](const pass::Event& e) { return when(e.event == EventKind::Closed && e.id, e.bytes_out); },
     [](const pass::Event& e) { return "out " + std::to_string(e.bytes_out) + " B"; }},
    {"duration_ms", "", [](const pass::Event& e) {
       return when(e.event == EventKind::Closed && e.id, round_ms(e.duration_ms));
     },
     [](const pass::Event& e) { return "after " + format_ms(e.duration_ms); }},
    {"count", "", [](const pass::Event& e) { return when(e.event == EventKind::Refused, e.count); },
     [](const pass::Event& e) { return e.count > 1 ? std::to_string(e.count) + " connections" : std::string(); }},
    {"reason", "", [](const pass::Event& e) { return when(!e.reason.empty(), e.reason); },
     [](const pass::Event& e) {
       if (e.reason == "eof" || e.reason == pass::event_name(e.event)) return std::string();
       return "(" + e.reason + ")";
     }},
    {"retry_ms", "retrying in", [](const pass::Event& e) {
       return when(e.event == EventKind::Disconnected, round_ms(static_cast<double>(e.retry_ms)));
     },
     [](const pass::Event& e) { return "retrying in " + format_ms(static_cast<double>(e.retry_ms)); }},
};

}  // namespace

const FieldTable<pass::Event>& pass_event_fields() { return kPassEventFields; }
}  // namespace xnet::cmd

namespace xnet::pass {
void to_json(nlohmann::json& j, const Event& e) { j = cmd::fields_json(cmd::kPassEventFields, e); }
void print_text(std::ostream& os, const Event& e, const cmd::Style&) {
  os << cmd::fields_line(cmd::kPassEventFields, e) << '\n';
}
}  // namespace xnet::pass

namespace xnet::cmd {
namespace {

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
  auto cfg = unwrap(resolve_connection(o.conn, out));  // the timeout budget starts after the password
  lo.connect_timeout = std::chrono::milliseconds(static_cast<long long>(cfg.timeout * 1000));
  lo.keepalive = std::chrono::milliseconds(static_cast<long long>(o.keepalive * 1000));
  pass::ReconnectOptions rc;
  rc.enabled = !o.no_reconnect;
  rc.attempt_timeout = lo.connect_timeout;

  // With stdio as the data path, stdout is the connection: events go to stderr.
  const auto channel = lo.target == pass::Target::Stdio ? Output::Channel::Log : Output::Channel::Data;

  pass::Connect connect = [&](asio::io_context& io, Deadline d) -> Result<std::unique_ptr<pass::Link>> {
    auto session = xmpp::Session::open(io, cfg, out, d);
    if (!session) return fail(session.error());
    return std::make_unique<pass::OwningSessionLink<xmpp::Session>>(
        std::make_unique<xmpp::Session>(std::move(*session)));
  };
  auto on_event = [&](const pass::Event& e) {
    // Scripts poll --port-file: it names the current endpoint, also after a reconnect.
    if (e.event == EventKind::Listening && !o.port_file.empty()) unwrap(write_port_file(o.port_file, e));
    out.emit(e, channel);
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
  auto deadline = deadline_from(cfg.timeout);  // after the password: a prompt must not eat it
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
    run_close(*co, out);
  });
}

}  // namespace xnet::cmd
