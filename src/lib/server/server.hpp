// SPDX-License-Identifier: MIT
#pragma once

// The network side of `xnet serve`: listeners, TLS, one coroutine pair per connection, signals.
// One io_context, no threads (STYLE §13). The protocol logic lives in hub.hpp.

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include <asio/io_context.hpp>

#include "error.hpp"
#include "server/hub.hpp"

namespace xnet::server {

/// One listening socket to open.
struct ListenerSpec {
  std::string address;  ///< IP literal
  int port = 0;         ///< 0 = a free port (shared by every address of the same kind)
  bool direct_tls = false;
  bool proxy_protocol = false;
};

/// A socket that is listening.
struct BoundListener {
  std::string address;
  unsigned short port = 0;
  bool direct_tls = false;
};

class Server {
 public:
  Server(asio::io_context& io, Hub& hub);
  ~Server();

  /// Loads the certificate chain and key for STARTTLS and direct TLS.
  /// session_tickets: TLS 1.3 resumption tickets sent after each handshake (0 = none).
  Result<void> load_tls(const std::string& cert_file, const std::string& key_file, int session_tickets = 1);
  /// Binds every listener (specs with port 0 and the same direct_tls share one free port).
  /// Category::Os when an address cannot be bound.
  Result<std::vector<BoundListener>> listen(const std::vector<ListenerSpec>& specs);
  /// Starts accepting, and handles SIGTERM/SIGINT (graceful shutdown, then the loop stops)
  /// and SIGHUP (on_hup is called).
  void start(std::function<void()> on_hup);
  /// Graceful shutdown: stop accepting, close every stream with system-shutdown, stop the loop
  /// once the streams are closed (at most ~3 s).
  void shutdown();
  /// The signal that ended the server (0 if none).
  int stop_signal() const { return stop_signal_; }
  /// The cap on simultaneous client connections (refused at accept beyond it); 0 = the
  /// configured limits.max_connections or none.
  void set_max_connections(std::size_t n);
  /// Client connections open now (any state).
  std::size_t connections() const;

  struct Impl;  ///< internal (the connections use it)

 private:
  std::unique_ptr<Impl> impl_;
  int stop_signal_ = 0;
};

/// The process's descriptor limit, raised from its soft value to the hard one.
struct FdLimit {
  long long soft_before = 0;  ///< soft limit found at start
  long long soft = 0;         ///< soft limit now
  long long hard = 0;
};
/// Raises RLIMIT_NOFILE's soft limit to the hard limit (what a server may do by itself).
FdLimit raise_fd_limit();
/// The connection cap that keeps accept() from ever running out of descriptors: below the soft
/// limit by a reserve (a tenth, at least 64) for listeners, files, PASS relays and the like;
/// configured > 0 lowers it further.
std::size_t connection_cap(const FdLimit& fd, int configured);

/// Formats the socket address ip for SIC: IPv4-mapped IPv6 unmapped, no zone.
std::string canonical_ip(const std::string& ip);

}  // namespace xnet::server
