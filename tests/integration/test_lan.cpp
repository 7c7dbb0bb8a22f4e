// SPDX-License-Identifier: MIT
// `xnet lan` against a real avahi-daemon, inside a network namespace the fixture creates
// (loopback only; multicast never reaches the host's network).
#include <csignal>
#include <fstream>
#include <regex>
#include <sstream>
#include <thread>

#include <catch2/catch.hpp>

#include "support/avahi_ns.hpp"
#include "support/process.hpp"
#include "support/skip.hpp"

using namespace std::chrono_literals;
using nlohmann::json;
using xnet::test::AvahiNamespace;
using xnet::test::Process;
using xnet::test::StdinPipe;

namespace {

#define SKIP_WITHOUT_NAMESPACES() XNET_SKIP_IF(AvahiNamespace::skip_reason())

std::string sh_quote(const std::string& s) {
  std::string out = "'";
  for (char c : s) {
    if (c == '\'')
      out += "'\\''";
    else
      out.push_back(c);
  }
  return out + "'";
}

// Wait (bounded) until pred() holds, polling.
template <class F>
bool eventually(F pred, std::chrono::milliseconds timeout = 10s) {
  auto end = std::chrono::steady_clock::now() + timeout;
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(50ms);
  }
  return pred();
}

std::vector<json> json_lines_of(const std::filesystem::path& p) {
  std::vector<json> out;
  std::istringstream in(xnet::test::read_file(p));
  std::string line;
  while (std::getline(in, line))
    if (!line.empty() && line.front() == '{') out.push_back(json::parse(line));
  return out;
}

std::optional<json> find_event(const std::filesystem::path& p, const std::string& event, const std::string& key = {},
                               const std::string& value = {}) {
  for (auto& j : json_lines_of(p))
    if (j.value("event", "") == event && (key.empty() || (j.contains(key) && j[key] == value))) return j;
  return std::nullopt;
}

// A background `xnet lan announce`, reading control lines from a FIFO.
struct Announcer {
  std::unique_ptr<StdinPipe> stdin_pipe;
  std::unique_ptr<Process> proc;
  std::filesystem::path out, err;
  json announced;

  Announcer(const AvahiNamespace& ns, const std::string& tag, const std::vector<std::string>& args, bool json_mode = true) {
    const auto& d = ns.dir().path();
    stdin_pipe = std::make_unique<StdinPipe>(d / (tag + ".stdin"));
    out = d / (tag + ".out");
    err = d / (tag + ".err");
    std::string cmd = "exec " + sh_quote(xnet::test::xnet_binary()) + (json_mode ? " --json" : "") + " -v lan announce";
    for (const auto& a : args) cmd += " " + sh_quote(a);
    cmd += " < " + sh_quote(stdin_pipe->path().string());
    Process::Options o;
    o.stdout_file = out;
    o.stderr_file = err;
    proc = ns.spawn({"/bin/sh", "-c", cmd}, o);
  }
  // Wait for the first "announced" line (JSON mode).
  bool wait_announced() {
    bool ok = eventually([&] {
      auto e = find_event(out, "announced");
      if (e) announced = *e;
      return e.has_value() || proc->poll().has_value();
    });
    return ok && !announced.is_null();
  }
  std::string name() const { return announced.value("name", ""); }
  int port() const { return announced.value("port", 0); }
  int interrupt() {
    proc->signal(SIGINT);
    return proc->wait(10s).value_or(-1);
  }
};

// avahi-browse -rpt lines of resolved services ("=;lo;IPv4;NAME;TYPE;DOMAIN;HOST;ADDR;PORT;TXT").
std::vector<std::vector<std::string>> avahi_browse(const AvahiNamespace& ns) {
  auto r = ns.run({"avahi-browse", "-rpt", "_presence._tcp"}, std::nullopt, 20s);
  std::vector<std::vector<std::string>> rows;
  std::istringstream in(r.out);
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind("=;", 0) != 0) continue;
    std::vector<std::string> f;
    std::size_t pos = 0;
    for (int i = 0; i < 9; ++i) {
      auto semi = line.find(';', pos);
      f.push_back(line.substr(pos, semi - pos));
      pos = semi + 1;
    }
    f.push_back(line.substr(pos));
    rows.push_back(f);
  }
  return rows;
}

