// SPDX-License-Identifier: MIT
#include "server/server.hpp"

#include <asio.hpp>
#include <asio/ssl.hpp>

#include <csignal>
#include <deque>

#include "server/proxy_protocol.hpp"

namespace xnet::server {

using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;

std::string canonical_ip(const std::string& ip) {
  std::error_code ec;
  auto a = asio::ip::make_address(ip, ec);
  if (ec) return ip;
  if (a.is_v6()) {
    auto v6 = a.to_v6();
    if (v6.is_v4_mapped()) return asio::ip::make_address_v4(asio::ip::v4_mapped, v6).to_string();
    v6.scope_id(0);
    return v6.to_string();
  }
  return a.to_string();
}

namespace {

constexpr std::chrono::seconds kCloseGrace{3};

class Connection final : public Transport, public std::enable_shared_from_this<Connection> {
 public:
  Connection(Hub& hub, asio::ssl::context* ctx, tcp::socket sock, bool direct_tls, bool proxy)
      : hub_(hub),
        io_(sock.get_executor()),
        stream_(std::move(sock), *ctx),
        direct_tls_(direct_tls),
        proxy_(proxy),
        wake_(io_),
        tls_done_(io_),
        guard_(io_),
        tick_(io_),
        force_(io_) {}

  void start() {
    asio::co_spawn(io_, [self = shared_from_this()] { return self->run(); }, asio::detached);
  }

  // Transport
  void write(std::string data) override {
    if (closed_ || closing_) return;
    pending_ += data.size();
    queue_.push_back(std::move(data));
    wake_.cancel();
  }
  void start_tls() override {
    tls_requested_ = true;
    wake_.cancel();
  }
  void close() override {
    if (closing_) return;
    closing_ = true;
    wake_.cancel();
    force_.expires_after(kCloseGrace);
    force_.async_wait([self = shared_from_this()](std::error_code ec) {
      if (!ec) self->hard_close();
    });
  }
  void after(std::chrono::milliseconds delay, std::function<void()> fn) override {
    auto t = std::make_shared<asio::steady_timer>(io_, delay);
    t->async_wait([t, fn = std::move(fn), weak = weak_from_this()](std::error_code ec) {
      if (!ec && !weak.expired()) fn();
    });
  }
  std::size_t pending_bytes() const override { return pending_; }

 private:
  tcp::socket& sock() { return stream_.next_layer(); }

  void hard_close() {
    std::error_code ec;
    sock().shutdown(tcp::socket::shutdown_both, ec);
    sock().close(ec);
    closed_ = true;
    wake_.cancel();
    tls_done_.cancel();
    tick_.cancel();
    guard_.cancel();
    force_.cancel();
  }

  void arm_guard(std::chrono::seconds d) {
    guard_.expires_after(d);
    guard_.async_wait([weak = weak_from_this()](std::error_code ec) {
      if (ec) return;
      if (auto self = weak.lock()) self->hard_close();
    });
  }

  awaitable<void> run() {
    auto self = shared_from_this();
    std::error_code ec;
    auto peer = sock().remote_endpoint(ec);
    if (ec) co_return;
    Endpoint remote{canonical_ip(peer.address().to_string()), peer.port()};
    arm_guard(hub_.options().limits.auth_timeout);
    if (proxy_) {
      std::string head(proxy::kFixedHeader, '\0');
      co_await asio::async_read(sock(), asio::buffer(head), asio::redirect_error(use_awaitable, ec));
      if (ec) co_return hard_close();
      auto len = proxy::header_length(head);
      if (!len) {
        hub_.log().event("proxy_error", {{"ip", remote.ip}, {"message", len.error().message}});
        co_return hard_close();
      }
      head.resize(*len);
      co_await asio::async_read(sock(), asio::buffer(head.data() + proxy::kFixedHeader, *len - proxy::kFixedHeader),
                                asio::redirect_error(use_awaitable, ec));
      if (ec) co_return hard_close();
      auto src = proxy::parse(head);
      if (!src) {
        hub_.log().event("proxy_error", {{"ip", remote.ip}, {"message", src.error().message}});
        co_return hard_close();
      }
      if (*src) remote = **src;
    }
    if (direct_tls_) {
      co_await stream_.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(use_awaitable, ec));
      if (ec) {
        hub_.log().event("tls_failed", {{"ip", remote.ip}, {"message", ec.message()}});
        co_return hard_close();
      }
      tls_ = true;
    }
    guard_.cancel();
    session_ = std::make_unique<C2sSession>(hub_, *this, remote, tls_);
    asio::co_spawn(io_, [self] { return self->writer(); }, asio::detached);
    asio::co_spawn(io_, [self] { return self->ticker(); }, asio::detached);
    // Small per-connection read buffer: idle sessions dominate memory (stanzas span reads anyway).
    std::array<char, 4096> buf;
    while (!closed_) {
      std::size_t n = 0;
      if (tls_)
        n = co_await stream_.async_read_some(asio::buffer(buf), asio::redirect_error(use_awaitable, ec));
      else
        n = co_await sock().async_read_some(asio::buffer(buf), asio::redirect_error(use_awaitable, ec));
      if (ec) break;
      session_->on_data(std::string_view(buf.data(), n));
      if (tls_requested_ || handshaking_) {
        tls_done_.expires_at(asio::steady_timer::time_point::max());
        co_await tls_done_.async_wait(asio::redirect_error(use_awaitable, ec));
        if (!tls_) break;
      }
    }
    session_->on_disconnect();
    hard_close();
  }

