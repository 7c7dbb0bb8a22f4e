// SPDX-License-Identifier: MIT
#pragma once

// PROXY protocol version 2 (HAProxy's proxy-protocol.txt §2.2): the binary header a load
// balancer (HAProxy `send-proxy-v2`, nginx stream `proxy_protocol on`) puts in front of a
// connection so the server learns the client's real address.

#include <cstddef>
#include <optional>
#include <string_view>

#include "error.hpp"
#include "server/service.hpp"

namespace xnet::server::proxy {

inline constexpr std::size_t kFixedHeader = 16;
inline constexpr std::size_t kMaxHeader = 16 + 536;  ///< what we accept (addresses + TLVs)

/// The total header length announced by the 16 fixed bytes in head, or an error
/// (Category::Protocol) when they are not a v2 header.
Result<std::size_t> header_length(std::string_view head);

/// Parses a complete header. Returns the original source (nullopt for LOCAL commands and
/// UNSPEC/UNIX families: use the socket peer), or Category::Protocol on a malformed header.
Result<std::optional<Endpoint>> parse(std::string_view header);

}  // namespace xnet::server::proxy
