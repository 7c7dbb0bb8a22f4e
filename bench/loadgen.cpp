// SPDX-License-Identifier: MIT
// bench/loadgen: a small XMPP load generator for bench/serve. Each client connects, does
// STARTTLS, SASL SCRAM-SHA-1, binds, and sends XEP-0279 sic:1 queries (no `to`), exactly as
// `xnet whoami` does, against any server (xnet serve, Prosody + mod_ipcheck). Blocking sockets,
// one thread per concurrent client; the salted password is computed once per user so the load is
// the server's, not the client's PBKDF2.
//
//   loadgen --port P --mode logins  --clients 8 --count 400
//   loadgen --port P --mode queries --clients 8 --queries 2000
//   loadgen --port P --mode idle    --idle 1000 --pid SERVER_PID
//   loadgen --port P --mode all     --idle 10000 --count 400 --queries 4000 --pid SERVER_PID
//     (idle sessions first, then logins and queries while they stay open)
// --deadline S bounds the whole run: what is done by then is reported ("deadline_hit": true)
// and the process exits 3 instead of waiting for a stuck server. Prints one JSON object.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "server/crypto.hpp"

namespace crypto = xnet::server::crypto;
using Clock = std::chrono::steady_clock;

namespace {

struct Options {
  std::string host = "127.0.0.1";
  int port = 5222;
  std::string domain = "localhost";
  std::string user_prefix = "bench";
  int users = 1;
  std::string password = "bench-password-1";
  std::string mode = "logins";
  int clients = 8;
  int count = 200;
  int queries = 1000;
  int idle = 500;
  int pid = 0;
  double timeout = 10;
  double settle = 6;     ///< idle: seconds to wait before sampling RSS
  double deadline = 600;  ///< whole run
};

std::atomic<bool> g_stop{false};

std::mutex g_salt_mu;
std::map<std::string, std::string> g_salted;  // user|salt|iter -> SaltedPassword

class Conn {
 public:
  Conn(const Options& o, SSL_CTX* ctx) : o_(o), ctx_(ctx) {}
  ~Conn() {
    if (ssl_) SSL_free(ssl_);
    if (fd_ >= 0) ::close(fd_);
  }

  void login(const std::string& user, const std::string& resource) {
    fd_ = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(static_cast<uint16_t>(o_.port));
    inet_pton(AF_INET, o_.host.c_str(), &a.sin_addr);
    if (fd_ < 0) throw std::runtime_error(std::string("socket: ") + std::strerror(errno));
    timeval tv{static_cast<long>(o_.timeout), 0};
    ::setsockopt(fd_, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);  // bounds connect() too
    if (::connect(fd_, reinterpret_cast<sockaddr*>(&a), sizeof a) != 0)
      throw std::runtime_error(std::string("connect: ") + std::strerror(errno));
    int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    header();
    read_until("</stream:features>");
    send("<starttls xmlns='urn:ietf:params:xml:ns:xmpp-tls'/>");
    read_until("<proceed");
    buf_.clear();
    ssl_ = SSL_new(ctx_);
    SSL_set_fd(ssl_, fd_);
    SSL_set_tlsext_host_name(ssl_, o_.domain.c_str());
    if (SSL_connect(ssl_) != 1) throw std::runtime_error("TLS handshake failed");
    header();
    read_until("</stream:features>");
    scram(user);
    header();
    read_until("</stream:features>");
    send("<iq type='set' id='bind'><bind xmlns='urn:ietf:params:xml:ns:xmpp-bind'><resource>" + resource +
         "</resource></bind></iq>");
    read_until("</iq>");
    buf_.clear();
  }

  void sic(int n) {
    std::string id = "q" + std::to_string(n);
    send("<iq type='get' id='" + id + "'><address xmlns='urn:xmpp:sic:1'/></iq>");
    auto got = read_until("</iq>");
    if (got.find("<ip>") == std::string::npos) throw std::runtime_error("no sic:1 address in " + got);
    buf_.clear();
  }

  void close() {
    send("</stream:stream>");
    read_until("</stream:stream>", true);
  }

 private:
  void header() {
    buf_.clear();
    send("<?xml version='1.0'?><stream:stream to='" + o_.domain +
         "' version='1.0' xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams'>");
  }

