// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <set>

#include "pass/port_pool.hpp"
#include "pass/registry.hpp"

using namespace xnet;
using namespace xnet::pass;
using xep0003::PassError;
using namespace std::chrono_literals;

namespace {

const auto kAny = [](std::uint16_t) { return true; };
const TimePoint t0{};

xep0003::Query reg(std::optional<std::uint64_t> expire = {}, bool oneshot = false) {
  xep0003::Query q;
  if (expire) {
    q.expire = true;
    q.expire_seconds = *expire;
  }
  q.oneshot = oneshot;
  return q;
}

xep0003::Query close_q(std::string ip, std::optional<std::uint16_t> port) {
  xep0003::Query q;
  q.close = true;
  q.proxy = xep0003::Endpoint{std::move(ip), port};
  return q;
}

}  // namespace

TEST_CASE("port pool: range, quota, release, refused ports", "[pass]") {
  PortPool pool(41000, 41003, 2);
  CHECK(pool.capacity() == 4);
  auto a = pool.acquire("alice@x", kAny);
  auto b = pool.acquire("alice@x", kAny);
  REQUIRE(a);
  REQUIRE(b);
  CHECK(*a != *b);
  PoolError why{};
  CHECK_FALSE(pool.acquire("alice@x", kAny, &why));
  CHECK(why == PoolError::Quota);
  // Rendezvous ports ("" account) ignore quotas but not the range.
  auto r = pool.acquire("", kAny);
  REQUIRE(r);
  auto c = pool.acquire("bob@x", kAny);
  REQUIRE(c);
  CHECK_FALSE(pool.acquire("bob@x", kAny, &why));
  CHECK(why == PoolError::Exhausted);
  CHECK(pool.in_use() == 4);
  pool.release(*a);
  CHECK(pool.held_by("alice@x") == 1);
  CHECK(pool.acquire("alice@x", kAny) == a);
  pool.release(12345);  // not taken: no-op
  CHECK(pool.in_use() == 4);

  SECTION("a port refused by try_port stays free and the next one is used") {
    PortPool p2(42000, 42002, 5);
    auto got = p2.acquire("a", [](std::uint16_t port) { return port != 42000; });
    REQUIRE(got);
    CHECK(*got == 42001);
    CHECK_FALSE(p2.acquire("a", [](std::uint16_t) { return false; }));
    CHECK(p2.in_use() == 1);
  }
  SECTION("round robin: a released port is not handed out again at once") {
    PortPool p3(43000, 43009, 10);
    auto x = p3.acquire("a", kAny);
    p3.release(*x);
    CHECK(p3.acquire("a", kAny) != x);
  }
}

TEST_CASE("registry: registration", "[pass]") {
  PortPool pool(40000, 40001, 1);
  Registry r(pool, Limits{}, "192.0.2.10");
  auto l = r.register_listener("alice@x/cli", reg(900), t0, kAny);
  REQUIRE(l);
  CHECK(l->owner_bare == "alice@x");
  REQUIRE(l->expires_at);
  CHECK(*l->expires_at == t0 + 900s);
  SECTION("per-account quota and exhaustion both give 502") {
    auto again = r.register_listener("alice@x/other", reg(), t0, kAny);
    REQUIRE_FALSE(again);
    CHECK(again.error() == PassError::NoPorts);
    REQUIRE(r.register_listener("bob@x/1", reg(), t0, kAny));
    auto none = r.register_listener("carol@x/1", reg(), t0, kAny);
    REQUIRE_FALSE(none);
    CHECK(none.error() == PassError::NoPorts);
  }
  SECTION("close, proxy or empty expire in a registration is bad-request") {
    auto q = reg();
    q.close = true;
    CHECK(r.register_listener("bob@x/1", q, t0, kAny).error() == PassError::BadRequest);
    q = reg();
    q.proxy = xep0003::Endpoint{"1.2.3.4", 5};
    CHECK(r.register_listener("bob@x/1", q, t0, kAny).error() == PassError::BadRequest);
    q = reg();
    q.expire = true;
    CHECK(r.register_listener("bob@x/1", q, t0, kAny).error() == PassError::BadRequest);
    CHECK(pool.in_use() == 1);
  }
  SECTION("a huge expire does not overflow") {
    auto big = r.register_listener("bob@x/1", reg(18446744073709551615ull), t0, kAny);
    REQUIRE(big);
    CHECK(*big->expires_at > t0 + 3650 * 24h);
  }
}

