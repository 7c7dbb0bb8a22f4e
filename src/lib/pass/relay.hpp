// SPDX-License-Identifier: MIT
#pragma once

#include <asio/io_context.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>

namespace xnet::pass {

/// A token bucket shared by the relays of one account: bytes_per_second with a one-second
/// burst. Single-threaded (use it from the io_context's thread).
class RateLimiter {
 public:
  explicit RateLimiter(std::uint64_t bytes_per_second);
  /// Take up to want bytes now; 0 when the bucket is empty (see wait()).
  std::size_t take(std::size_t want);
  /// Put back bytes taken but not moved.
  void refund(std::size_t n);
  /// How long until at least one chunk is available.
  std::chrono::milliseconds wait() const;

 private:
  void refill();
  std::uint64_t rate_;
  double tokens_;
  std::chrono::steady_clock::time_point last_;
};

/// Byte counters of a service, updated by every relay (read from any thread).
struct Counters {
  std::atomic<std::uint64_t> bytes{0};      ///< bytes relayed, both directions
  std::atomic<std::uint64_t> relays{0};     ///< relays running now
  std::atomic<std::uint64_t> relays_total{0};  ///< relays started
};

/// One end of a relay: a socket (rfd == wfd) or a pair of descriptors such as stdin/stdout.
/// The relay owns the descriptors and closes them when it ends.
struct RelayEnd {
  int rfd = -1;
  int wfd = -1;
};

/// Totals of a finished relay.
struct RelayResult {
  std::uint64_t a_to_b = 0;
  std::uint64_t b_to_a = 0;
  bool error = false;  ///< ended by an error (reset, or a write to a closed peer)
};

struct RelayOptions {
  std::shared_ptr<RateLimiter> limiter;  ///< optional bandwidth cap (shared per account)
  Counters* counters = nullptr;          ///< optional service counters
  /// After one direction ended (FIN), the other may go on this long before both close.
  std::chrono::milliseconds half_close_timeout{30000};
};

/// Relay bytes both ways between a and b on io until both directions end or one fails; then
/// close every descriptor and call done (on io's thread).
///
/// Hot path: splice(2) through a pipe per direction, so bulk bytes never enter user space. Small
/// reads (interactive traffic) switch the direction to one read/write pair per message, which is
/// cheaper than two splices, until a read fills the 64 KiB buffer again; descriptors that cannot
/// splice (a terminal) always copy. Back-pressure: a
/// direction reads only when its pipe is empty, so at most one pipe (up to 1 MiB) is buffered
/// per direction. A FIN on one side is passed on as shutdown(SHUT_WR) on the other (half-close);
/// an error on either side closes both (XEP-0003 §3: a disconnect on either side disconnects the
/// other). The first call sets SIGPIPE to ignored for the process (splice has no MSG_NOSIGNAL).
void start_relay(asio::io_context& io, RelayEnd a, RelayEnd b, RelayOptions options,
                 std::function<void(const RelayResult&)> done);

}  // namespace xnet::pass
