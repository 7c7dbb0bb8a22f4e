// SPDX-License-Identifier: MIT
// The dns_sd backend (Bonjour's API: mDNSResponder on macOS, Avahi's compatibility library on
// Linux). Every DNSServiceRef is serviced by one thread that select()s on their sockets; all
// dns_sd calls happen under one mutex, because the API is not thread-safe.
#include <arpa/inet.h>
#include <dns_sd.h>
#include <fcntl.h>
#include <net/if.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <memory>
#include <thread>

#include "mdns/backend.hpp"

namespace xnet::mdns {
namespace {

constexpr unsigned kMaxRenames = 64;

std::string if_name(std::uint32_t idx) {
  if (idx == 0) return {};
  char buf[IF_NAMESIZE + 1] = {};
  if (!if_indextoname(idx, buf)) return std::to_string(idx);
  return buf;
}

std::vector<std::string> split_txt(const unsigned char* txt, std::uint16_t len) {
  auto r = split_txt_rdata(std::string_view(reinterpret_cast<const char*>(txt), len));
  return r ? *r : std::vector<std::string>{};
}

// The first label of a full DNS-SD name is the instance; dns_sd escapes dots and backslashes
// (and bytes as \DDD) in it.
std::string host_without_dot(const char* host) {
  std::string h = host ? host : "";
  if (!h.empty() && h.back() == '.') h.pop_back();
  return h;
}

class DnsSdBackend final : public Backend {
 public:
  explicit DnsSdBackend(Trace& trace) : trace_(trace) {}
  ~DnsSdBackend() override {
    stop_ = true;
    wake();
    if (thread_.joinable()) thread_.join();
    std::lock_guard lk(mu_);
    for (auto& [ref, job] : refs_) DNSServiceRefDeallocate(ref);
    refs_.clear();
    if (wake_[0] >= 0) ::close(wake_[0]);
    if (wake_[1] >= 0) ::close(wake_[1]);
  }

  Result<void> start() {
    if (::pipe2(wake_, O_CLOEXEC | O_NONBLOCK) != 0) return fail(Category::Os, "pipe2 failed");
    // Probe the daemon with a harmless browse so a missing daemon is reported up front.
    DNSServiceRef probe = nullptr;
    auto err = DNSServiceBrowse(&probe, 0, 0, "_xnet-probe._tcp", nullptr, &DnsSdBackend::noop_browse_cb, nullptr);
    if (err != kDNSServiceErr_NoError)
      return fail(Category::Daemon, "no mDNS daemon reachable (dns_sd error " + std::to_string(err) + ")", daemon_hint());
    DNSServiceRefDeallocate(probe);
    thread_ = std::thread([this] { loop(); });
    return {};
  }

  std::string_view name() const override { return "dns_sd"; }

  Result<std::string> publish(const ServiceSpec& spec, const RenameRule& rename,
                              std::chrono::milliseconds timeout) override {
    {
      std::lock_guard lk(mu_);
      spec_ = spec;
      rename_ = rename;
      attempts_ = 0;
      pub_state_ = 0;
      if (auto r = register_locked(); !r) return fail(r.error());
    }
    wake();
    std::unique_lock lk(mu_);
    if (!cv_.wait_for(lk, timeout, [&] { return pub_state_ != 0; }))
      return fail(Category::Timeout, "the mDNS daemon did not confirm the announcement of '" + spec_.name + "'");
    if (pub_state_ < 0) return fail(pub_error_);
    return spec_.name;
  }

  Result<void> update_txt(const TxtRecord& txt) override {
    std::lock_guard lk(mu_);
    if (!reg_) return fail(Category::Internal, "update_txt before publish");
    auto wire = encode_txt(txt);
    if (!wire) return fail(wire.error());
    spec_.txt = txt;
    auto err = DNSServiceUpdateRecord(reg_, nullptr, 0, static_cast<std::uint16_t>(wire->size()), wire->data(), 0);
    if (err != kDNSServiceErr_NoError)
      return fail(Category::Daemon, "cannot update the TXT record (dns_sd error " + std::to_string(err) + ")");
    return {};
  }

  void unpublish() override {
    std::lock_guard lk(mu_);
    if (reg_) {
      drop_locked(reg_);
      reg_ = nullptr;
    }
  }

  Result<void> browse(std::string_view type) override {
    {
      std::lock_guard lk(mu_);
      browse_type_ = std::string(type);
      DNSServiceRef ref = nullptr;
      auto err = DNSServiceBrowse(&ref, 0, 0, browse_type_.c_str(), nullptr, &DnsSdBackend::browse_cb, this);
      if (err != kDNSServiceErr_NoError)
        return fail(Category::Daemon, "cannot start browsing (dns_sd error " + std::to_string(err) + ")", daemon_hint());
      refs_[ref] = nullptr;
    }
    wake();
    return {};
  }

