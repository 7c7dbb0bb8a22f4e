// SPDX-License-Identifier: MIT
#include "pass/service.hpp"

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include <array>
#include <map>
#include <optional>
#include <random>

#include <asio/ip/tcp.hpp>
#include <asio/read.hpp>
#include <asio/steady_timer.hpp>

#include "pass/relay.hpp"
#include "xep/xep0003.hpp"

namespace xnet::pass {
namespace {

using asio::ip::tcp;
using xep0003::PassError;
using Clock = std::chrono::steady_clock;
constexpr std::size_t kTokenLength = 32;  // hex digits
constexpr std::size_t kMaxEarly = 8;      // collectors held per pending connection
constexpr auto kRefusalNoticeGap = std::chrono::seconds(1);  // per listener
constexpr std::string_view kPingNs = "urn:xmpp:ping";

std::string random_hex(std::size_t bytes) {
  std::vector<unsigned char> buf(bytes);
  if (RAND_bytes(buf.data(), static_cast<int>(buf.size())) != 1) {
    // No entropy source is a broken system; a token from random_device is still unguessable
    // enough for a 10 s window, and a PASS service must not crash on it.
    std::random_device rd;
    for (auto& b : buf) b = static_cast<unsigned char>(rd());
  }
  static constexpr char kHex[] = "0123456789abcdef";
  std::string s;
  for (auto b : buf) {
    s += kHex[b >> 4];
    s += kHex[b & 15];
  }
  return s;
}

std::string ip_of(const tcp::endpoint& ep) {
  auto a = ep.address();
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  return a.to_string();
}

std::string normalize_ip(const std::string& ip) {
  asio::error_code ec;
  auto a = asio::ip::make_address(ip, ec);
  if (ec) return ip;
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  return a.to_string();
}

const char* reason_name(CloseReason r) {
  switch (r) {
    case CloseReason::Expired: return "expired";
    case CloseReason::Oneshot: return "oneshot";
    case CloseReason::Closed: return "closed";
    case CloseReason::OwnerGone: return "owner_gone";
  }
  return "closed";
}

}  // namespace

void to_json(nlohmann::json& j, const Stats& s) {
  j = nlohmann::json{{"listeners", s.listeners},     {"ports_in_use", s.ports_in_use},
                     {"pending", s.pending},         {"relays", s.relays},
                     {"relays_total", s.relays_total}, {"bytes", s.bytes},
                     {"denied", s.denied},           {"dropped", s.dropped}};
}

struct PassService::Impl : std::enable_shared_from_this<Impl> {
  struct PendingIo {
    PendingIo(asio::io_context& io) : client(io), rendezvous(io) {}
    tcp::socket client;
    tcp::acceptor rendezvous;
    // Collectors that came before the owner's result (bounded: a third party must not be able
    // to fill the slots and lock the owner out, so the owner's token decides among them).
    std::vector<std::shared_ptr<tcp::socket>> early;
    std::vector<std::shared_ptr<tcp::socket>> verifying;
    std::shared_ptr<tcp::socket> ready;  // presented the token before the owner's result
    std::string owner_ip;  // "" = unknown (component mode)
  };

  Impl(ServiceConfig c, std::function<void(std::string_view, const nlohmann::json&)> log)
      : cfg(std::move(c)),
        pool(cfg.first_port, cfg.last_port, cfg.ports_per_account),
        reg(pool, cfg.limits, cfg.public_ip),
        log(log) {}

  ServiceConfig cfg;
  PortPool pool;
  Registry reg;
  std::function<void(std::string_view, const nlohmann::json&)> log;
  server::ServiceHost* host = nullptr;
  asio::io_context* io = nullptr;
  std::unique_ptr<asio::steady_timer> timer;
  Counters counters;
  std::uint64_t denied = 0, dropped = 0, seq = 0;
  std::map<std::uint16_t, std::shared_ptr<tcp::acceptor>> listeners;
  std::map<std::uint64_t, std::shared_ptr<PendingIo>> pendings;
  std::map<std::string, std::shared_ptr<RateLimiter>> limiters;
  std::map<std::string, std::string> session_ip;  // owner full JID → address at registration
  struct RefusalNotices {
    Clock::time_point last{};
    std::uint64_t count = 0;
    Refusal reason{};
    xep0003::Endpoint client;
  };
  std::map<std::uint16_t, RefusalNotices> refusal_notices;  // by listener port
  std::unique_ptr<asio::steady_timer> ping_timer;
  struct OwnerPing {
    std::string outstanding;  // id of the ping in flight ("" = none)
    bool answers = false;     // answered a ping with a result before
  };
  std::map<std::string, OwnerPing> remote_owners;  // pinged owners, by full JID
  bool stopped = false;

