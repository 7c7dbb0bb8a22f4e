// SPDX-License-Identifier: MIT
#include "support/coturn.hpp"

#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <stdexcept>
#include <thread>

namespace xnet::test {
namespace {

bool udp_port_free(std::uint16_t port) {
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  if (fd < 0) return false;
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_port = htons(port);
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bool ok = ::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
  ::close(fd);
  return ok;
}

}  // namespace

std::optional<std::string> Coturn::unavailable() {
  if (!find_program("turnserver")) return "coturn (turnserver) is not installed (scripts/deps.sh test)";
  return std::nullopt;
}

Coturn::Coturn(CoturnOptions options) : opts_(std::move(options)), dir_("xnet-coturn") {
  if (auto why = unavailable()) throw std::runtime_error(*why);
  // One port free for both TCP and UDP (bounded attempts).
  for (int i = 0; i < 50 && port_ == 0; ++i) {
    auto p = free_port();
    if (udp_port_free(p)) port_ = p;
  }
  if (port_ == 0) throw std::runtime_error("no port free on both TCP and UDP");
  // Relay ports: a small range starting at a free UDP port (coturn needs a range, not port 0).
  std::uint16_t relay = 0;
  for (int i = 0; i < 50 && relay == 0; ++i) {
    auto p = free_udp_port();
    if (p < 65000 && p != port_ && udp_port_free(static_cast<std::uint16_t>(p + 1))) relay = p;
  }
  if (relay == 0) throw std::runtime_error("no free relay port range");
  const auto d = dir_.path().string();
  std::string cfg;
  cfg += "listening-ip=127.0.0.1\nrelay-ip=127.0.0.1\n";
  cfg += "listening-port=" + std::to_string(port_) + "\n";
  cfg += "min-port=" + std::to_string(relay) + "\nmax-port=" + std::to_string(relay + 20) + "\n";
  cfg += "use-auth-secret\nstatic-auth-secret=" + opts_.secret + "\nrealm=" + opts_.realm + "\n";
  if (opts_.tls) {
    std::tie(cert_, key_) = make_self_signed(dir_.path(), "localhost");
    do tls_port_ = free_port();
    while (tls_port_ == port_);
    cfg += "tls-listening-port=" + std::to_string(tls_port_) + "\ncert=" + cert_.string() + "\npkey=" +
           key_.string() + "\n";
  } else {
    cfg += "no-tls\n";
  }
  cfg += "no-dtls\nno-cli\nallow-loopback-peers\nfingerprint\n";
  cfg += "log-file=" + d + "/turn.log\nsimple-log\npidfile=" + d + "/turn.pid\n";
  cfg += "userdb=" + d + "/turndb\n";
  write_file(dir_.path() / "turnserver.conf", cfg);

  Process::Options po;
  po.stdout_file = dir_.path() / "stdout.log";
  po.stderr_file = dir_.path() / "stderr.log";
  proc_.emplace(std::vector<std::string>{"turnserver", "-c", (dir_.path() / "turnserver.conf").string()}, po);
  if (!wait_for_port("127.0.0.1", port_, std::chrono::seconds(10)) ||
      (tls_port_ && !wait_for_port("127.0.0.1", tls_port_, std::chrono::seconds(10)))) {
    auto l = log();
    proc_.reset();
    throw std::runtime_error("coturn did not open port " + std::to_string(port_) + ": " + l);
  }
}

Coturn::~Coturn() { proc_.reset(); }

std::string Coturn::log() const {
  return read_file(dir_.path() / "turn.log") + read_file(dir_.path() / "stderr.log") +
         read_file(dir_.path() / "stdout.log");
}

}  // namespace xnet::test
