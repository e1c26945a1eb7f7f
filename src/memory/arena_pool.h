// ArenaPool: activation arenas shared by every loaded model. An execution borrows one arena at
// least as large as its plan's peak and returns it when done; an idle arena is reused by the next
// execution of any model. The pool therefore holds at most one arena per execution that was ever
// in flight at once: activation memory grows with concurrency, not with the number of models.
//
// Arenas are charged to the budget (MemoryUse::kArenas) before they are allocated. A borrow that
// needs a bigger arena than any idle one replaces the largest idle one (so the count stays put).
// trim() frees idle arenas when the budget needs room. Thread-safe.
#pragma once

#include <cstddef>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

namespace shoal {

class MemoryBudget;

class ArenaPool {
 public:
  explicit ArenaPool(std::shared_ptr<MemoryBudget> budget = nullptr);
  ~ArenaPool();
  ArenaPool(const ArenaPool&) = delete;
  ArenaPool& operator=(const ArenaPool&) = delete;

  class Lease {
   public:
    Lease() = default;
    Lease(Lease&& o) noexcept;
    Lease& operator=(Lease&& o) noexcept;
    ~Lease();
    void* data() const { return data_; }
    size_t size() const { return size_; }
    explicit operator bool() const { return data_ != nullptr; }

   private:
    friend class ArenaPool;
    void reset();
    ArenaPool* pool_ = nullptr;
    void* data_ = nullptr;
    size_t size_ = 0;
  };

  // An arena of at least `bytes` (64-byte aligned). Throws Error(kOutOfMemory) when the budget
  // cannot hold it even after reclaiming; `what` names the borrower in that message.
  Lease acquire(size_t bytes, const std::string& what);
  // Frees idle arenas until at least `bytes` are freed (or none is left); returns bytes freed.
  size_t trim(size_t bytes);

  size_t total_bytes() const;   // all arenas, idle and lent
  size_t arena_count() const;
  size_t lent_count() const;
  size_t peak_lent() const;     // most arenas lent at once

 private:
  struct Arena {
    void* data;
    size_t size;
  };
  void give_back(void* data, size_t size);
  void free_arena(const Arena& a);

  std::shared_ptr<MemoryBudget> budget_;
  mutable std::mutex mu_;
  std::vector<Arena> idle_;
  size_t total_ = 0;
  size_t count_ = 0;
  size_t lent_ = 0;
  size_t peak_lent_ = 0;
};

}  // namespace shoal