  void event(std::string_view name, nlohmann::json fields) {
    if (log) log(name, fields);
    if (host) {
      std::string line = "pass: " + std::string(name) + " " + fields.dump();
      host->trace().progress(1, line);
    }
  }

  const std::string& jid() const { return host->service_jid(); }

  tcp::endpoint bind_endpoint(std::uint16_t port) const {
    asio::error_code ec;
    auto addr = asio::ip::make_address(cfg.bind_ip.empty() ? cfg.public_ip : cfg.bind_ip, ec);
    if (ec) addr = asio::ip::address_v4::any();
    return {addr, port};
  }

  // Bind and listen on port; false when the port is taken by someone else.
  bool open_acceptor(tcp::acceptor& acc, std::uint16_t port, int backlog) {
    asio::error_code ec;
    auto ep = bind_endpoint(port);
    acc.open(ep.protocol(), ec);
    if (ec) return false;
    acc.set_option(tcp::acceptor::reuse_address(true), ec);
    acc.bind(ep, ec);
    if (!ec) acc.listen(backlog, ec);
    if (ec) {
      acc.close(ec);
      return false;
    }
    return true;
  }

  void send_iq(const std::string& to, std::string_view type, const std::string& id,
               const xep0003::Query& q) {
    host->send(xep0003::make_iq(type, id, jid(), to, q));
  }

  xep0003::Endpoint ep(std::uint16_t port) const { return {cfg.public_ip, port}; }

  void reply_result(const xml::Element& req, const xep0003::Query& q) {
    send_iq(req.attr_or("from"), "result", req.attr_or("id"), q);
  }

  void reply_error(const xml::Element& req, PassError e, std::string_view text = {}) {
    auto r = xep0003::make_error_reply(req, e, text);
    r.set("from", jid());
    host->send(std::move(r));
  }

  // --- registration and close -----------------------------------------------------------

  void on_register(const xml::Element& iq, const xep0003::Query& q, const server::Origin& o) {
    if (o.anonymous && !cfg.allow_anonymous) {
      event("pass_register_refused", {{"owner", o.full_jid}, {"code", 403}, {"reason", "anonymous"}});
      reply_error(iq, PassError::Forbidden);
      return;
    }
    if (q.reclaim) {
      if (auto r = reg.reclaim(o.full_jid, *q.reclaim, q.token.has_value())) {
        for (const auto& p : r->dropped) drop_io(p.id);
        session_ip[o.full_jid] = o.remote ? normalize_ip(o.remote->ip) : std::string();
        remote_owners.emplace(o.full_jid, OwnerPing{});
        xep0003::Query res;
        res.server = ep(r->listener.port);
        reply_result(iq, res);
        event("pass_reclaimed", {{"owner", o.full_jid}, {"port", r->listener.port}});
        reschedule();
        return;
      }
    }
    std::shared_ptr<tcp::acceptor> acc;
    auto try_port = [&](std::uint16_t port) {
      auto a = std::make_shared<tcp::acceptor>(*io);
      if (!open_acceptor(*a, port, 64)) return false;
      acc = a;
      return true;
    };
    auto l = reg.register_listener(o.full_jid, q, Clock::now(), try_port);
    if (!l) {
      event("pass_register_refused", {{"owner", o.full_jid},
                                      {"code", xep0003::code_of(l.error())},
                                      {"ports_held", pool.held_by(bare_jid(o.full_jid))}});
      reply_error(iq, l.error());
      return;
    }
    listeners[l->port] = acc;
    session_ip[o.full_jid] = o.remote ? normalize_ip(o.remote->ip) : std::string();
    remote_owners.emplace(o.full_jid, OwnerPing{});
    accept_loop(l->port, acc);
    xep0003::Query r;
    r.server = ep(l->port);
    reply_result(iq, r);
    nlohmann::json f{{"owner", l->owner}, {"ip", cfg.public_ip}, {"port", l->port},
                     {"oneshot", l->oneshot}, {"ports_in_use", pool.in_use()}};
    if (q.expire_seconds) f["expire"] = *q.expire_seconds;
    event("pass_registered", f);
    reschedule();
  }

