// SPDX-License-Identifier: MIT
#pragma once

// The accounts file of `xnet serve`: salted SCRAM credentials per user, never a password.
//   {"version":1,"users":{"alice":{"scram_sha_1":{"salt":"b64","iterations":4096,
//     "stored_key":"b64","server_key":"b64"},"scram_sha_256":{...}}}}
// Written atomically with mode 0600.

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "error.hpp"
#include "server/scram.hpp"

namespace xnet::server {

struct AccountEntry {
  ScramCredential sha1;
  ScramCredential sha256;
};

class Accounts {
 public:
  /// Loads path; a missing file is an empty set. Category::Config on a malformed file.
  static Result<Accounts> load(const std::filesystem::path& path);
  /// Writes the set to path (atomic rename, mode 0600). Category::Io on failure.
  Result<void> save(const std::filesystem::path& path) const;

  /// Adds or replaces user with credentials derived from password (fresh random salt).
  /// Category::Input when user is not a valid JID local part.
  Result<void> set(const std::string& user, const std::string& password, int iterations = 4096);
  /// Removes user; false when it did not exist.
  bool remove(const std::string& user);
  /// The stored credential of user for h, or nullopt.
  std::optional<ScramCredential> find(const std::string& user, crypto::Hash h) const;
  /// User names in order.
  std::vector<std::string> users() const;
  bool empty() const { return users_.empty(); }
  /// The iteration count most accounts use (4096 when there are none): what an unknown
  /// user's fake credential shows.
  int typical_iterations() const;

 private:
  std::map<std::string, AccountEntry> users_;
};

/// Normalises a JID local part for comparison (ASCII lower-case) and validates it (RFC 7622:
/// 1..1023 bytes, none of `"&'/:<>@`, no spaces or control characters). nullopt when invalid.
std::optional<std::string> normalize_localpart(std::string_view local);

}  // namespace xnet::server
