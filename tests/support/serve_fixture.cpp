// SPDX-License-Identifier: MIT
#include "support/serve_fixture.hpp"

#include <csignal>
#include <stdexcept>
#include <thread>

namespace xnet::test {

ServeFixture::ServeFixture(ServeFixtureOptions options) : opts_(std::move(options)), dir_("xnet-serve") {
  auto state = state_dir();
  std::filesystem::create_directories(state);
  for (const auto& [user, pw] : opts_.users) {
    auto r = run_xnet({"serve", "user", "add", user, "--state-dir", state.string()}, {{"XNET_PASSWORD", pw}});
    if (r.exit_code != 0) throw std::runtime_error("xnet serve user add failed: " + r.err);
  }
  std::vector<std::string> argv{xnet_binary()};
  if (opts_.json_logs) argv.push_back("--json");
  argv.insert(argv.end(), {"serve", "--state-dir", state.string(), "--listen", "127.0.0.1", "--port", "0",
                           "--tls-port", "0", "--port-file", (dir_.path() / "ports.json").string()});
  if (opts_.ipv6) argv.insert(argv.end(), {"--listen", "::1"});
  if (!opts_.config_toml.empty()) {
    write_file(config_path(), opts_.config_toml);
    argv.insert(argv.end(), {"--server-config", config_path().string()});
  }
  argv.insert(argv.end(), opts_.extra_args.begin(), opts_.extra_args.end());
  Process::Options po;
  po.stdout_file = dir_.path() / "stdout";
  po.stderr_file = dir_.path() / "stderr";
  po.env["XDG_CONFIG_HOME"] = (dir_.path() / "config").string();
  proc_ = std::make_unique<Process>(argv, po);
  auto pf = dir_.path() / "ports.json";
  if (!wait_for_file(pf, std::chrono::seconds(15))) {
    throw std::runtime_error("xnet serve did not start: " + read_file(dir_.path() / "stderr"));
  }
  ready_ = nlohmann::json::parse(read_file(pf));
  c2s_port_ = ready_.at("c2s_port").get<std::uint16_t>();
  tls_port_ = ready_.at("direct_tls_port").get<std::uint16_t>();
  if (!wait_for_port("127.0.0.1", c2s_port_, std::chrono::seconds(5)))
    throw std::runtime_error("xnet serve port not accepting: " + log());
}

ServeFixture::~ServeFixture() {
  if (proc_) proc_->stop();
}

void ServeFixture::write_config(const std::string& toml) {
  auto tmp = config_path();
  tmp += ".new";
  write_file(tmp, toml);
  std::filesystem::rename(tmp, config_path());
}

void ServeFixture::reload() { proc_->signal(SIGHUP); }

std::string ServeFixture::log() const { return read_file(dir_.path() / "stderr"); }

bool ServeFixture::wait_log(const std::string& needle, std::chrono::milliseconds timeout) const {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (log().find(needle) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  return log().find(needle) != std::string::npos;
}

int ServeFixture::stop() { return proc_->stop(); }

}  // namespace xnet::test
