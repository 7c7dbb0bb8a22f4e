// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <asio/io_context.hpp>

#include "error.hpp"
#include "trace.hpp"
#include "util/deadline.hpp"
#include "xep/xep0003.hpp"
#include "xml/element.hpp"

namespace xnet::pass {

/// The XMPP side the PASS client needs; SessionLink adapts xmpp::Session to it (kept as an
/// interface so this module does not link the XMPP engine and tests can script a server).
class Link {
 public:
  virtual ~Link() = default;
  /// Send iq and wait for its reply (error replies → Category::Remote with Error::stanza).
  virtual Result<xml::Element> request(xml::Element iq, Deadline deadline) = 0;
  virtual void send(const xml::Element& stanza) = 0;
  /// Handler for unsolicited stanzas; IQ get/set it returns false for are answered
  /// service-unavailable.
  virtual void on_stanza(std::function<bool(const xml::Element&)> handler) = 0;
  /// Process the connection for up to max_wait; an error when it is lost.
  virtual Result<void> poll(std::chrono::milliseconds max_wait) = 0;
  virtual std::string bound_jid() const = 0;
};

/// Link over any type with xmpp::Session's request/send/on_stanza/poll/info() members.
template <class S>
class SessionLink : public Link {
 public:
  explicit SessionLink(S& s) : s_(s) {}
  Result<xml::Element> request(xml::Element iq, Deadline d) override {
    return s_.request(std::move(iq), d);
  }
  void send(const xml::Element& st) override { s_.send(st); }
  void on_stanza(std::function<bool(const xml::Element&)> h) override { s_.on_stanza(std::move(h)); }
  Result<void> poll(std::chrono::milliseconds w) override { return s_.poll(w); }
  std::string bound_jid() const override { return s_.info().bound_jid; }

 private:
  S& s_;
};

/// A SessionLink that owns its session (for reconnects: each attempt opens a new one).
template <class S>
class OwningSessionLink final : public SessionLink<S> {
 public:
  explicit OwningSessionLink(std::unique_ptr<S> s) : SessionLink<S>(*s), owned_(std::move(s)) {}
  S& session() { return *owned_; }

 private:
  std::unique_ptr<S> owned_;
};

/// An address block for --allow: ADDR[/PREFIX], IPv4 or IPv6.
struct Cidr {
  int family = 4;
  unsigned char addr[16] = {};
  int prefix = 32;
  /// True when ip (textual; IPv4-mapped IPv6 counts as IPv4) lies inside the block.
  bool contains(std::string_view ip) const;
};
/// Parse "ADDR" or "ADDR/PREFIX". Errors: Usage.
Result<Cidr> parse_cidr(std::string_view text);

/// What accepted connections are spliced to.
enum class Target {
  Forward,  ///< a TCP connection to forward_host:forward_port per connection
  Exec,     ///< a process per connection (`/bin/sh -c exec_command`) on its stdin/stdout
  Stdio,    ///< this process's stdin/stdout, for a single connection
};

struct ListenOptions {
  std::string service;  ///< PASS service JID ("" = "pass." + the account's domain)
  std::optional<std::uint64_t> expire;  ///< seconds
  bool oneshot = false;
  Target target = Target::Stdio;
  std::string forward_host;
  std::uint16_t forward_port = 0;
  std::string exec_command;
  std::vector<Cidr> allow;  ///< empty = everyone
  std::chrono::milliseconds connect_timeout{5000};  ///< to the proxy and the forward target
  /// XEP-0199 ping to the server this often; no answer within the same time = dead link
  /// (so a dead link is noticed within twice this). 0 = no keepalive.
  std::chrono::milliseconds keepalive{30000};
};

/// Reconnect policy of run_listen().
struct ReconnectOptions {
  bool enabled = true;
  std::chrono::milliseconds initial_delay{1000};  ///< first back-off (then doubled)
  std::chrono::milliseconds max_delay{30000};     ///< back-off cap (each delay is jittered 50-100 %)
  std::chrono::milliseconds attempt_timeout{10000};  ///< login + registration per attempt
};

/// One line of `pass listen` output.
/// What a listener reports; the names (event_name) are the JSON `event` values.
enum class EventKind { Listening, Incoming, Accepted, Denied, Closed, Expired, ListenerClosed, Refused, Disconnected };
/// listening, incoming, accepted, denied, closed, expired, listener_closed, refused, disconnected.
std::string_view event_name(EventKind kind);

struct Event {
  EventKind event = EventKind::Listening;
  std::uint64_t id = 0;       ///< connection number (0 for listener events)
  std::string ip;             ///< public endpoint (listener events)
  std::uint16_t port = 0;
  std::optional<std::uint64_t> expires;  ///< seconds (listening)
  std::string service;
  std::string client_ip;      ///< remote client (connection events)
  std::uint16_t client_port = 0;
  std::string reason;         ///< denied / listener_closed / closed: why
  std::uint64_t bytes_in = 0;   ///< client → local target
  std::uint64_t bytes_out = 0;  ///< local target → client
  double duration_ms = 0;
  std::uint64_t count = 0;      ///< refused: connections refused since the last notice
  bool reconnected = false;     ///< listening: after a reconnect
  bool same_port = false;       ///< listening after a reconnect: the old port came back
  std::uint64_t retry_ms = 0;   ///< disconnected: delay before the next attempt
};

/// A registered PASS listener (XEP-0003 §2) and the loop that serves its notices.
class Listener {
 public:
  /// Register with the service (options o) over link. Relays run on io, the loop link's
  /// blocking calls run (one loop for XMPP and relaying). Errors: Remote (with the stanza error;
  /// a wait-type error or code 502 means "no free port, retry later"), Timeout, Protocol
  /// (a result without <server/>), Usage (bad options).
  static Result<std::unique_ptr<Listener>> open(asio::io_context& io, Link& link, ListenOptions o,
                                                Trace& trace, Deadline deadline);
  ~Listener();

