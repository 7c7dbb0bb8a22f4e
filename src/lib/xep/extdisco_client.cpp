// SPDX-License-Identifier: MIT
#include "xep/extdisco_client.hpp"

#include <algorithm>
#include <cstdlib>

#include "xep/turn_rest.hpp"

namespace xnet::xep0215 {
namespace {

// The XEP-0215 forms from newest to oldest: the fallback order of stun-discovery.md §8.
constexpr Form kChain[] = {Form::Extdisco2, Form::Extdisco1, Form::Extdisco0, Form::Provisional, Form::Stun2007};

// Stanza errors that mean "this form is not spoken here": try the next one.
bool means_unsupported(const Error& e) {
  if (e.category != Category::Remote || !e.stanza) return e.category == Category::NotSupported;
  const auto& c = e.stanza->condition;
  return c == "service-unavailable" || c == "feature-not-implemented" || c == "item-not-found" ||
         c == "bad-request" || c == "not-allowed" || c == "forbidden" || c == "not-authorized";
}

std::string describe_error(const Error& e) {
  if (e.stanza) return e.stanza->condition + (e.stanza->text.empty() ? "" : " (" + e.stanza->text + ")");
  return e.message;
}

std::string bare(std::string_view jid) {
  auto slash = jid.find('/');
  return std::string(slash == std::string_view::npos ? jid : jid.substr(0, slash));
}

std::string ago(long long seconds) {
  if (seconds < 120) return std::to_string(seconds) + " s";
  if (seconds < 7200) return std::to_string(seconds / 60) + " min";
  if (seconds < 172800) return std::to_string(seconds / 3600) + " h";
  return std::to_string(seconds / 86400) + " days";
}

bool same_entry(const Service& a, const Service& b) {
  return a.source == b.source && a.type == b.type && a.host == b.host && a.port == b.port &&
         a.transport == b.transport;
}

// Fills in credentials for restricted services that came without them (XEP-0215 §3.4); the
// requests go out as one batch.
void fetch_credentials(std::vector<FoundService>& found, const BatchRequester& batch, const DiscoverOptions& o,
                       Trace& trace, std::vector<std::string>& warnings) {
  std::vector<std::size_t> asked;
  std::vector<xml::Element> iqs;
  for (std::size_t i = 0; i < found.size(); ++i) {
    const auto& s = found[i].service;
    if (!s.restricted || (!s.username.empty() && !s.password.empty())) continue;
    if (s.source != Form::Extdisco2 && s.source != Form::Extdisco1) continue;
    auto iq = build_credentials_request(s.source, o.server, s);
    if (!iq) continue;
    trace.progress(2, "requesting credentials for " + s.uri());
    asked.push_back(i);
    iqs.push_back(std::move(*iq));
  }
  if (iqs.empty()) return;
  auto replies = batch(std::move(iqs));
  for (std::size_t k = 0; k < asked.size() && k < replies.size(); ++k) {
    auto& f = found[asked[k]];
    auto& s = f.service;
    auto& reply = replies[k];
    if (!reply) {
      warnings.push_back("credentials for " + s.uri() + " refused: " + describe_error(reply.error()));
      continue;
    }
    auto list = parse(*reply, o.now_unix);
    if (!list) {
      warnings.push_back("credentials for " + s.uri() + ": " + list.error().message);
      continue;
    }
    for (auto& w : list->warnings) warnings.push_back(w);
    auto matching = filter_credentials(list->services, s);
    if (matching.empty()) {
      warnings.push_back("the server returned no credentials for " + s.uri());
      continue;
    }
    // Prefer the entry for the same port and transport; more than one may come back.
    auto best = std::find_if(matching.begin(), matching.end(), [&](const Service& m) {
      return m.port == s.port && m.transport == s.transport;
    });
    const Service& c = best != matching.end() ? *best : matching.front();
    s.username = c.username;
    s.password = c.password;
    if (c.expires) {
      s.expires = c.expires;
      s.expires_from_ttl = c.expires_from_ttl;
    }
    f.credentials_requested = true;
  }
}

}  // namespace

bool matches_filters(const Service& s, std::string_view type, std::string_view transport) {
  if (!type.empty() && s.type != type) return false;
  if (!transport.empty() && s.transport != transport) return false;
  return true;
}

FoundService check_service(const Service& service, long long now, std::vector<std::string>& warnings) {
  FoundService f;
  f.service = service;
  const auto& s = service;
  if (!s.username.empty()) {
    if (auto u = turn_rest::decode_username(s.username)) {
      f.rest_expiry = u->expiry;
      f.rest_user = u->user;
    }
  }
  std::optional<long long> expiry = s.expires ? s.expires : f.rest_expiry;
  if (!expiry) return f;
  f.expired = *expiry <= now;
  bool skew_reported = false;
  if (s.expires && f.rest_expiry && !s.expires_from_ttl && std::llabs(*s.expires - *f.rest_expiry) > 300) {
    warnings.push_back("the clock of the server looks skewed: " + s.uri() + " expires " + format_datetime(*s.expires) +
                       " but its TURN REST username says " + format_datetime(*f.rest_expiry));
    skew_reported = true;
  }
  if (f.expired) {
    if (f.rest_expiry && *f.rest_expiry <= now && !skew_reported)
      warnings.push_back("the credentials for " + s.uri() + " expired " + ago(now - *expiry) +
                         " ago although the server just issued them: the server's clock (or this machine's) "
                         "looks skewed");
    else
      warnings.push_back("the credentials for " + s.uri() + " expired at " + format_datetime(*expiry) + " (" +
                         ago(now - *expiry) + " ago)");
  }
  return f;
}

namespace {

Result<Discovery> discover_impl(const xep0030::DiscoInfo& info, const BatchRequester& batch,
                                const DiscoverOptions& o, Trace& trace) {
  const auto request = single(batch);
  Discovery d;
  bool adv[6] = {};
  auto advertised = [&](Form f) { return adv[static_cast<int>(f)]; };
  for (const auto& feature : info.features) {
    auto f = form_of_feature(feature);
    if (!f) continue;
    d.features.push_back(feature);
    adv[static_cast<int>(*f)] = true;
    if (*f == Form::Stun2007) adv[static_cast<int>(Form::Provisional)] = true;  // one namespace
  }

  // Diagnosis of what the server advertises (issue: clients such as Conversations and Dino
  // ask only extdisco:2).
  if (advertised(Form::Extdisco1) && !advertised(Form::Extdisco2))
    d.warnings.push_back(
        "the server offers urn:xmpp:extdisco:1 but not urn:xmpp:extdisco:2: clients such as Conversations "
        "and Dino ask only extdisco:2 and will find no STUN/TURN servers");
  else if (!advertised(Form::Extdisco1) && !advertised(Form::Extdisco2) && !d.features.empty())
    d.warnings.push_back("the server offers only legacy STUN/TURN discovery (" +
                         [&] {
                           std::string s;
                           for (const auto& f : d.features) s += (s.empty() ? "" : ", ") + f;
                           return s;
                         }() +
                         "): current clients ask for urn:xmpp:extdisco:2 and will find nothing");

  std::vector<Form> plan;
  bool stop_at_first = false;
  if (o.force) {
    plan.push_back(*o.force);
  } else if (o.all) {
    for (auto f : kChain)
      if (advertised(f)) plan.push_back(f);
    if (advertised(Form::JingleInfo)) plan.push_back(Form::JingleInfo);
    if (plan.empty()) plan.assign(std::begin(kChain), std::end(kChain));
  } else {
    // Start at the newest advertised XEP-0215 form and fall back to older ones even when they
    // are not advertised (some servers never did). jingleinfo is asked as well when advertised.
    auto start = std::find_if(std::begin(kChain), std::end(kChain), [&](Form f) { return advertised(f); });
    if (start == std::end(kChain)) start = std::begin(kChain);
    plan.assign(start, std::end(kChain));
    stop_at_first = true;
  }

  std::vector<FoundService> found;
  bool got_xep0215 = false;
  auto ask = [&](Form f) -> Result<bool> {
    std::string to = f == Form::JingleInfo ? o.own_bare_jid : o.server;
    FormAttempt a{f, advertised(f), std::nullopt, 0, to};
    bool typed = !o.type.empty() && f != Form::JingleInfo && f != Form::Stun2007;
    trace.progress(2, "asking " + std::string(form_label(f)) + " (" + std::string(form_ns(f)) + ")");
    auto reply = request(build_request(f, to, typed ? o.type : std::string_view{}));
    if (!reply) {
      if (!means_unsupported(reply.error()) && reply.error().category != Category::Protocol)
        return fail(reply.error());
      a.error = reply.error();
      d.attempts.push_back(std::move(a));
      return false;
    }
    auto list = parse(*reply, o.now_unix);
    if (!list) {
      a.error = list.error();
      d.attempts.push_back(std::move(a));
      return false;
    }
    for (auto& w : list->warnings) d.warnings.push_back(std::string(form_label(f)) + ": " + w);
    for (auto& s : list->services) {
      s.source = f;
      found.push_back(FoundService{s, std::nullopt, {}, false, false});
    }
    a.services = list->services.size();
    if (!a.advertised && !o.force)
      d.warnings.push_back("the server answered " + std::string(form_label(f)) +
                           " without advertising it in disco#info");
    d.attempts.push_back(std::move(a));
    return true;
  };

  for (auto f : plan) {
    auto r = ask(f);
    if (!r) return fail(r.error());
    if (*r) {
      got_xep0215 = true;
      if (stop_at_first) break;
    }
  }
  if (!o.force && !o.all && advertised(Form::JingleInfo)) {
    auto r = ask(Form::JingleInfo);
    if (!r) return fail(r.error());
    got_xep0215 = got_xep0215 || *r;
  }

  if (!got_xep0215) {
    if (o.force) {
      const auto& e = d.attempts.back().error;
      Error err = e ? *e : Error(Category::Protocol, "no answer");
      err.message = "the server refused " + std::string(form_label(*o.force)) + ": " + describe_error(err);
      return fail(std::move(err));
    }
    std::string asked;
    for (const auto& a : d.attempts)
      asked += (asked.empty() ? "" : ", ") + std::string(form_label(a.form)) + " (" +
               (a.error ? describe_error(*a.error) : "no answer") + ")";
    return fail(Category::NotSupported, "the server offers no STUN/TURN discovery; asked " + asked,
                "the server needs XEP-0215 (e.g. Prosody mod_external_services or mod_turncredentials)");
  }

  if (o.request_credentials) fetch_credentials(found, batch, o, trace, d.warnings);

  for (const auto& f : found) {
    if (!matches_filters(f.service, o.type, o.transport)) continue;
    bool dup = std::any_of(d.services.begin(), d.services.end(),
                           [&](const FoundService& g) { return same_entry(g.service, f.service); });
    if (dup) continue;
    auto checked = check_service(f.service, o.now_unix, d.warnings);
    checked.credentials_requested = f.credentials_requested;
    d.services.push_back(std::move(checked));
  }
  d.service_jids = {o.server};
  return d;
}

}  // namespace

Result<Discovery> discover(const xep0030::DiscoInfo& info, const Requester& request, const DiscoverOptions& o,
                           Trace& trace) {
  return discover_impl(info, sequential(request), o, trace);
}

Requester single(const BatchRequester& batch) {
  return [batch](xml::Element iq) -> Result<xml::Element> {
    std::vector<xml::Element> one;
    one.push_back(std::move(iq));
    auto replies = batch(std::move(one));
    if (replies.empty()) return fail(Category::Internal, "no reply collected");
    return std::move(replies.front());
  };
}

BatchRequester sequential(Requester request) {
  return [request = std::move(request)](std::vector<xml::Element> iqs) {
    std::vector<Result<xml::Element>> replies;
    replies.reserve(iqs.size());
    for (auto& iq : iqs) replies.push_back(request(std::move(iq)));
    return replies;
  };
}

bool offers_discovery(const xep0030::DiscoInfo& info) {
  return std::any_of(info.features.begin(), info.features.end(),
                     [](const std::string& f) { return form_of_feature(f).has_value(); });
}

Result<Discovery> discover_services(const BatchRequester& batch, const LocateOptions& where, DiscoverOptions o,
                                    Trace& trace, const BatchRequester* item_batch) {
  auto request = single(batch);
  auto info_of = [&](const std::string& jid) -> Result<xep0030::DiscoInfo> {
    auto reply = request(xep0030::info_request(jid));
    if (!reply) return fail(reply.error());
    return xep0030::parse_info(*reply);
  };

  if (!where.service_jid.empty()) {
    auto info = info_of(where.service_jid);
    if (!info) {
      Error e = info.error();
      e.message = "disco#info of " + where.service_jid + ": " + describe_error(e);
      return fail(std::move(e));
    }
    o.server = where.service_jid;
    return discover_impl(*info, batch, o, trace);
  }

  auto info = info_of(where.domain);
  if (!info) return fail(info.error());
  o.server = where.domain;
  if (offers_discovery(*info) || o.force) return discover_impl(*info, batch, o, trace);

  // The domain advertises nothing: look for a service (e.g. an XEP-0114 component) among its
  // disco#items before asking it the unadvertised legacy forms.
  std::vector<std::string> jids;
  std::size_t items_total = 0;
  trace.progress(2, where.domain + " offers no STUN/TURN discovery: asking its disco#items");
  auto items_reply = request(xep0030::items_request(where.domain));
  if (items_reply) {
    if (auto items = xep0030::parse_items(*items_reply)) {
      for (const auto& it : *items) {
        if (!it.node.empty() || it.jid == where.domain) continue;
        if (std::find(jids.begin(), jids.end(), it.jid) != jids.end()) continue;
        ++items_total;
        if (jids.size() < where.max_items) jids.push_back(it.jid);
      }
    }
  }
  std::vector<xml::Element> infos;
  for (const auto& j : jids) infos.push_back(xep0030::info_request(j));
  const BatchRequester& ask_items = item_batch ? *item_batch : batch;
  auto replies = jids.empty() ? std::vector<Result<xml::Element>>{} : ask_items(std::move(infos));
  std::vector<std::pair<std::string, xep0030::DiscoInfo>> offering;
  for (std::size_t i = 0; i < jids.size() && i < replies.size(); ++i) {
    if (!replies[i]) continue;
    auto parsed = xep0030::parse_info(*replies[i]);
    if (parsed && offers_discovery(*parsed)) offering.emplace_back(jids[i], std::move(*parsed));
  }

  std::vector<std::string> limit_warning;
  if (items_total > jids.size())
    limit_warning.push_back(where.domain + " lists " + std::to_string(items_total) + " services; only the first " +
                            std::to_string(jids.size()) + " were asked (name one with --service)");

  if (offering.empty()) {
    auto d = discover_impl(*info, batch, o, trace);
    if (!d) {
      Error e = d.error();
      if (e.category == Category::NotSupported) {
        e.message += "; none of the " + std::to_string(jids.size()) + " services in its disco#items offers it";
        e.hint = "name the service that offers XEP-0215 with --service JID, or enable it on the server "
                 "(e.g. Prosody mod_external_services)";
      }
      return fail(std::move(e));
    }
    d->items_checked = jids.size();
    for (auto& w : limit_warning) d->warnings.push_back(w);
    return d;
  }

  Discovery merged;
  merged.via_items = true;
  merged.items_checked = jids.size();
  std::optional<Error> first_error;
  for (auto& [jid, jinfo] : offering) {
    DiscoverOptions one = o;
    one.server = jid;
    trace.progress(1, "STUN/TURN discovery offered by " + jid);
    auto d = discover_impl(jinfo, batch, one, trace);
    if (!d) {
      if (d.error().category != Category::NotSupported && d.error().category != Category::Remote)
        return fail(d.error());
      if (!first_error) first_error = d.error();
      merged.warnings.push_back(jid + ": " + d.error().message);
      continue;
    }
    for (auto& f : d->features)
      if (std::find(merged.features.begin(), merged.features.end(), f) == merged.features.end())
        merged.features.push_back(f);
    for (auto& a : d->attempts) merged.attempts.push_back(std::move(a));
    for (auto& w : d->warnings) merged.warnings.push_back(std::move(w));
    for (auto& f : d->services) {
      bool dup = std::any_of(merged.services.begin(), merged.services.end(),
                             [&](const FoundService& g) { return same_entry(g.service, f.service); });
      if (!dup) merged.services.push_back(std::move(f));
    }
    merged.service_jids.push_back(jid);
  }
  if (merged.service_jids.empty()) return fail(*first_error);
  for (auto& w : limit_warning) merged.warnings.push_back(w);
  return merged;
}

PushOutcome handle_push(const xml::Element& iq, const std::vector<std::string>& allowed_from, long long now_unix) {
  PushOutcome out;
  if (!is_push(iq)) return out;
  out.is_push = true;
  const std::string from = iq.attr_or("from");
  out.reply = xml::Element("iq", iq.ns.empty() ? std::string("jabber:client") : iq.ns);
  if (!from.empty()) out.reply.set("to", from);
  out.reply.set("id", iq.attr_or("id"));
  bool ok = from.empty() || std::any_of(allowed_from.begin(), allowed_from.end(),
                                        [&](const std::string& a) { return bare(from) == bare(a); });
  if (!ok) {
    // XEP-0215 §3.3: accept pushes only from the JID the list was requested from.
    out.reply.set("type", "error");
    auto& err = out.reply.add("error", out.reply.ns);
    err.set("type", "cancel");
    err.add("service-unavailable", "urn:ietf:params:xml:ns:xmpp-stanzas");
    out.problem = "ignored a list push from " + from + " (not the server the list came from)";
    return out;
  }
  out.reply.set("type", "result");
  out.accepted = true;
  auto list = parse(iq, now_unix);
  if (!list) {
    out.problem = "unreadable list push: " + list.error().message;
    return out;
  }
  out.list = std::move(*list);
  return out;
}

void apply_list_push(std::vector<FoundService>& current, const ServiceList& push, long long now_unix,
                     std::vector<std::string>& warnings) {
  std::vector<Service> services;
  for (const auto& f : current) services.push_back(f.service);
  if (push.form == Form::Stun2007 || push.form == Form::JingleInfo) {
    std::erase_if(services, [&](const Service& s) { return s.source == push.form; });
    for (auto s : push.services) {
      s.source = push.form;
      services.push_back(std::move(s));
    }
  } else {
    std::vector<Service> entries = push.services;
    for (auto& e : entries) e.source = push.form;
    apply_push(services, entries);
  }
  current.clear();
  for (const auto& s : services) current.push_back(check_service(s, now_unix, warnings));
}

}  // namespace xnet::xep0215
