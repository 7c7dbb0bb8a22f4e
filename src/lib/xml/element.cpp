// SPDX-License-Identifier: MIT
#include "xml/element.hpp"

#include "xml/stream_parser.hpp"

#include <algorithm>

namespace xnet::xml {

const std::string* Element::attr(std::string_view key) const {
  for (const auto& [k, v] : attrs)
    if (k == key) return &v;
  return nullptr;
}

std::string Element::attr_or(std::string_view key, std::string_view fallback) const {
  const auto* v = attr(key);
  return v ? *v : std::string(fallback);
}

Element& Element::set(std::string key, std::string value) {
  for (auto& [k, v] : attrs) {
    if (k == key) {
      v = std::move(value);
      return *this;
    }
  }
  attrs.emplace_back(std::move(key), std::move(value));
  return *this;
}

void Element::erase(std::string_view key) {
  std::erase_if(attrs, [&](const auto& kv) { return kv.first == key; });
}

Element& Element::add(Element c) {
  children.push_back(std::move(c));
  return children.back();
}

Element& Element::add(std::string n, std::string namespace_uri) {
  return add(Element(std::move(n), namespace_uri.empty() ? ns : std::move(namespace_uri)));
}

Element& Element::set_text(std::string t) {
  text = std::move(t);
  return *this;
}

const Element* Element::child(std::string_view n, std::string_view namespace_uri) const {
  for (const auto& c : children)
    if (c.name == n && (namespace_uri.empty() || c.ns == namespace_uri)) return &c;
  return nullptr;
}

Element* Element::child(std::string_view n, std::string_view namespace_uri) {
  for (auto& c : children)
    if (c.name == n && (namespace_uri.empty() || c.ns == namespace_uri)) return &c;
  return nullptr;
}

const Element* Element::first_child() const { return children.empty() ? nullptr : &children.front(); }

std::vector<const Element*> Element::children_named(std::string_view n,
                                                    std::string_view namespace_uri) const {
  std::vector<const Element*> out;
  for (const auto& c : children)
    if (c.name == n && (namespace_uri.empty() || c.ns == namespace_uri)) out.push_back(&c);
  return out;
}

std::string escape_text(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      default: out += c;
    }
  }
  return out;
}

std::string escape_attr(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (char c : s) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '\'': out += "&apos;"; break;
      case '"': out += "&quot;"; break;
      case '\n': out += "&#10;"; break;
      case '\r': out += "&#13;"; break;
      case '\t': out += "&#9;"; break;
      default: out += c;
    }
  }
  return out;
}

namespace {
void write(const Element& e, std::string_view parent_ns, std::string& out) {
  out += '<';
  out += e.name;
  if (e.ns != parent_ns) {
    out += " xmlns='";
    out += escape_attr(e.ns);
    out += '\'';
  }
  for (const auto& [k, v] : e.attrs) {
    out += ' ';
    out += k;
    out += "='";
    out += escape_attr(v);
    out += '\'';
  }
  if (e.children.empty() && e.text.empty()) {
    out += "/>";
    return;
  }
  out += '>';
  out += escape_text(e.text);
  for (const auto& c : e.children) write(c, e.ns, out);
  out += "</";
  out += e.name;
  out += '>';
}
}  // namespace

std::string Element::str(std::string_view parent_ns) const {
  std::string out;
  write(*this, parent_ns, out);
  return out;
}

std::size_t Element::size_estimate() const {
  std::size_t n = 2 * name.size() + ns.size() + text.size() + 16;
  for (const auto& [k, v] : attrs) n += k.size() + v.size() + 4;
  for (const auto& c : children) n += c.size_estimate();
  return n;
}

namespace {
// Collects the single root element of a document through the stream parser's machinery.
class DocumentHandler final : public StreamHandler {
 public:
  void on_open(const Element&) override {}
  void on_stanza(Element root) override {
    root_ = std::move(root);
    closed_ = true;
  }
  void on_close() override {}
  Element root_;
  bool closed_ = false;
};
}  // namespace

Result<Element> parse(std::string_view document, ParseLimits limits) {
  if (document.size() > limits.max_bytes)
    return fail(Category::Protocol, "XML document larger than " + std::to_string(limits.max_bytes) + " bytes");
  DocumentHandler h;
  StreamParser p(h, {.max_stanza_bytes = limits.max_bytes, .max_depth = limits.max_depth,
                     .document_mode = true});
  if (auto r = p.feed(document, true); !r) return fail(r.error());
  if (!h.closed_) return fail(Category::Protocol, "XML document is incomplete");
  return std::move(h.root_);
}

}  // namespace xnet::xml
