// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

#include "error.hpp"

namespace xnet::mdns {

/// XEP-0174 §2 / RFC 6763 §4.1.1: a DNS label, hence an instance name, is at most 63 bytes.
inline constexpr std::size_t kMaxLabel = 63;

/// The DNS-SD service type of XEP-0174.
inline constexpr std::string_view kPresenceType = "_presence._tcp";

/// A serverless XMPP identity `user@machine` (XEP-0174 §2). user is UTF-8 (may contain
/// spaces, dots, even `@`); machine is an ASCII host label.
struct InstanceName {
  std::string user;
  std::string machine;

  /// `user@machine`.
  std::string str() const { return user + "@" + machine; }
  bool operator==(const InstanceName&) const = default;
};

/// True when s is well-formed UTF-8 (no overlongs, no surrogates, at most U+10FFFF).
bool valid_utf8(std::string_view s);

/// True when machine is a usable ASCII host label: letters, digits and `-`, 1..63 bytes,
/// not starting or ending with `-`.
bool valid_machine(std::string_view machine);

/// Split and check text as `user@machine`, split at the last `@`. The user part must be
/// non-empty UTF-8 without control characters, the machine part valid_machine(), and the
/// whole at most 63 bytes. Failures are Category::Input with the rule that was broken.
Result<InstanceName> parse_instance(std::string_view text);

/// Check an instance label received from the network: at most 63 bytes, valid UTF-8, no NUL.
/// Unlike parse_instance it does not require the `user@machine` shape (other software
/// publishes other names under _presence._tcp).
bool valid_instance_label(std::string_view label);

/// XEP-0174 §3 conflict rule: the n-th alternative of name when `user@machine` is taken:
/// `user-n@machine` (n >= 1). The user part is shortened at a UTF-8 boundary so that the
/// result still fits in 63 bytes.
InstanceName renamed(const InstanceName& name, unsigned n);

/// The attempt number a renamed() user part carries (`juliet-2` → 2), or 0.
unsigned rename_counter(std::string_view user);

/// The user part with any renamed() suffix removed (`juliet-2` → `juliet`).
std::string base_user(std::string_view user);

/// XEP-0174 §3 machine conflict rule: `pronto` → `pronto-1` → `pronto-2`.
std::string renamed_machine(std::string_view machine, unsigned n);

/// RFC 6763 §4.3 text form of an instance label: `.` → `\.`, `\` → `\\`.
std::string escape_label(std::string_view label);

/// Reverse escape_label, also accepting `\DDD` decimal escapes (as avahi-browse -p prints
/// them, e.g. `alice\064lab`). A malformed escape is Category::Input.
Result<std::string> unescape_label(std::string_view text);

/// Make an ASCII host label out of host (e.g. gethostname()): keep the first DNS label,
/// lower-case, replace other bytes with `-`, trim to 63; "localhost" if nothing is left.
std::string sanitize_machine(std::string_view host);

/// The local default identity: the login name (USER, LOGNAME or the passwd entry) at the
/// sanitized short host name.
InstanceName default_instance();

}  // namespace xnet::mdns
