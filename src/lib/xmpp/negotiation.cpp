// SPDX-License-Identifier: MIT
#include "xmpp/negotiation.hpp"

namespace xnet::xmpp {

// Skeleton: the interface is fixed; the implementation lands next.
struct ClientNegotiator::Impl {
  NegotiatorConfig config;
  Trace& trace;
  std::string out;
  std::deque<Event> events;
  NegotiationState state = NegotiationState::Idle;
  std::string jid, mech;
  xml::Element features;
  unsigned long ids = 0;
};

ClientNegotiator::ClientNegotiator(NegotiatorConfig config, Trace& trace)
    : impl_(std::make_unique<Impl>(Impl{std::move(config), trace})) {}
ClientNegotiator::~ClientNegotiator() = default;
void ClientNegotiator::start() {}
void ClientNegotiator::feed(std::string_view) {}
void ClientNegotiator::tls_established(const TlsInfo&) {}
void ClientNegotiator::end_of_input() {}
std::string ClientNegotiator::take_output() { return std::exchange(impl_->out, {}); }
bool ClientNegotiator::has_output() const { return !impl_->out.empty(); }
std::optional<Event> ClientNegotiator::next_event() {
  if (impl_->events.empty()) return std::nullopt;
  Event e = std::move(impl_->events.front());
  impl_->events.pop_front();
  return e;
}
void ClientNegotiator::send(const xml::Element&) {}
void ClientNegotiator::keepalive() {}
std::string ClientNegotiator::ping() { return next_id(); }
void ClientNegotiator::close() {}
NegotiationState ClientNegotiator::state() const { return impl_->state; }
const std::string& ClientNegotiator::bound_jid() const { return impl_->jid; }
const xml::Element& ClientNegotiator::features() const { return impl_->features; }
const std::string& ClientNegotiator::mechanism() const { return impl_->mech; }
bool ClientNegotiator::used_sasl2() const { return false; }
std::string ClientNegotiator::next_id() { return "xn" + std::to_string(++impl_->ids); }

std::string redact_xml(std::string_view xml_text, std::string_view) { return std::string(xml_text); }
Category stream_error_category(std::string_view) { return Category::Protocol; }

}  // namespace xnet::xmpp
