// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include <sys/stat.h>
#include <unistd.h>

#include "password.hpp"

namespace pw = xnet::password;
using xnet::Category;
using namespace std::chrono_literals;

namespace {

struct TempDir {
  std::filesystem::path path;
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "xnet-password-XXXXXX").string();
    REQUIRE(::mkdtemp(tmpl.data()) != nullptr);
    path = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path, ec);
  }
  std::string write(const std::string& name, const std::string& content, mode_t mode = 0600) const {
    auto p = path / name;
    std::ofstream(p, std::ios::binary) << content;
    ::chmod(p.c_str(), mode);
    return p.string();
  }
};

struct FakeTerminal final : pw::Terminal {
  bool tty = false;
  xnet::Result<std::string> answer = std::string("typed");
  int prompts = 0;
  std::string last_text;
  bool interactive() const override { return tty; }
  xnet::Result<std::string> prompt(std::string_view text) override {
    ++prompts;
    last_text = std::string(text);
    return answer;
  }
};

}  // namespace

TEST_CASE("each password source wins in order", "[password]") {
  TempDir dir;
  const auto cli_file = dir.write("cli.pass", "from-cli-file\n");
  const auto cfg_file = dir.write("cfg.pass", "from-config-file\n");

  struct Case {
    int first;  // sources before this index are unset
    const char* password;
    const char* source;
  };
  const Case cases[] = {
      {0, "from-cli-file", "file"}, {1, "from-cli-command", "command"},  {2, "from-env", "env"},
      {3, "from-config-file", "config"}, {4, "from-config-command", "config"}, {5, "typed", "prompt"},
  };
  for (const auto& c : cases) {
    SECTION(c.source + std::string(" ") + std::to_string(c.first)) {
      pw::Sources s;
      if (c.first <= 0) s.file = cli_file;
      if (c.first <= 1) s.command = "echo from-cli-command";
      if (c.first <= 2) s.env = "from-env";
      if (c.first <= 3) s.config_file = cfg_file;
      if (c.first <= 4) s.config_command = "echo from-config-command";
      FakeTerminal t;
      t.tty = true;
      auto r = pw::resolve(s, t, "Password for a@b: ");
      REQUIRE(r.has_value());
      CHECK(r->password == c.password);
      CHECK(r->source == c.source);
      CHECK(r->warnings.empty());
      CHECK(t.prompts == (c.first == 5 ? 1 : 0));
      if (c.first == 5) CHECK(t.last_text == "Password for a@b: ");
    }
  }
}

TEST_CASE("no password and no terminal is a usage error, not a hang", "[password]") {
  FakeTerminal t;
  t.tty = false;
  auto r = pw::resolve(pw::Sources{}, t, "Password: ");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().category == Category::Usage);
  CHECK(r.error().message == "no password: use --password-file, --password-command or XNET_PASSWORD");
  CHECK(t.prompts == 0);
}

TEST_CASE("a failing prompt passes its error on", "[password]") {
  FakeTerminal t;
  t.tty = true;
  t.answer = xnet::fail(Category::Interrupted, "password prompt interrupted");
  auto r = pw::resolve(pw::Sources{}, t, "Password: ");
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().category == Category::Interrupted);
}

TEST_CASE("an empty XNET_PASSWORD is ignored with a warning", "[password]") {
  pw::Sources s;
  s.env = "";
  s.config_command = "echo cfg";
  FakeTerminal t;
  auto r = pw::resolve(s, t, "");
  REQUIRE(r.has_value());
  CHECK(r->source == "config");
  CHECK(r->password == "cfg");
  REQUIRE(r->warnings.size() == 1);
  CHECK(r->warnings[0].find("XNET_PASSWORD") != std::string::npos);
}

TEST_CASE("env_password reads XNET_PASSWORD through the given lookup", "[password]") {
  std::map<std::string, std::string> env{{"XNET_PASSWORD", "s3cret"}};
  auto lookup = [&](const char* name) -> const char* {
    auto it = env.find(name);
    return it == env.end() ? nullptr : it->second.c_str();
  };
  CHECK(pw::env_password(lookup) == std::optional<std::string>("s3cret"));
  env.clear();
  CHECK_FALSE(pw::env_password(lookup).has_value());
}

