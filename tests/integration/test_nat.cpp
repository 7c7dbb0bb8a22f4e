// SPDX-License-Identifier: MIT
// `xnet whoami --stun` NAT classification through real Linux NATs: network namespaces and veth
// pairs the test creates, nftables masquerade (port-preserving) and masquerade random, coturn on
// two addresses (RFC 5780) and `xnet serve` (XEP-0279 + XEP-0215) inside the namespaces. All
// traffic stays inside them; 203.0.113.0/24 (TEST-NET-3) plays the Internet.
#include <unistd.h>

#include <algorithm>
#include <thread>

#include <catch2/catch.hpp>

#include "support/process.hpp"
#include "support/skip.hpp"

using namespace std::chrono_literals;
using nlohmann::json;
using xnet::test::Process;
using xnet::test::RunResult;
using xnet::test::TempDir;

namespace {

RunResult sh(const std::string& script) { return xnet::test::run({"/bin/sh", "-ec", script}, {}, std::nullopt, 30s); }

std::string prefix() { return "xn" + std::to_string(::getpid() % 100000); }

std::string ip_of(const std::string& cidr) { return cidr.substr(0, cidr.find('/')); }

// Why this machine cannot run the lab (nullopt: it can).
std::optional<std::string> lab_unavailable() {
  if (::geteuid() != 0) return "network namespaces need root";
  for (const char* p : {"ip", "nft", "turnserver"})
    if (!xnet::test::find_program(p)) return std::string(p) + " not found (scripts/deps.sh test)";
  const std::string ns = prefix() + "probe";
  auto r = sh("ip netns add " + ns + " && ip netns exec " + ns + " nft add table ip nat && ip netns exec " + ns +
              " nft 'add chain ip nat post { type nat hook postrouting priority 100 ; }' && ip netns exec " + ns +
              " nft add rule ip nat post masquerade random");
  sh("ip netns del " + ns + " 2>/dev/null || true");
  if (r.exit_code != 0) return "the kernel refuses namespaces or nftables NAT: " + r.err;
  return std::nullopt;
}

/// One NAT router: its address on the inside link (the gateway for what is behind it) and on
/// the outside link, and whether it picks random ports (masquerade random).
struct Router {
  std::string lan_cidr;
  std::string wan_cidr;
  bool random = false;
};

struct LabOptions {
  std::string client_cidr;
  std::vector<Router> routers;  ///< from the client outwards; the last one's wan is in 203.0.113.0/24
  bool rfc5780 = true;          ///< one coturn on 203.0.113.1 and .2 (else one coturn per address)
  int serve_in = -1;            ///< -1: xnet serve in the Internet namespace; k: inside router k
};

// client -- router 0 -- ... -- router n-1 -- internet (coturn, xnet serve)
class NatLab {
 public:
  explicit NatLab(LabOptions o) : o_(std::move(o)), p_(prefix()) {
    try {
      build();
    } catch (...) {
      cleanup();  // a failed REQUIRE in set-up must not leave namespaces or servers behind
      throw;
    }
  }

  ~NatLab() { cleanup(); }

