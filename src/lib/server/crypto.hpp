// SPDX-License-Identifier: MIT
#pragma once

// The crypto helpers moved to util/crypto.hpp (xnet_core) so the client SASL code can use them
// without linking the server; server code keeps naming them server::crypto.

#include "util/crypto.hpp"

namespace xnet::server {
namespace crypto = ::xnet::crypto;
}  // namespace xnet::server
