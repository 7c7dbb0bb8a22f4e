// SPDX-License-Identifier: MIT
#pragma once

// A TCP socket that can turn into TLS, for many mostly idle connections on one event loop.
//
// Instead of asio::ssl::stream (two 17 KB engine buffers plus a 2×17 KB BIO pair per
// connection, allocated at construction and kept while idle), OpenSSL works directly on the
// non-blocking socket descriptor and the loop only waits for readiness (async_wait). With
// SSL_MODE_RELEASE_BUFFERS on the context, OpenSSL's record buffers exist only while a record
// is in flight: an idle TLS session costs its SSL object (a few KiB) and nothing else, and
// nothing TLS-related is allocated before the handshake starts. Reads go into a buffer the
// caller owns (one per event loop will do: data is consumed before the next wait).
//
// The class is transport only (no XMPP): a client can use it the same way with
// handshake(ctx, /*server=*/false, sni).

#include <openssl/ssl.h>

#include <cstddef>
#include <string_view>
#include <system_error>

#include <asio/awaitable.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>

namespace xnet::server {

class TlsSocket {
 public:
  /// Bound to the io_context's own executor type rather than any_io_executor: every pending
  /// operation and the socket itself then carry an 8-byte executor instead of a type-erased one
  /// (about 0.2 KiB less per idle connection).
  using Socket = asio::basic_stream_socket<asio::ip::tcp, asio::io_context::executor_type>;

  explicit TlsSocket(Socket sock);
  ~TlsSocket();
  TlsSocket(const TlsSocket&) = delete;
  TlsSocket& operator=(const TlsSocket&) = delete;

  Socket& socket() { return sock_; }
  bool secure() const { return ssl_ != nullptr && established_; }
  SSL* native() { return ssl_; }

  /// Runs the TLS handshake on the socket (server or client role; sni for a client). Returns
  /// an empty error_code on success. Bound it with a deadline by closing the socket.
  asio::awaitable<std::error_code> handshake(SSL_CTX* ctx, bool server, std::string_view sni = {});

  enum class Io { Done, WouldBlock, WantWrite, Closed };
  /// Reads what is available without blocking: Done (n > 0 bytes in buf), WouldBlock (wait for
  /// readable), WantWrite (TLS needs to write first: wait for writable), Closed (EOF or error).
  Io read_some(char* buf, std::size_t size, std::size_t& n);
  /// Writes without blocking: Done (n bytes taken, possibly fewer than size), WouldBlock (wait
  /// for writable), Closed.
  Io write_some(const char* data, std::size_t size, std::size_t& n);
  /// Best effort close_notify (never blocks), then the socket is shut down and closed.
  void close();

 private:
  Socket sock_;
  SSL* ssl_ = nullptr;
  bool established_ = false;
};

/// Options every server and client TLS context here gets: TLS 1.2+, no renegotiation, and
/// record buffers released while idle.
void tune_tls_context(SSL_CTX* ctx);

}  // namespace xnet::server
