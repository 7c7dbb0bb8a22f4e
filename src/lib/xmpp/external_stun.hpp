// SPDX-License-Identifier: MIT
#pragma once

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

}  // namespace xnet::xmpp