const std::vector<std::string>* row_named(const std::vector<std::vector<std::string>>& rows, const std::string& escaped) {
  for (const auto& r : rows)
    if (r[3] == escaped) return &r;
  return nullptr;
}

std::optional<json> browse_peer(const AvahiNamespace& ns, const std::string& name) {
  auto r = ns.xnet({"--json", "lan", "browse", "--timeout", "3"});
  UNSCOPED_INFO("lan browse: exit " << r.exit_code << " out " << r.out << " err " << r.err);
  if (r.exit_code != 0) return std::nullopt;
  json doc = r.json();
  for (auto& p : doc["peers"])
    if (p["name"] == name) return p;
  return std::nullopt;
}

}  // namespace

TEST_CASE("lan browse sees a peer published by avahi-publish", "[integration][lan]") {
  SKIP_WITHOUT_NAMESPACES();
  AvahiNamespace ns;
  auto pub = ns.spawn({"avahi-publish", "-s", "alice@lab", "_presence._tcp", "5562", "txtvers=1", "status=away",
                       "msg=caf\xC3\xA9 au lait", "nick=Al", "1st=Alice", "vc=!AV", "Status=dnd",
                       "bin=\xFF\xFE\x01"});
  std::optional<json> peer;
  REQUIRE(eventually([&] { return (peer = browse_peer(ns, "alice@lab")).has_value(); }, 15s));
  CHECK((*peer)["port"] == 5562);
  CHECK((*peer)["user"] == "alice");
  CHECK((*peer)["machine"] == "lab");
  CHECK((*peer)["host"] == ns.host_name() + ".local");
  CHECK((*peer)["status"] == "away");  // the first of the duplicate keys wins
  CHECK((*peer)["msg"] == "caf\xC3\xA9 au lait");
  CHECK((*peer)["nick"] == "Al");
  CHECK((*peer)["first"] == "Alice");
  CHECK((*peer)["txt"]["vc"] == "!AV");
  CHECK((*peer)["txt"]["txtvers"] == "1");
  CHECK((*peer)["txt_raw"].size() == 8);
  // Bytes that are not UTF-8 keep the JSON valid: replaced when decoded, escaped when raw.
  CHECK((*peer)["txt"]["bin"] == "\xEF\xBF\xBD\xEF\xBF\xBD\x01");
  bool raw_bin = false;
  for (auto& t : (*peer)["txt_raw"]) raw_bin = raw_bin || t == "bin=\\xff\\xfe\\x01";
  CHECK(raw_bin);
  CHECK((*peer)["own"] == false);
  bool has_v4 = false;
  for (auto& a : (*peer)["addresses"]) has_v4 = has_v4 || a["address"] == "127.0.0.1";
  CHECK(has_v4);

  SECTION("text output names the peer, its host and TXT") {
    auto r = ns.xnet({"lan", "browse", "--timeout", "3"});
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.find("alice@lab  away \"caf\xC3\xA9 au lait\"") != std::string::npos);
    CHECK(r.out.find(ns.host_name() + ".local port 5562") != std::string::npos);
  }
  SECTION("one-shot browse ends when the daemon has answered, before the timeout") {
    auto r = ns.xnet({"--json", "lan", "browse", "--timeout", "8"});
    REQUIRE(r.exit_code == 0);
    CHECK(r.json()["complete"] == true);
    CHECK(r.elapsed_ms < 6000);
  }
  SECTION("--self marks the caller's own announcement, --exclude-own drops it") {
    auto r = ns.xnet({"--json", "lan", "browse", "--self", "alice@lab"});
    REQUIRE(r.exit_code == 0);
    REQUIRE(r.json()["peers"].size() == 1);
    CHECK(r.json()["peers"][0]["own"] == true);
    r = ns.xnet({"--json", "lan", "browse", "--self", "alice@lab", "--exclude-own"});
    REQUIRE(r.exit_code == 0);
    CHECK(r.json()["peers"].empty());
  }
}

