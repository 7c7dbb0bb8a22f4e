// SPDX-License-Identifier: MIT
// xnet whoami against a real Prosody 0.12 with mod_ipcheck on 127.0.0.1.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sstream>

#include <catch2/catch.hpp>

#include "support/process.hpp"
#include "support/prosody.hpp"
#include "support/skip.hpp"

using namespace xnet::test;

namespace {
constexpr const char* kPassword = "s3cret-Pa55word!";

Prosody& server() {
  static std::unique_ptr<Prosody> p = [] {
    auto s = std::make_unique<Prosody>();
    s->add_user("alice", kPassword);
    return s;
  }();
  return *p;
}

std::vector<std::string> base_args(const std::string& server_addr, std::vector<std::string> extra = {}) {
  std::vector<std::string> a{"--jid", "alice@localhost", "--server", server_addr, "--timeout", "10"};
  a.insert(a.end(), extra.begin(), extra.end());
  return a;
}

std::vector<std::string> whoami(std::vector<std::string> args, bool json = true) {
  std::vector<std::string> a;
  if (json) a.push_back("--json");
  a.push_back("whoami");
  a.insert(a.end(), args.begin(), args.end());
  return a;
}

const std::map<std::string, std::string> kEnv{{"XNET_PASSWORD", kPassword}};

#define SKIP_WITHOUT_PROSODY() XNET_SKIP_IF(Prosody::unavailable())
}  // namespace

TEST_CASE("whoami over STARTTLS reports 127.0.0.1 and the connection's own port", "[integration][whoami]") {
  SKIP_WITHOUT_PROSODY();
  auto& s = server();
  auto r = run_xnet(whoami(base_args(s.server(), {"--ca-file", s.cert()})), kEnv);
  INFO(r.err << s.log().substr(0, 0));
  REQUIRE(r.exit_code == 0);
  auto j = r.json();
  CHECK(j["external_ip"] == "127.0.0.1");
  CHECK(j["family"] == "ipv4");
  CHECK(j["local_ip"] == "127.0.0.1");
  REQUIRE(j["external_port"].is_number());
  CHECK(j["external_port"] == j["local_port"]);
  CHECK(j["local_port"].get<int>() > 0);
  CHECK(j["server_port"] == s.c2s_port());
  CHECK(j["server_ip"] == "127.0.0.1");
  CHECK(j["tls"] == "starttls");
  CHECK(j["namespace"] == "urn:xmpp:sic:1");
  CHECK(j["nat"] == "none");
  CHECK(j["jid"].get<std::string>().rfind("alice@localhost/", 0) == 0);
  CHECK(j["elapsed_ms"].get<double>() > 0);
  CHECK(j["via"] == "sic");
  CHECK_FALSE(j.contains("stun"));  // no XEP-0215 here: the automatic STUN check adds nothing
}

TEST_CASE("whoami text output", "[integration][whoami]") {
  SKIP_WITHOUT_PROSODY();
  auto& s = server();
  auto r = run_xnet(whoami(base_args(s.server(), {"--ca-file", s.cert()}), false), kEnv);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  CHECK(r.out.find("external   127.0.0.1:") != std::string::npos);
  CHECK(r.out.find("nat        none") != std::string::npos);
  CHECK(r.out.find("STARTTLS") != std::string::npos);
  CHECK(r.out.find("\033[") == std::string::npos);  // no colour when not a TTY
}

TEST_CASE("whoami over direct TLS", "[integration][whoami]") {
  SKIP_WITHOUT_PROSODY();
  auto& s = server();
  auto r = run_xnet(whoami(base_args(s.direct_tls_server(), {"--direct-tls", "--ca-file", s.cert()})), kEnv);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = r.json();
  CHECK(j["tls"] == "direct");
  CHECK(j["server_port"] == s.direct_tls_port());
  CHECK(j["external_port"] == j["local_port"]);
}

TEST_CASE("whoami --ns forces the namespace", "[integration][whoami]") {
  SKIP_WITHOUT_PROSODY();
  auto& s = server();
  auto r = run_xnet(whoami(base_args(s.server(), {"--ca-file", s.cert(), "--ns", "0"})), kEnv);
  INFO(r.err);
  REQUIRE(r.exit_code == 0);
  auto j = r.json();
  CHECK(j["namespace"] == "urn:xmpp:sic:0");
  CHECK(j["external_ip"] == "127.0.0.1");
  CHECK(j["external_port"].is_null());  // sic:0 carries no port
  CHECK(j["nat"] == "none");
}

