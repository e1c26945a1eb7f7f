// MemoryContext: the memory a set of models draws from — one MemoryBudget, the content-addressed
// WeightStore charged to it and the ArenaPool charged to it. The model manager owns one for its
// repository; a model loaded on its own (the CLI's run, bench, detect) gets one with an
// unlimited budget, so every path accounts every byte the same way. Knows nothing about models.
#pragma once

#include <cstddef>
#include <memory>

#include "memory/arena_pool.h"
#include "memory/budget.h"
#include "memory/weight_store.h"

namespace shoal {

class MemoryContext {
 public:
  // 0 = unlimited.
  explicit MemoryContext(size_t budget_bytes = 0)
      : budget_(std::make_shared<MemoryBudget>(budget_bytes)),
        weights_(budget_),
        arenas_(budget_) {}
  MemoryContext(const MemoryContext&) = delete;
  MemoryContext& operator=(const MemoryContext&) = delete;

  MemoryBudget& budget() { return *budget_; }
  const MemoryBudget& budget() const { return *budget_; }
  WeightStore& weights() { return weights_; }
  ArenaPool& arenas() { return arenas_; }
  const ArenaPool& arenas() const { return arenas_; }

 private:
  std::shared_ptr<MemoryBudget> budget_;
  WeightStore weights_;
  ArenaPool arenas_;
};

}  // namespace shoal
