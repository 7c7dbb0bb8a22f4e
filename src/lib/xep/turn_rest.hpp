// SPDX-License-Identifier: MIT
#pragma once

#include <optional>
#include <string>
#include <string_view>

/// TURN REST ephemeral credentials (draft-uberti-behave-turn-rest-00), as coturn's
/// `use-auth-secret` + `static-auth-secret` and Prosody expect them (stun-discovery.md §6).
namespace xnet::turn_rest {

struct Credentials {
  std::string username;  ///< decimal(expiry) [":" user]
  std::string password;  ///< base64(HMAC-SHA1(secret, username)), 28 characters
  long long expiry = 0;  ///< Unix seconds after which coturn rejects them
};

/// The password coturn derives for username from the shared secret.
std::string password_for(std::string_view secret, std::string_view username);

/// Credentials valid until expiry_unix for user (empty: no user part). The timestamp comes
/// first, so a numeric user ID cannot be mistaken for it.
Credentials generate(std::string_view secret, long long expiry_unix, std::string_view user = {});

/// A TURN REST username taken apart.
struct Username {
  long long expiry = 0;
  std::string user;  ///< may be empty
};

/// Decodes "expiry[:user]" or coturn's other accepted order "user:expiry" (when user is not
/// all digits). nullopt when username holds no plausible timestamp (all digits, 9 to 11 of them).
std::optional<Username> decode_username(std::string_view username);

}  // namespace xnet::turn_rest
