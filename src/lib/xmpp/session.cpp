// SPDX-License-Identifier: MIT
#include "xmpp/session.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <random>

#include <asio/post.hpp>
#include <asio/posix/stream_descriptor.hpp>
#include <asio/ssl.hpp>
#include <asio/steady_timer.hpp>
#include <asio/write.hpp>

#include "util/hostport.hpp"
#include "util/interrupt.hpp"
#include "xep/xep0030.hpp"
#include "xmpp/connect.hpp"
#include "xmpp/fast_store.hpp"
#include "xmpp/negotiation.hpp"
#include "xmpp/resolve.hpp"
#include "xmpp/tls.hpp"

namespace xnet::xmpp {

namespace {
constexpr std::string_view kStanzasNs = "urn:ietf:params:xml:ns:xmpp-stanzas";
constexpr std::string_view kPingNs = "urn:xmpp:ping";

std::string random_prefix() {
  std::random_device rd;
  char buf[16];
  std::snprintf(buf, sizeof buf, "x%08x-", static_cast<unsigned>(rd()));
  return buf;
}

std::string plain_ip(const asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped())
    return asio::ip::make_address_v4(asio::ip::v4_mapped, a.to_v6()).to_string();
  return a.to_string();
}

Error reply_error(const xml::Element& reply) {
  Error e(Category::Remote, "");
  e.stanza = parse_stanza_error(reply);
  e.message = (reply.attr_or("from").empty() ? std::string("server") : reply.attr_or("from")) + " answered " +
              e.stanza->condition + (e.stanza->text.empty() ? "" : ": " + e.stanza->text);
  return e;
}
}  // namespace

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
        se.text = c.text.substr(0, 1024);
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
    if (se.text.empty()) se.text = err->text.substr(0, 1024);
  }
  return se;
}

std::string bare_jid(std::string_view jid) { return std::string(jid.substr(0, jid.find('/'))); }

std::string jid_domain(std::string_view jid) {
  auto bare = std::string_view(jid).substr(0, jid.find('/'));
  auto at = bare.find('@');
  return std::string(at == std::string_view::npos ? bare : bare.substr(at + 1));
}

std::string fast_server_key(const ConnectConfig& c) {
  if (c.host.empty()) {
    std::string d = jid_domain(c.jid);
    std::transform(d.begin(), d.end(), d.begin(), [](unsigned char ch) { return static_cast<char>(std::tolower(ch)); });
    return d;
  }
  std::uint16_t port = c.port ? c.port : (c.direct_tls ? 5223 : 5222);
  return util::format_host_port(c.host, port);
}

bool has_fast_token(const ConnectConfig& c) {
  std::string bare = bare_jid(c.jid);
  if (!c.fast || bare.find('@') == std::string::npos) return false;
  return TokenStore(c.state_dir).load(bare, fast_server_key(c)).has_value();
}

xml::Element make_result_reply(const xml::Element& request) {
  xml::Element r("iq", request.ns.empty() ? "jabber:client" : request.ns);
  r.set("type", "result");
  if (auto* id = request.attr("id")) r.set("id", *id);
  if (auto* from = request.attr("from")) r.set("to", *from);
  if (auto* to = request.attr("to")) r.set("from", *to);
  return r;
}

xml::Element make_error_reply(const xml::Element& request, std::string_view type, std::string_view condition,
                              std::string_view text) {
  xml::Element r = make_result_reply(request);
  r.name = request.name;
  r.set("type", "error");
  auto& err = r.add("error", r.ns);
  err.set("type", std::string(type));
  err.add(std::string(condition), std::string(kStanzasNs));
  if (!text.empty()) err.add("text", std::string(kStanzasNs)).set_text(std::string(text));
  return r;
}

struct Session::Impl : std::enable_shared_from_this<Impl> {
  using Socket = asio::ip::tcp::socket;
  using TlsStream = asio::ssl::stream<Socket>;
  using ReplyHandler = std::function<void(Result<xml::Element>)>;

  std::unique_ptr<asio::io_context> own_io;
  asio::io_context& io;
  Trace& trace;
  ConnectConfig cfg;
  std::string domain;
  ConnectionInfo info;
  Deadline::Clock::time_point started = Deadline::Clock::now();

  Resolver resolver;
  std::shared_ptr<Connector> connector;
  asio::ssl::context ssl_ctx{asio::ssl::context::tls_client};
  std::unique_ptr<TlsStream> stream;
  bool tls_active = false;
  bool handshaking = false;
  std::string resolving_stage;

  std::unique_ptr<ClientNegotiator> neg;
  bool pipeline_starttls = true;
  int reconnects = 0;

