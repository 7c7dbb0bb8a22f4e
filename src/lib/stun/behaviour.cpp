// SPDX-License-Identifier: MIT
#include "stun/behaviour.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>
#include <deque>
#include <memory>
#include <set>

#include <asio/co_spawn.hpp>
#include <asio/detached.hpp>
#include <asio/io_context.hpp>
#include <asio/ip/udp.hpp>
#include <asio/redirect_error.hpp>
#include <asio/steady_timer.hpp>
#include <asio/this_coro.hpp>
#include <asio/use_awaitable.hpp>

#include "stun/async.hpp"

namespace xnet::stun {
namespace {

using std::chrono::milliseconds;

std::string lower(std::string s) {
  std::transform(s.begin(), s.end(), s.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return s;
}

struct Dest {
  std::string label;
  Address address;
};

using Bytes = std::vector<std::uint8_t>;

// Several Binding transactions on one UDP socket at once (the mapping needs one local port):
// one reader hands each datagram to the transaction whose ID it carries.
class Demux : public std::enable_shared_from_this<Demux> {
 public:
  explicit Demux(std::shared_ptr<asio::ip::udp::socket> socket) : socket_(std::move(socket)) {}

  struct Inbox {
    explicit Inbox(const asio::any_io_executor& ex) : wake(ex) {}
    std::deque<Bytes> datagrams;
    asio::steady_timer wake;
    std::set<TransactionId> ids;  // transactions sent through this transport
  };

  void start() { read(); }
  // Stops the reader; the socket stays usable (and is not read by the demux any more).
  void stop() {
    stopped_ = true;
    asio::error_code ec;
    socket_->cancel(ec);
  }

  std::shared_ptr<Inbox> add_inbox() {
    auto in = std::make_shared<Inbox>(socket_->get_executor());
    inboxes_.push_back(in);
    return in;
  }
  asio::ip::udp::socket& socket() { return *socket_; }

 private:
  void read() {
    if (stopped_) return;
    auto self = shared_from_this();
    socket_->async_receive_from(asio::buffer(buf_), from_, [self](asio::error_code ec, std::size_t n) {
      if (self->stopped_) return;
      // ICMP errors reported on the socket do not end the reading; anything else does (the
      // transactions then end by their own timeouts).
      if (ec && ec != asio::error::connection_refused && ec != asio::error::host_unreachable &&
          ec != asio::error::network_unreachable)
        return;
      if (!ec && n >= 20) {
        TransactionId tid;
        std::memcpy(tid.data(), self->buf_.data() + 8, tid.size());
        for (auto& in : self->inboxes_)
          if (in->ids.count(tid)) {
            if (in->datagrams.size() < 16) in->datagrams.emplace_back(self->buf_.begin(), self->buf_.begin() + n);
            in->wake.cancel();
            break;
          }
      }
      self->read();  // ICMP errors and strays: keep reading until stopped
    });
  }

  std::shared_ptr<asio::ip::udp::socket> socket_;
  std::array<std::uint8_t, 2048> buf_{};
  asio::ip::udp::endpoint from_;
  std::vector<std::shared_ptr<Inbox>> inboxes_;
  bool stopped_ = false;
};

class DemuxTransport final : public AsyncTransport {
 public:
  DemuxTransport(std::shared_ptr<Demux> demux, Address peer)
      : demux_(std::move(demux)), inbox_(demux_->add_inbox()), peer_(peer) {}
  bool reliable() const override { return false; }
  std::string peer() const override { return peer_.to_string(); }

  asio::awaitable<Result<void>> send(std::span<const std::uint8_t> m) override {
    if (m.size() >= 20) {
      TransactionId tid;
      std::memcpy(tid.data(), m.data() + 8, tid.size());
      inbox_->ids.insert(tid);
    }
    sockaddr_storage ss{};
    auto len = peer_.to_sockaddr(ss);
    asio::ip::udp::endpoint ep;
    std::memcpy(ep.data(), &ss, len);
    ep.resize(len);
    asio::error_code ec;
    demux_->socket().send_to(asio::buffer(m.data(), m.size()), ep, 0, ec);
    if (ec) co_return fail(Category::Connect, "sending to " + peer() + ": " + ec.message());
    co_return Result<void>{};
  }

  asio::awaitable<Result<std::optional<Bytes>>> receive(milliseconds timeout) override {
    if (inbox_->datagrams.empty()) {
      inbox_->wake.expires_after(timeout);
      asio::error_code ec;
      co_await inbox_->wake.async_wait(asio::redirect_error(asio::use_awaitable, ec));
    }
    if (inbox_->datagrams.empty()) co_return std::optional<Bytes>{};
    Bytes b = std::move(inbox_->datagrams.front());
    inbox_->datagrams.pop_front();
    co_return std::optional<Bytes>(std::move(b));
  }

 private:
  std::shared_ptr<Demux> demux_;
  std::shared_ptr<Demux::Inbox> inbox_;
  Address peer_;
};

// Runs co_binding towards every destination at once from socket; results in order.
asio::awaitable<std::vector<Result<BindingResult>>> bind_all(std::shared_ptr<asio::ip::udp::socket> socket,
                                                             const std::vector<Dest>& dests, const ClientOptions& c) {
  auto ex = co_await asio::this_coro::executor;
  auto demux = std::make_shared<Demux>(socket);
  std::vector<std::unique_ptr<AsyncTransport>> transports;
  for (const auto& d : dests) transports.push_back(std::make_unique<DemuxTransport>(demux, d.address));
  std::vector<Result<BindingResult>> results(dests.size(), fail(Category::Internal, "not asked"));
  std::size_t left = dests.size();
  asio::steady_timer all_done(ex, asio::steady_timer::time_point::max());
  demux->start();
  for (std::size_t i = 0; i < dests.size(); ++i) {
    asio::co_spawn(
        ex,
        [&, i]() -> asio::awaitable<void> {
          try {
            results[i] = co_await co_binding(*transports[i], c, std::nullopt);
          } catch (const std::exception& e) {
            results[i] = fail(Category::Internal, e.what());
          }
          if (--left == 0) all_done.cancel();
        },
        asio::detached);
  }
  // Each transaction ends by its own retransmission budget or the deadline.
  while (left > 0) {
    asio::error_code ec;
    co_await all_done.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
  demux->stop();
  co_return results;
}

// A filtering test: does an answer come back when the server changes its source (RFC 5780
// §4.4)? true: answered; false: no answer in the whole retransmission budget; nullopt: the
// server refused (420) or failed otherwise, or the overall deadline cut the wait short, so the
// test says nothing.
asio::awaitable<std::optional<bool>> change_test(AsyncTransport& t, const ClientOptions& c, std::uint32_t flags) {
  AttributeFiller fill = [flags](MessageBuilder& b) { b.add_u32(attr::ChangeRequest, flags); };
  auto r = co_await co_binding(t, c, std::nullopt, fill);
  if (r) co_return true;
  if (r.error().category != Category::Timeout) co_return std::nullopt;
  if (c.deadline && steady_clock().now() >= *c.deadline) co_return std::nullopt;
  co_return false;
}

asio::awaitable<UdpBehaviour> co_discover(std::vector<ProbeTarget> targets, BehaviourOptions o, Trace& trace) {
  UdpBehaviour out;
  std::vector<ProbeTarget> servers;
  std::set<std::pair<std::string, std::uint16_t>> seen;
  for (const auto& t : targets) {
    auto type = lower(t.type);
    if ((type != "stun" && type != "turn") || lower(t.transport) != "udp") continue;
    if (seen.emplace(lower(t.host), t.port).second) servers.push_back(t);
  }
  if (servers.size() > o.max_servers) {
    trace.warning("the server lists " + std::to_string(servers.size()) + " distinct UDP STUN servers; asking only the first " +
                  std::to_string(o.max_servers));
    servers.resize(o.max_servers);
  }
  ClientOptions c;
  c.policy = o.policy;
  c.software = o.software;
  c.trace = &trace;
  c.deadline = o.deadline;
  auto left = [&] {
    if (!o.deadline) return milliseconds(5000);
    return std::max(milliseconds(1), std::chrono::duration_cast<milliseconds>(*o.deadline - steady_clock().now()));
  };

  std::vector<Dest> dests;
  for (const auto& s : servers) {
    std::string label = (s.host.find(':') != std::string::npos ? "[" + s.host + "]" : s.host) + ":" + std::to_string(s.port);
    auto a = co_await async_resolve(s.host, s.port, left());
    if (!a) {
      out.servers.push_back(label);
      out.failures.push_back(label + ": " + a.error().message);
      continue;
    }
    // One server under two names (a host name and its address, two spellings of an IPv6
    // address): asked once.
    if (std::any_of(dests.begin(), dests.end(), [&](const Dest& d) { return d.address == a->front(); })) {
      trace.progress(2, label + " is the same server as another listed one: asked once");
      continue;
    }
    out.servers.push_back(label);
    if (!dests.empty() && a->front().family != dests.front().address.family) {
      out.failures.push_back(label + ": another address family than the first server");
      continue;
    }
    dests.push_back({label, a->front()});
  }
  if (dests.empty()) co_return out;

  // The local address the route to the first server uses: the mapping sockets bind to it, so
  // their local address can be compared with what the servers see.
  auto ex = co_await asio::this_coro::executor;
  asio::error_code ec;
  asio::ip::udp::endpoint first_ep;
  {
    sockaddr_storage ss{};
    auto len = dests.front().address.to_sockaddr(ss);
    std::memcpy(first_ep.data(), &ss, len);
    first_ep.resize(len);
  }
  asio::ip::udp::socket route(ex);
  route.open(first_ep.protocol(), ec);
  if (!ec) route.connect(first_ep, ec);
  if (ec) {
    out.failures.push_back(dests.front().label + ": " + ec.message());
    co_return out;
  }
  const auto local_ip = route.local_endpoint(ec).address();
  route.close(ec);
  auto open_socket = [&]() -> std::shared_ptr<asio::ip::udp::socket> {
    auto s = std::make_shared<asio::ip::udp::socket>(ex);
    asio::error_code e;
    s->open(first_ep.protocol(), e);
    if (!e) s->bind(asio::ip::udp::endpoint(local_ip, 0), e);
    if (e) return nullptr;
    return s;
  };
  auto sock = open_socket();
  if (!sock) {
    out.failures.push_back("cannot open a UDP socket on " + local_ip.to_string());
    co_return out;
  }
  out.local = Address::from_sockaddr(sock->local_endpoint(ec).data());

  std::optional<std::pair<Dest, Address>> alt;  // a server with an OTHER-ADDRESS, and that address
  // Every listed server at once: a silent one must not hold the others back.
  auto bound = co_await bind_all(sock, dests, c);
  for (std::size_t i = 0; i < dests.size(); ++i) {
    const auto& d = dests[i];
    auto& b = bound[i];
    if (!b) {
      out.failures.push_back(d.label + ": " + b.error().message);
      continue;
    }
    trace.progress(2, d.label + " sees " + b->mapped.to_string());
    out.observations.push_back({d.label, d.address, b->mapped});
    if (!out.rtt_ms) out.rtt_ms = b->rtt_ms;
    const auto& other = b->other_address;
    if (o.rfc5780 && !alt && other && other->family == d.address.family && other->ip != d.address.ip &&
        other->port != d.address.port)
      alt = std::make_pair(d, *other);
  }
  out.filtering_note = "no STUN server offered RFC 5780";
  if (!alt) co_return out;

  // RFC 5780 §4.3 mapping tests II and III, from the same socket.
  const auto& primary = alt->first;
  out.rfc5780_server = primary.label;
  Address a2p1 = alt->second;
  a2p1.port = primary.address.port;
  std::vector<Dest> others;
  for (const auto& dest : {a2p1, alt->second}) {
    // A listed server may already be the other address: each destination is asked once.
    if (std::none_of(out.observations.begin(), out.observations.end(),
                     [&](const MappingObservation& m) { return m.destination == dest; }))
      others.push_back({primary.label, dest});
  }
  auto answers = co_await bind_all(sock, others, c);
  for (std::size_t i = 0; i < others.size(); ++i) {
    const auto& dest = others[i].address;
    if (!answers[i]) {
      out.failures.push_back(primary.label + " (other address " + dest.to_string() + "): " + answers[i].error().message);
      continue;
    }
    out.observations.push_back({primary.label, dest, answers[i]->mapped});
  }

  // RFC 5780 §4.4 filtering tests, from a fresh socket that has talked only to the primary.
  out.filtering_note = kFilteringNotRun;
  if (!o.filtering) co_return out;
  out.filtering_note = "the RFC 5780 filtering tests gave no verdict (refused, or cut short by the time bound)";
  auto fsock = open_socket();
  if (!fsock) co_return out;
  auto ft = shared_udp(fsock, primary.address);
  auto opened = co_await co_binding(*ft, c, std::nullopt);
  if (!opened) co_return out;
  out.filter_change_ip_port_answered = co_await change_test(*ft, c, 0x06);
  if (out.filter_change_ip_port_answered == false)
    out.filter_change_port_answered = co_await change_test(*ft, c, 0x02);
  if (!out.filter_change_ip_port_answered) out.filter_change_port_answered.reset();
  // Test II answered, or II unanswered and III answered or not: a verdict (nat.cpp).
  if (out.filter_change_ip_port_answered == true || out.filter_change_port_answered) out.filtering_note.clear();
  co_return out;
}

}  // namespace

void async_discover_behaviour(asio::io_context& io, std::vector<ProbeTarget> targets, BehaviourOptions options,
                              Trace& trace, std::function<void(UdpBehaviour)> done) {
  asio::co_spawn(io, co_discover(std::move(targets), std::move(options), trace),
                 [done = std::move(done)](std::exception_ptr e, UdpBehaviour b) {
                   if (e) {
                     try {
                       std::rethrow_exception(e);
                     } catch (const std::exception& x) {
                       b = UdpBehaviour{};
                       b.failures.push_back(std::string("NAT discovery failed: ") + x.what());
                     }
                   }
                   done(std::move(b));
                 });
}

UdpBehaviour discover_behaviour(const std::vector<ProbeTarget>& targets, const BehaviourOptions& options, Trace& trace) {
  asio::io_context io;
  UdpBehaviour out;
  async_discover_behaviour(io, targets, options, trace, [&](UdpBehaviour b) { out = std::move(b); });
  io.run();
  return out;
}

}  // namespace xnet::stun
