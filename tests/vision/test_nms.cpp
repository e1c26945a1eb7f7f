// NMS with hand-computed expectations: IoU arithmetic, thresholds (strict >), class-aware vs
// agnostic, ties, max_det / max_nms caps, empty input, many boxes against a brute-force oracle.
#include <gtest/gtest.h>

#include <random>

#include "vision/nms.h"

namespace shoal::vision {
namespace {

Candidate cand(float x1, float y1, float x2, float y2, float score, int cls = 0) {
  Candidate c;
  c.box = {x1, y1, x2, y2};
  c.score = score;
  c.class_id = cls;
  return c;
}

TEST(VisionNms, IouByHand) {
  // [0,0,10,10] vs [5,0,15,10]: inter 50, union 150.
  EXPECT_FLOAT_EQ(box_iou({0, 0, 10, 10}, {5, 0, 15, 10}), 50.f / 150.f);
  EXPECT_FLOAT_EQ(box_iou({0, 0, 10, 10}, {0, 0, 10, 10}), 1.f);
  EXPECT_FLOAT_EQ(box_iou({0, 0, 10, 10}, {10, 0, 20, 10}), 0.f);  // touching
  EXPECT_FLOAT_EQ(box_iou({0, 0, 0, 0}, {0, 0, 0, 0}), 0.f);       // empty
  // +1 convention: [0,0,9,9] is 10x10; vs [5,0,14,9]: inter 5*10 = 50, union 150.
  EXPECT_FLOAT_EQ(box_iou({0, 0, 9, 9}, {5, 0, 14, 9}, true), 50.f / 150.f);
}

TEST(VisionNms, Empty) { EXPECT_TRUE(nms({}, NmsOptions{}).empty()); }

TEST(VisionNms, SuppressesOnlyAboveThreshold) {
  // IoU(a, b) = 0.5 exactly (inter 100*... [0,0,30,10] vs [10,0,40,10]: inter 200, union 400).
  std::vector<Candidate> c = {cand(0, 0, 30, 10, 0.9f), cand(10, 0, 40, 10, 0.8f)};
  NmsOptions o;
  o.iou = 0.5f;
  EXPECT_EQ(nms(c, o), (std::vector<int>{0, 1}));  // 0.5 is not > 0.5
  o.iou = 0.49f;
  EXPECT_EQ(nms(c, o), (std::vector<int>{0}));
}

TEST(VisionNms, OrderByScoreAndChains) {
  // a (0.6) overlaps b (0.9) heavily; c (0.7) overlaps a but not b: c survives, a is removed
  // by b before it could remove c.
  std::vector<Candidate> c = {cand(10, 0, 30, 10, 0.6f),   // a
                              cand(0, 0, 22, 10, 0.9f),    // b: IoU(a,b) = 12/30 = 0.4
                              cand(20, 0, 42, 10, 0.7f)};  // c: IoU(c,b) = 2/42, IoU(c,a) = 10/32
  NmsOptions o;
  o.iou = 0.3f;
  EXPECT_EQ(nms(c, o), (std::vector<int>{1, 2}));
}

TEST(VisionNms, ClassAwareAndAgnostic) {
  std::vector<Candidate> c = {cand(0, 0, 10, 10, 0.9f, 0), cand(0, 0, 10, 10, 0.8f, 1),
                              cand(1, 1, 10, 10, 0.7f, 0)};
  NmsOptions o;
  EXPECT_EQ(nms(c, o), (std::vector<int>{0, 1}));  // same box, other class kept
  o.agnostic = true;
  EXPECT_EQ(nms(c, o), (std::vector<int>{0}));
}

TEST(VisionNms, TiesKeepLowerIndexFirst) {
  std::vector<Candidate> c = {cand(0, 0, 10, 10, 0.5f), cand(1, 0, 11, 10, 0.5f),
                              cand(100, 100, 110, 110, 0.5f)};
  EXPECT_EQ(nms(c, NmsOptions{}), (std::vector<int>{0, 2}));
  std::swap(c[0], c[1]);
  EXPECT_EQ(nms(c, NmsOptions{}), (std::vector<int>{0, 2}));
}

TEST(VisionNms, MaxDetAndMaxNms) {
  std::vector<Candidate> c;
  for (int i = 0; i < 50; ++i) {
    c.push_back(cand(20.f * i, 0, 20.f * i + 10, 10, 0.01f * (i + 1)));  // disjoint
  }
  NmsOptions o;
  o.max_det = 7;
  std::vector<int> k = nms(c, o);
  ASSERT_EQ(k.size(), 7u);
  EXPECT_EQ(k.front(), 49);
  EXPECT_EQ(k.back(), 43);
  o.max_det = 300;
  o.max_nms = 10;  // only the 10 best enter
  k = nms(c, o);
  ASSERT_EQ(k.size(), 10u);
  EXPECT_EQ(k.back(), 40);
}

TEST(VisionNms, ClassOffsetIsUltralytics) {
  // Class-aware NMS offsets boxes by class_id * 7680 (Ultralytics' max_wh), so only boxes larger
  // than 7680 pixels can meet another class: [0,0,9000,9000] of class 0 and of class 1 (offset to
  // [7680,7680,16680,16680]) overlap by 1320^2: IoU = 1742400 / (2 * 81e6 - 1742400) = 0.01087.
  std::vector<Candidate> c = {cand(0, 0, 9000, 9000, 0.9f, 0), cand(0, 0, 9000, 9000, 0.8f, 1)};
  NmsOptions o;
  o.iou = 0.0108f;
  EXPECT_EQ(nms(c, o).size(), 1u);
  o.iou = 0.011f;
  EXPECT_EQ(nms(c, o).size(), 2u);
  // Normal-sized boxes of different classes never interact, whatever the threshold.
  c = {cand(0, 0, 600, 600, 0.9f, 0), cand(0, 0, 600, 600, 0.8f, 79)};
  o.iou = 0.f;
  EXPECT_EQ(nms(c, o).size(), 2u);
}

// Brute-force oracle: the textbook definition (sort, then suppress all later boxes).
std::vector<int> oracle(const std::vector<Candidate>& c, float thr, bool agnostic) {
  std::vector<int> order(c.size());
  for (size_t i = 0; i < c.size(); ++i) order[i] = static_cast<int>(i);
  std::stable_sort(order.begin(), order.end(),
                   [&](int a, int b) { return c[a].score > c[b].score; });
  std::vector<bool> dead(c.size(), false);
  std::vector<int> keep;
  for (size_t i = 0; i < order.size(); ++i) {
    if (dead[static_cast<size_t>(order[i])]) continue;
    keep.push_back(order[i]);
    for (size_t j = i + 1; j < order.size(); ++j) {
      const Candidate& a = c[static_cast<size_t>(order[i])];
      const Candidate& b = c[static_cast<size_t>(order[j])];
      if ((agnostic || a.class_id == b.class_id) && box_iou(a.box, b.box) > thr) {
        dead[static_cast<size_t>(order[j])] = true;
      }
    }
  }
  return keep;
}

TEST(VisionNms, ManyBoxesMatchOracle) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> pos(0.f, 600.f), size(5.f, 120.f), score(0.f, 1.f);
  std::uniform_int_distribution<int> cls(0, 4);
  for (int trial = 0; trial < 5; ++trial) {
    std::vector<Candidate> c;
    for (int i = 0; i < 2000; ++i) {
      const float x = pos(rng), y = pos(rng);
      // Quantised scores create many exact ties.
      c.push_back(
          cand(x, y, x + size(rng), y + size(rng), std::round(score(rng) * 50) / 50, cls(rng)));
    }
    for (bool agnostic : {false, true}) {
      NmsOptions o;
      o.iou = 0.45f;
      o.agnostic = agnostic;
      o.max_det = 100000;
      EXPECT_EQ(nms(c, o), oracle(c, 0.45f, agnostic)) << "trial " << trial;
    }
  }
}

}  // namespace
}  // namespace shoal::vision
