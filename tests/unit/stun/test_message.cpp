// SPDX-License-Identifier: MIT
#include <catch2/catch.hpp>

#include "stun/message.hpp"

using namespace xnet;
using namespace xnet::stun;

namespace {

std::vector<std::uint8_t> hex(std::string_view s) {
  auto v = from_hex(s);
  REQUIRE(v);
  return *v;
}

const TransactionId kTid = {0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae};
const std::string kShortTermPassword = "VOkJxbRl1RmTxUk/WvJxBt";

// RFC 5769 §2.1 .. §2.4, as listed in stun.md §8.
const char* kSampleRequest =
    "00 01 00 58 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae"
    "80 22 00 10 53 54 55 4e 20 74 65 73 74 20 63 6c 69 65 6e 74"
    "00 24 00 04 6e 00 01 ff"
    "80 29 00 08 93 2f f9 b1 51 26 3b 36"
    "00 06 00 09 65 76 74 6a 3a 68 36 76 59 20 20 20"
    "00 08 00 14 9a ea a7 0c bf d8 cb 56 78 1e f2 b5 b2 d3 f2 49 c1 b5 71 a2"
    "80 28 00 04 e5 7a 3b cf";
const char* kSampleIpv4Response =
    "01 01 00 3c 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae"
    "80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20"
    "00 20 00 08 00 01 a1 47 e1 12 a6 43"
    "00 08 00 14 2b 91 f5 99 fd 9e 90 c3 8c 74 89 f9 2a f9 ba 53 f0 6b e7 d7"
    "80 28 00 04 c0 7d 4c 96";
const char* kSampleIpv6Response =
    "01 01 00 48 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae"
    "80 22 00 0b 74 65 73 74 20 76 65 63 74 6f 72 20"
    "00 20 00 14 00 02 a1 47 01 13 a9 fa a5 d3 f1 79 bc 25 f4 b5 be d2 b9 d9"
    "00 08 00 14 a3 82 95 4e 4b e6 7b f1 17 84 c9 7c 82 92 c2 75 bf e3 ed 41"
    "80 28 00 04 c8 fb 0b 4c";
const char* kLongTermRequest =
    "00 01 00 60 21 12 a4 42 78 ad 34 33 c6 ad 72 c0 29 da 41 2e"
    "00 06 00 12 e3 83 9e e3 83 88 e3 83 aa e3 83 83 e3 82 af e3 82 b9 00 00"
    "00 15 00 1c 66 2f 2f 34 39 39 6b 39 35 34 64 36 4f 4c 33 34 6f 4c 39 46 53 54 76 79 36 34 73 41"
    "00 14 00 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00"
    "00 08 00 14 f6 70 24 65 6d d6 4a 3e 02 b8 e0 71 2e 85 c9 a2 8c a8 96 66";
const std::string kMatrixUser = "\xe3\x83\x9e\xe3\x83\x88\xe3\x83\xaa\xe3\x83\x83\xe3\x82\xaf\xe3\x82\xb9";

}  // namespace

TEST_CASE("message type encodes and decodes every method and class", "[stun]") {
  REQUIRE(encode_type(Method::Binding, MessageClass::Request) == 0x0001);
  REQUIRE(encode_type(Method::Binding, MessageClass::Indication) == 0x0011);
  REQUIRE(encode_type(Method::Binding, MessageClass::Success) == 0x0101);
  REQUIRE(encode_type(Method::Binding, MessageClass::Error) == 0x0111);
  REQUIRE(encode_type(Method::Allocate, MessageClass::Error) == 0x0113);
  REQUIRE(encode_type(Method::Refresh, MessageClass::Success) == 0x0104);
  REQUIRE(encode_type(Method::Send, MessageClass::Indication) == 0x0016);
  REQUIRE(encode_type(Method::ChannelBind, MessageClass::Error) == 0x0119);
  for (std::uint16_t m = 0; m <= 0x0FFF; ++m) {
    for (int c = 0; c < 4; ++c) {
      auto t = encode_type(static_cast<Method>(m), static_cast<MessageClass>(c));
      REQUIRE(t <= 0x3FFF);
      auto [dm, dc] = decode_type(t);
      REQUIRE(dm == m);
      REQUIRE(static_cast<int>(dc) == c);
    }
  }
  auto [m, c] = decode_type(0x3FFF);
  REQUIRE(m == 0x0FFF);
  REQUIRE(c == MessageClass::Error);
}

