// SPDX-License-Identifier: MIT
#include "server/hub.hpp"

#include <algorithm>

#include "server/crypto.hpp"
#include "server/stanza.hpp"

namespace xnet::server {

// ---------------------------------------------------------------------------------------------
// Hub

namespace {

BuiltinIqOptions builtin_options(const HubOptions& o) {
  BuiltinIqOptions b;
  b.host = IqHost::Server;
  b.jid = o.domain;
  b.name = o.server_name;
  b.external_services = o.external_services;
  return b;
}

}  // namespace

struct Hub::Slot final : ServiceHost {
  Hub& hub;
  std::unique_ptr<Service> svc;
  std::string jid;
  Slot(Hub& h, std::unique_ptr<Service> s, std::string j) : hub(h), svc(std::move(s)), jid(std::move(j)) {}
  asio::io_context& io() override { return *hub.io(); }
  void send(xml::Element stanza) override { hub.route_from_service(std::move(stanza), jid); }
  const std::string& domain() const override { return hub.domain(); }
  const std::string& service_jid() const override { return jid; }
  bool online(const std::string& full_jid) const override { return hub.find_session(full_jid) != nullptr; }
  Trace& trace() override { return hub.trace(); }
};

Hub::Hub(HubOptions options, Accounts accounts, EventLog& log, Trace& trace)
    : opts_(std::move(options)),
      accounts_(std::move(accounts)),
      log_(log),
      trace_(trace),
      iq_(builtin_options(opts_)),
      throttle_(opts_.limits.auth_throttle),
      fake_iterations_(accounts_.typical_iterations()) {
  opts_.domain = normalize_jid(opts_.domain);
  opts_.external_services.clear();  // BuiltinIq holds the list from here on
  if (opts_.server_secret.empty()) opts_.server_secret = crypto::random_bytes(32);
  iq_.set_directory([this](const std::string& bare) { return account_kind(bare); });
}

AccountKind Hub::account_kind(const std::string& bare) const {
  const auto local = jid_local(bare);
  if (!local.empty() && accounts_.find(local, crypto::Hash::Sha256)) return AccountKind::Registered;
  auto it = sessions_.lower_bound(bare + "/");
  if (it == sessions_.end() || bare_jid(it->first) != bare) return AccountKind::None;
  return local.starts_with("anon-") ? AccountKind::Anonymous : AccountKind::Registered;
}

ScramCredential Hub::fake_credential(crypto::Hash h, const std::string& user) const {
  return fake_scram_credential(h, opts_.server_secret, normalize_localpart(user).value_or(user), fake_iterations_);
}

void Hub::reload(std::optional<Accounts> accounts, bool allow_anonymous, std::vector<ExternalService> services) {
  if (accounts) set_accounts(std::move(*accounts));
  opts_.allow_anonymous = allow_anonymous;
  int pushes = reload_external_services(std::move(services));
  log_.event("reload", {{"accounts", accounts_.users().size()},
                        {"anonymous", opts_.allow_anonymous},
                        {"external_services", iq_.external_services().size()},
                        {"pushes", pushes}});
}

Hub::~Hub() = default;

std::string Hub::next_id(std::string_view prefix) {
  return std::string(prefix) + std::to_string(++id_seq_) + "-" + crypto::random_token(10);
}

void Hub::add_service(std::unique_ptr<Service> service) {
  std::string jid = service->name() + "." + opts_.domain;
  auto slot = std::make_unique<Slot>(*this, std::move(service), jid);
  Slot& ref = *slot;
  services_.push_back(std::move(slot));
  iq_.plug(*ref.svc, ref.jid);
  ref.svc->attach(ref);
}

bool Hub::connection_opened(const std::string& ip) {
  int& n = per_ip_[ip];
  if (n >= opts_.limits.max_connections_per_ip) {
    log_.event("limit", {{"limit", "connections_per_ip"}, {"ip", ip}});
    return false;
  }
  ++n;
  return true;
}

void Hub::connection_closed(const std::string& ip) {
  auto it = per_ip_.find(ip);
  if (it != per_ip_.end() && --it->second <= 0) per_ip_.erase(it);
}

void Hub::track(C2sSession* s) {
  s->live_next_ = live_head_;
  if (live_head_) live_head_->live_prev_ = s;
  live_head_ = s;
  ++live_;
}

void Hub::untrack(C2sSession* s) {
  if (s->live_prev_) s->live_prev_->live_next_ = s->live_next_;
  else if (live_head_ == s) live_head_ = s->live_next_;
  else return;  // not tracked
  if (s->live_next_) s->live_next_->live_prev_ = s->live_prev_;
  s->live_prev_ = s->live_next_ = nullptr;
  --live_;
}

Result<void> Hub::bind(C2sSession& s, const std::string& user, const std::string& resource) {
  // The routing table keys on a view of s.jid_: it is set once and never changes while bound.
  if (!s.jid_.empty()) return fail(Category::Input, "not-allowed", "already bound");
  std::string bare = normalize_jid(user + "@" + opts_.domain);
  if (bare.empty()) return fail(Category::Input, "not-allowed", "invalid user name");
  auto counted = per_account_.find(bare);
  if (counted != per_account_.end() && counted->second >= opts_.limits.max_sessions_per_account)
    return fail(Category::Auth, "resource-constraint", "too many sessions for this account");
  std::string res = resource;
  if (!res.empty()) {
    auto n = normalize_jid(bare + "/" + res);
    if (n.empty()) return fail(Category::Input, "bad-request", "invalid resource");
    res = jid_resource(n);
  }
  // A resource in use gets a suffix instead of kicking the other session (RFC 6120 §7.7.2.2).
  if (res.empty() || sessions_.count(bare + "/" + res)) res = (res.empty() ? "xnet" : res) + "-" + crypto::random_token(8);
  s.jid_ = bare + "/" + res;
  sessions_.emplace(s.jid_, &s);
  ++per_account_[bare];
  return {};
}

void Hub::unbind(C2sSession& s) {
  if (s.jid().empty()) return;
  auto it = sessions_.find(s.jid());
  if (it == sessions_.end() || it->second != &s) return;
  sessions_.erase(it);
  if (auto n = per_account_.find(bare_jid(s.jid())); n != per_account_.end() && --n->second <= 0) per_account_.erase(n);
  log_.event("unbind", {{"session", s.id()}, {"jid", s.jid()}});
  iq_.session_ended(s.jid());
}

const C2sSession* Hub::find_session(const std::string& full_jid) const {
  auto it = sessions_.find(normalize_jid(full_jid));
  return it == sessions_.end() ? nullptr : it->second;
}

void Hub::bounce(const xml::Element& stanza, std::string_view condition, C2sSession& from) {
  auto type = stanza.attr_or("type");
  if (type == "error" || type == "result") return;
  if (stanza.name == "presence") return;
  if (stanza.name == "iq" && type != "get" && type != "set") return;
  from.deliver(error_reply(stanza, condition));
}

void Hub::route(xml::Element st, C2sSession& from) {
  const std::string* to = st.attr("to");
  std::string norm = to ? normalize_jid(*to) : std::string();
  if (to && norm.empty()) return bounce(st, "jid-malformed", from);
  const std::string self_bare = bare_jid(from.jid());
  auto type = st.attr_or("type");
  bool iq_request = st.name == "iq" && (type == "get" || type == "set");

  auto resources_of = [&](const std::string& bare) {
    std::vector<C2sSession*> out;
    for (auto it = sessions_.lower_bound(bare + "/"); it != sessions_.end() && bare_jid(it->first) == bare; ++it)
      out.push_back(it->second);
    return out;
  };

  if (!to || norm == opts_.domain || norm == self_bare) {
    if (iq_request) return from.deliver(iq_.answer(st, Origin{from.jid(), from.remote(), true, false}));
    if (st.name == "message" && to && norm == self_bare)
      for (auto* s : resources_of(self_bare)) s->deliver(st);
    return;  // presence broadcast and results addressed to the server are consumed here
  }
  if (const auto* svc = iq_.service_for(st)) {
    const auto local = jid_local(from.jid());
    const bool anon = local.starts_with("anon-") && !accounts_.find(local, crypto::Hash::Sha256);
    if (auto reply = iq_.to_service(*svc, st, Origin{from.jid(), from.remote(), true, anon}))
      route_from_service(std::move(*reply), svc->jid);
    return;
  }
  if (jid_domain(norm) != opts_.domain) return bounce(st, "remote-server-not-found", from);
  std::string target_bare = bare_jid(norm);
  if (norm != target_bare) {  // full JID
    auto it = sessions_.find(norm);
    if (it != sessions_.end()) return it->second->deliver(st);
    if (st.name != "message") return bounce(st, "service-unavailable", from);
  }
  if (st.name == "iq") {
    if (iq_request) from.deliver(iq_.answer(st, Origin{from.jid(), from.remote(), true, false}));
    return;
  }
  auto targets = resources_of(target_bare);
  if (targets.empty()) return bounce(st, "service-unavailable", from);
  for (auto* s : targets) s->deliver(st);
}

void Hub::route_from_service(xml::Element st, const std::string& service_jid) {
  if (st.ns.empty()) st.ns = std::string(kClientNs);
  auto from = st.attr_or("from");
  if (from.empty() || jid_domain(normalize_jid(from)) != service_jid) st.set("from", service_jid);
  auto to = normalize_jid(st.attr_or("to"));
  if (to.empty()) return;
  if (to != bare_jid(to)) {
    auto it = sessions_.find(to);
    if (it != sessions_.end()) it->second->deliver(st);
    return;
  }
  for (auto it = sessions_.lower_bound(to + "/"); it != sessions_.end() && bare_jid(it->first) == to; ++it)
    it->second->deliver(st);
}

int Hub::reload_external_services(std::vector<ExternalService> list) {
  int pushes = 0;
  for (auto& push : iq_.reload(std::move(list))) {
    auto it = sessions_.find(push.attr_or("to"));
    if (it == sessions_.end()) continue;
    it->second->deliver(push);
    ++pushes;
  }
  return pushes;
}

void Hub::shutdown() {
  std::vector<C2sSession*> all;
  all.reserve(live_);
  for (auto* s = live_head_; s; s = s->live_next_) all.push_back(s);
  for (auto* s : all) s->close_with_error("system-shutdown", "server shutting down");
  for (auto& slot : services_) slot->svc->detach();
}

}  // namespace xnet::server
