// SPDX-License-Identifier: MIT
#include "server/component.hpp"

#include <asio.hpp>

#include <deque>

#include "server/crypto.hpp"
#include "server/stanza.hpp"
#include "xml/stream_parser.hpp"

namespace xnet::server {

std::string handshake_digest(std::string_view stream_id, std::string_view secret) {
  return crypto::hex(crypto::digest(crypto::Hash::Sha1, std::string(stream_id) + std::string(secret)));
}

struct ComponentCore::Slot final : ServiceHost {
  ComponentCore& core;
  std::unique_ptr<Service> svc;
  asio::io_context* io_ctx;
  Slot(ComponentCore& c, std::unique_ptr<Service> s, asio::io_context* io) : core(c), svc(std::move(s)), io_ctx(io) {}
  asio::io_context& io() override { return *io_ctx; }
  void send(xml::Element st) override {
    auto from = st.attr_or("from");
    if (from.empty() || jid_domain(normalize_jid(from)) != core.domain_) st.set("from", core.domain_);
    st.ns = std::string(kComponentNs);
    core.send_(st);
  }
  const std::string& domain() const override { return core.domain_; }
  const std::string& service_jid() const override { return core.domain_; }
  bool online(const std::string&) const override { return false; }
  Trace& trace() override { return core.trace_; }
};

namespace {

BuiltinIqOptions component_iq_options(const std::string& domain, std::vector<ExternalService> services) {
  BuiltinIqOptions b;
  b.host = IqHost::Component;
  b.jid = domain;
  b.external_services = std::move(services);
  b.max_watchers = 10000;
  return b;
}

}  // namespace

ComponentCore::ComponentCore(std::string domain, std::vector<ExternalService> services, EventLog& log, Trace& trace,
                             std::function<void(const xml::Element&)> send)
    : domain_(normalize_jid(domain)),
      iq_(component_iq_options(domain_, std::move(services))),
      log_(log),
      trace_(trace),
      send_(std::move(send)) {}

ComponentCore::~ComponentCore() = default;

void ComponentCore::add_service(std::unique_ptr<Service> service, asio::io_context* io) {
  auto slot = std::make_unique<Slot>(*this, std::move(service), io);
  Slot& ref = *slot;
  services_.push_back(std::move(slot));
  iq_.plug(*ref.svc, domain_);
  ref.svc->attach(ref);
}

void ComponentCore::detach() {
  for (auto& s : services_) s->svc->detach();
}

void ComponentCore::send(xml::Element st) {
  st.ns = std::string(kComponentNs);
  send_(st);
}

void ComponentCore::handle(const xml::Element& in) {
  xml::Element st = in;
  st.ns = std::string(kComponentNs);
  auto type = st.attr_or("type");
  auto from = st.attr_or("from");
  auto to = normalize_jid(st.attr_or("to"));
  // XEP-0114 §3: every stanza carries from and to; ours must be addressed to our domain.
  if (from.empty() || to.empty() || jid_domain(to) != domain_) return;
  if (st.name == "presence" && type == "unavailable") return iq_.session_ended(from);
  Origin origin{from, std::nullopt, false, false};
  if (const auto* svc = iq_.service_for(st)) {
    if (auto reply = iq_.to_service(*svc, st, origin)) send(std::move(*reply));
    return;
  }
  if (st.name != "iq" || (type != "get" && type != "set")) {
    // Results, errors (push and ping acknowledgements), messages: offer them to services, else drop.
    for (auto& s : services_)
      if (s->svc->on_stanza(st, origin)) return;
    return;
  }
  send(iq_.answer(st, origin));
}

void ComponentCore::reload(std::vector<ExternalService> list) {
  int pushes = 0;
  for (auto& push : iq_.reload(std::move(list))) {
    send(std::move(push));
    ++pushes;
  }
  log_.event("reload", {{"external_services", iq_.external_services().size()}, {"pushes", pushes}});
}

// ---------------------------------------------------------------------------------------------

using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;

struct ComponentLink::Impl : xml::StreamHandler, std::enable_shared_from_this<Impl> {
  asio::io_context& io;
  ComponentOptions opts;
  EventLog& log;
  Trace& trace;
  ComponentCore core;
  tcp::socket sock;
  asio::steady_timer wake, guard;
  std::deque<std::string> queue;
  xml::StreamParser parser;
  std::string stream_id;
  bool ready = false, closed = false, closing = false;
  std::string error_condition;
  std::vector<xml::Element> stanzas;
  std::function<void()> on_ready;
  std::function<void(Result<void>)> on_end;

  Impl(asio::io_context& i, ComponentOptions o, std::vector<ExternalService> svcs, EventLog& l, Trace& t)
      : io(i),
        opts(std::move(o)),
        log(l),
        trace(t),
        core(opts.jid, std::move(svcs), l, t, [this](const xml::Element& st) { send(st); }),
        sock(i),
        wake(i),
        guard(i),
        parser(*this, xml::StreamLimits{opts.max_stanza_bytes, 32, false}) {}

  void on_open(const xml::Element& root) override {
    stream_id = root.attr_or("id");
    if (root.attr_or("xmlns") != kComponentNs) error_condition = "invalid-namespace";
  }
  void on_stanza(xml::Element st) override { stanzas.push_back(std::move(st)); }
  void on_close() override { closing = true; }

  void write(std::string s) {
    if (closed) return;
    if (trace.enabled(TraceArea::Xml)) trace.wire(TraceArea::Xml, TraceDir::Sent, "[component] " + s);
    queue.push_back(std::move(s));
    wake.cancel();
  }
  void send(const xml::Element& st) { write(st.str(kComponentNs)); }

