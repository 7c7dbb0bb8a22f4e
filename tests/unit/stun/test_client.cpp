// SPDX-License-Identifier: MIT
#include <deque>
#include <functional>

#include <catch2/catch.hpp>

#include "stun/client.hpp"

using namespace xnet;
using namespace xnet::stun;
using namespace std::chrono_literals;

namespace {

class FakeClock final : public Clock {
 public:
  time_point now() const override { return t; }
  time_point t{};
  std::chrono::milliseconds since(time_point start) const {
    return std::chrono::duration_cast<std::chrono::milliseconds>(t - start);
  }
};

// A scripted server: answer(request) returns the datagrams to deliver after that request.
// Time only moves when receive() waits without anything queued.
class FakeTransport final : public Transport {
 public:
  FakeTransport(FakeClock& c, bool reliable = false) : clock_(c), reliable_(reliable) {}
  std::function<std::vector<std::vector<std::uint8_t>>(const Message&)> answer;
  std::vector<std::chrono::milliseconds> send_times;
  std::vector<Message> requests;
  FakeClock::time_point start{};

  bool reliable() const override { return reliable_; }
  std::string peer() const override { return "192.0.2.9:3478"; }
  Result<void> send(std::span<const std::uint8_t> m) override {
    send_times.push_back(clock_.since(start));
    auto msg = decode(m);
    REQUIRE(msg);
    requests.push_back(*msg);
    if (answer)
      for (auto& r : answer(*msg)) queue_.push_back(r);
    return {};
  }
  Result<std::optional<std::vector<std::uint8_t>>> receive(std::chrono::milliseconds timeout) override {
    if (!queue_.empty()) {
      auto r = queue_.front();
      queue_.pop_front();
      return std::optional<std::vector<std::uint8_t>>(r);
    }
    clock_.t += timeout;
    return std::optional<std::vector<std::uint8_t>>{};
  }

 private:
  FakeClock& clock_;
  bool reliable_;
  std::deque<std::vector<std::uint8_t>> queue_;
};

std::vector<std::uint8_t> binding_success(const Message& req, const char* ip = "203.0.113.5", std::uint16_t port = 40000) {
  MessageBuilder b(Method::Binding, MessageClass::Success, req.transaction_id);
  b.add_xor_address(attr::XorMappedAddress, *Address::parse(ip, port));
  b.add_fingerprint();
  return b.bytes();
}

ClientOptions options(FakeClock& clock) {
  ClientOptions o;
  o.clock = &clock;
  return o;
}

}  // namespace

TEST_CASE("retransmission schedule with the RFC 8489 defaults", "[stun][client]") {
  FakeClock clock;
  FakeTransport t(clock);
  auto o = options(clock);
  o.policy.rto = 500ms;
  o.policy.max_sends = 7;
  o.policy.last_wait_multiplier = 16;
  REQUIRE(o.policy.udp_budget() == 39500ms);
  auto tid = *random_transaction_id();
  MessageBuilder b(Method::Binding, MessageClass::Request, tid);
  auto r = transact(t, b.bytes(), tid, o);
  REQUIRE_FALSE(r);
  REQUIRE(r.error().category == Category::Timeout);
  using ms = std::chrono::milliseconds;
  REQUIRE(t.send_times == std::vector<ms>{0ms, 500ms, 1500ms, 3500ms, 7500ms, 15500ms, 31500ms});
  REQUIRE(clock.since({}) == 39500ms);
  REQUIRE_THAT(r.error().message, Catch::Contains("after 7 requests"));
}

TEST_CASE("the CLI default budget is short", "[stun][client]") {
  FakeClock clock;
  FakeTransport t(clock);
  auto o = options(clock);
  REQUIRE(o.policy.udp_budget() == 1500ms);
  auto tid = *random_transaction_id();
  MessageBuilder b(Method::Binding, MessageClass::Request, tid);
  auto r = transact(t, b.bytes(), tid, o);
  REQUIRE_FALSE(r);
  REQUIRE(t.send_times == std::vector<std::chrono::milliseconds>{0ms, 100ms, 300ms, 700ms});
  REQUIRE(clock.since({}) == 1500ms);

  SECTION("a deadline cuts it shorter") {
    FakeClock c2;
    FakeTransport t2(c2);
    auto o2 = options(c2);
    o2.deadline = FakeClock::time_point{} + 250ms;
    auto r2 = transact(t2, b.bytes(), tid, o2);
    REQUIRE_FALSE(r2);
    REQUIRE(t2.send_times.size() == 2);
    REQUIRE(c2.since({}) == 250ms);
  }
}

