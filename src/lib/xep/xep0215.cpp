// SPDX-License-Identifier: MIT
#include "xep/xep0215.hpp"

#include <algorithm>
#include <cctype>
#include <charconv>
#include <ctime>

namespace xnet::xep0215 {
namespace {

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

std::string_view trim(std::string_view s) {
  constexpr std::string_view ws = " \t\r\n";
  auto b = s.find_first_not_of(ws);
  if (b == std::string_view::npos) return {};
  return s.substr(b, s.find_last_not_of(ws) - b + 1);
}

std::optional<long long> to_int(std::string_view s) {
  s = trim(s);
  long long v = 0;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || p != s.data() + s.size()) return std::nullopt;
  return v;
}

std::uint16_t default_port(std::string_view type) {
  return (type == "stuns" || type == "turns") ? 5349 : 3478;
}

std::string default_transport(std::string_view type) {
  return (type == "stuns" || type == "turns") ? "tcp" : "udp";
}

std::string strip_brackets(std::string_view host) {
  host = trim(host);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']') host = host.substr(1, host.size() - 2);
  return std::string(host);
}

bool is_ipv6_literal(std::string_view host) { return host.find(':') != std::string_view::npos; }

// Reads one <service/> (or <server/>) of the extdisco/provisional forms.
std::optional<Service> read_service(const xml::Element& e, Form form, long long now, ServiceList& out) {
  Service s;
  s.source = form;
  const std::string where = "<" + e.name + (e.attr("host") ? " host='" + e.attr_or("host") + "'" : "") + ">";
  s.host = strip_brackets(e.attr_or("host"));
  if (s.host.empty()) {
    out.warnings.push_back("ignored a " + where + " without host");
    return std::nullopt;
  }
  if (auto a = e.attr("action")) {
    auto v = lower(trim(*a));
    if (v == "add") {
      s.action = Action::Add;
    } else if (v == "modify") {
      s.action = Action::Modify;
    } else if (v == "delete" || v == "remove") {
      s.action = Action::Delete;
    } else {
      out.warnings.push_back("ignored " + where + " with unknown action '" + *a + "'");
      return std::nullopt;
    }
  }
  s.type = lower(trim(e.attr_or("type")));
  if (s.type == "stun-relay") s.type = "turn";
  if (s.type.empty() && !out.credentials) out.warnings.push_back(where + " has no type");
  if (auto p = e.attr("port")) {
    auto v = to_int(*p);
    if (v && *v > 0 && *v <= 65535) {
      s.port = static_cast<std::uint16_t>(*v);
      s.port_given = true;
    } else {
      out.warnings.push_back(where + ": invalid port '" + *p + "', using the default");
    }
  }
  if (!s.port_given) s.port = default_port(s.type);
  s.transport = lower(trim(e.attr_or("transport")));
  if (s.transport.empty()) s.transport = default_transport(s.type);
  s.username = e.attr_or("username");
  s.password = e.attr_or("password");
  s.name = e.attr_or("name");
  if (auto r = e.attr("restricted")) {
    auto v = lower(trim(*r));
    if (v == "1" || v == "true") {
      s.restricted = true;
    } else if (v != "0" && v != "false") {
      out.warnings.push_back(where + ": invalid restricted='" + *r + "', read as false");
    }
  }
  if (auto x = e.attr("expires")) {
    auto t = parse_datetime(*x);
    if (!t) {
      out.warnings.push_back(where + ": unreadable expires='" + *x + "' ignored");
    } else if (*t < 946684800) {  // before 2000: a formatting bug (e.g. a TTL printed as a date)
      out.warnings.push_back(where + ": implausible expires='" + *x + "' ignored");
    } else {
      s.expires = *t;
    }
  }
  if (!s.expires) {
    // Non-standard, sent by prosody-modules' mod_turncredentials on extdisco:1.
    if (auto ttl = e.attr("ttl")) {
      if (auto v = to_int(*ttl); v && *v > 0) {
        s.expires = now + *v;
        s.expires_from_ttl = true;
      }
    }
  }
  return s;
}