TEST_CASE("RFC 5769 §2.1 sample request", "[stun][rfc5769]") {
  auto bytes = hex(kSampleRequest);
  REQUIRE(bytes.size() == 108);
  auto m = decode(bytes);
  REQUIRE(m);
  REQUIRE(m->is(Method::Binding, MessageClass::Request));
  REQUIRE(m->transaction_id == kTid);
  REQUIRE(m->has_fingerprint);
  REQUIRE(m->string_attribute(attr::Software) == "STUN test client");
  REQUIRE(m->string_attribute(attr::Username) == "evtj:h6vY");
  REQUIRE(m->u32_attribute(attr::Priority) == 0x6e0001ffu);
  auto key = short_term_key(kShortTermPassword);
  REQUIRE(m->verify_integrity(key) == Integrity::Valid);
  REQUIRE(m->verify_integrity(short_term_key("wrong")) == Integrity::Invalid);

  SECTION("the builder reproduces it byte for byte (0x20 padding)") {
    MessageBuilder b(Method::Binding, MessageClass::Request, kTid);
    b.add_string(attr::Software, "STUN test client", 0x20);
    b.add_u32(attr::Priority, 0x6e0001ff);
    b.add_u64(attr::IceControlled, 0x932ff9b151263b36ull);
    b.add_string(attr::Username, "evtj:h6vY", 0x20);
    b.add_message_integrity(key);
    b.add_fingerprint();
    REQUIRE(to_hex(b.bytes()) == to_hex(bytes));
  }
}

TEST_CASE("RFC 5769 §2.2 sample IPv4 response", "[stun][rfc5769]") {
  auto bytes = hex(kSampleIpv4Response);
  auto m = decode(bytes);
  REQUIRE(m);
  REQUIRE(m->is(Method::Binding, MessageClass::Success));
  REQUIRE(m->string_attribute(attr::Software) == "test vector");
  auto a = m->reflexive_address();
  REQUIRE(a);
  REQUIRE(a->family == 4);
  REQUIRE(a->to_string() == "192.0.2.1:32853");
  REQUIRE(m->verify_integrity(short_term_key(kShortTermPassword)) == Integrity::Valid);

  MessageBuilder b(Method::Binding, MessageClass::Success, kTid);
  b.add_string(attr::Software, "test vector", 0x20);
  b.add_xor_address(attr::XorMappedAddress, *Address::parse("192.0.2.1", 32853));
  b.add_message_integrity(short_term_key(kShortTermPassword));
  b.add_fingerprint();
  REQUIRE(to_hex(b.bytes()) == to_hex(bytes));
}

TEST_CASE("RFC 5769 §2.3 sample IPv6 response", "[stun][rfc5769]") {
  auto bytes = hex(kSampleIpv6Response);
  auto m = decode(bytes);
  REQUIRE(m);
  auto a = m->reflexive_address();
  REQUIRE(a);
  REQUIRE(a->family == 6);
  REQUIRE(a->to_string() == "[2001:db8:1234:5678:11:2233:4455:6677]:32853");
  REQUIRE(m->verify_integrity(short_term_key(kShortTermPassword)) == Integrity::Valid);

  MessageBuilder b(Method::Binding, MessageClass::Success, kTid);
  b.add_string(attr::Software, "test vector", 0x20);
  b.add_xor_address(attr::XorMappedAddress, *Address::parse("2001:db8:1234:5678:11:2233:4455:6677", 32853));
  b.add_message_integrity(short_term_key(kShortTermPassword));
  b.add_fingerprint();
  REQUIRE(to_hex(b.bytes()) == to_hex(bytes));
}

TEST_CASE("RFC 5769 §2.4 long-term credentials", "[stun][rfc5769]") {
  auto bytes = hex(kLongTermRequest);
  auto m = decode(bytes);
  REQUIRE(m);
  REQUIRE_FALSE(m->has_fingerprint);
  REQUIRE(m->string_attribute(attr::Username) == kMatrixUser);
  REQUIRE(m->string_attribute(attr::Realm) == "example.org");
  REQUIRE(m->string_attribute(attr::Nonce) == "f//499k954d6OL34oL9FSTvy64sA");
  auto key = long_term_key_md5(kMatrixUser, "example.org", "TheMatrIX");
  REQUIRE(to_hex(key) == "e8ca7ad59d5eb0518e312911d2dab2a9");
  REQUIRE(m->verify_integrity(key) == Integrity::Valid);

  SECTION("the soft hyphen is mapped to nothing (SASLprep B.1)") {
    // "The\u00ADMatrIX": only the B.1 part of SASLprep, no NFKC (see message.hpp).
    auto k2 = long_term_key_md5(kMatrixUser, "example.org", "The\xc2\xad" "MatrIX");
    REQUIRE(to_hex(k2) == to_hex(key));
  }
  SECTION("MD5 example from RFC 5389") {
    REQUIRE(to_hex(long_term_key_md5("user", "realm", "pass")) == "8493fbc53ba582fb4c044c456bdc40eb");
  }
  SECTION("the builder reproduces it") {
    MessageBuilder b(Method::Binding, MessageClass::Request,
                     {0x78, 0xad, 0x34, 0x33, 0xc6, 0xad, 0x72, 0xc0, 0x29, 0xda, 0x41, 0x2e});
    b.add_string(attr::Username, kMatrixUser);
    b.add_string(attr::Nonce, "f//499k954d6OL34oL9FSTvy64sA");
    b.add_string(attr::Realm, "example.org");
    b.add_message_integrity(key);
    REQUIRE(to_hex(b.bytes()) == to_hex(bytes));
  }
}

