// SPDX-License-Identifier: MIT
// xnet: the command-line entry point. Builds the CLI11 tree, runs the chosen verb, and maps
// every failure to one documented exit code (xnet(1) EXIT STATUS).
#include <algorithm>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cmd/commands.hpp"
#include "cmd/common.hpp"
#include "cmd/usage.hpp"
#include "cmd/version.hpp"
#include "util/interrupt.hpp"

namespace {

std::string command_path(const CLI::App& app) {
  std::string path = "xnet";
  const CLI::App* cur = &app;
  while (true) {
    auto subs = cur->get_subcommands();
    if (subs.empty()) break;
    cur = subs.front();
    path += " " + cur->get_name();
  }
  return path;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace xnet;
  cmd::GlobalOptions globals;
  cmd::Output out(globals);

  std::vector<std::string> args(argv + 1, argv + argc);
  const bool json_version = std::find(args.begin(), args.end(), "--json") != args.end();

  CLI::App app("xnet: a network toolkit for XMPP-signalled connectivity checks", "xnet");
  app.formatter(cmd::make_formatter());  // inherited by the subcommands registered below
  app.set_version_flag("-V,--version", [json_version] { return cmd::version_text(json_version); },
                       "Print the version and exit");
  app.require_subcommand(1);
  app.fallthrough();
  app.add_flag("--json", globals.json, "Print results as JSON (JSON lines for streams)");
  app.add_flag("-q,--quiet", globals.quiet, "Print no diagnostics on stderr, only errors");
  app.add_flag("-v,--verbose", globals.verbose, "More progress on stderr (repeat: -vv)");
  app.add_option("--debug", globals.debug,
                 "Trace protocol traffic on stderr: xml, stun, mdns, server, all, list")
      ->delimiter(',')
      ->type_name("AREAS");
  app.add_option("--config", globals.config_path,
                 "Configuration file (default $XDG_CONFIG_HOME/xnet/config.toml)")
      ->type_name("FILE");
  app.add_option("--account", globals.account, "Use the named account of the configuration file")
      ->type_name("NAME");
  app.add_flag("--no-color", globals.no_color, "Never colour text output (also: NO_COLOR)");

  cmd::register_whoami(app, out);
  cmd::register_stun_list(app, out);
  cmd::register_pass(app, out);
  cmd::register_lan(app, out);
  cmd::register_serve(app, out);
  cmd::register_logout(app, out);
  cmd::register_dump_cli(app);
  cmd::add_global_options_footer(app);

  // Finalize output settings before any verb callback runs.
  app.parse_complete_callback([&] {
    out.set_command(command_path(app));
    if (auto r = out.finalize(); !r) throw r.error();
  });

  // `xnet version`, -V, --version: through Output, so the JSON form is captured and validated
  // (schema/xnet-version.schema.json) like every other.
  auto print_version = [&] {
    globals.json = json_version;
    out.set_command("xnet version");
    out.emit(cmd::version_info());
    return 0;
  };

  install_interrupt_handlers();
  try {
    bool version = false;
    args = cmd::rewrite_help_and_version(app, args, version);
    if (version) return print_version();
    std::vector<std::string> reversed(args.rbegin(), args.rend());  // CLI11 consumes from the back
    app.parse(reversed);
    return 0;
  } catch (const CLI::CallForVersion&) {
    return print_version();
  } catch (const CLI::Success& e) {
    return app.exit(e);  // --help, --version
  } catch (const CLI::ParseError& e) {
    std::string command;
    if (auto better = cmd::explain_parse_error(app, args, command)) {
      out.error(*better, command);
    } else {
      out.error(Error(Category::Usage, cmd::tidy_parse_message(e.what()),
                      "run '" + command_path(app) + " --help' for usage"),
                command_path(app));
    }
    return exit_code(Category::Usage);
  } catch (const cmd::ExitStatus& e) {
    return e.code;
  } catch (const Error& e) {
    out.error(e, command_path(app));
    return exit_code(e.category);
  } catch (const std::exception& e) {
    out.error(Error(Category::Internal, e.what(), "this is a bug in xnet; please report it"),
              command_path(app));
    return exit_code(Category::Internal);
  }
}
