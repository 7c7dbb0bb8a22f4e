// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <tl/expected.hpp>

#include "pass/port_pool.hpp"
#include "xep/xep0003.hpp"

namespace xnet::pass {

using TimePoint = std::chrono::steady_clock::time_point;

/// Per-account and global limits of a PASS service (pass.md §7).
struct Limits {
  std::size_t relays_per_account = 16;  ///< pending + active relays of one bare JID
  std::size_t relays_total = 1024;      ///< pending + active relays of the whole service
  std::chrono::milliseconds accept_window{10000};  ///< notice → owner collects, else dropped
  std::uint64_t max_expire = 0;         ///< cap on <expire> seconds (0 = none)
  std::size_t pending_per_source = 8;   ///< connections from one client address awaiting owners
  std::size_t relays_per_source = 8;    ///< pending + active relays from one client address
  /// How long a listener is kept for its account after the owner's session ended, so a
  /// reconnecting owner gets the same port back (0 = close at once). Connections that arrive
  /// meanwhile are refused at once.
  std::chrono::milliseconds grace{120000};
};

/// A registered listener (one `<server/>` port).
struct Registration {
  std::uint64_t id = 0;
  std::string owner;       ///< full JID that registered it (gets the notices)
  std::string owner_bare;  ///< quota and permission key
  std::uint16_t port = 0;
  std::optional<TimePoint> expires_at;
  bool oneshot = false;
  std::uint64_t connections = 0;  ///< connections collected so far
  bool token_mode = false;  ///< the owner announced the xnet token in its registration
  std::optional<TimePoint> held_until;  ///< owner's session gone: kept for the account until then
};

/// An incoming connection waiting for the owner (notice sent, not yet collected).
struct Pending {
  std::uint64_t id = 0;
  std::uint64_t listener_id = 0;
  std::uint16_t listener_port = 0;
  std::string owner;
  std::string owner_bare;
  xep0003::Endpoint client;
  std::uint16_t proxy_port = 0;  ///< the one-time rendezvous port named in <proxy/>
  std::string iq_id;             ///< id of the notice IQ; the reply must carry it
  std::string token;             ///< rendezvous token offered in the notice
  bool accepted = false;         ///< the owner answered the notice with a result
  bool token_required = false;   ///< the owner echoed the token: the collector must send it
  TimePoint deadline{};          ///< dropped when not collected by then
};

/// Why an incoming connection is refused before the owner is asked.
enum class Refusal {
  NoListener,   ///< no listener on that port
  RelayQuota,   ///< the account's (or the service's) relay limit is reached
  SourceLimit,  ///< the client's address has too many pending or relayed connections
  NoPorts,      ///< no rendezvous port free
  OwnerAway,    ///< the owner's session is gone; the port is held for its reconnect
};

/// The JSON name of refusal r ("relay_quota", ...).
const char* refusal_name(Refusal r);

/// Why a listener closed (the notice it gets, XEP-0003 §4).
enum class CloseReason { Expired, Oneshot, Closed, OwnerGone };

/// The bare JID of jid (everything before '/').
std::string bare_jid(std::string_view jid);

/// The PASS state machine of a service, without sockets or timers: listeners, pending
/// connections, relay counts, expiry and the accept window, driven by an injected time.
/// The service executes what its results say (close sockets, send notices).
class Registry {
 public:
  using TryPort = std::function<bool(std::uint16_t)>;

  /// public_ip is the address named in <server/> and <proxy/> (checked by close, §4.3).
  Registry(PortPool& pool, Limits limits, std::string public_ip);

  /// A registration from owner (XEP-0003 §2) at now; try_port binds a candidate. Errors:
  /// BadRequest (close/proxy/server/client in the set), NoPorts (range exhausted or the
  /// account's port quota is used up; both are 502 "try again later").
  tl::expected<Registration, xep0003::PassError> register_listener(const std::string& owner,
                                                               const xep0003::Query& q,
                                                               TimePoint now,
                                                               const TryPort& try_port);

  struct Reclaimed {
    Registration listener;          ///< now owned by the new session
    std::vector<Pending> dropped;   ///< pending connections of the previous session, dropped
  };
  /// xnet extension: owner asks for port back (a reconnect). Succeeds when port is a listener
  /// of the same bare JID, held after its session ended or still owned by an older session
  /// (a dead link the service has not noticed yet); the listener keeps its expiry and oneshot
  /// and moves to owner. Nothing when the port is not the account's.
  std::optional<Reclaimed> reclaim(const std::string& owner, std::uint16_t port, bool token_mode);

