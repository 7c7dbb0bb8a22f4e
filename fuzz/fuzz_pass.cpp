// SPDX-License-Identifier: MIT
// libFuzzer target for the PASS codec (XEP-0003): any document the restricted XML parser accepts
// must parse, classify, rebuild and re-parse to the same struct, and its error form must map
// without crashing.
// fuzz-link: xnet_xep xnet_core
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "xep/xep0003.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  using namespace xnet;
  std::string_view text(reinterpret_cast<const char*>(data), size);
  xml::ParseLimits limits;
  limits.max_bytes = 64 * 1024;
  auto doc = xml::parse(text, limits);
  if (!doc) return 0;
  const xml::Element* q = doc->name == "query" ? &*doc : xep0003::find_query(*doc);
  (void)xep0003::parse_error(*doc);
  (void)xep0003::parse_port(doc->attr_or("port"));
  if (!q) return 0;
  auto parsed = xep0003::parse_query(*q);
  if (!parsed) return 0;
  for (const char* type : {"get", "set", "result", "error"}) {
    (void)xep0003::classify(type, *parsed, true);
    (void)xep0003::classify(type, *parsed, false);
  }
  auto again = xep0003::parse_query(xep0003::build_query(*parsed));
  if (!again || !(*again == *parsed)) std::abort();  // build ∘ parse must be the identity
  auto reply = xep0003::make_error_reply(*doc, xep0003::PassError::NotFound);
  if (xep0003::parse_error(reply).condition != "item-not-found") std::abort();
  return 0;
}
