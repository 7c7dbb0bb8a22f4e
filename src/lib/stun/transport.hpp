// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include "error.hpp"
#include "stun/message.hpp"

namespace xnet::stun {

/// Monotonic time source; the seam that lets tests check the retransmission schedule.
class Clock {
 public:
  using time_point = std::chrono::steady_clock::time_point;
  virtual ~Clock() = default;
  virtual time_point now() const = 0;
};

/// The real steady clock.
Clock& steady_clock();

/// One STUN conversation with one server: a connected UDP socket, a TCP stream or a TLS stream.
/// This is the seam for tests: a fake transport can script replies and drive a fake Clock.
class Transport {
 public:
  virtual ~Transport() = default;
  /// True for TCP/TLS: no retransmissions (RFC 8489 §6.2.2).
  virtual bool reliable() const = 0;
  /// Sends one whole STUN message.
  virtual Result<void> send(std::span<const std::uint8_t> message) = 0;
  /// Waits up to timeout for one message (a datagram, or one length-framed message on a
  /// stream). nullopt on timeout; an error when the peer refused or closed the connection.
  virtual Result<std::optional<std::vector<std::uint8_t>>> receive(std::chrono::milliseconds timeout) = 0;
  /// The server's address as text, for messages.
  virtual std::string peer() const = 0;
  /// The local end of the socket, when known (compared with the mapped address for a NAT hint).
  virtual std::optional<Address> local() const { return std::nullopt; }
};

/// A UDP socket connected to server (so ICMP port-unreachable ends a transaction early).
Result<std::unique_ptr<Transport>> open_udp(const Address& server);
/// A TCP connection to server, established within timeout.
Result<std::unique_ptr<Transport>> open_tcp(const Address& server, std::chrono::milliseconds timeout);
/// A TLS connection (for stuns/turns) to server; server_name is used for SNI and, when verify
/// is true, checked against the certificate (system CA store, plus the PEM CAs in ca_file).
Result<std::unique_ptr<Transport>> open_tls(const Address& server, const std::string& server_name,
                                            bool verify, std::chrono::milliseconds timeout,
                                            const std::string& ca_file = {});

/// Resolves host (an IP literal, with or without brackets, or a DNS name) to addresses,
/// IPv4 first. Category::Dns when nothing is found.
Result<std::vector<Address>> resolve(const std::string& host, std::uint16_t port);

}  // namespace xnet::stun
