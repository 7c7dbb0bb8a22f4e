// SPDX-License-Identifier: MIT
// Skipping a test whose real peer is missing, through ctest's skip mechanism: the case stops,
// the test binary exits with kSkipExitCode and ctest (SKIP_RETURN_CODE) reports it as skipped.
// Under CI=true a missing peer fails the case instead.
#pragma once

#include <cstdlib>
#include <string_view>

#include <catch2/catch.hpp>

namespace xnet::test {

/// Exit status of a test binary whose run skipped at least one case and failed none; every
/// discovered ctest entry carries SKIP_RETURN_CODE with this value (tests/CMakeLists.txt).
inline constexpr int kSkipExitCode = 77;

/// True when the environment has CI=true: there a missing peer is a failure, never a skip.
inline bool in_ci() {
  const char* v = std::getenv("CI");
  return v != nullptr && std::string_view(v) == "true";
}

/// Set once a case of this process has skipped; read by tests/catch_main.cpp.
inline bool& skipped() {
  static bool flag = false;
  return flag;
}

}  // namespace xnet::test

/// Skip the current test case, giving reason (anything Catch can stream), or fail it under
/// CI=true. Expands to a `return`: use it directly in a TEST_CASE or SECTION body.
#define XNET_SKIP(reason)                                                    \
  do {                                                                       \
    if (::xnet::test::in_ci()) FAIL("required peer missing under CI=true: " << reason); \
    WARN("SKIPPED: " << reason);                                             \
    ::xnet::test::skipped() = true;                                          \
    return;                                                                  \
  } while (0)

/// Skip (or under CI=true fail) unless found is true.
#define XNET_REQUIRE_PEER(found, reason) \
  do {                                   \
    if (!(found)) XNET_SKIP(reason);     \
  } while (0)

/// Skip (or under CI=true fail) when why, a std::optional<std::string> reason such as
/// Prosody::unavailable(), holds a value.
#define XNET_SKIP_IF(why)                                    \
  do {                                                       \
    if (auto xnet_skip_why_ = (why)) XNET_SKIP(*xnet_skip_why_); \
  } while (0)