  void finish(Result<void> r) {
    if (closed) return;
    closed = true;
    std::error_code ec;
    sock.shutdown(tcp::socket::shutdown_both, ec);
    sock.close(ec);
    wake.cancel();
    guard.cancel();
    if (on_end) on_end(std::move(r));
  }

  awaitable<void> writer() {
    auto self = shared_from_this();
    std::error_code ec;
    while (!closed) {
      while (!queue.empty() && !closed) {
        std::string d = std::move(queue.front());
        queue.pop_front();
        co_await asio::async_write(sock, asio::buffer(d), asio::redirect_error(use_awaitable, ec));
        if (ec) co_return finish(fail(Category::Io, "component link: " + ec.message()));
      }
      if (closed) co_return;
      if (closing) co_return finish({});
      wake.expires_at(asio::steady_timer::time_point::max());
      co_await wake.async_wait(asio::redirect_error(use_awaitable, ec));
    }
  }

  awaitable<void> run() {
    auto self = shared_from_this();
    std::error_code ec;
    guard.expires_after(opts.timeout);
    guard.async_wait([weak = weak_from_this()](std::error_code e) {
      if (e) return;
      if (auto s = weak.lock(); s && !s->ready) s->finish(fail(Category::Timeout, "no component handshake within the timeout"));
    });
    tcp::resolver resolver(io);
    auto eps = co_await resolver.async_resolve(opts.host, std::to_string(opts.port), asio::redirect_error(use_awaitable, ec));
    if (closed) co_return;
    if (ec) co_return finish(fail(Category::Dns, "cannot resolve router " + opts.host + ": " + ec.message()));
    co_await asio::async_connect(sock, eps, asio::redirect_error(use_awaitable, ec));
    if (closed) co_return;
    if (ec)
      co_return finish(fail(Category::Connect, "cannot connect to router " + opts.host + ":" + std::to_string(opts.port) +
                                                  ": " + ec.message()));
    sock.set_option(tcp::no_delay(true), ec);
    asio::co_spawn(io, writer(), asio::detached);
    write("<?xml version='1.0'?><stream:stream xmlns='jabber:component:accept' "
          "xmlns:stream='http://etherx.jabber.org/streams' to='" + xml::escape_attr(opts.jid) + "'>");
    std::array<char, 16384> buf;
    bool handshake_sent = false;
    while (!closed) {
      std::size_t n = co_await sock.async_read_some(asio::buffer(buf), asio::redirect_error(use_awaitable, ec));
      if (closed) co_return;
      if (ec) {
        co_return finish(ready ? fail(Category::Io, "router closed the component link")
                               : fail(Category::Protocol, "router closed the link during the handshake"));
      }
      std::string_view data(buf.data(), n);
      if (trace.enabled(TraceArea::Xml)) trace.wire(TraceArea::Xml, TraceDir::Received, "[component] " + std::string(data));
      auto r = parser.feed(data);
      if (!error_condition.empty()) {
        write(stream_error(error_condition));
        closing = true;
        co_return finish(fail(Category::Protocol, "router stream: " + error_condition));
      }
      if (!stream_id.empty() && !handshake_sent) {
        write("<handshake>" + handshake_digest(stream_id, opts.secret) + "</handshake>");
        handshake_sent = true;
      }
      std::vector<xml::Element> batch;
      batch.swap(stanzas);
      for (auto& st : batch) {
        if (st.ns == kStreamNs && st.name == "error") {
          std::string cond = st.first_child() ? st.first_child()->name : "undefined-condition";
          co_return finish(fail(cond == "not-authorized" || cond == "conflict" || cond == "host-unknown"
                                    ? Category::Auth
                                    : Category::Protocol,
                                "router refused the component: " + cond,
                                cond == "not-authorized" ? "check the shared secret" : ""));
        }
        if (!ready) {
          if (st.name == "handshake") {
            ready = true;
            guard.cancel();
            log.event("component_ready", {{"jid", opts.jid}, {"router", opts.host + ":" + std::to_string(opts.port)}});
            if (on_ready) on_ready();
          }
          continue;
        }
        core.handle(st);
      }
      if (!r) {
        write(stream_error(parser.error_condition().empty() ? "not-well-formed" : parser.error_condition()));
        closing = true;
        wake.cancel();
        co_return finish(fail(Category::Protocol, r.error().message));
      }
      if (closing) {
        write("</stream:stream>");
        co_return finish(ready ? fail(Category::Io, "router closed the component stream")
                               : fail(Category::Protocol, "router closed the stream during the handshake"));
      }
    }
  }
};

ComponentLink::ComponentLink(asio::io_context& io, ComponentOptions opts, std::vector<ExternalService> services,
                             EventLog& log, Trace& trace)
    : impl_(std::make_shared<Impl>(io, std::move(opts), std::move(services), log, trace)) {}

ComponentLink::~ComponentLink() {
  impl_->on_end = nullptr;
  impl_->finish({});
}

ComponentCore& ComponentLink::core() { return impl_->core; }

void ComponentLink::start(std::function<void()> on_ready, std::function<void(Result<void>)> on_end) {
  impl_->on_ready = std::move(on_ready);
  impl_->on_end = std::move(on_end);
  asio::co_spawn(impl_->io, impl_->run(), asio::detached);
}

void ComponentLink::stop() {
  if (impl_->closed) return;
  impl_->core.detach();
  impl_->write("</stream:stream>");
  impl_->closing = true;
  impl_->wake.cancel();
}

}  // namespace xnet::server
