// SPDX-License-Identifier: MIT
// The PASS service options of `xnet serve` (declared here, next to the pass verb).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

namespace CLI {
class App;
}
namespace xnet::server {
class Service;
class EventLog;
}  // namespace xnet::server

namespace xnet::cmd {

/// `xnet serve --pass-*`: PASS (XEP-0003) is on when --pass-range is given.
struct PassServeOptions {
  std::string range;           ///< FIRST-LAST
  std::string public_ip;       ///< "" = the first listen address
  std::string bind_ip;         ///< "" = public_ip
  std::string name = "pass";
  std::size_t ports_per_account = 4;
  std::size_t relays_per_account = 16;
  std::size_t relays_total = 1024;
  double accept_window = 10.0;  ///< seconds
  std::uint64_t bandwidth = 0;  ///< bytes/s per account (0 = unlimited)
  std::uint64_t max_expire = 0; ///< seconds (0 = unlimited)
  bool anonymous = false;       ///< let SASL ANONYMOUS sessions rent ports
  std::size_t relays_per_source = 8;
  std::size_t pending_per_source = 8;
  double grace = 120.0;         ///< seconds a gone owner's ports are kept for its reconnect
  double owner_ping = 30.0;     ///< component mode: seconds between pings of owners (0 = off)
};

/// Declare the --pass-* options on serve (group "PASS relay (XEP-0003)").
void add_pass_serve_options(CLI::App& serve, PassServeOptions& o);

/// The PASS service for `xnet serve`, or nullptr when --pass-range is not set. default_ip is
/// used as the public address when --pass-public-ip is not given. Log events go to log.
/// Errors (thrown as xnet::Error): Usage for a bad range or address.
std::unique_ptr<server::Service> make_pass_service(const PassServeOptions& o, const std::string& default_ip,
                                                   server::EventLog& log);

}  // namespace xnet::cmd
