// SPDX-License-Identifier: MIT
#include "xmpp/resolve.hpp"

#include <ares.h>
#include <arpa/inet.h>
#include <netinet/in.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <mutex>
#include <numeric>

#include <asio/post.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/steady_timer.hpp>

namespace xnet::xmpp {

std::vector<SrvRecord> order_srv(std::vector<SrvRecord> records, std::mt19937& rng) {
  std::stable_sort(records.begin(), records.end(),
                   [](const SrvRecord& a, const SrvRecord& b) { return a.priority < b.priority; });
  std::vector<SrvRecord> out;
  out.reserve(records.size());
  auto it = records.begin();
  while (it != records.end()) {
    auto end = std::find_if(it, records.end(), [&](const SrvRecord& r) { return r.priority != it->priority; });
    std::vector<SrvRecord> group(std::make_move_iterator(it), std::make_move_iterator(end));
    // RFC 2782: zero-weight records first, then pick by running sum until the group is empty.
    std::stable_partition(group.begin(), group.end(), [](const SrvRecord& r) { return r.weight == 0; });
    while (!group.empty()) {
      std::uint64_t total = 0;
      for (const auto& r : group) total += r.weight;
      std::uint64_t pick = total ? std::uniform_int_distribution<std::uint64_t>(0, total)(rng) : 0;
      std::size_t i = 0;
      std::uint64_t sum = 0;
      for (; i < group.size(); ++i) {
        sum += group[i].weight;
        if (sum >= pick) break;
      }
      if (i == group.size()) i = group.size() - 1;
      out.push_back(std::move(group[i]));
      group.erase(group.begin() + static_cast<std::ptrdiff_t>(i));
    }
    it = end;
  }
  return out;
}

Result<std::vector<ConnectTarget>> plan_targets(const std::string& domain, const SrvAnswer& xmpps,
                                                const SrvAnswer& xmpp, bool direct_only, std::mt19937& rng) {
  std::vector<SrvRecord> merged;
  if (xmpps.kind == SrvAnswer::Kind::Records) merged = xmpps.records;
  if (!direct_only && xmpp.kind == SrvAnswer::Kind::Records)
    merged.insert(merged.end(), xmpp.records.begin(), xmpp.records.end());
  std::vector<ConnectTarget> out;
  if (!merged.empty()) {
    for (auto& r : order_srv(std::move(merged), rng))
      out.push_back(ConnectTarget{r.target, r.port, r.direct_tls, true});
    return out;
  }
  // No usable record. "." for STARTTLS means no client service at all (RFC 6120 §3.2.1); a
  // published direct-TLS SRV set shows the domain uses SRV, so no guessing either (XEP-0368).
  if (direct_only) {
    if (xmpps.kind == SrvAnswer::Kind::NotOffered)
      return fail(Category::Dns, domain + " publishes that it offers no direct-TLS XMPP service (SRV target \".\")",
                  "connect without --direct-tls, or name the host with --server HOST:PORT");
    return std::vector<ConnectTarget>{ConnectTarget{domain, 5223, true, false}};
  }
  if (xmpp.kind == SrvAnswer::Kind::NotOffered)
    return fail(Category::Dns, domain + " publishes that it offers no XMPP client service (SRV target \".\")",
                "name the host with --server HOST[:PORT]");
  return std::vector<ConnectTarget>{ConnectTarget{domain, 5222, false, false}};
}

namespace {
std::once_flag g_ares_init;
int g_ares_init_status = ARES_SUCCESS;
}  // namespace

struct Resolver::Impl : std::enable_shared_from_this<Impl> {
  struct Watch {
    asio::posix::stream_descriptor sd;
    bool want_read = false, want_write = false;
    bool reading = false, writing = false;
    bool alive = true;
    explicit Watch(asio::io_context& io, int fd) : sd(io, fd) {}
  };

  asio::io_context& io;
  ares_channel ch = nullptr;
  std::string init_err;
  std::map<ares_socket_t, std::shared_ptr<Watch>> watches;
  asio::steady_timer timer;
  std::uint64_t generation = 0;

  explicit Impl(asio::io_context& ctx) : io(ctx), timer(ctx) {}

  void init() {
    std::call_once(g_ares_init, [] { g_ares_init_status = ares_library_init(ARES_LIB_INIT_ALL); });
    if (g_ares_init_status != ARES_SUCCESS) {
      init_err = std::string("c-ares: ") + ares_strerror(g_ares_init_status);
      return;
    }
    ares_options opts{};
    opts.sock_state_cb = &Impl::sock_state;
    opts.sock_state_cb_data = this;
    int st = ares_init_options(&ch, &opts, ARES_OPT_SOCK_STATE_CB);
    if (st != ARES_SUCCESS) {
      ch = nullptr;
      init_err = std::string("cannot set up the DNS resolver: ") + ares_strerror(st);
    }
  }

