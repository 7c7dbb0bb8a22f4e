// SPDX-License-Identifier: MIT
// The pieces of `lan announce` that are protocol, not presentation: which text an XML stream can
// carry, the stdin control protocol that changes the announced presence, and the XEP-0115 caps
// of xnet's link-local identity.
#pragma once

#include <string_view>

#include "error.hpp"
#include "mdns/presence.hpp"
#include "xep/xep0174.hpp"

namespace xnet::mdns {

/// Check that s can travel in an XML 1.0 stream (§2.2): valid UTF-8, no control characters but
/// tab, LF and CR. Category::Input naming what otherwise.
Result<void> check_xml_text(std::string_view what, std::string_view s);

/// Apply one control line of the `lan announce` stdin protocol to presence:
/// `status avail|away|dnd`, `msg TEXT`, `nick TEXT` (an empty TEXT removes the field).
/// Returns false for a blank line (nothing to do), true when presence was changed.
/// Category::Input for an unknown command, a bad status or text XML cannot carry.
Result<bool> apply_control_line(std::string_view line, Presence& presence);

/// Set presence's XEP-0115 fields (node, ver, hash=sha-1) for identity and xnet's features.
void set_caps(Presence& presence, const xep0174::Identity& identity);

}  // namespace xnet::mdns
