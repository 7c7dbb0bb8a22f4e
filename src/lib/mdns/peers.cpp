// SPDX-License-Identifier: MIT
#include "mdns/peers.hpp"

#include <sys/socket.h>

#include <algorithm>

namespace xnet::mdns {

Peer PeerTable::merge(const std::string& name, const std::string& type, const std::string& domain,
                      const Entry& e) const {
  Peer p;
  p.name = name;
  p.type = type;
  p.domain = domain;
  // SRV/TXT come from the most recent resolution; addresses from all of them.
  const Resolution* latest = nullptr;
  for (const auto& [k, r] : e.resolved)
    if (!latest || r.seq > latest->seq) latest = &r;
  std::set<std::string> ifaces;
  for (const auto& [k, r] : e.resolved) {
    for (const auto& a : r.addresses)
      if (std::find(p.addresses.begin(), p.addresses.end(), a) == p.addresses.end()) p.addresses.push_back(a);
    if (!r.interface.empty()) ifaces.insert(r.interface);
    p.local = p.local || r.local;
    p.own = p.own || r.own;
  }
  std::stable_sort(p.addresses.begin(), p.addresses.end(), [](const Address& a, const Address& b) {
    if (a.family != b.family) return a.family == AF_INET;
    return a.ip < b.ip;
  });
  p.interfaces.assign(ifaces.begin(), ifaces.end());
  if (latest) {
    p.host = latest->host;
    p.port = latest->port;
    p.txt_raw = latest->txt;
  }
  p.txt = txt_from_strings(p.txt_raw);
  p.presence = presence_from_txt(p.txt);
  if (!own_name_.empty() && name == own_name_) p.own = true;
  return p;
}

std::vector<PeerEvent> PeerTable::apply(const BackendEvent& ev) {
  std::vector<PeerEvent> out;
  using K = BackendEvent::Kind;
  if (ev.kind != K::Found && ev.kind != K::Resolved && ev.kind != K::Removed) return out;
  std::string key = ev.name + '\0' + ev.type + '\0' + ev.domain;
  std::pair<int, int> where{ev.if_index, ev.family};
  auto it = entries_.find(key);
  if (ev.kind == K::Removed) {
    if (it == entries_.end()) return out;
    it->second.present.erase(where);
    it->second.resolved.erase(where);
    if (it->second.present.empty() && it->second.resolved.empty()) {
      if (it->second.announced) out.push_back({PeerEvent::Kind::Removed, it->second.last});
      entries_.erase(it);
      return out;
    }
  } else {
    auto& e = entries_[key];
    it = entries_.find(key);
    e.present.insert(where);
    if (ev.kind == K::Found) return out;
    auto& r = e.resolved[where];
    r.host = ev.host;
    r.port = ev.port;
    r.txt = ev.txt;
    r.addresses.clear();
    if (ev.address) r.addresses.push_back(*ev.address);
    r.interface = ev.interface;
    r.local = ev.local;
    r.own = ev.own;
    r.seq = ++seq_;
  }
  auto& e = it->second;
  if (e.resolved.empty()) return out;
  Peer merged = merge(ev.name, ev.type, ev.domain, e);
  if (!e.announced) {
    e.announced = true;
    out.push_back({PeerEvent::Kind::New, merged});
  } else if (!(merged == e.last)) {
    out.push_back({PeerEvent::Kind::Updated, merged});
  }
  e.last = std::move(merged);
  return out;
}

std::vector<Peer> PeerTable::peers() const {
  std::vector<Peer> out;
  for (const auto& [k, e] : entries_)
    if (e.announced) out.push_back(e.last);
  std::sort(out.begin(), out.end(), [](const Peer& a, const Peer& b) { return a.name < b.name; });
  return out;
}

}  // namespace xnet::mdns
