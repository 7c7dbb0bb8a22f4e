// SPDX-License-Identifier: MIT
#include "cmd/lan_render.hpp"

#include <sys/socket.h>

#include <cstdio>
#include <ctime>
#include <ostream>

#include "mdns/instance.hpp"
#include "mdns/presence.hpp"

namespace xnet::cmd {
namespace {

using J = nlohmann::json;
using mdns::Peer;
using mdns::PeerEvent;

// Length of the valid UTF-8 sequence starting at s[i], or 0.
std::size_t utf8_len(std::string_view s, std::size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  std::size_t len = c < 0x80 ? 1 : (c & 0xE0) == 0xC0 ? 2 : (c & 0xF0) == 0xE0 ? 3 : (c & 0xF8) == 0xF0 ? 4 : 0;
  if (len == 0 || i + len > s.size()) return 0;
  return mdns::valid_utf8(s.substr(i, len)) ? len : 0;
}

template <class T>
std::string no_text(const T&) { return {}; }  // the text of a field shown by another's, or JSON only

std::string joined(const std::vector<std::string>& items, std::string_view sep) {
  std::string t;
  for (const auto& i : items) t += (t.empty() ? "" : std::string(sep)) + i;
  return t;
}

bool valid_status(const Peer& p) { return mdns::valid_status(p.presence.status); }
// A presence field of the TXT record, when sent: absent otherwise.
template <std::optional<std::string> mdns::Presence::*M>
J presence_field(const Peer& p) {
  const auto& v = p.presence.*M;
  return v ? J(json_safe(*v)) : absent();
}

using PF = Field<Peer>;
// One peer: JSON keys, and the text block, in order: `NAME  STATUS "msg"  (you)`, then
// `  HOST port N  ADDRESSES  (on IFACES)`, then `  txt: RAW...`.
const FieldTable<Peer> kPeerFields = {
    PF{"name", "", [](const Peer& p) { return J(json_safe(p.name)); }},
    PF{"user", "",
       [](const Peer& p) {
         auto n = mdns::parse_instance(p.name);
         return n ? J(n->user) : absent();
       },
       no_text<Peer>},  // in name
    PF{"machine", "",
       [](const Peer& p) {
         auto n = mdns::parse_instance(p.name);
         return n ? J(n->machine) : absent();
       },
       no_text<Peer>},  // in name
    PF{"status", "", [](const Peer& p) { return J(valid_status(p) ? p.presence.status : "avail"); },
       [](const Peer& p) {
         std::string t = valid_status(p) ? p.presence.status : "avail";
         return p.presence.msg ? t + " \"" + json_safe(*p.presence.msg) + "\"" : t;
       }},
    PF{"msg", "", presence_field<&mdns::Presence::msg>, no_text<Peer>},  // in status
    PF{"status_raw", "", [](const Peer& p) { return valid_status(p) ? absent() : J(json_safe(p.presence.status)); },
       no_text<Peer>},  // in txt
    PF{"own", "", [](const Peer& p) { return J(p.own); },
       [](const Peer& p) { return std::string(p.own ? "(you)" : ""); }},
    PF{"host", "", [](const Peer& p) { return J(json_safe(p.host)); },
       [](const Peer& p) { return "\n" + json_safe(p.host) + " port " + std::to_string(p.port); }},
    PF{"port", "", [](const Peer& p) { return J(p.port); }, no_text<Peer>},  // in host
    PF{"addresses", "",
       [](const Peer& p) {
         auto addrs = J::array();
         for (const auto& a : p.addresses) {
           J aj{{"address", a.str()}, {"family", a.family == AF_INET6 ? "ipv6" : "ipv4"}};
           if (!a.interface.empty()) aj["interface"] = a.interface;
           if (a.scope_id) aj["scope_id"] = a.scope_id;
           addrs.push_back(std::move(aj));
         }
         return addrs;
       },
       [](const Peer& p) {
         std::vector<std::string> a;
         for (const auto& addr : p.addresses) a.push_back(addr.str());
         return joined(a, ", ");
       }},
    PF{"interfaces", "", [](const Peer& p) { return J(p.interfaces); },
       [](const Peer& p) { return p.interfaces.empty() ? std::string() : "(on " + joined(p.interfaces, ", ") + ")"; }},
    PF{"txt_raw", "",
       [](const Peer& p) {
         auto raw = J::array();
         for (const auto& s : p.txt_raw) raw.push_back(escape_raw(s));
         return raw;
       },
       [](const Peer& p) {
         std::string t;
         for (const auto& s : p.txt_raw) t.append(" ").append(escape_raw(s));  // not " " + ...: GCC 12 -Wrestrict
         return t.empty() ? t : "\ntxt:" + t;
       }},
    PF{"txt", "",
       [](const Peer& p) {
         auto txt = J::object();
         for (const auto& it : p.txt.items()) {
           // Keys are printable ASCII; RFC 6763 keys are case-insensitive, so emit them lower-cased.
           std::string k = it.key;
           for (auto& c : k)
             if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
           txt[k] = it.has_value ? J(json_safe(it.value)) : J(true);
         }
         return txt;
       },
       no_text<Peer>},  // in txt_raw
    PF{"nick", "", presence_field<&mdns::Presence::nick>, no_text<Peer>},        // in txt_raw
    PF{"first", "", presence_field<&mdns::Presence::first>, no_text<Peer>},      // in txt_raw
    PF{"last", "", presence_field<&mdns::Presence::last>, no_text<Peer>},        // in txt_raw
    PF{"email", "", presence_field<&mdns::Presence::email>, no_text<Peer>},      // in txt_raw
    PF{"jid", "", presence_field<&mdns::Presence::jid>, no_text<Peer>},          // in txt_raw
    PF{"type", "", [](const Peer& p) { return J(p.type); }, no_text<Peer>},      // always _presence._tcp
    PF{"domain", "", [](const Peer& p) { return J(p.domain); }, no_text<Peer>},  // always local
    PF{"local", "", [](const Peer& p) { return J(p.local); }, no_text<Peer>},    // for scripts; own is shown
};

constexpr BlockLayout kPeerLayout{"", "  ", "  "};

constexpr EnumNames<PeerEvent::Kind, 3> kPeerEventNames{
    {{{PeerEvent::Kind::New, "new"}, {PeerEvent::Kind::Updated, "updated"}, {PeerEvent::Kind::Removed, "removed"}}}};
constexpr EnumNames<PeerEvent::Kind, 3> kPeerEventMarks{
    {{{PeerEvent::Kind::New, "+"}, {PeerEvent::Kind::Updated, "="}, {PeerEvent::Kind::Removed, "-"}}}};

// A browse event: `event` and the peer's fields; text "+ PEER..." ("- NAME" for a removal).
FieldTable<PeerEvent> make_peer_event_fields() {
  FieldTable<PeerEvent> t = {
      {"event", "", [](const PeerEvent& e) { return J(kPeerEventNames(e.kind)); }, no_text<PeerEvent>}};  // name's mark
  for (const auto& f : kPeerFields)
    t.push_back({f.key, f.label, [get = f.get](const PeerEvent& e) { return get(e.peer); },
                 [f](const PeerEvent& e) {
                   if (f.key == "name") return std::string(kPeerEventMarks(e.kind)) + " " + field_text(f, e.peer);
                   return e.kind == PeerEvent::Kind::Removed ? std::string() : field_text(f, e.peer);
                 },
                 f.keep_null});
  return t;
}
const FieldTable<PeerEvent> kPeerEventFields = make_peer_event_fields();

using MF = Field<LanMessage>;
const xep0174::Message& msg(const LanMessage& m) { return m.e.stream.message; }
// Optional message parts: absent when empty.
template <std::string xep0174::Message::*M>
J message_part(const LanMessage& m) {
  const auto& v = msg(m).*M;
  return v.empty() ? absent() : J(json_safe(v));
}

// A received message: JSON keys, and the text line `TIME FROM: BODY  [thread T]` (body lines
// after the first indented).
const FieldTable<LanMessage> kMessageFields = {
    MF{"event", "", [](const LanMessage&) { return J("message"); }, no_text<LanMessage>},  // one kind of line
    MF{"time", "", [](const LanMessage& m) { return J(format_time(m.e.time)); }},
    MF{"from", "", [](const LanMessage& m) { return J(json_safe(msg(m).from)); },
       [](const LanMessage& m) { return (msg(m).from.empty() ? m.e.peer_address : json_safe(msg(m).from)) + ":"; }},
    MF{"body", "", [](const LanMessage& m) { return J(json_safe(msg(m).body)); },
       [](const LanMessage& m) {
         std::string t;
         for (char c : json_safe(msg(m).body)) {
           t.push_back(c);
           if (c == '\n') t += "    ";
         }
         return msg(m).thread.empty() ? t : t + "  [thread " + json_safe(msg(m).thread) + "]";
       }},
    MF{"thread", "", message_part<&xep0174::Message::thread>, no_text<LanMessage>},  // in body
    MF{"to", "", [](const LanMessage& m) { return J(json_safe(msg(m).to)); }, no_text<LanMessage>},  // the announcer
    MF{"type", "", [](const LanMessage& m) { return J(json_safe(msg(m).type)); }, no_text<LanMessage>},
    MF{"id", "", message_part<&xep0174::Message::id>, no_text<LanMessage>},
    MF{"subject", "", message_part<&xep0174::Message::subject>, no_text<LanMessage>},
    MF{"stamp", "", message_part<&xep0174::Message::stamp>, no_text<LanMessage>},  // the sender's delay stamp
    MF{"peer_address", "", [](const LanMessage& m) { return J(m.e.peer_address); }, no_text<LanMessage>},  // in from
    MF{"connection", "", [](const LanMessage& m) { return J(m.e.connection); }, no_text<LanMessage>},
};

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

std::string peer_text(const Peer& p) { return fields_block(kPeerFields, p, kPeerLayout); }

void to_json(nlohmann::json& j, const LanMessage& m) { j = fields_json(kMessageFields, m); }
void print_text(std::ostream& os, const LanMessage& m, const Style&) {
  os << fields_block(kMessageFields, m, {"", "", " "}) << '\n';
}

const FieldTable<Peer>& lan_peer_fields() { return kPeerFields; }
const FieldTable<PeerEvent>& lan_peer_event_fields() { return kPeerEventFields; }
const FieldTable<LanMessage>& lan_message_fields() { return kMessageFields; }

}  // namespace xnet::cmd

namespace xnet::mdns {
void to_json(nlohmann::json& j, const Peer& p) { j = cmd::fields_json(cmd::kPeerFields, p); }
void to_json(nlohmann::json& j, const PeerEvent& e) { j = cmd::fields_json(cmd::kPeerEventFields, e); }
void print_text(std::ostream& os, const PeerEvent& e, const cmd::Style&) {
  os << cmd::fields_block(cmd::kPeerEventFields, e, cmd::kPeerLayout) << '\n';
}
}  // namespace xnet::mdns
