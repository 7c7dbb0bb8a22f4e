// SPDX-License-Identifier: MIT
#pragma once

// The PASS relay of `xnet serve` (options --pass-*): the option values as given, their checks
// (port range, addresses) and the service they make.

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "error.hpp"
#include "pass/service.hpp"
#include "server/event_log.hpp"

namespace xnet::pass {

/// `xnet serve --pass-*`: PASS (XEP-0003) is on when range is given.
struct ServeOptions {
  std::string range;            ///< FIRST-LAST ("" = PASS off)
  std::string public_ip;        ///< "" = the first listen address
  std::string bind_ip;          ///< "" = public_ip
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
  double owner_ping = 30.0;     ///< seconds between pings of port owners (0 = off)
};

struct PortRange {
  std::uint16_t first = 0;
  std::uint16_t last = 0;
};

/// "FIRST-LAST" or a single "PORT", 1..65535 with FIRST <= LAST. Errors: Usage.
Result<PortRange> parse_port_range(std::string_view text);

/// The service configuration from the options; default_ip is the public address when
/// public_ip is not given. Errors: Usage for a bad range or address.
Result<ServiceConfig> service_config(const ServeOptions& o, const std::string& default_ip);

/// The PASS service, or nullptr when o.range is empty; its events go to log.
Result<std::unique_ptr<PassService>> make_service(const ServeOptions& o, const std::string& default_ip,
                                                  server::EventLog& log);

}  // namespace xnet::pass