TEST_CASE("avahi-browse sees lan announce, a second announce is renamed, goodbye on exit", "[integration][lan]") {
  SKIP_WITHOUT_NAMESPACES();
  AvahiNamespace ns;
  Announcer a(ns, "a1", {"--name", "juliet@pronto", "--nick", "JuliC", "--msg", "on the \xE2\x98\x83 link",
                         "--email", "j@example.org", "--status", "dnd"});
  REQUIRE(a.wait_announced());
  CHECK(a.name() == "juliet@pronto");
  CHECK(a.port() > 0);

  std::vector<std::vector<std::string>> rows;
  const std::vector<std::string>* row = nullptr;
  REQUIRE(eventually([&] {
    rows = avahi_browse(ns);
    return (row = row_named(rows, "juliet\\064pronto")) != nullptr;
  }, 15s));
  CHECK((*row)[8] == std::to_string(a.port()));
  const std::string& txt = (*row)[9];
  CHECK(txt.find("\"txtvers=1\"") != std::string::npos);
  CHECK(txt.find("\"status=dnd\"") != std::string::npos);
  CHECK(txt.find("\"nick=JuliC\"") != std::string::npos);
  CHECK(txt.find("\"email=j@example.org\"") != std::string::npos);
  CHECK(txt.find("\"port.p2pj=" + std::to_string(a.port()) + "\"") != std::string::npos);
  CHECK(txt.find("1st=") == std::string::npos);  // personal fields only when given
  auto seen = browse_peer(ns, "juliet@pronto");
  REQUIRE(seen);
  CHECK((*seen)["txt_raw"][0] == "txtvers=1");  // txtvers first on the wire (XEP-0174 §2.2)
  CHECK(txt.find("jid=") == std::string::npos);

  Announcer b(ns, "a2", {"--name", "juliet@pronto"});
  REQUIRE(b.wait_announced());
  CHECK(b.name() == "juliet-1@pronto");
  CHECK(b.port() != a.port());
  REQUIRE(eventually([&] { return row_named(avahi_browse(ns), "juliet-1\\064pronto") != nullptr; }, 15s));

  SECTION("a status line on stdin updates the TXT record") {
    a.stdin_pipe->write_line("status away");
    a.stdin_pipe->write_line("msg back soon");
    REQUIRE(eventually([&] {
      auto p = browse_peer(ns, "juliet@pronto");
      return p && (*p)["status"] == "away" && (*p).value("msg", "") == "back soon";
    }, 15s));
    CHECK(find_event(a.out, "updated").has_value());
  }

  CHECK(a.interrupt() == 0);
  CHECK(b.interrupt() == 0);
  CHECK(eventually([&] {
    auto r = avahi_browse(ns);
    return row_named(r, "juliet\\064pronto") == nullptr && row_named(r, "juliet-1\\064pronto") == nullptr;
  }, 15s));
}

