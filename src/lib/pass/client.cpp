// SPDX-License-Identifier: MIT
#include "pass/client.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <deque>
#include <map>
#include <mutex>
#include <random>
#include <sstream>
#include <thread>

#include <asio/io_context.hpp>
#include <asio/post.hpp>
#include <asio/steady_timer.hpp>

#include "pass/relay.hpp"

extern char** environ;

namespace xnet::pass {

std::string_view event_name(EventKind kind) {
  switch (kind) {
    case EventKind::Listening: return "listening";
    case EventKind::Incoming: return "incoming";
    case EventKind::Accepted: return "accepted";
    case EventKind::Denied: return "denied";
    case EventKind::Closed: return "closed";
    case EventKind::Expired: return "expired";
    case EventKind::ListenerClosed: return "listener_closed";
    case EventKind::Refused: return "refused";
    case EventKind::Disconnected: return "disconnected";
  }
  return "unknown";
}
namespace {

using Clock = std::chrono::steady_clock;

std::string bare(std::string_view jid) { return std::string(jid.substr(0, jid.find('/'))); }

// Connect to host:port within timeout; -1 with errno-style message in err on failure.
int connect_tcp(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout,
                std::string& err) {
  addrinfo hints{};
  hints.ai_family = AF_UNSPEC;
  hints.ai_socktype = SOCK_STREAM;
  hints.ai_flags = AI_NUMERICSERV;
  addrinfo* res = nullptr;
  auto service = std::to_string(port);
  if (int rc = getaddrinfo(host.c_str(), service.c_str(), &hints, &res); rc != 0) {
    err = "cannot resolve " + host + ": " + gai_strerror(rc);
    return -1;
  }
  auto deadline = Clock::now() + timeout;
  int fd = -1;
  for (auto* ai = res; ai && fd < 0; ai = ai->ai_next) {
    fd = ::socket(ai->ai_family, ai->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) continue;
    int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
    if (rc != 0 && errno == EINPROGRESS) {
      auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
      pollfd p{fd, POLLOUT, 0};
      int soerr = ETIMEDOUT;
      if (left.count() > 0 && ::poll(&p, 1, static_cast<int>(left.count())) == 1) {
        socklen_t len = sizeof soerr;
        getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &len);
      }
      rc = soerr == 0 ? 0 : -1;
      errno = soerr;
    }
    if (rc != 0) {
      err = "cannot connect to " + host + ":" + service + ": " + std::strerror(errno);
      ::close(fd);
      fd = -1;
    }
  }
  freeaddrinfo(res);
  if (fd >= 0) {
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
  }
  return fd;
}

// The --exec child's environment: ours without XNET_* (passwords, secrets), plus the ucspi-tcp
// variables that name the remote client.
std::vector<std::string> child_environment(const std::string& client_ip, std::uint16_t client_port) {
  std::vector<std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string_view v(*e);
    if (v.rfind("XNET_", 0) == 0 || v.rfind("TCPREMOTE", 0) == 0) continue;
    env.emplace_back(v);
  }
  env.push_back("TCPREMOTEIP=" + client_ip);
  env.push_back("TCPREMOTEPORT=" + std::to_string(client_port));
  return env;
}

bool write_all(int fd, std::string_view data) {
  while (!data.empty()) {
    ssize_t n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    data.remove_prefix(static_cast<std::size_t>(n));
  }
  return true;
}

}  // namespace

// --- allow list -----------------------------------------------------------------------------

Result<Cidr> parse_cidr(std::string_view text) {
  Cidr c;
  std::string addr(text.substr(0, text.find('/')));
  if (inet_pton(AF_INET, addr.c_str(), c.addr) == 1) {
    c.family = 4;
    c.prefix = 32;
  } else if (inet_pton(AF_INET6, addr.c_str(), c.addr) == 1) {
    c.family = 6;
    c.prefix = 128;
  } else {
    return fail(Category::Usage, "--allow: '" + std::string(text) + "' is not an IP address or ADDR/PREFIX");
  }
  if (auto slash = text.find('/'); slash != std::string_view::npos) {
    auto p = text.substr(slash + 1);
    int v = -1;
    auto [ptr, ec] = std::from_chars(p.data(), p.data() + p.size(), v);
    if (ec != std::errc{} || ptr != p.data() + p.size() || v < 0 || v > c.prefix)
      return fail(Category::Usage, "--allow: bad prefix length in '" + std::string(text) + "'");
    c.prefix = v;
  }
  return c;
}