  Result<ResolvedService> resolve(std::string_view name, std::string_view type,
                                  std::chrono::milliseconds timeout) override {
    auto job = std::make_shared<Job>();
    job->self = this;
    job->once = true;
    job->name = std::string(name);
    {
      std::lock_guard lk(mu_);
      DNSServiceRef ref = nullptr;
      auto err = DNSServiceResolve(&ref, 0, 0, job->name.c_str(), std::string(type).c_str(), "local.",
                                   &DnsSdBackend::resolve_cb, job.get());
      if (err != kDNSServiceErr_NoError)
        return fail(Category::Daemon, "cannot start resolving (dns_sd error " + std::to_string(err) + ")");
      refs_[ref] = job;
      job->refs.push_back(ref);
    }
    wake();
    std::unique_lock lk(mu_);
    cv_.wait_for(lk, timeout, [&] { return !job->result.addresses.empty(); });
    if (!job->result.addresses.empty())
      cv_.wait_for(lk, std::chrono::milliseconds(150), [&] { return job->result.addresses.size() >= 2; });
    for (auto r : job->refs) drop_locked(r);
    if (job->result.addresses.empty())
      return fail(Category::Dns, "peer '" + job->name + "' not found on the local network",
                  "check the name with 'xnet lan browse'");
    return job->result;
  }

 private:
  // A resolve in progress: the SRV/TXT answer, then A/AAAA queries for its host.
  struct Job {
    DnsSdBackend* self = nullptr;
    bool once = false;  // resolve() rather than browse()
    std::string name, type, domain;
    std::uint32_t if_index = 0;
    std::string host;
    std::uint16_t port = 0;
    std::vector<std::string> txt;
    std::vector<DNSServiceRef> refs;
    std::vector<Address> addresses;  // browse jobs: known so far
    bool querying = false;
    ResolvedService result;
  };

  // A Resolved event for job and address a (mu_ held).
  static void post_resolved(Job* job, const Address& a) {
    BackendEvent e;
    e.kind = BackendEvent::Kind::Resolved;
    e.name = job->name;
    e.type = job->type;
    e.domain = job->domain;
    e.if_index = static_cast<int>(job->if_index);
    e.interface = if_name(job->if_index);
    e.family = a.family;
    e.host = job->host;
    e.port = job->port;
    e.txt = job->txt;
    e.address = a;
    job->self->events_.push(std::move(e));
  }

  void wake() {
    char c = 1;
    [[maybe_unused]] auto n = ::write(wake_[1], &c, 1);
  }

  // mu_ held.
  void drop_locked(DNSServiceRef ref) {
    if (refs_.erase(ref)) DNSServiceRefDeallocate(ref);
  }

  // mu_ held.
  Result<void> register_locked() {
    auto wire = encode_txt(spec_.txt);
    if (!wire) return fail(wire.error());
    if (reg_) drop_locked(reg_);
    reg_ = nullptr;
    // XEP-0174 §3 wants its own rename rule, so ask the daemon not to rename. Avahi's compat
    // library does not support that flag: it then renames by itself and we report its choice.
    auto reg = [&](DNSServiceFlags flags) {
      return DNSServiceRegister(&reg_, flags, 0, spec_.name.c_str(), spec_.type.c_str(), nullptr, nullptr,
                                htons(spec_.port), static_cast<std::uint16_t>(wire->size()), wire->data(),
                                &DnsSdBackend::register_cb, this);
    };
    auto err = no_auto_rename_ ? reg(kDNSServiceFlagsNoAutoRename) : reg(0);
    if (err == kDNSServiceErr_Unsupported && no_auto_rename_) {
      no_auto_rename_ = false;
      err = reg(0);
    }
    // Avahi's compat library reports a name taken on this host right away.
    while (err == kDNSServiceErr_NameConflict && ++attempts_ <= kMaxRenames) {
      spec_.name = rename_(attempts_);
      trace_.progress(1, "mdns: name taken on this host, trying '" + spec_.name + "'");
      err = no_auto_rename_ ? reg(kDNSServiceFlagsNoAutoRename) : reg(0);
    }
    if (err != kDNSServiceErr_NoError)
      return fail(Category::Daemon, "cannot register '" + spec_.name + "' (dns_sd error " + std::to_string(err) + ")",
                  daemon_hint());
    refs_[reg_] = nullptr;
    return {};
  }

