#include "memory/planner.h"

#include <algorithm>
#include <numeric>

namespace shoal {
namespace {

size_t align_up(size_t n) { return (n + kArenaAlignment - 1) / kArenaAlignment * kArenaAlignment; }

bool overlaps(const BufferRequest& a, const BufferRequest& b) {
  return a.first <= b.last && b.first <= a.last;
}

}  // namespace

ArenaPlan plan_arena(const std::vector<BufferRequest>& requests) {
  ArenaPlan plan;
  const size_t n = requests.size();
  plan.offsets.assign(n, 0);
  if (n == 0) return plan;

  int lo = 0, hi = 0;
  for (const BufferRequest& r : requests) {
    plan.naive_bytes += align_up(r.bytes);
    lo = std::min(lo, r.first);
    hi = std::max(hi, r.last);
  }
  // Max-live lower bound via a sweep over steps (difference array).
  std::vector<long long> delta(static_cast<size_t>(hi - lo + 2), 0);
  for (const BufferRequest& r : requests) {
    delta[static_cast<size_t>(r.first - lo)] += static_cast<long long>(align_up(r.bytes));
    delta[static_cast<size_t>(r.last - lo + 1)] -= static_cast<long long>(align_up(r.bytes));
  }
  long long live = 0;
  for (long long d : delta) {
    live += d;
    plan.max_live_bytes = std::max(plan.max_live_bytes, static_cast<size_t>(live));
  }

  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    if (requests[a].bytes != requests[b].bytes) return requests[a].bytes > requests[b].bytes;
    return requests[a].first < requests[b].first;
  });

  std::vector<size_t> placed;  // indices, kept sorted by offset
  placed.reserve(n);
  std::vector<std::pair<size_t, size_t>> busy;  // [offset, end) of overlapping placed buffers
  for (size_t idx : order) {
    const BufferRequest& r = requests[idx];
    size_t need = align_up(r.bytes);
    busy.clear();
    for (size_t p : placed) {
      if (overlaps(requests[p], r)) busy.emplace_back(plan.offsets[p], plan.offsets[p] + align_up(requests[p].bytes));
    }
    std::sort(busy.begin(), busy.end());
    size_t best = SIZE_MAX, best_gap = SIZE_MAX, cursor = 0;
    for (const auto& [b, e] : busy) {
      if (b > cursor) {
        size_t gap = b - cursor;
        if (gap >= need && gap < best_gap) {
          best_gap = gap;
          best = cursor;
        }
      }
      cursor = std::max(cursor, e);
    }
    if (best == SIZE_MAX) best = cursor;  // after the last overlapping buffer
    plan.offsets[idx] = best;
    plan.arena_bytes = std::max(plan.arena_bytes, best + need);
    placed.push_back(idx);
  }
  return plan;
}

std::string validate_plan(const std::vector<BufferRequest>& requests, const ArenaPlan& plan) {
  for (size_t i = 0; i < requests.size(); ++i) {
    if (plan.offsets[i] + requests[i].bytes > plan.arena_bytes) {
      return "buffer " + std::to_string(i) + " ends past the arena";
    }
    for (size_t j = i + 1; j < requests.size(); ++j) {
      if (!overlaps(requests[i], requests[j]) || requests[i].bytes == 0 || requests[j].bytes == 0) {
        continue;
      }
      size_t a0 = plan.offsets[i], a1 = a0 + requests[i].bytes;
      size_t b0 = plan.offsets[j], b1 = b0 + requests[j].bytes;
      if (a0 < b1 && b0 < a1) {
        return "buffers " + std::to_string(i) + " and " + std::to_string(j) +
               " are live together and overlap";
      }
    }
  }
  return {};
}

}  // namespace shoal
