// SPDX-License-Identifier: MIT
// The PASS service with real loopback sockets and a scripted owner in place of the XMPP server
// (the end-to-end tests with `xnet serve` live in tests/integration/test_pass.cpp).
#include <catch2/catch.hpp>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <condition_variable>
#include <deque>
#include <future>
#include <mutex>
#include <random>
#include <thread>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include "pass/service.hpp"
#include "support/sockets.hpp"
#include "xep/xep0003.hpp"

using namespace xnet;
using namespace xnet::pass;
using namespace xnet::test;
using namespace std::chrono_literals;

namespace {

std::uint64_t fnv1a(const std::string& s) {
  std::uint64_t h = 1469598103934665603ull;
  for (unsigned char c : s) h = (h ^ c) * 1099511628211ull;
  return h;
}

class FakeHost final : public server::ServiceHost {
 public:
  explicit FakeHost(asio::io_context& io) : io_(io) {}
  asio::io_context& io() override { return io_; }
  void send(xml::Element st) override {
    std::lock_guard lock(mu_);
    sent_.push_back(std::move(st));
    cv_.notify_all();
  }
  const std::string& domain() const override { return domain_; }
  const std::string& service_jid() const override { return jid_; }
  bool online(const std::string&) const override { return true; }
  Trace& trace() override { return null_trace(); }

  /// Wait for (and remove) the first sent stanza matching pred.
  std::optional<xml::Element> take(const std::function<bool(const xml::Element&)>& pred,
                                   std::chrono::milliseconds budget = 5s) {
    std::unique_lock lock(mu_);
    std::optional<xml::Element> out;
    cv_.wait_for(lock, budget, [&] {
      for (auto it = sent_.begin(); it != sent_.end(); ++it) {
        if (pred(*it)) {
          out = std::move(*it);
          sent_.erase(it);
          return true;
        }
      }
      return false;
    });
    return out;
  }

 private:
  asio::io_context& io_;
  std::string domain_ = "localhost", jid_ = "pass.localhost";
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<xml::Element> sent_;
};

const server::Origin kAlice{"alice@localhost/cli", server::Endpoint{"127.0.0.1", 5000}, true};
const server::Origin kMallory{"mallory@localhost/m", server::Endpoint{"127.0.0.1", 5001}, true};

struct Harness {
  explicit Harness(ServiceConfig cfg = {}) : base(free_port_base()) {
    cfg.first_port = base;
    cfg.last_port = static_cast<std::uint16_t>(base + 63);
    svc = std::make_unique<PassService>(cfg);
    on_io([&] { svc->attach(host); });
  }
  ~Harness() {
    on_io([&] { svc->detach(); });
    guard.reset();
    io.stop();
    thread.join();
  }

  void on_io(std::function<void()> fn) {
    std::promise<void> done;
    asio::post(io, [&] {
      fn();
      done.set_value();
    });
    done.get_future().wait();
  }

  void deliver(const xml::Element& st, const server::Origin& o) {
    on_io([&] { svc->on_stanza(st, o); });
  }

  /// Send an IQ set from origin and wait for the service's reply.
  xml::Element request(const xep0003::Query& q, const server::Origin& o) {
    auto id = "r" + std::to_string(++seq);
    auto iq = xep0003::make_iq("set", id, o.full_jid, "pass.localhost", q);
    deliver(iq, o);
    auto r = host.take([&](const xml::Element& e) { return e.attr_or("id") == id; });
    REQUIRE(r);
    return *r;
  }

  std::uint16_t register_port(const xep0003::Query& q = {}, const server::Origin& o = kAlice) {
    auto r = request(q, o);
    REQUIRE(r.attr_or("type") == "result");
    auto parsed = xep0003::parse_query(*xep0003::find_query(r));
    REQUIRE(parsed);
    REQUIRE(parsed->server);
    CHECK(parsed->server->ip == "127.0.0.1");
    return *parsed->server->port;
  }

  std::optional<xml::Element> notice(std::chrono::milliseconds budget = 5s) {
    return host.take([](const xml::Element& e) { return e.attr_or("type") == "set"; }, budget);
  }

