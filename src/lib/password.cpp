// SPDX-License-Identifier: MIT
#include "password.hpp"

#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <fcntl.h>
#include <poll.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

extern char** environ;

namespace xnet::password {
namespace {

constexpr std::size_t kMaxPassword = 4096;
// A password command may print more than the password (e.g. `pass show` prints extra lines).
constexpr std::size_t kMaxCommandOutput = 64 * 1024;

std::string errno_text(int e) { return std::strerror(e); }

class Fd {
 public:
  explicit Fd(int fd = -1) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() { reset(); }
  int get() const { return fd_; }
  void reset(int fd = -1) {
    if (fd_ >= 0) ::close(fd_);
    fd_ = fd;
  }

 private:
  int fd_;
};

std::string strip_one_newline(std::string s) {
  if (!s.empty() && s.back() == '\n') {
    s.pop_back();
    if (!s.empty() && s.back() == '\r') s.pop_back();
  }
  return s;
}

void sleep_ms(int ms) {
  timespec ts{0, static_cast<long>(ms) * 1000000L};
  while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// State shared with the signal handler while the prompt has echo turned off.
volatile sig_atomic_t g_prompt_signal = 0;
int g_prompt_fd = -1;
// Self-pipe: a signal that lands between two reads must still wake the prompt up.
int g_wake_fd = -1;
termios g_saved_termios;

extern "C" void on_prompt_signal(int sig) {
  // tcsetattr is async-signal-safe; restore echo first so a dying process leaves a sane terminal.
  if (g_prompt_fd >= 0) tcsetattr(g_prompt_fd, TCSAFLUSH, &g_saved_termios);
  g_prompt_signal = sig;
  if (g_wake_fd >= 0) {
    [[maybe_unused]] auto w = ::write(g_wake_fd, "x", 1);
  }
}

class SystemTerminal final : public Terminal {
 public:
  bool interactive() const override { return isatty(STDIN_FILENO) == 1; }

  Result<std::string> prompt(std::string_view text) override {
    Fd tty(::open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC));
    int in_fd = tty.get() >= 0 ? tty.get() : STDIN_FILENO;
    int out_fd = tty.get() >= 0 ? tty.get() : STDERR_FILENO;

    termios saved{};
    bool have_termios = tcgetattr(in_fd, &saved) == 0;
    static constexpr int kSignals[] = {SIGINT, SIGTERM, SIGHUP, SIGQUIT};
    struct sigaction old_actions[4]{};
    int wake[2] = {-1, -1};
    if (have_termios && ::pipe2(wake, O_CLOEXEC | O_NONBLOCK) != 0) wake[0] = wake[1] = -1;
    Fd wake_rd(wake[0]), wake_wr(wake[1]);
    if (have_termios) {
      g_wake_fd = wake_wr.get();
      g_saved_termios = saved;
      g_prompt_fd = in_fd;
      g_prompt_signal = 0;
      struct sigaction sa{};
      sa.sa_handler = on_prompt_signal;
      sigemptyset(&sa.sa_mask);
      sa.sa_flags = 0;  // no SA_RESTART: read() must return EINTR
      for (int i = 0; i < 4; ++i) sigaction(kSignals[i], &sa, &old_actions[i]);
      termios quiet = saved;
      quiet.c_lflag &= static_cast<tcflag_t>(~ECHO);
      quiet.c_lflag |= ECHONL;
      tcsetattr(in_fd, TCSAFLUSH, &quiet);
    }

    std::string line;
    [[maybe_unused]] auto w = ::write(out_fd, text.data(), text.size());
    int read_error = 0;
    bool eof = false;
    for (;;) {
      if (g_prompt_signal) break;
      if (wake_rd.get() >= 0) {
        pollfd p[2] = {{in_fd, POLLIN, 0}, {wake_rd.get(), POLLIN, 0}};
        if (::poll(p, 2, -1) < 0) {
          if (errno == EINTR) continue;
          read_error = errno;
          break;
        }
        if (p[1].revents) break;  // a signal arrived
      }
      char c;
      ssize_t n = ::read(in_fd, &c, 1);
      if (n == 1) {
        if (c == '\n') break;
        if (line.size() < kMaxPassword + 1) line.push_back(c);
        continue;
      }
      if (n == 0) {
        eof = true;
        break;
      }
      if (errno == EINTR && !g_prompt_signal) continue;
      read_error = errno;
      break;
    }

    int caught = 0;
    if (have_termios) {
      tcsetattr(in_fd, TCSAFLUSH, &saved);
      caught = g_prompt_signal;
      g_prompt_fd = -1;
      g_wake_fd = -1;
      for (int i = 0; i < 4; ++i) sigaction(kSignals[i], &old_actions[i], nullptr);
      if (caught) {
        // Let a handler installed by the caller see the signal too.
        for (int i = 0; i < 4; ++i)
          if (kSignals[i] == caught && old_actions[i].sa_handler != SIG_DFL && old_actions[i].sa_handler != SIG_IGN)
            raise(caught);
      }
    }
    if (caught) {
      [[maybe_unused]] auto nl = ::write(out_fd, "\n", 1);
      return fail(Category::Interrupted, "password prompt interrupted");
    }
    if (read_error) return fail(Category::Io, "cannot read the password from the terminal: " + errno_text(read_error));
    if (eof && line.empty()) return fail(Category::Usage, "no password entered (end of input at the prompt)");
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.size() > kMaxPassword) return fail(Category::Input, "the password entered is too long");
    if (line.empty()) return fail(Category::Usage, "empty password entered");
    return line;
  }
};

Error with_context(Error e, std::string_view context) {
  e.message = std::string(context) + ": " + e.message;
  return e;
}

}  // namespace