TEST_CASE("TCP transactions are not retransmitted", "[stun][client]") {
  FakeClock clock;
  FakeTransport t(clock, true);
  auto o = options(clock);
  auto tid = *random_transaction_id();
  MessageBuilder b(Method::Binding, MessageClass::Request, tid);
  auto r = transact(t, b.bytes(), tid, o);
  REQUIRE_FALSE(r);
  REQUIRE(t.send_times.size() == 1);
  REQUIRE(clock.since({}) == o.policy.reliable_timeout);
}

TEST_CASE("responses that do not match are dropped, the right one is taken", "[stun][client]") {
  FakeClock clock;
  FakeTransport t(clock);
  t.answer = [&](const Message& req) {
    std::vector<std::vector<std::uint8_t>> out;
    if (t.requests.size() < 2) return out;  // first request lost
    TransactionId other = req.transaction_id;
    other[0] ^= 1;
    MessageBuilder stranger(Method::Binding, MessageClass::Success, other);
    stranger.add_xor_address(attr::XorMappedAddress, *Address::parse("10.0.0.1", 1));
    out.push_back(stranger.bytes());
    out.push_back({0x01, 0x02, 0x03});  // garbage
    out.push_back(binding_success(req));
    return out;
  };
  auto r = binding(t, options(clock));
  REQUIRE(r);
  REQUIRE(r->mapped.to_string() == "203.0.113.5:40000");
  REQUIRE(r->sends == 2);
  REQUIRE(t.requests[0].transaction_id == t.requests[1].transaction_id);
  REQUIRE(t.requests[0].has_fingerprint);
  REQUIRE(t.requests[0].string_attribute(attr::Software) == "xnet");
}

TEST_CASE("only malformed replies: a protocol error, not a timeout", "[stun][client]") {
  FakeClock clock;
  FakeTransport t(clock);
  t.answer = [&](const Message& req) {
    auto b = binding_success(req);
    b.back() ^= 1;  // bad fingerprint
    return std::vector<std::vector<std::uint8_t>>{b};
  };
  auto r = binding(t, options(clock));
  REQUIRE_FALSE(r);
  REQUIRE(r.error().category == Category::Protocol);
  REQUIRE_THAT(r.error().message, Catch::Contains("FINGERPRINT"));
}

TEST_CASE("a response with an unknown comprehension-required attribute fails at once", "[stun][client]") {
  FakeClock clock;
  FakeTransport t(clock);
  t.answer = [&](const Message& req) {
    MessageBuilder b(Method::Binding, MessageClass::Success, req.transaction_id);
    b.add_xor_address(attr::XorMappedAddress, *Address::parse("203.0.113.5", 1));
    b.add_u32(0x7abc, 0);
    return std::vector<std::vector<std::uint8_t>>{b.bytes()};
  };
  auto r = binding(t, options(clock));
  REQUIRE_FALSE(r);
  REQUIRE(r.error().category == Category::Protocol);
  REQUIRE_THAT(r.error().message, Catch::Contains("0x7abc"));
  REQUIRE(t.requests.size() == 1);
}

namespace {

// A long-term-credential TURN server: 401 first, then optionally 438 once, then success.
struct TurnScript {
  std::string realm = "example.org";
  std::string password = "secret";
  int stale_once = 0;
  int nonce_counter = 0;

  std::vector<std::uint8_t> challenge(const Message& req, int code) {
    MessageBuilder b(static_cast<Method>(req.method), MessageClass::Error, req.transaction_id);
    b.add_error_code(code, code == 438 ? "Stale Nonce" : "Unauthorized");
    b.add_string(attr::Realm, realm);
    b.add_string(attr::Nonce, "nonce" + std::to_string(++nonce_counter));
    return b.bytes();
  }

  std::vector<std::vector<std::uint8_t>> operator()(const Message& req) {
    auto user = req.string_attribute(attr::Username);
    if (!user || !req.find(attr::MessageIntegrity)) return {challenge(req, 401)};
    auto key = long_term_key_md5(*user, realm, password);
    if (req.verify_integrity(key) != Integrity::Valid) return {challenge(req, 401)};
    if (stale_once > 0) {
      --stale_once;
      return {challenge(req, 438)};
    }
    if (req.string_attribute(attr::Nonce) != "nonce" + std::to_string(nonce_counter)) return {challenge(req, 438)};
    MessageBuilder b(static_cast<Method>(req.method), MessageClass::Success, req.transaction_id);
    if (req.method == static_cast<std::uint16_t>(Method::Allocate)) {
      b.add_xor_address(attr::XorRelayedAddress, *Address::parse("192.0.2.15", 50000));
      b.add_xor_address(attr::XorMappedAddress, *Address::parse("192.0.2.1", 40000));
      b.add_u32(attr::Lifetime, 600);
    }
    b.add_message_integrity(key);
    b.add_fingerprint();
    return {b.bytes()};
  }
};

}  // namespace

