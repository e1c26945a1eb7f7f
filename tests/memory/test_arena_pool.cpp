// The arena pool: arenas grow with concurrency, not with requests; leases are 64-byte aligned;
// trimming returns every byte to the budget; an arena larger than the budget is refused.
#include <gtest/gtest.h>

#include <cstdint>
#include <memory>

#include "core/error.h"
#include "memory/arena_pool.h"
#include "memory/budget.h"

namespace shoal {
namespace {

TEST(ArenaPool, ArenasGrowWithConcurrencyNotWithRequests) {
  auto budget = std::make_shared<MemoryBudget>(10 << 20);
  ArenaPool pool(budget);
  for (int i = 0; i < 5; ++i) {
    ArenaPool::Lease l = pool.acquire(static_cast<size_t>(1 + i) << 20, "m");
    EXPECT_GE(l.size(), static_cast<size_t>(1 + i) << 20);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(l.data()) % 64, 0u);
  }
  EXPECT_EQ(pool.arena_count(), 1u);  // the smaller one was replaced, not kept
  EXPECT_EQ(budget->used(), 5u << 20);
  {
    ArenaPool::Lease a = pool.acquire(1 << 20, "a");
    ArenaPool::Lease b = pool.acquire(1 << 20, "b");
    EXPECT_EQ(pool.arena_count(), 2u);
    EXPECT_EQ(pool.lent_count(), 2u);
  }
  EXPECT_EQ(pool.trim(SIZE_MAX), 6u << 20);
  EXPECT_EQ(budget->used(), 0u);
  EXPECT_THROW(pool.acquire(11 << 20, "too big"), Error);
  EXPECT_EQ(budget->used(), 0u);
}

}  // namespace
}  // namespace shoal
