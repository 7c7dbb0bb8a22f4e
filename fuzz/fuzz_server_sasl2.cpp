// SPDX-License-Identifier: MIT
// fuzz-link: xnet_core xnet_xep
// The server's XEP-0388 SASL2 / XEP-0386 Bind 2 / XEP-0484 FAST input: arbitrary bytes as an
// <authenticate/> or <response/> document for the codec, and as the rest of a c2s stream whose
// header is already accepted over TLS (with tls-exporter and a FAST token store holding a
// token), in arbitrary chunks. xnet_server is compiled in here without its Asio part.
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
    o.server_secret = "fuzz-secret-fuzz-secret-fuzz-sec";
    o.limits.max_stanza_bytes = 8192;
    o.fast_tokens = std::make_shared<FastTokenStore>(*FastTokenStore::open({}, o.server_secret));
    Accounts a;
    (void)a.set("alice", "pencil", 1);
    auto cred = a.find("alice", xnet::crypto::Hash::Sha256);
    o.fast_tokens->issue("alice", "ua", "HT-SHA-256-NONE", credential_fingerprint(o.server_secret, *cred), 0);
    return Hub(o, std::move(a), log, xnet::null_trace());
  }();
  return h;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size == 0) return 0;
  std::string_view in(reinterpret_cast<const char*>(data + 1), size - 1);
  if (auto doc = xnet::xml::parse(in, {8192, 32})) {
    if (auto a = parse_sasl2_authenticate(*doc)) (void)a->bind_tag.size();
    (void)parse_sasl2_response(*doc);
  }
  // The first byte picks the chunk size, so split reads are explored too.
  std::size_t chunk = 1 + data[0] % 64;
  Sink t;
  t.exporter.assign(32, '\x42');
  {
    C2sSession s(hub(), t, Endpoint{"203.0.113.7", 5000}, true);
    s.on_data(
        "<stream:stream to='localhost' version='1.0' xmlns='jabber:client' "
        "xmlns:stream='http://etherx.jabber.org/streams'>");
    for (std::size_t off = 0; off < in.size(); off += chunk) {
      s.on_data(in.substr(off, chunk));
      if (off % 5 == 0)
        for (auto& f : std::exchange(t.timers, {})) f();
    }
    for (auto& f : std::exchange(t.timers, {})) f();
    s.on_timer(Clock::now());
  }
  return 0;
}
