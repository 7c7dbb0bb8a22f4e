// SPDX-License-Identifier: MIT
#include "cmd/common.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>

#include "cmd/usage.hpp"
#include "config.hpp"
#include "password.hpp"
#include "util/hostport.hpp"
#include "util/interrupt.hpp"

namespace xnet::cmd {

namespace {
constexpr std::string_view kAreas[] = {"xml", "stun", "mdns", "server"};

std::size_t edit_distance(std::string_view a, std::string_view b) {
  std::vector<std::size_t> prev(b.size() + 1), cur(b.size() + 1);
  for (std::size_t j = 0; j <= b.size(); ++j) prev[j] = j;
  for (std::size_t i = 1; i <= a.size(); ++i) {
    cur[0] = i;
    for (std::size_t j = 1; j <= b.size(); ++j)
      cur[j] = std::min({prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (a[i - 1] == b[j - 1] ? 0 : 1)});
    std::swap(prev, cur);
  }
  return prev[b.size()];
}
// RFC 7622 §3: the checks a user's typo fails, done before any password is asked for.
Result<void> check_jid(std::string_view jid) {
  auto bad = [&](const std::string& why) {
    return fail(Category::Usage, "'" + std::string(jid) + "' is not a valid JID: " + why,
                "expected USER@DOMAIN[/RESOURCE], or DOMAIN for an anonymous login");
  };
  for (char c : jid)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return bad("it contains a control character");
  std::string_view bare = jid.substr(0, jid.find('/'));
  if (bare.size() < jid.size() && bare.size() + 1 == jid.size()) return bad("the resource after '/' is empty");
  auto at = bare.find('@');
  std::string_view local = at == std::string_view::npos ? std::string_view() : bare.substr(0, at);
  std::string_view domain = at == std::string_view::npos ? bare : bare.substr(at + 1);
  if (at != std::string_view::npos && local.empty()) return bad("the user part before '@' is empty");
  if (domain.empty()) return bad("the domain is empty");
  if (domain.find('@') != std::string_view::npos) return bad("it contains more than one '@'");
  if (domain.find(' ') != std::string_view::npos) return bad("the domain contains a space");
  if (local.find_first_of(" \"&'/:<>") != std::string_view::npos)
    return bad("the user part contains a space or one of \" & ' / : < >");
  if (local.size() > 1023 || domain.size() > 1023) return bad("a part is longer than 1023 bytes");
  return {};
}

}  // namespace

Result<void> Output::finalize() {
  const char* no_color = std::getenv("NO_COLOR");
  const char* term = std::getenv("TERM");
  bool dumb = !term || !*term || std::string_view(term) == "dumb";
  style_.color = !g_.no_color && !(no_color && *no_color) && !dumb && ::isatty(STDOUT_FILENO) && !g_.json;
  for (const auto& raw : g_.debug) {
    std::string a = raw;
    if (a == "list") {
      std::cout << "xml\tXMPP stream traffic (passwords and SASL payloads redacted)\n"
                   "stun\tSTUN/TURN messages\n"
                   "mdns\tmDNS/DNS-SD browse and publish events\n"
                   "server\tserver-side connection and stanza events\n"
                   "all\tall of the above\n";
      std::cout.flush();
      std::exit(0);
    }
    if (a == "all") {
      for (bool& b : areas_) b = true;
      continue;
    }
    bool found = false;
    for (std::size_t i = 0; i < std::size(kAreas); ++i) {
      if (a == kAreas[i]) {
        areas_[i] = true;
        found = true;
      }
    }
    if (!found) {
      std::string best;
      std::size_t best_d = 3;
      for (auto k : kAreas) {
        if (auto d = edit_distance(a, k); d < best_d) {
          best_d = d;
          best = k;
        }
      }
      return fail(Category::Usage, "unknown debug area '" + a + "'",
                  best.empty() ? "see --debug=list" : "did you mean --debug=" + best + "?");
    }
  }
  return {};
}

void Output::capture(std::string_view command, std::string_view line) {
  static const char* dir = std::getenv("XNET_TEST_JSON_DIR");
  if (!dir || !*dir) return;
  std::string path = std::string(dir) + "/xnet-" + std::to_string(::getpid()) + ".jsonl";
  if (std::FILE* f = std::fopen(path.c_str(), "a")) {
    nlohmann::json rec{{"command", command}, {"line", line}};
    std::string s = rec.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) + "\n";
    std::fwrite(s.data(), 1, s.size(), f);
    std::fclose(f);
  }
}

void Output::write_json(const nlohmann::json& j, Channel channel) {
  // Invalid UTF-8 from the network must never produce invalid JSON.
  std::string s = j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  std::lock_guard lock(mu_);
  std::ostream& os = channel == Channel::Data ? std::cout : std::cerr;
  os << s << '\n';
  os.flush();
  if (channel == Channel::Data) capture(command_, s);
}

