// SPDX-License-Identifier: MIT
#pragma once

// Finding the server: SRV (RFC 6120 §3.2, XEP-0368) and A/AAAA lookups through c-ares on the
// session's io_context, and the ordering rules that turn answers into connection targets.

#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <asio/io_context.hpp>
#include <asio/ip/address.hpp>

#include "error.hpp"

namespace xnet::xmpp {

/// One SRV record; direct_tls tells which of the two services it came from.
struct SrvRecord {
  std::string target;
  std::uint16_t port = 0;
  std::uint16_t priority = 0;
  std::uint16_t weight = 0;
  bool direct_tls = false;  ///< from _xmpps-client._tcp (XEP-0368)
};

/// The outcome of one SRV query.
struct SrvAnswer {
  enum class Kind {
    Records,     ///< records found
    None,        ///< NXDOMAIN / no SRV records: not published
    NotOffered,  ///< a single record with target "." (RFC 2782: service decidedly not available)
    Failed,      ///< the lookup itself failed (server failure, timeout, refused)
  };
  Kind kind = Kind::None;
  std::vector<SrvRecord> records;
  std::string error;  ///< for Failed
};

/// A host and port to connect to, and how TLS starts there.
struct ConnectTarget {
  std::string host;
  std::uint16_t port = 0;
  bool direct_tls = false;
  bool from_srv = false;
};

/// Order records by RFC 2782: ascending priority, and within one priority a weighted random
/// choice (weight 0 records have a small chance too), using rng.
std::vector<SrvRecord> order_srv(std::vector<SrvRecord> records, std::mt19937& rng);

/// Connection targets for domain from the two SRV answers (XEP-0368 §3: both sets merged into
/// one RFC 2782 order). direct_only keeps only _xmpps-client records (--direct-tls). Without
/// any SRV record the domain itself is the target on 5222 (or 5223 with direct_only). A "."
/// answer means the service is not offered: no A/AAAA fallback for it. Errors: Dns when
/// nothing is left to try.
Result<std::vector<ConnectTarget>> plan_targets(const std::string& domain, const SrvAnswer& xmpps,
                                                const SrvAnswer& xmpp, bool direct_only, std::mt19937& rng);

/// The outcome of an address lookup.
struct AddressAnswer {
  std::vector<asio::ip::address> addresses;
  int status = 0;         ///< 0 = ok, else a c-ares status
  std::string error;      ///< readable status ("" when ok)
  bool not_found = false; ///< NXDOMAIN or no record of that family
};

/// Asynchronous DNS through c-ares whose sockets are watched by io's reactor. Callbacks run on
/// io. Destroying the Resolver cancels outstanding lookups without calling their callbacks.
class Resolver {
 public:
  explicit Resolver(asio::io_context& io);
  ~Resolver();
  Resolver(const Resolver&) = delete;
  Resolver& operator=(const Resolver&) = delete;

  /// True when c-ares could be set up (it reads /etc/resolv.conf); else init_error() says why.
  bool ok() const;
  const std::string& init_error() const;

  /// Look up the SRV records of name (e.g. "_xmpp-client._tcp.example.org").
  void srv(const std::string& name, std::function<void(SrvAnswer)> done);
  /// Look up the addresses of host in family (4 or 6); /etc/hosts is consulted first.
  void addresses(const std::string& host, int family, std::function<void(AddressAnswer)> done);
  /// Cancel every outstanding lookup (their callbacks are not called).
  void cancel();

 private:
  struct Impl;
  std::shared_ptr<Impl> impl_;
};

}  // namespace xnet::xmpp
