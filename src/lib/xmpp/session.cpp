// SPDX-License-Identifier: MIT
#include "xmpp/session.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <sys/socket.h>

#include <atomic>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <map>
#include <mutex>
#include <random>

#include <strophe.h>

#include "util/hostport.hpp"
#include "util/interrupt.hpp"
#include "xep/xep0030.hpp"

namespace xnet::xmpp {

namespace {
constexpr std::string_view kSaslNs = "urn:ietf:params:xml:ns:xmpp-sasl";
constexpr std::string_view kStanzasNs = "urn:ietf:params:xml:ns:xmpp-stanzas";

std::once_flag g_init;

std::string sockaddr_ip(const sockaddr_storage& ss, std::uint16_t& port) {
  char buf[INET6_ADDRSTRLEN] = {};
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    port = ntohs(a->sin_port);
  } else if (ss.ss_family == AF_INET6) {
    const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
    inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
    port = ntohs(a->sin6_port);
    std::string s(buf);
    // Report v4-mapped addresses as plain IPv4.
    if (s.starts_with("::ffff:") && s.find('.') != std::string::npos) return s.substr(7);
  }
  return buf;
}

xml::Element convert(xmpp_stanza_t* s, std::string_view parent_ns) {
  const char* ns = xmpp_stanza_get_ns(s);
  const char* name = xmpp_stanza_get_name(s);
  xml::Element e(name ? name : "", ns ? ns : std::string(parent_ns));
  int n = xmpp_stanza_get_attribute_count(s);
  if (n > 0) {
    std::vector<const char*> arr(static_cast<std::size_t>(n) * 2);
    int got = xmpp_stanza_get_attributes(s, arr.data(), n * 2);
    for (int i = 0; i + 1 < got; i += 2) {
      std::string_view k = arr[i];
      if (k == "xmlns" || k.starts_with("xmlns:")) continue;
      e.attrs.emplace_back(arr[i], arr[i + 1] ? arr[i + 1] : "");
    }
  }
  for (auto* c = xmpp_stanza_get_children(s); c; c = xmpp_stanza_get_next(c)) {
    if (xmpp_stanza_is_text(c)) {
      if (const char* t = xmpp_stanza_get_text_ptr(c)) e.text += t;
    } else {
      e.children.push_back(convert(c, e.ns));
    }
  }
  return e;
}

// Replace the content of the SASL elements in xml_text by a placeholder.
std::string redact_sasl(std::string_view text) {
  std::string out(text);
  for (std::string_view tag : {"auth", "response", "challenge", "success"}) {
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
  return out;
}
}  // namespace

std::string redact(std::string_view xml_text, std::string_view password) {
  std::string out = redact_sasl(xml_text);
  if (password.size() >= 1) {
    std::size_t pos = 0;
    while ((pos = out.find(password, pos)) != std::string::npos) {
      out.replace(pos, password.size(), "********");
      pos += 8;
    }
  }
  return out;
}

StanzaError parse_stanza_error(const xml::Element& stanza) {
  StanzaError se;
  const auto* err = stanza.child("error");
  if (!err) {
    se.condition = "undefined-condition";
    return se;
  }
  se.type = err->attr_or("type");
  for (const auto& c : err->children) {
    if (c.ns == kStanzasNs) {
      if (c.name == "text")
        se.text = c.text;
      else if (se.condition.empty())
        se.condition = c.name;
    } else if (se.app.empty()) {
      se.app = c.name;
    }
  }
  if (se.condition.empty()) {
    // Legacy error codes (XEP-0086) without a defined condition.
    auto code = err->attr_or("code");
    se.condition = code == "404" ? "item-not-found"
                   : code == "403" ? "forbidden"
                   : code == "501" ? "feature-not-implemented"
                   : code == "503" ? "service-unavailable"
                   : code == "400" ? "bad-request"
                                   : "undefined-condition";
    if (se.text.empty()) se.text = err->text;
  }
  return se;
}

std::string bare_jid(std::string_view jid) { return std::string(jid.substr(0, jid.find('/'))); }

std::string jid_domain(std::string_view jid) {
  auto bare = std::string_view(jid).substr(0, jid.find('/'));
  auto at = bare.find('@');
  return std::string(at == std::string_view::npos ? bare : bare.substr(at + 1));
}

xml::Element make_result_reply(const xml::Element& request) {
  xml::Element r("iq", request.ns.empty() ? "jabber:client" : request.ns);
  r.set("type", "result");
  if (auto* id = request.attr("id")) r.set("id", *id);
  if (auto* from = request.attr("from")) r.set("to", *from);
  if (auto* to = request.attr("to")) r.set("from", *to);
  return r;
}

xml::Element make_error_reply(const xml::Element& request, std::string_view type,
                              std::string_view condition, std::string_view text) {
  xml::Element r = make_result_reply(request);
  r.name = request.name;
  r.set("type", "error");
  auto& err = r.add("error", r.ns);
  err.set("type", std::string(type));
  err.add(std::string(condition), std::string(kStanzasNs));
  if (!text.empty()) err.add("text", std::string(kStanzasNs)).set_text(std::string(text));
  return r;
}

struct Session::Impl {
  Trace& trace;
  ConnectConfig cfg;
  xmpp_ctx_t* ctx = nullptr;
  xmpp_conn_t* conn = nullptr;
  xmpp_log_t log{};
  ConnectionInfo info;
  int fd = -1;
  bool bound = false;
  bool disconnected = false;
  bool tcp_connected = false;  // a stream header was received
  int disconnect_errno = 0;
  std::optional<std::string> stream_error;
  std::string stream_error_text;
  std::optional<std::string> cert_error;
  std::optional<std::string> auth_failure;
  std::string last_error_log;
  std::map<std::string, std::optional<xml::Element>> pending;
  std::function<bool(const xml::Element&)> handler;
  unsigned long counter = 0;
  std::string id_prefix;
  Deadline::Clock::time_point started = Deadline::Clock::now();

