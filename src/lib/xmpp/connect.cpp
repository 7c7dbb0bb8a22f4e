// SPDX-License-Identifier: MIT
#include "xmpp/connect.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <cerrno>

#include <asio/post.hpp>

#include "util/hostport.hpp"

namespace xnet::xmpp {

std::vector<asio::ip::address> interleave_families(const std::vector<asio::ip::address>& v6,
                                                   const std::vector<asio::ip::address>& v4) {
  std::vector<asio::ip::address> out;
  std::size_t i = 0, j = 0;
  while (i < v6.size() || j < v4.size()) {
    if (i < v6.size()) out.push_back(v6[i++]);
    if (j < v4.size()) out.push_back(v4[j++]);
  }
  return out;
}

struct Connector::Attempt {
  asio::ip::tcp::socket socket;
  asio::ip::tcp::endpoint endpoint;
  bool done = false;
  explicit Attempt(asio::io_context& io) : socket(io) {}
};

Connector::Connector(asio::io_context& io, Resolver& resolver, Trace& trace)
    : io_(io), resolver_(resolver), trace_(trace), delay_(io), resolution_timer_(io) {}

void Connector::start(std::vector<ConnectTarget> targets, ConnectPrefs prefs,
                      std::function<void(Result<Connected>)> done) {
  targets_ = std::move(targets);
  prefs_ = prefs;
  done_ = std::move(done);
  index_ = 0;
  next_target();
}

std::string Connector::stage() const {
  if (index_ >= targets_.size()) return "connecting";
  const auto& t = targets_[index_];
  if (pending_lookups_ > 0 && !started_) return "resolving " + t.host;
  return "connecting to " + util::format_host_port(t.host, t.port);
}

void Connector::cancel() {
  finished_ = true;
  ++epoch_;
  for (auto& a : attempts_) {
    asio::error_code ec;
    a->socket.close(ec);
  }
  attempts_.clear();
  delay_.cancel();
  resolution_timer_.cancel();
}

void Connector::next_target() {
  if (finished_) return;
  ++epoch_;
  for (auto& a : attempts_) {
    asio::error_code ec;
    a->socket.close(ec);
  }
  attempts_.clear();
  delay_.cancel();
  resolution_timer_.cancel();
  v6_.clear();
  v4_.clear();
  queue_.clear();
  next_ = 0;
  started_ = false;
  a_waiting_ = false;
  pending_lookups_ = 0;
  if (index_ >= targets_.size()) {
    finish(fail(failure()));
    return;
  }
  const auto& t = targets_[index_];
  asio::error_code ec;
  auto literal = asio::ip::make_address(t.host, ec);
  if (!ec) {
    if ((prefs_.family == 4 && literal.is_v6()) || (prefs_.family == 6 && literal.is_v4())) {
      usage_error_ = Error(Category::Usage,
                           t.host + " is an IPv" + (literal.is_v6() ? "6" : "4") + " address but -" +
                               std::to_string(prefs_.family) + " was given");
      ++index_;
      next_target();
      return;
    }
    (literal.is_v6() ? v6_ : v4_).push_back(literal);
    queue_ = interleave_families(v6_, v4_);
    started_ = true;
    start_attempt();
    return;
  }
  trace_.progress(2, "resolving " + t.host);
  auto epoch = epoch_;
  auto self = shared_from_this();
  auto lookup = [&](int family) {
    ++pending_lookups_;
    resolver_.addresses(t.host, family, [self, epoch, family](AddressAnswer a) {
      if (self->epoch_ != epoch || self->finished_) return;
      self->on_addresses(family, std::move(a));
    });
  };
  if (prefs_.family != 4) lookup(6);
  if (prefs_.family != 6) lookup(4);
}

void Connector::on_addresses(int family, AddressAnswer a) {
  --pending_lookups_;
  const auto& t = targets_[index_];
  if (a.status != 0) {
    dns_errors_.push_back(t.host + (family == 6 ? " (AAAA): " : " (A): ") + a.error);
  } else {
    std::string list;
    for (const auto& ad : a.addresses) list += (list.empty() ? "" : " ") + ad.to_string();
    trace_.progress(2, t.host + (family == 6 ? " AAAA " : " A ") + list);
  }
  auto& dst = family == 6 ? v6_ : v4_;
  dst.insert(dst.end(), a.addresses.begin(), a.addresses.end());
  if (!started_) {
    if (family == 4 && pending_lookups_ > 0 && !a.addresses.empty()) {
      // RFC 8305 §3: the A answer came first; give AAAA a short head start.
      a_waiting_ = true;
      resolution_timer_.expires_after(prefs_.resolution_delay);
      auto self = shared_from_this();
      auto epoch = epoch_;
      resolution_timer_.async_wait([self, epoch](const asio::error_code& ec) {
        if (ec || self->epoch_ != epoch || self->finished_ || self->started_) return;
        self->maybe_start_attempts();
      });
      return;
    }
    if (!a.addresses.empty() || pending_lookups_ == 0) maybe_start_attempts();
    return;
  }
  // Attempts are already running: merge the late family into what is still queued.
  std::vector<asio::ip::address> rest(queue_.begin() + static_cast<std::ptrdiff_t>(next_), queue_.end());
  std::vector<asio::ip::address> r6, r4;
  for (const auto& ad : rest) (ad.is_v6() ? r6 : r4).push_back(ad);
  if (family == 6)
    r6.insert(r6.end(), a.addresses.begin(), a.addresses.end());
  else
    r4.insert(r4.end(), a.addresses.begin(), a.addresses.end());
  queue_.resize(next_);
  for (const auto& ad : interleave_families(r6, r4)) queue_.push_back(ad);
  bool running = false;
  for (const auto& at : attempts_) running = running || !at->done;
  if (!running) start_attempt();
  else check_target_done();
}

void Connector::maybe_start_attempts() {
  if (started_) return;
  queue_ = interleave_families(v6_, v4_);
  if (queue_.empty()) {
    if (pending_lookups_ == 0) {
      ++index_;
      next_target();
    }
    return;
  }
  started_ = true;
  start_attempt();
}

void Connector::start_attempt() {
  if (finished_) return;
  if (next_ >= queue_.size()) {
    check_target_done();
    return;
  }
  const auto& t = targets_[index_];
  auto at = std::make_shared<Attempt>(io_);
  at->endpoint = asio::ip::tcp::endpoint(queue_[next_++], t.port);
  attempts_.push_back(at);
  asio::error_code ec;
  at->socket.open(at->endpoint.protocol(), ec);
  if (!ec) {
    at->socket.set_option(asio::ip::tcp::no_delay(true), ec);
    ec = {};
  }
  trace_.progress(2, "connecting to " + util::format_host_port(at->endpoint.address().to_string(), t.port));
  auto self = shared_from_this();
  auto epoch = epoch_;
  if (ec) {
    asio::post(io_, [self, at, ec, epoch] {
      if (self->epoch_ == epoch && !self->finished_) self->attempt_failed(at, ec);
    });
  } else {
    at->socket.async_connect(at->endpoint, [self, at, epoch](const asio::error_code& e) {
      if (self->epoch_ != epoch || self->finished_) return;
      if (e) {
        self->attempt_failed(at, e);
        return;
      }
      at->done = true;
      Connected c{std::move(at->socket), self->targets_[self->index_]};
      self->finish(std::move(c));
    });
  }
  // RFC 8305 §5: the next address gets its turn after the attempt delay, or at once on failure.
  if (next_ < queue_.size() || pending_lookups_ > 0) {
    delay_.expires_after(prefs_.attempt_delay);
    delay_.async_wait([self, epoch](const asio::error_code& e) {
      if (e || self->epoch_ != epoch || self->finished_) return;
      self->start_attempt();
    });
  }
}

void Connector::attempt_failed(const std::shared_ptr<Attempt>& at, const asio::error_code& ec) {
  if (at->done) return;
  at->done = true;
  asio::error_code ignore;
  at->socket.close(ignore);
  const auto& t = targets_[index_];
  std::string where = util::format_host_port(at->endpoint.address().to_string(), t.port);
  if (where != util::format_host_port(t.host, t.port)) where = util::format_host_port(t.host, t.port) + " (" + at->endpoint.address().to_string() + ")";
  int err = ec.value();
  std::string what;
  if (err == ECONNREFUSED) {
    ++refused_;
    what = "connection refused";
  } else if (err == EHOSTUNREACH || err == ENETUNREACH || err == EADDRNOTAVAIL || err == EAFNOSUPPORT) {
    ++unreachable_;
    what = err == ENETUNREACH ? "network unreachable" : err == EHOSTUNREACH ? "host unreachable" : ec.message();
  } else if (err == ETIMEDOUT) {
    ++timedout_;
    what = "connection timed out";
  } else {
    ++other_;
    what = ec.message();
  }
  connect_errors_.push_back(where + ": " + what);
  trace_.progress(2, where + ": " + what);
  // Failure: start the next address at once rather than waiting for the attempt delay.
  delay_.cancel();
  if (next_ < queue_.size())
    start_attempt();
  else
    check_target_done();
}

void Connector::check_target_done() {
  if (finished_ || pending_lookups_ > 0 || next_ < queue_.size()) return;
  for (const auto& a : attempts_)
    if (!a->done) return;
  ++index_;
  next_target();
}

void Connector::finish(Result<Connected> r) {
  if (finished_) return;
  finished_ = true;
  ++epoch_;
  delay_.cancel();
  resolution_timer_.cancel();
  for (auto& a : attempts_) {
    if (a->done) continue;
    asio::error_code ec;
    a->socket.close(ec);
  }
  attempts_.clear();
  auto done = std::move(done_);
  if (done) done(std::move(r));
}

Error Connector::failure() const {
  auto join = [](const std::vector<std::string>& v) {
    std::string s;
    for (std::size_t i = 0; i < v.size() && i < 6; ++i) s += (i ? "; " : "") + v[i];
    if (v.size() > 6) s += "; and " + std::to_string(v.size() - 6) + " more";
    return s;
  };
  if (connect_errors_.empty()) {
    if (usage_error_ && dns_errors_.empty()) return *usage_error_;
    std::string host = targets_.empty() ? std::string("the server") : targets_.front().host;
    std::string fam = prefs_.family == 4 ? " IPv4" : prefs_.family == 6 ? " IPv6" : "";
    return Error(Category::Dns,
                 "cannot resolve " + (targets_.size() == 1 ? host : "any server of the domain") + ": no" + fam +
                     " address" + (dns_errors_.empty() ? std::string() : " (" + join(dns_errors_) + ")"),
                 prefs_.family ? "check the host name, or drop -" + std::to_string(prefs_.family)
                               : "check the host name, or name the server with --server HOST[:PORT]");
  }
  std::string msg = join(connect_errors_);
  if (connect_errors_.size() == 1 && refused_ == 1)
    return Error(Category::Connect, "connection refused by " + msg.substr(0, msg.rfind(": ")),
                 "is the server running and listening there?");
  if (refused_ > 0)
    return Error(Category::Connect, "cannot connect: " + msg, "is the server running and listening there?");
  if (unreachable_ > 0)
    return Error(Category::Connect, "cannot connect: " + msg, "check the network route to the server");
  if (timedout_ > 0) return Error(Category::Timeout, "cannot connect: " + msg);
  return Error(Category::Connect, "cannot connect: " + msg);
}

}  // namespace xnet::xmpp
