// SPDX-License-Identifier: MIT
// Placeholder until the CLI dump lands.
#include <CLI/CLI.hpp>

#include "cmd/commands.hpp"

namespace xnet::cmd {
void register_dump_cli(CLI::App&) {}
}  // namespace xnet::cmd
