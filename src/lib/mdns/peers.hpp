// SPDX-License-Identifier: MIT
#pragma once

#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "mdns/backend.hpp"
#include "mdns/presence.hpp"
#include "mdns/txt.hpp"

namespace xnet::mdns {

/// One peer as `lan browse` shows it: the instance merged over every interface and protocol it
/// was seen on (XEP-0174 §3.2: one roster entry per instance).
struct Peer {
  std::string name;  ///< instance label, e.g. `juliet@pronto`
  std::string type;
  std::string domain;
  std::string host;  ///< SRV target, e.g. `pronto.local`
  std::uint16_t port = 0;
  std::vector<Address> addresses;      ///< union over interfaces, IPv4 first
  std::vector<std::string> interfaces;  ///< where it was seen, sorted
  std::vector<std::string> txt_raw;     ///< TXT strings as received
  TxtRecord txt;                        ///< decoded per RFC 6763 §6
  Presence presence;                    ///< XEP-0174 fields from txt
  bool local = false;  ///< published on this host
  bool own = false;    ///< published by this process, or named like the caller (see PeerTable)

  bool operator==(const Peer&) const = default;
};

/// A change in the set of peers.
struct PeerEvent {
  enum class Kind { New, Updated, Removed };
  Kind kind = Kind::New;
  Peer peer;
};

/// Merges per-interface backend events into peers. A peer is reported New once it is resolved
/// on some interface, Updated when its merged data changes, Removed when it has left every
/// interface. Pure logic, fed by tests without a daemon.
class PeerTable {
 public:
  /// Instances named own_name are flagged own (the caller's own announcement).
  explicit PeerTable(std::string own_name = {}) : own_name_(std::move(own_name)) {}

  /// Apply one backend event and return the resulting changes.
  std::vector<PeerEvent> apply(const BackendEvent& event);
  /// The resolved peers, sorted by name.
  std::vector<Peer> peers() const;

 private:
  struct Resolution {
    std::string host;
    std::uint16_t port = 0;
    std::vector<std::string> txt;
    std::vector<Address> addresses;
    std::string interface;
    bool local = false;
    bool own = false;
    unsigned seq = 0;
  };
  struct Entry {
    std::map<std::pair<int, int>, Resolution> resolved;
    std::set<std::pair<int, int>> present;
    bool announced = false;
    Peer last;
  };
  Peer merge(const std::string& name, const std::string& type, const std::string& domain, const Entry& e) const;

  std::string own_name_;
  std::map<std::string, Entry> entries_;  // key: name \0 type \0 domain
  unsigned seq_ = 0;
};

}  // namespace xnet::mdns