  /// Answer an incoming notice as the owner: result (echoing the token when with_token).
  void accept(const xml::Element& n, bool with_token = true,
              const server::Origin& o = kAlice) {
    xep0003::Query q;
    if (with_token) q.token = "";
    deliver(xep0003::make_iq("result", n.attr_or("id"), o.full_jid, "pass.localhost", q), o);
  }

  /// Collect: connect to the notice's proxy port, send the token, and echo everything.
  std::thread collect_and_echo(const xml::Element& n, bool send_token = true) {
    auto q = *xep0003::parse_query(*xep0003::find_query(n));
    int fd = tcp_connect(*q.proxy->port);
    REQUIRE(fd >= 0);
    if (send_token) REQUIRE(write_all(fd, q.token->data(), q.token->size()));
    return std::thread([fd] {
      std::vector<char> buf(1 << 16);
      for (;;) {
        ssize_t r = ::read(fd, buf.data(), buf.size());
        if (r <= 0) break;
        if (!write_all(fd, buf.data(), static_cast<std::size_t>(r))) break;
      }
      ::shutdown(fd, SHUT_WR);
      ::close(fd);
    });
  }

  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
  std::thread thread{[this] { io.run(); }};
  FakeHost host{io};
  std::uint16_t base;
  std::unique_ptr<PassService> svc;
  int seq = 0;
};

/// Send data, half-close, and read everything back (the far end echoes).
std::string round_trip_echo(int fd, const std::string& data) {
  write_all(fd, data.data(), data.size());
  ::shutdown(fd, SHUT_WR);
  return read_until_eof(fd, data.size() + 1, 5s);
}

xep0003::Query close_query(std::string ip, std::uint16_t port) {
  xep0003::Query q;
  q.close = true;
  q.proxy = xep0003::Endpoint{std::move(ip), port};
  return q;
}

}  // namespace

TEST_CASE("service: 8 MiB round trip through the relay with equal checksums", "[pass][service]") {
  Harness h;
  auto port = h.register_port();
  CHECK(port >= h.base);
  int client = tcp_connect(port);
  REQUIRE(client >= 0);
  auto n = h.notice();
  REQUIRE(n);
  CHECK(n->attr_or("to") == "alice@localhost/cli");
  auto q = *xep0003::parse_query(*xep0003::find_query(*n));
  CHECK(xep0003::classify("set", q, true) == xep0003::Kind::Incoming);
  CHECK(q.client->ip == "127.0.0.1");
  REQUIRE(q.token);
  CHECK(q.token->size() == 32);
  h.accept(*n);
  auto echo = h.collect_and_echo(*n);
  const auto data = random_bytes(8 * 1024 * 1024, 7);
  std::thread writer([&] {
    write_all(client, data.data(), data.size());
    ::shutdown(client, SHUT_WR);
  });
  auto back = read_until_eof(client, data.size() + 1);
  writer.join();
  echo.join();
  ::close(client);
  CHECK(back.size() == data.size());
  CHECK(fnv1a(back) == fnv1a(data));
  // Counters: 8 MiB each way.
  Stats s;
  for (int i = 0; i < 50; ++i) {
    h.on_io([&] { s = h.svc->stats(); });
    if (s.relays == 0) break;
    std::this_thread::sleep_for(20ms);
  }
  CHECK(s.bytes == 2 * data.size());
  CHECK(s.relays_total == 1);
  CHECK(s.relays == 0);
  CHECK(s.listeners == 1);
}

TEST_CASE("service: several concurrent connections", "[pass][service]") {
  Harness h;
  auto port = h.register_port();
  constexpr int kN = 4;
  int clients[kN];
  std::vector<std::thread> echoes;
  for (int i = 0; i < kN; ++i) {
    clients[i] = tcp_connect(port);
    REQUIRE(clients[i] >= 0);
    auto n = h.notice();
    REQUIRE(n);
    h.accept(*n);
    echoes.push_back(h.collect_and_echo(*n));
  }
  std::vector<std::future<bool>> results;
  for (int i = 0; i < kN; ++i) {
    results.push_back(std::async(std::launch::async, [fd = clients[i], i] {
      auto data = random_bytes(1024 * 1024, 100 + i);
      std::thread w([&] {
        write_all(fd, data.data(), data.size());
        ::shutdown(fd, SHUT_WR);
      });
      auto back = read_until_eof(fd, data.size() + 1);
      w.join();
      ::close(fd);
      return back == data;
    }));
  }
  for (auto& r : results) CHECK(r.get());
  for (auto& t : echoes) t.join();
}

