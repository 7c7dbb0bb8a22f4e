// SPDX-License-Identifier: MIT
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <tl/expected.hpp>

namespace xnet {

/// The closed set of failure kinds. Each maps to one documented exit code (see exit_code()).
enum class Category {
  Usage,         ///< bad command line (64)
  Input,         ///< malformed input data: a file, stdin, an argument's content (65)
  Dns,           ///< host or SRV record not resolvable, mDNS peer not found (68)
  Connect,       ///< connection refused or unreachable (69)
  Internal,      ///< a bug in xnet (70)
  Os,            ///< an OS call failed (71)
  Io,            ///< read/write failure on a file or stream (74)
  Timeout,       ///< no answer within the time budget (75)
  Protocol,      ///< the peer violated the protocol: stream error, garbage reply, bad STUN (76)
  Auth,          ///< authentication failed or permission denied (77)
  Config,        ///< configuration file problem (78)
  Tls,           ///< TLS handshake or certificate verification failed (79)
  NotSupported,  ///< the server does not offer the feature (80)
  Remote,        ///< the peer answered with a stanza error (81)
  Daemon,        ///< a local service xnet needs (mDNS daemon) is not reachable (82)
  CheckFailed,   ///< the operation ran, but what it checked does not work (e.g. a STUN probe) (1)
  Interrupted,   ///< SIGINT/SIGTERM (130)
};

/// An XMPP stanza error (RFC 6120 §8.3) as returned by a peer.
struct StanzaError {
  std::string type;       ///< cancel, continue, modify, auth, wait
  std::string condition;  ///< e.g. service-unavailable
  std::string text;       ///< optional human-readable text
  std::string app;        ///< optional application-specific condition element name
};

/// The one error type of xnet: a category, a message naming the cause, and an optional hint.
struct Error {
  Category category = Category::Internal;
  std::string message;
  std::string hint;
  std::optional<StanzaError> stanza;  ///< set when a peer answered with a stanza error

  Error() = default;
  Error(Category c, std::string msg, std::string h = {})
      : category(c), message(std::move(msg)), hint(std::move(h)) {}
};

template <class T>
using Result = tl::expected<T, Error>;

/// Shorthand for returning a failed Result: `return fail(Category::Timeout, "no reply");`
inline tl::unexpected<Error> fail(Category c, std::string msg, std::string hint = {}) {
  return tl::unexpected<Error>(Error{c, std::move(msg), std::move(hint)});
}
inline tl::unexpected<Error> fail(Error e) { return tl::unexpected<Error>(std::move(e)); }

/// The process exit code for category (documented in xnet(1) EXIT STATUS).
int exit_code(Category c);

/// The snake_case name of category, as used in JSON error objects ("timeout", "not_supported").
std::string_view category_name(Category c);

/// A one-line human description of category ("timed out", "TLS error").
std::string_view category_label(Category c);

}  // namespace xnet
