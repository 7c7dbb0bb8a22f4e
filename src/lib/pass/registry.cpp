// SPDX-License-Identifier: MIT
#include "pass/registry.hpp"

#include <arpa/inet.h>

#include <algorithm>

namespace xnet::pass {
namespace {

using xep0003::PassError;

// Textual IPs compare after a round trip through inet_pton, so "::1" and "0:0::1" match.
std::string normalize_ip(const std::string& ip) {
  unsigned char buf[16];
  char out[INET6_ADDRSTRLEN];
  if (inet_pton(AF_INET, ip.c_str(), buf) == 1 && inet_ntop(AF_INET, buf, out, sizeof out))
    return out;
  if (inet_pton(AF_INET6, ip.c_str(), buf) == 1 && inet_ntop(AF_INET6, buf, out, sizeof out))
    return out;
  return ip;
}

}  // namespace

const char* refusal_name(Refusal r) {
  switch (r) {
    case Refusal::NoListener: return "no_listener";
    case Refusal::RelayQuota: return "relay_quota";
    case Refusal::SourceLimit: return "source_limit";
    case Refusal::NoPorts: return "no_ports";
    case Refusal::OwnerAway: return "owner_away";
  }
  return "refused";
}

std::string bare_jid(std::string_view jid) {
  auto slash = jid.find('/');
  return std::string(jid.substr(0, slash));
}

Registry::Registry(PortPool& pool, Limits limits, std::string public_ip)
    : pool_(pool), limits_(limits), public_ip_(normalize_ip(public_ip)) {}

tl::expected<Registration, PassError> Registry::register_listener(const std::string& owner,
                                                              const xep0003::Query& q,
                                                              TimePoint now,
                                                              const TryPort& try_port) {
  // pass.md §9: controls that make no sense in a registration are refused, not ignored.
  if (q.close || q.proxy || q.server || q.client) return tl::unexpected(PassError::BadRequest);
  if (q.expire && !q.expire_seconds) return tl::unexpected(PassError::BadRequest);
  Registration l;
  l.owner = owner;
  l.owner_bare = bare_jid(owner);
  PoolError why{};
  auto port = pool_.acquire(l.owner_bare, try_port, &why);
  if (!port) return tl::unexpected(PassError::NoPorts);
  l.id = next_id_++;
  l.port = *port;
  l.oneshot = q.oneshot;
  l.token_mode = q.token.has_value();
  if (q.expire_seconds) {
    auto secs = *q.expire_seconds;
    if (limits_.max_expire && (secs == 0 || secs > limits_.max_expire)) secs = limits_.max_expire;
    // Clamp so the time point cannot overflow (unsignedLong seconds, pass.md §9).
    secs = std::min<std::uint64_t>(secs, 100ULL * 365 * 24 * 3600);
    l.expires_at = now + std::chrono::seconds(secs);
  } else if (limits_.max_expire) {
    l.expires_at = now + std::chrono::seconds(limits_.max_expire);
  }
  listeners_[l.port] = l;
  return l;
}

std::optional<Registry::Reclaimed> Registry::reclaim(const std::string& owner, std::uint16_t port,
                                                     bool token_mode) {
  auto it = listeners_.find(port);
  if (it == listeners_.end() || it->second.owner_bare != bare_jid(owner)) return std::nullopt;
  Reclaimed r;
  auto& l = it->second;
  for (auto p = pending_.begin(); p != pending_.end();) {
    if (p->second.listener_id == l.id && p->second.owner != owner) {
      r.dropped.push_back(p->second);
      pool_.release(p->second.proxy_port);
      p = pending_.erase(p);
    } else {
      ++p;
    }
  }
  l.owner = owner;
  l.held_until.reset();
  l.token_mode = token_mode;
  r.listener = l;
  return r;
}

tl::expected<Pending, Refusal> Registry::incoming(std::uint16_t listener_port,
                                                  xep0003::Endpoint client, TimePoint now,
                                                  const TryPort& try_port, std::string iq_id,
                                                  std::string token) {
  auto it = listeners_.find(listener_port);
  if (it == listeners_.end()) return tl::unexpected(Refusal::NoListener);
  const Registration& l = it->second;
  if (l.held_until) return tl::unexpected(Refusal::OwnerAway);
  client.ip = normalize_ip(client.ip);
  std::size_t account_pending = 0, source_pending = 0;
  for (const auto& [id, p] : pending_) {
    if (p.owner_bare == l.owner_bare) ++account_pending;
    if (p.client.ip == client.ip) ++source_pending;
  }
  // Per source first: one address must not be able to use up the account's quota.
  if (source_pending >= limits_.pending_per_source ||
      from_source(client.ip) >= limits_.relays_per_source)
    return tl::unexpected(Refusal::SourceLimit);
  if (relays_of(l.owner_bare) + account_pending >= limits_.relays_per_account ||
      relays_total_ + pending_.size() >= limits_.relays_total)
    return tl::unexpected(Refusal::RelayQuota);
  auto proxy = pool_.acquire("", try_port);
  if (!proxy) return tl::unexpected(Refusal::NoPorts);
  Pending p;
  p.id = next_id_++;
  p.listener_id = l.id;
  p.listener_port = l.port;
  p.owner = l.owner;
  p.owner_bare = l.owner_bare;
  p.client = std::move(client);
  p.proxy_port = *proxy;
  p.iq_id = std::move(iq_id);
  p.token = std::move(token);
  p.token_required = l.token_mode;
  p.deadline = now + limits_.accept_window;
  pending_[p.id] = p;
  return p;
}

std::optional<Pending> Registry::accept(const std::string& from, const std::string& iq_id,
                                        bool token_echo) {
  for (auto& [id, p] : pending_) {
    if (p.iq_id != iq_id || p.accepted) continue;
    // Only the owner's own session may accept (a reply from elsewhere is ignored).
    if (from != p.owner) return std::nullopt;
    p.accepted = true;
    p.token_required = p.token_required || token_echo;
    return p;
  }
  return std::nullopt;
}

std::optional<Pending> Registry::deny(const std::string& from, const std::string& iq_id) {
  for (auto it = pending_.begin(); it != pending_.end(); ++it) {
    if (it->second.iq_id != iq_id || it->second.accepted) continue;
    if (from != it->second.owner) return std::nullopt;
    Pending p = it->second;
    pending_.erase(it);
    pool_.release(p.proxy_port);
    return p;
  }
  return std::nullopt;
}

std::optional<Registry::Collected> Registry::collected(std::uint64_t pending_id) {
  auto it = pending_.find(pending_id);
  if (it == pending_.end()) return std::nullopt;
  Collected c{it->second, std::nullopt};
  pending_.erase(it);
  pool_.release(c.pending.proxy_port);
  ++relays_[c.pending.owner_bare];
  ++source_relays_[c.pending.client.ip];
  ++relays_total_;
  auto l = listeners_.find(c.pending.listener_port);
  if (l != listeners_.end() && l->second.id == c.pending.listener_id) {
    ++l->second.connections;
    if (l->second.oneshot) {
      c.oneshot_closed = l->second;
      release_listener(l->first);
      // The oneshot is used up: other pending connections of it drop with the listener.
      for (auto p = pending_.begin(); p != pending_.end();) {
        if (p->second.listener_id == c.pending.listener_id) {
          pool_.release(p->second.proxy_port);
          p = pending_.erase(p);
        } else {
          ++p;
        }
      }
    }
  }
  return c;
}

std::optional<Pending> Registry::drop(std::uint64_t pending_id) {
  auto it = pending_.find(pending_id);
  if (it == pending_.end()) return std::nullopt;
  Pending p = it->second;
  pending_.erase(it);
  pool_.release(p.proxy_port);
  return p;
}

void Registry::relay_ended(const std::string& owner_bare, const std::string& client_ip) {
  if (auto s = source_relays_.find(normalize_ip(client_ip)); s != source_relays_.end())
    if (--s->second == 0) source_relays_.erase(s);
  auto it = relays_.find(owner_bare);
  if (it == relays_.end()) return;
  if (--it->second == 0) relays_.erase(it);
  if (relays_total_) --relays_total_;
}

tl::expected<Registry::Closed, PassError> Registry::close(const std::string& requester,
                                                          const xep0003::Query& q) {
  if (!q.proxy) return tl::unexpected(PassError::MissingProxy);
  if (normalize_ip(q.proxy->ip) != public_ip_) return tl::unexpected(PassError::WrongIp);
  if (!q.proxy->port) return tl::unexpected(PassError::NotFound);
  auto it = listeners_.find(*q.proxy->port);
  if (it == listeners_.end()) return tl::unexpected(PassError::NotFound);
  if (it->second.owner_bare != bare_jid(requester)) return tl::unexpected(PassError::NotYours);
  Closed c{it->second, {}};
  for (auto p = pending_.begin(); p != pending_.end();) {
    if (p->second.listener_id == c.listener.id) {
      c.dropped.push_back(p->second);
      pool_.release(p->second.proxy_port);
      p = pending_.erase(p);
    } else {
      ++p;
    }
  }
  release_listener(it->first);
  return c;
}

Registry::Due Registry::advance(TimePoint now) {
  Due due;
  for (auto it = listeners_.begin(); it != listeners_.end();) {
    if (it->second.expires_at && *it->second.expires_at <= now) {
      due.expired.push_back(it->second);
      pool_.release(it->first);
      it = listeners_.erase(it);
    } else if (it->second.held_until && *it->second.held_until <= now) {
      due.released.push_back(it->second);
      pool_.release(it->first);
      it = listeners_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.deadline <= now) {
      due.timed_out.push_back(it->second);
      pool_.release(it->second.proxy_port);
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  return due;
}

Registry::Gone Registry::session_ended(const std::string& full_jid, TimePoint now) {
  Gone g;
  for (auto it = listeners_.begin(); it != listeners_.end();) {
    if (it->second.owner == full_jid && limits_.grace.count() > 0) {
      if (!it->second.held_until) {
        it->second.held_until = now + limits_.grace;
        g.held.push_back(it->second);
      }
      ++it;
    } else if (it->second.owner == full_jid) {
      g.listeners.push_back(it->second);
      pool_.release(it->first);
      it = listeners_.erase(it);
    } else {
      ++it;
    }
  }
  for (auto it = pending_.begin(); it != pending_.end();) {
    if (it->second.owner == full_jid) {
      g.pending.push_back(it->second);
      pool_.release(it->second.proxy_port);
      it = pending_.erase(it);
    } else {
      ++it;
    }
  }
  return g;
}

std::optional<TimePoint> Registry::next_deadline() const {
  std::optional<TimePoint> t;
  auto take = [&](TimePoint x) {
    if (!t || x < *t) t = x;
  };
  for (const auto& [port, l] : listeners_) {
    if (l.expires_at) take(*l.expires_at);
    if (l.held_until) take(*l.held_until);
  }
  for (const auto& [id, p] : pending_) take(p.deadline);
  return t;
}

const Registration* Registry::listener(std::uint16_t port) const {
  auto it = listeners_.find(port);
  return it == listeners_.end() ? nullptr : &it->second;
}

const Pending* Registry::pending(std::uint64_t id) const {
  auto it = pending_.find(id);
  return it == pending_.end() ? nullptr : &it->second;
}

std::size_t Registry::relays_of(const std::string& bare) const {
  auto it = relays_.find(bare);
  return it == relays_.end() ? 0 : it->second;
}

std::size_t Registry::from_source(const std::string& ip) const {
  auto key = normalize_ip(ip);
  std::size_t n = 0;
  for (const auto& [id, p] : pending_)
    if (p.client.ip == key) ++n;
  auto it = source_relays_.find(key);
  return n + (it == source_relays_.end() ? 0 : it->second);
}

std::vector<std::string> Registry::owners() const {
  std::vector<std::string> out;
  for (const auto& [port, l] : listeners_)
    if (!l.held_until && std::find(out.begin(), out.end(), l.owner) == out.end())
      out.push_back(l.owner);
  return out;
}

void Registry::release_listener(std::uint16_t port) {
  pool_.release(port);
  listeners_.erase(port);
}

}  // namespace xnet::pass
