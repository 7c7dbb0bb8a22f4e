// SPDX-License-Identifier: MIT
#include "error.hpp"

namespace xnet {

int exit_code(Category c) {
  switch (c) {
    case Category::Usage: return 64;
    case Category::Input: return 65;
    case Category::Dns: return 68;
    case Category::Connect: return 69;
    case Category::Internal: return 70;
    case Category::Os: return 71;
    case Category::Io: return 74;
    case Category::Timeout: return 75;
    case Category::Protocol: return 76;
    case Category::Auth: return 77;
    case Category::Config: return 78;
    case Category::Tls: return 79;
    case Category::NotSupported: return 80;
    case Category::Remote: return 81;
    case Category::Daemon: return 82;
    case Category::CheckFailed: return 1;
    case Category::Interrupted: return 130;
  }
  return 70;
}

std::string_view category_name(Category c) {
  switch (c) {
    case Category::Usage: return "usage";
    case Category::Input: return "input";
    case Category::Dns: return "dns";
    case Category::Connect: return "connect";
    case Category::Internal: return "internal";
    case Category::Os: return "os";
    case Category::Io: return "io";
    case Category::Timeout: return "timeout";
    case Category::Protocol: return "protocol";
    case Category::Auth: return "auth";
    case Category::Config: return "config";
    case Category::Tls: return "tls";
    case Category::NotSupported: return "not_supported";
    case Category::Remote: return "remote_error";
    case Category::Daemon: return "daemon";
    case Category::CheckFailed: return "check_failed";
    case Category::Interrupted: return "interrupted";
  }
  return "internal";
}

std::string_view category_label(Category c) {
  switch (c) {
    case Category::Usage: return "usage error";
    case Category::Input: return "malformed input";
    case Category::Dns: return "name resolution failed";
    case Category::Connect: return "connection failed";
    case Category::Internal: return "internal error";
    case Category::Os: return "system error";
    case Category::Io: return "I/O error";
    case Category::Timeout: return "timeout";
    case Category::Protocol: return "protocol error";
    case Category::Auth: return "authentication failed";
    case Category::Config: return "configuration error";
    case Category::Tls: return "TLS error";
    case Category::NotSupported: return "not supported";
    case Category::Remote: return "remote error";
    case Category::Daemon: return "daemon unavailable";
    case Category::CheckFailed: return "check failed";
    case Category::Interrupted: return "interrupted";
  }
  return "internal error";
}

}  // namespace xnet
