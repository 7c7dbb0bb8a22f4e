// SPDX-License-Identifier: MIT
#include "server/c2s.hpp"

#include <algorithm>
#include <ctime>

#include "server/crypto.hpp"
#include "server/fast_tokens.hpp"
#include "server/hub.hpp"
#include "server/stanza.hpp"
#include "xep/xep0030.hpp"
#include "xep/xep0279.hpp"

namespace xnet::server {

namespace {

std::string trimmed(std::string_view s) {
  std::string out;
  for (char c : s)
    if (c != ' ' && c != '\n' && c != '\r' && c != '\t') out.push_back(c);
  return out;
}

bool is_sasl(const xml::Element& e) { return e.ns == kSaslNs || e.ns == kSasl2Ns; }

// SASL payloads and FAST tokens never reach a trace (STYLE §6). The authorization identifier
// and failure texts stay readable.
void redact(xml::Element& e) {
  if ((e.ns == kSaslNs || e.ns == kSasl2Ns) && !e.text.empty() && e.name != "authorization-identifier" &&
      e.name != "text")
    e.text = "[redacted]";
  if (e.ns == kFastNs && e.attr("token")) e.set("token", "[redacted]");
  for (auto& c : e.children) redact(c);
}

std::string redacted(const xml::Element& e, std::string_view stream_ns) {
  if (!is_sasl(e)) return e.str(stream_ns);
  xml::Element copy = e;
  redact(copy);
  return copy.str(stream_ns);
}

bool is_scram(std::string_view m) {
  return m == "SCRAM-SHA-1" || m == "SCRAM-SHA-256" || m == "SCRAM-SHA-1-PLUS" || m == "SCRAM-SHA-256-PLUS";
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// C2sSession

C2sSession::C2sSession(Hub& hub, Transport& transport, Endpoint remote, bool tls)
    : hub_(hub),
      t_(transport),
      remote_(std::move(remote)),
      id_(hub.next_session_id()),
      parser_(*this, xml::StreamLimits{hub.options().limits.max_stanza_bytes, 32, false}),
      tls_(tls) {
  counted_ = hub_.connection_opened(remote_.ip);
  hub_.track(this);
  hub_.log().event("connect", {{"session", id_}, {"ip", remote_.ip}, {"port", remote_.port}, {"tls", tls_}});
}

C2sSession::~C2sSession() {
  if (alive_) *alive_ = false;
  hub_.unbind(*this);
  hub_.untrack(this);
  if (counted_) hub_.connection_closed(remote_.ip);
}

C2sSession::Negotiation& C2sSession::neg() {
  if (!neg_) neg_ = std::make_unique<Negotiation>();
  return *neg_;
}

const std::string& C2sSession::exporter() const {
  static const std::string none;
  return neg_ ? neg_->exporter : none;
}

void C2sSession::on_open(const xml::Element& root) { events_.push_back({Event::Open, root}); }
void C2sSession::on_stanza(xml::Element stanza) {
  events_.push_back({Event::Stanza, std::move(stanza), parser_.event_end()});
}
void C2sSession::on_close() { events_.push_back({Event::Close, {}}); }

void C2sSession::on_data(std::string_view data) {
  if (state_ == State::Closed) return;
  last_rx_ = Clock::now();
  // A SASL success restarts the stream (RFC 6120 §6.4.6): what the client pipelined behind its
  // last SASL message (the new stream header, bind, first requests) belongs to the new stream
  // and is parsed again by the fresh parser. After <starttls/> the rest is dropped instead: it
  // is plaintext injected ahead of the TLS handshake.
  std::string_view chunk = data;
  for (int round = 0; round < 4; ++round) {
    std::size_t base = fed_;
    auto r = parser_.feed(chunk);
    fed_ += chunk.size();
    std::vector<Event> evs;
    evs.swap(events_);
    restart_pending_ = false;
    refeed_ = false;
    for (auto& ev : evs) {
      if (state_ == State::Closed || restart_pending_) break;
      switch (ev.kind) {
        case Event::Open: handle_open(ev.el); break;
        case Event::Stanza: handle_stanza(ev.el); break;
        case Event::Close:
          hub_.log().event("stream_closed", {{"session", id_}, {"jid", jid_}});
          close_stream();
          break;
      }
      if (restart_pending_) restart_at_ = ev.end;
    }
    if (state_ == State::Closed) return;
    if (restart_pending_) {
      if (!refeed_ || restart_at_ < base || restart_at_ - base >= chunk.size()) break;
      chunk = chunk.substr(restart_at_ - base);
      continue;
    }
    if (!r) {
      auto cond = parser_.error_condition().empty() ? std::string("not-well-formed") : parser_.error_condition();
      close_with_error(cond, r.error().message);
      return;
    }
    break;
  }
  // Between stanzas a bound stream keeps no XML parser: idle sessions dominate memory, and a
  // parser that lives only while data is parsed leaves no holes between long-lived blocks (one
  // put to sleep later, on a timer, costs more per idle session than it saves in parsing).
  if (state_ == State::Bound) parser_.hibernate();
}

void C2sSession::write_raw(std::string data, bool trace) {
  if (trace && hub_.trace().enabled(TraceArea::Xml))
    hub_.trace().wire(TraceArea::Xml, TraceDir::Sent, "[c2s-" + std::to_string(id_) + "] " + data);
  last_tx_ = Clock::now();
  t_.write(std::move(data));
}

void C2sSession::trace_sent(const xml::Element& st) {
  if (hub_.trace().enabled(TraceArea::Xml))
    hub_.trace().wire(TraceArea::Xml, TraceDir::Sent, "[c2s-" + std::to_string(id_) + "] " + redacted(st, kClientNs));
}

void C2sSession::send(const xml::Element& st) {
  trace_sent(st);
  write_raw(st.str(kClientNs), false);
}

void C2sSession::reset_stream() {
  parser_.reset();
  fed_ = 0;
  restart_pending_ = true;
  refeed_ = true;
  state_ = State::Header;
}

void C2sSession::close_with_error(std::string_view condition, std::string_view text) {
  if (state_ == State::Closed) return;
  std::string out;
  if (!header_sent_) out = stream_header(kClientNs, hub_.domain(), hub_.next_id("c2s-"));
  out += stream_error(condition, text);
  hub_.log().event("stream_error", {{"session", id_},
                                    {"ip", remote_.ip},
                                    {"jid", jid_},
                                    {"condition", condition},
                                    {"text", text}});
  write_raw(std::move(out));
  state_ = State::Closed;
  hub_.unbind(*this);
  t_.close();
}

void C2sSession::close_stream() {
  if (state_ == State::Closed) return;
  std::string out;
  if (!header_sent_) out = stream_header(kClientNs, hub_.domain(), hub_.next_id("c2s-"));
  out += "</stream:stream>";
  write_raw(std::move(out));
  state_ = State::Closed;
  hub_.unbind(*this);
  t_.close();
}

void C2sSession::on_disconnect() {
  if (state_ != State::Closed)
    hub_.log().event("disconnect", {{"session", id_}, {"ip", remote_.ip}, {"jid", jid_}});
  state_ = State::Closed;
  hub_.unbind(*this);
}

void C2sSession::on_tls_ready() {
  if (state_ == State::Closed) return;
  tls_ = true;
  exporter_fetched_ = false;
  parser_.reset();
  fed_ = 0;
  state_ = State::Header;
  hub_.log().event("tls", {{"session", id_}, {"ip", remote_.ip}});
}

void C2sSession::on_timer(Clock::time_point now) {
  if (state_ == State::Closed) return;
  const auto& l = hub_.options().limits;
  if (t_.pending_bytes() > l.max_outbound_bytes) {
    close_with_error("policy-violation", "peer does not read its stream");
    return;
  }
  if (!user_.size() && now - created_ > l.auth_timeout) {
    close_with_error("connection-timeout", "not authenticated in time");
    return;
  }
  if (now - last_rx_ > l.idle_timeout) {
    close_with_error("connection-timeout", "idle for too long");
    return;
  }
  if (header_sent_ && now - last_tx_ > l.keepalive_interval) write_raw(" ", false);
}

void C2sSession::deliver(const xml::Element& stanza) {
  if (state_ != State::Bound) return;
  if (t_.pending_bytes() > hub_.options().limits.max_outbound_bytes) {
    close_with_error("policy-violation", "peer does not read its stream");
    return;
  }
  send(stanza);
}

void C2sSession::handle_open(const xml::Element& root) {
  if (state_ != State::Header) {
    close_with_error("not-well-formed");
    return;
  }
  auto* xmlns = root.attr("xmlns");
  if (root.name != "stream" || root.ns != kStreamNs || !xmlns || *xmlns != kClientNs) {
    close_with_error("invalid-namespace");
    return;
  }
  if (auto* to = root.attr("to"); to && normalize_jid(*to) != hub_.domain()) {
    close_with_error("host-unknown", "this server serves " + hub_.domain());
    return;
  }
  auto version = root.attr_or("version");
  if (version.empty() || version[0] < '1' || version[0] > '9') {
    close_with_error("unsupported-version", "XMPP 1.0 required");
    return;
  }
  if (!counted_) {
    close_with_error("policy-violation", "too many connections from your address");
    return;
  }
  // Short enough for the string's inline buffer (15 characters, 89 random bits): an idle session
  // keeps it without a heap block.
  stream_id_ = crypto::random_token(15);
  std::string to_attr;
  if (auto* f = root.attr("from"); f && !normalize_jid(*f).empty()) to_attr = *f;
  write_raw(stream_header(kClientNs, hub_.domain(), stream_id_, to_attr));
  header_sent_ = true;
  state_ = user_.empty() ? State::Negotiating : State::Authenticated;
  send_features();
}

std::vector<std::string> C2sSession::mechanisms(bool sasl2) const {
  const auto& o = hub_.options();
  std::vector<std::string> m;
  // -PLUS only in the SASL2 list: SASL1-era clients may try tls-unique, undefined in TLS 1.3.
  if (sasl2 && !exporter().empty()) {
    m.push_back("SCRAM-SHA-256-PLUS");
    m.push_back("SCRAM-SHA-1-PLUS");
  }
  m.push_back("SCRAM-SHA-256");
  m.push_back("SCRAM-SHA-1");
  if (tls_ && o.allow_plain) m.push_back("PLAIN");
  if (o.allow_anonymous) m.push_back("ANONYMOUS");
  return m;
}

// XEP-0484: only over TLS, and only with a token store.
std::vector<std::string> C2sSession::fast_mechanisms() const {
  if (!tls_ || !hub_.options().fast_tokens) return {};
  std::vector<std::string> m;
  if (!exporter().empty()) m.emplace_back(kHtExpr);
  m.emplace_back(kHtNone);
  return m;
}

void C2sSession::send_features() {
  const auto& o = hub_.options();
  xml::Element f("features", std::string(kStreamNs));
  if (state_ == State::Negotiating) {
    bool offer_tls = !tls_ && o.tls_available;
    if (offer_tls) {
      auto& st = f.add("starttls", std::string(kTlsNs));
      if (o.require_tls) st.add("required", std::string(kTlsNs));
    }
    if (tls_ || !o.require_tls || !o.tls_available) {
      if (tls_ && !exporter_fetched_) {
        neg().exporter = t_.tls_exporter();
        exporter_fetched_ = true;
      }
      auto& m = f.add("mechanisms", std::string(kSaslNs));
      for (const auto& name : mechanisms(false)) m.add("mechanism").set_text(name);
      // XEP-0388 with Bind 2 and FAST inline; SASL1 stays for older clients.
      Sasl2Offer offer;
      offer.mechanisms = mechanisms(true);
      offer.fast_mechanisms = fast_mechanisms();
      f.add(sasl2_feature(offer));
      if (!exporter().empty()) f.add(sasl_channel_binding_feature());
    }
  } else if (state_ == State::Authenticated) {
    f.add("bind", std::string(kBindNs));
    f.add("session", std::string(kSessionNs)).add("optional", std::string(kSessionNs));
  }
  // The features element uses the stream: prefix; Element::str would declare a default
  // namespace instead, so it is written by hand around the children.
  std::string out = "<stream:features>";
  for (const auto& c : f.children) out += c.str(kClientNs);
  out += "</stream:features>";
  write_raw(std::move(out));
}

void C2sSession::handle_stanza(xml::Element& st) {
  if (hub_.trace().enabled(TraceArea::Xml))
    hub_.trace().wire(TraceArea::Xml, TraceDir::Received, "[c2s-" + std::to_string(id_) + "] " + redacted(st, kClientNs));
  if (state_ == State::Negotiating) {
    if (st.ns == kTlsNs && st.name == "starttls") return handle_starttls(st);
    if (st.ns == kSaslNs || st.ns == kSasl2Ns) {
      if (sasl_busy_) return;
      sasl2_failed_ = false;
      bool v2 = st.ns == kSasl2Ns;
      if (st.name == (v2 ? "authenticate" : "auth")) {
        sasl2_ = v2;
        return v2 ? handle_authenticate(st) : handle_auth(st);
      }
      if (st.name == "response") {
        // A response in the other profile than the exchange it continues is malformed.
        bool mismatch = !neg().mech.empty() && sasl2_ != v2;
        sasl2_ = v2;
        if (mismatch) return sasl_failure("malformed-request", "response in the wrong SASL profile");
        return handle_response(st);
      }
      if (st.name == "abort") {
        sasl2_ = v2;
        neg().scram.reset();
        neg().mech.clear();
        return sasl_failure("aborted");
      }
    }
    // A client that pipelined stanzas behind its final SASL2 message (XEP-0388 has no restart,
    // XEP-0484 allows one round trip) and was refused retries or falls back to its password:
    // its stanzas are dropped rather than answered with a stream error (bounded).
    bool stanza = st.ns == kClientNs && (st.name == "iq" || st.name == "message" || st.name == "presence");
    if (stanza && (sasl2_failed_ || (sasl2_ && sasl_busy_)) && dropped_ < 32) {
      if (dropped_++ == 0) hub_.log().event("dropped_after_auth_failure", {{"session", id_}, {"ip", remote_.ip}});
      return;
    }
    close_with_error("not-authorized", "authenticate first");
    return;
  }
  handle_bind_phase(st);
}

void C2sSession::handle_starttls(const xml::Element&) {
  if (tls_ || !hub_.options().tls_available) {
    write_raw("<failure xmlns='urn:ietf:params:xml:ns:xmpp-tls'/></stream:stream>");
    state_ = State::Closed;
    t_.close();
    return;
  }
  write_raw("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
  restart_pending_ = true;
  state_ = State::Header;
  t_.start_tls();
}

void C2sSession::handle_auth(const xml::Element& st) {
  const auto& o = hub_.options();
  if (o.require_tls && o.tls_available && !tls_) return sasl_failure("encryption-required");
  std::string mech = st.attr_or("mechanism");
  std::optional<std::string> initial;
  std::string text = trimmed(st.text);
  if (text == "=") {
    initial = std::string();
  } else if (!text.empty()) {
    initial = crypto::unbase64(text);
    if (!initial) return sasl_failure("incorrect-encoding");
  }
  sasl_start(mech, initial);
}

// XEP-0388 §2.3 with XEP-0386 and XEP-0484 requests inline.
void C2sSession::handle_authenticate(const xml::Element& st) {
  const auto& o = hub_.options();
  if (o.require_tls && o.tls_available && !tls_) return sasl_failure("encryption-required");
  auto a = parse_sasl2_authenticate(st);
  if (!a) return sasl_failure(sasl_condition(a.error()));
  neg().auth2 = std::make_unique<Sasl2Authenticate>(std::move(*a));
  fast_login_ = fast_rotate_ = false;
  auto fast = fast_mechanisms();
  bool fast_mech = std::find(fast.begin(), fast.end(), neg().auth2->mechanism) != fast.end();
  if (neg().auth2->fast || fast_mech) {
    // XEP-0484 §3.3: a token login names a FAST mechanism and carries <fast/>.
    if (!neg().auth2->fast || !fast_mech || !neg().auth2->initial_response) {
      neg().mech.clear();
      return sasl_failure("invalid-mechanism");
    }
    neg().mech = neg().auth2->mechanism;
    return handle_fast(*neg().auth2->initial_response);
  }
  if (!neg().auth2->request_token.empty() && std::find(fast.begin(), fast.end(), neg().auth2->request_token) == fast.end())
    neg().auth2->request_token.clear();  // a token for a mechanism not offered is simply not issued
  sasl_start(neg().auth2->mechanism, neg().auth2->initial_response);
}

// XEP-0484 with draft-schmaus-kitten-sasl-ht: the initial response is
// username NUL HMAC-SHA-256(token, "Initiator" || cb-data); one round trip.
void C2sSession::handle_fast(const std::string& initial) {
  auto* store = hub_.options().fast_tokens.get();
  if (!store || !neg().auth2) return sasl_failure("invalid-mechanism");
  auto nul = initial.find('\0');
  if (nul == std::string::npos || nul == 0 || nul > 1024) return sasl_failure("malformed-request");
  std::string name = initial.substr(0, nul);
  if (auto at = name.find('@'); at != std::string::npos) {
    if (normalize_jid(name.substr(at + 1)) != hub_.domain()) return sasl_failure("not-authorized");
    name.resize(at);
  }
  auto norm = normalize_localpart(name);
  if (!norm) return sasl_failure("not-authorized");
  if (throttled(*norm)) return;
  auto cred = hub_.accounts().find(*norm, crypto::Hash::Sha256);
  std::string fp = cred ? credential_fingerprint(hub_.options().server_secret, *cred) : std::string("none");
  std::string cb = neg().auth2->mechanism == kHtExpr ? neg().exporter : std::string();
  auto v = store->verify(*norm, neg().auth2->user_agent_id, neg().auth2->mechanism, initial.substr(nul + 1), cb, fp,
                         neg().auth2->fast_count, neg().auth2->fast_invalidate, static_cast<std::int64_t>(std::time(nullptr)));
  if (v.outcome == FastTokenStore::Outcome::Invalid) return sasl_failure("not-authorized");
  if (v.outcome == FastTokenStore::Outcome::Expired) {
    // Not a guess: the client held a real token. No penalty; it falls back to its password.
    neg().attempt_user.clear();
    hub_.log().event("fast_token_expired", {{"session", id_}, {"ip", remote_.ip}, {"user", *norm}});
    return sasl_failure("credentials-expired");
  }
  fast_login_ = true;
  fast_rotate_ = v.rotate && !neg().auth2->fast_invalidate;
  if (neg().auth2->fast_invalidate)
    hub_.log().event("fast_token_invalidated", {{"session", id_}, {"ip", remote_.ip}, {"user", *norm}});
  sasl_success(*norm, v.responder);
}

// Both profiles: start mech with the (decoded) initial response.
void C2sSession::sasl_start(const std::string& mech, const std::optional<std::string>& initial) {
  const auto& o = hub_.options();
  auto offered = mechanisms(sasl2_);
  neg().scram.reset();
  neg().mech = mech;
  if (std::find(offered.begin(), offered.end(), mech) == offered.end()) {
    neg().mech.clear();
    return sasl_failure("invalid-mechanism");
  }
  if (is_scram(mech)) {
    auto h = mech.starts_with("SCRAM-SHA-1") ? crypto::Hash::Sha1 : crypto::Hash::Sha256;
    Hub& hub = hub_;
    neg().scram = std::make_unique<ScramServer>(
        h, [&hub, h](const std::string& u) { return hub.accounts().find(u, h); }, std::string(),
        [&hub, h](const std::string& u) { return hub.fake_credential(h, u); });
    neg().scram->set_channel_binding(mech.ends_with("-PLUS"), neg().exporter);
    if (!initial) return sasl_challenge({});
    return sasl_step(*initial);
  }
  if (mech == "PLAIN" && tls_ && o.allow_plain) {
    if (!initial) return sasl_challenge({});
    return sasl_step(*initial);
  }
  if (mech == "ANONYMOUS" && o.allow_anonymous) {
    std::string name = "anon-" + crypto::random_token(12);
    for (auto& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    return sasl_success(name, {});
  }
  neg().mech.clear();
  sasl_failure("invalid-mechanism");
}

void C2sSession::sasl_challenge(const std::string& data) {
  if (sasl2_) return send(sasl2_challenge(data));
  xml::Element c("challenge", std::string(kSaslNs));
  if (!data.empty()) c.set_text(crypto::base64(data));
  send(c);
}

void C2sSession::handle_response(const xml::Element& st) {
  if (neg().mech.empty()) return sasl_failure("malformed-request", "no authentication in progress");
  std::optional<std::string> data;
  if (sasl2_) {
    auto d = parse_sasl2_response(st);
    if (d) data = std::move(*d);
  } else {
    std::string text = trimmed(st.text);
    data = text.empty() || text == "=" ? std::optional<std::string>(std::string()) : crypto::unbase64(text);
  }
  if (!data) return sasl_failure("incorrect-encoding");
  sasl_step(*data);
}

void C2sSession::sasl_step(const std::string& data) {
  if (neg().mech == "PLAIN") {
    // authzid NUL authcid NUL password
    auto a = data.find('\0');
    auto b = a == std::string::npos ? a : data.find('\0', a + 1);
    if (b == std::string::npos) return sasl_failure("malformed-request");
    std::string authz = data.substr(0, a), user = data.substr(a + 1, b - a - 1), pass = data.substr(b + 1);
    auto norm = normalize_localpart(user);
    if (!norm) return sasl_failure("not-authorized");
    if (!authz.empty() && normalize_jid(authz) != *norm + "@" + hub_.domain()) return sasl_failure("invalid-authzid");
    if (throttled(*norm)) return;
    auto cred = hub_.accounts().find(*norm, crypto::Hash::Sha256);
    if (!cred || !check_password(crypto::Hash::Sha256, *cred, pass)) return sasl_failure("not-authorized");
    return sasl_success(*norm, {});
  }
  if (!neg().scram) return sasl_failure("malformed-request");
  if (neg().scram->username().empty()) {
    auto r = neg().scram->first(data);
    if (!r) return sasl_failure(sasl_condition(r.error()), r.error().message);
    if (throttled(neg().scram->username())) return;
    return sasl_challenge(*r);
  }
  auto r = neg().scram->final(data);
  if (!r) return sasl_failure(sasl_condition(r.error()), r.error().message);
  auto norm = normalize_localpart(neg().scram->username());
  if (!norm) return sasl_failure("not-authorized");
  sasl_success(*norm, *r);
}

void C2sSession::sasl_success(const std::string& user, const std::string& additional) {
  hub_.log().event("auth", {{"session", id_},
                            {"ip", remote_.ip},
                            {"user", user},
                            {"mechanism", neg().mech},
                            {"sasl2", sasl2_},
                            {"fast", fast_login_}});
  if (neg().mech != "ANONYMOUS") hub_.throttle().succeeded(remote_.ip, user);
  neg().attempt_user.clear();
  user_ = user;
  neg().scram.reset();
  if (!sasl2_) {
    xml::Element s("success", std::string(kSaslNs));
    if (!additional.empty()) s.set_text(crypto::base64(additional));
    send(s);
    neg_.reset();  // authenticated sessions keep nothing of the exchange
    reset_stream();
    return;
  }
  // XEP-0388: no stream restart. XEP-0386: bind before <success/>, the resource derived from
  // the client's tag (stable per tag and user-agent id); a bind the hub refuses (too many
  // sessions) leaves the stream authenticated, for an RFC 6120 bind that reports the error.
  if (!neg().auth2) neg().auth2 = std::make_unique<Sasl2Authenticate>();
  std::string authzid = user + "@" + hub_.domain();
  bool bound = false;
  if (neg().auth2->bind) {
    auto res = bind2_resource(hub_.options().server_secret, user, neg().auth2->bind_tag, neg().auth2->user_agent_id);
    if (auto bound_ok = hub_.bind(*this, user_, res)) {
      authzid = jid_;
      bound = true;
      hub_.log().event("bind", {{"session", id_}, {"ip", remote_.ip}, {"port", remote_.port}, {"jid", jid_},
                                {"bind2", true}});
    } else {
      hub_.log().event("bind_failed", {{"session", id_}, {"user", user}, {"condition", bound_ok.error().message}});
    }
  }
  // XEP-0484: a token when asked for, or a fresh one when the one used is due for rotation.
  std::optional<IssuedToken> token;
  auto* store = hub_.options().fast_tokens.get();
  std::string want = neg().auth2->request_token;
  if (want.empty() && fast_login_ && fast_rotate_) want = neg().mech;
  if (store && !want.empty() && neg().mech != "ANONYMOUS") {
    if (auto cred = hub_.accounts().find(user, crypto::Hash::Sha256)) {
      auto issued = store->issue(user, neg().auth2->user_agent_id, want,
                                 credential_fingerprint(hub_.options().server_secret, *cred),
                                 static_cast<std::int64_t>(std::time(nullptr)));
      token = IssuedToken{issued.token, xep0082_datetime(issued.expiry)};
      hub_.log().event("fast_token_issued", {{"session", id_}, {"user", user}, {"mechanism", want},
                                             {"expiry", token->expiry}, {"rotation", neg().auth2->request_token.empty()}});
    }
  }
  send(sasl2_success(additional, authzid, bound, token));
  fast_login_ = fast_rotate_ = false;
  neg_.reset();  // idle sessions keep nothing of the exchange
  state_ = bound ? State::Bound : State::Authenticated;
  send_features();
}

bool C2sSession::throttled(const std::string& user) {
  neg().attempt_user = normalize_localpart(user).value_or(user);
  auto& th = hub_.throttle();
  auto v = th.check(remote_.ip, neg().attempt_user);
  if (v == AuthThrottle::Verdict::Allowed) return false;
  auto wait = static_cast<long long>(th.retry_after(remote_.ip, neg().attempt_user) + 0.999);
  hub_.log().event("auth_throttled", {{"session", id_},
                                      {"ip", remote_.ip},
                                      {"user", neg().attempt_user},
                                      {"limit", v == AuthThrottle::Verdict::AccountThrottled ? "account" : "address"},
                                      {"retry_after", wait}});
  neg().attempt_user.clear();  // a refused attempt costs no token
  sasl_failure("temporary-auth-failure", "too many failed logins; try again in " + std::to_string(wait) + " s");
  return true;
}

void C2sSession::sasl_failure(std::string_view condition, std::string_view text) {
  neg().scram.reset();
  std::string mech = neg().mech;
  neg().mech.clear();
  bool counts = condition == "not-authorized" || condition == "invalid-authzid" || condition == "temporary-auth-failure";
  // Only the throttle's text is sent; the others name internals (logged below instead).
  std::string shown = condition == "temporary-auth-failure" ? std::string(text) : std::string();
  std::string out;
  fast_login_ = false;
  if (sasl2_) {
    sasl2_failed_ = true;
    out = sasl2_failure(condition, shown).str(kClientNs);
  } else {
    out = "<failure xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><" + std::string(condition) + "/>";
    if (!shown.empty()) out += "<text>" + xml::escape_text(shown) + "</text>";
    out += "</failure>";
  }
  if (!counts) {
    write_raw(std::move(out));
    return;
  }
  if (!neg().attempt_user.empty() && condition != "temporary-auth-failure") hub_.throttle().failed(remote_.ip, neg().attempt_user);
  neg().attempt_user.clear();
  ++auth_failures_;
  hub_.log().event("auth_failed", {{"session", id_},
                                   {"ip", remote_.ip},
                                   {"mechanism", mech},
                                   {"condition", condition},
                                   {"failures", auth_failures_},
                                   {"detail", text}});
  // Back-off: the failure answer is delayed, growing with each failure; the session ignores
  // SASL input meanwhile. Other sessions are not affected (the delay is a timer).
  sasl_busy_ = true;
  auto delay = hub_.options().limits.auth_failure_delay * auth_failures_;
  bool last = auth_failures_ >= hub_.options().limits.max_auth_failures;
  if (!alive_) alive_ = std::make_shared<bool>(true);
  t_.after(delay, [this, out, last, alive = alive_] {
    if (!*alive || state_ == State::Closed) return;
    sasl_busy_ = false;
    write_raw(out);
    if (last) close_with_error("not-authorized", "too many authentication failures");
  });
}

void C2sSession::handle_bind_phase(xml::Element& st) {
  if (st.ns != kClientNs || (st.name != "iq" && st.name != "message" && st.name != "presence")) {
    close_with_error("unsupported-stanza-type");
    return;
  }
  if (st.name == "iq") {
    auto type = st.attr_or("type");
    const xml::Element* payload = st.first_child();
    if (type == "set" && payload && payload->name == "bind" && payload->ns == kBindNs) {
      if (state_ == State::Bound) return send(error_reply(st, "not-allowed", "already bound"));
      std::string res;
      if (auto* r = payload->child("resource", kBindNs)) res = trimmed(r->text).empty() ? "" : r->text;
      if (auto bound = hub_.bind(*this, user_, res); !bound) {
        auto& e = bound.error();
        return send(error_reply(st, e.message, e.hint));
      }
      state_ = State::Bound;
      auto reply = iq_result(st);
      reply.erase("from");
      reply.add("bind", std::string(kBindNs)).add("jid", std::string(kBindNs)).set_text(jid_);
      send(reply);
      hub_.log().event("bind", {{"session", id_}, {"ip", remote_.ip}, {"port", remote_.port}, {"jid", jid_}});
      return;
    }
    if (type == "set" && payload && payload->name == "session" && payload->ns == kSessionNs) {
      auto reply = iq_result(st);
      reply.erase("from");
      return send(reply);
    }
  }
  if (state_ != State::Bound) {
    close_with_error("not-authorized", "bind a resource first");
    return;
  }
  if (auto* from = st.attr("from"); from) {
    auto n = normalize_jid(*from);
    if (n != jid_ && n != bare_jid(jid_)) {
      close_with_error("invalid-from");
      return;
    }
  }
  st.set("from", jid_);
  if (st.name == "iq") {
    auto type = st.attr_or("type");
    if (type != "get" && type != "set" && type != "result" && type != "error")
      return send(error_reply(st, "bad-request", "unknown IQ type"));
    if (!st.attr("id")) return send(error_reply(st, "bad-request", "IQ without id"));
    if ((type == "get" || type == "set") && st.children.size() != 1)
      return send(error_reply(st, "bad-request", "an IQ get/set carries exactly one payload"));
  }
  hub_.route(std::move(st), *this);
}

}  // namespace xnet::server
