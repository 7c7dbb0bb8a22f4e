// SPDX-License-Identifier: MIT
#include "xmpp/sasl.hpp"

#include <charconv>

namespace xnet::xmpp::sasl {

namespace {

Error auth_error(std::string msg) { return Error(Category::Auth, std::move(msg)); }

// RFC 5802 §5.1: attributes are "x=value" separated by ','.
std::optional<std::string_view> attribute(std::string_view msg, char key) {
  std::size_t pos = 0;
  while (pos <= msg.size()) {
    auto end = msg.find(',', pos);
    auto part = msg.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
    if (part.size() >= 2 && part[0] == key && part[1] == '=') return part.substr(2);
    if (end == std::string_view::npos) break;
    pos = end + 1;
  }
  return std::nullopt;
}

class Scram final : public Mechanism {
 public:
  Scram(crypto::Hash h, bool plus, Credentials c) : h_(h), plus_(plus), c_(std::move(c)) {
    name_ = h == crypto::Hash::Sha1 ? "SCRAM-SHA-1" : "SCRAM-SHA-256";
    if (plus_) name_ += "-PLUS";
  }
  std::string_view name() const override { return name_; }

  std::string initial() override {
    if (plus_) gs2_ = "p=tls-exporter,,";
    else if (!c_.cb_exporter.empty() && c_.server_offers_plus) gs2_ = "n,,";  // we chose not to bind
    else gs2_ = c_.cb_exporter.empty() ? "n,," : "y,,";
    cnonce_ = c_.nonce.empty() ? crypto::base64(crypto::random_bytes(18)) : c_.nonce;
    first_bare_ = "n=" + escape_saslname(c_.username) + ",r=" + cnonce_;
    step_ = 1;
    return gs2_ + first_bare_;
  }

  Result<std::string> step(std::string_view challenge) override {
    if (step_ == 1) return client_final(challenge);
    if (step_ == 2) {
      // Some servers send server-final as a challenge and expect an empty response.
      if (auto r = verify(challenge); !r) return tl::unexpected(r.error());
      return std::string();
    }
    return tl::unexpected(auth_error("unexpected SCRAM challenge after the server was verified"));
  }

  bool client_done() const override { return step_ >= 2; }

  Result<void> finish(std::string_view data) override {
    if (step_ == 3) {
      if (!data.empty()) return verify(data);  // must match what the challenge proved
      return {};
    }
    if (step_ != 2) return tl::unexpected(auth_error("SCRAM success before the exchange finished"));
    if (data.empty())
      return tl::unexpected(auth_error("the server reported success without proving it knows the password"));
    return verify(data);
  }

 private:
  Result<std::string> client_final(std::string_view server_first) {
    if (server_first.starts_with("m="))
      return tl::unexpected(auth_error("SCRAM: the server requires an unsupported extension"));
    if (auto e = attribute(server_first, 'e'))
      return tl::unexpected(auth_error("SCRAM: server error " + std::string(e->substr(0, 64))));
    auto r = attribute(server_first, 'r');
    auto s = attribute(server_first, 's');
    auto i = attribute(server_first, 'i');
    if (!r || !s || !i) return tl::unexpected(Error(Category::Protocol, "SCRAM: malformed server-first message"));
    if (!r->starts_with(cnonce_) || r->size() == cnonce_.size())
      return tl::unexpected(auth_error("SCRAM: the server nonce does not extend ours"));
    auto salt = crypto::unbase64(*s);
    if (!salt || salt->empty()) return tl::unexpected(Error(Category::Protocol, "SCRAM: bad salt"));
    int iterations = 0;
    auto [p, ec] = std::from_chars(i->data(), i->data() + i->size(), iterations);
    if (ec != std::errc() || p != i->data() + i->size() || iterations < 1)
      return tl::unexpected(Error(Category::Protocol, "SCRAM: bad iteration count"));
    if (iterations > c_.max_iterations)
      return tl::unexpected(auth_error("SCRAM: the server asks for " + std::to_string(iterations) +
                                       " iterations (limit " + std::to_string(c_.max_iterations) + ")"));
    std::string cbind = gs2_;
    if (plus_) cbind += c_.cb_exporter;
    std::string without_proof = "c=" + crypto::base64(cbind) + ",r=" + std::string(*r);
    std::string auth_message = first_bare_ + "," + std::string(server_first) + "," + without_proof;
    std::string salted = crypto::pbkdf2(h_, c_.password, *salt, iterations);
    std::string client_key = crypto::hmac(h_, salted, "Client Key");
    std::string stored_key = crypto::digest(h_, client_key);
    std::string signature = crypto::hmac(h_, stored_key, auth_message);
    std::string proof = client_key;
    for (std::size_t k = 0; k < proof.size(); ++k) proof[k] = static_cast<char>(proof[k] ^ signature[k]);
    server_signature_ = crypto::hmac(h_, crypto::hmac(h_, salted, "Server Key"), auth_message);
    step_ = 2;
    return without_proof + ",p=" + crypto::base64(proof);
  }

