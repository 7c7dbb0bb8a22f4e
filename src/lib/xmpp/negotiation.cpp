// SPDX-License-Identifier: MIT
#include "xmpp/negotiation.hpp"

#include <algorithm>

#include "util/crypto.hpp"
#include "xml/stream_parser.hpp"
#include "xmpp/sasl.hpp"

namespace xnet::xmpp {

namespace {

constexpr std::string_view kStreamNs = "http://etherx.jabber.org/streams";
constexpr std::string_view kClientNs = "jabber:client";
constexpr std::string_view kTlsNs = "urn:ietf:params:xml:ns:xmpp-tls";
constexpr std::string_view kSaslNs = "urn:ietf:params:xml:ns:xmpp-sasl";
constexpr std::string_view kBindNs = "urn:ietf:params:xml:ns:xmpp-bind";
constexpr std::string_view kSessionNs = "urn:ietf:params:xml:ns:xmpp-session";
constexpr std::string_view kStreamErrNs = "urn:ietf:params:xml:ns:xmpp-streams";
constexpr std::string_view kStanzaErrNs = "urn:ietf:params:xml:ns:xmpp-stanzas";
constexpr std::string_view kPingNs = "urn:xmpp:ping";
constexpr std::string_view kSasl2Ns = "urn:xmpp:sasl:2";
constexpr std::string_view kBind2Ns = "urn:xmpp:bind:0";
constexpr std::string_view kFastNs = "urn:xmpp:fast:0";
constexpr std::string_view kSaslCbNs = "urn:xmpp:sasl-cb:0";

// Server text reaches terminals: keep it short and free of control characters.
std::string clean_text(std::string_view s, std::size_t max) {
  std::string out;
  std::size_t n = std::min(s.size(), max);
  // Do not cut a UTF-8 sequence in half.
  while (n < s.size() && n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  out.reserve(n + 32);
  for (std::size_t i = 0; i < n; ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    out += (c < 0x20 || c == 0x7f) ? ' ' : static_cast<char>(c);
  }
  if (n < s.size()) out += " [" + std::to_string(s.size() - n) + " more bytes]";
  return out;
}

std::string trim(std::string_view s) {
  auto b = s.find_first_not_of(" \t\r\n");
  if (b == std::string_view::npos) return {};
  auto e = s.find_last_not_of(" \t\r\n");
  return std::string(s.substr(b, e - b + 1));
}

// The condition element of a stream or SASL error (the first child in ns that is not <text/>).
std::string condition_of(const xml::Element& e, std::string_view ns) {
  for (const auto& c : e.children)
    if (c.name != "text" && (ns.empty() || c.ns == ns)) return c.name;
  return {};
}

std::string text_of(const xml::Element& e, std::size_t max) {
  const auto* t = e.child("text");
  return t ? clean_text(t->text, max) : std::string();
}

// A copy of el with every empty namespace replaced by the parent's (the root's by jabber:client),
// so Element::str() never writes xmlns=''.
void inherit_ns(xml::Element& el, std::string_view parent) {
  if (el.ns.empty()) el.ns = std::string(parent);
  for (auto& c : el.children) inherit_ns(c, el.ns);
}

bool is_sasl_payload(const xml::Element& e) {
  if (e.ns == kSaslNs)
    return e.name == "auth" || e.name == "response" || e.name == "challenge" || e.name == "success";
  if (e.ns == kSasl2Ns)
    return e.name == "authenticate" || e.name == "response" || e.name == "challenge" || e.name == "success" ||
           e.name == "initial-response" || e.name == "additional-data" || e.name == "continue";
  return false;
}

// Structural redaction for the trace: SASL payloads and FAST token attributes.
void redact_element(xml::Element& e, bool inside_sasl) {
  bool sasl = inside_sasl || is_sasl_payload(e);
  if (sasl && !e.text.empty() && trim(e.text).size() > 0 && e.name != "authorization-identifier" &&
      e.name != "software" && e.name != "device" && e.name != "tag" && e.name != "mechanism")
    e.text = "[redacted]";
  if (e.ns == kFastNs)
    for (auto& [k, v] : e.attrs)
      if (k == "token") v = "[redacted]";
  for (auto& c : e.children) redact_element(c, sasl);
}

Event make_event(Event::Kind k) {
  Event e;
  e.kind = k;
  return e;
}

void replace_all(std::string& s, std::string_view what, std::string_view with) {
  if (what.empty()) return;
  std::size_t pos = 0;
  while ((pos = s.find(what, pos)) != std::string::npos) {
    s.replace(pos, what.size(), with);
    pos += with.size();
  }
}

}  // namespace

Category stream_error_category(std::string_view c) {
  if (c == "not-authorized") return Category::Auth;
  if (c == "system-shutdown" || c == "connection-timeout" || c == "resource-constraint" ||
      c == "remote-connection-failed" || c == "reset")
    return Category::Timeout;
  if (c == "see-other-host" || c == "host-unknown" || c == "host-gone") return Category::Connect;
  if (c == "unsupported-version" || c == "unsupported-feature" || c == "unsupported-encoding")
    return Category::NotSupported;
  return Category::Protocol;
}

std::string redact_xml(std::string_view xml_text, std::string_view password) {
  std::string out(xml_text);
  for (std::string_view tag : {"auth", "response", "challenge", "success", "authenticate", "initial-response",
                               "additional-data", "continue"}) {
    std::size_t pos = 0;
    std::string open = "<" + std::string(tag);
    std::string close = "</" + std::string(tag) + ">";
    while ((pos = out.find(open, pos)) != std::string::npos) {
      std::size_t after = pos + open.size();
      if (after < out.size() && out[after] != ' ' && out[after] != '>' && out[after] != '/') {
        pos = after;
        continue;
      }
      auto gt = out.find('>', after);
      if (gt == std::string::npos) break;
      if (out[gt - 1] == '/') {
        pos = gt;
        continue;
      }
      auto end = out.find(close, gt);
      if (end == std::string::npos) end = out.size();
      std::size_t len = end - gt - 1;
      if (len > 0) out.replace(gt + 1, len, "[redacted]");
      pos = gt + 1;
    }
  }
  // XEP-0484 token='...' attributes.
  for (std::string_view q : {"token='", "token=\""}) {
    std::size_t pos = 0;
    while ((pos = out.find(q, pos)) != std::string::npos) {
      if (pos > 0 && out[pos - 1] != ' ') {
        pos += q.size();
        continue;
      }
      auto start = pos + q.size();
      auto end = out.find(q.back(), start);
      if (end == std::string::npos) end = out.size();
      out.replace(start, end - start, "[redacted]");
      pos = start + 10;
    }
  }
  replace_all(out, password, "********");
  return out;
}

struct ClientNegotiator::Impl final : xml::StreamHandler {
  NegotiatorConfig config;
  Trace& trace;
  std::unique_ptr<xml::StreamParser> parser;
  std::string out;
  std::deque<Event> events;
  NegotiationState state = NegotiationState::Idle;

