// SPDX-License-Identifier: MIT
#include "stun/transport.hpp"

#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

namespace xnet::stun {
namespace {

using std::chrono::milliseconds;

class SteadyClock final : public Clock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
};

std::string errno_text(int e) { return std::strerror(e); }

Error socket_error(const std::string& what, const std::string& peer, int e) {
  Category c = Category::Os;
  if (e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH || e == ECONNRESET || e == EPIPE)
    c = Category::Connect;
  return Error(c, what + " " + peer + ": " + errno_text(e));
}

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(Fd&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  Fd& operator=(Fd&&) = delete;
  ~Fd() {
    if (fd_ >= 0) ::close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Waits for events on fd; returns false on timeout.
Result<bool> wait_fd(int fd, short events, milliseconds timeout) {
  pollfd p{fd, events, 0};
  auto ms = std::max<long long>(0, timeout.count());
  for (;;) {
    int r = ::poll(&p, 1, static_cast<int>(std::min<long long>(ms, 1 << 30)));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return fail(Category::Os, "poll: " + errno_text(errno));
    return r > 0;
  }
}

std::optional<Address> local_address(int fd) {
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  if (::getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) != 0) return std::nullopt;
  return Address::from_sockaddr(reinterpret_cast<sockaddr*>(&ss));
}

class UdpTransport final : public Transport {
 public:
  UdpTransport(Fd fd, Address peer) : fd_(std::move(fd)), peer_(peer) {}
  bool reliable() const override { return false; }
  std::string peer() const override { return peer_.to_string(); }
  std::optional<Address> local() const override { return local_address(fd_.get()); }

  Result<void> send(std::span<const std::uint8_t> m) override {
    if (::send(fd_.get(), m.data(), m.size(), MSG_NOSIGNAL) < 0)
      return fail(socket_error("sending to", peer(), errno));
    return {};
  }

  Result<std::optional<std::vector<std::uint8_t>>> receive(milliseconds timeout) override {
    auto ready = wait_fd(fd_.get(), POLLIN, timeout);
    if (!ready) return fail(ready.error());
    if (!*ready) return std::optional<std::vector<std::uint8_t>>{};
    std::vector<std::uint8_t> buf(kMaxMessageSize);
    ssize_t n = ::recv(fd_.get(), buf.data(), buf.size(), 0);
    if (n < 0) return fail(socket_error("receiving from", peer(), errno));
    buf.resize(static_cast<std::size_t>(n));
    return std::optional<std::vector<std::uint8_t>>(std::move(buf));
  }

 private:
  Fd fd_;
  Address peer_;
};

// Reads STUN messages framed by their own length field from a byte stream (RFC 8489 §6.2.2).
class StreamTransport : public Transport {
 public:
  bool reliable() const override { return true; }
  std::string peer() const override { return peer_.to_string(); }
  std::optional<Address> local() const override { return local_address(fd_.get()); }

  Result<std::optional<std::vector<std::uint8_t>>> receive(milliseconds timeout) override {
    auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (buf_.size() >= kHeaderSize) {
        std::size_t need = kHeaderSize + ((std::size_t{buf_[2]} << 8) | buf_[3]);
        if ((buf_[0] & 0xC0) != 0)
          return fail(Category::Protocol, "the stream from " + peer() + " does not carry STUN");
        if (buf_.size() >= need) {
          std::vector<std::uint8_t> msg(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(need));
          buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(need));
          return std::optional<std::vector<std::uint8_t>>(std::move(msg));
        }
      }
      auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0 && !pending()) return std::optional<std::vector<std::uint8_t>>{};
      if (!pending()) {
        auto ready = wait_fd(fd_.get(), POLLIN, left);
        if (!ready) return fail(ready.error());
        if (!*ready) return std::optional<std::vector<std::uint8_t>>{};
      }
      std::uint8_t chunk[4096];
      auto n = read_some(chunk, sizeof chunk, left);
      if (!n) return fail(n.error());
      if (*n == kRetry) continue;
      if (*n == 0) return fail(Category::Connect, peer() + " closed the connection");
      buf_.insert(buf_.end(), chunk, chunk + *n);
    }
  }

 protected:
  StreamTransport(Fd fd, Address peer) : fd_(std::move(fd)), peer_(peer) {}
  static constexpr std::size_t kRetry = static_cast<std::size_t>(-1);
  virtual bool pending() const { return false; }
  // Reads up to n bytes; 0 means EOF, kRetry means nothing yet (poll again).
  virtual Result<std::size_t> read_some(std::uint8_t* p, std::size_t n, milliseconds left) = 0;
  Fd fd_;
  Address peer_;
  std::vector<std::uint8_t> buf_;
};

