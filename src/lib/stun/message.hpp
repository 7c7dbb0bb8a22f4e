// SPDX-License-Identifier: MIT
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"

struct sockaddr;
struct sockaddr_storage;

namespace xnet::stun {

/// RFC 8489 §5: the fixed magic cookie in bytes 4..7 of every (non-RFC 3489) message.
inline constexpr std::uint32_t kMagicCookie = 0x2112A442;
/// RFC 8489 §14.7: FINGERPRINT is CRC-32 XOR this value ("STUN").
inline constexpr std::uint32_t kFingerprintXor = 0x5354554E;
inline constexpr std::size_t kHeaderSize = 20;
/// Largest message this codec accepts or builds (a STUN message must fit one UDP datagram).
inline constexpr std::size_t kMaxMessageSize = 65535;

/// STUN/TURN methods used by xnet (RFC 8489 §18.2, RFC 8656 §17).
enum class Method : std::uint16_t {
  Binding = 0x001,
  SharedSecret = 0x002,
  Allocate = 0x003,
  Refresh = 0x004,
  Send = 0x006,
  Data = 0x007,
  CreatePermission = 0x008,
  ChannelBind = 0x009,
};

/// The two class bits of the message type (RFC 8489 §5).
enum class MessageClass : std::uint8_t { Request = 0, Indication = 1, Success = 2, Error = 3 };

/// Attribute types (RFC 8489 §18.3, RFC 8656, RFC 5780). Below 0x8000: comprehension-required.
namespace attr {
inline constexpr std::uint16_t MappedAddress = 0x0001;
inline constexpr std::uint16_t ResponseAddress = 0x0002;
inline constexpr std::uint16_t ChangeRequest = 0x0003;
inline constexpr std::uint16_t SourceAddress = 0x0004;
inline constexpr std::uint16_t ChangedAddress = 0x0005;
inline constexpr std::uint16_t Username = 0x0006;
inline constexpr std::uint16_t Password = 0x0007;
inline constexpr std::uint16_t MessageIntegrity = 0x0008;
inline constexpr std::uint16_t ErrorCode = 0x0009;
inline constexpr std::uint16_t UnknownAttributes = 0x000A;
inline constexpr std::uint16_t ReflectedFrom = 0x000B;
inline constexpr std::uint16_t ChannelNumber = 0x000C;
inline constexpr std::uint16_t Lifetime = 0x000D;
inline constexpr std::uint16_t XorPeerAddress = 0x0012;
inline constexpr std::uint16_t Data = 0x0013;
inline constexpr std::uint16_t Realm = 0x0014;
inline constexpr std::uint16_t Nonce = 0x0015;
inline constexpr std::uint16_t XorRelayedAddress = 0x0016;
inline constexpr std::uint16_t RequestedAddressFamily = 0x0017;
inline constexpr std::uint16_t EvenPort = 0x0018;
inline constexpr std::uint16_t RequestedTransport = 0x0019;
inline constexpr std::uint16_t DontFragment = 0x001A;
inline constexpr std::uint16_t MessageIntegritySha256 = 0x001C;
inline constexpr std::uint16_t PasswordAlgorithm = 0x001D;
inline constexpr std::uint16_t Userhash = 0x001E;
inline constexpr std::uint16_t XorMappedAddress = 0x0020;
inline constexpr std::uint16_t ReservationToken = 0x0022;
inline constexpr std::uint16_t Priority = 0x0024;
inline constexpr std::uint16_t UseCandidate = 0x0025;
inline constexpr std::uint16_t Padding = 0x0026;
inline constexpr std::uint16_t ResponsePort = 0x0027;
inline constexpr std::uint16_t PasswordAlgorithms = 0x8002;
inline constexpr std::uint16_t AlternateDomain = 0x8003;
inline constexpr std::uint16_t XorMappedAddressOld = 0x8020;
inline constexpr std::uint16_t Software = 0x8022;
inline constexpr std::uint16_t AlternateServer = 0x8023;
inline constexpr std::uint16_t CacheTimeout = 0x8027;
inline constexpr std::uint16_t Fingerprint = 0x8028;
inline constexpr std::uint16_t IceControlled = 0x8029;
inline constexpr std::uint16_t IceControlling = 0x802A;
inline constexpr std::uint16_t ResponseOrigin = 0x802B;
inline constexpr std::uint16_t OtherAddress = 0x802C;
}  // namespace attr

/// The readable name of attribute type ("XOR-MAPPED-ADDRESS"), or "0x1234" when unknown.
std::string attribute_name(std::uint16_t type);
/// The readable name of method ("Binding"), or "method 0x123".
std::string method_name(Method method);
/// "request", "indication", "success response" or "error response".
std::string_view class_name(MessageClass cls);

/// RFC 8489 §5: the 14-bit message type for method and cls.
std::uint16_t encode_type(Method method, MessageClass cls);
/// The method and class packed in the 14-bit type (the top two bits must already be zero).
std::pair<std::uint16_t, MessageClass> decode_type(std::uint16_t type);

using TransactionId = std::array<std::uint8_t, 12>;

/// A fresh transaction ID from OpenSSL's CSPRNG (RFC 8489 §5: 96 random bits).
Result<TransactionId> random_transaction_id();

/// An IPv4 or IPv6 transport address as carried in (XOR-)MAPPED-ADDRESS and friends.
struct Address {
  int family = 4;                     ///< 4 or 6
  std::array<std::uint8_t, 16> ip{};  ///< network order; IPv4 uses the first 4 bytes
  std::uint16_t port = 0;

