// The compiled-model cache on disk: for one model file, input shape and backend, the optimised
// shape-specialised graph (graph/serialize.h) plus every packed weight blob the compiled program
// uses, in one memory-mappable file. Loading from it skips ONNX parsing, shape inference,
// constant folding, the passes and weight packing: the packed blobs are interned in the weight
// store under their content keys, so compiling the cached graph finds every weight packed.
//
// Key: XXH3-128 over the model file's bytes, the input dims, the precision, Shoal's version, the
// cache format version and the backend fingerprint (library version + CPU features), so a
// cache written on another CPU or by another version is never used. Files are written to a
// temporary name and renamed, so a reader never sees half a file; a corrupt or truncated file
// is reported and ignored (the model loads from ONNX and the file is rewritten).
//
// File layout (little-endian): header (magic "SHOALCMC", u32 version, u32 blob count, 16-byte
// key, u64 graph offset/size, u64 table offset, XXH3-64 of the table), the blob table (per
// blob: 16-byte store key, u64 offset, u64 size, XXH3-64 of its bytes), the serialized graph,
// then the blobs, each 64-byte aligned.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "core/tensor.h"
#include "runtime/compiled_model.h"

namespace shoal {

// A read-only memory map of a whole file (page-cache pages, no copy).
class MappedFile {
 public:
  // Throws kNotFound when the file cannot be opened or mapped.
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;
  const void* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void* data_ = nullptr;
  size_t size_ = 0;
};

// XXH3-128 of a model file's bytes, as hex: its identity in cache keys.
std::string model_content_hash(const void* data, size_t size);
// The cache file name for the model with content hash `model_hash` compiled per `req` (its
// input_dims, precision, backend) by this Shoal version on this CPU: hex key + ".shoalc".
std::string compiled_cache_name(const std::string& model_hash, const CompileRequest& req);

// Writes `optimized` and the program's blobs to `path` atomically. Throws kInvalidArgument when
// the file cannot be written.
void save_compiled_cache(const std::string& path, const Graph& optimized, const CompiledModel& cm);

// Compiles from the cache file at `path` (req.weights receives the packed blobs). Returns null
// when the file does not exist; throws kInvalidModel naming the problem when it is corrupt.
std::shared_ptr<CompiledModel> load_compiled_cache(const std::string& path, const CompileRequest& req,
                                                   std::map<std::string, std::string>* metadata);

}  // namespace shoal