TEST_CASE("password files", "[password]") {
  TempDir dir;
  struct Case {
    const char* name;
    const char* content;
    const char* expected;  // nullptr: an error
    Category category;
  };
  const Case cases[] = {
      {"LF", "secret\n", "secret", Category::Internal},
      {"CRLF", "secret\r\n", "secret", Category::Internal},
      {"no newline", "secret", "secret", Category::Internal},
      {"spaces kept", " se cret \n", " se cret ", Category::Internal},
      {"only one newline stripped", "secret\r\r\n", "secret\r", Category::Internal},
      {"first line only", "secret\nother\n", "secret", Category::Internal},
      {"blank line after", "secret\n\n", "secret", Category::Internal},
      {"leading empty line", "\nsecret\n", nullptr, Category::Input},
      {"empty", "", nullptr, Category::Input},
      {"only a newline", "\n", nullptr, Category::Input},
  };
  for (const auto& c : cases) {
    SECTION(c.name) {
      std::vector<std::string> warnings;
      auto r = pw::read_file(dir.write("p", c.content), warnings);
      if (c.expected) {
        REQUIRE(r.has_value());
        CHECK(*r == c.expected);
      } else {
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().category == c.category);
      }
      CHECK(warnings.empty());
    }
  }
  SECTION("missing file") {
    std::vector<std::string> warnings;
    auto r = pw::read_file((dir.path / "nope").string(), warnings);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().category == Category::Io);
    CHECK(r.error().message.find("nope") != std::string::npos);
  }
  SECTION("too large") {
    std::vector<std::string> warnings;
    auto r = pw::read_file(dir.write("big", std::string(10000, 'x')), warnings);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().category == Category::Input);
  }
  SECTION("readable by others gets a warning") {
    auto path = dir.write("open", "secret\n", 0644);
    std::vector<std::string> warnings;
    auto r = pw::read_file(path, warnings);
    REQUIRE(r.has_value());
    REQUIRE(warnings.size() == 1);
    CHECK(warnings[0].find("0644") != std::string::npos);
    CHECK(warnings[0].find("chmod 600") != std::string::npos);
    // The warning reaches the resolved result too.
    pw::Sources s;
    s.file = path;
    FakeTerminal t;
    auto res = pw::resolve(s, t, "");
    REQUIRE(res.has_value());
    CHECK(res->warnings.size() == 1);
  }
  SECTION("a file given on the command line that yields nothing does not fall through") {
    pw::Sources s;
    s.file = dir.write("empty", "");
    s.env = "from-env";
    FakeTerminal t;
    auto r = pw::resolve(s, t, "");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().category == Category::Input);
    CHECK(r.error().message.rfind("--password-file: ", 0) == 0);
  }
  SECTION("a missing configured file is a config error") {
    pw::Sources s;
    s.config_file = (dir.path / "gone").string();
    FakeTerminal t;
    auto r = pw::resolve(s, t, "");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().category == Category::Config);
  }
}

TEST_CASE("password commands", "[password]") {
  struct Case {
    const char* command;
    const char* expected;  // nullptr: an error
    Category category;
    const char* message_part;
  };
  const Case cases[] = {
      {"echo secret", "secret", Category::Internal, ""},
      {"printf 'secret\\nsecond line\\n'", "secret", Category::Internal, ""},
      {"printf 'secret\\r\\n'", "secret", Category::Internal, ""},
      {"printf secret", "secret", Category::Internal, ""},
      {"printf 'a b\\n'", "a b", Category::Internal, ""},
      {"echo secret; exit 3", nullptr, Category::Input, "exited with status 3"},
      {"true", nullptr, Category::Input, "empty first line"},
      {"printf '\\nsecret\\n'", nullptr, Category::Input, "empty first line"},
      {"xnet-no-such-program-here 2>/dev/null", nullptr, Category::Input, "status 127"},
      {"kill -TERM $$", nullptr, Category::Input, "signal 15"},
  };
  for (const auto& c : cases) {
    SECTION(c.command) {
      auto r = pw::run_command(c.command, 10s);
      if (c.expected) {
        REQUIRE(r.has_value());
        CHECK(*r == c.expected);
      } else {
        REQUIRE_FALSE(r.has_value());
        CHECK(r.error().category == c.category);
        CHECK(r.error().message.find(c.message_part) != std::string::npos);
      }
    }
  }
  SECTION("a large output still yields its first line") {
    auto r = pw::run_command("echo first; head -c 300000 /dev/zero | tr '\\0' x", 10s);
    REQUIRE(r.has_value());
    CHECK(*r == "first");
  }
  SECTION("a command that hangs is killed at the timeout") {
    auto start = std::chrono::steady_clock::now();
    auto r = pw::run_command("sleep 30", 300ms);
    auto took = std::chrono::steady_clock::now() - start;
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().category == Category::Timeout);
    CHECK(took < 5s);
  }
  SECTION("a command that closes stdout but keeps running still times out") {
    auto r = pw::run_command("exec >&-; sleep 30", 300ms);
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().category == Category::Timeout);
  }
  SECTION("the failing command's error is labelled with its source") {
    pw::Sources s;
    s.command = "exit 1";
    s.env = "unused";
    FakeTerminal t;
    auto r = pw::resolve(s, t, "");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.rfind("--password-command: ", 0) == 0);
    pw::Sources c;
    c.config_command = "exit 1";
    r = pw::resolve(c, t, "");
    REQUIRE_FALSE(r.has_value());
    CHECK(r.error().message.find("configuration file") != std::string::npos);
  }
}