void Output::write_text(std::string_view text, Channel channel) {
  std::lock_guard lock(mu_);
  std::ostream& os = channel == Channel::Data ? std::cout : std::cerr;
  os << text;
  os.flush();
}

void Output::text_progress(int level, std::string_view message) {
  if (!g_.json) progress(level, message);
}

void Output::fail_after_result(const Error& e) {
  if (!g_.json) throw e;
  warning(e.message.empty() ? std::string(category_label(e.category)) : e.message);
  throw ExitStatus{exit_code(e.category)};
}

void Output::error(const Error& e, std::string_view command) {
  std::lock_guard lock(mu_);
  // "xnet whoami: interrupted", not "interrupted: interrupted".
  std::string_view label = category_label(e.category);
  std::cerr << command << ": " << label;
  if (!e.message.empty() && e.message != label) std::cerr << ": " << e.message;
  std::cerr << '\n';
  if (!e.hint.empty()) std::cerr << "  hint: " << e.hint << '\n';
  std::cerr.flush();
  if (g_.json) {
    nlohmann::json err{{"category", category_name(e.category)},
                       {"message", e.message},
                       {"exit_code", exit_code(e.category)}};
    if (!e.hint.empty()) err["hint"] = e.hint;
    if (e.stanza) {
      err["stanza_error"] = {{"type", e.stanza->type},
                             {"condition", e.stanza->condition},
                             {"text", e.stanza->text}};
    }
    std::string s = nlohmann::json{{"error", err}}.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    std::cout << s << '\n';
    std::cout.flush();
    capture(command, s);
  }
}

bool Output::enabled(TraceArea area) const { return areas_[static_cast<int>(area)]; }

void Output::wire(TraceArea area, TraceDir dir, std::string_view data) {
  if (!enabled(area)) return;
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start_).count();
  char stamp[32];
  std::snprintf(stamp, sizeof stamp, "%9.3f ", ms / 1000.0);
  std::string_view mark = dir == TraceDir::Sent ? "> " : dir == TraceDir::Received ? "< " : "* ";
  std::lock_guard lock(mu_);
  std::cerr << style_.dim() << stamp << style_.reset() << mark << data << '\n';
}

void Output::progress(int level, std::string_view message) {
  if (g_.quiet || g_.verbose < level) return;
  std::lock_guard lock(mu_);
  std::cerr << "* " << message << '\n';
}

void Output::warning(std::string_view message) {
  if (g_.quiet) return;
  std::lock_guard lock(mu_);
  std::cerr << style_.yellow() << "warning: " << style_.reset() << message << '\n';
}

void add_connection_options(CLI::App& sub, ConnectionOptions& o) {
  const char* grp = "Connection";
  sub.add_option("--jid", o.jid, "Account JID (user@domain[/resource]); a bare DOMAIN logs in anonymously")->group(grp)->type_name("JID");
  sub.add_option("--server", o.server, "Connect to HOST[:PORT] instead of the SRV lookup")
      ->group(grp)
      ->type_name("HOST[:PORT]");
  sub.add_flag("--direct-tls", o.direct_tls, "Use direct TLS (XEP-0368) instead of STARTTLS")->group(grp);
  auto* v4 = sub.add_flag("-4,--ipv4", o.ipv4, "Connect over IPv4 only")->group(grp);
  sub.add_flag("-6,--ipv6", o.ipv6, "Connect over IPv6 only")->group(grp)->excludes(v4);
  sub.add_option("--ca-file", o.ca_file, "Trust only the CA certificates in FILE (PEM), not the system store")
      ->group(grp)
      ->type_name("FILE")
      ->check(quiet(CLI::ExistingFile));
  sub.add_flag("--insecure", o.insecure, "Do not verify the server certificate (prints a warning)")->group(grp);
  sub.add_option("--timeout", o.timeout, "Give up after SECONDS for the whole operation")
      ->group(grp)
      ->type_name("SECONDS")
      ->capture_default_str()
      ->check(seconds_validator())
      ->each([&o](const std::string&) { o.timeout_given = true; });
  sub.add_option("--resource", o.resource, "Resource to request when binding")->group(grp)->type_name("NAME");
  sub.add_option("--password-file", o.password_file, "Read the password from the first line of FILE")
      ->group(grp)
      ->type_name("FILE");
  sub.add_option("--password-command", o.password_command,
                 "Run CMD and use the first line of its output as the password")
      ->group(grp)
      ->type_name("CMD");
  sub.add_flag("--no-fast", o.no_fast,
               "Do not log in with a stored FAST token (XEP-0484), nor ask for or store one")
      ->group(grp);
}