  awaitable<void> writer() {
    auto self = shared_from_this();
    std::error_code ec;
    while (!closed_) {
      while (!queue_.empty() && !closed_) {
        std::string d = std::move(queue_.front());
        queue_.pop_front();
        if (tls_)
          co_await asio::async_write(stream_, asio::buffer(d), asio::redirect_error(use_awaitable, ec));
        else
          co_await asio::async_write(sock(), asio::buffer(d), asio::redirect_error(use_awaitable, ec));
        pending_ -= d.size();
        if (ec) co_return hard_close();
      }
      if (closed_) co_return;
      if (tls_requested_) {
        tls_requested_ = false;
        handshaking_ = true;
        arm_guard(std::chrono::seconds(10));
        co_await stream_.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(use_awaitable, ec));
        handshaking_ = false;
        guard_.cancel();
        if (ec) {
          hub_.log().event("tls_failed", {{"session", session_->id()}, {"message", ec.message()}});
          tls_done_.cancel();
          co_return hard_close();
        }
        tls_ = true;
        session_->on_tls_ready();
        tls_done_.cancel();
        continue;
      }
      if (closing_) {
        if (tls_) {
          // A TLS close_notify, bounded: the peer may be gone.
          arm_guard(std::chrono::seconds(1));
          co_await stream_.async_shutdown(asio::redirect_error(use_awaitable, ec));
        }
        co_return hard_close();
      }
      wake_.expires_at(asio::steady_timer::time_point::max());
      co_await wake_.async_wait(asio::redirect_error(use_awaitable, ec));
    }
  }

  awaitable<void> ticker() {
    auto self = shared_from_this();
    std::error_code ec;
    while (!closed_) {
      tick_.expires_after(std::chrono::seconds(1));
      co_await tick_.async_wait(asio::redirect_error(use_awaitable, ec));
      if (closed_) break;
      session_->on_timer(Clock::now());
    }
  }

  Hub& hub_;
  asio::any_io_executor io_;
  asio::ssl::stream<tcp::socket> stream_;
  bool direct_tls_, proxy_;
  bool tls_ = false, tls_requested_ = false, handshaking_ = false, closing_ = false, closed_ = false;
  std::deque<std::string> queue_;
  std::size_t pending_ = 0;
  asio::steady_timer wake_, tls_done_, guard_, tick_, force_;
  std::unique_ptr<C2sSession> session_;
};

}  // namespace

struct Server::Impl {
  asio::io_context& io;
  Hub& hub;
  asio::ssl::context ctx{asio::ssl::context::tls_server};
  bool tls_loaded = false;
  struct Acc {
    std::unique_ptr<tcp::acceptor> acceptor;
    ListenerSpec spec;
  };
  std::vector<Acc> acceptors;
  asio::signal_set signals{io, SIGTERM, SIGINT, SIGHUP};
  asio::steady_timer drain{io};
  bool stopping = false;
  std::function<void()> on_hup;

  Impl(asio::io_context& i, Hub& h) : io(i), hub(h) {}

  awaitable<void> accept_loop(tcp::acceptor& a, ListenerSpec spec) {
    std::error_code ec;
    while (!stopping) {
      tcp::socket s = co_await a.async_accept(asio::redirect_error(use_awaitable, ec));
      if (ec) {
        if (ec == asio::error::operation_aborted || stopping) co_return;
        hub.log().event("accept_error", {{"message", ec.message()}});
        // Out of file descriptors and the like: do not spin.
        asio::steady_timer t(io, std::chrono::milliseconds(100));
        co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
        continue;
      }
      s.set_option(tcp::no_delay(true), ec);
      std::make_shared<Connection>(hub, &ctx, std::move(s), spec.direct_tls, spec.proxy_protocol)->start();
    }
  }

