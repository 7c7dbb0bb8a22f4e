// SPDX-License-Identifier: MIT
#include "xep/xep0174.hpp"

#include <openssl/evp.h>
#include <openssl/sha.h>

#include <algorithm>

namespace xnet::xep0174 {

Generation generation(const StreamHeader& h) {
  if (h.version) return Generation::Rfc6120;
  if (h.from || h.to) return Generation::Addressed;
  return Generation::Legacy;
}

std::string_view generation_name(Generation g) {
  switch (g) {
    case Generation::Legacy: return "legacy";
    case Generation::Addressed: return "addressed";
    case Generation::Rfc6120: return "rfc6120";
  }
  return "legacy";
}

std::string open_stream(const StreamHeader& h) {
  std::string s = "<?xml version='1.0' encoding='UTF-8'?><stream:stream xmlns='jabber:client' "
                  "xmlns:stream='http://etherx.jabber.org/streams'";
  auto attr = [&](const char* k, const std::optional<std::string>& v) {
    if (v) s += std::string(" ") + k + "='" + xml::escape_attr(*v) + "'";
  };
  attr("from", h.from);
  attr("to", h.to);
  attr("version", h.version);
  attr("id", h.id);
  s += ">";
  return s;
}

std::string_view close_stream() { return "</stream:stream>"; }

Result<StreamHeader> parse_stream_header(const xml::Element& root) {
  if (root.name != "stream" || root.ns != kStreamNs)
    return fail(Category::Protocol, "expected <stream:stream>, got <" + root.name + "> in namespace '" + root.ns + "'");
  if (const auto* d = root.attr("xmlns"); d && *d != kClientNs)
    return fail(Category::Protocol, "unsupported stream namespace '" + *d + "' (expected jabber:client)");
  StreamHeader h;
  auto get = [&](std::string_view k) -> std::optional<std::string> {
    if (const auto* v = root.attr(k)) return *v;
    return std::nullopt;
  };
  h.from = get("from");
  h.to = get("to");
  h.version = get("version");
  h.id = get("id");
  return h;
}

StreamHeader answer_header(const StreamHeader& theirs, std::string_view our_name) {
  StreamHeader h;
  h.from = std::string(our_name);
  if (theirs.from && !theirs.from->empty()) h.to = *theirs.from;
  if (theirs.version) h.version = "1.0";
  return h;
}

namespace {
int major_version(const std::optional<std::string>& v) {
  if (!v || v->empty()) return 0;
  int m = 0;
  for (char c : *v) {
    if (c == '.') break;
    if (c < '0' || c > '9') return 0;
    m = m * 10 + (c - '0');
    if (m > 1000) break;
  }
  return m;
}
}  // namespace

bool features_expected(const StreamHeader& a, const StreamHeader& b) {
  return major_version(a.version) >= 1 && major_version(b.version) >= 1;
}

std::vector<std::string> local_features() {
  std::vector<std::string> f{std::string(kCapsNs), std::string(kDiscoInfoNs), std::string(kPingNs)};
  std::sort(f.begin(), f.end());
  return f;
}

std::string caps_ver(const Identity& id, std::vector<std::string> features) {
  // XEP-0115 §5.1: category/type/lang/name<, then each sorted feature followed by <.
  std::sort(features.begin(), features.end());
  std::string s = id.category + "/" + id.type + "//" + id.name + "<";
  for (const auto& f : features) s += f + "<";
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(s.data()), s.size(), digest);
  unsigned char out[4 * ((SHA_DIGEST_LENGTH + 2) / 3) + 1] = {};
  int n = EVP_EncodeBlock(out, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
}

xml::Element disco_info_query(const Identity& id, std::string_view node) {
  xml::Element q("query", std::string(kDiscoInfoNs));
  if (!node.empty()) q.set("node", std::string(node));
  auto& i = q.add("identity");
  i.set("category", id.category).set("type", id.type).set("name", id.name);
  for (const auto& f : local_features()) q.add("feature").set("var", f);
  return q;
}

std::string stream_features(const Identity& id) {
  auto q = disco_info_query(id, std::string(kCapsNode) + "#" + caps_ver(id, local_features()));
  return "<stream:features>" + q.str(kClientNs) + "</stream:features>";
}

xml::Element build_message(const Message& m) {
  xml::Element e("message", std::string(kClientNs));
  if (!m.from.empty()) e.set("from", m.from);
  if (!m.to.empty()) e.set("to", m.to);
  if (!m.type.empty()) e.set("type", m.type);
  if (!m.id.empty()) e.set("id", m.id);
  if (!m.subject.empty()) e.add("subject").set_text(m.subject);
  if (!m.body.empty()) e.add("body").set_text(m.body);
  if (!m.thread.empty()) e.add("thread").set_text(m.thread);
  if (!m.stamp.empty()) e.add("delay", std::string(kDelayNs)).set("stamp", m.stamp);
  return e;
}

Result<Message> parse_message(const xml::Element& st) {
  if (st.name != "message") return fail(Category::Protocol, "not a message stanza: <" + st.name + ">");
  Message m;
  m.from = st.attr_or("from");
  m.to = st.attr_or("to");
  m.type = st.attr_or("type", "normal");
  m.id = st.attr_or("id");
  // RFC 6120 stanzas on a jabber:client stream have that namespace; a few old clients omit it.
  auto text_of = [&](std::string_view name) -> std::string {
    for (const auto& c : st.children)
      if (c.name == name && (c.ns == kClientNs || c.ns.empty())) return c.text;
    return {};
  };
  m.body = text_of("body");
  m.thread = text_of("thread");
  m.subject = text_of("subject");
  if (const auto* d = st.child("delay", kDelayNs)) m.stamp = d->attr_or("stamp");
  m.has_xhtml = st.child("html", kXhtmlImNs) != nullptr;
  return m;
}

std::optional<xml::Element> answer_iq(const xml::Element& iq, const Identity& identity, std::string_view our_name) {
  if (iq.name != "iq") return std::nullopt;
  std::string type = iq.attr_or("type");
  if (type != "get" && type != "set") return std::nullopt;
  xml::Element reply("iq", std::string(kClientNs));
  reply.set("type", "result");
  if (const auto* id = iq.attr("id")) reply.set("id", *id);
  if (const auto* from = iq.attr("from"); from && !from->empty()) reply.set("to", *from);
  if (!our_name.empty()) reply.set("from", std::string(our_name));
  const xml::Element* payload = iq.first_child();
  if (type == "get" && payload && payload->name == "query" && payload->ns == kDiscoInfoNs) {
    std::string node = payload->attr_or("node");
    reply.add(disco_info_query(identity, node));
    return reply;
  }
  if (type == "get" && payload && payload->name == "ping" && payload->ns == kPingNs) return reply;
  // RFC 6120 §8.3.3.19 / XEP-0174 §4.1: anything else is service-unavailable; echo the payload.
  reply.set("type", "error");
  if (payload) reply.add(*payload);
  auto& err = reply.add("error");
  err.set("type", "cancel");
  err.add("service-unavailable", std::string(kStanzaErrorNs));
  return reply;
}

std::string stream_error(std::string_view condition, std::string_view text) {
  std::string s = "<stream:error><" + std::string(condition) + " xmlns='" + std::string(kStreamErrorNs) + "'/>";
  if (!text.empty())
    s += "<text xmlns='" + std::string(kStreamErrorNs) + "'>" + xml::escape_text(text) + "</text>";
  s += "</stream:error>";
  return s;
}

std::string stream_error_condition(const xml::Element& error) {
  for (const auto& c : error.children)
    if (c.ns == kStreamErrorNs && c.name != "text") return c.name;
  return "undefined-condition";
}

bool starttls_required(const xml::Element& features) {
  const auto* tls = features.child("starttls", kTlsNs);
  return tls && tls->child("required", kTlsNs) != nullptr;
}

}  // namespace xnet::xep0174
