// The static activation planner: hand-computed plans and random validity checks. (The pinned
// arena sizes of the shared models, which need a compile, are in tests/runtime/.)
#include <gtest/gtest.h>

#include <random>
#include <vector>

#include "memory/planner.h"

namespace shoal {
namespace {

TEST(Planner, ChainReusesMemory) {
  // a(0..1) -> b(1..2) -> c(2..3): a and c never live together, so they share offset 0.
  std::vector<BufferRequest> r = {{640, 0, 1}, {128, 1, 2}, {640, 2, 3}};
  ArenaPlan p = plan_arena(r);
  EXPECT_EQ(p.naive_bytes, 640u + 128u + 640u);
  EXPECT_EQ(p.max_live_bytes, 768u);
  EXPECT_EQ(p.arena_bytes, 768u);
  EXPECT_EQ(p.offsets[0], p.offsets[2]);
  EXPECT_EQ(validate_plan(r, p), "");
}

TEST(Planner, AlignsTo64Bytes) {
  std::vector<BufferRequest> r = {{1, 0, 0}, {1, 0, 0}, {65, 0, 0}};
  ArenaPlan p = plan_arena(r);
  for (size_t o : p.offsets) EXPECT_EQ(o % kArenaAlignment, 0u);
  EXPECT_EQ(p.arena_bytes, 64u + 64u + 128u);
}

TEST(Planner, BestFitFillsGap) {
  // Two long-lived buffers with a hole between them once the middle one dies.
  std::vector<BufferRequest> r = {{1024, 0, 10}, {512, 0, 2}, {1024, 0, 10}, {448, 5, 6}};
  ArenaPlan p = plan_arena(r);
  EXPECT_EQ(validate_plan(r, p), "");
  EXPECT_EQ(p.arena_bytes, 2560u);  // the 448-byte buffer reuses the 512-byte hole
}

TEST(Planner, RandomPlansAreValidAndNearBound) {
  std::mt19937 rng(7);
  for (int trial = 0; trial < 50; ++trial) {
    std::vector<BufferRequest> r;
    int n = 5 + static_cast<int>(rng() % 60);
    for (int i = 0; i < n; ++i) {
      int a = static_cast<int>(rng() % 40);
      int b = a + static_cast<int>(rng() % 8);
      r.push_back({1 + rng() % 100000, a, b});
    }
    ArenaPlan p = plan_arena(r);
    ASSERT_EQ(validate_plan(r, p), "") << "trial " << trial;
    EXPECT_GE(p.arena_bytes, p.max_live_bytes);
    EXPECT_LE(p.arena_bytes, p.naive_bytes);
  }
}

TEST(Planner, EmptyIsZero) {
  ArenaPlan p = plan_arena({});
  EXPECT_EQ(p.arena_bytes, 0u);
}

}  // namespace
}  // namespace shoal
