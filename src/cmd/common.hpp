// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <iosfwd>
#include <mutex>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "error.hpp"
#include "trace.hpp"
#include "util/deadline.hpp"
#include "xmpp/session.hpp"

namespace CLI {
class App;
}

namespace xnet::cmd {

/// Options that apply to every command; declared once in main.cpp.
struct GlobalOptions {
  bool json = false;
  bool quiet = false;
  int verbose = 0;
  std::vector<std::string> debug;  ///< areas: xml, stun, mdns, server, all
  std::string config_path;         ///< --config; empty = default path
  std::string account;             ///< --account
  bool no_color = false;           ///< --no-color
};

/// ANSI styling for text output; empty strings when colour is off.
struct Style {
  bool color = false;
  std::string_view bold() const { return color ? "\033[1m" : ""; }
  std::string_view dim() const { return color ? "\033[2m" : ""; }
  std::string_view green() const { return color ? "\033[32m" : ""; }
  std::string_view yellow() const { return color ? "\033[33m" : ""; }
  std::string_view red() const { return color ? "\033[31m" : ""; }
  std::string_view reset() const { return color ? "\033[0m" : ""; }
};

/// The one renderer: results go to stdout as text or JSON, diagnostics to stderr.
/// It is also the Trace sink handed to the library.
class Output final : public Trace {
 public:
  explicit Output(GlobalOptions& globals) : g_(globals) {}

  /// Call once after parsing: resolves colour (TTY, NO_COLOR) and debug areas.
  /// Fails with a Usage error on an unknown debug area.
  Result<void> finalize();

  bool json() const { return g_.json; }
  bool quiet() const { return g_.quiet; }
  int verbosity() const { return g_.verbose; }
  const Style& style() const { return style_; }
  const GlobalOptions& globals() const { return g_; }

  /// Print a result or one event of a stream: `to_json(json&, const T&)` under --json (one
  /// JSON document or line), else `print_text(std::ostream&, const T&, const Style&)` (both
  /// found by ADL). Channel::Log writes to stderr instead (serve's log, the events of `pass
  /// listen` when stdout is the relayed connection) and nothing under -q.
  enum class Channel { Data, Log };
  template <class T>
  void emit(const T& value, Channel channel = Channel::Data) {
    if (channel == Channel::Log && g_.quiet) return;
    if (g_.json) {
      nlohmann::json j = value;
      write_json(j, channel);
    } else {
      std::ostringstream os;
      print_text(os, value, channel == Channel::Data ? style_ : Style{});
      write_text(os.str(), channel);
    }
  }

  /// Progress for people only: shown in text mode (at verbosity level), never under --json,
  /// where the printed result carries the same fact.
  void text_progress(int level, std::string_view message);

  /// A result with a failure inside it has been printed: under --json the result carries the
  /// error object, so only the exit status is left (a warning names the failure on stderr);
  /// in text mode the failure is reported as any other.
  [[noreturn]] void fail_after_result(const Error& e);

  /// Report a failure: "xnet VERB: category: message" (+ hint) on stderr, and under --json
  /// an {"error":{...}} object on stdout.
  void error(const Error& e, std::string_view command);
  /// The command path being run ("xnet lan browse"), set by main once parsing is complete.
  void set_command(std::string command) { command_ = std::move(command); }

  // Trace
  bool enabled(TraceArea area) const override;
  void wire(TraceArea area, TraceDir dir, std::string_view data) override;
  void progress(int level, std::string_view message) override;
  void warning(std::string_view message) override;

 private:
  /// Write one JSON document (one line) to the channel and flush; stdout lines are also
  /// captured for the schema test.
  void write_json(const nlohmann::json& j, Channel channel);
  /// Write rendered text (lines ending in '\n') to the channel and flush.
  void write_text(std::string_view text, Channel channel);
  // Test-only: with XNET_TEST_JSON_DIR set, every stdout line under --json is also appended to
  // DIR/xnet-PID.jsonl with the command path, for scripts/check-json-schema.py. Holds mu_.
  void capture(std::string_view command, std::string_view line);

  GlobalOptions& g_;
  Style style_;
  bool areas_[4] = {false, false, false, false};
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  std::mutex mu_;
  std::string command_ = "xnet";
};

/// A duration in milliseconds rounded to 0.1 ms: the one form of every `*_ms` field.
double round_ms(std::chrono::nanoseconds d);
/// The same for a value already in milliseconds.
double round_ms(double ms);
/// The text form of a duration: "15.1 ms" (rounded as round_ms), "12.3 s" from 10 s on.
std::string format_ms(double ms);

/// Thrown by a command whose result is already printed but whose exit status is not 0 (e.g. a
/// probe that found failures under --json); main returns code without printing anything.
struct ExitStatus {
  int code;
};

/// Throw a failed Result's error as xnet::Error (only the cmd layer throws; main catches).
template <class T>
T unwrap(Result<T> r) {
  if (!r) throw r.error();
  if constexpr (!std::is_void_v<T>) return std::move(*r);
}

/// A CLI11 validator without its description, so help shows only our type name.
template <class V>
V quiet(V v) {
  v.description("");
  return v;
}

/// Account and connection options shared by every XMPP command (declared once, here).
struct ConnectionOptions {
  std::string jid;
  std::string server;  ///< HOST[:PORT]
  bool direct_tls = false;
  bool ipv4 = false;  ///< -4: IPv4 only
  bool ipv6 = false;  ///< -6: IPv6 only
  std::string ca_file;
  bool insecure = false;
  double timeout = 10.0;
  bool timeout_given = false;  ///< --timeout was on the command line
  std::string resource;
  std::string password_file;
  std::string password_command;
  bool no_fast = false;  ///< --no-fast: no XEP-0484 token used, requested or stored
};

/// Declare --jid, --server, --direct-tls, -4/-6, --ca-file, --insecure, --timeout, --resource,
/// --password-file, --password-command, --no-fast on sub.
void add_connection_options(CLI::App& sub, ConnectionOptions& o);

/// A session config with the options resolved once: command line over the config-file account
/// (loaded once, here) over defaults, password sources included.
struct Connection : xmpp::ConnectConfig {
  double timeout = 10.0;  ///< --timeout, else the account's `timeout`, else 10 s
};

/// Merge command line, config file account and password sources into a session config.
/// Compute deadlines from the result's timeout, after this call (a password prompt must not eat
/// the budget). With a stored FAST token the password is not read now: config.password_provider
/// reads it if the server refuses the token. Errors: Usage (no JID / invalid JID / no password
/// without a TTY), Config (bad file / unknown account).
Result<Connection> resolve_connection(const ConnectionOptions& o, Output& out);

/// The deadline for a whole operation from --timeout seconds.
Deadline deadline_from(double seconds);

/// Wait-free check of SIGINT/SIGTERM for long-running commands (installed by main).
bool interrupted();
/// The signal number received (SIGINT/SIGTERM), 0 if none.
int interrupt_signal();

}  // namespace xnet::cmd
