// SPDX-License-Identifier: MIT
#pragma once

// Client TLS setup for XMPP streams (RFC 7590): OpenSSL context, certificate checks against the
// XMPP domain (RFC 6125), and the facts a session reports or hands to SASL.

#include <openssl/ssl.h>

#include <string>

#include <asio/ssl/context.hpp>

#include "error.hpp"

namespace xnet::xmpp {

/// How the server certificate is checked.
struct TlsPolicy {
  std::string ca_file;    ///< PEM bundle that replaces the system store ("" = system store)
  bool insecure = false;  ///< no verification at all
};

/// A TLS client context: TLS 1.2 or later, peer verification per policy. The system store is
/// looked up lazily through its hashed directory (SSL_CERT_DIR / OpenSSL's default), plus
/// SSL_CERT_FILE when set, so no CA bundle is parsed up front. Errors: Tls (unreadable CA file).
Result<void> setup_client_context(asio::ssl::context& ctx, const TlsPolicy& policy);

/// Prepare ssl for a handshake with the XMPP domain: SNI, host-name check (unless insecure),
/// and ALPN "xmpp-client" for direct TLS (XEP-0368).
void prepare_client_ssl(SSL* ssl, const std::string& domain, bool direct_tls, bool insecure);

/// The RFC 9266 tls-exporter channel binding (32 bytes) for TLS 1.3, "" otherwise.
std::string tls_exporter(SSL* ssl);

/// The verify result text when certificate verification failed ("" when it did not).
std::string verify_failure(SSL* ssl);

/// "TLSv1.3 TLS_AES_256_GCM_SHA384" for reports.
std::string tls_description(SSL* ssl);

}  // namespace xnet::xmpp
