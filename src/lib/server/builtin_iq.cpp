// SPDX-License-Identifier: MIT
#include "server/builtin_iq.hpp"

#include <algorithm>
#include <ctime>

#include "server/crypto.hpp"
#include "server/stanza.hpp"
#include "xep/xep0030.hpp"
#include "xep/xep0279.hpp"

namespace xnet::server {

namespace {

// A request whose answer can change on reload and that names what it wants (a type, or a form
// that only carries STUN): its sender gets pushes (XEP-0215 §5). Credential requests never do.
bool typed_list_request(const ListRequest& req) {
  return !req.credentials && (!req.type.empty() || req.ns == kJingleInfo ||
                              (req.ns == kExtdiscoProvisional && req.payload.name == "stun"));
}

bool is_request(const xml::Element& st) {
  auto type = st.attr_or("type");
  return st.name == "iq" && (type == "get" || type == "set");
}

}  // namespace

BuiltinIq::BuiltinIq(BuiltinIqOptions options) : opts_(std::move(options)) {
  opts_.jid = normalize_jid(opts_.jid);
}

long long BuiltinIq::now() const {
  return now_ ? now_() : static_cast<long long>(std::time(nullptr));
}

void BuiltinIq::plug(Service& service, std::string jid) { plugged_.push_back({&service, normalize_jid(jid)}); }

const BuiltinIq::Plugged* BuiltinIq::service_for(const xml::Element& stanza) const {
  if (opts_.host == IqHost::Server) {
    auto domain = jid_domain(normalize_jid(stanza.attr_or("to")));
    for (const auto& p : plugged_)
      if (!domain.empty() && p.jid == domain) return &p;
    return nullptr;
  }
  const xml::Element* payload = stanza.first_child();
  if (!payload) return nullptr;
  for (const auto& p : plugged_) {
    auto f = p.service->features();
    if (std::find(f.begin(), f.end(), payload->ns) != f.end()) return &p;
  }
  return nullptr;
}

std::optional<xml::Element> BuiltinIq::to_service(const Plugged& p, const xml::Element& st, const Origin& origin) {
  if (p.service->on_stanza(st, origin)) return std::nullopt;
  if (!is_request(st)) return std::nullopt;
  const xml::Element* q = st.first_child();
  const bool get = st.attr_or("type") == "get";
  if (q && get && q->ns == xep0030::kInfoNs && q->name == "query" && q->attr_or("node").empty()) {
    xep0030::DiscoInfo info;
    auto id = p.service->identity();
    info.identities.push_back({id.category, id.type, id.name});
    info.features = {std::string(xep0030::kInfoNs), std::string(kPingNs)};
    for (auto& f : p.service->features()) info.features.push_back(f);
    auto reply = iq_result(st);
    reply.add(xep0030::render_info(info));
    return reply;
  }
  if (q && get && q->ns == kPingNs && q->name == "ping") return iq_result(st);
  return error_reply(st, "service-unavailable");
}

void BuiltinIq::session_ended(const std::string& full_jid) {
  for (auto& p : plugged_) p.service->on_session_end(full_jid);
  watches_.erase(full_jid);
}

xml::Element BuiltinIq::disco_info(const xml::Element& iq, Addressee to, AccountKind kind) const {
  xep0030::DiscoInfo info;
  if (to != Addressee::Host) {
    info.identities.push_back({"account", kind == AccountKind::Anonymous ? "anonymous" : "registered", ""});
    info.features = {std::string(xep0030::kInfoNs)};
  } else if (opts_.host == IqHost::Server) {
    info.identities.push_back({"server", "im", opts_.name});
    info.features = {std::string(xep0030::kInfoNs), std::string(xep0030::kItemsNs), std::string(kPingNs),
                     std::string(xep0279::kSic1), std::string(xep0279::kSic0)};
    for (auto& f : external_features()) info.features.push_back(f);
  } else {
    // Services share the component's JID: their identities and features are the component's.
    info.identities.push_back({"component", "generic", opts_.name});
    for (const auto& p : plugged_) {
      auto id = p.service->identity();
      info.identities.push_back({id.category, id.type, id.name});
    }
    info.features = {std::string(xep0030::kInfoNs), std::string(xep0030::kItemsNs), std::string(kPingNs)};
    for (auto& f : external_features()) info.features.push_back(f);
    for (const auto& p : plugged_)
      for (auto& f : p.service->features()) info.features.push_back(f);
  }
  auto reply = iq_result(iq);
  reply.add(xep0030::render_info(info));
  return reply;
}

xml::Element BuiltinIq::answer(const xml::Element& iq, const Origin& origin) {
  if (!iq.attr("id") || iq.children.size() != 1) return error_reply(iq, "bad-request");
  const xml::Element* p = iq.first_child();
  if (!p) return error_reply(iq, "bad-request");
  const auto type = iq.attr_or("type");
  const std::string to = normalize_jid(iq.attr_or("to"));
  const std::string self = normalize_jid(bare_jid(origin.full_jid));

  Addressee addressee = Addressee::OtherAccount;
  if (to.empty() || bare_jid(to) == opts_.jid) addressee = Addressee::Host;
  else if (bare_jid(to) == self) addressee = Addressee::Self;
  AccountKind kind = AccountKind::None;
  if (addressee != Addressee::Host) {
    kind = directory_ && jid_domain(to) == opts_.jid ? directory_(bare_jid(to)) : AccountKind::None;
    if (addressee == Addressee::Self && kind == AccountKind::None) kind = AccountKind::Registered;
  }
  const bool unknown_account = addressee == Addressee::OtherAccount && kind == AccountKind::None;

  // XEP-0279: only the requester's own address, never another user's (sic.md §3). The component
  // never knows an address (the router does not tell), so it does not offer SIC at all.
  if (auto ns = xep0279::request_ns(iq); ns || p->ns == xep0279::kSic0 || p->ns == xep0279::kSic1) {
    if (opts_.host != IqHost::Server) return error_reply(iq, "service-unavailable");
    if (addressee == Addressee::OtherAccount)
      return error_reply(iq, "forbidden", "You may only ask about your own address", "auth");
    if (type == "set") return error_reply(iq, "not-allowed");
    bool shape = ns && p->children.empty() && p->name == (*ns == xep0279::Ns::Sic1 ? "address" : "ip");
    if (!shape) return error_reply(iq, "bad-request");
    if (!origin.remote || origin.remote->ip.empty()) return error_reply(iq, "item-not-found");
    auto reply = iq_result(iq);
    auto port = origin.remote->port ? std::optional<std::uint16_t>(origin.remote->port) : std::nullopt;
    reply.add(xep0279::build_result_payload(*ns, origin.remote->ip, port));
    return reply;
  }
  if (p->ns == kPingNs && p->name == "ping") {
    if (type != "get") return error_reply(iq, "bad-request");
    if (unknown_account) return error_reply(iq, "service-unavailable");
    return iq_result(iq);
  }
  if ((p->ns == xep0030::kInfoNs || p->ns == xep0030::kItemsNs) && p->name == "query") {
    if (type != "get") return error_reply(iq, "bad-request");
    if (!p->attr_or("node").empty()) return error_reply(iq, "item-not-found");
    if (unknown_account) return error_reply(iq, "service-unavailable");
    if (p->ns == xep0030::kInfoNs) return disco_info(iq, addressee, kind);
    auto reply = iq_result(iq);
    auto& q = reply.add("query", std::string(xep0030::kItemsNs));
    if (addressee == Addressee::Host && opts_.host == IqHost::Server)
      for (const auto& s : plugged_) {
        auto& item = q.add("item", std::string(xep0030::kItemsNs));
        item.set("jid", s.jid);
        if (auto n = s.service->identity().name; !n.empty()) item.set("name", n);
      }
    return reply;
  }
  if (auto req = parse_list_request(*p)) {
    if (addressee == Addressee::OtherAccount) return error_reply(iq, "forbidden", "", "auth");
    if (type != "get") return error_reply(iq, "not-allowed");
    auto ans = answer_list(*req, opts_.external_services, jid_local(origin.full_jid), now());
    if (!ans.payload) return error_reply(iq, ans.error);
    if (typed_list_request(*req)) remember(normalize_jid(origin.full_jid), *req);
    auto reply = iq_result(iq);
    reply.add(std::move(*ans.payload));
    return reply;
  }
  // RFC 3921 session establishment, still sent by old clients after bind: a no-op.
  if (opts_.host == IqHost::Server && p->ns == kSessionNs) return iq_result(iq);
  return error_reply(iq, "service-unavailable");
}

void BuiltinIq::remember(const std::string& full_jid, const ListRequest& req) {
  if (full_jid.empty()) return;
  auto it = watches_.find(full_jid);
  if (it == watches_.end()) {
    if (watches_.size() >= opts_.max_watchers) return;
    it = watches_.emplace(full_jid, std::vector<ListRequest>{}).first;
  }
  auto& list = it->second;
  auto same = [&](const ListRequest& r) { return r.ns == req.ns && r.type == req.type; };
  if (list.size() < opts_.max_watches_per_jid && std::none_of(list.begin(), list.end(), same)) list.push_back(req);
}

std::vector<xml::Element> BuiltinIq::reload(std::vector<ExternalService> list) {
  auto old = std::move(opts_.external_services);
  opts_.external_services = std::move(list);
  std::vector<xml::Element> pushes;
  const long long t = now();
  for (const auto& [jid, requests] : watches_) {
    for (const auto& req : requests) {
      auto payload = push_payload(req, old, opts_.external_services, jid_local(jid), t);
      if (!payload) continue;
      xml::Element iq("iq", std::string(kClientNs));
      iq.set("type", "set");
      iq.set("id", "push-" + std::to_string(++push_seq_) + "-" + crypto::random_token(10));
      iq.set("from", opts_.jid);
      iq.set("to", jid);
      iq.add(std::move(*payload));
      pushes.push_back(std::move(iq));
    }
  }
  return pushes;
}

}  // namespace xnet::server