TEST_CASE("self-signed certificate: refused by default, accepted with --ca-file or --insecure",
          "[integration][whoami][tls]") {
  SKIP_WITHOUT_PROSODY();
  auto& s = server();
  SECTION("refused") {
    auto r = run_xnet(whoami(base_args(s.server())), kEnv);
    CHECK(r.exit_code == 79);
    auto j = r.json();
    CHECK(j["error"]["category"] == "tls");
    CHECK(j["error"]["exit_code"] == 79);
    CHECK(r.err.find("--ca-file") != std::string::npos);
  }
  SECTION("refused on direct TLS too") {
    auto r = run_xnet(whoami(base_args(s.direct_tls_server(), {"--direct-tls"})), kEnv);
    CHECK(r.exit_code == 79);
  }
  SECTION("insecure") {
    auto r = run_xnet(whoami(base_args(s.server(), {"--insecure"})), kEnv);
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.err.find("warning") != std::string::npos);
    CHECK(r.json()["external_ip"] == "127.0.0.1");
  }
}

TEST_CASE("wrong password is an auth failure", "[integration][whoami][auth]") {
  SKIP_WITHOUT_PROSODY();
  auto& s = server();
  auto r = run_xnet(whoami(base_args(s.server(), {"--ca-file", s.cert()})), {{"XNET_PASSWORD", "wrong"}});
  CHECK(r.exit_code == 77);
  CHECK(r.json()["error"]["category"] == "auth");
  CHECK(r.err.find("not-authorized") != std::string::npos);
}

TEST_CASE("password sources reach the server", "[integration][whoami][auth]") {
  SKIP_WITHOUT_PROSODY();
  auto& s = server();
  TempDir d;
  write_file(d / "pw", std::string(kPassword) + "\n");
  ::chmod((d / "pw").c_str(), 0600);
  SECTION("--password-file") {
    auto r = run_xnet(whoami(base_args(s.server(), {"--ca-file", s.cert(), "--password-file", (d / "pw").string()})));
    INFO(r.err);
    CHECK(r.exit_code == 0);
  }
  SECTION("--password-command") {
    auto r = run_xnet(
        whoami(base_args(s.server(), {"--ca-file", s.cert(), "--password-command", "cat " + (d / "pw").string()})));
    INFO(r.err);
    CHECK(r.exit_code == 0);
  }
  SECTION("a slow password command does not eat the --timeout budget") {
    auto args = base_args(s.server(), {"--ca-file", s.cert(), "--password-command", "sleep 1.5; cat " + (d / "pw").string()});
    for (std::size_t i = 0; i + 1 < args.size(); ++i)
      if (args[i] == "--timeout") args[i + 1] = "1";
    auto r = run_xnet(whoami(args));
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.elapsed_ms > 1400);
  }
  SECTION("config file account") {
    write_file(d / "config.toml", "default_account = \"t\"\n[accounts.t]\njid = \"alice@localhost\"\nserver = \"" +
                                      s.server() + "\"\nca_file = \"" + s.cert() + "\"\npassword_file = \"" +
                                      (d / "pw").string() + "\"\n");
    auto r = run_xnet({"--json", "--config", (d / "config.toml").string(), "whoami"});
    INFO(r.err);
    CHECK(r.exit_code == 0);
    CHECK(r.json()["external_ip"] == "127.0.0.1");
  }
  SECTION("no password and no TTY is a usage error, not a hang") {
    auto r = run_xnet(whoami(base_args(s.server(), {"--ca-file", s.cert()})), {}, std::nullopt,
                      std::chrono::seconds(10));
    CHECK(r.exit_code == 64);
  }
}

TEST_CASE("the XML trace (--debug=xml) shows the stream but never the password", "[integration][whoami][security]") {
  SKIP_WITHOUT_PROSODY();
  auto& s = server();
  auto r = run_xnet({"--debug=xml", "whoami", "--jid", "alice@localhost", "--server", s.server(), "--ca-file",
                     s.cert()},
                    kEnv);
  REQUIRE(r.exit_code == 0);
  CHECK(r.err.find("urn:xmpp:sic:1") != std::string::npos);  // the trace is really there
  CHECK(r.err.find("<auth") != std::string::npos);
  CHECK(r.err.find("[redacted]") != std::string::npos);
  CHECK(r.err.find(kPassword) == std::string::npos);
  // SCRAM client-first carries n=alice,r=…; its base64 must be gone too.
  CHECK(r.err.find("biwsbj1hbGljZSxy") == std::string::npos);
}

