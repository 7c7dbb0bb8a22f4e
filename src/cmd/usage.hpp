// SPDX-License-Identifier: MIT
// What a user sees when the command line is wrong or help is asked for: suggestions for
// mistyped commands and options, `xnet help [COMMAND]`, the help layout, the seconds validator.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>

#include "error.hpp"

namespace xnet::cmd {

/// The candidate closest to word by edit distance (or by prefix), if close enough to be a
/// plausible typo; nullopt otherwise.
std::optional<std::string> suggest(std::string_view word, const std::vector<std::string>& candidates);

/// After CLI11 rejected args (argv without the program name), find the first unknown command or
/// option and describe it with a suggestion ("unknown command 'whoamy'", hint "did you mean
/// 'xnet whoami'?"). command receives the command path reached ("xnet lan"). nullopt when the
/// failure is something else (CLI11's own message is then the better one).
std::optional<Error> explain_parse_error(const CLI::App& root, const std::vector<std::string>& args,
                                         std::string& command);

/// CLI11's message made readable: "Value 0 not in range 0.000000 to 1797…(300 digits)" becomes
/// "must be greater than 0 (got 0)", "… in range 0.000000 to 3600.000000" "must be from 0 to
/// 3600 (got x)". Other messages are returned unchanged.
std::string tidy_parse_message(const std::string& message);

/// What main should do before parsing: `xnet help [COMMAND...]` becomes `COMMAND... --help`,
/// `xnet version` prints the version. Returns the (possibly rewritten) args; sets version when
/// the version was asked for. Throws Error (Usage) for `help` with an unknown command.
std::vector<std::string> rewrite_help_and_version(const CLI::App& root, std::vector<std::string> args,
                                                  bool& version);

/// The help formatter: no "Excludes:"/"Needs:" clutter next to option names.
std::shared_ptr<CLI::Formatter> make_formatter();

/// Give every visible subcommand of root a footer naming the global options that also work
/// after it (--json, -v, --account ...), and the man page to read.
void add_global_options_footer(CLI::App& root);

/// A duration in seconds: a number greater than 0 and at most a year, with a short message
/// otherwise ("must be greater than 0", "'abc' is not a number of seconds").
CLI::Validator seconds_validator();

}  // namespace xnet::cmd
