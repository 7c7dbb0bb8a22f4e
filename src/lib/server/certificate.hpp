// SPDX-License-Identifier: MIT
#pragma once

#include <filesystem>
#include <string>

#include "error.hpp"

namespace xnet::server {

struct CertificateFiles {
  std::filesystem::path cert, key;
  bool generated = false;    ///< created by this call
  std::string fingerprint;   ///< SHA-256 of the DER certificate, "AB:CD:..."
};

/// The self-signed certificate kept in state_dir (`cert.pem`, `key.pem`, mode 0600 key),
/// generated once for domain (SANs: domain, localhost, 127.0.0.1, ::1; EC P-256, 10 years).
Result<CertificateFiles> ensure_self_signed(const std::filesystem::path& state_dir, const std::string& domain);

/// SHA-256 fingerprint of the first certificate in the PEM file at path.
Result<std::string> certificate_fingerprint(const std::filesystem::path& path);

}  // namespace xnet::server
