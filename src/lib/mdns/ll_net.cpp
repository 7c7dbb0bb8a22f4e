// SPDX-License-Identifier: MIT
#include "mdns/ll_net.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <net/if.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <sstream>

#include "mdns/announce.hpp"
#include "util/interrupt.hpp"

namespace xnet::mdns {
namespace {

using Clock = std::chrono::steady_clock;

std::string sockaddr_ip(const sockaddr_storage& ss, std::uint16_t* port) {
  char buf[INET6_ADDRSTRLEN + IF_NAMESIZE + 2] = {};
  if (ss.ss_family == AF_INET) {
    const auto* a = reinterpret_cast<const sockaddr_in*>(&ss);
    inet_ntop(AF_INET, &a->sin_addr, buf, sizeof buf);
    if (port) *port = ntohs(a->sin_port);
    return buf;
  }
  const auto* a = reinterpret_cast<const sockaddr_in6*>(&ss);
  if (port) *port = ntohs(a->sin6_port);
  if (IN6_IS_ADDR_V4MAPPED(&a->sin6_addr)) {
    in_addr v4;
    std::memcpy(&v4, a->sin6_addr.s6_addr + 12, 4);
    inet_ntop(AF_INET, &v4, buf, sizeof buf);
    return buf;
  }
  inet_ntop(AF_INET6, &a->sin6_addr, buf, sizeof buf);
  std::string s = buf;
  if (a->sin6_scope_id != 0) {
    char ifn[IF_NAMESIZE + 1] = {};
    s += "%";
    s += if_indextoname(a->sin6_scope_id, ifn) ? ifn : std::to_string(a->sin6_scope_id);
  }
  return s;
}

std::string errno_text(int e) { return std::strerror(e); }

bool write_some(int fd, std::string& buf) {
  while (!buf.empty()) {
    ssize_t n = ::send(fd, buf.data(), buf.size(), MSG_NOSIGNAL);
    if (n > 0) {
      buf.erase(0, static_cast<std::size_t>(n));
      continue;
    }
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return true;
    return false;
  }
  return true;
}

}  // namespace

struct LinkLocalServer::Conn {
  std::uint64_t id = 0;
  int fd = -1;
  std::string address;
  std::uint16_t port = 0;
  std::unique_ptr<LinkLocalStream> stream;
  std::string out;
  Clock::time_point opened_at;
  Clock::time_point last_activity;
  std::optional<Clock::time_point> close_deadline;
  bool dead = false;
  bool reported_closed = false;
  ~Conn() {
    if (fd >= 0) ::close(fd);
  }
};

LinkLocalServer::LinkLocalServer(ListenerConfig config, Trace& trace) : cfg_(std::move(config)), trace_(trace) {}

Result<std::unique_ptr<LinkLocalServer>> LinkLocalServer::listen(ListenerConfig config, Trace& trace) {
  config.stream.initiator = false;
  std::unique_ptr<LinkLocalServer> s(new LinkLocalServer(std::move(config), trace));
  int fd = ::socket(AF_INET6, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  int one = 1, zero = 0;
  bool bound = false;
  int bind_errno = 0;
  if (fd >= 0) {
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero);
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_addr = in6addr_any;
    a.sin6_port = htons(s->cfg_.port);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      bound = true;
    } else {
      bind_errno = errno;
      ::close(fd);
      fd = -1;
    }
  }
  if (!bound && bind_errno != EADDRINUSE) {
    fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return fail(Category::Os, "cannot create a TCP socket: " + errno_text(errno));
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_ANY);
    a.sin_port = htons(s->cfg_.port);
    if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0) {
      bound = true;
    } else {
      bind_errno = errno;
      ::close(fd);
    }
  }
  if (!bound)
    return fail(Category::Os, "cannot listen on TCP port " + std::to_string(s->cfg_.port) + ": " + errno_text(bind_errno),
                bind_errno == EADDRINUSE ? "choose another --port, or 0 for a free one" : "");
  if (::listen(fd, 16) != 0) {
    int e = errno;
    ::close(fd);
    return fail(Category::Os, "listen() failed: " + errno_text(e));
  }
  sockaddr_storage ss{};
  socklen_t len = sizeof ss;
  getsockname(fd, reinterpret_cast<sockaddr*>(&ss), &len);
  sockaddr_ip(ss, &s->port_);
  s->fd_ = fd;
  trace.progress(2, "lan: listening on TCP port " + std::to_string(s->port_));
  return s;
}