  void shutdown() {
    ++generation;
    if (ch) {
      ares_destroy(ch);  // calls outstanding callbacks with ARES_EDESTRUCTION (ignored)
      ch = nullptr;
    }
    for (auto& [fd, w] : watches) release(*w);
    watches.clear();
    timer.cancel();
  }

  static void release(Watch& w) {
    w.alive = false;
    asio::error_code ec;
    w.sd.cancel(ec);
    (void)w.sd.release();  // c-ares owns and closes the descriptor
  }

  static void sock_state(void* data, ares_socket_t fd, int readable, int writable) {
    auto* self = static_cast<Impl*>(data);
    auto it = self->watches.find(fd);
    if (!readable && !writable) {
      if (it != self->watches.end()) {
        release(*it->second);
        self->watches.erase(it);
      }
      return;
    }
    if (it == self->watches.end()) it = self->watches.emplace(fd, std::make_shared<Watch>(self->io, fd)).first;
    it->second->want_read = readable;
    it->second->want_write = writable;
    self->arm(fd, it->second);
  }

  void arm(ares_socket_t fd, const std::shared_ptr<Watch>& w) {
    auto weak = weak_from_this();
    if (w->want_read && !w->reading) {
      w->reading = true;
      w->sd.async_wait(asio::posix::stream_descriptor::wait_read, [weak, w, fd](const asio::error_code& ec) {
        w->reading = false;
        auto self = weak.lock();
        if (!self || !w->alive || ec || !self->ch) return;
        ares_process_fd(self->ch, fd, ARES_SOCKET_BAD);
        if (w->alive) self->arm(fd, w);
        self->schedule();
      });
    }
    if (w->want_write && !w->writing) {
      w->writing = true;
      w->sd.async_wait(asio::posix::stream_descriptor::wait_write, [weak, w, fd](const asio::error_code& ec) {
        w->writing = false;
        auto self = weak.lock();
        if (!self || !w->alive || ec || !self->ch) return;
        ares_process_fd(self->ch, ARES_SOCKET_BAD, fd);
        if (w->alive) self->arm(fd, w);
        self->schedule();
      });
    }
  }

  // Arm the timer for c-ares' next retransmission or timeout.
  void schedule() {
    if (!ch) return;
    timeval tv{};
    timeval* next = ares_timeout(ch, nullptr, &tv);
    if (!next) {
      timer.cancel();
      return;
    }
    timer.expires_after(std::chrono::seconds(next->tv_sec) + std::chrono::microseconds(next->tv_usec));
    auto weak = weak_from_this();
    timer.async_wait([weak](const asio::error_code& ec) {
      auto self = weak.lock();
      if (!self || ec || !self->ch) return;
      ares_process_fd(self->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
      self->schedule();
    });
  }

  // Deliver a result on the loop, outside c-ares' call stack, unless cancelled meanwhile.
  template <class F>
  void deliver(std::uint64_t gen, F&& f) {
    auto weak = weak_from_this();
    asio::post(io, [weak, gen, f = std::forward<F>(f)]() mutable {
      auto self = weak.lock();
      if (!self || self->generation != gen) return;
      f();
    });
  }

  struct SrvCall {
    std::shared_ptr<Impl> self;
    std::uint64_t gen;
    bool direct_tls;
    std::function<void(SrvAnswer)> done;
  };
  struct AddrCall {
    std::shared_ptr<Impl> self;
    std::uint64_t gen;
    std::function<void(AddressAnswer)> done;
  };

  static void srv_cb(void* arg, int status, int, unsigned char* abuf, int alen) {
    std::unique_ptr<SrvCall> call(static_cast<SrvCall*>(arg));
    if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) return;
    SrvAnswer a;
    if (status == ARES_ENOTFOUND || status == ARES_ENODATA) {
      a.kind = SrvAnswer::Kind::None;
    } else if (status != ARES_SUCCESS) {
      a.kind = SrvAnswer::Kind::Failed;
      a.error = ares_strerror(status);
    } else {
      ares_srv_reply* reply = nullptr;
      int pst = ares_parse_srv_reply(abuf, alen, &reply);
      if (pst == ARES_ENODATA) {
        a.kind = SrvAnswer::Kind::None;
      } else if (pst != ARES_SUCCESS) {
        a.kind = SrvAnswer::Kind::Failed;
        a.error = std::string("bad SRV answer: ") + ares_strerror(pst);
      } else {
        for (auto* r = reply; r; r = r->next) {
          std::string host = r->host ? r->host : "";
          a.records.push_back(SrvRecord{host, r->port, r->priority, r->weight, call->direct_tls});
        }
        ares_free_data(reply);
        // RFC 2782: a single record with target "." means "not offered".
        if (a.records.size() == 1 && (a.records[0].target.empty() || a.records[0].target == ".")) {
          a.kind = SrvAnswer::Kind::NotOffered;
          a.records.clear();
        } else {
          std::erase_if(a.records, [](const SrvRecord& r) { return r.target.empty() || r.target == "." || !r.port; });
          a.kind = a.records.empty() ? SrvAnswer::Kind::None : SrvAnswer::Kind::Records;
        }
      }
    }
    auto self = call->self;
    self->deliver(call->gen, [done = std::move(call->done), a = std::move(a)]() mutable { done(std::move(a)); });
  }