TEST_CASE("connection failures map to their exit codes", "[integration][whoami]") {
  SECTION("refused") {
    auto port = free_port();  // nothing listens there
    auto r = run_xnet(whoami(base_args("127.0.0.1:" + std::to_string(port))), kEnv);
    CHECK(r.exit_code == 69);
    CHECK(r.json()["error"]["category"] == "connect");
  }
  SECTION("a listener that never answers: timeout within the budget") {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd, 8) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
    auto r = run_xnet({"--json", "whoami", "--jid", "alice@localhost", "--server",
                       "127.0.0.1:" + std::to_string(ntohs(a.sin_port)), "--timeout", "1"},
                      kEnv);
    ::close(fd);
    CHECK(r.exit_code == 75);
    CHECK(r.json()["error"]["category"] == "timeout");
    CHECK(r.elapsed_ms >= 900);
    CHECK(r.elapsed_ms < 3000);
  }
  SECTION("unknown host (resolver isolated to loopback)") {
    XNET_REQUIRE_PEER(::geteuid() == 0 && find_program("unshare"), "needs root and unshare to isolate DNS");
    // Point the resolver at 127.0.0.1 in a private mount namespace so no query leaves the machine.
    TempDir d;
    write_file(d / "resolv.conf", "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n");
    std::string cmd = "mount --bind " + (d / "resolv.conf").string() + " /etc/resolv.conf && exec \"$@\"";
    std::vector<std::string> argv{"unshare", "--mount", "--propagation", "private", "sh", "-c", cmd, "sh",
                                  xnet_binary(), "--json", "whoami", "--jid", "alice@no-such-host.invalid",
                                  "--server", "no-such-host.invalid", "--timeout", "5"};
    auto r = run(argv, {{"XNET_PASSWORD", "x"}, {"XDG_CONFIG_HOME", d.path().string()}});
    INFO(r.err);
    CHECK(r.exit_code == 68);
    CHECK(r.json()["error"]["category"] == "dns");
  }
}

TEST_CASE("a server without XEP-0279 is 'not supported'", "[integration][whoami]") {
  SKIP_WITHOUT_PROSODY();
  ProsodyOptions o;
  o.modules.clear();
  Prosody plain(o);
  plain.add_user("bob", "pw-bob-123");
  auto r = run_xnet({"--json", "whoami", "--jid", "bob@localhost", "--server", plain.server(), "--ca-file",
                     plain.cert()},
                    {{"XNET_PASSWORD", "pw-bob-123"}});
  INFO(r.err);
  CHECK(r.exit_code == 80);
  CHECK(r.json()["error"]["category"] == "not_supported");
  CHECK(r.err.find("XEP-0279") != std::string::npos);
}

namespace {
// A DNS responder for the SRV test (test fixture only; xnet itself uses c-ares): example.test
// has _xmpps-client (priority 0, port 15223) and _xmpp-client (priority 10, port 15222) SRV
// records pointing at xmpp.example.test = 127.0.0.1. Mode "nodirect" answers "." for
// _xmpps-client (XEP-0368: no direct TLS offered). Everything else is NXDOMAIN.
constexpr const char* kDnsResponder = R"PY(
import socket, struct, sys
mode, ready = sys.argv[1], sys.argv[2]
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.bind(("127.0.0.1", 53))
open(ready, "w").write("1")
def wire(n):
    return b"".join(bytes([len(p)]) + p.encode() for p in n.split(".") if p) + b"\0"
def rr(t, rdata):
    return b"\xc0\x0c" + struct.pack(">HHIH", t, 1, 60, len(rdata)) + rdata
while True:
    q, addr = s.recvfrom(4096)
    tid = struct.unpack(">H", q[:2])[0]
    i, labels = 12, []
    while q[i]:
        labels.append(q[i + 1:i + 1 + q[i]].decode()); i += 1 + q[i]
    qtype = struct.unpack(">H", q[i + 1:i + 3])[0]
    question, name = q[12:i + 5], ".".join(labels).lower()
    answers, rcode = [], 0
    if name == "_xmpps-client._tcp.example.test":
        if qtype == 33:
            if mode == "nodirect":
                answers.append(rr(33, struct.pack(">HHH", 0, 0, 0) + b"\0"))
            else:
                answers.append(rr(33, struct.pack(">HHH", 0, 0, 15223) + wire("xmpp.example.test")))
    elif name == "_xmpp-client._tcp.example.test":
        if qtype == 33:
            answers.append(rr(33, struct.pack(">HHH", 10, 0, 15222) + wire("xmpp.example.test")))
    elif name == "xmpp.example.test":
        if qtype == 1:
            answers.append(rr(1, socket.inet_aton("127.0.0.1")))
    else:
        rcode = 3
    s.sendto(struct.pack(">HHHHHH", tid, 0x8180 | rcode, 1, len(answers), 0, 0) + question + b"".join(answers), addr)
)PY";
}  // namespace