  void on_close(const xml::Element& iq, const xep0003::Query& q, const server::Origin& o) {
    auto c = reg.close(o.full_jid, q);
    if (!c) {
      event("pass_close_refused", {{"from", o.full_jid}, {"code", xep0003::code_of(c.error())}});
      reply_error(iq, c.error());
      return;
    }
    close_listener(c->listener.port);
    for (const auto& p : c->dropped) drop_io(p.id);
    reply_result(iq, {});
    if (o.full_jid != c->listener.owner) {
      // Closed from another session of the account: tell the one that gets the notices.
      notify_closed(c->listener, CloseReason::Closed);
    } else {
      event("pass_closed", {{"owner", c->listener.owner}, {"port", c->listener.port},
                            {"reason", reason_name(CloseReason::Closed)}});
    }
    reschedule();
  }

  void close_listener(std::uint16_t port) {
    auto it = listeners.find(port);
    if (it == listeners.end()) return;
    asio::error_code ec;
    it->second->close(ec);
    listeners.erase(it);
  }

  void notify_closed(const Registration& l, CloseReason why) {
    xep0003::Query q;
    q.close = true;
    q.proxy = ep(l.port);
    if (why == CloseReason::Expired) q.expire = true;
    if (why == CloseReason::Oneshot) q.oneshot = true;
    send_iq(l.owner, "set", "pass-n" + std::to_string(++seq), q);
    event("pass_closed", {{"owner", l.owner}, {"port", l.port}, {"reason", reason_name(why)}});
  }

  // --- incoming connections --------------------------------------------------------------

  void accept_loop(std::uint16_t port, std::shared_ptr<tcp::acceptor> acc) {
    acc->async_accept([self = shared_from_this(), port, acc](const asio::error_code& ec,
                                                             tcp::socket s) {
      if (self->stopped || !acc->is_open()) return;
      if (ec) {
        // Out of descriptors or similar: back off instead of spinning, keep listening.
        auto t = std::make_shared<asio::steady_timer>(*self->io, std::chrono::milliseconds(100));
        t->async_wait([self, port, acc, t](const asio::error_code&) {
          if (!self->stopped && acc->is_open()) self->accept_loop(port, acc);
        });
        return;
      }
      self->on_incoming(port, std::move(s));
      self->accept_loop(port, acc);
    });
  }

  void on_incoming(std::uint16_t port, tcp::socket s) {
    asio::error_code ec;
    auto remote = s.remote_endpoint(ec);
    if (ec) return;
    auto pio = std::make_shared<PendingIo>(*io);
    auto try_port = [&](std::uint16_t p) { return open_acceptor(pio->rendezvous, p, 4); };
    xep0003::Endpoint client{ip_of(remote), remote.port()};
    std::string iq_id = "pass-" + std::to_string(++seq) + "-" + random_hex(8);
    auto p = reg.incoming(port, client, Clock::now(), try_port, iq_id, random_hex(kTokenLength / 2));
    if (!p) {
      ++dropped;
      // A reset rather than a FIN: the client learns at once that nobody will answer.
      s.set_option(asio::socket_base::linger(true, 0), ec);
      s.close(ec);
      event("pass_incoming_refused",
            {{"port", port}, {"client", client.ip}, {"reason", refusal_name(p.error())}});
      if (p.error() != Refusal::NoListener && p.error() != Refusal::OwnerAway)
        notify_refused(port, p.error(), client);
      return;
    }
    pio->client = std::move(s);
    auto ip = session_ip.find(p->owner);
    if (ip != session_ip.end()) pio->owner_ip = ip->second;
    pendings[p->id] = pio;
    xep0003::Query q;
    q.client = client;
    q.proxy = ep(p->proxy_port);
    q.token = p->token;
    send_iq(p->owner, "set", p->iq_id, q);
    event("pass_incoming", {{"owner", p->owner}, {"port", port}, {"client", client.ip},
                            {"client_port", remote.port()}, {"proxy_port", p->proxy_port}});
    rendezvous_loop(p->id, pio);
    reschedule();
  }