  Impl(Trace& t, ConnectConfig c) : trace(t), cfg(std::move(c)) {
    unsigned char rnd[4];
    std::random_device rd;
    for (auto& b : rnd) b = static_cast<unsigned char>(rd());
    char buf[16];
    std::snprintf(buf, sizeof buf, "x%02x%02x%02x%02x-", rnd[0], rnd[1], rnd[2], rnd[3]);
    id_prefix = buf;
  }

  ~Impl() {
    if (conn) xmpp_conn_release(conn);
    if (ctx) xmpp_ctx_free(ctx);
  }

  static thread_local Impl* current;

  static void log_cb(void* ud, xmpp_log_level_t level, const char* area, const char* msg) {
    static_cast<Impl*>(ud)->on_log(level, area ? area : "", msg ? msg : "");
  }

  void on_log(xmpp_log_level_t level, std::string_view area, std::string_view msg) {
    if (msg.starts_with("SENT: ") || msg.starts_with("RECV: ")) {
      bool sent = msg[0] == 'S';
      auto body = msg.substr(6);
      if (!sent) {
        if (body.find("<stream:stream") != std::string_view::npos) tcp_connected = true;
        if (body.find("<failure") != std::string_view::npos && body.find(kSaslNs) != std::string_view::npos) {
          auto r = xml::parse(std::string(body));
          std::string cond = "not-authorized";
          if (r && !r->children.empty()) cond = r->children.front().name;
          auth_failure = cond;
        }
      }
      if (trace.enabled(TraceArea::Xml))
        trace.wire(TraceArea::Xml, sent ? TraceDir::Sent : TraceDir::Received, redact(body, cfg.password));
      return;
    }
    if (level >= XMPP_LEVEL_ERROR || (level == XMPP_LEVEL_WARN && area != "xmpp")) {
      last_error_log = std::string(area) + ": " + std::string(msg);
    }
    if (level >= XMPP_LEVEL_INFO || trace.enabled(TraceArea::Xml))
      trace.progress(2, redact(std::string(area) + ": " + std::string(msg), cfg.password));
  }

  static int certfail_cb(const xmpp_tlscert_t*, const char* const errormsg) {
    if (current) current->cert_error = errormsg ? errormsg : "certificate verification failed";
    return 0;
  }

  static int sockopt_cb(xmpp_conn_t*, void* sock) {
    if (current) current->fd = *static_cast<int*>(sock);
    return 0;
  }

