// SPDX-License-Identifier: MIT
#include "stun/message.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include <algorithm>
#include <cstring>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>

namespace xnet::stun {
namespace {

std::uint16_t get16(const std::uint8_t* p) { return static_cast<std::uint16_t>((p[0] << 8) | p[1]); }
std::uint32_t get32(const std::uint8_t* p) {
  return (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) | (std::uint32_t{p[2]} << 8) | p[3];
}
void put16(std::uint8_t* p, std::uint16_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 8);
  p[1] = static_cast<std::uint8_t>(v);
}
void put32(std::uint8_t* p, std::uint32_t v) {
  p[0] = static_cast<std::uint8_t>(v >> 24);
  p[1] = static_cast<std::uint8_t>(v >> 16);
  p[2] = static_cast<std::uint8_t>(v >> 8);
  p[3] = static_cast<std::uint8_t>(v);
}

std::string hex16(std::uint16_t v) {
  char b[8];
  std::snprintf(b, sizeof b, "0x%04x", v);
  return b;
}

// Attribute types this codec understands or knows to be harmless. Anything else below 0x8000
// is an unknown comprehension-required attribute. The RFC 3489 leftovers (RESPONSE-ADDRESS,
// SOURCE-ADDRESS, CHANGED-ADDRESS, REFLECTED-FROM) are here because RFC 5389 clients must
// tolerate them in Binding responses.
bool known_required(std::uint16_t t) {
  switch (t) {
    case attr::MappedAddress: case attr::ResponseAddress: case attr::ChangeRequest:
    case attr::SourceAddress: case attr::ChangedAddress: case attr::Username:
    case attr::Password: case attr::MessageIntegrity: case attr::ErrorCode:
    case attr::UnknownAttributes: case attr::ReflectedFrom: case attr::ChannelNumber:
    case attr::Lifetime: case attr::XorPeerAddress: case attr::Data: case attr::Realm:
    case attr::Nonce: case attr::XorRelayedAddress: case attr::RequestedAddressFamily:
    case attr::EvenPort: case attr::RequestedTransport: case attr::DontFragment:
    case attr::MessageIntegritySha256: case attr::PasswordAlgorithm: case attr::Userhash:
    case attr::XorMappedAddress: case attr::ReservationToken: case attr::Priority:
    case attr::UseCandidate: case attr::Padding: case attr::ResponsePort:
      return true;
    default:
      return false;
  }
}

std::vector<std::uint8_t> hmac(const EVP_MD* md, std::span<const std::uint8_t> key,
                               std::span<const std::uint8_t> data) {
  std::vector<std::uint8_t> out(EVP_MAX_MD_SIZE);
  unsigned len = 0;
  static const std::uint8_t kEmpty = 0;
  HMAC(md, key.empty() ? &kEmpty : key.data(), static_cast<int>(key.size()), data.data(), data.size(),
       out.data(), &len);
  out.resize(len);
  return out;
}

std::vector<std::uint8_t> digest(const EVP_MD* md, std::string_view data) {
  std::vector<std::uint8_t> out(EVP_MAX_MD_SIZE);
  unsigned len = 0;
  EVP_Digest(data.data(), data.size(), out.data(), &len, md, nullptr);
  out.resize(len);
  return out;
}

// Decodes one UTF-8 sequence at s[i]; returns the code point and advances i. Invalid bytes come
// back as themselves so that the password is passed through unchanged.
std::uint32_t next_code_point(std::string_view s, std::size_t& i, std::size_t& len) {
  auto c = static_cast<unsigned char>(s[i]);
  len = 1;
  if (c < 0x80) return c;
  int extra = (c >= 0xF0 && c < 0xF8) ? 3 : (c >= 0xE0) ? 2 : (c >= 0xC0) ? 1 : -1;
  if (extra < 0 || i + static_cast<std::size_t>(extra) >= s.size()) return 0xFFFFFFFF;
  std::uint32_t cp = c & (0x3F >> extra);
  for (int k = 1; k <= extra; ++k) {
    auto d = static_cast<unsigned char>(s[i + static_cast<std::size_t>(k)]);
    if ((d & 0xC0) != 0x80) return 0xFFFFFFFF;
    cp = (cp << 6) | (d & 0x3F);
  }
  len = static_cast<std::size_t>(extra) + 1;
  return cp;
}

bool maps_to_nothing(std::uint32_t cp) {
  return cp == 0x00AD || cp == 0x034F || cp == 0x1806 || (cp >= 0x180B && cp <= 0x180D) ||
         (cp >= 0x200B && cp <= 0x200D) || cp == 0x2060 || (cp >= 0xFE00 && cp <= 0xFE0F) ||
         cp == 0xFEFF;
}

bool non_ascii_space(std::uint32_t cp) {
  return cp == 0x00A0 || cp == 0x1680 || (cp >= 0x2000 && cp <= 0x200A) || cp == 0x202F ||
         cp == 0x205F || cp == 0x3000;
}

std::string prepare_password(std::string_view password) {
  std::string out;
  out.reserve(password.size());
  for (std::size_t i = 0; i < password.size();) {
    std::size_t len = 1;
    std::uint32_t cp = next_code_point(password, i, len);
    if (cp != 0xFFFFFFFF && maps_to_nothing(cp)) {
    } else if (cp != 0xFFFFFFFF && non_ascii_space(cp)) {
      out.push_back(' ');
    } else {
      out.append(password.substr(i, len));
    }
    i += len;
  }
  return out;
}

}  // namespace

