// SPDX-License-Identifier: MIT
#include "server/certificate.hpp"

#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include <cstdio>
#include <memory>

namespace xnet::server {

namespace {

struct FileCloser {
  void operator()(FILE* f) const { std::fclose(f); }
};
using FilePtr = std::unique_ptr<FILE, FileCloser>;

bool add_ext(X509* cert, int nid, const char* value) {
  X509V3_CTX ctx;
  X509V3_set_ctx_nodb(&ctx);
  X509V3_set_ctx(&ctx, cert, cert, nullptr, nullptr, 0);
  X509_EXTENSION* ext = X509V3_EXT_conf_nid(nullptr, &ctx, nid, value);
  if (!ext) return false;
  X509_add_ext(cert, ext, -1);
  X509_EXTENSION_free(ext);
  return true;
}

}  // namespace

Result<std::string> certificate_fingerprint(const std::filesystem::path& path) {
  FilePtr f(std::fopen(path.c_str(), "r"));
  if (!f) return fail(Category::Config, "cannot read certificate " + path.string());
  X509* cert = PEM_read_X509(f.get(), nullptr, nullptr, nullptr);
  if (!cert) return fail(Category::Config, path.string() + ": not a PEM certificate");
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int n = 0;
  X509_digest(cert, EVP_sha256(), md, &n);
  X509_free(cert);
  std::string out;
  static const char* d = "0123456789ABCDEF";
  for (unsigned int i = 0; i < n; ++i) {
    if (i) out.push_back(':');
    out.push_back(d[md[i] >> 4]);
    out.push_back(d[md[i] & 15]);
  }
  return out;
}

Result<CertificateFiles> ensure_self_signed(const std::filesystem::path& dir, const std::string& domain) {
  CertificateFiles files{dir / "cert.pem", dir / "key.pem", false, {}};
  std::error_code ec;
  if (std::filesystem::exists(files.cert, ec) && std::filesystem::exists(files.key, ec)) {
    auto fp = certificate_fingerprint(files.cert);
    if (!fp) return tl::unexpected(fp.error());
    files.fingerprint = *fp;
    return files;
  }
  std::filesystem::create_directories(dir, ec);
  if (ec) return fail(Category::Io, "cannot create state directory " + dir.string() + ": " + ec.message());
  ::chmod(dir.c_str(), 0700);

  EVP_PKEY* key = EVP_EC_gen("P-256");
  if (!key) return fail(Category::Internal, "cannot generate a key");
  X509* cert = X509_new();
  X509_set_version(cert, 2);
  ASN1_INTEGER_set(X509_get_serialNumber(cert), static_cast<long>(std::time(nullptr)));
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 10L * 365 * 24 * 3600);
  X509_set_pubkey(cert, key);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>(domain.c_str()), -1, -1,
                             0);
  X509_NAME_add_entry_by_txt(name, "O", MBSTRING_UTF8, reinterpret_cast<const unsigned char*>("xnet serve"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  std::string san = "DNS:" + domain + ",DNS:localhost,IP:127.0.0.1,IP:::1";
  add_ext(cert, NID_subject_alt_name, san.c_str());
  add_ext(cert, NID_basic_constraints, "critical,CA:FALSE");
  add_ext(cert, NID_ext_key_usage, "serverAuth");
  bool ok = X509_sign(cert, key, EVP_sha256()) > 0;
  if (ok) {
    auto old = ::umask(077);
    FilePtr kf(std::fopen(files.key.c_str(), "w"));
    ::umask(old);
    FilePtr cf(std::fopen(files.cert.c_str(), "w"));
    ok = kf && cf && PEM_write_PrivateKey(kf.get(), key, nullptr, nullptr, 0, nullptr, nullptr) == 1 &&
         PEM_write_X509(cf.get(), cert) == 1;
  }
  X509_free(cert);
  EVP_PKEY_free(key);
  if (!ok) return fail(Category::Io, "cannot write the certificate to " + dir.string());
  files.generated = true;
  auto fp = certificate_fingerprint(files.cert);
  if (!fp) return tl::unexpected(fp.error());
  files.fingerprint = *fp;
  return files;
}

}  // namespace xnet::server
