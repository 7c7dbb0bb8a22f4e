// SPDX-License-Identifier: MIT
#include "mdns/instance.hpp"

#include <pwd.h>
#include <unistd.h>

#include <cstdlib>

namespace xnet::mdns {

bool valid_utf8(std::string_view s) {
  std::size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    std::size_t len;
    std::uint32_t cp;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      len = 2;
      cp = c & 0x1F;
    } else if ((c & 0xF0) == 0xE0) {
      len = 3;
      cp = c & 0x0F;
    } else if ((c & 0xF8) == 0xF0) {
      len = 4;
      cp = c & 0x07;
    } else {
      return false;
    }
    if (i + len > s.size()) return false;
    for (std::size_t k = 1; k < len; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((len == 2 && cp < 0x80) || (len == 3 && cp < 0x800) || (len == 4 && cp < 0x10000))
      return false;
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += len;
  }
  return true;
}

bool valid_machine(std::string_view m) {
  if (m.empty() || m.size() > kMaxLabel || m.front() == '-' || m.back() == '-') return false;
  for (char c : m) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
    if (!ok) return false;
  }
  return true;
}

Result<InstanceName> parse_instance(std::string_view text) {
  auto at = text.rfind('@');
  if (at == std::string_view::npos)
    // Appends: "literal" + std::string gives a GCC 12 -O3 -Wrestrict false positive (PR 105651).
    return fail(Category::Input, std::string("'").append(text).append("' is not of the form user@machine"));
  InstanceName n{std::string(text.substr(0, at)), std::string(text.substr(at + 1))};
  if (n.user.empty()) return fail(Category::Input, "the user part of '" + std::string(text) + "' is empty");
  if (!valid_utf8(n.user))
    return fail(Category::Input, "the user part of the instance name is not valid UTF-8");
  for (char c : n.user)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F)
      return fail(Category::Input, "the user part of the instance name contains a control character");
  if (!valid_machine(n.machine))
    return fail(Category::Input, "machine part '" + n.machine +
                                     "' must be an ASCII host label (letters, digits, '-')");
  if (text.size() > kMaxLabel)
    return fail(Category::Input, "instance name '" + std::string(text) + "' is " +
                                     std::to_string(text.size()) + " bytes; a DNS label holds at most 63");
  return n;
}

bool valid_instance_label(std::string_view label) {
  if (label.empty() || label.size() > kMaxLabel) return false;
  if (label.find('\0') != std::string_view::npos) return false;
  return valid_utf8(label);
}

namespace {

// Cut s to at most max bytes without splitting a UTF-8 sequence.
std::string utf8_prefix(std::string_view s, std::size_t max) {
  if (s.size() <= max) return std::string(s);
  std::size_t n = max;
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;
  return std::string(s.substr(0, n));
}

}  // namespace

unsigned rename_counter(std::string_view user) {
  auto dash = user.rfind('-');
  if (dash == std::string_view::npos || dash + 1 >= user.size() || dash == 0) return 0;
  auto digits = user.substr(dash + 1);
  if (digits.size() > 6 || digits.front() == '0') return 0;
  unsigned v = 0;
  for (char c : digits) {
    if (c < '0' || c > '9') return 0;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  return v;
}

std::string base_user(std::string_view user) {
  if (rename_counter(user) == 0) return std::string(user);
  return std::string(user.substr(0, user.rfind('-')));
}

InstanceName renamed(const InstanceName& name, unsigned n) {
  std::string suffix = std::string("-").append(std::to_string(n));  // not "-" + ...: GCC 12 -Wrestrict (PR 105651)
  std::string base = base_user(name.user);
  std::size_t room = kMaxLabel - std::min(kMaxLabel, name.machine.size() + 1 + suffix.size());
  return InstanceName{utf8_prefix(base, room) + suffix, name.machine};
}

std::string renamed_machine(std::string_view machine, unsigned n) {
  std::string suffix = std::string("-").append(std::to_string(n));  // not "-" + ...: GCC 12 -Wrestrict (PR 105651)
  std::string base(machine);
  if (rename_counter(base) != 0) base = base_user(base);
  if (base.size() + suffix.size() > kMaxLabel) base.resize(kMaxLabel - suffix.size());
  return base + suffix;
}

std::string escape_label(std::string_view label) {
  std::string out;
  for (char c : label) {
    if (c == '.' || c == '\\') out.push_back('\\');
    out.push_back(c);
  }
  return out;
}

Result<std::string> unescape_label(std::string_view text) {
  std::string out;
  for (std::size_t i = 0; i < text.size(); ++i) {
    if (text[i] != '\\') {
      out.push_back(text[i]);
      continue;
    }
    if (i + 1 >= text.size()) return fail(Category::Input, "dangling '\\' at the end of a name");
    char n = text[i + 1];
    if (n >= '0' && n <= '9') {
      if (i + 3 >= text.size()) return fail(Category::Input, "truncated \\DDD escape in a name");
      int v = 0;
      for (int k = 1; k <= 3; ++k) {
        char d = text[i + static_cast<std::size_t>(k)];
        if (d < '0' || d > '9') return fail(Category::Input, "malformed \\DDD escape in a name");
        v = v * 10 + (d - '0');
      }
      if (v > 255) return fail(Category::Input, "\\DDD escape above 255 in a name");
      out.push_back(static_cast<char>(v));
      i += 3;
    } else {
      out.push_back(n);
      ++i;
    }
  }
  return out;
}

std::string sanitize_machine(std::string_view host) {
  auto dot = host.find('.');
  if (dot != std::string_view::npos) host = host.substr(0, dot);
  std::string out;
  for (char c : host) {
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    bool ok = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
    out.push_back(ok ? c : '-');
  }
  while (!out.empty() && out.front() == '-') out.erase(out.begin());
  while (!out.empty() && out.back() == '-') out.pop_back();
  if (out.size() > kMaxLabel) out.resize(kMaxLabel);
  while (!out.empty() && out.back() == '-') out.pop_back();
  return out.empty() ? "localhost" : out;
}

InstanceName default_instance() {
  std::string user;
  for (const char* var : {"USER", "LOGNAME"}) {
    const char* v = std::getenv(var);
    if (v && *v) {
      user = v;
      break;
    }
  }
  if (user.empty()) {
    if (const passwd* pw = getpwuid(getuid()); pw && pw->pw_name) user = pw->pw_name;
  }
  if (user.empty() || !valid_utf8(user)) user = "user";
  char host[256] = {};
  if (gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
  InstanceName n{user, sanitize_machine(host)};
  if (n.machine.size() > 48) n.machine.resize(48);
  if (n.str().size() > kMaxLabel) n.user = utf8_prefix(n.user, kMaxLabel - n.machine.size() - 1);
  return n;
}

}  // namespace xnet::mdns
