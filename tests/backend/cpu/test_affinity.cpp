// Thread placement of model runs (place_compute_threads): one thread per CPU, caller included.
#include <gtest/gtest.h>
#include <omp.h>
#include <sched.h>

#include <set>
#include <thread>

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

TEST(ThreadPlacement, RunPinsTheCallerAndEachWorkerToItsOwnCpu) {
  const std::string mode = compute_affinity_mode();
  if (mode != "one thread per CPU") GTEST_SKIP() << "placement here: " << mode;
  BuilderOptions o;
  o.imgsz = 32;
  o.num_classes = 4;
  const std::string bytes = build_classifier_onnx(o);
  auto cm = CompiledModel::compile(import_onnx_bytes(bytes.data(), bytes.size(), ""), {});
  const int threads = compute_threads();
  std::set<int> caller, workers;
  int team = 0;
  bool single = true;
  // A fresh thread: its own OpenMP team, placed on its first run.
  std::thread t([&] {
    Session s(cm);
    Tensor x(DType::kF32, {1, 3, 32, 32});
    for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(i % 7) / 7.f;
    s.run({x});
    caller = allowed_cpus();
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
  t.join();
  EXPECT_EQ(caller.size(), 1u) << "the calling thread runs on one CPU after a run";
  EXPECT_EQ(team, threads);
  EXPECT_TRUE(single) << "every team thread is pinned to a single CPU";
  EXPECT_EQ(workers.size(), static_cast<size_t>(threads)) << "one CPU per team thread";
}

}  // namespace
}  // namespace shoal
