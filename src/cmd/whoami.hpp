// SPDX-License-Identifier: MIT
#pragma once

#include <iosfwd>

#include <nlohmann/json.hpp>

#include "cmd/common.hpp"
#include "xmpp/whoami.hpp"

namespace xnet::xmpp {
/// JSON form of a whoami report (keys documented in xnet-whoami(1)).
void to_json(nlohmann::json& j, const WhoamiReport& r);
/// Text form of a whoami report.
void print_text(std::ostream& os, const WhoamiReport& r, const cmd::Style& s);
}  // namespace xnet::xmpp
