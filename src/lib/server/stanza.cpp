// SPDX-License-Identifier: MIT
#include "server/stanza.hpp"

#include <algorithm>

#include "server/accounts.hpp"

namespace xnet::server {

std::string stream_header(std::string_view ns, std::string_view from, std::string_view id, std::string_view to,
                          bool version) {
  std::string s = "<?xml version='1.0'?><stream:stream xmlns='" + xml::escape_attr(ns) +
                  "' xmlns:stream='http://etherx.jabber.org/streams'";
  if (!from.empty()) s += " from='" + xml::escape_attr(from) + "'";
  if (!to.empty()) s += " to='" + xml::escape_attr(to) + "'";
  if (!id.empty()) s += " id='" + xml::escape_attr(id) + "'";
  if (version) s += " version='1.0'";
  s += " xml:lang='en'>";
  return s;
}

std::string stream_error(std::string_view condition, std::string_view text) {
  std::string s = "<stream:error><" + std::string(condition) + " xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>";
  if (!text.empty())
    s += "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>" + xml::escape_text(text) + "</text>";
  s += "</stream:error></stream:stream>";
  return s;
}

std::string_view default_error_type(std::string_view c) {
  if (c == "bad-request" || c == "jid-malformed" || c == "not-acceptable" || c == "policy-violation" ||
      c == "redirect")
    return "modify";
  if (c == "forbidden" || c == "not-authorized" || c == "registration-required" || c == "subscription-required")
    return "auth";
  if (c == "recipient-unavailable" || c == "remote-server-timeout" || c == "resource-constraint" ||
      c == "unexpected-request")
    return "wait";
  return "cancel";
}

namespace {
void swap_addresses(const xml::Element& in, xml::Element& out) {
  if (auto* f = in.attr("from")) out.set("to", *f);
  if (auto* t = in.attr("to")) out.set("from", *t);
  if (auto* id = in.attr("id")) out.set("id", *id);
}
}  // namespace

xml::Element error_reply(const xml::Element& stanza, std::string_view condition, std::string_view text,
                         std::string_view type) {
  xml::Element out(stanza.name, stanza.ns);
  out.set("type", "error");
  swap_addresses(stanza, out);
  if (stanza.name == "iq")
    if (auto* p = stanza.first_child()) out.add(*p);
  auto& err = out.add("error", stanza.ns);
  err.set("type", std::string(type.empty() ? default_error_type(condition) : type));
  err.add(std::string(condition), std::string(kStanzasNs));
  if (!text.empty()) {
    auto& t = err.add("text", std::string(kStanzasNs));
    t.set("xml:lang", "en");
    t.set_text(std::string(text));
  }
  return out;
}

xml::Element iq_result(const xml::Element& iq) {
  xml::Element out("iq", iq.ns);
  out.set("type", "result");
  swap_addresses(iq, out);
  return out;
}

std::string bare_jid(std::string_view jid) {
  auto s = jid.find('/');
  return std::string(jid.substr(0, s));
}

std::string jid_domain(std::string_view jid) {
  auto b = bare_jid(jid);
  auto a = b.find('@');
  return a == std::string::npos ? b : b.substr(a + 1);
}

std::string jid_local(std::string_view jid) {
  auto b = bare_jid(jid);
  auto a = b.find('@');
  return a == std::string::npos ? std::string() : b.substr(0, a);
}

std::string jid_resource(std::string_view jid) {
  auto s = jid.find('/');
  return s == std::string_view::npos ? std::string() : std::string(jid.substr(s + 1));
}

std::string normalize_jid(std::string_view jid) {
  auto slash = jid.find('/');
  std::string_view bare = jid.substr(0, slash);
  std::string_view res = slash == std::string_view::npos ? std::string_view() : jid.substr(slash + 1);
  if (slash != std::string_view::npos && (res.empty() || res.size() > 1023)) return {};
  auto at = bare.find('@');
  std::string_view local = at == std::string_view::npos ? std::string_view() : bare.substr(0, at);
  std::string_view domain = at == std::string_view::npos ? bare : bare.substr(at + 1);
  if (!domain.empty() && domain.back() == '.') domain.remove_suffix(1);
  if (domain.empty() || domain.size() > 1023) return {};
  std::string out;
  if (at != std::string_view::npos) {
    auto l = normalize_localpart(local);
    if (!l) return {};
    out = *l + "@";
  }
  for (unsigned char c : domain) {
    if (c <= 0x20 || c == '@' || c == '/') return {};
    out.push_back(c < 0x80 ? static_cast<char>(std::tolower(c)) : static_cast<char>(c));
  }
  if (slash != std::string_view::npos) {
    out.push_back('/');
    out.append(res);
  }
  return out;
}

std::string serialize(const xml::Element& stanza, std::string_view stream_ns) { return stanza.str(stream_ns); }

}  // namespace xnet::server