TEST_CASE("registry: max_expire caps and defaults the lifetime", "[pass]") {
  PortPool pool(40000, 40009, 5);
  Limits lim;
  lim.max_expire = 60;
  Registry r(pool, lim, "192.0.2.10");
  CHECK(*r.register_listener("a@x/1", reg(), t0, kAny)->expires_at == t0 + 60s);
  CHECK(*r.register_listener("a@x/1", reg(3600), t0, kAny)->expires_at == t0 + 60s);
  CHECK(*r.register_listener("a@x/1", reg(10), t0, kAny)->expires_at == t0 + 10s);
}

TEST_CASE("registry: expire closes the listener, not the relays", "[pass]") {
  PortPool pool(40000, 40009, 5);
  Registry r(pool, Limits{}, "192.0.2.10");
  auto l = *r.register_listener("alice@x/cli", reg(30), t0, kAny);
  auto p = *r.incoming(l.port, {"198.51.100.7", 5000}, t0, kAny, "n1", "tok");
  REQUIRE(r.accept("alice@x/cli", "n1", false));
  REQUIRE(r.collected(p.id));
  CHECK(r.relays() == 1);
  CHECK(r.next_deadline() == t0 + 30s);
  auto early = r.advance(t0 + 29s);
  CHECK(early.expired.empty());
  auto due = r.advance(t0 + 30s);
  REQUIRE(due.expired.size() == 1);
  CHECK(due.expired[0].port == l.port);
  CHECK(r.listener(l.port) == nullptr);
  CHECK(r.relays() == 1);
  CHECK_FALSE(r.incoming(l.port, {"198.51.100.7", 5001}, t0 + 31s, kAny, "n2", "t"));
  r.relay_ended("alice@x");
  CHECK(r.relays() == 0);
  CHECK(pool.in_use() == 0);
}

TEST_CASE("registry: oneshot closes after the first collected connection only", "[pass]") {
  PortPool pool(40000, 40009, 5);
  Registry r(pool, Limits{}, "192.0.2.10");
  auto l = *r.register_listener("alice@x/cli", reg({}, true), t0, kAny);
  // A denied connection does not use up the oneshot (pass.md §5.2).
  auto d = *r.incoming(l.port, {"203.0.113.9", 1}, t0, kAny, "n1", "t");
  auto denied = r.deny("alice@x/cli", "n1");
  REQUIRE(denied);
  CHECK(denied->id == d.id);
  REQUIRE(r.listener(l.port));
  // Two concurrent connections: the first collected closes the listener and drops the other.
  auto a = *r.incoming(l.port, {"198.51.100.7", 2}, t0, kAny, "n2", "t");
  auto b = *r.incoming(l.port, {"198.51.100.8", 3}, t0, kAny, "n3", "t");
  REQUIRE(r.accept("alice@x/cli", "n2", true));
  auto c = r.collected(a.id);
  REQUIRE(c);
  REQUIRE(c->oneshot_closed);
  CHECK(c->oneshot_closed->port == l.port);
  CHECK(r.listener(l.port) == nullptr);
  CHECK(r.pending(b.id) == nullptr);
  CHECK(pool.in_use() == 0);
}