bool Cidr::contains(std::string_view ip_text) const {
  std::string ip(ip_text);
  unsigned char a[16] = {};
  int fam = 0;
  if (inet_pton(AF_INET, ip.c_str(), a) == 1) {
    fam = 4;
  } else if (inet_pton(AF_INET6, ip.c_str(), a) == 1) {
    fam = 6;
    static const unsigned char kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    if (std::memcmp(a, kMapped, 12) == 0) {
      std::memmove(a, a + 12, 4);
      fam = 4;
    }
  }
  if (fam != family) return false;
  int full = prefix / 8, rest = prefix % 8;
  if (std::memcmp(a, addr, static_cast<std::size_t>(full)) != 0) return false;
  if (rest == 0) return true;
  auto mask = static_cast<unsigned char>(0xff << (8 - rest));
  return (a[full] & mask) == (addr[full] & mask);
}

std::string default_service(std::string_view jid) {
  auto b = bare(jid);
  auto at = b.find('@');
  return "pass." + (at == std::string::npos ? b : b.substr(at + 1));
}

// --- listener -------------------------------------------------------------------------------

struct Listener::Impl {
  Impl(asio::io_context& i, Link& l, ListenOptions opts, Trace& t)
      : link(&l), o(std::move(opts)), trace(t), io(i) {}
  ~Impl() {
    for (auto& [pid, c] : children) {
      ::kill(pid, SIGTERM);
      ::waitpid(pid, nullptr, 0);
    }
  }

  struct Child {
    std::uint64_t id;
    Clock::time_point started;
    std::string client_ip;
    std::uint16_t client_port = 0;
  };

  Link* link;
  ListenOptions o;
  Trace& trace;
  Event ep;
  std::string service;
  asio::io_context& io;  // the link's loop: relays run inside its blocking calls
  std::mutex mu;
  std::deque<Event> queue;  // events from relay completions
  std::atomic<int> active{0};
  std::map<pid_t, Child> children;
  std::uint64_t next_id = 0;
  bool finished = false;  // the service closed the listener (expire, oneshot, close)
  bool stdio_taken = false;
  bool stdio_done = false;
  std::vector<Event> pending_events;  // produced while handling a stanza
  // Keepalive (XEP-0199 to the server): one ping in flight at a time.
  std::string ping_id;
  Clock::time_point ping_sent{};
  std::uint64_t ping_seq = 0;

  // Ping the server every o.keepalive; a ping unanswered for o.keepalive means the link is
  // dead (a frozen relay, a NAT that lost its mapping: TCP alone would wait for minutes).
  Result<void> keepalive(Clock::time_point now) {
    if (o.keepalive.count() <= 0) return {};
    if (!ping_id.empty()) {
      if (now - ping_sent < o.keepalive) return {};
      auto secs = std::chrono::duration<double>(o.keepalive).count();
      std::ostringstream msg;
      msg << "dead link: no answer to a keepalive ping within " << secs << " s";
      return fail(Category::Timeout, msg.str());
    }
    if (now - ping_sent < o.keepalive) return {};
    ping_id = "pass-ping-" + std::to_string(++ping_seq);
    ping_sent = now;
    xml::Element iq("iq", "jabber:client");
    iq.set("type", "get");
    iq.set("id", ping_id);
    auto jid = link->bound_jid();
    auto at = jid.find('@');
    auto domain = jid.substr(at == std::string::npos ? 0 : at + 1);
    iq.set("to", domain.substr(0, domain.find('/')));
    iq.add("ping", "urn:xmpp:ping");
    link->send(iq);
    return {};
  }

