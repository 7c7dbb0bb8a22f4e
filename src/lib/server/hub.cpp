// SPDX-License-Identifier: MIT
#include "server/hub.hpp"

#include <algorithm>
#include <ctime>

#include "server/crypto.hpp"
#include "server/stanza.hpp"
#include "xep/xep0030.hpp"
#include "xep/xep0279.hpp"

namespace xnet::server {

namespace {

long long unix_now() { return static_cast<long long>(std::time(nullptr)); }

}  // namespace

// ---------------------------------------------------------------------------------------------
// Hub

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
      throttle_(opts_.limits.auth_throttle),
      fake_iterations_(accounts_.typical_iterations()) {
  opts_.domain = normalize_jid(opts_.domain);
  if (opts_.server_secret.empty()) opts_.server_secret = crypto::random_bytes(32);
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
                        {"external_services", opts_.external_services.size()},
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

Result<std::string> Hub::bind(C2sSession& s, const std::string& user, const std::string& resource) {
  std::string bare = normalize_jid(user + "@" + opts_.domain);
  if (bare.empty()) return fail(Category::Input, "not-allowed", "invalid user name");
  int count = 0;
  for (const auto& [jid, sess] : sessions_)
    if (bare_jid(jid) == bare) ++count;
  if (count >= opts_.limits.max_sessions_per_account)
    return fail(Category::Auth, "resource-constraint", "too many sessions for this account");
  std::string res = resource;
  if (!res.empty()) {
    auto n = normalize_jid(bare + "/" + res);
    if (n.empty()) return fail(Category::Input, "bad-request", "invalid resource");
    res = jid_resource(n);
  }
  // A resource in use gets a suffix instead of kicking the other session (RFC 6120 §7.7.2.2).
  if (res.empty() || sessions_.count(bare + "/" + res)) res = (res.empty() ? "xnet" : res) + "-" + crypto::random_token(8);
  std::string full = bare + "/" + res;
  sessions_[full] = &s;
  return full;
}

void Hub::unbind(C2sSession& s) {
  if (s.jid().empty()) return;
  auto it = sessions_.find(s.jid());
  if (it == sessions_.end() || it->second != &s) return;
  sessions_.erase(it);
  log_.event("unbind", {{"session", s.id()}, {"jid", s.jid()}});
  for (auto& slot : services_) slot->svc->on_session_end(s.jid());
}

const C2sSession* Hub::find_session(const std::string& full_jid) const {
  auto it = sessions_.find(normalize_jid(full_jid));
  return it == sessions_.end() ? nullptr : it->second;
}

Hub::Slot* Hub::service_for(const std::string& to_bare) {
  auto domain = jid_domain(to_bare);
  for (auto& s : services_)
    if (s->jid == domain) return s.get();
  return nullptr;
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
    if (iq_request) return from.deliver(answer_server_iq(st, from.jid(), from.remote()));
    if (st.name == "message" && to && norm == self_bare)
      for (auto* s : resources_of(self_bare)) s->deliver(st);
    return;  // presence broadcast and results addressed to the server are consumed here
  }
  if (Slot* slot = service_for(bare_jid(norm))) {
    const auto local = jid_local(from.jid());
    const bool anon = local.starts_with("anon-") && !accounts_.find(local, crypto::Hash::Sha256);
    Origin origin{from.jid(), from.remote(), true, anon};
    return deliver_to_service(*slot, std::move(st), origin);
  }
  if (jid_domain(norm) != opts_.domain) return bounce(st, "remote-server-not-found", from);
  std::string target_bare = bare_jid(norm);
  if (norm != target_bare) {  // full JID
    auto it = sessions_.find(norm);
    if (it != sessions_.end()) return it->second->deliver(st);
    if (st.name != "message") return bounce(st, "service-unavailable", from);
  }
  if (st.name == "iq") {
    if (iq_request) from.deliver(answer_server_iq(st, from.jid(), from.remote()));
    return;
  }
  auto targets = resources_of(target_bare);
  if (targets.empty()) return bounce(st, "service-unavailable", from);
  for (auto* s : targets) s->deliver(st);
}

void Hub::deliver_to_service(Slot& slot, xml::Element st, const Origin& origin) {
  if (slot.svc->on_stanza(st, origin)) return;
  auto type = st.attr_or("type");
  if (st.name != "iq" || (type != "get" && type != "set")) return;
  const xml::Element* p = st.first_child();
  xml::Element reply;
  if (p && type == "get" && p->ns == xep0030::kInfoNs && p->attr_or("node").empty()) {
    xep0030::DiscoInfo info;
    auto id = slot.svc->identity();
    info.identities.push_back({id.category, id.type, id.name});
    info.features = {std::string(xep0030::kInfoNs), std::string(kPingNs)};
    for (auto& f : slot.svc->features()) info.features.push_back(f);
    reply = iq_result(st);
    reply.add(xep0030::render_info(info));
  } else if (p && type == "get" && p->ns == kPingNs) {
    reply = iq_result(st);
  } else {
    reply = error_reply(st, "service-unavailable");
  }
  route_from_service(std::move(reply), slot.jid);
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

xml::Element Hub::answer_server_iq(const xml::Element& iq, const std::string& origin_jid,
                                   const std::optional<Endpoint>& remote) {
  const xml::Element* p = iq.first_child();
  if (!p) return error_reply(iq, "bad-request");
  auto type = iq.attr_or("type");
  std::string to = normalize_jid(iq.attr_or("to"));
  const std::string self_bare = bare_jid(origin_jid);
  bool to_server = to.empty() || to == opts_.domain;
  bool to_self = to == self_bare;
  bool other_user = !to_server && !to_self;
  std::string other_local = other_user ? jid_local(to) : std::string();
  bool other_exists = other_user && (accounts_.find(other_local, crypto::Hash::Sha256).has_value() ||
                                     std::any_of(sessions_.begin(), sessions_.end(), [&](const auto& kv) {
                                       return bare_jid(kv.first) == to;
                                     }));

  // XEP-0279: only the requester's own address, never another user's (sic.md §3).
  if (auto ns = xep0279::request_ns(iq); ns || p->ns == xep0279::kSic0 || p->ns == xep0279::kSic1) {
    if (other_user) return error_reply(iq, "forbidden", "You may only ask about your own address", "auth");
    if (type == "set") return error_reply(iq, "not-allowed");
    bool shape = ns && p->children.empty() && p->name == (*ns == xep0279::Ns::Sic1 ? "address" : "ip");
    if (!shape) return error_reply(iq, "bad-request");
    if (!remote || remote->ip.empty()) return error_reply(iq, "item-not-found");
    auto reply = iq_result(iq);
    reply.add(xep0279::build_result_payload(*ns, remote->ip,
                                            remote->port ? std::optional<std::uint16_t>(remote->port) : std::nullopt));
    return reply;
  }
  if (p->ns == kPingNs && p->name == "ping") {
    if (type != "get") return error_reply(iq, "bad-request");
    if (other_user && !other_exists) return error_reply(iq, "service-unavailable");
    return iq_result(iq);
  }
  if (p->ns == xep0030::kInfoNs && p->name == "query") {
    if (type != "get") return error_reply(iq, "bad-request");
    if (!p->attr_or("node").empty()) return error_reply(iq, "item-not-found");
    xep0030::DiscoInfo info;
    if (to_server) {
      info.identities.push_back({"server", "im", opts_.server_name});
      info.features = {std::string(xep0030::kInfoNs), std::string(xep0030::kItemsNs), std::string(kPingNs),
                       std::string(xep0279::kSic1), std::string(xep0279::kSic0)};
      for (auto& f : external_features()) info.features.push_back(f);
    } else {
      if (other_user && !other_exists) return error_reply(iq, "service-unavailable");
      bool anon = jid_local(to).starts_with("anon-") && !accounts_.find(jid_local(to), crypto::Hash::Sha256);
      info.identities.push_back({"account", anon ? "anonymous" : "registered", ""});
      info.features = {std::string(xep0030::kInfoNs)};
    }
    auto reply = iq_result(iq);
    reply.add(xep0030::render_info(info));
    return reply;
  }
  if (p->ns == xep0030::kItemsNs && p->name == "query") {
    if (type != "get") return error_reply(iq, "bad-request");
    if (!p->attr_or("node").empty()) return error_reply(iq, "item-not-found");
    if (other_user && !other_exists) return error_reply(iq, "service-unavailable");
    auto reply = iq_result(iq);
    auto& q = reply.add("query", std::string(xep0030::kItemsNs));
    if (to_server)
      for (auto& s : services_) {
        auto& item = q.add("item", std::string(xep0030::kItemsNs));
        item.set("jid", s->jid);
        if (auto n = s->svc->identity().name; !n.empty()) item.set("name", n);
      }
    return reply;
  }
  if (auto req = parse_list_request(*p)) {
    if (other_user) return error_reply(iq, "forbidden", "", "auth");
    if (type != "get") return error_reply(iq, "not-allowed");
    auto ans = answer_list(*req, opts_.external_services, jid_local(origin_jid), unix_now());
    if (!ans.payload) return error_reply(iq, ans.error);
    auto reply = iq_result(iq);
    reply.add(std::move(*ans.payload));
    return reply;
  }
  if (p->ns == kSessionNs) return iq_result(iq);
  return error_reply(iq, "service-unavailable");
}

int Hub::reload_external_services(std::vector<ExternalService> list) {
  auto old = std::move(opts_.external_services);
  opts_.external_services = std::move(list);
  int pushes = 0;
  long long now = unix_now();
  for (auto& [jid, s] : sessions_) {
    for (const auto& req : s->list_requests()) {
      auto payload = push_payload(req, old, opts_.external_services, jid_local(jid), now);
      if (!payload) continue;
      xml::Element iq("iq", std::string(kClientNs));
      iq.set("type", "set");
      iq.set("id", next_id("push-"));
      iq.set("from", opts_.domain);
      iq.set("to", jid);
      iq.add(std::move(*payload));
      s->deliver(iq);
      ++pushes;
    }
  }
  return pushes;
}

void Hub::shutdown() {
  std::vector<C2sSession*> all(all_.begin(), all_.end());
  for (auto* s : all) s->close_with_error("system-shutdown", "server shutting down");
  for (auto& slot : services_) slot->svc->detach();
}

}  // namespace xnet::server
