// The model manager's lifecycle under a budget: lazy single-flight loads, LRU eviction that
// spares pinned and leased models, idle unload, hot reload without failed requests, reload
// failure, shared backbones held once, and a multi-threaded stress run that never exceeds the
// budget (SHOAL_STRESS_SECONDS, default 4; the full run is 60). Uses generated models, so
// it needs no ../shared. (Accounted bytes against measured RSS, through `shoal plan` in its own
// process, are checked in tests/tools/test_accounting_cli.cpp.)
// (The memory system's own tests are in tests/memory/, the config's in tests/manager/.)
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <thread>

#include "core/error.h"
#include "graph/ir.h"
#include "manager/config.h"
#include "manager/model_manager.h"
#include "memory/arena_pool.h"
#include "memory/budget.h"
#include "memory/weight_store.h"
#include "model_builder/builder.h"
#include "onnx/import.h"
#include "test_util.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

std::string error_of(const std::function<void()>& f, ErrorCode* code = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (code) *code = e.code();
    return e.what();
  }
  return "";
}

// ---------------------------------------------------------------------------------------------
// Manager

class Manager : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = testing::TempDir() + "/shoal_manager";
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    for (int i = 0; i < 6; ++i) write_model(fmt::format("m{}", i), 100 + static_cast<uint32_t>(i));
    // A pair sharing every backbone tensor: same seed, different head.
    write_model("base", 7);
    write_model("finetuned", 7, 99);
  }
  static std::string write_model(const std::string& name, uint32_t seed, uint32_t head_seed = 0,
                                 int imgsz = 96) {
    BuilderOptions o;
    o.imgsz = imgsz;
    o.num_classes = 4;
    o.seed = seed;
    o.head_seed = head_seed;
    std::string path = dir_ + "/" + name + ".onnx";
    save_bytes(path, build_yolo_detector_onnx(o));
    return path;
  }
  static RepositoryConfig config(size_t budget, const std::vector<std::string>& names) {
    RepositoryConfig c;
    c.memory_budget = budget;
    for (const std::string& n : names) {
      ModelConfig m;
      m.name = n;
      m.path = dir_ + "/" + n + ".onnx";
      c.models.push_back(m);
    }
    return c;
  }
  static ManagerOptions quiet() {
    ManagerOptions o;
    o.housekeeping_period = 0ms;
    o.wait_for_memory = 5000ms;
    return o;
  }
  // Bytes one model holds when loaded alone (weights + program) and its arena.
  static void measure(const std::string& name, size_t* held, size_t* arena) {
    ModelManager m(config(0, {name}), quiet());
    m.load(name);
    ManagerMemory mm = m.memory();
    *held = mm.weights + mm.models;
    *arena = m.status(name).arena_bytes;
  }
  // What a load of `name` reserves while parsing and packing (see ModelManager::load_instance).
  static size_t load_reservation(const std::string& name) {
    return 2 * static_cast<size_t>(fs::file_size(dir_ + "/" + name + ".onnx")) + (1u << 20);
  }
  static std::vector<Tensor> input_for(const ModelManager::Lease& l, uint32_t seed) {
    std::vector<Tensor> in;
    std::mt19937 rng(seed);
    std::uniform_real_distribution<float> u(0.f, 1.f);
    for (const TensorInfo& t : l.model().inputs()) {
      Tensor x(t.dtype, t.dims);
      for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = u(rng);
      in.push_back(std::move(x));
    }
    return in;
  }
  static std::string dir_;
};
std::string Manager::dir_;