TEST_CASE("service: a denied client is dropped and the port listens again", "[pass][service]") {
  Harness h;
  xep0003::Query reg;
  reg.oneshot = true;  // a deny must not use up the oneshot
  auto port = h.register_port(reg);
  int client = tcp_connect(port);
  REQUIRE(client >= 0);
  auto n = h.notice();
  REQUIRE(n);
  auto deny = xep0003::make_error_reply(*n, xep0003::PassError::Denied);
  deny.set("from", "alice@localhost/cli");
  h.deliver(deny, kAlice);
  CHECK(sees_eof(client, 3s));
  ::close(client);
  int again = tcp_connect(port);
  REQUIRE(again >= 0);
  auto n2 = h.notice();
  REQUIRE(n2);
  h.accept(*n2);
  auto echo = h.collect_and_echo(*n2);
  write_all(again, "ping", 4);
  ::shutdown(again, SHUT_WR);
  CHECK(read_until_eof(again, 100) == "ping");
  echo.join();
  ::close(again);
  // The oneshot fired on the accepted connection.
  auto closed = h.notice();
  REQUIRE(closed);
  auto q = *xep0003::parse_query(*xep0003::find_query(*closed));
  CHECK(xep0003::classify("set", q, true) == xep0003::Kind::OneshotNotice);
  CHECK(q.proxy->port == port);
  CHECK(tcp_connect(port) == -1);
  Stats s;
  h.on_io([&] { s = h.svc->stats(); });
  CHECK(s.denied == 1);
}

TEST_CASE("service: accept window drops an uncollected connection", "[pass][service]") {
  ServiceConfig cfg;
  cfg.limits.accept_window = 400ms;
  Harness h(cfg);
  auto port = h.register_port();
  int client = tcp_connect(port);
  REQUIRE(client >= 0);
  auto n = h.notice();
  REQUIRE(n);
  h.accept(*n);  // accepted, never collected
  auto t0 = std::chrono::steady_clock::now();
  CHECK(sees_eof(client, 3s));
  CHECK(std::chrono::steady_clock::now() - t0 < 2s);
  ::close(client);
  auto q = *xep0003::parse_query(*xep0003::find_query(*n));
  // The rendezvous port is gone (its acceptor closes on the service's thread right after the
  // drop: allow it a bounded moment).
  bool gone = false;
  for (auto until = std::chrono::steady_clock::now() + 2s; !gone && std::chrono::steady_clock::now() < until;) {
    int fd = tcp_connect(*q.proxy->port);
    gone = fd == -1;
    if (!gone) {
      ::close(fd);
      std::this_thread::sleep_for(10ms);
    }
  }
  CHECK(gone);
  int next = tcp_connect(port);  // the listener is not
  CHECK(next >= 0);
  ::close(next);
}

TEST_CASE("service: expire notice and the port stops accepting", "[pass][service]") {
  Harness h;
  xep0003::Query reg;
  reg.expire = true;
  reg.expire_seconds = 1;
  auto port = h.register_port(reg);
  CHECK(tcp_connect(port) >= 0);
  (void)h.notice();  // the incoming notice for that probe
  auto n = h.notice(4s);
  REQUIRE(n);
  auto q = *xep0003::parse_query(*xep0003::find_query(*n));
  CHECK(xep0003::classify("set", q, true) == xep0003::Kind::ExpireNotice);
  CHECK(q.proxy->port == port);
  CHECK(tcp_connect(port) == -1);
}