LinkLocalServer::~LinkLocalServer() {
  conns_.clear();
  if (fd_ >= 0) ::close(fd_);
}

std::size_t LinkLocalServer::connections() const { return conns_.size(); }

void LinkLocalServer::accept_all(std::vector<ServerEvent>& out) {
  for (int i = 0; i < 64; ++i) {
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    int cfd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&ss), &len, SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (cfd < 0) return;
    auto c = std::make_unique<Conn>();
    c->fd = cfd;
    c->address = sockaddr_ip(ss, &c->port);
    c->id = next_id_++;
    c->opened_at = c->last_activity = Clock::now();
    auto now = std::chrono::system_clock::now();
    std::size_t same = std::count_if(conns_.begin(), conns_.end(), [&](const auto& x) { return x->address == c->address; });
    if (conns_.size() >= cfg_.max_connections || same >= cfg_.max_per_address) {
      // Over the limit: tell the peer why (RFC 6120 §4.9.3.13) and hang up.
      std::string bye = xep0174::open_stream(xep0174::StreamHeader{cfg_.stream.local_name, {}, {}, {}}) +
                        xep0174::stream_error("policy-violation", "too many connections") +
                        std::string(xep0174::close_stream());
      write_some(cfd, bye);
      ServerEvent e{ServerEvent::Kind::Rejected, c->id, c->address, c->port, {}, now};
      e.stream.text = "connection limit reached";
      out.push_back(std::move(e));
      continue;
    }
    int one = 1;
    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    c->stream = std::make_unique<LinkLocalStream>(cfg_.stream);
    trace_.progress(1, "lan: connection from " + c->address);
    out.push_back({ServerEvent::Kind::Connected, c->id, c->address, c->port, {}, now});
    conns_.push_back(std::move(c));
  }
}

void LinkLocalServer::flush(Conn& c) {
  std::string more = c.stream->take_output();
  if (!more.empty()) {
    if (trace_.enabled(TraceArea::Xml)) trace_.wire(TraceArea::Xml, TraceDir::Sent, more);
    c.out += more;
  }
  if (!write_some(c.fd, c.out)) c.dead = true;
  if (c.out.size() > cfg_.max_pending_output) c.dead = true;
}

void LinkLocalServer::drain_events(Conn& c, std::vector<ServerEvent>& out) {
  auto now = std::chrono::system_clock::now();
  for (auto& ev : c.stream->take_events()) {
    ServerEvent e;
    e.connection = c.id;
    e.peer_address = c.address;
    e.peer_port = c.port;
    e.time = now;
    switch (ev.kind) {
      case StreamEvent::Kind::Opened: e.kind = ServerEvent::Kind::Opened; break;
      case StreamEvent::Kind::Message: e.kind = ServerEvent::Kind::Message; break;
      case StreamEvent::Kind::Iq: e.kind = ServerEvent::Kind::Iq; break;
      case StreamEvent::Kind::Closed:
        e.kind = ServerEvent::Kind::Closed;
        c.reported_closed = true;
        break;
      case StreamEvent::Kind::Error: e.kind = ServerEvent::Kind::Error; break;
    }
    e.stream = std::move(ev);
    out.push_back(std::move(e));
  }
}

void LinkLocalServer::service(Conn& c, short revents, std::vector<ServerEvent>& out) {
  if (revents & (POLLIN | POLLHUP | POLLERR)) {
    char buf[16384];
    for (int i = 0; i < 16; ++i) {
      ssize_t n = ::recv(c.fd, buf, sizeof buf, 0);
      if (n > 0) {
        c.last_activity = Clock::now();
        std::string_view chunk(buf, static_cast<std::size_t>(n));
        if (trace_.enabled(TraceArea::Xml)) trace_.wire(TraceArea::Xml, TraceDir::Received, chunk);
        c.stream->feed(chunk);
        if (c.stream->finished()) break;
        continue;
      }
      if (n == 0) {
        c.stream->peer_eof();
        c.dead = true;
      } else if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        c.dead = true;
      }
      break;
    }
  }
  flush(c);
  drain_events(c, out);
  if (c.stream->finished() && c.out.empty()) c.dead = true;
}

