// SPDX-License-Identifier: MIT
#pragma once

// SASL SCRAM-SHA-1 / SCRAM-SHA-256 server side (RFC 5802, RFC 7677), with -PLUS channel binding
// of type tls-exporter (RFC 9266).

#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "error.hpp"
#include "server/crypto.hpp"

namespace xnet::server {

/// Salted SCRAM credentials for one hash: what the accounts file stores instead of a password.
struct ScramCredential {
  std::string salt;        ///< raw bytes
  int iterations = 4096;
  std::string stored_key;  ///< H(ClientKey), raw bytes
  std::string server_key;  ///< HMAC(SaltedPassword, "Server Key"), raw bytes
};

/// Derives the credential of password with salt and iterations (RFC 5802 §3).
ScramCredential derive_scram(crypto::Hash h, std::string_view password, std::string_view salt, int iterations);

/// True when password matches cred (used for SASL PLAIN against stored SCRAM keys).
bool check_password(crypto::Hash h, const ScramCredential& cred, std::string_view password);

/// The SASL mechanism name of h: "SCRAM-SHA-1" or "SCRAM-SHA-256".
std::string_view scram_mechanism(crypto::Hash h);

/// The credential shown for a user that does not exist: salt (16 bytes, like a real one),
/// stored and server keys are HMAC-H(secret, label ‖ user), so they are stable for a user on
/// one server, differ between servers (each has its own secret), and cannot be told apart from
/// a real account's without the secret. iterations is what real accounts use.
ScramCredential fake_scram_credential(crypto::Hash h, std::string_view secret, std::string_view user, int iterations);

/// One SCRAM exchange on the server. Feed the client-first message, send the returned
/// server-first, feed the client-final message, send the returned server-final.
/// Errors carry the SASL failure condition in Error::message's first word
/// ("malformed-request", "not-authorized", "invalid-authzid", "incorrect-encoding").
class ScramServer {
 public:
  using Lookup = std::function<std::optional<ScramCredential>(const std::string&)>;
  using FakeLookup = std::function<ScramCredential(const std::string&)>;
  /// lookup returns the credential of a (SASLprep'd) username, or nullopt for an unknown user;
  /// fake gives the credential shown for an unknown user (default: fake_scram_credential() with
  /// a random per-process secret). nonce overrides the server nonce part (tests); empty = random.
  ScramServer(crypto::Hash h, Lookup lookup, std::string nonce = {}, FakeLookup fake = {});

  /// Channel binding (RFC 5802 §6, RFC 9266), set before first(). plus: the client chose a
  /// -PLUS mechanism, so its GS2 flag must be "p=tls-exporter" and c= must carry exporter (the
  /// 32 bytes of this connection's tls-exporter). A "y" flag is accepted even while -PLUS is
  /// offered: clients knowing only tls-unique send it (see scram.cpp).
  void set_channel_binding(bool plus, std::string exporter);

  /// Step 1: client-first-message → server-first-message.
  Result<std::string> first(std::string_view client_first);
  /// Step 2: client-final-message → server-final-message ("v=...") when the proof is right.
  Result<std::string> final(std::string_view client_final);
  /// The authenticated username (after final() succeeded) or the one asked for.
  const std::string& username() const { return user_; }

 private:
  crypto::Hash h_;
  Lookup lookup_;
  FakeLookup fake_;
  bool known_ = false;
  bool plus_ = false;
  std::string exporter_;
  std::string snonce_, user_, gs2_, client_first_bare_, server_first_, nonce_;
  std::optional<ScramCredential> cred_;
  int step_ = 0;
};

/// The SASL failure condition of an error from ScramServer ("not-authorized" when unknown).
std::string sasl_condition(const Error& e);

}  // namespace xnet::server
