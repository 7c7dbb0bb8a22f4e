// SPDX-License-Identifier: MIT
#include "stun/transport.hpp"

#include <sys/socket.h>

#include <algorithm>
#include <cstring>
#include <functional>

#include <asio/experimental/as_tuple.hpp>
#include <asio/buffer.hpp>
#include <asio/connect.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/ssl.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>
#include <asio/write.hpp>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#include "stun/async.hpp"

namespace xnet::stun {
namespace {

using std::chrono::milliseconds;
constexpr auto kTuple = asio::experimental::as_tuple(asio::use_awaitable);

class SteadyClock final : public Clock {
 public:
  time_point now() const override { return std::chrono::steady_clock::now(); }
};

Category category_of(const asio::error_code& ec) {
  namespace e = asio::error;
  if (ec == e::connection_refused || ec == e::host_unreachable || ec == e::network_unreachable ||
      ec == e::connection_reset || ec == e::broken_pipe || ec == e::eof)
    return Category::Connect;
  return Category::Os;
}

Error socket_error(const std::string& what, const std::string& peer, const asio::error_code& ec) {
  return Error(category_of(ec), what + " " + peer + ": " + ec.message());
}

template <class Endpoint>
Endpoint to_endpoint(const Address& a) {
  sockaddr_storage ss{};
  auto len = a.to_sockaddr(ss);
  Endpoint ep;
  std::memcpy(ep.data(), &ss, len);
  ep.resize(len);
  return ep;
}

template <class Endpoint>
std::optional<Address> from_endpoint(const Endpoint& ep) {
  return Address::from_sockaddr(ep.data());
}

// Runs op and cancels it through cancel() when timeout passes first. The timer's handler holds
// only shared state, so it is harmless when it runs after the operation (and its socket) are gone.
// Returns op's result and whether the timer fired.
template <class T>
asio::awaitable<std::pair<T, bool>> with_timeout(asio::awaitable<T> op, milliseconds timeout,
                                                 std::function<void()> cancel) {
  struct State {
    bool done = false;
    bool fired = false;
  };
  auto state = std::make_shared<State>();
  asio::steady_timer timer(co_await asio::this_coro::executor, std::max(timeout, milliseconds(0)));
  timer.async_wait([state, cancel = std::move(cancel)](const asio::error_code& ec) {
    if (ec || state->done) return;
    state->fired = true;
    cancel();
  });
  T result = co_await std::move(op);
  state->done = true;
  timer.cancel();
  co_return std::pair<T, bool>{std::move(result), state->fired};
}

using Bytes = std::vector<std::uint8_t>;
using Received = Result<std::optional<Bytes>>;

class UdpTransport final : public AsyncTransport {
 public:
  UdpTransport(std::shared_ptr<asio::ip::udp::socket> socket, Address peer, bool connected)
      : socket_(std::move(socket)), peer_(peer), connected_(connected) {}
  bool reliable() const override { return false; }
  std::string peer() const override { return peer_.to_string(); }
  std::optional<Address> local() const override {
    asio::error_code ec;
    auto ep = socket_->local_endpoint(ec);
    if (ec) return std::nullopt;
    return from_endpoint(ep);
  }

  asio::awaitable<Result<void>> send(std::span<const std::uint8_t> m) override {
    asio::error_code ec;
    if (connected_)
      socket_->send(asio::buffer(m.data(), m.size()), 0, ec);
    else
      socket_->send_to(asio::buffer(m.data(), m.size()), to_endpoint<asio::ip::udp::endpoint>(peer_), 0, ec);
    if (ec) co_return fail(socket_error("sending to", peer(), ec));
    co_return Result<void>{};
  }

  asio::awaitable<Received> receive(milliseconds timeout) override {
    buf_.resize(kMaxMessageSize);
    auto* sock = socket_.get();
    auto op = connected_ ? sock->async_receive(asio::buffer(buf_), kTuple)
                         : sock->async_receive_from(asio::buffer(buf_), from_, kTuple);
    auto [res, fired] = co_await with_timeout(std::move(op), timeout, [sock] { sock->cancel(); });
    auto [ec, n] = res;
    if (ec == asio::error::operation_aborted && fired) co_return std::optional<Bytes>{};
    if (ec) co_return fail(socket_error("receiving from", peer(), ec));
    co_return std::optional<Bytes>(Bytes(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(n)));
  }

 private:
  std::shared_ptr<asio::ip::udp::socket> socket_;
  Address peer_;
  bool connected_;
  Bytes buf_;
  asio::ip::udp::endpoint from_;
};

// STUN over a byte stream, framed by the messages' own length field (RFC 8489 §6.2.2).
template <class Stream>
class StreamTransport final : public AsyncTransport {
 public:
  StreamTransport(std::unique_ptr<Stream> stream, Address peer, std::shared_ptr<void> keep = {})
      : stream_(std::move(stream)), peer_(peer), keep_(std::move(keep)) {}
  bool reliable() const override { return true; }
  std::string peer() const override { return peer_.to_string(); }
  std::optional<Address> local() const override {
    asio::error_code ec;
    auto ep = lowest().local_endpoint(ec);
    if (ec) return std::nullopt;
    return from_endpoint(ep);
  }