TEST_CASE("lan announce and lan send hold a conversation", "[integration][lan]") {
  SKIP_WITHOUT_NAMESPACES();
  AvahiNamespace ns;
  Announcer rx(ns, "rx", {"--name", "juliet@pronto"});
  REQUIRE(rx.wait_announced());
  const std::string unicode = "Hello \xC3\xBC\xC3\xB1\xC3\xAF\xC3\xA7\xC3\xB8\x64\xC3\xA9 \xE2\x98\x83 \xF0\x9F\x98\x80 <&>'\"";

  SECTION("JSON sender, unicode body, clean close") {
    auto r = ns.xnet({"--json", "lan", "send", "juliet@pronto", unicode, "--from", "romeo@forza", "--thread", "t1"});
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    auto j = r.json();
    CHECK(j["sent"] == 1);
    CHECK(j["closed_cleanly"] == true);
    CHECK(j["address"] == "127.0.0.1");
    CHECK(j["port"] == rx.port());
    CHECK(j["peer_stream"]["from"] == "juliet@pronto");
    CHECK(j["peer_stream"]["to"] == "romeo@forza");
    CHECK(j["peer_stream"]["version"] == "1.0");
    std::optional<json> m;
    REQUIRE(eventually([&] { return (m = find_event(rx.out, "message")).has_value(); }));
    CHECK((*m)["body"] == unicode);
    CHECK((*m)["from"] == "romeo@forza");
    CHECK((*m)["to"] == "juliet@pronto");
    CHECK((*m)["thread"] == "t1");
    CHECK((*m)["type"] == "chat");
    CHECK(std::regex_match((*m)["time"].get<std::string>(), std::regex(R"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z)")));
  }
  SECTION("text sender, body from stdin: several lines make one message, --each-line one each") {
    auto r = ns.xnet({"lan", "send", "juliet@pronto", "--from", "romeo@forza"}, std::string("line one\nline two\n"));
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.out == "sent 1 message to juliet@pronto (127.0.0.1 port " + std::to_string(rx.port()) + ")\n");
    r = ns.xnet({"lan", "send", "juliet@pronto", "--each-line", "--legacy-stream"}, std::string("first\n\nsecond\n"));
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.rfind("sent 2 messages", 0) == 0);
    std::vector<std::string> bodies;
    REQUIRE(eventually([&] {
      bodies.clear();
      for (auto& j : json_lines_of(rx.out))
        if (j["event"] == "message") bodies.push_back(j["body"]);
      return bodies.size() >= 3;
    }));
    CHECK(bodies == std::vector<std::string>{"line one\nline two", "first", "second"});
  }
  SECTION("a receiver in text mode prints time, sender and body") {
    Announcer tx(ns, "rxtext", {"--name", "nurse@verona"}, false);
    REQUIRE(eventually([&] { return xnet::test::read_file(tx.out).find("announced nurse@verona") != std::string::npos; }));
    auto r = ns.xnet({"lan", "send", "nurse@verona", "Good morrow", "--from", "romeo@forza"});
    REQUIRE(r.exit_code == 0);
    CHECK(eventually([&] { return xnet::test::read_file(tx.out).find("Z romeo@forza: Good morrow") != std::string::npos; }));
    CHECK(tx.interrupt() == 0);
  }
  SECTION("a Pidgin-style peer (no version, XHTML-IM, to='') is understood") {
    std::string script =
        "exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(rx.port()) +
        "\nprintf '%s' \"<?xml version='1.0' encoding='UTF-8' ?><stream:stream xmlns='jabber:client' "
        "xmlns:stream='http://etherx.jabber.org/streams' to='' from='pidgin@oldbox'>\" >&3\n"
        "printf '%s' \"<message to='juliet@pronto' from='pidgin@oldbox' type='chat'><body>from purple</body>"
        "<html xmlns='http://jabber.org/protocol/xhtml-im'><body xmlns='http://www.w3.org/1999/xhtml'>"
        "<b>from purple</b></body></html><x xmlns='jabber:x:event'><composing/></x></message>\" >&3\n"
        "printf '%s' \"<iq type='get' id='d1'><query xmlns='http://jabber.org/protocol/disco#info'/></iq>\" >&3\n"
        "printf '%s' \"<iq type='get' id='v1'><query xmlns='jabber:iq:version'/></iq>\" >&3\n"
        "printf '%s' '</stream:stream>' >&3\n"
        "timeout 5 cat <&3\n";
    auto r = ns.run({"/bin/bash", "-c", script});
    INFO(r.err);
    // Our answer: a header without version (so no features), the IQ replies, our close.
    auto tag = r.out.find("<stream:stream");
    REQUIRE(tag != std::string::npos);
    CHECK(r.out.find("version=", tag) == std::string::npos);  // (the XML declaration has one)
    CHECK(r.out.find("<stream:features") == std::string::npos);
    CHECK(r.out.find("to='pidgin@oldbox'") != std::string::npos);
    CHECK(r.out.find("id='d1'") != std::string::npos);
    CHECK(r.out.find("http://jabber.org/protocol/disco#info") != std::string::npos);
    CHECK(r.out.find("service-unavailable") != std::string::npos);
    CHECK(r.out.find("</stream:stream>") != std::string::npos);
    std::optional<json> m;
    REQUIRE(eventually([&] { return (m = find_event(rx.out, "message")).has_value(); }));
    CHECK((*m)["from"] == "pidgin@oldbox");
    CHECK((*m)["body"] == "from purple");
  }
  SECTION("a legacy 0.9 peer (no from, to or version) gets an answer and may send") {
    std::string script =
        "exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(rx.port()) +
        "\nprintf '%s' \"<stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>"
        "<message><body>old school</body></message></stream:stream>\" >&3\n"
        "timeout 5 cat <&3\n";
    auto r = ns.run({"/bin/bash", "-c", script});
    CHECK(r.out.find("from='juliet@pronto'") != std::string::npos);
    CHECK(r.out.find("</stream:stream>") != std::string::npos);
    std::optional<json> m;
    REQUIRE(eventually([&] { return (m = find_event(rx.out, "message")).has_value(); }));
    CHECK((*m)["body"] == "old school");
    CHECK((*m)["type"] == "normal");
    CHECK((*m)["peer_address"] == "127.0.0.1");
  }
  SECTION("garbage and DTDs get a stream error, and the listener keeps serving") {
    std::string script =
        "exec 3<>/dev/tcp/127.0.0.1/" + std::to_string(rx.port()) +
        "\nprintf '%s' \"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'b'>]><stream:stream>\" >&3\n"
        "timeout 5 cat <&3\n";
    auto r = ns.run({"/bin/bash", "-c", script});
    CHECK(r.out.find("<stream:error>") != std::string::npos);
    auto s = ns.xnet({"--json", "lan", "send", "juliet@pronto", "still here"});
    CHECK(s.exit_code == 0);
  }
  CHECK(rx.interrupt() == 0);
}

