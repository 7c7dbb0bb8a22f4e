// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"
#include "xml/element.hpp"

/// XEP-0279 Server IP Check: pure codecs for both namespaces (client and server side).
namespace xnet::xep0279 {

inline constexpr std::string_view kSic0 = "urn:xmpp:sic:0";
inline constexpr std::string_view kSic1 = "urn:xmpp:sic:1";

enum class Ns { Sic0, Sic1 };

/// The namespace URI of ns.
std::string_view ns_uri(Ns ns);

/// An address reported by the server, normalised (sic.md §4.5).
struct Address {
  std::string ip;                      ///< canonical text form, no brackets, no zone, unmapped
  std::optional<std::uint16_t> port;   ///< absent for sic:0 or when the server left it out
  int family = 0;                      ///< 4 or 6
  Ns ns = Ns::Sic1;                    ///< the namespace that answered
  std::vector<std::string> extra_ips;  ///< further <ip> elements, normalised
  std::vector<std::string> warnings;   ///< tolerated oddities (bad port dropped, quirk seen)
};

/// The request IQ (type get, no 'to': sic.md §4.2) with an empty payload in namespace ns.
xml::Element build_request(Ns ns);

/// Parse a result IQ. Accepts both namespaces whatever was asked, the ejabberd <address>
/// wrapper for sic:0, missing/invalid ports (dropped with a warning). Errors: Protocol when
/// there is no address or it is not an IP address.
Result<Address> parse_result(const xml::Element& iq);

/// Normalise an IP address string: trim, strip [..] and %zone, unmap ::ffff:. Returns the
/// canonical form and sets family (4/6), or nullopt when text is not an IP address.
std::optional<std::string> normalize_ip(std::string_view text, int* family = nullptr);

/// Server side: the payload of a result for a request in namespace ns (port omitted for sic:0).
xml::Element build_result_payload(Ns ns, std::string_view ip, std::optional<std::uint16_t> port);

/// Which namespace a request payload is in, or nullopt when it is not a SIC request.
std::optional<Ns> request_ns(const xml::Element& iq);

}  // namespace xnet::xep0279
