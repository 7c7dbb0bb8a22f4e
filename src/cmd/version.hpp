// SPDX-License-Identifier: MIT
// `xnet --version`: what this build is and which libraries it runs with.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "cmd/common.hpp"

namespace xnet::cmd {

/// The version facts of this executable; the text and JSON forms both read these fields.
struct VersionInfo {
  std::string version;        ///< project version (CMakeLists.txt)
  std::string git;            ///< `git describe --always --dirty` at configure time, "" outside git
  std::string build_type;     ///< CMAKE_BUILD_TYPE
  std::string openssl;        ///< OpenSSL_version(OPENSSL_VERSION) of the library loaded at run time
  std::string openssl_build;  ///< OPENSSL_VERSION_TEXT of the headers built against
  std::string expat;          ///< XML_ExpatVersion() at run time
  std::string mdns_backend;   ///< avahi, dns_sd or none
  std::string mdns_backend_version;  ///< pkg-config version of the backend's library at build time
};

/// The facts of this build and process.
VersionInfo version_info();

void to_json(nlohmann::json& j, const VersionInfo& v);
/// The text form: version_text() and a newline.
void print_text(std::ostream& os, const VersionInfo& v, const Style& s);

/// What `xnet --version` prints: text lines for people, or one JSON object when json is true.
/// The text's first line starts with "xnet <version>". No trailing newline.
std::string version_text(bool json = false);

}  // namespace xnet::cmd
