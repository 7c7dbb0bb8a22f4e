// SPDX-License-Identifier: MIT
#pragma once

namespace xnet {

/// Install SIGINT/SIGTERM handlers that only record the signal; every wait loop in the
/// library checks interrupted() and ends with Category::Interrupted. SIGPIPE is ignored.
void install_interrupt_handlers();
/// True once SIGINT or SIGTERM arrived.
bool interrupted();
/// The signal received (SIGINT/SIGTERM), 0 if none.
int interrupt_signal();
/// A file descriptor that becomes readable when a signal arrives (self-pipe), for poll() loops;
/// -1 before install_interrupt_handlers().
int interrupt_fd();

}  // namespace xnet
