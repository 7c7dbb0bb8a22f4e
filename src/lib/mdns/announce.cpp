// SPDX-License-Identifier: MIT
#include "mdns/announce.hpp"

#include <poll.h>
#include <unistd.h>

#include <cerrno>
#include <optional>
#include <string>
#include <vector>

#include "mdns/instance.hpp"
#include "mdns/ll_net.hpp"

namespace xnet::mdns {

Result<void> check_xml_text(std::string_view what, std::string_view s) {
  if (!valid_utf8(s)) return fail(Category::Input, std::string(what) + " is not valid UTF-8");
  for (char c : s) {
    auto u = static_cast<unsigned char>(c);
    if (u < 0x20 && c != '\n' && c != '\t' && c != '\r')
      return fail(Category::Input, std::string(what) + " contains a control character that XML cannot carry");
  }
  return {};
}

Result<bool> apply_control_line(std::string_view line, Presence& p) {
  while (!line.empty() && (line.back() == '\r' || line.back() == ' ')) line.remove_suffix(1);
  if (line.empty()) return false;
  auto sp = line.find(' ');
  std::string cmd(line.substr(0, sp));
  std::string arg = sp == std::string_view::npos ? std::string() : std::string(line.substr(sp + 1));
  if (auto r = check_xml_text("the value", arg); !r) return fail(r.error());
  if (cmd == "status") {
    if (!valid_status(arg)) return fail(Category::Input, "status must be avail, away or dnd");
    p.status = arg;
  } else if (cmd == "msg") {
    p.msg = arg.empty() ? std::nullopt : std::optional<std::string>(arg);
  } else if (cmd == "nick") {
    p.nick = arg.empty() ? std::nullopt : std::optional<std::string>(arg);
  } else {
    return fail(Category::Input,
                "unknown control line '" + std::string(line) + "' (use: status avail|away|dnd, msg TEXT, nick TEXT)");
  }
  return true;
}

void set_caps(Presence& p, const xep0174::Identity& identity) {
  p.node = std::string(xep0174::kCapsNode);
  p.ver = xep0174::caps_ver(identity, xep0174::local_features());
  p.hash = "sha-1";
}

Result<void> announce(Backend& backend, AnnounceRequest req, const AnnounceHooks& hooks, Trace& trace) {
  using namespace std::chrono_literals;
  auto inst = parse_instance(req.name);
  if (!inst) return fail(inst.error());
  Presence pres = req.presence;
  set_caps(pres, req.listener.stream.identity);
  req.listener.stream.local_name = inst->str();
  auto server = LinkLocalServer::listen(req.listener, trace);
  if (!server) return fail(server.error());
  auto& srv = **server;
  if (req.port_p2pj) pres.port_p2pj = srv.port();

  ServiceSpec spec;
  spec.name = inst->str();
  spec.type = std::string(kPresenceType);
  spec.port = srv.port();
  auto txt0 = presence_to_txt(pres);
  if (!txt0) return fail(txt0.error());
  spec.txt = *txt0;
  auto rename = [i = *inst](unsigned n) { return renamed(i, n).str(); };
  auto published = backend.publish(spec, rename, req.publish_timeout);
  if (!published) return fail(published.error());
  std::string name = *published;
  srv.set_local_name(name);
  if (name != spec.name) trace.progress(0, "lan: '" + spec.name + "' was taken; announced as '" + name + "'");
  auto report = [&](AnnounceEvent::Kind k) {
    if (hooks.on_announce) hooks.on_announce({k, name, srv.port(), spec.txt});
  };
  auto stream_event = [&](const ServerEvent& e) {
    if (hooks.on_stream) hooks.on_stream(e);
  };
  auto warn = [&](const Error& e) {
    if (hooks.on_warning) hooks.on_warning(e);
  };
  report(AnnounceEvent::Kind::Announced);

  bool control_open = req.control_fd >= 0;
  std::string buf;
  std::optional<Error> fatal;
  while (!(hooks.stop && hooks.stop())) {
    std::vector<pollfd> extra;
    if (req.wake_fd >= 0) extra.push_back({req.wake_fd, POLLIN, 0});
    extra.push_back({backend.events().fd(), POLLIN, 0});
    if (control_open) extra.push_back({req.control_fd, POLLIN, 0});
    for (const auto& e : srv.poll(500ms, extra)) stream_event(e);
    while (auto ev = backend.events().pop(0ms)) {
      if (ev->kind == BackendEvent::Kind::Renamed) {
        name = ev->name;
        srv.set_local_name(name);
        report(AnnounceEvent::Kind::Renamed);
      } else if (ev->kind == BackendEvent::Kind::Failure) {
        fatal = Error(Category::Daemon, ev->message, daemon_hint());
      }
    }
    if (fatal) break;
    if (!control_open || !(extra.back().revents & (POLLIN | POLLHUP | POLLERR))) continue;
    char chunk[4096];
    ssize_t n = ::read(req.control_fd, chunk, sizeof chunk);
    if (n <= 0) {
      if (n == 0 || (errno != EINTR && errno != EAGAIN)) control_open = false;
      continue;
    }
    buf.append(chunk, static_cast<std::size_t>(n));
    if (buf.size() > 64 * 1024) buf.clear();  // no control line is that long
    bool changed = false;
    for (std::size_t nl; (nl = buf.find('\n')) != std::string::npos;) {
      std::string line = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      auto r = apply_control_line(line, pres);
      if (!r)
        warn(r.error());
      else
        changed = changed || *r;
    }
    if (!changed) continue;
    auto txt = presence_to_txt(pres);
    if (!txt) {
      warn(txt.error());
    } else if (auto u = backend.update_txt(*txt); !u) {
      warn(u.error());
    } else {
      spec.txt = *txt;
      report(AnnounceEvent::Kind::Updated);
    }
  }
  // Goodbye: close the peers' streams properly, then withdraw the records.
  for (const auto& e : srv.shutdown(2s)) stream_event(e);
  backend.unpublish();
  if (fatal) return fail(*fatal);
  trace.progress(1, "lan: goodbye sent for '" + name + "'");
  return {};
}

}  // namespace xnet::mdns
