// SPDX-License-Identifier: MIT
// NAT behaviour discovery (stun/behaviour.cpp) against STUN servers the test runs on loopback,
// on the same Asio loop. The servers play the NAT: what each reports as the mapped address,
// and which CHANGE-REQUEST answers "get through", come from the test's table.
#include <algorithm>
#include <functional>
#include <map>
#include <memory>

#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <catch2/catch.hpp>

#include "stun/behaviour.hpp"
#include "stun/nat.hpp"

using namespace xnet;
using namespace xnet::stun;
using namespace std::chrono_literals;
using asio::ip::udp;

namespace {

Address A(const char* ip, std::uint16_t port) { return *Address::parse(ip, port); }

Address from_ep(const udp::endpoint& ep) { return *Address::from_sockaddr(ep.data()); }

// The NAT the servers pretend to see: the mapped address a Binding from client to server gets.
using NatFn = std::function<Address(const Address& client, const Address& server)>;

// One STUN server, plain (one socket) or RFC 5780 (four sockets: primary 127.0.0.1:P1, other
// 127.0.0.2:P2, plus 127.0.0.1:P2 and 127.0.0.2:P1 for the changed sources).
class FakeServer {
 public:
  FakeServer(asio::io_context& io, NatFn nat, bool rfc5780, const char* ip = "127.0.0.1") : nat_(std::move(nat)) {
    auto primary = open(io, asio::ip::make_address(ip), 0);
    p1_ = primary->local_endpoint().port();
    if (!rfc5780) return;
    auto other = open(io, asio::ip::make_address("127.0.0.2"), 0);
    p2_ = other->local_endpoint().port();
    open(io, asio::ip::make_address(ip), p2_);
    open(io, asio::ip::make_address("127.0.0.2"), p1_);
    other_ = from_ep(other->local_endpoint());
  }
  ~FakeServer() {
    for (auto& s : sockets_) {
      asio::error_code ec;
      s->close(ec);
    }
  }

  std::uint16_t port() const { return p1_; }
  /// CHANGE-REQUEST flags whose answers reach the client (the NAT's filtering).
  std::function<bool(std::uint32_t flags)> passes = [](std::uint32_t) { return true; };
  bool refuse_change = false;  ///< answer CHANGE-REQUEST with 420
  int bindings = 0;            ///< Binding requests received, all sockets
  std::optional<std::chrono::steady_clock::time_point> first_request;
  int change_requests = 0;

 private:
  std::shared_ptr<udp::socket> open(asio::io_context& io, asio::ip::address ip, std::uint16_t port) {
    auto s = std::make_shared<udp::socket>(io, udp::endpoint(ip, port));
    sockets_.push_back(s);
    receive(s);
    return s;
  }

  udp::socket* socket_for(const Address& a) {
    for (auto& s : sockets_)
      if (from_ep(s->local_endpoint()) == a) return s.get();
    return nullptr;
  }

  void receive(std::shared_ptr<udp::socket> s) {
    auto buf = std::make_shared<std::array<std::uint8_t, 2048>>();
    auto from = std::make_shared<udp::endpoint>();
    s->async_receive_from(asio::buffer(*buf), *from, [this, s, buf, from](asio::error_code ec, std::size_t n) {
      if (ec) return;
      answer(*s, std::span<const std::uint8_t>(buf->data(), n), *from);
      receive(s);
    });
  }

  void answer(udp::socket& s, std::span<const std::uint8_t> bytes, const udp::endpoint& from) {
    auto m = decode(bytes);
    if (!m || !m->is(Method::Binding, MessageClass::Request)) return;
    ++bindings;
    if (!first_request) first_request = std::chrono::steady_clock::now();
    const Address here = from_ep(s.local_endpoint());
    const Address client = from_ep(from);
    std::uint32_t flags = m->u32_attribute(attr::ChangeRequest).value_or(0);
    udp::socket* out = &s;
    if (flags) {
      ++change_requests;
      if (refuse_change) {
        MessageBuilder b(Method::Binding, MessageClass::Error, m->transaction_id);
        b.add_error_code(420, "Unknown Attribute");
        s.send_to(asio::buffer(b.bytes()), from);
        return;
      }
      if (!passes(flags)) return;  // the NAT drops it
      Address src = here;
      if (flags & 0x04) src.ip = (here.ip == other_.ip ? A("127.0.0.1", 0) : other_).ip;
      if (flags & 0x02) src.port = here.port == p1_ ? p2_ : p1_;
      out = socket_for(src);
      REQUIRE(out);
    }
    MessageBuilder b(Method::Binding, MessageClass::Success, m->transaction_id);
    b.add_xor_address(attr::XorMappedAddress, nat_(client, here));
    if (other_.port) b.add_address(attr::OtherAddress, other_);
    b.add_fingerprint();
    out->send_to(asio::buffer(b.bytes()), from);
  }

