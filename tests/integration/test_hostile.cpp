// SPDX-License-Identifier: MIT
// The client against a hostile server written here: a plain TCP (and TLS) listener on
// 127.0.0.1 that speaks just enough XMPP to bring the client to the step under test, then
// sends what a malicious server or a man in the middle would. The client must end with a
// clear error and exit code, in bounded time and memory, and never die from a signal.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <csignal>
#include <functional>
#include <regex>
#include <thread>

#include <catch2/catch.hpp>

#include "support/process.hpp"
#include "xmpp/session.hpp"

using namespace xnet::test;

namespace {

constexpr const char* kHeader =
    "<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' "
    "id='hostile-1' from='localhost' version='1.0'>";
constexpr const char* kStartTlsFeatures =
    "<stream:features><starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'><required/></starttls></stream:features>";
constexpr const char* kAnonFeatures =
    "<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>ANONYMOUS</mechanism>"
    "</mechanisms></stream:features>";
constexpr const char* kBindFeatures =
    "<stream:features><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'/></stream:features>";

// One accepted connection, blocking with timeouts so the server thread can never hang.
class Conn {
 public:
  Conn(int fd, SSL_CTX* ctx) : fd_(fd), ctx_(ctx) {
    timeval tv{5, 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
  }
  ~Conn() {
    if (ssl_) SSL_free(ssl_);
    ::close(fd_);
  }

  bool tls_accept() {
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    return SSL_accept(ssl_) == 1;
  }

  // Read until text appears in what the client sent; everything up to and including it is
  // consumed. False on EOF, error or timeout.
  bool expect(const std::string& text) {
    while (true) {
      if (auto p = in_.find(text); p != std::string::npos) {
        last_ = in_.substr(0, p + text.size());
        in_.erase(0, p + text.size());
        return true;
      }
      char buf[4096];
      long n = ssl_ ? SSL_read(ssl_, buf, sizeof buf) : ::recv(fd_, buf, sizeof buf, 0);
      if (n <= 0) return false;
      in_.append(buf, static_cast<std::size_t>(n));
    }
  }
  // Everything consumed by the last expect(), plus what is buffered.
  std::string seen() const { return last_ + in_; }

  bool send(const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
      long n = ssl_ ? SSL_write(ssl_, s.data() + off, static_cast<int>(std::min<std::size_t>(s.size() - off, 1 << 20)))
                    : ::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL);
      if (n <= 0) return false;
      off += static_cast<std::size_t>(n);
    }
    return true;
  }

  // The id of the last <iq> in what expect() consumed whose text contains marker.
  std::string iq_id(const std::string& marker) const {
    std::string all = seen();
    std::regex re("<iq[^>]*?\\sid=['\"]([^'\"]+)['\"][^>]*>");
    std::string id;
    for (auto it = std::sregex_iterator(all.begin(), all.end(), re); it != std::sregex_iterator(); ++it) {
      auto end = all.find("</iq>", static_cast<std::size_t>(it->position()));
      auto body = all.substr(static_cast<std::size_t>(it->position()),
                             end == std::string::npos ? std::string::npos : end - static_cast<std::size_t>(it->position()));
      if (body.find(marker) != std::string::npos) id = (*it)[1];
    }
    return id;
  }

 private:
  int fd_;
  SSL_CTX* ctx_;
  SSL* ssl_ = nullptr;
  std::string in_, last_;
};

// A listener on 127.0.0.1 that runs script on each accepted connection (one at a time).
class HostileServer {
 public:
  using Script = std::function<void(Conn&)>;
  explicit HostileServer(Script script) : script_(std::move(script)) {
    dir_ = std::make_unique<TempDir>("xnet-hostile");
    auto [cert, key] = make_self_signed(dir_->path(), "localhost");
    ctx_ = SSL_CTX_new(TLS_server_method());
    SSL_CTX_use_certificate_chain_file(ctx_, cert.c_str());
    SSL_CTX_use_PrivateKey_file(ctx_, key.c_str(), SSL_FILETYPE_PEM);
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(fd_, 8) == 0);
    socklen_t len = sizeof a;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&a), &len);
    port_ = ntohs(a.sin_port);
    thread_ = std::thread([this] {
      while (!stop_) {
        int c = ::accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (c < 0) return;
        if (stop_) {
          ::close(c);
          return;
        }
        Conn conn(c, ctx_);
        script_(conn);
        ++served_;
      }
    });
  }
  ~HostileServer() {
    stop_ = true;
    ::shutdown(fd_, SHUT_RDWR);
    ::close(fd_);
    thread_.join();
    SSL_CTX_free(ctx_);
  }
  std::string addr() const { return "127.0.0.1:" + std::to_string(port_); }
  int served() const { return served_; }

 private:
  Script script_;
  std::unique_ptr<TempDir> dir_;
  SSL_CTX* ctx_ = nullptr;
  int fd_ = -1;
  std::uint16_t port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> served_{0};
  std::thread thread_;
};