TEST_CASE("service: close and its error conditions", "[pass][service]") {
  Harness h;
  auto port = h.register_port();
  auto err = [](const xml::Element& r) {
    REQUIRE(r.attr_or("type") == "error");
    return xep0003::parse_error(r);
  };
  xep0003::Query no_proxy;
  no_proxy.close = true;
  auto e = err(h.request(no_proxy, kAlice));
  CHECK(e.condition == "bad-request");
  CHECK(h.request(no_proxy, kAlice).child("error")->attr_or("code") == "400");
  e = err(h.request(close_query("10.9.9.9", port), kAlice));
  CHECK(e.condition == "not-allowed");
  e = err(h.request(close_query("127.0.0.1", static_cast<std::uint16_t>(port + 1000)), kAlice));
  CHECK(e.condition == "item-not-found");
  e = err(h.request(close_query("127.0.0.1", port), kMallory));
  CHECK(e.condition == "not-authorized");
  CHECK(e.type == "auth");
  CHECK(tcp_connect(port) >= 0);  // still open after the refused closes
  (void)h.notice();
  auto ok = h.request(close_query("127.0.0.1", port), kAlice);
  CHECK(ok.attr_or("type") == "result");
  CHECK(tcp_connect(port) == -1);
  SECTION("bad registration input") {
    auto doc = xml::parse(
        "<iq type='set' id='b1' xmlns='jabber:client'><query xmlns='jabber:iq:pass'>"
        "<expire>soon</expire></query></iq>");
    h.deliver(*doc, kAlice);
    auto r = h.host.take([](const xml::Element& x) { return x.attr_or("id") == "b1"; });
    REQUIRE(r);
    CHECK(xep0003::parse_error(*r).condition == "bad-request");
  }
}

TEST_CASE("service: another account cannot collect or hijack", "[pass][service]") {
  Harness h;
  auto port = h.register_port();
  int client = tcp_connect(port);
  REQUIRE(client >= 0);
  auto n = h.notice();
  REQUIRE(n);
  auto q = *xep0003::parse_query(*xep0003::find_query(*n));
  // Mallory answers Alice's notice: ignored.
  h.accept(*n, true, kMallory);
  // A third party races to the rendezvous port before Alice, without the token.
  int thief = tcp_connect(*q.proxy->port);
  REQUIRE(thief >= 0);
  h.accept(*n);
  write_all(thief, "0123456789abcdef0123456789abcdef", 32);  // wrong token
  CHECK(sees_eof(thief, 3s));
  ::close(thief);
  auto echo = h.collect_and_echo(*n);
  write_all(client, "secret", 6);
  ::shutdown(client, SHUT_WR);
  CHECK(read_until_eof(client, 100) == "secret");
  echo.join();
  ::close(client);
}

TEST_CASE("service: early squatters on the rendezvous port cannot lock the owner out",
          "[pass][service]") {
  Harness h;
  auto port = h.register_port();
  int client = tcp_connect(port);
  REQUIRE(client >= 0);
  auto n = h.notice();
  REQUIRE(n);
  auto q = *xep0003::parse_query(*xep0003::find_query(*n));
  // Squatters connect (and send junk) before the owner, who connects before its result lands.
  std::vector<int> thieves;
  for (int i = 0; i < 3; ++i) {
    int t = tcp_connect(*q.proxy->port);
    REQUIRE(t >= 0);
    write_all(t, "ffffffffffffffffffffffffffffffff", 32);
    thieves.push_back(t);
  }
  auto echo = h.collect_and_echo(*n);
  h.accept(*n);
  write_all(client, "owner", 5);
  ::shutdown(client, SHUT_WR);
  CHECK(read_until_eof(client, 100) == "owner");
  for (int t : thieves) {
    CHECK(sees_eof(t, 3s));
    ::close(t);
  }
  echo.join();
  ::close(client);
}

