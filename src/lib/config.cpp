// SPDX-License-Identifier: MIT
#include "config.hpp"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <system_error>

#include <toml++/toml.h>

namespace xnet::config {
namespace {

// A configuration file is a few hundred bytes; anything much larger is a mistake (or /dev/zero).
constexpr std::uintmax_t kMaxFileSize = 1 << 20;

std::string type_name(toml::node_type t) {
  switch (t) {
    case toml::node_type::string: return "a string";
    case toml::node_type::integer: return "an integer";
    case toml::node_type::floating_point: return "a number";
    case toml::node_type::boolean: return "a boolean";
    case toml::node_type::table: return "a table";
    case toml::node_type::array: return "an array";
    case toml::node_type::date: return "a date";
    case toml::node_type::time: return "a time";
    case toml::node_type::date_time: return "a date-time";
    case toml::node_type::none: break;
  }
  return "nothing";
}

class Parser {
 public:
  explicit Parser(std::string_view source) : source_(source) {}

  Error error_at(const toml::source_region& where, const std::string& msg, std::string hint = {}) const {
    std::string m = source_;
    // Appends only: GCC 12 -O2 gives a -Wrestrict false positive for "literal" + std::string&&.
    if (where.begin.line > 0) m.append(":").append(std::to_string(where.begin.line));
    m.append(": ").append(msg);
    return Error{Category::Config, std::move(m), std::move(hint)};
  }

  Result<std::string> string_value(const toml::node& n, const std::string& key) const {
    if (auto s = n.value<std::string>(); s && n.is_string()) return *s;
    return fail(error_at(n.source(), "expected a string for \"" + key + "\", got " + type_name(n.type())));
  }

  Result<std::string> nonempty_string(const toml::node& n, const std::string& key) const {
    auto s = string_value(n, key);
    if (s && s->empty()) return fail(error_at(n.source(), "\"" + key + "\" must not be empty"));
    return s;
  }

  Result<bool> bool_value(const toml::node& n, const std::string& key) const {
    if (n.is_boolean()) return *n.value<bool>();
    return fail(error_at(n.source(), "expected true or false for \"" + key + "\", got " + type_name(n.type())));
  }

  Result<double> timeout_value(const toml::node& n, const std::string& key) const {
    if (!n.is_integer() && !n.is_floating_point())
      return fail(error_at(n.source(), "expected a number of seconds for \"" + key + "\", got " + type_name(n.type())));
    double v = *n.value<double>();
    if (!std::isfinite(v) || v <= 0)
      return fail(error_at(n.source(), "\"" + key + "\" must be a positive number of seconds"));
    return v;
  }

  // HOST, HOST:PORT, [IPv6] or [IPv6]:PORT with PORT in 1..65535.
  std::optional<std::string> server_problem(std::string_view s) const {
    if (s.empty()) return "is empty";
    if (s.find_first_of(" \t\r\n/") != std::string_view::npos) return "contains a space or '/'";
    std::string_view port;
    if (s.front() == '[') {
      auto close = s.find(']');
      if (close == std::string_view::npos || close == 1) return "has an unterminated or empty [IPv6] part";
      auto rest = s.substr(close + 1);
      if (rest.empty()) return std::nullopt;
      if (rest.front() != ':') return "has text after the ']'";
      port = rest.substr(1);
    } else {
      auto colon = s.find(':');
      if (colon == std::string_view::npos) return std::nullopt;
      if (s.find(':', colon + 1) != std::string_view::npos) return "has more than one ':' (write IPv6 as [addr]:port)";
      if (colon == 0) return "has no host";
      port = s.substr(colon + 1);
    }
    if (port.empty() || port.size() > 5 || !std::all_of(port.begin(), port.end(), [](char c) { return c >= '0' && c <= '9'; }))
      return "has an invalid port";
    int p = std::stoi(std::string(port));
    if (p < 1 || p > 65535) return "has a port outside 1..65535";
    return std::nullopt;
  }

