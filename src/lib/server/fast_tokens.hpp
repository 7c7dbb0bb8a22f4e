// SPDX-License-Identifier: MIT
#pragma once

// XEP-0484 FAST tokens on the server: issued after a password login, checked with the
// HT-SHA-256-NONE / HT-SHA-256-EXPR mechanisms (draft-schmaus-kitten-sasl-ht), kept in the state
// directory (`fast-tokens.json`, mode 0600, atomic rewrite) without the token itself.
//
// Storage: a token is 86 random characters, longer than SHA-256's 64-byte HMAC block, so
// HMAC(token, m) = HMAC(SHA-256(token), m) (RFC 2104 §2). Only SHA-256(token) is needed to
// check the client's HMAC; it is stored XOR-masked with HMAC(server-secret, ...), so the file
// alone (a backup, a copy) does not log anyone in, and the token itself is never stored.
// Each entry also keeps a fingerprint of the account's SCRAM credential at issue time: a
// password change (`serve user passwd`) or deletion (`serve user del`) makes every token of the
// account fail, whether serve was running (SIGHUP) or not.
//
// Per client (account + XEP-0388 user-agent id) there are two slots, as XEP-0484 §6 suggests:
// 'new' (last issued, not yet used) and 'current'. Using the 'new' token moves it to 'current';
// issuing replaces 'new'. Tokens expire (default 14 days); one used in the second half of its
// life is rotated (a new one comes with <success/>).

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"
#include "server/scram.hpp"

namespace xnet::server {

struct FastTokenOptions {
  std::chrono::seconds lifetime{14 * 24 * 3600};  ///< a token's validity from issue
  std::size_t max_clients_per_account = 64;       ///< beyond, the client seen longest ago goes
  std::size_t max_entries = 100000;               ///< all accounts; beyond, the oldest go
};

/// The token file in the state directory (beside server-secret).
inline constexpr std::string_view kFastTokenFile = "fast-tokens.json";

/// Deletes the tokens of user from STATE_DIR/fast-tokens.json after `serve user add` (a new
/// password) or `serve user del` (they would fail anyway; this keeps the file clean). Best
/// effort: a missing or unreadable file is left alone.
void forget_fast_tokens(const std::filesystem::path& state_dir, const std::string& user);

/// The HT mechanisms offered, most preferred first (EXPR needs tls-exporter).
inline constexpr std::string_view kHtExpr = "HT-SHA-256-EXPR";
inline constexpr std::string_view kHtNone = "HT-SHA-256-NONE";

/// The fingerprint of an account's credential that tokens are tied to (hex, from the salted
/// SCRAM-SHA-256 keys under secret): it changes with the password.
std::string credential_fingerprint(std::string_view secret, const ScramCredential& sha256);

class FastTokenStore {
 public:
  /// A store persisted in path (loaded now; a missing file is empty), or in memory only when
  /// path is empty. secret is the server secret (the mask key). Category::Config when the file
  /// is malformed, Category::Io when it cannot be read.
  static Result<FastTokenStore> open(std::filesystem::path path, std::string secret, FastTokenOptions o = {});

  struct Issued {
    std::string token;   ///< the secret handed to the client (never stored)
    std::int64_t expiry = 0;  ///< unix seconds
  };
  /// A new token for user's client (its user-agent id, may be "") and mechanism, into the
  /// client's 'new' slot; saved at once.
  Issued issue(const std::string& user, const std::string& client, const std::string& mechanism,
               const std::string& cred_fp, std::int64_t now);

  enum class Outcome {
    Ok,       ///< token accepted
    Expired,  ///< a token of ours, but expired, revoked by a password change, or replayed:
              ///< answer credentials-expired (no guessing penalty: it proves possession)
    Invalid,  ///< no such token: not-authorized (counts as a failed guess)
  };
  struct Verdict {
    Outcome outcome = Outcome::Invalid;
    std::string responder;  ///< HMAC(token, "Responder" || cb): the success additional data
    bool rotate = false;    ///< past half its life: issue a new one with the success
    std::int64_t expiry = 0;
  };
  /// Checks a login: initiator is the client's HMAC(token, "Initiator" || cb), cb the
  /// channel-binding data of mechanism ("" for -NONE). count is <fast count=...> (must grow
  /// when present). On Ok a token from the 'new' slot becomes 'current'; with invalidate the
  /// token is deleted instead. Saved when anything changed.
  Verdict verify(const std::string& user, const std::string& client, const std::string& mechanism,
                 std::string_view initiator, std::string_view cb, const std::string& cred_fp,
                 std::optional<std::uint64_t> count, bool invalidate, std::int64_t now);

  /// Deletes every token of user (account deleted or its password changed); saved.
  void forget_user(const std::string& user);
  /// Entries held (tests).
  std::size_t size() const { return entries_.size(); }
  /// The persisted file ("" = memory only).
  const std::filesystem::path& path() const { return path_; }

 private:
  struct Entry {
    std::string user, client;  ///< client = hex SHA-256 of the user-agent id
    std::string mechanism;
    bool is_new = true;
    std::string nonce;     ///< per-token mask input (raw)
    std::string key;       ///< SHA-256(token) XOR mask (raw, 32 bytes)
    std::string cred;      ///< credential fingerprint at issue
    std::int64_t issued = 0, expiry = 0;
    std::uint64_t count = 0;
  };
  std::string mask(const Entry& e) const;
  void save();
  void prune(std::int64_t now);

  std::filesystem::path path_;
  std::string secret_;
  FastTokenOptions o_;
  std::vector<Entry> entries_;
};

}  // namespace xnet::server
