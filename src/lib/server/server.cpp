// SPDX-License-Identifier: MIT
#include "server/server.hpp"

#include <asio.hpp>
#include <asio/ssl.hpp>

#include <malloc.h>
#include <sys/resource.h>
#include <sys/socket.h>

#include <csignal>
#include <limits>
#include <map>
#include <unordered_map>
#include <unordered_set>

#include "server/stanza.hpp"
#include "server/tls_socket.hpp"

#include "server/proxy_protocol.hpp"

namespace xnet::server {

using asio::awaitable;
using asio::use_awaitable;
using asio::ip::tcp;
using Socket = TlsSocket::Socket;
using Acceptor = asio::basic_socket_acceptor<tcp, asio::io_context::executor_type>;

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

// One read buffer for the whole loop: a connection's data is handed to its session (which
// copies what it keeps) before the next wait, so idle connections hold no buffer.
char g_read_buf[16 * 1024];

// Room inside each Connection for the one readiness wait an idle connection has pending (Asio's
// custom handler allocation): no heap block per wait, and none kept per idle session.
class WaitMemory {
 public:
  void* allocate(std::size_t size) {
    if (!in_use_ && size <= sizeof storage_) {
      in_use_ = true;
      return storage_;
    }
    return ::operator new(size);
  }
  void deallocate(void* p) {
    if (p == storage_) in_use_ = false;
    else ::operator delete(p);
  }

 private:
  alignas(std::max_align_t) unsigned char storage_[96];  // a wait is 96 bytes with Asio 1.22 (x86-64)
  bool in_use_ = false;
};

template <typename T>
struct WaitAllocator {
  using value_type = T;
  WaitMemory* mem;
  explicit WaitAllocator(WaitMemory& m) noexcept : mem(&m) {}
  template <typename U>
  WaitAllocator(const WaitAllocator<U>& o) noexcept : mem(o.mem) {}
  T* allocate(std::size_t n) { return static_cast<T*>(mem->allocate(sizeof(T) * n)); }
  void deallocate(T* p, std::size_t) noexcept { mem->deallocate(p); }
  template <typename U>
  bool operator==(const WaitAllocator<U>& o) const noexcept { return mem == o.mem; }
  template <typename U>
  bool operator!=(const WaitAllocator<U>& o) const noexcept { return mem != o.mem; }
};

}  // namespace

// The Asio side of one client connection. Nothing per connection while idle but one readiness
// wait (a plain handler, no coroutine frame): the Server's ticker drives timeouts, writes go out
// at once and wait for writability only when the socket is full. Coroutines run only for the
// short phases that need them (PROXY header, TLS handshakes) and end with them.
class Connection final : public Transport, public std::enable_shared_from_this<Connection> {
 public:
  Connection(Server::Impl& srv, Socket sock, std::string ip, bool direct_tls, bool proxy);
  ~Connection() override;

  void start();
  // Transport
  void write(std::string data) override;
  void start_tls() override {
    tls_requested_ = true;
  }
  void close() override;
  void after(std::chrono::milliseconds delay, std::function<void()> fn) override;
  std::size_t pending_bytes() const override { return out_.size() - out_off_; }
  std::string tls_exporter() override {
    // RFC 9266: tls-exporter only with TLS 1.3 (TLS 1.2 without EMS would be unsafe).
    SSL* ssl = sock_.native();
    if (!ssl || !sock_.secure() || SSL_version(ssl) != TLS1_3_VERSION) return {};
    static constexpr char kLabel[] = "EXPORTER-Channel-Binding";
    unsigned char out[32];
    if (SSL_export_keying_material(ssl, out, sizeof out, kLabel, sizeof kLabel - 1, nullptr, 0, 0) != 1) return {};
    return std::string(reinterpret_cast<const char*>(out), sizeof out);
  }

  /// Called about once a second by the Server: handshake deadline and the session's timers.
  void tick(Clock::time_point now);
  void hard_close();
  C2sSession* session() { return session_.get(); }
  const std::string& accept_ip() const { return ip_; }

 private:
  awaitable<void> run();
  awaitable<void> starttls();
  awaitable<bool> drain_output();
  void wait_readable();
  void on_readable(std::error_code ec);
  void end();
  void flush();
  void finish_close();