  static void conn_cb(xmpp_conn_t*, xmpp_conn_event_t ev, int error, xmpp_stream_error_t* se, void* ud) {
    auto* self = static_cast<Impl*>(ud);
    if (ev == XMPP_CONN_CONNECT) {
      self->bound = true;
      return;
    }
    if (ev == XMPP_CONN_RAW_CONNECT) return;
    self->disconnected = true;
    self->disconnect_errno = error;
    if (se && se->stanza) {
      auto e = convert(se->stanza, "");
      self->stream_error = e.first_child() ? e.first_child()->name : "undefined-condition";
      if (const auto* t = e.child("text")) self->stream_error_text = t->text;
    } else if (se) {
      self->stream_error = "undefined-condition";
      if (se->text) self->stream_error_text = se->text;
    }
  }

  static int stanza_cb(xmpp_conn_t*, xmpp_stanza_t* s, void* ud) {
    static_cast<Impl*>(ud)->on_stanza(convert(s, "jabber:client"));
    return 1;
  }

  void on_stanza(xml::Element st) {
    auto type = st.attr_or("type");
    if (st.name == "iq" && (type == "result" || type == "error")) {
      auto it = pending.find(st.attr_or("id"));
      if (it != pending.end()) {
        it->second = std::move(st);
        return;
      }
    }
    bool handled = handler && handler(st);
    if (!handled && st.name == "iq" && (type == "get" || type == "set"))
      send_raw(make_error_reply(st, "cancel", "service-unavailable").str());
  }

  void send_raw(const std::string& s) { xmpp_send_raw(conn, s.data(), s.size()); }

  std::string endpoint() const {
    std::string h = cfg.host.empty() ? jid_domain() : cfg.host;
    return cfg.port ? util::format_host_port(h, cfg.port) : h;
  }
  std::string jid_domain() const {
    auto at = cfg.jid.find('@');
    auto d = cfg.jid.substr(at == std::string::npos ? 0 : at + 1);
    return d.substr(0, d.find('/'));
  }

  void fill_info() {
    const char* b = xmpp_conn_get_bound_jid(conn);
    info.bound_jid = b ? b : "";
    info.server_host = cfg.host.empty() ? jid_domain() : cfg.host;
    info.tls = cfg.direct_tls ? "direct" : "starttls";
    info.connect_ms = std::chrono::duration<double, std::milli>(Deadline::Clock::now() - started).count();
    if (fd >= 0) {
      sockaddr_storage ss{};
      socklen_t len = sizeof ss;
      if (getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) info.local_ip = sockaddr_ip(ss, info.local_port);
      len = sizeof ss;
      if (getpeername(fd, reinterpret_cast<sockaddr*>(&ss), &len) == 0) info.server_ip = sockaddr_ip(ss, info.server_port);
    }
  }

  Error classify_failure() const {
    std::string where = endpoint();
    if (cert_error)
      return Error(Category::Tls, "certificate of " + where + " not trusted: " + *cert_error,
                   "pass --ca-file FILE to trust its CA, or --insecure to skip verification");
    if (auth_failure)
      return Error(Category::Auth, "server rejected the credentials for " + cfg.jid + " (" + *auth_failure + ")",
                   "check the JID and the password source");
    if (stream_error) {
      std::string msg = "server closed the stream: " + *stream_error;
      if (!stream_error_text.empty()) msg += " (" + stream_error_text + ")";
      std::string hint;
      if (*stream_error == "host-unknown") hint = "the server does not serve the domain of " + cfg.jid;
      if (*stream_error == "policy-violation" || *stream_error == "not-authorized")
        return Error(Category::Auth, msg, hint);
      return Error(Category::Protocol, msg, hint);
    }
    if (disconnect_errno == ECONNREFUSED)
      return Error(Category::Connect, "connection refused by " + where, "is the server running and listening there?");
    if (disconnect_errno == ETIMEDOUT)
      return Error(Category::Timeout, "connecting to " + where + " timed out");
    if (!tcp_connected && fd < 0) {
      // Never got a socket: name resolution (SRV/A/AAAA) failed.
      return Error(Category::Dns, "cannot resolve " + (cfg.host.empty() ? jid_domain() : cfg.host),
                   cfg.host.empty() ? "no SRV or address record; use --server HOST[:PORT]" : "check the host name");
    }
    if (last_error_log.find("tls") != std::string::npos || last_error_log.find("TLS") != std::string::npos ||
        last_error_log.find("SSL") != std::string::npos)
      return Error(Category::Tls, "TLS negotiation with " + where + " failed: " + last_error_log,
                   cfg.direct_tls ? "is this a direct-TLS port? (without --direct-tls STARTTLS is used)"
                                  : "does the server offer STARTTLS here? try --direct-tls for a direct-TLS port");
    std::string why = disconnect_errno ? std::strerror(disconnect_errno) : "connection closed by the server";
    if (!last_error_log.empty() && !disconnect_errno) why = last_error_log;
    return Error(Category::Connect, "connection to " + where + " failed: " + why);
  }

