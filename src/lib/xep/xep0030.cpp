// SPDX-License-Identifier: MIT
#include "xep/xep0030.hpp"

namespace xnet::xep0030 {

bool DiscoInfo::has(std::string_view feature) const {
  for (const auto& f : features)
    if (f == feature) return true;
  return false;
}

xml::Element info_query() { return xml::Element("query", std::string(kInfoNs)); }

Result<DiscoInfo> parse_info(const xml::Element& e) {
  const xml::Element* q = e.name == "query" ? &e : e.child("query", kInfoNs);
  if (!q || q->ns != kInfoNs) return fail(Category::Protocol, "disco#info reply without a <query/>");
  DiscoInfo info;
  for (const auto& c : q->children) {
    if (c.name == "identity")
      info.identities.push_back({c.attr_or("category"), c.attr_or("type"), c.attr_or("name")});
    else if (c.name == "feature" && c.attr("var"))
      info.features.push_back(*c.attr("var"));
  }
  return info;
}

xml::Element render_info(const DiscoInfo& info) {
  auto q = info_query();
  for (const auto& id : info.identities) {
    auto& i = q.add("identity");
    i.set("category", id.category).set("type", id.type);
    if (!id.name.empty()) i.set("name", id.name);
  }
  for (const auto& f : info.features) q.add("feature").set("var", f);
  return q;
}

namespace {
xml::Element get_iq(std::string_view to, std::string_view ns) {
  xml::Element iq("iq", "jabber:client");
  iq.set("type", "get");
  if (!to.empty()) iq.set("to", std::string(to));
  iq.add("query", std::string(ns));
  return iq;
}
}  // namespace

xml::Element info_request(std::string_view to) { return get_iq(to, kInfoNs); }
xml::Element items_request(std::string_view to) { return get_iq(to, kItemsNs); }

Result<std::vector<DiscoItem>> parse_items(const xml::Element& e) {
  const xml::Element* q = e.name == "query" ? &e : e.child("query", kItemsNs);
  if (!q || q->ns != kItemsNs) return fail(Category::Protocol, "disco#items reply without a <query/>");
  std::vector<DiscoItem> items;
  for (const auto& c : q->children)
    if (c.name == "item" && !c.attr_or("jid").empty())
      items.push_back({c.attr_or("jid"), c.attr_or("node"), c.attr_or("name")});
  return items;
}

}  // namespace xnet::xep0030
