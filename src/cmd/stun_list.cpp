// SPDX-License-Identifier: MIT
// Placeholder until the command lands.
#include <CLI/CLI.hpp>

#include "cmd/commands.hpp"
#include "cmd/common.hpp"

namespace xnet::cmd {
void register_stun_list(CLI::App& app, Output&) {
  auto* sub = app.add_subcommand("stun-list", "(not yet available)");
  sub->group("");
  sub->callback([] { throw Error(Category::NotSupported, "this command is not available in this build"); });
}
}  // namespace xnet::cmd