Terminal& system_terminal() {
  static SystemTerminal t;
  return t;
}

std::optional<std::string> env_password(const std::function<const char*(const char*)>& getenv_fn) {
  const char* v = getenv_fn ? getenv_fn("XNET_PASSWORD") : std::getenv("XNET_PASSWORD");
  if (!v) return std::nullopt;
  return std::string(v);
}

Result<std::string> read_file(const std::string& path, std::vector<std::string>& warnings) {
  // A FIFO is fine (`--password-file <(pass show x)`), so no O_NONBLOCK and no regular-file check.
  Fd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY));
  if (fd.get() < 0) {
    int e = errno;
    return fail(Category::Io, "cannot open password file " + path + ": " + errno_text(e),
                e == ENOENT ? "check the path (a leading ~ is expanded only in the configuration file)" : "");
  }
  struct stat st{};
  if (fstat(fd.get(), &st) != 0) return fail(Category::Io, "cannot stat password file " + path + ": " + errno_text(errno));
  if (S_ISDIR(st.st_mode)) return fail(Category::Io, "password file " + path + " is a directory");
  if (S_ISREG(st.st_mode) && (st.st_mode & (S_IRWXG | S_IRWXO))) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    warnings.push_back("password file " + path + " is accessible by group or others (mode " + mode +
                       "); run: chmod 600 " + path);
  }
  std::string data;
  char buf[1024];
  for (;;) {
    ssize_t n = ::read(fd.get(), buf, sizeof buf);
    if (n < 0) {
      if (errno == EINTR) continue;
      return fail(Category::Io, "cannot read password file " + path + ": " + errno_text(errno));
    }
    if (n == 0) break;
    data.append(buf, static_cast<std::size_t>(n));
    if (data.size() > kMaxPassword + 2)
      return fail(Category::Input, "password file " + path + " is too large (limit " + std::to_string(kMaxPassword) +
                                       " bytes)");
  }
  // The first line is the password, like --password-command; a trailing "\r" goes with the "\n".
  std::string pw = strip_one_newline(data.substr(0, data.find('\n') == std::string::npos ? data.size()
                                                                                          : data.find('\n') + 1));
  if (data.empty()) return fail(Category::Input, "password file " + path + " is empty");
  if (pw.empty()) return fail(Category::Input, "password file " + path + " starts with an empty line");
  return pw;
}