  // Flush events of the relay thread and of reaped children to on_event.
  void flush(const std::function<void(const Event&)>& on_event) {
    reap();
    {
      std::lock_guard lock(mu);
      while (!queue.empty()) {
        pending_events.push_back(std::move(queue.front()));
        queue.pop_front();
      }
    }
    for (auto& e : pending_events) {
      if (e.event == EventKind::Closed && o.target == Target::Stdio && stdio_taken) stdio_done = true;
      on_event(e);
    }
    pending_events.clear();
  }

  Result<xml::Element> register_query(Deadline deadline, std::optional<std::uint16_t> reclaim) {
    xep0003::Query q;
    if (o.expire) {
      q.expire = true;
      q.expire_seconds = *o.expire;
    }
    q.oneshot = o.oneshot;
    q.token = "";  // xnet extension: every collector of ours presents the notice's token
    q.reclaim = reclaim;
    trace.progress(1, "pass: registering with " + service);
    auto r = link->request(xep0003::make_iq("set", "", "", service, q), deadline);
    if (!r) {
      Error e = r.error();
      if (e.stanza && xep0003::is_retry_later(*e.stanza)) {
        e.category = Category::Timeout;  // temporary: 75
        e.hint = "the PASS service has no free port for this account; try again later";
      } else if (e.stanza && e.stanza->condition == "forbidden") {
        e.category = Category::Auth;
        e.hint = service + " lets only registered accounts rent ports";
      } else if (e.stanza && e.stanza->condition == "service-unavailable") {
        e.category = Category::NotSupported;
        e.hint = service + " does not offer PASS (XEP-0003); pick one with --service";
      }
      e.message = "registration with " + service + " failed: " + e.message;
      return fail(std::move(e));
    }
    const auto* qe = xep0003::find_query(*r);
    if (!qe) return fail(Category::Protocol, service + " answered the registration without a PASS query");
    auto res = xep0003::parse_query(*qe);
    if (!res) return fail(Category::Protocol, service + ": " + res.error().message);
    if (!res->server || !res->server->port)
      return fail(Category::Protocol, service + " answered the registration without <server port=…/>");
    ep.event = EventKind::Listening;
    ep.ip = res->server->ip;
    ep.port = *res->server->port;
    ep.expires = o.expire;
    ep.service = service;
    // Initial presence (priority -1: no messages for the bare JID come here), then directed
    // presence: the router (component mode) then tells the service when this session ends,
    // so the port is freed even if this process dies without sending close.
    xml::Element initial("presence", "jabber:client");
    initial.add("priority").set_text("-1");
    link->send(initial);
    xml::Element presence("presence", "jabber:client");
    presence.set("to", service);
    link->send(presence);
    ping_id.clear();
    ping_sent = Clock::now();
    auto* self = this;
    link->on_stanza([self](const xml::Element& st) { return self->handle(st); });
    return *r;
  }

  void emit(Event e) { pending_events.push_back(std::move(e)); }

  void ack(const xml::Element& iq, const xep0003::Query& q = {}) {
    link->send(xep0003::make_iq("result", iq.attr_or("id"), "", iq.attr_or("from"), q));
  }

  void deny(const xml::Element& iq, xep0003::PassError why, const Event& base,
            std::string reason) {
    auto r = xep0003::make_error_reply(iq, why);
    r.erase("from");
    link->send(r);
    Event e = base;
    e.event = EventKind::Denied;
    e.reason = std::move(reason);
    emit(std::move(e));
  }