  // XEP-0484 FAST.
  std::unique_ptr<TokenStore> store;
  std::string token_account, token_server;
  std::optional<FastToken> token;
  std::string client_id;
  bool token_dropped = false;  // the codec discarded the token on this connection
  Deadline::Clock::duration credential_wait{0};  // time spent in password_provider
  bool tls_requested = false;
  std::optional<ConnectTarget> connected_target;
  bool bound = false;
  bool closed = false;
  std::optional<Error> failure;
  std::function<void(const Error&)> failure_handler;

  // I/O
  std::array<char, 16384> rbuf{};
  bool reading = false;
  std::string out_pending;
  std::string out_flight;
  bool writing = false;
  bool shutdown_after_write = false;
  std::size_t bytes_in = 0;

  // Requests.
  struct Pending {
    ReplyHandler done;
    std::string to;
    std::optional<Result<xml::Element>> early;  // first-flight reply not yet collected
  };
  std::map<std::string, Pending> pending;
  std::function<bool(const xml::Element&)> handler;
  unsigned long counter = 0;
  std::string id_prefix = random_prefix();
  std::vector<xml::Element> first_flight;
  std::map<std::string, Result<xml::Element>> early;  // replies to first-flight IQs

  // Keepalive.
  std::chrono::milliseconds ka_interval{0}, ka_timeout{0};
  asio::steady_timer ka_timer;
  Deadline::Clock::time_point last_rx = Deadline::Clock::now();
  bool ka_ping_out = false;
  Deadline::Clock::time_point ka_ping_sent{};

  // Interrupts (SIGINT/SIGTERM) wake the loop through the self-pipe.
  std::unique_ptr<asio::posix::stream_descriptor> intr;

  Impl(asio::io_context* external, Trace& t, ConnectConfig c)
      : own_io(external ? nullptr : std::make_unique<asio::io_context>(1)),
        io(external ? *external : *own_io),
        trace(t),
        cfg(std::move(c)),
        resolver(io),
        ka_timer(io) {
    domain = jid_domain(cfg.jid);
  }

  ~Impl() {
    if (connector) connector->cancel();
    if (intr) (void)intr->release();
  }

  std::string endpoint() const {
    if (cfg.host.empty()) return domain;
    return cfg.port ? util::format_host_port(cfg.host, cfg.port) : cfg.host;
  }

  // ---- failure ---------------------------------------------------------------------------
  void fail_with(Error e) {
    if (failure) return;
    failure = std::move(e);
    closed = true;
    if (connector) connector->cancel();
    resolver.cancel();
    ka_timer.cancel();
    close_socket();
    auto waiting = std::move(pending);
    pending.clear();
    for (auto& [id, p] : waiting) {
      Error le = *failure;
      if (bound) le.message = "connection lost while waiting for a reply: " + le.message;
      if (p.done) p.done(fail(le));
    }
    if (failure_handler) {
      auto h = failure_handler;
      h(*failure);
    }
  }

  void close_socket() {
    asio::error_code ec;
    if (stream) {
      stream->next_layer().cancel(ec);
      stream->next_layer().close(ec);
    }
  }

  // ---- connect ---------------------------------------------------------------------------
  bool anonymous() const { return bare_jid(cfg.jid).find('@') == std::string::npos; }

  void load_token() {
    if (!cfg.fast || anonymous()) return;
    store = std::make_unique<TokenStore>(cfg.state_dir);
    token_account = bare_jid(cfg.jid);
    token_server = fast_server_key(cfg);
    token = store->load(token_account, token_server);
    client_id = store->client_id();
    if (token) trace.progress(2, "FAST: a stored token (" + token->mechanism + ") for " + token_account + " at " + token_server);
  }

  void on_fast_token(const FastToken& t) {
    if (!store) return;
    if (t.token.empty()) {
      if (token) trace.progress(1, "FAST: the stored token was refused or is unusable; it is deleted");
      token.reset();
      token_dropped = true;
      if (auto r = store->forget(token_account, token_server); !r) trace.warning(r.error().message);
      return;
    }
    token = t;
    if (auto r = store->save(token_account, token_server, t); !r) {
      trace.warning("FAST token not stored: " + r.error().message);
      return;
    }
    info.token_stored = true;
    trace.progress(2, "FAST: stored a token (" + t.mechanism + (t.expiry.empty() ? "" : ", expires " + t.expiry) +
                          ") in " + store->dir());
  }