  /// Parses an IP literal ip (IPv6 without brackets) and port; nullopt when ip is no literal.
  static std::optional<Address> parse(std::string_view ip, std::uint16_t port);
  /// Converts a socket address; nullopt for families other than AF_INET/AF_INET6.
  static std::optional<Address> from_sockaddr(const sockaddr* sa);
  /// Fills storage and returns the length to pass to connect()/sendto().
  unsigned to_sockaddr(sockaddr_storage& storage) const;
  /// "192.0.2.1" or "2001:db8::1".
  std::string ip_string() const;
  /// "192.0.2.1:3478" or "[2001:db8::1]:3478".
  std::string to_string() const;
  bool operator==(const Address&) const = default;
};

/// A decoded ERROR-CODE (RFC 8489 §14.8).
struct ErrorCode {
  int code = 0;  ///< 300..699
  std::string reason;
};

/// One attribute as found on the wire; value excludes padding.
struct Attribute {
  std::uint16_t type = 0;
  std::vector<std::uint8_t> value;
  std::size_t offset = 0;  ///< offset of the attribute header in the message
};

/// Result of checking MESSAGE-INTEGRITY(-SHA256).
enum class Integrity { Absent, Valid, Invalid };

/// A decoded STUN message. Attributes after MESSAGE-INTEGRITY (other than MI-SHA256 and
/// FINGERPRINT) and after FINGERPRINT are dropped, as RFC 8489 §14 requires.
struct Message {
  std::uint16_t method = 0;
  MessageClass cls = MessageClass::Request;
  TransactionId transaction_id{};
  std::vector<Attribute> attributes;     ///< in wire order, duplicates kept
  std::vector<std::uint8_t> raw;         ///< the message bytes (header + declared length)
  bool has_fingerprint = false;          ///< present and verified
  std::vector<std::uint16_t> unknown_required;  ///< comprehension-required types not understood

  bool is(Method m, MessageClass c) const { return method == static_cast<std::uint16_t>(m) && cls == c; }
  /// The first attribute of type, or nullptr (RFC 8489 §14: only the first occurrence counts).
  const Attribute* find(std::uint16_t type) const;

  std::optional<std::string> string_attribute(std::uint16_t type) const;
  std::optional<std::uint32_t> u32_attribute(std::uint16_t type) const;
  /// XOR-MAPPED-ADDRESS, else the pre-RFC 5389 0x8020 form, else MAPPED-ADDRESS.
  std::optional<Address> reflexive_address() const;
  /// A plain address attribute (MAPPED-ADDRESS, ALTERNATE-SERVER, ...); nullopt when absent or bad.
  std::optional<Address> address_attribute(std::uint16_t type) const;
  /// An XOR-encoded address attribute (XOR-MAPPED-ADDRESS, XOR-RELAYED-ADDRESS, ...).
  std::optional<Address> xor_address_attribute(std::uint16_t type) const;
  std::optional<ErrorCode> error_code() const;
  std::vector<std::uint16_t> unknown_attributes() const;  ///< UNKNOWN-ATTRIBUTES list

