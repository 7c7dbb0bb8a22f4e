// SPDX-License-Identifier: MIT
#pragma once

// Reaching the server: for each connection target in order, resolve it and race its IPv6 and
// IPv4 addresses (Happy Eyeballs, RFC 8305) on the session's io_context.

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/tcp.hpp>
#include <asio/steady_timer.hpp>

#include "error.hpp"
#include "trace.hpp"
#include "xmpp/resolve.hpp"

namespace xnet::xmpp {

/// Address-family choice and the RFC 8305 timers.
struct ConnectPrefs {
  int family = 0;  ///< 0 = both, 4 = IPv4 only (-4), 6 = IPv6 only (-6)
  std::chrono::milliseconds attempt_delay{250};    ///< RFC 8305 §5 "Connection Attempt Delay"
  std::chrono::milliseconds resolution_delay{50};  ///< RFC 8305 §3: wait for AAAA after A
};

/// A connected TCP socket and the target it belongs to.
struct Connected {
  asio::ip::tcp::socket socket;
  ConnectTarget target;
};

/// Interleave addresses by family, starting with the family of the first one (RFC 8305 §4).
std::vector<asio::ip::address> interleave_families(const std::vector<asio::ip::address>& v6,
                                                   const std::vector<asio::ip::address>& v4);

/// One connection race. done is called once on io (unless cancel() came first) with the
/// first socket that connected, or with an error classified from what happened: Dns (no
/// address), Connect (refused, unreachable), Timeout (the kernel's connect timeout), Usage
/// (an address literal of the family excluded by -4/-6).
class Connector : public std::enable_shared_from_this<Connector> {
 public:
  Connector(asio::io_context& io, Resolver& resolver, Trace& trace);
  void start(std::vector<ConnectTarget> targets, ConnectPrefs prefs, std::function<void(Result<Connected>)> done);
  /// Stop every lookup, attempt and timer; done is not called afterwards.
  void cancel();
  /// A short description of what is under way ("resolving example.org", "connecting to …").
  std::string stage() const;

 private:
  struct Attempt;
  void next_target();
  void on_addresses(int family, AddressAnswer a);
  void maybe_start_attempts();
  void start_attempt();
  void attempt_failed(const std::shared_ptr<Attempt>& at, const asio::error_code& ec);
  void check_target_done();
  void finish(Result<Connected> r);
  Error failure() const;

  asio::io_context& io_;
  Resolver& resolver_;
  Trace& trace_;
  ConnectPrefs prefs_;
  std::vector<ConnectTarget> targets_;
  std::size_t index_ = 0;
  std::function<void(Result<Connected>)> done_;
  // Per target state.
  std::vector<asio::ip::address> v6_, v4_, queue_;
  std::size_t next_ = 0;
  int pending_lookups_ = 0;
  bool started_ = false;
  bool a_waiting_ = false;
  std::vector<std::shared_ptr<Attempt>> attempts_;
  asio::steady_timer delay_;
  asio::steady_timer resolution_timer_;
  std::uint64_t epoch_ = 0;
  bool finished_ = false;
  // What went wrong so far, for the final error.
  std::vector<std::string> dns_errors_;
  std::vector<std::string> connect_errors_;
  int refused_ = 0, unreachable_ = 0, timedout_ = 0, other_ = 0;
  std::optional<Error> usage_error_;
};

}  // namespace xnet::xmpp
