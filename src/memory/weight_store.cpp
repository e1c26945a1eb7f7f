#include "memory/weight_store.h"

#include <xxhash.h>

#include <cstdlib>
#include <cstring>

#include "core/error.h"
#include "memory/budget.h"

namespace shoal {

struct KeyHash {
  size_t operator()(const WeightKey& k) const { return static_cast<size_t>(k.lo ^ (k.hi * 31)); }
};

struct WeightBlob::StoreState {
  mutable std::mutex mu;
  std::unordered_map<WeightKey, std::weak_ptr<const WeightBlob>, KeyHash> blobs;
  std::shared_ptr<MemoryBudget> budget;
  WeightStore::Stats stats;
};

std::string WeightKey::hex() const { return fmt::format("{:016x}{:016x}", hi, lo); }

WeightKey weight_key(const void* data, size_t bytes, std::string_view format) {
  XXH3_state_t* st = XXH3_createState();
  if (!st) fail(ErrorCode::kOutOfMemory, "cannot allocate a hash state");
  XXH3_128bits_reset(st);
  XXH3_128bits_update(st, data, bytes);
  uint64_t n = bytes;
  XXH3_128bits_update(st, &n, sizeof(n));
  XXH3_128bits_update(st, format.data(), format.size());
  XXH128_hash_t h = XXH3_128bits_digest(st);
  XXH3_freeState(st);
  return WeightKey{h.low64, h.high64};
}

WeightBlob::~WeightBlob() {
  if (store_) {
    std::lock_guard<std::mutex> lock(store_->mu);
    auto it = store_->blobs.find(key_);
    if (it != store_->blobs.end() && it->second.expired()) store_->blobs.erase(it);
    store_->stats.blobs--;
    (owned_ ? store_->stats.bytes : store_->stats.adopted_bytes) -= size_;
  }
  if (owned_) std::free(data_);
  if (budget_) budget_->release(size_, MemoryUse::kWeights);
}

WeightStore::WeightStore(std::shared_ptr<MemoryBudget> budget)
    : state_(std::make_shared<WeightBlob::StoreState>()) {
  state_->budget = std::move(budget);
}

WeightStore::~WeightStore() = default;

WeightStore& WeightStore::process_default() {
  static WeightStore* store = new WeightStore();  // never destroyed: blobs may outlive main()
  return *store;
}

BlobRef WeightStore::find(const WeightKey& key) const {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto it = state_->blobs.find(key);
  return it == state_->blobs.end() ? nullptr : it->second.lock();
}

BlobRef WeightStore::intern(const WeightKey& key, size_t bytes,
                            const std::function<void(void*)>& fill, const std::string& what) {
  {
    std::lock_guard<std::mutex> lock(state_->mu);
    auto it = state_->blobs.find(key);
    if (it != state_->blobs.end()) {
      if (BlobRef b = it->second.lock()) {
        state_->stats.hits++;
        state_->stats.hit_bytes += b->size();
        return b;
      }
    }
  }
  // Charge and fill outside the lock: the budget may reclaim (evict models, freeing blobs).
  if (state_->budget) state_->budget->charge(bytes, MemoryUse::kWeights, what);
  std::shared_ptr<WeightBlob> blob(new WeightBlob());
  blob->budget_ = state_->budget;
  blob->size_ = bytes;
  blob->key_ = key;
  size_t alloc = (std::max<size_t>(bytes, 1) + 63) / 64 * 64;
  blob->data_ = std::aligned_alloc(64, alloc);
  if (!blob->data_) {
    fail(ErrorCode::kOutOfMemory, "{}: cannot allocate {} for weights", what, format_bytes(bytes));
  }
  fill(blob->data_);
  std::lock_guard<std::mutex> lock(state_->mu);
  auto it = state_->blobs.find(key);
  if (it != state_->blobs.end()) {
    if (BlobRef other = it->second.lock()) {  // made concurrently by another load: use that one
      state_->stats.hits++;
      state_->stats.hit_bytes += other->size();
      return other;  // `blob` (not yet registered) frees itself and its charge
    }
  }
  blob->store_ = state_;
  state_->blobs[key] = blob;
  state_->stats.blobs++;
  state_->stats.bytes += bytes;
  state_->stats.misses++;
  return blob;
}

BlobRef WeightStore::adopt(const WeightKey& key, const void* data, size_t size,
                           std::shared_ptr<const void> owner) {
  std::lock_guard<std::mutex> lock(state_->mu);
  auto it = state_->blobs.find(key);
  if (it != state_->blobs.end()) {
    if (BlobRef b = it->second.lock()) return b;
  }
  std::shared_ptr<WeightBlob> blob(new WeightBlob());
  blob->data_ = const_cast<void*>(data);
  blob->size_ = size;
  blob->key_ = key;
  blob->owned_ = false;
  blob->keep_alive_ = std::move(owner);
  blob->store_ = state_;
  state_->blobs[key] = blob;
  state_->stats.blobs++;
  state_->stats.adopted_bytes += size;
  return blob;
}

WeightStore::Stats WeightStore::stats() const {
  std::lock_guard<std::mutex> lock(state_->mu);
  return state_->stats;
}

}  // namespace shoal
