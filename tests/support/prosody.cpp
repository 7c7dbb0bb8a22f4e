// SPDX-License-Identifier: MIT
#include "support/prosody.hpp"

#include <pwd.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <stdexcept>
#include <thread>

namespace xnet::test {

namespace {
// Prosody runs as its own user; a file it cannot read shows up as its start-up error, so a
// failed chown here needs no report of its own.
void chown_tree(const std::filesystem::path& p, uid_t uid, gid_t gid) {
  if (::chown(p.c_str(), uid, gid) != 0) return;
  if (std::filesystem::is_directory(p))
    for (const auto& e : std::filesystem::recursive_directory_iterator(p))
      if (::chown(e.path().c_str(), uid, gid) != 0) return;
}
}  // namespace

std::optional<std::string> Prosody::unavailable() {
  if (!find_program("prosody") || !find_program("prosodyctl")) return "prosody is not installed (scripts/deps.sh test)";
  if (::geteuid() != 0) return "starting prosody as user 'prosody' needs root";
  if (!::getpwnam("prosody")) return "no 'prosody' user";
  if (!std::filesystem::exists("/usr/lib/prosody/modules/mod_ipcheck/mod_ipcheck.lua"))
    return "prosody-modules (mod_ipcheck) is not installed";
  return std::nullopt;
}

Prosody::Prosody(ProsodyOptions options) : opts_(std::move(options)), dir_("xnet-prosody") {
  if (auto why = unavailable()) throw std::runtime_error(*why);
  std::filesystem::permissions(dir_.path(), std::filesystem::perms::owner_all | std::filesystem::perms::group_exec |
                                                std::filesystem::perms::others_exec);
  std::tie(cert_, key_) = make_self_signed(dir_.path(), opts_.domain);
  c2s_port_ = free_port();
  do tls_port_ = free_port();
  while (tls_port_ == c2s_port_);
  if (!opts_.components.empty()) {
    do component_port_ = free_port();
    while (component_port_ == c2s_port_ || component_port_ == tls_port_);
  }
  std::filesystem::create_directories(dir_.path() / "data");
  write_config();
  auto* pw = ::getpwnam("prosody");
  chown_tree(dir_.path(), pw->pw_uid, pw->pw_gid);

  // prosody -D daemonises; runuser returns once the daemon has forked.
  auto r = run({"runuser", "-u", "prosody", "--", "prosody", "--config", config_.string(), "-D"}, {}, std::nullopt,
               std::chrono::seconds(30));
  if (r.exit_code != 0) throw std::runtime_error("prosody failed to start: " + r.err + log());
  if (!wait_for_file(dir_.path() / "prosody.pid", std::chrono::seconds(15)))
    throw std::runtime_error("prosody wrote no pidfile: " + log());
  pid_ = std::stoi(read_file(dir_.path() / "prosody.pid"));
  if (!wait_for_port("127.0.0.1", c2s_port_, std::chrono::seconds(15)) ||
      !wait_for_port("127.0.0.1", tls_port_, std::chrono::seconds(5)))
    throw std::runtime_error("prosody did not open its ports: " + log());
}

Prosody::~Prosody() {
  if (pid_ <= 0) return;
  ::kill(pid_, SIGTERM);
  auto until = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (::kill(pid_, 0) == 0 && std::chrono::steady_clock::now() < until)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // not our child: poll for its exit
  if (::kill(pid_, 0) == 0) ::kill(pid_, SIGKILL);
}

void Prosody::add_user(const std::string& user, const std::string& password) {
  auto r = run({"runuser", "-u", "prosody", "--", "prosodyctl", "--config", config_.string(), "register", user,
                opts_.domain, password},
               {}, std::nullopt, std::chrono::seconds(30));
  if (r.exit_code != 0) throw std::runtime_error("prosodyctl register failed: " + r.out + r.err);
}

std::string Prosody::log() const { return read_file(dir_.path() / "prosody.log"); }

void Prosody::write_config() {
  config_ = dir_.path() / "prosody.cfg.lua";
  std::string d = dir_.path().string();
  std::string mods;
  for (const auto& m : opts_.modules) mods += "\"" + m + "\"; ";
  std::string cfg;
  cfg += "pidfile = \"" + d + "/prosody.pid\"\n";
  cfg += "data_path = \"" + d + "/data\"\n";
  cfg += "log = { debug = \"" + d + "/prosody.log\" }\n";
  cfg += "daemonize = true\n";
  cfg += "interfaces = { \"127.0.0.1\" }\nlocal_interfaces = { \"127.0.0.1\" }\n";
  cfg += "c2s_ports = { " + std::to_string(c2s_port_) + " }\n";
  cfg += "c2s_direct_tls_ports = { " + std::to_string(tls_port_) + " }\n";
  cfg += "s2s_ports = { }\nhttp_ports = { }\nhttps_ports = { }\n";
  cfg += "c2s_require_encryption = true\n";
  cfg += "authentication = \"internal_hashed\"\n";
  cfg += "modules_enabled = { \"disco\"; \"saslauth\"; \"tls\"; \"ping\"; \"posix\"; " + mods + "}\n";
  cfg += "modules_disabled = { \"s2s\" }\n";
  cfg += "ssl = { certificate = \"" + cert_.string() + "\"; key = \"" + key_.string() + "\"; }\n";
  if (!opts_.nagle) cfg += "network_settings = { nagle = false }\n";
  if (!opts_.components.empty()) {
    cfg += "component_ports = { " + std::to_string(component_port_) + " }\n";
    cfg += "component_interfaces = { \"127.0.0.1\" }\n";
  }
  cfg += opts_.global_config + "\n";
  cfg += "VirtualHost \"" + opts_.domain + "\"\n";
  cfg += opts_.host_config + "\n";
  for (const auto& [name, secret] : opts_.components)
    cfg += "Component \"" + name + "\"\n  component_secret = \"" + secret + "\"\n";
  write_file(config_, cfg);
}

}  // namespace xnet::test