std::string attribute_name(std::uint16_t type) {
  switch (type) {
    case attr::MappedAddress: return "MAPPED-ADDRESS";
    case attr::ResponseAddress: return "RESPONSE-ADDRESS";
    case attr::ChangeRequest: return "CHANGE-REQUEST";
    case attr::SourceAddress: return "SOURCE-ADDRESS";
    case attr::ChangedAddress: return "CHANGED-ADDRESS";
    case attr::Username: return "USERNAME";
    case attr::Password: return "PASSWORD";
    case attr::MessageIntegrity: return "MESSAGE-INTEGRITY";
    case attr::ErrorCode: return "ERROR-CODE";
    case attr::UnknownAttributes: return "UNKNOWN-ATTRIBUTES";
    case attr::ReflectedFrom: return "REFLECTED-FROM";
    case attr::ChannelNumber: return "CHANNEL-NUMBER";
    case attr::Lifetime: return "LIFETIME";
    case attr::XorPeerAddress: return "XOR-PEER-ADDRESS";
    case attr::Data: return "DATA";
    case attr::Realm: return "REALM";
    case attr::Nonce: return "NONCE";
    case attr::XorRelayedAddress: return "XOR-RELAYED-ADDRESS";
    case attr::RequestedAddressFamily: return "REQUESTED-ADDRESS-FAMILY";
    case attr::EvenPort: return "EVEN-PORT";
    case attr::RequestedTransport: return "REQUESTED-TRANSPORT";
    case attr::DontFragment: return "DONT-FRAGMENT";
    case attr::MessageIntegritySha256: return "MESSAGE-INTEGRITY-SHA256";
    case attr::PasswordAlgorithm: return "PASSWORD-ALGORITHM";
    case attr::Userhash: return "USERHASH";
    case attr::XorMappedAddress: return "XOR-MAPPED-ADDRESS";
    case attr::ReservationToken: return "RESERVATION-TOKEN";
    case attr::Priority: return "PRIORITY";
    case attr::UseCandidate: return "USE-CANDIDATE";
    case attr::Padding: return "PADDING";
    case attr::ResponsePort: return "RESPONSE-PORT";
    case attr::PasswordAlgorithms: return "PASSWORD-ALGORITHMS";
    case attr::AlternateDomain: return "ALTERNATE-DOMAIN";
    case attr::XorMappedAddressOld: return "XOR-MAPPED-ADDRESS(0x8020)";
    case attr::Software: return "SOFTWARE";
    case attr::AlternateServer: return "ALTERNATE-SERVER";
    case attr::CacheTimeout: return "CACHE-TIMEOUT";
    case attr::Fingerprint: return "FINGERPRINT";
    case attr::IceControlled: return "ICE-CONTROLLED";
    case attr::IceControlling: return "ICE-CONTROLLING";
    case attr::ResponseOrigin: return "RESPONSE-ORIGIN";
    case attr::OtherAddress: return "OTHER-ADDRESS";
    default: return hex16(type);
  }
}

std::string method_name(Method method) {
  switch (method) {
    case Method::Binding: return "Binding";
    case Method::SharedSecret: return "SharedSecret";
    case Method::Allocate: return "Allocate";
    case Method::Refresh: return "Refresh";
    case Method::Send: return "Send";
    case Method::Data: return "Data";
    case Method::CreatePermission: return "CreatePermission";
    case Method::ChannelBind: return "ChannelBind";
  }
  return "method " + hex16(static_cast<std::uint16_t>(method));
}

