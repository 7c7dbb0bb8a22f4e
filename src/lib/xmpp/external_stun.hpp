// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <string>

#include "error.hpp"
#include "stun/behaviour.hpp"
#include "trace.hpp"
#include "util/deadline.hpp"
#include "xmpp/session.hpp"

namespace xnet::xmpp {

/// What the STUN servers that session's server announces (XEP-0215, UDP stun/turn entries,
/// each distinct host:port once) see of this host, with the RFC 5780 tests where a server
/// supports them; bounded by deadline and at most a few seconds. Errors: NotSupported when
/// none is announced; the first server's failure when none answers. The list is found by
/// discover_stun_services() (the domain, or a component in its disco#items), or asked of
/// service_jid only when it is not empty (whoami --service). The STUN traffic runs on
/// session.io(), the loop that also serves the stream.
Result<stun::UdpBehaviour> external_via_stun(Session& session, Deadline deadline, Trace& trace,
                                             const std::string& service_jid = {});

/// The bound on the automatic STUN check of a plain `whoami`, from the SIC answer to the end.
inline constexpr std::chrono::milliseconds kQuickStunBudget{1000};

/// The cheap, automatic form of external_via_stun() (whoami without --stun): the list is the
/// reply to the extdisco:2 request with id list_id that left in the first flight (so no XMPP
/// round trip is added), only its UDP STUN servers are asked, each distinct server once, and
/// everything, the wait for that reply included, ends within budget (and deadline). The RFC 5780
/// filtering tests, which cost a whole retransmission budget when unanswered, are left to
/// --stun; the mapping tests run. Errors: NotSupported when list_id is empty, the request was
/// refused or the list names no UDP STUN server; Timeout when no server answered in time.
Result<stun::UdpBehaviour> quick_external_via_stun(Session& session, const std::string& list_id,
                                                   std::chrono::milliseconds budget, Deadline deadline,
                                                   Trace& trace);

}  // namespace xnet::xmpp
