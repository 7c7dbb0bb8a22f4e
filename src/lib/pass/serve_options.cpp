// SPDX-License-Identifier: MIT
#include "pass/serve_options.hpp"

#include <asio/ip/address.hpp>

#include "xep/xep0003.hpp"

namespace xnet::pass {

namespace {
std::chrono::milliseconds seconds_ms(double s) { return std::chrono::milliseconds(static_cast<long long>(s * 1000)); }
}  // namespace

Result<PortRange> parse_port_range(std::string_view text) {
  auto dash = text.find('-');
  auto first = xep0003::parse_port(text.substr(0, dash));
  auto last = dash == std::string_view::npos ? first : xep0003::parse_port(text.substr(dash + 1));
  if (!first || !last || *first == 0 || *last < *first)
    return fail(Category::Usage, "--pass-range: '" + std::string(text) + "' is not FIRST-LAST (1..65535, FIRST <= LAST)");
  return PortRange{*first, *last};
}

Result<ServiceConfig> service_config(const ServeOptions& o, const std::string& default_ip) {
  auto range = parse_port_range(o.range);
  if (!range) return fail(range.error());
  ServiceConfig c;
  c.first_port = range->first;
  c.last_port = range->last;
  c.public_ip = o.public_ip.empty() ? default_ip : o.public_ip;
  c.bind_ip = o.bind_ip;
  for (const auto* ip : {&c.public_ip, &c.bind_ip}) {
    std::error_code ec;
    if (!ip->empty()) (void)asio::ip::make_address(*ip, ec);
    if (ec) return fail(Category::Usage, "--pass-public-ip/--pass-bind: '" + *ip + "' is not an IP address");
  }
  c.name = o.name;
  c.ports_per_account = o.ports_per_account;
  c.limits.relays_per_account = o.relays_per_account;
  c.limits.relays_total = o.relays_total;
  c.limits.accept_window = seconds_ms(o.accept_window);
  c.limits.max_expire = o.max_expire;
  c.limits.relays_per_source = o.relays_per_source;
  c.limits.pending_per_source = o.pending_per_source;
  c.limits.grace = seconds_ms(o.grace);
  c.allow_anonymous = o.anonymous;
  c.owner_ping_interval = seconds_ms(o.owner_ping);
  c.bandwidth = o.bandwidth;
  return c;
}

Result<std::unique_ptr<PassService>> make_service(const ServeOptions& o, const std::string& default_ip,
                                                  server::EventLog& log) {
  if (o.range.empty()) return std::unique_ptr<PassService>();
  auto c = service_config(o, default_ip);
  if (!c) return fail(c.error());
  return std::make_unique<PassService>(
      std::move(*c), [&log](std::string_view name, const nlohmann::json& fields) { log.event(name, fields); });
}

}  // namespace xnet::pass