  asio::awaitable<Result<void>> send(std::span<const std::uint8_t> m) override {
    auto* sock = &lowest();
    auto [res, fired] = co_await with_timeout(asio::async_write(*stream_, asio::buffer(m.data(), m.size()), kTuple),
                                              milliseconds(5000), [sock] { sock->cancel(); });
    auto [ec, n] = res;
    (void)n;
    if (fired) co_return fail(Category::Timeout, "sending to " + peer() + " stalled");
    if (ec) co_return fail(socket_error("sending to", peer(), ec));
    co_return Result<void>{};
  }

  asio::awaitable<Received> receive(milliseconds timeout) override {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (int reads = 0; reads < 100000; ++reads) {
      if (buf_.size() >= kHeaderSize) {
        if ((buf_[0] & 0xC0) != 0) co_return fail(Category::Protocol, "the stream from " + peer() + " does not carry STUN");
        std::size_t need = kHeaderSize + ((std::size_t{buf_[2]} << 8) | buf_[3]);
        if (buf_.size() >= need) {
          Bytes msg(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(need));
          buf_.erase(buf_.begin(), buf_.begin() + static_cast<std::ptrdiff_t>(need));
          co_return std::optional<Bytes>(std::move(msg));
        }
      }
      auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
      if (left.count() <= 0) co_return std::optional<Bytes>{};
      std::uint8_t chunk[4096];
      auto* sock = &lowest();
      auto [res, fired] = co_await with_timeout(stream_->async_read_some(asio::buffer(chunk), kTuple), left,
                                                [sock] { sock->cancel(); });
      auto [ec, n] = res;
      if (fired && (ec == asio::error::operation_aborted || n == 0)) co_return std::optional<Bytes>{};
      if (ec == asio::error::eof || (ec && n == 0 && ec.category() == asio::error::get_ssl_category()))
        co_return fail(Category::Connect, peer() + " closed the connection");
      if (ec) co_return fail(socket_error("receiving from", peer(), ec));
      buf_.insert(buf_.end(), chunk, chunk + n);
    }
    co_return fail(Category::Protocol, "the stream from " + peer() + " never completes a message");
  }

 private:
  auto& lowest() const { return stream_->lowest_layer(); }
  std::unique_ptr<Stream> stream_;
  Address peer_;
  std::shared_ptr<void> keep_;  // the TLS context, which must outlive the stream
  Bytes buf_;
};

// Adapts a blocking transport (the tests' scripted fakes).
class SyncAdapter final : public AsyncTransport {
 public:
  explicit SyncAdapter(Transport& t) : t_(t) {}
  bool reliable() const override { return t_.reliable(); }
  std::string peer() const override { return t_.peer(); }
  std::optional<Address> local() const override { return t_.local(); }
  asio::awaitable<Result<void>> send(std::span<const std::uint8_t> m) override { co_return t_.send(m); }
  asio::awaitable<Received> receive(milliseconds timeout) override { co_return t_.receive(timeout); }

