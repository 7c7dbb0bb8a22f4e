// SPDX-License-Identifier: MIT
#include "server/fast_tokens.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <map>
#include <sstream>

#include <nlohmann/json.hpp>

#include "server/accounts.hpp"
#include "server/crypto.hpp"

namespace xnet::server {

namespace {

using crypto::Hash;

constexpr std::size_t kTokenChars = 86;          // > 64: HMAC hashes the key (see the header)
constexpr std::int64_t kKeepExpired = 7 * 86400;  // expired entries still answer credentials-expired

std::string xor_bytes(std::string a, std::string_view b) {
  for (std::size_t i = 0; i < a.size() && i < b.size(); ++i) a[i] = static_cast<char>(a[i] ^ b[i]);
  return a;
}

std::string client_key(const std::string& user_agent_id) {
  return crypto::hex(crypto::digest(Hash::Sha256, user_agent_id)).substr(0, 32);
}

}  // namespace

std::string credential_fingerprint(std::string_view secret, const ScramCredential& c) {
  std::string label = "fast-credential";
  label.push_back('\0');
  label += c.salt;
  label.push_back('\0');
  label += c.stored_key;
  return crypto::hex(crypto::hmac(Hash::Sha256, secret, label)).substr(0, 32);
}

Result<FastTokenStore> FastTokenStore::open(std::filesystem::path path, std::string secret, FastTokenOptions o) {
  FastTokenStore s;
  s.path_ = std::move(path);
  s.secret_ = std::move(secret);
  s.o_ = o;
  if (s.path_.empty()) return s;
  std::ifstream in(s.path_);
  if (!in) {
    std::error_code ec;
    if (!std::filesystem::exists(s.path_, ec)) return s;
    return fail(Category::Io, "cannot read " + s.path_.string());
  }
  std::stringstream ss;
  ss << in.rdbuf();
  auto bad = [&](const std::string& why) {
    return fail(Category::Config, s.path_.string() + ": " + why, "delete it (clients fall back to their passwords)");
  };
  nlohmann::json j = nlohmann::json::parse(ss.str(), nullptr, false);
  if (j.is_discarded() || !j.is_object() || j.value("version", 0) != 1 || !j.contains("tokens") ||
      !j["tokens"].is_array())
    return bad("not a FAST token file");
  for (const auto& t : j["tokens"]) {
    if (!t.is_object()) return bad("malformed entry");
    Entry e;
    try {
      e.user = t.at("user").get<std::string>();
      e.client = t.at("client").get<std::string>();
      e.mechanism = t.at("mechanism").get<std::string>();
      e.is_new = t.at("slot").get<std::string>() == "new";
      auto nonce = crypto::unbase64(t.at("nonce").get<std::string>());
      auto key = crypto::unbase64(t.at("key").get<std::string>());
      if (!nonce || !key || key->size() != 32) return bad("malformed entry");
      e.nonce = *nonce;
      e.key = *key;
      e.cred = t.at("credential").get<std::string>();
      e.issued = t.at("issued").get<std::int64_t>();
      e.expiry = t.at("expiry").get<std::int64_t>();
      e.count = t.value("count", std::uint64_t{0});
    } catch (const nlohmann::json::exception&) {
      return bad("malformed entry");
    }
    s.entries_.push_back(std::move(e));
  }
  return s;
}

std::string FastTokenStore::mask(const Entry& e) const {
  std::string label = "fast-mask";
  for (const auto* part : {&e.user, &e.client, &e.mechanism, &e.nonce}) {
    label.push_back('\0');
    label += *part;
  }
  return crypto::hmac(Hash::Sha256, secret_, label);
}

void FastTokenStore::save() {
  if (path_.empty()) return;
  nlohmann::json list = nlohmann::json::array();
  for (const auto& e : entries_)
    list.push_back({{"user", e.user},
                    {"client", e.client},
                    {"mechanism", e.mechanism},
                    {"slot", e.is_new ? "new" : "current"},
                    {"nonce", crypto::base64(e.nonce)},
                    {"key", crypto::base64(e.key)},
                    {"credential", e.cred},
                    {"issued", e.issued},
                    {"expiry", e.expiry},
                    {"count", e.count}});
  std::string text = nlohmann::json{{"version", 1}, {"tokens", list}}.dump() + "\n";
  auto tmp = path_;
  tmp += ".tmp";
  std::error_code ec;
  std::filesystem::create_directories(path_.parent_path(), ec);
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return;
  bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
  ok = ::close(fd) == 0 && ok;
  if (!ok || ::rename(tmp.c_str(), path_.c_str()) != 0) ::unlink(tmp.c_str());
}

void FastTokenStore::prune(std::int64_t now) {
  std::erase_if(entries_, [&](const Entry& e) { return e.expiry + kKeepExpired < now; });
  if (entries_.size() > o_.max_entries) {
    std::sort(entries_.begin(), entries_.end(), [](const Entry& a, const Entry& b) { return a.issued > b.issued; });
    entries_.resize(o_.max_entries);
  }
}

FastTokenStore::Issued FastTokenStore::issue(const std::string& user, const std::string& client,
                                             const std::string& mechanism, const std::string& cred_fp,
                                             std::int64_t now) {
  auto cid = client_key(client);
  // XEP-0484 §3.5: a newer token replaces any unused one of the same client.
  std::erase_if(entries_, [&](const Entry& e) { return e.user == user && e.client == cid && e.is_new; });
  // A bounded number of clients per account: the one issued to longest ago goes.
  std::map<std::string, std::int64_t> clients;
  for (const auto& e : entries_)
    if (e.user == user && e.client != cid) clients[e.client] = std::max(clients[e.client], e.issued);
  while (clients.size() >= o_.max_clients_per_account) {
    auto oldest = std::min_element(clients.begin(), clients.end(),
                                   [](const auto& a, const auto& b) { return a.second < b.second; });
    std::string gone = oldest->first;
    clients.erase(oldest);
    std::erase_if(entries_, [&](const Entry& e) { return e.user == user && e.client == gone; });
  }
  Issued out;
  out.token = crypto::random_token(kTokenChars);
  out.expiry = now + o_.lifetime.count();
  Entry e;
  e.user = user;
  e.client = cid;
  e.mechanism = mechanism;
  e.is_new = true;
  e.nonce = crypto::random_bytes(16);
  e.cred = cred_fp;
  e.issued = now;
  e.expiry = out.expiry;
  e.key = xor_bytes(crypto::digest(Hash::Sha256, out.token), mask(e));
  entries_.push_back(std::move(e));
  prune(now);
  save();
  return out;
}

FastTokenStore::Verdict FastTokenStore::verify(const std::string& user, const std::string& client,
                                               const std::string& mechanism, std::string_view initiator,
                                               std::string_view cb, const std::string& cred_fp,
                                               std::optional<std::uint64_t> count, bool invalidate,
                                               std::int64_t now) {
  Verdict v;
  auto cid = client_key(client);
  std::string msg = "Initiator";
  msg += cb;
  for (std::size_t i = 0; i < entries_.size(); ++i) {
    Entry& e = entries_[i];
    if (e.user != user || e.client != cid || e.mechanism != mechanism) continue;
    std::string key = xor_bytes(e.key, mask(e));
    if (!crypto::equal(crypto::hmac(Hash::Sha256, key, msg), initiator)) continue;
    // Ours. Expired, from before a password change, or a replayed count: refused, but as
    // expired (the client proved it holds the token; it falls back to its password).
    bool replay = count && *count <= e.count;
    if (now >= e.expiry || e.cred != cred_fp || replay) {
      v.outcome = Outcome::Expired;
      if (!replay) {
        entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(i));
        save();
      }
      return v;
    }
    v.outcome = Outcome::Ok;
    v.responder = crypto::hmac(Hash::Sha256, key, std::string("Responder") + std::string(cb));
    v.expiry = e.expiry;
    if (invalidate) {
      entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(i));
      save();
      return v;
    }
    if (count) e.count = *count;
    bool was_new = e.is_new;
    e.is_new = false;
    bool newer_waiting = false;
    for (const auto& o : entries_)
      if (&o != &e && o.user == user && o.client == cid && o.is_new) newer_waiting = true;
    v.rotate = !newer_waiting && now - e.issued > (e.expiry - e.issued) / 2;
    if (was_new) {
      // XEP-0484 §3.5: using a token invalidates the client's earlier ones.
      std::int64_t issued = e.issued;
      std::erase_if(entries_, [&](const Entry& o) {
        return o.user == user && o.client == cid && !o.is_new && o.issued < issued;
      });
    }
    save();
    return v;
  }
  return v;
}

void forget_fast_tokens(const std::filesystem::path& state_dir, const std::string& user) {
  auto s = FastTokenStore::open(state_dir / kFastTokenFile, {});
  if (s) s->forget_user(normalize_localpart(user).value_or(user));
}

void FastTokenStore::forget_user(const std::string& user) {
  auto n = entries_.size();
  std::erase_if(entries_, [&](const Entry& e) { return e.user == user; });
  if (entries_.size() != n) save();
}

}  // namespace xnet::server
