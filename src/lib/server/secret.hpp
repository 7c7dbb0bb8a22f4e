// SPDX-License-Identifier: MIT
#pragma once

// The per-server secret kept in the state directory (`server-secret`, mode 0600): the key of
// the fake SCRAM credentials shown for unknown users (scram.hpp), so they differ from server to
// server and cannot be computed from a public formula.

#include <filesystem>
#include <string>

#include "error.hpp"

namespace xnet::server {

/// Reads STATE_DIR/server-secret, creating it (32 random bytes, base64, mode 0600) when missing.
/// Returns the raw secret bytes. Category::Io when it cannot be read or created,
/// Category::Config when it exists but is malformed.
Result<std::string> load_server_secret(const std::filesystem::path& state_dir);

}  // namespace xnet::server