std::string nested(std::size_t depth) {
  std::string s;
  s.reserve(depth * 7);
  for (std::size_t i = 0; i < depth; ++i) s += "<a>";
  return s;
}

// Peak RSS (KiB) of the largest child reaped so far.
long children_max_rss_kib() {
  rusage ru{};
  ::getrusage(RUSAGE_CHILDREN, &ru);
  return ru.ru_maxrss;
}

RunResult client(const HostileServer& s, std::vector<std::string> extra, const std::string& verb = "whoami") {
  std::vector<std::string> args{"--json", verb, "--jid", "localhost", "--server", s.addr(), "--insecure",
                                "--timeout", "10"};
  args.insert(args.end(), extra.begin(), extra.end());
  return run_xnet(args, {}, std::nullopt, std::chrono::seconds(30));
}

// What every hostile case asserts: an exit code from the table (never 128+signal), a JSON
// error object on stdout, bounded stderr (no 10 MB text on the terminal), bounded time and RSS.
void check_clean_failure(const RunResult& r, std::initializer_list<int> codes) {
  INFO("exit " << r.exit_code << ", stderr: " << r.err.substr(0, 2000));
  CHECK(r.exit_code < 128);
  bool listed = false;
  for (int c : codes) listed = listed || r.exit_code == c;
  CHECK(listed);
  CHECK(r.err.size() < 4096);
  CHECK(r.elapsed_ms < 10000);
  auto j = r.json();
  CHECK(j["error"]["exit_code"] == r.exit_code);
  CHECK(!j["error"]["message"].get<std::string>().empty());
  CHECK(children_max_rss_kib() < 200 * 1024);
}

}  // namespace

TEST_CASE("hostile server: 500 000 nested elements in the plaintext features", "[integration][hostile]") {
  std::signal(SIGPIPE, SIG_IGN);
  HostileServer s([](Conn& c) {
    if (!c.expect("<stream:stream")) return;
    c.send(std::string(kHeader) + "<stream:features>");
    std::string chunk = nested(10000);
    for (int i = 0; i < 50 && c.send(chunk); ++i) {
    }
  });
  auto r = client(s, {});
  check_clean_failure(r, {76});
  CHECK(r.err.find("nest") != std::string::npos);
}