  // xnet extension: tell the owner that the relay turned a client away (rate-limited per
  // listener: a flood of refused clients must not become a flood of stanzas).
  void notify_refused(std::uint16_t port, Refusal why, const xep0003::Endpoint& client) {
    const Registration* l = reg.listener(port);
    if (!l) return;
    auto& n = refusal_notices[port];
    ++n.count;
    n.reason = why;
    n.client = client;
    auto now = Clock::now();
    if (now - n.last < kRefusalNoticeGap) return;
    n.last = now;
    xep0003::Query q;
    q.client = n.client;
    q.refused = refusal_name(n.reason);
    q.refused_count = n.count;
    n.count = 0;
    send_iq(l->owner, "set", "pass-r" + std::to_string(++seq), q);
  }

  void rendezvous_loop(std::uint64_t id, std::shared_ptr<PendingIo> pio) {
    pio->rendezvous.async_accept([self = shared_from_this(), id, pio](const asio::error_code& ec,
                                                                       tcp::socket c) {
      if (ec || self->stopped || !pio->rendezvous.is_open()) return;
      const Pending* p = self->reg.pending(id);
      if (!p) return;
      asio::error_code e2;
      auto remote = c.remote_endpoint(e2);
      if (e2 || (!pio->owner_ip.empty() && ip_of(remote) != pio->owner_ip)) {
        self->event("pass_rendezvous_refused",
                    {{"proxy_port", p->proxy_port}, {"from", e2 ? "" : ip_of(remote)},
                     {"reason", "address"}});
        c.close(e2);
      } else if (p->token_required) {
        // Token mode (the owner announced it at registration): every collector proves itself
        // with the token at once, before or after the owner's result. Unproven ones are
        // bounded; the oldest gives way, so strangers cannot keep the owner's collector out.
        if (pio->verifying.size() >= kMaxEarly) {
          pio->verifying.front()->close(e2);
          pio->verifying.erase(pio->verifying.begin());
        }
        self->verify(id, pio, std::make_shared<tcp::socket>(std::move(c)));
      } else if (!p->accepted) {
        // Legacy owner: collectors that arrive before its result wait; the newest ones win
        // (the owner connects right after answering), the oldest give way.
        if (pio->early.size() >= kMaxEarly) {
          pio->early.front()->close(e2);
          pio->early.erase(pio->early.begin());
        }
        pio->early.push_back(std::make_shared<tcp::socket>(std::move(c)));
      } else {
        self->verify(id, pio, std::make_shared<tcp::socket>(std::move(c)));
      }
      self->rendezvous_loop(id, pio);
    });
  }

  void verify(std::uint64_t id, std::shared_ptr<PendingIo> pio, std::shared_ptr<tcp::socket> c) {
    const Pending* p = reg.pending(id);
    if (!p) return;
    if (!p->token_required) {
      collect(id, pio, std::move(*c));
      return;
    }
    pio->verifying.push_back(c);
    auto buf = std::make_shared<std::array<char, kTokenLength>>();
    asio::async_read(*c, asio::buffer(*buf),
                     [self = shared_from_this(), id, pio, c, buf](const asio::error_code& ec,
                                                                   std::size_t) {
                       auto it = std::find(pio->verifying.begin(), pio->verifying.end(), c);
                       if (it == pio->verifying.end()) return;  // evicted or closed meanwhile
                       pio->verifying.erase(it);
                       const Pending* p = self->reg.pending(id);
                       asio::error_code e2;
                       if (ec || !p || p->token.size() != kTokenLength ||
                           CRYPTO_memcmp(buf->data(), p->token.data(), kTokenLength) != 0) {
                         if (p)
                           self->event("pass_rendezvous_refused",
                                       {{"proxy_port", p->proxy_port}, {"reason", "token"}});
                         c->close(e2);
                         return;
                       }
                       if (!p->accepted) {
                         // Proven before the owner's result arrived: wait for it.
                         if (pio->ready) pio->ready->close(e2);
                         pio->ready = c;
                         return;
                       }
                       self->collect(id, pio, std::move(*c));
                     });
  }

