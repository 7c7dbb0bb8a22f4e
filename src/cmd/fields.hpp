// SPDX-License-Identifier: MIT
// One field table per result type drives both output forms (the idea of curl's
// src/tool_writeout.c `variables[]`): each Field names its JSON key, its text label and how to
// get the value, so a field cannot reach one form and miss the other. Enums are named once, in an
// EnumNames table, and serialised through it in both forms.
#pragma once

#include <array>
#include <functional>
#include <ostream>
#include <sstream>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "cmd/common.hpp"

namespace xnet::cmd {

/// One output field of T. get returns the value as JSON; a null value is left out of both forms
/// unless keep_null. text formats the value for people (default: strings as they are, other
/// values as compact JSON); an empty label keeps the field out of the text form (e.g. a list
/// the text renderer prints itself) but never out of JSON.
template <class T>
struct Field {
  std::string_view key;
  std::string_view label;
  std::function<nlohmann::json(const T&)> get;
  std::function<std::string(const T&)> text = {};
  bool keep_null = false;
};

template <class T>
using FieldTable = std::vector<Field<T>>;

/// What get returns for a field that does not apply to this value (e.g. `expires` on a PASS
/// `closed` event): left out of both forms, whatever keep_null says.
inline nlohmann::json absent() { return nlohmann::json(nlohmann::json::value_t::discarded); }

/// Whether a field's value is printed at all (not absent, and not null unless keep_null).
inline bool present(const nlohmann::json& v, bool keep_null) {
  return !v.is_discarded() && (keep_null || !v.is_null());
}

/// The JSON object of value: every field of table, in order.
template <class T>
nlohmann::json fields_json(const FieldTable<T>& table, const T& value) {
  nlohmann::json j = nlohmann::json::object();
  for (const auto& f : table) {
    nlohmann::json v = f.get(value);
    if (!present(v, f.keep_null)) continue;
    j[std::string(f.key)] = std::move(v);
  }
  return j;
}

/// The text form of one field's value.
template <class T>
std::string field_text(const Field<T>& f, const T& value) {
  if (f.text) return f.text(value);
  nlohmann::json v = f.get(value);
  if (v.is_string()) return v.template get<std::string>();
  return v.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

/// "label  value" lines for every labelled, non-null field, labels padded to one column.
template <class T>
void fields_text(std::ostream& os, const FieldTable<T>& table, const T& value, const Style& style) {
  std::size_t width = 0;
  for (const auto& f : table) width = std::max(width, f.label.size());
  for (const auto& f : table) {
    if (f.label.empty()) continue;
    if (auto v = f.get(value); v.is_discarded() || v.is_null()) continue;
    os << style.bold() << f.label << style.reset() << std::string(width - f.label.size() + 2, ' ')
       << field_text(f, value) << '\n';
  }
}

/// One line of a stream event: each present field's text (its text function, else "label
/// value", else the value), in table order, separated by spaces; empty texts are skipped (the
/// field is shown by another one's text, e.g. `ip` inside `endpoint`).
template <class T>
std::string fields_line(const FieldTable<T>& table, const T& value) {
  std::string line;
  for (const auto& f : table) {
    nlohmann::json v = f.get(value);
    if (v.is_discarded() || v.is_null()) continue;
    std::string t = field_text(f, value);
    if (!f.text && !f.label.empty()) t = std::string(f.label) + " " + t;
    if (t.empty()) continue;
    line += (line.empty() ? "" : " ") + t;
  }
  return line;
}

/// Where fields_block puts texts: the indent of the first line and of the lines after it, and
/// what joins two texts on one line.
struct BlockLayout {
  std::string_view first_indent;
  std::string_view indent;
  std::string_view sep;
};

/// Text lines from value's present fields, in table order, without a final newline: each
/// field's text continues the current line after layout.sep, or begins a line of its own when
/// it starts with '\n' (lines inside a text keep their own indentation); an empty text is
/// shown by another field's. paint(field, text) may colour a text for a terminal.
template <class T, class Paint>
std::string fields_block(const FieldTable<T>& table, const T& value, const BlockLayout& layout, Paint&& paint) {
  std::string out;
  bool open = false;
  for (const auto& f : table) {
    if (auto v = f.get(value); v.is_discarded() || v.is_null()) continue;
    std::string t = field_text(f, value);
    const bool own_line = !t.empty() && t.front() == '\n';
    if (own_line) t.erase(0, 1);
    if (t.empty()) continue;
    t = paint(f, std::move(t));
    if (!open)
      out += layout.first_indent;
    else if (own_line)
      out += "\n" + std::string(layout.indent);
    else
      out += layout.sep;
    out += t;
    open = true;
  }
  return out;
}

/// fields_block without colour.
template <class T>
std::string fields_block(const FieldTable<T>& table, const T& value, const BlockLayout& layout) {
  return fields_block(table, value, layout, [](const Field<T>&, std::string t) { return t; });
}

/// With -v in text mode, the labelled fields as progress lines "prefix: label  value" on
/// stderr (the text result itself is a sentence for people).
template <class T>
void progress_fields(Output& out, std::string_view prefix, const FieldTable<T>& table, const T& value) {
  std::ostringstream fields;
  fields_text(fields, table, value, Style{});
  std::istringstream lines(fields.str());
  for (std::string line; std::getline(lines, line);) out.text_progress(1, std::string(prefix) + ": " + line);
}

/// The names of an enum's values, declared once next to the enum's renderer:
/// `constexpr EnumNames<Kind, 3> kKindNames{{{Kind::New, "new"}, ...}};`.
template <class E, std::size_t N>
struct EnumNames {
  std::array<std::pair<E, std::string_view>, N> names;
  constexpr std::string_view operator()(E e) const {
    for (const auto& [v, n] : names)
      if (v == e) return n;
    return "unknown";
  }
};

}  // namespace xnet::cmd