TEST_CASE("SHA-256 keys and USERHASH from stun.md §5", "[stun]") {
  REQUIRE(to_hex(long_term_key_sha256("user", "example.org", "secret")) ==
          "bf9f8cc2da128fcb78077f794a818f9d3ccf550dab291cb21c82f29a153b3355");
  REQUIRE(to_hex(userhash("user", "example.org")) ==
          "cf9fa894dfc9b7680968aec1efb3a6b8b2a1cac25c0461cab3b0c2f87c25eeaf");
  REQUIRE(to_hex(userhash(kMatrixUser, "example.org")) ==
          "4a3cf38fef6992bda952c6780417da0f24819415569e60b205c46e41407f1704");
  REQUIRE(to_hex(long_term_key_sha256(kMatrixUser, "example.org", "TheMatrIX")) ==
          "dd295a613b9058c3c23d6dc7165bda072304d989c9d0af3a8c7e184b4f9bb4a1");
}

TEST_CASE("MESSAGE-INTEGRITY-SHA256 round trip, truncated too", "[stun]") {
  auto key = long_term_key_sha256("user", "example.org", "secret");
  MessageBuilder b(Method::Binding, MessageClass::Request, kTid);
  b.add_string(attr::Username, "user");
  b.add_message_integrity(key);
  b.add_message_integrity_sha256(key);
  b.add_fingerprint();
  auto m = decode(b.bytes());
  REQUIRE(m);
  REQUIRE(m->verify_integrity(key) == Integrity::Valid);
  REQUIRE(m->verify_integrity_sha256(key) == Integrity::Valid);
  REQUIRE(m->verify_integrity_sha256(long_term_key_sha256("user", "example.org", "x")) == Integrity::Invalid);
}

TEST_CASE("constructed vectors from stun.md §8", "[stun]") {
  SECTION("A minimal Binding request") {
    MessageBuilder b(Method::Binding, MessageClass::Request, kTid);
    REQUIRE(to_hex(b.bytes()) == "000100002112a442b7e7a701bc34d686fa87dfae");
    auto m = decode(b.bytes());
    REQUIRE(m);
    REQUIRE(m->attributes.empty());
  }
  SECTION("B XOR-MAPPED-ADDRESS + FINGERPRINT") {
    auto bytes = hex(
        "01 01 00 14 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae"
        "00 20 00 08 00 01 a1 47 e1 12 a6 43 80 28 00 04 7d 28 1f 59");
    auto m = decode(bytes);
    REQUIRE(m);
    REQUIRE(m->has_fingerprint);
    REQUIRE(m->reflexive_address()->to_string() == "192.0.2.1:32853");
    MessageBuilder b(Method::Binding, MessageClass::Success, kTid);
    b.add_xor_address(attr::XorMappedAddress, *Address::parse("192.0.2.1", 32853));
    b.add_fingerprint();
    REQUIRE(to_hex(b.bytes()) == to_hex(bytes));
  }
  SECTION("C 438 Stale Nonce") {
    auto bytes = hex(
        "01 11 00 44 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae"
        "00 09 00 0f 00 00 04 26 53 74 61 6c 65 20 4e 6f 6e 63 65 00"
        "00 14 00 0b 65 78 61 6d 70 6c 65 2e 6f 72 67 00"
        "00 15 00 1c 66 2f 2f 34 39 39 6b 39 35 34 64 36 4f 4c 33 34 6f 4c 39 46 53 54 76 79 36 34 73 41");
    auto m = decode(bytes);
    REQUIRE(m);
    REQUIRE(m->is(Method::Binding, MessageClass::Error));
    auto ec = m->error_code();
    REQUIRE(ec);
    REQUIRE(ec->code == 438);
    REQUIRE(ec->reason == "Stale Nonce");
    REQUIRE(m->string_attribute(attr::Realm) == "example.org");
    MessageBuilder b(Method::Binding, MessageClass::Error, kTid);
    b.add_error_code(438, "Stale Nonce");
    b.add_string(attr::Realm, "example.org");
    b.add_string(attr::Nonce, "f//499k954d6OL34oL9FSTvy64sA");
    REQUIRE(to_hex(b.bytes()) == to_hex(bytes));
  }
  SECTION("D MAPPED-ADDRESS and XOR-MAPPED-ADDRESS: XOR wins") {
    auto bytes = hex(
        "01 01 00 18 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae"
        "00 01 00 08 00 01 80 55 c0 00 02 01 00 20 00 08 00 01 a1 47 e1 12 a6 43");
    auto m = decode(bytes);
    REQUIRE(m);
    REQUIRE(m->address_attribute(attr::MappedAddress)->to_string() == "192.0.2.1:32853");
    REQUIRE(m->reflexive_address()->to_string() == "192.0.2.1:32853");
  }
  SECTION("E CHANGE-REQUEST") {
    MessageBuilder b(Method::Binding, MessageClass::Request, kTid);
    b.add_u32(attr::ChangeRequest, 6);
    REQUIRE(to_hex(b.bytes()) == to_hex(hex("00 01 00 08 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae 00 03 00 04 00 00 00 06")));
  }
  SECTION("F 420 with UNKNOWN-ATTRIBUTES") {
    auto bytes = hex(
        "01 11 00 24 21 12 a4 42 b7 e7 a7 01 bc 34 d6 86 fa 87 df ae"
        "00 09 00 15 00 00 04 14 55 6e 6b 6e 6f 77 6e 20 41 74 74 72 69 62 75 74 65 00 00 00"
        "00 0a 00 02 00 03 00 00");
    auto m = decode(bytes);
    REQUIRE(m);
    REQUIRE(m->error_code()->code == 420);
    REQUIRE(m->error_code()->reason == "Unknown Attribute");
    REQUIRE(m->unknown_attributes() == std::vector<std::uint16_t>{0x0003});
  }
}