  Server::Impl& srv_;
  TlsSocket sock_;
  std::string ip_;  ///< the socket's peer address (counted per address at accept)
  bool direct_tls_, proxy_;
  bool tls_requested_ = false, handshaking_ = false, closing_ = false, closed_ = false, write_waiting_ = false,
       ended_ = false, reading_ = false;
  std::string out_;
  std::size_t out_off_ = 0;
  Clock::time_point deadline_;  ///< handshake deadline; max() once the stream header came
  Clock::time_point close_by_ = Clock::time_point::max();
  std::unique_ptr<C2sSession> session_;
  WaitMemory wait_mem_;
};

struct Server::Impl {
  asio::io_context& io;
  Hub& hub;
  asio::ssl::context ctx{asio::ssl::context::tls_server};
  bool tls_loaded = false;
  struct Acc {
    std::unique_ptr<Acceptor> acceptor;
    ListenerSpec spec;
  };
  std::vector<Acc> acceptors;
  asio::signal_set signals{io, SIGTERM, SIGINT, SIGHUP};
  asio::steady_timer drain{io};
  asio::steady_timer ticker{io};
  bool stopping = false;
  std::function<void()> on_hup;
  std::unordered_set<Connection*> conns;
  std::unordered_map<std::string, int> per_ip;
  std::size_t max_connections = 0;
  unsigned ticks = 0;
  // Refusals are logged at most once a second per kind, with a count.
  std::map<std::string, std::pair<Clock::time_point, long long>> refused;

  Impl(asio::io_context& i, Hub& h) : io(i), hub(h) {}

  std::size_t cap() const {
    if (max_connections) return max_connections;
    return hub.options().limits.max_connections > 0 ? static_cast<std::size_t>(hub.options().limits.max_connections)
                                                    : std::numeric_limits<std::size_t>::max();
  }

  void log_refusal(const std::string& limit, const std::string& ip) {
    auto now = Clock::now();
    auto& [last, count] = refused[limit];
    ++count;
    if (now - last < std::chrono::seconds(1)) return;
    hub.log().event("limit", {{"limit", limit}, {"ip", ip}, {"refused", count}});
    last = now;
    count = 0;
  }

  void refuse(Socket& s, const ListenerSpec& spec, const std::string& limit, const std::string& ip) {
    log_refusal(limit, ip);
    std::error_code ec;
    if (!spec.direct_tls && !spec.proxy_protocol) {
      // Best effort, never waits: a stream error the client can show.
      std::string out = stream_header(kClientNs, hub.domain(), hub.next_id("c2s-")) +
                        stream_error(limit == "connections" ? "resource-constraint" : "policy-violation",
                                     limit == "connections" ? "server full" : "too many connections from your address");
      ::send(s.native_handle(), out.data(), out.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
    }
    s.shutdown(tcp::socket::shutdown_both, ec);
    s.close(ec);
  }

  awaitable<void> accept_loop(Acceptor& a, ListenerSpec spec) {
    std::error_code ec;
    while (!stopping) {
      Socket s = co_await a.async_accept(asio::redirect_error(use_awaitable, ec));
      if (ec) {
        if (ec == asio::error::operation_aborted || stopping) co_return;
        hub.log().event("accept_error", {{"message", ec.message()}});
        // Out of file descriptors and the like: do not spin.
        asio::steady_timer t(io, std::chrono::milliseconds(100));
        co_await t.async_wait(asio::redirect_error(use_awaitable, ec));
        continue;
      }
      auto peer = s.remote_endpoint(ec);
      if (ec) continue;
      std::string ip = canonical_ip(peer.address().to_string());
      // Limits at accept: silent and mid-handshake connections count too. Behind a PROXY
      // header the real address is known later (the session counts it then).
      if (conns.size() >= cap()) {
        refuse(s, spec, "connections", ip);
        continue;
      }
      if (!spec.proxy_protocol && per_ip[ip] >= hub.options().limits.max_connections_per_ip) {
        refuse(s, spec, "connections_per_ip", ip);
        continue;
      }
      s.set_option(tcp::no_delay(true), ec);
      std::make_shared<Connection>(*this, std::move(s), ip, spec.direct_tls, spec.proxy_protocol)->start();
    }
  }

  void tick() {
    ticker.expires_after(std::chrono::seconds(1));
    ticker.async_wait([this](std::error_code ec) {
      if (ec) return;
      auto now = Clock::now();
      std::vector<Connection*> all(conns.begin(), conns.end());
      for (auto* c : all)
        if (conns.count(c)) c->tick(now);
      // Handshakes come and go in bursts and leave free holes in the heap between the small
      // blocks of idle sessions: give those pages back now and then (cheap at this rate).
      if (++ticks % 5 == 0) ::malloc_trim(0);
      tick();
    });
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
      if (conns.empty() || rounds <= 0) {
        io.stop();
        return;
      }
      drain_wait(rounds - 1);
    });
  }
};

