// SPDX-License-Identifier: MIT
#include "support/process.hpp"

#include <arpa/inet.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <thread>

extern char** environ;

namespace xnet::test {

namespace {
std::uint16_t bound_port(int type) {
  int fd = ::socket(AF_INET, type, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  a.sin_port = 0;
  if (::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0) {
    ::close(fd);
    throw std::runtime_error("bind() failed");
  }
  socklen_t len = sizeof a;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  ::close(fd);
  return ntohs(a.sin_port);
}

int decode_status(int st) {
  if (WIFEXITED(st)) return WEXITSTATUS(st);
  if (WIFSIGNALED(st)) return 128 + WTERMSIG(st);
  return -1;
}
}  // namespace

std::uint16_t free_port() { return bound_port(SOCK_STREAM); }
std::uint16_t free_udp_port() { return bound_port(SOCK_DGRAM); }

TempDir::TempDir(const std::string& prefix) {
  std::string tmpl = (std::filesystem::temp_directory_path() / (prefix + "-XXXXXX")).string();
  if (!::mkdtemp(tmpl.data())) throw std::runtime_error("mkdtemp failed");
  path_ = tmpl;
}

TempDir::~TempDir() {
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

void write_file(const std::filesystem::path& path, const std::string& text) {
  std::filesystem::create_directories(path.parent_path());
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f << text;
}

std::string read_file(const std::filesystem::path& path) {
  std::ifstream f(path, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::optional<std::string> find_program(const std::string& name) {
  const char* path = std::getenv("PATH");
  std::string p = path ? path : "/usr/bin:/bin";
  p += ":/usr/sbin:/sbin";
  std::stringstream ss(p);
  std::string dir;
  while (std::getline(ss, dir, ':')) {
    auto full = std::filesystem::path(dir) / name;
    if (::access(full.c_str(), X_OK) == 0) return full.string();
  }
  return std::nullopt;
}

Process::Process(std::vector<std::string> argv, Options o) {
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  int in_pipe[2] = {-1, -1};
  if (o.stdin_data) {
    if (::pipe2(in_pipe, O_CLOEXEC) != 0) throw std::runtime_error("pipe failed");
    posix_spawn_file_actions_adddup2(&fa, in_pipe[0], 0);
  } else {
    posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  }
  if (o.stdout_file) posix_spawn_file_actions_addopen(&fa, 1, o.stdout_file->c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (o.stderr_file) posix_spawn_file_actions_addopen(&fa, 2, o.stderr_file->c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  posix_spawnattr_t attr;
  posix_spawnattr_init(&attr);
  sigset_t def;
  sigemptyset(&def);
  sigaddset(&def, SIGPIPE);
  sigaddset(&def, SIGINT);
  sigaddset(&def, SIGTERM);
  short flags = POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK;
  sigset_t empty;
  sigemptyset(&empty);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &def);
  if (o.new_process_group) {
    flags |= POSIX_SPAWN_SETPGROUP;
    posix_spawnattr_setpgroup(&attr, 0);
  }
  posix_spawnattr_setflags(&attr, flags);

  std::map<std::string, std::string> env;
  for (char** e = environ; *e; ++e) {
    std::string kv = *e;
    auto eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv.substr(eq + 1);
  }
  for (const auto& [k, v] : o.env) env[k] = v;
  std::vector<std::string> env_strs;
  for (const auto& [k, v] : env) env_strs.push_back(k + "=" + v);
  std::vector<char*> envp, args;
  for (auto& s : env_strs) envp.push_back(s.data());
  envp.push_back(nullptr);
  for (auto& a : argv) args.push_back(a.data());
  args.push_back(nullptr);
  int rc = posix_spawnp(&pid_, args[0], &fa, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  if (in_pipe[0] >= 0) ::close(in_pipe[0]);
  if (rc != 0) {
    if (in_pipe[1] >= 0) ::close(in_pipe[1]);
    throw std::runtime_error("cannot start " + argv[0] + ": " + std::strerror(rc));
  }
  if (o.stdin_data) {
    // Feed stdin from a thread so a child that does not read cannot block us.
    int wfd = in_pipe[1];
    std::thread([wfd, data = *o.stdin_data] {
      std::size_t off = 0;
      while (off < data.size()) {
        auto n = ::write(wfd, data.data() + off, data.size() - off);
        if (n <= 0) break;
        off += static_cast<std::size_t>(n);
      }
      ::close(wfd);
    }).detach();
  }
}

Process::Process(Process&& o) noexcept : pid_(o.pid_), status_(o.status_) { o.pid_ = -1; }

Process::~Process() {
  if (pid_ > 0 && !status_) stop(std::chrono::milliseconds(2000));
}

std::optional<int> Process::poll() {
  if (status_ || pid_ <= 0) return status_;
  int st = 0;
  pid_t r = ::waitpid(pid_, &st, WNOHANG);
  if (r == pid_) status_ = decode_status(st);
  return status_;
}

std::optional<int> Process::wait(std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  auto step = std::chrono::milliseconds(1);
  while (!poll()) {
    if (std::chrono::steady_clock::now() >= until) return std::nullopt;
    std::this_thread::sleep_for(step);  // polling a child's exit: no event to await portably
    step = std::min(step * 2, std::chrono::milliseconds(20));
  }
  return status_;
}

void Process::signal(int sig) {
  if (pid_ > 0 && !poll()) ::kill(pid_, sig);
}

int Process::stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0) return -1;
  if (poll()) return *status_;
  ::kill(pid_, SIGTERM);
  if (auto s = wait(grace)) return *s;
  ::kill(pid_, SIGKILL);
  return wait(std::chrono::seconds(5)).value_or(-1);
}

bool wait_for_port(const std::string& host, std::uint16_t port, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  auto step = std::chrono::milliseconds(5);
  while (std::chrono::steady_clock::now() < until) {
    sockaddr_storage ss{};
    socklen_t len = 0;
    if (host.find(':') != std::string::npos) {
      auto* a = reinterpret_cast<sockaddr_in6*>(&ss);
      a->sin6_family = AF_INET6;
      a->sin6_port = htons(port);
      inet_pton(AF_INET6, host.c_str(), &a->sin6_addr);
      len = sizeof *a;
    } else {
      auto* a = reinterpret_cast<sockaddr_in*>(&ss);
      a->sin_family = AF_INET;
      a->sin_port = htons(port);
      inet_pton(AF_INET, host.c_str(), &a->sin_addr);
      len = sizeof *a;
    }
    int fd = ::socket(ss.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    bool ok = ::connect(fd, reinterpret_cast<sockaddr*>(&ss), len) == 0;
    ::close(fd);
    if (ok) return true;
    std::this_thread::sleep_for(step);
    step = std::min(step * 2, std::chrono::milliseconds(100));
  }
  return false;
}

bool wait_for_file(const std::filesystem::path& path, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  auto step = std::chrono::milliseconds(5);
  while (std::chrono::steady_clock::now() < until) {
    std::error_code ec;
    if (std::filesystem::exists(path, ec) && std::filesystem::file_size(path, ec) > 0) return true;
    std::this_thread::sleep_for(step);
    step = std::min(step * 2, std::chrono::milliseconds(100));
  }
  return false;
}

nlohmann::json RunResult::json() const { return nlohmann::json::parse(out); }

std::vector<nlohmann::json> RunResult::json_lines() const {
  std::vector<nlohmann::json> v;
  std::stringstream ss(out);
  std::string line;
  while (std::getline(ss, line))
    if (!line.empty()) v.push_back(nlohmann::json::parse(line));
  return v;
}

RunResult run(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env,
              const std::optional<std::string>& stdin_data, std::chrono::milliseconds timeout) {
  TempDir dir("xnet-run");
  Process::Options o;
  o.env = env;
  o.stdout_file = dir / "out";
  o.stderr_file = dir / "err";
  o.stdin_data = stdin_data;
  auto t0 = std::chrono::steady_clock::now();
  Process p(argv, o);
  RunResult r;
  auto st = p.wait(timeout);
  r.elapsed_ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  r.exit_code = st ? *st : p.stop();
  if (!st) r.exit_code = -1;
  r.out = read_file(dir / "out");
  r.err = read_file(dir / "err");
  return r;
}

std::string xnet_binary() {
  if (const char* b = std::getenv("XNET_TEST_BINARY")) return b;
  return XNET_BINARY;
}

RunResult run_xnet(const std::vector<std::string>& args, const std::map<std::string, std::string>& env,
                   const std::optional<std::string>& stdin_data, std::chrono::milliseconds timeout) {
  static TempDir empty_config("xnet-noconfig");
  std::vector<std::string> argv{xnet_binary()};
  argv.insert(argv.end(), args.begin(), args.end());
  // A fresh state directory per run unless the test gives one: a FAST token stored by one run
  // must not log in the next (nor land in the real home).
  TempDir state("xnet-state");
  std::map<std::string, std::string> e{{"XDG_CONFIG_HOME", empty_config.path().string()},
                                       {"XDG_STATE_HOME", state.path().string()},
                                       {"NO_COLOR", "1"}};
  for (const auto& [k, v] : env) e[k] = v;
  return run(argv, e, stdin_data, timeout);
}

std::pair<std::filesystem::path, std::filesystem::path> make_self_signed(const std::filesystem::path& dir,
                                                                         const std::string& name) {
  auto cert = dir / (name + ".crt");
  auto key = dir / (name + ".key");
  auto r = run({"openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-days", "2", "-subj", "/CN=" + name, "-addext",
                "subjectAltName=DNS:" + name + ",DNS:*." + name + ",IP:127.0.0.1", "-keyout", key.string(), "-out",
                cert.string()});
  if (r.exit_code != 0) throw std::runtime_error("openssl req failed: " + r.err);
  return {cert, key};
}

}  // namespace xnet::test