std::string_view class_name(MessageClass cls) {
  switch (cls) {
    case MessageClass::Request: return "request";
    case MessageClass::Indication: return "indication";
    case MessageClass::Success: return "success response";
    case MessageClass::Error: return "error response";
  }
  return "?";
}

std::uint16_t encode_type(Method method, MessageClass cls) {
  auto m = static_cast<std::uint16_t>(method);
  auto c = static_cast<std::uint16_t>(cls);
  return static_cast<std::uint16_t>((m & 0x000F) | ((m & 0x0070) << 1) | ((m & 0x0F80) << 2) |
                                    ((c & 1) << 4) | ((c & 2) << 7));
}

std::pair<std::uint16_t, MessageClass> decode_type(std::uint16_t t) {
  auto c = static_cast<std::uint8_t>(((t >> 7) & 0x2) | ((t >> 4) & 0x1));
  auto m = static_cast<std::uint16_t>((t & 0x000F) | ((t >> 1) & 0x0070) | ((t >> 2) & 0x0F80));
  return {m, static_cast<MessageClass>(c)};
}

Result<TransactionId> random_transaction_id() {
  TransactionId tid{};
  if (RAND_bytes(tid.data(), static_cast<int>(tid.size())) != 1)
    return fail(Category::Internal, "the CSPRNG (OpenSSL RAND_bytes) failed");
  return tid;
}

// ---- Address -------------------------------------------------------------------------------

std::optional<Address> Address::parse(std::string_view ip, std::uint16_t port) {
  std::string s(ip);
  if (s.size() > 2 && s.front() == '[' && s.back() == ']') s = s.substr(1, s.size() - 2);
  Address a;
  a.port = port;
  if (inet_pton(AF_INET, s.c_str(), a.ip.data()) == 1) {
    a.family = 4;
    return a;
  }
  if (inet_pton(AF_INET6, s.c_str(), a.ip.data()) == 1) {
    a.family = 6;
    return a;
  }
  return std::nullopt;
}

std::optional<Address> Address::from_sockaddr(const sockaddr* sa) {
  Address a;
  if (sa->sa_family == AF_INET) {
    sockaddr_in in{};
    std::memcpy(&in, sa, sizeof in);
    a.family = 4;
    std::memcpy(a.ip.data(), &in.sin_addr, 4);
    a.port = ntohs(in.sin_port);
    return a;
  }
  if (sa->sa_family == AF_INET6) {
    sockaddr_in6 in6{};
    std::memcpy(&in6, sa, sizeof in6);
    a.family = 6;
    std::memcpy(a.ip.data(), &in6.sin6_addr, 16);
    a.port = ntohs(in6.sin6_port);
    return a;
  }
  return std::nullopt;
}

unsigned Address::to_sockaddr(sockaddr_storage& storage) const {
  std::memset(&storage, 0, sizeof storage);
  if (family == 4) {
    sockaddr_in in{};
    in.sin_family = AF_INET;
    in.sin_port = htons(port);
    std::memcpy(&in.sin_addr, ip.data(), 4);
    std::memcpy(&storage, &in, sizeof in);
    return sizeof in;
  }
  sockaddr_in6 in6{};
  in6.sin6_family = AF_INET6;
  in6.sin6_port = htons(port);
  std::memcpy(&in6.sin6_addr, ip.data(), 16);
  std::memcpy(&storage, &in6, sizeof in6);
  return sizeof in6;
}

std::string Address::ip_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(family == 4 ? AF_INET : AF_INET6, ip.data(), buf, sizeof buf);
  return buf;
}

std::string Address::to_string() const {
  std::string s;
  if (family == 6) {
    s.push_back('[');
    s.append(ip_string());
    s.push_back(']');
  } else {
    s = ip_string();
  }
  s.push_back(':');
  s.append(std::to_string(port));
  return s;
}

// ---- Message -------------------------------------------------------------------------------

const Attribute* Message::find(std::uint16_t type) const {
  for (const auto& a : attributes)
    if (a.type == type) return &a;
  return nullptr;
}

std::optional<std::string> Message::string_attribute(std::uint16_t type) const {
  const auto* a = find(type);
  if (!a) return std::nullopt;
  return std::string(a->value.begin(), a->value.end());
}

