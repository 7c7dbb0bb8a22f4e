// SPDX-License-Identifier: MIT
// __dump-cli (hidden): prints the CLI11 tree as JSON, the single source from which
// scripts/gen-docs.py builds the man page option sections and the shell completions.
#include <cctype>
#include <iostream>
#include <regex>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cmd/commands.hpp"
#include "config.hpp"
#include "xep/xep0215.hpp"

namespace xnet::cmd {
namespace {

using nlohmann::json;

// A visible IsMember validator describes itself as "{a,b,c}".
std::vector<std::string> set_choices(const std::string& desc) {
  std::vector<std::string> out;
  if (desc.size() < 2 || desc.front() != '{' || desc.back() != '}') return out;
  std::string inner = desc.substr(1, desc.size() - 2);
  std::size_t start = 0;
  while (start <= inner.size()) {
    auto comma = inner.find(',', start);
    auto item = inner.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (item.empty()) return {};
    out.push_back(item);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

// Options whose validator text is hidden (quiet()) spell their choices as the type name: "0|1".
std::vector<std::string> type_name_choices(const std::string& type_name) {
  static const std::regex kAlternatives(R"(^[A-Za-z0-9_.+-]+(\|[A-Za-z0-9_.+-]+)+$)");
  std::vector<std::string> out;
  if (!std::regex_match(type_name, kAlternatives)) return out;
  std::size_t start = 0;
  for (;;) {
    auto bar = type_name.find('|', start);
    out.push_back(type_name.substr(start, bar == std::string::npos ? std::string::npos : bar - start));
    if (bar == std::string::npos) break;
    start = bar + 1;
  }
  return out;
}

// What a shell should complete for the value of an option: "file", "directory", "command",
// "choice" or "none".
std::string value_completion(const std::string& type_name, const std::vector<std::string>& validators,
                             bool has_choices) {
  if (has_choices) return "choice";
  std::string upper;
  for (char c : type_name) upper.push_back(static_cast<char>(std::toupper(static_cast<unsigned char>(c))));
  auto has = [&](std::string_view word) { return upper.find(word) != std::string::npos; };
  for (const auto& v : validators) {
    if (v == "FILE") return "file";
    if (v == "DIR") return "directory";
    if (v == "PATH(existing)" || v == "PATH") return "file";
  }
  if (has("DIR")) return "directory";
  if (has("FILE") || has("PATH")) return "file";
  if (has("CMD") || has("COMMAND")) return "command";
  return "none";
}

json dump_option(CLI::Option& o) {
  json j;
  std::vector<std::string> names;
  for (const auto& s : o.get_snames()) names.push_back("-" + s);
  for (const auto& l : o.get_lnames()) names.push_back("--" + l);
  j["names"] = names;
  j["short"] = o.get_snames();
  j["long"] = o.get_lnames();
  j["description"] = o.get_description();
  const bool flag = o.get_expected_max() == 0 || o.get_type_size_max() == 0;
  j["flag"] = flag;
  j["takes_value"] = !flag;

  std::vector<std::string> validators;
  std::vector<std::string> choices;
  for (int i = 0; i < 32; ++i) {
    CLI::Validator* v = nullptr;
    try {
      v = o.get_validator(i);
    } catch (const CLI::OptionNotFound&) {
      break;
    }
    if (!v) break;
    auto desc = v->get_description();
    if (!desc.empty()) validators.push_back(desc);
    if (choices.empty()) choices = set_choices(desc);
  }
  // The type name without the ":validator" suffixes CLI11 appends in help output.
  std::string type_name;
  if (!flag) {
    type_name = o.get_type_name();
    if (auto colon = type_name.find(':'); colon != std::string::npos && !validators.empty())
      type_name = type_name.substr(0, colon);
    if (choices.empty()) choices = type_name_choices(type_name);
  }
  j["type_name"] = type_name;
  j["validators"] = validators;
  j["choices"] = choices;
  j["value_completion"] = flag ? "none" : value_completion(type_name, validators, !choices.empty());

  const auto policy = o.get_multi_option_policy();
  j["repeatable"] = o.get_expected_max() > 1 || policy == CLI::MultiOptionPolicy::TakeAll ||
                    policy == CLI::MultiOptionPolicy::Join;
  j["delimiter"] = o.get_delimiter() ? std::string(1, o.get_delimiter()) : std::string();
  j["default"] = o.get_default_str();
  j["required"] = o.get_required();
  j["envname"] = o.get_envname();
  j["group"] = o.get_group();
  return j;
}

json dump_positional(CLI::Option& o) {
  json j = dump_option(o);
  j["name"] = o.get_name(true, false);
  j["count_min"] = o.get_items_expected_min();
  j["count_max"] = o.get_items_expected_max();
  return j;
}

json dump_app(CLI::App& app) {
  json j;
  j["name"] = app.get_name();
  j["aliases"] = app.get_aliases();
  j["description"] = app.get_description();
  j["require_subcommand"] = app.get_require_subcommand_min() > 0;
  j["options"] = json::array();
  j["positionals"] = json::array();
  for (CLI::Option* o : app.get_options()) {
    if (o->get_group().empty()) continue;  // hidden
    if (o->get_positional() && o->get_lnames().empty() && o->get_snames().empty())
      j["positionals"].push_back(dump_positional(*o));
    else
      j["options"].push_back(dump_option(*o));
  }
  j["subcommands"] = json::array();
  for (CLI::App* sub : app.get_subcommands([](CLI::App* s) { return !s->get_group().empty(); }))
    j["subcommands"].push_back(dump_app(*sub));
  return j;
}

}  // namespace

void register_complete(CLI::App& root) {
  // Values the shell completions cannot know statically (scripts/gen-docs.py calls this):
  // `xnet [--config FILE] __complete accounts|debug-areas|stun-forms`.
  auto kind = std::make_shared<std::string>();
  auto* sub = root.add_subcommand("__complete", "Print completion candidates of KIND, one a line");
  sub->group("");
  sub->add_option("kind", *kind)->required();
  CLI::App* rootp = &root;
  sub->callback([kind, rootp] {
    if (*kind == "accounts") {
      std::string path;
      if (auto* o = rootp->get_option_no_throw("--config"); o && o->count()) path = o->as<std::string>();
      auto cfg = config::load(path.empty() ? config::default_path() : std::filesystem::path(path), false);
      if (cfg)
        for (const auto& a : cfg->accounts) std::cout << a.name << '\n';
    } else if (*kind == "debug-areas") {
      for (const char* a : {"xml", "stun", "mdns", "server", "all", "list"}) std::cout << a << '\n';
    } else if (*kind == "stun-forms") {
      using F = xep0215::Form;
      for (F f : {F::Extdisco2, F::Extdisco1, F::Extdisco0, F::Provisional, F::Stun2007, F::JingleInfo})
        std::cout << xep0215::form_label(f) << '\n';
    }
    std::cout.flush();
  });
}

void register_dump_cli(CLI::App& root) {
  register_complete(root);
  auto* sub = root.add_subcommand("__dump-cli", "Print the command-line tree as JSON (for docs generation)");
  sub->group("");  // hidden from help, man pages and completions
  CLI::App* rootp = &root;
  sub->callback([rootp] {
    json j = dump_app(*rootp);
    std::cout << j.dump(2) << std::endl;
  });
}

}  // namespace xnet::cmd
