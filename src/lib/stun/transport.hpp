// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstdint>
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

/// The Asio transports (UDP, TCP, TLS) that probes use are in stun/async.hpp.

}  // namespace xnet::stun