std::optional<std::uint32_t> Message::u32_attribute(std::uint16_t type) const {
  const auto* a = find(type);
  if (!a || a->value.size() != 4) return std::nullopt;
  return get32(a->value.data());
}

std::optional<Address> Message::address_attribute(std::uint16_t type) const {
  const auto* a = find(type);
  if (!a || a->value.size() < 4) return std::nullopt;
  const auto& v = a->value;
  Address out;
  out.port = get16(&v[2]);
  if (v[1] == 0x01 && v.size() == 8) {
    out.family = 4;
    std::copy(v.begin() + 4, v.end(), out.ip.begin());
    return out;
  }
  if (v[1] == 0x02 && v.size() == 20) {
    out.family = 6;
    std::copy(v.begin() + 4, v.end(), out.ip.begin());
    return out;
  }
  return std::nullopt;
}

std::optional<Address> Message::xor_address_attribute(std::uint16_t type) const {
  auto out = address_attribute(type);
  if (!out) return std::nullopt;
  out->port ^= static_cast<std::uint16_t>(kMagicCookie >> 16);
  std::array<std::uint8_t, 16> mask{};
  put32(mask.data(), kMagicCookie);
  std::copy(transaction_id.begin(), transaction_id.end(), mask.begin() + 4);
  std::size_t n = out->family == 4 ? 4 : 16;
  for (std::size_t i = 0; i < n; ++i) out->ip[i] ^= mask[i];
  return out;
}

std::optional<Address> Message::reflexive_address() const {
  if (auto a = xor_address_attribute(attr::XorMappedAddress)) return a;
  if (auto a = xor_address_attribute(attr::XorMappedAddressOld)) return a;
  return address_attribute(attr::MappedAddress);
}

std::optional<ErrorCode> Message::error_code() const {
  const auto* a = find(attr::ErrorCode);
  if (!a || a->value.size() < 4) return std::nullopt;
  int cls = a->value[2] & 0x07;
  int num = a->value[3];
  if (cls < 3 || cls > 6 || num > 99) return std::nullopt;
  return ErrorCode{cls * 100 + num, std::string(a->value.begin() + 4, a->value.end())};
}

std::vector<std::uint16_t> Message::unknown_attributes() const {
  std::vector<std::uint16_t> out;
  const auto* a = find(attr::UnknownAttributes);
  if (!a) return out;
  for (std::size_t i = 0; i + 1 < a->value.size(); i += 2) out.push_back(get16(&a->value[i]));
  return out;
}

Integrity Message::verify_integrity(std::span<const std::uint8_t> key) const {
  const auto* a = find(attr::MessageIntegrity);
  if (!a) return Integrity::Absent;
  if (a->value.size() != 20) return Integrity::Invalid;
  std::vector<std::uint8_t> prefix(raw.begin(), raw.begin() + static_cast<std::ptrdiff_t>(a->offset));
  put16(&prefix[2], static_cast<std::uint16_t>(a->offset - kHeaderSize + 24));
  auto mac = hmac(EVP_sha1(), key, prefix);
  return CRYPTO_memcmp(mac.data(), a->value.data(), 20) == 0 ? Integrity::Valid : Integrity::Invalid;
}

Integrity Message::verify_integrity_sha256(std::span<const std::uint8_t> key) const {
  const auto* a = find(attr::MessageIntegritySha256);
  if (!a) return Integrity::Absent;
  auto n = a->value.size();
  if (n < 16 || n > 32 || n % 4 != 0) return Integrity::Invalid;
  std::vector<std::uint8_t> prefix(raw.begin(), raw.begin() + static_cast<std::ptrdiff_t>(a->offset));
  put16(&prefix[2], static_cast<std::uint16_t>(a->offset - kHeaderSize + 4 + n));
  auto mac = hmac(EVP_sha256(), key, prefix);
  return CRYPTO_memcmp(mac.data(), a->value.data(), n) == 0 ? Integrity::Valid : Integrity::Invalid;
}