TEST_CASE("registry: deny and accept only from the owner's full JID", "[pass]") {
  PortPool pool(40000, 40009, 5);
  Registry r(pool, Limits{}, "192.0.2.10");
  auto l = *r.register_listener("alice@x/cli", reg(), t0, kAny);
  auto p = *r.incoming(l.port, {"198.51.100.7", 2}, t0, kAny, "n1", "tok");
  CHECK_FALSE(r.accept("mallory@x/m", "n1", true));
  CHECK_FALSE(r.accept("alice@x/other", "n1", true));
  CHECK_FALSE(r.deny("mallory@x/m", "n1"));
  CHECK_FALSE(r.accept("alice@x/cli", "wrong-id", true));
  auto ok = r.accept("alice@x/cli", "n1", true);
  REQUIRE(ok);
  CHECK(ok->accepted);
  CHECK(ok->token_required);
  CHECK_FALSE(r.accept("alice@x/cli", "n1", true));  // answered once
  CHECK(r.pending(p.id)->accepted);
}

TEST_CASE("registry: accept window", "[pass]") {
  PortPool pool(40000, 40009, 5);
  Limits lim;
  lim.accept_window = 10s;
  Registry r(pool, lim, "192.0.2.10");
  auto l = *r.register_listener("alice@x/cli", reg(), t0, kAny);
  auto p = *r.incoming(l.port, {"198.51.100.7", 2}, t0, kAny, "n1", "t");
  auto q = *r.incoming(l.port, {"198.51.100.7", 3}, t0 + 5s, kAny, "n2", "t");
  CHECK(pool.in_use() == 3);
  CHECK(r.next_deadline() == t0 + 10s);
  REQUIRE(r.accept("alice@x/cli", "n1", false));  // accepted but never collected
  auto due = r.advance(t0 + 10s);
  REQUIRE(due.timed_out.size() == 1);
  CHECK(due.timed_out[0].id == p.id);
  CHECK(r.pending(q.id));
  due = r.advance(t0 + 15s);
  REQUIRE(due.timed_out.size() == 1);
  CHECK(due.timed_out[0].id == q.id);
  CHECK(r.listener(l.port));  // the listener keeps listening
  CHECK(pool.in_use() == 1);
}

TEST_CASE("registry: relay quota counts pending and active relays", "[pass]") {
  PortPool pool(40000, 40099, 5);
  Limits lim;
  lim.relays_per_account = 2;
  lim.relays_total = 3;
  Registry r(pool, lim, "192.0.2.10");
  auto l = *r.register_listener("alice@x/cli", reg(), t0, kAny);
  auto m = *r.register_listener("bob@x/cli", reg(), t0, kAny);
  auto p1 = *r.incoming(l.port, {"1.1.1.1", 1}, t0, kAny, "a1", "t");
  REQUIRE(r.incoming(l.port, {"1.1.1.1", 2}, t0, kAny, "a2", "t"));
  auto refused = r.incoming(l.port, {"1.1.1.1", 3}, t0, kAny, "a3", "t");
  REQUIRE_FALSE(refused);
  CHECK(refused.error() == Refusal::RelayQuota);
  REQUIRE(r.incoming(m.port, {"1.1.1.1", 4}, t0, kAny, "b1", "t"));
  CHECK(r.incoming(m.port, {"1.1.1.1", 5}, t0, kAny, "b2", "t").error() == Refusal::RelayQuota);
  REQUIRE(r.accept("alice@x/cli", "a1", false));
  REQUIRE(r.collected(p1.id));
  CHECK(r.relays_of("alice@x") == 1);
  CHECK(r.incoming(l.port, {"1.1.1.1", 6}, t0, kAny, "a4", "t").error() == Refusal::RelayQuota);
  r.relay_ended("alice@x");
  CHECK(r.relays_of("alice@x") == 0);
  CHECK(r.incoming(l.port, {"1.1.1.1", 7}, t0, kAny, "a5", "t"));
}

