// SPDX-License-Identifier: MIT
#include "server/serve_setup.hpp"

#include <unistd.h>

#include <csignal>
#include <cstdlib>
#include <filesystem>

#include <asio.hpp>

#include "password.hpp"
#include "server/accounts.hpp"
#include "server/certificate.hpp"
#include "server/component.hpp"
#include "server/hub.hpp"
#include "server/secret.hpp"
#include "server/stanza.hpp"
#include "util/hostport.hpp"

namespace xnet::server {

namespace {

Result<std::vector<ExternalService>> cli_services(const ServeOverrides& o) {
  std::vector<ExternalService> out;
  std::string secret;
  if (!o.turn_secret_file.empty()) {
    std::vector<std::string> w;
    auto s = password::read_file(o.turn_secret_file, w);
    if (!s) return fail(s.error());
    secret = *s;
  }
  auto add = [&](const std::string& spec, const std::string& type) -> Result<void> {
    auto hp = util::parse_host_port(spec);
    if (!hp) return fail(hp.error());
    ExternalService s;
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
    if (auto r = add(s, "stun"); !r) return fail(r.error());
  for (const auto& s : o.turn)
    if (auto r = add(s, "turn"); !r) return fail(r.error());
  return out;
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

}  // namespace

Result<ServeConfig> resolve_serve_config(const ServeOverrides& o) {
  ServeConfig c;
  if (!o.config_file.empty()) {
    auto r = load_serve_config(o.config_file);
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
  if (c.certificate.empty() != c.key.empty()) return fail(Category::Usage, "--cert and --key go together");
  if (c.state_dir.empty()) c.state_dir = default_state_dir().string();
  if (c.accounts_file.empty())
    c.accounts_file = (std::filesystem::path(c.state_dir) / "accounts.json").string();
  else if (std::filesystem::path(c.accounts_file).is_relative() && !o.config_file.empty() && o.accounts_file.empty())
    c.accounts_file = (std::filesystem::path(c.state_dir) / c.accounts_file).string();
  auto extra = cli_services(o);
  if (!extra) return fail(extra.error());
  for (auto& s : *extra) c.external_services.push_back(std::move(s));
  if (normalize_jid(c.domain).empty() || c.domain.find('@') != std::string::npos ||
      c.domain.find('/') != std::string::npos)
    return fail(Category::Usage, "invalid domain '" + c.domain + "'");
  return c;
}

bool anonymous_allowed(const ServeOverrides& o, const ServeConfig& c, bool no_accounts) {
  return o.anonymous || (!o.no_anonymous && (c.anonymous || no_accounts));
}

struct ServeInstance::Impl {
  Impl(asio::io_context& i, ServeOverrides ov, HubOptions ho, Accounts accounts, EventLog& l, Trace& t)
      : io(i), o(std::move(ov)), log(l), hub(std::move(ho), std::move(accounts), l, t), srv(i, hub) {}
  asio::io_context& io;
  ServeOverrides o;
  EventLog& log;
  Hub hub;
  Server srv;
  ServeListening listening;
};

ServeInstance::ServeInstance() = default;
ServeInstance::~ServeInstance() = default;

const ServeListening& ServeInstance::listening() const { return impl_->listening; }

Result<std::unique_ptr<ServeInstance>> ServeInstance::open(asio::io_context& io, ServeOverrides o, ServeConfig cfg,
                                                           EventLog& log, Trace& trace) {
  auto accounts = Accounts::load(cfg.accounts_file);
  if (!accounts) return fail(accounts.error());
  const bool anonymous = anonymous_allowed(o, cfg, accounts->empty());

  // The certificate: from options, or generated once into the state directory.
  ServeListening rep;
  if (cfg.certificate.empty()) {
    auto files = ensure_self_signed(cfg.state_dir, normalize_jid(cfg.domain));
    if (!files) return fail(files.error());
    rep.certificate = files->cert.string();
    cfg.key = files->key.string();
    rep.fingerprint_sha256 = files->fingerprint;
    rep.certificate_generated = files->generated;
  } else {
    auto fp = certificate_fingerprint(cfg.certificate);
    if (!fp) return fail(fp.error());
    rep.certificate = cfg.certificate;
    rep.fingerprint_sha256 = *fp;
  }

  HubOptions ho;
  ho.domain = cfg.domain;
  ho.require_tls = cfg.require_starttls;
  ho.allow_anonymous = anonymous;
  ho.allow_plain = cfg.plain;
  ho.server_name = cfg.server_name;
  auto secret = load_server_secret(cfg.state_dir);
  if (!secret) return fail(secret.error());
  ho.server_secret = *secret;
  auto tokens = FastTokenStore::open(std::filesystem::path(cfg.state_dir) / kFastTokenFile, ho.server_secret);
  if (!tokens) return fail(tokens.error());
  ho.fast_tokens = std::make_shared<FastTokenStore>(std::move(*tokens));
  ho.limits = cfg.limits;
  ho.external_services = cfg.external_services;

  std::unique_ptr<ServeInstance> inst(new ServeInstance());
  inst->impl_ = std::make_unique<Impl>(io, o, std::move(ho), std::move(*accounts), log, trace);
  auto& im = *inst->impl_;
  if (auto r = im.srv.load_tls(rep.certificate, cfg.key, cfg.tls_session_tickets); !r) return fail(r.error());
  // Enough descriptors for many idle sessions, and a cap below them so accept() never fails.
  auto fd = raise_fd_limit();
  auto cap = connection_cap(fd, cfg.limits.max_connections);
  im.srv.set_max_connections(cap);
  log.event("fd_limit", {{"soft_before", fd.soft_before}, {"soft", fd.soft}, {"hard", fd.hard},
                         {"max_connections", cap}});

  // Default loopback addresses: skip ::1 on a machine without IPv6 instead of failing.
  std::vector<std::string> addrs = cfg.listen;
  if (o.listen.empty()) {
    std::erase_if(addrs, [&](const std::string& a) {
      if (a != "::1" || can_bind(a)) return false;
      trace.warning("IPv6 loopback not available; listening on IPv4 only");
      return true;
    });
  }
  std::vector<ListenerSpec> specs;
  for (const auto& a : addrs) specs.push_back({a, cfg.c2s_port, false, cfg.proxy_protocol});
  if (cfg.direct_tls)
    for (const auto& a : addrs) specs.push_back({a, cfg.direct_tls_port, true, cfg.proxy_protocol});
  auto bound = im.srv.listen(specs);
  if (!bound) return fail(bound.error());

  for (const auto& b : *bound) (b.direct_tls ? rep.direct_tls_port : rep.c2s_port) = b.port;
  rep.listeners = *bound;
  rep.domain = normalize_jid(cfg.domain);
  rep.anonymous = anonymous;
  rep.accounts = im.hub.accounts().users().size();
  rep.accounts_file = cfg.accounts_file;
  rep.proxy_protocol = cfg.proxy_protocol;
  rep.pid = static_cast<long>(::getpid());
  rep.state_dir_option = o.state_dir;
  std::string first_addr = bound->empty() ? "127.0.0.1" : bound->front().address;
  auto pass = pass::make_service(o.pass, first_addr, log);
  if (!pass) return fail(pass.error());
  if (*pass) {
    rep.pass_jid = (*pass)->name() + "." + rep.domain;
    rep.pass_range = o.pass.range;
    im.hub.add_service(std::move(*pass));
  }
  im.listening = std::move(rep);
  return inst;
}

void ServeInstance::run() {
  auto& im = *impl_;
  im.srv.start([&im] {
    auto c = resolve_serve_config(im.o);
    if (!c) {
      im.log.event("reload_failed", {{"message", c.error().message}});
      return;
    }
    std::optional<Accounts> accts;
    if (auto a = Accounts::load(c->accounts_file))
      accts = std::move(*a);
    else
      im.log.event("reload_failed", {{"message", a.error().message}});
    // The anonymous rule follows the accounts at once: off as soon as the first one exists.
    bool empty = accts ? accts->empty() : im.hub.accounts().empty();
    im.hub.reload(std::move(accts), anonymous_allowed(im.o, *c, empty), c->external_services);
  });
  im.io.run();
}

Result<void> run_component(const ServeOverrides& o, const ServeConfig& cfg, EventLog& log, Trace& trace,
                           const std::function<void(const ComponentReady&)>& on_ready) {
  if (cfg.component_router.empty()) return fail(Category::Usage, "--component needs --router HOST:PORT");
  auto jid = normalize_jid(cfg.component_jid);
  if (jid.empty() || jid.find('@') != std::string::npos || jid.find('/') != std::string::npos)
    return fail(Category::Usage, "invalid component JID '" + cfg.component_jid + "'",
                "use a domain such as xnet.example.org");
  auto hp = util::parse_host_port(cfg.component_router);
  if (!hp) return fail(hp.error());
  ComponentOptions co;
  co.jid = jid;
  co.host = hp->host;
  co.port = hp->port ? hp->port : 5347;
  if (!cfg.component_secret_file.empty()) {
    std::vector<std::string> warnings;
    auto s = password::read_file(cfg.component_secret_file, warnings);
    if (!s) return fail(s.error());
    co.secret = *s;
  } else if (const char* e = std::getenv("XNET_COMPONENT_SECRET"); e && *e) {
    co.secret = e;
  } else {
    return fail(Category::Usage, "no component secret",
                "use --component-secret-file FILE or the XNET_COMPONENT_SECRET environment variable");
  }
  asio::io_context io;
  ComponentLink link(io, co, cfg.external_services, log, trace);
  auto pass = pass::make_service(o.pass, cfg.listen.empty() ? "127.0.0.1" : cfg.listen.front(), log);
  if (!pass) return fail(pass.error());
  if (*pass) link.core().add_service(std::move(*pass), &io);
  Result<void> result;
  int stop_signal = 0;
  asio::signal_set sigs(io, SIGTERM, SIGINT, SIGHUP);
  std::function<void()> wait_sig = [&] {
    sigs.async_wait([&](std::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        auto c = resolve_serve_config(o);
        if (!c)
          log.event("reload_failed", {{"message", c.error().message}});
        else
          link.core().reload(c->external_services);
        wait_sig();
        return;
      }
      stop_signal = sig;
      link.stop();
    });
  };
  wait_sig();
  ComponentReady ready{jid, util::format_host_port(co.host, co.port), static_cast<long>(::getpid())};
  link.start([&] { on_ready(ready); },
             [&](Result<void> r) {
               result = std::move(r);
               std::error_code ec;
               sigs.cancel(ec);
               io.stop();
             });
  io.run();
  if (stop_signal) return {};
  return result;
}

}  // namespace xnet::server