Result<std::string> run_command(const std::string& command, std::chrono::milliseconds timeout) {
  using Clock = std::chrono::steady_clock;
  const auto deadline = Clock::now() + timeout;
  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return fail(Category::Os, "cannot create a pipe: " + errno_text(errno));
  Fd rd(fds[0]), wr(fds[1]);

  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_adddup2(&actions, wr.get(), STDOUT_FILENO);
  std::string sh = "sh", dash_c = "-c", cmd = command;
  char* argv[] = {sh.data(), dash_c.data(), cmd.data(), nullptr};
  pid_t pid = -1;
  int rc = posix_spawn(&pid, "/bin/sh", &actions, nullptr, argv, environ);
  posix_spawn_file_actions_destroy(&actions);
  if (rc != 0) return fail(Category::Os, "cannot run /bin/sh: " + errno_text(rc));
  wr.reset();

  auto remaining_ms = [&] {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    return left > 0 ? static_cast<int>(std::min<long long>(left, 1 << 30)) : 0;
  };
  auto kill_and_reap = [&] {
    ::kill(pid, SIGKILL);
    int st;
    while (::waitpid(pid, &st, 0) < 0 && errno == EINTR) {
    }
  };
  auto timed_out = [&] {
    kill_and_reap();
    return fail(Category::Timeout, "password command did not finish within " +
                                       std::to_string(std::chrono::duration_cast<std::chrono::seconds>(timeout).count()) + "s");
  };

  std::string out;
  while (rd.get() >= 0) {
    int left = remaining_ms();
    if (left == 0) return timed_out();
    pollfd p{rd.get(), POLLIN, 0};
    int n = ::poll(&p, 1, left);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      kill_and_reap();
      return fail(Category::Os, "poll failed: " + errno_text(errno));
    }
    if (n == 0) continue;
    char buf[4096];
    ssize_t r = ::read(rd.get(), buf, sizeof buf);
    if (r < 0 && errno == EINTR) continue;
    if (r <= 0) {
      rd.reset();
      break;
    }
    out.append(buf, static_cast<std::size_t>(r));
    // Enough to hold the first line: stop reading; the command gets SIGPIPE if it goes on.
    if (out.size() > kMaxCommandOutput) rd.reset();
  }

  int status = 0;
  for (;;) {
    pid_t w = ::waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) return fail(Category::Os, "waitpid failed: " + errno_text(errno));
    if (remaining_ms() == 0) return timed_out();
    sleep_ms(2);
  }
  // When we stopped reading, the command (or its pipeline) may die of SIGPIPE: not its fault.
  const bool truncated = out.size() > kMaxCommandOutput;
  if (WIFSIGNALED(status) && !truncated)
    return fail(Category::Input, "password command was killed by signal " + std::to_string(WTERMSIG(status)));
  if (WIFEXITED(status) && WEXITSTATUS(status) != 0 && !truncated)
    return fail(Category::Input, "password command exited with status " + std::to_string(WEXITSTATUS(status)),
                WEXITSTATUS(status) == 127 ? "the shell could not find the program" : "");
  auto nl = out.find('\n');
  std::string line = out.substr(0, nl);
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty()) return fail(Category::Input, "password command printed no password (empty first line)");
  if (line.size() > kMaxPassword) return fail(Category::Input, "password command printed a line that is too long");
  return line;
}

Result<Resolved> resolve(const Sources& s, Terminal& t, std::string_view prompt_text) {
  Resolved r;
  auto done = [&](Result<std::string> pw, const char* source, std::string_view context) -> Result<Resolved> {
    if (!pw) return fail(with_context(pw.error(), context));
    r.password = std::move(*pw);
    r.source = source;
    return std::move(r);
  };
  if (s.file) return done(read_file(*s.file, r.warnings), "file", "--password-file");
  if (s.command) return done(run_command(*s.command, s.command_timeout), "command", "--password-command");
  if (s.env) {
    if (!s.env->empty()) {
      if (s.env->size() > kMaxPassword) return fail(Category::Input, "XNET_PASSWORD is too long");
      r.password = *s.env;
      r.source = "env";
      return r;
    }
    r.warnings.push_back("XNET_PASSWORD is set but empty; ignoring it");
  }
  if (s.config_file) {
    auto res = done(read_file(*s.config_file, r.warnings), "config", "password_file from the configuration file");
    // A configured file that cannot be opened is a configuration mistake.
    if (!res && res.error().category == Category::Io) res.error().category = Category::Config;
    return res;
  }
  if (s.config_command) {
    return done(run_command(*s.config_command, s.command_timeout), "config",
                "password_command from the configuration file");
  }
  if (t.interactive()) {
    auto pw = t.prompt(prompt_text);
    if (!pw) return fail(pw.error());
    r.password = std::move(*pw);
    r.source = "prompt";
    return r;
  }
  return fail(Category::Usage, "no password: use --password-file, --password-command or XNET_PASSWORD",
              "or set password_file/password_command for the account in the configuration file");
}

}  // namespace xnet::password