TEST_CASE("long-term credentials: 401, then 438, then success, then release", "[stun][client]") {
  FakeClock clock;
  FakeTransport t(clock);
  TurnScript server;
  server.stale_once = 1;
  t.answer = std::ref(server);
  Credentials creds{"1767225600:alice", "secret"};
  auto r = allocate(t, creds, options(clock));
  REQUIRE(r);
  REQUIRE(r->relayed.to_string() == "192.0.2.15:50000");
  REQUIRE(r->lifetime == 600);
  REQUIRE(r->released);
  // unsigned Allocate, signed (438), signed again, then the Refresh
  REQUIRE(t.requests.size() == 4);
  REQUIRE_FALSE(t.requests[0].find(attr::MessageIntegrity));
  REQUIRE(t.requests[1].string_attribute(attr::Realm) == "example.org");
  REQUIRE(t.requests[2].string_attribute(attr::Nonce) == "nonce2");
  REQUIRE(t.requests[3].is(Method::Refresh, MessageClass::Request));
  REQUIRE(t.requests[3].u32_attribute(attr::Lifetime) == 0u);
  REQUIRE(t.requests[3].find(attr::RequestedTransport) == nullptr);
  REQUIRE(t.requests[0].find(attr::RequestedTransport)->value[0] == 17);
  for (std::size_t i = 1; i < t.requests.size(); ++i)
    REQUIRE(t.requests[i].transaction_id != t.requests[i - 1].transaction_id);
}

TEST_CASE("wrong credentials are an authentication error, not a timeout", "[stun][client]") {
  FakeClock clock;
  FakeTransport t(clock);
  TurnScript server;
  t.answer = std::ref(server);
  auto r = allocate(t, Credentials{"1767225600:alice", "not-the-password"}, options(clock));
  REQUIRE_FALSE(r);
  REQUIRE(r.error().category == Category::Auth);
  REQUIRE_THAT(r.error().message, Catch::Contains("credentials rejected"));
  REQUIRE(t.requests.size() == 2);  // no retry with the same credentials
}

TEST_CASE("no credentials for a server that demands them", "[stun][client]") {
  FakeClock clock;
  FakeTransport t(clock);
  TurnScript server;
  t.answer = std::ref(server);
  AuthState state;
  auto r = request(t, Method::Allocate, {}, std::nullopt, state, options(clock));
  REQUIRE_FALSE(r);
  REQUIRE(r.error().category == Category::Auth);
  REQUIRE_THAT(r.error().message, Catch::Contains("requires credentials"));
}

TEST_CASE("endless stale nonces stop after 3 challenges", "[stun][client]") {
  FakeClock clock;
  FakeTransport t(clock);
  TurnScript server;
  server.stale_once = 100;
  t.answer = std::ref(server);
  auto r = allocate(t, Credentials{"u", "secret"}, options(clock));
  REQUIRE_FALSE(r);
  REQUIRE(r.error().category == Category::Auth);
  REQUIRE_THAT(r.error().message, Catch::Contains("3 authentication challenges"));
  REQUIRE(t.requests.size() == 4);
}

TEST_CASE("a success with a wrong MESSAGE-INTEGRITY is dropped", "[stun][client]") {
  FakeClock clock;
  FakeTransport t(clock);
  TurnScript server;
  t.answer = [&](const Message& req) {
    auto out = server(req);
    if (decode(out[0])->cls == MessageClass::Success) {
      MessageBuilder b(Method::Allocate, MessageClass::Success, req.transaction_id);
      b.add_xor_address(attr::XorRelayedAddress, *Address::parse("192.0.2.15", 50000));
      b.add_message_integrity(short_term_key("forged"));
      return std::vector<std::vector<std::uint8_t>>{b.bytes()};
    }
    return out;
  };
  auto r = allocate(t, Credentials{"u", "secret"}, options(clock));
  REQUIRE_FALSE(r);
  REQUIRE(r.error().category == Category::Protocol);
  REQUIRE_THAT(r.error().message, Catch::Contains("wrong MESSAGE-INTEGRITY"));
}

TEST_CASE("error responses map to categories", "[stun][client]") {
  auto tid = *random_transaction_id();
  auto make = [&](int code) {
    MessageBuilder b(Method::Allocate, MessageClass::Error, tid);
    b.add_error_code(code, "why");
    return *decode(b.bytes());
  };
  REQUIRE(error_from_response(make(401), "x").category == Category::Auth);
  REQUIRE(error_from_response(make(441), "x").category == Category::Auth);
  REQUIRE(error_from_response(make(442), "x").category == Category::NotSupported);
  REQUIRE(error_from_response(make(486), "x").category == Category::Remote);
  REQUIRE_THAT(error_from_response(make(486), "Allocate").message, Catch::Contains("486 \"why\""));
}
