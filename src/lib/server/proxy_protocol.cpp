// SPDX-License-Identifier: MIT
#include "server/proxy_protocol.hpp"

#include <arpa/inet.h>

#include <cstring>

namespace xnet::server::proxy {

namespace {
constexpr unsigned char kSig[12] = {0x0D, 0x0A, 0x0D, 0x0A, 0x00, 0x0D, 0x0A, 0x51, 0x55, 0x49, 0x54, 0x0A};
}

Result<std::size_t> header_length(std::string_view head) {
  if (head.size() < kFixedHeader) return fail(Category::Protocol, "PROXY v2 header too short");
  if (std::memcmp(head.data(), kSig, sizeof kSig) != 0)
    return fail(Category::Protocol, "connection does not start with a PROXY v2 header");
  auto ver_cmd = static_cast<unsigned char>(head[12]);
  if ((ver_cmd >> 4) != 2) return fail(Category::Protocol, "unsupported PROXY protocol version");
  if ((ver_cmd & 0x0F) > 1) return fail(Category::Protocol, "unknown PROXY command");
  std::size_t len = (static_cast<unsigned char>(head[14]) << 8) | static_cast<unsigned char>(head[15]);
  if (kFixedHeader + len > kMaxHeader) return fail(Category::Protocol, "PROXY v2 header too long");
  return kFixedHeader + len;
}

Result<std::optional<Endpoint>> parse(std::string_view h) {
  auto total = header_length(h);
  if (!total) return tl::unexpected(total.error());
  if (h.size() < *total) return fail(Category::Protocol, "PROXY v2 header truncated");
  auto cmd = static_cast<unsigned char>(h[12]) & 0x0F;
  auto fam = static_cast<unsigned char>(h[13]);
  std::size_t len = *total - kFixedHeader;
  const auto* a = reinterpret_cast<const unsigned char*>(h.data()) + kFixedHeader;
  if (cmd == 0) return std::optional<Endpoint>();  // LOCAL: health check from the proxy itself
  char buf[INET6_ADDRSTRLEN] = {};
  Endpoint e;
  if (fam == 0x11 || fam == 0x12) {  // TCP/UDP over IPv4
    if (len < 12) return fail(Category::Protocol, "PROXY v2 IPv4 block too short");
    inet_ntop(AF_INET, a, buf, sizeof buf);
    e.port = static_cast<unsigned short>((a[8] << 8) | a[9]);
  } else if (fam == 0x21 || fam == 0x22) {  // over IPv6
    if (len < 36) return fail(Category::Protocol, "PROXY v2 IPv6 block too short");
    inet_ntop(AF_INET6, a, buf, sizeof buf);
    e.port = static_cast<unsigned short>((a[32] << 8) | a[33]);
    std::string_view s = buf;
    if (s.starts_with("::ffff:") && s.find('.') != std::string_view::npos) {
      e.ip = std::string(s.substr(7));
      return std::optional<Endpoint>(e);
    }
  } else {
    return std::optional<Endpoint>();
  }
  e.ip = buf;
  return std::optional<Endpoint>(e);
}

}  // namespace xnet::server::proxy