  Result<Account> account(const std::string& name, const toml::table& t) const {
    Account a;
    a.name = name;
    std::optional<toml::source_region> file_at, command_at;
    const char* home = std::getenv("HOME");
    for (auto&& [k, node] : t) {
      std::string key(k.str());
      if (key == "jid") {
        auto v = nonempty_string(node, key);
        if (!v) return fail(v.error());
        a.jid = *v;
      } else if (key == "server") {
        auto v = string_value(node, key);
        if (!v) return fail(v.error());
        if (auto p = server_problem(*v))
          return fail(error_at(node.source(), "\"server\" " + *p + ": \"" + *v + "\"",
                               "write HOST, HOST:PORT or [IPv6]:PORT"));
        a.server = *v;
      } else if (key == "password_file") {
        auto v = nonempty_string(node, key);
        if (!v) return fail(v.error());
        a.password_file = home ? expand_home(*v, home) : *v;
        file_at = node.source();
      } else if (key == "password_command") {
        auto v = nonempty_string(node, key);
        if (!v) return fail(v.error());
        a.password_command = *v;
        command_at = node.source();
      } else if (key == "ca_file") {
        auto v = nonempty_string(node, key);
        if (!v) return fail(v.error());
        a.ca_file = home ? expand_home(*v, home) : *v;
      } else if (key == "resource") {
        auto v = nonempty_string(node, key);
        if (!v) return fail(v.error());
        a.resource = *v;
      } else if (key == "direct_tls" || key == "insecure") {
        auto v = bool_value(node, key);
        if (!v) return fail(v.error());
        (key == "direct_tls" ? a.direct_tls : a.insecure) = *v;
      } else if (key == "timeout") {
        auto v = timeout_value(node, key);
        if (!v) return fail(v.error());
        a.timeout = *v;
      } else if (key == "password" || key == "pass" || key == "passwd") {
        return fail(error_at(k.source(), "passwords cannot be stored in the configuration file (\"" + key + "\")",
                             "use password_file = \"PATH\" or password_command = \"CMD\" instead"));
      } else {
        return fail(error_at(k.source(), "unknown key \"" + key + "\" in [accounts." + name + "]",
                             "known keys: jid, server, password_file, password_command, direct_tls, "
                             "ca_file, resource, timeout, insecure"));
      }
    }
    if (file_at && command_at) {
      const auto& later = command_at->begin.line > file_at->begin.line ? *command_at : *file_at;
      return fail(error_at(later, "[accounts." + name + "] sets both password_file and password_command",
                           "keep only one of them"));
    }
    return a;
  }

  Result<Config> document(const toml::table& root) const {
    Config c;
    c.source = source_;
    std::optional<toml::source_region> default_at;
    for (auto&& [k, node] : root) {
      std::string key(k.str());
      if (key == "default_account") {
        auto v = nonempty_string(node, key);
        if (!v) return fail(v.error());
        c.default_account = *v;
        default_at = node.source();
      } else if (key == "accounts") {
        const auto* accounts = node.as_table();
        if (!accounts)
          return fail(error_at(node.source(), "expected a table for \"accounts\", got " + type_name(node.type()),
                               "write each account as [accounts.NAME]"));
        std::vector<std::pair<std::uint32_t, Account>> ordered;
        for (auto&& [name, acc] : *accounts) {
          const auto* t = acc.as_table();
          if (!t)
            return fail(error_at(acc.source(), "expected a table for account \"" + std::string(name.str()) + "\", got " +
                                                   type_name(acc.type()),
                                 "write each account as [accounts.NAME]"));
          if (name.str().empty()) return fail(error_at(name.source(), "an account name must not be empty"));
          auto a = account(std::string(name.str()), *t);
          if (!a) return fail(a.error());
          ordered.emplace_back(name.source().begin.line, std::move(*a));
        }
        // toml++ keeps keys sorted; users expect the order of their file.
        std::stable_sort(ordered.begin(), ordered.end(), [](auto& x, auto& y) { return x.first < y.first; });
        for (auto& [line, a] : ordered) c.accounts.push_back(std::move(a));
      } else if (key == "password" || key == "jid" || key == "server" || key == "password_file" ||
                 key == "password_command") {
        return fail(error_at(k.source(), "\"" + key + "\" must be inside an account table",
                             "put it under [accounts.NAME] (and set default_account = \"NAME\")"));
      } else {
        return fail(error_at(k.source(), "unknown key \"" + key + "\"",
                             "known top-level keys: default_account, accounts"));
      }
    }
    if (c.default_account && !c.find(*c.default_account)) {
      return fail(error_at(*default_at, "default_account \"" + *c.default_account + "\" has no [accounts." +
                                            *c.default_account + "] table"));
    }
    return c;
  }