TEST_CASE("hostile server: deep nesting after STARTTLS", "[integration][hostile]") {
  std::signal(SIGPIPE, SIG_IGN);
  HostileServer s([](Conn& c) {
    if (!c.expect("<stream:stream")) return;
    c.send(std::string(kHeader) + kStartTlsFeatures);
    if (!c.expect("<starttls")) return;
    c.send("<proceed xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    if (!c.tls_accept()) return;
    if (!c.expect("<stream:stream")) return;
    c.send(std::string(kHeader) + "<stream:features>" + nested(100000));
  });
  auto r = client(s, {});
  check_clean_failure(r, {76});
}

TEST_CASE("hostile server: deep nesting in a message after binding (direct TLS)", "[integration][hostile]") {
  std::signal(SIGPIPE, SIG_IGN);
  HostileServer s([](Conn& c) {
    if (!c.tls_accept() || !c.expect("<stream:stream")) return;
    c.send(std::string(kHeader) + kAnonFeatures);
    if (!c.expect("ANONYMOUS")) return;
    c.send("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
    if (!c.expect("<stream:stream")) return;
    c.send(std::string(kHeader) + kBindFeatures);
    if (!c.expect("</iq>")) return;  // the bind request
    auto id = c.iq_id("xmpp-bind");
    c.send("<iq type='result' id='" + id +
           "'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>anon@localhost/x</jid></bind></iq>");
    // A user messaging the full JID: 30 000 levels, about 210 KB (under Prosody's stanza limit).
    c.send("<message from='mallory@localhost/m' to='anon@localhost/x'><body>" + nested(30000));
    c.expect("never");  // keep the connection until the client leaves
  });
  auto r = client(s, {"--direct-tls"});
  check_clean_failure(r, {76});
}

TEST_CASE("hostile server: endless stream features", "[integration][hostile]") {
  std::signal(SIGPIPE, SIG_IGN);
  HostileServer s([](Conn& c) {
    if (!c.expect("<stream:stream")) return;
    c.send(std::string(kHeader) + "<stream:features>");
    std::string chunk;
    for (int i = 0; i < 4096; ++i) chunk += "<f" + std::to_string(i) + " xmlns='urn:x'/>";
    // Up to 200 MB, until the client hangs up.
    for (int i = 0; i < 2000 && c.send(chunk); ++i) {
    }
  });
  auto r = client(s, {});
  check_clean_failure(r, {76});
}

TEST_CASE("hostile server: a 10 MB stream error text", "[integration][hostile]") {
  std::signal(SIGPIPE, SIG_IGN);
  HostileServer s([](Conn& c) {
    if (!c.expect("<stream:stream")) return;
    c.send(std::string(kHeader) +
           "<stream:error><undefined-condition xmlns='urn:ietf:params:xml:ns:xmpp-streams'/>"
           "<text xmlns='urn:ietf:params:xml:ns:xmpp-streams'>" +
           std::string(10 * 1024 * 1024, 'A') + "</text></stream:error></stream:stream>");
  });
  auto r = client(s, {});
  check_clean_failure(r, {76});
  CHECK(r.err.find(std::string(600, 'A')) == std::string::npos);
  CHECK(r.out.find(std::string(600, 'A')) == std::string::npos);
}

TEST_CASE("hostile server: garbage instead of a stream after TLS", "[integration][hostile]") {
  std::signal(SIGPIPE, SIG_IGN);
  HostileServer s([](Conn& c) {
    if (!c.tls_accept()) return;
    c.send(std::string(4096, '\x01'));
    c.expect("never");
  });
  auto r = client(s, {"--direct-tls"});
  check_clean_failure(r, {76});
}

TEST_CASE("hostile server: a 10 000-entry service list", "[integration][hostile]") {
  std::signal(SIGPIPE, SIG_IGN);
  HostileServer s([](Conn& c) {
    if (!c.tls_accept() || !c.expect("<stream:stream")) return;
    c.send(std::string(kHeader) + kAnonFeatures);
    if (!c.expect("ANONYMOUS")) return;
    c.send("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
    if (!c.expect("<stream:stream")) return;
    c.send(std::string(kHeader) + kBindFeatures);
    if (!c.expect("</iq>")) return;  // the bind request (first IQ after the restart)
    c.send("<iq type='result' id='" + c.iq_id("xmpp-bind") +
           "'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>anon@localhost/x</jid></bind></iq>");
    // Answer disco#info and then the services request with 10 000 entries.
    for (int round = 0; round < 4; ++round) {
      if (!c.expect("</iq>")) return;
      auto seen = c.seen();
      if (seen.find("disco#info") != std::string::npos) {
        c.send("<iq type='result' from='localhost' id='" + c.iq_id("disco#info") +
               "'><query xmlns='http://jabber.org/protocol/disco#info'><identity category='server' type='im'/>"
               "<feature var='urn:xmpp:extdisco:2'/></query></iq>");
      } else if (seen.find("urn:xmpp:extdisco") != std::string::npos) {
        std::string list = "<iq type='result' from='localhost' id='" + c.iq_id("urn:xmpp:extdisco") +
                           "'><services xmlns='urn:xmpp:extdisco:2'>";
        for (int i = 0; i < 10000; ++i)
          list += "<service type='stun' host='10." + std::to_string(i / 256 % 256) + "." + std::to_string(i % 256) +
                  ".1' port='3478' transport='udp'/>";
        c.send(list + "</services></iq>");
      }
    }
    c.expect("never");
  });
  auto r = client(s, {"--direct-tls"}, "stun-list");
  INFO("exit " << r.exit_code << ", stderr: " << r.err.substr(0, 2000));
  CHECK(r.exit_code < 128);
  CHECK(r.elapsed_ms < 10000);
  CHECK(children_max_rss_kib() < 200 * 1024);
  CHECK(r.err.size() < 4096);
  auto j = r.json();  // valid JSON either way: the list, or an error object
  if (r.exit_code == 0) {
    CHECK(j["services"].is_array());
  } else {
    CHECK(j["error"]["exit_code"] == r.exit_code);
  }
}

namespace {
// Log the client in (ANONYMOUS over direct TLS), then hand over to after_bind.
void login_then(Conn& c, const std::function<void(Conn&)>& after_bind) {
  if (!c.tls_accept() || !c.expect("<stream:stream")) return;
  c.send(std::string(kHeader) + kAnonFeatures);
  if (!c.expect("ANONYMOUS")) return;
  c.send("<success xmlns='urn:ietf:params:xml:ns:xmpp-sasl'/>");
  if (!c.expect("<stream:stream")) return;
  c.send(std::string(kHeader) + kBindFeatures);
  if (!c.expect("</iq>")) return;  // the bind request (first IQ after the restart)
  c.send("<iq type='result' id='" + c.iq_id("xmpp-bind") +
         "'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><jid>anon@localhost/x</jid></bind></iq>");
  after_bind(c);
}

xnet::xmpp::ConnectConfig direct_config(const HostileServer& s) {
  xnet::xmpp::ConnectConfig cfg;
  cfg.jid = "localhost";
  auto addr = s.addr();
  cfg.host = "127.0.0.1";
  cfg.port = static_cast<std::uint16_t>(std::stoi(addr.substr(addr.rfind(':') + 1)));
  cfg.direct_tls = true;
  cfg.insecure = true;
  return cfg;
}
}  // namespace

TEST_CASE("keepalive: a server that stops answering is a dead link within interval + timeout",
          "[integration][hostile][keepalive]") {
  std::signal(SIGPIPE, SIG_IGN);
  std::atomic<bool> pinged{false};
  HostileServer s([&](Conn& c) {
    login_then(c, [&](Conn& cc) {
      // Swallow everything, answer nothing (a frozen relay, a NAT that dropped the mapping).
      if (cc.expect("urn:xmpp:ping")) pinged = true;
      cc.expect("never");
    });
  });
  auto session = xnet::xmpp::Session::open(direct_config(s), xnet::null_trace(), xnet::Deadline::in(std::chrono::seconds(10)));
  INFO((session ? std::string() : session.error().message));
  REQUIRE(session);
  session->set_keepalive(std::chrono::milliseconds(300), std::chrono::milliseconds(300));
  auto t0 = std::chrono::steady_clock::now();
  auto r = session->run_until([] { return false; }, xnet::Deadline::in(std::chrono::seconds(5)));
  auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  REQUIRE_FALSE(r);
  CHECK(r.error().category == xnet::Category::Timeout);
  CHECK(r.error().message.find("dead") != std::string::npos);
  CHECK(ms >= 500);
  CHECK(ms < 2000);
  CHECK(pinged);
  CHECK_FALSE(session->alive());
}

TEST_CASE("keepalive: pings that are answered keep the session up, and server pings are answered",
          "[integration][hostile][keepalive]") {
  std::signal(SIGPIPE, SIG_IGN);
  std::atomic<int> answered{0};
  std::atomic<bool> got_pong{false};
  HostileServer s([&](Conn& c) {
    login_then(c, [&](Conn& cc) {
      // The server pings the client first (XEP-0199 §4.1): the client must answer.
      cc.send("<iq type='get' id='srv-ping' from='localhost'><ping xmlns='urn:xmpp:ping'/></iq>");
      if (cc.expect("srv-ping")) got_pong = cc.seen().find("type='result'") != std::string::npos ||
                                            cc.seen().find("type=\"result\"") != std::string::npos;
      for (int i = 0; i < 50; ++i) {
        if (!cc.expect("urn:xmpp:ping")) return;
        cc.expect("</iq>");
        cc.send("<iq type='result' from='localhost' id='" + cc.iq_id("urn:xmpp:ping") + "'/>");
        ++answered;
      }
    });
  });
  auto session = xnet::xmpp::Session::open(direct_config(s), xnet::null_trace(), xnet::Deadline::in(std::chrono::seconds(10)));
  INFO((session ? std::string() : session.error().message));
  REQUIRE(session);
  session->set_keepalive(std::chrono::milliseconds(200), std::chrono::milliseconds(500));
  auto r = session->poll(std::chrono::milliseconds(1500));
  CHECK(r);
  CHECK(session->alive());
  CHECK(answered >= 3);
  CHECK(got_pong);
}
