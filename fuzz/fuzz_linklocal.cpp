// SPDX-License-Identifier: MIT
// fuzz-link: xnet_core xnet_xep xnet_mdns
// The incoming side of `lan announce`: arbitrary bytes, in arbitrary chunks, into a responder
// LinkLocalStream (restricted XML parser, stream headers of every generation, messages, IQ
// answers, stream errors). The first byte picks the chunk size.
#include <cstddef>
#include <cstdint>
#include <cstdlib>

#include <sstream>

#include "mdns/ll_stream.hpp"
// The renderers live in the command layer (not a module library): compiled in here.
#include "../src/cmd/lan_render.cpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace xnet::mdns;
  if (size == 0) return 0;
  std::size_t chunk = 1 + data[0] % 64;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  StreamConfig cfg;
  cfg.local_name = "juliet@pronto";
  cfg.max_stanza_bytes = 4096;
  cfg.max_stanzas = 64;
  cfg.initiator = (data[0] & 0x80) != 0;
  cfg.peer_name = "romeo@forza";
  LinkLocalStream s(cfg);
  s.start();
  for (std::size_t pos = 0; pos < in.size(); pos += chunk) {
    s.feed(in.substr(pos, chunk));
    (void)s.take_output();
    for (const auto& ev : s.take_events()) {
      if (ev.kind == StreamEvent::Kind::Message) {
        ServerEvent e;
        e.kind = ServerEvent::Kind::Message;
        e.stream = ev;
        xnet::cmd::LanMessage m{e};
        (void)nlohmann::json(m).dump();  // throws (and the fuzzer reports it) on invalid UTF-8
        std::ostringstream text;
        print_text(text, m, xnet::cmd::Style{});
      }
    }
    if (s.finished()) break;
  }
  s.close();
  auto tail = s.take_output();
  // Once both sides have closed, nothing more may be written.
  if (s.finished()) {
    s.feed("<message><body>late</body></message>");
    s.close();
    if (!s.take_output().empty()) std::abort();
  }
  (void)tail;
  return 0;
}
