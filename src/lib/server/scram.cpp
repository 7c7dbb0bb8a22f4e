// SPDX-License-Identifier: MIT
#include "server/scram.hpp"

#include <vector>

namespace xnet::server {

using crypto::Hash;

ScramCredential derive_scram(Hash h, std::string_view password, std::string_view salt, int iterations) {
  ScramCredential c;
  c.salt = std::string(salt);
  c.iterations = iterations;
  std::string salted = crypto::pbkdf2(h, password, salt, iterations);
  c.stored_key = crypto::digest(h, crypto::hmac(h, salted, "Client Key"));
  c.server_key = crypto::hmac(h, salted, "Server Key");
  return c;
}

bool check_password(Hash h, const ScramCredential& cred, std::string_view password) {
  auto d = derive_scram(h, password, cred.salt, cred.iterations);
  return crypto::equal(d.stored_key, cred.stored_key);
}

std::string_view scram_mechanism(Hash h) { return h == Hash::Sha1 ? "SCRAM-SHA-1" : "SCRAM-SHA-256"; }

ScramCredential fake_scram_credential(Hash h, std::string_view secret, std::string_view user, int iterations) {
  const char nul = '\0';
  auto label = [&](std::string_view what) {
    std::string l(what);
    l += nul;
    l += scram_mechanism(h);
    l += nul;
    l += user;
    return l;
  };
  ScramCredential c;
  c.salt = crypto::hmac(Hash::Sha256, secret, label("fake-salt")).substr(0, 16);
  c.iterations = iterations;
  c.stored_key = crypto::hmac(h, secret, label("fake-stored-key"));
  c.server_key = crypto::hmac(h, secret, label("fake-server-key"));
  return c;
}

namespace {

Error sasl_error(std::string_view cond, std::string_view why) {
  return Error(Category::Auth, std::string(cond) + ": " + std::string(why));
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  std::size_t start = 0;
  while (true) {
    auto p = s.find(sep, start);
    out.push_back(s.substr(start, p == std::string_view::npos ? std::string_view::npos : p - start));
    if (p == std::string_view::npos) break;
    start = p + 1;
  }
  return out;
}

// RFC 5802 §5.1 saslname: "=2C" is ',', "=3D" is '='; any other '=' is malformed.
std::optional<std::string> decode_saslname(std::string_view s) {
  std::string out;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '=') {
      if (s.substr(i, 3) == "=2C") out.push_back(',');
      else if (s.substr(i, 3) == "=3D") out.push_back('=');
      else return std::nullopt;
      i += 2;
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

bool printable_nonce(std::string_view n) {
  if (n.empty()) return false;
  for (unsigned char c : n)
    if (c < 0x21 || c > 0x7e || c == ',') return false;
  return true;
}

}  // namespace

ScramServer::ScramServer(Hash h, Lookup lookup, std::string nonce, FakeLookup fake)
    : h_(h), lookup_(std::move(lookup)), fake_(std::move(fake)), snonce_(std::move(nonce)) {
  if (snonce_.empty()) snonce_ = crypto::base64(crypto::random_bytes(18));
  if (!fake_) {
    static const std::string process_secret = crypto::random_bytes(32);
    fake_ = [h](const std::string& u) { return fake_scram_credential(h, process_secret, u, 4096); };
  }
}

void ScramServer::set_channel_binding(bool plus, std::string exporter) {
  plus_ = plus;
  exporter_ = std::move(exporter);
}

Result<std::string> ScramServer::first(std::string_view msg) {
  if (step_ != 0) return tl::unexpected(sasl_error("malformed-request", "unexpected client-first"));
  step_ = 1;
  // gs2-header: cbind-flag "," [authzid] ","
  auto c1 = msg.find(',');
  if (c1 == std::string_view::npos) return tl::unexpected(sasl_error("malformed-request", "no GS2 header"));
  auto c2 = msg.find(',', c1 + 1);
  if (c2 == std::string_view::npos) return tl::unexpected(sasl_error("malformed-request", "no GS2 header"));
  auto flag = msg.substr(0, c1);
  if (flag.starts_with("p=")) {
    if (!plus_) return tl::unexpected(sasl_error("malformed-request", "channel binding requires a -PLUS mechanism"));
    if (flag != "p=tls-exporter" || exporter_.empty())
      return tl::unexpected(sasl_error("malformed-request", "unsupported channel binding type"));
  } else if (plus_) {
    return tl::unexpected(sasl_error("malformed-request", "a -PLUS mechanism needs channel binding"));
  } else if (flag == "y") {
    // RFC 5802 §6 would refuse "y" (the client could bind but believes we cannot) when -PLUS
    // is offered. Clients that know only tls-unique (slixmpp) send it against our tls-exporter
    // offer (XEP-0440), so it is accepted: the binding type it knows is really not offered.
  } else if (flag != "n") {
    return tl::unexpected(sasl_error("malformed-request", "bad GS2 flag"));
  }
  auto authz = msg.substr(c1 + 1, c2 - c1 - 1);
  gs2_ = std::string(msg.substr(0, c2 + 1));
  client_first_bare_ = std::string(msg.substr(c2 + 1));
  auto parts = split(client_first_bare_, ',');
  if (parts.size() < 2 || !parts[0].starts_with("n=") || !parts[1].starts_with("r="))
    return tl::unexpected(sasl_error("malformed-request", "expected n=,r="));
  if (parts[0].size() > 1024) return tl::unexpected(sasl_error("malformed-request", "username too long"));
  auto user = decode_saslname(parts[0].substr(2));
  if (!user || user->empty()) return tl::unexpected(sasl_error("malformed-request", "bad username"));
  user_ = *user;
  if (!authz.empty()) {
    if (!authz.starts_with("a=")) return tl::unexpected(sasl_error("malformed-request", "bad authzid"));
    auto a = decode_saslname(authz.substr(2));
    // Only "act as myself" is allowed: a=user or a=user@domain is checked by the caller.
    if (!a) return tl::unexpected(sasl_error("invalid-authzid", "bad authzid"));
  }
  auto cnonce = parts[1].substr(2);
  if (!printable_nonce(cnonce) || cnonce.size() > 256)
    return tl::unexpected(sasl_error("malformed-request", "bad nonce"));
  nonce_ = std::string(cnonce) + snonce_;
  cred_ = lookup_(user_);
  known_ = cred_.has_value();
  // Unknown users get a stable fake credential from the server's secret, and the rest of the
  // exchange does the same work, so neither the answer nor its timing says which users exist.
  if (!cred_) cred_ = fake_(user_);
  server_first_ = "r=" + nonce_ + ",s=" + crypto::base64(cred_->salt) + ",i=" + std::to_string(cred_->iterations);
  return server_first_;
}

Result<std::string> ScramServer::final(std::string_view msg) {
  if (step_ != 1) return tl::unexpected(sasl_error("malformed-request", "unexpected client-final"));
  step_ = 2;
  auto p = msg.rfind(",p=");
  if (p == std::string_view::npos) return tl::unexpected(sasl_error("malformed-request", "no proof"));
  auto without_proof = msg.substr(0, p);
  auto proof_b64 = msg.substr(p + 3);
  auto parts = split(without_proof, ',');
  if (parts.size() < 2 || !parts[0].starts_with("c=") || !parts[1].starts_with("r="))
    return tl::unexpected(sasl_error("malformed-request", "expected c=,r="));
  auto cbind = crypto::unbase64(parts[0].substr(2));
  if (!cbind) return tl::unexpected(sasl_error("incorrect-encoding", "bad base64 in c="));
  if (*cbind != gs2_ + (plus_ ? exporter_ : std::string())) return tl::unexpected(sasl_error("malformed-request", "channel binding mismatch"));
  if (parts[1].substr(2) != nonce_) return tl::unexpected(sasl_error("malformed-request", "nonce mismatch"));
  auto proof = crypto::unbase64(proof_b64);
  if (!proof) return tl::unexpected(sasl_error("incorrect-encoding", "bad base64 in p="));
  if (!cred_) return tl::unexpected(sasl_error("not-authorized", "unknown user or wrong password"));
  if (proof->size() != crypto::digest_size(h_))
    return tl::unexpected(sasl_error("not-authorized", "unknown user or wrong password"));
  std::string auth_message = client_first_bare_ + "," + server_first_ + "," + std::string(without_proof);
  std::string sig = crypto::hmac(h_, cred_->stored_key, auth_message);
  std::string client_key = *proof;
  for (std::size_t i = 0; i < client_key.size(); ++i) client_key[i] = static_cast<char>(client_key[i] ^ sig[i]);
  bool match = crypto::equal(crypto::digest(h_, client_key), cred_->stored_key);
  if (!match || !known_) return tl::unexpected(sasl_error("not-authorized", "unknown user or wrong password"));
  return "v=" + crypto::base64(crypto::hmac(h_, cred_->server_key, auth_message));
}

std::string sasl_condition(const Error& e) {
  auto c = e.message.find(':');
  return c == std::string::npos ? std::string("not-authorized") : e.message.substr(0, c);
}

}  // namespace xnet::server
