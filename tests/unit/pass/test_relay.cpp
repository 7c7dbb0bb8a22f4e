// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <random>
#include <thread>

#include <asio/executor_work_guard.hpp>
#include <asio/io_context.hpp>
#include <asio/post.hpp>

#include "pass/relay.hpp"

using namespace xnet::pass;
using namespace std::chrono_literals;

namespace {

struct Pair {
  int relay_end, test_end;
};

Pair make_pair_sock() {
  int sv[2];
  REQUIRE(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
  return {sv[0], sv[1]};
}

bool write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::write(fd, p, n);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

// Read until EOF or max bytes, with a bounded wait per read.
std::string read_until_eof(int fd, std::size_t max, std::chrono::milliseconds budget = 10s) {
  std::string out;
  auto end = std::chrono::steady_clock::now() + budget;
  char buf[65536];
  while (out.size() < max && std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  return out;
}

// True when fd reaches EOF (or an error) within budget.
bool sees_eof(int fd, std::chrono::milliseconds budget) {
  auto end = std::chrono::steady_clock::now() + budget;
  char buf[4096];
  while (std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) return true;
  }
  return false;
}

struct Loop {
  asio::io_context io;
  asio::executor_work_guard<asio::io_context::executor_type> guard{io.get_executor()};
  std::thread t{[this] { io.run(); }};
  ~Loop() {
    guard.reset();
    io.stop();
    t.join();
  }
};

}  // namespace

TEST_CASE("relay copies both ways and propagates half-close", "[pass][relay]") {
  Loop loop;
  auto a = make_pair_sock(), b = make_pair_sock();
  Counters counters;
  std::promise<RelayResult> done;
  auto fut = done.get_future();
  RelayOptions o;
  o.counters = &counters;
  asio::post(loop.io, [&] {
    start_relay(loop.io, {a.relay_end, a.relay_end}, {b.relay_end, b.relay_end}, o,
                [&](const RelayResult& r) { done.set_value(r); });
  });

  std::string big(3 * 1024 * 1024 + 17, '\0');
  std::mt19937 rng(42);
  for (auto& c : big) c = static_cast<char>(rng());
  std::thread writer([&] {
    write_all(a.test_end, big.data(), big.size());
    ::shutdown(a.test_end, SHUT_WR);  // half-close: b must see EOF, b→a must keep working
  });
  auto got = read_until_eof(b.test_end, big.size() + 1);
  writer.join();
  CHECK(got.size() == big.size());
  CHECK(got == big);
  REQUIRE(write_all(b.test_end, "reply", 5));
  ::shutdown(b.test_end, SHUT_WR);
  CHECK(read_until_eof(a.test_end, 100) == "reply");
  REQUIRE(fut.wait_for(5s) == std::future_status::ready);
  auto r = fut.get();
  CHECK(r.a_to_b == big.size());
  CHECK(r.b_to_a == 5);
  CHECK(counters.bytes == big.size() + 5);
  CHECK(counters.relays == 0);
  CHECK(counters.relays_total == 1);
  ::close(a.test_end);
  ::close(b.test_end);
}

TEST_CASE("relay: one side closing closes the other", "[pass][relay]") {
  Loop loop;
  auto a = make_pair_sock(), b = make_pair_sock();
  std::promise<RelayResult> done;
  auto fut = done.get_future();
  RelayOptions o;
  o.half_close_timeout = 300ms;
  asio::post(loop.io, [&] {
    start_relay(loop.io, {a.relay_end, a.relay_end}, {b.relay_end, b.relay_end}, o,
                [&](const RelayResult& r) { done.set_value(r); });
  });
  ::close(a.test_end);
  // b sees the FIN at once, and the relay closes b fully after the half-close timeout even
  // though b never closes.
  CHECK(sees_eof(b.test_end, 2s));
  REQUIRE(fut.wait_for(3s) == std::future_status::ready);
  char c;
  CHECK(::write(b.test_end, "x", 1) <= 1);
  CHECK(::read(b.test_end, &c, 1) <= 0);
  ::close(b.test_end);
}

TEST_CASE("relay: a write to a closed peer ends the relay with an error", "[pass][relay]") {
  Loop loop;
  auto a = make_pair_sock(), b = make_pair_sock();
  std::promise<RelayResult> done;
  auto fut = done.get_future();
  asio::post(loop.io, [&] {
    start_relay(loop.io, {a.relay_end, a.relay_end}, {b.relay_end, b.relay_end}, RelayOptions{},
                [&](const RelayResult& r) { done.set_value(r); });
  });
  ::close(a.test_end);
  REQUIRE(sees_eof(b.test_end, 2s));
  std::string junk(256 * 1024, 'j');
  write_all(b.test_end, junk.data(), junk.size());
  REQUIRE(fut.wait_for(3s) == std::future_status::ready);
  CHECK(fut.get().error);
  ::close(b.test_end);
}

TEST_CASE("relay: bandwidth cap holds", "[pass][relay]") {
  Loop loop;
  auto a = make_pair_sock(), b = make_pair_sock();
  std::promise<RelayResult> done;
  auto fut = done.get_future();
  RelayOptions o;
  o.limiter = std::make_shared<RateLimiter>(1024 * 1024);  // 1 MiB/s, 1 MiB burst
  asio::post(loop.io, [&] {
    start_relay(loop.io, {a.relay_end, a.relay_end}, {b.relay_end, b.relay_end}, o,
                [&](const RelayResult& r) { done.set_value(r); });
  });
  std::string data(3 * 1024 * 1024, 'z');
  auto start = std::chrono::steady_clock::now();
  std::thread writer([&] {
    write_all(a.test_end, data.data(), data.size());
    ::shutdown(a.test_end, SHUT_WR);
  });
  auto got = read_until_eof(b.test_end, data.size() + 1, 15s);
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  writer.join();
  CHECK(got.size() == data.size());
  // 3 MiB at 1 MiB/s with a 1 MiB burst: about 2 s; well under the 3 s an unlimited run would not
  // reach anyway, and well over the milliseconds it takes unlimited.
  CHECK(secs > 1.6);
  CHECK(secs < 4.0);
  ::close(a.test_end);
  ::close(b.test_end);
  (void)fut.wait_for(3s);
}

TEST_CASE("rate limiter arithmetic", "[pass][relay]") {
  RateLimiter lim(1000);
  CHECK(lim.take(600) == 600);
  CHECK(lim.take(600) == 400);
  CHECK(lim.take(1) == 0);
  CHECK(lim.wait() >= 1ms);
  lim.refund(100);
  CHECK(lim.take(1000) == 100);
}
