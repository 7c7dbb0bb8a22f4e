// SPDX-License-Identifier: MIT
#pragma once

namespace CLI {
class App;
}

namespace xnet::cmd {
class Output;

void register_whoami(CLI::App& app, Output& out);
void register_stun_list(CLI::App& app, Output& out);
void register_pass(CLI::App& app, Output& out);
void register_lan(CLI::App& app, Output& out);
void register_serve(CLI::App& app, Output& out);
void register_logout(CLI::App& app, Output& out);
void register_dump_cli(CLI::App& root);

}  // namespace xnet::cmd
