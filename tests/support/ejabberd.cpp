// SPDX-License-Identifier: MIT
#include "support/ejabberd.hpp"

#include <dirent.h>
#include <pwd.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <random>
#include <set>
#include <stdexcept>
#include <thread>

namespace xnet::test {

namespace {

// ejabberd runs as its own user; a file it cannot read shows up as its start-up error.
void chown_tree(const std::filesystem::path& p, uid_t uid, gid_t gid) {
  if (::chown(p.c_str(), uid, gid) != 0) return;
  if (std::filesystem::is_directory(p))
    for (const auto& e : std::filesystem::recursive_directory_iterator(p))
      if (::chown(e.path().c_str(), uid, gid) != 0) return;
}

std::string random_hex(std::size_t n) {
  std::random_device rd;
  std::string s;
  const char* digits = "0123456789abcdef";
  for (std::size_t i = 0; i < n; ++i) s += digits[rd() % 16];
  return s;
}

std::string proc_file(pid_t pid, const char* what) { return read_file("/proc/" + std::to_string(pid) + "/" + what); }

/// PIDs of every running process whose command name is comm.
std::set<pid_t> pids_named(const std::string& comm) {
  std::set<pid_t> out;
  DIR* d = ::opendir("/proc");
  if (!d) return out;
  while (auto* e = ::readdir(d)) {
    char* end = nullptr;
    long pid = std::strtol(e->d_name, &end, 10);
    if (pid <= 0 || *end != '\0') continue;
    auto c = proc_file(static_cast<pid_t>(pid), "comm");
    if (!c.empty() && c.back() == '\n') c.pop_back();
    if (c == comm) out.insert(static_cast<pid_t>(pid));
  }
  ::closedir(d);
  return out;
}

/// The beam.smp whose command line names node (unique per fixture), or -1.
pid_t beam_of(const std::string& node) {
  for (pid_t pid : pids_named("beam.smp")) {
    auto cmd = proc_file(pid, "cmdline");
    std::replace(cmd.begin(), cmd.end(), '\0', ' ');
    if (cmd.find(" " + node + " ") != std::string::npos) return pid;
  }
  return -1;
}

bool alive(pid_t pid) { return pid > 0 && ::kill(pid, 0) == 0; }

/// Wait for pid to exit (it is not our child: poll), up to timeout.
bool wait_gone(pid_t pid, std::chrono::milliseconds timeout) {
  auto until = std::chrono::steady_clock::now() + timeout;
  auto step = std::chrono::milliseconds(5);
  while (alive(pid)) {
    if (std::chrono::steady_clock::now() >= until) return false;
    std::this_thread::sleep_for(step);
    step = std::min(step * 2, std::chrono::milliseconds(50));
  }
  return true;
}

void terminate(pid_t pid) {
  if (!alive(pid)) return;
  ::kill(pid, SIGTERM);  // beam.smp: SIGTERM runs init:stop(), a clean shutdown
  if (!wait_gone(pid, std::chrono::seconds(10))) {
    ::kill(pid, SIGKILL);
    wait_gone(pid, std::chrono::seconds(5));
  }
}

}  // namespace

std::optional<std::string> Ejabberd::unavailable() {
  if (!find_program("ejabberdctl") || !find_program("erl")) return "ejabberd is not installed (scripts/deps.sh test)";
  if (::geteuid() != 0) return "starting ejabberd as user 'ejabberd' needs root";
  if (!::getpwnam("ejabberd")) return "no 'ejabberd' user";
  return std::nullopt;
}

Ejabberd::Ejabberd(EjabberdOptions options) : opts_(std::move(options)), dir_("xnet-ejabberd") {
  if (auto why = unavailable()) throw std::runtime_error(*why);
  std::filesystem::permissions(dir_.path(), std::filesystem::perms::owner_all | std::filesystem::perms::group_exec |
                                                std::filesystem::perms::others_exec);
  etc_ = dir_.path() / "etc";
  std::filesystem::create_directories(etc_);
  std::filesystem::create_directories(dir_.path() / "spool");
  std::filesystem::create_directories(dir_.path() / "log");
  std::string bundle;
  std::vector<std::string> hosts{opts_.domain};
  hosts.insert(hosts.end(), opts_.plain_hosts.begin(), opts_.plain_hosts.end());
  for (const auto& h : hosts) {
    certs_.emplace_back(h, make_self_signed(etc_, h));
    bundle += read_file(certs_.back().second.first);
  }
  ca_ = dir_.path() / "ca.pem";
  write_file(ca_, bundle);

  std::set<std::uint16_t> used;
  auto pick = [&used] {
    std::uint16_t p = 0;
    for (int i = 0; i < 50 && (p == 0 || used.count(p)); ++i) p = free_port();
    used.insert(p);
    return p;
  };
  c2s_port_ = pick();
  tls_port_ = pick();
  dist_port_ = pick();
  if (!opts_.components.empty()) component_port_ = pick();
  node_ = "xnet" + random_hex(8) + "@localhost";
  cookie_ = random_hex(24);
  write_config();
  auto* pw = ::getpwnam("ejabberd");
  chown_tree(dir_.path(), pw->pw_uid, pw->pw_gid);

  const auto epmd_before = pids_named("epmd");
  // `start` runs `erl -detached`: it returns at once, beam.smp lives on as a daemon.
  auto r = ctl({"start"});
  for (pid_t p : pids_named("epmd"))
    if (!epmd_before.count(p)) epmd_pids_.push_back(p);
  if (r.exit_code != 0) {
    stop();
    throw std::runtime_error("ejabberdctl start failed (" + std::to_string(r.exit_code) + "): " + r.out + r.err + log());
  }
  // Ready: ejabberd logs "... is started in the node ..." once every module is up, then opens
  // its listeners. A beam that died (bad config) ends the wait early.
  const auto pidfile = dir_.path() / "ejabberd.pid";
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  auto step = std::chrono::milliseconds(5);
  bool started = false;
  while (std::chrono::steady_clock::now() < until) {
    if (pid_ <= 0) {
      auto text = read_file(pidfile);
      if (!text.empty()) pid_ = std::stoi(text);
    }
    if (pid_ <= 0) pid_ = beam_of(node_);
    if (read_file(dir_.path() / "log" / "ejabberd.log").find("is started in the node") != std::string::npos) {
      started = true;
      break;
    }
    if (pid_ > 0 && !alive(pid_)) break;
    std::this_thread::sleep_for(step);
    step = std::min(step * 2, std::chrono::milliseconds(50));
  }
  for (pid_t p : pids_named("epmd"))
    if (!epmd_before.count(p) && std::find(epmd_pids_.begin(), epmd_pids_.end(), p) == epmd_pids_.end())
      epmd_pids_.push_back(p);
  if (!started) {
    auto l = log();
    stop();
    throw std::runtime_error("ejabberd did not start (node " + node_ + "): " + l);
  }
  for (auto port : {c2s_port_, tls_port_, component_port_})
    if (port && !wait_for_port("127.0.0.1", port, std::chrono::seconds(10))) {
      auto l = log();
      stop();
      throw std::runtime_error("ejabberd did not open port " + std::to_string(port) + ": " + l);
    }
}

Ejabberd::~Ejabberd() { stop(); }

void Ejabberd::stop() {
  if (pid_ <= 0) pid_ = beam_of(node_);  // started but not yet known by its pidfile
  terminate(pid_);
  pid_ = -1;
  // Only an epmd that appeared while this node started (none is expected): by its PID.
  for (pid_t p : epmd_pids_) {
    auto c = proc_file(p, "comm");
    if (c.rfind("epmd", 0) == 0) terminate(p);
  }
  epmd_pids_.clear();
}

RunResult Ejabberd::ctl(std::vector<std::string> args) const {
  std::vector<std::string> argv{"ejabberdctl", "--config-dir", etc_.string(), "--spool",
                                (dir_.path() / "spool").string(), "--logs", (dir_.path() / "log").string()};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv, {}, std::nullopt, std::chrono::seconds(30));
}

