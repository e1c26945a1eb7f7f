// Compute lanes (run_on_compute_lane) and the placement of their teams (place_compute_threads).
#include <gtest/gtest.h>
#include <omp.h>
#include <sched.h>

#include <atomic>
#include <set>
#include <thread>
#include <vector>

#include "backend/backend.h"
#include "core/error.h"
#include "memory/budget.h"
#include "model_builder/builder.h"
#include "onnx/import.h"
#include "runtime/compiled_model.h"

namespace shoal {
namespace {

std::set<int> allowed_cpus() {
  cpu_set_t s;
  std::set<int> cpus;
  if (sched_getaffinity(0, sizeof(s), &s) != 0) return cpus;
  for (int c = 0; c < CPU_SETSIZE; ++c) {
    if (CPU_ISSET(c, &s)) cpus.insert(c);
  }
  return cpus;
}

std::shared_ptr<CompiledModel> small_classifier() {
  BuilderOptions o;
  o.imgsz = 32;
  o.num_classes = 4;
  const std::string bytes = build_classifier_onnx(o);
  return CompiledModel::compile(import_onnx_bytes(bytes.data(), bytes.size(), ""), {});
}

Tensor small_input() {
  Tensor x(DType::kF32, {1, 3, 32, 32});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(i % 7) / 7.f;
  return x;
}

TEST(ThreadPlacement, RunsOnALaneWhoseTeamIsOneThreadPerCpu) {
  const std::string mode = compute_affinity_mode();
  if (mode != "one thread per CPU") GTEST_SKIP() << "placement here: " << mode;
  auto cm = small_classifier();
  const int threads = compute_threads();
  const std::set<int> before = allowed_cpus();
  std::set<int> lane, workers;
  int team = 0;
  bool single = true;
  std::thread t([&] {
    Session s(cm);
    s.run({small_input()});
    EXPECT_EQ(allowed_cpus(), before) << "the calling thread is not pinned: the lane runs models";
    run_on_compute_lane([&] {
      lane = allowed_cpus();
#pragma omp parallel num_threads(threads)
      {
        std::set<int> mine = allowed_cpus();
#pragma omp critical
        {
          ++team;
          if (mine.size() != 1) single = false;
          workers.insert(mine.begin(), mine.end());
        }
      }
    });
  });
  t.join();
  EXPECT_EQ(lane.size(), 1u) << "the lane runs on one CPU";
  EXPECT_EQ(team, threads);
  EXPECT_TRUE(single) << "every team thread is pinned to a single CPU";
  EXPECT_EQ(workers.size(), static_cast<size_t>(threads)) << "one CPU per team thread";
}

TEST(ComputeLanes, RunElsewhereInlineWhenNestedAndRethrow) {
  const std::thread::id caller = std::this_thread::get_id();
  std::thread::id outer, inner;
  run_on_compute_lane([&] {
    outer = std::this_thread::get_id();
    run_on_compute_lane([&] { inner = std::this_thread::get_id(); });
  });
  EXPECT_NE(outer, caller);
  EXPECT_EQ(inner, outer) << "a lane calling run_on_compute_lane runs the work itself";
  EXPECT_THROW(run_on_compute_lane([] { fail(ErrorCode::kInvalidArgument, "from the lane"); }),
               Error);
}

TEST(ComputeLanes, WorkDrawsFromTheCallersReservation) {
  MemoryBudget budget(1000);
  MemoryBudget::Reservation r(budget, 600, "test");
  run_on_compute_lane([&] { budget.charge(500, MemoryUse::kWeights, "on the lane"); });
  EXPECT_EQ(r.remaining(), 100u);
  EXPECT_EQ(budget.used(), 600u) << "drawn from the reservation, not charged again";
  budget.release(500, MemoryUse::kWeights);
}

TEST(ComputeLanes, ConcurrentCallersGetTheirOwnResults) {
  auto cm = small_classifier();
  const Tensor x = small_input();
  const std::vector<float> want = [&] {
    Tensor y = Session(cm).run({x})[0];
    return std::vector<float>(y.data<float>(), y.data<float>() + y.numel());
  }();
  std::vector<std::thread> ts;
  std::atomic<int> same{0};
  for (int i = 0; i < 6; ++i) {
    ts.emplace_back([&] {
      Session s(cm);
      for (int k = 0; k < 5; ++k) {
        Tensor y = s.run({x})[0];
        if (std::vector<float>(y.data<float>(), y.data<float>() + y.numel()) == want) same++;
      }
    });
  }
  for (std::thread& t : ts) t.join();
  EXPECT_EQ(same.load(), 30);
}

}  // namespace
}  // namespace shoal
