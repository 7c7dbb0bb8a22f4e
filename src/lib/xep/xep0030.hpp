// SPDX-License-Identifier: MIT
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"
#include "xml/element.hpp"

namespace xnet::xep0030 {

inline constexpr std::string_view kInfoNs = "http://jabber.org/protocol/disco#info";
inline constexpr std::string_view kItemsNs = "http://jabber.org/protocol/disco#items";

/// Service discovery information (XEP-0030 §3).
struct DiscoInfo {
  struct Identity {
    std::string category, type, name;
  };
  std::vector<Identity> identities;
  std::vector<std::string> features;
  /// True when feature is listed.
  bool has(std::string_view feature) const;
};

/// The <query xmlns='…disco#info'/> payload of a disco#info request.
xml::Element info_query();
/// Parse a disco#info result IQ (or its <query/>) into identities and features.
/// Errors: Protocol when the query element is missing.
Result<DiscoInfo> parse_info(const xml::Element& iq_or_query);
/// Render info as a disco#info <query/> (for servers).
xml::Element render_info(const DiscoInfo& info);

/// One entry of a disco#items result (XEP-0030 §4).
struct DiscoItem {
  std::string jid, node, name;
};

/// An IQ get for disco#info (or disco#items when items) addressed to to.
xml::Element info_request(std::string_view to);
xml::Element items_request(std::string_view to);
/// Parse a disco#items result IQ (or its <query/>); items without a jid are dropped.
/// Errors: Protocol when the query element is missing.
Result<std::vector<DiscoItem>> parse_items(const xml::Element& iq_or_query);

}  // namespace xnet::xep0030
