// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

namespace xnet::pass {

/// Why PortPool::acquire failed.
enum class PoolError {
  Exhausted,  ///< every port of the range is taken (or refused by try_port)
  Quota,      ///< the account already holds its maximum of listener ports
};

/// The global port range of a PASS service and the per-account listener quota. Pure
/// bookkeeping: binding is done by the caller through the try_port callback of acquire().
class PortPool {
 public:
  /// Ports first..last inclusive; each account may hold at most per_account listener ports
  /// (rendezvous ports, acquired with an empty account, do not count against any quota).
  PortPool(std::uint16_t first, std::uint16_t last, std::size_t per_account);

  /// Take a free port for account ("" = not counted). try_port(port) is called on candidates
  /// in round-robin order until it returns true (the caller binds there); a port it refuses
  /// stays free. Fails with Quota or Exhausted.
  std::optional<std::uint16_t> acquire(const std::string& account,
                                       const std::function<bool(std::uint16_t)>& try_port,
                                       PoolError* why = nullptr);
  /// Return port to the pool (no-op when it is not taken).
  void release(std::uint16_t port);

  bool contains(std::uint16_t port) const { return port >= first_ && port <= last_; }
  std::size_t in_use() const { return owner_.size(); }
  std::size_t capacity() const { return static_cast<std::size_t>(last_ - first_) + 1; }
  /// Listener ports held by account.
  std::size_t held_by(const std::string& account) const;
  std::size_t per_account() const { return per_account_; }

 private:
  std::uint16_t first_, last_;
  std::size_t per_account_;
  std::uint32_t cursor_ = 0;
  std::map<std::uint16_t, std::string> owner_;
  std::map<std::string, std::size_t> held_;
};

}  // namespace xnet::pass