std::string Message::describe() const {
  std::string s;
  auto known = static_cast<Method>(method);
  s += method_name(known);
  s += ' ';
  s += class_name(cls);
  s += " tid=" + to_hex(transaction_id);
  for (const auto& a : attributes) {
    s += ' ';
    s += attribute_name(a.type);
    switch (a.type) {
      case attr::XorMappedAddress: case attr::XorRelayedAddress: case attr::XorPeerAddress:
      case attr::XorMappedAddressOld:
        if (auto ad = xor_address_attribute(a.type)) s.append("=").append(ad->to_string());
        break;
      case attr::MappedAddress: case attr::AlternateServer: case attr::ResponseOrigin:
      case attr::OtherAddress:
        if (auto ad = address_attribute(a.type)) s.append("=").append(ad->to_string());
        break;
      case attr::ErrorCode:
        if (auto e = error_code()) s.append("=").append(std::to_string(e->code)).append(" \"").append(e->reason).append("\"");
        break;
      case attr::Realm: case attr::Software: case attr::Username: case attr::Nonce:
        s.append("=\"").append(a.value.begin(), a.value.end()).append("\"");
        break;
      case attr::Lifetime:
        if (a.value.size() == 4) s.append("=").append(std::to_string(get32(a.value.data())));
        break;
      default: break;
    }
  }
  return s;
}

bool looks_like_stun(std::span<const std::uint8_t> data) {
  return data.size() >= kHeaderSize && (data[0] & 0xC0) == 0 && get32(&data[4]) == kMagicCookie;
}

Result<Message> decode(std::span<const std::uint8_t> data, const DecodeOptions& options) {
  if (data.size() < kHeaderSize)
    return fail(Category::Protocol, "STUN message truncated: " + std::to_string(data.size()) +
                                        " bytes, the header alone needs 20");
  if ((data[0] & 0xC0) != 0)
    return fail(Category::Protocol, "not a STUN message: the two top bits of the type are not zero");
  if (get32(&data[4]) != kMagicCookie)
    return fail(Category::Protocol, "not an RFC 5389/8489 STUN message: bad magic cookie");
  std::size_t length = get16(&data[2]);
  if (length % 4 != 0)
    return fail(Category::Protocol,
                "bad STUN message length " + std::to_string(length) + ": not a multiple of 4");
  if (kHeaderSize + length > data.size())
    return fail(Category::Protocol, "STUN message truncated: header says " + std::to_string(length) +
                                        " bytes of attributes, only " +
                                        std::to_string(data.size() - kHeaderSize) + " present");

  Message msg;
  auto [m, c] = decode_type(get16(&data[0]));
  msg.method = m;
  msg.cls = c;
  std::copy(data.begin() + 8, data.begin() + 20, msg.transaction_id.begin());
  msg.raw.assign(data.begin(), data.begin() + static_cast<std::ptrdiff_t>(kHeaderSize + length));

  // RFC 8489 §14: after MESSAGE-INTEGRITY only MI-SHA256 and FINGERPRINT count, after MI-SHA256
  // only FINGERPRINT, and nothing after FINGERPRINT.
  enum { Open, AfterMi, AfterMi256, Closed } state = Open;
  std::size_t pos = kHeaderSize;
  const std::size_t end = kHeaderSize + length;
  while (pos < end) {
    if (end - pos < 4)
      return fail(Category::Protocol, "STUN attribute header truncated at offset " + std::to_string(pos));
    std::uint16_t type = get16(&msg.raw[pos]);
    std::size_t alen = get16(&msg.raw[pos + 2]);
    if (alen > end - pos - 4)
      return fail(Category::Protocol, "STUN attribute " + attribute_name(type) + " at offset " +
                                          std::to_string(pos) + " runs past the end of the message (length " +
                                          std::to_string(alen) + ")");
    std::size_t padded = (alen + 3) & ~std::size_t{3};
    if (padded > end - pos - 4)
      return fail(Category::Protocol, "STUN attribute " + attribute_name(type) +
                                          " padding runs past the end of the message");
    bool take = state == Open || (state == AfterMi && (type == attr::MessageIntegritySha256 ||
                                                       type == attr::Fingerprint)) ||
                (state == AfterMi256 && type == attr::Fingerprint);
    if (take) {
      Attribute a;
      a.type = type;
      a.offset = pos;
      a.value.assign(msg.raw.begin() + static_cast<std::ptrdiff_t>(pos + 4),
                     msg.raw.begin() + static_cast<std::ptrdiff_t>(pos + 4 + alen));
      if (type == attr::Fingerprint) {
        if (alen != 4) return fail(Category::Protocol, "bad STUN FINGERPRINT: length " + std::to_string(alen));
        if (options.check_fingerprint) {
          std::vector<std::uint8_t> prefix(msg.raw.begin(), msg.raw.begin() + static_cast<std::ptrdiff_t>(pos));
          put16(&prefix[2], static_cast<std::uint16_t>(pos + 8 - kHeaderSize));
          std::uint32_t want = crc32(prefix) ^ kFingerprintXor;
          std::uint32_t got = get32(a.value.data());
          if (want != got) {
            char b[80];
            std::snprintf(b, sizeof b, "bad STUN FINGERPRINT: got 0x%08x, computed 0x%08x", got, want);
            return fail(Category::Protocol, b);
          }
        }
        msg.has_fingerprint = true;
        state = Closed;
      } else if (type == attr::MessageIntegrity) {
        state = AfterMi;
      } else if (type == attr::MessageIntegritySha256) {
        state = AfterMi256;
      } else if (type < 0x8000 && !known_required(type)) {
        if (std::find(msg.unknown_required.begin(), msg.unknown_required.end(), type) ==
            msg.unknown_required.end())
          msg.unknown_required.push_back(type);
      }
      msg.attributes.push_back(std::move(a));
    }
    pos += 4 + padded;
  }
  if (options.reject_unknown_required && !msg.unknown_required.empty()) {
    std::string list;
    for (auto t : msg.unknown_required) list += (list.empty() ? "" : ", ") + hex16(t);
    return fail(Category::Protocol,
                "STUN " + std::string(class_name(msg.cls)) +
                    " carries unknown comprehension-required attribute" +
                    (msg.unknown_required.size() > 1 ? "s " : " ") + list);
  }
  return msg;
}

