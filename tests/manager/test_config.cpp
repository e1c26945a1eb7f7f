// The repository config: every key parsed (paths resolved against the config's folder), strict
// parsing with errors that name the entry, the key and the line, and durations with their units.
#include <gtest/gtest.h>

#include <chrono>
#include <functional>
#include <string>
#include <vector>

#include "core/error.h"
#include "manager/config.h"

namespace shoal {
namespace {

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

RepositoryConfig parse(const std::string& text) { return parse_repository_config(text, "/cfg", "test.yaml"); }

TEST(RepositoryConfig, ParsesEveryKey) {
  RepositoryConfig c = parse(R"(
memory_budget: 512MiB
cache_dir: cache
models:
  - name: tactile_path
    path: models/a.onnx
    task: segment
    family: ultralytics
    precision: fp32
    pinned: true
    max_batch: 4
    idle_timeout: 5m
    version: 2
    input_shape: [1, 3, 480, 640]
  - name: obstacles
    path: /abs/b.onnx
pipelines:
  - name: navigation
    models: [tactile_path, obstacles]
)");
  EXPECT_EQ(c.memory_budget, 512u << 20);
  EXPECT_EQ(c.cache_dir, "/cfg/cache");
  ASSERT_EQ(c.models.size(), 2u);
  EXPECT_EQ(c.models[0].path, "/cfg/models/a.onnx");
  EXPECT_EQ(c.models[1].path, "/abs/b.onnx");
  EXPECT_TRUE(c.models[0].pinned);
  EXPECT_EQ(c.models[0].max_batch, 4);
  EXPECT_EQ(c.models[0].idle_timeout, 300000ms);
  EXPECT_EQ(c.models[0].version, "2");
  EXPECT_EQ(c.models[0].input_shape, (Dims{1, 3, 480, 640}));
  ASSERT_EQ(c.pipelines.size(), 1u);
  EXPECT_EQ(c.pipelines[0].models, (std::vector<std::string>{"tactile_path", "obstacles"}));
}

TEST(RepositoryConfig, ErrorsNameTheEntryAndTheKey) {
  struct Case {
    const char* yaml;
    std::vector<const char*> expect;
  };
  const Case cases[] = {
      {"memory_budget: 1GiB\nmodels:\n  - name: a\n    path: a.onnx\n    pinnned: true\n",
       {"unknown key 'pinnned'", "model 'a'", "test.yaml:5"}},
      {"memory_budget: 1GiB\nbudget: 2\nmodels:\n  - {name: a, path: a.onnx}\n", {"unknown key 'budget'"}},
      {"memory_budget: 1GiB\nmodels:\n  - {name: a, path: a.onnx}\n  - {name: a, path: b.onnx}\n",
       {"duplicate model name 'a'"}},
      {"models:\n  - {name: a, path: a.onnx}\n", {"memory_budget is missing"}},
      {"memory_budget: lots\nmodels:\n  - {name: a, path: a.onnx}\n", {"memory_budget", "lots"}},
      {"memory_budget: 1GiB\nmodels:\n  - {name: a}\n", {"model 'a' has no path"}},
      {"memory_budget: 1GiB\nmodels:\n  - {name: a, path: a.onnx, idle_timeout: soon}\n", {"idle_timeout", "soon"}},
      {"memory_budget: 1GiB\nmodels:\n  - {name: a, path: a.onnx, precision: fp64}\n", {"precision", "fp64"}},
      {"memory_budget: 1GiB\nmodels:\n  - {name: a, path: a.onnx}\npipelines:\n  - {name: p, models: [a, zz]}\n",
       {"pipeline 'p'", "'zz'"}},
      {"memory_budget: 1GiB\nmodels: [\n", {"not valid YAML"}},
      {"memory_budget: 1GiB\nmodels: []\n", {"non-empty list"}},
  };
  for (const Case& c : cases) {
    ErrorCode code{};
    std::string msg = error_of([&] { parse(c.yaml); }, &code);
    ASSERT_FALSE(msg.empty()) << c.yaml;
    EXPECT_EQ(code, ErrorCode::kInvalidArgument) << msg;
    for (const char* e : c.expect) EXPECT_NE(msg.find(e), std::string::npos) << "'" << e << "' not in: " << msg;
  }
}

TEST(RepositoryConfig, ParsesDurations) {
  EXPECT_EQ(parse_duration("5m"), 300000ms);
  EXPECT_EQ(parse_duration("1500ms"), 1500ms);
  EXPECT_EQ(parse_duration("never"), 0ms);
  EXPECT_THROW(parse_duration("soon"), Error);
}

}  // namespace
}  // namespace shoal
