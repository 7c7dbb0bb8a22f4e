// SPDX-License-Identifier: MIT
// libFuzzer target for the STUN decoder: decode must never crash, and whatever it accepts must
// survive every accessor and re-verification without reading out of bounds.
// fuzz-link: xnet_core
// Only the codec is compiled in: the rest of xnet_stun is Asio coroutines, which clang 14 cannot build.
#include <cstddef>
#include <cstdint>
#include <span>

#include "../src/lib/stun/message.cpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace xnet::stun;
  std::span<const std::uint8_t> in(data, size);
  (void)looks_like_stun(in);
  for (bool reject : {true, false}) {
    DecodeOptions o;
    o.reject_unknown_required = reject;
    auto m = decode(in, o);
    if (!m) continue;
    (void)m->reflexive_address();
    (void)m->xor_address_attribute(attr::XorRelayedAddress);
    (void)m->address_attribute(attr::AlternateServer);
    (void)m->error_code();
    (void)m->unknown_attributes();
    (void)m->string_attribute(attr::Realm);
    (void)m->u32_attribute(attr::Lifetime);
    (void)m->describe();
    static const std::uint8_t key[] = {'k', 'e', 'y'};
    (void)m->verify_integrity(key);
    (void)m->verify_integrity_sha256(key);
    // Re-encoding the attributes must give a message that decodes again.
    MessageBuilder b(static_cast<Method>(m->method & 0x0FFF), m->cls, m->transaction_id);
    for (const auto& a : m->attributes)
      if (a.type != attr::Fingerprint && a.type != attr::MessageIntegrity &&
          a.type != attr::MessageIntegritySha256)
        b.add(a.type, a.value);
    b.add_fingerprint();
    DecodeOptions lax;
    lax.reject_unknown_required = false;
    if (b.bytes().size() <= kMaxMessageSize && !decode(b.bytes(), lax)) __builtin_trap();
  }
  return 0;
}