Connection::Connection(Server::Impl& srv, Socket sock, std::string ip, bool direct_tls, bool proxy)
    : srv_(srv),
      sock_(std::move(sock)),
      ip_(std::move(ip)),
      direct_tls_(direct_tls),
      proxy_(proxy),
      deadline_(Clock::now() + srv.hub.options().limits.handshake_timeout) {
  srv_.conns.insert(this);
  if (!proxy_) ++srv_.per_ip[ip_];
}

Connection::~Connection() {
  srv_.conns.erase(this);
  if (!proxy_) {
    auto it = srv_.per_ip.find(ip_);
    if (it != srv_.per_ip.end() && --it->second <= 0) srv_.per_ip.erase(it);
  }
}

void Connection::after(std::chrono::milliseconds delay, std::function<void()> fn) {
  auto t = std::make_shared<asio::steady_timer>(srv_.io, delay);
  t->async_wait([t, fn = std::move(fn), weak = weak_from_this()](std::error_code ec) {
    if (!ec && !weak.expired()) fn();
  });
}

void Connection::start() {
  asio::co_spawn(srv_.io, [self = shared_from_this()] { return self->run(); }, asio::detached);
}

void Connection::hard_close() {
  if (closed_) return;
  closed_ = true;
  sock_.close();
}

void Connection::tick(Clock::time_point now) {
  if (closed_) return;
  if (now >= close_by_) return hard_close();
  if (now >= deadline_) {
    srv_.hub.log().event("limit", {{"limit", "handshake_timeout"}, {"ip", ip_}});
    return hard_close();
  }
  if (session_ && deadline_ != Clock::time_point::max() && !handshaking_ && !session_->stream_id().empty())
    deadline_ = Clock::time_point::max();
  if (session_) session_->on_timer(now);
}

void Connection::write(std::string data) {
  if (closed_ || closing_) return;
  if (out_.empty()) out_ = std::move(data);
  else out_ += data;
  // While a read is being handled, replies pile up and leave together afterwards: one TLS
  // record and one send instead of one per stanza (a login answers several at once).
  if (!handshaking_ && !write_waiting_ && !reading_) flush();
}

// Writes what the socket takes now; when it is full, waits for writability once.
void Connection::flush() {
  while (out_off_ < out_.size() && !closed_) {
    std::size_t n = 0;
    auto r = sock_.write_some(out_.data() + out_off_, out_.size() - out_off_, n);
    if (r == TlsSocket::Io::Done) {
      out_off_ += n;
      continue;
    }
    if (r == TlsSocket::Io::Closed) return hard_close();
    write_waiting_ = true;
    sock_.socket().async_wait(tcp::socket::wait_write, [self = shared_from_this()](std::error_code ec) {
      self->write_waiting_ = false;
      if (ec) return;
      self->flush();
    });
    return;
  }
  if (out_off_ >= out_.size()) {
    std::string().swap(out_);  // idle sessions keep no output buffer
    out_off_ = 0;
    if (closing_) finish_close();
  }
}

void Connection::close() {
  if (closing_ || closed_) return;
  closing_ = true;
  close_by_ = Clock::now() + kCloseGrace;
  if (pending_bytes() == 0 && !write_waiting_) finish_close();
}

void Connection::finish_close() { hard_close(); }

// Waits until everything queued is written (before a TLS handshake); false when the
// connection went away.
awaitable<bool> Connection::drain_output() {
  std::error_code ec;
  while (pending_bytes() > 0 && !closed_) {
    if (!write_waiting_) flush();
    if (pending_bytes() == 0 || closed_) break;
    co_await sock_.socket().async_wait(tcp::socket::wait_write, asio::redirect_error(use_awaitable, ec));
    if (ec) co_return false;
  }
  co_return !closed_;
}

