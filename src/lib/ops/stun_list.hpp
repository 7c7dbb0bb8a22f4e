// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"
#include "stun/probe.hpp"
#include "trace.hpp"
#include "util/deadline.hpp"
#include "xep/extdisco_client.hpp"
#include "xml/element.hpp"
#include "xmpp/session.hpp"

/// `xnet stun-list` as a library operation: discovery across the XEP-0215 forms (at the
/// domain, a named service or a component found in disco#items), the probes, and list pushes
/// under --watch, returned as typed results. The command only declares options and renders.
namespace xnet::ops {

/// What a result stands for in the --watch stream (None: the one-shot result).
enum class StunListEvent { None, List, Push };
/// "list" / "push" ("" for None): the JSON `event` value.
std::string_view event_name(StunListEvent event);

/// The options of one run.
struct StunListQuery {
  std::string service_jid;                 ///< --service: ask this JID only
  std::optional<xep0215::Form> force;      ///< --ns
  bool all = false;                        ///< --all
  std::string type;                        ///< --type filter
  std::string transport;                   ///< --transport filter
  bool request_credentials = true;         ///< not --no-credentials
  bool probe = false;                      ///< --probe
  stun::ProbeOptions probe_options;
  bool watch = false;                      ///< --watch: the first result is a List event
};

/// One listed service and its probe.
struct StunListRow {
  xep0215::FoundService found;
  std::optional<std::size_t> probe;  ///< index into StunListResult::probes (shared by duplicates)
  std::string probe_skipped;         ///< why it was not probed (only when probed is set)
};

/// Probe counts over distinct servers, computed once.
struct ProbeSummary {
  int probed = 0;
  int ok = 0;
  int failed = 0;
  bool all_ok() const { return failed == 0; }
};

struct StunListResult {
  StunListEvent event = StunListEvent::None;
  std::string jid;                        ///< the bound JID
  std::string server;                     ///< the account's domain
  std::vector<std::string> service_jids;  ///< the JIDs the list came from
  bool via_items = false;                 ///< found among the domain's disco#items
  std::size_t items_checked = 0;
  std::string push_from;                  ///< Push: the sender
  std::vector<std::string> features;
  std::vector<xep0215::FormAttempt> attempts;
  std::vector<StunListRow> rows;
  std::vector<xep0215::Service> changes;  ///< Push: the pushed entries with their actions
  std::vector<std::string> warnings;
  bool probed = false;
  std::vector<stun::ProbeTarget> probe_targets;  ///< each distinct server once
  std::vector<stun::ProbeResult> probes;         ///< parallel to probe_targets
  ProbeSummary summary;
  long long now = 0;                      ///< the clock the expiry fields were computed with
  /// Set when a probe failed (Category::CheckFailed, exit status 1); the result is still whole.
  std::optional<Error> failure;
};

/// Probes targets and returns one result per target, in order (stun::probe_all in xnet).
using Prober = std::function<std::vector<stun::ProbeResult>(const std::vector<stun::ProbeTarget>&)>;

/// Starts probing targets and calls done, later and once, with one result per target in order
/// (stun::async_probe_all on the session's loop in xnet).
using AsyncProber = std::function<void(std::vector<stun::ProbeTarget> targets,
                                       std::function<void(std::vector<stun::ProbeResult>)> done)>;

/// Probes targets on session's own io_context (the loop that serves the stream: pings are
/// answered meanwhile), bounded by options (at most 16 in flight, 32 distinct servers).
std::vector<stun::ProbeResult> probe_on_session(xmpp::Session& session, const std::vector<stun::ProbeTarget>& targets,
                                                const stun::ProbeOptions& options, Trace& trace);

/// The one-shot operation over request: discovery for the account bound_jid, the probes
/// through prober when query.probe, warnings also reported to trace. now_unix is the clock.
/// Errors: those of xep0215::discover_services (a failed probe is not an error: see failure).
Result<StunListResult> stun_list(const xep0215::BatchRequester& request, std::string_view bound_jid,
                                 long long now_unix, const StunListQuery& query, const Prober& prober,
                                 Trace& trace);

/// The same over session, with every request bounded by deadline and the probes run on the
/// session's loop (probe_on_session).
Result<StunListResult> stun_list(xmpp::Session& session, const StunListQuery& query, Deadline deadline,
                                 Trace& trace);

/// At most this many services are kept in the --watch list; pushes beyond it are cut with a
/// warning (the server chooses what it pushes).
inline constexpr std::size_t kMaxWatchedServices = 1000;
/// At most this many push events wait for their probes under --watch --probe; a push beyond it
/// is still applied and acknowledged, but its event is left out with a warning.
inline constexpr std::size_t kMaxPushesWaiting = 64;

/// --watch: keeps the list current from pushes (XEP-0215 §3.3, jingleinfo notifications).
class StunListWatch {
 public:
  /// Starts from initial; query supplies the filters.
  StunListWatch(const StunListResult& initial, const StunListQuery& query);

  /// What to do with one incoming stanza.
  struct Step {
    xml::Element reply;                     ///< the acknowledgement or refusal: send it
    std::optional<StunListResult> event;    ///< a Push result when the push was accepted
    std::string problem;                    ///< a refused or unreadable push (a warning)
  };
  /// nullopt when stanza is not a list push. Pushes are accepted only from the JIDs the list
  /// came from (and the user's own bare JID for jingleinfo); every push is answered.
  std::optional<Step> on_stanza(const xml::Element& stanza, long long now_unix);

  /// True when the query asked for probes (--probe): each Push result is then probed.
  bool probing() const { return probe_; }
  /// The query's probe settings.
  const stun::ProbeOptions& probe_options() const { return probe_options_; }

  /// The probes one Push result still needs.
  struct PushProbes {
    std::vector<stun::ProbeTarget> targets;  ///< to probe now
    std::vector<std::size_t> index;          ///< for each, its index in event.probe_targets
  };
  /// Plans the probes of event (a Push result from on_stanza): every listed server as
  /// stun-list --probe would, where a server already probed that the push did not name keeps
  /// its last result; the servers the push added or changed are returned to be probed.
  PushProbes plan_push_probes(StunListResult& event);
  /// Completes event with results (parallel to probes.targets) and remembers them.
  void complete_push_probes(StunListResult& event, const PushProbes& probes, std::vector<stun::ProbeResult> results);

 private:
  StunListResult base_;
  std::string type_, transport_;
  std::vector<std::string> allowed_;
  std::vector<xep0215::FoundService> current_;
  bool probe_ = false;
  stun::ProbeOptions probe_options_;
  std::vector<stun::ProbeTarget> probed_targets_;  ///< last results, for servers a push leaves alone
  std::vector<stun::ProbeResult> probed_results_;
};

/// Runs watch over session: answers each push and hands each Push result to on_event, until
/// stop() returns true (then Ok) or the connection is lost (its error). With watch.probing(),
/// each Push result is probed first through prober (default: stun::async_probe_all on the
/// session's loop with watch.probe_options()), one push at a time and in order.
Result<void> watch(xmpp::Session& session, StunListWatch& watch,
                   const std::function<void(const StunListResult&)>& on_event, const std::function<bool()>& stop,
                   Trace& trace, const AsyncProber& prober = {});

}  // namespace xnet::ops
