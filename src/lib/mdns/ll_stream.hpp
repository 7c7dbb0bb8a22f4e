// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "xep/xep0174.hpp"
#include "xml/stream_parser.hpp"

namespace xnet::mdns {

/// Something that happened on a link-local stream.
struct StreamEvent {
  enum class Kind {
    Opened,   ///< the peer's stream header arrived (header set)
    Message,  ///< a `<message>` arrived (message set; from defaulted to the peer's name)
    Iq,       ///< an `<iq>` arrived and was answered (text = its payload's namespace)
    Closed,   ///< the peer sent `</stream:stream>`
    Error,    ///< parse failure, stream error from the peer, or a limit hit (text says which)
  };
  Kind kind = Kind::Opened;
  xep0174::StreamHeader header;
  xep0174::Message message;
  std::string text;
};

/// Limits on one incoming link-local stream (every server input is bounded).
struct StreamConfig {
  bool initiator = false;          ///< true for `lan send`, false for `lan announce`
  std::string local_name;          ///< our instance name (`user@machine`)
  std::string peer_name;           ///< initiator: the instance we connect to
  bool send_version = true;        ///< initiator: send version='1.0' (false = Pidgin-style)
  xep0174::Identity identity;
  std::size_t max_stanza_bytes = 64 * 1024;
  std::size_t max_stanzas = 10000;  ///< per stream, then policy-violation
};

/// The protocol state of one XEP-0174 XML stream, without sockets: feed it received bytes,
/// take the bytes to send and the events. Used by both the listener of `lan announce`
/// (responder) and `lan send` (initiator), and by the fuzz target.
class LinkLocalStream final : public xml::StreamHandler {
 public:
  explicit LinkLocalStream(StreamConfig config);
  ~LinkLocalStream() override;

  /// Initiator: queue our stream header. Responder: nothing (we answer the peer's header).
  void start();
  /// Process received bytes. After a failure the stream is closed with a stream error.
  void feed(std::string_view bytes);
  /// The peer's TCP connection ended (EOF) without a close tag.
  void peer_eof();
  /// Queue message (the stream must be open).
  void send(const xep0174::Message& message);
  /// Queue `</stream:stream>` once.
  void close();

  /// Bytes to write, cleared by the call.
  std::string take_output();
  /// Events since the last call, cleared by the call.
  std::vector<StreamEvent> take_events();

  bool opened() const { return opened_; }
  bool peer_closed() const { return peer_closed_; }
  bool we_closed() const { return we_closed_; }
  bool failed() const { return failed_; }
  /// True when both sides have closed or the stream failed: the socket can be closed.
  bool finished() const { return failed_ || (peer_closed_ && we_closed_); }
  const xep0174::StreamHeader& peer_header() const { return peer_header_; }
  /// The peer's name: its header's `from` when present and non-empty, else "".
  std::string peer_name() const;

  // xml::StreamHandler (called by the parser inside feed()).
  void on_open(const xml::Element& root) override;
  void on_stanza(xml::Element stanza) override;
  void on_close() override;

 private:
  void error(std::string_view condition, std::string text);

  StreamConfig cfg_;
  std::unique_ptr<xml::StreamParser> parser_;
  xep0174::StreamHeader peer_header_;
  std::string out_;
  std::vector<StreamEvent> events_;
  bool header_sent_ = false;
  bool opened_ = false;
  bool peer_closed_ = false;
  bool we_closed_ = false;
  bool failed_ = false;
  std::size_t stanzas_ = 0;
};

}  // namespace xnet::mdns
