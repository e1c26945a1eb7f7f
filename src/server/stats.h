// Per-model request statistics of the server: counters, Prometheus-style histograms (queue,
// compute and end-to-end seconds, batch size) and a window of recent requests for the status
// page's rate and percentiles. Thread-safe.
#pragma once

#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <mutex>
#include <string>
#include <vector>

namespace shoal::server {

// Cumulative buckets of seconds (upper bounds), as Prometheus histograms.
inline constexpr std::array<double, 14> kLatencyBuckets = {
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};

struct Histogram {
  std::array<uint64_t, kLatencyBuckets.size()> counts{};  // per bucket (not cumulative)
  uint64_t count = 0;
  double sum = 0;
  void add(double seconds);
};

struct ModelStatsSnapshot {
  uint64_t requests = 0, successes = 0, failures = 0, rejected = 0;  // rejected: 429
  uint64_t lazy_load_waits = 0;  // requests that found the model unloaded
  double success_ns = 0, fail_ns = 0, queue_ns = 0, compute_ns = 0;
  Histogram queue, compute, total;
  int64_t last_inference_ms = 0;    // since the epoch
  double rate_per_second = 0;       // over the last 10 s
  double p50_ms = -1, p99_ms = -1;  // end to end, over the last 1000 requests (-1: none)
};

class ModelStats {
 public:
  void request_done(bool ok, double queue_s, double compute_s, double total_s);
  void rejected();
  void lazy_load_wait();
  ModelStatsSnapshot snapshot() const;

 private:
  mutable std::mutex mu_;
  ModelStatsSnapshot s_;
  std::deque<std::pair<std::chrono::steady_clock::time_point, double>> recent_;  // (end, ms)
};

}  // namespace shoal::server
