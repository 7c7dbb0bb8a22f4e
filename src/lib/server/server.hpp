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
  Result<void> load_tls(const std::string& cert_file, const std::string& key_file);
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

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  int stop_signal_ = 0;
};

/// Formats the socket address ip for SIC: IPv4-mapped IPv6 unmapped, no zone.
std::string canonical_ip(const std::string& ip);

}  // namespace xnet::server