void read_jingleinfo(const xml::Element& q, ServiceList& out) {
  if (const auto* stun = q.child("stun")) {
    for (const auto* srv : stun->children_named("server")) {
      Service s;
      s.source = Form::JingleInfo;
      s.type = "stun";
      s.transport = "udp";
      s.host = strip_brackets(srv->attr_or("host"));
      if (s.host.empty()) {
        out.warnings.push_back("ignored a jingleinfo <stun><server> without host");
        continue;
      }
      auto p = to_int(srv->attr_or("udp"));
      if (p && *p > 0 && *p <= 65535) {
        s.port = static_cast<std::uint16_t>(*p);
        s.port_given = true;
      } else {
        s.port = 3478;
        out.warnings.push_back("jingleinfo stun server " + s.host + " has no valid udp port, using 3478");
      }
      out.services.push_back(std::move(s));
    }
  }
  if (const auto* relay = q.child("relay")) {
    std::string token;
    if (const auto* t = relay->child("token")) token = std::string(trim(t->text));
    for (const auto* srv : relay->children_named("server")) {
      auto host = strip_brackets(srv->attr_or("host"));
      if (host.empty()) {
        out.warnings.push_back("ignored a jingleinfo <relay><server> without host");
        continue;
      }
      // Google's pre-TURN relay: listed, never used (stun-discovery.md §5).
      for (auto [attr, transport] : {std::pair{"udp", "udp"}, std::pair{"tcp", "tcp"}, std::pair{"tcpssl", "ssltcp"}}) {
        auto p = to_int(srv->attr_or(attr));
        if (!p || *p <= 0 || *p > 65535) continue;
        Service s;
        s.source = Form::JingleInfo;
        s.type = "google-relay";
        s.host = host;
        s.port = static_cast<std::uint16_t>(*p);
        s.port_given = true;
        s.transport = transport;
        s.token = token;
        out.services.push_back(std::move(s));
      }
    }
  }
}

void write_service(xml::Element& e, const Service& s, Form form, bool with_credentials, bool with_action) {
  if (with_action) e.set("action", std::string(action_name(s.action)));
  if (form == Form::Stun2007) {
    e.set("host", s.host);
    e.set("port", std::to_string(s.port));
    if (!s.username.empty()) e.set("username", s.username);
    if (!s.password.empty()) e.set("password", s.password);
    return;
  }
  e.set("type", s.type);
  e.set("host", s.host);
  if (s.port) e.set("port", std::to_string(s.port));
  if (!s.transport.empty()) e.set("transport", s.transport);
  if (!s.name.empty()) e.set("name", s.name);
  const bool v2 = form == Form::Extdisco2;
  const bool creds = s.action != Action::Delete && (with_credentials || !s.restricted || !v2);
  if (creds && !s.username.empty()) e.set("username", s.username);
  if (creds && !s.password.empty()) e.set("password", s.password);
  if (v2 && creds && s.expires) e.set("expires", format_datetime(*s.expires));
  if (v2 && s.restricted) e.set("restricted", "1");
}

xml::Element jingleinfo_payload(const std::vector<Service>& services) {
  xml::Element q("query", std::string(kNsJingleInfo));
  xml::Element stun("stun", std::string(kNsJingleInfo));
  xml::Element relay("relay", std::string(kNsJingleInfo));
  std::string token;
  for (const auto& s : services) {
    if (s.type == "stun") {
      xml::Element srv("server", std::string(kNsJingleInfo));
      srv.set("host", s.host).set("udp", std::to_string(s.port));
      stun.add(std::move(srv));
    } else if (s.type == "google-relay") {
      if (token.empty()) token = s.token;
      xml::Element srv("server", std::string(kNsJingleInfo));
      srv.set("host", s.host).set(s.transport == "tcp" ? "tcp" : s.transport == "ssltcp" ? "tcpssl" : "udp",
                                  std::to_string(s.port));
      relay.add(std::move(srv));
    }
  }
  if (!stun.children.empty()) q.add(std::move(stun));
  if (!relay.children.empty()) {
    xml::Element t("token", std::string(kNsJingleInfo));
    t.set_text(token);
    relay.children.insert(relay.children.begin(), std::move(t));
    q.add(std::move(relay));
  }
  return q;
}

}  // namespace