  void collect(std::uint64_t id, std::shared_ptr<PendingIo> pio, tcp::socket collector) {
    auto c = reg.collected(id);
    asio::error_code ec;
    if (!c) {
      collector.close(ec);
      return;
    }
    pendings.erase(id);
    pio->rendezvous.close(ec);
    for (auto& v : pio->early) v->close(ec);
    for (auto& v : pio->verifying) v->close(ec);
    if (pio->ready && pio->ready->is_open()) pio->ready->close(ec);
    collector.set_option(tcp::no_delay(true), ec);
    pio->client.set_option(tcp::no_delay(true), ec);
    int cfd = pio->client.release(ec);
    int ofd = collector.release(ec);
    RelayOptions opts;
    opts.counters = &counters;
    opts.half_close_timeout = cfg.half_close_timeout;
    if (cfg.bandwidth) {
      auto& lim = limiters[c->pending.owner_bare];
      if (!lim) lim = std::make_shared<RateLimiter>(cfg.bandwidth);
      opts.limiter = lim;
    }
    const std::string bare = c->pending.owner_bare;
    const std::string owner = c->pending.owner;
    const std::string source = c->pending.client.ip;
    const auto port = c->pending.listener_port;
    event("pass_relay_started", {{"owner", owner}, {"port", port},
                                 {"client", c->pending.client.ip},
                                 {"relays", reg.relays()}, {"relays_of_account", reg.relays_of(bare)}});
    start_relay(*io, {cfd, cfd}, {ofd, ofd}, std::move(opts),
                [self = shared_from_this(), bare, owner, port, source](const RelayResult& r) {
                  self->reg.relay_ended(bare, source);
                  nlohmann::json f{{"owner", owner},
                                   {"port", port},
                                   {"bytes_in", r.a_to_b},
                                   {"bytes_out", r.b_to_a},
                                   {"error", r.error}};
                  nlohmann::json s = self->stats();
                  f["stats"] = s;
                  self->event("pass_relay_closed", f);
                });
    if (c->oneshot_closed) {
      close_listener(c->oneshot_closed->port);
      notify_closed(*c->oneshot_closed, CloseReason::Oneshot);
    }
    reschedule();
  }

  void drop_io(std::uint64_t id) {
    auto it = pendings.find(id);
    if (it == pendings.end()) return;
    asio::error_code ec;
    auto& pio = *it->second;
    pio.client.close(ec);
    pio.rendezvous.close(ec);
    for (auto& v : pio.early) v->close(ec);
    for (auto& v : pio.verifying) v->close(ec);
    if (pio.ready) pio.ready->close(ec);
    pendings.erase(it);
  }

