// SPDX-License-Identifier: MIT
// fuzz-link: xnet_core xnet_xep
// Feeds arbitrary bytes, in arbitrary chunks, to the restricted XML stream parser and the server's
// c2s session (stanza dispatch, SASL, routing, SIC, XEP-0215). xnet_server is compiled in here
// without its Asio/coroutine part, which clang 14 with libstdc++ cannot build.
#define ASIO_STANDALONE 1
#include "server_core.inc"

#include <cstddef>
#include <cstdint>

namespace {

using namespace xnet::server;

Hub& hub() {
  static NullEventLog log;
  static Hub h = [] {
    HubOptions o;
    o.allow_anonymous = true;
    o.limits.max_stanza_bytes = 8192;
    o.external_services = {{"stun", "stun.example.org", 3478, "udp", "", "", "", "", 86400, false},
                           {"turn", "turn.example.org", 3478, "udp", "", "", "", "north", 3600, true}};
    Accounts a;
    (void)a.set("alice", "pencil", 1);
    return Hub(o, std::move(a), log, xnet::null_trace());
  }();
  return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  // The first byte picks the chunk size, so split reads are explored too.
  std::size_t chunk = 1 + data[0] % 64;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  Sink a_t, b_t;
  {
    C2sSession peer(hub(), b_t, Endpoint{"192.0.2.1", 1}, true);
    peer.on_data(
        "<stream:stream to='localhost' version='1.0' xmlns='jabber:client' "
        "xmlns:stream='http://etherx.jabber.org/streams'><auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' "
        "mechanism='ANONYMOUS'/>");
    C2sSession s(hub(), a_t, Endpoint{"203.0.113.7", 5000}, data[0] & 0x80);
    for (std::size_t off = 0; off < in.size(); off += chunk) {
      s.on_data(in.substr(off, chunk));
      if (off % 7 == 0)
        for (auto& t : std::exchange(a_t.timers, {})) t();
    }
    s.on_timer(Clock::now());
  }
  return 0;
}
