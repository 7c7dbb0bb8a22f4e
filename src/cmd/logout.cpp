// SPDX-License-Identifier: MIT
// logout: forget the XEP-0484 FAST tokens xnet stored for an account (or all of them), so the
// next login asks for the password again.
#include <ostream>

#include <CLI/CLI.hpp>

#include "cmd/commands.hpp"
#include "cmd/common.hpp"
#include "cmd/fields.hpp"
#include "config.hpp"
#include "util/hostport.hpp"
#include "xmpp/fast_store.hpp"
#include "xmpp/session.hpp"

namespace xnet::cmd {

namespace {

struct LogoutOptions {
  std::string jid;
  std::string server;
  bool direct_tls = false;
  bool all = false;
};

struct LogoutResult {
  std::string account;  ///< "" with --all
  std::string state_dir;
  std::vector<xmpp::StoredToken> removed;
};

nlohmann::json token_json(const xmpp::StoredToken& t) {
  // Never the token itself.
  nlohmann::json j{{"account", t.account}, {"server", t.server}, {"mechanism", t.token.mechanism}, {"expired", t.expired}};
  if (!t.token.expiry.empty()) j["expiry"] = t.token.expiry;  // absent when the server gave none
  return j;
}

const FieldTable<LogoutResult> kLogoutFields = {
    {"account", "account",
     [](const LogoutResult& r) { return r.account.empty() ? nlohmann::json(nullptr) : nlohmann::json(r.account); }},
    {"state_dir", "state directory", [](const LogoutResult& r) { return nlohmann::json(r.state_dir); }},
    {"count", "tokens removed", [](const LogoutResult& r) { return nlohmann::json(r.removed.size()); }},
    // A list: the text form prints one line per token below the fields.
    {"removed", "",
     [](const LogoutResult& r) {
       nlohmann::json a = nlohmann::json::array();
       for (const auto& t : r.removed) a.push_back(token_json(t));
       return a;
     }},
};

void to_json(nlohmann::json& j, const LogoutResult& r) { j = fields_json(kLogoutFields, r); }

void print_text(std::ostream& os, const LogoutResult& r, const Style& s) {
  if (r.removed.empty()) {
    os << (r.account.empty() ? std::string("no stored FAST tokens") : "no stored FAST token for " + r.account)
       << " (in " << r.state_dir << ")\n";
    return;
  }
  for (const auto& t : r.removed)
    os << "removed the FAST token of " << s.bold() << t.account << s.reset() << " at " << t.server
       << (t.expired ? " (expired)" : "") << "\n";
}

// The account: --jid, else the --account / default account of the configuration file.
Result<std::string> account_of(const LogoutOptions& o, Output& out) {
  std::string jid = o.jid;
  if (jid.empty()) {
    const auto& g = out.globals();
    bool explicit_path = !g.config_path.empty();
    auto cfg = config::load(explicit_path ? std::filesystem::path(g.config_path) : config::default_path(), explicit_path);
    if (!cfg) return fail(cfg.error());
    const config::Account* acct = g.account.empty() ? cfg->selected(std::nullopt) : cfg->find(g.account);
    if (!g.account.empty() && !acct) return fail(Category::Config, "no account '" + g.account + "' in " + cfg->source);
    if (acct && acct->jid) jid = *acct->jid;
  }
  if (jid.empty())
    return fail(Category::Usage, "no account given", "use --jid USER@DOMAIN, --account NAME, or --all");
  std::string bare = xmpp::bare_jid(jid);
  if (bare.find('@') == std::string::npos || bare.front() == '@' || bare.back() == '@')
    return fail(Category::Usage, "'" + jid + "' is not an account JID", "expected USER@DOMAIN (anonymous logins keep no token)");
  return bare;
}

void run_logout(const LogoutOptions& o, Output& out) {
  xmpp::TokenStore store;
  LogoutResult r;
  r.state_dir = store.dir();
  if (store.dir().empty())
    throw Error(Category::Config, "no state directory (neither XDG_STATE_HOME nor HOME is set)");
  if (o.all) {
    r.removed = store.list();
    unwrap(store.forget_all());
  } else {
    r.account = unwrap(account_of(o, out));
    if (!o.server.empty()) {
      auto hp = util::parse_host_port(o.server);
      if (!hp) throw Error(Category::Usage, "--server: " + hp.error().message, "expected HOST[:PORT], IPv6 as [ADDR]:PORT");
      xmpp::ConnectConfig c;
      c.jid = r.account;
      c.host = hp->host;
      c.port = hp->port;
      c.direct_tls = o.direct_tls;
      std::string key = xmpp::fast_server_key(c);
      for (auto& t : store.list())
        if (t.account == r.account && t.server == key) r.removed.push_back(std::move(t));
      unwrap(store.forget(r.account, key));
    } else {
      r.removed = unwrap(store.forget_account(r.account));
    }
  }
  out.progress(1, std::to_string(r.removed.size()) + " FAST token(s) removed from " + r.state_dir);
  out.emit(r);
}

}  // namespace

void register_logout(CLI::App& app, Output& out) {
  auto opts = std::make_shared<LogoutOptions>();
  auto* sub = app.add_subcommand("logout", "Forget the stored FAST login tokens (XEP-0484) of an account");
  sub->add_option("--jid", opts->jid, "The account whose tokens to forget (default: --account or the config default)")
      ->type_name("JID");
  sub->add_option("--server", opts->server, "Only the token for this HOST[:PORT] (as given to --server when logging in)")
      ->type_name("HOST[:PORT]");
  sub->add_flag("--direct-tls", opts->direct_tls, "With --server and no port: the direct-TLS default port (5223)");
  auto* all = sub->add_flag("--all", opts->all, "Forget every stored token, of every account");
  all->excludes("--jid");
  all->excludes("--server");
  sub->callback([opts, &out] { run_logout(*opts, out); });
}

}  // namespace xnet::cmd
