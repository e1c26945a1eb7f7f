// Every CLI path accounts a model the same way (through the model loader): `shoal bench --json`
// and `shoal run --json` report the accounted bytes `shoal plan --json` reports for the same
// model and options; `plan` and `pipeline` refuse a config that cannot run, the same way.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <array>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <opencv2/imgcodecs.hpp>

#include "core/npy.h"
#include "model_builder/builder.h"
#include "test_util.h"

namespace shoal {
namespace {

struct Output {
  int code = -1;
  std::string text;  // stdout and stderr
};

Output run_shoal(const std::string& args) {
  const std::string cmd = std::string(SHOAL_SHOAL_BIN) + " " + args + " 2>&1";
  FILE* p = popen(cmd.c_str(), "r");
  Output o;
  std::array<char, 4096> buf{};
  size_t n;
  while (p && (n = fread(buf.data(), 1, buf.size(), p)) > 0) o.text.append(buf.data(), n);
  const int status = p ? pclose(p) : -1;
  o.code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return o;
}

nlohmann::json run_json(const std::string& args) {
  const Output o = run_shoal(args);
  EXPECT_EQ(o.code, 0) << args << "\n" << o.text;
  nlohmann::json j = nlohmann::json::parse(o.text, nullptr, false);
  EXPECT_FALSE(j.is_discarded()) << args << "\n" << o.text;
  return j;
}

TEST(CliAccounting, BenchRunAndPlanReportTheSameAccountedBytes) {
  const std::string dir = testing::TempDir() + "/shoal_cli_accounting";
  std::filesystem::create_directories(dir);
  const std::string model = dir + "/det.onnx";
  BuilderOptions b;
  b.imgsz = 128;
  b.num_classes = 5;
  b.seed = 77;
  save_bytes(model, build_yolo_detector_onnx(b));
  std::ofstream(dir + "/one.yaml")
      << "memory_budget: 1GiB\nmodels:\n  - {name: det, path: det.onnx}\n";
  Tensor x(DType::kF32, {1, 3, 128, 128});
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = static_cast<float>(i % 97) / 97.f;
  write_npy(dir + "/x.npy", x);

  const nlohmann::json plan = run_json("plan --json --runs 1 --config " + dir + "/one.yaml");
  const nlohmann::json bench =
      run_json("bench " + model + " --json --runs 2 --warmup 0 --threads 1");
  const nlohmann::json run = run_json("run " + model + " --json --input images=" + dir +
                                      "/x.npy --out " + dir + "/out --threads 1");
  ASSERT_TRUE(plan.contains("models") && plan["models"].size() == 1);
  const double planned = plan["models"][0]["accounted_bytes"].get<double>();
  const double benched = bench["accounted_bytes"].get<double>();
  const double ran = run["accounted_bytes"].get<double>();
  EXPECT_GT(planned, 0);
  EXPECT_NEAR(benched, planned, 0.01 * planned);
  EXPECT_NEAR(ran, planned, 0.01 * planned);
  // What each command reports is what its budget holds: weights + program + the one arena.
  for (const nlohmann::json* j : {&bench, &run}) {
    const nlohmann::json& a = (*j)["accounted"];
    EXPECT_EQ(a["weight_blob_bytes"].get<size_t>() + a["program_bytes"].get<size_t>() +
                  a["arena_bytes"].get<size_t>(),
              (*j)["accounted_bytes"].get<size_t>());
    EXPECT_EQ(a["budget_used_bytes"].get<size_t>(), (*j)["accounted_bytes"].get<size_t>());
  }
}

// `run` with a misspelt input name says which name is unknown and which the model has.
TEST(CliAccounting, RunNamesAnUnknownInput) {
  const std::string dir = testing::TempDir() + "/shoal_cli_run_names";
  std::filesystem::create_directories(dir);
  BuilderOptions b;
  b.imgsz = 32;
  b.num_classes = 3;
  save_bytes(dir + "/cls.onnx", build_classifier_onnx(b));
  write_npy(dir + "/x.npy", Tensor(DType::kF32, {1, 3, 32, 32}));
  const Output o =
      run_shoal("run " + dir + "/cls.onnx --input imagez=" + dir + "/x.npy --out " + dir + "/out");
  EXPECT_NE(o.code, 0);
  EXPECT_NE(o.text.find("no input 'imagez'"), std::string::npos) << o.text;
  EXPECT_NE(o.text.find("images float32 [1,3,32,32]"), std::string::npos) << o.text;
}

// A model that cannot fit the budget even alone: `plan` says so as an error (exit 1), as
// `pipeline` does, whether the file alone is too large or the measured weights, program and arena.
TEST(CliAccounting, PlanAndPipelineRefuseAModelLargerThanTheBudget) {
  const std::string dir = testing::TempDir() + "/shoal_cli_too_large";
  std::filesystem::create_directories(dir);
  BuilderOptions b;
  b.imgsz = 128;
  b.num_classes = 5;
  save_bytes(dir + "/det.onnx", build_yolo_detector_onnx(b));
  const size_t file = std::filesystem::file_size(dir + "/det.onnx");
  auto config = [&](size_t budget) {
    const std::string path = dir + "/cfg" + std::to_string(budget) + ".yaml";
    std::ofstream(path) << "memory_budget: " << budget
                        << "\nmodels:\n  - {name: det, path: det.onnx}\n"
                           "pipelines:\n  - {name: p, models: [det]}\n";
    return path;
  };
  const nlohmann::json plan = run_json("plan --json --runs 1 --config " + config(1 << 30));
  ASSERT_EQ(plan["errors"].size(), 0u) << plan.dump();
  const size_t alone = plan["models"][0]["accounted_bytes"].get<size_t>();
  ASSERT_GT(alone, file);
  const std::string image = dir + "/img.png";
  ASSERT_TRUE(cv::imwrite(image, cv::Mat(8, 8, CV_8UC3, cv::Scalar(128, 128, 128))));
  for (size_t budget : {file / 2, alone - 1}) {
    const std::string cfg = config(budget);
    Output p = run_shoal("plan --runs 1 --config " + cfg);
    EXPECT_EQ(p.code, 1) << p.text;
    EXPECT_NE(p.text.find("model 'det'"), std::string::npos) << p.text;
    EXPECT_NE(p.text.find("more than the whole memory_budget"), std::string::npos) << p.text;
    Output q = run_shoal("pipeline --config " + cfg + " --name p " + image);
    EXPECT_NE(q.code, 0) << q.text;
    EXPECT_NE(q.text.find("model 'det'"), std::string::npos) << q.text;
    if (budget < file) {  // the same check, before anything is loaded: the same words
      const auto line = [](const std::string& t) {
        const size_t at = t.find("model 'det'");
        return t.substr(at, t.find('\n', at) - at);
      };
      EXPECT_EQ(line(p.text), line(q.text));
    }
  }
}

// Truth: `shoal plan` in its own process. The bytes it accounts for the models it loads match the
// RSS growth it measures (within 10%), and unloading everything gives the memory back.
void expect_truthful(const nlohmann::json& j) {
  ASSERT_FALSE(j.is_discarded());
  const double acc = j["accounted_bytes"].get<double>();
  const double rss = j["rss_bytes"].get<double>();
  EXPECT_LE(std::fabs(acc - rss), 0.10 * rss) << "accounted " << acc << " vs RSS growth " << rss;
  // After unloading everything, the process is back within 5% of its footprint before loading
  // (what stays is glibc's page-level heap fragmentation and thread stacks' high-water marks).
  EXPECT_LE(j["rss_after_unload_bytes"].get<double>(),
            0.05 * j["process_rss_before_bytes"].get<double>());
  EXPECT_EQ(j["accounted_after_unload_bytes"].get<size_t>(), 0u);
}

TEST(CliAccounting, PlanAccountedBytesMatchMeasuredRss) {
  if (sanitized_build()) GTEST_SKIP() << "sanitizer build: RSS is not comparable";
  const std::string dir = testing::TempDir() + "/shoal_cli_truth";
  std::filesystem::create_directories(dir);
  std::ofstream f(dir + "/truth.yaml");
  f << "memory_budget: 1GiB\nmodels:\n";
  for (uint32_t i = 0; i < 4; ++i) {
    BuilderOptions b;
    b.imgsz = 320;
    b.num_classes = 4;
    b.seed = 200 + i;
    save_bytes(fmt::format("{}/t{}.onnx", dir, i), build_yolo_detector_onnx(b));
    f << fmt::format("  - {{name: t{}, path: t{}.onnx}}\n", i, i);
  }
  f.close();
  expect_truthful(run_json("plan --json --runs 1 --config " + dir + "/truth.yaml"));
}

TEST(CliAccounting, NavigationAidFitsInAThirdOfOnnxRuntime) {
  const std::string shared = shared_dir();
  if (shared.empty()) GTEST_SKIP() << "../shared not found: navigation-aid memory check skipped";
  if (sanitized_build()) GTEST_SKIP() << "sanitizer build: RSS is not comparable";
  const std::string cfg = testing::TempDir() + "/navigation.yaml";
  std::ofstream f(cfg);
  f << "memory_budget: 1GiB\nmodels:\n";
  for (const char* m : {"yolov8n-seg", "yolo11n-seg", "yolov8n", "yolo11n", "yolov8n-pose"}) {
    f << fmt::format("  - {{name: {}, path: {}/models/{}.onnx}}\n", m, shared, m);
  }
  f.close();
  const nlohmann::json j = run_json("plan --json --runs 1 --config " + cfg);
  expect_truthful(j);
  // ONNX Runtime 1.30 grows by 312-321 MiB for the same five models (`node multi.js`, see
  // BENCHMARKS.md); Shoal's bound is at most 35% of that.
  EXPECT_LE(j["rss_bytes"].get<double>(), 0.35 * 312.0 * 1024 * 1024);
}

}  // namespace
}  // namespace shoal
