// SPDX-License-Identifier: MIT
// The field-table mechanism: one table gives the JSON and the text form.
#include <sstream>

#include <catch2/catch.hpp>

#include "cmd/fields.hpp"

using namespace xnet::cmd;

namespace {
enum class Colour { Red, Green };
constexpr EnumNames<Colour, 2> kColourNames{{{{Colour::Red, "red"}, {Colour::Green, "green"}}}};

struct Sample {
  std::string name;
  Colour colour = Colour::Red;
  std::optional<int> port;
  double elapsed_ms = 0;
};

const FieldTable<Sample> kSampleFields = {
    {"name", "name", [](const Sample& s) { return nlohmann::json(s.name); }},
    {"colour", "colour", [](const Sample& s) { return nlohmann::json(kColourNames(s.colour)); }},
    {"port", "port", [](const Sample& s) { return s.port ? nlohmann::json(*s.port) : nlohmann::json(nullptr); }},
    {"elapsed_ms", "elapsed", [](const Sample& s) { return nlohmann::json(round_ms(s.elapsed_ms)); },
     [](const Sample& s) { return std::to_string(static_cast<int>(round_ms(s.elapsed_ms))) + " ms"; }},
    {"internal", "", [](const Sample&) { return nlohmann::json(true); }},
};
}  // namespace

TEST_CASE("one field table gives both forms", "[cmd][fields]") {
  Sample s{"alpha", Colour::Green, 5222, 1021.247604};
  auto j = fields_json(kSampleFields, s);
  CHECK(j == nlohmann::json{{"name", "alpha"}, {"colour", "green"}, {"port", 5222}, {"elapsed_ms", 1021.2}, {"internal", true}});
  std::ostringstream os;
  fields_text(os, kSampleFields, s, Style{});
  CHECK(os.str() == "name     alpha\ncolour   green\nport     5222\nelapsed  1021 ms\n");
}

TEST_CASE("null fields are left out of both forms", "[cmd][fields]") {
  Sample s{"beta", Colour::Red, std::nullopt, 0.04};
  auto j = fields_json(kSampleFields, s);
  CHECK_FALSE(j.contains("port"));
  CHECK(j["elapsed_ms"] == 0.0);
  std::ostringstream os;
  fields_text(os, kSampleFields, s, Style{});
  CHECK(os.str().find("port") == std::string::npos);
  CHECK(kColourNames(Colour::Red) == "red");
}

TEST_CASE("durations round to 0.1 ms", "[cmd][fields]") {
  CHECK(round_ms(1021.247604) == 1021.2);
  CHECK(round_ms(0.05) == 0.1);
  CHECK(round_ms(std::chrono::microseconds(1500)) == 1.5);
}

TEST_CASE("fields_block: texts continue a line, a leading newline begins one", "[cmd][fields]") {
  const FieldTable<Sample> table = {
      {"name", "name", [](const Sample& s) { return nlohmann::json(s.name); }},
      {"colour", "colour", [](const Sample& s) { return nlohmann::json(kColourNames(s.colour)); }},
      {"port", "port", [](const Sample& s) { return s.port ? nlohmann::json(*s.port) : nlohmann::json(nullptr); },
       [](const Sample& s) { return "\nport " + std::to_string(*s.port); }},
      {"internal", "", [](const Sample&) { return nlohmann::json(true); }, [](const Sample&) { return std::string(); }},
      {"elapsed_ms", "elapsed", [](const Sample& s) { return nlohmann::json(round_ms(s.elapsed_ms)); },
       [](const Sample& s) { return "\nelapsed " + format_ms(s.elapsed_ms); }},
  };
  Sample s{"alpha", Colour::Green, 5222, 15.06};
  CHECK(fields_block(table, s, {"> ", "    ", ", "}) == "> alpha, green\n    port 5222\n    elapsed 15.1 ms");
  s.port.reset();
  auto painted = fields_block(table, s, {"", "  ", " "}, [](const Field<Sample>& f, std::string t) {
    return f.key == "colour" ? "*" + t + "*" : t;
  });
  CHECK(painted == "alpha *green*\n  elapsed 15.1 ms");
}