std::string_view form_ns(Form form) {
  switch (form) {
    case Form::Stun2007:
    case Form::Provisional: return kNsProvisional;
    case Form::Extdisco0: return kNsExtdisco0;
    case Form::Extdisco1: return kNsExtdisco1;
    case Form::Extdisco2: return kNsExtdisco2;
    case Form::JingleInfo: return kNsJingleInfo;
  }
  return kNsExtdisco2;
}

std::string_view form_label(Form form) {
  switch (form) {
    case Form::Stun2007: return "xep0215-0.1";
    case Form::Provisional: return "xep0215-provisional";
    case Form::Extdisco0: return "extdisco:0";
    case Form::Extdisco1: return "extdisco:1";
    case Form::Extdisco2: return "extdisco:2";
    case Form::JingleInfo: return "jingleinfo";
  }
  return "extdisco:2";
}

std::optional<Form> parse_form(std::string_view text) {
  auto t = lower(trim(text));
  if (t == "extdisco:2" || t == "2" || t == kNsExtdisco2) return Form::Extdisco2;
  if (t == "extdisco:1" || t == "1" || t == kNsExtdisco1) return Form::Extdisco1;
  if (t == "extdisco:0" || t == "0" || t == kNsExtdisco0) return Form::Extdisco0;
  if (t == "xep0215-0.1" || t == "0.1" || t == "2007" || t == "stun" || t == lower(kNsProvisional)) return Form::Stun2007;
  if (t == "xep0215-provisional" || t == "provisional" || t == "0.2" || t == "0.3") return Form::Provisional;
  if (t == "jingleinfo" || t == "google" || t == kNsJingleInfo) return Form::JingleInfo;
  return std::nullopt;
}

std::optional<Form> form_of_feature(std::string_view f) {
  if (f == kNsExtdisco2) return Form::Extdisco2;
  if (f == kNsExtdisco1) return Form::Extdisco1;
  if (f == kNsExtdisco0) return Form::Extdisco0;
  if (f == kNsProvisional) return Form::Stun2007;
  if (f == kNsJingleInfo) return Form::JingleInfo;
  return std::nullopt;
}

std::string_view action_name(Action a) {
  switch (a) {
    case Action::Add: return "add";
    case Action::Modify: return "modify";
    case Action::Delete: return "delete";
  }
  return "add";
}

bool Service::same_service(const Service& o) const {
  if (!o.type.empty() && o.type != type) return false;
  if (o.host != host) return false;
  if (o.port_given && port_given && o.port != port) return false;
  if (!o.transport.empty() && !transport.empty() && o.transport != transport) return false;
  return true;
}

std::string Service::uri() const {
  std::string h = is_ipv6_literal(host) ? "[" + host + "]" : host;
  std::string scheme = type.empty() ? "stun" : type;
  std::string u = scheme + ":" + h + ":" + std::to_string(port);
  if (type == "turn" || type == "turns") u += "?transport=" + transport;
  return u;
}

xml::Element build_request(Form form, std::string_view to, std::string_view type) {
  xml::Element iq("iq", "jabber:client");
  iq.set("type", "get");
  if (!to.empty()) iq.set("to", std::string(to));
  switch (form) {
    case Form::Stun2007:
      iq.add("stun", std::string(kNsProvisional));
      break;
    case Form::JingleInfo:
      iq.add("query", std::string(kNsJingleInfo));
      break;
    default: {
      auto& s = iq.add("services", std::string(form_ns(form)));
      if (!type.empty()) s.set("type", std::string(type));
    }
  }
  return iq;
}

Result<xml::Element> build_credentials_request(Form form, std::string_view to, const Service& service) {
  if (form != Form::Extdisco1 && form != Form::Extdisco2)
    return fail(Category::NotSupported,
                std::string(form_label(form)) + " has no credentials request (only extdisco:1 and extdisco:2)");
  xml::Element iq("iq", "jabber:client");
  iq.set("type", "get");
  if (!to.empty()) iq.set("to", std::string(to));
  auto& c = iq.add("credentials", std::string(form_ns(form)));
  auto& s = c.add("service");
  // XEP-0215 §3.4: extdisco:2 needs host and type; extdisco:1 identified services by host.
  if (form == Form::Extdisco2) s.set("type", service.type);
  s.set("host", service.host);
  if (form == Form::Extdisco2 && service.port_given) s.set("port", std::to_string(service.port));
  return iq;
}

