// SPDX-License-Identifier: MIT
#include "server/throttle.hpp"

#include <algorithm>
#include <arpa/inet.h>

#include <vector>

namespace xnet::server {

std::string AuthThrottle::address_key(std::string_view ip) {
  std::string s(ip);
  in6_addr a6{};
  if (s.find(':') != std::string::npos && ::inet_pton(AF_INET6, s.c_str(), &a6) == 1) {
    std::fill(a6.s6_addr + 8, a6.s6_addr + 16, 0);
    char buf[INET6_ADDRSTRLEN];
    if (::inet_ntop(AF_INET6, &a6, buf, sizeof buf)) return std::string(buf) + "/64";
  }
  return s;
}

std::string AuthThrottle::known_key(std::string_view ip, std::string_view account) const {
  std::string k(account);
  k += '\0';
  k += address_key(ip);
  return k;
}

double AuthThrottle::level(std::map<std::string, Bucket, std::less<>>& m, const std::string& key, double burst,
                           std::chrono::milliseconds refill, Clock::time_point now) {
  auto it = m.find(key);
  if (it == m.end()) return burst;
  auto& b = it->second;
  double gained = std::chrono::duration<double>(now - b.at) / std::chrono::duration<double>(refill);
  if (gained > 0) {
    b.tokens = std::min(burst, b.tokens + gained);
    b.at = now;
  }
  if (b.tokens >= burst) {
    m.erase(it);
    return burst;
  }
  return b.tokens;
}

void AuthThrottle::take(std::map<std::string, Bucket, std::less<>>& m, const std::string& key, double burst,
                        std::chrono::milliseconds refill, Clock::time_point now) {
  double have = level(m, key, burst, refill, now);
  if (m.size() >= o_.max_entries && !m.count(key)) prune(m, burst, refill, now);
  auto& b = m[key];
  b.tokens = std::max(0.0, have - 1);
  b.at = now;
}

void AuthThrottle::prune(std::map<std::string, Bucket, std::less<>>& m, double burst, std::chrono::milliseconds refill,
                         Clock::time_point now) {
  // Drop the buckets that are fullest by now (refilled ones first); at least a tenth of the table.
  std::vector<std::pair<double, std::string>> by_level;
  by_level.reserve(m.size());
  for (auto& [k, b] : m) {
    double gained = std::chrono::duration<double>(now - b.at) / std::chrono::duration<double>(refill);
    by_level.emplace_back(std::min(burst, b.tokens + gained), k);
  }
  std::size_t drop = std::max<std::size_t>(1, m.size() / 10);
  std::partial_sort(by_level.begin(), by_level.begin() + static_cast<long>(std::min(drop, by_level.size())),
                    by_level.end(), [](auto& a, auto& b) { return a.first > b.first; });
  for (std::size_t i = 0; i < drop && i < by_level.size(); ++i) m.erase(by_level[i].second);
}

AuthThrottle::Verdict AuthThrottle::check(std::string_view ip, std::string_view account, Clock::time_point now) {
  auto addr = address_key(ip);
  if (level(addresses_, addr, o_.address_burst, o_.address_refill, now) < 1) return Verdict::AddressThrottled;
  auto kk = known_key(ip, account);
  if (known_since_.count(kk)) {
    if (level(known_, kk, o_.account_burst, o_.account_refill, now) < 1) return Verdict::AccountThrottled;
    return Verdict::Allowed;
  }
  if (level(accounts_, std::string(account), o_.account_burst, o_.account_refill, now) < 1)
    return Verdict::AccountThrottled;
  return Verdict::Allowed;
}

void AuthThrottle::failed(std::string_view ip, std::string_view account, Clock::time_point now) {
  take(addresses_, address_key(ip), o_.address_burst, o_.address_refill, now);
  auto kk = known_key(ip, account);
  if (known_since_.count(kk))
    take(known_, kk, o_.account_burst, o_.account_refill, now);
  else
    take(accounts_, std::string(account), o_.account_burst, o_.account_refill, now);
}

void AuthThrottle::succeeded(std::string_view ip, std::string_view account, Clock::time_point now) {
  auto kk = known_key(ip, account);
  if (!known_since_.count(kk) && known_since_.size() >= o_.max_entries) {
    auto oldest = std::min_element(known_since_.begin(), known_since_.end(),
                                   [](auto& a, auto& b) { return a.second < b.second; });
    known_.erase(oldest->first);
    known_since_.erase(oldest);
  }
  known_since_[kk] = now;
}

double AuthThrottle::retry_after(std::string_view ip, std::string_view account, Clock::time_point now) {
  auto wait = [&](double lvl, std::chrono::milliseconds refill) {
    return lvl >= 1 ? 0.0 : (1 - lvl) * std::chrono::duration<double>(refill).count();
  };
  auto kk = known_key(ip, account);
  double acc = known_since_.count(kk) ? wait(level(known_, kk, o_.account_burst, o_.account_refill, now), o_.account_refill)
                                      : wait(level(accounts_, std::string(account), o_.account_burst, o_.account_refill, now),
                                             o_.account_refill);
  double adr = wait(level(addresses_, address_key(ip), o_.address_burst, o_.address_refill, now), o_.address_refill);
  return std::max(acc, adr);
}

}  // namespace xnet::server