 private:
  std::string source_;
};

}  // namespace

const Account* Config::find(std::string_view name) const {
  for (const auto& a : accounts)
    if (a.name == name) return &a;
  return nullptr;
}

const Account* Config::selected(std::optional<std::string_view> requested) const {
  if (requested) return find(*requested);
  if (default_account) return find(*default_account);
  if (accounts.size() == 1) return &accounts.front();
  return nullptr;
}

Result<const Account*> Config::select(std::optional<std::string_view> requested) const {
  if (requested && !find(*requested)) {
    std::string known;
    for (const auto& a : accounts) known += (known.empty() ? "" : ", ") + a.name;
    std::string where = source.empty() ? "the configuration file" : source;
    return fail(Category::Config, "no account \"" + std::string(*requested) + "\" in " + where,
                known.empty() ? "the file defines no accounts; add an [accounts." + std::string(*requested) + "] table"
                              : "known accounts: " + known);
  }
  return selected(requested);
}

std::filesystem::path default_path() {
  const char* xdg = std::getenv("XDG_CONFIG_HOME");
  if (xdg && *xdg == '/') return std::filesystem::path(xdg) / "xnet" / "config.toml";
  const char* home = std::getenv("HOME");
  if (home && *home) return std::filesystem::path(home) / ".config" / "xnet" / "config.toml";
  return "config.toml";
}

std::string expand_home(std::string_view path, std::string_view home) {
  if (path == "~") return std::string(home);
  if (path.size() >= 2 && path[0] == '~' && path[1] == '/') {
    std::string h(home);
    while (h.size() > 1 && h.back() == '/') h.pop_back();
    return h + std::string(path.substr(1));
  }
  return std::string(path);
}

Result<Config> parse(std::string_view text, std::string_view source_name) {
  Parser p(source_name);
#if TOML_EXCEPTIONS
  try {
    toml::table root = toml::parse(text, source_name);
    return p.document(root);
  } catch (const toml::parse_error& e) {
    return fail(p.error_at(e.source(), std::string(e.description())));
  }
#else
  toml::parse_result r = toml::parse(text, source_name);
  if (!r) return fail(p.error_at(r.error().source(), std::string(r.error().description())));
  return p.document(r.table());
#endif
}

Result<Config> load(const std::filesystem::path& path, bool must_exist) {
  std::error_code ec;
  auto status = std::filesystem::status(path, ec);
  if (ec || !std::filesystem::exists(status)) {
    if (!must_exist && (!ec || ec == std::errc::no_such_file_or_directory)) {
      Config c;
      c.source = path.string();
      return c;
    }
    return fail(Category::Config, "cannot open configuration file " + path.string() + ": " +
                                      (ec ? ec.message() : std::string("no such file")),
                "create it, or pass another file with --config FILE");
  }
  if (!std::filesystem::is_regular_file(status))
    return fail(Category::Config, "configuration file " + path.string() + " is not a regular file");
  auto size = std::filesystem::file_size(path, ec);
  if (!ec && size > kMaxFileSize)
    return fail(Category::Config, "configuration file " + path.string() + " is too large (" + std::to_string(size) +
                                      " bytes, limit " + std::to_string(kMaxFileSize) + ")");
  std::ifstream in(path, std::ios::binary);
  if (!in) return fail(Category::Config, "cannot read configuration file " + path.string() + ": " + std::strerror(errno));
  std::string text;
  text.resize(kMaxFileSize + 1);
  in.read(text.data(), static_cast<std::streamsize>(text.size()));
  if (in.bad()) return fail(Category::Config, "cannot read configuration file " + path.string());
  text.resize(static_cast<std::size_t>(in.gcount()));
  if (text.size() > kMaxFileSize)
    return fail(Category::Config, "configuration file " + path.string() + " is too large");
  return parse(text, path.string());
}

}  // namespace xnet::config
