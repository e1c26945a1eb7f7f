#include "runtime/model_cache.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <cstring>
#include <filesystem>
#include <fstream>

#include "core/bytes.h"
#include "core/error.h"
#include "graph/serialize.h"
#include "memory/weight_store.h"

#ifndef SHOAL_VERSION
#define SHOAL_VERSION "unknown"
#endif

namespace shoal {
namespace {

constexpr char kMagic[8] = {'S', 'H', 'O', 'A', 'L', 'C', 'M', 'C'};
constexpr uint32_t kCacheVersion = 1;
constexpr size_t kHeaderBytes = 80;
constexpr size_t kEntryBytes = 40;
constexpr uint32_t kMaxBlobs = 1u << 20;

size_t align64(size_t x) { return (x + 63) / 64 * 64; }


struct Mapping {
  void* data = MAP_FAILED;
  size_t size = 0;
  ~Mapping() {
    if (data != MAP_FAILED) munmap(data, size);
  }
};

}  // namespace

MappedFile::MappedFile(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) fail(ErrorCode::kNotFound, "cannot open '{}'", path);
  struct stat st {};
  if (fstat(fd, &st) != 0 || st.st_size <= 0) {
    ::close(fd);
    fail(ErrorCode::kNotFound, "cannot read '{}' (empty or unreadable)", path);
  }
  size_ = static_cast<size_t>(st.st_size);
  void* p = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd, 0);
  ::close(fd);
  if (p == MAP_FAILED) fail(ErrorCode::kNotFound, "cannot map '{}'", path);
  data_ = p;
}

MappedFile::~MappedFile() { munmap(data_, size_); }

std::string model_content_hash(const void* data, size_t size) {
  XXH128_hash_t h = XXH3_128bits(data, size);
  return fmt::format("{:016x}{:016x}", h.high64, h.low64);
}

std::string compiled_cache_name(const std::string& model_hash, const CompileRequest& req) {
  std::string ctx = fmt::format("shoal {} cache v{} backend {} precision {} optimize {}",
                                SHOAL_VERSION, kCacheVersion, backend_fingerprint(req.backend),
                                dtype_name(req.precision), req.optimize_graph ? 1 : 0);
  for (const auto& [name, dims] : req.input_dims) ctx += " " + name + dims_str(dims);
  XXH3_state_t* st = XXH3_createState();
  if (!st) fail(ErrorCode::kOutOfMemory, "cannot allocate a hash state");
  XXH3_128bits_reset(st);
  XXH3_128bits_update(st, model_hash.data(), model_hash.size());
  XXH3_128bits_update(st, ctx.data(), ctx.size());
  XXH128_hash_t h = XXH3_128bits_digest(st);
  XXH3_freeState(st);
  return fmt::format("{:016x}{:016x}.shoalc", h.high64, h.low64);
}

void save_compiled_cache(const std::string& path, const Graph& optimized, const CompiledModel& cm) {
  const std::string graph = serialize_graph(optimized);
  const std::vector<BlobRef>& blobs = cm.program().blobs;
  const size_t table_off = kHeaderBytes;
  const size_t graph_off = align64(table_off + blobs.size() * kEntryBytes);
  size_t off = align64(graph_off + graph.size());
  std::string table;
  for (const BlobRef& b : blobs) {
    append_le<uint64_t>(table, b->key().lo);
    append_le<uint64_t>(table, b->key().hi);
    append_le<uint64_t>(table, off);
    append_le<uint64_t>(table, b->size());
    append_le<uint64_t>(table, XXH3_64bits(b->data(), b->size()));
    off = align64(off + b->size());
  }
  std::string head(kMagic, 8);
  append_le<uint32_t>(head, kCacheVersion);
  append_le<uint32_t>(head, static_cast<uint32_t>(blobs.size()));
  append_le<uint64_t>(head, graph_off);
  append_le<uint64_t>(head, graph.size());
  append_le<uint64_t>(head, table_off);
  append_le<uint64_t>(head, XXH3_64bits(table.data(), table.size()));
  append_le<uint64_t>(head, off);  // total size
  head.resize(kHeaderBytes, '\0');

  const std::string tmp = fmt::format("{}.tmp{}", path, static_cast<long>(getpid()));
  {
    std::ofstream f(tmp, std::ios::binary | std::ios::trunc);
    if (!f) fail(ErrorCode::kInvalidArgument, "cannot write the compiled-model cache file '{}'", tmp);
    auto pad_to = [&](size_t pos) {
      std::streamoff cur = f.tellp();
      if (cur >= 0 && static_cast<size_t>(cur) < pos) f << std::string(pos - static_cast<size_t>(cur), '\0');
    };
    f.write(head.data(), static_cast<std::streamsize>(head.size()));
    f.write(table.data(), static_cast<std::streamsize>(table.size()));
    pad_to(graph_off);
    f.write(graph.data(), static_cast<std::streamsize>(graph.size()));
    for (size_t i = 0; i < blobs.size(); ++i) {
      pad_to(load_le<uint64_t>(reinterpret_cast<const uint8_t*>(table.data()) + i * kEntryBytes + 16));
      f.write(static_cast<const char*>(blobs[i]->data()), static_cast<std::streamsize>(blobs[i]->size()));
    }
    pad_to(off);
    if (!f.good()) {
      std::error_code ec;
      std::filesystem::remove(tmp, ec);
      fail(ErrorCode::kInvalidArgument, "cannot write the compiled-model cache file '{}' (disk full?)", tmp);
    }
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) {
    std::filesystem::remove(tmp, ec);
    fail(ErrorCode::kInvalidArgument, "cannot move the compiled-model cache file into place at '{}'", path);
  }
}

