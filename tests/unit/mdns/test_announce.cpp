// SPDX-License-Identifier: MIT
// `lan announce` protocol pieces without a daemon or a terminal: XML text checks, the stdin
// control protocol, XEP-0115 caps.
#include <unistd.h>

#include <catch2/catch.hpp>

#include "mdns/announce.hpp"

using namespace xnet::mdns;

TEST_CASE("XML text checks accept tab, LF and CR and refuse other controls and bad UTF-8", "[mdns][announce]") {
  CHECK(check_xml_text("x", "caf\xC3\xA9\tline\r\nnext"));
  auto ctl = check_xml_text("the message", std::string("a\x01" "b"));
  REQUIRE_FALSE(ctl);
  CHECK(ctl.error().category == xnet::Category::Input);
  CHECK(ctl.error().message == "the message contains a control character that XML cannot carry");
  auto utf = check_xml_text("the message", "\xFF\xFE");
  REQUIRE_FALSE(utf);
  CHECK(utf.error().message == "the message is not valid UTF-8");
}

TEST_CASE("control lines change the presence", "[mdns][announce]") {
  Presence p;
  struct Case {
    std::string line;
    bool ok, changed;
  };
  const Case cases[] = {
      {"status away", true, true}, {"msg Out for lunch\r", true, true}, {"nick Jules ", true, true},
      {"", true, false},           {"   ", true, false},               {"status gone", false, false},
      {"dance now", false, false}, {"msg a\x02z", false, false},
  };
  for (const auto& c : cases) {
    CAPTURE(c.line);
    auto r = apply_control_line(c.line, p);
    REQUIRE(static_cast<bool>(r) == c.ok);
    if (r) CHECK(*r == c.changed);
  }
  CHECK(p.status == "away");
  CHECK(p.msg == "Out for lunch");
  CHECK(p.nick == "Jules");
  REQUIRE(apply_control_line("msg", p));
  CHECK_FALSE(p.msg.has_value());  // an empty value removes the field
}

TEST_CASE("caps name xnet by its urn, not a made-up URL", "[mdns][announce]") {
  Presence p;
  set_caps(p, xnet::xep0174::Identity{});
  CHECK(p.node == "urn:xnet:caps");
  CHECK(p.hash == "sha-1");
  REQUIRE(p.ver.has_value());
  CHECK(p.ver->size() == 28);  // base64 of a SHA-1
}

namespace {
// A backend that accepts any publication and records TXT updates.
class RecordingBackend final : public Backend {
 public:
  std::string_view name() const override { return "recording"; }
  xnet::Result<std::string> publish(const ServiceSpec& spec, const RenameRule& rename,
                                    std::chrono::milliseconds) override {
    published = spec;
    return taken ? rename(1) : spec.name;
  }
  xnet::Result<void> update_txt(const TxtRecord& txt) override {
    updates.push_back(txt);
    return {};
  }
  void unpublish() override { unpublished = true; }
  xnet::Result<void> browse(std::string_view) override { return {}; }
  xnet::Result<ResolvedService> resolve(std::string_view, std::string_view, std::chrono::milliseconds) override {
    return xnet::fail(xnet::Category::Dns, "no");
  }
  bool taken = false;
  ServiceSpec published;
  std::vector<TxtRecord> updates;
  bool unpublished = false;
};
}  // namespace

TEST_CASE("announce publishes, applies control lines, and withdraws on stop", "[mdns][announce]") {
  RecordingBackend b;
  b.taken = true;
  int fds[2];
  REQUIRE(::pipe(fds) == 0);
  const std::string lines = "status dnd\nbogus line\nmsg On a call\n";
  REQUIRE(::write(fds[1], lines.data(), lines.size()) == static_cast<ssize_t>(lines.size()));
  ::close(fds[1]);  // EOF after the lines: control ends, the announcement goes on

  AnnounceRequest req;
  req.name = "juliet@pronto";
  req.control_fd = fds[0];
  std::vector<AnnounceEvent> events;
  std::vector<std::string> warnings;
  AnnounceHooks hooks;
  hooks.on_announce = [&](const AnnounceEvent& e) { events.push_back(e); };
  hooks.on_warning = [&](const xnet::Error& e) { warnings.push_back(e.message); };
  hooks.stop = [&] { return events.size() >= 2; };
  auto r = announce(b, req, hooks, xnet::null_trace());
  ::close(fds[0]);
  REQUIRE(r);
  REQUIRE(events.size() == 2);
  CHECK(events[0].kind == AnnounceEvent::Kind::Announced);
  CHECK(events[0].name == "juliet-1@pronto");  // renamed after the conflict
  CHECK(events[0].port != 0);
  CHECK(b.published.txt.get("node") == std::optional<std::string>("urn:xnet:caps"));
  CHECK(b.published.txt.get("port.p2pj") == std::optional<std::string>(std::to_string(events[0].port)));
  CHECK(events[1].kind == AnnounceEvent::Kind::Updated);
  REQUIRE(b.updates.size() == 1);  // both lines of one read give one update
  CHECK(b.updates[0].get("status") == std::optional<std::string>("dnd"));
  CHECK(b.updates[0].get("msg") == std::optional<std::string>("On a call"));
  REQUIRE(warnings.size() == 1);
  CHECK(warnings[0].find("unknown control line 'bogus line'") == 0);
  CHECK(b.unpublished);
}