TEST_CASE("service: the owner's address binds the rendezvous port", "[pass][service]") {
  Harness h;
  // Alice registered from 127.0.0.2; a collector from 127.0.0.1 is refused.
  server::Origin far{"alice@localhost/cli", server::Endpoint{"127.0.0.2", 5000}, true};
  auto port = h.register_port({}, far);
  int client = tcp_connect(port);
  REQUIRE(client >= 0);
  auto n = h.notice();
  REQUIRE(n);
  h.accept(*n, false, far);
  auto q = *xep0003::parse_query(*xep0003::find_query(*n));
  int wrong = tcp_connect(*q.proxy->port);
  REQUIRE(wrong >= 0);
  CHECK(sees_eof(wrong, 3s));
  ::close(wrong);
  ::close(client);
}

TEST_CASE("service: legacy owner without token collects by address", "[pass][service]") {
  Harness h;
  auto port = h.register_port();
  int client = tcp_connect(port);
  REQUIRE(client >= 0);
  auto n = h.notice();
  REQUIRE(n);
  h.accept(*n, false);
  auto echo = h.collect_and_echo(*n, false);
  write_all(client, "legacy", 6);
  ::shutdown(client, SHUT_WR);
  CHECK(read_until_eof(client, 100) == "legacy");
  echo.join();
  ::close(client);
}

TEST_CASE("service: quotas hold", "[pass][service]") {
  ServiceConfig cfg;
  cfg.ports_per_account = 2;
  cfg.limits.relays_per_account = 1;
  Harness h(cfg);
  auto p1 = h.register_port();
  h.register_port();
  auto r = h.request({}, kAlice);
  REQUIRE(r.attr_or("type") == "error");
  auto e = xep0003::parse_error(r);
  CHECK(e.condition == "service-unavailable");
  CHECK(e.type == "wait");
  CHECK(r.child("error")->attr_or("code") == "502");
  // Another account still gets ports.
  h.register_port({}, kMallory);
  // One relay per account: a second client while the first is pending is dropped.
  int c1 = tcp_connect(p1);
  REQUIRE(c1 >= 0);
  REQUIRE(h.notice());
  int c2 = tcp_connect(p1);
  REQUIRE(c2 >= 0);
  CHECK(sees_eof(c2, 3s));
  // The owner hears of the refusal (xnet extension), once.
  auto rn = h.notice(2s);
  REQUIRE(rn);
  auto rq = *xep0003::parse_query(*xep0003::find_query(*rn));
  CHECK(xep0003::classify("set", rq, true) == xep0003::Kind::Refused);
  CHECK(rq.refused == "relay_quota");
  CHECK(rq.refused_count == 1);
  CHECK_FALSE(h.notice(300ms));
  ::close(c1);
  ::close(c2);
}

TEST_CASE("service: the owner's session ending closes its ports", "[pass][service]") {
  ServiceConfig cfg;
  cfg.limits.grace = 0ms;
  Harness h(cfg);
  auto port = h.register_port();
  h.on_io([&] { h.svc->on_session_end("alice@localhost/cli"); });
  CHECK(tcp_connect(port) == -1);
  Stats s;
  h.on_io([&] { s = h.svc->stats(); });
  CHECK(s.listeners == 0);
  CHECK(s.ports_in_use == 0);
}

TEST_CASE("service: identity and features", "[pass][service]") {
  PassService svc(ServiceConfig{});
  CHECK(svc.name() == "pass");
  CHECK(svc.identity().category == "proxy");
  CHECK(svc.features() == std::vector<std::string>{"jabber:iq:pass"});
}

namespace xnet::server {
// The error an owner's client (or its router) sends back for request.
xml::Element make_error_reply_for_test(const xml::Element& request, const std::string& condition) {
  xml::Element r("iq", "jabber:client");
  r.set("type", "error");
  r.set("id", request.attr_or("id"));
  r.set("from", request.attr_or("to"));
  r.set("to", request.attr_or("from"));
  auto& e = r.add("error");
  e.set("type", "cancel");
  e.add(condition, "urn:ietf:params:xml:ns:xmpp-stanzas");
  return r;
}
}  // namespace xnet::server

namespace {

bool is_refused_notice(const xml::Element& n, std::string_view reason) {
  auto q = xep0003::parse_query(*xep0003::find_query(n));
  return q && q->refused == reason;
}

}  // namespace

