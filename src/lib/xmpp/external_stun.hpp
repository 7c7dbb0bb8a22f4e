// SPDX-License-Identifier: MIT
#pragma once

#include "error.hpp"
#include "stun/probe.hpp"
#include "trace.hpp"
#include "util/deadline.hpp"
#include "xmpp/session.hpp"

namespace xnet::xmpp {

/// The external address as the STUN servers that session's server announces (XEP-0215,
/// UDP stun/turn entries) see it. Errors: NotSupported when none is announced, or the
/// probe's error when none answers.
Result<stun::ExternalView> external_via_stun(Session& session, Deadline deadline, Trace& trace);

}  // namespace xnet::xmpp