  // The password after the codec asked for it (Event::Kind::NeedPassword).
  void on_need_password() {
    if (!cfg.password.empty()) {
      neg->provide_password(cfg.password);
      return;
    }
    if (!cfg.password_provider) {
      fail_with(Error(Category::Auth, "the server needs the password for " + bare_jid(cfg.jid) + " and none was given",
                      "give it with --password-file, --password-command or XNET_PASSWORD"));
      return;
    }
    auto t0 = Deadline::Clock::now();
    auto pw = cfg.password_provider();
    credential_wait += Deadline::Clock::now() - t0;
    if (!pw) {
      fail_with(pw.error());
      return;
    }
    cfg.password = std::move(*pw);
    neg->provide_password(cfg.password);
  }

  // The caller's deadline moved by the time a password prompt took.
  Deadline extended(Deadline d) const {
    if (d.at() == Deadline::Clock::time_point::max() || credential_wait.count() == 0) return d;
    return Deadline(d.at() + credential_wait);
  }

  void start() {
    load_token();
    if (int fd = xnet::interrupt_fd(); fd >= 0) {
      // Wakes the loop on SIGINT/SIGTERM. Another session on the same io may watch the fd
      // already (the reactor refuses a second registration): then the run slices suffice.
      auto d = std::make_unique<asio::posix::stream_descriptor>(io);
      asio::error_code ec;
      d->assign(fd, ec);
      if (!ec) {
        intr = std::move(d);
        watch_interrupt();
      }
    }
    std::mt19937 rng(std::random_device{}());
    if (!cfg.host.empty()) {
      std::uint16_t port = cfg.port ? cfg.port : (cfg.direct_tls ? 5223 : 5222);
      connect({ConnectTarget{cfg.host, port, cfg.direct_tls, false}});
      return;
    }
    // XEP-0368: both SRV services at once; their records are merged into one order.
    trace.progress(2, "looking up SRV records of " + domain);
    auto self = shared_from_this();
    auto answers = std::make_shared<std::pair<std::optional<SrvAnswer>, std::optional<SrvAnswer>>>();
    auto both = [self, answers] {
      if (!answers->first || !answers->second || self->failure) return;
      std::mt19937 r(std::random_device{}());
      for (const auto* a : {&*answers->first, &*answers->second})
        for (const auto& rec : a->records)
          self->trace.progress(2, std::string("SRV ") + (rec.direct_tls ? "_xmpps-client " : "_xmpp-client ") +
                                      rec.target + ":" + std::to_string(rec.port) + " priority " +
                                      std::to_string(rec.priority) + " weight " + std::to_string(rec.weight));
      auto targets = plan_targets(self->domain, *answers->first, *answers->second, self->cfg.direct_tls, r);
      if (!targets) {
        self->fail_with(targets.error());
        return;
      }
      self->connect(std::move(*targets));
    };
    resolver.srv("_xmpps-client._tcp." + domain, [answers, both](SrvAnswer a) {
      answers->first = std::move(a);
      both();
    });
    resolver.srv("_xmpp-client._tcp." + domain, [answers, both](SrvAnswer a) {
      answers->second = std::move(a);
      both();
    });
    (void)rng;
  }

  void watch_interrupt() {
    auto weak = weak_from_this();
    intr->async_wait(asio::posix::stream_descriptor::wait_read, [weak](const asio::error_code& ec) {
      auto self = weak.lock();
      if (!self || ec) return;
      if (xnet::interrupted()) {
        // Leave the byte in the pipe for other watchers; the loop's callers check the flag.
        return;
      }
      self->watch_interrupt();
    });
  }

  void connect(std::vector<ConnectTarget> targets) {
    std::string list;
    for (const auto& t : targets)
      list += (list.empty() ? "" : ", ") + util::format_host_port(t.host, t.port) + (t.direct_tls ? " (direct TLS)" : "");
    trace.progress(1, "connecting to " + list);
    connector = std::make_shared<Connector>(io, resolver, trace);
    ConnectPrefs prefs;
    prefs.family = cfg.family;
    auto weak = weak_from_this();
    connector->start(std::move(targets), prefs, [weak](Result<Connected> r) {
      auto self = weak.lock();
      if (!self || self->failure) return;
      if (!r) {
        self->fail_with(r.error());
        return;
      }
      self->on_connected(std::move(*r));
    });
  }

