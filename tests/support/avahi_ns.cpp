// SPDX-License-Identifier: MIT
#include "support/avahi_ns.hpp"

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <stdexcept>
#include <thread>

namespace xnet::test {
namespace {

pid_t read_pid(const std::filesystem::path& p) {
  std::string s = read_file(p);
  try {
    return s.empty() ? -1 : static_cast<pid_t>(std::stol(s));
  } catch (...) {
    return -1;
  }
}

bool alive(pid_t pid) { return pid > 0 && ::kill(pid, 0) == 0; }

// Stop a process we started but did not fork ourselves (a daemon): SIGTERM, then SIGKILL.
void stop_pid(pid_t pid) {
  if (!alive(pid)) return;
  ::kill(pid, SIGTERM);
  for (int i = 0; i < 100 && alive(pid); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(20));
  if (alive(pid)) ::kill(pid, SIGKILL);
}

}  // namespace

std::optional<std::string> AvahiNamespace::skip_reason() {
  if (::geteuid() != 0) return "the mDNS tests need root to create network namespaces";
  for (const char* tool : {"unshare", "nsenter", "ip", "dbus-daemon", "avahi-daemon", "mount"})
    if (!find_program(tool) && !std::filesystem::exists(std::string("/usr/sbin/") + tool))
      return std::string(tool) + " is not installed (scripts/deps.sh test)";
  return std::nullopt;
}

AvahiNamespace::AvahiNamespace(std::string host_name) : host_(std::move(host_name)) {
  dir_ = std::make_unique<TempDir>("xnet-avahi");
  const auto& d = dir_->path();
  write_file(d / "avahi.conf",
             "[server]\nhost-name=" + host_ +
                 "\ndomain-name=local\nuse-ipv4=yes\nuse-ipv6=yes\nallow-interfaces=lo\n"
                 "enable-dbus=yes\nratelimit-interval-usec=0\n"
                 "[wide-area]\nenable-wide-area=no\n"
                 "[publish]\npublish-hinfo=no\npublish-workstation=no\n");
  // Runs as the namespace holder: unshare execs it, so its PID is in both new namespaces.
  // The 224.0.0.0/4 route on lo keeps multicast on loopback; /run is a private tmpfs so the
  // system bus socket and avahi's files are this namespace's own.
  write_file(d / "inner.sh",
             "set -e\n"
             "ip link set lo up\n"
             "ip link set lo multicast on\n"
             "ip route add 224.0.0.0/4 dev lo\n"
             "mount -t tmpfs tmpfs /run\n"
             "mkdir -p /run/dbus\n"
             // --nofork keeps dbus-daemon our child, so it is reaped when it stops.
             "dbus-daemon --system --nofork --nopidfile &\n"
             "echo $! > '" + (d / "dbus.pid").string() + "'\n"
             "i=0; while [ ! -S /run/dbus/system_bus_socket ] && [ $i -lt 250 ]; do sleep 0.02; i=$((i+1)); done\n"
             "avahi-daemon -f '" + (d / "avahi.conf").string() + "' --no-chroot --no-rlimits > '" +
             (d / "avahi.log").string() + "' 2>&1 &\n"
             "echo $! > '" + (d / "avahi.pid").string() + "'\n"
             "wait\n");
  Process::Options opts;
  opts.stdout_file = d / "holder.out";
  opts.stderr_file = d / "holder.err";
  std::string unshare = find_program("unshare").value_or("/usr/bin/unshare");
  holder_ = std::make_unique<Process>(
      std::vector<std::string>{unshare, "--net", "--mount", "--propagation", "private", "/bin/sh",
                               (d / "inner.sh").string()},
      opts);
  // Readiness by polling the daemon's log, bounded.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
  while (std::chrono::steady_clock::now() < deadline) {
    if (avahi_log().find("Server startup complete") != std::string::npos) break;
    if (holder_->poll()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  dbus_pid_ = read_pid(d / "dbus.pid");
  avahi_pid_ = read_pid(d / "avahi.pid");
  if (avahi_log().find("Server startup complete") == std::string::npos) {
    std::string why = "avahi-daemon did not start in the test namespace\nholder: " + read_file(d / "holder.err") +
                      "\navahi: " + avahi_log();
    stop_pid(avahi_pid_);
    stop_pid(dbus_pid_);
    holder_->stop();
    throw std::runtime_error(why);
  }
}

AvahiNamespace::~AvahiNamespace() {
  stop_pid(avahi_pid_);
  stop_pid(dbus_pid_);
  if (holder_) holder_->stop();
}

pid_t AvahiNamespace::holder_pid() const { return holder_ ? holder_->pid() : -1; }

std::string AvahiNamespace::avahi_log() const { return read_file(dir_->path() / "avahi.log"); }

std::vector<std::string> AvahiNamespace::wrap(const std::vector<std::string>& argv) const {
  std::vector<std::string> out{find_program("nsenter").value_or("/usr/bin/nsenter"), "--target",
                               std::to_string(holder_pid()), "--net", "--mount", "--"};
  out.insert(out.end(), argv.begin(), argv.end());
  return out;
}

RunResult AvahiNamespace::run(const std::vector<std::string>& argv, const std::optional<std::string>& stdin_data,
                              std::chrono::milliseconds timeout) const {
  return test::run(wrap(argv), {}, stdin_data, timeout);
}

RunResult AvahiNamespace::xnet(const std::vector<std::string>& args, const std::optional<std::string>& stdin_data,
                               std::chrono::milliseconds timeout) const {
  std::vector<std::string> argv{xnet_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, stdin_data, timeout);
}

std::unique_ptr<Process> AvahiNamespace::spawn(const std::vector<std::string>& argv, Process::Options options) const {
  return std::make_unique<Process>(wrap(argv), std::move(options));
}

StdinPipe::StdinPipe(const std::filesystem::path& path) : path_(path) {
  if (::mkfifo(path.c_str(), 0600) != 0 && errno != EEXIST) throw std::runtime_error("mkfifo failed");
  // O_RDWR: opening does not block waiting for a reader, and the reader never sees EOF early.
  fd_ = ::open(path.c_str(), O_RDWR | O_CLOEXEC);
  if (fd_ < 0) throw std::runtime_error("cannot open the FIFO");
}

StdinPipe::~StdinPipe() {
  if (fd_ >= 0) ::close(fd_);
}

void StdinPipe::write_line(const std::string& line) {
  std::string s = line + "\n";
  [[maybe_unused]] auto n = ::write(fd_, s.data(), s.size());
}

}  // namespace xnet::test
