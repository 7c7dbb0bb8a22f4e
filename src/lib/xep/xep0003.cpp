// SPDX-License-Identifier: MIT
#include "xep/xep0003.hpp"

#include <array>
#include <charconv>

namespace xnet::xep0003 {
namespace {

constexpr std::string_view kStanzaNs = "urn:ietf:params:xml:ns:xmpp-stanzas";

std::string_view trim(std::string_view s) {
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

Result<Endpoint> parse_endpoint(const xml::Element& e) {
  Endpoint ep;
  ep.ip = std::string(trim(e.text));
  if (ep.ip.empty()) return fail(Category::Input, "<" + e.name + "/> carries no IP address");
  if (ep.ip.find_first_of(" \t\r\n") != std::string::npos)
    return fail(Category::Input, "<" + e.name + "/> IP is not a single token: '" + ep.ip + "'");
  if (const auto* p = e.attr("port")) {
    auto port = parse_port(*p);
    if (!port)
      return fail(Category::Input, "<" + e.name + " port='" + *p + "'> is not a port (0..65535)");
    ep.port = *port;
  }
  return ep;
}

void add_endpoint(xml::Element& q, const char* name, const Endpoint& ep) {
  auto& e = q.add(name);
  if (ep.port) e.set("port", std::to_string(*ep.port));
  e.set_text(ep.ip);
}

struct CodeRow {
  int code;
  std::string_view condition;
  std::string_view type;
};

// XEP-0086 §3, legacy code → condition (the rows pass.md §6 lists).
constexpr std::array<CodeRow, 17> kCodes{{
    {302, "redirect", "modify"},
    {400, "bad-request", "modify"},
    {401, "not-authorized", "auth"},
    {402, "payment-required", "auth"},
    {403, "forbidden", "auth"},
    {404, "item-not-found", "cancel"},
    {405, "not-allowed", "cancel"},
    {406, "not-acceptable", "modify"},
    {407, "registration-required", "auth"},
    {408, "remote-server-timeout", "wait"},
    {409, "conflict", "cancel"},
    {500, "internal-server-error", "wait"},
    {501, "feature-not-implemented", "cancel"},
    {502, "service-unavailable", "wait"},
    {503, "service-unavailable", "cancel"},
    {504, "remote-server-timeout", "wait"},
    {510, "service-unavailable", "cancel"},
}};

// XEP-0086 §3, condition → legacy code (first match wins, so service-unavailable → 503).
constexpr std::array<std::pair<std::string_view, int>, 22> kConditionCodes{{
    {"bad-request", 400},
    {"conflict", 409},
    {"feature-not-implemented", 501},
    {"forbidden", 403},
    {"gone", 302},
    {"internal-server-error", 500},
    {"item-not-found", 404},
    {"jid-malformed", 400},
    {"not-acceptable", 406},
    {"not-allowed", 405},
    {"not-authorized", 401},
    {"payment-required", 402},
    {"recipient-unavailable", 404},
    {"redirect", 302},
    {"registration-required", 407},
    {"remote-server-not-found", 404},
    {"remote-server-timeout", 504},
    {"resource-constraint", 500},
    {"service-unavailable", 503},
    {"subscription-required", 407},
    {"undefined-condition", 500},
    {"unexpected-request", 400},
}};

}  // namespace

std::optional<std::uint16_t> parse_port(std::string_view text) {
  text = trim(text);
  if (text.empty() || text.size() > 5) return std::nullopt;
  unsigned value = 0;
  auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  if (ec != std::errc{} || ptr != text.data() + text.size() || value > 65535) return std::nullopt;
  return static_cast<std::uint16_t>(value);
}

Result<Query> parse_query(const xml::Element& query) {
  if (query.name != "query" || query.ns != kNs)
    return fail(Category::Input, "not a jabber:iq:pass query: <" + query.name + "/>");
  Query q;
  for (const auto& c : query.children) {
    if (c.ns == kTokenNs && c.name == "token") {
      q.token = std::string(trim(c.text));
      continue;
    }
    if (c.ns == kExtNs && c.name == "reclaim") {
      auto port = parse_port(c.attr_or("port"));
      if (!port) return fail(Category::Input, "<reclaim/> needs a port attribute in 0..65535");
      q.reclaim = *port;
      continue;
    }
    if (c.ns == kExtNs && c.name == "refused") {
      q.refused = std::string(trim(c.text));
      auto n = c.attr_or("count");
      std::uint64_t v = 0;
      auto [ptr, ec] = std::from_chars(n.data(), n.data() + n.size(), v);
      q.refused_count = (ec == std::errc{} && ptr == n.data() + n.size()) ? v : 1;
      continue;
    }
    if (c.ns != kNs) continue;
    if (c.name == "server" || c.name == "client" || c.name == "proxy") {
      auto ep = parse_endpoint(c);
      if (!ep) return fail(ep.error());
      (c.name == "server" ? q.server : c.name == "client" ? q.client : q.proxy) = std::move(*ep);
    } else if (c.name == "expire") {
      q.expire = true;
      auto text = trim(c.text);
      if (!text.empty()) {
        std::uint64_t v = 0;
        auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
        if (ec != std::errc{} || ptr != text.data() + text.size())
          return fail(Category::Input,
                      "<expire>" + std::string(text) + "</expire> is not an unsigned integer");
        q.expire_seconds = v;
      }
    } else if (c.name == "oneshot") {
      q.oneshot = true;
    } else if (c.name == "close") {
      q.close = true;
    }
  }
  return q;
}

xml::Element build_query(const Query& q) {
  xml::Element e("query", std::string(kNs));
  if (q.server) add_endpoint(e, "server", *q.server);
  if (q.client) add_endpoint(e, "client", *q.client);
  if (q.proxy) add_endpoint(e, "proxy", *q.proxy);
  if (q.expire) {
    auto& x = e.add("expire");
    if (q.expire_seconds) x.set_text(std::to_string(*q.expire_seconds));
  }
  if (q.oneshot) e.add("oneshot");
  if (q.close) e.add("close");
  if (q.token) e.add("token", std::string(kTokenNs)).set_text(*q.token);
  if (q.reclaim) e.add("reclaim", std::string(kExtNs)).set("port", std::to_string(*q.reclaim));
  if (q.refused) {
    auto& r = e.add("refused", std::string(kExtNs));
    r.set_text(*q.refused);
    r.set("count", std::to_string(q.refused_count));
  }
  return e;
}

Kind classify(std::string_view iq_type, const Query& q, bool from_service) {
  if (iq_type == "get") return (!q.server && !q.proxy && !q.close) ? Kind::PeerQuery : Kind::Unknown;
  if (iq_type == "result") {
    if (q.server) return Kind::RegisterResult;
    if (q.client && !q.proxy) return Kind::PeerQueryResult;
    return Kind::Ack;
  }
  if (iq_type != "set") return Kind::Unknown;
  if (from_service) {
    if (q.close && q.proxy) {
      if (q.expire && !q.expire_seconds) return Kind::ExpireNotice;
      if (q.oneshot) return Kind::OneshotNotice;
      return Kind::CloseNotice;
    }
    if (q.client && q.proxy) return Kind::Incoming;
    if (q.client && q.refused) return Kind::Refused;
    return Kind::Unknown;
  }
  if (q.close) return Kind::Close;
  return Kind::Register;
}

std::string_view kind_name(Kind kind) {
  switch (kind) {
    case Kind::Register: return "register";
    case Kind::RegisterResult: return "register_result";
    case Kind::Incoming: return "incoming";
    case Kind::ExpireNotice: return "expire_notice";
    case Kind::OneshotNotice: return "oneshot_notice";
    case Kind::CloseNotice: return "close_notice";
    case Kind::Close: return "close";
    case Kind::PeerQuery: return "peer_query";
    case Kind::PeerQueryResult: return "peer_query_result";
    case Kind::Ack: return "ack";
    case Kind::Refused: return "refused";
    case Kind::Unknown: break;
  }
  return "unknown";
}

xml::Element make_iq(std::string_view type, std::string_view id, std::string_view from,
                     std::string_view to, const Query& q) {
  xml::Element iq("iq", "jabber:client");
  iq.set("type", std::string(type));
  if (!id.empty()) iq.set("id", std::string(id));
  if (!from.empty()) iq.set("from", std::string(from));
  if (!to.empty()) iq.set("to", std::string(to));
  iq.add(build_query(q));
  return iq;
}

const xml::Element* find_query(const xml::Element& iq) { return iq.child("query", kNs); }

Condition condition_for_code(int code) {
  for (const auto& row : kCodes)
    if (row.code == code) return {row.condition, row.type};
  return {"undefined-condition", "cancel"};
}

int code_for_condition(std::string_view condition) {
  for (const auto& [name, code] : kConditionCodes)
    if (name == condition) return code;
  return 500;
}

int code_of(PassError error) {
  switch (error) {
    case PassError::MissingProxy:
    case PassError::BadRequest: return 400;
    case PassError::NotYours:
    case PassError::Denied: return 401;
    case PassError::NotFound: return 404;
    case PassError::WrongIp: return 405;
    case PassError::NoPorts: return 502;
    case PassError::Forbidden: return 403;
    case PassError::Unavailable: return 503;
  }
  return 500;
}

std::string_view text_of(PassError error) {
  switch (error) {
    case PassError::MissingProxy: return "Missing <proxy/> specification.";
    case PassError::BadRequest: return "Bad request.";
    case PassError::NotYours: return "Port not registered to your JID.";
    case PassError::Denied: return "Unauthorized";
    case PassError::NotFound: return "Port not found in registry.";
    case PassError::WrongIp: return "Proxy IP does not match.";
    case PassError::NoPorts: return "No more ports available. Try again later.";
    case PassError::Forbidden: return "Renting ports needs a registered account.";
    case PassError::Unavailable: return "Service unavailable.";
  }
  return {};
}

xml::Element build_error(PassError error, std::string_view text) {
  int code = code_of(error);
  auto cond = condition_for_code(code);
  xml::Element e("error", "jabber:client");
  e.set("code", std::to_string(code));
  e.set("type", std::string(cond.type));
  e.add(std::string(cond.condition), std::string(kStanzaNs));
  auto t = text.empty() ? text_of(error) : text;
  if (!t.empty()) e.add("text", std::string(kStanzaNs)).set_text(std::string(t));
  return e;
}

xml::Element make_error_reply(const xml::Element& request, PassError error,
                              std::string_view text) {
  xml::Element iq("iq", request.ns.empty() ? std::string("jabber:client") : request.ns);
  iq.set("type", "error");
  if (const auto* id = request.attr("id")) iq.set("id", *id);
  if (const auto* to = request.attr("to")) iq.set("from", *to);
  if (const auto* from = request.attr("from")) iq.set("to", *from);
  if (const auto* q = find_query(request)) iq.add(*q);
  auto err = build_error(error, text);
  err.ns = iq.ns;
  iq.add(std::move(err));
  return iq;
}

StanzaError parse_error(const xml::Element& iq) {
  StanzaError se;
  const xml::Element* err = iq.child("error");
  if (!err) {
    se.type = "cancel";
    se.condition = "undefined-condition";
    return se;
  }
  int code = 0;
  if (const auto* c = err->attr("code")) {
    auto p = parse_port(*c);  // three digits: the port parser's digit rules fit
    code = p ? *p : 0;
  }
  se.type = err->attr_or("type");
  for (const auto& c : err->children) {
    if (c.ns != kStanzaNs) {
      if (se.app.empty()) se.app = c.name;
      continue;
    }
    if (c.name == "text")
      se.text = c.text;
    else if (se.condition.empty())
      se.condition = c.name;
  }
  if (se.condition.empty()) {
    // Pre-XMPP (jabberd 1.x) form: only a code, the text as content (pass.md §6).
    auto cond = condition_for_code(code);
    se.condition = std::string(cond.condition);
    if (se.type.empty()) se.type = std::string(cond.type);
    if (se.text.empty()) se.text = std::string(trim(err->text));
  }
  if (se.type.empty()) se.type = std::string(condition_for_code(code_for_condition(se.condition)).type);
  if (code == 502) se.type = "wait";
  return se;
}

bool is_retry_later(const StanzaError& e) { return e.type == "wait"; }

}  // namespace xnet::xep0003
