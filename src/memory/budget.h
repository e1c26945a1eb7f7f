// MemoryBudget: one hard limit in bytes and the bytes accounted against it. Every byte the
// runtime holds long-term (weight blobs, arenas, per-model program memory) is charged before it
// is allocated and released after it is freed, so `used() <= limit()` holds at every moment.
//
// When a charge does not fit, the budget asks its reclaimer (the model manager: drop idle arenas,
// evict idle unpinned models in LRU order) to free room, and fails with the numbers when that
// cannot free enough. A Reservation sets bytes aside up front (a model load reserves its
// estimate, so the load never half-happens); charges made on the reserving thread while it is
// active draw from it first. Thread-safe. Knows nothing about models or operators.
#pragma once

#include <atomic>
#include <cstddef>
#include <functional>
#include <mutex>
#include <string>

namespace shoal {

// What a charge is for (reported per category).
enum class MemoryUse : int { kWeights = 0, kArenas, kModels, kReserved, kCount };
const char* memory_use_name(MemoryUse u);

class MemoryBudget {
 public:
  // Frees at least `needed` bytes if it can (by releasing charges); returns false when nothing
  // more can be freed. Called without any budget lock held; `what` says who asks.
  using Reclaimer = std::function<bool(size_t needed, const std::string& what)>;

  // 0 = unlimited.
  explicit MemoryBudget(size_t limit_bytes = 0);
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  size_t limit() const { return limit_; }
  size_t used() const { return used_.load(std::memory_order_acquire); }
  size_t peak() const { return peak_.load(std::memory_order_acquire); }
  size_t used(MemoryUse u) const {
    return by_use_[static_cast<int>(u)].load(std::memory_order_acquire);
  }
  size_t available() const;

  void set_reclaimer(Reclaimer r);

  // Charges `bytes` for `use`, drawing first from this thread's active Reservation (if any),
  // else from the free budget, reclaiming when needed. Throws Error(kOutOfMemory) naming `what`,
  // the bytes needed, the limit, what is in use and what could not be freed.
  void charge(size_t bytes, MemoryUse use, const std::string& what);
  // Charges only if it fits now, without reclaiming; returns false otherwise.
  bool try_charge(size_t bytes, MemoryUse use);
  void release(size_t bytes, MemoryUse use);

  // Bytes set aside for one operation (e.g. a model load). While alive on this thread, charge()
  // draws from it; on destruction the unused remainder is released.
  class Reservation {
   public:
    Reservation(MemoryBudget& budget, size_t bytes, const std::string& what);
    ~Reservation();
    Reservation(const Reservation&) = delete;
    Reservation& operator=(const Reservation&) = delete;
    size_t remaining() const { return remaining_; }

    // The calling thread's innermost active Reservation, or nullptr.
    static Reservation* active();

    // Makes `r` (another thread's, or nullptr) active on this thread for its lifetime, so work
    // handed to a helper thread while the reserving thread waits for it draws from the same
    // reservation. The reserving thread must not use `r` meanwhile.
    class Lend {
     public:
      explicit Lend(Reservation* r);
      ~Lend();
      Lend(const Lend&) = delete;
      Lend& operator=(const Lend&) = delete;

     private:
      Reservation* prev_;
    };

   private:
    friend class MemoryBudget;
    MemoryBudget& budget_;
    size_t remaining_;
    Reservation* prev_;
  };

 private:
  bool try_add(size_t bytes);
  void add_use(MemoryUse use, size_t bytes) {
    by_use_[static_cast<int>(use)].fetch_add(bytes, std::memory_order_acq_rel);
  }
  void sub_use(MemoryUse use, size_t bytes) {
    by_use_[static_cast<int>(use)].fetch_sub(bytes, std::memory_order_acq_rel);
  }

  const size_t limit_;
  std::atomic<size_t> used_{0};
  std::atomic<size_t> peak_{0};
  std::atomic<size_t> by_use_[static_cast<int>(MemoryUse::kCount)] = {};
  std::mutex reclaim_mu_;  // guards reclaimer_
  Reclaimer reclaimer_;
};

// "12.34 MiB"
std::string format_bytes(size_t bytes);
// Parses "512MiB", "2GiB", "1.5 GB", "1000000" (bytes); throws kInvalidArgument.
size_t parse_bytes(const std::string& text);

}  // namespace shoal