  NatFn nat_;
  std::vector<std::shared_ptr<udp::socket>> sockets_;
  std::uint16_t p1_ = 0, p2_ = 0;
  Address other_{4, {}, 0};
};

ProbeTarget target(const std::string& host, std::uint16_t port) {
  ProbeTarget t;
  t.host = host;
  t.port = port;
  return t;
}

BehaviourOptions quick() {
  BehaviourOptions o;
  o.policy = RetransmitPolicy{10ms, 2, 4, 200ms};  // an unanswered test costs 50 ms
  o.deadline = std::chrono::steady_clock::now() + 5s;
  return o;
}

UdpBehaviour run(asio::io_context& io, std::vector<ProbeTarget> targets, BehaviourOptions o) {
  std::optional<UdpBehaviour> out;
  async_discover_behaviour(io, std::move(targets), std::move(o), null_trace(),
                           [&](UdpBehaviour b) {
                             out = std::move(b);
                             io.stop();  // the fake servers would keep the loop busy
                           });
  io.run_for(10s);
  io.restart();
  REQUIRE(out);
  return *out;
}

NatReport classify_udp(const UdpBehaviour& b) {
  NatFacts f;
  f.local_udp = b.local;
  f.stun = b.observations;
  f.filter_change_ip_port_answered = b.filter_change_ip_port_answered;
  f.filter_change_port_answered = b.filter_change_port_answered;
  return classify(f);
}

// A NAT on 203.0.113.100 whose external port is chosen by key(client, server).
NatFn nat_with(std::function<std::uint16_t(const Address& client, const Address& server)> port) {
  return [port](const Address& c, const Address& s) {
    Address m = A("203.0.113.100", 0);
    m.port = port(c, s);
    return m;
  };
}

}  // namespace

TEST_CASE("behaviour: RFC 5780 mapping and filtering classes from one server's answers", "[stun][behaviour]") {
  struct Row {
    const char* name;
    std::function<std::uint16_t(const Address&, const Address&)> port;
    std::function<bool(std::uint32_t)> passes;
    Mapping mapping;
    Filtering filtering;
    std::optional<bool> change_ip_port, change_port;
  };
  std::vector<Row> rows = {
      {"endpoint-independent mapping and filtering (full cone)",
       [](const Address& c, const Address&) { return c.port; }, [](std::uint32_t) { return true; },
       Mapping::EndpointIndependent, Filtering::EndpointIndependent, true, std::nullopt},
      {"address-dependent mapping and filtering",
       [](const Address& c, const Address& s) { return static_cast<std::uint16_t>(c.port + s.ip[3]); },
       [](std::uint32_t f) { return f == 0x02; }, Mapping::AddressDependent, Filtering::AddressDependent, false,
       true},
      {"address-and-port-dependent mapping and filtering (symmetric)",
       [ports = std::make_shared<std::map<std::string, std::uint16_t>>()](const Address&, const Address& s) {
         auto [it, fresh] = ports->emplace(s.to_string(), static_cast<std::uint16_t>(30000 + ports->size()));
         return it->second;
       },
       [](std::uint32_t) { return false; }, Mapping::AddressAndPortDependent, Filtering::AddressAndPortDependent,
       false, false},
  };
  for (const auto& row : rows) {
    SECTION(row.name) {
      asio::io_context io;
      FakeServer server(io, nat_with(row.port), true);
      server.passes = row.passes;
      auto b = run(io, {target("127.0.0.1", server.port())}, quick());
      INFO(b.failures.size());
      CHECK(b.failures.empty());
      REQUIRE(b.local);
      CHECK(b.local->ip_string() == "127.0.0.1");
      CHECK(b.servers == std::vector<std::string>{"127.0.0.1:" + std::to_string(server.port())});
      CHECK(b.rfc5780_server == b.servers.front());
      // primary, other address with the primary port, other address and port
      REQUIRE(b.observations.size() == 3);
      CHECK(b.observations[1].destination.ip_string() == "127.0.0.2");
      CHECK(b.observations[1].destination.port == server.port());
      CHECK(b.observations[2].destination.ip_string() == "127.0.0.2");
      CHECK(b.filter_change_ip_port_answered == row.change_ip_port);
      CHECK(b.filter_change_port_answered == row.change_port);
      CHECK(b.filtering_note.empty());
      auto r = classify_udp(b);
      CHECK(to_string(r.mapping) == to_string(row.mapping));
      CHECK(to_string(r.filtering) == to_string(row.filtering));
      CHECK(r.kind == NatKind::Nat);
    }
  }
}

TEST_CASE("behaviour: two plain servers give the mapping without RFC 5780", "[stun][behaviour]") {
  asio::io_context io;
  auto same = nat_with([](const Address& c, const Address&) { return c.port; });
  FakeServer a(io, same, false, "127.0.0.1");
  FakeServer b(io, same, false, "127.0.0.3");
  auto v = run(io, {target("127.0.0.1", a.port()), target("127.0.0.3", b.port())}, quick());
  CHECK(v.failures.empty());
  CHECK(v.observations.size() == 2);
  CHECK(v.rfc5780_server.empty());
  CHECK_FALSE(v.filter_change_ip_port_answered);
  CHECK(v.filtering_note == "no STUN server offered RFC 5780");
  CHECK(a.change_requests + b.change_requests == 0);
  auto r = classify_udp(v);
  CHECK(r.mapping == Mapping::EndpointIndependent);
  CHECK(r.mapping_basis == "2 destinations of 2 STUN servers");
  CHECK(r.filtering == Filtering::Unknown);
}

