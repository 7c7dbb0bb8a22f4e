// SPDX-License-Identifier: MIT
#include "server/tls_socket.hpp"

#include <openssl/err.h>
#include <sys/socket.h>

#include <cerrno>

#include <asio/redirect_error.hpp>
#include <asio/ssl/error.hpp>
#include <asio/use_awaitable.hpp>

namespace xnet::server {

using asio::ip::tcp;

TlsSocket::TlsSocket(Socket sock) : sock_(std::move(sock)) {
  std::error_code ec;
  sock_.non_blocking(true, ec);
}

TlsSocket::~TlsSocket() {
  if (ssl_) SSL_free(ssl_);
}

void tune_tls_context(SSL_CTX* ctx) {
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_options(ctx, SSL_OP_NO_RENEGOTIATION | SSL_OP_NO_COMPRESSION);
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS | SSL_MODE_ENABLE_PARTIAL_WRITE |
                            SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
}

asio::awaitable<std::error_code> TlsSocket::handshake(SSL_CTX* ctx, bool server, std::string_view sni) {
  std::error_code ec;
  if (ssl_) co_return std::make_error_code(std::errc::operation_in_progress);
  ssl_ = SSL_new(ctx);
  if (!ssl_) co_return std::make_error_code(std::errc::not_enough_memory);
  SSL_set_fd(ssl_, static_cast<int>(sock_.native_handle()));
  if (server) {
    SSL_set_accept_state(ssl_);
  } else {
    SSL_set_connect_state(ssl_);
    if (!sni.empty()) SSL_set_tlsext_host_name(ssl_, std::string(sni).c_str());
  }
  while (true) {
    ERR_clear_error();
    int r = SSL_do_handshake(ssl_);
    if (r == 1) break;
    int e = SSL_get_error(ssl_, r);
    if (e == SSL_ERROR_WANT_READ) {
      co_await sock_.async_wait(tcp::socket::wait_read, asio::redirect_error(asio::use_awaitable, ec));
    } else if (e == SSL_ERROR_WANT_WRITE) {
      co_await sock_.async_wait(tcp::socket::wait_write, asio::redirect_error(asio::use_awaitable, ec));
    } else {
      unsigned long code = ERR_get_error();
      ERR_clear_error();
      co_return code ? std::error_code(static_cast<int>(code), asio::error::get_ssl_category())
                     : std::make_error_code(std::errc::connection_reset);
    }
    if (ec) co_return ec;
  }
  established_ = true;
  co_return std::error_code();
}

TlsSocket::Io TlsSocket::read_some(char* buf, std::size_t size, std::size_t& n) {
  n = 0;
  if (!ssl_) {
    ssize_t r = ::recv(sock_.native_handle(), buf, size, 0);
    if (r > 0) {
      n = static_cast<std::size_t>(r);
      return Io::Done;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return Io::WouldBlock;
    return Io::Closed;
  }
  ERR_clear_error();
  int r = SSL_read(ssl_, buf, static_cast<int>(size));
  if (r > 0) {
    n = static_cast<std::size_t>(r);
    return Io::Done;
  }
  int e = SSL_get_error(ssl_, r);
  ERR_clear_error();
  if (e == SSL_ERROR_WANT_READ) return Io::WouldBlock;
  if (e == SSL_ERROR_WANT_WRITE) return Io::WantWrite;
  return Io::Closed;
}

TlsSocket::Io TlsSocket::write_some(const char* data, std::size_t size, std::size_t& n) {
  n = 0;
  if (size == 0) return Io::Done;
  if (!ssl_) {
    ssize_t r = ::send(sock_.native_handle(), data, size, MSG_NOSIGNAL);
    if (r > 0) {
      n = static_cast<std::size_t>(r);
      return Io::Done;
    }
    if (r < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) return Io::WouldBlock;
    return Io::Closed;
  }
  ERR_clear_error();
  int r = SSL_write(ssl_, data, static_cast<int>(size));
  if (r > 0) {
    n = static_cast<std::size_t>(r);
    return Io::Done;
  }
  int e = SSL_get_error(ssl_, r);
  ERR_clear_error();
  // No renegotiation, so a write never needs a read; WANT_READ is treated as "try later".
  if (e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ) return Io::WouldBlock;
  return Io::Closed;
}

void TlsSocket::close() {
  std::error_code ec;
  if (ssl_ && established_) {
    ERR_clear_error();
    SSL_shutdown(ssl_);  // queues close_notify; a full socket just loses it
    ERR_clear_error();
  }
  sock_.shutdown(tcp::socket::shutdown_both, ec);
  sock_.close(ec);
}

}  // namespace xnet::server
