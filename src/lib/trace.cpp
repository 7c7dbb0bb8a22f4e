// SPDX-License-Identifier: MIT
#include "trace.hpp"

namespace xnet {
Trace& null_trace() {
  static NullTrace t;
  return t;
}
}  // namespace xnet
