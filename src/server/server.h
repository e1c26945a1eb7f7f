// `shoal serve`: the models of a ModelManager over HTTP (cpp-httplib). KServe Open Inference
// Protocol v2 REST (health, server and model metadata, infer in JSON and with the binary tensor
// data extension), Triton's repository (index, load, unload) and statistics extensions, image
// endpoints for models and pipelines, Prometheus metrics at /metrics, and the live status page
// at / (status_page.html, built into the binary) with its JSON at /v1/status.
//
// Scheduling: each model has a queue (queue_depth waiting requests; a full queue answers 429
// with Retry-After) and runs at most max_concurrency requests at once, all on the process's
// compute threads. The first request for an unloaded model loads it through the manager (one
// load however many wait), evicting idle models in LRU order; a model that can never fit gets
// 503 with the numbers. Limits (ServerConfig) are checked before the work they guard: the body
// size from Content-Length before the body is read, the image size from its header before
// decoding, the tensor elements before allocating.
#pragma once

#include <chrono>
#include <memory>

#include "manager/config.h"
#include "manager/model_manager.h"

namespace shoal::server {

class Server {
 public:
  // `mgr` must outlive the Server. `cfg` is the config's server section with any command-line
  // overrides. A non-loopback host without an admin token is allowed, but the repository
  // load/unload endpoints then refuse every request (403).
  Server(ModelManager& mgr, ServerConfig cfg);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds host:port (port 0: any free port) and serves on background threads. Returns the bound
  // port. Throws shoal::Error when the address cannot be bound.
  int start();
  // Graceful stop: stop accepting connections and let accepted requests finish. Returns true
  // when they all did within `drain`, false when some still run (they go on; call again to wait
  // more). Safe to call more than once.
  bool shutdown(std::chrono::milliseconds drain);
  bool ready() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace shoal::server
