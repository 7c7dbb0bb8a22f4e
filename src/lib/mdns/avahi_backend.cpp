// SPDX-License-Identifier: MIT
// The default mDNS backend: the Avahi client library over D-Bus, driven by an Avahi threaded
// poll. Every call from the caller's thread takes the poll lock; callbacks already hold it.
#include <avahi-client/client.h>
#include <avahi-client/lookup.h>
#include <avahi-client/publish.h>
#include <avahi-common/address.h>
#include <avahi-common/error.h>
#include <avahi-common/malloc.h>
#include <avahi-common/strlst.h>
#include <avahi-common/thread-watch.h>
#include <net/if.h>
#include <sys/socket.h>

#include <list>
#include <map>
#include <tuple>

#include "mdns/backend.hpp"

namespace xnet::mdns {
namespace {

constexpr unsigned kMaxRenames = 64;

int to_family(AvahiProtocol p) {
  return p == AVAHI_PROTO_INET ? AF_INET : p == AVAHI_PROTO_INET6 ? AF_INET6 : 0;
}

std::string if_name(AvahiIfIndex idx) {
  if (idx < 0) return {};
  char buf[IF_NAMESIZE + 1] = {};
  if (!if_indextoname(static_cast<unsigned>(idx), buf)) return std::to_string(idx);
  return buf;
}

std::vector<std::string> txt_strings(AvahiStringList* l) {
  std::vector<std::string> out;
  for (; l; l = avahi_string_list_get_next(l))
    out.emplace_back(reinterpret_cast<const char*>(avahi_string_list_get_text(l)),
                     avahi_string_list_get_size(l));
  return out;
}

// avahi_string_list_add_arbitrary prepends and Avahi serializes the list in reverse, so adding
// in order puts the strings on the wire in order (txtvers first; checked with a packet capture).
AvahiStringList* to_strlst(const TxtRecord& txt) {
  AvahiStringList* l = nullptr;
  for (const auto& s : txt.strings())
    l = avahi_string_list_add_arbitrary(l, reinterpret_cast<const std::uint8_t*>(s.data()), s.size());
  return l;
}

Address to_address(const AvahiAddress* a, AvahiIfIndex idx) {
  char buf[AVAHI_ADDRESS_STR_MAX] = {};
  avahi_address_snprint(buf, sizeof buf, a);
  Address out;
  out.ip = buf;
  out.family = a->proto == AVAHI_PROTO_INET ? AF_INET : AF_INET6;
  out.interface = if_name(idx);
  if (out.family == AF_INET6 && out.ip.rfind("fe80", 0) == 0 && idx >= 0)
    out.scope_id = static_cast<unsigned>(idx);
  return out;
}

Error avahi_error(Category c, const std::string& what, int err) {
  return Error{c, what + ": " + avahi_strerror(err)};
}

class AvahiBackend final : public Backend {
 public:
  explicit AvahiBackend(Trace& trace) : trace_(trace) {}
  ~AvahiBackend() override {
    if (poll_) avahi_threaded_poll_stop(poll_);
    resolvers_.clear();
    for (auto* r : resolver_list_) avahi_service_resolver_free(r);
    if (browser_) avahi_service_browser_free(browser_);
    if (group_) avahi_entry_group_free(group_);
    if (client_) avahi_client_free(client_);
    if (poll_) avahi_threaded_poll_free(poll_);
  }

  Result<void> start() {
    poll_ = avahi_threaded_poll_new();
    if (!poll_) return fail(Category::Os, "cannot create the Avahi poll loop");
    int err = 0;
    client_ = avahi_client_new(avahi_threaded_poll_get(poll_), AvahiClientFlags(0), &AvahiBackend::client_cb,
                               this, &err);
    if (!client_)
      return fail(Category::Daemon, std::string("no mDNS daemon reachable (Avahi: ") + avahi_strerror(err) + ")",
                  daemon_hint());
    if (avahi_threaded_poll_start(poll_) < 0) return fail(Category::Os, "cannot start the Avahi poll thread");
    trace_.progress(2, std::string("mdns: connected to avahi-daemon ") +
                           (avahi_client_get_version_string(client_) ? avahi_client_get_version_string(client_) : ""));
    return {};
  }