void LinkLocalServer::reap(std::vector<ServerEvent>& out) {
  auto now = Clock::now();
  for (auto& c : conns_) {
    if (c->dead) continue;
    if (!c->stream->opened() && now - c->opened_at > cfg_.header_timeout) {
      c->stream->close();
      flush(*c);
      out.push_back({ServerEvent::Kind::Error, c->id, c->address, c->port,
                     {StreamEvent::Kind::Error, {}, {}, "no stream header within the time limit"}, std::chrono::system_clock::now()});
      c->dead = true;
    } else if (now - c->last_activity > cfg_.idle_timeout && !c->close_deadline) {
      c->stream->close();
      flush(*c);
      c->close_deadline = now + cfg_.close_timeout;
    } else if (c->stream->we_closed() && !c->close_deadline) {
      c->close_deadline = now + cfg_.close_timeout;
    }
    if (c->close_deadline && now > *c->close_deadline) c->dead = true;
  }
  for (auto& c : conns_) {
    if (c->dead && !c->reported_closed) {
      out.push_back({ServerEvent::Kind::Closed, c->id, c->address, c->port, {}, std::chrono::system_clock::now()});
      c->reported_closed = true;
    }
  }
  std::erase_if(conns_, [](const auto& c) { return c->dead; });
}

std::vector<ServerEvent> LinkLocalServer::poll(std::chrono::milliseconds timeout, std::vector<pollfd>& extra) {
  std::vector<ServerEvent> out;
  std::vector<pollfd> fds;
  fds.reserve(1 + conns_.size() + extra.size());
  if (fd_ >= 0) fds.push_back({fd_, POLLIN, 0});
  for (auto& c : conns_) fds.push_back({c->fd, static_cast<short>(POLLIN | (c->out.empty() ? 0 : POLLOUT)), 0});
  std::size_t first_extra = fds.size();
  for (auto& p : extra) fds.push_back({p.fd, p.events, 0});
  // Wake up in time for header/close deadlines even when nothing arrives.
  auto wait = std::min(timeout, std::chrono::milliseconds(1000));
  int n = ::poll(fds.data(), fds.size(), static_cast<int>(wait.count()));
  if (n < 0) {
    for (auto& p : extra) p.revents = 0;
    return out;
  }
  for (std::size_t i = 0; i < extra.size(); ++i) extra[i].revents = fds[first_extra + i].revents;
  std::size_t idx = 0;
  bool accept = fd_ >= 0 && (fds[idx++].revents & POLLIN);
  std::size_t nconn = conns_.size();
  for (std::size_t i = 0; i < nconn; ++i, ++idx)
    if (fds[idx].revents) service(*conns_[i], fds[idx].revents, out);
  if (accept) accept_all(out);
  reap(out);
  return out;
}

std::vector<ServerEvent> LinkLocalServer::shutdown(std::chrono::milliseconds grace) {
  std::vector<ServerEvent> out;
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
  for (auto& c : conns_) {
    c->stream->close();
    flush(*c);
    drain_events(*c, out);
  }
  auto deadline = Clock::now() + grace;
  std::vector<pollfd> none;
  while (!conns_.empty() && Clock::now() < deadline) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now());
    auto ev = poll(std::max(left, std::chrono::milliseconds(1)), none);
    out.insert(out.end(), std::make_move_iterator(ev.begin()), std::make_move_iterator(ev.end()));
    for (auto& c : conns_)
      if (c->stream->peer_closed() && c->out.empty()) c->dead = true;
    reap(out);
  }
  for (auto& c : conns_) c->dead = true;
  reap(out);
  return out;
}

