// SPDX-License-Identifier: MIT
// Test support: child processes, free ports, temp dirs, running the built xnet.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

namespace xnet::test {

/// A free TCP port on 127.0.0.1, found by binding to port 0 (the port is released again).
std::uint16_t free_port();
/// A free UDP port on 127.0.0.1.
std::uint16_t free_udp_port();

/// A temporary directory removed (recursively) on destruction.
class TempDir {
 public:
  explicit TempDir(const std::string& prefix = "xnet-test");
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

/// Write text to path (creating parents).
void write_file(const std::filesystem::path& path, const std::string& text);
/// Read a whole file ("" if missing).
std::string read_file(const std::filesystem::path& path);

/// Full path of program on PATH, or nullopt.
std::optional<std::string> find_program(const std::string& name);

/// A child process; killed (SIGTERM, then SIGKILL) and reaped on destruction. Only the
/// processes this object started are ever signalled.
class Process {
 public:
  struct Options {
    std::map<std::string, std::string> env;  ///< added to / overriding the environment
    std::optional<std::filesystem::path> stdout_file, stderr_file;
    std::optional<std::string> stdin_data;   ///< written to stdin, then closed
    bool new_process_group = false;
  };
  Process(std::vector<std::string> argv, Options options);
  Process(std::vector<std::string> argv) : Process(std::move(argv), Options{}) {}
  ~Process();
  Process(Process&&) noexcept;
  Process(const Process&) = delete;

  pid_t pid() const { return pid_; }
  /// Non-blocking: exit status if exited (exit code, or 128+signal).
  std::optional<int> poll();
  /// Wait up to timeout for exit; nullopt on timeout.
  std::optional<int> wait(std::chrono::milliseconds timeout);
  /// Send sig to the process.
  void signal(int sig);
  /// SIGTERM, wait up to grace, then SIGKILL; returns the status.
  int stop(std::chrono::milliseconds grace = std::chrono::milliseconds(3000));

 private:
  pid_t pid_ = -1;
  std::optional<int> status_;
};

/// Poll-connect to host:port until it accepts or timeout passes.
bool wait_for_port(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout);
/// Poll until path exists and is non-empty, or timeout.
bool wait_for_file(const std::filesystem::path& path, std::chrono::milliseconds timeout);

struct RunResult {
  int exit_code = -1;
  std::string out;
  std::string err;
  double elapsed_ms = 0;
  /// stdout parsed as one JSON document (throws on invalid JSON: the test fails).
  nlohmann::json json() const;
  /// stdout parsed as JSON lines.
  std::vector<nlohmann::json> json_lines() const;
};

/// Run a command to completion with optional stdin and extra env; killed after timeout.
RunResult run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
              const std::optional<std::string>& stdin_data = std::nullopt,
              std::chrono::milliseconds timeout = std::chrono::seconds(60));

/// Run the built xnet binary with args (XNET_BINARY), with XDG_CONFIG_HOME pointed at an
/// empty directory so the developer's own config never leaks in.
RunResult run_xnet(const std::vector<std::string>& args, const std::map<std::string, std::string>& env = {},
                   const std::optional<std::string>& stdin_data = std::nullopt,
                   std::chrono::milliseconds timeout = std::chrono::seconds(60));

/// Path of the built xnet binary.
std::string xnet_binary();

/// Create a self-signed certificate and key for name (CN and subjectAltName DNS:name and
/// IP:127.0.0.1) with openssl; returns {cert, key}.
std::pair<std::filesystem::path, std::filesystem::path> make_self_signed(const std::filesystem::path& dir,
                                                                         const std::string& name);

}  // namespace xnet::test
