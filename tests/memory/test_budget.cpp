// The memory budget: charges never exceed the limit, a reclaimer frees room before a charge fails
// (with an error naming the use and the numbers), reservations cover charges and return the
// rest, and sizes parse with their units.
#include <gtest/gtest.h>

#include <functional>
#include <string>

#include "core/error.h"
#include "memory/budget.h"

namespace shoal {
namespace {

std::string error_of(const std::function<void()>& f, ErrorCode* code = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (code) *code = e.code();
    return e.what();
  }
  return "";
}

TEST(Budget, ChargesNeverExceedTheLimit) {
  MemoryBudget b(1000);
  EXPECT_TRUE(b.try_charge(600, MemoryUse::kWeights));
  EXPECT_FALSE(b.try_charge(401, MemoryUse::kArenas));
  EXPECT_TRUE(b.try_charge(400, MemoryUse::kArenas));
  EXPECT_EQ(b.used(), 1000u);
  EXPECT_EQ(b.used(MemoryUse::kWeights), 600u);
  ErrorCode code{};
  std::string msg = error_of([&] { b.charge(1, MemoryUse::kModels, "model 'x'"); }, &code);
  EXPECT_EQ(code, ErrorCode::kOutOfMemory);
  EXPECT_NE(msg.find("model 'x'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("1000 B"), std::string::npos) << msg;  // the limit
  b.release(600, MemoryUse::kWeights);
  b.release(400, MemoryUse::kArenas);
  EXPECT_EQ(b.used(), 0u);
  EXPECT_EQ(b.peak(), 1000u);
}

TEST(Budget, ReclaimerFreesRoomBeforeFailing) {
  MemoryBudget b(100);
  b.charge(80, MemoryUse::kWeights, "a");
  int calls = 0;
  b.set_reclaimer([&](size_t needed, const std::string&) {
    ++calls;
    EXPECT_EQ(needed, 30u);
    b.release(80, MemoryUse::kWeights);
    return true;
  });
  b.charge(50, MemoryUse::kArenas, "b");
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(b.used(), 50u);
}

TEST(Budget, ReservationCoversChargesAndReturnsTheRest) {
  MemoryBudget b(100);
  {
    MemoryBudget::Reservation r(b, 60, "load");
    EXPECT_EQ(b.used(MemoryUse::kReserved), 60u);
    b.charge(25, MemoryUse::kWeights, "w");  // drawn from the reservation
    EXPECT_EQ(b.used(), 60u);
    EXPECT_EQ(r.remaining(), 35u);
    b.charge(50, MemoryUse::kWeights, "w2");  // 35 from it, 15 more from the budget
    EXPECT_EQ(b.used(), 75u);
    EXPECT_EQ(r.remaining(), 0u);
  }
  EXPECT_EQ(b.used(), 75u);
  EXPECT_EQ(b.used(MemoryUse::kReserved), 0u);
  EXPECT_EQ(b.used(MemoryUse::kWeights), 75u);
}

TEST(Budget, ParsesSizes) {
  EXPECT_EQ(parse_bytes("512MiB"), 512u << 20);
  EXPECT_EQ(parse_bytes("2 GiB"), size_t{2} << 30);
  EXPECT_EQ(parse_bytes("1.5GB"), 1500000000u);
  EXPECT_EQ(parse_bytes("1000"), 1000u);
  EXPECT_THROW(parse_bytes("12 parsecs"), Error);
  EXPECT_THROW(parse_bytes("-5MiB"), Error);
  EXPECT_THROW(parse_bytes(""), Error);
}

}  // namespace
}  // namespace shoal
