// SPDX-License-Identifier: MIT
#pragma once

// Client side of the SASL mechanisms xnet uses (RFC 4422): SCRAM-SHA-1/-SHA-256 and their
// -PLUS variants with tls-exporter channel binding (RFC 5802, RFC 7677, RFC 9266), PLAIN
// (RFC 4616) and ANONYMOUS (RFC 4505). Pure functions of their inputs: no I/O, no XML.

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"
#include "util/crypto.hpp"

namespace xnet::xmpp::sasl {

/// A client mechanism in progress. initial() gives the initial response, each server
/// challenge goes through step(), and the success data (if any) through finish().
class Mechanism {
 public:
  virtual ~Mechanism() = default;
  /// The mechanism name as offered ("SCRAM-SHA-256-PLUS").
  virtual std::string_view name() const = 0;
  /// The initial response (raw bytes, not base64); may be empty.
  virtual std::string initial() = 0;
  /// The response to challenge (raw bytes). Errors are Category::Auth (or Protocol for garbage).
  virtual Result<std::string> step(std::string_view challenge) = 0;
  /// The server's success additional data (raw, possibly empty). For SCRAM this verifies the
  /// server signature unless it already came in a challenge; failing it is Category::Auth.
  virtual Result<void> finish(std::string_view additional_data) = 0;
  /// True once the client has sent its last message: only the server's verdict can follow
  /// (PLAIN, ANONYMOUS and HT after initial(); SCRAM after its client-final message). XEP-0388
  /// needs no stream restart, so a client may pipeline its first stanzas right behind it.
  virtual bool client_done() const { return true; }
};

/// What a mechanism needs.
struct Credentials {
  std::string username;       ///< the local part (authcid)
  std::string password;
  std::string cb_exporter;    ///< tls-exporter data for -PLUS ("" = no channel binding available)
  bool server_offers_plus = false;  ///< the server listed a -PLUS mechanism (for the GS2 "y" flag)
  std::string nonce;          ///< test hook: fixed client nonce ("" = random)
  int max_iterations = 1'000'000;  ///< refuse servers asking for more PBKDF2 rounds (CPU bound)
};

/// SCRAM with hash h; plus selects channel binding with tls-exporter (needs cb_exporter).
std::unique_ptr<Mechanism> make_scram(crypto::Hash h, bool plus, Credentials creds);
/// PLAIN: "\0username\0password".
std::unique_ptr<Mechanism> make_plain(Credentials creds);
/// ANONYMOUS: an empty trace.
std::unique_ptr<Mechanism> make_anonymous();

/// XEP-0484 FAST token mechanisms (draft-schmaus-kitten-sasl-ht): HT-SHA-256-NONE, and
/// HT-SHA-256-EXPR (tls-exporter binding from creds.cb_exporter). The initial response is
/// username NUL HMAC-SHA-256(token, "Initiator" || cb); the server's additional data, when
/// present, must equal HMAC-SHA-256(token, "Responder" || cb). creds.password is the token.
std::unique_ptr<Mechanism> make_ht(std::string_view name, Credentials creds);
/// True when name is a FAST mechanism make_ht() supports.
bool is_supported_ht(std::string_view name);

/// Create a mechanism by name (one of the above), or nullptr for an unknown name.
std::unique_ptr<Mechanism> make(std::string_view name, Credentials creds);

/// The default preference order of the password mechanisms.
const std::vector<std::string>& default_order();

/// RFC 5802 §5.1 saslname escaping ("," → "=2C", "=" → "=3D").
std::string escape_saslname(std::string_view s);

}  // namespace xnet::xmpp::sasl
