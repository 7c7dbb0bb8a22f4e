// SPDX-License-Identifier: MIT
#include "mdns/presence.hpp"

#include <charconv>

namespace xnet::mdns {

bool valid_status(std::string_view s) { return s == "avail" || s == "away" || s == "dnd"; }

Result<TxtRecord> presence_to_txt(const Presence& p) {
  TxtRecord t;
  t.set("txtvers", "1");
  t.set("status", p.status.empty() ? "avail" : p.status);
  auto opt = [&](const char* key, const std::optional<std::string>& v) {
    if (v) t.set(key, *v);
  };
  opt("msg", p.msg);
  opt("nick", p.nick);
  opt("1st", p.first);
  opt("last", p.last);
  opt("email", p.email);
  opt("jid", p.jid);
  opt("node", p.node);
  opt("ver", p.ver);
  opt("hash", p.hash);
  if (p.port_p2pj) t.set("port.p2pj", std::to_string(*p.port_p2pj));
  for (const auto& s : t.strings())
    if (s.size() > kMaxTxtString)
      return fail(Category::Input, "TXT field '" + s.substr(0, s.find('=')) + "' is too long (" +
                                       std::to_string(s.size()) + " bytes with its key; the limit is 255)");
  return t;
}

Presence presence_from_txt(const TxtRecord& t) {
  Presence p;
  if (auto s = t.get("status"); s && !s->empty()) p.status = *s;
  p.msg = t.get("msg");
  p.nick = t.get("nick");
  p.first = t.get("1st");
  p.last = t.get("last");
  p.email = t.get("email");
  p.jid = t.get("jid");
  p.node = t.get("node");
  p.ver = t.get("ver");
  p.hash = t.get("hash");
  if (auto port = t.get("port.p2pj")) {
    unsigned v = 0;
    auto [ptr, ec] = std::from_chars(port->data(), port->data() + port->size(), v);
    if (ec == std::errc() && ptr == port->data() + port->size() && v > 0 && v <= 65535)
      p.port_p2pj = static_cast<std::uint16_t>(v);
  }
  return p;
}

}  // namespace xnet::mdns
