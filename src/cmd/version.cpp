// SPDX-License-Identifier: MIT
#include "cmd/version.hpp"

#include <expat.h>
#include <openssl/crypto.h>
#include <openssl/opensslv.h>

#include <ostream>

// Set for this file only by CMakeLists.txt, so a new commit recompiles nothing else.
#ifndef XNET_VERSION
#define XNET_VERSION "0.0.0"
#endif
#ifndef XNET_GIT_DESCRIBE
#define XNET_GIT_DESCRIBE ""
#endif
#ifndef XNET_BUILD_TYPE
#define XNET_BUILD_TYPE ""
#endif
#ifndef XNET_MDNS_BACKEND_NAME
#define XNET_MDNS_BACKEND_NAME "none"
#endif
#ifndef XNET_MDNS_BACKEND_VERSION
#define XNET_MDNS_BACKEND_VERSION ""
#endif

namespace xnet::cmd {

VersionInfo version_info() {
  VersionInfo v;
  v.version = XNET_VERSION;
  v.git = XNET_GIT_DESCRIBE;
  v.build_type = XNET_BUILD_TYPE;
  v.openssl = OpenSSL_version(OPENSSL_VERSION);
  v.openssl_build = OPENSSL_VERSION_TEXT;
  v.expat = XML_ExpatVersion();
  v.mdns_backend = XNET_MDNS_BACKEND_NAME;
  v.mdns_backend_version = XNET_MDNS_BACKEND_VERSION;
  return v;
}

void to_json(nlohmann::json& j, const VersionInfo& v) {
  j = nlohmann::json{{"version", v.version},
                     {"git", v.git.empty() ? nlohmann::json(nullptr) : nlohmann::json(v.git)},
                     {"build_type", v.build_type},
                     {"openssl", v.openssl},
                     {"openssl_build", v.openssl_build},
                     {"expat", v.expat},
                     {"mdns_backend", v.mdns_backend},
                     {"mdns_backend_version", v.mdns_backend_version}};
}

void print_text(std::ostream& os, const VersionInfo&, const Style&) { os << version_text(false) << '\n'; }

std::string version_text(bool json) {
  auto v = version_info();
  if (json) return nlohmann::json(v).dump();
  std::string s = "xnet " + v.version;
  if (!v.git.empty() || !v.build_type.empty()) {
    s += " (";
    if (!v.git.empty()) s += "git " + v.git;
    if (!v.git.empty() && !v.build_type.empty()) s += ", ";
    s += v.build_type;
    s += ")";
  }
  s += "\n" + v.openssl;
  if (v.openssl != v.openssl_build) s += " (built with " + v.openssl_build + ")";
  s += "\n" + v.expat;
  s += "\nmDNS: " + v.mdns_backend;
  if (!v.mdns_backend_version.empty()) s += " " + v.mdns_backend_version;
  return s;
}

}  // namespace xnet::cmd