TEST_CASE("lan send exit codes: not found, refused, timeout, no daemon", "[integration][lan]") {
  SKIP_WITHOUT_NAMESPACES();
  AvahiNamespace ns;
  SECTION("peer not found → 68") {
    auto r = ns.xnet({"--json", "lan", "send", "nobody@nowhere", "hi", "--timeout", "2"});
    CHECK(r.exit_code == 68);
    CHECK(r.json()["error"]["category"] == "dns");
  }
  SECTION("nobody listening on the SRV port → 69") {
    auto port = std::to_string(xnet::test::free_port());
    auto pub = ns.spawn({"avahi-publish", "-s", "ghost@lab", "_presence._tcp", port, "txtvers=1"});
    REQUIRE(eventually([&] { return browse_peer(ns, "ghost@lab").has_value(); }, 15s));
    auto r = ns.xnet({"--json", "lan", "send", "ghost@lab", "hi", "--timeout", "5"});
    CHECK(r.exit_code == 69);
    CHECK(r.json()["error"]["category"] == "connect");
  }
  SECTION("a peer that accepts but never answers → 75") {
    auto dir = ns.dir().path();
    auto silent = ns.spawn({"/usr/bin/python3", "-c",
                            "import socket,time\n"
                            "s=socket.socket(); s.bind(('127.0.0.1',0)); s.listen(4)\n"
                            "open('" + (dir / "silent.port").string() + "','w').write(str(s.getsockname()[1]))\n"
                            "time.sleep(60)\n"});
    REQUIRE(xnet::test::wait_for_file(dir / "silent.port", 10s));
    auto pub = ns.spawn({"avahi-publish", "-s", "mute@lab", "_presence._tcp", xnet::test::read_file(dir / "silent.port")});
    REQUIRE(eventually([&] { return browse_peer(ns, "mute@lab").has_value(); }, 15s));
    auto r = ns.xnet({"--json", "lan", "send", "mute@lab", "hi", "--timeout", "3"});
    CHECK(r.exit_code == 75);
    CHECK(r.json()["error"]["category"] == "timeout");
  }
  SECTION("bad input → 64/65") {
    CHECK(ns.xnet({"lan", "send", "x@y", ""}).exit_code == 65);
    CHECK(ns.xnet({"lan", "send", "x@y", "bell\x07"}).exit_code == 65);
    CHECK(ns.xnet({"lan", "announce", "--name", "no-at-sign"}).exit_code == 65);
    CHECK(ns.xnet({"lan", "announce", "--status", "busy"}).exit_code == 64);
  }
  SECTION("no mDNS daemon reachable → 82 with a hint") {
    auto r = xnet::test::run({"unshare", "--net", "--mount", "--propagation", "private", "/bin/sh", "-c",
                              "mount -t tmpfs tmpfs /run && exec " + sh_quote(xnet::test::xnet_binary()) +
                                  " --json lan browse"});
    CHECK(r.exit_code == 82);
    CHECK(r.json()["error"]["category"] == "daemon");
    CHECK(r.err.find("avahi-daemon") != std::string::npos);
  }
}

