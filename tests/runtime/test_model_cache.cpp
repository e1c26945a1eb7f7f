// The compiled-model cache (runtime/model_cache.h): a model compiled, saved and loaded back runs
// bit-identically with its packed weights taken from the file (interned under their content
// keys, so a store that already holds them allocates nothing); a missing file is "no cache"; a
// damaged, truncated or stale file is refused with kInvalidModel naming the file and the
// problem, and holds no memory afterwards; the cache name changes with every part of its key.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "core/error.h"
#include "memory/budget.h"
#include "memory/weight_store.h"
#include "model_builder/builder.h"
#include "onnx/import.h"
#include "runtime/compiled_model.h"
#include "runtime/model_cache.h"

namespace shoal {
namespace {

namespace fs = std::filesystem;

constexpr int kImgsz = 64;

// The message of the shoal::Error `f` throws ("" when it throws none); its code in `*code`.
std::string error_of(const std::function<void()>& f, ErrorCode* code = nullptr) {
  try {
    f();
  } catch (const Error& e) {
    if (code) *code = e.code();
    return e.what();
  }
  return "";
}

std::string read_file(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), std::istreambuf_iterator<char>());
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary | std::ios::trunc);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

uint64_t le64(const std::string& b, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i)
    v |= static_cast<uint64_t>(static_cast<uint8_t>(b[at + i])) << (8 * i);
  return v;
}

Tensor random_input(const TensorInfo& t, uint32_t seed) {
  Tensor x(t.dtype, t.dims);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.f, 1.f);
  for (int64_t i = 0; i < x.numel(); ++i) x.data<float>()[i] = u(rng);
  return x;
}

void expect_same_outputs(const std::vector<Tensor>& a, const std::vector<Tensor>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].dims(), b[i].dims()) << "output " << i;
    ASSERT_EQ(a[i].nbytes(), b[i].nbytes()) << "output " << i;
    EXPECT_EQ(std::memcmp(a[i].raw(), b[i].raw(), a[i].nbytes()), 0) << "output " << i;
  }
}

