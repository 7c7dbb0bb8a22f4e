// SPDX-License-Identifier: MIT
#include "xep/xep0279.hpp"

#include <arpa/inet.h>

#include <charconv>

namespace xnet::xep0279 {

std::string_view ns_uri(Ns ns) { return ns == Ns::Sic0 ? kSic0 : kSic1; }

xml::Element build_request(Ns ns) {
  xml::Element iq("iq", "jabber:client");
  iq.set("type", "get");
  iq.add(ns == Ns::Sic0 ? "ip" : "address", std::string(ns_uri(ns)));
  return iq;
}

namespace {
std::string_view trim(std::string_view s) {
  constexpr std::string_view ws = " \t\r\n";
  auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(ws);
  return s.substr(b, e - b + 1);
}

std::optional<std::uint16_t> parse_port(std::string_view s) {
  s = trim(s);
  unsigned v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (s.empty() || ec != std::errc() || p != s.data() + s.size() || v < 1 || v > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(v);
}
}  // namespace

std::optional<std::string> normalize_ip(std::string_view text, int* family) {
  auto s = trim(text);
  if (s.size() >= 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  if (auto pct = s.find('%'); pct != std::string_view::npos) s = s.substr(0, pct);
  if (s.empty() || s.size() > INET6_ADDRSTRLEN) return std::nullopt;
  std::string z(s);
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, z.c_str(), buf) == 1) {
    inet_ntop(AF_INET, buf, out, sizeof out);
    if (family) *family = 4;
    return std::string(out);
  }
  if (inet_pton(AF_INET6, z.c_str(), buf) == 1) {
    static constexpr unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::equal(std::begin(kMapped), std::end(kMapped), buf)) {
      inet_ntop(AF_INET, buf + 12, out, sizeof out);
      if (family) *family = 4;
      return std::string(out);
    }
    inet_ntop(AF_INET6, buf, out, sizeof out);
    if (family) *family = 6;
    return std::string(out);
  }
  return std::nullopt;
}

Result<Address> parse_result(const xml::Element& iq) {
  const xml::Element* payload = nullptr;
  Ns ns = Ns::Sic1;
  for (const auto& c : iq.children) {
    if (c.ns == kSic1 || c.ns == kSic0) {
      payload = &c;
      ns = c.ns == kSic1 ? Ns::Sic1 : Ns::Sic0;
      break;
    }
  }
  if (!payload) return fail(Category::Protocol, "server returned no address (empty result)");
  Address a;
  a.ns = ns;
  std::vector<std::string_view> ips;
  std::vector<std::string_view> ports;
  if (payload->name == "ip") {
    ips.push_back(payload->text);
  } else if (payload->name == "address") {
    if (ns == Ns::Sic0) a.warnings.push_back("sic:0 answer wrapped in <address> (ejabberd style)");
    for (const auto& c : payload->children) {
      if (c.name == "ip") ips.push_back(c.text);
      if (c.name == "port") ports.push_back(c.text);
    }
  } else {
    return fail(Category::Protocol, "unexpected <" + payload->name + "/> in the SIC result");
  }
  if (ips.empty() || trim(ips.front()).empty()) return fail(Category::Protocol, "server returned no address");
  auto ip = normalize_ip(ips.front(), &a.family);
  if (!ip) {
    std::string shown(trim(ips.front()).substr(0, 64));
    return fail(Category::Protocol, "server returned '" + shown + "', which is not an IP address",
                "run with --debug=xml to see the raw reply");
  }
  a.ip = *ip;
  for (std::size_t i = 1; i < ips.size(); ++i)
    if (auto extra = normalize_ip(ips[i])) a.extra_ips.push_back(*extra);
  if (!ports.empty()) {
    a.port = parse_port(ports.front());
    if (!a.port) a.warnings.push_back("ignored invalid port '" + std::string(trim(ports.front()).substr(0, 16)) + "'");
  }
  return a;
}

xml::Element build_result_payload(Ns ns, std::string_view ip, std::optional<std::uint16_t> port) {
  if (ns == Ns::Sic0) {
    xml::Element e("ip", std::string(kSic0));
    e.text = std::string(ip);
    return e;
  }
  xml::Element e("address", std::string(kSic1));
  e.add("ip").set_text(std::string(ip));
  if (port) e.add("port").set_text(std::to_string(*port));
  return e;
}

std::optional<Ns> request_ns(const xml::Element& iq) {
  for (const auto& c : iq.children) {
    if (c.ns == kSic1) return Ns::Sic1;
    if (c.ns == kSic0) return Ns::Sic0;
  }
  return std::nullopt;
}

}  // namespace xnet::xep0279