namespace {

struct Fd {
  int fd = -1;
  ~Fd() {
    if (fd >= 0) ::close(fd);
  }
};

// Returns 0 when connected, else the errno (ETIMEDOUT on deadline, EINTR on interrupt).
int connect_to(const Address& a, std::uint16_t port, Deadline deadline, Fd& out) {
  sockaddr_storage ss{};
  socklen_t len = 0;
  if (a.family == AF_INET6 || a.ip.find(':') != std::string::npos) {
    auto* s6 = reinterpret_cast<sockaddr_in6*>(&ss);
    s6->sin6_family = AF_INET6;
    s6->sin6_port = htons(port);
    if (inet_pton(AF_INET6, a.ip.c_str(), &s6->sin6_addr) != 1) return EINVAL;
    s6->sin6_scope_id = a.scope_id;
    if (s6->sin6_scope_id == 0 && !a.interface.empty() && IN6_IS_ADDR_LINKLOCAL(&s6->sin6_addr))
      s6->sin6_scope_id = if_nametoindex(a.interface.c_str());
    len = sizeof(sockaddr_in6);
  } else {
    auto* s4 = reinterpret_cast<sockaddr_in*>(&ss);
    s4->sin_family = AF_INET;
    s4->sin_port = htons(port);
    if (inet_pton(AF_INET, a.ip.c_str(), &s4->sin_addr) != 1) return EINVAL;
    len = sizeof(sockaddr_in);
  }
  out.fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (out.fd < 0) return errno;
  if (::connect(out.fd, reinterpret_cast<sockaddr*>(&ss), len) == 0) return 0;
  if (errno != EINPROGRESS) return errno;
  for (;;) {
    if (interrupted()) return EINTR;
    if (deadline.expired()) return ETIMEDOUT;
    pollfd p{out.fd, POLLOUT, 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(deadline.remaining().count(), 200)));
    if (n > 0) break;
  }
  int err = 0;
  socklen_t el = sizeof err;
  getsockopt(out.fd, SOL_SOCKET, SO_ERROR, &err, &el);
  return err;
}

}  // namespace

