// SPDX-License-Identifier: MIT
// probe_all on the Asio loop against a Binding responder on 127.0.0.1 run by the test.
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <thread>

#include <asio/io_context.hpp>
#include <catch2/catch.hpp>

#include "stun/probe.hpp"

using namespace xnet;
using namespace xnet::stun;
using namespace std::chrono_literals;

namespace {

// Answers every Binding request on 127.0.0.1:<port> with the source address; counts requests.
class Responder {
 public:
  Responder() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    REQUIRE(fd_ >= 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port = ntohs(a.sin_port);
    thread_ = std::thread([this] { loop(); });
  }
  ~Responder() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::uint16_t port = 0;
  std::atomic<int> requests{0};

 private:
  void loop() {
    std::uint8_t buf[2048];
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 20) <= 0) continue;
      sockaddr_storage from{};
      socklen_t flen = sizeof from;
      auto n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
      if (n <= 0) continue;
      auto m = decode(std::span<const std::uint8_t>(buf, static_cast<std::size_t>(n)));
      if (!m || !m->is(Method::Binding, MessageClass::Request)) continue;
      ++requests;
      MessageBuilder b(Method::Binding, MessageClass::Success, m->transaction_id);
      b.add_xor_address(attr::XorMappedAddress, *Address::from_sockaddr(reinterpret_cast<sockaddr*>(&from)));
      b.add_fingerprint();
      ::sendto(fd_, b.bytes().data(), b.bytes().size(), 0, reinterpret_cast<sockaddr*>(&from), flen);
    }
  }
  int fd_ = -1;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

class CountingTrace final : public Trace {
 public:
  bool enabled(TraceArea) const override { return false; }
  void wire(TraceArea, TraceDir, std::string_view) override {}
  void progress(int, std::string_view) override {}
  void warning(std::string_view m) override { warnings.emplace_back(m); }
  std::vector<std::string> warnings;
};

ProbeOptions fast() {
  ProbeOptions o;
  o.policy.rto = 50ms;
  o.policy.max_sends = 3;
  o.overall_timeout = 3000ms;
  return o;
}

}  // namespace

TEST_CASE("the same server listed 2000 times is probed once", "[stun][probe]") {
  Responder r;
  std::vector<ProbeTarget> targets(2000, ProbeTarget{"127.0.0.1", r.port, "stun", "udp", std::nullopt});
  targets[7].host = "127.0.0.1";  // same key, different entry
  targets[9].type = "turn";       // TURN without credentials: the same Binding serves it
  CountingTrace trace;
  auto results = probe_all(targets, fast(), trace);
  REQUIRE(results.size() == 2000);
  CHECK(r.requests.load() == 1);
  for (std::size_t i = 0; i < results.size(); ++i) {
    INFO(i);
    REQUIRE(results[i].ok());
    REQUIRE(results[i].mapped);
    CHECK(results[i].mapped->ip_string() == "127.0.0.1");
    CHECK(results[i].same_as == (i == 0 ? std::nullopt : std::optional<std::size_t>(0)));
  }
  CHECK(results[9].note == "TURN without credentials: allocation not tried");
  CHECK(trace.warnings.empty());
}

TEST_CASE("a list of more distinct servers than the cap is probed only up to the cap, with a warning",
          "[stun][probe]") {
  Responder r;
  std::vector<ProbeTarget> targets;
  for (int i = 0; i < 40; ++i)
    targets.push_back(ProbeTarget{"127.0.0.1", static_cast<std::uint16_t>(i == 0 ? r.port : r.port), "stun",
                                  i % 2 ? "tcp" : "udp", std::nullopt});
  // 40 entries, 2 distinct servers (udp, tcp); then 30 distinct loopback hosts.
  for (int i = 0; i < 30; ++i)
    targets.push_back(ProbeTarget{"127.0.1." + std::to_string(i + 1), r.port, "stun", "udp", std::nullopt});
  auto o = fast();
  o.max_servers = 8;
  o.concurrency = 3;
  CountingTrace trace;
  auto results = probe_all(targets, o, trace);
  REQUIRE(results.size() == 70);
  std::size_t skipped = 0, probed_ok = 0;
  for (const auto& res : results) {
    if (!res.skipped.empty()) ++skipped;
    if (res.skipped.empty() && res.ok()) ++probed_ok;
  }
  CHECK(skipped == 24);  // 32 distinct servers, 8 probed
  CHECK(results[0].ok());
  CHECK_FALSE(results[1].ok());  // nothing listens on TCP there: refused
  CHECK(probed_ok == 20);        // the 20 UDP entries of the responder
  REQUIRE(trace.warnings.size() == 1);
  CHECK(trace.warnings[0] == "the server lists 32 distinct STUN/TURN servers; probing only the first 8");
  CHECK(r.requests.load() == 1);
}

TEST_CASE("probes share a caller-supplied io_context", "[stun][probe]") {
  Responder r;
  std::vector<ProbeTarget> targets{{"127.0.0.1", r.port, "stun", "udp", std::nullopt},
                                   {"127.0.0.1", r.port, "stun", "tcp", std::nullopt}};
  CountingTrace trace;
  asio::io_context io;
  std::vector<ProbeResult> results;
  int calls = 0;
  async_probe_all(io, targets, fast(), trace, [&](std::vector<ProbeResult> got) {
    ++calls;
    results = std::move(got);
  });
  CHECK(calls == 0);
  io.run();
  CHECK(calls == 1);
  REQUIRE(results.size() == 2);
  CHECK(results[0].ok());
  CHECK(results[0].sends == 1);
  REQUIRE(results[1].error);
  CHECK(results[1].error->category == Category::Connect);
}
