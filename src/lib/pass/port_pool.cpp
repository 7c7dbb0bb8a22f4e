// SPDX-License-Identifier: MIT
#include "pass/port_pool.hpp"

#include <algorithm>

namespace xnet::pass {

PortPool::PortPool(std::uint16_t first, std::uint16_t last, std::size_t per_account)
    : first_(std::min(first, last)), last_(std::max(first, last)), per_account_(per_account) {}

std::optional<std::uint16_t> PortPool::acquire(const std::string& account,
                                               const std::function<bool(std::uint16_t)>& try_port,
                                               PoolError* why) {
  if (!account.empty() && held_by(account) >= per_account_) {
    if (why) *why = PoolError::Quota;
    return std::nullopt;
  }
  const std::uint32_t n = static_cast<std::uint32_t>(capacity());
  // Round-robin so a port just released is not handed out again at once (a late client of
  // the previous owner would otherwise reach the new one).
  for (std::uint32_t i = 0; i < n; ++i) {
    auto port = static_cast<std::uint16_t>(first_ + (cursor_ + i) % n);
    if (owner_.count(port)) continue;
    if (!try_port(port)) continue;
    cursor_ = (cursor_ + i + 1) % n;
    owner_[port] = account;
    if (!account.empty()) ++held_[account];
    return port;
  }
  if (why) *why = PoolError::Exhausted;
  return std::nullopt;
}

void PortPool::release(std::uint16_t port) {
  auto it = owner_.find(port);
  if (it == owner_.end()) return;
  if (!it->second.empty()) {
    auto h = held_.find(it->second);
    if (h != held_.end() && --h->second == 0) held_.erase(h);
  }
  owner_.erase(it);
}

std::size_t PortPool::held_by(const std::string& account) const {
  auto it = held_.find(account);
  return it == held_.end() ? 0 : it->second;
}

}  // namespace xnet::pass