TEST_F(Manager, MissingFileAndOversizedModelAreRefusedWithNumbers) {
  RepositoryConfig c = config(1 << 30, {"m0"});
  c.models[0].path = dir_ + "/nope.onnx";
  ErrorCode code{};
  std::string msg = error_of([&] { ModelManager m(c, quiet()); }, &code);
  EXPECT_EQ(code, ErrorCode::kNotFound);
  EXPECT_NE(msg.find("model 'm0'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("nope.onnx"), std::string::npos) << msg;

  msg = error_of([&] { ModelManager m(config(4096, {"m0", "m1"}), quiet()); }, &code);
  EXPECT_EQ(code, ErrorCode::kOutOfMemory);
  EXPECT_NE(msg.find("model 'm0'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("4.0 KiB"), std::string::npos) << msg;
}

TEST_F(Manager, PinnedSetLargerThanTheBudgetIsAnError) {
  size_t held = 0, arena = 0;
  measure("m0", &held, &arena);
  // m0 loads (its load reservation fits), m1 cannot load beside it.
  RepositoryConfig c = config(held + load_reservation("m0") - (1u << 20), {"m0", "m1"});
  c.models[0].pinned = c.models[1].pinned = true;
  ErrorCode code{};
  std::string msg = error_of([&] { ModelManager m(c, quiet()); }, &code);
  EXPECT_EQ(code, ErrorCode::kOutOfMemory) << msg;
  EXPECT_NE(msg.find("pinned model 'm1'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("beside the pinned m0"), std::string::npos) << msg;
  EXPECT_NE(msg.find("MiB"), std::string::npos) << msg;
}

TEST_F(Manager, LazySingleFlightLoadAndUnloadReturnsEveryByte) {
  ModelManager m(config(256 << 20, {"m0", "m1"}), quiet());
  EXPECT_EQ(m.status("m0").state, ModelState::kRegistered);
  EXPECT_EQ(m.memory().accounted, 0u);
  std::vector<std::thread> ts;
  std::atomic<int> ok{0};
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&] {
      ModelManager::Lease l = m.acquire("m0");
      if (l && !l.run(input_for(l, 1)).empty()) ok++;
    });
  }
  for (auto& t : ts) t.join();
  EXPECT_EQ(ok.load(), 8);
  ModelStatus s = m.status("m0");
  EXPECT_EQ(s.loads, 1);  // one load for eight concurrent first requests
  EXPECT_EQ(s.state, ModelState::kReady);
  EXPECT_EQ(m.status("m1").state, ModelState::kRegistered);
  EXPECT_GT(s.weights_bytes, 0u);
  EXPECT_LE(m.memory().arena_count, 8u);
  {
    ModelManager::Lease l = m.acquire("m0");
    std::vector<Tensor> in = input_for(l, 2);
    std::vector<Tensor> want = l.run(in);
    std::vector<Tensor> got = m.infer("m0", in);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_EQ(compare(got[0], want[0]).max_abs, 0.0);
    EXPECT_NE(error_of([&] { m.infer("m0", {}); }).find("takes 1 input"), std::string::npos);
  }
  m.unload_all();
  EXPECT_EQ(m.memory().accounted, 0u);
  EXPECT_EQ(m.status("m0").state, ModelState::kRegistered);
  EXPECT_NE(error_of([&] { m.acquire("nosuch"); }).find("m0, m1"), std::string::npos);
}

TEST_F(Manager, EvictsLeastRecentlyUsedButNeverPinnedOrLeased) {
  size_t held = 0, arena = 0;
  measure("m0", &held, &arena);
  // Room for two models and one arena, or one model and a load in progress; not three models.
  const size_t budget = held + std::max(held + arena, load_reservation("m0")) + (1u << 20);
  ASSERT_LT(budget, 3 * held);
  RepositoryConfig c = config(budget, {"m0", "m1", "m2", "m3"});
  c.models[3].pinned = true;
  ModelManager m(c, quiet());
  EXPECT_EQ(m.status("m3").state, ModelState::kReady);  // pinned: loaded at start
  auto use = [&](const std::string& n) {
    ModelManager::Lease l = m.acquire(n);
    l.run(input_for(l, 3));
    EXPECT_LE(m.memory().accounted, c.memory_budget);
  };
  use("m0");
  use("m1");  // m0 evicted: only one unpinned fits beside the pinned m3
  EXPECT_EQ(m.status("m0").state, ModelState::kRegistered);
  EXPECT_EQ(m.status("m3").state, ModelState::kReady);
  {
    ModelManager::Lease held_lease = m.acquire("m1");
    // m1 is leased and m3 pinned: m2 cannot be loaded (nothing in use will end: we hold it).
    ManagerOptions o = quiet();
    ErrorCode code{};
    std::string msg;
    std::thread t([&] { msg = error_of([&] { use("m2"); }, &code); });
    std::this_thread::sleep_for(200ms);
    EXPECT_EQ(m.status("m1").state, ModelState::kReady);
    held_lease = ModelManager::Lease();  // the lease ends: the waiting request proceeds
    t.join();
    EXPECT_EQ(msg, "");
  }
  EXPECT_EQ(m.status("m2").state, ModelState::kReady);
  EXPECT_EQ(m.status("m1").state, ModelState::kRegistered);
  EXPECT_EQ(m.status("m3").state, ModelState::kReady);
  EXPECT_LE(m.budget().peak(), c.memory_budget);
  EXPECT_NE(error_of([&] { m.unload("m3"); }).find("pinned"), std::string::npos);
}

TEST_F(Manager, FailsAtOnceWhenNothingInUseCanMakeRoom) {
  size_t held = 0, arena = 0;
  measure("m0", &held, &arena);
  RepositoryConfig c = config(held + held / 3 + arena, {"m0", "m1"});
  c.models[0].pinned = true;
  ModelManager m(c, quiet());
  ErrorCode code{};
  auto t0 = std::chrono::steady_clock::now();
  std::string msg = error_of([&] { m.acquire("m1"); }, &code);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, 3s);
  EXPECT_EQ(code, ErrorCode::kOutOfMemory);
  EXPECT_NE(msg.find("model 'm1'"), std::string::npos) << msg;
  EXPECT_NE(msg.find("budget"), std::string::npos) << msg;
  EXPECT_EQ(m.status("m1").state, ModelState::kFailed);
  EXPECT_EQ(m.status("m0").state, ModelState::kReady);  // the others stay up
}

// A request whose arena does not fit while another model's request holds its own waits for that
// request to end (with_memory), instead of failing: the server's detect path under a budget that
// holds two models (8 clients, four models, budget for two: 4 of 91 requests failed with "nothing
// idle left to evict" before).
TEST_F(Manager, AnArenaWaitsForAnotherRequestToEnd) {
  size_t held = 0, arena = 0;
  measure("m0", &held, &arena);
  const size_t budget = held + load_reservation("m1");
  RepositoryConfig c = config(budget, {"m0", "m1"});
  c.models[0].pinned = c.models[1].pinned = true;
  ManagerOptions o = quiet();
  o.warmup = false;
  ModelManager m(c, o);
  ASSERT_LT(m.budget().used(), budget);
  const size_t bytes = (budget - m.budget().used()) * 3 / 4;
  auto busy = std::make_unique<ModelManager::Lease>(m.acquire("m0"));
  auto first = std::make_unique<ArenaPool::Lease>(m.arenas().acquire(bytes, "first request"));
  ModelManager::Lease mine = m.acquire("m1");
  ErrorCode code{};
  error_of([&] { m.arenas().acquire(bytes, "second request"); }, &code);
  EXPECT_EQ(code, ErrorCode::kOutOfMemory) << "the second arena must not fit beside the first";
  std::thread other([&] {
    std::this_thread::sleep_for(200ms);
    first.reset();
    busy.reset();
  });
  const auto t0 = std::chrono::steady_clock::now();
  ArenaPool::Lease second;
  EXPECT_NO_THROW(m.with_memory([&] { second = m.arenas().acquire(bytes, "second request"); }));
  EXPECT_GE(std::chrono::steady_clock::now() - t0, 150ms);
  EXPECT_TRUE(second);
  other.join();
  EXPECT_LE(m.budget().peak(), budget);
}

TEST_F(Manager, IdleModelsAreUnloadedAfterTheirTimeout) {
  RepositoryConfig c = config(256 << 20, {"m0", "m1"});
  c.models[0].idle_timeout = 150ms;
  ManagerOptions o = quiet();
  o.housekeeping_period = 30ms;
  ModelManager m(c, o);
  m.load("m0");
  m.load("m1");
  for (int i = 0; i < 100 && m.status("m0").state == ModelState::kReady; ++i)
    std::this_thread::sleep_for(20ms);
  EXPECT_EQ(m.status("m0").state, ModelState::kRegistered);
  EXPECT_EQ(m.status("m1").state, ModelState::kReady);  // no timeout
}

TEST_F(Manager, SharedBackboneCostsUniqueBytesPlusFivePercent) {
  size_t base_held = 0, ft_held = 0, arena = 0;
  measure("base", &base_held, &arena);
  measure("finetuned", &ft_held, &arena);
  // Head bytes of the fine-tuned model, as stored in its file (model.22 = the Detect head).
  Graph g = import_onnx_file(dir_ + "/finetuned.onnx");
  size_t head = 0;
  for (const Value& v : g.values) {
    if (v.is_constant() && v.name.find("model.22") != std::string::npos)
      head += v.constant.nbytes();
  }
  ASSERT_GT(head, 0u);
  ModelManager m(config(0, {"base", "finetuned"}), quiet());
  m.load("base");
  m.load("finetuned");
  ManagerMemory mm = m.memory();
  ModelStatus s = m.status("finetuned");
  EXPECT_GT(s.shared_bytes, 0u);
  // Both together: the base model's weights plus the new head's, within 5%.
  const double unique = static_cast<double>(m.status("base").weights_bytes + head);
  EXPECT_LE(static_cast<double>(mm.weights), 1.05 * unique)
      << "weights " << mm.weights << " base " << m.status("base").weights_bytes << " head " << head;
  EXPECT_LT(mm.weights + mm.models, base_held + ft_held);  // far below two full copies
}

TEST_F(Manager, HotReloadSwitchesVersionsWithoutFailingARequest) {
  const std::string path = write_model("live", 11);
  RepositoryConfig c = config(256 << 20, {"live", "m0"});
  ModelManager m(c, quiet());
  std::vector<Tensor> in;
  std::vector<Tensor> before;
  {
    ModelManager::Lease l = m.acquire("live");
    in = input_for(l, 5);
    before = l.run(in);
  }
  std::atomic<bool> stop{false};
  std::atomic<int> ok{0}, failed{0};
  std::vector<std::thread> ts;
  for (int t = 0; t < 3; ++t) {
    ts.emplace_back([&] {
      while (!stop) {
        try {
          ModelManager::Lease l = m.acquire("live");
          l.run(in);
          ok++;
        } catch (const std::exception&) {
          failed++;
        }
      }
    });
  }
  std::this_thread::sleep_for(50ms);
  write_model("live", 12);  // a new version of the file
  m.reload("live");
  std::this_thread::sleep_for(50ms);
  stop = true;
  for (auto& t : ts) t.join();
  EXPECT_EQ(failed.load(), 0);
  EXPECT_GT(ok.load(), 0);
  EXPECT_EQ(m.status("live").loads, 2);
  ModelManager::Lease l = m.acquire("live");
  std::vector<Tensor> after = l.run(in);
  EXPECT_GT(compare(after[0], before[0]).max_abs, 0.0) << "the new weights must be in use";
  Session fresh(CompiledModel::compile(import_onnx_file(path), {}));
  EXPECT_EQ(compare(after[0], fresh.run(in)[0]).max_abs, 0.0);

  // A broken file: the reload fails, the old version keeps serving, the others stay up.
  { std::ofstream(path, std::ios::binary | std::ios::trunc) << "not an onnx file"; }
  std::string msg = error_of([&] { m.reload("live"); });
  EXPECT_FALSE(msg.empty());
  EXPECT_NE(m.status("live").reason.find("reload failed"), std::string::npos)
      << m.status("live").reason;
  EXPECT_EQ(compare(m.acquire("live").run(in)[0], after[0]).max_abs, 0.0);
  EXPECT_NO_THROW(m.acquire("m0"));
}

TEST_F(Manager, ChangedFileIsReloadedByHousekeeping) {
  write_model("watched", 21);
  RepositoryConfig c = config(256 << 20, {"watched"});
  ManagerOptions o = quiet();
  o.housekeeping_period = 30ms;
  ModelManager m(c, o);
  m.load("watched");
  std::this_thread::sleep_for(20ms);
  write_model("watched", 22);
  // Ensure the timestamp moves even on coarse file systems.
  fs::last_write_time(dir_ + "/watched.onnx", fs::file_time_type::clock::now() + 2s);
  for (int i = 0; i < 200 && m.status("watched").loads < 2; ++i) std::this_thread::sleep_for(20ms);
  EXPECT_EQ(m.status("watched").loads, 2);
  EXPECT_EQ(m.status("watched").state, ModelState::kReady);
}

TEST_F(Manager, DynamicShapesShareOneCopyOfTheWeights) {
  std::string shared = shared_dir();
  if (shared.empty()) GTEST_SKIP() << "../shared not found: dynamic-shape plan test skipped";
  RepositoryConfig c;
  c.memory_budget = 0;
  ModelConfig mc;
  mc.name = "dyn";
  mc.path = shared + "/models/yolov8n-dynamic.onnx";
  mc.max_batch = 2;
  c.models.push_back(mc);
  ModelManager m(c, quiet());
  m.load("dyn");
  const size_t w1 = m.memory().weights;
  EXPECT_EQ(m.acquire("dyn").model().inputs()[0].dims, (Dims{1, 3, 640, 640}));  // metadata imgsz
  // Batch 2 and a wider image: most convs keep their packed layout and share its blob. oneDNN
  // picks some blockings by problem size and thread count (and Winograd vs direct by plane
  // size), and a layer whose packed layout differs holds one copy per layout: 5% more here with
  // 2 threads, 13% with 1. Without sharing the second plan would double the weights.
  ModelManager::Lease a = m.acquire("dyn", {{"images", {2, 3, 640, 704}}});
  EXPECT_EQ(a.model().inputs()[0].dims, (Dims{2, 3, 640, 704}));
  EXPECT_EQ(m.status("dyn").plans, 2);
  EXPECT_LE(m.memory().weights, w1 + w1 / 4)
      << "weights " << m.memory().weights << ", one plan " << w1;
  std::string msg = error_of([&] { m.acquire("dyn", {{"images", {3, 3, 640, 640}}}); });
  EXPECT_NE(msg.find("max_batch"), std::string::npos) << msg;
}

TEST_F(Manager, CompiledCacheReloadsTheSameModelWithoutParsing) {
  RepositoryConfig c = config(256 << 20, {"m0"});
  c.cache_dir = dir_ + "/cache";
  fs::remove_all(c.cache_dir);
  ModelManager m(c, quiet());
  std::vector<Tensor> in, cold;
  {
    ModelManager::Lease l = m.acquire("m0");
    in = input_for(l, 9);
    cold = l.run(in);
  }
  EXPECT_FALSE(m.status("m0").from_cache);
  ASSERT_EQ(std::distance(fs::directory_iterator(c.cache_dir), fs::directory_iterator()), 1);
  m.unload("m0");
  ModelManager::Lease l = m.acquire("m0");
  EXPECT_TRUE(m.status("m0").from_cache);
  std::vector<Tensor> warm = l.run(in);
  ASSERT_EQ(warm.size(), cold.size());
  for (size_t i = 0; i < warm.size(); ++i) EXPECT_EQ(compare(warm[i], cold[i]).max_abs, 0.0);
  l = ModelManager::Lease();
  // A damaged cache file is dropped: the model loads from ONNX again and the file is rewritten.
  m.unload("m0");
  fs::path file = fs::directory_iterator(c.cache_dir)->path();
  fs::resize_file(file, fs::file_size(file) / 2);
  m.load("m0");
  EXPECT_FALSE(m.status("m0").from_cache);
  EXPECT_EQ(compare(m.acquire("m0").run(in)[0], cold[0]).max_abs, 0.0);
  m.unload("m0");
  m.load("m0");
  EXPECT_TRUE(m.status("m0").from_cache);
}

// 8 threads of random infer/load/unload/reload over more models than fit. The budget is never
// exceeded and every request succeeds (requests wait for room while others are in use).
TEST_F(Manager, StressNeverExceedsTheBudgetNorFailsARequest) {
  size_t held = 0, arena = 0;
  measure("m0", &held, &arena);
  const std::vector<std::string> names = {"m0", "m1", "m2", "m3", "m4", "m5"};
  // Two models, a load in progress and eight arenas fit; six models do not.
  RepositoryConfig c = config(2 * held + load_reservation("m0") + 8 * arena, names);
  ASSERT_LT(c.memory_budget, 6 * held);
  ManagerOptions o = quiet();
  o.housekeeping_period = 50ms;
  o.wait_for_memory = 60000ms;
  ModelManager m(c, o);
  const char* env = std::getenv("SHOAL_STRESS_SECONDS");
  const double seconds = env ? std::atof(env) : 4.0;
  const auto end = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  std::atomic<int> infers{0}, failures{0}, loads{0}, unloads{0}, reloads{0};
  std::atomic<bool> over{false};
  std::string first_failure;
  std::mutex fm;
  std::thread monitor([&] {
    while (std::chrono::steady_clock::now() < end) {
      if (m.memory().accounted > c.memory_budget) over = true;
      std::this_thread::sleep_for(1ms);
    }
  });
  std::vector<std::thread> ts;
  for (int t = 0; t < 8; ++t) {
    ts.emplace_back([&, t] {
      std::mt19937 rng(static_cast<uint32_t>(t) * 7919u + 1);
      while (std::chrono::steady_clock::now() < end) {
        const std::string& n = names[rng() % names.size()];
        int op = static_cast<int>(rng() % 20);
        try {
          if (op < 14) {
            ModelManager::Lease l = m.acquire(n);
            auto out = l.run(input_for(l, rng()));
            if (out.empty()) throw std::runtime_error("no outputs");
            infers++;
          } else if (op < 16) {
            m.load(n);
            loads++;
          } else if (op < 18) {
            m.unload(n);
            unloads++;
          } else {
            m.reload(n);
            reloads++;
          }
        } catch (const std::exception& e) {
          failures++;
          std::lock_guard<std::mutex> lk(fm);
          if (first_failure.empty()) first_failure = fmt::format("{} on {}: {}", op, n, e.what());
        }
      }
    });
  }
  for (auto& t : ts) t.join();
  monitor.join();
  EXPECT_FALSE(over.load());
  EXPECT_LE(m.budget().peak(), c.memory_budget);
  EXPECT_EQ(failures.load(), 0) << first_failure;
  EXPECT_GT(infers.load(), 0);
  std::printf("stress %.0f s: %d infers, %d loads, %d unloads, %d reloads, peak %.2f of %.2f MiB\n",
              seconds, infers.load(), loads.load(), unloads.load(), reloads.load(),
              static_cast<double>(m.budget().peak()) / (1 << 20),
              static_cast<double>(c.memory_budget) / (1 << 20));
  m.unload_all();
  EXPECT_EQ(m.memory().accounted, 0u);
}

}  // namespace
}  // namespace shoal