  Result<void> pump(std::chrono::milliseconds max_wait) {
    auto slice = std::min<long long>(max_wait.count(), 50);
    current = this;
    xmpp_run_once(ctx, static_cast<unsigned long>(std::max<long long>(slice, 1)));
    current = nullptr;
    if (xnet::interrupted()) return fail(Category::Interrupted, "interrupted");
    return {};
  }
};

thread_local Session::Impl* Session::Impl::current = nullptr;

Session::Session(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() {
  if (impl_) close();
}

const ConnectionInfo& Session::info() const { return impl_->info; }

Result<Session> Session::open(const ConnectConfig& config, Trace& trace, Deadline deadline) {
  std::call_once(g_init, [] { xmpp_initialize(); });
  auto impl = std::make_unique<Impl>(trace, config);
  auto& m = *impl;

  if (!m.cfg.host.empty() && !util::is_ip_literal(m.cfg.host)) {
    addrinfo hints{};
    hints.ai_socktype = SOCK_STREAM;
    addrinfo* res = nullptr;
    int rc = getaddrinfo(m.cfg.host.c_str(), nullptr, &hints, &res);
    if (rc != 0)
      return fail(Category::Dns, "cannot resolve " + m.cfg.host + ": " + gai_strerror(rc), "check the host name");
    freeaddrinfo(res);
  }

  // libstrophe always calls SSL_CTX_set_default_verify_paths, which parses the whole system CA
  // bundle (most of a whoami's CPU). With --ca-file (which replaces the system store, as curl's
  // --cacert does) or --insecure that work is useless: point OpenSSL's defaults elsewhere. The
  // explicit option wins over SSL_CERT_FILE/SSL_CERT_DIR from the environment.
  if (!m.cfg.ca_file.empty() || m.cfg.insecure) {
    ::setenv("SSL_CERT_FILE", m.cfg.insecure ? "/dev/null" : m.cfg.ca_file.c_str(), 1);
    ::setenv("SSL_CERT_DIR", "/nonexistent", 1);
  }

  m.log = {&Impl::log_cb, &m};
  m.ctx = xmpp_ctx_new(nullptr, &m.log);
  m.conn = xmpp_conn_new(m.ctx);
  if (!m.ctx || !m.conn) return fail(Category::Internal, "libstrophe: out of memory");
  long flags = XMPP_CONN_FLAG_MANDATORY_TLS | XMPP_CONN_FLAG_DISABLE_SM;
  if (m.cfg.direct_tls) flags |= XMPP_CONN_FLAG_LEGACY_SSL;
  if (m.cfg.insecure) flags |= XMPP_CONN_FLAG_TRUST_TLS;
  xmpp_conn_set_flags(m.conn, flags);
  std::string jid = m.cfg.jid;
  if (!m.cfg.resource.empty() && jid.find('/') == std::string::npos) jid += "/" + m.cfg.resource;
  xmpp_conn_set_jid(m.conn, jid.c_str());
  xmpp_conn_set_pass(m.conn, m.cfg.password.c_str());
  if (!m.cfg.ca_file.empty()) xmpp_conn_set_cafile(m.conn, m.cfg.ca_file.c_str());
  xmpp_conn_set_certfail_handler(m.conn, &Impl::certfail_cb);
  xmpp_conn_set_sockopt_callback(m.conn, &Impl::sockopt_cb);
  xmpp_handler_add(m.conn, &Impl::stanza_cb, nullptr, nullptr, nullptr, &m);

  trace.progress(1, "connecting to " + m.endpoint() + (m.cfg.direct_tls ? " (direct TLS)" : " (STARTTLS)"));
  Impl::current = &m;
  int rc = xmpp_connect_client(m.conn, m.cfg.host.empty() ? nullptr : m.cfg.host.c_str(), m.cfg.port,
                               &Impl::conn_cb, &m);
  Impl::current = nullptr;
  if (rc != XMPP_EOK) {
    m.disconnected = true;
    return fail(m.classify_failure());
  }
  while (!m.bound && !m.disconnected) {
    if (deadline.expired()) {
      std::string stage = !m.tcp_connected ? "no XMPP stream from " : "negotiation with ";
      return fail(Category::Timeout, stage + m.endpoint() + " did not finish within the timeout",
                  "raise --timeout, or check that this is an XMPP port");
    }
    if (auto r = m.pump(deadline.remaining()); !r) return fail(r.error());
  }
  if (!m.bound) return fail(m.classify_failure());
  m.fill_info();
  trace.progress(1, "bound as " + m.info.bound_jid + " via " +
                        util::format_host_port(m.info.server_ip, m.info.server_port) + " in " +
                        std::to_string(static_cast<int>(m.info.connect_ms)) + " ms");
  return Session(std::move(impl));
}

std::string Session::next_id() { return impl_->id_prefix + std::to_string(++impl_->counter); }

void Session::send(const xml::Element& stanza) { impl_->send_raw(stanza.str("jabber:client")); }

Result<xml::Element> Session::request(xml::Element iq, Deadline deadline) {
  auto& m = *impl_;
  if (m.disconnected) return fail(m.classify_failure());
  if (iq.ns.empty()) iq.ns = "jabber:client";
  std::string id = iq.attr_or("id");
  if (id.empty()) {
    id = next_id();
    iq.set("id", id);
  }
  auto [it, _] = m.pending.emplace(id, std::nullopt);
  m.send_raw(iq.str("jabber:client"));
  while (!it->second && !m.disconnected) {
    if (deadline.expired()) {
      m.pending.erase(it);
      return fail(Category::Timeout, "no reply from " + iq.attr_or("to", m.jid_domain()) + " within the timeout");
    }
    if (auto r = m.pump(deadline.remaining()); !r) {
      m.pending.erase(it);
      return fail(r.error());
    }
  }
  if (!it->second) {
    m.pending.erase(it);
    auto e = m.classify_failure();
    e.message = "connection lost while waiting for a reply: " + e.message;
    return fail(e);
  }
  xml::Element reply = std::move(*it->second);
  m.pending.erase(it);
  if (reply.attr_or("type") == "error") {
    Error e(Category::Remote, "");
    e.stanza = parse_stanza_error(reply);
    e.message = (reply.attr_or("from").empty() ? std::string("server") : reply.attr_or("from")) +
                " answered " + e.stanza->condition + (e.stanza->text.empty() ? "" : ": " + e.stanza->text);
    return fail(e);
  }
  return reply;
}

Result<DiscoInfo> Session::disco_info(const std::string& jid, Deadline deadline) {
  xml::Element iq("iq", "jabber:client");
  iq.set("type", "get");
  if (!jid.empty()) iq.set("to", jid);
  iq.add(xep0030::info_query());
  auto r = request(std::move(iq), deadline);
  if (!r) return fail(r.error());
  return xep0030::parse_info(*r);
}

void Session::on_stanza(std::function<bool(const xml::Element&)> handler) { impl_->handler = std::move(handler); }

Result<void> Session::poll(std::chrono::milliseconds max_wait) {
  auto& m = *impl_;
  if (m.disconnected) return fail(m.classify_failure());
  auto until = Deadline::in(max_wait);
  do {
    if (auto r = m.pump(until.remaining()); !r) return r;
    if (m.disconnected) return fail(m.classify_failure());
  } while (!until.expired());
  return {};
}

Result<void> Session::run_until(const std::function<bool()>& stop, Deadline deadline) {
  auto& m = *impl_;
  while (!stop()) {
    if (m.disconnected) return fail(m.classify_failure());
    if (deadline.expired()) return fail(Category::Timeout, "timed out");
    if (auto r = m.pump(deadline.remaining()); !r) return r;
  }
  return {};
}

void Session::close() {
  auto& m = *impl_;
  if (!m.conn || m.disconnected) return;
  xmpp_disconnect(m.conn);
  auto until = Deadline::in(std::chrono::milliseconds(500));
  while (!m.disconnected && !until.expired()) {
    Impl::current = &m;
    xmpp_run_once(m.ctx, 20);
    Impl::current = nullptr;
  }
  m.disconnected = true;
}

}  // namespace xnet::xmpp