TEST_CASE("only MAPPED-ADDRESS (RFC 3489 server) and the old 0x8020 form", "[stun]") {
  MessageBuilder b(Method::Binding, MessageClass::Success, kTid);
  b.add_address(attr::MappedAddress, *Address::parse("198.51.100.7", 4000));
  b.add_address(attr::SourceAddress, *Address::parse("203.0.113.1", 3478));  // 3489 leftover: tolerated
  auto m = decode(b.bytes());
  REQUIRE(m);
  REQUIRE(m->reflexive_address()->to_string() == "198.51.100.7:4000");

  MessageBuilder o(Method::Binding, MessageClass::Success, kTid);
  o.add_xor_address(attr::XorMappedAddressOld, *Address::parse("198.51.100.8", 4001));
  auto mo = decode(o.bytes());
  REQUIRE(mo);
  REQUIRE(mo->reflexive_address()->to_string() == "198.51.100.8:4001");
}

TEST_CASE("malformed messages are rejected with clear errors", "[stun]") {
  auto good = hex(kSampleIpv4Response);
  struct Case {
    const char* name;
    std::vector<std::uint8_t> bytes;
    const char* expect;
  };
  std::vector<Case> cases;
  cases.push_back({"empty", {}, "truncated"});
  cases.push_back({"short header", std::vector<std::uint8_t>(good.begin(), good.begin() + 19), "truncated"});
  {
    auto b = good;
    b.resize(good.size() - 4);
    cases.push_back({"datagram shorter than the length", b, "truncated"});
  }
  {
    auto b = good;
    b[3] = 0x3d;
    cases.push_back({"length not a multiple of 4", b, "not a multiple of 4"});
  }
  {
    auto b = good;
    b[0] |= 0x80;
    cases.push_back({"top bits set", b, "top bits"});
  }
  {
    auto b = good;
    b[5] ^= 0x01;
    cases.push_back({"bad cookie", b, "magic cookie"});
  }
  {
    auto b = good;
    b[b.size() - 1] ^= 0x01;  // one bit off in FINGERPRINT
    cases.push_back({"bad fingerprint", b, "FINGERPRINT"});
  }
  {
    auto b = good;
    b[22] = 0x00;
    b[23] = 0x40;  // SOFTWARE length 64 runs past the end
    cases.push_back({"attribute past the end", b, "runs past the end"});
  }
  {
    MessageBuilder mb(Method::Binding, MessageClass::Success, kTid);
    mb.add_u32(0x7f01, 1);
    cases.push_back({"unknown comprehension-required", mb.bytes(), "unknown comprehension-required attribute 0x7f01"});
  }
  for (const auto& c : cases) {
    INFO(c.name);
    auto r = decode(c.bytes);
    REQUIRE_FALSE(r);
    REQUIRE(r.error().category == Category::Protocol);
    REQUIRE_THAT(r.error().message, Catch::Contains(c.expect));
  }
}

