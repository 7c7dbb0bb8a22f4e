// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"
#include "xml/element.hpp"

namespace xnet::xml {

/// Receives the events of an XML stream (RFC 6120 §4): the root open tag, each complete
/// depth-1 element (a stanza), and the root close tag.
class StreamHandler {
 public:
  virtual ~StreamHandler() = default;
  /// The stream root opened. root.attrs includes its namespace declarations
  /// ("xmlns", "xmlns:stream") so the receiver can check them.
  virtual void on_open(const Element& root) = 0;
  /// A complete first-level child (stanza, <stream:features/>, <stream:error/>...).
  virtual void on_stanza(Element stanza) = 0;
  /// The root element closed (</stream:stream>).
  virtual void on_close() = 0;
};

struct StreamLimits {
  std::size_t max_stanza_bytes = 64 * 1024;  ///< bytes of one first-level element
  std::size_t max_depth = 32;                ///< element nesting
  bool document_mode = false;                ///< deliver the root itself via on_stanza (xml::parse)
};

/// An incremental, restricted XML parser on expat for untrusted streams. It refuses DTDs,
/// entity declarations, processing instructions and comments (RFC 6120 §11.1), undeclared
/// prefixes and over-limit stanzas; each refusal fails feed() and sets error_condition() to the
/// RFC 6120 stream-error condition to send ("restricted-xml", "not-well-formed",
/// "policy-violation", "invalid-namespace").
class StreamParser {
 public:
  StreamParser(StreamHandler& handler, StreamLimits limits = {});
  ~StreamParser();
  StreamParser(const StreamParser&) = delete;
  StreamParser& operator=(const StreamParser&) = delete;

  /// Parse the next chunk of data; is_final marks the end of input. Handler callbacks run
  /// inside this call. After a failure, further calls fail too until reset().
  Result<void> feed(std::string_view data, bool is_final = false);
  /// Start a new stream (after STARTTLS or SASL success, RFC 6120 §4.3.3).
  void reset();
  /// The stream-error condition of the last failure ("" if none).
  const std::string& error_condition() const;
  /// True between on_open and on_close.
  bool open() const;
  /// True when the stream is open and every byte fed so far belongs to complete stanzas or
  /// keepalive whitespace (nothing half-parsed).
  bool at_rest() const;
  /// When at_rest(), frees the expat parser and all parsing state (an idle stream then costs
  /// only a reference to its root tag, shared with the streams that declare the same
  /// namespaces); the next feed() makes a new one in the same state. Returns whether the parser
  /// is dormant. (event_end() offsets then count from the wake-up.)
  bool hibernate();
  /// Inside StreamHandler::on_stanza/on_close: the byte offset, counted from construction or
  /// reset(), just past the element that completed (e.g. to refuse bytes after <proceed/>).
  std::size_t event_end() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;  ///< null while dormant
  StreamHandler* handler_;
  StreamLimits limits_;
  std::shared_ptr<const std::string> head_;  ///< the root open tag, kept once the stream has slept
};

}  // namespace xnet::xml