  void on_connected(Connected c) {
    asio::error_code ec;
    c.socket.set_option(asio::ip::tcp::no_delay(true), ec);
    auto peer = c.socket.remote_endpoint(ec);
    auto local = c.socket.local_endpoint(ec);
    info.server_host = c.target.host;
    info.server_ip = plain_ip(peer.address());
    info.server_port = peer.port();
    info.local_ip = plain_ip(local.address());
    info.local_port = local.port();
    info.tls = c.target.direct_tls ? "direct" : "starttls";
    trace.progress(1, "connected to " + util::format_host_port(info.server_ip, info.server_port) + " from " +
                          util::format_host_port(info.local_ip, info.local_port));
    TlsPolicy pol{cfg.ca_file, cfg.insecure};
    if (auto r = setup_client_context(ssl_ctx, pol); !r) {
      fail_with(r.error());
      return;
    }
    stream = std::make_unique<TlsStream>(std::move(c.socket), ssl_ctx);
    prepare_client_ssl(stream->native_handle(), domain, c.target.direct_tls, cfg.insecure);
    connected_target = c.target;
    neg = std::make_unique<ClientNegotiator>(negotiation_config(c.target.direct_tls), trace);
    for (const auto& st : first_flight) neg->send(st);  // held by the codec until bind
    neg->start();
    if (c.target.direct_tls) {
      start_tls();
    } else {
      pump_codec();
      read_more();
    }
  }

  // ---- TLS -------------------------------------------------------------------------------
  void start_tls() {
    tls_requested = false;
    handshaking = true;
    trace.progress(2, "TLS handshake with " + domain);
    auto weak = weak_from_this();
    stream->async_handshake(asio::ssl::stream_base::client, [weak](const asio::error_code& ec) {
      auto self = weak.lock();
      if (!self || self->failure) return;
      self->handshaking = false;
      if (ec) {
        self->fail_with(self->tls_error(ec));
        return;
      }
      self->tls_active = true;
      SSL* ssl = self->stream->native_handle();
      self->trace.progress(1, "TLS established with " + self->domain + " (" + tls_description(ssl) + ")");
      self->neg->tls_established(TlsInfo{SSL_get_version(ssl), tls_exporter(ssl)});
      self->pump_codec();
      self->read_more();
    });
  }

