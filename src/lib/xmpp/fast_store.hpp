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
#include <vector>

#include "error.hpp"
#include "xmpp/negotiation.hpp"

namespace xnet::xmpp {

/// $XDG_STATE_HOME/xnet, else $HOME/.local/state/xnet ("" when neither variable is set).
std::string default_state_dir();

/// Parse an XEP-0082 DateTime ("2026-12-12T14:36:15Z", fractions and ±hh:mm offsets accepted).
std::optional<std::chrono::system_clock::time_point> parse_xep0082(std::string_view text);

/// One stored token with what it is for (TokenStore::list).
struct StoredToken {
  std::string account;  ///< bare JID
  std::string server;   ///< the XMPP domain, or host:port
  FastToken token;
  std::string path;     ///< the file
  bool expired = false; ///< the expiry has passed (load() would not return it)
};

/// Files are named fast-<hash of account and server> and hold six lines: a format tag
/// ("xnet-fast-token 1"), the account, the server, the mechanism, the token and the expiry.
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
  /// Remove the token of account at server; true when there was one.
  Result<bool> forget(std::string_view account, std::string_view server);
  /// Remove the tokens of account (bare JID) at every server; returns them (without removing
  /// anything else). Files of another format are left alone.
  Result<std::vector<StoredToken>> forget_account(std::string_view account);
  /// Remove every stored token; returns how many were removed.
  Result<std::size_t> forget_all();
  /// Every readable stored token (expired ones included, marked), sorted by account and server.
  std::vector<StoredToken> list(std::chrono::system_clock::time_point now = std::chrono::system_clock::now()) const;
  /// A stable per-machine client id (a random UUID created on first use in dir/client-id);
  /// "" when the directory cannot be written.
  std::string client_id();

  /// The directory in use.
  const std::string& dir() const { return dir_; }

 private:
  std::string path_of(std::string_view account, std::string_view server) const;
  static std::optional<StoredToken> parse(const std::string& path, std::chrono::system_clock::time_point now);
  Result<void> ensure_dir() const;
  std::string dir_;
};

}  // namespace xnet::xmpp