  /// The `listening` event: the public endpoint.
  const Event& endpoint() const;

  /// Serve notices until stop() returns true, the listener expires or a oneshot/stdio
  /// connection ends, or the link is lost (Connect/Protocol error). on_event is called on this
  /// thread for every event. Accepted connections relay (splice) on the io given to open(),
  /// driven by the link's poll.
  Result<void> run(const std::function<void(const Event&)>& on_event,
                   const std::function<bool()>& stop);

  /// Send the close control for this listener (XEP-0003 §4.3) unless the service closed it.
  Result<void> close(Deadline deadline);

  /// After the link was lost: register again over link, asking for the same port back (xnet
  /// <reclaim/>); the endpoint becomes the port the service gave (the same one when it still
  /// held it for this account). Relays already running are kept. Errors as open().
  Result<void> reattach(Link& link, Deadline deadline);

  /// Between links: run the relays, reap --exec children and pass on events (for max_wait).
  void idle(const std::function<void(const Event&)>& on_event, std::chrono::milliseconds max_wait);

  /// True when the listener ended by itself (expired, oneshot used, closed by the service).
  bool finished() const;

  struct Impl;

 private:
  explicit Listener(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

/// Opens a new logged-in link on io before deadline (for run_listen's reconnects).
using Connect = std::function<Result<std::unique_ptr<Link>>(asio::io_context& io, Deadline)>;

/// `pass listen`: log in with connect, register (options o), report the `listening` event and
/// every later one through on_event, and serve until the listener ends or stop() returns true.
/// When the link is lost (including a keepalive that got no answer), reconnect per r with
/// exponential back-off and jitter, emitting `disconnected` and then `listening` again (with
/// reconnected set). On stop() the close control is sent: success only when the service
/// confirmed it (else Timeout, or Interrupted when no link was up). Errors of the first login
/// and registration are returned as they are; later ones only when not worth retrying (Auth,
/// Usage, NotSupported, Config).
Result<void> run_listen(const Connect& connect, ListenOptions o, const ReconnectOptions& r,
                        Trace& trace, const std::function<void(const Event&)>& on_event,
                        const std::function<bool()>& stop, std::chrono::milliseconds timeout);

/// Close the listener at ip:port on service (XEP-0003 §4.3). Errors: Remote with the stanza
/// error (bad-request 400, not-authorized 401, item-not-found 404, not-allowed 405), Timeout.
Result<void> close_listener(Link& link, const std::string& service, const std::string& ip,
                            std::uint16_t port, Deadline deadline);

/// The default service JID for the account jid: "pass." + its domain.
std::string default_service(std::string_view jid);

}  // namespace xnet::pass