TEST_CASE("service: anonymous sessions rent ports only when the operator allows it", "[pass][service]") {
  server::Origin anon{"anon-x1@localhost/r", server::Endpoint{"127.0.0.1", 5002}, true, true};
  {
    Harness h;
    auto r = h.request({}, anon);
    REQUIRE(r.attr_or("type") == "error");
    CHECK(xep0003::parse_error(r).condition == "forbidden");
    CHECK(r.child("error")->attr_or("code") == "403");
    Stats s;
    h.on_io([&] { s = h.svc->stats(); });
    CHECK(s.listeners == 0);
  }
  {
    ServiceConfig cfg;
    cfg.allow_anonymous = true;
    Harness h(cfg);
    CHECK(h.register_port({}, anon) >= h.base);
  }
}

TEST_CASE("service: one client address cannot use up the account's relays", "[pass][service]") {
  ServiceConfig cfg;
  cfg.limits.pending_per_source = 2;
  cfg.limits.relays_per_source = 2;
  cfg.limits.relays_per_account = 16;
  Harness h(cfg);
  auto port = h.register_port();
  std::vector<int> fds;
  for (int i = 0; i < 2; ++i) {
    fds.push_back(tcp_connect_from("127.0.0.7", port));
    REQUIRE(fds.back() >= 0);
    REQUIRE(h.notice());
  }
  // The third from the same address is reset at once and the owner is told.
  int third = tcp_connect_from("127.0.0.7", port);
  REQUIRE(third >= 0);
  CHECK(sees_eof(third, 3s));
  auto rn = h.notice(2s);
  REQUIRE(rn);
  CHECK(is_refused_notice(*rn, "source_limit"));
  // The owner's own client from another address still gets through, end to end.
  int mine = tcp_connect_from("127.0.0.8", port);
  REQUIRE(mine >= 0);
  auto n = h.notice();
  REQUIRE(n);
  CHECK(xep0003::parse_query(*xep0003::find_query(*n))->client->ip == "127.0.0.8");
  h.accept(*n);
  auto echo = h.collect_and_echo(*n);
  CHECK(round_trip_echo(mine, "mine") == "mine");
  echo.join();
  for (int fd : fds) ::close(fd);
  ::close(third);
  ::close(mine);
}

TEST_CASE("service: strangers at the owner's address cannot displace its rendezvous", "[pass][service]") {
  Harness h;
  xep0003::Query reg;
  reg.token = "";  // token mode, as xnet's client registers
  auto port = h.register_port(reg);
  int client = tcp_connect(port);
  REQUIRE(client >= 0);
  auto n = h.notice();
  REQUIRE(n);
  auto q = *xep0003::parse_query(*xep0003::find_query(*n));
  // A neighbour behind the same address fills the rendezvous port before the owner answers:
  // idle connections and wrong tokens.
  std::vector<int> strangers;
  for (int i = 0; i < 12; ++i) {
    int fd = tcp_connect(*q.proxy->port);
    REQUIRE(fd >= 0);
    if (i % 3 == 0) write_all(fd, "0123456789abcdef0123456789abcdef", 32);
    strangers.push_back(fd);
  }
  // The owner's collector arrives before its result (the race the early slots exist for).
  auto echo = h.collect_and_echo(*n);
  std::this_thread::sleep_for(100ms);
  h.accept(*n);
  CHECK(round_trip_echo(client, "owner data") == "owner data");
  echo.join();
  // Wrong tokens were closed; the relay went to the owner only.
  CHECK(sees_eof(strangers[0], 2s));
  for (int fd : strangers) ::close(fd);
  ::close(client);
}