TEST_CASE("SRV records lead to the server, direct TLS first (XEP-0368), all inside a private namespace",
          "[integration][whoami][srv]") {
  XNET_REQUIRE_PEER(::geteuid() == 0 && find_program("unshare") && find_program("ip"),
                    "needs root, unshare and ip for a private network namespace");
  XNET_REQUIRE_PEER(::access("/usr/bin/python3", X_OK) == 0, "needs /usr/bin/python3 for the test DNS responder");
  // A private network and mount namespace: only its own loopback exists, its resolv.conf names
  // the responder on 127.0.0.1:53, so no query can leave the machine.
  TempDir d;
  write_file(d / "resolv.conf", "nameserver 127.0.0.1\noptions timeout:1 attempts:1\n");
  write_file(d / "dns.py", kDnsResponder);
  std::string D = d.path().string();
  std::string x = xnet_binary();
  std::string script = R"SH(
set -u
ip link set lo up
mount --bind "$D/resolv.conf" /etc/resolv.conf
"$X" serve --state-dir "$D/st" --domain example.test --listen 127.0.0.1 --port 15222 --tls-port 15223 \
  --port-file "$D/ports.json" --anonymous >"$D/serve.log" 2>&1 &
SERVE=$!
DNS=
trap 'kill $SERVE $DNS 2>/dev/null; wait' EXIT
start_dns() {
  rm -f "$D/dns.ready"
  /usr/bin/python3 "$D/dns.py" "$1" "$D/dns.ready" &
  DNS=$!
  for i in $(seq 200); do [ -s "$D/dns.ready" ] && return 0; sleep 0.025; done
  return 1
}
for i in $(seq 400); do [ -s "$D/ports.json" ] && break; sleep 0.025; done
start_dns both || exit 90
"$X" --json whoami --jid example.test --ca-file "$D/st/cert.pem" --timeout 5 -vv 2>>"$D/client.err"
echo "rc=$?"
kill $DNS; wait $DNS 2>/dev/null
start_dns nodirect || exit 91
"$X" --json whoami --jid example.test --ca-file "$D/st/cert.pem" --timeout 5 -vv 2>>"$D/client.err"
echo "rc=$?"
)SH";
  auto r = run({"unshare", "--net", "--mount", "--propagation", "private", "sh", "-c", script},
               {{"D", D}, {"X", x}, {"XDG_CONFIG_HOME", D}}, std::nullopt, std::chrono::seconds(60));
  INFO("stdout: " << r.out << "\nclient: " << read_file(d / "client.err") << "\nserve: " << read_file(d / "serve.log"));
  REQUIRE(r.exit_code == 0);
  std::vector<nlohmann::json> docs;
  std::vector<std::string> rcs;
  std::istringstream lines(r.out);
  for (std::string line; std::getline(lines, line);) {
    if (line.rfind("rc=", 0) == 0)
      rcs.push_back(line.substr(3));
    else if (!line.empty())
      docs.push_back(nlohmann::json::parse(line));
  }
  REQUIRE(rcs == std::vector<std::string>{"0", "0"});
  REQUIRE(docs.size() == 2);
  // Both SRV sets merged: the direct-TLS record has the better priority.
  CHECK(docs[0]["tls"] == "direct");
  CHECK(docs[0]["server_port"] == 15223);
  CHECK(docs[0]["server_host"] == "xmpp.example.test");
  CHECK(docs[0]["external_ip"] == "127.0.0.1");
  // "." for _xmpps-client: STARTTLS on the _xmpp-client record, no guessing of 5223.
  CHECK(docs[1]["tls"] == "starttls");
  CHECK(docs[1]["server_port"] == 15222);
  CHECK(docs[1]["server_host"] == "xmpp.example.test");
}

TEST_CASE("Happy Eyeballs: a host name whose IPv6 address refuses falls back to IPv4, -4 and -6 restrict",
          "[integration][whoami]") {
  SKIP_WITHOUT_PROSODY();
  // Prosody listens on 127.0.0.1 only; c-ares answers "localhost" with ::1 and 127.0.0.1
  // (RFC 6761), so the IPv6 attempt is refused and the IPv4 one wins.
  auto& s = server();
  std::string host = "localhost:" + std::to_string(s.c2s_port());
  SECTION("both families") {
    auto r = run_xnet(whoami(base_args(host, {"--ca-file", s.cert(), "-vv"})), kEnv);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.json()["server_ip"] == "127.0.0.1");
    CHECK(r.err.find("[::1]") != std::string::npos);  // IPv6 was tried first
  }
  SECTION("-4") {
    auto r = run_xnet(whoami(base_args(host, {"--ca-file", s.cert(), "-4", "-vv"})), kEnv);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    CHECK(r.err.find("[::1]") == std::string::npos);
  }
  SECTION("-6: only the refusing address") {
    auto r = run_xnet(whoami(base_args(host, {"--ca-file", s.cert(), "-6"})), kEnv);
    CHECK(r.exit_code == 69);
    CHECK(r.json()["error"]["message"].get<std::string>().find("::1") != std::string::npos);
  }
}