void Ejabberd::add_user(const std::string& user, const std::string& password, const std::string& host) {
  auto r = ctl({"register", user, host.empty() ? opts_.domain : host, password});
  if (r.exit_code != 0) throw std::runtime_error("ejabberdctl register failed: " + r.out + r.err);
}

std::string Ejabberd::log() const {
  return read_file(dir_.path() / "log" / "ejabberd.log") + read_file(dir_.path() / "log" / "error.log");
}

void Ejabberd::write_config() {
  const std::string d = dir_.path().string();
  // ejabberdctl.cfg: a fixed loopback distribution port (ERL_DIST_PORT) makes ejabberdctl pass
  // -start_epmd false to the node and every ctl client, so no epmd listens on 0.0.0.0:4369.
  // ERL_EPMD_ADDRESS is set as well in case something starts one anyway. The interface option
  // is given to erl directly (INET_DIST_INTERFACE costs an extra erl run per ejabberdctl call).
  std::string ctl;
  ctl += "ERLANG_NODE=" + node_ + "\n";
  ctl += "ERL_DIST_PORT=" + std::to_string(dist_port_) + "\n";
  ctl += "ERL_EPMD_ADDRESS=127.0.0.1\n";
  ctl += "ERL_OPTIONS=\"-setcookie " + cookie_ +
         " -kernel inet_dist_use_interface {127,0,0,1} -env ERL_CRASH_DUMP_BYTES 0\"\n";
  ctl += "EJABBERD_PID_PATH=" + d + "/ejabberd.pid\n";
  ctl += "CONTRIB_MODULES_PATH=" + d + "/contrib\n";
  ctl += "EJABBERD_BYPASS_WARNINGS=true\n";
  write_file(etc_ / "ejabberdctl.cfg", ctl);
  // Name lookups from files only: "localhost" must not reach a resolver.
  write_file(etc_ / "inetrc", "{lookup,[\"file\",\"native\"]}.\n{host,{127,0,0,1}, [\"localhost\"]}.\n"
                              "{file, resolv, \"/etc/resolv.conf\"}.\n");

  std::string y;
  y += "loglevel: info\nlog_rotate_count: 0\n";
  y += "hosts:\n  - \"" + opts_.domain + "\"\n";
  for (const auto& h : opts_.plain_hosts) y += "  - \"" + h + "\"\n";
  y += "certfiles:\n";
  for (const auto& [host, files] : certs_)
    y += "  - \"" + files.first.string() + "\"\n  - \"" + files.second.string() + "\"\n";
  y += "acme:\n  auto: false\n";
  y += "listen:\n";
  y += "  -\n    port: " + std::to_string(c2s_port_) +
       "\n    ip: \"127.0.0.1\"\n    module: ejabberd_c2s\n    max_stanza_size: 262144\n"
       "    access: c2s\n    starttls_required: true\n";
  y += "  -\n    port: " + std::to_string(tls_port_) +
       "\n    ip: \"127.0.0.1\"\n    module: ejabberd_c2s\n    max_stanza_size: 262144\n"
       "    access: c2s\n    tls: true\n";
  if (!opts_.components.empty()) {
    y += "  -\n    port: " + std::to_string(component_port_) +
         "\n    ip: \"127.0.0.1\"\n    module: ejabberd_service\n    hosts:\n";
    for (const auto& [name, secret] : opts_.components)
      y += "      \"" + name + "\":\n        password: \"" + secret + "\"\n";
  }
  // As Debian's default: no DIGEST-MD5, X-OAUTH2 left on (offered, never picked by xnet).
  y += "disable_sasl_mechanisms:\n  - \"digest-md5\"\n";
  y += "auth_method: internal\nauth_password_format: scram\n";
  y += "acl:\n  local:\n    user_regexp: \"\"\n";
  y += "access_rules:\n  local:\n    allow: local\n  c2s:\n    allow: all\n";
  y += "api_permissions:\n  \"console commands\":\n    from:\n      - ejabberd_ctl\n    who: all\n    what: \"*\"\n";
  std::string ping = "{}";
  if (opts_.ping_interval > 0)
    ping = "\n    send_pings: true\n    ping_interval: " + std::to_string(opts_.ping_interval) +
           "\n    ping_ack_timeout: 5\n    timeout_action: kill";  // 5 s: room for a loaded CI machine
  y += "modules:\n  mod_disco: {}\n  mod_ping: " + ping + "\n  mod_sic: {}\n";
  if (!opts_.stun_services.empty()) {
    y += "  mod_stun_disco:\n    offer_local_services: false\n    secret: \"" + opts_.stun_secret +
         "\"\n    services:\n";
    for (const auto& s : opts_.stun_services)
      y += "      -\n        host: " + s.host + "\n        port: " + std::to_string(s.port) + "\n        type: " +
           s.type + "\n        transport: " + s.transport + "\n        restricted: " +
           (s.restricted ? "true" : "false") + "\n";
  }
  if (!opts_.plain_hosts.empty()) {
    y += "host_config:\n";
    for (const auto& h : opts_.plain_hosts)
      y += "  \"" + h + "\":\n    modules:\n      mod_disco: {}\n      mod_ping: {}\n";
  }
  write_file(etc_ / "ejabberd.yml", y);
}

}  // namespace xnet::test
