// SPDX-License-Identifier: MIT
#pragma once

// Where the account password comes from. There is deliberately no way to pass it as a
// command-line value: it would show in `ps` and in shell history.

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"

namespace xnet::password {

/// The candidate sources, tried in this order: file, command, env, config_file, config_command,
/// then the terminal prompt.
struct Sources {
  std::optional<std::string> file;            ///< --password-file FILE
  std::optional<std::string> command;         ///< --password-command CMD
  std::optional<std::string> env;             ///< the value of XNET_PASSWORD (see env_password())
  std::optional<std::string> config_file;     ///< password_file of the selected config account
  std::optional<std::string> config_command;  ///< password_command of the selected config account
  /// Time allowed for a password command to finish (it may ask for a passphrase itself).
  std::chrono::milliseconds command_timeout{std::chrono::seconds(60)};
};

/// The interactive side, a seam for tests.
struct Terminal {
  virtual ~Terminal() = default;
  /// True when a person can be asked (stdin is a TTY).
  virtual bool interactive() const = 0;
  /// Shows text and reads one line without echo. Category::Interrupted on SIGINT.
  virtual Result<std::string> prompt(std::string_view text) = 0;
};

/// The process's terminal: interactive() is isatty(stdin); prompt() writes to /dev/tty (else
/// stderr), turns echo off with termios and restores it on every path, including SIGINT, SIGTERM,
/// SIGHUP and SIGQUIT while it waits.
Terminal& system_terminal();

/// A password and where it came from.
struct Resolved {
  std::string password;
  std::string source;                 ///< "file", "command", "env", "config", "prompt"
  std::vector<std::string> warnings;  ///< e.g. a password file readable by group or others
};

/// Resolves the password from s in order, asking t last. Without any source and without an
/// interactive t the result is a Category::Usage error (never a hang). A file or command that
/// yields nothing is an error, not a fall-through: the user asked for that source.
Result<Resolved> resolve(const Sources& s, Terminal& t, std::string_view prompt_text);

/// The value of XNET_PASSWORD through getenv_fn (std::getenv by default); nullopt when unset.
std::optional<std::string> env_password(const std::function<const char*(const char*)>& getenv_fn = {});

/// Reads a password file: its first line without the "\n" or "\r\n" (spaces are kept). Category::Io
/// when it cannot be read, Category::Input when it is empty or starts with an empty line. Adds a
/// warning to warnings when path is readable or writable by group or others.
Result<std::string> read_file(const std::string& path, std::vector<std::string>& warnings);

/// Runs command with `/bin/sh -c` (stdin and stderr inherited) and returns the first line of its
/// stdout. A non-zero exit or an empty first line is Category::Input, failing to start it
/// Category::Os, exceeding timeout Category::Timeout (the shell is then killed).
Result<std::string> run_command(const std::string& command, std::chrono::milliseconds timeout);

}  // namespace xnet::password