// The real terminal, driven through a pseudo-terminal: a child process makes the pty its
// controlling terminal and prompts; the parent types and checks that nothing was echoed.
#include <csignal>
#include <pty.h>
#include <sys/wait.h>
#include <termios.h>
#include <poll.h>

namespace {

struct PtyChild {
  int master = -1;
  pid_t pid = -1;
  int result_fd = -1;  // the child writes "<exit tag>:<password or error>" here
};

// Forks a child whose controlling terminal is a new pty; it runs system_terminal().prompt().
PtyChild start_prompt_child(bool install_handler) {
  int master = -1, slave = -1;
  REQUIRE(::openpty(&master, &slave, nullptr, nullptr, nullptr) == 0);
  int res[2];
  REQUIRE(::pipe(res) == 0);
  pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    ::close(master);
    ::close(res[0]);
    ::setsid();
    ::ioctl(slave, TIOCSCTTY, 0);
    ::dup2(slave, STDIN_FILENO);
    // Catch installs its own handler; the child needs a known disposition.
    if (install_handler)
      std::signal(SIGINT, [](int) {});
    else
      std::signal(SIGINT, SIG_DFL);
    auto& t = pw::system_terminal();
    std::string out = t.interactive() ? "tty:" : "notty:";
    auto r = t.prompt("Password: ");
    out += r ? "ok:" + *r : "err:" + std::string(xnet::category_name(r.error().category));
    termios now{};
    ::tcgetattr(slave, &now);
    out += (now.c_lflag & ECHO) ? ":echo" : ":noecho";
    [[maybe_unused]] auto w = ::write(res[1], out.data(), out.size());
    ::_exit(0);
  }
  ::close(slave);
  ::close(res[1]);
  return {master, pid, res[0]};
}

// Reads from fd until text contains needle or the deadline passes.
std::string read_until(int fd, const std::string& needle, std::chrono::milliseconds limit) {
  std::string text;
  auto deadline = std::chrono::steady_clock::now() + limit;
  while (text.find(needle) == std::string::npos) {
    auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0) break;
    pollfd p{fd, POLLIN, 0};
    if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) break;
    char buf[256];
    ssize_t n = ::read(fd, buf, sizeof buf);
    if (n <= 0) break;
    text.append(buf, static_cast<std::size_t>(n));
  }
  return text;
}

std::string finish(PtyChild& c) {
  std::string result = read_until(c.result_fd, "echo", 5s);
  // A child that did not report within the bound is stuck: end it so the test fails, not hangs.
  if (result.find("echo") == std::string::npos) ::kill(c.pid, SIGKILL);
  int st = 0;
  ::waitpid(c.pid, &st, 0);
  ::close(c.result_fd);
  ::close(c.master);
  return result;
}

}  // namespace

TEST_CASE("the system terminal prompts without echo and restores the terminal", "[password][tty]") {
  auto c = start_prompt_child(false);
  std::string seen = read_until(c.master, "Password: ", 5s);
  REQUIRE(seen.find("Password: ") != std::string::npos);
  // The prompt text is written after echo is turned off, so typing now is not echoed.
  const char typed[] = "hunter2\n";
  REQUIRE(::write(c.master, typed, sizeof typed - 1) == static_cast<ssize_t>(sizeof typed - 1));
  std::string result = finish(c);
  CHECK(result == "tty:ok:hunter2:echo");
  // What the terminal showed after the prompt: at most the newline, never the password.
  std::string after = read_until(c.master, "\n", 200ms);
  CHECK(after.find("hunter2") == std::string::npos);
}

TEST_CASE("SIGINT at the prompt restores echo and reports an interruption", "[password][tty]") {
  for (bool handler : {false, true}) {
    SECTION(handler ? "caller has a SIGINT handler" : "default SIGINT disposition") {
      auto c = start_prompt_child(handler);
      std::string seen = read_until(c.master, "Password: ", 5s);
      REQUIRE(seen.find("Password: ") != std::string::npos);
      REQUIRE(::kill(c.pid, SIGINT) == 0);
      std::string result = finish(c);
      CHECK(result == "tty:err:interrupted:echo");
    }
  }
}
