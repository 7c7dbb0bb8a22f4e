// SPDX-License-Identifier: MIT
#pragma once
// The STUN client on Asio: transports and transactions as C++20 coroutines, run on whatever
// io_context the caller owns. Kept out of stun/message.* so the fuzz targets (clang 14, which
// cannot compile these coroutines) link only the codec.

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <asio/awaitable.hpp>
#include <asio/ip/udp.hpp>

#include "error.hpp"
#include "stun/client.hpp"
#include "stun/transport.hpp"

namespace xnet::stun {

/// One STUN conversation with one server on an Asio loop: UDP, TCP or TLS.
class AsyncTransport {
 public:
  virtual ~AsyncTransport() = default;
  /// True for TCP/TLS: no retransmissions (RFC 8489 §6.2.2).
  virtual bool reliable() const = 0;
  /// Sends one whole STUN message.
  virtual asio::awaitable<Result<void>> send(std::span<const std::uint8_t> message) = 0;
  /// Waits up to timeout for one message; nullopt on timeout; an error when the peer refused
  /// or closed the connection.
  virtual asio::awaitable<Result<std::optional<std::vector<std::uint8_t>>>> receive(
      std::chrono::milliseconds timeout) = 0;
  /// The server's address as text, for messages.
  virtual std::string peer() const = 0;
  /// The local end of the socket, when known.
  virtual std::optional<Address> local() const { return std::nullopt; }
};

/// Wraps a blocking transport (the tests' scripted fakes) as an AsyncTransport; it must outlive
/// the wrapper.
std::unique_ptr<AsyncTransport> adapt(Transport& transport);

/// A UDP socket connected to server (ICMP port-unreachable ends a transaction early).
asio::awaitable<Result<std::unique_ptr<AsyncTransport>>> async_open_udp(const Address& server);
/// A transport that sends to destination from socket (unconnected, shared with other
/// transports used one after the other) and accepts a reply from any source: what the
/// RFC 5780 tests need, where answers come from the server's other address.
std::unique_ptr<AsyncTransport> shared_udp(std::shared_ptr<asio::ip::udp::socket> socket, const Address& destination);
/// A TCP connection to server, set up within timeout.
asio::awaitable<Result<std::unique_ptr<AsyncTransport>>> async_open_tcp(const Address& server,
                                                                         std::chrono::milliseconds timeout);
/// A TLS connection for stuns/turns; server_name is used for SNI and, when verify, checked
/// against the certificate (system CAs plus the PEM file ca_file).
asio::awaitable<Result<std::unique_ptr<AsyncTransport>>> async_open_tls(const Address& server,
                                                                         std::string server_name, bool verify,
                                                                         std::chrono::milliseconds timeout,
                                                                         std::string ca_file);
/// Resolves host (IP literal or DNS name) without blocking the loop, IPv4 first, within timeout.
asio::awaitable<Result<std::vector<Address>>> async_resolve(std::string host, std::uint16_t port,
                                                             std::chrono::milliseconds timeout);

/// The coroutine forms of transact(), request(), binding() and allocate() (client.hpp); same
/// contracts. The referenced arguments must live until the coroutine finishes.
asio::awaitable<Result<Exchange>> co_transact(AsyncTransport& transport, const std::vector<std::uint8_t>& request,
                                              const TransactionId& tid, const ClientOptions& options,
                                              std::span<const std::uint8_t> key);
asio::awaitable<Result<Exchange>> co_request(AsyncTransport& transport, Method method, const AttributeFiller& fill,
                                             const std::optional<Credentials>& credentials, AuthState& state,
                                             const ClientOptions& options);
/// Binding; extra adds attributes such as CHANGE-REQUEST (RFC 5780 §7.2).
asio::awaitable<Result<BindingResult>> co_binding(AsyncTransport& transport, const ClientOptions& options,
                                                  const std::optional<Credentials>& credentials,
                                                  const AttributeFiller& extra = {});
asio::awaitable<Result<AllocateResult>> co_allocate(AsyncTransport& transport, const Credentials& credentials,
                                                    const ClientOptions& options, bool keep);

}  // namespace xnet::stun
