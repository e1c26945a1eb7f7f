#include "server/stats.h"

#include <algorithm>

namespace shoal::server {

void Histogram::add(double seconds) {
  for (size_t i = 0; i < kLatencyBuckets.size(); ++i) {
    if (seconds <= kLatencyBuckets[i]) {
      counts[i]++;
      break;
    }
  }
  count++;  // above the last bound: only in +Inf (count)
  sum += seconds;
}

void ModelStats::request_done(bool ok, double queue_s, double compute_s, double total_s) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lk(mu_);
  s_.requests++;
  (ok ? s_.successes : s_.failures)++;
  (ok ? s_.success_ns : s_.fail_ns) += total_s * 1e9;
  s_.queue_ns += queue_s * 1e9;
  s_.compute_ns += compute_s * 1e9;
  s_.queue.add(queue_s);
  s_.compute.add(compute_s);
  s_.total.add(total_s);
  s_.last_inference_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                             std::chrono::system_clock::now().time_since_epoch())
                             .count();
  recent_.emplace_back(now, total_s * 1e3);
  while (recent_.size() > 1000) recent_.pop_front();
}

void ModelStats::rejected() {
  std::lock_guard<std::mutex> lk(mu_);
  s_.requests++;
  s_.rejected++;
}

void ModelStats::lazy_load_wait() {
  std::lock_guard<std::mutex> lk(mu_);
  s_.lazy_load_waits++;
}

ModelStatsSnapshot ModelStats::snapshot() const {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard<std::mutex> lk(mu_);
  ModelStatsSnapshot s = s_;
  std::vector<double> ms;
  ms.reserve(recent_.size());
  int in_window = 0;
  for (const auto& [t, v] : recent_) {
    ms.push_back(v);
    if (now - t <= std::chrono::seconds(10)) ++in_window;
  }
  s.rate_per_second = in_window / 10.0;
  if (!ms.empty()) {
    std::sort(ms.begin(), ms.end());
    s.p50_ms = ms[ms.size() / 2];
    s.p99_ms = ms[std::min(ms.size() - 1, ms.size() * 99 / 100)];
  }
  return s;
}

}  // namespace shoal::server
