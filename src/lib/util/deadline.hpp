// SPDX-License-Identifier: MIT
#pragma once

#include <algorithm>
#include <chrono>

namespace xnet {

/// A point in time by which a whole operation must finish (--timeout covers everything).
class Deadline {
 public:
  using Clock = std::chrono::steady_clock;

  static Deadline in(std::chrono::milliseconds d) { return Deadline(Clock::now() + d); }
  static Deadline never() { return Deadline(Clock::time_point::max()); }
  explicit Deadline(Clock::time_point at) : at_(at) {}

  Clock::time_point at() const { return at_; }
  bool expired() const { return Clock::now() >= at_; }
  /// Time left, never negative.
  std::chrono::milliseconds remaining() const {
    if (at_ == Clock::time_point::max()) return std::chrono::hours(24 * 365);
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(at_ - Clock::now());
    return std::max(left, std::chrono::milliseconds(0));
  }
  /// The earlier of this deadline and now + d.
  Deadline capped(std::chrono::milliseconds d) const {
    return Deadline(std::min(at_, Clock::now() + d));
  }

 private:
  Clock::time_point at_;
};

}  // namespace xnet
