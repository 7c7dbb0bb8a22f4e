// SPDX-License-Identifier: MIT
#pragma once

// Authentication throttling across connections (token buckets). Each failed password costs a
// token from the account's bucket and from the source address's bucket (IPv6: its /64); an
// attempt finding either bucket empty is refused with temporary-auth-failure before any
// password check. Buckets refill over time, so nobody is locked out for good, and an address
// that has logged in to an account before keeps its own allowance for that account: guessing
// from elsewhere does not lock the owner out (it still answers to the per-address bucket).
// Memory is bounded: full buckets are forgotten and the tables have a cap.

#include <chrono>
#include <cstddef>
#include <map>
#include <string>
#include <string_view>

namespace xnet::server {

struct ThrottleOptions {
  double account_burst = 10;                    ///< failures an account absorbs at once
  std::chrono::milliseconds account_refill{6000};  ///< one more failure allowed per interval
  double address_burst = 20;                    ///< failures one address (or /64) absorbs at once
  std::chrono::milliseconds address_refill{3000};
  std::size_t max_entries = 100000;             ///< per table; beyond, the fullest are dropped
};

class AuthThrottle {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Verdict { Allowed, AccountThrottled, AddressThrottled };

  explicit AuthThrottle(ThrottleOptions o = {}) : o_(o) {}

  /// May ip try a password for account now?
  Verdict check(std::string_view ip, std::string_view account, Clock::time_point now = Clock::now());
  /// A wrong password (or unknown account) from ip for account.
  void failed(std::string_view ip, std::string_view account, Clock::time_point now = Clock::now());
  /// A successful login: ip is remembered as a known address of account.
  void succeeded(std::string_view ip, std::string_view account, Clock::time_point now = Clock::now());
  /// Seconds until the next attempt would be allowed (for the log and the failure text).
  double retry_after(std::string_view ip, std::string_view account, Clock::time_point now = Clock::now());
  /// Entries held (tests).
  std::size_t size() const { return accounts_.size() + addresses_.size() + known_.size(); }
  void set_options(ThrottleOptions o) { o_ = o; }

  /// The bucket key of an address: IPv4 as is, IPv6 its /64.
  static std::string address_key(std::string_view ip);

 private:
  struct Bucket {
    double tokens = 0;
    Clock::time_point at;
  };
  double level(std::map<std::string, Bucket, std::less<>>& m, const std::string& key, double burst,
               std::chrono::milliseconds refill, Clock::time_point now);
  void take(std::map<std::string, Bucket, std::less<>>& m, const std::string& key, double burst,
            std::chrono::milliseconds refill, Clock::time_point now);
  void prune(std::map<std::string, Bucket, std::less<>>& m, double burst, std::chrono::milliseconds refill,
             Clock::time_point now);
  std::string known_key(std::string_view ip, std::string_view account) const;

  ThrottleOptions o_;
  std::map<std::string, Bucket, std::less<>> accounts_;   ///< account → bucket
  std::map<std::string, Bucket, std::less<>> addresses_;  ///< address key → bucket
  std::map<std::string, Bucket, std::less<>> known_;      ///< account\0address → own account bucket
  std::map<std::string, Clock::time_point, std::less<>> known_since_;
};

}  // namespace xnet::server