std::shared_ptr<CompiledModel> load_compiled_cache(const std::string& path, const CompileRequest& req,
                                                   std::map<std::string, std::string>* metadata) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return nullptr;
  struct stat stt {};
  Mapping map;
  if (fstat(fd, &stt) == 0 && stt.st_size > 0) {
    map.size = static_cast<size_t>(stt.st_size);
    map.data = mmap(nullptr, map.size, PROT_READ, MAP_PRIVATE, fd, 0);
  }
  ::close(fd);
  auto bad = [&](const std::string& why) {
    fail(ErrorCode::kInvalidModel, "compiled-model cache file '{}' is not usable: {}", path, why);
  };
  if (map.data == MAP_FAILED) bad("cannot map it");
  const auto* p = static_cast<const uint8_t*>(map.data);
  const size_t n = map.size;
  if (n < kHeaderBytes || std::memcmp(p, kMagic, 8) != 0) bad("not a Shoal cache file");
  if (load_le<uint32_t>(p + 8) != kCacheVersion) bad(fmt::format("cache format version {} (this Shoal reads {})", load_le<uint32_t>(p + 8), kCacheVersion));
  const uint32_t count = load_le<uint32_t>(p + 12);
  const uint64_t graph_off = load_le<uint64_t>(p + 16), graph_size = load_le<uint64_t>(p + 24);
  const uint64_t table_off = load_le<uint64_t>(p + 32), table_sum = load_le<uint64_t>(p + 40), total = load_le<uint64_t>(p + 48);
  if (total != n) bad(fmt::format("{} bytes, the header says {} (truncated?)", n, total));
  if (count > kMaxBlobs || table_off != kHeaderBytes || count * kEntryBytes > n - table_off) bad("bad blob table");
  if (XXH3_64bits(p + table_off, count * kEntryBytes) != table_sum) bad("blob table checksum mismatch");
  if (graph_off > n || graph_size > n - graph_off) bad("graph section out of bounds");

  WeightStore& store = req.weights ? *req.weights : WeightStore::process_default();
  std::vector<BlobRef> held;  // the packed weights, until the compile below has found them
  held.reserve(count);
  for (uint32_t i = 0; i < count; ++i) {
    const uint8_t* e = p + table_off + static_cast<size_t>(i) * kEntryBytes;
    WeightKey key{load_le<uint64_t>(e), load_le<uint64_t>(e + 8)};
    const uint64_t off = load_le<uint64_t>(e + 16), size = load_le<uint64_t>(e + 24), sum = load_le<uint64_t>(e + 32);
    if (off > n || size > n - off || off % 64 != 0) bad(fmt::format("blob {} out of bounds", i));
    if (XXH3_64bits(p + off, size) != sum) bad(fmt::format("blob {} checksum mismatch", i));
    held.push_back(store.intern(key, size, [&](void* dst) { std::memcpy(dst, p + off, size); }, "weights"));
  }
  // The graph's constants stay in the mapping (no copy): the compile hashes the weights to find
  // their packed blobs, and the few constants kernels read at run time are copied out after.
  DeserializeOptions dopts;
  dopts.borrow_payloads = true;
  std::shared_ptr<CompiledModel> cm;
  {
    Graph g = deserialize_graph(p + graph_off, graph_size, dopts);
    if (metadata) *metadata = g.metadata;
    CompileRequest r = req;
    r.optimize_graph = false;  // the cached graph is already optimised
    cm = CompiledModel::compile(g, r);
  }
  cm->detach_constants_from(map.data, map.size);
  return cm;
}

}  // namespace shoal
