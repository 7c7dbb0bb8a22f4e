// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"
#include "mdns/txt.hpp"
#include "trace.hpp"

namespace xnet::mdns {

/// One IP address of a resolved service. For IPv6 link-local addresses interface names the
/// scope (`fe80::1%eth0`).
struct Address {
  std::string ip;         ///< numeric form without scope
  int family = 0;         ///< AF_INET or AF_INET6
  std::string interface;  ///< interface the record was seen on ("" when unknown)
  unsigned scope_id = 0;  ///< interface index for link-local IPv6, else 0

  /// ip, plus `%interface` for a scoped IPv6 address.
  std::string str() const;
  bool operator==(const Address&) const = default;
};

/// A raw observation from an mDNS backend, per interface and protocol. PeerTable merges them.
struct BackendEvent {
  enum class Kind {
    Found,     ///< an instance appeared on interface (not resolved yet)
    Resolved,  ///< SRV/TXT/address of an instance on interface (again when they change)
    Removed,   ///< the instance left interface (goodbye or TTL expiry)
    Unresolved,  ///< resolving an instance found on interface failed (it may be gone)
    AllForNow,   ///< the daemon has reported every instance it currently knows of
    Renamed,   ///< our published service had a late conflict and now has the name `name`
    Failure,   ///< the daemon went away or a lookup failed; message says why
  };
  Kind kind = Kind::Found;
  std::string name;  ///< instance label (unescaped)
  std::string type;
  std::string domain;
  int if_index = -1;
  std::string interface;
  int family = 0;  ///< protocol the record came over (AF_INET/AF_INET6), 0 unknown
  // Resolved only:
  std::string host;
  std::optional<Address> address;
  std::uint16_t port = 0;
  std::vector<std::string> txt;  ///< TXT strings in wire order
  bool local = false;            ///< published on this host
  bool own = false;              ///< published by this process
  std::string message;           ///< Failure only
};

/// A service resolved right now (for `lan send`).
struct ResolvedService {
  std::string name;
  std::string host;
  std::uint16_t port = 0;
  std::vector<Address> addresses;
  std::vector<std::string> txt;
};

/// What to publish. txt is encoded per RFC 6763.
struct ServiceSpec {
  std::string name;
  std::string type{"_presence._tcp"};
  std::uint16_t port = 0;
  TxtRecord txt;
};

/// Returns the n-th alternative name (n >= 1) after a conflict on the name in use.
using RenameRule = std::function<std::string(unsigned n)>;

/// A thread-safe queue of BackendEvents with a pollable file descriptor that is readable
/// while events are queued (so `lan announce` can poll it with its sockets).
class EventQueue {
 public:
  EventQueue();
  ~EventQueue();
  EventQueue(const EventQueue&) = delete;
  EventQueue& operator=(const EventQueue&) = delete;

  void push(BackendEvent e);
  /// Wait up to timeout for an event; nullopt on timeout.
  std::optional<BackendEvent> pop(std::chrono::milliseconds timeout);
  /// A descriptor readable while the queue is non-empty (-1 if eventfd is unavailable).
  int fd() const { return fd_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<BackendEvent> q_;
  int fd_ = -1;
};

/// The mDNS/DNS-SD service interface of xnet (Avahi client or dns_sd API behind it).
/// Backend callbacks run on a backend thread; results reach the caller through events().
class Backend {
 public:
  virtual ~Backend() = default;

  /// The backend's name ("avahi", "dns_sd").
  virtual std::string_view name() const = 0;

  /// Publish spec and wait until it is established or timeout passes. On a name conflict
  /// rename(n) gives the n-th alternative (XEP-0174 §3), tried in turn. Returns the name
  /// finally registered. Conflicts found later are handled the same way and reported as
  /// BackendEvent::Kind::Renamed. One service per backend.
  virtual Result<std::string> publish(const ServiceSpec& spec, const RenameRule& rename,
                                      std::chrono::milliseconds timeout) = 0;
  /// Replace the TXT record of the published service (RFC 6762 §8.4 update).
  virtual Result<void> update_txt(const TxtRecord& txt) = 0;
  /// Withdraw the published service (goodbye packets, RFC 6762 §10.1). Idempotent.
  virtual void unpublish() = 0;

  /// Start browsing type: Found/Resolved/Removed events arrive in events(); resolution runs
  /// for every instance found and stays active to report TXT changes.
  virtual Result<void> browse(std::string_view type) = 0;

  /// Resolve instance name of type now (not from xnet's own cache). Category::Dns when the
  /// instance does not answer within timeout.
  virtual Result<ResolvedService> resolve(std::string_view name, std::string_view type,
                                          std::chrono::milliseconds timeout) = 0;

  /// Events from browse() and late renames.
  EventQueue& events() { return events_; }

 protected:
  EventQueue events_;
};

/// The backend chosen at build time (XNET_MDNS_BACKEND). Connecting to the daemon fails with
/// Category::Daemon and a hint on how to start one; a build without mDNS gives NotSupported.
Result<std::unique_ptr<Backend>> make_backend(Trace& trace);

/// The hint given with Category::Daemon errors.
std::string daemon_hint();

}  // namespace xnet::mdns