  std::string_view name() const override { return "avahi"; }

  Result<std::string> publish(const ServiceSpec& spec, const RenameRule& rename,
                              std::chrono::milliseconds timeout) override {
    {
      std::lock_guard lk(state_mu_);
      pub_state_ = PubState::Pending;
      pub_error_.reset();
    }
    {
      Lock l(poll_);
      spec_ = spec;
      rename_ = rename;
      attempts_ = 0;
      if (!group_) group_ = avahi_entry_group_new(client_, &AvahiBackend::group_cb, this);
      if (!group_)
        return fail(avahi_error(Category::Daemon, "cannot create an Avahi entry group", avahi_client_errno(client_)));
      if (auto r = add_locked(); !r) return fail(r.error());
    }
    bool done;
    {
      std::unique_lock lk(state_mu_);
      done = state_cv_.wait_for(lk, timeout, [&] { return pub_state_ != PubState::Pending; });
    }
    if (!done)
      return fail(Category::Timeout, "the mDNS daemon did not confirm the announcement of '" + current_name() +
                                         "' within " + std::to_string(timeout.count()) + " ms");
    std::unique_lock lk(state_mu_);
    if (pub_state_ == PubState::Failed) return fail(pub_error_.value_or(Error{Category::Daemon, "publishing failed"}));
    lk.unlock();
    return current_name();
  }

  Result<void> update_txt(const TxtRecord& txt) override {
    Lock l(poll_);
    if (!group_) return fail(Category::Internal, "update_txt before publish");
    spec_.txt = txt;
    AvahiStringList* lst = to_strlst(txt);
    int r = avahi_entry_group_update_service_txt_strlst(group_, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC, AvahiPublishFlags(0),
                                                        spec_.name.c_str(), spec_.type.c_str(), nullptr, lst);
    avahi_string_list_free(lst);
    if (r < 0) return fail(avahi_error(Category::Daemon, "cannot update the TXT record", r));
    return {};
  }

  void unpublish() override {
    Lock l(poll_);
    if (group_) {
      avahi_entry_group_free(group_);
      group_ = nullptr;
    }
  }

  Result<void> browse(std::string_view type) override {
    Lock l(poll_);
    if (browser_) return fail(Category::Internal, "browse() called twice");
    browse_type_ = std::string(type);
    browser_ = avahi_service_browser_new(client_, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC, browse_type_.c_str(), nullptr,
                                         AvahiLookupFlags(0), &AvahiBackend::browse_cb, this);
    if (!browser_) return fail(avahi_error(Category::Daemon, "cannot start browsing", avahi_client_errno(client_)));
    return {};
  }

  Result<ResolvedService> resolve(std::string_view name, std::string_view type,
                                  std::chrono::milliseconds timeout) override {
    auto job = std::make_shared<ResolveJob>();
    std::vector<AvahiServiceResolver*> rs;
    {
      Lock l(poll_);
      job->name = std::string(name);
      for (AvahiProtocol ap : {AVAHI_PROTO_INET, AVAHI_PROTO_INET6}) {
        auto* r = avahi_service_resolver_new(client_, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC, job->name.c_str(),
                                             std::string(type).c_str(), nullptr, ap, AvahiLookupFlags(0),
                                             &AvahiBackend::resolve_once_cb, job.get());
        if (r) rs.push_back(r);
      }
      if (rs.empty()) return fail(avahi_error(Category::Daemon, "cannot start resolving", avahi_client_errno(client_)));
      job->pending = static_cast<int>(rs.size());
    }
    auto deadline = std::chrono::steady_clock::now() + timeout;
    {
      std::unique_lock lk(job->mu);
      job->cv.wait_until(lk, deadline, [&] { return job->pending == 0 || !job->result.addresses.empty(); });
      // A second address family usually follows within milliseconds; wait a little for it.
      if (job->pending > 0 && !job->result.addresses.empty())
        job->cv.wait_for(lk, std::chrono::milliseconds(150), [&] { return job->pending == 0; });
    }
    {
      Lock l(poll_);
      for (auto* r : rs) avahi_service_resolver_free(r);
    }
    std::lock_guard lk(job->mu);
    if (job->result.addresses.empty())
      return fail(Category::Dns, "peer '" + job->name + "' not found on the local network" +
                                     (job->error.empty() ? "" : " (" + job->error + ")"),
                  "check the name with 'xnet lan browse'");
    return job->result;
  }