  Error tls_error(const asio::error_code& ec) {
    std::string where = util::format_host_port(info.server_ip, info.server_port);
    std::string vf = stream ? verify_failure(stream->native_handle()) : "";
    if (!vf.empty())
      return Error(Category::Tls, "certificate of " + domain + " (" + where + ") not trusted: " + vf,
                   "pass --ca-file FILE to trust its CA, or --insecure to skip verification");
    std::string why = ec.message();
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated)
      why = "the server closed the connection during the handshake";
    return Error(Category::Tls, "TLS handshake with " + where + " failed: " + why,
                 info.tls == "direct" ? "is this a direct-TLS port? (without --direct-tls STARTTLS is used)"
                                      : "the server does not speak TLS after <proceed/>");
  }

  // ---- reading ---------------------------------------------------------------------------
  void read_more() {
    if (reading || failure || handshaking || tls_requested || !stream) return;
    reading = true;
    auto weak = weak_from_this();
    auto on_read = [weak](const asio::error_code& ec, std::size_t n) {
      auto self = weak.lock();
      if (!self) return;
      self->reading = false;
      if (self->failure) return;
      if (ec) {
        self->on_read_error(ec);
        return;
      }
      self->on_bytes(std::string_view(self->rbuf.data(), n));
    };
    if (tls_active)
      stream->async_read_some(asio::buffer(rbuf), on_read);
    else
      stream->next_layer().async_read_some(asio::buffer(rbuf), on_read);
  }

  void quickack() {
#ifdef TCP_QUICKACK
    // The kernel leaves quick-ACK mode after a while; a peer with Nagle on would then wait
    // for our delayed ACK before sending the rest of its flight.
    int one = 1;
    ::setsockopt(stream->next_layer().native_handle(), IPPROTO_TCP, TCP_QUICKACK, &one, sizeof one);
#endif
  }

  void on_bytes(std::string_view data) {
    quickack();
    bytes_in += data.size();
    last_rx = Deadline::Clock::now();
    ka_ping_out = false;
    neg->feed(data);
    pump_codec();
    read_more();
  }

  void on_read_error(const asio::error_code& ec) {
    if (closed) return;
    if (neg && (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated)) {
      // Let the codec say what the close means (clean </stream:stream>, stream error, ...).
      neg->end_of_input();
      pump_codec();
      if (failure) return;
    }
    std::string where = util::format_host_port(info.server_ip, info.server_port);
    if (ec == asio::error::eof || ec == asio::ssl::error::stream_truncated) {
      if (!bound)
        fail_with(Error(Category::Protocol, "the server " + where + " closed the connection during negotiation",
                        bytes_in == 0 ? "is this an XMPP port?" : ""));
      else
        fail_with(Error(Category::Connect, "the server " + where + " closed the connection"));
      return;
    }
    if (ec == asio::error::connection_reset) {
      fail_with(Error(Category::Connect, "connection to " + where + " reset by the peer"));
      return;
    }
    if (ec.category() == asio::error::get_ssl_category()) {
      fail_with(Error(Category::Protocol, "TLS error on the stream with " + where + ": " + ec.message()));
      return;
    }
    fail_with(Error(Category::Connect, "connection to " + where + " failed: " + ec.message()));
  }

  // ---- writing ---------------------------------------------------------------------------
  void write(std::string bytes) {
    if (bytes.empty() || !stream) return;
    out_pending += bytes;
    flush();
  }

  void flush() {
    if (writing || out_pending.empty() || handshaking || failure) return;
    writing = true;
    out_flight = std::move(out_pending);
    out_pending.clear();
    auto weak = weak_from_this();
    auto on_write = [weak](const asio::error_code& ec, std::size_t) {
      auto self = weak.lock();
      if (!self) return;
      self->writing = false;
      self->out_flight.clear();
      if (self->failure) return;
      if (ec) {
        if (!self->closed) self->on_read_error(ec);
        return;
      }
      if (!self->out_pending.empty()) {
        self->flush();
        return;
      }
      self->after_drain();
    };
    if (tls_active)
      asio::async_write(*stream, asio::buffer(out_flight), on_write);
    else
      asio::async_write(stream->next_layer(), asio::buffer(out_flight), on_write);
  }

  std::function<void()> drained;
  void after_drain() {
    if (tls_requested && !handshaking) {
      start_tls();
      return;
    }
    if (drained) {
      auto d = std::move(drained);
      drained = nullptr;
      d();
    }
  }

  // ---- codec -----------------------------------------------------------------------------
  NegotiatorConfig negotiation_config(bool direct_tls);
  void pump_codec();
  void retry_without_pipelining(const Error& why);
  void on_stanza(xml::Element st);

  // ---- requests --------------------------------------------------------------------------
  std::string send_iq(xml::Element iq, ReplyHandler done) {
    if (iq.ns.empty()) iq.ns = "jabber:client";
    std::string id = iq.attr_or("id");
    if (id.empty()) {
      id = id_prefix + std::to_string(++counter);
      iq.set("id", id);
    }
    if (failure) {
      auto e = *failure;
      asio::post(io, [done = std::move(done), e] { done(fail(e)); });
      return id;
    }
    pending[id] = Pending{std::move(done), iq.attr_or("to"), std::nullopt};
    send_stanza(iq);
    return id;
  }

  void send_stanza(const xml::Element& st) {
    if (failure || closed) return;
    if (!neg) {
      first_flight.push_back(st);
      return;
    }
    neg->send(st);
    pump_codec();
  }

  // A reply must come from whom the request went to (RFC 6120 §8.1.2.1); for requests to
  // the server or our own account, from the domain, our bare or full JID, or no one.
  bool reply_from_ok(const Pending& p, const std::string& from) const {
    if (from == p.to) return true;
    std::string bare = bare_jid(info.bound_jid);
    bool to_self = p.to.empty() || p.to == domain || p.to == bare || p.to == info.bound_jid;
    if (!to_self) return false;
    return from.empty() || from == domain || from == bare || from == info.bound_jid;
  }

  // ---- keepalive -------------------------------------------------------------------------
  void arm_keepalive() {
    ka_timer.cancel();
    if (ka_interval.count() <= 0 || failure) return;
    auto now = Deadline::Clock::now();
    auto due = ka_ping_out ? ka_ping_sent + ka_timeout : last_rx + ka_interval;
    ka_timer.expires_at(std::max(due, now));
    auto weak = weak_from_this();
    ka_timer.async_wait([weak](const asio::error_code& ec) {
      auto self = weak.lock();
      if (!self || ec || self->failure || self->closed) return;
      self->on_keepalive_timer();
    });
  }

  void on_keepalive_timer() {
    auto now = Deadline::Clock::now();
    if (ka_ping_out) {
      if (now - ka_ping_sent >= ka_timeout && last_rx < ka_ping_sent) {
        auto secs = std::chrono::duration_cast<std::chrono::seconds>(now - last_rx).count();
        fail_with(Error(Category::Timeout,
                        "the link to " + endpoint() + " is dead: nothing received for " + std::to_string(secs) +
                            " s, not even an answer to a ping",
                        "the server, a NAT or the network path dropped the connection"));
        return;
      }
    } else if (now - last_rx >= ka_interval) {
      // XEP-0199 §4.2: a client-to-server ping; any answer (even an error) proves the link.
      ka_ping_out = true;
      ka_ping_sent = now;
      trace.progress(2, "keepalive: ping to " + domain);
      neg->ping();
      pump_codec();
    }
    arm_keepalive();
  }

  // ---- running the loop ------------------------------------------------------------------
  // Run io until done() or failure, the deadline, or a signal. Returns the reason to stop.
  // After SIGINT/SIGTERM it still serves the connection for a short slice per call (a caller
  // may be collecting the answer to a final close) and then returns Interrupted.
  Result<void> run(const std::function<bool()>& done, Deadline caller_deadline, bool timeout_is_error = true) {
    while (true) {
      const Deadline deadline = extended(caller_deadline);
      if (done()) return {};
      if (failure) return fail(*failure);
      if (deadline.expired()) {
        if (!timeout_is_error) return {};
        return fail(Category::Timeout, "timed out");
      }
      if (io.stopped()) io.restart();
      const bool intr_now = xnet::interrupted();
      auto cap = intr_now ? std::chrono::milliseconds(50) : std::chrono::milliseconds(250);
      auto slice = std::min<std::chrono::milliseconds>(deadline.remaining(), cap);
      io.run_one_for(std::max(slice, std::chrono::milliseconds(1)));
      while (!done() && !failure && io.poll_one() > 0) {
      }
      if (intr_now || xnet::interrupted()) {
        if (done()) return {};
        if (failure) return fail(*failure);
        return fail(Category::Interrupted, "interrupted");
      }
    }
  }
};