awaitable<void> Connection::run() {
  auto self = shared_from_this();
  std::error_code ec;
  auto& sock = sock_.socket();
  Endpoint remote{ip_, 0};
  {
    auto peer = sock.remote_endpoint(ec);
    if (ec) co_return hard_close();
    remote.port = peer.port();
  }
  if (proxy_) {
    std::string head(proxy::kFixedHeader, '\0');
    co_await asio::async_read(sock, asio::buffer(head), asio::redirect_error(use_awaitable, ec));
    if (ec) co_return hard_close();
    auto len = proxy::header_length(head);
    if (!len) {
      srv_.hub.log().event("proxy_error", {{"ip", remote.ip}, {"message", len.error().message}});
      co_return hard_close();
    }
    head.resize(*len);
    co_await asio::async_read(sock, asio::buffer(head.data() + proxy::kFixedHeader, *len - proxy::kFixedHeader),
                              asio::redirect_error(use_awaitable, ec));
    if (ec) co_return hard_close();
    auto src = proxy::parse(head);
    if (!src) {
      srv_.hub.log().event("proxy_error", {{"ip", remote.ip}, {"message", src.error().message}});
      co_return hard_close();
    }
    if (*src) remote = **src;
  }
  if (direct_tls_) {
    handshaking_ = true;
    ec = co_await sock_.handshake(srv_.ctx.native_handle(), true);
    handshaking_ = false;
    if (ec || closed_) {
      if (!closed_) srv_.hub.log().event("tls_failed", {{"ip", remote.ip}, {"message", ec.message()}});
      co_return hard_close();
    }
  }
  session_ = std::make_unique<C2sSession>(srv_.hub, *this, remote, sock_.secure());
  on_readable({});  // from here on plain handlers; this coroutine's frame goes away
}

void Connection::wait_readable() {
  if (closed_) return end();
  sock_.socket().async_wait(tcp::socket::wait_read,
                            asio::bind_allocator(WaitAllocator<void>(wait_mem_), [self = shared_from_this()](
                                                                                  std::error_code ec) {
                              self->on_readable(ec);
                            }));
}

// Reads whatever is there (OpenSSL may hold decrypted records already), hands it to the session,
// then waits for the next readiness; STARTTLS leaves to its coroutine.
void Connection::on_readable(std::error_code ec) {
  if (ec || closed_) return end();
  auto r = TlsSocket::Io::WouldBlock;
  reading_ = true;
  while (!closed_ && !tls_requested_) {
    std::size_t n = 0;
    r = sock_.read_some(g_read_buf, sizeof g_read_buf, n);
    if (r != TlsSocket::Io::Done) break;
    session_->on_data(std::string_view(g_read_buf, n));
  }
  reading_ = false;
  if (!closed_ && !handshaking_ && !write_waiting_ && pending_bytes() > 0) flush();
  if (closed_ || r == TlsSocket::Io::Closed) return end();
  if (r == TlsSocket::Io::WantWrite) {
    sock_.socket().async_wait(tcp::socket::wait_write,
                              [self = shared_from_this()](std::error_code e) { self->on_readable(e); });
    return;
  }
  if (tls_requested_) {
    tls_requested_ = false;
    asio::co_spawn(srv_.io, [self = shared_from_this()] { return self->starttls(); }, asio::detached);
    return;
  }
  wait_readable();
}

awaitable<void> Connection::starttls() {
  auto self = shared_from_this();
  if (!co_await drain_output()) co_return end();
  handshaking_ = true;
  deadline_ = Clock::now() + srv_.hub.options().limits.handshake_timeout;
  std::error_code ec = co_await sock_.handshake(srv_.ctx.native_handle(), true);
  handshaking_ = false;
  if (ec || closed_) {
    if (!closed_) srv_.hub.log().event("tls_failed", {{"session", session_->id()}, {"message", ec.message()}});
    co_return end();
  }
  session_->on_tls_ready();
  if (pending_bytes() > 0) flush();
  // Records that arrived with the end of the handshake are read at once (a readiness wait would
  // miss what OpenSSL already buffered).
  on_readable({});
}

// The connection is over (peer gone, I/O error, or closed by us): unregister the session once.
void Connection::end() {
  if (ended_) return;
  ended_ = true;
  if (session_) session_->on_disconnect();
  hard_close();
}