 private:
  struct Lock {
    explicit Lock(AvahiThreadedPoll* p) : p_(p) {
      if (!in_callback_) avahi_threaded_poll_lock(p_);
    }
    ~Lock() {
      if (!in_callback_) avahi_threaded_poll_unlock(p_);
    }
    AvahiThreadedPoll* p_;
    static thread_local bool in_callback_;
  };
  struct CallbackScope {
    CallbackScope() { Lock::in_callback_ = true; }
    ~CallbackScope() { Lock::in_callback_ = false; }
  };
  enum class PubState { Pending, Established, Failed };
  struct ResolveJob {
    std::mutex mu;
    std::condition_variable cv;
    std::string name;
    int pending = 0;
    ResolvedService result;
    std::string error;
  };
  using Key = std::tuple<AvahiIfIndex, AvahiProtocol, std::string, std::string, std::string>;

  std::string current_name() {
    Lock l(poll_);
    return spec_.name;
  }

  // Caller holds the poll lock.
  Result<void> add_locked() {
    for (;;) {
      AvahiStringList* lst = to_strlst(spec_.txt);
      if (trace_.enabled(TraceArea::Mdns)) {
        std::string t = "publish '" + spec_.name + "' " + spec_.type + " port " + std::to_string(spec_.port) + " txt";
        for (const auto& s : spec_.txt.strings()) t += " \"" + s + "\"";
        trace_.wire(TraceArea::Mdns, TraceDir::Sent, t);
      }
      int r = avahi_entry_group_add_service_strlst(group_, AVAHI_IF_UNSPEC, AVAHI_PROTO_UNSPEC, AvahiPublishFlags(0),
                                                   spec_.name.c_str(), spec_.type.c_str(), nullptr, nullptr,
                                                   spec_.port, lst);
      avahi_string_list_free(lst);
      if (r == AVAHI_ERR_COLLISION) {
        // The name is already registered on this host (another local announcer).
        if (++attempts_ > kMaxRenames) return fail(Category::Protocol, "too many name conflicts");
        std::string next = rename_(attempts_);
        trace_.progress(1, "mdns: '" + spec_.name + "' is taken on this host, trying '" + next + "'");
        spec_.name = next;
        continue;
      }
      if (r < 0) return fail(avahi_error(Category::Daemon, "cannot add the service '" + spec_.name + "'", r));
      r = avahi_entry_group_commit(group_);
      if (r < 0) return fail(avahi_error(Category::Daemon, "cannot commit the service", r));
      return {};
    }
  }

  void set_pub(PubState s, std::optional<Error> e = {}) {
    {
      std::lock_guard lk(state_mu_);
      pub_state_ = s;
      if (e) pub_error_ = e;
    }
    state_cv_.notify_all();
  }

  static void client_cb(AvahiClient* c, AvahiClientState state, void* ud) {
    auto* self = static_cast<AvahiBackend*>(ud);
    CallbackScope scope;
    if (state == AVAHI_CLIENT_FAILURE) {
      BackendEvent e;
      e.kind = BackendEvent::Kind::Failure;
      e.message = std::string("lost the connection to the mDNS daemon: ") + avahi_strerror(avahi_client_errno(c));
      self->events_.push(std::move(e));
      self->set_pub(PubState::Failed, Error{Category::Daemon, "lost the connection to the mDNS daemon", daemon_hint()});
    }
  }

