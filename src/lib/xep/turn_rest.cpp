// SPDX-License-Identifier: MIT
#include "xep/turn_rest.hpp"

#include <algorithm>
#include <cctype>

#include <openssl/evp.h>
#include <openssl/hmac.h>

namespace xnet::turn_rest {
namespace {

std::string base64(const unsigned char* data, std::size_t n) {
  std::string out(4 * ((n + 2) / 3) + 1, '\0');
  int len = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(n));
  out.resize(static_cast<std::size_t>(len));
  return out;
}

// A Unix timestamp as TURN REST servers print it: decimal digits only, 9 to 11 of them
// (1973 to 5138), so that short numeric user IDs are not read as times.
std::optional<long long> timestamp(std::string_view s) {
  if (s.size() < 9 || s.size() > 11) return std::nullopt;
  if (!std::all_of(s.begin(), s.end(), [](unsigned char c) { return std::isdigit(c) != 0; })) return std::nullopt;
  return std::stoll(std::string(s));
}

}  // namespace

std::string password_for(std::string_view secret, std::string_view username) {
  unsigned char mac[EVP_MAX_MD_SIZE];
  unsigned len = 0;
  static const unsigned char kEmpty = 0;
  HMAC(EVP_sha1(), secret.empty() ? static_cast<const void*>(&kEmpty) : static_cast<const void*>(secret.data()), static_cast<int>(secret.size()),
       reinterpret_cast<const unsigned char*>(username.data()), username.size(), mac, &len);
  return base64(mac, len);
}

Credentials generate(std::string_view secret, long long expiry_unix, std::string_view user) {
  Credentials c;
  c.expiry = expiry_unix;
  c.username = std::to_string(expiry_unix);
  if (!user.empty()) c.username.append(":").append(user);
  c.password = password_for(secret, c.username);
  return c;
}

std::optional<Username> decode_username(std::string_view username) {
  auto colon = username.find(':');
  if (colon == std::string_view::npos) {
    if (auto t = timestamp(username)) return Username{*t, {}};
    return std::nullopt;
  }
  if (auto t = timestamp(username.substr(0, colon))) return Username{*t, std::string(username.substr(colon + 1))};
  auto last = username.rfind(':');
  if (auto t = timestamp(username.substr(last + 1))) return Username{*t, std::string(username.substr(0, last))};
  return std::nullopt;
}

}  // namespace xnet::turn_rest