  bool handle(const xml::Element& st) {
    // XEP-0199: answer pings (a PASS component pings owners to learn that they left).
    if (st.name == "iq" && st.attr_or("type") == "get" && st.child("ping", "urn:xmpp:ping")) {
      xml::Element r("iq", "jabber:client");
      r.set("type", "result");
      r.set("id", st.attr_or("id"));
      if (st.attr("from")) r.set("to", st.attr_or("from"));
      link->send(r);
      return true;
    }
    if (st.name == "iq" && !ping_id.empty() && st.attr_or("id") == ping_id &&
        (st.attr_or("type") == "result" || st.attr_or("type") == "error")) {
      ping_id.clear();  // any answer, even an error, proves the link is alive
      return true;
    }
    if (st.name != "iq" || st.attr_or("type") != "set") return false;
    if (bare(st.attr_or("from")) != bare(service)) return false;  // notices come from the service only
    const auto* qe = xep0003::find_query(st);
    if (!qe) return false;
    auto q = xep0003::parse_query(*qe);
    if (!q) {
      link->send(xep0003::make_error_reply(st, xep0003::PassError::BadRequest, q.error().message));
      return true;
    }
    switch (xep0003::classify("set", *q, true)) {
      case xep0003::Kind::Incoming: on_incoming(st, *q); return true;
      case xep0003::Kind::Refused: {
        ack(st);
        Event e;
        e.event = EventKind::Refused;
        e.client_ip = q->client->ip;
        e.client_port = q->client->port.value_or(0);
        e.reason = *q->refused;
        e.count = q->refused_count;
        emit(std::move(e));
        return true;
      }
      case xep0003::Kind::ExpireNotice:
      case xep0003::Kind::OneshotNotice:
      case xep0003::Kind::CloseNotice: {
        ack(st);  // pass.md §8: acknowledge every notice
        if (q->proxy && q->proxy->port && *q->proxy->port != ep.port) return true;  // not ours
        finished = true;
        Event e = ep;
        bool expired = q->expire && !q->expire_seconds;
        e.event = expired ? EventKind::Expired : EventKind::ListenerClosed;
        e.reason = expired ? "expired" : q->oneshot ? "oneshot" : "closed";
        e.expires.reset();
        emit(std::move(e));
        return true;
      }
      default: return false;
    }
  }

  void on_incoming(const xml::Element& st, const xep0003::Query& q) {
    Event base;
    base.id = ++next_id;
    base.client_ip = q.client->ip;
    base.client_port = q.client->port.value_or(0);
    Event in = base;
    in.event = EventKind::Incoming;
    emit(in);
    if (!o.allow.empty()) {
      bool ok = false;
      for (const auto& c : o.allow) ok = ok || c.contains(q.client->ip);
      if (!ok) return deny(st, xep0003::PassError::Denied, base, "not_allowed");
    }
    if (o.target == Target::Stdio && stdio_taken)
      return deny(st, xep0003::PassError::Denied, base, "busy");
    // The local side first: when it is down, the client is turned away instead of accepted.
    int local = -1;
    std::string err;
    if (o.target == Target::Forward) {
      local = connect_tcp(o.forward_host, o.forward_port, o.connect_timeout, err);
      if (local < 0) {
        trace.warning("pass: " + err);
        return deny(st, xep0003::PassError::Unavailable, base, "forward_failed");
      }
    }
    xep0003::Query reply;
    if (q.token) reply.token = "";  // tells the service we will present the token
    ack(st, reply);
    int proxy = connect_tcp(q.proxy->ip, q.proxy->port.value_or(0), o.connect_timeout, err);
    if (proxy >= 0 && q.token && !q.token->empty() && !write_all(proxy, *q.token)) {
      ::close(proxy);
      proxy = -1;
      err = "cannot send the rendezvous token";
    }
    if (proxy < 0) {
      trace.warning("pass: collecting connection " + std::to_string(base.id) + ": " + err);
      if (local >= 0) ::close(local);
      Event e = base;
      e.event = EventKind::Closed;
      e.reason = "proxy_failed";
      emit(std::move(e));
      return;
    }
    Event acc = base;
    acc.event = EventKind::Accepted;
    emit(acc);
    if (o.target == Target::Exec) {
      start_child(proxy, base);
      return;
    }
    RelayEnd a{proxy, proxy};
    RelayEnd b = o.target == Target::Forward ? RelayEnd{local, local} : RelayEnd{0, 1};
    if (o.target == Target::Stdio) stdio_taken = true;
    ++active;
    auto started = Clock::now();
    asio::post(io, [this, a, b, base, started] {
      start_relay(io, a, b, RelayOptions{}, [this, base, started](const RelayResult& r) {
        Event e = base;
        e.event = EventKind::Closed;
        e.bytes_in = r.a_to_b;
        e.bytes_out = r.b_to_a;
        e.reason = r.error ? "error" : "eof";
        e.duration_ms = std::chrono::duration<double, std::milli>(Clock::now() - started).count();
        std::lock_guard lock(mu);
        queue.push_back(std::move(e));
        --active;
      });
    });
  }

