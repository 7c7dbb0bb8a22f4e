// SPDX-License-Identifier: MIT
// The `lan browse` operation against a scripted backend: no daemon, no terminal.
#include <sys/socket.h>

#include <catch2/catch.hpp>

#include "mdns/browse.hpp"

using namespace xnet::mdns;
using namespace std::chrono_literals;
using K = BackendEvent::Kind;

namespace {

// A backend whose browse() queues a fixed script of events.
class ScriptedBackend final : public Backend {
 public:
  explicit ScriptedBackend(std::vector<BackendEvent> script) : script_(std::move(script)) {}
  std::string_view name() const override { return "scripted"; }
  xnet::Result<std::string> publish(const ServiceSpec&, const RenameRule&, std::chrono::milliseconds) override {
    return xnet::fail(xnet::Category::NotSupported, "no");
  }
  xnet::Result<void> update_txt(const TxtRecord&) override { return {}; }
  void unpublish() override {}
  xnet::Result<void> browse(std::string_view type) override {
    browsed = std::string(type);
    for (auto& e : script_) events().push(e);
    return {};
  }
  xnet::Result<ResolvedService> resolve(std::string_view, std::string_view, std::chrono::milliseconds) override {
    return xnet::fail(xnet::Category::Dns, "no");
  }
  std::string browsed;

 private:
  std::vector<BackendEvent> script_;
};

BackendEvent ev(K kind, const std::string& name = {}) {
  BackendEvent e;
  e.kind = kind;
  e.name = name;
  e.type = "_presence._tcp";
  e.domain = "local";
  e.if_index = 1;
  e.interface = "lo";
  e.family = AF_INET;
  if (kind == K::Resolved) {
    e.host = "lab.local";
    e.port = 5562;
    e.txt = {"txtvers=1"};
    e.address = Address{"127.0.0.1", AF_INET, "lo", 0};
  }
  return e;
}

}  // namespace

TEST_CASE("one-shot browse ends at all-for-now once everything found has resolved", "[mdns][browse]") {
  ScriptedBackend b({ev(K::Found, "a@lab"), ev(K::Found, "b@lab"), ev(K::AllForNow), ev(K::Resolved, "a@lab"),
                     ev(K::Resolved, "b@lab")});
  BrowseRequest req;
  req.timeout = 5s;
  auto r = browse_peers(b, req, nullptr, nullptr, xnet::null_trace());
  REQUIRE(r);
  CHECK(b.browsed == "_presence._tcp");
  CHECK(r->end == BrowseEnd::Complete);
  CHECK(r->complete);
  REQUIRE(r->peers.size() == 2);
  CHECK(r->peers[0].name == "a@lab");
  CHECK(r->elapsed < 2s);
}

TEST_CASE("one-shot browse without all-for-now ends incomplete at the deadline", "[mdns][browse]") {
  ScriptedBackend b({ev(K::Found, "a@lab"), ev(K::Resolved, "a@lab")});
  BrowseRequest req;
  req.timeout = 150ms;
  auto r = browse_peers(b, req, nullptr, nullptr, xnet::null_trace());
  REQUIRE(r);
  CHECK(r->end == BrowseEnd::Deadline);
  CHECK_FALSE(r->complete);
  CHECK(r->peers.size() == 1);
  CHECK(r->elapsed >= 150ms);
}

TEST_CASE("wait_for ends once every named peer resolved and keeps only those", "[mdns][browse]") {
  ScriptedBackend b({ev(K::Found, "a@lab"), ev(K::Resolved, "a@lab"), ev(K::Found, "Bob@Lab"),
                     ev(K::Resolved, "Bob@Lab"), ev(K::Resolved, "c@lab")});
  BrowseRequest req;
  req.timeout = 5s;
  req.wait_for = {"bob@lab", "a@lab"};
  auto r = browse_peers(b, req, nullptr, nullptr, xnet::null_trace());
  REQUIRE(r);
  CHECK(r->end == BrowseEnd::Found);
  CHECK(r->complete);
  CHECK(r->missing.empty());
  REQUIRE(r->peers.size() == 2);
  CHECK(r->peers[0].name == "Bob@Lab");
  CHECK(r->peers[1].name == "a@lab");
  CHECK(r->elapsed < 1s);  // no wait for all-for-now or the deadline
}

TEST_CASE("wait_for fails with Dns naming the missing peers at the deadline", "[mdns][browse]") {
  ScriptedBackend b({ev(K::Found, "a@lab"), ev(K::Resolved, "a@lab"), ev(K::AllForNow)});
  BrowseRequest req;
  req.timeout = 200ms;
  req.wait_for = {"a@lab", "ghost@lab"};
  auto r = browse_peers(b, req, nullptr, nullptr, xnet::null_trace());
  REQUIRE_FALSE(r);
  CHECK(r.error().category == xnet::Category::Dns);
  CHECK(r.error().message == "not on the link after 0.2 s: ghost@lab");
}

TEST_CASE("a peer that left again no longer counts for wait_for", "[mdns][browse]") {
  ScriptedBackend b({ev(K::Resolved, "a@lab"), ev(K::Removed, "a@lab"), ev(K::Resolved, "b@lab")});
  BrowseRequest req;
  req.timeout = 200ms;
  req.wait_for = {"a@lab", "b@lab"};
  auto r = browse_peers(b, req, nullptr, nullptr, xnet::null_trace());
  REQUIRE_FALSE(r);
  CHECK(r.error().message.find("a@lab") != std::string::npos);
}

TEST_CASE("watch mode streams events until stop, leaving out own peers on request", "[mdns][browse]") {
  ScriptedBackend b({ev(K::Resolved, "me@lab"), ev(K::Resolved, "a@lab"), ev(K::Removed, "a@lab")});
  BrowseRequest req;
  req.watch = true;
  req.exclude_own = true;
  req.self = "me@lab";
  std::vector<std::pair<PeerEvent::Kind, std::string>> seen;
  auto r = browse_peers(
      b, req, [&](const PeerEvent& e) { seen.emplace_back(e.kind, e.peer.name); },
      [&] { return seen.size() >= 2; }, xnet::null_trace());
  REQUIRE(r);
  CHECK(r->end == BrowseEnd::Interrupted);
  REQUIRE(seen.size() == 2);
  CHECK(seen[0] == std::make_pair(PeerEvent::Kind::New, std::string("a@lab")));
  CHECK(seen[1] == std::make_pair(PeerEvent::Kind::Removed, std::string("a@lab")));
}

TEST_CASE("a daemon failure ends the browse with Daemon", "[mdns][browse]") {
  auto f = ev(K::Failure);
  f.message = "avahi-daemon went away";
  ScriptedBackend b({ev(K::Resolved, "a@lab"), f});
  BrowseRequest req;
  auto r = browse_peers(b, req, nullptr, nullptr, xnet::null_trace());
  REQUIRE_FALSE(r);
  CHECK(r.error().category == xnet::Category::Daemon);
}
