// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "error.hpp"

namespace xnet::util {

struct HostPort {
  std::string host;        ///< without brackets
  std::uint16_t port = 0;  ///< 0 when absent
};

/// Parse "host", "host:port", "[v6]", "[v6]:port" or a bare IPv6 literal. Errors: Usage.
Result<HostPort> parse_host_port(std::string_view s);

/// True when s is an IPv4 or IPv6 address literal.
bool is_ip_literal(std::string_view s);

/// "host:port", bracketing IPv6 literals.
std::string format_host_port(std::string_view host, std::uint16_t port);

}  // namespace xnet::util
