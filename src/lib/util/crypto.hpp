// SPDX-License-Identifier: MIT
#pragma once

// Small OpenSSL wrappers used by SASL (client and server), the component handshake and the
// certificate code.

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace xnet::crypto {

enum class Hash { Sha1, Sha256 };

/// Digest size in bytes of h.
std::size_t digest_size(Hash h);
/// H(data).
std::string digest(Hash h, std::string_view data);
/// HMAC-H(key, data).
std::string hmac(Hash h, std::string_view key, std::string_view data);
/// PBKDF2-HMAC-H(password, salt, iterations) with digest_size(h) output bytes (RFC 5802 Hi()).
std::string pbkdf2(Hash h, std::string_view password, std::string_view salt, int iterations);
/// Standard base64 with padding.
std::string base64(std::string_view bytes);
/// Strict base64 decoding (padding required, no whitespace); nullopt on bad input.
std::optional<std::string> unbase64(std::string_view text);
/// Lower-case hex.
std::string hex(std::string_view bytes);
/// n cryptographically random bytes.
std::string random_bytes(std::size_t n);
/// A random printable token of n characters (letters and digits).
std::string random_token(std::size_t n);
/// Constant-time comparison.
bool equal(std::string_view a, std::string_view b);

}  // namespace xnet::crypto