  void start_child(int sock, const Event& base) {
    // Everything the child needs is built before fork(): after it only async-signal-safe calls.
    auto env = child_environment(base.client_ip, base.client_port);
    std::vector<char*> envp;
    for (auto& v : env) envp.push_back(v.data());
    envp.push_back(nullptr);
    const char* argv[] = {"sh", "-c", o.exec_command.c_str(), nullptr};
    pid_t pid = ::fork();
    if (pid == 0) {
      // The child is the remote client's: it gets the connection as stdin/stdout, our stderr,
      // and nothing else (not the XMPP socket, not the relay's pipes or sockets).
      int fd = sock;
      if (fd <= 2) fd = ::fcntl(sock, F_DUPFD, 3);
      ::dup2(fd, 0);
      ::dup2(fd, 1);
      if (::syscall(SYS_close_range, 3U, ~0U, 0U) != 0) {
        for (int i = 3, n = static_cast<int>(::sysconf(_SC_OPEN_MAX)); i < n; ++i) ::close(i);
      }
      ::signal(SIGPIPE, SIG_DFL);
      sigset_t none;
      sigemptyset(&none);
      ::sigprocmask(SIG_SETMASK, &none, nullptr);
      ::execve("/bin/sh", const_cast<char* const*>(argv), envp.data());
      ::_exit(127);
    }
    ::close(sock);
    if (pid < 0) {
      Event e = base;
      e.event = EventKind::Closed;
      e.reason = std::string("fork failed: ") + std::strerror(errno);
      emit(std::move(e));
      return;
    }
    children[pid] = Child{base.id, Clock::now(), base.client_ip, base.client_port};
  }

  void reap() {
    for (auto it = children.begin(); it != children.end();) {
      int status = 0;
      if (::waitpid(it->first, &status, WNOHANG) == it->first) {
        Event e;
        e.event = EventKind::Closed;
        e.id = it->second.id;
        e.client_ip = it->second.client_ip;
        e.client_port = it->second.client_port;
        e.reason = WIFEXITED(status) ? "exit " + std::to_string(WEXITSTATUS(status))
                                     : "signal " + std::to_string(WTERMSIG(status));
        e.duration_ms =
            std::chrono::duration<double, std::milli>(Clock::now() - it->second.started).count();
        emit(std::move(e));
        it = children.erase(it);
      } else {
        ++it;
      }
    }
  }
};

