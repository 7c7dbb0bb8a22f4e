// SPDX-License-Identifier: MIT
#include "xmpp/fast_store.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <algorithm>
#include <filesystem>
#include <tuple>
#include <vector>

#include "util/crypto.hpp"

namespace xnet::xmpp {

namespace {

constexpr std::size_t kMaxFile = 8192;

std::optional<std::string> read_small(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
  if (fd < 0) return std::nullopt;
  std::string out;
  char buf[1024];
  while (out.size() <= kMaxFile) {
    auto n = ::read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  if (out.size() > kMaxFile) return std::nullopt;
  return out;
}

// Write to a temporary file with mode 0600 and rename it over path.
Result<void> write_atomic(const std::string& path, std::string_view data) {
  std::string tmp = path + ".tmp." + std::to_string(::getpid());
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return fail(Category::Io, "cannot write " + tmp + ": " + std::strerror(errno));
  std::size_t off = 0;
  while (off < data.size()) {
    auto n = ::write(fd, data.data() + off, data.size() - off);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      int e = errno;
      ::close(fd);
      ::unlink(tmp.c_str());
      return fail(Category::Io, "cannot write " + tmp + ": " + std::strerror(e));
    }
    off += static_cast<std::size_t>(n);
  }
  ::fchmod(fd, 0600);
  if (::fsync(fd) != 0 || ::close(fd) != 0) {
    ::unlink(tmp.c_str());
    return fail(Category::Io, "cannot write " + tmp + ": " + std::strerror(errno));
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    int e = errno;
    ::unlink(tmp.c_str());
    return fail(Category::Io, "cannot replace " + path + ": " + std::strerror(e));
  }
  return {};
}

int digits(std::string_view s, std::size_t pos, std::size_t n, bool& ok) {
  int v = 0;
  if (pos + n > s.size()) {
    ok = false;
    return 0;
  }
  for (std::size_t i = pos; i < pos + n; ++i) {
    if (s[i] < '0' || s[i] > '9') {
      ok = false;
      return 0;
    }
    v = v * 10 + (s[i] - '0');
  }
  return v;
}

}  // namespace

std::string default_state_dir() {
  if (const char* x = std::getenv("XDG_STATE_HOME"); x && *x == '/') return std::string(x) + "/xnet";
  if (const char* h = std::getenv("HOME"); h && *h) return std::string(h) + "/.local/state/xnet";
  return {};
}

std::optional<std::chrono::system_clock::time_point> parse_xep0082(std::string_view s) {
  // CCYY-MM-DDThh:mm:ss[.sss]TZD
  bool ok = true;
  std::tm tm{};
  tm.tm_year = digits(s, 0, 4, ok) - 1900;
  tm.tm_mon = digits(s, 5, 2, ok) - 1;
  tm.tm_mday = digits(s, 8, 2, ok);
  tm.tm_hour = digits(s, 11, 2, ok);
  tm.tm_min = digits(s, 14, 2, ok);
  tm.tm_sec = digits(s, 17, 2, ok);
  if (!ok || s.size() < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
      s[16] != ':')
    return std::nullopt;
  std::size_t p = 19;
  if (p < s.size() && s[p] == '.') {
    ++p;
    while (p < s.size() && s[p] >= '0' && s[p] <= '9') ++p;
  }
  long offset = 0;
  if (p < s.size() && (s[p] == 'Z' || s[p] == 'z')) {
    ++p;
  } else if (p < s.size() && (s[p] == '+' || s[p] == '-')) {
    int sign = s[p] == '-' ? -1 : 1;
    int hh = digits(s, p + 1, 2, ok);
    int mm = digits(s, p + 4, 2, ok);
    if (!ok || p + 3 >= s.size() || s[p + 3] != ':') return std::nullopt;
    offset = sign * (hh * 3600L + mm * 60L);
    p += 6;
  } else {
    return std::nullopt;
  }
  if (p != s.size()) return std::nullopt;
  std::time_t t = ::timegm(&tm);
  if (t == static_cast<std::time_t>(-1)) return std::nullopt;
  return std::chrono::system_clock::from_time_t(t - offset);
}

TokenStore::TokenStore(std::string dir) : dir_(dir.empty() ? default_state_dir() : std::move(dir)) {}

std::string TokenStore::path_of(std::string_view account, std::string_view server) const {
  std::string key = std::string(account) + "\n" + std::string(server);
  return dir_ + "/fast-" + crypto::hex(crypto::digest(crypto::Hash::Sha256, key)).substr(0, 32);
}

Result<void> TokenStore::ensure_dir() const {
  if (dir_.empty()) return fail(Category::Config, "no state directory (neither XDG_STATE_HOME nor HOME is set)");
  std::error_code ec;
  std::filesystem::create_directories(dir_, ec);
  if (ec) return fail(Category::Io, "cannot create " + dir_ + ": " + ec.message());
  ::chmod(dir_.c_str(), 0700);
  return {};
}

namespace {
constexpr std::string_view kFormat = "xnet-fast-token 1";

bool has_break(std::string_view s) { return s.find_first_of("\r\n") != std::string_view::npos; }
}  // namespace

std::optional<StoredToken> TokenStore::parse(const std::string& path, std::chrono::system_clock::time_point now) {
  auto text = read_small(path);
  if (!text) return std::nullopt;
  std::vector<std::string> lines;
  std::size_t pos = 0;
  while (pos < text->size() && lines.size() < 7) {
    auto nl = text->find('\n', pos);
    if (nl == std::string::npos) nl = text->size();
    lines.push_back(text->substr(pos, nl - pos));
    pos = nl + 1;
  }
  if (lines.size() != 6 || lines[0] != kFormat) return std::nullopt;
  StoredToken t;
  t.account = lines[1];
  t.server = lines[2];
  t.token = FastToken{lines[3], lines[4], lines[5]};
  t.path = path;
  if (t.account.empty() || t.server.empty() || t.token.mechanism.empty() || t.token.token.empty()) return std::nullopt;
  if (!t.token.expiry.empty()) {
    auto when = parse_xep0082(t.token.expiry);
    t.expired = !when || *when <= now;
  }
  return t;
}

std::optional<FastToken> TokenStore::load(std::string_view account, std::string_view server,
                                          std::chrono::system_clock::time_point now) const {
  if (dir_.empty()) return std::nullopt;
  auto t = parse(path_of(account, server), now);
  if (!t || t->expired || t->account != account || t->server != server) return std::nullopt;
  return t->token;
}

Result<void> TokenStore::save(std::string_view account, std::string_view server, const FastToken& token) {
  if (token.token.empty()) {
    auto r = forget(account, server);
    if (!r) return fail(r.error());
    return {};
  }
  if (has_break(token.token) || has_break(token.mechanism) || has_break(token.expiry))
    return fail(Category::Protocol, "the server's FAST token contains a line break");
  if (has_break(account) || has_break(server) || account.empty() || server.empty())
    return fail(Category::Usage, "cannot store a FAST token for an empty or multi-line account or server");
  if (auto r = ensure_dir(); !r) return r;
  std::string data = std::string(kFormat) + "\n" + std::string(account) + "\n" + std::string(server) + "\n" +
                     token.mechanism + "\n" + token.token + "\n" + token.expiry + "\n";
  return write_atomic(path_of(account, server), data);
}

Result<bool> TokenStore::forget(std::string_view account, std::string_view server) {
  if (dir_.empty()) return false;
  auto p = path_of(account, server);
  if (::unlink(p.c_str()) != 0) {
    if (errno == ENOENT) return false;
    return fail(Category::Io, "cannot remove " + p + ": " + std::strerror(errno));
  }
  return true;
}

std::vector<StoredToken> TokenStore::list(std::chrono::system_clock::time_point now) const {
  std::vector<StoredToken> out;
  if (dir_.empty()) return out;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir_, ec), end;
  if (ec) return out;
  for (; it != end; it.increment(ec)) {
    if (ec) break;
    auto name = it->path().filename().string();
    if (!name.starts_with("fast-") || name.find('.') != std::string::npos) continue;
    if (auto t = parse(it->path().string(), now)) out.push_back(std::move(*t));
  }
  std::sort(out.begin(), out.end(), [](const StoredToken& a, const StoredToken& b) {
    return std::tie(a.account, a.server) < std::tie(b.account, b.server);
  });
  return out;
}

