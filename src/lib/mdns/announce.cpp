// SPDX-License-Identifier: MIT
#include "mdns/announce.hpp"

#include <string>

#include "mdns/instance.hpp"

namespace xnet::mdns {

Result<void> check_xml_text(std::string_view what, std::string_view s) {
  if (!valid_utf8(s)) return fail(Category::Input, std::string(what) + " is not valid UTF-8");
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 && c != '\n' && c != '\t' && c != '\r')
      return fail(Category::Input, std::string(what) + " contains a control character that XML cannot carry");
  }
  return {};
}

Result<bool> apply_control_line(std::string_view line, Presence& p) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  if (line.empty()) return false;
  auto sp = line.find(' ');
  std::string cmd(line.substr(0, sp));
  std::string arg = sp == std::string_view::npos ? std::string() : std::string(line.substr(sp + 1));
  if (auto r = check_xml_text("the value", arg); !r) return fail(r.error());
  if (cmd == "status") {
    if (!valid_status(arg)) return fail(Category::Input, "status must be avail, away or dnd");
    p.status = arg;
  } else if (cmd == "msg") {
    p.msg = arg.empty() ? std::nullopt : std::optional<std::string>(arg);
  } else if (cmd == "nick") {
    p.nick = arg.empty() ? std::nullopt : std::optional<std::string>(arg);
  } else {
    return fail(Category::Input,
                "unknown control line '" + std::string(line) + "' (use: status avail|away|dnd, msg TEXT, nick TEXT)");
  }
  return true;
}

void set_caps(Presence& p, const xep0174::Identity& identity) {
  p.node = std::string(xep0174::kCapsNode);
  p.ver = xep0174::caps_ver(identity, xep0174::local_features());
  p.hash = "sha-1";
}

}  // namespace xnet::mdns
