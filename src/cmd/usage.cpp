// SPDX-License-Identifier: MIT
#include "cmd/usage.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <regex>
#include <sstream>

namespace xnet::cmd {

namespace {

// Optimal string alignment distance: an adjacent swap ("--jdi" for "--jid") is one edit.
std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> pp(b.size() + 1), prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j) {
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
      if (i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1]) cur[j] = std::min(cur[j], pp[j - 2] + 1);
    }
    pp = prev;
    std::swap(prev, cur);
  }
  return prev[b.size()];
}

bool is_hidden(const CLI::App* app) { return app->get_group().empty(); }

std::vector<const CLI::App*> visible_subcommands(const CLI::App* app) {
  return app->get_subcommands([](const CLI::App* s) { return !is_hidden(s); });
}

const CLI::App* find_subcommand(const CLI::App* app, std::string_view name) {
  for (const auto* s : app->get_subcommands([](const CLI::App*) { return true; }))
    if (s->get_name() == name) return s;
  return nullptr;
}

// The option named tok on app or on one of its parents (options fall through to subcommands).
const CLI::Option* find_option(const CLI::App* app, const std::string& name) {
  for (const CLI::App* a = app; a; a = a->get_parent())
    if (const auto* o = a->get_option_no_throw(name)) return o;
  return nullptr;
}

std::vector<std::string> long_option_names(const CLI::App* app) {
  std::vector<std::string> names;
  for (const CLI::App* a = app; a; a = a->get_parent())
    for (const auto* o : a->get_options([](const CLI::Option* o) { return !o->get_group().empty(); }))
      for (const auto& l : o->get_lnames()) names.push_back("--" + l);
  return names;
}

std::string path_of(const CLI::App* app) {
  std::string path;
  for (const CLI::App* a = app; a; a = a->get_parent()) {
    if (!a->get_parent()) {
      path = "xnet" + path;
    } else {
      path = " " + a->get_name() + path;
    }
  }
  return path;
}

bool takes_value(const CLI::Option* o) { return o->get_type_size() != 0 && o->get_expected_min() > 0; }

std::string command_list(const CLI::App* app) {
  std::string s;
  for (const auto* c : visible_subcommands(app)) s += (s.empty() ? "" : ", ") + c->get_name();
  return s;
}

}  // namespace

std::optional<std::string> suggest(std::string_view word, const std::vector<std::string>& candidates) {
  std::optional<std::string> best;
  std::size_t best_d = 0;
  // Allow about one typo per three characters, at least one and at most three.
  std::size_t limit = std::clamp<std::size_t>(word.size() / 3, 1, 3);
  for (const auto& c : candidates) {
    std::size_t d = edit_distance(word, c);
    // A unique prefix of reasonable length counts too ("--time" for "--timeout").
    if (word.size() >= 3 && c.size() > word.size() && c.compare(0, word.size(), word) == 0) d = std::min(d, limit);
    if (d <= limit && (!best || d < best_d)) {
      best = c;
      best_d = d;
    }
  }
  return best;
}

std::optional<Error> explain_parse_error(const CLI::App& root, const std::vector<std::string>& args,
                                         std::string& command) {
  const CLI::App* cur = &root;
  command = path_of(cur);
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& tok = args[i];
    if (tok == "--") break;
    if (tok.size() > 2 && tok.compare(0, 2, "--") == 0) {
      auto eq = tok.find('=');
      std::string name = tok.substr(0, eq);
      const auto* o = find_option(cur, name);
      if (!o) {
        auto best = suggest(name, long_option_names(cur));
        return Error(Category::Usage, "unknown option " + name,
                     best ? "did you mean " + *best + "?" : "run '" + command + " --help' for its options");
      }
      if (eq == std::string::npos && takes_value(o)) ++i;
      continue;
    }
    if (tok.size() >= 2 && tok[0] == '-' && tok[1] != '-') {
      // Short options: "-v", "-vv", "-4"; a value may follow when the option takes one.
      const auto* o = find_option(cur, std::string("-") + tok[1]);
      if (!o) {
        bool numeric = std::isdigit(static_cast<unsigned char>(tok[1])) != 0;
        if (numeric) continue;  // a negative number given as a value
        return Error(Category::Usage, "unknown option " + tok.substr(0, 2),
                     "run '" + command + " --help' for its options");
      }
      if (tok.size() == 2 && takes_value(o)) ++i;
      continue;
    }
    // A word: a subcommand where one is expected, else a positional argument.
    auto subs = visible_subcommands(cur);
    if (subs.empty()) continue;
    if (const auto* s = find_subcommand(cur, tok)) {
      cur = s;
      command = path_of(cur);
      continue;
    }
    std::vector<std::string> names;
    for (const auto* s : subs) names.push_back(s->get_name());
    if (cur == &root) {
      names.push_back("help");
      names.push_back("version");
    }
    auto best = suggest(tok, names);
    return Error(Category::Usage, "unknown command '" + tok + "'",
                 best ? "did you mean '" + command + " " + *best + "'?"
                      : "the commands are: " + command_list(cur));
  }
  return std::nullopt;
}