Result<std::vector<StoredToken>> TokenStore::forget_account(std::string_view account) {
  std::vector<StoredToken> removed;
  for (auto& t : list()) {
    if (t.account != account) continue;
    if (::unlink(t.path.c_str()) != 0 && errno != ENOENT)
      return fail(Category::Io, "cannot remove " + t.path + ": " + std::strerror(errno));
    removed.push_back(std::move(t));
  }
  return removed;
}

Result<std::size_t> TokenStore::forget_all() {
  std::size_t n = 0;
  if (dir_.empty()) return n;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir_, ec), end;
  if (ec) return n;  // no directory: nothing stored
  for (; it != end; it.increment(ec)) {
    if (ec) break;
    auto name = it->path().filename().string();
    if (!name.starts_with("fast-")) continue;
    // Leftover temporary files go too, but only tokens are counted.
    if (std::filesystem::remove(it->path(), ec) && name.find('.') == std::string::npos) ++n;
  }
  if (ec) return fail(Category::Io, "cannot clean " + dir_ + ": " + ec.message());
  return n;
}

std::string TokenStore::client_id() {
  if (dir_.empty()) return {};
  std::string path = dir_ + "/client-id";
  if (auto t = read_small(path)) {
    auto id = t->substr(0, t->find('\n'));
    if (id.size() == 36) return id;
  }
  auto b = crypto::random_bytes(16);
  b[6] = static_cast<char>((b[6] & 0x0f) | 0x40);  // RFC 9562 version 4
  b[8] = static_cast<char>((b[8] & 0x3f) | 0x80);
  auto h = crypto::hex(b);
  std::string id = h.substr(0, 8) + "-" + h.substr(8, 4) + "-" + h.substr(12, 4) + "-" + h.substr(16, 4) + "-" +
                   h.substr(20);
  if (!ensure_dir() || !write_atomic(path, id + "\n")) return {};
  return id;
}

}  // namespace xnet::xmpp