TEST_CASE("decoder tolerance", "[stun]") {
  SECTION("trailing bytes after the declared length are ignored") {
    auto b = hex(kSampleIpv4Response);
    b.push_back(0xde);
    b.push_back(0xad);
    auto m = decode(b);
    REQUIRE(m);
    REQUIRE(m->raw.size() == b.size() - 2);
  }
  SECTION("unknown comprehension-optional attributes are kept, not fatal") {
    MessageBuilder mb(Method::Binding, MessageClass::Success, kTid);
    mb.add_u32(0xC001, 1);
    auto m = decode(mb.bytes());
    REQUIRE(m);
    REQUIRE(m->find(0xC001));
  }
  SECTION("unknown required attributes are listed when not rejecting (server side)") {
    MessageBuilder mb(Method::Binding, MessageClass::Request, kTid);
    mb.add_u32(0x0003, 6);
    mb.add_u32(0x7001, 1);
    DecodeOptions o;
    o.reject_unknown_required = false;
    auto m = decode(mb.bytes(), o);
    REQUIRE(m);
    REQUIRE(m->unknown_required == std::vector<std::uint16_t>{0x7001});
  }
  SECTION("attributes after MESSAGE-INTEGRITY other than FINGERPRINT are ignored") {
    auto key = short_term_key("pw");
    MessageBuilder mb(Method::Binding, MessageClass::Success, kTid);
    mb.add_xor_address(attr::XorMappedAddress, *Address::parse("192.0.2.1", 1));
    mb.add_message_integrity(key);
    mb.add_string(attr::Software, "junk after MI");
    mb.add_u32(0x7f02, 0);  // would be fatal if it counted
    auto m = decode(mb.bytes());
    REQUIRE(m);
    REQUIRE_FALSE(m->find(attr::Software));
    REQUIRE(m->verify_integrity(key) == Integrity::Valid);
  }
  SECTION("duplicates: the first occurrence counts") {
    MessageBuilder mb(Method::Binding, MessageClass::Success, kTid);
    mb.add_string(attr::Software, "first");
    mb.add_string(attr::Software, "second");
    REQUIRE(decode(mb.bytes())->string_attribute(attr::Software) == "first");
  }
  SECTION("zero-length attribute") {
    MessageBuilder mb(Method::Binding, MessageClass::Request, kTid);
    mb.add_string(attr::Username, "");
    auto m = decode(mb.bytes());
    REQUIRE(m);
    REQUIRE(m->string_attribute(attr::Username) == "");
  }
  SECTION("bad address families are not addresses") {
    MessageBuilder mb(Method::Binding, MessageClass::Success, kTid);
    std::vector<std::uint8_t> v = {0, 3, 0, 1, 1, 2, 3, 4};
    mb.add(attr::XorMappedAddress, v);
    std::vector<std::uint8_t> v6 = {0, 2, 0, 1, 1, 2, 3, 4};  // IPv6 family, 8-byte value
    mb.add(attr::MappedAddress, v6);
    auto m = decode(mb.bytes());
    REQUIRE(m);
    REQUIRE_FALSE(m->reflexive_address());
  }
}

TEST_CASE("ERROR-CODE classes and reasons", "[stun]") {
  for (int code : {300, 399, 400, 401, 438, 500, 600, 699}) {
    MessageBuilder b(Method::Binding, MessageClass::Error, kTid);
    b.add_error_code(code, code == 699 ? std::string(127, 'x') : "");
    auto m = decode(b.bytes());
    REQUIRE(m);
    REQUIRE(m->error_code()->code == code);
  }
}

TEST_CASE("transaction ids are random", "[stun]") {
  auto a = random_transaction_id();
  auto b = random_transaction_id();
  REQUIRE(a);
  REQUIRE(b);
  REQUIRE(*a != *b);
}

TEST_CASE("address helpers", "[stun]") {
  REQUIRE(Address::parse("[::1]", 5)->to_string() == "[::1]:5");
  REQUIRE(Address::parse("127.0.0.1", 3478)->to_string() == "127.0.0.1:3478");
  REQUIRE_FALSE(Address::parse("stun.example.org", 1));
  REQUIRE(crc32(std::vector<std::uint8_t>{'1', '2', '3', '4', '5', '6', '7', '8', '9'}) == 0xCBF43926u);
}