Listener::Listener(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Listener::~Listener() = default;

Result<std::unique_ptr<Listener>> Listener::open(asio::io_context& io, Link& link, ListenOptions o,
                                                 Trace& trace, Deadline deadline) {
  if (o.target == Target::Forward && (o.forward_host.empty() || o.forward_port == 0))
    return fail(Category::Usage, "--forward needs HOST:PORT with a port");
  if (o.target == Target::Exec && o.exec_command.empty())
    return fail(Category::Usage, "--exec needs a command");
  // stdio carries one connection: let the service close the port after it (XEP-0003 §4.2).
  if (o.target == Target::Stdio) o.oneshot = true;
  auto impl = std::make_unique<Impl>(io, link, o, trace);
  impl->service = o.service.empty() ? default_service(link.bound_jid()) : o.service;
  if (auto r = impl->register_query(deadline, std::nullopt); !r) return fail(r.error());
  return std::unique_ptr<Listener>(new Listener(std::move(impl)));
}

const Event& Listener::endpoint() const { return impl_->ep; }

bool Listener::finished() const { return impl_->finished; }

Result<void> Listener::reattach(Link& link, Deadline deadline) {
  auto& m = *impl_;
  m.link = &link;
  auto r = m.register_query(deadline, m.ep.port);
  if (!r) return fail(r.error());
  return {};
}

void Listener::idle(const std::function<void(const Event&)>& on_event,
                    std::chrono::milliseconds max_wait) {
  auto& io = impl_->io;
  impl_->flush(on_event);
  if (io.stopped()) io.restart();
  // A timer keeps run_for from returning early when no relay has work queued.
  asio::steady_timer t(io, max_wait);
  t.async_wait([](const asio::error_code&) {});
  io.run_for(max_wait);
  t.cancel();
  io.poll();
  impl_->flush(on_event);
}

Result<void> Listener::run(const std::function<void(const Event&)>& on_event,
                           const std::function<bool()>& stop) {
  auto& m = *impl_;
  for (;;) {
    auto r = m.link->poll(std::chrono::milliseconds(50));
    m.flush(on_event);
    if (!r && r.error().category == Category::Interrupted && stop()) break;
    if (r) r = m.keepalive(Clock::now());
    if (!r) {
      m.link->on_stanza({});
      return fail(r.error());
    }
    const bool idle = m.active == 0 && m.children.empty();
    if ((m.finished && idle) || m.stdio_done) break;
    if (stop()) break;
  }
  m.link->on_stanza({});
  return {};
}

Result<void> Listener::close(Deadline deadline) {
  auto& m = *impl_;
  if (m.finished) return {};
  m.finished = true;
  // Not link.request(): this runs after Ctrl-C too, when a request would give up at once. The
  // reply is picked up by id while the connection keeps being served.
  xep0003::Query q;
  q.close = true;
  q.proxy = xep0003::Endpoint{m.ep.ip, m.ep.port};
  const std::string id = "pass-close-" + std::to_string(m.ep.port);
  std::optional<xml::Element> reply;
  m.link->on_stanza([&](const xml::Element& st) {
    if (st.name == "iq" && st.attr_or("id") == id) {
      reply = st;
      return true;
    }
    return m.handle(st);
  });
  m.link->send(xep0003::make_iq("set", id, "", m.service, q));
  while (!reply && !deadline.expired()) {
    auto r = m.link->poll(std::chrono::milliseconds(50));
    if (!r && r.error().category != Category::Interrupted) break;
  }
  m.link->on_stanza({});
  if (!reply) return fail(Category::Timeout, "no answer to the close control from " + m.service);
  if (reply->attr_or("type") == "error") {
    auto e = xep0003::parse_error(*reply);
    Error err(Category::Remote, m.service + " refused the close: " + e.condition);
    err.stanza = e;
    return fail(std::move(err));
  }
  return {};
}

namespace {

// A lost link is worth another try; a refusal of who we are or what we asked is not.
bool retryable(const Error& e) {
  switch (e.category) {
    case Category::Auth:
    case Category::Usage:
    case Category::Config:
    case Category::NotSupported:
    case Category::Interrupted: return false;
    default: return true;
  }
}

}  // namespace

Result<void> run_listen(const Connect& connect, ListenOptions o, const ReconnectOptions& rc,
                        Trace& trace, const std::function<void(const Event&)>& on_event,
                        const std::function<bool()>& stop, std::chrono::milliseconds timeout) {
  // Declared in this order so that on return the session goes first (its close still runs the
  // loop, with the listener's relays alive), then the listener, then the loop.
  asio::io_context io;
  std::unique_ptr<Listener> owned;
  auto link = connect(io, Deadline::in(timeout));
  if (!link) return fail(link.error());
  auto listener = Listener::open(io, **link, o, trace, Deadline::in(timeout));
  if (!listener) return fail(listener.error());
  owned = std::move(*listener);
  auto& l = *owned;
  on_event(l.endpoint());
  std::mt19937_64 rng(std::random_device{}());
  auto close_on_stop = [&]() -> Result<void> {
    auto closed = l.close(Deadline::in(std::min(timeout, std::chrono::milliseconds(5000))));
    if (!closed) {
      Error e = closed.error();
      e.message = "interrupted, but the close of " + l.endpoint().ip + ":" +
                  std::to_string(l.endpoint().port) + " was not confirmed: " + e.message;
      e.hint = "free it with: xnet pass close " + l.endpoint().ip + ":" + std::to_string(l.endpoint().port);
      return fail(std::move(e));
    }
    Event e = l.endpoint();
    e.event = EventKind::ListenerClosed;
    e.reason = "interrupted";
    e.expires.reset();
    e.reconnected = false;
    on_event(e);
    return {};
  };
  for (;;) {
    auto r = l.run(on_event, stop);
    if (r) {
      if (stop() && !l.finished()) return close_on_stop();
      return {};
    }
    if (!rc.enabled || !retryable(r.error()) || l.finished()) return fail(r.error());
    // The dead session goes first: a session registers the process's interrupt descriptor on
    // the loop, so two cannot share it.
    link->reset();
    // Reconnect: back off exponentially with jitter (50-100 % of the step), serving relays and
    // children meanwhile; the service refuses new clients of this port until we are back.
    auto step = rc.initial_delay;
    Error last = r.error();
    for (;;) {
      std::uniform_int_distribution<long long> jitter(step.count() / 2, step.count());
      auto delay = std::chrono::milliseconds(jitter(rng));
      Event d;
      d.event = EventKind::Disconnected;
      d.ip = l.endpoint().ip;
      d.port = l.endpoint().port;
      d.reason = last.message;
      d.retry_ms = static_cast<std::uint64_t>(delay.count());
      on_event(d);
      auto until = Clock::now() + delay;
      while (Clock::now() < until) {
        if (stop())
          return fail(Category::Interrupted,
                      "interrupted while disconnected from the relay: " + l.endpoint().ip + ":" +
                          std::to_string(l.endpoint().port) + " is not confirmed closed",
                      "the relay frees it after its grace period, or: xnet pass close " +
                          l.endpoint().ip + ":" + std::to_string(l.endpoint().port));
        l.idle(on_event, std::min<std::chrono::milliseconds>(
                             std::chrono::milliseconds(50),
                             std::chrono::duration_cast<std::chrono::milliseconds>(until - Clock::now())));
      }
      step = std::min(step * 2, rc.max_delay);
      auto fresh = connect(io, Deadline::in(rc.attempt_timeout));
      if (!fresh) {
        if (!retryable(fresh.error())) return fail(fresh.error());
        last = fresh.error();
        continue;
      }
      const auto old_port = l.endpoint().port;
      auto again = l.reattach(**fresh, Deadline::in(rc.attempt_timeout));
      if (!again) {
        if (!retryable(again.error())) return fail(again.error());
        last = again.error();
        continue;
      }
      *link = std::move(*fresh);  // the old session goes only now
      Event e = l.endpoint();
      e.reconnected = true;
      e.same_port = e.port == old_port;
      trace.progress(1, "pass: reconnected" + std::string(e.same_port ? ", same port" : ", new port"));
      on_event(e);
      break;
    }
  }
}

Result<void> close_listener(Link& link, const std::string& service, const std::string& ip,
                            std::uint16_t port, Deadline deadline) {
  xep0003::Query q;
  q.close = true;
  q.proxy = xep0003::Endpoint{ip, port};
  auto r = link.request(xep0003::make_iq("set", "", "", service, q), deadline);
  if (!r) {
    Error e = r.error();
    if (e.stanza) {
      // Name the XEP's meaning of the legacy code next to the condition.
      const auto& c = e.stanza->condition;
      std::string meaning = c == "bad-request"      ? "missing <proxy/> specification"
                            : c == "not-authorized" ? "port not registered to your JID"
                            : c == "item-not-found" ? "port not found in registry"
                            : c == "not-allowed"    ? "proxy IP does not match the service"
                                                    : "";
      if (!meaning.empty()) e.hint = meaning;
      if (c == "not-authorized") e.category = Category::Auth;
    }
    e.message = "close " + ip + ":" + std::to_string(port) + " at " + service + ": " + e.message;
    return fail(std::move(e));
  }
  return {};
}

}  // namespace xnet::pass
