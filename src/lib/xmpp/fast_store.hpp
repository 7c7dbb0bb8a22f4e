// SPDX-License-Identifier: MIT
#pragma once

// Client-side storage of XEP-0484 FAST tokens and of the stable per-machine client id sent in
// XEP-0388 <user-agent id=...>: one file per account and server under the user's state
// directory, created with mode 0600 (directory 0700) and replaced atomically.

#include <chrono>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

#include "error.hpp"
#include "xmpp/negotiation.hpp"

namespace xnet::xmpp {

/// $XDG_STATE_HOME/xnet, else $HOME/.local/state/xnet ("" when neither variable is set).
std::string default_state_dir();

/// Parse an XEP-0082 DateTime ("2026-12-12T14:36:15Z", fractions and ±hh:mm offsets accepted).
std::optional<std::chrono::system_clock::time_point> parse_xep0082(std::string_view text);

class TokenStore {
 public:
  /// dir: where the files live ("" = default_state_dir()).
  explicit TokenStore(std::string dir = {});

  /// The token stored for account (bare JID) at server (the XMPP domain, or host:port when a
  /// host was given), or nullopt when none, unreadable, malformed or expired at now.
  std::optional<FastToken> load(std::string_view account, std::string_view server,
                                std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;
  /// Store token for account at server, replacing any earlier one; an empty token.token
  /// forgets it instead (the meaning of Event::Kind::FastToken with an empty token).
  Result<void> save(std::string_view account, std::string_view server, const FastToken& token);
  /// Remove the token of account at server (no error when there is none).
  Result<void> forget(std::string_view account, std::string_view server);
  /// Remove every stored token; returns how many were removed.
  Result<std::size_t> forget_all();
  /// A stable per-machine client id (a random UUID created on first use in dir/client-id);
  /// "" when the directory cannot be written.
  std::string client_id();

  /// The directory in use.
  const std::string& dir() const { return dir_; }

 private:
  std::string path_of(std::string_view account, std::string_view server) const;
  Result<void> ensure_dir() const;
  std::string dir_;
};

}  // namespace xnet::xmpp