  std::string local, domain;
  bool anonymous = false;
  bool tls = false;
  bool tls13 = false;
  std::string exporter;

  std::size_t stream_fed = 0;   // bytes given to the current parser
  std::size_t pre_session = 0;  // bytes received before Bound
  bool restart_pending = false;  // <proceed/> or <success/> ended this parser's stream
  std::size_t restart_at = 0;    // offset (in stream_fed terms) just past that element
  bool reset_now = false;        // restart after SASL success: a new parser takes the rest
  bool starttls_sent = false;
  bool starttls_pipelined = false;
  bool starttls_offered = false;

  xml::Element features;
  std::unique_ptr<sasl::Mechanism> mech;
  std::string mech_name;
  std::size_t sasl_rounds = 0;
  bool authenticated = false;
  bool sasl2 = false;
  bool bind2_requested = false;
  bool fast_in_use = false;
  bool fast_pipelined = false;
  bool awaiting_features_for_fallback = false;
  bool awaiting_password = false;
  bool early_sent = false;  // held stanzas went out behind the final SASL2 message
  std::string fast_requested;

  std::string bind_id, session_id;
  std::vector<xml::Element> held_out;  // stanzas sent before the server may see them
  std::deque<xml::Element> held_in;    // stanzas received between SASL success and bind
  std::string jid;
  bool close_sent = false;
  unsigned long ids = 0;

