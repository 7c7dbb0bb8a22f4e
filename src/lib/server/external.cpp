// SPDX-License-Identifier: MIT
#include "server/external.hpp"

#include <ctime>

#include "server/crypto.hpp"
#include "server/stanza.hpp"

namespace xnet::server {

TurnCredentials turn_rest_credentials(std::string_view secret, long long expiry, std::string_view user) {
  TurnCredentials c;
  c.expiry = expiry;
  c.username = std::to_string(expiry);
  if (!user.empty()) c.username.append(":").append(user);
  c.password = crypto::base64(crypto::hmac(crypto::Hash::Sha1, secret, c.username));
  return c;
}

std::string xep0082_datetime(long long unix_seconds) {
  std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::vector<std::string> external_features() {
  return {std::string(kExtdisco2), std::string(kExtdisco1), std::string(kExtdisco0), std::string(kExtdiscoProvisional),
          std::string(kJingleInfo)};
}

std::optional<ListRequest> parse_list_request(const xml::Element& p) {
  ListRequest r;
  r.ns = p.ns;
  r.payload = p;
  if (p.ns == kExtdisco2 || p.ns == kExtdisco1 || p.ns == kExtdisco0 || p.ns == kExtdiscoProvisional) {
    if (p.name == "services") {
      r.type = p.attr_or("type");
      return r;
    }
    if (p.name == "credentials" && (p.ns == kExtdisco2 || p.ns == kExtdisco1)) {
      r.credentials = true;
      return r;
    }
    if (p.name == "stun" && p.ns == kExtdiscoProvisional) return r;  // version 0.1
    return std::nullopt;
  }
  if (p.ns == kJingleInfo && p.name == "query") return r;
  return std::nullopt;
}

namespace {

bool is_v01(const ListRequest& r) { return r.ns == kExtdiscoProvisional && r.payload.name == "stun"; }

// What a requester sees of one service: minted credentials, restricted flag. Restricted
// services carry credentials only in a <credentials/> answer (XEP-0215 §3.4).
xml::Element render_service(const ExternalService& s, std::string_view ns, std::string_view requester,
                            long long now, bool with_credentials, std::string_view action = {}) {
  xml::Element e("service", std::string(ns));
  if (!action.empty()) e.set("action", std::string(action));
  e.set("type", s.type);
  e.set("host", s.host);
  if (s.port) e.set("port", std::to_string(s.port));
  if (!s.transport.empty()) e.set("transport", s.transport);
  if (!s.name.empty()) e.set("name", s.name);
  bool v2 = ns == kExtdisco2;
  bool show = with_credentials || !s.restricted || !v2;
  if (show && action != "delete") {
    if (!s.secret.empty()) {
      auto c = turn_rest_credentials(s.secret, now + s.ttl, requester);
      e.set("username", c.username);
      e.set("password", c.password);
      if (v2) e.set("expires", xep0082_datetime(c.expiry));
      else if (ns == kExtdisco1) e.set("ttl", std::to_string(s.ttl));
    } else if (!s.username.empty()) {
      e.set("username", s.username);
      e.set("password", s.password);
    }
  }
  if (v2 && s.restricted) e.set("restricted", "1");
  return e;
}

xml::Element render_list(const ListRequest& req, const std::vector<ExternalService>& services,
                         std::string_view requester, long long now) {
  if (is_v01(req)) {
    xml::Element out("stun", req.ns);
    for (const auto& s : services) {
      if (s.type != "stun") continue;
      auto& e = out.add("server", req.ns);
      e.set("host", s.host);
      e.set("port", std::to_string(s.port ? s.port : 3478));
      if (!s.username.empty()) {
        e.set("username", s.username);
        e.set("password", s.password);
      }
    }
    return out;
  }
  if (req.ns == kJingleInfo) {
    xml::Element out("query", req.ns);
    auto& stun = out.add("stun", req.ns);
    for (const auto& s : services) {
      if (s.type != "stun" || (s.transport != "" && s.transport != "udp")) continue;
      auto& e = stun.add("server", req.ns);
      e.set("host", s.host);
      e.set("udp", std::to_string(s.port ? s.port : 3478));
    }
    return out;
  }
  xml::Element out("services", req.ns);
  if (!req.type.empty()) out.set("type", req.type);
  for (const auto& s : services) {
    if (!req.type.empty() && s.type != req.type) continue;
    out.add(render_service(s, req.ns, requester, now, false));
  }
  return out;
}

}  // namespace

ListAnswer answer_list(const ListRequest& req, const std::vector<ExternalService>& services,
                       std::string_view requester, long long now) {
  ListAnswer a;
  if (!req.credentials) {
    a.payload = render_list(req, services, requester, now);
    return a;
  }
  // <credentials><service type host [port]/></credentials>: host (and type for :2) required.
  const xml::Element* want = req.payload.child("service");
  if (!want || want->attr_or("host").empty() || (req.ns == kExtdisco2 && want->attr_or("type").empty())) {
    a.error = "bad-request";
    return a;
  }
  xml::Element out("credentials", req.ns);
  bool found = false;
  for (const auto& s : services) {
    if (s.host != want->attr_or("host")) continue;
    if (auto* t = want->attr("type"); t && !t->empty() && *t != s.type) continue;
    if (auto* p = want->attr("port"); p && !p->empty() && *p != std::to_string(s.port)) continue;
    found = true;
    out.add(render_service(s, req.ns, requester, now, true));
  }
  if (!found) {
    a.error = "item-not-found";
    return a;
  }
  a.payload = std::move(out);
  return a;
}

std::optional<xml::Element> push_payload(const ListRequest& req, const std::vector<ExternalService>& old_list,
                                         const std::vector<ExternalService>& new_list, std::string_view requester,
                                         long long now) {
  if (req.credentials) return std::nullopt;
  auto visible = [&](const std::vector<ExternalService>& l) {
    std::vector<ExternalService> v;
    for (const auto& s : l) {
      if (!req.type.empty() && s.type != req.type) continue;
      if ((is_v01(req) || req.ns == kJingleInfo) && s.type != "stun") continue;
      v.push_back(s);
    }
    return v;
  };
  auto before = visible(old_list), after = visible(new_list);
  if (before == after) return std::nullopt;
  // The older forms have no actions: push the whole new list.
  if (req.ns != kExtdisco2) return render_list(req, new_list, requester, now);
  xml::Element out("services", req.ns);
  if (!req.type.empty()) out.set("type", req.type);
  auto same_key = [](const ExternalService& a, const ExternalService& b) {
    return a.type == b.type && a.host == b.host && a.port == b.port && a.transport == b.transport;
  };
  for (const auto& o : before) {
    bool kept = false;
    for (const auto& n : after) kept = kept || same_key(o, n);
    if (!kept) out.add(render_service(o, req.ns, requester, now, false, "delete"));
  }
  for (const auto& n : after) {
    const ExternalService* prev = nullptr;
    for (const auto& o : before)
      if (same_key(o, n)) prev = &o;
    if (!prev) out.add(render_service(n, req.ns, requester, now, false, "add"));
    else if (!(*prev == n)) out.add(render_service(n, req.ns, requester, now, false, "modify"));
  }
  return out;
}

}  // namespace xnet::server
