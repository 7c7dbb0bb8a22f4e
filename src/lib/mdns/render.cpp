// SPDX-License-Identifier: MIT
#include "mdns/render.hpp"

#include <sys/socket.h>

#include <ctime>

#include "mdns/instance.hpp"

namespace xnet::mdns {
namespace {

// Length of the valid UTF-8 sequence starting at s[i], or 0.
std::size_t utf8_len(std::string_view s, std::size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  std::size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  return valid_utf8(s.substr(i, len)) ? len : 0;
}

}  // namespace

std::string json_safe(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = utf8_len(s, i);
    if (n == 0) {
      out += "\xEF\xBF\xBD";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string escape_raw(std::string_view s) {
  static const char* hex = "0123456789abcdef";
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = utf8_len(s, i);
    auto c = static_cast<unsigned char>(s[i]);
    if (n == 0 || c < 0x20 || c == 0x7F) {
      out += "\\x";
      out.push_back(hex[c >> 4]);
      out.push_back(hex[c & 15]);
      ++i;
    } else if (c == '\\') {
      out += "\\\\";
      ++i;
    } else {
      out.append(s.substr(i, n));
      i += n;
    }
  }
  return out;
}

std::string format_time(std::chrono::system_clock::time_point t) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
  std::time_t secs = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&secs, &tm);
  char buf[96];
  std::snprintf(buf, sizeof buf, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                tm.tm_hour, tm.tm_min, tm.tm_sec, static_cast<int>(ms % 1000));
  return buf;
}

nlohmann::json peer_json(const Peer& p) {
  nlohmann::json j;
  j["name"] = json_safe(p.name);
  if (auto n = parse_instance(p.name)) {
    j["user"] = n->user;
    j["machine"] = n->machine;
  }
  j["type"] = p.type;
  j["domain"] = p.domain;
  j["host"] = json_safe(p.host);
  j["port"] = p.port;
  auto addrs = nlohmann::json::array();
  for (const auto& a : p.addresses) {
    nlohmann::json aj{{"address", a.str()}, {"family", a.family == AF_INET6 ? "ipv6" : "ipv4"}};
    if (!a.interface.empty()) aj["interface"] = a.interface;
    if (a.scope_id) aj["scope_id"] = a.scope_id;
    addrs.push_back(std::move(aj));
  }
  j["addresses"] = std::move(addrs);
  j["interfaces"] = p.interfaces;
  auto txt = nlohmann::json::object();
  for (const auto& it : p.txt.items()) {
    // Keys are printable ASCII; RFC 6763 keys are case-insensitive, so emit them lower-cased.
    std::string k = it.key;
    for (auto& c : k)
      if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    if (it.has_value)
      txt[k] = json_safe(it.value);
    else
      txt[k] = true;
  }
  j["txt"] = std::move(txt);
  auto raw = nlohmann::json::array();
  for (const auto& s : p.txt_raw) raw.push_back(escape_raw(s));
  j["txt_raw"] = std::move(raw);
  const auto& pr = p.presence;
  j["status"] = valid_status(pr.status) ? pr.status : "avail";
  if (!valid_status(pr.status)) j["status_raw"] = json_safe(pr.status);
  auto opt = [&](const char* k, const std::optional<std::string>& v) {
    if (v) j[k] = json_safe(*v);
  };
  opt("msg", pr.msg);
  opt("nick", pr.nick);
  opt("first", pr.first);
  opt("last", pr.last);
  opt("email", pr.email);
  opt("jid", pr.jid);
  j["local"] = p.local;
  j["own"] = p.own;
  return j;
}

std::string peer_text(const Peer& p) {
  std::string s = json_safe(p.name);
  s += "  " + (valid_status(p.presence.status) ? p.presence.status : std::string("avail"));
  if (p.presence.msg) s += " \"" + json_safe(*p.presence.msg) + "\"";
  if (p.own) s += "  (you)";
  s += "\n  " + json_safe(p.host) + " port " + std::to_string(p.port);
  if (!p.addresses.empty()) {
    s += "  ";
    for (std::size_t i = 0; i < p.addresses.size(); ++i) s += (i ? ", " : "") + p.addresses[i].str();
  }
  if (!p.interfaces.empty()) {
    s += "  (on ";
    for (std::size_t i = 0; i < p.interfaces.size(); ++i) s += (i ? ", " : "") + p.interfaces[i];
    s += ")";
  }
  if (!p.txt_raw.empty()) {
    s += "\n  txt:";
    for (const auto& t : p.txt_raw) s.append(" ").append(escape_raw(t));  // not " " + ...: GCC 12 -Wrestrict
  }
  return s;
}

nlohmann::json peer_event_json(const PeerEvent& e) {
  nlohmann::json j = peer_json(e.peer);
  j["event"] = std::string(peer_event_name(e.kind));
  return j;
}

std::string peer_event_text(const PeerEvent& e) {
  const char* mark = e.kind == PeerEvent::Kind::New ? "+ " : e.kind == PeerEvent::Kind::Updated ? "= " : "- ";
  if (e.kind == PeerEvent::Kind::Removed) return mark + json_safe(e.peer.name);
  return mark + peer_text(e.peer);
}

nlohmann::json message_json(const ServerEvent& e) {
  const auto& m = e.stream.message;
  nlohmann::json j{{"event", "message"},
                   {"from", json_safe(m.from)},
                   {"to", json_safe(m.to)},
                   {"body", json_safe(m.body)},
                   {"type", json_safe(m.type)},
                   {"time", format_time(e.time)},
                   {"peer_address", e.peer_address},
                   {"connection", e.connection}};
  if (!m.thread.empty()) j["thread"] = json_safe(m.thread);
  if (!m.id.empty()) j["id"] = json_safe(m.id);
  if (!m.subject.empty()) j["subject"] = json_safe(m.subject);
  if (!m.stamp.empty()) j["stamp"] = json_safe(m.stamp);
  return j;
}

std::string message_text(const ServerEvent& e) {
  const auto& m = e.stream.message;
  std::string from = m.from.empty() ? e.peer_address : json_safe(m.from);
  std::string s = format_time(e.time) + " " + from + ": ";
  std::string body = json_safe(m.body);
  for (char c : body) {
    s.push_back(c);
    if (c == '\n') s += "    ";
  }
  if (!m.thread.empty()) s += "  [thread " + json_safe(m.thread) + "]";
  return s;
}

}  // namespace xnet::mdns