// A small builder detector compiled on the cpu backend (packed weights) into its own store, and
// written to the cache under its cache name in a fresh folder.
class ModelCache : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::path(testing::TempDir()) /
           ("shoal_model_cache_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    BuilderOptions o;
    o.imgsz = kImgsz;
    o.num_classes = 3;
    o.width = 0.125;
    model_bytes_ = build_yolo_detector_onnx(o);
    model_ = import_onnx_bytes(model_bytes_.data(), model_bytes_.size(), "");
    hash_ = model_content_hash(model_bytes_.data(), model_bytes_.size());
    store_ = std::make_unique<WeightStore>(std::make_shared<MemoryBudget>(0));
    compiled_ = CompiledModel::compile(model_, request(store_.get()), &optimized_);
    path_ = (dir_ / compiled_cache_name(hash_, request(nullptr))).string();
    save_compiled_cache(path_, optimized_, *compiled_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  static CompileRequest request(WeightStore* store) {
    CompileRequest req;
    req.backend = "cpu";
    req.input_dims = {{"images", {1, 3, kImgsz, kImgsz}}};
    req.weights = store;
    return req;
  }

  // Loads `path` into a fresh store with a budget; expects kInvalidModel with a message naming
  // the file and containing `what`, and that the failed load left nothing charged.
  void expect_refused(const std::string& path, const std::string& what) {
    auto budget = std::make_shared<MemoryBudget>(0);
    WeightStore store(budget);
    ErrorCode code{};
    std::string msg = error_of([&] { load_compiled_cache(path, request(&store), nullptr); }, &code);
    ASSERT_FALSE(msg.empty()) << "a damaged cache file (" << what << ") was accepted";
    EXPECT_EQ(code, ErrorCode::kInvalidModel) << msg;
    EXPECT_NE(msg.find(path), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << "'" << what << "' not in: " << msg;
    EXPECT_EQ(budget->used(), 0u) << "a refused cache file still holds memory: " << msg;
    EXPECT_EQ(store.stats().blobs, 0u);
  }

  // A copy of the cache file with `edit` applied, at a new path.
  std::string damaged_copy(const std::string& name, const std::function<void(std::string&)>& edit) {
    std::string bytes = read_file(path_);
    edit(bytes);
    std::string p = (dir_ / name).string();
    write_file(p, bytes);
    return p;
  }

  fs::path dir_;
  std::string model_bytes_;
  Graph model_;
  std::string hash_;
  std::unique_ptr<WeightStore> store_;
  Graph optimized_;
  std::shared_ptr<CompiledModel> compiled_;
  std::string path_;
};

TEST_F(ModelCache, RoundTripRunsBitIdenticalWithThePackedWeightsFromTheFile) {
  // One file, written atomically: no temporary left beside it.
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(dir_)) files.push_back(e.path());
  ASSERT_EQ(files.size(), 1u);
  EXPECT_EQ(files[0].string(), path_);
  ASSERT_GT(compiled_->program().blobs.size(), 0u) << "the cpu backend packed no weights";

  auto budget = std::make_shared<MemoryBudget>(0);
  WeightStore fresh(budget);
  std::map<std::string, std::string> metadata;
  std::shared_ptr<CompiledModel> cached = load_compiled_cache(path_, request(&fresh), &metadata);
  ASSERT_NE(cached, nullptr);
  EXPECT_EQ(metadata, optimized_.metadata);
  EXPECT_EQ(metadata.at("task"), "detect");
  // The file is no longer needed once loaded (constants were copied out of its mapping).
  fs::remove(path_);

  ASSERT_EQ(cached->inputs().size(), compiled_->inputs().size());
  EXPECT_EQ(cached->inputs()[0].dims, (Dims{1, 3, kImgsz, kImgsz}));
  ASSERT_EQ(cached->outputs().size(), compiled_->outputs().size());
  for (size_t i = 0; i < cached->outputs().size(); ++i) {
    EXPECT_EQ(cached->outputs()[i].name, compiled_->outputs()[i].name);
    EXPECT_EQ(cached->outputs()[i].dims, compiled_->outputs()[i].dims);
  }
  EXPECT_EQ(cached->memory().packed_weight_bytes, compiled_->memory().packed_weight_bytes);
  EXPECT_EQ(cached->memory().weights_bytes, compiled_->memory().weights_bytes);
  EXPECT_EQ(cached->arena_bytes(), compiled_->arena_bytes());
  // Every packed blob the program uses came from the file: the compile packed nothing again.
  EXPECT_EQ(fresh.stats().bytes, store_->stats().bytes);
  EXPECT_EQ(budget->used(), fresh.stats().bytes);

  Session original(compiled_), from_cache(cached);
  for (uint32_t seed : {1u, 2u}) {
    std::vector<Tensor> in = {random_input(compiled_->inputs()[0], seed)};
    expect_same_outputs(from_cache.run(in), original.run(in));
  }
}

TEST_F(ModelCache, LoadingIntoAStoreHoldingTheWeightsAllocatesNothing) {
  const WeightStore::Stats before = store_->stats();
  std::shared_ptr<CompiledModel> cached =
      load_compiled_cache(path_, request(store_.get()), nullptr);
  ASSERT_NE(cached, nullptr);
  const WeightStore::Stats after = store_->stats();
  EXPECT_EQ(after.bytes, before.bytes);
  EXPECT_EQ(after.blobs, before.blobs);
  EXPECT_GT(after.hits, before.hits);
  std::vector<Tensor> in = {random_input(compiled_->inputs()[0], 3)};
  expect_same_outputs(Session(cached).run(in), Session(compiled_).run(in));
}

TEST_F(ModelCache, MissingFileIsNoCache) {
  EXPECT_EQ(load_compiled_cache((dir_ / "absent.shoalc").string(), request(nullptr), nullptr),
            nullptr);
}

TEST_F(ModelCache, TruncatedOrExtendedFilesAreRefused) {
  const size_t n = fs::file_size(path_);
  expect_refused(damaged_copy("half.shoalc", [&](std::string& b) { b.resize(n / 2); }),
                 fmt::format("{} bytes, the header says {} (truncated?)", n / 2, n));
  expect_refused(damaged_copy("last_byte.shoalc", [&](std::string& b) { b.resize(n - 1); }),
                 "truncated?");
  expect_refused(damaged_copy("header_only.shoalc", [&](std::string& b) { b.resize(40); }),
                 "not a Shoal cache file");
  expect_refused(damaged_copy("empty.shoalc", [&](std::string& b) { b.clear(); }), "is not usable");
  expect_refused(damaged_copy("longer.shoalc", [&](std::string& b) { b += std::string(64, 'x'); }),
                 fmt::format("{} bytes, the header says {}", n + 64, n));
}

TEST_F(ModelCache, DamagedFilesAreRefusedNamingThePart) {
  const std::string good = read_file(path_);
  const uint64_t graph_off = le64(good, 16), graph_size = le64(good, 24);
  const uint64_t table_off = le64(good, 32);
  const uint64_t blob0_off = le64(good, table_off + 16), blob0_size = le64(good, table_off + 24);
  ASSERT_GT(graph_size, 0u);
  ASSERT_GT(blob0_size, 0u);
  // Not a cache file at all: the model itself under a cache name.
  const std::string foreign = (dir_ / "foreign.shoalc").string();
  write_file(foreign, model_bytes_);
  expect_refused(foreign, "not a Shoal cache file");
  expect_refused(damaged_copy("magic.shoalc", [](std::string& b) { b[0] = 'X'; }),
                 "not a Shoal cache file");
  expect_refused(damaged_copy("table.shoalc", [&](std::string& b) { b[table_off + 3] ^= 0x10; }),
                 "blob table checksum mismatch");
  expect_refused(
      damaged_copy("blob.shoalc", [&](std::string& b) { b[blob0_off + blob0_size / 2] ^= 0x01; }),
      "blob 0 checksum mismatch");
  // The last blob: every blob before it was interned already and must be released again.
  const uint32_t count = static_cast<uint32_t>(compiled_->program().blobs.size());
  const uint64_t last = table_off + (count - 1) * 40;
  expect_refused(
      damaged_copy("last_blob.shoalc", [&](std::string& b) { b[le64(good, last + 16)] ^= 0x01; }),
      fmt::format("blob {} checksum mismatch", count - 1));
  // The serialized graph has its own checksum.
  std::string graph_damaged =
      damaged_copy("graph.shoalc", [&](std::string& b) { b[graph_off + graph_size / 2] ^= 0x01; });
  ErrorCode code{};
  std::string msg =
      error_of([&] { load_compiled_cache(graph_damaged, request(nullptr), nullptr); }, &code);
  ASSERT_FALSE(msg.empty()) << "a damaged graph section was accepted";
  EXPECT_EQ(code, ErrorCode::kInvalidModel) << msg;
  EXPECT_NE(msg.find("checksum"), std::string::npos) << msg;
}

TEST_F(ModelCache, StaleFormatVersionIsRefused) {
  expect_refused(damaged_copy("v2.shoalc", [](std::string& b) { b[8] = 2; }),
                 "cache format version 2 (this Shoal reads 1)");
  expect_refused(damaged_copy("v0.shoalc", [](std::string& b) { b[8] = 0; }),
                 "cache format version 0");
}

TEST_F(ModelCache, NameChangesWithEveryPartOfTheKey) {
  const CompileRequest base = request(nullptr);
  const std::string name = compiled_cache_name(hash_, base);
  EXPECT_EQ(name.size(), 32u + std::string(".shoalc").size()) << name;
  EXPECT_EQ(name.substr(32), ".shoalc");
  EXPECT_EQ(name.find_first_not_of("0123456789abcdef"), 32u) << name;
  EXPECT_EQ(compiled_cache_name(hash_, base), name) << "not deterministic";
  EXPECT_EQ(compiled_cache_name(hash_, request(store_.get())), name)
      << "the store is no part of it";

  std::vector<std::string> names = {name};
  auto differs = [&](const CompileRequest& req, const std::string& model_hash, const char* what) {
    std::string n = compiled_cache_name(model_hash, req);
    for (const std::string& other : names) EXPECT_NE(n, other) << what;
    names.push_back(n);
  };
  CompileRequest r = base;
  r.input_dims = {{"images", {1, 3, 2 * kImgsz, kImgsz}}};
  differs(r, hash_, "input height");
  r.input_dims = {{"images", {2, 3, kImgsz, kImgsz}}};
  differs(r, hash_, "batch");
  r.input_dims = {{"pixels", {1, 3, kImgsz, kImgsz}}};
  differs(r, hash_, "input name");
  r = base;
  r.input_dims.clear();
  differs(r, hash_, "no input dims");
  r = base;
  r.precision = DType::kBF16;
  differs(r, hash_, "precision");
  r = base;
  r.backend = "reference";
  differs(r, hash_, "backend");
  r = base;
  r.optimize_graph = false;
  differs(r, hash_, "unoptimised");
  std::string changed = model_bytes_;
  changed[changed.size() / 2] ^= 0x01;
  const std::string hash2 = model_content_hash(changed.data(), changed.size());
  EXPECT_NE(hash2, hash_);
  EXPECT_EQ(hash_.size(), 32u);
  EXPECT_EQ(model_content_hash(model_bytes_.data(), model_bytes_.size()), hash_);
  differs(base, hash2, "model bytes");
}

TEST_F(ModelCache, UnwritableFolderThrowsAndLeavesNothing) {
  const std::string path = (dir_ / "no_such_folder" / "x.shoalc").string();
  ErrorCode code{};
  std::string msg = error_of([&] { save_compiled_cache(path, optimized_, *compiled_); }, &code);
  EXPECT_EQ(code, ErrorCode::kInvalidArgument) << msg;
  EXPECT_NE(msg.find("no_such_folder"), std::string::npos) << msg;
  EXPECT_FALSE(fs::exists(dir_ / "no_such_folder"));
}

TEST_F(ModelCache, MappedFileMapsTheWholeFileOrThrowsNotFound) {
  {
    MappedFile f(path_);
    const std::string bytes = read_file(path_);
    ASSERT_EQ(f.size(), bytes.size());
    EXPECT_EQ(std::memcmp(f.data(), bytes.data(), bytes.size()), 0);
  }
  ErrorCode code{};
  std::string msg = error_of([&] { MappedFile f((dir_ / "absent").string()); }, &code);
  EXPECT_EQ(code, ErrorCode::kNotFound) << msg;
  EXPECT_NE(msg.find("absent"), std::string::npos) << msg;
  write_file(dir_ / "empty", "");
  msg = error_of([&] { MappedFile f((dir_ / "empty").string()); }, &code);
  EXPECT_EQ(code, ErrorCode::kNotFound) << msg;
}

}  // namespace
}  // namespace shoal
