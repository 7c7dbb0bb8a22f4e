// SPDX-License-Identifier: MIT
// lan: serverless messaging on the local link (XEP-0174): announce, browse, send.
#include <poll.h>
#include <unistd.h>

#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>

#include <CLI/CLI.hpp>

#include "cmd/commands.hpp"
#include "cmd/common.hpp"
#include "cmd/fields.hpp"
#include "cmd/lan_render.hpp"
#include "cmd/usage.hpp"
#include "mdns/announce.hpp"
#include "mdns/backend.hpp"
#include "mdns/browse.hpp"
#include "mdns/instance.hpp"
#include "mdns/ll_net.hpp"
#include "mdns/presence.hpp"
#include "util/interrupt.hpp"

namespace xnet::cmd {
namespace {

using namespace std::chrono_literals;
using mdns::Peer;
using mdns::PeerEvent;

std::chrono::milliseconds to_ms(double seconds) {
  return std::chrono::milliseconds(static_cast<long long>(seconds * 1000.0));
}

std::string own_default_name() { return mdns::default_instance().str(); }

// ---------------------------------------------------------------------------------------------
// announce

struct AnnounceOptions {
  std::string name;
  int port = 0;
  std::string status = "avail";
  std::optional<std::string> msg, nick, first, last, email, jid;
  double publish_timeout = 10.0;
  std::size_t max_connections = 64;
  std::size_t max_stanza = 64 * 1024;
  bool no_p2pj = false;
};

using mdns::AnnounceEvent;
using AnnounceKind = mdns::AnnounceEvent::Kind;
constexpr EnumNames<AnnounceKind, 3> kAnnounceEventNames{
    {{{AnnounceKind::Announced, "announced"}, {AnnounceKind::Renamed, "renamed"}, {AnnounceKind::Updated, "updated"}}}};

nlohmann::json txt_json(const mdns::TxtRecord& txt) {
  auto j = nlohmann::json::object();
  for (const auto& it : txt.items()) {
    if (it.has_value)
      j[it.key] = json_safe(it.value);
    else
      j[it.key] = true;
  }
  return j;
}

std::string txt_text(const mdns::TxtRecord& txt) {
  std::string s;
  for (const auto& str : txt.strings()) s += (s.empty() ? "" : " ") + escape_raw(str);
  return s;
}

// One line per event; text: "announced NAME on TCP port N (TXT...)".
const FieldTable<AnnounceEvent> kAnnouncedFields = {
    {"event", "", [](const AnnounceEvent& a) { return nlohmann::json(kAnnounceEventNames(a.kind)); }},
    {"name", "", [](const AnnounceEvent& a) { return nlohmann::json(a.name); }},
    {"port", "on TCP port", [](const AnnounceEvent& a) { return nlohmann::json(a.port); }},
    {"txt", "", [](const AnnounceEvent& a) { return txt_json(a.txt); },
     [](const AnnounceEvent& a) {
       auto t = txt_text(a.txt);
       return t.empty() ? t : "(" + t + ")";
     }},
};

struct Announced {
  const AnnounceEvent& e;
};
void to_json(nlohmann::json& j, const Announced& a) { j = fields_json(kAnnouncedFields, a.e); }
void print_text(std::ostream& os, const Announced& a, const Style&) { os << fields_line(kAnnouncedFields, a.e) << '\n'; }

void report_server_event(Output& out, const mdns::ServerEvent& e) {
  using K = mdns::ServerEvent::Kind;
  switch (e.kind) {
    case K::Message: out.emit(LanMessage{e}); break;
    case K::Opened: {
      const auto& h = e.stream.header;
      out.progress(1, "lan: stream from " + e.peer_address + " opened (" +
                          std::string(xep0174::generation_name(xep0174::generation(h))) +
                          (h.from ? ", from '" + *h.from + "'" : "") + ")");
      break;
    }
    case K::Iq: out.progress(1, "lan: answered an IQ (" + e.stream.text + ") from " + e.peer_address); break;
    case K::Error: out.warning("stream from " + e.peer_address + ": " + e.stream.text); break;
    case K::Rejected: out.warning("refused a connection from " + e.peer_address + ": " + e.stream.text); break;
    case K::Connected: out.progress(2, "lan: connection from " + e.peer_address); break;
    case K::Closed: out.progress(1, "lan: stream from " + e.peer_address + " closed"); break;
  }
}

void run_announce(const AnnounceOptions& o, Output& out) {
  if (!mdns::valid_status(o.status)) throw Error(Category::Usage, "--status must be avail, away or dnd");
  for (const auto* f : {&o.msg, &o.nick, &o.first, &o.last, &o.email, &o.jid})
    if (*f) unwrap(mdns::check_xml_text("a TXT field", **f));
  mdns::AnnounceRequest req;
  req.name = o.name.empty() ? own_default_name() : o.name;
  unwrap(mdns::parse_instance(req.name));
  req.presence.status = o.status;
  req.presence.msg = o.msg;
  req.presence.nick = o.nick;
  req.presence.first = o.first;
  req.presence.last = o.last;
  req.presence.email = o.email;
  req.presence.jid = o.jid;
  req.listener.port = static_cast<std::uint16_t>(o.port);
  req.listener.max_connections = o.max_connections;
  req.listener.stream.max_stanza_bytes = o.max_stanza;
  req.port_p2pj = !o.no_p2pj;
  req.publish_timeout = to_ms(o.publish_timeout);
  req.control_fd = STDIN_FILENO;
  req.wake_fd = interrupt_fd();
  mdns::AnnounceHooks hooks;
  hooks.on_announce = [&out](const AnnounceEvent& e) { out.emit(Announced{e}); };
  hooks.on_stream = [&out](const mdns::ServerEvent& e) { report_server_event(out, e); };
  hooks.on_warning = [&out](const Error& e) { out.warning(e.message); };
  hooks.stop = [] { return interrupted(); };
  auto backend = unwrap(mdns::make_backend(out));
  unwrap(mdns::announce(*backend, std::move(req), hooks, out));
}

// ---------------------------------------------------------------------------------------------
// browse

struct BrowseOptions {
  double timeout = 3.0;
  bool watch = false;
  bool exclude_own = false;
  std::string self;
  std::vector<std::string> wait_for;
};

struct PeerList {
  std::vector<Peer> peers;
  double elapsed_ms = 0;
  bool complete = false;
};

// Text shows the peers (one block each) and, with -v, the summary fields on stderr.
const FieldTable<PeerList> kPeerListFields = {
    {"peers", "", [](const PeerList& l) {
       auto arr = nlohmann::json::array();
       for (const auto& p : l.peers) arr.push_back(p);  // lan_peer_fields (cmd/lan_render)
       return arr;
     }},
    {"count", "peers", [](const PeerList& l) { return nlohmann::json(l.peers.size()); }},
    {"elapsed_ms", "elapsed", [](const PeerList& l) { return nlohmann::json(l.elapsed_ms); },
     [](const PeerList& l) { return format_ms(l.elapsed_ms); }},
    {"complete", "complete", [](const PeerList& l) { return nlohmann::json(l.complete); }},
};

void to_json(nlohmann::json& j, const PeerList& l) { j = fields_json(kPeerListFields, l); }

void print_text(std::ostream& os, const PeerList& l, const Style&) {
  for (const auto& p : l.peers) os << peer_text(p) << '\n';
}

void run_browse(const BrowseOptions& o, Output& out) {
  for (const auto& n : o.wait_for)
    if (!mdns::valid_instance_label(n))
      throw Error(Category::Usage, "--wait-for: '" + n + "' is not a valid instance name (UTF-8, at most 63 bytes)");
  auto backend = unwrap(mdns::make_backend(out));
  mdns::BrowseRequest req;
  req.timeout = to_ms(o.timeout);
  req.watch = o.watch;
  req.exclude_own = o.exclude_own;
  req.self = o.self.empty() ? own_default_name() : o.self;
  req.wait_for = o.wait_for;
  auto on_event = [&out](const PeerEvent& pe) { out.emit(pe); };
  auto res = unwrap(mdns::browse_peers(*backend, req, on_event, [] { return interrupted(); }, out));
  if (o.watch) return;
  if (res.end == mdns::BrowseEnd::Interrupted && !o.wait_for.empty()) throw Error(Category::Interrupted, "");
  PeerList list;
  list.peers = std::move(res.peers);
  list.complete = res.complete;
  list.elapsed_ms = round_ms(res.elapsed);
  if (list.peers.empty()) out.text_progress(0, "no peers found");
  progress_fields(out, "lan", kPeerListFields, list);
  out.emit(list);
}

// ---------------------------------------------------------------------------------------------
// send

struct SendOptions {
  std::string peer;
  std::optional<std::string> message;
  std::string from;
  bool each_line = false;
  double timeout = 10.0;
  std::string thread;
  bool legacy = false;
};

struct SendResult {
  mdns::SendReport report;
};

const FieldTable<SendResult> kSendFields = {
    {"peer", "peer", [](const SendResult& r) { return nlohmann::json(json_safe(r.report.peer)); }},
    {"address", "address", [](const SendResult& r) { return nlohmann::json(r.report.address); }},
    {"port", "port", [](const SendResult& r) { return nlohmann::json(r.report.port); }},
    {"sent", "sent", [](const SendResult& r) { return nlohmann::json(r.report.sent); }},
    {"closed_cleanly", "closed cleanly", [](const SendResult& r) { return nlohmann::json(r.report.closed_cleanly); }},
    {"peer_stream", "peer stream",
     [](const SendResult& r) {
       const auto& h = r.report.peer_header;
       nlohmann::json hdr = nlohmann::json::object();
       if (h.from) hdr["from"] = json_safe(*h.from);
       if (h.to) hdr["to"] = json_safe(*h.to);
       if (h.version) hdr["version"] = json_safe(*h.version);
       hdr["generation"] = std::string(xep0174::generation_name(xep0174::generation(h)));
       return hdr;
     },
     [](const SendResult& r) {
       return std::string(xep0174::generation_name(xep0174::generation(r.report.peer_header)));
     }},
    {"replies", "", [](const SendResult& r) {
       auto replies = nlohmann::json::array();
       for (const auto& m : r.report.received)
         replies.push_back({{"from", json_safe(m.from)}, {"body", json_safe(m.body)}, {"type", m.type}});
       return replies;
     }},
    {"elapsed_ms", "elapsed", [](const SendResult& r) { return nlohmann::json(round_ms(r.report.elapsed_ms)); },
     [](const SendResult& r) { return format_ms(r.report.elapsed_ms); }},
};

void to_json(nlohmann::json& j, const SendResult& r) { j = fields_json(kSendFields, r); }

// Text: one sentence for people and the replies; the labelled fields go to stderr with -v.
void print_text(std::ostream& os, const SendResult& r, const Style& st) {
  const auto& rep = r.report;
  os << "sent " << rep.sent << (rep.sent == 1 ? " message" : " messages") << " to " << json_safe(rep.peer)
     << " (" << rep.address << " port " << rep.port << ")";
  if (!rep.closed_cleanly) os << "; the peer did not close its stream";
  os << '\n';
  for (const auto& m : rep.received) os << json_safe(m.from) << ": " << json_safe(m.body) << '\n';
  (void)st;
}

std::string read_stdin_limited(std::size_t limit) {
  std::string s;
  char buf[8192];
  for (;;) {
    ssize_t n = ::read(STDIN_FILENO, buf, sizeof buf);
    if (n < 0 && errno == EINTR) {
      if (interrupted()) throw Error(Category::Interrupted, "interrupted while reading stdin");
      continue;
    }
    if (n < 0) throw Error(Category::Io, "cannot read the message from stdin");
    if (n == 0) break;
    s.append(buf, static_cast<std::size_t>(n));
    if (s.size() > limit)
      throw Error(Category::Input, "the message on stdin is larger than " + std::to_string(limit / 1024) + " KiB");
  }
  return s;
}

void run_send(const SendOptions& o, Output& out) {
  if (!mdns::valid_instance_label(o.peer))
    throw Error(Category::Usage, "'" + o.peer + "' is not a valid instance name (UTF-8, at most 63 bytes)");
  std::string from = o.from.empty() ? own_default_name() : o.from;
  if (!mdns::valid_instance_label(from)) throw Error(Category::Usage, "--from must be a valid instance name");
  if (o.timeout <= 0) throw Error(Category::Usage, "--timeout must be positive");
  Deadline deadline = Deadline::in(to_ms(o.timeout));

  mdns::OutgoingText text;
  text.text = o.message ? *o.message : read_stdin_limited(256 * 1024);
  text.from_stdin = !o.message;
  text.each_line = o.each_line;
  text.from = from;
  text.to = o.peer;
  text.thread = o.thread;
  auto msgs = unwrap(mdns::make_messages(text));

  auto backend = unwrap(mdns::make_backend(out));
  out.progress(1, "lan: resolving '" + o.peer + "'");
  auto svc = unwrap(backend->resolve(o.peer, mdns::kPresenceType, deadline.remaining()));
  backend.reset();

  mdns::StreamConfig sc;
  sc.local_name = from;
  sc.peer_name = o.peer;
  sc.send_version = !o.legacy;
  SendResult result{unwrap(mdns::send_messages(svc, sc, msgs, deadline, out))};
  progress_fields(out, "lan", kSendFields, result);
  out.emit(result);
}

}  // namespace

void register_lan(CLI::App& app, Output& out) {
  auto* lan = app.add_subcommand("lan", "Serverless messaging on the local network (XEP-0174, mDNS/DNS-SD)");
  lan->require_subcommand(1);

  auto ao = std::make_shared<AnnounceOptions>();
  auto* an = lan->add_subcommand("announce", "Publish your presence and receive messages until interrupted");
  an->add_option("--name", ao->name, "Instance name user@machine (default: login@hostname)")->type_name("NAME");
  an->add_option("--port", ao->port, "TCP port for incoming streams (0 = a free port)")
      ->check(CLI::Range(0, 65535))
      ->type_name("PORT");
  an->add_option("--status", ao->status, "Presence status: avail, away or dnd")
      ->check(CLI::IsMember({"avail", "away", "dnd"}));
  an->add_option("--msg", ao->msg, "Free-text status message (TXT msg)")->type_name("TEXT");
  an->add_option("--nick", ao->nick, "Nickname (TXT nick)")->type_name("TEXT");
  an->add_option("--first", ao->first, "Given name (TXT 1st)")->type_name("TEXT");
  an->add_option("--last", ao->last, "Family name (TXT last)")->type_name("TEXT");
  an->add_option("--email", ao->email, "Email address(es) (TXT email)")->type_name("TEXT");
  an->add_option("--jid", ao->jid, "XMPP address(es) (TXT jid)")->type_name("JID");
  an->add_flag("--no-port-p2pj", ao->no_p2pj, "Do not publish the deprecated port.p2pj TXT key");
  an->add_option("--publish-timeout", ao->publish_timeout, "Seconds to wait for the announcement to be established")
      ->check(seconds_validator())
      ->capture_default_str()
      ->type_name("SECONDS");
  an->add_option("--max-connections", ao->max_connections, "Most simultaneous incoming streams")
      ->check(CLI::Range(1, 4096))
      ->type_name("N");
  an->add_option("--max-stanza", ao->max_stanza, "Largest accepted stanza in bytes")
      ->check(CLI::Range(1024, 16 * 1024 * 1024))
      ->type_name("BYTES");
  an->callback([ao, &out] { run_announce(*ao, out); });

  auto bo = std::make_shared<BrowseOptions>();
  auto* br = lan->add_subcommand("browse", "List peers on the local network (one-shot, or --watch)");
  br->add_option("--timeout", bo->timeout, "Seconds to wait for answers (one-shot and --wait-for)")
      ->check(seconds_validator())
      ->capture_default_str()
      ->type_name("SECONDS");
  br->add_flag("--watch", bo->watch, "Stream new/updated/removed events until interrupted");
  br->add_flag("--exclude-own", bo->exclude_own, "Leave out your own announcement");
  br->add_option("--wait-for", bo->wait_for,
                 "Exit once peer NAME has resolved, printing it (repeatable); exit 68 at --timeout. Not with --watch")
      ->type_name("NAME")
      ->excludes("--watch")
      ->take_all()
      ->expected(1);
  br->add_option("--self", bo->self, "Your instance name, marked \"own\" (default: login@hostname)")
      ->type_name("NAME");
  br->callback([bo, &out] { run_browse(*bo, out); });

  auto so = std::make_shared<SendOptions>();
  auto* se = lan->add_subcommand("send", "Send a message to a peer (body from stdin when not given)");
  se->add_option("peer", so->peer, "Instance name of the peer, user@machine")->required()->type_name("PEER");
  se->add_option("message", so->message, "Message body (default: read stdin)")->type_name("MESSAGE");
  se->add_option("--from", so->from, "Sender instance name (default: login@hostname)")->type_name("NAME");
  se->add_flag("--each-line", so->each_line, "Send each line of the input as its own message");
  se->add_option("--thread", so->thread, "Thread identifier for the message(s)")->type_name("ID");
  se->add_option("--timeout", so->timeout, "Seconds for resolving, connecting and sending")
      ->check(seconds_validator())
      ->capture_default_str()
      ->type_name("SECONDS");
  se->add_flag("--legacy-stream", so->legacy, "Open the stream without version='1.0' (as Pidgin/iChat do)");
  se->callback([so, &out] { run_send(*so, out); });
}

}  // namespace xnet::cmd
