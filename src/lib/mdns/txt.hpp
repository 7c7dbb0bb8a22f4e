// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"

namespace xnet::mdns {

/// RFC 6763 §6.1: each TXT string is at most 255 bytes.
inline constexpr std::size_t kMaxTxtString = 255;
/// RFC 6763 §6.1: a TXT record's RDATA is at most 65535 bytes.
inline constexpr std::size_t kMaxTxtRdata = 65535;

/// One decoded TXT attribute (RFC 6763 §6.4): `key=value`, `key=` (empty value) or `key`
/// (a boolean flag: has_value is false and value is empty). value is opaque bytes.
struct TxtItem {
  std::string key;
  std::string value;
  bool has_value = true;

  bool operator==(const TxtItem&) const = default;
};

/// A TXT record as an ordered list of attributes. Lookups are case-insensitive on the key and
/// return the first occurrence (RFC 6763 §6.4: a repeated key is ignored after the first).
class TxtRecord {
 public:
  TxtRecord() = default;

  /// The attributes in wire order, after decoding rules (first of duplicates kept).
  const std::vector<TxtItem>& items() const { return items_; }
  bool empty() const { return items_.empty(); }

  /// The first attribute whose key equals key case-insensitively, or nullptr.
  const TxtItem* find(std::string_view key) const;
  /// The value of key when present with a value (`key=value` or `key=`), else nullopt.
  std::optional<std::string> get(std::string_view key) const;
  /// True when key is present in any form (flag, empty or valued).
  bool contains(std::string_view key) const { return find(key) != nullptr; }

  /// Set key to value, replacing an existing attribute of that key in place, else appending.
  void set(std::string key, std::string value);
  /// Set key as a boolean flag (no `=`).
  void set_flag(std::string key);
  /// Remove every attribute of key.
  void remove(std::string_view key);

  /// The TXT strings this record encodes to (`key=value`, `key`), without length prefixes.
  std::vector<std::string> strings() const;

  bool operator==(const TxtRecord&) const = default;

 private:
  std::vector<TxtItem> items_;
};

/// True when key is a valid RFC 6763 §6.4 key: at least one byte, printable US-ASCII
/// 0x20..0x7E, no `=`.
bool valid_txt_key(std::string_view key);

/// Build a TxtRecord from TXT strings as delivered by an mDNS API (one string per entry,
/// no length bytes). Empty strings, strings starting with `=` and strings whose key is not
/// valid are skipped; a repeated key (case-insensitive) keeps the first. skipped (optional)
/// receives the number of ignored strings.
TxtRecord txt_from_strings(const std::vector<std::string>& strings, std::size_t* skipped = nullptr);

/// Split TXT RDATA into its length-prefixed strings. A length byte that runs past the end
/// of rdata is Category::Protocol. An empty rdata is accepted as "no strings" (some stacks send it).
Result<std::vector<std::string>> split_txt_rdata(std::string_view rdata);

/// Decode TXT RDATA (RFC 6763 §6) into a TxtRecord: split_txt_rdata, then txt_from_strings.
Result<TxtRecord> decode_txt(std::string_view rdata);

/// Encode record as TXT RDATA. An empty record gives the single zero byte RFC 6763 §6.1
/// requires. A string over 255 bytes, an invalid key or RDATA over 65535 bytes is Category::Input.
Result<std::string> encode_txt(const TxtRecord& record);

/// Encode plain TXT strings as RDATA (each checked against the 255-byte limit).
Result<std::string> encode_txt_strings(const std::vector<std::string>& strings);

}  // namespace xnet::mdns