TEST_CASE("registry: close checks in pass.md §7 order", "[pass]") {
  PortPool pool(40000, 40009, 5);
  Registry r(pool, Limits{}, "192.0.2.10");
  auto l = *r.register_listener("alice@x/cli", reg(), t0, kAny);
  auto p = *r.incoming(l.port, {"1.1.1.1", 1}, t0, kAny, "n1", "t");
  xep0003::Query no_proxy;
  no_proxy.close = true;
  CHECK(r.close("alice@x/cli", no_proxy).error() == PassError::MissingProxy);
  CHECK(r.close("mallory@x/m", close_q("10.0.0.1", 1)).error() == PassError::WrongIp);
  CHECK(r.close("alice@x/cli", close_q("192.0.2.10", 1)).error() == PassError::NotFound);
  CHECK(r.close("alice@x/cli", close_q("192.0.2.10", std::nullopt)).error() == PassError::NotFound);
  CHECK(r.close("mallory@x/m", close_q("192.0.2.10", l.port)).error() == PassError::NotYours);
  // Another resource of the same account may close it (bare JIDs compare).
  auto c = r.close("alice@x/laptop", close_q("192.0.2.10", l.port));
  REQUIRE(c);
  CHECK(c->listener.port == l.port);
  REQUIRE(c->dropped.size() == 1);
  CHECK(c->dropped[0].id == p.id);
  CHECK(r.close("alice@x/cli", close_q("192.0.2.10", l.port)).error() == PassError::NotFound);
  CHECK(pool.in_use() == 0);
}

TEST_CASE("registry: IPv6 public address compares normalised", "[pass]") {
  PortPool pool(40000, 40009, 5);
  Registry r(pool, Limits{}, "2001:db8::1");
  auto l = *r.register_listener("alice@x/cli", reg(), t0, kAny);
  CHECK(r.close("alice@x/cli", close_q("2001:0db8:0::1", l.port)));
}

TEST_CASE("registry: the owner's session ending closes its listeners", "[pass]") {
  PortPool pool(40000, 40009, 5);
  Limits lim;
  lim.grace = 0ms;
  Registry r(pool, lim, "192.0.2.10");
  auto a = *r.register_listener("alice@x/cli", reg(), t0, kAny);
  auto b = *r.register_listener("alice@x/other", reg(), t0, kAny);
  r.incoming(a.port, {"1.1.1.1", 1}, t0, kAny, "n1", "t");
  auto g = r.session_ended("alice@x/cli");
  REQUIRE(g.listeners.size() == 1);
  CHECK(g.listeners[0].port == a.port);
  CHECK(g.pending.size() == 1);
  CHECK(r.listener(b.port));
  CHECK(pool.in_use() == 1);
  CHECK(bare_jid("a@b/c/d") == "a@b");
}

TEST_CASE("registry: a gone owner's port is held for the grace period and reclaimed", "[pass]") {
  PortPool pool(40000, 40009, 5);
  Limits lim;
  lim.grace = 60s;
  Registry r(pool, lim, "192.0.2.10");
  auto a = *r.register_listener("alice@x/cli", reg(), t0, kAny);
  r.incoming(a.port, {"1.1.1.1", 1}, t0, kAny, "n1", "t");
  auto g = r.session_ended("alice@x/cli", t0);
  CHECK(g.listeners.empty());
  REQUIRE(g.held.size() == 1);
  CHECK(g.pending.size() == 1);  // pending connections go at once
  CHECK(r.pending_count() == 0);
  // Meanwhile clients are refused at once, not held.
  auto in = r.incoming(a.port, {"1.1.1.1", 2}, t0 + 1s, kAny, "n2", "t");
  REQUIRE_FALSE(in);
  CHECK(in.error() == Refusal::OwnerAway);
  CHECK(r.owners().empty());
  // Another account cannot take it; the owner's new session can.
  CHECK_FALSE(r.reclaim("mallory@x/m", a.port, true));
  auto back = r.reclaim("alice@x/new", a.port, true);
  REQUIRE(back);
  CHECK(back->listener.port == a.port);
  CHECK(r.listener(a.port)->owner == "alice@x/new");
  CHECK(r.incoming(a.port, {"1.1.1.1", 3}, t0 + 2s, kAny, "n3", "t"));
  CHECK(r.owners() == std::vector<std::string>{"alice@x/new"});
  // Not reclaimed in time: released when the grace period ends.
  auto b = *r.register_listener("bob@x/cli", reg(), t0, kAny);
  r.session_ended("bob@x/cli", t0);
  CHECK(r.next_deadline());
  auto due = r.advance(t0 + 61s);
  REQUIRE(due.released.size() == 1);
  CHECK(due.released[0].port == b.port);
  CHECK_FALSE(r.listener(b.port));
  CHECK(pool.held_by("bob@x") == 0);
}

