// SPDX-License-Identifier: MIT
#include "mdns/txt.hpp"

#include <algorithm>

namespace xnet::mdns {
namespace {

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    auto x = static_cast<unsigned char>(a[i]);
    auto y = static_cast<unsigned char>(b[i]);
    if (x >= 'A' && x <= 'Z') x = static_cast<unsigned char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<unsigned char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

std::string item_string(const TxtItem& it) {
  return it.has_value ? it.key + "=" + it.value : it.key;
}

}  // namespace

const TxtItem* TxtRecord::find(std::string_view key) const {
  for (const auto& it : items_)
    if (iequals(it.key, key)) return &it;
  return nullptr;
}

std::optional<std::string> TxtRecord::get(std::string_view key) const {
  const auto* it = find(key);
  if (!it || !it->has_value) return std::nullopt;
  return it->value;
}

void TxtRecord::set(std::string key, std::string value) {
  for (auto& it : items_) {
    if (iequals(it.key, key)) {
      it.value = std::move(value);
      it.has_value = true;
      return;
    }
  }
  items_.push_back({std::move(key), std::move(value), true});
}

void TxtRecord::set_flag(std::string key) {
  for (auto& it : items_) {
    if (iequals(it.key, key)) {
      it.value.clear();
      it.has_value = false;
      return;
    }
  }
  items_.push_back({std::move(key), {}, false});
}

void TxtRecord::remove(std::string_view key) {
  std::erase_if(items_, [&](const TxtItem& it) { return iequals(it.key, key); });
}

std::vector<std::string> TxtRecord::strings() const {
  std::vector<std::string> out;
  out.reserve(items_.size());
  for (const auto& it : items_) out.push_back(item_string(it));
  return out;
}

bool valid_txt_key(std::string_view key) {
  if (key.empty()) return false;
  return std::all_of(key.begin(), key.end(), [](char c) {
    auto u = static_cast<unsigned char>(c);
    return u >= 0x20 && u <= 0x7E && c != '=';
  });
}

TxtRecord txt_from_strings(const std::vector<std::string>& strings, std::size_t* skipped) {
  TxtRecord rec;
  std::size_t bad = 0;
  for (const auto& s : strings) {
    auto eq = s.find('=');
    std::string_view key = std::string_view(s).substr(0, eq);
    // RFC 6763 §6.4: empty strings and strings with no key are ignored silently.
    if (key.empty() || !valid_txt_key(key)) {
      if (!s.empty()) ++bad;
      continue;
    }
    if (rec.contains(key)) {
      ++bad;
      continue;
    }
    if (eq == std::string::npos)
      rec.set_flag(std::string(key));
    else
      rec.set(std::string(key), s.substr(eq + 1));
  }
  if (skipped) *skipped = bad;
  return rec;
}

Result<std::vector<std::string>> split_txt_rdata(std::string_view rdata) {
  if (rdata.size() > kMaxTxtRdata)
    return fail(Category::Protocol, "TXT record larger than 65535 bytes");
  std::vector<std::string> out;
  std::size_t pos = 0;
  while (pos < rdata.size()) {
    std::size_t len = static_cast<unsigned char>(rdata[pos]);
    ++pos;
    if (len > rdata.size() - pos)
      return fail(Category::Protocol, "TXT string of " + std::to_string(len) +
                                          " bytes runs past the end of the record (offset " +
                                          std::to_string(pos - 1) + ")");
    out.emplace_back(rdata.substr(pos, len));
    pos += len;
  }
  return out;
}

Result<TxtRecord> decode_txt(std::string_view rdata) {
  auto strings = split_txt_rdata(rdata);
  if (!strings) return fail(strings.error());
  return txt_from_strings(*strings);
}

Result<std::string> encode_txt_strings(const std::vector<std::string>& strings) {
  std::string out;
  for (const auto& s : strings) {
    if (s.size() > kMaxTxtString)
      return fail(Category::Input, "TXT entry '" + s.substr(0, 20) + "...' is " +
                                       std::to_string(s.size()) + " bytes; the limit is 255");
    out.push_back(static_cast<char>(s.size()));
    out += s;
  }
  if (out.empty()) out.push_back('\0');
  if (out.size() > kMaxTxtRdata) return fail(Category::Input, "TXT record larger than 65535 bytes");
  return out;
}

Result<std::string> encode_txt(const TxtRecord& record) {
  for (const auto& it : record.items())
    if (!valid_txt_key(it.key))
      return fail(Category::Input, "invalid TXT key '" + it.key +
                                       "': keys are printable ASCII without '='");
  return encode_txt_strings(record.strings());
}

}  // namespace xnet::mdns