  /// A TCP client from client connected to listener_port: reserve a rendezvous port and record
  /// a pending connection whose notice carries iq_id and token. Refused when the listener is
  /// gone or held for an absent owner, a relay limit (account, service, client address) is
  /// hit, or no rendezvous port is free.
  tl::expected<Pending, Refusal> incoming(std::uint16_t listener_port, xep0003::Endpoint client,
                                          TimePoint now, const TryPort& try_port,
                                          std::string iq_id, std::string token);

  /// The owner from answered notice iq_id with a result; token_echo when it echoed the token.
  /// Returns the updated pending connection, or nothing when from/iq_id match none.
  std::optional<Pending> accept(const std::string& from, const std::string& iq_id,
                                bool token_echo);
  /// The owner answered notice iq_id with an error (deny, XEP-0003 §5.2): the pending
  /// connection is removed (rendezvous port released) and returned; the listener stays.
  std::optional<Pending> deny(const std::string& from, const std::string& iq_id);

  struct Collected {
    Pending pending;
    std::optional<Registration> oneshot_closed;  ///< set when this was a oneshot's connection
  };
  /// The owner connected to the rendezvous port of pending_id: it becomes an active relay. A
  /// oneshot listener closes here (XEP-0003 §4.2).
  std::optional<Collected> collected(std::uint64_t pending_id);
  /// Drop pending_id (failed or timed out); returns it when it existed.
  std::optional<Pending> drop(std::uint64_t pending_id);
  /// An active relay of owner_bare from client_ip ended.
  void relay_ended(const std::string& owner_bare, const std::string& client_ip = {});

  struct Closed {
    Registration listener;
    std::vector<Pending> dropped;  ///< pending connections of that listener, dropped
  };
  /// A close control (XEP-0003 §4.3) from requester. Checks in pass.md §7 order: no <proxy/> →
  /// MissingProxy (400), IP not ours → WrongIp (405), unknown port → NotFound (404), another
  /// bare JID → NotYours (401).
  tl::expected<Closed, xep0003::PassError> close(const std::string& requester,
                                                 const xep0003::Query& q);

  struct Due {
    std::vector<Registration> expired;   ///< closed by expiry: notify the owner (§4.1)
    std::vector<Pending> timed_out;  ///< not collected within the accept window: drop
    std::vector<Registration> released;  ///< held for an absent owner past the grace period
  };
  /// Apply every deadline up to now.
  Due advance(TimePoint now);

  struct Gone {
    std::vector<Registration> listeners;  ///< closed (no grace period)
    std::vector<Registration> held;       ///< kept for the account until the grace period ends
    std::vector<Pending> pending;         ///< dropped at once
  };
  /// The owner's session full_jid ended at now: its pending connections drop at once, its
  /// listeners are held for the grace period (or close when it is 0).
  Gone session_ended(const std::string& full_jid, TimePoint now = {});

  /// The earliest expiry or accept deadline, if any.
  std::optional<TimePoint> next_deadline() const;

  const Registration* listener(std::uint16_t port) const;
  const Pending* pending(std::uint64_t id) const;
  std::size_t listeners() const { return listeners_.size(); }
  std::size_t pending_count() const { return pending_.size(); }
  std::size_t relays() const { return relays_total_; }
  std::size_t relays_of(const std::string& bare) const;
  /// Pending + active relays from client address ip.
  std::size_t from_source(const std::string& ip) const;
  /// Owners (full JIDs) of listeners that are not held.
  std::vector<std::string> owners() const;
  const std::string& public_ip() const { return public_ip_; }
  const Limits& limits() const { return limits_; }

 private:
  void release_listener(std::uint16_t port);

  PortPool& pool_;
  Limits limits_;
  std::string public_ip_;
  std::uint64_t next_id_ = 1;
  std::map<std::uint16_t, Registration> listeners_;  // by port
  std::map<std::uint64_t, Pending> pending_;     // by id
  std::map<std::string, std::size_t> relays_;    // active relays by bare JID
  std::map<std::string, std::size_t> source_relays_;  // active relays by client address
  std::size_t relays_total_ = 0;                 // active relays
};

}  // namespace xnet::pass