  // Returns false for replies that are not to this service's notices (in component mode other
  // services share the JID).
  bool on_reply(const xml::Element& iq, const server::Origin& o) {
    const auto type = iq.attr_or("type");
    const auto id = iq.attr_or("id");
    if (id.rfind("pass-ping-", 0) == 0) {
      auto it = remote_owners.find(o.full_jid);
      if (it == remote_owners.end() || it->second.outstanding != id) return true;
      it->second.outstanding.clear();
      if (type == "result") {
        it->second.answers = true;
        return true;
      }
      // The router bounces a ping to a resource that is gone, but a client without XEP-0199
      // answers with an error too: an error means "gone" only from an owner that answered
      // pings before, or when it names an absent recipient.
      auto err = xep0003::parse_error(iq);
      if (it->second.answers || err.condition == "recipient-unavailable" ||
          err.condition == "item-not-found" || err.condition == "remote-server-not-found") {
        event("pass_owner_gone", {{"owner", o.full_jid}, {"reason", "ping_error"}});
        session_end(o.full_jid);
      }
      return true;
    }
    if (id.rfind("pass-", 0) != 0) return false;
    if (type == "result") {
      bool echo = false;
      if (const auto* qe = xep0003::find_query(iq)) {
        auto q = xep0003::parse_query(*qe);
        echo = q && q->token.has_value();
      }
      auto p = reg.accept(o.full_jid, id, echo);
      if (!p) return true;
      event("pass_accepted", {{"owner", p->owner}, {"proxy_port", p->proxy_port},
                              {"token", p->token_required}});
      auto it = pendings.find(p->id);
      if (it != pendings.end()) {
        auto pio = it->second;
        if (pio->ready) {
          auto c = std::move(pio->ready);
          collect(p->id, pio, std::move(*c));
          return true;
        }
        auto early = std::move(pio->early);
        pio->early.clear();
        for (auto& c : early) {
          if (!reg.pending(p->id)) break;  // collected by an earlier one
          verify(p->id, pio, c);
        }
      }
    } else {
      auto p = reg.deny(o.full_jid, id);
      if (!p) return true;
      ++denied;
      drop_io(p->id);
      auto err = xep0003::parse_error(iq);
      event("pass_denied", {{"owner", p->owner}, {"port", p->listener_port},
                            {"client", p->client.ip}, {"condition", err.condition}});
      reschedule();
    }
    return true;
  }

  // --- timers ----------------------------------------------------------------------------

  void reschedule() {
    if (!timer || stopped) return;
    auto next = reg.next_deadline();
    timer->cancel();
    if (!next) return;
    timer->expires_at(*next);
    timer->async_wait([self = shared_from_this()](const asio::error_code& ec) {
      if (ec || self->stopped) return;
      self->on_timer();
    });
  }

  void on_timer() {
    auto due = reg.advance(Clock::now());
    for (const auto& l : due.expired) {
      close_listener(l.port);
      notify_closed(l, CloseReason::Expired);
    }
    for (const auto& l : due.released) {
      close_listener(l.port);
      refusal_notices.erase(l.port);
      event("pass_closed", {{"owner", l.owner}, {"port", l.port}, {"reason", "grace_over"}});
    }
    for (const auto& p : due.timed_out) {
      ++dropped;
      drop_io(p.id);
      event("pass_dropped", {{"owner", p.owner}, {"port", p.listener_port},
                             {"client", p.client.ip}, {"reason", p.accepted ? "not_collected" : "no_answer"}});
    }
    reschedule();
  }

  // Owners are pinged (XEP-0199); no answer by the next round, or an error, ends their session
  // here. Component mode: the router may never tell that an owner left (no directed presence, or
  // a router that drops it). Built-in server: an owner behind a NAT that dropped its mapping
  // keeps a session that looks alive until TCP gives up (many minutes); its ports are freed
  // within two rounds instead.
  void schedule_pings() {
    if (!ping_timer || stopped || cfg.owner_ping_interval.count() <= 0) return;
    ping_timer->expires_after(cfg.owner_ping_interval);
    ping_timer->async_wait([self = shared_from_this()](const asio::error_code& ec) {
      if (ec || self->stopped) return;
      self->ping_owners();
      self->schedule_pings();
    });
  }

  void ping_owners() {
    auto live = reg.owners();
    std::vector<std::string> gone;
    for (auto it = remote_owners.begin(); it != remote_owners.end();) {
      if (std::find(live.begin(), live.end(), it->first) == live.end()) {
        it = remote_owners.erase(it);
        continue;
      }
      if (!it->second.outstanding.empty()) {
        gone.push_back(it->first);
      } else {
        it->second.outstanding = "pass-ping-" + std::to_string(++seq);
        xml::Element iq("iq", "jabber:client");
        iq.set("type", "get");
        iq.set("id", it->second.outstanding);
        iq.set("from", jid());
        iq.set("to", it->first);
        iq.add("ping", std::string(kPingNs));
        host->send(std::move(iq));
      }
      ++it;
    }
    for (const auto& owner : gone) {
      event("pass_owner_gone", {{"owner", owner}, {"reason", "ping_timeout"}});
      session_end(owner);
    }
  }