  Impl(NegotiatorConfig c, Trace& t) : config(std::move(c)), trace(t) {
    new_parser();
    std::string_view j = config.jid;
    if (auto slash = j.find('/'); slash != std::string_view::npos) j = j.substr(0, slash);
    if (auto at = j.find('@'); at != std::string_view::npos) {
      local = std::string(j.substr(0, at));
      domain = std::string(j.substr(at + 1));
    } else {
      domain = std::string(j);
      anonymous = true;
    }
    std::transform(domain.begin(), domain.end(), domain.begin(),
                   [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    if (!domain.empty() && domain.back() == '.') domain.pop_back();
  }

  void new_parser() {
    parser = std::make_unique<xml::StreamParser>(
        *this, xml::StreamLimits{.max_stanza_bytes = config.limits.max_stanza_bytes,
                                 .max_depth = config.limits.max_depth});
    stream_fed = 0;
    restart_pending = false;
    restart_at = 0;
  }

  // --- output ---------------------------------------------------------------------------

  bool xml_trace() const { return trace.enabled(TraceArea::Xml); }

  void trace_text(TraceDir dir, std::string text) {
    replace_all(text, config.password, "********");
    trace.wire(TraceArea::Xml, dir, text);
  }

  void trace_element(TraceDir dir, const xml::Element& e, std::string_view parent_ns) {
    if (!xml_trace()) return;
    xml::Element copy = e;
    redact_element(copy, false);
    if (copy.ns == kStreamNs) {
      // Show stream-level elements as the wire has them: <stream:features>, <stream:error>.
      std::string s = copy.str(kStreamNs);
      std::string close = "</" + copy.name + ">";
      if (s.ends_with(close)) s.replace(s.size() - close.size(), close.size(), "</stream:" + copy.name + ">");
      s.insert(1, "stream:");
      trace_text(dir, std::move(s));
      return;
    }
    trace_text(dir, copy.str(parent_ns));
  }

  void write_raw(std::string_view s) {
    out += s;
    if (xml_trace()) trace_text(TraceDir::Sent, std::string(s));
  }

  void write(const xml::Element& e) {
    out += e.str(kClientNs);
    trace_element(TraceDir::Sent, e, kClientNs);
  }

  void write_header() {
    std::string h = "<?xml version='1.0'?><stream:stream to='" + xml::escape_attr(domain) + "'";
    if (tls && !anonymous) h += " from='" + xml::escape_attr(local + "@" + domain) + "'";
    h += " version='1.0' xml:lang='en' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>";
    write_raw(h);
  }

  void push(Event e) { events.push_back(std::move(e)); }

  void fail(Category c, std::string message, std::string condition = {}) {
    if (state == NegotiationState::Done) return;
    trace.progress(2, "XMPP: " + message);
    Event e;
    e.kind = Event::Kind::Failed;
    e.error = Error(c, std::move(message));
    e.condition = std::move(condition);
    push(std::move(e));
    state = NegotiationState::Done;
    restart_pending = true;  // ignore whatever the parser still delivers
  }

  void fail(Error err, std::string condition = {}) {
    if (state == NegotiationState::Done) return;
    trace.progress(2, "XMPP: " + err.message);
    Event e;
    e.kind = Event::Kind::Failed;
    e.error = std::move(err);
    e.condition = std::move(condition);
    push(std::move(e));
    state = NegotiationState::Done;
    restart_pending = true;
  }

  void retry(std::string message) {
    if (state == NegotiationState::Done) return;
    trace.progress(2, "XMPP: " + message + "; reconnecting");
    Event e;
    e.kind = Event::Kind::Retry;
    e.error = Error(Category::Protocol, std::move(message));
    push(std::move(e));
    state = NegotiationState::Done;
    restart_pending = true;
  }

  // --- input ----------------------------------------------------------------------------

  void feed(std::string_view bytes) {
    if (state == NegotiationState::Done || bytes.empty()) return;
    if (state == NegotiationState::Idle) {
      fail(Category::Internal, "data received before start()");
      return;
    }
    if (state == NegotiationState::TlsHandshake) {
      fail(Category::Protocol, "the server sent unencrypted data after <proceed/> (refused: STARTTLS injection)");
      return;
    }
    if (state != NegotiationState::Bound && state != NegotiationState::Closing) {
      pre_session += bytes.size();
      if (pre_session > config.limits.max_pre_session_bytes) {
        fail(Category::Protocol, "the server sent more than " + std::to_string(config.limits.max_pre_session_bytes) +
                                     " bytes before the session was established",
             "policy-violation");
        return;
      }
    }
    while (!bytes.empty() && state != NegotiationState::Done) {
      std::size_t base = stream_fed;
      auto r = parser->feed(bytes);
      stream_fed += bytes.size();
      if (state == NegotiationState::Done) return;
      if (restart_pending) {
        std::size_t used = restart_at > base ? restart_at - base : 0;
        std::string_view rest = used < bytes.size() ? bytes.substr(used) : std::string_view{};
        if (state == NegotiationState::TlsHandshake) {
          if (!rest.empty())
            fail(Category::Protocol,
                 "the server sent unencrypted data after <proceed/> (refused: STARTTLS injection)");
          return;
        }
        if (reset_now) {  // SASL success: the rest belongs to the next stream
          reset_now = false;
          new_parser();
          bytes = rest;
          continue;
        }
        return;
      }
      if (!r) {
        const auto& cond = parser->error_condition();
        fail(Category::Protocol, "the server sent bad XML: " + r.error().message, cond);
        return;
      }
      break;
    }
  }

  void on_open(const xml::Element& root) override {
    if (restart_pending || state == NegotiationState::Done) return;
    if (xml_trace()) {
      std::string h = "<stream:stream";
      for (const auto& [k, v] : root.attrs) h += " " + k + "='" + xml::escape_attr(v) + "'";
      trace_text(TraceDir::Received, h + ">");
    }
    if (root.name != "stream" || root.ns != kStreamNs) {
      fail(Category::Protocol, "the server did not open an XMPP stream (got <" + clean_text(root.name, 64) + "/>)",
           "invalid-namespace");
      return;
    }
    if (root.attr_or("xmlns") != kClientNs) {
      fail(Category::Protocol, "the server's stream is not in the jabber:client namespace", "invalid-namespace");
      return;
    }
    auto version = root.attr_or("version");
    if (version.empty() || version[0] < '1' || version[0] > '9') {
      fail(Category::NotSupported, "the server does not speak XMPP 1.0 (stream version '" +
                                       clean_text(version, 16) + "')", "unsupported-version");
      return;
    }
  }

  void on_close() override {
    if (restart_pending || state == NegotiationState::Done) return;
    if (xml_trace()) trace_text(TraceDir::Received, "</stream:stream>");
    if (state == NegotiationState::Bound || state == NegotiationState::Closing) {
      if (!close_sent) {
        close_sent = true;
        write_raw("</stream:stream>");
      }
      push(make_event(Event::Kind::Closed));
      state = NegotiationState::Done;
      restart_pending = true;
      return;
    }
    fail(Category::Connect, "the server closed the stream " + phase());
  }

  std::string phase() const {
    if (!tls && config.require_tls) return "before TLS was established";
    if (!authenticated) return "during authentication";
    return "before the resource was bound";
  }

  void on_stanza(xml::Element el) override {
    if (restart_pending || state == NegotiationState::Done) return;
    trace_element(TraceDir::Received, el, el.ns == kClientNs ? kClientNs : std::string_view{});
    if (el.ns == kStreamNs && el.name == "error") return stream_error(el);
    if (el.ns == kStreamNs && el.name == "features") return on_features(std::move(el));
    if (el.ns == kTlsNs) return on_tls(el);
    if (el.ns == kSaslNs) return on_sasl(el);
    if (el.ns == kSasl2Ns) return on_sasl2(el);
    on_stanza_element(std::move(el));
  }

  void stream_error(const xml::Element& el) {
    std::string cond = condition_of(el, kStreamErrNs);
    if (cond.empty()) cond = "undefined-condition";
    std::string text = text_of(el, config.limits.max_error_text);
    if (!close_sent) {
      close_sent = true;
      write_raw("</stream:stream>");
    }
    if (starttls_pipelined && !tls && state == NegotiationState::Connecting &&
        (cond == "policy-violation" || cond == "unsupported-stanza-type" || cond == "not-authorized" ||
         cond == "bad-format" || cond == "invalid-xml" || cond == "undefined-condition" ||
         cond == "not-well-formed" || cond == "unsupported-feature")) {
      retry("the server answered the pipelined <starttls/> with stream error " + cond);
      return;
    }
    std::string msg = "stream error from the server: " + cond;
    if (!text.empty()) msg += " (" + text + ")";
    Error err(stream_error_category(cond), msg);
    if (cond == "see-other-host") err.hint = "the server redirects to " + (text.empty() ? "another host" : text);
    fail(std::move(err), cond);
  }

  // --- features -------------------------------------------------------------------------

  void on_features(xml::Element f) {
    if (f.children.size() > config.limits.max_features) {
      fail(Category::Protocol, "the server sent " + std::to_string(f.children.size()) +
                                   " stream features (limit " + std::to_string(config.limits.max_features) + ")",
           "policy-violation");
      return;
    }
    features = std::move(f);
    if (!tls) {
      starttls_offered = features.child("starttls", kTlsNs) != nullptr;
      if (starttls_offered) {
        if (!starttls_sent) {
          starttls_sent = true;
          write(xml::Element("starttls", std::string(kTlsNs)));
        }
        return;
      }
      if (config.require_tls) {
        fail(Category::Tls, "the server does not offer STARTTLS (refusing to log in without TLS)");
        return;
      }
      if (starttls_sent) {
        fail(Category::Tls, "the server does not offer STARTTLS");
        return;
      }
    }
    if (!authenticated) {
      if (fast_pipelined && mech) {
        // The FAST authenticate already went out with the header.
        if (!features.child("authentication", kSasl2Ns)) {
          forget_token();
          retry("the server no longer offers SASL2; log in again without the FAST token");
        }
        return;
      }
      if (awaiting_features_for_fallback || !mech) {
        awaiting_features_for_fallback = false;
        state = NegotiationState::Authenticating;
        return authenticate();
      }
      return;
    }
    if (sasl2) return;  // features after SASL2 success: bind is already done or under way
    // After the restart that followed SASL success (bind was already pipelined).
    if (!sasl2 && !features.child("bind", kBindNs)) {
      fail(Category::Protocol, "the server offers no resource binding after authentication");
      return;
    }
    if (const auto* s = features.child("session", kSessionNs); s && !s->child("optional") && session_id.empty()) {
      session_id = next_id();
      xml::Element iq("iq", std::string(kClientNs));
      iq.set("type", "set").set("id", session_id);
      iq.add("session", std::string(kSessionNs));
      write(iq);
    }
  }

  std::string next_id() { return "xn" + std::to_string(++ids); }

  std::vector<std::string> offered_mechanisms(const xml::Element& list, bool& too_many) {
    std::vector<std::string> out;
    too_many = false;
    for (const auto& c : list.children) {
      if (c.name != "mechanism") continue;
      if (out.size() >= config.limits.max_mechanisms) {
        too_many = true;
        break;
      }
      out.push_back(trim(c.text));
    }
    return out;
  }

  // Picks a mechanism from offered, or fails.
  std::string choose(const std::vector<std::string>& offered) {
    auto has = [&](std::string_view m) { return std::find(offered.begin(), offered.end(), m) != offered.end(); };
    if (anonymous) {
      if (has("ANONYMOUS") &&
          (config.mechanisms.empty() ||
           std::find(config.mechanisms.begin(), config.mechanisms.end(), "ANONYMOUS") != config.mechanisms.end()))
        return "ANONYMOUS";
      fail(Category::NotSupported, "the server does not allow anonymous login (ANONYMOUS not offered)",
           "invalid-mechanism");
      return {};
    }
    const auto& order = config.mechanisms.empty() ? sasl::default_order() : config.mechanisms;
    bool plain_refused = false;
    for (const auto& m : order) {
      if (!has(m) || m == "ANONYMOUS") continue;
      if (m.ends_with("-PLUS") && !exporter_usable()) continue;
      if (m == "PLAIN" && !tls) {
        plain_refused = true;
        continue;
      }
      if (sasl::make(m, {}) == nullptr) continue;
      return m;
    }
    if (plain_refused) {
      fail(Category::NotSupported,
           "the server offers only PLAIN on an unencrypted stream (refusing to send the password in clear)",
           "encryption-required");
      return {};
    }
    std::string list;
    for (const auto& m : offered) list += (list.empty() ? "" : ", ") + clean_text(m, 40);
    fail(Category::NotSupported, "no SASL mechanism in common with the server (it offers: " +
                                     (list.empty() ? std::string("none") : list) + ")",
         "invalid-mechanism");
    return {};
  }

  // XEP-0440: bind only with tls-exporter, and only when the server lists it (servers that
  // offer -PLUS for other binding types would refuse ours).
  bool exporter_usable() const {
    if (!tls13 || exporter.empty()) return false;
    const auto* cb = features.child("sasl-channel-binding", kSaslCbNs);
    if (!cb) return false;
    for (const auto* t : cb->children_named("channel-binding"))
      if (t->attr_or("type") == "tls-exporter") return true;
    return false;
  }

  sasl::Credentials credentials(const std::vector<std::string>& offered) const {
    sasl::Credentials c;
    c.username = local;
    c.password = config.password;
    if (exporter_usable()) c.cb_exporter = exporter;
    c.server_offers_plus =
        std::any_of(offered.begin(), offered.end(), [](const std::string& m) { return m.ends_with("-PLUS"); });
    c.nonce = config.scram_nonce;
    return c;
  }

  void authenticate() {
    const auto* s2 = features.child("authentication", kSasl2Ns);
    const auto* s1 = features.child("mechanisms", kSaslNs);
    if (s2 && config.sasl2 && sasl2_supported()) {
      bool token = config.fast_token && !anonymous && tls && sasl::is_supported_ht(config.fast_token->mechanism) &&
                   offers_fast(*s2, config.fast_token->mechanism);
      if (!token && config.fast_token) forget_token();
      if (!token && config.fast_invalidate) {
        fail(Category::Auth, "no usable FAST token to invalidate");
        return;
      }
      if (!token && !anonymous && config.password.empty()) return need_password();
      return sasl2_start(s2, token);
    }
    // A token from a SASL2 server is useless where SASL2 is gone (XEP-0484 §5: discard it).
    if (config.fast_token && !s2) forget_token();
    if (config.fast_invalidate) {
      fail(Category::NotSupported, "the server does not offer SASL2, so it has no FAST token to invalidate");
      return;
    }
    if (!s1) {
      fail(Category::NotSupported, "the server offers no SASL authentication");
      return;
    }
    bool too_many = false;
    auto offered = offered_mechanisms(*s1, too_many);
    if (too_many) {
      fail(Category::Protocol, "the server lists more than " + std::to_string(config.limits.max_mechanisms) +
                                   " SASL mechanisms", "policy-violation");
      return;
    }
    auto m = choose(offered);
    if (m.empty()) return;
    if (m != "ANONYMOUS" && config.password.empty()) return need_password();
    mech = sasl::make(m, credentials(offered));
    mech_name = m;
    trace.progress(2, "XMPP: authenticating with " + m);
    std::string initial = mech->initial();
    xml::Element auth("auth", std::string(kSaslNs));
    auth.set("mechanism", m);
    auth.set_text(initial.empty() ? "=" : crypto::base64(initial));
    write(auth);
  }

  static bool offers_fast(const xml::Element& auth, std::string_view m) {
    const auto* inl = auth.child("inline", kSasl2Ns);
    const auto* fast = inl ? inl->child("fast", kFastNs) : nullptr;
    if (!fast) return false;
    for (const auto* c : fast->children_named("mechanism"))
      if (trim(c->text) == m) return true;
    return false;
  }

  std::optional<std::string> decode_payload(std::string_view text) {
    auto t = trim(text);
    if (t.empty() || t == "=") return std::string();
    auto d = crypto::unbase64(t);
    if (!d) fail(Category::Protocol, "the server sent bad base64 in a SASL message", "incorrect-encoding");
    return d;
  }

  // A SASL (ns = kSaslNs) or SASL2 challenge: the mechanism's next step as a <response/>, or an
  // <abort/> and a failure. True when a response was written.
  bool answer_challenge(const xml::Element& el, std::string_view ns) {
    if (++sasl_rounds > config.limits.max_sasl_rounds) {
      fail(Category::Protocol, "too many SASL challenges from the server", "policy-violation");
      return false;
    }
    auto data = decode_payload(el.text);
    if (!data) return false;
    auto r = mech->step(*data);
    if (!r) {
      write(xml::Element("abort", std::string(ns)));
      fail(r.error());
      return false;
    }
    xml::Element resp("response", std::string(ns));
    if (!r->empty()) resp.set_text(crypto::base64(*r));
    write(resp);
    return true;
  }

  void on_sasl(const xml::Element& el) {
    if (state != NegotiationState::Authenticating || !mech || sasl2) {
      fail(Category::Protocol, "unexpected SASL element <" + el.name + "/> from the server");
      return;
    }
    if (el.name == "challenge") {
      answer_challenge(el, kSaslNs);
      return;
    }
    if (el.name == "success") {
      auto data = decode_payload(el.text);
      if (!data) return;
      if (auto r = mech->finish(*data); !r) {
        fail(r.error());
        return;
      }
      authenticated = true;
      trace.progress(1, "XMPP: authenticated (" + mech_name + ")");
      // RFC 6120 §6.4.6: restart the stream; bind and the held stanzas go in the same flight.
      restart_pending = true;
      restart_at = parser->event_end();
      reset_now = true;
      state = NegotiationState::Binding;
      write_header();
      send_bind();
      flush_held_out();
      return;
    }
    if (el.name == "failure") {
      std::string cond = condition_of(el, kSaslNs);
      if (cond.empty()) cond = "not-authorized";
      std::string text = text_of(el, config.limits.max_error_text);
      std::string msg = "authentication failed: " + cond;
      if (!text.empty()) msg += " (" + text + ")";
      fail(Category::Auth, msg, cond);
      return;
    }
    fail(Category::Protocol, "unexpected SASL element <" + clean_text(el.name, 64) + "/> from the server");
  }

  void send_bind() {
    bind_id = next_id();
    xml::Element iq("iq", std::string(kClientNs));
    iq.set("type", "set").set("id", bind_id);
    auto& b = iq.add("bind", std::string(kBindNs));
    if (!config.resource.empty()) b.add("resource", std::string(kBindNs)).set_text(config.resource);
    write(iq);
  }

  void flush_held_out() {
    for (auto& e : held_out) write(e);
    held_out.clear();
  }

  // --- SASL2 (XEP-0388) with Bind2 (XEP-0386) and FAST (XEP-0484) ----------------------

  bool sasl2_supported() const { return true; }

  // The FAST mechanism to ask a token for: tls-exporter bound where possible.
  std::string fast_request_mechanism(const xml::Element* fast) const {
    if (!fast) return {};
    bool expr = false, none = false;
    for (const auto* m : fast->children_named("mechanism")) {
      auto name = trim(m->text);
      if (name == "HT-SHA-256-EXPR") expr = true;
      if (name == "HT-SHA-256-NONE") none = true;
    }
    if (expr && exporter_usable()) return "HT-SHA-256-EXPR";
    if (none) return "HT-SHA-256-NONE";
    return {};
  }

  // Starts a SASL2 exchange. With use_token, the stored FAST token is the credential; auth may
  // be null when the authenticate is pipelined ahead of the features.
  void sasl2_start(const xml::Element* auth, bool use_token) {
    sasl2 = true;
    sasl_rounds = 0;
    const xml::Element* inl = auth ? auth->child("inline", kSasl2Ns) : nullptr;
    const xml::Element* fast = inl ? inl->child("fast", kFastNs) : nullptr;
    std::vector<std::string> offered;
    if (auth) {
      bool too_many = false;
      offered = offered_mechanisms(*auth, too_many);
      if (too_many) {
        fail(Category::Protocol, "the server lists more than " + std::to_string(config.limits.max_mechanisms) +
                                     " SASL mechanisms", "policy-violation");
        return;
      }
    }
    std::string m;
    if (use_token) {
      m = config.fast_token->mechanism;
      auto creds = credentials(offered);
      creds.password = config.fast_token->token;
      // The token was issued bound to tls-exporter (EXPR): bind again even when the features
      // (with XEP-0440's list) have not arrived yet, as with a token sent behind the header.
      if (m == "HT-SHA-256-EXPR") creds.cb_exporter = tls13 ? exporter : std::string();
      mech = sasl::make_ht(m, creds);
      fast_in_use = true;
    } else {
      m = choose(offered);
      if (m.empty()) return;
      mech = sasl::make(m, credentials(offered));
      fast_in_use = false;
    }
    mech_name = m;
    trace.progress(2, "XMPP: authenticating with " + m + " (SASL2)");
    xml::Element a("authenticate", std::string(kSasl2Ns));
    a.set("mechanism", m);
    std::string initial = mech->initial();
    if (!initial.empty()) a.add("initial-response", std::string(kSasl2Ns)).set_text(crypto::base64(initial));
    auto& ua = a.add("user-agent", std::string(kSasl2Ns));
    if (!config.user_agent_id.empty()) ua.set("id", config.user_agent_id);
    ua.add("software", std::string(kSasl2Ns)).set_text("xnet");
    // Bind2 when offered inline (or assumed, for a FAST login sent ahead of the features).
    // Bind2 has the server choose the resource: a requested one needs RFC 6120 bind.
    bind2_requested = false;
    if ((!inl ? use_token : inl->child("bind", kBind2Ns) != nullptr) && config.resource.empty()) {
      auto& b = a.add("bind", std::string(kBind2Ns));
      if (!config.bind2_tag.empty()) b.add("tag", std::string(kBind2Ns)).set_text(config.bind2_tag);
      bind2_requested = true;
    }
    if (use_token) {
      auto& f = a.add("fast", std::string(kFastNs));
      if (config.fast_invalidate) f.set("invalidate", "true");
    }
    if (config.request_fast_token && !anonymous && !use_token && !config.fast_invalidate) {
      fast_requested = fast_request_mechanism(fast);
      if (!fast_requested.empty()) a.add("request-token", std::string(kFastNs)).set("mechanism", fast_requested);
    }
    state = NegotiationState::Authenticating;
    write(a);
    pipeline_behind_sasl2();
  }

  void need_password() {
    awaiting_password = true;
    push(make_event(Event::Kind::NeedPassword));
  }

  void provide_password(std::string pw) {
    if (!awaiting_password || state == NegotiationState::Done) return;
    awaiting_password = false;
    config.password = std::move(pw);
    if (config.password.empty()) {
      fail(Category::Auth, "no password");
      return;
    }
    authenticate();
  }

  // XEP-0388 needs no restart after success: once the client's last SASL message is out, the
  // stanzas held for the session follow it in the same flight (the server reads them after
  // its <success/>, when Bind2 has already bound the resource).
  void pipeline_behind_sasl2() {
    if (!sasl2 || !bind2_requested || !mech || !mech->client_done() || held_out.empty()) return;
    flush_held_out();
    early_sent = true;
  }

  void forget_token() {
    Event e = make_event(Event::Kind::FastToken);  // empty token: discard the stored one
    push(std::move(e));
    config.fast_token.reset();
  }

  void on_sasl2(const xml::Element& el) {
    if (state != NegotiationState::Authenticating || !mech || !sasl2) {
      fail(Category::Protocol, "unexpected SASL2 element <" + clean_text(el.name, 64) + "/> from the server");
      return;
    }
    if (el.name == "challenge") {
      if (answer_challenge(el, kSasl2Ns)) pipeline_behind_sasl2();
      return;
    }
    if (el.name == "success") {
      const auto* ad = el.child("additional-data", kSasl2Ns);
      auto data = decode_payload(ad ? std::string_view(ad->text) : std::string_view{});
      if (!data) return;
      if (auto r = mech->finish(*data); !r) {
        fail(r.error());
        return;
      }
      authenticated = true;
      trace.progress(1, "XMPP: authenticated (" + mech_name + ", SASL2)");
      if (const auto* tok = el.child("token", kFastNs)) {
        Event e = make_event(Event::Kind::FastToken);
        e.token.token = tok->attr_or("token");
        e.token.expiry = clean_text(tok->attr_or("expiry"), 64);
        e.token.mechanism = fast_in_use ? mech_name : fast_requested;
        if (!e.token.token.empty() && e.token.token.size() <= 4096 && !e.token.mechanism.empty()) push(std::move(e));
      }
      const auto* id = el.child("authorization-identifier", kSasl2Ns);
      if (!id) id = el.child("authorization-identity", kSasl2Ns);
      std::string who = id ? trim(id->text) : std::string();
      if (el.child("bound", kBind2Ns) && bind2_requested && who.find('/') != std::string::npos &&
          who.size() <= 3071)
        return bound_as(who);
      // No Bind2: RFC 6120 bind on the same stream (no restart with SASL2).
      state = NegotiationState::Binding;
      send_bind();
      flush_held_out();
      return;
    }
    if (el.name == "failure") {
      std::string cond = condition_of(el, kSaslNs);
      if (cond.empty()) cond = condition_of(el, "");
      if (cond.empty()) cond = "not-authorized";
      if (fast_in_use && !config.fast_invalidate) {
        // XEP-0484 §5: discard the token and fall back to the password, on the same stream
        // unless stanzas already followed the token (then on a new connection).
        trace.progress(2, "XMPP: FAST token refused (" + cond + "), using the password");
        forget_token();
        mech.reset();
        fast_in_use = false;
        if (early_sent) return retry("the server refused the FAST token");
        const auto* auth = features.child("authentication", kSasl2Ns);
        if (!auth) {
          awaiting_features_for_fallback = true;
          return;
        }
        if (config.password.empty()) return need_password();
        return sasl2_start(auth, false);
      }
      std::string text = text_of(el, config.limits.max_error_text);
      std::string msg = "authentication failed: " + cond;
      if (!text.empty()) msg += " (" + text + ")";
      fail(Category::Auth, msg, cond);
      return;
    }
    if (el.name == "continue") {
      fail(Category::NotSupported, "the server asks for further SASL2 tasks, which xnet does not support");
      return;
    }
    fail(Category::Protocol, "unexpected SASL2 element <" + clean_text(el.name, 64) + "/> from the server");
  }

  // --- TLS ------------------------------------------------------------------------------

  void on_tls(const xml::Element& el) {
    if (tls || !starttls_sent || state != NegotiationState::Connecting) {
      fail(Category::Protocol, "unexpected STARTTLS element <" + clean_text(el.name, 64) + "/> from the server");
      return;
    }
    if (el.name == "proceed") {
      state = NegotiationState::TlsHandshake;
      restart_pending = true;
      restart_at = parser->event_end();
      trace.progress(2, "XMPP: STARTTLS accepted, starting TLS");
      push(make_event(Event::Kind::StartTls));
      return;
    }
    if (el.name == "failure" && starttls_pipelined) {
      retry("the server refused the pipelined <starttls/>");
      return;
    }
    fail(Category::Tls, "the server refused STARTTLS", "failure");
  }

  // --- stanzas --------------------------------------------------------------------------

  void on_stanza_element(xml::Element el) {
    if (state == NegotiationState::Bound || state == NegotiationState::Closing) return deliver(std::move(el));
    if (!authenticated) {
      fail(Category::Protocol, "the server sent <" + clean_text(el.name, 64) + "/> before authentication");
      return;
    }
    if (el.name == "iq" && !bind_id.empty() && el.attr_or("id") == bind_id) return on_bind_reply(el);
    if (el.name == "iq" && !session_id.empty() && el.attr_or("id") == session_id) return;
    if (held_in.size() >= config.limits.max_queued_events) {
      fail(Category::Protocol, "too many stanzas before the resource was bound", "policy-violation");
      return;
    }
    held_in.push_back(std::move(el));
  }

  void on_bind_reply(const xml::Element& iq) {
    auto type = iq.attr_or("type");
    if (type == "result") {
      const auto* b = iq.child("bind", kBindNs);
      const auto* j = b ? b->child("jid", kBindNs) : nullptr;
      std::string bound = j ? trim(j->text) : std::string();
      if (bound.empty() || bound.size() > 3071 || bound.find('/') == std::string::npos) {
        fail(Category::Protocol, "the server's bind result has no valid full JID");
        return;
      }
      return bound_as(bound);
    }
    if (type == "error") {
      StanzaError se = stanza_error(iq);
      std::string msg = "resource binding failed: " + se.condition;
      if (!se.text.empty()) msg += " (" + se.text + ")";
      Error err(Category::Remote, msg);
      err.stanza = se;
      fail(std::move(err), se.condition);
      return;
    }
    fail(Category::Protocol, "the server answered bind with type '" + clean_text(type, 16) + "'");
  }

  void bound_as(const std::string& full) {
    jid = full;
    state = NegotiationState::Bound;
    pre_session = 0;
    trace.progress(1, "XMPP: bound as " + clean_text(jid, 3071));
    Event ev = make_event(Event::Kind::Bound);
    ev.jid = jid;
    push(std::move(ev));
    flush_held_out();
    while (!held_in.empty() && state != NegotiationState::Done) {
      auto e = std::move(held_in.front());
      held_in.pop_front();
      deliver(std::move(e));
    }
  }

  StanzaError stanza_error(const xml::Element& st) const {
    StanzaError se;
    const auto* err = st.child("error");
    if (!err) {
      se.condition = "undefined-condition";
      return se;
    }
    se.type = clean_text(err->attr_or("type", "cancel"), 16);
    for (const auto& c : err->children) {
      if (c.ns == kStanzaErrNs) {
        if (c.name == "text") se.text = clean_text(c.text, config.limits.max_error_text);
        else if (se.condition.empty()) se.condition = c.name;
      } else if (se.app.empty()) {
        se.app = clean_text(c.name, 64);
      }
    }
    if (se.condition.empty()) se.condition = "undefined-condition";
    return se;
  }

  void deliver(xml::Element el) {
    auto type = el.attr_or("type");
    if (el.name == "iq" && type == "get" && el.child("ping", kPingNs)) {
      // XEP-0199 §4: answer the server's (or a peer's) ping with an empty result.
      xml::Element r("iq", std::string(kClientNs));
      r.set("type", "result").set("id", el.attr_or("id"));
      if (const auto* from = el.attr("from")) r.set("to", *from);
      write(r);
      return;
    }
    if (type == "error")
      if (auto* err = el.child("error"))
        for (auto& c : err->children)
          if (c.name == "text" && c.text.size() > config.limits.max_error_text)
            c.text = clean_text(c.text, config.limits.max_error_text);
    Event ev = make_event(Event::Kind::Stanza);
    ev.stanza = std::move(el);
    push(std::move(ev));
  }

  // --- API ------------------------------------------------------------------------------

  void start() {
    if (state != NegotiationState::Idle) return;
    if (domain.empty()) {
      fail(Category::Usage, "invalid JID '" + clean_text(config.jid, 256) + "': no domain");
      return;
    }
    if (!anonymous && local.empty()) {
      fail(Category::Usage, "invalid JID '" + clean_text(config.jid, 256) + "': empty local part");
      return;
    }
    state = NegotiationState::Connecting;
    if (config.direct_tls) return;  // the header waits for tls_established()
    write_header();
    if (config.pipeline_starttls && config.require_tls) {
      starttls_sent = true;
      starttls_pipelined = true;
      write(xml::Element("starttls", std::string(kTlsNs)));
    }
  }

  void tls_established(const TlsInfo& info) {
    bool expected = (state == NegotiationState::TlsHandshake) ||
                    (config.direct_tls && state == NegotiationState::Connecting && !tls);
    if (!expected) {
      fail(Category::Internal, "tls_established() called when no TLS handshake was due");
      return;
    }
    tls = true;
    tls13 = info.version == "TLSv1.3";
    exporter = info.exporter;
    trace.progress(2, "XMPP: TLS established (" + info.version + ")");
    new_parser();
    state = NegotiationState::Connecting;
    write_header();
    // A stored FAST token came from a SASL2 server: authenticate in the same flight as the
    // header, without waiting for the features (XEP-0484's single round trip).
    if (config.sasl2 && config.fast_token && !anonymous && sasl::is_supported_ht(config.fast_token->mechanism) &&
        (config.fast_token->mechanism != "HT-SHA-256-EXPR" || (tls13 && !exporter.empty()))) {
      fast_pipelined = true;
      sasl2_start(nullptr, true);
    }
  }

  void end_of_input() {
    if (state == NegotiationState::Done) return;
    if (close_sent || state == NegotiationState::Closing) {
      push(make_event(Event::Kind::Closed));
      state = NegotiationState::Done;
      return;
    }
    if (state == NegotiationState::Bound) {
      fail(Category::Connect, "the server closed the connection without closing the stream");
      return;
    }
    fail(Category::Connect, "the server closed the connection " + phase());
  }

  void send(const xml::Element& stanza) {
    if (state == NegotiationState::Done || close_sent) return;
    xml::Element e = stanza;
    inherit_ns(e, kClientNs);
    if (state == NegotiationState::Bound || state == NegotiationState::Binding) {
      write(e);
    } else if (state == NegotiationState::Authenticating && sasl2 && bind2_requested && mech && mech->client_done()) {
      write(e);  // behind the final SASL2 message, like the held ones (pipeline_behind_sasl2)
      early_sent = true;
    } else {
      held_out.push_back(std::move(e));
    }
  }

  void close() {
    if (close_sent || state == NegotiationState::Idle || state == NegotiationState::Done) return;
    close_sent = true;
    write_raw("</stream:stream>");
    state = NegotiationState::Closing;
  }
};

ClientNegotiator::ClientNegotiator(NegotiatorConfig config, Trace& trace)
    : impl_(std::make_unique<Impl>(std::move(config), trace)) {}
ClientNegotiator::~ClientNegotiator() = default;
void ClientNegotiator::start() { impl_->start(); }
void ClientNegotiator::feed(std::string_view bytes) { impl_->feed(bytes); }
void ClientNegotiator::tls_established(const TlsInfo& info) { impl_->tls_established(info); }
void ClientNegotiator::end_of_input() { impl_->end_of_input(); }
std::string ClientNegotiator::take_output() { return std::exchange(impl_->out, {}); }
bool ClientNegotiator::has_output() const { return !impl_->out.empty(); }
std::optional<Event> ClientNegotiator::next_event() {
  if (impl_->events.empty()) return std::nullopt;
  Event e = std::move(impl_->events.front());
  impl_->events.pop_front();
  return e;
}
void ClientNegotiator::send(const xml::Element& stanza) { impl_->send(stanza); }
void ClientNegotiator::keepalive() {
  if (impl_->state == NegotiationState::Bound) impl_->out += ' ';
}
std::string ClientNegotiator::ping() {
  auto id = impl_->next_id();
  xml::Element iq("iq", std::string(kClientNs));
  iq.set("type", "get").set("id", id).set("to", impl_->domain);
  iq.add("ping", std::string(kPingNs));
  impl_->send(iq);
  return id;
}
void ClientNegotiator::close() { impl_->close(); }
NegotiationState ClientNegotiator::state() const { return impl_->state; }
const std::string& ClientNegotiator::bound_jid() const { return impl_->jid; }
const xml::Element& ClientNegotiator::features() const { return impl_->features; }
const std::string& ClientNegotiator::mechanism() const { return impl_->mech_name; }
bool ClientNegotiator::used_sasl2() const { return impl_->sasl2; }
bool ClientNegotiator::used_fast() const { return impl_->authenticated && impl_->fast_in_use; }
void ClientNegotiator::provide_password(std::string password) { impl_->provide_password(std::move(password)); }
std::string ClientNegotiator::next_id() { return impl_->next_id(); }

}  // namespace xnet::xmpp
