// SPDX-License-Identifier: MIT
#include "server/accounts.hpp"

#include <sys/stat.h>

#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace xnet::server {

using nlohmann::json;

std::optional<std::string> normalize_localpart(std::string_view local) {
  if (local.empty() || local.size() > 1023) return std::nullopt;
  std::string out;
  for (unsigned char c : local) {
    if (c <= 0x20 || c == 0x7f || std::string_view("\"&'/:<>@").find(static_cast<char>(c)) != std::string_view::npos)
      return std::nullopt;
    out.push_back(c < 0x80 ? static_cast<char>(std::tolower(c)) : static_cast<char>(c));
  }
  return out;
}

namespace {

json cred_json(const ScramCredential& c) {
  return {{"salt", crypto::base64(c.salt)},
          {"iterations", c.iterations},
          {"stored_key", crypto::base64(c.stored_key)},
          {"server_key", crypto::base64(c.server_key)}};
}

std::optional<ScramCredential> cred_from(const json& j, std::size_t keylen) {
  if (!j.is_object()) return std::nullopt;
  ScramCredential c;
  try {
    auto salt = crypto::unbase64(j.at("salt").get<std::string>());
    auto sk = crypto::unbase64(j.at("stored_key").get<std::string>());
    auto svk = crypto::unbase64(j.at("server_key").get<std::string>());
    c.iterations = j.at("iterations").get<int>();
    if (!salt || !sk || !svk || sk->size() != keylen || svk->size() != keylen || c.iterations < 1)
      return std::nullopt;
    c.salt = *salt;
    c.stored_key = *sk;
    c.server_key = *svk;
  } catch (const json::exception&) {
    return std::nullopt;
  }
  return c;
}

}  // namespace

Result<Accounts> Accounts::load(const std::filesystem::path& path) {
  Accounts a;
  std::ifstream in(path);
  if (!in) {
    std::error_code ec;
    if (!std::filesystem::exists(path, ec)) return a;
    return fail(Category::Io, "cannot read accounts file " + path.string());
  }
  std::stringstream ss;
  ss << in.rdbuf();
  json j = json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("users") || !j["users"].is_object())
    return fail(Category::Config, path.string() + ": not an xnet accounts file");
  for (auto& [name, v] : j["users"].items()) {
    auto s1 = cred_from(v.value("scram_sha_1", json()), 20);
    auto s256 = cred_from(v.value("scram_sha_256", json()), 32);
    if (!s1 || !s256) return fail(Category::Config, path.string() + ": bad credentials for user " + name);
    a.users_[name] = AccountEntry{*s1, *s256};
  }
  return a;
}

Result<void> Accounts::save(const std::filesystem::path& path) const {
  json users = json::object();
  for (const auto& [name, e] : users_)
    users[name] = {{"scram_sha_1", cred_json(e.sha1)}, {"scram_sha_256", cred_json(e.sha256)}};
  json doc = {{"version", 1}, {"users", users}};
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  auto tmp = path;
  tmp += ".tmp";
  {
    auto old = ::umask(077);
    std::ofstream out(tmp, std::ios::trunc);
    ::umask(old);
    if (!out) return fail(Category::Io, "cannot write " + tmp.string());
    out << doc.dump(2) << "\n";
    if (!out.flush()) return fail(Category::Io, "cannot write " + tmp.string());
  }
  ::chmod(tmp.c_str(), 0600);
  std::filesystem::rename(tmp, path, ec);
  if (ec) return fail(Category::Io, "cannot replace " + path.string() + ": " + ec.message());
  return {};
}

Result<void> Accounts::set(const std::string& user, const std::string& password, int iterations) {
  auto n = normalize_localpart(user);
  if (!n) return fail(Category::Input, "invalid user name '" + user + "'", "use letters, digits, '.', '-', '_'");
  if (password.empty()) return fail(Category::Input, "empty password");
  users_[*n] = AccountEntry{derive_scram(crypto::Hash::Sha1, password, crypto::random_bytes(16), iterations),
                            derive_scram(crypto::Hash::Sha256, password, crypto::random_bytes(16), iterations)};
  return {};
}

bool Accounts::remove(const std::string& user) {
  auto n = normalize_localpart(user);
  return n && users_.erase(*n) > 0;
}

std::optional<ScramCredential> Accounts::find(const std::string& user, crypto::Hash h) const {
  auto n = normalize_localpart(user);
  if (!n) return std::nullopt;
  auto it = users_.find(*n);
  if (it == users_.end()) return std::nullopt;
  return h == crypto::Hash::Sha1 ? it->second.sha1 : it->second.sha256;
}

int Accounts::typical_iterations() const {
  std::map<int, int> count;
  for (const auto& [k, v] : users_) ++count[v.sha256.iterations];
  int best = 4096, n = 0;
  for (auto [it, c] : count)
    if (c > n) best = it, n = c;
  return best;
}

std::vector<std::string> Accounts::users() const {
  std::vector<std::string> out;
  for (const auto& [k, v] : users_) out.push_back(k);
  return out;
}

}  // namespace xnet::server