Result<SendReport> send_messages(const ResolvedService& svc, StreamConfig cfg,
                                 const std::vector<xep0174::Message>& messages, Deadline deadline, Trace& trace) {
  auto t0 = Clock::now();
  cfg.initiator = true;
  SendReport rep;
  rep.peer = svc.name;
  rep.port = svc.port;
  if (svc.addresses.empty()) return fail(Category::Dns, "peer '" + svc.name + "' has no address");
  Fd sock;
  std::string failures;
  bool timed_out = false;
  for (const auto& a : svc.addresses) {
    Fd attempt;
    trace.progress(1, "lan: connecting to " + a.str() + " port " + std::to_string(svc.port));
    int e = connect_to(a, svc.port, deadline, attempt);
    if (e == 0) {
      sock.fd = std::exchange(attempt.fd, -1);
      rep.address = a.str();
      break;
    }
    if (e == EINTR) return fail(Category::Interrupted, "interrupted while connecting");
    if (e == ETIMEDOUT) timed_out = true;
    failures += (failures.empty() ? "" : "; ") + a.str() + ": " + errno_text(e);
  }
  if (sock.fd < 0) {
    if (timed_out && deadline.expired())
      return fail(Category::Timeout, "connecting to '" + svc.name + "' timed out (" + failures + ")");
    return fail(Category::Connect, "cannot connect to '" + svc.name + "' port " + std::to_string(svc.port) + " (" + failures + ")",
                "the peer may have stopped listening; check it with 'xnet lan browse'");
  }
  int one = 1;
  setsockopt(sock.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);

  LinkLocalStream stream(cfg);
  stream.start();
  std::string out;
  bool sent = false;
  std::optional<Error> failure;
  // XEP-0174 §4.2: after our close, wait for the peer's close (xnet: at most 10 s).
  std::optional<Deadline> close_deadline;
  char buf[16384];
  for (;;) {
    std::string more = stream.take_output();
    if (!more.empty()) {
      if (trace.enabled(TraceArea::Xml)) trace.wire(TraceArea::Xml, TraceDir::Sent, more);
      out += more;
    }
    if (!write_some(sock.fd, out)) {
      failure = Error{Category::Io, "the connection to '" + svc.name + "' broke while sending"};
      break;
    }
    for (auto& ev : stream.take_events()) {
      switch (ev.kind) {
        case StreamEvent::Kind::Opened: rep.peer_header = ev.header; break;
        case StreamEvent::Kind::Message: rep.received.push_back(ev.message); break;
        case StreamEvent::Kind::Error:
          if (!failure) failure = Error{Category::Protocol, "stream with '" + svc.name + "' failed: " + ev.text};
          break;
        default: break;
      }
    }
    if (failure || stream.failed()) {
      write_some(sock.fd, out);
      break;
    }
    if (stream.opened() && !sent) {
      for (const auto& m : messages) {
        stream.send(m);
        ++rep.sent;
      }
      stream.close();
      sent = true;
      close_deadline = deadline.capped(std::chrono::seconds(10));
      continue;
    }
    if (stream.peer_closed() && out.empty()) {
      rep.closed_cleanly = sent;
      if (!sent) failure = Error{Category::Protocol, "'" + svc.name + "' closed the stream before we could send"};
      break;
    }
    if (interrupted()) {
      failure = Error{Category::Interrupted, "interrupted"};
      break;
    }
    Deadline d = close_deadline ? *close_deadline : deadline;
    if (d.expired()) {
      if (sent) {
        // Everything was written; the peer just did not answer the close in time.
        trace.warning("'" + svc.name + "' did not answer the stream close; closing the connection");
        break;
      }
      failure = Error{Category::Timeout, "'" + svc.name + "' did not open its stream in time"};
      break;
    }
    pollfd p{sock.fd, static_cast<short>(POLLIN | (out.empty() ? 0 : POLLOUT)), 0};
    int n = ::poll(&p, 1, static_cast<int>(std::min<long long>(d.remaining().count(), 200)));
    if (n <= 0) continue;
    if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t r = ::recv(sock.fd, buf, sizeof buf, 0);
      if (r > 0) {
        std::string_view chunk(buf, static_cast<std::size_t>(r));
        if (trace.enabled(TraceArea::Xml)) trace.wire(TraceArea::Xml, TraceDir::Received, chunk);
        stream.feed(chunk);
      } else if (r == 0) {
        if (sent) {
          trace.warning("'" + svc.name + "' closed the connection without closing the stream");
          break;
        }
        failure = Error{Category::Protocol, "'" + svc.name + "' closed the connection before the stream opened"};
        break;
      } else if (errno != EAGAIN && errno != EINTR) {
        failure = Error{Category::Io, "reading from '" + svc.name + "' failed: " + errno_text(errno)};
        break;
      }
    }
  }
  if (failure) return fail(*failure);
  rep.elapsed_ms = std::chrono::duration<double, std::milli>(Clock::now() - t0).count();
  return rep;
}

Result<std::vector<xep0174::Message>> make_messages(const OutgoingText& t) {
  std::vector<std::string> bodies;
  if (t.each_line) {
    std::istringstream in(t.text);
    for (std::string line; std::getline(in, line);) {
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty()) bodies.push_back(line);
    }
  } else {
    std::string text = t.text;
    if (t.from_stdin)
      while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) text.pop_back();
    if (!text.empty()) bodies.push_back(std::move(text));
  }
  if (bodies.empty()) return fail(Category::Input, "nothing to send: the message is empty");
  std::vector<xep0174::Message> msgs;
  unsigned n = 0;
  for (auto& b : bodies) {
    if (auto ok = check_xml_text("the message", b); !ok) return fail(ok.error());
    xep0174::Message m;
    m.from = t.from;
    m.to = t.to;
    m.type = "chat";
    m.id = "xnet-" + std::to_string(::getpid()) + "-" + std::to_string(++n);
    m.body = std::move(b);
    m.thread = t.thread;
    msgs.push_back(std::move(m));
  }
  return msgs;
}

}  // namespace xnet::mdns
