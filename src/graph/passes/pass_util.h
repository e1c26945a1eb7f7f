// Helpers shared by the graph passes under graph/passes/; internal to them (nothing outside
// src/graph/passes/ includes this header).
#pragma once

#include <vector>

#include "graph/ir.h"

namespace shoal::passes_internal {

// The single live consumer of v, or -1.
inline NodeId sole_consumer(const std::vector<std::vector<NodeId>>& cons, ValueId v) {
  const auto& c = cons[static_cast<size_t>(v)];
  if (c.size() != 1) return -1;
  return c[0];
}

// float32 values: the passes that fuse or rewrite float arithmetic handle these only.
inline bool is_f32(const Value& v) { return v.dtype == DType::kF32; }

}  // namespace shoal::passes_internal
