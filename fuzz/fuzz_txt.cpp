// SPDX-License-Identifier: MIT
// fuzz-link: xnet_core xnet_xep xnet_mdns
// TXT RDATA decoder (RFC 6763 §6) and what browse does with the result: presence fields,
// JSON and text rendering. Whatever decodes must re-encode and decode to the same record,
// and the JSON must always be valid.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include "mdns/peers.hpp"
#include "mdns/presence.hpp"
#include "mdns/txt.hpp"
// The renderers live in the command layer (not a module library): compiled in here.
#include "../src/cmd/lan_render.cpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace xnet::mdns;
  std::string_view wire(reinterpret_cast<const char*>(data), size);
  auto rec = decode_txt(wire);
  if (!rec) return 0;
  auto again = encode_txt(*rec);
  if (again) {
    auto back = decode_txt(*again);
    if (!back || !(*back == *rec)) std::abort();
  }
  Peer p;
  p.name = std::string(wire.substr(0, std::min<std::size_t>(wire.size(), 63)));
  p.txt_raw = *split_txt_rdata(wire);
  p.txt = *rec;
  p.presence = presence_from_txt(*rec);
  nlohmann::json j = p;
  auto s = j.dump();  // throws (and the fuzzer reports it) on invalid UTF-8
  (void)xnet::cmd::peer_text(p);
  (void)s;
  return 0;
}