TEST_CASE("service: a gone owner's port is held, refuses at once, and comes back", "[pass][service]") {
  ServiceConfig cfg;
  cfg.limits.grace = 2s;
  Harness h(cfg);
  auto port = h.register_port();
  int pending = tcp_connect(port);
  REQUIRE(pending >= 0);
  REQUIRE(h.notice());
  h.on_io([&] { h.svc->on_session_end("alice@localhost/cli"); });
  CHECK(sees_eof(pending, 1s));  // released at once, not after the accept window
  ::close(pending);
  int during = tcp_connect(port);
  REQUIRE(during >= 0);
  auto t0 = std::chrono::steady_clock::now();
  CHECK(sees_eof(during, 2s));
  CHECK(std::chrono::steady_clock::now() - t0 < 1s);
  ::close(during);
  // The owner's new session asks for the port back.
  server::Origin again{"alice@localhost/new", server::Endpoint{"127.0.0.1", 5003}, true};
  xep0003::Query reclaim;
  reclaim.reclaim = port;
  CHECK(h.register_port(reclaim, again) == port);
  int c = tcp_connect(port);
  REQUIRE(c >= 0);
  auto n = h.notice();
  REQUIRE(n);
  CHECK(n->attr_or("to") == "alice@localhost/new");
  ::close(c);
  // Not reclaimed: released after the grace period.
  server::Origin bob{"bob@localhost/b", server::Endpoint{"127.0.0.1", 5004}, true};
  auto bport = h.register_port({}, bob);
  h.on_io([&] { h.svc->on_session_end("bob@localhost/b"); });
  bool released = false;
  for (int i = 0; i < 100 && !released; ++i) {
    std::this_thread::sleep_for(50ms);
    int fd = tcp_connect(bport);
    released = fd < 0;
    if (fd >= 0) ::close(fd);
  }
  CHECK(released);
}

TEST_CASE("service: component mode pings owners and frees the ports of silent ones", "[pass][service]") {
  ServiceConfig cfg;
  cfg.owner_ping_interval = 200ms;
  cfg.limits.grace = 0ms;
  Harness h(cfg);
  server::Origin remote{"carol@example.net/c", std::nullopt, false};
  server::Origin quiet{"dave@example.net/d", std::nullopt, false};
  auto port = h.register_port({}, remote);
  auto qport = h.register_port({}, quiet);
  // carol answers every ping; dave does not.
  for (int round = 0; round < 3; ++round) {
    auto ping = h.host.take([](const xml::Element& e) {
      return e.attr_or("type") == "get" && e.attr_or("to") == "carol@example.net/c" && e.child("ping", "urn:xmpp:ping");
    });
    REQUIRE(ping);
    xml::Element res("iq", "jabber:client");
    res.set("type", "result");
    res.set("id", ping->attr_or("id"));
    res.set("from", "carol@example.net/c");
    h.deliver(res, remote);
  }
  int c = tcp_connect(port);
  CHECK(c >= 0);
  if (c >= 0) ::close(c);
  CHECK(tcp_connect(qport) == -1);
  // An error from an owner that answered pings before means the router bounced it: gone.
  auto ping = h.host.take([](const xml::Element& e) {
    return e.attr_or("type") == "get" && e.attr_or("to") == "carol@example.net/c";
  });
  REQUIRE(ping);
  h.deliver(server::make_error_reply_for_test(*ping, "service-unavailable"), remote);
  bool closed = false;
  for (int i = 0; i < 40 && !closed; ++i) {
    int fd = tcp_connect(port);
    closed = fd < 0;
    if (fd >= 0) ::close(fd);
    if (!closed) std::this_thread::sleep_for(25ms);
  }
  CHECK(closed);
}

TEST_CASE("service: an owner without XEP-0199 that answers errors keeps its ports", "[pass][service]") {
  ServiceConfig cfg;
  cfg.owner_ping_interval = 150ms;
  cfg.limits.grace = 0ms;
  Harness h(cfg);
  server::Origin legacy{"erin@example.net/e", std::nullopt, false};
  auto port = h.register_port({}, legacy);
  for (int round = 0; round < 3; ++round) {
    auto ping = h.host.take([](const xml::Element& e) {
      return e.attr_or("type") == "get" && e.attr_or("to") == "erin@example.net/e";
    });
    REQUIRE(ping);
    h.deliver(server::make_error_reply_for_test(*ping, "service-unavailable"), legacy);
  }
  int c = tcp_connect(port);
  CHECK(c >= 0);
  if (c >= 0) ::close(c);
}