Result<ServiceList> parse(const xml::Element& in, long long now_unix) {
  const xml::Element* p = &in;
  if (in.name == "iq") {
    p = nullptr;
    for (const auto& c : in.children) {
      if (c.name == "error") continue;
      if ((c.name == "query" && c.ns == kNsJingleInfo) ||
          (c.ns == kNsProvisional || c.ns == kNsExtdisco0 || c.ns == kNsExtdisco1 || c.ns == kNsExtdisco2)) {
        p = &c;
        break;
      }
    }
    if (!p) return fail(Category::Protocol, "the reply carries no XEP-0215 or jingleinfo payload");
  }
  ServiceList out;
  if (p->ns == kNsJingleInfo && p->name == "query") {
    out.form = Form::JingleInfo;
    read_jingleinfo(*p, out);
    return out;
  }
  if (p->ns == kNsProvisional && p->name == "stun") {
    out.form = Form::Stun2007;
    for (const auto* srv : p->children_named("server")) {
      auto s = read_service(*srv, Form::Stun2007, now_unix, out);
      if (!s) continue;
      s->type = "stun";
      s->transport = "udp";
      if (!s->port_given) s->port = 3478;
      out.services.push_back(std::move(*s));
    }
    return out;
  }
  if (p->ns == kNsProvisional) out.form = Form::Provisional;
  else if (p->ns == kNsExtdisco0) out.form = Form::Extdisco0;
  else if (p->ns == kNsExtdisco1) out.form = Form::Extdisco1;
  else if (p->ns == kNsExtdisco2) out.form = Form::Extdisco2;
  else return fail(Category::Protocol, "not a XEP-0215 payload: <" + p->name + " xmlns='" + p->ns + "'>");
  if (p->name == "credentials") {
    out.credentials = true;
  } else if (p->name != "services") {
    return fail(Category::Protocol, "unexpected XEP-0215 element <" + p->name + "/>");
  }
  out.type_filter = p->attr_or("type");
  for (const auto& c : p->children) {
    // The 0.2/0.3 push example used <server> inside <services>.
    if (c.name != "service" && !(c.name == "server" && out.form == Form::Provisional)) continue;
    if (auto s = read_service(c, out.form, now_unix, out)) out.services.push_back(std::move(*s));
  }
  return out;
}

std::vector<Service> filter_credentials(const std::vector<Service>& answer, const Service& requested) {
  std::vector<Service> out;
  for (auto s : answer) {
    if (s.host != requested.host) continue;
    if (s.type.empty()) s.type = requested.type;  // extdisco:1 replies may lack type
    if (!requested.type.empty() && s.type != requested.type) continue;
    if (requested.port_given && s.port_given && s.port != requested.port) continue;
    out.push_back(std::move(s));
  }
  return out;
}

bool is_push(const xml::Element& iq) {
  if (iq.name != "iq" || iq.attr_or("type") != "set") return false;
  for (const auto& c : iq.children) {
    if (c.ns == kNsJingleInfo && c.name == "query") return true;
    if ((c.ns == kNsProvisional && (c.name == "stun" || c.name == "services")) ||
        ((c.ns == kNsExtdisco0 || c.ns == kNsExtdisco1 || c.ns == kNsExtdisco2) && c.name == "services"))
      return true;
  }
  return false;
}

void apply_push(std::vector<Service>& current, const std::vector<Service>& push) {
  for (const auto& p : push) {
    switch (p.action) {
      case Action::Delete:
        std::erase_if(current, [&](const Service& s) { return s.same_service(p); });
        break;
      case Action::Modify:
      case Action::Add: {
        auto it = std::find_if(current.begin(), current.end(), [&](const Service& s) { return s.same_service(p); });
        Service copy = p;
        copy.action = Action::Add;
        if (it != current.end())
          *it = std::move(copy);
        else
          current.push_back(std::move(copy));
        break;
      }
    }
  }
}

