// SPDX-License-Identifier: MIT
#pragma once

// The xnet configuration file: named accounts in TOML.
//
//   default_account = "work"            # optional
//
//   [accounts.work]
//   jid = "alice@example.org"
//   server = "xmpp.example.org:5222"    # HOST[:PORT], IPv6 as [::1]:5222
//   password_file = "~/.config/xnet/work.pass"
//   password_command = "pass show xmpp/work"   # first line of its stdout
//   direct_tls = false
//   ca_file = "/etc/ssl/my-ca.pem"
//   resource = "xnet"
//   timeout = 10                        # seconds, > 0
//   insecure = false
//
// Every key is optional. Unknown keys are errors (a typo must not be ignored silently), and so is
// `password = "..."`: passwords do not belong in the file, use password_file or password_command.
// A leading `~/` in password_file and ca_file is expanded to $HOME.

#include <filesystem>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"

namespace xnet::config {

/// One `[accounts.NAME]` table. Unset keys stay empty so that command-line options can override.
struct Account {
  std::string name;
  std::optional<std::string> jid, server, password_file, password_command, ca_file, resource;
  std::optional<bool> direct_tls, insecure;
  std::optional<double> timeout;
};

/// A parsed configuration file.
struct Config {
  std::vector<Account> accounts;  ///< in the order they appear in the file
  std::optional<std::string> default_account;
  std::string source;  ///< the file path, or the source name given to parse()

  /// The account called name, or nullptr.
  const Account* find(std::string_view name) const;

  /// The account requested (nullptr if it does not exist), else default_account, else the only
  /// account, else nullptr.
  const Account* selected(std::optional<std::string_view> requested) const;

  /// Like selected(), but a requested name that does not exist is a Category::Config error that
  /// lists the known account names. Returns nullptr when nothing is requested and no account
  /// qualifies as the default.
  Result<const Account*> select(std::optional<std::string_view> requested) const;
};

/// `$XDG_CONFIG_HOME/xnet/config.toml`, else `$HOME/.config/xnet/config.toml` (relative
/// `config.toml` when neither variable is set). An empty or relative XDG_CONFIG_HOME is ignored,
/// as the XDG Base Directory specification asks.
std::filesystem::path default_path();

/// Expands a leading `~` or `~/` in path to home; any other path is returned unchanged.
std::string expand_home(std::string_view path, std::string_view home);

/// Parses text as a configuration file. Errors are Category::Config and start with
/// `source_name:LINE: `, e.g. `config.toml:7: expected a string for "jid"`.
Result<Config> parse(std::string_view text, std::string_view source_name);

/// Reads and parses the file at path. A missing file is an empty Config unless must_exist is true
/// (an explicit --config), in which case it is a Category::Config error.
Result<Config> load(const std::filesystem::path& path, bool must_exist);

}  // namespace xnet::config
