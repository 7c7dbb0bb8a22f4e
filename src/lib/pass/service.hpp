// SPDX-License-Identifier: MIT
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "pass/registry.hpp"
#include "server/service.hpp"

namespace xnet::pass {

/// Settings of the PASS service in `xnet serve` (options `--pass-*`).
struct ServiceConfig {
  std::string name = "pass";          ///< JID is `<name>.<domain>` in c2s mode
  std::string public_ip = "127.0.0.1";  ///< named in <server/> and <proxy/>
  std::string bind_ip;                ///< where listeners bind ("" = public_ip)
  std::uint16_t first_port = 40000;   ///< global port range (listeners and rendezvous ports)
  std::uint16_t last_port = 40999;
  std::size_t ports_per_account = 4;  ///< listener ports per bare JID
  Limits limits;                      ///< relays per account / total, accept window, max expire
  std::uint64_t bandwidth = 0;        ///< bytes/s per account over all its relays (0 = no cap)
  std::chrono::milliseconds half_close_timeout{30000};
  /// Let SASL ANONYMOUS sessions rent ports (off: they get forbidden, legacy code 403).
  bool allow_anonymous = false;
  /// How often the service pings (XEP-0199) the owners of its listeners (both modes); an owner
  /// that answers with an error or not before the next ping is treated as gone.
  std::chrono::milliseconds owner_ping_interval{30000};
};

/// Counters of the service (log lines and JSON).
struct Stats {
  std::size_t listeners = 0;
  std::size_t ports_in_use = 0;  ///< listener + rendezvous ports
  std::size_t pending = 0;
  std::uint64_t relays = 0;         ///< running now
  std::uint64_t relays_total = 0;   ///< started since start-up
  std::uint64_t bytes = 0;          ///< relayed, both directions
  std::uint64_t denied = 0;         ///< incoming connections denied by owners
  std::uint64_t dropped = 0;        ///< not collected within the accept window, or refused
};
void to_json(nlohmann::json& j, const Stats& s);

/// XEP-0003 PASS as a service of `xnet serve` (c2s mode at `pass.<domain>`, or behind the
/// XEP-0114 link in component mode).
///
/// Binding rule for the rendezvous (<proxy/>) endpoint, so a third party cannot collect someone
/// else's connection: every incoming connection gets a fresh one-time port from the range,
/// open only during the accept window, that splices exactly one collecting connection, and
///  * only after the owner's own full JID answered the notice with a result (replies from any
///    other JID are ignored; the IQ id is unguessable);
///  * only from the owner's session address when the server knows it (c2s mode);
///  * when the owner echoed the xnet token (`<token xmlns='urn:xnet:pass:token:0'/>` in its
///    result), only after the connection's first 32 bytes equal the 32-hex-digit token sent in
///    the notice. Other connections to the port are closed and the port keeps waiting.
/// A legacy client in component mode (no address, no token) gets only the first two guards.
class PassService final : public server::Service {
 public:
  /// log receives one structured event per state change (name, fields): the serve EventLog.
  explicit PassService(ServiceConfig config,
                       std::function<void(std::string_view, const nlohmann::json&)> log = {});
  ~PassService() override;

  std::string name() const override { return config_.name; }
  server::Identity identity() const override;
  std::vector<std::string> features() const override;
  void attach(server::ServiceHost& host) override;
  bool on_stanza(const xml::Element& stanza, const server::Origin& origin) override;
  void on_session_end(const std::string& full_jid) override;
  void detach() override;

  Stats stats() const;
  const ServiceConfig& config() const { return config_; }

 private:
  struct Impl;
  ServiceConfig config_;
  std::shared_ptr<Impl> impl_;
  std::function<void(std::string_view, const nlohmann::json&)> log_;
};

}  // namespace xnet::pass
