// SPDX-License-Identifier: MIT
#pragma once

// C2sSession: the RFC 6120 state machine of one client-to-server stream (header, STARTTLS,
// SASL or XEP-0388 SASL2 with XEP-0386 Bind 2 and XEP-0484 FAST inline, bind, then stanzas
// handed to the Hub for routing). Socket-free: the Asio layer
// (server.hpp) or a test double feeds bytes in and carries bytes out through Transport.

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "server/external.hpp"
#include "server/sasl2.hpp"
#include "server/scram.hpp"
#include "server/service.hpp"
#include "xml/stream_parser.hpp"

namespace xnet::server {

using Clock = std::chrono::steady_clock;

/// The byte pipe under a session, implemented by the Asio layer or a test double.
class Transport {
 public:
  virtual ~Transport() = default;
  /// Queue data for sending. Never blocks.
  virtual void write(std::string data) = 0;
  /// After everything queued is sent, run the server side of a TLS handshake and then call
  /// C2sSession::on_tls_ready() (or on_disconnect() on failure). No reads happen meanwhile.
  virtual void start_tls() = 0;
  /// After everything queued is sent (bounded by a short timeout), close the connection.
  virtual void close() = 0;
  /// Run fn after delay on the event loop, unless the transport is gone by then.
  virtual void after(std::chrono::milliseconds delay, std::function<void()> fn) = 0;
  /// Bytes queued but not yet sent (for the slow-reader limit).
  virtual std::size_t pending_bytes() const = 0;
  /// RFC 9266 tls-exporter channel-binding data of the TLS session (32 bytes), or "" when the
  /// stream is not TLS 1.3 (no -PLUS mechanism or HT-SHA-256-EXPR is offered then).
  virtual std::string tls_exporter() { return {}; }
};

class Hub;

/// One client-to-server stream (RFC 6120 §4–§7) and the session it becomes.
class C2sSession final : public xml::StreamHandler {
 public:
  enum class State : std::uint8_t { Header, Negotiating, Authenticated, Bound, Closed };

  /// remote is the client address (from the socket or PROXY header); tls is true for direct TLS.
  C2sSession(Hub& hub, Transport& transport, Endpoint remote, bool tls);
  ~C2sSession() override;
  C2sSession(const C2sSession&) = delete;
  C2sSession& operator=(const C2sSession&) = delete;

  /// Bytes from the peer (plaintext after TLS).
  void on_data(std::string_view data);
  /// The STARTTLS handshake finished: expect a new stream header.
  void on_tls_ready();
  /// The connection is gone (peer closed, I/O error): unregister without writing.
  void on_disconnect();
  /// Periodic check (the Asio layer calls it about once a second): auth timeout, idle timeout,
  /// whitespace keepalive, slow reader.
  void on_timer(Clock::time_point now);
  /// Send a stanza routed to this session.
  void deliver(const xml::Element& stanza);
  /// Close the stream with a stream error (e.g. system-shutdown on SIGTERM).
  void close_with_error(std::string_view condition, std::string_view text = {});
  /// Close the stream politely (</stream:stream>).
  void close_stream();

  State state() const { return state_; }
  bool tls() const { return tls_; }
  const std::string& jid() const { return jid_; }  ///< full JID once bound
  const Endpoint& remote() const { return remote_; }
  std::uint64_t id() const { return id_; }
  const std::string& stream_id() const { return stream_id_; }

  // xml::StreamHandler (events are queued and handled after each feed)
  void on_open(const xml::Element& root) override;
  void on_stanza(xml::Element stanza) override;
  void on_close() override;

 private:
  struct Event {
    enum Kind { Open, Stanza, Close } kind;
    xml::Element el;
    std::size_t end = 0;  ///< parser offset just past the element (stanzas)
  };
  void handle_open(const xml::Element& root);
  void handle_stanza(xml::Element& st);
  void handle_starttls(const xml::Element& st);
  void handle_auth(const xml::Element& st);
  void handle_response(const xml::Element& st);
  void handle_authenticate(const xml::Element& st);
  void sasl_start(const std::string& mech, const std::optional<std::string>& initial);
  void sasl_step(const std::string& data);
  void sasl_challenge(const std::string& data);
  void handle_fast(const std::string& initial);
  void handle_bind_phase(xml::Element& st);
  void sasl_success(const std::string& user, const std::string& additional);
  void sasl_failure(std::string_view condition, std::string_view text = {});
  std::vector<std::string> mechanisms(bool sasl2) const;
  std::vector<std::string> fast_mechanisms() const;
  void trace_sent(const xml::Element& st);
  bool throttled(const std::string& user);
  void send_features();
  void send(const xml::Element& st);
  void write_raw(std::string data, bool trace = true);
  void reset_stream();

  // Members are ordered so the flags pack together: thousands of idle sessions carry them.
  Hub& hub_;
  Transport& t_;
  Endpoint remote_;
  std::uint64_t id_;
  xml::StreamParser parser_;
  std::vector<Event> events_;
  std::string stream_id_;
  std::string user_;  ///< authenticated local part
  std::string jid_;
  std::size_t restart_at_ = 0;   ///< parser offset where the new stream starts
  std::size_t fed_ = 0;          ///< bytes fed to the parser since its last reset
  Clock::time_point created_ = Clock::now();
  Clock::time_point last_rx_ = Clock::now();
  Clock::time_point last_tx_ = Clock::now();
  int auth_failures_ = 0;
  int dropped_ = 0;              ///< stanzas dropped so (bounded)
  State state_ = State::Header;
  bool tls_;
  bool header_sent_ = false;
  bool counted_ = false;
  bool sasl_busy_ = false;
  bool restart_pending_ = false;
  bool refeed_ = false;          ///< the restart is a SASL success: re-parse what follows
  bool sasl2_ = false;           ///< the exchange in progress is XEP-0388 SASL2
  bool exporter_fetched_ = false;
  bool fast_login_ = false;      ///< the SASL2 exchange uses a FAST token
  bool fast_rotate_ = false;     ///< that token is due for rotation
  bool sasl2_failed_ = false;    ///< the last SASL2 attempt failed: drop stanzas pipelined behind it
  /// What only authentication needs; allocated on the first SASL step, freed on success, so an
  /// authenticated (idle) session carries none of it.
  struct Negotiation {
    std::unique_ptr<ScramServer> scram;
    std::string mech;                          ///< mechanism of the exchange in progress
    std::string attempt_user;                  ///< the account a password is being tried for
    std::unique_ptr<Sasl2Authenticate> auth2;  ///< the SASL2 <authenticate/> being answered
    std::string exporter;                      ///< tls-exporter data (TLS 1.3), once per TLS session
  };
  Negotiation& neg();
  const std::string& exporter() const;
  std::unique_ptr<Negotiation> neg_;
  std::shared_ptr<bool> alive_;  ///< made for the first delayed answer; false once destroyed
  C2sSession* live_prev_ = nullptr;  ///< the hub's list of live sessions
  C2sSession* live_next_ = nullptr;
  friend class Hub;  // sets jid_ when it binds, links live sessions
};

}  // namespace xnet::server
