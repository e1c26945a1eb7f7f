// The model repository config: one YAML file listing the models a deployment serves, the memory
// budget they must share, and pipelines (models run on the same frame). Parsing is strict: an
// unknown key, a wrong type, a duplicate name or a missing file is an error naming the entry,
// the key and what is expected.
//
//   memory_budget: 512MiB          # required; bytes with an optional unit (KiB, MiB, GiB, MB, ...)
//   cache_dir: .shoal-cache        # optional; compiled-model cache (relative to this file)
//   models:
//     - name: obstacles            # required, unique: [A-Za-z0-9_.-]+
//       path: models/yolo11n-seg.onnx   # required; relative to this file's folder
//       task: segment              # optional: detect | segment | pose | classify | obb
//       family: ultralytics        # optional: ultralytics | yolox | yolov5 | end2end | rtdetr
//       precision: fp32            # optional: fp32 (bf16, int8: not implemented yet)
//       pinned: false              # loaded at start, never evicted
//       max_batch: 1               # largest batch a request may use
//       idle_timeout: 5m           # unload after this long unused (s, m, h; 0 = never)
//       version: 1                 # optional label
//       input_shape: [1, 3, 640, 640]   # optional; for models with symbolic input dims
//       max_concurrency: 1         # `shoal serve`: requests run at once on this model
//       queue_depth: 32            # `shoal serve`: requests waiting for it (more: 429)
//       max_queue_delay: 0ms       # `shoal serve`: dynamic batching window (with max_batch > 1)
//   pipelines:
//     - name: navigation
//       models: [tactile_path, obstacles]
//   server:                        # optional; `shoal serve` (command-line flags override)
//     host: 127.0.0.1              # a non-loopback bind needs admin_token
//     port: 8000
//     threads: 32                  # HTTP connections served at once
//     max_body_bytes: 64MiB        # larger requests get 413 before their body is read
//     max_image_pixels: 40000000   # from the image header, before decoding
//     max_tensor_elements: 16777216  # per KServe request
//     request_timeout: 30s         # queueing and lazy loading included
//     read_timeout: 10s            # a client that stops sending is dropped
//     drain_time: 10s              # SIGTERM: in-flight requests get this long
//     admin_token: ""              # bearer token for the repository load/unload endpoints
//     access_log: false            # one line per request on stderr
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

#include "core/tensor.h"

namespace shoal {

struct ModelConfig {
  std::string name;
  std::string path;  // resolved (absolute or relative to the working directory)
  std::string task;
  std::string family;
  std::string precision = "fp32";
  bool pinned = false;
  int max_batch = 1;
  std::chrono::milliseconds idle_timeout{0};  // 0 = never
  std::string version;
  Dims input_shape;  // empty = from the model
  int max_concurrency = 1;
  int queue_depth = 32;
  // `shoal serve`: image requests that arrive within this delay of each other run as one batch
  // (up to max_batch; models with a dynamic batch dim). 0 = no dynamic batching.
  std::chrono::milliseconds max_queue_delay{0};
};

struct ServerConfig {
  std::string host = "127.0.0.1";
  int port = 8000;
  int threads = 32;
  size_t max_body_bytes = size_t{64} << 20;
  int64_t max_image_pixels = 40'000'000;
  int64_t max_tensor_elements = int64_t{1} << 24;
  std::chrono::milliseconds request_timeout{30000};
  std::chrono::milliseconds read_timeout{10000};
  std::chrono::milliseconds drain_time{10000};
  std::string admin_token;
  bool access_log = false;
};

struct PipelineConfig {
  std::string name;
  std::vector<std::string> models;
};

struct RepositoryConfig {
  size_t memory_budget = 0;
  std::string cache_dir;  // resolved; empty = no compiled-model cache
  std::vector<ModelConfig> models;
  std::vector<PipelineConfig> pipelines;
  ServerConfig server;
  std::string source;  // the file it came from (for messages)

  const ModelConfig* find(const std::string& name) const;
};

// Throws Error(kInvalidArgument / kNotFound) with the file, the entry and the key at fault.
RepositoryConfig load_repository_config(const std::string& path);
// `base_dir` resolves relative paths; `source` names the text in messages.
RepositoryConfig parse_repository_config(const std::string& yaml_text, const std::string& base_dir,
                                         const std::string& source);

// "30s", "5m", "2h", "1500ms", "10" (seconds), "0" / "never". Throws kInvalidArgument.
std::chrono::milliseconds parse_duration(const std::string& text);

}  // namespace shoal