TEST_CASE("registry: reclaim takes a port over from a stale session of the account", "[pass]") {
  PortPool pool(40000, 40009, 5);
  Registry r(pool, Limits{}, "192.0.2.10");
  auto a = *r.register_listener("alice@x/old", reg(), t0, kAny);
  auto p = *r.incoming(a.port, {"1.1.1.1", 1}, t0, kAny, "n1", "t");
  auto back = r.reclaim("alice@x/new", a.port, false);
  REQUIRE(back);
  REQUIRE(back->dropped.size() == 1);
  CHECK(back->dropped[0].id == p.id);
  CHECK(pool.held_by("alice@x") == 1);  // still one port, not two
  CHECK_FALSE(r.reclaim("alice@x/new", 1, false));
}

TEST_CASE("registry: per-source limits keep one address from using up the account", "[pass]") {
  PortPool pool(40000, 40099, 5);
  Limits lim;
  lim.relays_per_account = 16;
  lim.pending_per_source = 2;
  lim.relays_per_source = 3;
  Registry r(pool, lim, "192.0.2.10");
  auto l = *r.register_listener("alice@x/cli", reg(), t0, kAny);
  auto p1 = *r.incoming(l.port, {"6.6.6.6", 1}, t0, kAny, "a1", "t");
  REQUIRE(r.incoming(l.port, {"6.6.6.6", 2}, t0, kAny, "a2", "t"));
  auto third = r.incoming(l.port, {"6.6.6.6", 3}, t0, kAny, "a3", "t");
  REQUIRE_FALSE(third);
  CHECK(third.error() == Refusal::SourceLimit);
  // Another address is not affected.
  CHECK(r.incoming(l.port, {"7.7.7.7", 1}, t0, kAny, "b1", "t"));
  // Active relays count too: 2 active + 1 pending = 3 from 6.6.6.6.
  REQUIRE(r.accept("alice@x/cli", "a1", false));
  REQUIRE(r.collected(p1.id));
  REQUIRE(r.incoming(l.port, {"6.6.6.6", 4}, t0, kAny, "a4", "t"));
  CHECK(r.from_source("6.6.6.6") == 3);
  CHECK(r.incoming(l.port, {"6.6.6.6", 5}, t0, kAny, "a5", "t").error() == Refusal::SourceLimit);
  r.relay_ended("alice@x", "6.6.6.6");
  CHECK(r.from_source("6.6.6.6") == 2);
  CHECK(std::string(refusal_name(Refusal::SourceLimit)) == "source_limit");
}

TEST_CASE("registry: token mode is announced at registration", "[pass]") {
  PortPool pool(40000, 40009, 5);
  Registry r(pool, Limits{}, "192.0.2.10");
  auto q = reg();
  q.token = "";
  auto l = *r.register_listener("alice@x/cli", q, t0, kAny);
  CHECK(l.token_mode);
  auto p = *r.incoming(l.port, {"1.1.1.1", 1}, t0, kAny, "n1", "t");
  CHECK(p.token_required);  // before the owner answered
}