  void build() {
    const auto n = o_.routers.size();
    std::string s;
    auto add_ns = [&](const std::string& ns) {
      namespaces_.push_back(ns);
      s += "ip netns add " + ns + "\nip -n " + ns + " link set lo up\n";
    };
    add_ns(client());
    for (std::size_t i = 0; i < n; ++i) add_ns(router(i));
    add_ns(internet());
    // Links: client-r0, r0-r1, ..., r(n-1)-internet.
    auto link = [&](const std::string& a_ns, const std::string& a_if, const std::string& b_ns, const std::string& b_if) {
      s += "ip link add " + a_if + " netns " + a_ns + " type veth peer name " + b_if + " netns " + b_ns + "\n";
      s += "ip -n " + a_ns + " link set " + a_if + " up\nip -n " + b_ns + " link set " + b_if + " up\n";
    };
    link(client(), p_ + "c", router(0), p_ + "0l");
    for (std::size_t i = 0; i + 1 < n; ++i) link(router(i), wan_if(i), router(i + 1), lan_if(i + 1));
    link(router(n - 1), wan_if(n - 1), internet(), p_ + "s");
    s += "ip -n " + client() + " addr add " + o_.client_cidr + " dev " + p_ + "c\n";
    s += "ip -n " + client() + " route add default via " + ip_of(o_.routers[0].lan_cidr) + "\n";
    for (std::size_t i = 0; i < n; ++i) {
      const auto& r = o_.routers[i];
      s += "ip -n " + router(i) + " addr add " + r.lan_cidr + " dev " + lan_if(i) + "\n";
      s += "ip -n " + router(i) + " addr add " + r.wan_cidr + " dev " + wan_if(i) + "\n";
      if (i + 1 < n) s += "ip -n " + router(i) + " route add default via " + ip_of(o_.routers[i + 1].lan_cidr) + "\n";
      s += "ip netns exec " + router(i) + " sysctl -qw net.ipv4.ip_forward=1\n";
      s += "ip netns exec " + router(i) + " nft add table ip nat\n";
      s += "ip netns exec " + router(i) + " nft 'add chain ip nat post { type nat hook postrouting priority 100 ; }'\n";
      s += "ip netns exec " + router(i) + " nft add rule ip nat post oifname " + wan_if(i) + " masquerade" +
           (r.random ? " random" : "") + "\n";
    }
    s += "ip -n " + internet() + " addr add 203.0.113.1/24 dev " + p_ + "s\n";
    s += "ip -n " + internet() + " addr add 203.0.113.2/24 dev " + p_ + "s\n";
    auto r = sh(s);
    INFO(r.err);
    REQUIRE(r.exit_code == 0);
    start_coturn();
    start_serve();
  }

  void cleanup() {
    serve_.reset();
    coturn_.clear();
    for (const auto& ns : namespaces_) sh("ip netns del " + ns + " 2>/dev/null || true");
    namespaces_.clear();
  }

  std::string client() const { return p_ + "c"; }
  std::string router(std::size_t i) const { return p_ + "r" + std::to_string(i); }
  std::string internet() const { return p_ + "s"; }

  /// `xnet --json whoami --stun` run in the client namespace (plain whoami when stun is false:
  /// the automatic check).
  RunResult whoami(bool stun = true) {
    std::vector<std::string> args{"ip", "netns", "exec", client(), xnet::test::xnet_binary(), "--json", "whoami"};
    if (stun) args.push_back("--stun");
    args.insert(args.end(), {"--jid", "localhost", "--server", serve_ip_ + ":5222", "--ca-file",
                             (dir_.path() / "state" / "cert.pem").string(), "--timeout", "20"});
    return xnet::test::run(args, {{"XDG_CONFIG_HOME", dir_.path().string()}}, std::nullopt, 60s);
  }

 private:
  std::string lan_if(std::size_t i) const { return p_ + std::to_string(i) + "l"; }
  std::string wan_if(std::size_t i) const { return p_ + std::to_string(i) + "w"; }

  // Polls (bounded) the internet namespace's UDP sockets until every address is bound.
  bool wait_udp(const std::vector<std::string>& bound) {
    for (int i = 0; i < 200; ++i) {
      auto r = xnet::test::run({"ip", "netns", "exec", internet(), "ss", "-Hlun"});
      if (std::all_of(bound.begin(), bound.end(), [&](const std::string& b) { return r.out.find(b) != std::string::npos; }))
        return true;
      std::this_thread::sleep_for(50ms);
    }
    return false;
  }

  void start_coturn() {
    std::vector<std::vector<std::string>> sets =
        o_.rfc5780 ? std::vector<std::vector<std::string>>{{"203.0.113.1", "203.0.113.2"}}
                   : std::vector<std::vector<std::string>>{{"203.0.113.1"}, {"203.0.113.2"}};
    std::vector<std::string> expect;
    for (std::size_t k = 0; k < sets.size(); ++k) {
      std::string conf;
      for (const auto& a : sets[k]) {
        conf += "listening-ip=" + a + "\n";
        expect.push_back(a + ":3478");
      }
      if (sets[k].size() == 2) expect.push_back("203.0.113.2:3479");
      auto tag = std::to_string(k);
      conf += "listening-port=3478\nno-tls\nno-dtls\nno-cli\nno-auth\nsimple-log\n";
      conf += "log-file=" + (dir_.path() / ("turn" + tag + ".log")).string() + "\n";
      conf += "pidfile=" + (dir_.path() / ("turn" + tag + ".pid")).string() + "\n";
      conf += "userdb=" + (dir_.path() / ("turn" + tag + ".db")).string() + "\n";
      xnet::test::write_file(dir_.path() / ("turn" + tag + ".conf"), conf);
      Process::Options po;
      po.stdout_file = dir_.path() / ("turn" + tag + ".out");
      po.stderr_file = dir_.path() / ("turn" + tag + ".err");
      coturn_.emplace_back(std::vector<std::string>{"ip", "netns", "exec", internet(), "turnserver", "-c",
                                                    (dir_.path() / ("turn" + tag + ".conf")).string()},
                           po);
    }
    REQUIRE(wait_udp(expect));
  }