// ---- the codec glue -------------------------------------------------------------------------

NegotiatorConfig Session::Impl::negotiation_config(bool direct_tls) {
  NegotiatorConfig nc;
  nc.jid = bare_jid(cfg.jid);
  nc.password = cfg.password;
  nc.resource = cfg.resource;
  if (nc.resource.empty()) {
    if (auto slash = cfg.jid.find('/'); slash != std::string::npos) nc.resource = cfg.jid.substr(slash + 1);
  }
  nc.direct_tls = direct_tls;
  nc.pipeline_starttls = pipeline_starttls;
  nc.sasl2 = true;
  nc.user_agent_id = client_id;
  if (cfg.fast && store && !anonymous()) {
    nc.fast_token = token;
    nc.request_fast_token = !cfg.fast_invalidate;
    nc.fast_invalidate = cfg.fast_invalidate;
  }
  return nc;
}

void Session::Impl::pump_codec() {
  if (!neg) return;
  while (!failure) {
    auto ev = neg->next_event();
    if (!ev) break;
    switch (ev->kind) {
      case Event::Kind::StartTls:
        tls_requested = true;
        break;
      case Event::Kind::Bound:
        bound = true;
        info.bound_jid = ev->jid;
        info.connect_ms = std::chrono::duration<double, std::milli>(Deadline::Clock::now() - started).count();
        info.mechanism = neg->mechanism();
        info.sasl2 = neg->used_sasl2();
        info.fast = neg->used_fast();
        trace.progress(1, "bound as " + info.bound_jid + " via " +
                              util::format_host_port(info.server_ip, info.server_port) + " in " +
                              std::to_string(static_cast<int>(info.connect_ms)) + " ms" +
                              (info.mechanism.empty() ? "" : " (" + info.mechanism +
                                                                 (info.fast ? ", FAST token" : info.sasl2 ? ", SASL2" : "") + ")"));
        arm_keepalive();
        break;
      case Event::Kind::Stanza:
        on_stanza(std::move(ev->stanza));
        break;
      case Event::Kind::FastToken:
        on_fast_token(ev->token);
        break;
      case Event::Kind::NeedPassword:
        on_need_password();
        break;
      case Event::Kind::Retry:
        retry_without_pipelining(ev->error);
        return;
      case Event::Kind::Closed:
        fail_with(Error(Category::Connect, "the server " + endpoint() + " closed the stream"));
        return;
      case Event::Kind::Failed: {
        Error e = ev->error;
        if (e.message.empty()) e.message = "negotiation with " + endpoint() + " failed";
        fail_with(std::move(e));
        return;
      }
    }
  }
  if (failure || !neg) return;
  write(neg->take_output());
  if (tls_requested && !writing && out_pending.empty()) start_tls();
}

void Session::Impl::retry_without_pipelining(const Error& why) {
  if (!connected_target || ++reconnects > 2) {
    fail_with(why);
    return;
  }
  if (token_dropped) {
    // XEP-0484 §5: the token is gone; log in again with the password (asked for when needed).
    token_dropped = false;
    trace.progress(1, why.message + "; logging in again with the password");
  } else if (pipeline_starttls) {
    trace.progress(1, "the server refused pipelined STARTTLS (" + why.message + "); reconnecting step by step");
    pipeline_starttls = false;
  } else {
    fail_with(why);
    return;
  }
  close_socket();
  stream.reset();
  neg.reset();
  tls_active = handshaking = tls_requested = reading = writing = false;
  out_pending.clear();
  // Same server, same address: no new lookup.
  ConnectTarget t = *connected_target;
  t.host = info.server_ip;
  t.port = info.server_port;
  std::string host = info.server_host;
  connect({t});
  info.server_host = host;
}