// ---- Builder -------------------------------------------------------------------------------

MessageBuilder::MessageBuilder(Method method, MessageClass cls, const TransactionId& tid) : tid_(tid) {
  buf_.resize(kHeaderSize);
  put16(&buf_[0], encode_type(method, cls));
  put16(&buf_[2], 0);
  put32(&buf_[4], kMagicCookie);
  std::copy(tid.begin(), tid.end(), buf_.begin() + 8);
}

void MessageBuilder::set_length(std::size_t body) { put16(&buf_[2], static_cast<std::uint16_t>(body)); }

MessageBuilder& MessageBuilder::add(std::uint16_t type, std::span<const std::uint8_t> value, std::uint8_t pad) {
  std::size_t n = std::min<std::size_t>(value.size(), 0xFFFF);
  std::size_t at = buf_.size();
  buf_.resize(at + 4);
  put16(&buf_[at], type);
  put16(&buf_[at + 2], static_cast<std::uint16_t>(n));
  buf_.insert(buf_.end(), value.begin(), value.begin() + static_cast<std::ptrdiff_t>(n));
  while (buf_.size() % 4 != 0) buf_.push_back(pad);
  set_length(buf_.size() - kHeaderSize);
  return *this;
}

MessageBuilder& MessageBuilder::add_string(std::uint16_t type, std::string_view value, std::uint8_t pad) {
  return add(type, std::span(reinterpret_cast<const std::uint8_t*>(value.data()), value.size()), pad);
}

MessageBuilder& MessageBuilder::add_u32(std::uint16_t type, std::uint32_t value) {
  std::uint8_t b[4];
  put32(b, value);
  return add(type, b);
}

MessageBuilder& MessageBuilder::add_u64(std::uint16_t type, std::uint64_t value) {
  std::uint8_t b[8];
  put32(b, static_cast<std::uint32_t>(value >> 32));
  put32(b + 4, static_cast<std::uint32_t>(value));
  return add(type, b);
}

MessageBuilder& MessageBuilder::add_address(std::uint16_t type, const Address& address) {
  std::vector<std::uint8_t> v(4 + (address.family == 4 ? 4 : 16));
  v[1] = address.family == 4 ? 0x01 : 0x02;
  put16(&v[2], address.port);
  std::copy(address.ip.begin(), address.ip.begin() + static_cast<std::ptrdiff_t>(v.size() - 4), v.begin() + 4);
  return add(type, v);
}

MessageBuilder& MessageBuilder::add_xor_address(std::uint16_t type, const Address& address) {
  Address x = address;
  x.port ^= static_cast<std::uint16_t>(kMagicCookie >> 16);
  std::array<std::uint8_t, 16> mask{};
  put32(mask.data(), kMagicCookie);
  std::copy(tid_.begin(), tid_.end(), mask.begin() + 4);
  for (std::size_t i = 0; i < 16; ++i) x.ip[i] ^= mask[i];
  return add_address(type, x);
}

