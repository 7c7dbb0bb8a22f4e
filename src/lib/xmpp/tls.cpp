// SPDX-License-Identifier: MIT
#include "xmpp/tls.hpp"

#include <openssl/err.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <cstdlib>
#include <filesystem>

namespace xnet::xmpp {

Result<void> setup_client_context(asio::ssl::context& ctx, const TlsPolicy& policy) {
  SSL_CTX* c = ctx.native_handle();
  SSL_CTX_set_min_proto_version(c, TLS1_2_VERSION);
  SSL_CTX_set_mode(c, SSL_MODE_RELEASE_BUFFERS);
  if (policy.insecure) {
    SSL_CTX_set_verify(c, SSL_VERIFY_NONE, nullptr);
    return {};
  }
  SSL_CTX_set_verify(c, SSL_VERIFY_PEER, nullptr);
  if (!policy.ca_file.empty()) {
    // --ca-file replaces the system store (as curl's --cacert does).
    if (SSL_CTX_load_verify_locations(c, policy.ca_file.c_str(), nullptr) != 1) {
      unsigned long e = ERR_get_error();
      char buf[256];
      ERR_error_string_n(e, buf, sizeof buf);
      ERR_clear_error();
      return fail(Category::Tls, "cannot load CA certificates from " + policy.ca_file + ": " + buf,
                  "the file must hold PEM certificates");
    }
    return {};
  }
  // The system store through its hashed directory: certificates are read only when a chain
  // needs them, instead of parsing the whole bundle on every run (most of a whoami's CPU).
  const char* file_env = std::getenv(X509_get_default_cert_file_env());
  const char* dir_env = std::getenv(X509_get_default_cert_dir_env());
  std::string dir = dir_env && *dir_env ? dir_env : X509_get_default_cert_dir();
  std::error_code ec;
  bool dir_ok = std::filesystem::is_directory(dir, ec);
  if (file_env && *file_env) SSL_CTX_load_verify_locations(c, file_env, nullptr);
  if (dir_ok) {
    SSL_CTX_load_verify_locations(c, nullptr, dir.c_str());
  } else if (!(file_env && *file_env)) {
    SSL_CTX_set_default_verify_paths(c);
  }
  ERR_clear_error();
  return {};
}

void prepare_client_ssl(SSL* ssl, const std::string& domain, bool direct_tls, bool insecure) {
  SSL_set_tlsext_host_name(ssl, domain.c_str());
  if (!insecure) {
    // RFC 6125 / RFC 7590: the certificate must name the XMPP domain, not the SRV target.
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    SSL_set1_host(ssl, domain.c_str());
  }
  if (direct_tls) {
    static const unsigned char kAlpn[] = "\x0bxmpp-client";
    SSL_set_alpn_protos(ssl, kAlpn, sizeof kAlpn - 1);
  }
}

std::string tls_exporter(SSL* ssl) {
  if (SSL_version(ssl) != TLS1_3_VERSION) return {};
  unsigned char out[32];
  static const char kLabel[] = "EXPORTER-Channel-Binding";
  if (SSL_export_keying_material(ssl, out, sizeof out, kLabel, sizeof kLabel - 1, nullptr, 0, 0) != 1) {
    ERR_clear_error();
    return {};
  }
  return std::string(reinterpret_cast<const char*>(out), sizeof out);
}

std::string verify_failure(SSL* ssl) {
  long r = SSL_get_verify_result(ssl);
  if (r == X509_V_OK) return {};
  return X509_verify_cert_error_string(r);
}

std::string tls_description(SSL* ssl) {
  const char* v = SSL_get_version(ssl);
  const SSL_CIPHER* c = SSL_get_current_cipher(ssl);
  std::string s = v ? v : "TLS";
  if (c) s += std::string(" ") + SSL_CIPHER_get_name(c);
  return s;
}

}  // namespace xnet::xmpp