  Result<void> verify(std::string_view server_final) {
    if (auto e = attribute(server_final, 'e'))
      return tl::unexpected(auth_error("SCRAM: server error " + std::string(e->substr(0, 64))));
    auto v = attribute(server_final, 'v');
    auto sig = v ? crypto::unbase64(*v) : std::nullopt;
    if (!sig || !crypto::equal(*sig, server_signature_))
      return tl::unexpected(auth_error("SCRAM: the server signature is wrong (the server does not know the "
                                       "password, or the connection is intercepted)"));
    step_ = 3;
    return {};
  }

  crypto::Hash h_;
  bool plus_;
  Credentials c_;
  std::string name_, gs2_, cnonce_, first_bare_, server_signature_;
  int step_ = 0;
};

class Plain final : public Mechanism {
 public:
  explicit Plain(Credentials c) : c_(std::move(c)) {}
  std::string_view name() const override { return "PLAIN"; }
  std::string initial() override { return std::string(1, '\0') + c_.username + '\0' + c_.password; }
  Result<std::string> step(std::string_view) override {
    return tl::unexpected(Error(Category::Protocol, "PLAIN: unexpected challenge"));
  }
  Result<void> finish(std::string_view) override { return {}; }

 private:
  Credentials c_;
};

class Anonymous final : public Mechanism {
 public:
  std::string_view name() const override { return "ANONYMOUS"; }
  std::string initial() override { return {}; }
  Result<std::string> step(std::string_view) override { return std::string(); }
  Result<void> finish(std::string_view) override { return {}; }
};

class Ht final : public Mechanism {
 public:
  Ht(std::string name, Credentials c) : name_(std::move(name)), c_(std::move(c)) {
    if (name_.ends_with("-EXPR")) cb_ = c_.cb_exporter;
  }
  std::string_view name() const override { return name_; }
  std::string initial() override {
    return c_.username + '\0' + crypto::hmac(crypto::Hash::Sha256, c_.password, "Initiator" + cb_);
  }
  Result<std::string> step(std::string_view) override {
    return tl::unexpected(Error(Category::Protocol, name_ + ": unexpected challenge"));
  }
  Result<void> finish(std::string_view data) override {
    if (data.empty()) return {};
    if (!crypto::equal(data, crypto::hmac(crypto::Hash::Sha256, c_.password, "Responder" + cb_)))
      return tl::unexpected(auth_error(name_ + ": the server's proof of the token is wrong"));
    return {};
  }

 private:
  std::string name_;
  Credentials c_;
  std::string cb_;
};

}  // namespace

bool is_supported_ht(std::string_view name) { return name == "HT-SHA-256-NONE" || name == "HT-SHA-256-EXPR"; }

std::unique_ptr<Mechanism> make_ht(std::string_view name, Credentials creds) {
  if (!is_supported_ht(name)) return nullptr;
  return std::make_unique<Ht>(std::string(name), std::move(creds));
}

std::string escape_saslname(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    if (c == ',') out += "=2C";
    else if (c == '=') out += "=3D";
    else out += c;
  }
  return out;
}

std::unique_ptr<Mechanism> make_scram(crypto::Hash h, bool plus, Credentials creds) {
  return std::make_unique<Scram>(h, plus, std::move(creds));
}
std::unique_ptr<Mechanism> make_plain(Credentials creds) { return std::make_unique<Plain>(std::move(creds)); }
std::unique_ptr<Mechanism> make_anonymous() { return std::make_unique<Anonymous>(); }

std::unique_ptr<Mechanism> make(std::string_view name, Credentials creds) {
  if (name == "SCRAM-SHA-256-PLUS") return make_scram(crypto::Hash::Sha256, true, std::move(creds));
  if (name == "SCRAM-SHA-1-PLUS") return make_scram(crypto::Hash::Sha1, true, std::move(creds));
  if (name == "SCRAM-SHA-256") return make_scram(crypto::Hash::Sha256, false, std::move(creds));
  if (name == "SCRAM-SHA-1") return make_scram(crypto::Hash::Sha1, false, std::move(creds));
  if (name == "PLAIN") return make_plain(std::move(creds));
  if (name == "ANONYMOUS") return make_anonymous();
  return nullptr;
}

const std::vector<std::string>& default_order() {
  static const std::vector<std::string> order{"SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256",
                                              "SCRAM-SHA-1", "PLAIN"};
  return order;
}

}  // namespace xnet::xmpp::sasl