  void start_serve() {
    std::string ns = internet();
    serve_ip_ = "203.0.113.1";
    if (o_.serve_in >= 0) {
      ns = router(static_cast<std::size_t>(o_.serve_in));
      serve_ip_ = ip_of(o_.routers[static_cast<std::size_t>(o_.serve_in)].lan_cidr);
    }
    Process::Options po;
    po.stderr_file = dir_.path() / "serve.log";
    po.stdout_file = dir_.path() / "serve.out";
    // The first STUN server is listed twice (with and without the default port): asked once.
    serve_ = std::make_unique<Process>(
        std::vector<std::string>{"ip", "netns", "exec", ns, xnet::test::xnet_binary(), "serve", "--state-dir",
                                 (dir_.path() / "state").string(), "--listen", serve_ip_, "--port", "5222",
                                 "--no-direct-tls", "--port-file", (dir_.path() / "ports.json").string(), "--stun",
                                 "203.0.113.1:3478", "--stun", "203.0.113.2:3478", "--stun", "203.0.113.1"},
        po);
    INFO(xnet::test::read_file(dir_.path() / "serve.log"));
    REQUIRE(xnet::test::wait_for_file(dir_.path() / "ports.json", 15s));
  }

  LabOptions o_;
  std::string p_;
  TempDir dir_{"xnet-nat"};
  std::vector<std::string> namespaces_;
  std::vector<Process> coturn_;
  std::unique_ptr<Process> serve_;
  std::string serve_ip_;
};

bool has_note(const json& j, const std::string& part) {
  for (const auto& n : j["nat_notes"])
    if (n.get<std::string>().find(part) != std::string::npos) return true;
  return false;
}

json whoami_json(NatLab& lab) {
  auto r = lab.whoami();
  INFO(r.err);
  INFO(r.out);
  REQUIRE(r.exit_code == 0);
  auto j = r.json();
  // Each distinct STUN server asked once, whatever the list repeats.
  CHECK(j["stun"]["servers"] == json::array({"203.0.113.1:3478", "203.0.113.2:3478"}));
  std::vector<std::string> dests;
  for (const auto& o : j["stun"]["observations"]) dests.push_back(o["destination"]);
  std::sort(dests.begin(), dests.end());
  CHECK(std::adjacent_find(dests.begin(), dests.end()) == dests.end());
  return j;
}

}  // namespace

TEST_CASE("whoami behind a port-preserving NAT (masquerade): endpoint-independent, RFC 5780 filtering",
          "[integration][nat]") {
  XNET_SKIP_IF(lab_unavailable());
  NatLab lab({"192.168.1.10/24", {{"192.168.1.1/24", "203.0.113.100/24", false}}});
  auto j = whoami_json(lab);
  CHECK(j["via"] == "sic");
  CHECK(j["external_ip"] == "203.0.113.100");
  CHECK(j["local_ip"] == "192.168.1.10");
  CHECK(j["nat"] == "nat");
  CHECK(j["cgnat"] == false);
  CHECK(j["external_private"] == false);
  CHECK(j["external_shared"] == false);
  CHECK(j["tcp_port_preserved"] == true);
  CHECK(j["udp_port_preserved"] == true);
  CHECK(j["mapping"] == "endpoint-independent");
  CHECK(j["mapping_basis"] == "3 destinations of 2 STUN servers");
  // Linux conntrack lets in only replies from the exact address and port asked.
  CHECK(j["filtering"] == "address-and-port-dependent");
  CHECK(j["stun"]["rfc5780_server"] == "203.0.113.1:3478");
  CHECK(j["stun"]["filter_change_ip_port_answered"] == false);
  CHECK(j["stun"]["filter_change_port_answered"] == false);
  CHECK(j["stun"]["external_ip"] == "203.0.113.100");
  CHECK(j["stun"]["local_ip"] == "192.168.1.10");
  CHECK(has_note(j, "the NAT kept the UDP port"));
  CHECK(has_note(j, "see the same address 203.0.113.100"));
  CHECK_FALSE(has_note(j, "proxy for TCP"));
  CHECK(j["nat_meaning"].get<std::string>().find("hole punching") != std::string::npos);

  // Plain whoami: the same mapping from the automatic check, filtering left to --stun.
  auto plain = lab.whoami(false);
  INFO(plain.err);
  REQUIRE(plain.exit_code == 0);
  auto p = plain.json();
  CHECK(p["mapping"] == "endpoint-independent");
  CHECK(p["filtering"] == "unknown");
  CHECK(p["stun"]["rfc5780_server"] == "203.0.113.1:3478");
  CHECK(p["stun"]["filter_change_ip_port_answered"].is_null());
  CHECK(p["stun"]["filtering_note"].get<std::string>().find("whoami --stun runs them") != std::string::npos);
  CHECK(p["udp_port_preserved"] == true);
}