  void wait_signal(Server& owner) {
    signals.async_wait([this, &owner](std::error_code ec, int sig) {
      if (ec) return;
      if (sig == SIGHUP) {
        if (on_hup) on_hup();
        wait_signal(owner);
        return;
      }
      owner.stop_signal_ = sig;
      owner.shutdown();
    });
  }

  void drain_wait(int rounds) {
    drain.expires_after(std::chrono::milliseconds(50));
    drain.async_wait([this, rounds](std::error_code ec) {
      if (ec) return;
      if (hub.live_sessions() == 0 || rounds <= 0) {
        io.stop();
        return;
      }
      drain_wait(rounds - 1);
    });
  }
};

Server::Server(asio::io_context& io, Hub& hub) : impl_(std::make_unique<Impl>(io, hub)) { hub.set_io(&io); }
Server::~Server() = default;

Result<void> Server::load_tls(const std::string& cert_file, const std::string& key_file) {
  std::error_code ec;
  auto& ctx = impl_->ctx;
  ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                  asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 |
                  asio::ssl::context::single_dh_use);
  // Idle TLS sessions give their OpenSSL record buffers back.
  SSL_CTX_set_mode(ctx.native_handle(), SSL_MODE_RELEASE_BUFFERS);
  ctx.use_certificate_chain_file(cert_file, ec);
  if (ec) return fail(Category::Config, "cannot load certificate " + cert_file + ": " + ec.message());
  ctx.use_private_key_file(key_file, asio::ssl::context::pem, ec);
  if (ec) return fail(Category::Config, "cannot load key " + key_file + ": " + ec.message());
  impl_->tls_loaded = true;
  return {};
}

Result<std::vector<BoundListener>> Server::listen(const std::vector<ListenerSpec>& specs) {
  std::vector<BoundListener> out;
  // Port 0: the first address of a kind picks a free port, the others reuse it.
  for (int attempt = 0; attempt < 8; ++attempt) {
    impl_->acceptors.clear();
    out.clear();
    int shared_port[2] = {-1, -1};
    bool retry = false;
    for (const auto& spec : specs) {
      std::error_code ec;
      auto addr = asio::ip::make_address(spec.address, ec);
      if (ec) return fail(Category::Config, "not an IP address: " + spec.address, "use --listen 127.0.0.1 or ::1");
      int& shared = shared_port[spec.direct_tls ? 1 : 0];
      int port = spec.port != 0 ? spec.port : (shared >= 0 ? shared : 0);
      auto acc = std::make_unique<tcp::acceptor>(impl_->io);
      tcp::endpoint ep(addr, static_cast<unsigned short>(port));
      acc->open(ep.protocol(), ec);
      if (!ec) acc->set_option(tcp::acceptor::reuse_address(true), ec);
      if (!ec && addr.is_v6()) acc->set_option(asio::ip::v6_only(true), ec);
      if (!ec) acc->bind(ep, ec);
      if (!ec) acc->listen(asio::socket_base::max_listen_connections, ec);
      if (ec) {
        if (spec.port == 0 && shared >= 0 && ec == asio::error::address_in_use) {
          retry = true;
          break;
        }
        return fail(Category::Os, "cannot listen on " + spec.address + " port " + std::to_string(port) + ": " +
                                      ec.message());
      }
      auto bound = acc->local_endpoint().port();
      if (spec.port == 0 && shared < 0) shared = bound;
      out.push_back({spec.address, bound, spec.direct_tls});
      impl_->acceptors.push_back({std::move(acc), spec});
    }
    if (!retry) return out;
  }
  return fail(Category::Os, "cannot find a free port shared by every listen address");
}

void Server::start(std::function<void()> on_hup) {
  impl_->on_hup = std::move(on_hup);
  for (auto& a : impl_->acceptors) {
    tcp::acceptor& acc = *a.acceptor;
    asio::co_spawn(impl_->io, impl_->accept_loop(acc, a.spec), asio::detached);
  }
  impl_->wait_signal(*this);
}

void Server::shutdown() {
  if (impl_->stopping) return;
  impl_->stopping = true;
  impl_->hub.log().event("shutdown", {{"signal", stop_signal_}, {"sessions", impl_->hub.live_sessions()}});
  for (auto& a : impl_->acceptors) {
    std::error_code ec;
    a.acceptor->close(ec);
  }
  std::error_code ec;
  impl_->signals.cancel(ec);
  impl_->hub.shutdown();
  impl_->drain_wait(60);
}

}  // namespace xnet::server
