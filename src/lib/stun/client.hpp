// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "error.hpp"
#include "stun/message.hpp"
#include "stun/transport.hpp"
#include "trace.hpp"

namespace xnet::stun {

/// Retransmission budget (RFC 8489 §6.2.1). The RFC defaults (RTO 500 ms, Rc 7, Rm 16) give up
/// after 39.5 s; a CLI wants an answer sooner, so xnet defaults to RTO 100 ms, Rc 4, Rm 8:
/// sends at 0, 100, 300, 700 ms and failure at 1500 ms.
struct RetransmitPolicy {
  std::chrono::milliseconds rto{100};       ///< first retransmission timeout; doubles per send
  int max_sends = 4;                        ///< Rc: requests sent in total over UDP
  int last_wait_multiplier = 8;             ///< Rm: wait Rm x RTO after the last send
  std::chrono::milliseconds reliable_timeout{1500};  ///< Ti: TCP/TLS wait for a response

  /// The time after which a UDP transaction fails: RTO*(2^(Rc-1)-1) + Rm*RTO.
  std::chrono::milliseconds udp_budget() const;
};

/// Long-term (or short-term) credentials for a STUN/TURN server.
struct Credentials {
  std::string username;
  std::string password;
  bool short_term = false;  ///< true: sign every request with OpaqueString(password) (ICE style)
};

/// What a long-term authentication exchange learned (RFC 8489 §9.2); reused for later
/// requests to the same server (Allocate, then Refresh).
struct AuthState {
  std::string realm;
  std::string nonce;
  std::vector<std::uint8_t> key;
  bool ready() const { return !key.empty(); }
};

/// One completed transaction: the response and its timing.
struct Exchange {
  Message response;
  double rtt_ms = 0;         ///< from the last send of the request to the response
  int sends = 0;             ///< how many times the request went out (1 = no retransmission)
};

/// Shared settings for client operations.
struct ClientOptions {
  RetransmitPolicy policy;
  std::string software = "xnet";          ///< SOFTWARE attribute; empty: none
  bool fingerprint = true;                ///< add FINGERPRINT to requests
  Clock* clock = nullptr;                 ///< nullptr: steady_clock()
  Trace* trace = nullptr;                 ///< nullptr: null_trace()
  /// Absolute deadline for the whole operation; nullopt: only the policy bounds it.
  std::optional<Clock::time_point> deadline;
};

/// Sends request over transport and waits for the response with the same transaction ID,
/// retransmitting over UDP per policy. Malformed datagrams and strangers' responses are dropped
/// (RFC 8489 §6.3); a response with unknown comprehension-required attributes fails the
/// transaction (Category::Protocol). When key is non-empty a success response must carry a
/// valid MESSAGE-INTEGRITY, otherwise it is dropped. Category::Timeout after the budget.
Result<Exchange> transact(Transport& transport, const std::vector<std::uint8_t>& request,
                          const TransactionId& tid, const ClientOptions& options,
                          std::span<const std::uint8_t> key = {});

/// Adds method-specific attributes to a request being built.
using AttributeFiller = std::function<void(MessageBuilder&)>;

/// Runs a request of method with credentials, answering the long-term challenge (RFC 8489
/// §9.2.3): 401 → realm/nonce → retry, 438 → retry with the new nonce, at most 3 challenges.
/// With no credentials the request goes out unsigned. The returned exchange may be an error
/// response other than an authentication one; map it with error_from_response().
/// Category::Auth when the server rejects the credentials or demands some and none are given.
Result<Exchange> request(Transport& transport, Method method, const AttributeFiller& fill,
                         const std::optional<Credentials>& credentials, AuthState& state,
                         const ClientOptions& options);

/// An xnet::Error for a STUN error response: 401/403/441 → Auth, 420 → Protocol, 442 →
/// NotSupported, anything else → Remote; the message carries the code and reason.
Error error_from_response(const Message& response, std::string_view context);

/// The outcome of a Binding transaction.
struct BindingResult {
  Address mapped;             ///< the reflexive address (XOR-MAPPED-ADDRESS or MAPPED-ADDRESS)
  bool xor_mapped = true;     ///< false when only MAPPED-ADDRESS came back (RFC 3489 server)
  double rtt_ms = 0;
  int sends = 1;
  std::string software;       ///< the server's SOFTWARE, if any
  std::optional<Address> other_address;    ///< RFC 5780 OTHER-ADDRESS (or RFC 3489 CHANGED-ADDRESS)
  std::optional<Address> response_origin;  ///< RFC 5780 RESPONSE-ORIGIN: where the answer came from
};

/// Sends a Binding request (RFC 8489 §3) and returns the reflexive address.
Result<BindingResult> binding(Transport& transport, const ClientOptions& options,
                              const std::optional<Credentials>& credentials = std::nullopt);

/// The outcome of a TURN Allocate (RFC 8656 §7).
struct AllocateResult {
  Address relayed;
  std::optional<Address> mapped;
  std::uint32_t lifetime = 0;
  double rtt_ms = 0;          ///< of the authenticated Allocate
  bool released = false;      ///< Refresh with LIFETIME 0 succeeded
  std::string release_error;  ///< why the release failed, if it did
};

/// Allocates a UDP relay with credentials, then releases it with Refresh (LIFETIME 0) unless
/// keep is true. Wrong or expired credentials give Category::Auth.
Result<AllocateResult> allocate(Transport& transport, const Credentials& credentials,
                                const ClientOptions& options, bool keep = false);

}  // namespace xnet::stun