  static void addr_cb(void* arg, int status, int, ares_addrinfo* res) {
    std::unique_ptr<AddrCall> call(static_cast<AddrCall*>(arg));
    if (status == ARES_EDESTRUCTION || status == ARES_ECANCELLED) {
      if (res) ares_freeaddrinfo(res);
      return;
    }
    AddressAnswer a;
    a.status = status;
    if (status != ARES_SUCCESS) {
      a.error = ares_strerror(status);
      a.not_found = status == ARES_ENOTFOUND || status == ARES_ENODATA;
    } else if (res) {
      for (auto* n = res->nodes; n; n = n->ai_next) {
        asio::ip::address addr;
        if (n->ai_family == AF_INET) {
          const auto* sa = reinterpret_cast<const sockaddr_in*>(n->ai_addr);
          asio::ip::address_v4::bytes_type b;
          std::memcpy(b.data(), &sa->sin_addr, 4);
          addr = asio::ip::address_v4(b);
        } else if (n->ai_family == AF_INET6) {
          const auto* sa = reinterpret_cast<const sockaddr_in6*>(n->ai_addr);
          asio::ip::address_v6::bytes_type b;
          std::memcpy(b.data(), &sa->sin6_addr, 16);
          addr = asio::ip::address_v6(b, sa->sin6_scope_id);
        } else {
          continue;
        }
        if (std::find(a.addresses.begin(), a.addresses.end(), addr) == a.addresses.end()) a.addresses.push_back(addr);
      }
    }
    if (res) ares_freeaddrinfo(res);
    if (status == ARES_SUCCESS && a.addresses.empty()) {
      a.status = ARES_ENODATA;
      a.error = ares_strerror(ARES_ENODATA);
      a.not_found = true;
    }
    auto self = call->self;
    self->deliver(call->gen, [done = std::move(call->done), a = std::move(a)]() mutable { done(std::move(a)); });
  }
};

Resolver::Resolver(asio::io_context& io) : impl_(std::make_shared<Impl>(io)) { impl_->init(); }

Resolver::~Resolver() { impl_->shutdown(); }

bool Resolver::ok() const { return impl_->ch != nullptr; }
const std::string& Resolver::init_error() const { return impl_->init_err; }

void Resolver::srv(const std::string& name, std::function<void(SrvAnswer)> done) {
  auto& m = *impl_;
  if (!m.ch) {
    SrvAnswer a;
    a.kind = SrvAnswer::Kind::Failed;
    a.error = m.init_err;
    m.deliver(m.generation, [done = std::move(done), a = std::move(a)]() mutable { done(std::move(a)); });
    return;
  }
  bool direct = name.starts_with("_xmpps-");
  auto* call = new Impl::SrvCall{impl_, m.generation, direct, std::move(done)};
  ares_query(m.ch, name.c_str(), 1 /* C_IN */, 33 /* T_SRV */, &Impl::srv_cb, call);
  m.schedule();
}

void Resolver::addresses(const std::string& host, int family, std::function<void(AddressAnswer)> done) {
  auto& m = *impl_;
  if (!m.ch) {
    AddressAnswer a;
    a.status = ARES_ENOTINITIALIZED;
    a.error = m.init_err;
    m.deliver(m.generation, [done = std::move(done), a = std::move(a)]() mutable { done(std::move(a)); });
    return;
  }
  ares_addrinfo_hints hints{};
  hints.ai_family = family == 6 ? AF_INET6 : AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = ARES_AI_NOSORT;
  auto* call = new Impl::AddrCall{impl_, m.generation, std::move(done)};
  ares_getaddrinfo(m.ch, host.c_str(), nullptr, &hints, &Impl::addr_cb, call);
  m.schedule();
}

void Resolver::cancel() {
  auto& m = *impl_;
  ++m.generation;
  if (m.ch) ares_cancel(m.ch);
}

}  // namespace xnet::xmpp