class TcpTransport final : public StreamTransport {
 public:
  TcpTransport(Fd fd, Address peer) : StreamTransport(std::move(fd), peer) {}
  Result<void> send(std::span<const std::uint8_t> m) override {
    std::size_t off = 0;
    while (off < m.size()) {
      ssize_t n = ::send(fd_.get(), m.data() + off, m.size() - off, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
        auto r = wait_fd(fd_.get(), POLLOUT, milliseconds(5000));
        if (!r) return fail(r.error());
        if (!*r) return fail(Category::Timeout, "sending to " + peer() + " stalled");
        continue;
      }
      if (n < 0) return fail(socket_error("sending to", peer(), errno));
      off += static_cast<std::size_t>(n);
    }
    return {};
  }

 protected:
  Result<std::size_t> read_some(std::uint8_t* p, std::size_t n, milliseconds) override {
    for (;;) {
      ssize_t r = ::recv(fd_.get(), p, n, 0);
      if (r < 0 && errno == EINTR) continue;
      if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return kRetry;
      if (r < 0) return fail(socket_error("receiving from", peer(), errno));
      return static_cast<std::size_t>(r);
    }
  }
};

struct SslDeleter {
  void operator()(SSL* s) const { SSL_free(s); }
  void operator()(SSL_CTX* c) const { SSL_CTX_free(c); }
};

std::string ssl_error_text() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "handshake failed";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

class TlsTransport final : public StreamTransport {
 public:
  TlsTransport(Fd fd, Address peer, std::unique_ptr<SSL_CTX, SslDeleter> ctx, std::unique_ptr<SSL, SslDeleter> ssl)
      : StreamTransport(std::move(fd), peer), ctx_(std::move(ctx)), ssl_(std::move(ssl)) {}

  Result<void> send(std::span<const std::uint8_t> m) override {
    std::size_t off = 0;
    for (int spins = 0; off < m.size() && spins < 1000; ++spins) {
      int n = SSL_write(ssl_.get(), m.data() + off, static_cast<int>(m.size() - off));
      if (n > 0) {
        off += static_cast<std::size_t>(n);
        continue;
      }
      int err = SSL_get_error(ssl_.get(), n);
      if (err == SSL_ERROR_WANT_WRITE || err == SSL_ERROR_WANT_READ) {
        auto r = wait_fd(fd_.get(), err == SSL_ERROR_WANT_WRITE ? POLLOUT : POLLIN, milliseconds(5000));
        if (!r) return fail(r.error());
        if (!*r) return fail(Category::Timeout, "sending to " + peer() + " stalled");
        continue;
      }
      return fail(Category::Tls, "TLS write to " + peer() + ": " + ssl_error_text());
    }
    if (off < m.size()) return fail(Category::Tls, "TLS write to " + peer() + " made no progress");
    return {};
  }

 protected:
  bool pending() const override { return SSL_pending(ssl_.get()) > 0; }
  Result<std::size_t> read_some(std::uint8_t* p, std::size_t n, milliseconds) override {
    int r = SSL_read(ssl_.get(), p, static_cast<int>(n));
    if (r > 0) return static_cast<std::size_t>(r);
    int err = SSL_get_error(ssl_.get(), r);
    if (err == SSL_ERROR_ZERO_RETURN || err == SSL_ERROR_SYSCALL) return std::size_t{0};
    if (err == SSL_ERROR_WANT_READ || err == SSL_ERROR_WANT_WRITE) return kRetry;
    return fail(Category::Tls, "TLS read from " + peer() + ": " + ssl_error_text());
  }

 private:
  std::unique_ptr<SSL_CTX, SslDeleter> ctx_;
  std::unique_ptr<SSL, SslDeleter> ssl_;
};

Result<Fd> connect_stream(const Address& server, milliseconds timeout) {
  sockaddr_storage ss{};
  auto len = server.to_sockaddr(ss);
  Fd fd(::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0));
  if (fd.get() < 0) return fail(Category::Os, "socket: " + errno_text(errno));
  int one = 1;
  ::setsockopt(fd.get(), IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) < 0) {
    if (errno != EINPROGRESS) return fail(socket_error("connecting to", server.to_string(), errno));
    auto r = wait_fd(fd.get(), POLLOUT, timeout);
    if (!r) return fail(r.error());
    if (!*r)
      return fail(Category::Timeout, "connecting to " + server.to_string() + ": no answer in " +
                                         std::to_string(timeout.count()) + " ms");
    int err = 0;
    socklen_t elen = sizeof err;
    ::getsockopt(fd.get(), SOL_SOCKET, SO_ERROR, &err, &elen);
    if (err != 0) return fail(socket_error("connecting to", server.to_string(), err));
  }
  return fd;
}

}  // namespace

Clock& steady_clock() {
  static SteadyClock c;
  return c;
}