TEST_CASE("whoami behind a random-port NAT (masquerade random): dependent mapping", "[integration][nat]") {
  XNET_SKIP_IF(lab_unavailable());
  SECTION("with RFC 5780 (coturn on two addresses)") {
    NatLab lab({"192.168.1.10/24", {{"192.168.1.1/24", "203.0.113.100/24", true}}});
    auto j = whoami_json(lab);
    CHECK(j["nat"] == "nat");
    CHECK(j["mapping"] == "address-and-port-dependent");
    CHECK(j["filtering"] == "address-and-port-dependent");
    CHECK(has_note(j, "each destination got its own mapping"));
    CHECK(j["nat_meaning"].get<std::string>().find("will need a TURN relay") != std::string::npos);
  }
  SECTION("with two plain STUN servers from the list (no RFC 5780)") {
    NatLab lab({"192.168.1.10/24", {{"192.168.1.1/24", "203.0.113.100/24", true}}, false});
    auto j = whoami_json(lab);
    CHECK(j["mapping"] == "dependent");
    CHECK(j["mapping_basis"] == "2 destinations of 2 STUN servers");
    CHECK(j["filtering"] == "unknown");
    CHECK(j["stun"]["rfc5780_server"].is_null());
    CHECK(j["nat_meaning"].get<std::string>().find("will need a TURN relay") != std::string::npos);
  }
}

TEST_CASE("whoami on a device in 100.64.0.0/10 is flagged CGNAT", "[integration][nat]") {
  XNET_SKIP_IF(lab_unavailable());
  NatLab lab({"100.64.0.50/10", {{"100.64.0.1/10", "203.0.113.100/24", true}}});
  auto j = whoami_json(lab);
  CHECK(j["nat"] == "cgnat");
  CHECK(j["cgnat"] == true);
  CHECK(j["local_ip"] == "100.64.0.50");
  CHECK(j["external_ip"] == "203.0.113.100");
  CHECK(has_note(j, "100.64.0.50 is in 100.64.0.0/10: it sits directly on a carrier-grade NAT"));
  CHECK(j["nat_meaning"].get<std::string>().find("carrier-grade NAT") != std::string::npos);
}

TEST_CASE("whoami with the XMPP server inside the carrier network explains the SIC/STUN difference",
          "[integration][nat]") {
  XNET_SKIP_IF(lab_unavailable());
  // home NAT (192.168.1.0/24 -> 100.64.0.20) behind a carrier NAT (100.64.0.0/10 -> 203.0.113.100);
  // the XMPP server runs on the carrier NAT's inside address.
  NatLab lab({"192.168.1.10/24",
              {{"192.168.1.1/24", "100.64.0.20/10", false}, {"100.64.0.1/10", "203.0.113.100/24", true}},
              true,
              1});
  auto j = whoami_json(lab);
  CHECK(j["external_ip"] == "100.64.0.20");
  CHECK(j["stun"]["external_ip"] == "203.0.113.100");
  CHECK(j["nat"] == "cgnat");
  CHECK(j["external_shared"] == true);
  CHECK(has_note(j, "the XMPP server sits inside the carrier network"));
  CHECK_FALSE(has_note(j, "different exits"));
  CHECK_FALSE(has_note(j, "TCP goes through a proxy"));
  CHECK_FALSE(has_note(j, "proxy (or a NAT) for TCP only"));
  CHECK(j["mapping"] == "address-and-port-dependent");
}