  void loop() {
    while (!stop_) {
      fd_set set;
      FD_ZERO(&set);
      int maxfd = wake_[0];
      FD_SET(wake_[0], &set);
      std::vector<std::pair<DNSServiceRef, int>> fds;
      {
        std::lock_guard lk(mu_);
        for (auto& [ref, job] : refs_) {
          int fd = DNSServiceRefSockFD(ref);
          if (fd < 0 || fd >= FD_SETSIZE) continue;
          FD_SET(fd, &set);
          maxfd = std::max(maxfd, fd);
          fds.emplace_back(ref, fd);
        }
      }
      timeval tv{0, 200000};
      int n = ::select(maxfd + 1, &set, nullptr, nullptr, &tv);
      if (n <= 0) continue;
      if (FD_ISSET(wake_[0], &set)) {
        char buf[64];
        while (::read(wake_[0], buf, sizeof buf) > 0) {
        }
      }
      std::lock_guard lk(mu_);
      for (auto& [ref, fd] : fds) {
        if (!FD_ISSET(fd, &set) || !refs_.count(ref)) continue;
        if (DNSServiceProcessResult(ref) != kDNSServiceErr_NoError && ref != reg_) {
          BackendEvent e;
          e.kind = BackendEvent::Kind::Failure;
          e.message = "lost the connection to the mDNS daemon";
          events_.push(std::move(e));
          drop_locked(ref);
        }
      }
      // Renames are done here, outside the callback that reported the conflict.
      if (rename_pending_) {
        rename_pending_ = false;
        if (++attempts_ > kMaxRenames) {
          pub_state_ = -1;
          pub_error_ = Error{Category::Protocol, "too many mDNS name conflicts"};
        } else {
          spec_.name = rename_(attempts_);
          trace_.progress(1, "mdns: name conflict, trying '" + spec_.name + "'");
          if (auto r = register_locked(); !r) {
            pub_state_ = -1;
            pub_error_ = r.error();
          }
        }
        cv_.notify_all();
      }
      cv_.notify_all();
    }
  }

  static void noop_browse_cb(DNSServiceRef, DNSServiceFlags, std::uint32_t, DNSServiceErrorType, const char*,
                             const char*, const char*, void*) {}

  static void register_cb(DNSServiceRef, DNSServiceFlags, DNSServiceErrorType err, const char* name, const char*,
                          const char*, void* ctx) {
    auto* self = static_cast<DnsSdBackend*>(ctx);
    if (err == kDNSServiceErr_NameConflict) {
      self->rename_pending_ = true;
      if (self->pub_state_ == 1) self->renamed_late_ = true;
      return;
    }
    if (err != kDNSServiceErr_NoError) {
      self->pub_state_ = -1;
      self->pub_error_ = Error{Category::Daemon, "publishing failed (dns_sd error " + std::to_string(err) + ")"};
      return;
    }
    if (name) self->spec_.name = name;
    if (self->renamed_late_) {
      self->renamed_late_ = false;
      BackendEvent e;
      e.kind = BackendEvent::Kind::Renamed;
      e.name = self->spec_.name;
      self->events_.push(std::move(e));
    }
    self->pub_state_ = 1;
    self->trace_.progress(1, "mdns: announced '" + self->spec_.name + "'");
  }

  static void browse_cb(DNSServiceRef, DNSServiceFlags flags, std::uint32_t ifindex, DNSServiceErrorType err,
                        const char* name, const char* type, const char* domain, void* ctx) {
    auto* self = static_cast<DnsSdBackend*>(ctx);
    BackendEvent e;
    if (err != kDNSServiceErr_NoError) {
      e.kind = BackendEvent::Kind::Failure;
      e.message = "browsing failed (dns_sd error " + std::to_string(err) + ")";
      self->events_.push(std::move(e));
      return;
    }
    e.name = name ? name : "";
    e.type = type ? type : "";
    e.domain = domain ? domain : "";
    if (!e.type.empty() && e.type.back() == '.') e.type.pop_back();
    if (!e.domain.empty() && e.domain.back() == '.') e.domain.pop_back();
    e.if_index = static_cast<int>(ifindex);
    e.interface = if_name(ifindex);
    std::string key = e.name + '\0' + std::to_string(ifindex);
    if (flags & kDNSServiceFlagsAdd) {
      e.kind = BackendEvent::Kind::Found;
      if (!self->jobs_.count(key)) {
        auto job = std::make_shared<Job>();
        job->self = self;
        job->name = e.name;
        job->type = e.type;
        job->domain = e.domain;
        job->if_index = ifindex;
        DNSServiceRef ref = nullptr;
        if (DNSServiceResolve(&ref, 0, ifindex, name, type, domain, &DnsSdBackend::resolve_cb, job.get()) ==
            kDNSServiceErr_NoError) {
          self->refs_[ref] = job;
          job->refs.push_back(ref);
          self->jobs_[key] = job;
        }
      }
    } else {
      e.kind = BackendEvent::Kind::Removed;
      if (auto it = self->jobs_.find(key); it != self->jobs_.end()) {
        for (auto r : it->second->refs) self->drop_locked(r);
        self->jobs_.erase(it);
      }
    }
    self->events_.push(std::move(e));
  }