  /// Checks MESSAGE-INTEGRITY (HMAC-SHA1) with key, RFC 8489 §14.5.
  Integrity verify_integrity(std::span<const std::uint8_t> key) const;
  /// Checks MESSAGE-INTEGRITY-SHA256 with key, RFC 8489 §14.6 (truncated values allowed).
  Integrity verify_integrity_sha256(std::span<const std::uint8_t> key) const;
  /// A one-line summary for traces: "Binding success response tid=... XOR-MAPPED-ADDRESS=..."
  std::string describe() const;
};

/// Options of decode().
struct DecodeOptions {
  /// Fail when a comprehension-required attribute is not understood (what a client does with
  /// a response, RFC 8489 §7.3.3). When false they are listed in Message::unknown_required.
  bool reject_unknown_required = true;
  /// Fail when a FINGERPRINT attribute is present but wrong.
  bool check_fingerprint = true;
};

/// Decodes one STUN message from data (RFC 8489 §5, §14). Bytes after the declared length are
/// ignored. Errors (Category::Protocol) name the defect: truncated, bad length, bad cookie,
/// bad FINGERPRINT, unknown comprehension-required attribute.
Result<Message> decode(std::span<const std::uint8_t> data, const DecodeOptions& options = {});

/// True when data starts like a STUN message with the magic cookie (RFC 7983 demultiplexing).
bool looks_like_stun(std::span<const std::uint8_t> data);

/// Builds a message attribute by attribute; integrity and fingerprint are computed over what
/// was added before them, so add them last (MI, then MI-SHA256, then FINGERPRINT).
class MessageBuilder {
 public:
  MessageBuilder(Method method, MessageClass cls, const TransactionId& tid);

  /// Appends a raw attribute; padding bytes take the value pad (RFC 8489: zero; RFC 5769
  /// vectors use 0x20).
  MessageBuilder& add(std::uint16_t type, std::span<const std::uint8_t> value, std::uint8_t pad = 0);
  MessageBuilder& add_string(std::uint16_t type, std::string_view value, std::uint8_t pad = 0);
  MessageBuilder& add_u32(std::uint16_t type, std::uint32_t value);
  MessageBuilder& add_u64(std::uint16_t type, std::uint64_t value);
  MessageBuilder& add_address(std::uint16_t type, const Address& address);
  MessageBuilder& add_xor_address(std::uint16_t type, const Address& address);
  MessageBuilder& add_error_code(int code, std::string_view reason);
  /// REQUESTED-TRANSPORT with protocol (17 = UDP), RFC 8656 §18.11.
  MessageBuilder& add_requested_transport(std::uint8_t protocol = 17);
  MessageBuilder& add_message_integrity(std::span<const std::uint8_t> key);
  MessageBuilder& add_message_integrity_sha256(std::span<const std::uint8_t> key);
  MessageBuilder& add_fingerprint();

  const TransactionId& transaction_id() const { return tid_; }
  /// The finished message.
  const std::vector<std::uint8_t>& bytes() const { return buf_; }

 private:
  void set_length(std::size_t body);
  TransactionId tid_;
  std::vector<std::uint8_t> buf_;
};

/// RFC 8489 §9.1: short-term key = OpaqueString(password). xnet removes the characters
/// RFC 3454 B.1 maps to nothing and maps non-ASCII spaces to U+0020; it does not apply NFKC.
std::vector<std::uint8_t> short_term_key(std::string_view password);
/// RFC 8489 §9.2.2: MD5(username ":" realm ":" password), password prepared as above.
std::vector<std::uint8_t> long_term_key_md5(std::string_view username, std::string_view realm,
                                            std::string_view password);
/// RFC 8489 §9.2.2: SHA-256(username ":" realm ":" password).
std::vector<std::uint8_t> long_term_key_sha256(std::string_view username, std::string_view realm,
                                               std::string_view password);
/// RFC 8489 §14.4: SHA-256(username ":" realm).
std::vector<std::uint8_t> userhash(std::string_view username, std::string_view realm);

/// CRC-32 (IEEE 802.3, reflected; the zlib one) of data.
std::uint32_t crc32(std::span<const std::uint8_t> data);

/// Lower-case hex of data, for traces and tests.
std::string to_hex(std::span<const std::uint8_t> data);
/// Parses hex with optional whitespace; nullopt on odd length or a non-hex character.
std::optional<std::vector<std::uint8_t>> from_hex(std::string_view hex);

}  // namespace xnet::stun
