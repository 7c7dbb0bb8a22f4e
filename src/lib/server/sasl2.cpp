// SPDX-License-Identifier: MIT
#include "server/sasl2.hpp"

#include "server/crypto.hpp"

namespace xnet::server {

namespace {

constexpr std::string_view kSaslNsUri = "urn:ietf:params:xml:ns:xmpp-sasl";

Error cond_error(std::string_view cond, std::string_view why) {
  return Error(Category::Auth, std::string(cond) + ": " + std::string(why));
}

// Base64 in SASL2 elements may be wrapped or indented (the XEP's own examples are).
std::string without_space(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s)
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') out.push_back(c);
  return out;
}

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

// Printable, bounded text for informational fields (never trusted, only logged).
std::string bounded(std::string_view s, std::size_t max) {
  std::string out;
  for (unsigned char c : trim(s)) {
    if (out.size() >= max) break;
    out.push_back(c < 0x20 || c == 0x7f ? '?' : static_cast<char>(c));
  }
  return out;
}

bool truthy(std::string_view v) { return v == "true" || v == "1"; }

}  // namespace

xml::Element sasl2_feature(const Sasl2Offer& offer) {
  xml::Element a("authentication", std::string(kSasl2Ns));
  for (const auto& m : offer.mechanisms) a.add("mechanism").set_text(m);
  if (offer.bind2 || !offer.fast_mechanisms.empty()) {
    auto& inl = a.add("inline");
    if (offer.bind2) inl.add("bind", std::string(kBind2Ns));
    if (!offer.fast_mechanisms.empty()) {
      auto& f = inl.add("fast", std::string(kFastNs));
      for (const auto& m : offer.fast_mechanisms) f.add("mechanism").set_text(m);
    }
  }
  return a;
}

xml::Element sasl_channel_binding_feature() {
  xml::Element cb("sasl-channel-binding", std::string(kSaslCbNs));
  cb.add("channel-binding").set("type", "tls-exporter");
  return cb;
}

Result<Sasl2Authenticate> parse_sasl2_authenticate(const xml::Element& auth) {
  if (auth.name != "authenticate" || auth.ns != kSasl2Ns)
    return tl::unexpected(cond_error("malformed-request", "not a SASL2 <authenticate/>"));
  Sasl2Authenticate a;
  a.mechanism = trim(auth.attr_or("mechanism"));
  if (a.mechanism.empty() || a.mechanism.size() > 64)
    return tl::unexpected(cond_error("invalid-mechanism", "no mechanism named"));
  for (const auto& c : auth.children) {
    if (c.ns == kSasl2Ns && c.name == "initial-response") {
      if (a.initial_response) return tl::unexpected(cond_error("malformed-request", "two initial responses"));
      auto text = without_space(c.text);
      if (text.empty()) {
        a.initial_response = std::string();
        continue;
      }
      auto d = crypto::unbase64(text);
      if (!d) return tl::unexpected(cond_error("incorrect-encoding", "bad base64 in <initial-response/>"));
      a.initial_response = std::move(*d);
    } else if (c.ns == kSasl2Ns && c.name == "user-agent") {
      auto id = c.attr_or("id");
      if (id.size() > kMaxUserAgentId) return tl::unexpected(cond_error("malformed-request", "user-agent id too long"));
      a.user_agent_id = trim(id);
      if (const auto* s = c.child("software", kSasl2Ns)) a.software = bounded(s->text, 64);
      if (const auto* d = c.child("device", kSasl2Ns)) a.device = bounded(d->text, 64);
    } else if (c.ns == kBind2Ns && c.name == "bind") {
      a.bind = true;
      if (const auto* t = c.child("tag", kBind2Ns)) {
        // A resource-safe tag: no '/', no space or control characters, bounded.
        for (unsigned char ch : trim(t->text)) {
          if (a.bind_tag.size() >= kMaxBindTag) break;
          if (ch > 0x20 && ch != 0x7f && ch != '/') a.bind_tag.push_back(static_cast<char>(ch));
          else if (ch == ' ' || ch == '/') a.bind_tag.push_back('-');
        }
        // Never cut a UTF-8 sequence in half (expat hands over valid UTF-8 only).
        std::size_t i = a.bind_tag.size();
        while (i > 0 && (static_cast<unsigned char>(a.bind_tag[i - 1]) & 0xC0) == 0x80) --i;
        if (i > 0 && static_cast<unsigned char>(a.bind_tag[i - 1]) >= 0xC0) {
          auto lead = static_cast<unsigned char>(a.bind_tag[i - 1]);
          std::size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
          if (a.bind_tag.size() - (i - 1) < need) a.bind_tag.resize(i - 1);
        }
      }
    } else if (c.ns == kFastNs && c.name == "fast") {
      a.fast = true;
      if (auto* n = c.attr("count")) {
        std::uint64_t v = 0;
        if (n->empty() || n->size() > 19) return tl::unexpected(cond_error("malformed-request", "bad FAST count"));
        for (char ch : *n) {
          if (ch < '0' || ch > '9') return tl::unexpected(cond_error("malformed-request", "bad FAST count"));
          v = v * 10 + static_cast<std::uint64_t>(ch - '0');
        }
        a.fast_count = v;
      }
      a.fast_invalidate = truthy(c.attr_or("invalidate"));
    } else if (c.ns == kFastNs && c.name == "request-token") {
      a.request_token = trim(c.attr_or("mechanism"));
      if (a.request_token.size() > 64) return tl::unexpected(cond_error("malformed-request", "bad FAST mechanism"));
    }
    // Anything else (<supported/>, XEP-0198 <resume/>, unknown extensions) is ignored.
  }
  return a;
}

Result<std::string> parse_sasl2_response(const xml::Element& response) {
  auto text = without_space(response.text);
  if (text.empty()) return std::string();
  auto d = crypto::unbase64(text);
  if (!d) return tl::unexpected(cond_error("incorrect-encoding", "bad base64 in <response/>"));
  return *d;
}

xml::Element sasl2_challenge(std::string_view data) {
  xml::Element c("challenge", std::string(kSasl2Ns));
  if (!data.empty()) c.set_text(crypto::base64(data));
  return c;
}

xml::Element sasl2_success(std::string_view additional, std::string_view authzid, bool bound,
                           const std::optional<IssuedToken>& token) {
  xml::Element s("success", std::string(kSasl2Ns));
  if (!additional.empty()) s.add("additional-data").set_text(crypto::base64(additional));
  s.add("authorization-identifier").set_text(std::string(authzid));
  if (bound) s.add("bound", std::string(kBind2Ns));
  if (token) s.add("token", std::string(kFastNs)).set("expiry", token->expiry).set("token", token->token);
  return s;
}

xml::Element sasl2_failure(std::string_view condition, std::string_view text) {
  xml::Element f("failure", std::string(kSasl2Ns));
  f.add(std::string(condition), std::string(kSaslNsUri));
  if (!text.empty()) f.add("text").set_text(std::string(text));
  return f;
}

std::string bind2_resource(std::string_view secret, std::string_view user, std::string_view tag,
                           std::string_view user_agent_id) {
  std::string label = "bind2";
  for (auto part : {user, tag, user_agent_id}) {
    label.push_back('\0');
    label.append(part);
  }
  std::string id = crypto::hex(crypto::hmac(crypto::Hash::Sha256, secret, label)).substr(0, 10);
  return tag.empty() ? id : std::string(tag) + "/" + id;
}

}  // namespace xnet::server
