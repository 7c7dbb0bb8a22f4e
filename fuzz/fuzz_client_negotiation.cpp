// SPDX-License-Identifier: MIT
// fuzz-link: xnet_core
// Feeds arbitrary server→client bytes, in arbitrary chunks, to the client negotiation codec
// (xmpp::ClientNegotiator and its SASL mechanisms). The codec has no Asio, so its sources are
// compiled in here and only xnet_core is linked.
#include "../src/lib/xmpp/negotiation.cpp"
#include "../src/lib/xmpp/sasl.cpp"

#include <cstddef>
#include <cstdint>

namespace {

struct CountingTrace final : xnet::Trace {
  bool enabled(xnet::TraceArea) const override { return true; }
  void wire(xnet::TraceArea, xnet::TraceDir, std::string_view d) override { bytes += d.size(); }
  void progress(int, std::string_view) override {}
  void warning(std::string_view) override {}
  std::size_t bytes = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  if (size < 2) return 0;
  // Byte 0: chunk size; byte 1: mode bits.
  std::size_t chunk = 1 + data[0] % 97;
  std::uint8_t mode = data[1];
  std::string_view in(reinterpret_cast<const char*>(data + 2), size - 2);

  using namespace xnet::xmpp;
  NegotiatorConfig c;
  c.jid = (mode & 1) ? "example.org" : "user@example.org";
  c.password = "pencil";
  c.resource = "fuzz";
  c.direct_tls = mode & 2;
  c.pipeline_starttls = mode & 4;
  c.require_tls = !(mode & 8);
  c.scram_nonce = "fyko+d2lbbFgONRv9qkxdawL";
  c.request_fast_token = mode & 32;
  if (mode & 64) c.fast_token = FastToken{(mode & 128) ? "HT-SHA-256-EXPR" : "HT-SHA-256-NONE", "tok", ""};
  c.user_agent_id = "fuzz";
  c.limits.max_stanza_bytes = 16 * 1024;
  c.limits.max_pre_session_bytes = 64 * 1024;
  CountingTrace trace;
  ClientNegotiator n(c, trace);
  n.start();
  if (c.direct_tls) n.tls_established({(mode & 16) ? "TLSv1.3" : "TLSv1.2", std::string(32, 'x')});
  xnet::xml::Element iq("iq");
  iq.set("type", "get").set("id", "first");
  iq.add("ping", "urn:xmpp:ping");
  n.send(iq);
  for (std::size_t off = 0; off < in.size(); off += chunk) {
    n.feed(in.substr(off, chunk));
    while (auto e = n.next_event()) {
      if (e->kind == Event::Kind::StartTls) n.tls_established({"TLSv1.3", std::string(32, 'y')});
      if (e->kind == Event::Kind::Bound) {
        n.keepalive();
        (void)n.ping();
      }
    }
    (void)n.take_output();
  }
  n.end_of_input();
  while (n.next_event()) {
  }
  n.close();
  (void)n.take_output();
  return 0;
}