  void session_end(const std::string& full_jid) {
    auto gone = reg.session_ended(full_jid, Clock::now());
    for (const auto& l : gone.listeners) {
      close_listener(l.port);
      refusal_notices.erase(l.port);
      event("pass_closed", {{"owner", l.owner}, {"port", l.port},
                            {"reason", reason_name(CloseReason::OwnerGone)}});
    }
    for (const auto& l : gone.held)
      event("pass_held", {{"owner", l.owner}, {"port", l.port},
                          {"grace_ms", cfg.limits.grace.count()}});
    for (const auto& p : gone.pending) {
      ++dropped;
      drop_io(p.id);
    }
    session_ip.erase(full_jid);
    remote_owners.erase(full_jid);
    reschedule();
  }

  Stats stats() const {
    Stats s;
    s.listeners = reg.listeners();
    s.ports_in_use = pool.in_use();
    s.pending = reg.pending_count();
    s.relays = counters.relays.load();
    s.relays_total = counters.relays_total.load();
    s.bytes = counters.bytes.load();
    s.denied = denied;
    s.dropped = dropped;
    return s;
  }

  void stop() {
    stopped = true;
    if (timer) timer->cancel();
    if (ping_timer) ping_timer->cancel();
    for (auto& [port, acc] : listeners) {
      asio::error_code ec;
      acc->close(ec);
    }
    listeners.clear();
    std::vector<std::uint64_t> ids;
    for (auto& [id, p] : pendings) ids.push_back(id);
    for (auto id : ids) drop_io(id);
  }
};

PassService::PassService(ServiceConfig config,
                         std::function<void(std::string_view, const nlohmann::json&)> log)
    : config_(std::move(config)), log_(std::move(log)) {
  impl_ = std::make_shared<Impl>(config_, log_);
}

PassService::~PassService() { impl_->stop(); }

server::Identity PassService::identity() const {
  // pass.md §7: no registered identity type exists; this one is private and harmless.
  return {"proxy", "pass", "PASS (XEP-0003) reverse TCP relay"};
}

std::vector<std::string> PassService::features() const { return {std::string(xep0003::kNs)}; }

void PassService::attach(server::ServiceHost& host) {
  impl_->host = &host;
  impl_->io = &host.io();
  impl_->timer = std::make_unique<asio::steady_timer>(host.io());
  impl_->ping_timer = std::make_unique<asio::steady_timer>(host.io());
  impl_->stopped = false;
  impl_->schedule_pings();
  impl_->event("pass_started", {{"jid", host.service_jid()}, {"public_ip", config_.public_ip},
                                {"first_port", config_.first_port}, {"last_port", config_.last_port},
                                {"ports_per_account", config_.ports_per_account},
                                {"relays_per_account", config_.limits.relays_per_account},
                                {"relays_per_source", config_.limits.relays_per_source},
                                {"grace_ms", config_.limits.grace.count()},
                                {"anonymous", config_.allow_anonymous},
                                {"bandwidth", config_.bandwidth}});
}

bool PassService::on_stanza(const xml::Element& st, const server::Origin& origin) {
  if (!impl_->host || st.name != "iq") return false;
  const auto type = st.attr_or("type");
  if (type == "result" || type == "error") return impl_->on_reply(st, origin);
  const auto* qe = xep0003::find_query(st);
  if (!qe) return false;
  auto q = xep0003::parse_query(*qe);
  if (!q) {
    impl_->reply_error(st, PassError::BadRequest, q.error().message);
    return true;
  }
  if (type == "get") {
    // §5.1 peer IP query is for clients, not for the service.
    impl_->reply_error(st, PassError::Unavailable);
    return true;
  }
  if (type != "set") return false;
  if (xep0003::classify(type, *q, false) == xep0003::Kind::Close)
    impl_->on_close(st, *q, origin);
  else
    impl_->on_register(st, *q, origin);
  return true;
}

void PassService::on_session_end(const std::string& full_jid) { impl_->session_end(full_jid); }

void PassService::detach() { impl_->stop(); }

Stats PassService::stats() const { return impl_->stats(); }

}  // namespace xnet::pass
