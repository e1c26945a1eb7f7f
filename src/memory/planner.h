// The static activation planner: given each buffer's size and its liveness interval over the
// execution order, assign byte offsets in one arena so that buffers live at the same time never
// overlap. Knows nothing about operators or backends.
//
// Algorithm (greedy by size, as in TFLite Micro's greedy planner and Pisarchyk & Lee 2020):
// sort buffers by size, largest first; place each at the lowest offset of the best-fitting gap
// (smallest gap that holds it) among already-placed buffers whose intervals overlap its own.
// O(n^2) in the number of buffers; n is a few hundred for YOLO models.
#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace shoal {

struct BufferRequest {
  size_t bytes = 0;
  int first = 0;  // index of the step that writes it (or -1 for "before the first step")
  int last = 0;   // index of the last step that reads it (inclusive)
};

struct ArenaPlan {
  std::vector<size_t> offsets;  // parallel to the requests
  size_t arena_bytes = 0;       // planned peak
  size_t naive_bytes = 0;       // sum of all buffers (no reuse)
  size_t max_live_bytes = 0;    // lower bound: the most bytes live at any one step
};

inline constexpr size_t kArenaAlignment = 64;

ArenaPlan plan_arena(const std::vector<BufferRequest>& requests);

// Checks that no two buffers with overlapping intervals overlap in memory and all fit in the
// arena; returns an empty string when valid, else a description of the first conflict.
std::string validate_plan(const std::vector<BufferRequest>& requests, const ArenaPlan& plan);

}  // namespace shoal
