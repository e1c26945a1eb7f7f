// The content-addressed weight store: identical content is held once and freed with its last
// user, other bytes or another packed format make another blob, and concurrent interns of one
// key make one blob (the losers' copies are released).
#include <gtest/gtest.h>

#include <cstring>
#include <memory>
#include <thread>
#include <vector>

#include "memory/budget.h"
#include "memory/weight_store.h"

namespace shoal {
namespace {

TEST(WeightStore, IdenticalContentIsHeldOnceAndFreedWithItsLastUser) {
  auto budget = std::make_shared<MemoryBudget>(1 << 20);
  WeightStore store(budget);
  std::vector<float> w(1000);
  for (size_t i = 0; i < w.size(); ++i) w[i] = static_cast<float>(i) * 0.5f;
  int fills = 0;
  auto fill = [&](void* dst) {
    ++fills;
    std::memcpy(dst, w.data(), w.size() * 4);
  };
  WeightKey k = weight_key(w.data(), w.size() * 4, "plain->plain");
  BlobRef a = store.intern(k, w.size() * 4, fill, "a");
  BlobRef b = store.intern(k, w.size() * 4, fill, "b");
  EXPECT_EQ(a, b);
  EXPECT_EQ(fills, 1);
  EXPECT_EQ(budget->used(), 4000u);
  EXPECT_EQ(std::memcmp(a->data(), w.data(), 4000), 0);
  // Same bytes, another packed format: a different blob.
  BlobRef c = store.intern(weight_key(w.data(), w.size() * 4, "plain->blocked"), 4000, fill, "c");
  EXPECT_NE(a, c);
  EXPECT_EQ(budget->used(), 8000u);
  // One changed value: a different blob.
  w[7] = -1;
  EXPECT_FALSE(weight_key(w.data(), w.size() * 4, "plain->plain") == k);
  a.reset();
  EXPECT_EQ(budget->used(), 8000u);  // b still holds it
  b.reset();
  EXPECT_EQ(budget->used(), 4000u);
  EXPECT_EQ(store.find(k), nullptr);
  c.reset();
  EXPECT_EQ(budget->used(), 0u);
  EXPECT_EQ(store.stats().blobs, 0u);
}

TEST(WeightStore, ConcurrentInternsOfOneKeyMakeOneBlob) {
  auto budget = std::make_shared<MemoryBudget>(0);
  WeightStore store(budget);
  std::vector<uint8_t> data(300000, 7);
  WeightKey k = weight_key(data.data(), data.size(), "x");
  std::vector<BlobRef> got(8);
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&, t] {
      got[static_cast<size_t>(t)] =
          store.intern(k, data.size(), [&](void* d) { std::memcpy(d, data.data(), data.size()); }, "t");
    });
  }
  for (auto& t : ts) t.join();
  for (const BlobRef& b : got) EXPECT_EQ(b, got[0]);
  EXPECT_EQ(budget->used(), data.size());  // losers' copies were released
}

}  // namespace
}  // namespace shoal