Result<Connection> resolve_connection(const ConnectionOptions& o, Output& out) {
  const auto& g = out.globals();
  config::Config cfg;
  {
    bool explicit_path = !g.config_path.empty();
    auto path = explicit_path ? std::filesystem::path(g.config_path) : config::default_path();
    auto loaded = config::load(path, explicit_path);
    if (!loaded) return fail(loaded.error());
    cfg = std::move(*loaded);
  }
  const config::Account* acct = nullptr;
  if (!g.account.empty()) {
    acct = cfg.find(g.account);
    if (!acct) {
      std::string names;
      for (const auto& a : cfg.accounts) names += (names.empty() ? "" : ", ") + a.name;
      return fail(Category::Config, "no account '" + g.account + "' in " + cfg.source,
                  names.empty() ? "the file defines no accounts" : "known accounts: " + names);
    }
  } else if (o.jid.empty()) {
    acct = cfg.selected(std::nullopt);
  }

  Connection c;
  c.timeout = o.timeout;
  if (!o.timeout_given && acct && acct->timeout && *acct->timeout > 0) c.timeout = *acct->timeout;
  c.jid = !o.jid.empty() ? o.jid : (acct && acct->jid ? *acct->jid : "");
  if (c.jid.empty())
    return fail(Category::Usage, "no account given",
                "use --jid USER@DOMAIN, --account NAME, or a default account in the config file");
  if (auto ok = check_jid(c.jid); !ok) return fail(ok.error());
  // A bare domain as JID means SASL ANONYMOUS (e.g. against a throwaway `xnet serve`).
  bool anonymous = c.jid.find('@') == std::string::npos;
  if (anonymous && (c.jid.empty() || c.jid.find('/') == 0))
    return fail(Category::Usage, "'" + c.jid + "' is not a JID", "expected USER@DOMAIN, or DOMAIN for an anonymous login");

  std::string server = !o.server.empty() ? o.server : (acct && acct->server ? *acct->server : "");
  c.direct_tls = o.direct_tls || (acct && acct->direct_tls.value_or(false));
  if (!server.empty()) {
    auto hp = util::parse_host_port(server);
    if (!hp) return fail(Category::Usage, "--server: " + hp.error().message, "expected HOST[:PORT], IPv6 as [ADDR]:PORT");
    c.host = hp->host;
    c.port = hp->port;
  }
  c.family = o.ipv4 ? 4 : o.ipv6 ? 6 : 0;
  c.ca_file = !o.ca_file.empty() ? o.ca_file : (acct && acct->ca_file ? *acct->ca_file : "");
  c.insecure = o.insecure || (acct && acct->insecure.value_or(false));
  c.resource = !o.resource.empty() ? o.resource : (acct && acct->resource ? *acct->resource : "");
  if (c.insecure) out.warning("--insecure: the server certificate is not verified");

  c.fast = !o.no_fast;
  if (anonymous) {
    out.progress(2, "no user part in the JID: anonymous login");
    return c;
  }
  password::Sources src;
  if (!o.password_file.empty()) src.file = o.password_file;
  if (!o.password_command.empty()) src.command = o.password_command;
  if (const char* env = std::getenv("XNET_PASSWORD")) src.env = std::string(env);
  if (acct && acct->password_file) src.config_file = *acct->password_file;
  if (acct && acct->password_command) src.config_command = *acct->password_command;
  auto get_password = [src, prompt = "Password for " + c.jid + ": ", &out]() -> Result<std::string> {
    auto pw = password::resolve(src, password::system_terminal(), prompt);
    if (!pw) return fail(pw.error());
    for (const auto& w : pw->warnings) out.warning(w);
    out.progress(2, "password from " + pw->source);
    return std::move(pw->password);
  };
  if (xmpp::has_fast_token(c)) {
    // XEP-0484: the stored token logs in; the password is read only if the server refuses it.
    out.progress(2, "a FAST token is stored for " + xmpp::bare_jid(c.jid) + ": the password is read only if needed");
    c.password_provider = get_password;
    return c;
  }
  auto pw = get_password();
  if (!pw) return fail(pw.error());
  c.password = std::move(*pw);
  return c;
}

double round_ms(double ms) { return std::round(ms * 10.0) / 10.0; }

std::string format_ms(double ms) {
  char buf[48];
  if (ms >= 10000)
    std::snprintf(buf, sizeof buf, "%.1f s", std::round(ms / 100.0) / 10.0);
  else
    std::snprintf(buf, sizeof buf, "%.1f ms", round_ms(ms));
  return buf;
}

double round_ms(std::chrono::nanoseconds d) { return round_ms(std::chrono::duration<double, std::milli>(d).count()); }

Deadline deadline_from(double seconds) {
  return Deadline::in(std::chrono::milliseconds(static_cast<long long>(seconds * 1000.0)));
}

bool interrupted() { return xnet::interrupted(); }
int interrupt_signal() { return xnet::interrupt_signal(); }

}  // namespace xnet::cmd
