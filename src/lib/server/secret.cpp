// SPDX-License-Identifier: MIT
#include "server/secret.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "server/crypto.hpp"

namespace xnet::server {

Result<std::string> load_server_secret(const std::filesystem::path& state_dir) {
  auto path = state_dir / "server-secret";
  std::error_code ec;
  std::filesystem::create_directories(state_dir, ec);
  // O_EXCL: two servers starting on one state dir agree on the first one's secret.
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
  if (fd >= 0) {
    std::string text = crypto::base64(crypto::random_bytes(32)) + "\n";
    bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ok = ::fsync(fd) == 0 && ok;
    ::close(fd);
    if (!ok) {
      ::unlink(path.c_str());
      return fail(Category::Io, "cannot write " + path.string());
    }
  } else if (errno != EEXIST) {
    return fail(Category::Io, "cannot create " + path.string() + ": " + std::strerror(errno));
  }
  std::ifstream in(path);
  if (!in) return fail(Category::Io, "cannot read " + path.string());
  std::string line;
  std::getline(in, line);
  auto raw = crypto::unbase64(line);
  if (!raw || raw->size() < 16)
    return fail(Category::Config, path.string() + ": not a server secret", "delete it to have a new one made");
  return *raw;
}

}  // namespace xnet::server
