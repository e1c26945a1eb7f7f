// ONNX node tests through `shoal run`, as a user runs a model: the ops whose output shape depends
// on the data (NonMaxSuppression, NonZero, TopK with k given at run time) and the ops that take a
// shape as a model input at run time (Reshape, Expand, Slice, Resize, Tile, ConstantOfShape).
// Each test's inputs go in as .npy files and its outputs come back as .npy files, compared with
// the expected outputs (integers exactly, floats within 1e-5 relative).
#include <gtest/gtest.h>

#include <filesystem>
#include <nlohmann/json.hpp>
#include <regex>

#include "cli_util.h"
#include "core/npy.h"
#include "onnx/import.h"
#include "test_util.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;

std::string node_dir() {
  for (const char* d : {"/usr/share/libonnx-testdata/data/node", "/usr/share/onnx/data/node"}) {
    if (fs::exists(d)) return d;
  }
  return "";
}

// The node tests of these ops (directory names).
std::vector<std::string> cases() {
  const std::string dir = node_dir();
  std::vector<std::string> names;
  if (dir.empty()) return names;
  static const std::regex re(
      "test_(nonmaxsuppression|nonzero|top_k|reshape|expand|slice|resize|tile|constantofshape).*");
  for (const auto& e : fs::directory_iterator(dir)) {
    const std::string n = e.path().filename().string();
    if (std::regex_match(n, re)) names.push_back(n);
  }
  std::sort(names.begin(), names.end());
  return names;
}

// "" when `out` equals `ref`, else what differs.
std::string difference(const Tensor& out, const Tensor& ref) {
  if (out.dims() != ref.dims()) {
    return fmt::format("dims {} against {}", dims_str(out.dims()), dims_str(ref.dims()));
  }
  if (dtype_is_float(ref.dtype())) {
    const Error3 e = compare(out, ref);
    return e.max_abs <= 1e-5 * std::max(1.0, e.ref_max_abs) ? "" : e.str();
  }
  for (int64_t i = 0; i < ref.numel(); ++i) {
    if (out.get_i64(i) != ref.get_i64(i)) {
      return fmt::format("element {}: {} against {}", i, out.get_i64(i), ref.get_i64(i));
    }
  }
  return "";
}

class RunNodeTest : public ::testing::TestWithParam<std::string> {};

TEST_P(RunNodeTest, ShoalRunGivesTheExpectedOutputs) {
  const fs::path test = fs::path(node_dir()) / GetParam();
  const fs::path data = test / "test_data_set_0";
  const fs::path work = fs::path(testing::TempDir()) / "shoal_run_node" / GetParam();
  fs::remove_all(work);
  fs::create_directories(work);
  std::string args =
      "run " + (test / "model.onnx").string() + " --json --out " + (work / "out").string();
  for (int i = 0; fs::exists(data / fmt::format("input_{}.pb", i)); ++i) {
    std::string name;
    const Tensor t = read_tensor_proto_file((data / fmt::format("input_{}.pb", i)).string(), &name);
    const std::string npy = (work / fmt::format("input_{}.npy", i)).string();
    write_npy(npy, t);
    args += " --input '" + name + "=" + npy + "'";
  }
  const ProcessRun r = run_shoal(args);
  if (r.code != 0 && r.err.find("zero-size tensors are not supported") != std::string::npos) {
    GTEST_SKIP() << r.err;
  }
  ASSERT_EQ(r.code, 0) << r.err;
  const nlohmann::json j = nlohmann::json::parse(r.out);
  const nlohmann::json& outs = j.at("outputs");
  for (size_t i = 0; i < outs.size(); ++i) {
    const fs::path expected = data / fmt::format("output_{}.pb", i);
    ASSERT_TRUE(fs::exists(expected)) << expected;
    const Tensor ref = read_tensor_proto_file(expected.string());
    const Tensor out = read_npy(outs[i].at("path").get<std::string>());
    EXPECT_EQ(difference(out, ref), "") << GetParam() << " output " << i;
  }
}

INSTANTIATE_TEST_SUITE_P(DataDependent, RunNodeTest, ::testing::ValuesIn(cases()),
                         [](const auto& info) { return info.param; });
GTEST_ALLOW_UNINSTANTIATED_PARAMETERIZED_TEST(RunNodeTest);

}  // namespace
}  // namespace shoal