TEST_CASE("behaviour: each distinct server is asked once, whatever the list repeats", "[stun][behaviour]") {
  asio::io_context io;
  FakeServer a(io, nat_with([](const Address& c, const Address&) { return c.port; }), false);
  auto p = a.port();
  // The same server by address twice (two spellings of the type), by name, and a TCP entry.
  std::vector<ProbeTarget> targets = {target("127.0.0.1", p), target("127.0.0.1", p), target("localhost", p),
                                      target("127.0.0.1", p)};
  targets[1].type = "turn";
  targets[3].transport = "tcp";
  auto v = run(io, targets, quick());
  CHECK(v.servers.size() == 1);
  CHECK(v.observations.size() == 1);
  CHECK(a.bindings == 1);
}

TEST_CASE("behaviour: a silent server is a failure and does not hold back the others", "[stun][behaviour]") {
  asio::io_context io;
  FakeServer live(io, nat_with([](const Address& c, const Address&) { return c.port; }), false);
  // A bound socket that never answers.
  udp::socket silent(io, udp::endpoint(asio::ip::make_address("127.0.0.1"), 0));
  auto o = quick();
  o.policy = RetransmitPolicy{100ms, 2, 8, 1s};  // the silent server costs 900 ms
  const auto started = std::chrono::steady_clock::now();
  auto v = run(io, {target("127.0.0.1", silent.local_endpoint().port()), target("127.0.0.1", live.port())}, o);
  // Both are asked at once: the live server is not kept waiting behind the silent one.
  REQUIRE(live.first_request);
  CHECK(*live.first_request - started < 500ms);
  REQUIRE(v.failures.size() == 1);
  CHECK(v.failures.front().find(std::to_string(silent.local_endpoint().port())) != std::string::npos);
  REQUIRE(v.observations.size() == 1);
  CHECK(v.observations.front().server == "127.0.0.1:" + std::to_string(live.port()));
}

TEST_CASE("behaviour: filtering tests that give no verdict are not guessed", "[stun][behaviour]") {
  asio::io_context io;
  FakeServer server(io, nat_with([](const Address& c, const Address&) { return c.port; }), true);
  SECTION("not run when filtering is off: mapping only") {
    auto o = quick();
    o.filtering = false;
    auto v = run(io, {target("127.0.0.1", server.port())}, o);
    CHECK(v.observations.size() == 3);
    CHECK(server.change_requests == 0);
    CHECK_FALSE(v.filter_change_ip_port_answered);
    CHECK(v.filtering_note == "the RFC 5780 filtering tests were not run");
    CHECK(classify_udp(v).filtering == Filtering::Unknown);
  }
  SECTION("the server refuses CHANGE-REQUEST (420)") {
    server.refuse_change = true;
    auto v = run(io, {target("127.0.0.1", server.port())}, quick());
    CHECK(server.change_requests >= 1);
    CHECK_FALSE(v.filter_change_ip_port_answered);
    CHECK_FALSE(v.filter_change_port_answered);
    CHECK_FALSE(v.filtering_note.empty());
    CHECK(classify_udp(v).filtering == Filtering::Unknown);
  }
  SECTION("the deadline cuts an unanswered test short: unknown, not 'no answer'") {
    server.passes = [](std::uint32_t) { return false; };
    auto o = quick();
    o.policy = RetransmitPolicy{200ms, 3, 8, 1s};  // an unanswered test would cost 2.2 s
    o.deadline = std::chrono::steady_clock::now() + 400ms;
    auto started = std::chrono::steady_clock::now();
    auto v = run(io, {target("127.0.0.1", server.port())}, o);
    CHECK(std::chrono::steady_clock::now() - started < 1500ms);
    CHECK(v.observations.size() == 3);
    CHECK_FALSE(v.filter_change_ip_port_answered);
    CHECK(classify_udp(v).filtering == Filtering::Unknown);
  }
}

TEST_CASE("behaviour: IPv6 on ::1 is classified (no NAT when the mapping is the local address)",
          "[stun][behaviour][ipv6]") {
  asio::io_context io;
  std::unique_ptr<FakeServer> server;
  try {
    server = std::make_unique<FakeServer>(io, [](const Address& c, const Address&) { return c; }, false, "::1");
  } catch (const std::exception& e) {
    FAIL("cannot bind a UDP socket on ::1: " << e.what());
  }
  auto v = run(io, {target("::1", server->port())}, quick());
  REQUIRE(v.local);
  CHECK(v.local->family == 6);
  REQUIRE(v.observations.size() == 1);
  CHECK(v.observations.front().server == "[::1]:" + std::to_string(server->port()));
  auto r = classify_udp(v);
  CHECK(r.kind == NatKind::None);
  CHECK(r.mapping == Mapping::None);
  CHECK(r.udp_port_preserved == true);
}