  void scram(const std::string& user) {
    std::string cnonce = crypto::base64(crypto::random_bytes(18));
    std::string cfb = "n=" + user + ",r=" + cnonce;
    send("<auth xmlns='urn:ietf:params:xml:ns:xmpp-sasl' mechanism='SCRAM-SHA-1'>" + crypto::base64("n,," + cfb) +
         "</auth>");
    auto got = read_until("</challenge>");
    auto s = got.find('>', got.find("<challenge")) + 1;
    auto sf = *crypto::unbase64(got.substr(s, got.find("</challenge>") - s));
    buf_.clear();
    std::string nonce, salt;
    int iter = 0;
    for (std::size_t p = 0; p < sf.size();) {
      auto e = sf.find(',', p);
      std::string part = sf.substr(p, e == std::string::npos ? std::string::npos : e - p);
      if (part.rfind("r=", 0) == 0) nonce = part.substr(2);
      if (part.rfind("s=", 0) == 0) salt = *crypto::unbase64(part.substr(2));
      if (part.rfind("i=", 0) == 0) iter = std::stoi(part.substr(2));
      if (e == std::string::npos) break;
      p = e + 1;
    }
    std::string key = user + "|" + salt + "|" + std::to_string(iter), salted;
    {
      std::lock_guard lock(g_salt_mu);
      auto it = g_salted.find(key);
      if (it == g_salted.end())
        it = g_salted.emplace(key, crypto::pbkdf2(crypto::Hash::Sha1, o_.password, salt, iter)).first;
      salted = it->second;
    }
    auto ck = crypto::hmac(crypto::Hash::Sha1, salted, "Client Key");
    auto stored = crypto::digest(crypto::Hash::Sha1, ck);
    std::string wp = "c=biws,r=" + nonce;
    auto sig = crypto::hmac(crypto::Hash::Sha1, stored, cfb + "," + sf + "," + wp);
    for (std::size_t i = 0; i < ck.size(); ++i) ck[i] = static_cast<char>(ck[i] ^ sig[i]);
    send("<response xmlns='urn:ietf:params:xml:ns:xmpp-sasl'>" + crypto::base64(wp + ",p=" + crypto::base64(ck)) +
         "</response>");
    auto r = read_until("success");
    if (r.find("<failure") != std::string::npos) throw std::runtime_error("authentication failed");
    // Prosody sends <success>v=...</success>; wait for the end of it before restarting.
    if (r.find("/>") == std::string::npos) read_until("</success>");
    buf_.clear();
  }

  void send(const std::string& s) {
    std::size_t off = 0;
    while (off < s.size()) {
      int n = ssl_ ? SSL_write(ssl_, s.data() + off, static_cast<int>(s.size() - off))
                   : static_cast<int>(::send(fd_, s.data() + off, s.size() - off, MSG_NOSIGNAL));
      if (n <= 0) throw std::runtime_error("write failed");
      off += static_cast<std::size_t>(n);
    }
  }

  std::string read_until(const std::string& needle, bool eof_ok = false) {
    auto end = Clock::now() + std::chrono::milliseconds(static_cast<int>(o_.timeout * 1000));
    while (buf_.find(needle) == std::string::npos) {
      if (!ssl_ || SSL_pending(ssl_) == 0) {
        auto left = std::chrono::duration_cast<std::chrono::milliseconds>(end - Clock::now()).count();
        if (left <= 0) throw std::runtime_error("timeout waiting for " + needle);
        pollfd p{fd_, POLLIN, 0};
        if (g_stop) throw std::runtime_error("deadline");
        if (::poll(&p, 1, static_cast<int>(std::min<long>(left, 1000))) <= 0) continue;
      }
      char b[16384];
      int n = ssl_ ? SSL_read(ssl_, b, sizeof b) : static_cast<int>(::recv(fd_, b, sizeof b, 0));
      if (n <= 0) {
        if (eof_ok) return buf_;
        throw std::runtime_error("connection closed waiting for " + needle);
      }
      buf_.append(b, static_cast<std::size_t>(n));
    }
    return buf_;
  }

  const Options& o_;
  SSL_CTX* ctx_;
  int fd_ = -1;
  SSL* ssl_ = nullptr;
  std::string buf_;
};

long rss_kb(int pid, const char* field) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind(field, 0) == 0) return std::stol(line.substr(std::strlen(field)));
  return -1;
}