void Session::Impl::on_stanza(xml::Element st) {
  auto type = st.attr_or("type");
  if (st.name == "iq" && (type == "result" || type == "error")) {
    auto it = pending.find(st.attr_or("id"));
    if (it != pending.end() && reply_from_ok(it->second, st.attr_or("from"))) {
      auto p = std::move(it->second);
      pending.erase(it);
      Result<xml::Element> r = type == "error" ? Result<xml::Element>(fail(reply_error(st))) : Result<xml::Element>(std::move(st));
      if (p.done) p.done(std::move(r));
      return;
    }
    // Not ours: the handler may be waiting for it by id; never answered (RFC 6120 §8.2.3).
    if (handler) handler(st);
    return;
  }
  if (st.name == "iq" && type == "get" && st.child("ping", kPingNs)) {
    send_stanza(make_result_reply(st));  // XEP-0199 §4.1
    return;
  }
  bool handled = handler && handler(st);
  if (!handled && st.name == "iq" && (type == "get" || type == "set"))
    send_stanza(make_error_reply(st, "cancel", "service-unavailable"));
}

// ---- Session ----------------------------------------------------------------------------------

Session::Session(std::shared_ptr<Impl> impl) : impl_(std::move(impl)) {}
Session::Session(Session&&) noexcept = default;
Session& Session::operator=(Session&&) noexcept = default;
Session::~Session() {
  if (impl_) close();
}

const ConnectionInfo& Session::info() const { return impl_->info; }
asio::io_context& Session::io() { return impl_->io; }

Result<Session> Session::open(const ConnectConfig& config, Trace& trace, Deadline deadline, OpenOptions options) {
  return open_impl(nullptr, config, trace, deadline, std::move(options));
}

Result<Session> Session::open(asio::io_context& io, const ConnectConfig& config, Trace& trace, Deadline deadline,
                              OpenOptions options) {
  return open_impl(&io, config, trace, deadline, std::move(options));
}

Result<Session> Session::open_impl(asio::io_context* io, const ConnectConfig& config, Trace& trace, Deadline deadline,
                                   OpenOptions options) {
  auto impl = std::make_shared<Impl>(io, trace, config);
  auto& m = *impl;
  if (m.domain.empty()) return fail(Category::Usage, "'" + config.jid + "' has no domain");
  for (auto& st : options.first_flight) {
    if (st.ns.empty()) st.ns = "jabber:client";
    std::string id = st.attr_or("id");
    if (id.empty()) {
      id = make_id();
      st.set("id", id);
    }
    auto weak = std::weak_ptr<Impl>(impl);
    m.pending[id] = Impl::Pending{[weak, id](Result<xml::Element> r) {
                                    if (auto self = weak.lock()) self->early.insert_or_assign(id, std::move(r));
                                  },
                                  st.attr_or("to"), std::nullopt};
    m.first_flight.push_back(std::move(st));
  }
  m.start();
  auto r = m.run([&] { return m.bound; }, deadline);
  if (!r) {
    Error e = r.error();
    if (e.category == Category::Timeout && !m.failure) {
      std::string where = m.endpoint();
      if (!m.stream) {
        e.message = (m.connector ? m.connector->stage() : "looking up the SRV records of " + m.domain) +
                    ": no connection within the timeout";
        e.hint = "raise --timeout, or check the address and the network";
      } else if (m.handshaking) {
        e.message = "TLS handshake with " + where + " did not finish within the timeout";
        e.hint = "is this an XMPP port?";
      } else if (m.bytes_in == 0) {
        e.message = "no XMPP stream from " + where + " within the timeout";
        e.hint = "raise --timeout, or check that this is an XMPP port";
      } else {
        e.message = "negotiation with " + where + " did not finish within the timeout";
        e.hint = "raise --timeout";
      }
    }
    m.fail_with(e);
    return fail(e);
  }
  return Session(std::move(impl));
}

std::string Session::make_id() {
  static std::atomic<unsigned long> n{0};
  static const std::string prefix = random_prefix();
  return prefix + "f" + std::to_string(++n);
}

std::string Session::next_id() { return impl_->id_prefix + std::to_string(++impl_->counter); }

void Session::send(const xml::Element& stanza) {
  xml::Element st = stanza;
  if (st.ns.empty()) st.ns = "jabber:client";
  impl_->send_stanza(st);
}