MessageBuilder& MessageBuilder::add_error_code(int code, std::string_view reason) {
  std::vector<std::uint8_t> v(4);
  v[2] = static_cast<std::uint8_t>((code / 100) & 0x07);
  v[3] = static_cast<std::uint8_t>(code % 100);
  v.insert(v.end(), reason.begin(), reason.end());
  return add(attr::ErrorCode, v);
}

MessageBuilder& MessageBuilder::add_requested_transport(std::uint8_t protocol) {
  std::uint8_t v[4] = {protocol, 0, 0, 0};
  return add(attr::RequestedTransport, v);
}

MessageBuilder& MessageBuilder::add_message_integrity(std::span<const std::uint8_t> key) {
  // RFC 8489 §14.5: the length covers MI itself while hashing everything before it.
  std::size_t at = buf_.size();
  set_length(at - kHeaderSize + 24);
  auto mac = hmac(EVP_sha1(), key, buf_);
  return add(attr::MessageIntegrity, mac);
}

MessageBuilder& MessageBuilder::add_message_integrity_sha256(std::span<const std::uint8_t> key) {
  std::size_t at = buf_.size();
  set_length(at - kHeaderSize + 36);
  auto mac = hmac(EVP_sha256(), key, buf_);
  return add(attr::MessageIntegritySha256, mac);
}

MessageBuilder& MessageBuilder::add_fingerprint() {
  std::size_t at = buf_.size();
  set_length(at - kHeaderSize + 8);
  std::uint8_t v[4];
  put32(v, crc32(buf_) ^ kFingerprintXor);
  return add(attr::Fingerprint, v);
}

// ---- Keys, CRC, hex ------------------------------------------------------------------------

std::vector<std::uint8_t> short_term_key(std::string_view password) {
  auto p = prepare_password(password);
  return {p.begin(), p.end()};
}

std::vector<std::uint8_t> long_term_key_md5(std::string_view username, std::string_view realm,
                                            std::string_view password) {
  std::string s = std::string(username) + ":" + std::string(realm) + ":" + prepare_password(password);
  return digest(EVP_md5(), s);
}

std::vector<std::uint8_t> long_term_key_sha256(std::string_view username, std::string_view realm,
                                               std::string_view password) {
  std::string s = std::string(username) + ":" + std::string(realm) + ":" + prepare_password(password);
  return digest(EVP_sha256(), s);
}

std::vector<std::uint8_t> userhash(std::string_view username, std::string_view realm) {
  return digest(EVP_sha256(), std::string(username) + ":" + std::string(realm));
}

std::uint32_t crc32(std::span<const std::uint8_t> data) {
  static const auto table = [] {
    std::array<std::uint32_t, 256> t{};
    for (std::uint32_t i = 0; i < 256; ++i) {
      std::uint32_t c = i;
      for (int k = 0; k < 8; ++k) c = (c & 1) ? 0xEDB88320u ^ (c >> 1) : c >> 1;
      t[i] = c;
    }
    return t;
  }();
  std::uint32_t c = 0xFFFFFFFFu;
  for (auto b : data) c = table[(c ^ b) & 0xFF] ^ (c >> 8);
  return c ^ 0xFFFFFFFFu;
}

std::string to_hex(std::span<const std::uint8_t> data) {
  static const char* d = "0123456789abcdef";
  std::string s;
  s.reserve(data.size() * 2);
  for (auto b : data) {
    s.push_back(d[b >> 4]);
    s.push_back(d[b & 15]);
  }
  return s;
}

std::optional<std::vector<std::uint8_t>> from_hex(std::string_view hex) {
  std::vector<std::uint8_t> out;
  int hi = -1;
  for (char ch : hex) {
    if (ch == ' ' || ch == '\n' || ch == '\t' || ch == '\r') continue;
    int v = (ch >= '0' && ch <= '9') ? ch - '0'
            : (ch >= 'a' && ch <= 'f') ? ch - 'a' + 10
            : (ch >= 'A' && ch <= 'F') ? ch - 'A' + 10
                                       : -1;
    if (v < 0) return std::nullopt;
    if (hi < 0) {
      hi = v;
    } else {
      out.push_back(static_cast<std::uint8_t>(hi << 4 | v));
      hi = -1;
    }
  }
  if (hi >= 0) return std::nullopt;
  return out;
}

}  // namespace xnet::stun