std::string tidy_parse_message(const std::string& message) {
  static const std::regex range(R"(^(.*)Value (.*) not in range (\S+) to (\S+)$)");
  std::smatch m;
  if (!std::regex_match(message, m, range)) return message;
  auto number = [](std::string n) {
    if (n.find('.') != std::string::npos) {
      while (!n.empty() && n.back() == '0') n.pop_back();
      if (!n.empty() && n.back() == '.') n.pop_back();
    }
    return n;
  };
  std::string lo = number(m[3].str()), hi = number(m[4].str()), got = m[2].str();
  if (hi.size() > 12) return m[1].str() + "must be a number greater than " + lo + " (got " + got + ")";
  return m[1].str() + "must be a number from " + lo + " to " + hi + " (got " + got + ")";
}

std::vector<std::string> rewrite_help_and_version(const CLI::App& root, std::vector<std::string> args,
                                                  bool& version) {
  version = false;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& tok = args[i];
    if (tok == "--") return args;
    if (!tok.empty() && tok[0] == '-') {
      const auto* o = root.get_option_no_throw(tok.substr(0, tok.find('=')));
      if (o && tok.find('=') == std::string::npos && takes_value(o)) ++i;
      continue;
    }
    if (tok == "version" && i + 1 == args.size()) {
      version = true;
      return args;
    }
    if (tok != "help") return args;
    // help [COMMAND...]: the globals before it, the command path, then --help.
    std::vector<std::string> out(args.begin(), args.begin() + static_cast<std::ptrdiff_t>(i));
    const CLI::App* cur = &root;
    for (std::size_t j = i + 1; j < args.size(); ++j) {
      const auto* s = find_subcommand(cur, args[j]);
      if (!s || is_hidden(s)) {
        std::vector<std::string> names;
        for (const auto* v : visible_subcommands(cur)) names.push_back(v->get_name());
        auto best = suggest(args[j], names);
        std::string where = path_of(cur);
        throw Error(Category::Usage, "no help for unknown command '" + args[j] + "'",
                    best ? "did you mean 'xnet help" + where.substr(4) + " " + *best + "'?"
                         : "the commands are: " + command_list(cur));
      }
      cur = s;
      out.push_back(args[j]);
    }
    out.push_back("--help");
    return out;
  }
  return args;
}

namespace {

class Formatter : public CLI::Formatter {
 public:
  std::string make_option_opts(const CLI::Option* opt) const override {
    std::ostringstream out;
    if (!opt->get_option_text().empty()) return " " + opt->get_option_text();
    if (opt->get_type_size() != 0) {
      if (!opt->get_type_name().empty()) out << " " << get_label(opt->get_type_name());
      if (!opt->get_default_str().empty()) out << "=" << opt->get_default_str();
      if (opt->get_expected_max() == CLI::detail::expected_max_vector_size) out << " ...";
      if (opt->get_required()) out << " " << get_label("REQUIRED");
    }
    // "Needs:"/"Excludes:" are left out: the descriptions say it in words.
    return out.str();
  }
};

}  // namespace

std::shared_ptr<CLI::Formatter> make_formatter() {
  auto f = std::make_shared<Formatter>();
  f->column_width(32);
  return f;
}

void add_global_options_footer(CLI::App& root) {
  std::string opts;
  for (const auto* o : root.get_options([](const CLI::Option* o) { return !o->get_group().empty(); })) {
    if (o == root.get_help_ptr()) continue;
    if (o->get_lnames().empty()) continue;
    std::string name = "--" + o->get_lnames().front();
    if (name == "--version") continue;
    if (!o->get_snames().empty()) name = "-" + o->get_snames().front() + "," + name;
    if (o->get_type_size() != 0 && !o->get_type_name().empty()) name += " " + o->get_type_name();
    opts += (opts.empty() ? "" : "  ") + name;
  }
  std::function<void(CLI::App*, const std::string&)> visit = [&](CLI::App* app, const std::string& verb) {
    for (CLI::App* s : app->get_subcommands([](CLI::App* s) { return !s->get_group().empty(); })) {
      std::string v = verb.empty() ? s->get_name() : verb;
      s->footer("Global options (also accepted after the command):\n  " + opts +
                "\nSee xnet-" + v + "(1) for exit status and examples; xnet(1) for the global options.");
      visit(s, v);
    }
  };
  visit(&root, "");
  root.footer("Run 'xnet help COMMAND' (or 'xnet COMMAND --help') for the options of a command.\n"
              "See xnet(1) for exit status, configuration and environment.");
}

CLI::Validator seconds_validator() {
  return CLI::Validator(
      [](std::string& s) -> std::string {
        const char* b = s.c_str();
        char* end = nullptr;
        errno = 0;
        double d = std::strtod(b, &end);
        bool whole = end != b && *end == '\0' && !std::isspace(static_cast<unsigned char>(*b));
        if (!whole || std::isnan(d) || std::isinf(d) || errno == ERANGE)
          return "'" + s + "' is not a number of seconds (e.g. 10 or 2.5)";
        if (!(d > 0)) return "must be greater than 0 seconds (got " + s + ")";
        if (d > 31536000) return "must be at most 31536000 seconds, a year (got " + s + ")";
        return {};
      },
      "", "");
}

}  // namespace xnet::cmd
