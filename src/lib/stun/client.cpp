// SPDX-License-Identifier: MIT
#include "stun/client.hpp"

#include <exception>

#include <asio/co_spawn.hpp>
#include <asio/io_context.hpp>
#include <asio/use_awaitable.hpp>

#include "stun/async.hpp"

namespace xnet::stun {
namespace {

using std::chrono::milliseconds;

double ms_between(Clock::time_point a, Clock::time_point b) {
  return std::chrono::duration<double, std::milli>(b - a).count();
}

void trace_message(Trace& trace, TraceDir dir, const std::string& peer, std::span<const std::uint8_t> bytes) {
  if (!trace.enabled(TraceArea::Stun)) return;
  DecodeOptions o;
  o.reject_unknown_required = false;
  o.check_fingerprint = false;
  auto m = decode(bytes, o);
  std::string line = (dir == TraceDir::Sent ? "to " : "from ") + peer + ": ";
  line += m ? m->describe() : "undecodable (" + m.error().message + ")";
  line += " [" + std::to_string(bytes.size()) + " bytes]";
  trace.wire(TraceArea::Stun, dir, line);
}

constexpr std::uint16_t kAlgMd5 = 0x0001;
constexpr std::uint16_t kAlgSha256 = 0x0002;

}  // namespace

milliseconds RetransmitPolicy::udp_budget() const {
  milliseconds total{0};
  milliseconds interval = rto;
  for (int i = 0; i + 1 < max_sends; ++i) {
    total += interval;
    interval *= 2;
  }
  return total + rto * last_wait_multiplier;
}

asio::awaitable<Result<Exchange>> co_transact(AsyncTransport& transport, const std::vector<std::uint8_t>& request,
                                              const TransactionId& tid, const ClientOptions& options,
                                              std::span<const std::uint8_t> key) {
  Clock& clock = options.clock ? *options.clock : steady_clock();
  Trace& trace = options.trace ? *options.trace : null_trace();
  const auto& policy = options.policy;
  const bool reliable = transport.reliable();
  const int max_sends = reliable ? 1 : std::max(1, policy.max_sends);
  const auto start = clock.now();
  std::optional<Error> problem;  // why the last received datagram was dropped
  milliseconds interval = policy.rto;

  for (int sends = 1; sends <= max_sends; ++sends) {
    auto now = clock.now();
    if (options.deadline && now >= *options.deadline) break;
    trace_message(trace, TraceDir::Sent, transport.peer(), request);
    if (auto s = co_await transport.send(request); !s) co_return fail(s.error());
    const auto sent_at = clock.now();
    milliseconds wait = reliable ? policy.reliable_timeout
                        : sends == max_sends ? policy.rto * policy.last_wait_multiplier
                                             : interval;
    interval *= 2;
    auto until = sent_at + wait;
    if (options.deadline && until > *options.deadline) until = *options.deadline;

    for (int datagrams = 0; datagrams < 1000; ++datagrams) {
      now = clock.now();
      if (now >= until) break;
      auto left = std::chrono::ceil<milliseconds>(until - now);
      auto got = co_await transport.receive(left);
      if (!got) {
        Error e = got.error();
        if (e.category == Category::Connect && !reliable)
          e.message = "no STUN server at " + transport.peer() + " (" + e.message + ")";
        co_return fail(std::move(e));
      }
      if (!*got) continue;  // the wait ran out; the loop re-checks the clock
      const auto received_at = clock.now();
      const auto& bytes = **got;
      trace_message(trace, TraceDir::Received, transport.peer(), bytes);
      DecodeOptions o;
      o.reject_unknown_required = false;
      auto msg = decode(bytes, o);
      if (!msg) {
        problem = msg.error();
        continue;
      }
      if (msg->transaction_id != tid) continue;
      if (msg->cls == MessageClass::Request || msg->cls == MessageClass::Indication) continue;
      if (!msg->unknown_required.empty()) {
        // RFC 8489 §7.3.3 (response processing): the transaction has failed.
        auto strict = decode(bytes);
        co_return fail(strict ? Error(Category::Protocol, "bad STUN response") : strict.error());
      }
      if (!key.empty()) {
        auto integrity = msg->verify_integrity(key);
        bool bad = integrity == Integrity::Invalid ||
                   (integrity == Integrity::Absent && msg->cls == MessageClass::Success);
        if (bad) {
          problem = Error(Category::Protocol,
                          std::string("STUN response from ") + transport.peer() +
                              (integrity == Integrity::Absent ? " lacks MESSAGE-INTEGRITY"
                                                              : " has a wrong MESSAGE-INTEGRITY"));
          continue;
        }
      }
      Exchange ex;
      ex.rtt_ms = ms_between(sent_at, received_at);
      ex.sends = sends;
      ex.response = std::move(*msg);
      co_return ex;
    }
  }
  auto elapsed = static_cast<long long>(ms_between(start, clock.now()));
  if (problem) {
    Error e = *problem;
    e.message = "no valid STUN response from " + transport.peer() + " (last reply dropped: " + e.message + ")";
    co_return fail(std::move(e));
  }
  if (reliable)
    co_return fail(Category::Timeout, "no STUN response from " + transport.peer() + " in " +
                                       std::to_string(elapsed) + " ms");
  co_return fail(Category::Timeout, "no STUN response from " + transport.peer() + " after " +
                                     std::to_string(max_sends) + " requests in " + std::to_string(elapsed) + " ms",
              "raise --stun-rto/--stun-tries if the server is far away");
}

Error error_from_response(const Message& response, std::string_view context) {
  auto ec = response.error_code();
  if (!ec) return Error(Category::Protocol, std::string(context) + ": STUN error response without a valid ERROR-CODE");
  std::string what = std::string(context) + ": server answered " + std::to_string(ec->code) +
                     (ec->reason.empty() ? "" : " \"" + ec->reason + "\"");
  switch (ec->code) {
    case 401:
    case 441:
      return Error(Category::Auth, what + " (wrong or expired credentials)");
    case 403:
      return Error(Category::Auth, what + " (forbidden)");
    case 420: {
      std::string list;
      for (auto t : response.unknown_attributes()) list += (list.empty() ? "" : ", ") + attribute_name(t);
      return Error(Category::Protocol, what + (list.empty() ? "" : " (" + list + ")"));
    }
    case 442:
      return Error(Category::NotSupported, what);
    case 300: {
      auto alt = response.address_attribute(attr::AlternateServer);
      return Error(Category::Remote, what + (alt ? " (alternate server " + alt->to_string() + ", not followed)" : ""));
    }
    default:
      return Error(Category::Remote, what);
  }
}

asio::awaitable<Result<Exchange>> co_request(AsyncTransport& transport, Method method, const AttributeFiller& fill,
                                             const std::optional<Credentials>& credentials, AuthState& state,
                                             const ClientOptions& options) {
  int challenges = 0;
  std::vector<std::uint8_t> algorithms;  // PASSWORD-ALGORITHMS copied from the challenge
  std::uint16_t algorithm = 0;
  for (;;) {
    auto tid = random_transaction_id();
    if (!tid) co_return fail(tid.error());
    MessageBuilder b(method, MessageClass::Request, *tid);
    if (fill) fill(b);
    if (!options.software.empty()) b.add_string(attr::Software, options.software);
    std::vector<std::uint8_t> key;
    bool signed_request = false;
    if (credentials && credentials->short_term) {
      key = short_term_key(credentials->password);
      b.add_string(attr::Username, credentials->username);
      b.add_message_integrity(key);
      signed_request = true;
    } else if (credentials && state.ready()) {
      key = state.key;
      if (algorithm != 0) {
        std::uint8_t alg[4] = {static_cast<std::uint8_t>(algorithm >> 8), static_cast<std::uint8_t>(algorithm), 0, 0};
        b.add(attr::PasswordAlgorithm, alg);
        b.add(attr::PasswordAlgorithms, algorithms);
      }
      b.add_string(attr::Username, credentials->username);
      b.add_string(attr::Realm, state.realm);
      b.add_string(attr::Nonce, state.nonce);
      b.add_message_integrity(key);
      signed_request = true;
    }
    if (options.fingerprint) b.add_fingerprint();

    auto ex = co_await co_transact(transport, b.bytes(), *tid, options, key);
    if (!ex) co_return ex;
    if (ex->response.cls != MessageClass::Error) co_return ex;
    auto ec = ex->response.error_code();
    if (!ec || (ec->code != 401 && ec->code != 438)) co_return ex;

    const std::string ctx = method_name(method) + " to " + transport.peer();
    if (!credentials)
      co_return fail(Category::Auth, ctx + ": server requires credentials (" + std::to_string(ec->code) + " " +
                                      ec->reason + ") and none were given",
                  "restricted services need credentials from the XMPP server");
    if (ec->code == 401 && (signed_request || credentials->short_term))
      co_return fail(Category::Auth, ctx + ": credentials rejected (401 " + ec->reason + ") for user '" +
                                      credentials->username + "': wrong or expired credentials");
    if (++challenges > 3)
      co_return fail(Category::Auth, ctx + ": gave up after 3 authentication challenges");
    auto realm = ex->response.string_attribute(attr::Realm);
    auto nonce = ex->response.string_attribute(attr::Nonce);
    if (!nonce || (!realm && state.realm.empty()))
      co_return fail(Category::Protocol, ctx + ": " + std::to_string(ec->code) + " challenge without REALM/NONCE");
    if (realm) state.realm = *realm;
    state.nonce = *nonce;
    if (const auto* algs = ex->response.find(attr::PasswordAlgorithms)) {
      // RFC 8489 §9.2.4: pick the first algorithm we support and echo the list.
      algorithms = algs->value;
      algorithm = 0;
      for (std::size_t i = 0; i + 4 <= algorithms.size();) {
        auto alg = static_cast<std::uint16_t>((algorithms[i] << 8) | algorithms[i + 1]);
        std::size_t plen = static_cast<std::size_t>((algorithms[i + 2] << 8) | algorithms[i + 3]);
        if (alg == kAlgMd5 || alg == kAlgSha256) {
          algorithm = alg;
          break;
        }
        i += 4 + ((plen + 3) & ~std::size_t{3});
      }
      if (algorithm == 0)
        co_return fail(Category::NotSupported, ctx + ": server offers no password algorithm xnet supports");
    }
    state.key = algorithm == kAlgSha256
                    ? long_term_key_sha256(credentials->username, state.realm, credentials->password)
                    : long_term_key_md5(credentials->username, state.realm, credentials->password);
  }
}

asio::awaitable<Result<BindingResult>> co_binding(AsyncTransport& transport, const ClientOptions& options,
                                                  const std::optional<Credentials>& credentials,
                                                  const AttributeFiller& extra) {
  AuthState state;
  auto ex = co_await co_request(transport, Method::Binding, extra, credentials, state, options);
  if (!ex) co_return fail(ex.error());
  const auto& r = ex->response;
  if (r.cls == MessageClass::Error) co_return fail(error_from_response(r, "Binding to " + transport.peer()));
  if (!r.is(Method::Binding, MessageClass::Success))
    co_return fail(Category::Protocol, "Binding to " + transport.peer() + ": unexpected " + r.describe());
  BindingResult out;
  if (auto a = r.xor_address_attribute(attr::XorMappedAddress)) {
    out.mapped = *a;
  } else if (auto b = r.xor_address_attribute(attr::XorMappedAddressOld)) {
    out.mapped = *b;
  } else if (auto c = r.address_attribute(attr::MappedAddress)) {
    out.mapped = *c;
    out.xor_mapped = false;
  } else {
    co_return fail(Category::Protocol, "Binding response from " + transport.peer() +
                                        " carries no XOR-MAPPED-ADDRESS or MAPPED-ADDRESS");
  }
  out.rtt_ms = ex->rtt_ms;
  out.sends = ex->sends;
  out.software = r.string_attribute(attr::Software).value_or("");
  out.other_address = r.address_attribute(attr::OtherAddress);
  if (!out.other_address) out.other_address = r.address_attribute(attr::ChangedAddress);
  out.response_origin = r.address_attribute(attr::ResponseOrigin);
  co_return out;
}

asio::awaitable<Result<AllocateResult>> co_allocate(AsyncTransport& transport, const Credentials& credentials,
                                                    const ClientOptions& options, bool keep) {
  AuthState state;
  auto ex = co_await co_request(transport, Method::Allocate, [](MessageBuilder& b) { b.add_requested_transport(17); },
                    credentials, state, options);
  if (!ex) co_return fail(ex.error());
  const auto& r = ex->response;
  const std::string ctx = "Allocate to " + transport.peer();
  if (r.cls == MessageClass::Error) co_return fail(error_from_response(r, ctx));
  if (!r.is(Method::Allocate, MessageClass::Success))
    co_return fail(Category::Protocol, ctx + ": unexpected " + r.describe());
  auto relayed = r.xor_address_attribute(attr::XorRelayedAddress);
  if (!relayed) co_return fail(Category::Protocol, ctx + ": success without XOR-RELAYED-ADDRESS");
  AllocateResult out;
  out.relayed = *relayed;
  out.mapped = r.xor_address_attribute(attr::XorMappedAddress);
  out.lifetime = r.u32_attribute(attr::Lifetime).value_or(0);
  out.rtt_ms = ex->rtt_ms;
  if (keep) co_return out;

  auto rel = co_await co_request(transport, Method::Refresh, [](MessageBuilder& b) { b.add_u32(attr::Lifetime, 0); },
                     credentials, state, options);
  if (!rel) {
    out.release_error = rel.error().message;
  } else if (rel->response.cls == MessageClass::Error) {
    auto ec = rel->response.error_code();
    // 437 Allocation Mismatch: the allocation is already gone, which is what we wanted.
    if (ec && ec->code == 437)
      out.released = true;
    else
      out.release_error = error_from_response(rel->response, "Refresh to " + transport.peer()).message;
  } else {
    out.released = true;
  }
  co_return out;
}


namespace {

// Runs one client coroutine to completion on a private loop: the blocking API over the same code.
template <class T>
T run_blocking(asio::awaitable<T> op) {
  asio::io_context io;
  std::optional<T> out;
  std::exception_ptr error;
  asio::co_spawn(
      io, [&]() -> asio::awaitable<void> { out.emplace(co_await std::move(op)); },
      [&](std::exception_ptr e) { error = e; });
  io.run();
  if (error) std::rethrow_exception(error);
  return std::move(*out);
}

}  // namespace

Result<Exchange> transact(Transport& transport, const std::vector<std::uint8_t>& request,
                          const TransactionId& tid, const ClientOptions& options,
                          std::span<const std::uint8_t> key) {
  auto t = adapt(transport);
  return run_blocking(co_transact(*t, request, tid, options, key));
}

Result<Exchange> request(Transport& transport, Method method, const AttributeFiller& fill,
                         const std::optional<Credentials>& credentials, AuthState& state,
                         const ClientOptions& options) {
  auto t = adapt(transport);
  return run_blocking(co_request(*t, method, fill, credentials, state, options));
}

Result<BindingResult> binding(Transport& transport, const ClientOptions& options,
                              const std::optional<Credentials>& credentials) {
  auto t = adapt(transport);
  return run_blocking(co_binding(*t, options, credentials));
}

Result<AllocateResult> allocate(Transport& transport, const Credentials& credentials,
                                const ClientOptions& options, bool keep) {
  auto t = adapt(transport);
  return run_blocking(co_allocate(*t, credentials, options, keep));
}

}  // namespace xnet::stun
