// SPDX-License-Identifier: MIT
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "error.hpp"
#include "trace.hpp"
#include "xep/xep0030.hpp"
#include "xep/xep0215.hpp"
#include "xml/element.hpp"

/// The client side of STUN/TURN discovery over XMPP (stun-discovery.md §8): which form to ask,
/// credentials for restricted services, TURN REST checks, diagnosis, pushes. Independent of the
/// session type: requests go through a callback (Session::request in xnet, a fake in tests).
namespace xnet::xep0215 {

/// Sends an IQ get and returns the result IQ; a stanza error comes back as Category::Remote
/// with Error::stanza set (as Session::request does). The callback owns the deadline.
using Requester = std::function<Result<xml::Element>(xml::Element iq)>;

struct DiscoverOptions {
  std::string server;                ///< the server domain (the `to` of XEP-0215 requests)
  std::string own_bare_jid;          ///< jingleinfo is asked of the user's own bare JID
  std::optional<Form> force;         ///< --ns: ask only this form, advertised or not
  bool all = false;                  ///< --all: ask every advertised form
  std::string type;                  ///< --type filter (also sent as the request's type)
  std::string transport;             ///< --transport filter
  bool request_credentials = true;   ///< ask <credentials/> for restricted services lacking them
  long long now_unix = 0;            ///< the local clock, for expiry checks
};

/// One discovered service with the checks xnet adds.
struct FoundService {
  Service service;
  std::optional<long long> rest_expiry;  ///< expiry decoded from a TURN REST username
  std::string rest_user;                 ///< user part of a TURN REST username
  bool expired = false;                  ///< expires / rest_expiry already passed
  bool credentials_requested = false;    ///< came through a <credentials/> request
};

/// A form that was asked and what came of it.
struct FormAttempt {
  Form form;
  bool advertised = false;
  std::optional<Error> error;  ///< why it gave nothing (stanza error, timeout, garbage)
  std::size_t services = 0;
  std::string jid;             ///< the JID asked (the domain, a service, or the own bare JID)
};

struct Discovery {
  std::vector<std::string> features;   ///< XEP-0215/jingleinfo features the server advertised
  std::vector<FormAttempt> attempts;   ///< in the order asked
  std::vector<FoundService> services;  ///< after credentials, filters and de-duplication
  std::vector<std::string> warnings;   ///< diagnosis for humans and the JSON `warnings` array
  /// The JIDs whose lists these are: the domain, the --service JID, or the disco#items
  /// entries that advertise XEP-0215 (list pushes are accepted from these).
  std::vector<std::string> service_jids;
  bool via_items = false;              ///< found among the domain's disco#items
  std::size_t items_checked = 0;       ///< disco#items entries whose disco#info was asked
};

/// Runs discovery: picks the form(s) from info (disco#info of the server), asks them through
/// request, fetches credentials, applies filters and checks TURN REST expiry and clock skew.
/// Errors: NotSupported when no form answered (and not one is advertised); the error of the
/// forced form when --ns was given; Timeout/Connect from the requester are passed through.
Result<Discovery> discover(const xep0030::DiscoInfo& info, const Requester& request,
                           const DiscoverOptions& options, Trace& trace);

/// Sends every IQ of iqs at once and returns the replies in the same order, each as Requester
/// would (several disco#info requests share one flight). A sequential implementation is
/// allowed; the callback owns the deadline.
using BatchRequester = std::function<std::vector<Result<xml::Element>>(std::vector<xml::Element> iqs)>;

/// A Requester made of a BatchRequester (a batch of one).
Requester single(const BatchRequester& batch);
/// A BatchRequester that asks request once per IQ, in order (for synchronous sessions).
BatchRequester sequential(Requester request);

/// At most this many disco#items entries are asked for disco#info in the search for a
/// XEP-0215 service behind the domain.
inline constexpr std::size_t kMaxServiceItems = 8;

/// Where to look for the service list.
struct LocateOptions {
  std::string domain;                      ///< the account's domain
  std::string service_jid;                 ///< --service: ask only this JID
  std::size_t max_items = kMaxServiceItems;
};

/// True when info advertises any XEP-0215 form or google:jingleinfo.
bool offers_discovery(const xep0030::DiscoInfo& info);

/// Finds and runs discovery (stun-discovery.md §8 plus services behind a component):
/// with where.service_jid, disco#info and discover() at that JID only. Otherwise at the
/// domain when its disco#info advertises a form; else among the first where.max_items
/// entries of the domain's disco#items (their disco#info requests sent as one batch), every
/// entry advertising a form being asked and the lists merged; else the domain with the
/// legacy fallback chain. options.server is replaced by the JID asked. Errors: as discover();
/// NotSupported says how many items were checked and hints at --service.
/// item_request, when given, carries the disco#info batch to the items instead of request
/// (so that an item that never answers costs a shorter bound than the whole operation).
Result<Discovery> discover_services(const BatchRequester& request, const LocateOptions& where,
                                    DiscoverOptions options, Trace& trace,
                                    const BatchRequester* item_request = nullptr);

/// Adds the TURN REST and expiry checks to service (used for pushed entries too); appends
/// warnings for expired credentials and a skewed server clock.
FoundService check_service(const Service& service, long long now_unix, std::vector<std::string>& warnings);

/// What to do with an incoming IQ set that may be a list push.
struct PushOutcome {
  bool is_push = false;              ///< false: not a XEP-0215/jingleinfo push (leave it alone)
  bool accepted = false;             ///< from the JID the list was requested from
  xml::Element reply;                ///< result (accepted) or service-unavailable error: send it
  std::optional<ServiceList> list;   ///< the pushed entries, when accepted and parseable
  std::string problem;               ///< why it was refused or could not be parsed
};

/// Handles iq (XEP-0215 §3.3, jingleinfo notifications): every push is answered; a push is
/// accepted only from one of allowed_from (bare JIDs or domains; an absent `from` means the
/// user's own server and is accepted).
PushOutcome handle_push(const xml::Element& iq, const std::vector<std::string>& allowed_from, long long now_unix);

/// Applies an accepted push list to current: per-entry actions for extdisco/provisional
/// pushes; for 0.1 and jingleinfo (full lists) the entries of that source are replaced.
void apply_list_push(std::vector<FoundService>& current, const ServiceList& push, long long now_unix,
                     std::vector<std::string>& warnings);

/// True when service passes the --type/--transport filters (empty filter: any).
bool matches_filters(const Service& service, std::string_view type, std::string_view transport);

}  // namespace xnet::xep0215
