// SPDX-License-Identifier: MIT
#include "util/hostport.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace xnet::util {

bool is_ip_literal(std::string_view s) {
  std::string z(s);
  unsigned char buf[16];
  return inet_pton(AF_INET, z.c_str(), buf) == 1 || inet_pton(AF_INET6, z.c_str(), buf) == 1;
}

namespace {
Result<std::uint16_t> parse_port(std::string_view p) {
  unsigned v = 0;
  auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
  if (p.empty() || ec != std::errc() || ptr != p.data() + p.size() || v == 0 || v > 65535)
    return fail(Category::Usage, "invalid port '" + std::string(p) + "' (expected 1-65535)");
  return static_cast<std::uint16_t>(v);
}
}  // namespace

Result<HostPort> parse_host_port(std::string_view s) {
  HostPort hp;
  if (s.empty()) return fail(Category::Usage, "empty host");
  if (s.front() == '[') {
    auto close = s.find(']');
    if (close == std::string_view::npos) return fail(Category::Usage, "missing ']' in '" + std::string(s) + "'");
    hp.host = std::string(s.substr(1, close - 1));
    auto rest = s.substr(close + 1);
    if (!rest.empty()) {
      if (rest.front() != ':') return fail(Category::Usage, "unexpected text after ']' in '" + std::string(s) + "'");
      auto p = parse_port(rest.substr(1));
      if (!p) return fail(p.error());
      hp.port = *p;
    }
    if (!is_ip_literal(hp.host)) return fail(Category::Usage, "'" + hp.host + "' is not an IPv6 address");
    return hp;
  }
  auto colon = s.find(':');
  if (colon != std::string_view::npos && s.find(':', colon + 1) != std::string_view::npos) {
    // More than one colon: a bare IPv6 literal without port.
    // Appends: "literal" + std::string gives a GCC 12 -O3 -Wrestrict false positive (PR 105651).
    if (!is_ip_literal(s)) return fail(Category::Usage, std::string("'").append(s).append("' is not a valid address"));
    hp.host = std::string(s);
    return hp;
  }
  hp.host = std::string(s.substr(0, colon));
  if (hp.host.empty()) return fail(Category::Usage, "empty host in '" + std::string(s) + "'");
  if (colon != std::string_view::npos) {
    auto p = parse_port(s.substr(colon + 1));
    if (!p) return fail(p.error());
    hp.port = *p;
  }
  return hp;
}

std::string format_host_port(std::string_view host, std::uint16_t port) {
  std::string h(host);
  if (h.find(':') != std::string::npos) h = "[" + h + "]";
  return h + ":" + std::to_string(port);
}

}  // namespace xnet::util