double pct(std::vector<double> v, double p) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  return v[std::min(v.size() - 1, static_cast<std::size_t>(p * (v.size() - 1) + 0.5))];
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i], v = argv[i + 1];
    if (k == "--host") o.host = v;
    else if (k == "--port") o.port = std::stoi(v);
    else if (k == "--domain") o.domain = v;
    else if (k == "--user-prefix") o.user_prefix = v;
    else if (k == "--users") o.users = std::stoi(v);
    else if (k == "--password") o.password = v;
    else if (k == "--mode") o.mode = v;
    else if (k == "--clients") o.clients = std::stoi(v);
    else if (k == "--count") o.count = std::stoi(v);
    else if (k == "--queries") o.queries = std::stoi(v);
    else if (k == "--idle") o.idle = std::stoi(v);
    else if (k == "--pid") o.pid = std::stoi(v);
    else if (k == "--timeout") o.timeout = std::stod(v);
    else if (k == "--settle") o.settle = std::stod(v);
    else if (k == "--deadline") o.deadline = std::stod(v);
    else {
      std::cerr << "loadgen: unknown option " << k << "\n";
      return 64;
    }
  }
  {
    rlimit rl{};
    if (::getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
      rl.rlim_cur = rl.rlim_max;
      ::setrlimit(RLIMIT_NOFILE, &rl);
    }
  }
  SSL_CTX* ctx = SSL_CTX_new(TLS_client_method());
  SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
  SSL_CTX_set_min_proto_version(ctx, TLS1_2_VERSION);
  SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, nullptr);  // loopback benchmark; the tests verify
  auto user = [&](int i) { return o.user_prefix + std::to_string(i % o.users); };
  nlohmann::json out = {{"mode", o.mode}, {"port", o.port}};
  std::atomic<int> errors{0};
  std::string first_error;
  std::mutex mu;
  auto note_error = [&](const std::exception& e) {
    ++errors;
    std::lock_guard lock(mu);
    if (first_error.empty()) first_error = e.what();
  };

  // The overall deadline: stop starting work, report what is done, never hang.
  std::mutex out_mu;
  std::thread([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<long>(o.deadline * 1000)));
    g_stop = true;
    std::this_thread::sleep_for(std::chrono::seconds(static_cast<long>(o.timeout) + 5));
    std::lock_guard lock(out_mu);
    nlohmann::json j = out;
    j["deadline_hit"] = true;
    j["errors"] = errors.load();
    std::cout << j.dump() << std::endl;
    std::_Exit(3);
  }).detach();

  auto run_logins = [&](nlohmann::json& res) {
    // Each unit of work: connect, STARTTLS, SCRAM, bind, one sic:1 query, close.
    std::atomic<int> next{0};
    std::vector<double> lat;
    auto t0 = Clock::now();
    std::vector<std::thread> ts;
    for (int c = 0; c < o.clients; ++c)
      ts.emplace_back([&, c] {
        std::vector<double> mine;
        for (int i; !g_stop && (i = next++) < o.count;) {
          auto s = Clock::now();
          try {
            Conn conn(o, ctx);
            conn.login(user(i), "lg" + std::to_string(c) + "-" + std::to_string(i));
            conn.sic(0);
            conn.close();
            mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
          } catch (const std::exception& e) {
            note_error(e);
          }
        }
        std::lock_guard lock(mu);
        lat.insert(lat.end(), mine.begin(), mine.end());
      });
    for (auto& t : ts) t.join();
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    res["logins"] = lat.size();
    res["seconds"] = secs;
    res["logins_per_s"] = lat.size() / secs;
    res["login_ms_p50"] = pct(lat, 0.5);
    res["login_ms_p99"] = pct(lat, 0.99);
  };
  auto run_queries = [&](nlohmann::json& res) {
    std::vector<std::unique_ptr<Conn>> conns;
    try {
      for (int c = 0; c < o.clients; ++c) {
        conns.push_back(std::make_unique<Conn>(o, ctx));
        conns.back()->login(user(c), "q" + std::to_string(c));
      }
    } catch (const std::exception& e) {
      note_error(e);
      return;
    }
    std::atomic<int> next{0}, done{0};
    std::vector<double> lat;
    auto t0 = Clock::now();
    std::vector<std::thread> ts;
    for (int c = 0; c < o.clients; ++c)
      ts.emplace_back([&, c] {
        std::vector<double> mine;
        try {
          for (int i; !g_stop && (i = next++) < o.queries;) {
            auto s = Clock::now();
            conns[c]->sic(i);
            mine.push_back(std::chrono::duration<double, std::milli>(Clock::now() - s).count());
            ++done;
          }
        } catch (const std::exception& e) {
          note_error(e);
        }
        std::lock_guard lock(mu);
        lat.insert(lat.end(), mine.begin(), mine.end());
      });
    for (auto& t : ts) t.join();
    double secs = std::chrono::duration<double>(Clock::now() - t0).count();
    res["queries"] = done.load();
    res["seconds"] = secs;
    res["queries_per_s"] = done / secs;
    res["query_ms_p50"] = pct(lat, 0.5);
    res["query_ms_p99"] = pct(lat, 0.99);
    for (auto& c : conns) try {
        c->close();
      } catch (const std::exception&) {
      }
  };
  std::vector<std::unique_ptr<Conn>> idle_conns;
  auto run_idle = [&](nlohmann::json& res) {
    long before = o.pid ? rss_kb(o.pid, "VmRSS:") : -1;
    auto& conns = idle_conns;
    conns.resize(static_cast<std::size_t>(o.idle));
    std::atomic<int> next{0};
    auto t0 = Clock::now();
    std::vector<std::thread> ts;
    for (int c = 0; c < std::max(1, o.clients); ++c)
      ts.emplace_back([&, c] {
        for (int i; !g_stop && (i = next++) < o.idle;) {
          try {
            auto conn = std::make_unique<Conn>(o, ctx);
            conn->login(user(i), "idle" + std::to_string(i));
            conns[static_cast<std::size_t>(i)] = std::move(conn);
          } catch (const std::exception& e) {
            note_error(e);
          }
        }
        (void)c;
      });
    for (auto& t : ts) t.join();
    double open_secs = std::chrono::duration<double>(Clock::now() - t0).count();
    // Let the server settle (timers, allocator trimming) before sampling.
    std::this_thread::sleep_for(std::chrono::milliseconds(static_cast<int>(o.settle * 1000)));
    long after = o.pid ? rss_kb(o.pid, "VmRSS:") : -1;
    long hwm = o.pid ? rss_kb(o.pid, "VmHWM:") : -1;
    int open = static_cast<int>(std::count_if(conns.begin(), conns.end(), [](auto& c) { return c != nullptr; }));
    res["idle_sessions"] = open;
    res["open_seconds"] = open_secs;
    res["rss_before_kb"] = before;
    res["rss_after_kb"] = after;
    res["peak_rss_kb"] = hwm;
    res["rss_per_session_kb"] = open ? static_cast<double>(after - before) / open : 0.0;
  };
  auto record = [&](const char* key, auto fn) {
    nlohmann::json res;
    fn(res);
    std::lock_guard lock(out_mu);
    if (key) out[key] = res;
    else out.update(res);
  };
  if (o.mode == "logins") {
    record(nullptr, run_logins);
  } else if (o.mode == "queries") {
    record(nullptr, run_queries);
  } else if (o.mode == "idle") {
    record(nullptr, run_idle);
  } else if (o.mode == "all") {
    record("idle", run_idle);
    record("logins", run_logins);
    record("queries", run_queries);
    std::lock_guard lock(out_mu);
    out["peak_rss_kb"] = o.pid ? rss_kb(o.pid, "VmHWM:") : -1;
    out["idle_still_open"] = std::count_if(idle_conns.begin(), idle_conns.end(), [](auto& c) { return c != nullptr; });
  } else {
    std::cerr << "loadgen: --mode logins|queries|idle|all\n";
    return 64;
  }
  std::lock_guard lock(out_mu);
  out["errors"] = errors.load();
  if (!first_error.empty()) out["first_error"] = first_error;
  std::cout << out.dump() << std::endl;
  std::cout.flush();
  // Idle connections are dropped with the process (closing 10 000 streams politely is not measured).
  std::_Exit(errors ? 1 : 0);
}
