// The content-addressed weight store. A blob is a weight tensor in one stored form (plain, or a
// backend's packed layout), keyed by a 128-bit hash of its source bytes and both formats, so
// identical tensors in different models, versions or shape-specialised plans are held once and
// packed once. Blobs are shared_ptrs: the store keeps only weak references, so a blob is freed
// with its last user, and its bytes are released from the budget then.
//
// Blobs the store allocates are charged to the store's MemoryBudget (if any) before they are
// allocated. adopt() registers memory someone else owns (a mapped compiled-model cache file) so
// that a later intern() of the same key finds it without packing again. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <unordered_map>

namespace shoal {

class MemoryBudget;

struct WeightKey {
  uint64_t lo = 0, hi = 0;
  bool operator==(const WeightKey& o) const { return lo == o.lo && hi == o.hi; }
  std::string hex() const;
};

// XXH3-128 of `bytes` of `data` followed by `format` (a description of source and stored form).
WeightKey weight_key(const void* data, size_t bytes, std::string_view format);

class WeightBlob {
 public:
  ~WeightBlob();
  WeightBlob(const WeightBlob&) = delete;
  WeightBlob& operator=(const WeightBlob&) = delete;
  const void* data() const { return data_; }
  size_t size() const { return size_; }
  const WeightKey& key() const { return key_; }
  // False for adopted blobs (memory owned elsewhere, e.g. a mapped cache file).
  bool owned() const { return owned_; }

 private:
  friend class WeightStore;
  struct StoreState;
  WeightBlob() = default;
  void* data_ = nullptr;
  size_t size_ = 0;
  WeightKey key_;
  bool owned_ = true;
  std::shared_ptr<StoreState> store_;
  std::shared_ptr<MemoryBudget> budget_;  // charged for size_ when set
  std::shared_ptr<const void> keep_alive_;  // adopted memory's owner
};

using BlobRef = std::shared_ptr<const WeightBlob>;

class WeightStore {
 public:
  // `budget` (may be null) is charged for every blob this store allocates.
  explicit WeightStore(std::shared_ptr<MemoryBudget> budget = nullptr);
  ~WeightStore();
  WeightStore(const WeightStore&) = delete;
  WeightStore& operator=(const WeightStore&) = delete;

  // The store used when a compile names none (no budget).
  static WeightStore& process_default();

  // The blob for `key`, made with `fill(dst)` (dst: `bytes`, 64-byte aligned) when absent.
  // Throws what the budget throws when it cannot be charged; `what` names the user in errors.
  BlobRef intern(const WeightKey& key, size_t bytes, const std::function<void(void*)>& fill,
                 const std::string& what);
  // Registers `size` bytes at `data` (kept alive by `owner`) as the blob for `key`; returns the
  // existing blob instead when one is already held. Adopted bytes are not charged here: the
  // caller accounts the memory `owner` holds.
  BlobRef adopt(const WeightKey& key, const void* data, size_t size,
                std::shared_ptr<const void> owner);
  BlobRef find(const WeightKey& key) const;

  struct Stats {
    size_t blobs = 0;        // live
    size_t bytes = 0;        // live, allocated by the store (adopted excluded)
    size_t adopted_bytes = 0;
    size_t hits = 0;         // intern() calls served by an existing blob
    size_t hit_bytes = 0;    // bytes those hits did not allocate again
    size_t misses = 0;
  };
  Stats stats() const;

 private:
  std::shared_ptr<WeightBlob::StoreState> state_;
};

}  // namespace shoal
