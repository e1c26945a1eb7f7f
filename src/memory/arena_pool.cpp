#include "memory/arena_pool.h"

#include <algorithm>
#include <cstdlib>

#include "core/error.h"
#include "memory/budget.h"

namespace shoal {

ArenaPool::ArenaPool(std::shared_ptr<MemoryBudget> budget) : budget_(std::move(budget)) {}

ArenaPool::~ArenaPool() {
  std::lock_guard<std::mutex> lock(mu_);
  for (const Arena& a : idle_) free_arena(a);
  idle_.clear();
}

void ArenaPool::free_arena(const Arena& a) {
  std::free(a.data);
  total_ -= a.size;
  count_--;
  if (budget_) budget_->release(a.size, MemoryUse::kArenas);
}

ArenaPool::Lease ArenaPool::acquire(size_t bytes, const std::string& what) {
  bytes = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
  Arena replaced{nullptr, 0};
  {
    std::lock_guard<std::mutex> lock(mu_);
    // The smallest idle arena that fits.
    auto best = idle_.end();
    for (auto it = idle_.begin(); it != idle_.end(); ++it) {
      if (it->size >= bytes && (best == idle_.end() || it->size < best->size)) best = it;
    }
    if (best != idle_.end()) {
      Lease l;
      l.pool_ = this;
      l.data_ = best->data;
      l.size_ = best->size;
      idle_.erase(best);
      lent_++;
      peak_lent_ = std::max(peak_lent_, lent_);
      return l;
    }
    // None fits: replace the largest idle one so the arena count does not grow.
    if (!idle_.empty()) {
      auto largest = std::max_element(idle_.begin(), idle_.end(),
                                      [](const Arena& a, const Arena& b) { return a.size < b.size; });
      replaced = *largest;
      idle_.erase(largest);
      free_arena(replaced);
    }
  }
  if (budget_) budget_->charge(bytes, MemoryUse::kArenas, what + " (activation arena)");
  void* p = std::aligned_alloc(64, bytes);
  if (!p) {
    if (budget_) budget_->release(bytes, MemoryUse::kArenas);
    fail(ErrorCode::kOutOfMemory, "{}: cannot allocate an arena of {}", what, format_bytes(bytes));
  }
  std::lock_guard<std::mutex> lock(mu_);
  total_ += bytes;
  count_++;
  lent_++;
  peak_lent_ = std::max(peak_lent_, lent_);
  Lease l;
  l.pool_ = this;
  l.data_ = p;
  l.size_ = bytes;
  return l;
}

void ArenaPool::give_back(void* data, size_t size) {
  std::lock_guard<std::mutex> lock(mu_);
  lent_--;
  idle_.push_back({data, size});
}

size_t ArenaPool::trim(size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  size_t freed = 0;
  std::sort(idle_.begin(), idle_.end(), [](const Arena& a, const Arena& b) { return a.size < b.size; });
  while (!idle_.empty() && freed < bytes) {
    Arena a = idle_.back();  // largest first
    idle_.pop_back();
    freed += a.size;
    free_arena(a);
  }
  return freed;
}

size_t ArenaPool::total_bytes() const {
  std::lock_guard<std::mutex> lock(mu_);
  return total_;
}
size_t ArenaPool::arena_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return count_;
}
size_t ArenaPool::lent_count() const {
  std::lock_guard<std::mutex> lock(mu_);
  return lent_;
}
size_t ArenaPool::peak_lent() const {
  std::lock_guard<std::mutex> lock(mu_);
  return peak_lent_;
}

ArenaPool::Lease::Lease(Lease&& o) noexcept : pool_(o.pool_), data_(o.data_), size_(o.size_) {
  o.pool_ = nullptr;
  o.data_ = nullptr;
  o.size_ = 0;
}

ArenaPool::Lease& ArenaPool::Lease::operator=(Lease&& o) noexcept {
  if (this != &o) {
    reset();
    pool_ = o.pool_;
    data_ = o.data_;
    size_ = o.size_;
    o.pool_ = nullptr;
    o.data_ = nullptr;
    o.size_ = 0;
  }
  return *this;
}

ArenaPool::Lease::~Lease() { reset(); }

void ArenaPool::Lease::reset() {
  if (pool_ && data_) pool_->give_back(data_, size_);
  pool_ = nullptr;
  data_ = nullptr;
  size_ = 0;
}

}  // namespace shoal