std::optional<long long> parse_datetime(std::string_view text) {
  auto t = trim(text);
  // YYYY-MM-DDThh:mm:ss[.fff][Z|(+|-)hh:mm]
  if (t.size() < 19 || t[4] != '-' || t[7] != '-' || (t[10] != 'T' && t[10] != 't') || t[13] != ':' || t[16] != ':')
    return std::nullopt;
  auto num = [&](std::size_t at, std::size_t n) -> std::optional<int> {
    int v = 0;
    for (std::size_t i = at; i < at + n; ++i) {
      if (!std::isdigit(static_cast<unsigned char>(t[i]))) return std::nullopt;
      v = v * 10 + (t[i] - '0');
    }
    return v;
  };
  auto Y = num(0, 4), M = num(5, 2), D = num(8, 2), h = num(11, 2), m = num(14, 2), s = num(17, 2);
  if (!Y || !M || !D || !h || !m || !s) return std::nullopt;
  if (*M < 1 || *M > 12 || *D < 1 || *D > 31 || *h > 23 || *m > 59 || *s > 60) return std::nullopt;
  std::size_t i = 19;
  if (i < t.size() && t[i] == '.') {
    ++i;
    std::size_t digits = 0;
    while (i < t.size() && std::isdigit(static_cast<unsigned char>(t[i]))) ++i, ++digits;
    if (digits == 0) return std::nullopt;
  }
  long long offset = 0;
  if (i < t.size() && (t[i] == 'Z' || t[i] == 'z')) {
    ++i;
  } else if (i + 6 == t.size() && (t[i] == '+' || t[i] == '-') && t[i + 3] == ':') {
    auto oh = num(i + 1, 2), om = num(i + 4, 2);
    if (!oh || !om || *oh > 23 || *om > 59) return std::nullopt;
    offset = (*oh * 3600LL + *om * 60LL) * (t[i] == '+' ? 1 : -1);
    i += 6;
  } else {
    return std::nullopt;  // XEP-0082 requires a zone
  }
  if (i != t.size()) return std::nullopt;
  std::tm tm{};
  tm.tm_year = *Y - 1900;
  tm.tm_mon = *M - 1;
  tm.tm_mday = *D;
  tm.tm_hour = *h;
  tm.tm_min = *m;
  tm.tm_sec = *s;
  return static_cast<long long>(timegm(&tm)) - offset;
}

std::string format_datetime(long long unix_seconds) {
  std::time_t tt = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

xml::Element render(Form form, const std::vector<Service>& services, std::string_view type_filter,
                    bool with_credentials) {
  if (form == Form::JingleInfo) return jingleinfo_payload(services);
  if (form == Form::Stun2007) {
    xml::Element st("stun", std::string(kNsProvisional));
    for (const auto& s : services) {
      if (s.type != "stun") continue;  // 0.1 lists STUN servers only
      xml::Element e("server", std::string(kNsProvisional));
      write_service(e, s, form, true, false);
      st.add(std::move(e));
    }
    return st;
  }
  xml::Element list("services", std::string(form_ns(form)));
  if (!type_filter.empty()) list.set("type", std::string(type_filter));
  for (const auto& s : services) {
    if (!type_filter.empty() && s.type != type_filter) continue;
    if (s.type == "google-relay") continue;
    xml::Element e("service", std::string(form_ns(form)));
    write_service(e, s, form, with_credentials, false);
    list.add(std::move(e));
  }
  return list;
}

xml::Element render_credentials(Form form, const std::vector<Service>& services) {
  xml::Element c("credentials", std::string(form_ns(form)));
  for (const auto& s : services) {
    xml::Element e("service", std::string(form_ns(form)));
    write_service(e, s, form, true, false);
    c.add(std::move(e));
  }
  return c;
}

xml::Element render_push(Form form, const std::vector<Service>& services, std::string_view type_filter) {
  if (form == Form::JingleInfo || form == Form::Stun2007) return render(form, services, type_filter, true);
  xml::Element list("services", std::string(form_ns(form)));
  if (!type_filter.empty()) list.set("type", std::string(type_filter));
  for (const auto& s : services) {
    xml::Element e("service", std::string(form_ns(form)));
    write_service(e, s, form, false, true);
    list.add(std::move(e));
  }
  return list;
}

}  // namespace xnet::xep0215