  static void group_cb(AvahiEntryGroup* g, AvahiEntryGroupState state, void* ud) {
    auto* self = static_cast<AvahiBackend*>(ud);
    CallbackScope scope;
    if (g != self->group_ && self->group_ != nullptr) return;
    switch (state) {
      case AVAHI_ENTRY_GROUP_ESTABLISHED: {
        bool was_established;
        {
          std::lock_guard lk(self->state_mu_);
          was_established = self->ever_established_;
          self->ever_established_ = true;
        }
        self->trace_.progress(1, "mdns: announced '" + self->spec_.name + "'");
        if (was_established && self->renamed_late_) {
          BackendEvent e;
          e.kind = BackendEvent::Kind::Renamed;
          e.name = self->spec_.name;
          self->events_.push(std::move(e));
          self->renamed_late_ = false;
        }
        self->set_pub(PubState::Established);
        break;
      }
      case AVAHI_ENTRY_GROUP_COLLISION: {
        // RFC 6762 §9 / XEP-0174 §3: somebody else on the link owns the name; pick the next one.
        if (++self->attempts_ > kMaxRenames) {
          self->set_pub(PubState::Failed, Error{Category::Protocol, "too many mDNS name conflicts"});
          break;
        }
        std::string next = self->rename_(self->attempts_);
        self->trace_.progress(1, "mdns: name conflict on '" + self->spec_.name + "', trying '" + next + "'");
        self->spec_.name = next;
        {
          std::lock_guard lk(self->state_mu_);
          if (self->ever_established_) self->renamed_late_ = true;
        }
        avahi_entry_group_reset(g);
        if (auto r = self->add_locked(); !r) self->set_pub(PubState::Failed, r.error());
        break;
      }
      case AVAHI_ENTRY_GROUP_FAILURE:
        self->set_pub(PubState::Failed,
                      avahi_error(Category::Daemon, "publishing failed", avahi_client_errno(avahi_entry_group_get_client(g))));
        break;
      default:
        break;
    }
  }

  static void browse_cb(AvahiServiceBrowser*, AvahiIfIndex iface, AvahiProtocol proto, AvahiBrowserEvent event,
                        const char* name, const char* type, const char* domain, AvahiLookupResultFlags flags,
                        void* ud) {
    auto* self = static_cast<AvahiBackend*>(ud);
    CallbackScope scope;
    BackendEvent e;
    e.if_index = iface;
    e.interface = if_name(iface);
    e.family = to_family(proto);
    if (name) e.name = name;
    if (type) e.type = type;
    if (domain) e.domain = domain;
    e.local = flags & AVAHI_LOOKUP_RESULT_LOCAL;
    e.own = flags & AVAHI_LOOKUP_RESULT_OUR_OWN;
    if (self->trace_.enabled(TraceArea::Mdns)) {
      const char* what = event == AVAHI_BROWSER_NEW      ? "NEW"
                         : event == AVAHI_BROWSER_REMOVE ? "REMOVE"
                         : event == AVAHI_BROWSER_ALL_FOR_NOW ? "ALL_FOR_NOW"
                         : event == AVAHI_BROWSER_CACHE_EXHAUSTED ? "CACHE_EXHAUSTED"
                                                                  : "FAILURE";
      self->trace_.wire(TraceArea::Mdns, TraceDir::Received,
                        std::string("browse ") + what +
                            (e.name.empty() ? "" : " '" + e.name + "' on " + e.interface) +
                            (e.family == AF_INET6 ? " IPv6" : e.family == AF_INET ? " IPv4" : ""));
    }
    switch (event) {
      case AVAHI_BROWSER_NEW: {
        Key key{iface, proto, e.name, e.type, e.domain};
        if (!self->resolvers_.count(key)) {
          auto* r = avahi_service_resolver_new(self->client_, iface, proto, name, type, domain, proto,
                                               AvahiLookupFlags(0), &AvahiBackend::resolve_cb, self);
          if (r) {
            self->resolver_list_.push_back(r);
            self->resolvers_[key] = r;
          }
        }
        e.kind = BackendEvent::Kind::Found;
        self->events_.push(std::move(e));
        break;
      }
      case AVAHI_BROWSER_REMOVE: {
        Key key{iface, proto, e.name, e.type, e.domain};
        if (auto it = self->resolvers_.find(key); it != self->resolvers_.end()) {
          self->resolver_list_.remove(it->second);
          avahi_service_resolver_free(it->second);
          self->resolvers_.erase(it);
        }
        e.kind = BackendEvent::Kind::Removed;
        self->events_.push(std::move(e));
        break;
      }
      case AVAHI_BROWSER_ALL_FOR_NOW:
        e.kind = BackendEvent::Kind::AllForNow;
        self->events_.push(std::move(e));
        break;
      case AVAHI_BROWSER_FAILURE:
        e.kind = BackendEvent::Kind::Failure;
        e.message = std::string("browsing failed: ") + avahi_strerror(avahi_client_errno(self->client_));
        self->events_.push(std::move(e));
        break;
      default:
        break;
    }
  }