  static void resolve_cb(DNSServiceRef, DNSServiceFlags, std::uint32_t ifindex, DNSServiceErrorType err, const char*,
                         const char* host, std::uint16_t port, std::uint16_t txt_len, const unsigned char* txt,
                         void* ctx) {
    auto* job = static_cast<Job*>(ctx);
    if (err != kDNSServiceErr_NoError) return;
    job->host = host_without_dot(host);
    job->port = ntohs(port);
    job->txt = split_txt(txt, txt_len);
    if (job->if_index == 0) job->if_index = ifindex;
    if (job->once) {
      job->result.name = job->name;
      job->result.host = job->host;
      job->result.port = job->port;
      job->result.txt = job->txt;
    }
    if (job->querying) {
      // A later answer (e.g. a TXT change): report it with the addresses already known.
      for (const auto& a : job->addresses) post_resolved(job, a);
      return;
    }
    job->querying = true;
    // Addresses: dns_sd of avahi-compat has no DNSServiceGetAddrInfo, so query A and AAAA.
    for (std::uint16_t rr : {kDNSServiceType_A, kDNSServiceType_AAAA}) {
      DNSServiceRef q = nullptr;
      if (DNSServiceQueryRecord(&q, 0, job->if_index, host, rr, kDNSServiceClass_IN, &DnsSdBackend::addr_cb, job) ==
          kDNSServiceErr_NoError) {
        job->self->refs_[q] = nullptr;
        job->refs.push_back(q);
      }
    }
  }

  static void addr_cb(DNSServiceRef, DNSServiceFlags flags, std::uint32_t ifindex, DNSServiceErrorType err,
                      const char*, std::uint16_t rrtype, std::uint16_t, std::uint16_t len, const void* rdata,
                      std::uint32_t, void* ctx) {
    auto* job = static_cast<Job*>(ctx);
    if (err != kDNSServiceErr_NoError || !(flags & kDNSServiceFlagsAdd)) return;
    Address a;
    char buf[INET6_ADDRSTRLEN] = {};
    if (rrtype == kDNSServiceType_A && len == 4) {
      a.family = AF_INET;
      inet_ntop(AF_INET, rdata, buf, sizeof buf);
    } else if (rrtype == kDNSServiceType_AAAA && len == 16) {
      a.family = AF_INET6;
      inet_ntop(AF_INET6, rdata, buf, sizeof buf);
    } else {
      return;
    }
    a.ip = buf;
    a.interface = if_name(ifindex);
    if (a.family == AF_INET6 && a.ip.rfind("fe80", 0) == 0) a.scope_id = ifindex;
    if (job->once) {
      for (const auto& x : job->result.addresses)
        if (x == a) return;
      job->result.addresses.push_back(a);
      return;
    }
    for (const auto& x : job->addresses)
      if (x == a) return;
    job->addresses.push_back(a);
    post_resolved(job, a);
  }

  Trace& trace_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::thread thread_;
  std::atomic<bool> stop_{false};
  int wake_[2] = {-1, -1};
  std::map<DNSServiceRef, std::shared_ptr<Job>> refs_;
  std::map<std::string, std::shared_ptr<Job>> jobs_;
  std::string browse_type_;
  DNSServiceRef reg_ = nullptr;
  ServiceSpec spec_;
  RenameRule rename_;
  unsigned attempts_ = 0;
  bool rename_pending_ = false;
  bool no_auto_rename_ = true;
  bool renamed_late_ = false;
  int pub_state_ = 0;  // 0 pending, 1 established, -1 failed
  Error pub_error_;
};

}  // namespace

Result<std::unique_ptr<Backend>> make_backend(Trace& trace) {
  auto b = std::make_unique<DnsSdBackend>(trace);
  if (auto r = b->start(); !r) return fail(r.error());
  return std::unique_ptr<Backend>(std::move(b));
}

}  // namespace xnet::mdns
