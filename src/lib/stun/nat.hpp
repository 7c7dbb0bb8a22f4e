// SPDX-License-Identifier: MIT
#pragma once
// NAT classification from observed facts (RFC 4787 behaviour classes, RFC 5780 tests, RFC 6598
// shared address space). Pure functions: no I/O, so every verdict is unit-tested from tables.

#include <optional>
#include <string>
#include <vector>

#include "stun/message.hpp"

namespace xnet::stun {

/// What sits between this host and the Internet.
enum class NatKind {
  Unknown,  ///< not enough facts (no local address, or the families differ)
  None,     ///< the servers see this host's own address
  Nat,      ///< the address is translated
  Cgnat,    ///< carrier-grade NAT: an address in 100.64.0.0/10 (RFC 6598) was seen on the way
};

/// RFC 4787 §4.1 mapping behaviour, as seen from one local UDP port towards several servers.
enum class Mapping {
  Unknown,                  ///< fewer than two destinations answered
  None,                     ///< no translation at all
  EndpointIndependent,      ///< the same external address:port for every destination
  AddressDependent,         ///< a new mapping per destination address
  AddressAndPortDependent,  ///< a new mapping per destination address and port
  Dependent,                ///< address- or address-and-port-dependent (not told apart)
};

/// RFC 4787 §5 filtering behaviour, from the RFC 5780 §4.4 tests.
enum class Filtering {
  Unknown,                  ///< the STUN server cannot do RFC 5780 (no OTHER-ADDRESS)
  EndpointIndependent,      ///< anyone may send to the mapping
  AddressDependent,         ///< only addresses this host has sent to
  AddressAndPortDependent,  ///< only address:port pairs this host has sent to
};

/// Stable names for JSON: "unknown", "none", "nat", "cgnat"; "endpoint-independent",
/// "address-dependent", "address-and-port-dependent", "dependent".
std::string to_string(NatKind k);
std::string to_string(Mapping m);
std::string to_string(Filtering f);

/// True for 100.64.0.0/10 (RFC 6598 shared address space, used inside carrier-grade NATs).
bool is_shared_address(const Address& a);
/// True for addresses no Internet host has: RFC 1918, loopback, link-local, ULA (fc00::/7),
/// IPv6 loopback/link-local. Shared space (100.64.0.0/10) is reported by is_shared_address.
bool is_private_address(const Address& a);

/// One STUN Binding answer: which server (address:port it was sent to) saw which mapping.
struct MappingObservation {
  std::string server;  ///< the server as listed ("host:port"), for messages
  Address destination; ///< the address:port the request went to
  Address mapped;      ///< XOR-MAPPED-ADDRESS
};

/// Everything whoami learned; every field is optional evidence.
struct NatFacts {
  std::optional<Address> local_tcp;    ///< local end of the XMPP connection
  std::optional<Address> sic;          ///< what the XMPP server saw (XEP-0279); port 0: not reported
  std::optional<Address> xmpp_server;  ///< the XMPP server's address
  std::optional<Address> local_udp;    ///< local end of the STUN socket (one socket for all answers)
  std::vector<MappingObservation> stun;  ///< answers to that socket, in order
  /// RFC 5780 §4.4 filtering test answers (fresh socket, server's primary address):
  /// test II (change IP and port) and test III (change port). nullopt: not run.
  std::optional<bool> filter_change_ip_port_answered;
  std::optional<bool> filter_change_port_answered;
};

/// The verdict, with human lines; a field cannot reach the text form and miss the JSON form
/// because the renderer reads both from here.
struct NatReport {
  NatKind kind = NatKind::Unknown;
  bool cgnat = false;              ///< same as kind == Cgnat
  bool external_private = false;   ///< an external address (SIC or STUN) is itself private
  bool external_shared = false;    ///< an external address (SIC or STUN) is in 100.64.0.0/10
  std::optional<bool> tcp_port_preserved;  ///< SIC port == local TCP port (nullopt: unknown)
  std::optional<bool> udp_port_preserved;  ///< STUN port == local UDP port
  Mapping mapping = Mapping::Unknown;
  std::string mapping_basis;       ///< how the mapping was found ("2 STUN servers", "RFC 5780")
  Filtering filtering = Filtering::Unknown;
  std::string meaning;             ///< one line for people: what this means for calls/P2P
  std::vector<std::string> notes;  ///< explanations, each stated only when the facts support it
};

/// Classifies facts. Distinct destinations are compared only within one address family.
NatReport classify(const NatFacts& facts);

}  // namespace xnet::stun