  static void resolve_cb(AvahiServiceResolver*, AvahiIfIndex iface, AvahiProtocol proto, AvahiResolverEvent event,
                         const char* name, const char* type, const char* domain, const char* host,
                         const AvahiAddress* addr, uint16_t port, AvahiStringList* txt, AvahiLookupResultFlags flags,
                         void* ud) {
    auto* self = static_cast<AvahiBackend*>(ud);
    CallbackScope scope;
    BackendEvent e;
    e.kind = event == AVAHI_RESOLVER_FOUND ? BackendEvent::Kind::Resolved : BackendEvent::Kind::Unresolved;
    e.if_index = iface;
    e.interface = if_name(iface);
    e.family = to_family(proto);
    if (name) e.name = name;
    if (type) e.type = type;
    if (domain) e.domain = domain;
    if (host) e.host = host;
    if (addr) e.address = to_address(addr, iface);
    e.port = port;
    e.txt = txt_strings(txt);
    e.local = flags & AVAHI_LOOKUP_RESULT_LOCAL;
    e.own = flags & AVAHI_LOOKUP_RESULT_OUR_OWN;
    if (self->trace_.enabled(TraceArea::Mdns)) {
      std::string t = "resolve '" + e.name + "' on " + e.interface + ": ";
      if (e.kind == BackendEvent::Kind::Resolved) {
        t += e.host + " port " + std::to_string(e.port) + (e.address ? " " + e.address->str() : "") + " txt";
        for (const auto& s : e.txt) t += " \"" + s + "\"";
      } else {
        t += std::string("failed: ") + avahi_strerror(avahi_client_errno(self->client_));
      }
      self->trace_.wire(TraceArea::Mdns, TraceDir::Received, t);
    }
    self->events_.push(std::move(e));
  }

  static void resolve_once_cb(AvahiServiceResolver*, AvahiIfIndex iface, AvahiProtocol, AvahiResolverEvent event,
                              const char* name, const char*, const char*, const char* host, const AvahiAddress* addr,
                              uint16_t port, AvahiStringList* txt, AvahiLookupResultFlags, void* ud) {
    auto* job = static_cast<ResolveJob*>(ud);
    {
      std::lock_guard lk(job->mu);
      if (job->pending <= 0) return;
      --job->pending;
      if (event == AVAHI_RESOLVER_FOUND && addr) {
        auto& r = job->result;
        if (r.addresses.empty()) {
          r.name = name ? name : "";
          r.host = host ? host : "";
          r.port = port;
          r.txt = txt_strings(txt);
        }
        auto a = to_address(addr, iface);
        bool dup = false;
        for (const auto& x : r.addresses) dup = dup || x == a;
        if (!dup) r.addresses.push_back(a);
      } else if (event == AVAHI_RESOLVER_FAILURE) {
        job->error = "no answer";
      }
    }
    job->cv.notify_all();
  }

  Trace& trace_;
  AvahiThreadedPoll* poll_ = nullptr;
  AvahiClient* client_ = nullptr;
  AvahiEntryGroup* group_ = nullptr;
  AvahiServiceBrowser* browser_ = nullptr;
  std::string browse_type_;
  std::map<Key, AvahiServiceResolver*> resolvers_;
  std::list<AvahiServiceResolver*> resolver_list_;
  ServiceSpec spec_;
  RenameRule rename_;
  unsigned attempts_ = 0;
  bool renamed_late_ = false;

  std::mutex state_mu_;
  std::condition_variable state_cv_;
  PubState pub_state_ = PubState::Pending;
  bool ever_established_ = false;
  std::optional<Error> pub_error_;
};

thread_local bool AvahiBackend::Lock::in_callback_ = false;

}  // namespace

Result<std::unique_ptr<Backend>> make_backend(Trace& trace) {
  auto b = std::make_unique<AvahiBackend>(trace);
  if (auto r = b->start(); !r) return fail(r.error());
  return std::unique_ptr<Backend>(std::move(b));
}

}  // namespace xnet::mdns
