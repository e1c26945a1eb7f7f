// A charge that draws part of its bytes from the thread's reservation and cannot get the rest
// fails whole: nothing stays charged without an owner (found by a model load under a budget too
// small for it, which left the blob bytes it had drawn charged after the failure).
#include <gtest/gtest.h>

#include "core/error.h"
#include "memory/budget.h"

namespace shoal {
namespace {

TEST(Budget, FailedChargeGivesWhatItDrewBackToTheReservation) {
  MemoryBudget b(1000);
  {
    MemoryBudget::Reservation r(b, 600, "load");
    b.charge(100, MemoryUse::kWeights, "w1");
    EXPECT_EQ(r.remaining(), 500u);
    EXPECT_THROW(b.charge(2000, MemoryUse::kWeights, "w2"), Error);  // 500 drawn, 1500 missing
    EXPECT_EQ(r.remaining(), 500u);
    EXPECT_EQ(b.used(MemoryUse::kWeights), 100u);
    EXPECT_EQ(b.used(MemoryUse::kReserved), 500u);
    EXPECT_EQ(b.used(), 600u);
    b.release(100, MemoryUse::kWeights);
  }
  EXPECT_EQ(b.used(), 0u);
  for (int u = 0; u < static_cast<int>(MemoryUse::kCount); ++u) {
    EXPECT_EQ(b.used(static_cast<MemoryUse>(u)), 0u) << memory_use_name(static_cast<MemoryUse>(u));
  }
}

}  // namespace
}  // namespace shoal
