// SPDX-License-Identifier: MIT
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "error.hpp"
#include "mdns/txt.hpp"

namespace xnet::mdns {

/// XEP-0174 §2.2 presence fields carried in the `_presence._tcp` TXT record. Empty optional
/// means "not published". Nothing here is verified: jid and email are claims.
struct Presence {
  std::string status = "avail";  ///< avail, away or dnd (missing on the wire means avail)
  std::optional<std::string> msg;
  std::optional<std::string> nick;
  std::optional<std::string> first;  ///< `1st`
  std::optional<std::string> last;
  std::optional<std::string> email;
  std::optional<std::string> jid;
  std::optional<std::string> node;  ///< XEP-0115 caps node
  std::optional<std::string> ver;   ///< XEP-0115 verification string
  std::optional<std::string> hash;  ///< XEP-0115 hash algorithm
  std::optional<std::uint16_t> port_p2pj;  ///< deprecated; must equal the SRV port if sent

  bool operator==(const Presence&) const = default;
};

/// True for the three XEP-0174 status values.
bool valid_status(std::string_view status);

/// Build the TXT record for presence: txtvers=1 first, then status, the optional fields that
/// are set, and port.p2pj. A field whose `key=value` exceeds 255 bytes is Category::Input.
Result<TxtRecord> presence_to_txt(const Presence& presence);

/// Read presence from txt (XEP-0174 §2.2): a missing status means avail; an unknown status is
/// kept as received (callers treat it as avail). A malformed port.p2pj is ignored.
Presence presence_from_txt(const TxtRecord& txt);

}  // namespace xnet::mdns