Server::Server(asio::io_context& io, Hub& hub) : impl_(std::make_unique<Impl>(io, hub)) {
  hub.set_io(&io);
  // OpenSSL writes to the socket itself (no MSG_NOSIGNAL there).
  ::signal(SIGPIPE, SIG_IGN);
}

void Server::set_max_connections(std::size_t n) { impl_->max_connections = n; }
std::size_t Server::connections() const { return impl_->conns.size(); }

FdLimit raise_fd_limit() {
  FdLimit f;
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return f;
  f.soft_before = static_cast<long long>(rl.rlim_cur);
  f.hard = rl.rlim_max == RLIM_INFINITY ? -1 : static_cast<long long>(rl.rlim_max);
  if (rl.rlim_cur != rl.rlim_max) {
    rlimit want = rl;
    want.rlim_cur = rl.rlim_max;
    // Some systems refuse RLIM_INFINITY for descriptors: fall back to nr_open's usual value.
    if (::setrlimit(RLIMIT_NOFILE, &want) != 0 && rl.rlim_max == RLIM_INFINITY) {
      want.rlim_cur = 1048576;
      ::setrlimit(RLIMIT_NOFILE, &want);
    }
  }
  if (::getrlimit(RLIMIT_NOFILE, &rl) == 0) f.soft = static_cast<long long>(rl.rlim_cur);
  return f;
}

std::size_t connection_cap(const FdLimit& fd, int configured) {
  long long soft = fd.soft > 0 ? fd.soft : 1024;
  long long reserve = std::max(64LL, soft / 10);
  long long cap = std::max(1LL, soft - reserve);
  if (configured > 0) cap = std::min(cap, static_cast<long long>(configured));
  return static_cast<std::size_t>(cap);
}
Server::~Server() = default;

Result<void> Server::load_tls(const std::string& cert_file, const std::string& key_file, int session_tickets) {
  std::error_code ec;
  auto& ctx = impl_->ctx;
  ctx.set_options(asio::ssl::context::default_workarounds | asio::ssl::context::no_sslv2 |
                  asio::ssl::context::no_sslv3 | asio::ssl::context::no_tlsv1 | asio::ssl::context::no_tlsv1_1 |
                  asio::ssl::context::single_dh_use);
  // Idle TLS sessions give their OpenSSL record buffers back (tls_socket.hpp).
  tune_tls_context(ctx.native_handle());
  // TLS 1.3 suites in our order: ChaCha20-Poly1305 keeps the smallest cipher state per idle
  // session (about 0.4 KiB less than AES-GCM's per direction pair) and, like AES-128-GCM, a
  // SHA-256 key schedule (hardware SHA on most CPUs, where SHA-384's is not).
  SSL_CTX_set_ciphersuites(ctx.native_handle(),
                           "TLS_CHACHA20_POLY1305_SHA256:TLS_AES_128_GCM_SHA256:TLS_AES_256_GCM_SHA384");
  SSL_CTX_set_options(ctx.native_handle(), SSL_OP_CIPHER_SERVER_PREFERENCE);
  // One resumption ticket, not OpenSSL's two: each costs about a tenth of a login's CPU (a
  // session copy, its encryption and a record), and a client resumes with one. XMPP clients
  // mostly reconnect with FAST (XEP-0484) instead; tls_session_tickets = 0 turns them off.
  SSL_CTX_set_num_tickets(ctx.native_handle(), static_cast<std::size_t>(std::max(0, session_tickets)));
  // No server-side session cache: OpenSSL would keep every TLS 1.2 session (about 1 KiB each, up
  // to 20480, for 5 minutes); resumption works from the tickets, which the client keeps.
  SSL_CTX_set_session_cache_mode(ctx.native_handle(), SSL_SESS_CACHE_OFF);
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
      auto acc = std::make_unique<Acceptor>(impl_->io);
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
    Acceptor& acc = *a.acceptor;
    asio::co_spawn(impl_->io, impl_->accept_loop(acc, a.spec), asio::detached);
  }
  impl_->wait_signal(*this);
  impl_->tick();
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
  // Connections still in a handshake have no stream to end: close them.
  std::vector<Connection*> all(impl_->conns.begin(), impl_->conns.end());
  for (auto* c : all)
    if (!c->session()) c->hard_close();
  impl_->drain_wait(60);
}

}  // namespace xnet::server