std::string Session::send_request(xml::Element iq, std::function<void(Result<xml::Element>)> done) {
  return impl_->send_iq(std::move(iq), std::move(done));
}

std::string Session::send_request(xml::Element iq) {
  auto weak = std::weak_ptr<Impl>(impl_);
  auto id = iq.attr_or("id");
  if (id.empty()) {
    id = next_id();
    iq.set("id", id);
  }
  return impl_->send_iq(std::move(iq), [weak, id](Result<xml::Element> r) {
    if (auto self = weak.lock()) self->early.insert_or_assign(id, std::move(r));
  });
}

std::vector<Result<xml::Element>> Session::request_all(std::vector<xml::Element> iqs, Deadline deadline) {
  auto& m = *impl_;
  auto results = std::make_shared<std::vector<std::optional<Result<xml::Element>>>>(iqs.size());
  std::vector<std::string> ids;
  for (std::size_t i = 0; i < iqs.size(); ++i)
    ids.push_back(m.send_iq(std::move(iqs[i]), [results, i](Result<xml::Element> r) { (*results)[i] = std::move(r); }));
  auto all = [&] {
    for (const auto& r : *results)
      if (!r) return false;
    return true;
  };
  auto st = m.run(all, deadline);
  std::vector<Result<xml::Element>> out;
  for (std::size_t i = 0; i < results->size(); ++i) {
    if ((*results)[i]) {
      out.push_back(std::move(*(*results)[i]));
      continue;
    }
    m.pending.erase(ids[i]);
    if (!st && st.error().category != Category::Timeout)
      out.push_back(fail(st.error()));
    else
      out.push_back(fail(Category::Timeout, "no reply from " + (m.domain) + " within the timeout"));
  }
  return out;
}

Result<xml::Element> Session::request(xml::Element iq, Deadline deadline) {
  std::string to = iq.attr_or("to", impl_->domain);
  std::vector<xml::Element> v;
  v.push_back(std::move(iq));
  auto r = request_all(std::move(v), deadline);
  if (!r[0] && r[0].error().category == Category::Timeout)
    return fail(Category::Timeout, "no reply from " + to + " within the timeout");
  return std::move(r[0]);
}

Result<xml::Element> Session::wait_reply(const std::string& id, Deadline deadline) {
  auto& m = *impl_;
  auto st = m.run([&] { return m.early.count(id) > 0 || !m.pending.count(id); }, deadline);
  auto it = m.early.find(id);
  if (it != m.early.end()) {
    auto r = std::move(it->second);
    m.early.erase(it);
    return r;
  }
  if (!st) {
    if (st.error().category == Category::Timeout) return fail(Category::Timeout, "no reply from " + m.domain + " within the timeout");
    return fail(st.error());
  }
  return fail(Category::Internal, "no request with id " + id + " is pending");
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
  if (m.failure) return fail(*m.failure);
  return m.run([] { return false; }, Deadline::in(max_wait), false);
}

Result<void> Session::run_until(const std::function<bool()>& stop, Deadline deadline) {
  return impl_->run(stop, deadline);
}

void Session::set_keepalive(std::chrono::milliseconds interval, std::chrono::milliseconds timeout) {
  auto& m = *impl_;
  m.ka_interval = interval;
  m.ka_timeout = timeout.count() > 0 ? timeout : interval;
  m.last_rx = Deadline::Clock::now();
  m.ka_ping_out = false;
  if (m.bound) m.arm_keepalive();
}

void Session::on_failure(std::function<void(const Error&)> handler) { impl_->failure_handler = std::move(handler); }

bool Session::alive() const { return !impl_->failure && !impl_->closed; }

void Session::close() {
  auto& m = *impl_;
  if (m.closed || m.failure) {
    m.closed = true;
    return;
  }
  m.ka_timer.cancel();
  if (m.connector) m.connector->cancel();
  if (m.neg && m.stream && !m.handshaking) {
    m.neg->close();
    m.write(m.neg->take_output());
    // </stream:stream> leaves now; the server's close is not awaited.
    bool done = false;
    m.drained = [&done] { done = true; };
    (void)m.run([&] { return done || !m.writing; }, Deadline::in(std::chrono::milliseconds(500)), false);
    m.drained = nullptr;
  }
  m.closed = true;
  asio::error_code ec;
  if (m.stream) m.stream->next_layer().shutdown(asio::ip::tcp::socket::shutdown_both, ec);
  m.close_socket();
  auto waiting = std::move(m.pending);
  m.pending.clear();
  for (auto& [id, p] : waiting)
    if (p.done) p.done(fail(Category::Connect, "the session was closed"));
}

}  // namespace xnet::xmpp
