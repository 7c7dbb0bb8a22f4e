// SPDX-License-Identifier: MIT
#pragma once

#include <poll.h>

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "error.hpp"
#include "mdns/backend.hpp"
#include "mdns/ll_stream.hpp"
#include "trace.hpp"
#include "util/deadline.hpp"

namespace xnet::mdns {

/// An event of the link-local listener of `lan announce`.
struct ServerEvent {
  enum class Kind { Connected, Opened, Message, Iq, Closed, Error, Rejected };
  Kind kind = Kind::Connected;
  std::uint64_t connection = 0;  ///< connection number, from 1
  std::string peer_address;      ///< remote IP (with %scope for link-local IPv6)
  std::uint16_t peer_port = 0;
  StreamEvent stream;            ///< Opened/Message/Iq/Error details
  std::chrono::system_clock::time_point time;
};

/// Bounds on the listener (every server input is limited).
struct ListenerConfig {
  StreamConfig stream;  ///< responder settings; initiator is forced false
  std::uint16_t port = 0;  ///< 0 = a free port
  std::size_t max_connections = 64;
  std::size_t max_per_address = 8;
  std::chrono::milliseconds idle_timeout{300'000};  ///< no bytes for this long → close
  std::chrono::milliseconds header_timeout{10'000};  ///< no stream header within this → close
  std::chrono::milliseconds close_timeout{10'000};  ///< XEP-0174 §4.2 wait for the peer's close
  std::size_t max_pending_output = 1 << 20;          ///< peer not reading → drop it
};

/// The TCP listener of `lan announce`: accepts peers' XML streams and runs a LinkLocalStream
/// for each, in one poll() loop owned by the caller.
class LinkLocalServer {
 public:
  /// Bind to port on all addresses (IPv6 dual-stack, else IPv4). Category::Os when the port is
  /// taken or binding fails.
  static Result<std::unique_ptr<LinkLocalServer>> listen(ListenerConfig config, Trace& trace);
  ~LinkLocalServer();

  /// The bound TCP port.
  std::uint16_t port() const { return port_; }
  /// Change the instance name used in our stream headers (after an mDNS rename).
  void set_local_name(std::string name) { cfg_.stream.local_name = std::move(name); }
  /// Open connections.
  std::size_t connections() const;

  /// Wait up to timeout for activity on our sockets or on extra (whose revents are filled in),
  /// handle it and return what happened.
  std::vector<ServerEvent> poll(std::chrono::milliseconds timeout, std::vector<pollfd>& extra);

  /// Close every stream (XEP-0174 §4.2), wait up to grace for the peers' closing tags, then
  /// close the sockets and the listener.
  std::vector<ServerEvent> shutdown(std::chrono::milliseconds grace);

 private:
  struct Conn;
  LinkLocalServer(ListenerConfig config, Trace& trace);
  void accept_all(std::vector<ServerEvent>& out);
  void service(Conn& c, short revents, std::vector<ServerEvent>& out);
  void flush(Conn& c);
  void drain_events(Conn& c, std::vector<ServerEvent>& out);
  void reap(std::vector<ServerEvent>& out);

  ListenerConfig cfg_;
  Trace& trace_;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::uint64_t next_id_ = 1;
  std::vector<std::unique_ptr<Conn>> conns_;
};

/// What `lan send` did.
struct SendReport {
  std::string peer;           ///< instance name we sent to
  std::string address;        ///< address we connected to
  std::uint16_t port = 0;
  xep0174::StreamHeader peer_header;
  std::size_t sent = 0;       ///< messages written
  bool closed_cleanly = false;  ///< the peer answered our `</stream:stream>`
  std::vector<xep0174::Message> received;  ///< messages the peer sent back meanwhile
  double elapsed_ms = 0;
};

/// What `lan send` sends: the message text split into bodies (each_line: one per non-empty line,
/// CR LF tolerated; else one body, with the trailing newlines of piped input trimmed when
/// from_stdin), each checked for XML-legal characters, as chat messages from `from` to `to`
/// with ids unique to this process. Errors: Input (nothing to send, a character XML forbids).
struct OutgoingText {
  std::string text;
  bool each_line = false;
  bool from_stdin = false;
  std::string from, to, thread;
};
Result<std::vector<xep0174::Message>> make_messages(const OutgoingText& t);

/// Connect to service (trying its addresses in order), open the stream as config (initiator),
/// send messages, close the stream and wait for the peer's close (XEP-0174 §4.2), all within
/// deadline. Errors: Connect (refused/unreachable), Timeout, Protocol (stream error), Interrupted.
Result<SendReport> send_messages(const ResolvedService& service, StreamConfig config,
                                 const std::vector<xep0174::Message>& messages, Deadline deadline, Trace& trace);

}  // namespace xnet::mdns