 private:
  Transport& t_;
};

asio::awaitable<Result<std::unique_ptr<asio::ip::tcp::socket>>> connect_tcp(const Address& server,
                                                                            milliseconds timeout) {
  auto sock = std::make_unique<asio::ip::tcp::socket>(co_await asio::this_coro::executor);
  auto* raw = sock.get();
  auto [res, fired] = co_await with_timeout(raw->async_connect(to_endpoint<asio::ip::tcp::endpoint>(server), kTuple),
                                            timeout, [raw] { raw->close(); });
  auto [ec] = res;
  if (fired)
    co_return fail(Category::Timeout, "connecting to " + server.to_string() + ": no answer in " +
                                          std::to_string(timeout.count()) + " ms");
  if (ec) co_return fail(socket_error("connecting to", server.to_string(), ec));
  asio::error_code ignored;
  raw->set_option(asio::ip::tcp::no_delay(true), ignored);
  co_return sock;
}

std::string ssl_error_text() {
  unsigned long e = ERR_get_error();
  if (e == 0) return "handshake failed";
  char buf[256];
  ERR_error_string_n(e, buf, sizeof buf);
  ERR_clear_error();
  return buf;
}

}  // namespace

Clock& steady_clock() {
  static SteadyClock c;
  return c;
}

std::unique_ptr<AsyncTransport> adapt(Transport& transport) { return std::make_unique<SyncAdapter>(transport); }

asio::awaitable<Result<std::unique_ptr<AsyncTransport>>> async_open_udp(const Address& server) {
  auto ex = co_await asio::this_coro::executor;
  auto sock = std::make_shared<asio::ip::udp::socket>(ex);
  asio::error_code ec;
  auto ep = to_endpoint<asio::ip::udp::endpoint>(server);
  sock->open(ep.protocol(), ec);
  if (ec) co_return fail(Category::Os, "UDP socket: " + ec.message());
  sock->connect(ep, ec);
  if (ec) co_return fail(socket_error("connecting UDP socket to", server.to_string(), ec));
  co_return std::unique_ptr<AsyncTransport>(std::make_unique<UdpTransport>(std::move(sock), server, true));
}

std::unique_ptr<AsyncTransport> shared_udp(std::shared_ptr<asio::ip::udp::socket> socket, const Address& destination) {
  return std::make_unique<UdpTransport>(std::move(socket), destination, false);
}

asio::awaitable<Result<std::unique_ptr<AsyncTransport>>> async_open_tcp(const Address& server, milliseconds timeout) {
  auto sock = co_await connect_tcp(server, timeout);
  if (!sock) co_return fail(sock.error());
  co_return std::unique_ptr<AsyncTransport>(
      std::make_unique<StreamTransport<asio::ip::tcp::socket>>(std::move(*sock), server));
}

asio::awaitable<Result<std::unique_ptr<AsyncTransport>>> async_open_tls(const Address& server, std::string server_name,
                                                                         bool verify, milliseconds timeout,
                                                                         std::string ca_file) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  auto sock = co_await connect_tcp(server, timeout);
  if (!sock) co_return fail(sock.error());
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  if (verify) {
    ctx->set_verify_mode(asio::ssl::verify_peer);
    SSL_CTX_set_default_verify_paths(ctx->native_handle());
    if (!ca_file.empty() && SSL_CTX_load_verify_locations(ctx->native_handle(), ca_file.c_str(), nullptr) != 1)
      co_return fail(Category::Tls, "cannot load CA certificates from " + ca_file + ": " + ssl_error_text());
  } else {
    ctx->set_verify_mode(asio::ssl::verify_none);
  }
  using Tls = asio::ssl::stream<asio::ip::tcp::socket>;
  auto stream = std::make_unique<Tls>(std::move(**sock), *ctx);
  SSL* ssl = stream->native_handle();
  bool is_ip = Address::parse(server_name, 0).has_value();
  if (!server_name.empty() && !is_ip) SSL_set_tlsext_host_name(ssl, server_name.c_str());
  if (verify && !server_name.empty()) {
    X509_VERIFY_PARAM* param = SSL_get0_param(ssl);
    if (is_ip)
      X509_VERIFY_PARAM_set1_ip_asc(param, server_name.c_str());
    else
      X509_VERIFY_PARAM_set1_host(param, server_name.c_str(), 0);
  }
  auto left = std::chrono::duration_cast<milliseconds>(deadline - std::chrono::steady_clock::now());
  auto* low = &stream->lowest_layer();
  auto [res, fired] = co_await with_timeout(stream->async_handshake(asio::ssl::stream_base::client, kTuple), left,
                                            [low] { low->close(); });
  auto [ec] = res;
  if (fired) co_return fail(Category::Timeout, "TLS handshake with " + server.to_string() + " timed out");
  if (ec) {
    long vr = SSL_get_verify_result(ssl);
    if (verify && vr != X509_V_OK)
      co_return fail(Category::Tls, "TLS certificate of " + server.to_string() + " not accepted: " +
                                        X509_verify_cert_error_string(vr));
    co_return fail(Category::Tls, "TLS handshake with " + server.to_string() + " failed: " + ec.message());
  }
  co_return std::unique_ptr<AsyncTransport>(std::make_unique<StreamTransport<Tls>>(std::move(stream), server, ctx));
}

asio::awaitable<Result<std::vector<Address>>> async_resolve(std::string host, std::uint16_t port,
                                                             milliseconds timeout) {
  if (auto a = Address::parse(host, port)) co_return std::vector<Address>{*a};
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    if (auto a = Address::parse(host.substr(1, host.size() - 2), port)) co_return std::vector<Address>{*a};
  auto resolver = std::make_shared<asio::ip::udp::resolver>(co_await asio::this_coro::executor);
  auto* r = resolver.get();
  // No temporary with a destructor inside the co_await expression: GCC 12 destroys such
  // temporaries twice (AddressSanitizer: the resolver's control block freed twice). The
  // timer's handler may outlive this coroutine, so it holds the resolver weakly.
  const std::string service = std::to_string(port);
  std::function<void()> cancel = [weak = std::weak_ptr(resolver)] {
    if (auto live = weak.lock()) live->cancel();
  };
  auto op = r->async_resolve(host, service, kTuple);
  auto [res, fired] = co_await with_timeout(std::move(op), timeout, std::move(cancel));
  auto [ec, results] = res;
  if (fired) co_return fail(Category::Timeout, "cannot resolve " + host + ": no answer in " +
                                                   std::to_string(timeout.count()) + " ms");
  if (ec) co_return fail(Category::Dns, "cannot resolve " + host + ": " + ec.message());
  std::vector<Address> v4, v6;
  for (const auto& entry : results) {
    if (auto a = from_endpoint(entry.endpoint())) {
      a->port = port;
      auto& dst = a->family == 4 ? v4 : v6;
      if (std::find(dst.begin(), dst.end(), *a) == dst.end()) dst.push_back(*a);
    }
  }
  v4.insert(v4.end(), v6.begin(), v6.end());
  if (v4.empty()) co_return fail(Category::Dns, "cannot resolve " + host + ": no IPv4 or IPv6 address");
  co_return v4;
}

}  // namespace xnet::stun
