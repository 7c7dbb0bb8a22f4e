// SPDX-License-Identifier: MIT
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "error.hpp"

namespace xnet::xml {

/// A neutral XML element tree for stanzas, shared by the client and the server (both built by
/// StreamParser). Names carry no prefix; `ns` is the resolved namespace URI. Namespace
/// declarations are not kept in `attrs` (except on a stream root, see StreamParser). Mixed
/// content is flattened: `text` is the concatenated character data.
struct Element {
  std::string name;
  std::string ns;
  std::vector<std::pair<std::string, std::string>> attrs;
  std::vector<Element> children;
  std::string text;

  Element() = default;
  explicit Element(std::string n, std::string namespace_uri = {})
      : name(std::move(n)), ns(std::move(namespace_uri)) {}

  /// The value of attribute key, or nullptr.
  const std::string* attr(std::string_view key) const;
  /// The value of attribute key, or fallback when absent.
  std::string attr_or(std::string_view key, std::string_view fallback = {}) const;
  /// Set (or replace) attribute key to value; returns *this for chaining.
  Element& set(std::string key, std::string value);
  /// Remove attribute key if present.
  void erase(std::string_view key);
  /// Append child and return a reference to the stored copy.
  Element& add(Element child);
  /// Append a child named name in namespace namespace_uri (inherits this->ns when empty).
  Element& add(std::string name, std::string namespace_uri = {});
  /// Set the text content; returns *this.
  Element& set_text(std::string t);
  /// First child named name (and in namespace namespace_uri unless empty), or nullptr.
  const Element* child(std::string_view name, std::string_view namespace_uri = {}) const;
  Element* child(std::string_view name, std::string_view namespace_uri = {});
  /// The first child element whatever its name, or nullptr.
  const Element* first_child() const;
  /// All children named name (any namespace when namespace_uri is empty).
  std::vector<const Element*> children_named(std::string_view name,
                                             std::string_view namespace_uri = {}) const;
  /// Serialize as XML. `xmlns` is written where ns differs from parent_ns.
  std::string str(std::string_view parent_ns = {}) const;
  /// Approximate serialized size in bytes (used for limits).
  std::size_t size_estimate() const;
};

/// Escape s for character data (&, <, >).
std::string escape_text(std::string_view s);
/// Escape s for a single- or double-quoted attribute value.
std::string escape_attr(std::string_view s);

struct ParseLimits {
  std::size_t max_bytes = 1 << 20;  ///< total document / per-stanza byte limit
  std::size_t max_depth = 64;       ///< element nesting limit
};

/// Parse one complete XML document (e.g. a fixture or a reply). DTDs, entity declarations,
/// processing instructions and undeclared prefixes are refused. Errors are Category::Protocol,
/// with the parser's line/column in the message.
Result<Element> parse(std::string_view document, ParseLimits limits = {});

}  // namespace xnet::xml
