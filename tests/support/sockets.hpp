// SPDX-License-Identifier: MIT
// Plain blocking-socket helpers on 127.0.0.1 shared by the PASS unit and integration tests.
// Header-only so unit tests can use them without linking the integration support library.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <catch2/catch.hpp>

namespace xnet::test {

/// The first of a run of 64 ports starting at an ephemeral port the kernel just handed out on
/// 127.0.0.1; a caller that cannot bind one of them should skip it, so a collision costs a port.
inline std::uint16_t free_port_base() {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  auto p = ntohs(a.sin_port);
  return static_cast<std::uint16_t>(std::min<int>(p, 65535 - 64));
}

/// Connect fd to ip:port (IPv4 literal); fd, or -1 (fd closed) on failure.
inline int connect_fd(int fd, std::uint16_t port, const char* ip = "127.0.0.1") {
  if (fd < 0) return -1;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  ::inet_pton(AF_INET, ip, &a.sin_addr);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    return -1;
  }
  return fd;
}

/// A connected TCP socket to ip:port (IPv4 literal), or -1.
inline int tcp_connect(std::uint16_t port, const char* ip = "127.0.0.1") {
  return connect_fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0), port, ip);
}

/// A TCP socket bound to the local address src (IPv4 literal, e.g. 127.0.0.2, to act as another
/// client address) and connected to 127.0.0.1:port, or -1.
inline int tcp_connect_from(const char* src, std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_in s{};
  s.sin_family = AF_INET;
  ::inet_pton(AF_INET, src, &s.sin_addr);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&s), sizeof s) != 0) {
    ::close(fd);
    return -1;
  }
  return connect_fd(fd, port);
}

/// Write all n bytes at p to fd (no SIGPIPE); false on error.
inline bool write_all(int fd, const char* p, std::size_t n) {
  while (n > 0) {
    ssize_t w = ::send(fd, p, n, MSG_NOSIGNAL);
    if (w <= 0) return false;
    p += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

/// Read from fd until EOF, max bytes or the end of budget, whichever comes first.
inline std::string read_until_eof(int fd, std::size_t max,
                                  std::chrono::milliseconds budget = std::chrono::seconds(30)) {
  std::string out;
  auto end = std::chrono::steady_clock::now() + budget;
  std::vector<char> buf(1 << 16);
  while (out.size() < max && std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 100) <= 0) continue;
    ssize_t n = ::read(fd, buf.data(), buf.size());
    if (n <= 0) break;
    out.append(buf.data(), static_cast<std::size_t>(n));
  }
  return out;
}

/// True when fd reaches EOF (or an error) within budget; data read meanwhile is dropped.
inline bool sees_eof(int fd, std::chrono::milliseconds budget) {
  auto end = std::chrono::steady_clock::now() + budget;
  char buf[4096];
  while (std::chrono::steady_clock::now() < end) {
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, 50) <= 0) continue;
    if (::read(fd, buf, sizeof buf) <= 0) return true;
  }
  return false;
}

/// n pseudo-random bytes, the same for the same seed.
inline std::string random_bytes(std::size_t n, unsigned seed) {
  std::string s(n, '\0');
  std::mt19937_64 rng(seed);
  for (std::size_t i = 0; i < n; i += 8) {
    auto v = rng();
    for (std::size_t k = 0; k < 8 && i + k < n; ++k) s[i + k] = static_cast<char>(v >> (8 * k));
  }
  return s;
}

/// Send data on fd, half-close, and read everything back (the far end echoes).
inline std::string round_trip(int fd, const std::string& data) {
  std::thread w([&] {
    write_all(fd, data.data(), data.size());
    ::shutdown(fd, SHUT_WR);
  });
  auto back = read_until_eof(fd, data.size() + 1);
  w.join();
  return back;
}

/// A TCP echo server on 127.0.0.1 (a thread per connection), stopped on destruction.
class EchoServer {
 public:
  EchoServer() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 64) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~EchoServer() {
    stop_ = true;
    thread_.join();
    for (auto& t : workers_) t.join();
    ::close(fd_);
  }
  EchoServer(const EchoServer&) = delete;
  EchoServer& operator=(const EchoServer&) = delete;
  std::uint16_t port() const { return port_; }
  std::string target() const { return "127.0.0.1:" + std::to_string(port_); }
  int accepted() const { return accepted_; }

 private:
  void loop() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
      if (c < 0) continue;
      ++accepted_;
      workers_.emplace_back([this, c] {
        std::vector<char> buf(1 << 16);
        while (!stop_) {
          pollfd p{c, POLLIN, 0};
          if (::poll(&p, 1, 50) <= 0) continue;
          ssize_t n = ::read(c, buf.data(), buf.size());
          if (n <= 0) break;
          if (!write_all(c, buf.data(), static_cast<std::size_t>(n))) break;
        }
        ::shutdown(c, SHUT_WR);
        ::close(c);
      });
    }
  }
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> accepted_{0};
  std::thread thread_;
  std::vector<std::thread> workers_;
};

}  // namespace xnet::test