Result<std::unique_ptr<Transport>> open_udp(const Address& server) {
  sockaddr_storage ss{};
  auto len = server.to_sockaddr(ss);
  Fd fd(::socket(ss.ss_family, SOCK_DGRAM | SOCK_CLOEXEC, 0));
  if (fd.get() < 0) return fail(Category::Os, "socket: " + errno_text(errno));
  if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&ss), len) < 0)
    return fail(socket_error("connecting UDP socket to", server.to_string(), errno));
  return std::unique_ptr<Transport>(std::make_unique<UdpTransport>(std::move(fd), server));
}

Result<std::unique_ptr<Transport>> open_tcp(const Address& server, milliseconds timeout) {
  auto fd = connect_stream(server, timeout);
  if (!fd) return fail(fd.error());
  return std::unique_ptr<Transport>(std::make_unique<TcpTransport>(std::move(*fd), server));
}

Result<std::unique_ptr<Transport>> open_tls(const Address& server, const std::string& server_name,
                                            bool verify, milliseconds timeout, const std::string& ca_file) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  auto fd = connect_stream(server, timeout);
  if (!fd) return fail(fd.error());
  std::unique_ptr<SSL_CTX, SslDeleter> ctx(SSL_CTX_new(TLS_client_method()));
  if (!ctx) return fail(Category::Tls, "cannot create a TLS context: " + ssl_error_text());
  SSL_CTX_set_min_proto_version(ctx.get(), TLS1_2_VERSION);
  if (verify) {
    SSL_CTX_set_verify(ctx.get(), SSL_VERIFY_PEER, nullptr);
    SSL_CTX_set_default_verify_paths(ctx.get());
    if (!ca_file.empty() && SSL_CTX_load_verify_locations(ctx.get(), ca_file.c_str(), nullptr) != 1)
      return fail(Category::Tls, "cannot load CA certificates from " + ca_file + ": " + ssl_error_text());
  }
  std::unique_ptr<SSL, SslDeleter> ssl(SSL_new(ctx.get()));
  if (!ssl) return fail(Category::Tls, "cannot create a TLS session: " + ssl_error_text());
  SSL_set_fd(ssl.get(), fd->get());
  bool is_ip = Address::parse(server_name, 0).has_value();
  if (!server_name.empty() && !is_ip) SSL_set_tlsext_host_name(ssl.get(), server_name.c_str());
  if (verify && !server_name.empty()) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl.get());
    if (is_ip)
      X509_VERIFY_PARAM_set1_ip_asc(param, server_name.c_str());
    else
      X509_VERIFY_PARAM_set1_host(param, server_name.c_str(), 0);
  }
  for (int spins = 0; spins < 1000; ++spins) {
    int r = SSL_connect(ssl.get());
    if (r == 1) {
      return std::unique_ptr<Transport>(
          std::make_unique<TlsTransport>(std::move(*fd), server, std::move(ctx), std::move(ssl)));
    }
    int err = SSL_get_error(ssl.get(), r);
    if (err != SSL_ERROR_WANT_READ && err != SSL_ERROR_WANT_WRITE) {
      long vr = SSL_get_verify_result(ssl.get());
      if (verify && vr != X509_V_OK)
        return fail(Category::Tls, "TLS certificate of " + server.to_string() + " not accepted: " +
                                       X509_verify_cert_error_string(vr));
      return fail(Category::Tls, "TLS handshake with " + server.to_string() + " failed: " + ssl_error_text());
    }
    auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
    auto w = wait_fd(fd->get(), err == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT, left);
    if (!w) return fail(w.error());
    if (!*w) return fail(Category::Timeout, "TLS handshake with " + server.to_string() + " timed out");
  }
  return fail(Category::Tls, "TLS handshake with " + server.to_string() + " made no progress");
}

Result<std::vector<Address>> resolve(const std::string& host, std::uint16_t port) {
  if (auto a = Address::parse(host, port)) return std::vector<Address>{*a};
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_DGRAM;
  addrinfo* res = nullptr;
  int rc = ::getaddrinfo(host.c_str(), nullptr, &hints, &res);
  if (rc != 0) return fail(Category::Dns, "cannot resolve " + host + ": " + gai_strerror(rc));
  std::vector<Address> v4, v6;
  for (auto* p = res; p; p = p->ai_next) {
    if (auto a = Address::from_sockaddr(p->ai_addr)) {
      a->port = port;
      auto& dst = a->family == 4 ? v4 : v6;
      if (std::find(dst.begin(), dst.end(), *a) == dst.end()) dst.push_back(*a);
    }
  }
  ::freeaddrinfo(res);
  v4.insert(v4.end(), v6.begin(), v6.end());
  if (v4.empty()) return fail(Category::Dns, "cannot resolve " + host + ": no IPv4 or IPv6 address");
  return v4;
}

}  // namespace xnet::stun
