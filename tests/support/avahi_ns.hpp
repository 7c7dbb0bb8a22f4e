// SPDX-License-Identifier: MIT
// Test support: a private network namespace (loopback only, 224.0.0.0/4 routed on lo) with its
// own mount namespace (tmpfs /run), its own D-Bus system bus and avahi-daemon. mDNS traffic
// never leaves it. Commands run inside with nsenter.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "support/process.hpp"

namespace xnet::test {

class AvahiNamespace {
 public:
  /// Why the fixture cannot run here (not root, a tool missing), or nullopt when it can.
  static std::optional<std::string> skip_reason();

  /// Start the namespace, dbus-daemon and avahi-daemon (host name host_name) and wait until
  /// avahi reports startup complete. Throws std::runtime_error with the daemon log on failure.
  explicit AvahiNamespace(std::string host_name = "xnetlab");
  /// Stop avahi-daemon, dbus-daemon and the namespace holder, by PID; the namespaces vanish
  /// with their last process.
  ~AvahiNamespace();
  AvahiNamespace(const AvahiNamespace&) = delete;
  AvahiNamespace& operator=(const AvahiNamespace&) = delete;

  /// argv prefixed with nsenter into the namespace.
  std::vector<std::string> wrap(const std::vector<std::string>& argv) const;
  /// Run argv inside the namespace to completion.
  RunResult run(const std::vector<std::string>& argv, const std::optional<std::string>& stdin_data = std::nullopt,
                std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;
  /// Run the built xnet inside the namespace.
  RunResult xnet(const std::vector<std::string>& args, const std::optional<std::string>& stdin_data = std::nullopt,
                 std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;
  /// Start argv inside the namespace in the background.
  std::unique_ptr<Process> spawn(const std::vector<std::string>& argv, Process::Options options = {}) const;

  /// The avahi-daemon host name (`NAME.local`).
  const std::string& host_name() const { return host_; }
  /// The PID holding the namespaces.
  pid_t holder_pid() const;
  /// The temporary directory of this fixture (config, logs).
  const TempDir& dir() const { return *dir_; }
  /// avahi-daemon's log so far.
  std::string avahi_log() const;

 private:
  std::string host_;
  std::unique_ptr<TempDir> dir_;
  std::unique_ptr<Process> holder_;
  pid_t avahi_pid_ = -1;
  pid_t dbus_pid_ = -1;
};

/// A FIFO that a background process reads as stdin while the test writes lines to it.
class StdinPipe {
 public:
  explicit StdinPipe(const std::filesystem::path& path);
  ~StdinPipe();
  const std::filesystem::path& path() const { return path_; }
  /// Write line plus a newline.
  void write_line(const std::string& line);

 private:
  std::filesystem::path path_;
  int fd_ = -1;
};

}  // namespace xnet::test