TEST_CASE("lan browse --watch reports add and remove events", "[integration][lan]") {
  SKIP_WITHOUT_NAMESPACES();
  AvahiNamespace ns;
  auto out = ns.dir().path() / "watch.out";
  Process::Options o;
  o.stdout_file = out;
  o.stderr_file = ns.dir().path() / "watch.err";
  auto watch = ns.spawn({xnet::test::xnet_binary(), "--json", "lan", "browse", "--watch"}, o);
  auto pub = ns.spawn({"avahi-publish", "-s", "bob@lab", "_presence._tcp", "5299", "txtvers=1", "status=avail"});
  std::optional<json> added;
  REQUIRE(eventually([&] { return (added = find_event(out, "new", "name", "bob@lab")).has_value(); }, 15s));
  CHECK((*added)["port"] == 5299);
  CHECK((*added)["status"] == "avail");
  pub->stop();
  REQUIRE(eventually([&] { return find_event(out, "removed", "name", "bob@lab").has_value(); }, 15s));
  watch->signal(SIGINT);
  CHECK(watch->wait(10s).value_or(-1) == 0);
}

TEST_CASE("lan browse --wait-for exits once every named peer has resolved, 68 at the timeout", "[integration][lan]") {
  SKIP_WITHOUT_NAMESPACES();
  AvahiNamespace ns;
  const auto& d = ns.dir().path();
  Process::Options o;
  o.stdout_file = d / "wait.out";
  o.stderr_file = d / "wait.err";
  // Started before either peer exists: it must wait for both, then stop at once.
  auto waiter = ns.spawn({xnet::test::xnet_binary(), "--json", "lan", "browse", "--wait-for", "bob@lab", "--wait-for",
                          "Carol@Lab", "--timeout", "60"},
                         o);
  auto bob = ns.spawn({"avahi-publish", "-s", "bob@lab", "_presence._tcp", "5601", "txtvers=1", "nick=Bob"});
  REQUIRE(eventually([&] { return browse_peer(ns, "bob@lab").has_value(); }, 15s));
  CHECK_FALSE(waiter->poll().has_value());  // carol is still missing
  auto t0 = std::chrono::steady_clock::now();
  auto carol = ns.spawn({"avahi-publish", "-s", "carol@lab", "_presence._tcp", "5602", "txtvers=1"});
  auto st = waiter->wait(20s);
  auto waited = std::chrono::steady_clock::now() - t0;
  INFO("stderr: " << xnet::test::read_file(o.stderr_file.value()));
  REQUIRE(st.has_value());
  CHECK(*st == 0);
  CHECK(waited < 10s);  // well before --timeout 60
  json doc = json::parse(xnet::test::read_file(o.stdout_file.value()));
  CHECK(doc["complete"] == true);
  REQUIRE(doc["peers"].size() == 2);
  CHECK(doc["peers"][0]["name"] == "bob@lab");
  CHECK(doc["peers"][0]["port"] == 5601);
  CHECK(doc["peers"][1]["name"] == "carol@lab");

  SECTION("a peer already on the link ends the wait at once, in text mode too") {
    auto r = ns.xnet({"lan", "browse", "--wait-for", "bob@lab", "--timeout", "10"});
    REQUIRE(r.exit_code == 0);
    CHECK(r.out.rfind("bob@lab  avail", 0) == 0);
    CHECK(r.out.find("carol@lab") == std::string::npos);  // only the awaited peers are printed
    CHECK(r.elapsed_ms < 3000);
  }
  SECTION("a missing peer gives exit 68 at --timeout with the error object") {
    auto r = ns.xnet({"--json", "lan", "browse", "--wait-for", "bob@lab", "--wait-for", "nobody@lab", "--timeout", "1.5"});
    CHECK(r.exit_code == 68);
    CHECK(r.elapsed_ms >= 1500);
    CHECK(r.elapsed_ms < 6000);
    CHECK(r.err.find("not on the link after 1.5 s: nobody@lab") != std::string::npos);
    auto err = r.json()["error"];
    CHECK(err["exit_code"] == 68);
    CHECK(err["category"] == "dns");
  }
  SECTION("--wait-for and --watch do not go together") {
    auto r = ns.xnet({"lan", "browse", "--wait-for", "bob@lab", "--watch"});
    CHECK(r.exit_code == 64);
  }
}
